//! The app lifecycle over HTTP and the CLI: listing by cursor, renaming, deleting an
//! app with every row of its data (checked table by table on the real SQLite file and
//! on PostgreSQL, with two nodes), and rotating a dialect's secrets with a grace.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use reqwest::{Method, StatusCode};
use roster_testkit::{s, sign, As, Creds, Getui, RosterProcess, TestServer, ADMIN_TOKEN};
use serde_json::{json, Value};

use crate::crowds;
use crate::support::database;

fn id(app: &Value) -> &str {
    s(&app["app_id"])
}

/// Every row of every table, as text, sorted, by table.
type Dump = BTreeMap<String, Vec<String>>;

/// The SQLite file of a test server, read as it is on disk (through its WAL).
fn sqlite_dump(data_dir: &Path) -> Dump {
    let file = roster_store_sqlite::backup::store_file(data_dir);
    let db =
        rusqlite::Connection::open_with_flags(&file, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the store file");
    let mut tables = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .expect("tables");
    let names: Vec<String> = tables
        .query_map([], |r| r.get(0))
        .expect("tables")
        .collect::<Result<_, _>>()
        .expect("tables");
    let mut dump = Dump::new();
    for t in names {
        let mut stmt = db.prepare(&format!("SELECT * FROM {t}")).expect("select");
        let n = stmt.column_count();
        let mut rows: Vec<String> = stmt
            .query_map([], |r| {
                let cells: Vec<String> = (0..n)
                    .map(|i| match r.get_ref(i) {
                        Ok(v) => match v {
                            rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into(),
                            other => format!("{other:?}"),
                        },
                        Err(e) => format!("{e}"),
                    })
                    .collect();
                Ok(cells.join("|"))
            })
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("rows");
        rows.sort();
        dump.insert(t, rows);
    }
    dump
}

/// Every row of every table of a PostgreSQL database, as text, sorted, by table.
async fn pg_dump(url: &str) -> Dump {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    let tables = client
        .query(
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
            &[],
        )
        .await
        .expect("tables");
    let mut dump = Dump::new();
    for t in tables {
        let t: String = t.get(0);
        let rows = client
            .query(&format!("SELECT x::text FROM \"{t}\" x"), &[])
            .await
            .expect("rows");
        let mut rows: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        rows.sort();
        dump.insert(t, rows);
    }
    dump
}

/// The tables holding a row that mentions `needle`, with how many.
fn mentions(dump: &Dump, needle: &str) -> BTreeMap<String, usize> {
    dump.iter()
        .map(|(t, rows)| {
            (
                t.clone(),
                rows.iter().filter(|r| r.contains(needle)).count(),
            )
        })
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// `before` and `after` differ only in the tables named (an id sequence, say).
fn assert_same(before: &Dump, after: &Dump, except: &[&str]) {
    let tables: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    for t in tables {
        if except.contains(&t.as_str()) {
            continue;
        }
        assert_eq!(before.get(t), after.get(t), "table {t} changed");
    }
}

/// Gives `app` data of every kind through every dialect, on the server at `base`; a
/// smart crowd too with `crowd` (its job then runs in the background).
async fn populate(http: &reqwest::Client, base: &str, app: &Value, crowd: bool) {
    let call = |m: Method, path: String, who: As<'_>, body: Option<Value>| {
        let req = roster_testkit::request(http, base, m, &path, who);
        async move { roster_testkit::send(req, body.as_ref()).await }
    };
    let app_id = id(app);
    let cids = roster_testkit::register(
        http,
        base,
        app,
        json!([
            { "phone_type": "android", "brand": "hw", "region": "11010000" },
            { "phone_type": "ios", "region": "31010000" }
        ]),
    )
    .await;
    for (kind, extra) in [
        ("login", json!({})),
        ("open", json!({ "text": crowds::BASKETBALL_OPENED })),
    ] {
        let mut body = json!({ "type": kind });
        for (k, v) in extra.as_object().expect("object") {
            body[k] = v.clone();
        }
        let (st, r) = call(
            Method::POST,
            format!("/api/v1/apps/{app_id}/devices/{}/events", cids[0]),
            As::App(app, Creds::NATIVE),
            Some(body),
        )
        .await;
        assert!(st.is_success(), "{kind} event: {r}");
    }
    let (st, r) = call(
        Method::POST,
        format!("/api/v1/apps/{app_id}/users"),
        As::App(app, Creds::NATIVE),
        Some(
            json!({ "identities": { "user_id": "native-user" }, "properties": { "level": 3 },
                     "contacts": { "email": "someone@example.com" } }),
        ),
    )
    .await;
    assert!(st.is_success(), "identify: {r}");
    let sender = s(&app["ums"]["app_sender_code"]);
    let (st, r) = call(
        Method::POST,
        "/v1/user/opt".into(),
        As::App(app, Creds::UMS),
        Some(json!([{ "userid": "umsuser", "set": {
            "phone": { "all": "13800000000" }, "tag": { "all": ["vip"] },
            "dingtalkcc": "dt1", "wechatwk": { "all": "wk1" },
            "app": { sender: [cids[1].clone()] } } }])),
    )
    .await;
    assert_eq!(
        (st, &r["data"]["success"]),
        (StatusCode::OK, &json!(["umsuser"])),
        "ums: {r}"
    );
    let (st, r) = call(
        Method::POST,
        "/smartop/api/v1/user/register".into(),
        As::App(app, Creds::GROWTH),
        Some(json!({ "identityName": "user_id", "identityValues": ["growth-user"] })),
    )
    .await;
    assert_eq!((st, &r["code"]), (StatusCode::OK, &json!(0)), "growth: {r}");
    for (path, body) in [
        (
            format!("/admin/v1/apps/{app_id}/identity_names"),
            json!({ "name": "phone_hash", "unique": true, "priority": 1 }),
        ),
        (
            format!("/admin/v1/apps/{app_id}/ums/channels"),
            json!({ "channel_code": "web" }),
        ),
        (
            format!("/admin/v1/apps/{app_id}/ums/senders"),
            json!({ "kind": "wechatoa", "code": "oa" }),
        ),
    ] {
        let (st, r) = call(Method::POST, path, As::Admin, Some(body)).await;
        assert_eq!(st, StatusCode::CREATED, "{r}");
    }
    let (st, r) = call(
        Method::PUT,
        format!("/admin/v1/apps/{app_id}/limits/getui_call"),
        As::Admin,
        Some(json!({ "per_minute": 10_000 })),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "limits: {r}");
    let g = Getui::connect(http, base, app).await;
    g.post(
        "/user/alias",
        json!({ "data_list": [{ "cid": cids[0], "alias": "someone" }] }),
    )
    .await
    .ok();
    g.put("/user/custom_tag/batch/golf", json!({ "cid": [cids[1]] }))
        .await
        .ok();
    g.post(
        &format!("/user/custom_tag/cid/{}", cids[0]),
        json!({ "custom_tag": ["篮球"] }),
    )
    .await
    .ok();
    g.post(
        &format!("/user/custom_tag/cid/{}", cids[1]),
        json!({ "custom_tag": ["a", "b"] }),
    )
    .await
    .ok();
    if crowd {
        crowds::create(&g, crowds::plan("doomed", vec![crowds::basketball()])).await;
    }
}

/// Whether each dialect accepts the app's credentials: native, UMS access key, UMS
/// channel key, Growth, EngageLab, Getui `/auth`.
async fn accepted(http: &reqwest::Client, base: &str, app: &Value) -> Vec<(&'static str, bool)> {
    let app_id = id(app);
    let call = |path: String, creds: Creds, body: Value| {
        let req = roster_testkit::request(http, base, Method::POST, &path, As::App(app, creds));
        async move { roster_testkit::send(req, Some(&body)).await }
    };
    let mut out = Vec::new();
    let (st, _) = call(
        format!("/api/v1/apps/{app_id}/devices"),
        Creds::NATIVE,
        json!([{ "phone_type": "ios" }]),
    )
    .await;
    out.push(("native", st != StatusCode::UNAUTHORIZED));
    for (name, creds) in [("ums", Creds::UMS), ("ums channel", Creds::UMS_CHANNEL)] {
        let body = json!([{ "userid": "y", "set": {} }]);
        let (_, r) = call("/v1/user/opt".into(), creds, body).await;
        out.push((name, r["code"] == 0));
    }
    let body = json!({ "identityName": "user_id", "identityValues": ["y"] });
    let (_, r) = call("/smartop/api/v1/user/register".into(), Creds::GROWTH, body).await;
    out.push(("growth", r["code"] == 0));
    let (st, _) = call("/v1/user/profile".into(), Creds::ENGAGELAB, json!({})).await;
    out.push(("engagelab", st != StatusCode::UNAUTHORIZED));
    let ts = roster_core::time::now_ms().to_string();
    let auth =
        json!({ "sign": sign(app, &ts), "timestamp": ts, "appkey": app["getui"]["app_key"] });
    let r = http
        .post(format!("{base}/v2/{app_id}/auth"))
        .json(&auth)
        .send()
        .await
        .expect("auth");
    let r: Value = r.json().await.expect("json");
    out.push(("getui", r["code"] == 0));
    out
}

async fn refused_everywhere(http: &reqwest::Client, base: &str, app: &Value) {
    for (dialect, ok) in accepted(http, base, app).await {
        assert!(!ok, "{dialect} accepts the app's credentials");
    }
}

async fn accepted_everywhere(http: &reqwest::Client, base: &str, app: &Value) {
    for (dialect, ok) in accepted(http, base, app).await {
        assert!(ok, "{dialect} refuses the app's credentials");
    }
}

#[tokio::test]
async fn apps_deletion_leaves_no_row_of_the_app_in_any_table() {
    let srv = TestServer::start().await;
    let keep = srv.create_app().await;
    populate(&srv.http, &srv.base, &keep, false).await;
    let before = sqlite_dump(srv.data_dir());

    let doomed = srv.create_app().await;
    populate(&srv.http, &srv.base, &doomed, true).await;
    let token = Getui::connect(&srv.http, &srv.base, &doomed).await;
    let doomed_id = id(&doomed);
    let full = sqlite_dump(srv.data_dir());
    let held = mentions(&full, doomed_id);
    for t in [
        "apps",
        "devices",
        "users",
        "user_identities",
        "credentials",
        "ums_channels",
        "ums_senders",
        "identity_names",
        "changes",
        "getui_tokens",
        "crowd_plans",
        "crowd_tasks",
        "device_opens",
        "app_limits",
    ] {
        assert!(
            held.contains_key(t),
            "the app has no row in {t} to delete: {held:?}"
        );
    }
    for t in [
        "device_tags",
        "device_login_days",
        "user_contacts",
        "ums_bindings",
        "ums_grants",
    ] {
        assert!(
            full[t].len() > before[t].len(),
            "the app has no row in {t} to delete"
        );
    }

    // refused deletions change nothing
    let path = format!("/admin/v1/apps/{doomed_id}");
    for q in [
        "",
        "?confirm=",
        "?confirm=someone-else",
        &format!("?confirm={}", id(&keep)),
    ] {
        let (st, r) = srv.admin(Method::DELETE, &format!("{path}{q}"), None).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{q}: {r}");
        assert!(s(&r["error"]["message"]).contains("confirm"), "{r}");
    }
    // (its smart-crowd job may move on meanwhile: its rows stay, their state changes)
    let now = sqlite_dump(srv.data_dir());
    assert_same(&full, &now, &["crowd_plans", "crowd_tasks"]);
    assert_eq!(mentions(&now, doomed_id), held);

    let (st, r) = srv
        .admin(Method::DELETE, &format!("{path}?confirm={doomed_id}"), None)
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{r}");

    // the store is as it was before the app existed: no row mentions it, no row of
    // another app changed (sqlite_sequence, the uid counter, is not data)
    let after = sqlite_dump(srv.data_dir());
    assert_eq!(mentions(&after, doomed_id), BTreeMap::new());
    assert_same(&before, &after, &[]);

    // reads 404; every credential is refused; the other app works in every dialect
    let (st, _) = srv.admin(Method::GET, &path, None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = srv
        .admin(Method::DELETE, &format!("{path}?confirm={doomed_id}"), None)
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    refused_everywhere(&srv.http, &srv.base, &doomed).await;
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let r = token.get("/user/status/x").await;
    assert_eq!((r.status, r.code()), (401, 10001), "{:?}", r.body);
    let (st, page) = srv.admin(Method::GET, "/admin/v1/apps", None).await;
    assert_eq!(st, StatusCode::OK);
    let listed: Vec<&str> = page["apps"]
        .as_array()
        .expect("apps")
        .iter()
        .map(|a| s(&a["app_id"]))
        .collect();
    assert_eq!(listed, [id(&keep)]);
    accepted_everywhere(&srv.http, &srv.base, &keep).await;
}

#[tokio::test]
async fn apps_deletion_on_postgres_reaches_every_node() {
    let db = database().await;
    let bin = Path::new(env!("CARGO_BIN_EXE_roster"));
    let (dir_a, dir_b) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let a = RosterProcess::start_with_store(bin, dir_a.path(), Some(db.url())).await;
    let b = RosterProcess::start_with_store(bin, dir_b.path(), Some(db.url())).await;
    let http = reqwest::Client::new();
    let keep = roster_testkit::create_app(&http, &a.base, ADMIN_TOKEN).await;
    populate(&http, &a.base, &keep, false).await;
    let before = pg_dump(db.url()).await;
    let doomed = roster_testkit::create_app(&http, &a.base, ADMIN_TOKEN).await;
    populate(&http, &b.base, &doomed, true).await;
    let doomed_id = id(&doomed);
    assert!(mentions(&pg_dump(db.url()).await, doomed_id).len() >= 10);

    // B counts the app's audience from its index
    let gb = Getui::connect(&http, &b.base, &doomed).await;
    let indexed = |base: String| {
        let http = http.clone();
        async move {
            let text = http
                .get(format!("{base}/metrics"))
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await
                .expect("metrics")
                .text()
                .await
                .expect("text");
            text.lines()
                .find_map(|l| l.strip_prefix("roster_index_apps "))
                .and_then(|v| v.trim().parse::<f64>().ok())
                .unwrap_or_else(|| panic!("no roster_index_apps in {text}"))
        }
    };
    let count =
        json!({ "tag": [{ "key": "phone_type", "values": ["android", "ios"], "opt_type": "or" }] });
    assert!(gb.post("/user/count", count.clone()).await.ok()["user_count"].as_u64() >= Some(2));
    let node = |base: String| {
        let http = http.clone();
        async move {
            let r = http
                .get(format!("{base}/admin/v1/node"))
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await
                .expect("node");
            let v: Value = r.json().await.expect("json");
            v["apps"]
                .as_array()
                .expect("apps")
                .iter()
                .map(|a| s(&a["app_id"]).to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert!(node(b.base.clone()).await.contains(&doomed_id.to_owned()));
    assert_eq!(indexed(b.base.clone()).await, 2.0);

    let r = http
        .delete(format!(
            "{}/admin/v1/apps/{doomed_id}?confirm={doomed_id}",
            a.base
        ))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let after = pg_dump(db.url()).await;
    assert_eq!(mentions(&after, doomed_id), BTreeMap::new());
    assert_same(&before, &after, &[]);

    // both nodes refuse it at once; B forgets its index of the app within its catch-up
    refused_everywhere(&http, &a.base, &doomed).await;
    refused_everywhere(&http, &b.base, &doomed).await;
    assert!(!node(b.base.clone()).await.contains(&doomed_id.to_owned()));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while indexed(b.base.clone()).await != 1.0 {
        assert!(
            std::time::Instant::now() < deadline,
            "B's index keeps the deleted app"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(indexed(a.base.clone()).await, 1.0, "A forgot it at once");
    let r = gb.post("/user/count", count).await;
    assert_eq!(
        r.status, 401,
        "B serves a deleted app's token: {:?}",
        r.body
    );
    accepted_everywhere(&http, &b.base, &keep).await;
}

#[tokio::test]
async fn apps_list_pages_cover_every_app_once() {
    let srv = TestServer::start().await;
    let mut made = BTreeSet::new();
    for _ in 0..7 {
        made.insert(id(&srv.create_app().await).to_owned());
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let q = match &cursor {
            Some(c) => format!("?limit=3&cursor={c}"),
            None => "?limit=3".into(),
        };
        let (st, page) = srv
            .admin(Method::GET, &format!("/admin/v1/apps{q}"), None)
            .await;
        assert_eq!(st, StatusCode::OK, "{page}");
        pages += 1;
        let apps = page["apps"].as_array().expect("apps");
        assert!(apps.len() <= 3);
        seen.extend(apps.iter().map(|a| s(&a["app_id"]).to_owned()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let sorted: Vec<String> = made.iter().cloned().collect();
    assert_eq!(seen, sorted, "every app once, in id order");
    let (st, page) = srv.admin(Method::GET, "/admin/v1/apps", None).await;
    assert_eq!(
        (st, page["apps"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(7))
    );
    assert_eq!(page["next_cursor"], Value::Null);
    for bad in [
        "cursor=zzz",
        "cursor=YXBwOg",
        "limit=0",
        "limit=501",
        "limit=-1",
        "page=2",
    ] {
        let (st, r) = srv
            .admin(Method::GET, &format!("/admin/v1/apps?{bad}"), None)
            .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{bad}: {r}");
    }
}

#[tokio::test]
async fn apps_rename_and_reads_never_show_a_secret() {
    let srv = TestServer::start().await;
    let app = srv.create_app().await;
    let path = format!("/admin/v1/apps/{}", id(&app));
    let (st, r) = srv
        .admin(Method::PATCH, &path, Some(json!({ "name": "  Shop  " })))
        .await;
    assert_eq!((st, &r["name"]), (StatusCode::OK, &json!("Shop")));
    for bad in [
        json!({ "name": "" }),
        json!({ "name": "x", "owner": 1 }),
        json!({ "name": "n".repeat(129) }),
    ] {
        let (st, _) = srv.admin(Method::PATCH, &path, Some(bad)).await;
        assert_eq!(st, StatusCode::BAD_REQUEST);
    }
    let (_, shown) = srv.admin(Method::GET, &path, None).await;
    assert_eq!(shown["name"], "Shop");
    let kinds: BTreeSet<&str> = shown["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| s(&k["kind"]))
        .collect();
    assert_eq!(
        kinds,
        BTreeSet::from(["engagelab", "getui", "growth", "ums_access", "ums_channel"])
    );
    assert!(shown["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .any(|k| k["key"] == app["getui"]["app_key"]));

    let (_, rotated) = srv
        .admin(
            Method::POST,
            &format!("{path}/credentials/ums/rotate"),
            None,
        )
        .await;
    let (_, listed) = srv.admin(Method::GET, "/admin/v1/apps", None).await;
    let (_, shown) = srv.admin(Method::GET, &path, None).await;
    let mut secrets: Vec<String> = ["getui", "ums", "growth", "engagelab"]
        .iter()
        .flat_map(|d| app[d].as_object().expect("section").iter())
        .filter(|(k, _)| k.contains("secret"))
        .map(|(_, v)| s(v).to_owned())
        .collect();
    secrets.extend(
        rotated["secrets"]
            .as_array()
            .expect("secrets")
            .iter()
            .map(|k| s(&k["secret"]).to_owned()),
    );
    assert_eq!(secrets.len(), 7);
    for body in [listed.to_string(), shown.to_string()] {
        for secret in &secrets {
            assert!(
                !body.contains(secret.as_str()),
                "a read shows a secret: {body}"
            );
        }
    }
    // the replaced UMS secrets show as retiring, with their expiry
    let retiring = shown["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter(|k| k["expires_at"].is_i64())
        .count();
    assert_eq!(retiring, 2);
}

/// `POST /v2/{app}/auth` at the server's clock with `secret`: the token, if one came.
async fn getui_token(srv: &TestServer, app: &Value, secret: &str) -> Option<String> {
    let mut with = app.clone();
    with["getui"]["master_secret"] = json!(secret);
    let ts = srv.now_ms().to_string();
    let body =
        json!({ "sign": sign(&with, &ts), "timestamp": ts, "appkey": app["getui"]["app_key"] });
    let r: Value = srv
        .http
        .post(format!("{}/v2/{}/auth", srv.base, id(app)))
        .json(&body)
        .send()
        .await
        .expect("auth")
        .json()
        .await
        .expect("json");
    r["data"]["token"].as_str().map(str::to_owned)
}

async fn getui_auth(srv: &TestServer, app: &Value, secret: &str) -> bool {
    getui_token(srv, app, secret).await.is_some()
}

/// Whether `user:secret` authenticates with the dialect of `creds`.
async fn basic_ok(srv: &TestServer, app: &Value, creds: Creds, secret: &str) -> bool {
    let user = creds.of(app).0.to_owned();
    let who = As::Basic(&user, secret);
    match creds {
        Creds::NATIVE => {
            let path = format!("/api/v1/apps/{}/devices/nope", id(app));
            let (st, _) = srv.call(Method::GET, &path, who, None).await;
            st != StatusCode::UNAUTHORIZED
        }
        Creds::ENGAGELAB => {
            let (st, _) = srv
                .call(Method::POST, "/v1/user/profile", who, Some(&json!({})))
                .await;
            st != StatusCode::UNAUTHORIZED
        }
        Creds::GROWTH => {
            let body = json!({ "identityName": "user_id", "identityValues": ["g"] });
            let (_, r) = srv
                .call(
                    Method::POST,
                    "/smartop/api/v1/user/register",
                    who,
                    Some(&body),
                )
                .await;
            r["code"] == 0
        }
        _ => {
            let body = json!([{ "userid": "u", "set": {} }]);
            let (_, r) = srv
                .call(Method::POST, "/v1/user/opt", who, Some(&body))
                .await;
            r["code"] == 0
        }
    }
}

#[tokio::test]
async fn apps_rotation_keeps_old_secrets_for_the_grace_then_refuses_them() {
    let server = TestServer::start().await;
    let srv = &server;
    srv.freeze_clock();
    let app = srv.create_app().await;
    let other = srv.create_app().await;
    let rotate = |dialect: &str, q: &str| {
        let path = format!(
            "/admin/v1/apps/{}/credentials/{dialect}/rotate{q}",
            id(&app)
        );
        async move { srv.admin(Method::POST, &path, None).await }
    };
    let new_secret = |r: &Value, kind: &str| -> String {
        let k = r["secrets"]
            .as_array()
            .expect("secrets")
            .iter()
            .find(|k| k["kind"] == kind);
        s(&k.unwrap_or_else(|| panic!("no {kind} in {r}"))["secret"]).to_owned()
    };

    // getui, default grace (a day): old and new both work for the native API and the
    // Getui sign, the key id stays
    let old = s(&app["getui"]["master_secret"]).to_owned();
    let (st, r) = rotate("getui", "").await;
    assert_eq!(st, StatusCode::OK, "{r}");
    assert_eq!(r["old_secrets_expire_at"], json!(srv.now_ms() + 86_400_000));
    assert_eq!(r["secrets"][0]["key"], app["getui"]["app_key"]);
    let new = new_secret(&r, "getui");
    assert_ne!(new, old);
    for secret in [&old, &new] {
        assert!(basic_ok(srv, &app, Creds::NATIVE, secret).await);
        assert!(getui_auth(srv, &app, secret).await);
    }
    srv.advance_clock(86_400_000 - 1);
    assert!(
        basic_ok(srv, &app, Creds::NATIVE, &old).await,
        "still in its grace"
    );
    srv.advance_clock(1);
    assert!(
        !basic_ok(srv, &app, Creds::NATIVE, &old).await,
        "past its grace"
    );
    assert!(!getui_auth(srv, &app, &old).await);
    assert!(basic_ok(srv, &app, Creds::NATIVE, &new).await);
    assert!(getui_auth(srv, &app, &new).await);

    // a Getui token issued before a rotation ends with the grace (0 here: at once, once
    // the node's token cache, which believes the store 0.5 s, asks again)
    let token = getui_token(srv, &app, &new).await.expect("token");
    let tag_call = |token: String| {
        let url = format!("{}/v2/{}/user/status/x", srv.base, id(&app));
        async move {
            let r = srv
                .http
                .get(url)
                .header("token", token)
                .send()
                .await
                .expect("call");
            r.json::<Value>().await.expect("json")["code"].as_i64()
        }
    };
    assert_ne!(
        tag_call(token.clone()).await,
        Some(10001),
        "the token works"
    );
    let (st, r) = rotate("getui", "?grace_seconds=0").await;
    assert_eq!(st, StatusCode::OK, "{r}");
    let newest = new_secret(&r, "getui");
    assert!(!basic_ok(srv, &app, Creds::NATIVE, &new).await, "grace 0");
    assert!(basic_ok(srv, &app, Creds::NATIVE, &newest).await);
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(
        tag_call(token).await,
        Some(10001),
        "the old token ended with the grace"
    );
    let new = newest;

    // grace 0: the old secrets stop at once, for each Basic dialect
    let ums: &[(Creds, &str)] = &[
        (Creds::UMS, "ums_access"),
        (Creds::UMS_CHANNEL, "ums_channel"),
    ];
    for (dialect, keys) in [
        ("ums", ums),
        ("growth", &[(Creds::GROWTH, "growth")]),
        ("engagelab", &[(Creds::ENGAGELAB, "engagelab")]),
    ] {
        let (st, first) = rotate(dialect, "?grace_seconds=60").await;
        assert_eq!(st, StatusCode::OK, "{first}");
        assert_eq!(first["secrets"].as_array().map(Vec::len), Some(keys.len()));
        let (_, second) = rotate(dialect, "?grace_seconds=0").await;
        for (creds, kind) in keys {
            let (creds, kind) = (*creds, *kind);
            let original = creds.of(&app).1.to_owned();
            let (first, second) = (new_secret(&first, kind), new_secret(&second, kind));
            assert!(
                !basic_ok(srv, &app, creds, &first).await,
                "{kind}: grace 0 ends it at once"
            );
            assert!(
                basic_ok(srv, &app, creds, &second).await,
                "{kind}: the new one works"
            );
            // the original secret, replaced with a 60 s grace, works for 60 s
            assert!(
                basic_ok(srv, &app, creds, &original).await,
                "{kind}: original in its grace"
            );
        }
        srv.advance_clock(60_000);
        for (creds, kind) in keys {
            let original = creds.of(&app).1.to_owned();
            assert!(
                !basic_ok(srv, &app, *creds, &original).await,
                "{kind}: original past its grace"
            );
        }
    }
    // the other app never changed
    for creds in [
        Creds::NATIVE,
        Creds::UMS,
        Creds::UMS_CHANNEL,
        Creds::GROWTH,
        Creds::ENGAGELAB,
    ] {
        let secret = creds.of(&other).1.to_owned();
        assert!(basic_ok(srv, &other, creds, &secret).await);
    }
    // refused rotations change nothing
    for (dialect, q) in [
        ("native", ""),
        ("getui", "?grace_seconds=-5"),
        ("getui", "?grace_seconds=2592001"),
    ] {
        let (st, _) = rotate(dialect, q).await;
        assert_eq!(st, StatusCode::BAD_REQUEST);
    }
    assert!(basic_ok(srv, &app, Creds::NATIVE, &new).await);
}

fn cli(dir: &Path, args: &[&str]) -> (bool, Value, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_roster"))
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .output()
        .expect("run roster");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let json = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (
        out.status.success(),
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn apps_cli_lists_shows_rotates_and_deletes() {
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let (ok, app, err) = cli(d, &["app", "create", "--name", "cli app"]);
    assert!(ok, "{err}");
    let (_, other, _) = cli(d, &["app", "create", "--name", "other"]);
    let app_id = id(&app).to_owned();

    let (ok, page, err) = cli(d, &["app", "list", "--limit", "1"]);
    assert!(ok, "{err}");
    assert_eq!(page["apps"].as_array().map(Vec::len), Some(1));
    let cursor = s(&page["next_cursor"]).to_owned();
    let (_, rest, _) = cli(d, &["app", "list", "--cursor", &cursor]);
    let mut ids: Vec<&str> = page["apps"]
        .as_array()
        .into_iter()
        .chain(rest["apps"].as_array())
        .flatten()
        .map(|a| s(&a["app_id"]))
        .collect();
    ids.sort();
    let mut want = vec![app_id.as_str(), id(&other)];
    want.sort();
    assert_eq!(ids, want);

    let (ok, shown, _) = cli(d, &["app", "show", "--app", &app_id]);
    assert!(ok);
    assert_eq!(shown["name"], "cli app");
    assert!(!shown
        .to_string()
        .contains(s(&app["getui"]["master_secret"])));

    let (ok, rotated, err) = cli(
        d,
        &[
            "app",
            "rotate",
            "growth",
            "--app",
            &app_id,
            "--grace-seconds",
            "0",
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(rotated["secrets"][0]["key"], app["growth"]["project_id"]);
    let (ok, _, err) = cli(d, &["app", "rotate", "fax", "--app", &app_id]);
    assert!(
        !ok && err.contains("getui, ums, growth or engagelab"),
        "{err}"
    );

    for confirm in [vec![], vec!["--confirm", id(&other)]] {
        let mut args = vec!["app", "delete", "--app", app_id.as_str()];
        args.extend(confirm);
        let (ok, _, err) = cli(d, &args);
        assert!(!ok && err.contains("confirm"), "{err}");
    }
    let (ok, _, _) = cli(d, &["app", "show", "--app", &app_id]);
    assert!(ok, "a refused delete deleted nothing");
    let (ok, out, err) = cli(
        d,
        &["app", "delete", "--app", &app_id, "--confirm", &app_id],
    );
    assert!(ok, "{err}");
    assert_eq!(out["deleted"], app_id.as_str());
    let (ok, _, err) = cli(d, &["app", "show", "--app", &app_id]);
    assert!(
        !ok && err.contains("no such app") || err.contains("not found"),
        "{err}"
    );

    // a server on the same directory: the rotated Growth secret is the only one
    let p = RosterProcess::start(Path::new(env!("CARGO_BIN_EXE_roster")), d).await;
    let http = reqwest::Client::new();
    refused_everywhere(&http, &p.base, &app).await;
    accepted_everywhere(&http, &p.base, &other).await;
}
