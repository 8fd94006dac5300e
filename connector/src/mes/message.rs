//! MES messages: the B2MML-JSON-shaped envelope and its three kinds (job order, operations event,
//! material actual), parsed from JSON with errors that name the message and the JSON pointer of the
//! field at fault. One payload holds one message object or an array of them (docs/mes.md).

use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

/// Why a message was not applied (a label value of `twinloom_mes_messages_total{outcome=…}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The payload is not JSON.
    MalformedJson,
    /// A required field is missing.
    MissingField,
    /// A field (or the payload, or a message) has the wrong JSON type.
    WrongType,
    /// A field has the right type but a value that cannot be used (an unknown event, a bad timestamp,
    /// an empty id, a quantity that is not a finite number).
    InvalidValue,
    /// `messageType` is none of the known kinds.
    UnknownMessageType,
    /// A message with this `messageId` was applied already.
    Duplicate,
    /// A station event older than the last one applied to the car.
    OutOfOrder,
    /// A station event or material actual for a VIN with no job order.
    UnknownVin,
    /// The equipment id maps to no station (only with `unmapped_stations = "reject"`).
    UnknownStation,
    /// A message for a car that has left its shop (or a job order older than its leaving).
    FinishedVin,
    /// The stage layer refused an edit (the WIP state is kept; the layer catches up on the next edit).
    StageError,
}

impl Reason {
    /// Every reason, in a fixed order.
    pub const ALL: [Reason; 11] = [
        Reason::MalformedJson,
        Reason::MissingField,
        Reason::WrongType,
        Reason::InvalidValue,
        Reason::UnknownMessageType,
        Reason::Duplicate,
        Reason::OutOfOrder,
        Reason::UnknownVin,
        Reason::UnknownStation,
        Reason::FinishedVin,
        Reason::StageError,
    ];

    /// The label used in metrics and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::MalformedJson => "malformed_json",
            Reason::MissingField => "missing_field",
            Reason::WrongType => "wrong_type",
            Reason::InvalidValue => "invalid_value",
            Reason::UnknownMessageType => "unknown_message_type",
            Reason::Duplicate => "duplicate",
            Reason::OutOfOrder => "out_of_order",
            Reason::UnknownVin => "unknown_vin",
            Reason::UnknownStation => "unknown_station",
            Reason::FinishedVin => "finished_vin",
            Reason::StageError => "stage_error",
        }
    }

    pub(crate) fn index(self) -> usize {
        Self::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One message that was not applied: why, which message (its id when it had one, its index in the
/// payload), the JSON pointer of the field at fault when there is one, and what exactly.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rejection {
    pub reason: Reason,
    /// Where the payload came from: `http` or the MQTT topic.
    pub origin: String,
    pub message_id: Option<String>,
    /// Index of the message in the payload (0 for a single object; none when the payload is not JSON).
    pub index: Option<usize>,
    /// RFC 6901 pointer into the payload, e.g. `/3/VIN`.
    pub pointer: Option<String>,
    pub detail: String,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MES {} ({}", self.reason, self.origin)?;
        if let Some(id) = &self.message_id {
            write!(f, ", message {id:?}")?;
        }
        if let Some(i) = self.index {
            write!(f, ", #{i}")?;
        }
        if let Some(p) = &self.pointer {
            write!(f, ", at {p}")?;
        }
        write!(f, "): {}", self.detail)
    }
}

/// A field problem found while parsing one message.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    pub reason: Reason,
    pub message_id: Option<String>,
    pub pointer: String,
    pub detail: String,
}

/// A parsed message: envelope and body.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// `messageId`: unique per message; a second message with the same id is a duplicate.
    pub id: String,
    /// `timestamp`, in milliseconds since 1970-01-01 UTC.
    pub at_ms: i64,
    pub body: Body,
}

/// What a message says.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    JobOrder(JobOrder),
    Operations(OperationsEvent),
    Material(MaterialActual),
}

/// `messageType: "JobOrder"`: a car is released to a shop's build sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct JobOrder {
    /// `ID`
    pub order_id: String,
    /// `VIN`
    pub vin: String,
    /// `WorkMasterID`
    pub model: String,
    /// `Variant` (default empty)
    pub variant: String,
    /// `Options` (default none)
    pub options: Vec<String>,
    /// `Sequence` (default 0)
    pub sequence: i64,
    /// `HierarchyScope` (`"Assembly"` or `{"EquipmentID": "Assembly"}`): the shop; the config's
    /// `default_shop` when absent.
    pub scope: Option<String>,
}

/// What happened at a station.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Entered,
    Left,
    Completed,
    LeftShop,
}

impl EventKind {
    pub const ALL: [EventKind; 4] = [EventKind::Entered, EventKind::Left, EventKind::Completed, EventKind::LeftShop];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Entered => "entered",
            EventKind::Left => "left",
            EventKind::Completed => "completed",
            EventKind::LeftShop => "leftShop",
        }
    }
}

/// `messageType: "OperationsEvent"` (or `"SegmentResponse"`): a car entered or left a station, work
/// was done on it, or it left the shop.
#[derive(Debug, Clone, PartialEq)]
pub struct OperationsEvent {
    /// `VIN`
    pub vin: String,
    /// `EquipmentID`: the station (required except for `leftShop`).
    pub equipment: Option<String>,
    /// `Event`
    pub event: EventKind,
    /// `ProcessSegmentID` (default empty)
    pub operation: String,
    /// `Result` (default empty)
    pub result: String,
}

/// `messageType: "MaterialActual"`: a part or lot went into a car at a station.
#[derive(Debug, Clone, PartialEq)]
pub struct MaterialActual {
    /// `VIN`
    pub vin: String,
    /// `EquipmentID`
    pub equipment: String,
    /// `MaterialDefinitionID`
    pub part: String,
    /// `MaterialLotID` (default empty)
    pub lot: String,
    /// `MaterialSubLotID` (default empty): the part's serial number.
    pub serial: String,
    /// `Quantity` (a number, or `{"QuantityString": "2", "UnitOfMeasure": "EA"}`; default 1)
    pub quantity: f64,
    /// `Quantity.UnitOfMeasure` (default empty)
    pub unit: String,
}

impl Message {
    /// The VIN the message is about.
    pub fn vin(&self) -> &str {
        match &self.body {
            Body::JobOrder(o) => &o.vin,
            Body::Operations(e) => &e.vin,
            Body::Material(m) => &m.vin,
        }
    }
}

/// The messages of one payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Payload {
    /// Whether the payload was an array (message pointers are `/<index>/…`) or one object (`/…`).
    pub array: bool,
    /// Each parsed message or its problem, in payload order.
    pub messages: Vec<Result<Message, ParseError>>,
}

impl Payload {
    /// The JSON pointer of message `index`.
    pub fn base(&self, index: usize) -> String {
        if self.array {
            format!("/{index}")
        } else {
            String::new()
        }
    }
}

/// Parses one payload: a message object or an array of them. A payload that is not JSON, or neither an
/// object nor an array, is one problem.
pub fn parse_payload(payload: &[u8]) -> Result<Payload, ParseError> {
    let value: Value = serde_json::from_slice(payload).map_err(|e| ParseError {
        reason: Reason::MalformedJson,
        message_id: None,
        pointer: String::new(),
        detail: format!("the payload is not JSON: {e}"),
    })?;
    match value {
        Value::Array(items) => Ok(Payload {
            array: true,
            messages: items.iter().enumerate().map(|(i, item)| parse_message(item, &format!("/{i}"))).collect(),
        }),
        Value::Object(_) => Ok(Payload { array: false, messages: vec![parse_message(&value, "")] }),
        other => Err(ParseError {
            reason: Reason::WrongType,
            message_id: None,
            pointer: String::new(),
            detail: format!("the payload must be a message object or an array of them, not {}", kind(&other)),
        }),
    }
}

/// One message object at `base` (the JSON pointer of the object in its payload).
pub fn parse_message(value: &Value, base: &str) -> Result<Message, ParseError> {
    let Some(obj) = value.as_object() else {
        return Err(ParseError {
            reason: Reason::WrongType,
            message_id: None,
            pointer: base.to_string(),
            detail: format!("a message must be a JSON object, not {}", kind(value)),
        });
    };
    // The id first, so that every later problem names it.
    let mut f = Fields { obj, base, id: None };
    let id = f.string("messageId")?;
    if id.is_empty() {
        return Err(f.error(Reason::InvalidValue, "messageId", "messageId is empty".into()));
    }
    f.id = Some(id.clone());
    let message_type = f.string("messageType")?;
    let at_ms = f.timestamp("timestamp")?;
    let body = match message_type.as_str() {
        "JobOrder" => Body::JobOrder(JobOrder {
            order_id: f.nonempty("ID")?,
            vin: f.nonempty("VIN")?,
            model: f.string("WorkMasterID")?,
            variant: f.opt_string("Variant")?.unwrap_or_default(),
            options: f.opt_strings("Options")?,
            sequence: f.opt_i64("Sequence")?.unwrap_or(0),
            scope: f.scope("HierarchyScope")?,
        }),
        "OperationsEvent" | "SegmentResponse" => {
            let event_text = f.string("Event")?;
            let Some(event) = EventKind::ALL.into_iter().find(|e| e.as_str() == event_text) else {
                return Err(f.error(
                    Reason::InvalidValue,
                    "Event",
                    format!("Event {event_text:?} is not one of entered, left, completed, leftShop"),
                ));
            };
            let equipment = f.opt_string("EquipmentID")?.filter(|e| !e.is_empty());
            if equipment.is_none() && event != EventKind::LeftShop {
                return Err(f.error(
                    Reason::MissingField,
                    "EquipmentID",
                    format!("missing field EquipmentID (the station of a {event_text:?} event)"),
                ));
            }
            Body::Operations(OperationsEvent {
                vin: f.nonempty("VIN")?,
                equipment,
                event,
                operation: f.opt_string("ProcessSegmentID")?.unwrap_or_default(),
                result: f.opt_string("Result")?.unwrap_or_default(),
            })
        }
        "MaterialActual" => {
            let (quantity, unit) = f.quantity("Quantity")?;
            Body::Material(MaterialActual {
                vin: f.nonempty("VIN")?,
                equipment: f.nonempty("EquipmentID")?,
                part: f.nonempty("MaterialDefinitionID")?,
                lot: f.opt_string("MaterialLotID")?.unwrap_or_default(),
                serial: f.opt_string("MaterialSubLotID")?.unwrap_or_default(),
                quantity,
                unit,
            })
        }
        other => {
            return Err(f.error(
                Reason::UnknownMessageType,
                "messageType",
                format!(
                    "messageType {other:?} is not one of JobOrder, OperationsEvent, SegmentResponse, MaterialActual"
                ),
            ))
        }
    };
    Ok(Message { id, at_ms, body })
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Typed field reads of one message object.
struct Fields<'a> {
    obj: &'a Map<String, Value>,
    base: &'a str,
    id: Option<String>,
}

impl Fields<'_> {
    fn error(&self, reason: Reason, field: &str, detail: String) -> ParseError {
        ParseError { reason, message_id: self.id.clone(), pointer: format!("{}/{field}", self.base), detail }
    }

    fn wrong(&self, field: &str, want: &str, got: &Value) -> ParseError {
        self.error(Reason::WrongType, field, format!("{field} must be {want}, not {}", kind(got)))
    }

    fn get(&self, field: &str) -> Option<&Value> {
        self.obj.get(field).filter(|v| !v.is_null())
    }

    fn required(&self, field: &str) -> Result<&Value, ParseError> {
        self.get(field).ok_or_else(|| self.error(Reason::MissingField, field, format!("missing field {field}")))
    }

    fn string(&self, field: &str) -> Result<String, ParseError> {
        let v = self.required(field)?;
        v.as_str().map(str::to_string).ok_or_else(|| self.wrong(field, "a string", v))
    }

    fn nonempty(&self, field: &str) -> Result<String, ParseError> {
        let s = self.string(field)?;
        if s.trim().is_empty() {
            return Err(self.error(Reason::InvalidValue, field, format!("{field} is empty")));
        }
        Ok(s)
    }

    fn opt_string(&self, field: &str) -> Result<Option<String>, ParseError> {
        match self.get(field) {
            None => Ok(None),
            Some(v) => v.as_str().map(|s| Some(s.to_string())).ok_or_else(|| self.wrong(field, "a string", v)),
        }
    }

    fn opt_strings(&self, field: &str) -> Result<Vec<String>, ParseError> {
        let Some(v) = self.get(field) else { return Ok(Vec::new()) };
        let Some(items) = v.as_array() else { return Err(self.wrong(field, "an array of strings", v)) };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                item.as_str().map(str::to_string).ok_or_else(|| self.wrong(&format!("{field}/{i}"), "a string", item))
            })
            .collect()
    }

    fn opt_i64(&self, field: &str) -> Result<Option<i64>, ParseError> {
        match self.get(field) {
            None => Ok(None),
            Some(v) => v.as_i64().map(Some).ok_or_else(|| self.wrong(field, "an integer", v)),
        }
    }

    /// `"Assembly"` or `{"EquipmentID": "Assembly", …}`.
    fn scope(&self, field: &str) -> Result<Option<String>, ParseError> {
        let Some(v) = self.get(field) else { return Ok(None) };
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Object(o) => match o.get("EquipmentID") {
                Some(Value::String(s)) => s.clone(),
                Some(other) => return Err(self.wrong(&format!("{field}/EquipmentID"), "a string", other)),
                None => {
                    return Err(self.error(
                        Reason::MissingField,
                        &format!("{field}/EquipmentID"),
                        format!("missing field {field}.EquipmentID"),
                    ))
                }
            },
            other => return Err(self.wrong(field, "a string or an object with EquipmentID", other)),
        };
        Ok(Some(text).filter(|s| !s.trim().is_empty()))
    }

    /// A number, or `{"QuantityString": "2" | 2, "UnitOfMeasure": "EA"}`; 1 with no unit when absent.
    fn quantity(&self, field: &str) -> Result<(f64, String), ParseError> {
        let Some(v) = self.get(field) else { return Ok((1.0, String::new())) };
        let (q, unit) = match v {
            Value::Number(n) => (n.as_f64(), String::new()),
            Value::Object(o) => {
                let key = format!("{field}/QuantityString");
                let q = match o.get("QuantityString") {
                    Some(Value::String(s)) => Some(s.trim().parse::<f64>().map_err(|_| {
                        self.error(Reason::InvalidValue, &key, format!("{field}.QuantityString {s:?} is not a number"))
                    })?),
                    Some(Value::Number(n)) => n.as_f64(),
                    Some(other) => return Err(self.wrong(&key, "a number or a numeric string", other)),
                    None => {
                        return Err(self.error(
                            Reason::MissingField,
                            &key,
                            format!("missing field {field}.QuantityString"),
                        ))
                    }
                };
                let unit = match o.get("UnitOfMeasure") {
                    None | Some(Value::Null) => String::new(),
                    Some(Value::String(s)) => s.clone(),
                    Some(other) => return Err(self.wrong(&format!("{field}/UnitOfMeasure"), "a string", other)),
                };
                (q, unit)
            }
            other => return Err(self.wrong(field, "a number or an object with QuantityString", other)),
        };
        match q {
            Some(q) if q.is_finite() => Ok((q, unit)),
            _ => Err(self.error(Reason::InvalidValue, field, format!("{field} is not a finite number"))),
        }
    }

    /// RFC 3339 text (`2025-11-25T20:00:00.250Z`, `…+01:00`) or a number of epoch milliseconds.
    fn timestamp(&self, field: &str) -> Result<i64, ParseError> {
        let v = self.required(field)?;
        match v {
            Value::Number(n) => match n.as_i64().or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64)) {
                Some(ms) if ms >= 0 => Ok(ms),
                _ => Err(self.error(Reason::InvalidValue, field, format!("{field} {n} is not epoch milliseconds"))),
            },
            Value::String(s) => parse_rfc3339_ms(s).ok_or_else(|| {
                self.error(
                    Reason::InvalidValue,
                    field,
                    format!("{field} {s:?} is not an RFC 3339 time like 2025-11-25T20:00:00.250Z"),
                )
            }),
            other => Err(self.wrong(field, "an RFC 3339 string or epoch milliseconds", other)),
        }
    }
}

/// Milliseconds since 1970-01-01 UTC of an RFC 3339 date-time (`T` or a space between date and time,
/// fractions of a second cut to milliseconds, `Z` or `±HH:MM`).
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(r)?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut i = 19;
    let mut millis = 0i64;
    if b[i] == b'.' {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
        let frac = &s[start..i.min(start + 3)];
        millis = frac.parse::<i64>().ok()? * 10i64.pow(3 - frac.len() as u32);
    }
    let offset_min = match b.get(i..)? {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digits = [*h1, *h2, *m1, *m2];
            if !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let d = |x: u8| i64::from(x - b'0');
            let (h, m) = (d(digits[0]) * 10 + d(digits[1]), d(digits[2]) * 10 + d(digits[3]));
            if h > 23 || m > 59 {
                return None;
            }
            if *sign == b'-' {
                -(h * 60 + m)
            } else {
                h * 60 + m
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second.min(59) - offset_min * 60;
    Some(secs * 1000 + millis)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339_ms("2025-11-25T20:00:00.250Z"), Some(1_764_100_800_250));
        assert_eq!(parse_rfc3339_ms("2025-11-25T21:00:00.25+01:00"), Some(1_764_100_800_250));
        assert_eq!(parse_rfc3339_ms("2025-11-25 19:30:00.123456-00:30"), Some(1_764_100_800_123));
        assert_eq!(parse_rfc3339_ms("2024-02-29T00:00:00Z"), Some(1_709_164_800_000));
        for bad in ["2025-02-29T00:00:00Z", "2025-11-25T20:00:00", "2025-11-25", "2025-13-01T00:00:00Z", "x", ""] {
            assert_eq!(parse_rfc3339_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn messages_parse_with_defaults() {
        let p = br#"[{"messageId":"a","messageType":"JobOrder","timestamp":5,"ID":"O1","VIN":"V1","WorkMasterID":"M",
            "HierarchyScope":{"EquipmentID":"Assembly"},"Options":["X"]},
           {"messageId":"b","messageType":"SegmentResponse","timestamp":"1970-01-01T00:00:01Z","VIN":"V1","Event":"leftShop"},
           {"messageId":"c","messageType":"MaterialActual","timestamp":7,"VIN":"V1","EquipmentID":"S1",
            "MaterialDefinitionID":"P","Quantity":{"QuantityString":"4","UnitOfMeasure":"EA"}}]"#;
        let msgs: Vec<Message> = parse_payload(p).unwrap().messages.into_iter().map(Result::unwrap).collect();
        let Body::JobOrder(o) = &msgs[0].body else { panic!() };
        assert_eq!((o.scope.as_deref(), o.sequence, o.options.len(), o.variant.as_str()), (Some("Assembly"), 0, 1, ""));
        assert_eq!(msgs[1].at_ms, 1000);
        let Body::Operations(e) = &msgs[1].body else { panic!() };
        assert_eq!((e.event, e.equipment.as_deref()), (EventKind::LeftShop, None));
        let Body::Material(m) = &msgs[2].body else { panic!() };
        assert_eq!((m.quantity, m.unit.as_str(), m.lot.as_str()), (4.0, "EA", ""));
    }

    #[test]
    fn problems_name_the_message_and_the_field() {
        let all = parse_payload(
            br#"[{"messageId":"m1","messageType":"JobOrder","timestamp":1,"VIN":"V"},
                 {"messageId":"m2","messageType":"OperationsEvent","timestamp":1,"VIN":"V","Event":"entered","EquipmentID":7},
                 {"messageId":"m3","messageType":"Nope","timestamp":1},
                 {"messageType":"JobOrder"},
                 {"messageId":"m5","messageType":"OperationsEvent","timestamp":"yesterday"},
                 {"messageId":"m6","messageType":"OperationsEvent","timestamp":1,"VIN":"V","Event":"entered"},
                 {"messageId":"m7","messageType":"JobOrder","timestamp":1,"ID":"O","VIN":"V","WorkMasterID":"M","Options":["a",2]},
                 3]"#,
        )
        .unwrap();
        let errs: Vec<(Reason, Option<&str>, &str)> = all
            .messages
            .iter()
            .map(|r| {
                let e = r.as_ref().unwrap_err();
                (e.reason, e.message_id.as_deref(), e.pointer.as_str())
            })
            .collect();
        assert_eq!(
            errs,
            [
                (Reason::MissingField, Some("m1"), "/0/ID"),
                (Reason::WrongType, Some("m2"), "/1/EquipmentID"),
                (Reason::UnknownMessageType, Some("m3"), "/2/messageType"),
                (Reason::MissingField, None, "/3/messageId"),
                (Reason::InvalidValue, Some("m5"), "/4/timestamp"),
                (Reason::MissingField, Some("m6"), "/5/EquipmentID"),
                (Reason::WrongType, Some("m7"), "/6/Options/1"),
                (Reason::WrongType, None, "/7"),
            ]
        );
        assert_eq!(parse_payload(b"{").unwrap_err().reason, Reason::MalformedJson);
        assert_eq!(parse_payload(b"42").unwrap_err().reason, Reason::WrongType);
        let single = parse_payload(br#"{"messageId":"s","messageType":"JobOrder","timestamp":1}"#).unwrap();
        assert_eq!(single.messages[0].as_ref().unwrap_err().pointer, "/ID");
        assert!(!single.array && single.base(0).is_empty());
    }

    #[test]
    fn reasons_have_distinct_labels() {
        let mut labels: Vec<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), Reason::ALL.len());
        assert_eq!(serde_json::to_value(Reason::OutOfOrder).unwrap(), "out_of_order");
    }
}
