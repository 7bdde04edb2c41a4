//! What a bay user may ask of the Docker Engines through the client proxy (specs/0005): an
//! allow-list of Engine API routes, and the rewriting of request bodies and queries that keeps a
//! call inside its bay. Pure functions; the proxy in magnum-conductor applies them.

use crate::{BAY_LABEL, PROJECT_LABEL};
use serde_json::{Map, Value};
use uuid::Uuid;

/// Labels under this prefix are Magnum's; a user may not set them.
const MAGNUM_LABELS: &str = "magnum.openstack.org/";

/// Largest request body the proxy reads to check (container and exec create).
pub const MAX_CHECKED_BODY: usize = 1024 * 1024;

/// Why a call is refused: HTTP 403 with this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Denied(pub String);

fn denied(message: impl Into<String>) -> Denied {
    Denied(message.into())
}

/// Operations on one container, each allowed only on containers labelled with the bay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerOp {
    /// `GET /containers/{id}/json`.
    Inspect,
    /// `GET /containers/{id}/logs`.
    Logs,
    /// `POST /containers/{id}/start|stop|restart|kill|pause|unpause|wait|resize`.
    Control,
    /// `POST /containers/{id}/exec`: the body is checked ([`check_exec_create`]).
    ExecCreate,
    /// `POST /containers/{id}/attach` (often an HTTP upgrade).
    Attach,
    /// `DELETE /containers/{id}`.
    Remove,
}

/// An allowed Engine API call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET|HEAD /_ping`.
    Ping,
    /// `GET /version`.
    Version,
    /// `GET /info`: answered with [`filter_info`].
    Info,
    /// `GET /containers/json`: the query goes through [`list_query`].
    ListContainers,
    /// `POST /containers/create`: the body goes through [`sanitize_create`].
    CreateContainer,
    /// One container's operation.
    Container {
        /// Id or name, as the client gave it.
        id: String,
        /// What is asked.
        op: ContainerOp,
    },
    /// `POST /exec/{id}/start|resize`, `GET /exec/{id}/json`: only execs of the bay's containers.
    Exec {
        /// The exec id.
        id: String,
    },
    /// `POST /images/create?fromImage=…` (pull; import is refused).
    PullImage,
    /// `GET /images/json`.
    ListImages,
    /// `GET /images/{name}/json`.
    InspectImage,
}

/// The path without a leading API version (`/v1.47/containers/json` → `/containers/json`).
pub fn unversioned(path: &str) -> &str {
    if let Some(rest) = path.strip_prefix("/v") {
        let end = rest.find('/').unwrap_or(rest.len());
        let version = &rest[..end];
        let numeric = !version.is_empty()
            && version.chars().all(|c| c.is_ascii_digit() || c == '.')
            && version.starts_with(|c: char| c.is_ascii_digit());
        if numeric {
            return &rest[end..];
        }
    }
    path
}

/// A container or exec reference: Docker ids and names (`[a-zA-Z0-9][a-zA-Z0-9_.-]*`).
fn object_id(text: &str) -> Option<String> {
    let ok = !text.is_empty()
        && text.len() <= 128
        && text.starts_with(|c: char| c.is_ascii_alphanumeric())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    ok.then(|| text.to_owned())
}

/// The route of `method path` (query not included), or why it is refused.
pub fn route(method: &str, path: &str, query: Option<&str>) -> Result<Route, Denied> {
    let path = unversioned(path);
    let refused = || {
        denied(format!(
            "{method} {path} is not allowed through Magnum's Docker proxy: a bay's users may \
             manage and exec into their bay's containers and pull images, nothing else."
        ))
    };
    let segments: Vec<&str> = path
        .strip_prefix('/')
        .ok_or_else(refused)?
        .split('/')
        .collect();
    let route = match (method, segments.as_slice()) {
        ("GET" | "HEAD", ["_ping"]) => Route::Ping,
        ("GET", ["version"]) => Route::Version,
        ("GET", ["info"]) => Route::Info,
        ("GET", ["containers", "json"]) => Route::ListContainers,
        ("POST", ["containers", "create"]) => Route::CreateContainer,
        ("DELETE", ["containers", id]) => {
            if query_pairs(query)
                .iter()
                .any(|(k, v)| k == "link" && !matches!(v.as_str(), "" | "0" | "false"))
            {
                return Err(denied(
                    "Removing links is not allowed through Magnum's Docker proxy.",
                ));
            }
            container(id, ContainerOp::Remove).ok_or_else(refused)?
        }
        (_, ["containers", id, action]) => {
            let op = match (method, *action) {
                ("GET", "json") => ContainerOp::Inspect,
                ("GET", "logs") => ContainerOp::Logs,
                (
                    "POST",
                    "start" | "stop" | "restart" | "kill" | "pause" | "unpause" | "wait" | "resize",
                ) => ContainerOp::Control,
                ("POST", "exec") => ContainerOp::ExecCreate,
                ("POST", "attach") => ContainerOp::Attach,
                _ => return Err(refused()),
            };
            container(id, op).ok_or_else(refused)?
        }
        ("POST", ["exec", id, "start" | "resize"]) | ("GET", ["exec", id, "json"]) => Route::Exec {
            id: object_id(id).ok_or_else(refused)?,
        },
        ("POST", ["images", "create"]) => {
            let pairs = query_pairs(query);
            if pairs.iter().any(|(k, _)| k == "fromSrc")
                || !pairs.iter().any(|(k, v)| k == "fromImage" && !v.is_empty())
            {
                return Err(denied(
                    "Only image pulls (fromImage) are allowed through Magnum's Docker proxy.",
                ));
            }
            Route::PullImage
        }
        ("GET", ["images", "json"]) => Route::ListImages,
        ("GET", ["images", name @ .., "json"])
            if !name.is_empty() && name.iter().all(|s| !s.is_empty() && *s != "..") =>
        {
            Route::InspectImage
        }
        _ => return Err(refused()),
    };
    Ok(route)
}

fn container(id: &str, op: ContainerOp) -> Option<Route> {
    object_id(id).map(|id| Route::Container { id, op })
}

/// Percent-decoded `key=value` pairs of a query string.
pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The query of a container list, with a `label=<bay label>=<bay>` filter added to whatever
/// filters the client sent (Docker ANDs label filters), so only the bay's containers are listed.
pub fn list_query(query: Option<&str>, bay: Uuid) -> Result<String, Denied> {
    let ours = Value::String(format!("{BAY_LABEL}={bay}"));
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    let mut filters = Map::new();
    for (key, value) in query_pairs(query) {
        if key == "filters" {
            if value.trim().is_empty() {
                continue;
            }
            filters = match serde_json::from_str(&value) {
                Ok(Value::Object(map)) => map,
                _ => return Err(denied("The filters parameter is not a JSON object.")),
            };
        } else {
            out.append_pair(&key, &value);
        }
    }
    // Filter values are lists, or maps of value → true in older clients.
    let label = match filters.remove("label") {
        None | Some(Value::Null) => vec![ours],
        Some(Value::Array(mut list)) => {
            list.push(ours);
            list
        }
        Some(Value::Object(map)) => {
            let mut list: Vec<Value> = map
                .into_iter()
                .filter(|(_, on)| *on == Value::Bool(true))
                .map(|(k, _)| Value::String(k))
                .collect();
            list.push(ours);
            list
        }
        Some(_) => return Err(denied("The label filter is not a list.")),
    };
    filters.insert("label".into(), Value::Array(label));
    out.append_pair("filters", &Value::Object(filters).to_string());
    Ok(out.finish())
}

/// Whether a container's labels (`Config.Labels` of an inspect, `Labels` of a list entry) say it
/// belongs to `bay`.
pub fn labelled_for(labels: Option<&Value>, bay: Uuid) -> bool {
    labels
        .and_then(|l| l.get(BAY_LABEL))
        .and_then(Value::as_str)
        .is_some_and(|b| b == bay.to_string())
}

/// Top-level fields of a container create body a user may send.
const CREATE_FIELDS: &[&str] = &[
    "Hostname",
    "Domainname",
    "User",
    "AttachStdin",
    "AttachStdout",
    "AttachStderr",
    "ExposedPorts",
    "Tty",
    "OpenStdin",
    "StdinOnce",
    "Env",
    "Cmd",
    "Healthcheck",
    "ArgsEscaped",
    "Image",
    "Volumes",
    "WorkingDir",
    "Entrypoint",
    "NetworkDisabled",
    "MacAddress",
    "OnBuild",
    "Labels",
    "StopSignal",
    "StopTimeout",
    "Shell",
    "HostConfig",
    "NetworkingConfig",
];

/// `HostConfig` fields allowed with any value: resources, restart policy, DNS, ports.
const HOST_FIELDS_FREE: &[&str] = &[
    "ContainerIDFile",
    "PortBindings",
    "RestartPolicy",
    "AutoRemove",
    "ConsoleSize",
    "CapDrop",
    "Dns",
    "DnsOptions",
    "DnsSearch",
    "ExtraHosts",
    "GroupAdd",
    "PublishAllPorts",
    "ReadonlyRootfs",
    "Tmpfs",
    "ShmSize",
    "Init",
    "CpuShares",
    "Memory",
    "NanoCpus",
    "BlkioWeight",
    "CpuPeriod",
    "CpuQuota",
    "CpusetCpus",
    "CpusetMems",
    "MemoryReservation",
    "MemorySwap",
    "MemorySwappiness",
    "OomKillDisable",
    "PidsLimit",
    "Ulimits",
    "CpuCount",
    "CpuPercent",
    "IOMaximumIOps",
    "IOMaximumBandwidth",
    "KernelMemory",
    "KernelMemoryTCP",
];

/// `HostConfig` fields that reach the host (mounts, devices, privileges, cgroups, kernel
/// settings): allowed only empty (absent, null, false, 0, "", [] or {}).
const HOST_FIELDS_EMPTY_ONLY: &[&str] = &[
    "Privileged",
    "Binds",
    "Mounts",
    "VolumesFrom",
    "VolumeDriver",
    "Links",
    "CapAdd",
    "Devices",
    "DeviceCgroupRules",
    "DeviceRequests",
    "SecurityOpt",
    "StorageOpt",
    "Sysctls",
    "CgroupParent",
    "Cgroup",
    "BlkioWeightDevice",
    "BlkioDeviceReadBps",
    "BlkioDeviceWriteBps",
    "BlkioDeviceReadIOps",
    "BlkioDeviceWriteIOps",
    "CpuRealtimePeriod",
    "CpuRealtimeRuntime",
    "Annotations",
    "PidMode",
    "UTSMode",
    "UsernsMode",
];

/// `HostConfig` fields that must be `null` (an empty list would unmask paths).
const HOST_FIELDS_NULL_ONLY: &[&str] = &["MaskedPaths", "ReadonlyPaths"];

/// Networks a bay's container may join: the Engine's default bridge, or none.
const NETWORKS: &[&str] = &["", "default", "bridge", "none"];

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

fn one_of(field: &str, value: &Value, allowed: &[&str]) -> Result<(), Denied> {
    match value {
        Value::Null => Ok(()),
        Value::String(s) if allowed.contains(&s.as_str()) => Ok(()),
        other => Err(denied(format!(
            "HostConfig.{field} {other} is not allowed through Magnum's Docker proxy (allowed: \
             {}).",
            allowed
                .iter()
                .map(|a| format!("'{a}'"))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Checks a container create body and forces the bay's and project's labels on it; returns the
/// body to send to the Engine.
pub fn sanitize_create(body: &[u8], bay: Uuid, project: &str) -> Result<Vec<u8>, Denied> {
    let mut create: Map<String, Value> = match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => map,
        _ => return Err(denied("The container create body is not a JSON object.")),
    };
    if let Some(field) = create.keys().find(|k| !CREATE_FIELDS.contains(&k.as_str())) {
        return Err(denied(format!(
            "Container field {field} is not allowed through Magnum's Docker proxy."
        )));
    }
    if let Some(host) = create.get("HostConfig").filter(|h| !h.is_null()) {
        check_host_config(host)?;
    }
    if let Some(networking) = create.get("NetworkingConfig").filter(|n| !n.is_null()) {
        let endpoints = networking.get("EndpointsConfig").unwrap_or(&Value::Null);
        match endpoints {
            Value::Null => {}
            Value::Object(map) => {
                if let Some(name) = map.keys().find(|n| !NETWORKS.contains(&n.as_str())) {
                    return Err(denied(format!(
                        "Network {name} is not allowed through Magnum's Docker proxy: bay \
                         containers use the default bridge network or none."
                    )));
                }
            }
            _ => return Err(denied("NetworkingConfig.EndpointsConfig is not an object.")),
        }
    }
    let mut labels = match create.remove("Labels") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map,
        Some(_) => return Err(denied("Labels is not an object.")),
    };
    if let Some(key) = labels.keys().find(|k| k.starts_with(MAGNUM_LABELS)) {
        return Err(denied(format!(
            "Label {key} is reserved to Magnum and cannot be set through its Docker proxy."
        )));
    }
    labels.insert(BAY_LABEL.into(), Value::String(bay.to_string()));
    labels.insert(PROJECT_LABEL.into(), Value::String(project.to_owned()));
    create.insert("Labels".into(), Value::Object(labels));
    serde_json::to_vec(&Value::Object(create)).map_err(|e| denied(e.to_string()))
}

fn check_host_config(host: &Value) -> Result<(), Denied> {
    let Value::Object(host) = host else {
        return Err(denied("HostConfig is not an object."));
    };
    for (field, value) in host {
        let name = field.as_str();
        if HOST_FIELDS_FREE.contains(&name) {
            continue;
        }
        if HOST_FIELDS_EMPTY_ONLY.contains(&name) {
            if !is_empty(value) {
                return Err(denied(format!(
                    "HostConfig.{name} is not allowed through Magnum's Docker proxy: it reaches \
                     the Docker host, which other bays share."
                )));
            }
        } else if HOST_FIELDS_NULL_ONLY.contains(&name) {
            if !value.is_null() {
                return Err(denied(format!(
                    "HostConfig.{name} cannot be set through Magnum's Docker proxy."
                )));
            }
        } else {
            match name {
                "NetworkMode" => one_of(name, value, NETWORKS)?,
                "IpcMode" => one_of(name, value, &["", "private", "shareable", "none"])?,
                "CgroupnsMode" => one_of(name, value, &["", "private"])?,
                "Isolation" => one_of(name, value, &["", "default"])?,
                "Runtime" => one_of(name, value, &["", "runc"])?,
                "OomScoreAdj" => {
                    if value.as_i64().is_some_and(|n| n < 0) {
                        return Err(denied(
                            "A negative HostConfig.OomScoreAdj is not allowed through Magnum's \
                             Docker proxy.",
                        ));
                    }
                }
                "LogConfig" => {
                    let kind = value.get("Type").unwrap_or(&Value::Null);
                    one_of("LogConfig.Type", kind, &["", "json-file", "local"])?;
                }
                _ => {
                    return Err(denied(format!(
                        "HostConfig.{name} is not allowed through Magnum's Docker proxy."
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Fields of an exec create body a user may send.
const EXEC_FIELDS: &[&str] = &[
    "Detach",
    "AttachStdin",
    "AttachStdout",
    "AttachStderr",
    "DetachKeys",
    "Tty",
    "Env",
    "Cmd",
    "Privileged",
    "User",
    "WorkingDir",
    "ConsoleSize",
];

/// Checks an exec create body: no privileged exec, no unknown field.
pub fn check_exec_create(body: &[u8]) -> Result<(), Denied> {
    let exec: Map<String, Value> = match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => map,
        _ => return Err(denied("The exec create body is not a JSON object.")),
    };
    if let Some(field) = exec.keys().find(|k| !EXEC_FIELDS.contains(&k.as_str())) {
        return Err(denied(format!(
            "Exec field {field} is not allowed through Magnum's Docker proxy."
        )));
    }
    if exec.get("Privileged").is_some_and(|p| !is_empty(p)) {
        return Err(denied(
            "Privileged exec is not allowed through Magnum's Docker proxy.",
        ));
    }
    Ok(())
}

/// `docker info` as a bay user sees it: the Engine's version and platform, not the host's
/// containers, images, paths, registries or plugins.
pub fn filter_info(info: &Value, bay: Uuid) -> Value {
    const KEPT: &[&str] = &[
        "ServerVersion",
        "OperatingSystem",
        "OSType",
        "OSVersion",
        "Architecture",
        "KernelVersion",
        "NCPU",
        "MemTotal",
        "Driver",
        "CgroupDriver",
        "CgroupVersion",
        "DefaultRuntime",
    ];
    let mut out = Map::new();
    for key in KEPT {
        if let Some(value) = info.get(*key) {
            out.insert((*key).to_owned(), value.clone());
        }
    }
    out.insert("Name".into(), Value::String(format!("magnum-bay-{bay}")));
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok(method: &str, path: &str) -> Route {
        route(method, path, None).unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    #[test]
    fn versioned_and_plain_paths_route_alike() {
        assert_eq!(unversioned("/v1.47/containers/json"), "/containers/json");
        assert_eq!(unversioned("/v1/info"), "/info");
        assert_eq!(unversioned("/volumes"), "/volumes");
        assert_eq!(unversioned("/vx/info"), "/vx/info");
        for prefix in ["", "/v1.41", "/v1.47"] {
            assert_eq!(ok("HEAD", &format!("{prefix}/_ping")), Route::Ping);
            assert_eq!(ok("GET", &format!("{prefix}/_ping")), Route::Ping);
            assert_eq!(ok("GET", &format!("{prefix}/version")), Route::Version);
            assert_eq!(ok("GET", &format!("{prefix}/info")), Route::Info);
            assert_eq!(
                ok("GET", &format!("{prefix}/containers/json")),
                Route::ListContainers
            );
            assert_eq!(
                ok("POST", &format!("{prefix}/containers/create")),
                Route::CreateContainer
            );
        }
    }

    #[test]
    fn container_and_exec_routes_name_their_object() {
        for (method, path, op) in [
            ("GET", "/v1.47/containers/abc123/json", ContainerOp::Inspect),
            ("GET", "/containers/web-1/logs", ContainerOp::Logs),
            ("POST", "/containers/abc123/start", ContainerOp::Control),
            ("POST", "/containers/abc123/kill", ContainerOp::Control),
            ("POST", "/containers/abc123/wait", ContainerOp::Control),
            ("POST", "/containers/abc123/exec", ContainerOp::ExecCreate),
            ("POST", "/containers/abc123/attach", ContainerOp::Attach),
            ("DELETE", "/v1.47/containers/abc123", ContainerOp::Remove),
        ] {
            let Route::Container { id, op: got } = ok(method, path) else {
                panic!("{path}");
            };
            assert_eq!(got, op, "{path}");
            assert!(id == "abc123" || id == "web-1");
        }
        assert_eq!(
            ok("POST", "/v1.47/exec/deadbeef/start"),
            Route::Exec {
                id: "deadbeef".into()
            }
        );
        assert_eq!(
            ok("GET", "/exec/deadbeef/json"),
            Route::Exec {
                id: "deadbeef".into()
            }
        );
        assert_eq!(ok("GET", "/images/json"), Route::ListImages);
        assert_eq!(
            ok("GET", "/images/magnum-test/busybox:latest/json"),
            Route::InspectImage
        );
        assert_eq!(
            route(
                "POST",
                "/images/create",
                Some("fromImage=busybox&tag=latest")
            ),
            Ok(Route::PullImage)
        );
    }

    #[test]
    fn everything_else_is_refused() {
        for (method, path, query) in [
            ("GET", "/volumes", None),
            ("POST", "/volumes/create", None),
            ("DELETE", "/volumes/magnum-claim", None),
            ("GET", "/networks", None),
            ("POST", "/networks/create", None),
            ("POST", "/containers/prune", None),
            ("POST", "/build", None),
            ("POST", "/swarm/init", None),
            ("GET", "/secrets", None),
            ("GET", "/events", None),
            ("GET", "/system/df", None),
            ("POST", "/plugins/pull", None),
            ("GET", "/containers/abc/archive", None),
            ("PUT", "/containers/abc/archive", None),
            ("GET", "/containers/abc/export", None),
            ("POST", "/containers/abc/update", None),
            ("POST", "/containers/abc/rename", None),
            ("POST", "/commit", None),
            ("DELETE", "/images/busybox", None),
            ("POST", "/images/busybox/push", None),
            ("POST", "/images/create", Some("fromSrc=-")),
            (
                "POST",
                "/images/create",
                Some("fromImage=x&fromSrc=http://x"),
            ),
            ("POST", "/images/create", None),
            ("DELETE", "/containers/abc", Some("link=1")),
            ("GET", "/containers/../json", None),
            ("GET", "/containers/%2e%2e/json", None),
            ("GET", "/containers/a%2Fb/json", None),
            ("GET", "/containers//json", None),
            ("DELETE", "/containers/create/x", None),
            ("GET", "/images/../json", None),
            ("GET", "", None),
            ("GET", "/v1.47", None),
            ("POST", "/_ping", None),
            ("GET", "/exec/abc/start", None),
            ("POST", "/session", None),
        ] {
            let err = route(method, path, query).expect_err(path);
            assert!(
                err.0.contains("not allowed") || err.0.contains("Only image pulls"),
                "{err}"
            );
        }
    }

    #[test]
    fn container_lists_are_confined_to_the_bay() {
        let bay = Uuid::new_v4();
        let ours = format!("{BAY_LABEL}={bay}");
        let filters = |q: &str| -> Value {
            let pairs = query_pairs(Some(q));
            let f = &pairs
                .iter()
                .find(|(k, _)| k == "filters")
                .expect("filters")
                .1;
            serde_json::from_str(f).expect("JSON")
        };
        let q = list_query(None, bay).unwrap();
        assert_eq!(filters(&q), json!({"label": [ours]}));
        let q = list_query(
            Some("all=1&filters=%7B%22status%22%3A%5B%22running%22%5D%7D"),
            bay,
        )
        .unwrap();
        assert!(q.starts_with("all=1&"), "{q}");
        assert_eq!(filters(&q), json!({"status": ["running"], "label": [ours]}));
        // A client's own label filter stays, ANDed with the bay's.
        let own = url::form_urlencoded::byte_serialize(
            json!({"label": {format!("{BAY_LABEL}=other"): true}})
                .to_string()
                .as_bytes(),
        )
        .collect::<String>();
        let q = list_query(Some(&format!("filters={own}")), bay).unwrap();
        assert_eq!(
            filters(&q),
            json!({"label": [format!("{BAY_LABEL}=other"), ours]})
        );
        assert!(list_query(Some("filters=nope"), bay).is_err());
        assert!(list_query(Some("filters=%7B%22label%22%3A1%7D"), bay).is_err());
        assert!(labelled_for(
            Some(&json!({BAY_LABEL: bay.to_string()})),
            bay
        ));
        assert!(!labelled_for(Some(&json!({BAY_LABEL: "x"})), bay));
        assert!(!labelled_for(None, bay));
    }

    /// What `docker run -d --network none IMAGE` (CLI 27) sends, trimmed.
    fn cli_create() -> Value {
        serde_json::from_str(
            r#"{
            "Hostname": "", "Domainname": "", "User": "", "AttachStdin": false,
            "AttachStdout": false, "AttachStderr": false, "Tty": false, "OpenStdin": false,
            "StdinOnce": false, "Env": null, "Cmd": ["sleep", "300"], "Image": "busybox",
            "Volumes": {}, "WorkingDir": "", "Entrypoint": null, "OnBuild": null,
            "Labels": {"app": "web"},
            "HostConfig": {
                "Binds": null, "ContainerIDFile": "", "LogConfig": {"Type": "", "Config": {}},
                "NetworkMode": "none", "PortBindings": {}, "RestartPolicy": {"Name": "no",
                "MaximumRetryCount": 0}, "AutoRemove": false, "VolumeDriver": "",
                "VolumesFrom": null, "ConsoleSize": [0, 0], "CapAdd": null, "CapDrop": null,
                "CgroupnsMode": "", "Dns": [], "DnsOptions": [], "DnsSearch": [],
                "ExtraHosts": null, "GroupAdd": null, "IpcMode": "", "Cgroup": "",
                "Links": null, "OomScoreAdj": 0, "PidMode": "", "Privileged": false,
                "PublishAllPorts": false, "ReadonlyRootfs": false, "SecurityOpt": null,
                "UTSMode": "", "UsernsMode": "", "ShmSize": 0, "Isolation": "",
                "CpuShares": 0, "Memory": 0, "NanoCpus": 0, "CgroupParent": "",
                "BlkioWeight": 0, "BlkioWeightDevice": [], "BlkioDeviceReadBps": [],
                "BlkioDeviceWriteBps": [], "BlkioDeviceReadIOps": [],
                "BlkioDeviceWriteIOps": [], "CpuPeriod": 0, "CpuQuota": 0,
                "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0, "CpusetCpus": "",
                "CpusetMems": "", "Devices": [], "DeviceCgroupRules": null,
                "DeviceRequests": null, "MemoryReservation": 0, "MemorySwap": 0,
                "MemorySwappiness": null, "OomKillDisable": null, "PidsLimit": null,
                "Ulimits": [], "CpuCount": 0, "CpuPercent": 0, "IOMaximumIOps": 0,
                "IOMaximumBandwidth": 0, "MaskedPaths": null, "ReadonlyPaths": null
            },
            "NetworkingConfig": {"EndpointsConfig": {"none": {}}}
        }"#,
        )
        .expect("JSON")
    }

    #[test]
    fn a_plain_create_gets_the_bays_labels() {
        let bay = Uuid::new_v4();
        let body = sanitize_create(cli_create().to_string().as_bytes(), bay, "p1").unwrap();
        let sent: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            sent["Labels"],
            json!({"app": "web", BAY_LABEL: bay.to_string(), PROJECT_LABEL: "p1"})
        );
        assert_eq!(sent["Cmd"], json!(["sleep", "300"]));
        let bare = sanitize_create(br#"{"Image":"busybox"}"#, bay, "p1").unwrap();
        let bare: Value = serde_json::from_slice(&bare).unwrap();
        assert_eq!(bare["Labels"][BAY_LABEL], bay.to_string());
    }

    #[test]
    fn creates_that_reach_the_host_are_refused() {
        let bay = Uuid::new_v4();
        let with_host = |field: &str, value: Value| {
            let mut body = cli_create();
            body["HostConfig"][field] = value;
            body
        };
        let mut bad = vec![
            with_host("Privileged", json!(true)),
            with_host("Binds", json!(["/:/host"])),
            with_host(
                "Mounts",
                json!([{"Type": "bind", "Source": "/", "Target": "/host"}]),
            ),
            with_host("VolumesFrom", json!(["other"])),
            with_host("VolumeDriver", json!("nfs")),
            with_host("Links", json!(["other:db"])),
            with_host("CapAdd", json!(["SYS_ADMIN"])),
            with_host(
                "Devices",
                json!([{"PathOnHost": "/dev/sda", "PathInContainer": "/dev/sda"}]),
            ),
            with_host("DeviceCgroupRules", json!(["a *:* rwm"])),
            with_host("DeviceRequests", json!([{"Count": -1}])),
            with_host("PidMode", json!("host")),
            with_host("PidMode", json!("container:abc")),
            with_host("IpcMode", json!("host")),
            with_host("IpcMode", json!("container:abc")),
            with_host("UTSMode", json!("host")),
            with_host("UsernsMode", json!("host")),
            with_host("NetworkMode", json!("host")),
            with_host("NetworkMode", json!("container:abc")),
            with_host("NetworkMode", json!("tenant-b-net")),
            with_host("CgroupnsMode", json!("host")),
            with_host("SecurityOpt", json!(["seccomp=unconfined"])),
            with_host("SecurityOpt", json!(["apparmor=unconfined"])),
            with_host("CgroupParent", json!("/")),
            with_host("Cgroup", json!("host")),
            with_host("Sysctls", json!({"net.ipv4.ip_forward": "1"})),
            with_host("StorageOpt", json!({"size": "1G"})),
            with_host("MaskedPaths", json!([])),
            with_host("ReadonlyPaths", json!([])),
            with_host("Runtime", json!("sysbox")),
            with_host("LogConfig", json!({"Type": "syslog", "Config": {}})),
            with_host("OomScoreAdj", json!(-1000)),
            with_host(
                "BlkioDeviceReadBps",
                json!([{"Path": "/dev/sda", "Rate": 1}]),
            ),
            with_host("SomethingNew", json!(1)),
            with_host("Isolation", json!("hyperv")),
        ];
        let mut other_net = cli_create();
        other_net["NetworkingConfig"] = json!({"EndpointsConfig": {"tenant-b-net": {}}});
        bad.push(other_net);
        let mut reserved = cli_create();
        reserved["Labels"] = json!({BAY_LABEL: Uuid::new_v4().to_string()});
        bad.push(reserved);
        let mut magnum = cli_create();
        magnum["Labels"] = json!({"magnum.openstack.org/container": "x"});
        bad.push(magnum);
        let mut unknown = cli_create();
        unknown["Unknown"] = json!(true);
        bad.push(unknown);
        bad.push(json!({"Image": "busybox", "HostConfig": "privileged"}));
        bad.push(json!(["not", "an", "object"]));
        for body in bad {
            let text = body.to_string();
            let err = sanitize_create(text.as_bytes(), bay, "p1").expect_err(&text);
            assert!(!err.0.is_empty());
        }
        assert!(sanitize_create(b"{not json", bay, "p1").is_err());
    }

    #[test]
    fn exec_creates_may_not_be_privileged() {
        let plain = json!({"AttachStdout": true, "AttachStderr": true, "Cmd": ["ls"],
            "Privileged": false, "Tty": false, "User": "", "WorkingDir": "", "Env": null,
            "DetachKeys": "", "ConsoleSize": [0, 0], "AttachStdin": false});
        check_exec_create(plain.to_string().as_bytes()).unwrap();
        let mut privileged = plain.clone();
        privileged["Privileged"] = json!(true);
        let err = check_exec_create(privileged.to_string().as_bytes()).unwrap_err();
        assert!(err.0.contains("Privileged"), "{err}");
        let mut unknown = plain;
        unknown["Capabilities"] = json!(["SYS_ADMIN"]);
        assert!(check_exec_create(unknown.to_string().as_bytes()).is_err());
        assert!(check_exec_create(b"[]").is_err());
    }

    #[test]
    fn info_keeps_the_platform_only() {
        let bay = Uuid::new_v4();
        let info = json!({"ServerVersion": "27.5", "OSType": "linux", "Containers": 40,
            "DockerRootDir": "/var/lib/docker", "Name": "host-7", "RegistryConfig": {},
            "Swarm": {}, "NCPU": 8});
        let seen = filter_info(&info, bay);
        assert_eq!(
            seen,
            json!({"ServerVersion": "27.5", "OSType": "linux", "NCPU": 8,
                "Name": format!("magnum-bay-{bay}")})
        );
    }
}
