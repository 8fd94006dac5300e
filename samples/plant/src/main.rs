//! `twinloom-plant-layout [OUT]`: writes the sample plant's layout to OUT (default `layout.usda`).

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let out = match (args.next(), args.next()) {
        (Some(flag), _) if flag == "-h" || flag == "--help" => {
            println!("usage: twinloom-plant-layout [OUT]\nWrites the sample plant's layout (default: layout.usda).");
            return ExitCode::SUCCESS;
        }
        (_, Some(extra)) => {
            eprintln!("twinloom-plant-layout: unexpected argument {extra:?}; usage: twinloom-plant-layout [OUT]");
            return ExitCode::from(2);
        }
        (path, None) => PathBuf::from(path.unwrap_or_else(|| "layout.usda".into())),
    };
    match twinloom_plant_layout::write_layout(&out) {
        Ok(s) => {
            println!(
                "wrote {}: {} meshes, {} triangles ({} per body-in-white), {} robots, {} weld points, {} signal bindings",
                out.display(),
                s.meshes,
                s.triangles,
                s.body_triangles,
                s.robots,
                s.weld_points,
                s.bindings
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("twinloom-plant-layout: {e}");
            ExitCode::FAILURE
        }
    }
}
