// SPDX-License-Identifier: MIT
// A whole AMD posted-interrupt stack on fakes, for tests and benchmarks: a deterministic logical
// platform, fake physical memory, the fake IOMMU below the real driver (hw::amd::Iommu), the
// wakeup queues (GAPPI mode) and the router. vCPU v's backing page lives in fake memory, so the
// fake IOMMU writes its IRR exactly where the driver's IRTE points.
#ifndef IRQVIRT_TESTS_POSTED_POSTED_HARNESS_H_
#define IRQVIRT_TESTS_POSTED_POSTED_HARNESS_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "hw/amd/iommu.h"
#include "hw/fake/fake_amd_iommu.h"
#include "hw/fake/fake_physical_memory.h"
#include "hw/fake/interrupt_sink.h"
#include "hw/fake/logical_platform.h"
#include "hw/x86/vapic_page.h"
#include "irqvirt/posted/posted_router.h"
#include "irqvirt/wakeup/wakeup_queues.h"

namespace irqvirt::posted::testing {

inline constexpr uint8_t kGaLogVector = 0xe0;
inline constexpr uint8_t kFirstWakeupVector = 0xf1;
inline constexpr int kGaLogCpu = 0;

struct HarnessOptions {
  int num_cpus = 4;
  uint32_t max_vcpus = 16;
  bool gappi = false;
  int vectors_per_cpu = 1;
  hw::fake::FakeAmdIommuFeatures features;
  uint32_t poll_limit = 64;  // small: a fault-injected timeout costs microseconds in tests
  uint64_t refuse_control_bits = 0;
  bool rescan_after_overflow = true;
  uint32_t max_irt_entries = hw::amd::kIrtEntries2K;
};

inline HarnessOptions GappiOptions() {
  HarnessOptions o;
  o.gappi = true;
  return o;
}

template <typename Platform = hw::fake::LogicalPlatform>
class PostedHarness {
 public:
  using Iommu = hw::amd::Iommu<Platform>;
  using Router = PostedRouter<Platform>;
  using Queues = typename Router::Queues;

  explicit PostedHarness(const HarnessOptions& options = {}) : options_(options) {}

  // Platform is created by the caller for ThreadedPlatform (it needs a wake callback).
  absl::Status Init(Platform& platform) {
    platform_ = &platform;
    sink_ = std::make_unique<hw::fake::PlatformInterruptSink<Platform>>(platform);
    iommu_fake_ = std::make_unique<hw::fake::FakeAmdIommu>(memory_, *sink_, options_.features);
    iommu_fake_->RefuseControlBits(options_.refuse_control_bits);
    hw::amd::IommuConfig config;
    config.ga_log_interrupt_apic_id = platform.apic_id(kGaLogCpu);
    config.ga_log_interrupt_vector = kGaLogVector;
    config.request_gappi = options_.gappi;
    config.poll_limit = options_.poll_limit;
    config.max_irt_entries = options_.max_irt_entries;
    auto iommu = Iommu::Create(platform, *iommu_fake_, memory_, config);
    if (!iommu.ok()) return iommu.status();
    iommu_ = std::move(*iommu);
    if (iommu_->mode() == hw::amd::GuestIrMode::kGappi) {
      wakeup::WakeupConfig wc;
      wc.num_cpus = options_.num_cpus;
      wc.vectors_per_cpu = options_.vectors_per_cpu;
      wc.first_vector = kFirstWakeupVector;
      wc.max_vcpus = options_.max_vcpus;
      auto q = Queues::Create(platform, wc);
      if (!q.ok()) return q.status();
      queues_ = std::move(*q);
    }
    auto router = Router::Create(platform, *iommu_, queues_.get(), RouterConfig{options_.max_vcpus, options_.rescan_after_overflow});
    if (!router.ok()) return router.status();
    router_ = std::move(*router);
    return absl::OkStatus();
  }

  // Adds vCPUs 0..n-1 of VM `vm_id` with fresh backing pages.
  absl::Status AddVcpus(uint32_t n, uint32_t vm_id = 1) {
    for (uint32_t v = 0; v < n; ++v) {
      absl::Status s = AddVcpu(v, vm_id, v);
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }
  absl::Status AddVcpu(VcpuId id, uint32_t vm_id, uint32_t index, int home_cpu = 0) {
    auto page = memory_.Allocate(hw::x86::kVapicPageSize, 4096);
    if (!page.ok()) return page.status();
    if (pages_.size() <= id) pages_.resize(id + 1);
    pages_[id] = *page;
    return router_->AddVcpu(id, VcpuConfig{vm_id, index, static_cast<uint8_t*>(page->va),
                                           page->pa, home_cpu});
  }

  hw::x86::VapicPage page(VcpuId v) const { return hw::x86::VapicPage(pages_[v].va); }
  uint64_t page_pa(VcpuId v) const { return pages_[v].pa; }
  bool IrrSet(VcpuId v, uint8_t vector) const {
    return page(v).Test(hw::x86::ApicVectorReg::kIrr, vector);
  }
  bool AnyIrr(VcpuId v) const { return page(v).Any(hw::x86::ApicVectorReg::kIrr); }
  // The guest acknowledges everything pending (what running the vCPU does to its IRR).
  void DrainIrr(VcpuId v) const {
    for (int n = 0; n < 8; ++n) page(v).StoreWord(hw::x86::ApicVectorReg::kIrr, n, 0);
  }
  hw::amd::IrteGaGuest Irte(IrteRef irte) const {
    const hw::amd::IrteWords w = iommu_->ReadIrte(irte.device_id, irte.index);
    return hw::amd::IrteGaGuest::FromHalves(w.lo, w.hi);
  }
  hw::fake::Delivery Fire(IrteRef irte) { return iommu_fake_->DeviceInterrupt(irte.device_id, irte.index); }

  Platform& platform() { return *platform_; }
  hw::fake::FakePhysicalMemory& memory() { return memory_; }
  hw::fake::PlatformInterruptSink<Platform>& sink() { return *sink_; }
  hw::fake::FakeAmdIommu& fake() { return *iommu_fake_; }
  Iommu& iommu() { return *iommu_; }
  Queues* queues() { return queues_.get(); }
  Router& router() { return *router_; }
  // Tears down what an embedder owns, in its order, leaving the fake IOMMU and memory to inspect.
  void DestroyRouter() { router_.reset(); }
  void DestroyDriver() {
    router_.reset();
    queues_.reset();
    iommu_.reset();
  }

 private:
  HarnessOptions options_;
  Platform* platform_ = nullptr;
  hw::fake::FakePhysicalMemory memory_;
  std::unique_ptr<hw::fake::PlatformInterruptSink<Platform>> sink_;
  std::unique_ptr<hw::fake::FakeAmdIommu> iommu_fake_;
  std::unique_ptr<Iommu> iommu_;
  std::unique_ptr<Queues> queues_;
  std::unique_ptr<Router> router_;
  std::vector<hw::DmaBuffer> pages_;
};

// The usual deterministic setup: a LogicalPlatform owned next to the harness.
struct LogicalStack {
  explicit LogicalStack(const HarnessOptions& options = {})
      : platform(options.num_cpus, options.max_vcpus), harness(options) {}
  hw::fake::LogicalPlatform platform;
  PostedHarness<> harness;
};

}  // namespace irqvirt::posted::testing

#endif  // IRQVIRT_TESTS_POSTED_POSTED_HARNESS_H_
