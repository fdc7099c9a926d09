//! The HTTP edge vocabulary the dialect crates and the server share: which dialect
//! owns a path ([`Dialect`]), what the edge refuses before or instead of a handler
//! ([`Refusal`], answered by each dialect in its own envelope), how a dialect's error
//! type plugs its tables into the one conversion they share ([`DialectError`]), and
//! reading a body so that a body too large or badly encoded is a refusal, never a
//! domain error.

#![forbid(unsafe_code)]

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, FailedToBufferBody};
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use roster_core::{AppId, Error};

/// The largest request body the edge reads by default, in bytes (after decompression).
pub const DEFAULT_MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// The API a request speaks, decided by the route that matched or, when none did, by
/// the dialect's path prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// Getui Push REST API v2 (`/v2/…`).
    Getui,
    /// Jiguang UMS (`/v1/user/…` but for the profile).
    Ums,
    /// Jiguang Operation Growth (`/smartop/…`).
    Growth,
    /// EngageLab MA (`/v1/user/profile…`).
    Engagelab,
    /// roster's own API, and anything no dialect owns.
    Native,
}

/// Path prefixes, most specific first: the first that owns a path decides.
const PREFIXES: &[(&str, Dialect)] = &[
    ("v2", Dialect::Getui),
    ("smartop", Dialect::Growth),
    ("v1/user/profile", Dialect::Engagelab),
    ("v1/user", Dialect::Ums),
];

impl Dialect {
    /// The dialect whose path prefix owns `path` (a prefix owns itself and everything
    /// below it, `/v2` and `/v2/…` but not `/v2x`); native otherwise. Leading slashes
    /// count as one, as they do for the router.
    pub fn of_path(path: &str) -> Dialect {
        let path = path.trim_start_matches('/');
        PREFIXES
            .iter()
            .find(|(prefix, _)| {
                path.strip_prefix(prefix)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            })
            .map_or(Dialect::Native, |(_, d)| *d)
    }

    /// Lowercase name, as in logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Getui => "getui",
            Dialect::Ums => "ums",
            Dialect::Growth => "growth",
            Dialect::Engagelab => "engagelab",
            Dialect::Native => "native",
        }
    }
}

/// A request the edge refuses before a handler decides anything, or a failure no
/// handler answered. Each dialect answers every refusal in its own envelope, in one
/// exhaustive match, with [`Refusal::status`] as the HTTP status unless its document
/// says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// No route has this path.
    NotFound,
    /// The route exists, not with this method.
    MethodNotAllowed,
    /// A path segment is not valid percent-encoded UTF-8, or not of its route's form.
    BadPath,
    /// The request is not well-formed HTTP, or its body could not be read (a broken
    /// gzip stream, say).
    BadRequest,
    /// The body is larger than the edge accepts.
    BodyTooLarge,
    /// The request target is longer than the HTTP parser accepts.
    UriTooLong,
    /// The header section is larger than the HTTP parser accepts.
    HeadersTooLarge,
    /// A `Content-Encoding` roster cannot decode.
    UnsupportedEncoding,
    /// The server is at its connection limit or shutting down.
    Unavailable,
    /// A handler failed in a way nobody planned for (a panic); details are logged.
    Internal,
}

impl Refusal {
    /// The HTTP status of this refusal.
    pub fn status(self) -> StatusCode {
        match self {
            Refusal::NotFound => StatusCode::NOT_FOUND,
            Refusal::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Refusal::BadPath | Refusal::BadRequest => StatusCode::BAD_REQUEST,
            Refusal::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Refusal::UriTooLong => StatusCode::URI_TOO_LONG,
            Refusal::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Refusal::UnsupportedEncoding => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Refusal::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Refusal::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The refusal an error status from below the handlers (axum's extractors and
    /// layers, the HTTP parser) stands for.
    pub fn from_status(status: StatusCode) -> Refusal {
        match status {
            StatusCode::NOT_FOUND => Refusal::NotFound,
            StatusCode::METHOD_NOT_ALLOWED => Refusal::MethodNotAllowed,
            StatusCode::PAYLOAD_TOO_LARGE => Refusal::BodyTooLarge,
            StatusCode::URI_TOO_LONG => Refusal::UriTooLong,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => Refusal::HeadersTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Refusal::UnsupportedEncoding,
            StatusCode::SERVICE_UNAVAILABLE => Refusal::Unavailable,
            s if s.is_server_error() => Refusal::Internal,
            _ => Refusal::BadRequest,
        }
    }

    /// A short English message, for dialects whose document gives none.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::NotFound => "no such route",
            Refusal::MethodNotAllowed => "method not allowed on this route",
            Refusal::BadPath => "path is invalid",
            Refusal::BadRequest => "request is malformed",
            Refusal::BodyTooLarge => "request body is too large",
            Refusal::UriTooLong => "request target is too long",
            Refusal::HeadersTooLarge => "request headers are too large",
            Refusal::UnsupportedEncoding => "content encoding is not supported",
            Refusal::Unavailable => "server is busy, retry later",
            Refusal::Internal => "internal error",
        }
    }
}

/// A dialect's error type: its answer to each edge refusal (`From<Refusal>`, one
/// exhaustive match), its answer to each domain error ([`DialectError::table`], one
/// exhaustive match), and its envelope (`IntoResponse`). [`domain_error`] and
/// [`refusal`] are the conversions every dialect shares.
pub trait DialectError: From<Refusal> + IntoResponse {
    /// The dialect, named in the log line of an internal error.
    const DIALECT: Dialect;

    /// The dialect's answer to a domain error: its one table. An internal error's detail
    /// has been logged already (see [`domain_error`]) and is never part of the answer.
    fn table(e: &Error) -> Self;
}

/// A domain error in the envelope of `E`. The detail of an internal error is logged
/// here, once, naming the dialect; the caller gets the dialect's generic answer.
pub fn domain_error<E: DialectError>(e: Error) -> E {
    if let Error::Internal(detail) = &e {
        tracing::error!(error = %detail, dialect = E::DIALECT.as_str(), "internal error");
    }
    E::table(&e)
}

/// `From<S>` for a [`DialectError`], for each source `S` that converts into the domain
/// `Error` (the domain error itself, the store's), through [`domain_error`]: `?` then
/// answers any of them in the dialect's envelope.
#[macro_export]
macro_rules! answer_domain_errors {
    ($dialect:ty: $($source:ty),+ $(,)?) => {$(
        impl From<$source> for $dialect {
            fn from(e: $source) -> Self {
                $crate::domain_error(e.into())
            }
        }
    )+};
}

/// A refusal of the edge in the envelope of `E`.
pub fn refusal<E: DialectError>(r: Refusal) -> Response {
    E::from(r).into_response()
}

/// Reads a whole request body. A body over the edge's limit is
/// [`Refusal::BodyTooLarge`]; one that cannot be read (a broken gzip stream, a client
/// that went away) is [`Refusal::BadRequest`].
pub async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, Refusal> {
    Bytes::from_request(req, state).await.map_err(|e| match e {
        BytesRejection::FailedToBufferBody(FailedToBufferBody::LengthLimitError(_)) => {
            Refusal::BodyTooLarge
        }
        _ => Refusal::BadRequest,
    })
}

/// The `n`th segment (0-based, after the leading `/`) of `path`, percent-decoded;
/// `None` when it is missing or not valid UTF-8 once decoded. Auth extractors use it to
/// find the app of a path without decoding (and failing on) the other segments.
pub fn path_segment(path: &str, n: usize) -> Option<String> {
    let raw = path.strip_prefix('/')?.split('/').nth(n)?;
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// The app id in segment `n` of `path`, when it is one.
pub fn path_app(path: &str, n: usize) -> Option<AppId> {
    AppId::parse(path_segment(path, n)?.as_str()).ok()
}

/// Records the app a request acts for on the current request span, once auth knows it.
pub fn record_app(app: &AppId) {
    tracing::Span::current().record("app_id", tracing::field::display(app));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dialect_by_prefix() {
        let cases = [
            ("/v2/abc/user/count", Dialect::Getui),
            ("/v2", Dialect::Getui),
            ("/v2x/abc", Dialect::Native),
            ("/v1/user/opt", Dialect::Ums),
            ("/v1/user/nope/deeper", Dialect::Ums),
            ("/v1/user", Dialect::Ums),
            ("/v1/user/profile", Dialect::Engagelab),
            ("/v1/user/profile/x", Dialect::Engagelab),
            ("/v1/user/profiles", Dialect::Ums),
            ("/smartop/api/v1/user/register", Dialect::Growth),
            ("/smartop/unknown", Dialect::Growth),
            ("/api/v1/apps/x/devices", Dialect::Native),
            ("/healthz", Dialect::Native),
            ("/", Dialect::Native),
            ("//v2/abc", Dialect::Getui),
            ("///v1/user/opt/", Dialect::Ums),
        ];
        for (path, want) in cases {
            assert_eq!(Dialect::of_path(path), want, "{path}");
        }
    }

    #[test]
    fn statuses_round_trip() {
        let all = [
            Refusal::NotFound,
            Refusal::MethodNotAllowed,
            Refusal::BodyTooLarge,
            Refusal::UriTooLong,
            Refusal::HeadersTooLarge,
            Refusal::UnsupportedEncoding,
            Refusal::Unavailable,
            Refusal::Internal,
            Refusal::BadRequest,
        ];
        for r in all {
            assert_eq!(Refusal::from_status(r.status()), r);
        }
        assert_eq!(
            Refusal::from_status(StatusCode::IM_A_TEAPOT),
            Refusal::BadRequest
        );
        assert_eq!(
            Refusal::from_status(StatusCode::BAD_GATEWAY),
            Refusal::Internal
        );
    }

    #[test]
    fn segments() {
        assert_eq!(path_segment("/v2/app1/user/x", 1).as_deref(), Some("app1"));
        assert_eq!(path_segment("/v2/a%20b/x", 1).as_deref(), Some("a b"));
        assert_eq!(path_segment("/v2/%FF/x", 1), None);
        assert_eq!(path_segment("/v2/a/x", 5), None);
    }
}

/// A response extension: the body is a live stream whose chunks must leave as they are
/// written (a followed change feed), so no layer may buffer it (no compression).
#[derive(Debug, Clone, Copy)]
pub struct Unbuffered;
