//! The in-memory audience index: one [`AppIndex`] of roaring bitmaps per app. It is
//! built once from the store, then follows the mutations of every committed plan, in
//! commit order ([`Index::apply`]); it never reads the store again. Counts take only
//! their app's read lock, so counts on different apps, and counts during writes, run
//! in parallel; a write holds its app's write lock only while it flips bits.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use roaring::RoaringBitmap;
use roster_core::rules::Mutation;
use roster_core::{AppId, AudienceQuery};

mod bitmaps;
mod bits;
mod column;
mod eval;
mod props;
mod snapshot;

pub use bitmaps::{AppIndex, Node};
pub use bits::Bits;
pub use snapshot::Snapshot;

/// Every app's bitmaps.
#[derive(Debug, Default)]
pub struct Index {
    apps: RwLock<HashMap<AppId, Arc<RwLock<AppIndex>>>>,
}

/// One app's share of the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppStats {
    /// The app.
    pub app: AppId,
    /// Devices indexed.
    pub devices: u64,
    /// Approximate heap bytes of its bitmaps.
    pub heap_bytes: usize,
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

impl Index {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    fn existing(&self, app: &AppId) -> Option<Arc<RwLock<AppIndex>>> {
        self.apps
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(app)
            .cloned()
    }

    fn app(&self, app: &AppId) -> Arc<RwLock<AppIndex>> {
        if let Some(ix) = self.existing(app) {
            return ix;
        }
        let mut apps = self.apps.write().unwrap_or_else(|p| p.into_inner());
        apps.entry(app.clone()).or_default().clone()
    }

    /// Installs an app's bitmaps built from the store.
    pub fn insert(&self, app: AppId, mut index: AppIndex) {
        index.shrink_to_fit();
        self.apps
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(app, Arc::new(RwLock::new(index)));
    }

    /// Drops a deleted app's bitmaps.
    pub fn remove(&self, app: &AppId) {
        self.apps
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(app);
    }

    /// Follows the mutations of one committed plan of `app`.
    pub fn apply(&self, app: &AppId, mutations: &[Mutation]) {
        if !mutations.iter().any(|m| m.device().is_some()) {
            return;
        }
        let ix = self.app(app);
        let mut ix = ix.write().unwrap_or_else(|p| p.into_inner());
        for m in mutations {
            ix.apply(m);
        }
    }

    /// How many devices of `app` match.
    pub fn count(&self, app: &AppId, node: &Node, q: &AudienceQuery) -> u64 {
        let ix = self.app(app);
        let ix = ix.read().unwrap_or_else(|p| p.into_inner());
        ix.count(node, q)
    }

    /// The floor of a count (see [`AppIndex::floor`]): bytes read and a checksum.
    pub fn floor(&self, app: &AppId, node: &Node, q: &AudienceQuery) -> (usize, u64) {
        let ix = self.app(app);
        let ix = ix.read().unwrap_or_else(|p| p.into_inner());
        ix.floor(node, q)
    }

    /// The ordinals of the devices of `app` that match.
    pub fn members(&self, app: &AppId, node: &Node, q: &AudienceQuery) -> RoaringBitmap {
        let ix = self.app(app);
        let ix = ix.read().unwrap_or_else(|p| p.into_inner());
        ix.members(node, q)
    }

    /// Heap bytes of the whole index, approximately.
    pub fn heap_bytes(&self) -> usize {
        let apps = self.apps.read().unwrap_or_else(|p| p.into_inner());
        apps.values()
            .map(|ix| ix.read().unwrap_or_else(|p| p.into_inner()).heap_bytes())
            .sum()
    }

    /// Every app's devices and heap bytes, each app read under its own read lock.
    pub fn app_stats(&self) -> Vec<AppStats> {
        let apps: Vec<(AppId, Arc<RwLock<AppIndex>>)> = self
            .apps
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(id, ix)| (id.clone(), ix.clone()))
            .collect();
        apps.into_iter()
            .map(|(app, ix)| {
                let ix = ix.read().unwrap_or_else(|p| p.into_inner());
                AppStats {
                    app,
                    devices: ix.len(),
                    heap_bytes: ix.heap_bytes(),
                }
            })
            .collect()
    }

    /// Devices in the whole index.
    pub fn devices(&self) -> u64 {
        let apps = self.apps.read().unwrap_or_else(|p| p.into_inner());
        apps.values()
            .map(|ix| ix.read().unwrap_or_else(|p| p.into_inner()).len())
            .sum()
    }
}

/// A seeded xorshift stream for the unit tests' random data.
#[cfg(test)]
pub(crate) fn xorshift(seed: u64) -> impl FnMut() -> u64 {
    let mut state = seed;
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use roster_core::{DeviceFacts, PhoneType};

    fn facts() -> DeviceFacts<'static> {
        DeviceFacts::bare("c", PhoneType::Android, "hw")
    }

    #[test]
    fn app_stats_give_each_apps_devices_and_bytes() {
        let index = Index::new();
        let (big, small) = (AppId::generate(), AppId::generate());
        let mut ix = AppIndex::default();
        for ord in 0..1_000 {
            ix.add_device(ord, &facts());
        }
        index.insert(big.clone(), ix);
        let mut ix = AppIndex::default();
        ix.add_device(0, &facts());
        index.insert(small.clone(), ix);
        let mut stats = index.app_stats();
        stats.sort_by_key(|s| std::cmp::Reverse(s.devices));
        assert_eq!(stats.len(), 2);
        assert_eq!((&stats[0].app, stats[0].devices), (&big, 1_000));
        assert_eq!((&stats[1].app, stats[1].devices), (&small, 1));
        assert!(stats[0].heap_bytes > stats[1].heap_bytes);
        assert_eq!(
            stats.iter().map(|s| s.heap_bytes).sum::<usize>(),
            index.heap_bytes()
        );
    }
}
