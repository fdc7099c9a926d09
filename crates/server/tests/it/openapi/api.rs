//! The app operations (devices, audiences, users) through their success and error
//! paths; each reply is checked by [`Conformance`] as it arrives.

use reqwest::Method;
use roster_testkit::{s, TestServer};
use serde_json::{json, Value};

use super::conformance::{expect, Auth, Conformance};
use super::{BY_IDENTITY, CHANGES, CIDS, COUNT, DEVICE, DEVICES, EVENTS, NODE, USER, USERS};

pub(crate) async fn devices(c: &Conformance, srv: &TestServer, app: &Value) {
    let id = s(&app["app_id"]);
    let auth = Auth::app(app);
    let post = |t, args: &[&str]| c.call(srv, Method::POST, t, args).auth(auth.clone());
    let r = post(DEVICES, &[id])
        .json(json!([
            { "cid": "dev-1", "kind": "app", "phone_type": "android", "brand": "xm",
              "phone_model": "Mi 9", "package_name": "com.example", "client_app_id": "c1",
              "device_token": "t1", "notification_switch": true, "region": "11010000",
              "app_version": "1.0", "os": "14", "properties": { "vip": true } },
            { "phone_type": "ios", "brand": null, "properties": null },
            { "cid": "mini-1", "kind": "mini_program", "phone_type": "android" },
        ]))
        .send()
        .await;
    let cids = expect(&r, 200)["cids"].clone();
    assert_eq!(cids[0], "dev-1");
    let r = post(DEVICES, &[id])
        .json(json!([{ "cid": "dev-1", "brand": "hw" }]))
        .send()
        .await;
    expect(&r, 200);
    let many: Vec<Value> = (0..1001).map(|_| json!({ "phone_type": "ios" })).collect();
    for bad in [
        json!([]),
        Value::Array(many),
        json!({ "not": "a list" }),
        json!([{ "phone_type": "windows" }]),
        json!([{ "phone_type": "ios", "kind": "watch" }]),
        json!([{ "phone_type": "ios", "region": "110" }]),
        json!([{ "cid": "a,b", "phone_type": "ios" }]),
        json!([{ "cid": "", "phone_type": "ios" }]),
        json!([{ "cid": "c".repeat(65), "phone_type": "ios" }]),
        json!([{ "cid": "x", "phone_type": "ios" }, { "cid": "x", "phone_type": "ios" }]),
        json!([{ "phone_type": "ios", "brand": "b".repeat(257) }]),
        json!([{ "phone_type": "ios", "properties": [1] }]),
        json!([{ "phone_type": "android", "tags": ["x"] }]),
    ] {
        let duplicate = bad[0]["cid"] == "x";
        let call = post(DEVICES, &[id]).json(bad);
        // Duplicate cids are a batch rule the schema does not express.
        let call = if duplicate {
            call.state_dependent()
        } else {
            call
        };
        expect(&call.send().await, 400);
    }
    // A new device needs a phone_type; an existing one does not: the store decides.
    let r = post(DEVICES, &[id])
        .json(json!([{ "brand": "hw" }]))
        .state_dependent()
        .send()
        .await;
    expect(&r, 400);
    let other = srv.create_app().await;
    for bad in [Auth::None, Auth::app(&other), Auth::Admin] {
        let r = c
            .call(srv, Method::POST, DEVICES, &[id])
            .auth(bad)
            .json(json!([{ "phone_type": "ios" }]))
            .send()
            .await;
        expect(&r, 401);
    }
    let r = c
        .call(srv, Method::POST, DEVICES, &["NoSuchApp0000000000000"])
        .auth(auth.clone())
        .json(json!([{ "phone_type": "ios" }]))
        .send()
        .await;
    expect(&r, 401);

    // events
    let now = roster_core::time::now_ms();
    for body in [
        json!({ "type": "login", "at": now - 86_400_000 }),
        json!({ "type": "online" }),
        json!({ "type": "offline", "at": null }),
    ] {
        expect(&post(EVENTS, &[id, "dev-1"]).json(body).send().await, 204);
    }
    for bad in [
        json!({ "type": "dance" }),
        json!({ "type": "login", "at": 0 }),
        json!({ "type": "login", "at": "now" }),
        json!({ "at": now }),
        json!({ "type": "login", "source": "sdk" }),
    ] {
        expect(&post(EVENTS, &[id, "dev-1"]).json(bad).send().await, 400);
    }
    for unknown in ["nope", "a,b"] {
        let r = post(EVENTS, &[id, unknown])
            .json(json!({ "type": "online" }))
            .send()
            .await;
        assert_eq!(expect(&r, 404)["error"]["code"], "unknown_target");
    }
    let r = c
        .call(srv, Method::POST, EVENTS, &[id, "dev-1"])
        .json(json!({ "type": "online" }))
        .send()
        .await;
    expect(&r, 401);

    // one device
    let get = |args: &[&str]| c.call(srv, Method::GET, DEVICE, args);
    for cid in ["dev-1", "mini-1", s(&cids[1])] {
        expect(&get(&[id, cid]).auth(auth.clone()).send().await, 200);
    }
    let r = get(&[id, "nope"]).auth(auth.clone()).send().await;
    assert_eq!(expect(&r, 404)["error"]["code"], "unknown_target");
    expect(
        &get(&[id, "dev-1"]).auth(Auth::app(&other)).send().await,
        401,
    );
}

pub(crate) async fn audience(c: &Conformance, srv: &TestServer, app: &Value) {
    let id = s(&app["app_id"]);
    let auth = Auth::app(app);
    let good = [
        json!({ "selector": { "all": true } }),
        json!({ "selector": { "all": false }, "exclude_blacklisted": true,
                "exclude_notification_off": false }),
        json!({ "selector": { "and": [
            { "phone_type": "android" },
            { "or": [{ "region": "11000000" }, { "region": "31010000" }] },
            { "not": { "tag": "vip" } },
            { "not": { "alias": "张三_01" } },
            // the alias and tag patterns take what the server takes: astral CJK, a BOM
            { "or": [{ "alias": "\u{20000}_x" }, { "tag": "x\u{feff}" }] },
            { "or": [{ "brand": "xm" }, { "brand": "unknown" }, { "cid": ["dev-1", "x"] }] },
            { "and": [] },
            { "or": [
                { "property": { "name": "app_version", "op": "gte", "value": "1.10.0" } },
                { "property": { "name": "properties.level", "op": "in", "value": [1, "x"] } },
                { "property": { "name": "created_at", "op": "lt", "value": 1.7e12 } },
                { "property": { "name": "notification_switch", "op": "eq", "value": false } },
                { "property": { "name": "os", "op": "exists", "value": false } }
            ] }
        ] } }),
    ];
    for t in [COUNT, CIDS] {
        let post = || c.call(srv, Method::POST, t, &[id]).auth(auth.clone());
        for body in &good {
            expect(&post().json(body.clone()).send().await, 200);
        }
        for bad in [
            json!({}),
            json!({ "selector": {} }),
            json!({ "selector": { "phone_type": "windows" } }),
            json!({ "selector": { "region": "1101" } }),
            json!({ "selector": { "tag": "a b" } }),
            json!({ "selector": { "tag": "t".repeat(33) } }),
            json!({ "selector": { "alias": "a-b" } }),
            json!({ "selector": { "cid": ["a/b"] } }),
            json!({ "selector": { "and": { "all": true } } }),
            json!({ "selector": { "nor": [] } }),
            json!({ "selector": { "tag": "x", "brand": "y" } }),
            json!({ "selector": { "all": true }, "exclude_blacklisted": null }),
            json!({ "selector": { "all": true }, "limit": 10 }),
            json!({ "selector": { "property": { "name": "colour", "op": "eq", "value": "x" } } }),
            json!({ "selector": { "property": { "name": "os", "op": "near", "value": "x" } } }),
            json!({ "selector": { "property": { "name": "os", "op": "eq" } } }),
            json!({ "selector": { "property": { "name": "os", "op": "eq", "value": {} } } }),
            json!({ "selector": { "segment": "a b" } }),
        ] {
            expect(&post().json(bad).send().await, 400);
        }
        // Which op and value a field takes: the schema does not tie them to the name.
        for bad in [
            json!({ "selector": { "property": { "name": "notification_switch", "op": "gt", "value": true } } }),
            json!({ "selector": { "property": { "name": "created_at", "op": "eq", "value": "x" } } }),
        ] {
            expect(&post().json(bad).state_dependent().send().await, 400);
        }
        let r = c
            .call(srv, Method::POST, t, &[id])
            .json(json!({ "selector": { "all": true } }))
            .send()
            .await;
        expect(&r, 401);
    }
}

pub(crate) async fn users(c: &Conformance, srv: &TestServer, app: &Value) {
    let id = s(&app["app_id"]);
    let auth = Auth::app(app);
    let post = || c.call(srv, Method::POST, USERS, &[id]).auth(auth.clone());
    let body = json!({
        "identities": { "user_id": "u1", "registration_id": ["dev-1"], "anonymous_id": "a1" },
        "properties": { "language": "zh-CN", "nothing": null },
        "contacts": { "email": "u1@example.com", "mobile_phone": "+8613800000000" }
    });
    let r = post().json(body.clone()).send().await;
    assert_eq!(expect(&r, 200)["created"], true);
    let uid = r.body["uid"].to_string();
    let r = post().json(body).send().await;
    assert_eq!(expect(&r, 200)["created"], false);
    let r = post()
        .json(json!({ "identities": { "user_id": "u2" }, "properties": null, "contacts": null }))
        .send()
        .await;
    expect(&r, 200);
    for bad in [
        json!({}),
        json!({ "identities": {} }),
        json!({ "identities": { "user_id": "" } }),
        json!({ "identities": { "user_id": "v".repeat(257) } }),
        json!({ "identities": { "user_id": 5 } }),
        json!({ "identities": { "bad-name": "x" } }),
        json!({ "identities": { "user_id": "u3" }, "contacts": { "fax": "1" } }),
        json!({ "identities": { "user_id": "u3" }, "properties": [] }),
        json!({ "identities": { "user_id": "u3" }, "devices": ["dev-1"] }),
    ] {
        expect(&post().json(bad).send().await, 400);
    }
    // Identity names are per app: only the store knows this one does not exist.
    let r = post()
        .json(json!({ "identities": { "no_such_name": "x" } }))
        .state_dependent()
        .send()
        .await;
    expect(&r, 400);
    let r = post()
        .json(json!({ "identities": { "registration_id": "nope" } }))
        .send()
        .await;
    let reply = expect(&r, 404);
    assert_eq!(reply["error"]["code"], "unknown_target");
    let r = c
        .call(srv, Method::POST, USERS, &[id])
        .json(json!({ "identities": { "user_id": "u1" } }))
        .send()
        .await;
    expect(&r, 401);

    let get = |t, args: &[&str]| c.call(srv, Method::GET, t, args);
    let r = get(USER, &[id, &uid]).auth(auth.clone()).send().await;
    let user = expect(&r, 200);
    assert_eq!(user["devices"], json!(["dev-1"]));
    for missing in ["999999999", "abc"] {
        expect(
            &get(USER, &[id, missing]).auth(auth.clone()).send().await,
            404,
        );
    }
    expect(&get(USER, &[id, &uid]).send().await, 401);
    let r = get(BY_IDENTITY, &[id, "user_id", "u1"])
        .auth(auth.clone())
        .send()
        .await;
    assert_eq!(expect(&r, 200)["uid"].to_string(), uid);
    for (name, value) in [("user_id", "nobody"), ("no_such_name", "x")] {
        let r = get(BY_IDENTITY, &[id, name, value])
            .auth(auth.clone())
            .send()
            .await;
        expect(&r, 404);
    }
    let r = get(BY_IDENTITY, &[id, "user_id", "u1"])
        .auth(Auth::WrongBearer)
        .send()
        .await;
    expect(&r, 401);
}

/// The change feed and the node's progress, with a second server whose retention is a
/// second, for the 410.
pub(crate) async fn changes(c: &Conformance, srv: &TestServer, app: &Value) {
    let id = s(&app["app_id"]);
    let get = |q: &str| {
        c.call(srv, Method::GET, CHANGES, &[id])
            .auth(Auth::app(app))
            .query(q)
    };
    let r = get("after=0&limit=3").send().await;
    expect(&r, 200);
    let lines: Vec<Value> = r
        .text
        .lines()
        .map(|l| serde_json::from_str(l).expect("an NDJSON line"))
        .collect();
    assert!(!lines.is_empty());
    assert_eq!(lines[0]["seq"], 1);
    assert_eq!(lines[0]["kind"], "app_created");
    let r = c
        .call(srv, Method::GET, CHANGES, &[id])
        .auth(Auth::app(app))
        .send()
        .await;
    expect(&r, 200);
    for bad in [
        "after=x",
        "limit=0",
        "limit=10001",
        "after=-1",
        "follow=maybe",
        "since=3",
    ] {
        expect(&get(bad).send().await, 400);
    }
    let r = c
        .call(srv, Method::GET, CHANGES, &[id])
        .query("after=0")
        .send()
        .await;
    expect(&r, 401);
    let r = c
        .call(srv, Method::GET, NODE, &[])
        .auth(Auth::Admin)
        .send()
        .await;
    let node = expect(&r, 200);
    assert!(node["apps"]
        .as_array()
        .expect("apps")
        .iter()
        .any(|a| a["app_id"] == id && a["applied_seq"] == a["store_seq"]));
    for auth in [Auth::None, Auth::WrongBearer, Auth::app(app)] {
        expect(
            &c.call(srv, Method::GET, NODE, &[]).auth(auth).send().await,
            401,
        );
    }

    let short = TestServer::start_with_retention(std::time::Duration::from_secs(1)).await;
    let app =
        roster_testkit::create_app(&short.http, &short.base, roster_testkit::ADMIN_TOKEN).await;
    let id = s(&app["app_id"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let r = c
            .call(&short, Method::GET, CHANGES, &[id])
            .auth(Auth::app(&app))
            .send()
            .await;
        if r.status == 410 {
            assert_eq!(r.body["error"]["code"], "changes_pruned");
            assert_eq!(r.body["error"]["oldest_seq"], 2);
            break;
        }
        expect(&r, 200);
        assert!(std::time::Instant::now() < deadline, "never pruned");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

pub(crate) const IMPORT: &str = "/api/v1/apps/{app_id}/import/devices";
pub(crate) const EXPORT: &str = "/api/v1/apps/{app_id}/export/devices";

/// Bulk import and export: every documented reply of both.
pub(crate) async fn bulk(c: &Conformance, srv: &TestServer, app: &Value) {
    let id = s(&app["app_id"]);
    let auth = Auth::app(app);
    let import = |q: &str| {
        c.call(srv, Method::POST, IMPORT, &[id])
            .auth(auth.clone())
            .query(q)
    };
    let body =
        b"{\"cid\":\"bulk-1\",\"phone_type\":\"android\",\"tags\":[\"b\"]}\nnot json\n".to_vec();
    let r = import("max_errors=5")
        .raw("application/x-ndjson", body.clone(), None)
        .send()
        .await;
    let sum = expect(&r, 200);
    assert_eq!(
        (sum["inserted"].as_u64(), sum["failed"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(sum["errors"][0]["line"], 2);
    let csv = b"cid,alias,tags,brand,region\nbulk-2,al,x y,hw,11000000\n".to_vec();
    let r = import("format=getui-csv")
        .raw("text/csv", csv, None)
        .send()
        .await;
    assert_eq!(expect(&r, 200)["inserted"], 1);
    for q in ["format=xml", "max_errors=0", "nope=1"] {
        let r = import(q)
            .raw("application/x-ndjson", body.clone(), None)
            .send()
            .await;
        expect(&r, 400);
    }
    let r = import("")
        .raw("application/x-ndjson", b"a,b\n".to_vec(), None)
        .send()
        .await;
    expect(&r, 400);
    let r = import("")
        .raw("application/json", body.clone(), None)
        .send()
        .await;
    expect(&r, 415);
    let r = import("")
        .raw("application/x-ndjson", body.clone(), Some("br"))
        .send()
        .await;
    expect(&r, 415);
    let r = c
        .call(srv, Method::POST, IMPORT, &[id])
        .raw("application/x-ndjson", body, None)
        .send()
        .await;
    expect(&r, 401);

    let export = |q: &str| {
        c.call(srv, Method::GET, EXPORT, &[id])
            .auth(auth.clone())
            .query(q)
    };
    let r = export("").send().await;
    expect(&r, 200);
    assert!(r.text.contains("\"cid\":\"bulk-2\""), "{}", r.text);
    let r = export("format=csv&selector=%7B%22tag%22%3A%22x%22%7D")
        .send()
        .await;
    expect(&r, 200);
    assert_eq!(r.text.lines().count(), 2, "header and bulk-2: {}", r.text);
    for q in ["format=xml", "selector=%7B%7D", "limit=3"] {
        expect(&export(q).send().await, 400);
    }
    let r = c.call(srv, Method::GET, EXPORT, &[id]).send().await;
    expect(&r, 401);
}

pub(crate) const IMPORT_USERS: &str = "/api/v1/apps/{app_id}/import/users";
pub(crate) const EXPORT_USERS: &str = "/api/v1/apps/{app_id}/export/users";

pub(crate) async fn bulk_users(c: &Conformance, srv: &TestServer, app: &Value) {
    let id = s(&app["app_id"]);
    let auth = Auth::app(app);
    let import = |q: &str| {
        c.call(srv, Method::POST, IMPORT_USERS, &[id])
            .auth(auth.clone())
            .query(q)
    };
    let body = b"{\"identities\":{\"user_id\":[\"bulk-u1\"]},\"properties\":{\"k\":1}}\nnot json\n"
        .to_vec();
    let r = import("max_errors=5")
        .raw("application/x-ndjson", body.clone(), None)
        .send()
        .await;
    let sum = expect(&r, 200);
    assert_eq!(
        (sum["inserted"].as_u64(), sum["failed"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(sum["errors"][0]["line"], 2);
    let csv = b"userid,tag:all\nbulku2,x y\n".to_vec();
    let r = import("format=ums-csv")
        .raw("text/csv", csv, None)
        .send()
        .await;
    let sum = expect(&r, 200);
    assert_eq!(sum["inserted"], 1, "{sum}");
    for q in ["format=xml", "format=getui-csv", "max_errors=0", "nope=1"] {
        let r = import(q)
            .raw("application/x-ndjson", body.clone(), None)
            .send()
            .await;
        expect(&r, 400);
    }
    let r = import("")
        .raw("text/csv", b"cid\nc1\n".to_vec(), None)
        .send()
        .await;
    expect(&r, 400);
    let r = import("")
        .raw("application/json", body.clone(), None)
        .send()
        .await;
    expect(&r, 415);
    let r = c
        .call(srv, Method::POST, IMPORT_USERS, &[id])
        .raw("application/x-ndjson", body, None)
        .send()
        .await;
    expect(&r, 401);

    let export = |q: &str| {
        c.call(srv, Method::GET, EXPORT_USERS, &[id])
            .auth(auth.clone())
            .query(q)
    };
    let r = export("").send().await;
    expect(&r, 200);
    assert!(r.text.contains("\"user_id\":[\"bulk-u1\"]"), "{}", r.text);
    let r = export("format=csv").send().await;
    expect(&r, 200);
    assert!(r
        .text
        .starts_with("identities,properties,contacts,bindings\n"));
    for q in ["format=xml", "limit=3"] {
        expect(&export(q).send().await, 400);
    }
    let r = c.call(srv, Method::GET, EXPORT_USERS, &[id]).send().await;
    expect(&r, 401);
}
