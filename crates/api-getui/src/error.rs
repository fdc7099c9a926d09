//! Getui's error envelope and the one mapping from neutral codes to Getui codes.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use roster_core::quota::LimitedAction;
use roster_core::Error;
use roster_edge::{Dialect, DialectError, Refusal};

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
}

impl From<Refusal> for GetuiError {
    /// Getui's answer to each edge refusal: 20001 for what a client sent wrong, the
    /// HTTP status as the code for what is no parameter's fault.
    fn from(r: Refusal) -> Self {
        let (code, msg) = match r {
            Refusal::NotFound => (404, "url error"),
            Refusal::MethodNotAllowed => (405, "method not supported"),
            Refusal::BadPath => (20001, "path is invalid"),
            Refusal::BadRequest => (20001, "request is invalid"),
            Refusal::BodyTooLarge => (20001, "body size over limit"),
            Refusal::UriTooLong => (20001, "url size over limit"),
            Refusal::HeadersTooLarge => (20001, "header size over limit"),
            Refusal::UnsupportedEncoding => (20001, "content-encoding is invalid"),
            Refusal::Unavailable => (503, "server busy, retry later"),
            Refusal::Internal => (500, "internal error"),
        };
        GetuiError {
            status: r.status(),
            code,
            msg: msg.into(),
        }
    }
}

/// A refusal of the edge as Getui's envelope.
pub fn refusal(r: Refusal) -> Response {
    roster_edge::refusal::<GetuiError>(r)
}

pub(crate) async fn method_not_allowed() -> GetuiError {
    Refusal::MethodNotAllowed.into()
}

/// The business code and HTTP status of a domain error: the one table. Exhaustive, so
/// a new domain error does not compile until Getui has decided its code.
fn getui_code(e: &Error) -> (StatusCode, i64) {
    match e {
        Error::Invalid(_)
        | Error::Empty(_)
        | Error::TypeError(_)
        | Error::SizeOverLimit(_)
        | Error::Duplicate(_)
        | Error::UnknownTarget
        | Error::NotFound(_)
        | Error::AlreadyExists(_)
        | Error::PermissionRequired(_) => (StatusCode::BAD_REQUEST, 20001),
        Error::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, 10001),
        Error::RateLimited { action, per_day } => match action {
            LimitedAction::GetuiAuth => (StatusCode::UNAUTHORIZED, 10003),
            LimitedAction::TagOverwrite(_) | LimitedAction::TagBatch => {
                (StatusCode::FORBIDDEN, if *per_day { 30011 } else { 30012 })
            }
            LimitedAction::GetuiCall
            | LimitedAction::BindDt
            | LimitedAction::GrowthRegister
            | LimitedAction::EngagelabProfile
            | LimitedAction::NativeRequest => (StatusCode::UNAUTHORIZED, 10005),
        },
        Error::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, 503),
        Error::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, 500),
    }
}

impl DialectError for GetuiError {
    const DIALECT: Dialect = Dialect::Getui;

    fn table(e: &Error) -> Self {
        let (status, code) = getui_code(e);
        let msg = match e {
            Error::Internal(_) => "internal error".to_owned(),
            Error::RateLimited { .. } => "request rate over limit".to_owned(),
            Error::Unauthenticated(_) => "token is invalid or expired".to_owned(),
            other => other.to_string(),
        };
        GetuiError { status, code, msg }
    }
}

roster_edge::answer_domain_errors!(GetuiError: Error, roster_store::StoreError);

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
                    action: LimitedAction::TagOverwrite(Cid::generate().as_str().to_owned()),
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
            (
                Error::Unavailable(9),
                503,
                503,
                "changes up to seq 9 not yet applied on this node, retry",
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

    #[test]
    fn refusal_table() {
        let cases = [
            (Refusal::NotFound, 404, 404),
            (Refusal::MethodNotAllowed, 405, 405),
            (Refusal::BadPath, 400, 20001),
            (Refusal::BadRequest, 400, 20001),
            (Refusal::BodyTooLarge, 413, 20001),
            (Refusal::UriTooLong, 414, 20001),
            (Refusal::HeadersTooLarge, 431, 20001),
            (Refusal::UnsupportedEncoding, 415, 20001),
            (Refusal::Unavailable, 503, 503),
            (Refusal::Internal, 500, 500),
        ];
        for (r, status, code) in cases {
            let g = GetuiError::from(r);
            assert_eq!((g.status.as_u16(), g.code), (status, code), "{r:?}");
        }
    }
}
