//! Replication lag between two nodes on one PostgreSQL database: node A takes a steady
//! rate of durable single-mutation writes (native login events on distinct cids); for
//! a sample of them, node B is asked for a count with `X-Roster-Min-Seq` = the write's
//! seq the moment A acknowledges it. The time from A's acknowledgement to B's answer is
//! the lag from a write on A to its visibility on B (an upper bound: it includes B's
//! round trip).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};

use crate::{ms, pct, Args};

const TOKEN: &str = "bench-admin";

async fn node(url: &str, dir: &std::path::Path) -> anyhow::Result<roster_server::Running> {
    let settings = roster_server::Settings {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.to_path_buf(),
        store: Some(url.to_owned()),
        admin_token: Some(TOKEN.into()),
        edge: roster_server::EdgeLimits::default(),
        changes_retention: roster_server::DEFAULT_CHANGES_RETENTION,
        crowd_timeout: roster_server::DEFAULT_CROWD_TIMEOUT,
        metrics_listen: None,
        metrics_app_labels: roster_server::DEFAULT_METRICS_APP_LABELS,
    };
    roster_server::start(&settings, roster_core::time::system_clock()).await
}

/// Runs the phase on the PostgreSQL database at `url`.
pub(crate) async fn replication(args: &Args, url: &str) -> anyhow::Result<()> {
    let (da, db) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let a = node(url, da.path()).await?;
    let b = node(url, db.path()).await?;
    let (ra, rb) = (format!("http://{}", a.addr), format!("http://{}", b.addr));
    let http = reqwest::Client::new();
    let app: Value = http
        .post(format!("{ra}/admin/v1/apps"))
        .bearer_auth(TOKEN)
        .json(&json!({ "name": "bench replication" }))
        .send()
        .await?
        .json()
        .await?;
    let id = app["app_id"].as_str().context("app id")?.to_owned();
    let key = app["getui"]["app_key"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let secret = app["getui"]["master_secret"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut cids = Vec::new();
    for _ in 0..4 {
        let batch: Vec<Value> = (0..1000)
            .map(|_| json!({ "phone_type": "android" }))
            .collect();
        let r: Value = http
            .post(format!("{ra}/api/v1/apps/{id}/devices"))
            .basic_auth(&key, Some(&secret))
            .json(&batch)
            .send()
            .await?
            .json()
            .await?;
        for c in r["cids"].as_array().context("cids")? {
            cids.push(c.as_str().unwrap_or_default().to_owned());
        }
    }
    let rate = args.replication_rate.max(1.0);
    let total = (rate * args.replication_seconds) as usize;
    let every = Duration::from_secs_f64(1.0 / rate);
    // One in ten writes is followed to B.
    let sampled = 10;
    let cids = Arc::new(cids);
    let mut tasks = tokio::task::JoinSet::new();
    let started = Instant::now();
    for i in 0..total {
        let due = started + every.mul_f64(i as f64);
        tokio::time::sleep_until(due.into()).await;
        let (http, ra, rb, id, key, secret, cids) = (
            http.clone(),
            ra.clone(),
            rb.clone(),
            id.clone(),
            key.clone(),
            secret.clone(),
            cids.clone(),
        );
        tasks.spawn(async move {
            let cid = &cids[i % cids.len()];
            let r = http
                .post(format!("{ra}/api/v1/apps/{id}/devices/{cid}/events"))
                .basic_auth(&key, Some(&secret))
                .json(&json!({ "type": "login" }))
                .send()
                .await?;
            if !r.status().is_success() {
                let status = r.status();
                bail!(
                    "write answered {status}: {}",
                    r.text().await.unwrap_or_default()
                );
            }
            let acked = Instant::now();
            let seq = r
                .headers()
                .get("x-roster-seq")
                .and_then(|v| v.to_str().ok())
                .context("X-Roster-Seq")?
                .to_owned();
            if i % sampled != 0 {
                return Ok((acked, None));
            }
            let r = http
                .post(format!("{rb}/api/v1/apps/{id}/audience/count"))
                .basic_auth(&key, Some(&secret))
                .header("x-roster-min-seq", seq)
                .json(&json!({ "selector": { "all": true } }))
                .send()
                .await?;
            if !r.status().is_success() {
                bail!("count on B answered {}", r.status());
            }
            Ok((acked, Some(acked.elapsed())))
        });
    }
    let mut lags = Vec::new();
    let mut last_ack = started;
    while let Some(done) = tasks.join_next().await {
        let (acked, lag) = done??;
        last_ack = last_ack.max(acked);
        lags.extend(lag);
    }
    let secs = last_ack.duration_since(started).as_secs_f64().max(1e-9);
    lags.sort();
    let node: Value = http
        .get(format!("{rb}/admin/v1/node"))
        .bearer_auth(TOKEN)
        .send()
        .await?
        .json()
        .await?;
    println!();
    println!("replication, two nodes on one PostgreSQL database");
    println!(
        "  {total} login events on A at a target {rate:.0}/s: achieved {:.0} writes/s",
        total as f64 / secs
    );
    println!(
        "  write on A acknowledged → count on B with X-Roster-Min-Seq answered ({} samples): p50 {} ms, p99 {} ms, max {} ms",
        lags.len(),
        ms(pct(&lags, 0.5)),
        ms(pct(&lags, 0.99)),
        ms(lags.last().copied().unwrap_or_default())
    );
    println!("  node B afterwards: {node}");
    a.stop().await?;
    b.stop().await?;
    Ok(())
}
