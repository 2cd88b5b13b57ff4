// SPDX-License-Identifier: MIT
#include "hw/fake/fake_amd_iommu.h"

#include <algorithm>
#include <atomic>

#include "absl/strings/str_format.h"
#include "hw/amd/command.h"
#include "hw/amd/device_table_entry.h"
#include "hw/amd/ga_log_entry.h"
#include "hw/amd/irte_ga.h"
#include "hw/amd/mmio.h"
#include "hw/x86/vapic_page.h"

namespace hw::fake {
namespace {

using amd::IommuControl;
using amd::IommuStatus;

// Fields the IOMMU reads from memory on every interrupt even when the entry is cached.
constexpr amd::IrteWords kFreshFields = {
    .lo = amd::IrteGaGuest::destination_lo_field().mask_in_word() |
          amd::IrteGaGuest::ga_tag_field().mask_in_word() |
          amd::IrteGaGuest::is_run_field().mask_in_word() |
          amd::IrteGaGuest::ga_log_intr_field().mask_in_word(),
    .hi = amd::IrteGaGuest::destination_hi_field().mask_in_word(),
};

uint32_t CacheKey(uint16_t device_id, uint32_t index) { return (uint32_t{device_id} << 16) | index; }

}  // namespace

FakeAmdIommu::FakeAmdIommu(FakePhysicalMemory& memory, InterruptSink& sink,
                           FakeAmdIommuFeatures features)
    : memory_(memory), sink_(sink), features_(features) {
  FakeMutexLock l(mu_);
  regs_[amd::mmio::kExtendedFeature] = amd::IommuExtendedFeature()
                                           .set_xt_sup(features.xt_sup)
                                           .set_ga_sup(features.ga_sup)
                                           .set_gam_sup(features.gam_sup)
                                           .set_gappi_sup(features.gappi_sup)
                                           .set_ia_sup(1)
                                           .raw();
  regs_[amd::mmio::kExtendedFeature2] =
      amd::IommuExtendedFeature2()
          .set_gappi_dis_sup(features.gappi_dis_sup)
          .set_num_int_remap_sup(features.int_remap_2k ? amd::kNumIntRemap2K : 0)
          .raw();
  regs_[amd::mmio::kControl] = IommuControl().set_irt_cache_dis(features.irt_cache_dis).raw();
}

uint64_t FakeAmdIommu::Reg(uint32_t offset) const {
  auto it = regs_.find(offset);
  return it == regs_.end() ? 0 : it->second;
}

uint64_t FakeAmdIommu::Read64(uint32_t offset) {
  FakeMutexLock l(mu_);
  if (offset == amd::mmio::kStatus) return status_;
  return Reg(offset);
}

uint32_t FakeAmdIommu::Read32(uint32_t offset) {
  const uint64_t qword = Read64(offset & ~7u);
  return static_cast<uint32_t>((offset & 4) != 0 ? qword >> 32 : qword);
}

void FakeAmdIommu::Write32(uint32_t offset, uint32_t value) {
  RunThenSendDeferred([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const uint32_t qword_offset = offset & ~7u;
    const uint64_t old = qword_offset == amd::mmio::kStatus ? status_ : Reg(qword_offset);
    const int shift = (offset & 4) != 0 ? 32 : 0;
    const uint64_t merged = (old & ~(uint64_t{0xffffffff} << shift)) | (uint64_t{value} << shift);
    Write64Locked(qword_offset, merged);
  });
}

template <typename F>
void FakeAmdIommu::RunThenSendDeferred(F locked_part) {
  DeferredInterrupts<Outgoing> out;
  {
    FakeMutexLock l(mu_);
    locked_part();
    out = deferred_.Take();
  }
  out.SendAll([this](const Outgoing& o) { Send(o); });
}

void FakeAmdIommu::Defer(const Outgoing& out) {
  if (out.kind == Outgoing::kNone) return;
  // Full only if a test fires more than 64 IRTEs per command batch; the newest is then dropped.
  (void)deferred_.Add(out);
}

void FakeAmdIommu::FireDuringWait(uint16_t device_id) {
  if (wait_fire_device_ != device_id) return;
  for (uint32_t index : wait_fire_indices_) {
    Outgoing out;
    wait_deliveries_.push_back({index, DeliverLocked(device_id, index, out)});
    Defer(out);
  }
}

void FakeAmdIommu::Write64(uint32_t offset, uint64_t value) {
  // Deliveries made while commands ran (test hooks) are sent once the write is done.
  RunThenSendDeferred([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { Write64Locked(offset, value); });
}

void FakeAmdIommu::Write64Locked(uint32_t offset, uint64_t value) {
  switch (offset) {
    case amd::mmio::kExtendedFeature:
    case amd::mmio::kExtendedFeature2:
      break;  // read-only
    case amd::mmio::kGaLogTail:
      // Software may set the tail only while the log is off; afterwards the IOMMU owns it.
      if (!IommuControl::FromRaw(Reg(amd::mmio::kControl)).ga_log_en()) regs_[offset] = value;
      break;
    case amd::mmio::kControl:
      WriteControl(value);
      break;
    case amd::mmio::kStatus:
      status_ &= ~(static_cast<uint32_t>(value) & IommuStatus::kWriteOneToClearMask);
      break;
    case amd::mmio::kCommandTail:
      regs_[offset] = value;
      ProcessCommands();
      break;
    default:
      regs_[offset] = value;
      break;
  }
}

void FakeAmdIommu::WriteControl(uint64_t value) {
  const auto before = IommuControl::FromRaw(Reg(amd::mmio::kControl));
  auto after = IommuControl::FromRaw(value & ~refused_control_bits_);
  if (!features_.gappi_sup) after.set_gappi_en(0);
  if (!features_.int_remap_2k) after.set_num_int_remap_mode(0);
  after.set_irt_cache_dis(features_.irt_cache_dis);  // firmware-owned in this model
  regs_[amd::mmio::kControl] = after.raw();
  auto status = IommuStatus::FromRaw(status_);
  if (after.ga_log_en() && !before.ga_log_en()) status.set_ga_log_run(1);
  if (!after.ga_log_en()) status.set_ga_log_run(0);
  status.set_cmd_buf_run(after.cmd_buf_en());
  status_ = status.raw();
  if (after.cmd_buf_en() && !before.cmd_buf_en()) ProcessCommands();
}

void FakeAmdIommu::ProcessCommands() {
  if (commands_stalled_) return;
  if (!IommuControl::FromRaw(Reg(amd::mmio::kControl)).cmd_buf_en()) return;
  const auto base = amd::CommandBufferBase::FromRaw(Reg(amd::mmio::kCommandBufferBase));
  const uint32_t size = 16u << base.length();
  const uint64_t base_pa = base.base_ppn() << 12;
  uint32_t head = amd::CommandBufferPointer::FromRaw(Reg(amd::mmio::kCommandHead)).byte_offset() % size;
  const uint32_t tail = amd::CommandBufferPointer::FromRaw(Reg(amd::mmio::kCommandTail)).byte_offset() % size;
  while (head != tail) {
    auto* entry = static_cast<uint64_t*>(memory_.Translate(base_pa + head, 16));
    if (entry == nullptr) break;  // command buffer not in memory: the processor stops
    ExecuteCommand(std::atomic_ref<uint64_t>(entry[0]).load(std::memory_order_acquire),
                   std::atomic_ref<uint64_t>(entry[1]).load(std::memory_order_acquire));
    head = (head + 16) % size;
    regs_[amd::mmio::kCommandHead] = amd::CommandBufferPointer::FromByteOffset(head).raw();
  }
}

void FakeAmdIommu::ExecuteCommand(uint64_t lo, uint64_t hi) {
  ++commands_executed_;
  switch (static_cast<amd::CommandOpcode>(amd::CommandOpcodeOf(lo))) {
    case amd::CommandOpcode::kInvalidateInterruptTable: {
      const auto cmd = amd::InvalidateInterruptTableCommand::FromHalves(lo, hi);
      const uint16_t device = static_cast<uint16_t>(cmd.device_id());
      if (deliver_before_.armed && deliver_before_.device_id == device &&
          deliver_before_.skip-- == 0) {
        deliver_before_.armed = false;
        Outgoing out;
        last_early_delivery_ = DeliverLocked(device, deliver_before_.index, out);
        Defer(out);
      }
      FireDuringWait(device);
      absl::erase_if(irte_cache_, [device](const auto& kv) { return (kv.first >> 16) == device; });
      ++irt_invalidations_;
      if (refetch_.armed && refetch_.device_id == device) {
        refetch_.armed = false;
        if (amd::IrteWords* slot = IrteSlot(device, refetch_.index)) {
          irte_cache_[CacheKey(device, refetch_.index)] = amd::IrteLoad(slot);
        }
      }
      break;
    }
    case amd::CommandOpcode::kInvalidateDevTabEntry: {
      const auto cmd = amd::InvalidateDevTabEntryCommand::FromHalves(lo, hi);
      dte_cache_.erase(static_cast<uint16_t>(cmd.device_id()));
      ++dte_invalidations_;
      break;
    }
    case amd::CommandOpcode::kCompletionWait: {
      FireDuringWait(wait_fire_device_);
      const auto cmd = amd::CompletionWaitCommand::FromHalves(lo, hi);
      if (!cmd.store()) break;
      if (completion_stores_before_drop_ > 0) {
        --completion_stores_before_drop_;
      } else if (completion_stores_to_drop_ > 0) {
        --completion_stores_to_drop_;
        break;
      }
      if (auto* sem = static_cast<uint64_t*>(memory_.Translate(cmd.store_address(), 8))) {
        std::atomic_ref<uint64_t>(*sem).store(cmd.store_data(), std::memory_order_release);
      }
      break;
    }
    case amd::CommandOpcode::kInvalidateAll:
      irte_cache_.clear();
      dte_cache_.clear();
      break;
    default:
      break;  // DMA-translation invalidations: nothing cached here
  }
}

uint32_t FakeAmdIommu::TableEntries(amd::DteInterrupt dte) const {
  const uint64_t len = dte.int_tab_len();
  if (len <= amd::kIntTabLen512) return 1u << len;
  const bool mode_2k =
      IommuControl::FromRaw(Reg(amd::mmio::kControl)).num_int_remap_mode() == amd::kNumIntRemap2K;
  return len == amd::kIntTabLen2K && mode_2k ? amd::kIrtEntries2K : 0;
}

amd::IrteWords* FakeAmdIommu::IrteSlot(uint16_t device_id, uint32_t index) {
  const auto dtb = amd::DeviceTableBase::FromRaw(Reg(amd::mmio::kDeviceTableBase));
  const uint64_t dte_pa = (dtb.base_ppn() << 12) +
                          uint64_t{device_id} * amd::kDeviceTableEntryBytes +
                          8 * amd::kDteInterruptQword;
  auto* dte_word = static_cast<uint64_t*>(memory_.Translate(dte_pa, 8));
  if (dte_word == nullptr) return nullptr;
  const auto dte = amd::DteInterrupt::FromRaw(
      std::atomic_ref<uint64_t>(*dte_word).load(std::memory_order_acquire));
  if (!dte.interrupt_valid() || index >= TableEntries(dte)) return nullptr;
  return static_cast<amd::IrteWords*>(
      memory_.Translate(dte.table_address() + uint64_t{index} * 16, 16));
}

Delivery FakeAmdIommu::DeviceInterrupt(uint16_t device_id, uint32_t index) {
  Delivery d;
  Outgoing out;
  {
    FakeMutexLock l(mu_);
    d = DeliverLocked(device_id, index, out);
  }
  Send(out);
  return d;
}

Delivery FakeAmdIommu::DeliverLocked(uint16_t device_id, uint32_t index, Outgoing& out) {
  Delivery d;
  const auto control = IommuControl::FromRaw(Reg(amd::mmio::kControl));
  auto fault = [&](std::string why) {
    d.kind = DeliveryKind::kFault;
    d.fault = absl::StrFormat("device %#x IRTE %u: %s", device_id, index, why);
    return d;
  };
  if (!control.iommu_en()) return fault("IOMMU disabled");
  if (!control.ga_en()) return fault("GAEn clear (the fake models only 128-bit IRTEs)");
  const auto dtb = amd::DeviceTableBase::FromRaw(Reg(amd::mmio::kDeviceTableBase));
  const uint64_t dte_pa = (dtb.base_ppn() << 12) + uint64_t{device_id} * amd::kDeviceTableEntryBytes +
                          8 * amd::kDteInterruptQword;
  if (uint64_t{device_id} * amd::kDeviceTableEntryBytes >= (dtb.size() + 1) * 4096) {
    return fault("beyond the device table");
  }
  // DTEs are cached like IRTEs, whatever they say, until INVALIDATE_DEVTAB_ENTRY.
  auto cached_dte = dte_cache_.find(device_id);
  if (cached_dte == dte_cache_.end()) {
    auto* dte_word = static_cast<uint64_t*>(memory_.Translate(dte_pa, 8));
    if (dte_word == nullptr) return fault("device table not in memory");
    cached_dte = dte_cache_
                     .emplace(device_id, std::atomic_ref<uint64_t>(*dte_word)
                                             .load(std::memory_order_acquire))
                     .first;
  }
  const auto dte = amd::DteInterrupt::FromRaw(cached_dte->second);
  if (!dte.interrupt_valid() || dte.int_ctl() != amd::kIntCtlRemapped) {
    return fault("DTE does not remap interrupts");
  }
  if (index >= TableEntries(dte)) {
    return fault(absl::StrFormat(
        "index beyond the table (IntTabLen %u, NumIntRemapMode %u)", dte.int_tab_len(),
        IommuControl::FromRaw(Reg(amd::mmio::kControl)).num_int_remap_mode()));
  }
  auto* slot = static_cast<amd::IrteWords*>(
      memory_.Translate(dte.table_address() + uint64_t{index} * 16, 16));
  if (slot == nullptr) return fault("IRT not in memory");
  const amd::IrteWords memory = amd::IrteLoad(slot);
  amd::IrteWords irte = memory;
  if (!control.irt_cache_dis()) {
    auto [it, inserted] = irte_cache_.try_emplace(CacheKey(device_id, index), memory);
    if (!inserted) {
      const amd::IrteWords& cached = it->second;
      irte.lo = (cached.lo & ~kFreshFields.lo) | (memory.lo & kFreshFields.lo);
      irte.hi = (cached.hi & ~kFreshFields.hi) | (memory.hi & kFreshFields.hi);
    }
  }
  const auto remapped = amd::IrteGaRemapped::FromHalves(irte.lo, irte.hi);
  if (!remapped.valid()) return fault("IRTE not valid (RemapEn = 0)");
  if (!remapped.guest_mode()) {
    d.kind = DeliveryKind::kRemapped;
    d.apic_id = remapped.destination();
    d.vector = static_cast<uint8_t>(remapped.vector());
    out = {Outgoing::kInterrupt, d.apic_id, d.vector};
  } else {
    if (control.gam_en() != amd::kGamVirtualApic) return fault("GuestMode IRTE but GAMEn is not vAPIC");
    // The hardware's order (what the block protocol relies on): the root pointer and vector
    // come from the entry as fetched (maybe cached), the IRR is written, and only then are
    // IsRun, destination, GA tag and GALogIntr read from memory.
    const auto fetched = amd::IrteGaGuest::FromHalves(irte.lo, irte.hi);
    d.vapic_page_pa = fetched.ga_root_ptr() << 12;
    d.vector = static_cast<uint8_t>(fetched.vector());
    void* page = memory_.Translate(d.vapic_page_pa, x86::kVapicPageSize);
    if (page == nullptr) return fault("vAPIC backing page not in memory");
    if (mid_delivery_hook_) mid_delivery_hook_();
    const x86::VapicPage vapic(page);
    const bool irr_was_pending = vapic.Any(x86::ApicVectorReg::kIrr);
    vapic.Set(x86::ApicVectorReg::kIrr, d.vector);
    std::atomic_thread_fence(std::memory_order_seq_cst);  // the IRR write before the reads
    const amd::IrteWords now = amd::IrteLoad(slot);
    irte.lo = (irte.lo & ~kFreshFields.lo) | (now.lo & kFreshFields.lo);
    irte.hi = (irte.hi & ~kFreshFields.hi) | (now.hi & kFreshFields.hi);
    const auto guest = amd::IrteGaGuest::FromHalves(irte.lo, irte.hi);
    d.apic_id = guest.destination();
    if (guest.is_run()) {
      d.kind = DeliveryKind::kDoorbell;
      out = {Outgoing::kDoorbell, d.apic_id, 0};
    } else if (control.gappi_en()) {
      const bool disabled = features_.gappi_dis_sup && guest.gappi_dis();
      if (disabled || irr_was_pending) {
        d.kind = DeliveryKind::kIrrOnly;
      } else {
        d.kind = DeliveryKind::kGappi;
        d.vector = static_cast<uint8_t>(guest.ga_tag() & 0xff);
        ++gappi_interrupts_;
        out = {Outgoing::kInterrupt, d.apic_id, d.vector};
      }
    } else if (guest.ga_log_intr()) {
      d.kind = AppendGaLog(static_cast<uint32_t>(guest.ga_tag()), device_id, out);
    } else {
      d.kind = DeliveryKind::kIrrOnly;
    }
  }
  return d;
}

DeliveryKind FakeAmdIommu::AppendGaLog(uint32_t ga_tag, uint16_t device_id, Outgoing& out) {
  auto status = IommuStatus::FromRaw(status_);
  const auto control = IommuControl::FromRaw(Reg(amd::mmio::kControl));
  if (!control.ga_log_en() || !status.ga_log_run()) {
    ++ga_log_dropped_;
    return DeliveryKind::kGaLogDropped;
  }
  const auto base = amd::GaLogBase::FromRaw(Reg(amd::mmio::kGaLogBase));
  const uint32_t size = base.length() == amd::kGaLogLength512 ? amd::kGaLogBytes : 0;
  const uint32_t head = amd::GaLogPointer::FromRaw(Reg(amd::mmio::kGaLogHead)).byte_offset();
  const uint32_t tail = amd::GaLogPointer::FromRaw(Reg(amd::mmio::kGaLogTail)).byte_offset();
  auto* entry = size == 0 ? nullptr
                          : static_cast<uint64_t*>(memory_.Translate((base.base_ppn() << 12) + tail % size, 8));
  if (entry == nullptr || (tail + amd::kGaLogEntryBytes) % size == head % size) {
    // Full (or unusable): overflow, the log stops, the entry is lost (48882 §2.7.4).
    status.set_ga_log_overflow(1).set_ga_log_run(0);
    status_ = status.raw();
    ++ga_log_dropped_;
    if (control.ga_int_en()) out = GaLogInterrupt();
    return DeliveryKind::kGaLogDropped;
  }
  const auto e = amd::GaLogEntry()
                     .set_ga_tag(ga_tag)
                     .set_device_id(device_id)
                     .set_event_type(amd::kGaLogGuestNotRunning);
  std::atomic_ref<uint64_t>(*entry).store(e.raw(), std::memory_order_release);
  const uint32_t new_tail = (tail + amd::kGaLogEntryBytes) % size;
  regs_[amd::mmio::kGaLogTail] = amd::GaLogPointer::FromByteOffset(new_tail).raw();
  const auto tail_address = amd::GaLogTailAddress::FromRaw(Reg(amd::mmio::kGaLogTailAddress));
  if (auto* t = static_cast<uint64_t*>(memory_.Translate(tail_address.address_qword() << 3, 8))) {
    std::atomic_ref<uint64_t>(*t).store(new_tail, std::memory_order_release);
  }
  ++ga_log_written_;
  // GAInt is the interrupt's pending bit: a new interrupt only when it goes 0 -> 1 (software's
  // write-1-to-clear re-arms it).
  const bool was_pending = status.ga_int();
  status_ = status.set_ga_int(1).raw();
  if (control.ga_int_en() && !was_pending) out = GaLogInterrupt();
  return DeliveryKind::kGaLog;
}

FakeAmdIommu::Outgoing FakeAmdIommu::GaLogInterrupt() {
  const auto control = IommuControl::FromRaw(Reg(amd::mmio::kControl));
  if (!control.int_cap_xt_en()) return {};
  const auto xt = amd::IntCapXt::FromRaw(Reg(amd::mmio::kGaLogIntCapXt));
  ++ga_log_interrupts_;
  return {Outgoing::kInterrupt, xt.destination(), static_cast<uint8_t>(xt.vector())};
}

void FakeAmdIommu::Send(const Outgoing& out) {
  if (out.kind == Outgoing::kInterrupt) sink_.SendInterrupt(out.apic_id, out.vector);
  if (out.kind == Outgoing::kDoorbell) sink_.RingDoorbell(out.apic_id);
}

void FakeAmdIommu::StallCommands(bool stalled) {
  RunThenSendDeferred([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    commands_stalled_ = stalled;
    if (!stalled) ProcessCommands();
  });
}

void FakeAmdIommu::DropCompletionStores(uint32_t count, uint32_t after) {
  FakeMutexLock l(mu_);
  completion_stores_to_drop_ = count;
  completion_stores_before_drop_ = after;
}

void FakeAmdIommu::RefuseControlBits(uint64_t mask) {
  FakeMutexLock l(mu_);
  refused_control_bits_ = mask;
}

void FakeAmdIommu::RaiseStatusBits(uint32_t mask) {
  FakeMutexLock l(mu_);
  status_ |= mask;
}


}  // namespace hw::fake
