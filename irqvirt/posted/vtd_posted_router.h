// SPDX-License-Identifier: MIT
// Posted-interrupt routing through Intel VT-d posted IRTEs and posted-interrupt descriptors.
//
// Bind writes a posted IRTE (IM = 1) naming the vCPU's PI descriptor and the guest vector; from
// then on the IRTE stays as it is while the vCPU runs, stops, blocks, wakes and migrates: the
// descriptor's control word (NDST, NV, SN; the IOMMU sets ON) carries all of that, and it is not
// cached by the IOMMU, so no transition issues an invalidation (reference §7e, §7h; contrast the
// AMD router, which rewrites IRTEs on every load and put). The transitions follow KVM's VMX
// lifecycle mapped onto the VT-d spec's model (../shared/reference x86-posted-interrupts.md §4c,
// §7e):
//   load (run on c):  leave the wakeup queue, then one CAS: NDST = c, NV = posted vector, SN = 0;
//                     then (after a full fence) if PIR is not empty, set ON, so that interrupts
//                     posted while SN was set reach the embedder's PIR-to-vIRR sync (keyed off ON).
//   put (preempted):  SN = 1 ("ready-to-run"): PIR is still set, no notification is sent.
//                     A vCPU put while blocking stays parked and notifiable (as KVM).
//   block (on c):     park on c's queue for the vCPU's bucket and, under that queue's lock,
//                     NV = the bucket's wakeup vector, NDST = c; then re-check ON: an interrupt
//                     posted before NV switched notified the posted vector, which nobody waits on.
//                     Either back out (kPendingDontSleep) or, with the queues'
//                     self_ipi_when_pending_at_block, also self-IPI the wakeup vector (KVM).
//   wake:             the queues' handler wakes parked vCPUs whose descriptor has ON (or SN and
//                     PIR) set; the vCPU then calls Load (Unblock), which unparks it.
//   CPU offline:      the queues move parked vCPUs to an online CPU; under the queue locks their
//                     NDST follows (one CAS each), then those with an interrupt pending are woken.
// Rebinding moves an IRTE between vCPUs with one 16-byte IRTE write and an IEC flush, under both
// vCPUs' locks (irte_ownership.h): there is no moment at which the IRTE names two descriptors,
// and once the flush completes the IOMMU posts only into the new one. A failed flush (time-out,
// queue error) rolls the IRTE back (the driver) and leaves the lists as they were (the ownership).
//
// Locks and order (outermost first):
//   ownership   IrteOwnership's absl::Mutex, task context only (never the wakeup handler):
//               Bind/Remap/AddVcpu/RemoveVcpu.
//   queue locks the wakeup queues' P::SpinLocks; the wakeup handler takes them (LockIrqsOff),
//               everything here with LockIrqSave. Under them the router only CASes a descriptor.
//   Vcpu::lock  P::SpinLock, LockIrqSave, task context only; never taken by the wakeup handler:
//               the vCPU's run state and IRTE list. Never held while taking a queue lock (Load
//               unparks before taking it; Block drops it before parking).
//   driver      VtdIommu's queue lock, inside Bind/Remap's IRTE write (under the vCPU locks);
//               never taken by the wakeup handler either.
// The descriptor's control word has no lock: the IOMMU sets ON at any moment, so every change is
// a compare-and-swap of the whole 64-bit word that keeps ON as it finds it.
//
// Hot paths (Load, Put, Block; the queues' handler) allocate nothing, throw nothing and take only
// spinlocks.
#ifndef IRQVIRT_IRQVIRT_POSTED_VTD_POSTED_ROUTER_H_
#define IRQVIRT_IRQVIRT_POSTED_VTD_POSTED_ROUTER_H_

#include <atomic>
#include <cstdint>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "hw/intel/irte.h"
#include "hw/intel/pi_desc.h"
#include "hw/intel/vtd_iommu.h"
#include "hw/platform.h"
#include "irqvirt/posted/irte_ownership.h"
#include "irqvirt/posted/route_error.h"
#include "irqvirt/wakeup/pending.h"
#include "irqvirt/wakeup/wakeup_queues.h"

namespace irqvirt::posted {

struct VtdRouterConfig {
  uint32_t max_vcpus = 0;
  // NV while the vCPU runs or is preempted (the spec's "active notification vector"; Linux's
  // POSTED_INTR_VECTOR, reference §4b). The embedder's VMCS posted-interrupt notification vector
  // must be the same, so that a notification arriving in the guest is processed by the CPU.
  uint8_t posted_vector = 0xf2;
};

struct VtdVcpuConfig {
  hw::intel::PiDesc* pi_desc = nullptr;  // the vCPU's descriptor, CPU view
  uint64_t pi_desc_pa = 0;               // its physical address (64-byte aligned): what IRTEs carry
  // NDST before the vCPU first runs, so the descriptor never names an uninitialised CPU.
  int home_cpu = 0;
};

// What the unit may go on using when the re-flush after a rollback failed (RollbackNote).
inline constexpr char kVtdStillUsed[] = "the unit may still use the new entry";

template <hw::Platform P>
class VtdPostedRouter {
 public:
  using Iommu = hw::intel::VtdIommu<P>;
  using Queues = wakeup::WakeupQueues<P, wakeup::PiDescPending>;

  // The unit must support posting (CAP.PI). Blocked vCPUs are always woken through `queues`.
  static absl::StatusOr<std::unique_ptr<VtdPostedRouter>> Create(P& platform, Iommu& iommu,
                                                                 Queues& queues,
                                                                 const VtdRouterConfig& config);

  VtdPostedRouter(const VtdPostedRouter&) = delete;
  VtdPostedRouter& operator=(const VtdPostedRouter&) = delete;

  // --- cold ---
  // Initialises the descriptor's control word (NV = posted vector, NDST = home CPU, SN = 1: no
  // notification until the first Load) and its reserved bytes; PIR is left as it is.
  absl::Status AddVcpu(VcpuId vcpu, const VtdVcpuConfig& config);
  // The vCPU must own no IRTE (Remap them first). After this, no wakeup vector can wake it.
  absl::Status RemoveVcpu(VcpuId vcpu);
  // `irte.device_id` is the requester ID (checked by the IRTE's source validation), `irte.index`
  // the entry in the unit's one table. Posts its interrupts to `vcpu` as `guest_vector`; moves it
  // if bound elsewhere.
  absl::Status Bind(IrteRef irte, VcpuId vcpu, uint8_t guest_vector);
  // Remapped format: `host_vector` to `host_apic_id`; unbinds if bound.
  absl::Status Remap(IrteRef irte, uint8_t host_vector, uint32_t host_apic_id);
  // Before `cpu` stops taking interrupts: parked vCPUs move to another CPU with their NDST.
  absl::StatusOr<uint32_t> OfflineCpu(int cpu);
  absl::Status OnlineCpu(int cpu) { return queues_.OnlineCpu(cpu); }

  // --- hot: called by the vCPU's own thread ---
  RouteError Load(VcpuId vcpu, int cpu);
  RouteError Put(VcpuId vcpu);
  BlockOutcome Block(VcpuId vcpu, int cpu);
  RouteError Unblock(VcpuId vcpu, int cpu) { return Load(vcpu, cpu); }

  // --- introspection (cold) ---
  uint8_t posted_vector() const { return posted_vector_; }
  int64_t OwnerOf(IrteRef irte) { return ownership_.OwnerOf(irte); }
  uint32_t OwnedCount(VcpuId vcpu) { return Added(vcpu) ? ownership_.OwnedCount(vcpus_[vcpu]) : 0; }
  // Every binding is on exactly its owner's list; every owned IRTE in memory is posted into its
  // owner's descriptor with its vector; every descriptor's NV/SN/NDST match its vCPU's state.
  absl::Status CheckInvariants();

  // The only IRTE key: the unit has one table, indexed by the handle.
  static uint64_t TableIndexKey(IrteRef irte) { return irte.index; }

 private:
  enum class RunState : uint8_t { kIdle, kRunning, kBlocked };

  struct Vcpu {
    typename P::SpinLock lock;
    std::atomic<bool> added{false};
    VtdVcpuConfig config;  // written by AddVcpu before `added` (release); immutable while added
    IrteList irtes ABSL_GUARDED_BY(lock);
    RunState state ABSL_GUARDED_BY(lock) = RunState::kIdle;
  };

  VtdPostedRouter(P& platform, Iommu& iommu, Queues& queues, const VtdRouterConfig& config)
      : platform_(platform),
        iommu_(iommu),
        queues_(queues),
        max_vcpus_(config.max_vcpus),
        posted_vector_(config.posted_vector),
        vcpus_(new Vcpu[config.max_vcpus]),
        ownership_(platform, vcpus_.get(), &TableIndexKey) {}

  bool Added(VcpuId vcpu) const {
    return vcpu < max_vcpus_ && vcpus_[vcpu].added.load(std::memory_order_acquire);
  }
  uint32_t Ndst(int cpu) const { return iommu_.DestinationField(platform_.apic_id(cpu)); }
  hw::IrteWords PostedEntry(IrteRef irte, uint64_t pi_desc_pa, uint8_t guest_vector) const;

  // One CAS loop on the control word: `change` maps the current value (ON as the IOMMU left it)
  // to the new one; retried when the IOMMU set ON in between.
  template <typename Change>
  static void UpdateControl(hw::intel::PiDesc& desc, Change&& change) {
    hw::intel::PiControl seen = desc.LoadControl();
    while (!desc.CompareExchangeControl(seen, change(seen))) {
    }
  }
  // After SN went 0: interrupts posted while it was 1 set PIR but not ON. The fence orders the
  // SN store before the PIR load (the IOMMU writes PIR, then reads SN: §5.2.3), so each such
  // interrupt is either seen here or notifies normally.
  static void PublishPirPostedWhileSuppressed(hw::intel::PiDesc& desc) {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (desc.PirEmpty()) return;
    UpdateControl(desc, [](hw::intel::PiControl c) { return c.set_on(1); });
  }
  // Under a wakeup-queue lock (PrepareToBlock, OfflineCpu): the vCPU is parked on `cpu` and its
  // notifications must reach that queue's handler.
  void PointAtWakeupQueue(VcpuId vcpu, int cpu, uint8_t wakeup_vector) {
    const uint32_t ndst = Ndst(cpu);
    UpdateControl(*vcpus_[vcpu].config.pi_desc, [&](hw::intel::PiControl c) {
      return c.set_ndst(ndst).set_nv(wakeup_vector).set_sn(0);
    });
  }
  // The descriptor state `v` must be in; empty when it matches.
  absl::Status CheckDescriptor(VcpuId id, const Vcpu& v) ABSL_EXCLUSIVE_LOCKS_REQUIRED(v.lock);

  P& platform_;
  Iommu& iommu_;
  Queues& queues_;
  const uint32_t max_vcpus_;
  const uint8_t posted_vector_;
  std::unique_ptr<Vcpu[]> vcpus_;
  IrteOwnership<P, Vcpu> ownership_;
};

// ------------------------------------------------------------------------------------------------

template <hw::Platform P>
absl::StatusOr<std::unique_ptr<VtdPostedRouter<P>>> VtdPostedRouter<P>::Create(
    P& platform, Iommu& iommu, Queues& queues, const VtdRouterConfig& config) {
  if (config.max_vcpus == 0 || config.max_vcpus > (1u << 20)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("VT-d posted router: max_vcpus %u outside 1..1048576", config.max_vcpus));
  }
  if (!iommu.posting_supported()) {
    return absl::FailedPreconditionError(
        "VT-d posted router: CAP.PI is clear, the remapping unit cannot post interrupts");
  }
  const int first_wakeup = queues.first_vector();
  if (config.posted_vector < 0x20 ||
      (config.posted_vector >= first_wakeup &&
       config.posted_vector < first_wakeup + queues.vectors_per_cpu())) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "VT-d posted router: posted vector %#x must be >= 0x20 and not a wakeup vector "
        "(%#x..%#x)",
        config.posted_vector, first_wakeup, first_wakeup + queues.vectors_per_cpu() - 1));
  }
  return std::unique_ptr<VtdPostedRouter>(new VtdPostedRouter(platform, iommu, queues, config));
}

template <hw::Platform P>
absl::Status VtdPostedRouter<P>::AddVcpu(VcpuId vcpu, const VtdVcpuConfig& config) {
  if (vcpu >= max_vcpus_) {
    return absl::InvalidArgumentError(
        absl::StrFormat("vCPU %u: id outside 0..%u", vcpu, max_vcpus_ - 1));
  }
  if (config.pi_desc == nullptr || (config.pi_desc_pa & 63) != 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("vCPU %u: the PI descriptor must be given and 64-byte aligned (PA %#x)",
                        vcpu, config.pi_desc_pa));
  }
  if (config.home_cpu < 0 || config.home_cpu >= platform_.num_cpus()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("vCPU %u: unknown home CPU %d", vcpu, config.home_cpu));
  }
  absl::MutexLock l(&ownership_.mutex());
  Vcpu& v = vcpus_[vcpu];
  if (v.added.load(std::memory_order_relaxed)) {
    return absl::AlreadyExistsError(absl::StrFormat("vCPU %u: already added", vcpu));
  }
  // No IRTE names the descriptor yet, so plain stores are enough; reserved bits must be zero.
  hw::intel::PiDesc& desc = *config.pi_desc;
  for (uint32_t& word : desc.reserved) std::atomic_ref<uint32_t>(word).store(0);
  std::atomic_ref<uint64_t>(desc.control)
      .store(hw::intel::PiControl()
                 .set_nv(posted_vector_)
                 .set_sn(1)
                 .set_ndst(Ndst(config.home_cpu))
                 .raw(),
             std::memory_order_release);
  if (absl::Status s = queues_.AddVcpu(vcpu, config.pi_desc); !s.ok()) return s;
  v.config = config;
  {
    const hw::IrqFlags flags = platform_.LockIrqSave(v.lock);
    v.state = RunState::kIdle;
    v.irtes = IrteList();
    platform_.UnlockIrqRestore(v.lock, flags);
  }
  v.added.store(true, std::memory_order_release);
  return absl::OkStatus();
}

template <hw::Platform P>
absl::Status VtdPostedRouter<P>::RemoveVcpu(VcpuId vcpu) {
  absl::MutexLock l(&ownership_.mutex());
  if (!Added(vcpu)) return RouteError::Of(RouteErrorCode::kUnknownVcpu, vcpu).ToStatus();
  if (const uint32_t owned = ownership_.OwnedCount(vcpus_[vcpu]); owned != 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "vCPU %u: still owns %u IRTEs; Remap them before removing the vCPU", vcpu, owned));
  }
  // The teardown barrier: afterwards no wakeup vector reaches this vCPU.
  if (absl::Status s = queues_.RemoveVcpu(vcpu); !s.ok()) return s;
  vcpus_[vcpu].added.store(false, std::memory_order_release);
  return absl::OkStatus();
}

// Posted format (§9.10; reference §7a, §7d): URG = 0 as Linux, Xen and ACRN (so SN suppresses
// every notification of a preempted vCPU); source validation by requester ID.
template <hw::Platform P>
hw::IrteWords VtdPostedRouter<P>::PostedEntry(IrteRef irte, uint64_t pi_desc_pa,
                                              uint8_t guest_vector) const {
  hw::intel::VtdIrtePosted e;
  e.set_present(1).set_irte_mode(1).set_urgent(0).set_virtual_vector(guest_vector);
  e.set_pi_desc_address(pi_desc_pa);
  e.set_source_id(irte.device_id)
      .set_source_validation(static_cast<uint64_t>(hw::intel::VtdSourceValidation::kRequesterId));
  return {e.lo(), e.hi()};
}

template <hw::Platform P>
absl::Status VtdPostedRouter<P>::Bind(IrteRef irte, VcpuId vcpu, uint8_t guest_vector) {
  if (absl::Status s = CheckGuestVector(vcpu, irte, guest_vector); !s.ok()) return s;
  if (irte.index >= iommu_.irt_entries()) {
    return absl::NotFoundError(absl::StrFormat("vCPU %u: IRTE %#x:%u does not exist (index >= %u)",
                                               vcpu, irte.device_id, irte.index,
                                               iommu_.irt_entries()));
  }
  absl::MutexLock l(&ownership_.mutex());
  if (!Added(vcpu)) return RouteError::Of(RouteErrorCode::kUnknownVcpu, vcpu).ToStatus();
  if (const IrteBinding* b = ownership_.Find(irte);
      b != nullptr && b->irte.device_id != irte.device_id) {
    return absl::FailedPreconditionError(
        absl::StrFormat("vCPU %u: IRTE %u is bound for requester %#x, not %#x; Remap it first",
                        vcpu, irte.index, b->irte.device_id, irte.device_id));
  }
  // The descriptor carries its own notification, so unlike AMD nothing needs waking after the
  // write window: an interrupt the cached old entry posted notified the old owner's NV/NDST.
  struct Writer {
    VtdPostedRouter& router;
    IrteRef irte;
    uint8_t guest_vector;
    hw::intel::VtdWriteResult Write(Vcpu& to) {
      return router.iommu_.WriteIrte(irte.index,
                                     router.PostedEntry(irte, to.config.pi_desc_pa, guest_vector));
    }
    hw::intel::VtdWriteResult Move(Vcpu& to, Vcpu&) { return Write(to); }
  };
  const auto change = ownership_.Bind(irte, vcpu, guest_vector, Writer{*this, irte, guest_vector});
  if (!change.write.ok()) {
    return BindFailed(vcpu, irte, guest_vector, hw::intel::VtdErrorName(change.write.error),
                      RollbackNote(change.write.cache_may_hold_new, kVtdStillUsed));
  }
  return absl::OkStatus();
}

template <hw::Platform P>
absl::Status VtdPostedRouter<P>::Remap(IrteRef irte, uint8_t host_vector, uint32_t host_apic_id) {
  if (absl::Status s = CheckHostVector(irte, host_vector); !s.ok()) return s;
  if (irte.index >= iommu_.irt_entries()) {
    return absl::NotFoundError(
        absl::StrFormat("IRTE %#x:%u does not exist", irte.device_id, irte.index));
  }
  hw::intel::VtdIrteRemapped e;
  e.set_present(1).set_vector(host_vector).set_destination(iommu_.DestinationField(host_apic_id));
  e.set_delivery_mode(static_cast<uint64_t>(hw::intel::VtdDeliveryMode::kFixed));
  e.set_source_id(irte.device_id)
      .set_source_validation(static_cast<uint64_t>(hw::intel::VtdSourceValidation::kRequesterId));
  absl::MutexLock l(&ownership_.mutex());
  struct Writer {
    VtdPostedRouter& router;
    uint32_t index;
    hw::IrteWords entry;
    hw::intel::VtdWriteResult WriteUnowned() { return router.iommu_.WriteIrte(index, entry); }
    hw::intel::VtdWriteResult WriteOwned(Vcpu&) { return WriteUnowned(); }
  };
  const auto change = ownership_.Unbind(irte, Writer{*this, irte.index, {e.lo(), e.hi()}});
  if (!change.write.ok()) {
    return RemapFailed(change.bound_before, change.previous_owner, irte,
                       hw::intel::VtdErrorName(change.write.error),
                       RollbackNote(change.write.cache_may_hold_new, kVtdStillUsed));
  }
  return absl::OkStatus();
}

template <hw::Platform P>
absl::StatusOr<uint32_t> VtdPostedRouter<P>::OfflineCpu(int cpu) {
  return queues_.OfflineCpu(cpu, [this](wakeup::VcpuId id, int target, uint8_t vector) {
    PointAtWakeupQueue(id, target, vector);
  });
}

template <hw::Platform P>
RouteError VtdPostedRouter<P>::Load(VcpuId vcpu, int cpu) {
  if (RouteError e = CheckVcpuOnCpu(Added(vcpu), vcpu, cpu, platform_.num_cpus()); !e.ok())
    return e;
  Vcpu& v = vcpus_[vcpu];
  hw::intel::PiDesc& desc = *v.config.pi_desc;
  // Off the queue it was parked on (the previous CPU's), before NV leaves the wakeup vector.
  queues_.Unpark(vcpu);
  const uint32_t ndst = Ndst(cpu);
  const hw::IrqFlags flags = platform_.LockIrqSave(v.lock);
  v.state = RunState::kRunning;
  // Migration and unblock in one step: the new CPU, the posted vector, notifications on.
  UpdateControl(desc, [&](hw::intel::PiControl c) {
    return c.set_ndst(ndst).set_nv(posted_vector_).set_sn(0);
  });
  platform_.UnlockIrqRestore(v.lock, flags);
  PublishPirPostedWhileSuppressed(desc);
  return {};
}

template <hw::Platform P>
RouteError VtdPostedRouter<P>::Put(VcpuId vcpu) {
  if (!Added(vcpu)) return RouteError::Of(RouteErrorCode::kUnknownVcpu, vcpu);
  Vcpu& v = vcpus_[vcpu];
  const hw::IrqFlags flags = platform_.LockIrqSave(v.lock);
  // Preempted: it runs again anyway, so a notification would only be a spurious interrupt.
  // Preempted while blocking: it stays parked and notifiable.
  if (v.state != RunState::kBlocked) {
    v.state = RunState::kIdle;
    UpdateControl(*v.config.pi_desc, [](hw::intel::PiControl c) { return c.set_sn(1); });
  }
  platform_.UnlockIrqRestore(v.lock, flags);
  return {};
}

template <hw::Platform P>
BlockOutcome VtdPostedRouter<P>::Block(VcpuId vcpu, int cpu) {
  BlockOutcome out;
  out.error = CheckVcpuOnCpu(Added(vcpu), vcpu, cpu, platform_.num_cpus());
  if (!out.error.ok()) return out;
  Vcpu& v = vcpus_[vcpu];
  hw::intel::PiDesc& desc = *v.config.pi_desc;
  hw::IrqFlags flags = platform_.LockIrqSave(v.lock);
  const RunState previous = v.state;
  v.state = RunState::kBlocked;
  // Blocking straight after a Put: notifications back on first, and what SN hid made visible
  // as ON, so that the re-check after parking (which reads ON) sees it.
  const bool was_suppressed = previous == RunState::kIdle;
  if (was_suppressed) {
    UpdateControl(desc, [](hw::intel::PiControl c) { return c.set_sn(0); });
  }
  platform_.UnlockIrqRestore(v.lock, flags);
  if (was_suppressed) PublishPirPostedWhileSuppressed(desc);
  // Park; under the queue lock NV = the bucket's wakeup vector, NDST = `cpu`; then the queues
  // fence and re-check ON for an interrupt that notified the posted vector before the switch.
  const wakeup::BlockResult r =
      queues_.PrepareToBlock(vcpu, cpu, [this](wakeup::VcpuId id, int target, uint8_t vector) {
        PointAtWakeupQueue(id, target, vector);
      });
  if (r.decision != wakeup::BlockDecision::kNotParked) {
    out.decision = r.decision;
    return out;
  }
  // Not parked, so NV and NDST were not touched: only SN may need restoring.
  flags = platform_.LockIrqSave(v.lock);
  v.state = previous;
  if (was_suppressed) {
    UpdateControl(desc, [](hw::intel::PiControl c) { return c.set_sn(1); });
  }
  platform_.UnlockIrqRestore(v.lock, flags);
  out.error = RouteError::Of(RouteErrorCode::kNotParked, vcpu, cpu);
  out.error.park = r.error;
  return out;
}

template <hw::Platform P>
absl::Status VtdPostedRouter<P>::CheckDescriptor(VcpuId id, const Vcpu& v) {
  const hw::intel::PiControl c = v.config.pi_desc->LoadControl();
  const int parked = queues_.ParkedCpu(id);
  bool ok = false;
  switch (v.state) {
    case RunState::kRunning:
      ok = c.nv() == posted_vector_ && c.sn() == 0 && parked < 0;
      break;
    case RunState::kIdle:
      ok = c.nv() == posted_vector_ && c.sn() == 1 && parked < 0;
      break;
    case RunState::kBlocked:
      // Blocked but not parked: Block backed out (kPendingDontSleep) and Load has not run yet.
      ok = c.sn() == 0 &&
           (parked < 0 || (c.nv() == queues_.WakeupVector(id) && c.ndst() == Ndst(parked)));
      break;
  }
  if (ok) return absl::OkStatus();
  return absl::InternalError(absl::StrFormat(
      "vCPU %u: PI descriptor control %#018x does not match its state %d (parked on CPU %d)", id,
      c.raw(), static_cast<int>(v.state), parked));
}

template <hw::Platform P>
absl::Status VtdPostedRouter<P>::CheckInvariants() {
  struct Checker {
    VtdPostedRouter& router;
    absl::Status Check(VcpuId id, Vcpu& v, const IrteBinding& b) {
      const hw::IrteWords mem = router.iommu_.ReadIrte(b.irte.index);
      if (mem != router.PostedEntry(b.irte, v.config.pi_desc_pa, b.guest_vector)) {
        return absl::InternalError(
            absl::StrFormat("vCPU %u: IRTE %#x:%u does not post into it: %#018x_%016x", id,
                            b.irte.device_id, b.irte.index, mem.hi, mem.lo));
      }
      return absl::OkStatus();
    }
  };
  absl::Status s = ownership_.CheckLists(
      max_vcpus_, [this](VcpuId id) { return Added(id); }, Checker{*this});
  for (VcpuId id = 0; id < max_vcpus_ && s.ok(); ++id) {
    if (!Added(id)) continue;
    Vcpu& v = vcpus_[id];
    const hw::IrqFlags flags = platform_.LockIrqSave(v.lock);
    s = CheckDescriptor(id, v);
    platform_.UnlockIrqRestore(v.lock, flags);
  }
  return s;
}

}  // namespace irqvirt::posted

#endif  // IRQVIRT_IRQVIRT_POSTED_VTD_POSTED_ROUTER_H_
