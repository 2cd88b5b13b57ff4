// SPDX-License-Identifier: MIT
// Register-exact AMD IOMMU driver for interrupt remapping with guest virtual APIC (AVIC) posting:
// enabling (GA, GAM, then the GA log or GAPPI), per-device interrupt remapping tables, tear-free
// IRTE updates with the invalidations the spec requires, the command buffer (INVALIDATE_
// INTERRUPT_TABLE + COMPLETION_WAIT with a bounded wait), and the GA log interrupt path.
// It talks to the device only through hw::MmioRegion and hw::DmaMemory, so the same code runs on
// hardware and against hw/fake's FakeAmdIommu.
//
// Sources (facts only): AMD IOMMU spec 48882 §2.2.5 (IRTE, guest virtual APIC), §2.4 (commands),
// §2.7.4 (GA log restart procedure), §3.4 (MMIO); Linux drivers/iommu/amd/{init.c,iommu.c}
// (enable order, which updates flush); the GAPPI RFC v3 (GAPPIEn, GAPPISup, GAPPIDis).
//
// Which IRTE changes need INVALIDATE_INTERRUPT_TABLE: Linux (amd_iommu_update_ga, citing spec
// rev 3.08) says Destination, IsRun and GATag are not cached, and since the 2025 posted-IRQ
// overhaul it also updates GALogIntr on the same no-flush path. The RFC claims GAPPIDis is not
// cached either, but no released spec says so: irqvirt treats a GAPPIDis change as cached and
// invalidates. Every other change (GuestMode, vector, root pointer, RemapEn, ...) invalidates.
// With Control.IRTCacheDis = 1 the IOMMU caches nothing and no invalidation is issued.
//
// Locking (both are P::SpinLock, taken with LockIrqSave, never from a wakeup handler):
//   command_lock_: the command buffer and the completion sequence. Held across the bounded
//                  completion wait, like Linux's iommu->lock.
//   ga_log_lock_:  the GA log head and the Control read-modify-writes of a restart. Taken by the
//                  GA-log interrupt handler.
// IRTE writes take no lock: each entry has one writer at a time (the router serialises per IRTE)
// and a 16-byte CAS publishes it; a failed CAS means someone else wrote it and is reported.
#ifndef IRQVIRT_HW_AMD_IOMMU_H_
#define IRQVIRT_HW_AMD_IOMMU_H_

#include <atomic>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "hw/amd/command.h"
#include "hw/amd/device_table_entry.h"
#include "hw/amd/ga_log_entry.h"
#include "hw/amd/irte_ga.h"
#include "hw/amd/mmio.h"
#include "hw/dma_memory.h"
#include "hw/irte_atomic.h"
#include "hw/mmio_region.h"
#include "hw/platform.h"

namespace hw::amd {

// How guest-mode IRTEs notify a vCPU that is not running.
enum class GuestIrMode : uint8_t {
  kLegacyGa,  // 128-bit IRTEs without posting (EFR.GAMSup is not vAPIC)
  kGaLog,     // GALogIntr: one log, one interrupt, software finds the vCPU by GA tag
  kGappi,     // GAPPI: the IOMMU sends vector GATag[7:0] to the IRTE destination
};

struct IommuConfig {
  uint16_t max_device_id = 255;       // the device table covers IDs 0..max_device_id
  uint32_t ga_log_interrupt_apic_id = 0;
  uint8_t ga_log_interrupt_vector = 0;  // 0x20..0xff; where IntCapXT sends the GA log interrupt
  bool request_gappi = false;
  // Bounded waits: completion semaphore, command-buffer space, GALogRun. One MMIO read per try.
  uint32_t poll_limit = 100000;
  // Entries per device's interrupt remapping table: 2048 when the IOMMU supports it
  // (EFR2.NumIntRemapSup = 1; 32 KiB per device) and this allows it, 512 (8 KiB) otherwise.
  // With 2K tables the embedder's MSI addresses must set DM = 1 whatever the IRTE says (Linux
  // fill_msi_msg). Only 512 and 2048 are valid.
  uint32_t max_irt_entries = kIrtEntries2K;
};

// Why a command round trip failed. Hot paths return this (no allocation).
enum class CommandError : uint8_t {
  kNone,
  kBufferFull,         // the IOMMU stopped consuming commands: head did not move
  kCompletionTimeout,  // COMPLETION_WAIT never stored its value
  kConcurrentWrite,    // the IRTE changed under the writer (a caller bug)
  kBadEntry,           // device not attached or index out of range
};

const char* CommandErrorName(CommandError e);

struct IrteWriteResult {
  CommandError error = CommandError::kNone;
  bool invalidated = false;  // an INVALIDATE_INTERRUPT_TABLE round trip was needed and done
  // After a failure: memory holds the old entry again, but the flush that should make the
  // IOMMU drop a cached copy of the new one failed too, so the IOMMU may still use the new
  // entry's cached fields (root pointer, vector) until a later invalidation succeeds.
  bool cache_may_hold_new = false;
  // Four bytes, so that the result comes back in one register built there: as three bytes GCC
  // assembled it byte by byte on the stack and read it back wider, a store-forwarding stall on
  // every call (about 8 ns per IRTE in BM_LoadPut).
  uint8_t reserved = 0;
  bool ok() const { return error == CommandError::kNone; }
};
static_assert(sizeof(IrteWriteResult) == 4);

struct GaLogDrain {
  uint32_t entries = 0;       // guest-not-running entries dispatched
  uint32_t other_entries = 0; // unknown event types, skipped
  bool overflow = false;      // GALOverflow was seen: entries were dropped
  bool restarted = false;     // the log was restarted (GA log mode only)
  bool restart_timed_out = false;  // GALogRun stayed 1; overflow left set for the next interrupt
};

// Fields of a guest-mode IRTE the IOMMU reads fresh on every interrupt (no invalidation needed).
inline constexpr IrteWords kIrteUncachedGuestFields = {
    .lo = IrteGaGuest::destination_lo_field().mask_in_word() |
          IrteGaGuest::ga_tag_field().mask_in_word() | IrteGaGuest::is_run_field().mask_in_word() |
          IrteGaGuest::ga_log_intr_field().mask_in_word(),
    .hi = IrteGaGuest::destination_hi_field().mask_in_word(),
};

// True when replacing `before` by `after` changes a field the IOMMU may have cached.
constexpr bool IrteChangeNeedsInvalidation(IrteWords before, IrteWords after) {
  uint64_t lo = before.lo ^ after.lo;
  uint64_t hi = before.hi ^ after.hi;
  if (IrteGaIsGuestMode(before.lo) && IrteGaIsGuestMode(after.lo)) {
    lo &= ~kIrteUncachedGuestFields.lo;
    hi &= ~kIrteUncachedGuestFields.hi;
  }
  return (lo | hi) != 0;
}

template <Platform P>
class Iommu {
 public:
  static absl::StatusOr<std::unique_ptr<Iommu>> Create(P& platform, MmioRegion& mmio,
                                                       DmaMemory& memory,
                                                       const IommuConfig& config);
  ~Iommu();

  Iommu(const Iommu&) = delete;
  Iommu& operator=(const Iommu&) = delete;

  GuestIrMode mode() const { return mode_; }
  bool gappi_active() const { return gappi_active_; }
  bool gappi_dis_supported() const { return gappi_dis_supported_; }
  bool irt_cache_disabled() const { return irt_cache_disabled_; }
  // Entries in every attached device's interrupt remapping table (512 or 2048).
  uint32_t irt_entries() const { return irt_entries_; }
  // Why the mode differs from what was requested ("" when it does not).
  const std::string& mode_note() const { return mode_note_; }
  const IommuConfig& config() const { return config_; }

  // Cold: the GA log interrupt goes to `apic_id` from now on. The IOMMU reads IntCapXT when it
  // raises the interrupt (one 64-bit write, nothing cached), so an interrupt already sent still
  // reaches the old CPU: keep it online until this returns.
  void RetargetGaLogInterrupt(uint32_t apic_id) {
    ga_log_apic_id_ = apic_id;
    mmio_.Write64(mmio::kGaLogIntCapXt, GaLogIntCapXt().raw());
  }
  // Where the GA log interrupt goes now (config().ga_log_interrupt_apic_id until retargeted).
  uint32_t ga_log_interrupt_apic_id() const { return ga_log_apic_id_; }

  // Cold: gives `device_id` an irt_entries()-entry interrupt remapping table (all entries
  // invalid) and points its DTE at it.
  absl::Status AttachDevice(uint16_t device_id);
  bool attached(uint16_t device_id) const {
    return device_id <= config_.max_device_id && tables_[device_id].va != nullptr;
  }

  // The entry as the IOMMU would read it from memory.
  IrteWords ReadIrte(uint16_t device_id, uint32_t index) const {
    IrteWords* slot = Slot(device_id, index);
    return slot == nullptr ? IrteWords{} : IrteLoad(slot);
  }

  // Hot when only uncached fields change (one CAS). Otherwise also INVALIDATE_INTERRUPT_TABLE +
  // COMPLETION_WAIT; if that round trip fails, the previous entry is put back in memory and
  // flushed again (see IrteWriteResult::cache_may_hold_new), and the error returned.
  IrteWriteResult WriteIrte(uint16_t device_id, uint32_t index, IrteWords desired);
  // WriteIrte with the entry's current GAPPIDis kept: when root pointer and vector stay too,
  // only uncached fields change (one CAS, no command), so it fails only for a bad entry.
  IrteWriteResult WriteIrteKeepingGappiDis(uint16_t device_id, uint32_t index, IrteWords desired);

  // Invalidates the IOMMU's cached IRTEs of one device and waits for completion.
  CommandError InvalidateInterruptTable(uint16_t device_id);
  // WriteIrte's body, from the entry `before` as just loaded from `slot`.
  ABSL_ATTRIBUTE_ALWAYS_INLINE IrteWriteResult WriteIrteFrom(uint16_t device_id, IrteWords* slot,
                                                             IrteWords before, IrteWords desired) {
    if (before == desired) return {};
    const IrteWords expected = before;
    if (!IrteCompareExchange(slot, before, desired)) return {CommandError::kConcurrentWrite, false};
    if (irt_cache_disabled_ || !IrteChangeNeedsInvalidation(expected, desired)) return {};
    const CommandError e = InvalidateInterruptTable(device_id);
    if (e == CommandError::kNone) return {CommandError::kNone, true};
    // Roll back. A failed wait does not mean the invalidation did not run, and a device interrupt
    // meanwhile may have cached the new entry: flush again, so that the IOMMU uses what memory
    // holds (and say so when even that fails).
    IrteWords current = desired;
    IrteCompareExchange(slot, current, expected);
    const bool reflushed = InvalidateInterruptTable(device_id) == CommandError::kNone;
    return {e, false, !reflushed};
  }
  // Queues `commands` (128 bits each) and one COMPLETION_WAIT, and waits for it (bounded).
  CommandError RunCommands(std::initializer_list<IrteWords> commands);

  // The GA log interrupt: reads Status, clears its write-1-to-clear bits, drains the log (writing
  // the head back before each dispatch), restarts the log after an overflow once GALogRun = 0 —
  // only when the GA log is the active mode — and re-reads Status until it is quiet (ERBT1312).
  // `on_tag(uint32_t ga_tag)` runs for every guest-not-running entry.
  template <typename OnTag>
  GaLogDrain HandleGaLogInterrupt(OnTag&& on_tag);

 private:
  Iommu(P& platform, MmioRegion& mmio, DmaMemory& memory, const IommuConfig& config)
      : platform_(platform),
        mmio_(mmio),
        memory_(memory),
        config_(config),
        ga_log_apic_id_(config.ga_log_interrupt_apic_id),
        tables_(static_cast<size_t>(config.max_device_id) + 1) {}

  absl::Status Enable();
  absl::Status EnableGaLog();
  void Disable();
  IntCapXt GaLogIntCapXt() const {
    return IntCapXt()
        .set_vector(config_.ga_log_interrupt_vector)
        .set_destination(ga_log_apic_id_);
  }
  bool WaitForStatus(uint32_t mask, bool set);
  IommuControl ReadControl() { return IommuControl::FromRaw(mmio_.Read64(mmio::kControl)); }
  void WriteControl(IommuControl c) { mmio_.Write64(mmio::kControl, c.raw()); }
  IrteWords* Slot(uint16_t device_id, uint32_t index) const {
    if (!attached(device_id) || index >= irt_entries_) return nullptr;
    return static_cast<IrteWords*>(tables_[device_id].va) + index;
  }
  CommandError QueueCommand(IrteWords command) ABSL_EXCLUSIVE_LOCKS_REQUIRED(command_lock_);
  template <typename OnTag>
  void DrainGaLog(OnTag& on_tag, GaLogDrain& result) ABSL_EXCLUSIVE_LOCKS_REQUIRED(ga_log_lock_);
  bool RestartGaLog() ABSL_EXCLUSIVE_LOCKS_REQUIRED(ga_log_lock_);

  P& platform_;
  MmioRegion& mmio_;
  DmaMemory& memory_;
  const IommuConfig config_;
  uint32_t ga_log_apic_id_;  // cold: Create and RetargetGaLogInterrupt

  GuestIrMode mode_ = GuestIrMode::kLegacyGa;
  bool gappi_active_ = false;
  bool gappi_dis_supported_ = false;
  uint32_t irt_entries_ = kIrtEntries512;
  bool irt_cache_disabled_ = false;
  std::string mode_note_;

  DmaBuffer device_table_;
  DmaBuffer command_buffer_;
  DmaBuffer completion_semaphore_;
  DmaBuffer ga_log_;
  DmaBuffer ga_log_tail_;
  // Per device ID; va == nullptr until attached. Cold-path only (AttachDevice, Disable) with the
  // embedder serializing them; hot paths read an attached entry's va, which never changes while
  // attached. The device table itself is DMA memory the IOMMU reads: DTE writes are atomic.
  std::vector<DmaBuffer> tables_;

  typename P::SpinLock command_lock_;
  uint32_t command_tail_ ABSL_GUARDED_BY(command_lock_) = 0;
  uint64_t completion_sequence_ ABSL_GUARDED_BY(command_lock_) = 0;

  // Serialises GA log draining and restarts (head register, Control read-modify-write).
  typename P::SpinLock ga_log_lock_;
};

inline const char* CommandErrorName(CommandError e) {
  switch (e) {
    case CommandError::kNone:
      return "ok";
    case CommandError::kBufferFull:
      return "command buffer full: the IOMMU stopped consuming commands";
    case CommandError::kCompletionTimeout:
      return "COMPLETION_WAIT timed out";
    case CommandError::kConcurrentWrite:
      return "IRTE changed concurrently";
    case CommandError::kBadEntry:
      return "no such IRTE (device not attached or index out of range)";
  }
  return "?";
}

template <Platform P>
absl::StatusOr<std::unique_ptr<Iommu<P>>> Iommu<P>::Create(P& platform, MmioRegion& mmio,
                                                           DmaMemory& memory,
                                                           const IommuConfig& config) {
  if (config.ga_log_interrupt_vector < 0x20) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "AMD IOMMU: GA log interrupt vector %#x is reserved (< 0x20)", config.ga_log_interrupt_vector));
  }
  if (config.max_irt_entries != kIrtEntries512 && config.max_irt_entries != kIrtEntries2K) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "AMD IOMMU: max_irt_entries %u: interrupt remapping tables have 512 or 2048 entries",
        config.max_irt_entries));
  }
  std::unique_ptr<Iommu> iommu(new Iommu(platform, mmio, memory, config));
  absl::Status s = iommu->Enable();
  if (!s.ok()) return s;  // the destructor disables whatever was enabled and frees the memory
  return iommu;
}

template <Platform P>
absl::Status Iommu<P>::Enable() {
  const auto efr = IommuExtendedFeature::FromRaw(mmio_.Read64(mmio::kExtendedFeature));
  const auto efr2 = IommuExtendedFeature2::FromRaw(mmio_.Read64(mmio::kExtendedFeature2));
  if (!efr.ga_sup()) {
    return absl::FailedPreconditionError("AMD IOMMU: EFR.GASup is clear: no 128-bit IRTE format");
  }
  if (!efr.xt_sup()) {
    return absl::FailedPreconditionError(
        "AMD IOMMU: EFR.XTSup is clear: irqvirt routes the GA log interrupt through IntCapXT");
  }

  // Start from a known state (kexec / a previous owner): GAPPI and the GA log off, and wait for
  // the log to stop before its registers are rewritten (Linux enable_iommus_vapic).
  IommuControl control = ReadControl();
  control.set_gappi_en(0).set_ga_log_en(0).set_ga_int_en(0);
  WriteControl(control);
  if (!WaitForStatus(IommuStatus().set_ga_log_run(1).raw(), false)) {
    return absl::DeadlineExceededError("AMD IOMMU: GALogRun did not clear after disabling the GA log");
  }

  const size_t dte_bytes = (static_cast<size_t>(config_.max_device_id) + 1) * kDeviceTableEntryBytes;
  const size_t dt_pages = (dte_bytes + 4095) / 4096;
  auto dt = memory_.Allocate(dt_pages * 4096, 4096);
  if (!dt.ok()) return dt.status();
  device_table_ = *dt;
  auto cb = memory_.Allocate(kCommandBufferBytes, 4096);
  if (!cb.ok()) return cb.status();
  command_buffer_ = *cb;
  auto sem = memory_.Allocate(8, 8);
  if (!sem.ok()) return sem.status();
  completion_semaphore_ = *sem;

  mmio_.Write64(mmio::kDeviceTableBase,
                DeviceTableBase().set_base_ppn(device_table_.pa >> 12).set_size(dt_pages - 1).raw());
  mmio_.Write64(mmio::kCommandBufferBase, CommandBufferBase()
                                              .set_base_ppn(command_buffer_.pa >> 12)
                                              .set_length(kCommandBufferLength512)
                                              .raw());
  mmio_.Write64(mmio::kCommandHead, 0);
  mmio_.Write64(mmio::kCommandTail, 0);
  mmio_.Write64(mmio::kGaLogIntCapXt, GaLogIntCapXt().raw());

  control = ReadControl();
  irt_cache_disabled_ = control.irt_cache_dis() != 0;
  control.set_cmd_buf_en(1).set_ga_en(1).set_xt_en(1).set_int_cap_xt_en(1);
  // 2K tables when advertised (FEATURE_NUM_INT_REMAP_SUP_2K) and allowed; the DTEs written by
  // AttachDevice follow what the mode read back says.
  const bool want_2k =
      efr2.num_int_remap_sup() == kNumIntRemap2K && config_.max_irt_entries == kIrtEntries2K;
  control.set_num_int_remap_mode(want_2k ? kNumIntRemap2K : 0);
  WriteControl(control);
  irt_entries_ =
      ReadControl().num_int_remap_mode() == kNumIntRemap2K ? kIrtEntries2K : kIrtEntries512;

  // The mode: GAPPI only when asked, advertised, and vAPIC guest mode is available; the GA log
  // otherwise. gappi_active_ becomes true only at the very end, after GAPPIEn read back as set.
  GuestIrMode mode = GuestIrMode::kGaLog;
  // Bit 21 (GAMSup bit 0) alone says vAPIC guest mode is there: Linux tests FEATURE_GAM_VAPIC,
  // BIT(21), so an IOMMU reporting a later superset encoding (3, 5, 7) still posts.
  if ((efr.gam_sup() & kGamVirtualApic) == 0) {
    mode = GuestIrMode::kLegacyGa;
    mode_note_ = "EFR.GAMSup is not vAPIC mode: guest-mode IRTEs unavailable, no posting";
  } else if (config_.request_gappi && !efr.gappi_sup()) {
    mode_note_ = "GAPPI requested but EFR.GAPPISup is clear: using the GA log";
  }
  if (mode == GuestIrMode::kGaLog && config_.request_gappi && efr.gappi_sup()) {
    control = ReadControl();
    WriteControl(control.set_gappi_en(1));
    if (ReadControl().gappi_en()) {
      mode = GuestIrMode::kGappi;
    } else {
      mode_note_ = "GAPPI requested but Control.GAPPIEn did not stick: using the GA log";
    }
  }
  if (mode == GuestIrMode::kGaLog) {
    absl::Status s = EnableGaLog();
    if (!s.ok()) return s;
  }
  if (mode != GuestIrMode::kLegacyGa) {
    control = ReadControl();
    WriteControl(control.set_gam_en(kGamVirtualApic));
  }
  control = ReadControl();
  WriteControl(control.set_iommu_en(1));

  mode_ = mode;
  gappi_dis_supported_ = mode == GuestIrMode::kGappi && efr2.gappi_dis_sup() != 0;
  gappi_active_ = mode == GuestIrMode::kGappi;
  return absl::OkStatus();
}

// Linux iommu_ga_log_enable: base | length, tail address, head = tail = 0, then GAIntEn and
// GALogEn, then wait for GALogRun.
template <Platform P>
absl::Status Iommu<P>::EnableGaLog() {
  auto log = memory_.Allocate(kGaLogBytes, 4096);
  if (!log.ok()) return log.status();
  ga_log_ = *log;
  auto tail = memory_.Allocate(8, 8);
  if (!tail.ok()) return tail.status();
  ga_log_tail_ = *tail;
  mmio_.Write64(mmio::kGaLogBase,
                GaLogBase().set_base_ppn(ga_log_.pa >> 12).set_length(kGaLogLength512).raw());
  mmio_.Write64(mmio::kGaLogTailAddress,
                GaLogTailAddress().set_address_qword(ga_log_tail_.pa >> 3).raw());
  mmio_.Write64(mmio::kGaLogHead, 0);
  mmio_.Write64(mmio::kGaLogTail, 0);
  IommuControl control = ReadControl();
  WriteControl(control.set_ga_int_en(1).set_ga_log_en(1));
  if (!WaitForStatus(IommuStatus().set_ga_log_run(1).raw(), true)) {
    return absl::DeadlineExceededError("AMD IOMMU: GALogRun did not set after enabling the GA log");
  }
  return absl::OkStatus();
}

template <Platform P>
Iommu<P>::~Iommu() {
  Disable();
}

template <Platform P>
void Iommu<P>::Disable() {
  IommuControl control = ReadControl();
  control.set_gappi_en(0).set_ga_log_en(0).set_ga_int_en(0).set_gam_en(0).set_cmd_buf_en(0);
  control.set_num_int_remap_mode(0);
  WriteControl(control);
  gappi_active_ = false;
  for (DmaBuffer& t : tables_) {
    if (t.va != nullptr) memory_.Free(t);
  }
  for (DmaBuffer* b : {&device_table_, &command_buffer_, &completion_semaphore_, &ga_log_,
                       &ga_log_tail_}) {
    if (b->va != nullptr) memory_.Free(*b);
    *b = DmaBuffer{};
  }
}

template <Platform P>
bool Iommu<P>::WaitForStatus(uint32_t mask, bool set) {
  for (uint32_t i = 0; i < config_.poll_limit; ++i) {
    const bool is_set = (mmio_.Read64(mmio::kStatus) & mask) != 0;
    if (is_set == set) return true;
  }
  return false;
}

template <Platform P>
absl::Status Iommu<P>::AttachDevice(uint16_t device_id) {
  if (device_id > config_.max_device_id) {
    return absl::OutOfRangeError(absl::StrFormat(
        "AMD IOMMU: device %#x is beyond the device table (max %#x)", device_id, config_.max_device_id));
  }
  if (attached(device_id)) {
    return absl::AlreadyExistsError(absl::StrFormat("AMD IOMMU: device %#x already attached", device_id));
  }
  auto table = memory_.Allocate(irt_entries_ * sizeof(IrteWords), kIrtAlignment);
  if (!table.ok()) return table.status();
  tables_[device_id] = *table;
  const DteInterrupt dte =
      DteInterrupt()
          .set_interrupt_valid(1)
          .set_int_tab_len(irt_entries_ == kIrtEntries2K ? kIntTabLen2K : kIntTabLen512)
          .set_int_table_root(table->pa >> 6)
          .set_int_ctl(kIntCtlRemapped);
  auto* qwords = static_cast<uint64_t*>(device_table_.va) +
                 static_cast<size_t>(device_id) * (kDeviceTableEntryBytes / 8);
  std::atomic_ref<uint64_t>(qwords[kDteInterruptQword]).store(dte.raw(), std::memory_order_release);
  // The IOMMU may hold a copy of the old DTE (and IRTEs of an old table): drop both.
  const auto dte_inv = InvalidateDevTabEntryCommand::ForDevice(device_id);
  const auto irt_inv = InvalidateInterruptTableCommand::ForDevice(device_id);
  const CommandError e =
      RunCommands({IrteWords{dte_inv.lo(), dte_inv.hi()}, IrteWords{irt_inv.lo(), irt_inv.hi()}});
  if (e != CommandError::kNone) {
    std::atomic_ref<uint64_t>(qwords[kDteInterruptQword]).store(0, std::memory_order_release);
    // The first command may have run (a time-out is not a failure to execute): flush again so
    // the IOMMU does not keep the entry that points at the table freed below.
    (void)RunCommands({IrteWords{dte_inv.lo(), dte_inv.hi()}});
    memory_.Free(tables_[device_id]);
    tables_[device_id] = DmaBuffer{};
    return absl::UnavailableError(
        absl::StrFormat("AMD IOMMU: attaching device %#x: %s", device_id, CommandErrorName(e)));
  }
  return absl::OkStatus();
}

template <Platform P>
IrteWriteResult Iommu<P>::WriteIrteKeepingGappiDis(uint16_t device_id, uint32_t index,
                                                   IrteWords desired) {
  IrteWords* slot = Slot(device_id, index);
  if (slot == nullptr) return {CommandError::kBadEntry, false};
  const IrteWords before = IrteLoad(slot);
  const IrteWords keep = {
      (desired.lo & ~IrteGaGuest::gappi_dis_field().mask_in_word()) |
          (before.lo & IrteGaGuest::gappi_dis_field().mask_in_word()),
      desired.hi};
  return WriteIrteFrom(device_id, slot, before, keep);
}

template <Platform P>
IrteWriteResult Iommu<P>::WriteIrte(uint16_t device_id, uint32_t index, IrteWords desired) {
  IrteWords* slot = Slot(device_id, index);
  if (slot == nullptr) return {CommandError::kBadEntry, false};
  return WriteIrteFrom(device_id, slot, IrteLoad(slot), desired);
}


template <Platform P>
CommandError Iommu<P>::QueueCommand(IrteWords command) {
  const uint32_t next = (command_tail_ + kCommandBytes) % kCommandBufferBytes;
  // Full when advancing the tail would make it equal the head.
  for (uint32_t i = 0;; ++i) {
    const auto head = CommandBufferPointer::FromRaw(mmio_.Read64(mmio::kCommandHead));
    if (head.byte_offset() != next) break;
    if (i >= config_.poll_limit) return CommandError::kBufferFull;
  }
  auto* entry = reinterpret_cast<uint64_t*>(static_cast<uint8_t*>(command_buffer_.va) + command_tail_);
  std::atomic_ref<uint64_t>(entry[0]).store(command.lo, std::memory_order_relaxed);
  std::atomic_ref<uint64_t>(entry[1]).store(command.hi, std::memory_order_release);
  command_tail_ = next;
  return CommandError::kNone;
}

template <Platform P>
CommandError Iommu<P>::InvalidateInterruptTable(uint16_t device_id) {
  const auto inv = InvalidateInterruptTableCommand::ForDevice(device_id);
  return RunCommands({IrteWords{inv.lo(), inv.hi()}});
}

template <Platform P>
CommandError Iommu<P>::RunCommands(std::initializer_list<IrteWords> commands) {
  const IrqFlags flags = platform_.LockIrqSave(command_lock_);
  const uint64_t sequence = ++completion_sequence_;
  const auto wait = CompletionWaitCommand::Store(completion_semaphore_.pa, sequence);
  CommandError e = CommandError::kNone;
  for (const IrteWords& c : commands) {
    if (e == CommandError::kNone) e = QueueCommand(c);
  }
  if (e == CommandError::kNone) e = QueueCommand({wait.lo(), wait.hi()});
  // Publish whatever was queued, even after a failure: the entries are valid commands.
  mmio_.Write64(mmio::kCommandTail, CommandBufferPointer::FromByteOffset(command_tail_).raw());
  if (e == CommandError::kNone) {
    // Commands complete in order and sequences only grow, so ">=" also survives a late store
    // from an earlier, timed-out wait.
    std::atomic_ref<uint64_t> sem(*static_cast<uint64_t*>(completion_semaphore_.va));
    e = CommandError::kCompletionTimeout;
    for (uint32_t i = 0; i < config_.poll_limit; ++i) {
      if (sem.load(std::memory_order_acquire) >= sequence) {
        e = CommandError::kNone;
        break;
      }
      (void)mmio_.Read64(mmio::kStatus);  // a bus read per try paces the loop like udelay
    }
  }
  platform_.UnlockIrqRestore(command_lock_, flags);
  return e;
}

template <Platform P>
template <typename OnTag>
GaLogDrain Iommu<P>::HandleGaLogInterrupt(OnTag&& on_tag) {
  GaLogDrain result;
  const uint32_t active = IommuStatus().set_ga_int(1).set_ga_log_overflow(1).raw();
  const IrqFlags flags = platform_.LockIrqSave(ga_log_lock_);
  // Bounded: a device that keeps logging cannot pin this CPU forever; the next interrupt resumes.
  for (int round = 0; round < 16; ++round) {
    const auto status = IommuStatus::FromRaw(static_cast<uint32_t>(mmio_.Read64(mmio::kStatus)));
    const uint32_t pending = status.raw() & active;
    if (pending == 0) break;
    // Clear GAInt (re-arms the interrupt) but leave GALOverflow to the restart procedure, which
    // must clear it only after GALogRun = 0.
    mmio_.Write64(mmio::kStatus, pending & IommuStatus().set_ga_int(1).raw());
    if (ga_log_.va != nullptr) DrainGaLog(on_tag, result);
    if (status.ga_log_overflow()) {
      result.overflow = true;
      if (mode_ != GuestIrMode::kGaLog) {
        // Never turn the GA log back on under GAPPI: just acknowledge the stray overflow.
        mmio_.Write64(mmio::kStatus, IommuStatus().set_ga_log_overflow(1).raw());
      } else if (RestartGaLog()) {
        result.restarted = true;
      } else {
        result.restart_timed_out = true;
        break;
      }
    }
  }
  platform_.UnlockIrqRestore(ga_log_lock_, flags);
  return result;
}

template <Platform P>
template <typename OnTag>
void Iommu<P>::DrainGaLog(OnTag& on_tag, GaLogDrain& result) {
  uint32_t head = GaLogPointer::FromRaw(mmio_.Read64(mmio::kGaLogHead)).byte_offset() % kGaLogBytes;
  const uint32_t tail = GaLogPointer::FromRaw(mmio_.Read64(mmio::kGaLogTail)).byte_offset() % kGaLogBytes;
  const auto* log = static_cast<const uint64_t*>(ga_log_.va);
  while (head != tail) {
    const auto entry = GaLogEntry::FromRaw(
        std::atomic_ref<const uint64_t>(log[head / kGaLogEntryBytes]).load(std::memory_order_acquire));
    head = (head + kGaLogEntryBytes) % kGaLogBytes;
    // Free the slot before dispatching, so the IOMMU can reuse it while the vCPU is woken.
    mmio_.Write64(mmio::kGaLogHead, GaLogPointer::FromByteOffset(head).raw());
    if (entry.event_type() == kGaLogGuestNotRunning) {
      ++result.entries;
      on_tag(static_cast<uint32_t>(entry.ga_tag()));
    } else {
      ++result.other_entries;
    }
  }
}

// 48882 §2.7.4: wait for GALogRun = 0, clear GALogEn (and GAIntEn), clear GALOverflow, then set
// GAIntEn and GALogEn again. Head and tail stay where they are.
template <Platform P>
bool Iommu<P>::RestartGaLog() {
  if (!WaitForStatus(IommuStatus().set_ga_log_run(1).raw(), false)) return false;
  IommuControl control = ReadControl();
  WriteControl(control.set_ga_log_en(0));
  WriteControl(control.set_ga_int_en(0));
  mmio_.Write64(mmio::kStatus, IommuStatus().set_ga_log_overflow(1).raw());
  WriteControl(control.set_ga_int_en(1));
  WriteControl(control.set_ga_log_en(1));
  return true;
}

}  // namespace hw::amd

#endif  // IRQVIRT_HW_AMD_IOMMU_H_
