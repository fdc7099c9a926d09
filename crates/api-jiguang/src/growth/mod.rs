//! Growth `POST /smartop/api/v1/user/register`: identity values to CUIDs.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json as JsonReply;
use roster_core::quota::LimitedAction;
use roster_core::user::IDENTITY_VALUE_MAX;
use roster_core::IdentityValue;
use serde_json::{json, Value};

pub(crate) mod error;

use crate::auth::GrowthAuth;
use crate::body::Json;
use roster_edge::Refusal;

use crate::JiguangState;
use error::GrowthError;

/// Values per request.
const MAX_VALUES: usize = 100;

fn bad(code: i64, msg: &str) -> GrowthError {
    GrowthError::new(StatusCode::BAD_REQUEST, code, msg)
}

/// Gets or creates the CUID of each value of a priority-1 unique identity; one result
/// per value, in input order.
pub(crate) async fn register(
    State(state): State<JiguangState>,
    auth: GrowthAuth,
    Json(body): Json,
) -> Result<JsonReply<Value>, GrowthError> {
    let body = body?
        .and_then(|b| b.as_object().cloned())
        .unwrap_or_default();
    // Counted before the body's fields are checked, as at Jiguang.
    state
        .quota
        .take(&auth.app, &LimitedAction::GrowthRegister)
        .await?;
    let name = body
        .get("identityName")
        .and_then(Value::as_str)
        .unwrap_or("");
    let names = state.store.identity_names(&auth.app).await?;
    let usable = names
        .iter()
        .any(|n| n.name == name && n.unique && n.priority == 1);
    if !usable {
        return Err(bad(40005, "User identifier does not exist"));
    }
    let values = match body.get("identityValues") {
        Some(Value::Array(a)) if !a.is_empty() => a,
        _ => return Err(bad(40004, "User identifier is empty")),
    };
    if values.len() > MAX_VALUES {
        return Err(bad(40011, "Number of user identifiers exceeds the limit"));
    }
    // Per value: 0, or the error code of that value.
    let mut codes = Vec::with_capacity(values.len());
    let mut good = Vec::new();
    for v in values {
        let code = match v.as_str() {
            None | Some("") => 40004,
            Some(s) if s.chars().count() > IDENTITY_VALUE_MAX => 40006,
            Some(s) => match IdentityValue::parse(s) {
                Ok(v) => {
                    good.push(v);
                    0
                }
                Err(_) => 40006,
            },
        };
        codes.push(code);
    }
    let mut uids = state
        .store
        .register_identities(&auth.app, name, &good, (state.clock)())
        .await?
        .into_iter();
    let data: Vec<Value> = values
        .iter()
        .zip(codes)
        .map(|(v, code)| {
            let cuid = if code == 0 {
                uids.next().map_or(Value::Null, Value::from)
            } else {
                Value::Null
            };
            json!({ "identityValue": v, "cuid": cuid, "errorCode": code })
        })
        .collect();
    Ok(JsonReply(json!({ "code": 0, "msg": "ok", "data": data })))
}

pub(crate) async fn method_not_allowed() -> GrowthError {
    Refusal::MethodNotAllowed.into()
}
