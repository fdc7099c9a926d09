//! Copies of the bitmaps a smart-crowd job filters and scores with, so a job never
//! holds an app's lock while it computes.

use std::collections::HashMap;

use roaring::RoaringBitmap;

use crate::{AppIndex, Index};
use roster_core::AppId;

/// The bitmaps of one app a job needs, copied.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    /// Every device.
    pub all: RoaringBitmap,
    /// Blacklisted devices.
    pub blacklisted: RoaringBitmap,
    /// Devices per brand as Getui reports it (`unknown` for none).
    pub brands: HashMap<String, RoaringBitmap>,
    /// Every tag name, sorted, with its devices when the caller wanted them (else empty).
    pub tags: Vec<(String, RoaringBitmap)>,
}

impl AppIndex {
    /// Copies what a job needs; only the tags `wanted` accepts bring their devices.
    pub fn snapshot(&self, wanted: &dyn Fn(&str) -> bool) -> Snapshot {
        let mut tags: Vec<(String, RoaringBitmap)> = self
            .tag_bitmaps()
            .map(|(name, set)| {
                let set = if wanted(name) {
                    set.to_roaring()
                } else {
                    RoaringBitmap::new()
                };
                (name.to_owned(), set)
            })
            .collect();
        tags.sort_by(|a, b| a.0.cmp(&b.0));
        Snapshot {
            all: self.all_devices().to_roaring(),
            blacklisted: self.blacklisted_devices().to_roaring(),
            brands: self
                .brand_bitmaps()
                .map(|(b, set)| (b.to_owned(), set.to_roaring()))
                .collect(),
            tags,
        }
    }
}

impl Index {
    /// A snapshot of `app`'s bitmaps, copied under its read lock; `None` when the index
    /// has no such app. `wanted` runs outside the lock (it may be slow: a job segments
    /// every tag name), on the tag names read first.
    pub fn snapshot(&self, app: &AppId, wanted: &dyn Fn(&str) -> bool) -> Option<Snapshot> {
        let ix = self.existing(app)?;
        let names: Vec<String> = {
            let ix = ix.read().unwrap_or_else(|p| p.into_inner());
            ix.tag_bitmaps().map(|(name, _)| name.to_owned()).collect()
        };
        let keep: std::collections::HashSet<String> =
            names.into_iter().filter(|n| wanted(n)).collect();
        let ix = ix.read().unwrap_or_else(|p| p.into_inner());
        Some(ix.snapshot(&|name| keep.contains(name)))
    }
}
