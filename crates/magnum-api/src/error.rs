//! The one error type of the HTTP layer and the one renderer of OpenStack error bodies.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use magnum_core::ValidationError;
use magnum_rpc::{RemoteFailure, RpcError};

/// Every way a request can fail. [`ApiError::status`] and `IntoResponse` are the only HTTP
/// mapping.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// Bad input (400).
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// A state or parent problem the client can fix (400), with its message.
    #[error("{0}")]
    BadRequest(String),
    /// No credentials, or bad ones (401).
    #[error("Authentication required")]
    Unauthenticated,
    /// Policy refused the rule (403).
    #[error("Policy doesn't allow {0} to be performed.")]
    Forbidden(String),
    /// A valid Keystone token scoped to a domain or the system, not a project (403).
    #[error("The token is not scoped to a project.")]
    NotProjectScoped,
    /// Not found, foreign, or vanished (404), with its message.
    #[error("{0}")]
    NotFound(String),
    /// A microversion problem (406); `unsupported` adds the range fields to the body.
    #[error("{message}")]
    NotAcceptable {
        /// The message.
        message: String,
        /// Whether the requested version is outside the served range.
        unsupported: bool,
    },
    /// A conflict (409), with its message.
    #[error("{0}")]
    Conflict(String),
    /// The body exceeds `[api] max_request_body_size` (413).
    #[error("Request is too large.")]
    PayloadTooLarge,
    /// The body did not arrive within `[api] client_body_timeout` (408).
    #[error("The request body did not arrive in time.")]
    BodyTimeout,
    /// The conductor answered with a failure carrying its own status.
    #[error("{message}")]
    Remote {
        /// HTTP status from the failure's `code`.
        status: StatusCode,
        /// The failure's message.
        message: String,
    },
    /// Nobody can answer now: broker down, no conductor (503).
    #[error("{0}")]
    Unavailable(String),
    /// A conductor took the call but did not answer in time (504).
    #[error("The conductor did not answer in time.")]
    Timeout,
    /// A bug (500); details are logged, never shown.
    #[error("An unknown exception occurred.")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status of this error.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            ApiError::Invalid(_) | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthenticated => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) | ApiError::NotProjectScoped => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::NotAcceptable { .. } => StatusCode::NOT_ACCEPTABLE,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::Remote { status, .. } => *status,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Timeout => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<RpcError> for ApiError {
    fn from(e: RpcError) -> Self {
        match e {
            RpcError::Remote(failure) => ApiError::from_failure(failure),
            RpcError::Unavailable(why) => ApiError::Unavailable(why),
            RpcError::Timeout => ApiError::Timeout,
            RpcError::BadReply(why) => ApiError::Internal(why),
        }
    }
}

impl ApiError {
    /// Maps a conductor failure (spec/rpc.md §9): its `code`, else 503 for a dispatcher refusal
    /// (an older conductor), else 500.
    fn from_failure(failure: RemoteFailure) -> Self {
        match failure.code() {
            Some(code @ 400..=599) => match StatusCode::from_u16(code) {
                Ok(status) if status.is_server_error() && code == 500 => {
                    ApiError::Internal(failure.message)
                }
                Ok(status) => ApiError::Remote {
                    status,
                    message: failure.message,
                },
                Err(_) => ApiError::Internal(failure.message),
            },
            _ if failure.is_dispatcher_refusal() => ApiError::Unavailable(format!(
                "The conductor cannot serve this request: {}",
                failure.message
            )),
            _ => ApiError::Internal(format!("{}: {}", failure.class, failure.message)),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = ?self, "request failed");
        }
        crate::error_body::render(status, &self.to_string(), &self)
    }
}
