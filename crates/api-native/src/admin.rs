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
use crate::error::{ErrorBody, NativeError};
use crate::json::Body;
use crate::NativeState;
use crate::{BAD_PATH, UNAUTHENTICATED_ADMIN};

/// A new app. Unknown fields are refused.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApp {
    /// Display name, 1–128 characters once leading and trailing whitespace is trimmed.
    #[schema(min_length = 1, max_length = 128, pattern = "\\S")]
    pub name: String,
}

/// Creates an app and returns its credentials for every dialect.
#[utoipa::path(
    post, path = "/admin/v1/apps", request_body = CreateApp,
    security(("admin" = [])),
    responses(
        (status = 201, description = "The app's id and its credentials for every dialect", body = AppCredentials),
        (status = 400, description = "Missing, blank, too long or unknown field", body = ErrorBody),
        (status = 401, description = UNAUTHENTICATED_ADMIN, body = ErrorBody),
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

/// This node's view of the change log.
#[derive(Debug, Serialize, ToSchema)]
pub struct NodeOut {
    /// Whether the node's last look at the store succeeded; when `false`, the seqs are
    /// as last seen and `lag_ms` counts from then.
    pub store_reachable: bool,
    /// Per app.
    pub apps: Vec<AppProgressOut>,
}

/// How far this node has applied one app's changes.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppProgressOut {
    /// The app.
    pub app_id: String,
    /// The seq up to which this node has applied the app's changes (its counts and
    /// listings reflect exactly these).
    pub applied_seq: u64,
    /// The app's newest seq in the store.
    pub store_seq: u64,
    /// How long ago the oldest change this node has not applied was committed, ms
    /// (0 when caught up).
    pub lag_ms: u64,
}

/// This node's progress through each app's change log: applied seq, the store's newest
/// seq and the lag.
#[utoipa::path(
    get, path = "/admin/v1/node",
    security(("admin" = [])),
    responses(
        (status = 200, description = "Per app: applied seq, newest seq in the store, lag", body = NodeOut),
        (status = 401, description = UNAUTHENTICATED_ADMIN, body = ErrorBody),
    )
)]
pub(crate) async fn node(
    State(state): State<NativeState>,
    _admin: AdminAuth,
) -> Result<Json<NodeOut>, NativeError> {
    let p = state.store.node_progress((state.clock)()).await?;
    Ok(Json(NodeOut {
        store_reachable: p.store_reachable,
        apps: p
            .apps
            .into_iter()
            .map(|a| AppProgressOut {
                app_id: a.app_id,
                applied_seq: a.applied_seq,
                store_seq: a.store_seq,
                lag_ms: a.lag_ms,
            })
            .collect(),
    }))
}

/// Getui `bind_dt` channels enabled for an app beyond `wx`, which is always on.
/// Unknown fields are refused.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DtTypes {
    /// Channel types: `hw`, `hwq`, `ho`, `xm`, `op`, `opg`, `vv`, `mz`, `fcm`, `st`, `sn`,
    /// `ios` (`wx` is accepted and always on).
    pub types: Vec<DtType>,
}

/// Replaces the set of vendor channels the app may bind through Getui `bind_dt`.
#[utoipa::path(
    put, path = "/admin/v1/apps/{app_id}/getui/bind_dt_types", request_body = DtTypes,
    security(("admin" = [])),
    params(("app_id" = String, Path, description = "App id")),
    responses(
        (status = 200, description = "Every enabled type, `wx` included", body = DtTypes),
        (status = 400, description = "Unknown type or field", body = ErrorBody),
        (status = 401, description = UNAUTHENTICATED_ADMIN, body = ErrorBody),
        (status = 404, description = "No such app", body = ErrorBody),
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
    for t in req.types {
        if !t.enabled_by_default() && !types.contains(&t) {
            types.push(t);
        }
    }
    types.sort();
    state.store.set_app_dt_types(&app, &types).await?;
    let enabled = DtType::ALL
        .into_iter()
        .filter(|t| t.enabled_by_default() || types.contains(t))
        .collect();
    Ok(Json(DtTypes { types: enabled }))
}

/// A custom identity name. Unknown fields are refused.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityNameIn {
    /// 1–64 of `[A-Za-z0-9_]`; a built-in name (`user_id`, `anonymous_id`,
    /// `registration_id`) already exists.
    #[schema(pattern = "^[A-Za-z0-9_]{1,64}$")]
    pub name: String,
    /// Whether a user has at most one value (Growth `register` needs this).
    pub unique: bool,
    /// Resolution priority among custom names, 1 first (Growth `register` needs 1).
    #[schema(value_type = i64, minimum = 1, maximum = 4294967295_i64)]
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
    responses(
        (status = 201, description = "Created", body = IdentityNameIn),
        (status = 400, description = "Invalid, missing or unknown field", body = ErrorBody),
        (status = 401, description = UNAUTHENTICATED_ADMIN, body = ErrorBody),
        (status = 404, description = "No such app", body = ErrorBody),
        (status = 409, description = "The name already exists (built-in names always do)", body = ErrorBody),
    )
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

/// Longest channel or sender code, in characters.
const CODE_MAX: usize = 64;
// The `max_length` of the codes in `ChannelIn` and `SenderIn` (literals in the schema).
const _: () = assert!(CODE_MAX == 64);

/// A channel or sender code of 1–64 characters.
fn valid_code(code: &str) -> bool {
    !code.is_empty() && code.chars().count() <= CODE_MAX
}

/// A new UMS channel. Unknown fields are refused.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelIn {
    /// Channel code, 1–64 characters; generated if absent.
    #[schema(min_length = 1, max_length = 64)]
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
    responses(
        (status = 201, description = "The channel's credentials", body = ChannelOut),
        (status = 400, description = "Invalid or unknown field", body = ErrorBody),
        (status = 401, description = UNAUTHENTICATED_ADMIN, body = ErrorBody),
        (status = 404, description = "No such app", body = ErrorBody),
        (status = 409, description = "The channel code is taken", body = ErrorBody),
    )
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
    if !valid_code(&code) {
        return Err(Error::invalid("channel_code").into());
    }
    let out = ChannelOut {
        channel_key: random_hex(12),
        channel_master_secret: roster_core::CredentialKind::UmsChannel.new_secret(),
        channel_code: code,
    };
    state
        .store
        .create_ums_channel(
            &app,
            &out.channel_key,
            &out.channel_master_secret,
            &out.channel_code,
            (state.clock)(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(out)))
}

/// A new UMS sender. Unknown fields are refused.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SenderIn {
    /// `app`, `wechatoa`, `wechatmp` or `alipaylife`.
    pub kind: SenderKind,
    /// Sender code, 1–64 characters other than the reserved `all`; generated if absent.
    #[schema(min_length = 1, max_length = 64, pattern = "^(?!all$)")]
    pub code: Option<String>,
}

/// A UMS sender.
#[derive(Debug, Serialize, ToSchema)]
pub struct SenderOut {
    /// Its kind.
    pub kind: SenderKind,
    /// Its code.
    pub code: String,
}

/// Creates a UMS sender.
#[utoipa::path(
    post, path = "/admin/v1/apps/{app_id}/ums/senders", request_body = SenderIn,
    security(("admin" = [])),
    params(("app_id" = String, Path, description = "App id")),
    responses(
        (status = 201, description = "The sender", body = SenderOut),
        (status = 400, description = "Invalid, missing or unknown field", body = ErrorBody),
        (status = 401, description = UNAUTHENTICATED_ADMIN, body = ErrorBody),
        (status = 404, description = "No such app", body = ErrorBody),
        (status = 409, description = "The sender code is taken", body = ErrorBody),
    )
)]
pub(crate) async fn create_sender(
    State(state): State<NativeState>,
    _admin: AdminAuth,
    Path(app): Path<String>,
    Body(req): Body<SenderIn>,
) -> Result<(StatusCode, Json<SenderOut>), NativeError> {
    let app = existing_app(&state, app).await?;
    let code = req
        .code
        .unwrap_or_else(|| format!("{}_{}", req.kind.as_str(), random_alnum(8)));
    if !valid_code(&code) || code == "all" {
        return Err(Error::invalid("code").into());
    }
    state.store.create_ums_sender(&app, &code, req.kind).await?;
    Ok((
        StatusCode::CREATED,
        Json(SenderOut {
            kind: req.kind,
            code,
        }),
    ))
}

/// Authorises a channel to write a sender's bindings.
#[utoipa::path(
    put, path = "/admin/v1/apps/{app_id}/ums/channels/{channel_key}/senders/{sender_code}",
    security(("admin" = [])),
    params(("app_id" = String, Path, description = "App id"), ("channel_key" = String, Path, description = "Channel"), ("sender_code" = String, Path, description = "Sender")),
    responses(
        (status = 204, description = "Authorised (again, if it was)"),
        (status = 400, description = BAD_PATH, body = ErrorBody),
        (status = 401, description = UNAUTHENTICATED_ADMIN, body = ErrorBody),
        (status = 404, description = "No such app, channel or sender", body = ErrorBody),
    )
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
