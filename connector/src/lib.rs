//! twinloom-connector: reads plant data sources (OPC UA today), binds their signals to USD attributes,
//! writes the live layers through the OpenUSD bridge and serves the live stream. The `twinloom` program
//! (cli/) runs it.
//!
//! The public API: [`run`] the service with a [`Config`] until its [`Shutdown`]; the OPC UA [`source`]
//! on its own (browse, subscribe, [`Sample`] batches); the stage writers the service runs as child
//! processes ([`write_root`], [`write_layer`]); and the allocator settings of a long-running service
//! ([`tune_allocator`]). Everything else is internal.

pub mod aggregate;
pub mod ask;
pub mod audit;
mod binding;
mod child_writer;
pub mod command;
mod config;
mod crypto;
mod delta;
pub mod federation;
mod gpu;
pub mod history;
mod hub;
mod journal;
mod layer_save;
pub mod lease;
mod memory;
pub mod mes;
mod metrics;
pub mod nats;
pub mod observe;
pub mod partition;
pub mod recommend;
pub mod replay;
mod sample;
mod server;
mod service;
mod shop_attrs;
mod shop_writer;
mod shutdown;
pub mod source;
mod stage;
mod twin;
mod web;

pub use child_writer::ChildWriteError;
pub use config::{
    AutoBindingConfig, BindingConfig, Config, ConfigError, ConfigProblem, DiagnosticsConfig, JournalConfig,
    SourceConfig, StageConfig, StreamConfig,
};
pub use layer_save::write_layer;
pub use memory::tune_allocator;
pub use sample::{Quality, Sample, SampleBatch, Value};
pub use service::{run, spawn, RunSummary, Running, ServiceError, Started};
pub use shutdown::Shutdown;
pub use stage::{read_spec as read_root_spec, write_root, BoundAttribute, RootStage};
