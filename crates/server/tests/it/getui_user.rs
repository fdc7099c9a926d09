use reqwest::{Method, StatusCode};
use roster_testkit::{s, Fixture, Getui, TestServer};
use serde_json::{json, Value};

async fn setup() -> (TestServer, Value, Getui, Vec<String>) {
    let f = Fixture::start(json!([
        { "phone_type": "android", "brand": "hw", "phone_model": "P60", "package_name": "com.demo",
          "client_app_id": "capp", "device_token": "IQAAAA", "notification_switch": false },
        { "phone_type": "ios" },
        { "phone_type": "android", "kind": "mini_program" }
    ]))
    .await;
    (f.srv, f.app, f.getui, f.cids)
}

fn comma(c: &[&String]) -> String {
    c.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",")
}

#[tokio::test]
async fn blacklist_is_atomic_and_visible_natively() {
    let (srv, app, g, cids) = setup().await;
    g.post(
        &format!("/user/black/cid/{}", comma(&[&cids[0], &cids[1]])),
        json!(null),
    )
    .await
    .ok();
    g.delete(&format!("/user/black/cid/{},nope", cids[0]), json!(null))
        .await
        .param_error("target user is invalid");
    let native = srv.native(&app);
    assert_eq!(
        native.device(&cids[0]).await["blacklisted"],
        true,
        "failed removal changed nothing"
    );
    g.delete(&format!("/user/black/cid/{}", cids[0]), json!(null))
        .await
        .ok();
    assert_eq!(native.device(&cids[0]).await["blacklisted"], false);
    assert_eq!(native.device(&cids[1]).await["blacklisted"], true);
    let many: Vec<String> = (0..201).map(|i| format!("c{i}")).collect();
    g.post(&format!("/user/black/cid/{}", many.join(",")), json!(null))
        .await
        .param_error("cid size over limit");
    g.post(
        &format!("/user/black/cid/{},{}", cids[0], cids[0]),
        json!(null),
    )
    .await
    .param_error("contains duplicate cid");
}

#[tokio::test]
async fn status_reports_known_cids_with_login_time_as_digits() {
    let (srv, app, g, cids) = setup().await;
    let native = srv.native(&app);
    let events = format!("/devices/{}/events", cids[0]);
    let ev = |body: Value| native.post(&events, body);
    assert_eq!(
        ev(json!({ "type": "login", "at": 1_900_000_000_000i64 }))
            .await
            .0,
        204
    );
    let d = g
        .get(&format!("/user/status/{},nope,{}", cids[0], cids[1]))
        .await;
    let data = d.ok();
    assert_eq!(
        data[&cids[0]],
        json!({ "last_login_time": "1900000000000", "status": "online" })
    );
    assert_eq!(data[&cids[1]]["status"], "offline");
    assert!(s(&data[&cids[1]]["last_login_time"])
        .bytes()
        .all(|b| b.is_ascii_digit()));
    assert!(data.get("nope").is_none());
    assert_eq!(ev(json!({ "type": "offline" })).await.0, 204);
    assert_eq!(
        g.get(&format!("/user/status/{}", cids[0])).await.ok()[&cids[0]]["status"],
        "offline"
    );
    let many: Vec<String> = (0..1001).map(|i| format!("c{i}")).collect();
    g.get(&format!("/user/status/{}", many.join(",")))
        .await
        .param_error("cid size over limit");
    let thousand: Vec<String> = (0..1000).map(|i| format!("c{i}")).collect();
    assert_eq!(
        g.get(&format!("/user/status/{}", thousand.join(",")))
            .await
            .ok(),
        &json!({})
    );
}

#[tokio::test]
async fn device_status_has_inner_envelopes() {
    let (_srv, _app, g, cids) = setup().await;
    let d = g.get(&format!("/user/deviceStatus/{},nope", cids[1])).await;
    let data = d.ok();
    assert_eq!(
        data[&cids[1]],
        json!({ "code": 0, "msg": "success", "data": { "cid_status": "offline", "device_status": "offline" } })
    );
    assert_eq!(data["nope"]["code"], 20001);
    let many: Vec<String> = (0..101).map(|i| format!("c{i}")).collect();
    g.get(&format!("/user/deviceStatus/{}", many.join(",")))
        .await
        .param_error("cid size over limit");
}

#[tokio::test]
async fn detail_shape() {
    let (_srv, _app, g, cids) = setup().await;
    let d = g
        .get(&format!("/user/detail/{},{},bad1", cids[0], cids[1]))
        .await;
    let data = d.ok();
    assert_eq!(data["invalidCids"], json!(["bad1"]));
    let v = &data["validCids"][&cids[0]];
    assert_eq!(v["client_app_id"], "capp");
    assert_eq!(v["package_name"], "com.demo");
    assert_eq!(v["device_token"], "IQAAAA");
    assert_eq!(v["phone_type"], 1);
    assert_eq!(v["phone_model"], "P60");
    assert_eq!(v["notification_switch"], false);
    assert_eq!(v["login_freq"], 1);
    assert_eq!(v["brand"], "hw");
    let ct = s(&v["create_time"]);
    assert_eq!(ct.len(), 19, "{ct}");
    assert_eq!(&ct[4..5], "-");
    assert_eq!(data["validCids"][&cids[1]]["phone_type"], 2);
    assert_eq!(data["validCids"][&cids[1]]["brand"], "unknown");
    let many: Vec<String> = (0..1001).map(|i| format!("c{i}")).collect();
    g.get(&format!("/user/detail/{}", many.join(",")))
        .await
        .param_error("cid size over limit");
}

#[tokio::test]
async fn badge_set_add_sub_never_below_zero() {
    let (srv, app, g, cids) = setup().await;
    let path = format!("/user/badge/cid/{}", cids[1]);
    let native = srv.native(&app);
    let badge = || async { native.device(&cids[1]).await["badge"].clone() };
    g.post(&path, json!({ "badge": "5" })).await.ok();
    assert_eq!(badge().await, 5);
    g.post(&path, json!({ "badge": "+3" })).await.ok();
    assert_eq!(badge().await, 8);
    g.post(&path, json!({ "badge": -8 })).await.ok();
    assert_eq!(badge().await, 0);
    g.post(&path, json!({ "badge": "-8" })).await.ok();
    assert_eq!(badge().await, 0);
    g.post(&path, json!({ "badge": 2 })).await.ok();
    assert_eq!(badge().await, 2);
    g.post(&path, json!({}))
        .await
        .param_error("badge can not be empty");
    g.post(&path, json!({ "badge": "x" }))
        .await
        .param_error("badge is invalid");
    g.post(&path, json!({ "badge": 1.5 }))
        .await
        .param_error("badge is invalid");
    g.post(&path, json!({ "badge": true }))
        .await
        .param_error("badge type error");
    g.post(&format!("{path},nope"), json!({ "badge": "9" }))
        .await
        .param_error("target user is invalid");
    assert_eq!(badge().await, 2, "failed batch changed nothing");
    let many: Vec<String> = (0..201).map(|i| format!("c{i}")).collect();
    g.post(
        &format!("/user/badge/cid/{}", many.join(",")),
        json!({ "badge": "1" }),
    )
    .await
    .param_error("cid size over limit");
}

#[tokio::test]
async fn bind_dt_wx_reports_each_failure() {
    let (srv, _app, g, cids) = setup().await;
    let other = srv.create_app().await;
    let foreign = srv
        .register(
            &other,
            json!([{ "phone_type": "android", "kind": "mini_program" }]),
        )
        .await;
    let r = g
        .post(
            "/user/bind_dt/wx",
            json!({ "dt_list": [
                { "cid": cids[2], "device_token": "oX-openid" },
                { "cid": "", "device_token": "t1" },
                { "cid": "f5fc768b8f3d0ac24d6b7df65e0221b0", "device_token": "t2" },
                { "cid": foreign[0], "device_token": "t3" },
                { "cid": cids[0], "device_token": "t4" }
            ] }),
        )
        .await;
    let list = r.ok()["errorList"].as_array().expect("errorList").clone();
    let codes: Vec<(String, i64)> = list
        .iter()
        .map(|e| {
            (
                s(&e["device_token"]).to_owned(),
                e["error_code"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        codes,
        vec![
            ("t1".into(), 24001),
            ("t2".into(), 24002),
            ("t3".into(), 24003),
            ("t4".into(), 24004)
        ]
    );
    let d = g.get(&format!("/user/detail/{}", cids[2])).await;
    assert_eq!(d.ok()["validCids"][&cids[2]]["device_token"], "oX-openid");
    // all entries valid: no data at all
    let r = g
        .post(
            "/user/bind_dt/wx",
            json!({ "dt_list": [{ "cid": cids[2] }] }),
        )
        .await;
    assert_eq!(r.body, json!({ "code": 0, "msg": "success" }));
    let d = g.get(&format!("/user/detail/{}", cids[2])).await;
    assert_eq!(
        d.ok()["validCids"][&cids[2]]["device_token"],
        "",
        "no token unbinds"
    );
    g.post("/user/bind_dt/wx", json!({}))
        .await
        .param_error("dt_list can not be empty");
    let many: Vec<Value> = (0..1001)
        .map(|i| json!({ "cid": format!("c{i}") }))
        .collect();
    g.post("/user/bind_dt/wx", json!({ "dt_list": many }))
        .await
        .param_error("dt_list size over limit");
    g.post("/user/bind_dt/zz", json!({ "dt_list": [] }))
        .await
        .param_error("type is invalid");
}

#[tokio::test]
async fn bind_dt_vendor_types_need_enabling() {
    let (srv, app, g, cids) = setup().await;
    let body = json!({ "dt_list": [{ "cid": cids[1], "device_token": "apns-token" }] });
    g.post("/user/bind_dt/ios", body.clone())
        .await
        .param_error("permission required by bind_dt/ios");
    let path = format!("/admin/v1/apps/{}/getui/bind_dt_types", s(&app["app_id"]));
    let enabled = srv
        .admin(Method::PUT, &path, Some(json!({ "types": ["ios", "hw"] })))
        .await;
    assert_eq!(
        enabled,
        (StatusCode::OK, json!({ "types": ["wx", "hw", "ios"] }))
    );
    g.post("/user/bind_dt/ios", body).await.ok();
    let d = g.get(&format!("/user/detail/{}", cids[1])).await;
    let v = &d.ok()["validCids"][&cids[1]];
    assert_eq!(
        (v["device_token"].as_str(), v["brand"].as_str()),
        (Some("apns-token"), Some("iphone"))
    );
    g.post(
        "/user/bind_dt/xm",
        json!({ "dt_list": [{ "cid": cids[0], "device_token": "x" }] }),
    )
    .await
    .param_error("permission required by bind_dt/xm");
}
