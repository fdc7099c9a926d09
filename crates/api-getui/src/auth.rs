//! The `token` header, as a typed extractor: a handler that takes [`GetuiToken`] only
//! runs for a live token issued to the app in its path. The check is answered by the
//! node's [`crate::TokenCache`], from memory on the hot path.

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use roster_core::app::token_digest;
use roster_core::quota::LimitedAction;
use roster_core::AppId;

use crate::error::GetuiError;
use crate::GetuiState;

/// The app a request is authorised for. `L` says which limit the call counts against:
/// [`Ceiling`] (the default), Getui's per-minute ceiling for every call without a limit
/// of its own, or [`OwnLimit`], for the handlers that take their own action's limit.
#[derive(Debug, Clone)]
pub struct GetuiToken<L = Ceiling> {
    /// The app in the path, which the token was issued to.
    pub app: AppId,
    limit: PhantomData<L>,
}

/// Counts the call against `getui_call`, the ceiling of calls without their own limit.
#[derive(Debug, Clone, Copy)]
pub struct Ceiling;

/// The handler counts the call against its own action (tag overwrite, tag batch,
/// `bind_dt`), before validating its input.
#[derive(Debug, Clone, Copy)]
pub struct OwnLimit;

/// Which limit a token extractor counts the call against.
pub trait LimitKind: Send + Sync + 'static {
    /// Whether the extractor counts the call against the ceiling.
    const CEILING: bool;
}

impl LimitKind for Ceiling {
    const CEILING: bool = true;
}

impl LimitKind for OwnLimit {
    const CEILING: bool = false;
}

impl<L: LimitKind> FromRequestParts<GetuiState> for GetuiToken<L> {
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
        if L::CEILING {
            state.quota.take(&app, &LimitedAction::GetuiCall).await?;
        }
        Ok(GetuiToken {
            app,
            limit: PhantomData,
        })
    }
}
