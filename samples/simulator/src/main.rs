//! `twinloom-plant-sim`: serves the sample plant over OPC UA until Ctrl-C (or `--seconds`).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use twinloom_simulator::{SimConfig, Simulator};

/// Serve the Twinloom sample plant (BIW, paint, assembly) as an OPC UA server.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Host to bind and advertise.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// TCP port (0 picks a free one and prints it).
    #[arg(long, default_value_t = 4840)]
    port: u16,
    /// Seed of the plant's behaviour.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Total number of signals (field sensors fill up beyond the shops' own 543).
    #[arg(long, default_value_t = 2000)]
    signals: usize,
    /// Ticks per second (fast signals change once per tick).
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    /// Model seconds per wall-clock second (1: real time; 20: the plant runs twenty times faster).
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
    /// Also append every write and method call received to this file, one JSON object per line.
    #[arg(long, value_name = "FILE")]
    write_log: Option<PathBuf>,
    /// Also serve every numeric signal over Modbus TCP on this port (0: a free one), as 32-bit floats.
    #[arg(long, value_name = "PORT")]
    modbus_port: Option<u16>,
    /// Also publish the condition and energy signals as Sparkplug B edge nodes (group Plant, one node per
    /// shop) to the MQTT broker at this address.
    #[arg(long, value_name = "HOST:PORT")]
    mqtt_broker: Option<std::net::SocketAddr>,
    /// Field sensors change every this many ticks.
    #[arg(long, default_value_t = 1)]
    field_period: u32,
    /// Shift length in seconds.
    #[arg(long, default_value_t = 480.0)]
    shift_seconds: f64,
    /// Also offer Basic256Sha256 Sign and SignAndEncrypt endpoints.
    #[arg(long)]
    secure: bool,
    /// Certificate store folder (default: under the system temp dir).
    #[arg(long)]
    pki_dir: Option<PathBuf>,
    /// Accept this user, as NAME:PASSWORD (repeatable).
    #[arg(long = "user", value_name = "NAME:PASSWORD")]
    users: Vec<String>,
    /// Accept the user certificate in this DER file as an X509 identity (repeatable; secure endpoints).
    #[arg(long = "user-cert", value_name = "CERT.der")]
    user_certs: Vec<PathBuf>,
    /// Exit after this many seconds.
    #[arg(long)]
    seconds: Option<f64>,
    /// Print every signal's node id, type and unit, then exit.
    #[arg(long)]
    list: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    // Without --secure the server has no certificate on purpose: keep async-opcua's complaints about
    // that out of the default log.
    let default_filter = if a.secure { "info" } else { "info,opcua_crypto=off,opcua_server::server=error" };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default_filter.into()),
        )
        .init();
    let users = a
        .users
        .iter()
        .map(|u| u.split_once(':').map(|(n, p)| (n.to_owned(), p.to_owned())))
        .collect::<Option<Vec<_>>>()
        .context("--user must be NAME:PASSWORD")?;
    let config = SimConfig {
        host: a.host,
        port: a.port,
        seed: a.seed,
        signals: a.signals,
        update_hz: a.rate,
        time_scale: a.time_scale,
        write_log: a.write_log,
        modbus_port: a.modbus_port,
        mqtt_broker: a.mqtt_broker,
        field_period_ticks: a.field_period,
        shift_s: a.shift_seconds,
        secure_endpoints: a.secure,
        pki_dir: a.pki_dir,
        users,
        user_certs: a.user_certs,
        ..Default::default()
    };
    if a.list {
        config.validate()?;
        let model = twinloom_simulator::PlantModel::new(&config.model_config());
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        for info in model.infos() {
            let line = writeln!(
                out,
                "nsu={};s={}\t{}\t{}",
                twinloom_simulator::NAMESPACE_URI,
                info.path,
                info.value_type,
                info.unit
            );
            if line.is_err() {
                return Ok(()); // the reader went away (e.g. `| head`)
            }
        }
        let _ = out.flush();
        return Ok(());
    }
    let sim = Simulator::start(config).await?;
    println!("{} signals on {}", sim.signals().len(), sim.endpoint_url());
    if let Some(p) = sim.modbus_port() {
        println!("Modbus TCP on port {p} (the same host)");
    }
    match a.seconds {
        Some(s) => tokio::time::sleep(std::time::Duration::from_secs_f64(s.max(0.0))).await,
        None => tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?,
    }
    let st = sim.stats();
    let (ticks, changes) =
        (st.ticks.load(std::sync::atomic::Ordering::Relaxed), st.changes.load(std::sync::atomic::Ordering::Relaxed));
    sim.shutdown().await;
    println!("stopped after {ticks} ticks, {changes} value changes");
    Ok(())
}
