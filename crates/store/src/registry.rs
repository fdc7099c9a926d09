//! [`Registry`]: the one implementation of every [`Store`](crate::Store) trait, over
//! any [`Backend`]. Each write is a rule of `roster_core::rules` run by the backend in
//! one transaction; the audience index, when there is one, follows the committed
//! mutations and answers counts.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use roster_core::limits;
use roster_core::property::{self, Field, Property};
use roster_core::rules::{self, reads, DtBinding, DtFailure, Mutation, Rule, UmsConfig};
use roster_core::time::{cst_day, now_ms};
use roster_core::ums::{SenderKind, UmsUserChanges};
use roster_core::user::{Identify, IdentityName, Uid, User};
use roster_core::{
    Alias, App, AppId, AudienceQuery, BadgeOp, Cid, Device, DeviceEvent, DeviceUpsert, DtType,
    IdentityValue, NewApp, Selector, TagName, UserId,
};
use roster_index::{AppIndex, Index, Node, RebuildStats};

use crate::changes::{self, AppProgress, ChangePage, LogRead, NodeProgress, Progress};
use crate::count_cache::{self, CountCache, CountCacheStats};
use crate::engine;
use crate::known::Known;
use crate::value::{Row, RowExt, Stmt};
use crate::{
    AliasStore, AppPage, AppStore, AudienceStore, ChangeStore, Credential, DeviceStore, KeyDialect,
    KeySecret, Rotated, StoreError, StoreResult, TagStore, TokenGrant, TokenStore, UserStore,
};

/// Follows committed plans.
pub trait Follower: Send + Sync {
    /// The mutations of one committed plan of `app`, logged under `seq`.
    fn committed(&self, app: &AppId, seq: u64, mutations: &[Mutation]);
}

/// A node's follower: applies each commit of its own to the audience index when it is
/// the next in the app's log, so the index always equals the store as of
/// [`Progress::applied`]; anything else is caught up from the log.
#[derive(Debug, Default)]
struct Tail {
    index: Option<Arc<Index>>,
    progress: Progress,
}

impl Follower for Tail {
    fn committed(&self, app: &AppId, seq: u64, mutations: &[Mutation]) {
        self.progress.follow(app, seq, || {
            if let Some(index) = &self.index {
                index.apply(app, mutations);
            }
        });
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
    /// Tells the follower, if any, of what committed under `seq` (nothing, when the
    /// plan changed nothing).
    pub fn committed(&self, seq: u64, mutations: &[Mutation]) {
        if mutations.is_empty() {
            return;
        }
        if let Some(f) = &self.follower {
            f.committed(&self.app, seq, mutations);
        }
    }
}

/// A storage engine: runs rules in transactions and plain statements.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Runs a write rule in one transaction that holds the app's write lock: loads
    /// what it needs, plans, writes the plan and its change-log entry, commits, then
    /// hands the mutations to `follower`. Returns the outcome and the app's seq after
    /// it (unchanged when the plan changed nothing).
    async fn write<R: Rule + 'static>(&self, w: Write<R>) -> StoreResult<(R::Outcome, u64)>;

    /// Runs a read rule on one consistent snapshot.
    async fn read<R: Rule + 'static>(&self, app: &AppId, rule: R) -> StoreResult<R::Outcome>;

    /// Runs read statements on one snapshot; the rows of each.
    async fn query(&self, stmts: Vec<Stmt>) -> StoreResult<Vec<Vec<Row>>>;

    /// Runs write statements in one transaction; the rows each changed.
    async fn execute(&self, stmts: Vec<Stmt>) -> StoreResult<Vec<u64>>;

    /// Builds one app's audience bitmaps from its stored devices, with the app's seq
    /// they are as of (read on the same snapshot).
    async fn scan_index(&self, app: &AppId) -> StoreResult<(AppIndex, u64)>;

    // What is not a rule: apps as stored, credentials, tokens and SQL counts. A SQL
    // backend keeps these defaults, the statements of `engine`.

    /// Every app id.
    async fn app_ids(&self) -> StoreResult<Vec<AppId>> {
        engine::ids_of(&one(self.query(vec![engine::app_ids()]).await?)?)
    }

    /// Every app's id and newest seq.
    async fn app_seqs(&self) -> StoreResult<Vec<(AppId, u64)>> {
        engine::app_seqs_of(&one(self.query(vec![engine::app_seqs()]).await?)?)
    }

    /// `app`'s log after `after` (at most `limit` entries); `None`: no such app.
    async fn log_after(
        &self,
        app: &AppId,
        after: u64,
        limit: usize,
    ) -> StoreResult<Option<LogRead>> {
        engine::log_read_of(&self.query(engine::log_after(app, after, limit)).await?)
    }

    /// What a job claim's subquery appends to lock the row it picks, so that two nodes
    /// never claim one job (PostgreSQL: `FOR UPDATE SKIP LOCKED`; SQLite has one writer).
    fn claim_lock(&self) -> &'static str {
        ""
    }

    /// Removes the changes committed before `before` (ms); how many entries.
    async fn prune_changes(&self, before: i64) -> StoreResult<u64> {
        let changed = self.execute(engine::prune_changes(before)).await?;
        Ok(changed.last().copied().unwrap_or(0))
    }

    /// An app as stored.
    async fn get_app(&self, app: &AppId) -> StoreResult<Option<App>> {
        engine::app_of(&self.query(engine::get_app(app)).await?)
    }

    /// Up to `limit` apps after `after`, in id order.
    async fn list_apps(&self, after: Option<&AppId>, limit: usize) -> StoreResult<AppPage> {
        let mut apps = engine::apps_of(&self.query(engine::list_apps(after, limit)).await?)?;
        let more = apps.len() > limit;
        apps.truncate(limit);
        Ok(AppPage { apps, more })
    }

    /// Renames an app; whether it exists.
    async fn rename_app(&self, app: &AppId, name: &str) -> StoreResult<bool> {
        let changed = self.execute(vec![engine::rename_app(app, name)]).await?;
        Ok(changed.first().is_some_and(|n| *n > 0))
    }

    /// Deletes an app with all its rows in one transaction; whether it existed.
    async fn delete_app(&self, app: &AppId) -> StoreResult<bool> {
        let changed = self.execute(engine::delete_app(app)).await?;
        Ok(changed.first().is_some_and(|n| *n > 0))
    }

    /// Replaces the secrets of keys (each key's old secret working until `expire_at`);
    /// whether the app exists.
    async fn rotate_secrets(
        &self,
        app: &AppId,
        fresh: &[roster_core::KeySecret],
        now: i64,
        expire_at: i64,
    ) -> StoreResult<bool> {
        let changed = self
            .execute(engine::rotate_secrets(app, fresh, now, expire_at))
            .await?;
        Ok(changed.first().is_some_and(|n| *n > 0))
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

    /// Up to `limit` uids of `app` after `after`, in uid order.
    async fn user_page(
        &self,
        app: &AppId,
        after: Option<Uid>,
        limit: usize,
    ) -> StoreResult<Vec<Uid>> {
        let rows = one(self
            .query(vec![engine::user_page(app, after, limit)])
            .await?)?;
        engine::uids_of(&rows)
    }

    /// The ordinals of the devices of `app` whose login_freq (distinct login days in
    /// `(since, today]`, CST day numbers) is one of `freqs`, in order.
    async fn login_freq_ordinals(
        &self,
        app: &AppId,
        since: i64,
        today: i64,
        freqs: &[i64],
    ) -> StoreResult<Vec<u32>> {
        let rows = one(self
            .query(vec![engine::login_freq_ordinals(app, since, today, freqs)])
            .await?)?;
        rows.iter()
            .map(|r| {
                u32::try_from(r.int(0)?).map_err(|_| StoreError::Backend("bad ordinal".into()))
            })
            .collect()
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

/// A store made of a backend and, optionally, an in-memory audience index that
/// follows the change log.
pub struct Registry<B> {
    pub(crate) backend: Arc<B>,
    index: Option<Arc<Index>>,
    tail: Arc<Tail>,
    /// One catch-up from the log at a time.
    catching: tokio::sync::Mutex<()>,
    /// What the last look at the store found: (when, every app's newest seq).
    seen: std::sync::Mutex<Option<Seen>>,
    /// Credentials as last read, for when the store cannot be reached.
    known: Known,
    /// Woken when this node stores a smart-crowd plan, for its job runner.
    pub(crate) jobs: Arc<tokio::sync::Notify>,
    /// Counts as answered, by app, query and applied seq (off until sized).
    counts: CountCache,
}

/// When the store was last looked at, and every app's newest seq then.
type Seen = (Instant, Vec<(AppId, u64)>);

impl<B> std::fmt::Debug for Registry<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("indexed", &self.index.is_some())
            .field("progress", &self.tail.progress)
            .finish_non_exhaustive()
    }
}

impl<B: Backend> Registry<B> {
    /// Counts run in SQL.
    pub fn new(backend: Arc<B>) -> Self {
        Self::with_index(backend, None)
    }

    fn with_index(backend: Arc<B>, index: Option<Arc<Index>>) -> Self {
        Registry {
            backend,
            tail: Arc::new(Tail {
                index: index.clone(),
                progress: Progress::default(),
            }),
            index,
            catching: tokio::sync::Mutex::new(()),
            seen: std::sync::Mutex::new(None),
            known: Known::default(),
            jobs: Arc::default(),
            counts: CountCache::default(),
        }
    }

    /// Gives the result cache of audience counts `bytes` of room (keys included),
    /// emptying it; 0 (the default of a new registry) turns it off. It answers only on
    /// a registry with an index ([`Registry::indexed`]); see [`crate::count_cache`].
    pub fn set_count_cache_bytes(&self, bytes: u64) {
        self.counts.resize(bytes);
    }

    /// What the result cache of audience counts has done and holds.
    pub fn count_cache_stats(&self) -> CountCacheStats {
        self.counts.stats()
    }

    /// Counts an audience without looking in the result cache nor filling it (what
    /// [`AudienceStore::count_audience`] does with the cache off).
    pub async fn count_uncached(&self, app: &AppId, query: &AudienceQuery) -> StoreResult<u64> {
        self.ready(app).await?;
        let query = &self.prepared(app, query).await?;
        self.evaluate_count(app, query).await
    }

    /// Counts a prepared query on the index, in SQL or on bitmaps scanned from the store.
    async fn evaluate_count(&self, app: &AppId, query: &AudienceQuery) -> StoreResult<u64> {
        // Timed from here: waiting for `X-Roster-Min-Seq` is not the query's work.
        let started = Instant::now();
        let (engine, counted) = match &self.index {
            Some(index) => {
                let node = self.resolve(app, &query.selector).await?;
                ("index", Ok(index.count(app, &node, query)))
            }
            None if crate::crowds::needs_bitmaps(&query.selector) => {
                let node = self.resolve(app, &query.selector).await?;
                let scanned = self.backend.scan_index(app).await?.0;
                ("scan", Ok(scanned.count(&node, query)))
            }
            None => ("sql", self.backend.count_audience(app, query).await),
        };
        if counted.is_ok() {
            metrics::histogram!(crate::metric::COUNT_DURATION, "engine" => engine)
                .record(started.elapsed().as_secs_f64());
        }
        counted
    }

    /// Builds the audience index of every app from `backend`; counts run on it.
    pub async fn indexed(backend: Arc<B>) -> StoreResult<(Self, RebuildStats)> {
        let start = Instant::now();
        let registry = Self::with_index(backend, Some(Arc::new(Index::new())));
        let apps = registry.backend.app_ids().await?;
        for app in &apps {
            registry.rebuild(app).await?;
        }
        let index = registry.tail.index.as_ref();
        let stats = RebuildStats {
            apps: apps.len(),
            devices: index.map_or(0, |i| i.devices()),
            heap_bytes: index.map_or(0, |i| i.heap_bytes()),
            elapsed: start.elapsed(),
        };
        tracing::info!(
            apps = stats.apps,
            devices = stats.devices,
            heap_bytes = stats.heap_bytes,
            ms = stats.elapsed.as_millis() as u64,
            "audience index built"
        );
        Ok((registry, stats))
    }

    /// Rebuilds one app's bitmaps from the store and restarts its progress there.
    async fn rebuild(&self, app: &AppId) -> StoreResult<()> {
        let (ix, seq) = self.backend.scan_index(app).await?;
        if let Some(index) = &self.index {
            index.insert(app.clone(), ix);
        }
        self.tail.progress.reset(app, seq);
        self.counts.forget_app(app);
        Ok(())
    }

    /// The floor of an indexed count (for the benchmark): one read pass over every set
    /// the query reads, as [`roster_index::AppIndex::floor`]; `None` without an index.
    pub async fn count_floor(
        &self,
        app: &AppId,
        query: &AudienceQuery,
    ) -> StoreResult<Option<(usize, u64)>> {
        let Some(index) = &self.index else {
            return Ok(None);
        };
        let query = &self.prepared(app, query).await?;
        let node = self.resolve(app, &query.selector).await?;
        Ok(Some(index.floor(app, &node, query)))
    }

    /// The backend.
    pub fn backend(&self) -> &Arc<B> {
        &self.backend
    }

    /// The audience index, if counts run on one.
    pub fn index(&self) -> Option<&Arc<Index>> {
        self.index.as_ref()
    }

    pub(crate) async fn write<R: Rule + 'static>(
        &self,
        app: &AppId,
        rule: R,
    ) -> StoreResult<R::Outcome> {
        let follower = self
            .index
            .as_ref()
            .map(|_| self.tail.clone() as Arc<dyn Follower>);
        let (outcome, seq) = self
            .backend
            .write(Write {
                app: app.clone(),
                rule,
                follower,
            })
            .await?;
        // Another node's commit came first (or this node's commits finished out of
        // order): the log has what this node missed.
        if self.index.is_some() && self.tail.progress.applied(app) < seq {
            self.catch_up_app(app).await?;
        }
        changes::record_written(seq);
        Ok(outcome)
    }

    /// Waits, when the request asked with `X-Roster-Min-Seq`, until this node has
    /// applied `app`'s log that far; [`roster_core::Error::Unavailable`] after
    /// [`changes::MIN_SEQ_WAIT`]. A registry without an index reads the store itself,
    /// so it only waits for the store to have that seq.
    pub(crate) async fn ready(&self, app: &AppId) -> StoreResult<()> {
        let Some(min) = changes::min_seq() else {
            return Ok(());
        };
        let deadline = Instant::now() + changes::MIN_SEQ_WAIT;
        loop {
            let applied = if self.index.is_some() {
                self.tail.progress.applied(app)
            } else {
                self.backend
                    .log_after(app, u64::MAX, 1)
                    .await?
                    .map_or(0, |r| r.newest)
            };
            if applied >= min {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(roster_core::Error::Unavailable(min).into());
            }
            if self.index.is_some() {
                self.catch_up_app(app).await?;
                if self.tail.progress.applied(app) >= min {
                    return Ok(());
                }
            }
            let nap = left.min(std::time::Duration::from_millis(50));
            let _ = self.tail.progress.reach(app, min, nap).await;
        }
    }

    /// Runs a read rule once the request's `X-Roster-Min-Seq` is met.
    async fn read<R: Rule + 'static>(&self, app: &AppId, rule: R) -> StoreResult<R::Outcome> {
        self.ready(app).await?;
        self.backend.read(app, rule).await
    }

    /// Applies, in seq order, what the store's log of `app` holds beyond what this node
    /// has applied; rebuilds the app from the store when retention has removed part of
    /// what it missed.
    pub async fn catch_up_app(&self, app: &AppId) -> StoreResult<()> {
        const PAGE: usize = 1_000;
        let _one = self.catching.lock().await;
        loop {
            let applied = self.tail.progress.applied(app);
            let Some(read) = self.backend.log_after(app, applied, PAGE).await? else {
                // The app is gone (deleted on some node): this node forgets it too.
                self.forget_app(app);
                return Ok(());
            };
            if applied < read.pruned_through {
                tracing::info!(app = %app, applied, "change log pruned past this node; rebuilding the app");
                return self.rebuild(app).await;
            }
            let full = read.entries.len() == PAGE;
            for e in read.entries {
                let mutations = roster_core::change::parse_body(&e.body).map_err(|err| {
                    StoreError::Backend(format!("change log entry {}: {err}", e.seq))
                })?;
                self.tail.progress.advance(app, e.seq, || {
                    if let Some(index) = &self.index {
                        index.apply(app, &mutations);
                    }
                });
            }
            if !full {
                return Ok(());
            }
        }
    }

    /// Applies whatever other nodes committed to any app that this node has not.
    pub async fn catch_up(&self) -> StoreResult<()> {
        if self.index.is_none() {
            return Ok(());
        }
        let seqs = self.look().await?;
        // Apps this node follows that the store no longer lists were deleted (or are
        // newer than this look): catching each up forgets it if it is gone.
        let listed: std::collections::HashSet<&AppId> = seqs.iter().map(|(a, _)| a).collect();
        let gone: Vec<AppId> = self
            .tail
            .progress
            .all()
            .into_iter()
            .map(|(a, _)| a)
            .filter(|a| !listed.contains(a))
            .collect();
        for app in &gone {
            self.catch_up_app(app).await?;
        }
        for (app, seq) in seqs {
            if self.tail.progress.applied(&app) < seq {
                self.catch_up_app(&app).await?;
            }
        }
        Ok(())
    }

    /// Forgets a deleted app: its bitmaps, its progress, its remembered credentials.
    fn forget_app(&self, app: &AppId) {
        if let Some(index) = &self.index {
            index.remove(app);
        }
        self.tail.progress.forget(app);
        self.known.forget_app(app);
        self.counts.forget_app(app);
    }

    /// Every app's newest seq, remembered with when it was seen.
    async fn look(&self) -> StoreResult<Vec<(AppId, u64)>> {
        let seqs = self.backend.app_seqs().await?;
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some((Instant::now(), seqs.clone()));
        }
        Ok(seqs)
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
            Selector::Crowd(id) => Node::Ords(self.crowd_leaf(app, id).await?),
            Selector::Property(p) if p.field == Field::LoginFreq => {
                self.login_freq_leaf(app, p).await?
            }
            leaf => Node::Leaf(leaf.clone()),
        })
    }

    /// A `login_freq` leaf, as of now: which of the possible values (0 to 100) it
    /// accepts, then the devices with one of them, read from the store.
    async fn login_freq_leaf(&self, app: &AppId, p: &Property) -> StoreResult<Node> {
        let freqs: Vec<i64> = (0..=limits::LOGIN_FREQ_DAYS)
            .filter(|k| p.matches(Some(property::Seen::Number(*k as f64))))
            .collect();
        if freqs.is_empty() {
            return Ok(Node::All(false));
        }
        if freqs.len() as i64 == limits::LOGIN_FREQ_DAYS + 1 {
            return Ok(Node::All(true));
        }
        let today = cst_day(now_ms());
        let since = today - limits::LOGIN_FREQ_DAYS;
        let ords = self
            .backend
            .login_freq_ordinals(app, since, today, &freqs)
            .await?;
        Ok(Node::Ords(ords.into_iter().collect()))
    }

    /// The query to evaluate: segments expanded as they are stored now.
    pub(crate) async fn prepared(
        &self,
        app: &AppId,
        q: &AudienceQuery,
    ) -> StoreResult<AudienceQuery> {
        Ok(match self.expand_segments(app, &q.selector).await? {
            Some(selector) => AudienceQuery {
                selector,
                ..q.clone()
            },
            None => q.clone(),
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
        self.known.app(app, self.backend.get_app(app).await)
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

    async fn list_apps(&self, after: Option<&AppId>, limit: usize) -> StoreResult<AppPage> {
        self.backend.list_apps(after, limit).await
    }

    async fn rename_app(&self, app: &AppId, name: &str) -> StoreResult<bool> {
        let renamed = self.backend.rename_app(app, name).await?;
        self.known.forget_app(app);
        Ok(renamed)
    }

    async fn delete_app(&self, app: &AppId) -> StoreResult<bool> {
        let deleted = self.backend.delete_app(app).await?;
        if deleted {
            // Behind any write to it still applying, so the app stays forgotten.
            let _one = self.catching.lock().await;
            self.forget_app(app);
        }
        Ok(deleted)
    }

    async fn rotate_secrets(
        &self,
        app: &AppId,
        dialect: KeyDialect,
        now: i64,
        grace_ms: i64,
    ) -> StoreResult<Rotated> {
        let current = self
            .backend
            .get_app(app)
            .await?
            .ok_or_else(|| roster_core::Error::NotFound("app".into()))?;
        let kinds = dialect.kinds();
        let fresh: Vec<KeySecret> = current
            .keys
            .iter()
            .filter(|k| k.expires_at.is_none() && kinds.contains(&k.kind))
            .map(|k| KeySecret {
                kind: k.kind,
                key: k.key.clone(),
                secret: k.kind.new_secret(),
                created_at: now,
                expires_at: None,
            })
            .collect();
        let old_expire_at = now.saturating_add(grace_ms.max(0));
        if !self
            .backend
            .rotate_secrets(app, &fresh, now, old_expire_at)
            .await?
        {
            return Err(roster_core::Error::NotFound("app".into()).into());
        }
        self.known.forget_app(app);
        Ok(Rotated {
            secrets: fresh,
            old_expire_at,
        })
    }
}

#[async_trait]
impl<B: Backend> TokenStore for Registry<B> {
    async fn insert_token(&self, app: &AppId, digest: &str, expires_at: i64) -> StoreResult<()> {
        self.backend.insert_token(app, digest, expires_at).await
    }

    async fn live_token(&self, digest: &str, now: i64) -> StoreResult<Option<TokenGrant>> {
        self.known
            .token(digest, now, self.backend.live_token(digest, now).await)
    }

    async fn revoke_token(&self, app: &AppId, digest: &str) -> StoreResult<bool> {
        self.known.forget_token(digest);
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

    async fn record_open(&self, app: &AppId, cid: &Cid, text: &str, at: i64) -> StoreResult<()> {
        let rule = rules::RecordOpen {
            cid: cid.clone(),
            text: text.to_owned(),
            at,
        };
        self.write(app, rule).await
    }

    async fn get_devices(&self, app: &AppId, cids: &[Cid], now: i64) -> StoreResult<Vec<Device>> {
        let rule = reads::GetDevices {
            cids: cids.to_vec(),
            now,
        };
        self.read(app, rule).await
    }

    async fn delete_device(&self, app: &AppId, cid: &Cid) -> StoreResult<()> {
        let cid = cid.clone();
        self.write(app, rules::DeleteDevice { cid }).await
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
        self.read(app, reads::AliasOf { cid }).await
    }

    async fn cids_of_alias(&self, app: &AppId, alias: &Alias) -> StoreResult<Vec<Cid>> {
        let alias = alias.clone();
        self.read(app, reads::CidsOfAlias { alias }).await
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

    async fn edit_tags(
        &self,
        app: &AppId,
        cid: &Cid,
        add: &[TagName],
        remove: &[TagName],
    ) -> StoreResult<()> {
        let rule = rules::EditTags {
            cid: cid.clone(),
            add: add.to_vec(),
            remove: remove.to_vec(),
        };
        self.write(app, rule).await
    }

    async fn tags_of(&self, app: &AppId, cid: &Cid) -> StoreResult<Vec<TagName>> {
        let cid = cid.clone();
        self.read(app, reads::TagsOf { cid }).await
    }
}

#[async_trait]
impl<B: Backend> AudienceStore for Registry<B> {
    async fn count_audience(&self, app: &AppId, query: &AudienceQuery) -> StoreResult<u64> {
        self.ready(app).await?;
        let query = &self.prepared(app, query).await?;
        let started = Instant::now();
        // The index is the store as of the applied seq: a count keyed by it is fresh
        // until the app's next change (a node without an index does not cache).
        let key = if self.index.is_some() && self.counts.on() {
            let seq = self.tail.progress.applied(app);
            count_cache::Key::of(app, seq, query, cst_day(now_ms()))
        } else {
            None
        };
        let Some(key) = key else {
            return self.evaluate_count(app, query).await;
        };
        if let Some(n) = self.counts.get(&key) {
            metrics::histogram!(crate::metric::COUNT_DURATION, "engine" => "cache")
                .record(started.elapsed().as_secs_f64());
            return Ok(n);
        }
        let n = self.evaluate_count(app, query).await?;
        if key.current(self.tail.progress.applied(app), cst_day(now_ms())) {
            self.counts.insert(key, n);
        }
        Ok(n)
    }

    async fn audience_page(
        &self,
        app: &AppId,
        query: &AudienceQuery,
        after: Option<u32>,
        limit: usize,
    ) -> StoreResult<Vec<(u32, Cid)>> {
        self.ready(app).await?;
        let query = &self.prepared(app, query).await?;
        let members = match &self.index {
            Some(index) => {
                let node = self.resolve(app, &query.selector).await?;
                index.members(app, &node, query)
            }
            None if crate::crowds::needs_bitmaps(&query.selector) => {
                let node = self.resolve(app, &query.selector).await?;
                self.backend.scan_index(app).await?.0.members(&node, query)
            }
            None => return self.backend.audience_page(app, query, after, limit).await,
        };
        let ordinals: Vec<u32> = match after {
            Some(u32::MAX) => Vec::new(),
            _ => {
                let from = after.map_or(0, |a| a + 1);
                members.range(from..).take(limit).collect()
            }
        };
        self.backend.cids_of_ordinals(app, &ordinals).await
    }

    fn index_stats(&self) -> Option<Vec<roster_index::AppStats>> {
        self.index.as_ref().map(|i| i.app_stats())
    }
}

#[async_trait]
impl<B: Backend> UserStore for Registry<B> {
    async fn find_credential(&self, key: &str) -> StoreResult<Option<Credential>> {
        self.known
            .credential(key, self.backend.find_credential(key).await)
    }

    async fn ums_config(&self, app: &AppId) -> StoreResult<UmsConfig> {
        self.read(app, reads::GetUmsConfig).await
    }

    async fn create_ums_channel(
        &self,
        app: &AppId,
        key: &str,
        secret: &str,
        code: &str,
        now: i64,
    ) -> StoreResult<()> {
        let rule = rules::CreateUmsChannel {
            key: key.to_owned(),
            secret: secret.to_owned(),
            code: code.to_owned(),
            now,
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
        self.read(app, reads::IdentityNames).await
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

    async fn delete_user(&self, app: &AppId, uid: Uid) -> StoreResult<bool> {
        self.write(app, rules::DeleteUser { uid }).await
    }

    async fn user_page(
        &self,
        app: &AppId,
        after: Option<Uid>,
        limit: usize,
    ) -> StoreResult<Vec<User>> {
        let uids = self.backend.user_page(app, after, limit).await?;
        // A user deleted between the two reads is left out.
        self.get_users(app, &uids).await
    }

    async fn get_users(&self, app: &AppId, uids: &[Uid]) -> StoreResult<Vec<User>> {
        let uids = uids.to_vec();
        self.read(app, reads::GetUsers { uids }).await
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
        self.read(app, rule).await
    }
}

#[async_trait]
impl<B: Backend> ChangeStore for Registry<B> {
    async fn changes(&self, app: &AppId, after: u64, limit: usize) -> StoreResult<ChangePage> {
        // Each entry has at least one line, so `limit` entries always fill a page.
        let read = self
            .backend
            .log_after(app, after, limit.max(1))
            .await?
            .ok_or_else(|| roster_core::Error::NotFound("app".into()))?;
        Ok(ChangePage::cut(read, after, limit))
    }

    fn watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.tail.progress.watch()
    }

    async fn node_progress(&self, now: i64) -> StoreResult<NodeProgress> {
        let (reachable, seen) = match self.look().await {
            Ok(seqs) => (true, seqs),
            Err(e) => {
                tracing::warn!(error = %e, "store unreachable for node progress");
                let last = self.seen.lock().ok().and_then(|s| s.clone());
                let mut seen = last.map(|(_, s)| s).unwrap_or_default();
                // Apps this node follows that its last look at the store predates (it
                // caught up with them on a read since): the store has at least what
                // was applied.
                for (app, applied) in self.tail.progress.all() {
                    if !seen.iter().any(|(a, _)| *a == app) {
                        seen.push((app, applied));
                    }
                }
                (false, seen)
            }
        };
        let since_seen = self
            .seen
            .lock()
            .ok()
            .and_then(|s| s.as_ref().map(|(at, _)| at.elapsed().as_millis() as u64))
            .unwrap_or(0);
        let mut apps = Vec::with_capacity(seen.len());
        for (app, store_seq) in seen {
            let applied_seq = if self.index.is_some() {
                self.tail.progress.applied(&app)
            } else {
                store_seq
            };
            // What was seen of the store can be older than what this node has applied
            // since (its own writes, a catch-up for a read): the store has at least that.
            let store_seq = store_seq.max(applied_seq);
            let lag_ms = if !reachable {
                since_seen
            } else if applied_seq < store_seq {
                let first = self.backend.log_after(&app, applied_seq, 1).await?;
                first
                    .and_then(|r| r.entries.first().map(|e| e.at))
                    .map_or(0, |at| u64::try_from(now - at).unwrap_or(0))
            } else {
                0
            };
            apps.push(AppProgress {
                app_id: app.to_string(),
                applied_seq,
                store_seq,
                lag_ms,
            });
        }
        Ok(NodeProgress {
            store_reachable: reachable,
            apps,
        })
    }

    async fn prune_changes(&self, before: i64) -> StoreResult<u64> {
        self.backend.prune_changes(before).await
    }

    async fn catch_up(&self) -> StoreResult<()> {
        Registry::catch_up(self).await
    }
}
