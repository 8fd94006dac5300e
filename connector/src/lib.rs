//! twinloom-connector: reads plant data sources and turns them into OpenUSD layer deltas.
//! (The connector proper lands with its issue; the `twinloom` binary's commands live in `main.rs`.)

pub mod sample;
pub mod source;
pub mod binding;
pub mod config;
pub mod delta;
pub mod gpu;
pub mod hub;
pub mod metrics;
pub mod server;
pub mod service;
pub mod shop_writer;
pub mod stage;
pub mod twin;
