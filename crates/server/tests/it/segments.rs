//! Device property selectors and saved segments over HTTP.

use reqwest::Method;
use roster_testkit::{s, Fixture, TestServer};
use serde_json::{json, Value};

async fn setup() -> (TestServer, Value, Vec<String>) {
    let f = Fixture::start(json!([
        { "phone_type": "android", "app_version": "1.9.2", "os": "13", "properties": { "level": 3, "plan": "gold" } },
        { "phone_type": "android", "app_version": "1.10.0", "os": "14", "properties": { "level": 10 } },
        { "phone_type": "ios", "app_version": "2.0", "package_name": "com.acme.app", "properties": { "plan": "free" } },
        { "phone_type": "ios", "notification_switch": false }
    ]))
    .await;
    (f.srv, f.app, f.cids)
}

async fn call(
    srv: &TestServer,
    app: &Value,
    m: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = srv.native(app).request(m, path);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.expect("send");
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn count(srv: &TestServer, app: &Value, selector: Value) -> (u16, Value) {
    call(
        srv,
        app,
        Method::POST,
        "/audience/count",
        Some(json!({ "selector": selector })),
    )
    .await
}

fn prop(name: &str, op: &str, value: Value) -> Value {
    json!({ "property": { "name": name, "op": op, "value": value } })
}

#[tokio::test]
async fn property_leaves_count_in_version_order_and_missing_fields_match_no_comparison() {
    let (srv, app, cids) = setup().await;
    let n = |v: (u16, Value)| {
        assert_eq!(v.0, 200, "{}", v.1);
        v.1["count"].as_u64().expect("count")
    };
    // 1.10.0 > 1.9.2: a version order, not a text one.
    assert_eq!(
        n(count(&srv, &app, prop("app_version", "gte", json!("1.10.0"))).await),
        2
    );
    assert_eq!(
        n(count(&srv, &app, prop("app_version", "lt", json!("1.10"))).await),
        1
    );
    // the device without an app version matches no comparison, `ne` included
    assert_eq!(
        n(count(&srv, &app, prop("app_version", "ne", json!("2.0"))).await),
        2
    );
    assert_eq!(
        n(count(&srv, &app, prop("app_version", "exists", json!(false))).await),
        1
    );
    assert_eq!(
        n(count(
            &srv,
            &app,
            prop("package_name", "prefix", json!("com.acme"))
        )
        .await),
        1
    );
    assert_eq!(
        n(count(&srv, &app, prop("os", "in", json!(["13", "14", "15"]))).await),
        2
    );
    assert_eq!(
        n(count(&srv, &app, prop("properties.level", "gt", json!(5))).await),
        1
    );
    // a text value never matches a number leaf
    assert_eq!(
        n(count(&srv, &app, prop("properties.plan", "gt", json!(0))).await),
        0
    );
    assert_eq!(
        n(count(&srv, &app, prop("properties.plan", "exists", json!(true))).await),
        2
    );
    assert_eq!(
        n(count(&srv, &app, prop("notification_switch", "eq", json!(false))).await),
        1
    );
    assert_eq!(
        n(count(&srv, &app, prop("created_at", "gt", json!(0))).await),
        4
    );
    // every device registered just now: one login day each
    assert_eq!(
        n(count(&srv, &app, prop("login_freq", "eq", json!(1))).await),
        4
    );
    let and = json!({ "and": [{ "phone_type": "android" }, prop("app_version", "gte", json!("1.9.10"))] });
    assert_eq!(n(count(&srv, &app, and).await), 1);
    // an update moves a device between values at once
    srv.register(
        &app,
        json!([{ "cid": cids[0], "phone_type": "android", "app_version": "3.1" }]),
    )
    .await;
    assert_eq!(
        n(count(&srv, &app, prop("app_version", "gte", json!("1.10.0"))).await),
        3
    );
    // invalid leaves are 400s naming the problem
    for (bad, says) in [
        (prop("colour", "eq", json!("x")), "property.name"),
        (
            prop("notification_switch", "gt", json!(true)),
            "property.op",
        ),
        (
            prop("created_at", "eq", json!("yesterday")),
            "property.value",
        ),
        (prop("app_version", "in", json!("1.0")), "property.value"),
        (prop("os", "exists", json!(1)), "property.value"),
        (json!({ "property": { "name": "os", "op": "eq" } }), "value"),
    ] {
        let (status, body) = count(&srv, &app, bad.clone()).await;
        assert_eq!(status, 400, "{bad}");
        let msg = s(&body["error"]["message"]).to_owned();
        assert!(msg.contains(says), "{bad}: {msg}");
    }
}

#[tokio::test]
async fn segments_save_list_count_live_replace_and_delete() {
    let (srv, app, cids) = setup().await;
    let android = json!({ "name": "android", "selector": { "phone_type": "android" } });
    let (status, body) = call(&srv, &app, Method::POST, "/segments", Some(android.clone())).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["name"], "android");
    assert_eq!(body["selector"], json!({ "phone_type": "android" }));
    let (status, body) = call(&srv, &app, Method::POST, "/segments", Some(android)).await;
    assert_eq!((status, s(&body["error"]["code"])), (409, "already_exists"));
    // a segment of a segment, with a property leaf
    let recent = json!({ "name": "recent.android", "selector": { "and": [
        { "segment": "android" }, prop("app_version", "gte", json!("1.10"))
    ] } });
    let (status, _) = call(&srv, &app, Method::POST, "/segments", Some(recent)).await;
    assert_eq!(status, 201);
    let (status, body) = call(
        &srv,
        &app,
        Method::GET,
        "/segments/recent.android/count",
        None,
    )
    .await;
    assert_eq!((status, body), (200, json!({ "count": 1 })));
    // the count is live: a write is seen at once
    srv.register(
        &app,
        json!([{ "phone_type": "android", "app_version": "1.12" }]),
    )
    .await;
    let (_, body) = call(
        &srv,
        &app,
        Method::GET,
        "/segments/recent.android/count",
        None,
    )
    .await;
    assert_eq!(body, json!({ "count": 2 }));
    // usable wherever selectors are: counts and listings
    let (_, body) = count(
        &srv,
        &app,
        json!({ "not": { "segment": "recent.android" } }),
    )
    .await;
    assert_eq!(body, json!({ "count": 3 }));
    let r = srv
        .native(&app)
        .request(Method::POST, "/audience/cids")
        .json(&json!({ "selector": { "segment": "android" } }))
        .send()
        .await
        .expect("cids");
    assert_eq!(r.status(), 200);
    let listed = r.text().await.expect("body");
    assert_eq!(listed.lines().count(), 3);
    assert!(listed.contains(&cids[0]));
    // list, get, replace (live again), unknown names
    let (status, body) = call(&srv, &app, Method::GET, "/segments", None).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = body["segments"]
        .as_array()
        .expect("list")
        .iter()
        .map(|x| s(&x["name"]))
        .collect();
    assert_eq!(names, ["android", "recent.android"]);
    let (status, body) = call(&srv, &app, Method::GET, "/segments/android", None).await;
    assert_eq!(
        (status, &body["selector"]),
        (200, &json!({ "phone_type": "android" }))
    );
    let (status, body) = replace(&srv, &app, "android", json!({ "phone_type": "ios" })).await;
    assert_eq!(
        (status, &body["selector"]),
        (200, &json!({ "phone_type": "ios" }))
    );
    let (_, body) = call(
        &srv,
        &app,
        Method::GET,
        "/segments/recent.android/count",
        None,
    )
    .await;
    assert_eq!(
        body,
        json!({ "count": 1 }),
        "ios with app_version >= 1.10: one"
    );
    let (status, _) = replace(&srv, &app, "nope", json!({ "all": true })).await;
    assert_eq!(status, 404, "PUT does not create");
    for path in ["/segments/nope", "/segments/nope/count"] {
        let (status, body) = call(&srv, &app, Method::GET, path, None).await;
        assert_eq!(
            (status, s(&body["error"]["code"])),
            (404, "not_found"),
            "{path}"
        );
    }
    let (status, _) = count(&srv, &app, json!({ "segment": "nope" })).await;
    assert_eq!(status, 404);
    let (status, _) = call(&srv, &app, Method::GET, "/segments/a%20b", None).await;
    assert_eq!(status, 400);
    let (status, _) = create(&srv, &app, "x/y", json!({ "all": true })).await;
    assert_eq!(status, 400);
    // deleting a segment others name: they answer 404 until changed
    let (status, _) = call(&srv, &app, Method::DELETE, "/segments/android", None).await;
    assert_eq!(status, 204);
    let (status, _) = call(&srv, &app, Method::DELETE, "/segments/android", None).await;
    assert_eq!(status, 404);
    let (status, body) = call(
        &srv,
        &app,
        Method::GET,
        "/segments/recent.android/count",
        None,
    )
    .await;
    assert_eq!(status, 404);
    assert!(
        s(&body["error"]["message"]).contains("segment android"),
        "{body}"
    );
    // another app sees none of them
    let other = srv.create_app().await;
    let (_, body) = call(&srv, &other, Method::GET, "/segments", None).await;
    assert_eq!(body, json!({ "segments": [] }));
}

/// Saves (`POST`) a new segment.
async fn create(srv: &TestServer, app: &Value, name: &str, selector: Value) -> (u16, Value) {
    let body = json!({ "name": name, "selector": selector });
    call(srv, app, Method::POST, "/segments", Some(body)).await
}

/// Replaces (`PUT`) a segment's selector.
async fn replace(srv: &TestServer, app: &Value, name: &str, selector: Value) -> (u16, Value) {
    let path = format!("/segments/{name}");
    call(
        srv,
        app,
        Method::PUT,
        &path,
        Some(json!({ "selector": selector })),
    )
    .await
}

#[tokio::test]
async fn segment_cycles_are_refused_and_nothing_is_stored() {
    let (srv, app, _) = setup().await;
    let refused = |(status, body): (u16, Value), cycle: &str| {
        assert_eq!(status, 400, "{body}");
        assert!(
            s(&body["error"]["message"]).contains(cycle),
            "{cycle}: {body}"
        );
    };
    // self: a → a
    let self_ref = json!({ "or": [{ "tag": "x" }, { "segment": "a" }] });
    refused(create(&srv, &app, "a", self_ref).await, "a → a");
    let (status, _) = call(&srv, &app, Method::GET, "/segments/a", None).await;
    assert_eq!(status, 404, "nothing stored");
    // a segment naming a missing one is refused too
    assert_eq!(
        create(&srv, &app, "a", json!({ "segment": "b" })).await.0,
        404
    );
    // direct: a → b → a, made by replacing b
    assert_eq!(create(&srv, &app, "b", json!({ "all": true })).await.0, 201);
    assert_eq!(
        create(&srv, &app, "a", json!({ "segment": "b" })).await.0,
        201
    );
    let back = json!({ "not": { "segment": "a" } });
    refused(replace(&srv, &app, "b", back).await, "b → a → b");
    // indirect: b → c → a → b
    assert_eq!(
        create(&srv, &app, "c", json!({ "segment": "a" })).await.0,
        201
    );
    let round = json!({ "and": [{ "segment": "c" }] });
    refused(replace(&srv, &app, "b", round).await, "b → c → a → b");
    // b is unchanged, and everything still counts
    let (_, body) = call(&srv, &app, Method::GET, "/segments/b", None).await;
    assert_eq!(body["selector"], json!({ "all": true }));
    let (_, body) = call(&srv, &app, Method::GET, "/segments/c/count", None).await;
    assert_eq!(body, json!({ "count": 4 }));
    // nesting is bounded: c → a → b is 3 deep already; d0 … d4 make 8, d5 is refused
    let mut prev = "c".to_owned();
    let mut refused_at = None;
    for i in 0..10 {
        let name = format!("d{i}");
        let (status, _) = create(&srv, &app, &name, json!({ "segment": prev })).await;
        if status != 201 {
            refused_at = Some((i, status));
            break;
        }
        prev = name;
    }
    assert_eq!(refused_at, Some((5, 400)));
}
