//! twinloom-web: what Twinloom's browser view needs from Rust, independent of the HTTP server.
//!
//! - [`assets`]: the page's files (web/assets, three.js vendored there), embedded in the binary with
//!   their content types and cache rules, so the single binary is the whole deployment;
//! - [`scene`]: the plant's 3D scene built from a stage's layer stack: a JSON node tree (prim paths,
//!   xform ops in `xformOpOrder` order, roles from the applied Twinloom API schemas, bound signals) and
//!   one binary buffer of meshes (int16-quantized positions, u16/u32 triangle indices, identical meshes
//!   shared), the format of /tmp/web/INTERFACE.md and docs/web.md;
//! - [`gzip`]: compression for both, and the `Accept-Encoding` check.
//!
//! The connector (connector/src/web.rs) serves them on `/`, `/web/*`, `/v1/scene` and `/v1/scene.bin`.

pub mod assets;
pub mod gzip;
pub mod scene;

pub use assets::Asset;
pub use scene::{Scene, SceneError, SceneStats};
