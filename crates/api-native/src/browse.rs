//! Browsing an app's devices and users a page at a time, by opaque cursors.
//!
//! A page continues after the last item of the one before: devices in ordinal order,
//! users in uid order. Both only grow (a new device gets a higher ordinal than every
//! device before it, a new user a higher uid, and neither is reused), so paging while
//! others write lists every device or user that existed when paging began exactly
//! once; those added meanwhile appear at most once, on a later page, and those deleted
//! meanwhile may be missing.

use axum::extract::{RawQuery, State};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use roster_core::audience::Selector;
use roster_core::user::Uid;
use roster_core::{AudienceQuery, Cid, Error};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::AppAuth;
use crate::devices::DeviceOut;
use crate::error::{ErrorBody, NativeError};
use crate::users::UserOut;
use crate::{NativeState, UNAUTHENTICATED_APP};

/// Items per page unless `limit` says otherwise.
pub const DEFAULT_LIMIT: usize = 100;
/// Most items a page may ask for.
pub const MAX_LIMIT: usize = 1_000;

/// A cursor's text before base64url: what it pages (`d` devices, `u` users), the cursor
/// version, then the last ordinal or uid read. Anything else is refused, so a cursor of
/// another listing or a newer roster is a clean 400.
fn encode(kind: char, last: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{kind}1:{last}"))
}

fn decode(kind: char, cursor: &str) -> Result<i64, NativeError> {
    let text = URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok());
    text.as_deref()
        .and_then(|t| t.strip_prefix(kind))
        .and_then(|t| t.strip_prefix("1:"))
        .and_then(|n| n.parse::<i64>().ok())
        .filter(|n| *n >= 0)
        .ok_or_else(|| Error::invalid("cursor").into())
}

/// A page request.
#[derive(Debug, PartialEq)]
struct PageQuery {
    cursor: Option<String>,
    limit: usize,
    selector: Option<String>,
}

fn parse_query(raw: Option<&str>, selector: bool) -> Result<PageQuery, NativeError> {
    let mut q = PageQuery {
        cursor: None,
        limit: DEFAULT_LIMIT,
        selector: None,
    };
    for (k, v) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        match &*k {
            "cursor" => q.cursor = Some(v.into_owned()),
            "limit" => {
                q.limit = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| Error::invalid("limit"))?;
            }
            "selector" if selector => q.selector = Some(v.into_owned()),
            other => return Err(Error::invalid(format!("query parameter {other}")).into()),
        }
    }
    Ok(q)
}

/// A page of devices.
#[derive(Debug, Serialize, ToSchema)]
pub struct DevicePage {
    /// The devices, in registration (ordinal) order, each as `GET …/devices/{cid}`
    /// shows it.
    pub devices: Vec<DeviceOut>,
    /// Pass as `cursor` for the next page; `null` when this page is the last.
    pub next_cursor: Option<String>,
}

/// A page of users.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserPage {
    /// The users, in uid order, each as `GET …/users/{uid}` shows it.
    pub users: Vec<UserOut>,
    /// Pass as `cursor` for the next page; `null` when this page is the last.
    pub next_cursor: Option<String>,
}

/// The cursor after a page of `got` items of `limit` ending at `last`.
fn next(kind: char, got: usize, limit: usize, last: Option<i64>) -> Option<String> {
    (got == limit)
        .then_some(last)
        .flatten()
        .map(|l| encode(kind, l))
}

/// Lists the app's devices, optionally those a selector matches, a page at a time.
/// Paging while devices are added lists every device that existed when paging began
/// exactly once, and a device added meanwhile at most once.
#[utoipa::path(
    get, path = "/api/v1/apps/{app_id}/devices",
    security(("app" = [])),
    params(
        ("app_id" = String, Path, description = "App id"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page; absent for the first page"),
        ("limit" = Option<usize>, Query, description = "Devices per page, 1–1,000 (default 100)"),
        ("selector" = Option<String>, Query, description = "A selector (schema `Selector`, as in audience counts) as URL-encoded JSON; absent: every device"),
    ),
    responses(
        (status = 200, description = "A page of devices", body = DevicePage),
        (status = 400, description = "`cursor`, `limit` or `selector` malformed, or an unknown query parameter (`invalid_param`)", body = ErrorBody),
        (status = 401, description = UNAUTHENTICATED_APP, body = ErrorBody),
        (status = 404, description = "The selector names a smart crowd the app does not have (`not_found`)", body = ErrorBody),
    )
)]
pub(crate) async fn list_devices(
    State(state): State<NativeState>,
    auth: AppAuth,
    RawQuery(raw): RawQuery,
) -> Result<Json<DevicePage>, NativeError> {
    let q = parse_query(raw.as_deref(), true)?;
    let after = match &q.cursor {
        Some(c) => Some(u32::try_from(decode('d', c)?).map_err(|_| Error::invalid("cursor"))?),
        None => None,
    };
    let selector = match &q.selector {
        Some(s) => serde_json::from_str::<Selector>(s)
            .map_err(|e| NativeError::invalid_query("selector", &e.to_string()))?,
        None => Selector::All(true),
    };
    let query = AudienceQuery {
        selector,
        exclude_blacklisted: false,
        exclude_notification_off: false,
    };
    let page = state
        .store
        .audience_page(&auth.app, &query, after, q.limit)
        .await?;
    let last = page.last().map(|(o, _)| i64::from(*o));
    let next_cursor = next('d', page.len(), q.limit, last);
    let cids: Vec<Cid> = page.into_iter().map(|(_, c)| c).collect();
    // A device deleted between the two reads is left out.
    let devices = state
        .store
        .get_devices(&auth.app, &cids, (state.clock)())
        .await?;
    Ok(Json(DevicePage {
        devices: devices.into_iter().map(DeviceOut::from).collect(),
        next_cursor,
    }))
}

/// Lists the app's users a page at a time, in uid order.
#[utoipa::path(
    get, path = "/api/v1/apps/{app_id}/users",
    security(("app" = [])),
    params(
        ("app_id" = String, Path, description = "App id"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page; absent for the first page"),
        ("limit" = Option<usize>, Query, description = "Users per page, 1–1,000 (default 100)"),
    ),
    responses(
        (status = 200, description = "A page of users", body = UserPage),
        (status = 400, description = "`cursor` or `limit` malformed, or an unknown query parameter (`invalid_param`)", body = ErrorBody),
        (status = 401, description = UNAUTHENTICATED_APP, body = ErrorBody),
    )
)]
pub(crate) async fn list_users(
    State(state): State<NativeState>,
    auth: AppAuth,
    RawQuery(raw): RawQuery,
) -> Result<Json<UserPage>, NativeError> {
    let q = parse_query(raw.as_deref(), false)?;
    let after = match &q.cursor {
        Some(c) => Some(Uid::new(decode('u', c)?)),
        None => None,
    };
    let users = state.store.user_page(&auth.app, after, q.limit).await?;
    let last = users.last().map(|u| u.uid.get());
    Ok(Json(UserPage {
        next_cursor: next('u', users.len(), q.limit, last),
        users: users.into_iter().map(UserOut::from).collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        assert_eq!(decode('d', &encode('d', 41)).ok(), Some(41));
        assert_eq!(decode('u', &encode('u', 7)).ok(), Some(7));
        let user = encode('u', 7);
        let other_version = URL_SAFE_NO_PAD.encode("d2:5");
        let negative = URL_SAFE_NO_PAD.encode("d1:-1");
        for bad in ["", "!!", "abc", user.as_str(), &other_version, &negative] {
            assert!(decode('d', bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn page_queries() {
        let q = parse_query(Some("limit=5&cursor=x&selector=%7B%7D"), true).ok();
        assert_eq!(
            q,
            Some(PageQuery {
                cursor: Some("x".into()),
                limit: 5,
                selector: Some("{}".into()),
            })
        );
        assert_eq!(parse_query(None, false).ok().map(|q| q.limit), Some(100));
        for bad in ["limit=0", "limit=1001", "limit=x", "page=2"] {
            assert!(parse_query(Some(bad), true).is_err(), "{bad}");
        }
        assert!(parse_query(Some("selector=%7B%7D"), false).is_err());
    }
}
