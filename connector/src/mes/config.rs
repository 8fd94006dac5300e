//! The `[mes]` table of the service configuration: how MES hierarchy scopes and equipment ids map to
//! stage prims, how often the MES layer is saved, how much history deduplication keeps, and who may
//! post (docs/mes.md, "Configuration").

use std::collections::HashMap;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;
use twinloom_usd_names::valid_prim_name;

/// The `[mes]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MesConfig {
    /// Save `mes.usda` at most this often while messages arrive (and always at shutdown).
    #[serde(default = "default_save_interval_ms")]
    pub save_interval_ms: u64,
    /// How many recent `messageId`s are remembered to drop duplicates.
    #[serde(default = "default_dedup_window")]
    pub dedup_window: usize,
    /// How many cars that left their shop are remembered, so late messages for them are counted as
    /// `finished_vin` instead of bringing them back.
    #[serde(default = "default_finished_window")]
    pub finished_window: usize,
    /// What an equipment id without a `[[mes.station]]` entry means.
    #[serde(default)]
    pub unmapped_stations: UnmappedStations,
    /// The hierarchy scope of job orders that carry none.
    #[serde(default)]
    pub default_shop: Option<Spanned<String>>,
    /// MQTT topic filters whose messages are MES payloads (the service subscribes to them on its MQTT
    /// sources; empty: MES over HTTP only).
    #[serde(default)]
    pub topics: Vec<String>,
    /// The source (kind `mqtt` or `sparkplug`) whose broker carries `topics`: the service opens its own
    /// session to that broker, with that source's endpoint, credentials and TLS settings.
    #[serde(default)]
    pub mqtt_source: Option<Spanned<String>>,
    /// SHA-256 (hex) of the bearer tokens allowed to `POST /v1/mes`; empty: the endpoint is closed.
    #[serde(default)]
    pub token_sha256: Vec<Spanned<String>>,
    /// Explicit shop mappings (`[[mes.shop]]`).
    #[serde(default)]
    pub shop: Vec<ShopMapping>,
    /// Explicit station mappings (`[[mes.station]]`).
    #[serde(default)]
    pub station: Vec<StationMapping>,
}

/// Station prims of equipment ids without a `[[mes.station]]` entry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnmappedStations {
    /// `/<root>/<Shop>/<valid prim name of the EquipmentID>` in the car's shop.
    #[default]
    ByEquipmentId,
    /// Refused and counted as `unknown_station`.
    Reject,
}

/// `[[mes.shop]] scope = "ASSY" prim = "/Plant/Assembly"`: the shop prim of an MES hierarchy scope.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShopMapping {
    pub scope: Spanned<String>,
    pub prim: Spanned<String>,
}

/// `[[mes.station]] equipment = "ASM-010" prim = "/Plant/Assembly/Line1/Station010"`: the station prim of
/// an MES equipment id. Its shop is the prim's ancestor right under the root (`/Plant/Assembly`). With
/// `exit = true`, a car leaving this station leaves its shop.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StationMapping {
    pub equipment: Spanned<String>,
    pub prim: Spanned<String>,
    #[serde(default)]
    pub exit: bool,
}

fn default_save_interval_ms() -> u64 {
    500
}
fn default_dedup_window() -> usize {
    100_000
}
fn default_finished_window() -> usize {
    10_000
}

impl Default for MesConfig {
    fn default() -> Self {
        MesConfig {
            save_interval_ms: default_save_interval_ms(),
            dedup_window: default_dedup_window(),
            finished_window: default_finished_window(),
            unmapped_stations: UnmappedStations::default(),
            default_shop: None,
            topics: Vec::new(),
            mqtt_source: None,
            token_sha256: Vec::new(),
            shop: Vec::new(),
            station: Vec::new(),
        }
    }
}

/// One problem of a `[mes]` table: the key it concerns (`mes.station[2].prim`), the byte span of the
/// value in the TOML text when known, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MesConfigProblem {
    pub field: String,
    pub span: Option<Range<usize>>,
    pub message: String,
}

impl std::fmt::Display for MesConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Whether `s` is a valid USD identifier (a prim name).
fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The names of an absolute prim path (`/Plant/Assembly` → `["Plant", "Assembly"]`), if it is one.
pub(crate) fn prim_names(path: &str) -> Option<Vec<&str>> {
    let rest = path.strip_prefix('/')?;
    let names: Vec<&str> = rest.split('/').collect();
    names.iter().all(|n| is_identifier(n)).then_some(names)
}

fn span_of(s: &Spanned<String>) -> Option<Range<usize>> {
    let span = s.span();
    (span.end > 0).then_some(span)
}

impl MesConfig {
    /// Every problem of the table for a stage whose root prim is `/<root>`: prim paths that are not
    /// absolute prim paths under the root (a shop right under it, a station at least one level below
    /// a shop), equipment ids and scopes mapped twice, an empty topic, token hashes that are not 64 hex
    /// digits, and a zero dedup window.
    pub fn check(&self, root: &str) -> Vec<MesConfigProblem> {
        let mut out = Vec::new();
        let mut at = |field: String, span: Option<Range<usize>>, message: String| {
            out.push(MesConfigProblem { field, span, message });
        };
        if self.dedup_window == 0 {
            at("mes.dedup_window".into(), None, "mes.dedup_window must be at least 1".into());
        }
        if let Some(shop) = &self.default_shop {
            if shop.get_ref().trim().is_empty() {
                at("mes.default_shop".into(), span_of(shop), "mes.default_shop is empty".into());
            }
        }
        for (i, t) in self.topics.iter().enumerate() {
            if t.is_empty() {
                at(format!("mes.topics[{i}]"), None, "an MQTT topic filter cannot be empty".into());
            }
        }
        for (i, t) in self.token_sha256.iter().enumerate() {
            let hex = t.get_ref();
            if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                at(
                    format!("mes.token_sha256[{i}]"),
                    span_of(t),
                    "a token hash must be 64 hex digits (the SHA-256 of the bearer token)".into(),
                );
            }
        }
        let mut scopes: HashMap<&str, usize> = HashMap::new();
        for (i, s) in self.shop.iter().enumerate() {
            if let Some(first) = scopes.insert(s.scope.get_ref(), i) {
                at(
                    format!("mes.shop[{i}].scope"),
                    span_of(&s.scope),
                    format!("scope {:?} is mapped twice (first in mes.shop[{first}])", s.scope.get_ref()),
                );
            }
            match prim_names(s.prim.get_ref()) {
                Some(names) if names.len() == 2 && names[0] == root => {}
                _ => at(
                    format!("mes.shop[{i}].prim"),
                    span_of(&s.prim),
                    format!("{:?} is not a shop prim: it must be /{root}/<Name> (valid USD names)", s.prim.get_ref()),
                ),
            }
        }
        let mut equipment: HashMap<&str, usize> = HashMap::new();
        for (i, s) in self.station.iter().enumerate() {
            if s.equipment.get_ref().is_empty() {
                at(format!("mes.station[{i}].equipment"), span_of(&s.equipment), "equipment is empty".into());
            }
            if let Some(first) = equipment.insert(s.equipment.get_ref(), i) {
                at(
                    format!("mes.station[{i}].equipment"),
                    span_of(&s.equipment),
                    format!("equipment {:?} is mapped twice (first in mes.station[{first}])", s.equipment.get_ref()),
                );
            }
            match prim_names(s.prim.get_ref()) {
                Some(names) if names.len() >= 3 && names[0] == root => {}
                _ => at(
                    format!("mes.station[{i}].prim"),
                    span_of(&s.prim),
                    format!(
                        "{:?} is not a station prim: it must be /{root}/<Shop>/…/<Station> (valid USD names)",
                        s.prim.get_ref()
                    ),
                ),
            }
        }
        out
    }

    /// Whether `bearer` is one of the allowed tokens (its SHA-256 is in `token_sha256`).
    pub fn authorizes(&self, bearer: &str) -> bool {
        let hash = crate::command::config::token_sha256(bearer);
        self.token_sha256.iter().any(|t| t.get_ref().eq_ignore_ascii_case(&hash))
    }
}

/// The config resolved for lookups: shop prims by scope, station prims by equipment id.
#[derive(Debug, Clone)]
pub(crate) struct Resolver {
    pub root: String,
    shops: HashMap<String, String>,
    stations: HashMap<String, Station>,
    pub unmapped: UnmappedStations,
    pub default_shop: Option<String>,
}

/// A resolved station: its prim, its shop prim, whether leaving it leaves the shop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Station {
    pub prim: String,
    pub shop: String,
    pub exit: bool,
}

impl Resolver {
    pub fn new(root: &str, cfg: &MesConfig) -> Resolver {
        let shops = cfg.shop.iter().map(|s| (s.scope.get_ref().clone(), s.prim.get_ref().clone())).collect();
        let stations = cfg
            .station
            .iter()
            .map(|s| {
                let prim = s.prim.get_ref().clone();
                let shop = shop_of(&prim);
                (s.equipment.get_ref().clone(), Station { prim, shop, exit: s.exit })
            })
            .collect();
        Resolver {
            root: root.to_string(),
            shops,
            stations,
            unmapped: cfg.unmapped_stations,
            default_shop: cfg.default_shop.as_ref().map(|s| s.get_ref().clone()),
        }
    }

    /// The shop prim of a hierarchy scope: its `[[mes.shop]]` entry, or `/<root>/<valid name>`.
    pub fn shop(&self, scope: &str) -> String {
        match self.shops.get(scope) {
            Some(prim) => prim.clone(),
            None => format!("/{}/{}", self.root, valid_prim_name(scope)),
        }
    }

    /// The station of an equipment id, for a car in `car_shop`: its `[[mes.station]]` entry, or (unless
    /// unmapped stations are rejected) `<car_shop>/<valid name>`.
    pub fn station(&self, equipment: &str, car_shop: &str) -> Option<Station> {
        if let Some(s) = self.stations.get(equipment) {
            return Some(s.clone());
        }
        match self.unmapped {
            UnmappedStations::Reject => None,
            UnmappedStations::ByEquipmentId => Some(Station {
                prim: format!("{car_shop}/{}", valid_prim_name(equipment)),
                shop: car_shop.to_string(),
                exit: false,
            }),
        }
    }
}

/// The shop prim of a station prim: its first two names (`/Plant/Assembly/Line1/S1` → `/Plant/Assembly`).
pub(crate) fn shop_of(prim: &str) -> String {
    let mut n = 0;
    for (i, c) in prim.char_indices() {
        if c == '/' {
            n += 1;
            if n == 3 {
                return prim[..i].to_string();
            }
        }
    }
    prim.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> MesConfig {
        #[derive(Deserialize)]
        struct File {
            mes: MesConfig,
        }
        toml::from_str::<File>(text).expect("valid [mes] table").mes
    }

    #[test]
    fn defaults_and_mappings() {
        let cfg = parse(
            r#"
[mes]
[[mes.shop]]
scope = "ASSY"
prim = "/Plant/Assembly"
[[mes.station]]
equipment = "ASM-010"
prim = "/Plant/Assembly/Line1/Station010"
[[mes.station]]
equipment = "ASM-OFF"
prim = "/Plant/Assembly/Line1/OffLine"
exit = true
"#,
        );
        assert_eq!(
            (cfg.save_interval_ms, cfg.dedup_window, cfg.unmapped_stations),
            (500, 100_000, UnmappedStations::ByEquipmentId)
        );
        assert!(cfg.check("Plant").is_empty(), "{:?}", cfg.check("Plant"));
        let r = Resolver::new("Plant", &cfg);
        assert_eq!(r.shop("ASSY"), "/Plant/Assembly");
        assert_eq!(r.shop("Paint Shop"), format!("/Plant/{}", valid_prim_name("Paint Shop")));
        let s = r.station("ASM-010", "/Plant/Other").unwrap();
        assert_eq!(
            (s.prim.as_str(), s.shop.as_str(), s.exit),
            ("/Plant/Assembly/Line1/Station010", "/Plant/Assembly", false)
        );
        assert!(r.station("ASM-OFF", "/Plant/Assembly").unwrap().exit);
        let d = r.station("ASM-020", "/Plant/Assembly").unwrap();
        assert_eq!(d.prim, format!("/Plant/Assembly/{}", valid_prim_name("ASM-020")));
    }

    #[test]
    fn check_names_the_field() {
        let text = r#"
[mes]
dedup_window = 0
unmapped_stations = "reject"
token_sha256 = ["abc"]
[[mes.shop]]
scope = "A"
prim = "/Plant/Assembly/Line"
[[mes.station]]
equipment = "S1"
prim = "/Plant/Assembly/S1"
[[mes.station]]
equipment = "S1"
prim = "Plant/x"
"#;
        let cfg = parse(text);
        let problems = cfg.check("Plant");
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "mes.dedup_window",
                "mes.token_sha256[0]",
                "mes.shop[0].prim",
                "mes.station[1].equipment",
                "mes.station[1].prim"
            ]
        );
        let span = problems[4].span.clone().expect("a span");
        assert_eq!(&text[span], "\"Plant/x\"");
        assert!(Resolver::new("Plant", &cfg).station("S9", "/Plant/Assembly").is_none());
        let unknown = toml::from_str::<toml::Value>("[mes]\nsave_every = 3\n").unwrap();
        assert!(unknown["mes"].clone().try_into::<MesConfig>().is_err());
    }

    #[test]
    fn tokens_are_checked_by_hash() {
        let hash = crate::command::config::token_sha256("secret");
        let cfg = parse(&format!("[mes]\ntoken_sha256 = [\"{hash}\"]\n"));
        assert!(cfg.authorizes("secret"));
        assert!(!cfg.authorizes("other"));
        assert!(!MesConfig::default().authorizes("secret"));
    }
}
