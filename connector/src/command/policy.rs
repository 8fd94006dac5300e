//! The write policy: which targets may be written, by whom, within which bounds and interlocks, and what
//! the capability level allows (docs/write-back.md). [`Policy::check`] decides one command against the
//! twin state at that moment; it is pure (no I/O, no clock of its own) so the decision can be recorded
//! with the state it saw and benchmarked (`policy_checks_per_s`).
//!
//! Rules in the order they are checked, each naming itself in a refusal:
//! `capability_level` → `not_writable` → `role` → `type` → `min` → `max` → `max_step` → `min_interval` →
//! `interlock`; then approval: level 4 always needs one, level 5 when the target says `approval = true`.
//! Autonomy rules act with the role `autonomy`, need level 5, and never get approval (they are refused
//! where one would be needed).

use std::time::Duration;

use super::expr::{Expr, Scope, Val};

/// The capability levels (the stage's `twinloom:capabilityLevel`).
pub const LEVEL_PRESCRIPTIVE: i64 = 4;
pub const LEVEL_AUTONOMOUS: i64 = 5;

/// The role autonomy rules act with; a target writable by rules lists it in `roles`.
pub const AUTONOMY_ROLE: &str = "autonomy";
/// The role an identity needs to approve a pending command.
pub const APPROVER_ROLE: &str = "approver";

/// One writable target and its limits (a `[[writable]]` table).
#[derive(Debug, Clone)]
pub struct Writable {
    /// The bound attribute, `/Prim.name`.
    pub target: String,
    /// Roles allowed to command it.
    pub roles: Vec<String>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// Largest change from the current value in one command.
    pub max_step: Option<f64>,
    /// Least time between two writes sent to the target.
    pub min_interval: Option<Duration>,
    /// Must hold (against the twin state at the moment of the write) for a write to go out.
    pub interlock: Option<Expr>,
    /// Person commands need a second identity's approval (at level 5; level 4 always needs one).
    pub approval: bool,
}

/// Who or what asks for a write.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    /// A person or program with an identity from the config (its name and roles).
    Identity { name: String, roles: Vec<String> },
    /// An `[[autonomy]]` rule (by name).
    Autonomy { rule: String },
}

/// A refusal's rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    CapabilityLevel,
    NotWritable,
    Role,
    Type,
    Min,
    Max,
    MaxStep,
    MinInterval,
    Interlock,
    Approval,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::CapabilityLevel => "capability_level",
            Rule::NotWritable => "not_writable",
            Rule::Role => "role",
            Rule::Type => "type",
            Rule::Min => "min",
            Rule::Max => "max",
            Rule::MaxStep => "max_step",
            Rule::MinInterval => "min_interval",
            Rule::Interlock => "interlock",
            Rule::Approval => "approval",
        }
    }
}

/// What the policy says about a command.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Within the policy: may be written now.
    Allowed,
    /// Within the policy, but a second identity with the approver role must approve first.
    NeedsApproval,
    /// Refused by `rule`, with what it saw.
    Refused { rule: Rule, detail: String },
}

/// The write policy of a service.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The capability level, 0 to 5.
    pub level: i64,
    pub writables: Vec<Writable>,
}

/// A command as the policy sees it.
pub struct Request<'a> {
    pub target: &'a str,
    pub value: &'a Val,
    pub origin: &'a Origin,
    /// Time since the last write sent to the target (`None`: never written in this run).
    pub since_last_write: Option<Duration>,
}

fn refused(rule: Rule, detail: String) -> Decision {
    Decision::Refused { rule, detail }
}

impl Policy {
    /// The writable entry of `target`, if any.
    pub fn writable(&self, target: &str) -> Option<&Writable> {
        self.writables.iter().find(|w| w.target == target)
    }

    /// Decides `req` against the twin state `scope` (which also answers `value` and `current`).
    pub fn check(&self, req: &Request, scope: &dyn Scope) -> Decision {
        let autonomy = matches!(req.origin, Origin::Autonomy { .. });
        if self.level < LEVEL_PRESCRIPTIVE || (autonomy && self.level < LEVEL_AUTONOMOUS) {
            let need = if autonomy { "5 (autonomous)" } else { "4 (prescriptive) or 5 (autonomous)" };
            return refused(
                Rule::CapabilityLevel,
                format!("the twin is at capability level {}; writes need {need}", self.level),
            );
        }
        let Some(w) = self.writable(req.target) else {
            return refused(Rule::NotWritable, format!("{} has no [[writable]] entry: writes are off", req.target));
        };
        let allowed = match req.origin {
            Origin::Identity { roles, .. } => roles.iter().any(|r| w.roles.contains(r)),
            Origin::Autonomy { .. } => w.roles.iter().any(|r| r == AUTONOMY_ROLE),
        };
        if !allowed {
            let who = match req.origin {
                Origin::Identity { name, roles } => format!("{name} (roles {})", roles.join(", ")),
                Origin::Autonomy { rule } => format!("autonomy rule {rule} (role {AUTONOMY_ROLE})"),
            };
            return refused(
                Rule::Role,
                format!("{who} may not write {}; allowed roles: {}", req.target, w.roles.join(", ")),
            );
        }
        let numeric = w.min.is_some() || w.max.is_some() || w.max_step.is_some();
        let x = match req.value {
            Val::Num(x) if x.is_finite() => Some(*x),
            Val::Num(x) => return refused(Rule::Type, format!("{x} is not a finite number")),
            other if numeric => return refused(Rule::Type, format!("{} takes a number, not {other}", req.target)),
            _ => None,
        };
        if let Some(x) = x {
            if let Some(min) = w.min.filter(|m| x < *m) {
                return refused(Rule::Min, format!("{x} is below the minimum {min}"));
            }
            if let Some(max) = w.max.filter(|m| x > *m) {
                return refused(Rule::Max, format!("{x} is above the maximum {max}"));
            }
            if let Some(step) = w.max_step {
                match scope.current() {
                    Some(Val::Num(c)) if (x - c).abs() <= step => {}
                    Some(Val::Num(c)) => {
                        return refused(
                            Rule::MaxStep,
                            format!("{x} is {} from the current {c}; the largest step is {step}", (x - c).abs()),
                        )
                    }
                    _ => {
                        return refused(
                            Rule::MaxStep,
                            format!("{} has no current numeric value to measure the step from", req.target),
                        )
                    }
                }
            }
        }
        if let (Some(min), Some(since)) = (w.min_interval, req.since_last_write) {
            if since < min {
                return refused(
                    Rule::MinInterval,
                    format!(
                        "last write {:.1} s ago; at least {:.1} s between writes",
                        since.as_secs_f64(),
                        min.as_secs_f64()
                    ),
                );
            }
        }
        if let Some(lock) = &w.interlock {
            match lock.holds(scope) {
                Ok(true) => {}
                Ok(false) => return refused(Rule::Interlock, format!("{lock} does not hold")),
                Err(e) => return refused(Rule::Interlock, format!("{lock} cannot be evaluated: {e}")),
            }
        }
        match (autonomy, self.level, w.approval) {
            (true, _, _) => Decision::Allowed,
            (false, LEVEL_PRESCRIPTIVE, _) | (false, _, true) => Decision::NeedsApproval,
            _ => Decision::Allowed,
        }
    }

    /// Whether `approver` may approve a command requested by `requester`: a different identity holding
    /// the approver role (two-person rule).
    pub fn check_approver(requester: &str, approver: &Origin) -> Result<(), (Rule, String)> {
        match approver {
            Origin::Identity { name, .. } if name == requester => {
                Err((Rule::Approval, format!("{name} requested the command and cannot approve it (two-person rule)")))
            }
            Origin::Identity { roles, name } if !roles.iter().any(|r| r == APPROVER_ROLE) => {
                Err((Rule::Approval, format!("{name} does not hold the {APPROVER_ROLE} role")))
            }
            Origin::Identity { .. } => Ok(()),
            Origin::Autonomy { rule } => Err((Rule::Approval, format!("autonomy rule {rule} cannot approve"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Twin {
        current: f64,
        state: &'static str,
    }
    impl Scope for Twin {
        fn attr(&self, p: &str) -> Option<Val> {
            (p == "/Plant/Oven/Zone1.twinloom:state").then(|| Val::Str(self.state.into()))
        }
        fn value(&self) -> Option<Val> {
            None
        }
        fn current(&self) -> Option<Val> {
            Some(Val::Num(self.current))
        }
    }

    fn policy(level: i64) -> Policy {
        Policy {
            level,
            writables: vec![Writable {
                target: "/Plant/Oven/Zone1.twinloom:setpoint".into(),
                roles: vec!["operator".into(), AUTONOMY_ROLE.into()],
                min: Some(120.0),
                max: Some(220.0),
                max_step: Some(10.0),
                min_interval: Some(Duration::from_secs(30)),
                interlock: Some(Expr::parse(r#"{/Plant/Oven/Zone1.twinloom:state} == "Running""#).unwrap()),
                approval: false,
            }],
        }
    }

    fn op() -> Origin {
        Origin::Identity { name: "alice".into(), roles: vec!["operator".into()] }
    }

    fn decide(p: &Policy, target: &str, v: f64, origin: &Origin, since: Option<u64>, twin: &Twin) -> Decision {
        let value = Val::Num(v);
        let req = Request { target, value: &value, origin, since_last_write: since.map(Duration::from_secs) };
        p.check(&req, twin)
    }

    fn rule(d: Decision) -> Option<Rule> {
        match d {
            Decision::Refused { rule, .. } => Some(rule),
            _ => None,
        }
    }

    #[test]
    fn every_rule_refuses_in_turn() {
        const T: &str = "/Plant/Oven/Zone1.twinloom:setpoint";
        let run = Twin { current: 180.0, state: "Running" };
        let p = policy(5);
        assert_eq!(decide(&p, T, 185.0, &op(), None, &run), Decision::Allowed);
        for level in 0..=3 {
            assert_eq!(rule(decide(&policy(level), T, 185.0, &op(), None, &run)), Some(Rule::CapabilityLevel));
        }
        assert_eq!(decide(&policy(4), T, 185.0, &op(), None, &run), Decision::NeedsApproval);
        assert_eq!(rule(decide(&p, "/Plant/X.y", 1.0, &op(), None, &run)), Some(Rule::NotWritable));
        let viewer = Origin::Identity { name: "bob".into(), roles: vec!["viewer".into()] };
        assert_eq!(rule(decide(&p, T, 185.0, &viewer, None, &run)), Some(Rule::Role));
        assert_eq!(rule(decide(&p, T, 100.0, &op(), None, &run)), Some(Rule::Min));
        assert_eq!(rule(decide(&p, T, 230.0, &op(), None, &run)), Some(Rule::Max));
        assert_eq!(rule(decide(&p, T, 200.0, &op(), None, &run)), Some(Rule::MaxStep));
        assert_eq!(rule(decide(&p, T, 185.0, &op(), Some(10), &run)), Some(Rule::MinInterval));
        assert_eq!(decide(&p, T, 185.0, &op(), Some(31), &run), Decision::Allowed);
        let stopped = Twin { current: 180.0, state: "Stopped" };
        assert_eq!(rule(decide(&p, T, 185.0, &op(), None, &stopped)), Some(Rule::Interlock));
        let text = Val::Str("hot".into());
        let req = Request { target: T, value: &text, origin: &op(), since_last_write: None };
        assert_eq!(rule(p.check(&req, &run)), Some(Rule::Type));
        let auto = Origin::Autonomy { rule: "hold".into() };
        assert_eq!(decide(&p, T, 185.0, &auto, None, &run), Decision::Allowed);
        assert_eq!(rule(decide(&policy(4), T, 185.0, &auto, None, &run)), Some(Rule::CapabilityLevel));
    }

    #[test]
    fn two_person_rule() {
        let approver = |name: &str, roles: &[&str]| Origin::Identity {
            name: name.into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
        };
        assert!(Policy::check_approver("alice", &approver("alice", &[APPROVER_ROLE])).is_err());
        assert!(Policy::check_approver("alice", &approver("carol", &["operator"])).is_err());
        assert!(Policy::check_approver("alice", &approver("carol", &[APPROVER_ROLE])).is_ok());
    }
}
