//! Rate limits and quotas as kept: an app's settings and its daily counts in the store
//! ([`QuotaStore`], the same SQL on every engine), and the node's [`Limiter`], which
//! enforces them.
//!
//! - Per-second and per-minute windows are exact sliding logs in the node's memory
//!   ([`SlidingLog`]): on several nodes each node lets through at most the limit.
//! - Daily quotas (per app, or per cid) are counted in the store, one conditional
//!   upsert per call, so they survive restarts and are shared by every node: two nodes
//!   together never let more than the quota through.
//! - Settings are read from the store and kept for [`REFRESH`], so an admin's change
//!   holds on every node within a second (at once on the node that made it).
//! - When the store cannot be reached, daily quotas fail closed (the call is refused)
//!   and short windows keep working from memory with the settings last read (or the
//!   vendor's), each with a warning and a metric.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use roster_core::quota::{
    calendar_day, ceil_secs, time_zone, Action, LimitedAction, Quota, RateState, SlidingLog, Span,
    Windows,
};
use roster_core::time::Clock;
use roster_core::{AppId, Error};

use crate::changes::record_rate;
use crate::registry::{Backend, Registry};
use crate::value::{RowExt, Stmt, Value};
use crate::{Store, StoreError, StoreResult};

/// How long a node keeps an app's settings before reading them again.
pub const REFRESH: Duration = Duration::from_millis(500);

/// An app's limit settings: its time zone and the actions the admin changed.
#[derive(Debug, Clone, Default)]
pub struct AppLimits {
    /// The day boundary the admin set; `None`: the server's default.
    pub time_zone: Option<chrono_tz::Tz>,
    /// Changed actions, every window resolved; the others have the vendor's values.
    pub set: BTreeMap<Action, Windows>,
}

impl AppLimits {
    /// The windows in force for `action`.
    pub fn windows(&self, action: Action) -> Windows {
        self.set
            .get(&action)
            .copied()
            .unwrap_or_else(|| action.defaults())
    }

    /// The day boundary in force, given the server's default.
    pub fn zone(&self, default: chrono_tz::Tz) -> chrono_tz::Tz {
        self.time_zone.unwrap_or(default)
    }
}

/// Limit settings and daily counts.
#[async_trait]
pub trait QuotaStore: Send + Sync {
    /// `app`'s settings; `None` when there is no such app.
    async fn app_limits(&self, app: &AppId) -> StoreResult<Option<AppLimits>>;
    /// Sets every window of one action of `app`; `false` when there is no such app.
    async fn set_limits(&self, app: &AppId, action: Action, w: &Windows) -> StoreResult<bool>;
    /// Restores the vendor's values of one action; `false` when there is no such app.
    async fn reset_limits(&self, app: &AppId, action: Action) -> StoreResult<bool>;
    /// Sets `app`'s day boundary (a valid IANA name); `false` when there is no such app.
    async fn set_time_zone(&self, app: &AppId, zone: &str) -> StoreResult<bool>;
    /// Counts one call against a daily quota of `limit` for (`app`, `action`, `cid`,
    /// `day`) if it has room: the count after it, or `None` (nothing counted) when full.
    async fn take_daily(&self, take: &DailyTake<'_>) -> StoreResult<Option<u64>>;
    /// Takes back one call counted by [`QuotaStore::take_daily`].
    async fn give_back_daily(&self, take: &DailyTake<'_>) -> StoreResult<()>;
    /// Calls of `action` counted on `day`, over every cid.
    async fn daily_used(&self, app: &AppId, action: Action, day: i64) -> StoreResult<u64>;
    /// Removes the counts of days that ended before `now`; how many.
    async fn prune_quota_usage(&self, now: i64) -> StoreResult<u64>;
}

/// One call against a daily quota.
#[derive(Debug, Clone, Copy)]
pub struct DailyTake<'a> {
    /// The app.
    pub app: &'a AppId,
    /// The action.
    pub action: Action,
    /// The cid of a per-cid quota, else `""`.
    pub cid: &'a str,
    /// The calendar day, `YYYYMMDD` in the app's zone.
    pub day: i64,
    /// When that day ends, ms (the count can go then).
    pub ends_at: i64,
    /// The quota.
    pub limit: u64,
}

fn int(n: u64) -> Value {
    Value::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

fn opt(n: Option<u64>) -> Value {
    n.map_or(Value::Null, int)
}

fn count(n: Option<i64>) -> Option<u64> {
    n.map(|v| u64::try_from(v).unwrap_or(0))
}

/// The count in the first column of the first row of one statement's rows.
fn scalar(rows: &[Vec<crate::value::Row>]) -> StoreResult<Option<u64>> {
    let first = rows.first().and_then(|r| r.first());
    Ok(count(first.map(|r| r.int(0)).transpose()?))
}

fn key(t: &DailyTake<'_>) -> Vec<Value> {
    vec![
        t.app.as_str().into(),
        t.action.as_str().into(),
        t.cid.into(),
        t.day.into(),
    ]
}

#[async_trait]
impl<B: Backend> QuotaStore for Registry<B> {
    async fn app_limits(&self, app: &AppId) -> StoreResult<Option<AppLimits>> {
        let mut results = self
            .backend()
            .query(vec![
                Stmt::new(
                    "SELECT time_zone FROM apps WHERE id = $1",
                    vec![app.as_str().into()],
                ),
                Stmt::new(
                    "SELECT action, per_second, per_minute, per_day, per_cid_per_day
                     FROM app_limits WHERE app_id = $1",
                    vec![app.as_str().into()],
                ),
            ])
            .await?
            .into_iter();
        let (apps, set) = (
            results.next().unwrap_or_default(),
            results.next().unwrap_or_default(),
        );
        let Some(row) = apps.first() else {
            return Ok(None);
        };
        let zone = match row.opt_text(0)? {
            Some(z) => Some(
                time_zone(&z)
                    .map_err(|_| StoreError::Backend("unreadable stored time zone".into()))?,
            ),
            None => None,
        };
        let mut limits = AppLimits {
            time_zone: zone,
            set: BTreeMap::new(),
        };
        for r in &set {
            // An action this build does not know (written by a newer one) is skipped.
            if let Some(action) = Action::parse(&r.text(0)?) {
                limits.set.insert(
                    action,
                    Windows {
                        per_second: count(r.opt_int(1)?),
                        per_minute: count(r.opt_int(2)?),
                        per_day: count(r.opt_int(3)?),
                        per_cid_per_day: count(r.opt_int(4)?),
                    },
                );
            }
        }
        Ok(Some(limits))
    }

    async fn set_limits(&self, app: &AppId, action: Action, w: &Windows) -> StoreResult<bool> {
        let changed = self
            .backend()
            .execute(vec![Stmt::new(
                "INSERT INTO app_limits
                    (app_id, action, per_second, per_minute, per_day, per_cid_per_day)
                 SELECT id, $2, $3, $4, $5, $6 FROM apps WHERE id = $1
                 ON CONFLICT (app_id, action) DO UPDATE SET
                    per_second = excluded.per_second, per_minute = excluded.per_minute,
                    per_day = excluded.per_day, per_cid_per_day = excluded.per_cid_per_day",
                vec![
                    app.as_str().into(),
                    action.as_str().into(),
                    opt(w.per_second),
                    opt(w.per_minute),
                    opt(w.per_day),
                    opt(w.per_cid_per_day),
                ],
            )])
            .await?;
        Ok(changed.first().copied().unwrap_or(0) > 0)
    }

    async fn reset_limits(&self, app: &AppId, action: Action) -> StoreResult<bool> {
        self.backend()
            .execute(vec![Stmt::new(
                "DELETE FROM app_limits WHERE app_id = $1 AND action = $2",
                vec![app.as_str().into(), action.as_str().into()],
            )])
            .await?;
        Ok(self.app_limits(app).await?.is_some())
    }

    async fn set_time_zone(&self, app: &AppId, zone: &str) -> StoreResult<bool> {
        let changed = self
            .backend()
            .execute(vec![Stmt::new(
                "UPDATE apps SET time_zone = $2 WHERE id = $1",
                vec![app.as_str().into(), zone.into()],
            )])
            .await?;
        Ok(changed.first().copied().unwrap_or(0) > 0)
    }

    async fn take_daily(&self, t: &DailyTake<'_>) -> StoreResult<Option<u64>> {
        if t.limit == 0 {
            return Ok(None);
        }
        let mut args = key(t);
        args.extend([t.ends_at.into(), int(t.limit)]);
        // One statement, so that concurrent takes (on any node) serialise on the row:
        // the count only grows while it is under the quota.
        let changed = self
            .backend()
            .execute(vec![Stmt::new(
                "INSERT INTO quota_usage (app_id, action, cid, day, used, expires_at)
                 VALUES ($1, $2, $3, $4, 1, $5)
                 ON CONFLICT (app_id, action, day, cid) DO UPDATE
                    SET used = quota_usage.used + 1 WHERE quota_usage.used < $6",
                args,
            )])
            .await?;
        if changed.first().copied().unwrap_or(0) == 0 {
            return Ok(None);
        }
        let rows = self
            .backend()
            .query(vec![Stmt::new(
                "SELECT used FROM quota_usage
                 WHERE app_id = $1 AND action = $2 AND cid = $3 AND day = $4",
                key(t),
            )])
            .await?;
        Ok(Some(scalar(&rows)?.unwrap_or(1)))
    }

    async fn give_back_daily(&self, t: &DailyTake<'_>) -> StoreResult<()> {
        self.backend()
            .execute(vec![Stmt::new(
                "UPDATE quota_usage SET used = used - 1
                 WHERE app_id = $1 AND action = $2 AND cid = $3 AND day = $4 AND used > 0",
                key(t),
            )])
            .await?;
        Ok(())
    }

    async fn daily_used(&self, app: &AppId, action: Action, day: i64) -> StoreResult<u64> {
        let rows = self
            .backend()
            .query(vec![Stmt::new(
                "SELECT CAST(COALESCE(SUM(used), 0) AS BIGINT) FROM quota_usage
                 WHERE app_id = $1 AND action = $2 AND day = $3",
                vec![app.as_str().into(), action.as_str().into(), day.into()],
            )])
            .await?;
        Ok(scalar(&rows)?.unwrap_or(0))
    }

    async fn prune_quota_usage(&self, now: i64) -> StoreResult<u64> {
        let changed = self
            .backend()
            .execute(vec![Stmt::new(
                "DELETE FROM quota_usage WHERE expires_at <= $1",
                vec![now.into()],
            )])
            .await?;
        Ok(changed.first().copied().unwrap_or(0))
    }
}

/// An app's settings as this node last read them.
struct Cached {
    read_at: Instant,
    refreshing: bool,
    /// `None`: no such app.
    limits: Option<Arc<AppLimits>>,
}

/// The node's limiter: sliding logs in memory, daily counts in the store.
pub struct Limiter {
    store: Arc<dyn Store>,
    clock: Clock,
    default_zone: chrono_tz::Tz,
    settings: Mutex<HashMap<AppId, Cached>>,
    logs: Mutex<HashMap<(AppId, Action, Span), SlidingLog>>,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter").finish_non_exhaustive()
    }
}

impl Limiter {
    /// A limiter over `store`'s settings and counts, on `clock`; apps that set no time
    /// zone count their days in `default_zone`.
    pub fn new(store: Arc<dyn Store>, clock: Clock, default_zone: chrono_tz::Tz) -> Self {
        Limiter {
            store,
            clock,
            default_zone,
            settings: Mutex::default(),
            logs: Mutex::default(),
        }
    }

    /// `app`'s settings, read again once older than [`REFRESH`] (by one caller while the
    /// others keep using the ones held, as long as those are under twice that old);
    /// `None` when there is no such app.
    pub async fn limits(&self, app: &AppId) -> Option<Arc<AppLimits>> {
        let held = {
            let mut settings = self.settings.lock().unwrap_or_else(|p| p.into_inner());
            match settings.get_mut(app) {
                // Another caller is reading them: the ones held are at most twice the
                // refresh period old, so a change still holds everywhere within a second.
                Some(c)
                    if c.read_at.elapsed() < REFRESH
                        || (c.refreshing && c.read_at.elapsed() < 2 * REFRESH) =>
                {
                    return c.limits.clone();
                }
                Some(c) => {
                    c.refreshing = true;
                    Some(c.limits.clone())
                }
                None => None,
            }
        };
        let read = self.store.app_limits(app).await;
        let limits = match read {
            Ok(limits) => limits.map(Arc::new),
            Err(e) => {
                tracing::warn!(app_id = %app, error = %e, "cannot read rate limit settings; using those held or the vendor's");
                metrics::counter!(crate::metric::QUOTA_STORE_FAILURES, "what" => "settings")
                    .increment(1);
                let limits = held.unwrap_or_else(|| Some(Arc::default()));
                // Try again at the next call rather than holding a guess for long.
                let mut settings = self.settings.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(c) = settings.get_mut(app) {
                    c.refreshing = false;
                }
                return limits;
            }
        };
        let mut settings = self.settings.lock().unwrap_or_else(|p| p.into_inner());
        settings.insert(
            app.clone(),
            Cached {
                read_at: Instant::now(),
                refreshing: false,
                limits: limits.clone(),
            },
        );
        limits
    }

    /// Now on the limiter's clock, ms.
    pub fn now(&self) -> i64 {
        (self.clock)()
    }

    /// Forgets `app`'s settings, so the next call reads them (after an admin change).
    pub fn forget(&self, app: &AppId) {
        let mut settings = self.settings.lock().unwrap_or_else(|p| p.into_inner());
        settings.remove(app);
    }

    /// Forgets everything of a deleted app: its settings and its windows' counts.
    pub fn forget_app(&self, app: &AppId) {
        self.forget(app);
        let mut logs = self.logs.lock().unwrap_or_else(|p| p.into_inner());
        logs.retain(|(a, _, _), _| a != app);
    }

    /// Calls of `action` admitted by this node in the sliding window `span` ending now.
    pub fn used(&self, app: &AppId, action: Action, span: Span) -> u64 {
        let now = (self.clock)();
        let mut logs = self.logs.lock().unwrap_or_else(|p| p.into_inner());
        logs.get_mut(&(app.clone(), action, span))
            .map_or(0, |l| l.used(now))
    }

    /// The day boundary of apps that set none.
    pub fn default_zone(&self) -> chrono_tz::Tz {
        self.default_zone
    }

    /// Counts a call in each sliding window of `w`; on a full one, takes back what it
    /// counted and says where that window stands.
    fn take_sliding(
        &self,
        app: &AppId,
        action: Action,
        w: &Windows,
        now: i64,
    ) -> Result<Option<RateState>, RateState> {
        let mut logs = self.logs.lock().unwrap_or_else(|p| p.into_inner());
        let mut taken: Vec<Span> = Vec::new();
        let mut state: Option<RateState> = None;
        for (span, limit) in w.sliding() {
            let log = logs
                .entry((app.clone(), action, span))
                .or_insert_with(|| SlidingLog::new(span.ms()));
            match log.take(now, limit) {
                Ok(s) => {
                    taken.push(span);
                    state = Some(state.map_or(s, |old| old.nearest(s)));
                }
                Err(s) => {
                    give_back(&mut logs, app, action, taken, now);
                    return Err(s);
                }
            }
        }
        Ok(state)
    }
}

/// Takes back the call counted at `now` in each window `spans` of (`app`, `action`).
fn give_back(
    logs: &mut HashMap<(AppId, Action, Span), SlidingLog>,
    app: &AppId,
    action: Action,
    spans: impl IntoIterator<Item = Span>,
    now: i64,
) {
    for span in spans {
        if let Some(log) = logs.get_mut(&(app.clone(), action, span)) {
            log.give_back(now);
        }
    }
}

fn refused(call: &LimitedAction, state: RateState, per_day: bool) -> Error {
    record_rate(state);
    metrics::counter!(crate::metric::RATE_LIMIT_REFUSALS, "action" => call.action().as_str())
        .increment(1);
    Error::RateLimited {
        action: call.clone(),
        per_day,
    }
}

#[async_trait]
impl Quota for Limiter {
    async fn take(&self, app: &AppId, call: &LimitedAction) -> Result<(), Error> {
        let action = call.action();
        // An unknown app is the handler's to answer.
        let Some(limits) = self.limits(app).await else {
            return Ok(());
        };
        let w = limits.windows(action);
        if w.is_off() {
            return Ok(());
        }
        let now = (self.clock)();
        let mut state = match self.take_sliding(app, action, &w, now) {
            Ok(state) => state,
            Err(s) => return Err(refused(call, s, false)),
        };
        let (day, ends_at) = calendar_day(now, limits.zone(self.default_zone));
        let until_midnight = ceil_secs(ends_at - now).max(1);
        // The app's daily count is kept under the cid `""`, each cid's under its own.
        let per_cid = w.per_cid_per_day.zip(call.cid());
        let daily = [w.per_day.map(|l| (l, "")), per_cid];
        let mut counted: Vec<DailyTake<'_>> = Vec::new();
        for (limit, cid) in daily.into_iter().flatten() {
            let take = DailyTake {
                app,
                action,
                cid,
                day,
                ends_at,
                limit,
            };
            let outcome = self.store.take_daily(&take).await;
            let over = RateState {
                limit,
                remaining: 0,
                reset_secs: until_midnight,
                retry_after: Some(until_midnight),
            };
            match outcome {
                Ok(Some(used)) => {
                    let s = RateState {
                        limit,
                        remaining: limit.saturating_sub(used),
                        reset_secs: until_midnight,
                        retry_after: None,
                    };
                    state = Some(state.map_or(s, |old| old.nearest(s)));
                    counted.push(take);
                }
                Ok(None) => {
                    self.undo(app, action, &w, now, &counted).await;
                    return Err(refused(call, over, true));
                }
                Err(e) => {
                    tracing::warn!(app_id = %app, action = action.as_str(), error = %e,
                        "cannot count a daily quota; refusing the call (fails closed)");
                    metrics::counter!(crate::metric::QUOTA_STORE_FAILURES, "what" => "daily")
                        .increment(1);
                    self.undo(app, action, &w, now, &counted).await;
                    return Err(refused(call, over, true));
                }
            }
        }
        if let Some(s) = state {
            record_rate(s);
        }
        Ok(())
    }
}

impl Limiter {
    async fn undo(
        &self,
        app: &AppId,
        action: Action,
        w: &Windows,
        now: i64,
        counted: &[DailyTake<'_>],
    ) {
        {
            let mut logs = self.logs.lock().unwrap_or_else(|p| p.into_inner());
            give_back(
                &mut logs,
                app,
                action,
                w.sliding().map(|(span, _)| span),
                now,
            );
        }
        for t in counted {
            if let Err(e) = self.store.give_back_daily(t).await {
                tracing::warn!(app_id = %app, error = %e, "cannot take back a daily count");
            }
        }
    }
}
