//! The native error envelope: `{"error": {"code": "...", "message": "..."}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use roster_core::{Error, ErrorCode};
use roster_edge::Refusal;
use serde::Serialize;
use utoipa::ToSchema;

/// Error reply body.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// A stable machine code and a human message.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable code, e.g. `invalid_param`, `unknown_target`, `unauthenticated`.
    pub code: &'static str,
    /// Human-readable message naming the parameter.
    pub message: String,
}

/// A native API error.
#[derive(Debug)]
pub struct NativeError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl NativeError {
    pub(crate) fn unauthenticated() -> Self {
        Error::Unauthenticated("credentials are missing or wrong".into()).into()
    }
}

pub(crate) async fn method_not_allowed() -> NativeError {
    Refusal::MethodNotAllowed.into()
}

impl From<Refusal> for NativeError {
    /// The refusal's HTTP status, a stable code and a plain message.
    fn from(r: Refusal) -> Self {
        let code = match r {
            Refusal::NotFound => "not_found",
            Refusal::MethodNotAllowed => "method_not_allowed",
            Refusal::BadPath => "invalid_path",
            Refusal::BadRequest => "bad_request",
            Refusal::BodyTooLarge => "body_too_large",
            Refusal::UriTooLong => "uri_too_long",
            Refusal::HeadersTooLarge => "headers_too_large",
            Refusal::UnsupportedEncoding => "unsupported_encoding",
            Refusal::Unavailable => "unavailable",
            Refusal::Internal => "internal",
        };
        NativeError {
            status: r.status(),
            code,
            message: r.message().into(),
        }
    }
}

/// A refusal of the edge in the native envelope.
pub fn refusal(r: Refusal) -> Response {
    NativeError::from(r).into_response()
}

/// The native envelope of a refusal as bytes, for replies written below axum (the
/// HTTP parser's own refusals).
pub fn refusal_json(r: Refusal) -> Vec<u8> {
    NativeError::from(r).body_json()
}

/// The one table from neutral codes to HTTP status and native code.
fn native_code(code: ErrorCode) -> (StatusCode, &'static str) {
    match code {
        ErrorCode::InvalidParam => (StatusCode::BAD_REQUEST, "invalid_param"),
        ErrorCode::EmptyParam => (StatusCode::BAD_REQUEST, "empty_param"),
        ErrorCode::SizeOverLimit => (StatusCode::BAD_REQUEST, "size_over_limit"),
        ErrorCode::Duplicate => (StatusCode::BAD_REQUEST, "duplicate"),
        ErrorCode::UnknownTarget => (StatusCode::NOT_FOUND, "unknown_target"),
        ErrorCode::NotFound => (StatusCode::NOT_FOUND, "not_found"),
        ErrorCode::AlreadyExists => (StatusCode::CONFLICT, "already_exists"),
        ErrorCode::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated"),
        ErrorCode::PermissionRequired => (StatusCode::FORBIDDEN, "permission_required"),
        ErrorCode::RateLimited => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
        ErrorCode::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    }
}

impl From<Error> for NativeError {
    fn from(e: Error) -> Self {
        let (status, code) = native_code(e.code());
        let message = match &e {
            Error::Internal(detail) => {
                tracing::error!(error = %detail, dialect = "native", "internal error");
                "internal error".to_owned()
            }
            other => other.to_string(),
        };
        NativeError {
            status,
            code,
            message,
        }
    }
}

impl From<roster_store::StoreError> for NativeError {
    fn from(e: roster_store::StoreError) -> Self {
        Error::from(e).into()
    }
}

impl NativeError {
    fn body(self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
            },
        }
    }

    fn body_json(self) -> Vec<u8> {
        serde_json::to_vec(&self.body()).unwrap_or_default()
    }
}

impl IntoResponse for NativeError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_distinct_reply() {
        let codes = [
            ErrorCode::InvalidParam,
            ErrorCode::EmptyParam,
            ErrorCode::SizeOverLimit,
            ErrorCode::Duplicate,
            ErrorCode::UnknownTarget,
            ErrorCode::NotFound,
            ErrorCode::AlreadyExists,
            ErrorCode::Unauthenticated,
            ErrorCode::PermissionRequired,
            ErrorCode::RateLimited,
            ErrorCode::Internal,
        ];
        let names: std::collections::HashSet<_> = codes.iter().map(|c| native_code(*c).1).collect();
        assert_eq!(names.len(), codes.len());
        assert_eq!(
            native_code(ErrorCode::Unauthenticated).0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            native_code(ErrorCode::InvalidParam).0,
            StatusCode::BAD_REQUEST
        );
    }
}
