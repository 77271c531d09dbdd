#!/usr/bin/env bash
# The free race (tests/c/free_stress.c) under ThreadSanitizer, with the library itself
# instrumented: TSan only understands synchronisation it sees, so an uninstrumented
# libfwasr would show its own atomics as races. rustc instruments it (-Zsanitizer=thread,
# with std rebuilt the same way from Debian's rust-web-src); clang instruments the C program
# and links its TSan runtime. Any report fails the run.
#
#   scripts/tsan.sh BUILD_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
main=${1:-build}
build=$main-tsan
mkdir -p "$build"
target=x86_64-unknown-linux-gnu
env PATH=/usr/bin:/bin RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}" \
  RUSTFLAGS="-Zsanitizer=thread" \
  /usr/bin/cargo build --quiet --locked -p fwasr --lib -Zbuild-std --target "$target" --target-dir "$build/cargo"
lib=$build/cargo/$target/debug
ln -sf libfwasr.so "$lib/libfwasr.so.0"
clang -std=c11 -D_POSIX_C_SOURCE=200809L -g -fsanitize=thread -Iinclude \
  tests/c/free_stress.c tests/c/tsan_runtime.c -o "$build/free_stress" \
  -L"$lib" -l:libfwasr.so.0 -Wl,-rpath,"$(cd "$lib" && pwd)" -lpthread
devserver=$main/cargo/debug/fwasr-devserver
for mode in own shared; do
  out=$("$devserver" --quiet -- "$build/free_stress" "$mode" 3 2>&1) || { echo "$out"; exit 1; }
  if grep -q "ThreadSanitizer" <<<"$out"; then
    echo "$out"
    echo "ThreadSanitizer reported on free_stress $mode" >&2
    exit 1
  fi
  echo "free_stress $mode under ThreadSanitizer: $(grep sessions <<<"$out")"
done
