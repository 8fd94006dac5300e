//! The batch path: interned handles, one FFI call per tick, defaults and time samples, writers on threads.

use twinloom_tests::{run_python, TempDir};
use twinloom_usd::{Layer, LayerWriter, Specifier, Tick, Value, ValueType};

#[test]
fn a_tick_sets_every_column_and_usd_core_reads_it() {
    let dir = TempDir::new("usd-writer");
    let path = dir.path().join("live.usda");
    let mut w = LayerWriter::new(Layer::create_new(&path).unwrap());
    let p = "/Plant/BIW/Station01/R01";
    let hb = w.intern(p, "running", ValueType::Bool).unwrap();
    let hi = w.intern(p, "step", ValueType::Int).unwrap();
    let hl = w.intern(p, "welds", ValueType::Int64).unwrap();
    let hf = w.intern(p, "load", ValueType::Float).unwrap();
    let hd = w.intern(p, "j1", ValueType::Double).unwrap();
    let hv = w.intern(p, "tcp", ValueType::Point3f).unwrap();
    let hv3 = w.intern(p, "base", ValueType::Double3).unwrap();
    let hq = w.intern(p, "orient", ValueType::Quatf).unwrap();
    let hs = w.intern(p, "vin", ValueType::String).unwrap();
    let ht = w.intern(p, "state", ValueType::Token).unwrap();
    assert_eq!(w.interned(), 10);
    // Interning the same attribute again gives a working handle too.
    let hd2 = w.intern(p, "j1", ValueType::Double).unwrap();

    let mut tick = Tick::default();
    tick.set_bool(hb, true);
    tick.set_i32(hi, 7);
    tick.set_i64(hl, 123_456_789_012);
    tick.set_f32(hf, 0.75);
    tick.set_f64(hd, 1.25);
    tick.set_float3(hv, [1.0, 2.0, 3.0]);
    tick.set_double3(hv3, [4.0, 5.0, 6.0]);
    tick.set_quatf(hq, [0.0, 1.0, 0.0, 0.0]);
    tick.set_string(hs, "WVWZZZ1JZXW000001".into());
    tick.set_token(ht, "welding".into());
    assert_eq!(w.apply(&tick).unwrap(), 10);
    tick.clear();
    tick.set_f64(hd2, 1.5); // later value wins
    w.apply(&tick).unwrap();

    // Time samples at t = 0, 1, 2.
    for t in 0..3 {
        let mut ts = Tick::at_time(t as f64);
        ts.set_f64(hd, 10.0 + t as f64);
        w.apply(&ts).unwrap();
    }
    let l = w.layer();
    assert_eq!(l.prim("/Plant").unwrap().specifier, Specifier::Over, "interning creates over prims");
    assert_eq!(l.default_value(&format!("{p}.j1")).unwrap(), Some(Value::Double(1.5)));
    assert_eq!(l.default_value(&format!("{p}.tcp")).unwrap(), Some(Value::Point3f([1.0, 2.0, 3.0])));
    assert_eq!(l.attribute(&format!("{p}.j1")).unwrap().time_samples, vec![0.0, 1.0, 2.0]);
    let mut l = w.into_layer();
    l.save().unwrap();
    drop(l);

    let out = run_python(
        r#"
import sys
from pxr import Sdf, Gf
l = Sdf.Layer.FindOrOpen(sys.argv[1])
p = "/Plant/BIW/Station01/R01."
g = lambda n: l.GetAttributeAtPath(p + n)
assert g("running").default is True
assert g("step").default == 7 and g("welds").default == 123456789012
assert g("load").default == 0.75 and g("j1").default == 1.5
assert g("tcp").default == Gf.Vec3f(1, 2, 3) and str(g("tcp").typeName) == "point3f"
assert g("base").default == Gf.Vec3d(4, 5, 6)
assert g("orient").default == Gf.Quatf(0, 1, 0, 0)
assert g("vin").default == "WVWZZZ1JZXW000001" and g("state").default == "welding"
assert l.ListTimeSamplesForPath(p + "j1") == [0.0, 1.0, 2.0]
assert l.QueryTimeSample(p + "j1", 2.0) == 12.0
assert l.GetPrimAtPath("/Plant").specifier == Sdf.SpecifierOver
print("ok")
"#,
        &[path.to_str().unwrap()],
    );
    assert_eq!(out.trim(), "ok");
}

#[test]
fn writers_move_to_their_own_threads() {
    // One writer per shard, each on its own thread, as the connector runs them.
    let handles: Vec<_> = (0..2)
        .map(|shard| {
            let mut w = LayerWriter::new(Layer::create_anonymous(&format!("shard{shard}"), "usdc").unwrap());
            std::thread::spawn(move || {
                let hs: Vec<_> = (0..100)
                    .map(|i| w.intern(&format!("/Plant/S{shard}/P{i}"), "v", ValueType::Double).unwrap())
                    .collect();
                let mut tick = Tick::default();
                for round in 0..50 {
                    tick.clear();
                    for (i, h) in hs.iter().enumerate() {
                        tick.set_f64(*h, (round * 1000 + i) as f64);
                    }
                    w.apply(&tick).unwrap();
                }
                w.layer().default_value(&format!("/Plant/S{shard}/P99.v")).unwrap()
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), Some(Value::Double(49_099.0)));
    }
}
