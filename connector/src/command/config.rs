//! The write-back part of the configuration: `[write_back]`, `[[identity]]`, `[[writable]]` and
//! `[[autonomy]]` (docs/write-back.md), their checks (reported with `file:line:col` like the rest of the
//! file) and the [`Policy`] and identities built from them.

use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use toml::Spanned;

use super::expr::Expr;
use super::policy::{Policy, Writable, AUTONOMY_ROLE};
use crate::config::{is_prim_path, is_property_name};

fn default_expiry_s() -> f64 {
    900.0
}

/// `[write_back]`: where the audit journal goes and the autonomy switch.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WriteBackConfig {
    /// The audit journal (JSON lines), relative to the config file's folder; `None` is
    /// `<stage dir>/audit.jsonl`.
    #[serde(default)]
    pub audit: Option<PathBuf>,
    /// Pending approvals expire after this many seconds.
    #[serde(default = "default_expiry_s")]
    pub approval_expiry_s: f64,
    /// `false` stops every `[[autonomy]]` rule (the config-side kill switch).
    #[serde(default = "yes")]
    pub autonomy: bool,
    /// Serve the command API over TLS on this address (and refuse commands on the plain listener).
    #[serde(default)]
    pub tls_listen: Option<Spanned<String>>,
    /// The server's certificate chain (PEM), relative to the config file's folder.
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    /// The server's private key (PEM).
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// Mutual TLS: clients must present a certificate signed by this CA (PEM).
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
}

fn yes() -> bool {
    true
}

impl Default for WriteBackConfig {
    fn default() -> Self {
        WriteBackConfig {
            audit: None,
            approval_expiry_s: default_expiry_s(),
            autonomy: true,
            tls_listen: None,
            tls_cert: None,
            tls_key: None,
            client_ca: None,
        }
    }
}

/// `[[identity]]`: a caller of the command API, by the SHA-256 of its bearer token.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
    pub name: Spanned<String>,
    /// Lower-case hex SHA-256 of the bearer token (the token itself is never stored).
    pub token_sha256: Spanned<String>,
    pub roles: Vec<String>,
}

/// `[[writable]]`: a target that may be written and its limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WritableConfig {
    /// The bound attribute, `/Prim.name`.
    pub target: Spanned<String>,
    pub roles: Spanned<Vec<String>>,
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
    #[serde(default)]
    pub max_step: Option<f64>,
    #[serde(default)]
    pub min_interval_s: Option<f64>,
    #[serde(default)]
    pub interlock: Option<Spanned<String>>,
    #[serde(default)]
    pub approval: bool,
    /// A read-back within this much of the written value verifies the write.
    #[serde(default)]
    pub tolerance: f64,
    /// How long to wait for the read-back.
    #[serde(default = "default_verify_ms")]
    pub verify_timeout_ms: u64,
    /// A method target: the method's node id; `target` then names the method on the stage
    /// (`/Plant/Prim.name`, not a bound attribute) and the value is the list of input arguments.
    #[serde(default)]
    pub method: Option<Spanned<String>>,
    /// A method target's object node id.
    #[serde(default)]
    pub object: Option<String>,
    /// A method target's source (config name).
    #[serde(default)]
    pub source: Option<String>,
}

fn default_verify_ms() -> u64 {
    2000
}

/// `[[autonomy]]`: when `when` holds, set `target` to `set` (level 5 only, inside the policy).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutonomyConfig {
    pub name: Spanned<String>,
    pub when: Spanned<String>,
    pub target: Spanned<String>,
    /// The value, an expression (`current + 2`, `{/Plant/…​.twinloom:x} * 0.5`, `180`).
    pub set: Spanned<String>,
    /// Least time between two commands of this rule.
    #[serde(default = "default_rule_interval")]
    pub min_interval_s: f64,
}

fn default_rule_interval() -> f64 {
    60.0
}

/// The hex SHA-256 of a bearer token, as `token_sha256` stores it.
pub fn token_sha256(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// The pieces of a configuration the write-back checks read.
pub struct WriteBackParts<'a> {
    pub identities: &'a [IdentityConfig],
    pub writables: &'a [WritableConfig],
    pub autonomy: &'a [AutonomyConfig],
    pub write_back: &'a WriteBackConfig,
    /// Every explicitly bound attribute (`/Prim.name`) and the prims auto-bindings mirror under.
    pub bound: Vec<String>,
    /// The configured sources' names.
    pub sources: Vec<String>,
    pub auto_prims: Vec<String>,
}

/// An expression parse error placed inside the TOML string it came from (`span` is the string's).
fn expr_at(span: &Range<usize>, offset: usize) -> Range<usize> {
    // The string's opening quote, then the expression text (plain strings: offsets hold).
    let at = span.start + 1 + offset;
    at..at
}

impl WriteBackParts<'_> {
    fn is_bound(&self, target: &str) -> bool {
        self.bound.iter().any(|b| b == target)
            || target.split_once('.').is_some_and(|(prim, _)| {
                self.auto_prims.iter().any(|p| prim == p || prim.starts_with(&format!("{p}/")))
            })
    }

    /// Checks the write-back tables; `at(span, message)` records a problem.
    pub fn check(&self, at: &mut dyn FnMut(Range<usize>, String)) {
        let mut names: Vec<&str> = Vec::new();
        for i in self.identities {
            if names.contains(&i.name.get_ref().as_str()) {
                at(i.name.span(), format!("identity {:?} is defined twice", i.name.get_ref()));
            }
            names.push(i.name.get_ref());
            let h = i.token_sha256.get_ref();
            if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
                at(
                    i.token_sha256.span(),
                    "token_sha256 must be 64 lower-case hex digits (the SHA-256 of the token: `printf %s TOKEN | sha256sum`)".into(),
                );
            }
            if i.roles.is_empty() {
                at(i.name.span(), format!("identity {:?} has no roles", i.name.get_ref()));
            }
        }
        let mut targets: Vec<&str> = Vec::new();
        for w in self.writables {
            let t = w.target.get_ref();
            if targets.contains(&t.as_str()) {
                at(w.target.span(), format!("{t} has two [[writable]] entries"));
            }
            targets.push(t);
            let well_formed = t.split_once('.').is_some_and(|(p, a)| is_prim_path(p) && is_property_name(a));
            if let Some(m) = &w.method {
                let source_known = w.source.as_ref().is_some_and(|s| self.sources.contains(s));
                if w.object.is_none() || !source_known {
                    at(
                        m.span(),
                        format!(
                            "method target {t}: needs `object` (the object's node id) and `source` (one of: {})",
                            self.sources.join(", ")
                        ),
                    );
                }
                if w.min.is_some() || w.max.is_some() || w.max_step.is_some() {
                    at(
                        m.span(),
                        format!("method target {t}: min, max and max_step apply to values, not to method arguments"),
                    );
                }
            }
            if !well_formed {
                at(w.target.span(), format!("target {t:?} is not an attribute path like /Plant/Prim.twinloom:name"));
            } else if w.method.is_none() && !self.is_bound(t) {
                at(
                    w.target.span(),
                    format!("target {t} is not a bound attribute (writes go to the node it is bound to)"),
                );
            }
            if w.roles.get_ref().is_empty() {
                at(w.roles.span(), "roles is empty: nobody could write this target".into());
            }
            for (name, v) in
                [("min", w.min), ("max", w.max), ("max_step", w.max_step), ("min_interval_s", w.min_interval_s)]
            {
                if v.is_some_and(|v| !v.is_finite()) {
                    at(w.target.span(), format!("{t}: {name} must be a finite number"));
                }
            }
            if let (Some(lo), Some(hi)) = (w.min, w.max) {
                if lo > hi {
                    at(w.target.span(), format!("{t}: min {lo} is above max {hi}"));
                }
            }
            if w.max_step.is_some_and(|s| s <= 0.0) || w.min_interval_s.is_some_and(|s| s < 0.0) {
                at(w.target.span(), format!("{t}: max_step must be > 0 and min_interval_s >= 0"));
            }
            if !(w.tolerance >= 0.0 && w.tolerance.is_finite()) {
                at(w.target.span(), format!("{t}: tolerance must be >= 0"));
            }
            if let Some(lock) = &w.interlock {
                if let Err(e) = Expr::parse(lock.get_ref()) {
                    at(expr_at(&lock.span(), e.offset), format!("interlock: {}", e.message));
                }
            }
        }
        for r in self.autonomy {
            for (what, s) in [("when", &r.when), ("set", &r.set)] {
                if let Err(e) = Expr::parse(s.get_ref()) {
                    at(expr_at(&s.span(), e.offset), format!("autonomy {:?} {what}: {}", r.name.get_ref(), e.message));
                }
            }
            match self.writables.iter().find(|w| w.target.get_ref() == r.target.get_ref()) {
                None => at(
                    r.target.span(),
                    format!("{} has no [[writable]] entry: a rule writes only inside the policy", r.target.get_ref()),
                ),
                Some(w) if !w.roles.get_ref().iter().any(|x| x == AUTONOMY_ROLE) => at(
                    r.target.span(),
                    format!("{}'s [[writable]] roles do not include \"{AUTONOMY_ROLE}\"", r.target.get_ref()),
                ),
                Some(_) => {}
            }
            if !(r.min_interval_s > 0.0 && r.min_interval_s.is_finite()) {
                at(r.name.span(), format!("autonomy {:?}: min_interval_s must be > 0", r.name.get_ref()));
            }
        }
        let wb = self.write_back;
        if let Some(listen) = &wb.tls_listen {
            if listen.get_ref().parse::<std::net::SocketAddr>().is_err() {
                at(listen.span(), format!("tls_listen {:?} is not an address like 127.0.0.1:8766", listen.get_ref()));
            }
            if wb.tls_cert.is_none() || wb.tls_key.is_none() {
                at(listen.span(), "tls_listen needs tls_cert and tls_key (PEM files)".into());
            }
        } else if wb.tls_cert.is_some() || wb.tls_key.is_some() || wb.client_ca.is_some() {
            at(0..0, "write_back: tls_cert, tls_key and client_ca take effect only with tls_listen".into());
        }
        if !(self.write_back.approval_expiry_s > 0.0 && self.write_back.approval_expiry_s.is_finite()) {
            at(0..0, "write_back.approval_expiry_s must be > 0".into());
        }
    }

    /// The policy at capability `level` (call after [`WriteBackParts::check`] found nothing).
    pub fn policy(&self, level: i64) -> Policy {
        let writables = self
            .writables
            .iter()
            .map(|w| Writable {
                target: w.target.get_ref().clone(),
                roles: w.roles.get_ref().clone(),
                min: w.min,
                max: w.max,
                max_step: w.max_step,
                min_interval: w.min_interval_s.map(Duration::from_secs_f64),
                interlock: w.interlock.as_ref().and_then(|l| Expr::parse(l.get_ref()).ok()),
                approval: w.approval,
            })
            .collect();
        Policy { level, writables }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::command::expr::Val;
    use crate::command::policy::{Decision, Origin, Request};
    use crate::config::Config;

    const PLANT: &str = r#"
[stage]
dir = "out"
capability_level = 5

[[sources]]
name = "plc"
kind = "opcua"
endpoint = "opc.tcp://127.0.0.1:4840"

[[bindings]]
source = "plc"
node = "ns=2;s=Plant/Paint/Oven/Zone1/TemperatureSetpoint"
shop = "paint"
prim = "/Plant/Paint/Oven/Zone1"
attr = "twinloom:setpoint"
type = "double"

[[identity]]
name = "alice"
token_sha256 = "2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db186d6e90"
roles = ["operator"]

[[writable]]
target = "/Plant/Paint/Oven/Zone1.twinloom:setpoint"
roles = ["operator", "autonomy"]
min = 120.0
max = 220.0
interlock = 'current > 100'

[[autonomy]]
name = "hold"
when = 'current < 150'
target = "/Plant/Paint/Oven/Zone1.twinloom:setpoint"
set = "current + 5"
"#;

    #[test]
    fn write_back_tables_load_into_a_policy() {
        assert_eq!(super::token_sha256("alice"), "2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db186d6e90");
        let c = Config::parse(PLANT, Path::new("plant.toml")).unwrap();
        assert_eq!(c.audit_path(), Path::new("out/audit.jsonl"));
        let p = c.write_back_parts().policy(5);
        struct Twin;
        impl crate::command::expr::Scope for Twin {
            fn attr(&self, _: &str) -> Option<Val> {
                None
            }
            fn value(&self) -> Option<Val> {
                None
            }
            fn current(&self) -> Option<Val> {
                Some(Val::Num(180.0))
            }
        }
        let origin = Origin::Identity { name: "alice".into(), roles: vec!["operator".into()] };
        let v = Val::Num(190.0);
        let req = Request {
            target: "/Plant/Paint/Oven/Zone1.twinloom:setpoint",
            value: &v,
            origin: &origin,
            since_last_write: None,
        };
        assert_eq!(p.check(&req, &Twin), Decision::Allowed);
    }

    #[test]
    fn write_back_problems_name_their_position() {
        let bad = PLANT
            .replace("token_sha256 = \"2bd8", "token_sha256 = \"XYZ")
            .replace(
                "target = \"/Plant/Paint/Oven/Zone1.twinloom:setpoint\"\nroles",
                "target = \"/Plant/Paint/Oven/Zone2.twinloom:setpoint\"\nroles",
            )
            .replace("interlock = 'current > 100'", "interlock = 'current >> 100'")
            .replace("min = 120.0\nmax = 220.0", "min = 220.0\nmax = 120.0");
        let e = Config::parse(&bad, Path::new("plant.toml")).unwrap_err();
        let lines: Vec<String> = e.problems.iter().map(|p| p.to_string()).collect();
        assert!(lines.iter().any(|l| l.starts_with("plant.toml:21:16: token_sha256 must be 64")), "{lines:#?}");
        assert!(
            lines.iter().any(|l| l.starts_with(
                "plant.toml:25:10: target /Plant/Paint/Oven/Zone2.twinloom:setpoint is not a bound attribute"
            )),
            "{lines:#?}"
        );
        assert!(lines.iter().any(|l| l.contains("min 220 is above max 120")), "{lines:#?}");
        assert!(lines.iter().any(|l| l.starts_with("plant.toml:29:23: interlock: expected a value")), "{lines:#?}");
        assert!(
            lines.iter().any(|l| l
                .starts_with("plant.toml:34:10: /Plant/Paint/Oven/Zone1.twinloom:setpoint has no [[writable]] entry")),
            "{lines:#?}"
        );

        // TLS needs its certificate and key.
        let tls = format!("{PLANT}\n[write_back]\ntls_listen = \"127.0.0.1:8766\"\n");
        let e = Config::parse(&tls, Path::new("plant.toml")).unwrap_err();
        assert!(e.to_string().contains("tls_listen needs tls_cert and tls_key"), "{e}");

        // A method target needs its object and a configured source, and takes no value limits.
        let method = format!(
            "{PLANT}\n[[writable]]\ntarget = \"/Plant/Line.ack\"\nroles = [\"operator\"]\nmax = 1.0\nmethod = \"ns=2;s=Ack\"\nsource = \"nowhere\"\n"
        );
        let e = Config::parse(&method, Path::new("plant.toml")).unwrap_err();
        let lines: Vec<String> = e.problems.iter().map(|p| p.to_string()).collect();
        assert!(lines.iter().any(|l| l.contains("method target /Plant/Line.ack: needs `object`")), "{lines:#?}");
        assert!(lines.iter().any(|l| l.contains("min, max and max_step apply to values")), "{lines:#?}");
    }
}
