//! Getui `user/count` and the native audience API over HTTP.

use reqwest::Method;
use roster_testkit::{s, Fixture, Getui, TestServer};
use serde_json::{json, Value};

async fn setup() -> (TestServer, Value, Getui, Vec<String>) {
    let f = Fixture::start(json!([
        { "phone_type": "android", "region": "11010000", "brand": "hw" },
        { "phone_type": "android", "region": "31010000", "brand": "xm" },
        { "phone_type": "android", "region": "44010000", "notification_switch": false },
        { "phone_type": "ios", "region": "11020000", "brand": "iphone" },
        { "phone_type": "ios" }
    ]))
    .await;
    (f.srv, f.app, f.getui, f.cids)
}

fn cond(key: &str, values: Value, opt: &str) -> Value {
    json!({ "key": key, "values": values, "opt_type": opt })
}

async fn count(g: &roster_testkit::Getui, conds: Value) -> u64 {
    g.post("/user/count", json!({ "tag": conds })).await.ok()["user_count"]
        .as_u64()
        .unwrap_or(u64::MAX)
}

#[tokio::test]
async fn user_count_follows_the_spec() {
    let (_srv, _app, g, cids) = setup().await;
    g.put(
        "/user/custom_tag/batch/x",
        json!({ "cid": [cids[1], cids[3]] }),
    )
    .await
    .ok();
    assert_eq!(
        count(&g, json!([cond("phone_type", json!(["android"]), "or")])).await,
        3
    );
    assert_eq!(
        count(
            &g,
            json!([cond("phone_type", json!(["android", "ios"]), "or")])
        )
        .await,
        5
    );
    assert_eq!(
        count(
            &g,
            json!([cond("phone_type", json!(["android", "ios"]), "and")])
        )
        .await,
        0
    );
    // province codes match their cities
    assert_eq!(
        count(&g, json!([cond("region", json!(["11000000"]), "or")])).await,
        2
    );
    assert_eq!(
        count(
            &g,
            json!([cond("region", json!(["11000000", "31000000"]), "or")])
        )
        .await,
        3
    );
    // android AND (Beijing OR Shanghai) AND NOT tag x
    let q = json!([
        cond("phone_type", json!(["android"]), "and"),
        cond("region", json!(["11000000", "31000000"]), "or"),
        cond("custom_tag", json!(["x"]), "not"),
    ]);
    assert_eq!(count(&g, q.clone()).await, 1);
    // a write acknowledged before the count is visible to it
    g.delete("/user/custom_tag/batch/x", json!({ "cid": [cids[1]] }))
        .await
        .ok();
    assert_eq!(count(&g, q).await, 2);
    // blacklisted devices are not counted: they receive no pushes
    g.post(&format!("/user/black/cid/{}", cids[0]), json!(null))
        .await
        .ok();
    assert_eq!(
        count(&g, json!([cond("phone_type", json!(["android"]), "or")])).await,
        2
    );
    // the trailing-slash form the Java SDK uses
    let r = g
        .post(
            "/user/count/",
            json!({ "tag": [cond("phone_type", json!(["ios"]), "or")] }),
        )
        .await;
    assert_eq!(r.ok()["user_count"], 2);
}

#[tokio::test]
async fn user_count_refuses_bad_conditions() {
    let (_srv, _app, g, _) = setup().await;
    g.post("/user/count", json!({}))
        .await
        .param_error("tag can not be empty");
    g.post("/user/count", json!({ "tag": [] }))
        .await
        .param_error("tag can not be empty");
    g.post(
        "/user/count",
        json!({ "tag": [cond("os", json!(["a"]), "or")] }),
    )
    .await
    .param_error("key is invalid");
    g.post(
        "/user/count",
        json!({ "tag": [cond("phone_type", json!([]), "or")] }),
    )
    .await
    .param_error("values can not be empty");
    g.post(
        "/user/count",
        json!({ "tag": [cond("phone_type", json!(["wp"]), "or")] }),
    )
    .await
    .param_error("values is invalid");
    g.post(
        "/user/count",
        json!({ "tag": [cond("region", json!(["1100"]), "or")] }),
    )
    .await
    .param_error("values is invalid");
    g.post(
        "/user/count",
        json!({ "tag": [cond("custom_tag", json!(["a"]), "xor")] }),
    )
    .await
    .param_error("opt_type is invalid");
}

#[tokio::test]
async fn native_count_and_streamed_cids() {
    let (srv, app, g, cids) = setup().await;
    g.post(
        "/user/alias",
        json!({ "data_list": [{ "cid": cids[4], "alias": "vip" }] }),
    )
    .await
    .ok();
    g.post(&format!("/user/black/cid/{}", cids[1]), json!(null))
        .await
        .ok();
    let native = srv.native(&app);
    let post = |path: &str, body: Value| {
        native
            .request(Method::POST, &format!("/audience/{path}"))
            .json(&body)
            .send()
    };
    let q = json!({ "selector": { "or": [
        { "and": [{ "phone_type": "android" }, { "not": { "brand": "hw" } }] },
        { "alias": "vip" },
        { "cid": [cids[0]] }
    ] }, "exclude_blacklisted": true, "exclude_notification_off": true });
    let r = post("count", q.clone()).await.expect("count");
    assert_eq!(r.status(), 200);
    // android non-hw: cids 1 (blacklisted), 2 (notifications off); alias vip: 4; cid 0
    assert_eq!(
        r.json::<Value>().await.expect("json"),
        json!({ "count": 2 })
    );
    let r = post("cids", q).await.expect("cids");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/x-ndjson");
    let text = r.text().await.expect("body");
    let got: Vec<String> = text
        .lines()
        .map(|l| s(&serde_json::from_str::<Value>(l).expect("line")["cid"]).to_owned())
        .collect();
    assert_eq!(got, vec![cids[0].clone(), cids[4].clone()]);
    // bad selectors are 400 with the native envelope
    for bad in [
        json!({ "selector": { "region": "1" } }),
        json!({ "selector": { "tag": "a b" } }),
        json!({}),
        json!({ "selector": { "xor": [] } }),
    ] {
        let r = post("count", bad.clone()).await.expect("count");
        assert_eq!(r.status(), 400, "{bad}");
        assert_eq!(
            r.json::<Value>().await.expect("json")["error"]["code"],
            "invalid_param"
        );
    }
}

#[tokio::test]
async fn counts_survive_restart_and_listing_pages_through_many() {
    let (mut srv, app, _g, _) = setup().await;
    let many: Vec<Value> = (0..1000)
        .map(|i| json!({ "phone_type": if i % 2 == 0 { "android" } else { "ios" } }))
        .collect();
    for _ in 0..25 {
        srv.register(&app, Value::Array(many.clone())).await;
    }
    srv.restart().await;
    let g = srv.getui(&app).await;
    assert_eq!(
        count(&g, json!([cond("phone_type", json!(["ios"]), "or")])).await,
        12_502
    );
    let r = srv
        .native(&app)
        .request(Method::POST, "/audience/cids")
        .json(&json!({ "selector": { "phone_type": "ios" } }))
        .send()
        .await
        .expect("cids");
    let text = r.text().await.expect("body");
    let lines: std::collections::HashSet<&str> = text.lines().collect();
    assert_eq!(
        lines.len(),
        12_502,
        "every member once, across pages of 10,000"
    );
}
