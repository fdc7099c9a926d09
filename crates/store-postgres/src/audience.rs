//! Audience selectors in SQL, and the scans an in-memory index can be built from.

use async_trait::async_trait;
use futures_util::{pin_mut, TryStreamExt};
use roster_core::{Alias, AppId, AudienceQuery, Cid, DeviceFacts, PhoneType, TagName};
use roster_store::{AudienceStore, IndexRow, IndexSink, IndexSource, StoreError, StoreResult};
use tokio_postgres::types::ToSql;

use crate::devices::tags_of_id;
use crate::{Db, PgStore};

/// `WHERE` conditions for a query; parameters are numbered after `offset` fixed ones.
fn where_clause(q: &AudienceQuery, offset: usize, args: &mut Vec<String>) -> String {
    roster_store::sql::audience_conditions(q, &mut |v| {
        args.push(v);
        format!("${}", offset + args.len())
    })
}

fn phone(s: &str) -> StoreResult<PhoneType> {
    PhoneType::parse(s).ok_or_else(|| StoreError::Backend(format!("bad phone_type {s:?}")))
}

#[async_trait]
impl AudienceStore for PgStore {
    async fn count_audience(&self, app: &AppId, query: &AudienceQuery) -> StoreResult<u64> {
        let mut args = Vec::new();
        let clause = where_clause(query, 1, &mut args);
        let sql = format!("SELECT COUNT(*) FROM devices d WHERE d.app_id = $1{clause}");
        let app = app.as_str();
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&app];
        params.extend(args.iter().map(|a| a as &(dyn ToSql + Sync)));
        let c = self.client().await?;
        let n: i64 = c.query_one(&sql, &params).await.db()?.get(0);
        Ok(n as u64)
    }

    async fn audience_page(
        &self,
        app: &AppId,
        query: &AudienceQuery,
        after: Option<u32>,
        limit: usize,
    ) -> StoreResult<Vec<(u32, Cid)>> {
        let mut args = Vec::new();
        let clause = where_clause(query, 3, &mut args);
        let sql = format!(
            "SELECT d.ord, d.cid FROM devices d WHERE d.app_id = $1 AND d.ord > $2{clause}
             ORDER BY d.ord LIMIT $3"
        );
        let after = after.map_or(-1, i64::from);
        let limit = limit as i64;
        let app = app.as_str();
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&app, &after, &limit];
        params.extend(args.iter().map(|a| a as &(dyn ToSql + Sync)));
        let c = self.client().await?;
        let rows = c.query(&sql, &params).await.db()?;
        rows.iter()
            .map(|r| {
                let ord: i64 = r.get(0);
                let cid = Cid::parse(r.get::<_, String>(1))
                    .map_err(|e| StoreError::Backend(e.to_string()))?;
                Ok((ord as u32, cid))
            })
            .collect()
    }
}

#[async_trait]
impl IndexSource for PgStore {
    async fn app_ids(&self) -> StoreResult<Vec<AppId>> {
        let c = self.client().await?;
        let rows = c.query("SELECT id FROM apps ORDER BY id", &[]).await.db()?;
        Ok(rows
            .iter()
            .filter_map(|r| AppId::parse(r.get::<_, String>(0)).ok())
            .collect())
    }

    async fn index_rows(&self, app: &AppId, cids: &[Cid]) -> StoreResult<Vec<IndexRow>> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.db()?;
        let mut out = Vec::with_capacity(cids.len());
        for cid in cids {
            let row = tx
                .query_opt(
                    "SELECT id, ord, phone_type, region, brand, alias, blacklisted, notification_switch
                     FROM devices WHERE app_id = $1 AND cid = $2",
                    &[&app.as_str(), &cid.as_str()],
                )
                .await
                .db()?;
            let Some(r) = row else {
                continue;
            };
            let id: i64 = r.get(0);
            out.push(IndexRow {
                ordinal: r.get::<_, i64>(1) as u32,
                cid: cid.clone(),
                phone_type: phone(r.get(2))?,
                region: r.get(3),
                brand: r.get(4),
                tags: tags_of_id(&tx, id).await?,
                alias: r
                    .get::<_, Option<String>>(5)
                    .and_then(|a| Alias::parse(a).ok()),
                blacklisted: r.get(6),
                notification_switch: r.get(7),
            });
        }
        tx.commit().await.db()?;
        Ok(out)
    }

    async fn scan_index(
        &self,
        app: &AppId,
        mut sink: Box<dyn IndexSink>,
    ) -> StoreResult<Box<dyn IndexSink>> {
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
        let rows = tx
            .query_raw(
                "SELECT ord, cid, phone_type, region, brand, alias, blacklisted, notification_switch
                 FROM devices WHERE app_id = $1 ORDER BY ord",
                params,
            )
            .await
            .db()?;
        pin_mut!(rows);
        while let Some(r) = rows.try_next().await.db()? {
            let brand: Option<&str> = r.get(4);
            let facts = DeviceFacts {
                cid: r.get(1),
                phone_type: phone(r.get(2))?,
                region: r.get(3),
                tags: &no_tags,
                brand: brand.unwrap_or("unknown"),
                alias: r.get(5),
                blacklisted: r.get(6),
                notification_switch: r.get(7),
            };
            sink.device(r.get::<_, i64>(0) as u32, &facts);
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
            sink.tag(r.get::<_, i64>(0) as u32, r.get(1));
        }
        tx.commit().await.db()?;
        Ok(sink)
    }

    async fn cids_of_ordinals(
        &self,
        app: &AppId,
        ordinals: &[u32],
    ) -> StoreResult<Vec<(u32, Cid)>> {
        let ords: Vec<i64> = ordinals.iter().map(|o| i64::from(*o)).collect();
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT ord, cid FROM devices WHERE app_id = $1 AND ord = ANY($2) ORDER BY ord",
                &[&app.as_str(), &ords],
            )
            .await
            .db()?;
        rows.iter()
            .map(|r| {
                let cid = Cid::parse(r.get::<_, String>(1))
                    .map_err(|e| StoreError::Backend(e.to_string()))?;
                Ok((r.get::<_, i64>(0) as u32, cid))
            })
            .collect()
    }
}
