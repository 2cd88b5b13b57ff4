#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs the README's main command (host_sim: the x86 GA log, GAPPI and VT-d hosts, the KVM
# baseline, the arm64 GICv3 and GICv5 VMs) for consecutive seeds, and the --check run for each,
# stopping at the first run that does not end "result: OK" (0 lost, every invariant holds).
#   tools/host_sim_sweep.sh [first_seed] [count]      (default: 1 200)
# Reproduce one: ./bazelw run //examples:host_sim -- --seed=<seed> [--check]
set -uo pipefail
cd "$(dirname "$0")/.."
first=${1:-1}
count=${2:-200}
./bazelw build //examples:host_sim >/dev/null 2>&1 || {
  echo "build failed: ./bazelw build //examples:host_sim" >&2
  exit 2
}
# A copy: other Bazel builds rewrite bazel-bin while this runs.
bin=$(mktemp -d)
cp bazel-bin/examples/host_sim "$bin/"
log="/tmp/host_sim_sweep.$$.log"
for ((seed = first; seed < first + count; ++seed)); do
  for extra in "" "--check"; do
    # shellcheck disable=SC2086
    if ! "$bin/host_sim" --seed="$seed" $extra >"$log" 2>&1 || ! grep -q "^result: OK (0 lost" "$log"; then
      echo "FAILED: host_sim --seed=$seed $extra (log: $log)"
      exit 1
    fi
  done
  ((seed % 20 == 0)) && echo "seed $seed ok" >&2
done
rm -rf "$log" "$bin"
echo "$count seeds passed ($first..$((first + count - 1))): host_sim and host_sim --check, every x86 mode (GA log, GAPPI, VT-d), arm64 GICv3 and GICv5: 0 lost, every invariant holds"
