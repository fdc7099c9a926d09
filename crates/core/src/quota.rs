//! Rate limits and quotas, declared once: the actions the vendor documents limit, their
//! default windows, the per-app settings that override them, the sliding log that
//! enforces a short window exactly, and the calendar day of an app's time zone.
//!
//! Dialects ask [`Quota::take`] once per limited call, after authentication and before
//! validating the body's fields, so that a call counts once, as at the vendor, also
//! when it then fails validation. The limiter (`roster_store::quota::Limiter`) keeps
//! the state.

use std::collections::VecDeque;

use crate::error::Error;
use crate::ids::AppId;

/// An action with its own limits: the names the admin API and the CLI use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// Getui `POST /auth`: 100 per minute and 100,000 per day.
    GetuiAuth,
    /// Getui tag overwrite of one cid: once per cid per day.
    GetuiTagOverwrite,
    /// Getui batch bind and batch unbind of one tag, together: 100 per minute and
    /// 10,000 per day.
    GetuiTagBatch,
    /// Getui `bind_dt/{type}`: 1,000 per minute.
    GetuiBindDt,
    /// Every other Getui call: a ceiling per minute, off unless the admin sets one.
    GetuiCall,
    /// Jiguang Growth `user/register`: 100 per second.
    GrowthRegister,
    /// EngageLab `user/profile`: 1,000 per minute.
    EngagelabProfile,
    /// Every native `/api/v1/apps/{app_id}/…` call: per second, off unless set.
    NativeRequest,
}

impl Action {
    /// Every action, in the order the admin API lists them.
    pub const ALL: [Action; 8] = [
        Action::GetuiAuth,
        Action::GetuiTagOverwrite,
        Action::GetuiTagBatch,
        Action::GetuiBindDt,
        Action::GetuiCall,
        Action::GrowthRegister,
        Action::EngagelabProfile,
        Action::NativeRequest,
    ];

    /// The action's name on the wire and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::GetuiAuth => "getui_auth",
            Action::GetuiTagOverwrite => "getui_tag_overwrite",
            Action::GetuiTagBatch => "getui_tag_batch",
            Action::GetuiBindDt => "getui_bind_dt",
            Action::GetuiCall => "getui_call",
            Action::GrowthRegister => "growth_register",
            Action::EngagelabProfile => "engagelab_profile",
            Action::NativeRequest => "native_request",
        }
    }

    /// The action a name names.
    pub fn parse(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == name)
    }

    /// The vendor's values (roster's own for the native API: off).
    pub fn defaults(self) -> Windows {
        let w = Windows::default();
        match self {
            Action::GetuiAuth => Windows {
                per_minute: Some(100),
                per_day: Some(100_000),
                ..w
            },
            Action::GetuiTagOverwrite => Windows {
                per_cid_per_day: Some(1),
                ..w
            },
            Action::GetuiTagBatch => Windows {
                per_minute: Some(100),
                per_day: Some(10_000),
                ..w
            },
            Action::GetuiBindDt | Action::EngagelabProfile => Windows {
                per_minute: Some(1_000),
                ..w
            },
            Action::GrowthRegister => Windows {
                per_second: Some(100),
                ..w
            },
            Action::GetuiCall | Action::NativeRequest => w,
        }
    }

    /// Whether its calls name a cid, so that a per-cid daily quota can apply.
    pub fn per_cid(self) -> bool {
        self == Action::GetuiTagOverwrite
    }
}

/// One action's windows; `None` is a window that does not apply or is switched off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Windows {
    /// Calls in any one second.
    pub per_second: Option<u64>,
    /// Calls in any one minute.
    pub per_minute: Option<u64>,
    /// Calls in one calendar day of the app's time zone.
    pub per_day: Option<u64>,
    /// Calls naming one cid in one calendar day.
    pub per_cid_per_day: Option<u64>,
}

impl Windows {
    /// Whether no window is in force.
    pub fn is_off(&self) -> bool {
        *self == Windows::default()
    }

    /// The short (in-memory) windows in force, as (limit, length in ms).
    pub fn sliding(&self) -> impl Iterator<Item = (Span, u64)> + '_ {
        [
            (Span::Second, self.per_second),
            (Span::Minute, self.per_minute),
        ]
        .into_iter()
        .filter_map(|(s, l)| l.map(|l| (s, l)))
    }
}

/// A sliding window's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Span {
    /// One second.
    Second,
    /// One minute.
    Minute,
}

impl Span {
    /// The length, ms.
    pub fn ms(self) -> i64 {
        match self {
            Span::Second => 1_000,
            Span::Minute => 60_000,
        }
    }
}

/// Largest window value the admin may set.
pub const MAX_LIMIT: u64 = 1_000_000_000_000;

/// The default day boundary: the vendors' own time zone.
pub const DEFAULT_TIME_ZONE: &str = "Asia/Shanghai";

/// One limited call: the action, and the cid it names when a per-cid quota applies.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LimitedAction {
    /// Getui `POST /auth` (over: 10003).
    GetuiAuth,
    /// Any other Getui call, per minute (over: 10005).
    GetuiCall,
    /// Tag overwrite of one cid, as written in the path: once a day (over: 30011).
    TagOverwrite(String),
    /// Tag batch bind/unbind: 100 per minute and 10,000 per day, shared (over: 30012 / 30011).
    TagBatch,
    /// `bind_dt`: 1,000 per minute (over: 10005).
    BindDt,
    /// Growth `user/register`: 100 per second (over: 2002).
    GrowthRegister,
    /// EngageLab `user/profile`: 1,000 per minute per project (over: 55110).
    EngagelabProfile,
    /// A native API call (over: 429).
    NativeRequest,
}

impl LimitedAction {
    /// The action whose windows apply.
    pub fn action(&self) -> Action {
        match self {
            LimitedAction::GetuiAuth => Action::GetuiAuth,
            LimitedAction::GetuiCall => Action::GetuiCall,
            LimitedAction::TagOverwrite(_) => Action::GetuiTagOverwrite,
            LimitedAction::TagBatch => Action::GetuiTagBatch,
            LimitedAction::BindDt => Action::GetuiBindDt,
            LimitedAction::GrowthRegister => Action::GrowthRegister,
            LimitedAction::EngagelabProfile => Action::EngagelabProfile,
            LimitedAction::NativeRequest => Action::NativeRequest,
        }
    }

    /// The cid a per-cid quota counts, if any.
    pub fn cid(&self) -> Option<&str> {
        match self {
            LimitedAction::TagOverwrite(cid) => Some(cid),
            _ => None,
        }
    }
}

/// What a limited reply tells its client: the window nearest exhaustion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateState {
    /// The window's limit (`X-RateLimit-Limit`).
    pub limit: u64,
    /// Calls left in it after this one (`X-RateLimit-Remaining`).
    pub remaining: u64,
    /// Whole seconds until the window frees up (`X-RateLimit-Reset`).
    pub reset_secs: u64,
    /// On a refusal: whole seconds until a call can pass (`Retry-After`).
    pub retry_after: Option<u64>,
}

impl RateState {
    /// Of two windows that both apply, the one nearest exhaustion: the fewer calls
    /// left, then the later reset.
    pub fn nearest(self, other: RateState) -> RateState {
        let key = |s: &RateState| (s.remaining, std::cmp::Reverse(s.reset_secs));
        if key(&other) < key(&self) {
            other
        } else {
            self
        }
    }
}

/// Decides whether a limited call may proceed, and counts it when it may.
#[async_trait::async_trait]
pub trait Quota: Send + Sync {
    /// `Ok` to proceed (the call now counts), [`Error::RateLimited`] when over (nothing
    /// counted). Records the [`RateState`] for the reply's headers.
    async fn take(&self, app: &AppId, call: &LimitedAction) -> Result<(), Error>;
}

/// Lets everything through (tools and tests that need no limits).
#[derive(Debug, Default, Clone, Copy)]
pub struct Unlimited;

#[async_trait::async_trait]
impl Quota for Unlimited {
    async fn take(&self, _app: &AppId, _call: &LimitedAction) -> Result<(), Error> {
        Ok(())
    }
}

/// Whole seconds in `ms`, rounded up.
pub fn ceil_secs(ms: i64) -> u64 {
    u64::try_from(ms.max(0)).unwrap_or(0).div_ceil(1000)
}

/// An exact sliding window: the admitted calls of the last window length, as runs of
/// calls per millisecond. A call at `now` passes when fewer than `limit` calls were
/// admitted in `(now − window, now]`, so no window of that length ever holds more than
/// `limit`, and the `limit`-th call of a window that started empty always passes.
/// Memory: at most one run per millisecond of the window with a call in it
/// (`min(limit, window in ms)` runs of 12 bytes: ≤ 12 KB for a second, ≤ 720 KB for a
/// minute), O(1) amortised per call.
#[derive(Debug, Clone)]
pub struct SlidingLog {
    window_ms: i64,
    runs: VecDeque<(i64, u32)>,
    total: u64,
}

impl SlidingLog {
    /// An empty log of a window `window_ms` long.
    pub fn new(window_ms: i64) -> Self {
        SlidingLog {
            window_ms,
            runs: VecDeque::new(),
            total: 0,
        }
    }

    fn expire(&mut self, now: i64) {
        while let Some(&(at, n)) = self.runs.front() {
            if at > now - self.window_ms {
                break;
            }
            self.total -= u64::from(n);
            self.runs.pop_front();
        }
    }

    /// Calls admitted in the window ending at `now`.
    pub fn used(&mut self, now: i64) -> u64 {
        self.expire(now);
        self.total
    }

    /// Whole seconds until the oldest counted call leaves the window (0 when none is).
    pub fn reset_secs(&self, now: i64) -> u64 {
        self.runs
            .front()
            .map_or(0, |&(at, _)| ceil_secs(at + self.window_ms - now).max(1))
    }

    /// Admits a call at `now` if fewer than `limit` were admitted in the window, and
    /// says where the window then stands; `Err` (nothing counted) when it is full.
    pub fn take(&mut self, now: i64, limit: u64) -> Result<RateState, RateState> {
        self.expire(now);
        if self.total >= limit {
            let wait = self.reset_secs(now).max(1);
            return Err(RateState {
                limit,
                remaining: 0,
                reset_secs: wait,
                retry_after: Some(wait),
            });
        }
        match self.runs.back_mut() {
            // A clock that steps back counts the call at the newest instant seen.
            Some((at, n)) if *at >= now && *n < u32::MAX => *n += 1,
            _ => self.runs.push_back((now, 1)),
        }
        self.total += 1;
        Ok(RateState {
            limit,
            remaining: limit - self.total,
            reset_secs: self.reset_secs(now),
            retry_after: None,
        })
    }

    /// Takes back the newest call admitted at `at` (its call was refused by another
    /// window after all).
    pub fn give_back(&mut self, at: i64) {
        if let Some(run) = self.runs.iter_mut().find(|(t, n)| *t >= at && *n > 0) {
            run.1 -= 1;
            self.total -= 1;
        }
    }

    /// Whether nothing is counted (the log can be dropped).
    pub fn is_empty(&mut self, now: i64) -> bool {
        self.used(now) == 0
    }
}

/// An app's time zone, from its IANA name.
pub fn time_zone(name: &str) -> Result<chrono_tz::Tz, Error> {
    name.parse::<chrono_tz::Tz>()
        .map_err(|_| Error::invalid("time_zone"))
}

/// The calendar day of `now` in `tz` (as `YYYYMMDD`) and the instant (ms) of its end,
/// the next midnight there.
pub fn calendar_day(now: i64, tz: chrono_tz::Tz) -> (i64, i64) {
    use chrono::{Datelike, TimeZone};
    let Some(utc) = chrono::DateTime::from_timestamp_millis(now) else {
        return (0, now + crate::time::DAY_MS);
    };
    let local = utc.with_timezone(&tz).date_naive();
    let day =
        i64::from(local.year()) * 10_000 + i64::from(local.month()) * 100 + i64::from(local.day());
    let next = local.succ_opt().unwrap_or(local);
    // A zone whose clocks jump over midnight starts the day at its first instant.
    let end = (0..=2)
        .filter_map(|h| next.and_hms_opt(h, 0, 0))
        .find_map(|t| tz.from_local_datetime(&t).earliest())
        .map_or(now + crate::time::DAY_MS, |t| t.timestamp_millis());
    (day, end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_round_trip_and_defaults_are_the_vendors() {
        for a in Action::ALL {
            assert_eq!(Action::parse(a.as_str()), Some(a));
        }
        assert_eq!(Action::parse("getui"), None);
        assert_eq!(Action::GetuiAuth.defaults().per_minute, Some(100));
        assert_eq!(Action::GetuiAuth.defaults().per_day, Some(100_000));
        assert_eq!(Action::GetuiTagBatch.defaults().per_day, Some(10_000));
        assert_eq!(
            Action::GetuiTagOverwrite.defaults().per_cid_per_day,
            Some(1)
        );
        assert_eq!(Action::GrowthRegister.defaults().per_second, Some(100));
        assert!(Action::GetuiCall.defaults().is_off());
        assert!(Action::NativeRequest.defaults().is_off());
    }

    #[test]
    fn the_nth_call_passes_and_the_next_waits_for_the_oldest() {
        let mut log = SlidingLog::new(60_000);
        for i in 0..3 {
            let s = log.take(1_000 + i * 10_000, 3).expect("admitted");
            assert_eq!(s.remaining, 2 - u64::try_from(i).expect("small"));
        }
        let refused = log.take(40_000, 3).expect_err("full");
        assert_eq!(refused.remaining, 0);
        // The oldest call (at 1 s) leaves the window at 61 s: 21 s from 40 s.
        assert_eq!(refused.retry_after, Some(21));
        assert!(log.take(60_999, 3).is_err());
        assert!(log.take(61_000, 3).is_ok());
    }

    #[test]
    fn a_given_back_call_frees_its_unit() {
        let mut log = SlidingLog::new(1_000);
        log.take(5, 1).expect("admitted");
        assert!(log.take(6, 1).is_err());
        log.give_back(5);
        assert!(log.take(6, 1).is_ok());
    }

    #[test]
    fn nearest_exhaustion_is_the_fewest_left() {
        let minute = RateState {
            limit: 100,
            remaining: 99,
            reset_secs: 60,
            retry_after: None,
        };
        let day = RateState {
            limit: 2,
            remaining: 1,
            reset_secs: 3_600,
            retry_after: None,
        };
        assert_eq!(minute.nearest(day), day);
        assert_eq!(day.nearest(minute), day);
    }

    #[test]
    fn shanghai_days_end_at_its_midnight() {
        let tz = time_zone(DEFAULT_TIME_ZONE).expect("zone");
        // 2026-11-30T15:59:59.999Z is 23:59:59.999 in Shanghai.
        let before = 1_796_054_399_999;
        let (day, end) = calendar_day(before, tz);
        assert_eq!(day, 20_261_130);
        assert_eq!(end, before + 1);
        let (next, _) = calendar_day(end, tz);
        assert_eq!(next, 20_261_201);
        assert!(time_zone("Mars/Olympus").is_err());
        let london = time_zone("Europe/London").expect("zone");
        assert_eq!(calendar_day(before, london).0, 20_261_130);
    }

    proptest! {
        /// No window of the log's length ever holds more than the limit, and a call
        /// passes whenever the window before it holds fewer.
        #[test]
        fn never_over_and_never_unfairly_refused(
            gaps in proptest::collection::vec(0i64..400, 1..300),
            limit in 1u64..20,
        ) {
            let window = 1_000;
            let mut log = SlidingLog::new(window);
            let mut admitted: Vec<i64> = Vec::new();
            let mut now = 0;
            for g in gaps {
                now += g;
                let before = admitted.iter().filter(|&&t| t > now - window).count() as u64;
                let passed = log.take(now, limit).is_ok();
                prop_assert_eq!(passed, before < limit);
                if passed {
                    admitted.push(now);
                }
                let inside = admitted.iter().filter(|&&t| t > now - window).count() as u64;
                prop_assert!(inside <= limit);
            }
        }
    }
}
