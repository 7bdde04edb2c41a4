//! oslo.policy check strings: the tokenizer, parser and evaluator of one rule's expression.
//!
//! Grammar as in `oslo_policy/_parser.py`: whitespace-separated checks joined by `and`, `or`,
//! `not` (case-insensitive; precedence not > and > or) and parentheses, which may touch a check
//! (`(role:admin)`). A check is `@` (always), `!` (never), `rule:<name>`, `role:<name>`, or a
//! generic `<key>:<match>` where `<match>` may hold `%(<target attribute>)s` substitutions. An
//! empty string is always true. Where oslo logs a malformed rule and denies, this parser refuses
//! the rule, so a policy file mistake stops start-up instead of silently denying.

use super::{Credentials, Target};
use std::borrow::Cow;

/// Deepest nesting of parentheses and `not` a check string may use.
const MAX_NESTING: usize = 32;

/// A compiled check string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Check {
    /// `@` or the empty string.
    Always,
    /// `!`.
    Never,
    /// `role:<name>`: the caller holds the role (case-insensitive).
    Role(Template),
    /// `rule:<name>`: another rule (unknown names fall back as in `Policy::enforce`).
    Rule(String),
    /// `<key>:<match>`: a credential (or a literal) equals the rendered match.
    Generic { kind: Kind, matcher: Template },
    /// All must hold.
    And(Vec<Check>),
    /// One must hold.
    Or(Vec<Check>),
    /// Must not hold.
    Not(Box<Check>),
}

/// The left side of a generic check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A credential name: `user_id`, `project_id` (aliases `tenant`, `tenant_id`), `is_admin`.
    Cred(String),
    /// A Python literal (`'text'`, `True`, `False`, a number), compared with `str()` of itself.
    Literal(String),
}

/// The right side of a check: text with `%(attr)s` holes filled from the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template(Vec<Piece>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Attr(String),
}

/// Why evaluation stopped without an answer; `Policy::enforce` turns it into a denial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Abort {
    /// A rule refers back to itself.
    Cycle,
    /// Rules refer to rules deeper than `MAX_RULE_DEPTH`.
    TooDeep,
}

impl Template {
    fn parse(text: &str) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(at) = rest.find('%') {
            literal.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            if let Some(tail) = after.strip_prefix('%') {
                literal.push('%');
                rest = tail;
            } else if let Some(inner) = after.strip_prefix('(') {
                let close = inner
                    .find(')')
                    .ok_or_else(|| format!("unclosed `%(` substitution in `{text}`"))?;
                let name = &inner[..close];
                let tail = inner[close + 1..].strip_prefix('s').ok_or_else(|| {
                    format!("substitution `%({name})` must end in `s` in `{text}`")
                })?;
                if name.is_empty() {
                    return Err(format!("empty substitution `%()s` in `{text}`"));
                }
                if !literal.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut literal)));
                }
                pieces.push(Piece::Attr(name.to_owned()));
                rest = tail;
            } else {
                return Err(format!(
                    "a `%` must start `%(name)s` or be doubled in `{text}`"
                ));
            }
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        Ok(Template(pieces))
    }

    /// The literal text, when the template has no substitution.
    fn as_literal(&self) -> Option<String> {
        self.0
            .iter()
            .map(|p| match p {
                Piece::Text(t) => Some(t.as_str()),
                Piece::Attr(_) => None,
            })
            .collect()
    }

    /// The text with every hole filled; `None` if the target lacks an attribute, which oslo
    /// treats as a failed check.
    fn render(&self, target: &Target) -> Option<String> {
        let mut out = String::new();
        for piece in &self.0 {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Attr(name) => out.push_str(target_value(target, name)?),
            }
        }
        Some(out)
    }
}

fn target_value<'t>(target: &'t Target, name: &str) -> Option<&'t str> {
    match name {
        "project_id" | "tenant" | "tenant_id" => target.project_id.as_deref(),
        "user_id" => target.user_id.as_deref(),
        _ => None,
    }
}

/// A credential as Python's `str()` shows it, so `is_admin:True` matches a true flag.
fn cred_value<'c>(creds: &'c Credentials, name: &str) -> Option<Cow<'c, str>> {
    match name {
        "user_id" => Some(Cow::Borrowed(creds.user_id.as_str())),
        "project_id" | "tenant" | "tenant_id" => creds.project_id.as_deref().map(Cow::Borrowed),
        "is_admin" => Some(Cow::Borrowed(if creds.is_admin { "True" } else { "False" })),
        _ => None,
    }
}

enum Token {
    Open,
    Close,
    And,
    Or,
    Not,
    Check(Check),
}

/// Compiles a check string, or explains what is wrong with it.
pub(crate) fn parse(text: &str) -> Result<Check, String> {
    let tokens = tokenize(text)?;
    if tokens.is_empty() {
        return Ok(Check::Always);
    }
    let mut parser = Parser {
        tokens: tokens.into_iter().peekable(),
    };
    let check = parser.or_expr(0)?;
    match parser.tokens.next() {
        None => Ok(check),
        Some(token) => Err(format!(
            "unexpected {} after a complete expression",
            describe(&token)
        )),
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    for word in text.split_whitespace() {
        let rest = word.trim_start_matches('(');
        out.extend((0..word.len() - rest.len()).map(|_| Token::Open));
        let clean = rest.trim_end_matches(')');
        if !clean.is_empty() {
            out.push(match clean.to_ascii_lowercase().as_str() {
                "and" => Token::And,
                "or" => Token::Or,
                "not" => Token::Not,
                _ => Token::Check(parse_check(clean)?),
            });
        }
        out.extend((0..rest.len() - clean.len()).map(|_| Token::Close));
    }
    Ok(out)
}

fn parse_check(word: &str) -> Result<Check, String> {
    match word {
        "@" => return Ok(Check::Always),
        "!" => return Ok(Check::Never),
        _ => {}
    }
    let quoted = |s: &str| {
        s.len() >= 2
            && (s.starts_with('"') && s.ends_with('"') || s.starts_with('\'') && s.ends_with('\''))
    };
    if quoted(word) {
        return Err(format!("quoted string {word} is not a check"));
    }
    let (kind, matcher) = word
        .split_once(':')
        .ok_or_else(|| format!("`{word}` is not a check (expected `kind:match`, `@` or `!`)"))?;
    if kind.is_empty() || matcher.is_empty() {
        return Err(format!("`{word}` needs text on both sides of `:`"));
    }
    match kind {
        "rule" => Ok(Check::Rule(matcher.to_owned())),
        "role" => Ok(Check::Role(Template::parse(matcher)?)),
        "http" | "https" => Err(format!("`{word}`: remote HTTP checks are not supported")),
        _ => {
            let matcher = Template::parse(matcher)?;
            // oslo compares `str(True)`, so `is_admin:true` would silently never match.
            if kind == "is_admin"
                && matcher
                    .as_literal()
                    .is_some_and(|m| m != "True" && m != "False")
            {
                return Err(format!("`{word}`: is_admin takes True or False"));
            }
            let kind = if quoted(kind) {
                Kind::Literal(kind[1..kind.len() - 1].to_owned())
            } else if matches!(kind, "True" | "False" | "None") || kind.parse::<f64>().is_ok() {
                Kind::Literal(kind.to_owned())
            } else {
                Kind::Cred(kind.to_owned())
            };
            Ok(Check::Generic { kind, matcher })
        }
    }
}

fn describe(token: &Token) -> &'static str {
    match token {
        Token::Open => "`(`",
        Token::Close => "`)`",
        Token::And => "`and`",
        Token::Or => "`or`",
        Token::Not => "`not`",
        Token::Check(_) => "check",
    }
}

struct Parser {
    tokens: std::iter::Peekable<std::vec::IntoIter<Token>>,
}

impl Parser {
    fn or_expr(&mut self, depth: usize) -> Result<Check, String> {
        let mut items = vec![self.and_expr(depth)?];
        while self.tokens.next_if(|t| matches!(t, Token::Or)).is_some() {
            items.push(self.and_expr(depth)?);
        }
        Ok(if items.len() == 1 {
            items.swap_remove(0)
        } else {
            Check::Or(items)
        })
    }

    fn and_expr(&mut self, depth: usize) -> Result<Check, String> {
        let mut items = vec![self.unary(depth)?];
        while self.tokens.next_if(|t| matches!(t, Token::And)).is_some() {
            items.push(self.unary(depth)?);
        }
        Ok(if items.len() == 1 {
            items.swap_remove(0)
        } else {
            Check::And(items)
        })
    }

    fn unary(&mut self, depth: usize) -> Result<Check, String> {
        if depth >= MAX_NESTING {
            return Err(format!("nested deeper than {MAX_NESTING} levels"));
        }
        match self.tokens.next() {
            Some(Token::Not) => Ok(Check::Not(Box::new(self.unary(depth + 1)?))),
            Some(Token::Open) => {
                let inner = self.or_expr(depth + 1)?;
                match self.tokens.next() {
                    Some(Token::Close) => Ok(inner),
                    Some(other) => Err(format!("expected `)`, found {}", describe(&other))),
                    None => Err("unbalanced `(`".to_owned()),
                }
            }
            Some(Token::Check(check)) => Ok(check),
            Some(other) => Err(format!("expected a check, found {}", describe(&other))),
            None => Err("expected a check, found the end".to_owned()),
        }
    }
}

/// Evaluates `check`; `rule` answers `rule:<name>` references (and guards their recursion).
pub(crate) fn eval<F>(
    check: &Check,
    creds: &Credentials,
    target: &Target,
    rule: &mut F,
) -> Result<bool, Abort>
where
    F: FnMut(&str) -> Result<bool, Abort>,
{
    Ok(match check {
        Check::Always => true,
        Check::Never => false,
        Check::Role(name) => name.render(target).is_some_and(|name| {
            let name = name.to_lowercase();
            creds.roles.iter().any(|r| r.to_lowercase() == name)
        }),
        Check::Rule(name) => rule(name)?,
        Check::Generic { kind, matcher } => {
            let Some(expected) = matcher.render(target) else {
                return Ok(false);
            };
            match kind {
                Kind::Cred(key) => cred_value(creds, key).is_some_and(|v| *v == *expected),
                Kind::Literal(value) => *value == expected,
            }
        }
        Check::And(items) => {
            for item in items {
                if !eval(item, creds, target, rule)? {
                    return Ok(false);
                }
            }
            true
        }
        Check::Or(items) => {
            for item in items {
                if eval(item, creds, target, rule)? {
                    return Ok(true);
                }
            }
            false
        }
        Check::Not(inner) => !eval(inner, creds, target, rule)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(project: &str, roles: &[&str], is_admin: bool) -> Credentials {
        Credentials {
            user_id: "u1".into(),
            project_id: Some(project.into()),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            is_admin,
        }
    }

    fn target(project: &str) -> Target {
        Target {
            project_id: Some(project.into()),
            user_id: Some("u1".into()),
        }
    }

    /// Evaluates with `rule:yes` true, `rule:no` false.
    fn check(text: &str, creds: &Credentials, target: &Target) -> bool {
        let compiled = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        eval(&compiled, creds, target, &mut |name| Ok(name == "yes")).unwrap()
    }

    #[test]
    fn constants_and_the_empty_string() {
        let (c, t) = (creds("p", &[], false), target("p"));
        assert!(check("@", &c, &t));
        assert!(!check("!", &c, &t));
        assert!(check("", &c, &t));
        assert!(check("   ", &c, &t));
        assert_eq!(parse("").unwrap(), Check::Always);
    }

    #[test]
    fn role_is_case_insensitive_and_may_substitute() {
        let c = creds("p", &["Member"], false);
        assert!(check("role:member", &c, &target("p")));
        assert!(check("role:MEMBER", &c, &target("p")));
        assert!(!check("role:admin", &c, &target("p")));
        assert!(check(
            "role:%(project_id)s",
            &creds("p", &["proj"], false),
            &target("proj")
        ));
    }

    #[test]
    fn rule_references_are_delegated() {
        let (c, t) = (creds("p", &[], false), target("p"));
        assert!(check("rule:yes", &c, &t));
        assert!(!check("rule:no", &c, &t));
    }

    #[test]
    fn is_admin_compares_the_flag() {
        let t = target("p");
        assert!(check("is_admin:True", &creds("p", &[], true), &t));
        assert!(!check("is_admin:True", &creds("p", &[], false), &t));
        assert!(check("is_admin:False", &creds("p", &[], false), &t));
        assert!(
            parse("is_admin:true")
                .unwrap_err()
                .contains("True or False")
        );
        assert!(parse("is_admin:1").is_err());
    }

    #[test]
    fn generic_checks_compare_credentials_with_target_attributes() {
        let c = creds("p1", &[], false);
        assert!(check("project_id:%(project_id)s", &c, &target("p1")));
        assert!(!check("project_id:%(project_id)s", &c, &target("p2")));
        assert!(check("tenant:%(tenant_id)s", &c, &target("p1")));
        assert!(check("user_id:%(user_id)s", &c, &target("p1")));
        let other_user = Target {
            project_id: Some("p1".into()),
            user_id: Some("u2".into()),
        };
        assert!(!check("user_id:%(user_id)s", &c, &other_user));
    }

    #[test]
    fn generic_checks_with_missing_values_fail() {
        let c = creds("p1", &[], false);
        let blank = Target {
            project_id: None,
            user_id: None,
        };
        assert!(!check("project_id:%(project_id)s", &c, &blank));
        assert!(!check("project_id:%(no_such_attr)s", &c, &target("p1")));
        assert!(!check("domain_id:default", &c, &target("p1")));
        let unscoped = Credentials {
            project_id: None,
            ..c
        };
        assert!(!check("project_id:%(project_id)s", &unscoped, &blank));
    }

    #[test]
    fn generic_checks_against_literals() {
        let c = creds("p1", &[], false);
        assert!(check("project_id:p1", &c, &target("x")));
        assert!(!check("project_id:p2", &c, &target("x")));
        assert!(check(
            "user_id:u%%1",
            &Credentials {
                user_id: "u%1".into(),
                ..c.clone()
            },
            &target("x")
        ));
        assert!(check("'p1':%(project_id)s", &c, &target("p1")));
        assert!(!check("'p1':%(project_id)s", &c, &target("p2")));
        assert!(check("True:True", &c, &target("p1")));
        assert!(check(
            "project_id:pre-%(user_id)s",
            &creds("pre-u1", &[], false),
            &target("p")
        ));
    }

    #[test]
    fn and_or_not_with_precedence() {
        let c = creds("p", &["reader"], false);
        let t = target("p");
        // not > and > or: `@ or ! and !` is `@ or (! and !)`.
        assert!(check("@ or ! and !", &c, &t));
        assert!(!check("(@ or !) and !", &c, &t));
        // `not` binds to the next check only.
        assert!(!check("not @ and @", &c, &t));
        assert!(check("not ! and @", &c, &t));
        assert!(check("not (! or !)", &c, &t));
        assert!(check("not not @", &c, &t));
        assert!(check("role:reader AND NOT role:admin", &c, &t));
        assert!(!check("role:reader and not role:reader", &c, &t));
    }

    #[test]
    fn nested_parentheses_touching_checks() {
        let t = target("p");
        let rule = "((role:admin) or (role:member and (project_id:%(project_id)s)))";
        assert!(check(rule, &creds("p", &["member"], false), &t));
        assert!(!check(rule, &creds("q", &["member"], false), &t));
        assert!(check(rule, &creds("q", &["admin"], false), &t));
        assert!(check("(((@)))", &creds("p", &[], false), &t));
        assert!(!check(
            "not (role:admin or (not (role:reader)))",
            &creds("p", &["admin"], false),
            &t
        ));
        assert!(check(
            "not (role:admin or (not (role:reader)))",
            &creds("p", &["reader"], false),
            &t
        ));
    }

    #[test]
    fn compiled_shapes_are_flat_lists() {
        let parsed = parse("@ and ! and @ or not !").unwrap();
        assert_eq!(
            parsed,
            Check::Or(vec![
                Check::And(vec![Check::Always, Check::Never, Check::Always]),
                Check::Not(Box::new(Check::Never)),
            ])
        );
    }

    #[test]
    fn syntax_errors_are_reported() {
        for bad in [
            "role:admin or",
            "and role:admin",
            "(role:admin",
            "role:admin)",
            "()",
            "role:admin role:member",
            "not",
            "admin",
            "role:",
            ":x",
            "\"quoted\"",
            "http://policy.example/check",
            "project_id:%(project_id)d",
            "project_id:%(project_id",
            "project_id:100%",
            "project_id:%()s",
        ] {
            assert!(parse(bad).is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!("{}@{}", "(".repeat(1000), ")".repeat(1000));
        assert!(parse(&deep).unwrap_err().contains("nested deeper"));
        assert!(parse(&"not ".repeat(1000)).is_err());
        let ok = format!("{}@{}", "(".repeat(10), ")".repeat(10));
        assert_eq!(parse(&ok).unwrap(), Check::Always);
    }
}
