//! Browsing, deleting, and the native tag, alias and blacklist writes through every
//! reply they document (429 and the edge's replies: `transport`).

use reqwest::Method;
use roster_testkit::{s, TestServer};
use serde_json::{json, Value};

use super::conformance::{expect, Auth, Conformance};
use super::{DEVICE, DEVICES, USER, USERS};

const TAGS: &str = "/api/v1/apps/{app_id}/devices/{cid}/tags";
const ALIAS: &str = "/api/v1/apps/{app_id}/devices/{cid}/alias";
const BLACKLIST: &str = "/api/v1/apps/{app_id}/devices/{cid}/blacklist";

pub(crate) async fn browse(c: &Conformance, srv: &TestServer) {
    let app = srv.create_app().await;
    let other = srv.create_app().await;
    let id = s(&app["app_id"]);
    let auth = Auth::app(&app);
    let cids = srv
        .register(
            &app,
            Value::Array((0..12).map(|_| json!({ "phone_type": "ios" })).collect()),
        )
        .await;
    let cid = cids[0].as_str();
    let call = |m: Method, t, args: &[&str]| c.call(srv, m, t, args).auth(auth.clone());

    // listing devices
    let r = call(Method::GET, DEVICES, &[id])
        .query("limit=5")
        .send()
        .await;
    let cursor = s(&expect(&r, 200)["next_cursor"]).to_owned();
    let r = call(Method::GET, DEVICES, &[id])
        .query(&format!(
            "cursor={cursor}&selector=%7B%22phone_type%22%3A%22ios%22%7D"
        ))
        .send()
        .await;
    assert_eq!(expect(&r, 200)["devices"].as_array().map(Vec::len), Some(7));
    for bad in ["limit=0", "cursor=x", "selector=%7B%7D", "offset=3"] {
        expect(
            &call(Method::GET, DEVICES, &[id]).query(bad).send().await,
            400,
        );
    }
    let r = call(Method::GET, DEVICES, &[id])
        .query("selector=%7B%22crowd%22%3A%22nope%22%7D")
        .send()
        .await;
    assert_eq!(expect(&r, 404)["error"]["code"], "not_found");
    let r = c
        .call(srv, Method::GET, DEVICES, &[id])
        .auth(Auth::app(&other))
        .send()
        .await;
    expect(&r, 401);

    // tags
    let r = call(Method::PUT, TAGS, &[id, cid])
        .json(json!({ "tags": ["a", "b"] }))
        .send()
        .await;
    assert_eq!(expect(&r, 200)["tags"], json!(["a", "b"]));
    let r = call(Method::PATCH, TAGS, &[id, cid])
        .json(json!({ "add": ["c"], "remove": ["a"] }))
        .send()
        .await;
    assert_eq!(expect(&r, 200)["tags"], json!(["b", "c"]));
    let r = call(Method::PATCH, TAGS, &[id, cid])
        .json(json!({}))
        .send()
        .await;
    expect(&r, 200);
    let over: Vec<String> = (0..101).map(|i| format!("{i}")).collect();
    for bad in [
        json!({ "tags": ["a b"] }),
        json!({ "tags": ["x".repeat(33)] }),
        json!({ "tags": over }),
        json!({ "tags": "a" }),
        json!({ "custom_tag": ["a"] }),
    ] {
        expect(
            &call(Method::PUT, TAGS, &[id, cid]).json(bad).send().await,
            400,
        );
    }
    // What the schema cannot say: no tag twice, 512 characters in all.
    let long: Vec<String> = (0..100).map(|i| format!("t{i:05}")).collect();
    for bad in [json!({ "tags": ["a", "a"] }), json!({ "tags": long })] {
        let r = call(Method::PUT, TAGS, &[id, cid])
            .json(bad)
            .state_dependent()
            .send()
            .await;
        expect(&r, 400);
    }
    for bad in [
        json!({ "add": ["a b"] }),
        json!({ "remove": [1] }),
        json!({ "set": [] }),
    ] {
        expect(
            &call(Method::PATCH, TAGS, &[id, cid]).json(bad).send().await,
            400,
        );
    }
    let many: Vec<String> = (0..99).map(|i| format!("m{i}")).collect();
    let r = call(Method::PATCH, TAGS, &[id, cid])
        .json(json!({ "add": many }))
        .state_dependent()
        .send()
        .await;
    assert_eq!(expect(&r, 400)["error"]["code"], "size_over_limit");
    for m in [Method::PUT, Method::PATCH] {
        let body = if m == Method::PUT {
            json!({ "tags": [] })
        } else {
            json!({ "add": ["x"] })
        };
        let r = call(m.clone(), TAGS, &[id, "nope"])
            .json(body.clone())
            .send()
            .await;
        assert_eq!(expect(&r, 404)["error"]["code"], "unknown_target");
        let r = c.call(srv, m, TAGS, &[id, cid]).json(body).send().await;
        expect(&r, 401);
    }

    // alias
    for c10 in &cids[..10] {
        let r = call(Method::PUT, ALIAS, &[id, c10])
            .json(json!({ "alias": "team" }))
            .send()
            .await;
        assert_eq!(expect(&r, 200)["alias"], "team");
    }
    let r = call(Method::PUT, ALIAS, &[id, &cids[10]])
        .json(json!({ "alias": "team" }))
        .state_dependent()
        .send()
        .await;
    assert_eq!(expect(&r, 400)["error"]["code"], "size_over_limit");
    for bad in [
        json!({ "alias": "a b" }),
        json!({ "alias": "" }),
        json!({}),
        json!({ "alias": 1 }),
    ] {
        expect(
            &call(Method::PUT, ALIAS, &[id, cid]).json(bad).send().await,
            400,
        );
    }
    let r = call(Method::PUT, ALIAS, &[id, "nope"])
        .json(json!({ "alias": "x" }))
        .send()
        .await;
    expect(&r, 404);
    let r = c
        .call(srv, Method::PUT, ALIAS, &[id, cid])
        .json(json!({ "alias": "x" }))
        .send()
        .await;
    expect(&r, 401);
    let r = call(Method::DELETE, ALIAS, &[id, cid]).send().await;
    assert_eq!(expect(&r, 200)["alias"], Value::Null);
    expect(
        &call(Method::DELETE, ALIAS, &[id, "nope"]).send().await,
        404,
    );
    expect(
        &c.call(srv, Method::DELETE, ALIAS, &[id, cid]).send().await,
        401,
    );

    // blacklist
    for (m, on) in [(Method::PUT, true), (Method::DELETE, false)] {
        let r = call(m.clone(), BLACKLIST, &[id, cid]).send().await;
        assert_eq!(expect(&r, 200)["blacklisted"], on);
        expect(&call(m.clone(), BLACKLIST, &[id, "nope"]).send().await, 404);
        expect(&c.call(srv, m, BLACKLIST, &[id, cid]).send().await, 401);
    }

    // deleting a device
    expect(
        &c.call(srv, Method::DELETE, DEVICE, &[id, cid]).send().await,
        401,
    );
    expect(&call(Method::DELETE, DEVICE, &[id, cid]).send().await, 204);
    let r = call(Method::DELETE, DEVICE, &[id, cid]).send().await;
    assert_eq!(expect(&r, 404)["error"]["code"], "unknown_target");

    // users: listing and deleting
    let mut uids = Vec::new();
    for a in ["a1", "a2", "a3"] {
        let r = call(Method::POST, USERS, &[id])
            .json(json!({ "identities": { "anonymous_id": a } }))
            .send()
            .await;
        uids.push(expect(&r, 200)["uid"].to_string());
    }
    let r = call(Method::GET, USERS, &[id])
        .query("limit=2")
        .send()
        .await;
    let cursor = s(&expect(&r, 200)["next_cursor"]).to_owned();
    let r = call(Method::GET, USERS, &[id])
        .query(&format!("cursor={cursor}"))
        .send()
        .await;
    assert_eq!(expect(&r, 200)["users"].as_array().map(Vec::len), Some(1));
    for bad in ["limit=1001", "cursor=x", "selector=%7B%7D"] {
        expect(
            &call(Method::GET, USERS, &[id]).query(bad).send().await,
            400,
        );
    }
    expect(&c.call(srv, Method::GET, USERS, &[id]).send().await, 401);
    expect(
        &call(Method::DELETE, USER, &[id, &uids[0]]).send().await,
        204,
    );
    expect(
        &call(Method::DELETE, USER, &[id, &uids[0]]).send().await,
        404,
    );
    expect(&call(Method::DELETE, USER, &[id, "abc"]).send().await, 404);
    let r = c
        .call(srv, Method::DELETE, USER, &[id, &uids[1]])
        .auth(Auth::app(&other))
        .send()
        .await;
    expect(&r, 401);
}
