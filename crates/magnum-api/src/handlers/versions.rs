//! The public documents: `GET /`, `GET /v1`, `GET /healthcheck`.

use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::Value;

fn base(app: &AppState, headers: &HeaderMap) -> String {
    crate::links::base_url(headers, app.public_endpoint.as_deref(), app.trust_forwarded)
}

/// `GET /`: the versions this endpoint serves.
pub(crate) async fn root(State(app): State<AppState>, headers: HeaderMap) -> Json<Value> {
    Json(crate::versions::root_document(&base(&app, &headers)))
}

/// `GET /v1`: the v1 document with a link to every collection.
pub(crate) async fn v1(State(app): State<AppState>, headers: HeaderMap) -> Json<Value> {
    Json(crate::versions::v1_document(
        &base(&app, &headers),
        &app.doc_url,
    ))
}

/// `GET /healthcheck`: `OK` while serving.
pub(crate) async fn healthcheck() -> &'static str {
    "OK"
}
