//! The request context that rides every message as oslo's `_context_*` keys (spec/rpc.md §3.1).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// Who asks, and the request id that ties the HTTP request to the conductor's logs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RequestContext {
    /// `req-<uuid>`, the HTTP `x-openstack-request-id`.
    pub request_id: String,
    /// The caller's inbound request id, if it sent one.
    pub global_request_id: Option<String>,
    /// Keystone user id.
    pub user_id: Option<String>,
    /// Keystone user name.
    pub user_name: Option<String>,
    /// Keystone project id: the tenant every object is scoped to.
    pub project_id: Option<String>,
    /// Keystone project name.
    pub project_name: Option<String>,
    /// The user's domain id.
    pub user_domain_id: Option<String>,
    /// The user's domain name.
    pub user_domain_name: Option<String>,
    /// Lowercase role names.
    pub roles: Vec<String>,
    /// Whether policy `context_is_admin` passed.
    pub is_admin: bool,
    /// Whether an admin asked to see every project.
    pub all_tenants: bool,
    /// Keystone URL, informational.
    pub auth_url: Option<String>,
    /// The `_unique_id` of the message that carried this context, set by the server for its
    /// handlers (calls that must run once record it); never a context key on the wire.
    #[serde(skip)]
    pub message_id: Option<String>,
}

impl RequestContext {
    /// Writes the 19 context keys of spec/rpc.md §3.1 into an inner message.
    pub fn write_into(&self, inner: &mut Map<String, Value>) {
        let keys = [
            ("request_id", json!(self.request_id)),
            ("global_request_id", json!(self.global_request_id)),
            ("user_id", json!(self.user_id)),
            ("user_name", json!(self.user_name)),
            ("project_id", json!(self.project_id)),
            ("project_name", json!(self.project_name)),
            ("user_domain_id", json!(self.user_domain_id)),
            ("user_domain_name", json!(self.user_domain_name)),
            // Liberty's names for the user's domain.
            ("domain_id", json!(self.user_domain_id)),
            ("domain_name", json!(self.user_domain_name)),
            ("roles", json!(self.roles)),
            ("is_admin", json!(self.is_admin)),
            ("all_tenants", json!(self.all_tenants)),
            ("read_only", json!(false)),
            ("show_deleted", json!(false)),
            ("auth_url", json!(self.auth_url)),
            // The conductor never acts as the user elsewhere, so no token travels.
            ("auth_token", Value::Null),
            ("auth_token_info", Value::Null),
            ("trust_id", Value::Null),
        ];
        for (key, value) in keys {
            inner.insert(format!("_context_{key}"), value);
        }
    }

    /// Reads the `_context_*` keys of an inner message; missing keys default, unknown ones
    /// (modern Python sends more) are ignored, as are values of the wrong type.
    pub fn read_from(inner: &Map<String, Value>) -> Self {
        let mut fields = Map::new();
        for (key, value) in inner {
            if let Some(name) = key.strip_prefix("_context_") {
                fields.insert(name.to_owned(), value.clone());
            }
        }
        let mut ctx: RequestContext = serde_json::from_value(Value::Object(fields.clone()))
            .unwrap_or_else(|_| RequestContext::lenient(&fields));
        if ctx.user_domain_id.is_none() {
            ctx.user_domain_id = string(&fields, "domain_id");
        }
        if ctx.user_domain_name.is_none() {
            ctx.user_domain_name = string(&fields, "domain_name");
        }
        for role in &mut ctx.roles {
            *role = role.to_lowercase();
        }
        ctx
    }

    fn lenient(fields: &Map<String, Value>) -> Self {
        RequestContext {
            request_id: string(fields, "request_id").unwrap_or_default(),
            global_request_id: string(fields, "global_request_id"),
            user_id: string(fields, "user_id"),
            user_name: string(fields, "user_name"),
            project_id: string(fields, "project_id"),
            project_name: string(fields, "project_name"),
            user_domain_id: string(fields, "user_domain_id"),
            user_domain_name: string(fields, "user_domain_name"),
            roles: fields
                .get("roles")
                .and_then(Value::as_array)
                .map(|r| {
                    r.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            is_admin: fields
                .get("is_admin")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            all_tenants: fields
                .get("all_tenants")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            auth_url: string(fields, "auth_url"),
            message_id: None,
        }
    }

    /// Whether this caller sees every project's objects.
    pub fn sees_all_projects(&self) -> bool {
        self.is_admin && self.all_tenants
    }
}

fn string(fields: &Map<String, Value>, key: &str) -> Option<String> {
    fields.get(key).and_then(Value::as_str).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_round_trips_and_python_extras_are_ignored() {
        let ctx = RequestContext {
            request_id: "req-1".into(),
            user_id: Some("u".into()),
            project_id: Some("p".into()),
            user_domain_id: Some("default".into()),
            roles: vec!["member".into()],
            ..RequestContext::default()
        };
        let mut inner = Map::new();
        ctx.write_into(&mut inner);
        assert_eq!(inner.len(), 19);
        assert_eq!(inner["_context_domain_id"], "default");
        inner.insert("_context_system_scope".into(), json!("all"));
        inner.insert("_context_is_admin".into(), json!("yes")); // wrong type: tolerated
        let back = RequestContext::read_from(&inner);
        assert_eq!(back.project_id.as_deref(), Some("p"));
        assert_eq!(back.roles, ["member"]);
        assert!(!back.is_admin);
    }
}
