//! Tenant manifests of Kubernetes objects (pods, services, replication controllers;
//! spec/rest-api.md §3.4): parsing JSON or YAML text into one checked object, and reading back
//! what the API shows of it (name, labels, images, selector, ports, replicas). Pure functions on
//! text already in memory: fetching a `manifest_url` is the API's business.
//!
//! [`parse`] refuses, each as a [`ValidationError`] (HTTP 400): text over the size cap, blank
//! text (`'manifest' can't be empty`), bad JSON or YAML, several YAML documents, anything but a
//! mapping, an `apiVersion` other than `v1`, another `kind` than the route's, a missing or invalid
//! `metadata.name` (pods and RCs: DNS-1123 subdomain ≤ 253; services: DNS-1035 label ≤ 63; never
//! a UUID nor `detail`), a foreign `metadata.namespace`, labels that are not strings, a pod without
//! container images, a service without ports, an RC without selector, template labels, template
//! images, or with a selector its template labels do not match, and `spec.replicas` that is not an
//! integer ≥ 0. What Kubernetes alone can judge (resource syntax, port ranges, …) is left to it:
//! its refusals reach the client with their own status code.

use crate::error::{ValidationError, render_value};
use crate::ident::parse_hyphenated_uuid;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;

/// The field refusals name.
const FIELD: &str = "manifest";

/// The message for a blank or missing manifest (spec/rest-api.md §3.4).
pub const EMPTY_MESSAGE: &str = "'manifest' can't be empty";

/// The one namespace a manifest may name besides the bay's own: 2015 Magnum created every object
/// in `default`, so its users' manifests may say so; the object still lands in the bay's.
pub const LEGACY_NAMESPACE: &str = "default";

/// The kinds of Kubernetes object Magnum manages, one per route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum WorkloadKind {
    /// `/v1/pods`, kind `Pod`.
    Pod,
    /// `/v1/services`, kind `Service`.
    Service,
    /// `/v1/rcs`, kind `ReplicationController`.
    ReplicationController,
}

impl WorkloadKind {
    /// Every kind, in route order.
    pub const ALL: [WorkloadKind; 3] = [
        WorkloadKind::Pod,
        WorkloadKind::Service,
        WorkloadKind::ReplicationController,
    ];

    /// The Kubernetes `kind` (`Pod`, `Service`, `ReplicationController`), also the RPC object
    /// name and the `<Kind>` of `<Kind> <ident> could not be found.`.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Pod => "Pod",
            WorkloadKind::Service => "Service",
            WorkloadKind::ReplicationController => "ReplicationController",
        }
    }

    /// The collection of the REST route and response key: `pods`, `services`, `rcs`.
    pub fn route(self) -> &'static str {
        match self {
            WorkloadKind::Pod => "pods",
            WorkloadKind::Service => "services",
            WorkloadKind::ReplicationController => "rcs",
        }
    }

    /// The policy prefix and RPC method prefix: `pod`, `service`, `rc` (`pod:create`,
    /// `rc_update`).
    pub fn singular(self) -> &'static str {
        match self {
            WorkloadKind::Pod => "pod",
            WorkloadKind::Service => "service",
            WorkloadKind::ReplicationController => "rc",
        }
    }

    /// The Kubernetes resource (plural) of the kind, as in its API path:
    /// `pods`, `services`, `replicationcontrollers`.
    pub fn resource(self) -> &'static str {
        match self {
            WorkloadKind::Pod => "pods",
            WorkloadKind::Service => "services",
            WorkloadKind::ReplicationController => "replicationcontrollers",
        }
    }

    /// The kind of a Kubernetes `kind` string ([`WorkloadKind::as_str`]).
    pub fn from_kind(kind: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == kind)
    }

    /// The kind of a route collection ([`WorkloadKind::route`]).
    pub fn from_route(route: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.route() == route)
    }
}

impl fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One checked tenant manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The object's kind, the one the route expects.
    pub kind: WorkloadKind,
    /// `metadata.name`, valid for the kind.
    pub name: String,
    /// The labels the API shows: `metadata.labels` for pods and services, the template's
    /// `spec.template.metadata.labels` for RCs (as Magnum did); empty when absent.
    pub labels: BTreeMap<String, String>,
    /// The whole object as JSON, as the tenant wrote it (YAML converted to JSON).
    pub object: Value,
}

/// Parses a tenant manifest for the route of `expected`: JSON when its first non-blank character
/// is `{`, else one YAML document. See the module documentation for every refusal.
pub fn parse(
    text: &str,
    expected: WorkloadKind,
    max_size: usize,
) -> Result<Manifest, ValidationError> {
    if text.len() > max_size {
        return Err(invalid(
            format!("{} bytes", text.len()),
            format!("The manifest is larger than the limit of {max_size} bytes."),
        ));
    }
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return Err(ValidationError::Other(EMPTY_MESSAGE.to_owned()));
    }
    let object: Value = if trimmed.starts_with('{') {
        serde_json::from_str(text).map_err(|e| {
            invalid(
                excerpt(text),
                format!("Error parsing manifest as JSON: {e}."),
            )
        })?
    } else {
        parse_yaml(text)?
    };
    check(object, expected)
}

fn parse_yaml(text: &str) -> Result<Value, ValidationError> {
    let mut options = serde_saphyr::Options::default();
    // One line per message: the client shows it verbatim.
    options.with_snippet = false;
    match serde_saphyr::from_str_with_options::<Value>(text, options) {
        Ok(value) => Ok(value),
        Err(serde_saphyr::Error::MultipleDocuments { .. }) => Err(invalid(
            excerpt(text),
            "The manifest must hold one YAML document, not several.",
        )),
        Err(e) => Err(invalid(
            excerpt(text),
            format!(
                "Error parsing manifest as YAML: {}.",
                e.to_string()
                    // Advice to this program's author, not to the tenant.
                    .replace(", set DuplicateKeyPolicy in Options if acceptable", "")
                    .trim_end_matches('.')
            ),
        )),
    }
}

/// The checks of a parsed object (see the module documentation).
fn check(object: Value, expected: WorkloadKind) -> Result<Manifest, ValidationError> {
    let Value::Object(map) = &object else {
        if object.is_null() {
            return Err(ValidationError::Other(EMPTY_MESSAGE.to_owned()));
        }
        return Err(invalid(
            render_short(&object),
            "The manifest must be a mapping (a JSON object).",
        ));
    };
    match map.get("apiVersion") {
        Some(Value::String(v)) if v == "v1" => {}
        other => {
            return Err(invalid(
                render_short(other.unwrap_or(&Value::Null)),
                "The manifest's apiVersion must be v1.",
            ));
        }
    }
    match map.get("kind") {
        Some(Value::String(k)) if k == expected.as_str() => {}
        other => {
            return Err(invalid(
                render_short(other.unwrap_or(&Value::Null)),
                format!(
                    "The manifest's kind must be {expected} for /v1/{}.",
                    expected.route()
                ),
            ));
        }
    }
    let metadata = match map.get("metadata") {
        Some(Value::Object(m)) => m,
        None | Some(Value::Null) => {
            return Err(invalid("None", "metadata.name is required."));
        }
        Some(other) => {
            return Err(invalid(render_short(other), "metadata must be a mapping."));
        }
    };
    let name = check_name(metadata.get("name"), expected)?;
    check_namespace_value(metadata.get("namespace"))?;
    let metadata_labels = string_map(metadata.get("labels"), "metadata.labels")?;
    let spec = match map.get("spec") {
        Some(Value::Object(s)) => Some(s),
        None | Some(Value::Null) => None,
        Some(other) => {
            return Err(invalid(render_short(other), "spec must be a mapping."));
        }
    };
    let labels = match expected {
        WorkloadKind::Pod => {
            check_containers(spec, "spec")?;
            metadata_labels.unwrap_or_default()
        }
        WorkloadKind::Service => {
            check_ports(spec)?;
            string_map(spec.and_then(|s| s.get("selector")), "spec.selector")?;
            metadata_labels.unwrap_or_default()
        }
        WorkloadKind::ReplicationController => check_rc(spec)?,
    };
    Ok(Manifest {
        kind: expected,
        name,
        labels,
        object,
    })
}

fn check_name(name: Option<&Value>, kind: WorkloadKind) -> Result<String, ValidationError> {
    let name = match name {
        None | Some(Value::Null) => {
            return Err(invalid("None", "metadata.name is required."));
        }
        Some(Value::String(name)) if !name.is_empty() => name,
        Some(other) => {
            return Err(invalid(
                render_short(other),
                "metadata.name must be a non-empty string.",
            ));
        }
    };
    let valid = match kind {
        WorkloadKind::Service => is_dns1035_label(name),
        WorkloadKind::Pod | WorkloadKind::ReplicationController => is_dns1123_subdomain(name),
    };
    if !valid {
        let rule = match kind {
            WorkloadKind::Service => {
                "metadata.name must be a DNS-1035 label: at most 63 lowercase letters, digits \
                 and '-', starting with a letter and ending with a letter or digit."
            }
            WorkloadKind::Pod | WorkloadKind::ReplicationController => {
                "metadata.name must be a DNS-1123 subdomain: at most 253 lowercase letters, \
                 digits, '-' and '.', each dot-separated part starting and ending with a letter \
                 or digit."
            }
        };
        return Err(invalid(name.clone(), rule));
    }
    if name == "detail" || parse_hyphenated_uuid(name).is_some() {
        return Err(invalid(
            name.clone(),
            "metadata.name may not be a UUID nor 'detail'.",
        ));
    }
    Ok(name.clone())
}

/// A namespace the manifest may name before the bay is known: none, the legacy `default`, or
/// one shaped as a bay's (`magnum-<uuid>`, compared with the bay's by [`check_namespace`]).
fn check_namespace_value(namespace: Option<&Value>) -> Result<(), ValidationError> {
    match namespace {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(ns))
            if ns.is_empty()
                || ns == LEGACY_NAMESPACE
                || ns
                    .strip_prefix("magnum-")
                    .is_some_and(|u| parse_hyphenated_uuid(u).is_some()) =>
        {
            Ok(())
        }
        Some(other) => Err(foreign_namespace(other)),
    }
}

fn foreign_namespace(namespace: &Value) -> ValidationError {
    invalid(
        render_short(namespace),
        "metadata.namespace must be left out: objects are created in the bay's namespace.",
    )
}

/// A map of strings to strings at `what`; `None` when absent or null.
fn string_map(
    value: Option<&Value>,
    what: &str,
) -> Result<Option<BTreeMap<String, String>>, ValidationError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                other => Err(invalid(
                    format!("{k}: {}", render_short(other)),
                    format!("{what} must map strings to strings (quote the value)."),
                )),
            })
            .collect::<Result<BTreeMap<_, _>, _>>()
            .map(Some),
        Some(other) => Err(invalid(
            render_short(other),
            format!("{what} must map strings to strings."),
        )),
    }
}

/// `<at>.containers` must list containers, each with a non-empty string `image`.
fn check_containers(spec: Option<&Map<String, Value>>, at: &str) -> Result<(), ValidationError> {
    let containers = spec
        .and_then(|s| s.get("containers"))
        .and_then(Value::as_array)
        .filter(|c| !c.is_empty());
    let Some(containers) = containers else {
        return Err(invalid(
            render_short(
                spec.and_then(|s| s.get("containers"))
                    .unwrap_or(&Value::Null),
            ),
            format!("{at}.containers must list at least one container with an image."),
        ));
    };
    for (i, container) in containers.iter().enumerate() {
        match container.get("image") {
            Some(Value::String(image)) if !image.trim().is_empty() => {}
            other => {
                return Err(invalid(
                    render_short(other.unwrap_or(&Value::Null)),
                    format!("{at}.containers[{i}].image is required."),
                ));
            }
        }
    }
    Ok(())
}

fn check_ports(spec: Option<&Map<String, Value>>) -> Result<(), ValidationError> {
    let ports = spec.and_then(|s| s.get("ports"));
    match ports.and_then(Value::as_array) {
        Some(list) if !list.is_empty() && list.iter().all(Value::is_object) => Ok(()),
        _ => Err(invalid(
            render_short(ports.unwrap_or(&Value::Null)),
            "spec.ports must list at least one port.",
        )),
    }
}

/// An RC's checks; returns its template labels.
fn check_rc(
    spec: Option<&Map<String, Value>>,
) -> Result<BTreeMap<String, String>, ValidationError> {
    let selector = string_map(spec.and_then(|s| s.get("selector")), "spec.selector")?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid("None", "spec.selector is required."))?;
    let template = spec.and_then(|s| s.get("template"));
    let labels = string_map(
        template.and_then(|t| t.pointer("/metadata/labels")),
        "spec.template.metadata.labels",
    )?
    .filter(|l| !l.is_empty())
    .ok_or_else(|| invalid("None", "spec.template.metadata.labels is required."))?;
    if selector.iter().any(|(k, v)| labels.get(k) != Some(v)) {
        return Err(invalid(
            render_short(&serde_json::json!(selector)),
            "spec.selector does not match the template's labels.",
        ));
    }
    check_containers(
        template
            .and_then(|t| t.get("spec"))
            .and_then(Value::as_object),
        "spec.template.spec",
    )?;
    if let Some(value) = spec.and_then(|s| s.get("replicas")) {
        replicas_value(value)?;
    }
    Ok(labels)
}

fn replicas_value(value: &Value) -> Result<i32, ValidationError> {
    match value {
        Value::Null => Ok(1),
        Value::Number(n) => n
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .filter(|n| *n >= 0)
            .ok_or_else(|| bad_replicas(value)),
        other => Err(bad_replicas(other)),
    }
}

fn bad_replicas(value: &Value) -> ValidationError {
    invalid(
        render_short(value),
        format!("spec.replicas must be an integer from 0 to {}.", i32::MAX),
    )
}

/// The container images: `spec.containers[*].image` of a pod, the template's of an RC; none for
/// a service.
pub fn images(manifest: &Manifest) -> Vec<String> {
    let pointer = match manifest.kind {
        WorkloadKind::Pod => "/spec/containers",
        WorkloadKind::ReplicationController => "/spec/template/spec/containers",
        WorkloadKind::Service => return Vec::new(),
    };
    manifest
        .object
        .pointer(pointer)
        .and_then(Value::as_array)
        .map(|containers| {
            containers
                .iter()
                .filter_map(|c| c.get("image").and_then(Value::as_str))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// An RC's `spec.replicas` (1 when absent); `None` for pods and services.
pub fn replicas(manifest: &Manifest) -> Option<i32> {
    match manifest.kind {
        WorkloadKind::ReplicationController => Some(
            manifest
                .object
                .pointer("/spec/replicas")
                .and_then(|v| replicas_value(v).ok())
                .unwrap_or(1),
        ),
        WorkloadKind::Pod | WorkloadKind::Service => None,
    }
}

/// `spec.selector` of a service or an RC (the API shows only a service's); `None` when absent
/// and for pods.
pub fn selector(manifest: &Manifest) -> Option<BTreeMap<String, String>> {
    match manifest.kind {
        WorkloadKind::Pod => None,
        WorkloadKind::Service | WorkloadKind::ReplicationController => {
            string_map(manifest.object.pointer("/spec/selector"), "spec.selector")
                .ok()
                .flatten()
        }
    }
}

/// A service's `spec.ports` as written; `None` for pods and RCs.
pub fn ports(manifest: &Manifest) -> Option<Value> {
    match manifest.kind {
        WorkloadKind::Service => manifest.object.pointer("/spec/ports").cloned(),
        WorkloadKind::Pod | WorkloadKind::ReplicationController => None,
    }
}

/// The manifest's `metadata.namespace`, if it names one (empty counts as none).
pub fn namespace(manifest: &Manifest) -> Option<&str> {
    manifest
        .object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .filter(|ns| !ns.is_empty())
}

/// Refuses a manifest naming a namespace other than the bay's (`bay_namespace`) or the legacy
/// [`LEGACY_NAMESPACE`]: a 400 before anything is sent to Kubernetes.
pub fn check_namespace(manifest: &Manifest, bay_namespace: &str) -> Result<(), ValidationError> {
    match namespace(manifest) {
        Some(ns) if ns != bay_namespace && ns != LEGACY_NAMESPACE => {
            Err(foreign_namespace(&Value::String(ns.to_owned())))
        }
        _ => Ok(()),
    }
}

/// Refuses a replacement manifest (PATCH of `/manifest` or `/manifest_url`) that renames the
/// object: `metadata.name` must stay `name` (the kind is fixed by the route already).
pub fn check_name_kept(manifest: &Manifest, name: &str) -> Result<(), ValidationError> {
    if manifest.name == name {
        Ok(())
    } else {
        Err(invalid(
            manifest.name.clone(),
            format!("metadata.name can not be changed: it is {name}."),
        ))
    }
}

/// Sets an RC's `spec.replicas` (PATCH of `/replicas`); refuses other kinds and values outside
/// `0..=i32::MAX`.
pub fn set_replicas(manifest: &mut Manifest, replicas: i64) -> Result<(), ValidationError> {
    let value = Value::from(replicas);
    if manifest.kind != WorkloadKind::ReplicationController {
        return Err(ValidationError::invalid(
            "replicas",
            &value,
            "Only replication controllers have replicas.",
        ));
    }
    let replicas = i32::try_from(replicas)
        .ok()
        .filter(|r| *r >= 0)
        .ok_or_else(|| {
            ValidationError::invalid(
                "replicas",
                &value,
                format!("It must be an integer from 0 to {}.", i32::MAX),
            )
        })?;
    match manifest.object.get_mut("spec") {
        Some(Value::Object(spec)) => {
            spec.insert("replicas".into(), Value::from(replicas));
        }
        // A checked RC always has a spec; keep the object well-formed regardless.
        _ => manifest.object["spec"] = serde_json::json!({"replicas": replicas}),
    }
    Ok(())
}

/// A DNS-1123 label (`[a-z0-9]([-a-z0-9]*[a-z0-9])?`, ≤ 63).
fn is_dns1123_label(text: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !text.is_empty()
        && text.len() <= 63
        && text.bytes().all(|b| alnum(b) || b == b'-')
        && text.bytes().next().is_some_and(alnum)
        && text.bytes().last().is_some_and(alnum)
}

/// A DNS-1123 subdomain: dot-separated DNS-1123 labels, ≤ 253 (pod and RC names).
pub fn is_dns1123_subdomain(text: &str) -> bool {
    !text.is_empty() && text.len() <= 253 && text.split('.').all(is_dns1123_label)
}

/// A DNS-1035 label: `[a-z]([-a-z0-9]*[a-z0-9])?`, ≤ 63 (service names).
pub fn is_dns1035_label(text: &str) -> bool {
    is_dns1123_label(text) && text.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
}

fn invalid(value: impl Into<String>, reason: impl Into<String>) -> ValidationError {
    ValidationError::Invalid {
        field: FIELD.to_owned(),
        value: value.into(),
        reason: reason.into(),
    }
}

/// At most this many characters of a value quoted in a message.
const EXCERPT: usize = 60;

/// The first non-blank line of the text, shortened.
fn excerpt(text: &str) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default();
    shorten(line)
}

/// A value as messages render it ([`render_value`]), shortened.
fn render_short(value: &Value) -> String {
    shorten(&render_value(value))
}

fn shorten(text: &str) -> String {
    if text.chars().count() <= EXCERPT {
        text.to_owned()
    } else {
        let mut short: String = text.chars().take(EXCERPT).collect();
        short.push('…');
        short
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const MAX: usize = 1 << 20;

    const POD_YAML: &str = "\
# a comment
apiVersion: v1
kind: Pod
metadata:
  name: redis-master
  labels:
    name: redis-master
spec:
  containers:
  - name: master
    image: redis:7
    ports:
    - containerPort: 6379
";

    const RC_YAML: &str = "\
apiVersion: v1
kind: ReplicationController
metadata:
  name: redis
  labels: {ignored: here}
spec:
  replicas: 2
  selector:
    name: redis
  template:
    metadata:
      labels:
        name: redis
        tier: cache
    spec:
      containers:
      - name: redis
        image: redis:7
      - name: sidecar
        image: busybox
";

    fn pod_json() -> Value {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]},
        })
    }

    fn service_json() -> Value {
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
        })
    }

    fn rc_json() -> Value {
        json!({
            "apiVersion": "v1", "kind": "ReplicationController",
            "metadata": {"name": "web"},
            "spec": {
                "selector": {"app": "web"},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]},
                },
            },
        })
    }

    fn parse_value(value: &Value, kind: WorkloadKind) -> Result<Manifest, ValidationError> {
        parse(&value.to_string(), kind, MAX)
    }

    /// The reason of an `Invalid` refusal of the manifest.
    fn reason(result: Result<Manifest, ValidationError>) -> String {
        match result {
            Err(ValidationError::Invalid { field, reason, .. }) => {
                assert_eq!(field, "manifest");
                reason
            }
            other => panic!("expected an invalid manifest, got {other:?}"),
        }
    }

    fn edited(mut value: Value, pointer: &str, new: Value) -> Value {
        *value.pointer_mut(pointer).expect("pointer exists") = new;
        value
    }

    fn without(mut value: Value, parent: &str, key: &str) -> Value {
        value
            .pointer_mut(parent)
            .and_then(Value::as_object_mut)
            .expect("parent is an object")
            .remove(key);
        value
    }

    #[test]
    fn kinds_name_their_routes_and_kubernetes_kinds() {
        for kind in WorkloadKind::ALL {
            assert_eq!(WorkloadKind::from_kind(kind.as_str()), Some(kind));
            assert_eq!(WorkloadKind::from_route(kind.route()), Some(kind));
        }
        assert_eq!(WorkloadKind::ReplicationController.route(), "rcs");
        assert_eq!(
            WorkloadKind::ReplicationController.resource(),
            "replicationcontrollers"
        );
        assert_eq!(WorkloadKind::Service.singular(), "service");
        assert_eq!(WorkloadKind::Pod.to_string(), "Pod");
        assert_eq!(WorkloadKind::from_kind("Deployment"), None);
        assert_eq!(
            serde_json::to_value(WorkloadKind::ReplicationController).expect("serializes"),
            json!("ReplicationController")
        );
    }

    #[test]
    fn a_json_pod_is_read_with_its_images_and_labels() {
        let text = format!("  \n{}", pod_json());
        let pod = parse(&text, WorkloadKind::Pod, MAX).expect("valid pod");
        assert_eq!(pod.kind, WorkloadKind::Pod);
        assert_eq!(pod.name, "web");
        assert_eq!(pod.labels, [("app".into(), "web".into())].into());
        assert_eq!(pod.object, pod_json());
        assert_eq!(images(&pod), ["nginx:1.27"]);
        assert_eq!(replicas(&pod), None);
        assert_eq!(selector(&pod), None);
        assert_eq!(ports(&pod), None);
    }

    #[test]
    fn a_yaml_pod_becomes_the_same_json() {
        let pod = parse(POD_YAML, WorkloadKind::Pod, MAX).expect("valid pod");
        assert_eq!(pod.name, "redis-master");
        assert_eq!(images(&pod), ["redis:7"]);
        assert_eq!(
            pod.object["spec"]["containers"][0]["ports"][0]["containerPort"],
            json!(6379),
            "numbers stay numbers"
        );
        let again = parse(&pod.object.to_string(), WorkloadKind::Pod, MAX).expect("as JSON");
        assert_eq!(again, pod);
    }

    #[test]
    fn a_service_shows_its_selector_and_ports_as_given() {
        let svc = parse_value(&service_json(), WorkloadKind::Service).expect("valid service");
        assert_eq!(svc.name, "web");
        assert_eq!(selector(&svc), Some([("app".into(), "web".into())].into()));
        assert_eq!(ports(&svc), Some(json!([{"port": 80, "targetPort": 8080}])));
        assert!(images(&svc).is_empty());
        let yaml = "apiVersion: v1\nkind: Service\nmetadata:\n  name: frontend\nspec:\n  \
                    type: NodePort\n  ports:\n  - port: 80\n    protocol: TCP\n";
        let svc = parse(yaml, WorkloadKind::Service, MAX).expect("valid service");
        assert_eq!(selector(&svc), None, "a selector is optional");
        assert_eq!(ports(&svc), Some(json!([{"port": 80, "protocol": "TCP"}])));
        assert!(svc.labels.is_empty());
    }

    #[test]
    fn an_rc_shows_template_labels_images_and_replicas() {
        let rc = parse(RC_YAML, WorkloadKind::ReplicationController, MAX).expect("valid rc");
        assert_eq!(rc.name, "redis");
        assert_eq!(
            rc.labels,
            [
                ("name".into(), "redis".into()),
                ("tier".into(), "cache".into())
            ]
            .into()
        );
        assert_eq!(images(&rc), ["redis:7", "busybox"]);
        assert_eq!(replicas(&rc), Some(2));
        assert_eq!(
            selector(&rc),
            Some([("name".into(), "redis".into())].into())
        );
        let rc = parse_value(&rc_json(), WorkloadKind::ReplicationController).expect("valid");
        assert_eq!(replicas(&rc), Some(1), "defaults to one");
        let zero = edited(rc_json(), "/spec", {
            let mut spec = rc_json()["spec"].clone();
            spec["replicas"] = json!(0);
            spec
        });
        let rc = parse_value(&zero, WorkloadKind::ReplicationController).expect("zero is fine");
        assert_eq!(replicas(&rc), Some(0));
    }

    #[test]
    fn blank_text_is_an_empty_manifest() {
        for text in ["", "   \n\t", "---\n", "# only a comment\n", "null"] {
            let err = parse(text, WorkloadKind::Pod, MAX).expect_err(text);
            assert_eq!(err.to_string(), "'manifest' can't be empty", "{text:?}");
        }
    }

    #[test]
    fn oversized_text_is_refused_before_parsing() {
        let text = pod_json().to_string();
        let err = parse(&text, WorkloadKind::Pod, 10).expect_err("too large");
        assert_eq!(
            err.to_string(),
            format!(
                "Invalid input for field/attribute manifest. Value: {} bytes. The manifest is \
                 larger than the limit of 10 bytes.",
                text.len()
            )
        );
        assert!(
            parse(&text, WorkloadKind::Pod, text.len()).is_ok(),
            "the cap is inclusive"
        );
    }

    #[test]
    fn syntax_errors_name_the_format() {
        let why = reason(parse("{\"apiVersion\": ", WorkloadKind::Pod, MAX));
        assert!(why.starts_with("Error parsing manifest as JSON: "), "{why}");
        let why = reason(parse(
            "apiVersion: v1\nkind: [Pod\n",
            WorkloadKind::Pod,
            MAX,
        ));
        assert!(why.starts_with("Error parsing manifest as YAML: "), "{why}");
        assert!(!why.contains('\n'), "one line: {why}");
        let why = reason(parse("a: 1\na: 2\n", WorkloadKind::Pod, MAX));
        assert_eq!(
            why,
            "Error parsing manifest as YAML: duplicate mapping key: a at line 2, column 1."
        );
        let two = format!("{POD_YAML}---\n{POD_YAML}");
        assert_eq!(
            reason(parse(&two, WorkloadKind::Pod, MAX)),
            "The manifest must hold one YAML document, not several."
        );
    }

    #[test]
    fn only_a_mapping_of_v1_and_the_routes_kind_is_accepted() {
        for text in ["[1, 2]", "just text", "42"] {
            assert_eq!(
                reason(parse(text, WorkloadKind::Pod, MAX)),
                "The manifest must be a mapping (a JSON object).",
                "{text}"
            );
        }
        let v2 = edited(pod_json(), "/apiVersion", json!("apps/v1"));
        let err = parse_value(&v2, WorkloadKind::Pod).expect_err("apps/v1");
        assert_eq!(
            err.to_string(),
            "Invalid input for field/attribute manifest. Value: apps/v1. The manifest's \
             apiVersion must be v1."
        );
        let no_version = without(pod_json(), "", "apiVersion");
        assert!(parse_value(&no_version, WorkloadKind::Pod).is_err());
        let err = parse_value(&pod_json(), WorkloadKind::Service).expect_err("a pod");
        assert_eq!(
            err.to_string(),
            "Invalid input for field/attribute manifest. Value: Pod. The manifest's kind must \
             be Service for /v1/services."
        );
        let no_kind = without(pod_json(), "", "kind");
        assert_eq!(
            reason(parse_value(&no_kind, WorkloadKind::Pod)),
            "The manifest's kind must be Pod for /v1/pods."
        );
    }

    #[test]
    fn names_are_required_and_valid_for_the_kind() {
        let nameless = without(pod_json(), "/metadata", "name");
        assert_eq!(
            reason(parse_value(&nameless, WorkloadKind::Pod)),
            "metadata.name is required."
        );
        let no_metadata = without(pod_json(), "", "metadata");
        assert_eq!(
            reason(parse_value(&no_metadata, WorkloadKind::Pod)),
            "metadata.name is required."
        );
        let longest = format!(
            "{}{}",
            format!("{}.", "a".repeat(63)).repeat(3),
            "a".repeat(61)
        );
        assert_eq!(longest.len(), 253);
        let numeric = edited(pod_json(), "/metadata/name", json!(7));
        assert!(reason(parse_value(&numeric, WorkloadKind::Pod)).contains("non-empty string"));
        let too_long = format!("a{longest}");
        for bad in [
            "Web",
            "web_1",
            "-web",
            "web.",
            "a..b",
            "a.-b",
            &"a".repeat(64),
            &too_long,
        ] {
            let pod = edited(pod_json(), "/metadata/name", json!(bad));
            assert!(
                reason(parse_value(&pod, WorkloadKind::Pod)).contains("DNS-1123 subdomain"),
                "{bad}"
            );
        }
        for good in ["web", "web-1.example", "1web", &longest] {
            let pod = edited(pod_json(), "/metadata/name", json!(good));
            assert!(parse_value(&pod, WorkloadKind::Pod).is_ok(), "{good}");
        }
        for bad in ["1web", "web.1", "Web", &"a".repeat(64)] {
            let svc = edited(service_json(), "/metadata/name", json!(bad));
            assert!(
                reason(parse_value(&svc, WorkloadKind::Service)).contains("DNS-1035 label"),
                "{bad}"
            );
        }
        let svc = edited(service_json(), "/metadata/name", json!("a".repeat(63)));
        assert!(parse_value(&svc, WorkloadKind::Service).is_ok());
        for reserved in ["detail", "0b6d7a3e-43f5-4bd5-9e43-47b11fa0cb2a"] {
            let rc = edited(rc_json(), "/metadata/name", json!(reserved));
            assert_eq!(
                reason(parse_value(&rc, WorkloadKind::ReplicationController)),
                "metadata.name may not be a UUID nor 'detail'.",
                "{reserved}"
            );
        }
    }

    #[test]
    fn a_foreign_namespace_is_refused() {
        for ok in ["", "default", "magnum-0b6d7a3e-43f5-4bd5-9e43-47b11fa0cb2a"] {
            let pod = edited(
                pod_json(),
                "/metadata",
                json!({"name": "web", "namespace": ok}),
            );
            assert!(parse_value(&pod, WorkloadKind::Pod).is_ok(), "{ok:?}");
        }
        for foreign in [json!("kube-system"), json!("magnum-x"), json!(3)] {
            let pod = edited(
                pod_json(),
                "/metadata",
                json!({"name": "web", "namespace": foreign}),
            );
            assert_eq!(
                reason(parse_value(&pod, WorkloadKind::Pod)),
                "metadata.namespace must be left out: objects are created in the bay's namespace.",
                "{foreign}"
            );
        }
        let mine = "magnum-0b6d7a3e-43f5-4bd5-9e43-47b11fa0cb2a";
        let other = "magnum-11111111-2222-3333-4444-555555555555";
        let pod = edited(
            pod_json(),
            "/metadata",
            json!({"name": "web", "namespace": other}),
        );
        let pod = parse_value(&pod, WorkloadKind::Pod).expect("bay-shaped");
        assert_eq!(namespace(&pod), Some(other));
        assert!(check_namespace(&pod, mine).is_err());
        assert!(check_namespace(&pod, other).is_ok());
        let plain = parse_value(&pod_json(), WorkloadKind::Pod).expect("valid");
        assert!(check_namespace(&plain, mine).is_ok());
    }

    #[test]
    fn labels_must_be_strings() {
        let pod = edited(pod_json(), "/metadata/labels", json!({"version": 1}));
        let err = parse_value(&pod, WorkloadKind::Pod).expect_err("a number");
        assert_eq!(
            err.to_string(),
            "Invalid input for field/attribute manifest. Value: version: 1. metadata.labels \
             must map strings to strings (quote the value)."
        );
        let pod = edited(pod_json(), "/metadata/labels", json!(["a"]));
        assert!(parse_value(&pod, WorkloadKind::Pod).is_err());
        let pod = edited(pod_json(), "/metadata/labels", Value::Null);
        let pod = parse_value(&pod, WorkloadKind::Pod).expect("null labels");
        assert!(pod.labels.is_empty());
    }

    #[test]
    fn pods_need_containers_with_images() {
        let none = edited(pod_json(), "/spec/containers", json!([]));
        assert_eq!(
            reason(parse_value(&none, WorkloadKind::Pod)),
            "spec.containers must list at least one container with an image."
        );
        let no_spec = without(pod_json(), "", "spec");
        assert!(parse_value(&no_spec, WorkloadKind::Pod).is_err());
        let imageless = edited(
            pod_json(),
            "/spec/containers",
            json!([{"name": "a", "image": "x"}, {"name": "b"}]),
        );
        assert_eq!(
            reason(parse_value(&imageless, WorkloadKind::Pod)),
            "spec.containers[1].image is required."
        );
        let blank = edited(pod_json(), "/spec/containers/0/image", json!(" "));
        assert!(parse_value(&blank, WorkloadKind::Pod).is_err());
        let bad_spec = edited(pod_json(), "/spec", json!("x"));
        assert_eq!(
            reason(parse_value(&bad_spec, WorkloadKind::Pod)),
            "spec must be a mapping."
        );
    }

    #[test]
    fn services_need_ports() {
        for ports in [Value::Null, json!([]), json!(80), json!([80])] {
            let svc = edited(service_json(), "/spec/ports", ports.clone());
            assert_eq!(
                reason(parse_value(&svc, WorkloadKind::Service)),
                "spec.ports must list at least one port.",
                "{ports}"
            );
        }
        let svc = edited(service_json(), "/spec/selector", json!({"app": true}));
        assert!(reason(parse_value(&svc, WorkloadKind::Service)).starts_with("spec.selector"));
    }

    #[test]
    fn rcs_need_selector_template_labels_images_and_sane_replicas() {
        let rc = without(rc_json(), "/spec", "selector");
        assert_eq!(
            reason(parse_value(&rc, WorkloadKind::ReplicationController)),
            "spec.selector is required."
        );
        let rc = edited(rc_json(), "/spec/selector", json!({}));
        assert_eq!(
            reason(parse_value(&rc, WorkloadKind::ReplicationController)),
            "spec.selector is required."
        );
        let rc = without(rc_json(), "/spec/template/metadata", "labels");
        assert_eq!(
            reason(parse_value(&rc, WorkloadKind::ReplicationController)),
            "spec.template.metadata.labels is required."
        );
        let rc = edited(rc_json(), "/spec/selector", json!({"app": "other"}));
        assert_eq!(
            reason(parse_value(&rc, WorkloadKind::ReplicationController)),
            "spec.selector does not match the template's labels."
        );
        let rc = edited(
            rc_json(),
            "/spec/template/spec/containers",
            json!([{"name": "c"}]),
        );
        assert_eq!(
            reason(parse_value(&rc, WorkloadKind::ReplicationController)),
            "spec.template.spec.containers[0].image is required."
        );
        let rc = without(rc_json(), "/spec", "template");
        assert!(parse_value(&rc, WorkloadKind::ReplicationController).is_err());
        for bad in [json!(-1), json!(1.5), json!("3"), json!(1_u64 << 40)] {
            let mut rc = rc_json();
            rc["spec"]["replicas"] = bad.clone();
            assert!(
                reason(parse_value(&rc, WorkloadKind::ReplicationController))
                    .starts_with("spec.replicas must be an integer from 0"),
                "{bad}"
            );
        }
    }

    #[test]
    fn replicas_can_be_set_on_rcs_only() {
        let mut rc = parse_value(&rc_json(), WorkloadKind::ReplicationController).expect("rc");
        set_replicas(&mut rc, 5).expect("valid count");
        assert_eq!(replicas(&rc), Some(5));
        assert_eq!(rc.object["spec"]["replicas"], json!(5));
        assert!(set_replicas(&mut rc, -1).is_err());
        assert!(set_replicas(&mut rc, i64::from(i32::MAX) + 1).is_err());
        assert_eq!(replicas(&rc), Some(5), "unchanged by refusals");
        let mut pod = parse_value(&pod_json(), WorkloadKind::Pod).expect("pod");
        let err = set_replicas(&mut pod, 1).expect_err("pods have none");
        assert_eq!(
            err.to_string(),
            "Invalid input for field/attribute replicas. Value: 1. Only replication controllers \
             have replicas."
        );
    }

    #[test]
    fn a_replacement_must_keep_the_name() {
        let pod = parse_value(&pod_json(), WorkloadKind::Pod).expect("pod");
        assert!(check_name_kept(&pod, "web").is_ok());
        assert_eq!(
            check_name_kept(&pod, "old")
                .expect_err("renamed")
                .to_string(),
            "Invalid input for field/attribute manifest. Value: web. metadata.name can not be \
             changed: it is old."
        );
    }

    #[test]
    fn long_values_are_shortened_in_messages() {
        let long = "x".repeat(500);
        let pod = edited(pod_json(), "/apiVersion", json!(long));
        let err = parse_value(&pod, WorkloadKind::Pod).expect_err("bad version");
        let ValidationError::Invalid { value, .. } = err else {
            panic!("expected Invalid");
        };
        assert_eq!(value.chars().count(), EXCERPT + 1);
        assert!(value.ends_with('…'));
    }
}
