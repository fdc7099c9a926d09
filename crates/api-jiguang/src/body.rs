//! Reading a JSON body whatever its Content-Type.

use axum::extract::{FromRequest, Request};
use roster_edge::Refusal;
use serde_json::Value;

/// A body as JSON: `Ok(None)` when it is not JSON (each dialect answers in its own
/// way), `Err` when it could not be read at all (too large, badly encoded).
pub(crate) struct Json(pub Result<Option<Value>, Refusal>);

impl<S: Send + Sync> FromRequest<S> for Json {
    type Rejection = std::convert::Infallible;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Json(
            roster_edge::read_body(req, state)
                .await
                .map(|bytes| serde_json::from_slice(&bytes).ok()),
        ))
    }
}
