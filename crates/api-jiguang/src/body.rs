//! Reading a JSON body whatever its Content-Type.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde_json::Value;

/// A body as JSON; `None` when it is not JSON (each dialect answers in its own way).
pub(crate) struct Json(pub Option<Value>);

impl<S: Send + Sync> FromRequest<S> for Json {
    type Rejection = std::convert::Infallible;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Ok(bytes) = Bytes::from_request(req, state).await else {
            return Ok(Json(None));
        };
        Ok(Json(serde_json::from_slice(&bytes).ok()))
    }
}
