//! Twin state: the last value of every bound attribute, coalesced until its shop's writer takes the tick.
//! Ingestion writes here (tokio side); each shop's writer thread drains its own `ShopState` once per tick,
//! so a slow writer never stalls ingestion — values coalesce instead (last value wins).
//!
//! Late and historical samples never reach the live values: a sample whose source time is older than the
//! last live value's of its attribute, or one its source marks historical (Sparkplug `is_historical`), is
//! kept apart for history (`ShopState::take_late`), so a delayed or back-filled value cannot move the live
//! stage backwards (docs/history.md, "Late and historical samples").
//!
//! With raw samples kept (`TwinState::keep_raw_samples`, for the NATS `samples` subject), every accepted
//! sample is also kept, uncoalesced and in arrival order, until the writer takes the tick
//! (`ShopState::take_raw`).

use std::sync::Mutex;
use std::time::SystemTime;

use crate::binding::{convert, BindingTable, Conversion, Reject};
use crate::delta::LiveValue;
use crate::sample::{Quality, Sample};

/// A value waiting for the next tick.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    /// Index of the attribute within its shop (see `TwinState::locate`).
    pub local: u32,
    pub value: LiveValue,
    pub source_time: Option<SystemTime>,
    pub quality: Quality,
}

/// Marks an attribute with no pending value in `ShopState::index`.
const NONE: u32 = u32::MAX;
/// At most this many late samples wait for their writer per shop; more are dropped and counted.
pub const LATE_CAPACITY: usize = 1_000_000;
/// At most this many raw samples wait for their writer per shop; more are dropped and counted.
pub const RAW_CAPACITY: usize = 1_000_000;

/// The pending values of one shop: 4 bytes per attribute, plus the values that changed since the last tick.
#[derive(Debug, Default)]
pub struct ShopState {
    /// Per attribute: its position in `pending`, or `NONE`.
    index: Vec<u32>,
    /// Changed values, in first-change order.
    pending: Vec<Pending>,
    /// Values replaced before a tick took them (coalesced).
    pub coalesced: u64,
    /// Per attribute: the source time (Unix ms) of its newest live value, `-inf` before the first.
    live_source_ms: Vec<f64>,
    /// Late and historical samples waiting for the writer (history only), in arrival order.
    late: Vec<Pending>,
    /// Late and historical samples accepted for history, and those dropped because `late` was full.
    pub late_accepted: u64,
    pub late_dropped: u64,
    /// When raw samples are kept: every accepted sample since the last tick (live, late and historical),
    /// in arrival order, a sample without a source time stamped with its arrival.
    raw: Option<Vec<Pending>>,
    /// Raw samples dropped because `raw` was full.
    pub raw_dropped: u64,
}

impl ShopState {
    fn with_len(n: usize) -> Self {
        ShopState {
            index: vec![NONE; n],
            pending: Vec::new(),
            coalesced: 0,
            live_source_ms: vec![f64::NEG_INFINITY; n],
            late: Vec::new(),
            late_accepted: 0,
            late_dropped: 0,
            raw: None,
            raw_dropped: 0,
        }
    }

    /// Routes a converted sample: to the live values, or, when it is historical or older than the live
    /// value of its attribute, to the late ones; and to the raw samples when they are kept, stamped
    /// `arrived` when it has no source time.
    fn route(&mut self, p: Pending, historical: bool, arrived: SystemTime) {
        if let Some(raw) = &mut self.raw {
            if raw.len() >= RAW_CAPACITY {
                self.raw_dropped += 1;
            } else {
                raw.push(Pending { source_time: p.source_time.or(Some(arrived)), ..p.clone() });
            }
        }
        let at = p.source_time.map(crate::delta::epoch_ms);
        let live = &mut self.live_source_ms[p.local as usize];
        if historical || at.is_some_and(|t| t < *live) {
            if self.late.len() >= LATE_CAPACITY {
                self.late_dropped += 1;
            } else {
                self.late_accepted += 1;
                self.late.push(p);
            }
            return;
        }
        if let Some(t) = at {
            *live = t;
        }
        self.put(p);
    }

    /// Takes every late and historical sample waiting for history into `out` (whose old contents are
    /// dropped).
    pub fn take_late(&mut self, out: &mut Vec<Pending>) {
        out.clear();
        std::mem::swap(&mut self.late, out);
    }

    /// Takes every raw sample kept since the last take into `out` (whose old contents are dropped); none
    /// when raw samples are not kept.
    pub fn take_raw(&mut self, out: &mut Vec<Pending>) {
        out.clear();
        if let Some(raw) = &mut self.raw {
            std::mem::swap(raw, out);
        }
    }

    fn put(&mut self, p: Pending) {
        let at = &mut self.index[p.local as usize];
        if *at == NONE {
            *at = self.pending.len() as u32;
            self.pending.push(p);
        } else {
            self.coalesced += 1;
            self.pending[*at as usize] = p;
        }
    }

    /// Takes every pending value, in first-change order, into `out` (whose old contents are dropped).
    pub fn take(&mut self, out: &mut Vec<Pending>) {
        out.clear();
        std::mem::swap(&mut self.pending, out);
        for p in out.iter() {
            self.index[p.local as usize] = NONE;
        }
    }
}

/// All shops' pending values plus the signal → (shop, local index) map.
pub struct TwinState {
    /// Per signal: (shop, index within the shop).
    locate: Vec<(u32, u32)>,
    /// Per signal: how its source values become attribute values.
    conversions: Vec<Conversion>,
    shops: Vec<Mutex<ShopState>>,
}

impl TwinState {
    pub fn new(table: &BindingTable) -> Self {
        let mut counts = vec![0u32; table.shops.len()];
        let locate = table
            .bindings
            .iter()
            .map(|b| {
                let local = counts[b.shop];
                counts[b.shop] += 1;
                (b.shop as u32, local)
            })
            .collect();
        let conversions = table.bindings.iter().map(|b| b.conversion()).collect();
        TwinState {
            locate,
            conversions,
            shops: counts.iter().map(|&n| Mutex::new(ShopState::with_len(n as usize))).collect(),
        }
    }

    /// Keeps every accepted sample, uncoalesced, for the writers to journal (`[nats] samples = true`).
    pub fn keep_raw_samples(mut self) -> Self {
        for shop in &mut self.shops {
            shop.get_mut().unwrap_or_else(|e| e.into_inner()).raw = Some(Vec::new());
        }
        self
    }

    /// (shop, local index) of a signal.
    pub fn locate(&self, signal: u32) -> Option<(usize, u32)> {
        self.locate.get(signal as usize).map(|&(shop, local)| (shop as usize, local))
    }

    /// The value `s` gives its attribute, as a number, when it converts to a numeric one (for observers:
    /// computed again outside the shops' locks).
    pub fn numeric(&self, s: &Sample) -> Option<f64> {
        match convert(self.conversions.get(s.signal as usize)?, &s.value).ok()? {
            LiveValue::Int(i) => Some(f64::from(i)),
            LiveValue::Int64(i) => Some(i as f64),
            LiveValue::Float(x) => Some(f64::from(x)),
            LiveValue::Double(x) => Some(x),
            _ => None,
        }
    }

    pub fn shop(&self, shop: usize) -> &Mutex<ShopState> {
        &self.shops[shop]
    }

    /// Converts and stores a batch of samples; returns how many were accepted, and calls `reject` for
    /// each refused one and `woke(shop)` for each shop that had no pending value before this batch (its
    /// writer may write at once, see `shop_writer::Waker`). Each shop's lock is taken once per batch.
    pub fn ingest_and_wake(
        &self,
        batch: &[Sample],
        mut reject: impl FnMut(&Sample, Reject),
        mut woke: impl FnMut(usize),
    ) -> usize {
        // One pass per shop straight into its pending values, the shop locked once: a burst of 100,000
        // samples is not copied into per-shop vectors first (megabytes that would come and go each burst).
        let mut present = vec![false; self.shops.len()];
        for s in batch {
            match self.locate(s.signal) {
                Some((shop, _)) => present[shop] = true,
                None => reject(s, Reject::UnknownSignal),
            }
        }
        let mut accepted = 0;
        let arrived = SystemTime::now();
        for shop in (0..self.shops.len()).filter(|&shop| present[shop]) {
            let mut st = self.shops[shop].lock().unwrap_or_else(|e| e.into_inner());
            let was_empty = st.pending.is_empty();
            let before = accepted;
            for s in batch {
                let Some((sample_shop, local)) = self.locate(s.signal) else { continue };
                if sample_shop != shop {
                    continue;
                }
                match convert(&self.conversions[s.signal as usize], &s.value) {
                    Ok(value) => {
                        st.route(
                            Pending { local, value, source_time: s.source_time, quality: s.quality },
                            s.historical,
                            arrived,
                        );
                        accepted += 1;
                    }
                    Err(r) => reject(s, r),
                }
            }
            drop(st);
            if was_empty && accepted > before {
                woke(shop);
            }
        }
        accepted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binding::Binding;
    use crate::sample::Value;
    use twinloom_usd::ValueType;

    fn table() -> BindingTable {
        let mut t = BindingTable::default();
        for (shop, name) in [("biw", "a"), ("paint", "b"), ("biw", "c")] {
            let s = t.shop_index(shop);
            t.bindings.push(Binding {
                source: "plc".into(),
                address: name.into(),
                shop: s,
                prim: format!("/Plant/{name}"),
                attr: "v".into(),
                value_type: ValueType::Double,
                scale: 1.0,
                offset: 0.0,
                unit: None,
                display_name: None,
            });
        }
        t
    }

    fn sample(signal: u32, v: Value) -> Sample {
        Sample { signal, value: v, source_time: None, server_time: None, quality: Quality::GOOD, historical: false }
    }

    #[test]
    fn values_coalesce_per_shop_and_rejects_are_reported() {
        let t = table();
        let twin = TwinState::new(&t);
        assert_eq!(twin.locate(2), Some((0, 1)));
        let mut rejected = Vec::new();
        let batch = vec![
            sample(0, Value::F64(1.0)),
            sample(1, Value::F64(2.0)),
            sample(0, Value::F64(3.0)),
            sample(2, Value::String("x".into())),
            sample(9, Value::F64(1.0)),
            sample(2, Value::F64(f64::INFINITY)),
        ];
        let n = twin.ingest_and_wake(&batch, |s, r| rejected.push((s.signal, r)), |_| {});
        assert_eq!(n, 3);
        // Unknown signals are reported first, then each shop's refusals in batch order.
        assert_eq!(rejected, vec![(9, Reject::UnknownSignal), (2, Reject::WrongType), (2, Reject::NotFinite)]);
        let mut out = Vec::new();
        let mut biw = twin.shop(0).lock().unwrap();
        assert_eq!(biw.coalesced, 1);
        biw.take(&mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].value, LiveValue::Double(3.0), "last value wins");
        biw.take(&mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn a_shop_wakes_its_writer_only_when_it_had_nothing_pending() {
        let t = table();
        let twin = TwinState::new(&t);
        let mut woke = Vec::new();
        let one = [sample(0, Value::F64(1.0))];
        twin.ingest_and_wake(&one, |_, _| {}, |shop| woke.push(shop));
        twin.ingest_and_wake(&one, |_, _| {}, |shop| woke.push(shop));
        assert_eq!(woke, vec![0], "the second batch finds a value pending: no second wake");
        twin.shop(0).lock().unwrap().take(&mut Vec::new());
        twin.ingest_and_wake(&one, |_, _| {}, |shop| woke.push(shop));
        assert_eq!(woke, vec![0, 0], "after the writer took the tick, new values wake it again");
    }

    #[test]
    fn raw_samples_are_kept_uncoalesced_in_arrival_order_only_when_asked() {
        let t = table();
        let at = |ms: u64| Some(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms));
        let batch = [
            Sample { source_time: at(2_000), ..sample(0, Value::F64(1.0)) },
            sample(2, Value::F64(7.0)), // no source time: stamped
            Sample { source_time: at(1_000), ..sample(0, Value::F64(0.5)) }, // late: raw, and history
            Sample { source_time: at(3_000), ..sample(0, Value::F64(2.0)) },
            sample(2, Value::String("x".into())), // refused: not a sample the connector accepted
        ];
        let off = TwinState::new(&t);
        off.ingest_and_wake(&batch, |_, _| {}, |_| {});
        let mut raw =
            vec![Pending { local: 9, value: LiveValue::Double(0.0), source_time: None, quality: Quality::GOOD }];
        off.shop(0).lock().unwrap().take_raw(&mut raw);
        assert!(raw.is_empty(), "not kept unless asked");

        let before = SystemTime::now();
        let twin = TwinState::new(&t).keep_raw_samples();
        assert_eq!(twin.ingest_and_wake(&batch, |_, _| {}, |_| {}), 4);
        let mut biw = twin.shop(0).lock().unwrap();
        let mut live = Vec::new();
        biw.take(&mut live);
        biw.take_raw(&mut raw);
        assert_eq!(live.len(), 2, "the tick coalesces: one value per attribute");
        let got: Vec<(u32, LiveValue)> = raw.iter().map(|p| (p.local, p.value.clone())).collect();
        assert_eq!(
            got,
            vec![
                (0, LiveValue::Double(1.0)),
                (1, LiveValue::Double(7.0)),
                (0, LiveValue::Double(0.5)),
                (0, LiveValue::Double(2.0))
            ]
        );
        assert_eq!(raw[0].source_time, at(2_000));
        assert!(raw[1].source_time.is_some_and(|t| t >= before), "stamped with its arrival");
        biw.take_raw(&mut raw);
        assert!(raw.is_empty(), "taken once");
        assert_eq!(biw.raw_dropped, 0);
    }

    #[test]
    fn late_and_historical_samples_go_to_history_not_to_the_live_values() {
        let t = table();
        let twin = TwinState::new(&t);
        let at = |ms: u64| Some(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms));
        let timed =
            |v: f64, ms: u64, historical: bool| Sample { source_time: at(ms), historical, ..sample(0, Value::F64(v)) };
        let batch = [
            timed(1.0, 2_000, false),
            timed(0.5, 1_000, false), // older than the live value: late
            timed(9.0, 5_000, true),  // historical, even though newer
            timed(2.0, 2_000, false), // the same source time: a live update
        ];
        assert_eq!(twin.ingest_and_wake(&batch, |_, _| {}, |_| {}), 4);
        let mut biw = twin.shop(0).lock().unwrap();
        let (mut live, mut late) = (Vec::new(), Vec::new());
        biw.take(&mut live);
        biw.take_late(&mut late);
        assert_eq!(live.iter().map(|p| p.value.clone()).collect::<Vec<_>>(), vec![LiveValue::Double(2.0)]);
        assert_eq!(
            late.iter().map(|p| p.value.clone()).collect::<Vec<_>>(),
            vec![LiveValue::Double(0.5), LiveValue::Double(9.0)]
        );
        assert_eq!((biw.late_accepted, biw.late_dropped), (2, 0));
        drop(biw);
        // After the tick the live source time stays: a value older than 2 s is still late.
        twin.ingest_and_wake(&[timed(0.7, 1_500, false)], |_, _| {}, |_| {});
        let mut biw = twin.shop(0).lock().unwrap();
        biw.take_late(&mut late);
        assert_eq!(late.len(), 1);
    }
}
