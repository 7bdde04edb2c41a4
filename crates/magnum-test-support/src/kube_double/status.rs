//! Kubernetes `Status` errors with the codes, reasons and message shapes of a real API server.

use serde_json::{Value, json};

/// The resource a request addresses: API group (empty for core), version and plural name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Resource {
    /// API group; empty for the core group served under `/api/v1`.
    pub(crate) group: String,
    /// API version (`v1`).
    pub(crate) version: String,
    /// Plural resource name (`networkpolicies`).
    pub(crate) plural: String,
}

impl Resource {
    /// Parses `v1/nodes` or `networking.k8s.io/v1/networkpolicies`.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let (api_version, plural) = text.trim_matches('/').rsplit_once('/')?;
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        (!plural.is_empty() && !version.is_empty()).then(|| Resource {
            group: group.to_owned(),
            version: version.to_owned(),
            plural: plural.to_owned(),
        })
    }

    /// The `apiVersion` of its objects (`v1`, `networking.k8s.io/v1`).
    pub(crate) fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The group-qualified resource as error messages spell it (`networkpolicies.networking.k8s.io`).
    pub(crate) fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }
}

/// A failed request, rendered as a `Status` object.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiStatus {
    /// HTTP status code.
    pub(crate) code: u16,
    /// Machine-readable reason (`NotFound`, `AlreadyExists`, `Conflict`, …).
    pub(crate) reason: &'static str,
    /// Human-readable message.
    pub(crate) message: String,
    /// `details.name` and `details.kind`, when the failure concerns one object.
    pub(crate) details: Option<(String, String)>,
}

impl ApiStatus {
    fn new(code: u16, reason: &'static str, message: String) -> Self {
        ApiStatus {
            code,
            reason,
            message,
            details: None,
        }
    }

    fn about(mut self, resource: &Resource, name: &str) -> Self {
        self.details = Some((name.to_owned(), resource.plural.clone()));
        self
    }

    /// 404: `pods "x" not found`.
    pub(crate) fn not_found(resource: &Resource, name: &str) -> Self {
        let message = format!("{} \"{name}\" not found", resource.qualified());
        Self::new(404, "NotFound", message).about(resource, name)
    }

    /// 404 for a URL that names no resource.
    pub(crate) fn no_route() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource".into(),
        )
    }

    /// 409 on create: `namespaces "x" already exists`.
    pub(crate) fn already_exists(resource: &Resource, name: &str) -> Self {
        let message = format!("{} \"{name}\" already exists", resource.qualified());
        Self::new(409, "AlreadyExists", message).about(resource, name)
    }

    /// 409 on a stale `resourceVersion` or a failed precondition.
    pub(crate) fn conflict(resource: &Resource, name: &str, why: &str) -> Self {
        let message = format!(
            "Operation cannot be fulfilled on {} \"{name}\": {why}",
            resource.qualified()
        );
        Self::new(409, "Conflict", message).about(resource, name)
    }

    /// The usual conflict message for a stale `resourceVersion`.
    pub(crate) fn stale(resource: &Resource, name: &str) -> Self {
        Self::conflict(
            resource,
            name,
            "the object has been modified; please apply your changes to the latest version and \
             try again",
        )
    }

    /// 403 with a full message.
    pub(crate) fn forbidden(resource: &Resource, name: &str, message: String) -> Self {
        Self::new(403, "Forbidden", message).about(resource, name)
    }

    /// 400.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message.into())
    }

    /// 422: `Pod "x" is invalid: <field>: <why>`.
    pub(crate) fn invalid(kind: &str, resource: &Resource, name: &str, why: &str) -> Self {
        let message = format!("{kind} \"{name}\" is invalid: {why}");
        Self::new(422, "Invalid", message).about(resource, name)
    }

    /// 405.
    pub(crate) fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, "MethodNotAllowed", message.into())
    }

    /// 415.
    pub(crate) fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {content_type:?})"
            ),
        )
    }

    /// The `Status` object.
    pub(crate) fn to_json(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some((name, kind)) = &self.details {
            status["details"] = json!({"name": name, "kind": kind});
        }
        status
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_parse_and_qualify() {
        let np = Resource::parse("networking.k8s.io/v1/networkpolicies").expect("parses");
        assert_eq!(np.api_version(), "networking.k8s.io/v1");
        assert_eq!(np.qualified(), "networkpolicies.networking.k8s.io");
        let ns = Resource::parse("v1/namespaces").expect("parses");
        assert_eq!((ns.group.as_str(), ns.api_version()), ("", "v1".to_owned()));
        assert_eq!(
            ApiStatus::not_found(&ns, "x").message,
            "namespaces \"x\" not found"
        );
        assert!(Resource::parse("nodes").is_none());
    }
}
