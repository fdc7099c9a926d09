//! The admin's limit operations through their success and error paths.

use reqwest::Method;
use roster_testkit::{s, TestServer};
use serde_json::{json, Value};

use super::conformance::{expect, Auth, Conformance};
use super::{LIMIT, LIMITS};

pub(crate) async fn limits(c: &Conformance, srv: &TestServer, app: &Value) {
    let id = s(&app["app_id"]);
    let call = |m: Method, t, args: &[&str]| c.call(srv, m, t, args).auth(Auth::Admin);

    let all = expect(&call(Method::GET, LIMITS, &[id]).send().await, 200).clone();
    assert_eq!(all["time_zone"], "Asia/Shanghai");
    assert_eq!(all["limits"].as_array().map(Vec::len), Some(8));
    expect(&call(Method::GET, LIMITS, &["nope"]).send().await, 404);
    let r = c.call(srv, Method::GET, LIMITS, &[id]).send().await;
    expect(&r, 401);

    let zone = |body: Value| call(Method::PUT, LIMITS, &[id]).json(body);
    let r = zone(json!({ "time_zone": "Europe/London" })).send().await;
    assert_eq!(expect(&r, 200)["time_zone"], "Europe/London");
    // The document cannot list the zones: an unknown one is refused by value.
    let r = zone(json!({ "time_zone": "Mars/Olympus" }))
        .state_dependent()
        .send()
        .await;
    expect(&r, 400);
    expect(&zone(json!({ "zone": "UTC" })).send().await, 400);
    let r = call(Method::PUT, LIMITS, &["nope"])
        .json(json!({ "time_zone": "UTC" }))
        .send()
        .await;
    expect(&r, 404);
    let r = c
        .call(srv, Method::PUT, LIMITS, &[id])
        .json(json!({ "time_zone": "UTC" }))
        .send()
        .await;
    expect(&r, 401);

    let set = |action, body: Value| call(Method::PUT, LIMIT, &[id, action]).json(body);
    let r = set(
        "getui_tag_batch",
        json!({ "per_minute": 5, "per_day": null }),
    )
    .send()
    .await;
    let entry = expect(&r, 200);
    assert_eq!(entry["per_minute"], 5);
    assert_eq!(entry["per_day"], Value::Null);
    assert_eq!(entry["default"]["per_day"], 10_000);
    for bad in [
        json!({ "per_minute": -1 }),
        json!({ "per_minute": 1.5 }),
        json!({ "per_minute": "5" }),
        json!({ "per_hour": 5 }),
    ] {
        expect(&set("getui_tag_batch", bad).send().await, 400);
    }
    // Only the overwrite names a cid; the schema is the same for every action.
    let r = set("getui_auth", json!({ "per_cid_per_day": 1 }))
        .state_dependent()
        .send()
        .await;
    expect(&r, 400);
    expect(&set("nope", json!({ "per_minute": 1 })).send().await, 404);
    let r = call(Method::PUT, LIMIT, &["nope", "getui_auth"])
        .json(json!({ "per_minute": 1 }))
        .send()
        .await;
    expect(&r, 404);
    let r = c
        .call(srv, Method::PUT, LIMIT, &[id, "getui_auth"])
        .json(json!({ "per_minute": 1 }))
        .send()
        .await;
    expect(&r, 401);

    let reset = |args: &[&str]| call(Method::DELETE, LIMIT, args);
    let r = reset(&[id, "getui_tag_batch"]).send().await;
    assert_eq!(expect(&r, 200)["per_day"], 10_000);
    expect(&reset(&[id, "nope"]).send().await, 404);
    expect(&reset(&["nope", "getui_auth"]).send().await, 404);
    let r = c
        .call(srv, Method::DELETE, LIMIT, &[id, "getui_auth"])
        .send()
        .await;
    expect(&r, 401);
}
