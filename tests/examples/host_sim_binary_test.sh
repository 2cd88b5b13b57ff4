#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The host_sim binary as a user runs it: exit 0 and the report for a clean run, exit 2 and a
# message on stderr for bad flags, a JSON object for --json, and a progress line on stderr
# only for runs longer than a couple of seconds (a short run prints none).
set -u
bin=examples/host_sim
fail=0
out=$($bin --duration_us=5000 2>"${TEST_TMPDIR:-/tmp}/host_sim_err") || { echo "clean run exited $?"; fail=1; }
[[ "$out" == *"result: OK"* ]] || { echo "no OK result in: $out"; fail=1; }
[[ "$out" == *"x86 GA log: MSIs"*"x86 GAPPI: MSIs"*"x86 VT-d: MSIs"*"arm64 GICv3 SPIs"*"arm64 GICv5 SPIs"* ]] ||
  { echo "a component is missing in: $out"; fail=1; }
[ -s "${TEST_TMPDIR:-/tmp}/host_sim_err" ] && { echo "a short run wrote to stderr: $(cat "${TEST_TMPDIR:-/tmp}/host_sim_err")"; fail=1; }
rm -f "${TEST_TMPDIR:-/tmp}/host_sim_err"
for bad in --arch=mips --mode=x --pcpus=0 --lrs=99 --duration_us=abc --nosuchflag=1 positional \
    --trace= --trace=/nonexistent-dir/t.json --trace_filter=vm=1; do
  err=$($bin "$bad" 2>&1 >/dev/null); rc=$?
  [ "$rc" -eq 2 ] || { echo "$bad exited $rc, want 2"; fail=1; }
  [[ "$err" == "host_sim: "* ]] || { echo "$bad: no message on stderr: $err"; fail=1; }
done
out=$($bin --arch=arm64 --duration_us=2000 --json) || { echo "--json exited $?"; fail=1; }
[[ "$out" == "{"*"\"components\""*"\"ok\": true"*"}" ]] || { echo "--json: $out"; fail=1; }
$bin --help | grep -q -- "--mode=all|galog|gappi|vtd" || { echo "--help lacks --mode"; fail=1; }
# --check: the planted-bug tests' run, documented, fast, and OK without a bug.
out=$($bin --check --seed=5) || { echo "--check exited $?"; fail=1; }
[[ "$out" == *"[--check]"*"result: OK"* ]] || { echo "--check: $out"; fail=1; }
# --trace writes JSON that starts as the format says.
t="${TEST_TMPDIR:-/tmp}/host_sim_trace.json"
$bin --duration_us=1000 --trace="$t" >/dev/null || { echo "--trace exited $?"; fail=1; }
[[ "$(head -c 38 "$t")" == '{"displayTimeUnit":"ns","traceEvents":' ]] || { echo "--trace: $(head -c 80 "$t")"; fail=1; }
rm -f "$t"
exit $fail
