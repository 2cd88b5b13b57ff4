#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the bare-metal QEMU image into $1 (default: build/qemu_gicv3 under the repository).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-build/qemu_gicv3}
mkdir -p "$out/include/absl"
# Abseil's header-only base (thread annotations, attributes, config) from Debian's libabsl-dev;
# status and str_format come from the freestanding profile (tools/qemu_gicv3/freestanding).
ln -sfn /usr/include/absl/base "$out/include/absl/base"
CXX=aarch64-linux-gnu-g++
flags=(-std=c++20 -O2 -g -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers
  -fno-exceptions -fno-rtti -fno-asynchronous-unwind-tables -fno-unwind-tables
  -fno-threadsafe-statics -fno-stack-protector -fno-pie -no-pie
  -mgeneral-regs-only -mstrict-align -mno-outline-atomics
  -I. -Itools/qemu_gicv3/freestanding -I"$out/include")
objs=()
for src in tools/qemu_gicv3/start.S tools/qemu_gicv3/runtime.cc tools/qemu_gicv3/el2.cc \
    tools/qemu_gicv3/guest.cc; do
  obj="$out/$(basename "$src").o"
  "$CXX" "${flags[@]}" -c "$src" -o "$obj"
  objs+=("$obj")
done
"$CXX" "${flags[@]}" -nostdlib -static -T tools/qemu_gicv3/image.ld -Wl,--gc-sections \
  -o "$out/image.elf" "${objs[@]}" \
  -L/usr/lib/picolibc/aarch64-linux-gnu/lib -lc "$("$CXX" -print-libgcc-file-name)"
echo "$out/image.elf"
