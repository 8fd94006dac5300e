//! One name on its own: usd-exchange's `getValidPrimName`, `getValidPropertyName` and the display name.

use crate::bootstring::{encode_identifier, is_continue, is_start};

/// A valid prim name for `name`, as `usdex.core.getValidPrimName` returns it.
pub fn valid_prim_name(name: &str) -> String {
    valid_identifier(name)
}

/// A valid property name for `name`, as `usdex.core.getValidPropertyName` returns it: each
/// `:`-separated namespace part becomes a valid identifier on its own (empty parts become `tn__`).
pub fn valid_property_name(name: &str) -> String {
    name.split(':').map(valid_identifier).collect::<Vec<_>>().join(":")
}

/// The `displayName` to author next to a prim or property called `valid_name` that was made from
/// `original`: the original string, or `None` when it is already the name (nothing to keep).
pub fn display_name<'a>(original: &'a str, valid_name: &str) -> Option<&'a str> {
    (original != valid_name).then_some(original)
}

/// usd-exchange's `makeValidIdentifier` with transcoding on (its default).
fn valid_identifier(name: &str) -> String {
    encode_identifier(name).unwrap_or_else(|| substitute_invalid(name))
}

/// usd-exchange's fallback when transcoding fails: every byte that is not allowed becomes `_`, and a
/// leading digit is kept behind a `_`. Also what an empty name would give (`_`), though that transcodes.
fn substitute_invalid(name: &str) -> String {
    let bytes = name.as_bytes();
    let Some(&first) = bytes.first() else {
        return "_".to_owned();
    };
    let mut out = String::with_capacity(bytes.len() + 1);
    if first.is_ascii_digit() {
        out.push('_');
        out.push(char::from(first));
    } else if is_start(char::from(first)) {
        out.push(char::from(first));
    } else {
        out.push('_');
    }
    for &b in bytes.iter().skip(1).take_while(|&&b| b != 0) {
        out.push(if b.is_ascii() && is_continue(char::from(b)) { char::from(b) } else { '_' });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn property_namespaces() {
        // Outputs of usdex.core.getValidPropertyName 3.0.1.
        for (input, expected) in [
            ("", "tn__"),
            (":", "tn__:tn__"),
            ("a:b", "a:b"),
            ("a::b", "a:tn__:b"),
            (":a", "tn__:a"),
            ("a:1", "a:tn__1_"),
            ("a b:c d", "tn__ab_Z2:tn__cd_Z2"),
        ] {
            assert_eq!(valid_property_name(input), expected, "input {input:?}");
        }
    }

    #[test]
    fn display_name_only_when_changed() {
        assert_eq!(display_name("Robot 1", &valid_prim_name("Robot 1")), Some("Robot 1"));
        assert_eq!(display_name("Robot_1", &valid_prim_name("Robot_1")), None);
    }

    #[test]
    fn substitution_fallback() {
        assert_eq!(substitute_invalid(""), "_");
        assert_eq!(substitute_invalid("1a-b"), "_1a_b");
        assert_eq!(substitute_invalid("ä"), "__");
    }
}
