//! Users: identify (get-or-create by identities) and read, by uid or any identity.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use roster_core::user::{
    validate_identity_value, Identify, Uid, User, CONTACT_KINDS, IDENTITY_VALUE_MAX,
};
use roster_core::Error;
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, Object, ObjectBuilder, OneOfBuilder, Schema, SchemaType,
    Type,
};
use utoipa::openapi::RefOr;
use utoipa::ToSchema;

use crate::auth::AppAuth;
use crate::error::{ErrorBody, NativeError};
use crate::json::Body;
use crate::wire::ContactKind;
use crate::{NativeState, BAD_PATH, UNAUTHENTICATED_APP};

/// An identity value, or several for names that allow many (`registration_id`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One value.
    One(String),
    /// Several values.
    Many(Vec<String>),
}

/// Identify a user. Unknown fields are refused.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentifyIn {
    /// Identity name → value(s): `user_id`, `anonymous_id`, `registration_id` (device
    /// cids), or names the admin created. The first identity that already belongs to a
    /// user, in the order `user_id`, `anonymous_id`, `registration_id`, then custom names by
    /// priority, picks the user; all of them are then attached to it. At least one value.
    #[schema(schema_with = identities_schema)]
    pub identities: BTreeMap<String, OneOrMany>,
    /// Properties, merged into the stored ones.
    #[schema(value_type = Option<Object>)]
    pub properties: Option<serde_json::Map<String, serde_json::Value>>,
    /// Contacts: `email`, `mobile_phone`, `landline_phone`, `whatsapp_phone`.
    #[schema(schema_with = contacts_schema)]
    pub contacts: Option<BTreeMap<ContactKind, String>>,
}

/// An identity name: 1–64 of `[A-Za-z0-9_]`.
const IDENTITY_NAME_PATTERN: &str = "^[A-Za-z0-9_]{1,64}$";

fn identities_schema() -> Object {
    let value = || {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(IDENTITY_VALUE_MAX))
    };
    let values = OneOfBuilder::new()
        .item(value())
        .item(ArrayBuilder::new().items(value()));
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(
            "Identity name (1–64 of `[A-Za-z0-9_]`: `user_id`, `anonymous_id`, \
             `registration_id` or a name the admin created) → one value or a list \
             (1–256 characters each). The first identity that already belongs to a user, \
             in the order `user_id`, `anonymous_id`, `registration_id`, then custom names \
             by priority, picks the user; all of them are then attached to it.",
        ))
        .min_properties(Some(1))
        .property_names(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(IDENTITY_NAME_PATTERN)),
        ))
        .additional_properties(Some(AdditionalProperties::RefOr(RefOr::T(Schema::OneOf(
            values.build(),
        )))))
        .build()
}

fn contacts_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Object, Type::Null]))
        .description(Some("Contacts, merged into the stored ones: kind → value."))
        .property_names(Some(Schema::Object(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(CONTACT_KINDS))
                .build(),
        )))
        .additional_properties(Some(ObjectBuilder::new().schema_type(Type::String)))
        .build()
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
    pub identities: BTreeMap<String, Vec<String>>,
    /// Properties.
    #[schema(value_type = Object)]
    pub properties: serde_json::Map<String, serde_json::Value>,
    /// Contacts: kind → value.
    pub contacts: BTreeMap<String, String>,
    /// UMS bindings.
    pub ums_bindings: Vec<UmsBinding>,
    /// Linked devices (cids).
    pub devices: Vec<String>,
}

/// A UMS channel binding of a user.
#[derive(Debug, Serialize, ToSchema)]
pub struct UmsBinding {
    /// The bound field (`app`, `wechatoa`, …).
    pub field: String,
    /// The sender the binding is for.
    pub bind_id: String,
    /// The bound value.
    pub value: String,
}

impl From<User> for UserOut {
    fn from(u: User) -> Self {
        let devices = u
            .registration_ids()
            .into_iter()
            .map(str::to_owned)
            .collect();
        let mut identities = BTreeMap::<String, Vec<String>>::new();
        for (n, v) in u.identities {
            identities.entry(n).or_default().push(v);
        }
        UserOut {
            uid: u.uid.get(),
            identities,
            properties: u.properties,
            contacts: u.contacts.into_iter().collect(),
            ums_bindings: u
                .bindings
                .into_iter()
                .map(|(field, bind_id, value)| UmsBinding {
                    field,
                    bind_id,
                    value,
                })
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
    responses(
        (status = 200, description = "The user, and whether this call created it", body = IdentifyOut),
        (status = 400, description = "Invalid, empty or unknown field, or an identity name the app does not have", body = ErrorBody),
        (status = 401, description = UNAUTHENTICATED_APP, body = ErrorBody),
        (status = 404, description = "A `registration_id` that is not a device of this app (`unknown_target`)", body = ErrorBody),
    )
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
        identify.contacts.push((kind.as_str().to_owned(), value));
    }
    let (uid, created) = state
        .store
        .identify_user(&auth.app, &identify, (state.clock)())
        .await?;
    Ok(Json(IdentifyOut {
        uid: uid.get(),
        created,
    }))
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
    responses(
        (status = 200, description = "The user", body = UserOut),
        (status = 400, description = BAD_PATH, body = ErrorBody),
        (status = 401, description = UNAUTHENTICATED_APP, body = ErrorBody),
        (status = 404, description = "No such user in this app", body = ErrorBody),
    )
)]
pub(crate) async fn get_user(
    State(state): State<NativeState>,
    auth: AppAuth,
    Path(path): Path<(String, String)>,
) -> Result<Json<UserOut>, NativeError> {
    let uid = Uid::parse(&path.1).ok_or_else(|| Error::NotFound("user".into()))?;
    load(&state, &auth, uid).await
}

/// One user by any identity value.
#[utoipa::path(
    get, path = "/api/v1/apps/{app_id}/users/by_identity/{name}/{value}",
    security(("app" = [])),
    params(("app_id" = String, Path, description = "App id"), ("name" = String, Path, description = "Identity name"), ("value" = String, Path, description = "Identity value")),
    responses(
        (status = 200, description = "The user holding the value", body = UserOut),
        (status = 400, description = BAD_PATH, body = ErrorBody),
        (status = 401, description = UNAUTHENTICATED_APP, body = ErrorBody),
        (status = 404, description = "No user holds this value (or the app has no such identity name)", body = ErrorBody),
    )
)]
pub(crate) async fn get_user_by_identity(
    State(state): State<NativeState>,
    auth: AppAuth,
    Path(path): Path<(String, String, String)>,
) -> Result<Json<UserOut>, NativeError> {
    // A value no identity can hold is held by no user.
    let value =
        roster_core::IdentityValue::parse(path.2).map_err(|_| Error::NotFound("user".into()))?;
    let uid = state
        .store
        .find_user(&auth.app, &path.1, &value)
        .await?
        .ok_or_else(|| Error::NotFound("user".into()))?;
    load(&state, &auth, uid).await
}

/// Deletes a user with everything bound to it (identities, contacts, UMS bindings), as
/// UMS `user/delete` does by userid; its devices stay. A uid is never given again.
#[utoipa::path(
    delete, path = "/api/v1/apps/{app_id}/users/{uid}",
    security(("app" = [])),
    params(("app_id" = String, Path, description = "App id"), ("uid" = i64, Path, description = "User id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = BAD_PATH, body = ErrorBody),
        (status = 401, description = UNAUTHENTICATED_APP, body = ErrorBody),
        (status = 404, description = "No such user in this app", body = ErrorBody),
    )
)]
pub(crate) async fn delete_user(
    State(state): State<NativeState>,
    auth: AppAuth,
    Path(path): Path<(String, String)>,
) -> Result<StatusCode, NativeError> {
    let uid = Uid::parse(&path.1).ok_or_else(|| Error::NotFound("user".into()))?;
    if state.store.delete_user(&auth.app, uid).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::NotFound("user".into()).into())
    }
}
