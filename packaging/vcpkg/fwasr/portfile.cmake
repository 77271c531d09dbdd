# An overlay port that builds fwasr from this checkout with the machine's cargo (rustup, with
# the triplet's Rust target added) through fwasr's own CMake project:
#   vcpkg install fwasr --overlay-ports=<checkout>/packaging/vcpkg
# Run by the hosted workflow (.github/workflows/ci.yml), not by .ci/run: vcpkg's tool comes
# only from its own repository.
set(SOURCE_PATH "${CMAKE_CURRENT_LIST_DIR}/../../..")

# The triplet's Rust target.
if(VCPKG_TARGET_IS_WINDOWS)
  set(rust_target "x86_64-pc-windows-msvc")
elseif(VCPKG_TARGET_IS_IOS)
  set(rust_target "aarch64-apple-ios")
elseif(VCPKG_TARGET_IS_OSX AND VCPKG_TARGET_ARCHITECTURE STREQUAL "arm64")
  set(rust_target "aarch64-apple-darwin")
elseif(VCPKG_TARGET_IS_OSX)
  set(rust_target "x86_64-apple-darwin")
elseif(VCPKG_TARGET_IS_LINUX AND VCPKG_TARGET_ARCHITECTURE STREQUAL "arm64")
  set(rust_target "aarch64-unknown-linux-gnu")
else()
  set(rust_target "x86_64-unknown-linux-gnu")
endif()

vcpkg_cmake_configure(
  SOURCE_PATH "${SOURCE_PATH}"
  OPTIONS
    -DFWASR_BUILD_EXAMPLES=OFF
    -DFWASR_BUILD_TESTS=OFF
    -DFWASR_RUST_TARGET=${rust_target}
)
vcpkg_cmake_install()
vcpkg_cmake_config_fixup(CONFIG_PATH "lib/cmake/fwasr")
vcpkg_fixup_pkgconfig()

# One linkage per triplet: the other library goes.
if(VCPKG_LIBRARY_LINKAGE STREQUAL "static")
  file(GLOB shared_libs "${CURRENT_PACKAGES_DIR}/lib/*.so*" "${CURRENT_PACKAGES_DIR}/debug/lib/*.so*"
                        "${CURRENT_PACKAGES_DIR}/lib/*.dylib" "${CURRENT_PACKAGES_DIR}/debug/lib/*.dylib"
                        "${CURRENT_PACKAGES_DIR}/lib/fwasr.dll.lib" "${CURRENT_PACKAGES_DIR}/debug/lib/fwasr.dll.lib")
  file(REMOVE ${shared_libs})
  file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/bin" "${CURRENT_PACKAGES_DIR}/debug/bin")
else()
  file(GLOB static_libs "${CURRENT_PACKAGES_DIR}/lib/libfwasr.a" "${CURRENT_PACKAGES_DIR}/debug/lib/libfwasr.a"
                        "${CURRENT_PACKAGES_DIR}/lib/fwasr.lib" "${CURRENT_PACKAGES_DIR}/debug/lib/fwasr.lib")
  file(REMOVE ${static_libs})
endif()
# fwasr-devserver is a tool, not part of the library.
file(GLOB devserver "${CURRENT_PACKAGES_DIR}/bin/fwasr-devserver*" "${CURRENT_PACKAGES_DIR}/debug/bin/fwasr-devserver*")
file(REMOVE ${devserver})
file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/debug/include")

file(WRITE "${CURRENT_PACKAGES_DIR}/share/${PORT}/copyright"
  "fwasr is licensed under the MIT license or the Apache License 2.0, at your option (SPDX: MIT OR Apache-2.0).\n")
file(INSTALL "${CMAKE_CURRENT_LIST_DIR}/usage" DESTINATION "${CURRENT_PACKAGES_DIR}/share/${PORT}")
