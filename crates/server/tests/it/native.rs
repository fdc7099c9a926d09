use roster_testkit::{s, TestServer, ADMIN_TOKEN};
use serde_json::{json, Value};

#[tokio::test]
async fn healthz_and_openapi() {
    let srv = TestServer::start().await;
    let r = srv
        .http
        .get(format!("{}/healthz", srv.base))
        .send()
        .await
        .expect("healthz");
    assert_eq!(r.status(), 200);
    let doc: Value = srv
        .http
        .get(format!("{}/openapi.json", srv.base))
        .send()
        .await
        .expect("openapi")
        .json()
        .await
        .expect("json");
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
    let r = srv
        .http
        .post(format!("{}/admin/v1/apps", srv.base))
        .json(&json!({ "name": "x" }))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 401, "admin token required");
    let r = srv
        .http
        .post(format!("{}/admin/v1/apps", srv.base))
        .bearer_auth("wrong")
        .json(&json!({ "name": "x" }))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 401);
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
    let r = srv
        .http
        .post(format!("{}/admin/v1/apps", srv.base))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "name": " " }))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 400);
}

async fn upsert(srv: &TestServer, app: &Value, body: Value) -> (u16, Value) {
    let r = srv
        .http
        .post(format!(
            "{}/api/v1/apps/{}/devices",
            srv.base,
            s(&app["app_id"])
        ))
        .basic_auth(
            s(&app["getui"]["app_key"]),
            Some(s(&app["getui"]["master_secret"])),
        )
        .json(&body)
        .send()
        .await
        .expect("send");
    (r.status().as_u16(), r.json().await.expect("json"))
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
    let r = srv
        .http
        .get(format!(
            "{}/api/v1/apps/{}/devices/fresh",
            srv.base,
            s(&app["app_id"])
        ))
        .basic_auth(
            s(&app["getui"]["app_key"]),
            Some(s(&app["getui"]["master_secret"])),
        )
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 404);
    // wrong credentials, and another app's credentials
    let other = srv.create_app().await;
    let r = srv
        .http
        .post(format!(
            "{}/api/v1/apps/{}/devices",
            srv.base,
            s(&app["app_id"])
        ))
        .basic_auth(
            s(&other["getui"]["app_key"]),
            Some(s(&other["getui"]["master_secret"])),
        )
        .json(&json!([{ "phone_type": "ios" }]))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn events_feed_status_and_login_freq() {
    let srv = TestServer::start().await;
    let app = srv.create_app().await;
    let cids = srv
        .register(&app, json!([{ "phone_type": "android" }]))
        .await;
    let base = format!("{}/api/v1/apps/{}/devices", srv.base, s(&app["app_id"]));
    let auth = (
        s(&app["getui"]["app_key"]).to_owned(),
        s(&app["getui"]["master_secret"]).to_owned(),
    );
    let post = |path: String, body: Value| {
        srv.http
            .post(path)
            .basic_auth(&auth.0, Some(&auth.1))
            .json(&body)
            .send()
    };
    let now = roster_core::time::now_ms();
    for days_ago in [3, 2, 2, 1] {
        let r = post(
            format!("{base}/{}/events", cids[0]),
            json!({ "type": "login", "at": now - days_ago * 86_400_000 }),
        )
        .await
        .expect("event");
        assert_eq!(r.status(), 204);
    }
    let g = srv.getui(&app).await;
    let d = g.get(&format!("/user/detail/{}", cids[0])).await;
    assert_eq!(
        d.ok()["validCids"][&cids[0]]["login_freq"],
        4,
        "today + three distinct earlier days"
    );
    let r = post(format!("{base}/nope/events"), json!({ "type": "online" }))
        .await
        .expect("event");
    assert_eq!(r.status(), 404);
    let r = post(
        format!("{base}/{}/events", cids[0]),
        json!({ "type": "dance" }),
    )
    .await
    .expect("event");
    assert_eq!(r.status(), 400);
}
