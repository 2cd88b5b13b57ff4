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

int FakeLapics::Acknowledge(int vcpu) {
  x86::VapicPage p = page(vcpu);
  const int v = p.Highest(ApicVectorReg::kIrr);
  if (v < 0) return -1;
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

}  // namespace hw::fake
