// SPDX-License-Identifier: MIT
// The bare-metal build profile's absl::StrFormat: the printf-style conversions the core's error
// messages use (d i u x X o c s p %, with flags, width and precision; length modifiers are
// accepted and ignored, since every argument carries its own type as in Abseil), written into a
// fixed buffer that converts to std::string_view. No heap, no libc formatting.
#ifndef IRQVIRT_FREESTANDING_ABSL_STRINGS_STR_FORMAT_H_
#define IRQVIRT_FREESTANDING_ABSL_STRINGS_STR_FORMAT_H_

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

namespace absl {

class FormattedText {
 public:
  static constexpr size_t kCapacity = 191;
  operator std::string_view() const { return {text_, length_}; }  // NOLINT: as std::string
  const char* c_str() const { return text_; }
  size_t size() const { return length_; }

  void Put(char c) {
    if (length_ < kCapacity) text_[length_++] = c;
    text_[length_] = '\0';
  }

 private:
  char text_[kCapacity + 1] = {};
  size_t length_ = 0;
};

namespace freestanding_internal {

struct FormatArg {
  enum class Kind { kSigned, kUnsigned, kChar, kString, kPointer } kind;
  int64_t s = 0;
  uint64_t u = 0;
  std::string_view text;
};

template <typename T>
FormatArg ToFormatArg(const T& v) {
  using D = std::decay_t<T>;
  if constexpr (std::is_same_v<D, char>) {
    return {.kind = FormatArg::Kind::kChar, .s = v};
  } else if constexpr (std::is_same_v<D, bool>) {
    return {.kind = FormatArg::Kind::kUnsigned, .u = v ? 1u : 0u};
  } else if constexpr (std::is_enum_v<D>) {
    return ToFormatArg(static_cast<std::underlying_type_t<D>>(v));
  } else if constexpr (std::is_integral_v<D> && std::is_signed_v<D>) {
    return {.kind = FormatArg::Kind::kSigned, .s = v};
  } else if constexpr (std::is_integral_v<D>) {
    return {.kind = FormatArg::Kind::kUnsigned, .u = v};
  } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
    return {.kind = FormatArg::Kind::kString, .text = std::string_view(v)};
  } else {
    static_assert(std::is_pointer_v<D>, "StrFormat: an argument type this profile lacks");
    return {.kind = FormatArg::Kind::kPointer, .u = reinterpret_cast<uintptr_t>(v)};
  }
}

inline void PutPadded(FormattedText& out, std::string_view body, std::string_view prefix,
                      int width, bool left, bool zero) {
  const int len = static_cast<int>(body.size() + prefix.size());
  const int pad = width > len ? width - len : 0;
  if (!left && !zero) for (int i = 0; i < pad; ++i) out.Put(' ');
  for (char c : prefix) out.Put(c);
  if (!left && zero) for (int i = 0; i < pad; ++i) out.Put('0');
  for (char c : body) out.Put(c);
  if (left) for (int i = 0; i < pad; ++i) out.Put(' ');
}

inline void Format(FormattedText& out, std::string_view fmt, const FormatArg* args, size_t n) {
  size_t next = 0;
  for (size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] != '%') {
      out.Put(fmt[i]);
      continue;
    }
    if (++i >= fmt.size()) break;
    bool left = false, zero = false, alt = false, plus = false, space = false;
    for (;; ++i) {
      if (fmt[i] == '-') left = true;
      else if (fmt[i] == '0') zero = true;
      else if (fmt[i] == '#') alt = true;
      else if (fmt[i] == '+') plus = true;
      else if (fmt[i] == ' ') space = true;
      else break;
    }
    int width = 0;
    while (i < fmt.size() && fmt[i] >= '0' && fmt[i] <= '9') width = width * 10 + (fmt[i++] - '0');
    int precision = -1;
    if (i < fmt.size() && fmt[i] == '.') {
      precision = 0;
      while (++i < fmt.size() && fmt[i] >= '0' && fmt[i] <= '9') {
        precision = precision * 10 + (fmt[i] - '0');
      }
    }
    while (i < fmt.size() && (fmt[i] == 'l' || fmt[i] == 'h' || fmt[i] == 'z' ||
                              fmt[i] == 'j' || fmt[i] == 't')) {
      ++i;
    }
    if (i >= fmt.size()) break;
    const char conv = fmt[i];
    if (conv == '%') {
      out.Put('%');
      continue;
    }
    if (next >= n) {
      for (char c : std::string_view("<missing>")) out.Put(c);
      continue;
    }
    const FormatArg& a = args[next++];
    char digits[24];
    size_t nd = 0;
    auto convert = [&](uint64_t v, unsigned base, bool upper) {
      const char* set = upper ? "0123456789ABCDEF" : "0123456789abcdef";
      do {
        digits[sizeof(digits) - 1 - nd++] = set[v % base];
        v /= base;
      } while (v != 0);
      while (precision >= 0 && nd < static_cast<size_t>(precision) && nd < sizeof(digits)) {
        digits[sizeof(digits) - 1 - nd++] = '0';
      }
    };
    switch (conv) {
      case 'd':
      case 'i':
      case 'u': {
        const bool negative = a.kind == FormatArg::Kind::kSigned && a.s < 0;
        const uint64_t magnitude =
            a.kind == FormatArg::Kind::kSigned
                ? (negative ? 0 - static_cast<uint64_t>(a.s) : static_cast<uint64_t>(a.s))
                : a.u;
        convert(magnitude, 10, false);
        PutPadded(out, std::string_view(digits + sizeof(digits) - nd, nd),
                  negative ? "-" : (plus ? "+" : (space ? " " : "")), width, left,
                  zero && precision < 0);
        break;
      }
      case 'x':
      case 'X':
      case 'o': {
        const uint64_t v = a.kind == FormatArg::Kind::kSigned ? static_cast<uint64_t>(a.s) : a.u;
        convert(v, conv == 'o' ? 8 : 16, conv == 'X');
        const char* prefix = !alt || v == 0 ? "" : (conv == 'o' ? "0" : (conv == 'X' ? "0X" : "0x"));
        PutPadded(out, std::string_view(digits + sizeof(digits) - nd, nd), prefix, width, left,
                  zero && precision < 0);
        break;
      }
      case 'p':
        convert(a.u, 16, false);
        PutPadded(out, std::string_view(digits + sizeof(digits) - nd, nd), "0x", width, left,
                  false);
        break;
      case 'c': {
        const char c = static_cast<char>(a.kind == FormatArg::Kind::kSigned ? a.s : a.u);
        PutPadded(out, std::string_view(&c, 1), "", width, left, false);
        break;
      }
      case 's': {
        std::string_view s = a.text;
        if (precision >= 0 && s.size() > static_cast<size_t>(precision)) s = s.substr(0, precision);
        PutPadded(out, s, "", width, left, false);
        break;
      }
      default:
        out.Put('%');
        out.Put(conv);
    }
  }
}

}  // namespace freestanding_internal

template <typename... Args>
FormattedText StrFormat(std::string_view format, const Args&... args) {
  FormattedText out;
  const freestanding_internal::FormatArg packed[sizeof...(Args) + 1] = {
      freestanding_internal::ToFormatArg(args)...,
      {.kind = freestanding_internal::FormatArg::Kind::kUnsigned}};
  freestanding_internal::Format(out, format, packed, sizeof...(Args));
  return out;
}

}  // namespace absl

#endif  // IRQVIRT_FREESTANDING_ABSL_STRINGS_STR_FORMAT_H_
