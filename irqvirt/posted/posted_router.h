// SPDX-License-Identifier: MIT
// Posted-interrupt routing through the AMD IOMMU's guest-mode IRTEs (AVIC).
//
// A device interrupt (one IRTE) is bound to a (vCPU, guest vector). The router owns the IRTE from
// then on and keeps it pointing at the vCPU as the vCPU runs, stops, blocks, wakes and migrates:
//   running on pCPU c:   Destination = APIC ID of c, IsRun = 1 (the IOMMU rings c's doorbell);
//   stopped (not blocking): IsRun = 0, no wakeup notification (it will run again anyway);
//   blocked, GA log mode: IsRun = 0, GALogIntr = 1 (entry + GA log interrupt, GA tag -> vCPU);
//   blocked, GAPPI mode:  IsRun = 0, GAPPIDis = 0, Destination = the pCPU whose wakeup queue the
//                         vCPU is parked on, GATag = that queue's wakeup vector;
//                         GAPPIDis = 1 whenever it is not blocking (if the IOMMU supports it).
// Ownership: an IRTE is on at most one vCPU's list. Rebinding moves it while holding both vCPUs'
// locks, so the 2016 "IRTE on two lists" bug cannot happen whatever the callers do.
// Errors roll back: a failed IRTE write leaves the IRTE, the lists and the wakeup queues as they
// were, and the error names the vCPU and the IRTE.
// GA log overflow: the log loses entries while full. On restart the router scans every vCPU that
// is blocked in GA log mode for a pending IRR and wakes it, so no wakeup is lost.
//
// Locks and order (outermost first):
//   ownership     IrteOwnership's absl::Mutex, task context only: Bind/Remap/AddVcpu/RemoveVcpu,
//                 the binding map (irte_ownership.h).
//   queue locks   the wakeup queues' (GAPPI mode): PrepareToBlock and OfflineCpu call the
//                 router's retarget under them.
//   Vcpu::lock    P::SpinLock, LockIrqSave, task context only (never from a handler): the vCPU's
//                 run state, its IRTE list and every IRTE write for it (KVM's ir_list_lock).
//                 Two are taken together only by a rebind, lower vCPU id first.
//   tag table     P::SpinLock inside GaTagTable; taken by the GA-log handler; holds no other lock.
//                 It maps (VM id, vCPU index) to a vCPU in both modes, which keeps that unique.
// So the router never takes a queue lock while holding a Vcpu::lock: Load unparks before locking.
//
// Hot paths (Load, Put, Block, the GA-log handler) allocate nothing and throw nothing.
#ifndef IRQVIRT_IRQVIRT_POSTED_POSTED_ROUTER_H_
#define IRQVIRT_IRQVIRT_POSTED_POSTED_ROUTER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/attributes.h"
#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "hw/amd/ga_tag.h"
#include "hw/amd/iommu.h"
#include "hw/amd/irte_ga.h"
#include "hw/platform.h"
#include "hw/x86/vapic_page.h"
#include "irqvirt/planted_bug.h"
#include "irqvirt/posted/ga_tag_table.h"
#include "irqvirt/posted/irte_ownership.h"
#include "irqvirt/posted/route_error.h"
#include "irqvirt/wakeup/pending.h"
#include "irqvirt/wakeup/wakeup_queues.h"

namespace irqvirt::posted {

struct RouterConfig {
  uint32_t max_vcpus = 0;
  // After a GA log overflow, wake every blocked GA-log-mode vCPU with a pending IRR. Turning it
  // off reproduces KVM (restart only), which loses the wakeups of dropped entries; it exists for
  // the benchmark's baseline, not for production.
  bool rescan_after_overflow = true;
};

struct VcpuConfig {
  uint32_t vm_id = 0;          // GA tag bits 31:9 (23 bits)
  uint32_t vcpu_index = 0;     // GA tag bits 8:0: the vCPU's position in its VM
  uint8_t* vapic_page = nullptr;  // the 4 KiB AVIC backing page, CPU view
  uint64_t vapic_page_pa = 0;     // its physical address (4 KiB aligned), what the IRTE carries
  // Destination used before the vCPU first runs, so an IRTE never names an uninitialised pCPU
  // (a review finding on the GAPPI RFC).
  int home_cpu = 0;
};

struct RouterStats {
  uint64_t ga_log_wakes = 0;          // GA log entries that woke a vCPU
  uint64_t ga_log_unknown_tags = 0;   // entries for vCPUs no longer known (torn down)
  uint64_t ga_log_overflows = 0;
  uint64_t overflow_rescans = 0;      // post-overflow rescans run
  uint64_t overflow_rescan_checks = 0;  // vCPUs whose IRR those rescans looked at
  uint64_t overflow_rescan_wakes = 0; // blocked vCPUs woken by the post-overflow rescan
  uint64_t gappi_dis_deferred = 0;    // loads that could not set GAPPIDis (command failure)
  uint64_t rebind_wakes = 0;          // blocked vCPUs woken after an IRTE changed page (see Bind)
};

template <hw::Platform P>
class PostedRouter {
 public:
  using Iommu = hw::amd::Iommu<P>;
  using Queues = wakeup::WakeupQueues<P, wakeup::VapicIrrPending>;

  // `queues` is required in GAPPI mode (the IOMMU's mode decides) and ignored otherwise. In GA log
  // mode the router registers the GA log interrupt vector the IOMMU was configured with.
  static absl::StatusOr<std::unique_ptr<PostedRouter>> Create(P& platform, Iommu& iommu,
                                                              Queues* queues,
                                                              const RouterConfig& config);
  ~PostedRouter();

  PostedRouter(const PostedRouter&) = delete;
  PostedRouter& operator=(const PostedRouter&) = delete;

  // --- cold ---
  absl::Status AddVcpu(VcpuId vcpu, const VcpuConfig& config);
  // The vCPU must own no IRTE (Remap them first). After this returns, no GA log entry or wakeup
  // vector can wake it, even if entries for it are still in the log.
  absl::Status RemoveVcpu(VcpuId vcpu);
  // Posts the IRTE's interrupts to `vcpu` as `guest_vector`; moves it if bound elsewhere.
  absl::Status Bind(IrteRef irte, VcpuId vcpu, uint8_t guest_vector);
  // Back to (or straight to) remapped mode: `host_vector` to `host_apic_id`; unbinds if bound.
  absl::Status Remap(IrteRef irte, uint8_t host_vector, uint32_t host_apic_id);
  // GAPPI mode: moves vCPUs parked on `cpu` to another CPU and retargets their IRTEs before `cpu`
  // stops taking interrupts. GA log mode: nothing is aimed at a blocked vCPU's pCPU; returns 0,
  // but refuses (FailedPrecondition) while `cpu` receives the GA log interrupt: every later
  // wakeup would be lost. Move it first with RetargetGaLogInterrupt, with both CPUs online, so
  // that an interrupt sent just before the move is still handled where it lands.
  absl::StatusOr<uint32_t> OfflineCpu(int cpu);
  // GA log mode: the GA log interrupt goes to `cpu` from now on.
  absl::Status RetargetGaLogInterrupt(int cpu);
  absl::Status OnlineCpu(int cpu);

  // --- hot: called by the vCPU's own thread ---
  // The vCPU runs on `cpu` (also: unblock, migrate, preempted-while-blocking scheduled back in).
  RouteError Load(VcpuId vcpu, int cpu);
  // The vCPU stops running without blocking (preemption, exit to userspace). Issues no IOMMU
  // command and cannot fail for a known vCPU (IsRun is an uncached field).
  RouteError Put(VcpuId vcpu);
  // The vCPU is about to block on `cpu`. kSleep: safe to sleep, a device interrupt will wake it.
  // kPendingDontSleep: an interrupt is already in its IRR; do not sleep (call Load). kNotParked /
  // error: nothing changed (rolled back); do not sleep.
  BlockOutcome Block(VcpuId vcpu, int cpu);
  RouteError Unblock(VcpuId vcpu, int cpu) { return Load(vcpu, cpu); }

  // The GA log interrupt (normally reached through the registered vector).
  void HandleGaLogInterrupt();

  // --- introspection (cold) ---
  hw::amd::GuestIrMode mode() const { return mode_; }
  // The vCPU owning the IRTE, or -1.
  int64_t OwnerOf(IrteRef irte);
  uint32_t OwnedCount(VcpuId vcpu);
  // Every binding is on exactly its owner's list, each list is well formed, and every owned IRTE
  // in memory is in guest mode with its owner's vector, backing page and run state.
  absl::Status CheckInvariants();
  RouterStats stats() const;

 private:
  enum class RunState : uint8_t { kIdle, kRunning, kBlocked };

  using Binding = IrteBinding;

  struct Vcpu {
    typename P::SpinLock lock;
    std::atomic<bool> added{false};
    // Both written by AddVcpu before the tag is inserted and `added` is set (release), and
    // immutable while added: read lock-free by the GA log handler and the overflow rescan.
    VcpuConfig config;
    uint32_t ga_tag = 0;   // GA log: (VM id, index); GAPPI: the wakeup vector
    IrteList irtes ABSL_GUARDED_BY(lock);
    RunState state ABSL_GUARDED_BY(lock) = RunState::kIdle;
    uint32_t destination ABSL_GUARDED_BY(lock) = 0;  // APIC ID the IRTEs name
    // Read without the lock by the overflow rescan.
    std::atomic<bool> blocked_in_ga_log{false};
  };

  PostedRouter(P& platform, Iommu& iommu, Queues* queues, const RouterConfig& config)
      : platform_(platform),
        iommu_(iommu),
        queues_(queues),
        mode_(iommu.mode()),
        max_vcpus_(config.max_vcpus),
        rescan_after_overflow_(config.rescan_after_overflow),
        vcpus_(new Vcpu[config.max_vcpus]),
        ownership_(platform, vcpus_.get(), &IrteOwnership<P, Vcpu>::PerDeviceKey),
        tags_(platform, config.max_vcpus) {}

  bool Added(VcpuId vcpu) const {
    return vcpu < max_vcpus_ && vcpus_[vcpu].added.load(std::memory_order_acquire);
  }
  hw::amd::IrteWords GuestEntry(const Vcpu& v, uint8_t guest_vector, RunState state) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(v.lock) {
    return WithVector(GuestEntryBase(v, state), guest_vector);
  }
  // The fields every IRTE `v` owns shares in `state` (all but the vector): the loops over a
  // vCPU's IRTEs build it once and only set each binding's vector.
  ABSL_ATTRIBUTE_ALWAYS_INLINE hw::amd::IrteGaGuest GuestEntryBase(const Vcpu& v,
                                                                   RunState state) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(v.lock);
  static hw::amd::IrteWords WithVector(hw::amd::IrteGaGuest base, uint8_t guest_vector) {
    base.set_vector(guest_vector);
    return {base.lo(), base.hi()};
  }
  // Rewrites every owned IRTE for `state`. On a failed write, restores the ones already written
  // for `rollback_state` and returns the error.
  RouteError UpdateOwned(VcpuId id, Vcpu& v, RunState state, RunState rollback_state)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(v.lock);
  // Load's version: cannot fail. If setting GAPPIDis fails, the IRTE keeps GAPPIDis clear.
  ABSL_ATTRIBUTE_ALWAYS_INLINE void UpdateOwnedKeepGappiDisOnFailure(Vcpu& v)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(v.lock);
  // After an IRTE write that changed (or tried to change) which vAPIC page the entry posts into:
  // whether `v` is blocked with an IRR bit set, which the window may have left unnotified.
  static bool NeedsWakeAfterPageChange(const Vcpu& v) ABSL_EXCLUSIVE_LOCKS_REQUIRED(v.lock) {
    return v.state == RunState::kBlocked &&
           wakeup::VapicIrrPending::HasPending(v.config.vapic_page);
  }
  void WakeAfterPageChange(VcpuId vcpu) {
    platform_.WakeVcpu(vcpu);
    rebind_wakes_.fetch_add(1, std::memory_order_relaxed);
  }
  // The honest part of a failed update's message.
  static std::string CacheNote(const hw::amd::IrteWriteResult& r) {
    return RollbackNote(r.cache_may_hold_new,
                        "the IOMMU may still use the new entry's cached root pointer and vector");
  }
  void Retarget(VcpuId vcpu, int cpu);
  void RescanBlockedAfterOverflow();
  static void DispatchGaLog(void* context, int cpu, uint8_t vector);

  P& platform_;
  Iommu& iommu_;
  Queues* const queues_;
  const hw::amd::GuestIrMode mode_;
  const uint32_t max_vcpus_;
  const bool rescan_after_overflow_;
  std::unique_ptr<Vcpu[]> vcpus_;
  IrteOwnership<P, Vcpu> ownership_;
  GaTagTable<P> tags_;
  bool ga_log_handler_registered_ = false;

  std::atomic<uint64_t> ga_log_wakes_{0};
  std::atomic<uint64_t> ga_log_unknown_tags_{0};
  std::atomic<uint64_t> ga_log_overflows_{0};
  std::atomic<uint64_t> overflow_rescans_{0};
  std::atomic<uint64_t> overflow_rescan_checks_{0};
  std::atomic<uint64_t> overflow_rescan_wakes_{0};
  std::atomic<uint64_t> gappi_dis_deferred_{0};
  std::atomic<uint64_t> rebind_wakes_{0};
};

// ------------------------------------------------------------------------------------------------

template <hw::Platform P>
absl::StatusOr<std::unique_ptr<PostedRouter<P>>> PostedRouter<P>::Create(
    P& platform, Iommu& iommu, Queues* queues, const RouterConfig& config) {
  if (config.max_vcpus == 0 || config.max_vcpus > (1u << 20)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("posted router: max_vcpus %u outside 1..1048576", config.max_vcpus));
  }
  if (iommu.mode() == hw::amd::GuestIrMode::kLegacyGa) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "posted router: the IOMMU cannot post interrupts (%s)", iommu.mode_note()));
  }
  if (iommu.mode() == hw::amd::GuestIrMode::kGappi && queues == nullptr) {
    return absl::InvalidArgumentError(
        "posted router: GAPPI mode needs wakeup queues (the GAPPI vector names no vCPU)");
  }
  std::unique_ptr<PostedRouter> router(new PostedRouter(platform, iommu, queues, config));
  if (router->mode_ == hw::amd::GuestIrMode::kGaLog) {
    const uint8_t vector = iommu.config().ga_log_interrupt_vector;
    absl::Status s = platform.RegisterVectorHandler(vector, &DispatchGaLog, router.get());
    if (!s.ok()) {
      return absl::Status(s.code(), absl::StrFormat("posted router: GA log vector %#x: %s", vector,
                                                    s.message()));
    }
    router->ga_log_handler_registered_ = true;
  }
  return router;
}

template <hw::Platform P>
PostedRouter<P>::~PostedRouter() {
  // Before memory goes away: no handler instance may still be running.
  if (ga_log_handler_registered_) {
    platform_.UnregisterVectorHandler(iommu_.config().ga_log_interrupt_vector);
  }
}

template <hw::Platform P>
absl::Status PostedRouter<P>::AddVcpu(VcpuId vcpu, const VcpuConfig& config) {
  if (vcpu >= max_vcpus_) {
    return absl::InvalidArgumentError(
        absl::StrFormat("vCPU %u: id outside 0..%u", vcpu, max_vcpus_ - 1));
  }
  if (config.vapic_page == nullptr || (config.vapic_page_pa & 0xfff) != 0 ||
      (config.vapic_page_pa >> 52) != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "vCPU %u: vAPIC page must be given, 4 KiB aligned and below 2^52 (PA %#x)", vcpu,
        config.vapic_page_pa));
  }
  if (config.home_cpu < 0 || config.home_cpu >= platform_.num_cpus()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("vCPU %u: unknown home CPU %d", vcpu, config.home_cpu));
  }
  absl::StatusOr<hw::amd::GaTag> tag = hw::amd::GaTag::Make(config.vm_id, config.vcpu_index);
  if (!tag.ok()) {
    return absl::InvalidArgumentError(absl::StrFormat("vCPU %u: %s", vcpu, tag.status().message()));
  }
  absl::MutexLock l(&ownership_.mutex());
  Vcpu& v = vcpus_[vcpu];
  if (v.added.load(std::memory_order_relaxed)) {
    return absl::AlreadyExistsError(absl::StrFormat("vCPU %u: already added", vcpu));
  }
  // Written before the tag becomes visible to the GA log handler (the table's lock publishes
  // them) and before `added`; a refused insert leaves them on a vCPU nobody reads.
  v.config = config;
  v.ga_tag = tag->raw();
  // The tag table also keeps (VM id, index) unique in GAPPI mode, where no GA log reads it.
  if (absl::Status s = tags_.Insert(tag->raw(), vcpu); !s.ok()) {
    return absl::Status(s.code(), absl::StrFormat("vCPU %u: VM %u index %u: %s", vcpu,
                                                  config.vm_id, config.vcpu_index, s.message()));
  }
  if (mode_ == hw::amd::GuestIrMode::kGappi) {
    if (absl::Status s = queues_->AddVcpu(vcpu, config.vapic_page); !s.ok()) {
      tags_.Erase(tag->raw());
      return s;
    }
    v.ga_tag = queues_->WakeupVector(vcpu);
  }
  {
    const hw::IrqFlags flags = platform_.LockIrqSave(v.lock);
    v.state = RunState::kIdle;
    v.destination = platform_.apic_id(config.home_cpu);
    v.irtes = IrteList();
    v.blocked_in_ga_log.store(false, std::memory_order_relaxed);
    platform_.UnlockIrqRestore(v.lock, flags);
  }
  v.added.store(true, std::memory_order_release);
  return absl::OkStatus();
}

template <hw::Platform P>
absl::Status PostedRouter<P>::RemoveVcpu(VcpuId vcpu) {
  absl::MutexLock l(&ownership_.mutex());
  if (!Added(vcpu)) return RouteError::Of(RouteErrorCode::kUnknownVcpu, vcpu).ToStatus();
  Vcpu& v = vcpus_[vcpu];
  uint32_t owned;
  {
    const hw::IrqFlags flags = platform_.LockIrqSave(v.lock);
    owned = v.irtes.size();
    platform_.UnlockIrqRestore(v.lock, flags);
  }
  if (owned != 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "vCPU %u: still owns %u IRTEs; Remap them before removing the vCPU", vcpu, owned));
  }
  // The teardown barrier: after these, neither the GA log handler nor the rescan nor a wakeup
  // vector can reach this vCPU.
  if (mode_ == hw::amd::GuestIrMode::kGappi) {
    if (absl::Status s = queues_->RemoveVcpu(vcpu); !s.ok()) return s;
  }
  tags_.Erase(hw::amd::GaTag::Make(v.config.vm_id, v.config.vcpu_index)->raw());
  v.blocked_in_ga_log.store(false, std::memory_order_relaxed);
  v.added.store(false, std::memory_order_release);
  return absl::OkStatus();
}

template <hw::Platform P>
inline hw::amd::IrteGaGuest PostedRouter<P>::GuestEntryBase(const Vcpu& v, RunState state) const {
  hw::amd::IrteGaGuest e;
  e.set_valid(1).set_guest_mode(1);
  e.set_ga_root_ptr(v.config.vapic_page_pa >> 12).set_ga_tag(v.ga_tag);
  e.set_destination(v.destination);
  e.set_is_run(state == RunState::kRunning);
  if (mode_ == hw::amd::GuestIrMode::kGaLog) {
    // GALogIntr only while actually blocking: a stopped-but-runnable vCPU runs again anyway.
    e.set_ga_log_intr(state == RunState::kBlocked);
  } else if (iommu_.gappi_dis_supported()) {
    e.set_gappi_dis(state != RunState::kBlocked);
  }
  return e;
}

template <hw::Platform P>
RouteError PostedRouter<P>::UpdateOwned(VcpuId id, Vcpu& v, RunState state,
                                        RunState rollback_state) {
  const hw::amd::IrteGaGuest base = GuestEntryBase(v, state);
  for (Binding* b = v.irtes.head(); b != nullptr; b = b->next) {
    const hw::amd::IrteWriteResult r =
        iommu_.WriteIrte(b->irte.device_id, b->irte.index, WithVector(base, b->guest_vector));
    if (r.ok()) continue;
    RouteError error = RouteError::Of(RouteErrorCode::kHardware, id);
    error.irte = b->irte;
    error.command = r.error;
    for (Binding* done = v.irtes.head(); done != b; done = done->next) {
      hw::amd::IrteWords previous = GuestEntry(v, done->guest_vector, rollback_state);
      if (!iommu_.WriteIrte(done->irte.device_id, done->irte.index, previous).ok()) {
        // A second failure: restore everything but GAPPIDis, and say so.
        iommu_.WriteIrteKeepingGappiDis(done->irte.device_id, done->irte.index, previous);
        error.gappi_dis_left_clear = true;
      }
    }
    return error;
  }
  return {};
}

template <hw::Platform P>
inline void PostedRouter<P>::UpdateOwnedKeepGappiDisOnFailure(Vcpu& v) {
  const hw::amd::IrteGaGuest base = GuestEntryBase(v, v.state);
  for (Binding* b = v.irtes.head(); b != nullptr; b = b->next) {
    const hw::amd::IrteWords desired = WithVector(base, b->guest_vector);
    if (iommu_.WriteIrte(b->irte.device_id, b->irte.index, desired).ok()) continue;
    // Only a GAPPIDis change can need a command; keep the old GAPPIDis (a running vCPU is
    // notified by doorbell, so GAPPIDis does not matter now) and retry on the next load.
    iommu_.WriteIrteKeepingGappiDis(b->irte.device_id, b->irte.index, desired);
    gappi_dis_deferred_.fetch_add(1, std::memory_order_relaxed);
  }
}

template <hw::Platform P>
absl::Status PostedRouter<P>::Bind(IrteRef irte, VcpuId vcpu, uint8_t guest_vector) {
  if (absl::Status s = CheckGuestVector(vcpu, irte, guest_vector); !s.ok()) return s;
  if (!iommu_.attached(irte.device_id) || irte.index >= iommu_.irt_entries()) {
    return absl::NotFoundError(
        absl::StrFormat("vCPU %u: IRTE %#x:%u does not exist (device not attached or index >= %u)",
                        vcpu, irte.device_id, irte.index, iommu_.irt_entries()));
  }
  absl::MutexLock l(&ownership_.mutex());
  if (!Added(vcpu)) return RouteError::Of(RouteErrorCode::kUnknownVcpu, vcpu).ToStatus();
  struct Written {
    hw::amd::IrteWriteResult result;
    bool wake_from = false;
    bool wake_to = false;
    bool ok() const { return result.ok(); }
  };
  struct Writer {
    PostedRouter& router;
    IrteRef irte;
    uint8_t guest_vector;
    Written Write(Vcpu& to) ABSL_EXCLUSIVE_LOCKS_REQUIRED(to.lock) {
      return {router.iommu_.WriteIrte(irte.device_id, irte.index,
                                      router.GuestEntry(to, guest_vector, to.state))};
    }
    Written Move(Vcpu& to, Vcpu& from) ABSL_EXCLUSIVE_LOCKS_REQUIRED(to.lock, from.lock) {
      Written w = Write(to);
      // Until the invalidation completed, the IOMMU could combine the old owner's cached root
      // pointer and vector with the new owner's fresh tag, destination and IsRun: an interrupt
      // then lands in the old owner's IRR while the notification goes to the new one. A failed
      // move adds the reverse (the new entry cached, the old one's fresh fields after the
      // rollback). Now that the entry the IOMMU uses is settled, a blocked vCPU on either side
      // with something pending is woken (spurious at worst).
      w.wake_from = NeedsWakeAfterPageChange(from);
      w.wake_to = !w.result.ok() && NeedsWakeAfterPageChange(to);
      return w;
    }
  };
  const auto change = ownership_.Bind(irte, vcpu, guest_vector, Writer{*this, irte, guest_vector});
  if (change.write.wake_from) WakeAfterPageChange(change.previous_owner);
  if (change.write.wake_to) WakeAfterPageChange(vcpu);
  if (!change.write.ok()) {
    return BindFailed(vcpu, irte, guest_vector,
                      hw::amd::CommandErrorName(change.write.result.error),
                      CacheNote(change.write.result));
  }
  return absl::OkStatus();
}

template <hw::Platform P>
absl::Status PostedRouter<P>::Remap(IrteRef irte, uint8_t host_vector, uint32_t host_apic_id) {
  if (absl::Status s = CheckHostVector(irte, host_vector); !s.ok()) return s;
  if (!iommu_.attached(irte.device_id) || irte.index >= iommu_.irt_entries()) {
    return absl::NotFoundError(absl::StrFormat("IRTE %#x:%u does not exist", irte.device_id, irte.index));
  }
  hw::amd::IrteGaRemapped e;
  e.set_valid(1).set_int_type(static_cast<uint64_t>(hw::amd::IrteIntType::kFixed));
  e.set_vector(host_vector).set_destination(host_apic_id);
  absl::MutexLock l(&ownership_.mutex());
  struct Written {
    hw::amd::IrteWriteResult result;
    bool wake_owner = false;
    bool ok() const { return result.ok(); }
  };
  struct Writer {
    PostedRouter& router;
    IrteRef irte;
    hw::amd::IrteWords entry;
    Written WriteUnowned() { return {router.iommu_.WriteIrte(irte.device_id, irte.index, entry)}; }
    Written WriteOwned(Vcpu& owner) ABSL_EXCLUSIVE_LOCKS_REQUIRED(owner.lock) {
      Written w = WriteUnowned();
      // While the write was in flight the IOMMU could post with the cached guest entry but read
      // the remapped entry's fresh bits (no IsRun, no GALogIntr): an IRR bit with no wakeup.
      w.wake_owner = NeedsWakeAfterPageChange(owner);
      return w;
    }
  };
  const auto change = ownership_.Unbind(irte, Writer{*this, irte, {e.lo(), e.hi()}});
  if (change.write.wake_owner) WakeAfterPageChange(change.previous_owner);
  if (!change.write.ok()) {
    return RemapFailed(change.bound_before, change.previous_owner, irte,
                       hw::amd::CommandErrorName(change.write.result.error),
                       CacheNote(change.write.result));
  }
  return absl::OkStatus();
}

template <hw::Platform P>
RouteError PostedRouter<P>::Load(VcpuId vcpu, int cpu) {
  if (RouteError e = CheckVcpuOnCpu(Added(vcpu), vcpu, cpu, platform_.num_cpus()); !e.ok())
    return e;
  Vcpu& v = vcpus_[vcpu];
  // Off the wakeup queue first: queue locks are taken before vCPU locks, never inside.
  if (mode_ == hw::amd::GuestIrMode::kGappi) queues_->Unpark(vcpu);
  const hw::IrqFlags flags = platform_.LockIrqSave(v.lock);
  v.state = RunState::kRunning;
  v.destination = platform_.apic_id(IRQVIRT_PLANTED(kDoorbellStaysOnHomeCpu) ? v.config.home_cpu : cpu);
  v.blocked_in_ga_log.store(false, std::memory_order_relaxed);
  UpdateOwnedKeepGappiDisOnFailure(v);
  platform_.UnlockIrqRestore(v.lock, flags);
  return {};
}

template <hw::Platform P>
RouteError PostedRouter<P>::Put(VcpuId vcpu) {
  if (!Added(vcpu)) return RouteError::Of(RouteErrorCode::kUnknownVcpu, vcpu);
  Vcpu& v = vcpus_[vcpu];
  const hw::IrqFlags flags = platform_.LockIrqSave(v.lock);
  // Preempted while blocking: the IRTEs must keep notifying (KVM avic_vcpu_put does the same).
  if (v.state != RunState::kBlocked) {
    v.state = RunState::kIdle;
    // Only IsRun changes, with GAPPIDis left as it is: no command, so no failure. (GAPPIDis is
    // normally already set while not blocking; after a Load that had to defer setting it, it
    // stays clear until the next Load retries: a stray GAPPI then finds nobody parked.)
    const hw::amd::IrteGaGuest base = GuestEntryBase(v, RunState::kIdle);
    for (Binding* b = v.irtes.head(); b != nullptr; b = b->next) {
      iommu_.WriteIrteKeepingGappiDis(b->irte.device_id, b->irte.index,
                                      WithVector(base, b->guest_vector));
    }
  }
  platform_.UnlockIrqRestore(v.lock, flags);
  return {};
}

template <hw::Platform P>
BlockOutcome PostedRouter<P>::Block(VcpuId vcpu, int cpu) {
  BlockOutcome out;
  out.error = CheckVcpuOnCpu(Added(vcpu), vcpu, cpu, platform_.num_cpus());
  if (!out.error.ok()) return out;
  Vcpu& v = vcpus_[vcpu];
  hw::IrqFlags flags = platform_.LockIrqSave(v.lock);
  const RunState previous = v.state;
  v.state = RunState::kBlocked;
  // GA log: IsRun = 0, GALogIntr = 1 (uncached). GAPPI: IsRun = 0, GAPPIDis = 0 (a command).
  RouteError e = UpdateOwned(vcpu, v, RunState::kBlocked, previous);
  if (!e.ok()) {
    v.state = previous;
    platform_.UnlockIrqRestore(v.lock, flags);
    out.error = e;
    return out;
  }
  if (mode_ == hw::amd::GuestIrMode::kGaLog) {
    v.blocked_in_ga_log.store(true, std::memory_order_relaxed);
    platform_.UnlockIrqRestore(v.lock, flags);
    // IsRun = 0 must be visible before the IRR is read: an interrupt posted before it rang a
    // doorbell nobody hears, and this read is what catches it.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    out.decision = !IRQVIRT_PLANTED(kBlockSkipsPendingRecheck) &&
                           wakeup::VapicIrrPending::HasPending(v.config.vapic_page)
                       ? wakeup::BlockDecision::kPendingDontSleep
                       : wakeup::BlockDecision::kSleep;
    return out;
  }
  platform_.UnlockIrqRestore(v.lock, flags);
  // GAPPI: park, and under the queue lock point the IRTEs at the queue's CPU and vector.
  const wakeup::BlockResult r = queues_->PrepareToBlock(
      vcpu, cpu, [this](wakeup::VcpuId id, int target, uint8_t) { Retarget(id, target); });
  if (r.decision != wakeup::BlockDecision::kNotParked) {
    out.decision = r.decision;
    return out;
  }
  // Undo: back to `previous` (running: IsRun = 1). This must not fail halfway: a failed write
  // would roll back to the *blocked* entry and leave a running vCPU without doorbells, so
  // GAPPIDis (the only field that needs a command) is kept as it is if its command fails.
  flags = platform_.LockIrqSave(v.lock);
  v.state = previous;
  UpdateOwnedKeepGappiDisOnFailure(v);
  out.error = RouteError::Of(RouteErrorCode::kNotParked, vcpu, cpu);
  out.error.park = r.error;
  platform_.UnlockIrqRestore(v.lock, flags);
  return out;
}

// Called under a wakeup-queue lock (PrepareToBlock, OfflineCpu). Only Destination changes, an
// uncached field: one CAS per IRTE, no command, cannot fail.
template <hw::Platform P>
void PostedRouter<P>::Retarget(VcpuId vcpu, int cpu) {
  Vcpu& v = vcpus_[vcpu];
  const hw::IrqFlags flags = platform_.LockIrqSave(v.lock);
  v.destination = platform_.apic_id(cpu);
  for (Binding* b = v.irtes.head(); b != nullptr; b = b->next) {
    iommu_.WriteIrte(b->irte.device_id, b->irte.index, GuestEntry(v, b->guest_vector, v.state));
  }
  platform_.UnlockIrqRestore(v.lock, flags);
}

template <hw::Platform P>
absl::StatusOr<uint32_t> PostedRouter<P>::OfflineCpu(int cpu) {
  if (cpu < 0 || cpu >= platform_.num_cpus()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("CPU %d does not exist (CPUs 0..%d)", cpu, platform_.num_cpus() - 1));
  }
  if (mode_ == hw::amd::GuestIrMode::kGaLog &&
      platform_.apic_id(cpu) == iommu_.ga_log_interrupt_apic_id()) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "CPU %d receives the GA log interrupt (vector %#x): offlining it would lose every later "
        "wakeup; call RetargetGaLogInterrupt(another online CPU) first",
        cpu, iommu_.config().ga_log_interrupt_vector));
  }
  if (mode_ != hw::amd::GuestIrMode::kGappi) return 0u;
  return queues_->OfflineCpu(cpu, [this](wakeup::VcpuId id, int target, uint8_t) { Retarget(id, target); });
}

template <hw::Platform P>
absl::Status PostedRouter<P>::RetargetGaLogInterrupt(int cpu) {
  if (cpu < 0 || cpu >= platform_.num_cpus()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("CPU %d does not exist (CPUs 0..%d)", cpu, platform_.num_cpus() - 1));
  }
  if (mode_ != hw::amd::GuestIrMode::kGaLog) {
    return absl::FailedPreconditionError("no GA log interrupt: the IOMMU is not in GA log mode");
  }
  iommu_.RetargetGaLogInterrupt(platform_.apic_id(cpu));
  return absl::OkStatus();
}

template <hw::Platform P>
absl::Status PostedRouter<P>::OnlineCpu(int cpu) {
  if (mode_ != hw::amd::GuestIrMode::kGappi) return absl::OkStatus();
  return queues_->OnlineCpu(cpu);
}

template <hw::Platform P>
void PostedRouter<P>::DispatchGaLog(void* context, int, uint8_t) {
  static_cast<PostedRouter*>(context)->HandleGaLogInterrupt();
}

template <hw::Platform P>
void PostedRouter<P>::HandleGaLogInterrupt() {
  bool woke = false;
  const hw::amd::GaLogDrain drain = iommu_.HandleGaLogInterrupt([this, &woke](uint32_t tag) {
    if (IRQVIRT_PLANTED(kGaLogHandlerStopsAfterFirstWake) && woke) return;
    woke = true;
    const bool known = tags_.WithVcpu(tag, [this](uint32_t vcpu) { platform_.WakeVcpu(vcpu); });
    (known ? ga_log_wakes_ : ga_log_unknown_tags_).fetch_add(1, std::memory_order_relaxed);
  });
  if (drain.overflow) {
    ga_log_overflows_.fetch_add(1, std::memory_order_relaxed);
    if (rescan_after_overflow_) RescanBlockedAfterOverflow();
  }
}

// Entries were dropped while the log was full; their IRR bits are in the backing pages. Wake
// every vCPU blocked in GA log mode that has one. Runs after the restart, so an interrupt that
// arrives during the scan is logged again.
template <hw::Platform P>
void PostedRouter<P>::RescanBlockedAfterOverflow() {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  overflow_rescans_.fetch_add(1, std::memory_order_relaxed);
  uint64_t checked = 0;
  tags_.ForEach([this, &checked](uint32_t vcpu) {
    const Vcpu& v = vcpus_[vcpu];
    if (!v.blocked_in_ga_log.load(std::memory_order_relaxed)) return;
    ++checked;
    if (wakeup::VapicIrrPending::HasPending(v.config.vapic_page)) {
      platform_.WakeVcpu(vcpu);
      overflow_rescan_wakes_.fetch_add(1, std::memory_order_relaxed);
    }
  });
  overflow_rescan_checks_.fetch_add(checked, std::memory_order_relaxed);
}

template <hw::Platform P>
int64_t PostedRouter<P>::OwnerOf(IrteRef irte) {
  return ownership_.OwnerOf(irte);
}

template <hw::Platform P>
uint32_t PostedRouter<P>::OwnedCount(VcpuId vcpu) {
  if (!Added(vcpu)) return 0;
  return ownership_.OwnedCount(vcpus_[vcpu]);
}

template <hw::Platform P>
absl::Status PostedRouter<P>::CheckInvariants() {
  struct Checker {
    PostedRouter& router;
    absl::Status Check(VcpuId id, Vcpu& v, const Binding& b) ABSL_EXCLUSIVE_LOCKS_REQUIRED(v.lock) {
      const hw::amd::IrteWords mem = router.iommu_.ReadIrte(b.irte.device_id, b.irte.index);
      const auto g = hw::amd::IrteGaGuest::FromHalves(mem.lo, mem.hi);
      if (!g.valid() || !g.guest_mode() || g.vector() != b.guest_vector ||
          g.ga_root_ptr() != (v.config.vapic_page_pa >> 12) ||
          g.is_run() != (v.state == RunState::kRunning) || g.ga_tag() != v.ga_tag) {
        return absl::InternalError(
            absl::StrFormat("vCPU %u: IRTE %#x:%u does not match it: %#018x_%016x", id,
                            b.irte.device_id, b.irte.index, mem.hi, mem.lo));
      }
      return absl::OkStatus();
    }
  };
  return ownership_.CheckLists(
      max_vcpus_, [this](VcpuId id) { return Added(id); }, Checker{*this});
}

template <hw::Platform P>
RouterStats PostedRouter<P>::stats() const {
  RouterStats s;
  s.ga_log_wakes = ga_log_wakes_.load(std::memory_order_relaxed);
  s.ga_log_unknown_tags = ga_log_unknown_tags_.load(std::memory_order_relaxed);
  s.ga_log_overflows = ga_log_overflows_.load(std::memory_order_relaxed);
  s.overflow_rescans = overflow_rescans_.load(std::memory_order_relaxed);
  s.overflow_rescan_checks = overflow_rescan_checks_.load(std::memory_order_relaxed);
  s.overflow_rescan_wakes = overflow_rescan_wakes_.load(std::memory_order_relaxed);
  s.gappi_dis_deferred = gappi_dis_deferred_.load(std::memory_order_relaxed);
  s.rebind_wakes = rebind_wakes_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace irqvirt::posted

#endif  // IRQVIRT_IRQVIRT_POSTED_POSTED_ROUTER_H_
