#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
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
# VT-d kinds (values worked out in tests/hw/intel_registers_test.cc).
out=$($bin vtd-irte 0x2345678000418001 0x00000001000400a0) || { echo "vtd-irte exited $?"; fail=1; }
[[ "$out" == *"virtual_vector=0x41"*"pi_desc_address=0x123456780"* ]] || { echo "vtd-irte: $out"; fail=1; }
out=$($bin vtd-inv-desc 0x0000123400000014 0) || { echo "vtd-inv-desc exited $?"; fail=1; }
[[ "$out" == *"index_selective=1"*"index=0x1234"* ]] || { echo "vtd-inv-desc: $out"; fail=1; }
$bin vtd-inv-desc 0x3 0 >/dev/null 2>&1; rc=$?
[ "$rc" -eq 2 ] || { echo "vtd-inv-desc of an unknown type exited $rc, want 2"; fail=1; }
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
# GICv2 kinds (values worked out in tests/hw/gicv2_registers_test.cc): SGI 3 from CPU 2, pending,
# Group 1, priority 0xa0, EOI; a HW timer LR; an HCR; a MISR.
out=$($bin gich-lr 0x5a080803) || { echo "gich-lr exited $?"; fail=1; }
[[ "$out" == "GichLrVirtual{virtual_id=0x3 cpuid=0x2 eoi=1 priority=0x14 state=0x1 grp1=1 hw=0}" ]] ||
  { echo "gich-lr: $out"; fail=1; }
out=$($bin gich-lr 0xea006c1b) || { echo "gich-lr hw exited $?"; fail=1; }
[[ "$out" == "GichLrHardware{virtual_id=0x1b physical_id=0x1b priority=0x14 state=0x2 grp1=1 hw=1}" ]] ||
  { echo "gich-lr hw: $out"; fail=1; }
out=$($bin gich-hcr 0x2800008f) || { echo "gich-hcr exited $?"; fail=1; }
[[ "$out" == "GichHcr{en=1 uie=1 lrenpie=1 npie=1 vgrp0eie=0 vgrp0die=0 vgrp1eie=0 vgrp1die=1 eoicount=0x5}" ]] ||
  { echo "gich-hcr: $out"; fail=1; }
out=$($bin gich-misr 0x189) || { echo "gich-misr exited $?"; fail=1; }
[[ "$out" == *"GichMisr{eoi=1 u=0 lrenp=0 np=1 vgrp0e=0 vgrp0d=0 vgrp1e=0 vgrp1d=1 rsvd[31:8]=0x1!}"*"warning: non-zero reserved bits"* ]] ||
  { echo "gich-misr: $out"; fail=1; }
for kind in gich-lr gich-hcr gich-misr; do
  $bin $kind >/dev/null 2>&1; rc=$?
  [ "$rc" -eq 2 ] || { echo "$kind without a word exited $rc, want 2"; fail=1; }
  $bin $kind 0x100000000 >/dev/null 2>&1; rc=$?
  [ "$rc" -eq 2 ] || { echo "$kind wider than 32 bits exited $rc, want 2"; fail=1; }
done
# GICv5 kinds (values worked out in tests/hw/gicv5_registers_test.cc).
out=$($bin gicv5-intid 0x60000025) || { echo "gicv5-intid exited $?"; fail=1; }
[[ "$out" == "Gicv5Intid{id=0x25 type=0x3}" ]] || { echo "gicv5-intid: $out"; fail=1; }
$bin gicv5-intid 0x100000000 >/dev/null 2>&1; rc=$?
[ "$rc" -eq 2 ] || { echo "gicv5-intid wider than 32 bits exited $rc, want 2"; fail=1; }
out=$($bin icc-icsr 0x000012340000f834) || { echo "icc-icsr exited $?"; fail=1; }
[[ "$out" == "IccIcsr{f=0 enabled=0 pending=1 irm=0 active=1 hm=1 priority=0x1f iaffid=0x1234}" ]] ||
  { echo "icc-icsr: $out"; fail=1; }
out=$($bin ich-contextr 0x9800000300000005) || { echo "ich-contextr exited $?"; fail=1; }
[[ "$out" == "IchContextr{vm=0x5 vpe=0x3 dbpm=0x10 db=1 irichppidis=0 f=0 v=1}" ]] ||
  { echo "ich-contextr: $out"; fail=1; }
out=$($bin ich-vmcr-v5 0xc0000001) || { echo "ich-vmcr-v5 exited $?"; fail=1; }
[[ "$out" == "IchVmcrV5{en=1 vpmr=0x18}" ]] || { echo "ich-vmcr-v5: $out"; fail=1; }
out=$($bin gic-vdpend 0x8000000560000025) || { echo "gic-vdpend exited $?"; fail=1; }
[[ "$out" == "GicVdpendOperand{id=0x25 type=0x3 vm=0x5 pending=1}" ]] ||
  { echo "gic-vdpend: $out"; fail=1; }
out=$($bin gic-vdrcfg 0x8000000560000025) || { echo "gic-vdrcfg exited $?"; fail=1; }
[[ "$out" == *"rsvd[63:48]=0x8000!"*"warning: non-zero reserved bits"* ]] ||
  { echo "gic-vdrcfg: $out"; fail=1; }
for kind in gicv5-intid icc-icsr ich-contextr ich-vmcr-v5 gic-vdpend gic-vdrcfg; do
  $bin $kind 0x1 >/dev/null || { echo "$kind exited $?"; fail=1; }
  $bin $kind >/dev/null 2>&1; rc=$?
  [ "$rc" -eq 2 ] || { echo "$kind without a word exited $rc, want 2"; fail=1; }
done
err=$($bin 2>&1 >/dev/null)
[[ "$err" == *"usage: decode"* ]] || { echo "no usage on stderr: $err"; fail=1; }
exit $fail
