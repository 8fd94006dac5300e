//! The native module of the `twinloom` wheel (`twinloom._native`): Twinloom's body-in-white analytics
//! (`twinloom-biw`: meshes, exact mesh–mesh distance, OPW robot kinematics, reach) and flow analytics
//! (`twinloom-flow`: SALBP-1/2 balancing, line simulation, paint-shop model) for Python, and the decoder of
//! the live stream (`live.rs`) under the Python live client `twinloom.live`.
//!
//! Every error reaches Python as a [`TwinloomError`] (or one of its subclasses) carrying the Rust message;
//! inputs are checked before they reach the libraries, so no panic crosses into Python. Long work runs with
//! the interpreter released (`Python::detach`). The Python package `twinloom` (python/twinloom) re-exports
//! this module and adds typed dataclasses; `_native.pyi` is its stub, checked against this module by the
//! tests.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

mod biw;
mod convert;
mod flow;
mod live;
mod stage;

create_exception!(twinloom, TwinloomError, PyException, "Base class of every error raised by twinloom.");
create_exception!(twinloom, FileError, TwinloomError, "A file could not be read (missing, unreadable).");
create_exception!(
    twinloom,
    ParseError,
    TwinloomError,
    "A file or text could not be parsed; the message names the place."
);
create_exception!(
    twinloom,
    InvalidInputError,
    TwinloomError,
    "An argument or model is not valid (shape, range, unknown name, inconsistent data)."
);

/// The exception for a `twinloom-biw` error.
pub(crate) fn biw_err(e: twinloom_biw::BiwError) -> PyErr {
    use twinloom_biw::BiwError as E;
    let msg = e.to_string();
    match e {
        E::Io { .. } => FileError::new_err(msg),
        E::Parse { .. } | E::Format { .. } | E::UnsupportedFormat { .. } => ParseError::new_err(msg),
        E::InvalidMesh(_) | E::UnknownRobot(_) | E::InvalidInput(_) | E::Trajectory(_) => {
            InvalidInputError::new_err(msg)
        }
        E::Gpu(_) => TwinloomError::new_err(msg),
    }
}

/// The exception for a `twinloom-flow` error.
pub(crate) fn flow_err(e: twinloom_flow::FlowError) -> PyErr {
    use twinloom_flow::FlowError as E;
    let msg = e.to_string();
    match e {
        E::Io { .. } => FileError::new_err(msg),
        E::Parse { .. } => ParseError::new_err(msg),
        E::Invalid { .. } => InvalidInputError::new_err(msg),
        E::Gpu(_) => TwinloomError::new_err(msg),
    }
}

/// An [`InvalidInputError`] with `msg`.
pub(crate) fn invalid(msg: impl Into<String>) -> PyErr {
    InvalidInputError::new_err(msg.into())
}

#[pymodule]
#[pyo3(name = "_native")]
fn native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("TwinloomError", py.get_type::<TwinloomError>())?;
    m.add("FileError", py.get_type::<FileError>())?;
    m.add("ParseError", py.get_type::<ParseError>())?;
    m.add("InvalidInputError", py.get_type::<InvalidInputError>())?;
    biw::register(m)?;
    flow::register(m)?;
    live::register(m)?;
    stage::register(m)?;
    Ok(())
}
