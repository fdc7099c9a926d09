//! The identity graph: credentials, UMS configuration, users and their bindings.

use async_trait::async_trait;
use deadpool_postgres::Transaction;
use roster_core::ums::{SenderKind, UmsField, UmsUserChanges, UmsVerb, BIND_ALL};
use roster_core::user::{Identify, IdentityName, Uid, User, REGISTRATION_ID, USER_ID};
use roster_core::{AppCredentials, AppId, Error};
use roster_store::{Credential, CredentialKind, StoreError, StoreResult, UmsConfig, UserStore};

use crate::{lock_app, Db, PgStore};

/// Keys, default channel, APP sender and its grant of a new app.
pub(crate) async fn insert_app_defaults(
    tx: &Transaction<'_>,
    app: &str,
    c: &AppCredentials,
) -> StoreResult<()> {
    let keys = CredentialKind::defaults(c);
    for (key, secret, kind) in keys {
        tx.execute(
            "INSERT INTO credentials (key, secret, app_id, kind) VALUES ($1, $2, $3, $4)",
            &[&key, &secret, &app, &kind.as_str()],
        )
        .await
        .db()?;
    }
    tx.execute(
        "INSERT INTO ums_channels (channel_key, app_id, code) VALUES ($1, $2, $3)",
        &[&c.ums.channel_key, &app, &c.ums.channel_code],
    )
    .await
    .db()?;
    tx.execute(
        "INSERT INTO ums_senders (app_id, code, kind) VALUES ($1, $2, 'app')",
        &[&app, &c.ums.app_sender_code],
    )
    .await
    .db()?;
    tx.execute(
        "INSERT INTO ums_grants (channel_key, sender_code) VALUES ($1, $2)",
        &[&c.ums.channel_key, &c.ums.app_sender_code],
    )
    .await
    .db()?;
    Ok(())
}

async fn uid_of(
    tx: &Transaction<'_>,
    app: &str,
    name: &str,
    value: &str,
) -> StoreResult<Option<Uid>> {
    let stmt = tx
        .prepare_cached(
            "SELECT uid FROM user_identities WHERE app_id = $1 AND name = $2 AND value = $3",
        )
        .await
        .db()?;
    Ok(tx
        .query_opt(&stmt, &[&app, &name, &value])
        .await
        .db()?
        .map(|r| r.get(0)))
}

async fn new_user(tx: &Transaction<'_>, app: &str, now: i64) -> StoreResult<Uid> {
    Ok(tx
        .query_one(
            "INSERT INTO users (app_id, created_at) VALUES ($1, $2) RETURNING uid",
            &[&app, &now],
        )
        .await
        .db()?
        .get(0))
}

async fn attach(
    tx: &Transaction<'_>,
    app: &str,
    name: &str,
    value: &str,
    uid: Uid,
    unique: bool,
) -> StoreResult<()> {
    if unique {
        tx.execute(
            "DELETE FROM user_identities WHERE app_id = $1 AND name = $2 AND uid = $3 AND value <> $4",
            &[&app, &name, &uid, &value],
        )
        .await
        .db()?;
    }
    tx.execute(
        "INSERT INTO user_identities (app_id, name, value, uid) VALUES ($1, $2, $3, $4)
         ON CONFLICT (app_id, name, value) DO UPDATE SET uid = excluded.uid",
        &[&app, &name, &value, &uid],
    )
    .await
    .db()?;
    Ok(())
}

async fn detach(
    tx: &Transaction<'_>,
    app: &str,
    name: &str,
    value: &str,
    uid: Uid,
) -> StoreResult<()> {
    tx.execute(
        "DELETE FROM user_identities WHERE app_id = $1 AND name = $2 AND value = $3 AND uid = $4",
        &[&app, &name, &value, &uid],
    )
    .await
    .db()?;
    Ok(())
}

async fn is_device(tx: &Transaction<'_>, app: &str, cid: &str) -> StoreResult<bool> {
    Ok(tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM devices WHERE app_id = $1 AND cid = $2)",
            &[&app, &cid],
        )
        .await
        .db()?
        .get(0))
}

async fn all_names(tx: &Transaction<'_>, app: &str) -> StoreResult<Vec<IdentityName>> {
    let rows = tx
        .query(
            "SELECT name, is_unique, priority FROM identity_names WHERE app_id = $1",
            &[&app],
        )
        .await
        .db()?;
    let mut names: Vec<IdentityName> = IdentityName::builtins().into_iter().collect();
    names.extend(rows.iter().map(|r| IdentityName {
        name: r.get(0),
        unique: r.get(1),
        priority: u32::try_from(r.get::<_, i64>(2)).unwrap_or(u32::MAX),
    }));
    names.sort_by_key(IdentityName::resolution_key);
    Ok(names)
}

async fn unbind(
    tx: &Transaction<'_>,
    app: &str,
    uid: Uid,
    field: UmsField,
    bind_id: &str,
    value: &str,
) -> StoreResult<()> {
    if bind_id == BIND_ALL {
        if let Some(kind) = field.contact_kind() {
            tx.execute(
                "DELETE FROM user_contacts WHERE uid = $1 AND kind = $2 AND value = $3",
                &[&uid, &kind, &value],
            )
            .await
            .db()?;
            return Ok(());
        }
    }
    tx.execute(
        "DELETE FROM ums_bindings WHERE uid = $1 AND field = $2 AND bind_id = $3 AND value = $4",
        &[&uid, &field.as_str(), &bind_id, &value],
    )
    .await
    .db()?;
    if field == UmsField::App {
        detach(tx, app, REGISTRATION_ID, value, uid).await?;
    }
    Ok(())
}

async fn bind(
    tx: &Transaction<'_>,
    app: &str,
    uid: Uid,
    field: UmsField,
    bind_id: &str,
    value: &str,
) -> StoreResult<()> {
    if bind_id == BIND_ALL {
        if let Some(kind) = field.contact_kind() {
            tx.execute(
                "INSERT INTO user_contacts (uid, kind, value) VALUES ($1, $2, $3)
                 ON CONFLICT (uid, kind) DO UPDATE SET value = excluded.value",
                &[&uid, &kind, &value],
            )
            .await
            .db()?;
            return Ok(());
        }
    }
    tx.execute(
        "INSERT INTO ums_bindings (uid, field, bind_id, value) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        &[&uid, &field.as_str(), &bind_id, &value],
    )
    .await
    .db()?;
    if field == UmsField::App && is_device(tx, app, value).await? {
        attach(tx, app, REGISTRATION_ID, value, uid, false).await?;
    }
    Ok(())
}

async fn values(
    tx: &Transaction<'_>,
    uid: Uid,
    field: UmsField,
    bind_id: &str,
) -> StoreResult<Vec<String>> {
    if bind_id == BIND_ALL {
        if let Some(kind) = field.contact_kind() {
            let row = tx
                .query_opt(
                    "SELECT value FROM user_contacts WHERE uid = $1 AND kind = $2",
                    &[&uid, &kind],
                )
                .await
                .db()?;
            return Ok(row.map(|r| r.get(0)).into_iter().collect());
        }
    }
    let rows = tx
        .query(
            "SELECT value FROM ums_bindings WHERE uid = $1 AND field = $2 AND bind_id = $3",
            &[&uid, &field.as_str(), &bind_id],
        )
        .await
        .db()?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

async fn apply_user(
    tx: &Transaction<'_>,
    app: &str,
    u: &UmsUserChanges,
    now: i64,
) -> StoreResult<()> {
    let uid = match uid_of(tx, app, USER_ID, &u.userid).await? {
        Some(uid) => uid,
        None => {
            let uid = new_user(tx, app, now).await?;
            attach(tx, app, USER_ID, &u.userid, uid, true).await?;
            uid
        }
    };
    let mut changes = u.changes.clone();
    changes.sort_by_key(|c| c.verb);
    for c in &changes {
        match c.verb {
            UmsVerb::Set => {
                for old in values(tx, uid, c.field, &c.bind_id).await? {
                    if !c.values.contains(&old) {
                        unbind(tx, app, uid, c.field, &c.bind_id, &old).await?;
                    }
                }
                for v in &c.values {
                    bind(tx, app, uid, c.field, &c.bind_id, v).await?;
                }
            }
            UmsVerb::Add => {
                for v in &c.values {
                    bind(tx, app, uid, c.field, &c.bind_id, v).await?;
                }
            }
            UmsVerb::Del => {
                for v in &c.values {
                    unbind(tx, app, uid, c.field, &c.bind_id, v).await?;
                }
            }
        }
    }
    Ok(())
}

fn json_err(e: serde_json::Error) -> StoreError {
    StoreError::Backend(format!("json: {e}"))
}

async fn read_user(tx: &Transaction<'_>, app: &str, uid: Uid) -> StoreResult<Option<User>> {
    let row = tx
        .query_opt(
            "SELECT properties FROM users WHERE uid = $1 AND app_id = $2",
            &[&uid, &app],
        )
        .await
        .db()?;
    let Some(row) = row else {
        return Ok(None);
    };
    let props: String = row.get(0);
    let pairs = |rows: Vec<tokio_postgres::Row>| -> Vec<(String, String)> {
        rows.iter().map(|r| (r.get(0), r.get(1))).collect()
    };
    let identities = pairs(
        tx.query(
            "SELECT name, value FROM user_identities WHERE uid = $1 ORDER BY name, value",
            &[&uid],
        )
        .await
        .db()?,
    );
    let contacts = pairs(
        tx.query(
            "SELECT kind, value FROM user_contacts WHERE uid = $1 ORDER BY kind",
            &[&uid],
        )
        .await
        .db()?,
    );
    let bindings = tx
        .query("SELECT field, bind_id, value FROM ums_bindings WHERE uid = $1 ORDER BY field, bind_id, value", &[&uid])
        .await
        .db()?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    Ok(Some(User {
        uid,
        identities,
        properties: serde_json::from_str(&props).map_err(json_err)?,
        contacts,
        bindings,
    }))
}

async fn exists(tx: &Transaction<'_>, sql: &str, a: &str, b: &str) -> StoreResult<bool> {
    Ok(tx.query_one(sql, &[&a, &b]).await.db()?.get(0))
}

#[async_trait]
impl UserStore for PgStore {
    async fn find_credential(&self, key: &str) -> StoreResult<Option<Credential>> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                "SELECT app_id, kind, secret FROM credentials WHERE key = $1",
                &[&key],
            )
            .await
            .db()?;
        Ok(row.and_then(|r| {
            Some(Credential {
                app: AppId::parse(r.get::<_, String>(0)).ok()?,
                kind: CredentialKind::parse(r.get(1))?,
                secret: r.get(2),
            })
        }))
    }

    async fn ums_config(&self, app: &AppId) -> StoreResult<UmsConfig> {
        let c = self.client().await?;
        let app = app.as_str();
        let channels = c
            .query(
                "SELECT channel_key, code FROM ums_channels WHERE app_id = $1",
                &[&app],
            )
            .await
            .db()?;
        let senders = c
            .query(
                "SELECT code, kind FROM ums_senders WHERE app_id = $1",
                &[&app],
            )
            .await
            .db()?;
        let grants = c
            .query(
                "SELECT g.channel_key, g.sender_code FROM ums_grants g
                 JOIN ums_channels c ON c.channel_key = g.channel_key WHERE c.app_id = $1",
                &[&app],
            )
            .await
            .db()?;
        Ok(UmsConfig {
            channels: channels.iter().map(|r| (r.get(0), r.get(1))).collect(),
            senders: senders
                .iter()
                .filter_map(|r| Some((r.get(0), SenderKind::parse(r.get(1))?)))
                .collect(),
            grants: grants.iter().map(|r| (r.get(0), r.get(1))).collect(),
        })
    }

    async fn create_ums_channel(
        &self,
        app: &AppId,
        key: &str,
        secret: &str,
        code: &str,
    ) -> StoreResult<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.db()?;
        lock_app(&tx, app.as_str()).await?;
        if exists(
            &tx,
            "SELECT EXISTS (SELECT 1 FROM ums_channels WHERE app_id = $1 AND code = $2)",
            app.as_str(),
            code,
        )
        .await?
        {
            return Err(Error::AlreadyExists("channel_code".into()).into());
        }
        tx.execute(
            "INSERT INTO ums_channels (channel_key, app_id, code) VALUES ($1, $2, $3)",
            &[&key, &app.as_str(), &code],
        )
        .await
        .db()?;
        tx.execute(
            "INSERT INTO credentials (key, secret, app_id, kind) VALUES ($1, $2, $3, 'ums_channel')",
            &[&key, &secret, &app.as_str()],
        )
        .await
        .db()?;
        tx.commit().await.db()
    }

    async fn create_ums_sender(
        &self,
        app: &AppId,
        code: &str,
        kind: SenderKind,
    ) -> StoreResult<()> {
        let c = self.client().await?;
        let n = c
            .execute(
                "INSERT INTO ums_senders (app_id, code, kind) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                &[&app.as_str(), &code, &kind.as_str()],
            )
            .await
            .db()?;
        if n == 0 {
            return Err(Error::AlreadyExists("sender_code".into()).into());
        }
        Ok(())
    }

    async fn grant_ums_sender(
        &self,
        app: &AppId,
        channel_key: &str,
        sender_code: &str,
    ) -> StoreResult<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.db()?;
        if !exists(
            &tx,
            "SELECT EXISTS (SELECT 1 FROM ums_channels WHERE app_id = $1 AND channel_key = $2)",
            app.as_str(),
            channel_key,
        )
        .await?
        {
            return Err(Error::NotFound("channel".into()).into());
        }
        if !exists(
            &tx,
            "SELECT EXISTS (SELECT 1 FROM ums_senders WHERE app_id = $1 AND code = $2)",
            app.as_str(),
            sender_code,
        )
        .await?
        {
            return Err(Error::NotFound("sender".into()).into());
        }
        tx.execute(
            "INSERT INTO ums_grants (channel_key, sender_code) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&channel_key, &sender_code],
        )
        .await
        .db()?;
        tx.commit().await.db()
    }

    async fn identity_names(&self, app: &AppId) -> StoreResult<Vec<IdentityName>> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.db()?;
        let names = all_names(&tx, app.as_str()).await?;
        tx.commit().await.db()?;
        Ok(names)
    }

    async fn create_identity_name(&self, app: &AppId, name: &IdentityName) -> StoreResult<()> {
        let c = self.client().await?;
        let n = c
            .execute(
                "INSERT INTO identity_names (app_id, name, is_unique, priority) VALUES ($1, $2, $3, $4)
                 ON CONFLICT DO NOTHING",
                &[&app.as_str(), &name.name, &name.unique, &i64::from(name.priority)],
            )
            .await
            .db()?;
        if n == 0 {
            return Err(Error::AlreadyExists("identity name".into()).into());
        }
        Ok(())
    }

    async fn ums_apply(&self, app: &AppId, users: &[UmsUserChanges], now: i64) -> StoreResult<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.db()?;
        lock_app(&tx, app.as_str()).await?;
        for u in users {
            apply_user(&tx, app.as_str(), u, now).await?;
        }
        tx.commit().await.db()
    }

    async fn ums_delete(&self, app: &AppId, userids: &[String]) -> StoreResult<Vec<bool>> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.db()?;
        lock_app(&tx, app.as_str()).await?;
        let mut out = Vec::with_capacity(userids.len());
        for userid in userids {
            match uid_of(&tx, app.as_str(), USER_ID, userid).await? {
                Some(uid) => {
                    tx.execute("DELETE FROM users WHERE uid = $1", &[&uid])
                        .await
                        .db()?;
                    out.push(true);
                }
                None => out.push(false),
            }
        }
        tx.commit().await.db()?;
        Ok(out)
    }

    async fn register_identities(
        &self,
        app: &AppId,
        name: &str,
        values: &[String],
        now: i64,
    ) -> StoreResult<Vec<Uid>> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.db()?;
        lock_app(&tx, app.as_str()).await?;
        let unique = all_names(&tx, app.as_str())
            .await?
            .into_iter()
            .find(|n| n.name == name)
            .map(|n| n.unique)
            .ok_or_else(|| Error::NotFound("identity name".into()))?;
        let mut out = Vec::with_capacity(values.len());
        for v in values {
            let uid = match uid_of(&tx, app.as_str(), name, v).await? {
                Some(uid) => uid,
                None => {
                    let uid = new_user(&tx, app.as_str(), now).await?;
                    attach(&tx, app.as_str(), name, v, uid, unique).await?;
                    uid
                }
            };
            out.push(uid);
        }
        tx.commit().await.db()?;
        Ok(out)
    }

    async fn identify_user(
        &self,
        app: &AppId,
        identify: &Identify,
        now: i64,
    ) -> StoreResult<(Uid, bool)> {
        let app = app.as_str();
        let mut c = self.client().await?;
        let tx = c.transaction().await.db()?;
        lock_app(&tx, app).await?;
        let names = all_names(&tx, app).await?;
        let mut ids = Vec::with_capacity(identify.identities.len());
        for (name, value) in &identify.identities {
            let n = names
                .iter()
                .find(|n| &n.name == name)
                .ok_or_else(|| Error::invalid(format!("identities.{name}")))?;
            if n.name == REGISTRATION_ID && !is_device(&tx, app, value).await? {
                return Err(Error::UnknownTarget.into());
            }
            ids.push((n.resolution_key(), n.name.clone(), n.unique, value.clone()));
        }
        ids.sort();
        let mut found = None;
        for (_, name, _, value) in &ids {
            if let Some(uid) = uid_of(&tx, app, name, value).await? {
                found = Some(uid);
                break;
            }
        }
        let (uid, created) = match found {
            Some(uid) => (uid, false),
            None => (new_user(&tx, app, now).await?, true),
        };
        for (_, name, unique, value) in &ids {
            attach(&tx, app, name, value, uid, *unique).await?;
        }
        if !identify.properties.is_empty() {
            let props: String = tx
                .query_one("SELECT properties FROM users WHERE uid = $1", &[&uid])
                .await
                .db()?
                .get(0);
            let mut merged: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&props).map_err(json_err)?;
            merged.extend(identify.properties.clone());
            let merged = serde_json::to_string(&merged).map_err(json_err)?;
            tx.execute(
                "UPDATE users SET properties = $2 WHERE uid = $1",
                &[&uid, &merged],
            )
            .await
            .db()?;
        }
        for (kind, value) in &identify.contacts {
            tx.execute(
                "INSERT INTO user_contacts (uid, kind, value) VALUES ($1, $2, $3)
                 ON CONFLICT (uid, kind) DO UPDATE SET value = excluded.value",
                &[&uid, kind, value],
            )
            .await
            .db()?;
        }
        tx.commit().await.db()?;
        Ok((uid, created))
    }

    async fn get_users(&self, app: &AppId, uids: &[Uid]) -> StoreResult<Vec<User>> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.db()?;
        let mut out = Vec::with_capacity(uids.len());
        for uid in uids {
            if let Some(u) = read_user(&tx, app.as_str(), *uid).await? {
                out.push(u);
            }
        }
        tx.commit().await.db()?;
        Ok(out)
    }

    async fn find_user(&self, app: &AppId, name: &str, value: &str) -> StoreResult<Option<Uid>> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.db()?;
        let uid = uid_of(&tx, app.as_str(), name, value).await?;
        tx.commit().await.db()?;
        Ok(uid)
    }
}
