#!/usr/bin/env bash
# The Swift front end's tests (bindings/swift, `swift test`), on Linux: Debian 12 has no Swift,
# Debian 13 does (swiftlang), so they run in a Debian 13 chroot made with debootstrap, against
# the library built on the host and two fwasr-devservers on the host (a chroot shares the
# network). The chroot is kept in $FWASR_SWIFT_CHROOT (default /var/cache/fwasr/swift-trixie)
# and made again only when missing, so a second run costs seconds; the package mirror is the
# one this machine's apt uses. Compiled in Swift 6 language mode with complete concurrency
# checking, warnings as errors. Needs root (debootstrap, chroot, mount).
#
#   scripts/swift-tests.sh [BUILD_DIR]     (default build-test: the library from BUILD_DIR/cargo)
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(cd "${1:-build-test}" && pwd)
root=${FWASR_SWIFT_CHROOT:-/var/cache/fwasr/swift-trixie}
packages=(swiftlang libssl3t64 build-essential pkgconf)
start=$SECONDS

[ "$(id -u)" -eq 0 ] || { echo "swift tests: need root for debootstrap and chroot" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "swift tests: apt-get install debootstrap" >&2; exit 1; }

# The Debian archive this machine's apt uses (deb822 .sources or a classic sources.list).
mirror() {
  { cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true; } |
    awk '/^URIs:/ {u = $2} /^deb / {u = ($2 ~ /^\[/) ? $3 : $2}
         u != "" && u !~ /security/ && u ~ /\/debian\/?$/ && !found {print u; found = 1}
         {u = ""}
         END {exit !found}'
}

mounted=()
cleanup() {
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[i]}" 2>/dev/null || true; done
  [ -n "${servers:-}" ] && kill $servers 2>/dev/null || true
}
trap cleanup EXIT
mount_into() { # ROOT
  mount -t proc proc "$1/proc" && mounted+=("$1/proc")
  mount --bind /dev "$1/dev" && mounted+=("$1/dev")
}

if [ ! -e "$root/.fwasr-ready" ]; then
  url=$(mirror) || { echo "swift tests: no Debian mirror in /etc/apt/sources*" >&2; exit 1; }
  echo "swift tests: making a Debian 13 chroot in $root from $url"
  # A run that was killed may have left /proc and /dev mounted inside: never delete through them.
  for d in "$root.new" "$root"; do umount -l "$d/proc" "$d/dev" 2>/dev/null || true; done
  rm -rf --one-file-system "$root.new"
  mkdir -p "$(dirname "$root")"
  debootstrap --variant=minbase trixie "$root.new" "$url" >"$build/debootstrap.log" 2>&1 ||
    { tail -20 "$build/debootstrap.log"; exit 1; }
  mount_into "$root.new"
  chroot "$root.new" sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ${packages[*]} && apt-get clean" \
    >"$build/swift-install.log" 2>&1 || { tail -20 "$build/swift-install.log"; exit 1; }
  cleanup
  mounted=()
  touch "$root.new/.fwasr-ready"
  rm -rf --one-file-system "$root"
  mv "$root.new" "$root"
  echo "swift tests: chroot ready in $((SECONDS - start)) s"
fi

# The library as installed: header, shared library, pkg-config file; the package's sources
# fresh, its build directory kept between runs.
lib=$build/cargo/debug/libfwasr.so
[ -e "$lib" ] || { echo "swift tests: $lib missing (build first)" >&2; exit 1; }
rm -rf "$root/opt/fwasr" "$root/opt/fwasr-swift/src"
mkdir -p "$root/opt/fwasr/lib/pkgconfig" "$root/opt/fwasr/include" "$root/opt/fwasr-swift/src"
cp "$lib" "$root/opt/fwasr/lib/libfwasr.so.0" # its SONAME
ln -s libfwasr.so.0 "$root/opt/fwasr/lib/libfwasr.so"
cp include/fwasr.h "$root/opt/fwasr/include/"
cat >"$root/opt/fwasr/lib/pkgconfig/fwasr.pc" <<'PC'
Name: fwasr
Description: fwasr, as built on the host
Version: 0.1.0
Cflags: -I/opt/fwasr/include
Libs: -L/opt/fwasr/lib -lfwasr
PC
cp -r bindings/swift/Package.swift bindings/swift/Sources bindings/swift/Tests "$root/opt/fwasr-swift/src/"
cp examples-c/data/sample.wav "$root/opt/fwasr-swift/"

# The servers, on the host.
devserver=$build/cargo/debug/fwasr-devserver
tmp=$(mktemp -d)
"$devserver" --quiet --url-file "$tmp/url" --script examples-c/data/sample.script.json >/dev/null &
servers=$!
"$devserver" --quiet --url-file "$tmp/drop-url" --script examples-c/data/sample.script.json --abort-after 4 >/dev/null &
servers="$servers $!"
for f in url drop-url; do
  for _ in $(seq 100); do [ -e "$tmp/$f" ] && break; sleep 0.1; done
done

mount_into "$root"
swift=(-Xswiftc -swift-version -Xswiftc 6 -Xswiftc -strict-concurrency=complete -Xswiftc -warnings-as-errors
       --package-path /opt/fwasr-swift/src --scratch-path /opt/fwasr-swift/build)
in_chroot=(chroot "$root" env -i PATH=/usr/bin:/bin HOME=/root LANG=C.UTF-8
           PKG_CONFIG_PATH=/opt/fwasr/lib/pkgconfig LD_LIBRARY_PATH=/opt/fwasr/lib
           FWASR_URL="$(cat "$tmp/url")" FWASR_DROP_URL="$(cat "$tmp/drop-url")"
           FWASR_SAMPLE=/opt/fwasr-swift/sample.wav)
rm -rf "$tmp"

# The binary package's manifest (scripts/swiftpm-manifest.sh) for an archive: SwiftPM reads it
# as a binary target, and the checksum written is the one SwiftPM computes for the archive.
binary=$root/opt/fwasr-binary
rm -rf "$binary"
mkdir -p "$binary"
python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1], "w").writestr("fwasr.xcframework/Info.plist", "<plist/>")' \
  "$binary/fwasr.xcframework.zip"
scripts/swiftpm-manifest.sh "$binary/fwasr.xcframework.zip" https://example.invalid/fwasr.xcframework.zip \
  "$binary/package" >/dev/null
written=$(sed -n 's/.*checksum: "\([0-9a-f]*\)".*/\1/p' "$binary/package/Package.swift")
computed=$("${in_chroot[@]}" swift package compute-checksum /opt/fwasr-binary/fwasr.xcframework.zip)
target=$("${in_chroot[@]}" swift package --package-path /opt/fwasr-binary/package dump-package |
  python3 -c 'import json, sys; t = json.load(sys.stdin)["targets"]; print(" ".join(x["name"] + ":" + x["type"] for x in t))')
if [ "$written" != "$computed" ] || [ "$target" != "fwasr:binary FwasrKit:regular" ]; then
  echo "swift tests: binary manifest: checksum $written, SwiftPM's $computed; targets $target" >&2
  exit 1
fi
echo "swift tests: the binary package's manifest reads, its checksum is SwiftPM's"

if ! "${in_chroot[@]}" swift build "${swift[@]}" >"$build/swift-build.log" 2>&1; then
  cat "$build/swift-build.log"
  echo "swift tests: swift build failed"
  exit 1
fi
"${in_chroot[@]}" swift test "${swift[@]}" 2>&1 | grep -v '^\[[0-9]*/[0-9]*\]'
status=${PIPESTATUS[0]}
echo "swift tests: done in $((SECONDS - start)) s"
exit "$status"
