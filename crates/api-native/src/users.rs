//! Users: identify (get-or-create by identities) and read, by uid or any identity.

use axum::extract::{Path, State};
use axum::Json;
use roster_core::user::{validate_identity_value, Identify, Uid, User, CONTACT_KINDS};
use roster_core::Error;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::AppAuth;
use crate::error::NativeError;
use crate::json::Body;
use crate::NativeState;

/// An identity value, or several for names that allow many (`registration_id`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One value.
    One(String),
    /// Several values.
    Many(Vec<String>),
}

/// Identify a user.
#[derive(Debug, Deserialize, ToSchema)]
pub struct IdentifyIn {
    /// Identity name → value(s): `user_id`, `anonymous_id`, `registration_id` (device
    /// cids), or names the admin created. The first identity that already belongs to a
    /// user, in the order `user_id`, `anonymous_id`, `registration_id`, then custom names by
    /// priority, picks the user; all of them are then attached to it.
    #[schema(value_type = Object)]
    pub identities: std::collections::BTreeMap<String, OneOrMany>,
    /// Properties, merged into the stored ones.
    #[schema(value_type = Option<Object>)]
    pub properties: Option<serde_json::Map<String, serde_json::Value>>,
    /// Contacts: `email`, `mobile_phone`, `landline_phone`, `whatsapp_phone`.
    pub contacts: Option<std::collections::BTreeMap<String, String>>,
}

/// The identified user.
#[derive(Debug, Serialize, ToSchema)]
pub struct IdentifyOut {
    /// Permanent user id (Growth CUID, EngageLab EUID).
    pub uid: i64,
    /// Whether the user was created by this call.
    pub created: bool,
}

/// A user.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserOut {
    /// Permanent user id.
    pub uid: i64,
    /// Identity name → values.
    #[schema(value_type = Object)]
    pub identities: std::collections::BTreeMap<String, Vec<String>>,
    /// Properties.
    #[schema(value_type = Object)]
    pub properties: serde_json::Map<String, serde_json::Value>,
    /// Contacts.
    #[schema(value_type = Object)]
    pub contacts: std::collections::BTreeMap<String, String>,
    /// UMS bindings as `{field, bind_id, value}`.
    #[schema(value_type = Vec<Object>)]
    pub ums_bindings: Vec<serde_json::Value>,
    /// Linked devices (cids).
    pub devices: Vec<String>,
}

impl From<User> for UserOut {
    fn from(u: User) -> Self {
        let devices = u
            .registration_ids()
            .into_iter()
            .map(str::to_owned)
            .collect();
        let mut identities = std::collections::BTreeMap::<String, Vec<String>>::new();
        for (n, v) in u.identities {
            identities.entry(n).or_default().push(v);
        }
        UserOut {
            uid: u.uid,
            identities,
            properties: u.properties,
            contacts: u.contacts.into_iter().collect(),
            ums_bindings: u
                .bindings
                .into_iter()
                .map(|(f, b, v)| serde_json::json!({ "field": f, "bind_id": b, "value": v }))
                .collect(),
            devices,
        }
    }
}

/// Identifies a user by its identities, creating it when none matches, and merges
/// properties and contacts.
#[utoipa::path(
    post, path = "/api/v1/apps/{app_id}/users", request_body = IdentifyIn,
    security(("app" = [])),
    params(("app_id" = String, Path, description = "App id")),
    responses((status = 200, body = IdentifyOut), (status = 400, body = crate::error::ErrorBody), (status = 404, description = "a registration_id that is not a device", body = crate::error::ErrorBody))
)]
pub(crate) async fn identify(
    State(state): State<NativeState>,
    auth: AppAuth,
    Body(req): Body<IdentifyIn>,
) -> Result<Json<IdentifyOut>, NativeError> {
    let mut identify = Identify::default();
    for (name, values) in req.identities {
        let values = match values {
            OneOrMany::One(v) => vec![v],
            OneOrMany::Many(v) => v,
        };
        for v in values {
            validate_identity_value(&v)
                .map_err(|_| Error::invalid(format!("identities.{name}")))?;
            identify.identities.push((name.clone(), v));
        }
    }
    if identify.identities.is_empty() {
        return Err(Error::empty("identities").into());
    }
    identify.properties = req.properties.unwrap_or_default();
    for (kind, value) in req.contacts.unwrap_or_default() {
        if !CONTACT_KINDS.contains(&kind.as_str()) {
            return Err(Error::invalid(format!("contacts.{kind}")).into());
        }
        identify.contacts.push((kind, value));
    }
    let (uid, created) = state
        .store
        .identify_user(&auth.app, &identify, (state.clock)())
        .await?;
    Ok(Json(IdentifyOut { uid, created }))
}

async fn load(state: &NativeState, auth: &AppAuth, uid: Uid) -> Result<Json<UserOut>, NativeError> {
    let mut users = state.store.get_users(&auth.app, &[uid]).await?;
    let user = users.pop().ok_or_else(|| Error::NotFound("user".into()))?;
    Ok(Json(user.into()))
}

/// One user by uid.
#[utoipa::path(
    get, path = "/api/v1/apps/{app_id}/users/{uid}",
    security(("app" = [])),
    params(("app_id" = String, Path, description = "App id"), ("uid" = i64, Path, description = "User id")),
    responses((status = 200, body = UserOut), (status = 404, body = crate::error::ErrorBody))
)]
pub(crate) async fn get_user(
    State(state): State<NativeState>,
    auth: AppAuth,
    Path(path): Path<(String, String)>,
) -> Result<Json<UserOut>, NativeError> {
    let uid: Uid = path.1.parse().map_err(|_| Error::NotFound("user".into()))?;
    load(&state, &auth, uid).await
}

/// One user by any identity value.
#[utoipa::path(
    get, path = "/api/v1/apps/{app_id}/users/by_identity/{name}/{value}",
    security(("app" = [])),
    params(("app_id" = String, Path, description = "App id"), ("name" = String, Path, description = "Identity name"), ("value" = String, Path, description = "Identity value")),
    responses((status = 200, body = UserOut), (status = 404, body = crate::error::ErrorBody))
)]
pub(crate) async fn get_user_by_identity(
    State(state): State<NativeState>,
    auth: AppAuth,
    Path(path): Path<(String, String, String)>,
) -> Result<Json<UserOut>, NativeError> {
    let uid = state
        .store
        .find_user(&auth.app, &path.1, &path.2)
        .await?
        .ok_or_else(|| Error::NotFound("user".into()))?;
    load(&state, &auth, uid).await
}
