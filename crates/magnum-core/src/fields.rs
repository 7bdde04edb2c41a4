//! Table-driven validation of request bodies: each resource lists its fields once as
//! [`FieldSpec`]s, and create bodies, PATCH values and plain update objects are checked and
//! coerced against that table (spec/rest-api.md §1.2, §2.1, §2.4).

use crate::error::{ValidationError, render_value};
use crate::ident::parse_hyphenated_uuid;
use serde_json::{Map, Value};
use std::net::IpAddr;
use std::ops::BitOr;
use uuid::Uuid;

mod python;

/// What a field holds, and so how a sent value is checked and normalized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// Text of `min..=max` characters. JSON numbers are stringified: the 2015 client JSON-decodes
    /// CLI values, so `flavor_id=2` arrives as `2`.
    String {
        /// Fewest characters.
        min: usize,
        /// Most characters (`usize::MAX`: unbounded).
        max: usize,
    },
    /// A name of printable characters, 1..255, that is neither a UUID nor `detail` (§2.1).
    PrintableName,
    /// An integer in `min..=max`, from a JSON integer or a decimal-digit string.
    Int {
        /// Smallest value.
        min: i64,
        /// Largest value.
        max: i64,
    },
    /// A boolean, from JSON, 0/1 or a word such as `"False"` or `"yes"` (see [`parse_bool`]).
    Bool,
    /// A string→string dict; scalar values are stringified, nested values refused.
    Dict,
    /// A JSON array, items kept as sent.
    List,
    /// One of a fixed set of strings.
    Enum(&'static [&'static str]),
    /// A canonical hyphenated UUID (any case), normalized to lowercase.
    Uuid,
    /// One IP address or several, comma-separated; kept as sent.
    IpList,
    /// Set by the service only (timestamps, links): never read from a body.
    Opaque,
}

/// How a field may be set: a small bit set built with [`Flags::with`] or `|`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(u8);

impl Flags {
    /// No flag: a client may not set the field (sending it is refused as read-only).
    pub const NONE: Flags = Flags(0);
    /// Required on create (absent or null: 400). Implies settable on create.
    pub const MANDATORY: Flags = Flags(1);
    /// Settable on create.
    pub const WRITABLE: Flags = Flags(1 << 1);
    /// Changeable by PATCH.
    pub const PATCHABLE: Flags = Flags(1 << 2);
    /// Set by the service only: sending it is a 400, patching it an internal-attribute 400.
    pub const READ_ONLY: Flags = Flags(1 << 3);

    /// The union of both sets, usable in `const` and `static` tables.
    pub const fn with(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }

    /// Whether every flag of `other` is set.
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl BitOr for Flags {
    type Output = Flags;

    fn bitor(self, other: Flags) -> Flags {
        self.with(other)
    }
}

/// One field of a resource: its wire name, kind and flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    /// Name in bodies, views and patch paths.
    pub name: &'static str,
    /// What it holds.
    pub kind: FieldKind,
    /// How it may be set.
    pub flags: Flags,
}

impl FieldSpec {
    /// A table row.
    pub const fn new(name: &'static str, kind: FieldKind, flags: Flags) -> Self {
        FieldSpec { name, kind, flags }
    }

    /// Whether a create body must carry it.
    pub const fn is_mandatory(&self) -> bool {
        self.flags.contains(Flags::MANDATORY)
    }

    /// Whether only the service sets it.
    pub const fn is_read_only(&self) -> bool {
        self.flags.contains(Flags::READ_ONLY)
    }

    /// Whether a create body may carry it (mandatory fields included).
    pub const fn is_writable(&self) -> bool {
        !self.is_read_only()
            && (self.flags.contains(Flags::WRITABLE) || self.flags.contains(Flags::MANDATORY))
    }

    /// Whether PATCH may change it.
    pub const fn is_patchable(&self) -> bool {
        !self.is_read_only() && self.flags.contains(Flags::PATCHABLE)
    }
}

/// The table row named `name`, if the resource has that field.
pub fn find<'a>(specs: &'a [FieldSpec], name: &str) -> Option<&'a FieldSpec> {
    specs.iter().find(|spec| spec.name == name)
}

/// Which request a value comes from; PATCH coerces more loosely (spec/rest-api.md §1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A create body: `null` means absent, mandatory fields must be present.
    Create,
    /// A PATCH value or plain update object: `null` means "restore the default", dicts and lists
    /// may arrive as strings holding JSON or a Python literal, only patchable fields may be set.
    Patch,
}

/// Checks a request body against `specs` and returns its fields coerced to their normal JSON
/// form (integers as numbers, booleans as `true`/`false`, uuids lowercase, dict values strings).
///
/// In [`Mode::Create`] null and absent fields are left out, so the caller applies defaults; in
/// [`Mode::Patch`] a null is kept, meaning "restore the default". `argument` names the resource
/// in the unknown-attribute message (`baymodel`). Errors, in this order: a non-object body
/// ([`ValidationError::Malformed`]), unknown attributes (all of them, sorted), a read-only or
/// not settable field, then, field by field in table order, a missing mandatory field or a bad
/// value.
pub fn validate_body(
    argument: &'static str,
    specs: &[FieldSpec],
    body: &Value,
    mode: Mode,
) -> Result<Map<String, Value>, ValidationError> {
    let Value::Object(fields) = body else {
        return Err(ValidationError::Malformed(format!(
            "the {argument} must be a JSON object, not {}",
            json_type(body)
        )));
    };
    let mut unknown: Vec<&str> = fields
        .keys()
        .map(String::as_str)
        .filter(|name| find(specs, name).is_none())
        .collect();
    if !unknown.is_empty() {
        unknown.sort_unstable();
        return Err(ValidationError::UnknownAttribute {
            argument,
            names: unknown.join(", "),
        });
    }
    let settable = |spec: &FieldSpec| match mode {
        Mode::Create => spec.is_writable(),
        Mode::Patch => spec.is_patchable(),
    };
    // A null read-only field is as good as absent: clients send nulls for what they leave unset.
    if let Some((spec, value)) = specs
        .iter()
        .filter(|spec| !settable(spec))
        .find_map(|spec| Some((spec, fields.get(spec.name).filter(|v| !v.is_null())?)))
    {
        return Err(ValidationError::ReadOnly {
            field: spec.name.to_owned(),
            value: render_value(value),
        });
    }
    let mut normal = Map::new();
    for spec in specs.iter().filter(|spec| settable(spec)) {
        match (fields.get(spec.name), mode) {
            (None | Some(Value::Null), Mode::Create) if spec.is_mandatory() => {
                return Err(ValidationError::Missing {
                    field: spec.name.to_owned(),
                });
            }
            (None | Some(Value::Null), Mode::Create) | (None, Mode::Patch) => {}
            (Some(Value::Null), Mode::Patch) if spec.is_mandatory() => {
                return Err(ValidationError::MandatoryRemoval {
                    path: format!("/{}", spec.name),
                });
            }
            (Some(value), _) => {
                normal.insert(spec.name.to_owned(), coerce(spec, value, mode)?);
            }
        }
    }
    Ok(normal)
}

/// Checks one value against its field and returns its normal JSON form. `null` passes through
/// unchanged: what it means (absent, default) is the caller's business.
pub fn coerce(spec: &FieldSpec, value: &Value, mode: Mode) -> Result<Value, ValidationError> {
    let field = spec.name;
    let invalid = |reason: String| ValidationError::invalid(field, value, reason);
    if value.is_null() {
        return Ok(Value::Null);
    }
    match spec.kind {
        FieldKind::String { min, max } => {
            let text = text_of(value).ok_or_else(|| invalid("Expected a string.".into()))?;
            check_length(&text, min, max).map_err(invalid)?;
            Ok(Value::String(text))
        }
        FieldKind::PrintableName => {
            let text = text_of(value).ok_or_else(|| invalid("Expected a string.".into()))?;
            check_name(&text).map_err(invalid)?;
            Ok(Value::String(text))
        }
        FieldKind::Int { min, max } => {
            let number = int_of(value).ok_or_else(|| invalid("Expected an integer.".into()))?;
            if number < i128::from(min) {
                Err(invalid(format!(
                    "Value should be greater or equal to {min}."
                )))
            } else if number > i128::from(max) {
                Err(invalid(format!("Value should be lower or equal to {max}.")))
            } else {
                // In range of an i64 by now.
                Ok(Value::from(i64::try_from(number).unwrap_or(max)))
            }
        }
        FieldKind::Bool => bool_of(value).map(Value::Bool).ok_or_else(|| {
            invalid("Expected a boolean: true/false, yes/no, on/off, t/f, y/n or 1/0.".into())
        }),
        FieldKind::Dict => {
            let object = match container_of(value, mode) {
                Some(Value::Object(object)) => object,
                _ => return Err(invalid(container_reason("a dict", mode))),
            };
            let mut dict = Map::new();
            for (key, item) in object {
                let text = dict_value(field, &item)?;
                dict.insert(key, Value::String(text));
            }
            Ok(Value::Object(dict))
        }
        FieldKind::List => match container_of(value, mode) {
            Some(list @ Value::Array(_)) => Ok(list),
            _ => Err(invalid(container_reason("a list", mode))),
        },
        FieldKind::Enum(options) => match value.as_str() {
            Some(text) if options.contains(&text) => Ok(value.clone()),
            _ => Err(invalid(format!(
                "Value should be one of: {}.",
                options.join(", ")
            ))),
        },
        FieldKind::Uuid => value
            .as_str()
            .and_then(parse_hyphenated_uuid)
            .map(|uuid| Value::String(uuid.to_string()))
            .ok_or_else(|| invalid("Expected a uuid.".into())),
        FieldKind::IpList => match value.as_str() {
            Some(text) if is_ip_list(text) => Ok(value.clone()),
            _ => Err(invalid(
                "Expected an IP address or comma-separated IP addresses.".into(),
            )),
        },
        FieldKind::Opaque => Ok(value.clone()),
    }
}

/// A dict value as stored: strings as they are, numbers and booleans in their JSON spelling
/// (`1`, `2.5`, `true`); null, lists and dicts are refused.
pub fn dict_value(field: &str, value: &Value) -> Result<String, ValidationError> {
    match value {
        Value::String(text) => Ok(text.clone()),
        Value::Number(_) | Value::Bool(_) => Ok(value.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => Err(ValidationError::invalid(
            field,
            value,
            "Dict values must be strings, numbers or booleans.",
        )),
    }
}

/// Reads an integer as §1.2 allows in bodies and query strings: decimal digits, optionally signed.
pub fn parse_int(text: &str) -> Option<i64> {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Reads a boolean word as oslo's `bool_from_string(strict=True)` does, in any case:
/// `true false yes no on off 1 0 t f y n`.
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" | "t" | "y" => Some(true),
        "false" | "no" | "off" | "0" | "f" | "n" => Some(false),
        _ => None,
    }
}

/// The name given to an object created without one (§2.1): `<prefix>-<first 8 hex of uuid>`,
/// e.g. `generated_name("template", &uuid)` is `template-5d1c7b0e`.
pub fn generated_name(prefix: &str, uuid: &Uuid) -> String {
    format!("{prefix}-{:08x}", uuid.as_u128() >> 96)
}

/// Text of a string field: strings, and numbers in their JSON spelling.
fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// An integer from a JSON integer or a digit string; i128 so that u64 values get a range error.
fn int_of(value: &Value) -> Option<i128> {
    match value {
        Value::Number(number) => number
            .as_i64()
            .map(i128::from)
            .or_else(|| number.as_u64().map(i128::from)),
        Value::String(text) => parse_int(text).map(i128::from),
        _ => None,
    }
}

fn bool_of(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(flag) => Some(*flag),
        Value::Number(number) => match number.as_u64() {
            Some(0) => Some(false),
            Some(1) => Some(true),
            _ => None,
        },
        Value::String(text) => parse_bool(text),
        _ => None,
    }
}

/// A dict or list value; in PATCH also one held in a string as JSON or as a Python literal.
fn container_of(value: &Value, mode: Mode) -> Option<Value> {
    match (value, mode) {
        (Value::Object(_) | Value::Array(_), _) => Some(value.clone()),
        (Value::String(text), Mode::Patch) => {
            let is_container = |v: &Value| v.is_object() || v.is_array();
            serde_json::from_str(text)
                .ok()
                .filter(is_container)
                .or_else(|| python::parse(text).ok().filter(is_container))
        }
        _ => None,
    }
}

fn container_reason(what: &str, mode: Mode) -> String {
    match mode {
        Mode::Create => format!("Expected {what}."),
        Mode::Patch => format!("Expected {what}, as JSON or as a Python literal."),
    }
}

fn check_length(text: &str, min: usize, max: usize) -> Result<(), String> {
    let length = text.chars().count();
    if length < min {
        Err(format!(
            "Value should have a minimum character requirement of {min}."
        ))
    } else if length > max {
        Err(format!(
            "Value should have a maximum character requirement of {max}."
        ))
    } else {
        Ok(())
    }
}

/// §2.1: printable, 1..255, and not something a path would read as a uuid or the detail route.
fn check_name(text: &str) -> Result<(), String> {
    check_length(text, 1, 255)?;
    // Python's str.isprintable(): no control or separator characters except the ASCII space.
    if text
        .chars()
        .any(|c| c.is_control() || (c.is_whitespace() && c != ' '))
    {
        return Err("Value should contain printable characters only.".to_owned());
    }
    if parse_hyphenated_uuid(text).is_some() {
        return Err("A name may not be a UUID.".to_owned());
    }
    if text == "detail" {
        return Err("'detail' is reserved and may not be used as a name.".to_owned());
    }
    Ok(())
}

fn is_ip_list(text: &str) -> bool {
    text.split(',')
        .all(|item| item.trim().parse::<IpAddr>().is_ok())
}

/// Names the JSON type of a value in messages.
fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::fmt;

    const WP: Flags = Flags::WRITABLE.with(Flags::PATCHABLE);

    static WIDGET: &[FieldSpec] = &[
        FieldSpec::new("uuid", FieldKind::Uuid, Flags::WRITABLE),
        FieldSpec::new("name", FieldKind::PrintableName, WP),
        FieldSpec::new(
            "size",
            FieldKind::Int { min: 1, max: 10 },
            Flags::MANDATORY.with(Flags::PATCHABLE),
        ),
        FieldSpec::new("note", FieldKind::String { min: 0, max: 5 }, WP),
        FieldSpec::new("on", FieldKind::Bool, WP),
        FieldSpec::new("labels", FieldKind::Dict, WP),
        FieldSpec::new("items", FieldKind::List, WP),
        FieldSpec::new("shape", FieldKind::Enum(&["round", "square"]), WP),
        FieldSpec::new("dns", FieldKind::IpList, WP),
        FieldSpec::new("driver", FieldKind::Opaque, Flags::READ_ONLY),
        FieldSpec::new("created_at", FieldKind::Opaque, Flags::READ_ONLY),
    ];

    fn spec(name: &str) -> &'static FieldSpec {
        find(WIDGET, name).unwrap()
    }

    #[expect(clippy::needless_pass_by_value, reason = "tests pass json! literals")]
    fn create(body: Value) -> Result<Map<String, Value>, ValidationError> {
        validate_body("widget", WIDGET, &body, Mode::Create)
    }

    fn message(result: Result<impl fmt::Debug, ValidationError>) -> String {
        result.unwrap_err().to_string()
    }

    #[test]
    fn flags_combine_and_mandatory_implies_writable() {
        assert_eq!(Flags::WRITABLE | Flags::PATCHABLE, WP);
        assert!(WP.contains(Flags::PATCHABLE) && !WP.contains(Flags::MANDATORY));
        assert!(spec("size").is_writable() && spec("size").is_mandatory());
        assert!(!spec("uuid").is_patchable() && spec("uuid").is_writable());
        assert!(!spec("driver").is_writable() && !spec("driver").is_patchable());
    }

    #[test]
    fn integers_accept_json_integers_and_digit_strings_only() {
        let size = spec("size");
        assert_eq!(coerce(size, &json!(2), Mode::Create).unwrap(), json!(2));
        assert_eq!(coerce(size, &json!("2"), Mode::Create).unwrap(), json!(2));
        assert_eq!(coerce(size, &json!("+3"), Mode::Patch).unwrap(), json!(3));
        for bad in [
            json!(2.5),
            json!("2.0"),
            json!(" 2"),
            json!("two"),
            json!(true),
            json!([2]),
        ] {
            assert_eq!(
                message(coerce(size, &bad, Mode::Create)),
                format!(
                    "Invalid input for field/attribute size. Value: {}. Expected an integer.",
                    render_value(&bad)
                )
            );
        }
    }

    #[test]
    fn integers_outside_their_range_name_the_bound() {
        let size = spec("size");
        assert_eq!(
            message(coerce(size, &json!(0), Mode::Create)),
            "Invalid input for field/attribute size. Value: 0. Value should be greater or equal to 1."
        );
        assert_eq!(
            message(coerce(size, &json!("11"), Mode::Create)),
            "Invalid input for field/attribute size. Value: 11. Value should be lower or equal to 10."
        );
        assert!(coerce(size, &json!(u64::MAX), Mode::Create).is_err());
        assert!(coerce(size, &json!("99999999999999999999999"), Mode::Create).is_err());
    }

    #[test]
    fn booleans_accept_every_spelling_of_section_1_2_in_any_case() {
        let on = spec("on");
        for word in ["true", "True", "YES", "on", "1", "t", "Y"] {
            assert_eq!(
                coerce(on, &json!(word), Mode::Create).unwrap(),
                json!(true),
                "{word}"
            );
        }
        for word in ["false", "False", "no", "OFF", "0", "f", "n"] {
            assert_eq!(
                coerce(on, &json!(word), Mode::Create).unwrap(),
                json!(false),
                "{word}"
            );
        }
        assert_eq!(coerce(on, &json!(1), Mode::Create).unwrap(), json!(true));
        assert_eq!(coerce(on, &json!(0), Mode::Create).unwrap(), json!(false));
        assert_eq!(
            coerce(on, &json!(false), Mode::Create).unwrap(),
            json!(false)
        );
        for bad in [json!(2), json!("maybe"), json!(""), json!({}), json!(0.0)] {
            assert!(
                coerce(on, &bad, Mode::Create).is_err(),
                "{bad} was accepted"
            );
        }
    }

    #[test]
    fn dict_values_are_stringified_and_nested_values_refused() {
        let labels = spec("labels");
        assert_eq!(
            coerce(
                labels,
                &json!({"a": 1, "b": true, "c": "x", "d": 2.5}),
                Mode::Create
            )
            .unwrap(),
            json!({"a": "1", "b": "true", "c": "x", "d": "2.5"})
        );
        assert_eq!(
            message(coerce(labels, &json!({"a": {"b": "c"}}), Mode::Create)),
            "Invalid input for field/attribute labels. Value: {\"b\":\"c\"}. \
             Dict values must be strings, numbers or booleans."
        );
        assert!(coerce(labels, &json!({"a": null}), Mode::Create).is_err());
        assert!(coerce(labels, &json!(["a"]), Mode::Create).is_err());
    }

    #[test]
    fn dicts_held_in_strings_are_accepted_in_patch_values_only() {
        let labels = spec("labels");
        assert_eq!(
            coerce(labels, &json!("{'x': 'y'}"), Mode::Patch).unwrap(),
            json!({"x": "y"})
        );
        assert_eq!(
            coerce(labels, &json!(r#"{"x": "y", "n": 3}"#), Mode::Patch).unwrap(),
            json!({"x": "y", "n": "3"})
        );
        assert_eq!(
            message(coerce(labels, &json!("{'x': 'y'}"), Mode::Create)),
            "Invalid input for field/attribute labels. Value: {'x': 'y'}. Expected a dict."
        );
        assert_eq!(
            message(coerce(labels, &json!("x=y"), Mode::Patch)),
            "Invalid input for field/attribute labels. Value: x=y. \
             Expected a dict, as JSON or as a Python literal."
        );
        assert!(coerce(labels, &json!("['x']"), Mode::Patch).is_err());
    }

    #[test]
    fn lists_accept_arrays_and_in_patch_values_json_or_python_tuples() {
        let items = spec("items");
        assert_eq!(
            coerce(items, &json!([1, "a"]), Mode::Create).unwrap(),
            json!([1, "a"])
        );
        assert_eq!(
            coerce(items, &json!("('a', 'b')"), Mode::Patch).unwrap(),
            json!(["a", "b"])
        );
        assert_eq!(
            coerce(items, &json!("[1, 2]"), Mode::Patch).unwrap(),
            json!([1, 2])
        );
        assert!(coerce(items, &json!("[1, 2]"), Mode::Create).is_err());
        assert!(coerce(items, &json!("{'a': 'b'}"), Mode::Patch).is_err());
    }

    #[test]
    fn strings_are_measured_in_characters_and_numbers_stringified() {
        let note = spec("note");
        assert_eq!(
            coerce(note, &json!("ééééé"), Mode::Create).unwrap(),
            json!("ééééé")
        );
        assert_eq!(coerce(note, &json!(""), Mode::Create).unwrap(), json!(""));
        assert_eq!(coerce(note, &json!(42), Mode::Patch).unwrap(), json!("42"));
        assert_eq!(
            message(coerce(note, &json!("abcdef"), Mode::Create)),
            "Invalid input for field/attribute note. Value: abcdef. \
             Value should have a maximum character requirement of 5."
        );
        assert!(coerce(note, &json!(true), Mode::Create).is_err());
        assert!(coerce(note, &json!({"a": "b"}), Mode::Create).is_err());
    }

    #[test]
    fn names_are_printable_short_and_neither_uuids_nor_detail() {
        let name = spec("name");
        assert_eq!(
            coerce(name, &json!("my template"), Mode::Create).unwrap(),
            json!("my template")
        );
        assert!(coerce(name, &json!("x".repeat(255)), Mode::Create).is_ok());
        assert!(coerce(name, &json!("x".repeat(256)), Mode::Create).is_err());
        assert!(coerce(name, &json!(""), Mode::Create).is_err());
        assert!(coerce(name, &json!("tab\there"), Mode::Create).is_err());
        assert!(coerce(name, &json!("line\n"), Mode::Create).is_err());
        assert_eq!(
            message(coerce(
                name,
                &json!("5D1C7B0E-3F6A-4C2D-9E8B-1A2B3C4D5E6F"),
                Mode::Create
            )),
            "Invalid input for field/attribute name. Value: 5D1C7B0E-3F6A-4C2D-9E8B-1A2B3C4D5E6F. \
             A name may not be a UUID."
        );
        assert_eq!(
            message(coerce(name, &json!("detail"), Mode::Create)),
            "Invalid input for field/attribute name. Value: detail. \
             'detail' is reserved and may not be used as a name."
        );
        assert!(coerce(name, &json!("Detail"), Mode::Create).is_ok());
    }

    #[test]
    fn enums_list_their_values_when_refusing() {
        let shape = spec("shape");
        assert_eq!(
            coerce(shape, &json!("round"), Mode::Create).unwrap(),
            json!("round")
        );
        assert_eq!(
            message(coerce(shape, &json!("Round"), Mode::Create)),
            "Invalid input for field/attribute shape. Value: Round. \
             Value should be one of: round, square."
        );
        assert!(coerce(shape, &json!(1), Mode::Create).is_err());
    }

    #[test]
    fn uuids_must_be_canonical_and_come_out_lowercase() {
        let uuid = spec("uuid");
        assert_eq!(
            coerce(
                uuid,
                &json!("5D1C7B0E-3F6A-4C2D-9E8B-1A2B3C4D5E6F"),
                Mode::Create
            )
            .unwrap(),
            json!("5d1c7b0e-3f6a-4c2d-9e8b-1a2b3c4d5e6f")
        );
        for bad in [
            "5d1c7b0e3f6a4c2d9e8b1a2b3c4d5e6f",
            "{5d1c7b0e-3f6a-4c2d-9e8b-1a2b3c4d5e6f}",
            "x",
        ] {
            assert_eq!(
                message(coerce(uuid, &json!(bad), Mode::Create)),
                format!("Invalid input for field/attribute uuid. Value: {bad}. Expected a uuid.")
            );
        }
    }

    #[test]
    fn ip_lists_take_one_or_several_comma_separated_addresses() {
        let dns = spec("dns");
        for good in ["8.8.8.8", "8.8.8.8,1.1.1.1", "8.8.8.8, 2001:db8::1"] {
            assert_eq!(
                coerce(dns, &json!(good), Mode::Create).unwrap(),
                json!(good)
            );
        }
        for bad in [
            "",
            "8.8.8",
            "8.8.8.8,",
            "dns.example.com",
            "8.8.8.8;1.1.1.1",
        ] {
            assert!(
                coerce(dns, &json!(bad), Mode::Create).is_err(),
                "{bad:?} was accepted"
            );
        }
    }

    #[test]
    fn a_create_body_comes_back_coerced_without_its_nulls() {
        let body = json!({"size": "3", "on": "False", "note": null, "labels": {"a": 1}});
        let expected = json!({"size": 3, "on": false, "labels": {"a": "1"}});
        assert_eq!(Value::Object(create(body).unwrap()), expected);
    }

    #[test]
    fn a_body_that_is_not_an_object_is_malformed() {
        assert_eq!(
            message(create(json!([{"size": 1}]))),
            "Invalid input: the widget must be a JSON object, not an array"
        );
        assert!(matches!(
            create(json!(null)),
            Err(ValidationError::Malformed(_))
        ));
    }

    #[test]
    fn unknown_attributes_are_all_named_sorted() {
        assert_eq!(
            message(create(
                json!({"size": 1, "zeta": 1, "alpha": null, "name": "x"})
            )),
            "Unknown attribute for argument widget: alpha, zeta"
        );
    }

    #[test]
    fn read_only_fields_are_refused_unless_null() {
        assert_eq!(
            message(create(json!({"size": 1, "driver": "docker"}))),
            "Invalid input for field/attribute driver. Value: docker. The attribute is read-only."
        );
        assert!(create(json!({"size": 1, "created_at": null})).is_ok());
    }

    #[test]
    fn missing_or_null_mandatory_fields_are_refused_on_create() {
        let expected =
            "Invalid input for field/attribute size. Value: None. Mandatory field missing.";
        assert_eq!(message(create(json!({}))), expected);
        assert_eq!(message(create(json!({"size": null}))), expected);
    }

    #[test]
    fn plain_update_objects_keep_nulls_and_take_only_patchable_fields() {
        let patch = |body: Value| validate_body("widget", WIDGET, &body, Mode::Patch);
        assert_eq!(
            Value::Object(patch(json!({"note": null, "labels": "{'a': 'b'}"})).unwrap()),
            json!({"note": null, "labels": {"a": "b"}})
        );
        assert!(matches!(
            patch(json!({"uuid": "5d1c7b0e-3f6a-4c2d-9e8b-1a2b3c4d5e6f"})),
            Err(ValidationError::ReadOnly { .. })
        ));
        assert_eq!(
            message(patch(json!({"size": null}))),
            "'/size' is a mandatory attribute and can not be removed"
        );
        assert!(patch(json!({})).unwrap().is_empty());
    }

    #[test]
    fn query_style_parsers_follow_section_1_2() {
        assert_eq!(parse_int("42"), Some(42));
        assert_eq!(parse_int("-1"), Some(-1));
        assert_eq!(parse_int("-"), None);
        assert_eq!(parse_int("1e3"), None);
        assert_eq!(parse_bool("On"), Some(true));
        assert_eq!(parse_bool("nope"), None);
    }

    #[test]
    fn generated_names_take_the_first_eight_hex_digits_of_the_uuid() {
        let uuid = Uuid::parse_str("05d1c7b0-3f6a-4c2d-9e8b-1a2b3c4d5e6f").unwrap();
        assert_eq!(generated_name("template", &uuid), "template-05d1c7b0");
        assert_eq!(generated_name("bay", &Uuid::nil()), "bay-00000000");
    }
}
