#!/usr/bin/env bash
# Builds fwasr.xcframework for Apple platforms: the static library for iOS devices, the iOS
# simulator (arm64 + x86_64) and macOS (arm64 + x86_64), each with the headers and the module
# map, so Xcode and SwiftPM projects (`.binaryTarget`) can link it. Needs macOS with Xcode and
# the rustup targets aarch64-apple-ios, aarch64-apple-ios-sim, x86_64-apple-ios,
# aarch64-apple-darwin and x86_64-apple-darwin.
#
#   scripts/xcframework.sh [OUT_DIR]     (default build/xcframework)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/xcframework}
cargo_dir=$out/cargo
rm -rf "$out/fwasr.xcframework" "$out/headers" "$out/lipo"
mkdir -p "$out/headers" "$out/lipo"

for t in aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios aarch64-apple-darwin x86_64-apple-darwin; do
  cargo build --locked --release -p fwasr --lib --target "$t" --target-dir "$cargo_dir"
done
lib() { echo "$cargo_dir/$1/release/libfwasr.a"; }

# One library per platform: the simulator's and the Mac's two architectures each combined.
mkdir -p "$out/lipo/ios-sim" "$out/lipo/macos"
lipo -create "$(lib aarch64-apple-ios-sim)" "$(lib x86_64-apple-ios)" -output "$out/lipo/ios-sim/libfwasr.a"
lipo -create "$(lib aarch64-apple-darwin)" "$(lib x86_64-apple-darwin)" -output "$out/lipo/macos/libfwasr.a"

mkdir -p "$out/headers/fwasr"
cp include/fwasr.h "$out/headers/"
cp include/fwasr/module.modulemap "$out/headers/fwasr/"
xcodebuild -create-xcframework \
  -library "$(lib aarch64-apple-ios)" -headers "$out/headers" \
  -library "$out/lipo/ios-sim/libfwasr.a" -headers "$out/headers" \
  -library "$out/lipo/macos/libfwasr.a" -headers "$out/headers" \
  -output "$out/fwasr.xcframework"
echo "wrote $out/fwasr.xcframework (link also: Security.framework, CoreFoundation.framework, libiconv)"
