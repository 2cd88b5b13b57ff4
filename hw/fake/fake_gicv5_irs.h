// SPDX-License-Identifier: MIT
// A fake GICv5 IRS for the virtual SPIs of `num_vms` VMs: it plays the hardware under
// hw::arm::Gicv5VirtualSpisBackend, and the guest's side of those SPIs.
// From gic.md §4: GIC VDRCFG queries a virtual interrupt and the result lands in the PE's
// ICC_ICSR_EL1 (§4.2: F = invalid query; Enabled, Pending, Active, HM 1 = level, 5-bit Priority,
// IAFFID; IRM is always 0 here); GIC VDPEND sets or clears its pending state (§4.5); SPI TYPE = 3
// (§4.1). The operand layouts are hw/arm/gicv5_regs.h's.
// The fake's own model, in the hardware's order: a VDPEND completes only at the issuing PE's next
// GSB SYS (or its next VDPEND; effects of GIC instructions complete "in finite time", rule
// R_XCLJC), so a query before that, from any PE, still sees the old state; VDRCFG reads the live
// state at the moment of the query (nothing cached); a thread is a PE, so each thread has its
// own ICC_ICSR_EL1 per fake; acknowledge takes the lowest priority value, then the lowest ID; a
// vPE's active priorities are a 32-bit bitmap. Thread-safe; nothing allocates after construction.
#ifndef IRQVIRT_HW_FAKE_FAKE_GICV5_IRS_H_
#define IRQVIRT_HW_FAKE_FAKE_GICV5_IRS_H_

#include <atomic>
#include <cstdint>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "hw/arm/gicv5_regs.h"
#include "hw/arm/gicv5_virtual_spis_backend.h"
#include "hw/arm/sysreg.h"
#include "hw/fake/fake_mutex.h"

namespace hw::fake {

class FakeGicv5Irs {
 public:
  // Virtual SPI IDs 0..num_spis_per_vm-1 in each of VMs 0..num_vms-1.
  FakeGicv5Irs(int num_vms, uint32_t num_spis_per_vm);
  FakeGicv5Irs(const FakeGicv5Irs&) = delete;
  FakeGicv5Irs& operator=(const FakeGicv5Irs&) = delete;

  // --- the hypervisor's instructions (hw::arm::GicSysInstructionAccessor) ---
  // kGicVdpend, kGicVdrcfg and kGsbSys (completes this thread's VDPEND). An operand with a VM or ID
  // out of range, TYPE != SPI or non-zero reserved bits is counted in invalid_operands(); VDPEND
  // then does nothing and VDRCFG latches F = 1 (all else 0). Other encodings are counted there too
  // and do nothing.
  void Issue(arm::SysRegEncoding e, uint64_t operand);
  // kIccIcsrEl1: the calling thread's last VDRCFG result on this fake (F = 1 if it issued none).
  // Other encodings return 0 and are counted in invalid_operands().
  uint64_t Read(arm::SysRegEncoding e);

  // --- the guest's configuration of its SPIs (GIC CDEN / CDPRI / CDHM / CDAFF) ---
  // A VM or SPI that does not exist is ignored. Reset state: everything 0 (edge, priority 0).
  void GuestSetEnabled(uint16_t vm, uint32_t id, bool enabled);
  void GuestSetPriority(uint16_t vm, uint32_t id, uint8_t priority);  // low 5 bits: 0 highest
  void GuestSetHandlingMode(uint16_t vm, uint32_t id, bool level);
  void GuestSetTarget(uint16_t vm, uint32_t id, uint16_t vpe);  // IAFFID
  // GIC CDPEND (PENDING, bit 32): the guest sets or clears the SPI's pending state itself, as a
  // driver does when it discards a stale interrupt. For a level SPI whose line is still high the
  // hypervisor must make it pending again (it learns of the change only by querying).
  void GuestSetPending(uint16_t vm, uint32_t id, bool pending);

  // --- the guest's CPU-interface operations on vPE `vpe` of VM `vm` ---
  // GICR CDIA: the pending, enabled, not active SPI targeting `vpe` with the lowest priority
  // value (then lowest ID), if that value is below the vPE's running priority (its lowest
  // active-priority bit; any priority preempts an idle vPE). It becomes Active and its priority
  // bit is set; an edge SPI loses Pending, a level SPI keeps it (the line / VDPEND owns it).
  // nullopt when nothing qualifies.
  std::optional<uint32_t> Acknowledge(uint16_t vm, uint16_t vpe);
  // GIC CDEOI: clears the vPE's highest active priority. False if nothing was active.
  bool PriorityDrop(uint16_t vm, uint16_t vpe);
  // GIC CDDI: clears Active; an SPI that is not active (or does not exist) is counted in
  // ignored_deactivations() and left alone.
  void Deactivate(uint16_t vm, uint32_t id);

  // --- what the hardware shows ---
  struct SpiState {
    bool pending, active, enabled, level;
    uint8_t priority;
    uint16_t target;
  };
  SpiState State(uint16_t vm, uint32_t id) const;  // all zero for an SPI that does not exist
  // The vPE's active-priority bitmap (bit p: priority p is active).
  uint32_t ActivePriorities(uint16_t vm, uint16_t vpe) const;

  int num_vms() const { return num_vms_; }
  uint32_t num_spis_per_vm() const { return num_spis_; }
  // Every VDRCFG / VDPEND issued, valid or not.
  uint64_t vdrcfg_count() const { return vdrcfg_count_.load(std::memory_order_relaxed); }
  uint64_t vdpend_count() const { return vdpend_count_.load(std::memory_order_relaxed); }
  uint64_t invalid_operands() const { return invalid_operands_.load(std::memory_order_relaxed); }
  uint64_t ignored_deactivations() const {
    return ignored_deactivations_.load(std::memory_order_relaxed);
  }
  void ResetCounters();

 private:
  struct Spi {
    bool pending = false;
    bool active = false;
    bool enabled = false;
    bool level = false;
    uint8_t priority = 0;
    uint16_t target = 0;
  };
  static constexpr int kNumPriorities = 32;
  static constexpr size_t kVpesPerVm = size_t{1} << 16;  // every IAFFID

  bool Exists(uint16_t vm, uint32_t id) const { return vm < num_vms_ && id < num_spis_; }
  size_t SpiIndex(uint16_t vm, uint32_t id) const { return size_t{vm} * num_spis_ + id; }
  static size_t VpeIndex(uint16_t vm, uint16_t vpe) { return size_t{vm} * kVpesPerVm + vpe; }
  uint64_t Icsr(const Spi& spi) const;
  void Vdpend(uint64_t operand);
  void CompleteVdpend();
  void ApplyVdpend(uint64_t operand);
  void Vdrcfg(uint64_t operand);

  const int num_vms_;
  const uint32_t num_spis_;
  const uint64_t instance_id_;  // tags this fake's per-thread ICC_ICSR_EL1

  mutable FakeMutex mu_;                            // see fake_mutex.h
  std::vector<Spi> spis_ ABSL_GUARDED_BY(mu_);      // [vm * num_spis + id]
  std::vector<uint32_t> apr_ ABSL_GUARDED_BY(mu_);  // [vm * 65536 + vpe]

  std::atomic<uint64_t> vdrcfg_count_{0};
  std::atomic<uint64_t> vdpend_count_{0};
  std::atomic<uint64_t> invalid_operands_{0};
  std::atomic<uint64_t> ignored_deactivations_{0};
};

static_assert(arm::GicSysInstructionAccessor<FakeGicv5Irs>);

}  // namespace hw::fake

#endif  // IRQVIRT_HW_FAKE_FAKE_GICV5_IRS_H_
