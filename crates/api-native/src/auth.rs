//! Who may call a native handler, decided by typed extractors.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use roster_core::app::{constant_time_eq, parse_basic};
use roster_core::quota::{LimitedAction, Quota as _};
use roster_core::AppId;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::error::NativeError;
use crate::NativeState;

/// The caller holds the admin token (`Authorization: Bearer <token>`).
#[derive(Debug, Clone, Copy)]
pub struct AdminAuth;

impl FromRequestParts<NativeState> for AdminAuth {
    type Rejection = NativeError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &NativeState,
    ) -> Result<Self, Self::Rejection> {
        let given = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(NativeError::unauthenticated)?;
        if constant_time_eq(given.as_bytes(), state.admin_token.as_bytes()) {
            Ok(AdminAuth)
        } else {
            Err(NativeError::unauthenticated())
        }
    }
}

/// The caller holds the Getui credentials of the app in the path
/// (`Authorization: Basic base64(app_key:master_secret)`).
#[derive(Debug, Clone)]
pub struct AppAuth {
    /// The app.
    pub app: AppId,
}

impl FromRequestParts<NativeState> for AppAuth {
    type Rejection = NativeError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &NativeState,
    ) -> Result<Self, Self::Rejection> {
        // `/api/v1/apps/{app_id}/…`: only the app segment is decoded here, so that a
        // badly encoded segment further on is the handler's 400, not a 401.
        let app =
            roster_edge::path_app(parts.uri.path(), 3).ok_or_else(NativeError::unauthenticated)?;
        let (user, pass) = basic(parts).ok_or_else(NativeError::unauthenticated)?;
        let found = state.store.get_app(&app).await?;
        let now = (state.clock)();
        let ok = found.is_some_and(|a| a.verify_getui_basic(&user, &pass, now));
        if ok {
            roster_edge::record_app(&app);
            state
                .limiter
                .take(&app, &LimitedAction::NativeRequest)
                .await?;
            Ok(AppAuth { app })
        } else {
            Err(NativeError::unauthenticated())
        }
    }
}

fn basic(parts: &Parts) -> Option<(String, String)> {
    parse_basic(parts.headers.get(AUTHORIZATION)?.to_str().ok()?)
}

/// Adds the two security schemes to the OpenAPI document.
pub(crate) struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "app",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
    }
}
