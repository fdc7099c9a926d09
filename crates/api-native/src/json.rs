//! A JSON body extractor whose failures use the native envelope.

use axum::extract::{FromRequest, Request};
use axum::Json;
use roster_core::Error;
use serde::de::DeserializeOwned;

use crate::error::NativeError;

/// Like [`axum::Json`], but a bad body is `invalid_param` with serde's explanation
/// (which names the field and position).
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = NativeError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Body(v)),
            Err(rejection) => {
                Err(Error::Invalid(format!("body ({})", rejection.body_text())).into())
            }
        }
    }
}
