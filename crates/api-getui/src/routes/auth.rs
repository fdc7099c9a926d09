//! `POST /v2/{appId}/auth` and `DELETE /v2/{appId}/auth/{token}`.

use axum::extract::State;
use axum::response::Response;
use roster_core::app::token_digest;
use roster_core::ids::random_hex;
use roster_core::quota::LimitedAction;
use roster_core::{limits, AppId, Error};
use serde_json::{json, Value};

use crate::body::{field, string, Body, P};
use crate::error::{ok, GetuiError};
use crate::GetuiState;

/// `timestamp` as a JSON number or a digit string.
fn timestamp(body: &serde_json::Map<String, Value>) -> Result<(String, i64), Error> {
    let text = match field(body, "timestamp") {
        None => return Err(Error::empty("timestamp")),
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => return Err(Error::TypeError("timestamp".into())),
    };
    if text.is_empty() {
        return Err(Error::empty("timestamp"));
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) || text.len() > 15 {
        return Err(Error::invalid("timestamp"));
    }
    let ms = text.parse().map_err(|_| Error::invalid("timestamp"))?;
    Ok((text, ms))
}

/// Issues a 24-hour token for a valid `sign = sha256(appkey + timestamp + mastersecret)`.
pub(crate) async fn create(
    State(state): State<GetuiState>,
    P(app_id): P<String>,
    Body(body): Body,
) -> Result<Response, GetuiError> {
    let app_id = AppId::parse(app_id).map_err(|_| Error::invalid("appkey"))?;
    // Counted before the body is checked: a wrong sign uses a unit too, as at Getui.
    state.quota.take(&app_id, &LimitedAction::GetuiAuth).await?;
    let sign = string(&body, "sign")?;
    let (ts_text, ts) = timestamp(&body)?;
    let appkey = string(&body, "appkey")?;
    let app = state
        .store
        .get_app(&app_id)
        .await?
        .ok_or_else(|| Error::invalid("appkey"))?;
    let now = state.now();
    if (now - ts).abs() > limits::GETUI_AUTH_SKEW_MS {
        return Err(Error::invalid("timestamp").into());
    }
    if !app.verify_getui_sign(appkey, &ts_text, sign, now) {
        // Wrong appkey and wrong sign answer alike, so neither can be probed alone.
        return Err(Error::invalid("sign").into());
    }
    let token = random_hex(32);
    let expires_at = now + limits::GETUI_TOKEN_TTL_MS;
    state
        .tokens
        .issue(
            state.store.as_ref(),
            &app_id,
            &token_digest(&token),
            expires_at,
        )
        .await?;
    Ok(ok(Some(
        json!({ "expire_time": expires_at.to_string(), "token": token }),
    )))
}

/// Revokes a token of this app: it fails at once on this node and within
/// [`crate::FRESH_FOR`] on the others. Revoking an unknown or already revoked token
/// succeeds: the caller's goal, a dead token, holds either way.
pub(crate) async fn revoke(
    State(state): State<GetuiState>,
    P((app_id, token)): P<(String, String)>,
) -> Result<Response, GetuiError> {
    let app_id = AppId::parse(app_id).map_err(|_| GetuiError::token())?;
    state.quota.take(&app_id, &LimitedAction::GetuiCall).await?;
    state
        .tokens
        .revoke(state.store.as_ref(), &app_id, &token_digest(&token))
        .await?;
    Ok(ok(None))
}
