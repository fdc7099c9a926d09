//! The UMS envelope and the one table from domain errors and edge refusals to UMS codes.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use roster_core::Error;
use roster_edge::{Dialect, DialectError, Refusal};
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

/// The HTTP status and UMS code of a domain error. Exhaustive, so a new domain error
/// does not compile until UMS has decided its code.
pub(crate) fn ums_code(e: &Error) -> (StatusCode, i64) {
    match e {
        Error::Invalid(_)
        | Error::Empty(_)
        | Error::TypeError(_)
        | Error::SizeOverLimit(_)
        | Error::Duplicate(_)
        | Error::UnknownTarget
        | Error::NotFound(_)
        | Error::AlreadyExists(_) => (StatusCode::BAD_REQUEST, 4004),
        // UMS documents no rate-limit code: the parameter code, with HTTP's own status.
        Error::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, 4004),
        Error::Unauthenticated(_) | Error::PermissionRequired(_) => {
            (StatusCode::UNAUTHORIZED, 4005)
        }
        Error::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, 5000),
        Error::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, 5000),
    }
}

impl DialectError for UmsError {
    const DIALECT: Dialect = Dialect::Ums;

    fn table(e: &Error) -> Self {
        let (status, code) = ums_code(e);
        let message = match e {
            Error::Internal(_) => "server error".to_owned(),
            other => other.to_string(),
        };
        UmsError {
            status,
            code,
            message,
        }
    }
}

roster_edge::answer_domain_errors!(UmsError: Error, roster_store::StoreError);

impl From<Refusal> for UmsError {
    /// 4004 for what the client sent, 5000 for what the server could not do.
    fn from(r: Refusal) -> Self {
        let code = match r {
            Refusal::NotFound
            | Refusal::MethodNotAllowed
            | Refusal::BadPath
            | Refusal::BadRequest
            | Refusal::BodyTooLarge
            | Refusal::UriTooLong
            | Refusal::HeadersTooLarge
            | Refusal::UnsupportedEncoding => 4004,
            Refusal::Unavailable | Refusal::Internal => 5000,
        };
        UmsError {
            status: r.status(),
            code,
            message: r.message().into(),
        }
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

/// A refusal of the edge in the UMS envelope.
pub fn refusal(r: Refusal) -> Response {
    roster_edge::refusal::<UmsError>(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use roster_core::quota::LimitedAction;

    #[test]
    fn ums_table() {
        let cases: Vec<(Error, u16, i64)> = vec![
            (Error::invalid("userid"), 400, 4004),
            (Error::empty("userid"), 400, 4004),
            (Error::UnknownTarget, 400, 4004),
            (Error::Unauthenticated("x".into()), 401, 4005),
            (Error::PermissionRequired("x".into()), 401, 4005),
            (
                Error::RateLimited {
                    action: LimitedAction::GetuiCall,
                    per_day: false,
                },
                429,
                4004,
            ),
            (Error::Internal("disk".into()), 500, 5000),
            (Error::Unavailable(9), 503, 5000),
        ];
        for (e, status, code) in cases {
            let u = UmsError::from(e.clone());
            assert_eq!((u.status.as_u16(), u.code), (status, code), "{e:?}");
        }
        assert_eq!(
            UmsError::from(Error::Internal("disk".into())).message,
            "server error"
        );
        let r = UmsError::from(Refusal::BodyTooLarge);
        assert_eq!((r.status.as_u16(), r.code), (413, 4004));
        let r = UmsError::from(Refusal::Internal);
        assert_eq!((r.status.as_u16(), r.code), (500, 5000));
    }
}
