use roster_testkit::{Fixture, Getui, TestServer};
use serde_json::{json, Value};

async fn setup(n: usize) -> (TestServer, Getui, Vec<String>) {
    let devices: Vec<Value> = (0..n).map(|_| json!({ "phone_type": "android" })).collect();
    let f = Fixture::start(Value::Array(devices)).await;
    (f.srv, f.getui, f.cids)
}

fn list(pairs: &[(&str, &str)]) -> Value {
    let l: Vec<Value> = pairs
        .iter()
        .map(|(c, a)| json!({ "cid": c, "alias": a }))
        .collect();
    json!({ "data_list": l })
}

#[tokio::test]
async fn bind_query_both_ways_and_move() {
    let (_srv, g, cids) = setup(3).await;
    g.post(
        "/user/alias",
        list(&[(&cids[0], "张三_01"), (&cids[1], "张三_01")]),
    )
    .await
    .ok();
    let d = g.get(&format!("/user/alias/cid/{}", cids[0])).await;
    assert_eq!(d.ok(), &json!({ "alias": "张三_01" }));
    let d = g.get("/user/cid/alias/%E5%BC%A0%E4%B8%89_01").await;
    let mut got: Vec<String> = serde_json::from_value(d.ok()["cid"].clone()).expect("list");
    got.sort();
    let mut want = vec![cids[0].clone(), cids[1].clone()];
    want.sort();
    assert_eq!(got, want);
    // rebinding moves the cid
    g.post("/user/alias", list(&[(&cids[0], "li")])).await.ok();
    assert_eq!(
        g.get(&format!("/user/cid/alias/{}", "%e5%bc%a0%e4%b8%89_01"))
            .await
            .ok()["cid"],
        json!([cids[1]])
    );
    assert_eq!(
        g.get(&format!("/user/alias/cid/{}", cids[2])).await.ok(),
        &json!({ "alias": "" })
    );
    assert_eq!(
        g.get("/user/cid/alias/nobody").await.ok(),
        &json!({ "cid": [] })
    );
}

#[tokio::test]
async fn eleventh_cid_is_refused_and_nothing_changes() {
    let (_srv, g, cids) = setup(11).await;
    let ten: Vec<(&str, &str)> = cids[..10].iter().map(|c| (c.as_str(), "team")).collect();
    g.post("/user/alias", list(&ten)).await.ok();
    g.post("/user/alias", list(&[(&cids[10], "team")]))
        .await
        .param_error("cid size over limit");
    assert_eq!(
        g.get(&format!("/user/alias/cid/{}", cids[10])).await.ok()["alias"],
        ""
    );
    assert_eq!(
        g.get("/user/cid/alias/team").await.ok()["cid"]
            .as_array()
            .map(Vec::len),
        Some(10)
    );
}

#[tokio::test]
async fn bind_refuses_bad_input_atomically() {
    let (_srv, g, cids) = setup(2).await;
    let c = cids[0].as_str();
    g.post("/user/alias", json!({}))
        .await
        .param_error("data_list can not be empty");
    g.post("/user/alias", json!({ "data_list": [] }))
        .await
        .param_error("data_list can not be empty");
    g.post("/user/alias", json!({ "data_list": "x" }))
        .await
        .param_error("data_list type error");
    g.post("/user/alias", list(&[(c, "a b")]))
        .await
        .param_error("alias is invalid");
    g.post("/user/alias", list(&[(c, "a-b")]))
        .await
        .param_error("alias is invalid");
    g.post("/user/alias", list(&[(c, &"x".repeat(40))]))
        .await
        .param_error("alias is invalid");
    g.post("/user/alias", list(&[(c, &"x".repeat(39))]))
        .await
        .ok();
    g.post("/user/alias", list(&[(c, "")]))
        .await
        .param_error("alias can not be empty");
    g.post("/user/alias", json!({ "data_list": [{ "alias": "a" }] }))
        .await
        .param_error("cid can not be empty");
    g.post("/user/alias", list(&[(c, "a"), (c, "b")]))
        .await
        .param_error("contains duplicate cid");
    // an unknown cid refuses the whole batch
    g.post("/user/alias", list(&[(&cids[1], "ok"), ("nope", "ok")]))
        .await
        .param_error("target user is invalid");
    assert_eq!(
        g.get(&format!("/user/alias/cid/{}", cids[1])).await.ok()["alias"],
        ""
    );
    // > 1000 entries
    let many: Vec<Value> = (0..1001)
        .map(|i| json!({ "cid": format!("c{i}"), "alias": "a" }))
        .collect();
    g.post("/user/alias", json!({ "data_list": many }))
        .await
        .param_error("data_list size over limit");
    // another app's cid is not this app's
    let other_app = _srv.create_app().await;
    let foreign = _srv
        .register(&other_app, json!([{ "phone_type": "ios" }]))
        .await;
    g.post("/user/alias", list(&[(&foreign[0], "x")]))
        .await
        .param_error("target user is invalid");
}

#[tokio::test]
async fn batch_unbind_and_unbind_all() {
    let (_srv, g, cids) = setup(3).await;
    let all: Vec<(&str, &str)> = cids.iter().map(|c| (c.as_str(), "grp")).collect();
    g.post("/user/alias", list(&all)).await.ok();
    g.delete("/user/alias", list(&[(&cids[0], "grp"), ("nope", "grp")]))
        .await
        .param_error("target user is invalid");
    assert_eq!(
        g.get("/user/cid/alias/grp").await.ok()["cid"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    g.delete("/user/alias", list(&[(&cids[0], "grp")]))
        .await
        .ok();
    assert_eq!(
        g.get(&format!("/user/alias/cid/{}", cids[0])).await.ok()["alias"],
        ""
    );
    g.delete("/user/alias/grp", json!(null)).await.ok();
    assert_eq!(g.get("/user/cid/alias/grp").await.ok()["cid"], json!([]));
    g.delete("/user/alias/a%20b", json!(null))
        .await
        .param_error("alias is invalid");
}
