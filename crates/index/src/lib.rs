//! The in-memory audience index. [`IndexedStore`] wraps a store, rebuilds one
//! [`AppIndex`] per app from it at start, and keeps it current: every write that changes
//! an indexed fact re-reads the touched devices after the store has committed and
//! applies the difference before the write returns. So a count never sees a write the
//! store refused or rolled back, and sees every write acknowledged before it started.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use async_trait::async_trait;
use roaring::RoaringBitmap;
use roster_core::ums::{SenderKind, UmsUserChanges};
use roster_core::user::{Identify, IdentityName, Uid, User};
use roster_core::{
    Alias, App, AppId, AudienceQuery, BadgeOp, Cid, Device, DeviceEvent, DeviceFacts, DeviceUpsert,
    DtType, NewApp, Selector, TagName,
};
use roster_store::{
    AliasStore, AppStore, AudienceStore, Credential, DeviceStore, DtBinding, DtFailure, IndexSink,
    IndexSource, StoreError, StoreResult, TagStore, TokenGrant, TokenStore, UmsConfig, UserStore,
};

mod bitmaps;

pub use bitmaps::{AppIndex, Node};

/// A store whose audience queries are answered from roaring bitmaps.
pub struct IndexedStore<S> {
    inner: Arc<S>,
    apps: RwLock<HashMap<AppId, Arc<RwLock<AppIndex>>>>,
    /// Serialises indexed writes so that "read before, write, read after, apply" of one
    /// write cannot interleave with another's.
    writes: tokio::sync::Mutex<()>,
}

/// What a rebuild took.
#[derive(Debug, Clone, Copy)]
pub struct RebuildStats {
    /// Apps indexed.
    pub apps: usize,
    /// Devices indexed.
    pub devices: u64,
    /// Approximate heap bytes of all bitmaps.
    pub heap_bytes: usize,
    /// Wall time.
    pub elapsed: std::time::Duration,
}

struct Builder(AppIndex);

impl IndexSink for Builder {
    fn device(&mut self, ordinal: u32, facts: &DeviceFacts<'_>) {
        self.0.add_device(ordinal, facts);
    }

    fn tag(&mut self, ordinal: u32, tag: &str) {
        self.0.add_tag(ordinal, tag);
    }
}

fn poisoned() -> StoreError {
    StoreError::Backend("audience index lock poisoned".into())
}

impl<S: IndexSource + 'static> IndexedStore<S> {
    /// Wraps `inner` and builds the index of every app from it.
    pub async fn open(inner: Arc<S>) -> StoreResult<(Self, RebuildStats)> {
        let start = Instant::now();
        let mut apps = HashMap::new();
        let (mut devices, mut heap_bytes) = (0, 0);
        for app in inner.app_ids().await? {
            let sink = inner
                .scan_index(&app, Box::new(Builder(AppIndex::default())))
                .await?;
            // The sink handed back is the one handed in.
            let sink: Box<dyn std::any::Any> = sink;
            let index = match sink.downcast::<Builder>() {
                Ok(b) => b.0,
                Err(_) => return Err(StoreError::Backend("index sink type changed".into())),
            };
            devices += index.len();
            heap_bytes += index.heap_bytes();
            apps.insert(app, Arc::new(RwLock::new(index)));
        }
        let stats = RebuildStats {
            apps: apps.len(),
            devices,
            heap_bytes,
            elapsed: start.elapsed(),
        };
        tracing::info!(
            apps = stats.apps,
            devices,
            heap_bytes,
            ms = stats.elapsed.as_millis() as u64,
            "audience index built"
        );
        Ok((
            IndexedStore {
                inner,
                apps: RwLock::new(apps),
                writes: tokio::sync::Mutex::new(()),
            },
            stats,
        ))
    }

    /// The wrapped store.
    pub fn inner(&self) -> &Arc<S> {
        &self.inner
    }

    fn app_index(&self, app: &AppId) -> StoreResult<Arc<RwLock<AppIndex>>> {
        if let Some(ix) = self.apps.read().map_err(|_| poisoned())?.get(app) {
            return Ok(ix.clone());
        }
        let mut apps = self.apps.write().map_err(|_| poisoned())?;
        Ok(apps.entry(app.clone()).or_default().clone())
    }

    /// Heap bytes of the whole index, approximately.
    pub fn heap_bytes(&self) -> usize {
        self.apps
            .read()
            .map(|a| {
                a.values()
                    .filter_map(|ix| ix.read().ok().map(|ix| ix.heap_bytes()))
                    .sum()
            })
            .unwrap_or(0)
    }

    /// Runs `write` on the inner store, then re-indexes the devices it may have touched:
    /// `before` are read first, `after` (which may include cids the write created) once
    /// it has committed. A failed write changes nothing.
    async fn indexed<T, F, Fut>(&self, app: &AppId, before: Before<'_>, write: F) -> StoreResult<T>
    where
        F: FnOnce(Vec<Cid>) -> Fut,
        Fut: std::future::Future<Output = StoreResult<(T, Vec<Cid>)>>,
    {
        let _guard = self.writes.lock().await;
        let before = match before {
            Before::Cids(cids) => cids.to_vec(),
            Before::Alias(alias) => self.inner.cids_of_alias(app, alias).await?,
        };
        let old = self.inner.index_rows(app, &before).await?;
        let (out, after) = write(before).await?;
        let new = self.inner.index_rows(app, &after).await?;
        let ix = self.app_index(app)?;
        let mut ix = ix.write().map_err(|_| poisoned())?;
        for row in &old {
            ix.remove_device(row.ordinal, &row.facts());
        }
        for row in &new {
            ix.add_device(row.ordinal, &row.facts());
        }
        // Every caller re-reads at least the devices it read before, so none is lost.
        debug_assert!(old
            .iter()
            .all(|o| new.iter().any(|n| n.ordinal == o.ordinal)));
        Ok(out)
    }

    /// Resolves alias and cid leaves through the store.
    async fn resolve(&self, app: &AppId, sel: &Selector) -> StoreResult<Node> {
        Ok(match sel {
            Selector::All(b) => Node::All(*b),
            Selector::And(xs) => Node::And(self.resolve_all(app, xs).await?),
            Selector::Or(xs) => Node::Or(self.resolve_all(app, xs).await?),
            Selector::Not(x) => Node::Not(Box::new(Box::pin(self.resolve(app, x)).await?)),
            Selector::Alias(a) => {
                let cids = self.inner.cids_of_alias(app, a).await?;
                Node::Ords(self.ordinals(app, &cids).await?)
            }
            Selector::Cid(cids) => Node::Ords(self.ordinals(app, cids).await?),
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

    async fn ordinals(&self, app: &AppId, cids: &[Cid]) -> StoreResult<RoaringBitmap> {
        let rows = self.inner.index_rows(app, cids).await?;
        Ok(rows.iter().map(|r| r.ordinal).collect())
    }
}

#[async_trait]
impl<S: IndexSource + 'static> AudienceStore for IndexedStore<S> {
    async fn count_audience(&self, app: &AppId, query: &AudienceQuery) -> StoreResult<u64> {
        let node = self.resolve(app, &query.selector).await?;
        let ix = self.app_index(app)?;
        let ix = ix.read().map_err(|_| poisoned())?;
        Ok(ix.count(&node, query))
    }

    async fn audience_page(
        &self,
        app: &AppId,
        query: &AudienceQuery,
        after: Option<u32>,
        limit: usize,
    ) -> StoreResult<Vec<(u32, Cid)>> {
        let node = self.resolve(app, &query.selector).await?;
        let ordinals: Vec<u32> = {
            let ix = self.app_index(app)?;
            let ix = ix.read().map_err(|_| poisoned())?;
            let members = ix.members(&node, query);
            let from = after.map_or(0, |a| a.saturating_add(1));
            if after == Some(u32::MAX) {
                Vec::new()
            } else {
                members.range(from..).take(limit).collect()
            }
        };
        self.inner.cids_of_ordinals(app, &ordinals).await
    }
}

/// Which devices a write may touch, known before it runs.
enum Before<'a> {
    /// These cids.
    Cids(&'a [Cid]),
    /// The cids of an alias, read under the write lock.
    Alias(&'a Alias),
}

fn cids_of(pairs: &[(Cid, Alias)]) -> Vec<Cid> {
    pairs.iter().map(|(c, _)| c.clone()).collect()
}

#[async_trait]
impl<S: IndexSource + 'static> AppStore for IndexedStore<S> {
    async fn create_app(&self, app: &NewApp) -> StoreResult<()> {
        self.inner.create_app(app).await
    }
    async fn get_app(&self, app: &AppId) -> StoreResult<Option<App>> {
        self.inner.get_app(app).await
    }
    async fn set_app_dt_types(&self, app: &AppId, types: &[DtType]) -> StoreResult<()> {
        self.inner.set_app_dt_types(app, types).await
    }
}

#[async_trait]
impl<S: IndexSource + 'static> TokenStore for IndexedStore<S> {
    async fn insert_token(&self, app: &AppId, digest: &str, expires_at: i64) -> StoreResult<()> {
        self.inner.insert_token(app, digest, expires_at).await
    }
    async fn live_token(&self, digest: &str, now: i64) -> StoreResult<Option<TokenGrant>> {
        self.inner.live_token(digest, now).await
    }
    async fn revoke_token(&self, app: &AppId, digest: &str) -> StoreResult<bool> {
        self.inner.revoke_token(app, digest).await
    }
}

#[async_trait]
impl<S: IndexSource + 'static> DeviceStore for IndexedStore<S> {
    async fn upsert_devices(
        &self,
        app: &AppId,
        devices: &[DeviceUpsert],
        now: i64,
    ) -> StoreResult<Vec<Cid>> {
        let before: Vec<Cid> = devices.iter().filter_map(|d| d.cid.clone()).collect();
        self.indexed(app, Before::Cids(&before), |_| async {
            let cids = self.inner.upsert_devices(app, devices, now).await?;
            Ok((cids.clone(), cids))
        })
        .await
    }
    async fn record_device_event(
        &self,
        app: &AppId,
        cid: &Cid,
        event: DeviceEvent,
        at: i64,
    ) -> StoreResult<()> {
        // Online state and login times are not indexed.
        self.inner.record_device_event(app, cid, event, at).await
    }
    async fn get_devices(&self, app: &AppId, cids: &[Cid], now: i64) -> StoreResult<Vec<Device>> {
        self.inner.get_devices(app, cids, now).await
    }
    async fn set_blacklisted(&self, app: &AppId, cids: &[Cid], on: bool) -> StoreResult<()> {
        self.indexed(app, Before::Cids(cids), |_| async {
            self.inner.set_blacklisted(app, cids, on).await?;
            Ok(((), cids.to_vec()))
        })
        .await
    }
    async fn apply_badge(&self, app: &AppId, cids: &[Cid], op: BadgeOp) -> StoreResult<()> {
        self.inner.apply_badge(app, cids, op).await
    }
    async fn bind_device_tokens(
        &self,
        app: &AppId,
        kind: DtType,
        entries: &[DtBinding],
    ) -> StoreResult<Vec<(usize, DtFailure)>> {
        let cids: Vec<Cid> = entries
            .iter()
            .filter_map(|e| Cid::parse(e.cid.as_str()).ok())
            .collect();
        self.indexed(app, Before::Cids(&cids), |_| async {
            let out = self.inner.bind_device_tokens(app, kind, entries).await?;
            Ok((out, cids.clone()))
        })
        .await
    }
}

#[async_trait]
impl<S: IndexSource + 'static> AliasStore for IndexedStore<S> {
    async fn bind_aliases(&self, app: &AppId, pairs: &[(Cid, Alias)]) -> StoreResult<()> {
        let cids = cids_of(pairs);
        self.indexed(app, Before::Cids(&cids), |_| async {
            self.inner.bind_aliases(app, pairs).await?;
            Ok(((), cids.clone()))
        })
        .await
    }
    async fn unbind_aliases(&self, app: &AppId, pairs: &[(Cid, Alias)]) -> StoreResult<()> {
        let cids = cids_of(pairs);
        self.indexed(app, Before::Cids(&cids), |_| async {
            self.inner.unbind_aliases(app, pairs).await?;
            Ok(((), cids.clone()))
        })
        .await
    }
    async fn unbind_alias(&self, app: &AppId, alias: &Alias) -> StoreResult<u64> {
        self.indexed(app, Before::Alias(alias), |cids| async move {
            let n = self.inner.unbind_alias(app, alias).await?;
            Ok((n, cids))
        })
        .await
    }
    async fn alias_of(&self, app: &AppId, cid: &Cid) -> StoreResult<Option<Alias>> {
        self.inner.alias_of(app, cid).await
    }
    async fn cids_of_alias(&self, app: &AppId, alias: &Alias) -> StoreResult<Vec<Cid>> {
        self.inner.cids_of_alias(app, alias).await
    }
}

#[async_trait]
impl<S: IndexSource + 'static> TagStore for IndexedStore<S> {
    async fn replace_tags(&self, app: &AppId, cid: &Cid, tags: &[TagName]) -> StoreResult<()> {
        let cids = vec![cid.clone()];
        self.indexed(app, Before::Cids(&cids), |_| async {
            self.inner.replace_tags(app, cid, tags).await?;
            Ok(((), cids.clone()))
        })
        .await
    }
    async fn add_tag(&self, app: &AppId, tag: &TagName, cids: &[Cid]) -> StoreResult<Vec<bool>> {
        self.indexed(app, Before::Cids(cids), |_| async {
            let out = self.inner.add_tag(app, tag, cids).await?;
            Ok((out, cids.to_vec()))
        })
        .await
    }
    async fn remove_tag(&self, app: &AppId, tag: &TagName, cids: &[Cid]) -> StoreResult<Vec<bool>> {
        self.indexed(app, Before::Cids(cids), |_| async {
            let out = self.inner.remove_tag(app, tag, cids).await?;
            Ok((out, cids.to_vec()))
        })
        .await
    }
    async fn tags_of(&self, app: &AppId, cid: &Cid) -> StoreResult<Vec<TagName>> {
        self.inner.tags_of(app, cid).await
    }
}

#[async_trait]
impl<S: IndexSource + 'static> UserStore for IndexedStore<S> {
    async fn find_credential(&self, key: &str) -> StoreResult<Option<Credential>> {
        self.inner.find_credential(key).await
    }
    async fn ums_config(&self, app: &AppId) -> StoreResult<UmsConfig> {
        self.inner.ums_config(app).await
    }
    async fn create_ums_channel(
        &self,
        app: &AppId,
        key: &str,
        secret: &str,
        code: &str,
    ) -> StoreResult<()> {
        self.inner.create_ums_channel(app, key, secret, code).await
    }
    async fn create_ums_sender(
        &self,
        app: &AppId,
        code: &str,
        kind: SenderKind,
    ) -> StoreResult<()> {
        self.inner.create_ums_sender(app, code, kind).await
    }
    async fn grant_ums_sender(
        &self,
        app: &AppId,
        channel_key: &str,
        sender_code: &str,
    ) -> StoreResult<()> {
        self.inner
            .grant_ums_sender(app, channel_key, sender_code)
            .await
    }
    async fn identity_names(&self, app: &AppId) -> StoreResult<Vec<IdentityName>> {
        self.inner.identity_names(app).await
    }
    async fn create_identity_name(&self, app: &AppId, name: &IdentityName) -> StoreResult<()> {
        self.inner.create_identity_name(app, name).await
    }
    // Users link devices through identities only; no indexed device fact changes.
    async fn ums_apply(&self, app: &AppId, users: &[UmsUserChanges], now: i64) -> StoreResult<()> {
        self.inner.ums_apply(app, users, now).await
    }
    async fn ums_delete(&self, app: &AppId, userids: &[String]) -> StoreResult<Vec<bool>> {
        self.inner.ums_delete(app, userids).await
    }
    async fn register_identities(
        &self,
        app: &AppId,
        name: &str,
        values: &[String],
        now: i64,
    ) -> StoreResult<Vec<Uid>> {
        self.inner.register_identities(app, name, values, now).await
    }
    async fn identify_user(
        &self,
        app: &AppId,
        identify: &Identify,
        now: i64,
    ) -> StoreResult<(Uid, bool)> {
        self.inner.identify_user(app, identify, now).await
    }
    async fn get_users(&self, app: &AppId, uids: &[Uid]) -> StoreResult<Vec<User>> {
        self.inner.get_users(app, uids).await
    }
    async fn find_user(&self, app: &AppId, name: &str, value: &str) -> StoreResult<Option<Uid>> {
        self.inner.find_user(app, name, value).await
    }
}
