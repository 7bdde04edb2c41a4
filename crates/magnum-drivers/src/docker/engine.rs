//! One Docker Engine endpoint of the pool: its lazily connected bollard client, the bound on
//! every call, and the mapping of Engine failures to [`DriverError`].

use crate::DriverError;
use bollard::errors::Error as EngineError;
use bollard::{API_DEFAULT_VERSION, Docker};
use futures_util::{Stream, StreamExt};
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::OnceCell;

/// A raw connection to an Engine (unix socket, TCP, or TLS over TCP).
pub trait EngineStream: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> EngineStream for T {}

/// Client certificate material for `tcp://` endpoints (`[docker] tls_*`).
#[derive(Debug, Clone)]
pub(super) struct Tls {
    pub(super) ca: PathBuf,
    pub(super) cert: PathBuf,
    pub(super) key: PathBuf,
}

/// A TLS connector presenting `[docker] tls_cert` and trusting `tls_cacert`.
fn tls_connector(tls: &Tls) -> Result<tokio_rustls::TlsConnector, DriverError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |what: &str, e: &dyn std::fmt::Display| {
        DriverError::NotConfigured(format!("[docker] {what}: {e}"))
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&tls.ca).map_err(|e| bad("tls_cacert", &e))? {
        roots
            .add(cert.map_err(|e| bad("tls_cacert", &e))?)
            .map_err(|e| bad("tls_cacert", &e))?;
    }
    let chain = CertificateDer::pem_file_iter(&tls.cert)
        .map_err(|e| bad("tls_cert", &e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad("tls_cert", &e))?;
    let key = PrivateKeyDer::from_pem_file(&tls.key).map_err(|e| bad("tls_key", &e))?;
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| bad("tls", &e))?
    .with_root_certificates(roots)
    .with_client_auth_cert(chain, key)
    .map_err(|e| bad("tls_cert", &e))?;
    Ok(tokio_rustls::TlsConnector::from(std::sync::Arc::new(
        config,
    )))
}

/// How the endpoint is reached.
#[derive(Debug)]
enum Transport {
    /// `unix:///path`: the socket path.
    Unix(String),
    /// `tcp://host:port` without TLS.
    Http,
    /// `tcp://host:port` with TLS.
    Https(Tls),
}

/// Why one Engine call failed, before it becomes a [`DriverError`]: callers treat "no such
/// object" specially (idempotent removal, a free host, a missing image).
#[derive(Debug, Clone)]
pub(super) enum Fault {
    /// The Engine answered 404; holds its message.
    NotFound(String),
    /// The Engine answered with another error status.
    Refused {
        /// The Engine's own message.
        message: String,
        /// The same as a driver error naming host and call.
        error: DriverError,
    },
    /// Anything else: no answer, a broken connection, an unreadable answer.
    Driver(DriverError),
}

impl From<Fault> for DriverError {
    fn from(fault: Fault) -> Self {
        match fault {
            Fault::NotFound(message) => DriverError::Refused(message),
            Fault::Refused { error, .. } | Fault::Driver(error) => error,
        }
    }
}

impl From<DriverError> for Fault {
    fn from(e: DriverError) -> Self {
        Fault::Driver(e)
    }
}

/// One `[docker] hosts` entry.
#[derive(Debug)]
pub(super) struct Engine {
    url: String,
    transport: Transport,
    timeout: Duration,
    /// The client, built and version-negotiated on first use: a socket that is missing at
    /// start-up, or an Engine that is down, must not stop the conductor.
    client: OnceCell<Docker>,
}

impl Engine {
    /// Parses `unix:///path` or `tcp://host:port`; `tls` applies to tcp endpoints.
    pub(super) fn new(
        url: &str,
        tls: Option<&Tls>,
        timeout: Duration,
    ) -> Result<Engine, DriverError> {
        let invalid = |why: &str| {
            DriverError::NotConfigured(format!(
                "Invalid [docker] hosts entry '{url}': {why} (expected unix:///path or tcp://host:port)."
            ))
        };
        let transport = if let Some(path) = url.strip_prefix("unix://") {
            if !path.starts_with('/') {
                return Err(invalid("the socket path must be absolute"));
            }
            Transport::Unix(path.to_owned())
        } else if let Some(addr) = url.strip_prefix("tcp://") {
            let port = addr
                .rsplit_once(':')
                .filter(|(host, _)| !host.is_empty())
                .and_then(|(_, port)| port.parse::<u16>().ok());
            if port.is_none() {
                return Err(invalid("a tcp endpoint needs a host and a port"));
            }
            match tls {
                Some(tls) => Transport::Https(tls.clone()),
                None => Transport::Http,
            }
        } else {
            return Err(invalid("unknown scheme"));
        };
        let engine = Engine {
            url: url.to_owned(),
            transport,
            timeout,
            client: OnceCell::new(),
        };
        if matches!(engine.transport, Transport::Https(_)) {
            // Building a TLS client reads the CA file but does not connect: a bad file stops
            // start-up instead of the first request.
            engine.connect().map_err(|e| {
                DriverError::NotConfigured(format!("Cannot set up TLS for {url}: {e}"))
            })?;
        }
        Ok(engine)
    }

    /// The endpoint as configured.
    pub(super) fn url(&self) -> &str {
        &self.url
    }

    /// The `[docker] api_timeout` bound of one call.
    pub(super) fn timeout(&self) -> Duration {
        self.timeout
    }

    fn connect(&self) -> Result<Docker, EngineError> {
        // bollard's own per-request bound; every call is also bounded by `tokio::time::timeout`.
        let secs = self.timeout.as_secs().max(1);
        match &self.transport {
            Transport::Unix(path) => Docker::connect_with_unix(path, secs, API_DEFAULT_VERSION),
            Transport::Http => Docker::connect_with_http(&self.url, secs, API_DEFAULT_VERSION),
            Transport::Https(tls) => Docker::connect_with_ssl(
                &self.url,
                &tls.key,
                &tls.cert,
                &tls.ca,
                secs,
                API_DEFAULT_VERSION,
            ),
        }
    }

    /// A fresh raw connection and the `Host` header for it, bounded by `api_timeout`.
    pub(super) async fn dial(&self) -> Result<(Box<dyn EngineStream>, String), DriverError> {
        let unreachable = |why: String| {
            DriverError::Unreachable(format!("Docker host {} is unreachable: {why}.", self.url))
        };
        let connect = async {
            match &self.transport {
                Transport::Unix(path) => {
                    let stream = tokio::net::UnixStream::connect(path)
                        .await
                        .map_err(|e| unreachable(e.to_string()))?;
                    Ok::<_, DriverError>((
                        Box::new(stream) as Box<dyn EngineStream>,
                        "docker".into(),
                    ))
                }
                Transport::Http | Transport::Https(_) => {
                    let addr = self.url.trim_start_matches("tcp://");
                    let tcp = tokio::net::TcpStream::connect(addr)
                        .await
                        .map_err(|e| unreachable(e.to_string()))?;
                    let Transport::Https(tls) = &self.transport else {
                        return Ok((Box::new(tcp) as Box<dyn EngineStream>, addr.to_owned()));
                    };
                    let host = addr
                        .rsplit_once(':')
                        .map_or(addr, |(h, _)| h)
                        .trim_start_matches('[')
                        .trim_end_matches(']');
                    let name = rustls::pki_types::ServerName::try_from(host.to_owned())
                        .map_err(|e| unreachable(e.to_string()))?;
                    let stream = tls_connector(tls)?
                        .connect(name, tcp)
                        .await
                        .map_err(|e| unreachable(format!("TLS: {e}")))?;
                    Ok((Box::new(stream) as Box<dyn EngineStream>, addr.to_owned()))
                }
            }
        };
        tokio::time::timeout(self.timeout, connect)
            .await
            .map_err(|_| self.timed_out("connect", self.timeout))?
    }

    /// The client, connecting and negotiating the API version on first use (an Engine older
    /// than bollard's API version refuses newer requests). A failure is retried next time.
    pub(super) async fn docker(&self) -> Result<&Docker, Fault> {
        self.client
            .get_or_try_init(|| async {
                let docker = self
                    .connect()
                    .map_err(|e| Fault::Driver(self.unreachable(&e)))?;
                self.run("version negotiation", docker.negotiate_version())
                    .await
            })
            .await
    }

    /// Runs one Engine call, bounded by `api_timeout`.
    pub(super) async fn run<T>(
        &self,
        what: &str,
        call: impl Future<Output = Result<T, EngineError>>,
    ) -> Result<T, Fault> {
        self.run_within(what, self.timeout, call).await
    }

    /// Runs one Engine call bounded by `limit` (calls that wait in the Engine, such as a stop
    /// with a grace period, get `api_timeout` plus that wait).
    pub(super) async fn run_within<T>(
        &self,
        what: &str,
        limit: Duration,
        call: impl Future<Output = Result<T, EngineError>>,
    ) -> Result<T, Fault> {
        match tokio::time::timeout(limit, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(self.fault(what, e)),
            Err(_) => Err(Fault::Driver(self.timed_out(what, limit))),
        }
    }

    /// The next item of an Engine stream (logs, exec output, pull progress), bounded by
    /// `api_timeout` per item so that a long stream may take longer as long as it progresses.
    pub(super) async fn next<T, S>(&self, what: &str, stream: &mut S) -> Result<Option<T>, Fault>
    where
        S: Stream<Item = Result<T, EngineError>> + Unpin,
    {
        match tokio::time::timeout(self.timeout, stream.next()).await {
            Ok(Some(Ok(item))) => Ok(Some(item)),
            Ok(Some(Err(e))) => Err(self.fault(what, e)),
            Ok(None) => Ok(None),
            Err(_) => Err(Fault::Driver(self.timed_out(what, self.timeout))),
        }
    }

    /// The error for a call that did not finish within `limit`.
    pub(super) fn timed_out(&self, what: &str, limit: Duration) -> DriverError {
        DriverError::Unreachable(format!(
            "Docker host {} did not answer ({what}) within {} s.",
            self.url,
            limit.as_secs_f32()
        ))
    }

    fn unreachable(&self, e: &EngineError) -> DriverError {
        // hyper's own message ("client error (Connect)") says little; the causes say why.
        let mut why = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(cause) = source {
            let cause_text = cause.to_string();
            if !why.contains(&cause_text) {
                why.push_str(": ");
                why.push_str(&cause_text);
            }
            source = cause.source();
        }
        DriverError::Unreachable(format!(
            "Docker host {} is unreachable: {}.",
            self.url,
            why.trim_end_matches('.')
        ))
    }

    fn fault(&self, what: &str, e: EngineError) -> Fault {
        match e {
            EngineError::DockerResponseServerError {
                status_code: 404,
                message,
            } => Fault::NotFound(message),
            EngineError::DockerResponseServerError { message, .. }
            | EngineError::DockerStreamError { error: message } => Fault::Refused {
                error: DriverError::Refused(format!(
                    "Docker host {} refused {what}: {message}",
                    self.url
                )),
                message,
            },
            EngineError::JsonDataError { .. }
            | EngineError::JsonSerdeError { .. }
            | EngineError::APIVersionParseError {} => Fault::Driver(DriverError::Refused(format!(
                "Docker host {} gave an unreadable answer to {what}: {e}",
                self.url
            ))),
            EngineError::RequestTimeoutError => Fault::Driver(self.timed_out(what, self.timeout)),
            other => Fault::Driver(self.unreachable(&other)),
        }
    }
}
