//! Admin calls.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use roster_core::ids::{random_alnum, random_hex};
use roster_core::ums::SenderKind;
use roster_core::user::IdentityName;
use roster_core::{AppCredentials, AppId, DtType, Error, NewApp};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::AdminAuth;
use crate::error::NativeError;
use crate::json::Body;
use crate::NativeState;

/// A new app.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateApp {
    /// Display name, 1–128 characters.
    pub name: String,
}

/// Creates an app and returns its credentials for every dialect.
#[utoipa::path(
    post, path = "/admin/v1/apps", request_body = CreateApp,
    security(("admin" = [])),
    responses(
        (status = 201, description = "The app's id and credentials: {app_id, getui: {app_key, master_secret}, ums: {…}, growth: {…}, engagelab: {…}}", body = Object),
        (status = 400, body = crate::error::ErrorBody),
        (status = 401, body = crate::error::ErrorBody),
    )
)]
pub(crate) async fn create_app(
    State(state): State<NativeState>,
    _admin: AdminAuth,
    Body(req): Body<CreateApp>,
) -> Result<(StatusCode, Json<AppCredentials>), NativeError> {
    let app = NewApp::new(&req.name, (state.clock)())?;
    state.store.create_app(&app).await?;
    tracing::info!(app_id = %app.credentials.app_id, "app created");
    Ok((StatusCode::CREATED, Json(app.credentials)))
}

/// Getui `bind_dt` channels enabled for an app beyond `wx`, which is always on.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DtTypes {
    /// Channel types: `hw`, `hwq`, `ho`, `xm`, `op`, `opg`, `vv`, `mz`, `fcm`, `st`, `sn`, `ios`.
    pub types: Vec<String>,
}

/// Replaces the set of vendor channels the app may bind through Getui `bind_dt`.
#[utoipa::path(
    put, path = "/admin/v1/apps/{app_id}/getui/bind_dt_types", request_body = DtTypes,
    security(("admin" = [])),
    params(("app_id" = String, Path, description = "App id")),
    responses(
        (status = 200, description = "Every enabled type, `wx` included", body = DtTypes),
        (status = 400, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody),
    )
)]
pub(crate) async fn set_dt_types(
    State(state): State<NativeState>,
    _admin: AdminAuth,
    Path(app_id): Path<String>,
    Body(req): Body<DtTypes>,
) -> Result<Json<DtTypes>, NativeError> {
    let app = AppId::parse(app_id).map_err(|_| Error::NotFound("app".into()))?;
    let mut types = Vec::with_capacity(req.types.len());
    for t in &req.types {
        let t = DtType::parse(t).ok_or_else(|| Error::invalid("types"))?;
        if !t.enabled_by_default() && !types.contains(&t) {
            types.push(t);
        }
    }
    types.sort();
    state.store.set_app_dt_types(&app, &types).await?;
    let enabled = DtType::ALL
        .into_iter()
        .filter(|t| t.enabled_by_default() || types.contains(t))
        .map(|t| t.as_str().to_owned())
        .collect();
    Ok(Json(DtTypes { types: enabled }))
}

/// A custom identity name.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct IdentityNameIn {
    /// 1–64 of `[A-Za-z0-9_]`, not a built-in name.
    pub name: String,
    /// Whether a user has at most one value (Growth `register` needs this).
    pub unique: bool,
    /// Resolution priority among custom names, 1 first (Growth `register` needs 1).
    pub priority: u32,
}

fn app_id(raw: String) -> Result<AppId, NativeError> {
    AppId::parse(raw).map_err(|_| Error::NotFound("app".into()).into())
}

async fn existing_app(state: &NativeState, raw: String) -> Result<AppId, NativeError> {
    let app = app_id(raw)?;
    if state.store.get_app(&app).await?.is_none() {
        return Err(Error::NotFound("app".into()).into());
    }
    Ok(app)
}

/// Creates a custom identity name.
#[utoipa::path(
    post, path = "/admin/v1/apps/{app_id}/identity_names", request_body = IdentityNameIn,
    security(("admin" = [])),
    params(("app_id" = String, Path, description = "App id")),
    responses((status = 201, body = IdentityNameIn), (status = 400, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody))
)]
pub(crate) async fn create_identity_name(
    State(state): State<NativeState>,
    _admin: AdminAuth,
    Path(app): Path<String>,
    Body(req): Body<IdentityNameIn>,
) -> Result<(StatusCode, Json<IdentityNameIn>), NativeError> {
    let app = existing_app(&state, app).await?;
    let name = IdentityName::custom(&req.name, req.unique, req.priority)?;
    state.store.create_identity_name(&app, &name).await?;
    Ok((StatusCode::CREATED, Json(req)))
}

/// A new UMS channel.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ChannelIn {
    /// Channel code; generated if absent.
    pub channel_code: Option<String>,
}

/// A UMS channel's credentials.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelOut {
    /// Basic-auth user.
    pub channel_key: String,
    /// Basic-auth password.
    pub channel_master_secret: String,
    /// Code.
    pub channel_code: String,
}

/// Creates a UMS channel.
#[utoipa::path(
    post, path = "/admin/v1/apps/{app_id}/ums/channels", request_body = ChannelIn,
    security(("admin" = [])),
    params(("app_id" = String, Path, description = "App id")),
    responses((status = 201, body = ChannelOut), (status = 409, body = crate::error::ErrorBody))
)]
pub(crate) async fn create_channel(
    State(state): State<NativeState>,
    _admin: AdminAuth,
    Path(app): Path<String>,
    Body(req): Body<ChannelIn>,
) -> Result<(StatusCode, Json<ChannelOut>), NativeError> {
    let app = existing_app(&state, app).await?;
    let code = req
        .channel_code
        .unwrap_or_else(|| format!("ch_{}", random_alnum(8)));
    if code.is_empty() || code.len() > 64 {
        return Err(Error::invalid("channel_code").into());
    }
    let out = ChannelOut {
        channel_key: random_hex(12),
        channel_master_secret: random_hex(12),
        channel_code: code,
    };
    state
        .store
        .create_ums_channel(
            &app,
            &out.channel_key,
            &out.channel_master_secret,
            &out.channel_code,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(out)))
}

/// A UMS sender.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct SenderIn {
    /// `app`, `wechatoa`, `wechatmp` or `alipaylife`.
    pub kind: String,
    /// Sender code; generated if absent.
    pub code: Option<String>,
}

/// Creates a UMS sender.
#[utoipa::path(
    post, path = "/admin/v1/apps/{app_id}/ums/senders", request_body = SenderIn,
    security(("admin" = [])),
    params(("app_id" = String, Path, description = "App id")),
    responses((status = 201, body = SenderIn), (status = 400, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody))
)]
pub(crate) async fn create_sender(
    State(state): State<NativeState>,
    _admin: AdminAuth,
    Path(app): Path<String>,
    Body(req): Body<SenderIn>,
) -> Result<(StatusCode, Json<SenderIn>), NativeError> {
    let app = existing_app(&state, app).await?;
    let kind = SenderKind::parse(&req.kind).ok_or_else(|| Error::invalid("kind"))?;
    let code = req
        .code
        .unwrap_or_else(|| format!("{}_{}", kind.as_str(), random_alnum(8)));
    if code.is_empty() || code.len() > 64 || code == "all" {
        return Err(Error::invalid("code").into());
    }
    state.store.create_ums_sender(&app, &code, kind).await?;
    Ok((
        StatusCode::CREATED,
        Json(SenderIn {
            kind: req.kind,
            code: Some(code),
        }),
    ))
}

/// Authorises a channel to write a sender's bindings.
#[utoipa::path(
    put, path = "/admin/v1/apps/{app_id}/ums/channels/{channel_key}/senders/{sender_code}",
    security(("admin" = [])),
    params(("app_id" = String, Path, description = "App id"), ("channel_key" = String, Path, description = "Channel"), ("sender_code" = String, Path, description = "Sender")),
    responses((status = 204, description = "Authorised"), (status = 404, body = crate::error::ErrorBody))
)]
pub(crate) async fn grant_sender(
    State(state): State<NativeState>,
    _admin: AdminAuth,
    Path(path): Path<(String, String, String)>,
) -> Result<StatusCode, NativeError> {
    let app = existing_app(&state, path.0).await?;
    state.store.grant_ums_sender(&app, &path.1, &path.2).await?;
    Ok(StatusCode::NO_CONTENT)
}
