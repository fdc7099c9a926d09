//! The Growth envelope and the one table from domain errors and edge refusals to Growth
//! codes (`shared/spec/jiguang-growth-get-cuid.txt`: 4009, 40004, 40005, 40006, 40011).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use roster_core::Error;
use roster_edge::{Dialect, DialectError, Refusal};
use serde_json::json;

/// Jiguang's rate-limit code across its REST APIs.
const RATE_LIMITED: i64 = 2002;

/// A whole-request Growth failure: `{"code", "msg"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrowthError {
    /// HTTP status.
    pub status: StatusCode,
    /// A code of the document's table, 2002 (rate) or -1 (server).
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

/// The HTTP status, Growth code and message of a domain error. Exhaustive, so a new
/// domain error does not compile until Growth has decided its code.
fn growth_code(e: &Error) -> (StatusCode, i64, &'static str) {
    match e {
        Error::Empty(_) => (StatusCode::BAD_REQUEST, 40004, "User identifier is empty"),
        // The only named thing a Growth call refers to is its identity name.
        Error::Invalid(_)
        | Error::TypeError(_)
        | Error::Duplicate(_)
        | Error::UnknownTarget
        | Error::NotFound(_)
        | Error::AlreadyExists(_) => (
            StatusCode::BAD_REQUEST,
            40005,
            "User identifier does not exist",
        ),
        Error::SizeOverLimit(_) => (
            StatusCode::BAD_REQUEST,
            40011,
            "Number of user identifiers exceeds the limit",
        ),
        Error::Unauthenticated(_) | Error::PermissionRequired(_) => {
            (StatusCode::UNAUTHORIZED, 4009, "API authentication failed")
        }
        Error::RateLimited { .. } => (
            StatusCode::TOO_MANY_REQUESTS,
            RATE_LIMITED,
            "Request rate over limit",
        ),
        Error::Unavailable(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            -1,
            "Service unavailable, retry later",
        ),
        Error::Internal(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            -1,
            "Internal server error",
        ),
    }
}

impl DialectError for GrowthError {
    const DIALECT: Dialect = Dialect::Growth;

    fn table(e: &Error) -> Self {
        let (status, code, msg) = growth_code(e);
        Self::new(status, code, msg)
    }
}

roster_edge::answer_domain_errors!(GrowthError: Error, roster_store::StoreError);

impl From<Refusal> for GrowthError {
    /// The HTTP status as the code where the table has nothing closer. A body over the
    /// edge's limit can only hold more than 100 identifiers or identifiers over 256
    /// characters, so it is 40011.
    fn from(r: Refusal) -> Self {
        let code = match r {
            Refusal::BodyTooLarge => 40011,
            Refusal::Internal | Refusal::Unavailable => -1,
            Refusal::NotFound
            | Refusal::MethodNotAllowed
            | Refusal::BadPath
            | Refusal::BadRequest
            | Refusal::UriTooLong
            | Refusal::HeadersTooLarge
            | Refusal::UnsupportedEncoding => i64::from(r.status().as_u16()),
        };
        Self::new(r.status(), code, r.message())
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

/// A refusal of the edge in the Growth envelope.
pub fn refusal(r: Refusal) -> Response {
    roster_edge::refusal::<GrowthError>(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use roster_core::quota::LimitedAction;

    #[test]
    fn growth_table() {
        let cases: Vec<(Error, u16, i64)> = vec![
            (Error::empty("identityValues"), 400, 40004),
            (Error::invalid("identityName"), 400, 40005),
            (Error::over_limit("identityValues"), 400, 40011),
            (Error::Unauthenticated("x".into()), 401, 4009),
            (
                Error::RateLimited {
                    action: LimitedAction::GrowthRegister,
                    per_day: false,
                },
                429,
                2002,
            ),
            (Error::Internal("disk".into()), 500, -1),
            (Error::Unavailable(9), 503, -1),
        ];
        for (e, status, code) in cases {
            let g = GrowthError::from(e.clone());
            assert_eq!((g.status.as_u16(), g.code), (status, code), "{e:?}");
        }
        let g = GrowthError::from(Refusal::BodyTooLarge);
        assert_eq!((g.status.as_u16(), g.code), (413, 40011));
        let g = GrowthError::from(Refusal::MethodNotAllowed);
        assert_eq!((g.status.as_u16(), g.code), (405, 405));
    }
}
