// SPDX-License-Identifier: MIT
// A fake AMD IOMMU that plays the hardware below hw::amd::Iommu: it decodes the MMIO registers the
// driver writes, consumes the command buffer from memory, keeps an IRTE cache, and delivers device
// interrupts by reading the device table and the IRTE exactly as AMD IOMMU spec 48882 §2.2.5
// describes:
//   - remapped (GuestMode = 0): `vector` to `destination`;
//   - guest mode, IsRun = 1: set the vector in the IRR of the vAPIC backing page at
//     ga_root_ptr << 12 and ring the doorbell of `destination`;
//   - guest mode, IsRun = 0: set the IRR bit, then
//       GAPPIEn and GAPPIDis clear (or unsupported): send vector GATag[7:0] to `destination`,
//         only if no IRR bit was set before (the GAPPI RFC v3's description; no released
//         IOMMU specification describes GAPPI yet);
//       otherwise, with GALogIntr: append a GA log entry and raise the GA log interrupt
//         (IntCapXT) — a full log sets GALOverflow, stops the log (GALogRun = 0) and drops the
//         entry, as hardware does.
//
// IRTE cache: an entry is cached on first use. Destination, IsRun, GATag and GALogIntr are read
// fresh from memory on every interrupt (see hw/amd/iommu.h for the sources); every other field,
// GAPPIDis included, comes from the cache until INVALIDATE_INTERRUPT_TABLE drops it. So a driver
// that forgets an invalidation sees stale behaviour. With Control.IRTCacheDis nothing is cached.
// DTEs are cached the same way, until INVALIDATE_DEVTAB_ENTRY.
//
// Table size: a DTE's IntTabLen may say up to 512 entries (9), or 2048 (11) only while
// Control.NumIntRemapMode is 2K; anything else is a fault, not a bigger table.
//
// Fault injection: a stalled command processor (head frozen: the driver times out), COMPLETION_
// WAIT stores that never happen, Control bits that do not stick.
// Thread-safe: one mutex; outgoing interrupts are sent after it is released.
#ifndef IRQVIRT_HW_FAKE_FAKE_AMD_IOMMU_H_
#define IRQVIRT_HW_FAKE_FAKE_AMD_IOMMU_H_

#include <cstdint>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "hw/amd/device_table_entry.h"
#include "hw/amd/mmio.h"
#include "hw/fake/deferred_interrupts.h"
#include "hw/fake/fake_mutex.h"
#include "hw/fake/fake_physical_memory.h"
#include "hw/fake/interrupt_sink.h"
#include "hw/irte_atomic.h"
#include "hw/mmio_region.h"

namespace hw::fake {

struct FakeAmdIommuFeatures {
  bool xt_sup = true;
  bool ga_sup = true;
  uint64_t gam_sup = 1;        // 1 = vAPIC guest mode
  bool gappi_sup = true;       // EFR.GAPPISup (RFC)
  bool gappi_dis_sup = true;   // EFR2.GAPPIDisSup (RFC)
  bool irt_cache_dis = false;  // Control.IRTCacheDis as firmware left it
  bool int_remap_2k = false;   // EFR2.NumIntRemapSup = 1: Control.NumIntRemapMode 2K sticks
};

enum class DeliveryKind : uint8_t {
  kFault,             // no valid DTE / IRTE / backing page; nothing delivered
  kRemapped,          // host vector sent to the destination
  kDoorbell,          // IRR set, doorbell rung (vCPU running)
  kGappi,             // IRR set, GAPPI vector sent to the destination
  kIrrOnly,           // IRR set, no notification (GAPPIDis, IRR already pending, or no GALogIntr)
  kGaLog,             // IRR set, GA log entry appended
  kGaLogDropped,      // IRR set, log full / stopped / off: entry dropped
};

struct Delivery {
  DeliveryKind kind = DeliveryKind::kFault;
  uint32_t apic_id = 0;  // where a vector or doorbell went
  uint8_t vector = 0;    // host vector or GAPPI vector sent; guest vector for IRR deliveries
  uint64_t vapic_page_pa = 0;
  std::string fault;
};

class FakeAmdIommu : public MmioRegion {
 public:
  FakeAmdIommu(FakePhysicalMemory& memory, InterruptSink& sink, FakeAmdIommuFeatures features = {});

  uint64_t Read64(uint32_t offset) override;
  void Write64(uint32_t offset, uint64_t value) override;
  // The AMD driver makes only qword accesses; a dword one reads or merges into its qword.
  uint32_t Read32(uint32_t offset) override;
  void Write32(uint32_t offset, uint32_t value) override;

  // A device with requester ID `device_id` sends the MSI that selects IRTE `index`.
  Delivery DeviceInterrupt(uint16_t device_id, uint32_t index);

  // Tests: runs inside the next deliveries to a guest-mode IRTE, after the entry was fetched
  // and before the IRR is written (a CPU acting while the IOMMU delivers). It runs with the
  // fake's lock held: it must not call into the fake.
  void SetMidDeliveryHook(std::function<void()> hook) {
    FakeMutexLock l(mu_);
    mid_delivery_hook_ = std::move(hook);
  }

  // Tests: the next INVALIDATE_INTERRUPT_TABLE of `device_id` (or, with `skip`, the one after
  // `skip` more) is preceded by a device interrupt on IRTE `index` (it arrives in the window
  // between the driver's IRTE write and the invalidation, so it may combine a cached entry with
  // fresh fields). Its result: last_early_delivery().
  void DeliverBeforeNextInvalidation(uint16_t device_id, uint32_t index, uint32_t skip = 0) {
    FakeMutexLock l(mu_);
    deliver_before_ = {true, device_id, index, skip};
  }
  Delivery last_early_delivery() const {
    FakeMutexLock l(mu_);
    return last_early_delivery_;
  }

  // Tests: devices keep firing while the driver waits for the IOMMU. From now on every IRTE in
  // `indices` of `device_id` sends one interrupt just before each INVALIDATE_INTERRUPT_TABLE of
  // that device is executed (the cache still holds what it held: a cached entry combines with
  // fresh fields) and one at each COMPLETION_WAIT (after the invalidations before it: the entry
  // is fetched, and cached, from memory as it is then). An empty list stops it. The deliveries
  // are recorded for TakeCommandWaitDeliveries(); their interrupts are sent when the register
  // write that ran the commands returns, as the CPUs they target see them after the fact.
  void FireDuringCommandWaits(uint16_t device_id, std::vector<uint32_t> indices) {
    FakeMutexLock l(mu_);
    wait_fire_device_ = device_id;
    wait_fire_indices_ = std::move(indices);
  }
  struct IndexedDelivery {
    uint32_t index = 0;
    Delivery delivery;
  };
  std::vector<IndexedDelivery> TakeCommandWaitDeliveries() {
    FakeMutexLock l(mu_);
    return std::exchange(wait_deliveries_, {});
  }

  // --- fault injection ---
  // Right after the next INVALIDATE_INTERRUPT_TABLE of `device_id`, the IOMMU fetches IRTE
  // `index` again (as a device interrupt during the driver's wait would), caching what memory
  // holds at that moment.
  void RefetchAfterNextInvalidation(uint16_t device_id, uint32_t index) {
    FakeMutexLock l(mu_);
    refetch_ = {true, device_id, index};
  }
  void StallCommands(bool stalled);
  // The `count` COMPLETION_WAIT stores that follow the next `after` ones never happen.
  void DropCompletionStores(uint32_t count, uint32_t after = 0);
  void RefuseControlBits(uint64_t mask);
  // Sets Status bits as if the hardware had (e.g. a GALOverflow the driver must cope with).
  void RaiseStatusBits(uint32_t mask);

  // --- observations ---
  uint64_t control() const { FakeMutexLock l(mu_); return Reg(amd::mmio::kControl); }
  uint32_t status() const { FakeMutexLock l(mu_); return status_; }
  uint64_t commands_executed() const { FakeMutexLock l(mu_); return commands_executed_; }
  uint64_t irt_invalidations() const { FakeMutexLock l(mu_); return irt_invalidations_; }
  uint64_t ga_log_entries_written() const { FakeMutexLock l(mu_); return ga_log_written_; }
  uint64_t ga_log_entries_dropped() const { FakeMutexLock l(mu_); return ga_log_dropped_; }
  uint64_t ga_log_interrupts() const { FakeMutexLock l(mu_); return ga_log_interrupts_; }
  uint64_t gappi_interrupts() const { FakeMutexLock l(mu_); return gappi_interrupts_; }
  size_t cached_irtes() const { FakeMutexLock l(mu_); return irte_cache_.size(); }
  uint64_t dte_invalidations() const { FakeMutexLock l(mu_); return dte_invalidations_; }

 private:
  struct Outgoing {
    enum Kind : uint8_t { kNone, kInterrupt, kDoorbell } kind = kNone;
    uint32_t apic_id = 0;
    uint8_t vector = 0;
  };

  void WriteControl(uint64_t value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ProcessCommands() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ExecuteCommand(uint64_t lo, uint64_t hi) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  DeliveryKind AppendGaLog(uint32_t ga_tag, uint16_t device_id, Outgoing& out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Outgoing GaLogInterrupt() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint64_t Reg(uint32_t offset) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Send(const Outgoing& out);

  FakePhysicalMemory& memory_;
  InterruptSink& sink_;
  const FakeAmdIommuFeatures features_;

  mutable FakeMutex mu_;  // see fake_mutex.h
  absl::flat_hash_map<uint32_t, uint64_t> regs_ ABSL_GUARDED_BY(mu_);
  uint32_t status_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<uint32_t, amd::IrteWords> irte_cache_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint16_t, uint64_t> dte_cache_ ABSL_GUARDED_BY(mu_);  // interrupt qword
  uint64_t dte_invalidations_ ABSL_GUARDED_BY(mu_) = 0;
  std::function<void()> mid_delivery_hook_ ABSL_GUARDED_BY(mu_);
  struct Refetch {
    bool armed = false;
    uint16_t device_id = 0;
    uint32_t index = 0;
    uint32_t skip = 0;  // matching invalidations to let pass first
  };
  Refetch refetch_ ABSL_GUARDED_BY(mu_);
  Refetch deliver_before_ ABSL_GUARDED_BY(mu_);
  Delivery last_early_delivery_ ABSL_GUARDED_BY(mu_);
  // Interrupts raised while commands ran, sent by RunThenSendDeferred after unlocking.
  DeferredInterrupts<Outgoing> deferred_ ABSL_GUARDED_BY(mu_);
  void Defer(const Outgoing& out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Runs `locked_part` under the lock, then sends what it deferred.
  template <typename F>
  void RunThenSendDeferred(F locked_part);
  void FireDuringWait(uint16_t device_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint16_t wait_fire_device_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<uint32_t> wait_fire_indices_ ABSL_GUARDED_BY(mu_);
  std::vector<IndexedDelivery> wait_deliveries_ ABSL_GUARDED_BY(mu_);
  void Write64Locked(uint32_t offset, uint64_t value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Delivery DeliverLocked(uint16_t device_id, uint32_t index, Outgoing& out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // How many IRTEs `dte`'s table has as the IOMMU sees it (0: IntTabLen invalid in this mode).
  uint32_t TableEntries(amd::DteInterrupt dte) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The IRTE slot in guest memory through the DTE as it is now (nullptr: none).
  amd::IrteWords* IrteSlot(uint16_t device_id, uint32_t index) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool commands_stalled_ ABSL_GUARDED_BY(mu_) = false;
  uint32_t completion_stores_to_drop_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t completion_stores_before_drop_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t refused_control_bits_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t commands_executed_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t irt_invalidations_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t ga_log_written_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t ga_log_dropped_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t ga_log_interrupts_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t gappi_interrupts_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace hw::fake

#endif  // IRQVIRT_HW_FAKE_FAKE_AMD_IOMMU_H_
