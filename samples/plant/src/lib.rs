//! twinloom-plant-layout: the sample plant's layout, written to `layout.usda` through `twinloom-usd`, and
//! the demo's signal bindings that make it move.
//!
//! - [`write_layout`] / [`build_layout`]: the layout, as `layout.usda` (structure, schemas, transforms,
//!   bindings) over a crate sublayer `layout_geometry.usdc` holding the meshes; together the stage (metersPerUnit 1, upAxis Z, defaultPrim `/Plant`):
//!   building and floor; the BIW line with six stations, each with a fixture, a closed body-in-white
//!   mesh ([`body`]) with weld points and two articulated OPW robots ([`robot`]) whose link prims nest
//!   along the joints; the paint shop (pretreatment tanks, booths, oven zones, conveyors); the assembly
//!   line. Twinloom schemas are applied throughout, and every bound attribute carries its
//!   `TwinloomSignalBindingAPI` instance.
//! - [`demo_bindings`]: every simulator signal that drives the layout, with prim, attribute, type,
//!   scale, offset and unit (see [`bindings`]).
//!
//! Structure and names mirror the OPC UA plant simulator (`samples/simulator`, see [`plant`]).

pub mod bindings;
pub mod body;
mod error;
mod layout;
pub mod mesh;
pub mod plant;
pub mod robot;

pub use bindings::{demo_bindings, DemoBinding};
pub use error::LayoutError;
pub use layout::{
    b_pillar_reinforcement, build_layout, build_layout_variant, geometry_file_name, write_layout, write_layout_variant,
    Layout, LayoutSummary, Variant, BODY_Z, HOME_DEG, MOVED_WELDS, REINFORCEMENT_PROUD, REINFORCEMENT_X,
    REINFORCEMENT_Z, WELDS_PER_STATION,
};
