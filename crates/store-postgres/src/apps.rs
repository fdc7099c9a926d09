//! Apps and Getui tokens.

use async_trait::async_trait;
use roster_core::{App, AppCredentials, AppId, DtType, Error, NewApp};
use roster_store::{AppStore, StoreError, StoreResult, TokenGrant, TokenStore};

use crate::{Db, PgStore};

#[async_trait]
impl AppStore for PgStore {
    async fn create_app(&self, app: &NewApp) -> StoreResult<()> {
        let creds = serde_json::to_string(&app.credentials)
            .map_err(|e| StoreError::Backend(format!("encode credentials: {e}")))?;
        let id = app.credentials.app_id.as_str();
        let mut c = self.client().await?;
        let tx = c.transaction().await.db()?;
        let n = tx
            .execute(
                "INSERT INTO apps (id, name, created_at, credentials) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (id) DO NOTHING",
                &[&id, &app.name, &app.created_at, &creds],
            )
            .await
            .db()?;
        if n == 0 {
            return Err(Error::AlreadyExists("app".into()).into());
        }
        crate::users::insert_app_defaults(&tx, id, &app.credentials).await?;
        tx.commit().await.db()
    }

    async fn get_app(&self, app: &AppId) -> StoreResult<Option<App>> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                "SELECT name, created_at, credentials, enabled_dt_types FROM apps WHERE id = $1",
                &[&app.as_str()],
            )
            .await
            .db()?;
        let Some(row) = row else {
            return Ok(None);
        };
        let creds: String = row.get(2);
        let credentials: AppCredentials = serde_json::from_str(&creds)
            .map_err(|e| StoreError::Backend(format!("decode credentials: {e}")))?;
        let types: String = row.get(3);
        Ok(Some(App {
            name: row.get(0),
            credentials,
            created_at: row.get(1),
            enabled_dt_types: types.split(',').filter_map(DtType::parse).collect(),
        }))
    }

    async fn set_app_dt_types(&self, app: &AppId, types: &[DtType]) -> StoreResult<()> {
        let types = types
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join(",");
        let c = self.client().await?;
        let n = c
            .execute(
                "UPDATE apps SET enabled_dt_types = $2 WHERE id = $1",
                &[&app.as_str(), &types],
            )
            .await
            .db()?;
        if n == 0 {
            return Err(Error::NotFound("app".into()).into());
        }
        Ok(())
    }
}

#[async_trait]
impl TokenStore for PgStore {
    async fn insert_token(&self, app: &AppId, digest: &str, expires_at: i64) -> StoreResult<()> {
        let c = self.client().await?;
        let horizon = expires_at - 2 * roster_core::limits::GETUI_TOKEN_TTL_MS;
        c.execute(
            "DELETE FROM getui_tokens WHERE expires_at < $1",
            &[&horizon],
        )
        .await
        .db()?;
        c.execute(
            "INSERT INTO getui_tokens (digest, app_id, expires_at) VALUES ($1, $2, $3)",
            &[&digest, &app.as_str(), &expires_at],
        )
        .await
        .db()?;
        Ok(())
    }

    async fn live_token(&self, digest: &str, now: i64) -> StoreResult<Option<TokenGrant>> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                "SELECT app_id, expires_at FROM getui_tokens WHERE digest = $1 AND NOT revoked AND expires_at > $2",
                &[&digest, &now],
            )
            .await
            .db()?;
        Ok(row.and_then(|r| {
            let app = AppId::parse(r.get::<_, String>(0)).ok()?;
            Some(TokenGrant {
                app,
                expires_at: r.get(1),
            })
        }))
    }

    async fn revoke_token(&self, app: &AppId, digest: &str) -> StoreResult<bool> {
        let c = self.client().await?;
        let n = c
            .execute(
                "UPDATE getui_tokens SET revoked = TRUE WHERE digest = $1 AND app_id = $2 AND NOT revoked",
                &[&digest, &app.as_str()],
            )
            .await
            .db()?;
        Ok(n > 0)
    }
}
