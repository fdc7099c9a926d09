//! Rate limits and quotas (issue 13) over HTTP, on the embedded store: every limited
//! action hit exactly (the N-th call passes, the N+1-th is refused with the dialect's
//! status, code and headers), the `X-RateLimit-*` headers, sliding windows, what counts,
//! the calendar day of the app's time zone, persistence across restarts, the admin API
//! and the `roster limits` CLI. Two nodes on PostgreSQL: `quota_nodes.rs`.
//!
//! Tests that depend on windows shorter than a day freeze the server's clock, so that
//! real time passing during a slow run cannot free a window.

use std::future::Future;
use std::ops::RangeInclusive;
use std::path::Path;
use std::process::Output;

use futures_util::future::join_all;
use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder};
use roster_testkit::{s, sign, As, Creds, RosterProcess, TestServer};
use serde_json::{json, Value};

use roster_testkit::LIMIT_ACTIONS as ACTIONS;

const DAY_MS: i64 = 86_400_000;
/// Asia/Shanghai: UTC+8 all year.
pub(crate) const SHANGHAI_OFFSET_S: i64 = 8 * 3600;

// ---------------------------------------------------------------------------------
// Replies with headers
// ---------------------------------------------------------------------------------

/// A reply: status, JSON body (`null` when empty) and headers.
#[derive(Debug)]
pub(crate) struct Hit {
    pub(crate) status: u16,
    pub(crate) body: Value,
    pub(crate) headers: HeaderMap,
}

impl Hit {
    /// Sends `req`, with `body` as JSON when there is one.
    pub(crate) async fn send(req: RequestBuilder, body: Option<&Value>) -> Hit {
        let req = match body {
            Some(b) => req.json(b),
            None => req,
        };
        let r = req.send().await.expect("send");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .unwrap_or_else(|_| panic!("reply is not JSON ({status}): {text}"))
        };
        Hit {
            status,
            body,
            headers,
        }
    }

    /// The numeric `code` of the body (Getui, Growth, EngageLab); -1 without one.
    pub(crate) fn code(&self) -> i64 {
        self.body["code"].as_i64().unwrap_or(-1)
    }

    /// Asserts a Getui success (200, code 0) and returns `data`.
    #[track_caller]
    pub(crate) fn ok(&self) -> &Value {
        assert_eq!((self.status, self.code()), (200, 0), "{}", self.body);
        &self.body["data"]
    }

    /// Asserts a Getui parameter error (400, 20001) with this message.
    #[track_caller]
    pub(crate) fn param_error(&self, msg: &str) {
        assert_eq!(
            (self.status, self.code(), self.body["msg"].as_str()),
            (400, 20001, Some(msg)),
            "{}",
            self.body
        );
    }

    /// A header's text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("ASCII header"))
    }

    /// A header as a whole number (panics when present but not one).
    #[track_caller]
    pub(crate) fn num(&self, name: &str) -> Option<i64> {
        self.header(name).map(|v| {
            v.trim()
                .parse()
                .unwrap_or_else(|_| panic!("{name}: {v:?} is not a whole number"))
        })
    }

    /// `(X-RateLimit-Limit, X-RateLimit-Remaining)`.
    pub(crate) fn window(&self) -> (Option<i64>, Option<i64>) {
        (
            self.num("x-ratelimit-limit"),
            self.num("x-ratelimit-remaining"),
        )
    }
}

/// Asserts the `X-RateLimit-*` headers: `limit`, `remaining` after this call, and a
/// reset of 1 to `reset_max` seconds.
#[track_caller]
pub(crate) fn assert_window(h: &Hit, limit: i64, remaining: i64, reset_max: i64) {
    assert_eq!(
        h.window(),
        (Some(limit), Some(remaining)),
        "X-RateLimit-Limit / -Remaining of {} {}",
        h.status,
        h.body
    );
    let reset = h.num("x-ratelimit-reset").expect("X-RateLimit-Reset");
    assert!(
        (1..=reset_max).contains(&reset),
        "X-RateLimit-Reset {reset} not in 1..={reset_max} ({})",
        h.body
    );
}

/// Asserts that Jiguang's own spelling `X-Rate-Limit-*` is present and says what
/// `X-RateLimit-*` says.
#[track_caller]
pub(crate) fn assert_jiguang_spelling(h: &Hit) {
    for part in ["limit", "remaining", "reset"] {
        let ours = h.header(&format!("x-ratelimit-{part}"));
        let theirs = h.header(&format!("x-rate-limit-{part}"));
        assert!(theirs.is_some(), "no X-Rate-Limit-{part} ({})", h.body);
        assert_eq!(theirs, ours, "X-Rate-Limit-{part} vs X-RateLimit-{part}");
    }
}

/// Asserts a reply without any rate-limit header (an action whose windows are all off).
#[track_caller]
pub(crate) fn assert_no_window(h: &Hit) {
    for name in [
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "x-rate-limit-limit",
        "x-rate-limit-remaining",
        "x-rate-limit-reset",
        "retry-after",
    ] {
        assert!(
            h.header(name).is_none(),
            "{name}: {:?} on an unlimited action ({} {})",
            h.header(name),
            h.status,
            h.body
        );
    }
}

/// Asserts a refusal: `status` and numeric `code`, `X-RateLimit-Limit: limit`,
/// `X-RateLimit-Remaining: 0`, a reset of 1 to `reset_max` seconds, and `Retry-After`
/// within `retry`.
#[track_caller]
pub(crate) fn assert_refused(
    h: &Hit,
    status: u16,
    code: i64,
    limit: i64,
    reset_max: i64,
    retry: RangeInclusive<i64>,
) {
    assert_eq!((h.status, h.code()), (status, code), "{}", h.body);
    assert_window(h, limit, 0, reset_max);
    let after = h.num("retry-after").expect("Retry-After on a refusal");
    assert!(
        retry.contains(&after),
        "Retry-After {after} not in {retry:?} ({})",
        h.body
    );
}

/// `n` calls made by `call(i)`, at most 50 in flight at once; the replies in order.
pub(crate) async fn many<F, Fut>(n: usize, call: F) -> Vec<Hit>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Hit>,
{
    let mut out = Vec::with_capacity(n);
    let mut start = 0;
    while start < n {
        let end = (start + 50).min(n);
        out.extend(join_all((start..end).map(&call)).await);
        start = end;
    }
    out
}

// ---------------------------------------------------------------------------------
// Time
// ---------------------------------------------------------------------------------

/// Milliseconds from `now_ms` to the next local midnight, at a fixed UTC offset.
fn ms_to_midnight(now_ms: i64, offset_s: i64) -> i64 {
    DAY_MS - (now_ms + offset_s * 1000).rem_euclid(DAY_MS)
}

/// Whole seconds from `now_ms` to the next Asia/Shanghai midnight.
pub(crate) fn secs_to_shanghai_midnight(now_ms: i64) -> i64 {
    ms_to_midnight(now_ms, SHANGHAI_OFFSET_S) / 1000
}

/// Europe/London's UTC offset at `now_ms`, from the time zone database.
fn london_offset_s(now_ms: i64) -> i64 {
    use chrono::Offset;
    let t = chrono::DateTime::from_timestamp_millis(now_ms).expect("a time");
    i64::from(
        t.with_timezone(&chrono_tz::Europe::London)
            .offset()
            .fix()
            .local_minus_utc(),
    )
}

/// `Retry-After` of a daily refusal at `now_ms` for a day in a zone of this offset:
/// the seconds to the next local midnight, give or take 2 for rounding.
pub(crate) fn until_midnight(now_ms: i64, offset_s: i64) -> RangeInclusive<i64> {
    let secs = ms_to_midnight(now_ms, offset_s) / 1000;
    (secs - 2).max(1)..=(secs + 2).min(86_400)
}

#[test]
fn time_helpers() {
    // 2024-06-30T16:00:00Z is midnight in Shanghai
    let midnight = 1_719_763_200_000;
    assert_eq!(secs_to_shanghai_midnight(midnight - 60_000), 60);
    assert_eq!(secs_to_shanghai_midnight(midnight), 86_400);
    // British Summer Time in June, GMT in January
    assert_eq!(london_offset_s(midnight), 3600);
    assert_eq!(london_offset_s(1_736_899_200_000), 0);
}

// ---------------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------------

/// A Getui client that keeps every reply's headers.
#[derive(Clone)]
pub(crate) struct Gt {
    http: reqwest::Client,
    /// `{base}/v2/{appId}`.
    pub(crate) base: String,
    pub(crate) token: String,
}

impl Gt {
    /// A request with the token.
    pub(crate) fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .header("token", &self.token)
    }

    /// Any call, with a JSON body when there is one.
    pub(crate) async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Hit {
        Hit::send(self.request(method, path), body).await
    }

    pub(crate) async fn get(&self, path: &str) -> Hit {
        self.call(Method::GET, path, None).await
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> Hit {
        self.call(Method::POST, path, Some(&body)).await
    }

    pub(crate) async fn put(&self, path: &str, body: Value) -> Hit {
        self.call(Method::PUT, path, Some(&body)).await
    }

    pub(crate) async fn delete(&self, path: &str, body: Value) -> Hit {
        self.call(Method::DELETE, path, Some(&body)).await
    }

    /// A cid's custom tags, as `GET /user/custom_tag/cid/{cid}` shows them.
    pub(crate) async fn tags(&self, cid: &str) -> Value {
        self.get(&format!("/user/custom_tag/cid/{cid}")).await.ok()[cid].clone()
    }
}

/// `POST /v2/{appId}/auth` on `base`, signed with the timestamp `now_ms`.
pub(crate) async fn auth_at(http: &reqwest::Client, base: &str, app: &Value, now_ms: i64) -> Hit {
    let ts = now_ms.to_string();
    let body =
        json!({ "sign": sign(app, &ts), "timestamp": ts, "appkey": app["getui"]["app_key"] });
    let req = http.post(format!("{base}/v2/{}/auth", s(&app["app_id"])));
    Hit::send(req, Some(&body)).await
}

/// A Getui client for `app` on `base`, authenticated with the timestamp `now_ms`.
pub(crate) async fn connect_at(http: &reqwest::Client, base: &str, app: &Value, now_ms: i64) -> Gt {
    let h = auth_at(http, base, app, now_ms).await;
    Gt {
        http: http.clone(),
        base: format!("{base}/v2/{}", s(&app["app_id"])),
        token: s(&h.ok()["token"]).to_owned(),
    }
}

/// `POST /auth` on a test server, with a timestamp of the server's clock.
async fn auth(srv: &TestServer, app: &Value) -> Hit {
    auth_at(&srv.http, &srv.base, app, srv.now_ms()).await
}

/// A Getui client authenticated at the server's clock (a token that lives 24 h of it).
async fn connect(srv: &TestServer, app: &Value) -> Gt {
    connect_at(&srv.http, &srv.base, app, srv.now_ms()).await
}

/// Growth `user/register` of one `user_id`.
async fn growth(srv: &TestServer, app: &Value, value: &str) -> Hit {
    let req = srv.request(
        Method::POST,
        "/smartop/api/v1/user/register",
        As::App(app, Creds::GROWTH),
    );
    let body = json!({ "identityName": "user_id", "identityValues": [value] });
    Hit::send(req, Some(&body)).await
}

/// EngageLab `user/profile` of one EUID.
async fn profile(srv: &TestServer, app: &Value) -> Hit {
    let req = srv.request(
        Method::POST,
        "/v1/user/profile",
        As::App(app, Creds::ENGAGELAB),
    );
    Hit::send(req, Some(&json!({ "euid": [1] }))).await
}

/// A native `GET /devices/{cid}`.
async fn native_device(srv: &TestServer, app: &Value, cid: &str) -> Hit {
    Hit::send(
        srv.native(app)
            .request(Method::GET, &format!("/devices/{cid}")),
        None,
    )
    .await
}

fn batch(tag: &str) -> String {
    format!("/user/custom_tag/batch/{tag}")
}

fn overwrite(cid: &str) -> String {
    format!("/user/custom_tag/cid/{cid}")
}

/// A server with a frozen clock, an app with `n` devices, and a Getui client.
async fn frozen_app(n: usize) -> (TestServer, Value, Gt, Vec<String>) {
    let srv = TestServer::start().await;
    srv.freeze_clock();
    let app = srv.create_app().await;
    let devices: Vec<Value> = (0..n).map(|_| json!({ "phone_type": "android" })).collect();
    let cids = srv.register(&app, Value::Array(devices)).await;
    let g = connect(&srv, &app).await;
    (srv, app, g, cids)
}

// ---------------------------------------------------------------------------------
// Admin API
// ---------------------------------------------------------------------------------

pub(crate) fn limits_path(app: &Value) -> String {
    format!("/admin/v1/apps/{}/limits", s(&app["app_id"]))
}

/// `GET /admin/v1/apps/{app_id}/limits` on `base` (asserts 200).
pub(crate) async fn limits_at(http: &reqwest::Client, base: &str, app: &Value) -> Value {
    let req = roster_testkit::request(http, base, Method::GET, &limits_path(app), As::Admin);
    let (st, body) = roster_testkit::send(req, None).await;
    assert_eq!(st, 200, "{body}");
    body
}

/// `PUT /admin/v1/apps/{app_id}/limits/{action}` on `base` (asserts 200); the entry.
pub(crate) async fn set_limit_at(
    http: &reqwest::Client,
    base: &str,
    app: &Value,
    action: &str,
    windows: Value,
) -> Value {
    let path = format!("{}/{action}", limits_path(app));
    let req = roster_testkit::request(http, base, Method::PUT, &path, As::Admin);
    let (st, body) = roster_testkit::send(req, Some(&windows)).await;
    assert_eq!(st, 200, "PUT {action} {windows}: {body}");
    assert_eq!(body["action"], action, "{body}");
    body
}

async fn limits(srv: &TestServer, app: &Value) -> Value {
    limits_at(&srv.http, &srv.base, app).await
}

async fn set_limit(srv: &TestServer, app: &Value, action: &str, windows: Value) -> Value {
    set_limit_at(&srv.http, &srv.base, app, action, windows).await
}

/// One action's entry of a `GET …/limits` body.
pub(crate) fn entry<'a>(all: &'a Value, action: &str) -> &'a Value {
    all["limits"]
        .as_array()
        .and_then(|l| l.iter().find(|e| e["action"] == action))
        .unwrap_or_else(|| panic!("no {action} in {all}"))
}

/// The four window fields, in the admin API's form.
fn windows(ps: Option<i64>, pm: Option<i64>, pd: Option<i64>, pc: Option<i64>) -> Value {
    json!({ "per_second": ps, "per_minute": pm, "per_day": pd, "per_cid_per_day": pc })
}

/// The vendor's windows of each action, in order.
fn vendor_defaults() -> Vec<(&'static str, Value)> {
    vec![
        ("getui_auth", windows(None, Some(100), Some(100_000), None)),
        ("getui_tag_overwrite", windows(None, None, None, Some(1))),
        (
            "getui_tag_batch",
            windows(None, Some(100), Some(10_000), None),
        ),
        ("getui_bind_dt", windows(None, Some(1000), None, None)),
        ("getui_call", windows(None, None, None, None)),
        ("growth_register", windows(Some(100), None, None, None)),
        ("engagelab_profile", windows(None, Some(1000), None, None)),
        ("native_request", windows(None, None, None, None)),
    ]
}

/// An entry: the action, its windows, the vendor's, and `used`.
fn expected_entry(action: &str, current: &Value, used: Value) -> Value {
    let default = vendor_defaults()
        .into_iter()
        .find(|(a, _)| *a == action)
        .map(|(_, w)| w)
        .expect("known action");
    let mut e = json!({ "action": action });
    for (k, v) in current.as_object().expect("windows") {
        e[k] = v.clone();
    }
    e["default"] = default;
    e["used"] = used;
    e
}

/// `used` of an untouched action: 0 for every window that is on, null for the others;
/// `per_node` false leaves the second and minute null (what the CLI shows).
fn untouched(w: &Value, per_node: bool) -> Value {
    let count = |on: bool| if on { json!(0) } else { Value::Null };
    json!({
        "second": count(per_node && !w["per_second"].is_null()),
        "minute": count(per_node && !w["per_minute"].is_null()),
        "day": count(!w["per_day"].is_null() || !w["per_cid_per_day"].is_null()),
    })
}

/// The whole `GET …/limits` body of an app nothing has used yet.
fn fresh_limits(time_zone: &str, per_node: bool) -> Value {
    let limits: Vec<Value> = vendor_defaults()
        .into_iter()
        .map(|(action, w)| expected_entry(action, &w, untouched(&w, per_node)))
        .collect();
    json!({ "time_zone": time_zone, "limits": limits })
}

// ---------------------------------------------------------------------------------
// 1. Each limit, hit exactly
// ---------------------------------------------------------------------------------

/// Getui `/auth`: 100 a minute (the vendor's value); the 101st is 401/10003 and issues
/// no token; Remaining steps down 99, 98, … 0; a minute later auth works again while
/// the day keeps counting.
#[tokio::test]
async fn auth_minute_limit_at_the_vendor_value() {
    let srv = TestServer::start().await;
    srv.freeze_clock();
    let app = srv.create_app().await;
    let start = srv.now_ms();
    for i in 0..100 {
        let h = auth(&srv, &app).await;
        assert!(h.ok()["token"].is_string(), "{}", h.body);
        assert_window(&h, 100, 99 - i, 60);
    }
    let h = auth(&srv, &app).await;
    assert_refused(&h, 401, 10003, 100, 60, 1..=60);
    assert!(
        h.body["data"]["token"].is_null(),
        "a refusal issues no token: {}",
        h.body
    );
    let all = limits(&srv, &app).await;
    assert_eq!(
        entry(&all, "getui_auth")["used"],
        json!({ "second": null, "minute": 100, "day": 100 }),
        "a refused auth is not counted"
    );
    srv.advance_clock(60_000);
    let h = auth(&srv, &app).await;
    h.ok();
    assert_window(&h, 100, 99, 60);
    let same_day = roster_core::time::cst_day(start) == roster_core::time::cst_day(srv.now_ms());
    let all = limits(&srv, &app).await;
    assert_eq!(
        entry(&all, "getui_auth")["used"],
        json!({ "second": null, "minute": 1, "day": if same_day { 101 } else { 1 } })
    );
}

/// Getui `/auth` with two windows: the headers describe the one nearer exhaustion
/// (the minute's 100 before the day's 100,000; the day's once it is lowered to 2), and
/// a refusal by the day's quota waits for Shanghai's midnight.
#[tokio::test]
async fn auth_headers_follow_the_window_nearest_exhaustion() {
    let srv = TestServer::start().await;
    srv.freeze_clock();
    let app = srv.create_app().await;
    let h = auth(&srv, &app).await;
    h.ok();
    assert_window(&h, 100, 99, 60);
    let e = set_limit(&srv, &app, "getui_auth", json!({ "per_day": 2 })).await;
    assert_eq!(
        e,
        expected_entry(
            "getui_auth",
            &windows(None, Some(100), Some(2), None),
            json!({ "second": null, "minute": 1, "day": 1 })
        )
    );
    let h = auth(&srv, &app).await;
    h.ok();
    assert_window(&h, 2, 0, 86_400);
    let h = auth(&srv, &app).await;
    let retry = until_midnight(srv.now_ms(), SHANGHAI_OFFSET_S);
    assert_refused(&h, 401, 10003, 2, 86_400, retry);
    // back to the vendor's values: the minute is the nearer window again
    let (st, e) = srv
        .admin(
            Method::DELETE,
            &format!("{}/getui_auth", limits_path(&app)),
            None,
        )
        .await;
    assert_eq!(st, 200, "{e}");
    assert_eq!(
        e,
        expected_entry(
            "getui_auth",
            &windows(None, Some(100), Some(100_000), None),
            json!({ "second": null, "minute": 2, "day": 2 })
        )
    );
    let h = auth(&srv, &app).await;
    h.ok();
    assert_window(&h, 100, 97, 60);
}

/// Getui tag overwrite: once per cid per calendar day. The second overwrite of a cid is
/// 403/30011 until Shanghai's midnight and leaves the first tags; another cid still
/// passes; `used.day` counts the overwrites admitted today over all cids.
#[tokio::test]
async fn tag_overwrite_once_per_cid_per_day() {
    let (srv, app, g, cids) = frozen_app(2).await;
    let h = g
        .post(
            &overwrite(&cids[0]),
            json!({ "custom_tag": ["first", "kept"] }),
        )
        .await;
    h.ok();
    assert_window(&h, 1, 0, 86_400);
    let h = g
        .post(&overwrite(&cids[0]), json!({ "custom_tag": ["second"] }))
        .await;
    let retry = until_midnight(srv.now_ms(), SHANGHAI_OFFSET_S);
    assert_refused(&h, 403, 30011, 1, 86_400, retry);
    assert_eq!(g.tags(&cids[0]).await, json!(["first kept"]));
    let h = g
        .post(&overwrite(&cids[1]), json!({ "custom_tag": ["other"] }))
        .await;
    h.ok();
    assert_window(&h, 1, 0, 86_400);
    assert_eq!(g.tags(&cids[1]).await, json!(["other"]));
    let all = limits(&srv, &app).await;
    assert_eq!(
        entry(&all, "getui_tag_overwrite")["used"],
        json!({ "second": null, "minute": null, "day": 2 })
    );
}

/// Getui tag batch bind and unbind share one budget of 100 a minute (the vendor's
/// value): 100 calls mixing PUT and DELETE pass, the 101st of either is 403/30012; a
/// minute later the budget is back.
#[tokio::test]
async fn tag_batch_minute_limit_is_shared_by_bind_and_unbind() {
    let (srv, app, g, cids) = frozen_app(1).await;
    let body = json!({ "cid": [cids[0]] });
    let replies = many(100, |i| {
        let (g, body) = (g.clone(), body.clone());
        async move {
            if i % 2 == 0 {
                g.put(&batch("t"), body).await
            } else {
                g.delete(&batch("t"), body).await
            }
        }
    })
    .await;
    for h in &replies {
        h.ok();
        assert_eq!(h.window().0, Some(100), "X-RateLimit-Limit");
    }
    let h = g.delete(&batch("t"), body.clone()).await;
    assert_refused(&h, 403, 30012, 100, 60, 1..=60);
    let h = g.put(&batch("t"), body.clone()).await;
    assert_refused(&h, 403, 30012, 100, 60, 1..=60);
    let all = limits(&srv, &app).await;
    assert_eq!(
        entry(&all, "getui_tag_batch")["used"],
        json!({ "second": null, "minute": 100, "day": 100 })
    );
    srv.advance_clock(60_000);
    let h = g.put(&batch("t"), body).await;
    h.ok();
    assert_window(&h, 100, 99, 60);
}

/// The tag batch's daily quota, lowered to 5 with the minute off: bind and unbind
/// count together, the 6th is 403/30011 until Shanghai's midnight and unbinds nothing;
/// after midnight the quota is back.
#[tokio::test]
async fn tag_batch_daily_quota() {
    let (srv, app, g, cids) = frozen_app(1).await;
    let e = set_limit(
        &srv,
        &app,
        "getui_tag_batch",
        json!({ "per_minute": null, "per_day": 5 }),
    )
    .await;
    assert_eq!(
        e,
        expected_entry(
            "getui_tag_batch",
            &windows(None, None, Some(5), None),
            json!({ "second": null, "minute": null, "day": 0 })
        )
    );
    let body = json!({ "cid": [cids[0]] });
    for i in 0..5 {
        let h = if i % 2 == 0 {
            g.put(&batch("t"), body.clone()).await
        } else {
            g.delete(&batch("t"), body.clone()).await
        };
        h.ok();
        assert_window(&h, 5, 4 - i, 86_400);
    }
    assert_eq!(g.tags(&cids[0]).await, json!(["t"]));
    let h = g.delete(&batch("t"), body.clone()).await;
    let retry = until_midnight(srv.now_ms(), SHANGHAI_OFFSET_S);
    assert_refused(&h, 403, 30011, 5, 86_400, retry);
    assert_eq!(
        g.tags(&cids[0]).await,
        json!(["t"]),
        "the refused unbind left the tag"
    );
    // one second past Shanghai's midnight
    srv.advance_clock(ms_to_midnight(srv.now_ms(), SHANGHAI_OFFSET_S) + 1000);
    let g = connect(&srv, &app).await;
    let h = g.delete(&batch("t"), body).await;
    h.ok();
    assert_window(&h, 5, 4, 86_400);
    assert_eq!(g.tags(&cids[0]).await, json!([]));
}

/// Getui `bind_dt`: 1,000 a minute (the vendor's value); the 1,001st is 401/10005 and
/// binds nothing.
#[tokio::test]
async fn bind_dt_limit_at_the_vendor_value() {
    let (srv, app, g, cids) = frozen_app(1).await;
    let path = format!("/admin/v1/apps/{}/getui/bind_dt_types", s(&app["app_id"]));
    let (st, body) = srv
        .admin(Method::PUT, &path, Some(json!({ "types": ["hw"] })))
        .await;
    assert_eq!(st, 200, "{body}");
    let cid = cids[0].clone();
    let replies = many(1000, |_| {
        let (g, cid) = (g.clone(), cid.clone());
        async move {
            g.post(
                "/user/bind_dt/hw",
                json!({ "dt_list": [{ "cid": cid, "device_token": "hw-1" }] }),
            )
            .await
        }
    })
    .await;
    for h in &replies {
        h.ok();
        assert_eq!(h.window().0, Some(1000), "X-RateLimit-Limit");
    }
    let h = g
        .post(
            "/user/bind_dt/hw",
            json!({ "dt_list": [{ "cid": cid, "device_token": "hw-2" }] }),
        )
        .await;
    assert_refused(&h, 401, 10005, 1000, 60, 1..=60);
    let d = g.get(&format!("/user/detail/{cid}")).await;
    assert_eq!(d.ok()["validCids"][&cid]["device_token"], "hw-1");
    let all = limits(&srv, &app).await;
    assert_eq!(
        entry(&all, "getui_bind_dt")["used"],
        json!({ "second": null, "minute": 1000, "day": null })
    );
}

/// Every other Getui call: no limit and no rate-limit headers by default; once the
/// admin sets 3 a minute, the 4th call (of any route in the group) is 401/10005, while
/// `/auth` and the tag batch keep their own budgets.
#[tokio::test]
async fn other_getui_calls_are_off_by_default_and_limited_when_set() {
    let (srv, app, g, cids) = frozen_app(1).await;
    let detail = format!("/user/detail/{}", cids[0]);
    for _ in 0..5 {
        let h = g.get(&detail).await;
        h.ok();
        assert_no_window(&h);
    }
    let h = g.get(&overwrite(&cids[0])).await;
    h.ok();
    assert_no_window(&h);
    // (a minute later, so that whether calls count while the limit is off cannot matter)
    srv.advance_clock(60_000);
    let e = set_limit(&srv, &app, "getui_call", json!({ "per_minute": 3 })).await;
    assert_eq!(
        e,
        expected_entry(
            "getui_call",
            &windows(None, Some(3), None, None),
            json!({ "second": null, "minute": 0, "day": null })
        )
    );
    for i in 0..3 {
        let h = g.get(&detail).await;
        h.ok();
        assert_window(&h, 3, 2 - i, 60);
    }
    let h = g.get(&detail).await;
    assert_refused(&h, 401, 10005, 3, 60, 1..=60);
    let h = g.get(&format!("/user/status/{}", cids[0])).await;
    assert_refused(&h, 401, 10005, 3, 60, 1..=60);
    // the three actions with their own budgets are not in the group
    let h = g.put(&batch("t"), json!({ "cid": [cids[0]] })).await;
    h.ok();
    assert_window(&h, 100, 99, 60);
    let h = auth(&srv, &app).await;
    h.ok();
    assert_window(&h, 100, 99, 60);
    // switched off again: no limit, no headers
    let e = set_limit(&srv, &app, "getui_call", json!({ "per_minute": null })).await;
    assert_eq!(
        e,
        expected_entry(
            "getui_call",
            &windows(None, None, None, None),
            json!({ "second": null, "minute": null, "day": null })
        )
    );
    let h = g.get(&detail).await;
    h.ok();
    assert_no_window(&h);
}

/// A window set to 0 admits nothing.
#[tokio::test]
async fn a_zero_window_admits_nothing() {
    let (srv, app, g, cids) = frozen_app(1).await;
    set_limit(&srv, &app, "getui_call", json!({ "per_minute": 0 })).await;
    let h = g.get(&format!("/user/detail/{}", cids[0])).await;
    assert_eq!((h.status, h.code()), (401, 10005), "{}", h.body);
    assert_eq!(h.window(), (Some(0), Some(0)));
}

/// Jiguang Growth `user/register`: 100 a second (the vendor's value), in both header
/// spellings; the 101st is 429 with code 2002; a second later it passes. A call with a
/// wrong secret is not counted.
#[tokio::test]
async fn growth_register_limit_at_the_vendor_value() {
    let srv = TestServer::start().await;
    srv.freeze_clock();
    let app = srv.create_app().await;
    let req = srv.request(
        Method::POST,
        "/smartop/api/v1/user/register",
        As::Basic(s(&app["growth"]["project_id"]), "wrong"),
    );
    let h = Hit::send(
        req,
        Some(&json!({ "identityName": "user_id", "identityValues": ["u"] })),
    )
    .await;
    assert_eq!((h.status, h.code()), (401, 4009), "{}", h.body);
    let h = growth(&srv, &app, "u").await;
    assert_eq!((h.status, h.code()), (200, 0), "{}", h.body);
    assert_window(&h, 100, 99, 1);
    assert_jiguang_spelling(&h);
    let replies = many(99, |_| growth(&srv, &app, "u")).await;
    for h in &replies {
        assert_eq!((h.status, h.code()), (200, 0), "{}", h.body);
        assert_eq!(h.window().0, Some(100));
        assert_jiguang_spelling(h);
    }
    let h = growth(&srv, &app, "u").await;
    assert_refused(&h, 429, 2002, 100, 1, 1..=1);
    assert!(h.body["msg"].is_string(), "{}", h.body);
    assert_jiguang_spelling(&h);
    let all = limits(&srv, &app).await;
    assert_eq!(
        entry(&all, "growth_register")["used"],
        json!({ "second": 100, "minute": null, "day": null })
    );
    srv.advance_clock(1000);
    let h = growth(&srv, &app, "u").await;
    assert_eq!((h.status, h.code()), (200, 0), "{}", h.body);
    assert_window(&h, 100, 99, 1);
    assert_jiguang_spelling(&h);
}

/// EngageLab `user/profile`: 1,000 a minute (the vendor's value); the 1,001st is 429
/// with code 55110 in EngageLab's envelope.
#[tokio::test]
async fn engagelab_profile_limit_at_the_vendor_value() {
    let srv = TestServer::start().await;
    srv.freeze_clock();
    let app = srv.create_app().await;
    let replies = many(1000, |_| profile(&srv, &app)).await;
    for h in &replies {
        assert_eq!((h.status, h.code()), (200, 0), "{}", h.body);
        assert_eq!(h.window().0, Some(1000));
    }
    let h = profile(&srv, &app).await;
    assert_refused(&h, 429, 55110, 1000, 60, 1..=60);
    assert!(h.body["message"].is_string(), "{}", h.body);
    srv.advance_clock(60_000);
    let h = profile(&srv, &app).await;
    assert_eq!((h.status, h.code()), (200, 0), "{}", h.body);
    assert_window(&h, 1000, 999, 60);
}

/// The native API: unlimited and without headers by default; at 2 a second the 3rd
/// call is 429 in the native envelope with Retry-After; admin calls are not counted, nor
/// calls that fail authentication.
#[tokio::test]
async fn native_requests_limited_per_second_when_set() {
    let srv = TestServer::start().await;
    srv.freeze_clock();
    let app = srv.create_app().await;
    let cid = srv
        .register(&app, json!([{ "phone_type": "ios" }]))
        .await
        .remove(0);
    for _ in 0..3 {
        let h = native_device(&srv, &app, &cid).await;
        assert_eq!(h.status, 200, "{}", h.body);
        assert_no_window(&h);
    }
    // (a second later, so that whether calls count while the limit is off cannot matter)
    srv.advance_clock(1000);
    let e = set_limit(&srv, &app, "native_request", json!({ "per_second": 2 })).await;
    assert_eq!(
        e,
        expected_entry(
            "native_request",
            &windows(Some(2), None, None, None),
            json!({ "second": 0, "minute": null, "day": null })
        )
    );
    let req = srv.request(
        Method::GET,
        &format!("/api/v1/apps/{}/devices/{cid}", s(&app["app_id"])),
        As::Basic(s(&app["getui"]["app_key"]), "wrong"),
    );
    assert_eq!(Hit::send(req, None).await.status, 401);
    for i in 0..2 {
        let h = native_device(&srv, &app, &cid).await;
        assert_eq!(h.status, 200, "{}", h.body);
        assert_window(&h, 2, 1 - i, 1);
    }
    let h = native_device(&srv, &app, &cid).await;
    assert_eq!(h.status, 429, "{}", h.body);
    assert_eq!(h.body["error"]["code"], "rate_limited", "{}", h.body);
    assert!(h.body["error"]["message"].is_string(), "{}", h.body);
    assert_window(&h, 2, 0, 1);
    assert_eq!(h.num("retry-after"), Some(1));
    let all = limits(&srv, &app).await;
    assert_eq!(
        entry(&all, "native_request")["used"],
        json!({ "second": 2, "minute": null, "day": null })
    );
    srv.advance_clock(1000);
    let h = native_device(&srv, &app, &cid).await;
    assert_eq!(h.status, 200, "{}", h.body);
    assert_window(&h, 2, 1, 1);
}

// ---------------------------------------------------------------------------------
// 3. Sliding windows
// ---------------------------------------------------------------------------------

/// A per-minute window slides: never more than the limit in any 60 s, and a call
/// leaves the window exactly 60 s after it was admitted (not at a fixed minute).
#[tokio::test]
async fn minute_windows_slide() {
    let (srv, app, g, cids) = frozen_app(1).await;
    set_limit(&srv, &app, "getui_call", json!({ "per_minute": 3 })).await;
    let detail = format!("/user/detail/{}", cids[0]);
    // T: two calls
    for i in 0..2 {
        let h = g.get(&detail).await;
        h.ok();
        assert_window(&h, 3, 2 - i, 60);
    }
    // T+30 s: the third, then the window is full until T+60 s
    srv.advance_clock(30_000);
    let h = g.get(&detail).await;
    h.ok();
    assert_window(&h, 3, 0, 60);
    let h = g.get(&detail).await;
    assert_refused(&h, 401, 10005, 3, 60, 29..=31);
    // T+59.999 s: still full
    srv.advance_clock(29_999);
    let h = g.get(&detail).await;
    assert_refused(&h, 401, 10005, 3, 60, 1..=1);
    // T+60 s: the two calls of T have left, the one of T+30 s has not
    srv.advance_clock(1);
    for i in 0..2 {
        let h = g.get(&detail).await;
        h.ok();
        assert_window(&h, 3, 1 - i, 60);
    }
    let h = g.get(&detail).await;
    assert_refused(&h, 401, 10005, 3, 60, 29..=31);
    // T+90 s: the call of T+30 s has left
    srv.advance_clock(30_000);
    let h = g.get(&detail).await;
    h.ok();
    assert_window(&h, 3, 0, 60);
    let h = g.get(&detail).await;
    assert_refused(&h, 401, 10005, 3, 60, 29..=31);
}

/// After a full window at one instant, 30 s later is still refused and 60 s later a
/// fresh window admits its full N again (the N-th passes, the N+1-th does not).
#[tokio::test]
async fn a_full_window_frees_after_its_length() {
    let (srv, app, g, cids) = frozen_app(1).await;
    set_limit(&srv, &app, "getui_tag_batch", json!({ "per_minute": 4 })).await;
    let body = json!({ "cid": [cids[0]] });
    for _ in 0..4 {
        g.put(&batch("t"), body.clone()).await.ok();
    }
    assert_refused(
        &g.put(&batch("t"), body.clone()).await,
        403,
        30012,
        4,
        60,
        1..=60,
    );
    srv.advance_clock(30_000);
    assert_refused(
        &g.delete(&batch("t"), body.clone()).await,
        403,
        30012,
        4,
        60,
        29..=31,
    );
    srv.advance_clock(30_000);
    for i in 0..4 {
        let h = g.put(&batch("t"), body.clone()).await;
        h.ok();
        assert_window(&h, 4, 3 - i, 60);
    }
    assert_refused(&g.put(&batch("t"), body).await, 403, 30012, 4, 60, 1..=60);
}

// ---------------------------------------------------------------------------------
// 4. What counts, and a refusal changes nothing
// ---------------------------------------------------------------------------------

/// A call counts once it reaches the limiter, after authentication and JSON parsing:
/// a bad token or a body that is not JSON is not counted; a batch that then fails
/// validation is. A refused bind or unbind, and a refused overwrite, change nothing.
#[tokio::test]
async fn what_counts_and_refusals_change_nothing() {
    let (srv, app, g, cids) = frozen_app(2).await;
    set_limit(&srv, &app, "getui_tag_batch", json!({ "per_minute": 2 })).await;
    // not counted: a bad token, a body that is not JSON
    let bad = Gt {
        token: "f".repeat(64),
        ..g.clone()
    };
    let h = bad.put(&batch("kept"), json!({ "cid": [cids[0]] })).await;
    assert_eq!((h.status, h.code()), (401, 10001), "{}", h.body);
    let h = Hit::send(
        g.request(Method::PUT, &batch("kept"))
            .header("content-type", "application/json")
            .body("{oops"),
        None,
    )
    .await;
    assert_eq!(h.code(), 1, "{}", h.body);
    // counted: a body that fails validation (400/20001), then a valid one
    let h = g.put(&batch("kept"), json!({ "cid": cids[0] })).await;
    assert_eq!((h.status, h.code()), (400, 20001), "{}", h.body);
    assert_window(&h, 2, 1, 60);
    let h = g.put(&batch("kept"), json!({ "cid": [cids[0]] })).await;
    h.ok();
    assert_window(&h, 2, 0, 60);
    // refused: nothing bound, nothing unbound
    let h = g
        .put(&batch("blocked"), json!({ "cid": [cids[0], cids[1]] }))
        .await;
    assert_refused(&h, 403, 30012, 2, 60, 1..=60);
    let h = g.delete(&batch("kept"), json!({ "cid": [cids[0]] })).await;
    assert_refused(&h, 403, 30012, 2, 60, 1..=60);
    assert_eq!(g.tags(&cids[0]).await, json!(["kept"]));
    assert_eq!(g.tags(&cids[1]).await, json!([]));
    let all = limits(&srv, &app).await;
    assert_eq!(
        entry(&all, "getui_tag_batch")["used"],
        json!({ "second": null, "minute": 2, "day": 2 })
    );
    // a minute later: 1001 cids and a duplicate cid are validation failures that count
    srv.advance_clock(60_000);
    let too_many: Vec<String> = (0..1001).map(|i| format!("c{i}")).collect();
    let h = g.delete(&batch("kept"), json!({ "cid": too_many })).await;
    h.param_error("cid size over limit");
    assert_window(&h, 2, 1, 60);
    let h = g
        .delete(&batch("kept"), json!({ "cid": [cids[0], cids[0]] }))
        .await;
    h.param_error("contains duplicate cid");
    assert_window(&h, 2, 0, 60);
    let h = g.delete(&batch("kept"), json!({ "cid": [cids[0]] })).await;
    assert_refused(&h, 403, 30012, 2, 60, 1..=60);
    assert_eq!(g.tags(&cids[0]).await, json!(["kept"]));
    // a refused overwrite left the first tags
    g.post(
        &overwrite(&cids[1]),
        json!({ "custom_tag": ["one", "two"] }),
    )
    .await
    .ok();
    let h = g
        .post(&overwrite(&cids[1]), json!({ "custom_tag": ["three"] }))
        .await;
    assert_eq!((h.status, h.code()), (403, 30011), "{}", h.body);
    assert_eq!(g.tags(&cids[1]).await, json!(["one two"]));
    // an overwrite with an invalid body counts as that cid's overwrite of the day
    let h = g
        .post(&overwrite(&cids[0]), json!({ "custom_tag": "x" }))
        .await;
    assert_eq!((h.status, h.code()), (400, 20001), "{}", h.body);
    let h = g
        .post(&overwrite(&cids[0]), json!({ "custom_tag": ["y"] }))
        .await;
    assert_eq!((h.status, h.code()), (403, 30011), "{}", h.body);
    assert_eq!(g.tags(&cids[0]).await, json!(["kept"]));
}

// ---------------------------------------------------------------------------------
// 5. The calendar day
// ---------------------------------------------------------------------------------

/// The once-a-day overwrite resets at midnight of the app's time zone: Asia/Shanghai by
/// default (still refused a minute before, admitted just after), Europe/London once the
/// admin sets it (Retry-After then counts to London's midnight).
#[tokio::test]
async fn the_day_ends_at_midnight_of_the_app_time_zone() {
    let srv = TestServer::start().await;
    srv.freeze_clock();
    // far enough from Shanghai's midnight for the steps below
    if ms_to_midnight(srv.now_ms(), SHANGHAI_OFFSET_S) < 10 * 60_000 {
        srv.advance_clock(20 * 60_000);
    }
    let app = srv.create_app().await;
    let cids = srv
        .register(
            &app,
            json!([{ "phone_type": "ios" }, { "phone_type": "ios" }]),
        )
        .await;
    let g = connect(&srv, &app).await;
    let path = overwrite(&cids[0]);
    g.post(&path, json!({ "custom_tag": ["d1"] })).await.ok();
    let h = g.post(&path, json!({ "custom_tag": ["x"] })).await;
    assert_refused(
        &h,
        403,
        30011,
        1,
        86_400,
        until_midnight(srv.now_ms(), SHANGHAI_OFFSET_S),
    );
    // one minute before Shanghai's midnight: still the same day
    srv.advance_clock(ms_to_midnight(srv.now_ms(), SHANGHAI_OFFSET_S) - 60_000);
    let g = connect(&srv, &app).await;
    let h = g.post(&path, json!({ "custom_tag": ["x"] })).await;
    assert_refused(&h, 403, 30011, 1, 86_400, 58..=62);
    assert_eq!(g.tags(&cids[0]).await, json!(["d1"]));
    // two minutes later: a new day
    srv.advance_clock(120_000);
    let g = connect(&srv, &app).await;
    let h = g.post(&path, json!({ "custom_tag": ["d2"] })).await;
    h.ok();
    assert_window(&h, 1, 0, 86_400);
    let h = g.post(&path, json!({ "custom_tag": ["x"] })).await;
    assert_refused(
        &h,
        403,
        30011,
        1,
        86_400,
        until_midnight(srv.now_ms(), SHANGHAI_OFFSET_S),
    );
    assert_eq!(g.tags(&cids[0]).await, json!(["d2"]));
    // the day of Europe/London
    let (st, body) = srv
        .admin(
            Method::PUT,
            &limits_path(&app),
            Some(json!({ "time_zone": "Europe/London" })),
        )
        .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["time_zone"], "Europe/London");
    assert_eq!(body, limits(&srv, &app).await);
    let path = overwrite(&cids[1]);
    g.post(&path, json!({ "custom_tag": ["l1"] })).await.ok();
    let h = g.post(&path, json!({ "custom_tag": ["x"] })).await;
    let now = srv.now_ms();
    let london = until_midnight(now, london_offset_s(now));
    assert_refused(&h, 403, 30011, 1, 86_400, london);
    // a second past London's midnight, the cid may be overwritten again
    srv.advance_clock(ms_to_midnight(now, london_offset_s(now)) + 1000);
    let g = connect(&srv, &app).await;
    g.post(&path, json!({ "custom_tag": ["l2"] })).await.ok();
    assert_eq!(g.tags(&cids[1]).await, json!(["l2"]));
}

// ---------------------------------------------------------------------------------
// 6. Restarts
// ---------------------------------------------------------------------------------

/// Daily quotas, the once-a-day overwrite, the admin's overrides and the time zone all
/// survive a restart.
#[tokio::test]
async fn daily_quotas_and_overrides_survive_restart() {
    let (mut srv, app, mut g, cids) = frozen_app(1).await;
    let (st, _) = srv
        .admin(
            Method::PUT,
            &limits_path(&app),
            Some(json!({ "time_zone": "Europe/London" })),
        )
        .await;
    assert_eq!(st, 200);
    set_limit(
        &srv,
        &app,
        "getui_tag_batch",
        json!({ "per_minute": null, "per_day": 3 }),
    )
    .await;
    let body = json!({ "cid": [cids[0]] });
    for _ in 0..3 {
        g.put(&batch("t"), body.clone()).await.ok();
    }
    g.post(&overwrite(&cids[0]), json!({ "custom_tag": ["a"] }))
        .await
        .ok();
    srv.restart().await;
    // The restarted server listens on a new port; the token is still good.
    g.base = format!("{}/v2/{}", srv.base, s(&app["app_id"]));
    let after = limits(&srv, &app).await;
    assert_eq!(after["time_zone"], "Europe/London");
    assert_eq!(
        entry(&after, "getui_tag_batch"),
        &expected_entry(
            "getui_tag_batch",
            &windows(None, None, Some(3), None),
            json!({ "second": null, "minute": null, "day": 3 })
        )
    );
    assert_eq!(
        entry(&after, "getui_tag_overwrite")["used"]["day"],
        1,
        "{after}"
    );
    let h = g.delete(&batch("t"), body).await;
    let now = srv.now_ms();
    assert_refused(
        &h,
        403,
        30011,
        3,
        86_400,
        until_midnight(now, london_offset_s(now)),
    );
    let h = g
        .post(&overwrite(&cids[0]), json!({ "custom_tag": ["b"] }))
        .await;
    assert_eq!((h.status, h.code()), (403, 30011), "{}", h.body);
    assert_eq!(g.tags(&cids[0]).await, json!(["a"]));
}

// ---------------------------------------------------------------------------------
// 7. Admin API
// ---------------------------------------------------------------------------------

/// `GET …/limits`: every action in order with the vendor's values and what is used.
#[tokio::test]
async fn admin_get_lists_every_action_with_its_defaults() {
    let srv = TestServer::start().await;
    srv.freeze_clock();
    let app = srv.create_app().await;
    let cids = srv.register(&app, json!([{ "phone_type": "ios" }])).await;
    let all = limits(&srv, &app).await;
    assert_eq!(all, fresh_limits("Asia/Shanghai", true));
    let order: Vec<&str> = all["limits"]
        .as_array()
        .expect("limits")
        .iter()
        .map(|e| s(&e["action"]))
        .collect();
    assert_eq!(order, ACTIONS);
    // what is used shows up per action
    let g = connect(&srv, &app).await;
    g.put(&batch("t"), json!({ "cid": [cids[0]] })).await.ok();
    g.delete(&batch("t"), json!({ "cid": [cids[0]] }))
        .await
        .ok();
    g.post(&overwrite(&cids[0]), json!({ "custom_tag": ["a"] }))
        .await
        .ok();
    let h = growth(&srv, &app, "u").await;
    assert_eq!(h.status, 200, "{}", h.body);
    let h = profile(&srv, &app).await;
    assert_eq!(h.status, 200, "{}", h.body);
    let all = limits(&srv, &app).await;
    let used: Vec<Value> = ACTIONS
        .iter()
        .map(|a| entry(&all, a)["used"].clone())
        .collect();
    assert_eq!(
        used,
        vec![
            json!({ "second": null, "minute": 1, "day": 1 }),
            json!({ "second": null, "minute": null, "day": 1 }),
            json!({ "second": null, "minute": 2, "day": 2 }),
            json!({ "second": null, "minute": 0, "day": null }),
            json!({ "second": null, "minute": null, "day": null }),
            json!({ "second": 1, "minute": null, "day": null }),
            json!({ "second": null, "minute": 1, "day": null }),
            json!({ "second": null, "minute": null, "day": null }),
        ]
    );
    // another app's counts are its own
    let other = srv.create_app().await;
    assert_eq!(
        limits(&srv, &other).await,
        fresh_limits("Asia/Shanghai", true)
    );
}

/// `PUT` sets the windows given (null switches one off, an absent one is kept) and
/// `DELETE` restores the vendor's; the per-cid window of the overwrite is adjustable
/// too.
#[tokio::test]
async fn admin_put_and_delete_round_trip() {
    let (srv, app, g, cids) = frozen_app(1).await;
    let e = set_limit(&srv, &app, "getui_tag_batch", json!({ "per_minute": 5 })).await;
    assert_eq!(
        e,
        expected_entry(
            "getui_tag_batch",
            &windows(None, Some(5), Some(10_000), None),
            json!({ "second": null, "minute": 0, "day": 0 })
        )
    );
    let e = set_limit(&srv, &app, "getui_tag_batch", json!({ "per_day": null })).await;
    let off = expected_entry(
        "getui_tag_batch",
        &windows(None, Some(5), None, None),
        json!({ "second": null, "minute": 0, "day": null }),
    );
    assert_eq!(e, off);
    assert_eq!(entry(&limits(&srv, &app).await, "getui_tag_batch"), &off);
    // the new ceiling is enforced
    let body = json!({ "cid": [cids[0]] });
    for i in 0..5 {
        let h = g.put(&batch("t"), body.clone()).await;
        h.ok();
        assert_window(&h, 5, 4 - i, 60);
    }
    assert_refused(
        &g.put(&batch("t"), body.clone()).await,
        403,
        30012,
        5,
        60,
        1..=60,
    );
    // back to the vendor's values, the minute's count kept
    let path = format!("{}/getui_tag_batch", limits_path(&app));
    let (st, e) = srv.admin(Method::DELETE, &path, None).await;
    assert_eq!(st, 200, "{e}");
    assert_eq!(e["per_minute"], 100, "{e}");
    assert_eq!(e["per_day"], 10_000, "{e}");
    assert_eq!(
        e["default"],
        windows(None, Some(100), Some(10_000), None),
        "{e}"
    );
    assert_eq!(e["used"]["minute"], 5, "{e}");
    let h = g.put(&batch("t"), body).await;
    h.ok();
    assert_window(&h, 100, 94, 60);
    // the overwrite twice a day per cid
    let e = set_limit(
        &srv,
        &app,
        "getui_tag_overwrite",
        json!({ "per_cid_per_day": 2 }),
    )
    .await;
    assert_eq!(
        e,
        expected_entry(
            "getui_tag_overwrite",
            &windows(None, None, None, Some(2)),
            json!({ "second": null, "minute": null, "day": 0 })
        )
    );
    let p = overwrite(&cids[0]);
    let h = g.post(&p, json!({ "custom_tag": ["a"] })).await;
    h.ok();
    assert_window(&h, 2, 1, 86_400);
    let h = g.post(&p, json!({ "custom_tag": ["b"] })).await;
    h.ok();
    assert_window(&h, 2, 0, 86_400);
    let h = g.post(&p, json!({ "custom_tag": ["c"] })).await;
    assert_refused(
        &h,
        403,
        30011,
        2,
        86_400,
        until_midnight(srv.now_ms(), SHANGHAI_OFFSET_S),
    );
    assert_eq!(g.tags(&cids[0]).await, json!(["b"]));
}

/// The admin API's errors: 404 for an unknown action or app, 400 `invalid_param` for
/// an unknown field, a number that is not a non-negative integer, a per-cid window on
/// another action, or an unknown time zone; 401 without the admin token. None of them
/// changes anything.
#[tokio::test]
async fn admin_errors() {
    let srv = TestServer::start().await;
    let app = srv.create_app().await;
    let base = limits_path(&app);
    let unknown = "/admin/v1/apps/NoSuchApp0000000000000a/limits";
    for (method, path, body) in [
        (
            Method::PUT,
            format!("{base}/getui_nope"),
            Some(json!({ "per_minute": 1 })),
        ),
        (Method::DELETE, format!("{base}/getui_nope"), None),
        (Method::GET, unknown.to_owned(), None),
        (
            Method::PUT,
            format!("{unknown}/getui_call"),
            Some(json!({ "per_minute": 1 })),
        ),
        (Method::DELETE, format!("{unknown}/getui_call"), None),
        (
            Method::PUT,
            unknown.to_owned(),
            Some(json!({ "time_zone": "Europe/London" })),
        ),
    ] {
        let (st, r) = srv.admin(method.clone(), &path, body).await;
        assert_eq!(
            (st.as_u16(), &r["error"]["code"]),
            (404, &json!("not_found")),
            "{method} {path}: {r}"
        );
    }
    for (action, body) in [
        ("getui_call", json!({ "per_hour": 1 })),
        ("getui_call", json!({ "per_minute": -1 })),
        ("getui_call", json!({ "per_minute": 1.5 })),
        ("getui_call", json!({ "per_minute": "5" })),
        ("getui_tag_batch", json!({ "per_cid_per_day": 1 })),
        (
            "getui_auth",
            json!({ "per_minute": 5, "per_cid_per_day": 1 }),
        ),
        ("getui_tag_overwrite", json!({ "per_cid_per_day": -1 })),
    ] {
        let (st, r) = srv
            .admin(Method::PUT, &format!("{base}/{action}"), Some(body.clone()))
            .await;
        assert_eq!(
            (st.as_u16(), &r["error"]["code"]),
            (400, &json!("invalid_param")),
            "PUT {action} {body}: {r}"
        );
    }
    let (st, r) = srv
        .admin(
            Method::PUT,
            &base,
            Some(json!({ "time_zone": "Mars/Olympus_Mons" })),
        )
        .await;
    assert_eq!(
        (st.as_u16(), &r["error"]["code"]),
        (400, &json!("invalid_param")),
        "{r}"
    );
    // without the admin token
    for who in [As::Nobody, As::Bearer("wrong")] {
        for (method, path, body) in [
            (Method::GET, base.clone(), None),
            (
                Method::PUT,
                format!("{base}/getui_call"),
                Some(json!({ "per_minute": 1 })),
            ),
            (Method::DELETE, format!("{base}/getui_auth"), None),
            (
                Method::PUT,
                base.clone(),
                Some(json!({ "time_zone": "Europe/London" })),
            ),
        ] {
            let (st, r) = srv.call(method.clone(), &path, who, body.as_ref()).await;
            assert_eq!(st.as_u16(), 401, "{method} {path} as {who:?}: {r}");
        }
    }
    assert_eq!(
        limits(&srv, &app).await,
        fresh_limits("Asia/Shanghai", true),
        "no refused call changed anything"
    );
}

// ---------------------------------------------------------------------------------
// 8. CLI
// ---------------------------------------------------------------------------------

fn roster(args: &[&str]) -> Output {
    crate::cli::roster(args, &[]).output().expect("run roster")
}

#[track_caller]
fn json_out(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "stdout is not one JSON document: {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// `roster limits show|set|reset` read and change an app's limits in the store; a
/// server over that store enforces what they set.
#[tokio::test]
async fn cli_shows_sets_and_resets_limits() {
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path().to_str().expect("utf-8");
    let app = json_out(&roster(&["app", "create", "--name", "q", "--data-dir", d]));
    let id: &str = s(&app["app_id"]);
    let show = json_out(&roster(&["limits", "show", "--app", id, "--data-dir", d]));
    assert_eq!(show, fresh_limits("Asia/Shanghai", false));
    let e = json_out(&roster(&[
        "limits",
        "set",
        "--app",
        id,
        "getui_tag_batch",
        "--per-minute",
        "5",
        "--per-day",
        "off",
        "--data-dir",
        d,
    ]));
    assert_eq!(
        e,
        expected_entry(
            "getui_tag_batch",
            &windows(None, Some(5), None, None),
            json!({ "second": null, "minute": null, "day": null })
        )
    );
    let out = roster(&[
        "limits",
        "set",
        "--app",
        id,
        "--time-zone",
        "Europe/London",
        "--data-dir",
        d,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let show = json_out(&roster(&["limits", "show", "--app", id, "--data-dir", d]));
    assert_eq!(show["time_zone"], "Europe/London");
    assert_eq!(entry(&show, "getui_tag_batch"), &e);
    // errors: nothing on stdout, a message on stderr, a failing exit
    for mut args in [
        vec![
            "limits",
            "set",
            "--app",
            id,
            "getui_nope",
            "--per-minute",
            "1",
        ],
        vec!["limits", "reset", "--app", id, "getui_nope"],
        vec![
            "limits",
            "set",
            "--app",
            id,
            "--time-zone",
            "Mars/Olympus_Mons",
        ],
    ] {
        args.extend(["--data-dir", d]);
        let out = roster(&args);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(
            out.stdout.is_empty(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(!out.stderr.is_empty(), "{args:?}: no message");
    }
    // a server over the store sees and enforces them
    {
        let p = RosterProcess::start(Path::new(env!("CARGO_BIN_EXE_roster")), dir.path()).await;
        let http = reqwest::Client::new();
        let all = limits_at(&http, &p.base, &app).await;
        assert_eq!(all["time_zone"], "Europe/London");
        assert_eq!(entry(&all, "getui_tag_batch")["per_minute"], 5);
        assert_eq!(entry(&all, "getui_tag_batch")["per_day"], Value::Null);
        let cids =
            roster_testkit::register(&http, &p.base, &app, json!([{ "phone_type": "ios" }])).await;
        let g = connect_at(&http, &p.base, &app, roster_core::time::now_ms()).await;
        for _ in 0..5 {
            g.put(&batch("t"), json!({ "cid": [cids[0]] })).await.ok();
        }
        let h = g.put(&batch("t"), json!({ "cid": [cids[0]] })).await;
        assert_refused(&h, 403, 30012, 5, 60, 1..=60);
    }
    let e = json_out(&roster(&[
        "limits",
        "reset",
        "--app",
        id,
        "getui_tag_batch",
        "--data-dir",
        d,
    ]));
    assert_eq!(e["action"], "getui_tag_batch");
    for k in ["per_second", "per_minute", "per_day", "per_cid_per_day"] {
        assert_eq!(e[k], e["default"][k], "{k}: {e}");
    }
    assert_eq!(e["default"], windows(None, Some(100), Some(10_000), None));
    let show = json_out(&roster(&["limits", "show", "--app", id, "--data-dir", d]));
    assert_eq!(entry(&show, "getui_tag_batch")["per_minute"], 100);
    assert_eq!(entry(&show, "getui_tag_batch")["per_day"], 10_000);
    assert_eq!(
        entry(&show, "getui_tag_batch")["used"]["minute"],
        Value::Null,
        "the CLI shows no per-node counts"
    );
}
