# Builds the Rust workspace (libfwasr and fwasr-devserver) with cargo and lays the libraries
# out in ${PROJECT_BINARY_DIR}/lib as they are installed. Per platform:
#   Linux, Android  libfwasr.so.X.Y.Z with the libfwasr.so.X (SONAME) and libfwasr.so links,
#                   and libfwasr.a
#   macOS, iOS      libfwasr.dylib (install name @rpath/libfwasr.dylib) and libfwasr.a
#   Windows (MSVC)  fwasr.dll (installed to bin/), its import library fwasr.dll.lib, and the
#                   static fwasr.lib
# Exposes imported targets fwasr::fwasr (shared) and fwasr::fwasr_static, and FWASR_DEVSERVER
# (the server's path; not built when cross-compiling).

find_program(CARGO cargo HINTS "$ENV{HOME}/.cargo/bin" REQUIRED)

if(CMAKE_BUILD_TYPE STREQUAL "Release" OR CMAKE_BUILD_TYPE STREQUAL "RelWithDebInfo")
  set(FWASR_CARGO_PROFILE release)
  set(FWASR_CARGO_FLAGS --release)
else()
  set(FWASR_CARGO_PROFILE debug)
  set(FWASR_CARGO_FLAGS "")
endif()

# The Rust target: as given, else derived from CMake's Apple cross-compiling settings, else
# the host's.
set(FWASR_RUST_TARGET "" CACHE STRING "Rust target triple (empty: from CMAKE_SYSTEM_NAME and CMAKE_OSX_ARCHITECTURES, else the host)")
if(NOT FWASR_RUST_TARGET AND APPLE)
  set(_fwasr_arch "${CMAKE_OSX_ARCHITECTURES}")
  list(LENGTH _fwasr_arch _fwasr_narch)
  if(_fwasr_narch GREATER 1)
    message(FATAL_ERROR "fwasr builds one architecture at a time (CMAKE_OSX_ARCHITECTURES=${_fwasr_arch}); scripts/xcframework.sh combines them")
  endif()
  if(NOT _fwasr_arch)
    set(_fwasr_arch "${CMAKE_SYSTEM_PROCESSOR}")
  endif()
  if(_fwasr_arch STREQUAL "arm64" OR _fwasr_arch STREQUAL "aarch64")
    set(_fwasr_arch aarch64)
  endif()
  if(CMAKE_SYSTEM_NAME STREQUAL "iOS")
    if(CMAKE_OSX_SYSROOT MATCHES "[Ss]imulator")
      set(FWASR_RUST_TARGET "${_fwasr_arch}-apple-ios")
      if(_fwasr_arch STREQUAL "aarch64")
        set(FWASR_RUST_TARGET "aarch64-apple-ios-sim")
      endif()
    else()
      set(FWASR_RUST_TARGET "aarch64-apple-ios")
    endif()
  elseif(CMAKE_CROSSCOMPILING OR CMAKE_OSX_ARCHITECTURES)
    set(FWASR_RUST_TARGET "${_fwasr_arch}-apple-darwin")
  endif()
endif()

set(FWASR_CARGO_TARGET_DIR "${PROJECT_BINARY_DIR}/cargo" CACHE PATH "cargo's target directory")
if(FWASR_RUST_TARGET)
  set(FWASR_RUST_OUT "${FWASR_CARGO_TARGET_DIR}/${FWASR_RUST_TARGET}/${FWASR_CARGO_PROFILE}")
  set(_fwasr_target_args --target "${FWASR_RUST_TARGET}")
  # The devserver is a host tool: cross builds leave it out.
  set(_fwasr_packages -p fwasr)
else()
  set(FWASR_RUST_OUT "${FWASR_CARGO_TARGET_DIR}/${FWASR_CARGO_PROFILE}")
  set(_fwasr_target_args "")
  set(_fwasr_packages -p fwasr -p fwasr-devserver)
  set(FWASR_DEVSERVER "${FWASR_RUST_OUT}/fwasr-devserver${CMAKE_EXECUTABLE_SUFFIX}")
endif()
set(FWASR_LIB_DIR "${PROJECT_BINARY_DIR}/lib")

# What each platform calls the libraries, and what a static link needs besides the library
# (rustc --print native-static-libs for each target).
if(WIN32)
  set(FWASR_SHARED_LIB "${FWASR_LIB_DIR}/fwasr.dll")
  set(FWASR_IMPORT_LIB "${FWASR_LIB_DIR}/fwasr.dll.lib")
  set(FWASR_STATIC_LIB "${FWASR_LIB_DIR}/fwasr.lib")
  set(_fwasr_copy
    COMMAND "${CMAKE_COMMAND}" -E copy_if_different "${FWASR_RUST_OUT}/fwasr.dll" "${FWASR_SHARED_LIB}"
    COMMAND "${CMAKE_COMMAND}" -E copy_if_different "${FWASR_RUST_OUT}/fwasr.dll.lib" "${FWASR_IMPORT_LIB}"
    COMMAND "${CMAKE_COMMAND}" -E copy_if_different "${FWASR_RUST_OUT}/fwasr.lib" "${FWASR_STATIC_LIB}")
  set(FWASR_STATIC_LINK kernel32 ntdll userenv ws2_32 dbghelp)
  set(FWASR_STATIC_SYSTEM_LIBS "-lkernel32 -lntdll -luserenv -lws2_32 -ldbghelp")
elseif(APPLE)
  set(FWASR_SHARED_LIB "${FWASR_LIB_DIR}/libfwasr.dylib")
  set(FWASR_STATIC_LIB "${FWASR_LIB_DIR}/libfwasr.a")
  set(_fwasr_copy
    COMMAND "${CMAKE_COMMAND}" -E copy_if_different "${FWASR_RUST_OUT}/libfwasr.dylib" "${FWASR_SHARED_LIB}"
    COMMAND "${CMAKE_COMMAND}" -E copy_if_different "${FWASR_RUST_OUT}/libfwasr.a" "${FWASR_STATIC_LIB}")
  set(FWASR_STATIC_LINK "-framework Security" "-framework CoreFoundation" iconv)
  set(FWASR_STATIC_SYSTEM_LIBS "-framework Security -framework CoreFoundation -liconv -lm")
else()
  set(FWASR_SONAME "libfwasr.so.${FWASR_VERSION_MAJOR}")
  set(FWASR_SHARED_LIB "${FWASR_LIB_DIR}/libfwasr.so.${FWASR_VERSION}")
  set(FWASR_STATIC_LIB "${FWASR_LIB_DIR}/libfwasr.a")
  set(_fwasr_copy
    COMMAND "${CMAKE_COMMAND}" -E copy_if_different "${FWASR_RUST_OUT}/libfwasr.so" "${FWASR_SHARED_LIB}"
    COMMAND "${CMAKE_COMMAND}" -E copy_if_different "${FWASR_RUST_OUT}/libfwasr.a" "${FWASR_STATIC_LIB}"
    COMMAND "${CMAKE_COMMAND}" -E create_symlink "libfwasr.so.${FWASR_VERSION}" "${FWASR_LIB_DIR}/${FWASR_SONAME}"
    COMMAND "${CMAKE_COMMAND}" -E create_symlink "${FWASR_SONAME}" "${FWASR_LIB_DIR}/libfwasr.so")
  find_package(OpenSSL REQUIRED)
  set(FWASR_STATIC_LINK OpenSSL::SSL OpenSSL::Crypto ${CMAKE_DL_LIBS} m rt util)
  set(FWASR_STATIC_SYSTEM_LIBS "-lssl -lcrypto -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc")
endif()

# cargo decides what is stale, so this runs on every build and is a no-op when nothing changed.
add_custom_target(fwasr_cargo ALL
  COMMAND "${CARGO}" build ${_fwasr_packages} ${FWASR_CARGO_FLAGS} ${_fwasr_target_args}
          --target-dir "${FWASR_CARGO_TARGET_DIR}"
  COMMAND "${CMAKE_COMMAND}" -E make_directory "${FWASR_LIB_DIR}"
  ${_fwasr_copy}
  WORKING_DIRECTORY "${CMAKE_CURRENT_LIST_DIR}/.."
  BYPRODUCTS "${FWASR_SHARED_LIB}" "${FWASR_STATIC_LIB}" ${FWASR_IMPORT_LIB} ${FWASR_DEVSERVER}
  COMMENT "cargo build (libfwasr, fwasr-devserver)"
  USES_TERMINAL)

set(FWASR_INCLUDE_DIR "${CMAKE_CURRENT_LIST_DIR}/../include")
get_filename_component(FWASR_INCLUDE_DIR "${FWASR_INCLUDE_DIR}" ABSOLUTE)

add_library(fwasr_shared SHARED IMPORTED GLOBAL)
set_target_properties(fwasr_shared PROPERTIES
  IMPORTED_LOCATION "${FWASR_SHARED_LIB}"
  INTERFACE_INCLUDE_DIRECTORIES "${FWASR_INCLUDE_DIR}")
if(FWASR_SONAME)
  set_target_properties(fwasr_shared PROPERTIES IMPORTED_SONAME "${FWASR_SONAME}")
endif()
if(FWASR_IMPORT_LIB)
  set_target_properties(fwasr_shared PROPERTIES IMPORTED_IMPLIB "${FWASR_IMPORT_LIB}")
endif()
add_dependencies(fwasr_shared fwasr_cargo)
add_library(fwasr::fwasr ALIAS fwasr_shared)

find_package(Threads REQUIRED)
# fwasr-devserver, for tests (a host tool: none when cross-compiling).
if(FWASR_DEVSERVER)
  add_executable(fwasr_devserver IMPORTED GLOBAL)
  set_target_properties(fwasr_devserver PROPERTIES IMPORTED_LOCATION "${FWASR_DEVSERVER}")
  add_dependencies(fwasr_devserver fwasr_cargo)
  add_executable(fwasr::devserver ALIAS fwasr_devserver)
endif()

add_library(fwasr_static STATIC IMPORTED GLOBAL)
set_target_properties(fwasr_static PROPERTIES
  IMPORTED_LOCATION "${FWASR_STATIC_LIB}"
  INTERFACE_INCLUDE_DIRECTORIES "${FWASR_INCLUDE_DIR}"
  INTERFACE_LINK_LIBRARIES "${FWASR_STATIC_LINK};Threads::Threads")
add_dependencies(fwasr_static fwasr_cargo)
add_library(fwasr::fwasr_static ALIAS fwasr_static)
