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
use serde::Serialize;
use serde_json::{Map, Value, json};

/// One list page as every collection answers it: asks the conductor for one item more than the
/// page holds (so `next` appears only when more items follow), renders each item with `view`,
/// and links the next page under `path` (e.g. `/v1/bays/detail`).
pub(crate) async fn page<T: VersionedObject>(
    app: &AppState,
    ctx: &RequestContext,
    params: &ListParams,
    filters: Option<Map<String, Value>>,
    names: (&str, &str, &str),
    view: impl Fn(&T) -> (Value, uuid::Uuid),
) -> Result<Json<Value>, ApiError> {
    let (items, next) = page_items(app, ctx, params, filters, names, |t: &T| view(t).1).await?;
    let mut body = Map::new();
    if let Some(next) = next {
        body.insert("next".into(), json!(next));
    }
    let rendered = items.iter().map(|t| view(t).0).collect();
    body.insert(names.0.into(), Value::Array(rendered));
    Ok(Json(Value::Object(body)))
}

/// A list answer: `{"<collection>": [items…], "next": "<url>"}`, keys in sorted order (as a
/// `Value` body has them), items rendered by any `Serialize` view.
#[derive(Debug)]
pub(crate) struct ListBody<'a, V> {
    /// The collection's name.
    pub(crate) key: &'a str,
    /// The next page's URL.
    pub(crate) next: Option<String>,
    /// Rendered items.
    pub(crate) items: Vec<V>,
}

impl<V: Serialize> Serialize for ListBody<'_, V> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(1 + usize::from(self.next.is_some())))?;
        let next_first = self.key > "next";
        if let (true, Some(next)) = (next_first, &self.next) {
            map.serialize_entry("next", next)?;
        }
        map.serialize_entry(self.key, &self.items)?;
        if let (false, Some(next)) = (next_first, &self.next) {
            map.serialize_entry("next", next)?;
        }
        map.end()
    }
}

/// The items of one page (at most `limit`) and the next page's URL, if more follow; `uuid`
/// names an item for the marker.
pub(crate) async fn page_items<T: VersionedObject>(
    app: &AppState,
    ctx: &RequestContext,
    params: &ListParams,
    filters: Option<Map<String, Value>>,
    (_, path, base): (&str, &str, &str),
    uuid: impl Fn(&T) -> uuid::Uuid,
) -> Result<(Vec<T>, Option<String>), ApiError> {
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
    let next = match (more, items.last()) {
        (true, Some(last)) => Some(next_url(base, path, params, limit, &uuid(last).to_string())),
        _ => None,
    };
    Ok((items, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_bodies_are_the_bytes_of_the_value_rendering() {
        for key in ["baymodels", "clustertemplates", "pods", "services"] {
            for next in [None, Some("http://h/v1/x?marker=a&limit=1".to_owned())] {
                let items = vec![json!({"b": 1, "a": "\u{e9}"}), json!(null)];
                let mut tree = Map::new();
                if let Some(next) = &next {
                    tree.insert("next".into(), json!(next));
                }
                tree.insert(key.into(), Value::Array(items.clone()));
                let body = ListBody { key, next, items };
                assert_eq!(
                    serde_json::to_string(&body).unwrap(),
                    Value::Object(tree).to_string()
                );
            }
        }
    }
}
