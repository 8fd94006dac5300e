//! The question test set (tests/questions.toml, issue 19): every question must parse to its expected intent
//! with exactly the expected slots; the set holds at least 60 questions, the two seed questions and
//! refusals of every kind; and parsing stays far below a millisecond per question.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Deserialize;
use twinloom_copilot::parse;

#[derive(Deserialize)]
struct Set {
    question: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    text: String,
    intent: String,
    #[serde(flatten)]
    slots: BTreeMap<String, String>,
}

fn cases() -> Vec<Case> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/questions.toml");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    toml::from_str::<Set>(&text).unwrap_or_else(|e| panic!("{path}: {e}")).question
}

#[test]
fn every_question_parses_to_its_intent_and_slots() {
    let mut wrong = Vec::new();
    for c in cases() {
        let intent = parse(&c.text);
        let got: BTreeMap<String, String> = intent.slots().into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        if intent.name() != c.intent || got != c.slots {
            wrong.push(format!(
                "{:?}\n  expected {} {:?}\n  got      {} {:?}",
                c.text,
                c.intent,
                c.slots,
                intent.name(),
                got
            ));
        }
    }
    assert!(wrong.is_empty(), "{} questions parse wrongly:\n{}", wrong.len(), wrong.join("\n"));
}

#[test]
fn the_set_is_large_and_varied_enough() {
    let cases = cases();
    assert!(cases.len() >= 60, "{} questions, the issue asks for at least 60", cases.len());
    for seed in [
        "We want to add a new variant to the BIW line. Will the robots clash?",
        "What's this twin actually saving us versus planning the old way?",
    ] {
        assert!(cases.iter().any(|c| c.text == seed), "seed question missing: {seed}");
    }
    for intent in [
        "clashes",
        "reach",
        "balance",
        "throughput",
        "anomalies",
        "forecast",
        "payback",
        "current_state",
        "capabilities",
    ] {
        assert!(cases.iter().filter(|c| c.intent == intent).count() >= 2, "fewer than 2 questions for {intent}");
    }
    for reason in ["empty", "other_language", "off_topic", "action", "not_understood"] {
        assert!(
            cases.iter().any(|c| c.slots.get("reason").map(String::as_str) == Some(reason)),
            "no refusal for {reason}"
        );
    }
}

#[test]
fn parsing_takes_far_less_than_a_millisecond() {
    let cases = cases();
    let mut times = Vec::new();
    for _ in 0..20 {
        for c in &cases {
            let t = Instant::now();
            std::hint::black_box(parse(std::hint::black_box(&c.text)));
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    times.sort_by(f64::total_cmp);
    let p95 = times[times.len() * 95 / 100];
    // Unoptimised test build on a shared machine: a generous bound; release is some 10x faster.
    assert!(p95 < 1.0, "parse p95 {p95:.3} ms");
}
