//! Python literals as `repr()` writes them (python-magnumclient 4.11.0 sends `"{'x': 'y'}"` as a
//! PATCH value), read into JSON without evaluating anything (spec/rest-api.md §1.2).
//!
//! Accepted, as `ast.literal_eval` would: strings (`u`, `b`, `r` prefixes, triple quotes, adjacent
//! strings concatenated), integers (Python 2's `L` suffix too), floats, `True`, `False`, `None`,
//! lists, tuples (as JSON arrays) and dicts with string keys. Sets, calls and names are refused.

use serde_json::{Map, Number, Value};

/// Deepest nesting accepted, so a hostile value cannot exhaust the stack.
const MAX_DEPTH: usize = 64;

/// Parses one Python literal, surrounded by optional whitespace, into JSON.
pub(crate) fn parse(text: &str) -> Result<Value, String> {
    let mut parser = Parser {
        chars: text.chars().collect(),
        pos: 0,
    };
    let value = parser.value(0)?;
    parser.skip_space();
    match parser.peek() {
        None => Ok(value),
        Some(c) => Err(format!("unexpected {c:?} after the value")),
    }
}

/// A cursor over the characters of the literal.
#[derive(Debug)]
struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.pos + offset).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        Some(c)
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, wanted: char) -> Result<(), String> {
        self.skip_space();
        match self.bump() {
            Some(c) if c == wanted => Ok(()),
            Some(c) => Err(format!("expected {wanted:?}, found {c:?}")),
            None => Err(format!("expected {wanted:?}, found the end")),
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, String> {
        if depth > MAX_DEPTH {
            return Err("the value is nested too deeply".to_owned());
        }
        self.skip_space();
        match self.peek() {
            None => Err("expected a value, found the end".to_owned()),
            Some('[') => {
                self.pos += 1;
                self.sequence(']', depth).map(Value::Array)
            }
            Some('(') => {
                self.pos += 1;
                self.parenthesised(depth)
            }
            Some('{') => {
                self.pos += 1;
                self.dict(depth)
            }
            Some(c) if c.is_ascii_digit() || c == '.' || c == '-' || c == '+' => self.number(),
            Some(c) if c.is_alphabetic() || c == '_' || c == '\'' || c == '"' => self.word(),
            Some(c) => Err(format!("unexpected {c:?}")),
        }
    }

    /// Items up to `close`, commas between, one trailing comma allowed.
    fn sequence(&mut self, close: char, depth: usize) -> Result<Vec<Value>, String> {
        let mut items = Vec::new();
        loop {
            self.skip_space();
            if self.peek() == Some(close) {
                self.pos += 1;
                return Ok(items);
            }
            items.push(self.value(depth + 1)?);
            self.skip_space();
            match self.bump() {
                Some(',') => {}
                Some(c) if c == close => return Ok(items),
                Some(c) => return Err(format!("expected ',' or {close:?}, found {c:?}")),
                None => return Err(format!("expected ',' or {close:?}, found the end")),
            }
        }
    }

    /// `()` and `(a,)` are tuples; `(a)` is just `a`, as in Python.
    fn parenthesised(&mut self, depth: usize) -> Result<Value, String> {
        self.skip_space();
        if self.peek() == Some(')') {
            self.pos += 1;
            return Ok(Value::Array(Vec::new()));
        }
        let first = self.value(depth + 1)?;
        self.skip_space();
        match self.bump() {
            Some(')') => Ok(first),
            Some(',') => {
                let mut items = vec![first];
                items.extend(self.sequence(')', depth)?);
                Ok(Value::Array(items))
            }
            Some(c) => Err(format!("expected ',' or ')', found {c:?}")),
            None => Err("expected ',' or ')', found the end".to_owned()),
        }
    }

    fn dict(&mut self, depth: usize) -> Result<Value, String> {
        let mut map = Map::new();
        loop {
            self.skip_space();
            if self.peek() == Some('}') {
                self.pos += 1;
                return Ok(Value::Object(map));
            }
            let key = match self.value(depth + 1)? {
                Value::String(key) => key,
                other => return Err(format!("dict keys must be strings, found {other}")),
            };
            self.skip_space();
            if self.peek() != Some(':') {
                return Err("sets are not accepted, only dicts".to_owned());
            }
            self.expect(':')?;
            let value = self.value(depth + 1)?;
            map.insert(key, value);
            self.skip_space();
            match self.bump() {
                Some(',') => {}
                Some('}') => return Ok(Value::Object(map)),
                Some(c) => return Err(format!("expected ',' or '}}', found {c:?}")),
                None => return Err("expected ',' or '}', found the end".to_owned()),
            }
        }
    }

    /// A keyword, or one or more adjacent string literals (which may carry a prefix).
    fn word(&mut self) -> Result<Value, String> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_alphanumeric() || c == '_') {
            self.pos += 1;
        }
        let word: String = self.chars[start..self.pos].iter().collect();
        if matches!(self.peek(), Some('\'' | '"')) && is_string_prefix(&word) {
            self.pos = start;
            return self.strings();
        }
        match word.as_str() {
            "True" => Ok(Value::Bool(true)),
            "False" => Ok(Value::Bool(false)),
            "None" => Ok(Value::Null),
            _ => Err(format!("{word:?} is not a literal")),
        }
    }

    /// Adjacent string literals concatenate: `'a' 'b'` is `'ab'`.
    fn strings(&mut self) -> Result<Value, String> {
        let mut text = self.string()?;
        loop {
            let save = self.pos;
            self.skip_space();
            let mut end = self.pos;
            while self.chars.get(end).is_some_and(|c| c.is_ascii_alphabetic()) {
                end += 1;
            }
            let prefix: String = self.chars[self.pos..end].iter().collect();
            if is_string_prefix(&prefix) && matches!(self.chars.get(end), Some('\'' | '"')) {
                text.push_str(&self.string()?);
            } else {
                self.pos = save;
                return Ok(Value::String(text));
            }
        }
    }

    fn string(&mut self) -> Result<String, String> {
        let mut raw = false;
        while let Some(c) = self.peek().filter(char::is_ascii_alphabetic) {
            raw |= c.eq_ignore_ascii_case(&'r');
            self.pos += 1;
        }
        let quote = self.bump().ok_or("expected a quote")?;
        let triple = self.peek() == Some(quote) && self.peek_at(1) == Some(quote);
        if triple {
            self.pos += 2;
        }
        let mut text = String::new();
        loop {
            let c = self
                .bump()
                .ok_or_else(|| "unterminated string".to_owned())?;
            if c == quote {
                if !triple {
                    return Ok(text);
                }
                if self.peek() == Some(quote) && self.peek_at(1) == Some(quote) {
                    self.pos += 2;
                    return Ok(text);
                }
                text.push(c);
            } else if c == '\n' && !triple {
                return Err("unterminated string".to_owned());
            } else if c == '\\' {
                let next = self
                    .bump()
                    .ok_or_else(|| "unterminated string".to_owned())?;
                if raw {
                    text.push('\\');
                    text.push(next);
                } else {
                    self.escape(next, &mut text)?;
                }
            } else {
                text.push(c);
            }
        }
    }

    /// The character after a backslash, as Python reads it.
    fn escape(&mut self, c: char, text: &mut String) -> Result<(), String> {
        let simple = match c {
            '\n' => return Ok(()),
            '\\' | '\'' | '"' => c,
            'a' => '\u{7}',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'v' => '\u{b}',
            'x' => return self.hex_escape(2, text),
            'u' => return self.hex_escape(4, text),
            'U' => return self.hex_escape(8, text),
            '0'..='7' => {
                let mut code = c.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match self.peek().and_then(|d| d.to_digit(8)) {
                        Some(d) => {
                            code = code * 8 + d;
                            self.pos += 1;
                        }
                        None => break,
                    }
                }
                char::from_u32(code).ok_or("invalid octal escape")?
            }
            other => {
                // Python keeps unknown escapes verbatim.
                text.push('\\');
                other
            }
        };
        text.push(simple);
        Ok(())
    }

    fn hex_escape(&mut self, digits: usize, text: &mut String) -> Result<(), String> {
        let mut code = 0u32;
        for _ in 0..digits {
            let d = self
                .bump()
                .and_then(|c| c.to_digit(16))
                .ok_or("truncated \\x, \\u or \\U escape")?;
            code = code * 16 + d;
        }
        let c = char::from_u32(code).ok_or("escape is not a valid character")?;
        text.push(c);
        Ok(())
    }

    fn number(&mut self) -> Result<Value, String> {
        let negative = match self.peek() {
            Some('-') => {
                self.pos += 1;
                true
            }
            Some('+') => {
                self.pos += 1;
                false
            }
            _ => false,
        };
        self.skip_space();
        let start = self.pos;
        let hex = self.peek() == Some('0') && matches!(self.peek_at(1), Some('x' | 'X'));
        while let Some(c) = self.peek() {
            let exponent_sign = matches!(c, '+' | '-')
                && !hex
                && self.pos > start
                && matches!(self.chars[self.pos - 1], 'e' | 'E');
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' || exponent_sign {
                self.pos += 1;
            } else {
                break;
            }
        }
        let token: String = self.chars[start..self.pos]
            .iter()
            .filter(|&&c| c != '_')
            .collect();
        let sign = if negative { "-" } else { "" };
        number_value(&token, sign).ok_or_else(|| format!("{sign}{token} is not a number"))
    }
}

/// Whether `word` is a string prefix Python 2 or 3 accepts.
fn is_string_prefix(word: &str) -> bool {
    matches!(
        word.to_ascii_lowercase().as_str(),
        "" | "u" | "b" | "r" | "ur" | "br" | "rb"
    )
}

/// Reads an integer (decimal, `0x`, `0o`, `0b`, optional `L`) or a float into JSON.
fn number_value(token: &str, sign: &str) -> Option<Value> {
    let token = token.strip_suffix(['l', 'L']).unwrap_or(token);
    let lower = token.to_ascii_lowercase();
    let radix = [("0x", 16), ("0o", 8), ("0b", 2)]
        .into_iter()
        .find_map(|(prefix, radix)| lower.strip_prefix(prefix).map(|digits| (digits, radix)));
    if let Some((digits, radix)) = radix {
        return integer(&format!("{sign}{digits}"), radix);
    }
    if !token.is_empty() && token.chars().all(|c| c.is_ascii_digit()) {
        return integer(&format!("{sign}{token}"), 10);
    }
    let looks_float = token.chars().any(|c| c.is_ascii_digit())
        && token
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'));
    if !looks_float {
        return None;
    }
    let float: f64 = format!("{sign}{token}").parse().ok()?;
    Number::from_f64(float).map(Value::Number)
}

fn integer(text: &str, radix: u32) -> Option<Value> {
    if let Ok(n) = i64::from_str_radix(text, radix) {
        return Some(Value::from(n));
    }
    u64::from_str_radix(text, radix).ok().map(Value::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn python_2_and_3_dict_reprs_read_as_json_objects() {
        assert_eq!(parse("{'x': 'y'}").unwrap(), json!({"x": "y"}));
        assert_eq!(
            parse("{u'kube_tag': u'v1.2', u'n': 3L}").unwrap(),
            json!({"kube_tag": "v1.2", "n": 3})
        );
        assert_eq!(parse("{}").unwrap(), json!({}));
        assert_eq!(parse(" {'a': 'b',} ").unwrap(), json!({"a": "b"}));
    }

    #[test]
    fn scalars_read_as_python_means_them() {
        assert_eq!(parse("True").unwrap(), json!(true));
        assert_eq!(parse("False").unwrap(), json!(false));
        assert_eq!(parse("None").unwrap(), json!(null));
        assert_eq!(parse("-42").unwrap(), json!(-42));
        assert_eq!(parse("0x1f").unwrap(), json!(31));
        assert_eq!(parse("1.5e3").unwrap(), json!(1500.0));
        assert_eq!(parse("-2.5").unwrap(), json!(-2.5));
        assert_eq!(parse("1_000").unwrap(), json!(1000));
        assert_eq!(parse("18446744073709551615").unwrap(), json!(u64::MAX));
    }

    #[test]
    fn lists_and_tuples_read_as_arrays_and_parentheses_alone_do_not_make_a_tuple() {
        assert_eq!(parse("[1, 'a', None]").unwrap(), json!([1, "a", null]));
        assert_eq!(parse("(1, 2)").unwrap(), json!([1, 2]));
        assert_eq!(parse("(1,)").unwrap(), json!([1]));
        assert_eq!(parse("()").unwrap(), json!([]));
        assert_eq!(parse("(1)").unwrap(), json!(1));
        assert_eq!(
            parse("[[], {'a': (True,)}]").unwrap(),
            json!([[], {"a": [true]}])
        );
    }

    #[test]
    fn string_escapes_prefixes_and_concatenation_follow_python() {
        assert_eq!(parse(r"'it\'s'").unwrap(), json!("it's"));
        assert_eq!(parse(r#""a\tb\n""#).unwrap(), json!("a\tb\n"));
        assert_eq!(
            parse(r"u'caf\xe9 \u263a \U0001F600'").unwrap(),
            json!("café ☺ 😀")
        );
        assert_eq!(parse(r"'\101\0'").unwrap(), json!("A\u{0}"));
        assert_eq!(parse(r"r'a\nb'").unwrap(), json!("a\\nb"));
        assert_eq!(parse(r"'\q'").unwrap(), json!("\\q"));
        assert_eq!(parse("'a' \"b\" u'c'").unwrap(), json!("abc"));
        assert_eq!(parse("'''it's'''").unwrap(), json!("it's"));
        assert_eq!(parse("b'bytes'").unwrap(), json!("bytes"));
    }

    #[test]
    fn anything_but_a_literal_is_refused() {
        for text in [
            "",
            "{1, 2}",
            "{1: 'a'}",
            "__import__('os')",
            "true",
            "[1, 2",
            "'open",
            "1 2",
            "{'a' 'b'}",
            "x'a'",
            "1e999",
            "--1",
        ] {
            assert!(parse(text).is_err(), "{text:?} was accepted");
        }
    }

    #[test]
    fn deeply_nested_values_are_refused_instead_of_overflowing_the_stack() {
        let text = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(parse(&text).is_err());
        let ok = format!("{}{}", "[".repeat(30), "]".repeat(30));
        assert!(parse(&ok).is_ok());
    }
}
