//! The OpenAPI document: the served one is the checked-in `docs/openapi.json`, and every
//! native operation, driven over HTTP through its success and error paths, answers only
//! statuses the document lists for it, with bodies its schemas accept. Request bodies the
//! server accepts must pass the documented request schema, and those it refuses as
//! malformed must fail it, so the schemas neither promise too little nor too much.
//!
//! Beyond this module, every native reply any test server of this suite gives is
//! checked against the document by the test kit (`roster_testkit::openapi`) when the
//! server is dropped; the last tests here show that check records and catches.

mod admin;
mod api;
mod browse;
mod conformance;
mod crowds;
mod limits;
mod segments;
mod transport;

use std::io::Write;

use axum::body::Bytes;
use axum::response::IntoResponse;
use reqwest::{Method, StatusCode};
use roster_testkit::openapi::{recorder, Document, Exchange, Recording};
use roster_testkit::{TestServer, ADMIN_TOKEN};
use serde_json::{json, Value};

use conformance::{expect, read, Auth, Conformance};

/// The checked-in document.
const DOC_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
/// How to regenerate it.
const BLESS: &str = "ROSTER_BLESS=1 cargo test -p roster-server --test it openapi";

/// `v` with every object's keys sorted, pretty-printed, with a final newline: the form
/// `docs/openapi.json` is kept in.
fn canonical(v: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<_> = m.keys().collect();
                keys.sort();
                Value::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), sorted(&m[k])))
                        .collect(),
                )
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    let mut out = serde_json::to_string_pretty(&sorted(v)).expect("serialise");
    out.push('\n');
    out
}

async fn served_document(srv: &TestServer) -> Value {
    let r = srv
        .http
        .get(format!("{}/openapi.json", srv.base))
        .send()
        .await
        .expect("get /openapi.json");
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.expect("openapi.json is JSON")
}

#[tokio::test]
async fn openapi_served_document_is_the_checked_in_one() {
    let srv = TestServer::start().await;
    let served = canonical(&served_document(&srv).await);
    if std::env::var("ROSTER_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(DOC_PATH, &served).expect("write docs/openapi.json");
        return;
    }
    let checked_in = std::fs::read_to_string(DOC_PATH)
        .unwrap_or_else(|e| panic!("read docs/openapi.json ({e}); create it with: {BLESS}"));
    let checked_in: Value = serde_json::from_str(&checked_in).unwrap_or_else(|e| {
        panic!("docs/openapi.json is not JSON ({e}); regenerate it with: {BLESS}")
    });
    let checked_in = canonical(&checked_in);
    if checked_in != served {
        let (line, (want, got)) = checked_in
            .lines()
            .zip(served.lines())
            .enumerate()
            .find(|(_, (a, b))| a != b)
            .unwrap_or((
                checked_in.lines().count().min(served.lines().count()),
                ("<end of file>", "<end of file>"),
            ));
        panic!(
            "docs/openapi.json differs from the served /openapi.json, first at line {}:\n  \
             checked in: {want}\n  served:     {got}\n\
             If the change is intended, regenerate the file with: {BLESS}",
            line + 1
        );
    }
}

pub(crate) const APPS: &str = "/admin/v1/apps";
pub(crate) const APP: &str = "/admin/v1/apps/{app_id}";
pub(crate) const ROTATE: &str = "/admin/v1/apps/{app_id}/credentials/{dialect}/rotate";
pub(crate) const DT_TYPES: &str = "/admin/v1/apps/{app_id}/getui/bind_dt_types";
pub(crate) const IDENTITY_NAMES: &str = "/admin/v1/apps/{app_id}/identity_names";
pub(crate) const CHANNELS: &str = "/admin/v1/apps/{app_id}/ums/channels";
pub(crate) const SENDERS: &str = "/admin/v1/apps/{app_id}/ums/senders";
pub(crate) const GRANT: &str =
    "/admin/v1/apps/{app_id}/ums/channels/{channel_key}/senders/{sender_code}";
pub(crate) const DEVICES: &str = "/api/v1/apps/{app_id}/devices";
pub(crate) const DEVICE: &str = "/api/v1/apps/{app_id}/devices/{cid}";
pub(crate) const EVENTS: &str = "/api/v1/apps/{app_id}/devices/{cid}/events";
pub(crate) const COUNT: &str = "/api/v1/apps/{app_id}/audience/count";
pub(crate) const CIDS: &str = "/api/v1/apps/{app_id}/audience/cids";
pub(crate) const USERS: &str = "/api/v1/apps/{app_id}/users";
pub(crate) const USER: &str = "/api/v1/apps/{app_id}/users/{uid}";
pub(crate) const BY_IDENTITY: &str = "/api/v1/apps/{app_id}/users/by_identity/{name}/{value}";
pub(crate) const CHANGES: &str = "/api/v1/apps/{app_id}/changes";
pub(crate) const NODE: &str = "/admin/v1/node";
pub(crate) const CROWD: &str = "/api/v1/apps/{app_id}/crowds/{sub_task_id}";
pub(crate) const CROWD_STOP: &str = "/api/v1/apps/{app_id}/crowds/{sub_task_id}/stop";
pub(crate) const LIMITS: &str = "/admin/v1/apps/{app_id}/limits";
pub(crate) const LIMIT: &str = "/admin/v1/apps/{app_id}/limits/{action}";
pub(crate) const SEGMENTS: &str = "/api/v1/apps/{app_id}/segments";
pub(crate) const SEGMENT: &str = "/api/v1/apps/{app_id}/segments/{name}";
pub(crate) const SEGMENT_COUNT: &str = "/api/v1/apps/{app_id}/segments/{name}/count";

#[tokio::test]
async fn openapi_every_native_reply_is_documented() {
    let srv = TestServer::start().await;
    let c = Conformance::new(served_document(&srv).await);
    admin::calls(&c, &srv).await;
    let app = c
        .call(&srv, Method::POST, APPS, &[])
        .auth(Auth::Admin)
        .json(json!({ "name": "devices" }))
        .send()
        .await;
    let app = expect(&app, 201).clone();
    api::devices(&c, &srv, &app).await;
    api::audience(&c, &srv, &app).await;
    api::users(&c, &srv, &app).await;
    api::changes(&c, &srv, &app).await;
    api::bulk(&c, &srv, &app).await;
    api::bulk_users(&c, &srv, &app).await;
    crowds::crowds(&c, &srv, &app).await;
    limits::limits(&c, &srv, &app).await;
    browse::browse(&c, &srv).await;
    segments::segments(&c, &srv, &app).await;
    transport::rate_limited(&c, &srv).await;
    transport::body_transport(&c, &srv, &app).await;
    transport::edge_replies(&c, &srv, &app).await;
    transport::parser_refusals(&c, &srv).await;
    transport::over_the_cap(&c).await;
    transport::unrouted(&c, &srv).await;
    let missing = c.unexercised();
    assert!(
        missing.is_empty(),
        "documented replies this test never received (exercise them, or stop documenting them): \
         {missing:#?}"
    );
}

/// The checks themselves fail on an undocumented status, a body off its schema, a
/// missing or unexpected body, and Getui's wording: a conformance test that cannot fail
/// would prove nothing.
#[tokio::test]
async fn openapi_checker_catches_mismatches() {
    let srv = TestServer::start().await;
    let c = Conformance::new(served_document(&srv).await);
    let json = Some("application/json");
    let ok_error = r#"{"error":{"code":"unknown_target","message":"no such device in this app"}}"#;
    let get = Method::GET;
    assert!(c
        .check_reply(&get, DEVICE, StatusCode::NOT_FOUND, json, ok_error)
        .is_ok());
    let fails = [
        (StatusCode::CONFLICT, json, ok_error),
        (StatusCode::IM_A_TEAPOT, json, ok_error),
        (
            StatusCode::NOT_FOUND,
            json,
            r#"{"error":{"code":"unknown_target"}}"#,
        ),
        (
            StatusCode::NOT_FOUND,
            json,
            r#"{"error":{"code":"no_such_code","message":"m"}}"#,
        ),
        (
            StatusCode::NOT_FOUND,
            json,
            r#"{"code":404,"msg":"url error"}"#,
        ),
        (
            StatusCode::NOT_FOUND,
            json,
            r#"{"error":{"code":"not_found","message":"url error"}}"#,
        ),
        (StatusCode::NOT_FOUND, json, ""),
        (StatusCode::NOT_FOUND, Some("text/plain"), ok_error),
        (StatusCode::OK, json, r#"{"cid":"x"}"#),
        (
            StatusCode::OK,
            json,
            r#"{"cid":"x","kind":"app","phone_type":"windows","brand":"b","notification_switch":true,
               "properties":{},"status":"online","create_time":1,"create_time_text":"t",
               "last_login_time":1,"login_freq":0,"badge":0,"blacklisted":false,"tags":[]}"#,
        ),
    ];
    for (status, ct, body) in fails {
        assert!(
            c.check_reply(&get, DEVICE, status, ct, body).is_err(),
            "{status} {body} passed"
        );
    }
    let post = Method::POST;
    assert!(c
        .check_reply(&post, EVENTS, StatusCode::NO_CONTENT, None, "")
        .is_ok());
    assert!(c
        .check_reply(&post, EVENTS, StatusCode::NO_CONTENT, json, "{}")
        .is_err());
    let ndjson = Some("application/x-ndjson");
    assert!(c
        .check_reply(&post, CIDS, StatusCode::OK, ndjson, "{\"cid\":\"a\"}\n")
        .is_ok());
    assert!(c
        .check_reply(&post, CIDS, StatusCode::OK, ndjson, "{\"id\":\"a\"}\n")
        .is_err());
    assert!(c
        .check_reply(&get, "/api/v1/nope", StatusCode::OK, json, "{}")
        .is_err());
    // the app-creation reply is typed down to each credential
    let mut created = srv.create_app().await;
    assert!(c
        .check_reply(&post, APPS, StatusCode::CREATED, json, &created.to_string())
        .is_ok());
    created["ums"]
        .as_object_mut()
        .map(|u| u.remove("channel_code"));
    assert!(c
        .check_reply(&post, APPS, StatusCode::CREATED, json, &created.to_string())
        .is_err());
    assert!(c
        .check_unrouted(
            &Method::POST,
            Some(APPS),
            StatusCode::METHOD_NOT_ALLOWED,
            json,
            ok_error
        )
        .is_err());
    // the request schemas tell a good body from a bad one
    let device = json!([{ "phone_type": "android" }]);
    assert!(c.request_errors(&post, DEVICES, &device).is_empty());
    let tagged = json!([{ "phone_type": "android", "tags": ["x"] }]);
    assert!(!c.request_errors(&post, DEVICES, &tagged).is_empty());
}

/// Every native reply a `TestServer` gives is recorded as the client got it (other
/// dialects and `HEAD` are not), and the check the test kit runs on the recording when
/// the server is dropped tells a documented reply from one off the document.
#[tokio::test]
async fn openapi_test_servers_record_and_check_native_replies() {
    let srv = TestServer::start().await;
    let app = srv.create_app().await;
    srv.getui(&app).await;
    let head = srv.http.head(format!("{}/healthz", srv.base)).send().await;
    assert_eq!(head.expect("HEAD /healthz").status(), StatusCode::OK);
    let (status, ..) = read(srv.http.get(format!("{}/api/v1/nope", srv.base))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let recorded = srv.exchanges();
    let seen: Vec<(String, &str, u16)> = recorded
        .iter()
        .map(|e| (e.method.to_string(), e.path.as_str(), e.status.as_u16()))
        .collect();
    assert_eq!(
        seen,
        [
            ("POST".to_owned(), APPS, 201),
            ("GET".to_owned(), "/api/v1/nope", 404)
        ]
    );
    let created = &recorded[0];
    assert_eq!(
        serde_json::from_slice::<Value>(&created.body).expect("JSON"),
        app
    );
    assert_eq!(created.content_type.as_deref(), Some("application/json"));
    let doc = Document::native();
    assert_eq!(doc.violations(&recorded), Vec::<String>::new());
    assert_eq!(srv.violations(), Vec::<String>::new());

    let with = |f: &dyn Fn(&mut Exchange)| {
        let mut e = created.clone();
        f(&mut e);
        e
    };
    let body = |v: Value| Bytes::from(v.to_string());
    let mut partial = app.clone();
    partial["ums"]
        .as_object_mut()
        .map(|u| u.remove("channel_code"));
    let bad = [
        (
            "a credential missing",
            with(&|e| e.body = body(partial.clone())),
        ),
        (
            "an undocumented status",
            with(&|e| e.status = StatusCode::IM_A_TEAPOT),
        ),
        (
            "an undocumented content type",
            with(&|e| e.content_type = Some("text/plain".into())),
        ),
        ("no body", with(&|e| e.body = Bytes::new())),
        (
            "a body that is not the gzip it claims",
            with(&|e| e.content_encoding = Some("gzip".into())),
        ),
        (
            "a success off every operation",
            with(&|e| {
                e.method = Method::GET;
                e.path = "/api/v1/nope".into();
                e.status = StatusCode::OK;
            }),
        ),
        (
            "Getui's envelope on a native 404",
            with(&|e| {
                e.path = "/api/v1/nope".into();
                e.status = StatusCode::NOT_FOUND;
                e.body = body(json!({ "code": 404, "msg": "url error" }));
            }),
        ),
        (
            "an unhealthy health check",
            with(&|e| {
                e.method = Method::GET;
                e.path = "/healthz".into();
                e.status = StatusCode::OK;
                e.body = body(json!({ "status": "down" }));
            }),
        ),
    ];
    for (what, e) in bad {
        assert!(!doc.violations(&[e]).is_empty(), "{what} passed");
    }

    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&created.body).expect("gzip");
    let gz = gz.finish().expect("gzip");
    let error = body(json!({ "error": { "code": "method_not_allowed", "message": "m" } }));
    let good = [
        (
            "the same body, gzipped",
            with(&|e| {
                e.content_encoding = Some("gzip".into());
                e.body = Bytes::from(gz.clone());
            }),
        ),
        (
            "a trailing slash, as the server trims it",
            with(&|e| e.path = format!("{APPS}/")),
        ),
        (
            "an extension method `get`, which is no operation",
            with(&|e| {
                e.method = Method::from_bytes(b"get").expect("method");
                e.path = "/api/v1/apps/x/devices/y".into();
                e.status = StatusCode::METHOD_NOT_ALLOWED;
                e.body = error.clone();
            }),
        ),
    ];
    for (what, e) in good {
        assert_eq!(doc.violations(&[e]), Vec::<String>::new(), "{what}");
    }
}

/// End to end: a reply changed on its way out (inside the recorder, as a server bug
/// would) reaches the recording as the client got it, and the check catches it.
#[tokio::test]
async fn openapi_recorder_catches_a_reply_off_the_document() {
    let dir = tempfile::tempdir().expect("tempdir");
    let settings = roster_server::Settings {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.path().to_path_buf(),
        store: None,
        admin_token: Some(ADMIN_TOKEN.into()),
        ..roster_server::config::Config::default().settings()
    };
    let recording = Recording::default();
    let record = recorder(recording.clone());
    let running = roster_server::start_wrapped(
        &settings,
        std::sync::Arc::new(roster_core::time::now_ms),
        |app| {
            record(app.layer(axum::middleware::map_response(
                |r: axum::response::Response| async move {
                    if r.status() == StatusCode::CREATED {
                        let body = axum::Json(json!({ "app_id": 5 }));
                        (StatusCode::CREATED, body).into_response()
                    } else {
                        r
                    }
                },
            )))
        },
    )
    .await
    .expect("start");
    running.ready().await;
    let base = format!("http://{}", running.addr);
    let created = roster_testkit::create_app(&reqwest::Client::new(), &base, ADMIN_TOKEN).await;
    assert_eq!(created, json!({ "app_id": 5 }));
    running.stop().await.expect("stop");
    let recorded = recording.take();
    assert_eq!(recorded.len(), 1);
    let violations = Document::native().violations(&recorded);
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert!(
        violations[0].contains("POST /admin/v1/apps -> 201")
            && violations[0].contains("does not match the documented schema"),
        "{}",
        violations[0]
    );
}
