//! `twinloom demo`: starts the sample plant simulator (OPC UA, Modbus TCP, Sparkplug B edge nodes and MES
//! messages through an embedded MQTT broker, all on 127.0.0.1) and the connector with
//! embedded defaults, writes the live stage to DIR, serves the live stream on ADDR, and prints a summary.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use twinloom_connector::Config;
use twinloom_connector::ServiceError;
use twinloom_simulator::{SimConfig, Simulator};

#[derive(clap::Args)]
pub struct Args {
    /// Stop after this many seconds, with everything saved (default: run until Ctrl-C).
    #[arg(long)]
    seconds: Option<f64>,
    /// Folder for plant.usda and its layers.
    #[arg(long, default_value = "twinloom-demo")]
    out: PathBuf,
    /// Address of the live stream and ops endpoints.
    #[arg(long, default_value = "127.0.0.1:8765")]
    listen: String,
    /// Number of plant signals the simulator serves (2,000 by default, up to 1,000,000).
    #[arg(long, default_value_t = 2000)]
    signals: usize,
    /// Simulator seed: the same seed gives the same plant behaviour.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Simulator updates per second.
    #[arg(long, default_value_t = 10.0)]
    update_hz: f64,
    /// The MQTT broker the simulator's Sparkplug B edge nodes publish to and the connector reads
    /// (default: an embedded broker on a free loopback port).
    #[arg(long, value_name = "HOST:PORT")]
    mqtt_broker: Option<std::net::SocketAddr>,
    /// Run the streaming anomaly detectors on every numeric signal (`[diagnostics]`, docs/diagnostics.md):
    /// scores in diagnostics.usdc, `anomaly` messages on the live stream; and forecast the simulator's
    /// degrading assets to their failure limits (docs/forecast.md, "Live"): `forecast` messages.
    #[arg(long)]
    diagnostics: bool,
}

/// The demo's configuration: every area of the simulated plant mirrored into its own live layer, plus the
/// sample layout's bindings (robot joints turn the links, station states turn the state lamps), plus the
/// paint shop's energy meters read over Modbus TCP as a plant would (`meters`: index and path of each meter
/// signal, `modbus`: the simulator's Modbus endpoint).
fn demo_config(
    endpoint: &str,
    listen: &str,
    ns: u16,
    modbus: &str,
    meters: &[(usize, String)],
    mqtt: std::net::SocketAddr,
) -> String {
    let mut text = format!(
        r#"# Written by `twinloom demo`: run the same connector against the simulator with `twinloom run --config …`.
[stage]
dir = "."
root = "Plant"
capability_level = 1
layout = "layout.usda"
tick_ms = 50
save_interval_s = 5

[stream]
listen = "{listen}"

[[sources]]
name = "plant-sim"
kind = "opcua"
endpoint = "{endpoint}"
publishing_interval_ms = 20
queue_size = 4
"#
    );
    // Every raw signal is mirrored under /Plant/Signals (the OPC UA tree as it is); the layout's own prims
    // (robot links, booths, oven zones, conveyors) get their values from the explicit bindings below.
    for (area, shop) in
        [("BIW", "biw"), ("Paint", "paint"), ("Assembly", "assembly"), ("Field", "field"), ("Shift", "site")]
    {
        text.push_str(&format!(
            "\n[[auto_bindings]]\nsource = \"plant-sim\"\nnode = \"ns={ns};s=Plant/{area}\"\nshop = \"{shop}\"\nprim = \"/Plant/Signals/{area}\"\n"
        ));
    }
    // The energy meters over Modbus: /Plant/Signals/Modbus/<Meter>.<signal>, in the paint shop's layer.
    text.push_str(&format!(
        "\n[[sources]]\nname = \"plant-meters\"\nkind = \"modbus\"\nendpoint = \"{modbus}\"\nsampling_interval_ms = 1000\n"
    ));
    for (i, path) in meters {
        let mut parts = path.rsplit('/');
        let (signal, meter) = (parts.next().unwrap_or("value"), parts.next().unwrap_or("Meter"));
        text.push_str(&format!(
            "\n[[bindings]]\nsource = \"plant-meters\"\nnode = \"{}\"\nshop = \"paint\"\nprim = \"/Plant/Signals/Modbus/{meter}\"\nattr = \"{}\"\ntype = \"double\"\n",
            twinloom_simulator::modbus::modbus_address(*i),
            signal.to_lowercase()
        ));
    }
    // The condition and energy data of the shops' Sparkplug B edge nodes, mirrored as they are born:
    // /Plant/Signals/Sparkplug/<Shop>/<Device>, in a layer of their own.
    text.push_str(&format!(
        "\n[[sources]]\nname = \"plant-edge\"\nkind = \"sparkplug\"\nendpoint = \"mqtt://{mqtt}\"\nhost_id = \"twinloom-demo\"\nbirth_wait_ms = 1500\n\n[[auto_bindings]]\nsource = \"plant-edge\"\nnode = \"group={}\"\nshop = \"edge\"\nprim = \"/Plant/Signals/Sparkplug\"\n",
        twinloom_simulator::sparkplug::GROUP
    ));
    // The assembly line's cars as the simulator's MES reports them (docs/mes.md), over the same broker:
    // /Plant/Assembly/WIP/<VIN>, moving along the layout's stations.
    text.push_str(&format!(
        "\n[mes]\ntopics = [\"plant/mes/#\"]\nmqtt_source = \"plant-edge\"\n\n[[mes.shop]]\nscope = \"{}\"\nprim = \"/Plant/Assembly\"\n",
        twinloom_simulator::mes::SCOPE
    ));
    for (k, st) in twinloom_plant_layout::plant::assembly_stations().iter().enumerate() {
        text.push_str(&format!(
            "\n[[mes.station]]\nequipment = \"{}\"\nprim = \"{}\"\n",
            twinloom_simulator::mes::equipment_id(k),
            st.prim
        ));
    }
    for b in twinloom_plant_layout::demo_bindings() {
        text.push_str(&format!(
            "\n[[bindings]]\nsource = \"plant-sim\"\nnode = \"ns={ns};s={}\"\nshop = \"{}\"\nprim = \"{}\"\nattr = \"{}\"\ntype = \"{}\"\nscale = {:?}\noffset = {:?}\nunit = \"{}\"\n",
            b.signal,
            b.shop(),
            b.prim,
            b.attribute,
            b.value_type.sdf_name(),
            b.scale,
            b.offset,
            b.ucum_unit()
        ));
    }
    text
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&args.out).with_context(|| format!("create {}", args.out.display()))?;
    let out = args.out.canonicalize().with_context(|| format!("resolve {}", args.out.display()))?;
    let rt = super::runtime()?;
    let summary = rt.block_on(async {
        let mqtt = match args.mqtt_broker {
            Some(addr) => addr,
            None => {
                let broker = twinloom_simulator::broker::start_embedded_broker("127.0.0.1")
                    .context("starting the embedded MQTT broker")?;
                out!("twinloom demo: embedded MQTT broker (rumqttd) at {}", broker.endpoint());
                broker.addr
            }
        };
        let sim = Simulator::start(SimConfig {
            mqtt_broker: Some(mqtt),
            port: 0,
            signals: args.signals,
            seed: args.seed,
            update_hz: args.update_hz,
            modbus_port: Some(0),
            ..SimConfig::default()
        })
        .await
        .context("starting the plant simulator")?;
        out!("twinloom demo: plant simulator serving {} signals at {}", sim.signals().len(), sim.endpoint_url());
        let layout = twinloom_plant_layout::write_layout(&out.join("layout.usda"))
            .context("writing the sample plant's layout")?;
        out!(
            "twinloom demo: layout.usda with {} meshes ({} triangles), {} robots, {} weld points",
            layout.meshes,
            layout.triangles,
            layout.robots,
            layout.weld_points
        );
        let config_path = out.join("twinloom-demo.toml");
        let modbus = format!("127.0.0.1:{}", sim.modbus_port().context("the simulator's Modbus server")?);
        let meters: Vec<(usize, String)> = sim
            .signals()
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                s.path.starts_with("Plant/Paint/Energy/") && s.value_type == twinloom_simulator::ValueType::Double
            })
            .map(|(i, s)| (i, s.path.clone()))
            .collect();
        let mut text = demo_config(sim.endpoint_url(), &args.listen, sim.namespace_index(), &modbus, &meters, mqtt);
        if args.diagnostics {
            text.push_str("\n[diagnostics]\nenabled = true\n");
            // The simulator's degrading assets (oven fans, robot axis-2 windings, weld tips), forecast to
            // their failure limits; their lives last minutes in the demo, so blocks are 5 s.
            for (path, kind) in twinloom_simulator::model::degradation::assets() {
                let prim = path.replacen("Plant/", "/Plant/Signals/", 1);
                text.push_str(&format!(
                    "\n[[diagnostics.forecasts]]\nsignal = \"{prim}.{}\"\nthreshold = {:?}\nblock_s = 5\n",
                    kind.signal, kind.threshold
                ));
            }
        }
        std::fs::write(&config_path, &text).with_context(|| format!("write {}", config_path.display()))?;
        let mut cfg = Config::parse(&text, &config_path).map_err(|e| anyhow::anyhow!("demo configuration: {e}"))?;
        cfg.stage_writer = super::stage_writer();
        cfg.observer = super::diagnose::live::observer(&cfg)?;
        cfg.ask = Some(super::ask::handler());
        let summary = twinloom_connector::run(cfg, super::shutdown_on_signals(args.seconds), |s| {
            out!("twinloom demo: stage {} is live", s.stage.display());
            out!("twinloom demo: live stream ws://{}/v1/live, metrics http://{}/metrics", s.listen, s.listen);
            out!("twinloom demo: the plant in a browser: http://{}/", s.listen);
            if args.seconds.is_none() {
                out!("twinloom demo: press Ctrl-C to stop");
            }
        })
        .await;
        sim.shutdown().await;
        anyhow::Ok(summary)
    });
    rt.shutdown_timeout(super::RUNTIME_SHUTDOWN);
    match summary? {
        Ok(summary) => super::print_summary(&summary),
        Err(ServiceError::StoppedDuringStartup) => eprintln!("twinloom demo: stopped before the service was up"),
        Err(e) => return Err(e).context("running the connector"),
    }
    Ok(ExitCode::SUCCESS)
}
