//! HTTP handlers, one module per resource family. Each reads load → authorize → validate → act →
//! respond; the conductor scopes every query to the caller's project.

pub(crate) mod admin;
pub(crate) mod baymodels;
pub(crate) mod bays;
pub(crate) mod certificates;
pub(crate) mod containers;
pub(crate) mod nodegroups;
pub(crate) mod versions;
pub(crate) mod workloads;

use crate::error::ApiError;
use crate::list_query::{ListParams, SortDir, next_url};
use crate::state::AppState;
use axum::Json;
use magnum_rpc::methods::{ListObjects, ListQuery};
use magnum_rpc::{RequestContext, VersionedObject};
use serde_json::{Map, Value, json};

/// One list page as every collection answers it: asks the conductor for one item more than the
/// page holds (so `next` appears only when more items follow), renders each item with `view`,
/// and links the next page under `path` (e.g. `/v1/bays/detail`).
pub(crate) async fn page<T: VersionedObject>(
    app: &AppState,
    ctx: &RequestContext,
    params: &ListParams,
    filters: Option<Map<String, Value>>,
    (key, path, base): (&str, &str, &str),
    view: impl Fn(&T) -> (Value, uuid::Uuid),
) -> Result<Json<Value>, ApiError> {
    let limit = params.limit.unwrap_or(app.max_limit);
    let query = ListQuery {
        limit: Some(limit.saturating_add(1)),
        marker: params.marker,
        sort_key: params.sort_key.clone(),
        sort_dir: Some(
            if params.sort_dir == SortDir::Desc {
                "desc"
            } else {
                "asc"
            }
            .into(),
        ),
        filters,
    };
    let mut items = app.rpc.call(ctx, &ListObjects::<T>::new(query)).await?;
    let more = items.len() > limit as usize;
    items.truncate(limit as usize);
    let rendered: Vec<(Value, uuid::Uuid)> = items.iter().map(view).collect();
    let mut body = Map::new();
    if let (true, Some((_, last))) = (more, rendered.last()) {
        body.insert(
            "next".into(),
            json!(next_url(base, path, params, limit, &last.to_string())),
        );
    }
    body.insert(
        key.into(),
        Value::Array(rendered.into_iter().map(|(v, _)| v).collect()),
    );
    Ok(Json(Value::Object(body)))
}
