#!/usr/bin/env bash
# Debian packages from a CMake build of fwasr configured with -DCMAKE_INSTALL_PREFIX=/usr (so
# the libraries go to the multiarch directory) and built:
#   libfwasr0        the shared library (SONAME libfwasr.so.0)
#   libfwasr-dev     headers, libfwasr.so link, static library, CMake package, pkg-config
#   fwasr-devserver  the local test server
# Dependencies come from dpkg-shlibdeps; the package version is Cargo.toml's, revision 1.
#
#   scripts/deb.sh BUILD_DIR OUT_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
build=$1 out=$2
version=$(sed -n 's/^version = "\([0-9.]*\)"/\1/p' Cargo.toml | head -1)-1
arch=$(dpkg --print-architecture)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"

DESTDIR="$work/all" cmake --install "$build" >/dev/null
lib=usr/lib/$multiarch
[ -e "$work/all/$lib/libfwasr.so.0" ] || {
  echo "deb: no $lib/libfwasr.so.0 in the install: configure $build with -DCMAKE_INSTALL_PREFIX=/usr" >&2
  exit 1
}

# Moves the installed paths (globs relative to the install root) into package $1.
take() {
  local pkg=$1; shift
  for path in "$@"; do
    for f in "$work/all"/$path; do
      [ -e "$f" ] || [ -L "$f" ] || { echo "deb: $path is not in the install" >&2; exit 1; }
      mkdir -p "$work/$pkg/$(dirname "${f#"$work/all/"}")"
      mv "$f" "$work/$pkg/${f#"$work/all/"}"
    done
  done
}
take libfwasr0 "$lib/libfwasr.so.0*"
take libfwasr-dev usr/include "$lib/libfwasr.so" "$lib/libfwasr.a" "$lib/cmake" "$lib/pkgconfig"
take fwasr-devserver usr/bin/fwasr-devserver
left=$(find "$work/all" -type f -o -type l)
[ -z "$left" ] || { echo "deb: installed but in no package: $left" >&2; exit 1; }

# What the binaries of a package need, as dpkg-shlibdeps says (it wants a debian/control).
shlibs() { # package dir, binaries...
  local dir=$1; shift
  mkdir -p "$work/shlibdeps/debian"
  printf 'Source: fwasr\n\nPackage: x\nArchitecture: any\n' >"$work/shlibdeps/debian/control"
  (cd "$work/shlibdeps" && dpkg-shlibdeps -O -l"$dir/$lib" "${@/#/$dir/}" 2>/dev/null) | sed -n 's/^shlibs:Depends=//p'
}

copyright() { # package
  mkdir -p "$work/$1/usr/share/doc/$1"
  cat >"$work/$1/usr/share/doc/$1/copyright" <<'EOF'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: fwasr
Files: *
Copyright: the fwasr authors
License: MIT or Apache-2.0

License: MIT
 Permission is hereby granted, free of charge, to any person obtaining a copy of this
 software and associated documentation files (the "Software"), to deal in the Software
 without restriction, including without limitation the rights to use, copy, modify, merge,
 publish, distribute, sublicense, and/or sell copies of the Software, and to permit persons
 to whom the Software is furnished to do so, subject to the following conditions:
 .
 The above copyright notice and this permission notice shall be included in all copies or
 substantial portions of the Software.
 .
 THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED,
 INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR
 PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE
 FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR
 OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER
 DEALINGS IN THE SOFTWARE.

License: Apache-2.0
 On Debian systems the full text of the Apache License 2.0 is in
 /usr/share/common-licenses/Apache-2.0.
EOF
}

control() { # package, section, multi-arch, depends, description
  local pkg=$1
  mkdir -p "$work/$pkg/DEBIAN"
  {
    echo "Package: $pkg"
    echo "Version: $version"
    echo "Architecture: $arch"
    echo "Section: $2"
    echo "Priority: optional"
    [ -n "$3" ] && echo "Multi-Arch: $3"
    echo "Maintainer: fwasr <fwasr@localhost>"
    echo "Installed-Size: $(du -sk --exclude=DEBIAN "$work/$pkg" | cut -f1)"
    [ -n "$4" ] && echo "Depends: $4"
    printf 'Description: %s\n' "$5"
    echo " fwasr streams live audio to the Fireworks streaming transcription WebSocket"
    echo " and hands back the transcript as it evolves, through a C API (with C++, C#"
    echo " and Swift front ends) that never blocks a media thread."
  } >"$work/$pkg/DEBIAN/control"
}

copyright libfwasr0
control libfwasr0 libs same "$(shlibs "$work/libfwasr0" "$lib/libfwasr.so.0")" \
  "streaming speech-to-text for native code (shared library)"
echo "libfwasr 0 libfwasr0 (>= ${version%-1})" >"$work/libfwasr0/DEBIAN/shlibs"
# ldconfig after installing or removing a shared library.
echo "activate-noawait ldconfig" >"$work/libfwasr0/DEBIAN/triggers"

copyright libfwasr-dev
control libfwasr-dev libdevel same "libfwasr0 (= $version)" \
  "streaming speech-to-text for native code (development files)"

copyright fwasr-devserver
control fwasr-devserver devel "" "$(shlibs "$work/fwasr-devserver" usr/bin/fwasr-devserver)" \
  "local Fireworks streaming transcription server for tests and demos"

for pkg in libfwasr0 libfwasr-dev fwasr-devserver; do
  find "$work/$pkg" -type d -exec chmod 755 {} +
  dpkg-deb --root-owner-group -Zxz --build "$work/$pkg" "$out/${pkg}_${version}_${arch}.deb" >/dev/null
  echo "$out/${pkg}_${version}_${arch}.deb"
done
