#!/usr/bin/env bash
# Writes the binary Swift package's manifest for a release: packaging/swiftpm/Package.swift.in
# with the zipped XCFramework's URL and its checksum (SHA-256 of the zip, which is what
# `swift package compute-checksum` computes; scripts/swift-tests.sh checks that they agree and
# that SwiftPM reads the manifest).
#
#   scripts/swiftpm-manifest.sh XCFRAMEWORK_ZIP URL OUT_DIR
#
# OUT_DIR gets Package.swift and a copy of bindings/swift/Sources/FwasrKit: a repository (or a
# tag of one) holding them is the package users add.
set -euo pipefail
cd "$(dirname "$0")/.."
zip=$1 url=$2 out=$3
checksum=$(sha256sum "$zip" | cut -d' ' -f1)
mkdir -p "$out/Sources"
sed -e "s|@URL@|$url|" -e "s|@CHECKSUM@|$checksum|" packaging/swiftpm/Package.swift.in >"$out/Package.swift"
rm -rf "$out/Sources/FwasrKit"
cp -r bindings/swift/Sources/FwasrKit "$out/Sources/FwasrKit"
echo "$out/Package.swift: $url ($checksum)"
