#!/usr/bin/env bash
# ABI hygiene of the built library and the headers:
#   check.sh SOURCE_DIR LIB_DIR
# - the shared library exports only fwasr_* symbols, has the SONAME libfwasr.so.MAJOR and the
#   usual version links;
# - FWASR_VERSION_MAJOR/MINOR/PATCH in fwasr.h match Cargo.toml;
# - fwasr.h compiles cleanly as C99 and C++ (gcc and clang, -Wall -Wextra -Werror -pedantic),
#   fwasr.hpp as C++17, and the module map (include/fwasr/) imports with clang -fmodules, also
#   after a textual #include of the header.
set -uo pipefail
src=$1 lib=$2
inc="$src/include"
passed=0 failed=0
check() { # name, command...
  local name=$1; shift
  if out=$("$@" 2>&1); then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAILED: $name"; echo "$out"; fi
}

version=$(sed -n 's/^version = "\([0-9.]*\)"$/\1/p' "$src/Cargo.toml" | head -1)
major=${version%%.*}
so="$lib/libfwasr.so.$version"

exports_only_fwasr() {
  local all others
  all=$(nm -D --defined-only "$so" | awk '{print $3}')
  others=$(grep -v '^fwasr_' <<<"$all")
  [ -n "$all" ] && [ -z "$others" ] || { echo "exported besides fwasr_*: $others"; return 1; }
  # Every function the header declares is exported.
  for f in $(grep -o 'fwasr_[a-z0-9_]*(' "$inc/fwasr.h" | tr -d '(' | sort -u); do
    grep -qx "$f" <<<"$all" || { echo "not exported: $f"; return 1; }
  done
}
check "exports only fwasr_*" exports_only_fwasr
check "SONAME" bash -c "readelf -d '$so' | grep -q 'SONAME.*\[libfwasr.so.$major\]'"
check "version links" bash -c "[ \"\$(readlink '$lib/libfwasr.so.$major')\" = libfwasr.so.$version ] && [ \"\$(readlink '$lib/libfwasr.so')\" = libfwasr.so.$major ]"

# Every name the header defines is in fwasr's namespace.
header_namespace() {
  local names others
  names=$(grep -oE '^(#define [A-Za-z_0-9]+|typedef (struct|enum) [A-Za-z_0-9]+|} [A-Za-z_0-9]+;|  [A-Z_0-9]+ = )' "$inc/fwasr.h" |
          sed -E 's/^#define //; s/^typedef (struct|enum) //; s/^} //; s/;$//; s/^  //; s/ = $//')
  others=$(grep -viE '^fwasr_' <<<"$names" | grep -v '^FWASR_H$' || true)
  [ -z "$others" ] || { echo "outside the fwasr namespace: $others"; return 1; }
}
check "header names start with fwasr_/FWASR_" header_namespace

header_version() {
  local want=$1 got
  got=$(printf '#include <fwasr.h>\nFWASR_VERSION_MAJOR.FWASR_VERSION_MINOR.FWASR_VERSION_PATCH\n' |
        cc -E -P -I"$inc" -x c - | tail -1 | tr -d ' ')
  [ "$got" = "$want" ] || { echo "header says $got, Cargo.toml $want"; return 1; }
}
check "header version = Cargo.toml" header_version "$version"

flags=(-Wall -Wextra -Werror -pedantic -fsyntax-only -I"$inc")
for c in gcc clang; do
  check "$c -std=c99 fwasr.h" "$c" -std=c99 "${flags[@]}" -x c "$inc/fwasr.h"
done
for cxx in g++ clang++; do
  check "$cxx -std=c++11 fwasr.h" "$cxx" -std=c++11 "${flags[@]}" -x c++ "$inc/fwasr.h"
  check "$cxx -std=c++17 fwasr.hpp" "$cxx" -std=c++17 "${flags[@]}" -x c++ "$inc/fwasr.hpp"
done
modcache=$(mktemp -d)
check "clang -fmodules @import fwasr" clang -x objective-c -fmodules -fmodules-cache-path="$modcache" \
  -fsyntax-only -Wall -Werror -I"$inc" "$src/tests/abi/module_import.c"
check "clang -fmodules #include then @import fwasr" clang -x objective-c -fmodules \
  -fmodules-cache-path="$modcache/both" -fsyntax-only -Wall -Werror -DINCLUDE_FIRST -I"$inc" \
  "$src/tests/abi/module_import.c"
# The module map sits in fwasr's own directory, not at the include root that other
# libraries' module maps share.
check "module map in include/fwasr/" bash -c "[ -f '$inc/fwasr/module.modulemap' ] && [ ! -e '$inc/module.modulemap' ]"
rm -rf "$modcache"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
