//! Failures: what a conductor sends back (spec/rpc.md §3.2, §9), and what a caller can meet.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// Module of Magnum's typed exceptions; a Python caller rebuilds only these.
pub const MAGNUM_EXCEPTION_MODULE: &str = "magnum.common.exception";
const DISPATCHER_MODULE: &str = "oslo_messaging.rpc.dispatcher";

/// A failure object as it crosses the wire (the JSON text in a reply's `failure`). On the wire it
/// also carries `args` (`[message]`) and `tb` (empty: no traceback leaves a conductor).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "WireFailure", into = "WireFailure")]
pub struct RemoteFailure {
    /// Exception class, e.g. `BayNotFound`.
    pub class: String,
    /// Python module of the class.
    pub module: String,
    /// The only text shown to HTTP clients.
    pub message: String,
    /// Format parameters plus `code`, the HTTP status, on typed errors.
    pub kwargs: Map<String, Value>,
}

#[derive(Serialize, Deserialize)]
struct WireFailure {
    class: String,
    module: String,
    message: String,
    #[serde(default)]
    args: Vec<Value>,
    #[serde(default)]
    kwargs: Map<String, Value>,
    #[serde(default)]
    tb: Vec<String>,
}

impl From<WireFailure> for RemoteFailure {
    fn from(w: WireFailure) -> Self {
        RemoteFailure {
            class: w.class,
            module: w.module,
            message: w.message,
            kwargs: w.kwargs,
        }
    }
}

impl From<RemoteFailure> for WireFailure {
    fn from(f: RemoteFailure) -> Self {
        WireFailure {
            args: vec![json!(f.message)],
            class: f.class,
            module: f.module,
            message: f.message,
            kwargs: f.kwargs,
            tb: Vec::new(),
        }
    }
}

impl RemoteFailure {
    /// A typed Magnum exception with its HTTP status.
    pub fn typed(class: &str, code: u16, message: impl Into<String>) -> Self {
        let message = message.into();
        let mut kwargs = Map::new();
        kwargs.insert("code".into(), json!(code));
        RemoteFailure {
            class: class.to_owned(),
            module: MAGNUM_EXCEPTION_MODULE.to_owned(),
            message,
            kwargs,
        }
    }

    /// Adds a format parameter (e.g. `bay`) to `kwargs`.
    pub fn with_kwarg(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.kwargs.insert(key.to_owned(), value.into());
        self
    }

    fn untyped(class: &str, module: &str, message: String) -> Self {
        RemoteFailure {
            class: class.to_owned(),
            module: module.to_owned(),
            message,
            kwargs: Map::new(),
        }
    }

    /// `<Kind>NotFound` (404): missing, foreign project, unknown marker.
    pub fn not_found(kind: &str, ident: &str) -> Self {
        RemoteFailure::typed(
            &format!("{}NotFound", kind.replace(' ', "")),
            404,
            format!("{kind} {ident} could not be found."),
        )
    }

    /// `InvalidParameterValue` (400).
    pub fn invalid(message: impl Into<String>) -> Self {
        RemoteFailure::typed("InvalidParameterValue", 400, message)
    }

    /// `Conflict` (409).
    pub fn conflict(message: impl Into<String>) -> Self {
        RemoteFailure::typed("Conflict", 409, message)
    }

    /// `ServiceUnavailable` (503): database or backend unreachable, lease lost.
    pub fn unavailable(message: impl Into<String>) -> Self {
        RemoteFailure::typed("ServiceUnavailable", 503, message)
    }

    /// `MagnumException` (500): a handler bug. The message hides details from clients.
    pub fn internal() -> Self {
        RemoteFailure::typed("MagnumException", 500, "An unknown exception occurred.")
    }

    /// `UnsupportedVersion` from oslo's dispatcher.
    pub fn unsupported_version(version: &str, method: &str) -> Self {
        RemoteFailure::untyped(
            "UnsupportedVersion",
            DISPATCHER_MODULE,
            format!("Endpoint does not support RPC version {version}. Attempted method: {method}"),
        )
    }

    /// `NoSuchMethod` from oslo's dispatcher.
    pub fn no_such_method(method: &str) -> Self {
        RemoteFailure::untyped(
            "NoSuchMethod",
            DISPATCHER_MODULE,
            format!("Endpoint does not support RPC method {method}"),
        )
    }

    /// `TypeError`, as Python raises for bad keyword arguments.
    pub fn type_error(message: impl Into<String>) -> Self {
        RemoteFailure::untyped("TypeError", "builtins", message.into())
    }

    /// `UnsupportedObjectError` from oslo.versionedobjects.
    pub fn unsupported_object(objname: &str) -> Self {
        RemoteFailure::untyped(
            "UnsupportedObjectError",
            "oslo_versionedobjects.exception",
            format!("Unsupported object type {objname}"),
        )
    }

    /// `IncompatibleObjectVersion` from oslo.versionedobjects.
    pub fn incompatible_object(objname: &str, version: &str, supported: &str) -> Self {
        RemoteFailure::untyped(
            "IncompatibleObjectVersion",
            "oslo_versionedobjects.exception",
            format!(
                "Version {version} of {objname} is not supported, supported version is {supported}"
            ),
        )
    }

    /// The HTTP status a typed failure carries in `kwargs.code`.
    pub fn code(&self) -> Option<u16> {
        self.kwargs
            .get("code")
            .and_then(Value::as_u64)
            .and_then(|c| u16::try_from(c).ok())
    }

    /// Whether the conductor's dispatcher refused the method or its version.
    pub fn is_dispatcher_refusal(&self) -> bool {
        self.module == DISPATCHER_MODULE
    }
}

/// Every way an RPC call can fail, as seen by the caller.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RpcError {
    /// The conductor handled the call and answered with a failure.
    #[error("{}", .0.message)]
    Remote(RemoteFailure),
    /// Nobody could take the call: broker down, no conductor consuming, publish unconfirmed,
    /// or the method needs a newer conductor than the version cap allows.
    #[error("{0}")]
    Unavailable(String),
    /// A conductor took the call but did not answer in time.
    #[error("The conductor did not answer in time.")]
    Timeout,
    /// The answer could not be understood.
    #[error("malformed reply: {0}")]
    BadReply(String),
}
