//! What connectors and the aggregator agree on over JetStream (issue 20, docs/nats.md): the **site
//! description** a forwarder publishes before its deltas (the site's root prim, shops and bound
//! attributes with their types, so an aggregator can declare them without the site's files), its subject,
//! and how a site's prim paths are re-rooted under `/Enterprise/<Site>` in the federated stage.

use serde::{Deserialize, Serialize};

use crate::binding::BindingTable;

/// The `Twinloom-Encoding` header value of a site description: LZ4 block with its size prepended.
pub const ENCODING_LZ4: &str = "lz4";
/// The subject token that stands for "no partition" in a site description's subject.
pub const NO_PARTITION: &str = "_";

/// One bound attribute of a site, as the site's root layer declares it.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteAttribute {
    /// Absolute prim path in the site's stage (under `/<root>`).
    pub prim: String,
    pub attr: String,
    /// Sdf type name, e.g. `double`.
    pub value_type: String,
    /// Index into [`SiteSpec::shops`].
    pub shop: usize,
    pub unit: Option<String>,
    pub display_name: Option<String>,
}

/// A site's description: published by its forwarder on [`stage_subject`] when it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteSpec {
    pub site: String,
    /// The partition key of the connector process (several processes may share a site).
    pub partition: Option<String>,
    /// The site's root prim name (its `defaultPrim`, e.g. `Plant`).
    pub root: String,
    /// The live stream's epoch of the connector that published it.
    pub epoch: u64,
    pub shops: Vec<String>,
    pub attributes: Vec<SiteAttribute>,
}

impl SiteSpec {
    /// The description of a connector's binding table.
    pub fn of_table(site: &str, partition: Option<&str>, root: &str, epoch: u64, table: &BindingTable) -> SiteSpec {
        SiteSpec {
            site: site.to_string(),
            partition: partition.map(str::to_string),
            root: root.to_string(),
            epoch,
            shops: table.shops.clone(),
            attributes: table
                .bindings
                .iter()
                .map(|b| SiteAttribute {
                    prim: b.prim.clone(),
                    attr: b.attr.clone(),
                    value_type: b.value_type.sdf_name().to_string(),
                    shop: b.shop,
                    unit: b.unit.clone(),
                    display_name: b.display_name.clone(),
                })
                .collect(),
        }
    }

    /// The message body: JSON with the attributes grouped by prim, LZ4-compressed (100,000 attributes,
    /// ten per prim, encode to well under NATS's default 1 MiB payload limit:
    /// `a_site_of_100_000_attributes_fits_one_message`).
    pub fn encode(&self) -> Vec<u8> {
        let mut prims: Vec<WirePrim> = Vec::new();
        for a in &self.attributes {
            let attr = WireAttr(a.attr.clone(), a.value_type.clone(), a.shop, a.unit.clone(), a.display_name.clone());
            match prims.last_mut() {
                Some(p) if p.0 == a.prim => p.1.push(attr),
                _ => prims.push(WirePrim(a.prim.clone(), vec![attr])),
            }
        }
        let wire = Wire {
            site: self.site.clone(),
            partition: self.partition.clone(),
            root: self.root.clone(),
            epoch: self.epoch,
            shops: self.shops.clone(),
            prims,
        };
        let json = serde_json::to_vec(&wire).unwrap_or_default();
        lz4_flex::block::compress_prepend_size(&json)
    }

    /// Reads a message body written by [`SiteSpec::encode`], checking that every attribute's shop exists
    /// and its prim lies under the root.
    pub fn decode(body: &[u8]) -> Result<SiteSpec, String> {
        let json = lz4_flex::block::decompress_size_prepended(body).map_err(|e| format!("not LZ4: {e}"))?;
        let wire: Wire = serde_json::from_slice(&json).map_err(|e| format!("not a site description: {e}"))?;
        let attributes = wire
            .prims
            .into_iter()
            .flat_map(|WirePrim(prim, attrs)| {
                attrs.into_iter().map(move |WireAttr(attr, value_type, shop, unit, display_name)| SiteAttribute {
                    prim: prim.clone(),
                    attr,
                    value_type,
                    shop,
                    unit,
                    display_name,
                })
            })
            .collect();
        let spec = SiteSpec {
            site: wire.site,
            partition: wire.partition,
            root: wire.root,
            epoch: wire.epoch,
            shops: wire.shops,
            attributes,
        };
        let under = format!("/{}/", spec.root);
        if let Some(a) = spec.attributes.iter().find(|a| a.shop >= spec.shops.len()) {
            return Err(format!("{}.{}: shop {} of {}", a.prim, a.attr, a.shop, spec.shops.len()));
        }
        if let Some(a) = spec.attributes.iter().find(|a| !a.prim.starts_with(&under)) {
            return Err(format!("{}.{}: not under /{}", a.prim, a.attr, spec.root));
        }
        Ok(spec)
    }
}

/// A site description as it travels: the attributes grouped by prim, each `[name, type, shop, unit,
/// displayName]`.
#[derive(Serialize, Deserialize)]
struct Wire {
    site: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    partition: Option<String>,
    root: String,
    epoch: u64,
    shops: Vec<String>,
    prims: Vec<WirePrim>,
}

#[derive(Serialize, Deserialize)]
struct WirePrim(String, Vec<WireAttr>);

#[derive(Serialize, Deserialize)]
struct WireAttr(String, String, usize, Option<String>, Option<String>);

/// The subject of a site's description: `<prefix>.<site>.<partition or _>.stage` (deltas subjects end in
/// `.deltas`, so the two never meet).
pub fn stage_subject(prefix: &str, site: &str, partition: Option<&str>) -> String {
    format!("{prefix}.{site}.{}.stage", partition.unwrap_or(NO_PARTITION))
}

/// The name of a site's prim under `/Enterprise`: the site name with its first letter in upper case,
/// made a valid USD identifier (`north` → `North`, `north-1` → `North_1`).
pub fn site_prim_name(site: &str) -> String {
    let mut name: String = site.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    match name.chars().next() {
        None => name.push('_'),
        Some(f) if f.is_ascii_digit() => name.insert(0, '_'),
        Some(f) => name.replace_range(..1, &f.to_ascii_uppercase().to_string()),
    }
    name
}

/// `path` (under `/<from_root>`) moved under `to` (e.g. `/Enterprise/North`); `None` when it is not under
/// the root.
pub fn reroot(path: &str, from_root: &str, to: &str) -> Option<String> {
    let rest = path.strip_prefix('/')?.strip_prefix(from_root)?;
    if rest.is_empty() || rest.starts_with('/') {
        Some(format!("{to}{rest}"))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_subjects_and_reroots() {
        assert_eq!(site_prim_name("north"), "North");
        assert_eq!(site_prim_name("north-1"), "North_1");
        assert_eq!(site_prim_name("7th"), "_7th");
        assert_eq!(stage_subject("twinloom", "north", None), "twinloom.north._.stage");
        assert_eq!(stage_subject("twinloom", "north", Some("a")), "twinloom.north.a.stage");
        assert_eq!(
            reroot("/Plant/BIW/R01", "Plant", "/Enterprise/North").as_deref(),
            Some("/Enterprise/North/BIW/R01")
        );
        assert_eq!(reroot("/Plant", "Plant", "/Enterprise/North").as_deref(), Some("/Enterprise/North"));
        assert_eq!(reroot("/Plantation/X", "Plant", "/E/N"), None);
        assert_eq!(reroot("/Other/X", "Plant", "/E/N"), None);
    }

    #[test]
    fn a_description_travels_and_bad_ones_are_refused() {
        let spec = SiteSpec {
            site: "north".into(),
            partition: None,
            root: "Plant".into(),
            epoch: 7,
            shops: vec!["biw".into()],
            attributes: vec![SiteAttribute {
                prim: "/Plant/BIW/R01".into(),
                attr: "j1".into(),
                value_type: "double".into(),
                shop: 0,
                unit: Some("deg".into()),
                display_name: None,
            }],
        };
        assert_eq!(SiteSpec::decode(&spec.encode()).unwrap(), spec);
        assert!(SiteSpec::decode(b"{}").unwrap_err().contains("LZ4"));
        let mut bad = spec.clone();
        bad.attributes[0].shop = 3;
        assert!(SiteSpec::decode(&bad.encode()).unwrap_err().contains("shop 3"));
        let mut bad = spec;
        bad.attributes[0].prim = "/Elsewhere/R01".into();
        assert!(SiteSpec::decode(&bad.encode()).unwrap_err().contains("not under /Plant"));
    }

    #[test]
    fn a_site_of_100_000_attributes_fits_one_message() {
        // 100,000 attributes, ten per prim, under ten lines of a hundred stations of ten devices.
        let attributes = (0..100_000)
            .map(|i| SiteAttribute {
                // Ten signals per device, as a PLC's variables of one robot or drive.
                prim: format!(
                    "/Plant/Assembly/Line{:02}/Station{:03}/Device{:02}",
                    i / 10_000,
                    i / 100 % 100,
                    i / 10 % 10
                ),
                attr: format!("twinloom:signal{:02}", i % 10),
                value_type: ["double", "float", "int", "token"][i % 4].into(),
                shop: i % 5,
                unit: (i % 3 == 0).then(|| "mm".into()),
                display_name: None,
            })
            .collect();
        let shops = ["biw", "paint", "assembly", "field", "site"].map(String::from).to_vec();
        let spec =
            SiteSpec { site: "north".into(), partition: None, root: "Plant".into(), epoch: 1, shops, attributes };
        let bytes = spec.encode().len();
        eprintln!("100,000 attributes: {bytes} bytes encoded");
        assert!(bytes < 1 << 20, "{bytes} bytes");
    }
}
