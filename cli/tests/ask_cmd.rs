//! `twinloom ask` end to end with the built binary: on the sample plant's new body variant the seed clash
//! question names the station, robot, link, part and millimetres of each clash, near miss and unreachable
//! weld point it lists (the copilot lists ten of each kind and counts the rest) exactly as
//! `twinloom analyze biw --json` reports them on the same stage, with the counts of the whole study; the seed payback
//! question gives the saving exactly as `twinloom payback --json` on docs/payback.md's ledger; docs/copilot.md's
//! example prints what the page shows; refusals and questions that need a missing flag exit 1 and say what
//! to do.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use twinloom_payback::money;
use twinloom_plant_layout::{write_layout_variant, Variant};
use twinloom_tests::{workspace_root, TempDir};
use twinloom_usd::{Layer, UpAxis};

const CLASH_SEED: &str = "We want to add a new variant to the BIW line. Will the robots clash?";
const PAYBACK_SEED: &str = "What's this twin actually saving us versus planning the old way?";

fn twinloom(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_twinloom")).args(args).current_dir(dir).output().expect("start twinloom")
}

/// The JSON document on stdout, with the exit code checked.
fn json_out(out: &Output, code: i32) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(code), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// The body of the n-th fenced block that starts with "```{lang}".
fn block(doc: &str, lang: &str, n: usize) -> String {
    let fence = format!("```{lang}\n");
    let start = doc.match_indices(&fence).nth(n).unwrap_or_else(|| panic!("block {lang} #{n}")).0 + fence.len();
    doc[start..start + doc[start..].find("```").unwrap()].to_string()
}

/// docs/payback.md's ledger and actuals in `dir`.
fn ledger(dir: &Path) {
    let doc = std::fs::read_to_string(workspace_root().join("docs/payback.md")).unwrap();
    std::fs::write(dir.join("payback.toml"), block(&doc, "toml", 0)).unwrap();
    std::fs::write(dir.join("actuals.csv"), block(&doc, "csv", 0)).unwrap();
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("a number: {v}"))
}

/// What the answer must say of each finding of the study's JSON (in the study's order): clashes, near
/// misses and unreachable points of the stations `keep` selects.
fn expected(study: &Value, keep: impl Fn(&str) -> bool) -> (Vec<String>, Vec<String>, Vec<String>) {
    let (mut clashes, mut near, mut out) = (Vec::new(), Vec::new(), Vec::new());
    for st in study["stations"].as_array().unwrap() {
        let name = st["name"].as_str().unwrap();
        if !keep(name) {
            continue;
        }
        for e in st["events"].as_array().unwrap() {
            let part = if e["region"] == e["other"] {
                e["other"].as_str().unwrap().to_string()
            } else {
                format!("{} ({})", e["other"].as_str().unwrap(), e["region"].as_str().unwrap())
            };
            let who = format!("{name}: {} ({})", e["robot"].as_str().unwrap(), e["link"].as_str().unwrap());
            let at = f(&e["worst_s"]);
            if e["kind"] == "clash" {
                clashes.push(format!("{who} penetrates {part} by {:.1} mm at t={at:.1} s;", f(&e["depth_mm"])));
            } else {
                near.push(format!("{who} passes {:.1} mm from {part} at t={at:.1} s;", f(&e["clearance_mm"])));
            }
        }
        for r in st["robots"].as_array().unwrap() {
            let robot = r["name"].as_str().unwrap();
            let shift = &r["base_shift"];
            let fix = if shift["found"] == true {
                let s: Vec<f64> = shift["shift_mm"].as_array().unwrap().iter().map(f).collect();
                format!("fix: shift {robot}'s base by ({:+.0}, {:+.0}, {:+.0}) mm in world x, y, z.", s[0], s[1], s[2])
            } else {
                format!(
                    "no base shift within +-{:.0} mm per axis makes all of {robot}'s points reachable.",
                    f(&shift["search_half_mm"])
                )
            };
            for p in r["points"].as_array().unwrap().iter().filter(|p| p["reachable"] == false) {
                let how = match p["outside_mm"].as_f64() {
                    Some(d) => format!("is {d:.1} mm outside {robot}'s reach"),
                    None => format!("is out of {robot}'s reach in any pose with its approach direction"),
                };
                out.push(format!("Weld point {} at {name} {how}; {fix}", p["id"].as_str().unwrap()));
            }
        }
    }
    (clashes, near, out)
}

/// Checks that `text` says each expected sentence in order, up to the copilot's list length of 10 per
/// kind, and how many more there are.
fn says_in_order(text: &str, want: &[String], more: &str) {
    let mut from = 0;
    for w in want.iter().take(10) {
        let at = text[from..].find(w.as_str()).unwrap_or_else(|| panic!("missing {w:?} after byte {from} in\n{text}"));
        from += at + w.len();
    }
    if want.len() > 10 {
        let line = format!("{} more {more} are in the full report.", want.len() - 10);
        assert!(text.contains(&line), "{line:?} in\n{text}");
    } else {
        assert!(!text.contains(&format!("more {more} are in the full report")), "{text}");
    }
}

fn write_root(path: &Path) {
    let mut l = Layer::create_anonymous("ask-cmd-root", "usda").expect("layer");
    l.set_default_prim("Plant").unwrap();
    l.set_up_axis(UpAxis::Z).unwrap();
    l.set_meters_per_unit(1.0).unwrap();
    l.set_sublayers(&["./layout.usda"]).unwrap();
    l.export_atomic(path).expect("write root");
}

#[test]
fn clash_questions_name_each_finding_as_the_biw_study_reports_it() {
    let dir = TempDir::new("ask-biw");
    write_layout_variant(&dir.path().join("layout.usda"), Variant::New).expect("layout");
    write_root(&dir.path().join("plant.usda"));
    let study =
        json_out(&twinloom(dir.path(), &["analyze", "biw", "--stage", "plant.usda", "--json", "--gpu", "off"]), 1);
    let (clashes, near, out) = expected(&study, |_| true);
    assert!(!clashes.is_empty() && !out.is_empty(), "the new variant clashes and has unreachable points");

    // The seed question, on the stage folder: every finding of the whole study, the first ten of each kind.
    let a = json_out(&twinloom(dir.path(), &["ask", CLASH_SEED, "--stage", ".", "--json"]), 0);
    assert_eq!(a["question"], CLASH_SEED);
    assert_eq!(a["answered"], true);
    assert_eq!(a["intent"]["intent"], "clashes");
    assert_eq!(a["intent"]["variant"], "new");
    assert_eq!(a["sources"].as_array().unwrap().len(), 1);
    assert_eq!(a["sources"][0]["name"], "BIW collision and reach study");
    assert!(a["sources"][0]["detail"].as_str().unwrap().contains("(the new variant)"), "{}", a["sources"]);
    let text = a["text"].as_str().unwrap();
    let head = format!(
        "The BIW study of the new variant finds {} clashes, and {} near misses under {:.1} mm.",
        study["clashes"],
        study["near_misses"],
        f(&study["near_miss_mm"])
    );
    assert!(text.starts_with(&head), "{head:?}\n{text}");
    says_in_order(text, &clashes, "clashes");
    says_in_order(&text[text.find(&near[0]).unwrap()..], &near, "near misses");
    let listed = format!("{} weld points are out of reach:", study["unreachable_points"]);
    says_in_order(&text[text.find(&listed).expect("the unreachable list")..], &out, "unreachable weld points");

    // The first ten of each kind hold every finding of station 1: each is named in full.
    let (clashes, near, out) = expected(&study, |s| s == "Station01");
    assert!(!clashes.is_empty() && clashes.len() <= 10 && near.len() <= 10 && out.len() <= 10);
    for s in clashes.iter().chain(&near).chain(&out) {
        assert!(text.contains(s.as_str()), "missing {s:?} in\n{text}");
    }

    // The stage's current values: a namespaced attribute by its path, as the layout authors it.
    let q = "What's the current value of /Plant/BIW/Line/Station01.twinloom:taktTime?";
    let a = json_out(&twinloom(dir.path(), &["ask", q, "--stage", "plant.usda", "--json"]), 0);
    assert_eq!(a["intent"]["target"], "/Plant/BIW/Line/Station01.twinloom:taktTime");
    assert_eq!(a["text"], "/Plant/BIW/Line/Station01.twinloom:taktTime is 60.");
}

#[test]
fn the_payback_question_gives_the_ledgers_numbers() {
    let dir = TempDir::new("ask-payback");
    ledger(dir.path());
    let report = json_out(&twinloom(dir.path(), &["payback", "--ledger", "payback.toml", "--json"]), 0);
    let a = json_out(&twinloom(dir.path(), &["ask", PAYBACK_SEED, "--ledger", "payback.toml", "--json"]), 0);
    assert_eq!(a["answered"], true);
    assert_eq!(a["intent"]["intent"], "payback");
    assert_eq!(a["sources"][0]["name"], "payback ledger");
    let text = a["text"].as_str().unwrap();
    let cur = report["currency"].as_str().unwrap();
    let want = format!(
        "{} ({cur}), actuals through {}: the twin pays back in {} as measured and recalibrated, against {} projected",
        report["ledger"].as_str().unwrap(),
        report["through"].as_str().unwrap(),
        report["payback_actual"].as_str().unwrap(),
        report["payback_projected"].as_str().unwrap()
    );
    assert!(text.contains(&want), "{want:?}\n{text}");
    let invest = format!(
        "Investment: {} {cur} planned, {} actual.",
        money(f(&report["invest_planned_total"])),
        money(f(&report["invest_actual_total"]))
    );
    assert!(text.contains(&invest), "{invest:?}\n{text}");
    for g in report["levers"].as_array().unwrap() {
        let name = format!("{} ({}): ", g["name"].as_str().unwrap(), g["dimension"].as_str().unwrap());
        let want = match g["through"].as_str() {
            Some(m) => format!(
                "{name}{} {cur} saved against {} projected to {m} (",
                money(f(&g["actual_to_date"])),
                money(f(&g["projected_to_date"]))
            ),
            None => format!("{name}not measured yet, so its projection of {} {cur}", money(f(&g["projected_total"]))),
        };
        assert!(text.contains(&want), "{want:?}\n{text}");
        let total = format!(
            "over the whole horizon {} actual and forecast against {} projected.",
            money(f(&g["actual_total"])),
            money(f(&g["projected_total"]))
        );
        assert!(g["through"].is_null() || text.contains(&total), "{total:?}\n{text}");
    }
}

#[test]
fn the_pages_example_prints_what_the_page_shows() {
    let dir = TempDir::new("ask-doc");
    ledger(dir.path());
    let doc = std::fs::read_to_string(workspace_root().join("docs/copilot.md")).unwrap();
    let example = block(&doc, "console", 0);
    let mut lines = example.lines();
    let command = lines.next().unwrap().strip_prefix("$ twinloom ").expect("a command line");
    // The command's words; a "quoted question" is one word.
    let mut args: Vec<String> = Vec::new();
    for (i, part) in command.split('"').enumerate() {
        if i % 2 == 1 {
            args.push(part.to_string());
        } else {
            args.extend(part.split_whitespace().map(String::from));
        }
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = twinloom(dir.path(), &args);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let want: String = lines.map(|l| format!("{l}\n")).collect();
    assert_eq!(String::from_utf8_lossy(&out.stdout), want);
}

#[test]
fn refusals_and_missing_flags_exit_1_and_say_what_to_do() {
    let dir = TempDir::new("ask-refuse");
    let a = json_out(&twinloom(dir.path(), &["ask", "Wie ist das Wetter?", "--json"]), 1);
    assert_eq!(a["answered"], false);
    assert_eq!(a["intent"]["intent"], "unsupported");
    assert_eq!(a["sources"], serde_json::json!([]));
    let text = a["text"].as_str().unwrap();
    assert!(text.contains("I can answer:") && text.contains("payback"), "{text}");

    // Plain text: the answer, exit 1.
    let out = twinloom(dir.path(), &["ask", "What's the OEE?"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("I can answer:"));

    for (q, flag) in
        [(PAYBACK_SEED, "--ledger FILE"), (CLASH_SEED, "--stage DIR"), ("What state is Station04 in?", "--stage DIR")]
    {
        let a = json_out(&twinloom(dir.path(), &["ask", q, "--json"]), 1);
        let text = a["text"].as_str().unwrap();
        assert_eq!(a["answered"], false, "{text}");
        assert!(text.contains(&format!("pass {flag}")), "{q}: {text}");
        assert!(!text.chars().any(|c| c.is_ascii_digit() && !q.contains(c)), "no number made up: {text}");
    }

    // A ledger that is not there is an error: exit 2, nothing on stdout.
    let out = twinloom(dir.path(), &["ask", PAYBACK_SEED, "--ledger", "missing.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.toml"), "{}", String::from_utf8_lossy(&out.stderr));
}
