//! The Docker client proxy (specs/0005): a TLS endpoint for docker bays' users, in front of the
//! shared Engines of `[docker] hosts`.
//!
//! A client must present a certificate of `[docker] client_ca_cert` (signed by
//! `POST /v1/certificates`); its subject names the bay and the credential generation. Every
//! request is checked against the bay row (it exists, is a swarm bay, and is still at that
//! generation, so rotation revokes at once, even on open connections) and against the route
//! allow-list of [`magnum_drivers::docker::authz`]; allowed calls are relayed to the bay's own
//! Engines, containers and execs only when labelled with the bay. Refusals answer Docker's error
//! shape `{"message": "..."}`.

use crate::Conductor;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use magnum_core::bay::Bay;
use magnum_core::baymodel::Coe;
use magnum_db::{Scope, baymodels, bays};
use magnum_drivers::credentials::bay_identity_of;
use magnum_drivers::docker::authz::{self, ContainerOp, Route};
use magnum_drivers::docker::{ClientAccess, DockerDriver};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Connections served at once; more wait in the accept queue.
const MAX_CONNECTIONS: usize = 512;
/// Time a client has to complete the TLS handshake, and to send a request's headers.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);

type Body = BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// A refusal or failure, answered as `{"message": ...}`.
#[derive(Debug)]
struct Failure(StatusCode, String);

impl Failure {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Failure(status, message.into())
    }

    fn unavailable(e: impl std::fmt::Display) -> Self {
        Failure::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
    }
}

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

fn json_response(status: StatusCode, value: &Value) -> Response<Body> {
    let mut response = Response::new(full(value.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn failure_response(failure: &Failure) -> Response<Body> {
    json_response(failure.0, &json!({ "message": failure.1 }))
}

/// The TLS settings: the serving chain, and client certificates required from the client CA.
fn tls_config(access: &ClientAccess) -> anyhow::Result<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in &access.client_roots {
        roots.add(cert.clone())?;
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(access.server_chain.clone(), access.server_key.clone_key())?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Binds `[docker] client_proxy_listen` (a failure stops start-up) and returns the serving loop.
pub(crate) async fn bind(
    conductor: Arc<Conductor>,
    access: &ClientAccess,
    shutdown: CancellationToken,
) -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    let acceptor = TlsAcceptor::from(Arc::new(tls_config(access)?));
    let listener = TcpListener::bind(access.listen)
        .await
        .map_err(|e| anyhow::anyhow!("[docker] client_proxy_listen {}: {e}", access.listen))?;
    tracing::info!(listen = %access.listen, api_address = %access.api_address, "Docker client proxy listening");
    Ok(accept_loop(conductor, listener, acceptor, shutdown))
}

async fn accept_loop(
    conductor: Arc<Conductor>,
    listener: TcpListener,
    acceptor: TlsAcceptor,
    shutdown: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        let accepted = tokio::select! {
            () = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                tracing::warn!(error = %e, "Docker client proxy: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let (conductor, acceptor, shutdown) =
            (Arc::clone(&conductor), acceptor.clone(), shutdown.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::info!(%peer, error = %e, "Docker client proxy: TLS handshake refused");
                    return;
                }
                Err(_) => return,
            };
            let identity = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|certs| certs.first())
                .and_then(|cert| bay_identity_of(cert));
            let Some((bay, generation, user)) = identity else {
                tracing::info!(%peer, "Docker client proxy: the client certificate names no bay");
                return;
            };
            let caller = Arc::new(Caller {
                conductor,
                bay,
                generation,
                user,
            });
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let caller = Arc::clone(&caller);
                async move { Ok::<_, std::convert::Infallible>(caller.handle(req).await) }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(HANDSHAKE_TIMEOUT);
            let conn = builder
                .serve_connection(TokioIo::new(tls), service)
                .with_upgrades();
            tokio::select! {
                result = conn => {
                    if let Err(e) = result {
                        tracing::debug!(%peer, error = %e, "Docker client proxy connection ended");
                    }
                }
                () = shutdown.cancelled() => {}
            }
        });
    }
}

/// One verified client connection.
struct Caller {
    conductor: Arc<Conductor>,
    bay: Uuid,
    generation: i32,
    user: String,
}

impl Caller {
    async fn handle(&self, req: Request<Incoming>) -> Response<Body> {
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        match self.serve(req).await {
            Ok(response) => response,
            Err(failure) => {
                tracing::info!(bay.uuid = %self.bay, user = %self.user, %method, %path, status = failure.0.as_u16(), reason = %failure.1, "Docker client proxy refused a call");
                failure_response(&failure)
            }
        }
    }

    /// The bay, if the certificate still speaks for it.
    async fn authorize(&self) -> Result<Bay, Failure> {
        let refused = |why: &str| {
            Failure::new(
                StatusCode::UNAUTHORIZED,
                format!(
                    "This certificate is no longer valid for bay {}: {why}",
                    self.bay
                ),
            )
        };
        let mut conn = self
            .conductor
            .pool
            .acquire()
            .await
            .map_err(Failure::unavailable)?;
        let bay = bays::find(&mut conn, &Scope::all(), bays::Key::Uuid(self.bay))
            .await
            .map_err(Failure::unavailable)?
            .pop()
            .ok_or_else(|| refused("the bay does not exist."))?;
        let model = baymodels::find(
            &mut conn,
            &Scope::all(),
            baymodels::Key::Uuid(bay.baymodel_id),
        )
        .await
        .map_err(Failure::unavailable)?
        .pop()
        .ok_or_else(|| refused("its baymodel is gone."))?;
        if model.coe != Coe::Swarm || model.tls_disabled {
            return Err(refused("it is not a TLS swarm bay."));
        }
        let generation = bays::credential_generation(&mut conn, self.bay)
            .await
            .map_err(Failure::unavailable)?;
        if generation != Some(self.generation) {
            return Err(refused("its credentials were rotated."));
        }
        if !bay.status.has_usable_credentials() {
            return Err(Failure::new(
                StatusCode::CONFLICT,
                format!("Bay {} is {}.", bay.name, bay.status),
            ));
        }
        Ok(bay)
    }

    async fn serve(&self, req: Request<Incoming>) -> Result<Response<Body>, Failure> {
        let bay = self.authorize().await?;
        let route = authz::route(req.method().as_str(), req.uri().path(), req.uri().query())
            .map_err(|e| Failure::new(StatusCode::FORBIDDEN, e.0))?;
        let driver = self.conductor.backends.docker().ok_or_else(|| {
            Failure::unavailable("The docker driver is not configured on this conductor.")
        })?;
        let endpoints = driver.bay_endpoints(bay.uuid).await;
        let Some(first) = endpoints.first().cloned() else {
            return Err(Failure::unavailable(format!(
                "Bay {} holds no reachable Docker host.",
                bay.name
            )));
        };
        let relay = Relay { driver };
        match route {
            Route::Ping | Route::Version | Route::ListImages | Route::InspectImage => {
                relay.forward(&first, streamed(req), false).await
            }
            Route::Info => {
                let (status, info) = relay.get_json(&first, "/info").await?;
                if !status.is_success() {
                    return Err(Failure::new(status, "The Docker host refused info."));
                }
                Ok(json_response(
                    StatusCode::OK,
                    &authz::filter_info(&info, bay.uuid),
                ))
            }
            Route::ListContainers => {
                let query = authz::list_query(req.uri().query(), bay.uuid)
                    .map_err(|e| Failure::new(StatusCode::BAD_REQUEST, e.0))?;
                let mut all = Vec::new();
                for endpoint in &endpoints {
                    let path = format!("{}?{query}", req.uri().path());
                    let (status, list) = relay.get_json(endpoint, &path).await?;
                    if !status.is_success() {
                        return Err(engine_message(status, &list));
                    }
                    // The Engine filtered already; checking again costs nothing.
                    all.extend(
                        list.as_array()
                            .into_iter()
                            .flatten()
                            .filter(|c| authz::labelled_for(c.get("Labels"), bay.uuid))
                            .cloned(),
                    );
                }
                Ok(json_response(StatusCode::OK, &Value::Array(all)))
            }
            Route::CreateContainer => {
                let (parts, body) = req.into_parts();
                let body = read_body(body).await?;
                let body = authz::sanitize_create(&body, bay.uuid, &bay.project_id)
                    .map_err(|e| Failure::new(StatusCode::FORBIDDEN, e.0))?;
                let endpoint = driver
                    .least_loaded(&endpoints)
                    .await
                    .map_err(Failure::unavailable)?;
                relay
                    .forward(&endpoint, Request::from_parts(parts, full(body)), true)
                    .await
            }
            Route::Container { id, op } => {
                let (endpoint, full_id) = relay.container_host(&endpoints, &id, bay.uuid).await?;
                // The call names the container checked, by id: a name cannot be taken over by
                // another bay's container in between.
                let mut req = req;
                *req.uri_mut() = with_container_id(req.uri(), &id, &full_id)?;
                if op == ContainerOp::ExecCreate {
                    let (parts, body) = req.into_parts();
                    let body = read_body(body).await?;
                    authz::check_exec_create(&body)
                        .map_err(|e| Failure::new(StatusCode::FORBIDDEN, e.0))?;
                    return relay
                        .forward(&endpoint, Request::from_parts(parts, full(body)), true)
                        .await;
                }
                relay.forward(&endpoint, streamed(req), false).await
            }
            Route::Exec { id } => {
                let endpoint = relay.exec_host(&endpoints, &id, bay.uuid).await?;
                relay.forward(&endpoint, streamed(req), false).await
            }
            Route::PullImage => relay.pull(&endpoints, req).await,
        }
    }
}

/// Reads a request body the proxy checks, up to [`authz::MAX_CHECKED_BODY`].
async fn read_body(body: Incoming) -> Result<Bytes, Failure> {
    Limited::new(body, authz::MAX_CHECKED_BODY)
        .collect()
        .await
        .map(http_body_util::Collected::to_bytes)
        .map_err(|e| {
            Failure::new(
                StatusCode::BAD_REQUEST,
                format!(
                    "The request body could not be read (at most {} bytes): {e}",
                    authz::MAX_CHECKED_BODY
                ),
            )
        })
}

/// `uri` (`[/vX.Y]/containers/{id}[/op][?query]`) naming the container by `full_id`.
fn with_container_id(uri: &hyper::Uri, id: &str, full_id: &str) -> Result<hyper::Uri, Failure> {
    let invalid = || Failure::new(StatusCode::BAD_REQUEST, "Invalid container path.");
    let path = uri.path();
    let (prefix, rest) = path.split_once("/containers/").ok_or_else(invalid)?;
    let rest = rest.strip_prefix(id).ok_or_else(invalid)?;
    let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
    format!("{prefix}/containers/{full_id}{rest}{query}")
        .parse()
        .map_err(|_| invalid())
}

/// The client's request with its body relayed as it comes.
fn streamed(req: Request<Incoming>) -> Request<Body> {
    req.map(|body| body.map_err(Into::into).boxed())
}

/// The Engine's own message of a failed answer.
fn engine_message(status: StatusCode, body: &Value) -> Failure {
    Failure::new(
        status,
        body.get("message")
            .and_then(Value::as_str)
            .unwrap_or("The Docker host refused the call.")
            .to_owned(),
    )
}

/// Headers that belong to one hop (RFC 9110 §7.6.1); an upgrade keeps `Connection`/`Upgrade`.
fn strip_hop_headers(headers: &mut HeaderMap, upgrade: bool) {
    for name in [
        "keep-alive",
        "proxy-connection",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
    ] {
        headers.remove(name);
    }
    if !upgrade {
        headers.remove(header::CONNECTION);
        headers.remove(header::UPGRADE);
    }
}

/// Relays calls to the bay's Engines.
struct Relay<'d> {
    driver: &'d DockerDriver,
}

impl Relay<'_> {
    /// Sends one request on a fresh connection to `endpoint`.
    async fn send(
        &self,
        endpoint: &str,
        req: Request<Body>,
    ) -> Result<Response<Incoming>, Failure> {
        let (stream, host) = self
            .driver
            .dial(endpoint)
            .await
            .map_err(Failure::unavailable)?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| Failure::unavailable(format!("Docker host {endpoint}: {e}")))?;
        tokio::spawn(async move {
            if let Err(e) = conn.with_upgrades().await {
                tracing::debug!(error = %e, "Docker Engine connection ended");
            }
        });
        let mut req = req;
        req.headers_mut().insert(
            header::HOST,
            HeaderValue::from_str(&host).unwrap_or(HeaderValue::from_static("docker")),
        );
        sender
            .send_request(req)
            .await
            .map_err(|e| Failure::unavailable(format!("Docker host {endpoint}: {e}")))
    }

    /// `GET path` on `endpoint`, answered as JSON.
    async fn get_json(&self, endpoint: &str, path: &str) -> Result<(StatusCode, Value), Failure> {
        let req = Request::builder()
            .method(Method::GET)
            .uri(path)
            .body(full(Bytes::new()))
            .map_err(|e| Failure::new(StatusCode::BAD_REQUEST, e.to_string()))?;
        let response = self.send(endpoint, req).await?;
        let status = response.status();
        let body = Limited::new(response.into_body(), 16 * 1024 * 1024)
            .collect()
            .await
            .map_err(|e| Failure::unavailable(format!("Docker host {endpoint}: {e}")))?
            .to_bytes();
        Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
    }

    /// The bay's Engine holding container `id` labelled with the bay, and the container's full
    /// id; 404 otherwise, whether the container does not exist or is another bay's.
    async fn container_host(
        &self,
        endpoints: &[String],
        id: &str,
        bay: Uuid,
    ) -> Result<(String, String), Failure> {
        for endpoint in endpoints {
            let (status, inspect) = self
                .get_json(endpoint, &format!("/containers/{id}/json"))
                .await?;
            let full_id = inspect["Id"].as_str().unwrap_or_default();
            if status.is_success()
                && !full_id.is_empty()
                && authz::labelled_for(inspect["Config"].get("Labels"), bay)
            {
                return Ok((endpoint.clone(), full_id.to_owned()));
            }
        }
        Err(Failure::new(
            StatusCode::NOT_FOUND,
            format!("No such container: {id}"),
        ))
    }

    /// The bay's Engine holding exec `id` of one of the bay's containers; 404 otherwise.
    async fn exec_host(
        &self,
        endpoints: &[String],
        id: &str,
        bay: Uuid,
    ) -> Result<String, Failure> {
        for endpoint in endpoints {
            let (status, exec) = self.get_json(endpoint, &format!("/exec/{id}/json")).await?;
            let container = exec["ContainerID"].as_str().unwrap_or_default();
            if status.is_success() && !container.is_empty() {
                let (status, inspect) = self
                    .get_json(endpoint, &format!("/containers/{container}/json"))
                    .await?;
                if status.is_success() && authz::labelled_for(inspect["Config"].get("Labels"), bay)
                {
                    return Ok(endpoint.clone());
                }
            }
        }
        Err(Failure::new(
            StatusCode::NOT_FOUND,
            format!("No such exec instance: {id}"),
        ))
    }

    /// Relays `req` to `endpoint` (`replaced_body`: the proxy rewrote the body, so its length
    /// is recomputed), including an HTTP upgrade (`docker exec`/`attach` hijacking) when the
    /// Engine accepts one.
    async fn forward(
        &self,
        endpoint: &str,
        mut req: Request<Body>,
        replaced_body: bool,
    ) -> Result<Response<Body>, Failure> {
        let upgrade = req.headers().contains_key(header::UPGRADE);
        let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
        let (mut parts, body) = req.into_parts();
        strip_hop_headers(&mut parts.headers, upgrade);
        if replaced_body {
            parts.headers.remove(header::CONTENT_LENGTH);
        }
        let path = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        parts.uri = path
            .parse()
            .map_err(|_| Failure::new(StatusCode::BAD_REQUEST, "Invalid request path."))?;
        let mut response = self
            .send(endpoint, Request::from_parts(parts, body))
            .await?;
        if response.status() == StatusCode::SWITCHING_PROTOCOLS {
            let engine_upgrade = hyper::upgrade::on(&mut response);
            let Some(client_upgrade) = client_upgrade else {
                return Err(Failure::unavailable("The Docker host upgraded unasked."));
            };
            tokio::spawn(async move {
                match tokio::try_join!(client_upgrade, engine_upgrade) {
                    Ok((client, engine)) => {
                        let _ = tokio::io::copy_bidirectional(
                            &mut TokioIo::new(client),
                            &mut TokioIo::new(engine),
                        )
                        .await;
                    }
                    Err(e) => tracing::debug!(error = %e, "Docker client proxy: upgrade failed"),
                }
            });
            let (parts, _) = response.into_parts();
            return Ok(Response::from_parts(parts, full(Bytes::new())));
        }
        let (mut parts, body) = response.into_parts();
        strip_hop_headers(&mut parts.headers, false);
        Ok(Response::from_parts(
            parts,
            body.map_err(Into::into).boxed(),
        ))
    }

    /// An image pull, on every Engine of the bay in turn (a container may be created on any of
    /// them); their progress streams are concatenated.
    async fn pull(
        &self,
        endpoints: &[String],
        req: Request<Incoming>,
    ) -> Result<Response<Body>, Failure> {
        let (parts, _) = req.into_parts();
        let path = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        let mut output = Vec::new();
        for endpoint in endpoints {
            let mut request = Request::builder().method(Method::POST).uri(&path);
            if let Some(auth) = parts.headers.get("x-registry-auth") {
                request = request.header("x-registry-auth", auth);
            }
            let request = request
                .body(full(Bytes::new()))
                .map_err(|e| Failure::new(StatusCode::BAD_REQUEST, e.to_string()))?;
            let response = self.send(endpoint, request).await?;
            let status = response.status();
            let body = Limited::new(response.into_body(), 64 * 1024 * 1024)
                .collect()
                .await
                .map_err(|e| Failure::unavailable(format!("Docker host {endpoint}: {e}")))?
                .to_bytes();
            if !status.is_success() {
                let message: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                return Err(engine_message(status, &message));
            }
            output.extend_from_slice(&body);
        }
        let mut response = Response::new(full(output));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_calls_are_relayed_by_full_id() {
        let full = "f".repeat(64);
        for (uri, expected) in [
            (
                "/v1.47/containers/web/logs?stdout=1",
                format!("/v1.47/containers/{full}/logs?stdout=1"),
            ),
            ("/containers/web", format!("/containers/{full}")),
            ("/containers/web/exec", format!("/containers/{full}/exec")),
        ] {
            let uri: hyper::Uri = uri.parse().unwrap();
            assert_eq!(
                with_container_id(&uri, "web", &full).unwrap().to_string(),
                expected
            );
        }
        let uri: hyper::Uri = "/images/web/json".parse().unwrap();
        assert!(with_container_id(&uri, "web", &full).is_err());
    }
}
