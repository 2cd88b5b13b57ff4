// SPDX-License-Identifier: MIT
// The x86 host's posted-interrupt hardware and irqvirt's router for it, behind one interface, so
// that the same host (scheduler, guests, devices, checks) runs on either IOMMU:
//   AMD (x86_posting_amd.cc): the fake AMD IOMMU under hw::amd::Iommu and PostedRouter, in GA log
//     mode (blocked vCPUs woken through the GA log) or GAPPI mode (through wakeup queues);
//   Intel (x86_posting_vtd.cc): the fake VT-d unit under hw::intel::VtdIommu and
//     VtdPostedRouter, PI descriptors, wakeup queues.
// Each vCPU has a vAPIC page the guest model reads (AMD: the AVIC backing page the IOMMU posts
// into; Intel: the virtual-APIC page, filled from the PI descriptor's PIR).
#ifndef IRQVIRT_EXAMPLES_HOST_SIM_X86_POSTING_H_
#define IRQVIRT_EXAMPLES_HOST_SIM_X86_POSTING_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "examples/host_sim/options.h"
#include "examples/host_sim/report.h"
#include "examples/host_sim/x86_platform.h"
#include "hw/fake/fake_physical_memory.h"
#include "hw/fake/interrupt_sink.h"
#include "irqvirt/posted/route_error.h"

namespace host_sim {

// How the hardware handled one device interrupt, as the host sees it afterwards.
struct Posted {
  enum class How : uint8_t {
    kFault,         // refused (no IRTE, remapped format, ...): nothing delivered
    kDoorbell,      // AMD: IRR set, doorbell rung at `cpu`
    kNotify,        // AMD GAPPI or VT-d: IRR/PIR set, `vector` sent to `cpu`
    kGaLog,         // AMD: IRR set, GA log entry appended
    kGaLogDropped,  // AMD: IRR set, GA log full or stopped: the entry is lost
    kQuiet,         // IRR/PIR set, nobody notified (already pending, suppressed, ...)
  };
  How how = How::kFault;
  int vcpu = -1;         // whose page or descriptor the interrupt was posted into
  int cpu = -1;          // kDoorbell, kNotify: the pCPU notified
  uint8_t vector = 0;    // kNotify: the host vector sent
  bool held = false;     // that vCPU already had this guest vector pending before
  std::string fault;
};

class PostingUnit {
 public:
  virtual ~PostingUnit() = default;

  // Creates the IOMMU driver, wakeup queues and router. `sink` receives the IOMMU's outgoing
  // interrupts and doorbells.
  virtual absl::Status Init(X86Platform& platform, hw::fake::InterruptSink& sink,
                            uint32_t max_vcpus) = 0;
  // vCPU `g` of VM `vm` (its `index` there), at home on `home_cpu`. Returns its vAPIC page,
  // zeroed, in memory the IOMMU reaches.
  virtual absl::StatusOr<hw::DmaBuffer> AddVcpu(int g, int vm, int index, int home_cpu) = 0;
  virtual absl::Status AttachDevice(uint16_t device_id) = 0;
  virtual absl::Status Bind(uint16_t device_id, uint16_t index, int g, uint8_t vector) = 0;

  // The router's hot paths.
  virtual irqvirt::posted::RouteError Load(int g, int cpu) = 0;
  virtual irqvirt::posted::RouteError Put(int g) = 0;
  virtual irqvirt::posted::BlockOutcome Block(int g, int cpu) = 0;

  // CPU hotplug: before `cpu` goes offline (AMD GA log: the GA log interrupt moves to
  // `fallback` if `cpu` receives it; returns true then), then OfflineCpu, later OnlineCpu.
  virtual absl::StatusOr<bool> MoveAwayFrom(int cpu, int fallback) = 0;
  virtual absl::StatusOr<uint32_t> OfflineCpu(int cpu) = 0;
  virtual absl::Status OnlineCpu(int cpu) = 0;

  // A device with requester ID `device_id` sends the MSI for IRTE `index`.
  virtual Posted Fire(uint16_t device_id, uint16_t index, uint8_t vector) = 0;
  // Whether `g` has an interrupt pending that its vAPIC page does not show yet (VT-d: ON, or SN
  // with PIR). Always false on AMD, where the IOMMU writes the page itself.
  virtual bool PendingOutsidePage(int g) = 0;
  // VT-d: the CPU's posted-interrupt processing (a notification in guest mode) or the
  // embedder's sync before VM entry: clear ON, move PIR into the page's IRR. AMD: nothing.
  virtual void SyncPirToIrr(int g) = 0;
  // Whether guest vector `vector` of `g` is in its PIR (VT-d; false on AMD).
  virtual bool PirHas(int g, uint8_t vector) = 0;

  // --- what the host checks and reports ---
  virtual X86Mode mode() const = 0;
  // The host vector a notification to a blocked `g` must carry, and the CPU it is parked on
  // (-1: not parked). GA log mode: 0 and -1.
  virtual uint8_t WakeupVector(int g) = 0;
  virtual int ParkedCpu(int g) = 0;
  // VT-d: the vector a running vCPU's notifications carry. AMD: 0.
  virtual uint8_t PostedVector() const = 0;
  // GA log mode: the GA log interrupt's vector, and whether the log holds undrained entries.
  virtual uint8_t GaLogVector() const = 0;
  virtual uint32_t GaLogEntriesQueued() = 0;
  virtual uint64_t CommandsExecuted() = 0;  // IOMMU commands / invalidation descriptors run
  // The wakeup queue `vector` selects on `cpu`: how many vCPUs its handler will scan.
  virtual uint32_t QueueLength(int cpu, uint8_t vector) = 0;
  // vCPUs the GA log's post-overflow rescans have checked so far (the router's counter).
  virtual uint64_t RescanChecks() = 0;
  virtual absl::Status CheckInvariants() = 0;
  virtual std::vector<std::string> HardwareViolations() = 0;
  // Figures for the report, from the library's and the fakes' own counters: a section
  // `key` + "_iommu" titled `name` + ": ...", and (not for a baseline) its mechanisms.
  virtual void AddFigures(Report& report, const std::string& key, const std::string& name,
                          bool baseline) = 0;
};

// Which of `buffers` (a vCPU's page or descriptor each) starts at `pa`: the vCPU the hardware
// posted into, as it says. -1: none of them.
inline int IndexOfBuffer(const std::vector<hw::DmaBuffer>& buffers, uint64_t pa) {
  for (size_t g = 0; g < buffers.size(); ++g) {
    if (buffers[g].pa == pa) return static_cast<int>(g);
  }
  return -1;
}

// `rescan_after_overflow` false: KVM's GA log restart (the documented baseline).
std::unique_ptr<PostingUnit> MakeAmdPosting(X86Mode mode, bool rescan_after_overflow);
std::unique_ptr<PostingUnit> MakeVtdPosting();

}  // namespace host_sim

#endif  // IRQVIRT_EXAMPLES_HOST_SIM_X86_POSTING_H_
