//! The fixture: apps A, B and C, the known state of A, and the HTTP helpers that set it up.

use roster_testkit::{s, ADMIN_TOKEN};
use serde_json::{json, Value};

/// Everything a case generator may need.
pub(super) struct Ctx {
    pub(super) base: String,
    pub(super) addr: String,
    /// The app with known state: writes to it are invalid by construction.
    pub(super) a: Value,
    /// Scratch app for writes that may succeed.
    pub(super) b: Value,
    /// Scratch app for admin writes.
    pub(super) c: Value,
    /// A live Getui token of A, for the fuzz only.
    pub(super) token_a: String,
    pub(super) cids: Vec<String>,
    pub(super) aliases: Vec<String>,
    pub(super) tags: Vec<String>,
    /// `user_id` values of A's users.
    pub(super) userids: Vec<String>,
    pub(super) uids: Vec<i64>,
    /// Invalid strings Growth `register` on A sends (checked absent afterwards).
    pub(super) growth_invalid: Vec<String>,
    pub(super) now_ms: i64,
    /// A channel key of C, for the grant route.
    pub(super) c_channel: String,
}

pub(super) use crate::support::basic;

/// `basic` of the `user` and `pass` fields of `app`'s `section` credentials.
pub(super) fn basic_from(app: &Value, section: &str, user: &str, pass: &str) -> String {
    basic(s(&app[section][user]), s(&app[section][pass]))
}

pub(super) fn getui_auth(app: &Value) -> String {
    basic_from(app, "getui", "app_key", "master_secret")
}

pub(super) async fn post(
    http: &reqwest::Client,
    url: String,
    auth: &str,
    body: Value,
) -> (u16, Value) {
    let r = http
        .post(url)
        .header("authorization", auth)
        .json(&body)
        .send()
        .await
        .expect("send");
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

pub(super) async fn get(
    http: &reqwest::Client,
    url: String,
    auth: Option<(&str, &str)>,
) -> (u16, Value) {
    let mut req = http.get(url);
    if let Some((k, v)) = auth {
        req = req.header(k, v);
    }
    let r = req.send().await.expect("send");
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

pub(super) async fn setup(http: &reqwest::Client, base: &str) -> Ctx {
    let addr = base.trim_start_matches("http://").to_owned();
    let a = roster_testkit::create_app(http, base, ADMIN_TOKEN).await;
    let b = roster_testkit::create_app(http, base, ADMIN_TOKEN).await;
    let c = roster_testkit::create_app(http, base, ADMIN_TOKEN).await;
    // The fuzz judges input handling; rate limits have tests of their own (quota.rs).
    for app in [&a, &b, &c] {
        roster_testkit::lift_limits(http, base, app, &[]).await;
    }
    let a_id = s(&a["app_id"]).to_owned();
    let devices: Vec<Value> = (0..12)
        .map(|i| {
            let brand = ["hw", "xm", "op", "iphone"][i % 4];
            let region = ["11000000", "11010000", "31010000"][i % 3];
            json!({
                "phone_type": if i % 3 == 0 { "ios" } else { "android" },
                "brand": brand,
                "phone_model": format!("model {i}"),
                "region": region,
                "app_version": "2.1.0",
                "properties": { "screen": "1080p", "n": i },
            })
        })
        .collect();
    let cids = roster_testkit::register(http, base, &a, Value::Array(devices)).await;
    let g = roster_testkit::Getui::connect(http, base, &a).await;
    let aliases: Vec<String> = ["fxAliasOne", "fxAliasTwo", "fxAlias张三", "fxShared"]
        .map(String::from)
        .to_vec();
    let binds = json!({ "data_list": [
        { "cid": cids[0], "alias": aliases[0] },
        { "cid": cids[1], "alias": aliases[1] },
        { "cid": cids[2], "alias": aliases[2] },
        { "cid": cids[5], "alias": aliases[3] },
        { "cid": cids[6], "alias": aliases[3] },
    ]});
    g.post("/user/alias", binds).await.ok();
    let mut tags = vec!["fxTagAll".to_owned(), "fxTagBatch".to_owned()];
    for (i, cid) in cids.iter().enumerate().take(8) {
        let own = format!("fxTag{i}");
        g.post(
            &format!("/user/custom_tag/cid/{cid}"),
            json!({ "custom_tag": [tags[0], own] }),
        )
        .await
        .ok();
        tags.push(own);
    }
    g.put(
        "/user/custom_tag/batch/fxTagBatch",
        json!({ "cid": cids[8..11] }),
    )
    .await
    .ok();
    g.post(
        &format!("/user/badge/cid/{},{}", cids[0], cids[3]),
        json!({ "badge": "+3" }),
    )
    .await
    .ok();
    g.post(&format!("/user/black/cid/{}", cids[10]), Value::Null)
        .await
        .ok();
    let auth = getui_auth(&a);
    let now_ms = roster_core::time::now_ms();
    for (i, kind) in [(2, "login"), (3, "login"), (3, "offline"), (4, "online")] {
        let url = format!("{base}/api/v1/apps/{a_id}/devices/{}/events", cids[i]);
        let event = json!({ "type": kind, "at": now_ms - 1_000 });
        let (st, _) = post(http, url, &auth, event).await;
        assert_eq!(st, 204, "fixture event");
    }
    let sender = s(&a["ums"]["app_sender_code"]).to_owned();
    let ums_auth = basic_from(&a, "ums", "access_key", "access_secret");
    let (st, r) = post(
        http,
        format!("{base}/v1/user/opt"),
        &ums_auth,
        json!([
            { "userid": "fxUserA", "set": { "phone": { "all": "13800000000" }, "email": { "all": "a@example.com" },
              "tag": { "all": ["vip"] }, "app": { sender.clone(): [cids[0]] } } },
            { "userid": "fxUserB", "set": { "dingtalkcc": "dt1", "wechatwk": { "all": "wk1" } } },
        ]),
    )
    .await;
    assert_eq!(
        (st, &r["data"]["success"]),
        (200, &json!(["fxUserA", "fxUserB"]))
    );
    let growth_auth = basic_from(&a, "growth", "project_id", "project_secret");
    let register = |values: Vec<String>| {
        post(
            http,
            format!("{base}/smartop/api/v1/user/register"),
            &growth_auth,
            json!({ "identityName": "user_id", "identityValues": values }),
        )
    };
    let (st, _) = register(vec!["fxGrowth1".into(), "fxGrowth2".into()]).await;
    assert_eq!(st, 200);
    let (st, r) = post(
        http,
        format!("{base}/api/v1/apps/{a_id}/users"),
        &auth,
        json!({ "identities": { "user_id": "fxIdent1", "registration_id": [cids[1]] },
                "properties": { "lang": "zh", "n": 1 }, "contacts": { "email": "i@example.com" } }),
    )
    .await;
    assert_eq!(st, 200, "{r}");
    let userids: Vec<String> = ["fxUserA", "fxUserB", "fxGrowth1", "fxGrowth2", "fxIdent1"]
        .map(String::from)
        .to_vec();
    let (_, r) = register(userids.clone()).await;
    let uids: Vec<i64> = r["data"]
        .as_array()
        .expect("cuids")
        .iter()
        .map(|d| d["cuid"].as_i64().expect("cuid"))
        .collect();
    // C: a channel for the grant route.
    let url = format!("{base}/admin/v1/apps/{}/ums/channels", s(&c["app_id"]));
    let admin = format!("Bearer {ADMIN_TOKEN}");
    let (st, ch) = post(http, url, &admin, json!({ "channel_code": "fxchannel" })).await;
    assert_eq!(st, 201, "{ch}");
    let token_a = roster_testkit::Getui::connect(http, base, &a).await.token;
    Ctx {
        base: base.to_owned(),
        addr,
        token_a,
        cids,
        aliases,
        tags,
        userids,
        uids,
        // Over 256 characters. (Blank values such as " " are valid identity values.)
        growth_invalid: vec!["x".repeat(257), "张".repeat(257), "😀".repeat(300)],
        now_ms,
        c_channel: s(&ch["channel_key"]).to_owned(),
        a,
        b,
        c,
    }
}
