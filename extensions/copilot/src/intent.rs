//! What a question asks for: the [`Intent`] with its slots (variant, station, robot, line, asset, lever, …),
//! or [`Intent::Unsupported`] with the reason and what the copilot can answer instead. The grammar that maps
//! wording to intents is in [`mod@crate::parse`]; docs/copilot.md lists it for users.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

/// What a line-balance question is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BalanceFocus {
    /// The exact balance: stations, cycle time, loads, proof.
    Balance,
    /// Which station constrains the line (simulation's active-period bottleneck, else the busiest station).
    Bottleneck,
    /// The takt and the cycle time the balance runs at.
    Takt,
}

impl BalanceFocus {
    /// The slot value as written in the question test set.
    pub fn as_str(self) -> &'static str {
        match self {
            BalanceFocus::Balance => "balance",
            BalanceFocus::Bottleneck => "bottleneck",
            BalanceFocus::Takt => "takt",
        }
    }
}

/// Why a question gets no answer from the twin.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum UnsupportedReason {
    /// Nothing was asked (empty, blanks or punctuation only).
    Empty,
    /// The question is in another language; the copilot answers English questions only.
    OtherLanguage {
        /// The language (or script) recognised, in English: `German`, `Chinese`, `another language`.
        language: String,
    },
    /// The question is not about the plant or its twin (weather, sport, jokes…).
    OffTopic,
    /// The question asks the twin to act on the plant; the copilot only reads (write-back has its own
    /// guarded path with approval).
    Action,
    /// Plant words, but no question the copilot knows how to answer.
    NotUnderstood,
}

impl UnsupportedReason {
    /// The slot value as written in the question test set.
    pub fn as_str(&self) -> &'static str {
        match self {
            UnsupportedReason::Empty => "empty",
            UnsupportedReason::OtherLanguage { .. } => "other_language",
            UnsupportedReason::OffTopic => "off_topic",
            UnsupportedReason::Action => "action",
            UnsupportedReason::NotUnderstood => "not_understood",
        }
    }
}

impl fmt::Display for UnsupportedReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnsupportedReason::Empty => write!(f, "the question is empty"),
            UnsupportedReason::OtherLanguage { language } => {
                write!(f, "the question looks like {language}; I answer questions in English only")
            }
            UnsupportedReason::OffTopic => write!(f, "the question is not about the plant or its twin"),
            UnsupportedReason::Action => write!(
                f,
                "I only read the twin and never act on the plant; setpoints and commands go through write-back \
                 (POST /v1/commands) with its policy and approval"
            ),
            UnsupportedReason::NotUnderstood => write!(f, "I did not recognise a question I can answer"),
        }
    }
}

/// What the copilot can answer, one line each, with an example: the list every refusal carries.
pub const CAPABILITIES: &[&str] = &[
    "clashes and near misses of the BIW robots, for the current body or a new variant, per station or robot \
     (\"Will the robots clash with the new variant?\")",
    "weld points out of reach and the base shift that fixes them (\"Which weld points can't R01 reach?\")",
    "the exact line balance, the bottleneck and the takt (\"Where is the bottleneck on the assembly line?\")",
    "simulated throughput of a line or a what-if sibling (\"What throughput does the assembly line make?\")",
    "anomalies the diagnostics see now (\"Is anything abnormal right now?\")",
    "forecasts: remaining useful life and time to failure of assets (\"When will the oven zone 3 fan fail?\")",
    "the payback: projected versus actual savings per lever and dimension (\"What is the twin saving us?\")",
    "the current value of a signal or the state of a station (\"What state is Station04 in?\")",
];

/// A question's meaning: one of the analyses the twin can run or read, with the slots that narrow it.
/// Slot values are canonical: stations `Station01`, robots `R01`, lines `assembly`/`paint`/`biw`, variants
/// `new`/`current` or the name used (`suv`), levers the ledger ids (`change_orders`, `balancing`,
/// `paint_energy`, `downtime`), dimensions `cost`/`efficiency`/`quality`/`revenue`; free targets
/// (`asset`, `target`) are search terms separated by spaces, all of which a signal or prim name must contain.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "intent", rename_all = "snake_case")]
pub enum Intent {
    /// Clashes and near misses of the BIW collision study (and, since they come from the same study, the
    /// unreachable weld points) for a body variant, station or robot.
    Clashes { variant: Option<String>, station: Option<String>, robot: Option<String> },
    /// Unreachable weld points of the reach study and their base-shift fixes.
    Reach { variant: Option<String>, station: Option<String>, robot: Option<String> },
    /// Line balance, bottleneck or takt of a line.
    Balance { line: Option<String>, focus: BalanceFocus },
    /// Simulated throughput of a line, or of a what-if sibling (scenario).
    Throughput { line: Option<String>, scenario: Option<String> },
    /// Anomalies the streaming diagnostics report now, optionally for one target.
    Anomalies { target: Option<String> },
    /// Remaining useful life / time to failure of an asset (or all forecast assets).
    Forecast { asset: Option<String> },
    /// Projected versus actual payback, optionally for one lever or dimension.
    Payback { lever: Option<String>, dimension: Option<String> },
    /// The current value of a signal or the state of a station, robot or equipment.
    CurrentState { target: Option<String> },
    /// "What can you do?": the list of what the copilot answers.
    Capabilities,
    /// No answer from the twin: the reason, and what the copilot can answer instead.
    Unsupported {
        #[serde(flatten)]
        reason: UnsupportedReason,
    },
}

impl Intent {
    /// The intent's name (`clashes`, `reach`, `balance`, `throughput`, `anomalies`, `forecast`, `payback`,
    /// `current_state`, `capabilities`, `unsupported`).
    pub fn name(&self) -> &'static str {
        match self {
            Intent::Clashes { .. } => "clashes",
            Intent::Reach { .. } => "reach",
            Intent::Balance { .. } => "balance",
            Intent::Throughput { .. } => "throughput",
            Intent::Anomalies { .. } => "anomalies",
            Intent::Forecast { .. } => "forecast",
            Intent::Payback { .. } => "payback",
            Intent::CurrentState { .. } => "current_state",
            Intent::Capabilities => "capabilities",
            Intent::Unsupported { .. } => "unsupported",
        }
    }

    /// The slots that are set, by name, as strings (what the question test set compares).
    pub fn slots(&self) -> BTreeMap<&'static str, String> {
        let mut m = BTreeMap::new();
        let mut put = |k: &'static str, v: &Option<String>| {
            if let Some(v) = v {
                m.insert(k, v.clone());
            }
        };
        match self {
            Intent::Clashes { variant, station, robot } | Intent::Reach { variant, station, robot } => {
                put("variant", variant);
                put("station", station);
                put("robot", robot);
            }
            Intent::Balance { line, focus } => {
                put("line", line);
                m.insert("focus", focus.as_str().to_string());
            }
            Intent::Throughput { line, scenario } => {
                put("line", line);
                put("scenario", scenario);
            }
            Intent::Anomalies { target } | Intent::CurrentState { target } => put("target", target),
            Intent::Forecast { asset } => put("asset", asset),
            Intent::Payback { lever, dimension } => {
                put("lever", lever);
                put("dimension", dimension);
            }
            Intent::Capabilities => {}
            Intent::Unsupported { reason } => {
                m.insert("reason", reason.as_str().to_string());
                if let UnsupportedReason::OtherLanguage { language } = reason {
                    m.insert("language", language.clone());
                }
            }
        }
        m
    }
}
