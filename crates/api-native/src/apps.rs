//! The app lifecycle: list, show, rename, delete, rotate a dialect's secrets. The
//! functions before the handlers are shared with the CLI (`roster app …`), so both
//! answer alike.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use roster_core::app::{app_name, ROTATION_GRACE_DEFAULT_S, ROTATION_GRACE_MAX_S};
use roster_core::{App, AppId, Error, KeyDialect, KeySecret};
use roster_store::Store;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::AdminAuth;
use crate::error::{ErrorBody, NativeError};
use crate::json::Body;
use crate::{NativeState, UNAUTHENTICATED_ADMIN};

/// Apps per page unless `limit` says otherwise.
pub const DEFAULT_LIMIT: usize = 50;
/// Most apps a page may ask for.
pub const MAX_LIMIT: usize = 500;
// The literals of the OpenAPI parameters below.
const _: () = assert!(DEFAULT_LIMIT == 50 && MAX_LIMIT == 500);
const _: () = assert!(ROTATION_GRACE_DEFAULT_S == 86_400 && ROTATION_GRACE_MAX_S == 2_592_000);

/// One key of an app, never with its secret.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct KeyOut {
    /// The dialect it belongs to (`getui` also authenticates the native API).
    #[schema(value_type = String, example = "ums")]
    pub dialect: String,
    /// `getui`, `ums_access`, `ums_channel`, `growth` or `engagelab`.
    #[schema(example = "ums_access")]
    pub kind: String,
    /// The key id: Getui `app_key`, UMS access or channel key, Growth project id,
    /// EngageLab API key. It never changes; a rotation replaces only the secret.
    pub key: String,
    /// When the secret was issued, ms since the epoch.
    pub created_at: i64,
    /// For a secret a rotation replaced: when it stops working, ms. Absent for the
    /// current secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

/// An app as reads show it: name, creation time and its keys (current secrets and
/// replaced ones still in their grace), never a secret.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AppOut {
    /// The app id.
    pub app_id: String,
    /// Display name.
    pub name: String,
    /// Creation time, ms since the epoch.
    pub created_at: i64,
    /// Every key with a working secret: one entry per current secret, one per replaced
    /// secret still in its grace (with `expires_at`).
    pub keys: Vec<KeyOut>,
}

/// A page of apps, in app id order.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AppListOut {
    /// The apps.
    pub apps: Vec<AppOut>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// A rename. Unknown fields are refused.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppPatch {
    /// Display name, 1–128 characters once leading and trailing whitespace is trimmed.
    #[schema(min_length = 1, max_length = 128, pattern = "\\S")]
    pub name: Option<String>,
}

/// A secret a rotation issued, shown this once.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct NewSecretOut {
    /// `getui`, `ums_access`, `ums_channel`, `growth` or `engagelab`.
    pub kind: String,
    /// The key id, unchanged.
    pub key: String,
    /// The new secret. It is not shown again.
    pub secret: String,
    /// When it was issued, ms.
    pub created_at: i64,
}

// The secret never reaches a log through Debug.
impl std::fmt::Debug for NewSecretOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSecretOut")
            .field("kind", &self.kind)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// What a rotation did.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RotatedOut {
    /// The app.
    pub app_id: String,
    /// The dialect rotated.
    pub dialect: KeyDialect,
    /// The new secrets, one per key of the dialect (UMS: the access key and every
    /// channel key).
    pub secrets: Vec<NewSecretOut>,
    /// When the replaced secrets stop working, ms (now, for a grace of 0). Getui tokens
    /// issued before the rotation stop by then too.
    pub old_secrets_expire_at: i64,
}

fn key_out(k: &KeySecret) -> KeyOut {
    KeyOut {
        dialect: k.kind.dialect().as_str().to_owned(),
        kind: k.kind.as_str().to_owned(),
        key: k.key.clone(),
        created_at: k.created_at,
        expires_at: k.expires_at,
    }
}

/// An app as reads show it at `now`: replaced secrets past their grace are left out.
pub fn app_out(app: &App, now: i64) -> AppOut {
    AppOut {
        app_id: app.id().to_string(),
        name: app.name.clone(),
        created_at: app.created_at,
        keys: app
            .keys
            .iter()
            .filter(|k| k.live(now))
            .map(key_out)
            .collect(),
    }
}

fn not_found() -> Error {
    Error::NotFound("app".into())
}

fn app_id(raw: &str) -> Result<AppId, Error> {
    AppId::parse(raw).map_err(|_| not_found())
}

/// The opaque cursor after `app`.
fn cursor_after(app: &AppId) -> String {
    URL_SAFE_NO_PAD.encode(format!("app:{app}"))
}

/// The app a cursor names; a cursor this server did not hand out is refused.
fn cursor_app(cursor: &str) -> Result<AppId, Error> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("app:").and_then(|id| AppId::parse(id).ok()))
        .ok_or_else(|| Error::invalid("cursor"))
}

/// A page of apps: `limit` (1–500, default 50) after the app the cursor names.
pub async fn list(
    store: &dyn Store,
    cursor: Option<&str>,
    limit: Option<usize>,
    now: i64,
) -> Result<AppListOut, Error> {
    let after = cursor.map(cursor_app).transpose()?;
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(Error::invalid("limit"));
    }
    let page = store.list_apps(after.as_ref(), limit).await?;
    let next_cursor = page
        .more
        .then(|| page.apps.last().map(|a| cursor_after(a.id())))
        .flatten();
    Ok(AppListOut {
        apps: page.apps.iter().map(|a| app_out(a, now)).collect(),
        next_cursor,
    })
}

/// One app. Unknown: [`Error::NotFound`].
pub async fn show(store: &dyn Store, app: &str, now: i64) -> Result<AppOut, Error> {
    let app = app_id(app)?;
    let found = store.get_app(&app).await?.ok_or_else(not_found)?;
    Ok(app_out(&found, now))
}

/// Applies a patch (the name); answers the app as it is after.
pub async fn patch(
    store: &dyn Store,
    app: &str,
    patch: &AppPatch,
    now: i64,
) -> Result<AppOut, Error> {
    let id = app_id(app)?;
    if let Some(name) = &patch.name {
        if !store.rename_app(&id, &app_name(name)?).await? {
            return Err(not_found());
        }
    }
    show(store, app, now).await
}

/// Why a deletion was refused before anything was touched.
#[derive(Debug, PartialEq, Eq)]
pub enum DeleteRefused {
    /// No `confirm` was given.
    Unconfirmed,
    /// `confirm` is not the app id.
    WrongConfirm,
}

impl DeleteRefused {
    /// The explanation for the caller.
    pub fn message(&self, app: &str) -> String {
        let what = match self {
            DeleteRefused::Unconfirmed => "confirm is missing",
            DeleteRefused::WrongConfirm => "confirm is not this app's id",
        };
        format!(
            "{what}: deleting an app removes all its data and cannot be undone; repeat \
             its id to confirm (confirm={app})"
        )
    }
}

/// Deletes an app and all its data once `confirm` repeats its id.
pub async fn delete(
    store: &dyn Store,
    app: &str,
    confirm: Option<&str>,
) -> Result<Result<AppId, DeleteRefused>, Error> {
    match confirm {
        None => return Ok(Err(DeleteRefused::Unconfirmed)),
        Some(c) if c != app => return Ok(Err(DeleteRefused::WrongConfirm)),
        Some(_) => {}
    }
    let id = app_id(app)?;
    if !store.delete_app(&id).await? {
        return Err(not_found());
    }
    tracing::info!(app_id = %id, "app deleted");
    Ok(Ok(id))
}

/// Parses a dialect name.
pub fn dialect(raw: &str) -> Result<KeyDialect, Error> {
    KeyDialect::parse(raw).ok_or_else(|| Error::invalid("dialect"))
}

/// Issues new secrets for `dialect`; the replaced ones work `grace_seconds` more
/// (default 86,400; 0 to 2,592,000).
pub async fn rotate(
    store: &dyn Store,
    app: &str,
    dialect: KeyDialect,
    grace_seconds: Option<u64>,
    now: i64,
) -> Result<RotatedOut, Error> {
    let grace = grace_seconds.unwrap_or(ROTATION_GRACE_DEFAULT_S);
    if grace > ROTATION_GRACE_MAX_S {
        return Err(Error::invalid("grace_seconds"));
    }
    let id = app_id(app)?;
    let grace_ms = i64::try_from(grace * 1_000).unwrap_or(i64::MAX);
    let rotated = store.rotate_secrets(&id, dialect, now, grace_ms).await?;
    // The key ids only: a secret never reaches a log.
    tracing::info!(app_id = %id, dialect = dialect.as_str(), grace_s = grace, "secrets rotated");
    Ok(RotatedOut {
        app_id: id.to_string(),
        dialect,
        secrets: rotated
            .secrets
            .into_iter()
            .map(|k| NewSecretOut {
                kind: k.kind.as_str().to_owned(),
                key: k.key,
                secret: k.secret,
                created_at: k.created_at,
            })
            .collect(),
        old_secrets_expire_at: rotated.old_expire_at,
    })
}

/// The query of `GET /admin/v1/apps`, or of any other call taking the named
/// parameters; an unknown parameter is refused.
fn query(raw: Option<&str>, known: &[&str]) -> Result<Vec<(String, String)>, Error> {
    let mut out = Vec::new();
    for (k, v) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        if !known.contains(&&*k) {
            return Err(Error::invalid(format!("query parameter {k}")));
        }
        out.push((k.into_owned(), v.into_owned()));
    }
    Ok(out)
}

fn param<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn number(q: &[(String, String)], name: &str) -> Result<Option<u64>, Error> {
    param(q, name)
        .map(|v| v.parse::<u64>().map_err(|_| Error::invalid(name)))
        .transpose()
}

/// Lists apps in app id order, a page at a time.
#[utoipa::path(
    get, path = "/admin/v1/apps",
    security(("admin" = [])),
    params(
        ("cursor" = Option<String>, Query, description = "Opaque: the `next_cursor` of the previous page; absent for the first page"),
        ("limit" = Option<u32>, Query, description = "Apps per page, 1–500 (default 50)", minimum = 1, maximum = 500),
    ),
    responses(
        (status = 200, description = "A page of apps (key ids, never secrets) and the cursor of the next page", body = AppListOut),
        (status = 400, description = "A cursor this server did not hand out, a limit outside 1–500, or an unknown parameter (`invalid_param`)", body = ErrorBody),
        (status = 401, description = UNAUTHENTICATED_ADMIN, body = ErrorBody),
    )
)]
pub(crate) async fn list_apps(
    State(state): State<NativeState>,
    _admin: AdminAuth,
    RawQuery(raw): RawQuery,
) -> Result<Json<AppListOut>, NativeError> {
    let q = query(raw.as_deref(), &["cursor", "limit"])?;
    let limit = number(&q, "limit")?.map(|n| usize::try_from(n).unwrap_or(usize::MAX));
    let page = list(
        state.store.as_ref(),
        param(&q, "cursor"),
        limit,
        (state.clock)(),
    )
    .await?;
    Ok(Json(page))
}

/// An app: name, creation time, key ids and when each secret was issued (never a
/// secret).
#[utoipa::path(
    get, path = "/admin/v1/apps/{app_id}",
    security(("admin" = [])),
    params(("app_id" = String, Path, description = "App id")),
    responses(
        (status = 200, description = "The app", body = AppOut),
        (status = 401, description = UNAUTHENTICATED_ADMIN, body = ErrorBody),
        (status = 404, description = "No such app", body = ErrorBody),
    )
)]
pub(crate) async fn get_app(
    State(state): State<NativeState>,
    _admin: AdminAuth,
    Path(app): Path<String>,
) -> Result<Json<AppOut>, NativeError> {
    Ok(Json(
        show(state.store.as_ref(), &app, (state.clock)()).await?,
    ))
}

/// Changes an app's name.
#[utoipa::path(
    patch, path = "/admin/v1/apps/{app_id}", request_body = AppPatch,
    security(("admin" = [])),
    params(("app_id" = String, Path, description = "App id")),
    responses(
        (status = 200, description = "The app after the change", body = AppOut),
        (status = 400, description = "Blank or too long name, or an unknown field", body = ErrorBody),
        (status = 401, description = UNAUTHENTICATED_ADMIN, body = ErrorBody),
        (status = 404, description = "No such app", body = ErrorBody),
    )
)]
pub(crate) async fn patch_app(
    State(state): State<NativeState>,
    _admin: AdminAuth,
    Path(app): Path<String>,
    Body(req): Body<AppPatch>,
) -> Result<Json<AppOut>, NativeError> {
    let out = patch(state.store.as_ref(), &app, &req, (state.clock)()).await?;
    Ok(Json(out))
}

/// Deletes an app and ALL its data (devices, users, tags, credentials, jobs, change
/// log, limits) in one transaction. It cannot be undone without a backup, so the app id
/// must be repeated as `confirm`. Its credentials are refused at once by every dialect
/// (a Getui token within 0.5 s) and every node stops serving it.
#[utoipa::path(
    delete, path = "/admin/v1/apps/{app_id}",
    security(("admin" = [])),
    params(
        ("app_id" = String, Path, description = "App id"),
        ("confirm" = String, Query, description = "The app id again"),
    ),
    responses(
        (status = 204, description = "Deleted with all its data"),
        (status = 400, description = "`confirm` missing or not the app id, or an unknown parameter (`invalid_param`); nothing was deleted", body = ErrorBody),
        (status = 401, description = UNAUTHENTICATED_ADMIN, body = ErrorBody),
        (status = 404, description = "No such app", body = ErrorBody),
    )
)]
pub(crate) async fn delete_app(
    State(state): State<NativeState>,
    _admin: AdminAuth,
    Path(app): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<StatusCode, NativeError> {
    let q = query(raw.as_deref(), &["confirm"])?;
    match delete(state.store.as_ref(), &app, param(&q, "confirm")).await? {
        Ok(id) => {
            state.limiter.forget_app(&id);
            Ok(StatusCode::NO_CONTENT)
        }
        Err(refused) => Err(NativeError::invalid_param(refused.message(&app))),
    }
}

/// Issues new secrets for one dialect's keys (the key ids stay). The replaced secrets
/// keep working for `grace_seconds`, then stop; Getui tokens issued before stop by then
/// too. `getui` also renews the native API's `master_secret`; `ums` renews the access
/// secret and every channel's master secret. The new secrets are shown only here.
#[utoipa::path(
    post, path = "/admin/v1/apps/{app_id}/credentials/{dialect}/rotate",
    security(("admin" = [])),
    params(
        ("app_id" = String, Path, description = "App id"),
        ("dialect" = String, Path, description = "`getui`, `ums`, `growth` or `engagelab`"),
        ("grace_seconds" = Option<u64>, Query, description = "How long the replaced secrets keep working, 0–2592000 s (default 86400; 0 ends them at once)", minimum = 0, maximum = 2_592_000),
    ),
    responses(
        (status = 200, description = "The new secrets (shown once) and when the old ones stop", body = RotatedOut),
        (status = 400, description = "Unknown dialect, `grace_seconds` not a whole number from 0 to 2592000, or an unknown parameter (`invalid_param`); nothing changed", body = ErrorBody),
        (status = 401, description = UNAUTHENTICATED_ADMIN, body = ErrorBody),
        (status = 404, description = "No such app", body = ErrorBody),
    )
)]
pub(crate) async fn rotate_secrets(
    State(state): State<NativeState>,
    _admin: AdminAuth,
    Path((app, dialect_name)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Json<RotatedOut>, NativeError> {
    let q = query(raw.as_deref(), &["grace_seconds"])?;
    let d = dialect(&dialect_name)?;
    let grace = number(&q, "grace_seconds")?;
    let out = rotate(state.store.as_ref(), &app, d, grace, (state.clock)()).await?;
    Ok(Json(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_strangers_are_refused() {
        let app = AppId::generate();
        assert_eq!(cursor_app(&cursor_after(&app)), Ok(app));
        for bad in [
            "",
            "!!",
            "YXBwOg",
            "eHl6",
            &URL_SAFE_NO_PAD.encode("ap:abc"),
        ] {
            assert_eq!(cursor_app(bad), Err(Error::invalid("cursor")), "{bad}");
        }
    }

    #[test]
    fn a_refused_deletion_says_how_to_confirm() {
        let m = DeleteRefused::Unconfirmed.message("abc");
        assert!(m.contains("confirm=abc"), "{m}");
    }
}
