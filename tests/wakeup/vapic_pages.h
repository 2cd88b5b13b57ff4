// SPDX-License-Identifier: MIT
// Test helper: separately allocated, zeroed, 4 KiB-aligned vAPIC pages.
#ifndef IRQVIRT_TESTS_WAKEUP_VAPIC_PAGES_H_
#define IRQVIRT_TESTS_WAKEUP_VAPIC_PAGES_H_

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "hw/x86/vapic_page.h"

namespace irqvirt::testing {

struct alignas(4096) VapicPageStorage {
  uint8_t bytes[4096];
};

class VapicPages {
 public:
  explicit VapicPages(size_t n) {
    for (size_t i = 0; i < n; ++i) {
      pages_.push_back(std::make_unique<VapicPageStorage>());
      std::memset(pages_.back()->bytes, 0, sizeof(VapicPageStorage));
    }
  }
  const uint8_t* state(size_t i) const { return pages_[i]->bytes; }
  hw::x86::VapicPage page(size_t i) const { return hw::x86::VapicPage(pages_[i]->bytes); }
  size_t size() const { return pages_.size(); }

 private:
  std::vector<std::unique_ptr<VapicPageStorage>> pages_;
};

}  // namespace irqvirt::testing

#endif  // IRQVIRT_TESTS_WAKEUP_VAPIC_PAGES_H_
