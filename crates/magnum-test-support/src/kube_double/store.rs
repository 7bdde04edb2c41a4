//! The double's object store: every kind as JSON, keyed by resource, namespace and name, with
//! the server-side bookkeeping a real API server does (resourceVersion, uid, creationTimestamp,
//! generation, defaults of a few core kinds, namespace cascade, preconditions).

use super::patch;
use super::selector::{FieldSelector, LabelSelector};
use super::status::{ApiStatus, Resource};
use super::validate;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Kinds the double knows by name and scope; any other resource is stored generically, its kind
/// learned from the first object created and its scope taken from the URL.
const KNOWN: &[(&str, &str, &str, bool)] = &[
    ("v1", "namespaces", "Namespace", false),
    ("v1", "nodes", "Node", false),
    ("v1", "persistentvolumes", "PersistentVolume", false),
    ("v1", "pods", "Pod", true),
    ("v1", "services", "Service", true),
    (
        "v1",
        "replicationcontrollers",
        "ReplicationController",
        true,
    ),
    ("v1", "configmaps", "ConfigMap", true),
    ("v1", "secrets", "Secret", true),
    ("v1", "serviceaccounts", "ServiceAccount", true),
    ("v1", "resourcequotas", "ResourceQuota", true),
    ("v1", "limitranges", "LimitRange", true),
    ("v1", "endpoints", "Endpoints", true),
    ("v1", "events", "Event", true),
    (
        "v1",
        "persistentvolumeclaims",
        "PersistentVolumeClaim",
        true,
    ),
    (
        "networking.k8s.io/v1",
        "networkpolicies",
        "NetworkPolicy",
        true,
    ),
    ("networking.k8s.io/v1", "ingresses", "Ingress", true),
    ("rbac.authorization.k8s.io/v1", "roles", "Role", true),
    (
        "rbac.authorization.k8s.io/v1",
        "rolebindings",
        "RoleBinding",
        true,
    ),
    (
        "rbac.authorization.k8s.io/v1",
        "clusterroles",
        "ClusterRole",
        false,
    ),
    (
        "rbac.authorization.k8s.io/v1",
        "clusterrolebindings",
        "ClusterRoleBinding",
        false,
    ),
    ("apps/v1", "deployments", "Deployment", true),
    ("apps/v1", "replicasets", "ReplicaSet", true),
    ("apps/v1", "statefulsets", "StatefulSet", true),
    ("apps/v1", "daemonsets", "DaemonSet", true),
    ("batch/v1", "jobs", "Job", true),
    ("batch/v1", "cronjobs", "CronJob", true),
];

/// The `/version` the double reports.
pub(crate) const GIT_VERSION: &str = "v1.33.0-magnum-double";

/// How a PATCH body is to be read, from its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PatchKind {
    /// `application/merge-patch+json` (and strategic merge, served the same way).
    Merge,
    /// `application/json-patch+json`.
    Json,
    /// `application/apply-patch+yaml`: server-side apply, create-or-merge.
    Apply,
}

/// What a delete did, so the caller can schedule a namespace's final removal.
#[derive(Debug)]
pub(crate) struct Deleted {
    /// The object as deleted (or as marked for deletion).
    pub(crate) object: Value,
    /// The namespace is `Terminating` and must be removed after the finalize delay.
    pub(crate) finalize_later: bool,
}

type Key = (String, String);

/// All objects and switches of one double.
#[derive(Debug)]
pub(crate) struct Store {
    objects: BTreeMap<Resource, BTreeMap<Key, Value>>,
    kinds: BTreeMap<Resource, String>,
    revision: u64,
    next_cluster_ip: u32,
    next_node_port: u16,
    /// Resources (plural names) every request for which is answered 403.
    pub(crate) denied: BTreeSet<String>,
    /// Added before every answer.
    pub(crate) latency: Duration,
    /// How long a deleted namespace stays `Terminating`; zero removes it at once.
    pub(crate) namespace_finalize_delay: Duration,
}

impl Default for Store {
    fn default() -> Self {
        Store {
            objects: BTreeMap::new(),
            kinds: BTreeMap::new(),
            revision: 1000,
            next_cluster_ip: 10,
            next_node_port: 30000,
            denied: BTreeSet::new(),
            latency: Duration::ZERO,
            namespace_finalize_delay: Duration::ZERO,
        }
    }
}

fn namespaces() -> Resource {
    Resource {
        group: String::new(),
        version: "v1".into(),
        plural: "namespaces".into(),
    }
}

fn service_accounts() -> Resource {
    Resource {
        group: String::new(),
        version: "v1".into(),
        plural: "serviceaccounts".into(),
    }
}

fn known(resource: &Resource) -> Option<(&'static str, bool)> {
    let api_version = resource.api_version();
    KNOWN
        .iter()
        .find(|(v, p, _, _)| *v == api_version && *p == resource.plural)
        .map(|(_, _, kind, namespaced)| (*kind, *namespaced))
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

fn metadata(object: &mut Value) -> &mut Map<String, Value> {
    if !object.get("metadata").is_some_and(Value::is_object) {
        object["metadata"] = json!({});
    }
    match object.get_mut("metadata") {
        Some(Value::Object(map)) => map,
        _ => unreachable!("metadata was just made an object"),
    }
}

fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<String> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

impl Store {
    /// Every known and learned resource, for discovery.
    pub(crate) fn resources(&self) -> Vec<(Resource, String, bool)> {
        let mut all: BTreeMap<Resource, (String, bool)> = KNOWN
            .iter()
            .filter_map(|(v, p, kind, ns)| {
                Some((
                    Resource::parse(&format!("{v}/{p}"))?,
                    ((*kind).to_owned(), *ns),
                ))
            })
            .collect();
        for (resource, objects) in &self.objects {
            let namespaced = objects.keys().any(|(ns, _)| !ns.is_empty());
            all.entry(resource.clone())
                .or_insert((self.kind(resource), namespaced));
        }
        all.into_iter().map(|(r, (k, n))| (r, k, n)).collect()
    }

    /// The kind of a resource's objects: known, learned, or `Unknown`.
    pub(crate) fn kind(&self, resource: &Resource) -> String {
        known(resource)
            .map(|(kind, _)| kind.to_owned())
            .or_else(|| self.kinds.get(resource).cloned())
            .unwrap_or_else(|| "Unknown".to_owned())
    }

    /// Refuses a namespaced URL for a known cluster-scoped kind and vice versa (a real server has
    /// no such route). Listing a namespaced kind across namespaces is allowed.
    pub(crate) fn check_scope(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        listing: bool,
    ) -> Result<(), ApiStatus> {
        match known(resource) {
            Some((_, false)) if namespace.is_some() => Err(ApiStatus::no_route()),
            Some((_, true)) if namespace.is_none() && !listing => Err(ApiStatus::no_route()),
            _ => Ok(()),
        }
    }

    fn next_revision(&mut self) -> String {
        self.revision += 1;
        self.revision.to_string()
    }

    /// How many objects of a resource exist.
    pub(crate) fn count(&self, resource: &Resource) -> usize {
        self.objects.get(resource).map_or(0, BTreeMap::len)
    }

    /// The current global resourceVersion.
    pub(crate) fn revision(&self) -> u64 {
        self.revision
    }

    fn key(namespace: Option<&str>, name: &str) -> Key {
        (namespace.unwrap_or_default().to_owned(), name.to_owned())
    }

    /// One object, as stored.
    pub(crate) fn get(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Value, ApiStatus> {
        self.objects
            .get(resource)
            .and_then(|objects| objects.get(&Self::key(namespace, name)))
            .cloned()
            .ok_or_else(|| ApiStatus::not_found(resource, name))
    }

    fn namespace_phase(&self, namespace: &str) -> Option<String> {
        let ns = self.get(&namespaces(), None, namespace).ok()?;
        Some(str_at(&ns, "/status/phase").unwrap_or("Active").to_owned())
    }

    /// Creates an object (POST, or server-side apply of a missing one).
    pub(crate) fn create(
        &mut self,
        resource: &Resource,
        namespace: Option<&str>,
        mut object: Value,
    ) -> Result<Value, ApiStatus> {
        if !object.is_object() {
            return Err(ApiStatus::bad_request(
                "the body of the request is not a JSON object",
            ));
        }
        let api_version = resource.api_version();
        if let Some(given) = str_at(&object, "/apiVersion")
            && given != api_version
        {
            return Err(ApiStatus::bad_request(format!(
                "the API version in the data ({given}) does not match the expected API version \
                 ({api_version})"
            )));
        }
        let kind = match str_at(&object, "/kind") {
            Some(kind) => kind.to_owned(),
            None => self.kind(resource),
        };
        if known(resource).is_none() && !self.kinds.contains_key(resource) {
            self.kinds.insert(resource.clone(), kind.clone());
        }
        if let Some(given) = str_at(&object, "/metadata/namespace")
            && Some(given) != namespace
        {
            return Err(ApiStatus::bad_request(
                "the namespace of the provided object does not match the namespace sent on the \
                 request",
            ));
        }
        let uid = uuid::Uuid::new_v4().to_string();
        let name = match (
            str_at(&object, "/metadata/name"),
            str_at(&object, "/metadata/generateName"),
        ) {
            (Some(name), _) if !name.is_empty() => name.to_owned(),
            (_, Some(prefix)) => format!("{prefix}{}", &uid[..5]),
            _ => {
                return Err(ApiStatus::invalid(
                    &kind,
                    resource,
                    "",
                    "metadata.name: Required value: name or generateName is required",
                ));
            }
        };
        self.validate(&kind, resource, &name, &object)?;
        if let Some(ns) = namespace {
            match self.namespace_phase(ns).as_deref() {
                None => return Err(ApiStatus::not_found(&namespaces(), ns)),
                Some("Terminating") => {
                    return Err(ApiStatus::forbidden(
                        resource,
                        &name,
                        format!(
                            "{} \"{name}\" is forbidden: unable to create new content in \
                             namespace {ns} because it is being terminated",
                            resource.qualified()
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
        let key = Self::key(namespace, &name);
        if self
            .objects
            .get(resource)
            .is_some_and(|o| o.contains_key(&key))
        {
            return Err(ApiStatus::already_exists(resource, &name));
        }
        object["apiVersion"] = json!(api_version);
        object["kind"] = json!(kind);
        self.default_new(resource, namespace, &name, &mut object)?;
        let revision = self.next_revision();
        let meta = metadata(&mut object);
        meta.insert("name".into(), json!(name));
        if let Some(ns) = namespace {
            meta.insert("namespace".into(), json!(ns));
        }
        meta.insert("uid".into(), json!(uid));
        meta.insert("resourceVersion".into(), json!(revision));
        meta.insert("creationTimestamp".into(), json!(now()));
        meta.insert("generation".into(), json!(1));
        meta.remove("deletionTimestamp");
        self.objects
            .entry(resource.clone())
            .or_default()
            .insert(key, object.clone());
        Ok(object)
    }

    fn validate(
        &self,
        kind: &str,
        resource: &Resource,
        name: &str,
        object: &Value,
    ) -> Result<(), ApiStatus> {
        let invalid = |why: String| ApiStatus::invalid(kind, resource, name, &why);
        let name_rule = if resource.group == "rbac.authorization.k8s.io" {
            validate::path_segment(name)
        } else if resource.group.is_empty()
            && matches!(resource.plural.as_str(), "namespaces" | "services")
        {
            validate::dns_label(name)
        } else {
            validate::dns_subdomain(name)
        };
        name_rule.map_err(|e| invalid(format!("metadata.name: Invalid value: {name:?}: {e}")))?;
        if let Some(labels) = object.pointer("/metadata/labels") {
            let labels = labels
                .as_object()
                .ok_or_else(|| invalid("metadata.labels: must be a map of strings".into()))?;
            for (key, value) in labels {
                validate::label_key(key).map_err(|e| {
                    invalid(format!("metadata.labels: Invalid value: {key:?}: {e}"))
                })?;
                let value = value.as_str().ok_or_else(|| {
                    invalid(format!(
                        "metadata.labels: Invalid value: {key:?}: not a string"
                    ))
                })?;
                validate::label_value(value).map_err(|e| {
                    invalid(format!("metadata.labels: Invalid value: {value:?}: {e}"))
                })?;
            }
        }
        Ok(())
    }

    /// What a real server (or its controllers, at once) adds to a new object of a core kind.
    fn default_new(
        &mut self,
        resource: &Resource,
        namespace: Option<&str>,
        name: &str,
        object: &mut Value,
    ) -> Result<(), ApiStatus> {
        if !resource.group.is_empty() {
            return Ok(());
        }
        match resource.plural.as_str() {
            "namespaces" => {
                Self::label_namespace(name, object);
                if object.pointer("/spec/finalizers").is_none() {
                    object["spec"] = json!({"finalizers": ["kubernetes"]});
                }
                object["status"] = json!({"phase": "Active"});
            }
            "pods" => {
                let account = str_at(object, "/spec/serviceAccountName")
                    .or_else(|| str_at(object, "/spec/serviceAccount"))
                    .unwrap_or("default")
                    .to_owned();
                let ns = namespace.unwrap_or_default();
                // The ServiceAccount admission plugin: the account must exist already.
                if self.get(&service_accounts(), namespace, &account).is_err() {
                    return Err(ApiStatus::forbidden(
                        resource,
                        name,
                        format!(
                            "pods \"{name}\" is forbidden: error looking up service account \
                             {ns}/{account}: serviceaccount \"{account}\" not found"
                        ),
                    ));
                }
                if !object.get("spec").is_some_and(Value::is_object) {
                    object["spec"] = json!({});
                }
                object["spec"]["serviceAccountName"] = json!(account);
                // No scheduler and no kubelet: a pod stays Pending.
                object["status"] = json!({"phase": "Pending"});
            }
            "services" => self.default_service(object),
            "replicationcontrollers" => {
                if !object.get("spec").is_some_and(Value::is_object) {
                    object["spec"] = json!({});
                }
                if object.pointer("/spec/replicas").is_none() {
                    object["spec"]["replicas"] = json!(1);
                }
                if object.pointer("/spec/selector").is_none()
                    && let Some(labels) = object.pointer("/spec/template/metadata/labels").cloned()
                {
                    object["spec"]["selector"] = labels;
                }
                // No controller manager: an RC never creates pods.
                object["status"] = json!({"replicas": 0});
            }
            _ => {}
        }
        Ok(())
    }

    fn label_namespace(name: &str, object: &mut Value) {
        let meta = metadata(object);
        let labels = meta.entry("labels").or_insert_with(|| json!({}));
        if let Value::Object(labels) = labels {
            labels.insert("kubernetes.io/metadata.name".into(), json!(name));
        }
    }

    fn default_service(&mut self, object: &mut Value) {
        if !object.get("spec").is_some_and(Value::is_object) {
            object["spec"] = json!({});
        }
        let spec = &mut object["spec"];
        let kind = spec
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("ClusterIP")
            .to_owned();
        spec["type"] = json!(kind);
        if kind != "ExternalName" && spec.get("clusterIP").is_none() {
            // Addresses in the service CIDR a default kubeadm cluster uses (10.96.0.0/12); they
            // are data only, nothing is routed to them.
            let n = self.next_cluster_ip;
            self.next_cluster_ip += 1;
            let ip = format!("10.96.{}.{}", n / 256, n % 256);
            spec["clusterIP"] = json!(ip);
            spec["clusterIPs"] = json!([ip]);
        }
        if spec.get("sessionAffinity").is_none() {
            spec["sessionAffinity"] = json!("None");
        }
        let wants_node_port = matches!(kind.as_str(), "NodePort" | "LoadBalancer");
        if let Some(Value::Array(ports)) = spec.get_mut("ports") {
            for port in ports.iter_mut().filter(|p| p.is_object()) {
                if port.get("protocol").is_none() {
                    port["protocol"] = json!("TCP");
                }
                if port.get("targetPort").is_none()
                    && let Some(p) = port.get("port").cloned()
                {
                    port["targetPort"] = p;
                }
                if wants_node_port && port.get("nodePort").is_none() {
                    port["nodePort"] = json!(self.next_node_port);
                    self.next_node_port += 1;
                }
            }
        }
        object["status"] = json!({"loadBalancer": {}});
    }

    /// Lists objects; `namespace` `None` lists across namespaces (or cluster-scoped objects).
    pub(crate) fn list(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        labels: &LabelSelector,
        fields: &FieldSelector,
        limit: Option<usize>,
        continue_token: Option<&str>,
    ) -> Result<Value, ApiStatus> {
        let after = match continue_token.filter(|t| !t.is_empty()) {
            None => None,
            Some(token) => {
                let decoded = unhex(token)
                    .and_then(|t| {
                        t.split_once('\u{1}')
                            .map(|(n, m)| (n.to_owned(), m.to_owned()))
                    })
                    .ok_or_else(|| ApiStatus::bad_request("invalid continue token"))?;
                Some(decoded)
            }
        };
        let empty = BTreeMap::new();
        let objects = self.objects.get(resource).unwrap_or(&empty);
        let matching = objects
            .iter()
            .filter(|((ns, _), _)| namespace.is_none_or(|want| ns == want))
            .filter(|(key, _)| after.as_ref().is_none_or(|after| *key > after))
            .filter(|(_, object)| {
                labels.matches(object.pointer("/metadata/labels")) && fields.matches(object)
            });
        let limit = limit.filter(|l| *l > 0).unwrap_or(usize::MAX);
        let mut items = Vec::new();
        let mut last = None;
        let mut remaining = 0usize;
        for (key, object) in matching {
            if items.len() < limit {
                items.push(object.clone());
                last = Some(key);
            } else {
                remaining += 1;
            }
        }
        let mut meta = json!({"resourceVersion": self.revision.to_string()});
        if remaining > 0
            && let Some((ns, name)) = last
        {
            meta["continue"] = json!(hex(&format!("{ns}\u{1}{name}")));
            meta["remainingItemCount"] = json!(remaining);
        }
        Ok(json!({
            "kind": format!("{}List", self.kind(resource)),
            "apiVersion": resource.api_version(),
            "metadata": meta,
            "items": items,
        }))
    }

    /// PUT: replaces an object (or, for `status`, its status), guarded by `resourceVersion`.
    pub(crate) fn replace(
        &mut self,
        resource: &Resource,
        namespace: Option<&str>,
        name: &str,
        body: Value,
        subresource: Option<&str>,
    ) -> Result<Value, ApiStatus> {
        let current = self.get(resource, namespace, name)?;
        if !body.is_object() {
            return Err(ApiStatus::bad_request(
                "the body of the request is not a JSON object",
            ));
        }
        if let Some(given) = str_at(&body, "/metadata/name")
            && given != name
        {
            return Err(ApiStatus::bad_request(format!(
                "the name of the object ({given}) does not match the name on the URL ({name})"
            )));
        }
        self.check_version(resource, name, &current, &body)?;
        let next = Self::merge_subresource(&current, body, subresource);
        self.store_update(resource, namespace, name, &current, next)
    }

    /// PATCH: merge, JSON or apply patch; apply of a missing object creates it.
    /// Returns the object and whether it was created.
    pub(crate) fn patch(
        &mut self,
        resource: &Resource,
        namespace: Option<&str>,
        name: &str,
        kind: PatchKind,
        body: &Value,
        subresource: Option<&str>,
    ) -> Result<(Value, bool), ApiStatus> {
        let current = match self.get(resource, namespace, name) {
            Ok(current) => current,
            Err(_) if kind == PatchKind::Apply && subresource.is_none() => {
                if str_at(body, "/metadata/name").is_some_and(|n| n != name) {
                    return Err(ApiStatus::bad_request(format!(
                        "the name of the object ({}) does not match the name on the URL ({name})",
                        str_at(body, "/metadata/name").unwrap_or_default()
                    )));
                }
                let mut object = body.clone();
                metadata(&mut object).insert("name".into(), json!(name));
                return self.create(resource, namespace, object).map(|o| (o, true));
            }
            Err(missing) => return Err(missing),
        };
        if kind == PatchKind::Apply
            && (str_at(body, "/apiVersion").is_none() || str_at(body, "/kind").is_none())
        {
            return Err(ApiStatus::bad_request(
                "invalid object type: apply patches must name apiVersion and kind",
            ));
        }
        let patched = match kind {
            PatchKind::Merge | PatchKind::Apply => {
                let mut patched = current.clone();
                patch::merge(&mut patched, body);
                patched
            }
            PatchKind::Json => patch::json_patch(&current, body)
                .map_err(|why| ApiStatus::invalid(&self.kind(resource), resource, name, &why))?,
        };
        if !patched.is_object() {
            return Err(ApiStatus::invalid(
                &self.kind(resource),
                resource,
                name,
                "the patched object is not a JSON object",
            ));
        }
        // A resourceVersion in the patched object is a precondition, as on a real server.
        self.check_version(resource, name, &current, &patched)?;
        let next = Self::merge_subresource(&current, patched, subresource);
        self.store_update(resource, namespace, name, &current, next)
            .map(|o| (o, false))
    }

    fn check_version(
        &self,
        resource: &Resource,
        name: &str,
        current: &Value,
        next: &Value,
    ) -> Result<(), ApiStatus> {
        match str_at(next, "/metadata/resourceVersion") {
            Some(given) if Some(given) != str_at(current, "/metadata/resourceVersion") => {
                Err(ApiStatus::stale(resource, name))
            }
            _ => Ok(()),
        }
    }

    /// Writes to the main resource keep the status; writes to `status` change only the status.
    fn merge_subresource(current: &Value, mut next: Value, subresource: Option<&str>) -> Value {
        match subresource {
            Some("status") => {
                let mut kept = current.clone();
                match next.get("status") {
                    Some(status) => kept["status"] = status.clone(),
                    None => {
                        if let Value::Object(map) = &mut kept {
                            map.remove("status");
                        }
                    }
                }
                kept
            }
            _ => {
                if let Some(status) = current.get("status") {
                    next["status"] = status.clone();
                }
                next
            }
        }
    }

    fn store_update(
        &mut self,
        resource: &Resource,
        namespace: Option<&str>,
        name: &str,
        current: &Value,
        mut next: Value,
    ) -> Result<Value, ApiStatus> {
        let kind = self.kind(resource);
        if !next.is_object() {
            return Err(ApiStatus::invalid(
                &kind,
                resource,
                name,
                "the patched object is not a JSON object",
            ));
        }
        next["apiVersion"] = json!(resource.api_version());
        next["kind"] = current.get("kind").cloned().unwrap_or(json!(kind));
        {
            let meta = metadata(&mut next);
            for fixed in [
                "name",
                "namespace",
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
            ] {
                match current.pointer(&format!("/metadata/{fixed}")) {
                    Some(value) => meta.insert(fixed.into(), value.clone()),
                    None => meta.remove(fixed),
                };
            }
        }
        if resource.group.is_empty() {
            match resource.plural.as_str() {
                "namespaces" => Self::label_namespace(name, &mut next),
                "pods" => check_pod_update(&kind, resource, name, current, &next)?,
                "services" => keep_service_allocations(&kind, resource, name, current, &mut next)?,
                _ => {}
            }
        }
        self.validate(&kind, resource, name, &next)?;
        let generation = current
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        let generation = if next.get("spec") == current.get("spec") {
            generation
        } else {
            generation + 1
        };
        {
            let meta = metadata(&mut next);
            meta.insert("generation".into(), json!(generation));
            if let Some(current_version) = current.pointer("/metadata/resourceVersion") {
                meta.insert("resourceVersion".into(), current_version.clone());
            }
        }
        // As on a real server, a write that changes nothing keeps the resourceVersion.
        if next == *current {
            return Ok(next);
        }
        let revision = self.next_revision();
        metadata(&mut next).insert("resourceVersion".into(), json!(revision));
        self.objects
            .entry(resource.clone())
            .or_default()
            .insert(Self::key(namespace, name), next.clone());
        Ok(next)
    }

    /// DELETE of one object. A namespace takes every object in it along; with a finalize delay
    /// it stays `Terminating` until [`Store::finalize_namespace`].
    pub(crate) fn delete(
        &mut self,
        resource: &Resource,
        namespace: Option<&str>,
        name: &str,
        options: &Value,
    ) -> Result<Deleted, ApiStatus> {
        let mut current = self.get(resource, namespace, name)?;
        for (field, pointer) in [
            ("ResourceVersion", "/metadata/resourceVersion"),
            ("UID", "/metadata/uid"),
        ] {
            let wanted = options
                .pointer(&format!("/preconditions/{}", lower_first(field)))
                .and_then(Value::as_str);
            if let Some(wanted) = wanted
                && Some(wanted) != str_at(&current, pointer)
            {
                return Err(ApiStatus::conflict(
                    resource,
                    name,
                    &format!(
                        "Precondition failed: {field} in precondition: {wanted}, {field} in \
                         object meta: {}",
                        str_at(&current, pointer).unwrap_or_default()
                    ),
                ));
            }
        }
        let is_namespace = *resource == namespaces();
        if is_namespace && str_at(&current, "/status/phase") == Some("Terminating") {
            return Err(ApiStatus::conflict(
                resource,
                name,
                "The system is ensuring all content is removed from this namespace.  Upon \
                 completion, this namespace will automatically be purged by the system.",
            ));
        }
        metadata(&mut current).insert("deletionTimestamp".into(), json!(now()));
        if is_namespace {
            for objects in self.objects.values_mut() {
                objects.retain(|(ns, _), _| ns != name);
            }
            if !self.namespace_finalize_delay.is_zero() {
                current["status"] = json!({"phase": "Terminating"});
                let revision = self.next_revision();
                metadata(&mut current).insert("resourceVersion".into(), json!(revision));
                self.objects
                    .entry(resource.clone())
                    .or_default()
                    .insert(Self::key(None, name), current.clone());
                return Ok(Deleted {
                    object: current,
                    finalize_later: true,
                });
            }
        }
        if let Some(objects) = self.objects.get_mut(resource) {
            objects.remove(&Self::key(namespace, name));
        }
        self.next_revision();
        Ok(Deleted {
            object: current,
            finalize_later: false,
        })
    }

    /// Removes a `Terminating` namespace (the namespace controller's last step).
    pub(crate) fn finalize_namespace(&mut self, name: &str) {
        let terminating = self
            .get(&namespaces(), None, name)
            .is_ok_and(|ns| str_at(&ns, "/status/phase") == Some("Terminating"));
        if terminating {
            for objects in self.objects.values_mut() {
                objects.retain(|(ns, _), _| ns != name);
            }
            if let Some(objects) = self.objects.get_mut(&namespaces()) {
                objects.remove(&Self::key(None, name));
            }
            self.next_revision();
        }
    }

    /// DELETE of a collection: every matching object, as a list.
    pub(crate) fn delete_collection(
        &mut self,
        resource: &Resource,
        namespace: Option<&str>,
        labels: &LabelSelector,
        fields: &FieldSelector,
    ) -> Result<Value, ApiStatus> {
        let listed = self.list(resource, namespace, labels, fields, None, None)?;
        let names: Vec<(Option<String>, String)> = listed["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|o| {
                        let name = str_at(o, "/metadata/name")?.to_owned();
                        Some((str_at(o, "/metadata/namespace").map(str::to_owned), name))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut deleted = Vec::new();
        for (ns, name) in names {
            if let Ok(gone) = self.delete(resource, ns.as_deref(), &name, &Value::Null) {
                deleted.push(gone.object);
            }
        }
        let mut list = listed;
        list["items"] = Value::Array(deleted);
        Ok(list)
    }

    /// The namespace controller's `default` ServiceAccount, if the namespace is still active.
    pub(crate) fn add_default_service_account(&mut self, namespace: &str) {
        if self.namespace_phase(namespace).as_deref() == Some("Active")
            && self
                .get(&service_accounts(), Some(namespace), "default")
                .is_err()
        {
            let account = json!({"metadata": {"name": "default"}});
            // Cannot fail: the namespace is active and the account absent.
            let _ = self.create(&service_accounts(), Some(namespace), account);
        }
    }

    /// Removes an object without a request (test control).
    pub(crate) fn remove(
        &mut self,
        resource: &Resource,
        namespace: Option<&str>,
        name: &str,
    ) -> bool {
        let removed = self
            .objects
            .get_mut(resource)
            .and_then(|objects| objects.remove(&Self::key(namespace, name)))
            .is_some();
        if removed {
            self.next_revision();
        }
        removed
    }
}

/// What a pod update may change, as kube-apiserver's `ValidatePodUpdate` words it.
const POD_UPDATE_FORBIDDEN: &str = "spec: Forbidden: pod updates may not change fields other \
    than `spec.containers[*].image`,`spec.initContainers[*].image`,\
    `spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),\
    `spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

/// A pod's spec is immutable but for images, the deadline, the grace period and added
/// tolerations: anything else is 422, as on a real server.
fn check_pod_update(
    kind: &str,
    resource: &Resource,
    name: &str,
    current: &Value,
    next: &Value,
) -> Result<(), ApiStatus> {
    let old = current.get("spec").cloned().unwrap_or(Value::Null);
    let mut new = next.get("spec").cloned().unwrap_or(Value::Null);
    if old == new {
        return Ok(());
    }
    let forbidden = || ApiStatus::invalid(kind, resource, name, POD_UPDATE_FORBIDDEN);
    let (Value::Object(old_map), Value::Object(new_map)) = (&old, &mut new) else {
        return Err(forbidden());
    };
    for list in ["containers", "initContainers"] {
        let old_list = old_map.get(list).and_then(Value::as_array);
        let new_list = new_map.get_mut(list).and_then(Value::as_array_mut);
        if let (Some(old_list), Some(new_list)) = (old_list, new_list)
            && old_list.len() == new_list.len()
        {
            for (old_c, new_c) in old_list.iter().zip(new_list.iter_mut()) {
                if let (Some(image), true) = (old_c.get("image"), new_c.is_object()) {
                    new_c["image"] = image.clone();
                }
            }
        }
    }
    let old_tolerations = old_map
        .get("tolerations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let new_tolerations = new_map
        .get("tolerations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if old_tolerations.iter().any(|t| !new_tolerations.contains(t)) {
        return Err(forbidden());
    }
    for mutable in [
        "tolerations",
        "activeDeadlineSeconds",
        "terminationGracePeriodSeconds",
    ] {
        match old_map.get(mutable) {
            Some(value) => new_map.insert(mutable.into(), value.clone()),
            None => new_map.remove(mutable),
        };
    }
    if Value::Object(old_map.clone()) == new {
        Ok(())
    } else {
        Err(forbidden())
    }
}

/// A service keeps the cluster IP (and node ports) it was given when an update leaves them out,
/// and refuses to change a cluster IP once set, as on a real server.
fn keep_service_allocations(
    kind: &str,
    resource: &Resource,
    name: &str,
    current: &Value,
    next: &mut Value,
) -> Result<(), ApiStatus> {
    let Some(old_spec) = current.get("spec") else {
        return Ok(());
    };
    if !next.get("spec").is_some_and(Value::is_object) {
        next["spec"] = json!({});
    }
    let spec = &mut next["spec"];
    for field in ["clusterIP", "clusterIPs"] {
        match (old_spec.get(field), spec.get(field)) {
            (Some(old), None) => spec[field] = old.clone(),
            (Some(old), Some(new)) if old != new && !new.as_str().is_some_and(str::is_empty) => {
                return Err(ApiStatus::invalid(
                    kind,
                    resource,
                    name,
                    &format!("spec.{field}: Invalid value: {new}: field is immutable"),
                ));
            }
            (Some(old), Some(_)) => spec[field] = old.clone(),
            (None, _) => {}
        }
    }
    let old_ports = old_spec.get("ports").and_then(Value::as_array);
    if let Some(Value::Array(ports)) = spec.get_mut("ports") {
        for port in ports.iter_mut().filter(|p| p.is_object()) {
            // Defaults apply on every write, as a real server decodes every body with them.
            if port.get("protocol").is_none() {
                port["protocol"] = json!("TCP");
            }
            if port.get("targetPort").is_none()
                && let Some(p) = port.get("port").cloned()
            {
                port["targetPort"] = p;
            }
            if port.get("nodePort").is_some() {
                continue;
            }
            let Some(old_ports) = old_ports else {
                continue;
            };
            let same = old_ports
                .iter()
                .find(|o| o.get("port") == port.get("port"))
                .and_then(|o| o.get("nodePort"));
            if let Some(node_port) = same {
                port["nodePort"] = node_port.clone();
            }
        }
    }
    Ok(())
}

fn lower_first(field: &str) -> String {
    match field {
        "UID" => "uid".into(),
        other => {
            let mut chars = other.chars();
            chars
                .next()
                .map(|c| c.to_ascii_lowercase().to_string() + chars.as_str())
                .unwrap_or_default()
        }
    }
}
