// SPDX-License-Identifier: MIT
#include "hw/fake/fake_vtd_iommu.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <utility>

#include "absl/strings/str_format.h"
#include "hw/intel/invalidation_descriptor.h"
#include "hw/intel/irte.h"
#include "hw/intel/pi_desc.h"
#include "hw/intel/vtd_regs.h"

namespace hw::fake {
namespace {

using intel::VtdFaultStatus;
using intel::VtdGlobalCommand;
using intel::VtdGlobalStatus;
namespace mmio = intel::vtd_mmio;

constexpr uint32_t kCommandBits =
    VtdGlobalCommand().set_te(1).set_qie(1).set_ire(1).set_cfi(1).raw();
constexpr uint32_t kOneShotBits = ~VtdGlobalCommand::kPersistentMask;
constexpr uint32_t kQies = VtdGlobalStatus().set_qies(1).raw();
constexpr uint32_t kIres = VtdGlobalStatus().set_ires(1).raw();
constexpr uint32_t kQueueStopped = VtdFaultStatus().set_iqe(1).set_ite(1).raw();

bool Is32BitRegister(uint32_t offset) {
  return offset == mmio::kGlobalCommand || offset == mmio::kGlobalStatus ||
         offset == mmio::kFaultStatus || offset == mmio::kInvCompletionStatus;
}

}  // namespace

FakeVtdIommu::FakeVtdIommu(FakePhysicalMemory& memory, InterruptSink& sink,
                           FakeVtdFeatures features)
    : memory_(memory), sink_(sink), features_(features) {
  FakeMutexLock l(mu_);
  if (features_.cfi_left_on) gsts_ |= VtdGlobalStatus().set_cfis(1).raw();
}

void FakeVtdIommu::Violation(std::string what) { violations_.push_back(std::move(what)); }

uint64_t FakeVtdIommu::Read64(uint32_t offset) {
  FakeMutexLock l(mu_);
  switch (offset) {
    case mmio::kCapability:
      return intel::VtdCapability()
          .set_posted_interrupts(features_.posted_interrupts)
          .set_esirtps(features_.esirtps)
          .raw();
    case mmio::kExtCapability:
      return intel::VtdExtCapability()
          .set_coherency(1)
          .set_queued_invalidation(features_.interrupt_remapping)
          .set_interrupt_remapping(features_.interrupt_remapping)
          .set_extended_interrupt_mode(features_.eim)
          .set_max_handle_mask(15)
          .raw();
    case mmio::kInvQueueHead:
      return iqh_;
    case mmio::kInvQueueTail:
      return iqt_;
    case mmio::kInvQueueAddress:
      return iqa_;
    case mmio::kInvQueueErrorRecord:
      return iqercd_;
    case mmio::kIrtAddress:
      return irta_register_;
    default:
      if (Is32BitRegister(offset)) {
        Violation(absl::StrFormat("64-bit read of the 32-bit register at %#x", offset));
      }
      return 0;
  }
}

template <typename F>
void FakeVtdIommu::RunThenSendDeferred(F locked_part) {
  DeferredInterrupts<Outgoing> out;
  {
    FakeMutexLock l(mu_);
    locked_part();
    out = deferred_.Take();
  }
  out.SendAll([this](const Outgoing& o) { sink_.SendInterrupt(o.apic_id, o.vector); });
}

void FakeVtdIommu::FireDuringWait() {
  for (uint32_t index : wait_fire_indices_) {
    Outgoing out;
    wait_deliveries_.push_back({index, Deliver(index, wait_fire_source_, out)});
    if (out.send && !deferred_.Add(out)) {
      Violation("more interrupts during one queue run than the fake holds: fire fewer IRTEs");
    }
  }
}

void FakeVtdIommu::Write64(uint32_t offset, uint64_t value) {
  RunThenSendDeferred([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { Write64Locked(offset, value); });
}

void FakeVtdIommu::Write64Locked(uint32_t offset, uint64_t value) {
  switch (offset) {
    case mmio::kInvQueueTail:
      iqt_ = value & 0x7fff0;
      ProcessQueue();
      break;
    case mmio::kInvQueueAddress:
      if ((gsts_ & kQies) != 0 && iqh_ != iqt_) {
        Violation("IQA written while the queue holds descriptors");
      }
      if (intel::VtdInvQueueAddress::FromRaw(value).descriptor_width() != 0) {
        Violation("IQA.DW = 1: 256-bit descriptors need scalable mode");
      }
      iqa_ = value;
      iqh_ = iqt_ = 0;  // writing IQA resets head and tail
      break;
    case mmio::kIrtAddress:
      irta_register_ = value;
      break;
    default:
      if (Is32BitRegister(offset)) {
        Violation(absl::StrFormat("64-bit write of the 32-bit register at %#x", offset));
      }
      break;  // read-only or not modelled
  }
}

uint32_t FakeVtdIommu::Read32(uint32_t offset) {
  {
    FakeMutexLock l(mu_);
    switch (offset) {
      case mmio::kGlobalCommand:
        return 0;  // write-only
      case mmio::kGlobalStatus:
        return gsts_;
      case mmio::kFaultStatus:
        return fsts_;
      case mmio::kInvCompletionStatus:
        return ics_;
      default:
        break;
    }
  }
  const uint64_t qword = Read64(offset & ~7u);  // a half of a 64-bit register
  return static_cast<uint32_t>((offset & 4) != 0 ? qword >> 32 : qword);
}

void FakeVtdIommu::Write32(uint32_t offset, uint32_t value) {
  RunThenSendDeferred([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { Write32Locked(offset, value); });
}

void FakeVtdIommu::Write32Locked(uint32_t offset, uint32_t value) {
  switch (offset) {
    case mmio::kGlobalCommand:
      WriteCommand(value);
      return;
    case mmio::kFaultStatus:
      fsts_ &= ~(value & VtdFaultStatus().set_pfo(1).set_iqe(1).set_ice(1).set_ite(1).raw());
      ProcessQueue();  // cleared IQE / ITE let the unit fetch again
      return;
    case mmio::kInvCompletionStatus:
      ics_ &= ~(value & 1);
      return;
    case mmio::kInvQueueTail:  // Linux writes the tail as a dword
      iqt_ = value & 0x7fff0;
      ProcessQueue();
      return;
    default:
      Violation(
          absl::StrFormat("32-bit write to %#x, which the fake does not model as dwords", offset));
      return;
  }
}

void FakeVtdIommu::WriteCommand(uint32_t value) {
  command_writes_.push_back(value);
  const uint32_t changed = ((value ^ gsts_) & kCommandBits);
  const uint32_t one_shots = value & kOneShotBits;
  if (std::popcount(changed) + std::popcount(one_shots) > 1) {
    Violation(absl::StrFormat("GCMD %#x changes several bits at once (GSTS %#x)", value, gsts_));
  }
  const auto command = VtdGlobalCommand::FromRaw(value);
  auto status = VtdGlobalStatus::FromRaw(gsts_);
  status.set_tes(command.te());
  if (command.qie() != status.qies()) {
    if (!command.qie()) iqh_ = 0;  // disabling the queue resets its head
    status.set_qies(command.qie());
  }
  if (command.ire() && !status.ires() && !table_latched_) {
    Violation("GCMD.IRE set before a table was latched by SIRTP");
  }
  status.set_ires(command.ire());
  status.set_cfis(command.cfi());
  if (command.sirtp()) {
    irta_latched_ = irta_register_;
    table_latched_ = true;
    if (features_.esirtps) iec_.clear();
    status.set_irtps(1);
  }
  gsts_ = status.raw();
  ProcessQueue();
}

void FakeVtdIommu::ProcessQueue() {
  const auto iqa = intel::VtdInvQueueAddress::FromRaw(iqa_);
  const uint64_t size = uint64_t{4096} << iqa.queue_size();
  const uint64_t base = iqa.base_ppn() << 12;
  while ((gsts_ & kQies) != 0 && (fsts_ & kQueueStopped) == 0 && iqh_ != iqt_) {
    auto* words = static_cast<uint64_t*>(memory_.Translate(base + iqh_ % size, 16));
    if (words == nullptr) {
      fsts_ |= VtdFaultStatus().set_iqe(1).raw();
      iqercd_ = intel::VtdInvQueueErrorRecord().set_iqei(2).raw();  // fetch error
      return;
    }
    const uint64_t lo = std::atomic_ref<uint64_t>(words[0]).load(std::memory_order_acquire);
    const uint64_t hi = std::atomic_ref<uint64_t>(words[1]).load(std::memory_order_acquire);
    const uint64_t at = iqh_;
    const bool go_on = Execute(lo, hi);
    // A refused descriptor keeps IQH on itself; an aborted wait was consumed.
    if ((fsts_ & VtdFaultStatus().set_iqe(1).raw()) == 0) iqh_ = (at + 16) % size;
    if (!go_on) return;
  }
}

bool FakeVtdIommu::Execute(uint64_t lo, uint64_t hi) {
  auto refuse = [&](uint64_t reason) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    fsts_ |= VtdFaultStatus().set_iqe(1).raw();
    iqercd_ = intel::VtdInvQueueErrorRecord().set_iqei(reason).raw();
    return false;
  };
  if (refuse_armed_ && refuse_skip_-- == 0) {
    refuse_armed_ = false;
    return refuse(4);
  }
  switch (intel::VtdDescriptorType(lo)) {
    case intel::kVtdDescriptorIec: {
      const auto d = intel::VtdIecInvalidation::FromHalves(lo, hi);
      if (d.has_reserved_bits_set()) return refuse(4);
      FireDuringWait();  // before the drop: what the cache holds still posts
      if (d.index_selective()) {
        const uint32_t block = 1u << d.index_mask();
        const uint32_t first = static_cast<uint32_t>(d.index()) & ~(block - 1);
        for (uint32_t i = first; i < first + block; ++i) iec_.erase(i);
        ++iec_index_invalidations_;
      } else {
        iec_.clear();
        ++iec_global_invalidations_;
      }
      if (std::exchange(refetch_armed_, false)) {
        IrteWords ignored;
        (void)FetchIrte(refetch_index_, ignored);
      }
      return true;
    }
    case intel::kVtdDescriptorWait: {
      const auto w = intel::VtdInvalidationWait::FromHalves(lo, hi);
      if (w.has_reserved_bits_set()) return refuse(4);
      FireDuringWait();  // after the invalidations before it: fetched fresh, and cached again
      if (std::exchange(time_out_next_wait_, false)) {
        fsts_ |= VtdFaultStatus().set_ite(1).raw();  // pending waits aborted: no store
        return false;
      }
      if (w.status_write()) {
        if (wait_stores_before_drop_ > 0) {
          --wait_stores_before_drop_;
        } else if (wait_stores_to_drop_ > 0) {
          --wait_stores_to_drop_;
          return true;
        }
        if (auto* status = static_cast<uint32_t*>(memory_.Translate(w.status_address(), 4))) {
          std::atomic_ref<uint32_t>(*status).store(static_cast<uint32_t>(w.status_data()),
                                                   std::memory_order_release);
        }
      }
      if (w.interrupt_flag()) ics_ |= 1;
      return true;
    }
    default:
      return refuse(3);  // invalid type
  }
}

bool FakeVtdIommu::FetchIrte(uint32_t index, IrteWords& out) {
  if (auto it = iec_.find(index); it != iec_.end()) {
    out = it->second;
    return true;
  }
  const auto irta = intel::VtdIrtAddress::FromRaw(irta_latched_);
  if (index >= irta.entries()) return false;
  auto* slot = static_cast<IrteWords*>(
      memory_.Translate((irta.base_ppn() << 12) + uint64_t{index} * 16, 16));
  if (slot == nullptr) return false;
  out = IrteLoad(slot);
  iec_[index] = out;
  return true;
}

uint32_t FakeVtdIommu::DecodeDestination(uint32_t field) const {
  return intel::VtdIrtAddress::FromRaw(irta_latched_).eime() ? field : (field >> 8) & 0xff;
}

VtdDelivery FakeVtdIommu::DeviceInterrupt(uint32_t index, uint16_t source_id) {
  VtdDelivery d;
  Outgoing out;
  {
    FakeMutexLock l(mu_);
    d = Deliver(index, source_id, out);
  }
  if (out.send) sink_.SendInterrupt(out.apic_id, out.vector);
  return d;
}

VtdDelivery FakeVtdIommu::Deliver(uint32_t index, uint16_t source_id, Outgoing& out) {
  VtdDelivery d;
  auto fault = [&](std::string why) {
    d.kind = VtdDeliveryKind::kFault;
    d.fault = absl::StrFormat("IRTE %u from %#x: %s", index, source_id, why);
    return d;
  };
  if ((gsts_ & kIres) == 0) return fault("interrupt remapping is off");
  IrteWords e;
  if (!FetchIrte(index, e)) return fault("index beyond the table, or the table not in memory");
  const auto remapped = intel::VtdIrteRemapped::FromHalves(e.lo, e.hi);
  if (!remapped.present()) return fault("not present (fault 22h)");
  // Source-id validation (the SID/SQ/SVT fields sit at the same place in both formats).
  const uint32_t sid = static_cast<uint32_t>(remapped.source_id());
  switch (remapped.source_validation()) {
    case 0:
      break;
    case 1: {
      static constexpr uint32_t kIgnoredFunctionBits[] = {0, 0x4, 0x6, 0x7};
      const uint32_t mask = 0xffff & ~kIgnoredFunctionBits[remapped.source_id_qualifier()];
      if (((sid ^ source_id) & mask) != 0) return fault("requester id does not match SID");
      break;
    }
    case 2: {
      const uint32_t bus = source_id >> 8;
      if (bus < (sid >> 8) || bus > (sid & 0xff)) return fault("bus outside SID's range");
      break;
    }
    default:
      return fault("SVT = 3 is reserved");
  }
  if (!intel::VtdIrteIsPosted(e.lo)) {
    d.kind = VtdDeliveryKind::kRemapped;
    d.vector = static_cast<uint8_t>(remapped.vector());
    d.apic_id = DecodeDestination(static_cast<uint32_t>(remapped.destination()));
    out = {true, d.apic_id, d.vector};
    return d;
  }
  if (!features_.posted_interrupts) return fault("IM = 1 without CAP.PI is reserved (24h)");
  const auto posted = intel::VtdIrtePosted::FromHalves(e.lo, e.hi);
  d.pi_desc_pa = posted.pi_desc_address();
  auto* pid = static_cast<intel::PiDesc*>(memory_.Translate(d.pi_desc_pa, sizeof(intel::PiDesc)));
  if (pid == nullptr) return fault("posted-interrupt descriptor not in memory (27h)");
  d.vector = static_cast<uint8_t>(posted.virtual_vector());
  // §5.2.3: PIR first, then ON decided and set in one locked update, then the notification.
  pid->PirSet(d.vector);
  std::atomic_ref<uint64_t> control(pid->control);
  uint64_t old = control.load(std::memory_order_acquire);
  bool notify = false;
  for (;;) {
    const auto c = intel::PiControl::FromRaw(old);
    notify = !c.on() && (posted.urgent() || !c.sn());
    if (!notify) break;
    if (control.compare_exchange_weak(old, intel::PiControl(c).set_on(1).raw(),
                                      std::memory_order_acq_rel)) {
      break;
    }
  }
  if (!notify) {
    d.kind = VtdDeliveryKind::kPostedQuiet;
    return d;
  }
  const auto c = intel::PiControl::FromRaw(old);
  d.kind = VtdDeliveryKind::kPostedNotified;
  d.apic_id = DecodeDestination(static_cast<uint32_t>(c.ndst()));
  d.notification_vector = static_cast<uint8_t>(c.nv());
  out = {true, d.apic_id, d.notification_vector};
  return d;
}

void FakeVtdIommu::DropWaitStores(uint32_t count, uint32_t after) {
  FakeMutexLock l(mu_);
  wait_stores_to_drop_ = count;
  wait_stores_before_drop_ = after;
}

void FakeVtdIommu::RefuseNextDescriptor(uint32_t skip) {
  FakeMutexLock l(mu_);
  refuse_armed_ = true;
  refuse_skip_ = skip;
}

void FakeVtdIommu::TimeOutNextWait() {
  FakeMutexLock l(mu_);
  time_out_next_wait_ = true;
}

void FakeVtdIommu::RefetchAfterNextInvalidation(uint32_t index) {
  FakeMutexLock l(mu_);
  refetch_armed_ = true;
  refetch_index_ = index;
}

void FakeVtdIommu::ClearFaultInjection() {
  FakeMutexLock l(mu_);
  wait_stores_to_drop_ = wait_stores_before_drop_ = 0;
  refuse_armed_ = time_out_next_wait_ = refetch_armed_ = false;
}

void FakeVtdIommu::FireDuringCommandWaits(uint16_t source_id, std::vector<uint32_t> indices) {
  FakeMutexLock l(mu_);
  wait_fire_source_ = source_id;
  wait_fire_indices_ = std::move(indices);
}

std::vector<FakeVtdIommu::IndexedDelivery> FakeVtdIommu::TakeCommandWaitDeliveries() {
  FakeMutexLock l(mu_);
  return std::exchange(wait_deliveries_, {});
}

std::vector<uint32_t> FakeVtdIommu::command_writes() const {
  FakeMutexLock l(mu_);
  return command_writes_;
}
uint32_t FakeVtdIommu::global_status() const {
  FakeMutexLock l(mu_);
  return gsts_;
}
uint32_t FakeVtdIommu::fault_status() const {
  FakeMutexLock l(mu_);
  return fsts_;
}
uint64_t FakeVtdIommu::latched_irta() const {
  FakeMutexLock l(mu_);
  return irta_latched_;
}
uint64_t FakeVtdIommu::iec_invalidations(bool global) const {
  FakeMutexLock l(mu_);
  return global ? iec_global_invalidations_ : iec_index_invalidations_;
}
size_t FakeVtdIommu::cached_entries() const {
  FakeMutexLock l(mu_);
  return iec_.size();
}
std::vector<std::string> FakeVtdIommu::violations() const {
  FakeMutexLock l(mu_);
  return violations_;
}

}  // namespace hw::fake
