// SPDX-License-Identifier: MIT
// A fake Intel VT-d remapping unit that plays the hardware below hw::intel::VtdIommu: it decodes
// the registers the driver writes (GCMD one bit at a time, SIRTP latching IRTA, QIE, IRE, CFI),
// fetches invalidation descriptors from the queue in memory, keeps an interrupt entry cache, and
// delivers device interrupts by reading the IRTE as the VT-d specification (rev. 5.10) describes:
//   - remapped (IM = 0): `vector` to `destination` (x2APIC with IRTA.EIME, else DST[15:8]);
//   - posted (IM = 1, CAP.PI): §5.2.3 — set PIR[VV] in the posted-interrupt descriptor at
//     PDAH:PDAL; if ON was 0 and (URG or SN = 0), set ON and send NV to NDST. The descriptor's
//     contents are read fresh on every interrupt (locked read-modify-write); the IRTE is not:
//     the whole entry is cached on first use until an IEC invalidation drops it (§6.4), so a
//     driver that forgets a flush sees stale behaviour.
// Interrupts are remapped only while GSTS.IRES is set; source-id validation (SVT/SQ/SID) is
// checked. Queue processing follows §6.5.2: descriptors in order while QIES is set and neither
// IQE nor ITE is; a wait with SW stores its data, with IF sets ICS.IWC; an unknown type or
// reserved bits set stops the queue with IQE (IQH stays on it) until software clears it.
//
// Protocol checks (what hardware would make undefined, recorded in violations()): a GCMD write
// that changes more than one bit, IRE before a table was latched, a 64-bit access to a 32-bit
// register, IQA written while the queue runs.
// Fault injection: wait stores that never happen, a descriptor refused (IQE), an invalidation
// time-out (ITE, pending waits aborted).
// Thread-safe: one mutex; outgoing interrupts are sent after it is released.
#ifndef IRQVIRT_HW_FAKE_FAKE_VTD_IOMMU_H_
#define IRQVIRT_HW_FAKE_FAKE_VTD_IOMMU_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "hw/fake/deferred_interrupts.h"
#include "hw/fake/fake_mutex.h"
#include "hw/fake/fake_physical_memory.h"
#include "hw/fake/interrupt_sink.h"
#include "hw/irte_atomic.h"
#include "hw/mmio_region.h"

namespace hw::fake {

struct FakeVtdFeatures {
  bool posted_interrupts = true;    // CAP.PI
  bool esirtps = false;             // CAP.ESIRTPS: SIRTP also drops the IEC
  bool eim = true;                  // ECAP.EIM
  bool interrupt_remapping = true;  // ECAP.IR (and QI)
  bool cfi_left_on = false;         // firmware left compatibility-format interrupts enabled
};

enum class VtdDeliveryKind : uint8_t {
  kFault,           // blocked: remapping off, no/invalid IRTE, source mismatch, bad descriptor
  kRemapped,        // host vector sent to the destination
  kPostedNotified,  // PIR set, ON 0 -> 1, NV sent to NDST
  kPostedQuiet,     // PIR set, no notification (ON already set, or SN without URG)
};

struct VtdDelivery {
  VtdDeliveryKind kind = VtdDeliveryKind::kFault;
  uint32_t apic_id = 0;  // where a vector went
  uint8_t vector = 0;    // remapped: the host vector; posted: the guest's vector set in PIR
  uint8_t notification_vector = 0;  // kPostedNotified: the descriptor's NV, sent to apic_id
  uint64_t pi_desc_pa = 0;
  std::string fault;
};

class FakeVtdIommu : public MmioRegion {
 public:
  FakeVtdIommu(FakePhysicalMemory& memory, InterruptSink& sink, FakeVtdFeatures features = {});

  uint64_t Read64(uint32_t offset) override;
  void Write64(uint32_t offset, uint64_t value) override;
  uint32_t Read32(uint32_t offset) override;
  void Write32(uint32_t offset, uint32_t value) override;

  // A device with requester ID `source_id` sends the remappable MSI that selects IRTE `index`.
  VtdDelivery DeviceInterrupt(uint32_t index, uint16_t source_id);

  // --- fault injection ---
  // The `count` wait stores after the next `after` ones never happen.
  void DropWaitStores(uint32_t count, uint32_t after = 0);
  // The descriptor fetched after the next `skip` is refused with IQE (as if it were malformed).
  void RefuseNextDescriptor(uint32_t skip = 0);
  // The next wait descriptor is aborted by an invalidation time-out (ITE).
  void TimeOutNextWait();
  // Right after the next IEC invalidation, the unit fetches IRTE `index` again (a device
  // interrupt during the driver's wait), caching what memory holds then.
  void RefetchAfterNextInvalidation(uint32_t index);
  // Disarms every injection above that has not happened yet.
  void ClearFaultInjection();

  // Devices keep firing while the driver waits for the unit. From now on every IRTE in `indices`
  // sends one interrupt from `source_id` just before each IEC invalidation runs (the cache still
  // holds what it held, so a stale entry may post) and one at each invalidation wait (after the
  // invalidations before it: the entry is fetched from memory as it is then, and cached). An
  // empty list stops it. The deliveries are recorded for TakeCommandWaitDeliveries(); their
  // interrupts are sent when the register write that ran the queue returns, as the CPUs they
  // target see them after the fact.
  void FireDuringCommandWaits(uint16_t source_id, std::vector<uint32_t> indices);
  struct IndexedDelivery {
    uint32_t index = 0;
    VtdDelivery delivery;
  };
  std::vector<IndexedDelivery> TakeCommandWaitDeliveries();

  // --- observations ---
  // Every GCMD value written, in order.
  std::vector<uint32_t> command_writes() const;
  uint32_t global_status() const;
  uint32_t fault_status() const;
  uint64_t latched_irta() const;
  uint64_t iec_invalidations(bool global) const;
  size_t cached_entries() const;
  std::vector<std::string> violations() const;

 private:
  struct Outgoing {
    bool send = false;
    uint32_t apic_id = 0;
    uint8_t vector = 0;
  };

  void Write64Locked(uint32_t offset, uint64_t value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Write32Locked(uint32_t offset, uint32_t value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Runs `locked_part` under the lock, then sends what deliveries during waits deferred.
  template <typename F>
  void RunThenSendDeferred(F locked_part);
  void FireDuringWait() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WriteCommand(uint32_t value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ProcessQueue() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Executes one descriptor; false when the queue must stop at it (IQE or ITE set).
  bool Execute(uint64_t lo, uint64_t hi) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool FetchIrte(uint32_t index, IrteWords& out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  VtdDelivery Deliver(uint32_t index, uint16_t source_id, Outgoing& out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint32_t DecodeDestination(uint32_t field) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Violation(std::string what) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  FakePhysicalMemory& memory_;
  InterruptSink& sink_;
  const FakeVtdFeatures features_;

  mutable FakeMutex mu_;  // see fake_mutex.h
  uint32_t gsts_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t fsts_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t ics_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t iqh_ ABSL_GUARDED_BY(mu_) = 0;  // byte offsets
  uint64_t iqt_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t iqa_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t iqercd_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t irta_register_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t irta_latched_ ABSL_GUARDED_BY(mu_) = 0;
  bool table_latched_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<uint32_t, IrteWords> iec_ ABSL_GUARDED_BY(mu_);
  std::vector<uint32_t> command_writes_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> violations_ ABSL_GUARDED_BY(mu_);
  uint64_t iec_index_invalidations_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t iec_global_invalidations_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t wait_stores_to_drop_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t wait_stores_before_drop_ ABSL_GUARDED_BY(mu_) = 0;
  bool refuse_armed_ ABSL_GUARDED_BY(mu_) = false;
  uint32_t refuse_skip_ ABSL_GUARDED_BY(mu_) = 0;
  bool time_out_next_wait_ ABSL_GUARDED_BY(mu_) = false;
  bool refetch_armed_ ABSL_GUARDED_BY(mu_) = false;
  uint32_t refetch_index_ ABSL_GUARDED_BY(mu_) = 0;
  uint16_t wait_fire_source_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<uint32_t> wait_fire_indices_ ABSL_GUARDED_BY(mu_);
  std::vector<IndexedDelivery> wait_deliveries_ ABSL_GUARDED_BY(mu_);
  // Interrupts of deliveries made during waits, sent once the lock is released; more than it
  // holds is recorded as a violation rather than an interrupt silently lost.
  DeferredInterrupts<Outgoing> deferred_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hw::fake

#endif  // IRQVIRT_HW_FAKE_FAKE_VTD_IOMMU_H_
