//! JSON Patch (RFC 6902) as Magnum takes it: `add`, `replace` and `remove` of a resource's
//! fields and of dict keys such as `/labels/<key>`, checked against its field table
//! (spec/rest-api.md §2.5).

use crate::error::ValidationError;
use crate::fields::{self, FieldKind, FieldSpec, Mode};
use serde_json::{Map, Value};

/// Paths no PATCH may touch, on every resource; read-only fields of the table are added to them.
pub const INTERNAL_PATHS: &[&str] = &[
    "uuid",
    "id",
    "links",
    "created_at",
    "updated_at",
    "project_id",
    "user_id",
];

/// The pattern every path must match, as Magnum's `JsonPatchType` spells it.
pub const PATH_PATTERN: &str = r"^(/[\w-]+)+$";

/// A patch operation kind; RFC 6902's `move`, `copy` and `test` are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// Sets a field or dict key, replacing what is there.
    Add,
    /// Sets a field or dict key (the same as `add` here).
    Replace,
    /// Restores a field's default (or null), or deletes a dict key.
    Remove,
}

impl Op {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Add => "add",
            Op::Replace => "replace",
            Op::Remove => "remove",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(text: &str) -> Option<Self> {
        [Op::Add, Op::Replace, Op::Remove]
            .into_iter()
            .find(|op| op.as_str() == text)
    }
}

/// One operation of a patch, its syntax checked but not yet its target.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    /// What to do.
    pub op: Op,
    /// The path as sent, e.g. `/labels/kube_tag`.
    pub path: String,
    /// The path's segments, at least one: `["labels", "kube_tag"]`.
    pub segments: Vec<String>,
    /// The value as sent; absent and `null` are both `None`.
    pub value: Option<Value>,
}

impl Operation {
    /// The top-level field the operation touches.
    pub fn field(&self) -> &str {
        self.segments.first().map_or("", String::as_str)
    }
}

/// Checks the shape of a patch: a JSON array of `{"op", "path", "value"?}` objects with a known
/// `op` and a path matching [`PATH_PATTERN`]. Other members of an operation are ignored, as RFC
/// 6902 says.
pub fn parse(patch: &Value) -> Result<Vec<Operation>, ValidationError> {
    let Value::Array(items) = patch else {
        return Err(ValidationError::Malformed(
            "a patch must be a JSON array of operations".to_owned(),
        ));
    };
    items.iter().map(parse_operation).collect()
}

fn parse_operation(item: &Value) -> Result<Operation, ValidationError> {
    let Value::Object(fields) = item else {
        return Err(ValidationError::Malformed(format!(
            "each patch operation must be a JSON object, not {item}"
        )));
    };
    let op = match fields.get("op") {
        None | Some(Value::Null) => return Err(missing("op")),
        Some(sent) => sent.as_str().and_then(Op::parse).ok_or_else(|| {
            ValidationError::invalid("op", sent, "Value should be one of: add, replace, remove.")
        })?,
    };
    let (path, segments) = match fields.get("path") {
        None | Some(Value::Null) => return Err(missing("path")),
        Some(sent) => sent
            .as_str()
            .and_then(|path| Some((path.to_owned(), split_path(path)?)))
            .ok_or_else(|| {
                ValidationError::invalid(
                    "path",
                    sent,
                    format!("Value should match the pattern {PATH_PATTERN}."),
                )
            })?,
    };
    let value = fields.get("value").filter(|v| !v.is_null()).cloned();
    Ok(Operation {
        op,
        path,
        segments,
        value,
    })
}

/// The segments of a path matching `^(/[\w-]+)+$` (Python's Unicode `\w`).
fn split_path(path: &str) -> Option<Vec<String>> {
    let rest = path.strip_prefix('/')?;
    rest.split('/')
        .map(|segment| {
            let word = |c: char| c.is_alphanumeric() || c == '_' || c == '-';
            (!segment.is_empty() && segment.chars().all(word)).then(|| segment.to_owned())
        })
        .collect()
}

fn missing(field: &str) -> ValidationError {
    ValidationError::Missing {
        field: field.to_owned(),
    }
}

/// Applies `patch` to `current` (a resource's fields in normal form, as
/// [`fields::validate_body`] returns them) and returns the new fields and the names of those
/// whose value changed, in table order.
///
/// Values are coerced in [`Mode::Patch`]; a removed field becomes `null`, so validating the
/// result as a create body, which the caller must do, restores its default. The whole patch
/// applies or none of it. Errors: a malformed patch (see [`parse`]); an internal path
/// ([`INTERNAL_PATHS`], read-only or non-patchable fields); an unknown path; removing a
/// mandatory field; `add`/`replace` without a value; a bad value.
pub fn apply(
    specs: &[FieldSpec],
    current: &Map<String, Value>,
    patch: &Value,
) -> Result<(Map<String, Value>, Vec<&'static str>), ValidationError> {
    let operations = parse(patch)?;
    let mut fields = current.clone();
    for operation in &operations {
        apply_one(specs, &mut fields, operation)?;
    }
    let changed = specs
        .iter()
        .filter(|spec| {
            current.get(spec.name).unwrap_or(&Value::Null)
                != fields.get(spec.name).unwrap_or(&Value::Null)
        })
        .map(|spec| spec.name)
        .collect();
    Ok((fields, changed))
}

fn apply_one(
    specs: &[FieldSpec],
    fields: &mut Map<String, Value>,
    operation: &Operation,
) -> Result<(), ValidationError> {
    let path = &operation.path;
    let name = operation.field();
    let internal = || ValidationError::Internal { path: path.clone() };
    if INTERNAL_PATHS.contains(&name) {
        return Err(internal());
    }
    let spec = fields::find(specs, name).ok_or_else(|| bad_path(path, "No such attribute."))?;
    if !spec.is_patchable() {
        return Err(internal());
    }
    match (operation.segments.as_slice(), operation.op) {
        ([_], Op::Remove) if spec.is_mandatory() => {
            Err(ValidationError::MandatoryRemoval { path: path.clone() })
        }
        ([_], Op::Remove) => {
            fields.insert(spec.name.to_owned(), Value::Null);
            Ok(())
        }
        ([_], Op::Add | Op::Replace) => {
            let value = fields::coerce(spec, required_value(spec, operation)?, Mode::Patch)?;
            fields.insert(spec.name.to_owned(), value);
            Ok(())
        }
        ([_, key], op) if spec.kind == FieldKind::Dict => {
            let mut dict = match fields.get(spec.name) {
                Some(Value::Object(dict)) => dict.clone(),
                _ => Map::new(),
            };
            if op == Op::Remove {
                dict.remove(key)
                    .ok_or_else(|| bad_path(path, "No such key."))?;
            } else {
                let value = fields::dict_value(spec.name, required_value(spec, operation)?)?;
                dict.insert(key.clone(), Value::String(value));
            }
            fields.insert(spec.name.to_owned(), Value::Object(dict));
            Ok(())
        }
        _ => Err(bad_path(path, "The attribute has no such member.")),
    }
}

/// The value of an `add` or `replace`: present and not null (`0`, `""` and `false` are fine).
fn required_value<'a>(
    spec: &FieldSpec,
    operation: &'a Operation,
) -> Result<&'a Value, ValidationError> {
    operation.value.as_ref().ok_or_else(|| {
        ValidationError::invalid(
            spec.name,
            &Value::Null,
            "'add' and 'replace' operations need a value.",
        )
    })
}

fn bad_path(path: &str, reason: &str) -> ValidationError {
    ValidationError::Invalid {
        field: "path".to_owned(),
        value: path.to_owned(),
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::Flags;
    use serde_json::json;

    const WP: Flags = Flags::WRITABLE.with(Flags::PATCHABLE);

    static WIDGET: &[FieldSpec] = &[
        FieldSpec::new("uuid", FieldKind::Uuid, Flags::WRITABLE),
        FieldSpec::new("name", FieldKind::PrintableName, WP),
        FieldSpec::new(
            "size",
            FieldKind::Int { min: 0, max: 10 },
            Flags::MANDATORY.with(Flags::PATCHABLE),
        ),
        FieldSpec::new("note", FieldKind::String { min: 0, max: 20 }, WP),
        FieldSpec::new("on", FieldKind::Bool, WP),
        FieldSpec::new("labels", FieldKind::Dict, WP),
        FieldSpec::new(
            "colour",
            FieldKind::String { min: 0, max: 20 },
            Flags::WRITABLE,
        ),
        FieldSpec::new("driver", FieldKind::Opaque, Flags::READ_ONLY),
    ];

    fn current() -> Map<String, Value> {
        match json!({
            "uuid": "5d1c7b0e-3f6a-4c2d-9e8b-1a2b3c4d5e6f",
            "name": "w",
            "size": 3,
            "note": null,
            "on": true,
            "labels": {"a": "1", "b": "2"},
            "colour": "red",
        }) {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    #[expect(clippy::needless_pass_by_value, reason = "tests pass json! literals")]
    fn patch(body: Value) -> Result<(Map<String, Value>, Vec<&'static str>), ValidationError> {
        apply(WIDGET, &current(), &body)
    }

    fn message(body: Value) -> String {
        patch(body).unwrap_err().to_string()
    }

    #[test]
    fn an_empty_patch_changes_nothing() {
        assert_eq!(patch(json!([])).unwrap(), (current(), vec![]));
    }

    #[test]
    fn add_and_replace_set_coerced_values_and_report_what_changed() {
        let (fields, changed) = patch(json!([
            {"op": "replace", "path": "/size", "value": "7"},
            {"op": "add", "path": "/on", "value": "False"},
            {"op": "add", "path": "/name", "value": "w"},
        ]))
        .unwrap();
        assert_eq!(fields["size"], json!(7));
        assert_eq!(fields["on"], json!(false));
        assert_eq!(changed, ["size", "on"]);
    }

    #[test]
    fn falsy_values_are_values() {
        let (fields, changed) = patch(json!([
            {"op": "replace", "path": "/size", "value": 0},
            {"op": "replace", "path": "/note", "value": ""},
            {"op": "replace", "path": "/on", "value": false},
        ]))
        .unwrap();
        assert_eq!(
            (&fields["size"], &fields["note"], &fields["on"]),
            (&json!(0), &json!(""), &json!(false))
        );
        assert_eq!(changed, ["size", "note", "on"]);
    }

    #[test]
    fn add_and_replace_without_a_value_are_refused() {
        let expected = "Invalid input for field/attribute note. Value: None. \
                        'add' and 'replace' operations need a value.";
        assert_eq!(message(json!([{"op": "add", "path": "/note"}])), expected);
        assert_eq!(
            message(json!([{"op": "replace", "path": "/note", "value": null}])),
            expected
        );
        assert!(patch(json!([{"op": "add", "path": "/labels/x", "value": null}])).is_err());
    }

    #[test]
    fn remove_sets_a_field_to_null_so_that_its_default_applies() {
        let (fields, changed) = patch(json!([
            {"op": "remove", "path": "/on"},
            {"op": "remove", "path": "/note"},
        ]))
        .unwrap();
        assert_eq!(
            (&fields["on"], &fields["note"]),
            (&Value::Null, &Value::Null)
        );
        assert_eq!(changed, ["on"]);
    }

    #[test]
    fn removing_a_mandatory_field_is_refused() {
        assert_eq!(
            message(json!([{"op": "remove", "path": "/size"}])),
            "'/size' is a mandatory attribute and can not be removed"
        );
    }

    #[test]
    fn dict_keys_are_added_replaced_and_removed_through_their_path() {
        let (fields, changed) = patch(json!([
            {"op": "add", "path": "/labels/x", "value": "y"},
            {"op": "replace", "path": "/labels/b", "value": 5},
            {"op": "remove", "path": "/labels/a"},
        ]))
        .unwrap();
        assert_eq!(fields["labels"], json!({"b": "5", "x": "y"}));
        assert_eq!(changed, ["labels"]);
    }

    #[test]
    fn removing_a_missing_dict_key_is_refused() {
        assert_eq!(
            message(json!([{"op": "remove", "path": "/labels/zzz"}])),
            "Invalid input for field/attribute path. Value: /labels/zzz. No such key."
        );
    }

    #[test]
    fn a_dict_key_can_be_added_to_a_null_dict() {
        let mut fields = current();
        fields.insert("labels".into(), Value::Null);
        let (fields, _) = apply(
            WIDGET,
            &fields,
            &json!([{"op": "add", "path": "/labels/k", "value": "v"}]),
        )
        .unwrap();
        assert_eq!(fields["labels"], json!({"k": "v"}));
    }

    #[test]
    fn python_repr_dicts_are_accepted_in_patch_values() {
        let (fields, _) =
            patch(json!([{"op": "replace", "path": "/labels", "value": "{'x': 'y'}"}])).unwrap();
        assert_eq!(fields["labels"], json!({"x": "y"}));
        let (fields, _) =
            patch(json!([{"op": "add", "path": "/labels", "value": {"x": "y"}}])).unwrap();
        assert_eq!(fields["labels"], json!({"x": "y"}));
    }

    #[test]
    fn internal_read_only_and_create_only_paths_are_internal() {
        for path in [
            "/uuid",
            "/id",
            "/links",
            "/created_at",
            "/updated_at",
            "/project_id",
            "/user_id",
            "/driver",
            "/colour",
            "/uuid/x",
        ] {
            assert_eq!(
                message(json!([{"op": "replace", "path": path, "value": "x"}])),
                format!("'{path}' is an internal attribute and can not be updated")
            );
        }
        assert!(matches!(
            patch(json!([{"op": "remove", "path": "/id"}])),
            Err(ValidationError::Internal { .. })
        ));
    }

    #[test]
    fn unknown_paths_and_members_of_scalar_fields_are_refused() {
        assert_eq!(
            message(json!([{"op": "add", "path": "/foo", "value": "x"}])),
            "Invalid input for field/attribute path. Value: /foo. No such attribute."
        );
        assert_eq!(
            message(json!([{"op": "add", "path": "/name/x", "value": "x"}])),
            "Invalid input for field/attribute path. Value: /name/x. The attribute has no such member."
        );
        assert!(patch(json!([{"op": "add", "path": "/labels/a/b", "value": "x"}])).is_err());
    }

    #[test]
    fn operations_other_than_add_replace_and_remove_are_refused() {
        for op in [
            json!("move"),
            json!("test"),
            json!("copy"),
            json!("ADD"),
            json!(1),
        ] {
            assert!(
                message(json!([{"op": op, "path": "/name", "from": "/note"}]))
                    .ends_with("Value should be one of: add, replace, remove."),
            );
        }
        assert_eq!(
            message(json!([{"path": "/name", "value": "x"}])),
            "Invalid input for field/attribute op. Value: None. Mandatory field missing."
        );
    }

    #[test]
    fn paths_must_match_the_magnum_pattern() {
        for path in [
            "", "/", "name", "/name/", "//name", "/la bels", "/a~1b", "/a.b",
        ] {
            assert_eq!(
                message(json!([{"op": "add", "path": path, "value": "x"}])),
                format!(
                    "Invalid input for field/attribute path. Value: {path}. \
                     Value should match the pattern ^(/[\\w-]+)+$."
                )
            );
        }
        assert!(patch(json!([{"op": "add", "path": "/labels/kube-tag_2", "value": "x"}])).is_ok());
        assert!(matches!(
            patch(json!([{"op": "remove"}])),
            Err(ValidationError::Missing { field }) if field == "path"
        ));
    }

    #[test]
    fn a_patch_that_is_not_an_array_of_objects_is_malformed() {
        for body in [
            json!({"op": "add"}),
            json!("[]"),
            json!(["add"]),
            json!(null),
        ] {
            assert!(matches!(patch(body), Err(ValidationError::Malformed(_))));
        }
    }

    #[test]
    fn a_failing_operation_discards_the_whole_patch_and_bad_values_are_refused() {
        assert_eq!(
            message(json!([
                {"op": "replace", "path": "/size", "value": 5},
                {"op": "replace", "path": "/size", "value": "eleven"},
            ])),
            "Invalid input for field/attribute size. Value: eleven. Expected an integer."
        );
    }
}
