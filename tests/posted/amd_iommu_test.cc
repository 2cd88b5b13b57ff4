// SPDX-License-Identifier: MIT
// hw::amd::Iommu (the driver) against hw::fake::FakeAmdIommu (the hardware below it).
#include "hw/amd/iommu.h"

#include <cstring>

#include "gtest/gtest.h"
#include "hw/amd/mmio.h"
#include "tests/posted/posted_harness.h"

namespace irqvirt::posted::testing {
namespace {

using hw::amd::CommandError;
using hw::amd::GuestIrMode;
using hw::amd::IommuControl;
using hw::amd::IommuStatus;
using hw::amd::IrteGaGuest;
using hw::amd::IrteGaRemapped;
using hw::amd::IrteWords;
using hw::fake::DeliveryKind;

constexpr uint16_t kDevice = 0x10;

IrteWords Words(const IrteGaGuest& g) { return {g.lo(), g.hi()}; }

class IommuTest : public ::testing::Test {
 protected:
  void Start(HarnessOptions options = {}) {
    stack_ = std::make_unique<LogicalStack>(options);
    ASSERT_TRUE(h().Init(stack_->platform).ok());
    ASSERT_TRUE(h().iommu().AttachDevice(kDevice).ok());
    ASSERT_TRUE(h().AddVcpus(1).ok());
  }
  PostedHarness<>& h() { return stack_->harness; }
  PostedRouter<hw::fake::LogicalPlatform>& router() { return h().router(); }
  IommuControl control() { return IommuControl::FromRaw(h().fake().control()); }
  IrteGaGuest GuestEntry(uint8_t vector, int cpu, bool is_run) {
    IrteGaGuest g;
    g.set_valid(1).set_guest_mode(1).set_vector(vector).set_is_run(is_run);
    g.set_destination(stack_->platform.apic_id(cpu));
    g.set_ga_root_ptr(h().page_pa(0) >> 12);
    return g;
  }
  std::unique_ptr<LogicalStack> stack_;
};

TEST_F(IommuTest, GaLogModeProgramsControlInSpecOrderAndRunsTheLog) {
  Start();
  EXPECT_EQ(h().iommu().mode(), GuestIrMode::kGaLog);
  EXPECT_FALSE(h().iommu().gappi_active());
  const IommuControl c = control();
  EXPECT_EQ(c.iommu_en(), 1u);
  EXPECT_EQ(c.ga_en(), 1u);
  EXPECT_EQ(c.gam_en(), hw::amd::kGamVirtualApic);
  EXPECT_EQ(c.ga_log_en(), 1u);
  EXPECT_EQ(c.ga_int_en(), 1u);
  EXPECT_EQ(c.cmd_buf_en(), 1u);
  EXPECT_EQ(c.xt_en(), 1u);
  EXPECT_EQ(c.int_cap_xt_en(), 1u);
  EXPECT_EQ(c.gappi_en(), 0u);
  EXPECT_EQ(IommuStatus::FromRaw(h().fake().status()).ga_log_run(), 1u);
  const auto xt = hw::amd::IntCapXt::FromRaw(h().fake().Read64(hw::amd::mmio::kGaLogIntCapXt));
  EXPECT_EQ(xt.vector(), kGaLogVector);
  EXPECT_EQ(xt.destination(), stack_->platform.apic_id(kGaLogCpu));
}

TEST_F(IommuTest, GappiModeSetsGappiEnAndLeavesTheGaLogOff) {
  Start(GappiOptions());
  EXPECT_EQ(h().iommu().mode(), GuestIrMode::kGappi);
  EXPECT_TRUE(h().iommu().gappi_active());
  EXPECT_TRUE(h().iommu().gappi_dis_supported());
  EXPECT_EQ(control().gappi_en(), 1u);
  EXPECT_EQ(control().ga_log_en(), 0u);
  EXPECT_EQ(control().ga_int_en(), 0u);
  EXPECT_EQ(h().iommu().mode_note(), "");
}

// Review finding: GAPPI requested without the feature must fall back with a clear note, and the
// "GAPPI active" state must be false on that early-return path.
TEST_F(IommuTest, GappiWithoutTheFeatureFallsBackToTheGaLog) {
  HarnessOptions o = GappiOptions();
  o.features.gappi_sup = false;
  Start(o);
  EXPECT_EQ(h().iommu().mode(), GuestIrMode::kGaLog);
  EXPECT_FALSE(h().iommu().gappi_active());
  EXPECT_NE(h().iommu().mode_note().find("GAPPISup"), std::string::npos);
  EXPECT_EQ(control().ga_log_en(), 1u);
  EXPECT_EQ(control().gappi_en(), 0u);
}

TEST_F(IommuTest, GappiEnThatDoesNotStickFallsBackAndIsNotActive) {
  HarnessOptions o = GappiOptions();
  o.refuse_control_bits = IommuControl().set_gappi_en(1).raw();
  Start(o);
  EXPECT_EQ(h().iommu().mode(), GuestIrMode::kGaLog);
  EXPECT_FALSE(h().iommu().gappi_active());
  EXPECT_FALSE(h().iommu().gappi_dis_supported());
  EXPECT_NE(h().iommu().mode_note().find("did not stick"), std::string::npos);
  EXPECT_EQ(control().ga_log_en(), 1u);
}

TEST(IommuCreateTest, WithoutVapicGuestModeThereIsNoPostingAndTheRouterSaysWhy) {
  HarnessOptions o;
  o.features.gam_sup = 0;
  LogicalStack s(o);
  const absl::Status st = s.harness.Init(s.platform);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(st.message().find("GAMSup"), std::string::npos) << st;
}

// GAMSup (EFR 23:21): vAPIC guest mode is bit 21, whatever the other two bits say.
TEST(IommuCreateTest, GamSupIsReadAsItsVapicBit) {
  for (uint64_t gam_sup = 0; gam_sup < 8; ++gam_sup) {
    HarnessOptions o;
    o.features.gam_sup = gam_sup;
    LogicalStack s(o);
    const absl::Status st = s.harness.Init(s.platform);
    if (gam_sup & 1) {
      EXPECT_TRUE(st.ok()) << "GAMSup " << gam_sup << ": " << st;
      EXPECT_EQ(s.harness.iommu().mode(), GuestIrMode::kGaLog) << "GAMSup " << gam_sup;
    } else {
      EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << "GAMSup " << gam_sup;
    }
  }
}

TEST(IommuCreateTest, WithoutGaSupCreateFails) {
  HarnessOptions o;
  o.features.ga_sup = false;
  LogicalStack s(o);
  const absl::Status st = s.harness.Init(s.platform);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(st.message().find("GASup"), std::string::npos) << st;
}

TEST_F(IommuTest, DestructionDisablesTheIommuAndFreesItsMemory) {
  Start(GappiOptions());
  const size_t before = h().memory().live_buffers();
  EXPECT_GT(before, 1u);
  stack_.reset();  // destroys router, queues, driver, fake, memory in order; asan checks the rest
}

// The driver's destructor turns the IOMMU's guest features and command buffer off and frees
// every buffer it allocated (only the harness's vAPIC page is left).
TEST_F(IommuTest, DestroyingTheDriverDisablesTheIommuAndReturnsItsMemory) {
  Start(GappiOptions());
  ASSERT_EQ(control().gappi_en(), 1u);
  const size_t harness_pages = 1;
  ASSERT_GT(h().memory().live_buffers(), harness_pages);
  h().DestroyDriver();
  const IommuControl c = control();
  EXPECT_EQ(c.gappi_en(), 0u);
  EXPECT_EQ(c.ga_log_en(), 0u);
  EXPECT_EQ(c.ga_int_en(), 0u);
  EXPECT_EQ(c.gam_en(), 0u);
  EXPECT_EQ(c.cmd_buf_en(), 0u);
  EXPECT_EQ(h().memory().live_buffers(), harness_pages) << "driver buffers left allocated";
}

// The router's destructor unregisters its GA log handler: a GA log interrupt that arrives after
// the router is gone is spurious, not a call into freed memory.
TEST_F(IommuTest, DestroyingTheRouterUnregistersTheGaLogHandler) {
  Start();
  ASSERT_EQ(h().iommu().mode(), GuestIrMode::kGaLog);
  ASSERT_TRUE(stack_->platform.handler_registered(kGaLogVector));
  h().DestroyRouter();
  EXPECT_FALSE(stack_->platform.handler_registered(kGaLogVector));
  const uint64_t spurious = stack_->platform.spurious_interrupts();
  stack_->platform.RaiseInterrupt(kGaLogCpu, kGaLogVector);
  EXPECT_EQ(stack_->platform.spurious_interrupts(), spurious + 1);
}

// Issue 14, story 8: the IOMMU may keep a copy of a device table entry (the fake does, whatever
// it says). A device that interrupted before it was attached had its empty DTE cached; attaching
// flushes it (INVALIDATE_DEVTAB_ENTRY), so the new table is used at once.
TEST_F(IommuTest, AttachFlushesACachedDeviceTableEntry) {
  Start();
  const uint16_t late = kDevice + 1;
  EXPECT_EQ(h().Fire({late, 0}).kind, DeliveryKind::kFault);  // reads and caches the empty DTE
  const uint64_t flushes = h().fake().dte_invalidations();
  ASSERT_TRUE(h().iommu().AttachDevice(late).ok());
  EXPECT_EQ(h().fake().dte_invalidations(), flushes + 1);
  ASSERT_TRUE(h().router().Remap({late, 0}, 0x55, stack_->platform.apic_id(1)).ok());
  const hw::fake::Delivery d = h().Fire({late, 0});
  EXPECT_EQ(d.kind, DeliveryKind::kRemapped) << d.fault;
  EXPECT_EQ(d.vector, 0x55);
}

TEST_F(IommuTest, UncachedFieldChangesNeedNoInvalidation) {
  Start();
  const uint64_t base = h().fake().irt_invalidations();
  IrteGaGuest g = GuestEntry(0x41, 1, true);
  ASSERT_TRUE(h().iommu().WriteIrte(kDevice, 7, Words(g)).invalidated);  // remapped -> guest
  const uint64_t after_activate = h().fake().irt_invalidations();
  EXPECT_EQ(after_activate, base + 1);
  // Destination, IsRun, GATag, GALogIntr: no command.
  g.set_destination(stack_->platform.apic_id(3)).set_is_run(0).set_ga_tag(0x1234).set_ga_log_intr(1);
  const auto r = h().iommu().WriteIrte(kDevice, 7, Words(g));
  EXPECT_TRUE(r.ok());
  EXPECT_FALSE(r.invalidated);
  EXPECT_EQ(h().fake().irt_invalidations(), after_activate);
  // Vector: cached, so a command.
  g.set_vector(0x42);
  EXPECT_TRUE(h().iommu().WriteIrte(kDevice, 7, Words(g)).invalidated);
  // GAPPIDis: treated as cached (the RFC's "not cached" is not in any released spec).
  g.set_gappi_dis(1);
  EXPECT_TRUE(h().iommu().WriteIrte(kDevice, 7, Words(g)).invalidated);
  EXPECT_EQ(h().fake().irt_invalidations(), after_activate + 2);
}

TEST_F(IommuTest, TheFakeCachesIrtesSoAMissingInvalidationDeliversStaleVectors) {
  Start();
  IrteGaGuest g = GuestEntry(0x41, 1, true);
  ASSERT_TRUE(h().iommu().WriteIrte(kDevice, 7, Words(g)).ok());
  EXPECT_EQ(h().Fire({kDevice, 7}).vector, 0x41);  // now cached
  // A buggy driver changes the vector in memory without INVALIDATE_INTERRUPT_TABLE.
  IrteWords mem = h().iommu().ReadIrte(kDevice, 7);
  IrteWords changed = Words(IrteGaGuest::FromHalves(mem.lo, mem.hi).set_vector(0x42));
  // Write through the driver's own slot but skip its invalidation: CAS the raw memory.
  IrteWords* raw = nullptr;
  {
    const auto dte_base = hw::amd::DeviceTableBase::FromRaw(
        h().fake().Read64(hw::amd::mmio::kDeviceTableBase));
    auto* dte = static_cast<uint64_t*>(h().memory().Translate(
        (dte_base.base_ppn() << 12) + kDevice * 32 + 16, 8));
    const auto irq = hw::amd::DteInterrupt::FromRaw(*dte);
    raw = static_cast<IrteWords*>(h().memory().Translate(irq.table_address() + 7 * 16, 16));
  }
  ASSERT_NE(raw, nullptr);
  ASSERT_TRUE(hw::amd::IrteCompareExchange(raw, mem, changed));
  EXPECT_EQ(h().Fire({kDevice, 7}).vector, 0x41) << "cached field served from the cache";
  // The uncached destination is read fresh even without an invalidation.
  IrteWords now = h().iommu().ReadIrte(kDevice, 7);
  IrteWords moved = Words(IrteGaGuest::FromHalves(now.lo, now.hi).set_destination(stack_->platform.apic_id(2)));
  ASSERT_TRUE(hw::amd::IrteCompareExchange(raw, now, moved));
  EXPECT_EQ(h().Fire({kDevice, 7}).apic_id, stack_->platform.apic_id(2));
  ASSERT_EQ(h().iommu().InvalidateInterruptTable(kDevice), CommandError::kNone);
  EXPECT_EQ(h().Fire({kDevice, 7}).vector, 0x42);
}

// Review finding: GAPPIDis changed without an invalidation. The fake caches it, so the old value
// keeps acting; the driver's WriteIrte invalidates and the new value takes effect.
TEST_F(IommuTest, GappiDisChangeTakesEffectOnlyWithTheInvalidation) {
  Start(GappiOptions());
  IrteGaGuest g = GuestEntry(0x41, 2, false);
  g.set_ga_tag(kFirstWakeupVector).set_gappi_dis(1);
  ASSERT_TRUE(h().iommu().WriteIrte(kDevice, 9, Words(g)).ok());
  EXPECT_EQ(h().Fire({kDevice, 9}).kind, DeliveryKind::kIrrOnly);  // GAPPIDis = 1, cached
  h().DrainIrr(0);
  g.set_gappi_dis(0);
  const auto r = h().iommu().WriteIrte(kDevice, 9, Words(g));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.invalidated);
  const auto d = h().Fire({kDevice, 9});
  EXPECT_EQ(d.kind, DeliveryKind::kGappi);
  EXPECT_EQ(d.vector, kFirstWakeupVector);
  EXPECT_EQ(d.apic_id, stack_->platform.apic_id(2));
}

TEST_F(IommuTest, IrtCacheDisabledMeansNoInvalidationsAndFreshReads) {
  HarnessOptions o;
  o.features.irt_cache_dis = true;
  Start(o);
  ASSERT_TRUE(h().iommu().irt_cache_disabled());
  const uint64_t base = h().fake().irt_invalidations();
  IrteGaGuest g = GuestEntry(0x41, 1, true);
  EXPECT_FALSE(h().iommu().WriteIrte(kDevice, 3, Words(g)).invalidated);
  EXPECT_EQ(h().Fire({kDevice, 3}).vector, 0x41);
  g.set_vector(0x42);
  EXPECT_FALSE(h().iommu().WriteIrte(kDevice, 3, Words(g)).invalidated);
  EXPECT_EQ(h().Fire({kDevice, 3}).vector, 0x42);
  EXPECT_EQ(h().fake().irt_invalidations(), base);
  EXPECT_EQ(h().fake().cached_irtes(), 0u);
}

TEST_F(IommuTest, CompletionThatNeverComesTimesOutAndRestoresTheEntry) {
  Start();
  IrteGaGuest g = GuestEntry(0x41, 1, true);
  ASSERT_TRUE(h().iommu().WriteIrte(kDevice, 5, Words(g)).ok());
  const IrteWords before = h().iommu().ReadIrte(kDevice, 5);
  h().fake().DropCompletionStores(1);
  const auto r = h().iommu().WriteIrte(kDevice, 5, Words(IrteGaGuest(g).set_vector(0x50)));
  EXPECT_EQ(r.error, CommandError::kCompletionTimeout);
  EXPECT_EQ(h().iommu().ReadIrte(kDevice, 5), before);
  // The IOMMU recovers: the next write completes.
  EXPECT_TRUE(h().iommu().WriteIrte(kDevice, 5, Words(IrteGaGuest(g).set_vector(0x50))).ok());
  EXPECT_EQ(h().Fire({kDevice, 5}).vector, 0x50);
}

TEST_F(IommuTest, StalledCommandProcessorTimesOutThenCatchesUp) {
  Start();
  IrteGaGuest g = GuestEntry(0x41, 1, true);
  ASSERT_TRUE(h().iommu().WriteIrte(kDevice, 5, Words(g)).ok());
  h().fake().StallCommands(true);
  const auto r = h().iommu().WriteIrte(kDevice, 5, Words(IrteGaGuest(g).set_vector(0x50)));
  EXPECT_EQ(r.error, CommandError::kCompletionTimeout);
  EXPECT_EQ(h().Irte({kDevice, 5}).vector(), 0x41u);
  // Fill the buffer while stalled: the driver reports a full buffer instead of overwriting.
  CommandError e = CommandError::kNone;
  for (int i = 0; i < 300 && e != CommandError::kBufferFull; ++i) {
    e = h().iommu().InvalidateInterruptTable(kDevice);
  }
  EXPECT_EQ(e, CommandError::kBufferFull);
  h().fake().StallCommands(false);
  EXPECT_EQ(h().iommu().InvalidateInterruptTable(kDevice), CommandError::kNone);
  EXPECT_TRUE(h().iommu().WriteIrte(kDevice, 5, Words(IrteGaGuest(g).set_vector(0x50))).ok());
}

TEST_F(IommuTest, BadEntriesAreRefused) {
  Start();
  EXPECT_EQ(h().iommu().WriteIrte(kDevice, 512, {}).error, CommandError::kBadEntry);
  EXPECT_EQ(h().iommu().WriteIrte(0x11, 0, {}).error, CommandError::kBadEntry);
  EXPECT_EQ(h().iommu().AttachDevice(kDevice).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(h().iommu().AttachDevice(300).code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(h().Fire({0x11, 0}).kind, DeliveryKind::kFault);  // no DTE
  EXPECT_EQ(h().Fire({kDevice, 100}).kind, DeliveryKind::kFault);  // IRTE not valid
}

// 2K interrupt remapping tables (EFR2.NumIntRemapSup = 1): the driver sets
// Control.NumIntRemapMode = 2K, gives each device 2048 IRTEs and says so in the DTE (IntTabLen
// 11); entry 2047 posts, 2048 does not exist.
TEST_F(IommuTest, TwoKEntryTablesWhenTheIommuSupportsThem) {
  HarnessOptions o;
  o.features.int_remap_2k = true;
  Start(o);
  EXPECT_EQ(control().num_int_remap_mode(), hw::amd::kNumIntRemap2K);
  EXPECT_EQ(h().iommu().irt_entries(), 2048u);
  ASSERT_TRUE(router().Bind({kDevice, 2047}, 0, 0x41).ok());
  ASSERT_TRUE(router().Load(0, 1).ok());
  EXPECT_EQ(h().Fire({kDevice, 2047}).kind, DeliveryKind::kDoorbell);
  EXPECT_TRUE(h().IrrSet(0, 0x41));
  EXPECT_EQ(router().Bind({kDevice, 2048}, 0, 0x41).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(h().iommu().WriteIrte(kDevice, 2048, {}).error, CommandError::kBadEntry);
}

TEST_F(IommuTest, FiveTwelveEntryTablesWithoutTheFeatureOrWhenCapped) {
  for (const bool supported : {false, true}) {
    SCOPED_TRACE(supported ? "2K supported, capped at 512" : "2K not supported");
    HarnessOptions o;
    o.features.int_remap_2k = supported;
    o.max_irt_entries = supported ? 512 : 2048;
    Start(o);
    EXPECT_EQ(control().num_int_remap_mode(), 0u);
    EXPECT_EQ(h().iommu().irt_entries(), 512u);
    ASSERT_TRUE(router().Bind({kDevice, 511}, 0, 0x41).ok());
    EXPECT_EQ(router().Bind({kDevice, 512}, 0, 0x41).code(), absl::StatusCode::kNotFound);
  }
}

TEST(IommuCreateTest, TableSizesOtherThan512Or2048AreRefused) {
  hw::fake::LogicalPlatform platform(2);
  HarnessOptions o;
  o.max_irt_entries = 1024;
  PostedHarness<> h(o);
  const absl::Status s = h.Init(platform);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("512 or 2048"), std::string::npos) << s;
}

// The fake is no kinder than the hardware: IntTabLen 11 without 2K mode is no table at all.
TEST_F(IommuTest, FakeRefusesA2KTableLengthWithout2KMode) {
  HarnessOptions o;
  o.features.int_remap_2k = true;
  Start(o);
  IrteGaRemapped r;
  r.set_valid(1).set_vector(0x61).set_destination(stack_->platform.apic_id(1));
  ASSERT_TRUE(h().iommu().WriteIrte(kDevice, 3, {r.lo(), r.hi()}).ok());
  ASSERT_EQ(h().Fire({kDevice, 3}).kind, DeliveryKind::kRemapped);
  h().fake().Write64(hw::amd::mmio::kControl,
                     IommuControl(control()).set_num_int_remap_mode(0).raw());
  const auto d = h().Fire({kDevice, 3});
  EXPECT_EQ(d.kind, DeliveryKind::kFault);
  EXPECT_NE(d.fault.find("IntTabLen 11"), std::string::npos) << d.fault;
}

TEST_F(IommuTest, RemappedEntryDeliversTheHostVectorToTheDestination) {
  Start();
  IrteGaRemapped r;
  r.set_valid(1).set_vector(0x61).set_destination(stack_->platform.apic_id(3));
  ASSERT_TRUE(h().iommu().WriteIrte(kDevice, 4, {r.lo(), r.hi()}).ok());
  const auto d = h().Fire({kDevice, 4});
  EXPECT_EQ(d.kind, DeliveryKind::kRemapped);
  EXPECT_EQ(d.vector, 0x61);
  EXPECT_EQ(d.apic_id, stack_->platform.apic_id(3));
  EXPECT_EQ(stack_->platform.spurious_interrupts(), 1u);  // nobody registered 0x61: it arrived
}

// GA log interrupt path: head written back, status W1C, overflow restarts the log.
TEST_F(IommuTest, GaLogHandlerDrainsWritesHeadBackAndRestartsAfterOverflow) {
  Start();
  IrteGaGuest g = GuestEntry(0x41, 1, false);
  g.set_ga_log_intr(1).set_ga_tag(0xabcd);
  ASSERT_TRUE(h().iommu().WriteIrte(kDevice, 6, Words(g)).ok());
  // Entries pile up while the GA log CPU has interrupts off; this test services the log itself.
  stack_->platform.SetIrqsDisabled(kGaLogCpu, true);
  for (int i = 0; i < 600; ++i) h().Fire({kDevice, 6});
  EXPECT_EQ(h().fake().ga_log_entries_written(), 511u);  // one slot stays empty: full ring
  EXPECT_EQ(h().fake().ga_log_entries_dropped(), 89u);
  auto status = IommuStatus::FromRaw(h().fake().status());
  EXPECT_EQ(status.ga_log_overflow(), 1u);
  EXPECT_EQ(status.ga_log_run(), 0u);
  uint32_t tags = 0;
  const auto drain = h().iommu().HandleGaLogInterrupt([&](uint32_t tag) {
    EXPECT_EQ(tag, 0xabcdu);
    ++tags;
  });
  EXPECT_EQ(tags, 511u);
  EXPECT_TRUE(drain.overflow);
  EXPECT_TRUE(drain.restarted);
  status = IommuStatus::FromRaw(h().fake().status());
  EXPECT_EQ(status.ga_log_overflow(), 0u);
  EXPECT_EQ(status.ga_int(), 0u);
  EXPECT_EQ(status.ga_log_run(), 1u);
  EXPECT_EQ(h().fake().Read64(hw::amd::mmio::kGaLogHead), h().fake().Read64(hw::amd::mmio::kGaLogTail));
  // Logging works again after the restart.
  EXPECT_EQ(h().Fire({kDevice, 6}).kind, DeliveryKind::kGaLog);
}

// Review finding: the overflow path must never turn the GA log back on when GAPPI is the mode.
TEST_F(IommuTest, OverflowUnderGappiNeverReenablesTheGaLog) {
  Start(GappiOptions());
  h().fake().RaiseStatusBits(IommuStatus().set_ga_log_overflow(1).set_ga_int(1).raw());
  const auto drain = h().iommu().HandleGaLogInterrupt([](uint32_t) { FAIL() << "no log to drain"; });
  EXPECT_TRUE(drain.overflow);
  EXPECT_FALSE(drain.restarted);
  EXPECT_EQ(control().ga_log_en(), 0u);
  EXPECT_EQ(control().ga_int_en(), 0u);
  EXPECT_EQ(control().gappi_en(), 1u);
  EXPECT_EQ(IommuStatus::FromRaw(h().fake().status()).ga_log_overflow(), 0u);
}

}  // namespace
}  // namespace irqvirt::posted::testing
