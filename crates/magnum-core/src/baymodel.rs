//! BayModels (ClusterTemplates): the template a bay is made from (spec/rest-api.md §3.1).

use crate::error::ValidationError;
use crate::fields::{self, FieldKind, FieldSpec, Flags, Mode};
use crate::patch;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;
use uuid::Uuid;

/// The container orchestration engine of a baymodel, which picks the bay driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Coe {
    /// A tenant slice of a registered Kubernetes cluster.
    Kubernetes,
    /// Docker Engine hosts (the docker driver).
    Swarm,
    /// Stored for compatibility; no driver serves it.
    Mesos,
}

impl Coe {
    /// Every COE, in the order error messages list them.
    pub const ALL: [Coe; 3] = [Coe::Kubernetes, Coe::Swarm, Coe::Mesos];

    /// The wire and API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Coe::Kubernetes => "kubernetes",
            Coe::Swarm => "swarm",
            Coe::Mesos => "mesos",
        }
    }

    /// Parses the API spelling.
    pub fn parse(text: &str) -> Option<Self> {
        Coe::ALL.into_iter().find(|c| c.as_str() == text)
    }

    /// The driver that serves bays of this COE (`None`: bays cannot be made).
    pub fn driver(self) -> Option<&'static str> {
        match self {
            Coe::Kubernetes => Some("kubernetes"),
            Coe::Swarm => Some("docker"),
            Coe::Mesos => None,
        }
    }

    /// Network drivers accepted for this COE, and the default one.
    pub fn network_drivers(self, kubernetes_allowed: &[String]) -> (Vec<String>, &'static str) {
        match self {
            Coe::Kubernetes => (kubernetes_allowed.to_vec(), "flannel"),
            Coe::Swarm => (vec!["docker".into(), "flannel".into()], "docker"),
            Coe::Mesos => (vec!["docker".into()], "docker"),
        }
    }
}

impl fmt::Display for Coe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored baymodel. Field names are the API's and the RPC object's (BayModel 1.7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BayModel {
    /// Database id; internal.
    pub id: i64,
    /// Public identifier.
    pub uuid: Uuid,
    /// Owning project.
    pub project_id: String,
    /// Creating user.
    pub user_id: String,
    /// Display name, unique in its project.
    pub name: Option<String>,
    /// Container orchestration engine.
    pub coe: Coe,
    /// Image for nodes; opaque.
    pub image_id: String,
    /// Flavor of worker nodes.
    pub flavor_id: Option<String>,
    /// Flavor of master nodes.
    pub master_flavor_id: Option<String>,
    /// Key pair name.
    pub keypair_id: Option<String>,
    /// DNS server(s), comma-separated IPs.
    pub dns_nameserver: Option<String>,
    /// External network.
    pub external_network_id: Option<String>,
    /// Fixed network.
    pub fixed_network: Option<String>,
    /// Fixed subnet.
    pub fixed_subnet: Option<String>,
    /// Network driver of the COE.
    pub network_driver: Option<String>,
    /// Port of the COE's API server.
    pub apiserver_port: Option<i32>,
    /// Docker volume size in GB.
    pub docker_volume_size: Option<i32>,
    /// Docker storage driver.
    pub docker_storage_driver: Option<String>,
    /// Public key installed on nodes.
    pub ssh_authorized_key: Option<String>,
    /// Distribution, as sent.
    pub cluster_distro: Option<String>,
    /// HTTP proxy for nodes.
    pub http_proxy: Option<String>,
    /// HTTPS proxy for nodes.
    pub https_proxy: Option<String>,
    /// Hosts not proxied.
    pub no_proxy: Option<String>,
    /// Volume driver.
    pub volume_driver: Option<String>,
    /// Insecure registry address.
    pub insecure_registry: Option<String>,
    /// Free-form labels that drivers read.
    pub labels: BTreeMap<String, String>,
    /// Whether a local registry runs in bays.
    pub registry_enabled: bool,
    /// Whether TLS is off for the COE API.
    pub tls_disabled: bool,
    /// Visible to every project.
    pub public: bool,
    /// Hidden from lists unless asked for.
    pub hidden: bool,
    /// Whether nodes get floating IPs.
    pub floating_ip_enabled: bool,
    /// Whether masters sit behind a load balancer.
    pub master_lb_enabled: bool,
    /// `vm` or `bm`.
    pub server_type: String,
    /// Comma-separated tags.
    pub tags: Option<String>,
    /// Driver chosen at create from `coe`.
    pub driver: Option<String>,
    /// When it was stored.
    #[serde(with = "crate::time::option")]
    pub created_at: Option<DateTime<Utc>>,
    /// When it last changed; null until then.
    #[serde(with = "crate::time::option")]
    pub updated_at: Option<DateTime<Utc>>,
}

/// The `argument` named in baymodel body errors (`Unknown attribute for argument baymodel: …`).
pub const BAYMODEL_ARGUMENT: &str = "baymodel";

/// The `argument` named in cluster template body errors, as Magnum's controller calls it.
pub const CLUSTER_TEMPLATE_ARGUMENT: &str = "cluster_template";

/// Prefix of the name given to a baymodel or cluster template created without one (§2.1).
pub const NAME_PREFIX: &str = "template";

/// The fields PATCH may change while a bay references the baymodel (§3.1); others are a 400.
pub const REFERENCED_PATCHABLE: &[&str] = &["name", "public", "hidden"];

/// API spellings of [`Coe::ALL`], for the field table.
const COE_NAMES: &[&str] = &["kubernetes", "swarm", "mesos"];
const WP: Flags = Flags::WRITABLE.with(Flags::PATCHABLE);
const MP: Flags = Flags::MANDATORY.with(Flags::PATCHABLE);
const RO: Flags = Flags::READ_ONLY;
/// The ≤ 255 character strings stored for drivers.
const SHORT: FieldKind = FieldKind::String { min: 0, max: 255 };

/// Every field of a baymodel or cluster template body, as the §3.1 table gives them.
pub static BAYMODEL_FIELDS: &[FieldSpec] = &[
    FieldSpec::new("uuid", FieldKind::Uuid, Flags::WRITABLE),
    FieldSpec::new("name", FieldKind::PrintableName, WP),
    FieldSpec::new("coe", FieldKind::Enum(COE_NAMES), MP),
    FieldSpec::new("image_id", FieldKind::String { min: 1, max: 255 }, MP),
    FieldSpec::new("keypair_id", SHORT, WP),
    FieldSpec::new("flavor_id", SHORT, WP),
    FieldSpec::new("master_flavor_id", SHORT, WP),
    FieldSpec::new("external_network_id", SHORT, WP),
    FieldSpec::new("fixed_network", SHORT, WP),
    FieldSpec::new("fixed_subnet", SHORT, WP),
    FieldSpec::new("volume_driver", SHORT, WP),
    FieldSpec::new("insecure_registry", SHORT, WP),
    FieldSpec::new("http_proxy", SHORT, WP),
    FieldSpec::new("https_proxy", SHORT, WP),
    FieldSpec::new("no_proxy", SHORT, WP),
    FieldSpec::new("cluster_distro", SHORT, WP),
    FieldSpec::new("dns_nameserver", FieldKind::IpList, WP),
    // Checked against the coe afterwards (`check_network_driver`).
    FieldSpec::new("network_driver", FieldKind::String { min: 1, max: 255 }, WP),
    FieldSpec::new(
        "apiserver_port",
        FieldKind::Int {
            min: 1024,
            max: 65535,
        },
        WP,
    ),
    FieldSpec::new(
        "docker_volume_size",
        FieldKind::Int {
            min: 1,
            max: i32::MAX as i64,
        },
        WP,
    ),
    FieldSpec::new(
        "docker_storage_driver",
        FieldKind::Enum(&["devicemapper", "overlay", "overlay2"]),
        WP,
    ),
    FieldSpec::new(
        "ssh_authorized_key",
        FieldKind::String {
            min: 0,
            max: usize::MAX,
        },
        WP,
    ),
    FieldSpec::new("labels", FieldKind::Dict, WP),
    FieldSpec::new("registry_enabled", FieldKind::Bool, WP),
    FieldSpec::new("tls_disabled", FieldKind::Bool, WP),
    FieldSpec::new("master_lb_enabled", FieldKind::Bool, WP),
    FieldSpec::new("floating_ip_enabled", FieldKind::Bool, WP),
    FieldSpec::new("public", FieldKind::Bool, WP),
    FieldSpec::new("hidden", FieldKind::Bool, WP),
    FieldSpec::new("server_type", FieldKind::Enum(&["vm", "bm"]), WP),
    FieldSpec::new("tags", SHORT, WP),
    FieldSpec::new("driver", FieldKind::Opaque, RO),
    FieldSpec::new("project_id", FieldKind::Opaque, RO),
    FieldSpec::new("user_id", FieldKind::Opaque, RO),
    FieldSpec::new("links", FieldKind::Opaque, RO),
    FieldSpec::new("created_at", FieldKind::Opaque, RO),
    FieldSpec::new("updated_at", FieldKind::Opaque, RO),
];

/// Fields a list may sort by: the scalar fields of the API view (and `id`, the default).
pub const SORT_KEYS: &[&str] = &[
    "id",
    "uuid",
    "name",
    "coe",
    "image_id",
    "flavor_id",
    "master_flavor_id",
    "keypair_id",
    "dns_nameserver",
    "external_network_id",
    "fixed_network",
    "fixed_subnet",
    "network_driver",
    "apiserver_port",
    "docker_volume_size",
    "docker_storage_driver",
    "cluster_distro",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "volume_driver",
    "insecure_registry",
    "registry_enabled",
    "tls_disabled",
    "public",
    "hidden",
    "floating_ip_enabled",
    "master_lb_enabled",
    "server_type",
    "tags",
    "driver",
    "project_id",
    "user_id",
    "created_at",
    "updated_at",
];

/// Operator settings that baymodel validation depends on (`[cluster_template]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BayModelRules {
    /// `kubernetes_allowed_network_drivers`: what a kubernetes baymodel may name.
    pub kubernetes_allowed_network_drivers: Vec<String>,
}

impl Default for BayModelRules {
    fn default() -> Self {
        BayModelRules {
            kubernetes_allowed_network_drivers: vec!["flannel".to_owned(), "calico".to_owned()],
        }
    }
}

/// A baymodel's writable fields, validated and with defaults applied: what a create stores and
/// what a PATCH produces. `name` is `None` on create when none was sent (see [`NAME_PREFIX`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BayModelSpec {
    /// Requested uuid; `None`: generate one.
    pub uuid: Option<Uuid>,
    /// Display name; `None`: generate `template-<8 hex>` once the uuid is known.
    pub name: Option<String>,
    /// Container orchestration engine.
    pub coe: Coe,
    /// Image for nodes; opaque.
    pub image_id: String,
    /// Flavor of worker nodes.
    pub flavor_id: Option<String>,
    /// Flavor of master nodes.
    pub master_flavor_id: Option<String>,
    /// Key pair name.
    pub keypair_id: Option<String>,
    /// DNS server(s), comma-separated IPs, as sent.
    pub dns_nameserver: Option<String>,
    /// External network.
    pub external_network_id: Option<String>,
    /// Fixed network.
    pub fixed_network: Option<String>,
    /// Fixed subnet.
    pub fixed_subnet: Option<String>,
    /// Network driver; always set after validation (the coe's default if none was sent).
    pub network_driver: Option<String>,
    /// Port of the COE's API server, 1024..65535.
    pub apiserver_port: Option<i32>,
    /// Docker volume size in GB, at least 1.
    pub docker_volume_size: Option<i32>,
    /// `devicemapper`, `overlay` or `overlay2`.
    #[serde(default = "default_storage_driver")]
    pub docker_storage_driver: String,
    /// Public key installed on nodes.
    pub ssh_authorized_key: Option<String>,
    /// Distribution, as sent.
    pub cluster_distro: Option<String>,
    /// HTTP proxy for nodes.
    pub http_proxy: Option<String>,
    /// HTTPS proxy for nodes.
    pub https_proxy: Option<String>,
    /// Hosts not proxied.
    pub no_proxy: Option<String>,
    /// Volume driver.
    pub volume_driver: Option<String>,
    /// Insecure registry address.
    pub insecure_registry: Option<String>,
    /// Free-form labels that drivers read.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Whether a local registry runs in bays.
    #[serde(default)]
    pub registry_enabled: bool,
    /// Whether TLS is off for the COE API.
    #[serde(default)]
    pub tls_disabled: bool,
    /// Visible to every project.
    #[serde(default)]
    pub public: bool,
    /// Hidden from lists unless asked for.
    #[serde(default)]
    pub hidden: bool,
    /// Whether nodes get floating IPs.
    #[serde(default = "default_true")]
    pub floating_ip_enabled: bool,
    /// Whether masters sit behind a load balancer.
    #[serde(default)]
    pub master_lb_enabled: bool,
    /// `vm` or `bm`.
    #[serde(default = "default_server_type")]
    pub server_type: String,
    /// Comma-separated tags.
    pub tags: Option<String>,
}

fn default_storage_driver() -> String {
    "devicemapper".to_owned()
}

fn default_server_type() -> String {
    "vm".to_owned()
}

fn default_true() -> bool {
    true
}

impl BayModelSpec {
    /// Validates a `POST /v1/baymodels` body (§2.4, §3.1) and applies the defaults.
    pub fn from_create_body(body: &Value, rules: &BayModelRules) -> Result<Self, ValidationError> {
        Self::from_create_body_as(BAYMODEL_ARGUMENT, body, rules)
    }

    /// As [`BayModelSpec::from_create_body`], naming the body `argument` in errors
    /// ([`CLUSTER_TEMPLATE_ARGUMENT`] for `/v1/clustertemplates`).
    pub fn from_create_body_as(
        argument: &'static str,
        body: &Value,
        rules: &BayModelRules,
    ) -> Result<Self, ValidationError> {
        let fields = fields::validate_body(argument, BAYMODEL_FIELDS, body, Mode::Create)?;
        // Every value has its normal JSON form now, so this cannot fail short of a table bug.
        let mut spec: BayModelSpec = serde_json::from_value(Value::Object(fields))
            .map_err(|e| ValidationError::Malformed(format!("the {argument}: {e}")))?;
        spec.network_driver = Some(check_network_driver(
            spec.coe,
            spec.network_driver.take(),
            rules,
        )?);
        Ok(spec)
    }

    /// The fields as a body in normal form, every writable field present (unset ones null).
    fn to_fields(&self) -> Map<String, Value> {
        // Serialising plain strings, numbers, a uuid and a string map cannot fail.
        match serde_json::to_value(self) {
            Ok(Value::Object(fields)) => fields,
            _ => Map::new(),
        }
    }
}

/// The network driver a baymodel of `coe` gets: the one sent if that coe allows it, else a 400
/// naming the allowed ones; the coe's default if none was sent (§3.1).
fn check_network_driver(
    coe: Coe,
    sent: Option<String>,
    rules: &BayModelRules,
) -> Result<String, ValidationError> {
    let (allowed, default) = coe.network_drivers(&rules.kubernetes_allowed_network_drivers);
    match sent {
        None => Ok(default.to_owned()),
        Some(driver) if allowed.contains(&driver) => Ok(driver),
        Some(driver) => Err(ValidationError::Invalid {
            field: "network_driver".to_owned(),
            value: driver,
            reason: format!(
                "Allowed network drivers for coe {coe}: {}.",
                allowed.join(", ")
            ),
        }),
    }
}

impl BayModel {
    /// The writable fields of the stored baymodel, as a create body would give them.
    pub fn spec(&self) -> BayModelSpec {
        BayModelSpec {
            uuid: Some(self.uuid),
            name: self.name.clone(),
            coe: self.coe,
            image_id: self.image_id.clone(),
            flavor_id: self.flavor_id.clone(),
            master_flavor_id: self.master_flavor_id.clone(),
            keypair_id: self.keypair_id.clone(),
            dns_nameserver: self.dns_nameserver.clone(),
            external_network_id: self.external_network_id.clone(),
            fixed_network: self.fixed_network.clone(),
            fixed_subnet: self.fixed_subnet.clone(),
            network_driver: self.network_driver.clone(),
            apiserver_port: self.apiserver_port,
            docker_volume_size: self.docker_volume_size,
            docker_storage_driver: self
                .docker_storage_driver
                .clone()
                .unwrap_or_else(default_storage_driver),
            ssh_authorized_key: self.ssh_authorized_key.clone(),
            cluster_distro: self.cluster_distro.clone(),
            http_proxy: self.http_proxy.clone(),
            https_proxy: self.https_proxy.clone(),
            no_proxy: self.no_proxy.clone(),
            volume_driver: self.volume_driver.clone(),
            insecure_registry: self.insecure_registry.clone(),
            labels: self.labels.clone(),
            registry_enabled: self.registry_enabled,
            tls_disabled: self.tls_disabled,
            public: self.public,
            hidden: self.hidden,
            floating_ip_enabled: self.floating_ip_enabled,
            master_lb_enabled: self.master_lb_enabled,
            server_type: self.server_type.clone(),
            tags: self.tags.clone(),
        }
    }
}

/// Applies a PATCH body (§2.5) to a stored baymodel and validates the result as a create body.
///
/// Returns the new fields and the names of those whose value changed, in table order (`[]`
/// changes nothing). A removed `name` is generated again from the uuid; `uuid` cannot change.
/// The caller still checks [`REFERENCED_PATCHABLE`] and [`publish_needed`].
pub fn patched(
    current: &BayModel,
    patch: &Value,
    rules: &BayModelRules,
) -> Result<(BayModelSpec, Vec<&'static str>), ValidationError> {
    let before = current.spec();
    let before_fields = before.to_fields();
    let (fields, _) = patch::apply(BAYMODEL_FIELDS, &before_fields, patch)?;
    let mut after = BayModelSpec::from_create_body(&Value::Object(fields), rules)?;
    if after.name.is_none() && before.name.is_some() {
        after.name = Some(fields::generated_name(NAME_PREFIX, &current.uuid));
    }
    let after_fields = after.to_fields();
    let changed = BAYMODEL_FIELDS
        .iter()
        .filter(|spec| before_fields.get(spec.name) != after_fields.get(spec.name))
        .map(|spec| spec.name)
        .collect();
    Ok((after, changed))
}

/// Whether the publish policy (`baymodel:publish`) must allow this: on create (`before` is
/// `None`) when `public` or `hidden` is set, on update when either changes (§3.1).
pub fn publish_needed(before: Option<&BayModel>, after: &BayModelSpec) -> bool {
    match before {
        None => after.public || after.hidden,
        Some(before) => before.public != after.public || before.hidden != after.hidden,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const UUID: &str = "5d1c7b0e-3f6a-4c2d-9e8b-1a2b3c4d5e6f";

    #[expect(clippy::needless_pass_by_value, reason = "tests pass json! literals")]
    fn create(body: Value) -> Result<BayModelSpec, ValidationError> {
        BayModelSpec::from_create_body(&body, &BayModelRules::default())
    }

    fn create_with(extra: Value) -> Result<BayModelSpec, ValidationError> {
        let mut body = json!({"coe": "kubernetes", "image_id": "fedora-atomic"});
        if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
            body.extend(extra);
        }
        create(body)
    }

    fn message<T: fmt::Debug>(result: Result<T, ValidationError>) -> String {
        result.unwrap_err().to_string()
    }

    /// A stored baymodel as a create with `extra` would have made it.
    fn stored(extra: Value) -> BayModel {
        let spec = create_with(extra).unwrap();
        BayModel {
            id: 7,
            uuid: Uuid::parse_str(UUID).unwrap(),
            project_id: "p1".into(),
            user_id: "u1".into(),
            name: Some(spec.name.unwrap_or_else(|| "template-5d1c7b0e".into())),
            coe: spec.coe,
            image_id: spec.image_id,
            flavor_id: spec.flavor_id,
            master_flavor_id: spec.master_flavor_id,
            keypair_id: spec.keypair_id,
            dns_nameserver: spec.dns_nameserver,
            external_network_id: spec.external_network_id,
            fixed_network: spec.fixed_network,
            fixed_subnet: spec.fixed_subnet,
            network_driver: spec.network_driver,
            apiserver_port: spec.apiserver_port,
            docker_volume_size: spec.docker_volume_size,
            docker_storage_driver: Some(spec.docker_storage_driver),
            ssh_authorized_key: spec.ssh_authorized_key,
            cluster_distro: spec.cluster_distro,
            http_proxy: spec.http_proxy,
            https_proxy: spec.https_proxy,
            no_proxy: spec.no_proxy,
            volume_driver: spec.volume_driver,
            insecure_registry: spec.insecure_registry,
            labels: spec.labels,
            registry_enabled: spec.registry_enabled,
            tls_disabled: spec.tls_disabled,
            public: spec.public,
            hidden: spec.hidden,
            floating_ip_enabled: spec.floating_ip_enabled,
            master_lb_enabled: spec.master_lb_enabled,
            server_type: spec.server_type,
            tags: spec.tags,
            driver: spec.coe.driver().map(str::to_owned),
            created_at: crate::time::from_wire("2015-10-19T12:34:56Z"),
            updated_at: None,
        }
    }

    #[expect(clippy::needless_pass_by_value, reason = "tests pass json! literals")]
    fn patch(
        current: &BayModel,
        ops: Value,
    ) -> Result<(BayModelSpec, Vec<&'static str>), ValidationError> {
        patched(current, &ops, &BayModelRules::default())
    }

    #[test]
    fn a_minimal_body_gets_every_default() {
        let spec = create_with(json!({})).unwrap();
        assert_eq!(spec.uuid, None);
        assert_eq!(spec.name, None);
        assert_eq!(spec.coe, Coe::Kubernetes);
        assert_eq!(spec.image_id, "fedora-atomic");
        assert_eq!(spec.network_driver.as_deref(), Some("flannel"));
        assert_eq!(spec.docker_storage_driver, "devicemapper");
        assert_eq!(spec.server_type, "vm");
        assert!(spec.labels.is_empty());
        assert!(spec.floating_ip_enabled);
        assert!(!spec.registry_enabled && !spec.tls_disabled && !spec.master_lb_enabled);
        assert!(!spec.public && !spec.hidden);
        assert_eq!((spec.apiserver_port, spec.docker_volume_size), (None, None));
        assert_eq!(
            (spec.flavor_id, spec.dns_nameserver, spec.tags),
            (None, None, None)
        );
    }

    #[test]
    fn a_full_body_is_kept_as_sent() {
        let spec = create_with(json!({
            "uuid": UUID.to_uppercase(),
            "name": "k8s template",
            "keypair_id": "default",
            "flavor_id": "m1.small",
            "master_flavor_id": "m1.medium",
            "external_network_id": "public",
            "fixed_network": "private",
            "fixed_subnet": "private-subnet",
            "volume_driver": "cinder",
            "insecure_registry": "10.0.0.1:5000",
            "http_proxy": "http://proxy:3128",
            "https_proxy": "http://proxy:3128",
            "no_proxy": "localhost,10.0.0.0/8",
            "cluster_distro": "fedora-atomic",
            "dns_nameserver": "8.8.8.8,8.8.4.4",
            "network_driver": "calico",
            "apiserver_port": 6443,
            "docker_volume_size": 5,
            "docker_storage_driver": "overlay2",
            "ssh_authorized_key": format!("ssh-rsa {} me@host", "A".repeat(700)),
            "labels": {"kube_tag": "v1.30.0"},
            "registry_enabled": true,
            "tls_disabled": true,
            "master_lb_enabled": true,
            "floating_ip_enabled": false,
            "public": true,
            "hidden": true,
            "server_type": "bm",
            "tags": "t1,t2",
        }))
        .unwrap();
        assert_eq!(spec.uuid, Some(Uuid::parse_str(UUID).unwrap()));
        assert_eq!(spec.name.as_deref(), Some("k8s template"));
        assert_eq!(spec.dns_nameserver.as_deref(), Some("8.8.8.8,8.8.4.4"));
        assert_eq!(spec.network_driver.as_deref(), Some("calico"));
        assert_eq!(
            (spec.apiserver_port, spec.docker_volume_size),
            (Some(6443), Some(5))
        );
        assert_eq!(spec.docker_storage_driver, "overlay2");
        assert_eq!(spec.labels["kube_tag"], "v1.30.0");
        assert!(spec.registry_enabled && spec.tls_disabled && spec.master_lb_enabled);
        assert!(!spec.floating_ip_enabled && spec.public && spec.hidden);
        assert_eq!(
            (spec.server_type.as_str(), spec.tags.as_deref()),
            ("bm", Some("t1,t2"))
        );
        assert_eq!(spec.no_proxy.as_deref(), Some("localhost,10.0.0.0/8"));
    }

    #[test]
    fn digit_strings_are_integers() {
        let spec =
            create_with(json!({"docker_volume_size": "2", "apiserver_port": "8443"})).unwrap();
        assert_eq!(
            (spec.docker_volume_size, spec.apiserver_port),
            (Some(2), Some(8443))
        );
    }

    #[test]
    fn boolean_words_are_booleans() {
        let spec = create_with(json!({
            "tls_disabled": "False",
            "registry_enabled": "yes",
            "floating_ip_enabled": "off",
            "master_lb_enabled": 1,
            "public": "TRUE",
            "hidden": "n",
        }))
        .unwrap();
        assert!(!spec.tls_disabled && spec.registry_enabled && !spec.floating_ip_enabled);
        assert!(spec.master_lb_enabled && spec.public && !spec.hidden);
        assert_eq!(
            message(create_with(json!({"tls_disabled": "maybe"}))),
            "Invalid input for field/attribute tls_disabled. Value: maybe. \
             Expected a boolean: true/false, yes/no, on/off, t/f, y/n or 1/0."
        );
    }

    #[test]
    fn null_on_create_means_the_default() {
        let spec = create_with(json!({
            "uuid": null,
            "name": null,
            "network_driver": null,
            "docker_storage_driver": null,
            "labels": null,
            "floating_ip_enabled": null,
            "server_type": null,
            "public": null,
        }))
        .unwrap();
        assert_eq!(spec, create_with(json!({})).unwrap());
    }

    #[test]
    fn explicit_nulls_leave_optional_strings_unset() {
        let nulls: Map<String, Value> = [
            "keypair_id",
            "flavor_id",
            "master_flavor_id",
            "external_network_id",
            "fixed_network",
            "fixed_subnet",
            "volume_driver",
            "insecure_registry",
            "http_proxy",
            "https_proxy",
            "no_proxy",
            "cluster_distro",
            "dns_nameserver",
            "apiserver_port",
            "docker_volume_size",
            "ssh_authorized_key",
            "tags",
        ]
        .into_iter()
        .map(|name| (name.to_owned(), Value::Null))
        .collect();
        assert_eq!(
            create_with(Value::Object(nulls)).unwrap(),
            create_with(json!({})).unwrap()
        );
    }

    #[test]
    fn coe_and_image_id_are_mandatory() {
        assert_eq!(
            message(create(json!({"image_id": "i"}))),
            "Invalid input for field/attribute coe. Value: None. Mandatory field missing."
        );
        assert_eq!(
            message(create(json!({"coe": "swarm", "image_id": null}))),
            "Invalid input for field/attribute image_id. Value: None. Mandatory field missing."
        );
    }

    #[test]
    fn an_unknown_coe_is_a_client_error() {
        assert_eq!(
            message(create_with(json!({"coe": "nomad"}))),
            "Invalid input for field/attribute coe. Value: nomad. \
             Value should be one of: kubernetes, swarm, mesos."
        );
    }

    #[test]
    fn image_id_is_one_to_255_characters() {
        assert!(create_with(json!({"image_id": "i".repeat(255)})).is_ok());
        assert!(create_with(json!({"image_id": ""})).is_err());
        assert!(create_with(json!({"image_id": "i".repeat(256)})).is_err());
    }

    #[test]
    fn the_short_strings_and_tags_hold_at_most_255_characters() {
        for field in [
            "keypair_id",
            "flavor_id",
            "master_flavor_id",
            "external_network_id",
            "fixed_network",
            "fixed_subnet",
            "volume_driver",
            "insecure_registry",
            "http_proxy",
            "https_proxy",
            "no_proxy",
            "cluster_distro",
            "tags",
        ] {
            assert!(
                create_with(json!({field: "x".repeat(255)})).is_ok(),
                "{field}"
            );
            assert_eq!(
                message(create_with(json!({field: "x".repeat(256)}))),
                format!(
                    "Invalid input for field/attribute {field}. Value: {}. \
                     Value should have a maximum character requirement of 255.",
                    "x".repeat(256)
                )
            );
        }
    }

    #[test]
    fn names_follow_section_2_1() {
        assert!(create_with(json!({"name": "n".repeat(255)})).is_ok());
        assert_eq!(
            message(create_with(json!({"name": "n".repeat(256)}))),
            format!(
                "Invalid input for field/attribute name. Value: {}. \
                 Value should have a maximum character requirement of 255.",
                "n".repeat(256)
            )
        );
        assert!(message(create_with(json!({"name": UUID}))).ends_with("A name may not be a UUID."));
        assert!(message(create_with(json!({"name": "detail"}))).contains("'detail' is reserved"));
        assert!(create_with(json!({"name": ""})).is_err());
        assert!(create_with(json!({"name": "bad\u{7}name"})).is_err());
    }

    #[test]
    fn a_malformed_uuid_is_refused() {
        assert_eq!(
            message(create_with(json!({"uuid": "1234"}))),
            "Invalid input for field/attribute uuid. Value: 1234. Expected a uuid."
        );
    }

    #[test]
    fn dns_nameserver_takes_ip_addresses_only() {
        assert!(create_with(json!({"dns_nameserver": "8.8.8.8"})).is_ok());
        assert!(create_with(json!({"dns_nameserver": "2001:4860:4860::8888,8.8.8.8"})).is_ok());
        assert_eq!(
            message(create_with(json!({"dns_nameserver": "dns.google"}))),
            "Invalid input for field/attribute dns_nameserver. Value: dns.google. \
             Expected an IP address or comma-separated IP addresses."
        );
    }

    #[test]
    fn apiserver_port_is_between_1024_and_65535() {
        assert_eq!(
            message(create_with(json!({"apiserver_port": 80}))),
            "Invalid input for field/attribute apiserver_port. Value: 80. \
             Value should be greater or equal to 1024."
        );
        assert!(create_with(json!({"apiserver_port": 65536})).is_err());
        assert!(create_with(json!({"apiserver_port": "https"})).is_err());
        assert!(create_with(json!({"apiserver_port": 1024})).is_ok());
        assert!(create_with(json!({"apiserver_port": 65535})).is_ok());
    }

    #[test]
    fn docker_volume_size_is_at_least_one() {
        assert!(create_with(json!({"docker_volume_size": 0})).is_err());
        assert!(create_with(json!({"docker_volume_size": -5})).is_err());
        assert!(create_with(json!({"docker_volume_size": 4_294_967_296_i64})).is_err());
        assert_eq!(
            create_with(json!({"docker_volume_size": 1}))
                .unwrap()
                .docker_volume_size,
            Some(1)
        );
    }

    #[test]
    fn docker_storage_driver_and_server_type_are_enumerations() {
        for driver in ["devicemapper", "overlay", "overlay2"] {
            assert!(create_with(json!({"docker_storage_driver": driver})).is_ok());
        }
        assert_eq!(
            message(create_with(json!({"docker_storage_driver": "zfs"}))),
            "Invalid input for field/attribute docker_storage_driver. Value: zfs. \
             Value should be one of: devicemapper, overlay, overlay2."
        );
        assert!(create_with(json!({"server_type": "bm"})).is_ok());
        assert!(create_with(json!({"server_type": "container"})).is_err());
    }

    #[test]
    fn labels_are_a_string_dict_with_scalars_stringified() {
        let spec = create_with(json!({"labels": {"a": 1, "b": false, "c": "x"}})).unwrap();
        let expected: BTreeMap<String, String> = [("a", "1"), ("b", "false"), ("c", "x")]
            .map(|(k, v)| (k.into(), v.into()))
            .into();
        assert_eq!(spec.labels, expected);
        assert!(create_with(json!({"labels": {"a": [1]}})).is_err());
        assert!(create_with(json!({"labels": "{'a': 'b'}"})).is_err());
        assert!(create_with(json!({"labels": ["a"]})).is_err());
    }

    #[test]
    fn network_drivers_depend_on_the_coe() {
        let driver = |coe: &str, sent: Value| {
            create(json!({"coe": coe, "image_id": "i", "network_driver": sent}))
                .map(|spec| spec.network_driver.unwrap_or_default())
        };
        assert_eq!(driver("kubernetes", Value::Null).unwrap(), "flannel");
        assert_eq!(driver("kubernetes", json!("calico")).unwrap(), "calico");
        assert_eq!(driver("swarm", Value::Null).unwrap(), "docker");
        assert_eq!(driver("swarm", json!("flannel")).unwrap(), "flannel");
        assert_eq!(driver("mesos", Value::Null).unwrap(), "docker");
        assert_eq!(
            message(driver("swarm", json!("calico"))),
            "Invalid input for field/attribute network_driver. Value: calico. \
             Allowed network drivers for coe swarm: docker, flannel."
        );
        assert_eq!(
            message(driver("kubernetes", json!("docker"))),
            "Invalid input for field/attribute network_driver. Value: docker. \
             Allowed network drivers for coe kubernetes: flannel, calico."
        );
        assert!(driver("mesos", json!("flannel")).is_err());
        assert!(driver("kubernetes", json!("")).is_err());
    }

    #[test]
    fn the_kubernetes_network_drivers_come_from_the_rules() {
        let rules = BayModelRules {
            kubernetes_allowed_network_drivers: vec!["cilium".into()],
        };
        let body =
            |driver: &str| json!({"coe": "kubernetes", "image_id": "i", "network_driver": driver});
        assert!(BayModelSpec::from_create_body(&body("cilium"), &rules).is_ok());
        assert!(BayModelSpec::from_create_body(&body("calico"), &rules).is_err());
    }

    #[test]
    fn read_only_and_unknown_attributes_are_refused() {
        for field in [
            "driver",
            "project_id",
            "user_id",
            "links",
            "created_at",
            "updated_at",
        ] {
            assert_eq!(
                message(create_with(json!({field: "x"}))),
                format!(
                    "Invalid input for field/attribute {field}. Value: x. The attribute is read-only."
                )
            );
        }
        assert_eq!(
            message(create_with(json!({"zone": "a", "id": 3, "bay_count": 1}))),
            "Unknown attribute for argument baymodel: bay_count, id, zone"
        );
        assert_eq!(
            message(BayModelSpec::from_create_body_as(
                CLUSTER_TEMPLATE_ARGUMENT,
                &json!({"zone": "a"}),
                &BayModelRules::default()
            )),
            "Unknown attribute for argument cluster_template: zone"
        );
        assert!(matches!(
            create(json!("coe=swarm")),
            Err(ValidationError::Malformed(_))
        ));
    }

    #[test]
    fn the_field_table_and_the_spec_list_the_same_writable_fields() {
        let spec_fields: Vec<String> = create_with(json!({}))
            .unwrap()
            .to_fields()
            .keys()
            .cloned()
            .collect();
        let mut table: Vec<String> = BAYMODEL_FIELDS
            .iter()
            .filter(|spec| spec.is_writable())
            .map(|spec| spec.name.to_owned())
            .collect();
        table.sort();
        assert_eq!(spec_fields, table);
        assert!(
            BAYMODEL_FIELDS
                .iter()
                .filter(|spec| spec.is_writable() && spec.name != "uuid")
                .all(|spec| spec.is_patchable())
        );
        assert_eq!(COE_NAMES, Coe::ALL.map(Coe::as_str));
        for name in REFERENCED_PATCHABLE {
            assert!(fields::find(BAYMODEL_FIELDS, name).is_some_and(FieldSpec::is_patchable));
        }
    }

    #[test]
    fn a_stored_baymodel_gives_back_the_spec_it_was_made_from() {
        let current = stored(json!({"name": "t", "labels": {"a": "1"}, "public": true}));
        let mut expected =
            create_with(json!({"name": "t", "labels": {"a": "1"}, "public": true})).unwrap();
        expected.uuid = Some(current.uuid);
        assert_eq!(current.spec(), expected);
        let legacy = BayModel {
            docker_storage_driver: None,
            ..current
        };
        assert_eq!(legacy.spec().docker_storage_driver, "devicemapper");
    }

    #[test]
    fn an_empty_patch_changes_nothing() {
        let current = stored(json!({"name": "t"}));
        let (spec, changed) = patch(&current, json!([])).unwrap();
        assert_eq!(spec, current.spec());
        assert!(changed.is_empty());
    }

    #[test]
    fn patched_values_are_coerced_and_changes_reported_in_table_order() {
        let current = stored(json!({"name": "t", "tls_disabled": true}));
        let (spec, changed) = patch(
            &current,
            json!([
                {"op": "replace", "path": "/tls_disabled", "value": "False"},
                {"op": "add", "path": "/docker_volume_size", "value": "3"},
                {"op": "replace", "path": "/name", "value": "renamed"},
                {"op": "replace", "path": "/public", "value": "yes"},
                {"op": "replace", "path": "/flavor_id", "value": ""},
            ]),
        )
        .unwrap();
        assert!(!spec.tls_disabled && spec.public);
        assert_eq!(spec.docker_volume_size, Some(3));
        assert_eq!(spec.name.as_deref(), Some("renamed"));
        assert_eq!(spec.flavor_id.as_deref(), Some(""));
        assert_eq!(
            changed,
            [
                "name",
                "flavor_id",
                "docker_volume_size",
                "tls_disabled",
                "public"
            ]
        );
    }

    #[test]
    fn python_repr_dicts_are_accepted_in_patch_values() {
        let current = stored(json!({"labels": {"old": "1"}}));
        let (spec, changed) = patch(
            &current,
            json!([{"op": "replace", "path": "/labels", "value": "{'x': 'y'}"}]),
        )
        .unwrap();
        assert_eq!(
            spec.labels,
            BTreeMap::from([("x".to_owned(), "y".to_owned())])
        );
        assert_eq!(changed, ["labels"]);
        let (spec, _) = patch(
            &current,
            json!([{"op": "add", "path": "/labels", "value": {"x": "y"}}]),
        )
        .unwrap();
        assert_eq!(
            spec.labels,
            BTreeMap::from([("x".to_owned(), "y".to_owned())])
        );
    }

    #[test]
    fn label_keys_are_added_and_removed_by_path() {
        let current = stored(json!({"labels": {"a": "1", "b": "2"}}));
        let (spec, changed) = patch(
            &current,
            json!([
                {"op": "add", "path": "/labels/x", "value": "y"},
                {"op": "remove", "path": "/labels/a"},
            ]),
        )
        .unwrap();
        let expected = BTreeMap::from([
            ("b".to_owned(), "2".to_owned()),
            ("x".to_owned(), "y".to_owned()),
        ]);
        assert_eq!(spec.labels, expected);
        assert_eq!(changed, ["labels"]);
    }

    #[test]
    fn removing_a_field_restores_its_default() {
        let current = stored(json!({
            "docker_storage_driver": "overlay2",
            "floating_ip_enabled": false,
            "labels": {"a": "1"},
            "flavor_id": "m1.small",
            "server_type": "bm",
        }));
        let ops: Vec<Value> = [
            "docker_storage_driver",
            "floating_ip_enabled",
            "labels",
            "flavor_id",
            "server_type",
        ]
        .into_iter()
        .map(|field| json!({"op": "remove", "path": format!("/{field}")}))
        .collect();
        let (spec, changed) = patch(&current, Value::Array(ops)).unwrap();
        assert_eq!(spec.docker_storage_driver, "devicemapper");
        assert!(spec.floating_ip_enabled && spec.labels.is_empty());
        assert_eq!((spec.flavor_id, spec.server_type.as_str()), (None, "vm"));
        assert_eq!(changed.len(), 5);
    }

    #[test]
    fn removing_the_name_generates_it_again() {
        let current = stored(json!({"name": "t"}));
        let (spec, changed) = patch(&current, json!([{"op": "remove", "path": "/name"}])).unwrap();
        assert_eq!(spec.name.as_deref(), Some("template-5d1c7b0e"));
        assert_eq!(changed, ["name"]);
    }

    #[test]
    fn removing_coe_or_image_id_is_refused() {
        let current = stored(json!({}));
        assert_eq!(
            message(patch(&current, json!([{"op": "remove", "path": "/coe"}]))),
            "'/coe' is a mandatory attribute and can not be removed"
        );
        assert_eq!(
            message(patch(
                &current,
                json!([{"op": "remove", "path": "/image_id"}])
            )),
            "'/image_id' is a mandatory attribute and can not be removed"
        );
    }

    #[test]
    fn uuid_and_read_only_fields_cannot_be_patched() {
        let current = stored(json!({}));
        for path in [
            "/uuid",
            "/id",
            "/driver",
            "/project_id",
            "/user_id",
            "/links",
            "/created_at",
            "/updated_at",
        ] {
            assert_eq!(
                message(patch(
                    &current,
                    json!([{"op": "replace", "path": path, "value": "x"}])
                )),
                format!("'{path}' is an internal attribute and can not be updated")
            );
        }
    }

    #[test]
    fn unknown_paths_and_bad_ops_are_refused() {
        let current = stored(json!({}));
        assert_eq!(
            message(patch(
                &current,
                json!([{"op": "add", "path": "/bay_count", "value": 1}])
            )),
            "Invalid input for field/attribute path. Value: /bay_count. No such attribute."
        );
        assert_eq!(
            message(patch(
                &current,
                json!([{"op": "move", "from": "/name", "path": "/tags"}])
            )),
            "Invalid input for field/attribute op. Value: move. \
             Value should be one of: add, replace, remove."
        );
        assert!(matches!(
            patch(
                &current,
                json!({"op": "add", "path": "/name", "value": "x"})
            ),
            Err(ValidationError::Malformed(_))
        ));
    }

    #[test]
    fn patched_values_are_validated_as_on_create() {
        let current = stored(json!({}));
        let refuse = |op: Value| patch(&current, json!([op])).unwrap_err().to_string();
        assert!(
            refuse(json!({"op": "replace", "path": "/apiserver_port", "value": "80"}))
                .ends_with("Value should be greater or equal to 1024.")
        );
        assert!(
            refuse(json!({"op": "replace", "path": "/coe", "value": "nomad"}))
                .contains("Value should be one of: kubernetes, swarm, mesos.")
        );
        assert!(
            refuse(json!({"op": "replace", "path": "/name", "value": "n".repeat(256)}))
                .contains("maximum character requirement of 255")
        );
        assert!(
            refuse(json!({"op": "replace", "path": "/name", "value": UUID}))
                .ends_with("A name may not be a UUID.")
        );
        assert!(
            refuse(json!({"op": "replace", "path": "/name", "value": "detail"}))
                .contains("'detail' is reserved")
        );
        assert!(
            refuse(json!({"op": "replace", "path": "/tls_disabled", "value": "maybe"}))
                .contains("Expected a boolean")
        );
        assert!(
            refuse(json!({"op": "add", "path": "/name"}))
                .ends_with("'add' and 'replace' operations need a value.")
        );
    }

    #[test]
    fn network_drivers_are_checked_against_the_patched_coe() {
        let kubernetes = stored(json!({}));
        assert_eq!(
            message(patch(
                &kubernetes,
                json!([{"op": "replace", "path": "/coe", "value": "mesos"}])
            )),
            "Invalid input for field/attribute network_driver. Value: flannel. \
             Allowed network drivers for coe mesos: docker."
        );
        let swarm = stored(json!({"coe": "swarm"}));
        assert_eq!(
            message(patch(
                &swarm,
                json!([{"op": "replace", "path": "/network_driver", "value": "calico"}])
            )),
            "Invalid input for field/attribute network_driver. Value: calico. \
             Allowed network drivers for coe swarm: docker, flannel."
        );
        let (spec, changed) = patch(
            &kubernetes,
            json!([
                {"op": "replace", "path": "/coe", "value": "swarm"},
                {"op": "remove", "path": "/network_driver"},
            ]),
        )
        .unwrap();
        assert_eq!(
            (spec.coe, spec.network_driver.as_deref()),
            (Coe::Swarm, Some("docker"))
        );
        assert_eq!(changed, ["coe", "network_driver"]);
    }

    #[test]
    fn publishing_needs_the_publish_policy_on_create_and_on_change() {
        let private = create_with(json!({})).unwrap();
        let public = create_with(json!({"public": true})).unwrap();
        let hidden = create_with(json!({"hidden": true})).unwrap();
        assert!(!publish_needed(None, &private));
        assert!(publish_needed(None, &public));
        assert!(publish_needed(None, &hidden));
        let stored_public = stored(json!({"public": true}));
        assert!(!publish_needed(Some(&stored_public), &stored_public.spec()));
        assert!(publish_needed(Some(&stored_public), &private));
        let renamed = BayModelSpec {
            name: Some("x".into()),
            ..stored_public.spec()
        };
        assert!(!publish_needed(Some(&stored_public), &renamed));
        assert!(publish_needed(Some(&stored(json!({}))), &hidden));
    }
}
