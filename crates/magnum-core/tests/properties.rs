//! Property tests of the input handling every request goes through: body validation and
//! coercion, JSON Patch parsing and application, and manifest parsing. Whatever a client sends,
//! these never panic, and what they accept is in normal form (validating it again changes
//! nothing).

#![allow(
    clippy::unwrap_used,
    reason = "a property that cannot even set up its input should fail loudly"
)]

use magnum_core::bay::{BAY_FIELDS, CLUSTER_FIELDS};
use magnum_core::baymodel::BAYMODEL_FIELDS;
use magnum_core::container::CONTAINER_FIELDS;
use magnum_core::fields::{self, FieldSpec, Mode};
use magnum_core::manifest::{self, WorkloadKind};
use magnum_core::patch;
use magnum_core::quota::QUOTA_FIELDS;
use magnum_core::workload::{POD_FIELDS, RC_FIELDS, SERVICE_FIELDS};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

fn tables() -> Vec<(&'static str, &'static [FieldSpec])> {
    vec![
        ("baymodel", BAYMODEL_FIELDS),
        ("bay", BAY_FIELDS),
        ("cluster", CLUSTER_FIELDS),
        ("container", CONTAINER_FIELDS),
        ("quota", QUOTA_FIELDS),
        ("pod", &POD_FIELDS),
        ("service", &SERVICE_FIELDS),
        ("rc", &RC_FIELDS),
    ]
}

fn all_field_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = tables()
        .into_iter()
        .flat_map(|(_, specs)| specs.iter().map(|s| s.name))
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// Strings clients send: boundary words, numbers as text, unicode, NUL, long runs.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        Just(String::new()),
        Just("\0".to_owned()),
        Just("detail".to_owned()),
        Just("5d1c7b0e-8d4a-4f0b-9d7e-2a1c5b8e9f30".to_owned()),
        Just("5D1C7B0E-8D4A-4F0B-9D7E-2A1C5B8E9F30".to_owned()),
        Just("kubernetes".to_owned()),
        Just("swarm".to_owned()),
        Just("True".to_owned()),
        Just("yes".to_owned()),
        Just("0".to_owned()),
        Just("-1".to_owned()),
        Just("+42".to_owned()),
        Just("99999999999999999999999999".to_owned()),
        Just("10.0.0.1,::1".to_owned()),
        Just("{\"a\": 1}".to_owned()),
        Just("{'a': 'b', 'c': 1}".to_owned()),
        Just("[1, 'x']".to_owned()),
        Just("é🦀\u{202e}".to_owned()),
        (1usize..600).prop_map(|n| "n".repeat(n)),
        "[a-z][a-z0-9_.-]{0,20}",
    ]
}

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        Just(json!(0)),
        Just(json!(1)),
        Just(json!(-1)),
        Just(json!(65535)),
        Just(json!(1024)),
        Just(json!(i64::MAX)),
        Just(json!(i64::MIN)),
        Just(json!(u64::MAX)),
        Just(json!(1e308)),
    ]
}

/// Any JSON value, nested up to a few levels.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(text(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A body that mostly names real fields of the table, with any values.
fn body(names: Vec<&'static str>) -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        9 => prop::sample::select(names),
        1 => text().prop_map(|s| Box::leak(s.into_boxed_str()) as &'static str),
    ];
    prop_oneof![
        9 => prop::collection::btree_map(key, json_value(), 0..8).prop_map(|m| {
            Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
        }),
        1 => json_value(),
    ]
}

fn table_and_body() -> impl Strategy<Value = (usize, Value)> {
    (0..tables().len()).prop_flat_map(|i| {
        let names = tables()[i].1.iter().map(|s| s.name).collect();
        (Just(i), body(names))
    })
}

/// A patch: mostly well-formed operations on real paths, sometimes anything.
fn patch_doc() -> impl Strategy<Value = Value> {
    let op = prop_oneof![
        Just(json!("add")),
        Just(json!("replace")),
        Just(json!("remove")),
        Just(json!("move")),
        Just(json!("test")),
        json_value(),
    ];
    let path = prop_oneof![
        4 => prop::sample::select(all_field_names()).prop_map(|n| json!(format!("/{n}"))),
        2 => ("[a-z_]{1,8}", "[a-z_-]{0,8}").prop_map(|(k, v)| json!(format!("/labels/{k}{v}"))),
        1 => text().prop_map(Value::String),
        1 => json_value(),
    ];
    let operation = (op, path, prop::option::of(json_value())).prop_map(|(op, path, value)| {
        let mut o = Map::new();
        o.insert("op".into(), op);
        o.insert("path".into(), path);
        if let Some(v) = value {
            o.insert("value".into(), v);
        }
        Value::Object(o)
    });
    prop_oneof![
        9 => prop::collection::vec(operation, 0..6).prop_map(Value::Array),
        1 => json_value(),
    ]
}

fn stored(specs: &[FieldSpec]) -> Map<String, Value> {
    // A plausible current object: every patchable field at a valid value or absent.
    let mut current = Map::new();
    for spec in specs {
        let value = match spec.kind {
            fields::FieldKind::Dict => json!({"a": "1"}),
            fields::FieldKind::Int { min, .. } => json!(min),
            fields::FieldKind::Bool => json!(false),
            fields::FieldKind::Enum(options) => json!(options[0]),
            fields::FieldKind::PrintableName => json!("n1"),
            fields::FieldKind::String { .. } => json!("s"),
            _ => continue,
        };
        current.insert(spec.name.to_owned(), value);
    }
    current
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Validation never panics, and an accepted body is in normal form: validating the result
    /// again gives it back unchanged, in both modes.
    #[test]
    fn validate_body_accepts_only_normal_forms((i, body) in table_and_body()) {
        let (argument, specs) = tables()[i];
        for mode in [Mode::Create, Mode::Patch] {
            if let Ok(normal) = fields::validate_body(argument, specs, &body, mode) {
                let again = fields::validate_body(argument, specs, &Value::Object(normal.clone()), mode);
                prop_assert_eq!(again.as_ref().ok(), Some(&normal), "{:?}: {}", mode, body);
                for spec in specs.iter().filter(|s| normal.contains_key(s.name)) {
                    prop_assert!(mode == Mode::Patch || !normal[spec.name].is_null());
                }
            }
        }
    }

    /// Coercion never panics and is idempotent; its errors name the field.
    #[test]
    fn coerce_is_idempotent(i in 0..tables().len(), field in any::<prop::sample::Index>(), value in json_value()) {
        let specs = tables()[i].1;
        let spec = &specs[field.index(specs.len())];
        for mode in [Mode::Create, Mode::Patch] {
            match fields::coerce(spec, &value, mode) {
                Ok(normal) => {
                    let again = fields::coerce(spec, &normal, mode);
                    prop_assert_eq!(again.as_ref().ok(), Some(&normal), "{} {:?}: {}", spec.name, mode, value);
                }
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
        }
    }

    /// Patches never panic; applying one is all or nothing and composes: applying `a` then `b`
    /// is applying `a ++ b`, and a patch with one bad operation changes nothing at all.
    #[test]
    fn patch_application_is_all_or_nothing(i in 0..tables().len(), a in patch_doc(), b in patch_doc()) {
        let specs = tables()[i].1;
        let current = stored(specs);
        let _ = patch::parse(&a);
        let joined = match (&a, &b) {
            (Value::Array(x), Value::Array(y)) => Some(Value::Array(x.iter().chain(y).cloned().collect())),
            _ => None,
        };
        let first = patch::apply(specs, &current, &a);
        if let (Some(joined), Ok((after_a, _))) = (joined, &first) {
            let together = patch::apply(specs, &current, &joined).map(|(f, _)| f);
            let stepwise = patch::apply(specs, after_a, &b).map(|(f, _)| f);
            prop_assert_eq!(together.ok(), stepwise.ok());
        }
        if let Ok((fields, changed)) = first {
            // Only the reported fields changed, and only patchable ones.
            for spec in specs {
                let before = current.get(spec.name).unwrap_or(&Value::Null);
                let after = fields.get(spec.name).unwrap_or(&Value::Null);
                prop_assert_eq!(before != after, changed.contains(&spec.name));
                if before != after {
                    prop_assert!(spec.is_patchable(), "{} changed", spec.name);
                }
            }
            // A bad operation appended spoils the whole patch.
            if let Value::Array(mut ops) = a.clone() {
                ops.push(json!({"op": "replace", "path": "/uuid", "value": "x"}));
                prop_assert!(patch::apply(specs, &current, &Value::Array(ops)).is_err());
            }
        }
    }

    /// Manifests of any text never panic; an accepted one has the route's kind and a name, and
    /// parsing its JSON form again gives the same manifest.
    #[test]
    fn manifest_parse_never_panics(text in prop_oneof![
        any::<String>(),
        json_value().prop_map(|v| v.to_string()),
        (json_value(), "[a-z][a-z0-9-]{0,10}").prop_map(|(spec, name)| json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": spec.clone()},
            "spec": spec}).to_string()),
        ("[a-z][a-z0-9-]{0,10}", text()).prop_map(|(name, junk)| format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  labels: {{a: {junk:?}}}\nspec: {{}}\n")),
        Just("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[".repeat(50)),
        Just("a: &a [*a, *a]\nb: &b [*a, *a, *a]\nc: [*b, *b, *b, *b]\n".to_owned()),
    ]) {
        for kind in [WorkloadKind::Pod, WorkloadKind::Service, WorkloadKind::ReplicationController] {
            if let Ok(m) = manifest::parse(&text, kind, 512 * 1024) {
                prop_assert_eq!(m.kind, kind);
                prop_assert!(!m.name.is_empty());
                let again = manifest::parse(&m.object.to_string(), kind, 512 * 1024);
                prop_assert_eq!(again.ok(), Some(m));
            }
        }
        prop_assert!(manifest::parse(&text, WorkloadKind::Pod, 3).is_err() || text.len() <= 3);
    }
}
