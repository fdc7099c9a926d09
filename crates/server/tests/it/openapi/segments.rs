//! Saved segments and property leaves through their success and error paths.

use reqwest::Method;
use roster_testkit::{s, TestServer};
use serde_json::{json, Value};

use super::conformance::{expect, Auth, Conformance};
use super::{COUNT, SEGMENT, SEGMENTS, SEGMENT_COUNT};

pub(crate) async fn segments(c: &Conformance, srv: &TestServer, app: &Value) {
    let id = s(&app["app_id"]);
    let auth = Auth::app(app);
    let other = srv.create_app().await;
    let create = |body: Value| {
        c.call(srv, Method::POST, SEGMENTS, &[id])
            .auth(auth.clone())
            .json(body)
    };
    let android = json!({ "name": "android", "selector": { "and": [
        { "phone_type": "android" },
        { "property": { "name": "app_version", "op": "gte", "value": "1.0" } },
        { "property": { "name": "properties.vip", "op": "exists", "value": true } },
        { "property": { "name": "os", "op": "in", "value": ["14", "15"] } }
    ] } });
    let r = create(android.clone()).send().await;
    assert_eq!(expect(&r, 201)["name"], "android");
    expect(&create(android).state_dependent().send().await, 409);
    let r = create(json!({ "name": "nested", "selector": { "not": { "segment": "android" } } }))
        .send()
        .await;
    expect(&r, 201);
    for bad in [
        json!({ "name": "a b", "selector": { "all": true } }),
        json!({ "name": "", "selector": { "all": true } }),
        json!({ "name": "x" }),
        json!({ "name": "x", "selector": { "all": true }, "extra": 1 }),
        json!({ "name": "x", "selector": { "segment": "a/b" } }),
    ] {
        expect(&create(bad).send().await, 400);
    }
    // A cycle is a rule over the stored segments, not the body's shape.
    let r = create(json!({ "name": "loop", "selector": { "segment": "loop" } }))
        .state_dependent()
        .send()
        .await;
    expect(&r, 400);
    let r = create(json!({ "name": "x", "selector": { "segment": "nope" } }))
        .send()
        .await;
    expect(&r, 404);
    let r = c
        .call(srv, Method::POST, SEGMENTS, &[id])
        .auth(Auth::app(&other))
        .json(json!({ "name": "x", "selector": { "all": true } }))
        .send()
        .await;
    expect(&r, 401);

    let r = c
        .call(srv, Method::GET, SEGMENTS, &[id])
        .auth(auth.clone())
        .send()
        .await;
    assert_eq!(expect(&r, 200)["segments"][0]["name"], "android");
    expect(&c.call(srv, Method::GET, SEGMENTS, &[id]).send().await, 401);

    let one = |m: Method, t: &'static str, name: &str| c.call(srv, m, t, &[id, name]);
    expect(
        &one(Method::GET, SEGMENT, "android")
            .auth(auth.clone())
            .send()
            .await,
        200,
    );
    expect(
        &one(Method::GET, SEGMENT, "nope")
            .auth(auth.clone())
            .send()
            .await,
        404,
    );
    expect(&one(Method::GET, SEGMENT, "android").send().await, 401);

    let put = |name: &str, body: Value| {
        one(Method::PUT, SEGMENT, name)
            .auth(auth.clone())
            .json(body)
    };
    let r = put(
        "android",
        json!({ "selector": { "phone_type": "android" } }),
    )
    .send()
    .await;
    assert_eq!(
        expect(&r, 200)["selector"],
        json!({ "phone_type": "android" })
    );
    expect(
        &put("nope", json!({ "selector": { "all": true } }))
            .send()
            .await,
        404,
    );
    let r = put("android", json!({ "selector": { "segment": "nested" } }))
        .state_dependent()
        .send()
        .await;
    expect(&r, 400);
    expect(&put("android", json!({ "selector": {} })).send().await, 400);
    let r = one(Method::PUT, SEGMENT, "android")
        .json(json!({ "selector": { "all": true } }))
        .send()
        .await;
    expect(&r, 401);

    let r = one(Method::GET, SEGMENT_COUNT, "nested")
        .auth(auth.clone())
        .send()
        .await;
    assert!(expect(&r, 200)["count"].is_u64());
    expect(
        &one(Method::GET, SEGMENT_COUNT, "nope")
            .auth(auth.clone())
            .send()
            .await,
        404,
    );
    expect(
        &one(Method::GET, SEGMENT_COUNT, "a b")
            .auth(auth.clone())
            .send()
            .await,
        400,
    );
    expect(&one(Method::GET, SEGMENT_COUNT, "nested").send().await, 401);

    expect(&one(Method::DELETE, SEGMENT, "android").send().await, 401);
    expect(
        &one(Method::DELETE, SEGMENT, "android")
            .auth(auth.clone())
            .send()
            .await,
        204,
    );
    expect(
        &one(Method::DELETE, SEGMENT, "android")
            .auth(auth.clone())
            .send()
            .await,
        404,
    );
    // A segment naming a deleted one: not found when counted.
    expect(
        &one(Method::GET, SEGMENT_COUNT, "nested")
            .auth(auth.clone())
            .send()
            .await,
        404,
    );
    let r = c
        .call(srv, Method::POST, COUNT, &[id])
        .auth(auth.clone())
        .json(json!({ "selector": { "segment": "nested" } }))
        .send()
        .await;
    expect(&r, 404);
}
