//! Policy file text: a JSON object or the flat YAML maps oslo.policy writes, read into
//! `(rule name, check string)` pairs in file order.
//!
//! The YAML reader covers what `oslopolicy-sample-generator` and operators write: one
//! `key: value` per line at column 0, keys and values plain, `'single'` or `"double"` quoted
//! (quoted values may span lines; plain values may continue on indented lines), `#` comments,
//! an optional leading `---`. Anything else (nesting, lists, anchors, tags, block scalars) is
//! refused with its line number rather than guessed at. A value YAML would not read as a
//! string (null, booleans) is refused too: oslo would turn a null into "always allowed".

use super::PolicyError;
use serde_json::Value;

/// Reads policy text in either format; text whose first line that is neither blank nor a
/// comment starts with `{` is JSON.
pub(crate) fn parse_rules(text: &str) -> Result<Vec<(String, String)>, PolicyError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut offset = 0;
    for (row, line) in text.split_inclusive('\n').enumerate() {
        let trimmed = line.trim();
        if trimmed.starts_with('{') {
            return parse_json(&text[offset..], row);
        }
        if !trimmed.is_empty() && !trimmed.starts_with('#') {
            break;
        }
        offset += line.len();
    }
    Yaml::new(text).entries()
}

fn parse_json(text: &str, skipped_lines: usize) -> Result<Vec<(String, String)>, PolicyError> {
    let map: serde_json::Map<String, Value> =
        serde_json::from_str(text).map_err(|e| PolicyError::Syntax {
            line: e.line() + skipped_lines,
            reason: format!("JSON: {e}"),
        })?;
    map.into_iter()
        .map(|(name, value)| {
            let check = match value {
                Value::String(s) => s,
                Value::Array(items) => legacy_list(&name, &items)?,
                other => {
                    return Err(invalid(
                        &name,
                        format!("expected a check string, found {other}"),
                    ));
                }
            };
            Ok((name, check))
        })
        .collect()
}

/// oslo's pre-2014 list form: `[["a", "b"], ["c"]]` means `(a and b) or c`; `[]` allows all.
fn legacy_list(name: &str, items: &[Value]) -> Result<String, PolicyError> {
    if items.is_empty() {
        return Ok(String::new());
    }
    let single = |v: &Value| match v {
        // The check is spliced into an expression, so it must read as one check token there.
        Value::String(s)
            if !s.is_empty()
                && !s.contains(char::is_whitespace)
                && !s.starts_with('(')
                && !s.ends_with(')')
                && !matches!(s.to_ascii_lowercase().as_str(), "and" | "or" | "not") =>
        {
            Ok(s.clone())
        }
        other => Err(invalid(
            name,
            format!("a list rule holds single checks, found {other}"),
        )),
    };
    let mut any_of = Vec::new();
    for item in items {
        let all_of = match item {
            Value::Array(inner) => inner.iter().map(single).collect::<Result<Vec<_>, _>>()?,
            Value::String(s) if s.is_empty() => Vec::new(),
            other => vec![single(other)?],
        };
        match all_of.len() {
            0 => {}
            1 => any_of.extend(all_of),
            _ => any_of.push(format!("({})", all_of.join(" and "))),
        }
    }
    Ok(if any_of.is_empty() {
        "!".to_owned()
    } else {
        any_of.join(" or ")
    })
}

fn invalid(rule: &str, reason: String) -> PolicyError {
    PolicyError::InvalidRule {
        rule: rule.to_owned(),
        reason,
    }
}

/// A cursor over the lines of a YAML document.
struct Yaml<'a> {
    lines: Vec<&'a str>,
    row: usize,
    col: usize,
}

impl<'a> Yaml<'a> {
    fn new(text: &'a str) -> Self {
        Yaml {
            lines: text.lines().collect(),
            row: 0,
            col: 0,
        }
    }

    fn error(&self, reason: impl Into<String>) -> PolicyError {
        PolicyError::Syntax {
            line: self.row + 1,
            reason: reason.into(),
        }
    }

    fn rest(&self) -> &'a str {
        self.lines
            .get(self.row)
            .map_or("", |l| l.get(self.col..).unwrap_or(""))
    }

    fn skip_blanks(&mut self) {
        let rest = self.rest();
        self.col += rest.len() - rest.trim_start_matches([' ', '\t']).len();
    }

    fn entries(mut self) -> Result<Vec<(String, String)>, PolicyError> {
        let mut out: Vec<(String, String)> = Vec::new();
        // A plain value may continue on following indented lines, as YAML folds them.
        let mut plain_open = false;
        while self.row < self.lines.len() {
            self.col = 0;
            let line = self.lines[self.row];
            let trimmed = line.trim();
            if trimmed.is_empty() {
                self.row += 1;
                continue;
            }
            if trimmed.starts_with('#') {
                plain_open = false;
                self.row += 1;
                continue;
            }
            if line.starts_with([' ', '\t']) {
                let Some((_, value)) = out.last_mut().filter(|_| plain_open) else {
                    return Err(self.error(
                        "unexpected indentation: a policy file is a flat map of rule names to check strings",
                    ));
                };
                let (text, comment) = split_comment(trimmed);
                check_plain(text).map_err(|reason| self.error(reason))?;
                value.push(' ');
                value.push_str(text);
                plain_open = !comment;
                self.row += 1;
                continue;
            }
            if trimmed == "---" && out.is_empty() {
                self.row += 1;
                continue;
            }
            let (entry, open) = self.entry()?;
            out.push(entry);
            plain_open = open;
            self.row += 1;
        }
        Ok(out)
    }

    /// Reads one `key: value` entry starting at column 0; says whether the value was plain.
    fn entry(&mut self) -> Result<((String, String), bool), PolicyError> {
        let start = self.row;
        let key = match self.rest().chars().next() {
            Some(q @ ('"' | '\'')) => {
                let key = self.quoted(q)?;
                if self.row != start {
                    return Err(self.error("a quoted key must fit on one line"));
                }
                self.skip_blanks();
                key
            }
            _ => {
                let rest = self.rest();
                check_plain_start(rest).map_err(|reason| self.error(reason))?;
                let colon = rest
                    .char_indices()
                    .find(|&(i, c)| {
                        c == ':'
                            && rest[i + 1..]
                                .chars()
                                .next()
                                .is_none_or(|n| n == ' ' || n == '\t')
                    })
                    .map(|(i, _)| i)
                    .ok_or_else(|| self.error("expected `name: check string`"))?;
                let key = rest[..colon].trim_end();
                if key.contains(" #") || key.contains("\t#") {
                    return Err(self.error("expected `name: check string`"));
                }
                self.col += colon;
                key.to_owned()
            }
        };
        if key.is_empty() {
            return Err(self.error("empty rule name"));
        }
        if !self.rest().starts_with(':') {
            return Err(self.error(format!("expected `:` after rule name {key:?}")));
        }
        self.col += 1;
        self.skip_blanks();
        let rest = self.rest();
        match rest.chars().next() {
            None | Some('#') => Err(invalid(
                &key,
                "no check string (YAML null); write \"\" to allow everyone or \"!\" to allow no one"
                    .to_owned(),
            )),
            Some(q @ ('"' | '\'')) => {
                let value = self.quoted(q)?;
                let after = self.rest().trim_start_matches([' ', '\t']);
                if !after.is_empty() && !after.starts_with('#') {
                    return Err(self.error(format!("unexpected text after the value of {key:?}")));
                }
                Ok(((key, value), false))
            }
            Some(_) => {
                check_plain_start(rest).map_err(|reason| invalid(&key, reason))?;
                let (text, comment) = split_comment(rest);
                check_plain(text).map_err(|reason| invalid(&key, reason))?;
                if matches!(
                    text.to_ascii_lowercase().as_str(),
                    "~" | "null" | "true" | "false" | "yes" | "no" | "on" | "off"
                ) {
                    return Err(invalid(&key, format!("YAML reads `{text}` as a non-string; quote it")));
                }
                Ok(((key, text.to_owned()), !comment))
            }
        }
    }

    /// Reads a quoted scalar starting at the opening quote, folding line breaks as YAML does.
    fn quoted(&mut self, quote: char) -> Result<String, PolicyError> {
        let start = self.row + 1;
        self.col += 1;
        let mut out = String::new();
        loop {
            let rest = self.rest();
            let mut chars = rest.char_indices().peekable();
            let mut escaped_break = false;
            while let Some((i, c)) = chars.next() {
                if c == quote {
                    if quote == '\'' && chars.next_if(|&(_, n)| n == '\'').is_some() {
                        out.push('\'');
                        continue;
                    }
                    self.col += i + 1;
                    return Ok(out);
                }
                if c == '\\' && quote == '"' {
                    let Some((_, e)) = chars.next() else {
                        escaped_break = true;
                        break;
                    };
                    let decoded = match e {
                        '\\' | '"' | '/' | ' ' => Some(e),
                        'n' => Some('\n'),
                        't' | '\t' => Some('\t'),
                        'r' => Some('\r'),
                        '0' => Some('\0'),
                        'x' => hex(2, &mut chars),
                        'u' => hex(4, &mut chars),
                        'U' => hex(8, &mut chars),
                        _ => None,
                    };
                    out.push(decoded.ok_or_else(|| self.error(format!("bad escape `\\{e}`")))?);
                    continue;
                }
                out.push(c);
            }
            // The line ended inside the quotes: fold the break into a space (or a newline per
            // empty line), dropping the whitespace around it.
            if !escaped_break {
                out.truncate(out.trim_end_matches([' ', '\t']).len());
            }
            let mut empty_lines = 0;
            loop {
                self.row += 1;
                self.col = 0;
                let Some(line) = self.lines.get(self.row) else {
                    return Err(PolicyError::Syntax {
                        line: start,
                        reason: format!("unterminated {quote}quoted{quote} string"),
                    });
                };
                if !line.trim().is_empty() {
                    break;
                }
                empty_lines += 1;
            }
            self.skip_blanks();
            if empty_lines > 0 {
                out.extend(std::iter::repeat_n('\n', empty_lines));
            } else if !escaped_break {
                out.push(' ');
            }
        }
    }
}

/// Decodes the `n` hex digits of a `\\x`, `\\u` or `\\U` escape.
fn hex(n: usize, chars: &mut impl Iterator<Item = (usize, char)>) -> Option<char> {
    let digits: String = chars.take(n).map(|(_, c)| c).collect();
    u32::from_str_radix(&digits, 16)
        .ok()
        .filter(|_| digits.len() == n)
        .and_then(char::from_u32)
}

/// Splits a plain scalar from a trailing `# comment`; says whether there was one.
fn split_comment(text: &str) -> (&str, bool) {
    let cut = text
        .char_indices()
        .find(|&(i, c)| c == '#' && (i == 0 || text[..i].ends_with([' ', '\t'])))
        .map(|(i, _)| i);
    match cut {
        Some(i) => (text[..i].trim_end(), true),
        None => (text.trim_end(), false),
    }
}

/// Refuses plain scalars that YAML would read as something other than a string.
fn check_plain_start(text: &str) -> Result<(), String> {
    let mut chars = text.chars();
    let first = chars.next().unwrap_or(' ');
    let next_is_blank = chars.next().is_none_or(|c| c == ' ' || c == '\t');
    let indicator = matches!(
        first,
        '[' | ']' | '{' | '}' | ',' | '&' | '*' | '!' | '|' | '>' | '%' | '@' | '`'
    ) || (matches!(first, '-' | '?' | ':') && next_is_blank);
    if indicator {
        Err(format!(
            "YAML gives `{first}` a meaning at the start of a plain value; quote it"
        ))
    } else {
        Ok(())
    }
}

/// Refuses plain text YAML would read as a nested mapping.
fn check_plain(text: &str) -> Result<(), String> {
    if text.contains(": ") || text.contains(":\t") || text.ends_with(':') {
        Err(format!("YAML reads `{text}` as a nested mapping; quote it"))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        parse_rules(text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn one(name: &str, check: &str) -> Vec<(String, String)> {
        vec![(name.to_owned(), check.to_owned())]
    }

    #[test]
    fn json_objects() {
        let got = pairs(r#"{"bay:create": "role:admin", "bay:get": ""}"#);
        assert_eq!(
            got,
            vec![
                ("bay:create".into(), "role:admin".into()),
                ("bay:get".into(), String::new())
            ]
        );
        assert!(pairs("  {}  ").is_empty());
        assert_eq!(pairs("# generated\n{\"a\": \"@\"}"), one("a", "@"));
    }

    #[test]
    fn json_errors_name_the_line_or_rule() {
        let err = parse_rules("{\n\"a\": \"@\",\n}").unwrap_err();
        assert!(matches!(err, PolicyError::Syntax { line: 3, .. }), "{err}");
        let err = parse_rules(r#"{"bay:get": 1}"#).unwrap_err();
        assert!(err.to_string().contains("bay:get"), "{err}");
        assert!(parse_rules("[1, 2]").is_err());
    }

    #[test]
    fn json_legacy_lists() {
        let got = pairs(
            r#"{"a": [["role:admin"], ["role:member", "project_id:%(project_id)s"]], "b": [], "c": [[]]}"#,
        );
        assert_eq!(
            got,
            vec![
                (
                    "a".into(),
                    "role:admin or (role:member and project_id:%(project_id)s)".into()
                ),
                ("b".into(), String::new()),
                ("c".into(), "!".into()),
            ]
        );
        for bad in [
            r#"[["role:a or role:x"]]"#,
            r#"[["(role:a"]]"#,
            r#"["not"]"#,
            "[[1]]",
        ] {
            assert!(parse_rules(&format!("{{\"a\": {bad}}}")).is_err(), "{bad}");
        }
    }

    #[test]
    fn yaml_quoted_plain_and_comments() {
        let text = r#"
---
# Decides who is an administrator.
#"context_is_admin": "role:admin"
"bay:create": "role:admin"   # only admins
'bay:get': 'it''s'
bay:update: role:member or role:admin  # trailing comment
context_is_admin:    role:admin
"x:#": "a#b"
"#;
        assert_eq!(
            pairs(text),
            vec![
                ("bay:create".into(), "role:admin".into()),
                ("bay:get".into(), "it's".into()),
                ("bay:update".into(), "role:member or role:admin".into()),
                ("context_is_admin".into(), "role:admin".into()),
                ("x:#".into(), "a#b".into()),
            ]
        );
    }

    #[test]
    fn yaml_multi_line_values_fold() {
        let text = "\"a\": \"role:admin\n    or role:member\"\nb: role:admin\n  or role:reader\n\n  and @\n\"c\": \"x\\\n  y\"\n";
        assert_eq!(
            pairs(text),
            vec![
                ("a".into(), "role:admin or role:member".into()),
                ("b".into(), "role:admin or role:reader and @".into()),
                ("c".into(), "xy".into()),
            ]
        );
    }

    #[test]
    fn yaml_escapes() {
        assert_eq!(
            pairs(r#""a": "\u0072ole:\x61dmin \"q\" \\""#),
            one("a", r#"role:admin "q" \"#)
        );
        assert!(parse_rules(r#""a": "\q""#).is_err());
    }

    #[test]
    fn yaml_empty_and_comment_only_text_is_no_rules() {
        assert!(pairs("").is_empty());
        assert!(pairs("# nothing here\n\n   \n#\"a\": \"b\"\n").is_empty());
    }

    #[test]
    fn yaml_refusals_carry_the_line() {
        for (text, line) in [
            ("a: b\n  c: d\n", 2),
            ("\"a\": \"unterminated\nb: c\n", 1),
            ("- a\n", 1),
            ("a b\n", 1),
            ("a: b\n# c\n  d\n", 3),
            ("a: b\n---\nc: d\n", 2),
            ("\"a\": \"x\" y\n", 1),
        ] {
            match parse_rules(text) {
                Err(PolicyError::Syntax { line: got, .. }) => assert_eq!(got, line, "{text:?}"),
                other => panic!("{text:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn yaml_non_string_values_are_refused_by_rule() {
        for text in [
            "a:\n  d: e\n",
            "a:\n",
            "a: # none\n",
            "a: ~\n",
            "a: null\n",
            "a: true\n",
            "a: !\n",
            "a: @\n",
            "a: b: c\n",
        ] {
            match parse_rules(text) {
                Err(PolicyError::InvalidRule { rule, .. }) => assert_eq!(rule, "a", "{text:?}"),
                other => panic!("{text:?} gave {other:?}"),
            }
        }
        assert_eq!(
            pairs("a: \"!\"\nb: '@'\n"),
            vec![("a".into(), "!".into()), ("b".into(), "@".into())]
        );
    }
}
