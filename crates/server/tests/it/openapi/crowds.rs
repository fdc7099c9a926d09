//! Smart crowds natively: a sub-task read and stopped, through success and error paths,
//! and the selector leaf and `open` events that go with them.

use reqwest::Method;
use roster_testkit::{s, TestServer};
use serde_json::{json, Value};

use super::conformance::{expect, Auth, Conformance};
use super::{CIDS, COUNT, CROWD, CROWD_STOP, EVENTS};

pub(crate) async fn crowds(c: &Conformance, srv: &TestServer, app: &Value) {
    let id = s(&app["app_id"]);
    let auth = Auth::app(app);
    let r = c
        .call(srv, Method::POST, EVENTS, &[id, "dev-1"])
        .auth(auth.clone())
        .json(json!({ "type": "open", "text": "湖人今晚篮球比赛直播" }))
        .send()
        .await;
    expect(&r, 204);
    let g = srv.getui(app).await;
    let plan = json!({
        "name": "文案圈人",
        "tasks": [{ "topic": "篮球决赛今晚开打", "content": "湖人对阵勇士" }],
        "brand_list": ["xm", "hw", "other"],
        "package_num": 1000,
        "active_range": 30,
        "active_type": 1
    });
    let sub = g.post("/user/smart_crowd/create", plan).await.ok()["sub_task_ids"][0]
        .as_str()
        .expect("an id")
        .to_owned();
    let get = |sub: &str| c.call(srv, Method::GET, CROWD, &[id, sub]);
    let mut crowd = Value::Null;
    for _ in 0..600 {
        crowd = expect(&get(&sub).auth(auth.clone()).send().await, 200).clone();
        if crowd["status"] == 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(crowd["status"], 4, "{crowd}");
    assert_eq!(crowd["size"], 1, "the device that opened basketball copy");
    assert_eq!(crowd["plan"]["brand_list"], json!(["xm", "hw", "other"]));
    expect(&get("nope").auth(auth.clone()).send().await, 404);
    expect(&get(&sub).send().await, 401);
    let stop = |sub: &str| c.call(srv, Method::POST, CROWD_STOP, &[id, sub]);
    let r = stop(&sub).auth(auth.clone()).send().await;
    assert_eq!(
        expect(&r, 200)["status"],
        4,
        "an ended sub-task keeps its status"
    );
    expect(&stop("nope").auth(auth.clone()).send().await, 404);
    expect(&stop(&sub).send().await, 401);
    let count = |selector: Value| {
        c.call(srv, Method::POST, COUNT, &[id])
            .auth(auth.clone())
            .json(json!({ "selector": selector }))
    };
    let r = count(json!({ "not": { "crowd": sub } })).send().await;
    let all = expect(&count(json!({ "all": true })).send().await, 200)["count"].clone();
    assert_eq!(
        expect(&r, 200)["count"].as_u64(),
        all.as_u64().map(|n| n - 1)
    );
    expect(&count(json!({ "crowd": "nope" })).send().await, 404);
    let r = c
        .call(srv, Method::POST, CIDS, &[id])
        .auth(auth.clone())
        .json(json!({ "selector": { "or": [{ "crowd": "nope" }] } }))
        .send()
        .await;
    expect(&r, 404);
}
