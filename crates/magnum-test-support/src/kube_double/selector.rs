//! Label and field selectors as the Kubernetes API server parses and matches them.
//!
//! Grammar of `k8s.io/apimachinery/pkg/labels`: requirements joined by commas, each one of
//! `k`, `!k`, `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k>n`, `k<n`. As upstream,
//! `!=` and `notin` also match objects that lack the key.

use super::validate;
use serde_json::Value;

/// One parsed requirement of a label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    Exists(String),
    DoesNotExist(String),
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    GreaterThan(String, i64),
    LessThan(String, i64),
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LabelSelector(Vec<Requirement>);

impl LabelSelector {
    /// Parses the `labelSelector` query parameter; the error is the API server's message.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let mut requirements = Vec::new();
        for part in split_top_level(text) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            requirements.push(parse_requirement(part)?);
        }
        Ok(LabelSelector(requirements))
    }

    /// Whether an object's labels (`metadata.labels`, possibly absent) satisfy every requirement.
    pub(crate) fn matches(&self, labels: Option<&Value>) -> bool {
        let get = |key: &str| labels.and_then(|l| l.get(key)).and_then(Value::as_str);
        self.0.iter().all(|req| match req {
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::DoesNotExist(k) => get(k).is_none(),
            Requirement::Equals(k, v) => get(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => get(k) != Some(v.as_str()),
            Requirement::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Requirement::NotIn(k, vs) => !get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Requirement::GreaterThan(k, n) => get(k)
                .and_then(|x| x.parse::<i64>().ok())
                .is_some_and(|x| x > *n),
            Requirement::LessThan(k, n) => get(k)
                .and_then(|x| x.parse::<i64>().ok())
                .is_some_and(|x| x < *n),
        })
    }
}

/// Splits at commas outside parentheses (`a in (x,y),b` is two requirements).
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn parse_requirement(part: &str) -> Result<Requirement, String> {
    let invalid = |why: &str| format!("unable to parse requirement: {part}: {why}");
    if let Some(key) = part.strip_prefix('!') {
        let key = key.trim();
        check_key(key).map_err(|e| invalid(&e))?;
        return Ok(Requirement::DoesNotExist(key.to_owned()));
    }
    if let Some(open) = part.find('(') {
        let close = part
            .rfind(')')
            .filter(|close| *close > open && part[close + 1..].trim().is_empty())
            .ok_or_else(|| invalid("expected ')'"))?;
        let mut head = part[..open].split_whitespace();
        let (Some(key), Some(op), None) = (head.next(), head.next(), head.next()) else {
            return Err(invalid("expected '<key> in (...)' or '<key> notin (...)'"));
        };
        check_key(key).map_err(|e| invalid(&e))?;
        let values: Vec<String> = part[open + 1..close]
            .split(',')
            .map(|v| v.trim().to_owned())
            .collect();
        for v in &values {
            validate::label_value(v).map_err(|e| invalid(&e))?;
        }
        return match op {
            "in" => Ok(Requirement::In(key.to_owned(), values)),
            "notin" => Ok(Requirement::NotIn(key.to_owned(), values)),
            _ => Err(invalid(&format!("unknown operator {op:?}"))),
        };
    }
    let binary = [("!=", 0u8), ("==", 1), ("=", 1), (">", 2), ("<", 3)];
    for (op, which) in binary {
        if let Some((key, value)) = part.split_once(op) {
            let (key, value) = (key.trim(), value.trim());
            check_key(key).map_err(|e| invalid(&e))?;
            return match which {
                0 | 1 => {
                    validate::label_value(value).map_err(|e| invalid(&e))?;
                    Ok(if which == 0 {
                        Requirement::NotEquals(key.to_owned(), value.to_owned())
                    } else {
                        Requirement::Equals(key.to_owned(), value.to_owned())
                    })
                }
                _ => {
                    let n = value.parse::<i64>().map_err(|_| {
                        invalid("for 'gt', 'lt' operators, the value must be an integer")
                    })?;
                    Ok(if which == 2 {
                        Requirement::GreaterThan(key.to_owned(), n)
                    } else {
                        Requirement::LessThan(key.to_owned(), n)
                    })
                }
            };
        }
    }
    check_key(part).map_err(|e| invalid(&e))?;
    Ok(Requirement::Exists(part.to_owned()))
}

fn check_key(key: &str) -> Result<(), String> {
    if key.chars().any(char::is_whitespace) {
        return Err(format!("invalid label key {key:?}"));
    }
    validate::label_key(key)
}

/// A parsed field selector: `path=value`, `path==value`, `path!=value`, comma-separated, where
/// `path` is a dotted path into the object (`metadata.name`, `status.phase`, `spec.nodeName`).
/// An absent field compares as the empty string, as upstream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FieldSelector(Vec<(String, bool, String)>);

impl FieldSelector {
    /// Parses the `fieldSelector` query parameter.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let mut terms = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (path, equal, value) = if let Some((p, v)) = part.split_once("!=") {
                (p, false, v)
            } else if let Some((p, v)) = part.split_once("==") {
                (p, true, v)
            } else if let Some((p, v)) = part.split_once('=') {
                (p, true, v)
            } else {
                return Err(format!(
                    "invalid selector: '{part}'; can't understand '{part}'"
                ));
            };
            terms.push((path.trim().to_owned(), equal, value.trim().to_owned()));
        }
        Ok(FieldSelector(terms))
    }

    /// Whether the object satisfies every term.
    pub(crate) fn matches(&self, object: &Value) -> bool {
        self.0.iter().all(|(path, equal, value)| {
            let mut at = Some(object);
            for step in path.split('.') {
                at = at.and_then(|v| v.get(step));
            }
            let found = match at {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
            };
            (found == *value) == *equal
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sel(text: &str) -> LabelSelector {
        LabelSelector::parse(text).expect("selector parses")
    }

    #[test]
    fn equality_inequality_and_existence_follow_upstream_semantics() {
        let labels = json!({"a": "1", "b": "x"});
        let labels = Some(&labels);
        assert!(sel("").matches(labels));
        assert!(sel("a=1").matches(labels));
        assert!(sel("a==1,b=x").matches(labels));
        assert!(!sel("a=2").matches(labels));
        assert!(sel("a!=2").matches(labels));
        assert!(sel("c!=2").matches(labels), "!= matches a missing key");
        assert!(sel("a").matches(labels));
        assert!(!sel("!a").matches(labels));
        assert!(sel("!c").matches(labels));
        assert!(!sel("a,!c").matches(None));
        assert!(sel("!c").matches(None));
    }

    #[test]
    fn set_based_requirements_parse_with_commas_inside_parentheses() {
        let labels = json!({"env": "prod", "n": "7"});
        let labels = Some(&labels);
        assert!(sel("env in (dev, prod),n").matches(labels));
        assert!(!sel("env notin (prod)").matches(labels));
        assert!(sel("tier notin (web)").matches(labels));
        assert!(sel("n>5,n<8").matches(labels));
        assert!(!sel("n>7").matches(labels));
    }

    #[test]
    fn prefixed_keys_and_bad_selectors() {
        let labels = json!({"magnum.openstack.org/pool": "true"});
        assert!(sel("magnum.openstack.org/pool=true").matches(Some(&labels)));
        assert!(LabelSelector::parse("a in (x").is_err());
        assert!(LabelSelector::parse("a b").is_err());
        assert!(LabelSelector::parse("a=b c").is_err());
        assert!(LabelSelector::parse("a>x").is_err());
    }

    #[test]
    fn field_selectors_compare_dotted_paths() {
        let pod = json!({"metadata": {"name": "p"}, "status": {"phase": "Pending"}});
        let fs = FieldSelector::parse("metadata.name=p,status.phase!=Running").expect("parses");
        assert!(fs.matches(&pod));
        let fs = FieldSelector::parse("spec.nodeName=").expect("parses");
        assert!(fs.matches(&pod), "an absent field is the empty string");
        assert!(FieldSelector::parse("nonsense").is_err());
    }
}
