//! The independent Python OPC UA peer (tests/peers/opcua_server.py, PyPI asyncua) as a write-back target,
//! through async-opcua's client: its `Commands` nodes accept writes of their type, refuse a write the user
//! may not make and one of the wrong type, and store a clamped value; its other nodes stay read-only.
//! Needs the test venv (`ci/python-env`).

mod common;
use common::{read, read_attr, write};
use opcua::types::{AttributeId, NodeId, StatusCode, Variant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_peer_accepts_refuses_and_clamps_writes() {
    let port = twinloom_tests::free_port();
    let _peer = tokio::task::spawn_blocking(move || twinloom_tests::start_asyncua_peer(port)).await.unwrap();
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
