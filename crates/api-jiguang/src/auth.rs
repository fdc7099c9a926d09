//! Basic auth of UMS (channel key or access key) and Growth (project id).

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use roster_core::app::parse_basic;
use roster_core::AppId;
use roster_store::{Credential, CredentialKind};

use crate::growth::error::GrowthError;
use crate::ums::error::UmsError;
use crate::JiguangState;

async fn credential(parts: &Parts, state: &JiguangState) -> Option<(String, Credential)> {
    let header = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (key, secret) = parse_basic(header)?;
    let found = state.store.find_credential(&key).await.ok()??;
    found
        .accepts(&secret, (state.clock)())
        .then_some((key, found))
}

/// A UMS caller: the app, and the channel when it authenticated with a channel key.
#[derive(Debug, Clone)]
pub struct UmsAuth {
    /// The app.
    pub app: AppId,
    /// `Some(channel key)` for channel credentials, `None` for the access key.
    pub channel: Option<String>,
}

impl FromRequestParts<JiguangState> for UmsAuth {
    type Rejection = UmsError;

    async fn from_request_parts(parts: &mut Parts, state: &JiguangState) -> Result<Self, UmsError> {
        match credential(parts, state).await {
            Some((_, c)) if c.kind == CredentialKind::UmsAccess => {
                roster_edge::record_app(&c.app);
                Ok(UmsAuth {
                    app: c.app,
                    channel: None,
                })
            }
            Some((key, c)) if c.kind == CredentialKind::UmsChannel => {
                roster_edge::record_app(&c.app);
                Ok(UmsAuth {
                    app: c.app,
                    channel: Some(key),
                })
            }
            _ => Err(UmsError::auth()),
        }
    }
}

/// A Growth caller (project id and secret).
#[derive(Debug, Clone)]
pub struct GrowthAuth {
    /// The app.
    pub app: AppId,
}

impl FromRequestParts<JiguangState> for GrowthAuth {
    type Rejection = GrowthError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &JiguangState,
    ) -> Result<Self, GrowthError> {
        match credential(parts, state).await {
            Some((_, c)) if c.kind == CredentialKind::Growth => {
                roster_edge::record_app(&c.app);
                Ok(GrowthAuth { app: c.app })
            }
            _ => Err(GrowthError::auth()),
        }
    }
}
