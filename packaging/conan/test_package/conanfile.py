"""Builds a C and a C++ program against the package (find_package(fwasr), fwasr::fwasr) and
runs each against the packaged fwasr-devserver."""
import os

from conan import ConanFile
from conan.tools.build import can_run
from conan.tools.cmake import CMake, cmake_layout


class FwasrTestPackage(ConanFile):
    settings = "os", "arch", "compiler", "build_type"
    generators = "CMakeDeps", "CMakeToolchain"

    def requirements(self):
        self.requires(self.tested_reference_str)

    def layout(self):
        cmake_layout(self)

    def build(self):
        cmake = CMake(self)
        cmake.configure()
        cmake.build()

    def test(self):
        if not can_run(self):
            return
        fwasr = self.dependencies["fwasr"]
        devserver = os.path.join(fwasr.package_folder, "bin", "fwasr-devserver")
        for program in ("test_package_c", "test_package_cpp"):
            path = os.path.join(self.cpp.build.bindir, program)
            self.run(f'"{devserver}" --quiet -- "{path}"', env="conanrun")
