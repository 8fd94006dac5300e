//! Write-back: commands from people and autonomy rules to the plant, each checked against the policy and
//! the capability level, approved where needed, written, verified and audited (docs/write-back.md).
//!
//! - [`engine`]: commands through their states: decided, approved, written, verified, audited;
//! - [`expr`]: the expression language of interlocks and autonomy rules;
//! - [`policy`]: the decision for one command (pure, benchmarked);
//! - [`sink`]: where writes go (the OPC UA source; other kinds plug in);
//! - [`stage_layer`]: the last command per target on the stage (`commands.usda`);
//! - [`tls`]: the command API over TLS, with client certificates (mutual TLS);
//! - [`config`]: the `[write_back]`, `[[identity]]`, `[[writable]]` and `[[autonomy]]` tables.

pub mod config;
pub mod engine;
pub mod expr;
pub(crate) mod http;
pub mod policy;
pub(crate) mod setup;
pub mod sink;
pub mod stage_layer;
pub mod tls;
