//! Request plumbing around every route: path normalisation, request ids and error bodies, and
//! authentication.

use crate::error::ApiError;
use crate::state::{AppState, AuthStrategy};
use axum::extract::{Request, State};
use axum::http::header::WWW_AUTHENTICATE;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use magnum_auth::{Caller, KeystoneError};
use tracing::Instrument;

/// [`normalize_path`] in the shape `map_request` takes.
pub(crate) async fn normalize_path_async(req: Request) -> Request {
    normalize_path(req)
}

/// `x-openstack-request-id`.
pub(crate) static REQUEST_ID: HeaderName = HeaderName::from_static("x-openstack-request-id");

/// The request id of the request being served (`req-<uuid>`), and the caller's own if it sent
/// one of that form.
#[derive(Debug, Clone)]
pub(crate) struct RequestId {
    /// Ours.
    pub(crate) id: String,
    /// The caller's, as the global request id.
    pub(crate) global: Option<String>,
}

/// Serves every path with or without one trailing slash and with or without the `/v1` prefix
/// (bookmark links), without redirects (spec/rest-api.md §1.1). Runs before routing.
pub(crate) fn normalize_path(mut req: Request) -> Request {
    let uri = req.uri();
    let path = uri.path();
    let trimmed = if path.len() > 1 {
        path.strip_suffix('/').unwrap_or(path)
    } else {
        path
    };
    let routed = if trimmed == "/"
        || trimmed == "/healthcheck"
        || trimmed == "/v1"
        || trimmed.starts_with("/v1/")
    {
        trimmed.to_owned()
    } else {
        format!("/v1{trimmed}")
    };
    if routed != path {
        let with_query = match uri.query() {
            Some(q) => format!("{routed}?{q}"),
            None => routed,
        };
        if let Ok(new) = with_query.parse::<Uri>() {
            *req.uri_mut() = new;
        }
    }
    req
}

fn is_request_id(value: &str) -> bool {
    value
        .strip_prefix("req-")
        .and_then(magnum_core::ident::parse_hyphenated_uuid)
        .is_some()
}

/// Gives every request an id, a tracing span and an OpenStack error body on failure.
pub(crate) async fn request_id(mut req: Request, next: Next) -> Response {
    let global = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_request_id(v))
        .map(str::to_owned);
    let id = format!("req-{}", uuid::Uuid::new_v4());
    let span = tracing::info_span!("http", method = %req.method(), path = %req.uri().path(), request_id = %id);
    req.extensions_mut().insert(RequestId {
        id: id.clone(),
        global,
    });
    let response = next.run(req).instrument(span.clone()).await;
    span.in_scope(|| tracing::debug!(status = response.status().as_u16(), "served"));
    let mut response = crate::error_body::finish(response, &id);
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID.clone(), value);
    }
    response
}

/// Establishes the caller of a protected route: noauth from headers, keystone from the
/// `X-Auth-Token` Keystone validated (spec/rest-api.md §6.1, §6.2).
pub(crate) async fn authenticate(
    State(app): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    // PostgreSQL text cannot hold NUL, so no stored name or uuid has one: refuse it up front
    // rather than let the database fail on the lookup.
    if has_encoded_nul(req.uri()) {
        return ApiError::BadRequest("NUL characters are not allowed in a URL.".into())
            .into_response();
    }
    let caller = match identify(&app, req.headers_mut()).await {
        Ok(caller) => caller,
        Err(refused) => return refused,
    };
    req.extensions_mut().insert(caller);
    next.run(req).await
}

/// Whether the path or query carries a percent-encoded NUL (`%00`).
fn has_encoded_nul(uri: &Uri) -> bool {
    let text = uri.path_and_query().map_or("", |pq| pq.as_str());
    text.as_bytes().windows(3).any(|w| w == b"%00")
}

/// Who sends a request with these headers: the noauth identity, or the owner of the Keystone
/// token (identity headers a client sent are removed first); else the refusal to answer.
pub(crate) async fn identify(app: &AppState, headers: &mut HeaderMap) -> Result<Caller, Response> {
    Ok(match &app.auth {
        AuthStrategy::Noauth(defaults) => magnum_auth::noauth_identity(headers, defaults),
        AuthStrategy::Keystone {
            client,
            www_authenticate,
        } => {
            strip_identity_headers(headers);
            let token = headers
                .get("x-auth-token")
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|t| !t.is_empty());
            let validated = match token {
                Some(token) => client.validate(token).await,
                None => Err(KeystoneError::Unauthenticated),
            };
            match validated {
                Ok(caller) => caller,
                Err(e) => return Err(refusal(&e, www_authenticate)),
            }
        }
    })
}

/// Counts every answer in `magnum_api_requests_total{method, route, status}` and times it in
/// `magnum_api_request_duration_seconds{method, route}`; `route` is the matched route template
/// (`/v1/bays/{ident}`), never the raw path, so labels stay few.
pub(crate) async fn track_metrics(req: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("magnum_api_requests_total",
        "method" => method.clone(), "route" => route.clone(), "status" => status)
    .increment(1);
    metrics::histogram!("magnum_api_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// The answer to a request Keystone did not vouch for.
fn refusal(e: &KeystoneError, www_authenticate: &HeaderValue) -> Response {
    match e {
        KeystoneError::Unauthenticated => {
            let mut response = ApiError::Unauthenticated.into_response();
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, www_authenticate.clone());
            response
        }
        KeystoneError::NotProjectScoped => ApiError::NotProjectScoped.into_response(),
        // The reason (already logged by the client) may name internal addresses: not shown.
        KeystoneError::Unavailable(_) | KeystoneError::Config(_) => {
            ApiError::Unavailable("The identity service is unavailable.".into()).into_response()
        }
    }
}

/// Removes identity headers a client may have sent: in keystone mode only the token speaks
/// (as keystonemiddleware removes them before setting its own).
fn strip_identity_headers(headers: &mut HeaderMap) {
    let forged: Vec<HeaderName> = headers
        .keys()
        .filter(|name| {
            let n = name.as_str();
            n == "x-roles"
                || n == "x-identity-status"
                || n == "x-service-catalog"
                || n == "x-is-admin-project"
                || ["x-user", "x-project", "x-tenant", "x-domain", "x-service-"]
                    .iter()
                    .any(|p| n.starts_with(p))
        })
        .cloned()
        .collect();
    for name in forged {
        headers.remove(&name);
    }
}

/// The fallback for unknown paths.
pub(crate) async fn not_found() -> Response {
    ApiError::NotFound("The resource could not be found.".into()).into_response()
}
