//! Compiles the max-plus kernel (`kernels/maxplus.cu`) for the host with the C++ compiler, with the GPU
//! prelude forced in and floating-point contraction off, so the CPU-only build runs the very per-replication
//! code the GPU runs and its results can be compared with the Rust path bit for bit.
fn main() {
    let prelude = "../../gpu/kernels/prelude.h";
    let kernel = "kernels/maxplus.cu";
    println!("cargo:rerun-if-changed={kernel}");
    println!("cargo:rerun-if-changed={prelude}");
    println!("cargo:rerun-if-changed=build.rs");
    cc::Build::new()
        .cpp(true)
        .flag("-x")
        .flag("c++")
        .flag("-include")
        .flag(prelude)
        .flag("-ffp-contract=off")
        .opt_level(2)
        .warnings(true)
        .file(kernel)
        .compile("twinloom_flow_maxplus");
}
