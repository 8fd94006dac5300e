//! `policy_checks_per_s`: write-policy decisions per second on one core (target >= 1,000,000), each the
//! full check of a command that passes every rule (role, type, min/max, step, interval and an interlock
//! reading two attributes of the twin state), against a policy of 500 writable targets. Prints one JSON
//! line, like every bench binary of the workspace (ci/bench).

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use twinloom_connector::command::expr::{Expr, Scope, Val};
use twinloom_connector::command::policy::{Decision, Origin, Policy, Request, Writable};

const NAME: &str = "policy_checks_per_s";

struct Twin {
    values: HashMap<String, Val>,
    current: Val,
}

impl Scope for Twin {
    fn attr(&self, p: &str) -> Option<Val> {
        self.values.get(p).cloned()
    }
    fn value(&self) -> Option<Val> {
        None
    }
    fn current(&self) -> Option<Val> {
        Some(self.current.clone())
    }
}

fn main() {
    if std::env::args().skip(1).find(|a| !a.starts_with('-')).is_some_and(|p| !NAME.starts_with(&p)) {
        return;
    }
    let zone = |i: usize| format!("/Plant/Paint/Oven/Zone{i}");
    let writables = (0..500)
        .map(|i| Writable {
            target: format!("{}.twinloom:setpoint", zone(i)),
            roles: vec!["operator".into()],
            min: Some(120.0),
            max: Some(220.0),
            max_step: Some(10.0),
            min_interval: Some(Duration::from_secs(30)),
            interlock: Some(
                Expr::parse(&format!(
                    r#"{{{z}.twinloom:state}} == "Running" && abs({{{z}.twinloom:temperature}} - current) <= 5"#,
                    z = zone(i)
                ))
                .expect("interlock"),
            ),
            approval: false,
        })
        .collect();
    let policy = Policy { level: 5, writables };
    let mut values = HashMap::new();
    for i in 0..500 {
        values.insert(format!("{}.twinloom:state", zone(i)), Val::Str("Running".into()));
        values.insert(format!("{}.twinloom:temperature", zone(i)), Val::Num(178.0));
    }
    let twin = Twin { values, current: Val::Num(180.0) };
    let origin = Origin::Identity { name: "alice".into(), roles: vec!["operator".into()] };
    let targets: Vec<String> = (0..500).map(|i| format!("{}.twinloom:setpoint", zone(i))).collect();
    let value = Val::Num(185.0);
    let check = |k: usize| {
        let req = Request {
            target: &targets[k % targets.len()],
            value: &value,
            origin: &origin,
            since_last_write: Some(Duration::from_secs(60)),
        };
        policy.check(&req, &twin)
    };
    assert_eq!(check(0), Decision::Allowed, "the benchmark's command must pass every rule");
    let n = 2_000_000;
    let t0 = Instant::now();
    let mut allowed = 0usize;
    for k in 0..n {
        allowed += usize::from(black_box(check(k)) == Decision::Allowed);
    }
    let secs = t0.elapsed().as_secs_f64();
    assert_eq!(allowed, n);
    println!(
        "{{\"name\":\"{NAME}\",\"value\":{:.0},\"unit\":\"checks/s\",\"target\":1000000,\"writables\":500,\"threads\":1}}",
        n as f64 / secs
    );
}
