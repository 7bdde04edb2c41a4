//! Node reads: nodes are mirrored from bays by the conductor (spec/rest-api.md §3.3).

use super::{describe, page, read_scope};
use crate::Conductor;
use crate::dispatch::storage;
use magnum_db::nodes::{self, Key};
use magnum_rpc::methods::{ListQuery, Lookup};
use magnum_rpc::{Primitive, RemoteFailure, RequestContext};
use serde_json::Value;

fn not_found(ident: &str) -> RemoteFailure {
    RemoteFailure::not_found("Node", ident).with_kwarg("node", ident)
}

/// `Node.get_by_*` (uuid or id).
pub(crate) async fn get(
    c: &Conductor,
    ctx: &RequestContext,
    lookup: &Lookup,
) -> Result<Value, RemoteFailure> {
    let key = match lookup {
        Lookup::Id(id) => Key::Id(*id),
        Lookup::Uuid(uuid) => Key::Uuid(*uuid),
        Lookup::Name(name) => return Err(not_found(name)),
    };
    let mut conn = c.pool.acquire().await.map_err(storage)?;
    nodes::find(&mut conn, &read_scope(ctx, Some(lookup)), &key)
        .await
        .map_err(storage)?
        .map(|n| Primitive::new(n).to_value())
        .ok_or_else(|| not_found(&describe(lookup)))
}

/// `Node.list`, with filter `bay_uuid`.
pub(crate) async fn list(
    c: &Conductor,
    ctx: &RequestContext,
    query: ListQuery,
) -> Result<Value, RemoteFailure> {
    let mut page = page(&query, nodes::SORT_KEYS, c.max_limit)?;
    let bay = super::bay_filters(&query, false)?.bay;
    let scope = read_scope(ctx, None);
    let mut conn = c.pool.acquire().await.map_err(storage)?;
    if let Some(marker) = query.marker {
        page.after_id = Some(
            nodes::marker_id(&mut conn, &scope, marker)
                .await
                .map_err(storage)?
                .ok_or_else(|| not_found(&marker.to_string()))?,
        );
    }
    let items = nodes::list(&mut conn, &scope, bay, &page)
        .await
        .map_err(storage)?;
    Ok(Value::Array(
        items
            .into_iter()
            .map(|n| Primitive::new(n).to_value())
            .collect(),
    ))
}
