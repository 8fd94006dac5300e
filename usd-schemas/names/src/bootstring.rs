//! Bootstring transcoding of identifiers (usd-exchange's `encodeIdentifier`, ASCII format).
//!
//! The characters that may continue an ASCII identifier (`[A-Za-z0-9_]`) are kept in order, followed by
//! `_` when there are any; every other code point is appended as a variable-length base-62 number
//! (threshold 31, no bias adaptation) that encodes its code point and its position among the characters
//! already placed. The result is prefixed with `tn__`, except for input that is already a valid
//! identifier, which comes back unchanged.

/// Prefix of every transcoded name; itself a valid identifier start.
const PREFIX: &str = "tn__";
/// Separates the kept characters from the encoded ones.
const DELIMITER: char = '_';
/// Digit values below this end a variable-length number.
const THRESHOLD: u64 = 31;
const BASE: u64 = 62;

/// `[A-Za-z_]`: may start an ASCII identifier.
pub(crate) fn is_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

/// `[A-Za-z0-9_]`: may continue an ASCII identifier.
pub(crate) fn is_continue(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Encodes `input` as an ASCII identifier. Returns `None` only when the bootstring arithmetic would
/// overflow 64 bits (inputs of trillions of characters), where usd-exchange falls back to substitution.
pub fn encode_identifier(input: &str) -> Option<String> {
    let encoded = encode_bootstring(input)?;
    let unchanged = encoded.len() == input.len() + 1 && encoded.starts_with(input) && encoded.ends_with(DELIMITER);
    if unchanged && input.chars().next().is_some_and(is_start) {
        return Some(input.to_owned());
    }
    Some(format!("{PREFIX}{encoded}"))
}

/// The bootstring body: kept characters, delimiter, then the encoded extended code points.
fn encode_bootstring(input: &str) -> Option<String> {
    let mut out: String = input.chars().filter(|&c| is_continue(c)).collect();
    if !out.is_empty() {
        out.push(DELIMITER);
    }
    let count = input.chars().count();
    let mut placed = PrefixCounts::new(count);
    let mut encoded_points: u64 = 0;
    let mut extended: Vec<(u32, usize)> = Vec::new();
    for (position, c) in input.chars().enumerate() {
        if is_continue(c) {
            placed.add(position);
            encoded_points += 1;
        } else {
            extended.push((u32::from(c), position));
        }
    }
    extended.sort_unstable();

    let mut previous: u32 = 0;
    for (code_point, position) in extended {
        let before = placed.count_up_to(position);
        let step = u64::from(code_point - previous);
        let delta = step.checked_mul(encoded_points + 1)?.checked_add(before)?;
        push_variable_length(&mut out, delta);
        previous = code_point;
        placed.add(position);
        encoded_points += 1;
    }
    Some(out)
}

/// Appends `number` as little-endian variable-length base-62 digits.
fn push_variable_length(out: &mut String, mut number: u64) {
    while number >= THRESHOLD {
        out.push(base62_digit(THRESHOLD + (number - THRESHOLD) % (BASE - THRESHOLD)));
        number = (number - THRESHOLD) / (BASE - THRESHOLD);
    }
    out.push(base62_digit(number));
}

/// `0-9`, then `A-Z`, then `a-z`.
fn base62_digit(value: u64) -> char {
    const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    // `value` is always below 62 here (the remainders above and the final number are < 62).
    char::from(DIGITS[(value % BASE) as usize])
}

/// Fenwick tree counting which positions already hold a character.
struct PrefixCounts {
    tree: Vec<u64>,
}

impl PrefixCounts {
    fn new(len: usize) -> Self {
        PrefixCounts { tree: vec![0; len + 1] }
    }

    fn add(&mut self, position: usize) {
        let mut i = position + 1;
        while i < self.tree.len() {
            self.tree[i] += 1;
            i += i & i.wrapping_neg();
        }
    }

    /// How many positions `0..=position` are set.
    fn count_up_to(&self, position: usize) -> u64 {
        let mut sum = 0;
        let mut i = position + 1;
        while i > 0 {
            sum += self.tree[i];
            i -= i & i.wrapping_neg();
        }
        sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_encodings() {
        // Outputs of usdex.core.getValidPrimName 3.0.1.
        for (input, expected) in [
            ("", "tn__"),
            ("abc", "abc"),
            ("1abc", "tn__1abc_"),
            (" ", "tn__W0"),
            ("hello world", "tn__helloworld_lA"),
            ("wörld", "tn__wrld_rc0"),
            ("日本語", "tn__jYQZKbeR"),
            ("😀", "tn__mqd3"),
        ] {
            assert_eq!(encode_identifier(input).as_deref(), Some(expected), "input {input:?}");
        }
    }
}
