// SPDX-License-Identifier: MIT
// The state of one virtual interrupt (SGI, PPI or SPI) as the vGIC core tracks it, and the
// predicates every other piece of the core decides by. Guarded by the interrupt's own lock.
#ifndef IRQVIRT_VGIC_VGIC_IRQ_H_
#define IRQVIRT_VGIC_VGIC_IRQ_H_

#include <cstdint>

#include "absl/base/thread_annotations.h"

namespace irqvirt::vgic {

inline constexpr uint32_t kNumSgis = 16;
inline constexpr uint32_t kNumPrivateIrqs = 32;  // SGIs 0..15, PPIs 16..31
inline constexpr uint32_t kFirstSpi = 32;
inline constexpr uint32_t kMaxSpis = 988;        // INTIDs 32..1019 (IHI 0069 §2.2.1)
inline constexpr int32_t kNoVcpu = -1;
inline constexpr int32_t kNoGuestRouting = -2;

enum class Trigger : uint8_t { kEdge, kLevel };

// The GIC architecture the guest programs. It matters to the core only for SGIs: a GICv2 guest
// sees each SGI's sender (GICV_IAR[12:10]), and an SGI sent by several vCPUs is delivered once
// per sender (gic.md §2.7, §3.10).
enum class GuestModel : uint8_t { kGicV3, kGicV2 };
inline constexpr uint32_t kGicV2MaxCpus = 8;  // the CPUID field is 3 bits (IHI 0048B §4.3.15)

// Called once for each deactivation of a level-triggered SPI by the guest (the resample hook an
// irqfd-style device needs), never under a vGIC lock; `intid` is the SPI's INTID.
using DeactivationNotifier = void (*)(void* context, uint32_t intid);

template <typename SpinLock>
struct VgicIrq {
  // Taken after the owning AP list's lock; never held while taking an AP list lock. Taken from
  // vCPU run loops (interrupts off), injecting threads and device interrupt handlers.
  mutable SpinLock lock;
  uint32_t intid = 0;

  // Whose AP list holds it (kNoVcpu: on none), and where in that list. ap_index belongs to the
  // holding list: read and written only with that list's lock held (a removal moves another
  // interrupt's slot without its lock), which no annotation on this struct can name.
  int32_t vcpu ABSL_GUARDED_BY(lock) = kNoVcpu;
  uint32_t ap_index = 0;
  uint32_t ap_seq ABSL_GUARDED_BY(lock) = 0;  // insertion order: the last tie-break of the sort
  // Where it should go: the owner for SGIs/PPIs, the routed vCPU for SPIs (kNoVcpu: unrouted).
  int32_t target ABSL_GUARDED_BY(lock) = kNoVcpu;
  // An SPI's routing register as the guest last wrote it (GICv2 ITARGETSR byte, GICv3 IROUTER),
  // and the target it chose then: the word reads back only while `target` still equals that
  // (a host RouteSpi since then wins). kNoGuestRouting: never written.
  uint64_t guest_routing ABSL_GUARDED_BY(lock) = 0;
  int32_t guest_routing_target ABSL_GUARDED_BY(lock) = kNoGuestRouting;
  uint32_t hwintid ABSL_GUARDED_BY(lock) = 0;
  uint8_t priority ABSL_GUARDED_BY(lock) = 0;
  uint8_t group ABSL_GUARDED_BY(lock) = 1;
  Trigger trigger ABSL_GUARDED_BY(lock) = Trigger::kEdge;
  bool enabled ABSL_GUARDED_BY(lock) = false;
  bool pending_latch ABSL_GUARDED_BY(lock) = false;
  bool line_level ABSL_GUARDED_BY(lock) = false;
  bool active ABSL_GUARDED_BY(lock) = false;
  bool hw ABSL_GUARDED_BY(lock) = false;
  bool on_lr ABSL_GUARDED_BY(lock) = false;  // in a list register of vcpu, right now
  // Another vCPU's trapped DIR hit it while it sat in vcpu's LR: deactivate at vcpu's next fold.
  bool deactivate_requested ABSL_GUARDED_BY(lock) = false;
  // GICv2 guests' SGIs only: one bit per vCPU whose SGI waits to be delivered (pending_latch is
  // set exactly while one does), and the sender of the activation the guest is handling.
  uint8_t sgi_sources ABSL_GUARDED_BY(lock) = 0;
  uint8_t active_source ABSL_GUARDED_BY(lock) = 0;
  DeactivationNotifier notifier ABSL_GUARDED_BY(lock) = nullptr;
  void* notifier_context ABSL_GUARDED_BY(lock) = nullptr;

  bool is_spi() const { return intid >= kFirstSpi; }
  bool is_sgi() const { return intid < kNumSgis; }

  bool IsPending() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock) {
    return pending_latch || (trigger == Trigger::kLevel && line_level);
  }

  // Which vCPU's AP list it belongs on now (gic.md §3.3): an active interrupt stays where it
  // is; a pending, enabled one goes to its target while the distributor is enabled; anything
  // else belongs on no list. Group enables and the priority mask do not matter here.
  int32_t Oracle(bool distributor_enabled) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock) {
    if (active) return vcpu != kNoVcpu ? vcpu : target;
    if (enabled && IsPending()) return distributor_enabled ? target : kNoVcpu;
    return kNoVcpu;
  }
};

}  // namespace irqvirt::vgic

#endif  // IRQVIRT_VGIC_VGIC_IRQ_H_
