#include "tools/decode.h"

#include <gtest/gtest.h>

namespace irqvirt::tools {
namespace {

TEST(Decode, GuestModeIrteUsesGuestView) {
  const DecodeResult r = Decode({"irte-ga", "0x0000800334567885", "0x1200000123456041"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out,
            "IrteGaGuest{valid=1 no_fault=0 ga_log_intr=1 gappi_dis=0 is_run=0 guest_mode=1 "
            "destination_lo=0x345678 ga_tag=0x8003 vector=0x41 ga_root_ptr=0x123456 "
            "destination_hi=0x12}\ndestination=0x12345678\n");
  EXPECT_EQ(r.err, "");
}

TEST(Decode, RemappedIrteFlagsLeftoverGaTag) {
  const DecodeResult r = Decode({"irte-ga", "100000a41", "ec"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("IrteGaRemapped{valid=1"), std::string::npos);
  EXPECT_NE(r.out.find("rsvd[63:32]=0x1!"), std::string::npos);
  EXPECT_NE(r.out.find("warning: non-zero reserved bits"), std::string::npos);
}

TEST(Decode, EveryKind) {
  EXPECT_EQ(Decode({"irte32", "0x00310305"}).out,
            "Irte32{valid=1 no_fault=0 int_type=0x1 rq_eoi=0 dest_mode=0 destination=0x3 "
            "vector=0x31}\n");
  EXPECT_EQ(Decode({"ga-log", "100000a000000603"}).out,
            "GaLogEntry{ga_tag=0x603 device_id=0xa0 event_type=0x1}\n");
  const DecodeResult avic = Decode({"avic-phys", "0xe0000000abcde123"});
  EXPECT_NE(avic.out.find("ga_log_intent=1 is_running=1 valid=1"), std::string::npos);
  EXPECT_NE(avic.out.find("software-only"), std::string::npos);
  EXPECT_EQ(Decode({"pi-desc", "0x0000050000f20001", "0", "0x2", "0", "0x8000000000000000"}).out,
            "PiControl{on=1 sn=0 nv=0xf2 ndst=0x500}\npir: 0x41 0xff\n");
  EXPECT_EQ(Decode({"pi-desc", "0"}).exit_code, 0);
  EXPECT_NE(Decode({"ioapic-rte", "0x0f00000000018931"}).out.find("trigger_mode=1 mask=1"),
            std::string::npos);
}

TEST(Decode, BadInputExitsTwoWithUsage) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {},
           {"frobnicate", "0"},
           {"irte32", "0xzz"},
           {"irte32", ""},
           {"irte32", "0x"},
           {"irte32", "1ffffffff"},              // wider than 32 bits
           {"irte-ga", "1"},                     // missing HI
           {"ga-log", "11112222333344445"},      // 17 hex digits
           {"pi-desc", "1", "2"},
       }) {
    const DecodeResult r = Decode(args);
    EXPECT_EQ(r.exit_code, 2) << (args.empty() ? "(no args)" : args[0]);
    EXPECT_EQ(r.out, "");
    EXPECT_NE(r.err.find("usage: decode"), std::string::npos);
  }
  EXPECT_NE(Decode({"frobnicate"}).err.find("unknown kind 'frobnicate'"), std::string::npos);
  EXPECT_NE(Decode({"irte32", "0xzz"}).err.find("malformed hex word '0xzz'"), std::string::npos);
}

}  // namespace
}  // namespace irqvirt::tools
