// SPDX-License-Identifier: MIT
// hw::intel::VtdIommu (the driver) against hw::fake::FakeVtdIommu (the hardware below it).
#include "hw/intel/vtd_iommu.h"

#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "hw/fake/fake_physical_memory.h"
#include "hw/fake/fake_vtd_iommu.h"
#include "hw/fake/interrupt_sink.h"
#include "hw/fake/logical_platform.h"
#include "hw/intel/irte.h"
#include "hw/intel/pi_desc.h"

namespace hw::intel {
namespace {

using fake::FakeVtdFeatures;
using fake::VtdDeliveryKind;

constexpr uint16_t kRequester = 0x00a0;
constexpr uint8_t kNotificationVector = 0xf2;

class VtdTest : public ::testing::Test {
 protected:
  void Start(FakeVtdFeatures features = {}, VtdConfig config = {}) {
    iommu_.reset();  // the driver goes before the unit it drives
    fake_ = std::make_unique<fake::FakeVtdIommu>(memory_, sink_, features);
    config.poll_limit = 64;  // a fault-injected time-out costs microseconds
    auto iommu = VtdIommu<fake::LogicalPlatform>::Create(platform_, *fake_, memory_, config);
    ASSERT_TRUE(iommu.ok()) << iommu.status();
    iommu_ = std::move(*iommu);
  }
  IrteWords Remapped(uint8_t vector, int cpu) const {
    VtdIrteRemapped r;
    r.set_present(1).set_vector(vector).set_destination(
        iommu_->DestinationField(platform_.apic_id(cpu)));
    r.set_source_id(kRequester)
        .set_source_validation(static_cast<uint64_t>(VtdSourceValidation::kRequesterId));
    return {r.lo(), r.hi()};
  }
  IrteWords Posted(uint8_t guest_vector, uint64_t pid_pa, bool urgent = false) const {
    VtdIrtePosted p;
    p.set_present(1).set_irte_mode(1).set_virtual_vector(guest_vector).set_urgent(urgent);
    p.set_pi_desc_address(pid_pa).set_source_id(kRequester).set_source_validation(1);
    return {p.lo(), p.hi()};
  }
  // A vCPU's descriptor: notifications go to `cpu` with the posted vector, SN as given.
  PiDesc* NewPid(int cpu, bool sn, uint64_t* pa) {
    auto buffer = memory_.Allocate(sizeof(PiDesc), 64);
    EXPECT_TRUE(buffer.ok());
    *pa = buffer->pa;
    auto* pid = static_cast<PiDesc*>(buffer->va);
    pid->control = PiControl()
                       .set_nv(kNotificationVector)
                       .set_sn(sn)
                       .set_ndst(iommu_->DestinationField(platform_.apic_id(cpu)))
                       .raw();
    return pid;
  }
  fake::VtdDelivery Fire(uint32_t index, uint16_t source = kRequester) {
    return fake_->DeviceInterrupt(index, source);
  }
  VtdGlobalStatus status() const { return VtdGlobalStatus::FromRaw(fake_->global_status()); }

  fake::LogicalPlatform platform_{4};
  fake::FakePhysicalMemory memory_;
  fake::PlatformInterruptSink<fake::LogicalPlatform> sink_{platform_};
  std::unique_ptr<fake::FakeVtdIommu> fake_;
  std::unique_ptr<VtdIommu<fake::LogicalPlatform>> iommu_;
};

// VT-d §11.4.4.1 and Linux's bring-up: QIE, then SIRTP, then (without ESIRTPS) a global IEC
// flush, then IRE; one GCMD bit per write, each from GSTS's persistent bits.
TEST_F(VtdTest, BringUpInTheArchitecturalOrderOneBitPerWrite) {
  Start();
  const auto writes = fake_->command_writes();
  ASSERT_EQ(writes.size(), 3u);
  EXPECT_EQ(writes[0], VtdGlobalCommand().set_qie(1).raw());
  EXPECT_EQ(writes[1], VtdGlobalCommand().set_qie(1).set_sirtp(1).raw());
  EXPECT_EQ(writes[2], VtdGlobalCommand().set_qie(1).set_ire(1).raw());
  EXPECT_EQ(fake_->iec_invalidations(/*global=*/true), 1u);
  EXPECT_EQ(status().qies(), 1u);
  EXPECT_EQ(status().ires(), 1u);
  const auto irta = VtdIrtAddress::FromRaw(fake_->latched_irta());
  EXPECT_EQ(irta.eime(), 1u);
  EXPECT_EQ(irta.entries(), 256u);
  EXPECT_TRUE(iommu_->posting_supported());
  EXPECT_EQ(fake_->violations(), std::vector<std::string>{});
}

TEST_F(VtdTest, SirtpThatFlushesTheIecNeedsNoGlobalInvalidation) {
  FakeVtdFeatures f;
  f.esirtps = true;
  Start(f);
  EXPECT_EQ(fake_->iec_invalidations(/*global=*/true), 0u);
}

TEST_F(VtdTest, CompatibilityFormatInterruptsLeftOnAreBlocked) {
  FakeVtdFeatures f;
  f.cfi_left_on = true;
  Start(f);
  EXPECT_EQ(status().cfis(), 0u);
  EXPECT_EQ(fake_->violations(), std::vector<std::string>{});
}

TEST_F(VtdTest, MissingFeaturesAreRefusedWithTheReason) {
  FakeVtdFeatures no_ir;
  no_ir.interrupt_remapping = false;
  fake::FakeVtdIommu unit(memory_, sink_, no_ir);
  auto r = VtdIommu<fake::LogicalPlatform>::Create(platform_, unit, memory_, {});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("ECAP.IR"), std::string::npos) << r.status();

  FakeVtdFeatures no_eim;
  no_eim.eim = false;
  fake::FakeVtdIommu xapic_only(memory_, sink_, no_eim);
  r = VtdIommu<fake::LogicalPlatform>::Create(platform_, xapic_only, memory_, {});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("ECAP.EIM"), std::string::npos) << r.status();

  r = VtdIommu<fake::LogicalPlatform>::Create(platform_, xapic_only, memory_, {.irt_entries = 100});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(VtdTest, RemappedEntriesDeliverInX2apicAndXapicModes) {
  for (const bool x2apic : {true, false}) {
    SCOPED_TRACE(x2apic ? "x2APIC" : "xAPIC");
    Start({}, {.x2apic = x2apic});
    ASSERT_TRUE(iommu_->WriteIrte(7, Remapped(0x61, 3)).ok());
    const auto d = Fire(7);
    EXPECT_EQ(d.kind, VtdDeliveryKind::kRemapped) << d.fault;
    EXPECT_EQ(d.vector, 0x61);
    EXPECT_EQ(d.apic_id, platform_.apic_id(3));
    EXPECT_EQ(Fire(7, /*source=*/0x00a1).kind, VtdDeliveryKind::kFault) << "source id checked";
  }
}

// The IEC holds the whole entry: a write without the driver's flush keeps delivering the old
// vector (the fake is no kinder than the hardware); the driver flushes every write by index.
TEST_F(VtdTest, EveryWriteIsFlushedByIndexBecauseTheIecCachesEveryField) {
  Start();
  ASSERT_TRUE(iommu_->WriteIrte(5, Remapped(0x61, 1)).ok());
  ASSERT_EQ(Fire(5).vector, 0x61);  // cached now
  const uint64_t flushes = fake_->iec_invalidations(/*global=*/false);
  // Behind the driver's back: memory changes, the IEC does not.
  const uint64_t slot_pa =
      (VtdIrtAddress::FromRaw(fake_->latched_irta()).base_ppn() << 12) + 5 * sizeof(IrteWords);
  auto* slot = static_cast<IrteWords*>(memory_.Translate(slot_pa, sizeof(IrteWords)));
  ASSERT_NE(slot, nullptr);
  IrteWords expected = IrteLoad(slot);
  ASSERT_TRUE(IrteCompareExchange(slot, expected, Remapped(0x62, 1)));
  EXPECT_EQ(Fire(5).vector, 0x61) << "the unit used its cached entry";
  ASSERT_TRUE(iommu_->WriteIrte(5, Remapped(0x63, 2)).ok());
  EXPECT_EQ(fake_->iec_invalidations(/*global=*/false), flushes + 1);
  const auto d = Fire(5);
  EXPECT_EQ(d.vector, 0x63);
  EXPECT_EQ(d.apic_id, platform_.apic_id(2));
}

// VT-d §5.2.3: PIR set, ON 0 -> 1 sends NV to NDST; with ON already set, or SN set (and not
// urgent), the PIR bit is set and nothing is sent.
TEST_F(VtdTest, PostedEntriesFollowThePostingAlgorithm) {
  Start();
  uint64_t pa = 0;
  PiDesc* pid = NewPid(/*cpu=*/2, /*sn=*/false, &pa);
  ASSERT_TRUE(iommu_->WriteIrte(9, Posted(0x41, pa)).ok());
  const uint64_t before = platform_.delivered_interrupts();
  auto d = Fire(9);
  EXPECT_EQ(d.kind, VtdDeliveryKind::kPostedNotified) << d.fault;
  EXPECT_EQ(d.apic_id, platform_.apic_id(2));
  EXPECT_TRUE(pid->PirTest(0x41));
  EXPECT_EQ(pid->LoadControl().on(), 1u);
  EXPECT_EQ(platform_.delivered_interrupts(), before + 1);
  // ON already set: no second notification.
  EXPECT_EQ(Fire(9).kind, VtdDeliveryKind::kPostedQuiet);
  // Suppressed: PIR only.
  uint64_t pa2 = 0;
  PiDesc* quiet = NewPid(/*cpu=*/1, /*sn=*/true, &pa2);
  ASSERT_TRUE(iommu_->WriteIrte(10, Posted(0x42, pa2)).ok());
  EXPECT_EQ(Fire(10).kind, VtdDeliveryKind::kPostedQuiet);
  EXPECT_TRUE(quiet->PirTest(0x42));
  EXPECT_EQ(quiet->LoadControl().on(), 0u);
  // Urgent overrides SN.
  ASSERT_TRUE(iommu_->WriteIrte(10, Posted(0x42, pa2, /*urgent=*/true)).ok());
  EXPECT_EQ(Fire(10).kind, VtdDeliveryKind::kPostedNotified);
  EXPECT_EQ(quiet->LoadControl().on(), 1u);
}

TEST_F(VtdTest, PostedEntriesFaultWithoutCapPi) {
  FakeVtdFeatures f;
  f.posted_interrupts = false;
  Start(f);
  EXPECT_FALSE(iommu_->posting_supported());
  uint64_t pa = 0;
  NewPid(0, false, &pa);
  ASSERT_TRUE(iommu_->WriteIrte(3, Posted(0x41, pa)).ok());
  EXPECT_EQ(Fire(3).kind, VtdDeliveryKind::kFault);
}

// A wait whose store never comes: the write reports the time-out, memory holds the old entry,
// and although an interrupt during the wait cached the new one, the flush after the rollback
// leaves the unit using the old entry.
TEST_F(VtdTest, TimedOutInvalidationRollsBackAndFlushesAgain) {
  Start();
  ASSERT_TRUE(iommu_->WriteIrte(4, Remapped(0x61, 1)).ok());
  fake_->DropWaitStores(1);
  fake_->RefetchAfterNextInvalidation(4);
  const VtdWriteResult r = iommu_->WriteIrte(4, Remapped(0x71, 3));
  EXPECT_EQ(r.error, VtdError::kWaitTimeout);
  EXPECT_FALSE(r.cache_may_hold_new);
  EXPECT_EQ(iommu_->ReadIrte(4), Remapped(0x61, 1));
  const auto d = Fire(4);
  EXPECT_EQ(d.vector, 0x61);
  EXPECT_EQ(d.apic_id, platform_.apic_id(1));
}

TEST_F(VtdTest, FailedReflushSaysTheCacheMayHoldTheNewEntry) {
  Start();
  ASSERT_TRUE(iommu_->WriteIrte(4, Remapped(0x61, 1)).ok());
  fake_->DropWaitStores(2);
  const VtdWriteResult r = iommu_->WriteIrte(4, Remapped(0x71, 3));
  EXPECT_EQ(r.error, VtdError::kWaitTimeout);
  EXPECT_TRUE(r.cache_may_hold_new);
}

// IQE: the unit refuses a descriptor and stops; the driver reports it, clears IQE, and the
// queue runs again for the next write.
TEST_F(VtdTest, QueueErrorIsReportedClearedAndTheQueueRecovers) {
  Start();
  fake_->RefuseNextDescriptor();
  const VtdWriteResult r = iommu_->WriteIrte(6, Remapped(0x61, 1));
  EXPECT_EQ(r.error, VtdError::kQueueError) << VtdErrorName(r.error);
  EXPECT_EQ(iommu_->ReadIrte(6), IrteWords{});
  EXPECT_EQ(VtdFaultStatus::FromRaw(fake_->fault_status()).iqe(), 0u);
  ASSERT_TRUE(iommu_->WriteIrte(6, Remapped(0x62, 1)).ok());
  EXPECT_EQ(Fire(6).vector, 0x62);
}

TEST_F(VtdTest, InvalidationTimeOutErrorIsReportedAndCleared) {
  Start();
  fake_->TimeOutNextWait();
  const VtdWriteResult r = iommu_->WriteIrte(6, Remapped(0x61, 1));
  EXPECT_EQ(r.error, VtdError::kDeviceTlbTimeout);
  EXPECT_EQ(VtdFaultStatus::FromRaw(fake_->fault_status()).ite(), 0u);
  EXPECT_EQ(iommu_->ReadIrte(6), IrteWords{});
  ASSERT_TRUE(iommu_->WriteIrte(6, Remapped(0x62, 1)).ok());
}

TEST_F(VtdTest, BadIndexIsRefused) {
  Start();
  EXPECT_EQ(iommu_->WriteIrte(256, Remapped(0x61, 1)).error, VtdError::kBadEntry);
  EXPECT_EQ(Fire(256).kind, VtdDeliveryKind::kFault);
}

TEST_F(VtdTest, DestructionTurnsRemappingThenTheQueueOffAndReturnsTheMemory) {
  Start();
  const size_t buffers_before = memory_.live_buffers();
  iommu_.reset();
  EXPECT_EQ(status().ires(), 0u);
  EXPECT_EQ(status().qies(), 0u);
  const auto writes = fake_->command_writes();
  ASSERT_GE(writes.size(), 5u);
  EXPECT_EQ(writes[writes.size() - 2], VtdGlobalCommand().set_qie(1).raw());  // IRE off first
  EXPECT_EQ(writes.back(), 0u);
  EXPECT_EQ(memory_.live_buffers(), buffers_before - 3);
  EXPECT_EQ(fake_->violations(), std::vector<std::string>{});
}

}  // namespace
}  // namespace hw::intel
