//! Write-back: commands from people and autonomy rules to the plant, each checked against the policy and
//! the capability level, approved where needed, written, verified and audited (docs/write-back.md).
//!
//! - [`expr`]: the expression language of interlocks and autonomy rules;
//! - [`policy`]: the decision for one command (pure, benchmarked);
//! - [`config`]: the `[write_back]`, `[[identity]]`, `[[writable]]` and `[[autonomy]]` tables.

pub mod config;
pub mod expr;
pub mod policy;
