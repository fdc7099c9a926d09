//! The scan the in-memory audience index is built from: one pass over an app's devices
//! in ordinal order, one over their tags. A large app is scanned in two halves split at
//! a block of 65,536 ordinals, on two read connections at once (both cores), and the
//! halves' indexes are appended (`AppIndex::append`); both halves must see the app at
//! the same seq, else the scan is taken again in one piece.

use roster_core::{AppId, DeviceFacts, PhoneType, TagName};
use roster_index::AppIndex;
use roster_store::{StoreError, StoreResult};
use rusqlite::{params, OptionalExtension, Transaction};

use crate::{DbResult, SqliteStore};

fn phone(s: &str) -> StoreResult<PhoneType> {
    PhoneType::parse(s).ok_or_else(|| StoreError::Backend("unreadable phone_type".into()))
}

/// Ordinals per part of a parallel scan must be a whole number of index blocks.
const BLOCK: u32 = 1 << 16;

/// One part of an app's scan: the devices with `lo <= ord < hi`, and the app's seq as
/// this transaction sees it.
fn scan_part(tx: &Transaction<'_>, app: &str, lo: u32, hi: u32) -> StoreResult<(AppIndex, u64)> {
    let mut index = AppIndex::default();
    let seq: i64 = tx
        .query_row("SELECT seq FROM apps WHERE id = ?1", [app], |r| r.get(0))
        .optional()
        .db()?
        .unwrap_or(0);
    let seq = u64::try_from(seq).unwrap_or(0);
    // Devices in ordinal order; ordinals grow with row ids within an app, so the
    // (id, ordinal) pairs come out sorted by id for the tag merge below.
    let mut ids: Vec<(i64, u32)> = Vec::new();
    {
        let mut stmt = tx
            .prepare(
                "SELECT id, ord, cid, phone_type, region, brand, alias, blacklisted,
                        notification_switch, app_version, os, package_name, phone_model,
                        client_app_id, create_time, last_login_time, properties
                     FROM devices WHERE app_id = ?1 AND ord >= ?2 AND ord < ?3 ORDER BY ord",
            )
            .db()?;
        let mut rows = stmt.query(params![app, lo, hi]).db()?;
        let no_tags: [TagName; 0] = [];
        while let Some(r) = rows.next().db()? {
            let ordinal: u32 = r.get(1).db()?;
            ids.push((r.get(0).db()?, ordinal));
            let text = |i: usize| -> StoreResult<Option<&str>> {
                Ok(r.get_ref(i).db()?.as_str_or_null().unwrap_or(None))
            };
            let properties = roster_store::engine::scanned_properties(text(16)?)?;
            let facts = DeviceFacts {
                cid: r
                    .get_ref(2)
                    .db()?
                    .as_str()
                    .map_err(|e| StoreError::Backend(e.to_string()))?,
                phone_type: phone(r.get_ref(3).db()?.as_str().unwrap_or(""))?,
                region: r.get_ref(4).db()?.as_str_or_null().unwrap_or(None),
                tags: &no_tags,
                brand: r
                    .get_ref(5)
                    .db()?
                    .as_str_or_null()
                    .unwrap_or(None)
                    .unwrap_or("unknown"),
                alias: r.get_ref(6).db()?.as_str_or_null().unwrap_or(None),
                blacklisted: r.get(7).db()?,
                notification_switch: r.get(8).db()?,
                app_version: text(9)?,
                os: text(10)?,
                package_name: text(11)?,
                phone_model: text(12)?,
                client_app_id: text(13)?,
                create_time: r.get(14).db()?,
                last_login_time: r.get(15).db()?,
                login_freq: 0,
                properties: properties.as_ref(),
            };
            index.add_device(ordinal, &facts);
        }
    }
    if !ids.windows(2).all(|w| w[0].0 < w[1].0) {
        ids.sort_unstable();
    }
    let (Some(first), Some(last)) = (ids.first(), ids.last()) else {
        return Ok((index, seq));
    };
    let mut stmt = tx
        .prepare(
            "SELECT device_id, tag FROM device_tags
                 WHERE device_id BETWEEN ?1 AND ?2 ORDER BY device_id",
        )
        .db()?;
    let mut rows = stmt.query(params![first.0, last.0]).db()?;
    let mut at = 0usize;
    while let Some(r) = rows.next().db()? {
        let device_id: i64 = r.get(0).db()?;
        while at < ids.len() && ids[at].0 < device_id {
            at += 1;
        }
        // Rows of other apps' devices inside the id range are skipped here.
        if at < ids.len() && ids[at].0 == device_id {
            if let Ok(tag) = r.get_ref(1).db()?.as_str() {
                index.add_tag(ids[at].1, tag);
            }
        }
    }
    Ok((index, seq))
}

impl SqliteStore {
    /// Builds one app's audience bitmaps, with the app's seq they are as of.
    pub(crate) async fn scan(&self, app: &AppId) -> StoreResult<(AppIndex, u64)> {
        let app = app.to_string();
        let id = app.clone();
        let top: Option<u32> = self
            .read(move |tx| {
                tx.query_row(
                    "SELECT MAX(ord) FROM devices WHERE app_id = ?1",
                    [&id],
                    |r| r.get(0),
                )
                .db()
            })
            .await?;
        let end = top.map_or(0, |t| t.saturating_add(1));
        // Two parts when each gets at least two blocks.
        let mid = (end / 2).next_multiple_of(BLOCK);
        if mid >= BLOCK * 2 && mid < end {
            let (a, b) = (app.clone(), app.clone());
            let (first, second) = tokio::join!(
                self.read(move |tx| scan_part(tx, &a, 0, mid)),
                self.read(move |tx| scan_part(tx, &b, mid, u32::MAX)),
            );
            let ((mut ix, seq), (later, later_seq)) = (first?, second?);
            if seq == later_seq {
                ix.append(later);
                return Ok((ix, seq));
            }
            // A write landed between the two snapshots: take the app in one piece.
        }
        self.read(move |tx| scan_part(tx, &app, 0, u32::MAX)).await
    }
}
