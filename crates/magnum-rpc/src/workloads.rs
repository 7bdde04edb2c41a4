//! Pods, services and replication controllers on the wire (spec/rpc.md §5.2, §7.3): one RPC
//! object per kind (`Pod`, `Service`, `ReplicationController`), all carrying a [`Workload`], and
//! the `<kind>_create`, `_update` and `_delete` methods, generic over the kind.

use crate::failure::{RemoteFailure, RpcError};
use crate::methods::Method;
use crate::object::{Primitive, VersionedObject};
use crate::version::Version;
use magnum_core::manifest::WorkloadKind;
use magnum_core::workload::Workload;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::marker::PhantomData;
use uuid::Uuid;

/// The RPC object of one workload kind: its object name and version, and its method names.
pub trait WorkloadObject:
    VersionedObject + From<Workload> + Into<Workload> + Send + Sync + 'static
{
    /// The kind.
    const KIND: WorkloadKind;
    /// Argument name of the object in create and update calls (`pod`, `service`, `rc`).
    const ARG: &'static str;
    /// `<kind>_create`.
    const CREATE: &'static str;
    /// `<kind>_update`.
    const UPDATE: &'static str;
    /// `<kind>_delete`.
    const DELETE: &'static str;
    /// The record carried.
    fn workload(&self) -> &Workload;
}

macro_rules! workload_object {
    ($(#[$doc:meta])* $ty:ident, $name:literal, ($major:literal, $minor:literal), $kind:expr,
     $arg:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $ty(pub Workload);

        impl From<Workload> for $ty {
            fn from(w: Workload) -> Self {
                $ty(w)
            }
        }

        impl From<$ty> for Workload {
            fn from(o: $ty) -> Self {
                o.0
            }
        }

        impl VersionedObject for $ty {
            const NAME: &'static str = $name;
            const VERSION: Version = Version::new($major, $minor);
        }

        impl WorkloadObject for $ty {
            const KIND: WorkloadKind = $kind;
            const ARG: &'static str = $arg;
            const CREATE: &'static str = concat!($arg, "_create");
            const UPDATE: &'static str = concat!($arg, "_update");
            const DELETE: &'static str = concat!($arg, "_delete");
            fn workload(&self) -> &Workload {
                &self.0
            }
        }
    };
}

workload_object!(
    /// The `Pod` object (1.1).
    PodObject, "Pod", (1, 1), WorkloadKind::Pod, "pod"
);
workload_object!(
    /// The `Service` object (1.0): a Kubernetes service, not a conductor.
    ServiceObject, "Service", (1, 0), WorkloadKind::Service, "service"
);
workload_object!(
    /// The `ReplicationController` object (1.0).
    RcObject, "ReplicationController", (1, 0), WorkloadKind::ReplicationController, "rc"
);

/// The object name of `kind`.
pub fn object_name(kind: WorkloadKind) -> &'static str {
    match kind {
        WorkloadKind::Pod => PodObject::NAME,
        WorkloadKind::Service => ServiceObject::NAME,
        WorkloadKind::ReplicationController => RcObject::NAME,
    }
}

/// A workload record as the primitive of its kind's object.
pub fn to_primitive(kind: WorkloadKind, workload: Workload, changes: Vec<String>) -> Value {
    match kind {
        WorkloadKind::Pod => Primitive {
            data: PodObject(workload),
            changes,
        }
        .to_value(),
        WorkloadKind::Service => Primitive {
            data: ServiceObject(workload),
            changes,
        }
        .to_value(),
        WorkloadKind::ReplicationController => Primitive {
            data: RcObject(workload),
            changes,
        }
        .to_value(),
    }
}

fn from_primitive<O: WorkloadObject>(
    value: &Value,
) -> Result<(Workload, Vec<String>), RemoteFailure> {
    let p = Primitive::<O>::from_value(value)?;
    Ok((p.data.into(), p.changes))
}

fn decode_reply<O: WorkloadObject>(result: &Value) -> Result<Workload, RpcError> {
    from_primitive::<O>(result)
        .map(|(w, _)| w)
        .map_err(|f| RpcError::BadReply(f.message))
}

/// `<kind>_create`: makes the object in the bay's namespace from `manifest` and records it.
/// The workload carries `uuid`, `bay_uuid`, `manifest`, and optionally `manifest_url`, `desc`
/// and (RCs) `replicas`, which overrides the manifest's.
#[derive(Debug, Clone)]
pub struct WorkloadCreate<O> {
    /// The request.
    pub workload: Workload,
    kind: PhantomData<fn() -> O>,
}

impl<O> WorkloadCreate<O> {
    /// A create request.
    pub fn new(workload: Workload) -> Self {
        WorkloadCreate {
            workload,
            kind: PhantomData,
        }
    }
}

impl<O: WorkloadObject> Method for WorkloadCreate<O> {
    const NAME: &'static str = O::CREATE;
    const SINCE: Version = Version::new(1, 0);
    type Reply = Workload;
    fn args(&self) -> Value {
        let mut args = Map::new();
        args.insert(
            O::ARG.into(),
            to_primitive(O::KIND, self.workload.clone(), Vec::new()),
        );
        Value::Object(args)
    }
    fn decode_reply(result: Value) -> Result<Workload, RpcError> {
        decode_reply::<O>(&result)
    }
}

/// `<kind>_update`: writes the fields named in `changes` (`desc`, `manifest`, `manifest_url`,
/// `replicas`); a new manifest or replica count replaces the object in Kubernetes.
#[derive(Debug, Clone)]
pub struct WorkloadUpdate<O> {
    /// Which record (`uuid`) and its new field values.
    pub workload: Workload,
    /// The fields to write.
    pub changes: Vec<String>,
    kind: PhantomData<fn() -> O>,
}

impl<O> WorkloadUpdate<O> {
    /// An update request.
    pub fn new(workload: Workload, changes: Vec<String>) -> Self {
        WorkloadUpdate {
            workload,
            changes,
            kind: PhantomData,
        }
    }
}

impl<O: WorkloadObject> Method for WorkloadUpdate<O> {
    const NAME: &'static str = O::UPDATE;
    const SINCE: Version = Version::new(1, 0);
    type Reply = Workload;
    fn args(&self) -> Value {
        let mut args = Map::new();
        args.insert(
            O::ARG.into(),
            to_primitive(O::KIND, self.workload.clone(), self.changes.clone()),
        );
        Value::Object(args)
    }
    fn decode_reply(result: Value) -> Result<Workload, RpcError> {
        decode_reply::<O>(&result)
    }
}

/// `<kind>_delete`: removes the object from Kubernetes, then the record.
#[derive(Debug, Clone)]
pub struct WorkloadDelete<O> {
    /// Which record.
    pub uuid: Uuid,
    kind: PhantomData<fn() -> O>,
}

impl<O> WorkloadDelete<O> {
    /// A delete request.
    pub fn new(uuid: Uuid) -> Self {
        WorkloadDelete {
            uuid,
            kind: PhantomData,
        }
    }
}

impl<O: WorkloadObject> Method for WorkloadDelete<O> {
    const NAME: &'static str = O::DELETE;
    const SINCE: Version = Version::new(1, 0);
    type Reply = ();
    fn args(&self) -> Value {
        json!({"uuid": self.uuid})
    }
    fn decode_reply(_: Value) -> Result<(), RpcError> {
        Ok(())
    }
}

/// A decoded workload call (part of [`crate::Call`]).
#[derive(Debug, Clone, PartialEq)]
pub enum WorkloadCall {
    /// `<kind>_create`.
    Create(Workload),
    /// `<kind>_update`.
    Update {
        /// Which record and its new values.
        workload: Workload,
        /// The fields to write.
        changes: Vec<String>,
    },
    /// `<kind>_delete`.
    Delete(Uuid),
}

/// Every workload method name with its kind.
pub(crate) fn methods() -> [(&'static str, WorkloadKind); 9] {
    fn of<O: WorkloadObject>() -> [(&'static str, WorkloadKind); 3] {
        [
            (O::CREATE, O::KIND),
            (O::UPDATE, O::KIND),
            (O::DELETE, O::KIND),
        ]
    }
    let [a, b, c] = of::<PodObject>();
    let [d, e, f] = of::<ServiceObject>();
    let [g, h, i] = of::<RcObject>();
    [a, b, c, d, e, f, g, h, i]
}

/// Decodes the arguments of workload method `method`, or `None` if it is not one.
pub(crate) fn decode(
    method: &str,
    args: Map<String, Value>,
) -> Option<Result<(WorkloadKind, WorkloadCall), RemoteFailure>> {
    fn decode_as<O: WorkloadObject>(
        method: &str,
        mut args: Map<String, Value>,
    ) -> Option<Result<WorkloadCall, RemoteFailure>> {
        let arg = if method == O::DELETE { "uuid" } else { O::ARG };
        if method != O::CREATE && method != O::UPDATE && method != O::DELETE {
            return None;
        }
        let value = args.remove(arg);
        if let Some(extra) = args.keys().next() {
            return Some(Err(RemoteFailure::type_error(format!(
                "{method}() got an unexpected keyword argument '{extra}'"
            ))));
        }
        let Some(value) = value else {
            return Some(Err(RemoteFailure::type_error(format!(
                "{method}() missing 1 required positional argument: '{arg}'"
            ))));
        };
        Some(if method == O::DELETE {
            serde_json::from_value(value)
                .map(WorkloadCall::Delete)
                .map_err(|e| RemoteFailure::type_error(format!("{method}(): {e}")))
        } else {
            from_primitive::<O>(&value).map(|(workload, changes)| {
                if method == O::CREATE {
                    WorkloadCall::Create(workload)
                } else {
                    WorkloadCall::Update { workload, changes }
                }
            })
        })
    }
    let kind = methods()
        .into_iter()
        .find(|(name, _)| *name == method)
        .map(|(_, kind)| kind)?;
    let call = match kind {
        WorkloadKind::Pod => decode_as::<PodObject>(method, args),
        WorkloadKind::Service => decode_as::<ServiceObject>(method, args),
        WorkloadKind::ReplicationController => decode_as::<RcObject>(method, args),
    }?;
    Some(call.map(|c| (kind, c)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn as_map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn names_follow_the_kind() {
        assert_eq!(<WorkloadCreate<PodObject> as Method>::NAME, "pod_create");
        assert_eq!(<WorkloadUpdate<RcObject> as Method>::NAME, "rc_update");
        assert_eq!(
            <WorkloadDelete<ServiceObject> as Method>::NAME,
            "service_delete"
        );
        assert_eq!(
            object_name(WorkloadKind::ReplicationController),
            "ReplicationController"
        );
    }

    #[test]
    fn requests_decode_back() {
        let w = Workload {
            uuid: Uuid::new_v4(),
            bay_uuid: Uuid::new_v4(),
            manifest: Some("{}".into()),
            ..Workload::default()
        };
        let create = WorkloadCreate::<RcObject>::new(w.clone());
        let (kind, call) = decode("rc_create", as_map(create.args())).unwrap().unwrap();
        assert_eq!(kind, WorkloadKind::ReplicationController);
        assert_eq!(call, WorkloadCall::Create(w.clone()));

        let update = WorkloadUpdate::<PodObject>::new(w.clone(), vec!["desc".into()]);
        let (_, call) = decode("pod_update", as_map(update.args()))
            .unwrap()
            .unwrap();
        assert_eq!(
            call,
            WorkloadCall::Update {
                workload: w.clone(),
                changes: vec!["desc".into()]
            }
        );

        let delete = WorkloadDelete::<ServiceObject>::new(w.uuid);
        let (_, call) = decode("service_delete", as_map(delete.args()))
            .unwrap()
            .unwrap();
        assert_eq!(call, WorkloadCall::Delete(w.uuid));
    }

    #[test]
    fn wrong_objects_and_arguments_are_refused() {
        assert!(decode("container_create", Map::new()).is_none());
        let err = decode(
            "pod_delete",
            as_map(json!({"uuid": Uuid::new_v4(), "x": 1})),
        )
        .unwrap()
        .unwrap_err();
        assert_eq!(err.class, "TypeError");
        let err = decode("pod_create", Map::new()).unwrap().unwrap_err();
        assert_eq!(err.class, "TypeError");
        // A Service primitive where a Pod is expected.
        let service = to_primitive(WorkloadKind::Service, Workload::default(), Vec::new());
        let err = decode("pod_create", as_map(json!({"pod": service})))
            .unwrap()
            .unwrap_err();
        assert_eq!(err.class, "UnsupportedObjectError");
    }
}
