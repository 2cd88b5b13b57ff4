// SPDX-License-Identifier: MIT
// AMD IOMMU and AVIC layouts. Expected raw values are worked out by hand from the bit tables in
// AMD IOMMU spec 48882 / Linux amd_iommu_types.h, as written in each comment.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "hw/amd/avic_table.h"
#include "hw/amd/command.h"
#include "hw/amd/ga_log_entry.h"
#include "hw/amd/ga_tag.h"
#include "hw/amd/irte32.h"
#include "hw/amd/irte_ga.h"
#include "hw/amd/mmio.h"
#include "hw/reg/format.h"

namespace hw::amd {
namespace {

TEST(IrteGaGuest, GoldenValue) {
  IrteGaGuest e;
  e.set_valid(1).set_ga_log_intr(1).set_guest_mode(1).set_destination(0x12345678);
  e.set_ga_tag(0x8003).set_vector(0x41).set_ga_root_ptr(0x123456000 >> 12);
  // lo: valid bit 0 (0x1) | GALogIntr bit 2 (0x4) | GuestMode bit 7 (0x80) = 0x85;
  //     Destination[23:0] = 0x345678 at bits 31:8 -> 0x34567800; GATag 0x8003 at 63:32.
  EXPECT_EQ(e.lo(), 0x0000800334567885u);
  // hi: vector 0x41 at 71:64 -> 0x41; root 0x123456 at 115:76 -> 0x123456 << 12 = 0x123456000;
  //     Destination[31:24] = 0x12 at 127:120 -> 0x12 << 56.
  EXPECT_EQ(e.hi(), 0x1200000123456041u);
  EXPECT_EQ(e.destination(), 0x12345678u);
  EXPECT_FALSE(e.has_reserved_bits_set());
}

TEST(IrteGaGuest, FlagBitsAtSpecPositions) {
  EXPECT_EQ(IrteGaGuest().set_is_run(1).lo(), uint64_t{1} << 6);
  EXPECT_EQ(IrteGaGuest().set_gappi_dis(1).lo(), uint64_t{1} << 5);  // RFC: bit 5
  EXPECT_EQ(IrteGaGuest().set_ga_log_intr(1).lo(), uint64_t{1} << 2);
  EXPECT_EQ(IrteGaGuest().set_no_fault(1).lo(), uint64_t{1} << 1);
  // Bits 4:3 stay reserved.
  EXPECT_TRUE(IrteGaGuest::FromHalves(uint64_t{1} << 3, 0).has_reserved_bits_set());
  EXPECT_TRUE(IrteGaGuest::FromHalves(uint64_t{1} << 4, 0).has_reserved_bits_set());
  EXPECT_TRUE(IrteGaGuest::FromHalves(0, uint64_t{0xf} << 8).has_reserved_bits_set());  // 75:72
}

TEST(IrteGaGuest, RoundTripAndDestinationSplit) {
  const IrteGaGuest e = IrteGaGuest::FromHalves(0x0000800334567885u, 0x1200000123456041u);
  EXPECT_EQ(e.valid(), 1u);
  EXPECT_EQ(e.ga_log_intr(), 1u);
  EXPECT_EQ(e.is_run(), 0u);
  EXPECT_EQ(e.guest_mode(), 1u);
  EXPECT_EQ(e.destination_lo(), 0x345678u);
  EXPECT_EQ(e.destination_hi(), 0x12u);
  EXPECT_EQ(e.ga_tag(), 0x8003u);
  EXPECT_EQ(e.vector(), 0x41u);
  EXPECT_EQ(e.ga_root_ptr(), 0x123456u);
  IrteGaGuest copy;
  copy.set_word(0, e.lo()).set_word(1, e.hi());
  EXPECT_EQ(copy, e);
  // 8-bit APIC IDs leave the high destination byte zero.
  EXPECT_EQ(IrteGaGuest().set_destination(0x1f).hi(), 0u);
  EXPECT_EQ(IrteGaGuest().set_destination(0x1f).lo(), 0x1f00u);
}

TEST(IrteGaGuest, Formatter) {
  const IrteGaGuest e = IrteGaGuest::FromHalves(0x0000800334567885u, 0x1200000123456041u);
  EXPECT_EQ(fmt::format("{}", e),
            "IrteGaGuest{valid=1 no_fault=0 ga_log_intr=1 gappi_dis=0 is_run=0 guest_mode=1 "
            "destination_lo=0x345678 ga_tag=0x8003 vector=0x41 ga_root_ptr=0x123456 "
            "destination_hi=0x12}");
}

TEST(IrteGaRemapped, GoldenValueAndReservedGuestFields) {
  IrteGaRemapped e;
  e.set_valid(1).set_int_type(static_cast<uint64_t>(IrteIntType::kFixed)).set_dest_mode(1);
  e.set_destination(0x0100000a).set_vector(0xec);
  // lo: valid 0x1 | DM bit 6 0x40 | Destination[23:0]=0x00000a << 8 = 0xa00 -> 0xa41.
  EXPECT_EQ(e.lo(), 0xa41u);
  // hi: vector 0xec | Destination[31:24]=0x01 << 56.
  EXPECT_EQ(e.hi(), 0x01000000000000ecu);
  EXPECT_EQ(e.guest_mode(), 0u);
  EXPECT_FALSE(IrteGaIsGuestMode(e.lo()));
  // A GA tag or root pointer left behind in remapped mode is flagged.
  EXPECT_TRUE(IrteGaRemapped::FromHalves(uint64_t{1} << 32, 0).has_reserved_bits_set());
  EXPECT_TRUE(IrteGaRemapped::FromHalves(0, uint64_t{1} << 12).has_reserved_bits_set());
  EXPECT_EQ(fmt::format("{}", IrteGaRemapped::FromHalves(0x105, 0x20)),
            "IrteGaRemapped{valid=1 no_fault=0 int_type=0x1 rq_eoi=0 dest_mode=0 guest_mode=0 "
            "destination_lo=0x1 vector=0x20 destination_hi=0x0}");
}

TEST(Irte32, GoldenValueRoundTripFormat) {
  Irte32 e;
  e.set_valid(1).set_int_type(1).set_destination(0x3).set_vector(0x31);
  // valid 0x1 | IntType 1 << 2 = 0x4 | dest 0x03 << 8 | vector 0x31 << 16.
  EXPECT_EQ(e.raw(), 0x00310305u);
  EXPECT_EQ(Irte32::FromRaw(0x00310305u), e);
  EXPECT_TRUE(Irte32::FromRaw(0x80).has_reserved_bits_set());
  EXPECT_TRUE(Irte32::FromRaw(0x01000000).has_reserved_bits_set());
  EXPECT_EQ(fmt::format("{}", e),
            "Irte32{valid=1 no_fault=0 int_type=0x1 rq_eoi=0 dest_mode=0 destination=0x3 "
            "vector=0x31}");
}

TEST(IommuMmio, OffsetsMatchLinux) {
  EXPECT_EQ(mmio::kControl, 0x18u);
  EXPECT_EQ(mmio::kExtendedFeature, 0x30u);
  EXPECT_EQ(mmio::kGaLogBase, 0xe0u);
  EXPECT_EQ(mmio::kGaLogTailAddress, 0xe8u);
  EXPECT_EQ(mmio::kExtendedFeature2, 0x1a0u);
  EXPECT_EQ(mmio::kCommandHead, 0x2000u);
  EXPECT_EQ(mmio::kCommandTail, 0x2008u);
  EXPECT_EQ(mmio::kStatus, 0x2020u);
  EXPECT_EQ(mmio::kGaLogHead, 0x2040u);
  EXPECT_EQ(mmio::kGaLogTail, 0x2048u);
}

TEST(IommuControl, BitNumbers) {
  EXPECT_EQ(IommuControl().set_ga_en(1).raw(), uint64_t{1} << 17);
  EXPECT_EQ(IommuControl().set_gam_en(kGamVirtualApic).raw(), uint64_t{1} << 25);
  EXPECT_EQ(IommuControl().set_ga_log_en(1).raw(), uint64_t{1} << 28);
  EXPECT_EQ(IommuControl().set_ga_int_en(1).raw(), uint64_t{1} << 29);
  EXPECT_EQ(IommuControl().set_xt_en(1).raw(), uint64_t{1} << 50);
  EXPECT_EQ(IommuControl().set_int_cap_xt_en(1).raw(), uint64_t{1} << 51);
  EXPECT_EQ(IommuControl().set_gappi_en(1).raw(), uint64_t{1} << 55);
  EXPECT_EQ(IommuControl().set_irt_cache_dis(1).raw(), uint64_t{1} << 59);
  EXPECT_EQ(IommuControl().set_snp_avic_en(1).raw(), uint64_t{1} << 61);
  // CONTROL_NUM_INT_REMAP_MODE 43, 2 bits; CONTROL_NUM_INT_REMAP_MODE_2K = 1.
  EXPECT_EQ(IommuControl().set_num_int_remap_mode(kNumIntRemap2K).raw(), uint64_t{1} << 43);
  EXPECT_EQ(IommuControl::FromRaw(uint64_t{3} << 43).num_int_remap_mode(), 3u);
  EXPECT_EQ(IommuControl().set_cmd_buf_en(1).raw(), uint64_t{1} << 12);
  // Typical AVIC bring-up value: IommuEn | CmdBufEn | GAEn | GAMEn | GALogEn | GAIntEn.
  const IommuControl c = IommuControl::FromRaw(0x1 | 0x1000 | 0x20000 | 0x2000000 | 0x10000000 |
                                               0x20000000);
  EXPECT_EQ(c.iommu_en(), 1u);
  EXPECT_EQ(c.ga_en(), 1u);
  EXPECT_EQ(c.gam_en(), kGamVirtualApic);
  EXPECT_EQ(c.ga_log_en(), 1u);
  EXPECT_EQ(c.ga_int_en(), 1u);
  EXPECT_EQ(c.gappi_en(), 0u);
}

TEST(IommuFeatures, BitNumbers) {
  EXPECT_EQ(IommuExtendedFeature().set_xt_sup(1).raw(), uint64_t{1} << 2);
  EXPECT_EQ(IommuExtendedFeature().set_gt_sup(1).raw(), uint64_t{1} << 4);
  EXPECT_EQ(IommuExtendedFeature().set_gappi_sup(1).raw(), uint64_t{1} << 5);
  EXPECT_EQ(IommuExtendedFeature().set_ga_sup(1).raw(), uint64_t{1} << 7);
  EXPECT_EQ(IommuExtendedFeature::FromRaw(uint64_t{1} << 21).gam_sup(), 1u);
  EXPECT_EQ(IommuExtendedFeature2().set_gappi_dis_sup(1).raw(), uint64_t{1} << 4);
  EXPECT_EQ(IommuExtendedFeature2::FromRaw(0x20).snp_avic_sup(), 1u);
  // FEATURE_NUM_INT_REMAP_SUP GENMASK(9, 8); value 1 = 2K.
  EXPECT_EQ(IommuExtendedFeature2().set_num_int_remap_sup(kNumIntRemap2K).raw(), 0x100u);
  EXPECT_EQ(IommuExtendedFeature2::FromRaw(0x300).num_int_remap_sup(), 3u);
}

TEST(IommuStatus, BitsAndWriteOneToClear) {
  EXPECT_EQ(IommuStatus().set_ga_log_run(1).raw(), 0x100u);
  EXPECT_EQ(IommuStatus().set_ga_log_overflow(1).raw(), 0x200u);
  EXPECT_EQ(IommuStatus().set_ga_int(1).raw(), 0x400u);
  // W1C: EventOverflow, EventLogInt, ComWaitInt, PprOverflow, PprInt, GALOverflow, GAInt.
  EXPECT_EQ(IommuStatus::kWriteOneToClearMask, 0x667u);
  EXPECT_EQ(IommuStatus::kWriteOneToClearMask & 0x100u, 0u) << "GALogRun is read-only";
  EXPECT_EQ(fmt::format("{}", IommuStatus::FromRaw(0x700)),
            "IommuStatus{event_overflow=0 event_log_int=0 com_wait_int=0 event_log_run=0 "
            "cmd_buf_run=0 ppr_overflow=0 ppr_int=0 ppr_log_run=0 ga_log_run=1 "
            "ga_log_overflow=1 ga_int=1}");
}

TEST(GaLogRegisters, BaseTailAndPointers) {
  // Log at PA 0x12345000, 512 entries: 0x12345000 | 0x8 << 56 (GA_LOG_SIZE_512).
  const GaLogBase base = GaLogBase().set_base_ppn(0x12345000 >> 12).set_length(kGaLogLength512);
  EXPECT_EQ(base.raw(), 0x0800000012345000u);
  EXPECT_EQ(kGaLogBytes, 4096u);
  EXPECT_EQ(GaLogTailAddress().set_address_qword(0xabcdef08 >> 3).raw(), 0xabcdef08u);
  EXPECT_EQ(GaLogPointer::FromByteOffset(0xff8).raw(), 0xff8u);
  EXPECT_EQ(GaLogPointer::FromRaw(0x10).byte_offset(), 0x10u);
  EXPECT_TRUE(GaLogPointer::FromRaw(0x4).has_reserved_bits_set());
}

TEST(GaLogEntry, GoldenValueAndFormat) {
  GaLogEntry e;
  e.set_ga_tag(0x00000603).set_device_id(0x00a0).set_event_type(kGaLogGuestNotRunning);
  // type 1 at 63:60 -> 0x1000..., devid 0xa0 at 47:32, tag at 31:0.
  EXPECT_EQ(e.raw(), 0x100000a000000603u);
  EXPECT_EQ(GaLogEntry::FromRaw(0x100000a000000603u).device_id(), 0xa0u);
  EXPECT_EQ(fmt::format("{}", e), "GaLogEntry{ga_tag=0x603 device_id=0xa0 event_type=0x1}");
}

TEST(Commands, InvalidateInterruptTable) {
  const auto c = InvalidateInterruptTableCommand::ForDevice(0x00a0);
  // data[0] = devid 0x00a0; data[1] bits 31:28 = 0x5 -> lo = 0x500000000000a0.
  EXPECT_EQ(c.lo(), 0x50000000000000a0u);
  EXPECT_EQ(c.hi(), 0u);
  EXPECT_EQ(CommandOpcodeOf(c.lo()), 0x05);
}

TEST(Commands, InvalidateDevTabEntry) {
  const auto c = InvalidateDevTabEntryCommand::ForDevice(0x1234);
  // data[0] = devid 0x1234; data[1] bits 31:28 = 0x2 (CMD_INV_DEV_ENTRY) -> lo bits 63:60 = 2.
  EXPECT_EQ(c.lo(), 0x2000000000001234u);
  EXPECT_EQ(c.hi(), 0u);
  EXPECT_EQ(CommandOpcodeOf(c.lo()), 0x02);
}

TEST(Commands, CompletionWait) {
  const auto c = CompletionWaitCommand::Store(0x0000123456789ab8, 0xfeedface);
  // data[0] = lo32(PA) | S (0x789ab8 | 1) ; data[1] = hi32(PA) 0x1234 | opcode 1 << 28.
  EXPECT_EQ(c.lo(), 0x1000123456789ab9u);
  EXPECT_EQ(c.hi(), 0xfeedfaceu);
  EXPECT_EQ(c.store_address(), 0x0000123456789ab8u);
  EXPECT_EQ(CommandOpcodeOf(c.lo()), 0x01);
  EXPECT_FALSE(c.has_reserved_bits_set());
}

TEST(AvicPhysicalIdEntry, GoldenValueAndSoftwareBit) {
  AvicPhysicalIdEntry e;
  e.set_host_apic_id(0x123).set_backing_page_ppn(0xabcde).set_is_running(1).set_valid(1);
  // host id 0x123 at 11:0; page 0xabcde << 12; IsRunning bit 62; Valid bit 63.
  EXPECT_EQ(e.raw(), 0xc0000000abcde123u);
  e.set_ga_log_intent(1);
  EXPECT_EQ(e.raw(), 0xe0000000abcde123u);
  EXPECT_EQ(e.ForHardware().raw(), 0xc0000000abcde123u) << "bit 61 never reaches hardware";
}

TEST(AvicLogicalIdEntry, GoldenValue) {
  EXPECT_EQ(AvicLogicalIdEntry().set_guest_physical_id(7).set_valid(1).raw(), 0x80000007u);
  EXPECT_TRUE(AvicLogicalIdEntry::FromRaw(0x100).has_reserved_bits_set());
}

TEST(GaTag, PackUnpack) {
  auto tag = GaTag::Make(0x5, 0x3);
  ASSERT_TRUE(tag.ok());
  EXPECT_EQ(tag->raw(), (0x5u << 12) | 0x3u);
  EXPECT_EQ(GaTag::FromRaw(0xffffffff).vm_id(), 0xfffffu);
  EXPECT_EQ(GaTag::FromRaw(0xffffffff).vcpu_index(), 0xfffu);
  auto max = GaTag::Make(0xfffff, 0xfff);
  ASSERT_TRUE(max.ok());
  EXPECT_EQ(max->raw(), 0xffffffffu);
  // x2AVIC's 4096 vCPUs: index 4095 of VM 2 = 0x2fff.
  EXPECT_EQ(GaTag::Make(2, 4095)->raw(), 0x2fffu);
}

TEST(GaTag, RejectsValuesThatDoNotFit) {
  auto vm = GaTag::Make(0x100000, 0);
  EXPECT_EQ(vm.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(vm.status().message(), "GA tag: VM id 1048576 does not fit in 20 bits (max 1048575)");
  auto idx = GaTag::Make(1, 4096);
  EXPECT_EQ(idx.status().message(), "GA tag: vCPU index 4096 does not fit in 12 bits (max 4095)");
}

}  // namespace
}  // namespace hw::amd
