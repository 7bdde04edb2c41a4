//! Versioned object primitives, as oslo.versionedobjects puts them on the wire (spec/rpc.md §5).

use crate::failure::RemoteFailure;
use crate::version::Version;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

/// Namespace of every Magnum object.
pub const NAMESPACE: &str = "magnum";

/// A Rust type that travels as a Magnum object.
pub trait VersionedObject: Serialize + DeserializeOwned {
    /// Object name, e.g. `BayModel`.
    const NAME: &'static str;
    /// Version this build writes.
    const VERSION: Version;
}

/// A decoded primitive: the object's fields plus its name, version and changed fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Primitive<T> {
    /// The object's fields.
    pub data: T,
    /// Fields changed since load (update intent), empty when none.
    pub changes: Vec<String>,
}

impl<T: VersionedObject> Primitive<T> {
    /// Wraps an object with no pending changes.
    pub fn new(data: T) -> Self {
        Primitive {
            data,
            changes: Vec::new(),
        }
    }

    /// Encodes as `{"magnum_object.name": …, "magnum_object.data": …}`.
    pub fn to_value(&self) -> Value {
        let mut out = Map::new();
        out.insert("magnum_object.name".into(), json!(T::NAME));
        out.insert("magnum_object.namespace".into(), json!(NAMESPACE));
        out.insert(
            "magnum_object.version".into(),
            json!(T::VERSION.to_string()),
        );
        out.insert(
            "magnum_object.data".into(),
            serde_json::to_value(&self.data).unwrap_or_default(),
        );
        if !self.changes.is_empty() {
            out.insert("magnum_object.changes".into(), json!(self.changes));
        }
        Value::Object(out)
    }

    /// Decodes a primitive of this object at a version of the same major, minor ≤ ours.
    pub fn from_value(value: &Value) -> Result<Self, RemoteFailure> {
        let name = value.get("magnum_object.name").and_then(Value::as_str);
        if name != Some(T::NAME) {
            return Err(RemoteFailure::unsupported_object(name.unwrap_or("<none>")));
        }
        let version = value
            .get("magnum_object.version")
            .and_then(Value::as_str)
            .unwrap_or("");
        match version.parse::<Version>() {
            Ok(v) if v.major == T::VERSION.major && v.minor <= T::VERSION.minor => {}
            _ => {
                return Err(RemoteFailure::incompatible_object(
                    T::NAME,
                    version,
                    &T::VERSION.to_string(),
                ));
            }
        }
        // Deserialized from the borrowed value: a list reply holds up to `max_limit` objects,
        // and copying each one first was a large share of the API's CPU (doc/benchmarks.md).
        let data = T::deserialize(value.get("magnum_object.data").unwrap_or(&Value::Null))
            .map_err(|e| RemoteFailure::type_error(format!("bad {} primitive: {e}", T::NAME)))?;
        let changes = value
            .get("magnum_object.changes")
            .and_then(Value::as_array)
            .map(|c| {
                c.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Primitive { data, changes })
    }
}
