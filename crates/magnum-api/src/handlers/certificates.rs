//! `/v1/certificates` and `/v1/credentials` (spec/rest-api.md §4.4, §4.7): a bay's CA, client
//! certificates signed for a bay, and rotation of both.

use crate::error::ApiError;
use crate::extract::{Auth, JsonBody};
use crate::handlers::bays::load;
use crate::links::links;
use crate::state::AppState;
use crate::views::BayFamily;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use magnum_core::bay::Bay;
use magnum_core::certificate::{self, Certificate, MAX_CSR_LEN};
use magnum_core::fields::{FieldKind, FieldSpec, Flags, Mode};
use magnum_rpc::certificates::{
    CredentialRotate, GetCaCertificate, RotateCaCertificate, SignCertificate,
};
use serde_json::{Value, json};

const SIGN_FIELDS: &[FieldSpec] = &[
    FieldSpec::new(
        "bay_uuid",
        FieldKind::String { min: 1, max: 255 },
        Flags::WRITABLE,
    ),
    FieldSpec::new(
        "cluster_uuid",
        FieldKind::String { min: 1, max: 255 },
        Flags::WRITABLE,
    ),
    FieldSpec::new(
        "csr",
        FieldKind::String {
            min: 1,
            max: MAX_CSR_LEN,
        },
        Flags::MANDATORY,
    ),
    FieldSpec::new(
        "ca_cert_type",
        FieldKind::String { min: 1, max: 255 },
        Flags::WRITABLE,
    ),
];

fn base(app: &AppState, headers: &HeaderMap) -> String {
    crate::links::base_url(headers, app.public_endpoint.as_deref(), app.trust_forwarded)
}

/// The body of a certificate answer: both bay keys, the PEM, and links by bay uuid.
fn view(base: &str, cert: &Certificate, with_csr: bool) -> Value {
    let mut body = json!({
        "bay_uuid": cert.bay_uuid,
        "cluster_uuid": cert.bay_uuid,
        "pem": cert.pem,
        "links": links(base, "certificates", &cert.bay_uuid.to_string()),
    });
    if with_csr {
        body["csr"] = json!(cert.csr);
    }
    body
}

fn owners(bay: &Bay) -> magnum_auth::Target {
    Auth::target(&bay.project_id, &bay.user_id)
}

/// Reads `ca_cert_type` from a query string (the only parameter taken).
fn ca_cert_type(query: Option<&str>) -> Result<Option<String>, ApiError> {
    let mut kind = None;
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "ca_cert_type" => kind = Some(value.into_owned()),
            other => {
                return Err(ApiError::BadRequest(format!(
                    "Unknown query parameter {other:?}."
                )));
            }
        }
    }
    certificate::check_ca_cert_type(kind.as_deref())?;
    Ok(kind)
}

/// `GET /v1/certificates/<bay ident>[?ca_cert_type=kubernetes]`: the bay's CA.
pub(crate) async fn show(
    State(app): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    Path(ident): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let ca_cert_type = ca_cert_type(query.as_deref())?;
    let bay = load(&app, &auth, BayFamily::Clusters, &ident).await?;
    auth.authorize("certificate:get", &owners(&bay))?;
    let cert = app
        .rpc
        .call(
            &auth.context(false),
            &GetCaCertificate {
                bay: bay.uuid,
                ca_cert_type,
            },
        )
        .await?;
    Ok(Json(view(&base(&app, &headers), &cert, false)))
}

/// `POST /v1/certificates {bay_uuid | cluster_uuid, csr, ca_cert_type?}`: 201 with the signed
/// client certificate. A bay the caller cannot see is a 400, as for any ident in a body.
pub(crate) async fn create(
    State(app): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let fields = magnum_core::fields::validate_body(
        "certificate",
        SIGN_FIELDS,
        &body.required()?,
        Mode::Create,
    )?;
    let text = |name: &str| fields.get(name).and_then(Value::as_str).map(str::to_owned);
    let ident = match (text("bay_uuid"), text("cluster_uuid")) {
        (Some(bay), Some(cluster)) if bay != cluster => {
            return Err(ApiError::BadRequest(
                "bay_uuid and cluster_uuid name different bays; send one of them.".into(),
            ));
        }
        (Some(ident), _) | (None, Some(ident)) => ident,
        (None, None) => {
            return Err(ApiError::BadRequest(
                "Invalid input for field/attribute cluster_uuid. Value: None. Mandatory field \
                 missing."
                    .into(),
            ));
        }
    };
    let ca_cert_type = text("ca_cert_type");
    certificate::check_ca_cert_type(ca_cert_type.as_deref())?;
    let bay = load(&app, &auth, BayFamily::Clusters, &ident)
        .await
        .map_err(|e| match e {
            ApiError::NotFound(message) => ApiError::BadRequest(message),
            other => other,
        })?;
    auth.authorize("certificate:create", &owners(&bay))?;
    let caller = auth.context(false);
    let request = Certificate {
        project_id: bay.project_id.clone(),
        user_id: caller.user_id.clone().unwrap_or_default(),
        bay_uuid: bay.uuid,
        csr: text("csr"),
        pem: None,
        ca_cert_type,
    };
    let signed = app
        .rpc
        .call(
            &caller,
            &SignCertificate {
                bay: bay.uuid,
                certificate: request,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(view(&base(&app, &headers), &signed, true)),
    )
        .into_response())
}

/// `PATCH /v1/certificates/<bay ident>` (no body): every client certificate of the bay issued
/// so far stops working. 202 `{uuid}`.
pub(crate) async fn rotate_ca(
    State(app): State<AppState>,
    auth: Auth,
    Path(ident): Path<String>,
) -> Result<Response, ApiError> {
    let bay = load(&app, &auth, BayFamily::Clusters, &ident).await?;
    auth.authorize("certificate:rotate_ca", &owners(&bay))?;
    app.rpc
        .call(&auth.context(false), &RotateCaCertificate { bay: bay.uuid })
        .await?;
    Ok((StatusCode::ACCEPTED, Json(json!({"uuid": bay.uuid}))).into_response())
}

/// `PATCH /v1/credentials/<cluster ident>` (no body): the bay's backend credentials are
/// replaced. 202 `{uuid}`.
pub(crate) async fn rotate_credentials(
    State(app): State<AppState>,
    auth: Auth,
    Path(ident): Path<String>,
) -> Result<Response, ApiError> {
    let bay = load(&app, &auth, BayFamily::Clusters, &ident).await?;
    auth.authorize("credential:rotate", &owners(&bay))?;
    app.rpc
        .call(&auth.context(false), &CredentialRotate { bay: bay.uuid })
        .await?;
    Ok((StatusCode::ACCEPTED, Json(json!({"uuid": bay.uuid}))).into_response())
}
