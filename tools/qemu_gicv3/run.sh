#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the bare-metal image and runs irqvirt's vGIC core and GICv3 backend at EL2 under QEMU
# (-M virt,virtualization=on,gic-version=3), with an EL1 guest driving QEMU's GICv3 virtual CPU
# interface through the differential scenarios (tests/vgic/differential). Then runs the same
# scenarios on the fake and compares the two observation logs. Installs what it needs from
# Debian (as ./bazelw does). A missing tool is a failure, never a skip.
# Prints "PASS: ..." / "FAIL: ..." per check and ends with "qemu_gicv3: N passed, N failed".
# --update-known-differences rewrites known_differences.diff from this run (then explain every
# hunk in README.md, with the architecture section that decides it).
set -uo pipefail
cd "$(dirname "$0")/../.."
here=tools/qemu_gicv3
out=${QEMU_GICV3_OUT:-build/qemu_gicv3}
readonly CPUS=(cortex-a57 max)
readonly REQUIRED_PACKAGES=(qemu-system-arm g++-aarch64-linux-gnu picolibc-aarch64-linux-gnu
  libabsl-dev)

passed=0
failed=0
pass() { echo "PASS: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
finish() {
  echo "qemu_gicv3: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit $?
}

# shellcheck source=tools/debian_packages.sh
source tools/debian_packages.sh
if ! install_debian_packages "${REQUIRED_PACKAGES[@]}"; then
  fail "installing ${REQUIRED_PACKAGES[*]}"
fi
for tool in qemu-system-aarch64 aarch64-linux-gnu-g++; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    fail "$tool is not installed: the QEMU check cannot run"
    finish
  fi
done

mkdir -p "$out"
if "$here/build.sh" "$out" >"$out/build.log" 2>&1; then
  pass "image built ($out/image.elf)"
else
  cat "$out/build.log"
  fail "building the image"
  finish
fi

if ./bazelw build -c fastbuild //tests/vgic/differential:fake_observations >"$out/bazel.log" 2>&1 &&
    bazel-bin/tests/vgic/differential/fake_observations >"$out/fake.log"; then
  pass "differential scenarios on the fake"
else
  tail -n 40 "$out/bazel.log"
  fail "differential scenarios on the fake (see $out/fake.log)"
fi

for cpu in "${CPUS[@]}"; do
  log="$out/qemu-$cpu.log"
  timeout 120 qemu-system-aarch64 -M virt,virtualization=on,gic-version=3 -cpu "$cpu" -m 256M \
    -nodefaults -display none -semihosting-config enable=on,target=native \
    -kernel "$out/image.elf" >"$log" 2>&1
  rc=$?
  grep '^#' "$log" | sed "s/^/  [$cpu] /"
  if [ "$rc" -eq 0 ]; then
    pass "every scenario and profile on QEMU -cpu $cpu (semihosting exit status 0)"
  else
    grep -E '^(FAIL|== )' "$log" | grep -B1 '^FAIL' | head -40
    fail "scenarios on QEMU -cpu $cpu: exit status $rc (1: a failed expectation, 2: a fault, 124: time-out)"
  fi
  grep -v '^#' "$log" >"$out/qemu-$cpu.observations"
  diff "$out/fake.log" "$out/qemu-$cpu.observations" >"$out/differences-$cpu.diff"
  if [ "${1:-}" = "--update-known-differences" ] && [ "$cpu" = "${CPUS[0]}" ]; then
    { echo "# SPDX-License-Identifier: MIT"; cat "$out/differences-$cpu.diff"; } \
      >"$here/known_differences.diff"
  fi
  # The first line of the known differences is its licence line.
  if diff -u <(tail -n +2 "$here/known_differences.diff") "$out/differences-$cpu.diff" \
      >"$out/unexplained-$cpu.diff"; then
    pass "fake and QEMU -cpu $cpu observe the same, but for the explained differences ($here/README.md)"
  else
    head -n 60 "$out/unexplained-$cpu.diff"
    fail "fake and QEMU -cpu $cpu differ beyond $here/known_differences.diff ($out/unexplained-$cpu.diff)"
  fi
done
finish
