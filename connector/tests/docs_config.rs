//! docs/configuration.md's example configuration is a valid configuration, read exactly as the page prints it.

use std::path::Path;

use twinloom_connector::Config;
use twinloom_tests::workspace_root;

#[test]
fn the_documented_configuration_loads() {
    let doc = std::fs::read_to_string(workspace_root().join("docs/configuration.md")).unwrap();
    let start = doc.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let text = &doc[start..start + doc[start..].find("```").expect("its end")];
    let cfg = Config::parse(text, Path::new("plant.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((cfg.sources.len(), cfg.bindings.len(), cfg.auto_bindings.len()), (1, 1, 1));
    assert_eq!(cfg.pki_dir(&cfg.sources[0]), Path::new("twinloom-out/.pki"));
    // Uncommented, the pki_dir line is honoured.
    let with_pki = text.replace("# pki_dir = ", "pki_dir = ");
    let cfg = Config::parse(&with_pki, Path::new("plant.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.pki_dir(&cfg.sources[0]), Path::new("/etc/twinloom/pki"));
}

#[test]
fn the_documented_journal_table_loads() {
    let doc = std::fs::read_to_string(workspace_root().join("docs/journal.md")).unwrap();
    let start = doc.find("```toml\n[journal]").expect("the [journal] block") + "```toml\n".len();
    let block = &doc[start..start + doc[start..].find("```").expect("its end")];
    let text = format!("[stage]\ndir = \"stage\"\n\n{block}");
    let cfg = Config::parse(&text, Path::new("/etc/twinloom/plant.toml")).unwrap_or_else(|e| panic!("{e}"));
    let j = &cfg.journal;
    assert!(j.enabled);
    assert_eq!((j.durability.get_ref().as_str(), j.segment_mib, j.max_mib, j.max_age_h), ("per_tick", 64, None, None));
    assert_eq!(cfg.journal_dir(), Path::new("/etc/twinloom/stage/journal"));
    // Uncommented, every optional line is honoured.
    let all = text
        .replace("# dir = ", "dir = ")
        .replace("# max_mib = ", "max_mib = ")
        .replace("# max_age_h = ", "max_age_h = ");
    let cfg = Config::parse(&all, Path::new("/etc/twinloom/plant.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((cfg.journal.max_mib, cfg.journal.max_age_h), (Some(4096), Some(168.0)));
    assert_eq!(cfg.journal_dir(), Path::new("/var/lib/twinloom/journal"));
}

#[test]
fn the_documented_history_tables_load_and_history_needs_the_journal() {
    let doc = std::fs::read_to_string(workspace_root().join("docs/history.md")).unwrap();
    let start = doc.find("```toml\n[journal]").expect("the [history] block") + "```toml\n".len();
    let block = &doc[start..start + doc[start..].find("```").expect("its end")];
    let text = format!("[stage]\ndir = \"stage\"\n\n{block}");
    let cfg = Config::parse(&text, Path::new("plant.toml")).unwrap_or_else(|e| panic!("{e}"));
    let h = &cfg.history;
    assert!(h.enabled && cfg.journal.enabled);
    assert_eq!((h.flush_interval_s, h.retention_days), (10.0, None));
    let all = text.replace("# retention_days = ", "retention_days = ");
    let cfg = Config::parse(&all, Path::new("plant.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.history.retention_days, Some(90.0));
    let without_journal = text.replace("[journal]\nenabled = true", "[journal]\nenabled = false");
    let err = Config::parse(&without_journal, Path::new("plant.toml")).expect_err("history needs the journal");
    assert!(err.to_string().contains("history.enabled needs journal.enabled"), "{err}");
    let zero = text.replace("flush_interval_s = 10", "flush_interval_s = 0");
    let err = Config::parse(&zero, Path::new("plant.toml")).expect_err("a zero interval");
    assert!(err.to_string().contains("history.flush_interval_s must be positive"), "{err}");
}

#[test]
fn the_documented_diagnostics_tables_load_and_their_settings_are_valid() {
    let doc = std::fs::read_to_string(workspace_root().join("docs/diagnostics.md")).unwrap();
    let start = doc.find("```toml\n[diagnostics]").expect("the [diagnostics] block") + "```toml\n".len();
    let block = &doc[start..start + doc[start..].find("```").expect("its end")];
    let cfg = Config::parse(block, Path::new("plant.toml")).unwrap_or_else(|e| panic!("{e}"));
    let d = &cfg.diagnostics;
    assert!(d.enabled);
    assert_eq!((d.shops.len(), d.prims.len(), d.signals.len()), (1, 1, 1));
    assert_eq!(d.signals[0].get_ref(), "/Plant/Paint/Oven/Zone01.temperature");
    // Every setting is one the diagnostics know, with a valid value (as `twinloom run` reads them).
    let mut settings = twinloom_diagnostics::MonitorConfig::default();
    for (name, value) in &d.detector {
        let text = value.as_integer().map(|i| i.to_string()).or_else(|| value.as_float().map(|x| x.to_string()));
        settings.set(name, &text.expect("a number")).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    assert_eq!(d.detector.len(), 5);
    assert_eq!(settings.close_after_samples, 20);
    // Off by default, and the configuration page's example keeps it off.
    assert!(!Config::parse("", Path::new("plant.toml")).unwrap().diagnostics.enabled);
    let bad = block.replace("prims = [\"/Plant/BIW/Station01\"]", "prims = [\"Plant BIW\"]");
    let err = Config::parse(&bad, Path::new("plant.toml")).expect_err("not a prim path");
    assert!(err.to_string().contains("diagnostics.prims"), "{err}");
}

#[test]
fn the_documented_forecast_table_loads_and_bad_forecasts_are_refused_with_their_place() {
    let doc = std::fs::read_to_string(workspace_root().join("docs/forecast.md")).unwrap();
    let start = doc.find("```toml\n[diagnostics]").expect("the [diagnostics] block") + "```toml\n".len();
    let block = &doc[start..start + doc[start..].find("```").expect("its end")];
    let text = format!("[stage]\ndir = \"stage\"\n\n{block}");
    let cfg = Config::parse(&text, Path::new("plant.toml")).unwrap_or_else(|e| panic!("{e}"));
    let f = &cfg.diagnostics.forecasts;
    assert_eq!(
        (f.len(), f[0].signal.get_ref().as_str(), f[0].threshold),
        (1, "/Plant/Paint/Oven/Zone01.fanVibration", 7.1)
    );
    let all = text
        .replace("# falling = false", "falling = true")
        .replace("# block_s = 20", "block_s = 20")
        .replace("# min_blocks = 10", "min_blocks = 10")
        .replace("# coverage = 0.8", "coverage = 0.8");
    let cfg = Config::parse(&all, Path::new("plant.toml")).unwrap_or_else(|e| panic!("{e}"));
    let f = &cfg.diagnostics.forecasts[0];
    assert_eq!((f.falling, f.block_s, f.min_blocks, f.coverage), (true, Some(20.0), Some(10), Some(0.8)));
    for (bad, why) in [
        ("threshold = 7.1", "threshold = nan"),
        ("# coverage = 0.8", "coverage = 1.5"),
        ("# min_blocks = 10", "min_blocks = 2"),
        ("\"/Plant/Paint/Oven/Zone01.fanVibration\"", "\"Zone01 fan\""),
    ] {
        let wrong = text.replace(bad, why);
        let err = Config::parse(&wrong, Path::new("plant.toml")).expect_err(why).to_string();
        assert!(err.contains("diagnostics.forecasts") && err.contains("plant.toml:"), "{why}: {err}");
    }
}
