//! Valid, unique USD prim and property names, byte for byte as NVIDIA's OpenUSD Exchange SDK makes them.
//!
//! Source names (OPC UA browse names, MQTT topics, MES labels) are arbitrary strings; USD names are
//! identifiers. usd-exchange (`usdex.core`) maps one onto the other with a bootstring transcoding
//! (`tn__` prefix, base 62, threshold 31) that keeps every character recoverable, and then makes names
//! unique among siblings with `_1`, `_2`, … suffixes. This crate reproduces that in pure Rust:
//!
//! | here | usd-exchange |
//! |---|---|
//! | [`valid_prim_name`] | `getValidPrimName` |
//! | [`valid_property_name`] | `getValidPropertyName` |
//! | [`valid_child_names`] / [`valid_prim_names`] | `getValidChildNames` / `getValidPrimNames` |
//! | [`valid_property_names`] | `getValidPropertyNames` |
//! | [`SiblingNames`] | `NameCache` (one parent) |
//!
//! The original string is what a USD app should show: [`display_name`] says whether a prim needs its
//! `displayName` metadata authored (only when the valid name differs from the source name).
//!
//! ```
//! use twinloom_usd_names::{valid_child_names, valid_prim_name, valid_property_name};
//! assert_eq!(valid_prim_name("hello world"), "tn__helloworld_lA");
//! assert_eq!(valid_property_name("a b:c d"), "tn__ab_Z2:tn__cd_Z2");
//! assert_eq!(valid_child_names(&["a", "a", ""]), ["a", "a_1", "tn__"]);
//! ```

mod bootstring;
mod identifier;
mod unique;

pub use bootstring::encode_identifier;
pub use identifier::{display_name, valid_prim_name, valid_property_name};
pub use unique::{valid_child_names, valid_prim_names, valid_property_names, SiblingNames};

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
