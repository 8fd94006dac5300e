//! Calendar months (`YYYY-MM`), the ledger's time step.

use std::fmt;

/// A calendar month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month(i32);

impl Month {
    /// The month `year-month` (month 1–12).
    pub fn new(year: i32, month: u32) -> Option<Month> {
        (1..=12).contains(&month).then(|| Month(year * 12 + month as i32 - 1))
    }

    /// Parses `YYYY-MM`.
    pub fn parse(text: &str) -> Option<Month> {
        let (y, m) = text.trim().split_once('-')?;
        if y.len() != 4 || m.len() != 2 {
            return None;
        }
        Month::new(y.parse().ok()?, m.parse().ok()?)
    }

    /// The month `n` months later (earlier for negative `n`).
    pub fn plus(self, n: i32) -> Month {
        Month(self.0 + n)
    }

    /// Months from `from` to `self` (0 when equal).
    pub fn since(self, from: Month) -> i32 {
        self.0 - from.0
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.0.div_euclid(12), self.0.rem_euclid(12) + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::Month;

    #[test]
    fn months_parse_print_and_count() {
        let m = Month::parse("2026-11").unwrap();
        assert_eq!(m.to_string(), "2026-11");
        assert_eq!(m.plus(2).to_string(), "2027-01");
        assert_eq!(m.plus(2).since(m), 2);
        for bad in ["2026-13", "2026-00", "26-01", "2026/01", "2026-1", ""] {
            assert_eq!(Month::parse(bad), None, "{bad}");
        }
    }
}
