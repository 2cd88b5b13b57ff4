// SPDX-License-Identifier: MIT
// IRTE ownership, the vendor-neutral half of posted-interrupt routing. Every IRTE the router has
// bound to a vCPU is on exactly that vCPU's list. A bind that moves an IRTE to another vCPU holds
// both vCPUs' locks (lower id first) across the hardware write and the list move, so the move is
// never visible half-done (the 2016 KVM "IRTE on two lists" bug), and a failed write changes no
// list. The IOMMU-specific routers (AMD guest-mode IRTEs, VT-d posted IRTEs) supply the write and
// what to do after it; this file keeps the map and the lists.
//
// Locks (outermost first):
//   mutex()     absl::Mutex, task context only: the binding map; serialises binds and unbinds.
//   Vcpu::lock  the router's per-vCPU P::SpinLock, taken here with LockIrqSave; it guards the
//               vCPU's IrteList. Two are held together only by a moving bind, lower id first.
// Nothing here runs in, or takes a lock shared with, a wakeup or GA-log handler.
#ifndef IRQVIRT_IRQVIRT_POSTED_IRTE_OWNERSHIP_H_
#define IRQVIRT_IRQVIRT_POSTED_IRTE_OWNERSHIP_H_

#include <cstdint>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "hw/platform.h"
#include "irqvirt/posted/route_error.h"

namespace irqvirt::posted {

using VcpuId = uint32_t;

// One bound IRTE. Guarded by locks clang's analysis cannot name (the owner's, which changes):
struct IrteBinding {
  IrteRef irte;              // immutable
  VcpuId vcpu = 0;           // written under the map mutex and the owner lock(s); read under either
  uint8_t guest_vector = 0;  // the same
  IrteBinding* next = nullptr;  // the owning vCPU's list: under its lock
  IrteBinding* prev = nullptr;
};

// A vCPU's IRTEs: intrusive, so linking and walking allocate nothing. The owning vCPU's lock
// guards it (ABSL_GUARDED_BY at the member).
class IrteList {
 public:
  IrteBinding* head() const { return head_; }
  uint32_t size() const { return size_; }

  void Link(IrteBinding* b) {
    b->prev = nullptr;
    b->next = head_;
    if (head_ != nullptr) head_->prev = b;
    head_ = b;
    ++size_;
  }
  void Unlink(IrteBinding* b) {
    if (b->prev != nullptr)
      b->prev->next = b->next;
    else
      head_ = b->next;
    if (b->next != nullptr) b->next->prev = b->prev;
    b->next = b->prev = nullptr;
    --size_;
  }

 private:
  IrteBinding* head_ = nullptr;
  uint32_t size_ = 0;
};

// What a bind or unbind did, for the router's follow-up (wakes outside the locks, error text).
template <typename WriteResult>
struct OwnershipChange {
  WriteResult write;          // what the router's write returned
  bool bound_before = false;  // the IRTE had an owner
  bool moved = false;         // bind: it had a different owner
  VcpuId previous_owner = 0;  // meaningful when bound_before
};

// `Vcpu` has `typename P::SpinLock lock` and `IrteList irtes ABSL_GUARDED_BY(lock)`.
template <hw::Platform P, typename Vcpu>
class IrteOwnership {
 public:
  // The map key of an IRTE: which entries are the same entry (AMD: a table per device, so device
  // and index; VT-d: one table, so the index alone).
  using KeyFunction = uint64_t (*)(IrteRef);

  IrteOwnership(P& platform, Vcpu* vcpus, KeyFunction key_of)
      : platform_(platform), vcpus_(vcpus), key_of_(key_of) {}

  absl::Mutex& mutex() ABSL_LOCK_RETURNED(mu_) { return mu_; }

  const IrteBinding* Find(IrteRef irte) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = bindings_.find(key_of_(irte));
    return it == bindings_.end() ? nullptr : it->second.get();
  }

  // Binds the IRTE to `vcpu` with `guest_vector`, moving it if another vCPU owns it. `writer`
  // writes the entry, with the locks it names held, and returns R (R::ok()):
  //   R Write(Vcpu& to) ABSL_EXCLUSIVE_LOCKS_REQUIRED(to.lock);  // unbound, or the same owner
  //   R Move(Vcpu& to, Vcpu& from) ABSL_EXCLUSIVE_LOCKS_REQUIRED(to.lock, from.lock);
  // (Named methods, not lambdas: clang 14's analysis misplaces a lambda's or operator()'s
  // parameters when it checks a call.) Only a successful write changes lists.
  template <typename Writer>
  auto Bind(IrteRef irte, VcpuId vcpu, uint8_t guest_vector, Writer&& writer)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const uint64_t key = key_of_(irte);
    auto it = bindings_.find(key);
    IrteBinding* b = it == bindings_.end() ? nullptr : it->second.get();
    std::unique_ptr<IrteBinding> fresh;  // allocated before any spinlock
    if (b == nullptr) {
      fresh = std::make_unique<IrteBinding>();
      fresh->irte = irte;
      b = fresh.get();
    }
    Vcpu& to = vcpus_[vcpu];
    OwnershipChange<decltype(writer.Write(to))> change;
    change.bound_before = fresh == nullptr;
    change.previous_owner = fresh == nullptr ? b->vcpu : 0;
    change.moved = fresh == nullptr && b->vcpu != vcpu;
    if (!change.moved) {
      const hw::IrqFlags flags = platform_.LockIrqSave(to.lock);
      change.write = writer.Write(to);
      if (change.write.ok()) {
        b->vcpu = vcpu;
        b->guest_vector = guest_vector;
        if (fresh != nullptr) to.irtes.Link(b);
      }
      platform_.UnlockIrqRestore(to.lock, flags);
    } else {
      // Both locks, lower id first, so the move is one step nobody can observe half-done.
      Vcpu& from = vcpus_[b->vcpu];
      const bool from_first = b->vcpu < vcpu;
      hw::IrqFlags flags = 0;
      if (from_first) {
        flags = platform_.LockIrqSave(from.lock);
        platform_.LockIrqsOff(to.lock);
      } else {
        flags = platform_.LockIrqSave(to.lock);
        platform_.LockIrqsOff(from.lock);
      }
      change.write = writer.Move(to, from);
      if (change.write.ok()) {
        from.irtes.Unlink(b);
        b->vcpu = vcpu;
        b->guest_vector = guest_vector;
        to.irtes.Link(b);
      }
      if (from_first) {
        platform_.UnlockIrqsOff(to.lock);
        platform_.UnlockIrqRestore(from.lock, flags);
      } else {
        platform_.UnlockIrqsOff(from.lock);
        platform_.UnlockIrqRestore(to.lock, flags);
      }
    }
    if (change.write.ok() && fresh != nullptr) bindings_[key] = std::move(fresh);
    return change;
  }

  // Takes the IRTE from its owner, if any. `writer` writes the entry and returns R:
  //   R WriteUnowned();  // no owner
  //   R WriteOwned(Vcpu& owner) ABSL_EXCLUSIVE_LOCKS_REQUIRED(owner.lock);
  // Only a successful write unlinks and forgets the binding.
  template <typename Writer>
  auto Unbind(IrteRef irte, Writer&& writer) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = bindings_.find(key_of_(irte));
    OwnershipChange<decltype(writer.WriteUnowned())> change;
    if (it == bindings_.end()) {
      change.write = writer.WriteUnowned();
      return change;
    }
    IrteBinding* b = it->second.get();
    change.bound_before = true;
    change.previous_owner = b->vcpu;
    Vcpu& v = vcpus_[b->vcpu];
    const hw::IrqFlags flags = platform_.LockIrqSave(v.lock);
    change.write = writer.WriteOwned(v);
    if (change.write.ok()) v.irtes.Unlink(b);
    platform_.UnlockIrqRestore(v.lock, flags);
    if (change.write.ok()) bindings_.erase(it);
    return change;
  }

  int64_t OwnerOf(IrteRef irte) {
    absl::MutexLock l(&mu_);
    const IrteBinding* b = Find(irte);
    return b == nullptr ? -1 : int64_t{b->vcpu};
  }

  uint32_t OwnedCount(Vcpu& v) {
    const hw::IrqFlags flags = platform_.LockIrqSave(v.lock);
    const uint32_t n = v.irtes.size();
    platform_.UnlockIrqRestore(v.lock, flags);
    return n;
  }

  // Every binding is on exactly its owner's list, and each list is well formed. For each listed
  // binding, `checker` adds the router's own checks of the hardware state:
  //   absl::Status Check(VcpuId id, Vcpu& v, const IrteBinding& b)
  //       ABSL_EXCLUSIVE_LOCKS_REQUIRED(v.lock);
  // `added(id)` says which of vCPUs 0..max_vcpus-1 exist.
  template <typename Added, typename Checker>
  absl::Status CheckLists(uint32_t max_vcpus, Added&& added, Checker&& checker) {
    absl::MutexLock l(&mu_);
    size_t on_lists = 0;
    for (VcpuId id = 0; id < max_vcpus; ++id) {
      if (!added(id)) continue;
      Vcpu& v = vcpus_[id];
      const hw::IrqFlags flags = platform_.LockIrqSave(v.lock);
      absl::Status s = absl::OkStatus();
      uint32_t count = 0;
      for (IrteBinding* b = v.irtes.head(); b != nullptr && s.ok(); b = b->next, ++count) {
        auto it = bindings_.find(key_of_(b->irte));
        if (it == bindings_.end() || it->second.get() != b || b->vcpu != id) {
          s = absl::InternalError(absl::StrFormat("vCPU %u: lists IRTE %#x:%u it does not own", id,
                                                  b->irte.device_id, b->irte.index));
        } else if (b->next != nullptr && b->next->prev != b) {
          s = absl::InternalError(absl::StrFormat("vCPU %u: broken IRTE list", id));
        } else {
          s = checker.Check(id, v, *b);
        }
      }
      if (s.ok() && count != v.irtes.size()) {
        s = absl::InternalError(
            absl::StrFormat("vCPU %u: owned_count %u, list has %u", id, v.irtes.size(), count));
      }
      on_lists += count;
      platform_.UnlockIrqRestore(v.lock, flags);
      if (!s.ok()) return s;
    }
    if (on_lists != bindings_.size()) {
      return absl::InternalError(
          absl::StrFormat("%zu bindings but %zu list entries", bindings_.size(), on_lists));
    }
    return absl::OkStatus();
  }

  // AMD's key: a table per requester.
  static uint64_t PerDeviceKey(IrteRef irte) {
    return (uint64_t{irte.device_id} << 16) | irte.index;
  }

 private:
  P& platform_;
  Vcpu* const vcpus_;
  const KeyFunction key_of_;
  absl::Mutex mu_;
  absl::flat_hash_map<uint64_t, std::unique_ptr<IrteBinding>> bindings_ ABSL_GUARDED_BY(mu_);
};

}  // namespace irqvirt::posted

#endif  // IRQVIRT_IRQVIRT_POSTED_IRTE_OWNERSHIP_H_
