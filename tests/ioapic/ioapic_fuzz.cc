// SPDX-License-Identifier: MIT
// Fuzz target for the guest-facing I/O APIC: sequences of MMIO reads/writes (every access size,
// bad sizes, odd and unaligned offsets), line changes, guest acknowledges/EOIs, direct LAPIC
// interrupts and storm-timer expiries. Invariants checked after every operation:
//   - a read returns nothing above its size, and zero for a size that does not exist;
//   - a write that decodes nothing (bad size, odd offset, a byte or word at IOWIN or EOI) changes
//     no RTE and not the selector;
//   - Remote IRR is only ever set on level-triggered entries;
//   - an interrupt the I/O APIC delivered during the operation has an unmasked entry with that
//     vector afterwards (a masked entry never delivers);
//   - per pin, Remote IRR clears never outnumber level deliveries (each level delivery is matched
//     by at most one clear);
//   - every input runs twice, the second time migrated (Save, Restore into a fresh instance)
//     before an operation the input picks: a restored state saves back byte for byte, and the
//     two runs end with the same state and the same deliveries;
//   - no crash or sanitizer report.
// Built as a plain library: tests/ioapic/fuzz_corpus_test.cc drives it over the checked-in corpus
// and seeded random inputs; with --config=libfuzzer (clang) it links against libFuzzer.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "tests/common/fuzz_input.h"
#include "tests/ioapic/ioapic_harness.h"

namespace {

using irqvirt::testing::IoapicHarness;

using Reader = irqvirt::testing::FuzzInput;

[[noreturn]] void Fail(const char* what, int a, int b) {
  std::fprintf(stderr, "ioapic fuzz invariant violated: %s (%d, %d)\n", what, a, b);
  std::abort();
}

constexpr int kVcpus = 4;
constexpr int kPins = 24;
// The registers (twice as likely), odd and unaligned offsets inside and next to them, the rest.
constexpr uint32_t kOffsets[] = {0x00, 0x10, 0x40, 0x00, 0x10, 0x40,  0x01,  0x02,      0x03, 0x04,
                                 0x08, 0x0c, 0x0f, 0x11, 0x12, 0x13,  0x14,  0x18,      0x20, 0x41,
                                 0x42, 0x44, 0x48, 0xfc, 0xff, 0x100, 0x110, 0xfffffff0};
constexpr size_t kNumOffsets = sizeof(kOffsets) / sizeof(kOffsets[0]);
// The four real sizes (dwords twice as likely) and sizes no guest access has.
constexpr uint32_t kSizes[] = {4, 4, 1, 2, 8, 0, 3, 16};

bool RealSize(uint32_t size) { return size == 1 || size == 2 || size == 4 || size == 8; }

// Whether a write of `size` bytes at `offset` may change state (see Ioapic::MmioWrite).
bool WriteDecodes(uint32_t offset, uint32_t size) {
  if (!RealSize(size)) return false;
  if (offset == hw::x86::kIoapicRegSel) return true;
  return (offset == hw::x86::kIoapicWindow || offset == hw::x86::kIoapicEoi) && size >= 4;
}

// Selector and every RTE, read without changing the selector.
std::vector<uint64_t> Snapshot(IoapicHarness& h) {
  std::vector<uint64_t> s{h.ioapic->MmioRead(hw::x86::kIoapicRegSel, 4)};
  for (int pin = 0; pin < kPins; ++pin) s.push_back(h.ioapic->Entry(pin).value().raw());
  return s;
}

// What a run leaves: the I/O APIC's saved state and every vector's delivery count per vCPU.
struct Outcome {
  std::vector<uint8_t> state;
  std::vector<uint64_t> deliveries;
  size_t operations = 0;
  bool operator==(const Outcome&) const = default;
};

// Moves the run to a fresh instance through Save/Restore, as a live migration would (the local
// APICs' state travels separately).
void Migrate(std::unique_ptr<IoapicHarness>& h, const irqvirt::ioapic::IoapicOptions& options) {
  const std::vector<uint8_t> saved = h->ioapic->Save();
  auto copy = std::make_unique<IoapicHarness>(kVcpus, options);
  copy->lapics.CopyStateFrom(h->lapics);
  if (!copy->ioapic->Restore(saved).ok()) Fail("Restore refused a saved state", 0, 0);
  if (copy->ioapic->Save() != saved) Fail("a restored state saves differently", 0, 0);
  h = std::move(copy);
}

// Runs the input's operations, checking the invariants; migrates before operation `migrate_at`
// (== the number of operations: after the last), and checks that the end state restores.
Outcome RunOps(const uint8_t* data, size_t size, size_t migrate_at) {
  const irqvirt::ioapic::IoapicOptions options = {.num_pins = kPins, .storm_threshold = 4};
  auto owned = std::make_unique<IoapicHarness>(kVcpus, options);
  Reader in(data, size);
  std::vector<uint64_t> before(kVcpus * 256);
  size_t op_index = 0;
  for (; !in.empty(); ++op_index) {
    if (op_index == migrate_at) Migrate(owned, options);
    IoapicHarness& h = *owned;
    for (int v = 0; v < kVcpus; ++v) {
      for (int vec = 0; vec < 256; ++vec) before[v * 256 + vec] = h.lapics.deliveries(v, static_cast<uint8_t>(vec));
    }
    const uint8_t op = in.Byte();
    bool direct = false;
    switch (op % 8) {
      case 0: {
        const uint32_t offset = kOffsets[in.Byte() % kNumOffsets];
        const uint32_t size = kSizes[in.Byte() % 8];
        const bool decodes = WriteDecodes(offset, size);
        const std::vector<uint64_t> state = decodes ? std::vector<uint64_t>() : Snapshot(h);
        h.ioapic->MmioWrite(offset, size, in.Quad());
        if (!decodes && Snapshot(h) != state)
          Fail("a write that decodes nothing changed state", offset, size);
        break;
      }
      case 1: {
        const uint32_t offset = kOffsets[in.Byte() % kNumOffsets];
        const uint32_t size = kSizes[in.Byte() % 8];
        const uint64_t v = h.ioapic->MmioRead(offset, size);
        if (!RealSize(size) && v != 0)
          Fail("a read of a size that does not exist returned data", offset, size);
        if (size < 8 && (v >> (8 * size)) != 0)
          Fail("a read returned bits above its size", offset, size);
        break;
      }
      case 2: {
        const uint8_t b = in.Byte();
        (void)h.ioapic->SetIrq(b % (kPins + 2) - 1, (b & 0x80) != 0);  // includes bad pins
        break;
      }
      case 3:
        (void)h.lapics.Acknowledge(in.Byte() % kVcpus);
        break;
      case 4:
        (void)h.lapics.Eoi(in.Byte() % kVcpus);
        break;
      case 5: {
        const int v = in.Byte() % kVcpus;
        h.lapics.RaiseDirect(v, in.Byte());
        direct = true;
        break;
      }
      case 6:
        if (h.timer.Fire()) h.ioapic->OnStormTimer();
        break;
      case 7: {  // a whole RTE half through IOREGSEL/IOWIN, the common guest pattern
        const uint8_t sel = static_cast<uint8_t>(0x10 + in.Byte() % (2 * kPins + 4));
        h.Write(sel, in.Word());
        break;
      }
    }
    for (int pin = 0; pin < kPins; ++pin) {
      const auto e = h.ioapic->Entry(pin).value();
      if (e.remote_irr() && !e.trigger_mode()) Fail("Remote IRR on an edge entry", pin, 0);
      const auto s = h.ioapic->Stats(pin).value();
      if (s.remote_irr_clears > s.level_deliveries) Fail("more Remote IRR clears than level deliveries", pin, 0);
    }
    if (direct) continue;
    for (int v = 0; v < kVcpus; ++v) {
      for (int vec = 0; vec < 256; ++vec) {
        if (h.lapics.deliveries(v, static_cast<uint8_t>(vec)) == before[v * 256 + vec]) continue;
        bool unmasked_source = false;
        for (int pin = 0; pin < kPins; ++pin) {
          const auto e = h.ioapic->Entry(pin).value();
          unmasked_source |= e.vector() == static_cast<uint64_t>(vec) && !e.mask();
        }
        if (!unmasked_source) Fail("delivery from a masked entry", v, vec);
      }
    }
  }
  if (op_index == migrate_at) Migrate(owned, options);
  Outcome out{owned->ioapic->Save(), {}, op_index};
  for (int v = 0; v < kVcpus; ++v) {
    for (int vec = 0; vec < 256; ++vec) {
      out.deliveries.push_back(owned->lapics.deliveries(v, static_cast<uint8_t>(vec)));
    }
  }
  Migrate(owned, options);  // whatever state an input reaches, Restore takes it back
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The same operations twice: straight through, and migrated before an operation picked from
  // the input's length (a stand-in for a random point, reproducible per input). A migration must
  // change nothing the guest or the host can observe.
  const Outcome straight = RunOps(data, size, ~size_t{0});
  const size_t point = (size * 2654435761u) % (straight.operations + 1);
  if (RunOps(data, size, point) != straight) Fail("a Save/Restore midway changed the outcome", 0, 0);
  return 0;
}
