//! One aggregator per durable consumer and site stream: a lease in the JetStream key-value bucket
//! [`BUCKET`]. Two `twinloom aggregate` configured with the same `[aggregate] durable` on one site stream
//! would share its pull consumer and each build half a stage; the first to take the key
//! `<durable>.<site>` holds it, the second is refused with [`LeaseError::Held`] naming the first.
//!
//! The key's value is the holder's identity (UTF-8, e.g. `hostname:/abs/stage/dir`). The key is free
//! when absent, deleted (a clean [`SiteLease::release`]) or expired: the bucket's `max_age` is the
//! lease's ttl, so a holder that stops refreshing (killed, partitioned) loses it after the ttl. A holder
//! whose identity is the key's value takes it back at once (the same aggregator restarted after
//! `kill -9`). Every write is conditional on the key's last revision (JetStream's
//! `Nats-Expected-Last-Subject-Sequence`), so of two acquirers at once exactly one wins.
//!
//! The bucket is a standard KV bucket (stream `KV_TWINLOOM_AGGREGATORS`, subjects
//! `$KV.TWINLOOM_AGGREGATORS.>`, history 1, the `KV-Operation` delete markers), read and written through
//! the plain JetStream API: the workspace builds `async-nats` without its `kv` feature. `nats kv get
//! TWINLOOM_AGGREGATORS <key>` shows a lease.

use async_nats::header::{HeaderMap, HeaderValue, NATS_EXPECTED_LAST_SUBJECT_SEQUENCE, NATS_MARKER_REASON};
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::stream::{self, LastRawMessageErrorKind};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The key-value bucket of the leases.
pub const BUCKET: &str = "TWINLOOM_AGGREGATORS";

/// The KV operation header and its values (as the NATS KV clients write them).
const KV_OPERATION: &str = "KV-Operation";
const KV_OPERATION_PUT: &str = "PUT";
const KV_OPERATION_DELETE: &str = "DEL";

/// Reads and conditional writes tried before giving up on a key that keeps changing under us.
const TRIES: usize = 5;

/// Why a lease could not be taken, kept or given back.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// Another aggregator holds the key: it uses the same durable on this site stream.
    #[error(
        "the lease {key} is held by {holder} (refreshed {age_s:.1} s ago): another aggregator uses the same \
         durable consumer on this site stream; give each aggregator its own `durable` (docs/nats.md, \"Sharing \
         the work\")"
    )]
    Held {
        /// The bucket's key, `<durable>.<site>`.
        key: String,
        /// The other holder's identity.
        holder: String,
        /// Seconds since the other holder last wrote the key (0 when the clocks disagree).
        age_s: f64,
    },
    /// The holder's identity is empty.
    #[error("the lease holder's identity is empty")]
    EmptyHolder,
    /// The cluster did not answer or refused a request.
    #[error("the lease bucket {BUCKET}: {0}")]
    Client(String),
}

/// A held lease: the key `<durable>.<site>` of [`BUCKET`] with this holder's identity as its value.
/// Keep it with [`SiteLease::refresh`] well within [`SiteLease::ttl`] (e.g. every third of it).
#[derive(Debug)]
pub struct SiteLease {
    js: async_nats::jetstream::Context,
    stream: stream::Stream,
    key: String,
    subject: String,
    holder: String,
    revision: u64,
    ttl: Duration,
}

/// What the key holds now.
enum Current {
    /// Nobody: a write expecting this last revision takes it (0: no message at all).
    Free { expect: u64 },
    /// This holder, at this revision.
    Ours { revision: u64 },
    /// Another holder.
    Other { holder: String, age_s: f64 },
}

impl SiteLease {
    /// Takes the key `<durable>.<site>` (each part with characters outside `A-Za-z0-9_=-` as `_`) for
    /// `holder`, a stable identity of this aggregator (e.g. `hostname:/abs/stage/dir`), creating the
    /// bucket when missing (history 1, `max_age` = `ttl`, `replicas`: the site stream's). An existing
    /// bucket is used as it is: its `max_age` is the lease's [`SiteLease::ttl`].
    ///
    /// The key is free when absent, deleted or expired, or when its value is `holder` (the same
    /// aggregator restarted, even after `kill -9`, takes its own lease back at once). Held by another
    /// holder: [`LeaseError::Held`] naming it.
    pub async fn acquire(
        js: &async_nats::jetstream::Context,
        durable: &str,
        site: &str,
        holder: &str,
        ttl: Duration,
        replicas: usize,
    ) -> Result<SiteLease, LeaseError> {
        if holder.is_empty() {
            return Err(LeaseError::EmptyHolder);
        }
        let stream = bucket(js, ttl, replicas).await?;
        let bucket_ttl = stream.cached_info().config.max_age;
        if bucket_ttl != ttl {
            tracing::warn!(
                bucket = BUCKET,
                ?bucket_ttl,
                ?ttl,
                "lease: the bucket exists with another max_age, which is the leases' ttl (zero: they never expire)"
            );
        }
        let key = lease_key(durable, site);
        let mut lease = SiteLease {
            js: js.clone(),
            stream,
            subject: format!("$KV.{BUCKET}.{key}"),
            key,
            holder: holder.to_string(),
            revision: 0,
            ttl: bucket_ttl,
        };
        lease.take(None).await?;
        Ok(lease)
    }

    /// Writes the key again (conditional on the last revision written), which restarts its ttl. When the
    /// key expired or was deleted meanwhile (e.g. the cluster was down longer than the ttl) it is taken
    /// again if nobody else took it; [`LeaseError::Held`] when another holder has it.
    pub async fn refresh(&mut self) -> Result<(), LeaseError> {
        self.take(Some(self.revision)).await
    }

    /// Deletes the key if it is still this holder's (a clean stop), so that a standby can take over
    /// without waiting for the ttl. A key written by someone else since (taken over after it expired) is
    /// left alone, and that is not an error.
    pub async fn release(self) -> Result<(), LeaseError> {
        let mut headers = HeaderMap::new();
        headers.insert(KV_OPERATION, KV_OPERATION_DELETE);
        headers.insert(NATS_EXPECTED_LAST_SUBJECT_SEQUENCE, HeaderValue::from(self.revision));
        let ack =
            self.js.publish_with_headers(self.subject.clone(), headers, Default::default()).await.map_err(client)?;
        match ack.await {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => {
                tracing::info!(key = %self.key, "lease: no longer ours at release (expired or taken over)");
                Ok(())
            }
            Err(e) => Err(client(e)),
        }
    }

    /// The bucket's key of this lease.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// This holder's identity (the key's value).
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// The revision of the key's last write by this holder.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// The lease's ttl: the bucket's `max_age` (zero: the leases never expire).
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Writes the key for this holder: first expecting `known` (the last revision written, if any), then
    /// as long as the key is free or ours, each time expecting the revision just read.
    async fn take(&mut self, known: Option<u64>) -> Result<(), LeaseError> {
        if let Some(revision) = known {
            if let Some(revision) = self.write(revision).await? {
                self.revision = revision;
                return Ok(());
            }
        }
        for _ in 0..TRIES {
            let expect = match self.read().await? {
                Current::Free { expect } => expect,
                Current::Ours { revision } => revision,
                Current::Other { holder, age_s } => {
                    return Err(LeaseError::Held { key: self.key.clone(), holder, age_s });
                }
            };
            if let Some(revision) = self.write(expect).await? {
                self.revision = revision;
                return Ok(());
            }
        }
        Err(LeaseError::Client(format!("the key {} changed at every one of {TRIES} tries", self.key)))
    }

    /// The key's last message, from the stream leader (a replica's direct get may lag behind).
    async fn read(&self) -> Result<Current, LeaseError> {
        let message = match self.stream.get_last_raw_message_by_subject(&self.subject).await {
            Ok(m) => m,
            Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => return Ok(Current::Free { expect: 0 }),
            Err(e) => return Err(client(e)),
        };
        let put = message.headers.get(KV_OPERATION).is_none_or(|op| op.as_str() == KV_OPERATION_PUT)
            && message.headers.get(NATS_MARKER_REASON).is_none();
        if !put {
            return Ok(Current::Free { expect: message.sequence });
        }
        if message.payload.as_ref() == self.holder.as_bytes() {
            return Ok(Current::Ours { revision: message.sequence });
        }
        let now_ns = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i128);
        let age_s = (now_ns - message.time.unix_timestamp_nanos()).max(0) as f64 / 1e9;
        Ok(Current::Other { holder: String::from_utf8_lossy(&message.payload).into_owned(), age_s })
    }

    /// Puts the holder as the key's value if its last revision is `expect` (0: no message): the new
    /// revision, or `None` when the key's last revision is another.
    async fn write(&self, expect: u64) -> Result<Option<u64>, LeaseError> {
        let mut headers = HeaderMap::new();
        headers.insert(NATS_EXPECTED_LAST_SUBJECT_SEQUENCE, HeaderValue::from(expect));
        let payload = self.holder.clone().into_bytes().into();
        let ack = self.js.publish_with_headers(self.subject.clone(), headers, payload).await.map_err(client)?;
        match ack.await {
            Ok(ack) => Ok(Some(ack.sequence)),
            Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => Ok(None),
            Err(e) => Err(client(e)),
        }
    }
}

/// The bucket's stream, made when missing (as a NATS KV client makes a bucket).
async fn bucket(
    js: &async_nats::jetstream::Context,
    ttl: Duration,
    replicas: usize,
) -> Result<stream::Stream, LeaseError> {
    let config = stream::Config {
        name: format!("KV_{BUCKET}"),
        description: Some("Twinloom: one aggregator per durable consumer and site stream (docs/nats.md)".into()),
        subjects: vec![format!("$KV.{BUCKET}.>")],
        max_messages_per_subject: 1,
        max_age: ttl,
        duplicate_window: ttl.min(Duration::from_secs(120)),
        num_replicas: replicas.max(1),
        storage: stream::StorageType::File,
        discard: stream::DiscardPolicy::New,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        ..Default::default()
    };
    match js.get_or_create_stream(config).await {
        Ok(s) => Ok(s),
        // Made by another acquirer at the same moment (with another config: "already in use").
        Err(first) => js.get_stream(format!("KV_{BUCKET}")).await.map_err(|_| client(first)),
    }
}

/// `<durable>.<site>` as a KV key: each part with characters outside `A-Za-z0-9_=-` as `_` (an empty
/// part as `_`), so that the key always has exactly two tokens.
fn lease_key(durable: &str, site: &str) -> String {
    let part = |s: &str| -> String {
        if s.is_empty() {
            return "_".into();
        }
        s.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '_' | '=' | '-') { c } else { '_' }).collect()
    };
    format!("{}.{}", part(durable), part(site))
}

/// A request's failure. A request the server refuses for lack of permission gets no answer, so the client
/// sees a timeout: that message says where to look.
fn client(e: impl std::fmt::Display) -> LeaseError {
    let m = e.to_string();
    if m.contains("timed out") {
        return LeaseError::Client(format!(
            "{m} (no answer: the cluster is unreachable, or this user may not publish to $KV.{BUCKET}.> and \
             $JS.API.> (docs/deploy.md, per-site permissions))"
        ));
    }
    LeaseError::Client(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;
    use twinloom_tests::nats::NatsCluster;

    const LONG: Duration = Duration::from_secs(60);

    async fn connect(cluster: &NatsCluster) -> async_nats::jetstream::Context {
        let client = async_nats::connect(cluster.urls()).await.expect("connect to the server");
        async_nats::jetstream::new(client)
    }

    fn held_by(r: Result<SiteLease, LeaseError>) -> String {
        match r {
            Err(LeaseError::Held { holder, .. }) => holder,
            Err(e) => panic!("expected Held, got {e}"),
            Ok(l) => panic!("expected Held, got the lease at revision {}", l.revision()),
        }
    }

    #[test]
    fn keys_are_two_valid_tokens() {
        assert_eq!(lease_key("agg-1", "north"), "agg-1.north");
        assert_eq!(lease_key("a.b c", ""), "a_b_c._");
        assert_eq!(lease_key("x*>", "süd"), "x__.s_d");
    }

    #[tokio::test]
    async fn same_holder_retakes_other_is_refused_release_frees() {
        let cluster = NatsCluster::start(1);
        let js = connect(&cluster).await;
        let a = SiteLease::acquire(&js, "agg", "north", "host-a:/stage", LONG, 1).await.expect("A acquires");
        assert_eq!(a.key(), "agg.north");
        assert_eq!(a.ttl(), LONG);

        let err = SiteLease::acquire(&js, "agg", "north", "host-b:/stage", LONG, 1).await;
        assert_eq!(held_by(err), "host-a:/stage");
        // Another site or another durable is another key.
        SiteLease::acquire(&js, "agg", "south", "host-b:/stage", LONG, 1).await.expect("B takes another site");
        SiteLease::acquire(&js, "other", "north", "host-b:/stage", LONG, 1).await.expect("B: another durable");

        // A restarted (kill -9: `a` is never released) takes its own lease back at once.
        let first = a.revision();
        drop(a);
        let a = SiteLease::acquire(&js, "agg", "north", "host-a:/stage", LONG, 1).await.expect("A again");
        assert!(a.revision() > first);

        a.release().await.expect("A releases");
        let b = SiteLease::acquire(&js, "agg", "north", "host-b:/stage", LONG, 1).await.expect("B after A's release");
        let err = SiteLease::acquire(&js, "agg", "north", "host-a:/stage", LONG, 1).await;
        assert_eq!(held_by(err), "host-b:/stage");
        b.release().await.expect("B releases");
    }

    #[tokio::test]
    async fn expires_without_refresh_and_refresh_keeps_it() {
        let ttl = Duration::from_secs(2);
        let cluster = NatsCluster::start(1);
        let js = connect(&cluster).await;

        // Refreshed every 0.5 s, it outlives its ttl several times.
        let mut a = SiteLease::acquire(&js, "agg", "north", "host-a", ttl, 1).await.expect("A acquires");
        let start = Instant::now();
        while start.elapsed() < ttl * 3 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            a.refresh().await.expect("A refreshes");
            let err = SiteLease::acquire(&js, "agg", "north", "host-b", ttl, 1).await;
            assert_eq!(held_by(err), "host-a");
        }

        // Not refreshed any more: it expires, then B takes it.
        let stopped = Instant::now();
        let b = loop {
            match SiteLease::acquire(&js, "agg", "north", "host-b", ttl, 1).await {
                Ok(b) => break b,
                Err(LeaseError::Held { holder, age_s, .. }) => {
                    assert_eq!(holder, "host-a");
                    assert!(age_s < 10.0, "age {age_s}");
                }
                Err(e) => panic!("{e}"),
            }
            assert!(stopped.elapsed() < ttl + Duration::from_secs(10), "the lease did not expire");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let expired_after = stopped.elapsed();
        eprintln!("expired {expired_after:?} after the last refresh (ttl {ttl:?})");
        assert!(expired_after + Duration::from_millis(600) >= ttl, "expired early: {expired_after:?}");

        // A comes back after its lease expired and B took it: refused, naming B.
        match a.refresh().await {
            Err(LeaseError::Held { holder, .. }) => assert_eq!(holder, "host-b"),
            other => panic!("expected Held by B, got {other:?}"),
        }

        // B is away longer than the ttl, nobody took the key: its refresh takes it again.
        let mut b = b;
        tokio::time::sleep(ttl + Duration::from_millis(1500)).await;
        b.refresh().await.expect("B takes its expired lease again");
        let err = SiteLease::acquire(&js, "agg", "north", "host-a", ttl, 1).await;
        assert_eq!(held_by(err), "host-b");
        b.release().await.expect("B releases");
        // A released lease is free at once, well before the ttl.
        SiteLease::acquire(&js, "agg", "north", "host-a", ttl, 1).await.expect("A after B's release");
    }

    #[tokio::test]
    async fn concurrent_acquirers_one_wins() {
        let cluster = NatsCluster::start(1);
        let js = connect(&cluster).await;
        for round in 0..10 {
            let site = format!("site{round}");
            let tries = (0..8).map(|i| {
                let (js, site) = (js.clone(), site.clone());
                tokio::spawn(
                    async move { SiteLease::acquire(&js, "agg", &site, &format!("holder-{i}"), LONG, 1).await },
                )
            });
            let results = futures::future::join_all(tries).await;
            let mut winners = Vec::new();
            let mut refused = Vec::new();
            for r in results {
                match r.expect("the task") {
                    Ok(l) => winners.push(l.holder().to_string()),
                    Err(LeaseError::Held { holder, .. }) => refused.push(holder),
                    Err(e) => panic!("round {round}: {e}"),
                }
            }
            assert_eq!(winners.len(), 1, "round {round}: winners {winners:?}");
            assert_eq!(refused.len(), 7);
            assert!(refused.iter().all(|h| *h == winners[0]), "round {round}: {refused:?} vs {winners:?}");
        }
    }
}
