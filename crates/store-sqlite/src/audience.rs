//! Audience selectors evaluated in SQL, and the scans an in-memory index is built from.
//! The SQL evaluation is the embedded store's own answer to counts and listings, the
//! baseline the benchmark compares the bitmap index with, and an independent oracle
//! for the index's property tests.

use async_trait::async_trait;
use roster_core::{AppId, AudienceQuery, Cid, DeviceFacts, PhoneType, TagName};
use roster_store::{AudienceStore, IndexRow, IndexSink, IndexSource, StoreError, StoreResult};
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter, OptionalExtension};

use crate::devices::tags_of_id;
use crate::{DbResult, SqliteStore};

/// `WHERE` conditions (after `d.app_id = ?`) for a whole query, binding into `args`.
fn where_clause(q: &AudienceQuery, args: &mut Vec<SqlValue>) -> String {
    roster_store::sql::audience_conditions(q, &mut |v| {
        args.push(SqlValue::Text(v));
        "?".to_owned()
    })
}

#[async_trait]
impl AudienceStore for SqliteStore {
    async fn count_audience(&self, app: &AppId, query: &AudienceQuery) -> StoreResult<u64> {
        let mut args = vec![SqlValue::Text(app.to_string())];
        let clause = where_clause(query, &mut args);
        self.read(move |tx| {
            let sql = format!("SELECT COUNT(*) FROM devices d WHERE d.app_id = ?{clause}");
            let n: i64 = tx
                .prepare(&sql)
                .db()?
                .query_row(params_from_iter(args), |r| r.get(0))
                .db()?;
            Ok(n as u64)
        })
        .await
    }

    async fn audience_page(
        &self,
        app: &AppId,
        query: &AudienceQuery,
        after: Option<u32>,
        limit: usize,
    ) -> StoreResult<Vec<(u32, Cid)>> {
        let mut args = vec![
            SqlValue::Text(app.to_string()),
            SqlValue::Integer(after.map_or(-1, i64::from)),
        ];
        let clause = where_clause(query, &mut args);
        args.push(SqlValue::Integer(limit as i64));
        self.read(move |tx| {
            let sql = format!(
                "SELECT d.ord, d.cid FROM devices d WHERE d.app_id = ? AND d.ord > ?{clause}
                 ORDER BY d.ord LIMIT ?"
            );
            let mut stmt = tx.prepare(&sql).db()?;
            let rows = stmt
                .query_map(params_from_iter(args), |r| {
                    Ok((r.get::<_, u32>(0)?, r.get::<_, String>(1)?))
                })
                .db()?;
            let mut out = Vec::new();
            for row in rows {
                let (ord, cid) = row.db()?;
                out.push((
                    ord,
                    Cid::parse(cid).map_err(|e| StoreError::Backend(e.to_string()))?,
                ));
            }
            Ok(out)
        })
        .await
    }
}

fn phone(s: &str) -> StoreResult<PhoneType> {
    PhoneType::parse(s).ok_or_else(|| StoreError::Backend(format!("bad phone_type {s:?}")))
}

#[async_trait]
impl IndexSource for SqliteStore {
    async fn app_ids(&self) -> StoreResult<Vec<AppId>> {
        self.read(|tx| {
            let mut stmt = tx.prepare("SELECT id FROM apps ORDER BY id").db()?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0)).db()?;
            let mut out = Vec::new();
            for id in rows {
                out.push(AppId::parse(id.db()?).map_err(|e| StoreError::Backend(e.to_string()))?);
            }
            Ok(out)
        })
        .await
    }

    async fn index_rows(&self, app: &AppId, cids: &[Cid]) -> StoreResult<Vec<IndexRow>> {
        let (app, cids) = (app.to_string(), cids.to_vec());
        self.read(move |tx| {
            let mut out = Vec::with_capacity(cids.len());
            for cid in cids {
                let row = tx
                    .prepare_cached(
                        "SELECT id, ord, phone_type, region, brand, alias, blacklisted,
                            notification_switch FROM devices WHERE app_id = ?1 AND cid = ?2",
                    )
                    .db()?
                    .query_row(params![app, cid.as_str()], |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, u32>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, Option<String>>(3)?,
                            r.get::<_, Option<String>>(4)?,
                            r.get::<_, Option<String>>(5)?,
                            r.get::<_, bool>(6)?,
                            r.get::<_, bool>(7)?,
                        ))
                    })
                    .optional()
                    .db()?;
                let Some((id, ordinal, pt, region, brand, alias, blacklisted, switch)) = row else {
                    continue;
                };
                out.push(IndexRow {
                    ordinal,
                    cid,
                    phone_type: phone(&pt)?,
                    region,
                    brand,
                    tags: tags_of_id(tx, id)?,
                    alias: alias.and_then(|a| roster_core::Alias::parse(a).ok()),
                    blacklisted,
                    notification_switch: switch,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn scan_index(
        &self,
        app: &AppId,
        mut sink: Box<dyn IndexSink>,
    ) -> StoreResult<Box<dyn IndexSink>> {
        let app = app.to_string();
        self.read(move |tx| {
            // Devices in ordinal order; ordinals grow with row ids within an app, so the
            // (id, ordinal) pairs come out sorted by id for the tag merge below.
            let mut ids: Vec<(i64, u32)> = Vec::new();
            {
                let mut stmt = tx
                    .prepare(
                        "SELECT id, ord, cid, phone_type, region, brand, alias, blacklisted,
                            notification_switch FROM devices WHERE app_id = ?1 ORDER BY ord",
                    )
                    .db()?;
                let mut rows = stmt.query([&app]).db()?;
                let no_tags: [TagName; 0] = [];
                while let Some(r) = rows.next().db()? {
                    let ordinal: u32 = r.get(1).db()?;
                    ids.push((r.get(0).db()?, ordinal));
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
                    };
                    sink.device(ordinal, &facts);
                }
            }
            if !ids.windows(2).all(|w| w[0].0 < w[1].0) {
                ids.sort_unstable();
            }
            let (Some(first), Some(last)) = (ids.first(), ids.last()) else {
                return Ok(sink);
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
                        sink.tag(ids[at].1, tag);
                    }
                }
            }
            Ok(sink)
        })
        .await
    }

    async fn cids_of_ordinals(
        &self,
        app: &AppId,
        ordinals: &[u32],
    ) -> StoreResult<Vec<(u32, Cid)>> {
        let (app, ordinals) = (app.to_string(), ordinals.to_vec());
        self.read(move |tx| {
            let mut stmt = tx
                .prepare_cached("SELECT cid FROM devices WHERE app_id = ?1 AND ord = ?2")
                .db()?;
            let mut out = Vec::with_capacity(ordinals.len());
            for ord in ordinals {
                let cid: Option<String> = stmt
                    .query_row(params![app, ord], |r| r.get(0))
                    .optional()
                    .db()?;
                if let Some(cid) = cid {
                    out.push((
                        ord,
                        Cid::parse(cid).map_err(|e| StoreError::Backend(e.to_string()))?,
                    ));
                }
            }
            Ok(out)
        })
        .await
    }
}
