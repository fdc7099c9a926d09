//! The change feed: an app's committed changes as NDJSON, oldest first, resumable by
//! seq, optionally followed live.

use std::time::Duration;

use axum::body::Body as HttpBody;
use axum::extract::{RawQuery, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use roster_core::{AppId, Error};
use roster_store::changes::ChangePage;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::AppAuth;
use crate::error::{ErrorBody, NativeError};
use crate::{NativeState, UNAUTHENTICATED_APP};

/// Lines per page unless `limit` says otherwise.
pub const DEFAULT_LIMIT: usize = 1_000;
/// Most lines a page may ask for.
pub const MAX_LIMIT: usize = 10_000;
/// A followed feed with nothing new sends a heartbeat this often.
pub const HEARTBEAT: Duration = Duration::from_secs(15);
/// A followed feed looks at the log at least this often, even unwoken.
const POLL: Duration = Duration::from_secs(1);

/// One line of the feed (the schema; the fields after `kind` depend on the kind).
///
/// `kind` is one of: `app_created`, `dt_types_set`, `device_inserted`,
/// `device_updated`, `tags_set`, `tag_added`, `tag_removed`, `alias_bound`,
/// `alias_unbound`, `blacklist_set`, `badge_set`, `presence_set`, `logged_in`,
/// `device_opened`, `login_day_recorded`, `device_token_bound`,
/// `device_token_unbound`, `user_created`, `user_deleted`, `identity_set`,
/// `identity_removed`, `user_properties_set`, `contact_set`, `contact_removed`,
/// `binding_set`, `binding_removed`, `ums_channel_created`, `ums_sender_created`,
/// `ums_sender_granted`, `identity_name_created`, `device_deleted`. See `docs/changes.md` for each kind's fields.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"seq": 42, "at": 1764460800000i64, "kind": "tag_added", "cid": "a1b2c3", "ordinal": 7, "tag": "vip"}))]
pub struct ChangeLine {
    /// The seq of the write this change belongs to (one write, one seq).
    pub seq: u64,
    /// Commit time, ms since the epoch.
    pub at: i64,
    /// What changed.
    pub kind: String,
    /// The device changed, for device kinds.
    pub cid: Option<String>,
    /// The user changed, for user kinds.
    pub uid: Option<i64>,
}

/// A heartbeat of a followed feed: the last seq sent so far.
#[derive(Debug, Serialize, ToSchema)]
pub struct Heartbeat {
    /// The last seq sent (the `after` given, when nothing was sent yet).
    pub heartbeat: u64,
}

/// The query of a feed request.
#[derive(Debug, PartialEq, Eq)]
struct FeedQuery {
    after: u64,
    limit: usize,
    follow: bool,
}

fn invalid(param: &str) -> NativeError {
    Error::Invalid(param.into()).into()
}

fn parse_query(raw: Option<&str>) -> Result<FeedQuery, NativeError> {
    let mut q = FeedQuery {
        after: 0,
        limit: DEFAULT_LIMIT,
        follow: false,
    };
    for (k, v) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        match &*k {
            "after" => q.after = v.parse().map_err(|_| invalid("after"))?,
            "limit" => {
                q.limit = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| invalid("limit"))?
            }
            "follow" => {
                q.follow = match &*v {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => return Err(invalid("follow")),
                }
            }
            other => return Err(invalid(&format!("query parameter {other}"))),
        }
    }
    Ok(q)
}

/// Reads the app's change log: NDJSON, one change per line, oldest first. A page holds
/// whole writes (seqs) only, at most `limit` lines unless a single write has more (it
/// is then returned whole); resume with `after` = the last `seq` read. With
/// `follow=true` the response stays open: each new change is sent within 100 ms of its
/// commit, and a `{"heartbeat": <last seq>}` line every 15 s while nothing happens.
#[utoipa::path(
    get, path = "/api/v1/apps/{app_id}/changes",
    security(("app" = [])),
    params(
        ("app_id" = String, Path, description = "App id"),
        ("after" = Option<u64>, Query, description = "Changes with a seq greater than this (default 0)"),
        ("limit" = Option<usize>, Query, description = "Lines per page, 1–10,000 (default 1,000)"),
        ("follow" = Option<bool>, Query, description = "Keep the response open and stream new changes"),
    ),
    responses(
        (status = 200, description = "NDJSON: one change per line (schema `ChangeLine`; with `follow`, also `Heartbeat` lines)", body = ChangeLine, content_type = "application/x-ndjson"),
        (status = 400, description = "`after`, `limit` or `follow` malformed, or an unknown query parameter (`invalid_param`)", body = ErrorBody),
        (status = 401, description = UNAUTHENTICATED_APP, body = ErrorBody),
        (status = 410, description = "Retention has removed changes after `after` (`changes_pruned`); `error.oldest_seq` is the oldest seq still held: read a snapshot, then follow from before it", body = ErrorBody),
    )
)]
pub(crate) async fn changes(
    State(state): State<NativeState>,
    auth: AppAuth,
    RawQuery(raw): RawQuery,
) -> Result<Response, NativeError> {
    let q = parse_query(raw.as_deref())?;
    let page = state.store.changes(&auth.app, q.after, q.limit).await?;
    let (text, last) = match page {
        ChangePage::Gone { oldest } => return Err(NativeError::changes_pruned(q.after, oldest)),
        ChangePage::Lines { text, last, .. } => (text, last),
    };
    let headers = [(CONTENT_TYPE, "application/x-ndjson")];
    if !q.follow {
        return Ok((headers, text).into_response());
    }
    let stream = follow(state, auth.app, q.limit, text, last);
    let mut resp = (headers, HttpBody::from_stream(stream)).into_response();
    // Lines must leave as they are written, not wait in a compressor's buffer.
    resp.extensions_mut().insert(roster_edge::Unbuffered);
    Ok(resp)
}

/// The followed feed: `first`, then each new page as the node applies changes, with a
/// heartbeat when nothing happened for [`HEARTBEAT`]. Ends when the log cannot be read
/// (the client resumes from its last seq).
fn follow(
    state: NativeState,
    app: AppId,
    limit: usize,
    first: String,
    last: u64,
) -> impl futures_util::Stream<Item = Result<String, std::io::Error>> {
    let watch = state.store.watch();
    let start = (
        state,
        app,
        watch,
        last,
        Some(first),
        tokio::time::Instant::now(),
    );
    futures_util::stream::unfold(Some(start), move |cursor| async move {
        let (state, app, mut watch, mut last, pending, mut quiet_since) = cursor?;
        if let Some(text) = pending.filter(|t| !t.is_empty()) {
            return Some((Ok(text), Some((state, app, watch, last, None, quiet_since))));
        }
        loop {
            // Marked seen before the read, so a change applied meanwhile wakes us.
            watch.borrow_and_update();
            match state.store.changes(&app, last, limit).await {
                Ok(ChangePage::Lines { text, last: l, .. }) if !text.is_empty() => {
                    last = l;
                    let now = tokio::time::Instant::now();
                    return Some((Ok(text), Some((state, app, watch, last, None, now))));
                }
                Ok(ChangePage::Lines { .. }) => {}
                Ok(ChangePage::Gone { .. }) => return None,
                Err(e) => {
                    tracing::warn!(error = %e, "change feed ended: the log could not be read");
                    return None;
                }
            }
            let beat = quiet_since + HEARTBEAT;
            tokio::select! {
                r = watch.changed() => if r.is_err() {
                    tokio::time::sleep(POLL).await;
                },
                _ = tokio::time::sleep(POLL) => {}
                _ = tokio::time::sleep_until(beat) => {
                    quiet_since = tokio::time::Instant::now();
                    let line = format!("{{\"heartbeat\":{last}}}\n");
                    return Some((Ok(line), Some((state, app, watch, last, None, quiet_since))));
                }
            }
        }
    })
    .fuse()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_parse_with_defaults_and_bounds() {
        let q = |s: &str| parse_query(Some(s)).map_err(|_| ());
        assert_eq!(
            q(""),
            Ok(FeedQuery {
                after: 0,
                limit: DEFAULT_LIMIT,
                follow: false
            })
        );
        assert_eq!(
            q("after=7&limit=10000&follow=true"),
            Ok(FeedQuery {
                after: 7,
                limit: 10_000,
                follow: true
            })
        );
        for bad in [
            "after=-1",
            "after=x",
            "limit=0",
            "limit=10001",
            "limit=",
            "follow=yes",
            "cursor=3",
        ] {
            assert_eq!(q(bad), Err(()), "{bad}");
        }
    }
}
