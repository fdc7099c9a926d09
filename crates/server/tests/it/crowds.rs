//! Getui smart crowds (文案圈人) over HTTP: `smart_crowd/create`, `task/list` and
//! `model/list` with valid and invalid input, the native crowd API (`crowds/{id}`,
//! `stop`, the `{"crowd": id}` selector leaf), isolation between apps, and the device
//! history fields the activity filter reads. The background jobs at scale (relevance,
//! filters, timeouts, restarts, two nodes) are in `crowds_jobs`.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use roster_core::time::now_ms;
use roster_testkit::{create_app, request, s, send, As, Creds, Getui, TestServer, ADMIN_TOKEN};
use serde_json::{json, Value};

pub(crate) const DAY_MS: i64 = 86_400_000;

/// Every brand value the spec lists.
pub(crate) const ALL_BRANDS: [&str; 6] = ["hw", "xm", "op", "vv", "mz", "other"];

/// One task of a plan.
pub(crate) fn task(topic: &str, content: &str) -> Value {
    json!({ "topic": topic, "content": content })
}

/// Copy about basketball: matches tag `篮球` and the opened text [`BASKETBALL_OPENED`].
pub(crate) fn basketball() -> Value {
    task("湖人篮球决赛", "今晚篮球比赛直播精彩不断")
}

/// Copy about food: matches tag `美食`, nothing about basketball.
pub(crate) fn food() -> Value {
    task("周末美食推荐", "本地特色美食小吃大全")
}

/// Copy that shares no word or bigram with any tag or opened text the tests plant.
pub(crate) fn unmatched() -> Value {
    task("量子物理研究", "超导材料最新进展")
}

/// What the engaged devices open (native `open` event).
pub(crate) const BASKETBALL_OPENED: &str = "湖人今晚篮球比赛直播";

/// A valid create body: every brand, 1,000 per crowd, active in the last 30 days.
pub(crate) fn plan(name: &str, tasks: Vec<Value>) -> Value {
    json!({
        "name": name,
        "tasks": tasks,
        "brand_list": ALL_BRANDS,
        "package_num": 1000,
        "active_range": 30,
        "active_type": 1,
    })
}

/// `plan` with some fields replaced.
pub(crate) fn plan_with(name: &str, tasks: Vec<Value>, fields: Value) -> Value {
    let mut body = plan(name, tasks);
    if let (Some(b), Some(f)) = (body.as_object_mut(), fields.as_object()) {
        for (k, v) in f {
            b.insert(k.clone(), v.clone());
        }
    }
    body
}

/// `smart_crowd/create`; asserts success and returns the sub-task ids.
pub(crate) async fn create(g: &Getui, body: Value) -> Vec<String> {
    let r = g.post("/user/smart_crowd/create", body.clone()).await;
    let ids = r.ok()["sub_task_ids"]
        .as_array()
        .unwrap_or_else(|| panic!("no sub_task_ids for {body}: {}", r.body));
    ids.iter().map(|v| s(v).to_owned()).collect()
}

/// `smart_crowd/task/list`; asserts success.
pub(crate) async fn task_list(g: &Getui, ids: &[String]) -> Vec<Value> {
    let r = g
        .post(
            "/user/smart_crowd/task/list",
            json!({ "sub_task_ids": ids }),
        )
        .await;
    r.ok()
        .as_array()
        .unwrap_or_else(|| panic!("task/list data is not an array: {}", r.body))
        .clone()
}

/// `smart_crowd/model/list`; asserts success.
pub(crate) async fn models(g: &Getui, filter: Value) -> Vec<Value> {
    let r = g.post("/user/smart_crowd/model/list", filter).await;
    r.ok()
        .as_array()
        .unwrap_or_else(|| panic!("model/list data is not an array: {}", r.body))
        .clone()
}

/// The task/list entry of `id` in `entries`.
pub(crate) fn entry<'a>(entries: &'a [Value], id: &str) -> &'a Value {
    entries
        .iter()
        .find(|e| e["sub_task_id"] == id)
        .unwrap_or_else(|| panic!("{id} not in {entries:?}"))
}

/// Polls `task/list` every 50 ms until every sub-task has ended (status ≥ 2), for up
/// to `limit`; returns the entries in the order of `ids`.
pub(crate) async fn wait_ended_within(g: &Getui, ids: &[String], limit: Duration) -> Vec<Value> {
    let started = std::time::Instant::now();
    let mut last = Vec::new();
    for chunk_start in (0..ids.len()).step_by(10) {
        let chunk = &ids[chunk_start..(chunk_start + 10).min(ids.len())];
        loop {
            let got = task_list(g, chunk).await;
            let ended = got.len() == chunk.len()
                && got
                    .iter()
                    .all(|e| e["status"].as_i64().is_some_and(|st| st >= 2));
            if ended {
                last.extend(got);
                break;
            }
            assert!(
                started.elapsed() < limit,
                "sub-tasks still not ended after {limit:?}: {got:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    ids.iter().map(|id| entry(&last, id).clone()).collect()
}

/// [`wait_ended_within`] 30 seconds.
pub(crate) async fn wait_ended(g: &Getui, ids: &[String]) -> Vec<Value> {
    wait_ended_within(g, ids, Duration::from_secs(30)).await
}

/// Waits until every sub-task has ended and asserts that each succeeded (status 4).
pub(crate) async fn wait_succeeded(g: &Getui, ids: &[String]) -> Vec<Value> {
    let got = wait_ended(g, ids).await;
    for e in &got {
        assert_eq!(e["status"], 4, "{e}");
    }
    got
}

/// Percent-encodes a path segment (every byte outside `[A-Za-z0-9_.-]`).
pub(crate) fn pct(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"_.-".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Adds `tag` to every cid (Getui tag batch, 1,000 cids per call).
pub(crate) async fn tag(g: &Getui, tag: &str, cids: &[String]) {
    for chunk in cids.chunks(1000) {
        let r = g
            .put(
                &format!("/user/custom_tag/batch/{}", pct(tag)),
                json!({ "cid": chunk }),
            )
            .await;
        let data = r.ok();
        for c in chunk {
            assert_eq!(data[c], "true", "tag {tag} on {c}: {}", r.body);
        }
    }
}

/// Blacklists every cid (Getui, 200 per call).
pub(crate) async fn blacklist(g: &Getui, cids: &[String]) {
    for chunk in cids.chunks(200) {
        g.post(&format!("/user/black/cid/{}", chunk.join(",")), json!(null))
            .await
            .ok();
    }
}

/// One app on one roster node (in-process or a real process), seen through its native
/// API and its Getui API.
pub(crate) struct Api {
    pub(crate) http: reqwest::Client,
    pub(crate) base: String,
    pub(crate) app: Value,
}

impl Api {
    /// `app` on the in-process server `srv` (build it again after a restart: the port
    /// changes).
    pub(crate) fn of(srv: &TestServer, app: &Value) -> Api {
        Api::at(&srv.http, &srv.base, app)
    }

    /// `app` on the node at `base`.
    pub(crate) fn at(http: &reqwest::Client, base: &str, app: &Value) -> Api {
        Api {
            http: http.clone(),
            base: base.to_owned(),
            app: app.clone(),
        }
    }

    /// A new app on the in-process server `srv`.
    pub(crate) async fn create(srv: &TestServer) -> Api {
        Api::of(srv, &srv.create_app().await)
    }

    /// A new app on the node at `base`.
    pub(crate) async fn create_at(http: &reqwest::Client, base: &str) -> Api {
        Api::at(http, base, &create_app(http, base, ADMIN_TOKEN).await)
    }

    /// Registers `n` android devices of `brand` and tags the first `tagged` of them
    /// `篮球`; returns a Getui client and the cids.
    pub(crate) async fn basketball_fans(
        &self,
        n: usize,
        brand: &str,
        tagged: usize,
    ) -> (Getui, Vec<String>) {
        let cids = self.register(devices(n, Some(brand))).await;
        let g = self.getui().await;
        tag(&g, "篮球", &cids[..tagged]).await;
        (g, cids)
    }

    /// An authenticated Getui client.
    pub(crate) async fn getui(&self) -> Getui {
        Getui::connect(&self.http, &self.base, &self.app).await
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let path = format!("/api/v1/apps/{}{path}", s(&self.app["app_id"]));
        request(
            &self.http,
            &self.base,
            method,
            &path,
            As::App(&self.app, Creds::NATIVE),
        )
    }

    /// A native JSON call below `/api/v1/apps/{app_id}`.
    pub(crate) async fn native(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        send(self.request(method, path), body).await
    }

    /// Native `POST`.
    pub(crate) async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.native(Method::POST, path, Some(&body)).await
    }

    /// Registers devices, 1,000 per call; returns their cids in order.
    pub(crate) async fn register(&self, devices: Vec<Value>) -> Vec<String> {
        let mut cids = Vec::with_capacity(devices.len());
        for chunk in devices.chunks(1000) {
            let (st, body) = self.post("/devices", Value::Array(chunk.to_vec())).await;
            assert_eq!(st, StatusCode::OK, "register: {body}");
            let got = body["cids"].as_array().expect("cids");
            cids.extend(got.iter().map(|c| s(c).to_owned()));
        }
        cids
    }

    /// A native device event; returns the status and body.
    pub(crate) async fn event(&self, cid: &str, body: Value) -> (StatusCode, Value) {
        self.post(&format!("/devices/{cid}/events"), body).await
    }

    /// The native device.
    pub(crate) async fn device(&self, cid: &str) -> Value {
        let (st, body) = self
            .native(Method::GET, &format!("/devices/{cid}"), None)
            .await;
        assert_eq!(st, StatusCode::OK, "device {cid}: {body}");
        body
    }

    /// `GET crowds/{id}`, asserting 200.
    pub(crate) async fn crowd(&self, id: &str) -> Value {
        let (st, body) = self
            .native(Method::GET, &format!("/crowds/{id}"), None)
            .await;
        assert_eq!(st, StatusCode::OK, "crowd {id}: {body}");
        body
    }

    /// `POST crowds/{id}/stop`.
    pub(crate) async fn stop(&self, id: &str) -> (StatusCode, Value) {
        self.native(Method::POST, &format!("/crowds/{id}/stop"), None)
            .await
    }

    /// `audience/count` of a selector.
    pub(crate) async fn count_raw(&self, selector: Value) -> (StatusCode, Value) {
        self.post("/audience/count", json!({ "selector": selector }))
            .await
    }

    /// `audience/cids` of a selector that is refused: the status and the error body.
    pub(crate) async fn cids_raw(&self, selector: Value) -> (StatusCode, Value) {
        self.post("/audience/cids", json!({ "selector": selector }))
            .await
    }

    /// `audience/count` of a selector, asserting 200.
    pub(crate) async fn count(&self, selector: Value) -> u64 {
        let (st, body) = self.count_raw(selector.clone()).await;
        assert_eq!(st, StatusCode::OK, "count {selector}: {body}");
        body["count"].as_u64().expect("count")
    }

    /// `audience/cids` of a selector, as a set.
    pub(crate) async fn members(&self, selector: Value) -> HashSet<String> {
        let r = self
            .request(Method::POST, "/audience/cids")
            .json(&json!({ "selector": selector }))
            .send()
            .await
            .expect("cids");
        let status = r.status();
        let text = r.text().await.expect("body");
        assert_eq!(status, StatusCode::OK, "cids {selector}: {text}");
        let mut set = HashSet::new();
        for line in text.lines().filter(|l| !l.is_empty()) {
            let v: Value = serde_json::from_str(line).expect("ndjson line");
            assert!(set.insert(s(&v["cid"]).to_owned()), "{line} listed twice");
        }
        set
    }

    /// The members of a crowd (`{"crowd": id}`).
    pub(crate) async fn crowd_members(&self, id: &str) -> HashSet<String> {
        self.members(json!({ "crowd": id })).await
    }
}

/// `n` android devices of `brand` (`None`: no brand).
pub(crate) fn devices(n: usize, brand: Option<&str>) -> Vec<Value> {
    (0..n)
        .map(|_| match brand {
            Some(b) => json!({ "phone_type": "android", "brand": b }),
            None => json!({ "phone_type": "android" }),
        })
        .collect()
}

/// Asserts a Getui parameter error (HTTP 400, code 20001) whose message names `field`.
fn assert_refused(r: &roster_testkit::Reply, field: &str, case: &str) {
    assert_eq!(
        (r.status, r.code()),
        (400, 20001),
        "{case}: expected a parameter error naming {field}, got {}",
        r.body
    );
    assert!(
        r.msg().contains(field),
        "{case}: the message should name {field}: {}",
        r.body
    );
}

/// Asserts a native error with this status and code.
fn assert_native_error(got: (StatusCode, Value), status: u16, code: &str, case: &str) {
    assert_eq!(
        (got.0.as_u16(), got.1["error"]["code"].as_str()),
        (status, Some(code)),
        "{case}: {}",
        got.1
    );
}

/// The plans of `model/list {}` without their statuses (jobs move those on by
/// themselves): what a refused create must leave unchanged.
async fn plans_snapshot(g: &Getui) -> Vec<Value> {
    models(g, json!({}))
        .await
        .into_iter()
        .map(|mut p| {
            if let Some(o) = p.as_object_mut() {
                o.remove("status");
            }
            p
        })
        .collect()
}

fn is_unguessable(id: &str) -> bool {
    id.len() >= 16 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn with(base: &Value, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    let mut body = base.clone();
    if let Some(o) = body.as_object_mut() {
        edit(o);
    }
    body
}

fn with_task(base: &Value, i: usize, field: &str, value: Value) -> Value {
    let mut body = base.clone();
    body["tasks"][i][field] = value;
    body
}

fn tasks_n(n: usize) -> Value {
    Value::Array(
        (0..n)
            .map(|i| task(&format!("篮球决赛{i}"), "今晚篮球比赛直播"))
            .collect(),
    )
}

#[tokio::test]
async fn crowds_create_validates_every_field() {
    let srv = TestServer::start().await;
    let app = srv.create_app().await;
    let g = srv.getui(&app).await;
    let base = plan("校验计划", vec![task("篮球决赛", "今晚篮球比赛直播")]);
    let two = plan(
        "校验计划",
        vec![
            task("篮球决赛", "今晚篮球比赛直播"),
            task("美食推荐", "本地特色美食"),
        ],
    );
    let set = |k: &str, v: Value| {
        with(&base, |o| {
            o.insert(k.to_owned(), v);
        })
    };
    let unset = |k: &str| {
        with(&base, |o| {
            o.remove(k);
        })
    };
    let topic = |v: Value| with_task(&base, 0, "topic", v);
    let content = |v: Value| with_task(&base, 0, "content", v);

    // (case, body, None when accepted or Some(field the refusal names))
    let mut cases: Vec<(String, Value, Option<&str>)> = vec![
        ("the base plan".into(), base.clone(), None),
        (
            "name of 10 Chinese characters".into(),
            set("name", json!("一二三四五六七八九十")),
            None,
        ),
        (
            "name of 10 ASCII characters".into(),
            set("name", json!("abcdefghij")),
            None,
        ),
        (
            "name of 11 Chinese characters".into(),
            set("name", json!("一二三四五六七八九十壹")),
            Some("name"),
        ),
        (
            "name of 11 ASCII characters".into(),
            set("name", json!("abcdefghijk")),
            Some("name"),
        ),
        ("empty name".into(), set("name", json!("")), Some("name")),
        ("name a number".into(), set("name", json!(7)), Some("name")),
        ("no tasks".into(), set("tasks", json!([])), Some("tasks")),
        (
            "tasks not a list".into(),
            set("tasks", json!({})),
            Some("tasks"),
        ),
        ("10 tasks".into(), set("tasks", tasks_n(10)), None),
        ("11 tasks".into(), set("tasks", tasks_n(11)), Some("tasks")),
        (
            "topic of 20 characters".into(),
            topic(json!("篮球".repeat(10))),
            None,
        ),
        (
            "topic of 21 characters".into(),
            topic(json!(format!("{}赛", "篮球".repeat(10)))),
            Some("topic"),
        ),
        (
            "content of 50 characters".into(),
            content(json!("比赛".repeat(25))),
            None,
        ),
        (
            "content of 51 characters".into(),
            content(json!(format!("{}赛", "比赛".repeat(25)))),
            Some("content"),
        ),
        (
            "topic with one Chinese character".into(),
            topic(json!("篮ball")),
            Some("topic"),
        ),
        (
            "topic with one ideograph and Chinese punctuation".into(),
            topic(json!("篮。！")),
            Some("topic"),
        ),
        (
            "topic without Chinese".into(),
            topic(json!("basketball")),
            Some("topic"),
        ),
        (
            "content with one Chinese character".into(),
            content(json!("赛game")),
            Some("content"),
        ),
        ("empty topic".into(), topic(json!("")), Some("topic")),
        ("empty content".into(), content(json!("")), Some("content")),
        ("topic a number".into(), topic(json!(12)), Some("topic")),
        (
            "task without topic".into(),
            with(&base, |o| {
                o.insert("tasks".into(), json!([{ "content": "今晚篮球比赛直播" }]));
            }),
            Some("topic"),
        ),
        (
            "task without content".into(),
            with(&base, |o| {
                o.insert("tasks".into(), json!([{ "topic": "篮球决赛" }]));
            }),
            Some("content"),
        ),
        (
            "the same topic with another content".into(),
            with_task(&two, 1, "topic", json!("篮球决赛")),
            None,
        ),
        (
            "two identical tasks".into(),
            with(&two, |o| {
                o.insert("tasks".into(), json!([basketball(), food(), basketball()]));
            }),
            Some("tasks"),
        ),
        (
            "empty brand_list".into(),
            set("brand_list", json!([])),
            Some("brand_list"),
        ),
        (
            "brand huawei".into(),
            set("brand_list", json!(["hw", "huawei"])),
            Some("brand_list"),
        ),
        (
            "brand HW".into(),
            set("brand_list", json!(["HW"])),
            Some("brand_list"),
        ),
        (
            "brand_list a string".into(),
            set("brand_list", json!("hw")),
            Some("brand_list"),
        ),
        (
            "one brand".into(),
            set("brand_list", json!(["other"])),
            None,
        ),
        (
            "package_num 999".into(),
            set("package_num", json!(999)),
            Some("package_num"),
        ),
        (
            "package_num 1000".into(),
            set("package_num", json!(1000)),
            None,
        ),
        (
            "package_num 5000000".into(),
            set("package_num", json!(5_000_000)),
            None,
        ),
        (
            "package_num 5000001".into(),
            set("package_num", json!(5_000_001)),
            Some("package_num"),
        ),
        (
            "package_num a string".into(),
            set("package_num", json!("1000")),
            Some("package_num"),
        ),
        (
            "package_num a fraction".into(),
            set("package_num", json!(1000.5)),
            Some("package_num"),
        ),
        (
            "active_range 0".into(),
            set("active_range", json!(0)),
            Some("active_range"),
        ),
        ("active_range 1".into(), set("active_range", json!(1)), None),
        (
            "active_range 90".into(),
            set("active_range", json!(90)),
            None,
        ),
        (
            "active_range 91".into(),
            set("active_range", json!(91)),
            Some("active_range"),
        ),
        (
            "active_range a string".into(),
            set("active_range", json!("30")),
            Some("active_range"),
        ),
        (
            "active_type 0".into(),
            set("active_type", json!(0)),
            Some("active_type"),
        ),
        (
            "active_type 2".into(),
            set("active_type", json!(2)),
            Some("active_type"),
        ),
        (
            "active_type a string".into(),
            set("active_type", json!("1")),
            Some("active_type"),
        ),
        ("active_type -1".into(), set("active_type", json!(-1)), None),
        (
            "is_overlap true".into(),
            set("is_overlap", json!(true)),
            None,
        ),
        (
            "is_overlap false".into(),
            set("is_overlap", json!(false)),
            None,
        ),
        (
            "is_overlap a string".into(),
            set("is_overlap", json!("true")),
            Some("is_overlap"),
        ),
    ];
    // whitespace and line breaks of every kind, in topic and in content
    for (what, ws) in [
        ("a space", " "),
        ("a tab", "\t"),
        ("a line feed", "\n"),
        ("a carriage return", "\r"),
        ("an ideographic space", "\u{3000}"),
        ("a no-break space", "\u{a0}"),
        ("a line separator", "\u{2028}"),
    ] {
        cases.push((
            format!("topic with {what}"),
            topic(json!(format!("篮球{ws}决赛"))),
            Some("topic"),
        ));
        cases.push((
            format!("content with {what}"),
            content(json!(format!("今晚篮球{ws}比赛"))),
            Some("content"),
        ));
    }
    for field in [
        "name",
        "tasks",
        "brand_list",
        "package_num",
        "active_range",
        "active_type",
    ] {
        cases.push((format!("no {field}"), unset(field), Some(field)));
    }
    // the second task is the bad one: its index is where the error is, not the first
    cases.push((
        "second task's topic with a space".into(),
        with_task(&two, 1, "topic", json!("美食 推荐")),
        Some("topic"),
    ));

    let mut seen_ids = HashSet::new();
    for (case, body, refused) in cases {
        let before = plans_snapshot(&g).await;
        let r = g.post("/user/smart_crowd/create", body.clone()).await;
        match refused {
            Some(field) => {
                assert_refused(&r, field, &case);
                assert_eq!(
                    plans_snapshot(&g).await,
                    before,
                    "{case}: a refused create made a plan"
                );
            }
            None => {
                assert_eq!((r.status, r.code()), (200, 0), "{case}: {}", r.body);
                let ids = r.body["data"]["sub_task_ids"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{case}: {}", r.body));
                let tasks = body["tasks"].as_array().map_or(0, Vec::len);
                assert_eq!(ids.len(), tasks, "{case}: one id per task");
                for id in ids {
                    let id = s(id);
                    assert!(is_unguessable(id), "{case}: guessable id {id}");
                    assert!(seen_ids.insert(id.to_owned()), "{case}: id {id} reused");
                }
                assert_eq!(
                    plans_snapshot(&g).await.len(),
                    (before.len() + 1).min(10),
                    "{case}: an accepted create makes one plan"
                );
            }
        }
    }
}

#[tokio::test]
async fn crowds_task_list_reports_known_ids_of_the_app_only() {
    let srv = TestServer::start().await;
    let app = srv.create_app().await;
    let other = srv.create_app().await;
    let g = srv.getui(&app).await;
    let g_other = srv.getui(&other).await;
    let body = plan(
        "列表计划",
        vec![basketball(), food(), task("篮球决赛", "本地特色美食")],
    );
    let ids = create(&g, body.clone()).await;
    let foreign = create(&g_other, plan("他人计划", vec![basketball()])).await;
    assert_eq!(ids.len(), 3);

    let asked = vec![
        ids[2].clone(),
        "NoSuchSubTaskId00000000".to_owned(),
        ids[0].clone(),
        foreign[0].clone(),
    ];
    let got = task_list(&g, &asked).await;
    let got_ids: Vec<&str> = got.iter().map(|e| s(&e["sub_task_id"])).collect();
    let mut sorted = got_ids.clone();
    sorted.sort_unstable();
    let mut want = vec![ids[0].as_str(), ids[2].as_str()];
    want.sort_unstable();
    assert_eq!(
        sorted, want,
        "unknown and foreign ids are left out: {got:?}"
    );
    for (i, id) in ids.iter().enumerate() {
        if i == 1 {
            continue;
        }
        let e = entry(&got, id);
        assert_eq!(e["name"], "列表计划");
        assert_eq!(e["topic"], body["tasks"][i]["topic"]);
        assert_eq!(e["content"], body["tasks"][i]["content"]);
        assert!(
            e["status"].as_i64().is_some_and(|st| (0..=5).contains(&st)),
            "{e}"
        );
        assert!(e["can_push"].is_boolean(), "{e}");
    }
    // no devices: every crowd ends at 4, empty, so nothing can be pushed
    for e in wait_ended(&g, &ids).await {
        assert_eq!(
            (&e["status"], &e["can_push"]),
            (&json!(4), &json!(false)),
            "{e}"
        );
    }
    // the other app sees its own id and nothing of the first app's
    let theirs = task_list(&g_other, &[ids[0].clone(), foreign[0].clone()]).await;
    assert_eq!(theirs.len(), 1, "{theirs:?}");
    assert_eq!(theirs[0]["sub_task_id"], foreign[0].as_str());

    let path = "/user/smart_crowd/task/list";
    for p in [
        path,
        "/user/smart_crowd/model/list",
        "/user/smart_crowd/create",
    ] {
        let r = g.with_token("").post(p, json!({})).await;
        assert_eq!((r.status, r.code()), (401, 10001), "{p} without a token");
    }
    assert_refused(
        &g.post(path, json!({ "sub_task_ids": [] })).await,
        "sub_task_ids",
        "no ids",
    );
    assert_refused(
        &g.post(path, json!({})).await,
        "sub_task_ids",
        "missing ids",
    );
    let eleven: Vec<String> = (0..11).map(|i| format!("{}{i}", ids[0])).collect();
    assert_refused(
        &g.post(path, json!({ "sub_task_ids": eleven })).await,
        "sub_task_ids",
        "11 ids",
    );
    let ten: Vec<String> = std::iter::once(ids[1].clone())
        .chain((0..9).map(|i| format!("unknown{i}")))
        .collect();
    let got = task_list(&g, &ten).await;
    assert_eq!(got.len(), 1, "ten ids are allowed: {got:?}");
}

#[tokio::test]
async fn crowds_model_list_filters_orders_and_caps() {
    let srv = TestServer::start().await;
    let app = srv.create_app().await;
    let g = srv.getui(&app).await;

    let before = now_ms();
    let body = plan_with(
        "old篮球",
        vec![basketball(), food()],
        json!({ "brand_list": ["xm", "vv", "hw"], "package_num": 2000, "active_range": 15,
                "active_type": -1, "is_overlap": true }),
    );
    let old = create(&g, body).await;
    let after = now_ms();
    let mut all_ids = old.clone();
    for i in 1..=12 {
        let ids = create(&g, plan(&format!("批次{i:02}"), vec![basketball()])).await;
        all_ids.extend(ids);
    }

    let got = models(&g, json!({ "name": "old篮球" })).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let p = &got[0];
    assert_eq!(p["name"], "old篮球");
    let t = &p["parent_task"];
    assert_eq!(
        t["brand_list"], "xm,vv,hw",
        "comma-joined in the given order"
    );
    assert_eq!(
        (
            &t["active_range"],
            &t["active_type"],
            &t["package_num"],
            &t["is_overlap"]
        ),
        (&json!(15), &json!(-1), &json!(2000), &json!(true))
    );
    let b = basketball();
    let f = food();
    assert_eq!(
        t["sub_task_list"],
        json!([
            { "sub_task_id": old[0], "topic": b["topic"], "content": b["content"] },
            { "sub_task_id": old[1], "topic": f["topic"], "content": f["content"] }
        ])
    );
    let ct = p["create_time"].as_i64().expect("create_time in ms");
    assert!(
        (before - 1000..=after + 1000).contains(&ct),
        "create_time {ct} not within [{before}, {after}]"
    );
    assert!((0..=5).contains(&p["status"].as_i64().unwrap_or(-1)), "{p}");

    // newest first, at most ten
    let listed = models(&g, json!({})).await;
    let names: Vec<&str> = listed.iter().map(|p| s(&p["name"])).collect();
    let want: Vec<String> = (3..=12).rev().map(|i| format!("批次{i:02}")).collect();
    assert_eq!(names, want);
    assert!(listed
        .windows(2)
        .all(|w| w[0]["create_time"].as_i64() >= w[1]["create_time"].as_i64()));
    assert_eq!(
        listed[0]["parent_task"]["is_overlap"], false,
        "is_overlap defaults to false"
    );
    assert_eq!(listed[0]["parent_task"]["brand_list"], ALL_BRANDS.join(","));
    // filters apply before the cap: the oldest plan is found by name
    let names_of =
        |v: Vec<Value>| -> Vec<String> { v.iter().map(|p| s(&p["name"]).to_owned()).collect() };
    assert_eq!(
        names_of(models(&g, json!({ "name": "批次1" })).await),
        ["批次12", "批次11", "批次10"]
    );
    assert_eq!(
        names_of(models(&g, json!({ "name": "篮" })).await),
        ["old篮球"]
    );
    assert!(models(&g, json!({ "name": "不存在" })).await.is_empty());

    // status: once all have succeeded, 4 matches and 0 does not
    wait_succeeded(&g, &all_ids).await;
    assert_eq!(models(&g, json!({ "status": 4 })).await.len(), 10);
    assert_eq!(
        names_of(models(&g, json!({ "status": 4, "name": "old" })).await),
        ["old篮球"]
    );
    assert!(models(&g, json!({ "status": 0 })).await.is_empty());
    assert!(models(&g, json!({ "status": 5 })).await.is_empty());
    // the trailing-slash form some SDKs send
    let r = g
        .post(
            "/user/smart_crowd/model/list/",
            json!({ "name": "old篮球" }),
        )
        .await;
    assert_eq!(r.ok().as_array().map(Vec::len), Some(1));
    for p in models(&g, json!({})).await {
        assert_eq!(p["status"], 4, "{p}");
    }

    for bad in [
        json!("x"),
        json!(7),
        json!(-1),
        json!(6),
        json!("4"),
        json!(true),
    ] {
        assert_refused(
            &g.post("/user/smart_crowd/model/list", json!({ "status": bad }))
                .await,
            "status",
            &format!("status {bad}"),
        );
    }
}

#[tokio::test]
async fn crowds_of_one_app_are_invisible_to_another() {
    let srv = TestServer::start().await;
    let (a, b) = (Api::create(&srv).await, Api::create(&srv).await);
    let (ga, _) = a.basketball_fans(20, "hw", 20).await;
    let (gb, _) = b.basketball_fans(5, "hw", 5).await;
    let ids = create(&ga, plan("甲方计划", vec![basketball()])).await;
    wait_succeeded(&ga, &ids).await;
    let id = ids[0].as_str();
    let size = a.crowd(id).await["size"].as_u64();
    assert_eq!(size, Some(20));

    assert!(task_list(&gb, &ids).await.is_empty());
    assert!(models(&gb, json!({})).await.is_empty());
    assert!(models(&gb, json!({ "name": "甲方" })).await.is_empty());
    assert_native_error(
        b.native(Method::GET, &format!("/crowds/{id}"), None).await,
        404,
        "not_found",
        "another app's crowd",
    );
    assert_native_error(
        b.stop(id).await,
        404,
        "not_found",
        "stop another app's crowd",
    );
    // still whole for its own app
    assert_eq!(a.crowd(id).await["status"], 4);
    assert_eq!(a.count(json!({ "crowd": id })).await, 20);
    assert_eq!(models(&ga, json!({})).await.len(), 1);
    // a foreign crowd in a selector is one this app does not have: 404 not_found
    for selector in [
        json!({ "crowd": id }),
        json!({ "not": { "crowd": id } }),
        json!({ "or": [{ "brand": "hw" }, { "crowd": id }] }),
    ] {
        let case = format!("another app's crowd in {selector}");
        assert_native_error(b.count_raw(selector.clone()).await, 404, "not_found", &case);
        assert_native_error(b.cids_raw(selector).await, 404, "not_found", &case);
    }
}

#[tokio::test]
async fn crowds_native_view_stop_and_selector() {
    let srv = TestServer::start().await;
    let api = Api::create(&srv).await;
    let (g, cids) = api.basketball_fans(30, "xm", 10).await;
    let before = now_ms();
    let ids = create(
        &g,
        plan_with(
            "原生视图",
            vec![basketball(), unmatched()],
            json!({ "brand_list": ["xm", "hw"], "package_num": 1500, "active_range": 7 }),
        ),
    )
    .await;
    let got = wait_succeeded(&g, &ids).await;
    assert_eq!(got[0]["can_push"], true);
    assert_eq!(got[1]["can_push"], false, "copy matching nobody");

    let c = api.crowd(&ids[0]).await;
    assert_eq!(c["sub_task_id"], ids[0].as_str());
    assert_eq!(c["name"], "原生视图");
    assert_eq!(c["topic"], basketball()["topic"]);
    assert_eq!(c["content"], basketball()["content"]);
    assert_eq!((&c["status"], &c["can_push"]), (&json!(4), &json!(true)));
    assert_eq!(c["size"], 10);
    assert!(c["scored"].as_u64().is_some_and(|n| n >= 10), "{c}");
    assert_eq!(c["attempts"], 1, "nothing died: claimed once");
    let created = c["create_time"].as_i64().expect("create_time");
    let started = c["started_at"].as_i64().expect("started_at");
    let ended = c["ended_at"].as_i64().expect("ended_at");
    assert!(
        before - 1000 <= created
            && created <= started
            && started <= ended
            && ended <= now_ms() + 1000,
        "{c}"
    );
    let want = json!({ "sub_task_ids": ids, "brand_list": ["xm", "hw"], "active_range": 7,
                       "active_type": 1, "package_num": 1500, "is_overlap": false });
    for (k, v) in want.as_object().into_iter().flatten() {
        assert_eq!(&c["plan"][k], v, "plan.{k}: {c}");
    }
    let terms = c["terms"].as_array().expect("terms");
    assert!(!terms.is_empty(), "{c}");
    assert!(
        terms
            .iter()
            .all(|t| t["term"].is_string() && t["weight"].is_number()),
        "{c}"
    );
    assert!(
        terms.iter().any(|t| s(&t["term"]).contains("篮球")),
        "the copy's words include 篮球: {terms:?}"
    );
    let empty = api.crowd(&ids[1]).await;
    assert_eq!(
        (&empty["status"], &empty["can_push"], &empty["size"]),
        (&json!(4), &json!(false), &json!(0))
    );

    // the selector leaf, alone and nested
    let planted: HashSet<String> = cids[..10].iter().cloned().collect();
    assert_eq!(api.crowd_members(&ids[0]).await, planted);
    assert_eq!(api.count(json!({ "crowd": ids[1] })).await, 0);
    assert_eq!(api.count(json!({ "not": { "crowd": ids[0] } })).await, 20);
    assert_eq!(
        api.count(json!({ "and": [{ "crowd": ids[0] }, { "cid": [cids[0], cids[20]] }] }))
            .await,
        1
    );
    assert_eq!(
        api.count(json!({ "or": [{ "crowd": ids[0] }, { "crowd": ids[1] }] }))
            .await,
        10
    );

    // a crowd is a snapshot: later tag changes do not move it
    let r = g
        .delete(
            &format!("/user/custom_tag/batch/{}", pct("篮球")),
            json!({ "cid": [cids[0]] }),
        )
        .await;
    assert_eq!(r.ok()[&cids[0]], "true");
    tag(&g, "篮球", &cids[20..21]).await;
    assert_eq!(api.crowd_members(&ids[0]).await, planted);

    let (st, stopped) = api.stop(&ids[0]).await;
    assert_eq!(st, StatusCode::OK, "{stopped}");
    assert_eq!(stopped["sub_task_id"], ids[0].as_str());
    assert_eq!(
        (&stopped["status"], &stopped["size"]),
        (&json!(4), &json!(10))
    );
    assert_eq!(api.crowd(&ids[0]).await["status"], 4);
    assert_eq!(api.count(json!({ "crowd": ids[0] })).await, 10);
    assert_eq!(task_list(&g, &ids[..1]).await[0]["can_push"], true);
    assert_native_error(
        api.stop("NoSuchSubTaskId00000000").await,
        404,
        "not_found",
        "stop an unknown id",
    );
    assert_native_error(
        api.native(Method::GET, "/crowds/NoSuchSubTaskId00000000", None)
            .await,
        404,
        "not_found",
        "an unknown id",
    );
    // an unknown crowd in a selector: 404 not_found (the request itself is well formed)
    for selector in [
        json!({ "crowd": "NoSuchSubTaskId00000000" }),
        json!({ "and": [{ "brand": "xm" }, { "crowd": "NoSuchSubTaskId00000000" }] }),
    ] {
        let case = format!("{selector}");
        assert_native_error(
            api.count_raw(selector.clone()).await,
            404,
            "not_found",
            &case,
        );
        assert_native_error(api.cids_raw(selector).await, 404, "not_found", &case);
    }
}

#[tokio::test]
async fn crowds_device_history_fields_and_events() {
    let srv = TestServer::start().await;
    let api = Api::create(&srv).await;
    let g = api.getui().await;
    let now = now_ms();
    let (created, login) = (now - 10 * DAY_MS, now - 2 * DAY_MS);
    let cids = api
        .register(vec![
            json!({ "cid": "hist-both", "phone_type": "android", "create_time": created,
                    "last_login_time": login }),
            json!({ "cid": "hist-created", "phone_type": "ios", "create_time": created }),
        ])
        .await;
    assert_eq!(cids, ["hist-both", "hist-created"]);
    let d = api.device("hist-both").await;
    assert_eq!(
        (&d["create_time"], &d["last_login_time"]),
        (&json!(created), &json!(login))
    );
    let d = api.device("hist-created").await;
    assert_eq!(
        (&d["create_time"], &d["last_login_time"]),
        (&json!(created), &json!(created)),
        "last_login_time defaults to create_time"
    );
    // an upsert of a known device sets both as given
    let (earlier, later) = (now - 20 * DAY_MS, now - 3 * DAY_MS);
    api.register(vec![json!({ "cid": "hist-created", "create_time": earlier,
                              "last_login_time": later })])
        .await;
    let d = api.device("hist-created").await;
    assert_eq!(
        (&d["create_time"], &d["last_login_time"]),
        (&json!(earlier), &json!(later))
    );
    // Getui's user/status shows it too, as ms digits
    let status = |cid: &'static str| {
        let g = &g;
        async move {
            let r = g.get(&format!("/user/status/{cid}")).await;
            r.ok()[cid]["last_login_time"].clone()
        }
    };
    assert_eq!(status("hist-both").await, login.to_string());

    let future = now + 3_600_000;
    for (case, device) in [
        (
            "future create_time",
            json!({ "phone_type": "ios", "create_time": future }),
        ),
        (
            "future last_login_time",
            json!({ "phone_type": "ios", "last_login_time": future }),
        ),
        (
            "zero create_time",
            json!({ "phone_type": "ios", "create_time": 0 }),
        ),
        (
            "negative last_login_time",
            json!({ "phone_type": "ios", "last_login_time": -5 }),
        ),
        (
            "create_time a string",
            json!({ "phone_type": "ios", "create_time": created.to_string() }),
        ),
        (
            "last_login_time a fraction",
            json!({ "phone_type": "ios", "last_login_time": 1.5 }),
        ),
    ] {
        let got = api
            .post(
                "/devices",
                json!([{ "cid": "hist-bad", "phone_type": "ios" }, device]),
            )
            .await;
        assert_native_error(got, 400, "invalid_param", case);
    }
    let (st, _) = api.native(Method::GET, "/devices/hist-bad", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "a refused batch wrote nothing");

    // an older login does not move last_login_time back; a newer one does
    let ev = |body: Value| api.event("hist-both", body);
    assert_eq!(
        ev(json!({ "type": "login", "at": now - 5 * DAY_MS }))
            .await
            .0,
        204
    );
    assert_eq!(api.device("hist-both").await["last_login_time"], login);
    assert_eq!(status("hist-both").await, login.to_string());
    let newer = now - DAY_MS;
    assert_eq!(ev(json!({ "type": "login", "at": newer })).await.0, 204);
    assert_eq!(api.device("hist-both").await["last_login_time"], newer);
    assert_eq!(status("hist-both").await, newer.to_string());

    // open: text required, refused on other types
    assert_eq!(
        ev(json!({ "type": "open", "text": BASKETBALL_OPENED }))
            .await
            .0,
        204
    );
    assert_eq!(
        ev(json!({ "type": "open", "text": BASKETBALL_OPENED, "at": now - 1000 }))
            .await
            .0,
        204
    );
    assert_native_error(
        ev(json!({ "type": "login", "text": BASKETBALL_OPENED })).await,
        400,
        "invalid_param",
        "login with text",
    );
    assert_native_error(
        ev(json!({ "type": "online", "text": BASKETBALL_OPENED })).await,
        400,
        "invalid_param",
        "online with text",
    );
    let (st, _) = api
        .event("nope", json!({ "type": "open", "text": BASKETBALL_OPENED }))
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    // a missing or empty text is a required parameter left empty: empty_param
    let code = |(st, body): (StatusCode, Value)| (st.as_u16(), body["error"]["code"].clone());
    let missing = code(ev(json!({ "type": "open" })).await);
    let empty = code(ev(json!({ "type": "open", "text": "" })).await);
    let want = (400, json!("empty_param"));
    assert_eq!(
        (missing, empty),
        (want.clone(), want),
        "(open without text, open with empty text)"
    );
}
