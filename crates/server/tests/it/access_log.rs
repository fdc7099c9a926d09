//! One span per request with dialect, route template, app id, status and latency, and
//! one access-log line per request without paths, query values, bodies or headers.

use std::sync::{Arc, Mutex, OnceLock};

use roster_testkit::{s, TestServer};

use crate::support::LogBuf;
use serde_json::json;

/// Everything logged by this test binary at `info` and above, once installed.
fn captured() -> Arc<Mutex<Vec<u8>>> {
    static BUF: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUF.get_or_init(|| {
        let sink = LogBuf::default();
        let buf = sink.0.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter("info")
            .with_ansi(false)
            .with_writer(move || sink.clone())
            .finish();
        // Another test may have installed one first; then this test cannot observe.
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
        buf
    })
    .clone()
}

#[tokio::test]
async fn every_request_has_one_access_line_with_its_span_fields() {
    let buf = captured();
    let srv = TestServer::start().await;
    let app = srv.create_app().await;
    let app_id = s(&app["app_id"]).to_owned();
    let cids = srv
        .register(&app, json!([{ "phone_type": "android" }]))
        .await;
    let g = srv.getui(&app).await;
    g.get(&format!("/user/detail/{}?secret_query=q1w2e3", cids[0]))
        .await
        .ok();
    // An unknown route: no template, the dialect by prefix.
    let r = srv
        .http
        .get(format!("{}/v1/user/nowhere", srv.base))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 404);
    // The access line is written when the body has been sent; give it a moment.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let text = String::from_utf8(buf.lock().expect("lock").clone()).expect("utf8");
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("roster::access"))
        .collect();
    let detail: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains("/v2/{app_id}/user/detail/{cids}") && l.contains(&app_id))
        .collect();
    assert_eq!(detail.len(), 1, "one access line per request:\n{text}");
    let line = detail[0];
    for want in [
        "dialect=getui",
        "status=200",
        "latency_ms=",
        "bytes=",
        "method=GET",
        &format!("app_id={app_id}"),
    ] {
        assert!(line.contains(want), "{want} missing from {line}");
    }
    assert!(!text.contains(&cids[0]), "a cid reached the log");
    assert!(!text.contains("q1w2e3"), "a query value reached the log");
    assert!(!text.contains(&g.token), "a token reached the log");
    let unknown = lines
        .iter()
        .find(|l| l.contains("dialect=ums") && l.contains("status=404"));
    assert!(unknown.is_some(), "no access line for the 404:\n{text}");
    // The native app-create and device upsert are logged as native, with their routes.
    assert!(lines
        .iter()
        .any(|l| l.contains("dialect=native") && l.contains("route=/admin/v1/apps")));
}
