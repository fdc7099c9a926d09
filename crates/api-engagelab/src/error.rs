//! EngageLab's error envelope `{"code", "message"}` and the one table from domain
//! errors and edge refusals to the document's codes (55004, 55110, 40050, 55000).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use roster_core::Error;
use roster_edge::{Dialect, DialectError, Refusal};
use serde_json::json;

/// An EngageLab error: `{"code", "message"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngagelabError {
    /// HTTP status.
    pub status: StatusCode,
    /// EngageLab code.
    pub code: i64,
    /// Message.
    pub message: &'static str,
}

impl EngagelabError {
    const fn new(status: StatusCode, code: i64, message: &'static str) -> Self {
        EngagelabError {
            status,
            code,
            message,
        }
    }

    /// 40050: authentication failed.
    pub const AUTH: Self = Self::new(StatusCode::UNAUTHORIZED, 40050, "Authentication failed");
    /// 55004: not 1–100 EUIDs.
    pub const COUNT: Self = Self::new(
        StatusCode::BAD_REQUEST,
        55004,
        "EUID count must be between 1 and 100",
    );
    /// 55004: the body is not of the documented form.
    pub const PAYLOAD: Self = Self::new(
        StatusCode::BAD_REQUEST,
        55004,
        "Invalid request payload format",
    );
    /// 55110: over the rate limit.
    pub const RATE: Self = Self::new(
        StatusCode::TOO_MANY_REQUESTS,
        55110,
        "Too many requests, please try again later.",
    );
    /// 55000: anything the server could not do.
    pub const SYSTEM: Self = Self::new(StatusCode::INTERNAL_SERVER_ERROR, 55000, "System error");
    /// 55000 with HTTP 503: the node cannot answer yet (`X-Roster-Min-Seq` not reached).
    pub const UNAVAILABLE: Self = Self::new(
        StatusCode::SERVICE_UNAVAILABLE,
        55000,
        "System busy, please try again later.",
    );
}

impl DialectError for EngagelabError {
    const DIALECT: Dialect = Dialect::Engagelab;

    /// Exhaustive, so a new domain error does not compile until EngageLab has decided
    /// its code.
    fn table(e: &Error) -> Self {
        match e {
            Error::Invalid(_)
            | Error::Empty(_)
            | Error::TypeError(_)
            | Error::SizeOverLimit(_)
            | Error::Duplicate(_)
            | Error::UnknownTarget
            | Error::NotFound(_)
            | Error::AlreadyExists(_) => Self::PAYLOAD,
            Error::Unauthenticated(_) | Error::PermissionRequired(_) => Self::AUTH,
            Error::RateLimited { .. } => Self::RATE,
            Error::Unavailable(_) => Self::UNAVAILABLE,
            Error::Internal(_) => Self::SYSTEM,
        }
    }
}

roster_edge::answer_domain_errors!(EngagelabError: Error, roster_store::StoreError);

impl From<Refusal> for EngagelabError {
    /// 55004 (the document's parameter code) for what the client sent, 55000 for what
    /// the server could not do, each with the refusal's HTTP status.
    fn from(r: Refusal) -> Self {
        let (code, message) = match r {
            Refusal::NotFound => (404, "Not found"),
            Refusal::MethodNotAllowed => (405, "Method not allowed"),
            Refusal::BadPath
            | Refusal::BadRequest
            | Refusal::BodyTooLarge
            | Refusal::UriTooLong
            | Refusal::HeadersTooLarge
            | Refusal::UnsupportedEncoding => (55004, Self::PAYLOAD.message),
            Refusal::Unavailable | Refusal::Internal => (55000, Self::SYSTEM.message),
        };
        Self::new(r.status(), code, message)
    }
}

impl IntoResponse for EngagelabError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({ "code": self.code, "message": self.message })),
        )
            .into_response()
    }
}

/// A refusal of the edge in EngageLab's envelope.
pub fn refusal(r: Refusal) -> Response {
    roster_edge::refusal::<EngagelabError>(r)
}

pub(crate) async fn method_not_allowed() -> EngagelabError {
    Refusal::MethodNotAllowed.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use roster_core::quota::LimitedAction;

    #[test]
    fn engagelab_table() {
        let cases: Vec<(Error, u16, i64)> = vec![
            (Error::invalid("euid"), 400, 55004),
            (Error::Unauthenticated("x".into()), 401, 40050),
            (
                Error::RateLimited {
                    action: LimitedAction::EngagelabProfile,
                    per_day: false,
                },
                429,
                55110,
            ),
            (Error::Internal("disk".into()), 500, 55000),
            (Error::Unavailable(9), 503, 55000),
        ];
        for (e, status, code) in cases {
            let g = EngagelabError::from(e.clone());
            assert_eq!((g.status.as_u16(), g.code), (status, code), "{e:?}");
        }
        let r = EngagelabError::from(Refusal::BodyTooLarge);
        assert_eq!((r.status.as_u16(), r.code), (413, 55004));
        let r = EngagelabError::from(Refusal::MethodNotAllowed);
        assert_eq!((r.status.as_u16(), r.code), (405, 405));
    }
}
