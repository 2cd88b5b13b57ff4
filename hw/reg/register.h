// SPDX-License-Identifier: MIT
// hw::reg — typed hardware registers and in-memory entries, declared like a datasheet table.
//
//   class Irte32 : public hw::reg::Register<Irte32, 32> {
//    public:
//     IRQVIRT_REGISTER("Irte32");
//     IRQVIRT_FIELD(0, 0, valid);            // AMD IOMMU spec 48882 §2.2.5.1
//     IRQVIRT_FIELD(23, 16, vector);
//     IRQVIRT_RESERVED(31, 24);
//   };
//
// Bit positions are absolute within the register (0..127 for a 128-bit entry, which is stored
// as two 64-bit halves; a field never straddles the halves). Each IRQVIRT_FIELD line defines
// `name()`, `set_name(v)` (debug-checked: a value wider than the field aborts in debug
// builds and is truncated to the field in release builds, so neighbours are never touched) and
// `try_set_name(v)` (returns InvalidArgumentError). Fields are enumerated at compile time from
// the declarations, so the generic fmt::formatter and the reserved-bit mask need no second list.
#ifndef IRQVIRT_HW_REG_REGISTER_H_
#define IRQVIRT_HW_REG_REGISTER_H_

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace hw::reg {

// One named bit range. `reserved` ranges are printed only when non-zero.
struct FieldSpec {
  std::string_view name;
  int msb;
  int lsb;
  bool reserved;

  constexpr int width() const { return msb - lsb + 1; }
  constexpr int word() const { return lsb / 64; }
  constexpr int shift() const { return lsb % 64; }
  // Mask of the field's value, not shifted into place.
  constexpr uint64_t value_mask() const {
    return width() == 64 ? ~uint64_t{0} : ((uint64_t{1} << width()) - 1);
  }
  constexpr uint64_t mask_in_word() const { return value_mask() << shift(); }
  constexpr bool fits(uint64_t value) const { return (value & ~value_mask()) == 0; }
};

// Tag type indexing the compile-time list of a register's fields.
template <int N>
struct FieldIndex {};

// Reports a programming error (a value wider than its field) in debug builds.
[[noreturn]] inline void FieldOverflow(std::string_view reg, std::string_view field,
                                       uint64_t value, int width) {
  std::fprintf(stderr, "%.*s.%.*s: value 0x%llx does not fit in %d bits\n",
               static_cast<int>(reg.size()), reg.data(), static_cast<int>(field.size()),
               field.data(), static_cast<unsigned long long>(value), width);
  std::abort();
}

template <typename Derived, int kWidthBits>
class Register {
 public:
  static_assert(kWidthBits == 32 || kWidthBits == 64 || kWidthBits == 128,
                "registers are 32, 64 or 128 bits wide");
  static constexpr int kWidth = kWidthBits;
  static constexpr int kWords = kWidthBits == 128 ? 2 : 1;
  using Raw = std::conditional_t<kWidthBits == 32, uint32_t, uint64_t>;

  constexpr Register() = default;

  // Single-word registers.
  static constexpr Derived FromRaw(Raw raw)
    requires(kWords == 1)
  {
    Derived d;
    d.words_[0] = raw;
    return d;
  }
  constexpr Raw raw() const
    requires(kWords == 1)
  {
    return static_cast<Raw>(words_[0]);
  }
  constexpr Derived& set_raw(Raw raw)
    requires(kWords == 1)
  {
    words_[0] = raw;
    return self();
  }

  // 128-bit entries: low half is bits 63:0, high half bits 127:64.
  static constexpr Derived FromHalves(uint64_t lo, uint64_t hi)
    requires(kWords == 2)
  {
    Derived d;
    d.words_[0] = lo;
    d.words_[1] = hi;
    return d;
  }
  constexpr uint64_t lo() const
    requires(kWords == 2)
  {
    return words_[0];
  }
  constexpr uint64_t hi() const
    requires(kWords == 2)
  {
    return words_[1];
  }

  constexpr uint64_t word(int i) const { return words_[i]; }
  constexpr Derived& set_word(int i, uint64_t v) {
    words_[i] = v;
    return self();
  }

  // Non-zero reserved bits in word i (0 for a well-formed value).
  constexpr uint64_t reserved_bits_set(int i) const { return words_[i] & ReservedMask(i); }
  constexpr bool has_reserved_bits_set() const {
    for (int i = 0; i < kWords; ++i) {
      if (reserved_bits_set(i) != 0) return true;
    }
    return false;
  }

  // Reads any field by its spec (used by the formatter and by generic code).
  constexpr uint64_t Get(const FieldSpec& f) const {
    return (words_[f.word()] >> f.shift()) & f.value_mask();
  }

  static constexpr uint64_t ReservedMask(int i);

  friend constexpr bool operator==(const Register& a, const Register& b) {
    return a.words_ == b.words_;
  }

 protected:
  using Self = Derived;

  template <int kMsb, int kLsb>
  static constexpr FieldSpec Spec(std::string_view name, bool reserved = false) {
    static_assert(kMsb >= kLsb, "field bits are written msb, lsb");
    static_assert(kMsb < kWidthBits, "field lies outside the register");
    static_assert(kMsb / 64 == kLsb / 64, "a field may not straddle the 64-bit halves");
    return FieldSpec{name, kMsb, kLsb, reserved};
  }

  constexpr Derived& SetChecked(const FieldSpec& f, uint64_t value) {
#ifndef NDEBUG
    if (!f.fits(value)) FieldOverflow(Derived::kName, f.name, value, f.width());
#endif
    uint64_t& w = words_[f.word()];
    w = (w & ~f.mask_in_word()) | ((value & f.value_mask()) << f.shift());
    return self();
  }

  absl::Status TrySet(const FieldSpec& f, uint64_t value) {
    if (!f.fits(value)) {
      return absl::InvalidArgumentError(absl::StrFormat("%s.%s: value 0x%x does not fit in %d bits",
                                                        Derived::kName, f.name, value, f.width()));
    }
    SetChecked(f, value);
    return absl::OkStatus();
  }

 private:
  constexpr Derived& self() { return static_cast<Derived&>(*this); }

  std::array<uint64_t, kWords> words_{};
};

// Compile-time enumeration of a register's declared fields (including reserved ranges).
template <typename R, int N>
concept HasFieldAt = requires { R::FieldSpecAt(FieldIndex<N>{}); };

template <typename R, int N = 0>
constexpr int FieldCount() {
  if constexpr (HasFieldAt<R, N>) {
    return FieldCount<R, N + 1>();
  } else {
    return N;
  }
}

template <typename R>
constexpr auto Fields() {
  return []<int... I>(std::integer_sequence<int, I...>) {
    return std::array<FieldSpec, sizeof...(I)>{R::FieldSpecAt(FieldIndex<I>{})...};
  }(std::make_integer_sequence<int, FieldCount<R>()>{});
}

template <typename Derived, int kWidthBits>
constexpr uint64_t Register<Derived, kWidthBits>::ReservedMask(int i) {
  uint64_t mask = 0;
  for (const FieldSpec& f : Fields<Derived>()) {
    if (f.reserved && f.word() == i) mask |= f.mask_in_word();
  }
  return mask;
}

// True when every bit of the register is covered by exactly one field or reserved range:
// the datasheet table has no gaps and no overlaps. Checked with static_assert per register.
template <typename R>
constexpr bool LayoutIsComplete() {
  std::array<uint64_t, R::kWords> seen{};
  for (const FieldSpec& f : Fields<R>()) {
    if ((seen[f.word()] & f.mask_in_word()) != 0) return false;
    seen[f.word()] |= f.mask_in_word();
  }
  for (int i = 0; i < R::kWords; ++i) {
    const int bits = R::kWidth == 32 ? 32 : 64;
    const uint64_t all = bits == 64 ? ~uint64_t{0} : ((uint64_t{1} << bits) - 1);
    if (seen[i] != all) return false;
  }
  return true;
}

template <typename R>
concept IsRegister = requires {
  { R::kName } -> std::convertible_to<std::string_view>;
  R::kWidth;
} && std::is_base_of_v<Register<R, R::kWidth>, R>;

}  // namespace hw::reg

// Declares the register's printable name and opens its field list.
#define IRQVIRT_REGISTER(printable_name)                       \
  static constexpr std::string_view kName = printable_name;    \
  static constexpr int kFieldCounterBase_ = __COUNTER__

#define IRQVIRT_REG_INDEX_ ::hw::reg::FieldIndex<__COUNTER__ - kFieldCounterBase_ - 1>

// A named field at bits msb..lsb (inclusive, absolute).
#define IRQVIRT_FIELD(msb, lsb, name)                                                   \
  static constexpr ::hw::reg::FieldSpec FieldSpecAt(IRQVIRT_REG_INDEX_) {               \
    return Spec<msb, lsb>(#name);                                                       \
  }                                                                                     \
  static constexpr ::hw::reg::FieldSpec name##_field() { return Spec<msb, lsb>(#name); } \
  constexpr uint64_t name() const { return Get(name##_field()); }                       \
  constexpr Self& set_##name(uint64_t value) { return SetChecked(name##_field(), value); } \
  ::absl::Status try_set_##name(uint64_t value) { return TrySet(name##_field(), value); }

// Reserved bits msb..lsb: no accessors; counted in the reserved mask and flagged when set.
#define IRQVIRT_RESERVED(msb, lsb)                                        \
  static constexpr ::hw::reg::FieldSpec FieldSpecAt(IRQVIRT_REG_INDEX_) { \
    return Spec<msb, lsb>("rsvd", /*reserved=*/true);                     \
  }

#endif  // IRQVIRT_HW_REG_REGISTER_H_
