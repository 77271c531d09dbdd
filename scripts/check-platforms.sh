#!/usr/bin/env bash
# Type-checks the workspace (the library, fwasr-devserver, the Rust tests and benchmarks) for
# the platforms this machine cannot run: macOS, iOS and Windows.
# Where rustup has the target's standard library, plain `cargo check --target`; otherwise
# Debian's rustc-web, cargo-web and rust-web-src (Rust 1.96 with the standard library's
# source) build `std` for the target with -Zbuild-std. Nothing is linked, so no SDK is
# needed. Output goes to $CHECK_PLATFORMS_DIR (default: a directory under $TMPDIR), never
# into the checkout.
#
#   scripts/check-platforms.sh [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(aarch64-apple-darwin aarch64-apple-ios x86_64-pc-windows-msvc)
fi
out=${CHECK_PLATFORMS_DIR:-${TMPDIR:-/tmp}/fwasr-check-platforms}
mkdir -p "$out"

installed=$(rustup target list --installed 2>/dev/null || true)
failed=0
for t in "${targets[@]}"; do
  start=$SECONDS
  # iOS is never a host: the library alone (the devserver and the tests run on the Mac).
  scope=(--workspace --all-targets)
  if [[ $t == *-apple-ios* ]]; then
    scope=(-p fwasr --lib)
  fi
  if grep -qx "$t" <<<"$installed"; then
    how="rustup std"
    cmd=(cargo check --locked "${scope[@]}" --target "$t" --target-dir "$out")
  elif [ -x /usr/bin/cargo ] && [ -d /usr/lib/rustlib/src/rust/library ]; then
    how="-Zbuild-std (rustc-web)"
    cmd=(env PATH=/usr/bin:/bin RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
         /usr/bin/cargo check --locked "${scope[@]}" -Zbuild-std=std,panic_unwind,test --target "$t" --target-dir "$out")
  else
    echo "$t: no standard library for it: install the rustup target, or Debian's rustc-web cargo-web rust-web-src" >&2
    failed=$((failed + 1))
    continue
  fi
  if log=$("${cmd[@]}" 2>&1) && ! grep -q '^warning' <<<"$log"; then
    echo "$t: type-checks ($how, $((SECONDS - start)) s)"
  else
    echo "$t: FAILED ($how)"
    grep -E '^(error|warning)' -A6 <<<"$log" | head -60
    failed=$((failed + 1))
  fi
done
echo "platform check: $(( ${#targets[@]} - failed )) passed, $failed failed"
[ "$failed" -eq 0 ]
