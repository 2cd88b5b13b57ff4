// SPDX-License-Identifier: MIT
// The vGIC core for GICv3 guests: per-interrupt state, per-vCPU AP lists, list-register flush
// before guest entry and fold after exit, LR overflow without guest live-lock, the DIR-trap
// handler, injection and deactivation notifiers. The behaviour follows KVM's LR-overflow design
// as merged for Linux 6.19 with the March 2026 EOIcount fix (shared/reference/gic.md §3); the
// code is this library's own. GICv2 guests (VgicOptions::guest_model) differ only in their SGIs,
// which carry a sender.
//
// How a hypervisor drives it, per vCPU run-loop iteration:
//   vgic.Flush(vcpu, state);  backend.Restore(state);   // before entering the guest
//   ... guest runs; it exits (maintenance interrupt, trapped DIR, kick, anything) ...
//   backend.Save(state);      vgic.Fold(vcpu, state);   // right after the exit
//   if the exit was a trapped ICV_DIR_EL1 write (GICv2: a GICV_DIR write, whose page the
//   embedder leaves unmapped): vgic.HandleDirTrap(vcpu, written_value);
//   if it was another trapped ICV_* access (a CPU without TDIR traps DIR with TC, which also
//   traps PMR, RPR and CTLR; see trap_all_cpu_interface_accesses), emulate it between the two
//   halves: backend.Save(state); vgic.EmulateCpuInterfaceAccess(vcpu, state, ...);
//   vgic.Fold(vcpu, state);
// `state` is the vCPU's own hw::VgicCpuState, kept across iterations (it carries the guest's
// VMCR and APRs). Every Flush is followed by exactly one Fold: an entry abandoned after Flush
// (a signal, a pending request) calls Fold on the state as Flush left it. Flush, Fold and
// HandleDirTrap of one vCPU are called by that vCPU's run loop only, so they never overlap.
//
// Overflow, in short: the AP list is never sorted as a whole. Flush makes one pass over the
// list, counting pending and active interrupts and keeping the best `num_list_registers` by the
// architectural order (SortKey), then fills the LRs from them. When interrupts stay outside the
// LRs it asks for maintenance interrupts: NPIE (no LR pending, refill), UIE (LRs draining),
// LRENPIE (the guest EOIed an interrupt that is not in an LR: EOIcount), and one group-enable MI
// per group so that a group the guest enables or disables is re-sorted at once. It sets TDIR
// when active interrupts do not all fit, and in every VM that has had an SPI in flight (an SPI
// may be deactivated on another vCPU; see EnsureSpiDirTrapping), so every DIR then traps to
// HandleDirTrap. Fold deactivates
// EOIcount interrupts by taking, in list order, the active interrupts that were *not* in an LR
// during the run (EOIcount only ever counts those; gic.md §3.8 [FIX]).
//
// Locks (all IRQ-safe spinlocks from the platform; none is taken by an interrupt handler that
// can interrupt a holder on the same CPU, since every holder has interrupts off):
//   1. Vcpu::ap_lock  — one vCPU's AP list. Two are taken in ascending vCPU order.
//   2. VgicIrq::lock  — one interrupt's state. Always after any AP list lock.
// No lock is held while notifiers or the kick callback run (notifiers run after every lock is
// released; kicks are issued after unlocking).
//
// Memory: every interrupt, every AP list (capacity: 32 private + all SPIs) and every batch is
// allocated by Create. Flush, Fold, Inject, HandleDirTrap and notifier dispatch allocate nothing.
#ifndef IRQVIRT_VGIC_VGIC_H_
#define IRQVIRT_VGIC_VGIC_H_

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <new>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "hw/arm/gicv3_regs.h"
#include "irqvirt/planted_bug.h"
#include "hw/physical_gic.h"
#include "hw/platform.h"
#include "hw/vgic_cpu_state.h"
#include "irqvirt/vgic/best_by_key.h"
#include "irqvirt/vgic/cpu_interface_emulation.h"
#include "irqvirt/vgic/dispatch_epoch.h"
#include "irqvirt/vgic/list_register.h"
#include "irqvirt/vgic/notification_batch.h"
#include "irqvirt/vgic/vgic_irq.h"

namespace irqvirt::vgic {

// Makes vCPU `vcpu` notice new interrupts: wake it if it is blocked, or force an exit if it runs
// in the guest. Called with no vGIC lock held; must not call back into the vGIC synchronously.
// The first SPI to go in flight kicks every vCPU before the SPI becomes visible, so that each
// re-enters with TDIR (see VgicOptions::kick_and_wait).
using KickVcpuFn = void (*)(void* context, uint32_t vcpu);

struct VgicOptions {
  uint32_t num_vcpus = 1;
  uint32_t num_spis = 64;      // a multiple of 32, at most kMaxSpis rounded down (960)
  int num_list_registers = 4;  // from the backend's features (1..16)
  // ICH_VTR_EL2.TDS. Without it the core traps DIR with TC, which traps PMR, RPR and CTLR too:
  // the embedder emulates those through EmulateCpuInterfaceAccess.
  bool can_trap_dir = true;
  // Trap every ICV_* access (TC, TALL0 and TALL1 on every entry), for CPUs whose errata make
  // the virtual CPU interface unusable without traps. Each access then goes through
  // EmulateCpuInterfaceAccess.
  bool trap_all_cpu_interface_accesses = false;
  // The virtual CPU interface's priority and preemption bits (ICH_VTR_EL2), for emulation.
  CpuInterfaceShape cpu_interface{};
  // kGicV2: the guest sees SGI senders (InjectSgi); at most 8 vCPUs. Either model runs on
  // either backend that can host it (a GICv2 host runs only GICv2 guests).
  GuestModel guest_model = GuestModel::kGicV3;
  hw::PhysicalGic* physical_gic = nullptr;  // required once a HW mapping is made
  KickVcpuFn kick = nullptr;
  // Optional, same context: like `kick`, but returns only once every later guest entry of
  // `vcpu` runs with an ICH_HCR_EL2 computed by a Flush that started after the call (the vCPU
  // has left the guest and will re-flush, or it consumes the kick by re-flushing before it
  // enters), as a KVM_REQUEST_WAIT request does. Used once per VM, when its first SPI is
  // configured: every vCPU must run with TDIR before an SPI can be acknowledged on one vCPU and
  // handed to another for a DIR. Without it that holds as far as `kick` lands in time.
  KickVcpuFn kick_and_wait = nullptr;
  void* kick_context = nullptr;
};

struct IrqConfig {
  bool enabled = true;
  uint8_t priority = 0xa0;
  uint8_t group = 1;
  Trigger trigger = Trigger::kEdge;
};

// What a hypervisor and its tests can read about one vCPU (relaxed counters).
struct VgicVcpuStats {
  uint64_t flushes = 0;
  uint64_t overflowing_flushes = 0;     // more interrupts than LRs
  uint64_t maintenance_interrupts = 0;  // exits that found ICH_MISR non-zero
  uint64_t eoicount_deactivations = 0;  // deactivated outside the LRs through EOIcount
  uint64_t dir_traps = 0;
  uint64_t dir_deactivations = 0;        // deactivated outside the LRs through a trapped DIR
  uint64_t cross_vcpu_dir_requests = 0;  // DIR for an interrupt in another vCPU's LR
  uint64_t migrations = 0;               // interrupts moved to another vCPU's AP list
  uint64_t emulated_cpu_interface_accesses = 0;  // trapped ICV_* accesses other than DIR

  // Adds another vCPU's counters (a VM's totals).
  VgicVcpuStats& operator+=(const VgicVcpuStats& o) {
    flushes += o.flushes;
    overflowing_flushes += o.overflowing_flushes;
    maintenance_interrupts += o.maintenance_interrupts;
    eoicount_deactivations += o.eoicount_deactivations;
    dir_traps += o.dir_traps;
    dir_deactivations += o.dir_deactivations;
    cross_vcpu_dir_requests += o.cross_vcpu_dir_requests;
    migrations += o.migrations;
    emulated_cpu_interface_accesses += o.emulated_cpu_interface_accesses;
    return *this;
  }
};

// A consistent copy of one interrupt's state, for tests and introspection.
struct IrqSnapshot {
  int32_t on_vcpu_list;
  int32_t target;
  bool pending_latch, line_level, active, enabled, on_lr, hw;
  uint8_t priority, group;
  Trigger trigger;
};

template <typename P>
requires hw::IrqSafeLocks<P>
class Vgic {
 public:
  using SpinLock = typename P::SpinLock;
  using Irq = VgicIrq<SpinLock>;

  static absl::StatusOr<std::unique_ptr<Vgic>> Create(P& platform, const VgicOptions& o) {
    if (o.num_vcpus == 0 || o.num_vcpus > 4096) {
      return absl::InvalidArgumentError(
          absl::StrFormat("vGIC: %u vCPUs; a VM has 1..4096", o.num_vcpus));
    }
    if (o.num_spis % 32 != 0 || o.num_spis > kMaxSpis) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "vGIC: %u SPIs; the count must be a multiple of 32 and at most 960", o.num_spis));
    }
    if (o.num_list_registers < 1 || o.num_list_registers > hw::VgicCpuState::kMaxListRegisters) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "vGIC: %d list registers; the architecture has 1..16", o.num_list_registers));
    }
    if (o.guest_model == GuestModel::kGicV2 && o.num_vcpus > kGicV2MaxCpus) {
      return absl::InvalidArgumentError(
          absl::StrFormat("vGIC: %u vCPUs; a GICv2 guest has at most %u (SGI senders are 3 bits)",
                          o.num_vcpus, kGicV2MaxCpus));
    }
    const CpuInterfaceShape& shape = o.cpu_interface;
    if (shape.priority_bits < 5 || shape.priority_bits > 8 || shape.preemption_bits < 5 ||
        shape.preemption_bits > 7 || shape.preemption_bits > shape.priority_bits) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "vGIC: %d priority and %d preemption bits; a GICv3 virtual CPU interface has 5..8 "
          "and 5..7 (at most the priority bits)",
          shape.priority_bits, shape.preemption_bits));
    }
    return std::unique_ptr<Vgic>(new Vgic(platform, o));
  }

  Vgic(const Vgic&) = delete;
  Vgic& operator=(const Vgic&) = delete;

  uint32_t num_vcpus() const { return options_.num_vcpus; }
  uint32_t num_spis() const { return options_.num_spis; }
  uint32_t num_intids() const { return kFirstSpi + options_.num_spis; }

  // ---------------------------------------------------------------- distributor (cold paths)

  // Disabling drops pending interrupts from the AP lists (active ones stay until deactivated);
  // enabling queues every pending, enabled interrupt again.
  void SetDistributorEnabled(bool enabled) {
    distributor_enabled_.store(enabled, std::memory_order_seq_cst);
    for (uint32_t v = 0; v < options_.num_vcpus; ++v) {
      vcpus_[v].needs_prune.store(true, std::memory_order_relaxed);
      Kick(v);
    }
    if (!enabled) return;
    auto requeue = [this](Irq& irq) {
      const hw::IrqFlags f = platform_.LockIrqSave(irq.lock);
      QueueAndUnlock(irq, f);
    };
    for (uint32_t v = 0; v < options_.num_vcpus; ++v) {
      for (uint32_t i = 0; i < kNumPrivateIrqs; ++i) requeue(vcpus_[v].private_irqs[i]);
    }
    for (uint32_t s = 0; s < options_.num_spis; ++s) requeue(spis_[s]);
  }

  // Enable, priority, group and trigger of an interrupt. `vcpu` names the owner for SGIs and
  // PPIs and is ignored for SPIs.
  absl::Status ConfigureIrq(uint32_t vcpu, uint32_t intid, const IrqConfig& c) {
    if (c.group > 1) {
      return absl::InvalidArgumentError(absl::StrFormat("INTID %u: group %u", intid, c.group));
    }
    if (intid < kNumSgis && c.trigger != Trigger::kEdge) {
      return absl::InvalidArgumentError(absl::StrFormat("SGI %u: SGIs are edge-triggered", intid));
    }
    absl::StatusOr<Irq*> irq = Lookup(vcpu, intid);
    if (!irq.ok()) return irq.status();
    return Update(
        **irq,
        [&](Irq& i) ABSL_EXCLUSIVE_LOCKS_REQUIRED(i.lock) {
          i.enabled = c.enabled;
          i.priority = c.priority;
          i.group = c.group;
          i.trigger = c.trigger;
        },
        [&](const Irq& i) ABSL_EXCLUSIVE_LOCKS_REQUIRED(i.lock) {
          return i.trigger == c.trigger ? absl::OkStatus() : RefuseWhileListed(i, "the trigger");
        });
  }

  absl::Status SetEnabled(uint32_t vcpu, uint32_t intid, bool enabled) {
    absl::StatusOr<Irq*> irq = Lookup(vcpu, intid);
    if (!irq.ok()) return irq.status();
    return Update(**irq,
                  [&](Irq& i) ABSL_EXCLUSIVE_LOCKS_REQUIRED(i.lock) { i.enabled = enabled; });
  }

  absl::Status SetPriority(uint32_t vcpu, uint32_t intid, uint8_t priority) {
    absl::StatusOr<Irq*> irq = Lookup(vcpu, intid);
    if (!irq.ok()) return irq.status();
    return Update(**irq,
                  [&](Irq& i) ABSL_EXCLUSIVE_LOCKS_REQUIRED(i.lock) { i.priority = priority; });
  }

  // Routes an SPI to a vCPU. An SPI that is active stays where it is until it is deactivated,
  // then moves (gic.md §3.3).
  absl::Status RouteSpi(uint32_t intid, uint32_t vcpu) {
    absl::StatusOr<Irq*> spi = LookupSpi(intid);
    if (!spi.ok()) return spi.status();
    if (vcpu >= options_.num_vcpus) return UnknownVcpu(vcpu);
    return Update(**spi, [&](Irq& i) ABSL_EXCLUSIVE_LOCKS_REQUIRED(i.lock) {
      i.target = static_cast<int32_t>(vcpu);
    });
  }

  // Backs a virtual interrupt with physical INTID `pintid` (a timer PPI, a passthrough SPI):
  // its LRs carry HW = 1 and the guest's deactivation deactivates the physical interrupt.
  absl::Status MapHw(uint32_t vcpu, uint32_t intid, uint32_t pintid) {
    if (options_.physical_gic == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrFormat("INTID %u: HW mapping needs VgicOptions::physical_gic", intid));
    }
    if (pintid < kNumSgis || pintid >= 1020) {
      return absl::InvalidArgumentError(
          absl::StrFormat("INTID %u: physical INTID %u is not a PPI or SPI", intid, pintid));
    }
    absl::StatusOr<Irq*> irq = Lookup(vcpu, intid);
    if (!irq.ok()) return irq.status();
    return Update(
        **irq,
        [&](Irq& i) ABSL_EXCLUSIVE_LOCKS_REQUIRED(i.lock) {
          i.hw = true;
          i.hwintid = pintid;
        },
        [](const Irq& i) ABSL_EXCLUSIVE_LOCKS_REQUIRED(i.lock) {
          return RefuseWhileListed(i, "the HW mapping");
        });
  }

  // Registers the deactivation notifier of a level-triggered SPI (one per SPI).
  absl::Status SetDeactivationNotifier(uint32_t intid, DeactivationNotifier fn, void* context) {
    if (intid < kFirstSpi || intid >= num_intids() || fn == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrFormat("INTID %u: notifiers are for SPIs %u..%u, with a function", intid,
                          kFirstSpi, num_intids() - 1));
    }
    Irq& irq = spis_[intid - kFirstSpi];
    const hw::IrqFlags f = platform_.LockIrqSave(irq.lock);
    if (irq.notifier != nullptr) {
      platform_.UnlockIrqRestore(irq.lock, f);
      return absl::AlreadyExistsError(
          absl::StrFormat("SPI %u already has a deactivation notifier", intid));
    }
    irq.notifier = fn;
    irq.notifier_context = context;
    platform_.UnlockIrqRestore(irq.lock, f);
    return absl::OkStatus();
  }

  // Removes it. Returns once no call of it is running or about to run, so `context` may be
  // freed then. Must not be called from a notifier.
  absl::Status RemoveDeactivationNotifier(uint32_t intid) {
    absl::StatusOr<Irq*> spi = LookupSpi(intid);
    if (!spi.ok()) return spi.status();
    Irq& irq = **spi;
    const hw::IrqFlags f = platform_.LockIrqSave(irq.lock);
    const bool had = irq.notifier != nullptr;
    irq.notifier = nullptr;
    irq.notifier_context = nullptr;
    platform_.UnlockIrqRestore(irq.lock, f);
    // A vCPU that collected the old notifier is inside a dispatch window (odd epoch): wait for
    // it to close. One that opens a window now reads the cleared notifier. Also on NotFound: a
    // concurrent removal may have cleared it while a vCPU still calls it.
    for (uint32_t v = 0; v < options_.num_vcpus; ++v) vcpus_[v].dispatch.WaitForOpenWindow();
    if (!had) {
      return absl::NotFoundError(absl::StrFormat("SPI %u has no deactivation notifier", intid));
    }
    return absl::OkStatus();
  }

  // ============================================ guest-facing distributor access (cold paths)
  // What the GICD/GICR emulation (distributor.h, redistributor.h, sgi_generation.h) needs
  // beyond the host's configuration calls above: the guest's view of one interrupt's group,
  // trigger, pending latch, active state and routing. Every change goes through Update, so an
  // interrupt is queued when it becomes deliverable and dropped or moved when it no longer
  // belongs where it is. A guest's MMIO access is emulated on its own vCPU's run loop after
  // Fold: that vCPU's LRs are folded, other vCPUs' may still hold an interrupt (on_lr), and
  // the shadow state read here is then as of their last exit.

  GuestModel guest_model() const { return options_.guest_model; }
  bool distributor_enabled() const { return DistributorEnabled(); }

  absl::Status SetGroup(uint32_t vcpu, uint32_t intid, uint8_t group) {
    if (group > 1) {
      return absl::InvalidArgumentError(absl::StrFormat("INTID %u: group %u", intid, group));
    }
    absl::StatusOr<Irq*> irq = Lookup(vcpu, intid);
    if (!irq.ok()) return irq.status();
    return Update(**irq, [&](Irq& i) ABSL_EXCLUSIVE_LOCKS_REQUIRED(i.lock) { i.group = group; });
  }

  // SGIs are always edge-triggered; the trigger of a pending or active interrupt does not
  // change (the architecture makes that UNPREDICTABLE; the in-flight state depends on it).
  absl::Status SetTrigger(uint32_t vcpu, uint32_t intid, Trigger trigger) {
    if (intid < kNumSgis) {
      return absl::InvalidArgumentError(absl::StrFormat("SGI %u: SGIs are edge-triggered", intid));
    }
    absl::StatusOr<Irq*> irq = Lookup(vcpu, intid);
    if (!irq.ok()) return irq.status();
    return Update(
        **irq, [&](Irq& i) ABSL_EXCLUSIVE_LOCKS_REQUIRED(i.lock) { i.trigger = trigger; },
        [&](const Irq& i) ABSL_EXCLUSIVE_LOCKS_REQUIRED(i.lock) {
          return i.trigger == trigger ? absl::OkStatus() : RefuseWhileListed(i, "the trigger");
        });
  }

  // ISPENDR/ICPENDR: sets or clears the pending latch (a level line that stays high keeps a
  // level interrupt pending). A GICv2 guest's SGIs are pended per sender (SetSgiSources).
  absl::Status SetPendingLatch(uint32_t vcpu, uint32_t intid, bool pending) {
    absl::StatusOr<Irq*> found = Lookup(vcpu, intid);
    if (!found.ok()) return found.status();
    if (options_.guest_model == GuestModel::kGicV2 && intid < kNumSgis) {
      return absl::FailedPreconditionError(
          absl::StrFormat("SGI %u of a GICv2 guest is pended per sender (SetSgiSources)", intid));
    }
    return Update(**found,
                  [&](Irq& i) ABSL_EXCLUSIVE_LOCKS_REQUIRED(i.lock) { i.pending_latch = pending; });
  }

  // GICv2 SPENDSGIR/CPENDSGIR: sets or clears the senders in `sources` of SGI `sgi` pending on
  // vCPU `target`.
  absl::Status SetSgiSources(uint32_t target, uint32_t sgi, uint8_t sources, bool pending) {
    if (options_.guest_model != GuestModel::kGicV2 || sgi >= kNumSgis) {
      return absl::FailedPreconditionError("SGI senders exist for GICv2 guests' SGIs only");
    }
    if (target >= options_.num_vcpus) return UnknownVcpu(target);
    const auto existing = static_cast<uint8_t>((1u << options_.num_vcpus) - 1);
    sources &= existing;
    return Update(vcpus_[target].private_irqs[sgi],
                  [&](Irq& i) ABSL_EXCLUSIVE_LOCKS_REQUIRED(i.lock) {
                    if (i.hw) return;
                    i.sgi_sources = pending ? static_cast<uint8_t>(i.sgi_sources | sources)
                                            : static_cast<uint8_t>(i.sgi_sources & ~sources);
                    i.pending_latch = i.sgi_sources != 0;
                  });
  }

  // The senders of SGI `sgi` waiting on vCPU `target` (a GICv2 guest's; 0 otherwise).
  absl::StatusOr<uint8_t> SgiSources(uint32_t target, uint32_t sgi) {
    absl::StatusOr<Irq*> found = Lookup(target, sgi);
    if (!found.ok()) return found.status();
    Irq& irq = **found;
    const hw::IrqFlags f = platform_.LockIrqSave(irq.lock);
    const uint8_t s = HasSgiSources(irq) ? irq.sgi_sources : 0;
    platform_.UnlockIrqRestore(irq.lock, f);
    return s;
  }

  // ISACTIVER/ICACTIVER written by vCPU `accessor` (whose deactivation notifications it
  // dispatches). Activating queues the interrupt on its target; a GICv2 SGI becomes active as
  // if sent by the accessor. Deactivating one in no LR deactivates it now (as a DIR would,
  // physical INTID included); one in another running vCPU's LR is deactivated by that vCPU's
  // next fold, which the kick forces. Not done (the guest owns that state until it exits): an
  // interrupt sitting in a running vCPU's LR is not made active, nor is a HW-mapped one.
  absl::Status SetActive(uint32_t accessor, uint32_t vcpu, uint32_t intid, bool active) {
    if (accessor >= options_.num_vcpus) return UnknownVcpu(accessor);
    absl::StatusOr<Irq*> found = Lookup(vcpu, intid);
    if (!found.ok()) return found.status();
    Irq& irq = **found;
    if (active) {
      return Update(irq, [&](Irq& i) ABSL_EXCLUSIVE_LOCKS_REQUIRED(i.lock) {
        if (i.on_lr || i.hw || i.active) return;
        i.active = true;
        if (HasSgiSources(i)) i.active_source = static_cast<uint8_t>(accessor);
      });
    }
    Vcpu& vc = vcpus_[accessor];
    OpenDispatchWindow(vc);
    const hw::IrqFlags f = platform_.LockIrqSave(irq.lock);
    const int32_t holder = irq.vcpu;
    const bool in_lr = irq.on_lr;
    if (in_lr) {
      irq.deactivate_requested = true;
    } else if (irq.active) {
      DeactivateOutsideLrs(vc, irq);
    }
    platform_.UnlockIrqRestore(irq.lock, f);
    if (holder != kNoVcpu && !in_lr) PruneOne(static_cast<uint32_t>(holder), irq);
    CloseDispatchWindowAndNotify(vc);
    if (holder != kNoVcpu) Kick(static_cast<uint32_t>(holder));
    return absl::OkStatus();
  }

  // Routes SPI `intid` as the guest programmed it: `routing` is the register value to read
  // back (ITARGETSR byte or IROUTER), `target` the vCPU it names (kNoVcpu: none, so the SPI is
  // forwarded nowhere).
  absl::Status SetSpiRouting(uint32_t intid, uint64_t routing, int32_t target) {
    absl::StatusOr<Irq*> spi = LookupSpi(intid);
    if (!spi.ok()) return spi.status();
    if (target != kNoVcpu && (target < 0 || static_cast<uint32_t>(target) >= num_vcpus())) {
      return UnknownVcpu(static_cast<uint32_t>(target));
    }
    return Update(**spi, [&](Irq& i) ABSL_EXCLUSIVE_LOCKS_REQUIRED(i.lock) {
      i.target = target;
      i.guest_routing = routing;
      i.guest_routing_target = target;
    });
  }

  struct SpiRouting {
    int32_t target;
    bool guest_word_current;  // guest_word is what the guest wrote and still routes the SPI
    uint64_t guest_word;
  };
  absl::StatusOr<SpiRouting> GetSpiRouting(uint32_t intid) {
    absl::StatusOr<Irq*> spi = LookupSpi(intid);
    if (!spi.ok()) return spi.status();
    Irq& irq = **spi;
    const hw::IrqFlags f = platform_.LockIrqSave(irq.lock);
    const SpiRouting r{irq.target, irq.guest_routing_target == irq.target, irq.guest_routing};
    platform_.UnlockIrqRestore(irq.lock, f);
    return r;
  }

  // One AP-list entry as the invariant checks see it (introspection; allocates).
  struct ApListEntry {
    uint32_t intid;
    int32_t owner;      // the vCPU a private interrupt belongs to; kNoVcpu for SPIs
    int32_t listed_on;  // the interrupt's own record of its list
    bool pending, active, on_lr;
  };
  std::vector<ApListEntry> ApListEntries(uint32_t vcpu) {
    std::vector<ApListEntry> out;
    if (vcpu >= options_.num_vcpus) return out;
    Vcpu& vc = vcpus_[vcpu];
    const hw::IrqFlags f = platform_.LockIrqSave(vc.ap_lock);
    out.reserve(vc.ap_count);
    for (uint32_t i = 0; i < vc.ap_count; ++i) {
      Irq& irq = *vc.ap_list[i];
      platform_.LockIrqsOff(irq.lock);
      out.push_back({irq.intid, irq.is_spi() ? kNoVcpu : irq.target, irq.vcpu, irq.IsPending(),
                     irq.active, irq.on_lr});
      platform_.UnlockIrqsOff(irq.lock);
    }
    platform_.UnlockIrqRestore(vc.ap_lock, f);
    return out;
  }
  // ========================================= end of guest-facing distributor access section

  // ------------------------------------------------------------------------- injection

  // A device (or the hypervisor) drives interrupt `intid`: for a level interrupt `level` is the
  // line, for an edge interrupt `level = true` is an edge and `false` does nothing. `vcpu`
  // names the target for SGIs and PPIs and is ignored for SPIs. No allocation.
  absl::Status Inject(uint32_t vcpu, uint32_t intid, bool level) {
    absl::StatusOr<Irq*> found = Lookup(vcpu, intid);
    if (!found.ok()) return found.status();
    Irq& irq = **found;
    const hw::IrqFlags f = platform_.LockIrqSave(irq.lock);
    if (irq.trigger == Trigger::kLevel) {
      if (irq.line_level == level) {
        platform_.UnlockIrqRestore(irq.lock, f);
        return absl::OkStatus();
      }
      irq.line_level = level;
    } else {
      if (!level || (IRQVIRT_PLANTED(kVgicDropsEdgeWhileActive) && irq.active)) {
        platform_.UnlockIrqRestore(irq.lock, f);
        return absl::OkStatus();
      }
      irq.pending_latch = true;
      // A GICv2 guest's SGI needs a sender; one injected without naming it comes from CPU 0.
      if (HasSgiSources(irq)) irq.sgi_sources |= 1;
    }
    QueueAndUnlock(irq, f);
    return absl::OkStatus();
  }

  // A GICv2 guest's SGI `intid` sent by vCPU `source` to vCPU `target` (the guest wrote
  // GICD_SGIR on `source`). The guest acknowledges it once per sender, with the sender in
  // GICV_IAR[12:10]. No allocation.
  absl::Status InjectSgi(uint32_t target, uint32_t intid, uint32_t source) {
    if (options_.guest_model != GuestModel::kGicV2) {
      return absl::FailedPreconditionError(
          "InjectSgi: SGI senders exist for GICv2 guests only (VgicOptions::guest_model); a "
          "GICv3 guest's SGI is an Inject");
    }
    if (intid >= kNumSgis) {
      return absl::InvalidArgumentError(absl::StrFormat("INTID %u is not an SGI (0..15)", intid));
    }
    if (target >= options_.num_vcpus) return UnknownVcpu(target);
    if (source >= options_.num_vcpus) return UnknownVcpu(source);
    Irq& irq = vcpus_[target].private_irqs[intid];
    const hw::IrqFlags f = platform_.LockIrqSave(irq.lock);
    irq.sgi_sources |= static_cast<uint8_t>(1u << source);
    irq.pending_latch = true;
    QueueAndUnlock(irq, f);
    return absl::OkStatus();
  }

  // ------------------------------------------------------------------------- run loop

  // Before entering the guest: fill state.lr and state.hcr. Hot path.
  absl::Status Flush(uint32_t vcpu, hw::VgicCpuState& state) {
    if (vcpu >= options_.num_vcpus) return UnknownVcpu(vcpu);
    Vcpu& vc = vcpus_[vcpu];
    const auto vmcr = hw::arm::IchVmcr::FromRaw(state.vmcr);
    vc.vmcr.store(state.vmcr, std::memory_order_relaxed);
    const bool g0 = vmcr.veng0() != 0;
    const bool g1 = vmcr.veng1() != 0;
    const int max_lrs = options_.num_list_registers;

    BestByKey<Irq, hw::VgicCpuState::kMaxListRegisters> best(max_lrs);  // one per LR
    int nr_pend = 0;
    int nr_pend_takeable = 0;  // pending in a group the guest has enabled
    int nr_act = 0;
    int nr_sgi = 0;
    bool other_targets = false;

    int used = 0;
    const hw::IrqFlags f = platform_.LockIrqSave(vc.ap_lock);
    // When every entry fits in the LRs no order is needed: one locked pass fills them.
    const bool fits = vc.ap_count <= static_cast<uint32_t>(max_lrs);
    for (uint32_t i = 0; i < vc.ap_count;) {
      Irq& irq = *vc.ap_list[i];
      platform_.LockIrqsOff(irq.lock);
      const int32_t oracle = irq.Oracle(DistributorEnabled());
      if (oracle == kNoVcpu) {
        RemoveLocked(vc, irq);  // moves the last entry into slot i
        platform_.UnlockIrqsOff(irq.lock);
        continue;
      }
      ++i;
      if (oracle != static_cast<int32_t>(vcpu)) {
        other_targets = true;  // handed over at the end of this flush
        platform_.UnlockIrqsOff(irq.lock);
        continue;
      }
      if (irq.active) {
        ++nr_act;
      } else {
        ++nr_pend;
        if (irq.group == 0 ? g0 : g1) ++nr_pend_takeable;
      }
      if (irq.is_sgi()) ++nr_sgi;
      if (fits) {
        PopulateLr(vc, irq, state, used++);
        platform_.UnlockIrqsOff(irq.lock);
        continue;
      }
      const uint64_t key = SortKey(irq, g0, g1);
      platform_.UnlockIrqsOff(irq.lock);
      best.Offer(key, &irq);
    }

    // Overflow: fill the LRs with the best, in order. The AP list lock keeps every candidate on
    // this list; its state may have changed since the scan (an injection, a reroute), so the
    // oracle is checked again.
    for (int c = 0; c < best.size(); ++c) {
      Irq& irq = best[c];
      platform_.LockIrqsOff(irq.lock);
      if (irq.Oracle(DistributorEnabled()) == static_cast<int32_t>(vcpu)) {
        PopulateLr(vc, irq, state, used++);
      }
      platform_.UnlockIrqsOff(irq.lock);
    }
    platform_.UnlockIrqRestore(vc.ap_lock, f);
    vc.used_lrs = used;
    state.used_lrs = used;

    const bool outside = nr_pend + nr_act > max_lrs;
    const bool active_outside = outside && nr_act > 0;
    hw::arm::IchHcr hcr;
    hcr.set_en(1)
        // NPIE only for pending interrupts the guest can take: with the LRs full of enabled-
        // group active ones and disabled-group pending ones outside, "no LR pending" would hold
        // from entry on and the vCPU would exit forever. A group the guest enables raises its
        // own MI (VGrp<n>EIE below), which re-sorts.
        .set_npie(nr_pend_takeable > max_lrs && !IRQVIRT_PLANTED(kVgicNeverSetsNpie) ? 1 : 0)
        .set_lrenpie(active_outside ? 1 : 0)
        // U means "at most one valid LR": with a single LR it would never deassert.
        .set_uie(outside && max_lrs > 1 ? 1 : 0)
        .set_vsgieoicount(nr_sgi == 0 ? 1 : 0)
        .set_vgrp0die(g0 ? 1 : 0)
        .set_vgrp0eie(g0 ? 0 : 1)
        .set_vgrp1die(g1 ? 1 : 0)
        .set_vgrp1eie(g1 ? 0 : 1);
    const bool trap_dir =
        active_outside || spi_dir_trapping_.load(std::memory_order_seq_cst) != kDirTrappingOff;
    if (options_.trap_all_cpu_interface_accesses) {
      hcr.set_tc(1).set_tall0(1).set_tall1(1);
    } else if (trap_dir) {
      // Without TDS, TDIR is RES0: only TC traps DIR (with PMR, RPR, CTLR, which are emulated).
      if (options_.can_trap_dir) {
        hcr.set_tdir(1);
      } else {
        hcr.set_tc(1);
      }
    }
    state.hcr = hcr.raw();

    Count(vc.stats.flushes);
    if (outside) Count(vc.stats.overflowing_flushes);
    // Re-routed interrupts move now, not after the run: their new vCPU may be waiting.
    if (other_targets) Prune(vcpu);
    return absl::OkStatus();
  }

  // After the guest exits (and the backend saved `state`): read the LRs back, deactivate what
  // EOIcount says the guest deactivated outside the LRs, drop what is done, move what now
  // targets another vCPU, then call the notifiers. Hot path.
  absl::Status Fold(uint32_t vcpu, hw::VgicCpuState& state) {
    if (vcpu >= options_.num_vcpus) return UnknownVcpu(vcpu);
    Vcpu& vc = vcpus_[vcpu];
    // EOImode 1 from entry to exit: no EOIR deactivated anything, and a DIR of an interrupt
    // outside the LRs trapped (TDIR/TC are set whenever one is active there), so EOIcount has
    // nothing of ours to report. It counts only what would have been deactivated (IHI 0069,
    // ICH_HCR_EL2.EOIcount), but QEMU's model (hw/intc/arm_gicv3_cpuif.c icv_eoir_write) also
    // counts EOImode 1 priority drops that find no LR: walking that count would deactivate
    // interrupts the guest has not deactivated yet (tools/qemu_gicv3/README.md).
    const bool split_throughout =
        hw::arm::IchVmcr::FromRaw(vc.vmcr.load(std::memory_order_relaxed)).veoim() != 0 &&
        hw::arm::IchVmcr::FromRaw(state.vmcr).veoim() != 0;
    vc.vmcr.store(state.vmcr, std::memory_order_relaxed);
    if (hw::arm::IchMisr::FromRaw(state.misr).raw() != 0) Count(vc.stats.maintenance_interrupts);
    const auto hcr = hw::arm::IchHcr::FromRaw(state.hcr);
    int eoicount = hcr.lrenpie() && !split_throughout ? static_cast<int>(hcr.eoicount()) : 0;

    OpenDispatchWindow(vc);
    const hw::IrqFlags f = platform_.LockIrqSave(vc.ap_lock);

    // 1. EOIcount: the guest EOIed (EOImode 0) `eoicount` interrupts that were not in an LR.
    //    They are the first active ones by priority among those outside the LRs, because
    //    EOImode 0 completes interrupts in reverse order of activation, i.e. by priority. Done
    //    before the LR fold, while on_lr still marks what was in an LR during the run.
    if (eoicount > 0) {
      BestByKey<Irq, 31> chosen(eoicount);  // EOIcount is 5 bits
      for (uint32_t i = 0; i < vc.ap_count; ++i) {
        Irq& irq = *vc.ap_list[i];
        platform_.LockIrqsOff(irq.lock);
        if (!irq.on_lr && irq.active &&
            irq.Oracle(DistributorEnabled()) == static_cast<int32_t>(vcpu)) {
          // Priority order only: EOImode 0 completes in reverse order of activation, whatever
          // the guest has since done to its group enables.
          chosen.Offer(SortKey(irq, true, true), &irq);
        }
        platform_.UnlockIrqsOff(irq.lock);
      }
      for (int c = 0; c < chosen.size(); ++c) {
        Irq& irq = chosen[c];
        platform_.LockIrqsOff(irq.lock);
        if (irq.active && !irq.on_lr) {
          DeactivateOutsideLrs(vc, irq);
          Count(vc.stats.eoicount_deactivations);
        }
        platform_.UnlockIrqsOff(irq.lock);
      }
    }

    // 2. The list registers; what no longer belongs here is dropped, what moves is noted.
    bool migrate = vc.needs_prune.load(std::memory_order_relaxed) &&
                   vc.needs_prune.exchange(false, std::memory_order_relaxed);
    for (int n = 0; n < vc.used_lrs; ++n) {
      Irq& irq = *vc.lr_irq[n];
      platform_.LockIrqsOff(irq.lock);
      FoldLr(vc, irq, state.lr[n]);
      irq.on_lr = false;
      if (irq.deactivate_requested) {
        irq.deactivate_requested = false;
        if (irq.active) DeactivateOutsideLrs(vc, irq);
      }
      migrate |= DropOrNoteMove(vc, vcpu, irq);
      platform_.UnlockIrqsOff(irq.lock);
    }
    if (eoicount > 0) migrate = true;  // pseudo-folded entries: prune them below
    vc.used_lrs = 0;
    state.used_lrs = 0;
    platform_.UnlockIrqRestore(vc.ap_lock, f);

    if (migrate) Prune(vcpu);
    CloseDispatchWindowAndNotify(vc);
    return absl::OkStatus();
  }

  // The guest wrote `value` to ICV_DIR_EL1 and it trapped (ICH_HCR_EL2.TDIR), or a GICv2 guest
  // wrote GICV_DIR. Call after Fold. A DIR that the architecture ignores (EOImode 0, an INTID
  // that does not exist, an interrupt that is not active, a GICv2 SGI's other sender) is
  // ignored; the result is an error only for an unknown vCPU.
  absl::Status HandleDirTrap(uint32_t vcpu, uint64_t value) {
    if (vcpu >= options_.num_vcpus) return UnknownVcpu(vcpu);
    Vcpu& vc = vcpus_[vcpu];
    Count(vc.stats.dir_traps);
    const auto vmcr = hw::arm::IchVmcr::FromRaw(vc.vmcr.load(std::memory_order_relaxed));
    // ICV_DIR_EL1.INTID is 24 bits; GICV_DIR is InterruptID[9:0] and the SGI sender in [12:10].
    const bool gicv2 = options_.guest_model == GuestModel::kGicV2;
    const uint32_t intid =
        static_cast<uint32_t>(value & (gicv2 ? hw::arm::kGicv2VirtualIdMask : 0xffffff));
    const uint32_t source = static_cast<uint32_t>(value >> hw::arm::kGicv2SgiSourceShift) &
                            hw::arm::kGicv2SgiSourceMask;
    if (vmcr.veoim() == 0 || intid >= num_intids()) return absl::OkStatus();
    Irq& irq = intid < kNumPrivateIrqs ? vc.private_irqs[intid] : spis_[intid - kFirstSpi];

    OpenDispatchWindow(vc);
    int32_t kick = kNoVcpu;
    int32_t holder = kNoVcpu;
    bool deferred = false;
    const hw::IrqFlags f = platform_.LockIrqSave(irq.lock);
    // A GICv2 guest deactivates an SGI by naming its sender too: another sender's DIR does not
    // deactivate this activation (IHI 0048B §4.4.9 GICC_DIR; gic.md §3.9, patch 29).
    const bool other_sender = HasSgiSources(irq) && irq.active_source != source;
    if (!other_sender && irq.vcpu != kNoVcpu && (irq.on_lr || irq.active)) {
      holder = irq.vcpu;
      // In an LR, the shadow state is stale (the guest may have acknowledged it since the
      // flush): the holder's fold decides, with the LR in hand.
      if (irq.on_lr) {
        // In another vCPU's LR (ours were folded before this call): it deactivates it when it
        // exits, which the kick forces.
        irq.deactivate_requested = true;
        deferred = true;
        kick = holder;
        Count(vc.stats.cross_vcpu_dir_requests);
      } else {
        DeactivateOutsideLrs(vc, irq);
        Count(vc.stats.dir_deactivations);
        // Still pending (a level line that stays high, an edge that came again): the holder,
        // if it is another vCPU, may be in the guest with LRs that do not show it.
        if (holder != static_cast<int32_t>(vcpu) && irq.IsPending()) kick = holder;
      }
    }
    platform_.UnlockIrqRestore(irq.lock, f);
    if (holder != kNoVcpu && !deferred) PruneOne(static_cast<uint32_t>(holder), irq);
    CloseDispatchWindowAndNotify(vc);
    if (kick != kNoVcpu) Kick(static_cast<uint32_t>(kick));
    return absl::OkStatus();
  }

  // A GICv3 guest's ICV_* access that trapped and is not a DIR (TC on a CPU without TDIR traps
  // PMR, RPR and CTLR; trap_all_cpu_interface_accesses traps everything). Call between the
  // backend's Save and Fold: it acts on `state` exactly as the hardware would have, then Fold
  // folds the result. Returns the value read (0 for a write). Errors: an unknown vCPU, a GICv2
  // guest (its GICV_* registers never trap but GICV_DIR), and an access the architecture makes
  // UNDEFINED (see CpuInterfaceEmulation::Access), for which the embedder injects an UNDEF.
  // DIR goes to HandleDirTrap after Fold. No allocation.
  absl::StatusOr<uint64_t> EmulateCpuInterfaceAccess(uint32_t vcpu, hw::VgicCpuState& state,
                                                     hw::arm::SysRegEncoding reg, bool is_write,
                                                     uint64_t value) {
    if (vcpu >= options_.num_vcpus) return UnknownVcpu(vcpu);
    if (options_.guest_model != GuestModel::kGicV3) {
      return absl::FailedPreconditionError(
          "vGIC: a GICv2 guest has no ICV_* system registers to emulate");
    }
    Count(vcpus_[vcpu].stats.emulated_cpu_interface_accesses);
    return CpuInterfaceEmulation(state, options_.cpu_interface, options_.physical_gic)
        .Access(reg, is_write, value);
  }

  // Whether the vCPU has an interrupt it could take now (for WFI): pending, enabled, not
  // active, and above the priority mask it had at its last exit.
  bool HasPendingIrq(uint32_t vcpu) {
    if (vcpu >= options_.num_vcpus || !distributor_enabled_.load(std::memory_order_acquire)) {
      return false;
    }
    Vcpu& vc = vcpus_[vcpu];
    const auto vmcr = hw::arm::IchVmcr::FromRaw(vc.vmcr.load(std::memory_order_relaxed));
    // The CPU interface compares only its implemented priority bits (the rest are RAZ/WI): with
    // all 8 compared, a mask of 0x85 would call 0x80 takeable and WFI would never block.
    const uint32_t priority_mask = options_.cpu_interface.priority_mask();
    bool found = false;
    const hw::IrqFlags f = platform_.LockIrqSave(vc.ap_lock);
    for (uint32_t i = 0; i < vc.ap_count && !found; ++i) {
      Irq& irq = *vc.ap_list[i];
      platform_.LockIrqsOff(irq.lock);
      found = irq.Oracle(true) == static_cast<int32_t>(vcpu) && irq.IsPending() && !irq.active &&
              (irq.priority & priority_mask) < (vmcr.vpmr() & priority_mask);
      platform_.UnlockIrqsOff(irq.lock);
    }
    platform_.UnlockIrqRestore(vc.ap_lock, f);
    return found;
  }

  // ------------------------------------------------------------------------- introspection

  absl::StatusOr<IrqSnapshot> Snapshot(uint32_t vcpu, uint32_t intid) {
    absl::StatusOr<Irq*> found = Lookup(vcpu, intid);
    if (!found.ok()) return found.status();
    Irq& irq = **found;
    const hw::IrqFlags f = platform_.LockIrqSave(irq.lock);
    IrqSnapshot s{irq.vcpu,  irq.target, irq.pending_latch, irq.line_level, irq.active, irq.enabled,
                  irq.on_lr, irq.hw,     irq.priority,      irq.group,      irq.trigger};
    platform_.UnlockIrqRestore(irq.lock, f);
    return s;
  }

  // Entries on a vCPU's AP list (including ones about to be pruned).
  uint32_t ApListLength(uint32_t vcpu) {
    if (vcpu >= options_.num_vcpus) return 0;
    Vcpu& vc = vcpus_[vcpu];
    const hw::IrqFlags f = platform_.LockIrqSave(vc.ap_lock);
    const uint32_t n = vc.ap_count;
    platform_.UnlockIrqRestore(vc.ap_lock, f);
    return n;
  }

  uint32_t spis_in_flight() const { return spis_in_flight_.load(std::memory_order_acquire); }

  VgicVcpuStats stats(uint32_t vcpu) const {
    VgicVcpuStats s;
    if (vcpu >= options_.num_vcpus) return s;
    const AtomicStats& a = vcpus_[vcpu].stats;
    s.flushes = a.flushes.load(std::memory_order_relaxed);
    s.overflowing_flushes = a.overflowing_flushes.load(std::memory_order_relaxed);
    s.maintenance_interrupts = a.maintenance_interrupts.load(std::memory_order_relaxed);
    s.eoicount_deactivations = a.eoicount_deactivations.load(std::memory_order_relaxed);
    s.dir_traps = a.dir_traps.load(std::memory_order_relaxed);
    s.dir_deactivations = a.dir_deactivations.load(std::memory_order_relaxed);
    s.cross_vcpu_dir_requests = a.cross_vcpu_dir_requests.load(std::memory_order_relaxed);
    s.migrations = a.migrations.load(std::memory_order_relaxed);
    s.emulated_cpu_interface_accesses =
        a.emulated_cpu_interface_accesses.load(std::memory_order_relaxed);
    return s;
  }

 private:
  struct AtomicStats {
    std::atomic<uint64_t> flushes{0};
    std::atomic<uint64_t> overflowing_flushes{0};
    std::atomic<uint64_t> maintenance_interrupts{0};
    std::atomic<uint64_t> eoicount_deactivations{0};
    std::atomic<uint64_t> dir_traps{0};
    std::atomic<uint64_t> dir_deactivations{0};
    std::atomic<uint64_t> cross_vcpu_dir_requests{0};
    std::atomic<uint64_t> migrations{0};
    std::atomic<uint64_t> emulated_cpu_interface_accesses{0};
  };

  struct Vcpu {
    // The AP list: a dense array (order does not matter; SortKey orders). Taken by this
    // vCPU's run loop, injecting threads and other vCPUs migrating interrupts; never from an
    // interrupt handler that can interrupt a holder.
    SpinLock ap_lock;
    std::unique_ptr<Irq*[]> ap_list ABSL_GUARDED_BY(ap_lock);
    uint32_t ap_count ABSL_GUARDED_BY(ap_lock) = 0;
    uint32_t next_seq ABSL_GUARDED_BY(ap_lock) = 0;
    std::unique_ptr<Irq[]> private_irqs;  // SGIs and PPIs; fixed at creation

    // Owned by this vCPU's run loop (Flush/Fold/HandleDirTrap never overlap for one vCPU).
    Irq* lr_irq[hw::VgicCpuState::kMaxListRegisters] = {};
    int used_lrs = 0;
    NotificationBatch batch;

    std::atomic<uint64_t> vmcr{0};  // as of the last flush/fold, for HasPendingIrq and DIR
    std::atomic<bool> needs_prune{false};
    DispatchEpoch dispatch;  // open while notifiers are collected/called
    AtomicStats stats;
  };

  Vgic(P& platform, const VgicOptions& o)
      : platform_(platform),
        options_(o),
        vcpus_(new Vcpu[o.num_vcpus]),
        spis_(new Irq[o.num_spis]) {
    const uint32_t capacity = kNumPrivateIrqs + o.num_spis;
    for (uint32_t v = 0; v < o.num_vcpus; ++v) {
      Vcpu& vc = vcpus_[v];
      vc.ap_list.reset(new Irq*[capacity]);
      vc.private_irqs.reset(new Irq[kNumPrivateIrqs]);
      for (uint32_t i = 0; i < kNumPrivateIrqs; ++i) {
        Irq& irq = vc.private_irqs[i];
        irq.intid = i;
        const hw::IrqFlags f = platform_.LockIrqSave(irq.lock);
        irq.target = static_cast<int32_t>(v);
        irq.enabled = i < kNumSgis;  // SGIs are enabled at reset on most GICs' guests; PPIs not
        platform_.UnlockIrqRestore(irq.lock, f);
      }
    }
    for (uint32_t s = 0; s < o.num_spis; ++s) {
      Irq& irq = spis_[s];
      irq.intid = kFirstSpi + s;
      const hw::IrqFlags f = platform_.LockIrqSave(irq.lock);
      irq.target = 0;  // routed to vCPU 0 until RouteSpi says otherwise, as KVM resets them
      platform_.UnlockIrqRestore(irq.lock, f);
    }
  }

  static void Count(std::atomic<uint64_t>& c) {
    c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);  // one writer
  }

  absl::Status UnknownVcpu(uint32_t vcpu) const {
    return absl::InvalidArgumentError(
        absl::StrFormat("vCPU %u does not exist (this VM has %u)", vcpu, options_.num_vcpus));
  }

  absl::StatusOr<Irq*> LookupSpi(uint32_t intid) {
    if (intid < kFirstSpi || intid >= num_intids()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("INTID %u is not an SPI of this VM (SPIs are %u..%u)", intid, kFirstSpi,
                          num_intids() - 1));
    }
    return &spis_[intid - kFirstSpi];
  }

  absl::StatusOr<Irq*> Lookup(uint32_t vcpu, uint32_t intid) {
    if (intid < kNumPrivateIrqs) {
      if (vcpu >= options_.num_vcpus) return UnknownVcpu(vcpu);
      return &vcpus_[vcpu].private_irqs[intid];
    }
    if (intid >= num_intids()) {
      return absl::OutOfRangeError(
          absl::StrFormat("INTID %u does not exist: this VM has SGIs/PPIs 0..31 and SPIs 32..%u",
                          intid, num_intids() - 1));
    }
    return &spis_[intid - kFirstSpi];
  }

  // Changes an interrupt's configuration, then puts it where it now belongs: queued if it just
  // became deliverable; otherwise its holder lets go of it now if it no longer belongs there
  // (a vCPU asleep in WFI would not), and is kicked. `refuse` is checked under the lock and
  // may veto the change (in-flight state a change would corrupt).
  template <typename Fn, typename Refuse>
  absl::Status Update(Irq& irq, Fn&& change, Refuse&& refuse) {
    // An SPI's DIR trapping is set up here, on a cold path, so that Inject never waits for it.
    if (irq.is_spi()) EnsureSpiDirTrapping();
    const hw::IrqFlags f = platform_.LockIrqSave(irq.lock);
    // `.operator()`: clang 14 checks a lambda's lock requirements against the wrong arguments
    // when it is called with call syntax, but right when its operator() is named.
    if (absl::Status veto = refuse.operator()(irq); !veto.ok()) {
      platform_.UnlockIrqRestore(irq.lock, f);
      return veto;
    }
    change.operator()(irq);
    const int32_t holder = irq.vcpu;
    if (holder != kNoVcpu) {
      platform_.UnlockIrqRestore(irq.lock, f);
      PruneOne(static_cast<uint32_t>(holder), irq);
      Kick(static_cast<uint32_t>(holder));
      return absl::OkStatus();
    }
    QueueAndUnlock(irq, f);
    return absl::OkStatus();
  }
  template <typename Fn>
  absl::Status Update(Irq& irq, Fn&& change) {
    return Update(irq, change, [](const Irq&) { return absl::OkStatus(); });
  }

  // Trigger and HW mapping shape what is in flight (the pending latch, the physical active
  // state): they change only while the interrupt is on no AP list.
  static absl::Status RefuseWhileListed(const Irq& irq, const char* what)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(irq.lock) {
    if (irq.vcpu == kNoVcpu) return absl::OkStatus();
    return absl::FailedPreconditionError(absl::StrFormat(
        "INTID %u: %s cannot change while it is pending or active (on vCPU %d's AP list)",
        irq.intid, what, irq.vcpu));
  }

  // Puts `irq` (locked with flags `f`) on the AP list of its oracle if it is on none, and
  // kicks that vCPU. Unlocks irq (gic.md §3.12).
  void QueueAndUnlock(Irq& irq, hw::IrqFlags f) ABSL_UNLOCK_FUNCTION(irq.lock) {
    for (;;) {
      const int32_t oracle = irq.Oracle(DistributorEnabled());
      if (irq.vcpu != kNoVcpu || oracle == kNoVcpu) {
        // Already listed (an edge again, a line change) or nowhere to go.
        platform_.UnlockIrqRestore(irq.lock, f);
        if (oracle != kNoVcpu) Kick(static_cast<uint32_t>(oracle));
        return;
      }
      platform_.UnlockIrqRestore(irq.lock, f);
      const bool spi = irq.is_spi();
      if (spi) {
        EnsureSpiDirTrapping();
        spis_in_flight_.fetch_add(1, std::memory_order_acq_rel);
      }
      Vcpu& vc = vcpus_[oracle];
      const hw::IrqFlags lf = platform_.LockIrqSave(vc.ap_lock);
      platform_.LockIrqsOff(irq.lock);
      if (irq.vcpu != kNoVcpu || irq.Oracle(DistributorEnabled()) != oracle) {
        platform_.UnlockIrqsOff(irq.lock);
        platform_.UnlockIrqRestore(vc.ap_lock, lf);
        if (spi) spis_in_flight_.fetch_sub(1, std::memory_order_acq_rel);
        f = platform_.LockIrqSave(irq.lock);
        continue;  // raced with another queue or a change: decide again
      }
      AddLocked(vc, oracle, irq);
      platform_.UnlockIrqsOff(irq.lock);
      platform_.UnlockIrqRestore(vc.ap_lock, lf);
      Kick(static_cast<uint32_t>(oracle));
      return;
    }
  }

  // Before the VM's first SPI can be seen on any AP list, every vCPU must run with TDIR: an SPI
  // may be acknowledged on one vCPU and deactivated by a DIR on another, and a DIR that does
  // not trap there is lost. The first SPI broadcasts a kick (waiting, where the embedder can)
  // while every other injector waits for that to finish; from then on every entry sets TDIR.
  // Sticky, unlike a count of SPIs in flight: a count that returns to zero would need a new
  // broadcast each time, and injectors racing over who broadcasts. KVM ends up the same way in
  // practice (its count only drops for level, non-HW SPIs); guests in EOImode 0 never DIR.
  void EnsureSpiDirTrapping() {
    int state = spi_dir_trapping_.load(std::memory_order_seq_cst);
    if (state == kDirTrappingEstablished) return;
    if (state == kDirTrappingOff &&
        spi_dir_trapping_.compare_exchange_strong(state, kDirTrappingBroadcasting,
                                                  std::memory_order_seq_cst)) {
      KickAll();
      spi_dir_trapping_.store(kDirTrappingEstablished, std::memory_order_seq_cst);
      return;
    }
    while (spi_dir_trapping_.load(std::memory_order_seq_cst) != kDirTrappingEstablished) {
      std::this_thread::yield();  // once per VM lifetime, for as long as one broadcast takes
    }
  }

  // The first-SPI broadcast (see VgicOptions::kick_and_wait).
  // Read under each interrupt's lock, never cached across a pass: SetDistributorEnabled
  // stores the flag before it re-queues interrupts under their locks, so every decision made
  // under a lock after that store sees it.
  bool DistributorEnabled() const { return distributor_enabled_.load(std::memory_order_seq_cst); }

  void KickAll() {
    for (uint32_t v = 0; v < options_.num_vcpus; ++v) {
      if (options_.kick_and_wait != nullptr) {
        options_.kick_and_wait(options_.kick_context, v);
      } else {
        Kick(v);
      }
    }
  }

  // Appends to vc's list. An SPI must already be counted in spis_in_flight_.
  void AddLocked(Vcpu& vc, int32_t v, Irq& irq)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(vc.ap_lock, irq.lock) {
    irq.ap_index = vc.ap_count;
    irq.ap_seq = vc.next_seq++;
    vc.ap_list[vc.ap_count++] = &irq;
    irq.vcpu = v;
  }

  // Takes it off vc's list, leaving the in-flight count alone (for a move between lists).
  void UnlinkLocked(Vcpu& vc, Irq& irq) ABSL_EXCLUSIVE_LOCKS_REQUIRED(vc.ap_lock, irq.lock) {
    const uint32_t last = --vc.ap_count;
    if (irq.ap_index != last) {
      Irq* moved = vc.ap_list[last];
      vc.ap_list[irq.ap_index] = moved;
      moved->ap_index = irq.ap_index;  // under vc.ap_lock, which every reader of it holds
    }
    irq.vcpu = kNoVcpu;
  }

  // Takes it off every list: an SPI is no longer in flight.
  void RemoveLocked(Vcpu& vc, Irq& irq) ABSL_EXCLUSIVE_LOCKS_REQUIRED(vc.ap_lock, irq.lock) {
    UnlinkLocked(vc, irq);
    if (irq.is_spi()) spis_in_flight_.fetch_sub(1, std::memory_order_acq_rel);
  }

  // Puts `irq` in LR n (gic.md §3.7 populate_lr): what goes into an LR as Pending is no longer
  // latched here (the LR holds it), and a HW level interrupt's line is the physical GIC's now.
  void PopulateLr(Vcpu& vc, Irq& irq, hw::VgicCpuState& state, int n)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(irq.lock) {
    const uint64_t lr = ComputeLr(irq, options_.guest_model);
    if ((lr & hw::arm::kIchLrPendingBit) != 0) {
      if (irq.trigger == Trigger::kEdge) irq.pending_latch = false;
      if (irq.hw && irq.trigger == Trigger::kLevel) irq.line_level = false;
      if (HasSgiSources(irq)) {
        // One sender per LR: the others stay pending here.
        irq.sgi_sources &= static_cast<uint8_t>(~(1u << SgiSourceOf(lr)));
        irq.pending_latch = irq.sgi_sources != 0;
      }
    }
    irq.on_lr = true;
    state.lr[n] = lr;
    vc.lr_irq[n] = &irq;
  }

  // The LR's state back into the interrupt (gic.md §3.8 fold_lr). Collects a notification when
  // the guest deactivated a level interrupt during the run: the LR came back invalid with its
  // EOI bit, whether the core had seen it active or it was acknowledged and deactivated within
  // the run.
  void FoldLr(Vcpu& vc, Irq& irq, uint64_t lr) ABSL_EXCLUSIVE_LOCKS_REQUIRED(irq.lock) {
    const hw::arm::LrState s = hw::arm::IchLrStateOf(lr);
    irq.active = (lr & hw::arm::kIchLrActiveBit) != 0;
    if (irq.trigger == Trigger::kEdge && (lr & hw::arm::kIchLrPendingBit) != 0) {
      irq.pending_latch = true;
    }
    if (HasSgiSources(irq)) {
      if (irq.active) irq.active_source = static_cast<uint8_t>(SgiSourceOf(lr));
      // Not acknowledged yet: its sender waits with the others again.
      if ((lr & hw::arm::kIchLrPendingBit) != 0) {
        irq.sgi_sources |= static_cast<uint8_t>(1u << SgiSourceOf(lr));
      }
    }
    if (irq.trigger == Trigger::kLevel && s == hw::arm::LrState::kInvalid) {
      irq.pending_latch = false;
      if (IRQVIRT_PLANTED(kVgicNoResampleAtFold) && !irq.hw) irq.line_level = false;
    }
    // A HW level interrupt still Pending: its physical twin is active and will not fire again
    // until the guest deactivates it, so the line stays asserted here (PopulateLr lowered it).
    if (irq.hw && irq.trigger == Trigger::kLevel && s == hw::arm::LrState::kPending) {
      irq.line_level = true;
    }
    if (irq.trigger == Trigger::kLevel && hw::arm::IchLrSignalsEoi(lr)) {
      vc.batch.Add(irq.notifier, irq.notifier_context, irq.intid);
    }
  }

  // Whether `irq` is a GICv2 guest's SGI, whose LRs and DIRs name a sender.
  bool HasSgiSources(const Irq& irq) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(irq.lock) {
    return options_.guest_model == GuestModel::kGicV2 && irq.is_sgi() && !irq.hw;
  }
  static uint32_t SgiSourceOf(uint64_t lr) {
    return (hw::arm::IchLrVintid(lr) >> hw::arm::kGicv2SgiSourceShift) &
           hw::arm::kGicv2SgiSourceMask;
  }

  // Deactivates an active interrupt that is in no LR, as the guest's EOI or DIR would have:
  // a pseudo-LR without Active, folded like a real one; a HW one's physical INTID too.
  void DeactivateOutsideLrs(Vcpu& vc, Irq& irq) ABSL_EXCLUSIVE_LOCKS_REQUIRED(irq.lock) {
    const uint64_t pseudo = ComputeLr(irq, options_.guest_model) & ~hw::arm::kIchLrActiveBit;
    if (irq.hw) options_.physical_gic->Deactivate(irq.hwintid);
    FoldLr(vc, irq, pseudo);
  }

  // For an interrupt on vc's list (vc is vcpu's): takes it off if it belongs on no list now;
  // returns true if it belongs to another vCPU (Prune moves it, with both list locks).
  bool DropOrNoteMove(Vcpu& vc, uint32_t vcpu, Irq& irq)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(vc.ap_lock, irq.lock) {
    const int32_t oracle = irq.Oracle(DistributorEnabled());
    if (oracle == kNoVcpu) {
      RemoveLocked(vc, irq);
      return false;
    }
    return oracle != static_cast<int32_t>(vcpu);
  }

  // Removes `irq` from `vcpu`'s list if it belongs on none; hands it to Prune if it moves.
  void PruneOne(uint32_t vcpu, Irq& irq) {
    Vcpu& vc = vcpus_[vcpu];
    const hw::IrqFlags f = platform_.LockIrqSave(vc.ap_lock);
    platform_.LockIrqsOff(irq.lock);
    const bool migrate =
        irq.vcpu == static_cast<int32_t>(vcpu) && !irq.on_lr && DropOrNoteMove(vc, vcpu, irq);
    platform_.UnlockIrqsOff(irq.lock);
    platform_.UnlockIrqRestore(vc.ap_lock, f);
    if (migrate) Prune(vcpu);
  }

  // Walks vcpu's list: drops what belongs nowhere, moves what belongs to another vCPU to the
  // tail of that vCPU's list (both list locks in ascending order) and kicks it (gic.md §3.11).
  void Prune(uint32_t vcpu) {
    Vcpu& vc = vcpus_[vcpu];
    for (;;) {
      int32_t move_to = kNoVcpu;
      Irq* moving = nullptr;
      const hw::IrqFlags f = platform_.LockIrqSave(vc.ap_lock);
      for (uint32_t i = 0; i < vc.ap_count;) {
        Irq& irq = *vc.ap_list[i];
        platform_.LockIrqsOff(irq.lock);
        const int32_t oracle =
            irq.on_lr ? static_cast<int32_t>(vcpu) : irq.Oracle(DistributorEnabled());
        if (oracle == kNoVcpu) {
          RemoveLocked(vc, irq);
          platform_.UnlockIrqsOff(irq.lock);
          continue;
        }
        platform_.UnlockIrqsOff(irq.lock);
        if (oracle != static_cast<int32_t>(vcpu)) {
          move_to = oracle;
          moving = &irq;
          break;
        }
        ++i;
      }
      platform_.UnlockIrqRestore(vc.ap_lock, f);
      if (moving == nullptr) return;

      // Both list locks, lower id first; a branch per order, so that clang's analysis sees
      // both locks held by their own names.
      Vcpu& to = vcpus_[move_to];
      const bool to_first = move_to < static_cast<int32_t>(vcpu);
      hw::IrqFlags mf = 0;
      if (to_first) {
        mf = platform_.LockIrqSave(to.ap_lock);
        platform_.LockIrqsOff(vc.ap_lock);
      } else {
        mf = platform_.LockIrqSave(vc.ap_lock);
        platform_.LockIrqsOff(to.ap_lock);
      }
      platform_.LockIrqsOff(moving->lock);
      bool moved = false;
      if (moving->vcpu == static_cast<int32_t>(vcpu) && !moving->on_lr &&
          moving->Oracle(DistributorEnabled()) == move_to) {
        UnlinkLocked(vc, *moving);  // still in flight: the count never dips to zero
        AddLocked(to, move_to, *moving);
        moved = true;
      }
      platform_.UnlockIrqsOff(moving->lock);
      if (to_first) {
        platform_.UnlockIrqsOff(vc.ap_lock);
        platform_.UnlockIrqRestore(to.ap_lock, mf);
      } else {
        platform_.UnlockIrqsOff(to.ap_lock);
        platform_.UnlockIrqRestore(vc.ap_lock, mf);
      }
      if (moved) {
        // Prune(holder) also runs on other vCPUs' threads (a DIR they trapped): not one writer.
        vc.stats.migrations.fetch_add(1, std::memory_order_relaxed);
        Kick(static_cast<uint32_t>(move_to));
      }
    }
  }

  // The epoch has one writer (this vCPU's run loop). Opening needs no fence: notifiers are
  // collected under the interrupt's lock after it, so a remover that clears one under the same
  // lock afterwards sees the odd epoch through that lock. Closing is a release, so a remover
  // that sees the even epoch sees every call finished.
  void OpenDispatchWindow(Vcpu& vc) { vc.dispatch.Open(); }
  void CloseDispatchWindowAndNotify(Vcpu& vc) {
    vc.batch.Dispatch();
    vc.dispatch.Close();
  }

  void Kick(uint32_t vcpu) {
    if (options_.kick != nullptr) options_.kick(options_.kick_context, vcpu);
  }

  P& platform_;
  const VgicOptions options_;
  std::unique_ptr<Vcpu[]> vcpus_;
  std::unique_ptr<Irq[]> spis_;
  std::atomic<bool> distributor_enabled_{true};
  // SPIs on any AP list (exact: +1 when queued, -1 when removed), for introspection.
  std::atomic<uint32_t> spis_in_flight_{0};
  // EnsureSpiDirTrapping's latch: off, broadcasting, established (then every entry sets TDIR).
  static constexpr int kDirTrappingOff = 0;
  static constexpr int kDirTrappingBroadcasting = 1;
  static constexpr int kDirTrappingEstablished = 2;
  std::atomic<int> spi_dir_trapping_{kDirTrappingOff};
};

}  // namespace irqvirt::vgic

#endif  // IRQVIRT_VGIC_VGIC_H_
