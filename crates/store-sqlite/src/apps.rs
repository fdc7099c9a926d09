//! Apps and Getui tokens.

use async_trait::async_trait;
use roster_core::{App, AppCredentials, AppId, DtType, Error, NewApp};
use roster_store::{AppStore, StoreError, StoreResult, TokenGrant, TokenStore};
use rusqlite::{params, OptionalExtension};

use crate::{DbResult, SqliteStore};

fn encode_types(types: &[DtType]) -> String {
    types
        .iter()
        .map(|t| t.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn decode_types(s: &str) -> Vec<DtType> {
    s.split(',').filter_map(DtType::parse).collect()
}

#[async_trait]
impl AppStore for SqliteStore {
    async fn create_app(&self, app: &NewApp) -> StoreResult<()> {
        let creds = serde_json::to_string(&app.credentials)
            .map_err(|e| StoreError::Backend(format!("encode credentials: {e}")))?;
        let creds_parsed = app.credentials.clone();
        let (id, name, at) = (
            app.credentials.app_id.to_string(),
            app.name.clone(),
            app.created_at,
        );
        self.write(move |tx| {
            let n = tx
                .execute(
                    "INSERT INTO apps (id, name, created_at, credentials) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (id) DO NOTHING",
                    params![id, name, at, creds],
                )
                .db()?;
            if n == 0 {
                return Err(Error::AlreadyExists("app".into()).into());
            }
            crate::users::insert_app_defaults(tx, &id, &creds_parsed)?;
            Ok(())
        })
        .await
    }

    async fn get_app(&self, app: &AppId) -> StoreResult<Option<App>> {
        let id = app.to_string();
        self.read(move |tx| {
            let row = tx
                .query_row(
                    "SELECT name, created_at, credentials, enabled_dt_types FROM apps WHERE id = ?1",
                    [id],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, String>(3)?,
                        ))
                    },
                )
                .optional()
                .db()?;
            let Some((name, created_at, creds, types)) = row else {
                return Ok(None);
            };
            let credentials: AppCredentials = serde_json::from_str(&creds)
                .map_err(|e| StoreError::Backend(format!("decode credentials: {e}")))?;
            Ok(Some(App {
                name,
                credentials,
                created_at,
                enabled_dt_types: decode_types(&types),
            }))
        })
        .await
    }

    async fn set_app_dt_types(&self, app: &AppId, types: &[DtType]) -> StoreResult<()> {
        let (id, types) = (app.to_string(), encode_types(types));
        self.write(move |tx| {
            let n = tx
                .execute(
                    "UPDATE apps SET enabled_dt_types = ?2 WHERE id = ?1",
                    params![id, types],
                )
                .db()?;
            if n == 0 {
                return Err(Error::NotFound("app".into()).into());
            }
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl TokenStore for SqliteStore {
    async fn insert_token(&self, app: &AppId, digest: &str, expires_at: i64) -> StoreResult<()> {
        let (id, digest) = (app.to_string(), digest.to_owned());
        self.write(move |tx| {
            // Tokens two lifetimes past expiry are of no use to anyone.
            let horizon = expires_at - 2 * roster_core::limits::GETUI_TOKEN_TTL_MS;
            tx.execute("DELETE FROM getui_tokens WHERE expires_at < ?1", [horizon])
                .db()?;
            tx.execute(
                "INSERT INTO getui_tokens (digest, app_id, expires_at) VALUES (?1, ?2, ?3)",
                params![digest, id, expires_at],
            )
            .db()?;
            Ok(())
        })
        .await
    }

    async fn live_token(&self, digest: &str, now: i64) -> StoreResult<Option<TokenGrant>> {
        let digest = digest.to_owned();
        self.read(move |tx| {
            let row: Option<(String, i64)> = tx
                .query_row(
                    "SELECT app_id, expires_at FROM getui_tokens
                     WHERE digest = ?1 AND revoked = 0 AND expires_at > ?2",
                    params![digest, now],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .db()?;
            Ok(row.and_then(|(id, expires_at)| {
                let app = AppId::parse(id).ok()?;
                Some(TokenGrant { app, expires_at })
            }))
        })
        .await
    }

    async fn revoke_token(&self, app: &AppId, digest: &str) -> StoreResult<bool> {
        let (id, digest) = (app.to_string(), digest.to_owned());
        self.write(move |tx| {
            let n = tx
                .execute(
                    "UPDATE getui_tokens SET revoked = 1
                     WHERE digest = ?1 AND app_id = ?2 AND revoked = 0",
                    params![digest, id],
                )
                .db()?;
            Ok(n > 0)
        })
        .await
    }
}
