// SPDX-License-Identifier: MIT
#include "tools/decode.h"

#include <fmt/format.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>

#include "hw/amd/avic_table.h"
#include "hw/amd/ga_log_entry.h"
#include "hw/amd/irte32.h"
#include "hw/amd/irte_ga.h"
#include "hw/arm/gicv2_regs.h"
#include "hw/arm/gicv3_regs.h"
#include "hw/arm/gicv5_regs.h"
#include "hw/intel/invalidation_descriptor.h"
#include "hw/intel/irte.h"
#include "hw/intel/pi_desc.h"
#include "hw/reg/format.h"
#include "hw/x86/ioapic_regs.h"

namespace irqvirt::tools {
namespace {

constexpr std::string_view kUsage =
    "usage: decode <kind> <hex words...>\n"
    "kinds:\n"
    "  irte-ga LO HI        AMD IOMMU 128-bit IRTE (view chosen by GuestMode, bit 7)\n"
    "  irte32 V             AMD IOMMU 32-bit legacy IRTE\n"
    "  avic-phys V          AVIC physical APIC ID table entry\n"
    "  ga-log V             AMD IOMMU GA log entry\n"
    "  pi-desc CTRL [PIR0 PIR1 PIR2 PIR3]   VT-d PI descriptor: control word, PIR as 64-bit words\n"
    "  vtd-irte LO HI       VT-d 128-bit IRTE (format chosen by IM, bit 15)\n"
    "  vtd-inv-desc LO HI   VT-d invalidation descriptor (IEC type 4, wait type 5)\n"
    "  ioapic-rte V         I/O APIC redirection table entry\n"
    "  ich-lr V             GICv3 ICH_LR<n>_EL2 (view chosen by HW, bit 61)\n"
    "  ich-hcr V            GICv3 ICH_HCR_EL2\n"
    "  ich-misr V           GICv3 ICH_MISR_EL2\n"
    "  ich-vmcr V           GICv3 ICH_VMCR_EL2\n"
    "  ich-vtr V            GICv3 ICH_VTR_EL2, with the LR and APR counts\n"
    "  gicv5-intid V        GICv5 interrupt ID (32-bit; TYPE 1 PPI, 2 LPI, 3 SPI)\n"
    "  icc-icsr V           GICv5 ICC_ICSR_EL1 (GIC CDRCFG / VDRCFG result)\n"
    "  gich-lr V            GICv2 GICH_LR<n> (view chosen by HW, bit 31)\n"
    "  gich-hcr V           GICv2 GICH_HCR\n"
    "  gich-misr V          GICv2 GICH_MISR\n"
    "  ich-contextr V       GICv5 ICH_CONTEXTR_EL2\n"
    "  ich-vmcr-v5 V        GICv5 (FEAT_GCIE) view of ICH_VMCR_EL2\n"
    "  gic-vdpend V         GICv5 GIC VDPEND operand\n"
    "  gic-vdrcfg V         GICv5 GIC VDRCFG operand\n"
    "hex words may carry a 0x prefix.\n";

std::optional<uint64_t> ParseHex(std::string_view s) {
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) s.remove_prefix(2);
  if (s.empty() || s.size() > 16) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else return std::nullopt;
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  return v;
}

template <typename R>
std::string Describe(const R& r) {
  std::string s = fmt::format("{}\n", r);
  if (r.has_reserved_bits_set()) s += "warning: non-zero reserved bits (marked !)\n";
  return s;
}

DecodeResult Usage(std::string message) {
  return {2, "", fmt::format("decode: {}\n{}", message, kUsage)};
}

}  // namespace

DecodeResult Decode(const std::vector<std::string>& args) {
  if (args.empty()) return Usage("missing kind");
  const std::string& kind = args[0];
  std::vector<uint64_t> words;
  for (size_t i = 1; i < args.size(); ++i) {
    std::optional<uint64_t> v = ParseHex(args[i]);
    if (!v) return Usage(fmt::format("malformed hex word '{}'", args[i]));
    words.push_back(*v);
  }
  auto expect = [&](size_t n) { return words.size() == n; };
  auto fits32 = [&](uint64_t v) { return v <= 0xffffffffu; };

  if (kind == "irte-ga") {
    if (!expect(2)) return Usage("irte-ga takes two 64-bit words: LO HI");
    if (hw::amd::IrteGaIsGuestMode(words[0])) {
      const auto e = hw::amd::IrteGaGuest::FromHalves(words[0], words[1]);
      return {0, Describe(e) + fmt::format("destination={:#x}\n", e.destination()), ""};
    }
    const auto e = hw::amd::IrteGaRemapped::FromHalves(words[0], words[1]);
    return {0, Describe(e) + fmt::format("destination={:#x}\n", e.destination()), ""};
  }
  if (kind == "irte32") {
    if (!expect(1) || !fits32(words[0])) return Usage("irte32 takes one 32-bit word");
    return {0, Describe(hw::amd::Irte32::FromRaw(static_cast<uint32_t>(words[0]))), ""};
  }
  if (kind == "avic-phys") {
    if (!expect(1)) return Usage("avic-phys takes one 64-bit word");
    const auto e = hw::amd::AvicPhysicalIdEntry::FromRaw(words[0]);
    std::string out = Describe(e);
    if (e.ga_log_intent()) out += "note: ga_log_intent is software-only; never write it to the table\n";
    return {0, out, ""};
  }
  if (kind == "ga-log") {
    if (!expect(1)) return Usage("ga-log takes one 64-bit word");
    return {0, Describe(hw::amd::GaLogEntry::FromRaw(words[0])), ""};
  }
  if (kind == "pi-desc") {
    if (!expect(1) && !expect(5)) return Usage("pi-desc takes CTRL, or CTRL and four PIR words");
    std::string out = Describe(hw::intel::PiControl::FromRaw(words[0]));
    if (words.size() == 5) {
      std::string pending;
      for (int w = 0; w < 4; ++w) {
        for (int b = 0; b < 64; ++b) {
          if ((words[1 + w] >> b) & 1) pending += fmt::format(" {:#04x}", w * 64 + b);
        }
      }
      out += fmt::format("pir:{}\n", pending.empty() ? " (empty)" : pending);
    }
    return {0, out, ""};
  }
  if (kind == "vtd-irte") {
    if (!expect(2)) return Usage("vtd-irte takes two 64-bit words: LO HI");
    if (hw::intel::VtdIrteIsPosted(words[0])) {
      const auto e = hw::intel::VtdIrtePosted::FromHalves(words[0], words[1]);
      return {0, Describe(e) + fmt::format("pi_desc_address={:#x}\n", e.pi_desc_address()), ""};
    }
    return {0, Describe(hw::intel::VtdIrteRemapped::FromHalves(words[0], words[1])), ""};
  }
  if (kind == "vtd-inv-desc") {
    if (!expect(2)) return Usage("vtd-inv-desc takes two 64-bit words: LO HI");
    const uint64_t type = hw::intel::VtdDescriptorType(words[0]);
    if (type == hw::intel::kVtdDescriptorIec) {
      return {0, Describe(hw::intel::VtdIecInvalidation::FromHalves(words[0], words[1])), ""};
    }
    if (type == hw::intel::kVtdDescriptorWait) {
      const auto w = hw::intel::VtdInvalidationWait::FromHalves(words[0], words[1]);
      return {0, Describe(w) + fmt::format("status_address={:#x}\n", w.status_address()), ""};
    }
    return Usage(fmt::format(
        "vtd-inv-desc: type {:#x} is not an interrupt-remapping descriptor (IEC 4, wait 5)", type));
  }
  if (kind == "ioapic-rte") {
    if (!expect(1)) return Usage("ioapic-rte takes one 64-bit word");
    return {0, Describe(hw::x86::IoapicRedirectionEntry::FromRaw(words[0])), ""};
  }
  if (kind == "ich-lr") {
    if (!expect(1)) return Usage("ich-lr takes one 64-bit word");
    if (hw::arm::IchLrIsHw(words[0])) {
      return {0, Describe(hw::arm::IchLrHardware::FromRaw(words[0])), ""};
    }
    return {0, Describe(hw::arm::IchLrVirtual::FromRaw(words[0])), ""};
  }
  if (kind == "ich-hcr") {
    if (!expect(1)) return Usage("ich-hcr takes one 64-bit word");
    return {0, Describe(hw::arm::IchHcr::FromRaw(words[0])), ""};
  }
  if (kind == "ich-misr") {
    if (!expect(1)) return Usage("ich-misr takes one 64-bit word");
    return {0, Describe(hw::arm::IchMisr::FromRaw(words[0])), ""};
  }
  if (kind == "ich-vmcr") {
    if (!expect(1)) return Usage("ich-vmcr takes one 64-bit word");
    return {0, Describe(hw::arm::IchVmcr::FromRaw(words[0])), ""};
  }
  if (kind == "ich-vtr") {
    if (!expect(1)) return Usage("ich-vtr takes one 64-bit word");
    const auto v = hw::arm::IchVtr::FromRaw(words[0]);
    return {0,
            Describe(v) + fmt::format("list_registers={} apr_registers={}\n",
                                      v.num_list_registers(), v.num_apr_registers()),
            ""};
  }
  if (kind == "gich-lr") {
    if (!expect(1) || !fits32(words[0])) return Usage("gich-lr takes one 32-bit word");
    const auto lr = static_cast<uint32_t>(words[0]);
    if (hw::arm::GichLrIsHw(lr)) return {0, Describe(hw::arm::GichLrHardware::FromRaw(lr)), ""};
    return {0, Describe(hw::arm::GichLrVirtual::FromRaw(lr)), ""};
  }
  if (kind == "gich-hcr") {
    if (!expect(1) || !fits32(words[0])) return Usage("gich-hcr takes one 32-bit word");
    return {0, Describe(hw::arm::GichHcr::FromRaw(static_cast<uint32_t>(words[0]))), ""};
  }
  if (kind == "gich-misr") {
    if (!expect(1) || !fits32(words[0])) return Usage("gich-misr takes one 32-bit word");
    return {0, Describe(hw::arm::GichMisr::FromRaw(static_cast<uint32_t>(words[0]))), ""};
  }
  if (kind == "gicv5-intid") {
    if (!expect(1) || !fits32(words[0])) return Usage("gicv5-intid takes one 32-bit word");
    return {0, Describe(hw::arm::Gicv5Intid::FromRaw(static_cast<uint32_t>(words[0]))), ""};
  }
  if (kind == "icc-icsr") {
    if (!expect(1)) return Usage("icc-icsr takes one 64-bit word");
    const auto icsr = hw::arm::IccIcsr::FromRaw(words[0]);
    std::string out = Describe(icsr);
    if (icsr.f()) out += "note: F is set: the query was invalid, the other fields mean nothing\n";
    return {0, out, ""};
  }
  if (kind == "ich-contextr") {
    if (!expect(1)) return Usage("ich-contextr takes one 64-bit word");
    return {0, Describe(hw::arm::IchContextr::FromRaw(words[0])), ""};
  }
  if (kind == "ich-vmcr-v5") {
    if (!expect(1)) return Usage("ich-vmcr-v5 takes one 64-bit word");
    return {0, Describe(hw::arm::IchVmcrV5::FromRaw(words[0])), ""};
  }
  if (kind == "gic-vdpend") {
    if (!expect(1)) return Usage("gic-vdpend takes one 64-bit word");
    return {0, Describe(hw::arm::GicVdpendOperand::FromRaw(words[0])), ""};
  }
  if (kind == "gic-vdrcfg") {
    if (!expect(1)) return Usage("gic-vdrcfg takes one 64-bit word");
    return {0, Describe(hw::arm::GicVdrcfgOperand::FromRaw(words[0])), ""};
  }
  return Usage(fmt::format("unknown kind '{}'", kind));
}

}  // namespace irqvirt::tools
