//! The storage seam. Small traits per aggregate, composed into [`Store`]; no driver
//! type appears in a signature. One implementation serves them all: [`Registry`] runs
//! each write as a rule of `roster_core::rules` inside one backend transaction, so the
//! rules that depend on stored state (ten cids per alias, a hundred tags per cid,
//! unknown cids) are decided in one place and a refused batch changes nothing. A SQL
//! backend implements [`Backend`] with the statements of [`engine`]: it stores, it does
//! not decide. Shape rules (lengths, duplicates, charsets) are checked before a call by
//! the core's validating types.

use async_trait::async_trait;
use roster_core::ums::{SenderKind, UmsUserChanges};
use roster_core::user::{Identify, IdentityName, Uid, User};
use roster_core::{
    Alias, App, AppId, AudienceQuery, BadgeOp, Cid, Device, DeviceEvent, DeviceUpsert, DtType,
    IdentityValue, NewApp, PhoneType, TagName, UserId,
};

mod batch;
pub mod bulk;
pub mod changes;
pub mod count_cache;
pub mod crowds;
pub mod engine;
mod known;
pub mod quota;
mod registry;
pub mod segments;
pub mod sql;
pub mod value;

pub use bulk::BulkStore;
pub use count_cache::{CountCacheStats, DEFAULT_COUNT_CACHE_BYTES};
pub use crowds::CrowdStore;
pub use quota::QuotaStore;
pub use registry::{Backend, Follower, Registry, Write};
pub use roster_core::rules::{DtBinding, DtFailure, UmsConfig};
pub use roster_index::{AppStats, Index, RebuildStats};
pub use segments::{SegmentRecord, SegmentStore};

/// The names of the metrics the store layer records through the `metrics` facade; the
/// server describes and exports them (see `docs/metrics.md`).
pub mod metric {
    /// Histogram, seconds, by `engine` (`index`; `sql` without an index; `scan` for a
    /// selector naming a crowd without an index; `cache` for a count the result cache
    /// answered): one audience count, from after its `X-Roster-Min-Seq` wait to its
    /// answer.
    pub const COUNT_DURATION: &str = "roster_count_query_duration_seconds";
    /// Histogram, seconds, by `backend` (`sqlite`, `postgres`): one write transaction's
    /// `COMMIT` (on SQLite the group's, with its fsync).
    pub const COMMIT_DURATION: &str = "roster_store_commit_duration_seconds";
    /// Histogram, by `backend`: how many writes one commit carried (SQLite's group
    /// commit; 1 on PostgreSQL, which commits each write on its own).
    pub const COMMIT_GROUP_SIZE: &str = "roster_store_commit_group_size";
    /// Counter, by `action`: calls the node's limiter refused.
    pub const RATE_LIMIT_REFUSALS: &str = "roster_rate_limit_refusals_total";
    /// Counter, by `what` (`settings`, `daily`): limiter reads or writes of the store
    /// that failed.
    pub const QUOTA_STORE_FAILURES: &str = "roster_quota_store_failures_total";
    /// Counter: audience counts the result cache answered.
    pub const COUNT_CACHE_HITS: &str = "roster_count_cache_hits_total";
    /// Counter: cacheable audience counts the result cache did not hold (evaluated,
    /// then kept).
    pub const COUNT_CACHE_MISSES: &str = "roster_count_cache_misses_total";
    /// Counter: entries the result cache dropped to stay within its room.
    pub const COUNT_CACHE_EVICTIONS: &str = "roster_count_cache_evictions_total";
    /// Gauge: counts the result cache holds.
    pub const COUNT_CACHE_ENTRIES: &str = "roster_count_cache_entries";
    /// Gauge, bytes: what the result cache's entries take, as counted against its room.
    pub const COUNT_CACHE_BYTES: &str = "roster_count_cache_bytes";
}

/// What a store call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A domain rule refused the call; nothing was changed.
    #[error(transparent)]
    Rule(#[from] roster_core::Error),
    /// The backend failed (I/O, driver, corruption). Details are for logs only.
    #[error("store backend: {0}")]
    Backend(String),
}

impl From<StoreError> for roster_core::Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Rule(e) => e,
            StoreError::Backend(msg) => roster_core::Error::Internal(msg),
        }
    }
}

/// Result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// The migrations still to run, numbered from 1, given how many a database records as
/// done; a database newer than this roster is refused rather than touched.
pub fn pending_migrations<'a>(
    done: i64,
    all: &'a [&'a str],
) -> StoreResult<impl Iterator<Item = (i64, &'a str)> + 'a> {
    let done = usize::try_from(done).unwrap_or(0);
    if done > all.len() {
        return Err(StoreError::Backend(format!(
            "database schema version {done} is newer than this roster ({})",
            all.len()
        )));
    }
    Ok((done..all.len()).map(move |i| (i as i64 + 1, all[i])))
}

/// Apps and their configuration.
#[async_trait]
pub trait AppStore: Send + Sync {
    /// Stores a new app.
    async fn create_app(&self, app: &NewApp) -> StoreResult<()>;
    /// The app, if it exists.
    async fn get_app(&self, app: &AppId) -> StoreResult<Option<App>>;
    /// Replaces the set of bind_dt channels enabled beyond the defaults.
    async fn set_app_dt_types(&self, app: &AppId, types: &[DtType]) -> StoreResult<()>;
    /// Up to `limit` apps whose id sorts after `after`, in id order.
    async fn list_apps(&self, after: Option<&AppId>, limit: usize) -> StoreResult<AppPage>;
    /// Renames an app; `false` when there is no such app.
    async fn rename_app(&self, app: &AppId, name: &str) -> StoreResult<bool>;
    /// Deletes an app with every row of its data in one transaction, and forgets it on
    /// this node (index, cached credentials); `false` when there was no such app.
    async fn delete_app(&self, app: &AppId) -> StoreResult<bool>;
    /// Issues new secrets for every key of `dialect`; the replaced ones keep working
    /// until `now + grace_ms` (Getui tokens issued before, too). Unknown app:
    /// [`roster_core::Error::NotFound`].
    async fn rotate_secrets(
        &self,
        app: &AppId,
        dialect: KeyDialect,
        now: i64,
        grace_ms: i64,
    ) -> StoreResult<Rotated>;
}

/// A live Getui token: the app it was issued to and when it expires, so that a cache
/// of it can enforce the expiry without asking again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenGrant {
    /// The app the token was issued to.
    pub app: AppId,
    /// End of its life, ms; it is dead from this instant on.
    pub expires_at: i64,
}

/// Getui auth tokens, kept as digests so that a copy of the store grants nothing.
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Records a token digest valid until `expires_at` (ms).
    async fn insert_token(&self, app: &AppId, digest: &str, expires_at: i64) -> StoreResult<()>;
    /// The grant of a live (unexpired at `now`, unrevoked) token.
    async fn live_token(&self, digest: &str, now: i64) -> StoreResult<Option<TokenGrant>>;
    /// Revokes a token of `app`; `false` when there was no such token.
    async fn revoke_token(&self, app: &AppId, digest: &str) -> StoreResult<bool>;
}

/// Devices.
#[async_trait]
pub trait DeviceStore: Send + Sync {
    /// Inserts or updates devices atomically; returns their cids in input order.
    async fn upsert_devices(
        &self,
        app: &AppId,
        devices: &[DeviceUpsert],
        now: i64,
    ) -> StoreResult<Vec<Cid>>;
    /// Applies a status event at `at` (ms). Unknown cid: [`roster_core::Error::UnknownTarget`].
    async fn record_device_event(
        &self,
        app: &AppId,
        cid: &Cid,
        event: DeviceEvent,
        at: i64,
    ) -> StoreResult<()>;
    /// Records that a device opened push copy `text` at `at` (ms). Unknown cid:
    /// [`roster_core::Error::UnknownTarget`]; empty or over-long text: a parameter error.
    async fn record_open(&self, app: &AppId, cid: &Cid, text: &str, at: i64) -> StoreResult<()>;
    /// The devices that exist among `cids`, in input order, with `login_freq` as of `now`.
    async fn get_devices(&self, app: &AppId, cids: &[Cid], now: i64) -> StoreResult<Vec<Device>>;
    /// Deletes a device with its tags, alias, login days and the user links that name
    /// it. Unknown cid: [`roster_core::Error::UnknownTarget`].
    async fn delete_device(&self, app: &AppId, cid: &Cid) -> StoreResult<()>;
    /// Sets or clears the blacklist flag of every cid, or of none if one is unknown.
    async fn set_blacklisted(&self, app: &AppId, cids: &[Cid], on: bool) -> StoreResult<()>;
    /// Applies a badge operation to every cid, or to none if one is unknown.
    async fn apply_badge(&self, app: &AppId, cids: &[Cid], op: BadgeOp) -> StoreResult<()>;
    /// Binds (or, with no token, unbinds) channel tokens; applies every valid entry and
    /// returns the index and reason of each refused one.
    async fn bind_device_tokens(
        &self,
        app: &AppId,
        kind: DtType,
        entries: &[DtBinding],
    ) -> StoreResult<Vec<(usize, DtFailure)>>;
}

/// Aliases: an alias has at most ten cids, a cid at most one alias.
#[async_trait]
pub trait AliasStore: Send + Sync {
    /// Binds each cid to its alias, moving cids that had another alias; all or nothing.
    async fn bind_aliases(&self, app: &AppId, pairs: &[(Cid, Alias)]) -> StoreResult<()>;
    /// Unbinds each pair that is bound; all or nothing (unknown cids refuse the batch).
    async fn unbind_aliases(&self, app: &AppId, pairs: &[(Cid, Alias)]) -> StoreResult<()>;
    /// Unbinds every cid of `alias`; returns how many.
    async fn unbind_alias(&self, app: &AppId, alias: &Alias) -> StoreResult<u64>;
    /// The alias of a cid. Unknown cid: [`roster_core::Error::UnknownTarget`].
    async fn alias_of(&self, app: &AppId, cid: &Cid) -> StoreResult<Option<Alias>>;
    /// The cids bound to `alias`.
    async fn cids_of_alias(&self, app: &AppId, alias: &Alias) -> StoreResult<Vec<Cid>>;
}

/// Custom tags: at most a hundred per cid.
#[async_trait]
pub trait TagStore: Send + Sync {
    /// Replaces the tags of one cid.
    async fn replace_tags(&self, app: &AppId, cid: &Cid, tags: &[TagName]) -> StoreResult<()>;
    /// Adds `tag` to each cid; per cid, whether it now has the tag.
    async fn add_tag(&self, app: &AppId, tag: &TagName, cids: &[Cid]) -> StoreResult<Vec<bool>>;
    /// Removes `tag` from each cid; per cid, whether the cid exists (and now lacks it).
    async fn remove_tag(&self, app: &AppId, tag: &TagName, cids: &[Cid]) -> StoreResult<Vec<bool>>;
    /// Adds `add` to and removes `remove` from the tags of one cid, all or nothing,
    /// under the same cap as [`TagStore::replace_tags`].
    async fn edit_tags(
        &self,
        app: &AppId,
        cid: &Cid,
        add: &[TagName],
        remove: &[TagName],
    ) -> StoreResult<()>;
    /// The sorted tags of a cid. Unknown cid: [`roster_core::Error::UnknownTarget`].
    async fn tags_of(&self, app: &AppId, cid: &Cid) -> StoreResult<Vec<TagName>>;
}

/// Audience counts and listings over the selector language.
#[async_trait]
pub trait AudienceStore: Send + Sync {
    /// How many devices of `app` are in the audience.
    async fn count_audience(&self, app: &AppId, query: &AudienceQuery) -> StoreResult<u64>;
    /// Up to `limit` audience members with an ordinal greater than `after`, in ordinal
    /// order, for paging through an audience.
    async fn audience_page(
        &self,
        app: &AppId,
        query: &AudienceQuery,
        after: Option<u32>,
        limit: usize,
    ) -> StoreResult<Vec<(u32, Cid)>>;
    /// Every app's devices and approximate heap bytes in this node's audience index;
    /// `None` when counts run in SQL (no index).
    fn index_stats(&self) -> Option<Vec<AppStats>>;
}

pub use roster_core::app::{CredentialKind, KeyDialect, KeySecret};

/// A key's owner and secrets.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// The app.
    pub app: AppId,
    /// What the key is.
    pub kind: CredentialKind,
    /// Its current secret and those a rotation replaced (each with its expiry).
    pub secrets: Vec<KeySecret>,
}

impl Credential {
    /// Whether `given` is one of the key's secrets that still works at `now` (ms),
    /// compared in constant time.
    pub fn accepts(&self, given: &str, now: i64) -> bool {
        roster_core::app::secret_accepted(&self.secrets, given, now)
    }
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("app", &self.app)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// A page of apps, in app id order.
#[derive(Debug, Clone)]
pub struct AppPage {
    /// The apps.
    pub apps: Vec<App>,
    /// Whether apps follow the last one.
    pub more: bool,
}

/// What a rotation issued: the new secrets (shown once) and when the replaced ones stop.
#[derive(Debug, Clone)]
pub struct Rotated {
    /// The new secrets, one per key of the dialect.
    pub secrets: Vec<KeySecret>,
    /// When the replaced secrets stop working, ms.
    pub old_expire_at: i64,
}

/// Users: the identity graph.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// The owner of a Basic-auth key.
    async fn find_credential(&self, key: &str) -> StoreResult<Option<Credential>>;
    /// The app's UMS configuration.
    async fn ums_config(&self, app: &AppId) -> StoreResult<UmsConfig>;
    /// Adds a UMS channel (its key authenticates with `secret`).
    async fn create_ums_channel(
        &self,
        app: &AppId,
        key: &str,
        secret: &str,
        code: &str,
        now: i64,
    ) -> StoreResult<()>;
    /// Adds a UMS sender.
    async fn create_ums_sender(&self, app: &AppId, code: &str, kind: SenderKind)
        -> StoreResult<()>;
    /// Lets a channel write a sender's bindings.
    async fn grant_ums_sender(
        &self,
        app: &AppId,
        channel_key: &str,
        sender_code: &str,
    ) -> StoreResult<()>;
    /// Built-in and custom identity names, in resolution order.
    async fn identity_names(&self, app: &AppId) -> StoreResult<Vec<IdentityName>>;
    /// Adds a custom identity name.
    async fn create_identity_name(&self, app: &AppId, name: &IdentityName) -> StoreResult<()>;
    /// Applies validated UMS changes, upserting users by userid, in one transaction.
    async fn ums_apply(&self, app: &AppId, users: &[UmsUserChanges], now: i64) -> StoreResult<()>;
    /// Deletes users by userid with everything bound to them; per userid, whether it
    /// existed.
    async fn ums_delete(&self, app: &AppId, userids: &[UserId]) -> StoreResult<Vec<bool>>;
    /// Get-or-create: the uid of each value of identity `name`, creating users as needed.
    async fn register_identities(
        &self,
        app: &AppId,
        name: &str,
        values: &[IdentityValue],
        now: i64,
    ) -> StoreResult<Vec<Uid>>;
    /// Resolves identities to a user by priority (creating one if none matches),
    /// attaches them all, and merges properties and contacts. Returns the uid and
    /// whether it is new.
    async fn identify_user(
        &self,
        app: &AppId,
        identify: &Identify,
        now: i64,
    ) -> StoreResult<(Uid, bool)>;
    /// Deletes one user with everything bound to it; whether it existed.
    async fn delete_user(&self, app: &AppId, uid: Uid) -> StoreResult<bool>;
    /// Up to `limit` users with a uid greater than `after`, in uid order, for paging.
    async fn user_page(
        &self,
        app: &AppId,
        after: Option<Uid>,
        limit: usize,
    ) -> StoreResult<Vec<User>>;
    /// The users that exist among `uids`, in input order.
    async fn get_users(&self, app: &AppId, uids: &[Uid]) -> StoreResult<Vec<User>>;
    /// The user holding an identity value.
    async fn find_user(
        &self,
        app: &AppId,
        name: &str,
        value: &IdentityValue,
    ) -> StoreResult<Option<Uid>>;
}

/// The change log: every committed write of an app under its own seq.
#[async_trait]
pub trait ChangeStore: Send + Sync {
    /// A page of `app`'s changes after `after`: whole seqs, at most `limit` lines unless
    /// the first seq alone has more. Unknown app: [`roster_core::Error::NotFound`].
    async fn changes(
        &self,
        app: &AppId,
        after: u64,
        limit: usize,
    ) -> StoreResult<changes::ChangePage>;
    /// Told whenever this node applies a change of any app.
    fn watch(&self) -> tokio::sync::watch::Receiver<u64>;
    /// How far this node has applied each app's log, at `now` (ms).
    async fn node_progress(&self, now: i64) -> StoreResult<changes::NodeProgress>;
    /// Removes the changes committed before `before` (ms); how many entries.
    async fn prune_changes(&self, before: i64) -> StoreResult<u64>;
    /// Applies what other nodes committed and this node has not.
    async fn catch_up(&self) -> StoreResult<()>;
}

/// Everything a roster node needs from its store.
pub trait Store:
    AppStore
    + TokenStore
    + DeviceStore
    + AliasStore
    + TagStore
    + AudienceStore
    + UserStore
    + ChangeStore
    + CrowdStore
    + QuotaStore
    + SegmentStore
    + BulkStore
{
}

impl<T> Store for T where
    T: AppStore
        + TokenStore
        + DeviceStore
        + AliasStore
        + TagStore
        + AudienceStore
        + UserStore
        + ChangeStore
        + CrowdStore
        + QuotaStore
        + SegmentStore
        + BulkStore
{
}

/// One new device for a backend's bulk import (benchmark generator, migrations): the
/// caller vouches that the cid is new and the values valid.
#[derive(Debug, Clone)]
pub struct ImportDevice {
    /// A cid not yet in the app.
    pub cid: String,
    /// OS.
    pub phone_type: PhoneType,
    /// Brand prefix.
    pub brand: Option<String>,
    /// 8-digit region.
    pub region: Option<String>,
    /// Distinct tags, at most 100.
    pub tags: Vec<String>,
    /// Alias (at most ten devices per alias).
    pub alias: Option<String>,
    /// Notification switch.
    pub notification_switch: bool,
    /// Blacklisted.
    pub blacklisted: bool,
    /// Registration time, ms.
    pub create_time: i64,
    /// App version.
    pub app_version: Option<String>,
}
