//! Conductor services, quotas and stats (spec/rest-api.md §4.5–4.7). magnum-api has checked
//! policy (quota writes and the services list are for admins); reads stay scoped here.

use super::{page, read_scope, tenant};
use crate::Conductor;
use crate::dispatch::storage;
use magnum_core::quota::{CLUSTER, Quota};
use magnum_core::service::{MagnumService, Stats};
use magnum_db::{Error, quotas};
use magnum_rpc::admin::{AdminCall, QuotaKey, action_reply};
use magnum_rpc::methods::ListQuery;
use magnum_rpc::{Primitive, RemoteFailure, RequestContext};
use serde_json::Value;

fn quota_not_found(key: &QuotaKey) -> RemoteFailure {
    RemoteFailure::typed(
        "QuotaNotFound",
        404,
        format!(
            "Quota for project {} and resource {} could not be found.",
            key.project_id, key.resource
        ),
    )
}

/// `MagnumService.list`: every conductor that has heartbeated.
pub(crate) async fn services(c: &Conductor) -> Result<Value, RemoteFailure> {
    let mut conn = c.pool.acquire().await.map_err(storage)?;
    // `up` is not used: the API judges liveness from `last_seen_up`.
    let rows = magnum_db::services::list(&mut conn, c.service_down_time_secs())
        .await
        .map_err(storage)?;
    Ok(Value::Array(
        rows.into_iter()
            .filter(|r| r.binary == "magnum-conductor")
            .map(|r| {
                Primitive::new(MagnumService {
                    id: r.id,
                    host: r.host,
                    binary: r.binary,
                    disabled: r.disabled,
                    disabled_reason: r.disabled_reason,
                    last_seen_up: r.last_seen_up,
                    forced_down: r.forced_down,
                    report_count: i64::from(r.report_count),
                    created_at: Some(r.created_at),
                    updated_at: r.updated_at,
                })
                .to_value()
            })
            .collect(),
    ))
}

/// `Quota.list`: the caller's project's stored quotas, or every project's with `all_tenants`.
pub(crate) async fn quotas(
    c: &Conductor,
    ctx: &RequestContext,
    query: &ListQuery,
) -> Result<Value, RemoteFailure> {
    if query.marker.is_some() || query.filters.as_ref().is_some_and(|f| !f.is_empty()) {
        return Err(RemoteFailure::invalid(
            "Quotas are listed with limit, sort_key and sort_dir only.",
        ));
    }
    let page = page(query, quotas::SORT_KEYS, c.max_limit)?;
    let mut conn = c.pool.acquire().await.map_err(storage)?;
    let items = quotas::list(&mut conn, &read_scope(ctx, None), &page)
        .await
        .map_err(storage)?;
    Ok(Value::Array(
        items
            .into_iter()
            .map(|q| Primitive::new(q).to_value())
            .collect(),
    ))
}

/// Serves stats and quota calls.
pub(crate) async fn serve(
    c: &Conductor,
    ctx: &RequestContext,
    call: AdminCall,
) -> Result<Value, RemoteFailure> {
    let mut conn = c.pool.acquire().await.map_err(storage)?;
    match call {
        AdminCall::ClusterStats { project_id } => {
            // Only admins count across projects; others count their own.
            let project = match project_id {
                Some(p) => Some(p),
                None if ctx.is_admin => None,
                None => Some(tenant(ctx)),
            };
            let (clusters, nodes) = magnum_db::bays::stats(&mut conn, project.as_deref())
                .await
                .map_err(storage)?;
            Ok(Primitive::new(Stats { clusters, nodes }).to_value())
        }
        AdminCall::GetQuota(key) => {
            let stored = quotas::find(&mut conn, &key.project_id, &key.resource)
                .await
                .map_err(storage)?;
            let quota = stored.unwrap_or_else(|| Quota {
                id: None,
                project_id: key.project_id.clone(),
                resource: key.resource.clone(),
                hard_limit: i32::try_from(c.quota_default).unwrap_or(i32::MAX),
                created_at: None,
                updated_at: None,
            });
            Ok(Primitive::new(quota).to_value())
        }
        AdminCall::CreateQuota(quota) => {
            if quota.resource != CLUSTER {
                return Err(RemoteFailure::invalid(format!(
                    "Unknown quota resource {}: only {CLUSTER} is limited.",
                    quota.resource
                )));
            }
            match quotas::insert(&mut conn, &quota).await {
                Ok(stored) => Ok(action_reply(
                    &Primitive::new(stored).to_value(),
                    &["id", "project_id", "resource", "hard_limit", "created_at"],
                )),
                Err(Error::Duplicate(_)) => Err(RemoteFailure::typed(
                    "QuotaAlreadyExists",
                    409,
                    format!(
                        "Quota for project {} already exists for resource {}.",
                        quota.project_id, quota.resource
                    ),
                )),
                Err(e) => Err(storage(e)),
            }
        }
        AdminCall::UpdateQuota { key, hard_limit } => {
            if hard_limit < 0 {
                return Err(RemoteFailure::invalid("hard_limit must be 0 or more."));
            }
            quotas::set_limit(&mut conn, &key.project_id, &key.resource, hard_limit)
                .await
                .map_err(storage)?
                .map(|q| Primitive::new(q).to_value())
                .ok_or_else(|| quota_not_found(&key))
        }
        AdminCall::DeleteQuota(key) => {
            if quotas::delete(&mut conn, &key.project_id, &key.resource)
                .await
                .map_err(storage)?
            {
                Ok(serde_json::json!([{}, null]))
            } else {
                Err(quota_not_found(&key))
            }
        }
    }
}
