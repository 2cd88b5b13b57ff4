#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs the threaded tests (posted routing concurrency in both modes, the wakeup stress test) for
# consecutive seeds under ThreadSanitizer, stopping at the first failure and printing its seed.
#   tools/seed_sweep.sh [first_seed] [count]      (default: 1 200)
# Reproduce one: IRQVIRT_STRESS_SEED=<seed> bazel-bin/tests/posted/concurrency_test
set -uo pipefail
cd "$(dirname "$0")/.."
first=${1:-1}
count=${2:-200}
targets=(//tests/posted:concurrency_test //tests/wakeup:stress_test)
./bazelw build --config=tsan "${targets[@]}" >/dev/null 2>&1 || {
  echo "build failed: ./bazelw build --config=tsan ${targets[*]}" >&2
  exit 2
}
# Copies: other Bazel builds (other configs) rewrite bazel-bin while this runs.
# (the binaries find their shared libraries at $ORIGIN/../../_solib_k8: keep that layout)
bin=$(mktemp -d)
mkdir -p "$bin/tests/posted" "$bin/tests/wakeup"
cp -rL bazel-bin/_solib_k8 "$bin/"
cp bazel-bin/tests/posted/concurrency_test "$bin/tests/posted/"
cp bazel-bin/tests/wakeup/stress_test "$bin/tests/wakeup/"
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
for ((seed = first; seed < first + count; ++seed)); do
  for t in posted/concurrency_test wakeup/stress_test; do
    if ! IRQVIRT_STRESS_SEED=$seed "$bin/tests/$t" >"/tmp/seed_sweep.$$.log" 2>&1; then
      echo "FAILED: $t with IRQVIRT_STRESS_SEED=$seed (log: /tmp/seed_sweep.$$.log)"
      exit 1
    fi
  done
  ((seed % 20 == 0)) && echo "seed $seed ok" >&2
done
rm -rf "/tmp/seed_sweep.$$.log" "$bin"
echo "$count seeds passed ($first..$((first + count - 1))): ${targets[*]} under tsan"
