//! Extractors handlers use: the authenticated caller with its policy checks, and the raw body.

use crate::error::ApiError;
use crate::middleware::RequestId;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use magnum_auth::{Caller, Credentials, Policy, Target};
use magnum_core::ValidationError;
use magnum_rpc::RequestContext;
use serde_json::Value;
use std::sync::Arc;

/// The caller of a protected route, with the policy to check its requests against.
#[derive(Debug, Clone)]
pub(crate) struct Auth {
    /// Who calls.
    pub(crate) caller: Caller,
    /// The caller as policy sees it.
    pub(crate) creds: Credentials,
    policy: Arc<Policy>,
    request_id: RequestId,
}

impl Auth {
    /// Refuses with 403 unless policy allows `rule` on `target`.
    pub(crate) fn authorize(&self, rule: &str, target: &Target) -> Result<(), ApiError> {
        if self.policy.enforce(rule, &self.creds, target) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(rule.to_owned()))
        }
    }

    /// The target of a create or list: the caller's own project.
    pub(crate) fn own_target(&self) -> Target {
        Target {
            project_id: self.caller.project_id.clone(),
            user_id: Some(self.caller.user_id.clone()),
        }
    }

    /// The target of an item operation: the object's owners.
    pub(crate) fn target(project_id: &str, user_id: &str) -> Target {
        Target {
            project_id: Some(project_id.to_owned()),
            user_id: Some(user_id.to_owned()),
        }
    }

    /// The RPC request context for this caller.
    pub(crate) fn context(&self, all_tenants: bool) -> RequestContext {
        let c = &self.caller;
        RequestContext {
            request_id: self.request_id.id.clone(),
            global_request_id: self.request_id.global.clone(),
            user_id: Some(c.user_id.clone()),
            user_name: c.user_name.clone(),
            project_id: c.project_id.clone(),
            project_name: c.project_name.clone(),
            user_domain_id: c.user_domain_id.clone(),
            user_domain_name: c.user_domain_name.clone(),
            roles: c.roles.clone(),
            is_admin: self.creds.is_admin,
            all_tenants: all_tenants && self.creds.is_admin,
            auth_url: None,
            message_id: None,
        }
    }
}

impl<S> FromRequestParts<S> for Auth
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let app = AppState::from_ref(state);
        let caller = parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or(ApiError::Unauthenticated)?;
        let request_id = parts
            .extensions
            .get::<RequestId>()
            .cloned()
            .ok_or_else(|| ApiError::Internal("request without an id".into()))?;
        let policy = app.policy();
        let creds = policy.credentials(&caller);
        Ok(Auth {
            caller,
            creds,
            policy,
            request_id,
        })
    }
}

/// A request body parsed as JSON whatever its `Content-Type` (clients send octet-stream too);
/// malformed is 400, over `[api] max_request_body_size` is 413, empty is `None`.
#[derive(Debug)]
pub(crate) struct JsonBody(pub(crate) Option<Value>);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let deadline = req
            .extensions()
            .get::<crate::serve::BodyDeadline>()
            .copied();
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e: BytesRejection| {
                if deadline.is_some_and(|d| tokio::time::Instant::now() >= d.0) {
                    ApiError::BodyTimeout
                } else if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge
                } else {
                    ApiError::BadRequest(format!("Cannot read the request body: {e}"))
                }
            })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonBody(None));
        }
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|e| ValidationError::Malformed(format!("the body is not valid JSON: {e}")))?;
        if has_nul(&value) {
            // PostgreSQL text cannot hold NUL: refuse it here rather than fail in the database.
            return Err(ValidationError::Malformed(
                "NUL characters are not allowed in the body".into(),
            )
            .into());
        }
        Ok(JsonBody(Some(value)))
    }
}

/// Whether any string or key of `value` contains a NUL character.
fn has_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

impl JsonBody {
    /// The body, or 400 if there is none.
    pub(crate) fn required(self) -> Result<Value, ApiError> {
        self.0
            .ok_or_else(|| ValidationError::Malformed("a JSON body is required".into()).into())
    }
}
