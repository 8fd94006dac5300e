//! The live hub: assigns the global sequence number to each published delta, keeps the most recent deltas
//! in a ring for resuming clients, and fans them out to every connected client without ever blocking the
//! publisher (a client that falls behind the bounded channel is told to resync).
//!
//! The ring keeps each delta LZ4-compressed (its JSON repeats attribute paths and keys, so it packs well;
//! the measured ratio is in docs/configuration.md), and the ring's byte budget counts compressed bytes:
//! the same memory holds that many times the history.
//! A resuming client's deltas are unpacked one at a time as they are sent.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::broadcast;

use crate::delta::{delta_text, DeltaBody};
use crate::journal::JournalSink;

/// A published delta, as it goes to live clients: its sequence number, shop and message body (the JSON
/// object's fields after the sequence number; [`Published::text`] adds the envelope, once per client,
/// so a burst of megabytes is not copied once more for nobody).
#[derive(Debug)]
pub struct Published {
    pub seq: u64,
    body: String,
}

impl Published {
    /// The message text sent to a client.
    pub fn text(&self) -> String {
        delta_text(self.seq, &self.body)
    }
}

/// A delta as the ring keeps it: the message body (everything after the sequence number) LZ4-compressed.
#[derive(Debug)]
pub struct Packed {
    pub seq: u64,
    body: Box<[u8]>,
}

impl Packed {
    /// The message text, exactly as it was sent live.
    pub fn text(&self) -> Result<String, String> {
        let body = lz4_flex::block::decompress_size_prepended(&self.body)
            .map_err(|e| format!("delta {} in the ring does not unpack: {e}", self.seq))?;
        let body =
            std::str::from_utf8(&body).map_err(|e| format!("delta {} in the ring is not text: {e}", self.seq))?;
        Ok(delta_text(self.seq, body))
    }
}

struct Inner {
    seq: u64,
    ring: VecDeque<Arc<Packed>>,
    /// Compressed bytes in the ring.
    ring_bytes: usize,
    /// The write-ahead journal: each delta is committed to it under this lock before it is sent, so the
    /// journal's order is sequence order (see [`crate::journal`]).
    journal: Option<JournalSink>,
    /// The last sequence number each shop's saved live layer includes (journal truncation).
    saved: Vec<u64>,
    /// The journal was truncated up to here.
    truncated: u64,
}

/// What a resuming client gets: the deltas after its sequence number, or the news that they are gone.
pub enum Resume {
    /// Deltas with `seq > since`, in order (unpack each with [`Packed::text`]), and a receiver for
    /// everything after them.
    Replay(Vec<Arc<Packed>>, broadcast::Receiver<Arc<Published>>),
    /// The ring no longer holds `since + 1`; the client must take a snapshot.
    Gone { current: u64, oldest: u64, rx: broadcast::Receiver<Arc<Published>> },
}

pub struct Hub {
    inner: Mutex<Inner>,
    /// The ring keeps at most this many deltas …
    capacity: usize,
    /// … and at most this many bytes of compressed message text.
    max_bytes: usize,
    tx: broadcast::Sender<Arc<Published>>,
    /// Messages that are not deltas (anomaly events): no sequence number, not kept for resuming.
    notices: broadcast::Sender<Arc<str>>,
}

impl Hub {
    /// Up to `ring` deltas and `ring_bytes` bytes are kept for resuming; each client may fall
    /// `client_buffer` messages behind.
    pub fn new(ring: usize, ring_bytes: usize, client_buffer: usize) -> Arc<Hub> {
        let (tx, _) = broadcast::channel(client_buffer.max(1));
        let inner =
            Inner { seq: 0, ring: VecDeque::new(), ring_bytes: 0, journal: None, saved: Vec::new(), truncated: 0 };
        let (notices, _) = broadcast::channel(client_buffer.max(1));
        Arc::new(Hub { inner: Mutex::new(inner), capacity: ring.max(1), max_bytes: ring_bytes, tx, notices })
    }

    /// Sends a complete message that is not a delta (an anomaly event) to every connected client; it
    /// carries no sequence number and is not replayed on resume. Never blocks.
    pub fn notify(&self, text: String) {
        let _ = self.notices.send(Arc::from(text));
    }

    /// A receiver of the messages [`Hub::notify`] sends from now on.
    pub fn notices(&self) -> broadcast::Receiver<Arc<str>> {
        self.notices.subscribe()
    }

    /// Publishes one shop's edits (a sequence of [`crate::delta::SetRef`]); returns the assigned sequence
    /// number. Never blocks on clients. The message is encoded and compressed outside the lock: a tick of
    /// 100,000 edits is megabytes.
    pub fn publish<E: Serialize + ?Sized>(&self, shop: &str, layer: &str, time_ms: f64, edits: &E) -> u64 {
        let body = serde_json::to_vec(&DeltaBody { shop, layer, time_ms, edits }).unwrap_or_else(|_| b"{}".to_vec());
        let packed = lz4_flex::block::compress_prepend_size(&body).into_boxed_slice();
        let body = String::from_utf8(body).unwrap_or_else(|_| "{}".into());
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.seq += 1;
        let seq = g.seq;
        // Journaled (and committed) before any client can see it; a failure is counted, never fatal.
        if let Some(j) = g.journal.as_mut() {
            j.append(seq, &packed);
        }
        self.push_ring(&mut g, seq, packed);
        // Sent under the lock so receivers see sequence order; a send with no receivers is fine.
        let _ = self.tx.send(Arc::new(Published { seq, body }));
        seq
    }

    /// Journals a record no client sees, with sequence number `kind`: one shop's late and historical
    /// samples for history ([`crate::journal::HISTORY_ONLY`], see [`crate::twin`]; the history compactor
    /// writes them into the clips at their source times) or its raw samples of one tick for the NATS
    /// forwarder ([`crate::journal::RAW_SAMPLES`]). Never sent to clients, kept in the ring or re-applied to
    /// a live layer. False when no journal is open to keep them.
    pub fn journal_record<E: Serialize + ?Sized>(
        &self,
        kind: u64,
        shop: &str,
        layer: &str,
        time_ms: f64,
        edits: &E,
    ) -> bool {
        let body = serde_json::to_vec(&DeltaBody { shop, layer, time_ms, edits }).unwrap_or_else(|_| b"{}".to_vec());
        let packed = lz4_flex::block::compress_prepend_size(&body);
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        match g.journal.as_mut() {
            Some(j) => j.append(kind, &packed),
            None => false,
        }
    }

    fn push_ring(&self, g: &mut Inner, seq: u64, packed: Box<[u8]>) {
        g.ring_bytes += packed.len();
        g.ring.push_back(Arc::new(Packed { seq, body: packed }));
        while g.ring.len() > self.capacity || (g.ring_bytes > self.max_bytes && g.ring.len() > 1) {
            if let Some(old) = g.ring.pop_front() {
                g.ring_bytes -= old.body.len();
            }
        }
    }

    /// Continues a journaled stream after a restart (before anything is published): sequence numbers go on
    /// after `last_seq`, the ring gets the journaled deltas (packed bodies, contiguous numbers ending at
    /// `last_seq`), and every later delta is journaled. `saved` holds each shop layer's saved position.
    pub fn attach_journal(&self, sink: JournalSink, last_seq: u64, ring: Vec<(u64, Box<[u8]>)>, saved: Vec<u64>) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.seq = g.seq.max(last_seq);
        for (seq, packed) in ring {
            self.push_ring(&mut g, seq, packed);
        }
        g.truncated = saved.iter().copied().min().unwrap_or(0);
        g.saved = saved;
        g.journal = Some(sink);
    }

    /// Shop `shop`'s live layer was saved including every delta up to `seq`: once every shop's layer is
    /// past a point, the journal's whole segments before it are dropped.
    pub fn layer_saved(&self, shop: usize, seq: u64) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let Some(s) = g.saved.get_mut(shop) else { return };
        *s = (*s).max(seq);
        let min = g.saved.iter().copied().min().unwrap_or(0);
        if min > g.truncated {
            g.truncated = min;
            if let Some(j) = g.journal.as_mut() {
                j.saved_up_to(min);
            }
        }
    }

    /// Keeps the journal's records from `floor` on (the history compactor's or the NATS forwarder's
    /// position; each call adds one floor).
    pub fn set_journal_floor(&self, floor: Arc<std::sync::atomic::AtomicU64>) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(j) = g.journal.as_mut() {
            j.set_floor(floor);
        }
    }

    /// A reader over the journal's records from `from` (see [`JournalSink::reader`]), made under the lock
    /// and read outside it.
    pub fn journal_reader(&self, from: u64) -> Option<twinloom_journal::Result<(twinloom_journal::Reader, u64)>> {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.journal.as_ref()?.reader(from)
    }

    /// The journal's next position, when it is open.
    pub fn journal_next_position(&self) -> Option<u64> {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.journal.as_ref()?.next_position()
    }

    /// Closes the journal (at shutdown, once every layer is saved), forcing it down.
    pub fn close_journal(&self) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(mut j) = g.journal.take() {
            j.close();
        }
    }

    /// Deltas and compressed bytes in the ring (for /metrics).
    pub fn ring_usage(&self) -> (usize, usize) {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        (g.ring.len(), g.ring_bytes)
    }

    /// The last sequence number assigned.
    pub fn current_seq(&self) -> u64 {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).seq
    }

    /// A receiver of deltas published from now on, and the current sequence number.
    pub fn subscribe(&self) -> (u64, broadcast::Receiver<Arc<Published>>) {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        (g.seq, self.tx.subscribe())
    }

    /// Deltas after `since` from the ring plus a receiver for the rest, with no gap or duplicate.
    pub fn resume(&self, since: u64) -> Resume {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let rx = self.tx.subscribe();
        if since >= g.seq {
            return Resume::Replay(Vec::new(), rx);
        }
        let oldest = g.ring.front().map(|p| p.seq).unwrap_or(g.seq + 1);
        if since + 1 < oldest {
            return Resume::Gone { current: g.seq, oldest, rx };
        }
        Resume::Replay(g.ring.iter().filter(|p| p.seq > since).cloned().collect(), rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_EDITS: [crate::delta::SetRef<'static>; 0] = [];

    #[test]
    fn resume_replays_exactly_the_missing_deltas() {
        let hub = Hub::new(3, 1 << 20, 16);
        for i in 0..5 {
            hub.publish("biw", "live/biw.usdc", i as f64, &NO_EDITS);
        }
        assert_eq!(hub.subscribe().0, 5);
        match hub.resume(3) {
            Resume::Replay(v, _) => assert_eq!(v.iter().map(|p| p.seq).collect::<Vec<_>>(), vec![4, 5]),
            Resume::Gone { .. } => panic!("3 is in the ring"),
        }
        match hub.resume(1) {
            Resume::Gone { current, oldest, .. } => assert_eq!((current, oldest), (5, 3)),
            Resume::Replay(..) => panic!("2 fell out of the ring"),
        }
        match hub.resume(2) {
            Resume::Replay(v, mut rx) => {
                assert_eq!(v.len(), 3);
                hub.publish("biw", "live/biw.usdc", 6.0, &NO_EDITS);
                let live = rx.try_recv().unwrap();
                assert_eq!(live.seq, 6);
                assert!(live.text().starts_with(r#"{"type":"delta","seq":6,"shop":"biw","#), "{}", live.text());
            }
            Resume::Gone { .. } => panic!("3 is the oldest kept"),
        }
        let text = &hub.resume(6).replay_text();
        assert!(text.is_empty());
    }

    impl Resume {
        fn replay_text(&self) -> Vec<String> {
            match self {
                Resume::Replay(v, _) => v.iter().map(|p| p.text().unwrap()).collect(),
                Resume::Gone { .. } => vec![],
            }
        }
    }

    #[test]
    fn the_ring_is_bounded_in_bytes_too() {
        let hub = Hub::new(100, 320, 4);
        for i in 0..10 {
            hub.publish("biw", "live/biw.usdc", i as f64, &NO_EDITS);
        }
        // Each message packs to about 66 bytes (too short to compress): four fit in 320.
        match hub.resume(6) {
            Resume::Replay(v, _) => assert_eq!(v.iter().map(|p| p.seq).collect::<Vec<_>>(), vec![7, 8, 9, 10]),
            Resume::Gone { .. } => panic!("7.. should be kept"),
        }
        assert!(matches!(hub.resume(5), Resume::Gone { oldest: 7, .. }));
    }

    #[test]
    fn the_ring_keeps_a_burst_compressed_and_gives_it_back_exactly() {
        use crate::delta::{LiveValue, SetRef};
        use crate::shop_attrs::AttrPath;
        let prims: Vec<String> =
            (0..2000).map(|i| format!("/Plant/BIW/Station{:02}/R{:02}/Joints", i / 120, i / 6 % 20)).collect();
        let names: Vec<String> = (0..2000).map(|i| format!("j{}", i % 6 + 1)).collect();
        let values: Vec<LiveValue> = (0..2000).map(|i| LiveValue::Double(i as f64 * 0.731)).collect();
        let edits: Vec<SetRef> = (0..2000)
            .map(|i| SetRef {
                op: "set",
                path: AttrPath { prim: &prims[i], name: &names[i] },
                value_type: "double",
                value: &values[i],
                source_time_ms: Some(1.7e12 + i as f64),
            })
            .collect();
        let hub = Hub::new(4, 1 << 20, 4);
        let (_, mut rx) = hub.subscribe();
        hub.publish("biw", "live/biw.usdc", 5.0, &edits);
        let live = rx.try_recv().unwrap();
        let (deltas, packed) = hub.ring_usage();
        assert_eq!(deltas, 1);
        let text = live.text();
        assert!(packed * 3 < text.len(), "{packed} compressed bytes for {} bytes of text", text.len());
        let Resume::Replay(v, _) = hub.resume(0) else { panic!() };
        assert_eq!(v[0].text().unwrap(), text);
    }

    #[test]
    fn messages_carry_the_envelope() {
        let hub = Hub::new(4, 1 << 20, 4);
        hub.publish("paint", "live/paint.usdc", 2.0, &NO_EDITS);
        let Resume::Replay(v, _) = hub.resume(0) else { panic!() };
        assert_eq!(
            v[0].text().unwrap(),
            r#"{"type":"delta","seq":1,"shop":"paint","layer":"live/paint.usdc","timeMs":2.0,"edits":[]}"#
        );
    }
}
