//! `/v1/clusters/<cluster>/nodegroups` (spec/rest-api.md §4.3, specs/0002): the two derived
//! default groups and the stored worker groups tenants add, scale and delete.

use super::ListBody;
use super::bays::{base, load, owners};
use crate::error::ApiError;
use crate::extract::{Auth, JsonBody};
use crate::list_query::{ListParams, SortDir, next_url, parse_list_query};
use crate::microversion::ApiVersion;
use crate::state::AppState;
use crate::views::{BayFamily, default_nodegroups, stored_nodegroup};
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use magnum_core::Ident;
use magnum_core::bay::{Bay, BayStatus};
use magnum_core::baymodel::BayModel;
use magnum_core::nodegroup::{
    DEFAULT_MASTER, DEFAULT_WORKER, NodeGroup, NodeGroupChange, NodeGroupSpec,
};
use magnum_rpc::methods::{
    GetObject, ListObjects, ListQuery, NodeGroupCreate, NodeGroupDelete, NodeGroupUpdate,
};
use serde_json::{Map, Value, json};

/// Fields of a plain list item.
const LISTED: [&str; 10] = [
    "uuid",
    "name",
    "flavor_id",
    "image_id",
    "node_count",
    "role",
    "is_default",
    "status",
    "stack_id",
    "links",
];

/// The stored groups of a bay.
async fn stored(app: &AppState, auth: &Auth, bay: &Bay) -> Result<Vec<NodeGroup>, ApiError> {
    let mut filters = Map::new();
    filters.insert("bay_uuid".into(), json!(bay.uuid));
    let query = ListQuery {
        filters: Some(filters),
        ..ListQuery::default()
    };
    Ok(app
        .rpc
        .call(&auth.context(false), &ListObjects::<NodeGroup>::new(query))
        .await?)
}

/// Every group of a visible bay as views, defaults first, after checking `rule`.
async fn all_groups(
    app: &AppState,
    auth: &Auth,
    headers: &HeaderMap,
    bay: &Bay,
) -> Result<Vec<Value>, ApiError> {
    let model = app
        .rpc
        .call(
            &auth.context(false),
            &GetObject::<BayModel>::new(Ident::Uuid(bay.baymodel_id)),
        )
        .await;
    let image = model.map(|m| m.image_id).unwrap_or_default();
    let base = base(app, headers);
    let mut groups = default_nodegroups(bay, &image, &base);
    groups.extend(
        stored(app, auth, bay)
            .await?
            .iter()
            .map(|g| stored_nodegroup(bay, g, &base)),
    );
    Ok(groups)
}

/// The stored group whose failure failed the bay (same reason), for the cluster's `faults`.
pub(crate) async fn failed_group(
    app: &AppState,
    auth: &Auth,
    bay: &Bay,
) -> Result<Option<String>, ApiError> {
    Ok(stored(app, auth, bay)
        .await?
        .into_iter()
        .find(|g| {
            matches!(
                g.status,
                BayStatus::CreateFailed | BayStatus::UpdateFailed | BayStatus::DeleteFailed
            ) && g.status_reason.is_some()
                && g.status_reason == bay.status_reason
        })
        .map(|g| g.name))
}

fn not_found(ident: &str) -> ApiError {
    ApiError::NotFound(format!("Nodegroup {ident} could not be found."))
}

/// The stored group named by `ident` (name or uuid), or 404 (409 if a name is ambiguous,
/// which unique names per bay rule out).
async fn find_stored(
    app: &AppState,
    auth: &Auth,
    bay: &Bay,
    ident: &str,
) -> Result<NodeGroup, ApiError> {
    stored(app, auth, bay)
        .await?
        .into_iter()
        .find(|g| g.name == ident || g.uuid.to_string() == ident.to_ascii_lowercase())
        .ok_or_else(|| not_found(ident))
}

/// Whether `ident` names one of the derived default groups of `bay`.
fn default_named(bay: &Bay, ident: &str) -> Option<&'static str> {
    [DEFAULT_MASTER, DEFAULT_WORKER].into_iter().find(|name| {
        *name == ident
            || uuid::Uuid::new_v5(&bay.uuid, name.as_bytes()).to_string()
                == ident.to_ascii_lowercase()
    })
}

/// `GET /v1/clusters/<ident>/nodegroups[?role=]`.
pub(crate) async fn list(
    State(app): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    Path(ident): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<ListBody<'static, Value>>, ApiError> {
    let params = parse_list_query(
        query.as_deref(),
        &["role"],
        &["name", "role", "node_count"],
        app.max_limit,
    )?;
    let role = params
        .extra
        .iter()
        .find(|(k, _)| k == "role")
        .map(|(_, v)| v.clone());
    let bay = load(&app, &auth, BayFamily::Clusters, &ident).await?;
    auth.authorize("nodegroup:get_all", &owners(&bay))?;
    let groups: Vec<Value> = all_groups(&app, &auth, &headers, &bay)
        .await?
        .into_iter()
        .filter(|g| role.as_deref().is_none_or(|r| g["role"] == r))
        .collect();
    // The bay's uuid, not the caller's spelling: a name may need escaping in a URL.
    let path = format!("/v1/clusters/{}/nodegroups", bay.uuid);
    let base = base(&app, &headers);
    let (groups, next) = one_page(groups, &params, app.max_limit, |last| {
        next_url(
            &base,
            &path,
            &params,
            params.limit.unwrap_or(app.max_limit),
            last,
        )
    })?;
    let items: Vec<Value> = groups
        .into_iter()
        .map(|g| match g {
            Value::Object(mut m) => {
                m.retain(|k, _| LISTED.contains(&k.as_str()));
                Value::Object(m)
            }
            other => other,
        })
        .collect();
    Ok(Json(ListBody {
        key: "nodegroups",
        next,
        items,
    }))
}

/// One page of a bay's groups (a handful, all in hand): sorted by `sort_key` (creation order
/// without one; ties keep it), reversed for `desc`, started after the `marker` group, cut at
/// the limit; `next_link(last uuid)` when more follow. An unknown marker is a 404, as for every
/// list.
fn one_page(
    mut groups: Vec<Value>,
    params: &ListParams,
    max_limit: u32,
    next_link: impl Fn(&str) -> String,
) -> Result<(Vec<Value>, Option<String>), ApiError> {
    if let Some(key) = params.sort_key.as_deref() {
        // Strings by text, counts by number (a missing value first).
        groups.sort_by(|a, b| {
            (a[key].as_i64(), a[key].as_str()).cmp(&(b[key].as_i64(), b[key].as_str()))
        });
    }
    if params.sort_dir == SortDir::Desc {
        groups.reverse();
    }
    if let Some(marker) = params.marker {
        let at = groups
            .iter()
            .position(|g| g["uuid"].as_str() == Some(marker.to_string().as_str()))
            .ok_or_else(|| not_found(&marker.to_string()))?;
        groups.drain(..=at);
    }
    let limit = params.limit.unwrap_or(max_limit) as usize;
    let next = if groups.len() > limit {
        let last = groups.get(limit.saturating_sub(1));
        last.and_then(|g| g["uuid"].as_str()).map(&next_link)
    } else {
        None
    };
    groups.truncate(limit);
    Ok((groups, next))
}

/// `GET /v1/clusters/<ident>/nodegroups/<nodegroup>` (by name or uuid).
pub(crate) async fn show(
    State(app): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    Path((ident, group)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let bay = load(&app, &auth, BayFamily::Clusters, &ident).await?;
    auth.authorize("nodegroup:get", &owners(&bay))?;
    all_groups(&app, &auth, &headers, &bay)
        .await?
        .into_iter()
        .find(|g| g["name"] == group.as_str() || g["uuid"] == group.to_ascii_lowercase().as_str())
        .map(Json)
        .ok_or_else(|| not_found(&group))
}

/// `POST /v1/clusters/<ident>/nodegroups`: a new worker group; 202 with the group
/// (`CREATE_IN_PROGRESS`) once recorded, its nodes claimed next.
pub(crate) async fn create(
    State(app): State<AppState>,
    auth: Auth,
    version: ApiVersion,
    headers: HeaderMap,
    Path(ident): Path<String>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let bay = load(&app, &auth, BayFamily::Clusters, &ident).await?;
    auth.authorize("nodegroup:create", &owners(&bay))?;
    let spec = NodeGroupSpec::from_body(
        &body.required()?,
        uuid::Uuid::new_v4(),
        version >= ApiVersion::V1_10,
    )?;
    let group = app
        .rpc
        .call(
            &auth.context(false),
            &NodeGroupCreate {
                bay_uuid: bay.uuid,
                nodegroup: spec,
            },
        )
        .await?;
    let view = stored_nodegroup(&bay, &group, &base(&app, &headers));
    Ok((StatusCode::ACCEPTED, Json(view)).into_response())
}

/// `PATCH /v1/clusters/<ident>/nodegroups/<nodegroup>`: `node_count` (scales the group),
/// `min_node_count`, `max_node_count`; 202 with the group. The defaults follow the cluster.
pub(crate) async fn update(
    State(app): State<AppState>,
    auth: Auth,
    version: ApiVersion,
    headers: HeaderMap,
    Path((ident, group)): Path<(String, String)>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let bay = load(&app, &auth, BayFamily::Clusters, &ident).await?;
    auth.authorize("nodegroup:update", &owners(&bay))?;
    let patch = body.required()?;
    if let Some(name) = default_named(&bay, &group) {
        return Err(ApiError::BadRequest(format!(
            "Nodegroup {name} follows its cluster: change its node count with cluster update \
             or resize."
        )));
    }
    let current = find_stored(&app, &auth, &bay, &group).await?;
    let change = NodeGroupChange::from_patch(&current, &patch, version >= ApiVersion::V1_10)?;
    let updated = app
        .rpc
        .call(
            &auth.context(false),
            &NodeGroupUpdate {
                bay_uuid: bay.uuid,
                nodegroup: change,
            },
        )
        .await?;
    let view = stored_nodegroup(&bay, &updated, &base(&app, &headers));
    Ok((StatusCode::ACCEPTED, Json(view)).into_response())
}

/// `DELETE /v1/clusters/<ident>/nodegroups/<nodegroup>`: 204 once `DELETE_IN_PROGRESS` is
/// recorded; the defaults cannot be deleted (400, as in Magnum).
pub(crate) async fn delete(
    State(app): State<AppState>,
    auth: Auth,
    Path((ident, group)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let bay = load(&app, &auth, BayFamily::Clusters, &ident).await?;
    auth.authorize("nodegroup:delete", &owners(&bay))?;
    if default_named(&bay, &group).is_some() {
        return Err(ApiError::BadRequest(
            "Deleting a default nodegroup is not supported.".into(),
        ));
    }
    let current = find_stored(&app, &auth, &bay, &group).await?;
    app.rpc
        .call(
            &auth.context(false),
            &NodeGroupDelete {
                bay_uuid: bay.uuid,
                uuid: current.uuid,
            },
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups() -> Vec<Value> {
        [
            ("m", "master", 1),
            ("w", "worker", 3),
            ("a", "worker", 10),
            ("z", "gpu", 2),
        ]
        .iter()
        .enumerate()
        .map(|(i, (name, role, count))| {
            json!({"uuid": format!("00000000-0000-0000-0000-00000000000{i}"),
                       "name": name, "role": role, "node_count": count})
        })
        .collect()
    }

    fn names(page: &[Value]) -> Vec<&str> {
        page.iter().map(|g| g["name"].as_str().unwrap()).collect()
    }

    fn params(query: &str) -> ListParams {
        parse_list_query(
            Some(query),
            &["role"],
            &["name", "role", "node_count"],
            1000,
        )
        .unwrap()
    }

    #[test]
    fn a_page_of_groups_sorts_starts_after_the_marker_and_links_the_rest() {
        let link = |last: &str| format!("next after {last}");
        let (page, next) = one_page(groups(), &params(""), 1000, link).unwrap();
        assert_eq!(names(&page), ["m", "w", "a", "z"], "creation order");
        assert_eq!(next, None);
        let (page, _) = one_page(groups(), &params("sort_key=node_count"), 1000, link).unwrap();
        assert_eq!(names(&page), ["m", "z", "w", "a"], "counts sort as numbers");
        let (page, next) = one_page(
            groups(),
            &params("sort_key=name&sort_dir=desc&limit=2"),
            1000,
            link,
        )
        .unwrap();
        assert_eq!(names(&page), ["z", "w"]);
        assert_eq!(
            next.as_deref(),
            Some("next after 00000000-0000-0000-0000-000000000001")
        );
        let after = params(
            "sort_key=name&sort_dir=desc&limit=2&marker=00000000-0000-0000-0000-000000000001",
        );
        let (page, next) = one_page(groups(), &after, 1000, link).unwrap();
        assert_eq!(names(&page), ["m", "a"]);
        assert_eq!(next, None, "nothing follows a full last page");
        let unknown = params("marker=00000000-0000-0000-0000-0000000000ff");
        assert!(matches!(
            one_page(groups(), &unknown, 1000, link),
            Err(ApiError::NotFound(_))
        ));
        let (page, next) = one_page(groups(), &params(""), 3, link).unwrap();
        assert_eq!(page.len(), 3, "max_limit caps a page without a limit");
        assert!(next.is_some());
    }
}
