// swift-tools-version:5.7
// Swift package for fwasr: the C API as the system-library module `fwasr` (found with
// pkg-config, so install fwasr first) and a small Swift wrapper, `FwasrKit`.
// Untested here: the project's machines have no Swift toolchain (see README).
import PackageDescription

let package = Package(
    name: "Fwasr",
    products: [
        .library(name: "FwasrKit", targets: ["FwasrKit"]),
    ],
    targets: [
        .systemLibrary(name: "fwasr", path: "Sources/fwasr", pkgConfig: "fwasr"),
        .target(name: "FwasrKit", dependencies: ["fwasr"], path: "Sources/FwasrKit"),
    ]
)
