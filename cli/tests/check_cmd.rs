//! `twinloom check` on good and bad configuration files: every problem printed as file:line:col, exit 1.

use std::process::Command;

use twinloom_tests::TempDir;

fn twinloom() -> Command {
    Command::new(env!("CARGO_BIN_EXE_twinloom"))
}

#[test]
fn check_reports_every_problem_with_its_position() {
    let dir = TempDir::new("check-cmd");
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "[[sources]]\nname = \"plc\"\nkind = \"opcua\"\nendpoint = \"opc.tcp://127.0.0.1:4840\"\n\n[[bindings]]\nsource = \"plc\"\nnode = \"ns=2;s=A\"\nshop = \"biw\"\nprim = \"/Plant/A\"\nattr = \"speed\"\ntype = \"double\"\n",
    )
    .unwrap();
    let out = twinloom().args(["check", "--config"]).arg(&good).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok (1 sources, 1 bindings"));

    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[[sources]]\nname = \"plc\"\nkind = \"modbus-rtu\"\nendpoint = \"http://x\"\n\n[[sources]]\nname = \"plc2\"\nkind = \"opcua\"\nendpoint = \"http://y\"\n\n[[bindings]]\nsource = \"nope\"\nnode = \"ns=2;s=A\"\nshop = \"biw\"\nprim = \"/Plant/has space\"\nattr = \"speed\"\ntype = \"double\"\n",
    )
    .unwrap();
    let out = twinloom().args(["check", "--config"]).arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let f = bad.display().to_string();
    for want in [
        format!("{f}:3:8: source kind \"modbus-rtu\" is not supported"),
        format!("{f}:9:12: endpoint \"http://y\" must start with opc.tcp://"),
        format!("{f}:12:10: unknown source \"nope\""),
        format!("{f}:15:8: prim \"/Plant/has space\" is not an absolute USD prim path"),
    ] {
        assert!(err.contains(&want), "missing {want:?} in:\n{err}");
    }
    assert!(err.contains("4 problem(s)"), "{err}");

    let broken = dir.path().join("broken.toml");
    std::fs::write(&broken, "[stage]\ntick_ms = \"fast\"\n").unwrap();
    let out = twinloom().args(["check", "--config"]).arg(&broken).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}:2:11:", broken.display())), "{err}");

    // Parse-level problems (unknown key, negative number) and semantic ones, all in one run.
    let mixed = dir.path().join("mixed.toml");
    std::fs::write(&mixed, "[stage]\ncolour = \"red\"\ntick_ms = -5\ncapability_level = 7\n\n[[sources]]\nname = \"plc\"\nkind = \"opcua\"\nendpoint = \"http://x\"\n").unwrap();
    let out = twinloom().args(["check", "--config"]).arg(&mixed).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let f = mixed.display().to_string();
    for want in [
        format!("{f}:2:1: unknown field `colour`"),
        format!("{f}:3:11: invalid value"),
        format!("{f}:4:20: capability_level must be 0"),
        format!("{f}:9:12: endpoint \"http://x\" must start with opc.tcp://"),
    ] {
        assert!(err.contains(&want), "missing {want:?} in:\n{err}");
    }
    assert!(err.contains("4 problem(s)"), "{err}");

    let out = twinloom().args(["check", "--config", "/nonexistent/plant.toml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
}
