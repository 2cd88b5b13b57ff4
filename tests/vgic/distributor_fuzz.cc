// SPDX-License-Identifier: MIT
// Fuzz target for the guest-facing GIC: sequences of distributor and redistributor MMIO
// accesses (every width, misaligned and reserved offsets, garbage values), SGI register writes,
// guest CPU-interface operations (acknowledge, EOI, DIR through the harness's guest model),
// device injections and vCPU entries/exits, for a GICv2 guest on the GICv2 backend or a GICv3
// guest on the GICv3 backend (the input's first byte picks), with 2 LRs so that lists overflow.
// Invariants checked after every operation:
//   - no interrupt is on two AP lists, every entry's own record names the list it is on, and a
//     private interrupt is only on its owner's list; spis_in_flight() counts the SPIs listed;
//   - a read returns nothing above its width;
//   - ISENABLER/ICENABLER, IGROUPR and IPRIORITYR writes read back as the architecture says
//     (set bits set, cleared bits cleared, priorities under the implemented mask), for the
//     INTIDs the frame implements, and zero elsewhere;
//   - after a settle (every vCPU exits and re-enters; an operation the input chooses, and at
//     the end) an interrupt is on an AP list only while pending, active or in an LR;
//   - the platform saw no lock-order or IRQ-state violation; no crash or sanitizer report.
// Built as a plain library: tests/vgic/distributor_fuzz_corpus_test.cc drives it over the
// checked-in corpus and seeded random inputs; with --config=libfuzzer (clang) it links against
// libFuzzer.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <utility>
#include <vector>

#include "hw/arm/gic_distributor_regs.h"
#include "irqvirt/vgic/distributor.h"
#include "irqvirt/vgic/interrupt_registers.h"
#include "irqvirt/vgic/redistributor.h"
#include "irqvirt/vgic/sgi_generation.h"
#include "tests/common/fuzz_input.h"
#include "tests/vgic/vgic_harness.h"

namespace {

using irqvirt::vgic::kNoVcpu;
using irqvirt::vgic::testing::Backend;
using irqvirt::vgic::testing::Platform;
using irqvirt::vgic::testing::VgicHarness;
namespace arm = hw::arm;
namespace vgic = irqvirt::vgic;

using Reader = irqvirt::testing::FuzzInput;

[[noreturn]] void Fail(const char* what, uint64_t a, uint64_t b) {
  std::fprintf(stderr, "vGIC distributor fuzz invariant violated: %s (0x%llx, 0x%llx)\n", what,
               static_cast<unsigned long long>(a), static_cast<unsigned long long>(b));
  std::abort();
}

constexpr uint32_t kVcpus = 4;
constexpr uint32_t kSpis = 32;  // INTIDs 32..63
constexpr uint32_t kIntids = 32 + kSpis;

// Distributor offsets: every register (array bases and their SPI words), the ends of the
// arrays, SGIR and its pending registers, the ID registers of both versions, IROUTER, reserved.
constexpr uint32_t kDistOffsets[] = {
    0x000,  0x004,  0x008,  0x00c,  0x010,  0x080,  0x084,  0x088,  0x0fc, 0x100, 0x104,
    0x108,  0x17c,  0x180,  0x184,  0x188,  0x200,  0x204,  0x208,  0x280, 0x284, 0x300,
    0x304,  0x308,  0x380,  0x384,  0x400,  0x404,  0x410,  0x420,  0x43c, 0x440, 0x7f8,
    0x7fc,  0x800,  0x81c,  0x820,  0x824,  0x83c,  0x840,  0xbf8,  0xc00, 0xc04, 0xc08,
    0xc0c,  0xd00,  0xe00,  0xf00,  0xf10,  0xf14,  0xf20,  0xf2c,  0xfe8, 0xffc, 0x1000,
    0x6000, 0x6100, 0x6108, 0x61f8, 0x6200, 0x7fd8, 0xffe8, 0x10000};
constexpr size_t kNumDistOffsets = sizeof(kDistOffsets) / sizeof(kDistOffsets[0]);
// SGI_base-relative (and RD_base) redistributor offsets.
constexpr uint32_t kRedistOffsets[] = {
    0x0,   0x4,   0x8,   0xc,   0x10,  0x14,  0x70,  0x78,  0x80,  0x100, 0x180, 0x200, 0x280,
    0x300, 0x380, 0x400, 0x404, 0x410, 0x41c, 0x420, 0xc00, 0xc04, 0xc08, 0xd00, 0xe00, 0xffe8};
constexpr size_t kNumRedistOffsets = sizeof(kRedistOffsets) / sizeof(kRedistOffsets[0]);
constexpr uint32_t kSizes[] = {4, 4, 4, 1, 8, 2, 0, 3};

class Run {
 public:
  explicit Run(Backend backend, bool eoi_split)
      : h_({.num_vcpus = kVcpus,
            .num_spis = kSpis,
            .num_list_registers = 2,
            .eoi_mode_split = eoi_split,
            .backend = backend}),
        dist_(h_.vgic()) {
    if (backend == Backend::kGicV3) {
      auto r = vgic::Redistributors<Platform>::Create(h_.vgic());
      if (!r.ok()) Fail("Redistributors::Create", 0, 0);
      redist_ = std::move(*r);
    }
  }

  bool v2() const { return h_.backend() == Backend::kGicV2; }

  void Step(Reader& in) {
    const uint8_t op = in.Byte();
    const uint32_t v = in.Byte() % kVcpus;
    switch (op % 14) {
      case 0:
      case 1: {  // distributor access
        uint64_t offset = kDistOffsets[in.Byte() % kNumDistOffsets];
        const uint8_t nudge = in.Byte();
        if (nudge & 0x80) offset += nudge & 0x7f;
        const uint32_t size = kSizes[in.Byte() % 8];
        if (op % 14 == 0) {
          const uint64_t value = in.Quad();
          h_.WithExit(v, [&] { Check(dist_.Write(v, offset, size, value).ok(), "dist write"); });
        } else {
          h_.WithExit(v, [&] { CheckRead(dist_.Read(v, offset, size), size); });
        }
        break;
      }
      case 2:
      case 3: {  // redistributor access (a GICv2 guest: GICD_SGIR instead)
        if (v2()) {
          const uint32_t sgir = in.Word();
          h_.WithExit(v, [&] { Check(dist_.Write(v, arm::kGicdSgir, 4, sgir).ok(), "SGIR"); });
          break;
        }
        const uint32_t owner = in.Byte() % (kVcpus + 1);  // one past the last: RAZ/WI
        const uint8_t frame = in.Byte();
        uint64_t offset = uint64_t{owner} * arm::kGicrFrameStride +
                          kRedistOffsets[frame % kNumRedistOffsets] +
                          ((frame & 0x80) ? arm::kGicrSgiBase : 0) + ((frame & 0x40) ? 2 : 0);
        const uint32_t size = kSizes[in.Byte() % 8];
        if (op % 14 == 2) {
          const uint64_t value = in.Quad();
          h_.WithExit(v, [&] { Check(redist_->Write(v, offset, size, value).ok(), "GICR write"); });
        } else {
          h_.WithExit(v, [&] { CheckRead(redist_->Read(v, offset, size), size); });
        }
        break;
      }
      case 4: {  // an SGI: ICC_SGI*R_EL1 (GICv3) or GICD_SGIR (GICv2)
        const uint64_t value = in.Quad();
        const uint8_t which = in.Byte();
        h_.WithExit(v, [&] {
          if (v2()) {
            Check(dist_.Write(v, arm::kGicdSgir, 4, value).ok(), "SGIR");
            return;
          }
          const arm::SysRegEncoding reg = which % 3 == 0   ? arm::kIccSgi1rEl1
                                          : which % 3 == 1 ? arm::kIccSgi0rEl1
                                                           : arm::kIccAsgi1rEl1;
          // Mostly small target lists, so that SGIs land.
          const uint64_t v3 = (which & 0x80) ? value : (value & 0x10'0f00'000f);
          Check(vgic::HandleSgiRegisterWrite(h_.vgic(), v, reg, v3).ok(), "SGI1R");
        });
        break;
      }
      case 5:  // guest acknowledges
        if (h_.vcpu(v).in_guest) (void)h_.guest(v).Acknowledge(in.Byte() & 1);
        break;
      case 6:  // guest EOIs
        if (h_.vcpu(v).in_guest) (void)h_.guest(v).EoiNewest();
        break;
      case 7: {  // guest deactivates (EOImode 1), or writes DIR garbage
        const uint8_t b = in.Byte();
        if (!h_.vcpu(v).in_guest) break;
        if (b & 0x80) {
          h_.guest(v).Dir(in.Word() % (kIntids + 8));
        } else if (h_.guest(v).num_waiting_for_dir() > 0) {
          (void)h_.guest(v).DeactivateWaiting(b % h_.guest(v).num_waiting_for_dir());
        }
        break;
      }
      case 8: {  // a device or the host injects (PPIs and SPIs; level or edge as configured)
        const uint8_t b = in.Byte();
        const uint32_t intid = 16 + b % (kIntids - 16);
        Check(h_.vgic().Inject(v, intid, (b & 0x80) == 0).ok(), "Inject");
        h_.DeliverKicks();
        break;
      }
      case 9:  // the vCPU enters or exits
        if (h_.vcpu(v).in_guest) {
          h_.Exit(v);
        } else {
          h_.Enter(v);
        }
        break;
      case 10:
        h_.DeliverKicks();
        break;
      case 11:
        Settle();
        CheckListedOnlyWhilePendingOrActive();
        break;
      case 12:
      case 13:
        ReadBackCheck(in, v);
        break;
    }
    CheckLists();
  }

  void Finish() {
    Settle();
    CheckListedOnlyWhilePendingOrActive();
  }

 private:
  static void Check(bool ok, const char* what) {
    if (!ok) Fail(what, 0, 0);
  }
  static void CheckRead(const absl::StatusOr<uint64_t>& r, uint32_t size) {
    if (!r.ok()) Fail("a read by a vCPU that exists failed", size, 0);
    if (size < 8 && (*r >> (8 * size)) != 0) Fail("a read returned bits above its width", *r, size);
  }

  // The bank of INTIDs a frame implements: GICv2 distributor all, GICv3 distributor SPIs,
  // GICv3 SGI_base frame 0..31.
  uint64_t Read(uint32_t v, bool private_frame, uint32_t offset, uint32_t size) {
    absl::StatusOr<uint64_t> r =
        private_frame && !v2()
            ? redist_->Read(v, uint64_t{v} * arm::kGicrFrameStride + arm::kGicrSgiBase + offset,
                            size)
            : dist_.Read(v, offset, size);
    CheckRead(r, size);
    return *r;
  }
  void Write(uint32_t v, bool private_frame, uint32_t offset, uint32_t size, uint64_t value) {
    const absl::Status s =
        private_frame && !v2()
            ? redist_->Write(v, uint64_t{v} * arm::kGicrFrameStride + arm::kGicrSgiBase + offset,
                             size, value)
            : dist_.Write(v, offset, size, value);
    Check(s.ok(), "write");
  }
  bool Implemented(uint32_t intid, bool private_frame) const {
    if (intid >= kIntids) return false;
    if (v2()) return true;
    return private_frame ? intid < 32 : intid >= 32;
  }

  // Enable, group and priority registers read back as written, from the accessing vCPU.
  void ReadBackCheck(Reader& in, uint32_t v) {
    const uint8_t b = in.Byte();
    const uint32_t value = in.Word();
    const bool private_frame = (b & 0x80) != 0;
    const uint32_t reg = private_frame ? 0 : (b >> 4) % 3;  // bit registers 0..2: INTIDs 0..95
    h_.WithExit(v, [&] {
      uint32_t mask = 0;
      for (uint32_t i = 0; i < 32; ++i) {
        if (Implemented(reg * 32 + i, private_frame)) mask |= 1u << i;
      }
      switch (b % 4) {
        case 0: {
          const uint32_t off = arm::kGicdIsenabler + 4 * reg;
          const uint64_t before = Read(v, private_frame, off, 4);
          Write(v, private_frame, off, 4, value);
          if (Read(v, private_frame, off, 4) != ((before | value) & mask)) {
            Fail("ISENABLER does not read back set", reg, value);
          }
          break;
        }
        case 1: {
          const uint64_t before = Read(v, private_frame, arm::kGicdIsenabler + 4 * reg, 4);
          Write(v, private_frame, arm::kGicdIcenabler + 4 * reg, 4, value);
          if (Read(v, private_frame, arm::kGicdIsenabler + 4 * reg, 4) !=
              (before & ~value & mask)) {
            Fail("ICENABLER does not read back cleared", reg, value);
          }
          break;
        }
        case 2: {
          const uint32_t off = arm::kGicdIgroupr + 4 * reg;
          Write(v, private_frame, off, 4, value);
          if (Read(v, private_frame, off, 4) != (value & mask)) {
            Fail("IGROUPR does not read back", reg, value);
          }
          break;
        }
        case 3: {
          const uint32_t intid = (private_frame ? 0 : 16) + (b >> 2) % (private_frame ? 32 : 80);
          const bool word = (value & 0x100) != 0;
          const uint32_t first = word ? intid & ~3u : intid;
          const uint32_t n = word ? 4 : 1;
          Write(v, private_frame, arm::kGicdIpriorityr + first, n, value);
          const uint64_t got = Read(v, private_frame, arm::kGicdIpriorityr + first, n);
          for (uint32_t i = 0; i < n; ++i) {
            const uint64_t expect = Implemented(first + i, private_frame)
                                        ? ((value >> (8 * i)) & vgic::kImplementedPriorityMask)
                                        : 0;
            if (((got >> (8 * i)) & 0xff) != expect) {
              Fail("IPRIORITYR does not read back", first + i, got);
            }
          }
          break;
        }
      }
    });
  }

  void Settle() {
    for (uint32_t v = 0; v < kVcpus; ++v) {
      if (h_.vcpu(v).in_guest) {
        h_.Exit(v);
        h_.Enter(v);
      } else {
        h_.Enter(v);
        h_.Exit(v);
      }
    }
  }

  void CheckLists() {
    std::set<std::pair<int32_t, uint32_t>> seen;  // (owner or kNoVcpu for SPIs, INTID)
    uint32_t spis = 0;
    for (uint32_t v = 0; v < kVcpus; ++v) {
      for (const auto& e : h_.vgic().ApListEntries(v)) {
        if (!seen.insert({e.owner, e.intid}).second)
          Fail("an interrupt on two AP lists", v, e.intid);
        if (e.listed_on != static_cast<int32_t>(v)) Fail("entry names another list", v, e.intid);
        if (e.owner != kNoVcpu && e.owner != static_cast<int32_t>(v)) {
          Fail("a private interrupt on another vCPU's list", v, e.intid);
        }
        if (e.owner == kNoVcpu) ++spis;
      }
    }
    if (spis != h_.vgic().spis_in_flight()) Fail("spis_in_flight is off", spis, 0);
    if (!h_.platform().violations().empty()) Fail("platform violation", 0, 0);
  }

  void CheckListedOnlyWhilePendingOrActive() {
    for (uint32_t v = 0; v < kVcpus; ++v) {
      for (const auto& e : h_.vgic().ApListEntries(v)) {
        if (!e.pending && !e.active && !e.on_lr) {
          Fail("listed while neither pending, active nor in an LR", v, e.intid);
        }
      }
    }
  }

  VgicHarness h_;
  vgic::Distributor<Platform> dist_;
  std::unique_ptr<vgic::Redistributors<Platform>> redist_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  Reader in(data, size);
  const uint8_t config = in.Byte();
  Run run(config & 1 ? Backend::kGicV2 : Backend::kGicV3, (config & 2) != 0);
  for (int steps = 0; !in.empty() && steps < 2000; ++steps) run.Step(in);
  run.Finish();
  return 0;
}
