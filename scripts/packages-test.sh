#!/usr/bin/env bash
# The packages users install, made and consumed as a user would, against the library built in
# BUILD_DIR (the Debian packages are a CTest of their own: tests/consumers/run.sh deb):
#   unity  com.fwasr.fwasr made by scripts/unity-package.py, packed by npm, checked by
#          tests/unity/validate.py; Fwasr.cs and the sample compiled with Unity's defines
#   nuget  Fwasr packed by NuGet.exe (npm's nuget-exe, on Mono), restored from a local feed
#          into a packages.config project built by xbuild, run against fwasr-devserver
#   conan  `conan create` of packaging/conan, shared and static, remotes disabled (conan in a
#          venv kept in BUILD_DIR), each test_package run against the packaged devserver
# Prints each package's size and contents.
#
#   scripts/packages-test.sh [BUILD_DIR] [unity|nuget|conan ...]
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(cd "${1:-build-test}" && pwd)
shift || true
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(unity nuget conan)
src=$PWD
version=$(sed -n 's/^version = "\([0-9.]*\)"/\1/p' Cargo.toml | head -1)
devserver="$build/cargo/debug/fwasr-devserver"
data="$src/examples-c/data"
expected="Hello from fwasr. This sample is streamed in real time to a local server. The transcript grows as the words arrive."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The package's size and files, for the record.
contents() { # name, size in bytes, files...
  local name=$1 size=$2; shift 2
  echo "  $name: $size bytes: $*"
}

# The library as released: a release build (tests/consumers/run.sh deb leaves one in the same
# cargo directory, so this is usually a no-op).
release_lib() {
  CARGO_TARGET_DIR="$build/cargo" cargo build --release --quiet -p fwasr -p fwasr-devserver
  echo "$build/cargo/release/libfwasr.so"
}

unity() {
  python3 scripts/unity-package.py "$work/unity" linux-x64="$(release_lib)" >/dev/null
  (cd "$work/unity" && npm pack --silent ./com.fwasr.fwasr >/dev/null)
  local tgz="$work/unity/com.fwasr.fwasr-$version.tgz"
  python3 tests/unity/validate.py "$tgz"
  contents "$(basename "$tgz")" "$(stat -c %s "$tgz")" "$(tar tzf "$tgz" | grep -v '\.meta$' | sed 's|^package/||' | tr '\n' ' ')"
  # Fwasr.cs and the sample as Unity compiles them, against the UnityEngine types they use:
  # a player on Linux (the library "fwasr") and on iOS (linked in: "__Internal").
  local runtime="$work/unity/com.fwasr.fwasr/Runtime" sample="$work/unity/com.fwasr.fwasr/Samples~/Microphone"
  for defines in "UNITY_5_3_OR_NEWER;UNITY_STANDALONE_LINUX" "UNITY_5_3_OR_NEWER;UNITY_IOS"; do
    mcs -nologo -warnaserror -target:library -define:"$defines" -out:"$work/unity.dll" \
      "$runtime/Fwasr.cs" "$sample/MicrophoneTranscript.cs" tests/unity/UnityEngineStub.cs
    local internal
    internal=$(grep -c "__Internal" "$work/unity.dll" || true)
    case "$defines" in
      *IOS*) [ "$internal" -gt 0 ] || { echo "unity: the iOS build does not call __Internal" >&2; exit 1; } ;;
      *) [ "$internal" -eq 0 ] || { echo "unity: a desktop build calls __Internal" >&2; exit 1; } ;;
    esac
  done
  echo "unity: package validated; Fwasr.cs and the sample compile for Linux and iOS players"
}

nuget() {
  local npm="$build/npm" stage="$work/nuget" feed="$work/feed" app="$work/app"
  [ -f "$npm/node_modules/nuget-exe/nuget-5.8.0.exe" ] ||
    npm install --silent --no-audit --no-fund --prefix "$npm" nuget-exe@5.8.0 >/dev/null
  local nuget_exe=("mono" "$npm/node_modules/nuget-exe/nuget-5.8.0.exe")
  mkdir -p "$stage/lib/net45" "$stage/runtimes/linux-x64/native" "$stage/build/net45" "$feed" "$app"
  mcs -nologo -warnaserror -nowarn:1591 -target:library -doc:"$stage/lib/net45/Fwasr.xml" -out:"$stage/lib/net45/Fwasr.dll" \
    bindings/csharp/Fwasr.cs
  cp "$(release_lib)" "$stage/runtimes/linux-x64/native/libfwasr.so"
  cp packaging/nuget/targets/Fwasr.targets "$stage/build/net45/"
  cp packaging/nuget/Fwasr.nuspec "$stage/"
  "${nuget_exe[@]}" pack "$stage/Fwasr.nuspec" -Version "$version" -OutputDirectory "$feed" -NonInteractive >/dev/null
  local nupkg="$feed/Fwasr.$version.nupkg"
  contents "$(basename "$nupkg")" "$(stat -c %s "$nupkg")" \
    "$(python3 -c 'import sys, zipfile; print(" ".join(n for n in zipfile.ZipFile(sys.argv[1]).namelist() if not n.startswith(("_rels", "package/", "[Content"))))' "$nupkg")"
  # A packages.config project restores it from the local feed only, builds, and streams.
  for f in App.csproj packages.config Program.cs; do sed "s/@VERSION@/$version/g" "tests/nuget/$f" >"$app/$f"; done
  (cd "$app" && "${nuget_exe[@]}" restore packages.config -PackagesDirectory packages -Source "$feed" \
    -NonInteractive >/dev/null)
  (cd "$app" && xbuild /nologo /verbosity:quiet App.csproj >"$work/xbuild.log" 2>&1) ||
    { cat "$work/xbuild.log" >&2; exit 1; }
  [ -f "$app/bin/Debug/libfwasr.so" ] || { echo "nuget: the build targets did not copy libfwasr.so" >&2; exit 1; }
  "$devserver" --quiet --script "$data/sample.script.json" -- mono "$app/bin/Debug/App.exe" "$data/sample.wav" "$expected"
}

conan() {
  local venv="$build/conan-venv"
  [ -x "$venv/bin/conan" ] || {
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet conan==2.34.0
  }
  export CONAN_HOME="$build/conan-home"
  "$venv/bin/conan" profile detect --exist-ok >/dev/null 2>&1
  "$venv/bin/conan" remote disable "*" >/dev/null
  # The release build's cargo output is shared with tests/consumers/run.sh deb.
  export FWASR_CARGO_TARGET_DIR="$build/cargo"
  # The test package builds in a copy, so nothing is written into the sources.
  cp -r packaging/conan/test_package "$work/test_package"
  for shared in True False; do
    "$venv/bin/conan" create packaging/conan -o "fwasr/*:shared=$shared" --build=missing -tf "" \
      --format=json >"$work/create.json" 2>"$work/conan.log" || { tail -40 "$work/conan.log" >&2; exit 1; }
    rm -rf "$work/test_package/build"
    "$venv/bin/conan" test "$work/test_package" "fwasr/$version" -o "fwasr/*:shared=$shared" \
      >"$work/conan-test.log" 2>&1 || { tail -40 "$work/conan-test.log" >&2; exit 1; }
    grep "from C" "$work/conan-test.log" | sed 's/^/  /'
    local program package
    program=$(find "$work/test_package/build" -name test_package_c -type f)
    package=$(python3 -c '
import json, sys
nodes = json.load(open(sys.argv[1]))["graph"]["nodes"].values()
print(next(n["package_folder"] for n in nodes if str(n.get("ref", "")).startswith("fwasr/")))' "$work/create.json")
    if [ "$shared" = True ]; then
      readelf -d "$program" | grep -q "NEEDED.*libfwasr.so" || { echo "conan: shared test_package is not linked to libfwasr.so" >&2; exit 1; }
    else
      ! readelf -d "$program" | grep -q "libfwasr" || { echo "conan: static test_package needs libfwasr.so" >&2; exit 1; }
    fi
    contents "conan fwasr/$version shared=$shared" "$(du -sb "$package" | cut -f1)" \
      "$(cd "$package" && find . -type f -o -type l | sed 's|^\./||' | sort | tr '\n' ' ')"
  done
  echo "conan: create and test_package passed, shared and static"
}

for part in "${parts[@]}"; do
  echo "packages: $part"
  "$part"
done
