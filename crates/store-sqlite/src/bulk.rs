//! Bulk import of devices that are already known to be valid and new: the benchmark's
//! generator and large migrations use it. It writes in large transactions and skips
//! the per-device rules of `upsert_devices` (the caller vouches for the data).

use roster_core::AppId;
use roster_store::{ImportDevice, StoreError, StoreResult};
use rusqlite::params;

use crate::{DbResult, SqliteStore};

impl SqliteStore {
    /// Inserts new devices in one transaction, assigning ordinals in input order.
    /// Blocking: call it from a blocking context. Returns the first ordinal used.
    pub fn import_devices(&self, app: &AppId, devices: &[ImportDevice]) -> StoreResult<u32> {
        let mut conn = self
            .inner
            .writer
            .lock()
            .map_err(|_| StoreError::Backend("writer lock poisoned".into()))?;
        let tx = conn.transaction().db()?;
        let app = app.as_str();
        let first: i64 = tx
            .query_row("SELECT next_ord FROM apps WHERE id = ?1", [app], |r| {
                r.get(0)
            })
            .db()?;
        {
            let mut dev = tx
                .prepare_cached(
                    "INSERT INTO devices (app_id, cid, kind, phone_type, brand, region, alias,
                        notification_switch, blacklisted, create_time, last_login_time, ord,
                        app_version)
                     VALUES (?1, ?2, 'app', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10, ?11)",
                )
                .db()?;
            let mut tag = tx
                .prepare_cached("INSERT INTO device_tags (device_id, tag) VALUES (?1, ?2)")
                .db()?;
            for (i, d) in devices.iter().enumerate() {
                dev.execute(params![
                    app,
                    d.cid,
                    d.phone_type.as_str(),
                    d.brand,
                    d.region,
                    d.alias,
                    d.notification_switch,
                    d.blacklisted,
                    d.create_time,
                    first + i as i64,
                    d.app_version,
                ])
                .db()?;
                let id = tx.last_insert_rowid();
                for t in &d.tags {
                    tag.execute(params![id, t]).db()?;
                }
            }
        }
        tx.execute(
            "UPDATE apps SET next_ord = next_ord + ?2 WHERE id = ?1",
            params![app, devices.len() as i64],
        )
        .db()?;
        tx.commit().db()?;
        u32::try_from(first).map_err(|_| StoreError::Backend("ordinal overflow".into()))
    }
}
