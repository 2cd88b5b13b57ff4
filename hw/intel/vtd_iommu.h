// SPDX-License-Identifier: MIT
// Register-exact Intel VT-d driver for interrupt remapping with posted interrupts: bring-up in the
// architectural order (queued invalidation, the table pointer latched by SIRTP, an IEC flush
// unless SIRTP does it, IRE, compatibility-format interrupts blocked), one interrupt remapping
// table, tear-free IRTE writes each followed by an interrupt-entry-cache invalidation of that
// index and an invalidation wait, bounded waits with the queue's fault bits checked and cleared,
// and a failed invalidation reported as an error with the IRTE rolled back.
// It talks to the unit only through hw::MmioRegion and hw::DmaMemory, so the same code runs on
// hardware and against hw/fake's FakeVtdIommu.
//
// Sources (facts only): Intel VT-d Architecture Specification rev. 5.10 §5.1.4 (IRTEs are read
// in one access, software updates them atomically), §6.5.2 (queued invalidation, IEC and wait
// descriptors, error handling), §11.4.4 (one GCMD bit per write), §11.4.9, §11.4.10; Linux
// drivers/iommu/intel/irq_remapping.c (bring-up order, modify_irte flushes every write) and
// dmar.c (qi_submit_sync, qi_check_fault). See ../shared/reference x86-posted-interrupts.md §7.
//
// Unlike the AMD IOMMU, the IEC caches every IRTE field, so every change is flushed. The posted-
// interrupt descriptor's contents (PIR, ON, SN, NV, NDST) are not cached: they are changed in
// memory by their owner, never through this driver.
//
// Locking: queue_lock_ (P::SpinLock, LockIrqSave, never taken from a wakeup handler) covers the
// invalidation queue's tail and the wait sequence, held across the bounded wait like Linux's
// qi->q_lock. IRTE writes take no lock: each entry has one writer at a time (the router
// serialises per IRTE) and a 16-byte CAS publishes it; a failed CAS is reported.
#ifndef IRQVIRT_HW_INTEL_VTD_IOMMU_H_
#define IRQVIRT_HW_INTEL_VTD_IOMMU_H_

#include <atomic>
#include <bit>
#include <cstdint>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "hw/dma_memory.h"
#include "hw/intel/invalidation_descriptor.h"
#include "hw/intel/irte.h"
#include "hw/intel/vtd_regs.h"
#include "hw/irte_atomic.h"
#include "hw/mmio_region.h"
#include "hw/platform.h"

namespace hw::intel {

struct VtdConfig {
  uint32_t irt_entries = 256;  // a power of two, 2..65536 (IRTA.S = log2(entries) - 1)
  bool x2apic = true;          // IRTA.EIME: 32-bit destinations (needs ECAP.EIM)
  // Bounded waits: GSTS bits, queue space, the wait descriptor's store. One MMIO read per try.
  uint32_t poll_limit = 100000;
};

// Why an invalidation round trip failed. Hot paths return this (no allocation).
enum class VtdError : uint8_t {
  kNone,
  kQueueFull,         // the unit stopped fetching descriptors: IQH did not move
  kWaitTimeout,       // the wait descriptor's status store never came
  kQueueError,        // FSTS.IQE: the unit refused a descriptor (it was skipped, IQE cleared)
  kDeviceTlbTimeout,  // FSTS.ITE: pending waits were aborted (ITE cleared)
  kConcurrentWrite,   // the IRTE changed under the writer (a caller bug)
  kBadEntry,          // index out of the table
};

const char* VtdErrorName(VtdError e);

struct VtdWriteResult {
  VtdError error = VtdError::kNone;
  bool invalidated = false;  // the IEC flush of the index completed
  // After a failure: memory holds the old entry again, but the flush that should make the unit
  // drop a cached copy of the new one failed too, so it may still use the new entry.
  bool cache_may_hold_new = false;
  uint8_t reserved = 0;  // four bytes: returned in one register (see hw::amd::IrteWriteResult)
  bool ok() const { return error == VtdError::kNone; }
};
static_assert(sizeof(VtdWriteResult) == 4);

template <Platform P>
class VtdIommu {
 public:
  static absl::StatusOr<std::unique_ptr<VtdIommu>> Create(P& platform, MmioRegion& mmio,
                                                          DmaMemory& memory,
                                                          const VtdConfig& config);
  // Turns interrupt remapping and queued invalidation off (IEC flushed first unless SIRTP
  // does it) and returns the memory.
  ~VtdIommu();

  VtdIommu(const VtdIommu&) = delete;
  VtdIommu& operator=(const VtdIommu&) = delete;

  bool posting_supported() const { return posting_supported_; }  // CAP.PI
  bool x2apic() const { return config_.x2apic; }
  uint32_t irt_entries() const { return config_.irt_entries; }
  // The DST / NDST encoding of `apic_id` in the mode in use (xAPIC: the 8-bit ID in bits 15:8).
  uint32_t DestinationField(uint32_t apic_id) const {
    return config_.x2apic ? apic_id : (apic_id & 0xff) << 8;
  }

  // The entry as the unit would read it from memory.
  IrteWords ReadIrte(uint32_t index) const {
    IrteWords* slot = Slot(index);
    return slot == nullptr ? IrteWords{} : IrteLoad(slot);
  }

  // Replaces the entry with one 16-byte CAS, then invalidates its IEC entry and waits. On a
  // failed invalidation the old entry is put back and flushed again (a timed-out wait does not
  // mean the invalidation did not run, and an interrupt meanwhile may have cached the new one).
  VtdWriteResult WriteIrte(uint32_t index, IrteWords desired);

  // One descriptor plus a wait, bounded.
  VtdError InvalidateIecIndex(uint32_t index) {
    const auto d = VtdIecInvalidation::ForIndex(static_cast<uint16_t>(index));
    return Submit({d.lo(), d.hi()});
  }
  VtdError InvalidateIecGlobal() {
    const auto d = VtdIecInvalidation::Global();
    return Submit({d.lo(), d.hi()});
  }

 private:
  VtdIommu(P& platform, MmioRegion& mmio, DmaMemory& memory, const VtdConfig& config)
      : platform_(platform), mmio_(mmio), memory_(memory), config_(config) {}

  absl::Status Enable();
  void Disable();
  // GCMD: one bit per write, from GSTS's persistent bits; then waits for the status bit.
  bool SetCommand(uint32_t bit, bool on);
  bool WaitForStatus(uint32_t bit, bool set);
  VtdError Submit(IrteWords descriptor);
  VtdError CheckQueueFaults(uint32_t descriptor_offset) ABSL_EXCLUSIVE_LOCKS_REQUIRED(queue_lock_);
  void WriteDescriptor(uint32_t offset, IrteWords d) ABSL_EXCLUSIVE_LOCKS_REQUIRED(queue_lock_);
  IrteWords* Slot(uint32_t index) const {
    if (table_.va == nullptr || index >= config_.irt_entries) return nullptr;
    return static_cast<IrteWords*>(table_.va) + index;
  }

  static constexpr uint32_t kQueueBytes = 4096;  // IQA.QS = 0: 256 128-bit descriptors
  static constexpr uint32_t kDescriptorBytes = 16;

  P& platform_;
  MmioRegion& mmio_;
  DmaMemory& memory_;
  const VtdConfig config_;
  bool posting_supported_ = false;
  bool sirtp_flushes_iec_ = false;  // CAP.ESIRTPS
  bool queue_on_ = false;
  bool remapping_on_ = false;
  DmaBuffer table_;
  DmaBuffer queue_;
  DmaBuffer wait_status_;  // the wait descriptor's status dword

  typename P::SpinLock queue_lock_;  // never from a wakeup handler
  uint32_t queue_tail_ ABSL_GUARDED_BY(queue_lock_) = 0;
  uint32_t wait_sequence_ ABSL_GUARDED_BY(queue_lock_) = 0;
};

// ------------------------------------------------------------------------------------------------

inline const char* VtdErrorName(VtdError e) {
  switch (e) {
    case VtdError::kNone:
      return "ok";
    case VtdError::kQueueFull:
      return "invalidation queue full (the unit stopped fetching)";
    case VtdError::kWaitTimeout:
      return "invalidation wait timed out";
    case VtdError::kQueueError:
      return "invalidation queue error (FSTS.IQE: descriptor refused)";
    case VtdError::kDeviceTlbTimeout:
      return "invalidation time-out error (FSTS.ITE: waits aborted)";
    case VtdError::kConcurrentWrite:
      return "IRTE changed concurrently";
    case VtdError::kBadEntry:
      return "no such IRTE (index beyond the table)";
  }
  return "?";
}

template <Platform P>
absl::StatusOr<std::unique_ptr<VtdIommu<P>>> VtdIommu<P>::Create(P& platform, MmioRegion& mmio,
                                                                 DmaMemory& memory,
                                                                 const VtdConfig& config) {
  if (config.irt_entries < 2 || config.irt_entries > 65536 ||
      !std::has_single_bit(config.irt_entries)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "VT-d: irt_entries %u: the table holds a power of two from 2 to 65536 entries",
        config.irt_entries));
  }
  std::unique_ptr<VtdIommu> iommu(new VtdIommu(platform, mmio, memory, config));
  absl::Status s = iommu->Enable();
  if (!s.ok()) return s;  // the destructor turns off whatever was turned on
  return iommu;
}

template <Platform P>
VtdIommu<P>::~VtdIommu() {
  Disable();
}

template <Platform P>
bool VtdIommu<P>::WaitForStatus(uint32_t bit, bool set) {
  for (uint32_t i = 0; i < config_.poll_limit; ++i) {
    if (((mmio_.Read32(vtd_mmio::kGlobalStatus) & bit) != 0) == set) return true;
  }
  return false;
}

template <Platform P>
bool VtdIommu<P>::SetCommand(uint32_t bit, bool on) {
  uint32_t command = mmio_.Read32(vtd_mmio::kGlobalStatus) & VtdGlobalCommand::kPersistentMask;
  command = on ? command | bit : command & ~bit;
  mmio_.Write32(vtd_mmio::kGlobalCommand, command);
  return WaitForStatus(bit, on);
}

template <Platform P>
absl::Status VtdIommu<P>::Enable() {
  const auto cap = VtdCapability::FromRaw(mmio_.Read64(vtd_mmio::kCapability));
  const auto ecap = VtdExtCapability::FromRaw(mmio_.Read64(vtd_mmio::kExtCapability));
  if (!ecap.queued_invalidation() || !ecap.interrupt_remapping()) {
    return absl::FailedPreconditionError(
        "VT-d: ECAP.IR or ECAP.QI is clear: no interrupt remapping through queued invalidation");
  }
  if (config_.x2apic && !ecap.extended_interrupt_mode()) {
    return absl::FailedPreconditionError(
        "VT-d: x2APIC destinations requested but ECAP.EIM is clear (set VtdConfig::x2apic = "
        "false for 8-bit xAPIC destinations)");
  }
  posting_supported_ = cap.posted_interrupts() != 0;
  sirtp_flushes_iec_ = cap.esirtps() != 0;

  // Start from a known state (kexec, a previous owner): remapping off, then the queue.
  const auto gsts = VtdGlobalStatus::FromRaw(mmio_.Read32(vtd_mmio::kGlobalStatus));
  if (gsts.ires() && !SetCommand(VtdGlobalStatus().set_ires(1).raw(), false)) {
    return absl::DeadlineExceededError("VT-d: GSTS.IRES did not clear");
  }
  if (gsts.qies() && !SetCommand(VtdGlobalStatus().set_qies(1).raw(), false)) {
    return absl::DeadlineExceededError("VT-d: GSTS.QIES did not clear");
  }

  auto queue = memory_.Allocate(kQueueBytes, 4096);
  if (!queue.ok()) return queue.status();
  queue_ = *queue;
  auto status = memory_.Allocate(4, 4);
  if (!status.ok()) return status.status();
  wait_status_ = *status;
  auto table = memory_.Allocate(size_t{config_.irt_entries} * sizeof(IrteWords), 4096);
  if (!table.ok()) return table.status();
  table_ = *table;

  // 1. Queued invalidation: tail 0, the queue's address (which resets head and tail), QIE.
  mmio_.Write64(vtd_mmio::kInvQueueTail, 0);
  mmio_.Write64(vtd_mmio::kInvQueueAddress,
                VtdInvQueueAddress().set_base_ppn(queue_.pa >> 12).set_queue_size(0).raw());
  if (!SetCommand(VtdGlobalCommand().set_qie(1).raw(), true)) {
    return absl::DeadlineExceededError("VT-d: GSTS.QIES did not set after GCMD.QIE");
  }
  queue_on_ = true;
  // 2. The table: IRTA, latched by the one-shot SIRTP (IRTPS reports it).
  const uint32_t size_field = static_cast<uint32_t>(std::countr_zero(config_.irt_entries)) - 1;
  mmio_.Write64(vtd_mmio::kIrtAddress, VtdIrtAddress()
                                           .set_base_ppn(table_.pa >> 12)
                                           .set_eime(config_.x2apic)
                                           .set_size(size_field)
                                           .raw());
  if (!SetCommand(VtdGlobalCommand().set_sirtp(1).raw(), true)) {
    return absl::DeadlineExceededError("VT-d: GSTS.IRTPS did not set after GCMD.SIRTP");
  }
  // 3. Entries a previous table left in the IEC, unless SIRTP dropped them (CAP.ESIRTPS).
  if (!sirtp_flushes_iec_) {
    const VtdError e = InvalidateIecGlobal();
    if (e != VtdError::kNone) {
      return absl::UnavailableError(
          absl::StrFormat("VT-d: global IEC invalidation at bring-up: %s", VtdErrorName(e)));
    }
  }
  // 4. Remapping on; the unit drains interrupts in flight before it reports IRES.
  if (!SetCommand(VtdGlobalCommand().set_ire(1).raw(), true)) {
    return absl::DeadlineExceededError("VT-d: GSTS.IRES did not set after GCMD.IRE");
  }
  remapping_on_ = true;
  // 5. Compatibility-format MSIs must not bypass remapping.
  if (VtdGlobalStatus::FromRaw(mmio_.Read32(vtd_mmio::kGlobalStatus)).cfis() &&
      !SetCommand(VtdGlobalCommand().set_cfi(1).raw(), false)) {
    return absl::DeadlineExceededError("VT-d: GSTS.CFIS did not clear");
  }
  return absl::OkStatus();
}

template <Platform P>
void VtdIommu<P>::Disable() {
  if (remapping_on_) {
    if (!sirtp_flushes_iec_ && queue_on_) (void)InvalidateIecGlobal();
    (void)SetCommand(VtdGlobalCommand().set_ire(1).raw(), false);
    remapping_on_ = false;
  }
  if (queue_on_) {
    (void)SetCommand(VtdGlobalCommand().set_qie(1).raw(), false);
    queue_on_ = false;
  }
  for (DmaBuffer* b : {&table_, &queue_, &wait_status_}) {
    if (b->va != nullptr) memory_.Free(*b);
    *b = DmaBuffer{};
  }
}

template <Platform P>
VtdWriteResult VtdIommu<P>::WriteIrte(uint32_t index, IrteWords desired) {
  IrteWords* slot = Slot(index);
  if (slot == nullptr) return {VtdError::kBadEntry};
  IrteWords before = IrteLoad(slot);
  if (before == desired) return {};
  const IrteWords expected = before;
  if (!IrteCompareExchange(slot, before, desired)) return {VtdError::kConcurrentWrite};
  const VtdError e = InvalidateIecIndex(index);
  if (e == VtdError::kNone) return {VtdError::kNone, true};
  IrteWords current = desired;
  IrteCompareExchange(slot, current, expected);
  const bool reflushed = InvalidateIecIndex(index) == VtdError::kNone;
  return {e, false, !reflushed};
}

template <Platform P>
void VtdIommu<P>::WriteDescriptor(uint32_t offset, IrteWords d) {
  auto* words = reinterpret_cast<uint64_t*>(static_cast<uint8_t*>(queue_.va) + offset);
  std::atomic_ref<uint64_t>(words[0]).store(d.lo, std::memory_order_relaxed);
  std::atomic_ref<uint64_t>(words[1]).store(d.hi, std::memory_order_release);
}

// IQE: the unit stopped at the descriptor at IQH and fetches nothing until IQE is cleared; it is
// replaced by a harmless wait (without a store) so the queue moves on. ITE: the unit aborted the
// waits; clearing ITE lets it fetch again. ICE concerns device-TLB invalidations only: cleared.
template <Platform P>
VtdError VtdIommu<P>::CheckQueueFaults(uint32_t descriptor_offset) {
  const auto fsts = VtdFaultStatus::FromRaw(mmio_.Read32(vtd_mmio::kFaultStatus));
  if ((fsts.raw() & VtdFaultStatus::kQueueErrorMask) == 0) return VtdError::kNone;
  VtdError e = VtdError::kNone;
  if (fsts.iqe()) {
    const uint32_t head =
        VtdInvQueuePointer::FromRaw(mmio_.Read64(vtd_mmio::kInvQueueHead)).byte_offset();
    if (head == descriptor_offset) {
      const auto nop = VtdInvalidationWait().set_type(kVtdDescriptorWait);
      WriteDescriptor(head, {nop.lo(), nop.hi()});
    }
    e = VtdError::kQueueError;
  } else if (fsts.ite()) {
    e = VtdError::kDeviceTlbTimeout;
  }
  mmio_.Write32(vtd_mmio::kFaultStatus, fsts.raw() & VtdFaultStatus::kQueueErrorMask);
  return e;
}

template <Platform P>
VtdError VtdIommu<P>::Submit(IrteWords descriptor) {
  if (!queue_on_) return VtdError::kQueueFull;
  const IrqFlags flags = platform_.LockIrqSave(queue_lock_);
  VtdError e = VtdError::kNone;
  // Room for the descriptor and its wait, with one slot always left free (head == tail means
  // empty, so the ring never fills completely).
  for (uint32_t i = 0;; ++i) {
    const uint32_t head =
        VtdInvQueuePointer::FromRaw(mmio_.Read64(vtd_mmio::kInvQueueHead)).byte_offset();
    const uint32_t used = (queue_tail_ + kQueueBytes - head) % kQueueBytes;
    if (kQueueBytes - used - kDescriptorBytes >= 2 * kDescriptorBytes) break;
    if (i >= config_.poll_limit) {
      e = VtdError::kQueueFull;
      break;
    }
  }
  if (e == VtdError::kNone) {
    const uint32_t sequence = ++wait_sequence_;
    std::atomic_ref<uint32_t> status(*static_cast<uint32_t*>(wait_status_.va));
    const uint32_t descriptor_offset = queue_tail_;
    WriteDescriptor(descriptor_offset, descriptor);
    const auto wait = VtdInvalidationWait::StoreOnCompletion(wait_status_.pa, sequence);
    WriteDescriptor((descriptor_offset + kDescriptorBytes) % kQueueBytes, {wait.lo(), wait.hi()});
    queue_tail_ = (descriptor_offset + 2 * kDescriptorBytes) % kQueueBytes;
    mmio_.Write64(vtd_mmio::kInvQueueTail, VtdInvQueuePointer::FromByteOffset(queue_tail_).raw());
    e = VtdError::kWaitTimeout;
    for (uint32_t i = 0; i < config_.poll_limit; ++i) {
      // Waits complete in order and each has its own sequence value, so equality also survives
      // a late store from an earlier, timed-out wait.
      if (status.load(std::memory_order_acquire) == sequence) {
        e = VtdError::kNone;
        break;
      }
      const VtdError fault = CheckQueueFaults(descriptor_offset);
      if (fault != VtdError::kNone) {
        e = fault;
        break;
      }
    }
  }
  platform_.UnlockIrqRestore(queue_lock_, flags);
  return e;
}

}  // namespace hw::intel

#endif  // IRQVIRT_HW_INTEL_VTD_IOMMU_H_
