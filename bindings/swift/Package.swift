// swift-tools-version:5.7
// Swift package for fwasr: the C API as the system-library module `fwasr` (found with
// pkg-config, so install fwasr first) and the Swift wrapper `FwasrKit`. Its tests run against
// fwasr-devserver (scripts/swift-tests.sh runs them in a Debian 13 chroot).
import PackageDescription

let package = Package(
    name: "Fwasr",
    products: [
        .library(name: "FwasrKit", targets: ["FwasrKit"]),
    ],
    targets: [
        .systemLibrary(name: "fwasr", path: "Sources/fwasr", pkgConfig: "fwasr"),
        .target(name: "FwasrKit", dependencies: ["fwasr"], path: "Sources/FwasrKit"),
        .testTarget(name: "FwasrKitTests", dependencies: ["FwasrKit", "fwasr"], path: "Tests/FwasrKitTests"),
    ]
)
