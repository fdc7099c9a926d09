//! UMS and Growth envelopes.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use roster_core::{Error, ErrorCode};
use serde_json::json;

/// A whole-request UMS failure: `{"code", "data": "", "message"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UmsError {
    /// HTTP status.
    pub status: StatusCode,
    /// 4004, 4005 or 5000.
    pub code: i64,
    /// Message.
    pub message: String,
}

impl UmsError {
    /// 4004: parameter invalid.
    pub fn invalid(message: impl Into<String>) -> Self {
        UmsError {
            status: StatusCode::BAD_REQUEST,
            code: 4004,
            message: message.into(),
        }
    }

    /// 4005: authentication failed.
    pub fn auth() -> Self {
        UmsError {
            status: StatusCode::UNAUTHORIZED,
            code: 4005,
            message: "authentication failed".into(),
        }
    }
}

/// The UMS code of a neutral error.
pub(crate) fn ums_code(code: ErrorCode) -> (StatusCode, i64) {
    match code {
        ErrorCode::InvalidParam
        | ErrorCode::EmptyParam
        | ErrorCode::SizeOverLimit
        | ErrorCode::Duplicate
        | ErrorCode::UnknownTarget
        | ErrorCode::NotFound
        | ErrorCode::AlreadyExists
        | ErrorCode::RateLimited => (StatusCode::BAD_REQUEST, 4004),
        ErrorCode::Unauthenticated | ErrorCode::PermissionRequired => {
            (StatusCode::UNAUTHORIZED, 4005)
        }
        ErrorCode::Internal => (StatusCode::INTERNAL_SERVER_ERROR, 5000),
    }
}

impl From<Error> for UmsError {
    fn from(e: Error) -> Self {
        let (status, code) = ums_code(e.code());
        let message = match &e {
            Error::Internal(detail) => {
                tracing::error!(error = %detail, dialect = "ums", "internal error");
                "server error".to_owned()
            }
            other => other.to_string(),
        };
        UmsError {
            status,
            code,
            message,
        }
    }
}

impl From<roster_store::StoreError> for UmsError {
    fn from(e: roster_store::StoreError) -> Self {
        Error::from(e).into()
    }
}

impl IntoResponse for UmsError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({ "code": self.code, "data": "", "message": self.message })),
        )
            .into_response()
    }
}

/// A whole-request Growth failure: `{"code", "msg"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrowthError {
    /// HTTP status.
    pub status: StatusCode,
    /// 4009, 40004, 40005, 40011 or -1.
    pub code: i64,
    /// Message.
    pub msg: String,
}

impl GrowthError {
    pub(crate) fn new(status: StatusCode, code: i64, msg: &str) -> Self {
        GrowthError {
            status,
            code,
            msg: msg.to_owned(),
        }
    }

    /// 4009: authentication failed.
    pub fn auth() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, 4009, "API authentication failed")
    }
}

impl From<roster_store::StoreError> for GrowthError {
    fn from(e: roster_store::StoreError) -> Self {
        tracing::error!(error = %e, dialect = "growth", "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            -1,
            "Internal server error",
        )
    }
}

impl IntoResponse for GrowthError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({ "code": self.code, "msg": self.msg })),
        )
            .into_response()
    }
}

pub(crate) async fn method_not_allowed() -> UmsError {
    UmsError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        code: 4004,
        message: "method not allowed".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ums_table() {
        assert_eq!(
            ums_code(ErrorCode::InvalidParam),
            (StatusCode::BAD_REQUEST, 4004)
        );
        assert_eq!(
            ums_code(ErrorCode::Unauthenticated),
            (StatusCode::UNAUTHORIZED, 4005)
        );
        assert_eq!(
            ums_code(ErrorCode::PermissionRequired),
            (StatusCode::UNAUTHORIZED, 4005)
        );
        assert_eq!(
            ums_code(ErrorCode::Internal),
            (StatusCode::INTERNAL_SERVER_ERROR, 5000)
        );
        let e = UmsError::from(Error::Internal("disk".into()));
        assert_eq!(e.message, "server error");
    }
}
