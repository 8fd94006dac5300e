//! docs/nats.md's `[nats]` table and every example of docs/deploy.md are valid, read exactly as the pages
//! print them: the Twinloom tables with the connector's parser, the NATS server configuration with
//! `nats-server -t` (the real server, `ci/nats-env`), the systemd unit with `systemd-analyze verify`.

use std::path::Path;
use std::process::Command;

use twinloom_connector::Config;
use twinloom_tests::nats::nats_server_bin;
use twinloom_tests::{workspace_root, TempDir};

/// The fenced block of `doc` whose first line (after "```lang\n") starts with `first`.
fn block(doc: &str, lang: &str, first: &str) -> String {
    let open = format!("```{lang}\n{first}");
    let start = doc.find(&open).unwrap_or_else(|| panic!("a ```{lang} block starting {first:?}")) + lang.len() + 4;
    doc[start..start + doc[start..].find("```").expect("its end")].to_string()
}

fn read(page: &str) -> String {
    std::fs::read_to_string(workspace_root().join("docs").join(page)).unwrap()
}

#[test]
fn the_documented_nats_table_loads_and_needs_the_journal() {
    let text = block(&read("nats.md"), "toml", "[journal]");
    let cfg = Config::parse(&text, Path::new("/etc/twinloom/plant.toml")).unwrap_or_else(|e| panic!("{e}"));
    let n = &cfg.nats;
    assert!(n.enabled && cfg.journal.enabled);
    assert_eq!(n.servers.len(), 3);
    assert_eq!((n.site.as_deref(), n.stream_name(), n.replicas), (Some("north"), "TWINLOOM_NORTH".to_string(), 3));
    assert_eq!(n.deltas_subject("biw"), "twinloom.north.biw.deltas");
    assert_eq!((n.duplicate_window_s, n.max_in_flight, n.ack_timeout_s), (600.0, 1, 5.0));
    // Uncommented, the stream, limits, one kind of credentials and TLS are honoured.
    let all = text
        .replace("# stream = ", "stream = ")
        .replace("# max_age_h = ", "max_age_h = ")
        .replace("# max_mib = ", "max_mib = ")
        .replace("# user = ", "user = ")
        .replace("# password = ", "password = ")
        .replace("# tls_ca = ", "tls_ca = ")
        .replace("# tls_cert = ", "tls_cert = ")
        .replace("# tls_key = ", "tls_key = ")
        .replace("# tls_required = ", "tls_required = ");
    let cfg = Config::parse(&all, Path::new("/etc/twinloom/plant.toml")).unwrap_or_else(|e| panic!("{e}"));
    let n = &cfg.nats;
    assert_eq!((n.max_age_h, n.max_mib, n.user.as_deref()), (Some(168.0), Some(10240), Some("north-connector")));
    assert!(n.tls_required && n.tls_cert.is_some() && n.tls_key.is_some());
    // Two kinds of credentials, and forwarding without the journal, are refused where they are written.
    let two = all.replace("# creds_file = ", "creds_file = ");
    let err = Config::parse(&two, Path::new("plant.toml")).expect_err("two kinds of credentials");
    assert!(err.to_string().contains("one of user/password, creds_file or nkey_seed_file"), "{err}");
    let no_journal = text.replace("[journal]\nenabled = true", "[journal]\nenabled = false");
    let err = Config::parse(&no_journal, Path::new("plant.toml")).expect_err("forwarding needs the journal");
    assert!(err.to_string().contains("nats.enabled needs journal.enabled"), "{err}");
    let bad_site = text.replace("site = \"north\"", "site = \"north.1\"");
    let err = Config::parse(&bad_site, Path::new("plant.toml")).expect_err("a site that is not one token");
    assert!(err.to_string().contains("plant.toml:7:1: nats.site"), "{err}");
    // Off by default.
    assert!(!Config::default().nats.enabled);
}

#[test]
fn the_deploy_page_s_twinloom_table_loads() {
    let text = block(&read("deploy.md"), "toml", "[stage]");
    let cfg = Config::parse(&text, Path::new("/etc/twinloom/plant.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert!(cfg.nats.enabled && cfg.journal.enabled);
    assert!(cfg.nats.servers.iter().all(|s| s.starts_with("tls://")));
    assert_eq!(cfg.stage_dir(), Path::new("/var/lib/twinloom/stage"));
}

#[test]
fn the_deploy_page_s_nats_server_configuration_is_valid() {
    let conf = block(&read("deploy.md"), "conf", "# /etc/nats/nats.conf");
    let dir = TempDir::new("docs-nats-conf");
    // The store folder: a temporary one here.
    let store = dir.path().join("store");
    let conf = conf.replace("store_dir: /var/lib/nats", &format!("store_dir: {:?}", store.display().to_string()));
    assert!(conf.contains(&format!("{:?}", store.display().to_string())), "the store_dir line is in the example");
    // The routes' `tls` files (`nats-server -t` loads them): the kit's certificates in their place.
    let etc_nats = dir.path().join("etc-nats");
    std::fs::create_dir_all(&etc_nats).unwrap();
    twinloom_tests::make_test_certificates(&etc_nats);
    for (from, to) in [("server.pem", "route-cert.pem"), ("server.key", "route-key.pem")] {
        std::fs::copy(etc_nats.join(from), etc_nats.join(to)).unwrap();
    }
    let files = ["route-cert.pem", "route-key.pem", "ca.pem"];
    assert!(files.iter().all(|f| conf.contains(&format!("\"/etc/nats/{f}\""))), "the routes' tls files: {files:?}");
    let conf = conf.replace("\"/etc/nats/", &format!("\"{}/", etc_nats.display()));
    let file = dir.path().join("nats.conf");
    std::fs::write(&file, &conf).unwrap();
    let out = Command::new(nats_server_bin()).arg("-t").arg("-c").arg(&file).output().expect("run nats-server -t");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "nats-server -t refuses docs/deploy.md's configuration:\n{text}");
    assert!(text.contains("is valid"), "{text}");
}

#[test]
fn the_deploy_page_s_systemd_units_are_valid() {
    let doc = read("deploy.md");
    verify_unit(
        &block(&doc, "ini", "# /etc/systemd/system/twinloom.service"),
        "ExecStart=/usr/local/bin/twinloom run --config /etc/twinloom/plant.toml",
    );
    verify_unit(
        &block(&doc, "ini", "# /etc/systemd/system/twinloom-aggregate.service"),
        "ExecStart=/usr/local/bin/twinloom aggregate --config /etc/twinloom/enterprise.toml",
    );
}

#[test]
fn the_documented_aggregator_configuration_loads_and_is_checked() {
    let text = block(&read("nats.md"), "toml", "# /etc/twinloom/enterprise.toml");
    let cfg = Config::parse(&text, Path::new("/etc/twinloom/enterprise.toml")).unwrap_or_else(|e| panic!("{e}"));
    let a = cfg.aggregate.as_ref().expect("[aggregate]");
    assert_eq!(
        (a.sites.clone(), a.durable.as_str(), a.wait_s),
        (vec!["north".into(), "south".into()], "enterprise", 30.0)
    );
    assert!(!cfg.nats.enabled && cfg.journal.enabled && cfg.stage.root == "Enterprise");
    assert_eq!(cfg.nats.user.as_deref(), Some("aggregator"));
    // Sources next to [aggregate], a bad site, a site twice, a bad server: each refused where it is written.
    let with_source =
        format!("{text}\n[[sources]]\nname = \"plc\"\nkind = \"opcua\"\nendpoint = \"opc.tcp://127.0.0.1:4840\"\n");
    let err = Config::parse(&with_source, Path::new("e.toml")).expect_err("sources in an aggregator");
    assert!(err.to_string().contains("an aggregator's sources are the sites' streams"), "{err}");
    let bad = text.replace("sites = [\"north\", \"south\"]", "sites = [\"north\", \"north\", \"a.b\"]");
    let err = Config::parse(&bad, Path::new("e.toml")).expect_err("bad sites").to_string();
    assert!(err.contains("\"north\" is named twice") && err.contains("\"a.b\" must be letters"), "{err}");
    let bad = text.replace("nats://10.1.0.11:4222", "10.1.0.11");
    let err = Config::parse(&bad, Path::new("e.toml")).expect_err("a bad server").to_string();
    assert!(err.contains("is not like nats://host:port"), "{err}");
}

/// The unit as docs/deploy.md prints it, with its hardening, passes `systemd-analyze verify`.
fn verify_unit(unit: &str, exec_start: &str) {
    for key in
        ["User=twinloom", "StateDirectory=twinloom", "Restart=always", "NoNewPrivileges=yes", "ProtectSystem=strict"]
    {
        assert!(unit.lines().any(|l| l == key), "the unit sets {key}");
    }
    assert!(unit.contains(exec_start), "{exec_start}");
    let dir = TempDir::new("docs-unit");
    // systemd-analyze checks that the program exists: a stand-in that does.
    let unit = unit.replace("/usr/local/bin/twinloom", "/bin/true");
    let file = dir.path().join("twinloom.service");
    std::fs::write(&file, unit).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&file)
        .output()
        .expect("systemd-analyze (Debian's systemd package) is needed for this test");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "systemd-analyze verify failed:\n{err}");
    let complaints: Vec<&str> = err.lines().filter(|l| l.contains("twinloom.service")).collect();
    assert!(complaints.is_empty(), "systemd-analyze complains about the unit:\n{}", complaints.join("\n"));
}
