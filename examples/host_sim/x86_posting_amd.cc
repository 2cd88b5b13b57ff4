// SPDX-License-Identifier: MIT
// The AMD side of PostingUnit: the fake AMD IOMMU under irqvirt's real driver (hw::amd::Iommu),
// wakeup queues in GAPPI mode, and PostedRouter. This is the setup an embedder does once.
#include <memory>
#include <vector>

#include "absl/strings/str_format.h"
#include "examples/host_sim/report.h"
#include "examples/host_sim/x86_layout.h"
#include "examples/host_sim/x86_posting.h"
#include "hw/amd/iommu.h"
#include "hw/amd/mmio.h"
#include "hw/fake/fake_amd_iommu.h"
#include "hw/x86/vapic_page.h"
#include "irqvirt/posted/posted_router.h"
#include "irqvirt/wakeup/wakeup_queues.h"

namespace host_sim {
namespace {

using irqvirt::posted::BlockOutcome;
using irqvirt::posted::RouteError;

class AmdPosting : public PostingUnit {
 public:
  using Router = irqvirt::posted::PostedRouter<X86Platform>;
  using Iommu = hw::amd::Iommu<X86Platform>;

  AmdPosting(X86Mode mode, bool rescan) : mode_(mode), rescan_(rescan) {}
  ~AmdPosting() override {
    // The embedder's teardown order: the router and queues unregister their vectors first.
    router_.reset();
    queues_.reset();
    iommu_.reset();
  }

  absl::Status Init(X86Platform& platform, hw::fake::InterruptSink& sink,
                    uint32_t max_vcpus) override {
    platform_ = &platform;
    hw_ = std::make_unique<hw::fake::FakeAmdIommu>(memory_, sink);
    hw::amd::IommuConfig config;
    config.ga_log_interrupt_apic_id = platform.apic_id(0);
    config.ga_log_interrupt_vector = x86::kGaLogVector;
    config.request_gappi = mode_ == X86Mode::kGappi;
    auto iommu = Iommu::Create(platform, *hw_, memory_, config);
    if (!iommu.ok()) return iommu.status();
    iommu_ = std::move(*iommu);
    if (iommu_->mode() == hw::amd::GuestIrMode::kGappi) {
      irqvirt::wakeup::WakeupConfig wc;
      wc.num_cpus = platform.num_cpus();
      wc.vectors_per_cpu = x86::kWakeupVectorsPerCpu;
      wc.first_vector = x86::kFirstWakeupVector;
      wc.max_vcpus = max_vcpus;
      auto q = Router::Queues::Create(platform, wc);
      if (!q.ok()) return q.status();
      queues_ = std::move(*q);
    }
    irqvirt::posted::RouterConfig rc;
    rc.max_vcpus = max_vcpus;
    rc.rescan_after_overflow = rescan_;
    auto router = Router::Create(platform, *iommu_, queues_.get(), rc);
    if (!router.ok()) return router.status();
    router_ = std::move(*router);
    return absl::OkStatus();
  }

  absl::StatusOr<hw::DmaBuffer> AddVcpu(int g, int vm, int index, int home) override {
    auto page = memory_.Allocate(hw::x86::kVapicPageSize, 4096);
    if (!page.ok()) return page.status();
    if (pages_.size() <= static_cast<size_t>(g)) pages_.resize(static_cast<size_t>(g) + 1);
    pages_[static_cast<size_t>(g)] = *page;
    irqvirt::posted::VcpuConfig vc;
    vc.vm_id = static_cast<uint32_t>(vm + 1);
    vc.vcpu_index = static_cast<uint32_t>(index);
    vc.vapic_page = static_cast<uint8_t*>(page->va);
    vc.vapic_page_pa = page->pa;
    vc.home_cpu = home;
    if (absl::Status s = router_->AddVcpu(static_cast<uint32_t>(g), vc); !s.ok()) return s;
    return *page;
  }
  absl::Status AttachDevice(uint16_t device_id) override {
    return iommu_->AttachDevice(device_id);
  }
  absl::Status Bind(uint16_t device_id, uint16_t index, int g, uint8_t vector) override {
    return router_->Bind({device_id, index}, static_cast<uint32_t>(g), vector);
  }

  RouteError Load(int g, int cpu) override { return router_->Load(static_cast<uint32_t>(g), cpu); }
  RouteError Put(int g) override { return router_->Put(static_cast<uint32_t>(g)); }
  BlockOutcome Block(int g, int cpu) override {
    return router_->Block(static_cast<uint32_t>(g), cpu);
  }

  absl::StatusOr<bool> MoveAwayFrom(int cpu, int fallback) override {
    if (router_->mode() != hw::amd::GuestIrMode::kGaLog ||
        iommu_->ga_log_interrupt_apic_id() != platform_->apic_id(cpu)) {
      return false;
    }
    if (absl::Status s = router_->RetargetGaLogInterrupt(fallback); !s.ok()) return s;
    return true;
  }
  absl::StatusOr<uint32_t> OfflineCpu(int cpu) override { return router_->OfflineCpu(cpu); }
  absl::Status OnlineCpu(int cpu) override { return router_->OnlineCpu(cpu); }

  Posted Fire(uint16_t device_id, uint16_t index, uint8_t vector) override {
    // Which pages already held the vector: the IOMMU posts into the page its IRTE names, which
    // the host learns only from the result.
    held_before_.assign(pages_.size(), false);
    for (size_t g = 0; g < pages_.size(); ++g) {
      held_before_[g] = Page(static_cast<int>(g)).Test(hw::x86::ApicVectorReg::kIrr, vector);
    }
    const hw::fake::Delivery d = hw_->DeviceInterrupt(device_id, index);
    Posted p;
    if (d.kind == hw::fake::DeliveryKind::kFault || d.kind == hw::fake::DeliveryKind::kRemapped) {
      p.fault = d.kind == hw::fake::DeliveryKind::kFault ? d.fault : "delivered remapped";
      return p;
    }
    p.vcpu = IndexOfBuffer(pages_, d.vapic_page_pa);
    if (p.vcpu < 0) {
      p.fault = absl::StrFormat("posted into an unknown page %#x", d.vapic_page_pa);
      return p;
    }
    p.held = held_before_[static_cast<size_t>(p.vcpu)] && d.vector == vector;
    switch (d.kind) {
      case hw::fake::DeliveryKind::kDoorbell:
        p.how = Posted::How::kDoorbell;
        p.cpu = platform_->CpuOfApicId(d.apic_id);
        break;
      case hw::fake::DeliveryKind::kGappi:
        p.how = Posted::How::kNotify;
        p.cpu = platform_->CpuOfApicId(d.apic_id);
        p.vector = d.vector;
        break;
      case hw::fake::DeliveryKind::kGaLog:
        p.how = Posted::How::kGaLog;
        break;
      case hw::fake::DeliveryKind::kGaLogDropped:
        p.how = Posted::How::kGaLogDropped;
        break;
      default:
        p.how = Posted::How::kQuiet;
        break;
    }
    return p;
  }
  bool PendingOutsidePage(int) override { return false; }
  void SyncPirToIrr(int) override {}
  bool PirHas(int, uint8_t) override { return false; }

  X86Mode mode() const override { return mode_; }
  uint8_t WakeupVector(int g) override {
    return queues_ != nullptr ? queues_->WakeupVector(static_cast<uint32_t>(g)) : 0;
  }
  int ParkedCpu(int g) override {
    return queues_ != nullptr ? queues_->ParkedCpu(static_cast<uint32_t>(g)) : -1;
  }
  uint8_t PostedVector() const override { return 0; }
  uint8_t GaLogVector() const override {
    return mode_ == X86Mode::kGaLog ? x86::kGaLogVector : 0;
  }
  uint32_t GaLogEntriesQueued() override {
    if (mode_ != X86Mode::kGaLog) return 0;
    // The log's head and tail registers, as the hardware holds them (byte offsets, 8 per entry).
    const uint32_t bytes = hw::amd::kGaLogBytes;
    const uint32_t head =
        hw::amd::GaLogPointer::FromRaw(hw_->Read64(hw::amd::mmio::kGaLogHead)).byte_offset() % bytes;
    const uint32_t tail =
        hw::amd::GaLogPointer::FromRaw(hw_->Read64(hw::amd::mmio::kGaLogTail)).byte_offset() % bytes;
    return ((tail + bytes - head) % bytes) / hw::amd::kGaLogEntryBytes;
  }
  uint64_t CommandsExecuted() override { return hw_->commands_executed(); }
  uint32_t QueueLength(int cpu, uint8_t vector) override {
    return queues_ != nullptr ? queues_->QueueLength(cpu, vector) : 0;
  }
  uint64_t RescanChecks() override { return router_->stats().overflow_rescan_checks; }
  absl::Status CheckInvariants() override {
    if (absl::Status s = router_->CheckInvariants(); !s.ok()) return s;
    if (queues_ != nullptr) return queues_->CheckInvariants();
    return absl::OkStatus();
  }
  std::vector<std::string> HardwareViolations() override { return {}; }

  void AddFigures(Report& report, const std::string& key, const std::string& name,
                  bool baseline) override {
    const irqvirt::posted::RouterStats rs = router_->stats();
    if (mode_ == X86Mode::kGaLog) {
      Section& g = report.AddSection(key + "_iommu", name + ": the GA log");
      g.metrics = {{"entries", double(hw_->ga_log_entries_written())},
                   {"drops", double(hw_->ga_log_entries_dropped())},
                   {"interrupts", double(hw_->ga_log_interrupts())},
                   {"overflows", double(rs.ga_log_overflows)},
                   {"rescans", double(rs.overflow_rescans)},
                   {"rescan_checks", double(rs.overflow_rescan_checks)},
                   {"rescan_wakes", double(rs.overflow_rescan_wakes)},
                   {"entry_wakes", double(rs.ga_log_wakes)}};
      if (!baseline) report.Mechanism("x86_galog_overflow_rescans", double(rs.overflow_rescans));
    } else {
      Section& g = report.AddSection(key + "_iommu", name + ": the IOMMU");
      g.metrics = {{"gappi_interrupts", double(hw_->gappi_interrupts())},
                   {"gappi_dis_deferred", double(rs.gappi_dis_deferred)}};
      if (!baseline) report.Mechanism("x86_gappi_interrupts", double(hw_->gappi_interrupts()));
    }
  }

 private:
  hw::x86::VapicPage Page(int g) const {
    return hw::x86::VapicPage(pages_[static_cast<size_t>(g)].va);
  }

  const X86Mode mode_;
  const bool rescan_;
  X86Platform* platform_ = nullptr;
  hw::fake::FakePhysicalMemory memory_;
  std::unique_ptr<hw::fake::FakeAmdIommu> hw_;
  std::unique_ptr<Iommu> iommu_;
  std::unique_ptr<Router::Queues> queues_;
  std::unique_ptr<Router> router_;
  std::vector<hw::DmaBuffer> pages_;
  std::vector<bool> held_before_;
};

}  // namespace

std::unique_ptr<PostingUnit> MakeAmdPosting(X86Mode mode, bool rescan_after_overflow) {
  return std::make_unique<AmdPosting>(mode, rescan_after_overflow);
}

}  // namespace host_sim
