//! Devices: upsert, events, reads, blacklist, badge, channel tokens, bulk import.

use async_trait::async_trait;
use deadpool_postgres::Transaction;
use roster_core::time::cst_day;
use roster_core::{
    limits, Alias, AppId, BadgeOp, Cid, Device, DeviceEvent, DeviceKind, DeviceUpsert, DtType,
    Error, PhoneType, TagName,
};
use roster_store::{DeviceStore, DtBinding, DtFailure, ImportDevice, StoreError, StoreResult};
use tokio_postgres::Row;

use crate::{lock_app, Db, PgStore};

/// The row id of `cid` in `app`, if it exists.
pub(crate) async fn device_id(
    tx: &Transaction<'_>,
    app: &str,
    cid: &str,
) -> StoreResult<Option<i64>> {
    let stmt = tx
        .prepare_cached("SELECT id FROM devices WHERE app_id = $1 AND cid = $2")
        .await
        .db()?;
    Ok(tx
        .query_opt(&stmt, &[&app, &cid])
        .await
        .db()?
        .map(|r| r.get(0)))
}

/// Like [`device_id`], but an unknown cid is [`Error::UnknownTarget`].
pub(crate) async fn known_device(tx: &Transaction<'_>, app: &str, cid: &str) -> StoreResult<i64> {
    device_id(tx, app, cid)
        .await?
        .ok_or_else(|| Error::UnknownTarget.into())
}

async fn record_login_day(tx: &Transaction<'_>, id: i64, at: i64) -> StoreResult<()> {
    let day = cst_day(at);
    tx.execute(
        "INSERT INTO device_login_days (device_id, day) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        &[&id, &day],
    )
    .await
    .db()?;
    tx.execute(
        "DELETE FROM device_login_days WHERE device_id = $1 AND day < $2",
        &[&id, &(day - 2 * limits::LOGIN_FREQ_DAYS)],
    )
    .await
    .db()?;
    Ok(())
}

fn json_err(e: serde_json::Error) -> StoreError {
    StoreError::Backend(format!("json: {e}"))
}

async fn upsert_one(
    tx: &Transaction<'_>,
    app: &str,
    d: &DeviceUpsert,
    now: i64,
) -> StoreResult<Cid> {
    if let Some(cid) = &d.cid {
        let row = tx
            .query_opt(
                "SELECT id, properties FROM devices WHERE app_id = $1 AND cid = $2",
                &[&app, &cid.as_str()],
            )
            .await
            .db()?;
        if let Some(row) = row {
            let (id, props): (i64, String) = (row.get(0), row.get(1));
            let props = match &d.properties {
                Some(extra) => {
                    let mut merged: serde_json::Map<String, serde_json::Value> =
                        serde_json::from_str(&props).map_err(json_err)?;
                    merged.extend(extra.clone());
                    Some(serde_json::to_string(&merged).map_err(json_err)?)
                }
                None => None,
            };
            let stmt = tx
                .prepare_cached(
                    "UPDATE devices SET
                        kind = COALESCE($2, kind), phone_type = COALESCE($3, phone_type),
                        brand = COALESCE($4, brand), phone_model = COALESCE($5, phone_model),
                        package_name = COALESCE($6, package_name),
                        client_app_id = COALESCE($7, client_app_id),
                        device_token = COALESCE($8, device_token),
                        notification_switch = COALESCE($9, notification_switch),
                        region = COALESCE($10, region), app_version = COALESCE($11, app_version),
                        os = COALESCE($12, os), properties = COALESCE($13, properties)
                     WHERE id = $1",
                )
                .await
                .db()?;
            tx.execute(
                &stmt,
                &[
                    &id,
                    &d.kind.map(DeviceKind::as_str),
                    &d.phone_type.map(PhoneType::as_str),
                    &d.brand,
                    &d.phone_model,
                    &d.package_name,
                    &d.client_app_id,
                    &d.device_token,
                    &d.notification_switch,
                    &d.region,
                    &d.app_version,
                    &d.os,
                    &props,
                ],
            )
            .await
            .db()?;
            return Ok(cid.clone());
        }
    }
    let phone_type = d.phone_type.ok_or_else(|| Error::empty("phone_type"))?;
    let cid = d.cid.clone().unwrap_or_else(Cid::generate);
    let ord: i64 = tx
        .query_one(
            "UPDATE apps SET next_ord = next_ord + 1 WHERE id = $1 RETURNING next_ord - 1",
            &[&app],
        )
        .await
        .db()?
        .get(0);
    if ord > i64::from(u32::MAX) {
        return Err(Error::over_limit("devices").into());
    }
    let props =
        serde_json::to_string(&d.properties.clone().unwrap_or_default()).map_err(json_err)?;
    let stmt = tx
        .prepare_cached(
            "INSERT INTO devices (app_id, cid, kind, phone_type, brand, phone_model, package_name,
                client_app_id, device_token, notification_switch, region, app_version, os,
                properties, create_time, last_login_time, ord)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15, $16)
             RETURNING id",
        )
        .await
        .db()?;
    let id: i64 = tx
        .query_one(
            &stmt,
            &[
                &app,
                &cid.as_str(),
                &d.kind.unwrap_or_default().as_str(),
                &phone_type.as_str(),
                &d.brand,
                &d.phone_model,
                &d.package_name,
                &d.client_app_id,
                &d.device_token,
                &d.notification_switch.unwrap_or(true),
                &d.region,
                &d.app_version,
                &d.os,
                &props,
                &now,
                &ord,
            ],
        )
        .await
        .db()?
        .get(0);
    record_login_day(tx, id, now).await?;
    Ok(cid)
}

const DEVICE_COLUMNS: &str = "id, cid, kind, phone_type, brand, phone_model, package_name,
    client_app_id, device_token, device_token_type, notification_switch, region, app_version,
    os, properties, online, create_time, last_login_time, badge, blacklisted, alias";

fn bad(what: &str) -> StoreError {
    StoreError::Backend(format!("unreadable {what}"))
}

fn device_from_row(r: &Row) -> StoreResult<(i64, Device)> {
    let props: String = r.get(14);
    let alias: Option<String> = r.get(20);
    let dtt: Option<String> = r.get(9);
    let device = Device {
        cid: Cid::parse(r.get::<_, String>(1)).map_err(|_| bad("cid"))?,
        kind: DeviceKind::parse(r.get(2)).ok_or_else(|| bad("kind"))?,
        phone_type: PhoneType::parse(r.get(3)).ok_or_else(|| bad("phone_type"))?,
        brand: r.get(4),
        phone_model: r.get(5),
        package_name: r.get(6),
        client_app_id: r.get(7),
        device_token: r.get(8),
        device_token_type: dtt.as_deref().and_then(DtType::parse),
        notification_switch: r.get(10),
        region: r.get(11),
        app_version: r.get(12),
        os: r.get(13),
        properties: serde_json::from_str(&props).map_err(|_| bad("properties"))?,
        online: r.get(15),
        create_time: r.get(16),
        last_login_time: r.get(17),
        login_freq: 0,
        badge: r.get(18),
        blacklisted: r.get(19),
        alias: alias.and_then(|a| Alias::parse(a).ok()),
        tags: Vec::new(),
    };
    Ok((r.get(0), device))
}

pub(crate) async fn tags_of_id(tx: &Transaction<'_>, id: i64) -> StoreResult<Vec<TagName>> {
    let stmt = tx
        .prepare_cached("SELECT tag FROM device_tags WHERE device_id = $1 ORDER BY tag")
        .await
        .db()?;
    let rows = tx.query(&stmt, &[&id]).await.db()?;
    Ok(rows
        .iter()
        .filter_map(|r| TagName::parse(r.get::<_, String>(0)).ok())
        .collect())
}

#[async_trait]
impl DeviceStore for PgStore {
    async fn upsert_devices(
        &self,
        app: &AppId,
        devices: &[DeviceUpsert],
        now: i64,
    ) -> StoreResult<Vec<Cid>> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.db()?;
        lock_app(&tx, app.as_str()).await?;
        let mut out = Vec::with_capacity(devices.len());
        for d in devices {
            out.push(upsert_one(&tx, app.as_str(), d, now).await?);
        }
        tx.commit().await.db()?;
        Ok(out)
    }

    async fn record_device_event(
        &self,
        app: &AppId,
        cid: &Cid,
        event: DeviceEvent,
        at: i64,
    ) -> StoreResult<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.db()?;
        let id = known_device(&tx, app.as_str(), cid.as_str()).await?;
        match event {
            DeviceEvent::Online | DeviceEvent::Offline => {
                tx.execute(
                    "UPDATE devices SET online = $2 WHERE id = $1",
                    &[&id, &(event == DeviceEvent::Online)],
                )
                .await
                .db()?;
            }
            DeviceEvent::Login => {
                tx.execute(
                    "UPDATE devices SET online = TRUE, last_login_time = GREATEST(last_login_time, $2) WHERE id = $1",
                    &[&id, &at],
                )
                .await
                .db()?;
                record_login_day(&tx, id, at).await?;
            }
        }
        tx.commit().await.db()
    }

    async fn get_devices(&self, app: &AppId, cids: &[Cid], now: i64) -> StoreResult<Vec<Device>> {
        let mut c = self.client().await?;
        // One snapshot for every query of the read.
        let tx = c
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .db()?;
        let sql = format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE app_id = $1 AND cid = $2");
        let stmt = tx.prepare_cached(&sql).await.db()?;
        let freq = tx
            .prepare_cached("SELECT COUNT(*) FROM device_login_days WHERE device_id = $1 AND day > $2 AND day <= $3")
            .await
            .db()?;
        let today = cst_day(now);
        let mut out = Vec::with_capacity(cids.len());
        for cid in cids {
            let Some(row) = tx
                .query_opt(&stmt, &[&app.as_str(), &cid.as_str()])
                .await
                .db()?
            else {
                continue;
            };
            let (id, mut device) = device_from_row(&row)?;
            device.tags = tags_of_id(&tx, id).await?;
            device.login_freq = tx
                .query_one(&freq, &[&id, &(today - limits::LOGIN_FREQ_DAYS), &today])
                .await
                .db()?
                .get(0);
            out.push(device);
        }
        tx.commit().await.db()?;
        Ok(out)
    }

    async fn set_blacklisted(&self, app: &AppId, cids: &[Cid], on: bool) -> StoreResult<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.db()?;
        lock_app(&tx, app.as_str()).await?;
        for cid in cids {
            let id = known_device(&tx, app.as_str(), cid.as_str()).await?;
            tx.execute(
                "UPDATE devices SET blacklisted = $2 WHERE id = $1",
                &[&id, &on],
            )
            .await
            .db()?;
        }
        tx.commit().await.db()
    }

    async fn apply_badge(&self, app: &AppId, cids: &[Cid], op: BadgeOp) -> StoreResult<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.db()?;
        lock_app(&tx, app.as_str()).await?;
        for cid in cids {
            let id = known_device(&tx, app.as_str(), cid.as_str()).await?;
            let current: i64 = tx
                .query_one("SELECT badge FROM devices WHERE id = $1", &[&id])
                .await
                .db()?
                .get(0);
            tx.execute(
                "UPDATE devices SET badge = $2 WHERE id = $1",
                &[&id, &op.apply(current)],
            )
            .await
            .db()?;
        }
        tx.commit().await.db()
    }

    async fn bind_device_tokens(
        &self,
        app: &AppId,
        kind: DtType,
        entries: &[DtBinding],
    ) -> StoreResult<Vec<(usize, DtFailure)>> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.db()?;
        lock_app(&tx, app.as_str()).await?;
        let mut failures = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            if let Err(f) = bind_one(&tx, app.as_str(), kind, e).await? {
                failures.push((i, f));
            }
        }
        tx.commit().await.db()?;
        Ok(failures)
    }
}

async fn bind_one(
    tx: &Transaction<'_>,
    app: &str,
    kind: DtType,
    e: &DtBinding,
) -> StoreResult<Result<(), DtFailure>> {
    if e.cid.is_empty() {
        return Ok(Err(DtFailure::EmptyCid));
    }
    let row = tx
        .query_opt(
            "SELECT id, kind, device_token_type FROM devices WHERE app_id = $1 AND cid = $2",
            &[&app, &e.cid],
        )
        .await
        .db()?;
    let Some(row) = row else {
        let elsewhere: bool = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM devices WHERE cid = $1)",
                &[&e.cid],
            )
            .await
            .db()?
            .get(0);
        return Ok(Err(if elsewhere {
            DtFailure::OtherApp
        } else {
            DtFailure::UnknownCid
        }));
    };
    let (id, device_kind, bound_type): (i64, String, Option<String>) =
        (row.get(0), row.get(1), row.get(2));
    if kind == DtType::Wx && device_kind != DeviceKind::MiniProgram.as_str() {
        return Ok(Err(DtFailure::NotMiniProgram));
    }
    match e.device_token.as_deref().filter(|t| !t.is_empty()) {
        Some(token) => {
            tx.execute(
                "UPDATE devices SET device_token = $2, device_token_type = $3,
                    brand = COALESCE($4, brand) WHERE id = $1",
                &[&id, &token, &kind.as_str(), &kind.brand()],
            )
            .await
            .db()?;
        }
        None if bound_type.as_deref() == Some(kind.as_str()) => {
            tx.execute(
                "UPDATE devices SET device_token = NULL, device_token_type = NULL,
                    brand = CASE WHEN brand = $2 THEN NULL ELSE brand END WHERE id = $1",
                &[&id, &kind.brand()],
            )
            .await
            .db()?;
        }
        None => {}
    }
    Ok(Ok(()))
}

impl PgStore {
    /// Inserts new devices in one transaction with array-bound bulk statements,
    /// assigning ordinals in input order (the benchmark's generator uses it).
    pub async fn import_devices(&self, app: &AppId, devices: &[ImportDevice]) -> StoreResult<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.db()?;
        lock_app(&tx, app.as_str()).await?;
        let n = devices.len() as i64;
        let first: i64 = tx
            .query_one(
                "UPDATE apps SET next_ord = next_ord + $2 WHERE id = $1 RETURNING next_ord - $2",
                &[&app.as_str(), &n],
            )
            .await
            .db()?
            .get(0);
        let cids: Vec<&str> = devices.iter().map(|d| d.cid.as_str()).collect();
        let pts: Vec<&str> = devices.iter().map(|d| d.phone_type.as_str()).collect();
        let brands: Vec<Option<&str>> = devices.iter().map(|d| d.brand.as_deref()).collect();
        let regions: Vec<Option<&str>> = devices.iter().map(|d| d.region.as_deref()).collect();
        let aliases: Vec<Option<&str>> = devices.iter().map(|d| d.alias.as_deref()).collect();
        let switches: Vec<bool> = devices.iter().map(|d| d.notification_switch).collect();
        let black: Vec<bool> = devices.iter().map(|d| d.blacklisted).collect();
        let times: Vec<i64> = devices.iter().map(|d| d.create_time).collect();
        let ords: Vec<i64> = (0..n).map(|i| first + i).collect();
        let rows = tx
            .query(
                "INSERT INTO devices (app_id, cid, kind, phone_type, brand, region, alias,
                    notification_switch, blacklisted, create_time, last_login_time, ord)
                 SELECT $1, c, 'app', p, b, r, a, s, k, t, t, o
                 FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                             $7::bool[], $8::bool[], $9::bigint[], $10::bigint[])
                      AS x(c, p, b, r, a, s, k, t, o)
                 RETURNING id, ord",
                &[
                    &app.as_str(),
                    &cids,
                    &pts,
                    &brands,
                    &regions,
                    &aliases,
                    &switches,
                    &black,
                    &times,
                    &ords,
                ],
            )
            .await
            .db()?;
        let mut id_of = vec![0i64; devices.len()];
        for r in rows {
            let ord: i64 = r.get(1);
            id_of[(ord - first) as usize] = r.get(0);
        }
        let (mut tag_ids, mut tags) = (Vec::new(), Vec::new());
        for (i, d) in devices.iter().enumerate() {
            for t in &d.tags {
                tag_ids.push(id_of[i]);
                tags.push(t.as_str());
            }
        }
        tx.execute(
            "INSERT INTO device_tags (device_id, tag) SELECT * FROM UNNEST($1::bigint[], $2::text[])",
            &[&tag_ids, &tags],
        )
        .await
        .db()?;
        tx.commit().await.db()
    }
}
