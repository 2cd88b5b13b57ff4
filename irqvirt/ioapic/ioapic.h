// SPDX-License-Identifier: MIT
// A guest-facing I/O APIC (82093AA-compatible, optionally version 0x20 with the EOI register),
// with per-vCPU EOI interception and stale-EOI rescans.
//
// Guest input is never an error: any value at any offset and size gets the architectural behaviour
// (read-only bits kept, unknown selectors read as all ones and ignore writes, out-of-range RTEs
// read as all ones), and the state stays consistent. Host-side calls with bad arguments (unknown
// pin or vCPU) return InvalidArgument naming the value and the valid range, and change nothing;
// the few that cannot (the EOI path and per-entry queries used on it) say what they return.
//
// Two ways to embed it:
//  - in-kernel style: the hypervisor calls OnLapicEoi(vcpu, vector, level) for every guest EOI of
//    a vector that InterceptsEoi(vcpu, vector) says must exit (e.g. load HandledVectors(vcpu) as
//    the APICv EOI-exit bitmap); OnLapicEoi processes it here.
//  - split (userspace I/O APIC): install an EoiExitHandler; OnLapicEoi then hands intercepted
//    EOIs to it (like KVM_EXIT_IOAPIC_EOI), and the userspace side calls ProcessEoi(vector, level).
//
// An EOI of vector v reaches every entry whose vector field is v, whatever its delivery mode (as in
// KVM), so an entry reprogrammed from fixed to NMI/SMI/ExtINT while its level interrupt is in
// service still has Remote IRR cleared by that EOI. Like KVM, an entry left level-triggered in a
// mode without a vector still sets Remote IRR when a LAPIC accepts it; an EOI of its vector field
// or a switch to edge clears it.
//
// Rescans of a vCPU's interception set are requested when routes change (old and new
// destinations, the old set computed with the old destination mode) and when the vCPU EOIs its
// highest stale vector. With Options::rescan_immediately (default) they run at once; otherwise the
// embedder runs ProcessPendingRescans(vcpu) before the vCPU next enters the guest, as KVM does
// with KVM_REQ_SCAN_IOAPIC.
//
// Locking: one mutex (mu_) guards all state; it is task-context only (MMIO exits, device lines,
// EOI exits, timer callbacks), never taken from a hard-IRQ handler.
// Callbacks into the embedder (the EOI exit handler, ack notifiers, OneShotTimer::Arm) are
// collected under mu_ into a fixed-size buffer and made after it is released, so they may call
// back into the Ioapic (read or write RTEs, SetIrq, ProcessEoi, OnStormTimer, even
// SetEoiExitHandler / AddAckNotifier). Order of one EOI broadcast:
//   1. ack notifiers of every entry with the vector, in pin order (before Remote IRR clears, so
//      a resampler that deasserts the line from its notifier prevents a re-delivery, as in KVM);
//   2. Remote IRR clears and re-deliveries, for the entries that have the vector at that point;
//   3. the rescans the EOI requested, then OneShotTimer::Arm if the storm guard deferred a pin.
// The EOI exit handler runs after the EOI was counted against the interception set in force,
// and before the rescan that EOI requested. A handler or notifier replaced while a callback is
// being made may still be called once after its replacement returned. LapicBus is the hardware
// below, not a callback: a LAPIC's accept decides whether Remote IRR is set, so Deliver runs
// with mu_ held as part of the delivery and must not call back into the Ioapic.
#ifndef IRQVIRT_IRQVIRT_IOAPIC_IOAPIC_H_
#define IRQVIRT_IRQVIRT_IOAPIC_IOAPIC_H_

#include <array>
#include <bitset>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "hw/lapic_bus.h"
#include "hw/x86/ioapic_regs.h"
#include "irqvirt/ioapic/eoi_interception.h"

namespace irqvirt::ioapic {

struct IoapicOptions {
  int num_pins = 24;
  uint8_t version = 0x20;  // 0x11: no EOI register (KVM); 0x20: EOI register at 0x40 (QEMU)
  // Interrupt-storm guard: after this many successive re-deliveries on EOI with the line still
  // asserted, the next one is deferred by storm_delay_ns (KVM: 10000 and 10 ms).
  uint32_t storm_threshold = 10000;
  uint64_t storm_delay_ns = 10'000'000;
  bool rescan_immediately = true;
};

// Per-pin counters, for embedders' statistics and for tests.
struct PinStats {
  uint64_t deliveries = 0;         // interrupts sent to at least one LAPIC
  uint64_t level_deliveries = 0;   // of those, level-triggered (each sets Remote IRR)
  uint64_t remote_irr_clears = 0;  // Remote IRR 1 -> 0 by EOI or level->edge switch
  uint64_t deferred_by_storm_guard = 0;
};

class Ioapic {
 public:
  using AckNotifier = std::function<void(int pin)>;
  using EoiExitHandler = std::function<void(int vcpu, uint8_t vector, bool level)>;

  // Most pins Create accepts (RTE selectors 0x10 + 2 * pin + 1 must stay within 8 bits).
  static constexpr int kMaxPins = 120;

  // Pin count 1..kMaxPins (120): the RTEs of 120 pins fill selectors 0x10..0xff.
  static absl::StatusOr<std::unique_ptr<Ioapic>> Create(hw::LapicBus& lapics,
                                                        hw::OneShotTimer& timer,
                                                        IoapicOptions options = {});

  // --- guest MMIO: one access of `size` bytes at `offset` within the 0x100-byte window ---
  // Per register (KVM arch/x86/kvm/ioapic.c ioapic_mmio_read/ioapic_mmio_write; QEMU
  // hw/intc/ioapic.c ioapic_mem_read/ioapic_mem_write):
  //  - IOREGSEL (0x00), any size: a store keeps bits 7:0 (both do); a load returns it.
  //  - IOWIN (0x10), a dword register: 4 bytes reach the selected register; 8 bytes are that dword
  //    plus one at 0x14 that decodes nothing (QEMU splits 8-byte accesses into dwords; KVM uses the
  //    low 32 bits), so the upper half loads 0 and its store is dropped; 1- and 2-byte accesses
  //    load 0 and are dropped (QEMU `size != 4`; KVM would zero-extend a byte store over the whole
  //    register, unmasking an RTE).
  //  - EOI (0x40), version 0x20 only: a 4- or 8-byte store EOIs the vector in bits 7:0; 1- and
  //    2-byte stores are dropped (QEMU `size != 4`); loads return 0 (write-only).
  // Everything else loads 0 and ignores stores: sizes other than 1, 2, 4, 8 (0, 3, 16: KVM warns
  // and drops them), and accesses that do not start exactly at a register (odd or misaligned
  // offsets, bytes inside a register such as 0x11 or 0x13, offsets outside the window): both
  // decode exact offsets only, and QEMU's memory core refuses misaligned accesses outright.
  // A load returns nothing above its `size` bytes.
  uint64_t MmioRead(uint32_t offset, uint32_t size);
  void MmioWrite(uint32_t offset, uint32_t size, uint64_t value);

  // --- device lines ---
  absl::Status SetIrq(int pin, bool level);

  // --- EOIs ---
  // A guest EOI of `vector` on `vcpu` (`level` = the LAPIC's TMR bit). Returns whether it was
  // intercepted. Non-intercepted EOIs are not the I/O APIC's business and change nothing; an
  // unknown vCPU intercepts nothing (false).
  bool OnLapicEoi(int vcpu, uint8_t vector, bool level);
  // The I/O APIC side of an EOI broadcast (in-kernel: from OnLapicEoi; split: from userspace).
  void ProcessEoi(uint8_t vector, bool level);
  void SetEoiExitHandler(EoiExitHandler handler);
  // Called on every EOI of `pin`'s vector (irqfd resampler, PIT reinjection). Edge pins with a
  // notifier are intercepted too.
  absl::Status AddAckNotifier(int pin, AckNotifier notifier);

  // --- interception state ---
  // Whether vCPU `vcpu` must exit on an EOI of `vector`.
  absl::StatusOr<bool> InterceptsEoi(int vcpu, uint8_t vector);
  // The whole set, e.g. for the APICv EOI-exit bitmap; empty for an unknown vCPU.
  std::bitset<256> HandledVectors(int vcpu);
  // The highest vector intercepted only because it is still in flight from an old routing, or
  // -1 when there is none.
  absl::StatusOr<int> HighestStalePendingEoi(int vcpu);
  // Intercepted EOIs of `vector` on `vcpu` so far; 0 for an unknown vCPU.
  uint64_t InterceptedEois(int vcpu, uint8_t vector);
  // Whether a rescan waits for ProcessPendingRescans; false for an unknown vCPU.
  bool RescanPending(int vcpu);
  // Runs vCPU `vcpu`'s requested rescan, if any; an unknown vCPU is a no-op.
  void ProcessPendingRescans(int vcpu);

  // --- storm guard timer ---
  void OnStormTimer();

  // --- save / restore / reset (cold paths) ---
  // Save returns the whole state in the snapshot format below; Restore replaces this instance's
  // state with a saved one. Restore validates the entire blob before touching anything: a
  // truncated, corrupt (checksum), newer-format or inconsistent blob, or one saved from an I/O
  // APIC with another version register, pin count or vCPU count, or with a storm count this
  // instance's storm_threshold cannot reach, is refused (InvalidArgument, or FailedPrecondition for
  // a mismatch with this instance) and the instance is left unchanged.
  // Restore the LAPICs (IRR/ISR/TMR) before the I/O APIC: a requested rescan reads them.
  // Embedder wiring is not state and is neither saved nor replaced: ack notifiers and the EOI
  // exit handler stay as registered on this instance (register the same ones as the source had,
  // before Restore: a notifier added later requests rescans of its destinations).
  // A storm timer armed at Save is armed again by Restore with the full storm_delay_ns (the time
  // already waited is not known here); one not armed at Save is cancelled.
  //
  // Snapshot format, version 1. Little-endian, packed, no padding; reserved bytes and flag bits
  // are written 0 and must be 0. Offsets in bytes.
  //   header (kSnapshotHeaderSize = 20):
  //     0  u8[4] magic "IOAP"
  //     4  u16   format version (kSnapshotFormatVersion)
  //     6  u8    version register value (0x11 or 0x20); must equal this instance's
  //     7  u8    reserved
  //     8  u16   pin count P; must equal num_pins()
  //    10  u16   vCPU count V; must equal the LapicBus's
  //    12  u8    IOREGSEL
  //    13  u8    ID (bits 27:24 of the ID register, 0..15)
  //    14  u8    flags: bit 0 = storm timer armed (a deferred re-delivery waits for OnStormTimer)
  //    15  u8    reserved
  //    16  u32   lowest-priority rotation cursor, 0..V (next vCPU tried first, modulo V)
  //   P pin records (kSnapshotPinSize = 48), pin 0 first:
  //     0  u64   redirection entry, raw (Remote IRR only if level-triggered; Delivery Status 0:
  //              this model delivers synchronously and never leaves it set)
  //     8  u8    flags: bit 0 = IRR (the latched request: line level for level pins, a pending
  //              or held edge for edge pins)
  //     9  u8[3] reserved
  //    12  u32   storm-guard count of successive re-deliveries (< storm_threshold)
  //    16  u64   PinStats::deliveries
  //    24  u64   PinStats::level_deliveries
  //    32  u64   PinStats::remote_irr_clears
  //    40  u64   PinStats::deferred_by_storm_guard
  //   V vCPU records (kSnapshotVcpuSize = 2088), vCPU 0 first:
  //     0  u8[32] EOI interception set: vector v is bit (v % 8) of byte v / 8
  //    32  i16   highest stale vector, -1 for none; its bit must be set in the set
  //    34  u8    flags: bit 0 = rescan requested (waits for ProcessPendingRescans)
  //    35  u8[5] reserved
  //    40  u64[256] InterceptedEois per vector
  //   trailer: u32 CRC-32 (IEEE 802.3, reflected, as zlib's crc32) of every byte before it.
  // Per-pin statistics and intercepted-EOI counts are not guest-visible; they are carried so that
  // an embedder's counters continue across a migration.
  static constexpr uint16_t kSnapshotFormatVersion = 1;
  static constexpr size_t kSnapshotHeaderSize = 20;
  static constexpr size_t kSnapshotPinSize = 48;
  static constexpr size_t kSnapshotVcpuSize = 2088;
  static constexpr size_t kSnapshotTrailerSize = 4;
  std::vector<uint8_t> Save();
  absl::Status Restore(absl::Span<const uint8_t> blob);
  // Power-on state (82093AA: ID 0 and every RTE masked after reset; the other RTE bits are
  // undefined there and 0 here; KVM kvm_ioapic_reset likewise): IOREGSEL 0, ID 0, every RTE
  // 0x10000 (masked, fixed, edge, vector 0), no latched requests, storm counts 0, the storm timer
  // cancelled, the lowest-priority cursor at vCPU 0, interception sets recomputed. Ack notifiers,
  // the EOI exit handler and the statistics (PinStats, InterceptedEois) are kept: they belong to
  // the embedder, not to the guest's device.
  void Reset();

  // --- introspection ---
  absl::StatusOr<hw::x86::IoapicRedirectionEntry> Entry(int pin);
  absl::StatusOr<PinStats> Stats(int pin);
  int num_pins() const { return num_pins_; }

 private:
  // Immutable once published: replaced (never modified) by AddAckNotifier, so a list collected
  // under mu_ can be called after mu_ is released.
  using AckNotifierList = std::vector<AckNotifier>;

  struct Pin {
    hw::x86::IoapicRedirectionEntry rte = hw::x86::IoapicRedirectionEntry().set_mask(1);
    bool irr = false;  // latched request; follows the line for edge pins
    uint32_t storm_count = 0;
    std::shared_ptr<const AckNotifierList> ack_notifiers;  // null when none
    PinStats stats;
  };

  // Ack notifiers collected under mu_ for one EOI broadcast. Fixed size: at most one list per pin,
  // and copying a shared_ptr does not allocate, so the EOI path stays allocation-free.
  class AckBatch {
   public:
    void Add(int pin, std::shared_ptr<const AckNotifierList> list) {
      entries_[size_++] = {pin, std::move(list)};  // at most one per pin: size_ <= kMaxPins
    }
    bool empty() const { return size_ == 0; }
    // Calls every collected notifier, in pin order. mu_ must not be held.
    void Dispatch() const {
      for (int i = 0; i < size_; ++i) {
        for (const AckNotifier& n : *entries_[i].list) n(entries_[i].pin);
      }
    }

   private:
    struct Entry {
      int pin = 0;
      std::shared_ptr<const AckNotifierList> list;
    };
    std::array<Entry, kMaxPins> entries_;
    int size_ = 0;
  };

  Ioapic(hw::LapicBus& lapics, hw::OneShotTimer& timer, const IoapicOptions& options);

  uint32_t ReadIndirect() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WriteIndirect(uint32_t value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WriteRedirection(int pin, bool high_half, uint32_t value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Delivers pin's interrupt if it may; returns whether any LAPIC accepted it.
  bool Service(int pin) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The whole EOI broadcast: ack notifiers, then Remote IRR and re-delivery, rescans, timer.
  void BroadcastEoi(uint8_t vector, bool level) ABSL_LOCKS_EXCLUDED(mu_);
  void CollectAckNotifiers(uint8_t vector, AckBatch& batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Clears Remote IRR and re-delivers; returns whether the storm timer must be armed.
  bool ProcessEoiLocked(uint8_t vector, bool level) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RequestRescansFor(const hw::x86::IoapicRedirectionEntry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RunRequestedRescans() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RescanLocked(int vcpu) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool ValidVcpu(int vcpu) const { return vcpu >= 0 && vcpu < lapics_.num_vcpus(); }
  absl::Status CheckPin(int pin) const;
  absl::Status CheckVcpu(int vcpu) const;

  hw::LapicBus& lapics_;
  hw::OneShotTimer& timer_;
  const int num_pins_;
  const uint8_t version_;
  const uint32_t storm_threshold_;
  const uint64_t storm_delay_ns_;
  const bool rescan_immediately_;

  absl::Mutex mu_;
  uint8_t ioregsel_ ABSL_GUARDED_BY(mu_) = 0;
  uint8_t id_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<Pin> pins_ ABSL_GUARDED_BY(mu_);
  EoiInterception interception_ ABSL_GUARDED_BY(mu_);
  // Shared so that OnLapicEoi can call it after releasing mu_ while SetEoiExitHandler replaces it.
  std::shared_ptr<const EoiExitHandler> eoi_exit_handler_ ABSL_GUARDED_BY(mu_);
  uint32_t lowest_priority_cursor_ ABSL_GUARDED_BY(mu_) = 0;
  bool storm_timer_armed_ ABSL_GUARDED_BY(mu_) = false;
};

// The snapshot trailer's checksum (see Ioapic::Save), for tools that build or patch snapshots.
uint32_t SnapshotCrc32(absl::Span<const uint8_t> bytes);

}  // namespace irqvirt::ioapic

#endif  // IRQVIRT_IRQVIRT_IOAPIC_IOAPIC_H_
