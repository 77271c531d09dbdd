# Builds the Rust workspace (libfwasr and fwasr-devserver) with cargo and exposes the results
# as imported targets: fwasr::fwasr (shared), fwasr::fwasr_static, and the devserver path.

find_program(CARGO cargo HINTS "$ENV{HOME}/.cargo/bin" REQUIRED)

if(CMAKE_BUILD_TYPE STREQUAL "Release" OR CMAKE_BUILD_TYPE STREQUAL "RelWithDebInfo")
  set(FWASR_CARGO_PROFILE release)
  set(FWASR_CARGO_FLAGS --release)
else()
  set(FWASR_CARGO_PROFILE debug)
  set(FWASR_CARGO_FLAGS "")
endif()

set(FWASR_CARGO_TARGET_DIR "${PROJECT_SOURCE_DIR}/target" CACHE PATH "cargo's target directory")
set(FWASR_RUST_OUT "${FWASR_CARGO_TARGET_DIR}/${FWASR_CARGO_PROFILE}")
set(FWASR_SHARED_LIB "${FWASR_RUST_OUT}/${CMAKE_SHARED_LIBRARY_PREFIX}fwasr${CMAKE_SHARED_LIBRARY_SUFFIX}")
set(FWASR_STATIC_LIB "${FWASR_RUST_OUT}/${CMAKE_STATIC_LIBRARY_PREFIX}fwasr${CMAKE_STATIC_LIBRARY_SUFFIX}")
set(FWASR_DEVSERVER "${FWASR_RUST_OUT}/fwasr-devserver${CMAKE_EXECUTABLE_SUFFIX}")

# cargo decides what is stale, so this runs on every build and is a no-op when nothing changed.
add_custom_target(fwasr_cargo ALL
  COMMAND "${CARGO}" build --workspace ${FWASR_CARGO_FLAGS} --target-dir "${FWASR_CARGO_TARGET_DIR}"
  WORKING_DIRECTORY "${PROJECT_SOURCE_DIR}"
  BYPRODUCTS "${FWASR_SHARED_LIB}" "${FWASR_STATIC_LIB}" "${FWASR_DEVSERVER}"
  COMMENT "cargo build (libfwasr, fwasr-devserver)"
  USES_TERMINAL)

add_library(fwasr_shared SHARED IMPORTED GLOBAL)
set_target_properties(fwasr_shared PROPERTIES
  IMPORTED_LOCATION "${FWASR_SHARED_LIB}"
  INTERFACE_INCLUDE_DIRECTORIES "${PROJECT_SOURCE_DIR}/include")
add_dependencies(fwasr_shared fwasr_cargo)
add_library(fwasr::fwasr ALIAS fwasr_shared)

# The static library needs the system libraries Rust's std and OpenSSL use.
find_package(Threads REQUIRED)
find_package(OpenSSL REQUIRED)
add_library(fwasr_static STATIC IMPORTED GLOBAL)
set_target_properties(fwasr_static PROPERTIES
  IMPORTED_LOCATION "${FWASR_STATIC_LIB}"
  INTERFACE_INCLUDE_DIRECTORIES "${PROJECT_SOURCE_DIR}/include"
  INTERFACE_LINK_LIBRARIES "OpenSSL::SSL;OpenSSL::Crypto;Threads::Threads;${CMAKE_DL_LIBS};m")
add_dependencies(fwasr_static fwasr_cargo)
add_library(fwasr::fwasr_static ALIAS fwasr_static)
