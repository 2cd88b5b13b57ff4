// SPDX-License-Identifier: MIT
#include "hw/fake/fake_lapics.h"

#include <cstring>

namespace hw::fake {

using x86::ApicVectorReg;

FakeLapics::FakeLapics(int num_vcpus) : vcpus_(num_vcpus) {
  for (int i = 0; i < num_vcpus; ++i) {
    vcpus_[i].page = std::make_unique<Page>();
    std::memset(vcpus_[i].page->bytes, 0, sizeof(Page));
    vcpus_[i].apic_id = static_cast<uint32_t>(i);
    vcpus_[i].logical_id = i < 8 ? static_cast<uint8_t>(1u << i) : 0;
  }
}

void FakeLapics::CopyStateFrom(const FakeLapics& other) {
  for (size_t i = 0; i < vcpus_.size(); ++i) {
    Vcpu& to = vcpus_[i];
    const Vcpu& from = other.vcpus_.at(i);
    std::memcpy(to.page->bytes, from.page->bytes, sizeof(Page));
    to.apic_id = from.apic_id;
    to.logical_id = from.logical_id;
    std::memcpy(to.deliveries, from.deliveries, sizeof(to.deliveries));
    to.nmis = from.nmis;
  }
  total_deliveries_ = other.total_deliveries_;
  rejected_ = other.rejected_;
}

bool FakeLapics::MatchesDestination(int vcpu, uint32_t dest, bool logical) const {
  if (vcpu < 0 || vcpu >= num_vcpus()) return false;
  if (!logical) return dest == 0xff || dest == vcpus_[vcpu].apic_id;
  return (vcpus_[vcpu].logical_id & dest) != 0;  // flat model
}

bool FakeLapics::Deliver(int vcpu, uint8_t vector, bool level, x86::IoapicDeliveryMode mode) {
  if (vcpu < 0 || vcpu >= num_vcpus()) return false;
  if (mode == x86::IoapicDeliveryMode::kNmi) {
    ++vcpus_[vcpu].nmis;
    return true;
  }
  if (mode != x86::IoapicDeliveryMode::kFixed && mode != x86::IoapicDeliveryMode::kLowestPriority) {
    ++rejected_;  // SMI/INIT/ExtINT are not modelled by this guest
    return false;
  }
  if (vector < 16) {  // illegal vector: the LAPIC sets ESR and drops it
    ++rejected_;
    return false;
  }
  x86::VapicPage p = page(vcpu);
  p.Set(ApicVectorReg::kIrr, vector);
  if (level) {
    p.Set(ApicVectorReg::kTmr, vector);
  } else {
    p.Clear(ApicVectorReg::kTmr, vector);
  }
  ++vcpus_[vcpu].deliveries[vector];
  ++total_deliveries_;
  return true;
}

bool FakeLapics::PendingEoi(int vcpu, uint8_t vector) const {
  if (vcpu < 0 || vcpu >= num_vcpus()) return false;
  return irr(vcpu, vector) || isr(vcpu, vector);
}

void FakeLapics::set_tpr(int vcpu, uint8_t tpr) {
  const uint32_t reg = tpr;  // a 32-bit register; bits 31:8 are reserved
  std::memcpy(vcpus_[vcpu].page->bytes + x86::kApicTprOffset, &reg, sizeof(reg));
}

uint8_t FakeLapics::tpr(int vcpu) const {
  uint32_t reg;
  std::memcpy(&reg, vcpus_[vcpu].page->bytes + x86::kApicTprOffset, sizeof(reg));
  return static_cast<uint8_t>(reg);
}

uint8_t FakeLapics::ppr(int vcpu) const {
  // SDM vol. 3 §11.8.3.1: PPR = TPR if TPR[7:4] >= ISRV[7:4], else ISRV[7:4] << 4.
  const uint8_t tpr_value = tpr(vcpu);
  const int isrv = page(vcpu).Highest(ApicVectorReg::kIsr);
  const uint8_t isr_class = isrv < 0 ? 0 : static_cast<uint8_t>(isrv & 0xf0);
  return (tpr_value & 0xf0) >= isr_class ? tpr_value : isr_class;
}

int FakeLapics::Acknowledge(int vcpu) {
  x86::VapicPage p = page(vcpu);
  const int v = p.Highest(ApicVectorReg::kIrr);
  if (v < 0) return -1;
  // SDM vol. 3 §11.8.3.1: delivered only if IRRV[7:4] > PPR[7:4] (lower IRR vectors wait too).
  if ((v & 0xf0) <= (ppr(vcpu) & 0xf0)) return -1;
  p.Clear(ApicVectorReg::kIrr, static_cast<uint8_t>(v));
  p.Set(ApicVectorReg::kIsr, static_cast<uint8_t>(v));
  return v;
}

int FakeLapics::Eoi(int vcpu) {
  x86::VapicPage p = page(vcpu);
  const int v = p.Highest(ApicVectorReg::kIsr);
  if (v < 0) return -1;
  p.Clear(ApicVectorReg::kIsr, static_cast<uint8_t>(v));
  const bool level = p.Test(ApicVectorReg::kTmr, static_cast<uint8_t>(v));
  if (eoi_listener_) eoi_listener_(vcpu, static_cast<uint8_t>(v), level);
  return v;
}

int FakeLapics::RunGuest(int vcpu, const GuestHandler& handler, int max_handlers) {
  int run = 0;
  while (run < max_handlers) {
    const int v = Acknowledge(vcpu);
    if (v < 0) break;
    ++run;
    handler(vcpu, static_cast<uint8_t>(v));
    // Nested handlers EOI'd their own vectors, so the highest in service is this one again.
    Eoi(vcpu);
  }
  return run;
}

}  // namespace hw::fake
