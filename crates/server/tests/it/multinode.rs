//! Two roster processes over one PostgreSQL database: every write through one node is
//! visible through the other once it has applied the write's seq (asked for with
//! `X-Roster-Min-Seq`), and a Getui token revoked on one node dies on the other within
//! a second.

use std::path::Path;

use roster_testkit::{create_app, register, s, Getui, RosterProcess, ADMIN_TOKEN};
use serde_json::{json, Value};

use crate::getui_tokens::refused_within_bound;
use crate::support::database;

async fn count(g: &Getui) -> Option<u64> {
    let body = json!({ "tag": [
        { "key": "phone_type", "values": ["android"], "opt_type": "and" },
        { "key": "region", "values": ["11000000", "31000000"], "opt_type": "or" },
        { "key": "custom_tag", "values": ["x"], "opt_type": "not" }
    ] });
    g.post("/user/count", body).await.ok()["user_count"].as_u64()
}

#[tokio::test]
async fn two_nodes_one_database() {
    let db = database().await;
    let bin = Path::new(env!("CARGO_BIN_EXE_roster"));
    let (dir_a, dir_b) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let a = RosterProcess::start_with_store(bin, dir_a.path(), Some(db.url())).await;
    let b = RosterProcess::start_with_store(bin, dir_b.path(), Some(db.url())).await;
    let http = reqwest::Client::new();

    // an app created on A works on B; devices registered on B are seen by A
    let app = create_app(&http, &a.base, ADMIN_TOKEN).await;
    let cids = register(
        &http,
        &b.base,
        &app,
        json!([
            { "phone_type": "android", "region": "11010000" },
            { "phone_type": "android", "region": "31010000" },
            { "phone_type": "ios", "region": "11020000" }
        ]),
    )
    .await;

    // a Getui token issued by A is accepted by B, and revoked on B it is dead on A
    let ga = Getui::connect(&http, &a.base, &app).await;
    let mut gb = Getui::connect(&http, &b.base, &app).await;
    gb.token = ga.token.clone();
    let bound = gb
        .post(
            "/user/alias",
            json!({ "data_list": [{ "cid": cids[0], "alias": "shared" }] }),
        )
        .await;
    bound.ok();
    assert_eq!(
        ga.get("/user/cid/alias/shared").await.ok()["cid"],
        json!([cids[0]])
    );

    // counts on A (from A's index) see tags written through B once A has applied B's
    // seq, which a read asks for with X-Roster-Min-Seq
    assert_eq!(count(&ga.after_seq(bound.seq)).await, Some(2));
    let w = gb
        .put("/user/custom_tag/batch/x", json!({ "cid": [cids[1]] }))
        .await;
    w.ok();
    assert!(w.seq.is_some(), "a write reply carries X-Roster-Seq");
    assert_eq!(count(&ga.after_seq(w.seq)).await, Some(1));
    let w = gb
        .post(&format!("/user/black/cid/{}", cids[0]), json!(null))
        .await;
    w.ok();
    assert_eq!(count(&ga.after_seq(w.seq)).await, Some(0));
    // asked again with nothing changed: A answers from its count cache, the same
    assert_eq!(count(&ga).await, Some(0));
    // and a write through B makes A's next count at B's seq fresh, not the cached one
    let w = gb
        .delete(&format!("/user/black/cid/{}", cids[0]), json!(null))
        .await;
    w.ok();
    assert_eq!(count(&ga.after_seq(w.seq)).await, Some(1));
    let native = http
        .post(format!(
            "{}/api/v1/apps/{}/audience/count",
            a.base,
            s(&app["app_id"])
        ))
        .basic_auth(
            s(&app["getui"]["app_key"]),
            Some(s(&app["getui"]["master_secret"])),
        )
        .json(&json!({ "selector": { "phone_type": "android" } }))
        .send()
        .await
        .expect("count")
        .json::<Value>()
        .await
        .expect("json");
    assert_eq!(native["count"], 2);

    // the ten-cid alias limit holds when two nodes bind at the same moment: of two
    // batches of six, exactly one lands
    let more: Vec<Value> = (0..12).map(|_| json!({ "phone_type": "ios" })).collect();
    let extra = register(&http, &a.base, &app, Value::Array(more)).await;
    let (first, second) = extra.split_at(6);
    let list = |cs: &[String]| json!({ "data_list": cs.iter().map(|c| json!({ "cid": c, "alias": "team" })).collect::<Vec<_>>() });
    let (ra, rb) = tokio::join!(
        ga.post("/user/alias", list(first)),
        gb.post("/user/alias", list(second))
    );
    let mut codes = [ra.code(), rb.code()];
    codes.sort();
    assert_eq!(codes, [0, 20001], "{:?} {:?}", ra.body, rb.body);
    assert_eq!(
        ga.get("/user/cid/alias/team").await.ok()["cid"]
            .as_array()
            .map(Vec::len),
        Some(6)
    );

    // users written on A are read on B
    let u = &app["ums"];
    let r = http
        .post(format!("{}/v1/user/opt", a.base))
        .basic_auth(s(&u["access_key"]), Some(s(&u["access_secret"])))
        .json(&json!([{ "userid": "alice", "set": { "app": { s(&u["app_sender_code"]): [cids[2]] } } }]))
        .send()
        .await
        .expect("ums");
    assert_eq!(
        r.json::<Value>().await.expect("json")["data"]["success"],
        json!(["alice"])
    );
    let g = &app["growth"];
    let r: Value = http
        .post(format!("{}/smartop/api/v1/user/register", b.base))
        .basic_auth(s(&g["project_id"]), Some(s(&g["project_secret"])))
        .json(&json!({ "identityName": "user_id", "identityValues": ["alice"] }))
        .send()
        .await
        .expect("growth")
        .json()
        .await
        .expect("json");
    let cuid = r["data"][0]["cuid"].as_i64().expect("cuid");
    let e = &app["engagelab"];
    let r: Value = http
        .post(format!("{}/v1/user/profile", b.base))
        .basic_auth(s(&e["api_key"]), Some(s(&e["api_secret"])))
        .json(&json!({ "euid": [cuid] }))
        .send()
        .await
        .expect("profile")
        .json()
        .await
        .expect("json");
    assert_eq!(
        r["data"][0]["user_identities"]["registration_id"],
        json!([cids[2]])
    );

    // revoking on B kills the token on B at once and on A within a second (A answers
    // token checks from memory for up to `roster_api_getui::FRESH_FOR`)
    ga.get("/user/status/x").await.ok();
    gb.delete(&format!("/auth/{}", ga.token), json!(null))
        .await
        .ok();
    let r = gb.get("/user/status/x").await;
    assert_eq!((r.status, r.code()), (401, 10001));
    refused_within_bound(&ga).await;
}

#[tokio::test]
async fn cli_app_create_on_postgres() {
    let db = database().await;
    let dir = tempfile::tempdir().expect("dir");
    let bin = Path::new(env!("CARGO_BIN_EXE_roster"));
    let out = std::process::Command::new(bin)
        .args([
            "app",
            "create",
            "--name",
            "pg app",
            "--store",
            db.url(),
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let app: Value = serde_json::from_slice(&out.stdout).expect("json");
    let p = RosterProcess::start_with_store(bin, dir.path(), Some(db.url())).await;
    let http = reqwest::Client::new();
    register(&http, &p.base, &app, json!([{ "phone_type": "ios" }])).await;
}
