//! [`Registry`]: the one implementation of every [`Store`](crate::Store) trait, over
//! any [`Backend`]. Each write is a rule of `roster_core::rules` run by the backend in
//! one transaction; the audience index, when there is one, follows the committed
//! mutations and answers counts.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use roster_core::rules::{self, reads, DtBinding, DtFailure, Mutation, Rule, UmsConfig};
use roster_core::ums::{SenderKind, UmsUserChanges};
use roster_core::user::{Identify, IdentityName, Uid, User};
use roster_core::{
    Alias, App, AppId, AudienceQuery, BadgeOp, Cid, Device, DeviceEvent, DeviceUpsert, DtType,
    IdentityValue, NewApp, Selector, TagName, UserId,
};
use roster_index::{AppIndex, Index, Node, RebuildStats};

use crate::engine;
use crate::value::{Row, RowExt, Stmt};
use crate::{
    AliasStore, AppStore, AudienceStore, Credential, DeviceStore, StoreError, StoreResult,
    TagStore, TokenGrant, TokenStore, UserStore,
};

/// Follows committed plans, in commit order.
pub trait Follower: Send + Sync {
    /// The mutations of one committed plan of `app`.
    fn committed(&self, app: &AppId, mutations: &[Mutation]);
}

impl Follower for Index {
    fn committed(&self, app: &AppId, mutations: &[Mutation]) {
        self.apply(app, mutations);
    }
}

/// One write: a rule for an app, and who follows its commit.
pub struct Write<R> {
    /// The app.
    pub app: AppId,
    /// The rule.
    pub rule: R,
    /// Told of the committed mutations.
    pub follower: Option<Arc<dyn Follower>>,
}

impl<R> Write<R> {
    /// Tells the follower, if any, of what committed.
    pub fn committed(&self, mutations: &[Mutation]) {
        if let Some(f) = &self.follower {
            f.committed(&self.app, mutations);
        }
    }
}

/// A storage engine: runs rules in transactions and plain statements.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Runs a write rule in one transaction that holds the app's write lock: loads
    /// what it needs, plans, writes the plan, commits, then hands the mutations to
    /// `follower` before another write of the app can commit.
    async fn write<R: Rule + 'static>(&self, w: Write<R>) -> StoreResult<R::Outcome>;

    /// Runs a read rule on one consistent snapshot.
    async fn read<R: Rule + 'static>(&self, app: &AppId, rule: R) -> StoreResult<R::Outcome>;

    /// Runs read statements on one snapshot; the rows of each.
    async fn query(&self, stmts: Vec<Stmt>) -> StoreResult<Vec<Vec<Row>>>;

    /// Runs write statements in one transaction; the rows each changed.
    async fn execute(&self, stmts: Vec<Stmt>) -> StoreResult<Vec<u64>>;

    /// Builds one app's audience bitmaps from its stored devices.
    async fn scan_index(&self, app: &AppId) -> StoreResult<AppIndex>;

    // What is not a rule: apps as stored, credentials, tokens and SQL counts. A SQL
    // backend keeps these defaults, the statements of `engine`.

    /// Every app id.
    async fn app_ids(&self) -> StoreResult<Vec<AppId>> {
        engine::ids_of(&one(self.query(vec![engine::app_ids()]).await?)?)
    }

    /// An app as stored.
    async fn get_app(&self, app: &AppId) -> StoreResult<Option<App>> {
        engine::app_of(&one(self.query(vec![engine::get_app(app)]).await?)?)
    }

    /// The owner of a Basic-auth key.
    async fn find_credential(&self, key: &str) -> StoreResult<Option<Credential>> {
        engine::credential_of(&one(self
            .query(vec![engine::find_credential(key)])
            .await?)?)
    }

    /// Records a token digest valid until `expires_at` (ms).
    async fn insert_token(&self, app: &AppId, digest: &str, expires_at: i64) -> StoreResult<()> {
        let changed = self
            .execute(engine::insert_token(app, digest, expires_at))
            .await?;
        match changed.last() {
            Some(1) => Ok(()),
            _ => Err(roster_core::Error::NotFound("app".into()).into()),
        }
    }

    /// The grant of a live token.
    async fn live_token(&self, digest: &str, now: i64) -> StoreResult<Option<TokenGrant>> {
        engine::token_app_of(&one(self
            .query(vec![engine::token_app(digest, now)])
            .await?)?)
    }

    /// Revokes a token of `app`; whether it was live.
    async fn revoke_token(&self, app: &AppId, digest: &str) -> StoreResult<bool> {
        let changed = self
            .execute(vec![engine::revoke_token(app, digest)])
            .await?;
        Ok(changed.first().is_some_and(|n| *n > 0))
    }

    /// Counts an audience without an index.
    async fn count_audience(&self, app: &AppId, q: &AudienceQuery) -> StoreResult<u64> {
        let rows = one(self.query(vec![engine::count_audience(app, q)]).await?)?;
        let n = rows.first().map(|r| r.int(0)).transpose()?.unwrap_or(0);
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// A page of an audience without an index.
    async fn audience_page(
        &self,
        app: &AppId,
        q: &AudienceQuery,
        after: Option<u32>,
        limit: usize,
    ) -> StoreResult<Vec<(u32, Cid)>> {
        let rows = one(self
            .query(vec![engine::audience_page(app, q, after, limit)])
            .await?)?;
        engine::members_of(&rows)
    }

    /// The cids of ordinals, in input order, skipping ordinals that do not exist.
    async fn cids_of_ordinals(
        &self,
        app: &AppId,
        ordinals: &[u32],
    ) -> StoreResult<Vec<(u32, Cid)>> {
        let results = self.query(engine::cids_of_ordinals(app, ordinals)).await?;
        let mut out = Vec::with_capacity(results.len());
        for rows in results {
            out.extend(engine::members_of(&rows)?);
        }
        Ok(out)
    }
}

/// A store made of a backend and, optionally, an in-memory audience index.
pub struct Registry<B> {
    backend: Arc<B>,
    index: Option<Arc<Index>>,
}

impl<B> std::fmt::Debug for Registry<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("indexed", &self.index.is_some())
            .finish_non_exhaustive()
    }
}

impl<B: Backend> Registry<B> {
    /// Counts run in SQL.
    pub fn new(backend: Arc<B>) -> Self {
        Registry {
            backend,
            index: None,
        }
    }

    /// Builds the audience index of every app from `backend`; counts run on it.
    pub async fn indexed(backend: Arc<B>) -> StoreResult<(Self, RebuildStats)> {
        let start = Instant::now();
        let index = Index::new();
        let apps = backend.app_ids().await?;
        for app in &apps {
            index.insert(app.clone(), backend.scan_index(app).await?);
        }
        let stats = RebuildStats {
            apps: apps.len(),
            devices: index.devices(),
            heap_bytes: index.heap_bytes(),
            elapsed: start.elapsed(),
        };
        tracing::info!(
            apps = stats.apps,
            devices = stats.devices,
            heap_bytes = stats.heap_bytes,
            ms = stats.elapsed.as_millis() as u64,
            "audience index built"
        );
        Ok((
            Registry {
                backend,
                index: Some(Arc::new(index)),
            },
            stats,
        ))
    }

    /// The backend.
    pub fn backend(&self) -> &Arc<B> {
        &self.backend
    }

    /// The audience index, if counts run on one.
    pub fn index(&self) -> Option<&Arc<Index>> {
        self.index.as_ref()
    }

    async fn write<R: Rule + 'static>(&self, app: &AppId, rule: R) -> StoreResult<R::Outcome> {
        let follower = self.index.clone().map(|i| i as Arc<dyn Follower>);
        let app = app.clone();
        self.backend
            .write(Write {
                app,
                rule,
                follower,
            })
            .await
    }

    /// Resolves alias and cid leaves to ordinals.
    async fn resolve(&self, app: &AppId, sel: &Selector) -> StoreResult<Node> {
        Ok(match sel {
            Selector::All(b) => Node::All(*b),
            Selector::And(xs) => Node::And(self.resolve_all(app, xs).await?),
            Selector::Or(xs) => Node::Or(self.resolve_all(app, xs).await?),
            Selector::Not(x) => Node::Not(Box::new(Box::pin(self.resolve(app, x)).await?)),
            Selector::Alias(a) => self.ordinals(app, Vec::new(), Some(a.clone())).await?,
            Selector::Cid(cids) => self.ordinals(app, cids.clone(), None).await?,
            leaf => Node::Leaf(leaf.clone()),
        })
    }

    async fn resolve_all(&self, app: &AppId, xs: &[Selector]) -> StoreResult<Vec<Node>> {
        let mut out = Vec::with_capacity(xs.len());
        for x in xs {
            out.push(Box::pin(self.resolve(app, x)).await?);
        }
        Ok(out)
    }

    async fn ordinals(
        &self,
        app: &AppId,
        cids: Vec<Cid>,
        alias: Option<Alias>,
    ) -> StoreResult<Node> {
        let ords = self
            .backend
            .read(app, reads::Ordinals { cids, alias })
            .await?;
        Ok(Node::Ords(ords.into_iter().collect()))
    }
}

fn one(mut results: Vec<Vec<Row>>) -> StoreResult<Vec<Row>> {
    results
        .pop()
        .ok_or_else(|| StoreError::Backend("statement gave no result".into()))
}

#[async_trait]
impl<B: Backend> AppStore for Registry<B> {
    async fn create_app(&self, app: &NewApp) -> StoreResult<()> {
        let id = app.credentials.app_id.clone();
        self.write(&id, rules::CreateApp { app: app.clone() }).await
    }

    async fn get_app(&self, app: &AppId) -> StoreResult<Option<App>> {
        self.backend.get_app(app).await
    }

    async fn set_app_dt_types(&self, app: &AppId, types: &[DtType]) -> StoreResult<()> {
        self.write(
            app,
            rules::SetDtTypes {
                types: types.to_vec(),
            },
        )
        .await
    }
}

#[async_trait]
impl<B: Backend> TokenStore for Registry<B> {
    async fn insert_token(&self, app: &AppId, digest: &str, expires_at: i64) -> StoreResult<()> {
        self.backend.insert_token(app, digest, expires_at).await
    }

    async fn live_token(&self, digest: &str, now: i64) -> StoreResult<Option<TokenGrant>> {
        self.backend.live_token(digest, now).await
    }

    async fn revoke_token(&self, app: &AppId, digest: &str) -> StoreResult<bool> {
        self.backend.revoke_token(app, digest).await
    }
}

#[async_trait]
impl<B: Backend> DeviceStore for Registry<B> {
    async fn upsert_devices(
        &self,
        app: &AppId,
        devices: &[DeviceUpsert],
        now: i64,
    ) -> StoreResult<Vec<Cid>> {
        let rule = rules::UpsertDevices {
            devices: devices.to_vec(),
            now,
        };
        self.write(app, rule).await
    }

    async fn record_device_event(
        &self,
        app: &AppId,
        cid: &Cid,
        event: DeviceEvent,
        at: i64,
    ) -> StoreResult<()> {
        let rule = rules::RecordDeviceEvent {
            cid: cid.clone(),
            event,
            at,
        };
        self.write(app, rule).await
    }

    async fn get_devices(&self, app: &AppId, cids: &[Cid], now: i64) -> StoreResult<Vec<Device>> {
        let rule = reads::GetDevices {
            cids: cids.to_vec(),
            now,
        };
        self.backend.read(app, rule).await
    }

    async fn set_blacklisted(&self, app: &AppId, cids: &[Cid], on: bool) -> StoreResult<()> {
        let rule = rules::SetBlacklisted {
            cids: cids.to_vec(),
            on,
        };
        self.write(app, rule).await.map(drop)
    }

    async fn apply_badge(&self, app: &AppId, cids: &[Cid], op: BadgeOp) -> StoreResult<()> {
        let rule = rules::ApplyBadge {
            cids: cids.to_vec(),
            op,
        };
        self.write(app, rule).await.map(drop)
    }

    async fn bind_device_tokens(
        &self,
        app: &AppId,
        kind: DtType,
        entries: &[DtBinding],
    ) -> StoreResult<Vec<(usize, DtFailure)>> {
        let rule = rules::BindDeviceTokens {
            kind,
            entries: entries.to_vec(),
        };
        self.write(app, rule).await
    }
}

#[async_trait]
impl<B: Backend> AliasStore for Registry<B> {
    async fn bind_aliases(&self, app: &AppId, pairs: &[(Cid, Alias)]) -> StoreResult<()> {
        let pairs = pairs.to_vec();
        self.write(app, rules::BindAliases { pairs }).await
    }

    async fn unbind_aliases(&self, app: &AppId, pairs: &[(Cid, Alias)]) -> StoreResult<()> {
        let pairs = pairs.to_vec();
        self.write(app, rules::UnbindAliases { pairs }).await
    }

    async fn unbind_alias(&self, app: &AppId, alias: &Alias) -> StoreResult<u64> {
        let alias = alias.clone();
        self.write(app, rules::UnbindAlias { alias }).await
    }

    async fn alias_of(&self, app: &AppId, cid: &Cid) -> StoreResult<Option<Alias>> {
        let cid = cid.clone();
        self.backend.read(app, reads::AliasOf { cid }).await
    }

    async fn cids_of_alias(&self, app: &AppId, alias: &Alias) -> StoreResult<Vec<Cid>> {
        let alias = alias.clone();
        self.backend.read(app, reads::CidsOfAlias { alias }).await
    }
}

#[async_trait]
impl<B: Backend> TagStore for Registry<B> {
    async fn replace_tags(&self, app: &AppId, cid: &Cid, tags: &[TagName]) -> StoreResult<()> {
        let rule = rules::ReplaceTags {
            cid: cid.clone(),
            tags: tags.to_vec(),
        };
        self.write(app, rule).await
    }

    async fn add_tag(&self, app: &AppId, tag: &TagName, cids: &[Cid]) -> StoreResult<Vec<bool>> {
        let rule = rules::AddTag {
            tag: tag.clone(),
            cids: cids.to_vec(),
        };
        self.write(app, rule).await
    }

    async fn remove_tag(&self, app: &AppId, tag: &TagName, cids: &[Cid]) -> StoreResult<Vec<bool>> {
        let rule = rules::RemoveTag {
            tag: tag.clone(),
            cids: cids.to_vec(),
        };
        self.write(app, rule).await
    }

    async fn tags_of(&self, app: &AppId, cid: &Cid) -> StoreResult<Vec<TagName>> {
        let cid = cid.clone();
        self.backend.read(app, reads::TagsOf { cid }).await
    }
}

#[async_trait]
impl<B: Backend> AudienceStore for Registry<B> {
    async fn count_audience(&self, app: &AppId, query: &AudienceQuery) -> StoreResult<u64> {
        let Some(index) = &self.index else {
            return self.backend.count_audience(app, query).await;
        };
        let node = self.resolve(app, &query.selector).await?;
        Ok(index.count(app, &node, query))
    }

    async fn audience_page(
        &self,
        app: &AppId,
        query: &AudienceQuery,
        after: Option<u32>,
        limit: usize,
    ) -> StoreResult<Vec<(u32, Cid)>> {
        let Some(index) = &self.index else {
            return self.backend.audience_page(app, query, after, limit).await;
        };
        let node = self.resolve(app, &query.selector).await?;
        let ordinals: Vec<u32> = match after {
            Some(u32::MAX) => Vec::new(),
            _ => {
                let from = after.map_or(0, |a| a + 1);
                index
                    .members(app, &node, query)
                    .range(from..)
                    .take(limit)
                    .collect()
            }
        };
        self.backend.cids_of_ordinals(app, &ordinals).await
    }
}

#[async_trait]
impl<B: Backend> UserStore for Registry<B> {
    async fn find_credential(&self, key: &str) -> StoreResult<Option<Credential>> {
        self.backend.find_credential(key).await
    }

    async fn ums_config(&self, app: &AppId) -> StoreResult<UmsConfig> {
        self.backend.read(app, reads::GetUmsConfig).await
    }

    async fn create_ums_channel(
        &self,
        app: &AppId,
        key: &str,
        secret: &str,
        code: &str,
    ) -> StoreResult<()> {
        let rule = rules::CreateUmsChannel {
            key: key.to_owned(),
            secret: secret.to_owned(),
            code: code.to_owned(),
        };
        self.write(app, rule).await
    }

    async fn create_ums_sender(
        &self,
        app: &AppId,
        code: &str,
        kind: SenderKind,
    ) -> StoreResult<()> {
        let code = code.to_owned();
        self.write(app, rules::CreateUmsSender { code, kind }).await
    }

    async fn grant_ums_sender(
        &self,
        app: &AppId,
        channel_key: &str,
        sender_code: &str,
    ) -> StoreResult<()> {
        let rule = rules::GrantUmsSender {
            channel_key: channel_key.to_owned(),
            sender_code: sender_code.to_owned(),
        };
        self.write(app, rule).await
    }

    async fn identity_names(&self, app: &AppId) -> StoreResult<Vec<IdentityName>> {
        self.backend.read(app, reads::IdentityNames).await
    }

    async fn create_identity_name(&self, app: &AppId, name: &IdentityName) -> StoreResult<()> {
        let name = name.clone();
        self.write(app, rules::CreateIdentityName { name }).await
    }

    async fn ums_apply(&self, app: &AppId, users: &[UmsUserChanges], now: i64) -> StoreResult<()> {
        let users = users.to_vec();
        self.write(app, rules::UmsApply { users, now }).await
    }

    async fn ums_delete(&self, app: &AppId, userids: &[UserId]) -> StoreResult<Vec<bool>> {
        let userids = userids.iter().map(ToString::to_string).collect();
        self.write(app, rules::DeleteUmsUsers { userids }).await
    }

    async fn register_identities(
        &self,
        app: &AppId,
        name: &str,
        values: &[IdentityValue],
        now: i64,
    ) -> StoreResult<Vec<Uid>> {
        let rule = rules::RegisterIdentities {
            name: name.to_owned(),
            values: values.iter().map(ToString::to_string).collect(),
            now,
        };
        self.write(app, rule).await
    }

    async fn identify_user(
        &self,
        app: &AppId,
        identify: &Identify,
        now: i64,
    ) -> StoreResult<(Uid, bool)> {
        let rule = rules::IdentifyUser {
            identify: identify.clone(),
            now,
        };
        self.write(app, rule).await
    }

    async fn get_users(&self, app: &AppId, uids: &[Uid]) -> StoreResult<Vec<User>> {
        let uids = uids.to_vec();
        self.backend.read(app, reads::GetUsers { uids }).await
    }

    async fn find_user(
        &self,
        app: &AppId,
        name: &str,
        value: &IdentityValue,
    ) -> StoreResult<Option<Uid>> {
        let rule = reads::FindUser {
            name: name.to_owned(),
            value: value.to_string(),
        };
        self.backend.read(app, rule).await
    }
}
