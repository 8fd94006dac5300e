//! Writes and method calls against the real simulator over OPC UA (async-opcua's client on 127.0.0.1):
//! setpoints accept writes of their type within their range and read back; the plant follows them (oven
//! temperature with a first-order lag, conveyor speed, takt, robot program); wrong types, out-of-range
//! values and read-only nodes are refused with the documented statuses and change nothing;
//! `AcknowledgeFault` clears a fault and says when there was none; the write log (in memory and as JSON
//! lines) holds exactly what was received, with the statuses answered.

mod common;

use std::time::{Duration, Instant};

use common::{eventually, read, read_attr, read_f64, read_i32, write, write_attr};
use opcua::client::Session;
use opcua::types::{AttributeId, CallMethodRequest, NodeId, StatusCode, Variant};
use twinloom_simulator::{
    acknowledge_fault_path, PlantModel, RecordKind, SimConfig, SimValue, Simulator, SimulatorHandle,
};

async fn connect(sim: &SimulatorHandle) -> std::sync::Arc<Session> {
    common::connect(sim.endpoint_url()).await
}

fn node(sim: &SimulatorHandle, path: &str) -> NodeId {
    NodeId::new(sim.namespace_index(), path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setpoint_writes_are_accepted_and_read_back_bad_ones_refused_and_every_one_logged() {
    let log_file = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("sim-writes.jsonl");
    let config = SimConfig { port: 0, signals: 0, write_log: Some(log_file.clone()), ..Default::default() };
    let sim = Simulator::start(config).await.unwrap();
    let session = connect(&sim).await;
    let oven = node(&sim, "Plant/Paint/Oven/Zone01/Setpoint");
    let conveyor = node(&sim, "Plant/Paint/Conveyor/Booths/SpeedSetpoint");
    let takt = node(&sim, "Plant/Assembly/Line/Takt");
    let program = node(&sim, "Plant/BIW/Station01/R01/ProgramSelect");
    let temperature = node(&sim, "Plant/Paint/Oven/Zone01/Temperature");
    let fault = node(&sim, "Plant/Assembly/Station01/FaultCode");
    let nowhere = node(&sim, "Plant/Nowhere");

    // Only setpoints carry CurrentWrite (bit 1) in AccessLevel and UserAccessLevel.
    for (id, level) in [(&oven, 3u8), (&conveyor, 3), (&takt, 3), (&program, 3), (&temperature, 1), (&fault, 1)] {
        assert_eq!(read_attr(&session, id, AttributeId::AccessLevel).await, Variant::Byte(level), "{id}");
        assert_eq!(read_attr(&session, id, AttributeId::UserAccessLevel).await, Variant::Byte(level), "{id}");
    }
    assert_eq!(read_f64(&session, &oven).await, 140.0);
    assert_eq!(read_i32(&session, &program).await, 0);

    let good = StatusCode::Good;
    let (range, mismatch, denied) =
        (StatusCode::BadOutOfRange, StatusCode::BadTypeMismatch, StatusCode::BadUserAccessDenied);
    let sent: Vec<(&NodeId, Variant, StatusCode)> = vec![
        (&oven, Variant::Double(250.0), good),
        (&conveyor, Variant::Double(6.5), good),
        (&takt, Variant::Double(45.0), good),
        (&program, Variant::Int32(7), good),
        (&oven, Variant::Double(300.5), range),
        (&oven, Variant::Double(-1.0), range),
        (&oven, Variant::Double(f64::NAN), range),
        (&conveyor, Variant::Double(120.5), range),
        (&takt, Variant::Double(9.0), range),
        (&takt, Variant::Double(601.0), range),
        (&program, Variant::Int32(0), range),
        (&program, Variant::Int32(100), range),
        (&oven, Variant::Float(200.0), mismatch),
        (&oven, Variant::Int32(200), mismatch),
        (&oven, Variant::Empty, mismatch),
        (&program, Variant::Double(5.0), mismatch),
        (&takt, Variant::from("30"), mismatch),
        (&temperature, Variant::Double(100.0), denied),
        (&fault, Variant::Int32(0), denied),
        (&nowhere, Variant::Double(1.0), StatusCode::BadNodeIdUnknown),
        (&oven, Variant::Double(0.0), good),
        (&oven, Variant::Double(300.0), good),
    ];
    let mut oven_now = Variant::Double(140.0);
    for (id, value, status) in &sent {
        assert_eq!(write(&session, id, value.clone()).await, *status, "{id} <- {value:?}");
        if *id == &oven {
            if status.is_good() {
                oven_now = value.clone();
            }
            // Read back right away: the accepted value, or unchanged after a refusal.
            assert_eq!(read(&session, &oven).await, oven_now, "after {value:?}");
        }
    }
    // Other attributes than the value are not writable, setpoints' included.
    let display_name = Variant::from(opcua::types::LocalizedText::from("Oven"));
    let status = write_attr(&session, &oven, AttributeId::DisplayName, display_name.clone()).await;
    assert_eq!(status, StatusCode::BadNotWritable);
    assert_eq!(read_f64(&session, &oven).await, 300.0);
    assert_eq!(read_f64(&session, &conveyor).await, 6.5);
    assert_eq!(read_f64(&session, &takt).await, 45.0);
    assert_eq!(read_i32(&session, &program).await, 7);
    // The read-only values were not changed by the refused writes (the temperature is near 140, not 100).
    assert!((read_f64(&session, &temperature).await - 140.0).abs() < 15.0);

    // The log holds exactly these writes, in order, with the statuses answered.
    let log = sim.write_log();
    assert_eq!(log.len(), sent.len() + 1);
    let last = &log[sent.len()];
    assert_eq!(
        (last.attribute, &last.value, last.status),
        (AttributeId::DisplayName, &display_name, StatusCode::BadNotWritable)
    );
    for (r, (id, value, status)) in log.iter().zip(&sent) {
        assert_eq!(r.kind, RecordKind::Write);
        assert_eq!(r.node_id, id.to_string());
        assert_eq!(r.attribute, AttributeId::Value);
        let same = match (&r.value, value) {
            (Variant::Double(a), Variant::Double(b)) => a == b || (a.is_nan() && b.is_nan()),
            (a, b) => a == b,
        };
        assert!(same, "{} logged {:?}, sent {value:?}", r.node_id, r.value);
        assert_eq!(r.status, *status, "{}", r.node_id);
        assert!(r.arguments.is_empty() && r.outputs.is_empty());
    }
    // ... and the JSON-lines file, one line per record.
    let text = std::fs::read_to_string(&log_file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), sent.len() + 1);
    let ns = sim.namespace_index();
    assert!(
        lines[0].contains(&format!(
            r#""kind":"write","node":"ns={ns};s=Plant/Paint/Oven/Zone01/Setpoint","attribute":"Value","type":"Double","value":250.0,"status":"Good","code":0}}"#
        )),
        "{}",
        lines[0]
    );
    assert!(lines[4].contains(r#""value":300.5,"status":"BadOutOfRange","code":2151415808}"#), "{}", lines[4]);
    assert!(lines[6].contains(r#""value":null,"status":"BadOutOfRange""#), "{}", lines[6]);
    assert!(lines[12].contains(r#""type":"Float","value":200.0,"status":"BadTypeMismatch""#), "{}", lines[12]);
    assert!(lines[17].contains(r#""status":"BadUserAccessDenied""#), "{}", lines[17]);
    assert!(lines[sent.len()].contains(r#""attribute":"DisplayName","type":"Other""#), "{}", lines[sent.len()]);
    assert!(lines.iter().all(|l| l.starts_with(r#"{"time":""#) && l.ends_with('}')));

    let _ = session.disconnect().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oven_temperature_follows_a_written_setpoint_with_a_first_order_lag() {
    // 30 model seconds per second, 20 ticks/s: a tick is 1.5 s, a paint step 7.5 s of plant time.
    let config = SimConfig { port: 0, signals: 0, time_scale: 30.0, update_hz: 20.0, ..Default::default() };
    let tick_s = config.model_config().tick_s;
    let ticks = |sim: &SimulatorHandle| sim.stats().ticks.load(std::sync::atomic::Ordering::Relaxed);
    let sim = Simulator::start(config).await.unwrap();
    let session = connect(&sim).await;
    let setpoint = node(&sim, "Plant/Paint/Oven/Zone03/Setpoint");
    let temperature = node(&sim, "Plant/Paint/Oven/Zone03/Temperature");
    let before = read_f64(&session, &temperature).await;
    let read_at = ticks(&sim);
    assert!((before - 175.0).abs() < 8.0, "{before}");
    assert_eq!(write(&session, &setpoint, Variant::Double(245.0)).await, StatusCode::Good);
    let written_at = ticks(&sim);
    // No jump: right after the write the zone has moved by no more than the lag allows in the paint steps
    // (every 5 ticks, 7.5 s) since it was read: 70 * (1 - (1 - 7.5/90)^n), plus noise.
    let now = read_f64(&session, &temperature).await;
    let steps = ((ticks(&sim) - read_at) / 5 + 1) as i32;
    let most = 70.0 * (1.0 - (1.0 - 7.5 / 90.0f64).powi(steps)) + 3.0;
    assert!(now - before <= most, "{before} -> {now} in {steps} paint steps");
    // 63 % of the 70 degC step after about one time constant (90 s): measured in model ticks.
    let target = before + 0.632 * (245.0 - before);
    let mut samples = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let t = read_f64(&session, &temperature).await;
        samples.push(t);
        if t >= target {
            break;
        }
        assert!(Instant::now() < deadline, "no 63 % of the step: {samples:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let reached_at = ticks(&sim);
    let tau = (reached_at - written_at) as f64 * tick_s;
    eprintln!("63 % of the step after {tau} s of plant time");
    assert!((45.0..=160.0).contains(&tau), "63 % after {tau} s of plant time, expected about 90 s ({samples:?})");
    // It settles at the setpoint without overshooting: 360 s of plant time (4 time constants) later.
    eventually("4 time constants", 60, || async { ticks(&sim) >= reached_at + 240 }).await;
    let settled = read_f64(&session, &temperature).await;
    assert!((settled - 245.0).abs() < 5.0, "{settled}");
    assert!(samples.iter().all(|&t| t < 250.0), "{samples:?}");
    let _ = session.disconnect().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conveyor_speed_takt_and_robot_program_follow_their_setpoints() {
    // 20 model seconds per second, no faults and no shift breaks to get in the way.
    let config = SimConfig {
        port: 0,
        signals: 0,
        time_scale: 20.0,
        update_hz: 20.0,
        mtbf_scale: 1e6,
        shift_s: 1e6,
        ..Default::default()
    };
    let sim = Simulator::start(config).await.unwrap();
    let session = connect(&sim).await;
    let speed = node(&sim, "Plant/Paint/Conveyor/Booths/Speed");
    assert!((read_f64(&session, &speed).await - 5.0).abs() < 0.1);
    let sp = node(&sim, "Plant/Paint/Conveyor/Booths/SpeedSetpoint");
    assert_eq!(write(&session, &sp, Variant::Double(9.0)).await, StatusCode::Good);
    eventually("the conveyor at 9 m/min", 20, || async { (read_f64(&session, &speed).await - 9.0).abs() <= 0.06 })
        .await;

    let takt = node(&sim, "Plant/Assembly/Line/Takt");
    assert_eq!(write(&session, &takt, Variant::Double(20.0)).await, StatusCode::Good);
    let cycle = node(&sim, "Plant/Assembly/Station01/CycleTime");
    // Work times are 75..98 % of the takt: with a 20 s takt, at most 19.6 s.
    eventually("a cycle time drawn from the 20 s takt", 20, || async {
        let c = read_f64(&session, &cycle).await;
        c > 0.0 && c <= 19.6
    })
    .await;
    assert_eq!(read_f64(&session, &takt).await, 20.0);

    let select = node(&sim, "Plant/BIW/Station02/R03/ProgramSelect");
    let program = node(&sim, "Plant/BIW/Station02/R03/Program");
    assert_eq!(write(&session, &select, Variant::Int32(42)).await, StatusCode::Good);
    eventually("R03 running program 42", 20, || async { read_i32(&session, &program).await == 42 }).await;

    assert_eq!(sim.write_log().iter().filter(|r| r.status.is_good()).count(), 3);
    let _ = session.disconnect().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledge_fault_clears_an_active_fault_and_says_when_there_was_none() {
    // Frequent faults; the plant freezes at the first tick an assembly station is faulted (found by
    // replaying the same model), so the fault is still there when the call comes.
    let mut config = SimConfig {
        port: 0,
        signals: 0,
        seed: 3,
        mtbf_scale: 0.002,
        time_scale: 20.0,
        update_hz: 20.0,
        ..Default::default()
    };
    let mut replay = PlantModel::new(&config.model_config());
    let path = |s: usize, leaf: &str| format!("Plant/Assembly/Station{:02}/{leaf}", s + 1);
    let value = |m: &PlantModel, p: &str| m.values()[m.infos().iter().position(|i| i.path == p).unwrap()].clone();
    let (station, code) = loop {
        replay.step();
        assert!(replay.tick() < 20_000, "no assembly fault in the replay");
        let faulted = (0..replay.assembly_stations()).find_map(|s| match value(&replay, &path(s, "FaultCode")) {
            SimValue::Int(c) if c != 0 => Some((s, c)),
            _ => None,
        });
        if let Some(found) = faulted {
            break found;
        }
    };
    let quiet = (0..replay.assembly_stations())
        .find(|&s| {
            value(&replay, &path(s, "FaultCode")) == SimValue::Int(0)
                && value(&replay, &path(s, "Andon")) == SimValue::Bool(false)
        })
        .expect("a station with nothing to acknowledge");
    let frozen_at = replay.tick();
    config.max_ticks = Some(frozen_at);
    let sim = Simulator::start(config).await.unwrap();
    let session = connect(&sim).await;
    eventually("the plant frozen at the fault", 30, || async {
        sim.stats().ticks.load(std::sync::atomic::Ordering::Relaxed) >= frozen_at
    })
    .await;
    let fault_code = node(&sim, &path(station, "FaultCode"));
    let state = node(&sim, &path(station, "State"));
    assert_eq!(read_i32(&session, &fault_code).await, code);
    assert_eq!(read_i32(&session, &state).await, 3, "faulted");

    let call = |s: usize, object: usize| CallMethodRequest {
        object_id: node(&sim, &format!("Plant/Assembly/Station{:02}", object + 1)),
        method_id: node(&sim, &acknowledge_fault_path(s)),
        input_arguments: Some(Vec::new()),
    };
    let first = session.call_one(call(station, station)).await.unwrap();
    assert_eq!(first.status_code, StatusCode::Good);
    assert_eq!(first.output_arguments, Some(vec![Variant::Boolean(true), Variant::Int32(code)]));
    // Served at once: the fault is gone from the station.
    assert_eq!(read_i32(&session, &fault_code).await, 0);
    assert_ne!(read_i32(&session, &state).await, 3);
    // Nothing left to acknowledge: Good, with Acknowledged = false and FaultCode = 0.
    let again = session.call_one(call(station, station)).await.unwrap();
    assert_eq!(again.status_code, StatusCode::Good);
    assert_eq!(again.output_arguments, Some(vec![Variant::Boolean(false), Variant::Int32(0)]));
    let other = session.call_one(call(quiet, quiet)).await.unwrap();
    assert_eq!(other.output_arguments, Some(vec![Variant::Boolean(false), Variant::Int32(0)]));
    // The server's own checks refuse a method called on another object or with arguments; those calls
    // never reach the plant (and are not logged).
    let wrong_object = session.call_one(call(station, quiet)).await.unwrap();
    assert_eq!(wrong_object.status_code, StatusCode::BadMethodInvalid);
    let with_args = CallMethodRequest { input_arguments: Some(vec![Variant::Int32(1)]), ..call(station, station) };
    assert_eq!(session.call_one(with_args).await.unwrap().status_code, StatusCode::BadTooManyArguments);

    let log = sim.write_log();
    let calls: Vec<(String, Vec<Variant>, StatusCode)> =
        log.iter().map(|r| (r.node_id.clone(), r.outputs.clone(), r.status)).collect();
    let id = |s: usize| node(&sim, &acknowledge_fault_path(s)).to_string();
    assert_eq!(
        calls,
        [
            (id(station), vec![Variant::Boolean(true), Variant::Int32(code)], StatusCode::Good),
            (id(station), vec![Variant::Boolean(false), Variant::Int32(0)], StatusCode::Good),
            (id(quiet), vec![Variant::Boolean(false), Variant::Int32(0)], StatusCode::Good),
        ]
    );
    assert!(log.iter().all(|r| r.kind == RecordKind::Call && r.arguments.is_empty()));
    let _ = session.disconnect().await;
    sim.shutdown().await;
}
