#!/usr/bin/env bash
# Runs examples-c/transcribe_file on the bundled sample: against Fireworks when
# FIREWORKS_API_KEY is set, otherwise against a local fwasr-devserver it starts.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
profile=$(grep -q 'CMAKE_BUILD_TYPE:STRING=Release' "$build/CMakeCache.txt" && echo release || echo debug)
sample=examples-c/data/sample.wav
if [ -n "${FIREWORKS_API_KEY:-}" ]; then
  echo "Streaming $sample to ${FWASR_URL:-the Fireworks endpoint}"
  exec "$build/transcribe_file" "$sample"
fi
echo "FIREWORKS_API_KEY is not set: streaming $sample to a local fwasr-devserver"
exec "$build/cargo/$profile/fwasr-devserver" --quiet --script examples-c/data/sample.script.json -- \
  "$build/transcribe_file" "$sample"
