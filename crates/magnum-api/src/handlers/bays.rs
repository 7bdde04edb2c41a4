//! `/v1/bays` and `/v1/clusters` (one record type, two URL families), cluster actions, and
//! `/v1/nodes` (spec/rest-api.md §3.2, §3.3, §4.2).

use crate::error::ApiError;
use crate::extract::{Auth, JsonBody};
use crate::list_query::parse_list_query;
use crate::microversion::ApiVersion;
use crate::state::AppState;
use crate::views::{BayFamily, node_view};
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use magnum_core::Ident;
use magnum_core::bay::{self, Bay, BaySpec, BayStatus};
use magnum_core::baymodel::BayModel;
use magnum_core::fields::{FieldKind, FieldSpec, Flags, Mode};
use magnum_core::node::Node;
use magnum_rpc::methods::{
    BayChange, BayCreate, BayDelete, BayResize, BayUpdate, BayUpgrade, GetObject,
};
use serde_json::{Map, Value, json};

/// Picks the URL family at compile time: `list::<Bays>` serves `/v1/bays`.
pub(crate) trait Family {
    /// The family.
    const FAMILY: BayFamily;
}

/// `/v1/bays`.
#[derive(Debug)]
pub(crate) struct Bays;
impl Family for Bays {
    const FAMILY: BayFamily = BayFamily::Bays;
}

/// `/v1/clusters`.
#[derive(Debug)]
pub(crate) struct Clusters;
impl Family for Clusters {
    const FAMILY: BayFamily = BayFamily::Clusters;
}

/// The root URL links are built on.
pub(crate) fn base(app: &AppState, headers: &HeaderMap) -> String {
    crate::links::base_url(headers, app.public_endpoint.as_deref(), app.trust_forwarded)
}

/// Loads a visible bay by uuid or name.
pub(crate) async fn load(
    app: &AppState,
    auth: &Auth,
    family: BayFamily,
    ident: &str,
) -> Result<Bay, ApiError> {
    app.rpc
        .call(
            &auth.context(false),
            &GetObject::<Bay>::new(Ident::parse(ident)),
        )
        .await
        .map_err(|e| match ApiError::from(e) {
            ApiError::Remote {
                status: StatusCode::NOT_FOUND,
                ..
            } => ApiError::NotFound(format!("{} {ident} could not be found.", family.kind())),
            ApiError::Remote {
                status: StatusCode::CONFLICT,
                ..
            } => ApiError::Conflict(format!(
                "Multiple {}s exist with same name. Please use the {} uuid instead.",
                family.collection().trim_end_matches('s'),
                family.collection().trim_end_matches('s')
            )),
            other => other,
        })
}

/// Resolves the template a body names; one the caller cannot see is a 400 (§2.4).
async fn template(
    app: &AppState,
    auth: &Auth,
    family: BayFamily,
    ident: &str,
) -> Result<BayModel, ApiError> {
    let kind = family.templates().kind();
    app.rpc
        .call(
            &auth.context(false),
            &GetObject::<BayModel>::new(Ident::parse(ident)),
        )
        .await
        .map_err(|e| match ApiError::from(e) {
            ApiError::Remote {
                status: StatusCode::NOT_FOUND,
                ..
            } => ApiError::BadRequest(format!("{kind} {ident} could not be found.")),
            other => other,
        })
}

/// The target of an item operation: the bay's owners.
pub(crate) fn owners(bay: &Bay) -> magnum_auth::Target {
    Auth::target(&bay.project_id, &bay.user_id)
}

async fn list_page(
    app: AppState,
    auth: Auth,
    headers: HeaderMap,
    query: Option<String>,
    family: BayFamily,
    detail: bool,
) -> Result<Json<Value>, ApiError> {
    let params = parse_list_query(query.as_deref(), &[], bay::SORT_KEYS, app.max_limit)?;
    let action = if detail { "detail" } else { "get_all" };
    auth.authorize(&family.rule(action), &auth.own_target())?;
    if params.all_tenants || params.project_id.is_some() {
        auth.authorize(
            &family.rule(&format!("{action}_all_projects")),
            &auth.own_target(),
        )?;
    }
    let filters = params.project_id.as_ref().map(|p| {
        let mut f = Map::new();
        f.insert("project_id".into(), json!(p));
        f
    });
    let base = base(&app, &headers);
    let path = format!(
        "/v1/{}{}",
        family.collection(),
        if detail { "/detail" } else { "" }
    );
    let ctx = auth.context(params.all_tenants);
    let names = (family.collection(), path.as_str(), base.as_str());
    super::page(&app, &ctx, &params, filters, names, |b: &Bay| {
        (family.view(b, &base, !detail), b.uuid)
    })
    .await
}

/// `GET /v1/<family>`.
pub(crate) async fn list<F: Family>(
    State(app): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    list_page(app, auth, headers, query, F::FAMILY, false).await
}

/// `GET /v1/<family>/detail`.
pub(crate) async fn detail<F: Family>(
    State(app): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    list_page(app, auth, headers, query, F::FAMILY, true).await
}

/// `GET /v1/<family>/<ident>`.
pub(crate) async fn show<F: Family>(
    State(app): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    Path(ident): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let family = F::FAMILY;
    let bay = load(&app, &auth, family, &ident).await?;
    auth.authorize(&family.rule("get"), &owners(&bay))?;
    let mut view = family.view(&bay, &base(&app, &headers), false);
    if view["faults"].as_object().is_some_and(|f| !f.is_empty())
        && let Some(group) = super::nodegroups::failed_group(&app, &auth, &bay).await?
    {
        view["faults"] = json!({group: bay.status_reason});
    }
    Ok(Json(view))
}

/// `POST /v1/<family>`: 201 with the bay at microversion 1.1 on `/v1/bays`, else 202 `{uuid}`.
pub(crate) async fn create<F: Family>(
    State(app): State<AppState>,
    auth: Auth,
    version: ApiVersion,
    headers: HeaderMap,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let family = F::FAMILY;
    auth.authorize(&family.rule("create"), &auth.own_target())?;
    let body = body.required()?;
    let allow_zero = version >= ApiVersion::V1_10;
    let mut spec = match family {
        BayFamily::Bays => BaySpec::from_bay_body(&body, allow_zero)?,
        BayFamily::Clusters => BaySpec::from_cluster_body(&body, allow_zero)?,
    };
    let model = template(&app, &auth, family, &spec.baymodel_id).await?;
    spec.baymodel_id = model.uuid.to_string();
    let uuid = *spec.uuid.get_or_insert_with(uuid::Uuid::new_v4);
    let prefix = family.collection().trim_end_matches('s');
    spec.name
        .get_or_insert_with(|| magnum_core::fields::generated_name(prefix, &uuid));
    let timeout = spec.create_timeout;
    let stored = app
        .rpc
        .call(
            &auth.context(false),
            &BayCreate {
                bay: spec,
                bay_create_timeout: timeout,
            },
        )
        .await?;
    if family == BayFamily::Clusters || version >= ApiVersion::V1_2 {
        return Ok((StatusCode::ACCEPTED, Json(json!({"uuid": stored.uuid}))).into_response());
    }
    let base = base(&app, &headers);
    let mut response = (
        StatusCode::CREATED,
        Json(family.view(&stored, &base, false)),
    )
        .into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("{base}/v1/bays/{}", stored.uuid)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

fn refuse_in_progress(bay: &Bay, family: BayFamily) -> Result<(), ApiError> {
    if BayStatus::UPDATABLE.contains(&bay.status) {
        return Ok(());
    }
    Err(ApiError::BadRequest(format!(
        "Updating a {} when its status is \"{}\" is not supported.",
        family.collection().trim_end_matches('s'),
        bay.status
    )))
}

/// `PATCH /v1/<family>/<ident>[?rollback=true]`: only `/node_count` may change.
pub(crate) async fn update<F: Family>(
    State(app): State<AppState>,
    auth: Auth,
    version: ApiVersion,
    headers: HeaderMap,
    Path(ident): Path<String>,
    RawQuery(query): RawQuery,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let family = F::FAMILY;
    let rollback = rollback_flag(query.as_deref())?;
    let current = load(&app, &auth, family, &ident).await?;
    auth.authorize(&family.rule("update"), &owners(&current))?;
    let kind = family.collection().trim_end_matches('s');
    let count = bay::patched_node_count(
        &current,
        &body.required()?,
        kind,
        version >= ApiVersion::V1_10,
    )?;
    refuse_in_progress(&current, family)?;
    let change = BayChange {
        uuid: current.uuid,
        node_count: Some(count),
    };
    let updated = app
        .rpc
        .call(
            &auth.context(false),
            &BayUpdate {
                bay: change,
                rollback,
            },
        )
        .await?;
    if family == BayFamily::Clusters || version >= ApiVersion::V1_2 {
        return Ok((StatusCode::ACCEPTED, Json(json!({"uuid": updated.uuid}))).into_response());
    }
    Ok(Json(family.view(&updated, &base(&app, &headers), false)).into_response())
}

fn rollback_flag(query: Option<&str>) -> Result<bool, ApiError> {
    let mut rollback = false;
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key != "rollback" {
            return Err(ApiError::BadRequest(format!("Unknown argument: \"{key}\"")));
        }
        rollback = magnum_core::fields::parse_bool(value)
            .ok_or_else(|| ApiError::BadRequest(format!("Invalid value for rollback: {value}")))?;
    }
    Ok(rollback)
}

/// `DELETE /v1/<family>/<ident>`: 204 once `DELETE_IN_PROGRESS` is recorded.
pub(crate) async fn delete<F: Family>(
    State(app): State<AppState>,
    auth: Auth,
    Path(ident): Path<String>,
) -> Result<StatusCode, ApiError> {
    let family = F::FAMILY;
    let current = load(&app, &auth, family, &ident).await?;
    auth.authorize(&family.rule("delete"), &owners(&current))?;
    if current.status == BayStatus::DeleteInProgress {
        return Err(ApiError::BadRequest(format!(
            "{} {ident} is already being deleted.",
            family.kind()
        )));
    }
    app.rpc
        .call(&auth.context(false), &BayDelete { uuid: current.uuid })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

const RESIZE_FIELDS: &[FieldSpec] = &[
    FieldSpec::new(
        "node_count",
        FieldKind::Int {
            min: 0,
            max: 1_000_000,
        },
        Flags::MANDATORY,
    ),
    FieldSpec::new("nodes_to_remove", FieldKind::List, Flags::WRITABLE),
    FieldSpec::new(
        "nodegroup",
        FieldKind::String { min: 1, max: 255 },
        Flags::WRITABLE,
    ),
];

/// `POST /v1/clusters/<ident>/actions/resize`: 202 `{uuid}`.
pub(crate) async fn resize(
    State(app): State<AppState>,
    auth: Auth,
    version: ApiVersion,
    Path(ident): Path<String>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let family = BayFamily::Clusters;
    let current = load(&app, &auth, family, &ident).await?;
    auth.authorize("cluster:resize", &owners(&current))?;
    let fields = magnum_core::fields::validate_body(
        "resize",
        RESIZE_FIELDS,
        &body.required()?,
        Mode::Create,
    )?;
    let count = fields
        .get("node_count")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    bay::check_node_count(count, version >= ApiVersion::V1_10)?;
    let nodes_to_remove: Vec<String> = fields
        .get("nodes_to_remove")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let nodegroup = fields
        .get("nodegroup")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if nodegroup.as_deref() == Some("default-master") {
        return Err(ApiError::BadRequest(
            "Resizing a master nodegroup is not supported.".into(),
        ));
    }
    refuse_in_progress(&current, family)?;
    let resize = BayResize {
        bay: BayChange {
            uuid: current.uuid,
            node_count: None,
        },
        node_count: i32::try_from(count).unwrap_or(i32::MAX),
        nodes_to_remove,
        nodegroup,
    };
    let bay = app.rpc.call(&auth.context(false), &resize).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({"uuid": bay.uuid}))).into_response())
}

const UPGRADE_FIELDS: &[FieldSpec] = &[
    FieldSpec::new(
        "cluster_template",
        FieldKind::String { min: 1, max: 255 },
        Flags::MANDATORY,
    ),
    FieldSpec::new(
        "max_batch_size",
        FieldKind::Int {
            min: 1,
            max: 1_000_000,
        },
        Flags::WRITABLE,
    ),
    FieldSpec::new(
        "nodegroup",
        FieldKind::String { min: 1, max: 255 },
        Flags::WRITABLE,
    ),
];

/// `POST /v1/clusters/<ident>/actions/upgrade`: 202 `{uuid}`.
pub(crate) async fn upgrade(
    State(app): State<AppState>,
    auth: Auth,
    Path(ident): Path<String>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let family = BayFamily::Clusters;
    let current = load(&app, &auth, family, &ident).await?;
    auth.authorize("cluster:upgrade", &owners(&current))?;
    let fields = magnum_core::fields::validate_body(
        "upgrade",
        UPGRADE_FIELDS,
        &body.required()?,
        Mode::Create,
    )?;
    let ident = fields
        .get("cluster_template")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let target = template(&app, &auth, family, ident).await?;
    refuse_in_progress(&current, family)?;
    let upgrade = BayUpgrade {
        bay: BayChange {
            uuid: current.uuid,
            node_count: None,
        },
        baymodel: target.uuid,
        max_batch_size: fields
            .get("max_batch_size")
            .and_then(Value::as_i64)
            .map_or(1, |n| i32::try_from(n).unwrap_or(1)),
        nodegroup: fields
            .get("nodegroup")
            .and_then(Value::as_str)
            .map(str::to_owned),
    };
    let bay = app.rpc.call(&auth.context(false), &upgrade).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({"uuid": bay.uuid}))).into_response())
}

async fn node_page(
    app: AppState,
    auth: Auth,
    headers: HeaderMap,
    query: Option<String>,
    detail: bool,
) -> Result<Json<Value>, ApiError> {
    let params = parse_list_query(
        query.as_deref(),
        &["bay_ident", "bay_uuid"],
        magnum_core::node::SORT_KEYS,
        app.max_limit,
    )?;
    auth.authorize(
        if detail {
            "node:detail"
        } else {
            "node:get_all"
        },
        &auth.own_target(),
    )?;
    let mut filters = Map::new();
    if let Some((_, bay_ident)) = params
        .extra
        .iter()
        .find(|(k, _)| k == "bay_ident" || k == "bay_uuid")
    {
        let bay = load(&app, &auth, BayFamily::Bays, bay_ident).await?;
        filters.insert("bay_uuid".into(), json!(bay.uuid));
    }
    let base = base(&app, &headers);
    let path = if detail {
        "/v1/nodes/detail"
    } else {
        "/v1/nodes"
    };
    let names = ("nodes", path, base.as_str());
    super::page(
        &app,
        &auth.context(false),
        &params,
        Some(filters),
        names,
        |n: &Node| (node_view(n, &base, !detail), n.uuid),
    )
    .await
}

/// `GET /v1/nodes[?bay_ident=]`.
pub(crate) async fn list_nodes(
    State(app): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    node_page(app, auth, headers, query, false).await
}

/// `GET /v1/nodes/detail`.
pub(crate) async fn detail_nodes(
    State(app): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    node_page(app, auth, headers, query, true).await
}

/// `GET /v1/nodes/<uuid>`.
pub(crate) async fn show_node(
    State(app): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    Path(ident): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let node = app
        .rpc
        .call(
            &auth.context(false),
            &GetObject::<Node>::new(Ident::parse(&ident)),
        )
        .await
        .map_err(|e| match ApiError::from(e) {
            ApiError::Remote {
                status: StatusCode::NOT_FOUND,
                ..
            } => ApiError::NotFound(format!("Node {ident} could not be found.")),
            other => other,
        })?;
    auth.authorize("node:get", &Auth::target(&node.project_id, &node.user_id))?;
    Ok(Json(node_view(&node, &base(&app, &headers), false)))
}
