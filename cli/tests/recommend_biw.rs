//! `twinloom recommend --domain biw` end to end with the built binary on the sample plant with the new
//! body variant (docs/prescriptive.md, "Method" 6):
//! - every clash episode `twinloom analyze biw` reports gets exactly one recommendation naming its robot,
//!   station and program segment (weld ids, with the segment's time span holding the clash's worst time),
//!   with the clash's depth as the baseline of its `clearance_mm` effect;
//! - every fix's sibling layer, re-run by `twinloom analyze biw --stage sibling-<id>.usda`, gives the
//!   robot's smallest clearance the recommendation states and its clash count, and has no clash of the
//!   robot in the re-taught motion; every base shift states its residual clearance, and its sibling gives
//!   it, with every point of the robot reachable;
//! - the siblings are portable (no Twinloom plugin needed), the results layer read with usd-core holds
//!   every recommendation, and the plant's files stay byte-identical.

use std::time::Instant;

use serde_json::Value;
use twinloom_plant_layout::Variant;
use twinloom_tests::{assert_portable_stage, run_python, TempDir};

#[path = "common/recommend.rs"]
mod recommend;
use recommend::{f, json_out, json_out_code, sample_stage, twinloom, Unchanged};

/// The number right after `before` in `text`.
fn number_after(text: &str, before: &str) -> f64 {
    let at = text.find(before).unwrap_or_else(|| panic!("{before:?} not in {text:?}")) + before.len();
    let rest = &text[at..];
    let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-')).unwrap_or(rest.len());
    rest[..end].parse().unwrap_or_else(|e| panic!("{e}: {:?} after {before:?}", &rest[..end]))
}

/// The `(t=a..b s` span right after `before`.
fn span_after(text: &str, before: &str) -> (f64, f64) {
    let at = text.find(before).unwrap_or_else(|| panic!("{before:?} not in {text:?}"));
    let t = &text[at..];
    let open = t.find("(t=").expect("a time span") + 3;
    let dots = open + t[open..].find("..").unwrap();
    let close = dots + t[dots..].find(" s").unwrap();
    (t[open..dots].parse().unwrap(), t[dots + 2..close].parse().unwrap())
}

fn robot_of<'a>(study: &'a Value, robot: &str) -> &'a Value {
    study["stations"][0]["robots"].as_array().unwrap().iter().find(|r| r["name"] == robot).expect("the robot")
}

fn involves(e: &Value, robot: &str) -> bool {
    e["robot"] == robot || e["other"] == robot
}

#[test]
fn biw_fixes_are_re_run_studies_that_analyze_reproduces() {
    let tmp = TempDir::new("recommend-biw-fixes");
    let dir = tmp.path();
    sample_stage(dir, Variant::New, None);
    let before = Unchanged::read(dir, &["plant.usda", "layout.usda"]);
    let t0 = Instant::now();
    let r = json_out(&twinloom(dir, &["recommend", "--stage", ".", "--domain", "biw", "--json"]));
    let seconds = t0.elapsed().as_secs_f64();
    let study =
        json_out_code(&twinloom(dir, &["analyze", "biw", "--stage", "plant.usda", "--json", "--gpu", "off"]), 1);
    let recs = r["recommendations"].as_array().unwrap();
    let is_clash_rec = |x: &&Value| x["effect"]["metric"] == "clearance_mm";

    // Every clash episode: one recommendation naming robot, station and segment.
    let mut clashes = 0;
    for st in study["stations"].as_array().unwrap() {
        let station = st["name"].as_str().unwrap();
        for e in st["events"].as_array().unwrap().iter().filter(|e| e["kind"] == "clash") {
            clashes += 1;
            let robot = e["robot"].as_str().unwrap();
            let phrase = format!(
                "{} into {} {:.1} mm deep at t={:.1} s",
                e["link"].as_str().unwrap(),
                e["other"].as_str().unwrap(),
                f(&e["depth_mm"]),
                f(&e["worst_s"])
            );
            let who = format!("{robot} at {station} clashes in ");
            let found: Vec<&Value> = recs
                .iter()
                .filter(is_clash_rec)
                .filter(|x| x["explanation"].as_str().unwrap().starts_with(&who))
                .filter(|x| x["explanation"].as_str().unwrap().contains(&phrase))
                .collect();
            assert_eq!(found.len(), 1, "{station} {robot}: {phrase:?} in one recommendation: {r}");
            let x = found[0];
            let id = x["id"].as_str().unwrap();
            let prefix = [x["kind"].as_str().unwrap().replace('_', "-"), station.to_lowercase(), robot.to_lowercase()];
            let segment = id
                .strip_prefix(&format!("biw-{}-", prefix.join("-")))
                .unwrap_or_else(|| panic!("{id}: biw-<kind>-<station>-<robot>-<segment>"));
            // The segment's ends are weld points of that robot (or the home pose, the program's end).
            let points: Vec<String> = st["robots"].as_array().unwrap().iter().find(|r| r["name"] == robot).unwrap()
                ["points"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["id"].as_str().unwrap().to_lowercase())
                .collect();
            let ends: Vec<&str> = segment.split('-').collect();
            assert_eq!(ends.len(), 2, "{id}");
            for end in &ends {
                assert!(
                    *end == "home" || *end == "end" || points.iter().any(|p| p == end),
                    "{id}: {end} of {points:?}"
                );
            }
            let explanation = x["explanation"].as_str().unwrap();
            let (a, b) = span_after(explanation, &who);
            let worst = f(&e["worst_s"]);
            assert!(a - 0.051 <= worst && worst <= b + 0.051, "{id}: t={worst} outside {a}..{b}");
            assert!(f(&x["effect"]["baseline"]) <= -f(&e["depth_mm"]) + 1e-9, "{id}: baseline is the deepest clash");
            assert_eq!((f(&x["effect"]["ci95"]), &x["effect"]["replications"]), (0.0, &Value::from(0)));
        }
    }
    assert!(clashes > 0, "the new variant clashes");
    let clash_recs: Vec<&Value> = recs.iter().filter(is_clash_rec).collect();

    // Each fix's sibling, re-run by `twinloom analyze biw`, gives what the recommendation states.
    let mut fixed = 0;
    let mut residuals = Vec::new();
    let mut portable = Vec::new();
    for x in &clash_recs {
        let id = x["id"].as_str().unwrap();
        let explanation = x["explanation"].as_str().unwrap();
        if explanation.contains("No fix found") {
            assert_eq!(f(&x["effect"]["change"]), 0.0, "{id}: no fix, no effect claimed");
            assert!(x["sibling"].is_null(), "{id}");
            continue;
        }
        fixed += 1;
        let sibling = x["sibling"].as_str().unwrap_or_else(|| panic!("{id}: a fix has its sibling"));
        let (station, robot) = {
            let who = explanation.split(" clashes in ").next().unwrap();
            let (robot, station) = who.split_once(" at ").unwrap();
            (station.to_string(), robot.to_string())
        };
        let value = f(&x["effect"]["value"]);
        assert!(value > 0.0, "{id}: a fix leaves a positive clearance");
        residuals.push((id.to_string(), value));
        let window = span_after(explanation, "residual clearance of");
        let whole = number_after(explanation, "whole program its smallest clearance is then ");
        let left = number_after(explanation, &format!("{whole:.1} mm ("));
        let out =
            twinloom(dir, &["analyze", "biw", "--stage", sibling, "--station", &station, "--json", "--gpu", "off"]);
        let again: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {sibling}"));
        let rb = robot_of(&again, &robot);
        assert!(
            (f(&rb["min_clearance_mm"]) - whole).abs() <= 0.1 + 1e-9,
            "{id}: analyze {} vs {whole}",
            rb["min_clearance_mm"]
        );
        assert_eq!(f(&rb["clashes"]), left, "{id}: clash episodes left");
        for e in again["stations"][0]["events"].as_array().unwrap() {
            let t = f(&e["worst_s"]);
            if e["kind"] == "clash" && involves(e, &robot) {
                assert!(
                    !(window.0 + 0.051 < t && t <= window.1 + 0.001),
                    "{id}: the sibling still clashes at t={t}: {e}"
                );
            }
        }
        if portable.is_empty() {
            portable.push(sibling.to_string());
        }
    }

    // Base shifts: their residual clearance is what the study gives on their sibling.
    let mut shifts = Vec::new();
    for x in recs.iter().filter(|x| x["kind"] == "base_shift") {
        let id = x["id"].as_str().unwrap();
        let explanation = x["explanation"].as_str().unwrap();
        let residual = number_after(explanation, "over its whole program is ");
        let after = number_after(explanation, "mm (residual clearance; ");
        let sibling = x["sibling"].as_str().unwrap_or_else(|| panic!("{id}: a base shift has its sibling"));
        let robot = id.rsplit('-').next().unwrap().to_uppercase();
        let at = explanation.find("'s base at ").expect("the station") + "'s base at ".len();
        let station = explanation[at..].split(' ').next().unwrap().to_string();
        let out =
            twinloom(dir, &["analyze", "biw", "--stage", sibling, "--station", &station, "--json", "--gpu", "off"]);
        let again: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {sibling}"));
        let rb = robot_of(&again, &robot);
        assert!(rb["points"].as_array().unwrap().iter().all(|p| p["reachable"] == true), "{id}: {rb}");
        assert!(
            (f(&rb["min_clearance_mm"]) - residual).abs() <= 0.1 + 1e-9,
            "{id}: {} vs {residual}",
            rb["min_clearance_mm"]
        );
        assert_eq!(f(&rb["clashes"]), after, "{id}");
        assert_eq!(explanation.starts_with("Do not apply as-is"), explanation.contains("creates"), "{id}");
        shifts.push((id.to_string(), residual));
        if portable.len() < 2 {
            portable.push(sibling.to_string());
        }
    }
    assert!(!shifts.is_empty(), "the new variant has a base shift");
    // docs/prescriptive.md: R04's segment from W014 to W015 at station 2 is re-taught, and R01's base shift
    // at station 1 (the new variant's W002) creates clashes, so it is not to be applied as it is.
    assert!(residuals.iter().any(|(id, _)| id == "biw-reteach-station02-r04-w014-w015"), "{residuals:?}");
    let r01 = recs.iter().find(|x| x["id"] == "biw-base-shift-station01-r01").expect("R01's base shift");
    assert!(r01["explanation"].as_str().unwrap().starts_with("Do not apply as-is: the shift creates"), "{r01}");
    for s in &portable {
        assert_portable_stage(&dir.join(s));
    }
    before.check();

    // The results layer, read with usd-core: every recommendation, the clash fixes with their metric.
    let read = run_python(
        r#"
import json, sys
from pxr import Usd
st = Usd.Stage.Open(sys.argv[1])
print(json.dumps({p.GetAttribute("twinloom:rec:id").Get(): [p.GetAttribute("twinloom:rec:metric").Get(), p.GetAttribute("twinloom:rec:value").Get()]
                  for p in st.GetPrimAtPath("/Plant/Recommendations").GetAllChildren()}))
"#,
        &[dir.join("recommendations.usda").to_str().unwrap()],
    );
    let got: Value = serde_json::from_str(read.trim()).unwrap();
    assert_eq!(got.as_object().unwrap().len(), recs.len());
    for x in &clash_recs {
        let g = &got[x["id"].as_str().unwrap()];
        assert_eq!(g[0], "clearance_mm");
        assert!((f(&g[1]) - f(&x["effect"]["value"])).abs() < 1e-9);
    }
    eprintln!(
        "biw recommend: {seconds:.1} s; {clashes} clash episodes in {} segments, {fixed} fixed, residual clearances \
         (mm) {residuals:?}; base shifts {shifts:?}",
        clash_recs.len()
    );

    // The copilot's clash answer gives each fixed clash the recommender's fix and residual clearance
    // (docs/copilot.md, "Fixes are the study's"), naming the results layer among its sources.
    // An answer lists ten clashes: ask about the first fixed clash's station for all of its findings (one
    // question: each runs the station study again).
    let mut named = 0;
    for x in clash_recs.iter().filter(|x| f(&x["effect"]["change"]) != 0.0).take(1) {
        let explanation = x["explanation"].as_str().unwrap();
        let station = explanation.split(" at ").nth(1).and_then(|t| t.split(' ').next()).unwrap();
        let question = format!("Any collisions at {station}?");
        let ask = json_out(&twinloom(dir, &["ask", &question, "--stage", ".", "--json"]));
        let text = ask["text"].as_str().unwrap();
        let sources = ask["sources"].to_string();
        assert!(sources.contains("recommendations.usda"), "{sources}");
        let id = x["id"].as_str().unwrap();
        let want = format!("(recommendation {id}) (leaves {:.1} mm clearance)", f(&x["effect"]["value"]));
        assert!(text.contains(&want), "the answer gives {want:?}:\n{text}");
        named += 1;
    }
    assert!(named > 0, "some clash has a fix");
    eprintln!("ask: {named} clash fixes in the answer");
}
