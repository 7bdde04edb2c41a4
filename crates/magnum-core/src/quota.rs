//! Quotas: a project's limit on how many bays it may hold (spec/rest-api.md §4.6).

use crate::error::ValidationError;
use crate::fields::{self, FieldKind, FieldSpec, Flags, Mode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The one resource quotas limit.
pub const CLUSTER: &str = "Cluster";

const W: Flags = Flags::WRITABLE;
const RO: Flags = Flags::READ_ONLY;

/// The fields of a quota.
pub static QUOTA_FIELDS: &[FieldSpec] = &[
    FieldSpec::new("id", FieldKind::Opaque, RO),
    FieldSpec::new(
        "project_id",
        FieldKind::String { min: 1, max: 255 },
        Flags::MANDATORY,
    ),
    FieldSpec::new("resource", FieldKind::Enum(&[CLUSTER]), W),
    FieldSpec::new(
        "hard_limit",
        FieldKind::Int {
            min: 0,
            max: i32::MAX as i64,
        },
        W,
    ),
    FieldSpec::new("created_at", FieldKind::Opaque, RO),
    FieldSpec::new("updated_at", FieldKind::Opaque, RO),
];

/// Columns a quota list may sort by.
pub const SORT_KEYS: &[&str] = &["id", "project_id", "resource", "hard_limit", "created_at"];

/// One quota (the `Quota` object). A project without a row for a resource has the configured
/// default, shown with `id` null.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quota {
    /// Database id; `None` for a default not stored.
    #[serde(default)]
    pub id: Option<i64>,
    /// The project limited.
    pub project_id: String,
    /// `Cluster`.
    pub resource: String,
    /// How many it may hold.
    pub hard_limit: i32,
    /// Created.
    #[serde(default, with = "crate::time::option")]
    pub created_at: Option<DateTime<Utc>>,
    /// Last changed.
    #[serde(default, with = "crate::time::option")]
    pub updated_at: Option<DateTime<Utc>>,
}

impl Quota {
    /// A `POST /v1/quotas` body: `project_id` (mandatory), `resource` (`Cluster`), `hard_limit`
    /// (default 1).
    pub fn from_create_body(body: &Value) -> Result<Self, ValidationError> {
        let f = fields::validate_body("quota", QUOTA_FIELDS, body, Mode::Create)?;
        Ok(Quota {
            id: None,
            project_id: f
                .get("project_id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            resource: f
                .get("resource")
                .and_then(Value::as_str)
                .unwrap_or(CLUSTER)
                .to_owned(),
            hard_limit: f
                .get("hard_limit")
                .and_then(Value::as_i64)
                .and_then(|n| i32::try_from(n).ok())
                .unwrap_or(1),
            created_at: None,
            updated_at: None,
        })
    }

    /// A `PATCH /v1/quotas/<project>/<resource>` body, a plain object: `hard_limit`, and
    /// `project_id` and `resource` only if they repeat the path's.
    pub fn limit_from_update_body(
        body: &Value,
        project_id: &str,
        resource: &str,
    ) -> Result<i32, ValidationError> {
        let f =
            fields::validate_body("quota", QUOTA_FIELDS, body, Mode::Create).or_else(
                |e| match e {
                    // project_id may be left out of an update.
                    ValidationError::Missing { .. } => {
                        let mut with_project = body.clone();
                        if let Value::Object(map) = &mut with_project {
                            map.insert("project_id".into(), Value::String(project_id.to_owned()));
                        }
                        fields::validate_body("quota", QUOTA_FIELDS, &with_project, Mode::Create)
                    }
                    other => Err(other),
                },
            )?;
        for (key, path) in [("project_id", project_id), ("resource", resource)] {
            if let Some(given) = f.get(key).and_then(Value::as_str)
                && given != path
            {
                return Err(ValidationError::invalid(
                    key,
                    &Value::String(given.to_owned()),
                    format!("It must match the path's {path}."),
                ));
            }
        }
        f.get("hard_limit")
            .and_then(Value::as_i64)
            .and_then(|n| i32::try_from(n).ok())
            .ok_or(ValidationError::Missing {
                field: "hard_limit".into(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn create_bodies_default_and_check() {
        let q = Quota::from_create_body(&json!({"project_id": "p"})).unwrap();
        assert_eq!((q.resource.as_str(), q.hard_limit), ("Cluster", 1));
        assert!(Quota::from_create_body(&json!({"project_id": "p", "hard_limit": -1})).is_err());
        assert!(Quota::from_create_body(&json!({"project_id": "p", "resource": "Pod"})).is_err());
        assert!(Quota::from_create_body(&json!({"hard_limit": 3})).is_err());
        assert!(Quota::from_create_body(&json!({"project_id": "p", "id": 3})).is_err());
    }

    #[test]
    fn update_bodies_must_match_the_path() {
        let limit = |b: Value| Quota::limit_from_update_body(&b, "p", "Cluster");
        assert_eq!(limit(json!({"hard_limit": 5})).unwrap(), 5);
        assert_eq!(
            limit(json!({"hard_limit": "7", "project_id": "p", "resource": "Cluster"})).unwrap(),
            7
        );
        assert!(limit(json!({"hard_limit": 5, "project_id": "q"})).is_err());
        assert!(limit(json!({"project_id": "p"})).is_err());
    }
}
