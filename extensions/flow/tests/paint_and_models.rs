//! Paint shop formulas against hand calculations, the what-if grid, model files with scenarios, and the
//! sample plant's models shipped in samples/models.

use std::path::PathBuf;

use twinloom_flow::des::{replicate, Dist, Sim};
use twinloom_flow::paint::{Body, Booth, Oven, PaintModel, WhatIf, AIR_CP, AIR_DENSITY};
use twinloom_flow::scenario::{parse_model, read_model};

fn shop() -> PaintModel {
    PaintModel {
        name: "shop".into(),
        conveyor_m_min: 2.0,
        pitch_m: 2.0,
        booth: Booth {
            length_m: 10.0,
            width_m: 5.0,
            air_velocity_m_s: 0.5,
            supply_temp_c: 25.0,
            outside_temp_c: 5.0,
            recirculation: 0.0,
            fan_pressure_pa: 1000.0,
            fan_efficiency: 0.5,
            heater_efficiency: 1.0,
        },
        oven: Oven {
            length_m: 60.0,
            setpoint_c: 180.0,
            cure_temp_c: 140.0,
            cure_time_min: 15.0,
            max_temp_c: 190.0,
            body_in_temp_c: 20.0,
            body_cp_kj_kg_k: 0.5,
            exhaust_m3_h: 3600.0,
            outside_temp_c: 0.0,
            shell_loss_w_k: 100.0,
            burner_efficiency: 1.0,
        },
        bodies: vec![Body { name: "car".into(), share: 1.0, mass_kg: 400.0, tau_min: 10.0 }],
        whatif: None,
    }
}

#[test]
fn paint_energy_and_cure_match_hand_calculation() {
    let r = shop().evaluate().unwrap();
    // 2 m/min with a 2 m pitch: 60 cars/h; dwell 30 min.
    assert_eq!(r.throughput_per_h, 60.0);
    // Booth: Q = 0.5·10·5 = 25 m³/s; fans 25·1000/0.5 = 50 kW; heating 1.2·1.005·25·20 = 603 kW.
    let booth_kw = 50.0 + AIR_DENSITY * AIR_CP * 25.0 * 20.0;
    assert!((r.booth_kw - booth_kw).abs() < 1e-9);
    assert!((r.booth_kwh_per_car - booth_kw / 60.0).abs() < 1e-9);
    // Body: T(30) = 180 − 160·e^−3; reaches 140 °C after 10·ln(160/40) min.
    let peak = 180.0 - 160.0 * (-3.0f64).exp();
    let reach = 10.0 * 4.0f64.ln();
    assert!((r.cure[0].peak_temp_c - peak).abs() < 1e-9);
    assert!((r.cure[0].time_at_temp_min - (30.0 - reach)).abs() < 1e-9);
    assert!(r.cure[0].ok);
    assert!((r.max_cure_speed_m_min - 60.0 / (reach + 15.0)).abs() < 1e-9);
    // Oven per car: exhaust 1.2·1.005·1·180 kW and shell 18 kW over 60 cars/h, plus 400·0.5·(peak − 20)/3600 kWh.
    let oven = (AIR_DENSITY * AIR_CP * 180.0 + 18.0) / 60.0 + 400.0 * 0.5 * (peak - 20.0) / 3600.0;
    assert!((r.oven_kwh_per_car - oven).abs() < 1e-9);
    assert!((r.kwh_per_car - (booth_kw / 60.0 + oven)).abs() < 1e-9);
}

#[test]
fn cure_window_fails_when_too_fast_or_too_cool() {
    let mut m = shop();
    m.conveyor_m_min = 3.0; // dwell 20 min < 13.9 + 15
    let r = m.evaluate().unwrap();
    assert!(!r.cure[0].ok);
    assert_eq!(r.cure_ok_share, 0.0);
    m.conveyor_m_min = 2.0;
    m.oven.setpoint_c = 135.0; // never reaches 140 °C
    let r = m.evaluate().unwrap();
    assert_eq!(r.cure[0].time_at_temp_min, 0.0);
    assert_eq!(r.max_cure_speed_m_min, 0.0);
}

#[test]
fn what_if_grid_over_setpoints() {
    let mut m = shop();
    m.whatif = Some(WhatIf {
        conveyor_m_min: vec![1.5, 2.0],
        booth_air_velocity_m_s: vec![0.3, 0.5],
        oven_setpoint_c: vec![170.0, 180.0, 190.0],
    });
    let rows = m.what_if().unwrap();
    assert_eq!(rows.len(), 12);
    // Hotter oven: more energy per car and longer time at temperature; faster conveyor: less booth energy per car.
    for w in rows.windows(2).filter(|w| {
        w[0].conveyor_m_min == w[1].conveyor_m_min && w[0].booth_air_velocity_m_s == w[1].booth_air_velocity_m_s
    }) {
        assert!(w[1].oven_kwh_per_car > w[0].oven_kwh_per_car);
        assert!(w[1].cure[0].time_at_temp_min > w[0].cure[0].time_at_temp_min);
    }
    assert!(rows[6].booth_kwh_per_car < rows[0].booth_kwh_per_car);
}

const MODEL: &str = r#"
[line]
name = "mini"
horizon_h = 100
source = { kind = "saturated" }

[[line.stations]]
name = "a"
time = { dist = "const", value = 60.0 }
next = { capacity = 1 }

[[line.stations]]
name = "b"
time = { dist = "const", value = 90.0 }
"#;

#[test]
fn scenario_overrides_stations_by_name() {
    let base = parse_model("m.toml", MODEL, None).unwrap();
    let s = r#"
[[line.stations]]
name = "b"
time = { dist = "const", value = 45.0 }
"#;
    let what_if = parse_model("m.toml", MODEL, Some(("s.toml", s))).unwrap();
    let l0 = base.line.unwrap();
    let l1 = what_if.line.unwrap();
    assert_eq!(l1.stations.len(), 2);
    assert_eq!(l1.stations[1].time, Dist::Const { value: 45.0 });
    assert_eq!(l1.stations[0], l0.stations[0]);
    let t0 = Sim::new(&l0).unwrap().run(1, 0).throughput_per_h;
    let t1 = Sim::new(&l1).unwrap().run(1, 0).throughput_per_h;
    assert!((t0 - 40.0).abs() < 0.02 && (t1 - 60.0).abs() < 0.02, "{t0} {t1}");
}

#[test]
fn model_errors_name_file_line_and_field() {
    let e = parse_model("m.toml", "[line]\nname = \"x\"\nhorizon_h = \n", None).unwrap_err().to_string();
    assert!(e.starts_with("m.toml:3:"), "{e}");
    let bad = MODEL.replace("value = 90.0", "value = -90.0");
    let e = parse_model("m.toml", &bad, None).unwrap_err().to_string();
    assert!(e.contains("stations[1] (b).time"), "{e}");
    let e = parse_model("m.toml", "[other]\nx = 1\n", None).unwrap_err().to_string();
    assert!(e.contains("other"), "{e}");
}

#[test]
fn sample_plant_models_run() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../samples/models");
    let asm = read_model(&dir.join("assembly_line.toml"), None).unwrap();
    let line = asm.line.unwrap();
    assert_eq!(line.stations.len(), 12);
    let (s, _) = replicate(&Sim::new(&line).unwrap(), 4, 1);
    // Working hours only: a 60 s takt minus losses; every station below full utilisation.
    assert!(s.throughput_per_h.mean > 50.0 && s.throughput_per_h.mean < 66.0, "{:?}", s.throughput_per_h);
    assert!(s.stations.iter().all(|st| st.utilisation.mean < 1.0));
    let sc = read_model(&dir.join("assembly_line.toml"), Some(&dir.join("scenarios/faster_alignment.toml"))).unwrap();
    assert_eq!(sc.line.unwrap().stations[9].time, Dist::Const { value: 45.0 });
    let paint = read_model(&dir.join("paint_shop.toml"), None).unwrap();
    let p = paint.paint.unwrap();
    assert_eq!(p.what_if().unwrap().len(), 18);
    let hot = read_model(&dir.join("paint_shop.toml"), Some(&dir.join("scenarios/oven_175.toml"))).unwrap();
    assert_eq!(hot.paint.unwrap().oven.setpoint_c, 175.0);
    assert!(paint.line.is_some());
}
