// SPDX-License-Identifier: MIT
// Per-CPU wakeup queues for blocked vCPUs, and the wakeup-vector handler.
//
// When a vCPU blocks, the hardware can no longer post its device interrupts into a running guest;
// it sends a wakeup vector to a physical CPU instead (AMD GAPPI: the pCPU in the IRTE destination,
// vector = GATag[7:0]; Intel VT-d PI: NDST/NV of the descriptor). The vector does not say which
// vCPU it is for, so each CPU keeps the vCPUs parked on it and the handler wakes the ones with a
// pending interrupt.
//
// Sharded wakeup vectors: each CPU owns K vectors (first_vector .. first_vector + K - 1) and K
// queues. A vCPU's bucket is chosen once, when it is added, and the vector its IRTEs must carry
// while parked is WakeupVector(vcpu). The handler for vector v scans only bucket v, so a CPU with
// N parked vCPUs scans about N / K of them per interrupt. K = 1 is the classic design.
//
// Locking. Each (CPU, bucket) queue has one IRQ-safe spinlock:
//   - task context (Park, Unpark, PrepareToBlock, OfflineCpu, OnlineCpu, CheckInvariants) takes
//     it with LockIrqSave;
//   - the wakeup handler takes it with LockIrqsOff (it runs in the interrupt on that CPU).
//   It is never held with interrupts on, so the handler can never spin on a lock its own CPU holds.
// Lock order: OfflineCpu holds two queue locks of the same bucket, the offline CPU's first, then
// the target's; OfflineCpu/OnlineCpu are serialized by offline_mu_ (a sleeping mutex, task
// context only, taken before any queue lock). registry_mu_ (task context only) guards vCPU
// registration and is never held together with a queue lock.
//
// Memory: every queue is a dense array sized at creation (bucket capacity = ceil(max_vcpus / K));
// Park, Unpark and the handler allocate nothing, throw nothing and may run with interrupts off.
//
// Per-vCPU calls (Park, Unpark, PrepareToBlock, RemoveVcpu) for one vCPU come from one context at
// a time — the vCPU's own thread — as in KVM; different vCPUs, the handler and OfflineCpu run
// concurrently.
#ifndef IRQVIRT_IRQVIRT_WAKEUP_WAKEUP_QUEUES_H_
#define IRQVIRT_IRQVIRT_WAKEUP_WAKEUP_QUEUES_H_

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "hw/platform.h"
#include "irqvirt/planted_bug.h"
#include "irqvirt/wakeup/park_error.h"
#include "irqvirt/wakeup/pending.h"

namespace irqvirt::wakeup {

using VcpuId = uint32_t;

struct WakeupConfig {
  int num_cpus = 0;
  int vectors_per_cpu = 1;      // K, 1..16
  uint8_t first_vector = 0xf1;  // bucket b uses first_vector + b
  uint32_t max_vcpus = 0;
  // KVM-style block path that cannot back out: when PrepareToBlock finds an interrupt already
  // pending, also send the wakeup vector to this CPU so the handler wakes the vCPU.
  bool self_ipi_when_pending_at_block = false;
};

// What one handler invocation did (benchmarks and tests read it; it costs two adds).
struct HandlerStats {
  uint32_t scanned = 0;
  uint32_t woken = 0;
};

enum class BlockDecision : uint8_t {
  kSleep,             // parked, retargeted, nothing pending: safe to sleep
  kPendingDontSleep,  // parked, but an interrupt arrived in the window: do not sleep
  kNotParked,         // Park refused; see BlockResult::error
};

struct BlockResult {
  BlockDecision decision;
  ParkError error;
};

template <hw::Platform P, PendingCheck C>
class WakeupQueues {
 public:
  using State = typename C::State;
  static constexpr int kMaxVectorsPerCpu = 16;

  static absl::StatusOr<std::unique_ptr<WakeupQueues>> Create(P& platform,
                                                              const WakeupConfig& config) {
    if (config.num_cpus <= 0 || config.num_cpus > platform.num_cpus()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "wakeup queues: num_cpus %d outside 1..%d", config.num_cpus, platform.num_cpus()));
    }
    if (config.vectors_per_cpu < 1 || config.vectors_per_cpu > kMaxVectorsPerCpu) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "wakeup queues: vectors_per_cpu %d outside 1..16", config.vectors_per_cpu));
    }
    if (config.first_vector < 0x20 || config.first_vector + config.vectors_per_cpu - 1 > 0xff) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "wakeup queues: vectors %#x..%#x must lie in 0x20..0xff", config.first_vector,
          config.first_vector + config.vectors_per_cpu - 1));
    }
    if (config.max_vcpus == 0 || config.max_vcpus > (1u << 20)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("wakeup queues: max_vcpus %u outside 1..1048576", config.max_vcpus));
    }
    std::unique_ptr<WakeupQueues> q(new WakeupQueues(platform, config));
    for (int b = 0; b < config.vectors_per_cpu; ++b) {
      const uint8_t vector = static_cast<uint8_t>(config.first_vector + b);
      absl::Status s = platform.RegisterVectorHandler(vector, &Dispatch, q.get());
      if (!s.ok()) {
        q->UnregisterHandlers();
        return absl::Status(s.code(), absl::StrFormat("wakeup queues: registering vector %#x: %s",
                                                      vector, s.message()));
      }
      q->registered_vectors_ = b + 1;
    }
    return q;
  }

  // Handlers are unregistered (and any running instance has finished) before memory goes away.
  ~WakeupQueues() { UnregisterHandlers(); }

  WakeupQueues(const WakeupQueues&) = delete;
  WakeupQueues& operator=(const WakeupQueues&) = delete;

  // --- registration (cold) ---

  // Registers vCPU `vcpu` whose pending state (vAPIC page or PI descriptor) is `state`, and fixes
  // its bucket: the least loaded one.
  absl::Status AddVcpu(VcpuId vcpu, const State* state) {
    if (vcpu >= max_vcpus_) {
      return absl::InvalidArgumentError(
          absl::StrFormat("vCPU %u: id outside 0..%u", vcpu, max_vcpus_ - 1));
    }
    if (state == nullptr) {
      return absl::InvalidArgumentError(absl::StrFormat("vCPU %u: null pending state", vcpu));
    }
    absl::MutexLock l(&registry_mu_);
    Slot& s = slots_[vcpu];
    if (s.registered.load(std::memory_order_relaxed)) {
      return absl::AlreadyExistsError(absl::StrFormat("vCPU %u: already registered", vcpu));
    }
    int best = 0;
    for (int b = 1; b < vectors_per_cpu_; ++b) {
      if (bucket_load_[b] < bucket_load_[best]) best = b;
    }
    if (bucket_load_[best] >= bucket_capacity_) {
      return absl::ResourceExhaustedError(
          absl::StrFormat("vCPU %u: all %u vCPU slots are in use", vcpu, max_vcpus_));
    }
    ++bucket_load_[best];
    s.state = state;
    s.bucket = static_cast<uint8_t>(best);
    s.parked_cpu.store(-1, std::memory_order_relaxed);
    s.registered.store(true, std::memory_order_release);
    return absl::OkStatus();
  }

  // Unparks (if parked) and forgets the vCPU. Safe while the handler runs on any CPU.
  absl::Status RemoveVcpu(VcpuId vcpu) {
    if (!IsRegistered(vcpu)) {
      return absl::NotFoundError(absl::StrFormat("vCPU %u: not registered", vcpu));
    }
    Unpark(vcpu);
    absl::MutexLock l(&registry_mu_);
    Slot& s = slots_[vcpu];
    s.registered.store(false, std::memory_order_release);
    --bucket_load_[s.bucket];
    return absl::OkStatus();
  }

  // --- hot path ---

  // The vector a parked vCPU's IRTEs (GA tag) or PI descriptor (NV) must carry; 0 if unknown.
  uint8_t WakeupVector(VcpuId vcpu) const {
    if (!IsRegistered(vcpu)) return 0;
    return static_cast<uint8_t>(first_vector_ + slots_[vcpu].bucket);
  }

  // CPU the vCPU is parked on, or -1.
  int ParkedCpu(VcpuId vcpu) const {
    if (vcpu >= max_vcpus_) return -1;
    return slots_[vcpu].parked_cpu.load(std::memory_order_acquire);
  }

  ParkError Park(VcpuId vcpu, int cpu) {
    return ParkAndRetarget(vcpu, cpu, [](VcpuId, int, uint8_t) {});
  }

  // Removes the vCPU from whatever queue it is on (no-op if none). Retries if OfflineCpu moves it
  // between reading its CPU and taking that queue's lock.
  void Unpark(VcpuId vcpu) {
    if (vcpu >= max_vcpus_) return;
    Slot& s = slots_[vcpu];
    for (;;) {
      const int cpu = s.parked_cpu.load(std::memory_order_acquire);
      if (cpu < 0) return;
      Queue& q = queue(cpu, s.bucket);
      const hw::IrqFlags flags = platform_.LockIrqSave(q.lock);
      if (s.parked_cpu.load(std::memory_order_relaxed) == cpu) {
        RemoveAt(q, s.position.load(std::memory_order_relaxed));
        s.parked_cpu.store(-1, std::memory_order_release);
        platform_.UnlockIrqRestore(q.lock, flags);
        return;
      }
      platform_.UnlockIrqRestore(q.lock, flags);
    }
  }

  // The block protocol, closing the window between "decides to block" and "parked with its
  // IRTEs/descriptor pointing here": park on `cpu` and, under the same queue lock, let the caller
  // retarget (`retarget(vcpu, cpu, wakeup_vector)`: IRTE destination + GA tag, or PI NDST + NV;
  // it must not block or fail). Then look for an interrupt that arrived before the retarget took
  // effect. Retargeting under the queue lock matters: OfflineCpu moves and retargets parked vCPUs
  // under that lock, so a retarget done after unlocking could point the IRTE back at a CPU that
  // has just gone offline, losing every later wakeup.
  template <typename Retarget>
  BlockResult PrepareToBlock(VcpuId vcpu, int cpu, Retarget&& retarget) {
    const ParkError e = ParkAndRetarget(vcpu, cpu, retarget);
    if (e != ParkError::kNone) return {BlockDecision::kNotParked, e};
    // The retarget store must be visible before the pending load: a device posting concurrently
    // either sees the new target (and sends the wakeup vector here) or its IRR/ON write is seen.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (!IRQVIRT_PLANTED(kBlockSkipsPendingRecheck) && C::HasPending(slots_[vcpu].state)) {
      if (self_ipi_when_pending_ && platform_.current_cpu() == cpu) {
        platform_.SendSelfIpi(WakeupVector(vcpu));
      }
      return {BlockDecision::kPendingDontSleep, ParkError::kNone};
    }
    return {BlockDecision::kSleep, ParkError::kNone};
  }

  // The wakeup-vector handler: interrupts off, on `cpu`. Scans only the vector's bucket.
  HandlerStats HandleWakeupVector(int cpu, uint8_t vector) {
    HandlerStats stats;
    Queue* queue_for_vector = QueueFor(cpu, vector);
    if (queue_for_vector == nullptr) return stats;
    Queue& q = *queue_for_vector;
    platform_.LockIrqsOff(q.lock);
    const State* const* states = &states_[q.first_entry];
    const VcpuId* ids = &vcpus_[q.first_entry];
    const uint32_t n = q.count;
    constexpr uint32_t kPrefetchAhead = 16;
    for (uint32_t i = 0; i < n && i < kPrefetchAhead; ++i) C::Prefetch(states[i]);
    for (uint32_t i = 0; i < n; ++i) {
      if (IRQVIRT_PLANTED(kWakeupHandlerSkipsLastParked) && i + 1 == n) break;
      if (i + kPrefetchAhead < n) C::Prefetch(states[i + kPrefetchAhead]);
      if (C::HasPending(states[i])) {
        platform_.WakeVcpu(ids[i]);
        ++stats.woken;
        if (IRQVIRT_PLANTED(kWakeupHandlerStopsAfterFirstWake)) break;
      }
    }
    stats.scanned = n;
    platform_.UnlockIrqsOff(q.lock);
    return stats;
  }

  // --- CPU hotplug (cold) ---

  // Before `cpu` stops taking interrupts: moves every vCPU parked on it to an online CPU, calls
  // `retarget(vcpu, new_cpu, wakeup_vector)` for each under the queue locks (it must not block:
  // an IRTE destination write, or an NDST compare-and-swap), then wakes those that already have an
  // interrupt pending. Returns how many vCPUs moved. Park on `cpu` fails until OnlineCpu.
  template <typename Retarget>
  absl::StatusOr<uint32_t> OfflineCpu(int cpu, Retarget&& retarget) {
    if (!ValidCpu(cpu)) {
      return absl::InvalidArgumentError(absl::StrFormat("offline: unknown CPU %d", cpu));
    }
    absl::MutexLock l(&offline_mu_);
    if (!online_[cpu]) {
      return absl::FailedPreconditionError(absl::StrFormat("offline: CPU %d is already offline", cpu));
    }
    int target = -1;
    for (int c = 1; c < num_cpus_ && target < 0; ++c) {
      const int candidate = (cpu + c) % num_cpus_;
      if (online_[candidate]) target = candidate;
    }
    if (target < 0) {
      return absl::FailedPreconditionError(
          absl::StrFormat("offline: CPU %d is the last online CPU; its vCPUs have nowhere to go", cpu));
    }
    online_[cpu] = false;
    uint32_t moved = 0;
    for (int b = 0; b < vectors_per_cpu_; ++b) {
      const uint8_t vector = static_cast<uint8_t>(first_vector_ + b);
      Queue& from = queue(cpu, b);
      Queue& to = queue(target, b);
      const hw::IrqFlags flags = platform_.LockIrqSave(from.lock);
      platform_.LockIrqsOff(to.lock);
      from.accepting = false;
      const uint32_t first_moved = to.count;
      for (uint32_t i = 0; i < from.count; ++i) {
        const VcpuId vcpu = vcpus_[from.first_entry + i];
        Append(to, vcpu, target);
        retarget(vcpu, target, vector);
      }
      moved += from.count;
      from.count = 0;
      std::atomic_thread_fence(std::memory_order_seq_cst);
      for (uint32_t i = first_moved; i < to.count; ++i) {
        if (C::HasPending(states_[to.first_entry + i])) platform_.WakeVcpu(vcpus_[to.first_entry + i]);
      }
      platform_.UnlockIrqsOff(to.lock);
      platform_.UnlockIrqRestore(from.lock, flags);
    }
    return moved;
  }

  absl::Status OnlineCpu(int cpu) {
    if (!ValidCpu(cpu)) {
      return absl::InvalidArgumentError(absl::StrFormat("online: unknown CPU %d", cpu));
    }
    absl::MutexLock l(&offline_mu_);
    if (online_[cpu]) {
      return absl::FailedPreconditionError(absl::StrFormat("online: CPU %d is already online", cpu));
    }
    for (int b = 0; b < vectors_per_cpu_; ++b) {
      Queue& q = queue(cpu, b);
      const hw::IrqFlags flags = platform_.LockIrqSave(q.lock);
      q.accepting = true;
      platform_.UnlockIrqRestore(q.lock, flags);
    }
    online_[cpu] = true;
    return absl::OkStatus();
  }

  // --- introspection (cold) ---

  uint32_t QueueLength(int cpu, uint8_t vector) {
    Queue* queue_for_vector = QueueFor(cpu, vector);
    if (queue_for_vector == nullptr) return 0;
    Queue& q = *queue_for_vector;
    const hw::IrqFlags flags = platform_.LockIrqSave(q.lock);
    const uint32_t n = q.count;
    platform_.UnlockIrqRestore(q.lock, flags);
    return n;
  }

  // Every parked vCPU is in exactly one queue — the one its slot names, at the position it names —
  // and every queue entry is a registered vCPU. Call with the system quiescent.
  absl::Status CheckInvariants() {
    std::vector<int> seen(max_vcpus_, -1);
    for (int cpu = 0; cpu < num_cpus_; ++cpu) {
      for (int b = 0; b < vectors_per_cpu_; ++b) {
        Queue& q = queue(cpu, b);
        const hw::IrqFlags flags = platform_.LockIrqSave(q.lock);
        absl::Status status;
        for (uint32_t i = 0; i < q.count && status.ok(); ++i) {
          const VcpuId v = vcpus_[q.first_entry + i];
          const Slot& s = slots_[v];
          if (seen[v] >= 0) {
            status = absl::InternalError(
                absl::StrFormat("vCPU %u is on the queues of CPU %d and CPU %d", v, seen[v], cpu));
          } else if (!s.registered.load() || s.parked_cpu.load() != cpu || s.bucket != b ||
                     s.position.load() != i || states_[q.first_entry + i] != s.state) {
            status = absl::InternalError(absl::StrFormat(
                "vCPU %u: queue entry (CPU %d, bucket %d, position %u) disagrees with its slot", v,
                cpu, b, i));
          }
          seen[v] = cpu;
        }
        platform_.UnlockIrqRestore(q.lock, flags);
        if (!status.ok()) return status;
      }
    }
    for (VcpuId v = 0; v < max_vcpus_; ++v) {
      const int cpu = slots_[v].parked_cpu.load();
      if (cpu >= 0 && seen[v] != cpu) {
        return absl::InternalError(
            absl::StrFormat("vCPU %u says it is parked on CPU %d but is on no queue there", v, cpu));
      }
    }
    return absl::OkStatus();
  }

  // Calls fn(address, bytes) for each block of memory the handler reads besides the vCPUs' own
  // pending state: queue headers and entry arrays. Benchmarks flush these to measure a cold
  // handler; embedders can use it to account or pin the memory.
  template <typename Fn>
  void ForEachHandlerMemoryRange(Fn&& fn) const {
    const size_t queues = static_cast<size_t>(num_cpus_) * vectors_per_cpu_;
    fn(static_cast<const void*>(queues_.get()), queues * sizeof(Queue));
    fn(static_cast<const void*>(states_.get()), queues * bucket_capacity_ * sizeof(const State*));
    fn(static_cast<const void*>(vcpus_.get()), queues * bucket_capacity_ * sizeof(VcpuId));
  }

  int vectors_per_cpu() const { return vectors_per_cpu_; }
  uint8_t first_vector() const { return static_cast<uint8_t>(first_vector_); }

 private:
  // One (CPU, bucket) queue: a dense array of the parked vCPUs and their pending state.
  struct alignas(64) Queue {
    typename P::SpinLock lock;
    uint32_t first_entry = 0;  // immutable index of this queue's storage in states_/vcpus_
    uint32_t count ABSL_GUARDED_BY(lock) = 0;
    bool accepting ABSL_GUARDED_BY(lock) = true;
  };

  struct Slot {
    const State* state = nullptr;  // immutable while registered
    uint8_t bucket = 0;            // immutable while registered
    std::atomic<bool> registered{false};  // published with release after state and bucket
    // The park protocol, lock-free by design for readers: written only under the lock of the
    // queue the vCPU is on (or is being moved to); read without it by the owning vCPU's Unpark,
    // which re-checks under that lock.
    std::atomic<int> parked_cpu{-1};
    std::atomic<uint32_t> position{0};  // index in that queue: under the same lock
  };

  WakeupQueues(P& platform, const WakeupConfig& config)
      : platform_(platform),
        num_cpus_(config.num_cpus),
        vectors_per_cpu_(config.vectors_per_cpu),
        first_vector_(config.first_vector),
        max_vcpus_(config.max_vcpus),
        bucket_capacity_((config.max_vcpus + config.vectors_per_cpu - 1) / config.vectors_per_cpu),
        self_ipi_when_pending_(config.self_ipi_when_pending_at_block),
        queues_(new Queue[static_cast<size_t>(config.num_cpus) * config.vectors_per_cpu]),
        states_(new const State*[static_cast<size_t>(config.num_cpus) * config.vectors_per_cpu *
                                 bucket_capacity_]),
        vcpus_(new VcpuId[static_cast<size_t>(config.num_cpus) * config.vectors_per_cpu *
                          bucket_capacity_]),
        slots_(new Slot[config.max_vcpus]),
        online_(new bool[config.num_cpus]) {
    for (int i = 0; i < num_cpus_ * vectors_per_cpu_; ++i) {
      queues_[i].first_entry = static_cast<uint32_t>(i) * bucket_capacity_;
    }
    std::fill(online_.get(), online_.get() + num_cpus_, true);
    std::fill(bucket_load_, bucket_load_ + kMaxVectorsPerCpu, 0u);
  }

  template <typename Retarget>
  ParkError ParkAndRetarget(VcpuId vcpu, int cpu, Retarget&& retarget) {
    if (!IsRegistered(vcpu)) return ParkError::kUnknownVcpu;
    if (!ValidCpu(cpu)) return ParkError::kUnknownCpu;
    Slot& s = slots_[vcpu];
    if (s.parked_cpu.load(std::memory_order_acquire) >= 0) return ParkError::kAlreadyParked;
    Queue& q = queue(cpu, s.bucket);
    const hw::IrqFlags flags = platform_.LockIrqSave(q.lock);
    if (!q.accepting) {
      platform_.UnlockIrqRestore(q.lock, flags);
      return ParkError::kCpuOffline;
    }
    Append(q, vcpu, cpu);
    retarget(vcpu, cpu, static_cast<uint8_t>(first_vector_ + s.bucket));
    platform_.UnlockIrqRestore(q.lock, flags);
    return ParkError::kNone;
  }

  static void Dispatch(void* context, int cpu, uint8_t vector) {
    static_cast<WakeupQueues*>(context)->HandleWakeupVector(cpu, vector);
  }

  void UnregisterHandlers() {
    for (int b = 0; b < registered_vectors_; ++b) {
      platform_.UnregisterVectorHandler(static_cast<uint8_t>(first_vector_ + b));
    }
    registered_vectors_ = 0;
  }

  bool IsRegistered(VcpuId vcpu) const {
    return vcpu < max_vcpus_ && slots_[vcpu].registered.load(std::memory_order_acquire);
  }

  bool ValidCpu(int cpu) const { return cpu >= 0 && cpu < num_cpus_; }

  Queue& queue(int cpu, int bucket) { return queues_[cpu * vectors_per_cpu_ + bucket]; }

  // The queue that wakeup `vector` on `cpu` serves, or nullptr for an unknown CPU or a vector
  // that is not one of ours (never used as an index).
  Queue* QueueFor(int cpu, uint8_t vector) {
    const int bucket = static_cast<int>(vector) - first_vector_;
    if (!ValidCpu(cpu) || bucket < 0 || bucket >= vectors_per_cpu_) return nullptr;
    return &queue(cpu, bucket);
  }

  // Caller holds q.lock. Capacity holds by construction: a bucket never has more registered
  // vCPUs than bucket_capacity_, and each is on at most one queue.
  void Append(Queue& q, VcpuId vcpu, int cpu) ABSL_EXCLUSIVE_LOCKS_REQUIRED(q.lock) {
    Slot& s = slots_[vcpu];
    const uint32_t pos = q.count++;
    states_[q.first_entry + pos] = s.state;
    vcpus_[q.first_entry + pos] = vcpu;
    s.position.store(pos, std::memory_order_relaxed);
    s.parked_cpu.store(cpu, std::memory_order_release);
  }

  // Caller holds q.lock. Swap-remove keeps the array dense; the moved vCPU learns its new place.
  void RemoveAt(Queue& q, uint32_t pos) ABSL_EXCLUSIVE_LOCKS_REQUIRED(q.lock) {
    const uint32_t last = --q.count;
    if (pos != last) {
      const VcpuId moved = vcpus_[q.first_entry + last];
      states_[q.first_entry + pos] = states_[q.first_entry + last];
      vcpus_[q.first_entry + pos] = moved;
      slots_[moved].position.store(pos, std::memory_order_relaxed);
    }
  }

  P& platform_;
  const int num_cpus_;
  const int vectors_per_cpu_;
  const int first_vector_;
  const uint32_t max_vcpus_;
  const uint32_t bucket_capacity_;
  const bool self_ipi_when_pending_;
  int registered_vectors_ = 0;
  std::unique_ptr<Queue[]> queues_;
  // Entry storage of all queues; queue i owns [first_entry, first_entry + bucket_capacity_),
  // guarded by that queue's lock (a range per lock: clang's analysis cannot name it, so
  // Append/RemoveAt require the queue's lock instead).
  std::unique_ptr<const State*[]> states_;
  std::unique_ptr<VcpuId[]> vcpus_;
  std::unique_ptr<Slot[]> slots_;
  absl::Mutex offline_mu_;
  std::unique_ptr<bool[]> online_ ABSL_GUARDED_BY(offline_mu_);
  absl::Mutex registry_mu_;
  uint32_t bucket_load_[kMaxVectorsPerCpu] ABSL_GUARDED_BY(registry_mu_);
};

}  // namespace irqvirt::wakeup

#endif  // IRQVIRT_IRQVIRT_WAKEUP_WAKEUP_QUEUES_H_
