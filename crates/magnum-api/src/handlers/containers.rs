//! `/v1/containers`: containers on swarm bays, and their actions (spec/rest-api.md §3.5).

use crate::error::ApiError;
use crate::extract::{Auth, JsonBody};
use crate::list_query::parse_list_query;
use crate::state::AppState;
use crate::views::{BayFamily, timestamp};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use magnum_core::Ident;
use magnum_core::container::{self, Container, ContainerSpec};
use magnum_rpc::methods::{
    ContainerAction, ContainerCreate, ContainerDelete, ContainerExec, ContainerLogs,
    ContainerPause, ContainerReboot, ContainerRename, ContainerShow, ContainerStart, ContainerStop,
    ContainerUnpause, GetObject,
};
use serde_json::{Map, Value, json};

fn base(app: &AppState, headers: &HeaderMap) -> String {
    crate::links::base_url(headers, app.public_endpoint.as_deref(), app.trust_forwarded)
}

/// Renders a container; `reduced` picks the plain-list fields.
fn view(c: &Container, base: &str, reduced: bool) -> Value {
    let mut item = json!({
        "uuid": c.uuid, "name": c.name, "image": c.image, "command": c.command,
        "memory": c.memory, "bay_uuid": c.bay_uuid, "status": c.status.as_str(),
        "links": crate::links::links(base, "containers", &c.uuid.to_string()),
    });
    if !reduced && let Value::Object(map) = &mut item {
        map.insert("status_reason".into(), json!(c.status_reason));
        map.insert("host".into(), json!(c.host));
        map.insert("environment".into(), json!(c.environment));
        map.insert("created_at".into(), timestamp(c.created_at.as_ref()));
        map.insert("updated_at".into(), timestamp(c.updated_at.as_ref()));
    }
    item
}

/// Loads a visible container by uuid or name.
async fn load(app: &AppState, auth: &Auth, ident: &str) -> Result<Container, ApiError> {
    app.rpc
        .call(
            &auth.context(false),
            &GetObject::<Container>::new(Ident::parse(ident)),
        )
        .await
        .map_err(|e| match ApiError::from(e) {
            ApiError::Remote {
                status: StatusCode::NOT_FOUND,
                ..
            } => ApiError::NotFound(format!("Container {ident} could not be found.")),
            other => other,
        })
}

fn owners(c: &Container) -> magnum_auth::Target {
    Auth::target(&c.project_id, &c.user_id)
}

async fn list_page(
    app: AppState,
    auth: Auth,
    headers: HeaderMap,
    query: Option<String>,
    detail: bool,
) -> Result<Json<Value>, ApiError> {
    let params = parse_list_query(
        query.as_deref(),
        &["bay_ident", "bay_uuid"],
        container::SORT_KEYS,
        app.max_limit,
    )?;
    auth.authorize(
        if detail {
            "container:detail"
        } else {
            "container:get_all"
        },
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
        "/v1/containers/detail"
    } else {
        "/v1/containers"
    };
    let names = ("containers", path, base.as_str());
    super::page(
        &app,
        &auth.context(false),
        &params,
        Some(filters),
        names,
        |c: &Container| (view(c, &base, !detail), c.uuid),
    )
    .await
}

/// `GET /v1/containers[?bay_ident=]`.
pub(crate) async fn list(
    State(app): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    list_page(app, auth, headers, query, false).await
}

/// `GET /v1/containers/detail`.
pub(crate) async fn detail(
    State(app): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    list_page(app, auth, headers, query, true).await
}

/// `GET /v1/containers/<ident>`: the status is read from the Engine.
pub(crate) async fn show(
    State(app): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    Path(ident): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let found = load(&app, &auth, &ident).await?;
    auth.authorize("container:get", &owners(&found))?;
    let fresh = app
        .rpc
        .call(
            &auth.context(false),
            &ContainerShow {
                container_uuid: found.uuid,
            },
        )
        .await?;
    Ok(Json(view(&fresh, &base(&app, &headers), false)))
}

/// `POST /v1/containers`: 201 with the container in `Creating`.
pub(crate) async fn create(
    State(app): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    body: JsonBody,
) -> Result<Response, ApiError> {
    auth.authorize("container:create", &auth.own_target())?;
    let mut spec = ContainerSpec::from_create_body(&body.required()?)?;
    let bay_ident = spec.bay_uuid.clone();
    // A bay named in a body that the caller cannot see is a 400 (spec/rest-api.md §2.4).
    let bay = super::bays::load(&app, &auth, BayFamily::Bays, &bay_ident)
        .await
        .map_err(|e| match e {
            ApiError::NotFound(message) => ApiError::BadRequest(message),
            other => other,
        })?;
    spec.bay_uuid = bay.uuid.to_string();
    let uuid = *spec.uuid.get_or_insert_with(uuid::Uuid::new_v4);
    spec.name
        .get_or_insert_with(|| magnum_core::fields::generated_name("container", &uuid));
    let stored = app
        .rpc
        .call(&auth.context(false), &ContainerCreate { container: spec })
        .await?;
    let base = base(&app, &headers);
    let mut response = (StatusCode::CREATED, Json(view(&stored, &base, false))).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("{base}/v1/containers/{}", stored.uuid)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// `PATCH /v1/containers/<ident>`: `/name` only, on the record (spec/rest-api.md §3.5).
pub(crate) async fn update(
    State(app): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    Path(ident): Path<String>,
    body: JsonBody,
) -> Result<Json<Value>, ApiError> {
    let patch = body.required()?;
    let found = load(&app, &auth, &ident).await?;
    auth.authorize("container:update", &owners(&found))?;
    let current = Map::from_iter([("name".to_owned(), json!(found.name))]);
    let (fields, changed) =
        magnum_core::patch::apply(container::CONTAINER_FIELDS, &current, &patch)?;
    let base = base(&app, &headers);
    if changed.is_empty() {
        return Ok(Json(view(&found, &base, false)));
    }
    // A removed name is generated again, as on create.
    let name = fields.get("name").and_then(Value::as_str).map_or_else(
        || magnum_core::fields::generated_name("container", &found.uuid),
        str::to_owned,
    );
    container::check_name(&name)?;
    let saved = app
        .rpc
        .call(
            &auth.context(false),
            &ContainerRename {
                uuid: found.uuid,
                name,
            },
        )
        .await?;
    Ok(Json(view(&saved, &base, false)))
}

fn query_flag(query: Option<&str>, name: &str) -> Result<bool, ApiError> {
    let mut value = false;
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (key, v) = pair.split_once('=').unwrap_or((pair, "true"));
        if key != name {
            return Err(ApiError::BadRequest(format!("Unknown argument: \"{key}\"")));
        }
        value = magnum_core::fields::parse_bool(v)
            .ok_or_else(|| ApiError::BadRequest(format!("Invalid value for {name}: {v}")))?;
    }
    Ok(value)
}

/// `DELETE /v1/containers/<ident>[?force=true]`: a running container needs `force` (409).
pub(crate) async fn delete(
    State(app): State<AppState>,
    auth: Auth,
    Path(ident): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<StatusCode, ApiError> {
    let force = query_flag(query.as_deref(), "force")?;
    let found = load(&app, &auth, &ident).await?;
    auth.authorize("container:delete", &owners(&found))?;
    app.rpc
        .call(
            &auth.context(false),
            &ContainerDelete {
                container_uuid: found.uuid,
                force,
            },
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /v1/containers/<ident>/<action>`: start, stop, pause, unpause, reboot (200 `null`) and
/// execute (200 `{"output"}`; `command` from the query, a form field or a JSON body).
pub(crate) async fn action(
    State(app): State<AppState>,
    auth: Auth,
    Path((ident, action)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let found = load(&app, &auth, &ident).await?;
    let ctx = auth.context(false);
    let uuid = found.uuid;
    if action == "execute" {
        auth.authorize("container:execute", &owners(&found))?;
        let command = exec_command(query.as_deref(), &body)?;
        let out = app
            .rpc
            .call(
                &ctx,
                &ContainerExec {
                    container_uuid: uuid,
                    command,
                },
            )
            .await?;
        return Ok(Json(
            json!({"output": out.output, "exit_code": out.exit_code}),
        ));
    }
    let action = ContainerAction::parse(&action)
        .ok_or_else(|| ApiError::NotFound("The resource could not be found.".into()))?;
    auth.authorize(&format!("container:{}", action.as_str()), &owners(&found))?;
    match action {
        ContainerAction::Start => {
            app.rpc
                .call(
                    &ctx,
                    &ContainerStart {
                        container_uuid: uuid,
                    },
                )
                .await?
        }
        ContainerAction::Stop => {
            app.rpc
                .call(
                    &ctx,
                    &ContainerStop {
                        container_uuid: uuid,
                    },
                )
                .await?
        }
        ContainerAction::Pause => {
            app.rpc
                .call(
                    &ctx,
                    &ContainerPause {
                        container_uuid: uuid,
                    },
                )
                .await?
        }
        ContainerAction::Unpause => {
            app.rpc
                .call(
                    &ctx,
                    &ContainerUnpause {
                        container_uuid: uuid,
                    },
                )
                .await?
        }
        ContainerAction::Reboot => {
            app.rpc
                .call(
                    &ctx,
                    &ContainerReboot {
                        container_uuid: uuid,
                    },
                )
                .await?
        }
    }
    Ok(Json(Value::Null))
}

fn exec_command(query: Option<&str>, body: &Bytes) -> Result<String, ApiError> {
    let from_pairs = |text: &str| {
        text.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            (k == "command").then(|| crate::list_query::percent_decode(v))
        })
    };
    if let Some(command) = query.and_then(from_pairs) {
        return Ok(command);
    }
    if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body)
        && let Some(Value::String(command)) = map.get("command")
    {
        return Ok(command.clone());
    }
    if let Some(command) = std::str::from_utf8(body).ok().and_then(from_pairs) {
        return Ok(command);
    }
    Err(ApiError::BadRequest(
        "Invalid input for field/attribute command. Value: None. Mandatory field missing.".into(),
    ))
}

/// `GET /v1/containers/<ident>/logs`: 200 `{"output"}`.
pub(crate) async fn logs(
    State(app): State<AppState>,
    auth: Auth,
    Path(ident): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let found = load(&app, &auth, &ident).await?;
    auth.authorize("container:logs", &owners(&found))?;
    let out = app
        .rpc
        .call(
            &auth.context(false),
            &ContainerLogs {
                container_uuid: found.uuid,
            },
        )
        .await?;
    Ok(Json(json!({"output": out.output})))
}
