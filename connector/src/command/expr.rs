//! The small expression language of interlocks and autonomy rules, evaluated against the live twin state
//! (docs/write-back.md, "Expressions"):
//!
//! - values: numbers (`5`, `-2.5`, `1e3`), strings (`"Running"`), `true`, `false`;
//! - `{/Plant/Paint/Oven/Zone1.twinloom:temperature}`: the twin's current value of a bound attribute;
//! - `value`: the commanded value; `current`: the target's current value in the twin;
//! - `abs(x)`, `min(a, b)`, `max(a, b)`; `+ - * /`, unary `-`; `== != < <= > >=` (numbers, and `==`/`!=`
//!   on strings and booleans); `!`, `&&`, `||` (short-circuit); parentheses.
//!
//! An expression is parsed once ([`Expr::parse`], errors with the byte column) and evaluated many times
//! ([`Expr::eval`]). A reference the twin has no value for, a type mismatch or a division by zero is an
//! [`EvalError`] naming it: an interlock that cannot be evaluated does not hold (fail closed).

use std::fmt;

/// A value an expression computes with.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Num(f64),
    Str(String),
    Bool(bool),
}

impl fmt::Display for Val {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Val::Num(x) => write!(f, "{x}"),
            Val::Str(s) => write!(f, "{s:?}"),
            Val::Bool(b) => write!(f, "{b}"),
        }
    }
}

impl Val {
    fn kind(&self) -> &'static str {
        match self {
            Val::Num(_) => "a number",
            Val::Str(_) => "a string",
            Val::Bool(_) => "a boolean",
        }
    }
}

/// What an expression reads: the twin's current values, and the command's value and target.
pub trait Scope {
    /// The current value of the bound attribute `attr_path` (`/Prim.name`), `None` when the twin has none.
    fn attr(&self, attr_path: &str) -> Option<Val>;
    /// The commanded value (`value`), `None` outside a command (an autonomy condition).
    fn value(&self) -> Option<Val>;
    /// The target's current value (`current`).
    fn current(&self) -> Option<Val>;
}

/// A parse error: what is wrong and the byte offset in the expression.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("column {}: {message}", offset + 1)]
pub struct ParseError {
    pub offset: usize,
    pub message: String,
}

/// Why an expression could not be evaluated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    #[error("{0} has no value in the twin")]
    NoValue(String),
    #[error("{op} needs {want}, got {got}")]
    Type { op: &'static str, want: &'static str, got: String },
    #[error("division by zero")]
    DivisionByZero,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
}

impl Op {
    fn text(self) -> &'static str {
        match self {
            Op::Or => "||",
            Op::And => "&&",
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Add => "+",
            Op::Sub => "-",
            Op::Mul => "*",
            Op::Div => "/",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Lit(Val),
    Attr(String),
    Value,
    Current,
    Neg(Box<Node>),
    Not(Box<Node>),
    Bin(Op, Box<Node>, Box<Node>),
    Abs(Box<Node>),
    Min(Box<Node>, Box<Node>),
    Max(Box<Node>, Box<Node>),
}

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    text: String,
    root: Node,
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Expr {
    /// Parses `text`.
    pub fn parse(text: &str) -> Result<Expr, ParseError> {
        let mut p = Parser { s: text.as_bytes(), at: 0 };
        let root = p.or()?;
        p.ws();
        if p.at < p.s.len() {
            return Err(p.err("unexpected text after the expression"));
        }
        Ok(Expr { text: text.to_string(), root })
    }

    /// The expression as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The attribute paths the expression reads (`{…}` references), in order of appearance.
    pub fn references(&self) -> Vec<&str> {
        let mut out = Vec::new();
        refs(&self.root, &mut out);
        out
    }

    /// Evaluates the expression.
    pub fn eval(&self, scope: &dyn Scope) -> Result<Val, EvalError> {
        eval(&self.root, scope)
    }

    /// Evaluates a condition: `Ok(true)` only when it evaluates to `true`.
    pub fn holds(&self, scope: &dyn Scope) -> Result<bool, EvalError> {
        match self.eval(scope)? {
            Val::Bool(b) => Ok(b),
            other => Err(EvalError::Type { op: "a condition", want: "a boolean", got: other.kind().into() }),
        }
    }
}

fn refs<'a>(n: &'a Node, out: &mut Vec<&'a str>) {
    match n {
        Node::Attr(p) => out.push(p),
        Node::Neg(a) | Node::Not(a) | Node::Abs(a) => refs(a, out),
        Node::Bin(_, a, b) | Node::Min(a, b) | Node::Max(a, b) => {
            refs(a, out);
            refs(b, out);
        }
        Node::Lit(_) | Node::Value | Node::Current => {}
    }
}

fn num(op: &'static str, v: Val) -> Result<f64, EvalError> {
    match v {
        Val::Num(x) => Ok(x),
        other => Err(EvalError::Type { op, want: "numbers", got: other.kind().into() }),
    }
}

fn boolean(op: &'static str, v: Val) -> Result<bool, EvalError> {
    match v {
        Val::Bool(b) => Ok(b),
        other => Err(EvalError::Type { op, want: "booleans", got: other.kind().into() }),
    }
}

fn eval(n: &Node, s: &dyn Scope) -> Result<Val, EvalError> {
    Ok(match n {
        Node::Lit(v) => v.clone(),
        Node::Attr(p) => s.attr(p).ok_or_else(|| EvalError::NoValue(p.clone()))?,
        Node::Value => s.value().ok_or_else(|| EvalError::NoValue("value".into()))?,
        Node::Current => s.current().ok_or_else(|| EvalError::NoValue("current".into()))?,
        Node::Neg(a) => Val::Num(-num("-", eval(a, s)?)?),
        Node::Not(a) => Val::Bool(!boolean("!", eval(a, s)?)?),
        Node::Abs(a) => Val::Num(num("abs", eval(a, s)?)?.abs()),
        Node::Min(a, b) => Val::Num(num("min", eval(a, s)?)?.min(num("min", eval(b, s)?)?)),
        Node::Max(a, b) => Val::Num(num("max", eval(a, s)?)?.max(num("max", eval(b, s)?)?)),
        Node::Bin(Op::And, a, b) => Val::Bool(boolean("&&", eval(a, s)?)? && boolean("&&", eval(b, s)?)?),
        Node::Bin(Op::Or, a, b) => Val::Bool(boolean("||", eval(a, s)?)? || boolean("||", eval(b, s)?)?),
        Node::Bin(op @ (Op::Eq | Op::Ne), a, b) => {
            let (x, y) = (eval(a, s)?, eval(b, s)?);
            let same = match (&x, &y) {
                (Val::Num(p), Val::Num(q)) => p == q,
                (Val::Str(p), Val::Str(q)) => p == q,
                (Val::Bool(p), Val::Bool(q)) => p == q,
                _ => {
                    return Err(EvalError::Type {
                        op: op.text(),
                        want: "two values of the same kind",
                        got: format!("{} and {}", x.kind(), y.kind()),
                    })
                }
            };
            Val::Bool(same == (*op == Op::Eq))
        }
        Node::Bin(op, a, b) => {
            let (x, y) = (num(op.text(), eval(a, s)?)?, num(op.text(), eval(b, s)?)?);
            match op {
                Op::Lt => Val::Bool(x < y),
                Op::Le => Val::Bool(x <= y),
                Op::Gt => Val::Bool(x > y),
                Op::Ge => Val::Bool(x >= y),
                Op::Add => Val::Num(x + y),
                Op::Sub => Val::Num(x - y),
                Op::Mul => Val::Num(x * y),
                Op::Div if y == 0.0 => return Err(EvalError::DivisionByZero),
                Op::Div => Val::Num(x / y),
                Op::And | Op::Or | Op::Eq | Op::Ne => unreachable!("handled above"),
            }
        }
    })
}

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn err(&self, message: impl Into<String>) -> ParseError {
        ParseError { offset: self.at, message: message.into() }
    }
    fn ws(&mut self) {
        while self.s.get(self.at).is_some_and(|c| c.is_ascii_whitespace()) {
            self.at += 1;
        }
    }
    /// Consumes `tok` (after whitespace) when it comes next.
    fn eat(&mut self, tok: &str) -> bool {
        self.ws();
        if self.s[self.at..].starts_with(tok.as_bytes()) {
            self.at += tok.len();
            true
        } else {
            false
        }
    }
    fn expect(&mut self, tok: &str) -> Result<(), ParseError> {
        if self.eat(tok) {
            Ok(())
        } else {
            Err(self.err(format!("expected `{tok}`")))
        }
    }
    fn binary(
        &mut self,
        ops: &[(&str, Op)],
        next: fn(&mut Self) -> Result<Node, ParseError>,
    ) -> Result<Node, ParseError> {
        let mut left = next(self)?;
        'more: loop {
            for (tok, op) in ops {
                // `<` must not take the first byte of `<=`, nor `!` of `!=` elsewhere.
                self.ws();
                let rest = &self.s[self.at..];
                if rest.starts_with(tok.as_bytes()) && !(tok.len() == 1 && rest.get(1) == Some(&b'=')) {
                    self.at += tok.len();
                    left = Node::Bin(*op, Box::new(left), Box::new(next(self)?));
                    continue 'more;
                }
            }
            return Ok(left);
        }
    }
    fn or(&mut self) -> Result<Node, ParseError> {
        self.binary(&[("||", Op::Or)], Self::and)
    }
    fn and(&mut self) -> Result<Node, ParseError> {
        self.binary(&[("&&", Op::And)], Self::cmp)
    }
    fn cmp(&mut self) -> Result<Node, ParseError> {
        let ops = [("==", Op::Eq), ("!=", Op::Ne), ("<=", Op::Le), (">=", Op::Ge), ("<", Op::Lt), (">", Op::Gt)];
        let left = self.sum()?;
        for (tok, op) in ops {
            self.ws();
            let rest = &self.s[self.at..];
            if rest.starts_with(tok.as_bytes()) && !(tok.len() == 1 && rest.get(1) == Some(&b'=')) {
                self.at += tok.len();
                return Ok(Node::Bin(op, Box::new(left), Box::new(self.sum()?)));
            }
        }
        Ok(left)
    }
    fn sum(&mut self) -> Result<Node, ParseError> {
        self.binary(&[("+", Op::Add), ("-", Op::Sub)], Self::product)
    }
    fn product(&mut self) -> Result<Node, ParseError> {
        self.binary(&[("*", Op::Mul), ("/", Op::Div)], Self::unary)
    }
    fn unary(&mut self) -> Result<Node, ParseError> {
        self.ws();
        if self.s.get(self.at) == Some(&b'!') && self.s.get(self.at + 1) != Some(&b'=') {
            self.at += 1;
            return Ok(Node::Not(Box::new(self.unary()?)));
        }
        if self.eat("-") {
            return Ok(Node::Neg(Box::new(self.unary()?)));
        }
        self.atom()
    }
    fn args(&mut self, n: usize) -> Result<Vec<Node>, ParseError> {
        self.expect("(")?;
        let mut out = vec![self.or()?];
        while out.len() < n {
            self.expect(",")?;
            out.push(self.or()?);
        }
        self.expect(")")?;
        Ok(out)
    }
    fn atom(&mut self) -> Result<Node, ParseError> {
        self.ws();
        let start = self.at;
        match self.s.get(self.at) {
            None => Err(self.err("expected a value, found the end")),
            Some(b'(') => {
                self.at += 1;
                let inner = self.or()?;
                self.expect(")")?;
                Ok(inner)
            }
            Some(b'{') => {
                let end = self.s[start..].iter().position(|&c| c == b'}').ok_or_else(|| self.err("`{` without `}`"))?;
                let path = std::str::from_utf8(&self.s[start + 1..start + end]).unwrap_or("").trim();
                let well_formed = path.split_once('.').is_some_and(|(prim, attr)| {
                    crate::config::is_prim_path(prim) && crate::config::is_property_name(attr)
                });
                if !well_formed {
                    return Err(self.err(format!("`{{{path}}}` is not an attribute path such as {{/Plant/Prim.attr}}")));
                }
                self.at = start + end + 1;
                Ok(Node::Attr(path.to_string()))
            }
            Some(b'"') => {
                let end = self.s[start + 1..]
                    .iter()
                    .position(|&c| c == b'"')
                    .ok_or_else(|| self.err("unterminated string"))?;
                let text = std::str::from_utf8(&self.s[start + 1..start + 1 + end]).unwrap_or("").to_string();
                self.at = start + end + 2;
                Ok(Node::Lit(Val::Str(text)))
            }
            Some(c) if c.is_ascii_digit() || *c == b'.' => {
                let mut end = start;
                while let Some(&c) = self.s.get(end) {
                    let exponent_sign = (c == b'-' || c == b'+') && matches!(self.s.get(end - 1), Some(b'e' | b'E'));
                    if c.is_ascii_digit() || c == b'.' || c == b'e' || c == b'E' || exponent_sign {
                        end += 1;
                    } else {
                        break;
                    }
                }
                let text = std::str::from_utf8(&self.s[start..end]).unwrap_or("");
                let x: f64 = text.parse().map_err(|_| self.err(format!("`{text}` is not a number")))?;
                self.at = end;
                Ok(Node::Lit(Val::Num(x)))
            }
            Some(c) if c.is_ascii_alphabetic() => {
                let mut end = start;
                while self.s.get(end).is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_') {
                    end += 1;
                }
                let word = std::str::from_utf8(&self.s[start..end]).unwrap_or("");
                self.at = end;
                Ok(match word {
                    "true" => Node::Lit(Val::Bool(true)),
                    "false" => Node::Lit(Val::Bool(false)),
                    "value" => Node::Value,
                    "current" => Node::Current,
                    "abs" => Node::Abs(Box::new(self.args(1)?.remove(0))),
                    "min" | "max" => {
                        let mut a = self.args(2)?;
                        let (y, x) = (a.remove(1), a.remove(0));
                        if word == "min" {
                            Node::Min(Box::new(x), Box::new(y))
                        } else {
                            Node::Max(Box::new(x), Box::new(y))
                        }
                    }
                    _ => {
                        self.at = start;
                        return Err(self.err(format!(
                            "unknown name `{word}` (attributes are written {{/Prim.attr}}; names: value, current, true, false, abs, min, max)"
                        )));
                    }
                })
            }
            Some(_) => Err(self.err("expected a value")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct S(HashMap<&'static str, Val>, Option<Val>);
    impl Scope for S {
        fn attr(&self, p: &str) -> Option<Val> {
            self.0.get(p).cloned()
        }
        fn value(&self) -> Option<Val> {
            self.1.clone()
        }
        fn current(&self) -> Option<Val> {
            Some(Val::Num(180.0))
        }
    }

    fn oven() -> S {
        S(
            HashMap::from([
                ("/Plant/Oven/Zone1.twinloom:state", Val::Str("Running".into())),
                ("/Plant/Oven/Zone1.twinloom:temperature", Val::Num(178.0)),
                ("/Plant/Oven/Zone1.twinloom:setpoint", Val::Num(180.0)),
            ]),
            Some(Val::Num(185.0)),
        )
    }

    #[test]
    fn the_oven_interlock() {
        let e = Expr::parse(
            r#"{/Plant/Oven/Zone1.twinloom:state} == "Running" && abs({/Plant/Oven/Zone1.twinloom:temperature} - {/Plant/Oven/Zone1.twinloom:setpoint}) <= 5"#,
        )
        .unwrap();
        assert_eq!(e.holds(&oven()), Ok(true));
        assert_eq!(e.references().len(), 3);
        let mut s = oven();
        s.0.insert("/Plant/Oven/Zone1.twinloom:temperature", Val::Num(170.0));
        assert_eq!(e.holds(&s), Ok(false));
        s.0.remove("/Plant/Oven/Zone1.twinloom:state");
        assert_eq!(e.holds(&s), Err(EvalError::NoValue("/Plant/Oven/Zone1.twinloom:state".into())));
    }

    #[test]
    fn precedence_and_functions() {
        let v = |t: &str| Expr::parse(t).unwrap().eval(&oven()).unwrap();
        assert_eq!(v("1 + 2 * 3 - -1"), Val::Num(8.0));
        assert_eq!(v("(1 + 2) * 3 / 2"), Val::Num(4.5));
        assert_eq!(v("min(value, 190) - max(current, 1e2)"), Val::Num(5.0));
        assert_eq!(v("!(value < current) || false"), Val::Bool(true));
        assert_eq!(v("value >= 185 && value != 186 && 2.5e-1 == 0.25"), Val::Bool(true));
    }

    #[test]
    fn errors_say_where_and_what() {
        let e = Expr::parse("value <= ").unwrap_err();
        assert_eq!(e.offset, 9, "{e}");
        let e = Expr::parse("temperature > 5").unwrap_err();
        assert!(e.message.contains("unknown name `temperature`"), "{e}");
        assert_eq!(e.offset, 0);
        assert!(Expr::parse("{Plant.x} > 1").unwrap_err().message.contains("not an attribute path"));
        assert!(Expr::parse("1 2").unwrap_err().message.contains("unexpected text"));
        let t = Expr::parse(r#"value == "x""#).unwrap().eval(&oven()).unwrap_err();
        assert!(matches!(t, EvalError::Type { op: "==", .. }), "{t:?}");
        assert_eq!(Expr::parse("value / 0").unwrap().eval(&oven()), Err(EvalError::DivisionByZero));
        assert!(Expr::parse("value + 1").unwrap().holds(&oven()).is_err(), "a number is not a condition");
    }
}
