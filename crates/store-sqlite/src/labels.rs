//! Aliases and custom tags.

use std::collections::BTreeSet;

use async_trait::async_trait;
use roster_core::{limits, Alias, AppId, Cid, Error, TagName};
use roster_store::{AliasStore, StoreResult, TagStore};
use rusqlite::{params, OptionalExtension};

use crate::devices::{device_id, known_device, tags_of_id};
use crate::{DbResult, SqliteStore};

#[async_trait]
impl AliasStore for SqliteStore {
    async fn bind_aliases(&self, app: &AppId, pairs: &[(Cid, Alias)]) -> StoreResult<()> {
        let (app, pairs) = (app.to_string(), pairs.to_vec());
        self.write(move |tx| {
            let mut touched = BTreeSet::new();
            for (cid, alias) in &pairs {
                let id = known_device(tx, &app, cid.as_str())?;
                tx.prepare_cached("UPDATE devices SET alias = ?2 WHERE id = ?1")
                    .db()?
                    .execute(params![id, alias.as_str()])
                    .db()?;
                touched.insert(alias.as_str());
            }
            for alias in touched {
                let n: i64 = tx
                    .prepare_cached("SELECT COUNT(*) FROM devices WHERE app_id = ?1 AND alias = ?2")
                    .db()?
                    .query_row(params![app, alias], |r| r.get(0))
                    .db()?;
                if n > limits::CIDS_PER_ALIAS as i64 {
                    return Err(Error::over_limit("cid").into());
                }
            }
            Ok(())
        })
        .await
    }

    async fn unbind_aliases(&self, app: &AppId, pairs: &[(Cid, Alias)]) -> StoreResult<()> {
        let (app, pairs) = (app.to_string(), pairs.to_vec());
        self.write(move |tx| {
            for (cid, alias) in &pairs {
                let id = known_device(tx, &app, cid.as_str())?;
                tx.prepare_cached("UPDATE devices SET alias = NULL WHERE id = ?1 AND alias = ?2")
                    .db()?
                    .execute(params![id, alias.as_str()])
                    .db()?;
            }
            Ok(())
        })
        .await
    }

    async fn unbind_alias(&self, app: &AppId, alias: &Alias) -> StoreResult<u64> {
        let (app, alias) = (app.to_string(), alias.to_string());
        self.write(move |tx| {
            let n = tx
                .execute(
                    "UPDATE devices SET alias = NULL WHERE app_id = ?1 AND alias = ?2",
                    params![app, alias],
                )
                .db()?;
            Ok(n as u64)
        })
        .await
    }

    async fn alias_of(&self, app: &AppId, cid: &Cid) -> StoreResult<Option<Alias>> {
        let (app, cid) = (app.to_string(), cid.to_string());
        self.read(move |tx| {
            let alias: Option<Option<String>> = tx
                .prepare_cached("SELECT alias FROM devices WHERE app_id = ?1 AND cid = ?2")
                .db()?
                .query_row(params![app, cid], |r| r.get(0))
                .optional()
                .db()?;
            match alias {
                None => Err(Error::UnknownTarget.into()),
                Some(a) => Ok(a.and_then(|a| Alias::parse(a).ok())),
            }
        })
        .await
    }

    async fn cids_of_alias(&self, app: &AppId, alias: &Alias) -> StoreResult<Vec<Cid>> {
        let (app, alias) = (app.to_string(), alias.to_string());
        self.read(move |tx| {
            let mut stmt = tx
                .prepare_cached(
                    "SELECT cid FROM devices WHERE app_id = ?1 AND alias = ?2 ORDER BY id",
                )
                .db()?;
            let rows = stmt
                .query_map(params![app, alias], |r| r.get::<_, String>(0))
                .db()?;
            let mut out = Vec::new();
            for c in rows {
                if let Ok(c) = Cid::parse(c.db()?) {
                    out.push(c);
                }
            }
            Ok(out)
        })
        .await
    }
}

#[async_trait]
impl TagStore for SqliteStore {
    async fn replace_tags(&self, app: &AppId, cid: &Cid, tags: &[TagName]) -> StoreResult<()> {
        let (app, cid, tags) = (app.to_string(), cid.to_string(), tags.to_vec());
        self.write(move |tx| {
            let id = known_device(tx, &app, &cid)?;
            let distinct: BTreeSet<&str> = tags.iter().map(TagName::as_str).collect();
            if distinct.len() > limits::TAGS_PER_CID {
                return Err(Error::over_limit("custom_tag").into());
            }
            tx.execute("DELETE FROM device_tags WHERE device_id = ?1", [id])
                .db()?;
            let mut ins = tx
                .prepare_cached("INSERT INTO device_tags (device_id, tag) VALUES (?1, ?2)")
                .db()?;
            for t in distinct {
                ins.execute(params![id, t]).db()?;
            }
            Ok(())
        })
        .await
    }

    async fn add_tag(&self, app: &AppId, tag: &TagName, cids: &[Cid]) -> StoreResult<Vec<bool>> {
        let (app, tag, cids) = (app.to_string(), tag.to_string(), cids.to_vec());
        self.write(move |tx| {
            let mut out = Vec::with_capacity(cids.len());
            for cid in &cids {
                let Some(id) = device_id(tx, &app, cid.as_str())? else {
                    out.push(false);
                    continue;
                };
                let has: bool = tx
                    .prepare_cached(
                        "SELECT EXISTS (SELECT 1 FROM device_tags WHERE device_id = ?1 AND tag = ?2)",
                    )
                    .db()?
                    .query_row(params![id, tag], |r| r.get(0))
                    .db()?;
                if has {
                    out.push(true);
                    continue;
                }
                let n: i64 = tx
                    .prepare_cached("SELECT COUNT(*) FROM device_tags WHERE device_id = ?1")
                    .db()?
                    .query_row([id], |r| r.get(0))
                    .db()?;
                if n >= limits::TAGS_PER_CID as i64 {
                    out.push(false);
                    continue;
                }
                tx.prepare_cached("INSERT INTO device_tags (device_id, tag) VALUES (?1, ?2)")
                    .db()?
                    .execute(params![id, tag])
                    .db()?;
                out.push(true);
            }
            Ok(out)
        })
        .await
    }

    async fn remove_tag(&self, app: &AppId, tag: &TagName, cids: &[Cid]) -> StoreResult<Vec<bool>> {
        let (app, tag, cids) = (app.to_string(), tag.to_string(), cids.to_vec());
        self.write(move |tx| {
            let mut out = Vec::with_capacity(cids.len());
            for cid in &cids {
                let Some(id) = device_id(tx, &app, cid.as_str())? else {
                    out.push(false);
                    continue;
                };
                tx.prepare_cached("DELETE FROM device_tags WHERE device_id = ?1 AND tag = ?2")
                    .db()?
                    .execute(params![id, tag])
                    .db()?;
                out.push(true);
            }
            Ok(out)
        })
        .await
    }

    async fn tags_of(&self, app: &AppId, cid: &Cid) -> StoreResult<Vec<TagName>> {
        let (app, cid) = (app.to_string(), cid.to_string());
        self.read(move |tx| {
            let id = known_device(tx, &app, &cid)?;
            tags_of_id(tx, id)
        })
        .await
    }
}
