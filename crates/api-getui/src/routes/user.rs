//! Users: blacklist, status, device status, detail, badge, bind_dt.

use axum::extract::State;
use axum::response::Response;
use roster_core::quota::LimitedAction;
use roster_core::time::getui_datetime;
use roster_core::{limits, BadgeOp, Cid, Device, DtType, Error};
use roster_store::{DtBinding, DtFailure};
use serde_json::{json, Map, Value};

use crate::auth::OwnLimit;
use crate::body::{array, cid_list, field, object, opt_string, target_cids, Body, P};
use crate::error::{ok, GetuiError};
use crate::{GetuiState, GetuiToken};

async fn set_blacklist(
    state: &GetuiState,
    auth: &GetuiToken,
    raw: &str,
    on: bool,
) -> Result<Response, GetuiError> {
    let cids = target_cids(cid_list(raw, limits::BLACKLIST_BADGE_CIDS)?)?;
    state.store.set_blacklisted(&auth.app, &cids, on).await?;
    Ok(ok(None))
}

/// `POST /user/black/cid/{cids}`: blacklists up to 200 cids, all or nothing.
pub(crate) async fn blacklist_add(
    State(state): State<GetuiState>,
    auth: GetuiToken,
    P((_, cids)): P<(String, String)>,
) -> Result<Response, GetuiError> {
    set_blacklist(&state, &auth, &cids, true).await
}

/// `DELETE /user/black/cid/{cids}`: removes up to 200 cids from the blacklist.
pub(crate) async fn blacklist_remove(
    State(state): State<GetuiState>,
    auth: GetuiToken,
    P((_, cids)): P<(String, String)>,
) -> Result<Response, GetuiError> {
    set_blacklist(&state, &auth, &cids, false).await
}

/// The devices among a path list of at most `max` cids, plus the cids not found.
async fn lookup(
    state: &GetuiState,
    auth: &GetuiToken,
    raw: &str,
    max: usize,
) -> Result<(Vec<Device>, Vec<String>), GetuiError> {
    let listed = cid_list(raw, max)?;
    let valid: Vec<Cid> = listed.iter().filter_map(|c| Cid::parse(*c).ok()).collect();
    let found = state
        .store
        .get_devices(&auth.app, &valid, state.now())
        .await?;
    let missing = listed
        .iter()
        .filter(|c| !found.iter().any(|d| d.cid.as_str() == **c))
        .map(|c| (*c).to_owned())
        .collect();
    Ok((found, missing))
}

fn online(d: &Device) -> &'static str {
    if d.online {
        "online"
    } else {
        "offline"
    }
}

/// `GET /user/status/{cids}`: status and last login of up to 1000 cids; unknown cids
/// are left out.
pub(crate) async fn status(
    State(state): State<GetuiState>,
    auth: GetuiToken,
    P((_, cids)): P<(String, String)>,
) -> Result<Response, GetuiError> {
    let (found, _) = lookup(&state, &auth, &cids, limits::STATUS_DETAIL_CIDS).await?;
    let data: Map<String, Value> = found
        .iter()
        .map(|d| {
            let v = json!({
                "last_login_time": d.last_login_time.to_string(),
                "status": online(d),
            });
            (d.cid.to_string(), v)
        })
        .collect();
    Ok(ok(Some(Value::Object(data))))
}

/// `GET /user/deviceStatus/{cids}`: per-cid envelopes for up to 100 cids. roster keeps
/// one connection per cid, so the device is online exactly when its cid is.
pub(crate) async fn device_status(
    State(state): State<GetuiState>,
    auth: GetuiToken,
    P((_, cids)): P<(String, String)>,
) -> Result<Response, GetuiError> {
    let (found, missing) = lookup(&state, &auth, &cids, limits::DEVICE_STATUS_CIDS).await?;
    let mut data = Map::new();
    for d in &found {
        let status = online(d);
        data.insert(
            d.cid.to_string(),
            json!({ "code": 0, "msg": "success",
                    "data": { "cid_status": status, "device_status": status } }),
        );
    }
    for c in missing {
        let e = GetuiError::from(Error::UnknownTarget);
        data.insert(c, json!({ "code": e.code, "msg": e.msg }));
    }
    Ok(ok(Some(Value::Object(data))))
}

/// `GET /user/detail/{cids}`: `validCids` with each device's detail, `invalidCids` for the
/// rest, for up to 1000 cids.
pub(crate) async fn detail(
    State(state): State<GetuiState>,
    auth: GetuiToken,
    P((_, cids)): P<(String, String)>,
) -> Result<Response, GetuiError> {
    let (found, missing) = lookup(&state, &auth, &cids, limits::STATUS_DETAIL_CIDS).await?;
    let valid: Map<String, Value> = found
        .iter()
        .map(|d| {
            let v = json!({
                "client_app_id": d.client_app_id.as_deref().unwrap_or(""),
                "package_name": d.package_name.as_deref().unwrap_or(""),
                "device_token": d.device_token.as_deref().unwrap_or(""),
                "phone_type": d.phone_type.getui_code(),
                "phone_model": d.phone_model.as_deref().unwrap_or(""),
                "notification_switch": d.notification_switch,
                "create_time": getui_datetime(d.create_time),
                "login_freq": d.login_freq,
                "brand": d.getui_brand(),
            });
            (d.cid.to_string(), v)
        })
        .collect();
    Ok(ok(Some(
        json!({ "invalidCids": missing, "validCids": valid }),
    )))
}

/// `badge` as `"+N"`, `"-N"`, `"N"` or a JSON integer.
fn badge_op(body: &Map<String, Value>) -> Result<BadgeOp, Error> {
    match field(body, "badge") {
        None => Err(Error::empty("badge")),
        Some(Value::String(s)) => BadgeOp::parse(s),
        // A negative number reads as "-N": subtract.
        Some(Value::Number(n)) => match n.as_i64() {
            Some(v) => BadgeOp::parse(&v.to_string()),
            None => Err(Error::invalid("badge")),
        },
        Some(_) => Err(Error::TypeError("badge".into())),
    }
}

/// `POST /user/badge/cid/{cids}`: sets, adds to or subtracts from the badge of up to 200
/// cids, never below 0; all or nothing.
pub(crate) async fn badge(
    State(state): State<GetuiState>,
    auth: GetuiToken,
    P((_, cids)): P<(String, String)>,
    Body(body): Body,
) -> Result<Response, GetuiError> {
    let cids = target_cids(cid_list(&cids, limits::BLACKLIST_BADGE_CIDS)?)?;
    let op = badge_op(&body)?;
    state.store.apply_badge(&auth.app, &cids, op).await?;
    Ok(ok(None))
}

fn dt_error_code(f: DtFailure) -> i64 {
    match f {
        DtFailure::EmptyCid => 24001,
        DtFailure::UnknownCid => 24002,
        DtFailure::OtherApp => 24003,
        DtFailure::NotMiniProgram => 24004,
    }
}

/// `POST /user/bind_dt/{type}`: binds or unbinds channel tokens. `wx` is on for every
/// app; vendor channels once an admin enables them. Valid entries apply; the others
/// come back in `errorList`.
pub(crate) async fn bind_dt(
    State(state): State<GetuiState>,
    auth: GetuiToken<OwnLimit>,
    P((_, kind)): P<(String, String)>,
    Body(body): Body,
) -> Result<Response, GetuiError> {
    state.quota.take(&auth.app, &LimitedAction::BindDt).await?;
    let kind = DtType::parse(&kind).ok_or_else(|| Error::invalid("type"))?;
    let app = state
        .store
        .get_app(&auth.app)
        .await?
        .ok_or_else(GetuiError::token)?;
    if !app.dt_type_enabled(kind) {
        return Err(Error::PermissionRequired(format!("bind_dt/{}", kind.as_str())).into());
    }
    let list = array(&body, "dt_list", limits::BIND_DT_BATCH)?;
    let mut entries = Vec::with_capacity(list.len());
    for e in list {
        let e = object(e, "dt_list")?;
        entries.push(DtBinding {
            cid: opt_string(e, "cid")?.unwrap_or("").to_owned(),
            device_token: opt_string(e, "device_token")?.map(str::to_owned),
        });
    }
    let failures = state
        .store
        .bind_device_tokens(&auth.app, kind, &entries)
        .await?;
    if failures.is_empty() {
        return Ok(ok(None));
    }
    let list: Vec<Value> = failures
        .into_iter()
        .map(|(i, f)| {
            let e = &entries[i];
            json!({
                "cid": e.cid,
                "device_token": e.device_token.as_deref().unwrap_or(""),
                "error_code": dt_error_code(f),
            })
        })
        .collect();
    Ok(ok(Some(json!({ "errorList": list }))))
}
