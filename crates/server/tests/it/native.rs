use reqwest::{Method, StatusCode};
use roster_testkit::{s, As, Creds, TestServer};
use serde_json::{json, Value};

#[tokio::test]
async fn healthz_and_openapi() {
    let srv = TestServer::start().await;
    let (status, _) = srv.call(Method::GET, "/healthz", As::Nobody, None).await;
    assert_eq!(status, StatusCode::OK);
    let (_, doc) = srv
        .call(Method::GET, "/openapi.json", As::Nobody, None)
        .await;
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    for p in [
        "/admin/v1/apps",
        "/admin/v1/apps/{app_id}/getui/bind_dt_types",
        "/api/v1/apps/{app_id}/devices",
        "/api/v1/apps/{app_id}/devices/{cid}",
        "/api/v1/apps/{app_id}/devices/{cid}/events",
    ] {
        assert!(doc["paths"][p].is_object(), "{p} missing from openapi.json");
    }
}

#[tokio::test]
async fn app_create_contract() {
    let srv = TestServer::start().await;
    let name = json!({ "name": "x" });
    let (st, _) = srv
        .call(Method::POST, "/admin/v1/apps", As::Nobody, Some(&name))
        .await;
    assert_eq!(st, 401, "admin token required");
    let (st, _) = srv
        .call(
            Method::POST,
            "/admin/v1/apps",
            As::Bearer("wrong"),
            Some(&name),
        )
        .await;
    assert_eq!(st, 401);
    let app = srv.create_app().await;
    for key in ["app_key", "master_secret"] {
        assert!(!s(&app["getui"][key]).is_empty());
    }
    for key in [
        "access_key",
        "access_secret",
        "channel_key",
        "channel_master_secret",
        "channel_code",
        "app_sender_code",
    ] {
        assert!(!s(&app["ums"][key]).is_empty(), "ums.{key}");
    }
    for key in ["project_id", "project_secret"] {
        assert!(!s(&app["growth"][key]).is_empty());
    }
    for key in ["api_key", "api_secret"] {
        assert!(!s(&app["engagelab"][key]).is_empty());
    }
    let (st, _) = srv
        .admin(Method::POST, "/admin/v1/apps", Some(json!({ "name": " " })))
        .await;
    assert_eq!(st, 400);
}

async fn upsert(srv: &TestServer, app: &Value, body: Value) -> (u16, Value) {
    let (status, reply) = srv.native(app).post("/devices", body).await;
    (status.as_u16(), reply)
}

#[tokio::test]
async fn device_upsert_validation() {
    let srv = TestServer::start().await;
    let app = srv.create_app().await;
    let (st, body) = upsert(
        &srv,
        &app,
        json!([{ "cid": "dev-1", "phone_type": "android", "region": "11010000" }]),
    )
    .await;
    assert_eq!((st, body), (200, json!({ "cids": ["dev-1"] })));
    // update without phone_type keeps it
    let (st, _) = upsert(&srv, &app, json!([{ "cid": "dev-1", "brand": "xm" }])).await;
    assert_eq!(st, 200);
    let cases = [
        (json!([]), "empty_param"),
        (json!([{ "phone_type": "windows" }]), "invalid_param"),
        (
            json!([{ "phone_type": "ios", "region": "110" }]),
            "invalid_param",
        ),
        (
            json!([{ "cid": "a,b", "phone_type": "ios" }]),
            "invalid_param",
        ),
        (
            json!([{ "cid": "x", "phone_type": "ios" }, { "cid": "x", "phone_type": "ios" }]),
            "duplicate",
        ),
        (json!([{ "brand": "hw" }]), "empty_param"),
        (json!({ "not": "a list" }), "invalid_param"),
    ];
    for (body, code) in cases {
        let (st, reply) = upsert(&srv, &app, body.clone()).await;
        assert_eq!(
            (st, reply["error"]["code"].as_str()),
            (400, Some(code)),
            "{body} -> {reply}"
        );
    }
    let many: Vec<Value> = (0..1001).map(|_| json!({ "phone_type": "ios" })).collect();
    let (st, reply) = upsert(&srv, &app, Value::Array(many)).await;
    assert_eq!(
        (st, reply["error"]["code"].as_str()),
        (400, Some("size_over_limit"))
    );
    // a refused batch wrote nothing: the valid first entry is absent
    let (st, _) = upsert(
        &srv,
        &app,
        json!([{ "cid": "fresh", "phone_type": "ios" }, { "brand": "no-type" }]),
    )
    .await;
    assert_eq!(st, 400);
    let (st, _) = srv.native(&app).get("/devices/fresh").await;
    assert_eq!(st, 404);
    // another app's credentials
    let other = srv.create_app().await;
    let (user, pass) = Creds::NATIVE.of(&other);
    let path = format!("/api/v1/apps/{}/devices", s(&app["app_id"]));
    let body = json!([{ "phone_type": "ios" }]);
    let (st, _) = srv
        .call(Method::POST, &path, As::Basic(user, pass), Some(&body))
        .await;
    assert_eq!(st, 401);
}

#[tokio::test]
async fn events_feed_status_and_login_freq() {
    let srv = TestServer::start().await;
    let app = srv.create_app().await;
    let cids = srv
        .register(&app, json!([{ "phone_type": "android" }]))
        .await;
    let native = srv.native(&app);
    let now = roster_core::time::now_ms();
    let events = format!("/devices/{}/events", cids[0]);
    for days_ago in [3, 2, 2, 1] {
        let (st, _) = native
            .post(
                &events,
                json!({ "type": "login", "at": now - days_ago * 86_400_000 }),
            )
            .await;
        assert_eq!(st, 204);
    }
    let g = srv.getui(&app).await;
    let d = g.get(&format!("/user/detail/{}", cids[0])).await;
    assert_eq!(
        d.ok()["validCids"][&cids[0]]["login_freq"],
        4,
        "today + three distinct earlier days"
    );
    let (st, _) = native
        .post("/devices/nope/events", json!({ "type": "online" }))
        .await;
    assert_eq!(st, 404);
    let (st, _) = native.post(&events, json!({ "type": "dance" })).await;
    assert_eq!(st, 400);
}
