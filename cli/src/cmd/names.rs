//! `twinloom names`: prints valid USD names for source names, exactly as NVIDIA's usd-exchange makes them.
//!
//! One output line per input name, in order: each name on its own like `usdex.core.getValidPrimName`
//! (`getValidPropertyName` with `--property`), or with `--siblings` all names made unique as children of
//! one new prim like `getValidChildNames` (`getValidPropertyNames` with `--property`).

use std::io::BufRead;
use std::process::ExitCode;

use anyhow::{bail, Context};
use twinloom_usd_names::{valid_child_names, valid_prim_name, valid_property_name, valid_property_names};

#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  twinloom names 'Station 010' 'Robot #1'\n  twinloom names --property 'temp (°C)'\n  \
                        cut -d, -f1 signals.csv | twinloom names --stdin --siblings"
)]
pub struct Args {
    /// Make property names (each ':'-separated namespace part made valid) instead of prim names.
    #[arg(long)]
    property: bool,
    /// Make all names unique among each other, as the children (or properties) of one prim.
    #[arg(long)]
    siblings: bool,
    /// Read the names from standard input, one per line, instead of from the arguments.
    #[arg(long, conflicts_with = "names")]
    stdin: bool,
    /// The names to convert.
    #[arg(value_name = "NAME")]
    names: Vec<String>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let names = if args.stdin { read_lines(std::io::stdin().lock())? } else { args.names };
    if names.is_empty() && !args.stdin {
        bail!("no names given: pass them as arguments, or use --stdin to read one per line");
    }
    let valid = convert(&names, args.property, args.siblings);
    for name in &valid {
        out!("{name}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The valid name for each input name, in order.
fn convert(names: &[String], property: bool, siblings: bool) -> Vec<String> {
    match (property, siblings) {
        (false, false) => names.iter().map(|n| valid_prim_name(n)).collect(),
        (true, false) => names.iter().map(|n| valid_property_name(n)).collect(),
        (false, true) => valid_child_names(names),
        (true, true) => valid_property_names(names, &[]),
    }
}

/// One name per line; the line ending (`\n` or `\r\n`) is not part of the name. Lines must be UTF-8.
fn read_lines(input: impl BufRead) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    for (index, line) in input.split(b'\n').enumerate() {
        let mut bytes = line.context("reading standard input")?;
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        let name = String::from_utf8(bytes)
            .map_err(|e| anyhow::anyhow!("standard input line {}: not valid UTF-8 ({e})", index + 1))?;
        names.push(name);
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_keep_empty_names_and_drop_line_endings() {
        let names = read_lines(&b"a\r\n\nb c\nlast"[..]).expect("valid input");
        assert_eq!(names, ["a", "", "b c", "last"]);
    }

    #[test]
    fn bad_utf8_names_the_line() {
        let err = read_lines(&b"ok\n\xff\n"[..]).expect_err("invalid UTF-8").to_string();
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn modes() {
        // Expected values are usd-exchange 3.0.1 outputs for the same names.
        let names = vec!["a b".to_owned(), "a b".to_owned(), "x:1".to_owned()];
        assert_eq!(convert(&names, false, false), ["tn__ab_Z2", "tn__ab_Z2", "tn__x1_p4"]);
        assert_eq!(convert(&names, true, false), ["tn__ab_Z2", "tn__ab_Z2", "x:tn__1_"]);
        assert_eq!(convert(&names, false, true), ["tn__ab_Z2", "tn__ab_1_b4", "tn__x1_p4"]);
        assert_eq!(convert(&names, true, true), ["tn__ab_Z2", "tn__ab_1_b4", "x:tn__1_"]);
    }
}
