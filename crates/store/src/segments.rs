//! Saved segments: named selectors kept in the `segments` table and expanded into the
//! selectors that name them when a count or listing runs (`roster_core::segment`).
//! Segments are query definitions, not registry state: their writes do not go in the
//! change log and the audience index does not follow them; a count reads them afresh.

use std::collections::HashMap;

use async_trait::async_trait;
use roster_core::segment::{self, SegmentName};
use roster_core::{AppId, Error, Selector};

use crate::engine;
use crate::registry::{Backend, Registry};
use crate::value::{Row, RowExt};
use crate::{StoreError, StoreResult};

/// A saved segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentRecord {
    /// Its name, unique in the app.
    pub name: SegmentName,
    /// What it selects (may name other segments).
    pub selector: Selector,
    /// When it was created, ms.
    pub created_at: i64,
    /// When its selector was last set, ms.
    pub updated_at: i64,
}

/// Saved segments of an app.
#[async_trait]
pub trait SegmentStore: Send + Sync {
    /// Saves a new segment. A taken name: [`Error::AlreadyExists`]; a selector naming a
    /// missing segment: [`Error::NotFound`]; a cycle: [`Error::Invalid`]; nesting too
    /// deep or too many segments: [`Error::SizeOverLimit`].
    async fn create_segment(
        &self,
        app: &AppId,
        name: &SegmentName,
        selector: &Selector,
        now: i64,
    ) -> StoreResult<SegmentRecord>;
    /// Replaces a segment's selector (the same refusals; no such segment: `None`).
    async fn replace_segment(
        &self,
        app: &AppId,
        name: &SegmentName,
        selector: &Selector,
        now: i64,
    ) -> StoreResult<Option<SegmentRecord>>;
    /// Every segment of the app, by name.
    async fn segments(&self, app: &AppId) -> StoreResult<Vec<SegmentRecord>>;
    /// One segment.
    async fn segment(&self, app: &AppId, name: &SegmentName) -> StoreResult<Option<SegmentRecord>>;
    /// Deletes a segment; whether it existed. Segments naming it then answer not found
    /// when counted, until they are changed.
    async fn delete_segment(&self, app: &AppId, name: &SegmentName) -> StoreResult<bool>;
}

fn records(rows: &[Row]) -> StoreResult<Vec<SegmentRecord>> {
    rows.iter()
        .map(|r| {
            let bad = |_| StoreError::Backend("unreadable segment in a stored row".into());
            Ok(SegmentRecord {
                name: SegmentName::parse(r.text(0)?).map_err(bad)?,
                selector: serde_json::from_str(&r.text(1)?)
                    .map_err(|_| StoreError::Backend("unreadable segment selector".into()))?,
                created_at: r.int(2)?,
                updated_at: r.int(3)?,
            })
        })
        .collect()
}

fn by_name(all: &[SegmentRecord]) -> HashMap<String, Selector> {
    all.iter()
        .map(|s| (s.name.as_str().to_owned(), s.selector.clone()))
        .collect()
}

fn json(sel: &Selector) -> StoreResult<String> {
    serde_json::to_string(sel).map_err(|e| StoreError::Backend(e.to_string()))
}

impl<B: Backend> Registry<B> {
    async fn all_segments(&self, app: &AppId) -> StoreResult<Vec<SegmentRecord>> {
        let mut rows = self.backend().query(vec![engine::segments_of(app)]).await?;
        records(&rows.pop().unwrap_or_default())
    }

    /// `sel` with its segment leaves replaced by the segments' selectors as stored now.
    pub(crate) async fn expand_segments(
        &self,
        app: &AppId,
        sel: &Selector,
    ) -> StoreResult<Option<Selector>> {
        if !segment::names_segment(sel) {
            return Ok(None);
        }
        let saved = by_name(&self.all_segments(app).await?);
        Ok(Some(segment::expand(sel, &saved)?))
    }

    async fn checked(
        &self,
        app: &AppId,
        name: &SegmentName,
        selector: &Selector,
        new: bool,
    ) -> StoreResult<String> {
        let all = self.all_segments(app).await?;
        if new && all.len() >= segment::PER_APP_MAX {
            return Err(Error::SizeOverLimit("segments of the app".into()).into());
        }
        segment::check(name, selector, &by_name(&all))?;
        json(selector)
    }
}

#[async_trait]
impl<B: Backend> SegmentStore for Registry<B> {
    async fn create_segment(
        &self,
        app: &AppId,
        name: &SegmentName,
        selector: &Selector,
        now: i64,
    ) -> StoreResult<SegmentRecord> {
        let body = self.checked(app, name, selector, true).await?;
        let changed = self
            .backend()
            .execute(vec![engine::insert_segment(app, name.as_str(), &body, now)])
            .await?;
        if changed.first().copied().unwrap_or(0) == 0 {
            return Err(Error::AlreadyExists(format!("segment {name}")).into());
        }
        Ok(SegmentRecord {
            name: name.clone(),
            selector: selector.clone(),
            created_at: now,
            updated_at: now,
        })
    }

    async fn replace_segment(
        &self,
        app: &AppId,
        name: &SegmentName,
        selector: &Selector,
        now: i64,
    ) -> StoreResult<Option<SegmentRecord>> {
        let Some(before) = self.segment(app, name).await? else {
            return Ok(None);
        };
        let body = self.checked(app, name, selector, false).await?;
        let changed = self
            .backend()
            .execute(vec![engine::update_segment(app, name.as_str(), &body, now)])
            .await?;
        if changed.first().copied().unwrap_or(0) == 0 {
            return Ok(None);
        }
        Ok(Some(SegmentRecord {
            selector: selector.clone(),
            updated_at: now,
            ..before
        }))
    }

    async fn segments(&self, app: &AppId) -> StoreResult<Vec<SegmentRecord>> {
        self.all_segments(app).await
    }

    async fn segment(&self, app: &AppId, name: &SegmentName) -> StoreResult<Option<SegmentRecord>> {
        Ok(self
            .all_segments(app)
            .await?
            .into_iter()
            .find(|s| &s.name == name))
    }

    async fn delete_segment(&self, app: &AppId, name: &SegmentName) -> StoreResult<bool> {
        let changed = self
            .backend()
            .execute(vec![engine::delete_segment(app, name.as_str())])
            .await?;
        Ok(changed.first().copied().unwrap_or(0) > 0)
    }
}
