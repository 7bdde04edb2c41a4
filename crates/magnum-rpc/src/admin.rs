//! Conductor services, quotas and stats on the wire (spec/rpc.md §7.1): the `MagnumService`,
//! `Quota` and `Stats` objects and the class and object actions magnum-api calls on them.

use crate::failure::{RemoteFailure, RpcError};
use crate::methods::{Method, object_versions};
use crate::object::{Primitive, VersionedObject};
use crate::version::Version;
use magnum_core::quota::Quota;
use magnum_core::service::{MagnumService, Stats};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

impl VersionedObject for MagnumService {
    const NAME: &'static str = "MagnumService";
    const VERSION: Version = Version::new(1, 0);
}

impl VersionedObject for Quota {
    const NAME: &'static str = "Quota";
    const VERSION: Version = Version::new(1, 0);
}

impl VersionedObject for Stats {
    const NAME: &'static str = "Stats";
    const VERSION: Version = Version::new(1, 0);
}

fn class_action(objname: &str, objmethod: &str, args: &[Value]) -> Value {
    json!({"objname": objname, "objmethod": objmethod, "object_versions": object_versions(),
           "args": args, "kwargs": {}})
}

fn object_action(objinst: &Value, objmethod: &str) -> Value {
    json!({"objinst": objinst, "objmethod": objmethod, "args": [], "kwargs": {}})
}

fn decode_primitive<T: VersionedObject>(result: &Value) -> Result<T, RpcError> {
    Primitive::<T>::from_value(result)
        .map(|p| p.data)
        .map_err(|f| RpcError::BadReply(f.message))
}

/// Reads the `updates` of an `object_action` reply (`[updates, result]`) as an object.
fn decode_updates<T: serde::de::DeserializeOwned>(result: Value) -> Result<T, RpcError> {
    let Value::Array(mut pair) = result else {
        return Err(RpcError::BadReply("expected [updates, result]".into()));
    };
    let Some(Value::Object(mut updates)) = pair.drain(..).next() else {
        return Err(RpcError::BadReply("expected [updates, result]".into()));
    };
    updates.remove("obj_what_changed");
    serde_json::from_value(Value::Object(updates)).map_err(|e| RpcError::BadReply(e.to_string()))
}

/// The `[updates, null]` reply of an `object_action`: the object's fields and what changed.
pub fn action_reply(primitive: &Value, changed: &[&str]) -> Value {
    let mut updates = match primitive.get("magnum_object.data") {
        Some(Value::Object(fields)) => fields.clone(),
        _ => Map::new(),
    };
    updates.insert("obj_what_changed".into(), json!(changed));
    json!([updates, null])
}

/// `Stats.get_cluster_stats`: bays and nodes of one project, or of all (`None`).
#[derive(Debug, Clone)]
pub struct GetClusterStats {
    /// The project; `None`: every project.
    pub project_id: Option<String>,
}

impl Method for GetClusterStats {
    const NAME: &'static str = "object_class_action_versions";
    const SINCE: Version = Version::new(1, 0);
    type Reply = Stats;
    fn args(&self) -> Value {
        let args: Vec<Value> = self.project_id.iter().map(|p| json!(p)).collect();
        class_action(Stats::NAME, "get_cluster_stats", &args)
    }
    fn decode_reply(result: Value) -> Result<Stats, RpcError> {
        decode_primitive(&result)
    }
}

/// `Quota.get_quota_by_project_id_resource`: the project's quota, or the default (`id` null).
#[derive(Debug, Clone)]
pub struct GetQuota {
    /// The project.
    pub project_id: String,
    /// The resource (`Cluster`).
    pub resource: String,
}

impl Method for GetQuota {
    const NAME: &'static str = "object_class_action_versions";
    const SINCE: Version = Version::new(1, 0);
    type Reply = Quota;
    fn args(&self) -> Value {
        class_action(
            Quota::NAME,
            "get_quota_by_project_id_resource",
            &[json!(self.project_id), json!(self.resource)],
        )
    }
    fn decode_reply(result: Value) -> Result<Quota, RpcError> {
        decode_primitive(&result)
    }
}

/// `Quota.update_quota(project_id, {"resource", "hard_limit"})`: changes a stored quota.
#[derive(Debug, Clone)]
pub struct UpdateQuota {
    /// The project.
    pub project_id: String,
    /// The resource.
    pub resource: String,
    /// The new limit.
    pub hard_limit: i32,
}

impl Method for UpdateQuota {
    const NAME: &'static str = "object_class_action_versions";
    const SINCE: Version = Version::new(1, 0);
    type Reply = Quota;
    fn args(&self) -> Value {
        class_action(
            Quota::NAME,
            "update_quota",
            &[
                json!(self.project_id),
                json!({"resource": self.resource, "hard_limit": self.hard_limit}),
            ],
        )
    }
    fn decode_reply(result: Value) -> Result<Quota, RpcError> {
        decode_primitive(&result)
    }
}

/// `object_action` `create` on a Quota: stores it (an existing one is a conflict).
#[derive(Debug, Clone)]
pub struct CreateQuota {
    /// The quota.
    pub quota: Quota,
}

impl Method for CreateQuota {
    const NAME: &'static str = "object_action";
    const SINCE: Version = Version::new(1, 0);
    type Reply = Quota;
    fn args(&self) -> Value {
        object_action(&Primitive::new(self.quota.clone()).to_value(), "create")
    }
    fn decode_reply(result: Value) -> Result<Quota, RpcError> {
        decode_updates(result)
    }
}

/// The fields a Quota delete names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaKey {
    /// The project.
    pub project_id: String,
    /// The resource.
    pub resource: String,
}

impl VersionedObject for QuotaKey {
    const NAME: &'static str = "Quota";
    const VERSION: Version = Version::new(1, 0);
}

/// `object_action` `delete` on a Quota.
#[derive(Debug, Clone)]
pub struct DeleteQuota {
    /// Which quota.
    pub key: QuotaKey,
}

impl Method for DeleteQuota {
    const NAME: &'static str = "object_action";
    const SINCE: Version = Version::new(1, 0);
    type Reply = ();
    fn args(&self) -> Value {
        object_action(&Primitive::new(self.key.clone()).to_value(), "delete")
    }
    fn decode_reply(_: Value) -> Result<(), RpcError> {
        Ok(())
    }
}

/// A decoded call on services, quotas or stats (part of [`crate::Call`]).
#[derive(Debug, Clone, PartialEq)]
pub enum AdminCall {
    /// [`GetClusterStats`].
    ClusterStats {
        /// The project, or every one.
        project_id: Option<String>,
    },
    /// [`GetQuota`].
    GetQuota(QuotaKey),
    /// [`UpdateQuota`].
    UpdateQuota {
        /// Which quota.
        key: QuotaKey,
        /// The new limit.
        hard_limit: i32,
    },
    /// [`CreateQuota`].
    CreateQuota(Quota),
    /// [`DeleteQuota`].
    DeleteQuota(QuotaKey),
}

fn text(value: Option<&Value>, what: &str) -> Result<String, RemoteFailure> {
    value
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| RemoteFailure::type_error(format!("{what}: expected a string")))
}

/// Decodes an `object_class_action` on `Stats` or `Quota` that is not a generic read; `None` if
/// it is not one of these.
pub(crate) fn decode_class_call(
    objname: &str,
    objmethod: &str,
    args: &[Value],
) -> Option<Result<AdminCall, RemoteFailure>> {
    let call = match (objname, objmethod) {
        ("Stats", "get_cluster_stats") => match args {
            [] | [Value::Null] => Ok(AdminCall::ClusterStats { project_id: None }),
            [project] => text(Some(project), objmethod).map(|p| AdminCall::ClusterStats {
                project_id: Some(p),
            }),
            _ => Err(RemoteFailure::type_error(
                "get_cluster_stats() takes at most 1 argument",
            )),
        },
        ("Quota", "get_quota_by_project_id_resource") => match args {
            [project, resource] => Ok(AdminCall::GetQuota(QuotaKey {
                project_id: match text(Some(project), objmethod) {
                    Ok(p) => p,
                    Err(e) => return Some(Err(e)),
                },
                resource: match text(Some(resource), objmethod) {
                    Ok(r) => r,
                    Err(e) => return Some(Err(e)),
                },
            })),
            _ => Err(RemoteFailure::type_error(
                "get_quota_by_project_id_resource() takes 2 arguments",
            )),
        },
        ("Quota", "update_quota") => match args {
            [project, values] => (|| {
                let project_id = text(Some(project), objmethod)?;
                let resource = text(values.get("resource"), objmethod)?;
                let hard_limit = values
                    .get("hard_limit")
                    .and_then(Value::as_i64)
                    .and_then(|n| i32::try_from(n).ok())
                    .ok_or_else(|| {
                        RemoteFailure::type_error("update_quota(): hard_limit must be an integer")
                    })?;
                Ok(AdminCall::UpdateQuota {
                    key: QuotaKey {
                        project_id,
                        resource,
                    },
                    hard_limit,
                })
            })(),
            _ => Err(RemoteFailure::type_error(
                "update_quota() takes 2 arguments",
            )),
        },
        _ => return None,
    };
    Some(call)
}

/// Decodes an `object_action` on a Quota (`create`, `delete`); `None` if it is not one.
pub(crate) fn decode_object_action(
    objinst: &Value,
    objmethod: &str,
) -> Option<Result<AdminCall, RemoteFailure>> {
    if objinst.get("magnum_object.name").and_then(Value::as_str) != Some("Quota") {
        return None;
    }
    Some(match objmethod {
        "create" => Primitive::<Quota>::from_value(objinst).map(|p| AdminCall::CreateQuota(p.data)),
        "delete" => {
            Primitive::<QuotaKey>::from_value(objinst).map(|p| AdminCall::DeleteQuota(p.data))
        }
        other => Err(RemoteFailure::typed(
            "NotSupported",
            400,
            format!("Quota.{other} is not supported."),
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(m: &impl Method) -> (String, String, Vec<Value>) {
        let a = m.args();
        (
            a["objname"].as_str().unwrap_or_default().to_owned(),
            a["objmethod"].as_str().unwrap_or_default().to_owned(),
            a["args"].as_array().cloned().unwrap_or_default(),
        )
    }

    #[test]
    fn class_calls_decode_back() {
        let (o, m, a) = class(&GetClusterStats {
            project_id: Some("p".into()),
        });
        assert_eq!(
            decode_class_call(&o, &m, &a),
            Some(Ok(AdminCall::ClusterStats {
                project_id: Some("p".into())
            }))
        );
        let (o, m, a) = class(&UpdateQuota {
            project_id: "p".into(),
            resource: "Cluster".into(),
            hard_limit: 4,
        });
        assert!(matches!(
            decode_class_call(&o, &m, &a),
            Some(Ok(AdminCall::UpdateQuota { hard_limit: 4, .. }))
        ));
        let (o, m, a) = class(&GetQuota {
            project_id: "p".into(),
            resource: "Cluster".into(),
        });
        assert!(matches!(
            decode_class_call(&o, &m, &a),
            Some(Ok(AdminCall::GetQuota(_)))
        ));
        assert!(decode_class_call("Bay", "get_cluster_stats", &[]).is_none());
    }

    #[test]
    fn object_actions_decode_back() {
        let create = CreateQuota {
            quota: Quota {
                id: None,
                project_id: "p".into(),
                resource: "Cluster".into(),
                hard_limit: 2,
                created_at: None,
                updated_at: None,
            },
        };
        let a = create.args();
        assert!(matches!(
            decode_object_action(&a["objinst"], "create"),
            Some(Ok(AdminCall::CreateQuota(q))) if q.hard_limit == 2
        ));
        let delete = DeleteQuota {
            key: QuotaKey {
                project_id: "p".into(),
                resource: "Cluster".into(),
            },
        };
        let a = delete.args();
        assert!(matches!(
            decode_object_action(&a["objinst"], "delete"),
            Some(Ok(AdminCall::DeleteQuota(_)))
        ));
        assert!(decode_object_action(&json!({"magnum_object.name": "Bay"}), "create").is_none());
    }
}
