//! twinloom-connector: reads plant data sources (OPC UA today), binds their signals to USD attributes,
//! writes the live layers through the OpenUSD bridge and serves the live stream. The `twinloom` program
//! (cli/) runs it.

pub mod binding;
pub mod child_writer;
pub mod config;
pub mod delta;
pub mod gpu;
pub mod hub;
pub mod layer_save;
pub mod memory;
pub mod metrics;
pub mod sample;
pub mod server;
pub mod service;
pub mod shop_attrs;
pub mod shop_writer;
pub mod shutdown;
pub mod source;
pub mod stage;
pub mod twin;
