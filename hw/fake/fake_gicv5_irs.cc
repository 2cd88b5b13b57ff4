// SPDX-License-Identifier: MIT
#include "hw/fake/fake_gicv5_irs.h"

#include <bit>

namespace hw::fake {
namespace {

// One PE's ICC_ICSR_EL1 and the fake whose VDRCFG wrote it. Trivial, so the thread_local needs
// no dynamic initialization and no allocation.
struct IcsrSlot {
  uint64_t irs = 0;  // instance_id_ of the fake; 0 = none
  uint64_t icsr = 0;
};
thread_local IcsrSlot tls_icsr;

// One PE's VDPEND that has been issued but has not completed yet (until a GSB SYS, or until the
// same PE's next VDPEND pushes it out: effects complete "in finite time").
struct VdpendSlot {
  uint64_t irs = 0;  // instance_id_ of the fake; 0 = none in flight
  uint64_t operand = 0;
};
thread_local VdpendSlot tls_vdpend;

std::atomic<uint64_t> next_instance_id{1};

constexpr uint64_t kSpiType = static_cast<uint64_t>(arm::Gicv5IntidType::kSpi);

uint64_t FaultIcsr() { return arm::IccIcsr().set_f(1).raw(); }

}  // namespace

FakeGicv5Irs::FakeGicv5Irs(int num_vms, uint32_t num_spis_per_vm)
    : num_vms_(num_vms < 0 ? 0 : num_vms),
      num_spis_(num_spis_per_vm),
      instance_id_(next_instance_id.fetch_add(1, std::memory_order_relaxed)),
      spis_(static_cast<size_t>(num_vms_) * num_spis_per_vm),
      apr_(static_cast<size_t>(num_vms_) * kVpesPerVm, 0) {}

uint64_t FakeGicv5Irs::Icsr(const Spi& spi) const {
  arm::IccIcsr icsr;
  icsr.set_enabled(spi.enabled ? 1 : 0)
      .set_pending(spi.pending ? 1 : 0)
      .set_active(spi.active ? 1 : 0)
      .set_hm(spi.level ? 1 : 0)
      .set_priority(spi.priority)
      .set_iaffid(spi.target);
  return icsr.raw();
}

void FakeGicv5Irs::Issue(arm::SysRegEncoding e, uint64_t operand) {
  if (e == arm::kGicVdpend) {
    vdpend_count_.fetch_add(1, std::memory_order_relaxed);
    Vdpend(operand);
  } else if (e == arm::kGicVdrcfg) {
    vdrcfg_count_.fetch_add(1, std::memory_order_relaxed);
    Vdrcfg(operand);
  } else if (e == arm::kGsbSys) {
    CompleteVdpend();
  } else {
    invalid_operands_.fetch_add(1, std::memory_order_relaxed);
  }
}

void FakeGicv5Irs::Vdpend(uint64_t operand) {
  const auto op = arm::GicVdpendOperand::FromRaw(operand);
  if (op.has_reserved_bits_set() || op.type() != kSpiType ||
      !Exists(static_cast<uint16_t>(op.vm()), static_cast<uint32_t>(op.id()))) {
    invalid_operands_.fetch_add(1, std::memory_order_relaxed);  // refused at issue
    return;
  }
  CompleteVdpend();  // the previous one lands now at the latest
  tls_vdpend = VdpendSlot{instance_id_, operand};
}

void FakeGicv5Irs::CompleteVdpend() {
  const VdpendSlot slot = tls_vdpend;
  if (slot.irs != instance_id_) return;
  tls_vdpend = VdpendSlot{};
  ApplyVdpend(slot.operand);
}

void FakeGicv5Irs::ApplyVdpend(uint64_t operand) {  // validated at issue
  const auto op = arm::GicVdpendOperand::FromRaw(operand);
  FakeMutexLock lock(mu_);
  spis_[SpiIndex(static_cast<uint16_t>(op.vm()), static_cast<uint32_t>(op.id()))].pending =
      op.pending() != 0;
}

void FakeGicv5Irs::Vdrcfg(uint64_t operand) {
  const auto op = arm::GicVdrcfgOperand::FromRaw(operand);
  const auto vm = static_cast<uint16_t>(op.vm());
  const auto id = static_cast<uint32_t>(op.id());
  uint64_t icsr;
  if (op.has_reserved_bits_set() || op.type() != kSpiType || !Exists(vm, id)) {
    invalid_operands_.fetch_add(1, std::memory_order_relaxed);
    icsr = FaultIcsr();
  } else {
    FakeMutexLock lock(mu_);
    icsr = Icsr(spis_[SpiIndex(vm, id)]);
  }
  tls_icsr = IcsrSlot{instance_id_, icsr};
}

uint64_t FakeGicv5Irs::Read(arm::SysRegEncoding e) {
  if (e != arm::kIccIcsrEl1) {
    invalid_operands_.fetch_add(1, std::memory_order_relaxed);
    return 0;
  }
  const IcsrSlot slot = tls_icsr;
  return slot.irs == instance_id_ ? slot.icsr : FaultIcsr();
}

void FakeGicv5Irs::GuestSetEnabled(uint16_t vm, uint32_t id, bool enabled) {
  if (!Exists(vm, id)) return;
  FakeMutexLock lock(mu_);
  spis_[SpiIndex(vm, id)].enabled = enabled;
}

void FakeGicv5Irs::GuestSetPriority(uint16_t vm, uint32_t id, uint8_t priority) {
  if (!Exists(vm, id)) return;
  FakeMutexLock lock(mu_);
  spis_[SpiIndex(vm, id)].priority = static_cast<uint8_t>(priority & (kNumPriorities - 1));
}

void FakeGicv5Irs::GuestSetHandlingMode(uint16_t vm, uint32_t id, bool level) {
  if (!Exists(vm, id)) return;
  FakeMutexLock lock(mu_);
  spis_[SpiIndex(vm, id)].level = level;
}

void FakeGicv5Irs::GuestSetTarget(uint16_t vm, uint32_t id, uint16_t vpe) {
  if (!Exists(vm, id)) return;
  FakeMutexLock lock(mu_);
  spis_[SpiIndex(vm, id)].target = vpe;
}

void FakeGicv5Irs::GuestSetPending(uint16_t vm, uint32_t id, bool pending) {
  if (!Exists(vm, id)) return;
  FakeMutexLock lock(mu_);
  spis_[SpiIndex(vm, id)].pending = pending;
}

std::optional<uint32_t> FakeGicv5Irs::Acknowledge(uint16_t vm, uint16_t vpe) {
  if (vm >= num_vms_) return std::nullopt;
  FakeMutexLock lock(mu_);
  uint32_t& apr = apr_[VpeIndex(vm, vpe)];
  const int running = apr == 0 ? kNumPriorities : std::countr_zero(apr);
  Spi* const first = spis_.data() + SpiIndex(vm, 0);
  std::optional<uint32_t> best;
  for (uint32_t id = 0; id < num_spis_; ++id) {
    const Spi& spi = first[id];
    if (!spi.pending || !spi.enabled || spi.active || spi.target != vpe) continue;
    if (spi.priority >= running) continue;
    if (!best.has_value() || spi.priority < first[*best].priority) best = id;  // ties: lowest ID
  }
  if (!best.has_value()) return std::nullopt;
  Spi& spi = first[*best];
  spi.active = true;
  if (!spi.level) spi.pending = false;
  apr |= uint32_t{1} << spi.priority;
  return best;
}

bool FakeGicv5Irs::PriorityDrop(uint16_t vm, uint16_t vpe) {
  if (vm >= num_vms_) return false;
  FakeMutexLock lock(mu_);
  uint32_t& apr = apr_[VpeIndex(vm, vpe)];
  if (apr == 0) return false;
  apr &= apr - 1;  // the lowest set bit is the highest active priority
  return true;
}

void FakeGicv5Irs::Deactivate(uint16_t vm, uint32_t id) {
  if (Exists(vm, id)) {
    FakeMutexLock lock(mu_);
    Spi& spi = spis_[SpiIndex(vm, id)];
    if (spi.active) {
      spi.active = false;
      return;
    }
  }
  ignored_deactivations_.fetch_add(1, std::memory_order_relaxed);
}

FakeGicv5Irs::SpiState FakeGicv5Irs::State(uint16_t vm, uint32_t id) const {
  if (!Exists(vm, id)) return SpiState{};
  FakeMutexLock lock(mu_);
  const Spi& spi = spis_[SpiIndex(vm, id)];
  return SpiState{.pending = spi.pending,
                  .active = spi.active,
                  .enabled = spi.enabled,
                  .level = spi.level,
                  .priority = spi.priority,
                  .target = spi.target};
}

uint32_t FakeGicv5Irs::ActivePriorities(uint16_t vm, uint16_t vpe) const {
  if (vm >= num_vms_) return 0;
  FakeMutexLock lock(mu_);
  return apr_[VpeIndex(vm, vpe)];
}

void FakeGicv5Irs::ResetCounters() {
  vdrcfg_count_.store(0, std::memory_order_relaxed);
  vdpend_count_.store(0, std::memory_order_relaxed);
  invalid_operands_.store(0, std::memory_order_relaxed);
  ignored_deactivations_.store(0, std::memory_order_relaxed);
}

}  // namespace hw::fake
