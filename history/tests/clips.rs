//! History clips read back with Pixar's usd-core, without the Twinloom plugin: `attr.Get(t)` under held
//! interpolation equals the last sample written at or before `t`, at every sample and between samples,
//! across hour boundaries, after a reopen of the store (as after a restart), for hours without samples
//! and for late samples (the next hour's carry follows one that is the last of its hour); the query
//! answers the same; the asset validator passes on history.usda.

use std::collections::BTreeMap;
use std::path::Path;

use twinloom_history::{HistoryReader, HistoryStore, StoreOptions, HISTORY_ROOT};
use twinloom_tests::{assert_portable_stage, run_python, TempDir};
use twinloom_usd::{Layer, Specifier, UpAxis, Value, ValueType};

const HOUR: f64 = 3600.0;
/// 2026-12-07T00:00:00Z.
const T0: f64 = 1_796_601_600.0;

fn options() -> StoreOptions {
    StoreOptions {
        root_prim: "/Plant".into(),
        base_layers: vec!["plant.usda".into()],
        up_axis: UpAxis::Z,
        meters_per_unit: 1.0,
    }
}

/// A minimal portable plant: `plant.usda` defining /Plant/Oven (Xform) with a live default.
fn write_plant(dir: &Path) {
    let mut live = Layer::create_new(&dir.join("live.usda")).unwrap();
    live.upsert_default("/Plant/Oven.temperature", &Value::Double(-1.0)).unwrap();
    live.save().unwrap();
    let mut plant = Layer::create_new(&dir.join("plant.usda")).unwrap();
    plant.set_default_prim("Plant").unwrap();
    plant.set_up_axis(UpAxis::Z).unwrap();
    plant.set_meters_per_unit(1.0).unwrap();
    plant.set_sublayers(&["live.usda"]).unwrap();
    plant.define_prim("/Plant", Specifier::Def, "Xform").unwrap();
    plant.define_prim("/Plant/Oven", Specifier::Def, "Xform").unwrap();
    plant.save().unwrap();
}

/// Pseudo-random samples over three hours with a silent hour for `state` (deterministic, seed 7).
fn samples() -> Vec<(&'static str, f64, Value)> {
    let mut x: u64 = 7;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut out = Vec::new();
    let mut t = T0 + 12.5;
    while t < T0 + 3.0 * HOUR {
        out.push(("temperature", t, Value::Double(180.0 + (next() % 1000) as f64 / 10.0)));
        t += 1.0 + (next() % 900) as f64 + 0.001 * (next() % 1000) as f64;
    }
    out.push(("state", T0 + 100.0, Value::Token("running".into())));
    out.push(("state", T0 + 2.0 * HOUR + 50.0, Value::Token("down".into())));
    out.push(("count", T0 + 5.0, Value::Int(1)));
    out.push(("count", T0 + HOUR + 5.0, Value::Int(2)));
    out
}

fn ty(v: &Value) -> ValueType {
    v.value_type()
}

#[test]
fn clips_scrub_in_usd_core_as_journaled_and_queries_agree() {
    let dir = TempDir::new("history-clips");
    write_plant(dir.path());
    let all = samples();
    // Two flushes and a reopen in the middle, as a running service (and a restart) would do them.
    let (a, b) = all.split_at(all.len() / 2);
    for part in [a, b] {
        let mut store = HistoryStore::open(dir.path(), options()).unwrap();
        for (attr, t, v) in part {
            store.add("paint", "/Plant/Oven", attr, ty(v), *t, v.clone()).unwrap();
        }
        let report = store.flush().unwrap();
        assert_eq!(report.samples as usize, part.len());
        assert_eq!(store.pending(), 0);
    }
    // Late samples (older than what was written) land in their hour; the second is the last of its hour,
    // so the next hour's carry sample now holds it.
    let late = [(T0 + HOUR + 1.0, Value::Double(999.5)), (T0 + 2.0 * HOUR - 0.25, Value::Double(777.25))];
    let mut store = HistoryStore::open(dir.path(), options()).unwrap();
    for (t, v) in &late {
        store.add("paint", "/Plant/Oven", "temperature", ValueType::Double, *t, v.clone()).unwrap();
    }
    let report = store.flush().unwrap();
    assert_eq!(report.carried, 1, "the carry into hour 2 was refreshed: {report:?}");
    let in_process = store.query("/Plant/Oven.temperature", T0, T0 + 3.0 * HOUR).unwrap();
    drop(store);

    // The expected held value per attribute at a set of instants.
    let mut series: BTreeMap<&str, Vec<(f64, Value)>> = BTreeMap::new();
    for (attr, t, v) in
        all.iter().chain(late.iter().map(|(t, v)| ("temperature", *t, v.clone())).collect::<Vec<_>>().iter())
    {
        series.entry(attr).or_default().push((*t, v.clone()));
    }
    for s in series.values_mut() {
        s.sort_by(|x, y| x.0.total_cmp(&y.0));
    }
    let held = |attr: &str, t: f64| -> Option<Value> {
        series[attr].iter().take_while(|(s, _)| *s <= t).last().map(|(_, v)| v.clone())
    };
    let mut checks = Vec::new();
    for (attr, s) in &series {
        for (t, _) in s {
            checks.push((*attr, *t));
            checks.push((*attr, t + 0.3));
        }
        for k in 1..3 {
            let boundary = T0 + k as f64 * HOUR;
            checks.extend([(*attr, boundary), (*attr, boundary + 0.5), (*attr, boundary - 0.5)]);
        }
    }
    let mut script = String::from(
        "import sys, json\nfrom pxr import Usd\nstage = Usd.Stage.Open(sys.argv[1])\n\
         stage.SetInterpolationType(Usd.InterpolationTypeHeld)\nout = []\n",
    );
    let mut expected = Vec::new();
    for (attr, t) in &checks {
        script.push_str(&format!("v = stage.GetAttributeAtPath('/Plant/Oven.{attr}').Get({t:?})\n"));
        script.push_str("out.append(v if v is None or isinstance(v, (int, float, bool)) else str(v))\n");
        expected.push(held(attr, *t));
    }
    script.push_str("print(json.dumps(out))\n");
    script.push_str("print(stage.GetTimeCodesPerSecond(), stage.GetStartTimeCode(), stage.GetEndTimeCode())\n");
    script.push_str("print(stage.GetAttributeAtPath('/Plant/Oven.temperature').Get())\n");
    let root = dir.path().join(HISTORY_ROOT);
    let out = run_python(&script, &[root.to_str().unwrap()]);
    let mut lines = out.lines();
    let got: Vec<serde_json::Value> = serde_json::from_str(lines.next().unwrap()).unwrap();
    for (((attr, t), want), got) in checks.iter().zip(&expected).zip(&got) {
        let want = match want {
            None => serde_json::Value::Null,
            Some(Value::Double(x)) => serde_json::json!(x),
            Some(Value::Int(i)) => serde_json::json!(i),
            Some(Value::Token(s)) => serde_json::json!(s),
            Some(other) => panic!("unexpected {other:?}"),
        };
        assert_eq!(got, &want, "{attr} at {t}");
    }
    assert_eq!(lines.next().unwrap(), format!("1.0 {T0:?} {:?}", T0 + 3.0 * HOUR));
    // The default time shows the live value, not history.
    assert_eq!(lines.next().unwrap(), "-1.0");

    // The query answers the same from the clips.
    let reader = HistoryReader::open(dir.path()).unwrap();
    let (from, to) = (T0 + 1800.0, T0 + 2.0 * HOUR + 10.0);
    let q = reader.query("/Plant/Oven.temperature", from, to).unwrap();
    assert_eq!(q.shop, "paint");
    assert_eq!(reader.query("/Plant/Oven.temperature", T0, T0 + 3.0 * HOUR).unwrap(), in_process);
    assert_eq!(q.value_type, "double");
    let want: Vec<(f64, Value)> =
        series["temperature"].iter().filter(|(t, _)| (from..=to).contains(t)).cloned().collect();
    assert_eq!(q.samples, want);
    for (attr, t) in &checks {
        if *attr == "temperature" && (from..=to).contains(t) {
            assert_eq!(q.value_at(*t), held("temperature", *t).as_ref(), "query held value at {t}");
        }
    }
    let q = reader.query("/Plant/Oven.state", T0 + HOUR + 10.0, T0 + HOUR + 20.0).unwrap();
    assert_eq!(q.samples, vec![]);
    assert_eq!(q.prior, Some((T0 + 100.0, Value::Token("running".into()))));
    assert!(reader.query("/Plant/Oven.nothing", T0, T0 + 1.0).is_err());
    // The whole period at once (what `twinloom replay` serves) equals the attribute-by-attribute queries.
    let attrs = reader.attributes("paint");
    let names: Vec<(&str, &str)> = attrs.iter().map(|(a, t)| (a.as_str(), t.as_str())).collect();
    assert_eq!(
        names,
        [("/Plant/Oven.count", "int"), ("/Plant/Oven.state", "token"), ("/Plant/Oven.temperature", "double")]
    );
    let period = reader.period(from, to).unwrap();
    assert_eq!(period.len(), 1);
    for q in &period[0].1 {
        assert_eq!(q, &reader.query(&q.attr, from, to).unwrap());
    }
    assert!(reader.query("/Plant/Oven.temperature", T0 + 1.0, T0).is_err());

    assert_portable_stage(&root);
}

#[test]
fn bad_shop_names_and_times_are_refused() {
    let dir = TempDir::new("history-bad");
    let mut store = HistoryStore::open(dir.path(), options()).unwrap();
    assert!(store.add("../x", "/Plant/A", "v", ValueType::Double, T0, Value::Double(1.0)).is_err());
    assert!(store.add("paint", "/Plant/A", "v", ValueType::Double, f64::NAN, Value::Double(1.0)).is_err());
    // A type change of an attribute is skipped and counted, the rest is written.
    store.add("paint", "/Plant/A", "v", ValueType::Double, T0, Value::Double(1.0)).unwrap();
    store.add("paint", "/Plant/A", "v", ValueType::Int, T0 + 1.0, Value::Int(2)).unwrap();
    let r = store.flush().unwrap();
    assert_eq!((r.samples, r.skipped), (1, 1));
}
