//! The change log over HTTP on one node: `X-Roster-Seq` on every dialect's write
//! replies (the current seq on a write that changes nothing), the feed's pages and
//! resumption, `follow`, `X-Roster-Min-Seq`, and the log across a restart.

use std::time::{Duration, Instant};

use reqwest::{RequestBuilder, StatusCode};
use roster_testkit::{create_app, s, Getui, TestServer, ADMIN_TOKEN};
use serde_json::{json, Value};

/// Sends `req`: status, `X-Roster-Seq`, body.
async fn send(req: RequestBuilder) -> (StatusCode, Option<u64>, Value) {
    let r = req.send().await.expect("send");
    let status = r.status();
    let seq = r
        .headers()
        .get("x-roster-seq")
        .map(|v| v.to_str().expect("ascii").parse().expect("a seq"));
    let body = r.json().await.unwrap_or(Value::Null);
    (status, seq, body)
}

fn native(srv: &TestServer, app: &Value, method: reqwest::Method, path: &str) -> RequestBuilder {
    srv.http
        .request(
            method,
            format!("{}/api/v1/apps/{}{path}", srv.base, s(&app["app_id"])),
        )
        .basic_auth(
            s(&app["getui"]["app_key"]),
            Some(s(&app["getui"]["master_secret"])),
        )
}

/// The feed after `after` with `limit`: the parsed lines.
async fn feed(srv: &TestServer, app: &Value, after: u64, limit: usize) -> Vec<Value> {
    let r = native(
        srv,
        app,
        reqwest::Method::GET,
        &format!("/changes?after={after}&limit={limit}"),
    )
    .send()
    .await
    .expect("feed");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/x-ndjson")
    );
    let text = r.text().await.expect("text");
    text.lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

fn seq(line: &Value) -> u64 {
    line["seq"].as_u64().expect("seq")
}

#[tokio::test]
async fn every_dialect_write_reply_carries_the_apps_seq() {
    let srv = TestServer::start().await;
    let app = create_app(&srv.http, &srv.base, ADMIN_TOKEN).await;
    // the app's creation is its first change
    let lines = feed(&srv, &app, 0, 1000).await;
    assert_eq!(
        (seq(&lines[0]), &lines[0]["kind"]),
        (1, &json!("app_created"))
    );

    // native: a batch of three devices commits under one seq, one line per device
    let (st, s2, body) = send(
        native(&srv, &app, reqwest::Method::POST, "/devices").json(&json!([
            { "phone_type": "android", "region": "11000000" },
            { "phone_type": "android" },
            { "phone_type": "ios" }
        ])),
    )
    .await;
    assert_eq!((st, s2), (StatusCode::OK, Some(2)));
    let cids: Vec<String> = body["cids"]
        .as_array()
        .expect("cids")
        .iter()
        .map(|c| s(c).to_owned())
        .collect();
    let lines = feed(&srv, &app, 1, 1000).await;
    assert!(lines.iter().all(|l| seq(l) == 2));
    let lines: Vec<&Value> = lines
        .iter()
        .filter(|l| l["kind"] == "device_inserted")
        .collect();
    assert_eq!(lines.len(), 3);
    let listed: Vec<&str> = lines.iter().map(|l| s(&l["cid"])).collect();
    assert_eq!(listed, cids.iter().map(String::as_str).collect::<Vec<_>>());

    // Getui: a bind takes a seq; the same bind again changes nothing and reports it
    let g = Getui::connect(&srv.http, &srv.base, &app).await;
    let bind = json!({ "data_list": [{ "cid": cids[0], "alias": "a1" }] });
    let r = g.post("/user/alias", bind.clone()).await;
    r.ok();
    assert_eq!(r.seq, Some(3));
    let r = g.post("/user/alias", bind).await;
    r.ok();
    assert_eq!(
        r.seq,
        Some(3),
        "an idempotent rebind reports the current seq"
    );
    // a refused write carries no seq; a read carries none either
    let r = g
        .post(
            "/user/alias",
            json!({ "data_list": [{ "cid": "no-such-cid", "alias": "a1" }] }),
        )
        .await;
    assert_ne!(r.code(), 0);
    assert_eq!(r.seq, None);
    let r = g.get(&format!("/user/alias/cid/{}", cids[0])).await;
    r.ok();
    assert_eq!(r.seq, None);

    // UMS
    let u = &app["ums"];
    let ums = |body: Value| {
        srv.http
            .post(format!("{}/v1/user/opt", srv.base))
            .basic_auth(s(&u["access_key"]), Some(s(&u["access_secret"])))
            .json(&body)
    };
    let (st, s4, _) = send(ums(
        json!([{ "userid": "alice", "set": { "tag": { "all": ["t1"] } } }]),
    ))
    .await;
    assert_eq!((st, s4), (StatusCode::OK, Some(4)));

    // Growth: registering a known identity changes nothing
    let gr = &app["growth"];
    let growth = || {
        srv.http
            .post(format!("{}/smartop/api/v1/user/register", srv.base))
            .basic_auth(s(&gr["project_id"]), Some(s(&gr["project_secret"])))
            .json(&json!({ "identityName": "user_id", "identityValues": ["bob"] }))
    };
    let (st, s5, body) = send(growth()).await;
    assert_eq!((st, s5), (StatusCode::OK, Some(5)), "{body}");
    let (st, again, _) = send(growth()).await;
    assert_eq!((st, again), (StatusCode::OK, Some(5)));

    // EngageLab: the profile read carries no seq
    let e = &app["engagelab"];
    let cuid = body["data"][0]["cuid"].as_i64().expect("cuid");
    let (st, none, _) = send(
        srv.http
            .post(format!("{}/v1/user/profile", srv.base))
            .basic_auth(s(&e["api_key"]), Some(s(&e["api_secret"])))
            .json(&json!({ "euid": [cuid] })),
    )
    .await;
    assert_eq!((st, none), (StatusCode::OK, None));

    // admin writes are writes of the app too
    let (st, s6, _) = send(
        srv.http
            .put(format!(
                "{}/admin/v1/apps/{}/getui/bind_dt_types",
                srv.base,
                s(&app["app_id"])
            ))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({ "types": ["hw"] })),
    )
    .await;
    assert_eq!((st, s6), (StatusCode::OK, Some(6)));

    // every seq is in the feed once, in order, and lines of one seq are together
    let all = feed(&srv, &app, 0, 10_000).await;
    let seqs: Vec<u64> = all.iter().map(seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] <= w[1]), "{seqs:?}");
    let mut distinct = seqs.clone();
    distinct.dedup();
    assert_eq!(distinct, vec![1, 2, 3, 4, 5, 6]);
    let kinds: Vec<&str> = all.iter().map(|l| s(&l["kind"])).collect();
    for k in [
        "app_created",
        "device_inserted",
        "alias_bound",
        "user_created",
        "identity_set",
        "binding_set",
        "dt_types_set",
    ] {
        assert!(kinds.contains(&k), "{k} in {kinds:?}");
    }
    assert!(all
        .iter()
        .all(|l| l["at"].as_i64().is_some_and(|at| at > 0)));
}

#[tokio::test]
async fn pages_end_at_seq_boundaries_and_resume_exactly() {
    let srv = TestServer::start().await;
    let app = create_app(&srv.http, &srv.base, ADMIN_TOKEN).await;
    for batch in 1..=6 {
        let devices: Vec<Value> = (0..batch)
            .map(|_| json!({ "phone_type": "android" }))
            .collect();
        let (st, _, _) =
            send(native(&srv, &app, reqwest::Method::POST, "/devices").json(&devices)).await;
        assert_eq!(st, StatusCode::OK);
    }
    let whole = feed(&srv, &app, 0, 10_000).await;
    let kinds: Vec<&str> = whole.iter().map(|l| s(&l["kind"])).collect();
    // the app's creation (with its UMS channel and sender), then per device its
    // insertion and its first login day
    assert_eq!(whole.len(), 4 + 2 * (1..=6).sum::<usize>(), "{kinds:?}");
    for limit in [1, 2, 3, 4, 7] {
        let mut after = 0;
        let mut got = Vec::new();
        loop {
            let page = feed(&srv, &app, after, limit).await;
            let Some(last) = page.last() else { break };
            // whole seqs only: the page's last seq has all its lines in the page
            let last = seq(last);
            let in_page = page.iter().filter(|l| seq(l) == last).count();
            let in_log = whole.iter().filter(|l| seq(l) == last).count();
            assert_eq!(in_page, in_log, "limit {limit}: seq {last} split");
            // never more than the limit unless one seq alone is larger
            let distinct = {
                let mut s: Vec<u64> = page.iter().map(seq).collect();
                s.dedup();
                s.len()
            };
            assert!(page.len() <= limit || distinct == 1, "limit {limit}");
            after = last;
            got.extend(page);
        }
        assert_eq!(
            got, whole,
            "limit {limit}: pages concatenate to the whole log"
        );
    }
    // from the middle
    let middle = feed(&srv, &app, 4, 10_000).await;
    assert_eq!(
        middle,
        whole
            .iter()
            .filter(|l| seq(l) > 4)
            .cloned()
            .collect::<Vec<_>>()
    );
    // past the end: empty
    assert!(feed(&srv, &app, 99, 10).await.is_empty());
}

#[tokio::test]
async fn a_followed_feed_streams_each_change_as_it_commits() {
    let srv = TestServer::start().await;
    let app = create_app(&srv.http, &srv.base, ADMIN_TOKEN).await;
    let r = native(
        &srv,
        &app,
        reqwest::Method::GET,
        "/changes?after=0&follow=true",
    )
    .header("accept-encoding", "gzip")
    .send()
    .await
    .expect("follow");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers().get("content-encoding").is_none(),
        "a followed feed is never compressed (a compressor would hold lines back)"
    );
    let mut body = r;
    let mut buf = String::new();
    let mut next_line = async || -> Value {
        loop {
            if let Some(i) = buf.find('\n') {
                let line: String = buf.drain(..=i).collect();
                return serde_json::from_str(&line).expect("a JSON line");
            }
            let chunk = tokio::time::timeout(Duration::from_secs(20), body.chunk())
                .await
                .expect("a line within 20 s")
                .expect("chunk")
                .expect("stream open");
            buf.push_str(std::str::from_utf8(&chunk).expect("utf-8"));
        }
    };
    for kind in [
        "app_created",
        "ums_channel_created",
        "ums_sender_created",
        "ums_sender_granted",
    ] {
        assert_eq!(next_line().await["kind"], kind);
    }
    let mut worst = Duration::ZERO;
    for round in 0..5 {
        let started = Instant::now();
        let (st, seq_now, _) = send(
            native(&srv, &app, reqwest::Method::POST, "/devices")
                .json(&json!([{ "phone_type": "ios" }])),
        )
        .await;
        assert_eq!(st, StatusCode::OK);
        let line = next_line().await;
        worst = worst.max(started.elapsed());
        assert_eq!(line["kind"], "device_inserted", "round {round}");
        assert_eq!(line["seq"].as_u64(), seq_now);
        assert_eq!(next_line().await["kind"], "login_day_recorded");
    }
    // 100 ms is the contract; the margin is for a loaded test machine
    assert!(worst < Duration::from_millis(500), "slowest line {worst:?}");
    // nothing happens for 15 s: a heartbeat with the last seq sent
    let beat = next_line().await;
    assert_eq!(beat, json!({ "heartbeat": 6 }));
}

#[tokio::test]
async fn reads_wait_for_the_seq_they_ask_for() {
    let srv = TestServer::start().await;
    let app = create_app(&srv.http, &srv.base, ADMIN_TOKEN).await;
    let g = Getui::connect(&srv.http, &srv.base, &app).await;
    let count =
        json!({ "tag": [{ "key": "phone_type", "values": ["android"], "opt_type": "and" }] });
    // a seq already applied: answered at once
    let r = g
        .after_seq(Some(1))
        .post("/user/count", count.clone())
        .await;
    assert_eq!(r.ok()["user_count"], 0);
    // a seq that never comes: 503 in the dialect's envelope after 5 s
    let started = Instant::now();
    let r = g
        .after_seq(Some(1_000))
        .post("/user/count", count.clone())
        .await;
    assert_eq!((r.status, r.code()), (503, 503), "{}", r.body);
    assert!(started.elapsed() >= Duration::from_secs(5));
    let (st, _, body) = send(
        native(&srv, &app, reqwest::Method::POST, "/audience/count")
            .header("x-roster-min-seq", "1000")
            .json(&json!({ "selector": { "all": true } })),
    )
    .await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"]["code"], "unavailable");
    // a seq that comes while the read waits
    let waiting = {
        let g = g.after_seq(Some(2));
        let count = count.clone();
        tokio::spawn(async move { g.post("/user/count", count).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (st, s2, _) = send(
        native(&srv, &app, reqwest::Method::POST, "/devices")
            .json(&json!([{ "phone_type": "android" }])),
    )
    .await;
    assert_eq!((st, s2), (StatusCode::OK, Some(2)));
    let r = waiting.await.expect("join");
    assert_eq!(r.ok()["user_count"], 1);
    // not a seq: the dialect's 400 envelope
    let (st, _, body) = send(
        native(&srv, &app, reqwest::Method::POST, "/audience/count")
            .header("x-roster-min-seq", "soon")
            .json(&json!({ "selector": { "all": true } })),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "invalid_param");
}

#[tokio::test]
async fn the_log_and_its_seqs_survive_a_restart() {
    let mut srv = TestServer::start().await;
    let app = create_app(&srv.http, &srv.base, ADMIN_TOKEN).await;
    let add = || {
        native(&srv, &app, reqwest::Method::POST, "/devices")
            .json(&json!([{ "phone_type": "ios" }]))
    };
    let (_, s2, _) = send(add()).await;
    assert_eq!(s2, Some(2));
    let before = feed(&srv, &app, 0, 1000).await;
    srv.restart().await;
    let add = || {
        native(&srv, &app, reqwest::Method::POST, "/devices")
            .json(&json!([{ "phone_type": "ios" }]))
    };
    let (_, s3, _) = send(add()).await;
    assert_eq!(s3, Some(3), "seqs go on where they were");
    let after = feed(&srv, &app, 0, 1000).await;
    assert_eq!(after[..before.len()], before[..]);
    assert_eq!(
        after.len(),
        before.len() + 2,
        "a device and its first login day"
    );
    assert_eq!(feed(&srv, &app, 2, 1000).await, after[before.len()..]);
}
