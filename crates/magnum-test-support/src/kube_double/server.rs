//! The double's HTTP front: routes Kubernetes API URLs to the [`Store`] and answers as
//! kube-apiserver does (status codes, `Status` bodies, discovery documents, `/version`).

use super::selector::{FieldSelector, LabelSelector};
use super::status::{ApiStatus, Resource};
use super::store::{GIT_VERSION, PatchKind, Store};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// How long after its namespace the `default` ServiceAccount appears (the namespace controller's
/// lag on a real cluster).
pub(crate) const DEFAULT_ACCOUNT_LAG: Duration = Duration::from_millis(100);

/// State shared by the HTTP handlers and the test's handle.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    store: Mutex<Store>,
}

impl Shared {
    /// The store, even if a panicking test poisoned the lock.
    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        self.store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The router serving every URL.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

/// What a URL names.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Version,
    CoreVersions,
    Groups,
    Resources { group: String, version: String },
    Target(Target),
}

#[derive(Debug, PartialEq, Eq)]
struct Target {
    resource: Resource,
    namespace: Option<String>,
    name: Option<String>,
    subresource: Option<String>,
}

fn parse_route(path: &str) -> Option<Route> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (group, version, rest) = match segments.as_slice() {
        ["version"] => return Some(Route::Version),
        ["api"] => return Some(Route::CoreVersions),
        ["apis"] => return Some(Route::Groups),
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return None,
    };
    let resource = |plural: &str| Resource {
        group: group.to_owned(),
        version: version.to_owned(),
        plural: plural.to_owned(),
    };
    let target = |plural: &str, namespace: Option<&str>, tail: &[&str]| {
        let (name, subresource) = match tail {
            [] => (None, None),
            [name] => (Some(*name), None),
            [name, sub] => (Some(*name), Some(*sub)),
            _ => return None,
        };
        Some(Route::Target(Target {
            resource: resource(plural),
            namespace: namespace.map(str::to_owned),
            name: name.map(str::to_owned),
            subresource: subresource.map(str::to_owned),
        }))
    };
    match rest {
        [] => Some(Route::Resources {
            group: group.to_owned(),
            version: version.to_owned(),
        }),
        ["namespaces", _, "status" | "finalize"] => target("namespaces", None, &rest[1..]),
        ["namespaces", ns, plural, tail @ ..] => target(plural, Some(ns), tail),
        [plural, tail @ ..] => target(plural, None, tail),
    }
}

fn json_response(code: u16, body: &Value) -> Response {
    let code = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let latency = shared.store().latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, 64 << 20).await {
        Ok(body) => body,
        Err(e) => return json_response(400, &ApiStatus::bad_request(e.to_string()).to_json()),
    };
    let query: HashMap<String, String> = axum::extract::Query::try_from_uri(&parts.uri)
        .map(|q| q.0)
        .unwrap_or_default();
    match serve(
        &shared,
        &parts.method,
        parts.uri.path(),
        &parts.headers,
        &query,
        &body,
    ) {
        Ok((code, value)) => json_response(code, &value),
        Err(status) => json_response(status.code, &status.to_json()),
    }
}

fn serve(
    shared: &Arc<Shared>,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
    body: &Bytes,
) -> Result<(u16, Value), ApiStatus> {
    let route = parse_route(path).ok_or_else(ApiStatus::no_route)?;
    if *method != Method::GET && !matches!(route, Route::Target(_)) {
        return Err(ApiStatus::method_not_allowed(
            "the server does not allow this method",
        ));
    }
    let target = match route {
        Route::Version => return Ok((200, version())),
        Route::CoreVersions => {
            return Ok((200, json!({"kind": "APIVersions", "versions": ["v1"]})));
        }
        Route::Groups => return Ok((200, groups(&shared.store()))),
        Route::Resources { group, version } => {
            return Ok((200, resources(&shared.store(), &group, &version)));
        }
        Route::Target(target) => target,
    };
    let Target {
        resource,
        namespace,
        name,
        subresource,
    } = target;
    let ns = namespace.as_deref();
    let verb = match (method.as_str(), name.is_some()) {
        ("GET", false) => "list",
        ("GET", true) => "get",
        ("POST", false) => "create",
        ("PUT", true) => "update",
        ("PATCH", true) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => {
            return Err(ApiStatus::method_not_allowed(
                "the server does not allow this method",
            ));
        }
    };
    let name = name.unwrap_or_default();
    let mut store = shared.store();
    store.check_scope(&resource, ns, verb == "list" || verb == "deletecollection")?;
    if store.denied.contains(&resource.plural) {
        return Err(forbidden(&resource, ns, &name, verb));
    }
    if subresource.as_deref().is_some_and(|s| s != "status") {
        return Err(ApiStatus::no_route());
    }
    let selectors = || -> Result<(LabelSelector, FieldSelector), ApiStatus> {
        let labels = LabelSelector::parse(query.get("labelSelector").map_or("", String::as_str))
            .map_err(ApiStatus::bad_request)?;
        let fields = FieldSelector::parse(query.get("fieldSelector").map_or("", String::as_str))
            .map_err(ApiStatus::bad_request)?;
        Ok((labels, fields))
    };
    let parse_body = || -> Result<Value, ApiStatus> {
        serde_json::from_slice(body).map_err(|e| {
            ApiStatus::bad_request(format!("the body of the request could not be decoded: {e}"))
        })
    };
    match verb {
        "list" => {
            if query.get("watch").is_some_and(|w| w == "true" || w == "1") {
                return Err(ApiStatus::method_not_allowed(
                    "the Kubernetes API double does not serve watches",
                ));
            }
            let (labels, fields) = selectors()?;
            let limit = match query.get("limit") {
                Some(l) => Some(
                    l.parse::<usize>()
                        .map_err(|_| ApiStatus::bad_request(format!("invalid limit {l:?}")))?,
                ),
                None => None,
            };
            let token = query.get("continue").map(String::as_str);
            store
                .list(&resource, ns, &labels, &fields, limit, token)
                .map(|v| (200, v))
        }
        "get" => store.get(&resource, ns, &name).map(|v| (200, v)),
        "create" => {
            let created = store.create(&resource, ns, parse_body()?)?;
            drop(store);
            after_create(shared, &resource, &created);
            Ok((201, created))
        }
        "update" => store
            .replace(&resource, ns, &name, parse_body()?, subresource.as_deref())
            .map(|v| (200, v)),
        "patch" => {
            let content_type = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            let kind = match content_type.split(';').next().unwrap_or_default().trim() {
                "application/merge-patch+json" | "application/strategic-merge-patch+json" => {
                    PatchKind::Merge
                }
                "application/json-patch+json" => PatchKind::Json,
                "application/apply-patch+yaml" | "application/apply-patch+cbor" => PatchKind::Apply,
                other => return Err(ApiStatus::unsupported_media_type(other)),
            };
            if kind == PatchKind::Apply && query.get("fieldManager").is_none_or(String::is_empty) {
                return Err(ApiStatus::bad_request(
                    "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is \
                     required for apply patch",
                ));
            }
            let patch = parse_body()?;
            if kind != PatchKind::Json && !patch.is_object() {
                return Err(ApiStatus::bad_request("the patch is not a JSON object"));
            }
            let (object, created) =
                store.patch(&resource, ns, &name, kind, &patch, subresource.as_deref())?;
            drop(store);
            if created {
                after_create(shared, &resource, &object);
                return Ok((201, object));
            }
            Ok((200, object))
        }
        "delete" => {
            let options = if body.is_empty() {
                Value::Null
            } else {
                parse_body()?
            };
            let deleted = store.delete(&resource, ns, &name, &options)?;
            let delay = store.namespace_finalize_delay;
            drop(store);
            if deleted.finalize_later {
                let shared = Arc::clone(shared);
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    shared.store().finalize_namespace(&name);
                });
            }
            Ok((200, deleted.object))
        }
        _ => {
            let (labels, fields) = selectors()?;
            store
                .delete_collection(&resource, ns, &labels, &fields)
                .map(|v| (200, v))
        }
    }
}

/// The namespace controller's follow-up: a new namespace gets its `default` ServiceAccount a
/// moment later, so a pod created at once fails as on a real cluster.
fn after_create(shared: &Arc<Shared>, resource: &Resource, created: &Value) {
    if resource.group.is_empty() && resource.plural == "namespaces" {
        let Some(name) = created.pointer("/metadata/name").and_then(Value::as_str) else {
            return;
        };
        let (shared, name) = (Arc::clone(shared), name.to_owned());
        tokio::spawn(async move {
            tokio::time::sleep(DEFAULT_ACCOUNT_LAG).await;
            shared.store().add_default_service_account(&name);
        });
    }
}

/// The RBAC authorizer's refusal, worded as kube-apiserver words it.
fn forbidden(resource: &Resource, namespace: Option<&str>, name: &str, verb: &str) -> ApiStatus {
    let user = "system:serviceaccount:magnum:magnum-conductor";
    let object = if name.is_empty() {
        resource.qualified()
    } else {
        format!("{} \"{name}\"", resource.qualified())
    };
    let scope = match namespace {
        Some(ns) => format!("in the namespace \"{ns}\""),
        None => "at the cluster scope".to_owned(),
    };
    ApiStatus::forbidden(
        resource,
        name,
        format!(
            "{object} is forbidden: User \"{user}\" cannot {verb} resource \"{}\" in API group \
             \"{}\" {scope}",
            resource.plural, resource.group
        ),
    )
}

fn version() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "gitVersion": GIT_VERSION,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-04-23T00:00:00Z",
        "goVersion": "go1.24.2",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

fn groups(store: &Store) -> Value {
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (resource, _, _) in store.resources() {
        if !resource.group.is_empty() {
            let versions = groups.entry(resource.group.clone()).or_default();
            if !versions.contains(&resource.version) {
                versions.push(resource.version.clone());
            }
        }
    }
    let groups: Vec<Value> = groups
        .into_iter()
        .map(|(name, versions)| {
            let listed: Vec<Value> = versions
                .iter()
                .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
                .collect();
            let preferred = listed.first().cloned().unwrap_or(Value::Null);
            json!({"name": name, "versions": listed, "preferredVersion": preferred})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

fn resources(store: &Store, group: &str, version: &str) -> Value {
    let listed: Vec<Value> = store
        .resources()
        .into_iter()
        .filter(|(r, _, _)| r.group == group && r.version == version)
        .map(|(r, kind, namespaced)| {
            json!({
                "name": r.plural,
                "singularName": kind.to_lowercase(),
                "namespaced": namespaced,
                "kind": kind,
                "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update"],
            })
        })
        .collect();
    let group_version = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": listed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(path: &str) -> Target {
        match parse_route(path) {
            Some(Route::Target(t)) => t,
            other => panic!("{path} routes to {other:?}"),
        }
    }

    #[test]
    fn urls_route_to_namespaced_and_cluster_scoped_targets() {
        let t = target("/apis/networking.k8s.io/v1/namespaces/ns/networkpolicies/np");
        assert_eq!(t.resource.qualified(), "networkpolicies.networking.k8s.io");
        assert_eq!(
            (t.namespace.as_deref(), t.name.as_deref()),
            (Some("ns"), Some("np"))
        );
        let t = target("/api/v1/namespaces");
        assert_eq!(
            (t.resource.plural.as_str(), t.namespace, t.name),
            ("namespaces", None, None)
        );
        let t = target("/api/v1/namespaces/ns");
        assert_eq!(
            (t.resource.plural.as_str(), t.name.as_deref()),
            ("namespaces", Some("ns"))
        );
        let t = target("/api/v1/namespaces/ns/status");
        assert_eq!(
            (t.name.as_deref(), t.subresource.as_deref()),
            (Some("ns"), Some("status"))
        );
        let t = target("/api/v1/namespaces/ns/pods");
        assert_eq!(
            (t.resource.plural.as_str(), t.namespace.as_deref()),
            ("pods", Some("ns"))
        );
        let t = target("/api/v1/nodes/n1/status");
        assert_eq!(
            (t.name.as_deref(), t.subresource.as_deref()),
            (Some("n1"), Some("status"))
        );
        assert_eq!(parse_route("/version"), Some(Route::Version));
        assert_eq!(parse_route("/healthz"), None);
        assert_eq!(parse_route("/api/v1/nodes/a/b/c"), None);
    }
}
