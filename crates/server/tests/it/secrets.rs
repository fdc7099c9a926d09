//! Secrets and personal data: the data directory is private (0700, files 0600), and
//! no level of logging prints a secret, a token, a phone number, an email, an alias or
//! a cid, on SQLite and on PostgreSQL.

use std::path::{Path, PathBuf};

use reqwest::{Client, Method, StatusCode};
use roster_testkit::{s, Getui, Launch, RosterProcess};
use serde_json::{json, Value};

use crate::support::database;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_roster"))
}

fn unique(prefix: &str) -> String {
    format!("{prefix}{}", roster_core::ids::random_hex(12))
}

/// Every value a flow sent or received that must never reach the log, with its kind.
#[derive(Default)]
struct Needles(Vec<(&'static str, String)>);

impl Needles {
    fn add(&mut self, kind: &'static str, value: impl Into<String>) {
        let value = value.into();
        assert!(value.len() >= 6, "{kind} too short to look for: {value}");
        self.0.push((kind, value));
    }

    /// Asserts that none of them is in `log`.
    fn assert_absent(&self, log: &str) {
        let found: Vec<_> = self
            .0
            .iter()
            .filter(|(_, v)| log.contains(v.as_str()))
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        assert!(
            found.is_empty(),
            "the log carries {found:?}; log:\n{}",
            tail(log)
        );
    }
}

fn tail(log: &str) -> &str {
    let start = log.len().saturating_sub(20_000);
    let start = (start..log.len())
        .find(|i| log.is_char_boundary(*i))
        .unwrap_or(0);
    &log[start..]
}

async fn send(
    http: &Client,
    method: Method,
    url: String,
    auth: Option<(&str, &str)>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = http.request(method, url);
    if let Some((user, pass)) = auth {
        req = req.basic_auth(user, Some(pass));
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.expect("send");
    let status = r.status();
    let text = r.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Runs a flow through every dialect against `base` (valid and refused calls), and
/// returns what it used that must stay out of the log.
async fn every_dialect(base: &str, admin: &str) -> Needles {
    let http = Client::new();
    let mut n = Needles::default();
    n.add("admin token", admin);

    // native: an app, devices (one cid chosen, one generated), events, a read
    let app = roster_testkit::create_app(&http, base, admin).await;
    let app_id = s(&app["app_id"]).to_owned();
    n.add("master_secret", s(&app["getui"]["master_secret"]));
    n.add("UMS access_secret", s(&app["ums"]["access_secret"]));
    n.add(
        "UMS channel_master_secret",
        s(&app["ums"]["channel_master_secret"]),
    );
    n.add("project_secret", s(&app["growth"]["project_secret"]));
    n.add("api_secret", s(&app["engagelab"]["api_secret"]));
    let getui_basic = (
        s(&app["getui"]["app_key"]).to_owned(),
        s(&app["getui"]["master_secret"]).to_owned(),
    );
    let basic = Some((getui_basic.0.as_str(), getui_basic.1.as_str()));
    let native = format!("{base}/api/v1/apps/{app_id}");

    let cid = unique("c1d");
    let device_token = unique("devtok");
    n.add("cid", &cid);
    n.add("device token", &device_token);
    let (st, r) = send(
        &http,
        Method::POST,
        format!("{native}/devices"),
        basic,
        Some(json!([
            { "cid": cid, "phone_type": "android", "brand": "hw", "region": "11010000",
              "device_token": device_token, "properties": { "screen": "1080p" } },
            { "phone_type": "ios" }
        ])),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{r}");
    let generated = s(&r["cids"][1]).to_owned();
    n.add("generated cid", &generated);
    let (st, _) = send(
        &http,
        Method::POST,
        format!("{native}/devices/{cid}/events"),
        basic,
        Some(json!({ "type": "login" })),
    )
    .await;
    assert!(st.is_success(), "{st}");
    let (st, _) = send(
        &http,
        Method::GET,
        format!("{native}/devices/{generated}"),
        basic,
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK);

    // Getui: auth with sign = sha256(appkey + timestamp + mastersecret), alias, tags, detail
    let g = Getui::connect(&http, base, &app).await;
    n.add("Getui token", &g.token);
    let alias = unique("alias_");
    n.add("alias", &alias);
    g.post(
        "/user/alias",
        json!({ "data_list": [{ "cid": cid, "alias": alias }] }),
    )
    .await
    .ok();
    g.post(
        &format!("/user/custom_tag/cid/{cid}"),
        json!({ "custom_tag": ["vip", "football"] }),
    )
    .await
    .ok();
    g.get(&format!("/user/detail/{cid}")).await.ok();
    g.get(&format!("/user/cid/alias/{alias}")).await.ok();
    g.get(&format!("/user/alias/cid/{cid}")).await.ok();
    g.get(&format!("/user/status/{cid},{generated}")).await.ok();
    // refused: a wrong token naming a cid, a bad sign naming the secret's neighbours
    let bad = g.with_token(&unique("badtoken"));
    n.add("wrong Getui token", &bad.token);
    assert_eq!(bad.get(&format!("/user/detail/{cid}")).await.status, 401);
    let wrong_sign = unique("wrongsign");
    n.add("wrong sign", &wrong_sign);
    let r = g
        .with_token("")
        .post(
            "/auth",
            json!({ "sign": wrong_sign, "timestamp": roster_core::time::now_ms().to_string(),
                "appkey": app["getui"]["app_key"] }),
        )
        .await;
    assert_ne!(r.code(), 0);

    // Jiguang UMS: a user with a phone, an email and the device
    let phone = "13912345678";
    let email = format!("{}@example.org", unique("person."));
    let userid = unique("uid_");
    n.add("phone", phone);
    n.add("email", &email);
    n.add("UMS userid", &userid);
    let ums = (
        s(&app["ums"]["access_key"]).to_owned(),
        s(&app["ums"]["access_secret"]).to_owned(),
    );
    let sender = s(&app["ums"]["app_sender_code"]).to_owned();
    let (st, r) = send(
        &http,
        Method::POST,
        format!("{base}/v1/user/opt"),
        Some((&ums.0, &ums.1)),
        Some(json!([{ "userid": userid, "set": {
            "phone": { "all": phone }, "email": { "all": email },
            "app": { sender: [cid] } } }])),
    )
    .await;
    assert_eq!((st, r["code"].as_i64()), (StatusCode::OK, Some(0)), "{r}");
    // refused: a wrong secret
    let wrong_secret = unique("wrongsecret");
    n.add("wrong UMS secret", &wrong_secret);
    let (st, _) = send(
        &http,
        Method::POST,
        format!("{base}/v1/user/opt"),
        Some((&ums.0, &wrong_secret)),
        Some(json!([{ "userid": userid, "set": { "phone": { "all": phone } } }])),
    )
    .await;
    assert_ne!(st, StatusCode::OK);
    // Jiguang Growth: the user's CUID
    let (st, r) = send(
        &http,
        Method::POST,
        format!("{base}/smartop/api/v1/user/register"),
        Some((
            s(&app["growth"]["project_id"]),
            s(&app["growth"]["project_secret"]),
        )),
        Some(json!({ "identityName": "user_id", "identityValues": [userid] })),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{r}");
    let cuid = r["data"][0]["cuid"].as_i64().expect("cuid");

    // EngageLab: the profile, contacts included
    let (st, r) = send(
        &http,
        Method::POST,
        format!("{base}/v1/user/profile"),
        Some((
            s(&app["engagelab"]["api_key"]),
            s(&app["engagelab"]["api_secret"]),
        )),
        Some(json!({ "euid": [cuid] })),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{r}");
    assert_eq!(r["data"][0]["contacts"]["mobile_phone"], phone, "{r}");

    // a second phone for the same user
    let bad_phone = "15087654321";
    n.add("second phone", bad_phone);
    send(
        &http,
        Method::POST,
        format!("{base}/v1/user/opt"),
        Some((&ums.0, &ums.1)),
        Some(json!([{ "userid": userid, "set": { "phone": { "all": bad_phone } } }])),
    )
    .await;

    // native users: identify with contacts, read by identity (the value is in the path)
    let email2 = format!("{}@example.net", unique("other."));
    n.add("email", &email2);
    let (st, r) = send(
        &http,
        Method::POST,
        format!("{native}/users"),
        basic,
        Some(
            json!({ "identities": { "user_id": userid, "registration_id": [generated] },
                     "contacts": { "email": email2 } }),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{r}");
    let (st, _) = send(
        &http,
        Method::GET,
        format!("{native}/users/by_identity/user_id/{userid}"),
        basic,
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK);

    // an unknown route carrying a cid, a malformed body carrying a phone
    let (st, _) = send(
        &http,
        Method::GET,
        format!("{base}/v2/{app_id}/no/such/route/{cid}"),
        None,
        None,
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let r = http
        .post(format!("{native}/devices"))
        .basic_auth(&getui_basic.0, Some(&getui_basic.1))
        .header("content-type", "application/json")
        .body(format!("[{{\"cid\": \"{cid}\", \"phone_type\": {phone}}}"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // Getui: revoke the token (it is in the path)
    g.delete(&format!("/auth/{}", g.token), json!(null))
        .await
        .ok();

    // admin: rotate every dialect's secrets (the new ones are in the replies only),
    // list and show the app, then delete another app
    for dialect in ["getui", "ums", "growth", "engagelab"] {
        let r = http
            .post(format!(
                "{base}/admin/v1/apps/{app_id}/credentials/{dialect}/rotate?grace_seconds=0"
            ))
            .bearer_auth(admin)
            .send()
            .await
            .expect("rotate");
        assert_eq!(r.status(), StatusCode::OK);
        let r: Value = r.json().await.expect("json");
        for k in r["secrets"].as_array().expect("secrets") {
            n.add("rotated secret", s(&k["secret"]));
        }
    }
    for path in [format!("/admin/v1/apps/{app_id}"), "/admin/v1/apps".into()] {
        let r = http
            .get(format!("{base}{path}"))
            .bearer_auth(admin)
            .send()
            .await
            .expect("read");
        assert_eq!(r.status(), StatusCode::OK);
    }
    let doomed = roster_testkit::create_app(&http, base, admin).await;
    n.add("deleted app's secret", s(&doomed["getui"]["master_secret"]));
    let doomed = s(&doomed["app_id"]);
    let r = http
        .delete(format!("{base}/admin/v1/apps/{doomed}?confirm={doomed}"))
        .bearer_auth(admin)
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    n
}

fn read_log(path: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(path).expect("read log")).into_owned()
}

/// Runs the flows against a roster at `ROSTER_LOG=filter` and checks its output.
async fn run_at(filter: &str, store: Option<&str>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("roster.log");
    let admin = unique("admin-");
    let launch = Launch {
        store: store.map(str::to_owned),
        admin_token: Some(admin.clone()),
        log_filter: filter.into(),
        output: Some(out.clone()),
        ..Launch::default()
    };
    let mut p = RosterProcess::launch(bin(), &dir.path().join("data"), launch).await;
    let needles = every_dialect(&p.base, &admin).await;
    // a restart logs the start-up path too (migrations, index rebuild)
    p.kill_and_restart().await;
    drop(p);
    let log = read_log(&out);
    assert!(
        log.contains("TRACE") && log.contains("DEBUG"),
        "ROSTER_LOG={filter} should log at trace level; log:\n{}",
        tail(&log)
    );
    needles.assert_absent(&log);
    assert!(
        !log.contains('\u{1b}'),
        "log output to a file carries ANSI escape codes"
    );
}

#[tokio::test]
async fn trace_log_on_sqlite_carries_no_secret_or_personal_datum() {
    run_at("trace", None).await;
}

#[tokio::test]
async fn trace_log_on_postgres_carries_no_secret_or_personal_datum() {
    let db = database().await;
    run_at("trace", Some(db.url())).await;
}

#[tokio::test]
async fn driver_targets_stay_off_even_when_named() {
    let db = database().await;
    run_at(
        "trace,tokio_postgres=trace,tokio_postgres::query=trace,postgres=trace,deadpool=trace,\
         deadpool.postgres=trace,hyper=trace,axum::rejection=trace,tower_http=trace",
        Some(db.url()),
    )
    .await;
}

#[cfg(unix)]
mod modes {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// The permission bits, as octal text (`"700"`).
    fn mode(p: &Path) -> String {
        let m = std::fs::metadata(p).expect("metadata").permissions().mode();
        format!("{:o}", m & 0o777)
    }

    /// The data dir is 0700 and every file in it 0600; returns the file names.
    fn assert_private_dir(dir: &Path) -> Vec<String> {
        assert_eq!(mode(dir), "700", "data dir {}", dir.display());
        let mut names = Vec::new();
        for e in std::fs::read_dir(dir).expect("read dir") {
            let e = e.expect("entry");
            let m = mode(&e.path());
            let name = e.file_name().to_string_lossy().into_owned();
            if e.file_type().expect("type").is_dir() {
                assert_eq!(m, "700", "directory {name}");
            } else {
                assert_eq!(m, "600", "file {name}");
            }
            names.push(name);
        }
        names.sort();
        names
    }

    async fn write_some(base: &str, admin: &str) {
        let http = Client::new();
        let app = roster_testkit::create_app(&http, base, admin).await;
        let devices: Vec<Value> = (0..50)
            .map(|i| json!({ "phone_type": if i % 2 == 0 { "ios" } else { "android" } }))
            .collect();
        roster_testkit::register(&http, base, &app, Value::Array(devices)).await;
    }

    fn set_mode(p: &Path, m: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).expect("chmod");
    }

    #[tokio::test]
    async fn new_data_dir_is_private_after_start_and_writes() {
        let tmp = tempfile::tempdir().expect("tempdir");
        set_mode(tmp.path(), 0o755);
        let dir = tmp.path().join("nested").join("data");
        let launch = Launch {
            admin_token: None,
            ..Launch::default()
        };
        let p = RosterProcess::launch(bin(), &dir, launch).await;
        let names = assert_private_dir(&dir);
        for f in ["admin-token", "roster.db", "roster.db-wal", "roster.db-shm"] {
            assert!(names.contains(&f.to_owned()), "{f} missing: {names:?}");
        }
        let admin = std::fs::read_to_string(dir.join("admin-token")).expect("token");
        write_some(&p.base, admin.trim()).await;
        assert_private_dir(&dir);
        drop(p);
        assert_private_dir(&dir);
    }

    #[tokio::test]
    async fn existing_data_dir_and_files_are_tightened() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("data");
        let launch = Launch {
            admin_token: None,
            ..Launch::default()
        };
        let mut p = RosterProcess::launch(bin(), &dir, launch).await;
        let admin = std::fs::read_to_string(dir.join("admin-token")).expect("token");
        write_some(&p.base, admin.trim()).await;
        // as an older roster (or a careless copy) left them, with a file of someone else's
        std::fs::write(dir.join("notes.txt"), "x").expect("write");
        set_mode(&dir, 0o755);
        for e in std::fs::read_dir(&dir).expect("read dir") {
            set_mode(&e.expect("entry").path(), 0o644);
        }
        p.kill_and_restart().await;
        assert_private_dir(&dir);
        write_some(&p.base, admin.trim()).await;
        assert_private_dir(&dir);
    }

    #[tokio::test]
    async fn sqlite_store_url_files_are_private() {
        let tmp = tempfile::tempdir().expect("tempdir");
        set_mode(tmp.path(), 0o755);
        let db: PathBuf = tmp.path().join("elsewhere").join("registry.db");
        let launch = Launch {
            store: Some(format!("sqlite:{}", db.display())),
            ..Launch::default()
        };
        let p = RosterProcess::launch(bin(), &tmp.path().join("data"), launch).await;
        write_some(&p.base, roster_testkit::ADMIN_TOKEN).await;
        let parent = db.parent().expect("parent");
        assert_eq!(mode(parent), "700", "a directory roster creates is private");
        for suffix in ["", "-wal", "-shm"] {
            let f = PathBuf::from(format!("{}{suffix}", db.display()));
            assert_eq!(mode(&f), "600", "{}", f.display());
        }
        // the directory roster did not create keeps its mode
        assert_eq!(mode(tmp.path()), "755");
    }
}
