#!/usr/bin/env bash
# Builds gridedge_<version>_<arch>.deb with dpkg-deb.
#   packaging/build-deb.sh ARCH [OUTDIR]     ARCH: amd64 | arm64; OUTDIR default: dist/deb
# Needs the compiled JavaScript (npm run build) and, for arm64, Debian's gcc-aarch64-linux-gnu and
# g++-aarch64-linux-gnu (.ci/setup.sh installs them). The network is used only for the npm registry
# (npm ci of the production dependencies, normally from npm's cache).
#
# Layout of the package:
#   /usr/lib/gridedge/            package.json, agent/cli/gridedge.js, dist/{agent,drivers,algorithms}
#                                 (compiled JS only: no tests, benchmarks, TypeScript or source maps)
#   /usr/lib/gridedge/node_modules  production dependencies only; native addons built for ARCH
#   /usr/bin/gridedge             shell wrapper: exec node on the CLI
#   /lib/systemd/system/gridedge.service
#   /etc/gridedge/gridedge.yaml   conffile (secure default)
#   /usr/share/doc/gridedge/      README.md, copyright, changelog.gz
#   /usr/share/lintian/overrides/gridedge
set -euo pipefail

arch=${1:?usage: build-deb.sh amd64|arm64 [OUTDIR]}
root=$(cd "$(dirname "$0")/.." && pwd)
out=${2:-$root/dist/deb}
version=$(node -p "require('$root/package.json').version")
case "$arch" in
  amd64) gyp_arch=x64; cross="" ;;
  arm64) gyp_arch=arm64; cross=aarch64-linux-gnu- ;;
  *) echo "build-deb: unknown architecture $arch (amd64 or arm64)" >&2; exit 1 ;;
esac
[ -f "$root/dist/agent/cli/main.js" ] || { echo "build-deb: dist/ is missing: run npm run build first" >&2; exit 1; }
if [ -n "$cross" ] && ! command -v "${cross}g++" >/dev/null; then
  echo "build-deb: ${cross}g++ not found: apt-get install gcc-aarch64-linux-gnu g++-aarch64-linux-gnu" >&2
  exit 1
fi

stage=$(mktemp -d "${TMPDIR:-/tmp}/gridedge-deb.XXXXXX")
trap 'rm -rf "$stage"' EXIT
pkg="$stage/pkg"
app="$pkg/usr/lib/gridedge"
mkdir -p "$app/agent/cli" "$app/dist" "$pkg/usr/bin" "$pkg/lib/systemd/system" "$pkg/etc/gridedge" \
  "$pkg/usr/share/doc/gridedge" "$pkg/usr/share/lintian/overrides" "$pkg/DEBIAN"

# The application: compiled JavaScript of the runtime folders only.
cp "$root/package.json" "$root/package-lock.json" "$app/"
cp "$root/agent/cli/gridedge.js" "$app/agent/cli/"
for d in agent drivers algorithms; do
  (cd "$root/dist" && find "$d" -type f -name '*.js' -print0 | xargs -0 cp --parents -t "$app/dist")
done

# Production dependencies, from the lock file; install scripts off (addons are built below).
(cd "$app" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --prefer-offline --loglevel=error >/dev/null)

# Native addons for ARCH. Built once per (addon, version, arch, Node ABI) and cached, so repeated
# package builds take seconds.
abi=$(node -p 'process.versions.modules')
# npm's own node-gyp (npm is set to build against the system's Node headers, nodedir=/usr).
node_gyp=$(npm root -g)/npm/node_modules/node-gyp/bin/node-gyp.js
[ -f "$node_gyp" ] || { echo "build-deb: npm's node-gyp not found at $node_gyp" >&2; exit 1; }
# The Node headers: Debian's/NodeSource's under /usr/include/node (no download at build time).
nodedir=${npm_config_nodedir:-/usr}
[ -f "$nodedir/include/node/node.h" ] || { echo "build-deb: Node headers not found in $nodedir/include/node" >&2; exit 1; }
cache=${GRIDEDGE_ADDON_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gridedge-addons}
for mod in better-sqlite3 unix-dgram; do
  dir="$app/node_modules/$mod"
  ver=$(node -p "require('$dir/package.json').version")
  key="$cache/$mod-$ver-$arch-abi$abi-hardened"
  if [ ! -d "$key" ]; then
    echo "build-deb: compiling $mod $ver for $arch" >&2
    # Built in place, so that build-time helpers (nan) resolve from the staged node_modules.
    # Debian's hardening flags: fortified libc calls, stack protector, full RELRO with immediate binding.
    (cd "$dir" && CC="${cross}gcc" CXX="${cross}g++" LINK="${cross}g++" AR="${cross}ar" \
      CFLAGS="-O2 -D_FORTIFY_SOURCE=2 -fstack-protector-strong" CXXFLAGS="-O2 -D_FORTIFY_SOURCE=2 -fstack-protector-strong" \
      LDFLAGS="-Wl,-z,relro -Wl,-z,now" \
      node "$node_gyp" rebuild --release --nodedir="$nodedir" --arch="$gyp_arch" -j 2 >"$stage/gyp-$mod.log" 2>&1) \
      || { tail -40 "$stage/gyp-$mod.log" >&2; exit 1; }
    mkdir -p "$key.part"
    cp "$dir"/build/Release/*.node "$key.part/"
    rm -rf "$key" && mv "$key.part" "$key"
  fi
  rm -rf "$dir/build" && mkdir -p "$dir/build/Release"
  cp "$key"/*.node "$dir/build/Release/"
  "${cross}strip" --strip-unneeded --remove-section=.comment "$dir"/build/Release/*.node
done
rm -f "$app/node_modules/better-sqlite3/build/Release/test_extension.node"   # a test fixture of better-sqlite3
# Addon sources and build inputs are not needed at run time.
rm -rf "$app/node_modules/better-sqlite3/deps" "$app/node_modules/better-sqlite3/src" \
  "$app/node_modules/better-sqlite3/binding.gyp" "$app/node_modules/unix-dgram/src" \
  "$app/node_modules/unix-dgram/binding.gyp" "$app/node_modules/unix-dgram/test" \
  "$app/node_modules/nan"
# Prebuilt addons shipped for other systems (serialport's bindings carry Android, musl and other
# architectures): only this architecture's glibc build stays (node-gyp-build picks it at run time).
for pre in "$app"/node_modules/*/prebuilds "$app"/node_modules/@*/*/prebuilds; do
  [ -d "$pre" ] || continue
  find "$pre" -mindepth 1 -maxdepth 1 -type d ! -name "linux-$gyp_arch" -exec rm -rf {} +
  find "$pre" -type f -name '*musl*' -delete
  # linux-arm64 holds armv8 builds only; linux-x64 only x64: what is left is for this architecture.
done
# Command-line entry points of libraries (not run by gridedge): removed rather than shipped unexecutable.
rm -f "$app/node_modules/yaml/bin.mjs"
# Command-line scripts of node-opcua's dependencies (certificate tooling, sshpk) that the agent never runs:
# shipped without their execute bit they only draw lintian warnings.
rm -f "$app/node_modules/node-opcua-pki/dist/bin/"*.mjs
rm -rf "$app/node_modules/sshpk/bin"
# Documentation, type declarations, tests and source maps of the dependencies.
find "$app/node_modules" \( -name '*.md' -o -name '*.markdown' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' \
  -o -name '*.map' -o -name '*.ts' -o -name '.npmignore' -o -name '.eslintrc*' -o -name '.travis.yml' -o -name '.github' \
  -o -name 'CHANGELOG*' -o -name 'HISTORY*' -o -name '.package-lock.json' -o -name '.gitattributes' -o -name '.husky' \
  -o -name '*.sh' -o -name '*.html' \) -prune -exec rm -rf {} +
# Folders of the dependencies' own development (CI scripts, integration tests).
rm -rf "$app/node_modules/fastify/integration" "$app/node_modules/fastify/scripts"
find "$app/node_modules" -depth -type d \( -name test -o -name tests -o -name __tests__ -o -name example -o -name examples \
  -o -name benchmark -o -name benchmarks -o -name docs \) -exec rm -rf {} +
find "$app/node_modules" -depth -type d -empty -delete
# Modes: scripts with a #! line 0755, everything else (addons included) 0644.
find "$app" -type f -exec chmod 0644 {} +
find "$app" -type f -name '*.js' -exec grep -lZ -m1 '^#!' {} + | xargs -0 -r chmod 0755

# The command, the unit, the conffile, the docs.
cat >"$pkg/usr/bin/gridedge" <<'WRAP'
#!/bin/sh
# gridedge: the gateway agent's command line (runs on the system's Node.js 20).
exec /usr/bin/node /usr/lib/gridedge/agent/cli/gridedge.js "$@"
WRAP
chmod 0755 "$pkg/usr/bin/gridedge"
install -m 0644 "$root/systemd/gridedge.service" "$pkg/lib/systemd/system/gridedge.service"
install -m 0644 "$root/packaging/gridedge.yaml" "$pkg/etc/gridedge/gridedge.yaml"
install -m 0644 "$root/README.md" "$pkg/usr/share/doc/gridedge/README.md"
install -m 0644 "$root/packaging/copyright" "$pkg/usr/share/doc/gridedge/copyright"
mkdir -p "$pkg/usr/share/man/man1"
# The man page with its COMMANDS section made from the compiled command table (test/cli/man.test.ts
# checks that the committed packaging/gridedge.1 is the same page).
node "$root/packaging/man-page.mjs" | gzip -9n >"$pkg/usr/share/man/man1/gridedge.1.gz"
date_r=$(date -R -u -d "@${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || date +%s)}")
printf 'gridedge (%s) unstable; urgency=medium\n\n  * Release %s.\n\n -- gridedge maintainers <maintainers@gridedge.example>  %s\n' \
  "$version" "$version" "$date_r" | gzip -9n >"$pkg/usr/share/doc/gridedge/changelog.gz"
install -m 0644 "$root/packaging/lintian-overrides" "$pkg/usr/share/lintian/overrides/gridedge"

# Control files.
for s in postinst prerm postrm; do install -m 0755 "$root/packaging/debian/$s" "$pkg/DEBIAN/$s"; done
echo /etc/gridedge/gridedge.yaml >"$pkg/DEBIAN/conffiles"
# The addons are linked against glibc and libstdc++: the oldest versions their symbols need.
glibc=$(for f in "$app"/node_modules/*/build/Release/*.node; do "${cross}objdump" -T "$f"; done \
  | grep -o 'GLIBC_2\.[0-9]*' | sort -t. -k2 -n -u | tail -1 | sed 's/GLIBC_//')
installed=$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@GLIBC@/$glibc/" -e "s/@INSTALLED_SIZE@/$installed/" \
  "$root/packaging/debian/control.in" >"$pkg/DEBIAN/control"
(cd "$pkg" && find . -path ./DEBIAN -prune -o -path ./etc -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) >"$pkg/DEBIAN/md5sums"

mkdir -p "$out"
deb="$out/gridedge_${version}_${arch}.deb"
# Every file owned by root:root in the package, whoever builds it.
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$deb" >/dev/null
echo "$deb"
