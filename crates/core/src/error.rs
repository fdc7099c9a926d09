//! The neutral error every layer speaks. Dialects map [`ErrorCode`] to their own
//! business code and HTTP status in one exhaustive match.

/// What kind of failure an [`Error`] is, independent of any wire format. Its serde
/// name (`invalid_param`, `not_found`…) is the stable name a dialect may use as is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// A parameter has the wrong form or value.
    InvalidParam,
    /// A required parameter is missing or empty.
    EmptyParam,
    /// A list or value is longer than its documented limit.
    SizeOverLimit,
    /// The same entry appears twice in one request.
    Duplicate,
    /// A target device does not exist in this app.
    UnknownTarget,
    /// A named resource (app, alias…) does not exist.
    NotFound,
    /// The resource already exists.
    AlreadyExists,
    /// Credentials are missing, wrong, expired or revoked.
    Unauthenticated,
    /// The caller is authenticated but the feature is not enabled for it.
    PermissionRequired,
    /// A rate limit or quota is exhausted.
    RateLimited,
    /// The server cannot answer now (at its connection limit, or not yet caught up
    /// with the changes asked for); retry (503).
    Unavailable,
    /// Anything else; details are logged, never returned.
    Internal,
}

/// A domain error. The `Display` text is safe to return to the caller: it names a
/// parameter, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A parameter has the wrong form or value.
    #[error("{0} is invalid")]
    Invalid(String),
    /// A required parameter is missing or empty.
    #[error("{0} can not be empty")]
    Empty(String),
    /// A parameter has the wrong JSON type.
    #[error("{0} type error")]
    TypeError(String),
    /// A list or value exceeds its limit.
    #[error("{0} size over limit")]
    SizeOverLimit(String),
    /// The same entry appears twice.
    #[error("contains duplicate {0}")]
    Duplicate(String),
    /// A target device does not exist in this app (or belongs to another).
    #[error("target user is invalid")]
    UnknownTarget,
    /// A named resource does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The resource already exists.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// Missing, unknown, expired or revoked credentials.
    #[error("{0}")]
    Unauthenticated(String),
    /// The feature has not been enabled for this app.
    #[error("permission required by {0}")]
    PermissionRequired(String),
    /// A rate limit (`per_day: false`) or daily quota (`per_day: true`) is exhausted.
    #[error("{action:?} over {}", if *per_day { "daily quota" } else { "rate limit" })]
    RateLimited {
        /// The limited action.
        action: crate::quota::LimitedAction,
        /// Whether the daily quota (rather than a shorter rate window) ran out.
        per_day: bool,
    },
    /// The node cannot answer yet: it has not applied the app's changes up to the seq
    /// the request asked for (`X-Roster-Min-Seq`) within the wait allowed.
    #[error("changes up to seq {0} not yet applied on this node, retry")]
    Unavailable(u64),
    /// An internal failure; the text is for logs only.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The neutral code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Invalid(_) | Error::TypeError(_) => ErrorCode::InvalidParam,
            Error::Empty(_) => ErrorCode::EmptyParam,
            Error::SizeOverLimit(_) => ErrorCode::SizeOverLimit,
            Error::Duplicate(_) => ErrorCode::Duplicate,
            Error::UnknownTarget => ErrorCode::UnknownTarget,
            Error::NotFound(_) => ErrorCode::NotFound,
            Error::AlreadyExists(_) => ErrorCode::AlreadyExists,
            Error::Unauthenticated(_) => ErrorCode::Unauthenticated,
            Error::PermissionRequired(_) => ErrorCode::PermissionRequired,
            Error::RateLimited { .. } => ErrorCode::RateLimited,
            Error::Unavailable(_) => ErrorCode::Unavailable,
            Error::Internal(_) => ErrorCode::Internal,
        }
    }

    /// Shorthand for [`Error::Invalid`].
    pub fn invalid(param: impl Into<String>) -> Self {
        Error::Invalid(param.into())
    }

    /// Shorthand for [`Error::Empty`].
    pub fn empty(param: impl Into<String>) -> Self {
        Error::Empty(param.into())
    }

    /// Shorthand for [`Error::SizeOverLimit`].
    pub fn over_limit(param: impl Into<String>) -> Self {
        Error::SizeOverLimit(param.into())
    }

    /// Shorthand for [`Error::Duplicate`].
    pub fn duplicate(param: impl Into<String>) -> Self {
        Error::Duplicate(param.into())
    }
}

/// Result with the domain [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
