#!/usr/bin/env bash
# A clean Debian root for the package tests, made with debootstrap from Debian's archive.
#   clean-root.sh ARCH DEST    → DEST holds a fresh root (Debian 13 "trixie", minbase + nodejs 20 +
#                                systemd), unpacked from a cached tarball.
# The first run builds the tarball (a few minutes) under $GRIDEDGE_ROOT_CACHE
# (default /var/cache/gridedge-test-root); later runs only unpack it (seconds). Delete the cache
# to rebuild it. Needs root (debootstrap, chroot). For ARCH other than the host's, the root is made
# with --foreign and finished under qemu-user-static.
set -euo pipefail
arch=${1:?usage: clean-root.sh ARCH DEST}
dest=${2:?usage: clean-root.sh ARCH DEST (DEST "-": only build the cached tarball)}
suite=trixie
mirror=${GRIDEDGE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache=${GRIDEDGE_ROOT_CACHE:-/var/cache/gridedge-test-root}
# What the root holds: Debian's nodejs (20.x in trixie); for the host's architecture also systemd
# (unit checks, enable links) and init-system-helpers (deb-systemd-helper, used by the maintainer
# scripts). A foreign root gets nodejs only: its second stage runs under qemu, where every package
# configured costs minutes (6 min instead of 28 here), and its test needs no systemd.
if [ "$arch" = "$(dpkg --print-architecture)" ]; then
  include=${GRIDEDGE_ROOT_INCLUDE:-nodejs,systemd,init-system-helpers,ca-certificates}
else
  include=${GRIDEDGE_ROOT_INCLUDE:-nodejs,ca-certificates}
fi
tarball="$cache/$suite-$arch-$(echo "$include" | md5sum | cut -c1-8).tar"
host_arch=$(dpkg --print-architecture)

# A foreign root runs its binaries through qemu-user-static: the kernel must know the format.
if [ "$arch" != "$host_arch" ]; then
  qemu_name=$(case "$arch" in arm64) echo qemu-aarch64 ;; *) echo "qemu-$arch" ;; esac)
  [ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  [ -e "/proc/sys/fs/binfmt_misc/$qemu_name" ] || update-binfmts --enable "$qemu_name"
fi

if [ ! -s "$tarball" ]; then
  mkdir -p "$cache"
  work=$(mktemp -d "$cache/build.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  echo "clean-root: building $tarball (debootstrap $suite $arch)" >&2
  if [ "$arch" = "$host_arch" ]; then
    debootstrap --variant=minbase --include="$include" "$suite" "$work/root" "$mirror" >"$work/log" 2>&1 \
      || { tail -30 "$work/log" >&2; exit 1; }
  else
    debootstrap --foreign --arch="$arch" --variant=minbase --include="$include" "$suite" "$work/root" "$mirror" >"$work/log" 2>&1 \
      || { tail -30 "$work/log" >&2; exit 1; }
    chroot "$work/root" /debootstrap/debootstrap --second-stage >>"$work/log" 2>&1 \
      || { tail -30 "$work/log" >&2; exit 1; }
  fi
  rm -rf "$work/root/var/cache/apt/archives/"*.deb "$work/root/var/lib/apt/lists/"*
  tar -C "$work/root" -cf "$tarball.part" .
  mv "$tarball.part" "$tarball"
fi
[ "$dest" = - ] && exit 0
mkdir -p "$dest"
tar -C "$dest" -xf "$tarball"
