//! The plant copilot (issue 19, docs/copilot.md): plain-language questions about the twin, answered
//! offline and grounded. [`parse()`] maps a question to an [`Intent`] with slots by a documented grammar (no
//! model, no network); [`answer()`] renders short plain sentences from the twin's [`Facts`], and every number
//! in them comes from a fact the answer names in its `sources`. When a fact is missing or failed, or the
//! question is empty, in another language or off topic, the answer says so and lists what the copilot can
//! answer instead.
//!
//! The crate depends on no other Twinloom crate: a front end (the CLI's `twinloom ask`, the service's
//! `POST /v1/ask`) implements [`Facts`] by running or reading the real analyses; the README says which
//! analysis gives which fact.
//!
//! ```
//! use twinloom_copilot::{ask, parse, Intent, NoFacts};
//!
//! let intent = parse("We want to add a new variant to the BIW line. Will the robots clash?");
//! assert_eq!(intent, Intent::Clashes { variant: Some("new".into()), station: None, robot: None });
//! let a = ask("Quel temps fait-il ?", &NoFacts);
//! assert!(!a.answered && a.text.contains("English"));
//! ```

pub mod answer;
pub mod facts;
pub mod intent;
pub mod parse;

pub use answer::{answer, ask, Answer};
pub use facts::{
    matches_terms, AnomalyFact, AnomalyFacts, BalanceFact, BiwFacts, BiwStationFact, ClashFact, CurrentFacts,
    EstimateFact, FactError, FactKind, FactResult, FactValue, Facts, Fix, ForecastFact, ForecastFacts, ForecastUnit,
    GapFact, NoFacts, PaybackFact, SimStationFact, SimulationFact, Source, StationLoadFact, UnreachableFact, ValueFact,
};
pub use intent::{BalanceFocus, Intent, UnsupportedReason, CAPABILITIES};
pub use parse::parse;
