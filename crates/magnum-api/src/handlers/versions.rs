//! The public documents: `GET /`, `GET /v1`, `GET /healthcheck`.

use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use magnum_core::fields::parse_bool;
use magnum_core::service::MagnumService;
use magnum_rpc::methods::{ListObjects, ListQuery};
use serde_json::{Value, json};

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

/// `GET /healthcheck`: `OK` (200, `text/plain`) while the message broker is reachable, else 503
/// `broker unreachable`, as oslo's healthcheck answers a failing check. `?detailed=true`, for
/// admins only (authenticated like any protected route), answers JSON with the broker state and
/// each conductor's heartbeat.
pub(crate) async fn healthcheck(
    State(app): State<AppState>,
    mut headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let healthy = app.rpc.is_connected();
    let detailed = query.as_deref().is_some_and(|q| {
        q.split('&').any(|p| {
            p.strip_prefix("detailed=")
                .is_some_and(|v| parse_bool(v) == Some(true))
        })
    });
    if !detailed {
        return if healthy {
            (StatusCode::OK, "OK").into_response()
        } else {
            (StatusCode::SERVICE_UNAVAILABLE, "broker unreachable").into_response()
        };
    }
    let caller = match crate::middleware::identify(&app, &mut headers).await {
        Ok(caller) => caller,
        Err(refused) => return refused,
    };
    let policy = app.policy();
    let creds = policy.credentials(&caller);
    let target = magnum_auth::Target {
        project_id: caller.project_id.clone(),
        user_id: Some(caller.user_id.clone()),
    };
    if !policy.enforce("context_is_admin", &creds, &target) {
        return ApiError::Forbidden("context_is_admin".into()).into_response();
    }
    let ctx = magnum_rpc::RequestContext {
        user_id: Some(caller.user_id.clone()),
        project_id: caller.project_id.clone(),
        is_admin: true,
        ..magnum_rpc::RequestContext::default()
    };
    let conductors = if healthy {
        let listed = tokio::time::timeout(
            DETAIL_TIMEOUT,
            app.rpc.call(
                &ctx,
                &ListObjects::<MagnumService>::new(ListQuery::default()),
            ),
        )
        .await;
        match listed {
            Ok(Ok(services)) => json!(
                services
                    .iter()
                    .map(|s| json!({"host": s.host, "binary": s.binary,
                    "state": s.state(chrono::Utc::now(), app.service_down_time),
                    "last_seen_up": crate::views::timestamp(s.last_seen_up.as_ref())}))
                    .collect::<Vec<_>>()
            ),
            Ok(Err(e)) => json!({"error": e.to_string()}),
            Err(_) => json!({"error": "no conductor answered in time"}),
        }
    } else {
        Value::Null
    };
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if healthy { "OK" } else { "FAILED" },
        "version": env!("CARGO_PKG_VERSION"),
        "checks": {"broker": {"reachable": healthy}, "conductors": conductors},
    });
    (status, Json(body)).into_response()
}

/// How long the detailed health view waits for the conductors.
const DETAIL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
