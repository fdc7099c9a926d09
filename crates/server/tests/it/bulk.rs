//! Bulk import and export, over HTTP and from the CLI: an app built through the normal
//! APIs exports to NDJSON that, imported into an empty app, gives the same reads and
//! the same export byte for byte; a second import changes nothing; bad lines are
//! reported with their line numbers while the good ones land; the vendor CSV mappings.

use std::path::Path;
use std::process::{Command, Stdio};

use reqwest::Method;
use roster_testkit::{s, Creds, TestServer};
use serde_json::{json, Value};

const DAY: i64 = 86_400_000;

async fn export(srv: &TestServer, app: &Value, query: &str) -> (String, String) {
    export_of(srv, app, "devices", query).await
}

/// `GET /export/{what}{query}`: its content type and body.
async fn export_of(srv: &TestServer, app: &Value, what: &str, query: &str) -> (String, String) {
    let r = srv
        .native(app)
        .request(Method::GET, &format!("/export/{what}{query}"))
        .send()
        .await
        .expect("export");
    assert_eq!(r.status(), 200);
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (ct, r.text().await.expect("body"))
}

async fn import(srv: &TestServer, app: &Value, query: &str, ct: &str, body: String) -> Value {
    import_of(srv, app, &format!("devices{query}"), ct, body).await
}

/// `POST /import/{target}` with `body`: the summary.
async fn import_of(srv: &TestServer, app: &Value, target: &str, ct: &str, body: String) -> Value {
    let r = srv
        .native(app)
        .request(Method::POST, &format!("/import/{target}"))
        .header("content-type", ct)
        .body(body)
        .send()
        .await
        .expect("import");
    assert_eq!(r.status(), 200);
    r.json().await.expect("summary")
}

async fn changes(srv: &TestServer, app: &Value) -> usize {
    let r = srv
        .native(app)
        .request(Method::GET, "/changes?limit=10000")
        .send()
        .await
        .expect("changes");
    r.text().await.expect("body").lines().count()
}

/// Every read of a device: native, Getui detail, tags and alias.
async fn reads(srv: &TestServer, app: &Value, cid: &str) -> Value {
    let native = srv.native(app);
    let g = srv.getui(app).await;
    json!({
        "native": native.device(cid).await,
        "detail": g.get(&format!("/user/detail/{cid}")).await.ok()["validCids"][cid].clone(),
        "tags": g.get(&format!("/user/custom_tag/cid/{cid}")).await.ok()[cid].clone(),
        "alias": g.get(&format!("/user/alias/cid/{cid}")).await.ok()["alias"].clone(),
        "status": g.get(&format!("/user/status/{cid}")).await.ok()[cid].clone(),
    })
}

/// An app with varied devices, built through the native and Getui APIs with the clock
/// moved between logins.
async fn varied_app(srv: &TestServer) -> (Value, Vec<String>) {
    let app = srv.create_app().await;
    let start = srv.now_ms();
    let cids = srv
        .register(
            &app,
            json!([
                { "cid": "full", "phone_type": "android", "brand": "xm", "phone_model": "Mi 9",
                  "package_name": "com.example", "client_app_id": "c1", "device_token": "t1",
                  "notification_switch": false, "region": "11010000", "app_version": "1.2.0",
                  "os": "14", "properties": { "vip": true, "level": 3, "名": "值" },
                  "create_time": start - 300 * DAY, "last_login_time": start - 250 * DAY },
                { "cid": "ios-1", "phone_type": "ios", "brand": "iphone" },
                { "cid": "mini", "kind": "mini_program", "phone_type": "android" },
                { "cid": "plain", "phone_type": "android" },
                { "cid": "old", "phone_type": "android", "create_time": start - 40 * DAY },
            ]),
        )
        .await;
    let g = srv.getui(&app).await;
    g.post(
        "/user/custom_tag/cid/full",
        json!({ "custom_tag": ["喜爱足球", "anime", "a,b"] }),
    )
    .await
    .ok();
    g.post("/user/custom_tag/cid/ios-1", json!({ "custom_tag": ["x"] }))
        .await
        .ok();
    g.post(
        "/user/alias",
        json!({ "data_list": [{ "cid": "full", "alias": "team" }, { "cid": "ios-1", "alias": "team" }, { "cid": "plain", "alias": "solo" }] }),
    )
    .await
    .ok();
    g.post("/user/black/cid/plain", json!(null)).await.ok();
    g.post("/user/badge/cid/ios-1", json!({ "badge": "7" }))
        .await
        .ok();
    let native = srv.native(&app);
    // Logins on four days: the clock goes back, then forward a day at a time to now
    // (where Getui's signed auth works again).
    srv.advance_clock(-4 * (DAY + 3_600_000));
    for step in 0..4 {
        srv.advance_clock(DAY + 3_600_000);
        let at = srv.now_ms();
        for cid in ["full", "old"].iter().take(1 + step % 2) {
            let (st, _) = native
                .post(
                    &format!("/devices/{cid}/events"),
                    json!({ "type": "login", "at": at }),
                )
                .await;
            assert_eq!(st, 204);
        }
    }
    let (st, _) = native
        .post("/devices/mini/events", json!({ "type": "online" }))
        .await;
    assert_eq!(st, 204);
    (app, cids)
}

#[tokio::test]
async fn bulk_round_trip_is_exact_and_idempotent() {
    let srv = TestServer::start().await;
    let (app, cids) = varied_app(&srv).await;
    let (ct, first) = export(&srv, &app, "").await;
    assert_eq!(ct, "application/x-ndjson");
    assert_eq!(first.lines().count(), cids.len());
    let full: Value = serde_json::from_str(first.lines().next().expect("a line")).expect("json");
    assert_eq!(
        full["login_days"].as_array().map(Vec::len),
        Some(4),
        "{full}"
    );
    assert!(full["login_freq"].as_i64() > Some(1));

    let copy = srv.create_app().await;
    let sum = import(&srv, &copy, "", "application/x-ndjson", first.clone()).await;
    assert_eq!(sum["inserted"], cids.len(), "{sum}");
    assert_eq!(
        (sum["failed"].as_u64(), sum["errors"].clone()),
        (Some(0), json!([]))
    );
    let (_, second) = export(&srv, &copy, "").await;
    assert_eq!(
        first, second,
        "the export of the copy is the same, byte for byte"
    );
    for cid in &cids {
        assert_eq!(
            reads(&srv, &app, cid).await,
            reads(&srv, &copy, cid).await,
            "reads of {cid}"
        );
    }
    let g = srv.getui(&copy).await;
    let team = g.get("/user/cid/alias/team").await;
    assert_eq!(team.ok()["cid"], json!(["full", "ios-1"]));

    // Again: nothing changes, not even the change log.
    let logged = changes(&srv, &copy).await;
    let sum = import(&srv, &copy, "", "application/x-ndjson", first.clone()).await;
    assert_eq!(
        (sum["unchanged"].as_u64(), sum["imported"].as_u64()),
        (Some(cids.len() as u64), Some(0))
    );
    assert_eq!(changes(&srv, &copy).await, logged);
    assert_eq!(export(&srv, &copy, "").await.1, first);

    // A changed line updates only what it says.
    let line = json!({ "cid": "plain", "blacklisted": false, "alias": null, "tags": ["new"] });
    let sum = import(&srv, &copy, "", "application/x-ndjson", format!("{line}\n")).await;
    assert_eq!(sum["updated"], 1);
    let d = srv.native(&copy).device("plain").await;
    assert_eq!(
        (d["blacklisted"].clone(), d["phone_type"].clone()),
        (json!(false), json!("android"))
    );
    let tags = g.get("/user/custom_tag/cid/plain").await;
    assert_eq!(tags.ok()["plain"], json!(["new"]));

    // CSV, and a selector.
    let (ct, csv) = export(&srv, &app, "?format=csv").await;
    assert!(ct.starts_with("text/csv"), "{ct}");
    let mut rows = csv.lines();
    assert!(rows
        .next()
        .is_some_and(|h| h.starts_with("cid,kind,phone_type,brand")));
    assert_eq!(rows.count(), cids.len());
    assert!(csv.contains("\"a,b anime 喜爱足球\""), "{csv}");
    let sel = "?selector=%7B%22alias%22%3A%22team%22%7D";
    let (_, team) = export(&srv, &app, sel).await;
    let got: Vec<Value> = team
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("json")["cid"].clone())
        .collect();
    assert_eq!(got, vec![json!("full"), json!("ios-1")]);
}

#[tokio::test]
async fn bulk_bad_lines_are_reported_and_good_ones_land() {
    let srv = TestServer::start().await;
    let app = srv.create_app().await;
    let hundred_one: Vec<String> = (0..101).map(|i| format!("t{i}")).collect();
    let mut lines = vec![
        json!({ "cid": "ok-1", "phone_type": "android" }).to_string(),
        "{ not json".to_owned(),
        json!({ "cid": "bad-region", "phone_type": "android", "region": "1" }).to_string(),
        json!({ "cid": "many-tags", "phone_type": "android", "tags": hundred_one }).to_string(),
        String::new(),
        json!({ "cid": "no-os" }).to_string(),
        json!({ "cid": "ok-2", "phone_type": "ios", "surprise": 1 }).to_string(),
    ];
    for i in 0..11 {
        lines.push(
            json!({ "cid": format!("m{i}"), "phone_type": "ios", "alias": "crowded" }).to_string(),
        );
    }
    let body = lines.join("\n");
    let sum = import(&srv, &app, "", "application/x-ndjson", body.clone()).await;
    let failed: Vec<u64> = sum["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["line"].as_u64().expect("line"))
        .collect();
    assert_eq!(failed, vec![2, 3, 4, 6, 7, 18], "{sum}");
    assert_eq!(sum["inserted"], 11, "{sum}");
    assert!(sum["errors"][3]["message"]
        .as_str()
        .is_some_and(|m| m.contains("phone_type")));
    let (_, out) = export(&srv, &app, "").await;
    assert_eq!(out.lines().count(), 11);
    let g = srv.getui(&app).await;
    let members = g.get("/user/cid/alias/crowded").await;
    assert_eq!(members.ok()["cid"].as_array().map(Vec::len), Some(10));

    // --max-errors: stops after the first refused line.
    let other = srv.create_app().await;
    let sum = import(&srv, &other, "?max_errors=1", "application/x-ndjson", body).await;
    assert_eq!(
        (sum["stopped"].clone(), sum["failed"].clone()),
        (json!(true), json!(1))
    );
    assert_eq!(sum["lines"], 2);
}

#[tokio::test]
async fn bulk_getui_csv_mapping() {
    let srv = TestServer::start().await;
    let app = srv.create_app().await;
    let csv = "\u{feff}cid,alias,tags,brand,region\n\
               c1,zhang,vip  football,hw,11000000\n\
               c2,,,iphone,\n\
               c3,bad alias,,,\n\
               \"c4\",\"li\",\"a\",xm,31000000\n";
    let sum = import(&srv, &app, "", "text/csv", csv.into()).await;
    assert_eq!(
        (sum["inserted"].as_u64(), sum["failed"].as_u64()),
        (Some(3), Some(1)),
        "{sum}"
    );
    assert_eq!(sum["errors"][0]["line"], 4);
    let native = srv.native(&app);
    let c1 = native.device("c1").await;
    assert_eq!(
        (c1["phone_type"].clone(), c1["brand"].clone()),
        (json!("android"), json!("hw"))
    );
    assert_eq!(native.device("c2").await["phone_type"], "ios");
    let g = srv.getui(&app).await;
    let tags = g.get("/user/custom_tag/cid/c1").await;
    assert_eq!(tags.ok()["c1"], json!(["football vip"]));
    assert_eq!(g.get("/user/alias/cid/c4").await.ok()["alias"], "li");
    let again = import(&srv, &app, "", "text/csv", csv.into()).await;
    assert_eq!(again["unchanged"], 3, "{again}");
}

fn roster(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_roster"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env_remove("ROSTER_STORE")
        .env_remove("ROSTER_DATA_DIR")
        .env("ROSTER_LOG", "error")
        .stdin(Stdio::null())
        .output()
        .expect("run roster")
}

/// Imports an export's `text` of `what` (`devices`, `users`) into a new app through the
/// CLI and checks that the new app exports the same text; the new app's id.
fn cli_copy(data: &Path, what: &str, text: &str) -> String {
    let exported = data.with_file_name(format!("{what}.ndjson"));
    std::fs::write(&exported, text).expect("write");
    let out = roster(data, &["app", "create", "--name", "copy"]);
    let copy: Value = serde_json::from_slice(&out.stdout).expect("credentials");
    let copy = s(&copy["app_id"]).to_owned();
    let e = exported.to_str().expect("utf-8 path");
    let out = roster(data, &["import", what, "--app", &copy, e]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = roster(data, &["export", what, "--app", &copy]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), text);
    copy
}

#[tokio::test]
async fn bulk_cli_import_and_export() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let out = roster(&data, &["app", "create", "--name", "cli"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let app: Value = serde_json::from_slice(&out.stdout).expect("credentials");
    let id = s(&app["app_id"]);
    let file = dir.path().join("in.ndjson");
    std::fs::write(
        &file,
        "{\"cid\":\"a\",\"phone_type\":\"android\",\"tags\":[\"t\"],\"login_days\":[\"2026-01-02\",\"2026-01-01\"]}\n\
         {\"cid\":\"b\"}\n\
         {\"cid\":\"c\",\"phone_type\":\"ios\",\"alias\":\"al\"}\n\
         not json\n",
    )
    .expect("write");
    let f = file.to_str().expect("utf-8 path");
    let out = roster(&data, &["import", "devices", "--app", id, f]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("line 2: phone_type can not be empty"), "{err}");
    assert!(err.contains("line 4: the line ("), "{err}");
    let out = roster(
        &data,
        &["import", "devices", "--app", id, f, "--max-errors", "1"],
    );
    assert_eq!(out.status.code(), Some(4));
    let out = roster(&data, &["export", "devices", "--app", id]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert_eq!(text.lines().count(), 2);
    assert!(
        text.contains("\"login_days\":[\"2026-01-01\",\"2026-01-02\"]"),
        "{text}"
    );
    cli_copy(&data, "devices", &text);
    let out = roster(
        &data,
        &[
            "export",
            "devices",
            "--app",
            id,
            "--format",
            "csv",
            "--selector",
            "{\"tag\":\"t\"}",
        ],
    );
    let csv = String::from_utf8_lossy(&out.stdout);
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert!(csv
        .lines()
        .nth(1)
        .is_some_and(|l| l.starts_with("a,app,android")));
    let out = roster(
        &data,
        &["export", "devices", "--app", id, "--selector", "{}"],
    );
    assert!(!out.status.success());
}

/// An export's selector takes every leaf a count does: a property leaf (which SQL does
/// not evaluate) and a saved segment, alone and inside an `and`.
#[tokio::test]
async fn bulk_export_selects_by_property_and_segment() {
    let srv = TestServer::start().await;
    let app = srv.create_app().await;
    srv.register(
        &app,
        json!([
            {"cid": "old", "phone_type": "android", "app_version": "1.9.2"},
            {"cid": "ten", "phone_type": "android", "app_version": "1.10.0"},
            {"cid": "two", "phone_type": "ios", "app_version": "2.0"},
            {"cid": "none", "phone_type": "android"}
        ]),
    )
    .await;
    let recent = json!({"property": {"name": "app_version", "op": "gte", "value": "1.10.0"}});
    let r = srv
        .native(&app)
        .request(Method::POST, "/segments")
        .json(&json!({"name": "recent", "selector": recent}))
        .send()
        .await
        .expect("segment");
    assert_eq!(r.status(), 201);
    let cids = |ndjson: String| -> Vec<String> {
        ndjson
            .lines()
            .map(|l| s(&serde_json::from_str::<Value>(l).expect("json")["cid"]).to_owned())
            .collect()
    };
    for (selector, want) in [
        (recent.clone(), vec!["ten", "two"]),
        (json!({"segment": "recent"}), vec!["ten", "two"]),
        (
            json!({"and": [{"segment": "recent"}, {"phone_type": "android"}]}),
            vec!["ten"],
        ),
        (json!({"not": {"segment": "recent"}}), vec!["old", "none"]),
    ] {
        let url =
            reqwest::Url::parse_with_params("http://x/", [("selector", selector.to_string())])
                .expect("url");
        let query = format!("?{}", url.query().unwrap_or_default());
        let (_, body) = export(&srv, &app, &query).await;
        assert_eq!(cids(body), want, "{selector}");
    }
}
async fn export_users(srv: &TestServer, app: &Value, query: &str) -> String {
    export_of(srv, app, "users", query).await.1
}

async fn import_users(srv: &TestServer, app: &Value, ct: &str, body: String) -> Value {
    import_of(srv, app, "users", ct, body).await
}

/// The custom identity name `member` and the wechatoa sender `oa`.
async fn user_setup(srv: &TestServer, app: &Value) {
    let id = s(&app["app_id"]);
    for (path, body) in [
        (
            format!("/admin/v1/apps/{id}/identity_names"),
            json!({ "name": "member", "unique": true, "priority": 1 }),
        ),
        (
            format!("/admin/v1/apps/{id}/ums/senders"),
            json!({ "kind": "wechatoa", "code": "oa" }),
        ),
    ] {
        let (st, r) = srv.admin(Method::POST, &path, Some(body)).await;
        assert_eq!(st, reqwest::StatusCode::CREATED, "{r}");
    }
}

/// Every native read of a user found by one identity, but its uid.
async fn user_reads(srv: &TestServer, app: &Value, name: &str, value: &str) -> Value {
    let (st, mut u) = srv
        .native(app)
        .get(&format!("/users/by_identity/{name}/{value}"))
        .await;
    assert_eq!(st, reqwest::StatusCode::OK, "{name}/{value}: {u}");
    u.as_object_mut().map(|o| o.remove("uid"));
    u
}

#[tokio::test]
async fn bulk_users_round_trip_is_exact_and_idempotent() {
    let srv = TestServer::start().await;
    let app = srv.create_app().await;
    user_setup(&srv, &app).await;
    srv.register(
        &app,
        json!([{ "cid": "dev-a", "phone_type": "android" }, { "cid": "dev-b", "phone_type": "ios" }]),
    )
    .await;
    let native = srv.native(&app);
    for body in [
        json!({ "identities": { "user_id": "alice", "registration_id": ["dev-a", "dev-b"], "member": "m-1" },
                "properties": { "plan": "gold", "age": 30 }, "contacts": { "whatsapp_phone": "+8613900000000" } }),
        json!({ "identities": { "anonymous_id": "anon-9" }, "properties": { "名": "值" } }),
    ] {
        let (st, r) = native.post("/users", body).await;
        assert!(st.is_success(), "{r}");
    }
    let (st, r) = srv
        .post_as(
            &app,
            Creds::UMS,
            "/v1/user/opt",
            json!([{ "userid": "alice", "set": { "tag": { "all": ["vip", "beta"] },
                       "email": { "all": "alice@example.com" }, "wechatoa": { "oa": "openid-1" } } },
                    { "userid": "bob", "set": { "phone": { "all": "13800000000" }, "tag": { "all": ["x"] } } }]),
        )
        .await;
    assert_eq!(
        (st, &r["code"]),
        (reqwest::StatusCode::OK, &json!(0)),
        "{r}"
    );

    let first = export_users(&srv, &app, "").await;
    assert_eq!(first.lines().count(), 3, "{first}");
    assert!(
        first.contains("\"field\":\"wechatoa\",\"bind_id\":\"oa\""),
        "{first}"
    );

    // Into an empty app: the devices first, then the users.
    let copy = srv.create_app().await;
    user_setup(&srv, &copy).await;
    let (_, devices) = export(&srv, &app, "").await;
    import(&srv, &copy, "", "application/x-ndjson", devices).await;
    let sum = import_users(&srv, &copy, "application/x-ndjson", first.clone()).await;
    assert_eq!(
        (sum["inserted"].as_u64(), sum["failed"].as_u64()),
        (Some(3), Some(0)),
        "{sum}"
    );
    assert_eq!(export_users(&srv, &copy, "").await, first);
    for (name, value) in [
        ("user_id", "alice"),
        ("user_id", "bob"),
        ("anonymous_id", "anon-9"),
        ("member", "m-1"),
        ("registration_id", "dev-b"),
    ] {
        assert_eq!(
            user_reads(&srv, &app, name, value).await,
            user_reads(&srv, &copy, name, value).await,
            "{name}/{value}"
        );
    }
    let alice = user_reads(&srv, &copy, "user_id", "alice").await;
    assert_eq!(alice["contacts"]["email"], "alice@example.com");
    assert_eq!(alice["properties"]["plan"], "gold");

    // Again: nothing changes, not even the change log.
    let logged = changes(&srv, &copy).await;
    let sum = import_users(&srv, &copy, "application/x-ndjson", first.clone()).await;
    assert_eq!(
        (sum["unchanged"].as_u64(), sum["imported"].as_u64()),
        (Some(3), Some(0)),
        "{sum}"
    );
    assert_eq!(changes(&srv, &copy).await, logged);

    // CSV export: a header and one row per user.
    let csv = export_users(&srv, &app, "?format=csv").await;
    let mut rows = csv.lines();
    assert_eq!(rows.next(), Some("identities,properties,contacts,bindings"));
    assert_eq!(rows.count(), 3);
}

#[tokio::test]
async fn bulk_users_bad_lines_are_reported_and_good_ones_land() {
    let srv = TestServer::start().await;
    let app = srv.create_app().await;
    let lines = [
        json!({ "identities": { "user_id": ["u1"] } }).to_string(),
        "{ not json".to_owned(),
        json!({ "identities": {} }).to_string(),
        json!({ "identities": { "nope": ["x"] } }).to_string(),
        json!({ "identities": { "registration_id": ["no-such-device"] } }).to_string(),
        json!({ "identities": { "user_id": ["u2"] }, "contacts": { "fax": "1" } }).to_string(),
        json!({ "identities": { "user_id": ["u3"] },
                "bindings": [{ "field": "wechatoa", "bind_id": "unknown", "value": "o" }] })
        .to_string(),
        String::new(),
        json!({ "identities": { "user_id": ["u4"] }, "properties": { "k": 1 },
                "bindings": [{ "field": "tag", "bind_id": "all", "value": "t" }] })
        .to_string(),
    ];
    let sum = import_users(&srv, &app, "application/x-ndjson", lines.join("\n")).await;
    let failed: Vec<u64> = sum["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["line"].as_u64().expect("line"))
        .collect();
    assert_eq!(failed, vec![2, 3, 4, 5, 6, 7], "{sum}");
    assert_eq!(sum["inserted"], 2, "{sum}");
    assert!(
        sum["errors"][5]["message"]
            .as_str()
            .is_some_and(|m| m.contains("sender code")),
        "{sum}"
    );
    let u4 = user_reads(&srv, &app, "user_id", "u4").await;
    assert_eq!(u4["properties"]["k"], 1);
    let (st, _) = srv.native(&app).get("/users/by_identity/user_id/u3").await;
    assert_eq!(
        st,
        reqwest::StatusCode::NOT_FOUND,
        "a refused line changes nothing"
    );
    // A device format is not a user format.
    let r = srv
        .native(&app)
        .request(Method::POST, "/import/users?format=getui-csv")
        .header("content-type", "text/csv")
        .body("cid\nc1\n")
        .send()
        .await
        .expect("import");
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn bulk_users_ums_csv_mapping() {
    let srv = TestServer::start().await;
    let app = srv.create_app().await;
    user_setup(&srv, &app).await;
    let csv = "userid,tag:all,phone,email:all,wechatoa:oa\n\
               alice,vip  beta,13800000000,a@example.com,openid-1\n\
               bob,x,,,\n\
               ,orphan,,,\n\
               carol,,,,\n";
    let sum = import_users(&srv, &app, "text/csv", csv.into()).await;
    assert_eq!(
        (sum["inserted"].as_u64(), sum["failed"].as_u64()),
        (Some(3), Some(1)),
        "{sum}"
    );
    assert_eq!(sum["errors"][0]["line"], 4);
    let alice = user_reads(&srv, &app, "user_id", "alice").await;
    assert_eq!(alice["contacts"]["mobile_phone"], "13800000000");
    assert_eq!(alice["contacts"]["email"], "a@example.com");
    let bindings = alice["ums_bindings"].as_array().expect("bindings");
    for (field, value) in [("tag", "vip"), ("tag", "beta"), ("wechatoa", "openid-1")] {
        assert!(
            bindings
                .iter()
                .any(|b| b["field"] == field && b["value"] == value),
            "{field} {value}: {alice}"
        );
    }
    let again = import_users(&srv, &app, "text/csv", csv.into()).await;
    assert_eq!(again["unchanged"], 3, "{again}");
}

#[tokio::test]
async fn bulk_cli_users() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let out = roster(&data, &["app", "create", "--name", "cli"]);
    let app: Value = serde_json::from_slice(&out.stdout).expect("credentials");
    let id = s(&app["app_id"]);
    let file = dir.path().join("users.csv");
    std::fs::write(&file, "userid,tag\nalice,vip\nbob,\n,x\n").expect("write");
    let f = file.to_str().expect("utf-8 path");
    let out = roster(
        &data,
        &["import", "users", "--app", id, f, "--format", "ums-csv"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("line 4: "), "{err}");
    assert!(err.contains("2 inserted"), "{err}");
    let out = roster(&data, &["export", "users", "--app", id]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert_eq!(text.lines().count(), 2, "{text}");
    let copy = cli_copy(&data, "users", &text);
    let copy = copy.as_str();
    let out = roster(
        &data,
        &["export", "users", "--app", copy, "--format", "csv"],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 3);
}
