//! The one mapping from failures to HTTP responses: `{"error": "<text>", "code": "<CODE>"}` with
//! the contract's status codes. Internals never reach the body; they go to the log.

use axum::Json;
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An HTTP error response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The status.
    pub status: StatusCode,
    /// The contract code.
    pub code: &'static str,
    /// Text safe to show.
    pub message: String,
    /// Seconds for a `Retry-After` header (rate limits).
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after_secs: None,
        }
    }

    /// 429 `RATE_LIMITED` with `Retry-After` (whole seconds, at least 1).
    pub fn rate_limited(retry_after: std::time::Duration) -> Self {
        let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
        Self {
            retry_after_secs: Some(secs.max(1)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "RATE_LIMITED",
                "Too many requests; please try again later",
            )
        }
    }

    /// 401 `UNAUTHORIZED`: no credentials.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "Authentication required",
        )
    }

    /// 401 `INVALID_TOKEN`.
    pub fn invalid_token() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "INVALID_TOKEN",
            "Invalid or expired authentication token",
        )
    }

    /// 403 `FORBIDDEN`.
    pub fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "Insufficient permissions",
        )
    }

    /// 400 `BAD_REQUEST` with a specific message.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
    }

    /// 404 `NOT_FOUND` with a specific message.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
    }

    /// 405 `METHOD_NOT_ALLOWED`: the path exists, the method does not.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "Method not allowed for this endpoint",
        )
    }

    /// 500 `INTERNAL_ERROR`; log the cause before returning this.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            "An internal error occurred",
        )
    }

    /// 503 `SERVICE_UNAVAILABLE`.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVICE_UNAVAILABLE",
            message,
        )
    }
}

impl From<chatbox_core::StoreError> for ApiError {
    fn from(e: chatbox_core::StoreError) -> Self {
        tracing::error!(error = %e, "store operation failed");
        if e.is_transient() {
            Self::unavailable("Storage temporarily unavailable")
        } else {
            Self::internal()
        }
    }
}

impl From<chatbox_session::EngineError> for ApiError {
    fn from(e: chatbox_session::EngineError) -> Self {
        use chatbox_session::EngineError as E;
        match e {
            E::Store(e) => e.into(),
            E::NotFound => Self::not_found("Session not found"),
            E::Conflict => Self::new(
                StatusCode::CONFLICT,
                "CONFLICT",
                "Another admin is assisting this session",
            ),
            E::Forbidden => Self::forbidden(),
            E::Disabled(what) => Self::new(
                StatusCode::FORBIDDEN,
                "FEATURE_DISABLED",
                format!("{what} is disabled on this server"),
            ),
            E::StoreTimeout => {
                tracing::error!("store operation timed out");
                Self::unavailable("Storage temporarily unavailable")
            }
            E::ShuttingDown => Self::unavailable("Server shutting down"),
            E::Busy => Self::unavailable("Session busy; please retry"),
            E::TooManySessions => Self::rate_limited(std::time::Duration::from_secs(1)),
            other => {
                tracing::error!(error = %other, "engine operation failed");
                Self::internal()
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(json!({"error": self.message, "code": self.code})),
        )
            .into_response();
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn rate_limited_says_when_to_retry_in_whole_seconds() {
        let response = ApiError::rate_limited(Duration::from_millis(1500)).into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok()),
            Some("2")
        );
        let soon = ApiError::rate_limited(Duration::from_millis(1)).into_response();
        assert_eq!(
            soon.headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok()),
            Some("1")
        );
        let plain = ApiError::not_found("x").into_response();
        assert!(plain.headers().get(RETRY_AFTER).is_none());
    }
}
