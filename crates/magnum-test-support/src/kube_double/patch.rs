//! Patch documents: JSON merge patch (RFC 7386) and JSON patch (RFC 6902).
//!
//! Strategic merge patch and server-side apply are served with merge-patch semantics: lists are
//! replaced whole, `null` deletes a key. That is what a driver that sends complete objects sees
//! from a real server too, and it keeps the double free of Kubernetes' per-field merge keys.

use serde_json::Value;

/// Applies an RFC 7386 merge patch to `target` in place.
pub(crate) fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(target) = target {
        for (key, value) in patch {
            if value.is_null() {
                target.remove(key);
            } else {
                merge(target.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

/// Applies an RFC 6902 patch (`add`, `remove`, `replace`, `move`, `copy`, `test`) to a copy of
/// `target`; the error is the API server's message.
pub(crate) fn json_patch(target: &Value, operations: &Value) -> Result<Value, String> {
    let ops = operations
        .as_array()
        .ok_or("json patch must be an array of operations")?;
    let mut doc = target.clone();
    for op in ops {
        let name = op
            .get("op")
            .and_then(Value::as_str)
            .ok_or("operation has no 'op'")?;
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .ok_or("operation has no 'path'")?;
        let value = || {
            op.get("value")
                .cloned()
                .ok_or(format!("{name} operation has no 'value'"))
        };
        let from = || {
            op.get("from")
                .and_then(Value::as_str)
                .ok_or(format!("{name} has no 'from'"))
        };
        match name {
            "add" => add(&mut doc, path, value()?)?,
            "remove" => {
                remove(&mut doc, path)?;
            }
            "replace" => {
                remove(&mut doc, path)?;
                add(&mut doc, path, value()?)?;
            }
            "move" => {
                let moved = remove(&mut doc, from()?)?;
                add(&mut doc, path, moved)?;
            }
            "copy" => {
                let copied = doc
                    .pointer(from()?)
                    .cloned()
                    .ok_or(format!("copy: 'from' path does not exist: {}", from()?))?;
                add(&mut doc, path, copied)?;
            }
            "test" => {
                if doc.pointer(path) != Some(&value()?) {
                    return Err(format!("testing value {path} failed"));
                }
            }
            other => return Err(format!("unexpected kind of patch operation: {other:?}")),
        }
    }
    Ok(doc)
}

fn split(path: &str) -> Result<(&str, String), String> {
    let (parent, last) = path
        .rsplit_once('/')
        .ok_or(format!("invalid JSON pointer {path:?}"))?;
    Ok((parent, last.replace("~1", "/").replace("~0", "~")))
}

fn add(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    if path.is_empty() {
        *doc = value;
        return Ok(());
    }
    let (parent, key) = split(path)?;
    match doc.pointer_mut(parent) {
        Some(Value::Object(map)) => {
            map.insert(key, value);
            Ok(())
        }
        Some(Value::Array(items)) => {
            let at = if key == "-" {
                items.len()
            } else {
                key.parse::<usize>()
                    .ok()
                    .filter(|i| *i <= items.len())
                    .ok_or(format!("add operation: index out of range: {path}"))?
            };
            items.insert(at, value);
            Ok(())
        }
        _ => Err(format!(
            "add operation does not apply: doc is missing path: {path:?}"
        )),
    }
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, String> {
    let (parent, key) = split(path)?;
    let missing = || format!("remove operation does not apply: doc is missing key: {path}");
    match doc.pointer_mut(parent) {
        Some(Value::Object(map)) => map.remove(&key).ok_or_else(missing),
        Some(Value::Array(items)) => {
            let at = key
                .parse::<usize>()
                .ok()
                .filter(|i| *i < items.len())
                .ok_or_else(missing)?;
            Ok(items.remove(at))
        }
        _ => Err(missing()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_deletes_with_null_and_replaces_lists() {
        let mut doc = json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"l": [1, 2]}});
        merge(
            &mut doc,
            &json!({"metadata": {"labels": {"a": null, "c": "3"}}, "spec": {"l": [3]}}),
        );
        assert_eq!(
            doc,
            json!({"metadata": {"labels": {"b": "2", "c": "3"}}, "spec": {"l": [3]}})
        );
    }

    #[test]
    fn json_patch_supports_every_operation() {
        let doc = json!({"a": {"b": 1}, "l": [1, 2], "x~y/z": 0});
        let patched = json_patch(
            &doc,
            &json!([
                {"op": "test", "path": "/a/b", "value": 1},
                {"op": "add", "path": "/l/-", "value": 3},
                {"op": "add", "path": "/l/0", "value": 0},
                {"op": "replace", "path": "/a/b", "value": 2},
                {"op": "copy", "from": "/a", "path": "/c"},
                {"op": "move", "from": "/c/b", "path": "/d"},
                {"op": "remove", "path": "/x~0y~1z"},
            ]),
        )
        .expect("patch applies");
        assert_eq!(
            patched,
            json!({"a": {"b": 2}, "l": [0, 1, 2, 3], "c": {}, "d": 2})
        );
        assert!(json_patch(&doc, &json!([{"op": "test", "path": "/a/b", "value": 9}])).is_err());
        assert!(json_patch(&doc, &json!([{"op": "remove", "path": "/nope"}])).is_err());
    }
}
