//! Getui token checks are answered from memory on the hot path, yet a revoked token
//! dies at once on the node that revoked it and within a second on every other node,
//! and an expired one at once (see `crates/api-getui/src/tokens.rs`).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use roster_server::{Running, Settings};
use roster_testkit::{create_app, Getui, TestServer, ADMIN_TOKEN};
use serde_json::json;

/// How long a token revoked on one node may keep working on another.
const CROSS_NODE_BOUND: Duration = Duration::from_secs(1);

async fn accepted(g: &Getui) -> bool {
    let r = g.get("/user/status/nobody").await;
    match (r.status, r.code()) {
        (200, 0) => true,
        (401, 10001) => false,
        other => panic!("unexpected reply {other:?}: {}", r.body),
    }
}

/// Polls until `g`'s token is refused and says how long that took; panics once
/// [`CROSS_NODE_BOUND`] has passed.
pub(crate) async fn refused_within_bound(g: &Getui) -> Duration {
    let started = Instant::now();
    while accepted(g).await {
        assert!(
            started.elapsed() < CROSS_NODE_BOUND,
            "a revoked token still works after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.elapsed()
}

#[tokio::test]
async fn a_warm_token_revoked_here_fails_on_the_next_request() {
    let srv = TestServer::start().await;
    let app = srv.create_app().await;
    let g = srv.getui(&app).await;
    for _ in 0..20 {
        assert!(accepted(&g).await);
    }
    g.delete(&format!("/auth/{}", g.token), json!(null))
        .await
        .ok();
    assert!(!accepted(&g).await);
    // and it stays dead once the freshness window has passed
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(!accepted(&g).await);
}

#[tokio::test]
async fn a_warm_token_expires_at_once() {
    let srv = TestServer::start().await;
    let app = srv.create_app().await;
    let g = srv.getui(&app).await;
    for _ in 0..20 {
        assert!(accepted(&g).await);
    }
    srv.advance_clock(24 * 3600 * 1000 - 1_000);
    assert!(accepted(&g).await);
    srv.advance_clock(1_000);
    assert!(!accepted(&g).await, "expired at 24 h, with no wait");
}

#[tokio::test]
async fn unknown_tokens_stay_refused() {
    let srv = TestServer::start().await;
    let app = srv.create_app().await;
    let g = srv.getui(&app).await.with_token(&"e".repeat(64));
    for _ in 0..20 {
        assert!(!accepted(&g).await);
    }
}

/// A node over the embedded store in `path`, shared with other nodes.
async fn node(path: &std::path::Path, data_dir: &std::path::Path) -> Running {
    let settings = Settings {
        listen: "127.0.0.1:0".into(),
        data_dir: data_dir.to_path_buf(),
        store: Some(format!("sqlite:{}", path.display())),
        admin_token: Some(ADMIN_TOKEN.into()),
        edge: roster_server::EdgeLimits::default(),
        changes_retention: roster_server::DEFAULT_CHANGES_RETENTION,
        crowd_timeout: roster_server::DEFAULT_CROWD_TIMEOUT,
        metrics_listen: None,
        metrics_app_labels: roster_server::DEFAULT_METRICS_APP_LABELS,
    };
    let offset = Arc::new(AtomicI64::new(0));
    let clock: roster_core::time::Clock =
        Arc::new(move || roster_core::time::now_ms() + offset.load(Ordering::SeqCst));
    roster_server::start(&settings, clock)
        .await
        .expect("start roster")
}

#[tokio::test]
async fn a_token_revoked_on_another_node_fails_within_a_second() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("shared.db");
    let (dir_a, dir_b) = (dir.path().join("a"), dir.path().join("b"));
    let a = node(&file, &dir_a).await;
    let b = node(&file, &dir_b).await;
    let (base_a, base_b) = (format!("http://{}", a.addr), format!("http://{}", b.addr));
    let http = reqwest::Client::new();
    let app = create_app(&http, &base_a, ADMIN_TOKEN).await;

    // issued by A, used on B (B asks the shared store, then remembers)
    let ga = Getui::connect(&http, &base_a, &app).await;
    let mut gb = Getui::connect(&http, &base_b, &app).await;
    gb.token = ga.token.clone();
    for _ in 0..20 {
        assert!(accepted(&gb).await);
    }

    ga.delete(&format!("/auth/{}", ga.token), json!(null))
        .await
        .ok();
    assert!(!accepted(&ga).await, "dead at once where it was revoked");
    refused_within_bound(&gb).await;
    assert!(!accepted(&gb).await);
    a.stop().await.expect("stop");
    b.stop().await.expect("stop");
}
