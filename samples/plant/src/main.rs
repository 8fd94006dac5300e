//! `twinloom-plant-layout [--variant current|new] [OUT]`: writes the sample plant's layout to OUT
//! (default `layout.usda`); `--variant new` builds the new body variant (see `Variant::New`).

use std::path::PathBuf;
use std::process::ExitCode;

use twinloom_plant_layout::Variant;

const USAGE: &str = "usage: twinloom-plant-layout [--variant current|new] [OUT]";

fn main() -> ExitCode {
    let mut variant = Variant::Current;
    let mut out: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}\nWrites the sample plant's layout (default: layout.usda); --variant new builds the new body variant.");
                return ExitCode::SUCCESS;
            }
            "--variant" => match args.next().as_deref() {
                Some("current") => variant = Variant::Current,
                Some("new") => variant = Variant::New,
                other => {
                    eprintln!("twinloom-plant-layout: --variant takes current or new, got {other:?}; {USAGE}");
                    return ExitCode::from(2);
                }
            },
            _ if out.is_none() => out = Some(PathBuf::from(arg)),
            _ => {
                eprintln!("twinloom-plant-layout: unexpected argument {arg:?}; {USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let out = out.unwrap_or_else(|| PathBuf::from("layout.usda"));
    match twinloom_plant_layout::write_layout_variant(&out, variant) {
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
