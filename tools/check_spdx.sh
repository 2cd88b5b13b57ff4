#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Lists every tracked source, build, script or document file without an SPDX-License-Identifier
# line in its first five lines; exits 1 if there is one. Data (fuzz corpora) and LICENSE itself
# are exempt. Usage: tools/check_spdx.sh [--add]   (--add inserts the line where it is missing)
set -euo pipefail
cd "$(dirname "$0")/.."

comment_for() {
  case "$1" in
    *.h|*.cc|*.c|*.S|*.ld|*.bzl.cc) echo "// SPDX-License-Identifier: MIT" ;;
    *.md) echo "<!-- SPDX-License-Identifier: MIT -->" ;;
    *.json) echo "" ;;
    *) echo "# SPDX-License-Identifier: MIT" ;;
  esac
}

exempt() {
  case "$1" in
    LICENSE|*/fuzz_corpus/*|*.json|*.pc.in.golden) return 0 ;;
  esac
  return 1
}

add=0
[ "${1:-}" = "--add" ] && add=1
missing=0
while IFS= read -r f; do
  exempt "$f" && continue
  [ -f "$f" ] || continue
  if head -n 5 "$f" | grep -q 'SPDX-License-Identifier: MIT'; then continue; fi
  if [ "$add" -eq 1 ]; then
    line=$(comment_for "$f")
    [ -n "$line" ] || { echo "no comment syntax for $f" >&2; missing=1; continue; }
    if head -n 1 "$f" | grep -q '^#!'; then
      { head -n 1 "$f"; echo "$line"; tail -n +2 "$f"; } > "$f.spdx"
    else
      { echo "$line"; cat "$f"; } > "$f.spdx"
    fi
    cat "$f.spdx" > "$f" && rm "$f.spdx"  # keeps the file's mode
  else
    echo "missing SPDX-License-Identifier: $f"
    missing=1
  fi
done < <(git ls-files)
exit "$missing"
