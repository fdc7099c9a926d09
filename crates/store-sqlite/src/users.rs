//! The identity graph: credentials, UMS configuration, users and their bindings.

use async_trait::async_trait;
use roster_core::ums::{SenderKind, UmsField, UmsUserChanges, UmsVerb, BIND_ALL};
use roster_core::user::{Identify, IdentityName, Uid, User, REGISTRATION_ID, USER_ID};
use roster_core::{AppCredentials, AppId, Error};
use roster_store::{Credential, CredentialKind, StoreError, StoreResult, UmsConfig, UserStore};
use rusqlite::{params, OptionalExtension, Transaction};

use crate::{DbResult, SqliteStore};

/// Keys, default channel, APP sender and its grant of a new app.
pub(crate) fn insert_app_defaults(
    tx: &Transaction<'_>,
    app: &str,
    c: &AppCredentials,
) -> StoreResult<()> {
    let keys = CredentialKind::defaults(c);
    for (key, secret, kind) in keys {
        tx.execute(
            "INSERT INTO credentials (key, secret, app_id, kind) VALUES (?1, ?2, ?3, ?4)",
            params![key, secret, app, kind.as_str()],
        )
        .db()?;
    }
    tx.execute(
        "INSERT INTO ums_channels (channel_key, app_id, code) VALUES (?1, ?2, ?3)",
        params![c.ums.channel_key, app, c.ums.channel_code],
    )
    .db()?;
    tx.execute(
        "INSERT INTO ums_senders (app_id, code, kind) VALUES (?1, ?2, 'app')",
        params![app, c.ums.app_sender_code],
    )
    .db()?;
    tx.execute(
        "INSERT INTO ums_grants (channel_key, sender_code) VALUES (?1, ?2)",
        params![c.ums.channel_key, c.ums.app_sender_code],
    )
    .db()?;
    Ok(())
}

fn uid_of(tx: &Transaction<'_>, app: &str, name: &str, value: &str) -> StoreResult<Option<Uid>> {
    tx.prepare_cached(
        "SELECT uid FROM user_identities WHERE app_id = ?1 AND name = ?2 AND value = ?3",
    )
    .db()?
    .query_row(params![app, name, value], |r| r.get(0))
    .optional()
    .db()
}

fn new_user(tx: &Transaction<'_>, app: &str, now: i64) -> StoreResult<Uid> {
    tx.prepare_cached("INSERT INTO users (app_id, created_at) VALUES (?1, ?2)")
        .db()?
        .execute(params![app, now])
        .db()?;
    Ok(tx.last_insert_rowid())
}

/// Attaches an identity value to `uid`, moving it from whichever user held it.
fn attach(
    tx: &Transaction<'_>,
    app: &str,
    name: &str,
    value: &str,
    uid: Uid,
    unique: bool,
) -> StoreResult<()> {
    if unique {
        tx.prepare_cached("DELETE FROM user_identities WHERE app_id = ?1 AND name = ?2 AND uid = ?3 AND value <> ?4")
            .db()?
            .execute(params![app, name, uid, value])
            .db()?;
    }
    tx.prepare_cached(
        "INSERT INTO user_identities (app_id, name, value, uid) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (app_id, name, value) DO UPDATE SET uid = excluded.uid",
    )
    .db()?
    .execute(params![app, name, value, uid])
    .db()?;
    Ok(())
}

fn detach(tx: &Transaction<'_>, app: &str, name: &str, value: &str, uid: Uid) -> StoreResult<()> {
    tx.prepare_cached(
        "DELETE FROM user_identities WHERE app_id = ?1 AND name = ?2 AND value = ?3 AND uid = ?4",
    )
    .db()?
    .execute(params![app, name, value, uid])
    .db()?;
    Ok(())
}

fn is_device(tx: &Transaction<'_>, app: &str, cid: &str) -> StoreResult<bool> {
    tx.prepare_cached("SELECT EXISTS (SELECT 1 FROM devices WHERE app_id = ?1 AND cid = ?2)")
        .db()?
        .query_row(params![app, cid], |r| r.get(0))
        .db()
}

fn custom_names(tx: &Transaction<'_>, app: &str) -> StoreResult<Vec<IdentityName>> {
    let mut stmt = tx
        .prepare_cached("SELECT name, is_unique, priority FROM identity_names WHERE app_id = ?1")
        .db()?;
    let rows = stmt
        .query_map([app], |r| {
            Ok(IdentityName {
                name: r.get(0)?,
                unique: r.get(1)?,
                priority: r.get(2)?,
            })
        })
        .db()?;
    rows.collect::<Result<Vec<_>, _>>().db()
}

fn all_names(tx: &Transaction<'_>, app: &str) -> StoreResult<Vec<IdentityName>> {
    let mut names: Vec<IdentityName> = IdentityName::builtins().into_iter().collect();
    names.extend(custom_names(tx, app)?);
    names.sort_by_key(IdentityName::resolution_key);
    Ok(names)
}

/// Removes a value of a binding; app registration ids also leave the identity graph.
fn unbind(
    tx: &Transaction<'_>,
    app: &str,
    uid: Uid,
    field: UmsField,
    bind_id: &str,
    value: &str,
) -> StoreResult<()> {
    if bind_id == BIND_ALL {
        if let Some(kind) = field.contact_kind() {
            tx.prepare_cached(
                "DELETE FROM user_contacts WHERE uid = ?1 AND kind = ?2 AND value = ?3",
            )
            .db()?
            .execute(params![uid, kind, value])
            .db()?;
            return Ok(());
        }
    }
    tx.prepare_cached(
        "DELETE FROM ums_bindings WHERE uid = ?1 AND field = ?2 AND bind_id = ?3 AND value = ?4",
    )
    .db()?
    .execute(params![uid, field.as_str(), bind_id, value])
    .db()?;
    if field == UmsField::App {
        detach(tx, app, REGISTRATION_ID, value, uid)?;
    }
    Ok(())
}

fn bind(
    tx: &Transaction<'_>,
    app: &str,
    uid: Uid,
    field: UmsField,
    bind_id: &str,
    value: &str,
) -> StoreResult<()> {
    if bind_id == BIND_ALL {
        if let Some(kind) = field.contact_kind() {
            tx.prepare_cached(
                "INSERT INTO user_contacts (uid, kind, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (uid, kind) DO UPDATE SET value = excluded.value",
            )
            .db()?
            .execute(params![uid, kind, value])
            .db()?;
            return Ok(());
        }
    }
    tx.prepare_cached(
        "INSERT OR IGNORE INTO ums_bindings (uid, field, bind_id, value) VALUES (?1, ?2, ?3, ?4)",
    )
    .db()?
    .execute(params![uid, field.as_str(), bind_id, value])
    .db()?;
    if field == UmsField::App && is_device(tx, app, value)? {
        attach(tx, app, REGISTRATION_ID, value, uid, false)?;
    }
    Ok(())
}

/// The current values of (field, bind id) of a user.
fn values(
    tx: &Transaction<'_>,
    uid: Uid,
    field: UmsField,
    bind_id: &str,
) -> StoreResult<Vec<String>> {
    if bind_id == BIND_ALL {
        if let Some(kind) = field.contact_kind() {
            let v: Option<String> = tx
                .prepare_cached("SELECT value FROM user_contacts WHERE uid = ?1 AND kind = ?2")
                .db()?
                .query_row(params![uid, kind], |r| r.get(0))
                .optional()
                .db()?;
            return Ok(v.into_iter().collect());
        }
    }
    let mut stmt = tx
        .prepare_cached(
            "SELECT value FROM ums_bindings WHERE uid = ?1 AND field = ?2 AND bind_id = ?3",
        )
        .db()?;
    let rows = stmt
        .query_map(params![uid, field.as_str(), bind_id], |r| r.get(0))
        .db()?;
    rows.collect::<Result<Vec<String>, _>>().db()
}

fn apply_user(tx: &Transaction<'_>, app: &str, u: &UmsUserChanges, now: i64) -> StoreResult<()> {
    let uid = match uid_of(tx, app, USER_ID, &u.userid)? {
        Some(uid) => uid,
        None => {
            let uid = new_user(tx, app, now)?;
            attach(tx, app, USER_ID, &u.userid, uid, true)?;
            uid
        }
    };
    let mut changes = u.changes.clone();
    changes.sort_by_key(|c| c.verb);
    for c in &changes {
        match c.verb {
            UmsVerb::Set => {
                for old in values(tx, uid, c.field, &c.bind_id)? {
                    if !c.values.contains(&old) {
                        unbind(tx, app, uid, c.field, &c.bind_id, &old)?;
                    }
                }
                for v in &c.values {
                    bind(tx, app, uid, c.field, &c.bind_id, v)?;
                }
            }
            UmsVerb::Add => {
                for v in &c.values {
                    bind(tx, app, uid, c.field, &c.bind_id, v)?;
                }
            }
            UmsVerb::Del => {
                for v in &c.values {
                    unbind(tx, app, uid, c.field, &c.bind_id, v)?;
                }
            }
        }
    }
    Ok(())
}

fn read_user(tx: &Transaction<'_>, app: &str, uid: Uid) -> StoreResult<Option<User>> {
    let props: Option<String> = tx
        .prepare_cached("SELECT properties FROM users WHERE uid = ?1 AND app_id = ?2")
        .db()?
        .query_row(params![uid, app], |r| r.get(0))
        .optional()
        .db()?;
    let Some(props) = props else {
        return Ok(None);
    };
    let pairs = |sql: &str| -> StoreResult<Vec<(String, String)>> {
        let mut stmt = tx.prepare_cached(sql).db()?;
        let rows = stmt.query_map([uid], |r| Ok((r.get(0)?, r.get(1)?))).db()?;
        rows.collect::<Result<Vec<_>, _>>().db()
    };
    let identities =
        pairs("SELECT name, value FROM user_identities WHERE uid = ?1 ORDER BY name, value")?;
    let contacts = pairs("SELECT kind, value FROM user_contacts WHERE uid = ?1 ORDER BY kind")?;
    let mut stmt = tx
        .prepare_cached("SELECT field, bind_id, value FROM ums_bindings WHERE uid = ?1 ORDER BY field, bind_id, value")
        .db()?;
    let bindings = stmt
        .query_map([uid], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .db()?
        .collect::<Result<Vec<_>, _>>()
        .db()?;
    Ok(Some(User {
        uid,
        identities,
        properties: serde_json::from_str(&props)
            .map_err(|e| StoreError::Backend(format!("json: {e}")))?,
        contacts,
        bindings,
    }))
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn find_credential(&self, key: &str) -> StoreResult<Option<Credential>> {
        let key = key.to_owned();
        self.read(move |tx| {
            let row: Option<(String, String, String)> = tx
                .prepare_cached("SELECT app_id, kind, secret FROM credentials WHERE key = ?1")
                .db()?
                .query_row([key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()
                .db()?;
            Ok(row.and_then(|(app, kind, secret)| {
                Some(Credential {
                    app: AppId::parse(app).ok()?,
                    kind: CredentialKind::parse(&kind)?,
                    secret,
                })
            }))
        })
        .await
    }

    async fn ums_config(&self, app: &AppId) -> StoreResult<UmsConfig> {
        let app = app.to_string();
        self.read(move |tx| {
            let mut cfg = UmsConfig::default();
            let mut stmt = tx
                .prepare_cached("SELECT channel_key, code FROM ums_channels WHERE app_id = ?1")
                .db()?;
            cfg.channels = stmt
                .query_map([&app], |r| Ok((r.get(0)?, r.get(1)?)))
                .db()?
                .collect::<Result<_, _>>()
                .db()?;
            let mut stmt = tx
                .prepare_cached("SELECT code, kind FROM ums_senders WHERE app_id = ?1")
                .db()?;
            let senders: Vec<(String, String)> = stmt
                .query_map([&app], |r| Ok((r.get(0)?, r.get(1)?)))
                .db()?
                .collect::<Result<_, _>>()
                .db()?;
            cfg.senders = senders
                .into_iter()
                .filter_map(|(c, k)| Some((c, SenderKind::parse(&k)?)))
                .collect();
            let mut stmt = tx
                .prepare_cached(
                    "SELECT g.channel_key, g.sender_code FROM ums_grants g
                     JOIN ums_channels c ON c.channel_key = g.channel_key WHERE c.app_id = ?1",
                )
                .db()?;
            cfg.grants = stmt
                .query_map([&app], |r| Ok((r.get(0)?, r.get(1)?)))
                .db()?
                .collect::<Result<_, _>>()
                .db()?;
            Ok(cfg)
        })
        .await
    }

    async fn create_ums_channel(
        &self,
        app: &AppId,
        key: &str,
        secret: &str,
        code: &str,
    ) -> StoreResult<()> {
        let (app, key, secret, code) = (
            app.to_string(),
            key.to_owned(),
            secret.to_owned(),
            code.to_owned(),
        );
        self.write(move |tx| {
            let taken: bool = tx
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM ums_channels WHERE app_id = ?1 AND code = ?2)",
                    params![app, code],
                    |r| r.get(0),
                )
                .db()?;
            if taken {
                return Err(Error::AlreadyExists("channel_code".into()).into());
            }
            tx.execute("INSERT INTO ums_channels (channel_key, app_id, code) VALUES (?1, ?2, ?3)", params![key, app, code])
                .db()?;
            tx.execute(
                "INSERT INTO credentials (key, secret, app_id, kind) VALUES (?1, ?2, ?3, 'ums_channel')",
                params![key, secret, app],
            )
            .db()?;
            Ok(())
        })
        .await
    }

    async fn create_ums_sender(
        &self,
        app: &AppId,
        code: &str,
        kind: SenderKind,
    ) -> StoreResult<()> {
        let (app, code) = (app.to_string(), code.to_owned());
        self.write(move |tx| {
            let n = tx
                .execute(
                    "INSERT INTO ums_senders (app_id, code, kind) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                    params![app, code, kind.as_str()],
                )
                .db()?;
            if n == 0 {
                return Err(Error::AlreadyExists("sender_code".into()).into());
            }
            Ok(())
        })
        .await
    }

    async fn grant_ums_sender(
        &self,
        app: &AppId,
        channel_key: &str,
        sender_code: &str,
    ) -> StoreResult<()> {
        let (app, key, code) = (
            app.to_string(),
            channel_key.to_owned(),
            sender_code.to_owned(),
        );
        self.write(move |tx| {
            let channel: bool = tx
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM ums_channels WHERE app_id = ?1 AND channel_key = ?2)",
                    params![app, key],
                    |r| r.get(0),
                )
                .db()?;
            if !channel {
                return Err(Error::NotFound("channel".into()).into());
            }
            let sender: bool = tx
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM ums_senders WHERE app_id = ?1 AND code = ?2)",
                    params![app, code],
                    |r| r.get(0),
                )
                .db()?;
            if !sender {
                return Err(Error::NotFound("sender".into()).into());
            }
            tx.execute("INSERT OR IGNORE INTO ums_grants (channel_key, sender_code) VALUES (?1, ?2)", params![key, code])
                .db()?;
            Ok(())
        })
        .await
    }

    async fn identity_names(&self, app: &AppId) -> StoreResult<Vec<IdentityName>> {
        let app = app.to_string();
        self.read(move |tx| all_names(tx, &app)).await
    }

    async fn create_identity_name(&self, app: &AppId, name: &IdentityName) -> StoreResult<()> {
        let (app, name) = (app.to_string(), name.clone());
        self.write(move |tx| {
            let n = tx
                .execute(
                    "INSERT INTO identity_names (app_id, name, is_unique, priority) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT DO NOTHING",
                    params![app, name.name, name.unique, name.priority],
                )
                .db()?;
            if n == 0 {
                return Err(Error::AlreadyExists("identity name".into()).into());
            }
            Ok(())
        })
        .await
    }

    async fn ums_apply(&self, app: &AppId, users: &[UmsUserChanges], now: i64) -> StoreResult<()> {
        let (app, users) = (app.to_string(), users.to_vec());
        self.write(move |tx| users.iter().try_for_each(|u| apply_user(tx, &app, u, now)))
            .await
    }

    async fn ums_delete(&self, app: &AppId, userids: &[String]) -> StoreResult<Vec<bool>> {
        let (app, userids) = (app.to_string(), userids.to_vec());
        self.write(move |tx| {
            let mut out = Vec::with_capacity(userids.len());
            for userid in &userids {
                match uid_of(tx, &app, USER_ID, userid)? {
                    Some(uid) => {
                        // Identities, contacts and bindings go with it (ON DELETE CASCADE).
                        tx.execute("DELETE FROM users WHERE uid = ?1", [uid]).db()?;
                        out.push(true);
                    }
                    None => out.push(false),
                }
            }
            Ok(out)
        })
        .await
    }

    async fn register_identities(
        &self,
        app: &AppId,
        name: &str,
        values: &[String],
        now: i64,
    ) -> StoreResult<Vec<Uid>> {
        let (app, name, values) = (app.to_string(), name.to_owned(), values.to_vec());
        self.write(move |tx| {
            let unique = all_names(tx, &app)?
                .into_iter()
                .find(|n| n.name == name)
                .map(|n| n.unique)
                .ok_or_else(|| Error::NotFound("identity name".into()))?;
            let mut out = Vec::with_capacity(values.len());
            for v in &values {
                let uid = match uid_of(tx, &app, &name, v)? {
                    Some(uid) => uid,
                    None => {
                        let uid = new_user(tx, &app, now)?;
                        attach(tx, &app, &name, v, uid, unique)?;
                        uid
                    }
                };
                out.push(uid);
            }
            Ok(out)
        })
        .await
    }

    async fn identify_user(
        &self,
        app: &AppId,
        identify: &Identify,
        now: i64,
    ) -> StoreResult<(Uid, bool)> {
        let (app, identify) = (app.to_string(), identify.clone());
        self.write(move |tx| {
            let names = all_names(tx, &app)?;
            let mut ids = Vec::with_capacity(identify.identities.len());
            for (name, value) in &identify.identities {
                let n = names
                    .iter()
                    .find(|n| &n.name == name)
                    .ok_or_else(|| Error::invalid(format!("identities.{name}")))?;
                if n.name == REGISTRATION_ID && !is_device(tx, &app, value)? {
                    return Err(Error::UnknownTarget.into());
                }
                ids.push((n.resolution_key(), n.name.clone(), n.unique, value.clone()));
            }
            ids.sort();
            let mut found = None;
            for (_, name, _, value) in &ids {
                if let Some(uid) = uid_of(tx, &app, name, value)? {
                    found = Some(uid);
                    break;
                }
            }
            let (uid, created) = match found {
                Some(uid) => (uid, false),
                None => (new_user(tx, &app, now)?, true),
            };
            for (_, name, unique, value) in &ids {
                attach(tx, &app, name, value, uid, *unique)?;
            }
            if !identify.properties.is_empty() {
                let props: String = tx
                    .query_row("SELECT properties FROM users WHERE uid = ?1", [uid], |r| {
                        r.get(0)
                    })
                    .db()?;
                let mut merged: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_str(&props)
                        .map_err(|e| StoreError::Backend(format!("json: {e}")))?;
                merged.extend(identify.properties.clone());
                let merged = serde_json::to_string(&merged)
                    .map_err(|e| StoreError::Backend(format!("json: {e}")))?;
                tx.execute(
                    "UPDATE users SET properties = ?2 WHERE uid = ?1",
                    params![uid, merged],
                )
                .db()?;
            }
            for (kind, value) in &identify.contacts {
                tx.execute(
                    "INSERT INTO user_contacts (uid, kind, value) VALUES (?1, ?2, ?3)
                     ON CONFLICT (uid, kind) DO UPDATE SET value = excluded.value",
                    params![uid, kind, value],
                )
                .db()?;
            }
            Ok((uid, created))
        })
        .await
    }

    async fn get_users(&self, app: &AppId, uids: &[Uid]) -> StoreResult<Vec<User>> {
        let (app, uids) = (app.to_string(), uids.to_vec());
        self.read(move |tx| {
            let mut out = Vec::with_capacity(uids.len());
            for uid in uids {
                if let Some(u) = read_user(tx, &app, uid)? {
                    out.push(u);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn find_user(&self, app: &AppId, name: &str, value: &str) -> StoreResult<Option<Uid>> {
        let (app, name, value) = (app.to_string(), name.to_owned(), value.to_owned());
        self.read(move |tx| uid_of(tx, &app, &name, &value)).await
    }
}
