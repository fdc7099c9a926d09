//! Native writes of what only Getui could do: a device's tags, alias and blacklist
//! flag, and deleting a device. The same store calls as the Getui routes, so the same
//! planner rules and refusals (a hundred tags per cid, ten cids per alias, tag and
//! alias charsets); only Getui's per-call quotas stay with Getui.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use roster_core::{limits, Alias, Cid, Error, TagName};
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use crate::audience::{ALIAS_PATTERN, TAG_PATTERN};

use crate::auth::AppAuth;
use crate::error::{ErrorBody, NativeError};
use crate::json::Body;
use crate::NativeState;
use crate::{BAD_PATH, UNAUTHENTICATED_APP};

const UNKNOWN_CID: &str = "No such device in this app (`unknown_target`)";

/// The schema of one custom tag (read as a string).
pub struct TagText;

impl ToSchema for TagText {
    fn name() -> std::borrow::Cow<'static, str> {
        "Tag".into()
    }
}

impl PartialSchema for TagText {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("A custom tag: at most 32 characters, no whitespace."))
            .min_length(Some(1))
            .max_length(Some(limits::TAG_MAX_CHARS))
            .pattern(Some(TAG_PATTERN))
            .into()
    }
}

/// The schema of an alias (read as a string).
pub struct AliasText;

impl ToSchema for AliasText {
    fn name() -> std::borrow::Cow<'static, str> {
        "Alias".into()
    }
}

impl PartialSchema for AliasText {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "An alias: fewer than 40 letters, digits, `_` or CJK ideographs.",
            ))
            .min_length(Some(1))
            .max_length(Some(limits::ALIAS_MAX_CHARS_EXCLUSIVE - 1))
            .pattern(Some(ALIAS_PATTERN))
            .into()
    }
}

/// The whole tag set of a device. Unknown fields are refused.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagsIn {
    /// At most 100 distinct tags, at most 512 characters in all; `[]` clears the tags.
    #[schema(value_type = Vec<TagText>, max_items = 100)]
    pub tags: Vec<String>,
}

/// Tags to add to and remove from a device, at once. Unknown fields are refused.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagsEditIn {
    /// Tags to add.
    #[serde(default)]
    #[schema(value_type = Vec<TagText>)]
    pub add: Vec<String>,
    /// Tags to remove (a tag in both lists is removed).
    #[serde(default)]
    #[schema(value_type = Vec<TagText>)]
    pub remove: Vec<String>,
}

/// The alias to bind. Unknown fields are refused.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AliasIn {
    /// The alias.
    #[schema(value_type = AliasText)]
    pub alias: String,
}

/// A device's tags after the call.
#[derive(Debug, Serialize, ToSchema)]
pub struct TagsOut {
    /// The device.
    pub cid: String,
    /// Its tags, sorted.
    pub tags: Vec<String>,
}

/// A device's alias after the call.
#[derive(Debug, Serialize, ToSchema)]
pub struct AliasOut {
    /// The device.
    pub cid: String,
    /// Its alias; `null` for none.
    pub alias: Option<String>,
}

/// A device's blacklist flag after the call.
#[derive(Debug, Serialize, ToSchema)]
pub struct BlacklistOut {
    /// The device.
    pub cid: String,
    /// Whether it is blacklisted.
    pub blacklisted: bool,
}

/// The device of the path; a cid no device can have is no device of the app.
fn cid(path: (String, String)) -> Result<Cid, Error> {
    Cid::parse(path.1).map_err(|_| Error::UnknownTarget)
}

fn tag_names(list: Vec<String>) -> Result<Vec<TagName>, Error> {
    list.into_iter().map(TagName::parse).collect()
}

async fn tags_out(state: &NativeState, auth: &AppAuth, cid: Cid) -> Result<TagsOut, NativeError> {
    let tags = state.store.tags_of(&auth.app, &cid).await?;
    Ok(TagsOut {
        cid: cid.into(),
        tags: tags.into_iter().map(String::from).collect(),
    })
}

/// Replaces a device's tags, under Getui's rules for a tag overwrite but without its
/// once-a-day quota.
#[utoipa::path(
    put, path = "/api/v1/apps/{app_id}/devices/{cid}/tags", request_body = TagsIn,
    security(("app" = [])),
    params(("app_id" = String, Path, description = "App id"), ("cid" = String, Path, description = "Device")),
    responses(
        (status = 200, description = "The device's tags", body = TagsOut),
        (status = 400, description = "A tag with whitespace (`invalid_param`), longer than 32 characters, more than 100 tags or more than 512 characters in all (`size_over_limit`), a tag twice (`duplicate`), an unknown field, or a bad path segment; nothing changed", body = ErrorBody),
        (status = 401, description = UNAUTHENTICATED_APP, body = ErrorBody),
        (status = 404, description = UNKNOWN_CID, body = ErrorBody),
    )
)]
pub(crate) async fn put_tags(
    State(state): State<NativeState>,
    auth: AppAuth,
    Path(path): Path<(String, String)>,
    Body(body): Body<TagsIn>,
) -> Result<Json<TagsOut>, NativeError> {
    let cid = cid(path)?;
    let tags = tag_names(body.tags)?;
    TagName::check_list(&tags)?;
    state.store.replace_tags(&auth.app, &cid, &tags).await?;
    Ok(Json(tags_out(&state, &auth, cid).await?))
}

/// Adds and removes tags of a device at once, all or nothing: refused if the device
/// would carry more than 100 tags.
#[utoipa::path(
    patch, path = "/api/v1/apps/{app_id}/devices/{cid}/tags", request_body = TagsEditIn,
    security(("app" = [])),
    params(("app_id" = String, Path, description = "App id"), ("cid" = String, Path, description = "Device")),
    responses(
        (status = 200, description = "The device's tags", body = TagsOut),
        (status = 400, description = "A tag with whitespace (`invalid_param`) or longer than 32 characters, more than 100 tags after the edit (`size_over_limit`), an unknown field, or a bad path segment; nothing changed", body = ErrorBody),
        (status = 401, description = UNAUTHENTICATED_APP, body = ErrorBody),
        (status = 404, description = UNKNOWN_CID, body = ErrorBody),
    )
)]
pub(crate) async fn patch_tags(
    State(state): State<NativeState>,
    auth: AppAuth,
    Path(path): Path<(String, String)>,
    Body(body): Body<TagsEditIn>,
) -> Result<Json<TagsOut>, NativeError> {
    let cid = cid(path)?;
    let add = tag_names(body.add)?;
    let remove = tag_names(body.remove)?;
    state
        .store
        .edit_tags(&auth.app, &cid, &add, &remove)
        .await?;
    Ok(Json(tags_out(&state, &auth, cid).await?))
}

/// Binds a device to an alias (moving it from its previous one), as Getui's alias bind
/// does: an alias holds at most 10 devices.
#[utoipa::path(
    put, path = "/api/v1/apps/{app_id}/devices/{cid}/alias", request_body = AliasIn,
    security(("app" = [])),
    params(("app_id" = String, Path, description = "App id"), ("cid" = String, Path, description = "Device")),
    responses(
        (status = 200, description = "The device's alias", body = AliasOut),
        (status = 400, description = "An alias that is empty (`empty_param`) or not fewer than 40 letters, digits, `_` or CJK ideographs (`invalid_param`), an alias that already holds 10 devices (`size_over_limit`), an unknown field, or a bad path segment; nothing changed", body = ErrorBody),
        (status = 401, description = UNAUTHENTICATED_APP, body = ErrorBody),
        (status = 404, description = UNKNOWN_CID, body = ErrorBody),
    )
)]
pub(crate) async fn put_alias(
    State(state): State<NativeState>,
    auth: AppAuth,
    Path(path): Path<(String, String)>,
    Body(body): Body<AliasIn>,
) -> Result<Json<AliasOut>, NativeError> {
    let cid = cid(path)?;
    let alias = Alias::parse(body.alias)?;
    state
        .store
        .bind_aliases(&auth.app, &[(cid.clone(), alias.clone())])
        .await?;
    Ok(Json(AliasOut {
        cid: cid.into(),
        alias: Some(alias.into()),
    }))
}

/// Unbinds a device from its alias, if it has one.
#[utoipa::path(
    delete, path = "/api/v1/apps/{app_id}/devices/{cid}/alias",
    security(("app" = [])),
    params(("app_id" = String, Path, description = "App id"), ("cid" = String, Path, description = "Device")),
    responses(
        (status = 200, description = "The device, without alias", body = AliasOut),
        (status = 400, description = BAD_PATH, body = ErrorBody),
        (status = 401, description = UNAUTHENTICATED_APP, body = ErrorBody),
        (status = 404, description = UNKNOWN_CID, body = ErrorBody),
    )
)]
pub(crate) async fn delete_alias(
    State(state): State<NativeState>,
    auth: AppAuth,
    Path(path): Path<(String, String)>,
) -> Result<Json<AliasOut>, NativeError> {
    let cid = cid(path)?;
    if let Some(alias) = state.store.alias_of(&auth.app, &cid).await? {
        // Unbinds only this pair: a bind to another alias meanwhile stays.
        state
            .store
            .unbind_aliases(&auth.app, &[(cid.clone(), alias)])
            .await?;
    }
    let alias = state.store.alias_of(&auth.app, &cid).await?;
    Ok(Json(AliasOut {
        cid: cid.into(),
        alias: alias.map(String::from),
    }))
}

async fn blacklist(
    state: NativeState,
    auth: AppAuth,
    path: (String, String),
    on: bool,
) -> Result<Json<BlacklistOut>, NativeError> {
    let cid = cid(path)?;
    state
        .store
        .set_blacklisted(&auth.app, std::slice::from_ref(&cid), on)
        .await?;
    Ok(Json(BlacklistOut {
        cid: cid.into(),
        blacklisted: on,
    }))
}

/// Blacklists a device: audiences that exclude blacklisted devices leave it out.
#[utoipa::path(
    put, path = "/api/v1/apps/{app_id}/devices/{cid}/blacklist",
    security(("app" = [])),
    params(("app_id" = String, Path, description = "App id"), ("cid" = String, Path, description = "Device")),
    responses(
        (status = 200, description = "The device's flag", body = BlacklistOut),
        (status = 400, description = BAD_PATH, body = ErrorBody),
        (status = 401, description = UNAUTHENTICATED_APP, body = ErrorBody),
        (status = 404, description = UNKNOWN_CID, body = ErrorBody),
    )
)]
pub(crate) async fn put_blacklist(
    State(state): State<NativeState>,
    auth: AppAuth,
    Path(path): Path<(String, String)>,
) -> Result<Json<BlacklistOut>, NativeError> {
    blacklist(state, auth, path, true).await
}

/// Takes a device off the blacklist.
#[utoipa::path(
    delete, path = "/api/v1/apps/{app_id}/devices/{cid}/blacklist",
    security(("app" = [])),
    params(("app_id" = String, Path, description = "App id"), ("cid" = String, Path, description = "Device")),
    responses(
        (status = 200, description = "The device's flag", body = BlacklistOut),
        (status = 400, description = BAD_PATH, body = ErrorBody),
        (status = 401, description = UNAUTHENTICATED_APP, body = ErrorBody),
        (status = 404, description = UNKNOWN_CID, body = ErrorBody),
    )
)]
pub(crate) async fn delete_blacklist(
    State(state): State<NativeState>,
    auth: AppAuth,
    Path(path): Path<(String, String)>,
) -> Result<Json<BlacklistOut>, NativeError> {
    blacklist(state, auth, path, false).await
}

/// Deletes a device: its tags, alias and login history go, it leaves the user that
/// holds it (its `registration_id` and that user's UMS `app` bindings of it) and every
/// audience. The cid may register again later, as a new device.
#[utoipa::path(
    delete, path = "/api/v1/apps/{app_id}/devices/{cid}",
    security(("app" = [])),
    params(("app_id" = String, Path, description = "App id"), ("cid" = String, Path, description = "Device")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = BAD_PATH, body = ErrorBody),
        (status = 401, description = UNAUTHENTICATED_APP, body = ErrorBody),
        (status = 404, description = UNKNOWN_CID, body = ErrorBody),
    )
)]
pub(crate) async fn delete_device(
    State(state): State<NativeState>,
    auth: AppAuth,
    Path(path): Path<(String, String)>,
) -> Result<StatusCode, NativeError> {
    let cid = cid(path)?;
    state.store.delete_device(&auth.app, &cid).await?;
    Ok(StatusCode::NO_CONTENT)
}
