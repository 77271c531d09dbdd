#!/usr/bin/env bash
# The whole test suite (run by `make test` after the build).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}

python3 scripts/check-imports.py
# The same cargo output as the CMake build, so nothing is compiled twice.
CARGO_TARGET_DIR=$build/cargo cargo test --workspace
ctest --test-dir "$build" --output-on-failure --parallel 2

# The packages users install: Unity (UPM), NuGet and Conan (Debian's are a CTest above).
scripts/packages-test.sh "$build"

# Windows: the whole Rust suite and the portable C examples, built with mingw-w64, under Wine.
scripts/windows-tests.sh "$build"

# Swift: the FwasrKit package's tests in a Debian 13 chroot (kept between runs), against
# the library just built.
scripts/swift-tests.sh "$build"

# The C and C++ programs again, built by clang with AddressSanitizer and UBSan.
cmake -S . -B "$build-sanitize" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DFWASR_SANITIZE=ON \
  -DFWASR_CARGO_TARGET_DIR="$PWD/$build/cargo" >/dev/null
cmake --build "$build-sanitize" --parallel 2
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir "$build-sanitize" --output-on-failure --parallel 2

# The free race under ThreadSanitizer, library instrumented too.
scripts/tsan.sh "$build"

# The committed header is what the generator makes of the sources.
CARGO_TARGET_DIR=$build/cargo cargo run -q -p fwasr-header -- --check

# The benchmark suite in miniature: every part for a second or two, no thresholds, so it
# cannot rot (the full run is `make bench`, not part of the tests).
bash bench/run.sh --smoke >/dev/null
bash bench/floor.sh cpu 1 2 3 >/dev/null
bash bench/floor.sh latency 1 3 >/dev/null
bash bench/floor.sh isolation 20 5 >/dev/null
bash bench/lines.sh 3 1 2 >/dev/null
echo "benchmark smoke run: passed"
