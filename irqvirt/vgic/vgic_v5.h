// SPDX-License-Identifier: MIT
// The vGIC core for GICv5 VMs: the PPI fold, and in-flight SPI tracking so that an SPI's
// deactivation notifier (the resample hook of a level-triggered, VFIO-style device) runs once
// the guest has consumed and deactivated it. On GICv5 the IRS keeps a virtual SPI's state and
// the guest acknowledges and deactivates it without an exit, so the hypervisor can only *ask*:
// GIC VDRCFG returns the SPI's state (gic.md §4.2, §4.5). The code is this library's own; the
// behaviour follows the posted KVM patch ("gic-v5: Track SPI state for in-flight SPIs") where
// it is right, and improves on it on four points:
//
//   * No allocation, ever. Deactivated SPIs are carried to their notifiers through a per-SPI
//     link (an SPI is in the batch at most once: only the folder pops, and it dispatches before
//     its next pass), so no notification waits for memory.
//   * Only what needs it is queried. In-flight SPIs sit on one of two per-VM lists: `watched`
//     (the SPI has a notifier) is queried by every fold pass; `quiet` (no notifier) gets one
//     query, round robin, every kQuietProbeInterval passes (and, with nothing watched, a pass
//     runs only every kQuietProbeInterval exits), which is enough for them to leave the list
//     (nothing waits on them) without a VDRCFG per exit. Setting or removing a notifier moves an
//     in-flight SPI between the lists. With nothing in flight a fold issues no query and takes
//     no lock.
//   * No stampede. The SPI fold is VM-wide work, so it is not repeated by every vCPU that exits.
//     A pass queries under the list lock, then (only if it popped SPIs with notifiers) calls
//     them after releasing it. An exit notes how many passes had started, and takes the list
//     lock: if a pass started since, that pass saw everything its guest did before exiting (its
//     queries came later, and are over: we hold the lock), so it returns; if a folder is
//     calling notifiers, it asks that folder for one more pass and returns; otherwise it runs a
//     pass itself. N vCPUs exiting together cost two passes, not N, and an uncontended exit
//     costs what the lock costs, no more (the baseline's own list lock). Nobody folds for the
//     others for long, and no request is left behind (the requesters may not exit again): a
//     folder runs at most kPassesPerFold passes; exits that come while it calls the notifiers
//     of its last one wait for that to end and fold themselves (or find that one of them did).
//   * No lost, no doubled notification. An SPI is in flight from the injection that makes it
//     pending until a pass sees it neither pending nor active (for a level SPI: and its line
//     low); that pass pops it and its notifier is called once. An SPI acknowledged and
//     deactivated within one run is still in flight at the next pass, so it is noticed. A
//     notification says "it was in flight and now is idle": the hardware shows states, not
//     events, so two deactivations between two passes give one notification, and a level line
//     withdrawn before the guest took it also ends the flight (the notifier re-checks its
//     device).
//
// Level SPIs and resamplers: a level SPI whose line is high is never idle (the IRS keeps it
// pending), so it is never notified. The device model must lower the line (Inject(id, false))
// when the guest services the device; a resampler that lowers the line only *in* its notifier
// (irqfd's "deassert on ack") would wait forever. This is the rule of the posted KVM patch too.
//
// Deactivations are noticed only when a fold runs, i.e. on vCPU exits. A guest that never
// exits (WFI not trapped, polling) delays its notifications; FoldSpis may also be called from a
// host timer or poll thread, with any valid vCPU number.
//
// Fold rules per queried SPI (gic.md §4.5 step 3-4): Active is the hardware's; an edge SPI's
// latch becomes the hardware's Pending; a level SPI's latch is cleared only when the hardware
// shows it neither pending nor active. A level SPI whose line is still high is not idle and
// stays listed (and is made pending again if the hardware lost its pending state). A query
// that faults (ICSR.F) changes nothing; the SPI stays listed.
//
// How a hypervisor drives it, per vCPU run-loop iteration:
//   vgic.FlushPpis(vcpu, ppis);  restore ICH_PPI_*;            // before entering the guest
//   ... guest runs; it exits ...
//   save ICH_PPI_*;  vgic.Fold(vcpu, ppis);                     // PPIs, then the SPI fold
// SPIs are injected with Inject (GIC VDPEND, then GSB SYS); there is no kick: the IRS delivers
// to the vPE the guest targeted, or rings its doorbell. Every FlushPpis is followed by a Fold on
// the state it produced (an abandoned entry too): the flush hands edge latches to that state.
// Fold runs the notifiers, so call it with interrupts enabled; notifiers must not throw and
// must not call RemoveDeactivationNotifier, Fold or FoldSpis (a fold from inside a folder's last
// dispatch would wait for that dispatch to end). Call Fold with preemption disabled, as a vCPU
// exit path is: other exits wait for the list lock while a pass queries.
//
// Locks (IRQ-safe spinlocks from the platform; no interrupt handler that can interrupt a holder
// takes them):
//   1. list_lock_     — the two in-flight lists. Taken by the folder and by an injection that
//                       puts an SPI in flight.
//   2. VgicIrq::lock  — one SPI's state; always after list_lock_ when both are held.
//   3. PpiBank::lock  — one vCPU's PPI state; never together with the others.
// No lock is held while a notifier runs.
#ifndef IRQVIRT_VGIC_VGIC_V5_H_
#define IRQVIRT_VGIC_VGIC_V5_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "hw/arm/gicv5_regs.h"
#include "hw/gicv5_ppi_state.h"
#include "hw/gicv5_virtual_spis.h"
#include "hw/platform.h"
#include "irqvirt/planted_bug.h"
#include "irqvirt/vgic/dispatch_epoch.h"
#include "irqvirt/vgic/vgic_irq.h"

namespace irqvirt::vgic {

struct VgicV5Options {
  uint32_t num_vcpus = 1;
  uint32_t num_spis = 64;               // virtual SPI IDs 0..num_spis-1 (at most 2^24)
  uint16_t vm_id = 0;                   // the VM's ID in the IRS (the VM field of VDRCFG/VDPEND)
  hw::Gicv5VirtualSpis* irs = nullptr;  // required
};

// Where an SPI is tracked.
enum class InFlight : uint8_t { kNo, kWatched, kQuiet };

struct SpiSnapshotV5 {
  InFlight in_flight;
  bool pending_latch, line_level, active, has_notifier;
  Trigger trigger;
};

// Relaxed counters for tests, benchmarks and the embedder's statistics.
struct VgicV5Stats {
  uint64_t fold_requests = 0;   // SPI folds asked for by vCPU exits with SPIs in flight
  uint64_t fold_passes = 0;     // passes run (fold_requests - fold_passes were coalesced)
  uint64_t queries = 0;         // GIC VDRCFG issued
  uint64_t query_faults = 0;    // ICSR.F set
  uint64_t pending_writes = 0;  // GIC VDPEND issued
  uint64_t deactivations = 0;   // SPIs a pass found idle and popped
  uint64_t notifications = 0;   // notifiers called
  uint64_t line_reasserts = 0;  // level SPIs made pending again after the hardware lost it
  uint64_t extra_passes = 0;    // passes a folder ran for exits that arrived during its pass
  uint64_t waits = 0;           // exits that waited for a folder's last dispatch, then folded
};

template <typename P>
requires hw::IrqSafeLocks<P>
class VgicV5 {
 public:
  using SpinLock = typename P::SpinLock;
  using Irq = VgicIrq<SpinLock>;

  static constexpr uint32_t kQuietProbeInterval = 16;
  static constexpr int kQuietProbesPerPass = 1;  // in a pass that probes quiet SPIs
  // IDs are 24 bits; every per-SPI array is allocated at creation (about 100 bytes per SPI),
  // so the library caps a VM at 65536 SPIs.
  static constexpr uint32_t kMaxSpisPerVm = uint32_t{1} << 16;

  static absl::StatusOr<std::unique_ptr<VgicV5>> Create(P& platform, const VgicV5Options& o) {
    if (o.num_vcpus == 0 || o.num_vcpus > 65536) {
      return absl::InvalidArgumentError(
          absl::StrFormat("GICv5 vGIC: %u vCPUs; a VM has 1..65536 vPEs", o.num_vcpus));
    }
    if (o.num_spis == 0 || o.num_spis > kMaxSpisPerVm) {
      return absl::InvalidArgumentError(
          absl::StrFormat("GICv5 vGIC: %u SPIs; a VM has 1..65536 here", o.num_spis));
    }
    if (o.irs == nullptr) {
      return absl::InvalidArgumentError("GICv5 vGIC: VgicV5Options::irs is required");
    }
    return std::unique_ptr<VgicV5>(new VgicV5(platform, o));
  }

  VgicV5(const VgicV5&) = delete;
  VgicV5& operator=(const VgicV5&) = delete;
  // Destroy only once no vCPU, device or notifier calls into it. SPIs still in flight are
  // dropped without notification (the VM is gone); the IRS's VM is the embedder's to tear down.
  ~VgicV5() = default;

  uint32_t num_vcpus() const { return options_.num_vcpus; }
  uint32_t num_spis() const { return options_.num_spis; }

  // ------------------------------------------------------------------ configuration (cold)

  // How the device drives SPI `id`: a level line or edges. The guest programs the IRS's own
  // handling mode; this is the hypervisor's view of its device. Refused while in flight.
  absl::Status ConfigureSpi(uint32_t id, Trigger trigger) {
    if (id >= options_.num_spis) return UnknownSpi(id);
    Spi& s = spis_[id];
    const hw::IrqFlags f = platform_.LockIrqSave(s.irq.lock);
    if (s.irq.trigger != trigger && s.in_flight != InFlight::kNo) {
      platform_.UnlockIrqRestore(s.irq.lock, f);
      return absl::FailedPreconditionError(
          absl::StrFormat("SPI %u: the trigger cannot change while the SPI is in flight", id));
    }
    if (s.irq.trigger != trigger) s.irq.line_level = false;  // a line the old mode left high
    s.irq.trigger = trigger;
    platform_.UnlockIrqRestore(s.irq.lock, f);
    return absl::OkStatus();
  }

  // Registers SPI `id`'s deactivation notifier (one per SPI); called with the SPI's 24-bit ID.
  // An SPI already in flight is watched from now on.
  absl::Status SetDeactivationNotifier(uint32_t id, DeactivationNotifier fn, void* context) {
    if (id >= options_.num_spis || fn == nullptr) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "SPI %u: notifiers are for SPIs 0..%u, with a function", id, options_.num_spis - 1));
    }
    Spi& s = spis_[id];
    const hw::IrqFlags f = platform_.LockIrqSave(list_lock_);
    platform_.LockIrqsOff(s.irq.lock);
    absl::Status status = absl::OkStatus();
    if (s.irq.notifier != nullptr) {
      status = absl::AlreadyExistsError(
          absl::StrFormat("SPI %u already has a deactivation notifier", id));
    } else {
      s.irq.notifier = fn;
      s.irq.notifier_context = context;
      if (s.in_flight == InFlight::kQuiet) MoveLocked(s, InFlight::kWatched);
    }
    platform_.UnlockIrqsOff(s.irq.lock);
    platform_.UnlockIrqRestore(list_lock_, f);
    return status;
  }

  // Removes it. Returns once no call of it is running or about to run, so `context` may be
  // freed. An SPI in flight stays tracked (quietly). Must not be called from a notifier.
  absl::Status RemoveDeactivationNotifier(uint32_t id) {
    if (id >= options_.num_spis) return UnknownSpi(id);
    Spi& s = spis_[id];
    const hw::IrqFlags f = platform_.LockIrqSave(list_lock_);
    platform_.LockIrqsOff(s.irq.lock);
    const bool had = s.irq.notifier != nullptr;
    s.irq.notifier = nullptr;
    s.irq.notifier_context = nullptr;
    if (s.in_flight == InFlight::kWatched) MoveLocked(s, InFlight::kQuiet);
    platform_.UnlockIrqsOff(s.irq.lock);
    platform_.UnlockIrqRestore(list_lock_, f);
    // Also on NotFound: a concurrent removal may have cleared it while a pass still calls it.
    dispatch_.WaitForOpenWindow();  // a pass that collected the old notifier has called it
    if (!had)
      return absl::NotFoundError(absl::StrFormat("SPI %u has no deactivation notifier", id));
    return absl::OkStatus();
  }

  // ------------------------------------------------------------------------- injection

  // A device drives SPI `id`: for a level SPI `level` is the line; for an edge SPI
  // `level = true` is an edge and `false` does nothing. Issues GIC VDPEND when the pending
  // state changes. No allocation; callable from any thread with interrupts on or off.
  absl::Status Inject(uint32_t id, bool level) {
    if (id >= options_.num_spis) return UnknownSpi(id);
    Spi& s = spis_[id];
    hw::IrqFlags f = platform_.LockIrqSave(s.irq.lock);
    // Already in flight, or stays idle (a line lowered, an edge's `false`): no listing needed.
    if (s.in_flight != InFlight::kNo || !WouldBePending(s.irq, level)) {
      ApplyLineLocked(s, level);
      platform_.UnlockIrqRestore(s.irq.lock, f);
      return absl::OkStatus();
    }
    platform_.UnlockIrqRestore(s.irq.lock, f);
    // It may go in flight: the list lock first, so that the pending write and the listing are
    // one step for every pass (the guest may take it the moment VDPEND lands).
    f = platform_.LockIrqSave(list_lock_);
    platform_.LockIrqsOff(s.irq.lock);
    if (s.in_flight == InFlight::kNo && WouldBePending(s.irq, level)) {
      LinkLocked(s, s.irq.notifier != nullptr ? InFlight::kWatched : InFlight::kQuiet);
    }
    ApplyLineLocked(s, level);
    platform_.UnlockIrqsOff(s.irq.lock);
    platform_.UnlockIrqRestore(list_lock_, f);
    return absl::OkStatus();
  }

  // A consistent copy of SPI `id`'s state as the hypervisor holds it (as of the last injection
  // or fold), for tests and introspection.
  absl::StatusOr<SpiSnapshotV5> Snapshot(uint32_t id) {
    if (id >= options_.num_spis) return UnknownSpi(id);
    Spi& s = spis_[id];
    const hw::IrqFlags f = platform_.LockIrqSave(s.irq.lock);
    SpiSnapshotV5 snap{s.in_flight,  s.irq.pending_latch,       s.irq.line_level,
                       s.irq.active, s.irq.notifier != nullptr, s.irq.trigger};
    platform_.UnlockIrqRestore(s.irq.lock, f);
    return snap;
  }

  // ----------------------------------------------------------------------------- PPIs

  // PPI `ppi` (0..127) of `vcpu` is level-triggered (`level`) or edge-triggered (default).
  absl::Status ConfigurePpi(uint32_t vcpu, uint32_t ppi, Trigger trigger) {
    absl::Status st = CheckPpi(vcpu, ppi);
    if (!st.ok()) return st;
    PpiBank& b = ppis_[vcpu];
    const hw::IrqFlags f = platform_.LockIrqSave(b.lock);
    if (Bit(b.level, ppi) != (trigger == Trigger::kLevel)) {
      SetBit(b.latch, ppi, false);  // nothing the old mode left may stay pending forever
      SetBit(b.line, ppi, false);
    }
    SetBit(b.level, ppi, trigger == Trigger::kLevel);
    platform_.UnlockIrqRestore(b.lock, f);
    return absl::OkStatus();
  }

  // A device drives PPI `ppi` of `vcpu` (same meaning of `level` as Inject). Takes effect at
  // the vCPU's next FlushPpis; the caller kicks the vCPU if it runs.
  absl::Status InjectPpi(uint32_t vcpu, uint32_t ppi, bool level) {
    absl::Status st = CheckPpi(vcpu, ppi);
    if (!st.ok()) return st;
    PpiBank& b = ppis_[vcpu];
    const hw::IrqFlags f = platform_.LockIrqSave(b.lock);
    if (Bit(b.level, ppi)) {
      SetBit(b.line, ppi, level);
    } else if (level) {
      SetBit(b.latch, ppi, true);
    }
    platform_.UnlockIrqRestore(b.lock, f);
    return absl::OkStatus();
  }

  // Before entry: ICH_PPI_PENDR = each PPI's pending state; an edge latch is handed to the
  // hardware (gic.md §4.4, vgic_v5_flush_ppi_state). Hot path.
  absl::Status FlushPpis(uint32_t vcpu, hw::Gicv5PpiState& state) {
    if (vcpu >= options_.num_vcpus) return UnknownVcpu(vcpu);
    PpiBank& b = ppis_[vcpu];
    const hw::IrqFlags f = platform_.LockIrqSave(b.lock);
    for (int w = 0; w < 2; ++w) {
      state.pendr[w] = PendingWord(b, w);
      state.activer[w] = b.active[w];
      b.latch[w] &= b.level[w];  // edges now live in the hardware
    }
    platform_.UnlockIrqRestore(b.lock, f);
    return absl::OkStatus();
  }

  // PPI `ppi` of `vcpu` as the hypervisor last saw it: {pending, active}.
  absl::StatusOr<std::pair<bool, bool>> PpiState(uint32_t vcpu, uint32_t ppi) {
    absl::Status st = CheckPpi(vcpu, ppi);
    if (!st.ok()) return st;
    PpiBank& b = ppis_[vcpu];
    const hw::IrqFlags f = platform_.LockIrqSave(b.lock);
    const bool pending = (PendingWord(b, static_cast<int>(ppi / 64)) >> (ppi % 64)) & 1;
    const bool active = Bit(b.active, ppi);
    platform_.UnlockIrqRestore(b.lock, f);
    return std::make_pair(pending, active);
  }

  // ------------------------------------------------------------------------- run loop

  // After the guest exits: the PPI fold, then the SPI fold. Hot path; no allocation.
  absl::Status Fold(uint32_t vcpu, const hw::Gicv5PpiState& ppis) {
    absl::Status st = FoldPpis(vcpu, ppis);
    if (!st.ok()) return st;
    return FoldSpis(vcpu);
  }

  // PPIs (gic.md §4.4, vgic_v5_fold_ppi_state): Active is the hardware's; an edge PPI still
  // pending in the hardware goes back to the latch (OR: edges injected meanwhile are kept).
  absl::Status FoldPpis(uint32_t vcpu, const hw::Gicv5PpiState& state) {
    if (vcpu >= options_.num_vcpus) return UnknownVcpu(vcpu);
    PpiBank& b = ppis_[vcpu];
    const hw::IrqFlags f = platform_.LockIrqSave(b.lock);
    for (int w = 0; w < 2; ++w) {
      b.active[w] = state.activer[w];
      b.latch[w] |= state.pendr[w] & ~b.level[w];
    }
    platform_.UnlockIrqRestore(b.lock, f);
    return absl::OkStatus();
  }

  // The SPI fold for an exit of `vcpu` (see "No stampede" above): when it returns, a pass that
  // started after the call has run or is running. Notifiers run from here, on the folding vCPU.
  ABSL_ATTRIBUTE_ALWAYS_INLINE absl::Status FoldSpis(uint32_t vcpu) {
    if (vcpu >= options_.num_vcpus) return UnknownVcpu(vcpu);
    if (in_flight_count_.load(std::memory_order_acquire) == 0) return absl::OkStatus();
    // Only quiet SPIs in flight: nobody waits on them, so a pass every kQuietProbeInterval exits.
    if (watched_count_.load(std::memory_order_acquire) == 0 &&
        quiet_only_exits_.fetch_add(1, std::memory_order_relaxed) % kQuietProbeInterval != 0) {
      return absl::OkStatus();
    }
    // Which passes had started before this exit; any later one sees what its guest did.
    const uint64_t seen = passes_started_.load(std::memory_order_acquire);
    for (bool waited = false;; waited = true) {
      const hw::IrqFlags f = platform_.LockIrqSave(list_lock_);
      if (!waited) Bump(stats_.fold_requests);
      if (passes_started_.load(std::memory_order_relaxed) != seen) {
        // A pass started after this exit; we waited for its queries (the lock), its folder
        // dispatches what it found.
        platform_.UnlockIrqRestore(list_lock_, f);
        return absl::OkStatus();
      }
      uint32_t d = dispatch_state_.load(std::memory_order_acquire);
      if (d == 0) {
        RunPassesAndUnlock(f);
        return absl::OkStatus();
      }
      if (!(d & kLastDispatch)) {
        // Ask the dispatching folder for one more pass; if it finished meanwhile (the exchange
        // fails), look again: it is ours to run.
        if (dispatch_state_.compare_exchange_strong(d, d | kPassRequested,
                                                    std::memory_order_acq_rel)) {
          platform_.UnlockIrqRestore(list_lock_, f);
          return absl::OkStatus();
        }
        platform_.UnlockIrqRestore(list_lock_, f);
        continue;
      }
      // The folder dispatches the last pass it owes: wait for that, then fold ourselves (or
      // find that another exit did), so that it gets back to its guest.
      platform_.UnlockIrqRestore(list_lock_, f);
      Count(stats_.waits);
      waiting_exits_.fetch_add(1, std::memory_order_relaxed);
      while (dispatch_state_.load(std::memory_order_acquire) != 0) std::this_thread::yield();
      waiting_exits_.fetch_sub(1, std::memory_order_relaxed);
    }
  }

  // ------------------------------------------------------------------- introspection

  uint32_t in_flight() const { return in_flight_count_.load(std::memory_order_relaxed); }

  uint32_t watched_in_flight() {
    const hw::IrqFlags f = platform_.LockIrqSave(list_lock_);
    const uint32_t n = lists_.watched_count;
    platform_.UnlockIrqRestore(list_lock_, f);
    return n;
  }

  // The fold as of now, for tests and diagnostics (a stuck VM: who holds what).
  struct FoldState {
    uint64_t passes_started;
    bool dispatching;        // a folder is calling notifiers
    bool last_pass;          // ... of the last pass it owes
    bool requested;          // an exit asked it for one more pass
    uint32_t exits_waiting;  // exits waiting for that last dispatch to end
  };
  FoldState fold_state() {
    const hw::IrqFlags f = platform_.LockIrqSave(list_lock_);
    const uint32_t d = dispatch_state_.load(std::memory_order_relaxed);
    FoldState st{passes_started_.load(std::memory_order_relaxed), (d & kDispatching) != 0,
                 (d & kLastDispatch) != 0, (d & kPassRequested) != 0,
                 waiting_exits_.load(std::memory_order_relaxed)};
    platform_.UnlockIrqRestore(list_lock_, f);
    return st;
  }

  VgicV5Stats stats() const {
    VgicV5Stats s;
    s.fold_requests = stats_.fold_requests.load(std::memory_order_relaxed);
    s.fold_passes = passes_started_.load(std::memory_order_relaxed);
    s.queries = stats_.queries.load(std::memory_order_relaxed);
    s.query_faults = stats_.query_faults.load(std::memory_order_relaxed);
    s.pending_writes = stats_.pending_writes.load(std::memory_order_relaxed);
    s.deactivations = stats_.deactivations.load(std::memory_order_relaxed);
    s.notifications = stats_.notifications.load(std::memory_order_relaxed);
    s.line_reasserts = stats_.line_reasserts.load(std::memory_order_relaxed);
    s.extra_passes = stats_.extra_passes.load(std::memory_order_relaxed);
    s.waits = stats_.waits.load(std::memory_order_relaxed);
    return s;
  }

 private:
  static constexpr uint32_t kPassesPerFold = 2;  // passes one exit runs at most (see FoldSpis)

  struct Spi {
    Irq irq;
    // Which list holds it. Written with list_lock_ and irq.lock held; read under either.
    InFlight in_flight ABSL_GUARDED_BY(irq.lock) = InFlight::kNo;
  };

  // One vCPU's PPIs as bitmaps (bit p%64 of word p/64).
  struct PpiBank {
    SpinLock lock;
    uint64_t level[2] ABSL_GUARDED_BY(lock) = {0, 0};   // 1 = level-triggered
    uint64_t line[2] ABSL_GUARDED_BY(lock) = {0, 0};    // level PPIs' input lines
    uint64_t latch[2] ABSL_GUARDED_BY(lock) = {0, 0};   // edges not yet handed to the hardware
    uint64_t active[2] ABSL_GUARDED_BY(lock) = {0, 0};  // as of the last fold
  };

  // Word `w` of a vCPU's PPI pending state: edge latches, and level PPIs whose line is high.
  static uint64_t PendingWord(const PpiBank& b, int w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(b.lock) {
    return b.latch[w] | (b.line[w] & b.level[w]);
  }

  // Relaxed counters. Most are written only under list_lock_ or by the one dispatching folder
  // (Bump: a load and a store; the lock orders the writers); the rest are bumped concurrently
  // (Count: fetch_add).
  struct AtomicStats {
    // Under list_lock_, or the dispatching folder's.
    std::atomic<uint64_t> fold_requests{0}, queries{0}, query_faults{0}, deactivations{0},
        notifications{0}, line_reasserts{0}, extra_passes{0};
    // Anyone's.
    std::atomic<uint64_t> pending_writes{0}, waits{0};
  };

  VgicV5(P& platform, const VgicV5Options& o)
      : platform_(platform),
        options_(o),
        spis_(new Spi[o.num_spis]),
        ppis_(new PpiBank[o.num_vcpus]),
        batch_next_(new uint32_t[o.num_spis]),
        batch_fn_(new DeactivationNotifier[o.num_spis]),
        batch_context_(new void*[o.num_spis]) {
    for (uint32_t i = 0; i < o.num_spis; ++i) spis_[i].irq.intid = i;
    const hw::IrqFlags f = platform_.LockIrqSave(list_lock_);
    lists_.slot.reset(new uint32_t[o.num_spis]);
    lists_.watched.reset(new uint32_t[o.num_spis]);
    lists_.quiet.reset(new uint32_t[o.num_spis]);
    platform_.UnlockIrqRestore(list_lock_, f);
  }

  // --- injection helpers (irq.lock held) ---

  // Whether applying `level` leaves it pending: a high line or an edge, or a latch already set.
  static bool WouldBePending(const Irq& irq, bool level) ABSL_EXCLUSIVE_LOCKS_REQUIRED(irq.lock) {
    return level || irq.pending_latch;
  }

  // Applies the device's line or edge and writes the pending state to the IRS if it changed.
  void ApplyLineLocked(Spi& s, bool level) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s.irq.lock) {
    const bool was = s.irq.IsPending();
    if (s.irq.trigger == Trigger::kLevel) {
      s.irq.line_level = level;
    } else if (level) {
      s.irq.pending_latch = true;
      // Every edge is written: the guest may have taken the previous one since.
      WritePending(s.irq, true);
      return;
    }
    if (s.irq.IsPending() != was) WritePending(s.irq, s.irq.IsPending());
  }

  void WritePending(const Irq& irq, bool pending) ABSL_EXCLUSIVE_LOCKS_REQUIRED(irq.lock) {
    options_.irs->SetSpiPending(options_.vm_id, irq.intid, pending);
    Count(stats_.pending_writes);
  }

  // --- the lists (list_lock_ and the SPI's lock held) ---

  void LinkLocked(Spi& s, InFlight where) ABSL_EXCLUSIVE_LOCKS_REQUIRED(list_lock_, s.irq.lock) {
    const uint32_t id = s.irq.intid;
    if (where == InFlight::kWatched) {
      lists_.slot[id] = lists_.watched_count;
      lists_.watched[lists_.watched_count++] = id;
    } else {
      lists_.slot[id] = lists_.quiet_count;
      lists_.quiet[lists_.quiet_count++] = id;
    }
    s.in_flight = where;
    PublishCountsLocked();
  }

  void UnlinkLocked(Spi& s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(list_lock_, s.irq.lock) {
    const uint32_t id = s.irq.intid;
    const uint32_t at = lists_.slot[id];
    if (s.in_flight == InFlight::kWatched) {
      const uint32_t last = lists_.watched[--lists_.watched_count];
      lists_.watched[at] = last;
      lists_.slot[last] = at;  // another SPI's slot: the list lock covers it
    } else {
      const uint32_t last = lists_.quiet[--lists_.quiet_count];
      lists_.quiet[at] = last;
      lists_.slot[last] = at;
    }
    s.in_flight = InFlight::kNo;
    PublishCountsLocked();
  }

  // The lock-free copies FoldSpis reads. Plain stores: every writer holds list_lock_. An exit
  // that follows a listing (the guest took the SPI the listing's VDPEND made pending) sees it
  // through the IRS's own ordering.
  void PublishCountsLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(list_lock_) {
    watched_count_.store(lists_.watched_count, std::memory_order_release);
    in_flight_count_.store(lists_.watched_count + lists_.quiet_count, std::memory_order_release);
  }

  void MoveLocked(Spi& s, InFlight to) ABSL_EXCLUSIVE_LOCKS_REQUIRED(list_lock_, s.irq.lock) {
    UnlinkLocked(s);
    LinkLocked(s, to);
  }

  // --- the fold pass (the folder only) ---

  // Queries one in-flight SPI and folds the answer. Returns true when it is idle: neither
  // pending nor active, line low.
  ABSL_ATTRIBUTE_ALWAYS_INLINE bool QueryAndFoldLocked(Spi& s)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(list_lock_, s.irq.lock) {
    const auto icsr =
        hw::arm::IccIcsr::FromRaw(options_.irs->QuerySpi(options_.vm_id, s.irq.intid));
    if (icsr.f() != 0) {
      Bump(stats_.query_faults);
      return false;
    }
    const bool hw_pending = icsr.pending() != 0;
    s.irq.active = icsr.active() != 0;
    if (s.irq.trigger == Trigger::kEdge) {
      s.irq.pending_latch = hw_pending;
    } else {
      if (!hw_pending && !s.irq.active) s.irq.pending_latch = false;
      if (s.irq.line_level && !hw_pending && !IRQVIRT_PLANTED(kGicv5NoLevelRepend)) {
        WritePending(s.irq, true);  // the line is high: the hardware must show it pending
        Bump(stats_.line_reasserts);
      }
    }
    // The IRS's own Pending counts too (the guest may have pended a level SPI itself).
    return !hw_pending && !s.irq.active && !s.irq.IsPending();
  }

  // One pass's queries: pops the idle SPIs, and returns the head of the batch of their
  // notifiers.
  struct PassResult {
    uint32_t batch;    // head of the notifier batch, kEndOfBatch: none
    bool window_open;  // dispatch_ was opened (an SPI with a possible notifier was popped)
  };
  ABSL_ATTRIBUTE_ALWAYS_INLINE PassResult QueryPassLocked()
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(list_lock_) {
    passes_started_.store(passes_started_.load(std::memory_order_relaxed) + 1,
                          std::memory_order_release);
    uint32_t queries = lists_.watched_count;  // each watched SPI once
    uint32_t deactivated = 0;
    uint32_t batch_head = kEndOfBatch;
    uint32_t* batch_tail = &batch_head;
    for (uint32_t i = 0; i < lists_.watched_count;) {
      Spi& s = spis_[lists_.watched[i]];
      platform_.LockIrqsOff(s.irq.lock);
      if (!QueryAndFoldLocked(s)) {
        platform_.UnlockIrqsOff(s.irq.lock);
        ++i;
        continue;
      }
      UnlinkLocked(s);                           // moves the last watched SPI into slot i
      if (deactivated++ == 0) dispatch_.Open();  // before reading the first notifier
      if (s.irq.notifier != nullptr) {
        const uint32_t id = s.irq.intid;
        batch_fn_[id] = s.irq.notifier;
        batch_context_[id] = s.irq.notifier_context;
        batch_next_[id] = kEndOfBatch;
        *batch_tail = id;
        batch_tail = &batch_next_[id];
      }
      platform_.UnlockIrqsOff(s.irq.lock);
    }
    const bool window_open = deactivated != 0;  // notifiers were read (quiet SPIs have none)
    // Quiet SPIs: one probe every kQuietProbeInterval passes, or in every pass that runs only for
    // them (FoldSpis already rations those).
    if (lists_.quiet_count != 0 &&
        (lists_.watched_count == 0 || ++passes_since_quiet_probe_ >= kQuietProbeInterval)) {
      passes_since_quiet_probe_ = 0;
      for (int probe = 0; probe < kQuietProbesPerPass && lists_.quiet_count > 0; ++probe) {
        if (lists_.quiet_cursor >= lists_.quiet_count) lists_.quiet_cursor = 0;
        Spi& s = spis_[lists_.quiet[lists_.quiet_cursor]];
        platform_.LockIrqsOff(s.irq.lock);
        ++queries;
        if (QueryAndFoldLocked(s)) {
          UnlinkLocked(s);  // the cursor now points at the SPI moved into its slot
          ++deactivated;
        } else {
          ++lists_.quiet_cursor;
        }
        platform_.UnlockIrqsOff(s.irq.lock);
      }
    }
    Add(stats_.queries, queries);
    if (deactivated != 0) Add(stats_.deactivations, deactivated);
    return {batch_head, window_open};
  }

  // The folder, list_lock_ held (released on return): a pass; if it found notifications, they
  // are dispatched with no lock held, and exits that came meanwhile get one more pass (they
  // posted `requested`), at most kPassesPerFold passes in all; exits during the last dispatch
  // wait for it and fold themselves.
  ABSL_ATTRIBUTE_ALWAYS_INLINE void RunPassesAndUnlock(hw::IrqFlags f)
      ABSL_UNLOCK_FUNCTION(list_lock_) {
    for (uint32_t pass = 1;; ++pass) {
      const PassResult r = QueryPassLocked();
      const uint32_t batch = r.batch;
      if (batch == kEndOfBatch) {
        // Before the unlock, so that the next folder's Open follows it.
        if (r.window_open) dispatch_.Close();
        platform_.UnlockIrqRestore(list_lock_, f);
        return;
      }
      const uint32_t dispatching = kDispatching | (pass >= kPassesPerFold ? kLastDispatch : 0);
      dispatch_state_.store(dispatching, std::memory_order_relaxed);
      platform_.UnlockIrqRestore(list_lock_, f);
      // The batch is ours alone: no pass starts while dispatch_state_ is set.
      for (uint32_t id = batch; id != kEndOfBatch; id = batch_next_[id]) {
        batch_fn_[id](batch_context_[id], id);
        Bump(stats_.notifications);
      }
      dispatch_.Close();
      uint32_t expected = dispatching;
      if (dispatch_state_.compare_exchange_strong(expected, 0, std::memory_order_acq_rel)) {
        return;  // nobody asked for more
      }
      // An exit asked (kPassRequested): one more pass, which serves every exit since.
      f = platform_.LockIrqSave(list_lock_);
      dispatch_state_.store(0, std::memory_order_relaxed);
      Bump(stats_.extra_passes);
    }
  }

  absl::Status UnknownSpi(uint32_t id) const {
    return absl::InvalidArgumentError(absl::StrFormat(
        "SPI %u does not exist (this VM has SPIs 0..%u)", id, options_.num_spis - 1));
  }
  absl::Status UnknownVcpu(uint32_t vcpu) const {
    return absl::InvalidArgumentError(
        absl::StrFormat("vCPU %u does not exist (this VM has %u)", vcpu, options_.num_vcpus));
  }
  absl::Status CheckPpi(uint32_t vcpu, uint32_t ppi) const {
    if (vcpu >= options_.num_vcpus) return UnknownVcpu(vcpu);
    if (ppi >= static_cast<uint32_t>(hw::Gicv5PpiState::kNumPpis)) {
      return absl::InvalidArgumentError(absl::StrFormat("PPI %u: GICv5 has PPIs 0..127", ppi));
    }
    return absl::OkStatus();
  }

  static bool Bit(const uint64_t (&words)[2], uint32_t n) {
    return (words[n / 64] >> (n % 64)) & 1;
  }
  static void SetBit(uint64_t (&words)[2], uint32_t n, bool v) {
    const uint64_t m = uint64_t{1} << (n % 64);
    words[n / 64] = v ? (words[n / 64] | m) : (words[n / 64] & ~m);
  }
  static void Count(std::atomic<uint64_t>& c) { c.fetch_add(1, std::memory_order_relaxed); }
  static void Bump(std::atomic<uint64_t>& c) { Add(c, 1); }
  static void Add(std::atomic<uint64_t>& c, uint64_t n) {
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }

  static constexpr uint32_t kEndOfBatch = ~uint32_t{0};

  P& platform_;
  const VgicV5Options options_;
  std::unique_ptr<Spi[]> spis_;
  std::unique_ptr<PpiBank[]> ppis_;

  // The in-flight lists: dense arrays of SPI IDs, each SPI's index in its list in `slot`.
  struct InFlightLists {
    std::unique_ptr<uint32_t[]> slot, watched, quiet;
    uint32_t watched_count = 0;
    uint32_t quiet_count = 0;
    uint32_t quiet_cursor = 0;
  };
  // Taken by the folder, by injections that put an SPI in flight and by notifier changes; not
  // from interrupt handlers that can interrupt a holder.
  SpinLock list_lock_;
  InFlightLists lists_ ABSL_GUARDED_BY(list_lock_);
  std::atomic<uint32_t> in_flight_count_{0};  // written under list_lock_; read lock-free
  std::atomic<uint32_t> watched_count_{0};    // the same, for the watched list alone
  std::atomic<uint32_t> quiet_only_exits_{0};
  uint32_t passes_since_quiet_probe_ ABSL_GUARDED_BY(list_lock_) = 0;

  // Who folds (see FoldSpis): the folder sets kDispatching (and kLastDispatch) under list_lock_
  // and clears the word with one compare-exchange, without the lock, after its notifiers; exits
  // add kPassRequested under list_lock_. Lock-free by design where it is read without the lock.
  static constexpr uint32_t kDispatching = 1;    // a folder calls the notifiers of its pass
  static constexpr uint32_t kLastDispatch = 2;   // ... of the last pass it owes
  static constexpr uint32_t kPassRequested = 4;  // an exit asked it for one more pass
  std::atomic<uint32_t> dispatch_state_{0};
  std::atomic<uint64_t> passes_started_{0};  // written under list_lock_; read lock-free
  std::atomic<uint32_t> waiting_exits_{0};
  // The notification batch: owned by the folder that set kDispatching, until it clears it.
  std::unique_ptr<uint32_t[]> batch_next_;
  std::unique_ptr<DeactivationNotifier[]> batch_fn_;
  std::unique_ptr<void*[]> batch_context_;
  DispatchEpoch dispatch_;

  AtomicStats stats_;
};

}  // namespace irqvirt::vgic

#endif  // IRQVIRT_VGIC_VGIC_V5_H_
