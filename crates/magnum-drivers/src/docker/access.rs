//! `[docker] client_proxy_*` and `client_ca_*`: what the Docker client proxy (specs/0005) needs
//! to serve bay users, checked and loaded at start-up.

use super::DockerConfig;
use crate::DriverError;
use crate::credentials::ClientCa;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The proxy's listener, identity and client CA.
pub struct ClientAccess {
    /// Where the proxy listens.
    pub listen: SocketAddr,
    /// What docker bays show as `api_address`: `tcp://<public host>:<port>`.
    pub api_address: String,
    /// The CA clients verify the proxy with (PEM), served as the bay's CA.
    pub served_ca_pem: String,
    /// The proxy's certificate chain.
    pub server_chain: Vec<CertificateDer<'static>>,
    /// Its key.
    pub server_key: PrivateKeyDer<'static>,
    /// The client CA's certificates, the only roots client certificates are verified against.
    pub client_roots: Vec<CertificateDer<'static>>,
    /// Signs bay users' certificates.
    pub client_ca: ClientCa,
}

impl std::fmt::Debug for ClientAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the keys.
        f.debug_struct("ClientAccess")
            .field("listen", &self.listen)
            .field("api_address", &self.api_address)
            .finish_non_exhaustive()
    }
}

fn set(path: Option<&PathBuf>) -> Option<&Path> {
    path.map(PathBuf::as_path)
        .filter(|p| !p.as_os_str().is_empty())
}

fn not_configured(message: String) -> DriverError {
    DriverError::NotConfigured(message)
}

impl DockerConfig {
    /// The client proxy's settings; `None` when `client_proxy_listen` is unset. Every other
    /// `client_proxy_*`/`client_ca_*` file is then required and must load.
    pub fn client_access(&self) -> Result<Option<ClientAccess>, DriverError> {
        let Some(listen) = self
            .client_proxy_listen
            .as_deref()
            .map(str::trim)
            .filter(|l| !l.is_empty())
        else {
            return Ok(None);
        };
        let listen: SocketAddr = listen.parse().map_err(|_| {
            not_configured(format!(
                "[docker] client_proxy_listen '{listen}' is not an IP address and port."
            ))
        })?;
        if listen.port() == 0 {
            return Err(not_configured(
                "[docker] client_proxy_listen needs a fixed port.".into(),
            ));
        }
        let public = match self
            .client_proxy_public_host
            .as_deref()
            .map(str::trim)
            .filter(|h| !h.is_empty())
        {
            Some(host) => host.to_owned(),
            None if listen.ip().is_unspecified() => {
                return Err(not_configured(
                    "[docker] client_proxy_public_host must be set when client_proxy_listen is \
                     a wildcard address."
                        .into(),
                ));
            }
            None => listen.ip().to_string(),
        };
        let host = if public.contains(':') && !public.starts_with('[') {
            format!("[{public}]")
        } else {
            public
        };
        let file = |option: &str, path: Option<&PathBuf>| {
            let path = set(path).ok_or_else(|| {
                not_configured(format!(
                    "[docker] {option} must be set when client_proxy_listen is."
                ))
            })?;
            std::fs::read(path)
                .map_err(|e| not_configured(format!("[docker] {option} {}: {e}", path.display())))
        };
        let certs = |option: &str, pem: &[u8]| {
            let list = CertificateDer::pem_slice_iter(pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| not_configured(format!("[docker] {option}: {e}")))?;
            if list.is_empty() {
                return Err(not_configured(format!(
                    "[docker] {option} holds no PEM certificate."
                )));
            }
            Ok(list)
        };
        let server_chain = certs(
            "client_proxy_cert",
            &file("client_proxy_cert", self.client_proxy_cert.as_ref())?,
        )?;
        let server_key = PrivateKeyDer::from_pem_slice(&file(
            "client_proxy_key",
            self.client_proxy_key.as_ref(),
        )?)
        .map_err(|e| not_configured(format!("[docker] client_proxy_key: {e}")))?;
        let served_ca = file("client_proxy_ca", self.client_proxy_ca.as_ref())?;
        certs("client_proxy_ca", &served_ca)?;
        let served_ca_pem = String::from_utf8(served_ca)
            .map_err(|_| not_configured("[docker] client_proxy_ca is not PEM text.".into()))?;
        let client_ca_pem = file("client_ca_cert", self.client_ca_cert.as_ref())?;
        let client_roots = certs("client_ca_cert", &client_ca_pem)?;
        let key_path = set(self.client_ca_key.as_ref()).ok_or_else(|| {
            not_configured("[docker] client_ca_key must be set when client_proxy_listen is.".into())
        })?;
        let days = u64::from(self.client_cert_validity_days.max(1));
        let client_ca = ClientCa::load(
            set(self.client_ca_cert.as_ref()).unwrap_or(Path::new("")),
            key_path,
            Duration::from_secs(days * 86_400),
        )?;
        Ok(Some(ClientAccess {
            listen,
            api_address: format!("tcp://{host}:{}", listen.port()),
            served_ca_pem,
            server_chain,
            server_key,
            client_roots,
            client_ca,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proxy_is_off_without_a_listen_address_and_needs_every_file_with_one() {
        assert!(DockerConfig::default().client_access().unwrap().is_none());
        let blank = DockerConfig {
            client_proxy_listen: Some(" ".into()),
            ..DockerConfig::default()
        };
        assert!(blank.client_access().unwrap().is_none());
        for listen in ["nope", "127.0.0.1", "127.0.0.1:0", "0.0.0.0:2376"] {
            let cfg = DockerConfig {
                client_proxy_listen: Some(listen.into()),
                ..DockerConfig::default()
            };
            let err = cfg.client_access().unwrap_err();
            assert!(
                matches!(err, DriverError::NotConfigured(_)),
                "{listen}: {err}"
            );
        }
        let missing = DockerConfig {
            client_proxy_listen: Some("127.0.0.1:2376".into()),
            ..DockerConfig::default()
        };
        let err = missing.client_access().unwrap_err().to_string();
        assert!(err.contains("client_proxy_cert"), "{err}");
    }
}
