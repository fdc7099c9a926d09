//! The `token` header, as a typed extractor: a handler that takes [`GetuiToken`] only
//! runs for a live token issued to the app in its path. The check is answered by the
//! node's [`crate::TokenCache`], from memory on the hot path.

use axum::extract::FromRequestParts;
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
        // Only the app segment is decoded here: a badly encoded cid or alias further on
        // is the handler's 20001, not a token error.
        let app = roster_edge::path_app(parts.uri.path(), 1).ok_or_else(GetuiError::token)?;
        let token = parts
            .headers
            .get("token")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(GetuiError::token)?;
        let owner = state
            .tokens
            .app_of(state.store.as_ref(), &token_digest(token), state.now())
            .await?;
        if owner.as_ref() != Some(&app) {
            return Err(GetuiError::token());
        }
        roster_edge::record_app(&app);
        state.quota.check(&app, &LimitedAction::GetuiCall)?;
        Ok(GetuiToken { app })
    }
}
