// SPDX-License-Identifier: MIT
// A whole Intel VT-d posted-interrupt stack on fakes, for tests and benchmarks: a platform, fake
// physical memory, the fake remapping unit below the real driver (hw::intel::VtdIommu), the wakeup
// queues over PI descriptors and the VT-d router. vCPU v's PI descriptor lives in fake memory, so
// the fake unit posts exactly where the driver's IRTE points.
//
// The posted vector's host handler counts notifications per CPU: on hardware a notification that
// reaches a CPU in guest mode is consumed by the CPU; here every notification lands on it.
#ifndef IRQVIRT_TESTS_POSTED_VTD_HARNESS_H_
#define IRQVIRT_TESTS_POSTED_VTD_HARNESS_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "hw/fake/fake_physical_memory.h"
#include "hw/fake/fake_vtd_iommu.h"
#include "hw/fake/interrupt_sink.h"
#include "hw/fake/logical_platform.h"
#include "hw/intel/pi_desc.h"
#include "hw/intel/vtd_iommu.h"
#include "irqvirt/posted/vtd_posted_router.h"
#include "irqvirt/wakeup/wakeup_queues.h"

namespace irqvirt::posted::testing {

inline constexpr uint8_t kVtdPostedVector = 0xf2;       // Linux's POSTED_INTR_VECTOR
inline constexpr uint8_t kVtdFirstWakeupVector = 0xe1;  // below 0xf2 even with 16 buckets

struct VtdHarnessOptions {
  int num_cpus = 4;
  uint32_t max_vcpus = 16;
  int vectors_per_cpu = 1;
  bool self_ipi_when_pending_at_block = false;  // KVM's block path instead of backing out
  hw::fake::FakeVtdFeatures features;
  bool x2apic = true;
  uint32_t poll_limit = 64;  // small: a fault-injected time-out costs microseconds in tests
};

template <typename Platform = hw::fake::LogicalPlatform>
class VtdHarness {
 public:
  using Iommu = hw::intel::VtdIommu<Platform>;
  using Router = VtdPostedRouter<Platform>;
  using Queues = typename Router::Queues;

  explicit VtdHarness(const VtdHarnessOptions& options = {}) : options_(options) {}
  ~VtdHarness() {
    if (platform_ != nullptr) platform_->UnregisterVectorHandler(kVtdPostedVector);
  }

  absl::Status Init(Platform& platform) {
    platform_ = &platform;
    notifications_.reset(new std::atomic<uint64_t>[platform.num_cpus()]());
    sink_ = std::make_unique<hw::fake::PlatformInterruptSink<Platform>>(platform);
    fake_ = std::make_unique<hw::fake::FakeVtdIommu>(memory_, *sink_, options_.features);
    hw::intel::VtdConfig config;
    config.x2apic = options_.x2apic;
    config.poll_limit = options_.poll_limit;
    auto iommu = Iommu::Create(platform, *fake_, memory_, config);
    if (!iommu.ok()) return iommu.status();
    iommu_ = std::move(*iommu);
    wakeup::WakeupConfig wc;
    wc.num_cpus = options_.num_cpus;
    wc.vectors_per_cpu = options_.vectors_per_cpu;
    wc.first_vector = kVtdFirstWakeupVector;
    wc.max_vcpus = options_.max_vcpus;
    wc.self_ipi_when_pending_at_block = options_.self_ipi_when_pending_at_block;
    auto queues = Queues::Create(platform, wc);
    if (!queues.ok()) return queues.status();
    queues_ = std::move(*queues);
    auto router = Router::Create(platform, *iommu_, *queues_,
                                 VtdRouterConfig{options_.max_vcpus, kVtdPostedVector});
    if (!router.ok()) return router.status();
    router_ = std::move(*router);
    return platform.RegisterVectorHandler(kVtdPostedVector, &CountNotification, this);
  }

  // Adds vCPUs 0..n-1, each with a fresh descriptor, at home on CPU 0.
  absl::Status AddVcpus(uint32_t n) {
    for (uint32_t v = 0; v < n; ++v) {
      if (absl::Status s = AddVcpu(v); !s.ok()) return s;
    }
    return absl::OkStatus();
  }
  absl::Status AddVcpu(VcpuId id, int home_cpu = 0) {
    auto buffer = memory_.Allocate(sizeof(hw::intel::PiDesc), 64);
    if (!buffer.ok()) return buffer.status();
    if (descs_.size() <= id) descs_.resize(id + 1);
    descs_[id] = *buffer;
    return router_->AddVcpu(
        id, VtdVcpuConfig{static_cast<hw::intel::PiDesc*>(buffer->va), buffer->pa, home_cpu});
  }

  hw::intel::PiDesc& desc(VcpuId v) const { return *static_cast<hw::intel::PiDesc*>(descs_[v].va); }
  uint64_t desc_pa(VcpuId v) const { return descs_[v].pa; }
  hw::intel::PiControl control(VcpuId v) const { return desc(v).LoadControl(); }
  bool PirSet(VcpuId v, uint8_t vector) const { return desc(v).PirTest(vector); }
  bool PirEmpty(VcpuId v) const { return desc(v).PirEmpty(); }
  // What the CPU does with a notification in guest mode, or the embedder's PIR-to-vIRR sync
  // before VM entry: clear ON, then take every PIR bit.
  void DrainPir(VcpuId v) const {
    hw::intel::PiDesc& d = desc(v);
    std::atomic_ref<uint64_t>(d.control).fetch_and(~uint64_t{1}, std::memory_order_acq_rel);
    for (uint32_t& word : d.pir) std::atomic_ref<uint32_t>(word).exchange(0);
  }
  // The destination field the unit reads for `cpu` (NDST / DST).
  uint32_t Ndst(int cpu) const { return iommu_->DestinationField(platform_->apic_id(cpu)); }
  hw::fake::VtdDelivery Fire(IrteRef irte) {
    return fake_->DeviceInterrupt(irte.index, irte.device_id);
  }
  hw::IrteWords ReadIrte(IrteRef irte) const { return iommu_->ReadIrte(irte.index); }
  // IEC invalidations by index so far: one per IRTE write (and its rollback).
  uint64_t iec_invalidations() const { return fake_->iec_invalidations(false); }
  uint64_t posted_notifications(int cpu) const {
    return notifications_[cpu].load(std::memory_order_relaxed);
  }

  Platform& platform() { return *platform_; }
  hw::fake::FakeVtdIommu& fake() { return *fake_; }
  Iommu& iommu() { return *iommu_; }
  Queues& queues() { return *queues_; }
  Router& router() { return *router_; }

 private:
  static void CountNotification(void* context, int cpu, uint8_t) {
    static_cast<VtdHarness*>(context)->notifications_[cpu].fetch_add(1, std::memory_order_relaxed);
  }

  VtdHarnessOptions options_;
  Platform* platform_ = nullptr;
  std::unique_ptr<std::atomic<uint64_t>[]> notifications_;
  hw::fake::FakePhysicalMemory memory_;
  std::unique_ptr<hw::fake::PlatformInterruptSink<Platform>> sink_;
  std::unique_ptr<hw::fake::FakeVtdIommu> fake_;
  std::unique_ptr<Iommu> iommu_;
  std::unique_ptr<Queues> queues_;
  std::unique_ptr<Router> router_;
  std::vector<hw::DmaBuffer> descs_;
};

// The usual deterministic setup: a LogicalPlatform owned next to the harness.
struct VtdLogicalStack {
  explicit VtdLogicalStack(const VtdHarnessOptions& options = {})
      : platform(options.num_cpus, options.max_vcpus), harness(options) {}
  hw::fake::LogicalPlatform platform;
  VtdHarness<> harness;
};

}  // namespace irqvirt::posted::testing

#endif  // IRQVIRT_TESTS_POSTED_VTD_HARNESS_H_
