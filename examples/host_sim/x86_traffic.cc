// SPDX-License-Identifier: MIT
// The world around the x86 host: assigned devices fire MSIs (with storms), devices hold level
// lines, guests re-route I/O APIC lines and change MSI affinity, and CPUs are unplugged. Each
// source draws from its own random stream, so a baseline run sees exactly the same traffic.
#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_format.h"
#include "examples/host_sim/random_streams.h"
#include "examples/host_sim/x86_host.h"
#include "examples/host_sim/x86_layout.h"
#include "hw/x86/ioapic_regs.h"

namespace host_sim {

std::mt19937_64& X86Host::NewStream(uint64_t stream) {
  // The RNG lives as long as the host: the stream's pending events refer to it.
  streams_keepalive_.push_back(
      std::make_shared<std::mt19937_64>(RandomStream(options_.seed, 0x86, stream)));
  return *streams_keepalive_.back();
}

void X86Host::Start() {
  for (int g = 0; g < total_vcpus_; ++g) Enqueue(g, vcpus_[g].cpu);
  for (int d = 0; d < options_.devices; ++d) NextMsi(d, NewStream((uint64_t{1} << 32) + d), 0);
  NextStorm(NewStream(2), 0);
  for (int vm = 0; vm < options_.vms; ++vm) {
    for (int l = 0; l < x86::kLinesPerVm; ++l) {
      NextLineWork(vm, l, NewStream((uint64_t{2} << 32) + vm * 16 + l), 0);
    }
    NextReroute(vm, NewStream((uint64_t{3} << 32) + vm), 0);
  }
  NextAffinityChange(NewStream(3), 0);
  NextHotplug(NewStream(4), 0);
}

void X86Host::NextMsi(int device, std::mt19937_64& rng, cost::Ns t) {
  t += Exponential(rng, options_.msi_rate);
  if (t >= end_of_traffic_) return;
  const size_t irte =
      static_cast<size_t>(device * x86::kIrtesPerDevice) + rng() % x86::kIrtesPerDevice;
  loop_.At(t, [this, device, &rng, t, irte] {
    FireMsi(irte);
    NextMsi(device, rng, t);
  });
}

void X86Host::NextStorm(std::mt19937_64& rng, cost::Ns t) {
  t += Exponential(rng, options_.storm_rate);
  if (t >= end_of_traffic_) return;
  const int device = static_cast<int>(rng() % static_cast<uint64_t>(options_.devices));
  loop_.At(t, [this, &rng, t, device] {
    ++storms_;
    // A storm: the device fires round-robin over its IRTEs at storm_per_us.
    const cost::Ns gap =
        std::max<cost::Ns>(1, static_cast<cost::Ns>(1000.0 / options_.storm_per_us));
    const cost::Ns end = std::min(t + options_.storm_len_us * cost::kUs, end_of_traffic_);
    int k = 0;
    for (cost::Ns s = t; s < end; s += gap, ++k) {
      const size_t irte =
          static_cast<size_t>(device * x86::kIrtesPerDevice + k % x86::kIrtesPerDevice);
      loop_.At(s, [this, irte] { FireMsi(irte); });
    }
    NextStorm(rng, t);
  });
}

void X86Host::FireMsi(size_t i) {
  const Irte& irte = irtes_[i];
  const hw::fake::Delivery d = iommu_hw_->DeviceInterrupt(irte.device_id, irte.index);
  if (d.kind == hw::fake::DeliveryKind::kFault || d.kind == hw::fake::DeliveryKind::kRemapped) {
    msi_ledger_.Drop();
    Failure(absl::StrFormat("x86: MSI on IRTE %#x:%u not posted (%s)", irte.device_id, irte.index,
                            d.fault));
    return;
  }
  // The IOMMU wrote the IRR of the page the IRTE named: find its vCPU.
  int g = -1;
  for (int v = 0; v < total_vcpus_ && g < 0; ++v) {
    if (vcpus_[v].page.pa == d.vapic_page_pa) g = v;
  }
  if (g < 0) {
    msi_ledger_.Drop();
    Failure(absl::StrFormat("x86: MSI posted to an unknown page %#x", d.vapic_page_pa));
    return;
  }
  msi_ledger_.Raise(x86::MsiKey(g, irte.vector));
  InterruptArrived(g, /*host_kick=*/false);
}

void X86Host::NextLineWork(int vm, int line, std::mt19937_64& rng, cost::Ns t) {
  t += Exponential(rng, options_.line_rate);
  if (t >= end_of_traffic_) return;
  loop_.At(t, [this, vm, line, &rng, t] {
    LineWork(vm, line);
    NextLineWork(vm, line, rng, t);
  });
}

void X86Host::LineWork(int vm, int line) {
  Vm& m = vms_[vm];
  line_ledger_.Raise(x86::LineKey(vm, line));
  ++m.line_work[line];
  // The device holds its INTx line high while it has work (level-triggered).
  if (!m.ioapic->SetIrq(x86::kFirstLinePin + line, true).ok()) Failure("x86: SetIrq refused a pin");
}

void X86Host::NextReroute(int vm, std::mt19937_64& rng, cost::Ns t) {
  t += Exponential(rng, options_.reroute_rate);
  if (t >= end_of_traffic_) return;
  const int line = static_cast<int>(rng() % x86::kLinesPerVm);
  const int dest = static_cast<int>(rng() % static_cast<uint64_t>(options_.vcpus));
  loop_.At(t, [this, vm, line, dest, &rng, t] {
    GuestReroute(vm, line, dest);
    NextReroute(vm, rng, t);
  });
}

// The guest moves a line to another vCPU (irq affinity), as Linux does: mask, new destination
// in the high dword, then the low dword with the vector, unmasked. An interrupt of that line may
// be in flight on the old destination: its EOI must still reach the I/O APIC (stale EOI).
void X86Host::GuestReroute(int vm, int line, int dest) {
  // Only a running vCPU of the VM can program its I/O APIC.
  int writer = -1;
  for (int i = 0; i < options_.vcpus && writer < 0; ++i) {
    if (vcpus_[Gid(vm, i)].state == State::kRunning) writer = Gid(vm, i);
  }
  if (writer < 0) return;
  const uint64_t mmio_before = mmio_exits_;
  // The guest's balancer prefers a busy line: one whose Remote IRR says its interrupt is in
  // flight right now (the guest reads the RTEs through MMIO, as it would).
  hw::x86::IoapicRedirectionEntry rte;
  for (int l = 0; l < x86::kLinesPerVm; ++l) {
    rte = GuestReadRte(vm, x86::kFirstLinePin + l);
    if (rte.remote_irr() != 0) {
      line = l;
      break;
    }
  }
  const int pin = x86::kFirstLinePin + line;
  rte = GuestReadRte(vm, pin);
  const int old_dest = static_cast<int>(rte.destination());
  if (rte.remote_irr() != 0 ||
      Page(Gid(vm, old_dest)).Test(hw::x86::ApicVectorReg::kIrr, x86::kFirstLineVector + line)) {
    ++reroutes_in_flight_;
  }
  ++reroutes_;
  IoapicWrite(vm, static_cast<uint8_t>(0x10 + 2 * pin),
              static_cast<uint32_t>(rte.set_mask(1).raw()));
  IoapicWrite(vm, static_cast<uint8_t>(0x11 + 2 * pin),
              static_cast<uint32_t>(rte.set_destination(static_cast<uint64_t>(dest)).raw() >> 32));
  IoapicWrite(vm, static_cast<uint8_t>(0x10 + 2 * pin),
              static_cast<uint32_t>(rte.set_mask(0).raw()));
  platform_.Charge(vcpus_[writer].cpu,
                   static_cast<cost::Ns>(mmio_exits_ - mmio_before) * cost::kMmioExit);
}

// The guest changes an MSI's affinity: the router moves the IRTE to another vCPU of the VM.
void X86Host::NextAffinityChange(std::mt19937_64& rng, cost::Ns t) {
  t += Exponential(rng, x86::kAffinityChangesPerMs);
  if (t >= end_of_traffic_ || irtes_.empty()) return;
  const size_t i = rng() % irtes_.size();
  const int index = static_cast<int>(rng() % static_cast<uint64_t>(options_.vcpus));
  loop_.At(t, [this, i, index, &rng, t] {
    Irte& irte = irtes_[i];
    const int to = Gid(irte.vm, index);
    if (to != irte.owner) {
      const uint64_t commands = iommu_hw_->commands_executed();
      platform_.SetCurrentCpu(vcpus_[to].cpu);
      if (absl::Status s =
              router_->Bind({irte.device_id, irte.index}, static_cast<uint32_t>(to), irte.vector);
          s.ok()) {
        irte.owner = to;
        ++affinity_changes_;
      } else {
        Failure("x86: Bind: " + std::string(s.message()));
      }
      ChargeCommands(vcpus_[to].cpu, commands);
    }
    NextAffinityChange(rng, t);
  });
}

// CPU hot-unplug and replug.
void X86Host::NextHotplug(std::mt19937_64& rng, cost::Ns t) {
  t += Exponential(rng, x86::kHotplugPerMs);
  if (t >= end_of_traffic_ || options_.pcpus < 3) return;
  const int cpu = static_cast<int>(rng() % static_cast<uint64_t>(options_.pcpus));
  loop_.At(t, [this, cpu, &rng, t] {
    if (pcpus_[cpu].online) {
      CpuOffline(cpu);
      loop_.After(x86::kOfflineFor, [this, cpu] { CpuOnline(cpu); });
    }
    NextHotplug(rng, t);
  });
}

}  // namespace host_sim
