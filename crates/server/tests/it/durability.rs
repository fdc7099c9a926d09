//! Acknowledged writes survive restarts, including a SIGKILL.

use std::path::Path;

use roster_testkit::{create_app, register, Fixture, Getui, RosterProcess, ADMIN_TOKEN};
use serde_json::json;

#[tokio::test]
async fn in_process_restart_keeps_everything() {
    let Fixture {
        mut srv,
        app,
        getui: g,
        cids,
    } = Fixture::start(json!([{ "phone_type": "android" }, { "phone_type": "ios" }])).await;
    let token = g.token.clone();
    g.post(
        "/user/alias",
        json!({ "data_list": [{ "cid": cids[0], "alias": "keep" }] }),
    )
    .await
    .ok();
    g.post(
        &format!("/user/custom_tag/cid/{}", cids[1]),
        json!({ "custom_tag": ["t1", "t2"] }),
    )
    .await
    .ok();
    g.post(&format!("/user/black/cid/{}", cids[1]), json!(null))
        .await
        .ok();
    srv.restart().await;
    let mut g = srv.getui(&app).await;
    // the old token still works: tokens are stored, not held in memory
    g.token = token;
    assert_eq!(
        g.get("/user/cid/alias/keep").await.ok()["cid"],
        json!([cids[0]])
    );
    assert_eq!(
        g.get(&format!("/user/custom_tag/cid/{}", cids[1]))
            .await
            .ok()[&cids[1]],
        json!(["t1 t2"])
    );
}

#[tokio::test]
async fn sigkill_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = Path::new(env!("CARGO_BIN_EXE_roster"));
    let mut p = RosterProcess::start(bin, dir.path()).await;
    let http = reqwest::Client::new();
    let app = create_app(&http, &p.base, ADMIN_TOKEN).await;
    let cids = register(
        &http,
        &p.base,
        &app,
        json!([{ "phone_type": "android" }, { "phone_type": "ios" }]),
    )
    .await;
    let g = Getui::connect(&http, &p.base, &app).await;
    for i in 0..20 {
        g.put(
            &format!("/user/custom_tag/batch/tag{i}"),
            json!({ "cid": [cids[0]] }),
        )
        .await
        .ok();
    }
    g.post(
        "/user/alias",
        json!({ "data_list": [{ "cid": cids[1], "alias": "durable" }] }),
    )
    .await
    .ok();
    g.post(
        &format!("/user/badge/cid/{}", cids[1]),
        json!({ "badge": "7" }),
    )
    .await
    .ok();
    p.kill_and_restart().await;
    let g = Getui::connect(&http, &p.base, &app).await;
    let tags = g.get(&format!("/user/custom_tag/cid/{}", cids[0])).await;
    let tags = tags.ok()[&cids[0]][0]
        .as_str()
        .unwrap_or("")
        .split(' ')
        .count();
    assert_eq!(tags, 20);
    assert_eq!(
        g.get("/user/cid/alias/durable").await.ok()["cid"],
        json!([cids[1]])
    );
}

#[tokio::test]
async fn cli_app_create_then_serve() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = Path::new(env!("CARGO_BIN_EXE_roster"));
    let out = std::process::Command::new(bin)
        .args(["app", "create", "--name", "cli app", "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("run roster app create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let app: serde_json::Value = serde_json::from_slice(&out.stdout).expect("credentials JSON");
    let p = RosterProcess::start(bin, dir.path()).await;
    let http = reqwest::Client::new();
    let cids = register(&http, &p.base, &app, json!([{ "phone_type": "ios" }])).await;
    let g = Getui::connect(&http, &p.base, &app).await;
    g.get(&format!("/user/detail/{}", cids[0])).await.ok();
}
