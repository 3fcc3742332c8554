#!/usr/bin/env bash
# Installs the Debian packages the test suite uses as real peers:
#   mosquitto (upstream MQTT broker, bench reference), socat (serial ptys for Modbus RTU), mbpoll
#   (an independent Modbus client the modbus probe test cross-checks values with),
#   openssl (test CAs and certificates), chromium (status page tests), sqlite3 (integrity checks by hand),
#   tshark (independent C37.118 decoder for the synchrophasor cross-check),
#   glpk-utils (glpsol, an independent MILP solver for the battery scheduler's cross-check);
# and what the packaging suite (test/packaging) needs:
#   lintian (checks the .deb), debootstrap (clean Debian roots to install it into),
#   gcc/g++-aarch64-linux-gnu (the arm64 package's native addons), qemu-user-static and
#   binfmt-support (running the arm64 root), file (architecture of the built addons).
set -euo pipefail
pkgs=(mosquitto mosquitto-clients socat mbpoll openssl chromium sqlite3 ca-certificates tshark glpk-utils
  lintian debootstrap gcc-aarch64-linux-gnu g++-aarch64-linux-gnu qemu-user-static binfmt-support file)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update
  # tshark asks whether non-root users may capture; the tests only read files: answer no.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi
# Debian's mosquitto package may start a system broker on 1883; the tests start their own on free ports.
echo "setup: test peers present (${pkgs[*]})"
