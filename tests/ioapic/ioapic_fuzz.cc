// Fuzz target for the guest-facing I/O APIC: sequences of MMIO reads/writes, line changes, guest
// acknowledges/EOIs, direct LAPIC interrupts and storm-timer expiries. Invariants checked after
// every operation:
//   - Remote IRR is only ever set on level-triggered entries;
//   - an interrupt the I/O APIC delivered during the operation has an unmasked entry with that
//     vector afterwards (a masked entry never delivers);
//   - per pin, Remote IRR clears never outnumber level deliveries (each level delivery is matched
//     by at most one clear);
//   - no crash or sanitizer report.
// Built as a plain library: tests/ioapic/fuzz_corpus_test.cc drives it over the checked-in corpus
// and seeded random inputs; with --config=libfuzzer (clang) it links against libFuzzer.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "tests/ioapic/ioapic_harness.h"

namespace {

using irqvirt::testing::IoapicHarness;

class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool empty() const { return pos_ >= size_; }
  uint8_t Byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  uint32_t Word() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= uint32_t{Byte()} << (8 * i);
    return v;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

[[noreturn]] void Fail(const char* what, int a, int b) {
  std::fprintf(stderr, "ioapic fuzz invariant violated: %s (%d, %d)\n", what, a, b);
  std::abort();
}

constexpr int kVcpus = 4;
constexpr int kPins = 24;
constexpr uint32_t kOffsets[] = {0x00, 0x10, 0x40, 0x20, 0x04, 0xff};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  IoapicHarness h(kVcpus, {.num_pins = kPins, .storm_threshold = 4});
  Reader in(data, size);
  std::vector<uint64_t> before(kVcpus * 256);
  while (!in.empty()) {
    for (int v = 0; v < kVcpus; ++v) {
      for (int vec = 0; vec < 256; ++vec) before[v * 256 + vec] = h.lapics.deliveries(v, static_cast<uint8_t>(vec));
    }
    const uint8_t op = in.Byte();
    bool direct = false;
    switch (op % 8) {
      case 0:
        h.ioapic->MmioWrite(kOffsets[in.Byte() % 6], in.Word());
        break;
      case 1:
        (void)h.ioapic->MmioRead(kOffsets[in.Byte() % 6]);
        break;
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
  return 0;
}
