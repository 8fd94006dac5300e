//! twinloom-simulator: the sample plant as an OPC UA server (async-opcua), deterministic for a seed.
//!
//! A BIW line (6 stations, 12 six-axis robots running weld programs), a paint shop (pretreatment,
//! booths, oven, conveyors, energy meters) and an assembly line (12 stations with VIN, order and andon),
//! with faults (MTBF/MTTR) and shift changes; field sensors scale it from 2,000 to millions of signals.
//! Node ids are the browse paths in the plant namespace: `ns=<i>;s=Plant/BIW/Station01/R01/J1`
//! (see the crate README for the full list).
//!
//! The setpoints are writable (oven zone temperatures, conveyor speeds, the assembly takt, robot program
//! selects; [`PlantModel::setpoints`]) and each assembly station has an `AcknowledgeFault` method; every
//! write and call received is recorded ([`SimulatorHandle::write_log`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), twinloom_simulator::SimError> {
//! let sim = twinloom_simulator::Simulator::start(twinloom_simulator::SimConfig { port: 0, ..Default::default() }).await?;
//! println!("serving {} signals on {}", sim.signals().len(), sim.endpoint_url());
//! sim.shutdown().await;
//! # Ok(()) }
//! ```

pub mod broker;
pub mod config;
pub mod mes;
pub mod modbus;
pub mod model;
mod node_manager;
mod rng;
mod server;
pub mod sparkplug;
mod write_log;

pub use config::{SimConfig, NAMESPACE_URI};
pub use model::{Acknowledgement, ModelConfig, PlantModel, Setpoint, SignalInfo, SimValue, ValueType, WriteError};
pub use server::{acknowledge_fault_path, to_variant, SimStats, Simulator, SimulatorHandle};
pub use write_log::{RecordKind, WriteRecord};

/// What can go wrong starting the simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A configuration value is out of range.
    #[error("invalid simulator configuration: {0}")]
    Config(String),
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    /// The OPC UA server could not be built or started.
    #[error("OPC UA server: {0}")]
    Server(String),
}
