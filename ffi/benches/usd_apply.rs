//! Batch-path benchmark: attribute updates per second for 100,000 attributes on 1,000 prims per tick
//! (half double, half float3), one writer vs one writer per shard on 2 shards, against the same work through
//! usd-core's Python Sdf API in a change block; and the .usdc export time of that layer.
//!
//! Usage: `cargo bench -p twinloom-usd --bench usd_apply -- [PREFIX]`; prints JSON lines.
//! Like the `twinloom` binary, the benchmark runs with mimalloc as the process allocator.

use std::time::Instant;

use twinloom_usd::{AttrHandle, Layer, LayerWriter, Tick, ValueType};

/// The same allocator as the `twinloom` binary (mimalloc overriding malloc for OpenUSD too).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PRIMS: usize = 1_000;
const ATTRS_PER_PRIM: usize = 100;
const TICKS: usize = 7;

fn emit(name: &str, value: f64, unit: &str, extra: &str) {
    println!(r#"{{"name":"{name}","value":{value:.3},"unit":"{unit}"{extra}}}"#);
}

/// A writer over `prims` prims × 100 attributes (even ones double, odd ones float3), with its handles.
fn build_writer(tag: &str, first_prim: usize, prims: usize) -> (LayerWriter, Vec<(AttrHandle, bool)>) {
    let mut w = LayerWriter::new(Layer::create_anonymous(tag, "usda").expect("layer"));
    let mut handles = Vec::with_capacity(prims * ATTRS_PER_PRIM);
    for p in first_prim..first_prim + prims {
        let prim = format!("/Plant/Line{}/Station{p:04}", p % 10);
        for a in 0..ATTRS_PER_PRIM {
            let is_double = a % 2 == 0;
            let ty = if is_double { ValueType::Double } else { ValueType::Float3 };
            handles.push((w.intern(&prim, &format!("signal{a:03}"), ty).expect("intern"), is_double));
        }
    }
    (w, handles)
}

fn fill(tick: &mut Tick, handles: &[(AttrHandle, bool)], round: usize) {
    tick.clear();
    for (i, (h, is_double)) in handles.iter().enumerate() {
        let v = (round * 7 + i) as f64 * 0.001;
        if *is_double {
            tick.set_f64(*h, v);
        } else {
            tick.set_float3(*h, [v as f32, 1.0, -(v as f32)]);
        }
    }
}

/// Median seconds of applying a full tick, over TICKS ticks (filling the tick is not timed).
fn time_ticks(w: &mut LayerWriter, handles: &[(AttrHandle, bool)]) -> f64 {
    let mut tick = Tick::default();
    let mut times = Vec::with_capacity(TICKS);
    for round in 0..TICKS {
        fill(&mut tick, handles, round + 1);
        let t = Instant::now();
        let n = w.apply(&tick).expect("apply");
        times.push(t.elapsed().as_secs_f64());
        assert_eq!(n, handles.len());
    }
    times.sort_by(f64::total_cmp);
    times[TICKS / 2]
}

const PYTHON_BASELINE: &str = r#"
import sys, time
from pxr import Sdf, Gf
prims, per, ticks = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
layer = Sdf.Layer.CreateAnonymous("py.usdc")
specs = []
with Sdf.ChangeBlock():
    for p in range(prims):
        prim = Sdf.CreatePrimInLayer(layer, "/Plant/Line%d/Station%04d" % (p % 10, p))
        for a in range(per):
            t = Sdf.ValueTypeNames.Double if a % 2 == 0 else Sdf.ValueTypeNames.Float3
            specs.append((Sdf.AttributeSpec(prim, "signal%03d" % a, t), a % 2 == 0))
times = []
for r in range(1, ticks + 1):
    vals = []
    for i, (s, d) in enumerate(specs):
        v = (r * 7 + i) * 0.001
        vals.append(v if d else Gf.Vec3f(v, 1.0, -v))
    t = time.perf_counter()
    with Sdf.ChangeBlock():
        for (s, _), v in zip(specs, vals):
            s.default = v
    times.append(time.perf_counter() - t)
times.sort()
print(times[len(times) // 2])
"#;

fn main() {
    let prefix = std::env::args().skip(1).find(|a| !a.starts_with("--")).unwrap_or_default();
    let wants = |name: &str| name.starts_with(&prefix) || prefix.starts_with(name);
    let n = (PRIMS * ATTRS_PER_PRIM) as f64;
    let ctx = format!(r#","attributes":{},"prims":{PRIMS},"types":"double+float3""#, PRIMS * ATTRS_PER_PRIM);

    let mut one_writer = None;
    if wants("usd_apply_1writer") || wants("usdc_export_100k") || wants("usd_apply_2shards") {
        let (mut w, handles) = build_writer("one", 0, PRIMS);
        let secs = time_ticks(&mut w, &handles);
        one_writer = Some(n / secs);
        if wants("usd_apply_1writer") {
            emit("usd_apply_1writer", n / secs, "updates/s", &format!(r#"{ctx},"tick_ms":{:.2}"#, secs * 1e3));
        }
        if wants("usdc_export_100k") {
            let dir = std::env::temp_dir().join(format!("twinloom-bench-{}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("temp dir");
            let path = dir.join("live.usdc");
            let t = Instant::now();
            w.layer().export(&path).expect("export");
            let secs = t.elapsed().as_secs_f64();
            let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            let _ = std::fs::remove_dir_all(&dir);
            emit("usdc_export_100k", secs, "s", &format!(r#"{ctx},"bytes":{bytes}"#));
        }
    }
    if wants("usd_apply_2shards") {
        let shards: Vec<_> = (0..2).map(|s| build_writer(&format!("shard{s}"), s * PRIMS / 2, PRIMS / 2)).collect();
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
        let threads: Vec<_> = shards
            .into_iter()
            .map(|(mut w, handles)| {
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    time_ticks(&mut w, &handles)
                })
            })
            .collect();
        let secs = threads.into_iter().map(|t| t.join().expect("shard thread")).fold(0.0, f64::max);
        let extra = match one_writer {
            Some(one) => format!(r#"{ctx},"shards":2,"speedup_vs_1writer":{:.2}"#, (n / secs) / one),
            None => format!(r#"{ctx},"shards":2"#),
        };
        emit("usd_apply_2shards", n / secs, "updates/s", &extra);
    }
    if wants("usd_apply_python") {
        let py = twinloom_tests::run_python(
            PYTHON_BASELINE,
            &[&PRIMS.to_string(), &ATTRS_PER_PRIM.to_string(), &TICKS.to_string()],
        );
        let secs: f64 = py.trim().parse().expect("python prints seconds");
        let extra = match one_writer {
            Some(one) => format!(
                r#"{ctx},"impl":"usd-core Sdf.AttributeSpec.default in Sdf.ChangeBlock","rust_1writer_speedup":{:.2}"#,
                one / (n / secs)
            ),
            None => format!(r#"{ctx},"impl":"usd-core Sdf.AttributeSpec.default in Sdf.ChangeBlock""#),
        };
        emit("usd_apply_python", n / secs, "updates/s", &extra);
    }
}
