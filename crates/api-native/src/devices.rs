//! Device registration, events and lookup.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use roster_core::device::validate_region;
use roster_core::time::getui_datetime;
use roster_core::{limits, Cid, Device, DeviceEvent, DeviceKind, DeviceUpsert, Error, PhoneType};
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{ArrayBuilder, Schema};
use utoipa::openapi::{Ref, RefOr};
use utoipa::ToSchema;

use crate::auth::AppAuth;
use crate::error::{ErrorBody, NativeError};
use crate::json::{Bodies, Body};
use crate::wire::DeviceStatus;
use crate::NativeState;
use crate::{BAD_PATH, UNAUTHENTICATED_APP};

/// Longest free-text field (brand, model, package…) accepted, in characters.
const TEXT_MAX: usize = limits::DEVICE_TEXT_MAX;
// The `max_length` of `DeviceIn`'s text fields (a literal, as the schema attribute needs).
const _: () = assert!(TEXT_MAX == 256);

/// One device to insert or update. On update, absent fields keep their value. Unknown
/// fields are refused.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceIn {
    /// 1–64 printable ASCII characters without `,` or `/`; generated (32 hex) if absent.
    #[schema(pattern = "^[!-+\\-.0-~]{1,64}$")]
    pub cid: Option<String>,
    /// `app` (default) or `mini_program` (a WeChat mini-program user, bound by Getui `bind_dt/wx`).
    pub kind: Option<DeviceKind>,
    /// `android` or `ios`; required for a new device.
    pub phone_type: Option<PhoneType>,
    /// Vendor brand prefix: `hw`, `xm`, `mz`, `op`, `vv`, `iphone`…
    #[schema(max_length = 256)]
    pub brand: Option<String>,
    /// Device model.
    #[schema(max_length = 256)]
    pub phone_model: Option<String>,
    /// App package name.
    #[schema(max_length = 256)]
    pub package_name: Option<String>,
    /// Client app id.
    #[schema(max_length = 256)]
    pub client_app_id: Option<String>,
    /// Vendor push token.
    #[schema(max_length = 256)]
    pub device_token: Option<String>,
    /// System notification switch; on by default.
    pub notification_switch: Option<bool>,
    /// 8-digit region code: `PP000000` province, `PPCC0000` city.
    #[schema(pattern = "^[0-9]{8}$")]
    pub region: Option<String>,
    /// App version.
    #[schema(max_length = 256)]
    pub app_version: Option<String>,
    /// OS version.
    #[schema(max_length = 256)]
    pub os: Option<String>,
    /// Free-form properties, merged into the stored ones.
    #[schema(value_type = Option<Object>)]
    pub properties: Option<serde_json::Map<String, serde_json::Value>>,
    /// Registration time, ms (positive, not in the future), as a device migrated from
    /// a vendor brings it; a new device without it registers now. Set as given.
    #[schema(minimum = 1)]
    pub create_time: Option<i64>,
    /// Last login time, ms (positive, not in the future, not before `create_time`); a
    /// new device without it last logged in at its registration. Set as given.
    #[schema(minimum = 1)]
    pub last_login_time: Option<i64>,
}

/// The upsert body's schema: 1 to 1,000 devices, upserted atomically; a cid may appear
/// once. (The handler reads it as `Bodies<DeviceIn>`.)
pub struct DeviceBatch;

impl utoipa::ToSchema for DeviceBatch {}

impl utoipa::PartialSchema for DeviceBatch {
    fn schema() -> RefOr<Schema> {
        ArrayBuilder::new()
            .description(Some(
                "1 to 1,000 devices, upserted atomically; a cid may appear once.",
            ))
            .items(Ref::from_schema_name("DeviceIn"))
            .min_items(Some(1))
            .max_items(Some(limits::DEVICE_UPSERT_BATCH))
            .into()
    }
}

/// The cids of the upserted devices, in input order.
#[derive(Debug, Serialize, ToSchema)]
pub struct UpsertReply {
    /// cids in input order.
    pub cids: Vec<String>,
}

fn text(v: Option<String>, field: &str, i: usize) -> Result<Option<String>, Error> {
    match v {
        Some(s) if s.chars().count() > TEXT_MAX => Err(Error::over_limit(format!("[{i}].{field}"))),
        other => Ok(other),
    }
}

/// A history time of a migrated device: positive and not after `now`.
fn past(v: Option<i64>, field: &str, i: usize, now: i64) -> Result<Option<i64>, Error> {
    match v {
        Some(t) if t <= 0 || t > now => Err(Error::invalid(format!("[{i}].{field}"))),
        other => Ok(other),
    }
}

fn to_upsert(i: usize, d: DeviceIn, now: i64) -> Result<DeviceUpsert, Error> {
    let create_time = past(d.create_time, "create_time", i, now)?;
    let last_login_time = past(d.last_login_time, "last_login_time", i, now)?;
    if let (Some(c), Some(l)) = (create_time, last_login_time) {
        if l < c {
            return Err(Error::invalid(format!("[{i}].last_login_time")));
        }
    }
    let cid = match d.cid {
        Some(c) => Some(Cid::parse(c).map_err(|_| Error::invalid(format!("[{i}].cid")))?),
        None => None,
    };
    if let Some(r) = &d.region {
        validate_region(r).map_err(|_| Error::invalid(format!("[{i}].region")))?;
    }
    Ok(DeviceUpsert {
        cid,
        kind: d.kind,
        phone_type: d.phone_type,
        brand: text(d.brand, "brand", i)?,
        phone_model: text(d.phone_model, "phone_model", i)?,
        package_name: text(d.package_name, "package_name", i)?,
        client_app_id: text(d.client_app_id, "client_app_id", i)?,
        device_token: text(d.device_token, "device_token", i)?,
        notification_switch: d.notification_switch,
        region: d.region,
        app_version: text(d.app_version, "app_version", i)?,
        os: text(d.os, "os", i)?,
        properties: d.properties,
        create_time,
        last_login_time,
    })
}

/// Inserts or updates up to 1,000 devices atomically.
#[utoipa::path(
    post, path = "/api/v1/apps/{app_id}/devices", request_body = DeviceBatch,
    security(("app" = [])),
    params(("app_id" = String, Path, description = "App id")),
    responses(
        (status = 200, description = "The devices' cids, in input order", body = UpsertReply),
        (status = 400, description = "Invalid, unknown, duplicate or missing field (`phone_type` of a new device), or more than 1,000 devices", body = ErrorBody),
        (status = 401, description = UNAUTHENTICATED_APP, body = ErrorBody),
    )
)]
pub(crate) async fn upsert(
    State(state): State<NativeState>,
    auth: AppAuth,
    Bodies(devices): Bodies<DeviceIn>,
) -> Result<Json<UpsertReply>, NativeError> {
    if devices.is_empty() {
        return Err(Error::empty("devices").into());
    }
    if devices.len() > limits::DEVICE_UPSERT_BATCH {
        return Err(Error::over_limit("devices").into());
    }
    let now = (state.clock)();
    let mut seen = std::collections::HashSet::new();
    let mut upserts = Vec::with_capacity(devices.len());
    for (i, d) in devices.into_iter().enumerate() {
        let u = to_upsert(i, d, now)?;
        if let Some(c) = &u.cid {
            if !seen.insert(c.clone()) {
                return Err(Error::duplicate("cid").into());
            }
        }
        upserts.push(u);
    }
    let cids = state.store.upsert_devices(&auth.app, &upserts, now).await?;
    Ok(Json(UpsertReply {
        cids: cids.into_iter().map(String::from).collect(),
    }))
}

/// What happened to a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    /// The cid connected.
    Online,
    /// The cid disconnected.
    Offline,
    /// The app was opened: counts towards `login_freq`, sets `last_login_time` (the
    /// latest login seen: an older `at` does not move it back), and brings the cid
    /// online.
    Login,
    /// The device opened push copy (`text`): the engagement smart crowds score.
    Open,
}

/// A device event. Unknown fields are refused.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventIn {
    /// `online`, `offline`, `login` or `open`.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// For `open` (required there, refused elsewhere): the topic and content the device
    /// opened, 1–1,000 characters.
    #[schema(min_length = 1, max_length = 1000)]
    pub text: Option<String>,
    /// When it happened, ms since the epoch (positive); now if absent. A past login
    /// records that login, as a device migrated with its history needs.
    #[schema(minimum = 1)]
    pub at: Option<i64>,
}

/// Records an online, offline, login or open event.
#[utoipa::path(
    post, path = "/api/v1/apps/{app_id}/devices/{cid}/events", request_body = EventIn,
    security(("app" = [])),
    params(("app_id" = String, Path, description = "App id"), ("cid" = String, Path, description = "Device")),
    responses(
        (status = 204, description = "Recorded"),
        (status = 400, description = "Invalid or unknown field; `text` missing on `open` or given on another type", body = ErrorBody),
        (status = 401, description = UNAUTHENTICATED_APP, body = ErrorBody),
        (status = 404, description = "No such device in this app (`unknown_target`)", body = ErrorBody),
    )
)]
pub(crate) async fn event(
    State(state): State<NativeState>,
    auth: AppAuth,
    Path(path): Path<(String, String)>,
    Body(ev): Body<EventIn>,
) -> Result<StatusCode, NativeError> {
    let cid = Cid::parse(path.1).map_err(|_| Error::UnknownTarget)?;
    let now = (state.clock)();
    let at = ev.at.unwrap_or(now);
    if at <= 0 {
        return Err(Error::invalid("at").into());
    }
    let status = match ev.kind {
        EventType::Online => DeviceEvent::Online,
        EventType::Offline => DeviceEvent::Offline,
        EventType::Login => DeviceEvent::Login,
        EventType::Open => {
            let text = ev.text.ok_or_else(|| Error::empty("text"))?;
            state.store.record_open(&auth.app, &cid, &text, at).await?;
            return Ok(StatusCode::NO_CONTENT);
        }
    };
    if ev.text.is_some() {
        return Err(Error::invalid("text").into());
    }
    state
        .store
        .record_device_event(&auth.app, &cid, status, at)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A stored device.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceOut {
    /// Its id.
    pub cid: String,
    /// `app` or `mini_program`.
    pub kind: DeviceKind,
    /// `android` or `ios`.
    pub phone_type: PhoneType,
    /// Brand prefix, `unknown` if not known.
    pub brand: String,
    /// Model.
    pub phone_model: Option<String>,
    /// Package name.
    pub package_name: Option<String>,
    /// Client app id.
    pub client_app_id: Option<String>,
    /// Vendor token.
    pub device_token: Option<String>,
    /// Notification switch.
    pub notification_switch: bool,
    /// Region code.
    pub region: Option<String>,
    /// App version.
    pub app_version: Option<String>,
    /// OS version.
    pub os: Option<String>,
    /// Properties.
    #[schema(value_type = Object)]
    pub properties: serde_json::Map<String, serde_json::Value>,
    /// `online` or `offline`.
    pub status: DeviceStatus,
    /// First login, ms.
    pub create_time: i64,
    /// First login as `YYYY-MM-DD HH:MM:SS` (UTC+8).
    pub create_time_text: String,
    /// Last login, ms.
    pub last_login_time: i64,
    /// Days with a login within the last 100 days.
    pub login_freq: i64,
    /// Badge.
    pub badge: i64,
    /// Blacklisted.
    pub blacklisted: bool,
    /// Alias.
    pub alias: Option<String>,
    /// Custom tags.
    pub tags: Vec<String>,
}

impl From<Device> for DeviceOut {
    fn from(d: Device) -> Self {
        DeviceOut {
            brand: d.getui_brand().to_owned(),
            cid: d.cid.into(),
            kind: d.kind,
            phone_type: d.phone_type,
            phone_model: d.phone_model,
            package_name: d.package_name,
            client_app_id: d.client_app_id,
            device_token: d.device_token,
            notification_switch: d.notification_switch,
            region: d.region,
            app_version: d.app_version,
            os: d.os,
            properties: d.properties,
            status: if d.online {
                DeviceStatus::Online
            } else {
                DeviceStatus::Offline
            },
            create_time_text: getui_datetime(d.create_time),
            create_time: d.create_time,
            last_login_time: d.last_login_time,
            login_freq: d.login_freq,
            badge: d.badge,
            blacklisted: d.blacklisted,
            alias: d.alias.map(String::from),
            tags: d.tags.into_iter().map(String::from).collect(),
        }
    }
}

/// One device with everything roster knows of it.
#[utoipa::path(
    get, path = "/api/v1/apps/{app_id}/devices/{cid}",
    security(("app" = [])),
    params(("app_id" = String, Path, description = "App id"), ("cid" = String, Path, description = "Device")),
    responses(
        (status = 200, description = "The device", body = DeviceOut),
        (status = 400, description = BAD_PATH, body = ErrorBody),
        (status = 401, description = UNAUTHENTICATED_APP, body = ErrorBody),
        (status = 404, description = "No such device in this app (`unknown_target`)", body = ErrorBody),
    )
)]
pub(crate) async fn get_device(
    State(state): State<NativeState>,
    auth: AppAuth,
    Path(path): Path<(String, String)>,
) -> Result<Json<DeviceOut>, NativeError> {
    let cid = Cid::parse(path.1).map_err(|_| Error::UnknownTarget)?;
    let mut found = state
        .store
        .get_devices(&auth.app, &[cid], (state.clock)())
        .await?;
    let device = found.pop().ok_or(Error::UnknownTarget)?;
    Ok(Json(device.into()))
}
