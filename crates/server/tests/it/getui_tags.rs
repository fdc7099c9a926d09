use roster_testkit::{Fixture, Getui, TestServer};
use serde_json::{json, Value};

async fn setup(n: usize) -> (TestServer, Getui, Vec<String>) {
    setup_lifted(n, &[]).await
}

/// Like [`setup`], with the app's limits of `lifted` switched off by the admin.
async fn setup_lifted(n: usize, lifted: &[&str]) -> (TestServer, Getui, Vec<String>) {
    let devices: Vec<Value> = (0..n).map(|_| json!({ "phone_type": "ios" })).collect();
    let f = Fixture::start(Value::Array(devices)).await;
    if !lifted.is_empty() {
        roster_testkit::lift_limits(&f.srv.http, &f.srv.base, &f.app, lifted).await;
    }
    (f.srv, f.getui, f.cids)
}

#[tokio::test]
async fn overwrite_and_query() {
    // Overwriting one cid again the same day is refused as at Getui (quota.rs tests it);
    // here the admin lifted that limit to see each overwrite replace the tags.
    let (_srv, g, cids) = setup_lifted(1, &["getui_tag_overwrite"]).await;
    let path = format!("/user/custom_tag/cid/{}", cids[0]);
    assert_eq!(g.get(&path).await.ok(), &json!({ cids[0].as_str(): [] }));
    g.post(&path, json!({ "custom_tag": ["喜爱足球", "anime"] }))
        .await
        .ok();
    assert_eq!(
        g.get(&path).await.ok(),
        &json!({ cids[0].as_str(): ["anime 喜爱足球"] })
    );
    g.post(&path, json!({ "custom_tag": ["only"] })).await.ok();
    assert_eq!(
        g.get(&path).await.ok(),
        &json!({ cids[0].as_str(): ["only"] })
    );
    g.post(&path, json!({ "custom_tag": [] })).await.ok();
    assert_eq!(g.get(&path).await.ok(), &json!({ cids[0].as_str(): [] }));
    g.get("/user/custom_tag/cid/nope")
        .await
        .param_error("target user is invalid");
}

#[tokio::test]
async fn overwrite_limits() {
    let (_srv, g, cids) = setup_lifted(1, &["getui_tag_overwrite"]).await;
    let path = format!("/user/custom_tag/cid/{}", cids[0]);
    g.post(&path, json!({ "custom_tag": ["keep"] })).await.ok();
    g.post(&path, json!({}))
        .await
        .param_error("custom_tag can not be empty");
    g.post(&path, json!({ "custom_tag": "a" }))
        .await
        .param_error("custom_tag type error");
    g.post(&path, json!({ "custom_tag": ["a b"] }))
        .await
        .param_error("custom_tag is invalid");
    g.post(&path, json!({ "custom_tag": [""] }))
        .await
        .param_error("custom_tag can not be empty");
    g.post(&path, json!({ "custom_tag": ["x".repeat(33)] }))
        .await
        .param_error("custom_tag size over limit");
    g.post(&path, json!({ "custom_tag": ["x".repeat(32)] }))
        .await
        .ok();
    g.post(&path, json!({ "custom_tag": ["a", "a"] }))
        .await
        .param_error("contains duplicate custom_tag");
    let hundred_one: Vec<String> = (0..101).map(|i| format!("{i}")).collect();
    g.post(&path, json!({ "custom_tag": hundred_one }))
        .await
        .param_error("custom_tag size over limit");
    // 100 tags of 6 characters = 600 > 512
    let long: Vec<String> = (0..100).map(|i| format!("t{i:05}")).collect();
    g.post(&path, json!({ "custom_tag": long }))
        .await
        .param_error("custom_tag size over limit");
    // 100 tags within 512 characters are fine
    let ok: Vec<String> = (0..100).map(|i| format!("{i:02}")).collect();
    g.post(&path, json!({ "custom_tag": ok })).await.ok();
    g.post("/user/custom_tag/cid/nope", json!({ "custom_tag": ["a"] }))
        .await
        .param_error("target user is invalid");
    assert_eq!(
        g.get(&path).await.ok()[&cids[0]][0]
            .as_str()
            .map(|s| s.split(' ').count()),
        Some(100)
    );
}

#[tokio::test]
async fn batch_bind_and_unbind_report_per_cid() {
    let (_srv, g, cids) = setup(2).await;
    let r = g
        .put(
            "/user/custom_tag/batch/vip",
            json!({ "cid": [cids[0], "nope", cids[1]] }),
        )
        .await;
    assert_eq!(
        r.ok(),
        &json!({ cids[0].as_str(): "true", "nope": "false", cids[1].as_str(): "true" })
    );
    let t = g.get(&format!("/user/custom_tag/cid/{}", cids[1])).await;
    assert_eq!(t.ok()[&cids[1]], json!(["vip"]));
    // a Chinese tag, percent-encoded in the path
    let r = g
        .put(
            "/user/custom_tag/batch/%E5%96%9C%E7%88%B1",
            json!({ "cid": [cids[0]] }),
        )
        .await;
    assert_eq!(r.ok()[&cids[0]], "true");
    assert_eq!(
        g.get(&format!("/user/custom_tag/cid/{}", cids[0]))
            .await
            .ok()[&cids[0]],
        json!(["vip 喜爱"])
    );
    let r = g
        .delete(
            "/user/custom_tag/batch/vip",
            json!({ "cid": [cids[0], "nope"] }),
        )
        .await;
    assert_eq!(
        r.ok(),
        &json!({ cids[0].as_str(): "true", "nope": "false" })
    );
    assert_eq!(
        g.get(&format!("/user/custom_tag/cid/{}", cids[0]))
            .await
            .ok()[&cids[0]],
        json!(["喜爱"])
    );
}

#[tokio::test]
async fn batch_limits() {
    let (_srv, g, cids) = setup(1).await;
    g.put("/user/custom_tag/batch/a%20b", json!({ "cid": [cids[0]] }))
        .await
        .param_error("custom_tag is invalid");
    g.put(
        &format!("/user/custom_tag/batch/{}", "x".repeat(33)),
        json!({ "cid": [cids[0]] }),
    )
    .await
    .param_error("custom_tag size over limit");
    g.put("/user/custom_tag/batch/t", json!({}))
        .await
        .param_error("cid can not be empty");
    g.put("/user/custom_tag/batch/t", json!({ "cid": [] }))
        .await
        .param_error("cid can not be empty");
    g.put(
        "/user/custom_tag/batch/t",
        json!({ "cid": [cids[0], cids[0]] }),
    )
    .await
    .param_error("contains duplicate cid");
    let many: Vec<String> = (0..1001).map(|i| format!("c{i}")).collect();
    g.put("/user/custom_tag/batch/t", json!({ "cid": many }))
        .await
        .param_error("cid size over limit");
    g.delete("/user/custom_tag/batch/t", json!({ "cid": many }))
        .await
        .param_error("cid size over limit");
    // the 101st tag of a cid is refused for that cid only
    let hundred: Vec<String> = (0..100).map(|i| format!("{i}")).collect();
    g.post(
        &format!("/user/custom_tag/cid/{}", cids[0]),
        json!({ "custom_tag": hundred }),
    )
    .await
    .ok();
    let r = g
        .put("/user/custom_tag/batch/extra", json!({ "cid": [cids[0]] }))
        .await;
    assert_eq!(r.ok()[&cids[0]], "false");
}
