//! Generates include/fwasr.h from the crate with cbindgen (settings in cbindgen.toml). The
//! header is committed; CI regenerates it and fails if it changed.

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    let config = cbindgen::Config::from_file(format!("{dir}/cbindgen.toml")).expect("read cbindgen.toml");
    let version =
        |part: &str| std::env::var(format!("CARGO_PKG_VERSION_{part}")).expect("cargo sets the version");
    let defines = format!(
        "\n/* The version of this header; fwasr_version() gives the library's. */\n\
         #define FWASR_VERSION_MAJOR {}\n#define FWASR_VERSION_MINOR {}\n#define FWASR_VERSION_PATCH {}",
        version("MAJOR"),
        version("MINOR"),
        version("PATCH")
    );
    let bindings = cbindgen::Builder::new()
        .with_crate(&dir)
        .with_config(config)
        .with_after_include(defines)
        .generate()
        .expect("generate include/fwasr.h");
    bindings.write_to_file(format!("{dir}/include/fwasr.h"));

    // The shared library's SONAME carries the major version, so an incompatible release can
    // be installed beside this one.
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" || os == "android" {
        println!(
            "cargo:rustc-cdylib-link-arg=-Wl,-soname,libfwasr.so.{}",
            version("MAJOR")
        );
    }
    // Apple platforms find a dylib by its install name: @rpath lets an app ship it inside its
    // bundle (Frameworks/) and a build tree use it where it lies.
    if os == "macos" || os == "ios" {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-install_name,@rpath/libfwasr.dylib");
    }
}
