//! The plain MQTT JSON source (kind `mqtt`): each binding names a topic filter, a JSON pointer to the
//! value and optionally one to the timestamp (`topic=sensors/paint/oven1;value=/temp;time=/ts`). A
//! message is parsed once and feeds every binding whose filter matches its topic. A payload that is not
//! JSON, or lacks a bound field, is counted and logged with the topic (and the byte offset of the syntax
//! error); the other bindings of the message still get their values (docs/mqtt.md).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rumqttc::{AsyncClient, QoS};
use tokio::sync::mpsc;

use crate::sample::{Quality, Sample, SampleBatch, Value};
use crate::source::{ErrorReason, SourceCounters};

/// A binding's address could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("MQTT address {address:?}: {message}")]
pub struct AddressError {
    pub address: String,
    pub message: String,
}

/// One bound value: where it comes from in which messages.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPoint {
    /// MQTT topic filter (`+` and `#` wildcards allowed).
    pub topic: String,
    /// RFC 6901 JSON pointer to the value; empty: the whole payload.
    pub value: String,
    /// JSON pointer to the timestamp (epoch seconds or milliseconds, or RFC 3339 text), if any.
    pub time: Option<String>,
}

fn is_valid_filter(f: &str) -> bool {
    if f.is_empty() {
        return false;
    }
    let levels: Vec<&str> = f.split('/').collect();
    levels.iter().enumerate().all(|(i, l)| match *l {
        "#" => i == levels.len() - 1,
        "+" => true,
        l => !l.contains(['+', '#']),
    })
}

impl JsonPoint {
    /// Parses `topic=FILTER[;value=/pointer][;time=/pointer]`.
    pub fn parse(address: &str) -> Result<JsonPoint, AddressError> {
        let err = |message: String| AddressError { address: address.to_string(), message };
        let (mut topic, mut value, mut time) = (None, None, None);
        for part in address.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((k, v)) = part.split_once('=') else {
                return Err(err(format!("{part:?} is not key=value (keys: topic, value, time)")));
            };
            let slot = match k.trim() {
                "topic" => &mut topic,
                "value" => &mut value,
                "time" => &mut time,
                other => return Err(err(format!("unknown key {other:?} (keys: topic, value, time)"))),
            };
            if slot.replace(v.trim().to_string()).is_some() {
                return Err(err(format!("{} is given twice", k.trim())));
            }
        }
        let topic = topic.ok_or_else(|| err("topic= is missing".into()))?;
        if !is_valid_filter(&topic) {
            return Err(err(format!("{topic:?} is not a valid MQTT topic filter")));
        }
        for p in value.iter().chain(time.iter()) {
            if !p.is_empty() && !p.starts_with('/') {
                return Err(err(format!("{p:?} is not a JSON pointer (like /sensor/temp)")));
            }
        }
        Ok(JsonPoint { topic, value: value.unwrap_or_default(), time: time.filter(|t| !t.is_empty()) })
    }
}

/// Whether `topic` matches the MQTT filter `filter`.
pub fn topic_matches(filter: &str, topic: &str) -> bool {
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return !topic.starts_with('$'),
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// A JSON value as a sample value: numbers, booleans, text, or three numbers.
fn value_of(v: &serde_json::Value) -> Option<Value> {
    Some(match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Value::I64(i),
            (None, Some(u)) => Value::U64(u),
            _ => Value::F64(n.as_f64()?),
        },
        serde_json::Value::String(s) => Value::String(s.clone()),
        serde_json::Value::Array(a) if a.len() == 3 => {
            let c = |i: usize| a[i].as_f64();
            Value::Vec3([c(0)?, c(1)?, c(2)?])
        }
        _ => return None,
    })
}

/// A timestamp field: a number below 10^11 is epoch seconds, above epoch milliseconds; text is RFC 3339.
pub fn time_of(v: &serde_json::Value) -> Option<SystemTime> {
    match v {
        serde_json::Value::Number(n) => {
            let x = n.as_f64().filter(|x| x.is_finite() && *x >= 0.0)?;
            if x < 1e11 {
                return UNIX_EPOCH.checked_add(Duration::try_from_secs_f64(x).ok()?);
            }
            // Milliseconds: whole ones exactly (a double holds them), the fraction as nanoseconds.
            let whole = Duration::from_millis(x.trunc() as u64);
            UNIX_EPOCH.checked_add(whole + Duration::from_nanos(((x - x.trunc()) * 1e6).round() as u64))
        }
        serde_json::Value::String(s) => {
            let t = chrono::DateTime::parse_from_rfc3339(s).ok()?;
            let ms = u64::try_from(t.timestamp_millis()).ok()?;
            UNIX_EPOCH.checked_add(Duration::from_millis(ms))
        }
        _ => None,
    }
}

/// Byte offset of a serde_json error's line and column in `text`.
fn offset_of(text: &[u8], line: usize, column: usize) -> usize {
    let line_start: usize = text.split(|b| *b == b'\n').take(line.saturating_sub(1)).map(|l| l.len() + 1).sum();
    (line_start + column.saturating_sub(1)).min(text.len())
}

/// The JSON source's message handler: the points by exact topic and the wildcard ones.
pub struct JsonHandler {
    source: String,
    points: Vec<(u32, JsonPoint)>,
    exact: HashMap<String, Vec<usize>>,
    wildcard: Vec<usize>,
    counters: Arc<SourceCounters>,
}

impl JsonHandler {
    /// A handler for `points` (signal, point) of source `source`.
    pub fn new(source: &str, points: Vec<(u32, JsonPoint)>, counters: Arc<SourceCounters>) -> Self {
        let mut exact: HashMap<String, Vec<usize>> = HashMap::new();
        let mut wildcard = Vec::new();
        for (i, (_, p)) in points.iter().enumerate() {
            if p.topic.contains(['+', '#']) {
                wildcard.push(i);
            } else {
                exact.entry(p.topic.clone()).or_default().push(i);
            }
        }
        JsonHandler { source: source.to_string(), points, exact, wildcard, counters }
    }

    /// The samples of one message (what [`super::Handler::on_message`] does, without a client).
    pub fn samples(&self, topic: &str, payload: &[u8], out: &mut SampleBatch) {
        let matching: Vec<usize> = self
            .exact
            .get(topic)
            .into_iter()
            .flatten()
            .copied()
            .chain(self.wildcard.iter().copied().filter(|&i| topic_matches(&self.points[i].1.topic, topic)))
            .collect();
        if matching.is_empty() {
            return;
        }
        let doc: serde_json::Value = match serde_json::from_slice(payload) {
            Ok(d) => d,
            Err(e) => {
                self.counters.count_error(ErrorReason::MalformedPayload);
                tracing::warn!(
                    source = %self.source,
                    %topic,
                    "payload is not JSON at byte offset {}: {e}",
                    offset_of(payload, e.line(), e.column())
                );
                return;
            }
        };
        let now = SystemTime::now();
        for i in matching {
            let (signal, p) = &self.points[i];
            let Some(v) = doc.pointer(&p.value) else {
                self.counters.count_error(ErrorReason::MissingField);
                tracing::warn!(source = %self.source, %topic, pointer = %p.value, "the payload has no such field");
                continue;
            };
            let Some(value) = value_of(v) else {
                self.counters.count_error(ErrorReason::WrongType);
                tracing::warn!(source = %self.source, %topic, pointer = %p.value, "field is an object or array, not a value");
                continue;
            };
            let source_time = match &p.time {
                None => None,
                Some(tp) => match doc.pointer(tp).map(time_of) {
                    Some(Some(t)) => Some(t),
                    found => {
                        self.counters.count_error(ErrorReason::MissingField);
                        let what = if found.is_none() { "no such field" } else { "not a timestamp" };
                        tracing::warn!(source = %self.source, %topic, pointer = %tp, "timestamp field: {what}; the value is kept with the time of arrival");
                        None
                    }
                },
            };
            out.push(Sample {
                signal: *signal,
                value,
                source_time: source_time.or(Some(now)),
                server_time: Some(now),
                quality: Quality::GOOD,
                historical: false,
            });
        }
    }
}

impl super::Handler for JsonHandler {
    fn subscriptions(&self) -> Vec<(String, QoS)> {
        let mut filters: Vec<String> = self.points.iter().map(|(_, p)| p.topic.clone()).collect();
        filters.sort();
        filters.dedup();
        filters.into_iter().map(|f| (f, QoS::AtLeastOnce)).collect()
    }

    fn on_message(&mut self, topic: &str, payload: &[u8], _client: &AsyncClient, out: &mut SampleBatch) {
        self.samples(topic, payload, out);
    }
}

/// The handler behind a connected source: empty until [`MqttJsonSource::subscribe`] gives it its points.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Option<JsonHandler>>>);

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<JsonHandler>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl super::Handler for Shared {
    fn subscriptions(&self) -> Vec<(String, QoS)> {
        self.lock().as_ref().map(super::Handler::subscriptions).unwrap_or_default()
    }

    fn on_message(&mut self, topic: &str, payload: &[u8], _client: &AsyncClient, out: &mut SampleBatch) {
        if let Some(h) = self.lock().as_ref() {
            h.samples(topic, payload, out);
        }
    }
}

/// A connected MQTT JSON source.
pub struct MqttJsonSource {
    name: String,
    link: super::MqttLink,
    handler: Shared,
    counters: Arc<SourceCounters>,
}

impl MqttJsonSource {
    /// Connects to the broker (failing at start when it cannot); values flow once subscribed.
    pub async fn connect(
        name: &str,
        settings: &super::MqttSettings,
        tx: mpsc::Sender<SampleBatch>,
    ) -> Result<MqttJsonSource, super::MqttError> {
        let counters = Arc::new(SourceCounters::default());
        let handler = Shared::default();
        let link = super::connect(settings, None, handler.clone(), tx, counters.clone()).await?;
        Ok(MqttJsonSource { name: name.to_string(), link, handler, counters })
    }

    /// Binds `addresses` (signal, address) and subscribes their topic filters; returns how many points
    /// and filters there are.
    pub fn subscribe(&self, addresses: &[(u32, String)]) -> Result<(usize, usize), AddressError> {
        let points =
            addresses.iter().map(|(s, a)| JsonPoint::parse(a).map(|p| (*s, p))).collect::<Result<Vec<_>, _>>()?;
        let n = points.len();
        let handler = JsonHandler::new(&self.name, points, self.counters.clone());
        let filters = super::Handler::subscriptions(&handler);
        *self.handler.lock() = Some(handler);
        for (filter, qos) in &filters {
            if let Err(e) = self.link.client().try_subscribe(filter.clone(), *qos) {
                tracing::warn!(source = %self.name, %filter, "MQTT subscribe request not queued: {e}");
            }
        }
        Ok((n, filters.len()))
    }

    pub fn counters(&self) -> Arc<SourceCounters> {
        self.counters.clone()
    }

    pub async fn close(&self) {
        self.link.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_and_explain_what_is_wrong() {
        let p = JsonPoint::parse("topic=plant/paint/+/vib; value=/rms; time=/ts").unwrap();
        assert_eq!(p, JsonPoint { topic: "plant/paint/+/vib".into(), value: "/rms".into(), time: Some("/ts".into()) });
        assert_eq!(JsonPoint::parse("topic=a/b").unwrap().value, "");
        for (bad, says) in [
            ("value=/x", "topic= is missing"),
            ("topic=a/#/b", "not a valid MQTT topic filter"),
            ("topic=a;value=x", "not a JSON pointer"),
            ("topic=a;unit=C", "unknown key"),
            ("topic=a;topic=b", "given twice"),
            ("topic", "not key=value"),
        ] {
            let e = JsonPoint::parse(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn filters_match_like_a_broker() {
        assert!(topic_matches("a/+/c", "a/b/c"));
        assert!(!topic_matches("a/+/c", "a/b/d"));
        assert!(topic_matches("a/#", "a/b/c"));
        assert!(topic_matches("a/#", "a"));
        assert!(!topic_matches("#", "$SYS/x"));
        assert!(!topic_matches("a/b", "a/b/c"));
    }

    #[test]
    fn timestamps_in_seconds_milliseconds_and_rfc3339() {
        let ms = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap().as_millis();
        assert_eq!(ms(time_of(&serde_json::json!(1_700_000_000.5)).unwrap()), 1_700_000_000_500);
        assert_eq!(ms(time_of(&serde_json::json!(1_700_000_000_123u64)).unwrap()), 1_700_000_000_123);
        assert_eq!(ms(time_of(&serde_json::json!("2023-11-14T22:13:20.25Z")).unwrap()), 1_700_000_000_250);
        assert_eq!(time_of(&serde_json::json!("yesterday")), None);
        assert_eq!(time_of(&serde_json::json!(-1)), None);
    }

    #[test]
    fn one_message_feeds_every_matching_binding_and_bad_ones_are_counted() {
        let counters = Arc::new(SourceCounters::default());
        let pts = vec![
            (0, JsonPoint::parse("topic=s/oven1;value=/temp;time=/ts").unwrap()),
            (1, JsonPoint::parse("topic=s/+;value=/rms").unwrap()),
            (2, JsonPoint::parse("topic=s/oven1;value=/missing").unwrap()),
            (3, JsonPoint::parse("topic=s/oven1;value=/xyz").unwrap()),
        ];
        let h = JsonHandler::new("sensors", pts, counters.clone());
        let mut out = Vec::new();
        h.samples("s/oven1", br#"{"temp": 181.5, "rms": 2, "ts": 1700000000000, "xyz": [1, 2, 3]}"#, &mut out);
        let got: Vec<(u32, Value)> = out.iter().map(|s| (s.signal, s.value.clone())).collect();
        assert_eq!(got, vec![(0, Value::F64(181.5)), (3, Value::Vec3([1.0, 2.0, 3.0])), (1, Value::I64(2))]);
        assert_eq!(out[0].source_time, Some(UNIX_EPOCH + Duration::from_millis(1_700_000_000_000)));
        assert_eq!(counters.errors(ErrorReason::MissingField), 1);
        out.clear();
        h.samples("s/oven1", b"{\"temp\": 18", &mut out);
        assert!(out.is_empty());
        assert_eq!(counters.errors(ErrorReason::MalformedPayload), 1);
        h.samples("other/topic", b"not json at all", &mut out);
        assert_eq!(counters.errors(ErrorReason::MalformedPayload), 1, "no binding: not even parsed");
    }

    #[test]
    fn syntax_error_offsets_count_bytes_over_lines() {
        assert_eq!(offset_of(b"{\n  \"a\": x}", 2, 8), 9);
        assert_eq!(offset_of(b"{\"a\": x}", 1, 7), 6);
    }
}
