//! The RPC API, version 1.0 (spec/rpc.md §6, §7): every method with its wire name, the version
//! that introduced it and its reply, for callers; and [`Call`], the decoded request, for servers.

use crate::admin::AdminCall;
use crate::certificates::CertificateCall;
use crate::failure::{RemoteFailure, RpcError};
use crate::object::{Primitive, VersionedObject};
use crate::version::{RPC_API_VERSION, Version};
use crate::workloads::{PodObject, RcObject, ServiceObject, WorkloadCall};
use magnum_core::bay::{Bay, BaySpec};
use magnum_core::baymodel::{BayModel, BayModelSpec};
use magnum_core::certificate::Certificate;
use magnum_core::container::{Container, ContainerSpec};
use magnum_core::manifest::WorkloadKind;
use magnum_core::node::Node;
use magnum_core::nodegroup::{NodeGroup, NodeGroupChange, NodeGroupSpec};
use magnum_core::quota::Quota;
use magnum_core::service::{MagnumService, Stats};
use serde::Serializer;
use serde::de::DeserializeOwned;
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::marker::PhantomData;
use uuid::Uuid;

/// One RPC method as a caller sends it.
pub trait Method {
    /// Wire method name.
    const NAME: &'static str;
    /// RPC API version that introduced the method; sent as the message's `version`.
    const SINCE: Version;
    /// What a successful call returns.
    type Reply;
    /// The `args` object.
    fn args(&self) -> Value;
    /// Decodes the reply's `result`.
    fn decode_reply(result: Value) -> Result<Self::Reply, RpcError>;
    /// Decodes the reply's `result` from its JSON text. The default reads a `Value` and calls
    /// [`Method::decode_reply`]; object replies read their objects straight from the text.
    fn decode_reply_json(result: &RawValue) -> Result<Self::Reply, RpcError> {
        let value = serde_json::from_str(result.get())
            .map_err(|e| RpcError::BadReply(format!("reply is not JSON: {e}")))?;
        Self::decode_reply(value)
    }
}

/// Every method of the API with the version that introduced it; servers check against it.
pub const METHODS: &[(&str, Version)] = &[
    ("ping_conductor", Version::new(1, 0)),
    ("conductor_versions", Version::new(1, 0)),
    ("object_class_action_versions", Version::new(1, 0)),
    ("object_class_action", Version::new(1, 0)),
    ("object_action", Version::new(1, 0)),
    ("baymodel_create", Version::new(1, 0)),
    ("baymodel_update", Version::new(1, 0)),
    ("baymodel_delete", Version::new(1, 0)),
    ("bay_create", Version::new(1, 0)),
    ("bay_update", Version::new(1, 0)),
    ("bay_delete", Version::new(1, 0)),
    ("bay_resize", Version::new(1, 0)),
    ("bay_upgrade", Version::new(1, 0)),
    ("bay_converge", Version::new(1, 0)),
    ("nodegroup_create", Version::new(1, 0)),
    ("nodegroup_update", Version::new(1, 0)),
    ("nodegroup_delete", Version::new(1, 0)),
    ("container_create", Version::new(1, 0)),
    ("container_show", Version::new(1, 0)),
    ("container_delete", Version::new(1, 0)),
    ("container_start", Version::new(1, 0)),
    ("container_stop", Version::new(1, 0)),
    ("container_pause", Version::new(1, 0)),
    ("container_unpause", Version::new(1, 0)),
    ("container_reboot", Version::new(1, 0)),
    ("container_logs", Version::new(1, 0)),
    ("container_exec", Version::new(1, 0)),
    ("pod_create", Version::new(1, 0)),
    ("pod_update", Version::new(1, 0)),
    ("pod_delete", Version::new(1, 0)),
    ("service_create", Version::new(1, 0)),
    ("service_update", Version::new(1, 0)),
    ("service_delete", Version::new(1, 0)),
    ("rc_create", Version::new(1, 0)),
    ("rc_update", Version::new(1, 0)),
    ("rc_delete", Version::new(1, 0)),
    ("sign_certificate", Version::new(1, 0)),
    ("get_ca_certificate", Version::new(1, 0)),
    ("rotate_ca_certificate", Version::new(1, 0)),
    ("credential_rotate", Version::new(1, 0)),
];

impl VersionedObject for BayModel {
    const NAME: &'static str = "BayModel";
    const VERSION: Version = Version::new(1, 7);

    /// Every field in sorted order, written directly: every show, list item and write of a
    /// baymodel goes through here (pinned to the default's bytes by a test).
    fn serialize_sorted<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let time = |at: &Option<chrono::DateTime<chrono::Utc>>| {
            at.map(|at| magnum_core::time::to_wire(&at))
        };
        let mut m = s.serialize_map(Some(37))?;
        m.serialize_entry("apiserver_port", &self.apiserver_port)?;
        m.serialize_entry("cluster_distro", &self.cluster_distro)?;
        m.serialize_entry("coe", &self.coe)?;
        m.serialize_entry("created_at", &time(&self.created_at))?;
        m.serialize_entry("dns_nameserver", &self.dns_nameserver)?;
        m.serialize_entry("docker_storage_driver", &self.docker_storage_driver)?;
        m.serialize_entry("docker_volume_size", &self.docker_volume_size)?;
        m.serialize_entry("driver", &self.driver)?;
        m.serialize_entry("external_network_id", &self.external_network_id)?;
        m.serialize_entry("fixed_network", &self.fixed_network)?;
        m.serialize_entry("fixed_subnet", &self.fixed_subnet)?;
        m.serialize_entry("flavor_id", &self.flavor_id)?;
        m.serialize_entry("floating_ip_enabled", &self.floating_ip_enabled)?;
        m.serialize_entry("hidden", &self.hidden)?;
        m.serialize_entry("http_proxy", &self.http_proxy)?;
        m.serialize_entry("https_proxy", &self.https_proxy)?;
        m.serialize_entry("id", &self.id)?;
        m.serialize_entry("image_id", &self.image_id)?;
        m.serialize_entry("insecure_registry", &self.insecure_registry)?;
        m.serialize_entry("keypair_id", &self.keypair_id)?;
        m.serialize_entry("labels", &self.labels)?;
        m.serialize_entry("master_flavor_id", &self.master_flavor_id)?;
        m.serialize_entry("master_lb_enabled", &self.master_lb_enabled)?;
        m.serialize_entry("name", &self.name)?;
        m.serialize_entry("network_driver", &self.network_driver)?;
        m.serialize_entry("no_proxy", &self.no_proxy)?;
        m.serialize_entry("project_id", &self.project_id)?;
        m.serialize_entry("public", &self.public)?;
        m.serialize_entry("registry_enabled", &self.registry_enabled)?;
        m.serialize_entry("server_type", &self.server_type)?;
        m.serialize_entry("ssh_authorized_key", &self.ssh_authorized_key)?;
        m.serialize_entry("tags", &self.tags)?;
        m.serialize_entry("tls_disabled", &self.tls_disabled)?;
        m.serialize_entry("updated_at", &time(&self.updated_at))?;
        m.serialize_entry("user_id", &self.user_id)?;
        m.serialize_entry("uuid", &self.uuid)?;
        m.serialize_entry("volume_driver", &self.volume_driver)?;
        m.end()
    }
}

impl VersionedObject for Bay {
    const NAME: &'static str = "Bay";
    const VERSION: Version = Version::new(1, 0);
}

impl VersionedObject for Container {
    const NAME: &'static str = "Container";
    const VERSION: Version = Version::new(1, 1);
}

impl VersionedObject for ContainerSpec {
    const NAME: &'static str = "Container";
    const VERSION: Version = Version::new(1, 1);
}

impl VersionedObject for Node {
    const NAME: &'static str = "Node";
    const VERSION: Version = Version::new(1, 0);
}

impl VersionedObject for NodeGroup {
    const NAME: &'static str = "NodeGroup";
    const VERSION: Version = Version::new(1, 0);
}

impl VersionedObject for NodeGroupSpec {
    const NAME: &'static str = "NodeGroup";
    const VERSION: Version = Version::new(1, 0);
}

impl VersionedObject for NodeGroupChange {
    const NAME: &'static str = "NodeGroup";
    const VERSION: Version = Version::new(1, 0);
}

/// Versions of every object this build knows, sent as `object_versions`.
pub fn object_versions() -> BTreeMap<String, String> {
    [
        (BayModel::NAME, BayModel::VERSION),
        (Bay::NAME, Bay::VERSION),
        (Node::NAME, Node::VERSION),
        (NodeGroup::NAME, NodeGroup::VERSION),
        (Container::NAME, Container::VERSION),
        (PodObject::NAME, PodObject::VERSION),
        (ServiceObject::NAME, ServiceObject::VERSION),
        (RcObject::NAME, RcObject::VERSION),
        (MagnumService::NAME, MagnumService::VERSION),
        (Quota::NAME, Quota::VERSION),
        (Stats::NAME, Stats::VERSION),
        (Certificate::NAME, Certificate::VERSION),
    ]
    .into_iter()
    .map(|(name, version)| (name.to_owned(), version.to_string()))
    .collect()
}

fn decode<T: DeserializeOwned>(result: Value) -> Result<T, RpcError> {
    serde_json::from_value(result).map_err(|e| RpcError::BadReply(e.to_string()))
}

fn decode_object<T: VersionedObject>(result: &Value) -> Result<T, RpcError> {
    Primitive::<T>::from_value(result)
        .map(|p| p.data)
        .map_err(|f| RpcError::BadReply(f.message))
}

/// [`decode_object`] from JSON text, without a `Value` tree.
fn decode_object_json<T: VersionedObject>(result: &RawValue) -> Result<T, RpcError> {
    Primitive::<T>::from_json(result.get())
        .map(|p| p.data)
        .map_err(|f| RpcError::BadReply(f.message))
}

/// `ping_conductor`: is any conductor alive? Replies `true`.
#[derive(Debug, Clone, Copy, Default)]
pub struct PingConductor;

impl Method for PingConductor {
    const NAME: &'static str = "ping_conductor";
    const SINCE: Version = Version::new(1, 0);
    type Reply = bool;
    fn args(&self) -> Value {
        json!({})
    }
    fn decode_reply(result: Value) -> Result<bool, RpcError> {
        decode(result)
    }
}

/// `conductor_versions`: the RPC API and object versions every live conductor serves.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConductorVersions;

/// Reply of [`ConductorVersions`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionCaps {
    /// The highest RPC API version all up conductors serve.
    pub rpc_api_cap: String,
    /// Per object, the highest version all up conductors serve.
    pub object_caps: BTreeMap<String, String>,
    /// The conductors considered.
    pub conductors: Vec<ConductorInfo>,
}

/// One conductor in [`VersionCaps`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConductorInfo {
    /// Server name (random per process start).
    pub server: String,
    /// `[DEFAULT] host`.
    pub host: String,
    /// Highest RPC API version it serves.
    pub rpc_api_max: String,
    /// Whether its heartbeat is recent.
    pub up: bool,
}

impl Method for ConductorVersions {
    const NAME: &'static str = "conductor_versions";
    const SINCE: Version = Version::new(1, 0);
    type Reply = VersionCaps;
    fn args(&self) -> Value {
        json!({})
    }
    fn decode_reply(result: Value) -> Result<VersionCaps, RpcError> {
        decode(result)
    }
}

/// How one object is looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// By database id (`get_by_id`, or `get` with an integer).
    Id(i64),
    /// By uuid (`get_by_uuid`, or `get` with a uuid).
    Uuid(Uuid),
    /// By name (`get_by_name`); several matches are a `Conflict`.
    Name(String),
}

impl Lookup {
    fn objmethod_and_arg(&self) -> (&'static str, Value) {
        match self {
            Lookup::Id(id) => ("get_by_id", json!(id)),
            Lookup::Uuid(uuid) => ("get_by_uuid", json!(uuid)),
            Lookup::Name(name) => ("get_by_name", json!(name)),
        }
    }
}

impl From<magnum_core::Ident> for Lookup {
    fn from(ident: magnum_core::Ident) -> Self {
        match ident {
            magnum_core::Ident::Uuid(uuid) => Lookup::Uuid(uuid),
            magnum_core::Ident::Name(name) => Lookup::Name(name),
        }
    }
}

/// Paging, sorting and filtering of a `list` (spec/rpc.md §7.1).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// At most this many items.
    #[serde(default)]
    pub limit: Option<u32>,
    /// Start after the item with this uuid.
    #[serde(default)]
    pub marker: Option<Uuid>,
    /// Column to sort by; `id` is always the secondary key.
    #[serde(default)]
    pub sort_key: Option<String>,
    /// `asc` or `desc`.
    #[serde(default)]
    pub sort_dir: Option<String>,
    /// Column equality filters.
    #[serde(default)]
    pub filters: Option<Map<String, Value>>,
}

/// `object_class_action_versions` with `get_by_*`: one object of kind `T`.
#[derive(Debug, Clone)]
pub struct GetObject<T> {
    /// How to find it.
    pub lookup: Lookup,
    kind: PhantomData<fn() -> T>,
}

impl<T> GetObject<T> {
    /// Looks up one object.
    pub fn new(lookup: impl Into<Lookup>) -> Self {
        GetObject {
            lookup: lookup.into(),
            kind: PhantomData,
        }
    }
}

impl<T: VersionedObject> Method for GetObject<T> {
    const NAME: &'static str = "object_class_action_versions";
    const SINCE: Version = Version::new(1, 0);
    type Reply = T;
    fn args(&self) -> Value {
        let (objmethod, arg) = self.lookup.objmethod_and_arg();
        json!({"objname": T::NAME, "objmethod": objmethod,
               "object_versions": object_versions(), "args": [arg], "kwargs": {}})
    }
    fn decode_reply(result: Value) -> Result<T, RpcError> {
        decode_object(&result)
    }
    fn decode_reply_json(result: &RawValue) -> Result<T, RpcError> {
        decode_object_json(result)
    }
}

/// `object_class_action_versions` with `list`: a page of objects of kind `T`.
#[derive(Debug, Clone)]
pub struct ListObjects<T> {
    /// Paging and filters.
    pub query: ListQuery,
    kind: PhantomData<fn() -> T>,
}

impl<T> ListObjects<T> {
    /// Lists objects.
    pub fn new(query: ListQuery) -> Self {
        ListObjects {
            query,
            kind: PhantomData,
        }
    }
}

impl<T: VersionedObject> Method for ListObjects<T> {
    const NAME: &'static str = "object_class_action_versions";
    const SINCE: Version = Version::new(1, 0);
    type Reply = Vec<T>;
    fn args(&self) -> Value {
        json!({"objname": T::NAME, "objmethod": "list",
               "object_versions": object_versions(), "args": [],
               "kwargs": serde_json::to_value(&self.query).unwrap_or_default()})
    }
    fn decode_reply(result: Value) -> Result<Vec<T>, RpcError> {
        match result {
            Value::Array(items) => items.iter().map(decode_object).collect(),
            other => Err(RpcError::BadReply(format!("expected a list, got {other}"))),
        }
    }
    fn decode_reply_json(result: &RawValue) -> Result<Vec<T>, RpcError> {
        match Primitive::<T>::list_from_json(result.get()) {
            Some(items) => Ok(items.into_iter().map(|p| p.data).collect()),
            None => Self::decode_reply(
                serde_json::from_str(result.get())
                    .map_err(|e| RpcError::BadReply(format!("reply is not JSON: {e}")))?,
            ),
        }
    }
}

/// `object_action` with `save` on a Container: renames it (the only field a save may change;
/// the Engine container keeps its name, as in Magnum). Replies `[updates, null]`, `updates`
/// holding the saved object's fields and `obj_what_changed`.
#[derive(Debug, Clone)]
pub struct ContainerRename {
    /// Which container.
    pub uuid: Uuid,
    /// Its new name.
    pub name: String,
}

/// The fields a Container save carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerNameChange {
    /// Which container.
    pub uuid: Uuid,
    /// The new name.
    pub name: String,
}

impl VersionedObject for ContainerNameChange {
    const NAME: &'static str = "Container";
    const VERSION: Version = Version::new(1, 1);
}

impl Method for ContainerRename {
    const NAME: &'static str = "object_action";
    const SINCE: Version = Version::new(1, 0);
    type Reply = Container;
    fn args(&self) -> Value {
        let objinst = Primitive {
            data: ContainerNameChange {
                uuid: self.uuid,
                name: self.name.clone(),
            },
            changes: vec!["name".into()],
        };
        json!({"objinst": objinst.to_value(), "objmethod": "save", "args": [], "kwargs": {}})
    }
    fn decode_reply(result: Value) -> Result<Container, RpcError> {
        let mut pair: Vec<Value> = decode(result)?;
        let Some(Value::Object(mut updates)) = pair.drain(..).next() else {
            return Err(RpcError::BadReply("expected [updates, result]".into()));
        };
        updates.remove("obj_what_changed");
        decode(Value::Object(updates))
    }
}

/// `baymodel_create`: stores a new baymodel (the uuid is the caller's).
#[derive(Debug, Clone)]
pub struct BayModelCreate {
    /// The validated template; `uuid` is set.
    pub baymodel: BayModelSpec,
}

impl VersionedObject for BayModelSpec {
    const NAME: &'static str = "BayModel";
    const VERSION: Version = Version::new(1, 7);
}

impl Method for BayModelCreate {
    const NAME: &'static str = "baymodel_create";
    const SINCE: Version = Version::new(1, 0);
    type Reply = BayModel;
    fn args(&self) -> Value {
        json!({"baymodel": Primitive::new(self.baymodel.clone()).to_value()})
    }
    fn decode_reply(result: Value) -> Result<BayModel, RpcError> {
        decode_object(&result)
    }
    fn decode_reply_json(result: &RawValue) -> Result<BayModel, RpcError> {
        decode_object_json(result)
    }
}

/// `baymodel_update`: writes exactly the fields named in `changes`.
#[derive(Debug, Clone)]
pub struct BayModelUpdate {
    /// Which baymodel.
    pub uuid: Uuid,
    /// The whole template after the patch.
    pub baymodel: BayModelSpec,
    /// Field names to write.
    pub changes: Vec<String>,
}

impl Method for BayModelUpdate {
    const NAME: &'static str = "baymodel_update";
    const SINCE: Version = Version::new(1, 0);
    type Reply = BayModel;
    fn args(&self) -> Value {
        let mut spec = self.baymodel.clone();
        spec.uuid = Some(self.uuid);
        json!({"baymodel": Primitive { data: spec, changes: self.changes.clone() }.to_value()})
    }
    fn decode_reply(result: Value) -> Result<BayModel, RpcError> {
        decode_object(&result)
    }
    fn decode_reply_json(result: &RawValue) -> Result<BayModel, RpcError> {
        decode_object_json(result)
    }
}

/// `baymodel_delete`: removes a baymodel no bay references.
#[derive(Debug, Clone)]
pub struct BayModelDelete {
    /// Which baymodel.
    pub uuid: Uuid,
}

impl Method for BayModelDelete {
    const NAME: &'static str = "baymodel_delete";
    const SINCE: Version = Version::new(1, 0);
    type Reply = ();
    fn args(&self) -> Value {
        json!({"uuid": self.uuid})
    }
    fn decode_reply(_: Value) -> Result<(), RpcError> {
        Ok(())
    }
}

/// Objects a conductor serves through the generic object calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    /// `BayModel`.
    BayModel,
    /// `Bay`.
    Bay,
    /// `Node`.
    Node,
    /// `NodeGroup` (stored worker groups; `get_by_uuid`, and `list` with a `bay_uuid` filter).
    NodeGroup,
    /// `Container`.
    Container,
    /// `Pod`, `Service` or `ReplicationController`.
    Workload(WorkloadKind),
    /// `MagnumService` (list only).
    MagnumService,
    /// `Quota` (list only; other reads are [`crate::admin`] calls).
    Quota,
}

impl ObjectKind {
    fn parse(name: &str) -> Option<Self> {
        match name {
            "BayModel" => Some(ObjectKind::BayModel),
            "Bay" => Some(ObjectKind::Bay),
            "Node" => Some(ObjectKind::Node),
            "NodeGroup" => Some(ObjectKind::NodeGroup),
            "Container" => Some(ObjectKind::Container),
            "Pod" => Some(ObjectKind::Workload(WorkloadKind::Pod)),
            "Service" => Some(ObjectKind::Workload(WorkloadKind::Service)),
            "ReplicationController" => {
                Some(ObjectKind::Workload(WorkloadKind::ReplicationController))
            }
            "MagnumService" => Some(ObjectKind::MagnumService),
            "Quota" => Some(ObjectKind::Quota),
            _ => None,
        }
    }
}

impl VersionedObject for BaySpec {
    const NAME: &'static str = "Bay";
    const VERSION: Version = Version::new(1, 0);
}

/// `bay_create`: records the bay as `CREATE_IN_PROGRESS` and answers; the backend work follows
/// under a lease (spec/rpc.md §7.2).
#[derive(Debug, Clone)]
pub struct BayCreate {
    /// The validated request; `uuid` is set and `baymodel_id` holds the baymodel's uuid.
    pub bay: BaySpec,
    /// Minutes the create may take; `None`: `[bay] create_timeout`.
    pub bay_create_timeout: Option<i32>,
}

impl Method for BayCreate {
    const NAME: &'static str = "bay_create";
    const SINCE: Version = Version::new(1, 0);
    type Reply = Bay;
    fn args(&self) -> Value {
        json!({"bay": Primitive::new(self.bay.clone()).to_value(),
               "bay_create_timeout": self.bay_create_timeout})
    }
    fn decode_reply(result: Value) -> Result<Bay, RpcError> {
        decode_object(&result)
    }
}

/// `container_create`: records the container as `Creating`; the image pull and Engine create
/// follow in the conductor (spec/rpc.md §12.1).
#[derive(Debug, Clone)]
pub struct ContainerCreate {
    /// The validated request; `uuid` and `name` are set and `bay_uuid` is the bay's uuid.
    pub container: ContainerSpec,
}

impl Method for ContainerCreate {
    const NAME: &'static str = "container_create";
    const SINCE: Version = Version::new(1, 0);
    type Reply = Container;
    fn args(&self) -> Value {
        json!({"container": Primitive::new(self.container.clone()).to_value()})
    }
    fn decode_reply(result: Value) -> Result<Container, RpcError> {
        decode_object(&result)
    }
}

/// `container_show`: one container, its status read from the Engine.
#[derive(Debug, Clone)]
pub struct ContainerShow {
    /// Which container.
    pub container_uuid: Uuid,
}

impl Method for ContainerShow {
    const NAME: &'static str = "container_show";
    const SINCE: Version = Version::new(1, 0);
    type Reply = Container;
    fn args(&self) -> Value {
        json!({"container_uuid": self.container_uuid})
    }
    fn decode_reply(result: Value) -> Result<Container, RpcError> {
        decode_object(&result)
    }
}

/// `container_delete`: stops nothing by itself; a running or paused container needs `force`.
#[derive(Debug, Clone)]
pub struct ContainerDelete {
    /// Which container.
    pub container_uuid: Uuid,
    /// Remove it even while it runs.
    pub force: bool,
}

impl Method for ContainerDelete {
    const NAME: &'static str = "container_delete";
    const SINCE: Version = Version::new(1, 0);
    type Reply = ();
    fn args(&self) -> Value {
        json!({"container_uuid": self.container_uuid, "force": self.force})
    }
    fn decode_reply(_: Value) -> Result<(), RpcError> {
        Ok(())
    }
}

/// A container action: `container_start`, `_stop`, `_pause`, `_unpause`, `_reboot`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerAction {
    /// Start.
    Start,
    /// Stop.
    Stop,
    /// Pause.
    Pause,
    /// Unpause.
    Unpause,
    /// Restart.
    Reboot,
}

impl ContainerAction {
    /// Parses a URL action name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "start" => Some(ContainerAction::Start),
            "stop" => Some(ContainerAction::Stop),
            "pause" => Some(ContainerAction::Pause),
            "unpause" => Some(ContainerAction::Unpause),
            "reboot" => Some(ContainerAction::Reboot),
            _ => None,
        }
    }

    /// The URL and policy name.
    pub fn as_str(self) -> &'static str {
        match self {
            ContainerAction::Start => "start",
            ContainerAction::Stop => "stop",
            ContainerAction::Pause => "pause",
            ContainerAction::Unpause => "unpause",
            ContainerAction::Reboot => "reboot",
        }
    }
}

macro_rules! container_action {
    ($(#[$doc:meta])* $ty:ident, $name:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $ty {
            /// Which container.
            pub container_uuid: Uuid,
        }

        impl Method for $ty {
            const NAME: &'static str = $name;
            const SINCE: Version = Version::new(1, 0);
            type Reply = ();
            fn args(&self) -> Value {
                json!({"container_uuid": self.container_uuid})
            }
            fn decode_reply(_: Value) -> Result<(), RpcError> {
                Ok(())
            }
        }
    };
}

container_action!(
    /// `container_start`: starts the container; "already running" is success.
    ContainerStart, "container_start"
);
container_action!(
    /// `container_stop`: stops the container; "already stopped" is success.
    ContainerStop, "container_stop"
);
container_action!(
    /// `container_pause`: pauses the container.
    ContainerPause, "container_pause"
);
container_action!(
    /// `container_unpause`: unpauses the container.
    ContainerUnpause, "container_unpause"
);
container_action!(
    /// `container_reboot`: restarts the container.
    ContainerReboot, "container_reboot"
);

/// `container_logs`: the last `[docker] max_log_bytes` of stdout and stderr.
#[derive(Debug, Clone)]
pub struct ContainerLogs {
    /// Which container.
    pub container_uuid: Uuid,
}

/// Output of `container_logs` and `container_exec`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Output {
    /// stdout and stderr, bounded.
    pub output: String,
    /// Exit code (exec only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
}

impl Method for ContainerLogs {
    const NAME: &'static str = "container_logs";
    const SINCE: Version = Version::new(1, 0);
    type Reply = Output;
    fn args(&self) -> Value {
        json!({"container_uuid": self.container_uuid})
    }
    fn decode_reply(result: Value) -> Result<Output, RpcError> {
        decode(result)
    }
}

/// `container_exec`: runs a command in the container.
#[derive(Debug, Clone)]
pub struct ContainerExec {
    /// Which container.
    pub container_uuid: Uuid,
    /// The command, split like a POSIX shell.
    pub command: String,
}

impl Method for ContainerExec {
    const NAME: &'static str = "container_exec";
    const SINCE: Version = Version::new(1, 0);
    type Reply = Output;
    fn args(&self) -> Value {
        json!({"container_uuid": self.container_uuid, "command": self.command})
    }
    fn decode_reply(result: Value) -> Result<Output, RpcError> {
        decode(result)
    }
}

/// The part of a Bay primitive an update reads: which bay, and the new node count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BayChange {
    /// Which bay.
    pub uuid: Uuid,
    /// The new node count.
    #[serde(default)]
    pub node_count: Option<i32>,
}

impl VersionedObject for BayChange {
    const NAME: &'static str = "Bay";
    const VERSION: Version = Version::new(1, 0);
}

/// `bay_update`: scales a bay to `node_count` (`changes` = `["node_count"]`).
#[derive(Debug, Clone)]
pub struct BayUpdate {
    /// Which bay and its new node count.
    pub bay: BayChange,
    /// Restore the old count if the update fails.
    pub rollback: bool,
}

impl Method for BayUpdate {
    const NAME: &'static str = "bay_update";
    const SINCE: Version = Version::new(1, 0);
    type Reply = Bay;
    fn args(&self) -> Value {
        let primitive = Primitive {
            data: self.bay.clone(),
            changes: vec!["node_count".into()],
        };
        json!({"bay": primitive.to_value(), "rollback": self.rollback})
    }
    fn decode_reply(result: Value) -> Result<Bay, RpcError> {
        decode_object(&result)
    }
}

/// `bay_delete`: records `DELETE_IN_PROGRESS`, superseding running work.
#[derive(Debug, Clone)]
pub struct BayDelete {
    /// Which bay.
    pub uuid: Uuid,
}

impl Method for BayDelete {
    const NAME: &'static str = "bay_delete";
    const SINCE: Version = Version::new(1, 0);
    type Reply = ();
    fn args(&self) -> Value {
        json!({"uuid": self.uuid})
    }
    fn decode_reply(_: Value) -> Result<(), RpcError> {
        Ok(())
    }
}

/// `bay_resize`: scales, releasing the named nodes first.
#[derive(Debug, Clone)]
pub struct BayResize {
    /// Which bay.
    pub bay: BayChange,
    /// The new node count (≥ 0).
    pub node_count: i32,
    /// Node uuids or names to release first.
    pub nodes_to_remove: Vec<String>,
    /// Nodegroup; `None`: the default worker group.
    pub nodegroup: Option<String>,
}

impl Method for BayResize {
    const NAME: &'static str = "bay_resize";
    const SINCE: Version = Version::new(1, 0);
    type Reply = Bay;
    fn args(&self) -> Value {
        json!({"bay": Primitive::new(self.bay.clone()).to_value(), "node_count": self.node_count,
               "nodes_to_remove": self.nodes_to_remove, "nodegroup": self.nodegroup})
    }
    fn decode_reply(result: Value) -> Result<Bay, RpcError> {
        decode_object(&result)
    }
}

/// `bay_upgrade`: moves a bay to another baymodel of the same COE.
#[derive(Debug, Clone)]
pub struct BayUpgrade {
    /// Which bay.
    pub bay: BayChange,
    /// The target baymodel's uuid.
    pub baymodel: Uuid,
    /// Nodes upgraded at once.
    pub max_batch_size: i32,
    /// Nodegroup; `None`: every group.
    pub nodegroup: Option<String>,
}

impl Method for BayUpgrade {
    const NAME: &'static str = "bay_upgrade";
    const SINCE: Version = Version::new(1, 0);
    type Reply = Bay;
    fn args(&self) -> Value {
        json!({"bay": Primitive::new(self.bay.clone()).to_value(), "baymodel": self.baymodel,
               "max_batch_size": self.max_batch_size, "nodegroup": self.nodegroup})
    }
    fn decode_reply(result: Value) -> Result<Bay, RpcError> {
        decode_object(&result)
    }
}

/// `bay_converge` (cast, conductor → conductor): do the backend work of operation `op_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BayConverge {
    /// Which bay.
    pub bay_uuid: Uuid,
    /// `create`, `update`, `delete`, `resize`, `upgrade` or `nodegroup_create|update|delete`.
    pub op: String,
    /// The operation's fencing token (hex).
    pub op_id: String,
}

impl Method for BayConverge {
    const NAME: &'static str = "bay_converge";
    const SINCE: Version = Version::new(1, 0);
    type Reply = ();
    fn args(&self) -> Value {
        serde_json::to_value(self).unwrap_or_default()
    }
    fn decode_reply(_: Value) -> Result<(), RpcError> {
        Ok(())
    }
}

/// `nodegroup_create`: records a worker group as `CREATE_IN_PROGRESS` and answers; its nodes
/// are claimed by bay work under the bay's lease (specs/0002).
#[derive(Debug, Clone)]
pub struct NodeGroupCreate {
    /// The bay.
    pub bay_uuid: Uuid,
    /// The validated group; `uuid` is set.
    pub nodegroup: NodeGroupSpec,
}

impl Method for NodeGroupCreate {
    const NAME: &'static str = "nodegroup_create";
    const SINCE: Version = Version::new(1, 0);
    type Reply = NodeGroup;
    fn args(&self) -> Value {
        json!({"bay_uuid": self.bay_uuid,
               "nodegroup": Primitive::new(self.nodegroup.clone()).to_value()})
    }
    fn decode_reply(result: Value) -> Result<NodeGroup, RpcError> {
        decode_object(&result)
    }
}

/// `nodegroup_update`: new counts and bounds of a stored group (`UPDATE_IN_PROGRESS`); the
/// group is scaled by bay work.
#[derive(Debug, Clone)]
pub struct NodeGroupUpdate {
    /// The bay.
    pub bay_uuid: Uuid,
    /// The group and its new `node_count`, `min_node_count`, `max_node_count`.
    pub nodegroup: NodeGroupChange,
}

impl Method for NodeGroupUpdate {
    const NAME: &'static str = "nodegroup_update";
    const SINCE: Version = Version::new(1, 0);
    type Reply = NodeGroup;
    fn args(&self) -> Value {
        let primitive = Primitive {
            data: self.nodegroup,
            changes: vec![
                "node_count".into(),
                "min_node_count".into(),
                "max_node_count".into(),
            ],
        };
        json!({"bay_uuid": self.bay_uuid, "nodegroup": primitive.to_value()})
    }
    fn decode_reply(result: Value) -> Result<NodeGroup, RpcError> {
        decode_object(&result)
    }
}

/// `nodegroup_delete`: records `DELETE_IN_PROGRESS`; bay work releases the group's nodes and
/// removes it. The default groups refuse (`InvalidParameterValue`).
#[derive(Debug, Clone)]
pub struct NodeGroupDelete {
    /// The bay.
    pub bay_uuid: Uuid,
    /// The group.
    pub uuid: Uuid,
}

impl Method for NodeGroupDelete {
    const NAME: &'static str = "nodegroup_delete";
    const SINCE: Version = Version::new(1, 0);
    type Reply = ();
    fn args(&self) -> Value {
        json!({"bay_uuid": self.bay_uuid, "uuid": self.uuid})
    }
    fn decode_reply(_: Value) -> Result<(), RpcError> {
        Ok(())
    }
}

/// A request as a conductor serves it, decoded and checked against the served versions.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    /// [`PingConductor`].
    PingConductor,
    /// [`ConductorVersions`].
    ConductorVersions,
    /// [`GetObject`].
    GetObject {
        /// Which kind.
        kind: ObjectKind,
        /// How to find it.
        lookup: Lookup,
    },
    /// [`ListObjects`].
    ListObjects {
        /// Which kind.
        kind: ObjectKind,
        /// Paging and filters.
        query: ListQuery,
    },
    /// [`BayModelCreate`].
    BayModelCreate(BayModelSpec),
    /// [`BayModelUpdate`].
    BayModelUpdate {
        /// Which baymodel.
        uuid: Uuid,
        /// The whole template after the change.
        baymodel: BayModelSpec,
        /// Fields to write.
        changes: Vec<String>,
    },
    /// [`BayModelDelete`].
    BayModelDelete {
        /// Which baymodel.
        uuid: Uuid,
    },
    /// [`BayCreate`].
    BayCreate {
        /// The request.
        bay: BaySpec,
        /// Minutes the create may take.
        bay_create_timeout: Option<i32>,
    },
    /// [`BayUpdate`].
    BayUpdate {
        /// Which bay and its new count.
        bay: BayChange,
        /// Restore the old count on failure.
        rollback: bool,
    },
    /// [`BayDelete`].
    BayDelete {
        /// Which bay.
        uuid: Uuid,
    },
    /// [`BayResize`].
    BayResize {
        /// Which bay.
        bay: BayChange,
        /// The new count.
        node_count: i32,
        /// Nodes to release first.
        nodes_to_remove: Vec<String>,
        /// Nodegroup.
        nodegroup: Option<String>,
    },
    /// [`BayUpgrade`].
    BayUpgrade {
        /// Which bay.
        bay: BayChange,
        /// Target baymodel.
        baymodel: Uuid,
        /// Nodes at once.
        max_batch_size: i32,
        /// Nodegroup.
        nodegroup: Option<String>,
    },
    /// [`BayConverge`].
    BayConverge(BayConverge),
    /// [`NodeGroupCreate`].
    NodeGroupCreate {
        /// The bay.
        bay_uuid: Uuid,
        /// The group.
        nodegroup: NodeGroupSpec,
    },
    /// [`NodeGroupUpdate`].
    NodeGroupUpdate {
        /// The bay.
        bay_uuid: Uuid,
        /// The group's new counts.
        nodegroup: NodeGroupChange,
    },
    /// [`NodeGroupDelete`].
    NodeGroupDelete {
        /// The bay.
        bay_uuid: Uuid,
        /// The group.
        uuid: Uuid,
    },
    /// [`ContainerCreate`].
    ContainerCreate(ContainerSpec),
    /// [`ContainerShow`].
    ContainerShow {
        /// Which container.
        container_uuid: Uuid,
    },
    /// [`ContainerDelete`].
    ContainerDelete {
        /// Which container.
        container_uuid: Uuid,
        /// Even while running.
        force: bool,
    },
    /// [`ContainerStart`] and the other actions.
    ContainerDo(ContainerAction, Uuid),
    /// [`ContainerLogs`].
    ContainerLogs {
        /// Which container.
        container_uuid: Uuid,
    },
    /// [`ContainerExec`].
    ContainerExec {
        /// Which container.
        container_uuid: Uuid,
        /// The command.
        command: String,
    },
    /// [`ContainerRename`].
    ContainerRename(ContainerNameChange),
    /// Stats and quotas (see [`crate::admin`]).
    Admin(AdminCall),
    /// `pod_*`, `service_*` and `rc_*` (see [`crate::workloads`]).
    Workload(WorkloadKind, WorkloadCall),
    /// Certificates and credential rotation (see [`crate::certificates`]).
    Certificate(CertificateCall),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoArgs {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ObjectClassActionArgs {
    objname: String,
    objmethod: String,
    #[serde(default)]
    object_versions: Option<BTreeMap<String, String>>,
    #[serde(default)]
    objver: Option<String>,
    #[serde(default)]
    args: Vec<Value>,
    #[serde(default)]
    kwargs: Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ObjectActionArgs {
    objinst: Value,
    objmethod: String,
    #[serde(default)]
    args: Vec<Value>,
    #[serde(default)]
    kwargs: Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ObjectArg {
    baymodel: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UuidArg {
    uuid: Uuid,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ContainerArg {
    container_uuid: Uuid,
    #[serde(default)]
    force: Option<bool>,
    #[serde(default)]
    command: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ContainerCreateArgs {
    container: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BayCreateArgs {
    bay: Value,
    #[serde(default)]
    bay_create_timeout: Option<i32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BayUpdateArgs {
    bay: Value,
    #[serde(default)]
    rollback: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BayResizeArgs {
    bay: Value,
    node_count: i32,
    #[serde(default)]
    nodes_to_remove: Option<Vec<String>>,
    #[serde(default)]
    nodegroup: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeGroupArgs {
    bay_uuid: Uuid,
    nodegroup: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeGroupDeleteArgs {
    bay_uuid: Uuid,
    uuid: Uuid,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BayUpgradeArgs {
    bay: Value,
    baymodel: Uuid,
    #[serde(default)]
    max_batch_size: Option<i32>,
    #[serde(default)]
    nodegroup: Option<String>,
}

impl Call {
    /// Decodes a request, applying the server checks of spec/rpc.md §6.1 in order.
    pub fn decode(
        method: &str,
        version: Option<&str>,
        namespace: Option<&Value>,
        args: Map<String, Value>,
    ) -> Result<Call, RemoteFailure> {
        let sent = version.unwrap_or("1.0");
        if namespace.is_some() {
            return Err(RemoteFailure::unsupported_version(sent, method));
        }
        let served = |v: Version| v.major == RPC_API_VERSION.major && v <= RPC_API_VERSION;
        let version = match sent.parse::<Version>() {
            Ok(v) if served(v) => v,
            _ => return Err(RemoteFailure::unsupported_version(sent, method)),
        };
        let Some(&(_, since)) = METHODS.iter().find(|(name, _)| *name == method) else {
            return Err(RemoteFailure::no_such_method(method));
        };
        if since > version {
            return Err(RemoteFailure::unsupported_version(sent, method));
        }
        if let Some(decoded) = crate::workloads::decode(method, args.clone()) {
            return decoded.map(|(kind, call)| Call::Workload(kind, call));
        }
        if let Some(decoded) = crate::certificates::decode(method, &args) {
            return decoded.map(Call::Certificate);
        }
        let args = Value::Object(args);
        let parse = |what: &str| {
            let what = what.to_owned();
            move |e: serde_json::Error| RemoteFailure::type_error(format!("{what}(): {e}"))
        };
        match method {
            "ping_conductor" => {
                NoArgs::deserialize(args).map_err(parse(method))?;
                Ok(Call::PingConductor)
            }
            "conductor_versions" => {
                NoArgs::deserialize(args).map_err(parse(method))?;
                Ok(Call::ConductorVersions)
            }
            "object_class_action_versions" | "object_class_action" => {
                let a = ObjectClassActionArgs::deserialize(args).map_err(parse(method))?;
                Call::decode_object_call(&a)
            }
            "object_action" => {
                let a = ObjectActionArgs::deserialize(args).map_err(parse(method))?;
                let name = a
                    .objinst
                    .get("magnum_object.name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                if !a.args.is_empty() || !a.kwargs.is_empty() {
                    return Err(RemoteFailure::type_error(format!(
                        "{}() got unexpected arguments",
                        a.objmethod
                    )));
                }
                if let Some(call) = crate::admin::decode_object_action(&a.objinst, &a.objmethod) {
                    return call.map(Call::Admin);
                }
                match (name.as_str(), a.objmethod.as_str()) {
                    ("Container", "save") => {
                        let p = Primitive::<ContainerNameChange>::from_value(&a.objinst)?;
                        if p.changes.iter().any(|c| c != "name") {
                            return Err(RemoteFailure::invalid(
                                "Only the name of a container can be changed.",
                            ));
                        }
                        Ok(Call::ContainerRename(p.data))
                    }
                    _ => Err(RemoteFailure::typed(
                        "NotSupported",
                        400,
                        format!("{name}.{} is not supported.", a.objmethod),
                    )),
                }
            }
            "baymodel_create" => {
                let a = ObjectArg::deserialize(args).map_err(parse(method))?;
                let spec = Primitive::<BayModelSpec>::from_value(&a.baymodel)?.data;
                Ok(Call::BayModelCreate(spec))
            }
            "baymodel_update" => {
                let a = ObjectArg::deserialize(args).map_err(parse(method))?;
                let primitive = Primitive::<BayModelSpec>::from_value(&a.baymodel)?;
                let uuid = primitive.data.uuid.ok_or_else(|| {
                    RemoteFailure::type_error("baymodel_update(): baymodel without uuid")
                })?;
                Ok(Call::BayModelUpdate {
                    uuid,
                    baymodel: primitive.data,
                    changes: primitive.changes,
                })
            }
            "baymodel_delete" => {
                let a = UuidArg::deserialize(args).map_err(parse(method))?;
                Ok(Call::BayModelDelete { uuid: a.uuid })
            }
            "bay_create" => {
                let a = BayCreateArgs::deserialize(args).map_err(parse(method))?;
                let bay = Primitive::<BaySpec>::from_value(&a.bay)?.data;
                Ok(Call::BayCreate {
                    bay,
                    bay_create_timeout: a.bay_create_timeout,
                })
            }
            "bay_update" => {
                let a = BayUpdateArgs::deserialize(args).map_err(parse(method))?;
                let bay = Primitive::<BayChange>::from_value(&a.bay)?.data;
                Ok(Call::BayUpdate {
                    bay,
                    rollback: a.rollback.unwrap_or(false),
                })
            }
            "bay_delete" => {
                let a = UuidArg::deserialize(args).map_err(parse(method))?;
                Ok(Call::BayDelete { uuid: a.uuid })
            }
            "bay_resize" => {
                let a = BayResizeArgs::deserialize(args).map_err(parse(method))?;
                let bay = Primitive::<BayChange>::from_value(&a.bay)?.data;
                Ok(Call::BayResize {
                    bay,
                    node_count: a.node_count,
                    nodes_to_remove: a.nodes_to_remove.unwrap_or_default(),
                    nodegroup: a.nodegroup,
                })
            }
            "bay_upgrade" => {
                let a = BayUpgradeArgs::deserialize(args).map_err(parse(method))?;
                let bay = Primitive::<BayChange>::from_value(&a.bay)?.data;
                Ok(Call::BayUpgrade {
                    bay,
                    baymodel: a.baymodel,
                    max_batch_size: a.max_batch_size.unwrap_or(1),
                    nodegroup: a.nodegroup,
                })
            }
            "bay_converge" => {
                let a = BayConverge::deserialize(args).map_err(parse(method))?;
                Ok(Call::BayConverge(a))
            }
            "nodegroup_create" => {
                let a = NodeGroupArgs::deserialize(args).map_err(parse(method))?;
                Ok(Call::NodeGroupCreate {
                    bay_uuid: a.bay_uuid,
                    nodegroup: Primitive::<NodeGroupSpec>::from_value(&a.nodegroup)?.data,
                })
            }
            "nodegroup_update" => {
                let a = NodeGroupArgs::deserialize(args).map_err(parse(method))?;
                Ok(Call::NodeGroupUpdate {
                    bay_uuid: a.bay_uuid,
                    nodegroup: Primitive::<NodeGroupChange>::from_value(&a.nodegroup)?.data,
                })
            }
            "nodegroup_delete" => {
                let a = NodeGroupDeleteArgs::deserialize(args).map_err(parse(method))?;
                Ok(Call::NodeGroupDelete {
                    bay_uuid: a.bay_uuid,
                    uuid: a.uuid,
                })
            }
            "container_create" => {
                let a = ContainerCreateArgs::deserialize(args).map_err(parse(method))?;
                Ok(Call::ContainerCreate(
                    Primitive::<ContainerSpec>::from_value(&a.container)?.data,
                ))
            }
            "container_show" | "container_delete" | "container_logs" | "container_exec"
            | "container_start" | "container_stop" | "container_pause" | "container_unpause"
            | "container_reboot" => {
                let a = ContainerArg::deserialize(args).map_err(parse(method))?;
                let uuid = a.container_uuid;
                let extra = |ok: bool| {
                    if ok {
                        Ok(())
                    } else {
                        Err(RemoteFailure::type_error(format!(
                            "{method}(): unexpected argument"
                        )))
                    }
                };
                match method {
                    "container_show" => {
                        extra(a.force.is_none() && a.command.is_none())?;
                        Ok(Call::ContainerShow {
                            container_uuid: uuid,
                        })
                    }
                    "container_delete" => {
                        extra(a.command.is_none())?;
                        Ok(Call::ContainerDelete {
                            container_uuid: uuid,
                            force: a.force.unwrap_or(false),
                        })
                    }
                    "container_logs" => {
                        extra(a.force.is_none() && a.command.is_none())?;
                        Ok(Call::ContainerLogs {
                            container_uuid: uuid,
                        })
                    }
                    "container_exec" => {
                        extra(a.force.is_none())?;
                        let command = a.command.ok_or_else(|| {
                            RemoteFailure::type_error("container_exec(): missing argument command")
                        })?;
                        Ok(Call::ContainerExec {
                            container_uuid: uuid,
                            command,
                        })
                    }
                    action => {
                        extra(a.force.is_none() && a.command.is_none())?;
                        let action =
                            ContainerAction::parse(action.trim_start_matches("container_"))
                                .ok_or_else(|| RemoteFailure::no_such_method(method))?;
                        Ok(Call::ContainerDo(action, uuid))
                    }
                }
            }
            other => Err(RemoteFailure::no_such_method(other)),
        }
    }

    fn decode_object_call(a: &ObjectClassActionArgs) -> Result<Call, RemoteFailure> {
        let _ = (&a.object_versions, &a.objver); // we answer at our versions, all ≤ the caller's
        if let Some(call) = crate::admin::decode_class_call(&a.objname, &a.objmethod, &a.args) {
            if !a.kwargs.is_empty() {
                return Err(RemoteFailure::type_error(format!(
                    "{}() got unexpected keyword arguments",
                    a.objmethod
                )));
            }
            return call.map(Call::Admin);
        }
        let kind = ObjectKind::parse(&a.objname)
            .ok_or_else(|| RemoteFailure::unsupported_object(&a.objname))?;
        let not_supported = || {
            RemoteFailure::typed(
                "NotSupported",
                400,
                format!("{}.{} is not supported.", a.objname, a.objmethod),
            )
        };
        let bad_args =
            || RemoteFailure::type_error(format!("{}() got unexpected arguments", a.objmethod));
        let single = || match a.args.as_slice() {
            [one] if a.kwargs.is_empty() => Ok(one.clone()),
            _ => Err(bad_args()),
        };
        let lookup = match a.objmethod.as_str() {
            "list" => {
                if !a.args.is_empty() {
                    return Err(bad_args());
                }
                let query = ListQuery::deserialize(Value::Object(a.kwargs.clone()))
                    .map_err(|e| RemoteFailure::type_error(format!("list(): {e}")))?;
                return Ok(Call::ListObjects { kind, query });
            }
            "get" => match single()? {
                Value::Number(n) => Lookup::Id(n.as_i64().ok_or_else(bad_args)?),
                Value::String(s) => Lookup::Uuid(Uuid::try_parse(&s).map_err(|_| bad_args())?),
                _ => return Err(bad_args()),
            },
            "get_by_id" => Lookup::Id(single()?.as_i64().ok_or_else(bad_args)?),
            "get_by_uuid" => {
                let text = single()?;
                let text = text.as_str().ok_or_else(bad_args)?;
                Lookup::Uuid(Uuid::try_parse(text).map_err(|_| bad_args())?)
            }
            "get_by_name" => Lookup::Name(single()?.as_str().ok_or_else(bad_args)?.to_owned()),
            _ => return Err(not_supported()),
        };
        Ok(Call::GetObject { kind, lookup })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(method: &str, version: Option<&str>, args: Value) -> Result<Call, RemoteFailure> {
        let Value::Object(args) = args else {
            unreachable!()
        };
        Call::decode(method, version, None, args)
    }

    #[test]
    fn versions_are_checked_before_methods_and_arguments() {
        assert_eq!(
            decode("ping_conductor", None, json!({})),
            Ok(Call::PingConductor)
        );
        for v in ["2.0", "1.99", "x"] {
            let e = decode("ping_conductor", Some(v), json!({})).unwrap_err();
            assert_eq!(e.class, "UnsupportedVersion", "{v}");
        }
        assert_eq!(
            decode("foo", None, json!({})).unwrap_err().class,
            "NoSuchMethod"
        );
        assert_eq!(
            decode("ping_conductor", None, json!({"x": 1}))
                .unwrap_err()
                .class,
            "TypeError"
        );
        let ns = Call::decode("ping_conductor", None, Some(&json!("x")), Map::new());
        assert_eq!(ns.unwrap_err().class, "UnsupportedVersion");
    }

    #[test]
    fn object_reads_decode_every_lookup() {
        let get = |m: &str, arg: Value| {
            decode(
                "object_class_action_versions",
                Some("1.0"),
                json!({"objname": "BayModel",
                "objmethod": m, "object_versions": {}, "args": [arg], "kwargs": {}}),
            )
        };
        let uuid = Uuid::new_v4();
        assert!(matches!(
            get("get", json!(7)),
            Ok(Call::GetObject {
                lookup: Lookup::Id(7),
                ..
            })
        ));
        assert!(
            matches!(get("get", json!(uuid)), Ok(Call::GetObject { lookup: Lookup::Uuid(u), .. }) if u == uuid)
        );
        assert!(matches!(
            get("get_by_name", json!("k8s")),
            Ok(Call::GetObject {
                lookup: Lookup::Name(_),
                ..
            })
        ));
        assert_eq!(get("destroy", json!(1)).unwrap_err().class, "NotSupported");
        let bad = decode(
            "object_class_action_versions",
            None,
            json!({"objname": "Federation",
            "objmethod": "list", "object_versions": {}, "args": [], "kwargs": {}}),
        );
        assert_eq!(bad.unwrap_err().class, "UnsupportedObjectError");
    }
}

#[cfg(test)]
mod typed_wire_tests {
    use super::*;
    use magnum_core::baymodel::Coe;

    /// Two baymodels: every optional field set (with text needing escapes), and none set.
    fn baymodels() -> Vec<BayModel> {
        let at = chrono::DateTime::parse_from_rfc3339("2026-12-04T02:30:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let text = |s: &str| Some(format!("{s} \"q\" caf\u{e9}\n\u{1}"));
        let full = BayModel {
            id: 42,
            uuid: Uuid::from_u128(0x3ba7_8a76_00ad_4391_ac5f_97da_60f3_3845),
            project_id: "demo".into(),
            user_id: "alice".into(),
            name: text("name"),
            coe: Coe::Kubernetes,
            image_id: "img".into(),
            flavor_id: text("flavor"),
            master_flavor_id: text("mflavor"),
            keypair_id: text("key"),
            dns_nameserver: text("dns"),
            external_network_id: text("ext"),
            fixed_network: text("net"),
            fixed_subnet: text("subnet"),
            network_driver: text("flannel"),
            apiserver_port: Some(6443),
            docker_volume_size: Some(-3),
            docker_storage_driver: text("overlay2"),
            ssh_authorized_key: text("ssh-rsa"),
            cluster_distro: text("fedora"),
            http_proxy: text("http"),
            https_proxy: text("https"),
            no_proxy: text("no"),
            volume_driver: text("cinder"),
            insecure_registry: text("reg"),
            labels: [
                ("a".to_owned(), "1".to_owned()),
                ("b\"".to_owned(), "\u{e9}".to_owned()),
            ]
            .into(),
            registry_enabled: true,
            tls_disabled: true,
            public: true,
            hidden: true,
            floating_ip_enabled: false,
            master_lb_enabled: true,
            server_type: "bm".into(),
            tags: text("tags"),
            driver: text("k8s"),
            created_at: Some(at),
            updated_at: Some(at + chrono::Duration::seconds(5)),
        };
        let empty = BayModel {
            id: 1,
            name: None,
            coe: Coe::Swarm,
            flavor_id: None,
            master_flavor_id: None,
            keypair_id: None,
            dns_nameserver: None,
            external_network_id: None,
            fixed_network: None,
            fixed_subnet: None,
            network_driver: None,
            apiserver_port: None,
            docker_volume_size: None,
            docker_storage_driver: None,
            ssh_authorized_key: None,
            cluster_distro: None,
            http_proxy: None,
            https_proxy: None,
            no_proxy: None,
            volume_driver: None,
            insecure_registry: None,
            labels: BTreeMap::new(),
            tags: None,
            driver: None,
            created_at: None,
            updated_at: None,
            ..full.clone()
        };
        vec![full, empty]
    }

    #[test]
    fn baymodel_primitives_written_directly_are_the_bytes_of_the_value_tree() {
        for model in baymodels() {
            let mut primitive = Primitive::new(model);
            let tree = serde_json::to_string(&primitive.to_value()).unwrap();
            assert_eq!(primitive.to_json().get(), tree);
            primitive.changes = vec!["name".into(), "public".into()];
            let tree = serde_json::to_string(&primitive.to_value()).unwrap();
            assert_eq!(primitive.to_json().get(), tree);
        }
        let items: Vec<_> = baymodels().into_iter().map(Primitive::new).collect();
        let tree = Value::Array(items.iter().map(Primitive::to_value).collect());
        assert_eq!(
            Primitive::list_to_json(&items).get(),
            serde_json::to_string(&tree).unwrap()
        );
    }

    #[test]
    fn object_replies_read_from_text_match_the_value_path() {
        let items: Vec<_> = baymodels().into_iter().map(Primitive::new).collect();
        let list = Primitive::list_to_json(&items);
        let direct = ListObjects::<BayModel>::decode_reply_json(&list).unwrap();
        let via_tree =
            ListObjects::<BayModel>::decode_reply(serde_json::from_str(list.get()).unwrap())
                .unwrap();
        assert_eq!(direct, via_tree);
        assert_eq!(direct, baymodels());
        let one = items[0].to_json();
        assert_eq!(
            GetObject::<BayModel>::decode_reply_json(&one).unwrap(),
            baymodels()[0]
        );
        // Malformed primitives fail as the Value path fails, with its messages.
        let cases = [
            json!({"magnum_object.name": "Bay", "magnum_object.version": "1.7",
                   "magnum_object.data": {}}),
            json!({"magnum_object.name": "BayModel", "magnum_object.version": "2.0",
                   "magnum_object.data": {}}),
            json!({"magnum_object.name": "BayModel", "magnum_object.version": "1.7"}),
            json!({"magnum_object.name": "BayModel", "magnum_object.version": "1.7",
                   "magnum_object.data": {"uuid": 3}}),
            json!({"magnum_object.name": 7}),
            json!([1, 2]),
            json!(null),
        ];
        for case in cases {
            let raw = serde_json::value::to_raw_value(&case).unwrap();
            let direct = GetObject::<BayModel>::decode_reply_json(&raw).unwrap_err();
            let via_tree = GetObject::<BayModel>::decode_reply(case.clone()).unwrap_err();
            assert_eq!(format!("{direct:?}"), format!("{via_tree:?}"), "{case}");
        }
        let not_a_list = serde_json::value::to_raw_value(&json!({"a": 1})).unwrap();
        assert_eq!(
            format!(
                "{:?}",
                ListObjects::<BayModel>::decode_reply_json(&not_a_list).unwrap_err()
            ),
            format!(
                "{:?}",
                ListObjects::<BayModel>::decode_reply(json!({"a": 1})).unwrap_err()
            )
        );
    }
}
