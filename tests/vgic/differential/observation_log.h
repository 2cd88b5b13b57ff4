// SPDX-License-Identifier: MIT
// What a guest and its hypervisor observed during a differential scenario, as text lines in a
// fixed buffer: the same code writes it on the fake (hosted) and inside the QEMU image (EL1 and
// EL2 both append), so that the two logs compare byte for byte. No allocation, no libc
// formatting: Printf knows %u, %x (unsigned, 64-bit) and %s, which is all the log needs.
#ifndef IRQVIRT_TESTS_VGIC_DIFFERENTIAL_OBSERVATION_LOG_H_
#define IRQVIRT_TESTS_VGIC_DIFFERENTIAL_OBSERVATION_LOG_H_

#include <cstddef>
#include <cstdint>
#include <initializer_list>

namespace irqvirt::vgic::differential {

class ObservationLog {
 public:
  static constexpr size_t kCapacity = 48 * 1024;

  // One argument of Printf: an unsigned number or a C string.
  struct Arg {
    Arg(uint64_t v) : number(v) {}  // NOLINT: implicit, for Printf's argument list
    Arg(uint32_t v) : number(v) {}  // NOLINT
    Arg(int v) : number(static_cast<uint64_t>(v)) {}  // NOLINT
    Arg(const char* s) : text(s) {}  // NOLINT
    uint64_t number = 0;
    const char* text = nullptr;
  };

  // Appends one line: `format` with %u, %x and %s replaced in order, then a newline.
  void Printf(const char* format, std::initializer_list<Arg> args = {}) {
    const Arg* next = args.begin();
    for (const char* p = format; *p != '\0'; ++p) {
      if (*p != '%' || p[1] == '\0') {
        Put(*p);
        continue;
      }
      const char conv = *++p;
      if (next == args.end()) {
        Put('?');
        continue;
      }
      const Arg& a = *next++;
      if (conv == 's') {
        for (const char* s = a.text != nullptr ? a.text : "(null)"; *s != '\0'; ++s) Put(*s);
      } else {
        PutNumber(a.number, conv == 'x' ? 16 : 10);
      }
    }
    Put('\n');
  }

  // NUL-terminated contents (cut at kCapacity; overflowed() says so).
  const char* text() const { return buffer_; }
  size_t size() const { return size_; }
  bool overflowed() const { return overflowed_; }
  void Clear() {
    size_ = 0;
    buffer_[0] = '\0';
    overflowed_ = false;
  }

 private:
  void Put(char c) {
    if (size_ + 1 >= kCapacity) {
      overflowed_ = true;
      return;
    }
    buffer_[size_++] = c;
    buffer_[size_] = '\0';
  }
  void PutNumber(uint64_t v, unsigned base) {
    char digits[20];
    int n = 0;
    do {
      digits[n++] = "0123456789abcdef"[v % base];
      v /= base;
    } while (v != 0);
    while (n > 0) Put(digits[--n]);
  }

  char buffer_[kCapacity] = {};
  size_t size_ = 0;
  bool overflowed_ = false;
};

}  // namespace irqvirt::vgic::differential

#endif  // IRQVIRT_TESTS_VGIC_DIFFERENTIAL_OBSERVATION_LOG_H_
