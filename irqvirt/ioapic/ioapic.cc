// SPDX-License-Identifier: MIT
#include "irqvirt/ioapic/ioapic.h"

#include <algorithm>
#include <array>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_format.h"
#include "absl/types/span.h"
#include "irqvirt/planted_bug.h"

namespace irqvirt::ioapic {

using hw::x86::IoapicDeliveryMode;
using hw::x86::IoapicRedirectionEntry;

namespace {

// Whether the entry's delivery mode uses its vector field. Only decides whose interception sets a
// route change can touch; EOIs and interception match the vector field in every mode (below).
bool NeedsVector(const IoapicRedirectionEntry& e) {
  const auto mode = static_cast<IoapicDeliveryMode>(e.delivery_mode());
  return mode == IoapicDeliveryMode::kFixed || mode == IoapicDeliveryMode::kLowestPriority;
}

// Guests access the window with 1-, 2-, 4- or 8-byte loads and stores; nothing else exists.
bool ValidAccessSize(uint32_t size) { return size == 1 || size == 2 || size == 4 || size == 8; }

// The low `size` bytes of `value` (little-endian: the bytes at the accessed offset).
uint64_t LowBytes(uint64_t value, uint32_t size) {
  return size >= 8 ? value : value & ((uint64_t{1} << (8 * size)) - 1);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Ioapic>> Ioapic::Create(hw::LapicBus& lapics,
                                                       hw::OneShotTimer& timer,
                                                       IoapicOptions options) {
  if (options.num_pins < 1 || options.num_pins > kMaxPins) {
    return absl::InvalidArgumentError(
        absl::StrFormat("I/O APIC: %d pins outside 1..%d", options.num_pins, kMaxPins));
  }
  if (options.version != 0x11 && options.version != 0x20) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "I/O APIC: version %#x unsupported (0x11 without, 0x20 with EOI register)", options.version));
  }
  if (options.storm_threshold == 0) {
    return absl::InvalidArgumentError("I/O APIC: storm_threshold must be at least 1");
  }
  if (lapics.num_vcpus() < 1) return absl::InvalidArgumentError("I/O APIC: no vCPUs");
  return std::unique_ptr<Ioapic>(new Ioapic(lapics, timer, options));
}

Ioapic::Ioapic(hw::LapicBus& lapics, hw::OneShotTimer& timer, const IoapicOptions& options)
    : lapics_(lapics),
      timer_(timer),
      num_pins_(options.num_pins),
      version_(options.version),
      storm_threshold_(options.storm_threshold),
      storm_delay_ns_(options.storm_delay_ns),
      rescan_immediately_(options.rescan_immediately),
      pins_(static_cast<size_t>(options.num_pins)),
      interception_(lapics.num_vcpus()) {
  absl::MutexLock l(&mu_);
  if (rescan_immediately_) RunRequestedRescans();
}

// ---------------------------------------------------------------- MMIO

uint64_t Ioapic::MmioRead(uint32_t offset, uint32_t size) {
  if (!ValidAccessSize(size)) return 0;  // KVM ioapic_mmio_read: "wrong length", no data
  uint32_t value = 0;
  switch (offset) {
    case hw::x86::kIoapicRegSel: {
      absl::MutexLock l(&mu_);
      value = ioregsel_;
      break;
    }
    case hw::x86::kIoapicWindow: {
      // A dword register: narrower reads see nothing (QEMU ioapic_mem_read `size != 4`); an
      // 8-byte read is this dword and a zero one from 0x14 (QEMU splits it; KVM zero-extends).
      if (size < 4) return 0;
      absl::MutexLock l(&mu_);
      value = ReadIndirect();
      break;
    }
    default:
      return 0;  // EOI register is write-only; everything else, odd offsets too, reads as zero
  }
  return LowBytes(value, size);
}

void Ioapic::MmioWrite(uint32_t offset, uint32_t size, uint64_t value) {
  if (!ValidAccessSize(size)) return;  // KVM ioapic_mmio_write: "Unsupported size", dropped
  // The dword at `offset`: an 8-byte store is two dword stores, and the one at offset + 4 never
  // reaches a register (QEMU access_with_adjusted_size; KVM takes the low 32 bits).
  const uint32_t data = static_cast<uint32_t>(LowBytes(value, size < 4 ? size : 4));
  switch (offset) {
    case hw::x86::kIoapicEoi:
      // Version 0x20 parts clear Remote IRR of every level entry with the vector in bits 7:0;
      // dword stores only (QEMU ioapic_mem_write `size != 4`).
      if (version_ == 0x20 && size >= 4) BroadcastEoi(static_cast<uint8_t>(data), /*level=*/true);
      return;
    case hw::x86::kIoapicRegSel: {
      absl::MutexLock l(&mu_);
      ioregsel_ = static_cast<uint8_t>(data);  // any size; bits 7:0 (KVM `data & 0xff`)
      return;
    }
    case hw::x86::kIoapicWindow: {
      if (size < 4) return;  // byte/word stores to the dword window are dropped (QEMU)
      absl::MutexLock l(&mu_);
      WriteIndirect(data);
      return;
    }
    default:
      return;  // unimplemented, odd and unaligned offsets ignore writes
  }
}

uint32_t Ioapic::ReadIndirect() {
  switch (ioregsel_) {
    case hw::x86::kIoapicSelId:
      return hw::x86::IoapicId().set_id(id_).raw();
    case hw::x86::kIoapicSelVersion:
      return hw::x86::IoapicVersion()
          .set_version(version_)
          .set_max_redir_entry(static_cast<uint64_t>(num_pins_ - 1))
          .raw();
    case hw::x86::kIoapicSelArbitration:
      return hw::x86::IoapicArbitration().set_arbitration_id(id_).raw();  // mirrors the ID
    default:
      break;
  }
  if (ioregsel_ >= hw::x86::kIoapicSelRedirBase) {
    const int pin = (ioregsel_ - hw::x86::kIoapicSelRedirBase) >> 1;
    if (pin < num_pins_) {
      const uint64_t raw = pins_[pin].rte.raw();
      return (ioregsel_ & 1) ? static_cast<uint32_t>(raw >> 32) : static_cast<uint32_t>(raw);
    }
  }
  return 0xffffffffu;  // unknown selector or RTE beyond the last pin (KVM behaviour)
}

void Ioapic::WriteIndirect(uint32_t value) {
  switch (ioregsel_) {
    case hw::x86::kIoapicSelId:
      id_ = static_cast<uint8_t>(hw::x86::IoapicId::FromRaw(value).id());  // only bits 27:24
      return;
    case hw::x86::kIoapicSelVersion:
    case hw::x86::kIoapicSelArbitration:
      return;  // read-only
    default:
      break;
  }
  if (ioregsel_ >= hw::x86::kIoapicSelRedirBase) {
    const int pin = (ioregsel_ - hw::x86::kIoapicSelRedirBase) >> 1;
    if (pin < num_pins_) WriteRedirection(pin, ioregsel_ & 1, value);
  }
}

void Ioapic::WriteRedirection(int pin, bool high_half, uint32_t value) {
  Pin& p = pins_[pin];
  const IoapicRedirectionEntry old = p.rte;
  uint64_t raw = old.raw();
  raw = high_half ? ((raw & 0xffffffffull) | (uint64_t{value} << 32))
                  : ((raw & ~0xffffffffull) | value);
  // Remote IRR and Delivery Status are read-only: keep what the device had.
  raw = (raw & ~IoapicRedirectionEntry::kReadOnlyMask) |
        (old.raw() & IoapicRedirectionEntry::kReadOnlyMask);
  IoapicRedirectionEntry e = IoapicRedirectionEntry::FromRaw(raw);
  // Switching to edge clears Remote IRR: guests without an EOI register rely on it (Linux, Xen).
  if (e.trigger_mode() == 0 && e.remote_irr()) {
    e.set_remote_irr(0);
    ++p.stats.remote_irr_clears;
  }
  p.rte = e;
  p.storm_count = 0;
  if (e.raw() != old.raw()) {
    RequestRescansFor(old);  // old destinations, computed with the old destination mode
    RequestRescansFor(e);
    if (rescan_immediately_) RunRequestedRescans();
  }
  if (e.trigger_mode() && p.irr && !e.mask() && !e.remote_irr()) Service(pin);
}

// ---------------------------------------------------------------- delivery

absl::Status Ioapic::CheckPin(int pin) const {
  if (pin >= 0 && pin < num_pins_) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrFormat("I/O APIC: pin %d outside 0..%d", pin, num_pins_ - 1));
}

absl::Status Ioapic::CheckVcpu(int vcpu) const {
  if (ValidVcpu(vcpu)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrFormat("I/O APIC: vCPU %d outside 0..%d", vcpu, lapics_.num_vcpus() - 1));
}

absl::Status Ioapic::SetIrq(int pin, bool level) {
  if (absl::Status s = CheckPin(pin); !s.ok()) return s;
  absl::MutexLock l(&mu_);
  Pin& p = pins_[pin];
  if (!level) {
    p.irr = false;  // deassert never touches Remote IRR
    return absl::OkStatus();
  }
  if (p.rte.trigger_mode() == 0 && p.irr) return absl::OkStatus();  // edge: no 0->1 transition
  p.irr = true;
  Service(pin);
  return absl::OkStatus();
}

bool Ioapic::Service(int pin) {
  Pin& p = pins_[pin];
  const IoapicRedirectionEntry& e = p.rte;
  const bool level = e.trigger_mode() != 0;
  if (e.mask() || (level && e.remote_irr())) return false;  // stays latched in irr
  const auto mode = static_cast<IoapicDeliveryMode>(e.delivery_mode());
  const uint8_t vector = static_cast<uint8_t>(e.vector());
  const uint32_t dest = static_cast<uint32_t>(e.destination());
  const bool logical = e.dest_mode() != 0;
  const int n = lapics_.num_vcpus();
  int accepted = 0;
  if (mode == IoapicDeliveryMode::kLowestPriority) {
    // One of the matching LAPICs, rotating: the choice among equal priorities is the
    // implementation's (KVM uses priorities or vector hashing).
    for (int i = 0; i < n; ++i) {
      const int v = static_cast<int>((lowest_priority_cursor_ + i) % n);
      if (!lapics_.MatchesDestination(v, dest, logical)) continue;
      lowest_priority_cursor_ = static_cast<uint32_t>(v + 1);
      accepted += lapics_.Deliver(v, vector, level, mode) ? 1 : 0;
      break;
    }
  } else {
    for (int v = 0; v < n; ++v) {
      if (lapics_.MatchesDestination(v, dest, logical)) {
        accepted += lapics_.Deliver(v, vector, level, mode) ? 1 : 0;
      }
    }
  }
  if (accepted == 0) return false;
  ++p.stats.deliveries;
  if (level) {
    // Set only when a LAPIC took it: an interrupt nobody accepted gets no EOI, and a Remote IRR
    // set for it would block the line forever. (KVM sets it on any non-zero return.)
    p.rte.set_remote_irr(1);
    ++p.stats.level_deliveries;
  }
  return true;
}

// ---------------------------------------------------------------- EOI

bool Ioapic::OnLapicEoi(int vcpu, uint8_t vector, bool level) {
  if (!ValidVcpu(vcpu)) return false;
  std::shared_ptr<const EoiExitHandler> handler;
  {
    absl::MutexLock l(&mu_);
    if (!interception_.OnEoi(vcpu, vector)) return false;
    handler = eoi_exit_handler_;
  }
  if (!handler) {
    BroadcastEoi(vector, level);  // runs the rescans too
    return true;
  }
  (*handler)(vcpu, vector, level);
  // After the EOI was reported against the old set (as KVM orders IOAPIC_EOI_EXIT before
  // SCAN_IOAPIC), drop vectors that are no longer needed.
  if (rescan_immediately_) {
    absl::MutexLock l(&mu_);
    RunRequestedRescans();
  }
  return true;
}

void Ioapic::ProcessEoi(uint8_t vector, bool level) { BroadcastEoi(vector, level); }

void Ioapic::BroadcastEoi(uint8_t vector, bool level) {
  AckBatch acks;
  bool arm_timer = false;
  {
    absl::MutexLock l(&mu_);
    CollectAckNotifiers(vector, acks);
    if (acks.empty()) {  // the common case: one critical section
      arm_timer = ProcessEoiLocked(vector, level);
      if (rescan_immediately_) RunRequestedRescans();
    }
  }
  if (!acks.empty()) {
    // Notifiers first, without the lock: a resampler deasserting the line from its notifier
    // must see Remote IRR still set, or the EOI below would re-deliver a request already handled.
    acks.Dispatch();
    absl::MutexLock l(&mu_);
    arm_timer = ProcessEoiLocked(vector, level);
    if (rescan_immediately_) RunRequestedRescans();
  }
  if (arm_timer) timer_.Arm(storm_delay_ns_);
}

void Ioapic::CollectAckNotifiers(uint8_t vector, AckBatch& batch) {
  for (int pin = 0; pin < num_pins_; ++pin) {
    const Pin& p = pins_[pin];
    if (p.rte.vector() != vector || !p.ack_notifiers) continue;
    batch.Add(pin, p.ack_notifiers);
  }
}

bool Ioapic::ProcessEoiLocked(uint8_t vector, bool level) {
  bool arm_timer = false;
  for (int pin = 0; pin < num_pins_; ++pin) {
    Pin& p = pins_[pin];
    // By vector alone, whatever the delivery mode: an entry switched to NMI/SMI/ExtINT while its
    // level interrupt was in service still gets that EOI. (KVM arch/x86/kvm/ioapic.c,
    // kvm_ioapic_update_eoi: entries are matched on the vector field only.)
    if (p.rte.vector() != vector) continue;
    // An EOI the LAPIC marks edge (TMR clear) or an edge entry has no Remote IRR to clear.
    if (!level || p.rte.trigger_mode() == 0) continue;
    if (p.rte.remote_irr()) {
      p.rte.set_remote_irr(0);
      ++p.stats.remote_irr_clears;
    }
    if (p.rte.mask() || !p.irr) {
      p.storm_count = 0;
      continue;
    }
    if (IRQVIRT_PLANTED(kIoapicNoRedeliveryAtEoi)) continue;
    // The line is still asserted: re-deliver, unless this has happened too often in a row.
    if (++p.storm_count >= storm_threshold_) {
      p.storm_count = 0;
      ++p.stats.deferred_by_storm_guard;
      if (!storm_timer_armed_) {
        storm_timer_armed_ = true;
        arm_timer = true;  // armed by the caller once mu_ is released
      }
      continue;
    }
    Service(pin);
  }
  return arm_timer;
}

void Ioapic::OnStormTimer() {
  absl::MutexLock l(&mu_);
  storm_timer_armed_ = false;
  for (int pin = 0; pin < num_pins_; ++pin) {
    const Pin& p = pins_[pin];
    if (p.rte.trigger_mode() && p.irr && !p.rte.remote_irr()) Service(pin);
  }
}

void Ioapic::SetEoiExitHandler(EoiExitHandler handler) {
  std::shared_ptr<const EoiExitHandler> shared;
  if (handler) shared = std::make_shared<const EoiExitHandler>(std::move(handler));
  absl::MutexLock l(&mu_);
  eoi_exit_handler_ = std::move(shared);
}

absl::Status Ioapic::AddAckNotifier(int pin, AckNotifier notifier) {
  if (absl::Status s = CheckPin(pin); !s.ok()) return s;
  if (!notifier) return absl::InvalidArgumentError("I/O APIC: empty ack notifier");
  absl::MutexLock l(&mu_);
  // Copy-on-write: an EOI that collected the old list may still be calling it.
  auto list = pins_[pin].ack_notifiers
                  ? std::make_shared<AckNotifierList>(*pins_[pin].ack_notifiers)
                  : std::make_shared<AckNotifierList>();
  list->push_back(std::move(notifier));
  pins_[pin].ack_notifiers = std::move(list);
  RequestRescansFor(pins_[pin].rte);
  if (rescan_immediately_) RunRequestedRescans();
  return absl::OkStatus();
}

// ---------------------------------------------------------------- interception

void Ioapic::RequestRescansFor(const IoapicRedirectionEntry& e) {
  if (!NeedsVector(e)) {
    interception_.RequestRescanAll();  // KVM: other delivery modes rescan everyone
    return;
  }
  const uint32_t dest = static_cast<uint32_t>(e.destination());
  const bool logical = e.dest_mode() != 0;
  for (int v = 0; v < lapics_.num_vcpus(); ++v) {
    if (lapics_.MatchesDestination(v, dest, logical)) interception_.RequestRescan(v);
  }
}

void Ioapic::RunRequestedRescans() {
  for (int v = 0; v < interception_.num_vcpus(); ++v) {
    if (interception_.rescan_requested(v)) RescanLocked(v);
  }
}

void Ioapic::RescanLocked(int vcpu) {
  // On the stack: a stale EOI rescans from the EOI path, which must not allocate.
  std::array<EoiRoute, kMaxPins> routes;
  size_t n = 0;
  for (const Pin& p : pins_) {
    // Every delivery mode, so the EOI that clears a Remote IRR set before a switch away from fixed
    // still exits. (KVM arch/x86/kvm/ioapic.c, kvm_ioapic_scan_entry: no delivery-mode test.)
    if (p.rte.trigger_mode() == 0 && !p.ack_notifiers) continue;  // nothing to tell
    routes[n++] = {static_cast<uint8_t>(p.rte.vector()), static_cast<uint32_t>(p.rte.destination()),
                   p.rte.dest_mode() != 0};
  }
  interception_.Rescan(vcpu, absl::MakeConstSpan(routes.data(), n), lapics_);
}

absl::StatusOr<bool> Ioapic::InterceptsEoi(int vcpu, uint8_t vector) {
  if (absl::Status s = CheckVcpu(vcpu); !s.ok()) return s;
  absl::MutexLock l(&mu_);
  return interception_.Intercepts(vcpu, vector);
}

std::bitset<256> Ioapic::HandledVectors(int vcpu) {
  if (!ValidVcpu(vcpu)) return {};
  absl::MutexLock l(&mu_);
  return interception_.handled(vcpu);
}

absl::StatusOr<int> Ioapic::HighestStalePendingEoi(int vcpu) {
  if (absl::Status s = CheckVcpu(vcpu); !s.ok()) return s;
  absl::MutexLock l(&mu_);
  return interception_.highest_stale(vcpu);
}

uint64_t Ioapic::InterceptedEois(int vcpu, uint8_t vector) {
  if (!ValidVcpu(vcpu)) return 0;
  absl::MutexLock l(&mu_);
  return interception_.intercepted(vcpu, vector);
}

bool Ioapic::RescanPending(int vcpu) {
  if (!ValidVcpu(vcpu)) return false;
  absl::MutexLock l(&mu_);
  return interception_.rescan_requested(vcpu);
}

void Ioapic::ProcessPendingRescans(int vcpu) {
  if (!ValidVcpu(vcpu)) return;
  absl::MutexLock l(&mu_);
  if (interception_.rescan_requested(vcpu)) RescanLocked(vcpu);
}

absl::StatusOr<hw::x86::IoapicRedirectionEntry> Ioapic::Entry(int pin) {
  if (absl::Status s = CheckPin(pin); !s.ok()) return s;
  absl::MutexLock l(&mu_);
  return pins_[pin].rte;
}

absl::StatusOr<PinStats> Ioapic::Stats(int pin) {
  if (absl::Status s = CheckPin(pin); !s.ok()) return s;
  absl::MutexLock l(&mu_);
  return pins_[pin].stats;
}

// ---------------------------------------------------------------- save / restore / reset

uint32_t SnapshotCrc32(absl::Span<const uint8_t> bytes) {
  // Bitwise, reflected polynomial 0xEDB88320: a cold path, no table needed.
  uint32_t crc = 0xffffffffu;
  for (const uint8_t b : bytes) {
    crc ^= b;
    for (int i = 0; i < 8; ++i) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

namespace {

constexpr uint8_t kSnapshotMagic[4] = {'I', 'O', 'A', 'P'};

// Little-endian field access at a byte offset; the caller checked the size.
uint64_t GetLe(absl::Span<const uint8_t> b, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= uint64_t{b[at + i]} << (8 * i);
  return v;
}
void PutLe(std::vector<uint8_t>& b, size_t at, int bytes, uint64_t v) {
  for (int i = 0; i < bytes; ++i) b[at + i] = static_cast<uint8_t>(v >> (8 * i));
}

bool AllZero(absl::Span<const uint8_t> b, size_t at, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (b[at + i] != 0) return false;
  }
  return true;
}

}  // namespace

std::vector<uint8_t> Ioapic::Save() {
  const int nv = lapics_.num_vcpus();
  std::vector<uint8_t> b(kSnapshotHeaderSize + num_pins_ * kSnapshotPinSize +
                             nv * kSnapshotVcpuSize + kSnapshotTrailerSize,
                         0);
  absl::MutexLock l(&mu_);
  for (size_t i = 0; i < 4; ++i) b[i] = kSnapshotMagic[i];
  PutLe(b, 4, 2, kSnapshotFormatVersion);
  b[6] = version_;
  PutLe(b, 8, 2, static_cast<uint64_t>(num_pins_));
  PutLe(b, 10, 2, static_cast<uint64_t>(nv));
  b[12] = ioregsel_;
  b[13] = id_;
  b[14] = storm_timer_armed_ ? 1 : 0;
  PutLe(b, 16, 4, lowest_priority_cursor_);
  size_t at = kSnapshotHeaderSize;
  for (const Pin& p : pins_) {
    PutLe(b, at, 8, p.rte.raw());
    b[at + 8] = p.irr ? 1 : 0;
    PutLe(b, at + 12, 4, p.storm_count);
    PutLe(b, at + 16, 8, p.stats.deliveries);
    PutLe(b, at + 24, 8, p.stats.level_deliveries);
    PutLe(b, at + 32, 8, p.stats.remote_irr_clears);
    PutLe(b, at + 40, 8, p.stats.deferred_by_storm_guard);
    at += kSnapshotPinSize;
  }
  for (int v = 0; v < nv; ++v) {
    const EoiInterception::VcpuState& s = interception_.state(v);
    for (int vec = 0; vec < 256; ++vec) {
      if (s.handled.test(vec)) b[at + vec / 8] |= static_cast<uint8_t>(1u << (vec % 8));
    }
    PutLe(b, at + 32, 2, static_cast<uint16_t>(static_cast<int16_t>(s.highest_stale)));
    b[at + 34] = s.rescan_requested ? 1 : 0;
    for (int vec = 0; vec < 256; ++vec) PutLe(b, at + 40 + 8 * vec, 8, s.intercepted[vec]);
    at += kSnapshotVcpuSize;
  }
  PutLe(b, at, 4, SnapshotCrc32(absl::MakeConstSpan(b.data(), at)));
  return b;
}

absl::Status Ioapic::Restore(absl::Span<const uint8_t> b) {
  // Everything is decoded and checked into locals first; state changes only once all is valid.
  auto bad = [](const std::string& what) {
    return absl::InvalidArgumentError("I/O APIC restore: " + what);
  };
  if (b.size() < kSnapshotHeaderSize) {
    return bad(absl::StrFormat("truncated: %d bytes, the header alone is %d", b.size(),
                               kSnapshotHeaderSize));
  }
  if (!std::equal(b.begin(), b.begin() + 4, kSnapshotMagic)) {
    return bad("bad magic (not an I/O APIC snapshot)");
  }
  const uint64_t format = GetLe(b, 4, 2);
  if (format > kSnapshotFormatVersion) {
    return bad(absl::StrFormat("format version %d is newer than this build reads (%d)", format,
                               kSnapshotFormatVersion));
  }
  if (format != kSnapshotFormatVersion) return bad(absl::StrFormat("format version %d", format));
  const int nv = lapics_.num_vcpus();
  if (b[6] != version_ || static_cast<int>(GetLe(b, 8, 2)) != num_pins_ ||
      static_cast<int>(GetLe(b, 10, 2)) != nv) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "I/O APIC restore: snapshot of version %#x, %d pins, %d vCPUs; this instance is %#x, %d "
        "pins, %d vCPUs",
        b[6], GetLe(b, 8, 2), GetLe(b, 10, 2), version_, num_pins_, nv));
  }
  const size_t size = kSnapshotHeaderSize + num_pins_ * kSnapshotPinSize + nv * kSnapshotVcpuSize +
                      kSnapshotTrailerSize;
  if (b.size() != size) {
    return bad(
        absl::StrFormat("%d bytes, %d pins and %d vCPUs take %d", b.size(), num_pins_, nv, size));
  }
  const size_t crc_at = size - kSnapshotTrailerSize;
  if (SnapshotCrc32(b.subspan(0, crc_at)) != GetLe(b, crc_at, 4)) {
    return bad("checksum mismatch (corrupt snapshot)");
  }
  if (b[7] != 0 || b[15] != 0 || (b[14] & ~1u) != 0) return bad("reserved header bits set");
  if (b[13] > 0xf) return bad(absl::StrFormat("ID %d outside 0..15", b[13]));
  const uint64_t cursor = GetLe(b, 16, 4);
  if (cursor > static_cast<uint64_t>(nv)) {
    return bad(absl::StrFormat("lowest-priority cursor %d outside 0..%d", cursor, nv));
  }
  struct PinState {
    IoapicRedirectionEntry rte;
    bool irr;
    uint32_t storm_count;
    PinStats stats;
  };
  std::vector<PinState> pins(static_cast<size_t>(num_pins_));
  size_t at = kSnapshotHeaderSize;
  for (int pin = 0; pin < num_pins_; ++pin, at += kSnapshotPinSize) {
    PinState& p = pins[pin];
    p.rte = IoapicRedirectionEntry::FromRaw(GetLe(b, at, 8));
    if (p.rte.delivery_status()) return bad(absl::StrFormat("pin %d: Delivery Status set", pin));
    if (p.rte.remote_irr() && !p.rte.trigger_mode()) {
      return bad(absl::StrFormat("pin %d: Remote IRR set on an edge-triggered entry", pin));
    }
    if ((b[at + 8] & ~1u) != 0 || !AllZero(b, at + 9, 3)) {
      return bad(absl::StrFormat("pin %d: reserved bits set", pin));
    }
    p.irr = b[at + 8] & 1;
    p.storm_count = static_cast<uint32_t>(GetLe(b, at + 12, 4));
    if (p.storm_count >= storm_threshold_) {
      return bad(absl::StrFormat("pin %d: storm count %d not below this instance's threshold %d",
                                 pin, p.storm_count, storm_threshold_));
    }
    p.stats = {GetLe(b, at + 16, 8), GetLe(b, at + 24, 8), GetLe(b, at + 32, 8),
               GetLe(b, at + 40, 8)};
  }
  std::vector<EoiInterception::VcpuState> vcpus(static_cast<size_t>(nv));
  for (int v = 0; v < nv; ++v, at += kSnapshotVcpuSize) {
    EoiInterception::VcpuState& s = vcpus[v];
    for (int vec = 0; vec < 256; ++vec) s.handled[vec] = (b[at + vec / 8] >> (vec % 8)) & 1;
    s.highest_stale = static_cast<int16_t>(GetLe(b, at + 32, 2));
    if (s.highest_stale < -1 || s.highest_stale > 255 ||
        (s.highest_stale >= 0 && !s.handled.test(s.highest_stale))) {
      return bad(absl::StrFormat("vCPU %d: highest stale vector %d is neither -1 nor intercepted",
                                 v, s.highest_stale));
    }
    if ((b[at + 34] & ~1u) != 0 || !AllZero(b, at + 35, 5)) {
      return bad(absl::StrFormat("vCPU %d: reserved bits set", v));
    }
    s.rescan_requested = b[at + 34] & 1;
    for (int vec = 0; vec < 256; ++vec) s.intercepted[vec] = GetLe(b, at + 40 + 8 * vec, 8);
  }
  const bool timer_armed = b[14] & 1;
  {
    absl::MutexLock l(&mu_);
    ioregsel_ = b[12];
    id_ = b[13];
    lowest_priority_cursor_ = static_cast<uint32_t>(cursor);
    storm_timer_armed_ = timer_armed;
    for (int pin = 0; pin < num_pins_; ++pin) {
      pins_[pin].rte = pins[pin].rte;
      pins_[pin].irr = pins[pin].irr;
      pins_[pin].storm_count = pins[pin].storm_count;
      pins_[pin].stats = pins[pin].stats;
    }
    for (int v = 0; v < nv; ++v) interception_.set_state(v, vcpus[v]);
    if (rescan_immediately_) RunRequestedRescans();
  }
  // After mu_ is released, as everywhere: the timer is the embedder's.
  if (timer_armed) {
    timer_.Arm(storm_delay_ns_);
  } else {
    timer_.Cancel();
  }
  return absl::OkStatus();
}

void Ioapic::Reset() {
  {
    absl::MutexLock l(&mu_);
    ioregsel_ = 0;
    id_ = 0;
    lowest_priority_cursor_ = 0;
    storm_timer_armed_ = false;
    for (Pin& p : pins_) {
      p.rte = IoapicRedirectionEntry().set_mask(1);
      p.irr = false;
      p.storm_count = 0;
    }
    for (int v = 0; v < interception_.num_vcpus(); ++v) {
      EoiInterception::VcpuState s;  // empty set, no stale vector, rescan requested
      for (int vec = 0; vec < 256; ++vec) s.intercepted[vec] = interception_.intercepted(v, vec);
      interception_.set_state(v, s);
    }
    if (rescan_immediately_) RunRequestedRescans();
  }
  timer_.Cancel();
}

}  // namespace irqvirt::ioapic
