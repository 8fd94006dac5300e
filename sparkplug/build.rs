//! Generates the Sparkplug B message types from `proto/sparkplug_b.proto`: protox (a protobuf compiler in
//! pure Rust, no system `protoc`) parses the file, prost-build writes the Rust code to `OUT_DIR`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/sparkplug_b.proto");
    let descriptors = protox::compile(["sparkplug_b.proto"], ["proto"])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
