#!/usr/bin/env bash
# wrappers.py must fail when the header grows and the wrappers do not: a copy of the header with
# one more event field, stats field, function and status value is checked against the unchanged
# wrappers. (C++ hands out fwasr_stats itself, so only its event field can go missing.)
#   wrappers_selftest.sh SOURCE_DIR
set -euo pipefail
src=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/include" "$tmp/bindings/csharp" "$tmp/bindings/swift/Sources/FwasrKit"
cp "$src/include/fwasr.hpp" "$tmp/include/"
cp "$src/bindings/csharp/Fwasr.cs" "$tmp/bindings/csharp/"
cp "$src/bindings/swift/Sources/FwasrKit/Fwasr.swift" "$tmp/bindings/swift/Sources/FwasrKit/"
sed -e 's/^  double audio_ms_replayed;$/&\n  double audio_ms_fake;/' \
    -e 's/^  double backoff_ms;$/&\n  double fake_ms;/' \
    -e 's/^  FWASR_ERR_RESOURCE = 17,$/&\n  FWASR_ERR_FAKE = 18,/' \
    -e 's/^void fwasr_session_free(struct fwasr_session \*s);$/&\nenum fwasr_status fwasr_session_fake(const struct fwasr_session *s);/' \
    "$src/include/fwasr.h" >"$tmp/include/fwasr.h"
# The edit itself must have happened, or this test proves nothing.
[ "$(diff "$src/include/fwasr.h" "$tmp/include/fwasr.h" | grep -c '^>')" = 4 ] || { echo "header edit did not apply"; exit 1; }
if out=$(python3 "$src/tests/abi/wrappers.py" "$tmp"); then
  echo "wrappers.py passed a header with new fields, a new function and a new status value"; exit 1
fi
echo "$out"
for want in "C++: function fwasr_session_fake" "C++: fwasr_event field fake_ms" \
    "C#: function fwasr_session_fake" "C#: fwasr_event field fake_ms" "C#: fwasr_stats field audio_ms_fake" \
    "C#: enum Status value FWASR_ERR_FAKE = 18" \
    "Swift: function fwasr_session_fake" "Swift: fwasr_event field fake_ms" "Swift: fwasr_stats field audio_ms_fake"; do
  grep -qxF "missing $want" <<<"$out" || { echo "not reported: $want"; exit 1; }
done
echo "wrappers.py reports every missing item"
