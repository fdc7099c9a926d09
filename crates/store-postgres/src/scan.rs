//! Bulk paths: the scan the in-memory audience index is built from, and the bulk
//! import of new devices (the benchmark's generator).

use futures_util::{pin_mut, TryStreamExt};
use roster_core::{AppId, DeviceFacts, PhoneType, TagName};
use roster_index::AppIndex;
use roster_store::{ImportDevice, StoreError, StoreResult};
use tokio_postgres::types::ToSql;

use crate::{Db, PgStore};

fn phone(s: &str) -> StoreResult<PhoneType> {
    PhoneType::parse(s).ok_or_else(|| StoreError::Backend("unreadable phone_type".into()))
}

impl PgStore {
    /// Builds one app's audience bitmaps from one snapshot, with the app's seq they are
    /// as of.
    pub(crate) async fn scan(&self, app: &AppId) -> StoreResult<(AppIndex, u64)> {
        let mut index = AppIndex::default();
        let mut c = self.client().await?;
        let tx = c
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .db()?;
        let no_tags: [TagName; 0] = [];
        let app_s = app.as_str();
        let params: [&(dyn ToSql + Sync); 1] = [&app_s];
        let seq: i64 = tx
            .query_opt("SELECT seq FROM apps WHERE id = $1", &params)
            .await
            .db()?
            .map_or(0, |r| r.get(0));
        let rows = tx
            .query_raw(
                "SELECT ord, cid, phone_type, region, brand, alias, blacklisted, notification_switch,
                    app_version, os, package_name, phone_model, client_app_id, create_time,
                    last_login_time, properties
                 FROM devices WHERE app_id = $1 ORDER BY ord",
                params,
            )
            .await
            .db()?;
        pin_mut!(rows);
        while let Some(r) = rows.try_next().await.db()? {
            let brand: Option<&str> = r.get(4);
            let properties = roster_store::engine::scanned_properties(r.get(15))?;
            let facts = DeviceFacts {
                cid: r.get(1),
                phone_type: phone(r.get(2))?,
                region: r.get(3),
                tags: &no_tags,
                brand: brand.unwrap_or("unknown"),
                alias: r.get(5),
                blacklisted: r.get(6),
                notification_switch: r.get(7),
                app_version: r.get(8),
                os: r.get(9),
                package_name: r.get(10),
                phone_model: r.get(11),
                client_app_id: r.get(12),
                create_time: r.get(13),
                last_login_time: r.get(14),
                login_freq: 0,
                properties: properties.as_ref(),
            };
            index.add_device(r.get::<_, i64>(0) as u32, &facts);
        }
        let rows = tx
            .query_raw(
                "SELECT d.ord, t.tag FROM device_tags t JOIN devices d ON d.id = t.device_id
                 WHERE d.app_id = $1 ORDER BY d.ord",
                params,
            )
            .await
            .db()?;
        pin_mut!(rows);
        while let Some(r) = rows.try_next().await.db()? {
            index.add_tag(r.get::<_, i64>(0) as u32, r.get(1));
        }
        tx.commit().await.db()?;
        Ok((index, u64::try_from(seq).unwrap_or(0)))
    }

    /// Inserts new devices in one transaction with array-bound bulk statements,
    /// assigning ordinals in input order (the benchmark's generator uses it).
    pub async fn import_devices(&self, app: &AppId, devices: &[ImportDevice]) -> StoreResult<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.db()?;
        tx.execute(
            "SELECT 1 FROM apps WHERE id = $1 FOR UPDATE",
            &[&app.as_str()],
        )
        .await
        .db()?;
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
        let versions: Vec<Option<&str>> =
            devices.iter().map(|d| d.app_version.as_deref()).collect();
        let ords: Vec<i64> = (0..n).map(|i| first + i).collect();
        let rows = tx
            .query(
                "INSERT INTO devices (app_id, cid, kind, phone_type, brand, region, alias,
                    notification_switch, blacklisted, create_time, last_login_time, ord,
                    app_version)
                 SELECT $1, c, 'app', p, b, r, a, s, k, t, t, o, v
                 FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                             $7::bool[], $8::bool[], $9::bigint[], $10::bigint[], $11::text[])
                      AS x(c, p, b, r, a, s, k, t, o, v)
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
                    &versions,
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
