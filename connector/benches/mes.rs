//! MES benchmarks (docs/mes.md), on a deterministic assembly-shop run from tests/peers/mes_feed.py
//! (job order, then per station entered / material / completed / left, then leftShop):
//!
//! - `mes_events_per_s`: messages per second through the running service: the feed posts them to
//!   `POST /v1/mes` (100 per request, one keep-alive connection, the Python client on the same cores),
//!   each applied to the WIP and the layer and published to live clients, `mes.usda` saved every 500 ms;
//!   target >= 20,000/s. Every message must be applied (zero rejected).
//! - `mes_ingest_events_per_s`: the same messages one per payload straight into [`Mes::ingest`]
//!   (parse, WIP, layer edits), with [`Mes::save_if_due`] after each: the model's own ceiling.
//!
//! Usage: `cargo bench -p twinloom-connector --bench mes -- [PREFIX]`; prints JSON lines.

use std::process::Command;
use std::time::Instant;

use twinloom_connector::mes::{Mes, MesConfig};
use twinloom_connector::Config;

const CARS: &str = "2000";
const STATIONS: &str = "8";

fn wanted(name: &str) -> bool {
    std::env::args().skip(1).find(|a| !a.starts_with('-')).is_none_or(|p| name.starts_with(&p))
}

fn feed(args: &[&str]) -> String {
    let out = Command::new(twinloom_tests::python())
        .arg(twinloom_tests::workspace_root().join("tests/peers/mes_feed.py"))
        .args(args)
        .output()
        .expect("start mes_feed.py");
    twinloom_tests::check_output("mes_feed.py", &out);
    String::from_utf8(out.stdout).expect("UTF-8")
}

fn main() {
    if !wanted("mes_events_per_s") && !wanted("mes_ingest_events_per_s") {
        return;
    }
    let mes_table = feed(&["--config", "--stations", STATIONS]);
    let dir = twinloom_tests::TempDir::new("mes-bench");
    if wanted("mes_ingest_events_per_s") {
        let lines = feed(&["--print", "--cars", CARS, "--stations", STATIONS]);
        let cfg: MesConfig = Config::parse(&mes_table, &dir.path().join("mes.toml"))
            .unwrap_or_else(|e| panic!("{e}"))
            .mes
            .expect("the [mes] table of mes_feed.py --config");
        let mut mes = Mes::open(&dir.path().join("ingest"), "Plant", &cfg).expect("open");
        let t0 = Instant::now();
        let (mut n, mut rejected) = (0usize, 0usize);
        for line in lines.lines() {
            let r = mes.ingest(line.as_bytes(), "bench");
            rejected += r.rejected.len();
            n += r.received;
            mes.save_if_due().expect("save");
        }
        mes.save().expect("save");
        let rate = n as f64 / t0.elapsed().as_secs_f64();
        assert_eq!(rejected, 0, "the feed is clean: every message applies");
        println!(
            r#"{{"name":"mes_ingest_events_per_s","value":{rate:.0},"unit":"messages/s","messages":{n},"rejected":{rejected}}}"#
        );
    }
    if wanted("mes_events_per_s") {
        let hash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"; // SHA-256 of "test"
        let mes = mes_table.replacen("[mes]\n", &format!("[mes]\ntoken_sha256 = [\"{hash}\"]\n"), 1);
        let text = format!("[stage]\ndir = \"service\"\n\n[stream]\nlisten = \"127.0.0.1:0\"\n\n{mes}");
        let cfg = Config::parse(&text, &dir.path().join("mes.toml")).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let svc = twinloom_connector::spawn(rt.handle(), cfg).expect("service");
        let port = svc.started.listen.port().to_string();
        let t0 = Instant::now();
        let out = feed(&["--post", &port, "--token", "test", "--cars", CARS, "--stations", STATIONS, "--batch", "100"]);
        let secs = t0.elapsed().as_secs_f64();
        let summary: serde_json::Value = serde_json::from_str(out.trim()).expect("the feed's summary");
        let deltas = twinloom_tests::metric(svc.started.listen, "twinloom_deltas_out_total");
        svc.stop(rt.handle()).expect("stop");
        let (messages, applied) = (summary["messages"].as_u64().unwrap_or(0), summary["applied"].as_u64().unwrap_or(0));
        assert_eq!(applied, messages, "every message applied: {summary}");
        println!(
            r#"{{"name":"mes_events_per_s","value":{:.0},"unit":"messages/s","target":20000,"messages":{messages},"requests":{},"seconds":{secs:.2},"deltas_out":{deltas}}}"#,
            messages as f64 / secs,
            summary["requests"]
        );
    }
}
