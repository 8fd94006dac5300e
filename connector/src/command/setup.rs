//! Builds a service's command engine from its configuration, its connected sources and its binding
//! table: every writable target, interlock and rule reference is resolved to the node it is bound to.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::engine::{AutonomyRule, Bound, Engine, EngineParts, Identity, MethodTarget, Verify};
use super::expr::Expr;
use super::sink::Sink;
use super::stage_layer::CommandLayer;
use crate::audit::Journal;
use crate::binding::BindingTable;
use crate::config::Config;

/// Why the engine could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
    #[error("{0}")]
    Unbound(String),
}

/// The engine and its autonomy rules.
pub struct Setup {
    pub engine: Arc<Engine>,
    pub rules: Vec<AutonomyRule>,
}

/// Builds the engine of `cfg` over `sources` (by name) and the bindings of `table`.
pub fn build(
    cfg: &Config,
    sources: &[(String, Arc<dyn Sink>)],
    table: &BindingTable,
    stage_layer: Option<CommandLayer>,
) -> Result<Setup, SetupError> {
    let parts = cfg.write_back_parts();
    let level = *cfg.stage.capability_level.get_ref();
    let policy = parts.policy(level);
    let rules: Vec<AutonomyRule> = cfg
        .autonomy
        .iter()
        .filter_map(|r| {
            Some(AutonomyRule {
                name: r.name.get_ref().clone(),
                when: Expr::parse(r.when.get_ref()).ok()?,
                target: r.target.get_ref().clone(),
                set: Expr::parse(r.set.get_ref()).ok()?,
                min_interval: Duration::from_secs_f64(r.min_interval_s),
            })
        })
        .collect();
    let mut wanted: Vec<String> = Vec::new();
    let mut methods = HashMap::new();
    for w in cfg.writable.iter() {
        let (Some(method), Some(object), Some(source)) = (&w.method, &w.object, &w.source) else { continue };
        let Some((_, sink)) = sources.iter().find(|(n, _)| n == source) else {
            return Err(SetupError::Unbound(format!("{}: source {source} is not connected", w.target.get_ref())));
        };
        let m = MethodTarget { sink: sink.clone(), object: object.clone(), method: method.get_ref().clone() };
        methods.insert(w.target.get_ref().clone(), m);
    }
    for w in &policy.writables {
        if !methods.contains_key(&w.target) {
            wanted.push(w.target.clone());
        }
        if let Some(e) = &w.interlock {
            wanted.extend(e.references().into_iter().map(String::from));
        }
    }
    for r in &rules {
        wanted.extend(r.when.references().into_iter().chain(r.set.references()).map(String::from));
    }
    let mut bound = HashMap::new();
    for path in wanted {
        if bound.contains_key(&path) {
            continue;
        }
        let Some(b) = table.bindings.iter().find(|b| b.attr_path() == path) else {
            // An interlock on an attribute nobody binds can never hold: say so at start-up.
            return Err(SetupError::Unbound(format!(
                "{path} (a writable target or a reference of an interlock or autonomy rule) is not bound to any source node"
            )));
        };
        let Some((_, sink)) = sources.iter().find(|(n, _)| *n == b.source) else {
            return Err(SetupError::Unbound(format!("{path}: source {} is not connected", b.source)));
        };
        bound.insert(path, Bound { sink: sink.clone(), node: b.address.clone(), scale: b.scale, offset: b.offset });
    }
    let verify = cfg
        .writable
        .iter()
        .map(|w| {
            let v = Verify { tolerance: w.tolerance, timeout: Duration::from_millis(w.verify_timeout_ms) };
            (w.target.get_ref().clone(), v)
        })
        .collect();
    let identities = cfg
        .identity
        .iter()
        .map(|i| Identity {
            name: i.name.get_ref().clone(),
            token_sha256: i.token_sha256.get_ref().clone(),
            roles: i.roles.clone(),
        })
        .collect();
    let journal = Journal::open(cfg.audit_path())?;
    let engine = Engine::new(EngineParts {
        policy,
        identities,
        bound,
        methods,
        verify,
        journal,
        approval_expiry: Duration::from_secs_f64(cfg.write_back.approval_expiry_s),
        autonomy_enabled: cfg.write_back.autonomy,
        stage_layer,
    });
    Ok(Setup { engine, rules })
}
