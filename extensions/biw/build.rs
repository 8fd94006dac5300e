//! Compiles the study kernels (kernels/study.cu: collision; kernels/reach.cu: reach) for the host with the
//! C++ compiler, so CPU-only builds and tests run the very per-item code the GPU runs (see
//! gpu/kernels/prelude.h). The prelude is twinloom-gpu's `KERNEL_INCLUDE_DIR` (a build script cannot use
//! the crate's constant; same path).
use std::path::PathBuf;

fn main() {
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let kernels = [dir.join("kernels/study.cu"), dir.join("kernels/reach.cu")];
    let prelude = dir.join("../../gpu/kernels/prelude.h");
    // Helpers both kernels share; src/gpu prepends the same file for NVRTC.
    let math = dir.join("kernels/math.h");
    for kernel in &kernels {
        println!("cargo:rerun-if-changed={}", kernel.display());
    }
    println!("cargo:rerun-if-changed={}", prelude.display());
    println!("cargo:rerun-if-changed={}", math.display());
    println!("cargo:rerun-if-changed=build.rs");
    cc::Build::new()
        .cpp(true)
        .cpp_link_stdlib(None::<&str>)
        .opt_level(2)
        // No fused multiply-add or other contraction: the same rounding as the Rust path and NVRTC (fmad off).
        .flag("-ffp-contract=off")
        .flag("-include")
        .flag(prelude.to_str().expect("UTF-8 path"))
        .flag("-include")
        .flag(math.to_str().expect("UTF-8 path"))
        // The file is a .cu: tell the host compiler it is C++.
        .flag("-x")
        .flag("c++")
        .files(&kernels)
        .compile("twinloom_biw_study_kernel");
}
