//! The OpenAPI document: the served one is the checked-in `docs/openapi.json`, and every
//! native operation, driven over HTTP through its success and error paths, answers only
//! statuses the document lists for it, with bodies its schemas accept. Request bodies the
//! server accepts must pass the documented request schema, and those it refuses as
//! malformed must fail it, so the schemas neither promise too little nor too much.

mod admin;
mod api;
mod conformance;
mod transport;

use reqwest::{Method, StatusCode};
use roster_testkit::TestServer;
use serde_json::{json, Value};

use conformance::{expect, Auth, Conformance};

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
