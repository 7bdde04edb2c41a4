//! Bay certificates (spec/rest-api.md §4.4, spec/rpc.md `Certificate` 1.0): a signing request
//! going to the conductor, or a signed certificate or CA coming back. Not stored.

use crate::error::ValidationError;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The only `ca_cert_type` served: the CA of the bay's COE API.
pub const CA_CERT_TYPE: &str = "kubernetes";

/// Longest `csr` the API accepts, in bytes (the conductor checks again).
pub const MAX_CSR_LEN: usize = 64 * 1024;

/// One certificate exchange with a bay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificate {
    /// The caller's project.
    pub project_id: String,
    /// The caller.
    pub user_id: String,
    /// The bay.
    pub bay_uuid: Uuid,
    /// The tenant's PEM PKCS#10 request (signing only).
    #[serde(default)]
    pub csr: Option<String>,
    /// The signed certificate, or the CA certificate (replies).
    #[serde(default)]
    pub pem: Option<String>,
    /// Which CA (extension field; only [`CA_CERT_TYPE`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert_type: Option<String>,
}

/// Checks a `ca_cert_type` query or body value: absent or [`CA_CERT_TYPE`].
pub fn check_ca_cert_type(value: Option<&str>) -> Result<(), ValidationError> {
    match value {
        None | Some(CA_CERT_TYPE) => Ok(()),
        Some(other) => Err(ValidationError::Other(format!(
            "Invalid ca_cert_type {other:?}: only \"{CA_CERT_TYPE}\" is supported."
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_kubernetes_ca_is_served() {
        assert!(check_ca_cert_type(None).is_ok());
        assert!(check_ca_cert_type(Some("kubernetes")).is_ok());
        for other in ["etcd", "front_proxy", "", "Kubernetes"] {
            let err = check_ca_cert_type(Some(other)).expect_err(other);
            assert!(err.to_string().contains("only \"kubernetes\""), "{err}");
        }
    }
}
