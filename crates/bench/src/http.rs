//! The HTTP phase: roster served in-process on a free port, loaded by reqwest clients
//! in this same process. Every phase uses the same client, the same number of
//! concurrent clients and the same duration, so that the endpoints' figures compare
//! with each other and with `GET /healthz`, the router and the connection alone.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use roster_core::{AppId, AudienceQuery, Selector};
use roster_store::Store;
use serde_json::{json, Value};

use crate::{err, ms, pct, queries, Args};

/// The query of the headline count: android ∧ (Beijing ∨ Shanghai) ∧ ¬t3.
const HEADLINE: &str = "android∧(BJ∨SH)∧¬t3";

/// Existing cids that `user/detail` asks for, each request one at random.
const DETAIL_CIDS: usize = 1_000;

/// What one phase measured.
struct Phase {
    requests: usize,
    secs: f64,
    p50: Duration,
    p99: Duration,
}

impl Phase {
    fn rate(&self) -> f64 {
        self.requests as f64 / self.secs.max(1e-9)
    }
}

/// Makes request number `i` of a client (numbers start at the client's index), with
/// that client's own seeded random source.
type MakeRequest = dyn Fn(usize, &mut StdRng) -> reqwest::RequestBuilder + Send + Sync;

/// `args.http_concurrency` clients sending what `make` makes for `args.http_seconds`;
/// fails on the first reply that is not a 2xx.
async fn load(args: &Args, what: &'static str, make: Arc<MakeRequest>) -> anyhow::Result<Phase> {
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(args.http_seconds);
    let mut tasks = Vec::new();
    for worker in 0..args.http_concurrency.max(1) {
        let (make, seed) = (make.clone(), args.seed ^ worker as u64);
        tasks.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut lat = Vec::new();
            let mut i = worker;
            while Instant::now() < deadline {
                let request = make(i, &mut rng);
                i += 1;
                let t = Instant::now();
                let ok = match request.send().await {
                    Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                    _ => false,
                };
                if !ok {
                    bail!("{what} failed under load");
                }
                lat.push(t.elapsed());
            }
            Ok(lat)
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await??);
    }
    let secs = started.elapsed().as_secs_f64();
    lat.sort();
    Ok(Phase {
        requests: lat.len(),
        secs,
        p50: pct(&lat, 0.5),
        p99: pct(&lat, 0.99),
    })
}

/// Up to `n` cids of existing devices of `app`, picked at random ordinals.
async fn sample_cids(
    store: &dyn Store,
    app: &AppId,
    devices: u64,
    n: usize,
    seed: u64,
) -> anyhow::Result<Vec<String>> {
    let everyone = AudienceQuery {
        selector: Selector::All(true),
        exclude_blacklisted: false,
        exclude_notification_off: false,
    };
    let mut rng = StdRng::seed_from_u64(seed);
    let mut cids = Vec::with_capacity(n);
    for _ in 0..n {
        let after = u32::try_from(rng.gen_range(0..devices.max(1))).unwrap_or(u32::MAX);
        let page = store
            .audience_page(app, &everyone, after.checked_sub(1), 1)
            .await
            .map_err(err)?;
        cids.extend(page.into_iter().map(|(_, cid)| cid.as_str().to_owned()));
    }
    if cids.is_empty() {
        bail!("no devices to ask user/detail for");
    }
    Ok(cids)
}

/// A Getui token for the app in `creds`.
async fn token(http: &reqwest::Client, base: &str, creds: &Value) -> anyhow::Result<String> {
    let ts = roster_core::time::now_ms().to_string();
    let key = creds["getui"]["app_key"].as_str().unwrap_or_default();
    let sign = roster_core::app::getui_sign(
        key,
        &ts,
        creds["getui"]["master_secret"].as_str().unwrap_or_default(),
    );
    let auth: Value = http
        .post(format!("{base}/auth"))
        .json(&json!({ "sign": sign, "timestamp": ts, "appkey": key }))
        .send()
        .await?
        .json()
        .await?;
    Ok(auth["data"]["token"]
        .as_str()
        .context("auth failed")?
        .to_owned())
}

/// Serves `store` and measures, with the same clients: `user/count` over queries 1–8
/// in turn, then `GET /healthz`, the headline count and `user/detail` of random
/// existing cids, each of the last three with its throughput relative to `/healthz`.
pub(crate) async fn http_load(
    args: &Args,
    store: Arc<dyn Store>,
    creds: &Value,
    mix: &[queries::Query],
) -> anyhow::Result<()> {
    let app = AppId::parse(creds["app_id"].as_str().unwrap_or_default()).map_err(err)?;
    let cids = sample_cids(store.as_ref(), &app, args.devices, DETAIL_CIDS, args.seed).await?;
    let running = roster_server::serve_store(
        store,
        "127.0.0.1:0",
        roster_core::time::system_clock(),
        "bench".into(),
    )
    .await?;
    let root = format!("http://{}", running.addr);
    let base = format!("{root}/v2/{app}");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.http_concurrency)
        .build()?;
    let token = token(&http, &base, creds).await?;
    let post_count = {
        let (http, url, token) = (http.clone(), format!("{base}/user/count"), token.clone());
        move |body: &Value| http.post(&url).header("token", &token).json(body)
    };

    let bodies: Vec<Value> = mix.iter().filter_map(|q| q.getui.clone()).collect();
    let count = post_count.clone();
    let all = load(
        args,
        "user/count",
        Arc::new(move |i, _| count(&bodies[i % bodies.len()])),
    )
    .await?;
    println!();
    println!(
        "HTTP POST /v2/{{appId}}/user/count ({}, queries 1-8 in turn): {} requests in {:.1} s = {:.0} req/s with {} clients (p50 {} ms, p99 {} ms; client and server share the machine)",
        if args.store.is_some() { "SQL counts" } else { "index counts" },
        all.requests,
        all.secs,
        all.rate(),
        args.http_concurrency,
        ms(all.p50),
        ms(all.p99),
    );

    let healthz = {
        let (http, url) = (http.clone(), format!("{root}/healthz"));
        load(args, "/healthz", Arc::new(move |_, _| http.get(&url))).await?
    };
    let headline = {
        let body = mix
            .iter()
            .find(|q| q.name == HEADLINE)
            .and_then(|q| q.getui.clone())
            .with_context(|| format!("no query {HEADLINE} in the mix"))?;
        let count = post_count.clone();
        load(args, "user/count", Arc::new(move |_, _| count(&body))).await?
    };
    let detail = {
        let (http, token) = (http.clone(), token.clone());
        let make = move |_: usize, rng: &mut StdRng| {
            let cid = &cids[rng.gen_range(0..cids.len())];
            http.get(format!("{base}/user/detail/{cid}"))
                .header("token", &token)
        };
        load(args, "user/detail", Arc::new(make)).await?
    };
    println!();
    println!(
        "{:<48} {:>10} {:>10} {:>10} {:>12}",
        format!(
            "HTTP, {} clients, {:.1} s each",
            args.http_concurrency, args.http_seconds
        ),
        "req/s",
        "p50 ms",
        "p99 ms",
        "/healthz"
    );
    let rows = [
        ("GET /healthz", &healthz),
        ("POST user/count (android∧(BJ∨SH)∧¬t3)", &headline),
        ("GET user/detail/{cid} (random cid)", &detail),
    ];
    for (name, p) in rows {
        println!(
            "{:<48} {:>10.0} {:>10} {:>10} {:>11.2}x",
            name,
            p.rate(),
            ms(p.p50),
            ms(p.p99),
            p.rate() / healthz.rate().max(1e-9)
        );
    }
    running.stop().await
}
