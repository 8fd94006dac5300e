//! Readers for Scholl's `.IN2` format and Otto et al.'s `.alb` format.
//!
//! Both readers take raw bytes: CRLF line ends are accepted, bytes that are not UTF-8 are replaced (they only
//! ever occur in comments), and anything after the end mark (`-1,-1` in .IN2, `<end>` in .alb) is ignored.
//! Errors name `file:line`.

use std::path::Path;

use crate::error::{FlowError, Result};
use crate::salbp::instance::{Instance, Zoning};

/// Reads an instance from a file, choosing the format by extension (`.alb`, otherwise `.IN2`).
pub fn read_instance(path: &Path) -> Result<Instance> {
    let bytes = std::fs::read(path).map_err(|err| FlowError::Io { path: path.display().to_string(), err })?;
    let name = path.display().to_string();
    let is_alb = path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("alb"));
    if is_alb {
        parse_alb(&name, &bytes)
    } else {
        parse_in2(&name, &bytes)
    }
}

/// Lines as (1-based number, trimmed text), tolerant to CRLF and non-UTF-8 bytes.
fn lines(bytes: &[u8]) -> impl Iterator<Item = (usize, String)> + '_ {
    bytes.split(|&b| b == b'\n').enumerate().map(|(i, l)| (i + 1, String::from_utf8_lossy(l).trim().to_string()))
}

fn number<T: std::str::FromStr>(file: &str, line: usize, text: &str, what: &str) -> Result<T> {
    text.trim().parse().map_err(|_| FlowError::parse(file, line, format!("expected {what}, found {text:?}")))
}

fn pair(file: &str, line: usize, text: &str) -> Result<(i64, i64)> {
    let mut it = text.split(',');
    match (it.next(), it.next(), it.next()) {
        (Some(a), Some(b), None) => {
            Ok((number(file, line, a, "a task number")?, number(file, line, b, "a task number")?))
        }
        _ => Err(FlowError::parse(file, line, format!("expected a precedence pair `i,j`, found {text:?}"))),
    }
}

fn arc(file: &str, line: usize, (a, b): (i64, i64), n: usize) -> Result<(usize, usize)> {
    let ok = |x: i64| x >= 1 && (x as usize) <= n;
    if !ok(a) || !ok(b) {
        return Err(FlowError::parse(file, line, format!("precedence {a},{b} names a task outside 1..={n}")));
    }
    Ok((a as usize - 1, b as usize - 1))
}

/// Parses Scholl's `.IN2`: the task count, one time per line, then `i,j` pairs up to `-1,-1`.
pub fn parse_in2(file: &str, bytes: &[u8]) -> Result<Instance> {
    let mut it = lines(bytes).filter(|(_, l)| !l.is_empty());
    let (l0, first) = it.next().ok_or_else(|| FlowError::parse(file, 1, "empty file: expected the number of tasks"))?;
    let n: usize = number(file, l0, &first, "the number of tasks")?;
    let mut times = Vec::with_capacity(n);
    for k in 0..n {
        let (line, text) = it
            .next()
            .ok_or_else(|| FlowError::parse(file, l0 + k + 1, format!("file ends after {k} of {n} task times")))?;
        times.push(number(file, line, &text, "a task time")?);
    }
    let mut precedences = Vec::new();
    let mut ended = false;
    for (line, text) in it.by_ref() {
        let p = pair(file, line, &text)?;
        if p == (-1, -1) {
            ended = true;
            break;
        }
        precedences.push(arc(file, line, p, n)?);
    }
    if !ended {
        let last = lines(bytes).count();
        return Err(FlowError::parse(file, last, "missing end mark `-1,-1`"));
    }
    let inst = Instance { name: file.to_string(), times, precedences, cycle_time: None, zoning: Zoning::default() };
    inst.validate()?;
    Ok(inst)
}

/// Parses Otto et al.'s `.alb`: tagged sections `<number of tasks>`, `<cycle time>`, `<task times>`,
/// `<precedence relations>` up to `<end>`. Other sections (e.g. `<order strength>`) are skipped.
pub fn parse_alb(file: &str, bytes: &[u8]) -> Result<Instance> {
    let mut section = String::new();
    let mut n: Option<usize> = None;
    let mut cycle_time = None;
    let mut times: Vec<(usize, usize, u64)> = Vec::new();
    let mut arcs: Vec<(usize, (i64, i64))> = Vec::new();
    let mut ended = false;
    for (line, text) in lines(bytes) {
        if text.is_empty() {
            continue;
        }
        if text.starts_with('<') {
            section = text.to_ascii_lowercase();
            if section == "<end>" {
                ended = true;
                break;
            }
            continue;
        }
        match section.as_str() {
            "<number of tasks>" => n = Some(number(file, line, &text, "the number of tasks")?),
            "<cycle time>" => cycle_time = Some(number(file, line, &text, "the cycle time")?),
            "<task times>" => {
                let mut f = text.split_whitespace();
                match (f.next(), f.next(), f.next()) {
                    (Some(a), Some(b), None) => times.push((
                        line,
                        number(file, line, a, "a task number")?,
                        number(file, line, b, "a task time")?,
                    )),
                    _ => return Err(FlowError::parse(file, line, format!("expected `task time`, found {text:?}"))),
                }
            }
            "<precedence relations>" => arcs.push((line, pair(file, line, &text)?)),
            "" => return Err(FlowError::parse(file, line, format!("text before the first section tag: {text:?}"))),
            _ => {}
        }
    }
    if !ended {
        return Err(FlowError::parse(file, lines(bytes).count(), "missing end mark `<end>`"));
    }
    let n = n.ok_or_else(|| FlowError::parse(file, 1, "missing section <number of tasks>"))?;
    let mut t = vec![None; n];
    for (line, task, time) in times {
        if task == 0 || task > n {
            return Err(FlowError::parse(file, line, format!("task {task} outside 1..={n}")));
        }
        if t[task - 1].replace(time).is_some() {
            return Err(FlowError::parse(file, line, format!("task {task} has two times")));
        }
    }
    let times = t
        .into_iter()
        .enumerate()
        .map(|(i, x)| x.ok_or_else(|| FlowError::invalid(file, format!("task {} has no time in <task times>", i + 1))))
        .collect::<Result<Vec<_>>>()?;
    let precedences = arcs.into_iter().map(|(line, p)| arc(file, line, p, n)).collect::<Result<Vec<_>>>()?;
    let inst = Instance { name: file.to_string(), times, precedences, cycle_time, zoning: Zoning::default() };
    inst.validate()?;
    Ok(inst)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in2_with_crlf_trailing_text_and_latin1() {
        let bytes = b"3\r\n5\r\n4\r\n7\r\n1,2\r\n1,3\r\n-1,-1\r\n\r\n(gel\x94scht) 9,9\r\n";
        let inst = parse_in2("x.IN2", bytes).unwrap();
        assert_eq!(inst.times, vec![5, 4, 7]);
        assert_eq!(inst.precedences, vec![(0, 1), (0, 2)]);
    }

    #[test]
    fn in2_errors_name_file_and_line() {
        let e = parse_in2("bad.IN2", b"2\n5\nx\n-1,-1\n").unwrap_err().to_string();
        assert_eq!(e, "bad.IN2:3: expected a task time, found \"x\"");
        let e = parse_in2("bad.IN2", b"2\n5\n6\n1,3\n-1,-1\n").unwrap_err().to_string();
        assert_eq!(e, "bad.IN2:4: precedence 1,3 names a task outside 1..=2");
        let e = parse_in2("bad.IN2", b"2\n5\n6\n1,2\n").unwrap_err().to_string();
        assert!(e.contains("missing end mark"), "{e}");
        let e = parse_in2("bad.IN2", b"2\n5\n6\n1,2\n2,1\n-1,-1\n").unwrap_err().to_string();
        assert!(e.contains("cycle"), "{e}");
    }

    #[test]
    fn alb_sections() {
        let bytes = b"<number of tasks>\r\n3\r\n\r\n<cycle time>\r\n1000\r\n\r\n<order strength>\r\n0,667\r\n\r\n\
<task times>\r\n1 10\r\n2 20\r\n3 30\r\n\r\n<precedence relations>\r\n1,2\r\n2,3\r\n\r\n<end>\r\nfree \xff text\r\n";
        let inst = parse_alb("x.alb", bytes).unwrap();
        assert_eq!(inst.times, vec![10, 20, 30]);
        assert_eq!(inst.cycle_time, Some(1000));
        assert_eq!(inst.precedences, vec![(0, 1), (1, 2)]);
        let e = parse_alb("y.alb", b"<number of tasks>\n2\n<task times>\n1 5\n3 4\n<end>\n").unwrap_err().to_string();
        assert_eq!(e, "y.alb:5: task 3 outside 1..=2");
    }
}
