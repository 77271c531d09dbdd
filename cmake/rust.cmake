# Builds the Rust workspace (libfwasr and fwasr-devserver) with cargo and lays the libraries
# out in ${CMAKE_BINARY_DIR}/lib as they are installed: libfwasr.so.X.Y.Z with the
# libfwasr.so.X (SONAME) and libfwasr.so links, and libfwasr.a. Exposes imported targets
# fwasr::fwasr (shared) and fwasr::fwasr_static, and FWASR_DEVSERVER (the server's path).

find_program(CARGO cargo HINTS "$ENV{HOME}/.cargo/bin" REQUIRED)

if(CMAKE_BUILD_TYPE STREQUAL "Release" OR CMAKE_BUILD_TYPE STREQUAL "RelWithDebInfo")
  set(FWASR_CARGO_PROFILE release)
  set(FWASR_CARGO_FLAGS --release)
else()
  set(FWASR_CARGO_PROFILE debug)
  set(FWASR_CARGO_FLAGS "")
endif()

set(FWASR_CARGO_TARGET_DIR "${CMAKE_CURRENT_LIST_DIR}/../target" CACHE PATH "cargo's target directory")
set(FWASR_RUST_OUT "${FWASR_CARGO_TARGET_DIR}/${FWASR_CARGO_PROFILE}")
set(FWASR_DEVSERVER "${FWASR_RUST_OUT}/fwasr-devserver${CMAKE_EXECUTABLE_SUFFIX}")
set(FWASR_LIB_DIR "${PROJECT_BINARY_DIR}/lib")
set(FWASR_SONAME "libfwasr.so.${FWASR_VERSION_MAJOR}")
set(FWASR_SHARED_LIB "${FWASR_LIB_DIR}/libfwasr.so.${FWASR_VERSION}")
set(FWASR_STATIC_LIB "${FWASR_LIB_DIR}/libfwasr.a")

# cargo decides what is stale, so this runs on every build and is a no-op when nothing changed.
add_custom_target(fwasr_cargo ALL
  COMMAND "${CARGO}" build --workspace ${FWASR_CARGO_FLAGS} --target-dir "${FWASR_CARGO_TARGET_DIR}"
  COMMAND "${CMAKE_COMMAND}" -E make_directory "${FWASR_LIB_DIR}"
  COMMAND "${CMAKE_COMMAND}" -E copy_if_different "${FWASR_RUST_OUT}/libfwasr.so" "${FWASR_SHARED_LIB}"
  COMMAND "${CMAKE_COMMAND}" -E copy_if_different "${FWASR_RUST_OUT}/libfwasr.a" "${FWASR_STATIC_LIB}"
  COMMAND "${CMAKE_COMMAND}" -E create_symlink "libfwasr.so.${FWASR_VERSION}" "${FWASR_LIB_DIR}/${FWASR_SONAME}"
  COMMAND "${CMAKE_COMMAND}" -E create_symlink "${FWASR_SONAME}" "${FWASR_LIB_DIR}/libfwasr.so"
  WORKING_DIRECTORY "${CMAKE_CURRENT_LIST_DIR}/.."
  BYPRODUCTS "${FWASR_SHARED_LIB}" "${FWASR_STATIC_LIB}" "${FWASR_DEVSERVER}"
  COMMENT "cargo build (libfwasr, fwasr-devserver)"
  USES_TERMINAL)

set(FWASR_INCLUDE_DIR "${CMAKE_CURRENT_LIST_DIR}/../include")
get_filename_component(FWASR_INCLUDE_DIR "${FWASR_INCLUDE_DIR}" ABSOLUTE)

add_library(fwasr_shared SHARED IMPORTED GLOBAL)
set_target_properties(fwasr_shared PROPERTIES
  IMPORTED_LOCATION "${FWASR_SHARED_LIB}"
  IMPORTED_SONAME "${FWASR_SONAME}"
  INTERFACE_INCLUDE_DIRECTORIES "${FWASR_INCLUDE_DIR}")
add_dependencies(fwasr_shared fwasr_cargo)
add_library(fwasr::fwasr ALIAS fwasr_shared)

# The static library needs the system libraries Rust's std and OpenSSL use (README lists them).
find_package(Threads REQUIRED)
find_package(OpenSSL REQUIRED)
add_library(fwasr_static STATIC IMPORTED GLOBAL)
set_target_properties(fwasr_static PROPERTIES
  IMPORTED_LOCATION "${FWASR_STATIC_LIB}"
  INTERFACE_INCLUDE_DIRECTORIES "${FWASR_INCLUDE_DIR}"
  INTERFACE_LINK_LIBRARIES "OpenSSL::SSL;OpenSSL::Crypto;Threads::Threads;${CMAKE_DL_LIBS};m;rt;util")
add_dependencies(fwasr_static fwasr_cargo)
add_library(fwasr::fwasr_static ALIAS fwasr_static)
