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
#[schema(example = json!({"error": {"code": "invalid_param", "message": "[0].region is invalid"}}))]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// A stable machine code and a human message.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code.
    pub code: Code,
    /// Human-readable message naming the parameter.
    pub message: String,
}

/// The stable codes of native errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = ErrorCode)]
pub enum Code {
    /// A parameter has the wrong form or value, or the body is not the documented JSON
    /// (400).
    InvalidParam,
    /// A required parameter is missing or empty (400).
    EmptyParam,
    /// A list or value is longer than its documented limit (400).
    SizeOverLimit,
    /// The same entry appears twice in one request (400).
    Duplicate,
    /// The device is not in this app (404).
    UnknownTarget,
    /// The route, app, user or other named resource does not exist (404).
    NotFound,
    /// The resource already exists (409).
    AlreadyExists,
    /// Credentials are missing or wrong (401).
    Unauthenticated,
    /// The feature is not enabled for the caller (403).
    PermissionRequired,
    /// A rate limit or quota is exhausted (429).
    RateLimited,
    /// Anything else; details are logged, never returned (500).
    Internal,
    /// The route exists but not with this method (405).
    MethodNotAllowed,
    /// The body is larger than the server accepts (413).
    PayloadTooLarge,
    /// The body is not `application/json`, or its `Content-Encoding` is not supported
    /// (415).
    UnsupportedMediaType,
    /// The request target is longer than the server accepts (414).
    UriTooLong,
    /// The request's headers are larger than the server accepts (431).
    HeadersTooLarge,
    /// The server is at its connection limit; retry later (503).
    Unavailable,
}

/// The replies the HTTP edge gives to a request for any operation, before or instead of
/// its handler, added to every operation of the document under one description each.
pub(crate) struct EdgeResponses;

/// (status, description) of the replies [`EdgeResponses`] adds to every operation, with
/// 413/415 (by whether the operation takes a body) and 500.
const EDGE_RESPONSES: [(Refusal, &str); 3] = [
    (
        Refusal::UriTooLong,
        "The request target is longer than the HTTP parser accepts (`uri_too_long`); \
         the connection is closed",
    ),
    (
        Refusal::HeadersTooLarge,
        "The header section is larger than the HTTP parser accepts (`headers_too_large`); \
         the connection is closed",
    ),
    (
        Refusal::Unavailable,
        "The server is at its connection limit (`unavailable`); the connection is closed, \
         retry after the `Retry-After` seconds",
    ),
];

impl utoipa::Modify for EdgeResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let reply = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
        };
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.options,
                &mut item.head,
                &mut item.patch,
                &mut item.trace,
            ];
            for op in operations.into_iter().flatten() {
                // What the edge and the body reader answer, by whether there is a body.
                let by_body: &[(Refusal, &str)] = if op.request_body.is_some() {
                    &[
                        (Refusal::BodyTooLarge, crate::TOO_LARGE),
                        (Refusal::UnsupportedEncoding, crate::UNSUPPORTED),
                    ]
                } else {
                    &[(Refusal::UnsupportedEncoding, crate::ENCODING)]
                };
                let every = [(Refusal::Internal, crate::INTERNAL)];
                for (refusal, description) in EDGE_RESPONSES.iter().chain(by_body).chain(&every) {
                    op.responses.responses.insert(
                        refusal.status().as_str().to_owned(),
                        reply(description).into(),
                    );
                }
            }
        }
    }
}

/// A native API error.
#[derive(Debug)]
pub struct NativeError {
    status: StatusCode,
    code: Code,
    message: String,
}

impl NativeError {
    fn new(status: StatusCode, code: Code, message: impl Into<String>) -> Self {
        NativeError {
            status,
            code,
            message: message.into(),
        }
    }

    pub(crate) fn unauthenticated() -> Self {
        Error::Unauthenticated("credentials are missing or wrong".into()).into()
    }

    /// 400 `invalid_param` for a body that is not the documented JSON; `detail` is
    /// serde's explanation, which names the field (an unknown one included).
    pub(crate) fn invalid_body(detail: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            Code::InvalidParam,
            format!("invalid body: {detail}"),
        )
    }

    pub(crate) fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Code::UnsupportedMediaType,
            message,
        )
    }
}

pub(crate) async fn method_not_allowed() -> NativeError {
    Refusal::MethodNotAllowed.into()
}

impl From<Refusal> for NativeError {
    /// The refusal's HTTP status, a stable code and a plain message.
    fn from(r: Refusal) -> Self {
        let code = match r {
            Refusal::NotFound => Code::NotFound,
            Refusal::MethodNotAllowed => Code::MethodNotAllowed,
            Refusal::BadPath | Refusal::BadRequest => Code::InvalidParam,
            Refusal::BodyTooLarge => Code::PayloadTooLarge,
            Refusal::UriTooLong => Code::UriTooLong,
            Refusal::HeadersTooLarge => Code::HeadersTooLarge,
            Refusal::UnsupportedEncoding => Code::UnsupportedMediaType,
            Refusal::Unavailable => Code::Unavailable,
            Refusal::Internal => Code::Internal,
        };
        NativeError::new(r.status(), code, r.message())
    }
}

/// A refusal of the edge in the native envelope.
pub fn refusal(r: Refusal) -> Response {
    NativeError::from(r).into_response()
}

/// The native envelope of a refusal as bytes, for replies written below axum (the
/// HTTP parser's own refusals).
pub fn refusal_json(r: Refusal) -> Vec<u8> {
    serde_json::to_vec(&NativeError::from(r).body()).unwrap_or_default()
}

/// The one table from neutral codes to HTTP status and native code.
fn native_code(code: ErrorCode) -> (StatusCode, Code) {
    match code {
        ErrorCode::InvalidParam => (StatusCode::BAD_REQUEST, Code::InvalidParam),
        ErrorCode::EmptyParam => (StatusCode::BAD_REQUEST, Code::EmptyParam),
        ErrorCode::SizeOverLimit => (StatusCode::BAD_REQUEST, Code::SizeOverLimit),
        ErrorCode::Duplicate => (StatusCode::BAD_REQUEST, Code::Duplicate),
        ErrorCode::UnknownTarget => (StatusCode::NOT_FOUND, Code::UnknownTarget),
        ErrorCode::NotFound => (StatusCode::NOT_FOUND, Code::NotFound),
        ErrorCode::AlreadyExists => (StatusCode::CONFLICT, Code::AlreadyExists),
        ErrorCode::Unauthenticated => (StatusCode::UNAUTHORIZED, Code::Unauthenticated),
        ErrorCode::PermissionRequired => (StatusCode::FORBIDDEN, Code::PermissionRequired),
        ErrorCode::RateLimited => (StatusCode::TOO_MANY_REQUESTS, Code::RateLimited),
        ErrorCode::Internal => (StatusCode::INTERNAL_SERVER_ERROR, Code::Internal),
    }
}

/// The native wording of an error. The core's `Display` texts are the Getui dialect's
/// (`target user is invalid`, `… can not be empty`), so the native API words every
/// error itself; each message still names the parameter, never its value.
fn native_message(e: &Error) -> String {
    match e {
        Error::Invalid(p) => format!("{p} is invalid"),
        Error::Empty(p) => format!("{p} is required and must not be empty"),
        Error::TypeError(p) => format!("{p} has the wrong type"),
        Error::SizeOverLimit(p) => format!("{p} is over its size limit"),
        Error::Duplicate(p) => format!("{p} appears more than once"),
        Error::UnknownTarget => "no such device in this app".to_owned(),
        Error::NotFound(p) => format!("no such {p}"),
        Error::AlreadyExists(p) => format!("{p} already exists"),
        Error::Unauthenticated(m) => m.clone(),
        Error::PermissionRequired(p) => format!("{p} is not enabled for this app"),
        Error::RateLimited { per_day, .. } => if *per_day {
            "daily quota exhausted"
        } else {
            "rate limit exceeded"
        }
        .to_owned(),
        Error::Internal(detail) => {
            tracing::error!(error = %detail, dialect = "native", "internal error");
            "internal error".to_owned()
        }
    }
}

impl From<Error> for NativeError {
    fn from(e: Error) -> Self {
        let (status, code) = native_code(e.code());
        NativeError::new(status, code, native_message(&e))
    }
}

impl From<roster_store::StoreError> for NativeError {
    fn from(e: roster_store::StoreError) -> Self {
        Error::from(e).into()
    }
}

impl std::fmt::Display for NativeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {:?}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
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
}

impl IntoResponse for NativeError {
    fn into_response(self) -> Response {
        let status = self.status;
        (status, Json(self.body())).into_response()
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
        assert!(!names.contains(&Code::MethodNotAllowed));
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

    #[test]
    fn native_wording_is_not_getui_wording() {
        use roster_core::quota::LimitedAction;
        let errors = [
            Error::invalid("p"),
            Error::empty("p"),
            Error::TypeError("p".into()),
            Error::over_limit("p"),
            Error::duplicate("p"),
            Error::UnknownTarget,
            Error::NotFound("app".into()),
            Error::AlreadyExists("p".into()),
            Error::Unauthenticated("credentials are missing or wrong".into()),
            Error::PermissionRequired("p".into()),
            Error::RateLimited {
                action: LimitedAction::GetuiCall,
                per_day: false,
            },
            Error::Internal("secret detail".into()),
        ];
        for e in errors {
            let reply = NativeError::from(e.clone());
            for getui in [
                "target user is invalid",
                "url error",
                "can not be empty",
                "type error",
                "size over limit",
                "contains duplicate",
            ] {
                assert!(!reply.message.contains(getui), "{e:?} -> {reply}");
            }
            assert!(!reply.message.contains("secret detail"));
        }
        let unknown = NativeError::from(Error::UnknownTarget);
        assert_eq!(
            (unknown.status, unknown.code, unknown.message.as_str()),
            (
                StatusCode::NOT_FOUND,
                Code::UnknownTarget,
                "no such device in this app"
            )
        );
        assert_eq!(
            NativeError::from(Refusal::NotFound).message,
            "no such route"
        );
    }
}
