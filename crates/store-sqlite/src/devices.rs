//! Devices: upsert, events, reads, blacklist, badge and channel tokens.

use async_trait::async_trait;
use roster_core::time::cst_day;
use roster_core::{
    limits, Alias, AppId, BadgeOp, Cid, Device, DeviceEvent, DeviceKind, DeviceUpsert, DtType,
    Error, PhoneType, TagName,
};
use roster_store::{DeviceStore, DtBinding, DtFailure, StoreError, StoreResult};
use rusqlite::{params, OptionalExtension, Row, Transaction};

use crate::{DbResult, SqliteStore};

/// The row id of `cid` in `app`, if it exists.
pub(crate) fn device_id(tx: &Transaction<'_>, app: &str, cid: &str) -> StoreResult<Option<i64>> {
    tx.prepare_cached("SELECT id FROM devices WHERE app_id = ?1 AND cid = ?2")
        .db()?
        .query_row(params![app, cid], |r| r.get(0))
        .optional()
        .db()
}

/// Like [`device_id`], but an unknown cid is [`Error::UnknownTarget`].
pub(crate) fn known_device(tx: &Transaction<'_>, app: &str, cid: &str) -> StoreResult<i64> {
    device_id(tx, app, cid)?.ok_or_else(|| Error::UnknownTarget.into())
}

fn record_login_day(tx: &Transaction<'_>, id: i64, at: i64) -> StoreResult<()> {
    let day = cst_day(at);
    tx.prepare_cached("INSERT OR IGNORE INTO device_login_days (device_id, day) VALUES (?1, ?2)")
        .db()?
        .execute(params![id, day])
        .db()?;
    // Days that can no longer count are dropped so the table stays bounded.
    tx.prepare_cached("DELETE FROM device_login_days WHERE device_id = ?1 AND day < ?2")
        .db()?
        .execute(params![id, day - 2 * limits::LOGIN_FREQ_DAYS])
        .db()?;
    Ok(())
}

fn json_err(e: serde_json::Error) -> StoreError {
    StoreError::Backend(format!("json: {e}"))
}

fn upsert_one(tx: &Transaction<'_>, app: &str, d: &DeviceUpsert, now: i64) -> StoreResult<Cid> {
    let existing = match &d.cid {
        Some(cid) => tx
            .prepare_cached("SELECT id, properties FROM devices WHERE app_id = ?1 AND cid = ?2")
            .db()?
            .query_row(params![app, cid.as_str()], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
            })
            .optional()
            .db()?,
        None => None,
    };
    if let (Some(cid), Some((id, props))) = (&d.cid, existing) {
        let props = match &d.properties {
            Some(extra) => {
                let mut merged: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_str(&props).map_err(json_err)?;
                merged.extend(extra.clone());
                Some(serde_json::to_string(&merged).map_err(json_err)?)
            }
            None => None,
        };
        tx.prepare_cached(
            "UPDATE devices SET
                kind = COALESCE(?2, kind), phone_type = COALESCE(?3, phone_type),
                brand = COALESCE(?4, brand), phone_model = COALESCE(?5, phone_model),
                package_name = COALESCE(?6, package_name),
                client_app_id = COALESCE(?7, client_app_id),
                device_token = COALESCE(?8, device_token),
                notification_switch = COALESCE(?9, notification_switch),
                region = COALESCE(?10, region), app_version = COALESCE(?11, app_version),
                os = COALESCE(?12, os), properties = COALESCE(?13, properties)
             WHERE id = ?1",
        )
        .db()?
        .execute(params![
            id,
            d.kind.map(DeviceKind::as_str),
            d.phone_type.map(PhoneType::as_str),
            d.brand,
            d.phone_model,
            d.package_name,
            d.client_app_id,
            d.device_token,
            d.notification_switch,
            d.region,
            d.app_version,
            d.os,
            props,
        ])
        .db()?;
        return Ok(cid.clone());
    }
    let phone_type = d.phone_type.ok_or_else(|| Error::empty("phone_type"))?;
    let cid = d.cid.clone().unwrap_or_else(Cid::generate);
    let ord: i64 = tx
        .prepare_cached(
            "UPDATE apps SET next_ord = next_ord + 1 WHERE id = ?1 RETURNING next_ord - 1",
        )
        .db()?
        .query_row([app], |r| r.get(0))
        .optional()
        .db()?
        .ok_or_else(|| Error::NotFound("app".into()))?;
    if ord > i64::from(u32::MAX) {
        return Err(Error::over_limit("devices").into());
    }
    let props =
        serde_json::to_string(&d.properties.clone().unwrap_or_default()).map_err(json_err)?;
    tx.prepare_cached(
        "INSERT INTO devices (app_id, cid, kind, phone_type, brand, phone_model, package_name,
            client_app_id, device_token, notification_switch, region, app_version, os,
            properties, create_time, last_login_time, ord)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?15, ?16)",
    )
    .db()?
    .execute(params![
        app,
        cid.as_str(),
        d.kind.unwrap_or_default().as_str(),
        phone_type.as_str(),
        d.brand,
        d.phone_model,
        d.package_name,
        d.client_app_id,
        d.device_token,
        d.notification_switch.unwrap_or(true),
        d.region,
        d.app_version,
        d.os,
        props,
        now,
        ord,
    ])
    .db()?;
    // Registration is the device's first login (Getui: create_time is "首次登录时间").
    record_login_day(tx, tx.last_insert_rowid(), now)?;
    Ok(cid)
}

const DEVICE_COLUMNS: &str = "id, cid, kind, phone_type, brand, phone_model, package_name,
    client_app_id, device_token, device_token_type, notification_switch, region, app_version,
    os, properties, online, create_time, last_login_time, badge, blacklisted, alias";

fn bad_row(what: &str) -> rusqlite::Error {
    rusqlite::Error::InvalidColumnName(format!("unreadable {what}"))
}

fn device_from_row(r: &Row<'_>) -> rusqlite::Result<(i64, Device)> {
    let props: String = r.get(14)?;
    let alias: Option<String> = r.get(20)?;
    let dtt: Option<String> = r.get(9)?;
    let device = Device {
        cid: Cid::parse(r.get::<_, String>(1)?).map_err(|_| bad_row("cid"))?,
        kind: DeviceKind::parse(&r.get::<_, String>(2)?).ok_or_else(|| bad_row("kind"))?,
        phone_type: PhoneType::parse(&r.get::<_, String>(3)?)
            .ok_or_else(|| bad_row("phone_type"))?,
        brand: r.get(4)?,
        phone_model: r.get(5)?,
        package_name: r.get(6)?,
        client_app_id: r.get(7)?,
        device_token: r.get(8)?,
        device_token_type: dtt.as_deref().and_then(DtType::parse),
        notification_switch: r.get(10)?,
        region: r.get(11)?,
        app_version: r.get(12)?,
        os: r.get(13)?,
        properties: serde_json::from_str(&props).map_err(|_| bad_row("properties"))?,
        online: r.get(15)?,
        create_time: r.get(16)?,
        last_login_time: r.get(17)?,
        login_freq: 0,
        badge: r.get(18)?,
        blacklisted: r.get(19)?,
        alias: alias.and_then(|a| Alias::parse(a).ok()),
        tags: Vec::new(),
    };
    Ok((r.get(0)?, device))
}

pub(crate) fn tags_of_id(tx: &Transaction<'_>, id: i64) -> StoreResult<Vec<TagName>> {
    let mut stmt = tx
        .prepare_cached("SELECT tag FROM device_tags WHERE device_id = ?1 ORDER BY tag")
        .db()?;
    let rows = stmt.query_map([id], |r| r.get::<_, String>(0)).db()?;
    let mut tags = Vec::new();
    for t in rows {
        if let Ok(t) = TagName::parse(t.db()?) {
            tags.push(t);
        }
    }
    Ok(tags)
}

#[async_trait]
impl DeviceStore for SqliteStore {
    async fn upsert_devices(
        &self,
        app: &AppId,
        devices: &[DeviceUpsert],
        now: i64,
    ) -> StoreResult<Vec<Cid>> {
        let (app, devices) = (app.to_string(), devices.to_vec());
        self.write(move |tx| {
            devices
                .iter()
                .map(|d| upsert_one(tx, &app, d, now))
                .collect()
        })
        .await
    }

    async fn record_device_event(
        &self,
        app: &AppId,
        cid: &Cid,
        event: DeviceEvent,
        at: i64,
    ) -> StoreResult<()> {
        let (app, cid) = (app.to_string(), cid.to_string());
        self.write(move |tx| {
            let id = known_device(tx, &app, &cid)?;
            match event {
                DeviceEvent::Online | DeviceEvent::Offline => {
                    tx.execute(
                        "UPDATE devices SET online = ?2 WHERE id = ?1",
                        params![id, event == DeviceEvent::Online],
                    )
                    .db()?;
                }
                DeviceEvent::Login => {
                    tx.execute(
                        "UPDATE devices SET online = 1,
                            last_login_time = MAX(last_login_time, ?2) WHERE id = ?1",
                        params![id, at],
                    )
                    .db()?;
                    record_login_day(tx, id, at)?;
                }
            }
            Ok(())
        })
        .await
    }

    async fn get_devices(&self, app: &AppId, cids: &[Cid], now: i64) -> StoreResult<Vec<Device>> {
        let (app, cids) = (app.to_string(), cids.to_vec());
        self.read(move |tx| {
            let sql =
                format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE app_id = ?1 AND cid = ?2");
            let mut out = Vec::with_capacity(cids.len());
            let since = cst_day(now) - limits::LOGIN_FREQ_DAYS;
            for cid in &cids {
                let found = tx
                    .prepare_cached(&sql)
                    .db()?
                    .query_row(params![app, cid.as_str()], device_from_row)
                    .optional()
                    .db()?;
                let Some((id, mut device)) = found else {
                    continue;
                };
                device.tags = tags_of_id(tx, id)?;
                device.login_freq = tx
                    .prepare_cached(
                        "SELECT COUNT(*) FROM device_login_days
                         WHERE device_id = ?1 AND day > ?2 AND day <= ?3",
                    )
                    .db()?
                    .query_row(params![id, since, cst_day(now)], |r| r.get(0))
                    .db()?;
                out.push(device);
            }
            Ok(out)
        })
        .await
    }

    async fn set_blacklisted(&self, app: &AppId, cids: &[Cid], on: bool) -> StoreResult<()> {
        let (app, cids) = (app.to_string(), cids.to_vec());
        self.write(move |tx| {
            for cid in &cids {
                let id = known_device(tx, &app, cid.as_str())?;
                tx.prepare_cached("UPDATE devices SET blacklisted = ?2 WHERE id = ?1")
                    .db()?
                    .execute(params![id, on])
                    .db()?;
            }
            Ok(())
        })
        .await
    }

    async fn apply_badge(&self, app: &AppId, cids: &[Cid], op: BadgeOp) -> StoreResult<()> {
        let (app, cids) = (app.to_string(), cids.to_vec());
        self.write(move |tx| {
            for cid in &cids {
                let id = known_device(tx, &app, cid.as_str())?;
                let current: i64 = tx
                    .prepare_cached("SELECT badge FROM devices WHERE id = ?1")
                    .db()?
                    .query_row([id], |r| r.get(0))
                    .db()?;
                tx.prepare_cached("UPDATE devices SET badge = ?2 WHERE id = ?1")
                    .db()?
                    .execute(params![id, op.apply(current)])
                    .db()?;
            }
            Ok(())
        })
        .await
    }

    async fn bind_device_tokens(
        &self,
        app: &AppId,
        kind: DtType,
        entries: &[DtBinding],
    ) -> StoreResult<Vec<(usize, DtFailure)>> {
        let (app, entries) = (app.to_string(), entries.to_vec());
        self.write(move |tx| {
            let mut failures = Vec::new();
            for (i, e) in entries.iter().enumerate() {
                match bind_one(tx, &app, kind, e)? {
                    Ok(()) => {}
                    Err(f) => failures.push((i, f)),
                }
            }
            Ok(failures)
        })
        .await
    }
}

fn bind_one(
    tx: &Transaction<'_>,
    app: &str,
    kind: DtType,
    e: &DtBinding,
) -> StoreResult<Result<(), DtFailure>> {
    if e.cid.is_empty() {
        return Ok(Err(DtFailure::EmptyCid));
    }
    let row = tx
        .prepare_cached(
            "SELECT id, kind, device_token_type FROM devices WHERE app_id = ?1 AND cid = ?2",
        )
        .db()?
        .query_row(params![app, e.cid], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
            ))
        })
        .optional()
        .db()?;
    let Some((id, device_kind, bound_type)) = row else {
        let elsewhere: bool = tx
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM devices WHERE cid = ?1)")
            .db()?
            .query_row([&e.cid], |r| r.get(0))
            .db()?;
        return Ok(Err(if elsewhere {
            DtFailure::OtherApp
        } else {
            DtFailure::UnknownCid
        }));
    };
    if kind == DtType::Wx && device_kind != DeviceKind::MiniProgram.as_str() {
        return Ok(Err(DtFailure::NotMiniProgram));
    }
    match e.device_token.as_deref().filter(|t| !t.is_empty()) {
        Some(token) => {
            tx.prepare_cached(
                "UPDATE devices SET device_token = ?2, device_token_type = ?3,
                    brand = COALESCE(?4, brand) WHERE id = ?1",
            )
            .db()?
            .execute(params![id, token, kind.as_str(), kind.brand()])
            .db()?;
        }
        None if bound_type.as_deref() == Some(kind.as_str()) => {
            tx.prepare_cached(
                "UPDATE devices SET device_token = NULL, device_token_type = NULL,
                    brand = CASE WHEN brand = ?2 THEN NULL ELSE brand END WHERE id = ?1",
            )
            .db()?
            .execute(params![id, kind.brand()])
            .db()?;
        }
        None => {}
    }
    Ok(Ok(()))
}
