//! Getui tokens, checked without a store round trip on the hot path.
//!
//! Every `token` header used to cost a store read. Several nodes may share one store
//! and a token may be revoked on any of them, so a cache that kept answers until expiry
//! would keep revoked tokens alive. This one believes what the store said about a token
//! for [`FRESH_FOR`] only, counted from when the store read *started* (its answer can be
//! no newer than that), and then asks again:
//!
//! - a token revoked on another node stops working here at most [`FRESH_FOR`] after
//!   its revocation committed;
//! - a token revoked on this node stops working at once: the revocation evicts it, and
//!   store reads that were in flight while it ran are not remembered (a revocation
//!   counter tells them apart), since they may have read the token still alive;
//! - expiry needs no read: a live entry keeps the token's `expires_at`, compared with
//!   the request's clock on every check;
//! - unknown, revoked and expired tokens are remembered for [`FRESH_FOR`] too, so a
//!   client repeating a dead token costs one read per window, not one per request.
//!
//! Memory is bounded: live and dead tokens are kept in two maps of at most
//! [`MAX_LIVE`] and [`MAX_DEAD`] entries. A full map first drops its stale entries
//! (at most once a window, so a full map costs no scan per request); when it is still
//! full, a new answer is simply not remembered and that token costs a read per
//! request. Dead tokens have their own map so that a client spraying random tokens
//! can fill only that one, and never pushes out the tokens of well-behaved clients.
//!
//! Tokens are known here only by digest; neither tokens nor digests are logged.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use roster_core::AppId;
use roster_store::{StoreResult, TokenGrant, TokenStore};

/// How long the store's answer about a token is believed without asking again. It
/// bounds how long a token revoked on another node keeps working on this one.
pub const FRESH_FOR: Duration = Duration::from_millis(500);

/// Most live tokens remembered at once.
pub const MAX_LIVE: usize = 16_384;

/// Most unknown, revoked or expired tokens remembered at once.
pub const MAX_DEAD: usize = 16_384;

/// Monotonic now; tests move it by hand.
type Ticker = Arc<dyn Fn() -> Instant + Send + Sync>;

/// The token checks of one node: what the store said about recently used tokens, and
/// when (see the module documentation). Clones of a [`crate::GetuiState`] share one.
pub struct TokenCache {
    entries: RwLock<Entries>,
    ticker: Ticker,
}

impl Default for TokenCache {
    fn default() -> Self {
        Self::with_ticker(Arc::new(Instant::now))
    }
}

impl std::fmt::Debug for TokenCache {
    // Digests stay out of Debug output too.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let e = self.read();
        f.debug_struct("TokenCache")
            .field("live", &e.live.map.len())
            .field("dead", &e.dead.map.len())
            .finish()
    }
}

struct Entries {
    live: Bounded<TokenGrant>,
    dead: Bounded<()>,
    /// Revocations made through this node so far.
    revocations: u64,
}

/// Digest → what the store said and when the read started, at most `cap` entries.
struct Bounded<T> {
    map: HashMap<String, (T, Instant)>,
    cap: usize,
    swept_at: Option<Instant>,
}

impl<T> Bounded<T> {
    fn new(cap: usize) -> Self {
        Bounded {
            map: HashMap::new(),
            cap,
            swept_at: None,
        }
    }

    fn fresh(&self, digest: &str, now: Instant) -> Option<&T> {
        self.map
            .get(digest)
            .filter(|(_, at)| is_fresh(*at, now))
            .map(|(v, _)| v)
    }

    fn insert(&mut self, digest: String, value: T, at: Instant, now: Instant) {
        if self.map.len() >= self.cap && !self.map.contains_key(&digest) {
            self.sweep(now);
            if self.map.len() >= self.cap {
                return;
            }
        }
        self.map.insert(digest, (value, at));
    }

    /// Drops what is stale, unless that was done less than a window ago.
    fn sweep(&mut self, now: Instant) {
        if self.swept_at.is_some_and(|t| is_fresh(t, now)) {
            return;
        }
        self.swept_at = Some(now);
        self.map.retain(|_, (_, at)| is_fresh(*at, now));
    }
}

fn is_fresh(at: Instant, now: Instant) -> bool {
    now.saturating_duration_since(at) < FRESH_FOR
}

impl TokenCache {
    /// A cache whose freshness is measured on `ticker` (a monotonic clock; expiry is on
    /// the request's clock instead).
    fn with_ticker(ticker: Ticker) -> Self {
        TokenCache {
            entries: RwLock::new(Entries {
                live: Bounded::new(MAX_LIVE),
                dead: Bounded::new(MAX_DEAD),
                revocations: 0,
            }),
            ticker,
        }
    }

    // Nothing panics while holding the lock, and every write leaves the maps
    // consistent, so a poisoned lock is still a good one.
    fn read(&self) -> RwLockReadGuard<'_, Entries> {
        self.entries.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Entries> {
        self.entries.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The app of the live (unexpired at `now`, unrevoked) token with this digest:
    /// from memory when the store said so less than [`FRESH_FOR`] ago, else from
    /// `store`.
    pub async fn app_of<S: TokenStore + ?Sized>(
        &self,
        store: &S,
        digest: &str,
        now: i64,
    ) -> StoreResult<Option<AppId>> {
        let started = (self.ticker)();
        let revocations = {
            let e = self.read();
            if let Some(grant) = e.live.fresh(digest, started) {
                return Ok((now < grant.expires_at).then(|| grant.app.clone()));
            }
            if e.dead.fresh(digest, started).is_some() {
                return Ok(None);
            }
            e.revocations
        };
        let grant = store.live_token(digest, now).await?;
        let mut e = self.write();
        let ticked = (self.ticker)();
        match &grant {
            // A revocation since the read started may be of this very token.
            Some(g) if e.revocations == revocations => {
                e.dead.map.remove(digest);
                e.live.insert(digest.to_owned(), g.clone(), started, ticked);
            }
            Some(_) => {}
            None => {
                e.live.map.remove(digest);
                e.dead.insert(digest.to_owned(), (), started, ticked);
            }
        }
        Ok(grant.map(|g| g.app))
    }

    /// Records a new token in `store`, and remembers it live so that its first use
    /// costs no read either.
    pub async fn issue<S: TokenStore + ?Sized>(
        &self,
        store: &S,
        app: &AppId,
        digest: &str,
        expires_at: i64,
    ) -> StoreResult<()> {
        let started = (self.ticker)();
        store.insert_token(app, digest, expires_at).await?;
        let grant = TokenGrant {
            app: app.clone(),
            expires_at,
        };
        let mut e = self.write();
        e.dead.map.remove(digest);
        e.live
            .insert(digest.to_owned(), grant, started, (self.ticker)());
        Ok(())
    }

    /// Revokes a token of `app` in `store`, then forgets it here, so that the next
    /// check on this node asks the store; `false` when there was no such token.
    pub async fn revoke<S: TokenStore + ?Sized>(
        &self,
        store: &S,
        app: &AppId,
        digest: &str,
    ) -> StoreResult<bool> {
        // Forgotten only once the store has it revoked: a read in between would put
        // it back, alive. Reads in flight now are not remembered (`revocations`).
        let revoked = store.revoke_token(app, digest).await;
        let mut e = self.write();
        e.revocations += 1;
        e.live.map.remove(digest);
        revoked
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    use std::sync::Mutex;

    use async_trait::async_trait;
    use tokio::sync::Semaphore;

    use super::*;

    const NOW: i64 = 1_700_000_000_000;

    /// A token store that counts reads and, when gated, holds each read (after taking
    /// its snapshot) until a permit is added.
    #[derive(Default)]
    struct Fake {
        tokens: Mutex<HashMap<String, (AppId, i64, bool)>>,
        reads: AtomicUsize,
        gate: Option<Semaphore>,
    }

    impl Fake {
        fn reads(&self) -> usize {
            self.reads.load(Ordering::SeqCst)
        }
        fn tokens(&self) -> std::sync::MutexGuard<'_, HashMap<String, (AppId, i64, bool)>> {
            self.tokens.lock().expect("lock")
        }
    }

    #[async_trait]
    impl TokenStore for Fake {
        async fn insert_token(&self, app: &AppId, digest: &str, exp: i64) -> StoreResult<()> {
            self.tokens()
                .insert(digest.to_owned(), (app.clone(), exp, false));
            Ok(())
        }
        async fn live_token(&self, digest: &str, now: i64) -> StoreResult<Option<TokenGrant>> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            let answer = self.tokens().get(digest).and_then(|(app, exp, revoked)| {
                (!revoked && now < *exp).then(|| TokenGrant {
                    app: app.clone(),
                    expires_at: *exp,
                })
            });
            if let Some(gate) = &self.gate {
                gate.acquire().await.expect("gate").forget();
            }
            Ok(answer)
        }
        async fn revoke_token(&self, app: &AppId, digest: &str) -> StoreResult<bool> {
            Ok(match self.tokens().get_mut(digest) {
                Some((a, _, revoked)) if a == app && !*revoked => {
                    *revoked = true;
                    true
                }
                _ => false,
            })
        }
    }

    /// A cache on a monotonic clock that moves only when told to (ms).
    fn cache() -> (TokenCache, Arc<AtomicU64>) {
        let base = Instant::now();
        let moved = Arc::new(AtomicU64::new(0));
        let m = moved.clone();
        let ticker = move || base + Duration::from_millis(m.load(Ordering::SeqCst));
        (TokenCache::with_ticker(Arc::new(ticker)), moved)
    }

    /// A fake store, a cache on a hand-moved clock, and the token `d` issued through the
    /// cache to a new app until `expires_at`.
    async fn issued(expires_at: i64) -> (Fake, TokenCache, Arc<AtomicU64>, AppId) {
        let (store, (cache, clock)) = (Fake::default(), cache());
        let app = AppId::generate();
        cache
            .issue(&store, &app, "d", expires_at)
            .await
            .expect("issue");
        (store, cache, clock, app)
    }

    fn window_ms() -> u64 {
        u64::try_from(FRESH_FOR.as_millis()).expect("ms")
    }

    #[tokio::test]
    async fn a_token_costs_one_store_read_per_window() {
        let (store, (cache, clock)) = (Fake::default(), cache());
        let app = AppId::generate();
        // issued by another node: this one has to ask once
        store
            .insert_token(&app, "d", NOW + 60_000)
            .await
            .expect("insert");
        for i in 0..1_000 {
            let got = cache.app_of(&store, "d", NOW + i).await.expect("check");
            assert_eq!(got.as_ref(), Some(&app));
        }
        assert_eq!(store.reads(), 1);
        clock.fetch_add(window_ms() - 1, Ordering::SeqCst);
        cache.app_of(&store, "d", NOW).await.expect("check");
        assert_eq!(store.reads(), 1, "still fresh");
        clock.fetch_add(1, Ordering::SeqCst);
        for _ in 0..1_000 {
            cache.app_of(&store, "d", NOW).await.expect("check");
        }
        assert_eq!(store.reads(), 2, "one more read for the next window");
    }

    #[tokio::test]
    async fn a_token_issued_here_needs_no_read() {
        let (store, cache, _, app) = issued(NOW + 60_000).await;
        let got = cache.app_of(&store, "d", NOW).await.expect("check");
        assert_eq!((got, store.reads()), (Some(app), 0));
    }

    #[tokio::test]
    async fn a_token_revoked_here_fails_at_once() {
        let (store, cache, _, app) = issued(NOW + 60_000).await;
        assert!(cache
            .app_of(&store, "d", NOW)
            .await
            .expect("check")
            .is_some());
        assert!(cache.revoke(&store, &app, "d").await.expect("revoke"));
        assert_eq!(cache.app_of(&store, "d", NOW).await.expect("check"), None);
        assert_eq!(store.reads(), 1);
    }

    #[tokio::test]
    async fn a_token_revoked_elsewhere_fails_once_its_window_ends() {
        let (store, cache, clock, app) = issued(NOW + 60_000).await;
        // another node revokes it in the shared store
        assert!(store.revoke_token(&app, "d").await.expect("revoke"));
        assert!(cache
            .app_of(&store, "d", NOW)
            .await
            .expect("check")
            .is_some());
        clock.fetch_add(window_ms(), Ordering::SeqCst);
        assert_eq!(cache.app_of(&store, "d", NOW).await.expect("check"), None);
    }

    #[tokio::test]
    async fn an_expired_token_fails_at_once_without_a_read() {
        let (store, cache, _, _) = issued(NOW + 1_000).await;
        let at = |now| cache.app_of(&store, "d", now);
        assert!(at(NOW + 999).await.expect("check").is_some());
        assert_eq!(at(NOW + 1_000).await.expect("check"), None);
        assert_eq!(store.reads(), 0);
    }

    #[tokio::test]
    async fn a_dead_token_is_remembered_for_one_window_only() {
        let (store, (cache, clock)) = (Fake::default(), cache());
        for _ in 0..100 {
            assert_eq!(
                cache.app_of(&store, "nope", NOW).await.expect("check"),
                None
            );
        }
        assert_eq!(store.reads(), 1);
        clock.fetch_add(window_ms(), Ordering::SeqCst);
        cache.app_of(&store, "nope", NOW).await.expect("check");
        assert_eq!(store.reads(), 2);
    }

    #[tokio::test]
    async fn random_tokens_fill_only_the_bounded_dead_map() {
        let (store, (cache, clock)) = (Fake::default(), cache());
        let app = AppId::generate();
        cache
            .issue(&store, &app, "good", NOW + 60_000)
            .await
            .expect("issue");
        for i in 0..MAX_DEAD + 100 {
            cache
                .app_of(&store, &format!("r{i}"), NOW)
                .await
                .expect("check");
        }
        assert_eq!(cache.read().dead.map.len(), MAX_DEAD);
        let reads = store.reads();
        assert!(cache
            .app_of(&store, "good", NOW)
            .await
            .expect("check")
            .is_some());
        assert_eq!(store.reads(), reads, "the live token is still remembered");
        // a window later, the next dead token sweeps the stale ones out
        clock.fetch_add(window_ms(), Ordering::SeqCst);
        cache.app_of(&store, "r-late", NOW).await.expect("check");
        assert_eq!(cache.read().dead.map.len(), 1);
    }

    #[tokio::test]
    async fn live_tokens_past_the_cap_work_from_the_store() {
        let (store, (cache, _)) = (Fake::default(), cache());
        let app = AppId::generate();
        for i in 0..MAX_LIVE + 10 {
            let d = format!("t{i}");
            cache
                .issue(&store, &app, &d, NOW + 60_000)
                .await
                .expect("issue");
        }
        assert_eq!(cache.read().live.map.len(), MAX_LIVE);
        let last = format!("t{}", MAX_LIVE + 9);
        let got = cache.app_of(&store, &last, NOW).await.expect("check");
        assert_eq!((got, store.reads()), (Some(app), 1));
    }

    #[tokio::test]
    async fn a_read_in_flight_during_a_revocation_here_is_not_remembered() {
        let store = Fake {
            gate: Some(Semaphore::new(0)),
            ..Fake::default()
        };
        let (cache, _) = cache();
        let app = AppId::generate();
        store
            .insert_token(&app, "d", NOW + 60_000)
            .await
            .expect("insert");
        let (raced, ()) = tokio::join!(cache.app_of(&store, "d", NOW), async {
            // the check has read "alive" and is held; revoke, then let it finish
            while store.reads() == 0 {
                tokio::task::yield_now().await;
            }
            assert!(cache.revoke(&store, &app, "d").await.expect("revoke"));
            store.gate.as_ref().expect("gate").add_permits(1);
        });
        assert!(
            raced.expect("check").is_some(),
            "it read before the revocation"
        );
        store.gate.as_ref().expect("gate").add_permits(1);
        assert_eq!(cache.app_of(&store, "d", NOW).await.expect("check"), None);
        assert_eq!(store.reads(), 2);
    }
}
