//! Twin state: the last value of every bound attribute, coalesced until its shop's writer takes the tick.
//! Ingestion writes here (tokio side); each shop's writer thread drains its own `ShopState` once per tick,
//! so a slow writer never stalls ingestion — values coalesce instead (last value wins).

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

/// The pending values of one shop: 4 bytes per attribute, plus the values that changed since the last tick.
#[derive(Debug, Default)]
pub struct ShopState {
    /// Per attribute: its position in `pending`, or `NONE`.
    index: Vec<u32>,
    /// Changed values, in first-change order.
    pending: Vec<Pending>,
    /// Values replaced before a tick took them (coalesced).
    pub coalesced: u64,
}

impl ShopState {
    fn with_len(n: usize) -> Self {
        ShopState { index: vec![NONE; n], pending: Vec::new(), coalesced: 0 }
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
                        st.put(Pending { local, value, source_time: s.source_time, quality: s.quality });
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
        Sample { signal, value: v, source_time: None, server_time: None, quality: Quality::GOOD }
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
}
