//! Errors of the recommender: each names what was wrong, never a made-up number.

/// Why a recommendation could not be made or written.
#[derive(Debug, thiserror::Error)]
pub enum PrescriptiveError {
    /// The plant and a sibling were not run with the same replications.
    #[error("sibling {sibling}: {base} plant replications but {candidate} sibling replications; they must be paired")]
    Unpaired { sibling: String, base: usize, candidate: usize },
    /// Too few replications for a confidence interval.
    #[error("sibling {sibling}: {n} replication(s); a confidence interval needs at least 2")]
    TooFewReplications { sibling: String, n: usize },
    /// A statistic that is not a finite number (a failed sibling run).
    #[error("sibling {sibling}: replication {replication} gave {value}, not a finite number")]
    NotFinite { sibling: String, replication: usize, value: f64 },
    /// A prim path or attribute name that a `.usda` layer cannot hold.
    #[error("{what} {value:?} is not a valid {kind}")]
    InvalidName { what: &'static str, value: String, kind: &'static str },
    /// Two recommendations with the same id.
    #[error("two recommendations have the id {0:?}")]
    DuplicateId(String),
    /// A search option out of range (named), e.g. a grid step that is not positive.
    #[error("{what}: {why}")]
    InvalidOption { what: &'static str, why: String },
    /// The model the program evaluates candidates with failed (its message).
    #[error("{0}")]
    Model(String),
    /// Writing a sibling or results layer failed (the writer's message).
    #[error("{0}")]
    Layer(String),
}
