//! Names unique among siblings: usd-exchange's `getValidChildNames`, `getValidPrimNames`,
//! `getValidPropertyNames` and its `NameCache` for one parent.
//!
//! Each name is made valid; while it is taken, `_1`, `_2`, … is appended to the *original* name and the
//! result made valid again (the counter per original name persists for the parent). A suffixed name is
//! also skipped when a later name in the same request asks for it exactly, so that request keeps it.

use std::collections::{HashMap, HashSet};

use crate::identifier::{valid_prim_name, valid_property_name};

/// Valid, unique names for new children of a prim that has no children yet
/// (`usdex.core.getValidChildNames` on such a prim; see [`valid_prim_names`] for one with children).
pub fn valid_child_names<S: AsRef<str>>(names: &[S]) -> Vec<String> {
    valid_prim_names(names, &[])
}

/// `usdex.core.getValidPrimNames(names, reservedNames)`: valid, unique prim names that avoid `reserved`
/// (equal to `getValidChildNames` on a prim whose existing children are `reserved`).
pub fn valid_prim_names<S: AsRef<str>>(names: &[S], reserved: &[&str]) -> Vec<String> {
    SiblingNames::with_reserved(reserved).prim_names(names)
}

/// `usdex.core.getValidPropertyNames(names, reservedNames)`.
pub fn valid_property_names<S: AsRef<str>>(names: &[S], reserved: &[&str]) -> Vec<String> {
    SiblingNames::with_reserved(reserved).property_names(names)
}

/// The names already given out under one parent (prims or properties, one kind per instance), so that
/// names requested over several calls stay unique: usd-exchange's `NameCache` entry for one parent.
#[derive(Debug, Default, Clone)]
pub struct SiblingNames {
    used: HashSet<String>,
    next_suffix: HashMap<String, usize>,
}

impl SiblingNames {
    /// No names taken yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// `reserved` (e.g. the parent's existing children) are taken.
    pub fn with_reserved(reserved: &[&str]) -> Self {
        let mut s = Self::new();
        s.used.extend(reserved.iter().map(|&n| n.to_owned()));
        s
    }

    /// Whether `name` is already taken.
    pub fn is_used(&self, name: &str) -> bool {
        self.used.contains(name)
    }

    /// Valid, unique prim names for `names`, in order.
    pub fn prim_names<S: AsRef<str>>(&mut self, names: &[S]) -> Vec<String> {
        self.unique_names(names, valid_prim_name)
    }

    /// Valid, unique property names for `names`, in order.
    pub fn property_names<S: AsRef<str>>(&mut self, names: &[S]) -> Vec<String> {
        self.unique_names(names, valid_property_name)
    }

    /// One valid, unique prim name.
    pub fn prim_name(&mut self, name: &str) -> String {
        self.unique_name(name, valid_prim_name, |_| false)
    }

    /// One valid, unique property name.
    pub fn property_name(&mut self, name: &str) -> String {
        self.unique_name(name, valid_property_name, |_| false)
    }

    fn unique_names<S: AsRef<str>>(&mut self, names: &[S], make_valid: fn(&str) -> String) -> Vec<String> {
        // Last index at which each requested original name occurs, to ask "does a later name want this?".
        let last_request: HashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (n.as_ref(), i)).collect();
        let mut result = Vec::with_capacity(names.len());
        for (index, original) in names.iter().map(AsRef::as_ref).enumerate() {
            let wanted_later = |name: &str| last_request.get(name).is_some_and(|&last| last > index);
            result.push(self.unique_name(original, make_valid, wanted_later));
        }
        result
    }

    /// The valid name of `original`, suffixed until it is free; a suffixed candidate is also passed over
    /// when `wanted_later` says a later name of the same request is exactly that candidate.
    fn unique_name(
        &mut self,
        original: &str,
        make_valid: fn(&str) -> String,
        wanted_later: impl Fn(&str) -> bool,
    ) -> String {
        let valid = make_valid(original);
        let mut name = valid.clone();
        while self.used.contains(&name) || (name != valid && wanted_later(&name)) {
            let suffix = self.next_suffix.entry(original.to_owned()).or_insert(0);
            *suffix += 1;
            name = make_valid(&format!("{}_{suffix}", c_string_prefix(original)));
        }
        self.used.insert(name.clone());
        name
    }
}

/// usd-exchange formats the suffixed name with `printf("%s_%zu")`, which stops at a NUL character.
fn c_string_prefix(s: &str) -> &str {
    s.split('\0').next().unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siblings_match_usd_exchange() {
        // usdex.core.getValidChildNames(prim with no children, names) from usd-exchange 3.0.1.
        let names = ["a", "a", "a_1", "", "", "a b", "a_b", "1", "_1"];
        let expected = ["a", "a_2", "a_1", "tn__", "_2", "tn__ab_Z2", "a_b", "tn__1_", "_1"];
        assert_eq!(valid_child_names(&names), expected);
    }

    #[test]
    fn names_stay_unique_across_calls() {
        let mut siblings = SiblingNames::with_reserved(&["Robot"]);
        assert_eq!(siblings.prim_name("Robot"), "Robot_1");
        assert_eq!(siblings.prim_name("Robot"), "Robot_2");
        assert_eq!(siblings.property_name("a:b"), "a:b");
        assert_eq!(siblings.property_name("a:b"), "a:b_1");
        assert!(siblings.is_used("Robot_2"));
    }
}
