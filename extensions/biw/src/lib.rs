//! twinloom-biw: body-in-white analytics in pure Rust (no USD).
//!
//! - [`mesh`], [`io`]: triangle meshes, STL/OBJ/glTF loading; [`bvh`], [`tri`], [`distance`]: exact mesh–mesh
//!   distance, intersection and penetration estimates.
//! - [`kinematics`]: OPW forward/inverse kinematics with published robot parameter sets.
//! - [`trajectory`]: joint and Cartesian (weld path) trajectories.
//! - [`reach`]: weld-point reachability, out-of-reach distance and base-shift suggestion.
//! - [`weld_program`]: a robot's weld program (approach, weld, retract; joint moves between) from its weld
//!   points, with their reach verdicts and the base-shift suggestion.
//! - [`study`]: collision studies along trajectories with per-robot, per-station summaries, on the CPU or
//!   the GPU ([`study::kernel`], [`reach::kernel`]: each kernel's host side next to its concept; the
//!   kernels are also compiled for the host so CPU-only tests check them).

pub mod bvh;
pub mod distance;
pub mod error;
pub mod io;
pub mod kinematics;
pub mod math;
pub mod mesh;
pub mod reach;
pub mod study;
pub mod synth;
pub mod trajectory;
pub mod tri;
pub mod weld_program;

pub use distance::{mesh_distance, Collider, Distance};
pub use error::BiwError;
pub use math::{Iso3, Mat3, Quat, Vec3};
pub use mesh::TriMesh;
