#!/usr/bin/env bash
# The decode binary: exit 0 and fields for good input, exit 2 and usage for bad input.
set -u
bin=tools/decode
fail=0
out=$($bin irte32 0x00310305) || { echo "good input exited $?"; fail=1; }
[[ "$out" == *"vector=0x31"* ]] || { echo "missing field in: $out"; fail=1; }
$bin nosuchkind 0 >/dev/null 2>&1; rc=$?
[ "$rc" -eq 2 ] || { echo "unknown kind exited $rc, want 2"; fail=1; }
$bin irte32 0xg >/dev/null 2>&1; rc=$?
[ "$rc" -eq 2 ] || { echo "malformed hex exited $rc, want 2"; fail=1; }
# GICv3 kinds: a pending group-1 level SPI 0x20 with EOI, priority 0xa0 (bits 62, 60, 55:48, 41).
out=$($bin ich-lr 0x50a0020000000020) || { echo "ich-lr exited $?"; fail=1; }
[[ "$out" == "IchLrVirtual{vintid=0x20 eoi=1 priority=0xa0 nmi=0 group=1 hw=0 state=0x1}" ]] ||
  { echo "ich-lr: $out"; fail=1; }
out=$($bin ich-lr 0xb0a0001b0000001b) || { echo "ich-lr hw exited $?"; fail=1; }
[[ "$out" == *"IchLrHardware{vintid=0x1b pintid=0x1b"*"hw=1 state=0x2}"* ]] ||
  { echo "ich-lr hw: $out"; fail=1; }
out=$($bin ich-vtr 0x90080003) || { echo "ich-vtr exited $?"; fail=1; }
[[ "$out" == *"list_registers=4 apr_registers=1"* ]] || { echo "ich-vtr: $out"; fail=1; }
for kind in ich-hcr ich-misr ich-vmcr; do
  $bin $kind 0x1 >/dev/null || { echo "$kind exited $?"; fail=1; }
  $bin $kind >/dev/null 2>&1; rc=$?
  [ "$rc" -eq 2 ] || { echo "$kind without a word exited $rc, want 2"; fail=1; }
done
err=$($bin 2>&1 >/dev/null)
[[ "$err" == *"usage: decode"* ]] || { echo "no usage on stderr: $err"; fail=1; }
exit $fail
