//! What the write tests share: an async-opcua client session and small read/write helpers.

#![allow(dead_code)] // each test file uses a part

use std::sync::Arc;
use std::time::{Duration, Instant};

use opcua::client::{ClientBuilder, IdentityToken, Session};
use opcua::crypto::SecurityPolicy;
use opcua::types::{
    AttributeId, DataValue, MessageSecurityMode, NodeId, NumericRange, ReadValueId, StatusCode, TimestampsToReturn,
    UserTokenPolicy, Variant, WriteValue,
};

/// An anonymous session (no security) on `url`; the event loop runs in the background.
pub async fn connect(url: &str) -> Arc<Session> {
    let pki = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("sim-writes-client-pki");
    let mut client = ClientBuilder::new()
        .application_name("twinloom simulator write tests")
        .application_uri("urn:twinloom:plant-sim:write-tests")
        .pki_dir(pki)
        .create_sample_keypair(true)
        .trust_server_certs(true)
        .session_retry_limit(0)
        .request_timeout(Duration::from_secs(10))
        .client()
        .expect("client");
    let endpoint = (url, SecurityPolicy::None.to_str(), MessageSecurityMode::None, UserTokenPolicy::anonymous());
    let (session, event_loop) =
        client.connect_to_matching_endpoint(endpoint, IdentityToken::Anonymous).await.expect("connect");
    event_loop.spawn();
    assert!(tokio::time::timeout(Duration::from_secs(10), session.wait_for_connection()).await.unwrap());
    session
}

pub async fn write(session: &Session, id: &NodeId, value: Variant) -> StatusCode {
    write_attr(session, id, AttributeId::Value, value).await
}

pub async fn write_attr(session: &Session, id: &NodeId, attribute: AttributeId, value: Variant) -> StatusCode {
    let wv = WriteValue {
        node_id: id.clone(),
        attribute_id: attribute as u32,
        index_range: NumericRange::None,
        value: DataValue::value_only(value),
    };
    session.write(&[wv]).await.expect("write service")[0]
}

pub async fn read_attr(session: &Session, id: &NodeId, attribute: AttributeId) -> Variant {
    let rv = ReadValueId { attribute_id: attribute as u32, ..ReadValueId::from(id.clone()) };
    let dv = session.read(&[rv], TimestampsToReturn::Neither, 0.0).await.expect("read service").remove(0);
    assert!(dv.status.is_none_or(|s| s.is_good()), "read {id}: {:?}", dv.status);
    dv.value.unwrap_or_default()
}

pub async fn read(session: &Session, id: &NodeId) -> Variant {
    read_attr(session, id, AttributeId::Value).await
}

pub async fn read_f64(session: &Session, id: &NodeId) -> f64 {
    match read(session, id).await {
        Variant::Double(x) => x,
        v => panic!("{id} is {v:?}"),
    }
}

pub async fn read_i32(session: &Session, id: &NodeId) -> i32 {
    match read(session, id).await {
        Variant::Int32(x) => x,
        v => panic!("{id} is {v:?}"),
    }
}

/// Polls `f` every 50 ms until it holds; panics after `secs`.
pub async fn eventually<F, Fut>(what: &str, secs: u64, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
