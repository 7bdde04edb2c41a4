//! `/v1/baymodels` and `/v1/clustertemplates`: one record type, two URL families
//! (spec/rest-api.md §3.1, §4.1).

use crate::error::ApiError;
use crate::extract::{Auth, JsonBody};
use crate::list_query::parse_list_query;
use crate::state::AppState;
use crate::views::TemplateFamily;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use magnum_core::Ident;
use magnum_core::baymodel::{self, BayModel, BayModelSpec};
use magnum_rpc::methods::{BayModelCreate, BayModelDelete, BayModelUpdate, GetObject};

/// Picks the URL family at compile time: `list::<BayModels>` serves `/v1/baymodels`.
pub(crate) trait Family {
    /// The family.
    const FAMILY: TemplateFamily;
}

/// `/v1/baymodels`.
#[derive(Debug)]
pub(crate) struct BayModels;
impl Family for BayModels {
    const FAMILY: TemplateFamily = TemplateFamily::BayModels;
}

/// `/v1/clustertemplates`.
#[derive(Debug)]
pub(crate) struct ClusterTemplates;
impl Family for ClusterTemplates {
    const FAMILY: TemplateFamily = TemplateFamily::ClusterTemplates;
}

fn base(app: &AppState, headers: &HeaderMap) -> String {
    crate::links::base_url(headers, app.public_endpoint.as_deref(), app.trust_forwarded)
}

/// Loads a visible template by uuid or name; 404 and 409 messages name the family's kind.
async fn load(
    app: &AppState,
    auth: &Auth,
    family: TemplateFamily,
    ident: &str,
) -> Result<BayModel, ApiError> {
    let lookup = Ident::parse(ident);
    app.rpc
        .call(&auth.context(false), &GetObject::<BayModel>::new(lookup))
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
                family.kind(),
                family.kind()
            )),
            other => other,
        })
}

async fn list_page(
    app: AppState,
    auth: Auth,
    headers: HeaderMap,
    query: Option<String>,
    family: TemplateFamily,
    detail: bool,
) -> Result<Response, ApiError> {
    let params = parse_list_query(query.as_deref(), &[], baymodel::SORT_KEYS, app.max_limit)?;
    let action = if detail { "detail" } else { "get_all" };
    auth.authorize(&family.rule(action), &auth.own_target())?;
    if params.all_tenants || params.project_id.is_some() {
        auth.authorize(
            &family.rule(&format!("{action}_all_projects")),
            &auth.own_target(),
        )?;
    }
    if params.project_id.is_some() {
        return Err(ApiError::BadRequest(format!(
            "Filtering {} by project_id is not supported; use all_tenants.",
            family.collection()
        )));
    }
    let base = base(&app, &headers);
    let path = format!(
        "/v1/{}{}",
        family.collection(),
        if detail { "/detail" } else { "" }
    );
    let ctx = auth.context(params.all_tenants);
    let names = (family.collection(), path.as_str(), base.as_str());
    let (items, next) =
        super::page_items(&app, &ctx, &params, None, names, |m: &BayModel| m.uuid).await?;
    let body = super::ListBody {
        key: family.collection(),
        next,
        items: items
            .iter()
            .map(|m| family.view(m, &base, !detail))
            .collect(),
    };
    Ok(Json(body).into_response())
}

/// `GET /v1/<family>`: own and public templates (reduced items for baymodels).
pub(crate) async fn list<F: Family>(
    State(app): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    list_page(app, auth, headers, query, F::FAMILY, false).await
}

/// `GET /v1/<family>/detail`: full items.
pub(crate) async fn detail<F: Family>(
    State(app): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    list_page(app, auth, headers, query, F::FAMILY, true).await
}

/// `GET /v1/<family>/<ident>`.
pub(crate) async fn show<F: Family>(
    State(app): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    Path(ident): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    no_query(query.as_deref())?;
    let family = F::FAMILY;
    let model = load(&app, &auth, family, &ident).await?;
    // A public template is readable by every project, so its read is checked as the caller's own.
    let target = if model.public {
        auth.own_target()
    } else {
        Auth::target(&model.project_id, &model.user_id)
    };
    auth.authorize(&family.rule("get"), &target)?;
    let base = base(&app, &headers);
    Ok(Json(family.view(&model, &base, false)).into_response())
}

fn no_query(query: Option<&str>) -> Result<(), ApiError> {
    match query.and_then(|q| q.split('&').find(|p| !p.is_empty())) {
        Some(param) => {
            let name = param.split('=').next().unwrap_or(param);
            Err(ApiError::BadRequest(format!(
                "Unknown argument: \"{name}\""
            )))
        }
        None => Ok(()),
    }
}

/// `POST /v1/<family>`: 201 with the stored template and its `Location`.
pub(crate) async fn create<F: Family>(
    State(app): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let family = F::FAMILY;
    auth.authorize(&family.rule("create"), &auth.own_target())?;
    let body = body.required()?;
    let mut spec =
        BayModelSpec::from_create_body_as(family.argument(), &body, &app.baymodel_rules)?;
    if baymodel::publish_needed(None, &spec) {
        auth.authorize(&family.rule("publish"), &auth.own_target())?;
    }
    let uuid = *spec.uuid.get_or_insert_with(uuid::Uuid::new_v4);
    spec.name
        .get_or_insert_with(|| magnum_core::fields::generated_name(baymodel::NAME_PREFIX, &uuid));
    let stored = app
        .rpc
        .call(&auth.context(false), &BayModelCreate { baymodel: spec })
        .await?;
    let base = base(&app, &headers);
    let location = format!("{base}/v1/{}/{}", family.collection(), stored.uuid);
    let mut response = (
        StatusCode::CREATED,
        Json(family.view(&stored, &base, false)),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

/// `PATCH /v1/<family>/<ident>`: applies an RFC 6902 patch; 200 with the result.
pub(crate) async fn update<F: Family>(
    State(app): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    Path(ident): Path<String>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let family = F::FAMILY;
    let current = load(&app, &auth, family, &ident).await?;
    auth.authorize(
        &family.rule("update"),
        &Auth::target(&current.project_id, &current.user_id),
    )?;
    let (spec, changes) = baymodel::patched(&current, &body.required()?, &app.baymodel_rules)?;
    if baymodel::publish_needed(Some(&current), &spec) {
        auth.authorize(&family.rule("publish"), &auth.own_target())?;
    }
    let base = base(&app, &headers);
    if changes.is_empty() {
        return Ok(Json(family.view(&current, &base, false)).into_response());
    }
    let update = BayModelUpdate {
        uuid: current.uuid,
        baymodel: spec,
        changes: changes.iter().map(|c| (*c).to_owned()).collect(),
    };
    let updated = app.rpc.call(&auth.context(false), &update).await?;
    Ok(Json(family.view(&updated, &base, false)).into_response())
}

/// `DELETE /v1/<family>/<ident>`: 204; a template a bay uses is refused (400).
pub(crate) async fn delete<F: Family>(
    State(app): State<AppState>,
    auth: Auth,
    Path(ident): Path<String>,
) -> Result<StatusCode, ApiError> {
    let family = F::FAMILY;
    let current = load(&app, &auth, family, &ident).await?;
    auth.authorize(
        &family.rule("delete"),
        &Auth::target(&current.project_id, &current.user_id),
    )?;
    app.rpc
        .call(&auth.context(false), &BayModelDelete { uuid: current.uuid })
        .await
        .map_err(|e| match ApiError::from(e) {
            ApiError::Remote {
                status: StatusCode::BAD_REQUEST,
                ..
            } => ApiError::BadRequest(format!(
                "{} {ident} is referenced by one or multiple {}.",
                family.kind(),
                // Magnum's BayModelReferenced / ClusterTemplateReferenced.
                match family {
                    TemplateFamily::BayModels => "bays",
                    TemplateFamily::ClusterTemplates => "clusters",
                }
            )),
            other => other,
        })?;
    Ok(StatusCode::NO_CONTENT)
}
