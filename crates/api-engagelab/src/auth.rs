//! Basic auth with the app's EngageLab `api_key:api_secret`.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use roster_core::app::parse_basic;
use roster_core::AppId;
use roster_store::CredentialKind;

use crate::error::EngagelabError;
use crate::EngagelabState;

/// A caller holding the app's EngageLab API key and secret.
#[derive(Debug, Clone)]
pub struct EngagelabAuth {
    /// The app.
    pub app: AppId,
}

impl FromRequestParts<EngagelabState> for EngagelabAuth {
    type Rejection = EngagelabError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &EngagelabState,
    ) -> Result<Self, EngagelabError> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(EngagelabError::AUTH)?;
        let (key, secret) = parse_basic(header).ok_or(EngagelabError::AUTH)?;
        match state.store.find_credential(&key).await? {
            Some(c)
                if c.kind == CredentialKind::Engagelab && c.accepts(&secret, (state.clock)()) =>
            {
                roster_edge::record_app(&c.app);
                Ok(EngagelabAuth { app: c.app })
            }
            _ => Err(EngagelabError::AUTH),
        }
    }
}
