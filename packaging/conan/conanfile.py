"""Conan recipe for fwasr: builds the Rust library with the system's cargo through fwasr's own
CMake project, and packages the shared or the static library with the headers and
fwasr-devserver (the local test server, for consumers' tests).

    conan create packaging/conan -o "fwasr/*:shared=True"     (or False)

A build cache: FWASR_CARGO_TARGET_DIR in the environment is handed to the CMake project as
cargo's target directory, so repeated package builds compile the dependencies once.
"""
import os
import re
import shutil
import subprocess

from conan import ConanFile
from conan.tools.cmake import CMake, CMakeToolchain, cmake_layout
from conan.tools.files import rmdir, rm, load

# The sources that build the library: the whole checkout, as git knows it.
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


class FwasrConan(ConanFile):
    name = "fwasr"
    license = "MIT OR Apache-2.0"
    description = ("Stream live audio to the Fireworks streaming transcription WebSocket "
                   "from C, C++, Swift, C# and telephony code")
    topics = ("speech-to-text", "streaming", "websocket", "audio", "c-api")
    settings = "os", "arch", "compiler", "build_type"
    options = {"shared": [True, False]}
    default_options = {"shared": True}
    package_type = "library"

    def set_version(self):
        cargo = load(self, os.path.join(ROOT, "Cargo.toml"))
        self.version = re.search(r'^version = "([0-9.]+)"', cargo, re.M).group(1)

    def export_sources(self):
        # File by file: conan's copy() walks its whole source folder for each pattern, and a
        # checkout holds build trees.
        files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True,
                               capture_output=True).stdout.decode().split("\0")
        for f in filter(None, files):
            dst = os.path.join(self.export_sources_folder, f)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copy2(os.path.join(ROOT, f), dst)

    def layout(self):
        cmake_layout(self)

    def generate(self):
        tc = CMakeToolchain(self)
        tc.cache_variables["FWASR_BUILD_EXAMPLES"] = False
        tc.cache_variables["FWASR_BUILD_TESTS"] = False
        target_dir = os.environ.get("FWASR_CARGO_TARGET_DIR")
        if target_dir:
            tc.cache_variables["FWASR_CARGO_TARGET_DIR"] = target_dir
        tc.generate()

    def build(self):
        cmake = CMake(self)
        cmake.configure()
        cmake.build()

    def package(self):
        cmake = CMake(self)
        cmake.install()
        # Conan's generators describe the package; fwasr's own CMake and pkg-config files
        # would describe both linkages from a package that holds one.
        rmdir(self, os.path.join(self.package_folder, "lib", "cmake"))
        rmdir(self, os.path.join(self.package_folder, "lib", "pkgconfig"))
        lib = os.path.join(self.package_folder, "lib")
        if self.options.shared:
            rm(self, "*.a", lib)
            rm(self, "fwasr.lib", lib)
        else:
            rm(self, "*.so*", lib)
            rm(self, "*.dylib", lib)
            rm(self, "fwasr.dll*", lib)
            rm(self, "fwasr.dll", os.path.join(self.package_folder, "bin"))

    def package_info(self):
        self.cpp_info.set_property("cmake_file_name", "fwasr")
        self.cpp_info.set_property("cmake_target_name", "fwasr::fwasr")
        self.cpp_info.set_property("pkg_config_name", "fwasr")
        # MSVC's import library of fwasr.dll is fwasr.dll.lib (fwasr.lib is the static one).
        windows_shared = self.settings.os == "Windows" and self.options.shared
        self.cpp_info.libs = ["fwasr.dll" if windows_shared else "fwasr"]
        if not self.options.shared:
            # What a static Rust library needs besides itself (rustc --print
            # native-static-libs), as in cmake/rust.cmake.
            if self.settings.os in ("Linux", "FreeBSD"):
                self.cpp_info.system_libs = ["ssl", "crypto", "pthread", "dl", "m", "rt", "util"]
            elif self.settings.os in ("Macos", "iOS"):
                self.cpp_info.frameworks = ["Security", "CoreFoundation"]
                self.cpp_info.system_libs = ["iconv", "m"]
            elif self.settings.os == "Windows":
                self.cpp_info.system_libs = ["kernel32", "ntdll", "userenv", "ws2_32", "dbghelp"]
