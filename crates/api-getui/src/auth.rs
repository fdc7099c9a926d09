//! The `token` header, as a typed extractor: a handler that takes [`GetuiToken`] only
//! runs for a live token issued to the app in its path.

use std::collections::HashMap;

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use roster_core::app::token_digest;
use roster_core::quota::LimitedAction;
use roster_core::AppId;

use crate::error::GetuiError;
use crate::GetuiState;

/// The app a request is authorised for.
#[derive(Debug, Clone)]
pub struct GetuiToken {
    /// The app in the path, which the token was issued to.
    pub app: AppId,
}

impl FromRequestParts<GetuiState> for GetuiToken {
    type Rejection = GetuiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &GetuiState,
    ) -> Result<Self, Self::Rejection> {
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| GetuiError::token())?;
        let app = params
            .get("app_id")
            .and_then(|a| AppId::parse(a.as_str()).ok())
            .ok_or_else(GetuiError::token)?;
        let token = parts
            .headers
            .get("token")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(GetuiError::token)?;
        let owner = state
            .store
            .token_app(&token_digest(token), state.now())
            .await?;
        if owner.as_ref() != Some(&app) {
            return Err(GetuiError::token());
        }
        state.quota.check(&app, &LimitedAction::GetuiCall)?;
        Ok(GetuiToken { app })
    }
}
