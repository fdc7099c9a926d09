//! The change log as a node sees it: how far this node has applied each app's log
//! ([`Progress`]), what one request wrote and asked to read after
//! ([`request_scope`]), and a page of the log ([`ChangePage`]).
//!
//! Each app numbers its committed writes with its own `seq`, written in the same
//! transaction as the change (`engine::decide`). A node applies its own commits as they
//! happen and other nodes' commits by reading the log ([`crate::Registry::catch_up`]),
//! always in seq order, so its audience index is the store as of its applied seq.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use roster_core::quota::RateState;
use roster_core::AppId;
use tokio::sync::watch;

/// What one request asked of, and learnt from, the store.
#[derive(Debug, Default)]
struct RequestSeq {
    /// `X-Roster-Min-Seq`: answer reads only once this seq of the app is applied.
    min: Option<u64>,
    /// The highest seq this request's writes committed under (or found current).
    written: Mutex<Option<u64>>,
    /// Where the request's rate limits stand, for its reply's headers.
    rate: Mutex<Option<RateState>>,
}

tokio::task_local! {
    static REQUEST: RequestSeq;
}

/// What a request's scope learnt, for its reply's headers.
#[derive(Debug, Default, Clone, Copy)]
pub struct Scoped {
    /// The seq of the app after the request's writes, if it wrote (a write that
    /// changed nothing reports the app's current seq).
    pub seq: Option<u64>,
    /// The window nearest exhaustion among the limits the request was counted against.
    pub rate: Option<RateState>,
}

/// Runs one request's handler: its reads wait for `min_seq` (when given), its writes
/// record their seq and its limited calls their rate state. Returns the handler's
/// output and what it recorded.
pub async fn request_scope<F: Future>(min_seq: Option<u64>, f: F) -> (F::Output, Scoped) {
    let seq = RequestSeq {
        min: min_seq,
        ..RequestSeq::default()
    };
    REQUEST
        .scope(seq, async move {
            let out = f.await;
            let scoped = REQUEST
                .try_with(|r| Scoped {
                    seq: r.written.lock().ok().and_then(|w| *w),
                    rate: r.rate.lock().ok().and_then(|w| *w),
                })
                .unwrap_or_default();
            (out, scoped)
        })
        .await
}

/// Notes where one of the current request's limits stands; of several, the reply
/// describes the one nearest exhaustion.
pub(crate) fn record_rate(state: RateState) {
    let _ = REQUEST.try_with(|r| {
        if let Ok(mut w) = r.rate.lock() {
            *w = Some(w.map_or(state, |old| old.nearest(state)));
        }
    });
}

/// Notes that the current request's write left its app at `seq`.
pub(crate) fn record_written(seq: u64) {
    let _ = REQUEST.try_with(|r| {
        if let Ok(mut w) = r.written.lock() {
            *w = Some(w.map_or(seq, |old| old.max(seq)));
        }
    });
}

/// The seq the current request's reads must wait for, if it asked for one.
pub(crate) fn min_seq() -> Option<u64> {
    REQUEST.try_with(|r| r.min).ok().flatten()
}

/// How long a read waits for `X-Roster-Min-Seq` before answering 503.
pub const MIN_SEQ_WAIT: Duration = Duration::from_secs(5);

/// Per app, the seq of the last change this node has applied; a signal on each advance.
#[derive(Debug)]
pub struct Progress {
    applied: Mutex<HashMap<AppId, u64>>,
    tick: watch::Sender<u64>,
}

impl Default for Progress {
    fn default() -> Self {
        Progress {
            applied: Mutex::new(HashMap::new()),
            tick: watch::Sender::new(0),
        }
    }
}

impl Progress {
    /// The seq of `app` this node has applied (0: nothing).
    pub fn applied(&self, app: &AppId) -> u64 {
        self.lock().get(app).copied().unwrap_or(0)
    }

    /// Every app's applied seq.
    pub fn all(&self) -> Vec<(AppId, u64)> {
        self.lock().iter().map(|(a, s)| (a.clone(), *s)).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<AppId, u64>> {
        self.applied.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn ticked(&self) {
        self.tick.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// The app was deleted: nothing of it is applied any more.
    pub fn forget(&self, app: &AppId) {
        self.lock().remove(app);
        self.ticked();
    }

    /// The app was (re)built from the store as of `seq`.
    pub fn reset(&self, app: &AppId, seq: u64) {
        self.lock().insert(app.clone(), seq);
        self.ticked();
    }

    /// Applies the change `seq` of `app` with `apply` if it is the next one (the seq
    /// right after the applied one); whether it did. A change already applied, or one
    /// that would skip another, is left to [`Progress::advance`] from the log.
    pub fn follow(&self, app: &AppId, seq: u64, apply: impl FnOnce()) -> bool {
        let mut applied = self.lock();
        let at = applied.entry(app.clone()).or_insert(0);
        if seq != *at + 1 {
            return false;
        }
        apply();
        *at = seq;
        drop(applied);
        self.ticked();
        true
    }

    /// Applies the change `seq` of `app`, read from the log in order, unless it is
    /// applied already.
    pub fn advance(&self, app: &AppId, seq: u64, apply: impl FnOnce()) {
        let mut applied = self.lock();
        let at = applied.entry(app.clone()).or_insert(0);
        if seq <= *at {
            return;
        }
        apply();
        *at = seq;
        drop(applied);
        self.ticked();
    }

    /// A receiver told of every advance of any app.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.tick.subscribe()
    }

    /// Waits until `app` is applied through `seq`, at most `within`; whether it is.
    pub async fn reach(&self, app: &AppId, seq: u64, within: Duration) -> bool {
        let mut rx = self.watch();
        let wait = async {
            loop {
                if self.applied(app) >= seq {
                    return;
                }
                if rx.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::time::timeout(within, wait).await.is_ok()
    }
}

/// One stored entry of the log: a write's seq, commit time and lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Its seq.
    pub seq: u64,
    /// Commit time, ms.
    pub at: i64,
    /// How many lines (mutations).
    pub lines: u64,
    /// The lines, `\n`-joined (see `roster_core::change`).
    pub body: String,
}

/// What the store holds of an app's log after some seq.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRead {
    /// The app's newest seq.
    pub newest: u64,
    /// The last seq retention removed (0: none).
    pub pruned_through: u64,
    /// Entries after the seq asked for, oldest first.
    pub entries: Vec<LogEntry>,
}

/// A page of an app's change feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangePage {
    /// NDJSON lines, oldest first, ending at a seq boundary.
    Lines {
        /// The lines, each ending in `\n`.
        text: String,
        /// How many.
        count: usize,
        /// The seq to resume after: the page's last seq, or the one asked after when
        /// the page is empty.
        last: u64,
        /// The app's newest seq in the store.
        newest: u64,
    },
    /// The changes after the seq asked for are no longer all held.
    Gone {
        /// The oldest seq a reader can still get (the one after the last pruned).
        oldest: u64,
    },
}

impl ChangePage {
    /// Cuts a page from a log read: whole seqs only, up to `limit` lines, but never
    /// empty while there are changes (a seq larger than `limit` comes whole).
    pub fn cut(read: LogRead, after: u64, limit: usize) -> ChangePage {
        if after < read.pruned_through {
            return ChangePage::Gone {
                oldest: read.pruned_through + 1,
            };
        }
        let mut text = String::new();
        let (mut count, mut last) = (0usize, after);
        for e in &read.entries {
            let n = usize::try_from(e.lines).unwrap_or(usize::MAX);
            if count > 0 && count.saturating_add(n) > limit {
                break;
            }
            count += roster_core::change::render(&mut text, e.seq, e.at, &e.body);
            last = e.seq;
        }
        ChangePage::Lines {
            text,
            count,
            last,
            newest: read.newest,
        }
    }
}

/// How far this node is behind one app's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppProgress {
    /// The app.
    pub app_id: String,
    /// The seq this node has applied.
    pub applied_seq: u64,
    /// The newest seq in the store, as last seen.
    pub store_seq: u64,
    /// How long the oldest change not yet applied has been committed, ms (0: none).
    pub lag_ms: u64,
}

/// A node's view of the log of every app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeProgress {
    /// Whether the last look at the store succeeded (`false`: figures are as last seen
    /// and the lag counts from then).
    pub store_reachable: bool,
    /// Per app.
    pub apps: Vec<AppProgress>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: u64, lines: u64) -> LogEntry {
        let body = (0..lines)
            .map(|i| format!(r#"{{"kind":"user_deleted","uid":{i}}}"#))
            .collect::<Vec<_>>()
            .join("\n");
        LogEntry {
            seq,
            at: 10,
            lines,
            body,
        }
    }

    fn lines(p: &ChangePage) -> (usize, u64) {
        match p {
            ChangePage::Lines { count, last, .. } => (*count, *last),
            ChangePage::Gone { .. } => panic!("gone"),
        }
    }

    #[test]
    fn pages_end_at_seq_boundaries() {
        let read = LogRead {
            newest: 4,
            pruned_through: 0,
            entries: vec![entry(2, 2), entry(3, 3), entry(4, 1)],
        };
        assert_eq!(lines(&ChangePage::cut(read.clone(), 1, 4)), (2, 2));
        assert_eq!(lines(&ChangePage::cut(read.clone(), 1, 5)), (5, 3));
        assert_eq!(lines(&ChangePage::cut(read.clone(), 1, 6)), (6, 4));
        // a seq larger than the limit comes whole
        assert_eq!(lines(&ChangePage::cut(read.clone(), 1, 1)), (2, 2));
        let empty = LogRead {
            entries: vec![],
            ..read.clone()
        };
        assert_eq!(lines(&ChangePage::cut(empty, 4, 10)), (0, 4));
        let pruned = LogRead {
            pruned_through: 3,
            ..read
        };
        assert_eq!(
            ChangePage::cut(pruned.clone(), 2, 10),
            ChangePage::Gone { oldest: 4 }
        );
        assert_eq!(lines(&ChangePage::cut(pruned, 3, 10)).1, 4);
    }

    #[tokio::test]
    async fn progress_follows_in_order_and_wakes_waiters() {
        let p = std::sync::Arc::new(Progress::default());
        let app = AppId::parse("a1").expect("app");
        let mut applied = Vec::new();
        assert!(!p.follow(&app, 2, || applied.push(2)), "skips a seq");
        assert!(p.follow(&app, 1, || applied.push(1)));
        assert!(!p.follow(&app, 1, || applied.push(1)), "already applied");
        p.advance(&app, 3, || applied.push(3));
        p.advance(&app, 2, || applied.push(2));
        assert_eq!(applied, vec![1, 3]);
        assert_eq!(p.applied(&app), 3);
        assert!(!p.reach(&app, 4, Duration::from_millis(20)).await);
        let waiter = {
            let (p, app) = (p.clone(), app.clone());
            tokio::spawn(async move { p.reach(&app, 4, Duration::from_secs(5)).await })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        p.advance(&app, 4, || {});
        assert!(waiter.await.expect("join"));
    }
}
