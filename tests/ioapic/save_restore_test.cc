// SPDX-License-Identifier: MIT
// I/O APIC save/restore and reset: a guest migrated at any point of the reconfiguration stories or
// of random sequences sees exactly what it would have seen without the migration; bad snapshots
// are refused and change nothing; Reset gives the power-on state.
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/common/seed.h"
#include "tests/ioapic/ioapic_harness.h"

namespace irqvirt::testing {
namespace {

using ioapic::Ioapic;

// ------------------------------------------------------------------ migration

// What a hypervisor migrates: the LAPICs first, then the I/O APIC; the embedder's wiring (ack
// notifiers) is registered on the destination before Restore. The harness's EOI-exit counters
// are the hypervisor's own observations and move with it.
std::unique_ptr<IoapicHarness> Migrate(IoapicHarness& from, int vcpus,
                                       const ioapic::IoapicOptions& options,
                                       const std::function<void(IoapicHarness&)>& wire) {
  auto to = std::make_unique<IoapicHarness>(vcpus, options);
  if (wire) wire(*to);
  to->lapics.CopyStateFrom(from.lapics);
  const absl::Status s = to->ioapic->Restore(from.ioapic->Save());
  EXPECT_TRUE(s.ok()) << s;
  to->last_eoi_intercepted = from.last_eoi_intercepted;
  to->eois_intercepted = from.eois_intercepted;
  to->eois_not_intercepted = from.eois_not_intercepted;
  return to;
}

// Everything the guest and the hypervisor can observe, for the pins and vectors a test uses.
// Reads the ID through the window and puts IOREGSEL back, as a guest would.
std::string Observe(IoapicHarness& h, int pins, const std::vector<uint8_t>& vectors) {
  std::string s;
  const uint64_t sel = h.ioapic->MmioRead(hw::x86::kIoapicRegSel, 4);
  absl::StrAppend(&s, "sel=", sel, " id=", h.Read(hw::x86::kIoapicSelId), " ");
  h.ioapic->MmioWrite(hw::x86::kIoapicRegSel, 4, sel);
  for (int pin = 0; pin < pins; ++pin) {
    const ioapic::PinStats st = h.ioapic->Stats(pin).value();
    absl::StrAppend(&s, "rte", pin, "=", h.ioapic->Entry(pin).value().raw(), "/", st.deliveries,
                    ",", st.level_deliveries, ",", st.remote_irr_clears, ",",
                    st.deferred_by_storm_guard, " ");
  }
  for (int v = 0; v < h.lapics.num_vcpus(); ++v) {
    absl::StrAppend(&s, "cpu", v, ":stale=", h.ioapic->HighestStalePendingEoi(v).value(),
                    ",rescan=", h.ioapic->RescanPending(v), ",nmi=", h.lapics.nmis(v),
                    ",handled=", h.ioapic->HandledVectors(v).count());
    for (const uint8_t vec : vectors) {
      absl::StrAppend(&s, ",", vec, ":", h.lapics.irr(v, vec), h.lapics.isr(v, vec),
                      h.lapics.tmr(v, vec), h.lapics.deliveries(v, vec),
                      h.ioapic->InterceptsEoi(v, vec).value(), "/",
                      h.ioapic->InterceptedEois(v, vec));
    }
    absl::StrAppend(&s, " ");
  }
  absl::StrAppend(&s, "timer=", h.timer.armed(), " eoi_exits=", h.eois_intercepted, "/",
                  h.eois_not_intercepted, "/", h.last_eoi_intercepted.value_or(false));
  return s;
}

// ------------------------------------------------------------------ the reconfiguration stories

// The stories of ioapic_test.cc (IoapicReconfigure), cut into steps. Each step does what the test
// does and notes what the test asserts; Observe adds the rest after every step.
struct World {
  std::unique_ptr<IoapicHarness> h;
  int acks = 0;
  std::vector<std::string> log;
  void Note(const std::string& s) { log.push_back(s); }
};
using Step = std::function<void(World&)>;
struct Story {
  const char* name;
  std::function<void(World&, IoapicHarness&)> wire;  // ack notifiers, if the story has any
  std::vector<Step> steps;
};

uint32_t HighDword(const RteSpec& s) { return static_cast<uint32_t>(MakeRte(s).raw() >> 32); }

// (a) db2bdcbbbd32: an edge interrupt with an ack notifier is re-routed while pending on vCPU 0.
Story EdgeReroutedWhilePending() {
  return {"edge re-routed while pending",
          [](World& w, IoapicHarness& h) {
            ASSERT_TRUE(h.ioapic->AddAckNotifier(0, [&w](int) { ++w.acks; }).ok());
          },
          {
              [](World& w) { w.h->SetRte(0, {.vector = 0x50, .dest = 0}); },
              [](World& w) { w.h->Line(0, true); },
              [](World& w) { w.h->Line(0, false); },
              [](World& w) { w.h->Write(0x11, HighDword({.vector = 0x50, .dest = 1})); },
              [](World& w) { w.Note(absl::StrCat("ack ", w.h->lapics.Acknowledge(0))); },
              [](World& w) { w.h->lapics.Eoi(0); },
              [](World& w) { w.h->Line(0, true); },
              [](World& w) { w.Note(absl::StrCat("ack ", w.h->lapics.Acknowledge(1))); },
              [](World& w) { w.h->lapics.Eoi(1); },
              [](World& w) { w.Note(absl::StrCat("acks ", w.acks)); },
          }};
}

// (b) 0fc5a36dd6b3: a level handler on vCPU 0 deasserts, re-routes to vCPU 1 (upper dword), EOIs.
std::vector<Step> LevelSelfReconfigureSteps() {
  return {
      [](World& w) { w.h->SetRte(3, {.vector = 0x60, .level = true, .dest = 0}); },
      [](World& w) { w.h->Line(3, true); },
      [](World& w) { w.Note(absl::StrCat("ack ", w.h->lapics.Acknowledge(0))); },
      [](World& w) { w.h->Line(3, false); },
      [](World& w) { w.h->Write(0x17, HighDword({.vector = 0x60, .level = true, .dest = 1})); },
      [](World& w) { w.h->lapics.Eoi(0); },
  };
}

Story LevelReroutedByItsOwnHandler() {
  Story s{"level re-routed by its own handler", nullptr, LevelSelfReconfigureSteps()};
  s.steps.push_back([](World& w) { w.h->Line(3, true); });
  s.steps.push_back([](World& w) { w.Note(absl::StrCat("ack ", w.h->lapics.Acknowledge(1))); });
  s.steps.push_back([](World& w) { w.h->Line(3, false); });
  s.steps.push_back([](World& w) { w.h->lapics.Eoi(1); });
  return s;
}

// (c) 87e4951e250b: after (b), an MSI reusing vector 0x60 on vCPU 0 no longer exits.
Story OldVcpuStopsIntercepting() {
  Story s{"old vCPU stops intercepting", nullptr, LevelSelfReconfigureSteps()};
  for (int i = 0; i < 3; ++i) {
    s.steps.push_back([](World& w) { w.h->lapics.RaiseDirect(0, 0x60); });
    s.steps.push_back([](World& w) { w.Note(absl::StrCat("ack ", w.h->lapics.Acknowledge(0))); });
    s.steps.push_back([](World& w) { w.h->lapics.Eoi(0); });
  }
  return s;
}

// Runs `story`, migrating to a new instance before step `migrate_before` (-1: never). Returns the
// log, and the final snapshot in `final_blob`.
std::vector<std::string> RunStory(const Story& story, int migrate_before,
                                  std::vector<uint8_t>* final_blob) {
  World w;
  w.h = std::make_unique<IoapicHarness>();
  if (story.wire) story.wire(w, *w.h);
  for (size_t i = 0; i < story.steps.size(); ++i) {
    if (static_cast<int>(i) == migrate_before) {
      std::function<void(IoapicHarness&)> wire;
      if (story.wire) wire = [&](IoapicHarness& to) { story.wire(w, to); };
      auto to = Migrate(*w.h, 4, {}, wire);
      w.h = std::move(to);  // the source is gone: only the snapshot crossed over
    }
    story.steps[i](w);
    w.Note(Observe(*w.h, 5, {0x50, 0x60}));
  }
  *final_blob = w.h->ioapic->Save();
  return w.log;
}

TEST(IoapicSaveRestore, ReconfigurationStoriesContinueAfterRestoreAtEveryStep) {
  for (const Story& story :
       {EdgeReroutedWhilePending(), LevelReroutedByItsOwnHandler(), OldVcpuStopsIntercepting()}) {
    std::vector<uint8_t> want_blob;
    const std::vector<std::string> want = RunStory(story, -1, &want_blob);
    for (int k = 0; k <= static_cast<int>(story.steps.size()); ++k) {
      SCOPED_TRACE(absl::StrCat(story.name, ", restored before step ", k));
      std::vector<uint8_t> blob;
      const std::vector<std::string> got = RunStory(story, k, &blob);
      ASSERT_EQ(got.size(), want.size());
      for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(got[i], want[i]) << "observation " << i;
      EXPECT_EQ(blob, want_blob) << "the final state differs";
    }
  }
}

// The mid-flight case by itself, asserted directly: a level interrupt delivered and not yet EOI'd,
// re-routed so that vCPU 0 holds a stale vector, survives the move; its EOI on the new instance
// clears Remote IRR and vCPU 0 stops intercepting.
TEST(IoapicSaveRestore, LevelInFlightWithStaleVectorFinishesOnTheNewInstance) {
  IoapicHarness h;
  h.SetRte(3, {.vector = 0x60, .level = true, .dest = 0});
  h.Line(3, true);
  ASSERT_EQ(h.lapics.Acknowledge(0), 0x60);
  h.Line(3, false);
  h.Write(0x17, HighDword({.vector = 0x60, .level = true, .dest = 1}));
  ASSERT_EQ(h.ioapic->HighestStalePendingEoi(0).value(), 0x60);

  auto to = Migrate(h, 4, {}, nullptr);
  EXPECT_EQ(to->ReadRte(3).remote_irr(), 1u);
  EXPECT_EQ(to->ioapic->HighestStalePendingEoi(0).value(), 0x60);
  EXPECT_TRUE(to->ioapic->InterceptsEoi(0, 0x60).value());
  to->lapics.Eoi(0);
  EXPECT_EQ(to->last_eoi_intercepted, true);
  EXPECT_EQ(to->ReadRte(3).remote_irr(), 0u);
  EXPECT_FALSE(to->ioapic->InterceptsEoi(0, 0x60).value());
  to->Line(3, true);
  EXPECT_EQ(to->lapics.deliveries(1, 0x60), 1u);
}

// Pin 8, level, line held high on a storm threshold of 2: two EOIs later the guard defers the
// next re-delivery (the timer is armed).
void DeferAStormRedelivery(IoapicHarness& h) {
  h.SetRte(8, {.vector = 0x67, .level = true});
  h.Line(8, true);
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(h.lapics.Acknowledge(0), 0x67);
    h.lapics.Eoi(0);
  }
  ASSERT_TRUE(h.timer.armed());
}

// A storm-guard deferral in progress moves too: the new instance's timer is armed, and its expiry
// re-delivers.
TEST(IoapicSaveRestore, DeferredStormRedeliveryIsArmedOnTheNewInstance) {
  const ioapic::IoapicOptions options = {.storm_threshold = 2, .storm_delay_ns = 7'000'000};
  IoapicHarness h(1, options);
  DeferAStormRedelivery(h);
  auto to = Migrate(h, 1, options, nullptr);
  EXPECT_TRUE(to->timer.armed());
  EXPECT_EQ(to->timer.last_delay_ns(), 7'000'000u);
  EXPECT_EQ(to->lapics.Acknowledge(0), -1);
  ASSERT_TRUE(to->timer.Fire());
  to->ioapic->OnStormTimer();
  EXPECT_EQ(to->lapics.Acknowledge(0), 0x67);
}

// The other way round: restoring a snapshot taken with no deferral pending over an instance that
// has one cancels its timer, so no stale expiry reaches the restored state.
TEST(IoapicSaveRestore, SnapshotWithoutDeferralCancelsTheTimer) {
  const ioapic::IoapicOptions options = {.storm_threshold = 2};
  IoapicHarness quiet(1, options);
  IoapicHarness h(1, options);
  DeferAStormRedelivery(h);
  ASSERT_TRUE(h.ioapic->Restore(quiet.ioapic->Save()).ok());
  EXPECT_FALSE(h.timer.armed());
}

// A rescan still pending in a snapshot from an instance with deferred rescans runs at once on an
// instance with rescan_immediately, whose embedder never calls ProcessPendingRescans.
TEST(IoapicSaveRestore, PendingRescanRunsOnRestoreIntoAnImmediateInstance) {
  IoapicHarness deferred(2, {.rescan_immediately = false});
  deferred.ioapic->ProcessPendingRescans(0);
  deferred.ioapic->ProcessPendingRescans(1);
  deferred.SetRte(1, {.vector = 0x40, .level = true, .dest = 1});
  ASSERT_TRUE(deferred.ioapic->RescanPending(1));
  IoapicHarness immediate(2);
  ASSERT_TRUE(immediate.ioapic->Restore(deferred.ioapic->Save()).ok());
  EXPECT_FALSE(immediate.ioapic->RescanPending(1));
  EXPECT_TRUE(immediate.ioapic->InterceptsEoi(1, 0x40).value());
}

// ------------------------------------------------------------------ random sequences

struct Op {
  int kind;
  int a, b, c;
  uint32_t word;
};

constexpr int kPins = 6;
constexpr int kVcpus = 3;
const std::vector<uint8_t> kVectors = {0x40, 0x50, 0x51, 0x90};

void Apply(IoapicHarness& h, const Op& op) {
  const int pin = op.a % kPins;
  const int vcpu = op.a % kVcpus;
  const uint8_t vector = kVectors[op.b % kVectors.size()];
  switch (op.kind) {
    case 0: {  // a whole RTE, as Linux writes it
      static constexpr IoapicDeliveryMode kModes[] = {
          IoapicDeliveryMode::kFixed, IoapicDeliveryMode::kFixed,
          IoapicDeliveryMode::kLowestPriority, IoapicDeliveryMode::kNmi};
      const bool logical = op.c & 1;
      const uint8_t dest =
          logical ? static_cast<uint8_t>((op.c >> 1) & 7)
                  : static_cast<uint8_t>(((op.c >> 1) & 3) == 3 ? 0xff : (op.c >> 1) & 3);
      h.SetRte(pin, {.vector = vector,
                     .level = (op.c & 0x10) != 0,
                     .dest = dest,
                     .logical = logical,
                     .masked = (op.c & 0x60) == 0x60,
                     .mode = kModes[(op.c >> 7) & 3]});
      break;
    }
    case 1:  // re-route by the upper dword only
      h.Write(static_cast<uint8_t>(0x11 + 2 * pin), (op.word & 3u) << 24);
      break;
    case 2:
      h.Line(pin, op.b & 1);
      break;
    case 3:
      (void)h.lapics.Acknowledge(vcpu);
      break;
    case 4:
      (void)h.lapics.Eoi(vcpu);
      break;
    case 5:
      h.lapics.RaiseDirect(vcpu, vector);
      break;
    case 6:
      if (h.timer.Fire()) h.ioapic->OnStormTimer();
      break;
    case 7:
      h.ioapic->MmioWrite(hw::x86::kIoapicEoi, 4, vector);
      break;
    case 8:
      h.ioapic->ProcessPendingRescans(vcpu);
      break;
    case 9:
      h.SetMask(pin, op.b & 1);
      break;
    case 10:  // the guest leaves IOREGSEL anywhere, or writes the ID
      if (op.b & 1) {
        h.Write(hw::x86::kIoapicSelId, op.word);
      } else {
        h.ioapic->MmioWrite(hw::x86::kIoapicRegSel, 4, op.word);
      }
      break;
  }
}

// Saves and restores into a new instance at random points of seeded random sequences: after every
// operation the observations equal those of the same sequence run without migrations.
TEST(IoapicSaveRestore, RandomSequencesAreUnchangedByMigrationsAtRandomPoints) {
  const uint64_t seed = SeedFromEnv("IOAPIC_SAVE_RESTORE_SEED", 0x5eed15);
  std::mt19937_64 rng(seed);
  SCOPED_TRACE(absl::StrCat("IOAPIC_SAVE_RESTORE_SEED=", seed));
  for (int round = 0; round < 40; ++round) {
    const ioapic::IoapicOptions options = {
        .num_pins = kPins, .storm_threshold = 3, .rescan_immediately = round % 2 == 0};
    std::vector<Op> ops(200);
    std::vector<bool> migrate(ops.size());
    for (size_t i = 0; i < ops.size(); ++i) {
      ops[i] = {static_cast<int>(rng() % 11), static_cast<int>(rng() % 64),
                static_cast<int>(rng() % 64), static_cast<int>(rng() % 512),
                static_cast<uint32_t>(rng())};
      migrate[i] = rng() % 16 == 0;
    }
    IoapicHarness plain(kVcpus, options);
    auto moved = std::make_unique<IoapicHarness>(kVcpus, options);
    for (size_t i = 0; i < ops.size(); ++i) {
      if (migrate[i]) moved = Migrate(*moved, kVcpus, options, nullptr);
      Apply(plain, ops[i]);
      Apply(*moved, ops[i]);
      ASSERT_EQ(Observe(*moved, kPins, kVectors), Observe(plain, kPins, kVectors))
          << "round " << round << ", after operation " << i << " (kind " << ops[i].kind << ")";
    }
  }
}

// ------------------------------------------------------------------ the format

uint64_t GetLe(const std::vector<uint8_t>& b, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= uint64_t{b[at + i]} << (8 * i);
  return v;
}

// The documented layout, byte by byte, so that another implementation (or a tool) can read it.
TEST(IoapicSnapshotFormat, FieldsSitAtTheDocumentedOffsetsLittleEndian) {
  IoapicHarness h(2);
  h.Write(hw::x86::kIoapicSelId, 0x0a000000);
  h.SetRte(3, {.vector = 0x61, .level = true, .dest = 1});
  h.Line(3, true);  // delivered to vCPU 1, in its IRR: Remote IRR set
  h.ioapic->MmioWrite(hw::x86::kIoapicRegSel, 4, 0x2d);
  const std::vector<uint8_t> b = h.ioapic->Save();
  constexpr size_t kPin = Ioapic::kSnapshotHeaderSize;
  constexpr size_t kVcpu = kPin + 24 * Ioapic::kSnapshotPinSize;
  ASSERT_EQ(b.size(), kVcpu + 2 * Ioapic::kSnapshotVcpuSize + Ioapic::kSnapshotTrailerSize);
  EXPECT_EQ(std::string(b.begin(), b.begin() + 4), "IOAP");
  EXPECT_EQ(b[4], 1);  // format version 1, little-endian
  EXPECT_EQ(b[5], 0);
  EXPECT_EQ(b[6], 0x20);
  EXPECT_EQ(GetLe(b, 8, 2), 24u);
  EXPECT_EQ(GetLe(b, 10, 2), 2u);
  EXPECT_EQ(b[12], 0x2d);
  EXPECT_EQ(b[13], 0x0a);
  EXPECT_EQ(b[14], 0) << "no storm deferral";
  EXPECT_EQ(GetLe(b, 16, 4), 0u);
  const size_t pin3 = kPin + 3 * Ioapic::kSnapshotPinSize;
  // Vector 0x61, Remote IRR (bit 14), level (bit 15), destination 1 in bits 63:56.
  EXPECT_EQ(GetLe(b, pin3, 8), 0x010000000000c061u);
  EXPECT_EQ(b[pin3], 0x61) << "low byte first";
  EXPECT_EQ(b[pin3 + 8], 1) << "IRR";
  EXPECT_EQ(GetLe(b, pin3 + 16, 8), 1u) << "deliveries";
  EXPECT_EQ(GetLe(b, pin3 + 24, 8), 1u) << "level deliveries";
  EXPECT_EQ(GetLe(b, kPin, 8), 0x10000u) << "pin 0: masked, the power-on value";
  const size_t vcpu1 = kVcpu + Ioapic::kSnapshotVcpuSize;
  EXPECT_EQ(b[vcpu1 + 0x61 / 8], 1 << (0x61 % 8)) << "vCPU 1 intercepts 0x61";
  EXPECT_EQ(GetLe(b, vcpu1 + 32, 2), 0xffffu) << "no stale vector: -1";
  EXPECT_EQ(b[kVcpu + 0x61 / 8], 0) << "vCPU 0 does not";
  const size_t crc_at = b.size() - 4;
  EXPECT_EQ(GetLe(b, crc_at, 4), ioapic::SnapshotCrc32(absl::MakeConstSpan(b.data(), crc_at)));
  // CRC-32 as zlib's: the standard check value of "123456789".
  const std::string check = "123456789";
  EXPECT_EQ(ioapic::SnapshotCrc32(
                absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(check.data()), check.size())),
            0xcbf43926u);
}

// ------------------------------------------------------------------ bad snapshots

void PutLe(std::vector<uint8_t>& b, size_t at, int bytes, uint64_t v) {
  for (int i = 0; i < bytes; ++i) b[at + i] = static_cast<uint8_t>(v >> (8 * i));
}
// Recomputes the trailer so that a test reaches the checks after the checksum.
void Reseal(std::vector<uint8_t>& b) {
  const size_t at = b.size() - Ioapic::kSnapshotTrailerSize;
  PutLe(b, at, 4, ioapic::SnapshotCrc32(absl::MakeConstSpan(b.data(), at)));
}

// A target mid-story (level interrupt in service on vCPU 0) and a valid snapshot of another state
// (several pins programmed, a storm deferral armed), so a partial restore would show.
struct BadBlobFixture {
  BadBlobFixture() : target(4, {.storm_threshold = 2}), source(4, {.storm_threshold = 2}) {
    target.SetRte(3, {.vector = 0x60, .level = true, .dest = 0});
    target.Line(3, true);
    EXPECT_EQ(target.lapics.Acknowledge(0), 0x60);
    source.Write(hw::x86::kIoapicSelId, 0x0a000000);
    for (int pin = 0; pin < 5; ++pin) {
      source.SetRte(pin, {.vector = static_cast<uint8_t>(0x70 + pin),
                          .level = pin % 2 == 1,
                          .dest = static_cast<uint8_t>(pin % 4)});
    }
    source.Line(1, true);
    for (int i = 0; i < 2; ++i) {
      EXPECT_EQ(source.lapics.Acknowledge(1), 0x71);
      source.lapics.Eoi(1);
    }
    EXPECT_TRUE(source.timer.armed());
    good = source.ioapic->Save();
    before = target.ioapic->Save();
    observed = Observe(target, 24, {0x60, 0x70, 0x71});
  }

  void ExpectRefused(const std::vector<uint8_t>& blob, absl::StatusCode code,
                     const std::string& message) {
    const absl::Status s = target.ioapic->Restore(blob);
    EXPECT_EQ(s.code(), code) << s;
    EXPECT_NE(s.message().find(message), std::string::npos) << s;
    EXPECT_EQ(target.ioapic->Save(), before) << "the refused snapshot changed the instance";
    EXPECT_EQ(Observe(target, 24, {0x60, 0x70, 0x71}), observed);
  }

  IoapicHarness target;
  IoapicHarness source;
  std::vector<uint8_t> good;
  std::vector<uint8_t> before;
  std::string observed;
};

constexpr size_t kPinRecords = Ioapic::kSnapshotHeaderSize;  // pin 0's record
size_t PinAt(int pin) { return kPinRecords + pin * Ioapic::kSnapshotPinSize; }
size_t VcpuAt(int vcpu) { return PinAt(24) + vcpu * Ioapic::kSnapshotVcpuSize; }

TEST(IoapicSaveRestoreBadBlob, TheGoodSnapshotIsAcceptedAndReproducesTheSource) {
  BadBlobFixture f;  // the baseline the refusals below are measured against
  ASSERT_TRUE(f.target.ioapic->Restore(f.good).ok());
  EXPECT_EQ(f.target.ioapic->Save(), f.good);
  EXPECT_EQ(f.target.Read(hw::x86::kIoapicSelId), 0x0a000000u);
  EXPECT_EQ(f.target.ReadRte(4).vector(), 0x74u);
}

TEST(IoapicSaveRestoreBadBlob, TruncatedAtEveryLengthOrWithTrailingBytes) {
  BadBlobFixture f;
  for (size_t n = 0; n < f.good.size(); ++n) {
    SCOPED_TRACE(n);
    const std::vector<uint8_t> cut(f.good.begin(), f.good.begin() + static_cast<long>(n));
    const absl::Status s = f.target.ioapic->Restore(cut);
    ASSERT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    ASSERT_NE(s.message().find(n < Ioapic::kSnapshotHeaderSize ? "truncated" : "bytes"),
              std::string::npos)
        << s;
  }
  EXPECT_EQ(f.target.ioapic->Save(), f.before);
  std::vector<uint8_t> longer = f.good;
  longer.push_back(0);
  f.ExpectRefused(longer, absl::StatusCode::kInvalidArgument, "take");
}

TEST(IoapicSaveRestoreBadBlob, FlippedMagicAndCorruptBytes) {
  BadBlobFixture f;
  for (size_t i = 0; i < 4; ++i) {
    std::vector<uint8_t> b = f.good;
    b[i] ^= 0x20;
    f.ExpectRefused(b, absl::StatusCode::kInvalidArgument, "magic");
  }
  // Any flipped bit past the counts is caught by the checksum (a sample of positions).
  for (size_t i = 12; i < f.good.size(); i += 97) {
    SCOPED_TRACE(i);
    std::vector<uint8_t> b = f.good;
    b[i] ^= 0x01;
    f.ExpectRefused(b, absl::StatusCode::kInvalidArgument, "checksum");
  }
}

TEST(IoapicSaveRestoreBadBlob, NewerFormatVersion) {
  BadBlobFixture f;
  std::vector<uint8_t> b = f.good;
  PutLe(b, 4, 2, Ioapic::kSnapshotFormatVersion + 1);
  Reseal(b);
  f.ExpectRefused(b, absl::StatusCode::kInvalidArgument, "newer");
}

TEST(IoapicSaveRestoreBadBlob, AnotherPinCountVcpuCountOrVersion) {
  BadBlobFixture f;
  IoapicHarness three_vcpus(3, {.storm_threshold = 2});
  f.ExpectRefused(three_vcpus.ioapic->Save(), absl::StatusCode::kFailedPrecondition, "3 vCPUs");
  IoapicHarness sixteen_pins(4, {.num_pins = 16, .storm_threshold = 2});
  f.ExpectRefused(sixteen_pins.ioapic->Save(), absl::StatusCode::kFailedPrecondition, "16 pins");
  IoapicHarness v11(4, {.version = 0x11, .storm_threshold = 2});
  f.ExpectRefused(v11.ioapic->Save(), absl::StatusCode::kFailedPrecondition, "version 0x11");
}

TEST(IoapicSaveRestoreBadBlob, OutOfRangeValues) {
  BadBlobFixture f;
  struct Case {
    const char* what;
    std::function<void(std::vector<uint8_t>&)> patch;
    const char* message;
  };
  const Case cases[] = {
      {"ID above 4 bits", [](auto& b) { b[13] = 0x10; }, "ID 16"},
      {"timer flag bit 1", [](auto& b) { b[14] |= 2; }, "reserved header"},
      {"reserved header byte", [](auto& b) { b[15] = 1; }, "reserved header"},
      {"cursor beyond the vCPUs", [](auto& b) { PutLe(b, 16, 4, 5); }, "cursor 5"},
      {"Remote IRR on an edge entry",
       [](auto& b) { b[PinAt(0) + 1] |= 0x40; },  // bit 14; pin 0 is edge-triggered
       "pin 0: Remote IRR"},
      {"Delivery Status", [](auto& b) { b[PinAt(2) + 1] |= 0x10; }, "pin 2: Delivery Status"},
      {"IRR flag not 0 or 1", [](auto& b) { b[PinAt(1) + 8] = 2; }, "pin 1: reserved"},
      {"reserved pin byte", [](auto& b) { b[PinAt(23) + 10] = 1; }, "pin 23: reserved"},
      {"storm count at the threshold", [](auto& b) { PutLe(b, PinAt(1) + 12, 4, 2); },
       "pin 1: storm count 2"},
      {"stale vector 256", [](auto& b) { PutLe(b, VcpuAt(1) + 32, 2, 256); },
       "vCPU 1: highest stale vector 256"},
      {"stale vector below -1", [](auto& b) { PutLe(b, VcpuAt(1) + 32, 2, 0xfffe); },
       "vCPU 1: highest stale vector -2"},
      {"stale vector not intercepted", [](auto& b) { PutLe(b, VcpuAt(3) + 32, 2, 0x33); },
       "vCPU 3: highest stale vector 51"},
      {"rescan flag not 0 or 1", [](auto& b) { b[VcpuAt(2) + 34] = 3; }, "vCPU 2: reserved"},
      {"reserved vCPU byte", [](auto& b) { b[VcpuAt(3) + 39] = 1; }, "vCPU 3: reserved"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    std::vector<uint8_t> b = f.good;
    c.patch(b);
    Reseal(b);
    f.ExpectRefused(b, absl::StatusCode::kInvalidArgument, c.message);
  }
}

// ------------------------------------------------------------------ reset

TEST(IoapicReset, PowerOnStateKeepsNotifiersAndStatistics) {
  IoapicHarness h(2, {.storm_threshold = 2});
  int acks = 0;
  ASSERT_TRUE(h.ioapic->AddAckNotifier(5, [&](int) { ++acks; }).ok());
  h.Write(hw::x86::kIoapicSelId, 0x07000000);
  h.SetRte(5, {.vector = 0x55, .level = true, .dest = 1});
  h.SetRte(6, {.vector = 0x56, .level = true, .dest = 0});
  h.Line(6, true);  // held: re-delivered until the storm guard defers it
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(h.lapics.Acknowledge(0), 0x56);
    h.lapics.Eoi(0);
  }
  ASSERT_TRUE(h.timer.armed());
  h.Line(5, true);  // level interrupt in flight on vCPU 1
  ASSERT_EQ(h.ReadRte(5).remote_irr(), 1u);
  h.ioapic->MmioWrite(hw::x86::kIoapicRegSel, 4, 0x2b);

  h.ioapic->Reset();
  EXPECT_EQ(h.ioapic->MmioRead(hw::x86::kIoapicRegSel, 4), 0u);
  EXPECT_EQ(h.Read(hw::x86::kIoapicSelId), 0u);
  for (int pin = 0; pin < 24; ++pin) {
    EXPECT_EQ(h.Read(static_cast<uint8_t>(0x10 + 2 * pin)), 0x10000u) << pin;  // masked only
    EXPECT_EQ(h.Read(static_cast<uint8_t>(0x11 + 2 * pin)), 0u) << pin;
  }
  EXPECT_FALSE(h.timer.armed()) << "the deferred re-delivery is cancelled";
  for (int v = 0; v < 2; ++v) {
    EXPECT_EQ(h.ioapic->HandledVectors(v).count(), v == 0 ? 1u : 0u)
        << v << ": only the ack notifier's pin, now vector 0 to vCPU 0, is intercepted";
    EXPECT_EQ(h.ioapic->HighestStalePendingEoi(v).value(), -1);
  }
  EXPECT_EQ(h.ioapic->Stats(6).value().deferred_by_storm_guard, 1u) << "statistics are kept";
  // Lines latched before the reset are gone: unmasking a level entry delivers nothing.
  h.SetRte(6, {.vector = 0x56, .level = true, .dest = 0});
  EXPECT_EQ(h.lapics.deliveries(0, 0x56), 2u);
  // The ack notifier is still wired: a fresh level interrupt on pin 5 reaches it at its EOI.
  h.SetRte(5, {.vector = 0x58, .level = true, .dest = 1});
  h.Line(5, true);
  ASSERT_EQ(h.lapics.Acknowledge(1), 0x58);
  h.Line(5, false);
  h.lapics.Eoi(1);
  EXPECT_EQ(acks, 1);
  EXPECT_EQ(h.ReadRte(5).remote_irr(), 0u);
  // The storm guard starts over: a new deferral arms the timer again.
  h.SetRte(7, {.vector = 0x57, .level = true, .dest = 0});
  h.Line(7, true);
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(h.lapics.Acknowledge(0), 0x57);
    h.lapics.Eoi(0);
  }
  EXPECT_TRUE(h.timer.armed());
}

}  // namespace
}  // namespace irqvirt::testing
