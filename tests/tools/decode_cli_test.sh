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
err=$($bin 2>&1 >/dev/null)
[[ "$err" == *"usage: decode"* ]] || { echo "no usage on stderr: $err"; fail=1; }
exit $fail
