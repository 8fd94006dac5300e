//! The Modbus register map: a binding's `node` address (`unit=1;holding=4;type=f32;order=CDAB;poll_ms=500`,
//! docs/modbus.md) parsed into a [`Point`], decoding a point from the words or bits read, and the read
//! plan: points grouped by unit, table and poll interval, contiguous ranges merged into as few requests as
//! Modbus allows (125 registers, 2000 bits), and overlapping points refused.

use std::collections::BTreeMap;
use std::fmt;

use crate::sample::Value;

/// Most registers one read request may ask for.
pub const MAX_REGISTERS: u16 = 125;
/// Most coils or discrete inputs one read request may ask for.
pub const MAX_BITS: u16 = 2000;

/// The four Modbus data tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    Coil,
    Discrete,
    Input,
    Holding,
}

impl Table {
    pub fn as_str(self) -> &'static str {
        match self {
            Table::Coil => "coil",
            Table::Discrete => "discrete",
            Table::Input => "input",
            Table::Holding => "holding",
        }
    }

    fn is_bits(self) -> bool {
        matches!(self, Table::Coil | Table::Discrete)
    }
}

/// How a point's registers are read as a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    U16,
    I16,
    U32,
    I32,
    F32,
    F64,
    /// One bit (0 = least significant) of a register.
    Bit(u8),
    /// A coil or discrete input.
    Bool,
}

impl Kind {
    /// Registers (or bits, for `Bool`) the point spans.
    pub fn width(self) -> u16 {
        match self {
            Kind::U16 | Kind::I16 | Kind::Bit(_) | Kind::Bool => 1,
            Kind::U32 | Kind::I32 | Kind::F32 => 2,
            Kind::F64 => 4,
        }
    }
}

/// Word and byte order of a multi-register value: `ABCD` (high word first, high byte first: Modbus's own
/// order), `CDAB` (low word first), `BADC` (bytes swapped in each word), `DCBA` (both).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Order {
    pub low_word_first: bool,
    pub bytes_swapped: bool,
}

/// One bound value: where it is and how to read it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub unit: u8,
    pub table: Table,
    pub address: u16,
    pub kind: Kind,
    pub order: Order,
    pub poll_ms: u64,
}

/// Why an address does not parse.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("Modbus address {address:?}: {message}")]
pub struct AddressError {
    pub address: String,
    pub message: String,
}

impl Point {
    /// Parses a binding's `node`; `default_poll_ms` applies without `poll_ms`.
    pub fn parse(text: &str, default_poll_ms: u64) -> Result<Point, AddressError> {
        let err = |message: String| AddressError { address: text.to_string(), message };
        let (mut unit, mut table, mut kind, mut bit, mut order, mut poll_ms) = (1u8, None, None, None, None, None);
        for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part.split_once('=').ok_or_else(|| err(format!("`{part}` is not key=value")))?;
            let (key, value) = (key.trim(), value.trim());
            let number = |max: u64| {
                value
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n <= max)
                    .ok_or_else(|| err(format!("{key} = {value:?} must be a whole number 0..={max}")))
            };
            match key {
                "unit" => unit = number(255)? as u8,
                "holding" | "input" | "coil" | "discrete" => {
                    if table.is_some() {
                        return Err(err("give one of holding=, input=, coil=, discrete=".into()));
                    }
                    let t = match key {
                        "holding" => Table::Holding,
                        "input" => Table::Input,
                        "coil" => Table::Coil,
                        _ => Table::Discrete,
                    };
                    table = Some((t, number(65535)? as u16));
                }
                "type" => {
                    kind = Some(match value {
                        "u16" => Kind::U16,
                        "i16" => Kind::I16,
                        "u32" => Kind::U32,
                        "i32" => Kind::I32,
                        "f32" => Kind::F32,
                        "f64" => Kind::F64,
                        _ => return Err(err(format!("type {value:?} is not one of u16, i16, u32, i32, f32, f64"))),
                    })
                }
                "bit" => bit = Some(number(15)? as u8),
                "order" => {
                    order = Some(match value {
                        "ABCD" => Order { low_word_first: false, bytes_swapped: false },
                        "CDAB" => Order { low_word_first: true, bytes_swapped: false },
                        "BADC" => Order { low_word_first: false, bytes_swapped: true },
                        "DCBA" => Order { low_word_first: true, bytes_swapped: true },
                        _ => return Err(err(format!("order {value:?} is not one of ABCD, CDAB, BADC, DCBA"))),
                    })
                }
                "poll_ms" => poll_ms = Some(number(3_600_000)?.max(1)),
                _ => {
                    return Err(err(format!(
                        "unknown key {key:?} (keys: unit, holding, input, coil, discrete, type, bit, order, poll_ms)"
                    )))
                }
            }
        }
        let (table, address) =
            table.ok_or_else(|| err("no table: give holding=, input=, coil= or discrete=".into()))?;
        let kind = match (table.is_bits(), kind, bit) {
            (true, None, None) => Kind::Bool,
            (true, _, _) => return Err(err(format!("a {} is one bit: no type= or bit=", table.as_str()))),
            (false, Some(_), Some(_)) => return Err(err("give type= or bit=, not both".into())),
            (false, _, Some(b)) => Kind::Bit(b),
            (false, k, None) => k.unwrap_or(Kind::U16),
        };
        if order.is_some() && kind.width() == 1 {
            return Err(err("order= applies to 32- and 64-bit types only".into()));
        }
        if u32::from(address) + u32::from(kind.width()) > 65536 {
            return Err(err(format!("{} registers from {address} run past 65535", kind.width())));
        }
        Ok(Point {
            unit,
            table,
            address,
            kind,
            order: order.unwrap_or_default(),
            poll_ms: poll_ms.unwrap_or(default_poll_ms),
        })
    }

    /// The last address the point covers.
    pub fn end(&self) -> u16 {
        self.address + self.kind.width() - 1
    }

    /// Decodes the point from `words` (its registers, in address order).
    pub fn decode_words(&self, words: &[u16]) -> Value {
        let swap = |w: u16| if self.order.bytes_swapped { w.swap_bytes() } else { w };
        let mut w: Vec<u16> = words.iter().map(|&x| swap(x)).collect();
        if self.order.low_word_first {
            w.reverse();
        }
        let wide = |n: usize| w.iter().take(n).fold(0u64, |acc, &x| (acc << 16) | u64::from(x));
        match self.kind {
            Kind::U16 => Value::I64(i64::from(w[0])),
            Kind::I16 => Value::I64(i64::from(w[0] as i16)),
            Kind::U32 => Value::I64(wide(2) as i64),
            Kind::I32 => Value::I64(i64::from(wide(2) as u32 as i32)),
            Kind::F32 => Value::F64(f64::from(f32::from_bits(wide(2) as u32))),
            Kind::F64 => Value::F64(f64::from_bits(wide(4))),
            Kind::Bit(b) => Value::Bool(words[0] >> b & 1 == 1),
            Kind::Bool => Value::Bool(words[0] != 0),
        }
    }
}

impl Point {
    /// The registers that hold `x` at this point (the inverse of [`Point::decode_words`]), or why `x` does
    /// not fit: a fraction or an out-of-range number for an integer type. Bits and booleans have no words.
    pub fn encode_words(&self, x: f64) -> Result<Vec<u16>, String> {
        let int = |lo: f64, hi: f64| {
            if x.fract() == 0.0 && (lo..=hi).contains(&x) {
                Ok(x)
            } else {
                Err(format!("{x} is not a whole number in {lo}..={hi}"))
            }
        };
        let split = |bits: u64, n: usize| -> Vec<u16> { (0..n).rev().map(|k| (bits >> (16 * k)) as u16).collect() };
        let mut w = match self.kind {
            Kind::U16 => vec![int(0.0, 65535.0)? as u16],
            Kind::I16 => vec![int(-32768.0, 32767.0)? as i16 as u16],
            Kind::U32 => split(int(0.0, 4_294_967_295.0)? as u64, 2),
            Kind::I32 => split(u64::from(int(-2_147_483_648.0, 2_147_483_647.0)? as i32 as u32), 2),
            Kind::F32 if x.is_finite() && x.abs() > f64::from(f32::MAX) => {
                return Err(format!("{x} does not fit a 32-bit float"))
            }
            Kind::F32 => split(u64::from((x as f32).to_bits()), 2),
            Kind::F64 => split(x.to_bits(), 4),
            Kind::Bit(_) | Kind::Bool => return Err("a bit has no register words".into()),
        };
        if self.order.low_word_first {
            w.reverse();
        }
        if self.order.bytes_swapped {
            w.iter_mut().for_each(|x| *x = x.swap_bytes());
        }
        Ok(w)
    }
}

impl fmt::Display for Point {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unit {} {} {}", self.unit, self.table.as_str(), self.address)
    }
}

/// One read request: `count` registers (or bits) of `table` from `start`, and the points it feeds
/// (their signal handles and where they start in the answer).
#[derive(Debug, Clone, PartialEq)]
pub struct Read {
    pub unit: u8,
    pub table: Table,
    pub start: u16,
    pub count: u16,
    pub points: Vec<(u32, Point)>,
}

/// The reads of one poll interval.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub poll_ms: u64,
    pub reads: Vec<Read>,
}

/// Two points that cover the same register or bit.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{first} and {second} overlap: a register or bit is bound once")]
pub struct Overlap {
    pub first: String,
    pub second: String,
}

/// Plans the reads for `points` (signal handle, point): per poll interval, per unit and table, sorted by
/// address, contiguous points merged into reads of at most [`MAX_REGISTERS`] registers ([`MAX_BITS`]
/// bits). Two bit points of the same register are fine; any other overlap is refused.
pub fn plan(points: &[(u32, Point)]) -> Result<Vec<Group>, Overlap> {
    let mut by_key: BTreeMap<(u64, u8, Table), Vec<(u32, Point)>> = BTreeMap::new();
    for &(signal, p) in points {
        by_key.entry((p.poll_ms, p.unit, p.table)).or_default().push((signal, p));
    }
    let mut groups: BTreeMap<u64, Vec<Read>> = BTreeMap::new();
    for ((poll_ms, unit, table), mut pts) in by_key {
        pts.sort_by_key(|(_, p)| (p.address, p.end()));
        let limit = if table.is_bits() { MAX_BITS } else { MAX_REGISTERS };
        let mut reads: Vec<Read> = Vec::new();
        let mut prev: Option<Point> = None;
        for (signal, p) in pts {
            if let Some(q) = prev {
                let both_bits = matches!((q.kind, p.kind), (Kind::Bit(_), Kind::Bit(_))) && q.address == p.address;
                if p.address <= q.end() && !both_bits {
                    return Err(Overlap { first: q.to_string(), second: p.to_string() });
                }
            }
            prev = Some(p);
            match reads.last_mut() {
                Some(r)
                    if u32::from(p.address) <= u32::from(r.start) + u32::from(r.count)
                        && u32::from(p.end()) + 1 - u32::from(r.start) <= u32::from(limit) =>
                {
                    r.count = r.count.max(p.end() + 1 - r.start);
                    r.points.push((signal, p));
                }
                _ => {
                    reads.push(Read { unit, table, start: p.address, count: p.kind.width(), points: vec![(signal, p)] })
                }
            }
        }
        groups.entry(poll_ms).or_default().extend(reads);
    }
    Ok(groups.into_iter().map(|(poll_ms, reads)| Group { poll_ms, reads }).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Point {
        Point::parse(text, 1000).unwrap()
    }

    #[test]
    fn addresses_parse_and_name_their_problem() {
        let x = p("unit=2; holding=4; type=f32; order=CDAB; poll_ms=250");
        assert_eq!((x.unit, x.table, x.address, x.kind, x.poll_ms), (2, Table::Holding, 4, Kind::F32, 250));
        assert!(x.order.low_word_first && !x.order.bytes_swapped);
        assert_eq!(p("coil=7").kind, Kind::Bool);
        assert_eq!(p("input=3").kind, Kind::U16);
        assert_eq!(p("holding=12;bit=13").kind, Kind::Bit(13));
        for (bad, says) in [
            ("type=f32", "no table"),
            ("holding=1;input=2", "one of"),
            ("holding=70000", "0..=65535"),
            ("holding=1;type=f16", "not one of"),
            ("coil=1;type=u16", "one bit"),
            ("holding=1;bit=3;type=u16", "not both"),
            ("holding=1;order=CDAB", "32- and 64-bit"),
            ("holding=65534;type=f64", "run past"),
            ("holding=1;colour=red", "unknown key"),
            ("holding", "not key=value"),
        ] {
            let e = Point::parse(bad, 1000).unwrap_err();
            assert!(e.to_string().contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn values_decode_in_every_order() {
        // 230.5f32 = 0x43668000; 12345.678f64 = 0x40C81CD6C8B43958.
        let abcd = [0x4366, 0x8000];
        assert_eq!(p("holding=0;type=f32").decode_words(&abcd), Value::F64(230.5));
        assert_eq!(p("holding=0;type=f32;order=CDAB").decode_words(&[0x8000, 0x4366]), Value::F64(230.5));
        assert_eq!(p("holding=0;type=f32;order=BADC").decode_words(&[0x6643, 0x0080]), Value::F64(230.5));
        assert_eq!(p("holding=0;type=f32;order=DCBA").decode_words(&[0x0080, 0x6643]), Value::F64(230.5));
        let f64_words = [0x40C8, 0x1CD6, 0xC8B4, 0x3958];
        assert_eq!(p("holding=0;type=f64").decode_words(&f64_words), Value::F64(12345.678));
        assert_eq!(p("holding=0;type=u32").decode_words(&[0x0001, 0x86A0]), Value::I64(100000));
        assert_eq!(p("holding=0;type=i32").decode_words(&[0xFFFF, 0xFFFE]), Value::I64(-2));
        assert_eq!(p("holding=0;type=i16").decode_words(&[(-1234i16) as u16]), Value::I64(-1234));
        assert_eq!(p("holding=0").decode_words(&[65535]), Value::I64(65535));
        assert_eq!(p("holding=0;bit=15").decode_words(&[0b1010_0000_0000_0101]), Value::Bool(true));
        assert_eq!(p("holding=0;bit=1").decode_words(&[0b1010_0000_0000_0101]), Value::Bool(false));
    }

    #[test]
    fn encoding_is_the_inverse_of_decoding() {
        for (addr, x) in [
            ("holding=0", 65535.0),
            ("holding=0;type=i16", -1234.0),
            ("holding=0;type=u32", 100000.0),
            ("holding=0;type=i32;order=CDAB", -2.0),
            ("holding=0;type=f32;order=DCBA", 230.5),
            ("holding=0;type=f64;order=BADC", 12345.678),
        ] {
            let pt = p(addr);
            let words = pt.encode_words(x).unwrap();
            assert_eq!(words.len(), usize::from(pt.kind.width()), "{addr}");
            assert_eq!(pt.decode_words(&words).as_f64(), Some(x), "{addr}");
        }
        assert_eq!(p("holding=0;type=f32").encode_words(230.5).unwrap(), [0x4366, 0x8000]);
        assert!(p("holding=0").encode_words(2.5).unwrap_err().contains("whole number"));
        assert!(p("holding=0;type=i16").encode_words(40000.0).is_err());
        assert!(p("holding=0;type=f32").encode_words(1e300).unwrap_err().contains("32-bit float"));
    }

    #[test]
    fn contiguous_points_merge_and_overlaps_are_refused() {
        let pts: Vec<(u32, Point)> = [
            "holding=0",
            "holding=1;type=i16",
            "holding=2;type=u32",
            "holding=4;type=f32",
            "holding=12;bit=0",
            "holding=12;bit=2",
            "holding=21;type=u32",
            "input=0;type=f32",
            "unit=2;holding=0;type=u32",
            "coil=0",
            "coil=1",
        ]
        .iter()
        .enumerate()
        .map(|(i, t)| (i as u32, p(t)))
        .collect();
        let groups = plan(&pts).unwrap();
        assert_eq!(groups.len(), 1);
        let reads: Vec<(u8, Table, u16, u16)> =
            groups[0].reads.iter().map(|r| (r.unit, r.table, r.start, r.count)).collect();
        assert_eq!(
            reads,
            [
                (1, Table::Coil, 0, 2),
                (1, Table::Input, 0, 2),
                (1, Table::Holding, 0, 6),
                (1, Table::Holding, 12, 1),
                (1, Table::Holding, 21, 2),
                (2, Table::Holding, 0, 2),
            ]
        );
        // A second interval is its own group.
        let mut two = pts.clone();
        two.push((11, p("holding=50;poll_ms=100")));
        assert_eq!(plan(&two).unwrap().iter().map(|g| g.poll_ms).collect::<Vec<_>>(), [100, 1000]);
        // 200 consecutive registers take two reads.
        let long: Vec<(u32, Point)> = (0..200).map(|a| (a, p(&format!("holding={a}")))).collect();
        let counts: Vec<u16> = plan(&long).unwrap()[0].reads.iter().map(|r| r.count).collect();
        assert_eq!(counts, [125, 75]);
        // Overlaps are refused, naming both.
        let e = plan(&[(0, p("holding=4;type=f32")), (1, p("holding=5"))]).unwrap_err();
        assert_eq!(e.to_string(), "unit 1 holding 4 and unit 1 holding 5 overlap: a register or bit is bound once");
    }
}
