#!/usr/bin/env bash
# apt_install.sh LOG PACKAGE...: install Debian packages with apt-get (as root, or through sudo).
# One line says what is installed, how many packages that pulls in and where the output goes; the
# package manager's own output (hundreds of lines for npm) is kept in LOG and printed only when it fails.
set -euo pipefail

log=$1
shift
[ $# -gt 0 ] || exit 0
command -v apt-get >/dev/null || { echo "missing: $* (install them; there is no apt-get here)" >&2; exit 1; }
sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo
mkdir -p "$(dirname "$log")"
: >"$log"

run() {
    if ! $sudo env DEBIAN_FRONTEND=noninteractive "$@" >>"$log" 2>&1; then
        echo "apt-get failed ($*); its output, from $log:" >&2
        cat "$log" >&2
        exit 1
    fi
}

start=$(date +%s)
echo "system packages: updating the package lists (apt-get update, output in $log)"
run apt-get update
count=$($sudo apt-get install -s --no-install-recommends "$@" 2>/dev/null | grep -c '^Inst ' || true)
# About 0.3 s a package here (unpacking and triggers), plus the downloads.
echo "system packages: installing $* ($count packages with their dependencies, about $(( 10 + count * 3 / 10 )) s)"
run apt-get install -y --no-install-recommends "$@"
echo "system packages: done in $(( $(date +%s) - start )) s"
