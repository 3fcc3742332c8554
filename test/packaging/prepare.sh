#!/usr/bin/env bash
# The slow packaging suite's inputs, made before its test files run (each file has the runner's
# per-file time limit; these steps are long only the first time, then cached):
#   dist/deb-test/gridedge_<version>_amd64.deb and _arm64.deb   (packaging/build-deb.sh)
#   the clean Debian roots' tarballs under /var/cache/gridedge-test-root (clean-root.sh)
# Not root: nothing is made, and the test files skip (they need chroot and dpkg as root).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
if [ "$(id -u)" -ne 0 ]; then
  echo "packaging suite: not root, skipped (needs chroot, dpkg -i into a clean root)" >&2
  exit 0
fi
out="$root/dist/deb-test"
rm -rf "$out"
mkdir -p "$out"
t0=$(date +%s)
for arch in amd64 arm64; do
  bash "$root/packaging/build-deb.sh" "$arch" "$out" >/dev/null
done
t1=$(date +%s)
# The roots: built once into the cache (each test unpacks its own fresh copy).
for arch in amd64 arm64; do
  bash "$root/test/packaging/clean-root.sh" "$arch" -
done
t2=$(date +%s)
echo "packaging suite: packages built in $((t1 - t0)) s, clean roots ready in $((t2 - t1)) s" >&2
