//! An app's rate limits and quotas, read and changed by the admin
//! (`/admin/v1/apps/{app_id}/limits`); the CLI prints the same report.

use axum::extract::{Path, State};
use axum::Json;
use roster_core::quota::{time_zone, Action, Span, Windows, MAX_LIMIT};
use roster_core::{AppId, Error};
use roster_store::quota::{AppLimits, Limiter};
use roster_store::Store;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use crate::auth::AdminAuth;
use crate::error::{ErrorBody, NativeError};
use crate::json::Body;
use crate::NativeState;
use crate::{BAD_PATH, UNAUTHENTICATED_ADMIN};

/// An app's limits: its day boundary and, per action, the windows in force, the
/// vendor's values and what has been used.
#[derive(Debug, Serialize, ToSchema)]
pub struct LimitsOut {
    /// The IANA time zone whose midnight ends a quota's day (default `Asia/Shanghai`).
    #[schema(example = "Asia/Shanghai")]
    pub time_zone: String,
    /// One entry per action, always in the same order: `getui_auth`,
    /// `getui_tag_overwrite`, `getui_tag_batch`, `getui_bind_dt`, `getui_call`,
    /// `growth_register`, `engagelab_profile`, `native_request`.
    pub limits: Vec<LimitOut>,
}

/// One action's limits. A window that does not apply, or is switched off, is `null`.
#[derive(Debug, Serialize, ToSchema)]
pub struct LimitOut {
    /// The action.
    #[schema(example = "getui_tag_batch")]
    pub action: String,
    /// Calls in any one second.
    pub per_second: Option<u64>,
    /// Calls in any one minute.
    pub per_minute: Option<u64>,
    /// Calls in one calendar day of the app's time zone.
    pub per_day: Option<u64>,
    /// Calls naming one cid in one calendar day (`getui_tag_overwrite` only).
    pub per_cid_per_day: Option<u64>,
    /// The vendor's values (`DELETE` restores them).
    pub default: WindowsOut,
    /// Calls counted in each window in force (`null` where none is): the sliding
    /// second and minute on the node that answers, the day (over every cid) on all.
    pub used: UsedOut,
}

/// An action's windows; `null` where a window does not apply.
#[derive(Debug, Serialize, ToSchema)]
pub struct WindowsOut {
    /// Calls in any one second.
    pub per_second: Option<u64>,
    /// Calls in any one minute.
    pub per_minute: Option<u64>,
    /// Calls in one calendar day.
    pub per_day: Option<u64>,
    /// Calls naming one cid in one calendar day.
    pub per_cid_per_day: Option<u64>,
}

impl From<Windows> for WindowsOut {
    fn from(w: Windows) -> Self {
        WindowsOut {
            per_second: w.per_second,
            per_minute: w.per_minute,
            per_day: w.per_day,
            per_cid_per_day: w.per_cid_per_day,
        }
    }
}

/// Calls counted so far in each window in force.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsedOut {
    /// In the last second, on this node.
    pub second: Option<u64>,
    /// In the last minute, on this node.
    pub minute: Option<u64>,
    /// Today, in the app's time zone.
    pub day: Option<u64>,
}

/// Where a report is made: on a node (its limiter gives the sliding windows and the
/// server's default zone) or from the CLI (no sliding windows: they show `null`).
#[derive(Clone, Copy)]
pub enum View<'a> {
    /// On a serving node.
    Node(&'a Limiter),
    /// Off-line, with the configured default zone.
    Store(chrono_tz::Tz),
}

/// The report of `app`'s limits as seen from `view`.
pub async fn report(store: &dyn Store, view: View<'_>, app: &AppId) -> Result<LimitsOut, Error> {
    let limits = settings(store, app).await?;
    let mut out = Vec::with_capacity(Action::ALL.len());
    for action in Action::ALL {
        out.push(entry(store, view, app, &limits, action).await?);
    }
    Ok(LimitsOut {
        time_zone: limits.zone(default_zone(view)).name().to_owned(),
        limits: out,
    })
}

fn default_zone(view: View<'_>) -> chrono_tz::Tz {
    match view {
        View::Node(l) => l.default_zone(),
        View::Store(z) => z,
    }
}

/// One action's entry of [`report`].
pub async fn action_report(
    store: &dyn Store,
    view: View<'_>,
    app: &AppId,
    action: Action,
) -> Result<LimitOut, Error> {
    entry(store, view, app, &settings(store, app).await?, action).await
}

async fn settings(store: &dyn Store, app: &AppId) -> Result<AppLimits, Error> {
    store
        .app_limits(app)
        .await
        .map_err(Error::from)?
        .ok_or_else(|| Error::NotFound("app".into()))
}

async fn entry(
    store: &dyn Store,
    view: View<'_>,
    app: &AppId,
    limits: &AppLimits,
    action: Action,
) -> Result<LimitOut, Error> {
    let w = limits.windows(action);
    let short = |on: Option<u64>, span: Span| match view {
        View::Node(l) => on.map(|_| l.used(app, action, span)),
        View::Store(_) => None,
    };
    let day = if w.per_day.is_some() || w.per_cid_per_day.is_some() {
        let now = match view {
            View::Node(l) => l.now(),
            View::Store(_) => roster_core::time::now_ms(),
        };
        let zone = limits.zone(default_zone(view));
        let (day, _) = roster_core::quota::calendar_day(now, zone);
        Some(
            store
                .daily_used(app, action, day)
                .await
                .map_err(Error::from)?,
        )
    } else {
        None
    };
    Ok(LimitOut {
        action: action.as_str().to_owned(),
        per_second: w.per_second,
        per_minute: w.per_minute,
        per_day: w.per_day,
        per_cid_per_day: w.per_cid_per_day,
        default: action.defaults().into(),
        used: UsedOut {
            second: short(w.per_second, Span::Second),
            minute: short(w.per_minute, Span::Minute),
            day,
        },
    })
}

/// `Some(value)` for a field that is present, `null` included (absent stays `None`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// Changes to one action's windows: a number sets a window, `null` switches it off, a
/// field left out keeps its value. Unknown fields are refused.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsIn {
    /// Calls in any one second.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u64>, maximum = 1_000_000_000_000_u64)]
    pub per_second: Option<Option<u64>>,
    /// Calls in any one minute.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u64>, maximum = 1_000_000_000_000_u64)]
    pub per_minute: Option<Option<u64>>,
    /// Calls in one calendar day of the app's time zone.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u64>, maximum = 1_000_000_000_000_u64)]
    pub per_day: Option<Option<u64>>,
    /// Calls naming one cid in one calendar day (`getui_tag_overwrite` only).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u64>, maximum = 1_000_000_000_000_u64)]
    pub per_cid_per_day: Option<Option<u64>>,
}

impl LimitsIn {
    /// `current` with these changes, checked for `action`.
    pub fn apply(&self, action: Action, current: Windows) -> Result<Windows, Error> {
        let pick = |given: Option<Option<u64>>, was: Option<u64>, name: &str| match given {
            None => Ok(was),
            Some(Some(n)) if n > MAX_LIMIT => Err(Error::invalid(name)),
            Some(v) => Ok(v),
        };
        let w = Windows {
            per_second: pick(self.per_second, current.per_second, "per_second")?,
            per_minute: pick(self.per_minute, current.per_minute, "per_minute")?,
            per_day: pick(self.per_day, current.per_day, "per_day")?,
            per_cid_per_day: pick(
                self.per_cid_per_day,
                current.per_cid_per_day,
                "per_cid_per_day",
            )?,
        };
        if w.per_cid_per_day.is_some() && !action.per_cid() {
            return Err(Error::invalid("per_cid_per_day"));
        }
        Ok(w)
    }
}

/// An app's day boundary. Unknown fields are refused.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeZoneIn {
    /// An IANA time zone name, e.g. `Asia/Shanghai` or `Europe/London`.
    #[schema(example = "Europe/London")]
    pub time_zone: String,
}

/// Changes one action's windows of one app (every other window keeps its value), or
/// sets its day boundary; shared by the admin API and the CLI.
pub async fn set(
    store: &dyn Store,
    app: &AppId,
    action: Action,
    change: &LimitsIn,
) -> Result<(), Error> {
    let current = settings(store, app).await?;
    let w = change.apply(action, current.windows(action))?;
    if !store
        .set_limits(app, action, &w)
        .await
        .map_err(Error::from)?
    {
        return Err(Error::NotFound("app".into()));
    }
    Ok(())
}

/// Restores an action's vendor values; shared by the admin API and the CLI.
pub async fn reset(store: &dyn Store, app: &AppId, action: Action) -> Result<(), Error> {
    if !store.reset_limits(app, action).await.map_err(Error::from)? {
        return Err(Error::NotFound("app".into()));
    }
    Ok(())
}

/// Sets an app's day boundary; shared by the admin API and the CLI.
pub async fn set_time_zone(store: &dyn Store, app: &AppId, zone: &str) -> Result<(), Error> {
    let zone = time_zone(zone.trim())?;
    if !store
        .set_time_zone(app, zone.name())
        .await
        .map_err(Error::from)?
    {
        return Err(Error::NotFound("app".into()));
    }
    Ok(())
}

fn app_of(raw: String) -> Result<AppId, NativeError> {
    AppId::parse(raw).map_err(|_| Error::NotFound("app".into()).into())
}

fn action_of(raw: &str) -> Result<Action, NativeError> {
    Action::parse(raw).ok_or_else(|| Error::NotFound("limit action".into()).into())
}

async fn one(state: &NativeState, app: &AppId, action: Action) -> Result<LimitOut, NativeError> {
    Ok(action_report(
        state.store.as_ref(),
        View::Node(&state.limiter),
        app,
        action,
    )
    .await?)
}

/// An app's limits: its time zone and every action's windows, vendor values and use.
#[utoipa::path(
    get, path = "/admin/v1/apps/{app_id}/limits",
    security(("admin" = [])),
    params(("app_id" = String, Path, description = "App id")),
    responses(
        (status = 200, description = "Every action's limits, in a fixed order", body = LimitsOut),
        (status = 401, description = UNAUTHENTICATED_ADMIN, body = ErrorBody),
        (status = 404, description = "No such app", body = ErrorBody),
    )
)]
pub(crate) async fn show(
    State(state): State<NativeState>,
    _admin: AdminAuth,
    Path(app): Path<String>,
) -> Result<Json<LimitsOut>, NativeError> {
    let app = app_of(app)?;
    Ok(Json(
        report(state.store.as_ref(), View::Node(&state.limiter), &app).await?,
    ))
}

/// Sets an app's day boundary: daily quotas reset at midnight in this zone.
#[utoipa::path(
    put, path = "/admin/v1/apps/{app_id}/limits", request_body = TimeZoneIn,
    security(("admin" = [])),
    params(("app_id" = String, Path, description = "App id")),
    responses(
        (status = 200, description = "The app's limits with the new zone", body = LimitsOut),
        (status = 400, description = "Unknown time zone or field (`invalid_param`)", body = ErrorBody),
        (status = 401, description = UNAUTHENTICATED_ADMIN, body = ErrorBody),
        (status = 404, description = "No such app", body = ErrorBody),
    )
)]
pub(crate) async fn put_time_zone(
    State(state): State<NativeState>,
    _admin: AdminAuth,
    Path(app): Path<String>,
    Body(req): Body<TimeZoneIn>,
) -> Result<Json<LimitsOut>, NativeError> {
    let app = app_of(app)?;
    set_time_zone(state.store.as_ref(), &app, &req.time_zone).await?;
    state.limiter.forget(&app);
    tracing::info!(app_id = %app, "rate limit time zone changed");
    Ok(Json(
        report(state.store.as_ref(), View::Node(&state.limiter), &app).await?,
    ))
}

/// Changes one action's windows for one app, at once on this node and within a second
/// on every other.
#[utoipa::path(
    put, path = "/admin/v1/apps/{app_id}/limits/{action}", request_body = LimitsIn,
    security(("admin" = [])),
    params(
        ("app_id" = String, Path, description = "App id"),
        ("action" = String, Path, description = "`getui_auth`, `getui_tag_overwrite`, \
            `getui_tag_batch`, `getui_bind_dt`, `getui_call`, `growth_register`, \
            `engagelab_profile` or `native_request`"),
    ),
    responses(
        (status = 200, description = "The action's limits as now in force", body = LimitOut),
        (status = 400, description = "A window that is not a whole number from 0 to 10¹², \
            `per_cid_per_day` on an action that names no cid, or an unknown field \
            (`invalid_param`)", body = ErrorBody),
        (status = 401, description = UNAUTHENTICATED_ADMIN, body = ErrorBody),
        (status = 404, description = "No such app or action", body = ErrorBody),
    )
)]
pub(crate) async fn put_action(
    State(state): State<NativeState>,
    _admin: AdminAuth,
    Path((app, action)): Path<(String, String)>,
    Body(req): Body<LimitsIn>,
) -> Result<Json<LimitOut>, NativeError> {
    let app = app_of(app)?;
    let action = action_of(&action)?;
    set(state.store.as_ref(), &app, action, &req).await?;
    state.limiter.forget(&app);
    tracing::info!(app_id = %app, action = action.as_str(), "rate limits changed");
    Ok(Json(one(&state, &app, action).await?))
}

/// Restores the vendor's values of one action for one app.
#[utoipa::path(
    delete, path = "/admin/v1/apps/{app_id}/limits/{action}",
    security(("admin" = [])),
    params(
        ("app_id" = String, Path, description = "App id"),
        ("action" = String, Path, description = "The action, as in `PUT`"),
    ),
    responses(
        (status = 200, description = "The action's limits, the vendor's again", body = LimitOut),
        (status = 400, description = BAD_PATH, body = ErrorBody),
        (status = 401, description = UNAUTHENTICATED_ADMIN, body = ErrorBody),
        (status = 404, description = "No such app or action", body = ErrorBody),
    )
)]
pub(crate) async fn delete_action(
    State(state): State<NativeState>,
    _admin: AdminAuth,
    Path((app, action)): Path<(String, String)>,
) -> Result<Json<LimitOut>, NativeError> {
    let app = app_of(app)?;
    let action = action_of(&action)?;
    reset(state.store.as_ref(), &app, action).await?;
    state.limiter.forget(&app);
    tracing::info!(app_id = %app, action = action.as_str(), "rate limits restored");
    Ok(Json(one(&state, &app, action).await?))
}
