//! `twinloom aggregate` and `twinloom run` keep their configurations apart (docs/nats.md, "Aggregator"),
//! and `twinloom check` reports an `[aggregate]` table's problems with file:line:col. The aggregator
//! itself, against a real cluster, is tested in connector/tests/nats_aggregate.rs.

use std::process::Command;

use twinloom_tests::TempDir;

fn twinloom() -> Command {
    Command::new(env!("CARGO_BIN_EXE_twinloom"))
}

#[test]
fn each_command_refuses_the_other_s_configuration() {
    let dir = TempDir::new("aggregate-cmd");
    let aggregator = dir.path().join("enterprise.toml");
    std::fs::write(
        &aggregator,
        "[stage]\nroot = \"Enterprise\"\n\n[nats]\nservers = [\"nats://127.0.0.1:1\"]\n\n[aggregate]\nsites = [\"north\"]\n",
    )
    .unwrap();
    let connector = dir.path().join("plant.toml");
    std::fs::write(&connector, "[[sources]]\nname = \"plc\"\nkind = \"opcua\"\nendpoint = \"opc.tcp://127.0.0.1:1\"\n")
        .unwrap();

    let out = twinloom().args(["run", "--config"]).arg(&aggregator).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("an aggregator's configuration ([aggregate]): run it with `twinloom aggregate`"), "{err}");

    let out = twinloom().args(["aggregate", "--config"]).arg(&connector).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no [aggregate] table"), "{err}");

    let out = twinloom().args(["check", "--config"]).arg(&aggregator).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // An aggregator whose cluster never answers stops with the sites it could not describe.
    std::fs::write(
        &aggregator,
        "[stage]\nroot = \"Enterprise\"\ndir = \"stage\"\n\n[stream]\nlisten = \"127.0.0.1:0\"\n\n\
         [nats]\nservers = [\"nats://127.0.0.1:1\"]\n\n[aggregate]\nsites = [\"north\"]\nwait_s = 1\n",
    )
    .unwrap();
    let out = twinloom().args(["aggregate", "--config"]).arg(&aggregator).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("aggregate: no site could be described within 1 s: north:"), "{err}");

    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[aggregate]\nsites = [\"north\", \"north\"]\nwait_s = -1\n\n[[sources]]\nname = \"plc\"\nkind = \"opcua\"\nendpoint = \"opc.tcp://127.0.0.1:1\"\n",
    )
    .unwrap();
    let out = twinloom().args(["check", "--config"]).arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let f = bad.display().to_string();
    for want in [
        format!("{f}:2:1: aggregate.sites: \"north\" is named twice"),
        format!("{f}:2:1: an aggregator's sources are the sites' streams"),
        format!("{f}:3:1: aggregate.wait_s must be 0 or more"),
    ] {
        assert!(err.contains(&want), "missing {want:?} in:\n{err}");
    }
}
