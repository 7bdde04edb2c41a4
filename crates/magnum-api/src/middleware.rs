//! Request plumbing around every route: path normalisation, request ids and error bodies, and
//! authentication.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use magnum_auth::Caller;
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

/// Establishes the caller of a protected route (noauth: from headers).
pub(crate) async fn authenticate(
    State(app): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let caller: Caller = magnum_auth::noauth_identity(req.headers(), &app.noauth);
    req.extensions_mut().insert(caller);
    next.run(req).await
}

/// The fallback for unknown paths.
pub(crate) async fn not_found() -> Response {
    ApiError::NotFound("The resource could not be found.".into()).into_response()
}
