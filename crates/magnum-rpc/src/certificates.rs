//! Bay certificates and credentials on the wire (spec/rpc.md §7.3): the `Certificate` object and
//! `sign_certificate`, `get_ca_certificate`, `rotate_ca_certificate` and `credential_rotate`.

use crate::failure::{RemoteFailure, RpcError};
use crate::methods::Method;
use crate::object::{Primitive, VersionedObject};
use crate::version::Version;
use magnum_core::certificate::Certificate;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use uuid::Uuid;

impl VersionedObject for Certificate {
    const NAME: &'static str = "Certificate";
    const VERSION: Version = Version::new(1, 0);
}

/// The `bay` argument of these calls: a Bay primitive naming the bay by uuid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BayRef {
    /// The bay.
    pub uuid: Uuid,
}

impl VersionedObject for BayRef {
    const NAME: &'static str = "Bay";
    const VERSION: Version = Version::new(1, 0);
}

fn bay_arg(bay: Uuid) -> Value {
    Primitive::new(BayRef { uuid: bay }).to_value()
}

fn decode_certificate(result: &Value) -> Result<Certificate, RpcError> {
    Primitive::<Certificate>::from_value(result)
        .map(|p| p.data)
        .map_err(|f| RpcError::BadReply(f.message))
}

/// `sign_certificate`: signs the request's public key for the bay; replies the Certificate with
/// `pem`. The subject is the conductor's choice, not the request's.
#[derive(Debug, Clone)]
pub struct SignCertificate {
    /// The bay.
    pub bay: Uuid,
    /// The request (`csr` set).
    pub certificate: Certificate,
}

impl Method for SignCertificate {
    const NAME: &'static str = "sign_certificate";
    const SINCE: Version = Version::new(1, 0);
    type Reply = Certificate;
    fn args(&self) -> Value {
        json!({"bay": bay_arg(self.bay),
               "certificate": Primitive::new(self.certificate.clone()).to_value()})
    }
    fn decode_reply(result: Value) -> Result<Certificate, RpcError> {
        decode_certificate(&result)
    }
}

/// `get_ca_certificate`: the CA a client of the bay's COE API trusts; replies the Certificate
/// with `pem`.
#[derive(Debug, Clone)]
pub struct GetCaCertificate {
    /// The bay.
    pub bay: Uuid,
    /// Which CA (`kubernetes` or none).
    pub ca_cert_type: Option<String>,
}

impl Method for GetCaCertificate {
    const NAME: &'static str = "get_ca_certificate";
    const SINCE: Version = Version::new(1, 0);
    type Reply = Certificate;
    fn args(&self) -> Value {
        let mut args = Map::new();
        args.insert("bay".into(), bay_arg(self.bay));
        if let Some(kind) = &self.ca_cert_type {
            args.insert("ca_cert_type".into(), json!(kind));
        }
        Value::Object(args)
    }
    fn decode_reply(result: Value) -> Result<Certificate, RpcError> {
        decode_certificate(&result)
    }
}

/// Which credentials a rotation replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// `rotate_ca_certificate`: every client certificate issued so far stops working.
    Certificates,
    /// `credential_rotate`: the certificates and the bay's own backend account.
    Credentials,
}

impl Rotation {
    /// The wire method.
    pub fn method(self) -> &'static str {
        match self {
            Rotation::Certificates => "rotate_ca_certificate",
            Rotation::Credentials => "credential_rotate",
        }
    }
}

/// `rotate_ca_certificate`: the bay's client certificates issued so far stop working.
#[derive(Debug, Clone, Copy)]
pub struct RotateCaCertificate {
    /// The bay.
    pub bay: Uuid,
}

/// `credential_rotate`: the bay's backend credentials are replaced.
#[derive(Debug, Clone, Copy)]
pub struct CredentialRotate {
    /// The bay.
    pub bay: Uuid,
}

macro_rules! rotation_method {
    ($ty:ident, $name:literal) => {
        impl Method for $ty {
            const NAME: &'static str = $name;
            const SINCE: Version = Version::new(1, 0);
            type Reply = ();
            fn args(&self) -> Value {
                json!({"bay": bay_arg(self.bay)})
            }
            fn decode_reply(_: Value) -> Result<(), RpcError> {
                Ok(())
            }
        }
    };
}

rotation_method!(RotateCaCertificate, "rotate_ca_certificate");
rotation_method!(CredentialRotate, "credential_rotate");

/// A decoded certificate or credential call.
#[derive(Debug, Clone, PartialEq)]
pub enum CertificateCall {
    /// [`SignCertificate`].
    Sign {
        /// The bay.
        bay: Uuid,
        /// The request.
        certificate: Certificate,
    },
    /// [`GetCaCertificate`].
    GetCa {
        /// The bay.
        bay: Uuid,
        /// Which CA.
        ca_cert_type: Option<String>,
    },
    /// [`RotateCaCertificate`] or [`CredentialRotate`].
    Rotate {
        /// The bay.
        bay: Uuid,
        /// Which.
        rotation: Rotation,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignArgs {
    bay: Value,
    certificate: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GetCaArgs {
    bay: Value,
    #[serde(default)]
    ca_cert_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BayArgs {
    bay: Value,
}

/// Decodes `method` when it is one of this module's; `None` otherwise.
pub(crate) fn decode(
    method: &str,
    args: &Map<String, Value>,
) -> Option<Result<CertificateCall, RemoteFailure>> {
    let args = Value::Object(args.clone());
    let parse = |e: serde_json::Error| RemoteFailure::type_error(format!("{method}(): {e}"));
    let bay = |v: &Value| Primitive::<BayRef>::from_value(v).map(|p| p.data.uuid);
    let call = match method {
        "sign_certificate" => SignArgs::deserialize(args).map_err(parse).and_then(|a| {
            Ok(CertificateCall::Sign {
                bay: bay(&a.bay)?,
                certificate: Primitive::<Certificate>::from_value(&a.certificate)?.data,
            })
        }),
        "get_ca_certificate" => GetCaArgs::deserialize(args).map_err(parse).and_then(|a| {
            Ok(CertificateCall::GetCa {
                bay: bay(&a.bay)?,
                ca_cert_type: a.ca_cert_type,
            })
        }),
        "rotate_ca_certificate" | "credential_rotate" => {
            let rotation = if method == "credential_rotate" {
                Rotation::Credentials
            } else {
                Rotation::Certificates
            };
            BayArgs::deserialize(args).map_err(parse).and_then(|a| {
                Ok(CertificateCall::Rotate {
                    bay: bay(&a.bay)?,
                    rotation,
                })
            })
        }
        _ => return None,
    };
    Some(call)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> Certificate {
        Certificate {
            project_id: "p".into(),
            user_id: "u".into(),
            bay_uuid: Uuid::from_u128(7),
            csr: Some("-----BEGIN CERTIFICATE REQUEST-----".into()),
            pem: None,
            ca_cert_type: None,
        }
    }

    fn args(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn every_call_decodes_what_its_method_sends() {
        let bay = Uuid::from_u128(7);
        let sign = SignCertificate {
            bay,
            certificate: request(),
        };
        assert_eq!(
            decode("sign_certificate", &args(sign.args())).map(Result::ok),
            Some(Some(CertificateCall::Sign {
                bay,
                certificate: request()
            }))
        );
        let get = GetCaCertificate {
            bay,
            ca_cert_type: Some("kubernetes".into()),
        };
        assert_eq!(
            decode("get_ca_certificate", &args(get.args())).map(Result::ok),
            Some(Some(CertificateCall::GetCa {
                bay,
                ca_cert_type: Some("kubernetes".into())
            }))
        );
        for (method, args_value, rotation) in [
            (
                RotateCaCertificate::NAME,
                RotateCaCertificate { bay }.args(),
                Rotation::Certificates,
            ),
            (
                CredentialRotate::NAME,
                CredentialRotate { bay }.args(),
                Rotation::Credentials,
            ),
        ] {
            assert_eq!(rotation.method(), method);
            assert_eq!(
                decode(method, &args(args_value)).map(Result::ok),
                Some(Some(CertificateCall::Rotate { bay, rotation }))
            );
        }
        assert!(decode("bay_create", &Map::new()).is_none());
    }

    #[test]
    fn bad_arguments_are_type_errors() {
        let bad = decode("credential_rotate", &args(json!({"bay": 1, "extra": 2})))
            .expect("ours")
            .expect_err("bad");
        assert!(
            bad.message
                .starts_with("credential_rotate(): unknown field"),
            "{}",
            bad.message
        );
        let wrong_object = decode(
            "sign_certificate",
            &args(json!({"bay": bay_arg(Uuid::nil()), "certificate": bay_arg(Uuid::nil())})),
        )
        .expect("ours")
        .expect_err("bad");
        assert!(
            wrong_object.message.contains("Bay"),
            "{}",
            wrong_object.message
        );
    }
}
