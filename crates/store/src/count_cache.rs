//! The result cache of audience counts: a bounded, memory-capped cache (quick_cache's
//! S3-FIFO, an LRU-like policy that drops entries read only once first) of counts
//! keyed by the app, the query in a normal form, the seq of the app's log the node's
//! index has applied, and, for a selector naming `login_freq`, the day.
//!
//! What keeps an answer fresh:
//! - every committed write to an app advances its applied seq, so an entry of an older
//!   seq is never read again (it ages out); other apps' entries are untouched;
//! - saved segments are not in the change log: the key holds the selector with its
//!   segments expanded as they are stored now, so a redefined segment is another key;
//! - `login_freq` depends on the day: the CST day is part of the key;
//! - a crowd's membership is written by its job outside the change log: a selector
//!   naming a crowd is never cached;
//! - an app deleted (or rebuilt from the store) loses its entries at once, since its
//!   seq starts again.
//!
//! The cache answers only when the node has an index (its applied seq describes what a
//! count would read) and is off until [`Registry::set_count_cache_bytes`] gives it
//! room; [`Registry::count_uncached`] always evaluates.

use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use quick_cache::sync::Cache;
use quick_cache::{DefaultHashBuilder, Lifecycle, Weighter};
use roster_core::property::Field;
use roster_core::{AppId, AudienceQuery, Selector};

use crate::metric;

/// What one cached count takes beyond its key's text: the key's and value's fixed
/// parts and the cache's own bookkeeping per entry (an estimate).
pub const ENTRY_OVERHEAD_BYTES: u64 = 96;

/// The default room of `roster serve`'s count cache: 4 MiB, some 20,000 counts of
/// typical selectors.
pub const DEFAULT_COUNT_CACHE_BYTES: u64 = 4 * 1024 * 1024;

/// What identifies a count: every input its answer depends on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    app: AppId,
    /// The applied seq of the app when counted.
    seq: u64,
    /// The CST day, for a selector naming `login_freq`.
    day: Option<i64>,
    /// `exclude_blacklisted` and `exclude_notification_off`.
    flags: u8,
    /// The selector's normal form, as JSON.
    selector: Box<str>,
}

impl Key {
    /// The key of `query` (its segments already expanded) counted on `app` at `seq`;
    /// `None` for a query that must not be cached (it names a crowd).
    pub(crate) fn of(app: &AppId, seq: u64, query: &AudienceQuery, day: i64) -> Option<Key> {
        if names(&query.selector, &|s| matches!(s, Selector::Crowd(_))) {
            return None;
        }
        let login_freq =
            |s: &Selector| matches!(s, Selector::Property(p) if p.field == Field::LoginFreq);
        let selector = serde_json::to_string(&normal(&query.selector)).ok()?;
        Some(Key {
            app: app.clone(),
            seq,
            day: names(&query.selector, &login_freq).then_some(day),
            flags: u8::from(query.exclude_blacklisted)
                | (u8::from(query.exclude_notification_off) << 1),
            selector: selector.into_boxed_str(),
        })
    }

    /// Whether a count made under this key still describes the app at `seq` on `day`
    /// (a write or midnight may have come while it was counted).
    pub(crate) fn current(&self, seq: u64, day: i64) -> bool {
        self.seq == seq && self.day.is_none_or(|d| d == day)
    }

    fn bytes(&self) -> u64 {
        (self.selector.len() + self.app.as_str().len()) as u64 + ENTRY_OVERHEAD_BYTES
    }
}

/// Whether `sel` has a leaf `hit` accepts anywhere.
fn names(sel: &Selector, hit: &dyn Fn(&Selector) -> bool) -> bool {
    match sel {
        Selector::And(xs) | Selector::Or(xs) => xs.iter().any(|x| names(x, hit)),
        Selector::Not(x) => names(x, hit),
        leaf => hit(leaf),
    }
}

/// A selector selecting the same devices as `sel`, the same for every spelling of it:
/// nested `and`s (`or`s) flattened into one, their operands sorted and without
/// duplicates, `all` absorbed, one-operand groups and double negations removed, cid
/// lists sorted.
pub fn normal(sel: &Selector) -> Selector {
    match sel {
        Selector::And(xs) => group(xs, true),
        Selector::Or(xs) => group(xs, false),
        Selector::Not(x) => match normal(x) {
            Selector::Not(inner) => *inner,
            Selector::All(b) => Selector::All(!b),
            other => Selector::Not(Box::new(other)),
        },
        Selector::Cid(cids) => {
            let mut cids = cids.clone();
            cids.sort_by(|a, b| a.as_str().cmp(b.as_str()));
            cids.dedup();
            Selector::Cid(cids)
        }
        leaf => leaf.clone(),
    }
}

/// An `and` (`all_of`) or `or` of `xs`, in normal form: `all(all_of)` is its identity
/// operand and `all(!all_of)` decides it.
fn group(xs: &[Selector], all_of: bool) -> Selector {
    let mut flat: Vec<Selector> = Vec::with_capacity(xs.len());
    let mut pending: Vec<Selector> = xs.iter().map(normal).collect();
    while let Some(x) = pending.pop() {
        match x {
            Selector::All(b) if b == all_of => {}
            Selector::All(_) => return Selector::All(!all_of),
            Selector::And(inner) if all_of => pending.extend(inner),
            Selector::Or(inner) if !all_of => pending.extend(inner),
            other => flat.push(other),
        }
    }
    let mut keyed: Vec<(String, Selector)> = flat
        .into_iter()
        .map(|x| (serde_json::to_string(&x).unwrap_or_default(), x))
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    keyed.dedup_by(|a, b| a.0 == b.0);
    let mut operands: Vec<Selector> = keyed.into_iter().map(|(_, x)| x).collect();
    match operands.len() {
        0 => Selector::All(all_of),
        1 => operands.pop().unwrap_or(Selector::All(all_of)),
        _ if all_of => Selector::And(operands),
        _ => Selector::Or(operands),
    }
}

/// What the cache has done since it was last sized.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CountCacheStats {
    /// Counts answered from the cache.
    pub hits: u64,
    /// Cacheable counts that were evaluated (and then kept).
    pub misses: u64,
    /// Entries dropped to make room.
    pub evictions: u64,
    /// Entries held.
    pub entries: u64,
    /// Bytes held, as counted against the room (keys included).
    pub bytes: u64,
    /// The room, bytes (0: off).
    pub capacity: u64,
}

#[derive(Debug, Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
}

#[derive(Clone)]
struct ByBytes;

impl Weighter<Key, u64> for ByBytes {
    fn weight(&self, key: &Key, _: &u64) -> u64 {
        key.bytes()
    }
}

/// Counts the entries the cache drops for room.
#[derive(Clone)]
struct Evictions(Arc<Counters>);

impl Lifecycle<Key, u64> for Evictions {
    type RequestState = ();

    fn on_evict(&self, _: &mut (), _: Key, _: u64) {
        self.0.evictions.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(metric::COUNT_CACHE_EVICTIONS).increment(1);
    }
}

type Lru = Cache<Key, u64, ByBytes, DefaultHashBuilder, Evictions>;

/// A node's count cache (off until sized).
#[derive(Default)]
pub(crate) struct CountCache {
    lru: RwLock<Option<Arc<Lru>>>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for CountCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CountCache")
            .field("stats", &self.stats())
            .finish()
    }
}

impl CountCache {
    fn lru(&self) -> Option<Arc<Lru>> {
        self.lru.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Gives the cache `bytes` of room, emptying it (0 turns it off).
    pub(crate) fn resize(&self, bytes: u64) {
        let lru = (bytes > 0).then(|| {
            // Entries of typical selectors take about 200 bytes.
            let items = usize::try_from(bytes / 200).unwrap_or(usize::MAX).max(1);
            Arc::new(Lru::with(
                items,
                bytes,
                ByBytes,
                DefaultHashBuilder::default(),
                Evictions(self.counters.clone()),
            ))
        });
        *self.lru.write().unwrap_or_else(|p| p.into_inner()) = lru;
        self.gauges();
    }

    /// Whether the cache is on.
    pub(crate) fn on(&self) -> bool {
        self.lru().is_some()
    }

    /// The count kept under `key`, counting a hit or a miss.
    pub(crate) fn get(&self, key: &Key) -> Option<u64> {
        let found = self.lru()?.get(key);
        let (counter, name) = if found.is_some() {
            (&self.counters.hits, metric::COUNT_CACHE_HITS)
        } else {
            (&self.counters.misses, metric::COUNT_CACHE_MISSES)
        };
        counter.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(name).increment(1);
        found
    }

    /// Keeps a count.
    pub(crate) fn insert(&self, key: Key, count: u64) {
        if let Some(lru) = self.lru() {
            lru.insert(key, count);
            self.gauges();
        }
    }

    /// Drops every entry of `app` (deleted, or rebuilt: its seq may start again).
    pub(crate) fn forget_app(&self, app: &AppId) {
        if let Some(lru) = self.lru() {
            lru.retain(|k, _| &k.app != app);
            self.gauges();
        }
    }

    pub(crate) fn stats(&self) -> CountCacheStats {
        let lru = self.lru();
        CountCacheStats {
            hits: self.counters.hits.load(Ordering::Relaxed),
            misses: self.counters.misses.load(Ordering::Relaxed),
            evictions: self.counters.evictions.load(Ordering::Relaxed),
            entries: lru.as_ref().map_or(0, |l| l.len() as u64),
            bytes: lru.as_ref().map_or(0, |l| l.weight()),
            capacity: lru.as_ref().map_or(0, |l| l.capacity()),
        }
    }

    fn gauges(&self) {
        let s = self.stats();
        metrics::gauge!(metric::COUNT_CACHE_ENTRIES).set(s.entries as f64);
        metrics::gauge!(metric::COUNT_CACHE_BYTES).set(s.bytes as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use roster_core::{Cid, PhoneType, TagName};

    fn tag(t: &str) -> Selector {
        Selector::Tag(TagName::parse(t).expect("tag"))
    }

    fn json(sel: &Selector) -> String {
        serde_json::to_string(&normal(sel)).expect("json")
    }

    #[test]
    fn spellings_of_one_selector_share_a_form() {
        let android = Selector::PhoneType(PhoneType::Android);
        let a = Selector::And(vec![
            android.clone(),
            Selector::Or(vec![tag("x"), tag("y"), tag("x")]),
        ]);
        let b = Selector::And(vec![
            Selector::And(vec![Selector::Or(vec![
                tag("y"),
                Selector::Or(vec![tag("x")]),
                Selector::All(false),
            ])]),
            Selector::Not(Box::new(Selector::Not(Box::new(android.clone())))),
            Selector::All(true),
        ]);
        assert_eq!(json(&a), json(&b));
        assert_ne!(
            json(&a),
            json(&Selector::Or(vec![android.clone(), tag("x"), tag("y")]))
        );
        assert_eq!(json(&Selector::And(vec![])), json(&Selector::All(true)));
        assert_eq!(json(&Selector::Or(vec![])), json(&Selector::All(false)));
        assert_eq!(
            json(&Selector::Or(vec![tag("x"), Selector::All(true)])),
            json(&Selector::All(true))
        );
        let cids =
            |v: &[&str]| Selector::Cid(v.iter().map(|c| Cid::parse(*c).expect("cid")).collect());
        assert_eq!(json(&cids(&["b", "a", "b"])), json(&cids(&["a", "b"])));
    }

    #[test]
    fn keys_hold_flags_and_day_only_where_they_matter() {
        let app = AppId::parse("a1").expect("app");
        let q = |selector: Selector, bl: bool| AudienceQuery {
            selector,
            exclude_blacklisted: bl,
            exclude_notification_off: false,
        };
        let plain = q(tag("x"), false);
        assert_ne!(
            Key::of(&app, 1, &plain, 5),
            Key::of(&app, 1, &q(tag("x"), true), 5)
        );
        assert_ne!(Key::of(&app, 1, &plain, 5), Key::of(&app, 2, &plain, 5));
        assert_eq!(Key::of(&app, 1, &plain, 5), Key::of(&app, 1, &plain, 6));
        let freq: Selector =
            serde_json::from_str(r#"{"property":{"name":"login_freq","op":"gte","value":3}}"#)
                .expect("selector");
        let freq = q(Selector::And(vec![tag("x"), freq]), false);
        assert_ne!(Key::of(&app, 1, &freq, 5), Key::of(&app, 1, &freq, 6));
        let crowd = q(
            Selector::Or(vec![tag("x"), Selector::Crowd("t1".into())]),
            false,
        );
        assert_eq!(Key::of(&app, 1, &crowd, 5), None);
    }
}
