//! A JSON body extractor whose failures use the native envelope.

use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
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
        // Read first, so that a body too large or badly encoded is the edge's refusal
        // (413, 400) rather than a parameter error; axum's Json then checks the type.
        let json_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                let v = v.trim();
                v.eq_ignore_ascii_case("application/json")
                    || (v.starts_with("application/") && v.ends_with("+json"))
            });
        let bytes = roster_edge::read_body(req, state).await?;
        if !json_type {
            return Err(Error::invalid("body (Content-Type must be application/json)").into());
        }
        match Json::<T>::from_bytes(&bytes) {
            Ok(Json(v)) => Ok(Body(v)),
            Err(rejection) => {
                Err(Error::Invalid(format!("body ({})", rejection.body_text())).into())
            }
        }
    }
}
