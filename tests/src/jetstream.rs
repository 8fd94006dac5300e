//! Reading a JetStream stream back in tests and benches: every message in stream order (direct gets
//! through any server of the cluster, with the client's credentials) and the stream's current leader.
//! Each call is blocking, on a runtime of its own.

/// One message of a stream.
pub struct StreamMessage {
    /// Its stream sequence.
    pub seq: u64,
    /// Its `Nats-Msg-Id` header (empty when it has none).
    pub id: String,
    /// Its `Twinloom-Partition` header.
    pub partition: Option<String>,
    pub subject: String,
    pub payload: Vec<u8>,
    /// Every header, as (name, value).
    pub headers: Vec<(String, String)>,
}

impl StreamMessage {
    /// The value of the header `name`, if it has one.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
    }
}

fn block_on<T>(work: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime").block_on(work)
}

async fn stream(
    urls: &[String],
    options: async_nats::ConnectOptions,
    name: &str,
) -> async_nats::jetstream::stream::Stream {
    let client = options.connect(urls.to_vec()).await.expect("connect to the cluster");
    async_nats::jetstream::new(client).get_stream(name).await.unwrap_or_else(|e| panic!("the stream {name}: {e}"))
}

/// Every message of the stream `name`, in stream order; checks that none is missing from its count.
pub fn read_stream(urls: &[String], name: &str) -> Vec<StreamMessage> {
    read_stream_as(urls, name, async_nats::ConnectOptions::new())
}

/// [`read_stream`] as the client of `options` (its credentials).
pub fn read_stream_as(urls: &[String], name: &str, options: async_nats::ConnectOptions) -> Vec<StreamMessage> {
    block_on(async {
        let mut s = stream(urls, options, name).await;
        let info = s.info().await.expect("stream info").clone();
        let mut out = Vec::new();
        if info.state.messages > 0 {
            for seq in info.state.first_sequence..=info.state.last_sequence {
                let m = s.get_raw_message(seq).await.unwrap_or_else(|e| panic!("{name} message {seq}: {e}"));
                let header = |h: &str| m.headers.get(h).map(|v| v.as_str().to_string());
                out.push(StreamMessage {
                    seq: m.sequence,
                    id: header("Nats-Msg-Id").unwrap_or_default(),
                    partition: header("Twinloom-Partition"),
                    subject: m.subject.to_string(),
                    payload: m.payload.to_vec(),
                    headers: m
                        .headers
                        .iter()
                        .flat_map(|(n, vs)| vs.iter().map(move |v| (n.to_string(), v.as_str().to_string())))
                        .collect(),
                });
            }
        }
        assert_eq!(out.len() as u64, info.state.messages, "{name}: the stream's message count");
        out
    })
}

/// The server that leads the stream `name` now.
pub fn stream_leader(urls: &[String], name: &str) -> String {
    block_on(async {
        let mut s = stream(urls, async_nats::ConnectOptions::new(), name).await;
        let info = s.info().await.expect("stream info");
        info.cluster.as_ref().and_then(|c| c.leader.clone()).expect("the stream has a leader")
    })
}
