#!/bin/sh
# Make sure the Debian/Ubuntu packages in packaging/system-packages.txt are installed.
# As root: `apt-get update` once, then `apt-get install -y` the missing ones. Otherwise: print the exact
# command and exit 1. Silent when nothing is missing; a no-op without dpkg (not Debian/Ubuntu).
set -eu
list="${1:-$(dirname "$0")/system-packages.txt}"
command -v dpkg-query >/dev/null 2>&1 || exit 0
[ -r "$list" ] || { echo "cannot read $list" >&2; exit 2; }
missing=""
for package in $(sed -e 's/#.*//' "$list"); do
    status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
    case "$status" in
        *" installed") ;;
        *) missing="$missing $package" ;;
    esac
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
    echo "installing system packages:$missing"
    apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
else
    echo "missing system packages; install them with:" >&2
    echo "  sudo apt-get install -y$missing" >&2
    exit 1
fi
