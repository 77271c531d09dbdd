#!/usr/bin/env bash
# Builds and runs the consumer projects against fwasr as users get it:
#   run.sh find_package|subdirectory|pkgconfig|readonly|deb SOURCE_DIR BUILD_DIR DEVSERVER
# find_package and pkgconfig install BUILD_DIR into a scratch prefix first; deb makes the
# Debian packages from a release build and has dpkg install them into a scratch root.
set -euo pipefail
mode=$1 src=$2 build=$3 devserver=$4
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
here="$src/tests/consumers"
serve() { "$devserver" --quiet -- "$@"; }

install_prefix() {
  cmake --install "$build" --prefix "$work/prefix" >/dev/null
}

# The find_package consumer against fwasr installed under PREFIX: built, and its tests run
# against the installed fwasr-devserver (fwasr::devserver from the package).
find_package_consumer() { # PREFIX
  cmake -S "$here/find_package" -B "$work/b" -DCMAKE_PREFIX_PATH="$1" >/dev/null
  cmake --build "$work/b" >/dev/null
  ctest --test-dir "$work/b" --output-on-failure >/dev/null
  grep -q "$1/bin/fwasr-devserver" "$work/b/CTestTestfile.cmake"
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
    find_package_consumer "$work/prefix"
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
  deb)
    # A release build as a distribution would make it (prefix /usr), its cargo output kept
    # beside the test build's for the next run.
    cmake -S "$src" -B "$work/rel" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
      -DFWASR_BUILD_EXAMPLES=OFF -DFWASR_BUILD_TESTS=OFF -DFWASR_CARGO_TARGET_DIR="$build/cargo" >/dev/null
    cmake --build "$work/rel" >/dev/null
    "$src/scripts/deb.sh" "$work/rel" "$work/debs" >/dev/null
    multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
    for pkg in libfwasr0 libfwasr-dev fwasr-devserver; do
      ls "$work/debs/${pkg}_"*.deb >/dev/null
      echo "deb: $pkg $(stat -c %s "$work/debs/${pkg}_"*.deb) bytes: $(dpkg-deb -c "$work/debs/${pkg}_"*.deb | awk '$1 !~ /^d/ {print $6}' | tr '\n' ' ')"
    done
    dpkg-deb -f "$work/debs/libfwasr0_"*.deb Depends | grep -q "libssl3"
    dpkg-deb -f "$work/debs/libfwasr-dev_"*.deb Depends | grep -q "libfwasr0 (= "
    # dpkg itself installs them into an empty root (the system's libraries are not in its
    # database there, hence --force-depends), lists their files, and removes them.
    root="$work/root"
    mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates"
    touch "$root/var/lib/dpkg/status" "$root/var/lib/dpkg/available"
    dpkg --root="$root" --force-depends --force-not-root --log=/dev/null -i "$work/debs/"*.deb \
      >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; exit 1; }
    dpkg --root="$root" -L libfwasr0 | grep -qx "/usr/lib/$multiarch/libfwasr.so.0"
    readelf -d "$root/usr/lib/$multiarch/libfwasr.so.0" | grep -q "SONAME.*libfwasr.so.0"
    # The consumer projects against the installed packages: CMake, then pkg-config.
    find_package_consumer "$root/usr"
    export PKG_CONFIG_SYSROOT_DIR="$root" PKG_CONFIG_LIBDIR="$root/usr/lib/$multiarch/pkgconfig"
    # shellcheck disable=SC2046
    cc -o "$work/shared" "$here/main.c" $(pkg-config --cflags --libs fwasr) -Wl,-rpath,"$root/usr/lib/$multiarch"
    "$root/usr/bin/fwasr-devserver" --quiet -- "$work/shared"
    dpkg --root="$root" --force-depends --force-not-root --log=/dev/null -r libfwasr-dev libfwasr0 fwasr-devserver \
      >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; exit 1; }
    if [ -e "$root/usr/lib/$multiarch/libfwasr.so.0" ] || [ -e "$root/usr/include/fwasr.h" ]; then
      echo "dpkg -r left files behind" >&2; exit 1
    fi
    ;;
  *)
    echo "unknown mode $mode" >&2; exit 2 ;;
esac
