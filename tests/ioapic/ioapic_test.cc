// SPDX-License-Identifier: MIT
// The I/O APIC: register model, edge/level semantics, masking, EOI and re-delivery, the storm
// guard, the three reconfiguration stories, the kvm-unit-tests x86/ioapic.c scenarios, and the
// split-irqchip hook, and callbacks that call back in. Everything is asserted on what the fake
// LAPICs and the guest observe.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/ioapic/ioapic_harness.h"

namespace irqvirt::testing {
namespace {

constexpr int kPin = 0x0e;  // the line kvm-unit-tests uses

// ------------------------------------------------------------------ register model

TEST(IoapicRegisters, VersionIsReadOnlyAndReportsPins) {
  IoapicHarness h;
  EXPECT_EQ(h.Read(0x01), 0x00170020u);  // 24 pins - 1 = 0x17, version 0x20
  h.Write(0x01, ~0x00170020u);
  EXPECT_EQ(h.Read(0x01), 0x00170020u);
  IoapicHarness old(2, {.num_pins = 16, .version = 0x11});
  EXPECT_EQ(old.Read(0x01), 0x000f0011u);
}

TEST(IoapicRegisters, OnlyIdBits27To24AreWritable) {
  IoapicHarness h;
  h.Write(0x00, 0xffffffffu);
  EXPECT_EQ(h.Read(0x00), 0x0f000000u);
  h.Write(0x00, 0x05123456u);
  EXPECT_EQ(h.Read(0x00), 0x05000000u);
}

TEST(IoapicRegisters, ArbitrationMirrorsIdAndIsReadOnly) {
  IoapicHarness h;
  h.Write(0x00, 0x0f000000u);
  EXPECT_EQ(h.Read(0x02), 0x0f000000u);
  h.Write(0x02, 0x01000000u);
  EXPECT_EQ(h.Read(0x02), 0x0f000000u);
  EXPECT_EQ(h.Read(0x00), 0x0f000000u);
}

TEST(IoapicRegisters, ResetStateIsMaskedAndSelectorKeepsEightBits) {
  IoapicHarness h;
  for (int pin = 0; pin < 24; ++pin) {
    EXPECT_EQ(h.Read(static_cast<uint8_t>(0x10 + 2 * pin)), 0x00010000u) << pin;
    EXPECT_EQ(h.Read(static_cast<uint8_t>(0x11 + 2 * pin)), 0u) << pin;
  }
  h.ioapic->MmioWrite(0x00, 4, 0x1ff);
  EXPECT_EQ(h.ioapic->MmioRead(0x00, 4), 0xffu);
}

TEST(IoapicRegisters, OutOfRangeSelectorsReadAllOnesAndIgnoreWrites) {
  IoapicHarness h;
  EXPECT_EQ(h.Read(0x40), 0xffffffffu);  // RTE 24 low: beyond the last pin
  EXPECT_EQ(h.Read(0x41), 0xffffffffu);
  EXPECT_EQ(h.Read(0xff), 0xffffffffu);
  EXPECT_EQ(h.Read(0x03), 0xffffffffu);  // undefined selectors
  EXPECT_EQ(h.Read(0x0f), 0xffffffffu);
  std::vector<uint32_t> before;
  for (int sel = 0; sel < 0x40; ++sel) before.push_back(h.Read(static_cast<uint8_t>(sel)));
  for (uint8_t sel : {0x03, 0x0f, 0x40, 0x41, 0xfe, 0xff}) h.Write(sel, 0x12345678u);
  for (int sel = 0; sel < 0x40; ++sel) EXPECT_EQ(h.Read(static_cast<uint8_t>(sel)), before[sel]);
}

TEST(IoapicRegisters, UnknownOffsetsReadZeroAndIgnoreWrites) {
  IoapicHarness h;
  h.SetRte(1, {.vector = 0x40, .level = true});
  for (uint32_t off : {0x04u, 0x20u, 0x44u, 0xfcu, 0x100u, 0x110u, 0xffffffffu}) {
    for (uint32_t size : {1u, 2u, 4u, 8u}) {
      h.ioapic->MmioWrite(off, size, ~uint64_t{0});
      EXPECT_EQ(h.ioapic->MmioRead(off, size), 0u) << off << " size " << size;
    }
  }
  for (uint32_t size : {1u, 2u, 4u, 8u}) {
    EXPECT_EQ(h.ioapic->MmioRead(hw::x86::kIoapicEoi, size), 0u) << "EOI register is write-only";
  }
  EXPECT_EQ(h.ReadRte(1), MakeRte({.vector = 0x40, .level = true}));
}

// ------------------------------------------------------------------ access sizes
// Behaviour from KVM (arch/x86/kvm/ioapic.c, ioapic_mmio_read/ioapic_mmio_write) and QEMU
// (hw/intc/ioapic.c, ioapic_mem_read/ioapic_mem_write); see Ioapic::MmioRead.

constexpr uint32_t kAccessSizes[] = {1, 2, 4, 8};

// The selector and every RTE (Remote IRR included), read without moving the selector.
std::vector<uint64_t> SelectorAndRtes(IoapicHarness& h) {
  std::vector<uint64_t> state{h.ioapic->MmioRead(hw::x86::kIoapicRegSel, 4)};
  for (int pin = 0; pin < h.ioapic->num_pins(); ++pin) {
    state.push_back(h.ioapic->Entry(pin).value().raw());
  }
  return state;
}

TEST(IoapicAccessSize, SelectorTakesBits7To0AtEverySize) {
  for (uint32_t size : kAccessSizes) {
    SCOPED_TRACE(::testing::Message() << "write size " << size);
    IoapicHarness h;
    h.ioapic->MmioWrite(hw::x86::kIoapicRegSel, size, 0xfedcba9876543201ull);
    for (uint32_t read_size : kAccessSizes) {
      EXPECT_EQ(h.ioapic->MmioRead(hw::x86::kIoapicRegSel, read_size), 0x01u) << read_size;
    }
    EXPECT_EQ(h.ioapic->MmioRead(hw::x86::kIoapicWindow, 4), 0x00170020u) << "version selected";
  }
}

TEST(IoapicAccessSize, WindowDwordReachesTheSelectedRegister) {
  IoapicHarness h;
  const uint64_t rte = MakeRte({.vector = 0x45, .level = true, .dest = 2}).raw();
  h.ioapic->MmioWrite(hw::x86::kIoapicRegSel, 4, 0x11 + 2 * 3);
  h.ioapic->MmioWrite(hw::x86::kIoapicWindow, 4, rte >> 32);
  h.ioapic->MmioWrite(hw::x86::kIoapicRegSel, 4, 0x10 + 2 * 3);
  h.ioapic->MmioWrite(hw::x86::kIoapicWindow, 4, rte & 0xffffffffu);
  EXPECT_EQ(h.ioapic->Entry(3).value().raw(), rte);
  EXPECT_EQ(h.ioapic->MmioRead(hw::x86::kIoapicWindow, 4), rte & 0xffffffffu);
}

// An 8-byte access is the IOWIN dword plus one at 0x14 that decodes nothing: the upper half of
// a store lands nowhere (not in the other half of the RTE) and the upper half of a load is zero.
TEST(IoapicAccessSize, WindowQuadIsTheDwordAndNothingAbove) {
  IoapicHarness h;
  const uint64_t rte = MakeRte({.vector = 0x45, .level = true, .dest = 2}).raw();
  h.ioapic->MmioWrite(hw::x86::kIoapicRegSel, 4, 0x10 + 2 * 3);  // RTE 3, low dword
  h.ioapic->MmioWrite(hw::x86::kIoapicWindow, 8, (0xffffffffull << 32) | (rte & 0xffffffffu));
  EXPECT_EQ(h.ioapic->Entry(3).value().raw(), rte & 0xffffffffu) << "high dword untouched";
  EXPECT_EQ(h.ioapic->MmioRead(hw::x86::kIoapicWindow, 8), rte & 0xffffffffu);
  h.ioapic->MmioWrite(hw::x86::kIoapicRegSel, 4, 0x11 + 2 * 3);  // RTE 3, high dword
  h.ioapic->MmioWrite(hw::x86::kIoapicWindow, 8, (0xabcd0123ull << 32) | (rte >> 32));
  EXPECT_EQ(h.ioapic->Entry(3).value().raw(), rte);
  EXPECT_EQ(h.ioapic->MmioRead(hw::x86::kIoapicWindow, 8), rte >> 32);
  EXPECT_EQ(h.ioapic->MmioRead(hw::x86::kIoapicRegSel, 4), 0x11u + 2 * 3) << "selector unmoved";
}

// IOWIN is a dword register: a byte or word store would otherwise clobber the rest of an RTE half
// (KVM zero-extends it, unmasking the entry); here it is dropped, and narrow loads read zero.
TEST(IoapicAccessSize, WindowBytesAndWordsReadZeroAndAreIgnored) {
  IoapicHarness h;
  const RteSpec masked = {.vector = 0x45, .level = true, .dest = 2, .masked = true};
  h.SetRte(3, masked);
  h.Write(0x00, 0x05000000u);  // ID 5
  for (uint8_t sel : {uint8_t{0x00}, uint8_t{0x10 + 2 * 3}, uint8_t{0x11 + 2 * 3}}) {
    h.ioapic->MmioWrite(hw::x86::kIoapicRegSel, 4, sel);
    for (uint32_t size : {1u, 2u}) {
      EXPECT_EQ(h.ioapic->MmioRead(hw::x86::kIoapicWindow, size), 0u) << int{sel} << " " << size;
      h.ioapic->MmioWrite(hw::x86::kIoapicWindow, size, 0);
      h.ioapic->MmioWrite(hw::x86::kIoapicWindow + size, size, 0xffffffffu);  // 0x11, 0x12
    }
  }
  EXPECT_EQ(h.ReadRte(3), MakeRte(masked));
  EXPECT_EQ(h.Read(0x00), 0x05000000u);
}

TEST(IoapicAccessSize, EoiRegisterTakesDwordAndQuadStoresOfBits7To0) {
  for (uint32_t size : kAccessSizes) {
    SCOPED_TRACE(::testing::Message() << "size " << size);
    IoapicHarness h;
    h.SetRte(7, {.vector = 0x66, .level = true});
    h.Line(7, true);
    h.Line(7, false);
    ASSERT_EQ(h.ReadRte(7).remote_irr(), 1u);
    h.ioapic->MmioWrite(hw::x86::kIoapicEoi, size, 0xffffff00ffffff66ull);
    EXPECT_EQ(h.ReadRte(7).remote_irr(), size >= 4 ? 0u : 1u);
    EXPECT_EQ(h.ioapic->MmioRead(hw::x86::kIoapicEoi, size), 0u) << "write-only";

    IoapicHarness old(4, {.version = 0x11});  // no EOI register at any size
    old.SetRte(7, {.vector = 0x66, .level = true});
    old.Line(7, true);
    old.Line(7, false);  // else an EOI would re-deliver and set Remote IRR again
    old.ioapic->MmioWrite(hw::x86::kIoapicEoi, size, 0x66);
    EXPECT_EQ(old.ReadRte(7).remote_irr(), 1u);
  }
}

// Only accesses that start exactly at 0x00, 0x10 or 0x40 decode: bytes inside a register, odd and
// misaligned offsets read zero and change nothing (here, no selector, RTE, ID or EOI change).
TEST(IoapicAccessSize, OddAndUnalignedOffsetsReadZeroAndChangeNothing) {
  IoapicHarness h;
  h.SetRte(1, {.vector = 0x40, .level = true});
  h.Line(1, true);
  h.Line(1, false);
  ASSERT_EQ(h.ReadRte(1).remote_irr(), 1u);
  h.Write(0x00, 0x0f000000u);
  h.ioapic->MmioWrite(hw::x86::kIoapicRegSel, 4, 0x10 + 2 * 1);  // a stray IOWIN write would show
  const std::vector<uint64_t> before = SelectorAndRtes(h);
  for (uint32_t off :
       {0x01u, 0x02u, 0x03u, 0x04u, 0x08u, 0x0cu, 0x0eu, 0x0fu, 0x11u, 0x12u, 0x13u,
        0x14u, 0x18u, 0x1cu, 0x3cu, 0x3fu, 0x41u, 0x42u, 0x43u, 0x44u, 0x48u, 0xffu}) {
    for (uint32_t size : kAccessSizes) {
      EXPECT_EQ(h.ioapic->MmioRead(off, size), 0u) << off << " size " << size;
      // 0x40 in every byte: the EOI vector, a selector, an RTE vector, whichever is misdecoded.
      h.ioapic->MmioWrite(off, size, 0x4040404040404040ull);
    }
  }
  EXPECT_EQ(SelectorAndRtes(h), before);
  EXPECT_EQ(h.Read(0x00), 0x0f000000u);
}

TEST(IoapicAccessSize, SizesOtherThan1248ReadZeroAndAreIgnored) {
  IoapicHarness h;
  h.SetRte(7, {.vector = 0x66, .level = true});
  h.Line(7, true);
  h.Line(7, false);
  h.ioapic->MmioWrite(hw::x86::kIoapicRegSel, 4, 0x10 + 2 * 7);
  const std::vector<uint64_t> before = SelectorAndRtes(h);
  for (uint32_t size : {0u, 3u, 5u, 6u, 7u, 16u, 0xffffffffu}) {
    for (uint32_t off : {hw::x86::kIoapicRegSel, hw::x86::kIoapicWindow, hw::x86::kIoapicEoi}) {
      EXPECT_EQ(h.ioapic->MmioRead(off, size), 0u) << off << " size " << size;
      h.ioapic->MmioWrite(off, size, 0x66);  // would select 0x66, rewrite RTE 7 or EOI 0x66
    }
  }
  EXPECT_EQ(SelectorAndRtes(h), before);
  EXPECT_EQ(h.ReadRte(7).remote_irr(), 1u);
}

TEST(IoapicRegisters, RemoteIrrAndDeliveryStatusAreReadOnly) {
  IoapicHarness h;
  // The guest tries to set both read-only bits.
  h.Write(0x10 + 2 * 2, static_cast<uint32_t>(MakeRte({.vector = 0x41, .level = true}).raw()) |
                            0x5000u);
  EXPECT_EQ(h.ReadRte(2).remote_irr(), 0u);
  EXPECT_EQ(h.ReadRte(2).delivery_status(), 0u);
  h.Line(2, true);
  ASSERT_EQ(h.ReadRte(2).remote_irr(), 1u);
  // ...and to clear Remote IRR by rewriting the low dword without it.
  h.Write(0x10 + 2 * 2, static_cast<uint32_t>(MakeRte({.vector = 0x41, .level = true}).raw()));
  EXPECT_EQ(h.ReadRte(2).remote_irr(), 1u);
}

TEST(IoapicRegisters, CreateRejectsBadOptions) {
  hw::fake::FakeLapics lapics(1);
  hw::fake::FakeTimer timer;
  EXPECT_FALSE(ioapic::Ioapic::Create(lapics, timer, {.num_pins = 0}).ok());
  EXPECT_FALSE(ioapic::Ioapic::Create(lapics, timer, {.num_pins = 121}).ok());
  EXPECT_FALSE(ioapic::Ioapic::Create(lapics, timer, {.version = 0x21}).ok());
  EXPECT_FALSE(ioapic::Ioapic::Create(lapics, timer, {.storm_threshold = 0}).ok());
  EXPECT_TRUE(ioapic::Ioapic::Create(lapics, timer, {.num_pins = 120}).ok());
}

TEST(IoapicHostInput, UnknownPinOrVcpuIsAnErrorAndChangesNothing) {
  IoapicHarness h;
  EXPECT_EQ(h.ioapic->SetIrq(-1, true).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(h.ioapic->SetIrq(24, true).message(), "I/O APIC: pin 24 outside 0..23");
  EXPECT_FALSE(h.ioapic->OnLapicEoi(99, 0x30, true));
  EXPECT_FALSE(h.ioapic->OnLapicEoi(-1, 0x30, true));
  EXPECT_FALSE(h.ioapic->AddAckNotifier(24, [](int) {}).ok());
  EXPECT_EQ(h.lapics.total_deliveries(), 0u);
}

TEST(IoapicHostInput, QueriesNameTheBadPinAndTheValidRange) {
  IoapicHarness h;  // 24 pins
  for (int pin : {-1, 24}) {
    const std::string want = absl::StrCat("I/O APIC: pin ", pin, " outside 0..23");
    const auto entry = h.ioapic->Entry(pin);
    EXPECT_EQ(entry.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(entry.status().message(), want);
    const auto stats = h.ioapic->Stats(pin);
    EXPECT_EQ(stats.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(stats.status().message(), want);
  }
  EXPECT_EQ(h.ioapic->Entry(23).value(), MakeRte({.masked = true}));
  IoapicHarness wide(1, {.num_pins = ioapic::Ioapic::kMaxPins});
  EXPECT_TRUE(wide.ioapic->Entry(119).ok());
  EXPECT_EQ(wide.ioapic->Stats(120).status().message(), "I/O APIC: pin 120 outside 0..119");
}

TEST(IoapicHostInput, QueriesNameTheBadVcpuAndTheValidRange) {
  IoapicHarness h;  // 4 vCPUs
  h.SetRte(1, {.vector = 0x40, .level = true, .dest = 3});
  for (int vcpu : {-1, 4}) {
    const std::string want = absl::StrCat("I/O APIC: vCPU ", vcpu, " outside 0..3");
    const auto intercepts = h.ioapic->InterceptsEoi(vcpu, 0x40);
    EXPECT_EQ(intercepts.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(intercepts.status().message(), want);
    const auto stale = h.ioapic->HighestStalePendingEoi(vcpu);
    EXPECT_EQ(stale.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(stale.status().message(), want);
  }
  EXPECT_TRUE(h.ioapic->InterceptsEoi(3, 0x40).value());
  EXPECT_EQ(h.ioapic->HighestStalePendingEoi(3).value(), -1) << "-1 is 'none', not an error";
}

// ------------------------------------------------------------------ edge and level

TEST(IoapicEdge, OneEdgeOneInterruptAndHeldLineCoalesces) {  // KUT test_ioapic_edge_intr
  IoapicHarness h;
  h.SetRte(kPin, {.vector = 0x76});
  h.Line(kPin, true);
  EXPECT_EQ(h.lapics.deliveries(0, 0x76), 1u);
  h.Line(kPin, true);  // no 0 -> 1 transition
  EXPECT_EQ(h.lapics.deliveries(0, 0x76), 1u);
  h.Line(kPin, false);
  h.Line(kPin, true);
  EXPECT_EQ(h.lapics.deliveries(0, 0x76), 2u);
  EXPECT_EQ(h.ReadRte(kPin).remote_irr(), 0u) << "edge entries never set Remote IRR";
}

TEST(IoapicLevel, DeliveredOnceClearedByEoi) {  // KUT test_ioapic_level_intr
  IoapicHarness h;
  h.SetRte(kPin, {.vector = 0x77, .level = true});
  h.Line(kPin, true);
  EXPECT_EQ(h.lapics.deliveries(0, 0x77), 1u);
  EXPECT_EQ(h.ReadRte(kPin).remote_irr(), 1u);
  EXPECT_TRUE(h.lapics.tmr(0, 0x77));
  ASSERT_EQ(h.lapics.Acknowledge(0), 0x77);
  h.Line(kPin, false);  // handler deasserts
  h.lapics.Eoi(0);
  EXPECT_EQ(h.ReadRte(kPin).remote_irr(), 0u);
  EXPECT_EQ(h.lapics.deliveries(0, 0x77), 1u);
  EXPECT_EQ(h.ioapic->Stats(kPin).value().remote_irr_clears, 1u);
}

TEST(IoapicEdge, SimultaneousEdgesBothDeliveredHigherFirst) {  // KUT test_ioapic_simultaneous
  IoapicHarness h;
  h.SetRte(0x0e, {.vector = 0x76});
  h.SetRte(0x0f, {.vector = 0x78});
  h.Line(0x0e, true);  // guest has IF = 0: nothing is acknowledged yet
  h.Line(0x0f, true);
  std::vector<int> handled;
  h.lapics.RunGuest(0, [&](int, uint8_t vector) { handled.push_back(vector); });  // sti
  EXPECT_EQ(handled, (std::vector<int>{0x78, 0x76})) << "same class: 0x76 after 0x78's EOI";
}

TEST(IoapicLevel, AssertWhileInServiceCoalesces) {  // KUT test_ioapic_level_coalesce
  IoapicHarness h;
  h.SetRte(kPin, {.vector = 0x79, .level = true});
  h.Line(kPin, true);
  ASSERT_EQ(h.lapics.Acknowledge(0), 0x79);
  h.Line(kPin, true);  // asserted again while Remote IRR is set: latched, not delivered
  EXPECT_EQ(h.lapics.deliveries(0, 0x79), 1u);
  h.Line(kPin, false);
  h.lapics.Eoi(0);
  EXPECT_EQ(h.lapics.deliveries(0, 0x79), 1u);
}

TEST(IoapicLevel, SequentialAssertionsTwoInterrupts) {  // KUT test_ioapic_level_sequential
  IoapicHarness h;
  h.SetRte(kPin, {.vector = 0x79, .level = true});
  for (int i = 0; i < 2; ++i) {
    h.Line(kPin, true);
    ASSERT_EQ(h.lapics.Acknowledge(0), 0x79);
    h.Line(kPin, false);
    h.lapics.Eoi(0);
  }
  EXPECT_EQ(h.lapics.deliveries(0, 0x79), 2u);
}

TEST(IoapicLevel, LineHighAtEoiRedelivers) {  // KUT test_ioapic_level_retrigger
  IoapicHarness h;
  h.SetRte(kPin, {.vector = 0x7a, .level = true});
  h.Line(kPin, true);
  ASSERT_EQ(h.lapics.Acknowledge(0), 0x7a);
  h.lapics.Eoi(0);  // line still asserted
  EXPECT_EQ(h.lapics.deliveries(0, 0x7a), 2u);
  EXPECT_EQ(h.ReadRte(kPin).remote_irr(), 1u);
  ASSERT_EQ(h.lapics.Acknowledge(0), 0x7a);
  h.Line(kPin, false);
  h.lapics.Eoi(0);
  EXPECT_EQ(h.lapics.deliveries(0, 0x7a), 2u);
  EXPECT_EQ(h.ReadRte(kPin).remote_irr(), 0u);
}

TEST(IoapicMask, MaskedEdgeIsDroppedUnmaskDoesNotReplay) {  // KUT test_ioapic_edge_mask
  IoapicHarness h;
  h.SetRte(kPin, {.vector = 0x7b, .masked = true});
  h.Line(kPin, true);
  h.Line(kPin, false);
  EXPECT_EQ(h.lapics.deliveries(0, 0x7b), 0u);
  h.SetMask(kPin, false);
  EXPECT_EQ(h.lapics.deliveries(0, 0x7b), 0u);
  h.Line(kPin, true);
  EXPECT_EQ(h.lapics.deliveries(0, 0x7b), 1u);
}

TEST(IoapicMask, MaskedLevelIsDeliveredOnUnmask) {  // KUT test_ioapic_level_mask
  IoapicHarness h;
  h.SetRte(kPin, {.vector = 0x7c, .level = true, .masked = true});
  h.Line(kPin, true);
  EXPECT_EQ(h.lapics.deliveries(0, 0x7c), 0u);
  EXPECT_EQ(h.ReadRte(kPin).remote_irr(), 0u);
  h.SetMask(kPin, false);
  EXPECT_EQ(h.lapics.deliveries(0, 0x7c), 1u);
}

TEST(IoapicMask, MaskThenEoiWithLineHighRedeliversOnUnmask) {  // KUT level_retrigger_mask
  IoapicHarness h;
  h.SetRte(kPin, {.vector = 0x7d, .level = true});
  h.Line(kPin, true);
  ASSERT_EQ(h.lapics.Acknowledge(0), 0x7d);
  h.SetMask(kPin, true);
  h.lapics.Eoi(0);
  EXPECT_EQ(h.lapics.deliveries(0, 0x7d), 1u);
  EXPECT_EQ(h.ReadRte(kPin).remote_irr(), 0u);
  h.SetMask(kPin, false);
  EXPECT_EQ(h.lapics.deliveries(0, 0x7d), 2u);
}

TEST(IoapicTmr, EdgeClearsAndLevelSetsTheTmrBit) {  // KUT test_ioapic_edge_tmr / level_tmr
  IoapicHarness h;
  h.SetRte(kPin, {.vector = 0x7e, .level = true});
  h.Line(kPin, true);
  EXPECT_TRUE(h.lapics.tmr(0, 0x7e));
  h.lapics.Acknowledge(0);
  h.Line(kPin, false);
  h.lapics.Eoi(0);
  h.SetRte(kPin, {.vector = 0x7e});
  h.Line(kPin, true);
  EXPECT_FALSE(h.lapics.tmr(0, 0x7e));
}

TEST(IoapicDestination, PhysicalLogicalBroadcastLowestPriority) {  // KUT *_destination_mode
  IoapicHarness h;
  h.SetRte(1, {.vector = 0x60, .level = true, .dest = 1});
  h.Line(1, true);
  EXPECT_EQ(h.lapics.deliveries(1, 0x60), 1u);
  EXPECT_EQ(h.lapics.deliveries(0, 0x60), 0u);

  h.SetRte(2, {.vector = 0x61, .level = true, .dest = 0x0d, .logical = true});
  h.Line(2, true);
  for (int v : {0, 2, 3}) {
    EXPECT_EQ(h.lapics.deliveries(v, 0x61), 1u) << v;
    ASSERT_EQ(h.lapics.Acknowledge(v), 0x61);
  }
  EXPECT_EQ(h.lapics.deliveries(1, 0x61), 0u);
  h.Line(2, false);
  for (int v : {0, 2, 3}) h.lapics.Eoi(v);
  EXPECT_EQ(h.ReadRte(2).remote_irr(), 0u);
  for (int v : {0, 2, 3}) EXPECT_EQ(h.lapics.deliveries(v, 0x61), 1u) << v;

  h.SetRte(3, {.vector = 0x62, .dest = 0xff});
  h.Line(3, true);
  for (int v = 0; v < 4; ++v) EXPECT_EQ(h.lapics.deliveries(v, 0x62), 1u) << v;

  h.SetRte(4, {.vector = 0x63, .dest = 0x0f, .logical = true,
               .mode = IoapicDeliveryMode::kLowestPriority});
  h.Line(4, true);
  uint64_t total = 0;
  for (int v = 0; v < 4; ++v) total += h.lapics.deliveries(v, 0x63);
  EXPECT_EQ(total, 1u) << "lowest priority picks exactly one";
}

TEST(IoapicLevel, SwitchToEdgeClearsRemoteIrr) {
  IoapicHarness h;
  h.SetRte(5, {.vector = 0x64, .level = true});
  h.Line(5, true);
  ASSERT_EQ(h.ReadRte(5).remote_irr(), 1u);
  h.SetRte(5, {.vector = 0x64});
  EXPECT_EQ(h.ReadRte(5).remote_irr(), 0u);
  EXPECT_EQ(h.ioapic->Stats(5).value().remote_irr_clears, 1u);
}

TEST(IoapicLevel, DeassertDoesNotTouchRemoteIrr) {
  IoapicHarness h;
  h.SetRte(5, {.vector = 0x64, .level = true});
  h.Line(5, true);
  h.Line(5, false);
  EXPECT_EQ(h.ReadRte(5).remote_irr(), 1u);
}

TEST(IoapicLevel, IllegalVectorIsRejectedAndDoesNotStickTheLine) {
  IoapicHarness h;
  h.SetRte(6, {.vector = 0x05, .level = true});  // guest garbage: vectors 0..15 are illegal
  h.Line(6, true);
  EXPECT_EQ(h.lapics.rejected(), 1u);
  EXPECT_EQ(h.ReadRte(6).remote_irr(), 0u);
  h.SetRte(6, {.vector = 0x65, .level = true});  // fixed by the guest: delivered at once
  EXPECT_EQ(h.lapics.deliveries(0, 0x65), 1u);
}

TEST(IoapicEoiRegister, Version20ClearsRemoteIrrVersion11IgnoresIt) {
  IoapicHarness h;
  h.SetRte(7, {.vector = 0x66, .level = true});
  h.Line(7, true);
  h.Line(7, false);
  h.ioapic->MmioWrite(hw::x86::kIoapicEoi, 4, 0x66);
  EXPECT_EQ(h.ReadRte(7).remote_irr(), 0u);

  IoapicHarness old(4, {.version = 0x11});
  old.SetRte(7, {.vector = 0x66, .level = true});
  old.Line(7, true);
  old.Line(7, false);  // else an EOI would re-deliver and set Remote IRR again
  old.ioapic->MmioWrite(hw::x86::kIoapicEoi, 4, 0x66);
  EXPECT_EQ(old.ReadRte(7).remote_irr(), 1u);
}

TEST(IoapicStormGuard, DefersAfterThresholdSuccessiveRedeliveries) {
  IoapicHarness h(2, {.storm_threshold = 3, .storm_delay_ns = 5'000'000});
  h.SetRte(8, {.vector = 0x67, .level = true});
  h.Line(8, true);  // a broken device holds the line; the guest EOIs without quieting it
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(h.lapics.Acknowledge(0), 0x67) << i;
    h.lapics.Eoi(0);
  }
  // Deliveries: the first, then re-deliveries on EOIs 1 and 2; the third EOI is deferred.
  EXPECT_EQ(h.lapics.deliveries(0, 0x67), 3u);
  EXPECT_TRUE(h.timer.armed());
  EXPECT_EQ(h.timer.last_delay_ns(), 5'000'000u);
  EXPECT_EQ(h.ioapic->Stats(8).value().deferred_by_storm_guard, 1u);
  EXPECT_EQ(h.lapics.Acknowledge(0), -1) << "nothing pending until the timer fires";
  ASSERT_TRUE(h.timer.Fire());
  h.ioapic->OnStormTimer();
  EXPECT_EQ(h.lapics.deliveries(0, 0x67), 4u);
  // The counter restarted: the next two EOIs re-deliver at once.
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(h.lapics.Acknowledge(0), 0x67);
    h.lapics.Eoi(0);
  }
  EXPECT_EQ(h.lapics.deliveries(0, 0x67), 6u);
}

TEST(IoapicStormGuard, LineLowAtEoiResetsTheCount) {
  IoapicHarness h(1, {.storm_threshold = 2});
  h.SetRte(8, {.vector = 0x67, .level = true});
  for (int round = 0; round < 5; ++round) {
    h.Line(8, true);
    ASSERT_EQ(h.lapics.Acknowledge(0), 0x67);
    h.lapics.Eoi(0);  // re-delivered once (line high)
    ASSERT_EQ(h.lapics.Acknowledge(0), 0x67);
    h.Line(8, false);
    h.lapics.Eoi(0);  // line low: counter back to 0
  }
  EXPECT_EQ(h.timer.arm_count(), 0u);
  EXPECT_EQ(h.lapics.deliveries(0, 0x67), 10u);
}

// ------------------------------------------------------------------ reconfiguration stories

// (a) db2bdcbbbd32: an edge interrupt with an ack notifier (a PIT-like source) is re-routed
// while still pending on the old vCPU. Its EOI must still reach the notifier.
TEST(IoapicReconfigure, EdgeReroutedWhilePendingOnOldVcpu) {
  IoapicHarness h;
  int acks = 0;
  ASSERT_TRUE(h.ioapic->AddAckNotifier(0, [&](int) { ++acks; }).ok());
  h.SetRte(0, {.vector = 0x50, .dest = 0});
  EXPECT_TRUE(h.ioapic->InterceptsEoi(0, 0x50).value());
  h.Line(0, true);
  h.Line(0, false);
  ASSERT_TRUE(h.lapics.irr(0, 0x50));  // pending on vCPU 0, not yet acknowledged
  // vCPU 1 re-routes the pin to itself (upper dword only).
  h.Write(0x11, static_cast<uint32_t>(MakeRte({.vector = 0x50, .dest = 1}).raw() >> 32));
  EXPECT_TRUE(h.ioapic->InterceptsEoi(1, 0x50).value());
  EXPECT_TRUE(h.ioapic->InterceptsEoi(0, 0x50).value()) << "in flight from the old routing";
  EXPECT_EQ(h.ioapic->HighestStalePendingEoi(0).value(), 0x50);
  ASSERT_EQ(h.lapics.Acknowledge(0), 0x50);
  h.lapics.Eoi(0);
  EXPECT_EQ(acks, 1) << "the stale EOI reached the ack notifier";
  EXPECT_FALSE(h.ioapic->InterceptsEoi(0, 0x50).value()) << "and vCPU 0 stopped intercepting it";
  EXPECT_EQ(h.ioapic->HighestStalePendingEoi(0).value(), -1);
  // The next edge goes to vCPU 1 only, and its EOI is seen too.
  h.Line(0, true);
  EXPECT_EQ(h.lapics.deliveries(1, 0x50), 1u);
  EXPECT_EQ(h.lapics.deliveries(0, 0x50), 1u);
  ASSERT_EQ(h.lapics.Acknowledge(1), 0x50);
  h.lapics.Eoi(1);
  EXPECT_EQ(acks, 2);
}

// (b) 0fc5a36dd6b3: the handler of a level interrupt on vCPU 0 deasserts the line, re-routes the
// entry to vCPU 1 by rewriting only the upper dword, then EOIs on vCPU 0. Remote IRR must clear.
void LevelSelfReconfigure(IoapicHarness& h) {
  h.SetRte(3, {.vector = 0x60, .level = true, .dest = 0});
  h.Line(3, true);
  ASSERT_EQ(h.lapics.Acknowledge(0), 0x60);
  h.Line(3, false);
  h.Write(0x10 + 2 * 3 + 1,
          static_cast<uint32_t>(MakeRte({.vector = 0x60, .level = true, .dest = 1}).raw() >> 32));
  EXPECT_TRUE(h.ioapic->InterceptsEoi(0, 0x60).value())
      << "the in-service vector stays intercepted";
  EXPECT_EQ(h.ioapic->HighestStalePendingEoi(0).value(), 0x60);
  h.lapics.Eoi(0);
}

TEST(IoapicReconfigure, LevelReroutedByItsOwnHandlerDoesNotStickTheLine) {  // KUT self_reconfigure
  IoapicHarness h;
  LevelSelfReconfigure(h);
  EXPECT_EQ(h.ReadRte(3).remote_irr(), 0u);
  EXPECT_EQ(h.ioapic->InterceptedEois(0, 0x60), 1u);
  h.Line(3, true);  // the line works again, now towards vCPU 1
  EXPECT_EQ(h.lapics.deliveries(1, 0x60), 1u);
  EXPECT_EQ(h.lapics.deliveries(0, 0x60), 1u);
  ASSERT_EQ(h.lapics.Acknowledge(1), 0x60);
  h.Line(3, false);
  h.lapics.Eoi(1);
  EXPECT_EQ(h.ReadRte(3).remote_irr(), 0u);
}

// (c) 87e4951e250b: after (b), vCPU 0 stops intercepting the vector as soon as the stale EOI is
// done; later uses of that vector on vCPU 0 by other sources do not exit.
TEST(IoapicReconfigure, OldVcpuStopsInterceptingAfterTheStaleEoi) {
  IoapicHarness h;
  LevelSelfReconfigure(h);
  const uint64_t at_stale_eoi = h.ioapic->InterceptedEois(0, 0x60);
  ASSERT_EQ(at_stale_eoi, 1u);
  EXPECT_FALSE(h.ioapic->InterceptsEoi(0, 0x60).value());
  for (int i = 0; i < 5; ++i) {  // an MSI reuses vector 0x60 on vCPU 0
    h.lapics.RaiseDirect(0, 0x60);
    ASSERT_EQ(h.lapics.Acknowledge(0), 0x60);
    h.lapics.Eoi(0);
  }
  EXPECT_EQ(h.ioapic->InterceptedEois(0, 0x60) - at_stale_eoi, 0u);
  EXPECT_EQ(h.eois_not_intercepted, 5u);
  EXPECT_EQ(h.last_eoi_intercepted, false);
}

// The old destination set is computed with the old destination mode (KVM uses the new one).
TEST(IoapicReconfigure, OldDestinationUsesTheOldDestinationMode) {
  IoapicHarness h;
  // Logical 0x01 = vCPU 0 (flat LDR 1 << 0); the new physical destination 2 is vCPU 2. Read with
  // the new (physical) mode, the old destination 0x01 would be vCPU 1 instead of vCPU 0.
  h.SetRte(4, {.vector = 0x70, .level = true, .dest = 0x01, .logical = true});
  h.Line(4, true);
  ASSERT_EQ(h.lapics.Acknowledge(0), 0x70);
  h.Line(4, false);
  h.SetRte(4, {.vector = 0x70, .level = true, .dest = 2});
  EXPECT_EQ(h.ioapic->HighestStalePendingEoi(0).value(), 0x70) << "vCPU 0 was rescanned";
  h.lapics.Eoi(0);
  EXPECT_EQ(h.ReadRte(4).remote_irr(), 0u);
  EXPECT_FALSE(h.ioapic->InterceptsEoi(0, 0x70).value());
  EXPECT_TRUE(h.ioapic->InterceptsEoi(2, 0x70).value());
}

// Issue 15 story 5: a level interrupt delivered in fixed mode is in service on vCPU 1 when the
// guest reprograms the entry to NMI or ExtINT (vector field and trigger mode kept) and later back
// to fixed. The EOI matches the entry by vector whatever its delivery mode, so it clears Remote
// IRR whether it comes before or after the switch back, and the line works again.
TEST(IoapicReconfigure, DeliveryModeChangeWhileLevelInFlightDoesNotStickTheLine) {
  for (const IoapicDeliveryMode mode : {IoapicDeliveryMode::kNmi, IoapicDeliveryMode::kExtInt}) {
    for (const bool eoi_before_switch_back : {true, false}) {
      SCOPED_TRACE(::testing::Message()
                   << "mode " << static_cast<int>(mode)
                   << (eoi_before_switch_back ? ", EOI in that mode" : ", EOI after fixed again"));
      IoapicHarness h;
      const RteSpec fixed = {.vector = 0x71, .level = true, .dest = 1};
      RteSpec other = fixed;
      other.mode = mode;
      int acks = 0;
      ASSERT_TRUE(h.ioapic->AddAckNotifier(kPin, [&](int) { ++acks; }).ok());
      h.SetRte(kPin, fixed);
      h.Line(kPin, true);
      ASSERT_EQ(h.lapics.Acknowledge(1), 0x71);
      h.Line(kPin, false);    // the handler quiets the device...
      h.SetRte(kPin, other);  // ...and reprograms the entry before its EOI
      EXPECT_EQ(h.ReadRte(kPin).remote_irr(), 1u);
      EXPECT_TRUE(h.ioapic->InterceptsEoi(1, 0x71).value()) << "the in-flight EOI must still exit";
      if (eoi_before_switch_back) h.lapics.Eoi(1);
      h.SetRte(kPin, fixed);
      if (!eoi_before_switch_back) h.lapics.Eoi(1);
      EXPECT_EQ(h.ReadRte(kPin).remote_irr(), 0u);
      EXPECT_EQ(acks, 1) << "the ack notifier saw that EOI too";
      EXPECT_EQ(h.lapics.nmis(1), 0u) << "nothing was pending while the entry was in NMI mode";

      h.Line(kPin, true);  // deliverable again
      EXPECT_EQ(h.lapics.deliveries(1, 0x71), 2u);
      ASSERT_EQ(h.lapics.Acknowledge(1), 0x71);
      h.Line(kPin, false);
      h.lapics.Eoi(1);
      EXPECT_EQ(h.ReadRte(kPin).remote_irr(), 0u);
      const ioapic::PinStats stats = h.ioapic->Stats(kPin).value();
      EXPECT_EQ(stats.level_deliveries, 2u);
      EXPECT_EQ(stats.remote_irr_clears, 2u);
      EXPECT_EQ(h.ioapic->InterceptedEois(1, 0x71), 2u);
      for (int v = 0; v < 4; ++v) {
        EXPECT_EQ(h.ioapic->InterceptsEoi(v, 0x71).value(), v == 1) << v;
        EXPECT_EQ(h.ioapic->HighestStalePendingEoi(v).value(), -1) << v;
        EXPECT_FALSE(h.lapics.irr(v, 0x71) || h.lapics.isr(v, 0x71)) << v;
      }
    }
  }
}

TEST(IoapicInterception, LevelTargetsInterceptEdgeWithoutNotifierDoesNot) {
  IoapicHarness h;
  h.SetRte(1, {.vector = 0x40, .level = true, .dest = 2});
  h.SetRte(2, {.vector = 0x41, .dest = 2});
  EXPECT_TRUE(h.ioapic->InterceptsEoi(2, 0x40).value());
  EXPECT_FALSE(h.ioapic->InterceptsEoi(2, 0x41).value());
  EXPECT_FALSE(h.ioapic->InterceptsEoi(1, 0x40).value());
  EXPECT_EQ(h.ioapic->HandledVectors(2).count(), 1u);
  // An EOI nobody needs is not intercepted and changes nothing.
  EXPECT_FALSE(h.ioapic->OnLapicEoi(1, 0x40, true));
  EXPECT_EQ(h.ioapic->InterceptedEois(1, 0x40), 0u);
}

TEST(IoapicInterception, DeferredRescansWaitForTheVcpu) {
  IoapicHarness h(2, {.rescan_immediately = false});
  h.ioapic->ProcessPendingRescans(0);
  h.ioapic->ProcessPendingRescans(1);
  h.SetRte(1, {.vector = 0x40, .level = true, .dest = 1});
  EXPECT_TRUE(h.ioapic->RescanPending(1));
  EXPECT_FALSE(h.ioapic->InterceptsEoi(1, 0x40).value()) << "not yet: vCPU 1 has not re-entered";
  h.ioapic->ProcessPendingRescans(1);
  EXPECT_FALSE(h.ioapic->RescanPending(1));
  EXPECT_TRUE(h.ioapic->InterceptsEoi(1, 0x40).value());
}

// ------------------------------------------------------------------ nested handlers

// A level handler (vector 0x50) re-enables interrupts: a higher-class edge interrupt (0x90) nests,
// a same-class level one (0x52) waits for 0x50's EOI. The priority-aware fake LAPIC orders it all;
// the test only says what each handler does.
TEST(IoapicNested, HigherClassNestsInALevelHandlerAndTheSameClassWaitsForItsEoi) {
  IoapicHarness h;
  h.SetRte(1, {.vector = 0x50, .level = true});
  h.SetRte(2, {.vector = 0x90});
  h.SetRte(3, {.vector = 0x52, .level = true});
  std::vector<int> handled;
  uint64_t pin1_remote_irr_in_nested = 0;
  uint64_t intercepted_before_0x52 = 0;
  uint64_t not_intercepted_before_0x52 = 0;
  std::function<void(int, uint8_t)> handler = [&](int vcpu, uint8_t vector) {
    handled.push_back(vector);
    if (vector == 0x50) {
      h.Line(2, true);
      h.Line(2, false);
      h.Line(3, true);
      h.Line(1, false);                  // quiets its own device
      h.lapics.RunGuest(vcpu, handler);  // sti: 0x90 nests, 0x52 must wait
    } else if (vector == 0x90) {
      pin1_remote_irr_in_nested = h.ReadRte(1).remote_irr();
    } else if (vector == 0x52) {
      intercepted_before_0x52 = h.eois_intercepted;
      not_intercepted_before_0x52 = h.eois_not_intercepted;
      h.Line(3, false);
    }
  };
  h.Line(1, true);
  EXPECT_EQ(h.lapics.RunGuest(0, handler), 2) << "0x50 and 0x52 at the outer level";
  EXPECT_EQ(handled, (std::vector<int>{0x50, 0x90, 0x52}));
  EXPECT_EQ(pin1_remote_irr_in_nested, 1u) << "0x50 still in service under the nested handler";
  EXPECT_EQ(intercepted_before_0x52, 1u) << "0x50's EOI (intercepted) came before 0x52 ran";
  EXPECT_EQ(not_intercepted_before_0x52, 1u) << "0x90's edge EOI needs no exit";
  EXPECT_EQ(h.eois_intercepted, 2u);
  EXPECT_EQ(h.last_eoi_intercepted, true);
  EXPECT_EQ(h.ReadRte(1).remote_irr(), 0u);
  EXPECT_EQ(h.ReadRte(3).remote_irr(), 0u);
  EXPECT_EQ(h.lapics.deliveries(0, 0x52), 1u);
}

// A guest that raised TPR does not take a level interrupt of that class; Remote IRR stays set
// (the I/O APIC delivered it) until the guest lowers TPR, handles it and EOIs.
TEST(IoapicNested, TprHoldsALevelInterruptInIrrUntilLowered) {
  IoapicHarness h;
  h.SetRte(kPin, {.vector = 0x65, .level = true});
  h.lapics.set_tpr(0, 0x60);
  h.Line(kPin, true);
  auto quiet = [&](int, uint8_t) { h.Line(kPin, false); };
  EXPECT_EQ(h.lapics.RunGuest(0, quiet), 0);
  EXPECT_TRUE(h.lapics.irr(0, 0x65));
  EXPECT_EQ(h.ReadRte(kPin).remote_irr(), 1u);
  EXPECT_FALSE(h.last_eoi_intercepted.has_value()) << "no EOI yet";
  h.lapics.set_tpr(0, 0x00);
  EXPECT_EQ(h.lapics.RunGuest(0, quiet), 1);
  EXPECT_EQ(h.ReadRte(kPin).remote_irr(), 0u);
  EXPECT_EQ(h.last_eoi_intercepted, true);
}

TEST(IoapicHarnessEois, RecordsWhetherEachGuestEoiWasIntercepted) {
  IoapicHarness h;
  h.SetRte(kPin, {.vector = 0x77, .level = true});
  h.Line(kPin, true);
  h.lapics.RunGuest(0, [&](int, uint8_t) { h.Line(kPin, false); });
  EXPECT_EQ(h.last_eoi_intercepted, true) << "a level I/O APIC vector exits";
  h.lapics.RaiseDirect(0, 0x99);  // an MSI: not the I/O APIC's business
  h.lapics.RunGuest(0, [](int, uint8_t) {});
  EXPECT_EQ(h.last_eoi_intercepted, false);
  EXPECT_EQ(h.eois_intercepted, 1u);
  EXPECT_EQ(h.eois_not_intercepted, 1u);
}

// ------------------------------------------------------------------ split irqchip

TEST(IoapicSplit, InterceptedEoisGoToTheExitHandler) {
  IoapicHarness h;
  struct Exit {
    int vcpu;
    uint8_t vector;
    bool level;
  };
  std::vector<Exit> exits;
  h.ioapic->SetEoiExitHandler([&](int v, uint8_t vec, bool level) { exits.push_back({v, vec, level}); });
  h.SetRte(9, {.vector = 0x68, .level = true, .dest = 3});
  h.Line(9, true);
  ASSERT_EQ(h.lapics.Acknowledge(3), 0x68);
  h.Line(9, false);
  h.lapics.Eoi(3);
  ASSERT_EQ(exits.size(), 1u);
  EXPECT_EQ(exits[0].vcpu, 3);
  EXPECT_EQ(exits[0].vector, 0x68);
  EXPECT_TRUE(exits[0].level);
  EXPECT_EQ(h.ReadRte(9).remote_irr(), 1u) << "userspace has not processed the exit yet";
  h.ioapic->ProcessEoi(0x68, true);  // what the userspace I/O APIC does with the exit
  EXPECT_EQ(h.ReadRte(9).remote_irr(), 0u);
}

// ------------------------------------------------------------------ callbacks without the lock

// Runs `story` on its own thread and kills the test binary if it has not finished after 10 s: a
// callback made with the I/O APIC lock held that calls back in blocks forever on that lock.
void RunOrDieOnDeadlock(const std::function<void()>& story) {
  std::promise<void> done;
  std::future<void> finished = done.get_future();
  std::thread t([&] {
    story();
    done.set_value();
  });
  if (finished.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    std::fprintf(stderr, "deadlock: a callback was made with the I/O APIC lock held\n");
    std::abort();
  }
  t.join();
}

// A userspace I/O APIC handles the EOI exit at once, from inside the handler.
TEST(IoapicCallbacks, EoiExitHandlerCanCallBackIn) {
  RunOrDieOnDeadlock([] {
    IoapicHarness h;
    std::vector<uint64_t> remote_irr_in_handler;
    h.ioapic->SetEoiExitHandler([&](int, uint8_t vector, bool level) {
      remote_irr_in_handler.push_back(h.ioapic->Entry(9).value().remote_irr());
      h.ioapic->ProcessEoi(vector, level);
    });
    h.SetRte(9, {.vector = 0x68, .level = true, .dest = 3});
    h.Line(9, true);
    ASSERT_EQ(h.lapics.Acknowledge(3), 0x68);
    h.Line(9, false);
    h.lapics.Eoi(3);
    EXPECT_EQ(remote_irr_in_handler, std::vector<uint64_t>{1});
    EXPECT_EQ(h.ReadRte(9).remote_irr(), 0u);
    h.Line(9, true);  // the line works again
    EXPECT_EQ(h.lapics.deliveries(3, 0x68), 2u);
  });
}

// An irqfd-style resampler: the notifier checks the entry and deasserts the line. It runs before
// Remote IRR clears, so the EOI does not re-deliver the request the guest already handled.
TEST(IoapicCallbacks, AckNotifierCanCallBackInBeforeRemoteIrrClears) {
  RunOrDieOnDeadlock([] {
    IoapicHarness h;
    std::vector<uint64_t> remote_irr_at_ack;
    auto resampler = [&](int pin) {
      remote_irr_at_ack.push_back(h.ioapic->Entry(pin).value().remote_irr());
      EXPECT_TRUE(h.ioapic->SetIrq(pin, false).ok());
    };
    ASSERT_TRUE(h.ioapic->AddAckNotifier(kPin, resampler).ok());
    h.SetRte(kPin, {.vector = 0x77, .level = true});
    h.Line(kPin, true);
    ASSERT_EQ(h.lapics.Acknowledge(0), 0x77);
    h.lapics.Eoi(0);  // the guest's handler left the line to the resampler
    EXPECT_EQ(remote_irr_at_ack, std::vector<uint64_t>{1});
    EXPECT_EQ(h.ReadRte(kPin).remote_irr(), 0u);
    EXPECT_EQ(h.lapics.deliveries(0, 0x77), 1u) << "the line was low when Remote IRR cleared";
  });
}

// An embedder timer whose deadline has already passed fires from Arm itself.
class FiresOnArm : public hw::OneShotTimer {
 public:
  void Arm(uint64_t) override {
    ++arms;
    io->OnStormTimer();
  }
  void Cancel() override {}
  ioapic::Ioapic* io = nullptr;
  int arms = 0;
};

TEST(IoapicCallbacks, StormTimerArmCanCallBackIn) {
  RunOrDieOnDeadlock([] {
    hw::fake::FakeLapics lapics(1);
    FiresOnArm timer;
    auto created = ioapic::Ioapic::Create(lapics, timer, {.storm_threshold = 2});
    ASSERT_TRUE(created.ok());
    std::unique_ptr<ioapic::Ioapic> io = std::move(*created);
    timer.io = io.get();
    lapics.set_eoi_listener([&](int v, uint8_t vec, bool level) { io->OnLapicEoi(v, vec, level); });
    const uint64_t rte = MakeRte({.vector = 0x67, .level = true}).raw();
    io->MmioWrite(hw::x86::kIoapicRegSel, 4, 0x10 + 2 * 8);
    io->MmioWrite(hw::x86::kIoapicWindow, 4, static_cast<uint32_t>(rte));
    ASSERT_TRUE(io->SetIrq(8, true).ok());  // held high by a broken device
    for (int i = 0; i < 2; ++i) {
      ASSERT_EQ(lapics.Acknowledge(0), 0x67);
      lapics.Eoi(0);  // the second EOI is deferred by the storm guard
    }
    EXPECT_EQ(timer.arms, 1);
    EXPECT_EQ(io->Stats(8).value().deferred_by_storm_guard, 1u);
    EXPECT_EQ(lapics.deliveries(0, 0x67), 3u) << "the timer's callback re-delivered";
  });
}

}  // namespace
}  // namespace irqvirt::testing
