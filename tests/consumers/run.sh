#!/usr/bin/env bash
# Builds and runs the consumer projects against fwasr as users get it:
#   run.sh find_package|subdirectory|pkgconfig SOURCE_DIR BUILD_DIR DEVSERVER
# find_package and pkgconfig install BUILD_DIR into a scratch prefix first.
set -euo pipefail
mode=$1 src=$2 build=$3 devserver=$4
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
here="$src/tests/consumers"
serve() { "$devserver" --quiet -- "$@"; }

install_prefix() {
  cmake --install "$build" --prefix "$work/prefix" >/dev/null
}

case "$mode" in
  find_package)
    # Another library's module map at the include root of the shared prefix stays as it is.
    mkdir -p "$work/prefix/include"
    echo 'module other { header "other.h" }' >"$work/prefix/include/module.modulemap"
    echo 'int other(void);' >"$work/prefix/include/other.h"
    install_prefix
    grep -q "module other" "$work/prefix/include/module.modulemap"
    printf '#include <fwasr.h>\n@import fwasr;\nint main(void) { return FWASR_OK; }\n' >"$work/m.m"
    clang -x objective-c -fmodules -fmodules-cache-path="$work/mc" -fsyntax-only -Werror \
      -I"$work/prefix/include" "$work/m.m"
    cmake -S "$here/find_package" -B "$work/b" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
    cmake --build "$work/b" >/dev/null
    # Both run against the installed fwasr-devserver (fwasr::devserver from the package).
    ctest --test-dir "$work/b" --output-on-failure >/dev/null
    grep -q "$work/prefix/bin/fwasr-devserver" "$work/b/CTestTestfile.cmake"
    # The installed library is found through its SONAME link, from the build's RUNPATH.
    readelf -d "$work/b/consumer_shared" | grep -q "NEEDED.*libfwasr.so.0"
    if readelf -d "$work/b/consumer_static" | grep -q "libfwasr"; then
      echo "consumer_static depends on a shared libfwasr" >&2; exit 1
    fi
    ;;
  subdirectory)
    # fwasr's cargo output is reused from the main build, not compiled again.
    cmake -S "$here/subdirectory" -B "$work/b" -DFWASR_SOURCE_DIR="$src" \
      -DFWASR_CARGO_TARGET_DIR="$build/cargo" >/dev/null
    cmake --build "$work/b" >/dev/null
    ctest --test-dir "$work/b" --output-on-failure >/dev/null
    ;;
  readonly)
    # A copy of the sources that may not be written (as a vendored or packaged checkout),
    # built out of tree: the build must work and write nothing into it. Root ignores the
    # permissions, so the copy is also checked for anything newer than the build's start.
    mkdir -p "$work/src"
    (cd "$src" && git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$work/src")
    chmod -R a-w "$work/src"
    touch "$work/started"
    sleep 1
    cmake -S "$work/src" -B "$work/b" -DFWASR_BUILD_EXAMPLES=OFF -DFWASR_BUILD_TESTS=OFF \
      -DFWASR_CARGO_TARGET_DIR="$build/cargo-readonly" >/dev/null
    cmake --build "$work/b" >/dev/null
    chmod -R u+w "$work/src"
    written=$(find "$work/src" -newer "$work/started")
    if [ -n "$written" ]; then
      echo "the build wrote into the source tree: $written" >&2; exit 1
    fi
    ls "$work/b/lib/libfwasr.so.0" >/dev/null
    ;;
  pkgconfig)
    install_prefix
    export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig"
    # shellcheck disable=SC2046
    cc -o "$work/shared" "$here/main.c" $(pkg-config --cflags --libs fwasr) -Wl,-rpath,"$(pkg-config --variable=libdir fwasr)"
    serve "$work/shared"
    # shellcheck disable=SC2046
    cc -o "$work/static" "$here/main.c" $(pkg-config --cflags --libs fwasr-static)
    if readelf -d "$work/static" | grep -q "libfwasr"; then
      echo "the static build depends on a shared libfwasr" >&2; exit 1
    fi
    serve "$work/static"
    # The README's list of system libraries for a static link is the one that was just used.
    libs=$(pkg-config --libs fwasr-static | sed 's|^.*libfwasr\.a *||; s| *$||')
    if ! grep -qF -- "$libs" "$src/README.md"; then
      echo "README does not list the static link libraries: $libs" >&2; exit 1
    fi
    ;;
  *)
    echo "unknown mode $mode" >&2; exit 2 ;;
esac
