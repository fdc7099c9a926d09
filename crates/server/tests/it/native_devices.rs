//! Browsing, deleting, and the native tag, alias and blacklist writes, over HTTP.

use std::collections::HashSet;

use reqwest::{Method, StatusCode};
use roster_testkit::{s, Fixture, Native, TestServer};
use serde_json::{json, Value};

fn devices(n: usize, phone: &str) -> Value {
    Value::Array((0..n).map(|_| json!({ "phone_type": phone })).collect())
}

/// Every page of `GET /devices?…` from the first, following `next_cursor`; `between`
/// runs after each page.
async fn all_pages(n: &Native<'_>, query: &str, mut between: impl AsyncFnMut()) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/devices?{query}&cursor={c}"),
            None => format!("/devices?{query}"),
        };
        let (st, page) = n.get(&path).await;
        assert_eq!(st, StatusCode::OK, "{page}");
        out.extend(page["devices"].as_array().expect("devices").iter().cloned());
        between().await;
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return out,
        }
    }
}

fn cids(devices: &[Value]) -> Vec<String> {
    devices.iter().map(|d| s(&d["cid"]).to_owned()).collect()
}

fn distinct(cids: &[String]) -> HashSet<&str> {
    let set: HashSet<&str> = cids.iter().map(String::as_str).collect();
    assert_eq!(set.len(), cids.len(), "a device was listed twice");
    set
}

#[tokio::test]
async fn device_pages_list_every_device_once() {
    let f = Fixture::start(devices(250, "android")).await;
    let n = &f.srv.native(&f.app);
    let listed = all_pages(n, "limit=100", async || {}).await;
    let got = cids(&listed);
    assert_eq!(distinct(&got), f.cids.iter().map(String::as_str).collect());
    // in registration order, each as GET shows it
    assert_eq!(got, f.cids);
    assert_eq!(listed[7], n.device(&f.cids[7]).await);
    // the default page is 100, and a page that ends the listing says so
    let (_, page) = n.get("/devices").await;
    assert_eq!(page["devices"].as_array().map(Vec::len), Some(100));
    let (_, page) = n.get("/devices?limit=1000").await;
    assert_eq!(page["devices"].as_array().map(Vec::len), Some(250));
    assert_eq!(page["next_cursor"], Value::Null);
}

#[tokio::test]
async fn device_pages_hold_under_concurrent_inserts() {
    let f = Fixture::start(devices(300, "ios")).await;
    let writer = {
        let (http, base, app) = (f.srv.http.clone(), f.srv.base.clone(), f.app.clone());
        tokio::spawn(async move {
            let mut added = 0;
            for _ in 0..30 {
                added += roster_testkit::register(&http, &base, &app, devices(10, "android"))
                    .await
                    .len();
            }
            added
        })
    };
    let n = &f.srv.native(&f.app);
    let listed = all_pages(n, "limit=37", async || {
        f.srv.register(&f.app, devices(3, "android")).await;
    })
    .await;
    let got = cids(&listed);
    let set = distinct(&got);
    for c in &f.cids {
        assert!(
            set.contains(c.as_str()),
            "{c}, there at the start, was skipped"
        );
    }
    assert_eq!(writer.await.expect("writer"), 300);
    assert!(got.len() >= 300);
}

#[tokio::test]
async fn device_pages_filter_by_selector() {
    let f = Fixture::start(devices(6, "android")).await;
    f.srv.register(&f.app, devices(4, "ios")).await;
    let n = &f.srv.native(&f.app);
    for c in &f.cids[..3] {
        let (st, _) = n
            .call(
                Method::PUT,
                &format!("/devices/{c}/tags"),
                Some(&json!({ "tags": ["vip"] })),
            )
            .await;
        assert_eq!(st, StatusCode::OK);
    }
    let ios = "selector=%7B%22phone_type%22%3A%22ios%22%7D&limit=3";
    let listed = all_pages(n, ios, async || {}).await;
    assert_eq!(listed.len(), 4);
    assert!(listed.iter().all(|d| d["phone_type"] == "ios"));
    let vip = "selector=%7B%22and%22%3A%5B%7B%22tag%22%3A%22vip%22%7D%5D%7D";
    let listed = all_pages(n, vip, async || {}).await;
    assert_eq!(cids(&listed), f.cids[..3]);
}

#[tokio::test]
async fn bad_page_requests_are_refused() {
    let f = Fixture::start(devices(3, "android")).await;
    let n = &f.srv.native(&f.app);
    let (_, page) = n.get("/devices?limit=1").await;
    let cursor = s(&page["next_cursor"]).to_owned();
    let (_, users) = n.get("/users?limit=1").await;
    assert_eq!(users["users"], json!([]));
    for (path, names) in [
        ("/devices?limit=0", "limit"),
        ("/devices?limit=1001", "limit"),
        ("/devices?limit=ten", "limit"),
        ("/devices?cursor=garbage", "cursor"),
        ("/devices?cursor=ZDE6LTE", "cursor"),
        ("/devices?page=2", "page"),
        ("/devices?selector=%7B%22tag%22%3A1%7D", "selector"),
        ("/devices?selector=%7B%22nope%22%3A1%7D", "nope"),
        ("/devices?selector=%5Bnot%20json", "selector"),
        ("/users?cursor=garbage", "cursor"),
        ("/users?limit=0", "limit"),
        ("/users?selector=%7B%7D", "selector"),
    ] {
        let (st, body) = n.get(path).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(body["error"]["code"], "invalid_param", "{path}");
        let msg = s(&body["error"]["message"]);
        assert!(msg.contains(names), "{path}: {msg}");
    }
    // a device cursor does not page users
    let (st, _) = n.get(&format!("/users?cursor={cursor}")).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, page) = n.get(&format!("/devices?cursor={cursor}")).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        cids(page["devices"].as_array().expect("devices")),
        f.cids[1..]
    );
}

#[tokio::test]
async fn a_deleted_device_leaves_everything() {
    let f = Fixture::start(devices(3, "android")).await;
    let n = &f.srv.native(&f.app);
    let (gone, kept) = (f.cids[0].as_str(), f.cids[1].as_str());
    let put = |c: &str, what: &str, body: Value| {
        let path = format!("/devices/{c}/{what}");
        async move { n.call(Method::PUT, &path, Some(&body)).await }
    };
    assert_eq!(
        put(gone, "tags", json!({ "tags": ["vip", "x"] })).await.0,
        200
    );
    assert_eq!(put(gone, "alias", json!({ "alias": "team" })).await.0, 200);
    assert_eq!(put(kept, "alias", json!({ "alias": "team" })).await.0, 200);
    let (_, user) = n
        .post(
            "/users",
            json!({ "identities": { "registration_id": [gone, kept] } }),
        )
        .await;
    let uid = user["uid"].as_i64().expect("uid");
    let count = |sel: Value| async move {
        let (_, c) = n.post("/audience/count", json!({ "selector": sel })).await;
        c["count"].as_u64().expect("count")
    };
    assert_eq!(count(json!({ "tag": "vip" })).await, 1);

    let (st, _) = n
        .call(Method::DELETE, &format!("/devices/{gone}"), None)
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, body) = n.get(&format!("/devices/{gone}")).await;
    assert_eq!(
        (st, s(&body["error"]["code"])),
        (StatusCode::NOT_FOUND, "unknown_target")
    );
    assert_eq!(count(json!({ "all": true })).await, 2);
    assert_eq!(count(json!({ "tag": "vip" })).await, 0);
    assert_eq!(count(json!({ "alias": "team" })).await, 1);
    let by_alias = f.getui.get("/user/cid/alias/team").await;
    assert_eq!(by_alias.ok()["cid"], json!([kept]));
    let (_, user) = n.get(&format!("/users/{uid}")).await;
    assert_eq!(user["devices"], json!([kept]));
    let (_, listed) = n.get("/devices").await;
    assert_eq!(
        cids(listed["devices"].as_array().expect("devices")),
        f.cids[1..]
    );
    let (st, _) = n
        .call(Method::DELETE, &format!("/devices/{gone}"), None)
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    // the feed says so
    let r = n
        .request(Method::GET, "/changes")
        .send()
        .await
        .expect("feed");
    let feed = r.text().await.expect("text");
    let line = feed
        .lines()
        .find(|l| l.contains("\"device_deleted\""))
        .expect("a device_deleted line");
    let line: Value = serde_json::from_str(line).expect("json");
    assert_eq!(line["cid"], gone);
    assert_eq!(line["device"]["tags"], json!(["vip", "x"]));

    // registered again: a new device, last in the listing, with nothing of the old one
    f.srv
        .register(&f.app, json!([{ "cid": gone, "phone_type": "ios" }]))
        .await;
    let d = n.device(gone).await;
    assert_eq!(
        (d["tags"].clone(), d["alias"].clone()),
        (json!([]), Value::Null)
    );
    let (_, listed) = n.get("/devices").await;
    let order = cids(listed["devices"].as_array().expect("devices"));
    assert_eq!(order, [kept, f.cids[2].as_str(), gone]);
    assert_eq!(count(json!({ "all": true })).await, 3);
}

#[tokio::test]
async fn users_page_and_delete() {
    let srv = TestServer::start().await;
    let app = srv.create_app().await;
    let n = &srv.native(&app);
    let mut uids = Vec::new();
    for i in 0..5 {
        let (_, u) = n
            .post(
                "/users",
                json!({ "identities": { "anonymous_id": format!("a{i}") } }),
            )
            .await;
        uids.push(u["uid"].as_i64().expect("uid"));
    }
    let (st, page) = n.get("/users?limit=2").await;
    assert_eq!(st, StatusCode::OK);
    let first: Vec<i64> = page["users"]
        .as_array()
        .expect("users")
        .iter()
        .map(|u| u["uid"].as_i64().unwrap_or(0))
        .collect();
    assert_eq!(first, uids[..2]);
    assert_eq!(
        page["users"][0],
        n.get(&format!("/users/{}", uids[0])).await.1
    );
    let (st, _) = n
        .call(Method::DELETE, &format!("/users/{}", uids[2]), None)
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _) = n
        .call(Method::DELETE, &format!("/users/{}", uids[2]), None)
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = n.get(&format!("/users/{}", uids[2])).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = n.get("/users/by_identity/anonymous_id/a2").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let cursor = s(&page["next_cursor"]).to_owned();
    let (_, rest) = n.get(&format!("/users?cursor={cursor}")).await;
    let rest: Vec<i64> = rest["users"]
        .as_array()
        .expect("users")
        .iter()
        .map(|u| u["uid"].as_i64().unwrap_or(0))
        .collect();
    assert_eq!(rest, [uids[3], uids[4]]);
    // the same identity makes a new user, with a new uid
    let (_, again) = n
        .post("/users", json!({ "identities": { "anonymous_id": "a2" } }))
        .await;
    assert!(again["uid"].as_i64().unwrap_or(0) > uids[4]);
}

#[tokio::test]
async fn native_tags_follow_getui_rules_without_its_quota() {
    let f = Fixture::start(devices(2, "android")).await;
    let n = &f.srv.native(&f.app);
    let c = f.cids[0].as_str();
    let tags = format!("/devices/{c}/tags");
    let put = |body: Value| {
        let tags = tags.clone();
        async move { n.call(Method::PUT, &tags, Some(&body)).await }
    };
    let patch = |body: Value| {
        let tags = tags.clone();
        async move { n.call(Method::PATCH, &tags, Some(&body)).await }
    };
    // overwritten twice the same day: fine natively…
    let (st, r) = put(json!({ "tags": ["b", "a", "喜爱足球"] })).await;
    assert_eq!(
        (st, r),
        (
            StatusCode::OK,
            json!({ "cid": c, "tags": ["a", "b", "喜爱足球"] })
        )
    );
    let (st, _) = put(json!({ "tags": ["keep"] })).await;
    assert_eq!(st, StatusCode::OK);
    // …while Getui's once-a-day overwrite refuses its second
    let g = &f.getui;
    let path = format!("/user/custom_tag/cid/{}", f.cids[1]);
    g.post(&path, json!({ "custom_tag": ["one"] })).await.ok();
    let second = g.post(&path, json!({ "custom_tag": ["two"] })).await;
    assert_eq!(
        (second.status, second.code()),
        (403, 30011),
        "{}",
        second.body
    );

    let hundred_one: Vec<String> = (0..101).map(|i| format!("{i}")).collect();
    let long: Vec<String> = (0..100).map(|i| format!("t{i:05}")).collect();
    for (body, code) in [
        (json!({ "tags": hundred_one }), "size_over_limit"),
        (json!({ "tags": long }), "size_over_limit"),
        (json!({ "tags": ["a b"] }), "invalid_param"),
        (json!({ "tags": ["x".repeat(33)] }), "size_over_limit"),
        (json!({ "tags": ["a", "a"] }), "duplicate"),
        (json!({ "tags": "a" }), "invalid_param"),
        (json!({ "tag": ["a"] }), "invalid_param"),
    ] {
        let (st, r) = put(body.clone()).await;
        assert_eq!(
            (st, s(&r["error"]["code"])),
            (StatusCode::BAD_REQUEST, code),
            "{body}"
        );
    }
    assert_eq!(
        n.device(c).await["tags"],
        json!(["keep"]),
        "nothing changed"
    );

    // add and remove at once; the 101st tag is refused and nothing changes
    let (st, r) = patch(json!({ "add": ["x", "y"], "remove": ["keep"] })).await;
    assert_eq!((st, r["tags"].clone()), (StatusCode::OK, json!(["x", "y"])));
    let ninety_eight: Vec<String> = (0..98).map(|i| format!("n{i}")).collect();
    let (st, r) = patch(json!({ "add": ninety_eight })).await;
    assert_eq!(
        (st, r["tags"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(100))
    );
    let (st, r) = patch(json!({ "add": ["one_more"] })).await;
    assert_eq!(
        (st, s(&r["error"]["code"])),
        (StatusCode::BAD_REQUEST, "size_over_limit")
    );
    let (st, r) = patch(json!({ "add": ["one_more"], "remove": ["x"] })).await;
    assert_eq!(st, StatusCode::OK, "{r}");
    assert_eq!(
        n.device(c).await["tags"].as_array().map(Vec::len),
        Some(100)
    );
    let (st, r) = patch(json!({ "add": ["bad tag"] })).await;
    assert_eq!(
        (st, s(&r["error"]["code"])),
        (StatusCode::BAD_REQUEST, "invalid_param")
    );
    let (st, _) = n
        .call(
            Method::PUT,
            "/devices/nope/tags",
            Some(&json!({ "tags": [] })),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn native_alias_and_blacklist_follow_getui_rules() {
    let f = Fixture::start(devices(11, "android")).await;
    let n = &f.srv.native(&f.app);
    let alias = |c: &str| format!("/devices/{c}/alias");
    for c in &f.cids[..10] {
        let (st, r) = n
            .call(Method::PUT, &alias(c), Some(&json!({ "alias": "张三_01" })))
            .await;
        assert_eq!(
            (st, r),
            (StatusCode::OK, json!({ "cid": c, "alias": "张三_01" }))
        );
    }
    // the eleventh is refused, as Getui refuses it
    let (st, r) = n
        .call(
            Method::PUT,
            &alias(&f.cids[10]),
            Some(&json!({ "alias": "张三_01" })),
        )
        .await;
    assert_eq!(
        (st, s(&r["error"]["code"])),
        (StatusCode::BAD_REQUEST, "size_over_limit")
    );
    assert_eq!(n.device(&f.cids[10]).await["alias"], Value::Null);
    let g = f.getui.post(
        "/user/alias",
        json!({ "data_list": [{ "cid": f.cids[10], "alias": "张三_01" }] }),
    );
    g.await.param_error("cid size over limit");
    for (body, code) in [
        (json!({ "alias": "a b" }), "invalid_param"),
        (json!({ "alias": "a".repeat(40) }), "invalid_param"),
        (json!({ "alias": "" }), "empty_param"),
        (json!({}), "invalid_param"),
    ] {
        let (st, r) = n.call(Method::PUT, &alias(&f.cids[0]), Some(&body)).await;
        assert_eq!(
            (st, s(&r["error"]["code"])),
            (StatusCode::BAD_REQUEST, code),
            "{body}"
        );
    }
    assert_eq!(n.device(&f.cids[0]).await["alias"], "张三_01");
    // moving one out makes room
    let (st, r) = n.call(Method::DELETE, &alias(&f.cids[0]), None).await;
    assert_eq!((st, r["alias"].clone()), (StatusCode::OK, Value::Null));
    let (st, _) = n
        .call(
            Method::PUT,
            &alias(&f.cids[10]),
            Some(&json!({ "alias": "张三_01" })),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (st, r) = n.call(Method::DELETE, &alias(&f.cids[0]), None).await;
    assert_eq!((st, r["alias"].clone()), (StatusCode::OK, Value::Null));
    let (st, _) = n.call(Method::DELETE, &alias("nope"), None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    let black = format!("/devices/{}/blacklist", f.cids[1]);
    let (st, r) = n.call(Method::PUT, &black, None).await;
    assert_eq!(
        (st, r),
        (
            StatusCode::OK,
            json!({ "cid": f.cids[1], "blacklisted": true })
        )
    );
    assert_eq!(n.device(&f.cids[1]).await["blacklisted"], true);
    let (_, c) = n
        .post(
            "/audience/count",
            json!({ "selector": { "all": true }, "exclude_blacklisted": true }),
        )
        .await;
    assert_eq!(c["count"], 10);
    let (st, r) = n.call(Method::DELETE, &black, None).await;
    assert_eq!(
        (st, r["blacklisted"].clone()),
        (StatusCode::OK, json!(false))
    );
    let (st, _) = n.call(Method::PUT, "/devices/nope/blacklist", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}
