//! Versioned object primitives, as oslo.versionedobjects puts them on the wire (spec/rpc.md §5).

use crate::failure::RemoteFailure;
use crate::version::Version;
use serde::de::DeserializeOwned;
use serde::ser::{Error as _, SerializeMap};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use std::borrow::Cow;

/// Namespace of every Magnum object.
pub const NAMESPACE: &str = "magnum";

/// A Rust type that travels as a Magnum object.
pub trait VersionedObject: Serialize + DeserializeOwned {
    /// Object name, e.g. `BayModel`.
    const NAME: &'static str;
    /// Version this build writes.
    const VERSION: Version;

    /// Serializes the fields as one JSON object with its keys in sorted order: the bytes
    /// `serde_json::to_value(self)` serializes to. This default builds that `Value`; hot types
    /// write their fields directly (and a test pins the bytes to the default's).
    fn serialize_sorted<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serde_json::to_value(self)
            .map_err(S::Error::custom)?
            .serialize(s)
    }
}

/// JSON text of `value` (serde_json's own writer: no second pass to validate it).
fn raw_json(value: &impl Serialize) -> Box<RawValue> {
    serde_json::value::to_raw_value(value).unwrap_or_else(|_| RawValue::NULL.to_owned())
}

/// Serializes a primitive with its keys in sorted order, the layout of [`Primitive::to_value`].
struct Wire<'a, T>(&'a Primitive<T>);

struct SortedData<'a, T>(&'a T);

impl<T: VersionedObject> Serialize for SortedData<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize_sorted(s)
    }
}

impl<T: VersionedObject> Serialize for Wire<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let changes = !self.0.changes.is_empty();
        let mut map = s.serialize_map(Some(4 + usize::from(changes)))?;
        if changes {
            map.serialize_entry("magnum_object.changes", &self.0.changes)?;
        }
        map.serialize_entry("magnum_object.data", &SortedData(&self.0.data))?;
        map.serialize_entry("magnum_object.name", T::NAME)?;
        map.serialize_entry("magnum_object.namespace", NAMESPACE)?;
        map.serialize_entry("magnum_object.version", &T::VERSION.to_string())?;
        map.end()
    }
}

/// A primitive as read from JSON text in one pass: `data` is read straight into `T` (our writer
/// puts it before the name and version, so those are checked afterwards).
#[derive(Deserialize)]
#[serde(bound(deserialize = "T: DeserializeOwned"))]
struct PrimitiveIn<'a, T> {
    #[serde(rename = "magnum_object.name", borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(rename = "magnum_object.version", borrow)]
    version: Option<Cow<'a, str>>,
    #[serde(rename = "magnum_object.data")]
    data: Option<T>,
    #[serde(rename = "magnum_object.changes", borrow)]
    changes: Option<&'a RawValue>,
}

impl<T: VersionedObject> PrimitiveIn<'_, T> {
    /// The primitive if it is one `from_value` accepts; `None` leaves the verdict to it.
    fn accept(self) -> Option<Primitive<T>> {
        if self.name.as_deref() != Some(T::NAME) {
            return None;
        }
        match self.version.as_deref()?.parse::<Version>() {
            Ok(v) if v.major == T::VERSION.major && v.minor <= T::VERSION.minor => {}
            _ => return None,
        }
        let changes = match self.changes {
            None => Vec::new(),
            Some(raw) => match serde_json::from_str::<Value>(raw.get()).ok()? {
                Value::Array(c) => c
                    .into_iter()
                    .filter_map(|v| match v {
                        Value::String(s) => Some(s),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            },
        };
        Some(Primitive {
            data: self.data?,
            changes,
        })
    }
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

    /// Encodes as JSON text: the bytes [`Primitive::to_value`] serializes to, written without
    /// building the tree (a list reply holds up to `max_limit` objects).
    pub fn to_json(&self) -> Box<RawValue> {
        raw_json(&Wire(self))
    }

    /// [`Primitive::to_json`] for a page of objects: one JSON array.
    pub fn list_to_json(items: &[Primitive<T>]) -> Box<RawValue> {
        let wires: Vec<Wire<'_, T>> = items.iter().map(Wire).collect();
        raw_json(&wires)
    }

    /// [`Primitive::from_value`] reading JSON text straight into `T`, without a `Value` tree.
    /// Anything the direct read does not take (a malformed primitive) is decoded through
    /// `from_value`, so outcomes and messages are the same.
    pub fn from_json(text: &str) -> Result<Self, RemoteFailure> {
        match Self::from_json_direct(text) {
            Some(primitive) => Ok(primitive),
            None => {
                let value: Value = serde_json::from_str(text).map_err(|e| {
                    RemoteFailure::type_error(format!("bad {} primitive: {e}", T::NAME))
                })?;
                Self::from_value(&value)
            }
        }
    }

    fn from_json_direct(text: &str) -> Option<Self> {
        serde_json::from_str::<PrimitiveIn<'_, T>>(text)
            .ok()?
            .accept()
    }

    /// A JSON array of primitives read in one pass; `None` when any item is not one that
    /// [`Primitive::from_value`] accepts (the caller then takes the `Value` path for the verdict).
    pub fn list_from_json(text: &str) -> Option<Vec<Self>> {
        serde_json::from_str::<Vec<PrimitiveIn<'_, T>>>(text)
            .ok()?
            .into_iter()
            .map(PrimitiveIn::accept)
            .collect()
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
