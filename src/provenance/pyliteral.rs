//! A reader for the Python literals LSTOSA wrote as provenance payloads (`repr()` of a dict):
//! single- or double-quoted strings with escapes, `b'…'` bytes, `None`, `True`, `False`,
//! ints, floats, lists, tuples and dicts. They become JSON values, bytes as text.

use serde_json::{Map, Number, Value};

#[derive(Debug, PartialEq, Eq)]
pub struct LiteralError {
    /// Byte offset in the text.
    pub offset: usize,
    pub message: String,
}

pub fn parse(text: &str) -> Result<Value, LiteralError> {
    let mut p = Parser { s: text.as_bytes(), i: 0, depth: 0 };
    let value = p.value()?;
    p.space();
    if p.i != p.s.len() {
        return Err(p.error("trailing characters after the literal"));
    }
    Ok(value)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    depth: usize,
}

/// Nesting beyond this is refused, not followed into a stack overflow.
const MAX_DEPTH: usize = 64;

impl Parser<'_> {
    fn error(&self, message: &str) -> LiteralError {
        LiteralError { offset: self.i, message: message.to_string() }
    }

    fn space(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, word: &str) -> bool {
        if self.s[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> Result<Value, LiteralError> {
        self.space();
        if self.depth > MAX_DEPTH {
            return Err(self.error("nested too deep"));
        }
        self.depth += 1;
        let value = self.value_inner();
        self.depth -= 1;
        value
    }

    fn value_inner(&mut self) -> Result<Value, LiteralError> {
        match self.peek() {
            Some(b'{') => self.dict(),
            Some(b'[') => self.sequence(b']'),
            Some(b'(') => self.sequence(b')'),
            Some(b'\'') | Some(b'"') => self.string().map(Value::String),
            Some(b'b') if matches!(self.s.get(self.i + 1), Some(b'\'') | Some(b'"')) => {
                self.i += 1;
                self.string().map(Value::String)
            }
            Some(_) if self.eat("None") => Ok(Value::Null),
            Some(_) if self.eat("True") => Ok(Value::Bool(true)),
            Some(_) if self.eat("False") => Ok(Value::Bool(false)),
            // JSON has no NaN or infinity: they become null.
            Some(_) if self.eat("nan") || self.eat("inf") || self.eat("-inf") => Ok(Value::Null),
            Some(c) if c == b'-' || c == b'+' || c.is_ascii_digit() => self.number(),
            Some(_) => Err(self.error("expected a Python literal")),
            None => Err(self.error("unexpected end of text")),
        }
    }

    fn dict(&mut self) -> Result<Value, LiteralError> {
        self.i += 1;
        let mut map = Map::new();
        loop {
            self.space();
            if self.peek() == Some(b'}') {
                self.i += 1;
                return Ok(Value::Object(map));
            }
            let key = match self.value()? {
                Value::String(s) => s,
                other => other.to_string(),
            };
            self.space();
            if self.peek() != Some(b':') {
                return Err(self.error("expected `:` after a dict key"));
            }
            self.i += 1;
            let value = self.value()?;
            map.insert(key, value);
            self.space();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {}
                _ => return Err(self.error("expected `,` or `}` in a dict")),
            }
        }
    }

    fn sequence(&mut self, close: u8) -> Result<Value, LiteralError> {
        self.i += 1;
        let mut items = Vec::new();
        loop {
            self.space();
            if self.peek() == Some(close) {
                self.i += 1;
                return Ok(Value::Array(items));
            }
            items.push(self.value()?);
            self.space();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(c) if c == close => {}
                _ => return Err(self.error("expected `,` or the closing bracket")),
            }
        }
    }

    fn string(&mut self) -> Result<String, LiteralError> {
        let quote = self.s[self.i];
        self.i += 1;
        let mut out: Vec<u8> = Vec::new();
        while let Some(c) = self.peek() {
            self.i += 1;
            if c == quote {
                return String::from_utf8(out).map_err(|_| self.error("string is not UTF-8"));
            }
            if c != b'\\' {
                out.push(c);
                continue;
            }
            let Some(escaped) = self.peek() else { break };
            self.i += 1;
            match escaped {
                b'n' => out.push(b'\n'),
                b't' => out.push(b'\t'),
                b'r' => out.push(b'\r'),
                b'0' => out.push(0),
                b'x' => {
                    let hex = self.s.get(self.i..self.i + 2).and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u8::from_str_radix(h, 16).ok());
                    let byte = hex.ok_or_else(|| self.error("bad \\x escape"))?;
                    self.i += 2;
                    out.extend(char::from(byte).to_string().as_bytes());
                }
                b'u' => {
                    let code = self.s.get(self.i..self.i + 4).and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u32::from_str_radix(h, 16).ok());
                    let c = code.and_then(char::from_u32).ok_or_else(|| self.error("bad \\u escape"))?;
                    self.i += 4;
                    out.extend(c.to_string().as_bytes());
                }
                other => out.push(other),
            }
        }
        Err(self.error("unterminated string"))
    }

    fn number(&mut self) -> Result<Value, LiteralError> {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit() || b"+-.eE".contains(&c)) {
            self.i += 1;
        }
        let text = std::str::from_utf8(&self.s[start..self.i]).expect("ASCII digits");
        if let Ok(n) = text.parse::<i64>() {
            return Ok(Value::Number(n.into()));
        }
        text.parse::<f64>().ok().and_then(Number::from_f64).map(Value::Number).ok_or_else(|| self.error("bad number"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn python_reprs_become_json() {
        let v = parse(r#"{'a': None, 'b': True, 'c': [1, -2.5, (3, 'x')], "d": 'it\'s', 'e': b'\x00ab', 'f': {'g': False}}"#).unwrap();
        assert_eq!(v, json!({"a": null, "b": true, "c": [1, -2.5, [3, "x"]], "d": "it's", "e": "\u{0}ab", "f": {"g": false}}));
        assert_eq!(parse("{'libcver': \"('glibc', '2.36')\"}").unwrap(), json!({"libcver": "('glibc', '2.36')"}));
    }

    #[test]
    fn broken_literals_say_where() {
        assert_eq!(parse("{'a': 1").unwrap_err().message, "expected `,` or `}` in a dict");
        assert_eq!(parse("{'a': 1} x").unwrap_err().offset, 9);
        assert!(parse("{'a: 1}").is_err());
        assert_eq!(parse("{'x': nan, 'y': -inf}").unwrap(), json!({"x": null, "y": null}));
        assert_eq!(parse(&"[".repeat(1000)).unwrap_err().message, "nested too deep");
    }
}
