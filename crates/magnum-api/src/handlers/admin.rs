//! `/v1/mservices`, `/v1/quotas` and `/v1/stats` (spec/rest-api.md §4.5–4.7).

use crate::error::ApiError;
use crate::extract::{Auth, JsonBody};
use crate::list_query::parse_list_query;
use crate::state::AppState;
use crate::views::timestamp;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use magnum_core::quota::{self, Quota};
use magnum_core::service::MagnumService;
use magnum_rpc::admin::{
    CreateQuota, DeleteQuota, GetClusterStats, GetQuota, QuotaKey, UpdateQuota,
};
use magnum_rpc::methods::{ListObjects, ListQuery};
use serde_json::{Value, json};

fn service_view(s: &MagnumService, app: &AppState) -> Value {
    json!({
        "id": s.id, "host": s.host, "binary": s.binary,
        "state": s.state(chrono::Utc::now(), app.service_down_time),
        "disabled": s.disabled, "disabled_reason": s.disabled_reason,
        "report_count": s.report_count,
        "created_at": timestamp(s.created_at.as_ref()),
        "updated_at": timestamp(s.updated_at.as_ref()),
    })
}

fn quota_view(q: &Quota) -> Value {
    json!({
        "id": q.id, "project_id": q.project_id, "resource": q.resource,
        "hard_limit": q.hard_limit,
        "created_at": timestamp(q.created_at.as_ref()),
        "updated_at": timestamp(q.updated_at.as_ref()),
    })
}

/// `GET /v1/mservices` (admins): the conductors and whether their heartbeat is recent.
pub(crate) async fn list_services(
    State(app): State<AppState>,
    auth: Auth,
) -> Result<Json<Value>, ApiError> {
    auth.authorize("magnum-service:get_all", &auth.own_target())?;
    let services = app
        .rpc
        .call(
            &auth.context(false),
            &ListObjects::<MagnumService>::new(ListQuery::default()),
        )
        .await?;
    let items: Vec<Value> = services.iter().map(|s| service_view(s, &app)).collect();
    Ok(Json(json!({ "mservices": items })))
}

/// `GET /v1/stats[?project_id=][&type=cluster]`: bays and nodes of a project (admins: of all
/// projects unless one is named).
pub(crate) async fn stats(
    State(app): State<AppState>,
    auth: Auth,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let mut project = None;
    for pair in query
        .as_deref()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = crate::list_query::percent_decode(value);
        match key {
            "project_id" => project = Some(value),
            "type" if value == "cluster" => {}
            "type" => {
                return Err(ApiError::BadRequest(format!(
                    "Invalid stats type {value}: only cluster is supported."
                )));
            }
            other => {
                return Err(ApiError::BadRequest(format!(
                    "Unknown argument: \"{other}\""
                )));
            }
        }
    }
    let target = match &project {
        Some(p) => Auth::target(p, ""),
        None => auth.own_target(),
    };
    auth.authorize("stats:get_all", &target)?;
    let own = auth.caller.project_id.clone();
    let asked = match project {
        Some(p) => Some(p),
        None if auth.creds.is_admin => None,
        None => own,
    };
    let stats = app
        .rpc
        .call(&auth.context(false), &GetClusterStats { project_id: asked })
        .await?;
    Ok(Json(
        json!({"clusters": stats.clusters, "nodes": stats.nodes}),
    ))
}

/// `GET /v1/quotas[?all_tenants=true]`: stored quotas (admins).
pub(crate) async fn list_quotas(
    State(app): State<AppState>,
    auth: Auth,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let params = parse_list_query(query.as_deref(), &[], quota::SORT_KEYS, app.max_limit)?;
    auth.authorize("quota:get_all", &auth.own_target())?;
    if params.marker.is_some() {
        return Err(ApiError::BadRequest(
            "Quotas are listed with limit, sort_key and sort_dir only.".into(),
        ));
    }
    let limit = params.limit.unwrap_or(app.max_limit);
    let list = ListQuery {
        limit: Some(limit),
        sort_key: params.sort_key.clone(),
        sort_dir: Some(
            if params.sort_dir == crate::list_query::SortDir::Desc {
                "desc"
            } else {
                "asc"
            }
            .into(),
        ),
        ..ListQuery::default()
    };
    let quotas = app
        .rpc
        .call(
            &auth.context(params.all_tenants),
            &ListObjects::<Quota>::new(list),
        )
        .await?;
    let items: Vec<Value> = quotas.iter().map(quota_view).collect();
    Ok(Json(json!({ "quotas": items })))
}

/// `GET /v1/quotas/<project>/<resource>`: the stored quota or the default (`id` null).
pub(crate) async fn show_quota(
    State(app): State<AppState>,
    auth: Auth,
    Path((project_id, resource)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    auth.authorize("quota:get", &Auth::target(&project_id, ""))?;
    let q = app
        .rpc
        .call(
            &auth.context(false),
            &GetQuota {
                project_id,
                resource,
            },
        )
        .await?;
    Ok(Json(quota_view(&q)))
}

/// `POST /v1/quotas` (admins): 201 with the stored quota.
pub(crate) async fn create_quota(
    State(app): State<AppState>,
    auth: Auth,
    body: JsonBody,
) -> Result<Response, ApiError> {
    auth.authorize("quota:create", &auth.own_target())?;
    let quota = Quota::from_create_body(&body.required()?)?;
    let stored = app
        .rpc
        .call(&auth.context(false), &CreateQuota { quota })
        .await?;
    Ok((StatusCode::CREATED, Json(quota_view(&stored))).into_response())
}

/// `PATCH /v1/quotas/<project>/<resource>` (admins), a plain object: 202 with the quota.
pub(crate) async fn update_quota(
    State(app): State<AppState>,
    auth: Auth,
    Path((project_id, resource)): Path<(String, String)>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    auth.authorize("quota:update", &Auth::target(&project_id, ""))?;
    let hard_limit = Quota::limit_from_update_body(&body.required()?, &project_id, &resource)?;
    let stored = app
        .rpc
        .call(
            &auth.context(false),
            &UpdateQuota {
                project_id,
                resource,
                hard_limit,
            },
        )
        .await?;
    Ok((StatusCode::ACCEPTED, Json(quota_view(&stored))).into_response())
}

/// `DELETE /v1/quotas/<project>/<resource>` (admins): 204.
pub(crate) async fn delete_quota(
    State(app): State<AppState>,
    auth: Auth,
    Path((project_id, resource)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    auth.authorize("quota:delete", &Auth::target(&project_id, ""))?;
    app.rpc
        .call(
            &auth.context(false),
            &DeleteQuota {
                key: QuotaKey {
                    project_id,
                    resource,
                },
            },
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
