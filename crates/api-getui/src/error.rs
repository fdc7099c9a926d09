//! Getui's error envelope and the one mapping from neutral codes to Getui codes.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use roster_core::quota::LimitedAction;
use roster_core::{Error, ErrorCode};

/// An error answered as `{"code": …, "msg": …}` with Getui's HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetuiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Getui business code.
    pub code: i64,
    /// Message.
    pub msg: String,
}

impl GetuiError {
    /// 20001 with a message.
    pub fn param(msg: impl Into<String>) -> Self {
        GetuiError {
            status: StatusCode::BAD_REQUEST,
            code: 20001,
            msg: msg.into(),
        }
    }

    /// 10001: missing, unknown, expired or revoked token.
    pub fn token() -> Self {
        GetuiError {
            status: StatusCode::UNAUTHORIZED,
            code: 10001,
            msg: "token is invalid or expired".into(),
        }
    }

    /// Code 1: the body is not JSON.
    pub fn not_json() -> Self {
        GetuiError {
            status: StatusCode::OK,
            code: 1,
            msg: "request body must be json".into(),
        }
    }

    /// 404 envelope.
    pub fn not_found() -> Self {
        GetuiError {
            status: StatusCode::NOT_FOUND,
            code: 404,
            msg: "url error".into(),
        }
    }
}

pub(crate) async fn method_not_allowed() -> GetuiError {
    GetuiError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        code: 405,
        msg: "method not supported".into(),
    }
}

/// The business code and HTTP status of a neutral error: the one table.
fn getui_code(e: &Error) -> (StatusCode, i64) {
    match e.code() {
        ErrorCode::InvalidParam
        | ErrorCode::EmptyParam
        | ErrorCode::SizeOverLimit
        | ErrorCode::Duplicate
        | ErrorCode::UnknownTarget
        | ErrorCode::NotFound
        | ErrorCode::AlreadyExists
        | ErrorCode::PermissionRequired => (StatusCode::BAD_REQUEST, 20001),
        ErrorCode::Unauthenticated => (StatusCode::UNAUTHORIZED, 10001),
        ErrorCode::RateLimited => match e {
            Error::RateLimited { action, per_day } => match action {
                LimitedAction::GetuiAuth => (StatusCode::UNAUTHORIZED, 10003),
                LimitedAction::TagOverwrite(_) | LimitedAction::TagBatch => {
                    (StatusCode::FORBIDDEN, if *per_day { 30011 } else { 30012 })
                }
                LimitedAction::GetuiCall
                | LimitedAction::BindDt
                | LimitedAction::GrowthRegister
                | LimitedAction::EngagelabProfile => (StatusCode::UNAUTHORIZED, 10005),
            },
            _ => (StatusCode::UNAUTHORIZED, 10005),
        },
        ErrorCode::Internal => (StatusCode::INTERNAL_SERVER_ERROR, 500),
    }
}

impl From<Error> for GetuiError {
    fn from(e: Error) -> Self {
        let (status, code) = getui_code(&e);
        let msg = match &e {
            Error::Internal(detail) => {
                tracing::error!(error = %detail, dialect = "getui", "internal error");
                "internal error".to_owned()
            }
            Error::RateLimited { .. } => "request rate over limit".to_owned(),
            Error::Unauthenticated(_) => "token is invalid or expired".to_owned(),
            other => other.to_string(),
        };
        GetuiError { status, code, msg }
    }
}

impl From<roster_store::StoreError> for GetuiError {
    fn from(e: roster_store::StoreError) -> Self {
        Error::from(e).into()
    }
}

impl IntoResponse for GetuiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "code": self.code, "msg": self.msg });
        (self.status, Json(body)).into_response()
    }
}

/// The success envelope, with `data` when there is some.
pub(crate) fn ok(data: Option<serde_json::Value>) -> Response {
    let body = match data {
        Some(data) => serde_json::json!({ "code": 0, "msg": "success", "data": data }),
        None => serde_json::json!({ "code": 0, "msg": "success" }),
    };
    Json(body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use roster_core::Cid;

    #[test]
    fn code_table() {
        let cases: Vec<(Error, u16, i64, &str)> = vec![
            (Error::invalid("alias"), 400, 20001, "alias is invalid"),
            (
                Error::empty("data_list"),
                400,
                20001,
                "data_list can not be empty",
            ),
            (Error::TypeError("cid".into()), 400, 20001, "cid type error"),
            (Error::over_limit("cid"), 400, 20001, "cid size over limit"),
            (
                Error::duplicate("cid"),
                400,
                20001,
                "contains duplicate cid",
            ),
            (Error::UnknownTarget, 400, 20001, "target user is invalid"),
            (
                Error::PermissionRequired("bind_dt/hw".into()),
                400,
                20001,
                "permission required by bind_dt/hw",
            ),
            (
                Error::Unauthenticated("x".into()),
                401,
                10001,
                "token is invalid or expired",
            ),
            (
                Error::RateLimited {
                    action: LimitedAction::GetuiAuth,
                    per_day: false,
                },
                401,
                10003,
                "request rate over limit",
            ),
            (
                Error::RateLimited {
                    action: LimitedAction::GetuiCall,
                    per_day: false,
                },
                401,
                10005,
                "request rate over limit",
            ),
            (
                Error::RateLimited {
                    action: LimitedAction::TagBatch,
                    per_day: false,
                },
                403,
                30012,
                "request rate over limit",
            ),
            (
                Error::RateLimited {
                    action: LimitedAction::TagOverwrite(Cid::generate()),
                    per_day: true,
                },
                403,
                30011,
                "request rate over limit",
            ),
            (
                Error::Internal("disk on fire".into()),
                500,
                500,
                "internal error",
            ),
        ];
        for (e, status, code, msg) in cases {
            let g = GetuiError::from(e.clone());
            assert_eq!(
                (g.status.as_u16(), g.code, g.msg.as_str()),
                (status, code, msg),
                "{e:?}"
            );
        }
    }
}
