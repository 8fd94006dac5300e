//! The independent Python OPC UA peer (tests/peers/opcua_server.py, PyPI asyncua) as a write-back target,
//! through async-opcua's client: its `Commands` nodes accept writes of their type, refuse a write the user
//! may not make and one of the wrong type, and store a clamped value; its other nodes stay read-only.
//! Needs the test venv (`ci/python-env`).

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::{read, read_attr, write};
use opcua::types::{AttributeId, NodeId, StatusCode, Variant};

/// Kills and reaps the peer when the test ends.
struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Starts the peer on a free port and waits for its READY line.
fn start_peer() -> (Peer, u16) {
    let python = workspace().join(".venv/bin/python");
    assert!(python.exists(), "{} is missing: run ci/python-env (ci/test does) first", python.display());
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = Command::new(python)
        .arg(workspace().join("tests/peers/opcua_server.py"))
        .arg(port.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the asyncua peer");
    let stdout = child.stdout.take().unwrap();
    let peer = Peer(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("the peer's READY line");
    assert!(line.starts_with("READY"), "peer said {line:?}");
    (peer, port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_peer_accepts_refuses_and_clamps_writes() {
    let (_peer, port) = tokio::task::spawn_blocking(start_peer).await.unwrap();
    let session = common::connect(&format!("opc.tcp://127.0.0.1:{port}/")).await;
    let ns = session.get_namespace_index("urn:twinloom:test-peer").await.unwrap();
    let id = |path: &str| NodeId::new(ns, path);
    let (setpoint, mode, locked, clamped) =
        (id("Commands/Setpoint"), id("Commands/Mode"), id("Commands/Locked"), id("Commands/Clamped"));
    let temp = id("Line 1/Temp 1");

    // (AccessLevel, UserAccessLevel): 3 = CurrentRead | CurrentWrite, 1 = CurrentRead.
    for (node, level, user_level) in
        [(&setpoint, 3u8, 3u8), (&mode, 3, 3), (&clamped, 3, 3), (&locked, 3, 1), (&temp, 1, 1)]
    {
        assert_eq!(read_attr(&session, node, AttributeId::AccessLevel).await, Variant::Byte(level), "{node}");
        assert_eq!(read_attr(&session, node, AttributeId::UserAccessLevel).await, Variant::Byte(user_level), "{node}");
    }
    let cases: Vec<(&NodeId, Variant, StatusCode, Variant)> = vec![
        (&setpoint, Variant::Double(62.5), StatusCode::Good, Variant::Double(62.5)),
        (&setpoint, Variant::Int32(1), StatusCode::BadTypeMismatch, Variant::Double(62.5)),
        (&mode, Variant::Int32(3), StatusCode::Good, Variant::Int32(3)),
        (&mode, Variant::Double(4.0), StatusCode::BadTypeMismatch, Variant::Int32(3)),
        (&locked, Variant::Double(9.0), StatusCode::BadUserAccessDenied, Variant::Double(7.5)),
        (&clamped, Variant::Double(150.0), StatusCode::Good, Variant::Double(100.0)),
        (&clamped, Variant::Double(-5.0), StatusCode::Good, Variant::Double(0.0)),
        (&clamped, Variant::Double(42.0), StatusCode::Good, Variant::Double(42.0)),
        (&temp, Variant::Double(99.0), StatusCode::BadUserAccessDenied, Variant::Double(21.5)),
    ];
    for (node, value, status, reads) in cases {
        assert_eq!(write(&session, node, value.clone()).await, status, "{node} <- {value:?}");
        assert_eq!(read(&session, node).await, reads, "{node} after {value:?}");
    }
    let _ = session.disconnect().await;
}
