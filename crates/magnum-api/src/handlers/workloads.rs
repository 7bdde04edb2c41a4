//! `/v1/pods`, `/v1/services`, `/v1/rcs`: Kubernetes objects in kubernetes bays
//! (spec/rest-api.md §3.4), one set of handlers generic over the kind's RPC object.
//!
//! An item route takes its bay, optionally, as a second path segment (`/v1/pods/<x>/<bay>`) or
//! as `?bay_ident=`/`?bay_uuid=`; given, the bay must be visible and hold the object (404).

use crate::error::ApiError;
use crate::extract::{Auth, JsonBody};
use crate::list_query::{parse_list_query, percent_decode};
use crate::state::AppState;
use crate::views::{BayFamily, timestamp};
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use magnum_core::ValidationError;
use magnum_core::manifest::{self, WorkloadKind};
use magnum_core::workload::{SORT_KEYS, Workload, WorkloadChange, WorkloadRequest};
use magnum_rpc::methods::{GetObject, ListObjects, ListQuery};
use magnum_rpc::workloads::{WorkloadCreate, WorkloadDelete, WorkloadObject, WorkloadUpdate};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use uuid::Uuid;

/// `/v1/pods`.
pub(crate) type Pods = magnum_rpc::workloads::PodObject;
/// `/v1/services`.
pub(crate) type Services = magnum_rpc::workloads::ServiceObject;
/// `/v1/rcs`.
pub(crate) type Rcs = magnum_rpc::workloads::RcObject;

fn base(app: &AppState, headers: &HeaderMap) -> String {
    crate::links::base_url(headers, app.public_endpoint.as_deref(), app.trust_forwarded)
}

/// Policy rule `<kind>:<action>` (`pod:get`, `rc:update`, …).
fn rule(kind: WorkloadKind, action: &str) -> String {
    format!("{}:{action}", kind.singular())
}

/// Renders a record; `reduced` picks the plain-list fields of its kind.
fn view(kind: WorkloadKind, w: &Workload, base: &str, reduced: bool) -> Value {
    let mut item = Map::new();
    let mut put = |k: &str, v: Value| {
        item.insert(k.to_owned(), v);
    };
    put("uuid", json!(w.uuid));
    put("name", json!(w.name));
    put("bay_uuid", json!(w.bay_uuid));
    put("labels", json!(w.labels));
    match kind {
        WorkloadKind::Pod => {
            put("desc", json!(w.desc));
            put("images", json!(w.images.clone().unwrap_or_default()));
            put("status", json!(w.status));
            put("host", json!(w.host));
        }
        WorkloadKind::Service => {
            put("selector", json!(w.selector.clone().unwrap_or_default()));
            put("ip", json!(w.ip));
            put("ports", w.ports.clone().unwrap_or_else(|| json!([])));
        }
        WorkloadKind::ReplicationController => {
            put("images", json!(w.images.clone().unwrap_or_default()));
            put("replicas", json!(w.replicas));
            if !reduced {
                put("ready_replicas", json!(w.ready_replicas));
            }
        }
    }
    put(
        "links",
        crate::links::links(base, kind.route(), &w.uuid.to_string()),
    );
    if !reduced {
        put("created_at", timestamp(w.created_at.as_ref()));
        put("updated_at", timestamp(w.updated_at.as_ref()));
    }
    Value::Object(item)
}

/// A full view echoing the manifest fields of the request, as POST and PATCH answer.
fn echo(kind: WorkloadKind, w: &Workload, base: &str, sent: &Map<String, Value>) -> Value {
    let mut item = view(kind, w, base, false);
    if let Value::Object(map) = &mut item {
        for key in ["manifest", "manifest_url"] {
            map.insert(key.into(), sent.get(key).cloned().unwrap_or(Value::Null));
        }
    }
    item
}

/// Which object an item route names: its ident and, optionally, its bay.
#[derive(Debug)]
struct ItemRef {
    ident: String,
    bay: Option<String>,
}

impl ItemRef {
    /// From the path (`ident`, optional `bay`) and the query (`bay_ident` or `bay_uuid`).
    fn parse(path: &HashMap<String, String>, query: Option<&str>) -> Result<Self, ApiError> {
        let mut bay = path.get("bay").cloned();
        for pair in query
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty())
        {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "bay_ident" | "bay_uuid" => {
                    let value = percent_decode(value);
                    match &bay {
                        Some(given) if *given != value => {
                            return Err(ApiError::BadRequest(format!(
                                "The bay is given twice: {given} and {value}."
                            )));
                        }
                        _ => bay = Some(value),
                    }
                }
                other => {
                    return Err(ApiError::BadRequest(format!(
                        "Unknown argument: \"{other}\""
                    )));
                }
            }
        }
        Ok(ItemRef {
            ident: path.get("ident").cloned().unwrap_or_default(),
            bay,
        })
    }
}

/// Loads the record an item route names, in the named bay if any.
async fn load<O: WorkloadObject>(
    app: &AppState,
    auth: &Auth,
    item: &ItemRef,
) -> Result<Workload, ApiError> {
    let kind = O::KIND;
    let missing = || ApiError::NotFound(format!("{kind} {} could not be found.", item.ident));
    let bay = match &item.bay {
        Some(bay) => Some(
            super::bays::load(app, auth, BayFamily::Bays, bay)
                .await?
                .uuid,
        ),
        None => None,
    };
    let ctx = auth.context(false);
    let found: Workload = match magnum_core::ident::parse_hyphenated_uuid(&item.ident) {
        Some(uuid) => app
            .rpc
            .call(
                &ctx,
                &GetObject::<O>::new(magnum_rpc::methods::Lookup::Uuid(uuid)),
            )
            .await
            .map_err(|e| match ApiError::from(e) {
                ApiError::Remote {
                    status: StatusCode::NOT_FOUND,
                    ..
                } => missing(),
                other => other,
            })?
            .into(),
        None => {
            let mut filters = Map::new();
            filters.insert("name".into(), json!(item.ident));
            if let Some(bay) = bay {
                filters.insert("bay_uuid".into(), json!(bay));
            }
            let query = ListQuery {
                limit: Some(2),
                filters: Some(filters),
                ..ListQuery::default()
            };
            let mut found = app.rpc.call(&ctx, &ListObjects::<O>::new(query)).await?;
            if found.len() > 1 {
                return Err(ApiError::Conflict(format!(
                    "Multiple {} exist with same name. Please use the {} uuid instead.",
                    kind.route(),
                    kind.singular()
                )));
            }
            found.pop().ok_or_else(missing)?.into()
        }
    };
    if bay.is_some_and(|bay| bay != found.bay_uuid) {
        return Err(missing());
    }
    Ok(found)
}

fn owners(w: &Workload) -> magnum_auth::Target {
    Auth::target(&w.project_id, &w.user_id)
}

/// The manifest text of a request: `manifest` if given, else the text at `manifest_url`;
/// checked as a manifest of `kind`.
async fn manifest_text(
    app: &AppState,
    kind: WorkloadKind,
    manifest: Option<&str>,
    manifest_url: Option<&str>,
) -> Result<(String, manifest::Manifest), ApiError> {
    let text = match (manifest, manifest_url) {
        (Some(text), _) => text.to_owned(),
        (None, Some(url)) => app.manifests.fetch(url).await?,
        (None, None) => {
            return Err(ValidationError::Other(manifest::EMPTY_MESSAGE.to_owned()).into());
        }
    };
    let parsed = manifest::parse(&text, kind, app.max_manifest_size)?;
    Ok((text, parsed))
}

async fn list_page<O: WorkloadObject>(
    app: AppState,
    auth: Auth,
    headers: HeaderMap,
    query: Option<String>,
    detail: bool,
) -> Result<Json<Value>, ApiError> {
    let kind = O::KIND;
    let params = parse_list_query(
        query.as_deref(),
        &["bay_ident", "bay_uuid"],
        SORT_KEYS,
        app.max_limit,
    )?;
    auth.authorize(
        &rule(kind, if detail { "detail" } else { "get_all" }),
        &auth.own_target(),
    )?;
    let mut filters = Map::new();
    if let Some((_, bay)) = params
        .extra
        .iter()
        .find(|(k, _)| k == "bay_ident" || k == "bay_uuid")
    {
        let bay = super::bays::load(&app, &auth, BayFamily::Bays, bay).await?;
        filters.insert("bay_uuid".into(), json!(bay.uuid));
    }
    let base = base(&app, &headers);
    let path = if detail {
        format!("/v1/{}/detail", kind.route())
    } else {
        format!("/v1/{}", kind.route())
    };
    let names = (kind.route(), path.as_str(), base.as_str());
    super::page(
        &app,
        &auth.context(false),
        &params,
        Some(filters),
        names,
        |o: &O| (view(kind, o.workload(), &base, !detail), o.workload().uuid),
    )
    .await
}

/// `GET /v1/<kind>[?bay_ident=]`.
pub(crate) async fn list<O: WorkloadObject>(
    State(app): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    list_page::<O>(app, auth, headers, query, false).await
}

/// `GET /v1/<kind>/detail`.
pub(crate) async fn detail<O: WorkloadObject>(
    State(app): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    list_page::<O>(app, auth, headers, query, true).await
}

/// `GET /v1/<kind>/<ident>[/<bay>]`.
pub(crate) async fn show<O: WorkloadObject>(
    State(app): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    Path(path): Path<HashMap<String, String>>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let item = ItemRef::parse(&path, query.as_deref())?;
    let found = load::<O>(&app, &auth, &item).await?;
    auth.authorize(&rule(O::KIND, "get"), &owners(&found))?;
    Ok(Json(view(O::KIND, &found, &base(&app, &headers), false)))
}

/// `POST /v1/<kind>`: makes the object in the bay, then 201 with the record.
pub(crate) async fn create<O: WorkloadObject>(
    State(app): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let kind = O::KIND;
    auth.authorize(&rule(kind, "create"), &auth.own_target())?;
    let body = body.required()?;
    let request = WorkloadRequest::from_create_body(kind, &body)?;
    let bay_ident = request.bay.clone().ok_or(ValidationError::Missing {
        field: "bay_uuid".into(),
    })?;
    // A bay named in a body that the caller cannot see is a 400 (spec/rest-api.md §2.4).
    let bay = super::bays::load(&app, &auth, BayFamily::Bays, &bay_ident)
        .await
        .map_err(|e| match e {
            ApiError::NotFound(message) => ApiError::BadRequest(message),
            other => other,
        })?;
    let (text, _) = manifest_text(
        &app,
        kind,
        request.manifest.as_deref(),
        request.manifest_url.as_deref(),
    )
    .await?;
    let replicas = request
        .replicas
        .map(|r| i32::try_from(r).unwrap_or(i32::MAX));
    let workload = Workload {
        uuid: request.uuid.unwrap_or_else(Uuid::new_v4),
        bay_uuid: bay.uuid,
        desc: request.desc,
        manifest: Some(text),
        manifest_url: request.manifest_url,
        replicas,
        ..Workload::default()
    };
    let stored: Workload = app
        .rpc
        .call(&auth.context(false), &WorkloadCreate::<O>::new(workload))
        .await?;
    let base = base(&app, &headers);
    let sent = body.as_object().cloned().unwrap_or_default();
    let mut response =
        (StatusCode::CREATED, Json(echo(kind, &stored, &base, &sent))).into_response();
    if let Ok(location) =
        HeaderValue::from_str(&format!("{base}/v1/{}/{}", kind.route(), stored.uuid))
    {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// `PATCH /v1/<kind>/<ident>[/<bay>]`: a new manifest (or, for RCs, replica count) replaces
/// the object in Kubernetes.
pub(crate) async fn update<O: WorkloadObject>(
    State(app): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    Path(path): Path<HashMap<String, String>>,
    RawQuery(query): RawQuery,
    body: JsonBody,
) -> Result<Json<Value>, ApiError> {
    let kind = O::KIND;
    let item = ItemRef::parse(&path, query.as_deref())?;
    let patch = body.required()?;
    let found = load::<O>(&app, &auth, &item).await?;
    auth.authorize(&rule(kind, "update"), &owners(&found))?;
    let change = WorkloadChange::from_patch(kind, &found, &patch)?;
    let mut changes = Vec::new();
    let mut request = Workload {
        uuid: found.uuid,
        bay_uuid: found.bay_uuid,
        ..Workload::default()
    };
    let mut sent = Map::new();
    if let Some(desc) = change.desc {
        request.desc = desc;
        changes.push("desc".to_owned());
    }
    if change.manifest.is_some() || change.manifest_url.is_some() {
        let (text, parsed) = manifest_text(
            &app,
            kind,
            change.manifest.as_deref(),
            change.manifest_url.as_deref(),
        )
        .await?;
        manifest::check_name_kept(&parsed, &found.name)?;
        sent.insert("manifest".into(), json!(change.manifest));
        sent.insert("manifest_url".into(), json!(change.manifest_url));
        request.manifest = Some(text);
        request.manifest_url = change.manifest_url;
        changes.push("manifest".to_owned());
    }
    if let Some(replicas) = change.replicas {
        request.replicas = Some(i32::try_from(replicas).unwrap_or(i32::MAX));
        changes.push("replicas".to_owned());
    }
    let base = base(&app, &headers);
    if changes.is_empty() {
        return Ok(Json(view(kind, &found, &base, false)));
    }
    let stored: Workload = app
        .rpc
        .call(
            &auth.context(false),
            &WorkloadUpdate::<O>::new(request, changes),
        )
        .await?;
    Ok(Json(echo(kind, &stored, &base, &sent)))
}

/// `DELETE /v1/<kind>/<ident>[/<bay>]`: removes the object from Kubernetes, then the record.
pub(crate) async fn delete<O: WorkloadObject>(
    State(app): State<AppState>,
    auth: Auth,
    Path(path): Path<HashMap<String, String>>,
    RawQuery(query): RawQuery,
) -> Result<StatusCode, ApiError> {
    let item = ItemRef::parse(&path, query.as_deref())?;
    let found = load::<O>(&app, &auth, &item).await?;
    auth.authorize(&rule(O::KIND, "delete"), &owners(&found))?;
    app.rpc
        .call(&auth.context(false), &WorkloadDelete::<O>::new(found.uuid))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(ident: &str, bay: Option<&str>) -> HashMap<String, String> {
        let mut p = HashMap::from([("ident".to_owned(), ident.to_owned())]);
        if let Some(bay) = bay {
            p.insert("bay".into(), bay.into());
        }
        p
    }

    #[test]
    fn the_bay_comes_from_the_path_or_the_query() {
        let r = ItemRef::parse(&path("web", Some("b1")), None).unwrap();
        assert_eq!(r.bay.as_deref(), Some("b1"));
        let r = ItemRef::parse(&path("web", None), Some("bay_ident=my%20bay")).unwrap();
        assert_eq!(r.bay.as_deref(), Some("my bay"));
        let r = ItemRef::parse(&path("web", Some("b1")), Some("bay_uuid=b1")).unwrap();
        assert_eq!(r.bay.as_deref(), Some("b1"));
        assert!(ItemRef::parse(&path("web", Some("b1")), Some("bay_uuid=b2")).is_err());
        assert!(ItemRef::parse(&path("web", None), Some("force=true")).is_err());
        let r = ItemRef::parse(&path("web", None), None).unwrap();
        assert_eq!(r.bay, None);
    }

    #[test]
    fn views_show_the_fields_of_the_kind() {
        let w = Workload {
            name: "web".into(),
            images: Some(vec!["nginx".into()]),
            replicas: Some(2),
            ready_replicas: Some(1),
            ip: Some("10.96.0.1".into()),
            ..Workload::default()
        };
        let rc = view(WorkloadKind::ReplicationController, &w, "http://x", true);
        assert_eq!(rc["replicas"], json!(2));
        assert!(rc.get("ready_replicas").is_none());
        assert!(rc.get("ip").is_none());
        let rc = view(WorkloadKind::ReplicationController, &w, "http://x", false);
        assert_eq!(rc["ready_replicas"], json!(1));
        let svc = view(WorkloadKind::Service, &w, "http://x", true);
        assert_eq!(svc["ip"], json!("10.96.0.1"));
        assert!(svc.get("images").is_none());
        let pod = view(WorkloadKind::Pod, &w, "http://x", false);
        assert!(
            pod.get("manifest").is_none(),
            "GET never shows the manifest"
        );
        assert_eq!(
            pod["links"][0]["href"],
            json!(format!("http://x/v1/pods/{}", w.uuid))
        );
    }
}
