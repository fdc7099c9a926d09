//! One identity graph through UMS, Growth, EngageLab, Getui and the native API.

use reqwest::{Method, StatusCode};
use roster_testkit::{s, As, Creds, TestServer};
use serde_json::{json, Value};

async fn growth(srv: &TestServer, app: &Value, body: Value) -> (StatusCode, Value) {
    srv.post_as(app, Creds::GROWTH, "/smartop/api/v1/user/register", body)
        .await
}

async fn profile(srv: &TestServer, app: &Value, body: Value) -> (StatusCode, Value) {
    srv.post_as(app, Creds::ENGAGELAB, "/v1/user/profile", body)
        .await
}

#[tokio::test]
async fn one_user_through_every_dialect() {
    let mut srv = TestServer::start().await;
    let app = srv.create_app().await;
    let cid = srv
        .register(
            &app,
            json!([{ "phone_type": "android", "brand": "hw", "app_version": "2.1.0", "os": "14",
                                 "properties": { "screen": "1080p" } }]),
        )
        .await
        .remove(0);
    let sender = s(&app["ums"]["app_sender_code"]).to_owned();
    // 1. UMS: a user with contacts, a tag, and the device as its app registration id
    let (st, r) = srv
        .post_as(
            &app,
            Creds::UMS,
            "/v1/user/opt",
            json!([{ "userid": "alice", "set": {
            "phone": { "all": "13800000000" }, "email": { "all": "alice@example.com" },
            "tag": { "all": ["vip"] }, "app": { sender.clone(): [cid.clone()] } } }]),
        )
        .await;
    assert_eq!(
        (st, &r),
        (
            StatusCode::OK,
            &json!({ "code": 0, "data": { "success": ["alice"], "fail": [] }, "message": "success" })
        )
    );
    // 2. Growth: its CUID, and a new one for a new value
    let (st, r) = growth(
        &srv,
        &app,
        json!({ "identityName": "user_id", "identityValues": ["alice", "bob", "alice"] }),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        (r["code"].as_i64(), r["msg"].as_str()),
        (Some(0), Some("ok"))
    );
    let data = r["data"].as_array().expect("data");
    let alice = data[0]["cuid"].as_i64().expect("cuid");
    assert_eq!(data[0]["identityValue"], "alice");
    assert_eq!(
        data[2]["cuid"].as_i64(),
        Some(alice),
        "same value, same CUID"
    );
    assert_ne!(data[1]["cuid"].as_i64(), Some(alice));
    assert!(data.iter().all(|d| d["errorCode"] == 0));
    // 3. EngageLab: the same user as EUID
    let (st, r) = profile(&srv, &app, json!({ "euid": [alice, 987654321] })).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        (r["code"].as_i64(), r["message"].as_str()),
        (Some(0), Some("success"))
    );
    let p = &r["data"][0];
    assert_eq!(p["euid"], alice);
    assert_eq!(p["error_code"], 0);
    assert_eq!(
        p["user_identities"],
        json!({ "user_id": "alice", "registration_id": [cid] })
    );
    assert_eq!(
        p["contacts"],
        json!({ "email": "alice@example.com", "mobile_phone": "13800000000" })
    );
    let d = &p["device_properties"][0];
    assert_eq!(
        (d["el_registration_id"].as_str(), d["el_platform"].as_str()),
        (Some(cid.as_str()), Some("android"))
    );
    assert_eq!(
        (
            d["el_app_version"].as_str(),
            d["el_os"].as_str(),
            d["screen"].as_str()
        ),
        (Some("2.1.0"), Some("14"), Some("1080p"))
    );
    assert!(d["el_last_active"].as_i64().is_some());
    assert_eq!(
        r["data"][1],
        json!({ "euid": 987654321, "user_identities": null, "user_properties": null, "device_properties": null, "contacts": null, "error_code": 55108 })
    );
    // 4. Getui: the device
    let g = srv.getui(&app).await;
    assert_eq!(
        g.get(&format!("/user/detail/{cid}")).await.ok()["validCids"][&cid]["brand"],
        "hw"
    );
    // 5. native: the user by uid and by identity, also after a restart
    srv.restart().await;
    let (st, u) = srv
        .native(&app)
        .get("/users/by_identity/user_id/alice")
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(u["uid"], alice);
    assert_eq!(u["devices"], json!([cid]));
    assert_eq!(u["contacts"]["mobile_phone"], "13800000000");
    assert!(u["ums_bindings"]
        .as_array()
        .is_some_and(|b| b.iter().any(|x| x["field"] == "tag" && x["value"] == "vip")));
}

#[tokio::test]
async fn engagelab_selection_and_null_policy() {
    let srv = TestServer::start().await;
    let app = srv.create_app().await;
    let cids = srv
        .register(
            &app,
            json!([{ "phone_type": "ios" }, { "phone_type": "android" }]),
        )
        .await;
    let native = srv.native(&app);
    let identify = |body: Value| native.post("/users", body);
    let (_, r) = identify(json!({ "identities": { "user_id": "u9", "anonymous_id": "" } })).await;
    assert_eq!(
        r["error"]["code"], "invalid_param",
        "an empty identity value is refused"
    );
    let (_, r) = identify(json!({ "identities": { "user_id": "u9", "registration_id": [cids[0], cids[1]] },
                                    "properties": { "language": "zh-CN", "empty": "", "nothing": null },
                                    "contacts": { "whatsapp_phone": "+8613800000000" } }))
        .await;
    assert_eq!(r["created"], true);
    let uid = r["uid"].as_i64().expect("uid");
    // the later login is listed first
    let ev = format!("/devices/{}/events", cids[1]);
    let later = roster_core::time::now_ms() + 60_000;
    let (st, _) = native
        .post(&ev, json!({ "type": "login", "at": later }))
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (_, r) = profile(&srv, &app, json!({ "euid": [uid], "user_properties": ["language", "empty", "nothing", "absent"],
        "device_properties": ["el_platform"], "contacts": ["email", "whatsapp_phone"], "user_identities": ["user_id"] })).await;
    let p = &r["data"][0];
    assert_eq!(p["user_identities"], json!({ "user_id": "u9" }));
    assert_eq!(
        p["user_properties"],
        json!({ "language": "zh-CN", "empty": "", "nothing": null })
    );
    assert_eq!(p["contacts"], json!({ "whatsapp_phone": "+8613800000000" }));
    let devs = p["device_properties"].as_array().expect("devices");
    assert_eq!(devs.len(), 2);
    assert_eq!(
        devs[0],
        json!({ "el_platform": "android", "el_registration_id": cids[1], "el_last_active": later })
    );
    assert_eq!(devs[1]["el_registration_id"], cids[0]);
    // errors
    let (st, r) = profile(&srv, &app, json!({ "euid": [] })).await;
    assert_eq!(
        (st.as_u16(), r),
        (
            400,
            json!({ "code": 55004, "message": "EUID count must be between 1 and 100" })
        )
    );
    let many: Vec<i64> = (1..=101).collect();
    assert_eq!(
        profile(&srv, &app, json!({ "euid": many })).await.1["code"],
        55004
    );
    assert_eq!(
        profile(&srv, &app, json!({ "euid": ["x"] })).await.1["code"],
        55004
    );
    assert_eq!(
        profile(&srv, &app, json!({ "euid": [1], "contacts": "email" }))
            .await
            .1["code"],
        55004
    );
    let (st, r) = srv
        .call(
            Method::POST,
            "/v1/user/profile",
            As::Basic(s(&app["engagelab"]["api_key"]), "wrong"),
            Some(&json!({ "euid": [1] })),
        )
        .await;
    assert_eq!((st.as_u16(), r["code"].as_i64()), (401, Some(40050)));
    // another app's users are invalid EUIDs here
    let other = srv.create_app().await;
    assert_eq!(
        profile(&srv, &other, json!({ "euid": [uid] })).await.1["data"][0]["error_code"],
        55108
    );
}

#[tokio::test]
async fn ums_scopes_and_validation() {
    let srv = TestServer::start().await;
    let app = srv.create_app().await;
    let app_id = s(&app["app_id"]).to_owned();
    let own = s(&app["ums"]["channel_key"]).to_owned();
    let sender = s(&app["ums"]["app_sender_code"]).to_owned();
    let channels = format!("/admin/v1/apps/{app_id}/ums/channels");
    let (st, ch2) = srv
        .admin(
            Method::POST,
            &channels,
            Some(json!({ "channel_code": "web" })),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let other_key = s(&ch2["channel_key"]).to_owned();
    let senders = format!("/admin/v1/apps/{app_id}/ums/senders");
    let (st, oa) = srv
        .admin(Method::POST, &senders, Some(json!({ "kind": "wechatoa" })))
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let oa = s(&oa["code"]).to_owned();
    // the default channel writes all, itself and its authorised APP sender
    let (_, r) = srv.post_as(&app, Creds::UMS_CHANNEL, "/v1/user/opt", json!([
        { "userid": "ok1", "set": { "tag": { "all": ["a"], own.clone(): ["b"] }, "app": { sender.clone(): ["rid1"] },
                                    "dingtalkcc": "dt1", "wechatwk": { "all": "wk1" }, "wechatwk_linkedcorp": ["corp/u1"] } },
        { "userid": "no1", "set": { "tag": { other_key.clone(): ["x"] } } },
        { "userid": "no2", "set": { "wechatoa": { oa.clone(): "openid" } } },
        { "userid": "no3", "set": { "tag": { "unknown-bind": ["x"] } } },
        { "userid": "bad user", "set": {} },
        { "userid": "no4", "add": { "phone": { "all": "1" } } },
        { "userid": "no5", "set": { "fax": { "all": "1" } } },
        { "userid": "no6", "add": { "tag": { "all": ["x".repeat(41)] } } },
        { "userid": "no7", "set": { "wechatwk_linkedcorp": ["nocorp"] } },
        { "userid": "no8", "set": { "dingtalkcc": { own.clone(): "x" } } }
    ])).await;
    assert_eq!(r["code"], 0);
    assert_eq!(r["data"]["success"], json!(["ok1"]));
    let fails: Vec<(String, String)> = r["data"]["fail"]
        .as_array()
        .expect("fail")
        .iter()
        .map(|f| (s(&f["userid"]).to_owned(), s(&f["errcode"]).to_owned()))
        .collect();
    let want: Vec<(String, String)> = [
        ("no1", "4005"),
        ("no2", "4005"),
        ("no3", "4004"),
        ("bad user", "4004"),
        ("no4", "4004"),
        ("no5", "4004"),
        ("no6", "4004"),
        ("no7", "4004"),
        ("no8", "4004"),
    ]
    .iter()
    .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
    .collect();
    assert_eq!(fails, want);
    // the access key may write any bind id, and once authorised, the channel may too
    let (_, r) = srv
        .post_as(
            &app,
            Creds::UMS,
            "/v1/user/opt",
            json!([{ "userid": "no2", "set": { "wechatoa": { oa.clone(): "openid" } } }]),
        )
        .await;
    assert_eq!(r["data"]["success"], json!(["no2"]));
    let grant = format!("/admin/v1/apps/{app_id}/ums/channels/{own}/senders/{oa}");
    let (st, _) = srv.admin(Method::PUT, &grant, None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (_, r) = srv
        .post_as(
            &app,
            Creds::UMS_CHANNEL,
            "/v1/user/opt",
            json!([{ "userid": "no2", "del": { "wechatoa": { oa.clone(): "openid" } } }]),
        )
        .await;
    assert_eq!(r["data"]["success"], json!(["no2"]));
    // whole-request failures
    let (st, r) = srv
        .post_as(&app, Creds::UMS, "/v1/user/opt", json!({ "userid": "x" }))
        .await;
    assert_eq!(
        (st.as_u16(), r["code"].as_i64(), r["data"].as_str()),
        (400, Some(4004), Some(""))
    );
    let many: Vec<Value> = (0..1001)
        .map(|i| json!({ "userid": format!("u{i}") }))
        .collect();
    assert_eq!(
        srv.post_as(&app, Creds::UMS, "/v1/user/opt", Value::Array(many))
            .await
            .1["code"],
        4004
    );
    let (st, r) = srv
        .call(
            Method::POST,
            "/v1/user/opt",
            As::Basic(&own, "wrong"),
            Some(&json!([{ "userid": "x" }])),
        )
        .await;
    assert_eq!((st.as_u16(), r["code"].as_i64()), (401, Some(4005)));
    // only the access key deletes; delete removes the user and its bindings
    let (st, r) = srv
        .post_as(&app, Creds::UMS_CHANNEL, "/v1/user/delete", json!(["ok1"]))
        .await;
    assert_eq!((st.as_u16(), r["code"].as_i64()), (401, Some(4005)));
    let (_, before) = growth(
        &srv,
        &app,
        json!({ "identityName": "user_id", "identityValues": ["ok1"] }),
    )
    .await;
    let (_, r) = srv
        .post_as(&app, Creds::UMS, "/v1/user/delete", json!(["ok1", "ghost"]))
        .await;
    assert_eq!(r["data"]["success"], json!(["ok1"]));
    assert_eq!(r["data"]["fail"][0]["userid"], "ghost");
    let old = before["data"][0]["cuid"].as_i64().expect("cuid");
    assert_eq!(
        profile(&srv, &app, json!({ "euid": [old] })).await.1["data"][0]["error_code"],
        55108
    );
    let (_, after) = growth(
        &srv,
        &app,
        json!({ "identityName": "user_id", "identityValues": ["ok1"] }),
    )
    .await;
    assert!(
        after["data"][0]["cuid"].as_i64().expect("cuid") > old,
        "a new user, never the old uid"
    );
}

#[tokio::test]
async fn growth_rules() {
    let srv = TestServer::start().await;
    let app = srv.create_app().await;
    let app_id = s(&app["app_id"]).to_owned();
    let (st, r) = srv
        .call(
            Method::POST,
            "/smartop/api/v1/user/register",
            As::Basic(s(&app["growth"]["project_id"]), "nope"),
            Some(&json!({})),
        )
        .await;
    assert_eq!((st.as_u16(), r["code"].as_i64()), (401, Some(4009)));
    for name in ["anonymous_id", "registration_id", "missing", ""] {
        let (_, r) = growth(
            &srv,
            &app,
            json!({ "identityName": name, "identityValues": ["a"] }),
        )
        .await;
        assert_eq!(r["code"], 40005, "{name}");
    }
    let names = format!("/admin/v1/apps/{app_id}/identity_names");
    for (name, unique, priority) in [
        ("phone", true, 1),
        ("device_fp", false, 1),
        ("member", true, 2),
    ] {
        let body = json!({ "name": name, "unique": unique, "priority": priority });
        let (st, _) = srv.admin(Method::POST, &names, Some(body)).await;
        assert_eq!(st, StatusCode::CREATED, "{name}");
    }
    // a custom name that is not unique, or not of priority 1, cannot register; empty
    // and too many values are refused
    let many: Vec<String> = (0..101).map(|i| format!("v{i}")).collect();
    for (body, code) in [
        (
            json!({ "identityName": "device_fp", "identityValues": ["a"] }),
            40005,
        ),
        (
            json!({ "identityName": "member", "identityValues": ["a"] }),
            40005,
        ),
        (
            json!({ "identityName": "phone", "identityValues": [] }),
            40004,
        ),
        (json!({ "identityName": "phone" }), 40004),
        (
            json!({ "identityName": "phone", "identityValues": many }),
            40011,
        ),
    ] {
        let (_, r) = growth(&srv, &app, body.clone()).await;
        assert_eq!(r["code"], code, "{body}");
    }
    let long = "1".repeat(257);
    let (_, r) = growth(&srv, &app, json!({ "identityName": "phone", "identityValues": ["18012345678", long, "", "1".repeat(256)] })).await;
    assert_eq!(r["code"], 0);
    let codes: Vec<i64> = r["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|d| d["errorCode"].as_i64().unwrap_or(-9))
        .collect();
    assert_eq!(codes, vec![0, 40006, 40004, 0]);
    assert_eq!(r["data"][1]["cuid"], Value::Null);
    assert_eq!(r["data"][1]["identityValue"], json!(long));
    assert!(r["data"][0]["cuid"].as_i64().is_some_and(|c| c > 0));
    // duplicate custom names are refused; built-ins cannot be redefined
    for name in ["phone", "user_id"] {
        let body = json!({ "name": name, "unique": true, "priority": 1 });
        let (st, _) = srv.admin(Method::POST, &names, Some(body)).await;
        assert_eq!(st, StatusCode::CONFLICT, "{name}");
    }
}
