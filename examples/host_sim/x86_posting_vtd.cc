// SPDX-License-Identifier: MIT
// The Intel side of PostingUnit: the fake VT-d remapping unit under irqvirt's real driver
// (hw::intel::VtdIommu), wakeup queues over PI descriptors, and VtdPostedRouter. Each vCPU has a
// PI descriptor the unit posts into and a virtual-APIC page its guest reads; the notification
// vector's PIR is moved into the page by the CPU (a notification in guest mode) or by the host
// before VM entry (KVM's vmx_sync_pir_to_irr).
#include <atomic>
#include <memory>
#include <vector>

#include "absl/strings/str_format.h"
#include "examples/host_sim/report.h"
#include "examples/host_sim/x86_layout.h"
#include "examples/host_sim/x86_posting.h"
#include "hw/fake/fake_vtd_iommu.h"
#include "hw/intel/pi_desc.h"
#include "hw/intel/vtd_iommu.h"
#include "hw/x86/vapic_page.h"
#include "irqvirt/posted/vtd_posted_router.h"
#include "irqvirt/wakeup/pending.h"
#include "irqvirt/wakeup/wakeup_queues.h"

namespace host_sim {
namespace {

using irqvirt::posted::BlockOutcome;
using irqvirt::posted::RouteError;

class VtdPosting : public PostingUnit {
 public:
  using Router = irqvirt::posted::VtdPostedRouter<X86Platform>;
  using Iommu = hw::intel::VtdIommu<X86Platform>;

  ~VtdPosting() override {
    if (platform_ != nullptr && posted_handler_registered_) {
      platform_->UnregisterVectorHandler(x86::kVtdPostedVector);
    }
    router_.reset();
    queues_.reset();
    iommu_.reset();
  }

  absl::Status Init(X86Platform& platform, hw::fake::InterruptSink& sink,
                    uint32_t max_vcpus) override {
    platform_ = &platform;
    hw_ = std::make_unique<hw::fake::FakeVtdIommu>(memory_, sink);
    hw::intel::VtdConfig config;
    config.irt_entries = 1024;  // one table for every device: 256 devices x 4 vectors
    auto iommu = Iommu::Create(platform, *hw_, memory_, config);
    if (!iommu.ok()) return iommu.status();
    iommu_ = std::move(*iommu);
    irqvirt::wakeup::WakeupConfig wc;
    wc.num_cpus = platform.num_cpus();
    wc.vectors_per_cpu = x86::kWakeupVectorsPerCpu;
    wc.first_vector = x86::kVtdFirstWakeupVector;
    wc.max_vcpus = max_vcpus;
    auto q = Router::Queues::Create(platform, wc);
    if (!q.ok()) return q.status();
    queues_ = std::move(*q);
    auto router = Router::Create(platform, *iommu_, *queues_,
                                 irqvirt::posted::VtdRouterConfig{max_vcpus, x86::kVtdPostedVector});
    if (!router.ok()) return router.status();
    router_ = std::move(*router);
    // A notification that reaches a CPU outside guest mode (the vCPU is exiting or halting) is
    // an ordinary host interrupt; there is nothing to do: the PIR is synced at the next entry,
    // and Block re-checks ON.
    if (absl::Status s =
            platform.RegisterVectorHandler(x86::kVtdPostedVector, &OutsideGuest, this);
        !s.ok()) {
      return s;
    }
    posted_handler_registered_ = true;
    return absl::OkStatus();
  }

  absl::StatusOr<hw::DmaBuffer> AddVcpu(int g, int, int, int home) override {
    auto page = memory_.Allocate(hw::x86::kVapicPageSize, 4096);
    if (!page.ok()) return page.status();
    auto desc = memory_.Allocate(sizeof(hw::intel::PiDesc), 64);
    if (!desc.ok()) return desc.status();
    if (descs_.size() <= static_cast<size_t>(g)) {
      descs_.resize(static_cast<size_t>(g) + 1);
      pages_.resize(static_cast<size_t>(g) + 1);
    }
    descs_[static_cast<size_t>(g)] = *desc;
    pages_[static_cast<size_t>(g)] = *page;
    if (absl::Status s = router_->AddVcpu(
            static_cast<uint32_t>(g),
            {static_cast<hw::intel::PiDesc*>(desc->va), desc->pa, home});
        !s.ok()) {
      return s;
    }
    return *page;
  }
  absl::Status AttachDevice(uint16_t) override { return absl::OkStatus(); }  // one table
  absl::Status Bind(uint16_t device_id, uint16_t index, int g, uint8_t vector) override {
    return router_->Bind({device_id, TableIndex(device_id, index)}, static_cast<uint32_t>(g),
                         vector);
  }

  RouteError Load(int g, int cpu) override { return router_->Load(static_cast<uint32_t>(g), cpu); }
  RouteError Put(int g) override { return router_->Put(static_cast<uint32_t>(g)); }
  BlockOutcome Block(int g, int cpu) override {
    return router_->Block(static_cast<uint32_t>(g), cpu);
  }
  absl::StatusOr<bool> MoveAwayFrom(int, int) override { return false; }
  absl::StatusOr<uint32_t> OfflineCpu(int cpu) override { return router_->OfflineCpu(cpu); }
  absl::Status OnlineCpu(int cpu) override { return router_->OnlineCpu(cpu); }

  Posted Fire(uint16_t device_id, uint16_t index, uint8_t vector) override {
    held_before_.assign(descs_.size(), false);
    for (size_t g = 0; g < descs_.size(); ++g) {
      held_before_[g] = Desc(static_cast<int>(g)).PirTest(vector) ||
                        Page(static_cast<int>(g)).Test(hw::x86::ApicVectorReg::kIrr, vector);
    }
    const hw::fake::VtdDelivery d = hw_->DeviceInterrupt(TableIndex(device_id, index), device_id);
    Posted p;
    if (d.kind == hw::fake::VtdDeliveryKind::kFault ||
        d.kind == hw::fake::VtdDeliveryKind::kRemapped) {
      p.fault = d.kind == hw::fake::VtdDeliveryKind::kFault ? d.fault : "delivered remapped";
      return p;
    }
    p.vcpu = IndexOfBuffer(descs_, d.pi_desc_pa);
    if (p.vcpu < 0) {
      p.fault = absl::StrFormat("posted into an unknown descriptor %#x", d.pi_desc_pa);
      return p;
    }
    p.held = held_before_[static_cast<size_t>(p.vcpu)] && d.vector == vector;
    if (d.kind == hw::fake::VtdDeliveryKind::kPostedNotified) {
      p.how = Posted::How::kNotify;
      p.cpu = platform_->CpuOfApicId(d.apic_id);
      p.vector = d.notification_vector;
      ++notifications_;
    } else {
      p.how = Posted::How::kQuiet;
    }
    return p;
  }
  bool PendingOutsidePage(int g) override {
    return irqvirt::wakeup::PiDescPending::HasPending(&Desc(g));
  }
  void SyncPirToIrr(int g) override {
    hw::intel::PiDesc& d = Desc(g);
    // ON first, then PIR, as the CPU's posted-interrupt processing does (SDM 30.6): an
    // interrupt posted in between sets ON again and notifies.
    std::atomic_ref<uint64_t>(d.control).fetch_and(~uint64_t{1}, std::memory_order_acq_rel);
    const hw::x86::VapicPage page = Page(g);
    for (int w = 0; w < 8; ++w) {
      uint32_t bits = std::atomic_ref<uint32_t>(d.pir[w]).exchange(0, std::memory_order_acq_rel);
      while (bits != 0) {
        const int b = __builtin_ctz(bits);
        bits &= bits - 1;
        page.Set(hw::x86::ApicVectorReg::kIrr, static_cast<uint8_t>(w * 32 + b));
      }
    }
    ++syncs_;
  }
  bool PirHas(int g, uint8_t vector) override { return Desc(g).PirTest(vector); }

  X86Mode mode() const override { return X86Mode::kVtd; }
  uint8_t WakeupVector(int g) override { return queues_->WakeupVector(static_cast<uint32_t>(g)); }
  int ParkedCpu(int g) override { return queues_->ParkedCpu(static_cast<uint32_t>(g)); }
  uint8_t PostedVector() const override { return x86::kVtdPostedVector; }
  uint8_t GaLogVector() const override { return 0; }
  uint32_t GaLogEntriesQueued() override { return 0; }
  uint64_t CommandsExecuted() override {
    return hw_->iec_invalidations(false) + hw_->iec_invalidations(true);
  }
  uint32_t QueueLength(int cpu, uint8_t vector) override {
    return queues_->QueueLength(cpu, vector);
  }
  uint64_t RescanChecks() override { return 0; }
  absl::Status CheckInvariants() override {
    if (absl::Status s = router_->CheckInvariants(); !s.ok()) return s;
    return queues_->CheckInvariants();
  }
  std::vector<std::string> HardwareViolations() override { return hw_->violations(); }

  void AddFigures(Report& report, const std::string& key, const std::string& name,
                  bool baseline) override {
    Section& s = report.AddSection(key + "_iommu", name + ": the remapping unit");
    s.metrics = {{"posted_notifications", double(notifications_)},
                 {"notifications_outside_guest", double(outside_guest_)},
                 {"pir_syncs", double(syncs_)},
                 {"iec_invalidations", double(CommandsExecuted())}};
    if (!baseline) {
      report.Mechanism("x86_vtd_notifications_outside_guest", double(outside_guest_));
    }
  }

 private:
  static void OutsideGuest(void* context, int, uint8_t) {
    ++static_cast<VtdPosting*>(context)->outside_guest_;
  }
  // The unit has one table: requester `device_id`'s vectors sit at device_id * 4 + index.
  static uint16_t TableIndex(uint16_t device_id, uint16_t index) {
    return static_cast<uint16_t>(device_id * x86::kIrtesPerDevice + index);
  }
  hw::intel::PiDesc& Desc(int g) const {
    return *static_cast<hw::intel::PiDesc*>(descs_[static_cast<size_t>(g)].va);
  }
  hw::x86::VapicPage Page(int g) const {
    return hw::x86::VapicPage(pages_[static_cast<size_t>(g)].va);
  }

  X86Platform* platform_ = nullptr;
  bool posted_handler_registered_ = false;
  hw::fake::FakePhysicalMemory memory_;
  std::unique_ptr<hw::fake::FakeVtdIommu> hw_;
  std::unique_ptr<Iommu> iommu_;
  std::unique_ptr<Router::Queues> queues_;
  std::unique_ptr<Router> router_;
  std::vector<hw::DmaBuffer> descs_, pages_;
  std::vector<bool> held_before_;
  uint64_t notifications_ = 0, outside_guest_ = 0, syncs_ = 0;
};

}  // namespace

std::unique_ptr<PostingUnit> MakeVtdPosting() { return std::make_unique<VtdPosting>(); }

}  // namespace host_sim
