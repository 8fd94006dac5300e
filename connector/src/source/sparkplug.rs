//! The Sparkplug B source (kind `sparkplug`): a Sparkplug 3.0 host application on an MQTT broker. The
//! protocol rules (births, aliases, bdSeq, seq and reorder timeout, deaths, rebirth requests) are the
//! `twinloom-sparkplug` crate's [`Host`]; this module connects it to the broker ([`super::mqtt`]), maps
//! metrics to bound signals, turns births into auto-bindings and deaths into stale quality, and counts
//! every problem by reason (docs/sparkplug.md).

use std::collections::HashMap;
use std::fmt;

/// Where a binding's value comes from: one metric of an edge node or device, or the node's or device's
/// quality (`good` while born, `stale` after its death).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MetricAddress {
    pub group: String,
    pub node: String,
    pub device: Option<String>,
    /// `None`: the quality of the node or device.
    pub metric: Option<String>,
}

/// A binding address or auto-binding filter could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("Sparkplug address {address:?}: {message}")]
pub struct AddressError {
    pub address: String,
    pub message: String,
}

fn valid_id(s: &str) -> bool {
    !s.is_empty() && !s.contains(['/', '+', '#'])
}

/// The `key=value` parts of an address; `metric=` takes the rest of the text (metric names may hold `;`).
fn parts(address: &str) -> Result<Vec<(&str, &str)>, AddressError> {
    let err = |message: String| AddressError { address: address.to_string(), message };
    let mut out = Vec::new();
    let mut rest = address.trim();
    while !rest.is_empty() {
        let (part, tail) = if rest.trim_start().starts_with("metric=") {
            (rest.trim_start(), "")
        } else {
            rest.split_once(';').unwrap_or((rest, ""))
        };
        rest = tail;
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        match part.split_once('=') {
            Some((k, v)) => out.push((k.trim(), v.trim())),
            None if part == "state" => out.push(("state", "")),
            None => return Err(err(format!("{part:?} is not key=value"))),
        }
    }
    Ok(out)
}

impl MetricAddress {
    /// Parses `group=G;node=E[;device=D];metric=NAME` or `group=G;node=E[;device=D];state`.
    pub fn parse(address: &str) -> Result<MetricAddress, AddressError> {
        let err = |message: String| AddressError { address: address.to_string(), message };
        let (mut group, mut node, mut device, mut metric, mut state) = (None, None, None, None, false);
        for (k, v) in parts(address)? {
            match k {
                "group" => group = Some(v.to_string()),
                "node" => node = Some(v.to_string()),
                "device" => device = Some(v.to_string()),
                "metric" => metric = Some(v.to_string()),
                "state" => state = true,
                other => return Err(err(format!("unknown key {other:?} (keys: group, node, device, metric, state)"))),
            }
        }
        let group = group.ok_or_else(|| err("group= is missing".into()))?;
        let node = node.ok_or_else(|| err("node= is missing".into()))?;
        for (what, id) in [("group", Some(&group)), ("node", Some(&node)), ("device", device.as_ref())] {
            if let Some(id) = id.filter(|id| !valid_id(id)) {
                return Err(err(format!("{what} id {id:?} must be non-empty without / + #")));
            }
        }
        match (metric, state) {
            (Some(_), true) => Err(err("metric= and state exclude each other".into())),
            (None, false) => Err(err("metric=NAME (or state) is missing".into())),
            (Some(m), false) if m.is_empty() => Err(err("the metric name is empty".into())),
            (metric, _) => Ok(MetricAddress { group, node, device, metric }),
        }
    }
}

impl fmt::Display for MetricAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "group={};node={}", self.group, self.node)?;
        if let Some(d) = &self.device {
            write!(f, ";device={d}")?;
        }
        match &self.metric {
            Some(m) => write!(f, ";metric={m}"),
            None => f.write_str(";state"),
        }
    }
}

/// What an auto-binding mirrors: a group, one edge node of it, or one device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BirthFilter {
    pub group: String,
    pub node: Option<String>,
    pub device: Option<String>,
}

impl BirthFilter {
    /// Parses `group=G[;node=E[;device=D]]`.
    pub fn parse(address: &str) -> Result<BirthFilter, AddressError> {
        let err = |message: String| AddressError { address: address.to_string(), message };
        let (mut group, mut node, mut device) = (None, None, None);
        for (k, v) in parts(address)? {
            let slot = match k {
                "group" => &mut group,
                "node" => &mut node,
                "device" => &mut device,
                other => return Err(err(format!("unknown key {other:?} (keys: group, node, device)"))),
            };
            if !valid_id(v) {
                return Err(err(format!("{k} id {v:?} must be non-empty without / + #")));
            }
            *slot = Some(v.to_string());
        }
        let group = group.ok_or_else(|| err("group= is missing".into()))?;
        if device.is_some() && node.is_none() {
            return Err(err("device= needs node=".into()));
        }
        Ok(BirthFilter { group, node, device })
    }

    /// Whether the filter takes this node or device.
    pub fn takes(&self, group: &str, node: &str, device: Option<&str>) -> bool {
        self.group == group
            && self.node.as_deref().is_none_or(|n| n == node)
            && (self.device.is_none() || self.device.as_deref() == device)
    }
}

/// Signals by the metric they are bound to.
#[derive(Debug, Default)]
pub struct SignalIndex {
    by_address: HashMap<MetricAddress, Vec<u32>>,
}

impl SignalIndex {
    pub fn insert(&mut self, address: MetricAddress, signal: u32) {
        self.by_address.entry(address).or_default().push(signal);
    }

    pub fn get(&self, address: &MetricAddress) -> &[u32] {
        self.by_address.get(address).map_or(&[], Vec::as_slice)
    }

    pub fn is_empty(&self) -> bool {
        self.by_address.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_addresses_round_trip_and_keep_semicolons_in_names() {
        let a = MetricAddress::parse("group=Plant1;node=Paint;device=Oven1;metric=Zone 1/Temp;raw").unwrap();
        assert_eq!(a.device.as_deref(), Some("Oven1"));
        assert_eq!(a.metric.as_deref(), Some("Zone 1/Temp;raw"));
        assert_eq!(MetricAddress::parse(&a.to_string()).unwrap(), a);
        let s = MetricAddress::parse("group=Plant1; node=Paint; state").unwrap();
        assert_eq!((s.device, s.metric), (None, None));
        for (bad, says) in [
            ("node=E;metric=x", "group= is missing"),
            ("group=G;metric=x", "node= is missing"),
            ("group=G;node=E", "metric=NAME (or state) is missing"),
            ("group=G/1;node=E;metric=x", "must be non-empty"),
            ("group=G;node=E;state;metric=x", "exclude each other"),
            ("group=G;node=E;unit=C;metric=x", "unknown key"),
        ] {
            let e = MetricAddress::parse(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn birth_filters_take_groups_nodes_or_devices() {
        let g = BirthFilter::parse("group=Plant1").unwrap();
        assert!(g.takes("Plant1", "Any", None) && g.takes("Plant1", "Any", Some("D")));
        assert!(!g.takes("Plant2", "Any", None));
        let d = BirthFilter::parse("group=Plant1;node=Paint;device=Oven1").unwrap();
        assert!(d.takes("Plant1", "Paint", Some("Oven1")) && !d.takes("Plant1", "Paint", None));
        assert!(BirthFilter::parse("node=Paint").is_err());
        assert!(BirthFilter::parse("group=P;device=D").is_err());
    }
}
