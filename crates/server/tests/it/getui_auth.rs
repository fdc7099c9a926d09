use roster_testkit::{s, sign, Getui, TestServer};
use serde_json::json;

#[tokio::test]
async fn auth_issues_tokens_that_expire_after_24h() {
    let srv = TestServer::start().await;
    let app = srv.create_app().await;
    let g = srv.getui(&app).await;
    assert_eq!(g.token.len(), 64);
    g.get("/user/status/nobody").await.ok();
    srv.advance_clock(24 * 3600 * 1000 - 60_000);
    g.get("/user/status/nobody").await.ok();
    srv.advance_clock(120_000);
    let r = g.get("/user/status/nobody").await;
    assert_eq!((r.status, r.code()), (401, 10001), "{}", r.body);
}

#[tokio::test]
async fn auth_reply_shape_and_timestamp_forms() {
    let srv = TestServer::start().await;
    let app = srv.create_app().await;
    let mut g = srv.getui(&app).await;
    g.token.clear();
    let now = roster_core::time::now_ms();
    // timestamp as a JSON number
    let r = g
        .post(
            "/auth",
            json!({ "sign": sign(&app, &now.to_string()), "timestamp": now, "appkey": app["getui"]["app_key"] }),
        )
        .await;
    let data = r.ok();
    let expire: i64 = s(&data["expire_time"]).parse().expect("digits");
    assert!((expire - now - 86_400_000).abs() < 5_000, "{expire}");
    // an uppercase sign is the same sign
    let ts = now.to_string();
    let r = g
        .post("/auth", json!({ "sign": sign(&app, &ts).to_uppercase(), "timestamp": ts, "appkey": app["getui"]["app_key"] }))
        .await;
    r.ok();
}

#[tokio::test]
async fn auth_refuses_bad_input() {
    let srv = TestServer::start().await;
    let app = srv.create_app().await;
    let mut g = srv.getui(&app).await;
    g.token.clear();
    let ts = roster_core::time::now_ms().to_string();
    let key = app["getui"]["app_key"].clone();
    let good = sign(&app, &ts);
    g.post("/auth", json!({ "timestamp": ts, "appkey": key }))
        .await
        .param_error("sign can not be empty");
    g.post("/auth", json!({ "sign": good, "appkey": key }))
        .await
        .param_error("timestamp can not be empty");
    g.post("/auth", json!({ "sign": good, "timestamp": ts }))
        .await
        .param_error("appkey can not be empty");
    g.post(
        "/auth",
        json!({ "sign": "00", "timestamp": ts, "appkey": key }),
    )
    .await
    .param_error("sign is invalid");
    g.post(
        "/auth",
        json!({ "sign": good, "timestamp": ts, "appkey": "other" }),
    )
    .await
    .param_error("sign is invalid");
    g.post(
        "/auth",
        json!({ "sign": good, "timestamp": "12ab", "appkey": key }),
    )
    .await
    .param_error("timestamp is invalid");
    let old = (roster_core::time::now_ms() - 3_600_000).to_string();
    g.post(
        "/auth",
        json!({ "sign": sign(&app, &old), "timestamp": old, "appkey": key }),
    )
    .await
    .param_error("timestamp is invalid");
    // another app's credentials do not authenticate on this app's path
    let other = srv.create_app().await;
    g.post(
        "/auth",
        json!({ "sign": sign(&other, &ts), "timestamp": ts, "appkey": other["getui"]["app_key"] }),
    )
    .await
    .param_error("sign is invalid");
}

#[tokio::test]
async fn tokens_are_scoped_to_their_app_and_revocable() {
    let srv = TestServer::start().await;
    let a = srv.create_app().await;
    let b = srv.create_app().await;
    let ga = srv.getui(&a).await;
    let mut gb = srv.getui(&b).await;
    // a's token on b's path
    gb.token = ga.token.clone();
    let r = gb.get("/user/status/x").await;
    assert_eq!((r.status, r.code()), (401, 10001));
    // missing and unknown tokens
    gb.token.clear();
    assert_eq!(gb.get("/user/status/x").await.code(), 10001);
    gb.token = "f".repeat(64);
    assert_eq!(gb.get("/user/status/x").await.code(), 10001);
    // revoke; a second revoke is fine too
    let token = ga.token.clone();
    ga.delete(&format!("/auth/{token}"), json!(null)).await.ok();
    let r = ga.get("/user/status/x").await;
    assert_eq!((r.status, r.code()), (401, 10001));
    ga.delete(&format!("/auth/{token}"), json!(null)).await.ok();
    // a fresh auth works again, and /auth ignores a stale token header
    let fresh = Getui::connect(&srv.http, &srv.base, &a).await;
    fresh.get("/user/status/x").await.ok();
}
