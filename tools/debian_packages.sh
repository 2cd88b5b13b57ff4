# SPDX-License-Identifier: MIT
# Sourced by ./bazelw and tools/qemu_gicv3/run.sh: install_debian_packages NAME... installs the
# named Debian packages that are missing, with apt-get, as root or through sudo. The caller's
# script name prefixes every message. Returns non-zero (after saying why) if it cannot.

missing_debian_packages() {
  local pkg
  for pkg in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
      echo "$pkg"
    fi
  done
}

install_debian_packages() {
  local me missing
  me=$(basename "$0")
  missing=$(missing_debian_packages "$@")
  [ -z "$missing" ] && return 0
  echo "$me: installing missing Debian packages:" $missing >&2
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo=(sudo)
    else
      echo "$me: need root or sudo to run: apt-get install -y" $missing >&2
      echo "$me: ask an administrator to install them, then run $me again." >&2
      return 1
    fi
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "$me: apt-get not found; this build expects Debian 12 (bookworm) packages:" $missing >&2
    return 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq >&2 || return 1
  # shellcheck disable=SC2086  # one word per package
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends $missing >&2 || return 1
}
