//! Client certificates for a bay's users (spec/rest-api.md §4.4, specs/0002).
//!
//! A tenant sends a PKCS#10 request; the conductor signs its public key with the operator's
//! client CA, **choosing the subject itself**: the requested subject is ignored, so a request for
//! `CN=admin, O=system:masters` (what python-magnumclient's `cluster config` asks for) yields a
//! certificate that names only the bay ([`BayIdentity`]). The backend trusts the CA for client
//! authentication and grants the bay's group the bay's rights and nothing else.

use crate::DriverError;
use rcgen::{
    CertificateSigningRequestParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SerialNumber,
};
use std::path::Path;
use std::time::Duration;
use uuid::Uuid;

/// Longest PEM request accepted (a 16384-bit RSA request is about 5 KiB).
pub const MAX_CSR_BYTES: usize = 64 * 1024;

/// The identity a bay certificate carries, chosen by the conductor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BayIdentity {
    /// Common name: the user, confined to the bay (`magnum:bay:<bay uuid>:<user id>`).
    pub user: String,
    /// Organization: the bay's current credential group (see [`bay_group`]).
    pub group: String,
}

impl BayIdentity {
    /// The identity of `user_id` in `bay` at credential `generation`.
    pub fn new(bay: Uuid, user_id: &str, generation: i32) -> Self {
        BayIdentity {
            user: format!("magnum:bay:{bay}:{user_id}"),
            group: bay_group(bay, generation),
        }
    }
}

/// The group every certificate of `bay` issued at `generation` belongs to. Rotating the bay's
/// credentials moves the bay's rights to the next generation's group, so earlier certificates
/// keep their signature but lose every right.
pub fn bay_group(bay: Uuid, generation: i32) -> String {
    format!("magnum:bay:{bay}:g{generation}")
}

/// The bay, credential generation and user a certificate signed by [`ClientCa::sign`] names,
/// read from its DER; `None` unless the subject is exactly one such CN and one such O for the
/// same bay.
pub fn bay_identity_of(cert_der: &[u8]) -> Option<(Uuid, i32, String)> {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let (_, cert) = X509Certificate::from_der(cert_der).ok()?;
    let subject = cert.subject();
    let cns: Vec<_> = subject.iter_common_name().collect();
    let orgs: Vec<_> = subject.iter_organization().collect();
    let ([cn], [org]) = (cns.as_slice(), orgs.as_slice()) else {
        return None;
    };
    let (cn, org) = (cn.as_str().ok()?, org.as_str().ok()?);
    if subject.iter().count() != 2 {
        return None;
    }
    let (bay, generation) = org.strip_prefix("magnum:bay:")?.rsplit_once(":g")?;
    let bay = Uuid::parse_str(bay).ok()?;
    let generation: i32 = generation.parse().ok()?;
    let user = cn.strip_prefix(&format!("magnum:bay:{bay}:"))?;
    (org == bay_group(bay, generation) && !user.is_empty())
        .then(|| (bay, generation, user.to_owned()))
}

/// Why a request could not be signed: the tenant's fault (HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidCsr(pub String);

/// The operator's client CA: its certificate and key, and how long issued certificates last.
pub struct ClientCa {
    issuer: Issuer<'static, KeyPair>,
    validity: Duration,
}

impl std::fmt::Debug for ClientCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("ClientCa")
            .field("validity", &self.validity)
            .finish_non_exhaustive()
    }
}

impl ClientCa {
    /// Reads the CA certificate and its PKCS#8 key from PEM files.
    pub fn load(cert: &Path, key: &Path, validity: Duration) -> Result<Self, DriverError> {
        let read = |path: &Path| {
            std::fs::read_to_string(path).map_err(|e| {
                DriverError::NotConfigured(format!("cannot read {}: {e}", path.display()))
            })
        };
        Self::from_pem(&read(cert)?, &read(key)?, validity)
    }

    /// The CA from PEM text.
    pub fn from_pem(
        cert_pem: &str,
        key_pem: &str,
        validity: Duration,
    ) -> Result<Self, DriverError> {
        let key = KeyPair::from_pem(key_pem).map_err(|e| {
            DriverError::NotConfigured(format!("the client CA key is not a PKCS#8 PEM key: {e}"))
        })?;
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key).map_err(|e| {
            DriverError::NotConfigured(format!("the client CA certificate is not usable: {e}"))
        })?;
        Ok(ClientCa { issuer, validity })
    }

    /// Signs the public key of `csr_pem` (whose self-signature must verify) for `identity`, as
    /// a client-authentication certificate; returns it as PEM.
    pub fn sign(&self, csr_pem: &str, identity: &BayIdentity) -> Result<String, InvalidCsr> {
        if csr_pem.len() > MAX_CSR_BYTES {
            return Err(InvalidCsr(format!(
                "The certificate signing request is longer than {MAX_CSR_BYTES} bytes."
            )));
        }
        let mut csr = CertificateSigningRequestParams::from_pem(csr_pem).map_err(|e| {
            InvalidCsr(format!(
                "The certificate signing request is not a valid PEM PKCS#10 request: {e}."
            ))
        })?;
        let params = &mut csr.params;
        let mut subject = DistinguishedName::new();
        subject.push(DnType::CommonName, identity.user.as_str());
        subject.push(DnType::OrganizationName, identity.group.as_str());
        params.distinguished_name = subject;
        params.subject_alt_names.clear();
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.name_constraints = None;
        params.custom_extensions.clear();
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(SerialNumber::from_slice(Uuid::new_v4().as_bytes()));
        let now = time::OffsetDateTime::now_utc();
        // A little slack for clocks behind ours.
        params.not_before = now - time::Duration::minutes(5);
        params.not_after = now + self.validity;
        let cert = csr
            .signed_by(&self.issuer)
            .map_err(|e| InvalidCsr(format!("The request cannot be signed: {e}.")))?;
        Ok(cert.pem())
    }
}

/// PEM text of DER certificates, one block each.
pub fn certificates_pem(ders: &[Vec<u8>]) -> String {
    ders.iter()
        .map(|der| {
            let block = pem::Pem::new("CERTIFICATE", der.clone());
            pem::encode_config(
                &block,
                pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, PublicKeyData};
    use x509_parser::prelude::{FromDer, X509Certificate};

    fn ca() -> (ClientCa, String) {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::default();
        params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "magnum client CA");
        let cert = params.self_signed(&key).expect("ca");
        let pem = cert.pem();
        let ca = ClientCa::from_pem(&pem, &key.serialize_pem(), Duration::from_secs(3600))
            .expect("ca loads");
        (ca, pem)
    }

    fn csr(cn: &str, org: &str) -> (String, Vec<u8>) {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(vec!["evil.example".to_owned()]).expect("params");
        params.distinguished_name.push(DnType::CommonName, cn);
        params
            .distinguished_name
            .push(DnType::OrganizationName, org);
        let csr = params.serialize_request(&key).expect("csr");
        (csr.pem().expect("pem"), key.der_bytes().to_vec())
    }

    #[test]
    fn the_subject_is_the_bays_whatever_the_request_asks_for() {
        let (ca, ca_pem) = ca();
        let bay = Uuid::new_v4();
        let (request, public_key) = csr("admin", "system:masters");
        let identity = BayIdentity::new(bay, "alice", 3);
        let pem = ca.sign(&request, &identity).expect("signed");
        let der = pem::parse(&pem).expect("pem").into_contents();
        let (_, cert) = X509Certificate::from_der(&der).expect("certificate");
        let subject = cert.subject().to_string();
        assert_eq!(
            subject,
            format!("CN=magnum:bay:{bay}:alice, O=magnum:bay:{bay}:g3")
        );
        assert!(!subject.contains("system:masters"));
        assert_eq!(
            &*cert.public_key().subject_public_key.data,
            public_key.as_slice()
        );
        let ca_der = pem::parse(&ca_pem).expect("pem").into_contents();
        let (_, ca_cert) = X509Certificate::from_der(&ca_der).expect("ca");
        assert_eq!(cert.issuer(), ca_cert.subject());
        cert.verify_signature(Some(ca_cert.public_key()))
            .expect("signed by the CA");
        assert!(cert.subject_alternative_name().expect("parses").is_none());
        let eku = cert.extended_key_usage().expect("parses").expect("present");
        assert!(eku.value.client_auth && !eku.value.server_auth);
        assert!(!cert.is_ca());
    }

    #[test]
    fn requests_that_are_not_pkcs10_or_do_not_verify_are_refused() {
        let (ca, ca_pem) = ca();
        let identity = BayIdentity::new(Uuid::new_v4(), "alice", 0);
        for bad in [
            String::new(),
            "not a request".to_owned(),
            "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n"
                .to_owned(),
            ca_pem,
            "x".repeat(MAX_CSR_BYTES + 1),
        ] {
            assert!(ca.sign(&bad, &identity).is_err(), "{bad:.60}");
        }
        // A request whose signature does not match its contents.
        let (request, _) = csr("admin", "system:masters");
        let mut der = pem::parse(&request).expect("pem").into_contents();
        let last = der.len() - 1;
        der[last] ^= 0xff;
        let tampered = pem::encode(&pem::Pem::new("CERTIFICATE REQUEST", der));
        let err = ca.sign(&tampered, &identity).expect_err("tampered");
        assert!(err.0.contains("not a valid"), "{err}");
    }

    #[test]
    fn the_bay_and_generation_are_read_back_from_a_signed_certificate() {
        let (ca, ca_pem) = ca();
        let bay = Uuid::new_v4();
        let (request, _) = csr("admin", "system:masters");
        let pem = ca
            .sign(&request, &BayIdentity::new(bay, "alice", 7))
            .expect("signed");
        let der = pem::parse(&pem).expect("pem").into_contents();
        assert_eq!(bay_identity_of(&der), Some((bay, 7, "alice".to_owned())));
        // The CA itself, and certificates with other subjects, name no bay.
        let ca_der = pem::parse(&ca_pem).expect("pem").into_contents();
        assert_eq!(bay_identity_of(&ca_der), None);
        let key = KeyPair::generate().expect("key");
        for (cn, org) in [
            (
                format!("magnum:bay:{bay}:alice"),
                format!("magnum:bay:{}:g7", Uuid::new_v4()),
            ),
            (format!("magnum:bay:{bay}:"), format!("magnum:bay:{bay}:g7")),
            (
                format!("magnum:bay:{bay}:alice"),
                format!("magnum:bay:{bay}:gx"),
            ),
            ("admin".to_owned(), "system:masters".to_owned()),
        ] {
            let mut params = CertificateParams::default();
            params
                .distinguished_name
                .push(DnType::CommonName, cn.as_str());
            params
                .distinguished_name
                .push(DnType::OrganizationName, org.as_str());
            let cert = params.self_signed(&key).expect("cert");
            assert_eq!(bay_identity_of(cert.der()), None, "{cn} {org}");
        }
        assert_eq!(bay_identity_of(b"junk"), None);
    }

    #[test]
    fn rsa_requests_like_the_clients_are_signed() {
        let (ca, _) = ca();
        let bay = Uuid::new_v4();
        let pem = ca
            .sign(RSA_CSR, &BayIdentity::new(bay, "bob", 1))
            .expect("signed");
        let der = pem::parse(&pem).expect("pem").into_contents();
        let (_, cert) = X509Certificate::from_der(&der).expect("certificate");
        assert_eq!(
            cert.subject().to_string(),
            format!("CN=magnum:bay:{bay}:bob, O=magnum:bay:{bay}:g1")
        );
    }

    #[test]
    fn the_ca_must_be_a_certificate_and_a_pkcs8_key() {
        let err = ClientCa::from_pem("nope", "nope", Duration::from_secs(1)).expect_err("bad");
        assert!(err.to_string().contains("PKCS#8"), "{err}");
        let err = ClientCa::load(
            Path::new("/nonexistent/ca.pem"),
            Path::new("/nonexistent/ca.key"),
            Duration::from_secs(1),
        )
        .expect_err("missing");
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }

    /// A 2048-bit RSA request with `CN=admin, O=system:masters`, made as python-magnumclient's
    /// `cluster config` makes it (cryptography, SHA-256).
    const RSA_CSR: &str = include_str!("../tests/data/magnumclient.csr");
}
