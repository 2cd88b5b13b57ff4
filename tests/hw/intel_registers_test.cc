// SPDX-License-Identifier: MIT
// Golden values for the VT-d layouts, worked out by hand from the bit positions in the VT-d
// specification (rev. 5.10 §9.9, §9.10, §6.5.2.8, §6.5.2.9, §11.4) and Linux's
// include/linux/dmar.h / drivers/iommu/intel/iommu.h definitions — not by the code under test.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "hw/intel/invalidation_descriptor.h"
#include "hw/intel/irte.h"
#include "hw/intel/vtd_regs.h"
#include "hw/reg/format.h"

namespace hw::intel {
namespace {

TEST(VtdIrte, RemappedLayout) {
  // P, RH, fixed, vector 0x31, x2APIC destination 0x12345678, SID 0xa0 checked exactly (SVT 1).
  VtdIrteRemapped e;
  e.set_present(1).set_redirection_hint(1).set_vector(0x31).set_destination(0x12345678);
  e.set_source_id(0xa0).set_source_validation(
      static_cast<uint64_t>(VtdSourceValidation::kRequesterId));
  EXPECT_EQ(e.lo(), 0x1234567800310009u);
  EXPECT_EQ(e.hi(), 0x400a0u);
  EXPECT_FALSE(VtdIrteIsPosted(e.lo()));
  // Each remaining field alone.
  EXPECT_EQ(VtdIrteRemapped().set_fault_processing_disable(1).lo(), 0x2u);
  EXPECT_EQ(VtdIrteRemapped().set_dest_mode(1).lo(), 0x4u);
  EXPECT_EQ(VtdIrteRemapped().set_trigger_mode(1).lo(), 0x10u);
  EXPECT_EQ(VtdIrteRemapped().set_delivery_mode(7).lo(), 0xe0u);
  EXPECT_EQ(VtdIrteRemapped().set_available(0xf).lo(), 0xf00u);
  EXPECT_EQ(VtdIrteRemapped().set_source_id_qualifier(3).hi(), 0x30000u);
  EXPECT_EQ(VtdIrteRemapped::DestinationForXapic(0x05), 0x500u);
}

TEST(VtdIrte, PostedLayoutSplitsTheDescriptorAddress) {
  VtdIrtePosted e;
  e.set_present(1).set_irte_mode(1).set_virtual_vector(0x41);
  e.set_pi_desc_address(0x0000000123456780).set_source_id(0xa0).set_source_validation(1);
  // PDAL = address bits 31:6 at 63:38, i.e. bits 31:0 of the address moved up by 32.
  EXPECT_EQ(e.lo(), 0x2345678000418001u);
  EXPECT_EQ(e.hi(), 0x00000001000400a0u);  // PDAH = 1 at 127:96
  EXPECT_EQ(e.pi_desc_address(), 0x0000000123456780u);
  EXPECT_TRUE(VtdIrteIsPosted(e.lo()));
  EXPECT_EQ(VtdIrtePosted().set_urgent(1).lo(), 0x4000u);
  EXPECT_EQ(VtdIrtePosted().set_pi_desc_address(0xffffffffffffffc0).pi_desc_address(),
            0xffffffffffffffc0u);
}

TEST(VtdIrte, FormatsWithFieldNames) {
  const auto e = VtdIrtePosted::FromHalves(0x2345678000418001, 0x00000001000400a0);
  const std::string s = fmt::format("{}", e);
  EXPECT_NE(s.find("VtdIrtePosted{present=1"), std::string::npos) << s;
  EXPECT_NE(s.find("virtual_vector=0x41"), std::string::npos) << s;
  EXPECT_NE(s.find("pi_desc_address_hi=0x1"), std::string::npos) << s;
}

TEST(VtdInvalidationDescriptor, IecLayout) {
  EXPECT_EQ(VtdIecInvalidation::ForIndex(0x1234).lo(), 0x0000123400000014u);
  EXPECT_EQ(VtdIecInvalidation::ForIndex(0x1234).hi(), 0u);
  EXPECT_EQ(VtdIecInvalidation::ForIndex(0x1234).set_index_mask(2).lo(), 0x0000123410000014u);
  EXPECT_EQ(VtdIecInvalidation::Global().lo(), 0x4u);
  EXPECT_EQ(VtdDescriptorType(VtdIecInvalidation::Global().lo()), 4u);
}

TEST(VtdInvalidationDescriptor, WaitLayout) {
  const auto w = VtdInvalidationWait::StoreOnCompletion(0x1000, 1);
  EXPECT_EQ(w.lo(), 0x0000000100000065u);  // type 5, SW (bit 5), FN (bit 6), data 1 at 63:32
  EXPECT_EQ(w.hi(), 0x1000u);              // the address itself: bits 127:66 hold PA[63:2]
  EXPECT_EQ(w.status_address(), 0x1000u);
  EXPECT_EQ(VtdInvalidationWait().set_interrupt_flag(1).lo(), 0x10u);
  EXPECT_EQ(VtdInvalidationWait().set_page_request_drain(1).lo(), 0x80u);
  // The 7-bit type is bits 11:9 then 3:0.
  EXPECT_EQ(VtdDescriptorType(0x200 | 0x2), 0x12u);
  EXPECT_EQ(VtdDescriptorType(w.lo()), 5u);
}

TEST(VtdRegisters, CapabilityBits) {
  EXPECT_EQ(VtdCapability().set_posted_interrupts(1).raw(), uint64_t{1} << 59);
  EXPECT_EQ(VtdCapability().set_esirtps(1).raw(), uint64_t{1} << 62);
  EXPECT_EQ(VtdCapability().set_caching_mode(1).raw(), 0x80u);
  EXPECT_EQ(VtdCapability().set_rwbf(1).raw(), 0x10u);
  const auto ecap = VtdExtCapability::FromRaw(0xf0001a);  // QI, IR, EIM, MHMV = 15
  EXPECT_EQ(ecap.queued_invalidation(), 1u);
  EXPECT_EQ(ecap.interrupt_remapping(), 1u);
  EXPECT_EQ(ecap.extended_interrupt_mode(), 1u);
  EXPECT_EQ(ecap.max_handle_mask(), 15u);
  EXPECT_EQ(ecap.coherency(), 0u);
  EXPECT_EQ(VtdExtCapability().set_scalable_mode(1).raw(), uint64_t{1} << 43);
}

TEST(VtdRegisters, GlobalCommandAndStatusBits) {
  EXPECT_EQ(VtdGlobalCommand().set_te(1).raw(), 0x80000000u);
  EXPECT_EQ(VtdGlobalCommand().set_srtp(1).raw(), 0x40000000u);
  EXPECT_EQ(VtdGlobalCommand().set_wbf(1).raw(), 0x08000000u);
  EXPECT_EQ(VtdGlobalCommand().set_qie(1).raw(), 0x04000000u);
  EXPECT_EQ(VtdGlobalCommand().set_ire(1).raw(), 0x02000000u);
  EXPECT_EQ(VtdGlobalCommand().set_sirtp(1).raw(), 0x01000000u);
  EXPECT_EQ(VtdGlobalCommand().set_cfi(1).raw(), 0x00800000u);
  // The persistent mask drops exactly SRTP (30), SFL (29), WBF (27) and SIRTP (24).
  EXPECT_EQ(~VtdGlobalCommand::kPersistentMask,
            0x40000000u | 0x20000000u | 0x08000000u | 0x01000000u);
  const auto gsts = VtdGlobalStatus::FromRaw(0x87800000);  // TES, QIES, IRES, IRTPS, CFIS
  EXPECT_EQ(gsts.tes(), 1u);
  EXPECT_EQ(gsts.rtps(), 0u);
  EXPECT_EQ(gsts.wbfs(), 0u);
  EXPECT_EQ(gsts.qies(), 1u);
  EXPECT_EQ(gsts.ires(), 1u);
  EXPECT_EQ(gsts.irtps(), 1u);
  EXPECT_EQ(gsts.cfis(), 1u);
  EXPECT_EQ(VtdGlobalStatus::FromRaw(0x04000000).ires(), 0u);
}

TEST(VtdRegisters, FaultStatusAndQueueRegisters) {
  EXPECT_EQ(VtdFaultStatus().set_iqe(1).raw(), 0x10u);
  EXPECT_EQ(VtdFaultStatus().set_ice(1).raw(), 0x20u);
  EXPECT_EQ(VtdFaultStatus().set_ite(1).raw(), 0x40u);
  EXPECT_EQ(VtdFaultStatus::kQueueErrorMask, 0x70u);
  EXPECT_EQ(VtdInvQueuePointer::FromByteOffset(0x30).raw(), 0x30u);
  EXPECT_EQ(VtdInvQueuePointer::FromRaw(0x7fff0).byte_offset(), 0x7fff0u);
  EXPECT_EQ(VtdInvQueueAddress().set_base_ppn(0x12345).set_queue_size(0).raw(), 0x12345000u);
  EXPECT_EQ(VtdInvQueueAddress().set_descriptor_width(1).raw(), 0x800u);
  EXPECT_EQ(VtdInvCompletionStatus().set_iwc(1).raw(), 0x1u);
  const auto ercd = VtdInvQueueErrorRecord::FromRaw(0xbbbbaaaa00000006);
  EXPECT_EQ(ercd.iqei(), 6u);
  EXPECT_EQ(ercd.itesid(), 0xaaaau);
  EXPECT_EQ(ercd.icesid(), 0xbbbbu);
}

TEST(VtdRegisters, IrtAddress) {
  const auto irta = VtdIrtAddress().set_base_ppn(0xabcd).set_eime(1).set_size(0xf);
  EXPECT_EQ(irta.raw(), 0xabcd80fu);
  EXPECT_EQ(irta.entries(), 65536u);
  EXPECT_EQ(VtdIrtAddress().set_size(7).entries(), 256u);
}

TEST(VtdRegisters, Offsets) {
  EXPECT_EQ(vtd_mmio::kCapability, 0x08u);
  EXPECT_EQ(vtd_mmio::kExtCapability, 0x10u);
  EXPECT_EQ(vtd_mmio::kGlobalCommand, 0x18u);
  EXPECT_EQ(vtd_mmio::kGlobalStatus, 0x1cu);
  EXPECT_EQ(vtd_mmio::kFaultStatus, 0x34u);
  EXPECT_EQ(vtd_mmio::kInvQueueHead, 0x80u);
  EXPECT_EQ(vtd_mmio::kInvQueueTail, 0x88u);
  EXPECT_EQ(vtd_mmio::kInvQueueAddress, 0x90u);
  EXPECT_EQ(vtd_mmio::kInvCompletionStatus, 0x9cu);
  EXPECT_EQ(vtd_mmio::kInvQueueErrorRecord, 0xb0u);
  EXPECT_EQ(vtd_mmio::kIrtAddress, 0xb8u);
}

}  // namespace
}  // namespace hw::intel
