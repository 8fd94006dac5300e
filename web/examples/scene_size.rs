//! Builds the web scene of a stage and prints its build time and what the page downloads, gzip counted:
//! `cargo run -p twinloom-web --example scene_size -- <stage root, e.g. twinloom-demo/plant.usda>`.

use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::env::args().nth(1).ok_or("usage: scene_size <stage root .usda>")?;
    // OpenUSD's plugins are registered once per process (the connector has done so long before).
    twinloom_usd::init()?;
    let started = Instant::now();
    let scene = twinloom_web::Scene::build(root.as_ref())?;
    let built = started.elapsed();
    drop(twinloom_web::Scene::build(root.as_ref())?);
    let again = started.elapsed() - built;
    let started = Instant::now();
    let (json_gz, bin_gz) = (scene.json_gz().len(), scene.bin_gz().len());
    let compressed = started.elapsed();
    let s = &scene.stats;
    println!(
        "scene: {} nodes, {} meshes, {} geometries, {} triangles drawn, {} stored, {} vertices stored",
        s.nodes, s.meshes, s.geometries, s.triangles, s.stored_triangles, s.stored_vertices
    );
    println!(
        "built in {:.1} ms (again: {:.1} ms), gzip in {:.1} ms",
        built.as_secs_f64() * 1e3,
        again.as_secs_f64() * 1e3,
        compressed.as_secs_f64() * 1e3
    );
    println!("skipped layers: {:?}", s.skipped_layers);
    println!("scene JSON: {} B, gzip {} B", scene.json.len(), json_gz);
    println!("scene bin:  {} B, gzip {} B", scene.bin.len(), bin_gz);
    let mut page = 0;
    for a in twinloom_web::assets::all().iter().filter(|a| a.is_downloaded()) {
        let gz = a.gzipped().map_or(a.bytes.len(), <[u8]>::len);
        println!("  {:<48} {:>9} B, gzip {:>8} B", a.path, a.bytes.len(), gz);
        page += gz;
    }
    println!("page files: gzip {page} B");
    println!("total download (gzip): {} B", page + json_gz + bin_gz);
    Ok(())
}
