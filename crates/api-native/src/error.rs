//! The native error envelope: `{"error": {"code": "...", "message": "..."}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use roster_core::{Error, ErrorCode};
use roster_edge::{Dialect, DialectError, Refusal};
use serde::Serialize;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
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
    /// With `changes_pruned`: the oldest seq the change log still holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oldest_seq: Option<u64>,
}

/// The stable codes of native errors: a domain error's neutral code under its own name
/// (`invalid_param`, `not_found`…), or the code of an edge refusal no domain error
/// stands for. Its schema (`ErrorCode`) lists both sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(untagged)]
pub enum Code {
    /// A domain error's neutral code.
    Domain(ErrorCode),
    /// An edge refusal's own code.
    Edge(EdgeCode),
}

/// The codes of the edge's refusals that no domain error stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EdgeCode {
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
    /// The change log no longer holds every change after the seq asked for (410).
    ChangesPruned,
}

impl utoipa::ToSchema for Code {
    fn name() -> std::borrow::Cow<'static, str> {
        "ErrorCode".into()
    }
}

impl utoipa::PartialSchema for Code {
    /// One string enum: the domain codes, then the edge's.
    fn schema() -> RefOr<Schema> {
        fn names<T: utoipa::PartialSchema>() -> Vec<serde_json::Value> {
            match T::schema() {
                RefOr::T(Schema::Object(o)) => o.enum_values.unwrap_or_default(),
                _ => Vec::new(),
            }
        }
        let mut all = names::<ErrorCode>();
        all.extend(names::<EdgeCode>());
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(all))
            .description(Some("The stable codes of native errors."))
            .into()
    }
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
        for (path, item) in openapi.paths.paths.iter_mut() {
            let per_app = path.starts_with("/api/v1/apps/");
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
                // A streamed (non-JSON) body has no size limit: no 413 for it.
                let streamed = op
                    .request_body
                    .as_ref()
                    .is_some_and(|b| !b.content.contains_key("application/json"));
                let by_body: &[(Refusal, &str)] = if streamed {
                    &[(Refusal::UnsupportedEncoding, crate::UNSUPPORTED_STREAM)]
                } else if op.request_body.is_some() {
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
                if per_app {
                    op.responses
                        .responses
                        .insert("429".to_owned(), reply(crate::RATE_LIMITED).into());
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
    oldest_seq: Option<u64>,
}

impl NativeError {
    fn new(status: StatusCode, code: Code, message: impl Into<String>) -> Self {
        NativeError {
            status,
            code,
            message: message.into(),
            oldest_seq: None,
        }
    }

    /// 410 `changes_pruned`: retention removed changes after `after`; `oldest` is the
    /// oldest seq still held.
    pub(crate) fn changes_pruned(after: u64, oldest: u64) -> Self {
        NativeError {
            oldest_seq: Some(oldest),
            ..Self::new(
                StatusCode::GONE,
                Code::Edge(EdgeCode::ChangesPruned),
                format!(
                    "changes after seq {after} are no longer all held; the oldest seq held is \
                     {oldest}"
                ),
            )
        }
    }

    pub(crate) fn unauthenticated() -> Self {
        Error::Unauthenticated("credentials are missing or wrong".into()).into()
    }

    /// 400 `invalid_param` with its own explanation.
    pub(crate) fn invalid_param(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            Code::Domain(ErrorCode::InvalidParam),
            message,
        )
    }

    /// 400 `invalid_param` for a body that is not the documented JSON; `detail` is
    /// serde's explanation, which names the field (an unknown one included).
    pub(crate) fn invalid_body(detail: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            Code::Domain(ErrorCode::InvalidParam),
            format!("invalid body: {detail}"),
        )
    }

    /// 400 `invalid_param` for a query parameter that is not what it should be;
    /// `detail` says why (for JSON, serde's explanation).
    pub(crate) fn invalid_query(param: &str, detail: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            Code::Domain(ErrorCode::InvalidParam),
            format!("invalid {param}: {detail}"),
        )
    }

    pub(crate) fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Code::Edge(EdgeCode::UnsupportedMediaType),
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
            Refusal::NotFound => Code::Domain(ErrorCode::NotFound),
            Refusal::MethodNotAllowed => Code::Edge(EdgeCode::MethodNotAllowed),
            Refusal::BadPath | Refusal::BadRequest => Code::Domain(ErrorCode::InvalidParam),
            Refusal::BodyTooLarge => Code::Edge(EdgeCode::PayloadTooLarge),
            Refusal::UriTooLong => Code::Edge(EdgeCode::UriTooLong),
            Refusal::HeadersTooLarge => Code::Edge(EdgeCode::HeadersTooLarge),
            Refusal::UnsupportedEncoding => Code::Edge(EdgeCode::UnsupportedMediaType),
            Refusal::Unavailable => Code::Domain(ErrorCode::Unavailable),
            Refusal::Internal => Code::Domain(ErrorCode::Internal),
        };
        NativeError::new(r.status(), code, r.message())
    }
}

/// A refusal of the edge in the native envelope.
pub fn refusal(r: Refusal) -> Response {
    roster_edge::refusal::<NativeError>(r)
}

/// The native envelope of a refusal as bytes, for replies written below axum (the
/// HTTP parser's own refusals).
pub fn refusal_json(r: Refusal) -> Vec<u8> {
    serde_json::to_vec(&NativeError::from(r).body()).unwrap_or_default()
}

/// The one table from neutral codes to HTTP status; the native code is the neutral
/// code itself.
fn native_status(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidParam
        | ErrorCode::EmptyParam
        | ErrorCode::SizeOverLimit
        | ErrorCode::Duplicate => StatusCode::BAD_REQUEST,
        ErrorCode::UnknownTarget | ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::AlreadyExists => StatusCode::CONFLICT,
        ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorCode::PermissionRequired => StatusCode::FORBIDDEN,
        ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
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
        Error::Unavailable(seq) => {
            format!("this node has not yet applied the app's changes up to seq {seq}; retry")
        }
        Error::Internal(_) => "internal error".to_owned(),
    }
}

impl DialectError for NativeError {
    const DIALECT: Dialect = Dialect::Native;

    fn table(e: &Error) -> Self {
        let code = e.code();
        NativeError::new(native_status(code), Code::Domain(code), native_message(e))
    }
}

roster_edge::answer_domain_errors!(NativeError: Error, roster_store::StoreError);

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
                oldest_seq: self.oldest_seq,
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
    fn every_code_has_a_distinct_name() {
        use utoipa::PartialSchema;
        let names = match Code::schema() {
            RefOr::T(Schema::Object(o)) => o.enum_values.unwrap_or_default(),
            _ => Vec::new(),
        };
        let distinct: std::collections::HashSet<_> = names.iter().map(|n| n.to_string()).collect();
        assert_eq!((names.len(), distinct.len()), (18, 18));
        for code in [
            Code::Domain(ErrorCode::InvalidParam),
            Code::Domain(ErrorCode::Internal),
            Code::Edge(EdgeCode::MethodNotAllowed),
            Code::Domain(ErrorCode::Unavailable),
            Code::Edge(EdgeCode::ChangesPruned),
        ] {
            let name = serde_json::to_value(code).unwrap_or_default();
            assert!(names.contains(&name), "{name}");
        }
        assert_eq!(
            serde_json::to_value(Code::Domain(ErrorCode::PermissionRequired)).ok(),
            Some(serde_json::json!("permission_required"))
        );
        assert_eq!(
            native_status(ErrorCode::Unauthenticated),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            native_status(ErrorCode::InvalidParam),
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
                Code::Domain(ErrorCode::UnknownTarget),
                "no such device in this app"
            )
        );
        assert_eq!(
            NativeError::from(Refusal::NotFound).message,
            "no such route"
        );
    }
}
