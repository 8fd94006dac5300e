//! Answer rendering over a fake [`Facts`] implementation (test only: the real facts come from the CLI, which
//! runs or reads the analyses). The fake holds the numbers of docs/biw.md's new-variant study and
//! docs/payback.md's ledger, so the seed questions' answers can be read against those pages. Also: missing
//! and failed facts are said plainly with no number in the answer, and every answer names its sources.

use twinloom_copilot::*;

fn src(name: &str) -> Source {
    Source::new(name, format!("fake {name} for the rendering tests"))
}

fn gap(name: &str, dim: &str, through: Option<&str>, p: f64, a: f64, pt: f64, at: f64) -> GapFact {
    GapFact {
        name: name.into(),
        dimension: dim.into(),
        through: through.map(Into::into),
        projected_to_date: p,
        actual_to_date: a,
        gap_to_date: a - p,
        ratio: None,
        projected_total: pt,
        actual_total: at,
    }
}

/// The demo plant's facts as docs/biw.md and docs/payback.md print them.
struct Demo;

impl Demo {
    fn all_forecasts(&self) -> ForecastFacts {
        ForecastFacts {
            source: src("forecasts"),
            forecasts: vec![
                ForecastFact {
                    asset: "Plant/BIW/Station01/R01/A2WindingTemperature".into(),
                    unit: ForecastUnit::Seconds,
                    median: 36_000.0,
                    low: Some(25_200.0),
                    high: None,
                    interval_pct: Some(80.0),
                    level: Some(80.0),
                    threshold: Some(110.0),
                    signal_unit: Some("degC".into()),
                },
                ForecastFact {
                    asset: "Plant/Paint/Oven/Zone03/FanVibration".into(),
                    unit: ForecastUnit::Seconds,
                    median: 1380.0,
                    low: Some(900.0),
                    high: Some(2100.0),
                    interval_pct: Some(80.0),
                    level: Some(4.8),
                    threshold: Some(7.1),
                    signal_unit: Some("mm/s".into()),
                },
            ],
            without_forecast: vec!["Plant/BIW/Station02/R03/TipWear".into()],
        }
    }
}

impl Facts for Demo {
    fn biw(&self, variant: Option<&str>) -> FactResult<BiwFacts> {
        let new = variant == Some("new");
        let stations = vec![
            BiwStationFact {
                station: "Station01".into(),
                robots: vec!["R01".into(), "R02".into()],
                weld_points: 24,
                min_clearance_mm: Some(0.0),
            },
            BiwStationFact {
                station: "Station02".into(),
                robots: vec!["R03".into(), "R04".into()],
                weld_points: 20,
                min_clearance_mm: Some(12.5),
            },
        ];
        let (clashes, unreachable) = if new {
            (
                vec![
                    ClashFact {
                        station: "Station01".into(),
                        robot: "R01".into(),
                        link: "Tool".into(),
                        part: "Body/BPillarReinforcement".into(),
                        near_miss: false,
                        depth_mm: Some(40.0),
                        clearance_mm: None,
                        at_s: Some(1.6),
                        fix: Some(Fix::Other {
                            description: "re-teach R01's approach to W001 20 mm outboard".into(),
                            residual_clearance_mm: Some(8.5),
                        }),
                    },
                    ClashFact {
                        station: "Station01".into(),
                        robot: "R01".into(),
                        link: "Link4".into(),
                        part: "Body/Shell".into(),
                        near_miss: true,
                        depth_mm: None,
                        clearance_mm: Some(3.6),
                        at_s: Some(2.7),
                        fix: None,
                    },
                ],
                vec![UnreachableFact {
                    station: "Station01".into(),
                    robot: "R01".into(),
                    point: "W002".into(),
                    outside_mm: Some(62.0),
                    fix: Some(Fix::BaseShift { robot: "R01".into(), shift_mm: [430.0, 232.0, 380.0] }),
                }],
            )
        } else {
            (Vec::new(), Vec::new())
        };
        Ok(BiwFacts {
            source: src("BIW collision and reach study"),
            variant: if new { "the new variant".into() } else { "the current body".into() },
            near_miss_mm: 10.0,
            stations,
            clashes,
            unreachable,
        })
    }

    fn balance(&self, _line: Option<&str>) -> FactResult<BalanceFact> {
        Ok(BalanceFact {
            source: src("exact line balance"),
            line: "AssemblyLine".into(),
            unit: "s".into(),
            cycle_time: 60.0,
            stations: 3,
            lower_bound: 3,
            optimal: true,
            takt: Some(62.0),
            loads: vec![
                StationLoadFact { station: "1".into(), load: 58.0, idle: 2.0, utilisation: 58.0 / 60.0 },
                StationLoadFact { station: "2".into(), load: 45.0, idle: 15.0, utilisation: 0.75 },
                StationLoadFact { station: "3".into(), load: 60.0, idle: 0.0, utilisation: 1.0 },
            ],
        })
    }

    fn simulation(&self, _line: Option<&str>, scenario: Option<&str>) -> FactResult<SimulationFact> {
        Ok(SimulationFact {
            source: src("line simulation"),
            line: "AssemblyLine".into(),
            scenario: scenario.map(Into::into),
            replications: 10,
            throughput_per_h: EstimateFact { mean: 55.2, ci95: 0.4 },
            bottleneck: Some("A05_Seats".into()),
            stations: vec![SimStationFact {
                name: "A05_Seats".into(),
                utilisation: 0.93,
                blocked: 0.02,
                starved: 0.05,
                bottleneck_share: 0.9,
            }],
        })
    }

    fn anomalies(&self, _target: Option<&str>) -> FactResult<AnomalyFacts> {
        Ok(AnomalyFacts {
            source: src("anomaly diagnostics"),
            signals_watched: 2000,
            anomalies: vec![AnomalyFact {
                signal: "Plant/Paint/Oven/Zone03/FanVibration".into(),
                since: "2026-01-05 10:00:00".into(),
                value: 5.2,
                band_low: 1.5,
                band_high: 2.4,
                deviation_sigmas: 9.3,
                explanation: "its level shifted".into(),
                unit: Some("mm/s".into()),
            }],
        })
    }

    fn forecasts(&self, asset: Option<&str>) -> FactResult<ForecastFacts> {
        let mut f = self.all_forecasts();
        f.forecasts.retain(|x| asset.is_none_or(|a| matches_terms(&x.asset, a)));
        f.without_forecast.retain(|x| asset.is_none_or(|a| matches_terms(x, a)));
        Ok(f)
    }

    fn payback(&self) -> FactResult<PaybackFact> {
        Ok(PaybackFact {
            source: src("payback ledger"),
            ledger: "Body shop line 2 twin".into(),
            currency: "EUR".into(),
            through: Some("2026-06".into()),
            payback_projected: Some("2027-02".into()),
            payback_actual: Some("2027-04".into()),
            payback_delay_months: Some(2),
            invest_planned: 827_500.0,
            invest_actual: 842_500.0,
            levers: vec![
                gap("change_orders", "quality", Some("2026-06"), 84_000.0, 66_000.0, 924_000.0, 741_000.0),
                gap("balancing", "efficiency", Some("2026-06"), 66_000.0, 57_500.0, 726_000.0, 632_500.0),
                gap("paint_energy", "cost", Some("2026-06"), 18_000.0, 15_400.0, 288_000.0, 246_400.0),
                gap("downtime", "revenue", None, 0.0, 0.0, 382_500.0, 382_500.0),
            ],
            dimensions: vec![gap("quality", "quality", Some("2026-06"), 84_000.0, 66_000.0, 924_000.0, 741_000.0)],
        })
    }

    fn current(&self, target: &str) -> FactResult<CurrentFacts> {
        let all = [
            ValueFact {
                path: "/Plant/Assembly/Station04.twinloom:state".into(),
                value: FactValue::Text("blocked".into()),
                unit: None,
                quality: Some("Good".into()),
                time: Some("2026-01-05T10:00:00Z".into()),
            },
            ValueFact {
                path: "/Plant/Paint/Oven.energyPerCarKWh".into(),
                value: FactValue::Number(90.0),
                unit: Some("kWh".into()),
                quality: None,
                time: None,
            },
        ];
        Ok(CurrentFacts {
            source: src("twin state"),
            values: all.into_iter().filter(|v| matches_terms(&v.path, target)).collect(),
        })
    }
}

/// Facts whose analyses all fail.
struct Broken;

impl Facts for Broken {
    fn biw(&self, _: Option<&str>) -> FactResult<BiwFacts> {
        Err(FactError::Failed { kind: FactKind::Biw, message: "cannot open the stage plant.usda".into() })
    }
    fn simulation(&self, _: Option<&str>, _: Option<&str>) -> FactResult<SimulationFact> {
        Err(FactError::Failed { kind: FactKind::Simulation, message: "the sibling run failed".into() })
    }
}

#[test]
fn the_new_variant_question_names_robot_station_part_millimetres_and_fix() {
    let a = ask("We want to add a new variant to the BIW line. Will the robots clash?", &Demo);
    assert!(a.answered, "{}", a.text);
    for part in [
        "The BIW study of the new variant finds 1 clash, and 1 near miss under 10.0 mm.",
        "Station01: R01 (Tool) penetrates Body/BPillarReinforcement by 40.0 mm at t=1.6 s; \
         fix: re-teach R01's approach to W001 20 mm outboard (leaves 8.5 mm clearance).",
        "Station01: R01 (Link4) passes 3.6 mm from Body/Shell at t=2.7 s; the study proposes no fix for it.",
        "1 weld point is out of reach:",
        "Weld point W002 at Station01 is 62.0 mm outside R01's reach; \
         fix: shift R01's base by (+430, +232, +380) mm in world x, y, z.",
    ] {
        assert!(a.text.contains(part), "missing {part:?} in\n{}", a.text);
    }
    assert_eq!(a.sources, vec![src("BIW collision and reach study")]);
}

#[test]
fn the_current_body_is_clean() {
    let a = ask("Will the robots collide with the current body?", &Demo);
    assert_eq!(a.text, "The BIW study of the current body finds no clash. All 44 weld points are reachable.");
    let a = ask("Any clashes at Station02 with the current body?", &Demo);
    assert!(
        a.text.contains("finds no clash at Station02. All 20 weld points at Station02 are reachable."),
        "{}",
        a.text
    );
}

#[test]
fn scopes_that_the_study_lacks_are_named() {
    let a = ask("Any clashes at station 9?", &Demo);
    assert!(!a.answered);
    assert!(a.text.contains("has no station Station09; it checked Station01, Station02"), "{}", a.text);
    let a = ask("Can robot 7 reach its weld points?", &Demo);
    assert!(!a.answered);
    assert!(a.text.contains("has no robot R07"), "{}", a.text);
}

#[test]
fn the_savings_question_gives_projected_versus_actual_from_the_ledger() {
    let a = ask("What's this twin actually saving us versus planning the old way?", &Demo);
    assert!(a.answered);
    for part in [
        "Body shop line 2 twin (EUR), actuals through 2026-06: the twin pays back in 2027-04 as measured and \
         recalibrated, against 2027-02 projected, 2 months later than projected.",
        "Investment: 827,500 EUR planned, 842,500 actual.",
        "change_orders (quality): 66,000 EUR saved against 84,000 projected to 2026-06 (79 % realized, gap \
         -18,000); over the whole horizon 741,000 actual and forecast against 924,000 projected.",
        "downtime (revenue): not measured yet, so its projection of 382,500 EUR over the horizon stands.",
    ] {
        assert!(a.text.contains(part), "missing {part:?} in\n{}", a.text);
    }
    assert_eq!(a.sources, vec![src("payback ledger")]);
}

#[test]
fn payback_narrows_to_a_lever_or_dimension_and_names_unknown_ones() {
    let a = ask("How much have the avoided change orders saved?", &Demo);
    assert!(a.text.contains("change_orders (quality): 66,000 EUR saved"), "{}", a.text);
    assert!(!a.text.contains("balancing"), "{}", a.text);
    let a = ask("projected vs actual savings on quality", &Demo);
    assert!(a.text.contains("quality (quality): 66,000 EUR saved"), "{}", a.text);
    let a = answer(Intent::Payback { lever: Some("robots".into()), dimension: None }, &Demo);
    assert!(!a.answered);
    assert!(a.text.contains("has no lever robots; its levers are change_orders, balancing, paint_energy, downtime"));
}

#[test]
fn balance_takt_bottleneck_and_throughput() {
    let a = ask("Is the assembly line balanced?", &Demo);
    assert_eq!(
        a.text,
        "The exact balance of AssemblyLine needs 3 stations at a cycle time of 60 s (proven optimal). The busiest \
         station is 3 at 100 % (60 of 60 s); the least busy is 2 at 75 %."
    );
    let a = ask("What's the takt time?", &Demo);
    assert!(a.text.starts_with("The takt of AssemblyLine is 62 s; its exact balance runs at a cycle time of 60 s"));
    let a = ask("Where is the bottleneck on the assembly line?", &Demo);
    assert!(
        a.text.starts_with(
            "In 10 simulated replications of AssemblyLine, the bottleneck is A05_Seats: it was the bottleneck in 90 % \
             of them and busy 93 % of the time (blocked 2 %, starved 5 %)."
        ),
        "{}",
        a.text
    );
    assert_eq!(a.sources, vec![src("line simulation")]);
    let a = ask("What would the output be in scenario slow-station05?", &Demo);
    assert_eq!(
        a.text,
        "Simulated over 10 replications, AssemblyLine in the what-if sibling slow-station05 makes 55.2 ± 0.4 jobs \
         per hour (95 % confidence). Its bottleneck is A05_Seats."
    );
}

#[test]
fn bottleneck_falls_back_to_the_balance_and_says_why() {
    struct BalanceOnly;
    impl Facts for BalanceOnly {
        fn balance(&self, line: Option<&str>) -> FactResult<BalanceFact> {
            Demo.balance(line)
        }
    }
    let a = ask("Which station is the bottleneck?", &BalanceOnly);
    assert!(a.answered);
    assert!(a.text.contains("I have no simulation to find the bottleneck by (the line simulation is not available"));
    assert!(a.text.contains("the busiest station is 3 at 100 % of the 60 s cycle time"), "{}", a.text);
    assert_eq!(a.sources, vec![src("exact line balance")]);
}

#[test]
fn anomalies_forecasts_and_current_values() {
    let a = ask("Is anything abnormal right now?", &Demo);
    assert!(a.text.contains(
        "1 anomaly now on the 2000 signals the diagnostics watch: Plant/Paint/Oven/Zone03/FanVibration: 5.2 mm/s is \
         outside its normal band 1.5 … 2.4 (+9.3 σ) since 2026-01-05 10:00:00: its level shifted."
    ), "{}", a.text);
    let a = ask("Which asset is going to fail first?", &Demo);
    assert!(a.text.starts_with("2 forecasts; the soonest first: Plant/Paint/Oven/Zone03/FanVibration reaches its \
         failure threshold in 23 min (80 % interval 15 min … 35 min); it reads 4.8 mm/s now, the threshold is 7.1 mm/s."),
        "{}", a.text);
    assert!(a.text.contains("(80 % interval from 7.0 h on, with no upper end)"), "{}", a.text);
    assert!(a.text.contains("No forecast for Plant/BIW/Station02/R03/TipWear"), "{}", a.text);
    let a = ask("When will the oven zone 3 fan fail?", &Demo);
    assert_eq!(
        a.text,
        "Plant/Paint/Oven/Zone03/FanVibration reaches its failure threshold in 23 min (80 % interval 15 min … 35 \
         min); it reads 4.8 mm/s now, the threshold is 7.1 mm/s."
    );
    let a = ask("What state is Station04 in?", &Demo);
    assert_eq!(a.text, "/Plant/Assembly/Station04.twinloom:state is blocked (quality Good, at 2026-01-05T10:00:00Z).");
    let a = ask("What's the current value of /Plant/Paint/Oven.energyPerCarKWh?", &Demo);
    assert_eq!(a.text, "/Plant/Paint/Oven.energyPerCarKWh is 90 kWh.");
    let a = ask("What's the status of robot 9?", &Demo);
    assert!(!a.answered);
    assert_eq!(a.text, "The twin has no signal or prim matching \"R09\".");
}

/// Digits in an answer that are not part of a name the question gave (Station01, R01, …).
fn stray_digits(a: &Answer) -> Vec<String> {
    let names: Vec<String> = a.intent.slots().into_values().collect();
    a.text
        .split(|c: char| c.is_whitespace() || c == ',' || c == '"' || c == '(' || c == ')')
        .filter(|w| w.chars().any(|c| c.is_ascii_digit()))
        .filter(|w| !names.iter().any(|n| w.contains(n.as_str())))
        // The capability list's examples name R01, Station04 and zone 3.
        .filter(|w| !["R01", "Station04", "3", "/Plant/Paint/Oven.energyPerCarKWh"].iter().any(|n| w.contains(n)))
        .map(String::from)
        .collect()
}

#[test]
fn missing_facts_are_said_plainly_without_a_number() {
    let questions = [
        "We want to add a new variant to the BIW line. Will the robots clash?",
        "Which weld points can't R01 reach?",
        "Is the assembly line well balanced?",
        "Where is the bottleneck?",
        "What's the takt time?",
        "What throughput does the assembly line make?",
        "Is anything abnormal right now?",
        "When will the oven zone 3 fan fail?",
        "What's this twin actually saving us versus planning the old way?",
        "What state is Station04 in?",
    ];
    for q in questions {
        let a = ask(q, &NoFacts);
        assert!(!a.answered, "{q}: {}", a.text);
        assert!(a.sources.is_empty(), "{q}");
        assert!(a.text.starts_with("I cannot answer this from the twin: "), "{q}: {}", a.text);
        assert!(a.text.contains("is not available: this front end does not provide it"), "{q}: {}", a.text);
        assert!(a.text.contains("I can answer: clashes and near misses"), "{q}: {}", a.text);
        assert!(stray_digits(&a).is_empty(), "{q}: made-up numbers {:?} in {}", stray_digits(&a), a.text);
    }
}

#[test]
fn failed_analyses_pass_their_message_on() {
    let a = ask("Will the robots clash?", &Broken);
    assert!(!a.answered);
    assert!(
        a.text.contains("the BIW collision and reach study failed: cannot open the stage plant.usda"),
        "{}",
        a.text
    );
    let a = ask("Where is the bottleneck?", &Broken);
    assert!(a.text.contains("the line simulation failed: the sibling run failed"), "{}", a.text);
    assert!(stray_digits(&a).is_empty(), "{}", a.text);
}

#[test]
fn refusals_say_why_and_what_can_be_answered() {
    let a = ask("Werden die Roboter mit der neuen Variante kollidieren?", &Demo);
    assert!(!a.answered && a.sources.is_empty());
    assert!(a
        .text
        .starts_with("I can't answer that: the question looks like German; I answer questions in English only."));
    assert!(a.text.contains("the payback: projected versus actual savings per lever and dimension"));
    let a = ask("", &Demo);
    assert!(a.text.starts_with("Ask me a question about the plant's twin. I can answer: "));
    let a = ask("What's the weather tomorrow?", &Demo);
    assert!(a.text.starts_with("I can't answer that: the question is not about the plant or its twin."));
    let a = ask("Set the oven to 170 degrees", &Demo);
    assert!(a.text.contains("I only read the twin and never act on the plant"), "{}", a.text);
    let a = ask("What can you do?", &Demo);
    assert!(a.text.starts_with("I answer questions about the plant's twin from its own analyses, offline: "));
    for a in [ask("", &Demo), ask("Tell me a joke", &Demo), ask("help", &Demo)] {
        assert!(stray_digits(&a).is_empty(), "{}", a.text);
    }
}

#[test]
fn answers_serialise_with_their_intent_and_sources() {
    let a = ask("Which weld points can't R01 reach with the new variant?", &Demo);
    let v = serde_json::to_value(&a).expect("JSON");
    assert_eq!(v["intent"]["intent"], "reach");
    assert_eq!(v["intent"]["robot"], "R01");
    assert_eq!(v["sources"][0]["name"], "BIW collision and reach study");
    assert_eq!(v["answered"], true);
    assert!(a.text.starts_with("1 weld point is out of reach for R01: Weld point W002"), "{}", a.text);
}
