// SPDX-License-Identifier: MIT
// Generic fmt::formatter for every hw::reg register: prints each field by name, in declaration
// order, as `Name{field=0x1f flag=1 ...}`. Non-zero reserved ranges are appended and flagged
// with `!` (`rsvd[11:8]=0x3!`) so a decoder shows malformed values at a glance.
#ifndef IRQVIRT_HW_REG_FORMAT_H_
#define IRQVIRT_HW_REG_FORMAT_H_

#include <fmt/format.h>

#include <string>

#include "hw/reg/register.h"

namespace hw::reg {

template <typename R>
  requires IsRegister<R>
std::string FormatFields(const R& r) {
  std::string out = fmt::format("{}{{", R::kName);
  bool first = true;
  for (const FieldSpec& f : Fields<R>()) {
    const uint64_t v = r.Get(f);
    if (f.reserved && v == 0) continue;
    if (!first) out += ' ';
    first = false;
    if (f.reserved) {
      out += fmt::format("rsvd[{}:{}]={:#x}!", f.msb, f.lsb, v);
    } else if (f.width() == 1) {
      out += fmt::format("{}={}", f.name, v);
    } else {
      out += fmt::format("{}={:#x}", f.name, v);
    }
  }
  out += '}';
  return out;
}

}  // namespace hw::reg

template <typename R>
  requires hw::reg::IsRegister<R>
struct fmt::formatter<R> : fmt::formatter<std::string_view> {
  template <typename FormatContext>
  auto format(const R& r, FormatContext& ctx) const {
    return fmt::formatter<std::string_view>::format(hw::reg::FormatFields(r), ctx);
  }
};

#endif  // IRQVIRT_HW_REG_FORMAT_H_
