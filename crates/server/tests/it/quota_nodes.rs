//! Rate limits and quotas on two roster processes over one PostgreSQL database: the
//! nodes share daily quotas (racing for the last units, they never admit more than the
//! quota between them, also after both restart), and an admin change made through one
//! node is enforced by the other within a second.

use std::path::Path;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use reqwest::Method;
use roster_testkit::{create_app, register, RosterProcess, TestPostgres, ADMIN_TOKEN};
use serde_json::{json, Value};

use crate::quota::{
    assert_no_window, assert_refused, connect_at, entry, limits_at, set_limit_at, until_midnight,
    Gt, Hit, SHANGHAI_OFFSET_S,
};
use crate::support::database;

/// Two nodes on one fresh database.
struct Nodes {
    a: RosterProcess,
    b: RosterProcess,
    http: reqwest::Client,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
    _db: TestPostgres,
}

impl Nodes {
    async fn start() -> Nodes {
        let db = database().await;
        let bin = Path::new(env!("CARGO_BIN_EXE_roster"));
        let dirs = (
            tempfile::tempdir().expect("dir"),
            tempfile::tempdir().expect("dir"),
        );
        let a = RosterProcess::start_with_store(bin, dirs.0.path(), Some(db.url())).await;
        let b = RosterProcess::start_with_store(bin, dirs.1.path(), Some(db.url())).await;
        Nodes {
            a,
            b,
            http: reqwest::Client::new(),
            _dirs: dirs,
            _db: db,
        }
    }

    /// An app (created through A) with `n` devices, and a Getui client on each node.
    async fn app(&self, n: usize) -> (Value, Vec<String>, Gt, Gt) {
        let app = create_app(&self.http, &self.a.base, ADMIN_TOKEN).await;
        let devices: Vec<Value> = (0..n).map(|_| json!({ "phone_type": "android" })).collect();
        let cids = register(&self.http, &self.a.base, &app, Value::Array(devices)).await;
        let now = roster_core::time::now_ms();
        let ga = connect_at(&self.http, &self.a.base, &app, now).await;
        let gb = connect_at(&self.http, &self.b.base, &app, now).await;
        (app, cids, ga, gb)
    }
}

/// Waits out the second within which every node applies an admin change.
async fn propagated() {
    tokio::time::sleep(Duration::from_millis(1500)).await;
}

fn batch(tag: &str) -> String {
    format!("/user/custom_tag/batch/{tag}")
}

/// A cid's tags as `g`'s node shows them once it has applied `seq`.
async fn tags_after(g: &Gt, cid: &str, seq: u64) -> Value {
    let req = g
        .request(Method::GET, &format!("/user/custom_tag/cid/{cid}"))
        .header("x-roster-min-seq", seq);
    Hit::send(req, None).await.ok()[cid].clone()
}

/// 15 batch binds at each node at once, for a daily quota of 10: exactly 10 are
/// admitted over both nodes, the other 20 are 403/30011 and bind nothing.
#[tokio::test]
async fn two_nodes_never_admit_more_than_the_daily_quota() {
    let n = Nodes::start().await;
    let (app, cids, ga, gb) = n.app(30).await;
    let e = set_limit_at(
        &n.http,
        &n.a.base,
        &app,
        "getui_tag_batch",
        json!({ "per_minute": null, "per_day": 10 }),
    )
    .await;
    assert_eq!(
        (&e["per_minute"], &e["per_day"]),
        (&json!(null), &json!(10))
    );
    propagated().await;
    let replies = join_all(cids.iter().enumerate().map(|(i, cid)| {
        let g = if i % 2 == 0 { ga.clone() } else { gb.clone() };
        async move { g.put(&batch("q"), json!({ "cid": [cid] })).await }
    }))
    .await;
    let mut admitted = Vec::new();
    let mut max_seq = 0;
    for (i, h) in replies.iter().enumerate() {
        if h.status == 200 {
            h.ok();
            assert_eq!(h.window().0, Some(10), "X-RateLimit-Limit");
            let seq: u64 = h
                .header("x-roster-seq")
                .and_then(|v| v.parse().ok())
                .expect("X-Roster-Seq on a write");
            max_seq = max_seq.max(seq);
            admitted.push(i);
        } else {
            let retry = until_midnight(roster_core::time::now_ms(), SHANGHAI_OFFSET_S);
            assert_refused(h, 403, 30011, 10, 86_400, retry);
        }
    }
    assert_eq!(
        admitted.len(),
        10,
        "admitted over both nodes: {admitted:?} (even: node A, odd: node B)"
    );
    for (i, cid) in cids.iter().enumerate() {
        let want = if admitted.contains(&i) {
            json!(["q"])
        } else {
            json!([])
        };
        assert_eq!(tags_after(&ga, cid, max_seq).await, want, "cid {i}");
    }
    for base in [&n.a.base, &n.b.base] {
        let all = limits_at(&n.http, base, &app).await;
        assert_eq!(
            entry(&all, "getui_tag_batch")["used"]["day"],
            10,
            "{base}: {all}"
        );
    }
}

/// `getui_call` set to 1 a minute through node A: A enforces it at once, B within a
/// second.
#[tokio::test]
async fn an_admin_change_reaches_every_node_within_a_second() {
    let n = Nodes::start().await;
    let (app, cids, ga, gb) = n.app(1).await;
    let detail = format!("/user/detail/{}", cids[0]);
    for _ in 0..3 {
        let h = gb.get(&detail).await;
        h.ok();
        assert_no_window(&h);
    }
    set_limit_at(
        &n.http,
        &n.a.base,
        &app,
        "getui_call",
        json!({ "per_minute": 1 }),
    )
    .await;
    let changed = Instant::now();
    let h = ga.get(&detail).await;
    h.ok();
    assert_eq!(h.window(), (Some(1), Some(0)));
    assert_refused(&ga.get(&detail).await, 401, 10005, 1, 60, 1..=60);
    loop {
        let h = gb.get(&detail).await;
        if h.status != 200 {
            assert_refused(&h, 401, 10005, 1, 60, 1..=60);
            break;
        }
        h.ok();
        assert!(
            changed.elapsed() < Duration::from_millis(1500),
            "node B still admits every call {:?} after the change",
            changed.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let all = limits_at(&n.http, &n.b.base, &app).await;
    assert_eq!(entry(&all, "getui_call")["per_minute"], 1, "{all}");
}

/// The daily quota used through both nodes, and the admin's override, survive killing
/// and restarting both.
#[tokio::test]
async fn the_shared_daily_quota_survives_restarting_both_nodes() {
    let mut n = Nodes::start().await;
    let (app, cids, ga, gb) = n.app(1).await;
    set_limit_at(
        &n.http,
        &n.b.base,
        &app,
        "getui_tag_batch",
        json!({ "per_minute": null, "per_day": 3 }),
    )
    .await;
    propagated().await;
    let body = json!({ "cid": [cids[0]] });
    ga.put(&batch("t"), body.clone()).await.ok();
    gb.delete(&batch("t"), body.clone()).await.ok();
    let h = ga.put(&batch("t"), body.clone()).await;
    h.ok();
    assert_eq!(h.window(), (Some(3), Some(0)));
    let seq: u64 = h
        .header("x-roster-seq")
        .and_then(|v| v.parse().ok())
        .expect("X-Roster-Seq on a write");
    n.a.kill_and_restart().await;
    n.b.kill_and_restart().await;
    let h = gb.delete(&batch("t"), body.clone()).await;
    let retry = || until_midnight(roster_core::time::now_ms(), SHANGHAI_OFFSET_S);
    assert_refused(&h, 403, 30011, 3, 86_400, retry());
    let h = ga.put(&batch("u"), body).await;
    assert_refused(&h, 403, 30011, 3, 86_400, retry());
    for base in [&n.a.base, &n.b.base] {
        let all = limits_at(&n.http, base, &app).await;
        let e = entry(&all, "getui_tag_batch");
        assert_eq!(
            (&e["per_minute"], &e["per_day"], &e["used"]["day"]),
            (&json!(null), &json!(3), &json!(3)),
            "{base}: {all}"
        );
    }
    assert_eq!(
        tags_after(&gb, &cids[0], seq).await,
        json!(["t"]),
        "the refused calls changed nothing"
    );
}

/// When a node cannot count a daily quota in the store (here its table is gone), the
/// call is refused with the quota's code (fails closed) and changes nothing, while the
/// per-minute windows, kept in memory, go on being enforced; once the store is back,
/// calls pass again.
#[tokio::test]
async fn daily_quotas_fail_closed_and_minute_windows_keep_working_without_the_store() {
    let nodes = Nodes::start().await;
    let (app, cids, ga, _) = nodes.app(1).await;
    let pg = crate::changes_faults::psql(&nodes._db).await;
    pg.batch_execute("ALTER TABLE quota_usage RENAME TO quota_usage_away")
        .await
        .expect("hide the counts");
    let body = json!({ "cid": [cids[0]] });
    let h = ga.put(&batch("shut"), body.clone()).await;
    assert_eq!((h.status, h.code()), (403, 30011), "{}", h.body);
    assert!(
        h.header("retry-after").is_some(),
        "a refusal says when to retry"
    );
    assert_eq!(
        ga.tags(&cids[0]).await,
        json!([]),
        "the refused bind changed nothing"
    );
    // No daily quota on user/detail: a per-minute ceiling still holds, from memory.
    set_limit_at(
        &nodes.http,
        &nodes.a.base,
        &app,
        "getui_call",
        json!({ "per_minute": 1 }),
    )
    .await;
    let detail = format!("/user/detail/{}", cids[0]);
    let h = ga.get(&detail).await;
    assert_eq!((h.status, h.code()), (200, 0), "{}", h.body);
    let h = ga.get(&detail).await;
    assert_eq!((h.status, h.code()), (401, 10005), "{}", h.body);
    pg.batch_execute("ALTER TABLE quota_usage_away RENAME TO quota_usage")
        .await
        .expect("bring the counts back");
    let h = ga.put(&batch("shut"), body).await;
    assert_eq!((h.status, h.code()), (200, 0), "{}", h.body);
}
