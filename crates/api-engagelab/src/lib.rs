//! EngageLab MA `POST /v1/user/profile` over roster's identity graph: a user's
//! identities, properties, linked devices' properties and contacts, by EUID (= uid).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use roster_core::app::{constant_time_eq, parse_basic};
use roster_core::quota::{LimitedAction, Quota};
use roster_core::time::Clock;
use roster_core::{AppId, Cid};
use roster_store::{CredentialKind, Store};
use serde_json::{json, Map, Value};

mod profile;

/// EUIDs per request.
const MAX_EUIDS: usize = 100;

/// What the EngageLab handler shares.
#[derive(Clone)]
pub struct EngagelabState {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Rate limits.
    pub quota: Arc<dyn Quota>,
    /// Now, in ms.
    pub clock: Clock,
}

/// An EngageLab error: `{"code", "message"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngagelabError {
    status: StatusCode,
    code: i64,
    message: &'static str,
}

impl EngagelabError {
    const AUTH: Self = Self {
        status: StatusCode::UNAUTHORIZED,
        code: 40050,
        message: "Authentication failed",
    };
    const COUNT: Self = Self {
        status: StatusCode::BAD_REQUEST,
        code: 55004,
        message: "EUID count must be between 1 and 100",
    };
    const PAYLOAD: Self = Self {
        status: StatusCode::BAD_REQUEST,
        code: 55004,
        message: "Invalid request payload format",
    };
    const RATE: Self = Self {
        status: StatusCode::TOO_MANY_REQUESTS,
        code: 55110,
        message: "Too many requests, please try again later.",
    };
    const SYSTEM: Self = Self {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        code: 55000,
        message: "System error",
    };
}

impl IntoResponse for EngagelabError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({ "code": self.code, "message": self.message })),
        )
            .into_response()
    }
}

impl From<roster_store::StoreError> for EngagelabError {
    fn from(e: roster_store::StoreError) -> Self {
        tracing::error!(error = %e, dialect = "engagelab", "internal error");
        Self::SYSTEM
    }
}

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
                if c.kind == CredentialKind::Engagelab
                    && constant_time_eq(c.secret.as_bytes(), secret.as_bytes()) =>
            {
                Ok(EngagelabAuth { app: c.app })
            }
            _ => Err(EngagelabError::AUTH),
        }
    }
}

/// The `/v1/user/profile` route.
pub fn router(state: EngagelabState) -> Router {
    Router::new()
        .route("/v1/user/profile", post(profile_handler))
        .with_state(state)
}

/// A field selection: `None` means every key.
fn selection(body: &Map<String, Value>, name: &str) -> Result<Option<Vec<String>>, EngagelabError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) if a.is_empty() => Ok(None),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or(EngagelabError::PAYLOAD))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(EngagelabError::PAYLOAD),
    }
}

/// Queries up to 100 users' profiles by EUID.
async fn profile_handler(
    State(state): State<EngagelabState>,
    auth: EngagelabAuth,
    body: Bytes,
) -> Result<Json<Value>, EngagelabError> {
    let body: Map<String, Value> =
        serde_json::from_slice(&body).map_err(|_| EngagelabError::PAYLOAD)?;
    let euids: Vec<i64> = match body.get("euid") {
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| v.as_i64().ok_or(EngagelabError::PAYLOAD))
            .collect::<Result<_, _>>()?,
        None | Some(Value::Null) => Vec::new(),
        Some(_) => return Err(EngagelabError::PAYLOAD),
    };
    if euids.is_empty() || euids.len() > MAX_EUIDS {
        return Err(EngagelabError::COUNT);
    }
    let pick = profile::Pick {
        identities: selection(&body, "user_identities")?,
        properties: selection(&body, "user_properties")?,
        devices: selection(&body, "device_properties")?,
        contacts: selection(&body, "contacts")?,
    };
    state
        .quota
        .check(&auth.app, &LimitedAction::EngagelabProfile)
        .map_err(|_| EngagelabError::RATE)?;
    let users = state.store.get_users(&auth.app, &euids).await?;
    let names = state.store.identity_names(&auth.app).await?;
    let mut data = Vec::with_capacity(euids.len());
    for euid in euids {
        let Some(user) = users.iter().find(|u| u.uid == euid) else {
            data.push(
                json!({ "euid": euid, "user_identities": null, "user_properties": null,
                              "device_properties": null, "contacts": null, "error_code": 55108 }),
            );
            continue;
        };
        let cids: Vec<Cid> = user
            .registration_ids()
            .into_iter()
            .filter_map(|c| Cid::parse(c).ok())
            .collect();
        let devices = state
            .store
            .get_devices(&auth.app, &cids, (state.clock)())
            .await?;
        data.push(profile::render(user, &names, &devices, &pick));
    }
    Ok(Json(
        json!({ "code": 0, "message": "success", "data": data }),
    ))
}
