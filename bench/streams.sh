#!/usr/bin/env bash
# Concurrent real-time streams in one process (bench/streams.c) against fwasr-devserver on
# loopback: 1, 100 and 1,000 streams for SECONDS each (default 20). Prints one line per run.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
cargo build --release --workspace --quiet
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ln -s "$PWD/target/release/libfwasr.so" "$work/libfwasr.so.0"
cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -Iinclude bench/streams.c \
  -o "$work/streams" -L"$work" -l:libfwasr.so.0 -Wl,-rpath,"$work"
for n in 1 100 1000; do
  target/release/fwasr-devserver --quiet -- "$work/streams" "$n" "$seconds" | grep '^streams'
done
