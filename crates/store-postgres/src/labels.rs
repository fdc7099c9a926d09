//! Aliases and custom tags.

use std::collections::BTreeSet;

use async_trait::async_trait;
use roster_core::{limits, Alias, AppId, Cid, Error, TagName};
use roster_store::{AliasStore, StoreResult, TagStore};

use crate::devices::{device_id, known_device, tags_of_id};
use crate::{lock_app, Db, PgStore};

#[async_trait]
impl AliasStore for PgStore {
    async fn bind_aliases(&self, app: &AppId, pairs: &[(Cid, Alias)]) -> StoreResult<()> {
        let app = app.as_str();
        let mut c = self.client().await?;
        let tx = c.transaction().await.db()?;
        lock_app(&tx, app).await?;
        let mut touched = BTreeSet::new();
        for (cid, alias) in pairs {
            let id = known_device(&tx, app, cid.as_str()).await?;
            tx.execute(
                "UPDATE devices SET alias = $2 WHERE id = $1",
                &[&id, &alias.as_str()],
            )
            .await
            .db()?;
            touched.insert(alias.as_str());
        }
        for alias in touched {
            let n: i64 = tx
                .query_one(
                    "SELECT COUNT(*) FROM devices WHERE app_id = $1 AND alias = $2",
                    &[&app, &alias],
                )
                .await
                .db()?
                .get(0);
            if n > limits::CIDS_PER_ALIAS as i64 {
                return Err(Error::over_limit("cid").into());
            }
        }
        tx.commit().await.db()
    }

    async fn unbind_aliases(&self, app: &AppId, pairs: &[(Cid, Alias)]) -> StoreResult<()> {
        let app = app.as_str();
        let mut c = self.client().await?;
        let tx = c.transaction().await.db()?;
        lock_app(&tx, app).await?;
        for (cid, alias) in pairs {
            let id = known_device(&tx, app, cid.as_str()).await?;
            tx.execute(
                "UPDATE devices SET alias = NULL WHERE id = $1 AND alias = $2",
                &[&id, &alias.as_str()],
            )
            .await
            .db()?;
        }
        tx.commit().await.db()
    }

    async fn unbind_alias(&self, app: &AppId, alias: &Alias) -> StoreResult<u64> {
        let c = self.client().await?;
        c.execute(
            "UPDATE devices SET alias = NULL WHERE app_id = $1 AND alias = $2",
            &[&app.as_str(), &alias.as_str()],
        )
        .await
        .db()
    }

    async fn alias_of(&self, app: &AppId, cid: &Cid) -> StoreResult<Option<Alias>> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                "SELECT alias FROM devices WHERE app_id = $1 AND cid = $2",
                &[&app.as_str(), &cid.as_str()],
            )
            .await
            .db()?;
        match row {
            None => Err(Error::UnknownTarget.into()),
            Some(r) => Ok(r
                .get::<_, Option<String>>(0)
                .and_then(|a| Alias::parse(a).ok())),
        }
    }

    async fn cids_of_alias(&self, app: &AppId, alias: &Alias) -> StoreResult<Vec<Cid>> {
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT cid FROM devices WHERE app_id = $1 AND alias = $2 ORDER BY id",
                &[&app.as_str(), &alias.as_str()],
            )
            .await
            .db()?;
        Ok(rows
            .iter()
            .filter_map(|r| Cid::parse(r.get::<_, String>(0)).ok())
            .collect())
    }
}

#[async_trait]
impl TagStore for PgStore {
    async fn replace_tags(&self, app: &AppId, cid: &Cid, tags: &[TagName]) -> StoreResult<()> {
        let distinct: BTreeSet<&str> = tags.iter().map(TagName::as_str).collect();
        let mut c = self.client().await?;
        let tx = c.transaction().await.db()?;
        lock_app(&tx, app.as_str()).await?;
        let id = known_device(&tx, app.as_str(), cid.as_str()).await?;
        if distinct.len() > limits::TAGS_PER_CID {
            return Err(Error::over_limit("custom_tag").into());
        }
        tx.execute("DELETE FROM device_tags WHERE device_id = $1", &[&id])
            .await
            .db()?;
        let list: Vec<&str> = distinct.into_iter().collect();
        tx.execute(
            "INSERT INTO device_tags (device_id, tag) SELECT $1, t FROM UNNEST($2::text[]) AS t",
            &[&id, &list],
        )
        .await
        .db()?;
        tx.commit().await.db()
    }

    async fn add_tag(&self, app: &AppId, tag: &TagName, cids: &[Cid]) -> StoreResult<Vec<bool>> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.db()?;
        lock_app(&tx, app.as_str()).await?;
        let mut out = Vec::with_capacity(cids.len());
        for cid in cids {
            let Some(id) = device_id(&tx, app.as_str(), cid.as_str()).await? else {
                out.push(false);
                continue;
            };
            let row = tx
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM device_tags WHERE device_id = $1 AND tag = $2),
                            (SELECT COUNT(*) FROM device_tags WHERE device_id = $1)",
                    &[&id, &tag.as_str()],
                )
                .await
                .db()?;
            let (has, n): (bool, i64) = (row.get(0), row.get(1));
            if has {
                out.push(true);
            } else if n >= limits::TAGS_PER_CID as i64 {
                out.push(false);
            } else {
                tx.execute(
                    "INSERT INTO device_tags (device_id, tag) VALUES ($1, $2)",
                    &[&id, &tag.as_str()],
                )
                .await
                .db()?;
                out.push(true);
            }
        }
        tx.commit().await.db()?;
        Ok(out)
    }

    async fn remove_tag(&self, app: &AppId, tag: &TagName, cids: &[Cid]) -> StoreResult<Vec<bool>> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.db()?;
        lock_app(&tx, app.as_str()).await?;
        let mut out = Vec::with_capacity(cids.len());
        for cid in cids {
            let Some(id) = device_id(&tx, app.as_str(), cid.as_str()).await? else {
                out.push(false);
                continue;
            };
            tx.execute(
                "DELETE FROM device_tags WHERE device_id = $1 AND tag = $2",
                &[&id, &tag.as_str()],
            )
            .await
            .db()?;
            out.push(true);
        }
        tx.commit().await.db()?;
        Ok(out)
    }

    async fn tags_of(&self, app: &AppId, cid: &Cid) -> StoreResult<Vec<TagName>> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.db()?;
        let id = known_device(&tx, app.as_str(), cid.as_str()).await?;
        let tags = tags_of_id(&tx, id).await?;
        tx.commit().await.db()?;
        Ok(tags)
    }
}
