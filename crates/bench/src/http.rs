//! The HTTP phase: roster served in-process on a free port, loaded by reqwest clients
//! in this same process. Every phase uses the same client, the same number of
//! concurrent clients and the same duration, so that the endpoints' figures compare
//! with each other and with `GET /healthz`, the router and the connection alone. The
//! endpoints compared with `/healthz` take turns in one-second slices, so that a change
//! in the machine's background load during the run weighs on all of them alike.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use roster_core::{AppId, AudienceQuery, Selector};
use roster_store::Store;
use serde_json::{json, Value};

use crate::{err, ms, pct, queries, Args};

/// The query of the headline count: android ∧ (Beijing ∨ Shanghai) ∧ ¬t3.
const HEADLINE: &str = "android∧(BJ∨SH)∧¬t3";

/// The admin token of the in-process server.
const ADMIN_TOKEN: &str = "bench";

/// Existing cids that `user/detail` asks for, each request one at random.
const DETAIL_CIDS: usize = 1_000;

/// What one phase measured, over one or more slices of load.
#[derive(Default)]
struct Phase {
    lat: Vec<Duration>,
    secs: f64,
}

impl Phase {
    fn add(&mut self, slice: Phase) {
        self.lat.extend(slice.lat);
        self.secs += slice.secs;
    }

    fn rate(&self) -> f64 {
        self.lat.len() as f64 / self.secs.max(1e-9)
    }

    /// p50 and p99 of the latencies.
    fn quantiles(&mut self) -> (String, String) {
        self.lat.sort();
        (ms(pct(&self.lat, 0.5)), ms(pct(&self.lat, 0.99)))
    }
}

/// Makes request number `i` of a client (numbers start at the client's index), with
/// that client's own seeded random source.
type MakeRequest = dyn Fn(usize, &mut StdRng) -> reqwest::RequestBuilder + Send + Sync;

/// What makes a reply a success, beyond a 2xx status.
#[derive(Clone, Copy)]
enum Reply {
    /// Any 2xx.
    Status,
    /// A 2xx whose JSON body has Getui's `"code": 0` (Getui answers some refusals with
    /// 200 and a non-zero code).
    GetuiOk,
}

impl Reply {
    fn accepts(self, body: &[u8]) -> bool {
        match self {
            Reply::Status => true,
            Reply::GetuiOk => serde_json::from_slice::<Value>(body)
                .is_ok_and(|v| v.get("code").and_then(Value::as_i64) == Some(0)),
        }
    }
}

/// `clients` concurrent clients sending what `make` makes for `seconds`; fails on the
/// first reply that is not a 2xx (or that `reply` refuses). `seed` seeds the clients'
/// random sources.
async fn load(
    clients: usize,
    seconds: f64,
    seed: u64,
    what: &'static str,
    make: Arc<MakeRequest>,
    reply: Reply,
) -> anyhow::Result<Phase> {
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds);
    let mut tasks = Vec::new();
    for worker in 0..clients.max(1) {
        let (make, seed) = (make.clone(), seed ^ worker as u64);
        tasks.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut lat = Vec::new();
            let mut i = worker;
            while Instant::now() < deadline {
                let request = make(i, &mut rng);
                i += 1;
                let t = Instant::now();
                let failure = match request.send().await {
                    Ok(r) => {
                        let status = r.status();
                        match r.bytes().await {
                            Ok(body) if status.is_success() && reply.accepts(&body) => None,
                            Ok(body) => Some(format!(
                                "{status} {}",
                                String::from_utf8_lossy(&body[..body.len().min(200)])
                            )),
                            Err(e) => Some(format!("{status}, body: {e}")),
                        }
                    }
                    Err(e) => Some(e.to_string()),
                };
                if let Some(failure) = failure {
                    bail!("{what} failed under load: {failure}");
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
    Ok(Phase {
        lat,
        secs: started.elapsed().as_secs_f64(),
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
pub(crate) async fn token(
    http: &reqwest::Client,
    base: &str,
    creds: &Value,
) -> anyhow::Result<String> {
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

/// Serves `store` in-process on a free port of 127.0.0.1.
pub(crate) async fn serve(store: Arc<dyn Store>) -> anyhow::Result<roster_server::Running> {
    roster_server::serve_store(
        store,
        "127.0.0.1:0",
        roster_core::time::system_clock(),
        ADMIN_TOKEN.into(),
    )
    .await
}

/// Measures, against the server at `root` (serving `store`) and with the same clients:
/// `user/count` over queries 1–8 in turn, then `GET /healthz`, the headline count and
/// `user/detail` of random existing cids taking turns, each of the three with its
/// throughput relative to `/healthz`'s.
pub(crate) async fn http_load(
    args: &Args,
    root: &str,
    store: &dyn Store,
    creds: &Value,
    mix: &[queries::Query],
) -> anyhow::Result<()> {
    let app = AppId::parse(creds["app_id"].as_str().unwrap_or_default()).map_err(err)?;
    let cids = sample_cids(store, &app, args.devices, DETAIL_CIDS, args.seed).await?;
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
    let make: Arc<MakeRequest> = Arc::new(move |i, _| count(&bodies[i % bodies.len()]));
    let mut all = load(
        args.http_concurrency,
        args.http_seconds,
        args.seed,
        "user/count",
        make,
        Reply::Status,
    )
    .await?;
    let (p50, p99) = all.quantiles();
    println!();
    println!(
        "HTTP POST /v2/{{appId}}/user/count ({}, queries 1-8 in turn): {} requests in {:.1} s = {:.0} req/s with {} clients (p50 {} ms, p99 {} ms; client and server share the machine)",
        if args.store.is_some() {
            "index counts, PostgreSQL store"
        } else {
            "index counts, embedded store"
        },
        all.lat.len(),
        all.secs,
        all.rate(),
        args.http_concurrency,
        p50,
        p99,
    );

    let healthz: Arc<MakeRequest> = {
        let (http, url) = (http.clone(), format!("{root}/healthz"));
        Arc::new(move |_, _| http.get(&url))
    };
    let headline: Arc<MakeRequest> = {
        let body = mix
            .iter()
            .find(|q| q.name == HEADLINE)
            .and_then(|q| q.getui.clone())
            .with_context(|| format!("no query {HEADLINE} in the mix"))?;
        Arc::new(move |_, _| post_count(&body))
    };
    let detail: Arc<MakeRequest> = {
        let (http, token) = (http.clone(), token.clone());
        Arc::new(move |_, rng| {
            let cid = &cids[rng.gen_range(0..cids.len())];
            http.get(format!("{base}/user/detail/{cid}"))
                .header("token", &token)
        })
    };
    let mut rows = [
        ("GET /healthz", "/healthz", healthz, Phase::default()),
        (
            "POST user/count (android∧(BJ∨SH)∧¬t3)",
            "user/count",
            headline,
            Phase::default(),
        ),
        (
            "GET user/detail/{cid} (random cid)",
            "user/detail",
            detail,
            Phase::default(),
        ),
    ];
    // Whole seconds where the run allows, so that the three take turns often.
    let slices = args.http_seconds.round().max(1.0) as u64;
    for slice in 0..slices {
        for (_, what, make, phase) in &mut rows {
            let seconds = args.http_seconds / slices as f64;
            let seed = args.seed ^ (slice << 32);
            let clients = args.http_concurrency;
            phase.add(load(clients, seconds, seed, what, make.clone(), Reply::Status).await?);
        }
    }

    println!();
    println!(
        "{:<48} {:>10} {:>10} {:>10} {:>12}",
        format!(
            "HTTP, {} clients, {:.1} s each, in turns",
            args.http_concurrency, args.http_seconds
        ),
        "req/s",
        "p50 ms",
        "p99 ms",
        "/healthz"
    );
    let base_rate = rows[0].3.rate().max(1e-9);
    for (name, _, _, phase) in &mut rows {
        let (p50, p99) = phase.quantiles();
        println!(
            "{:<48} {:>10.0} {:>10} {:>10} {:>11.2}x",
            name,
            phase.rate(),
            p50,
            p99,
            phase.rate() / base_rate
        );
    }
    Ok(())
}

/// Measures the durable write curve against the server at `root`: at each connection
/// count of `args.write_curve`, `GET /healthz`, native login events
/// (`POST /api/v1/apps/{app}/devices/{cid}/events`, `{"type":"login"}`) and Getui alias
/// binds (`POST /v2/{app}/user/alias`, one pair) take turns in slices, with one fresh
/// client per point holding that many connections. Alias binds run twice: with the
/// app's `getui_call` ceiling off (the vendor's default: the limiter only looks the
/// app's settings up) and with it at 10¹² a minute (every call also counted in the
/// node's sliding log), switched through the admin API before each slice, so that the
/// limiter's cost per call is their ratio. Every write goes to the next cid of
/// `cids` (existing devices of the app in `creds`, shuffled), so that no cid is
/// written twice until the whole list has been, and every alias is new.
pub(crate) async fn write_curve(
    args: &Args,
    root: &str,
    creds: &Value,
    cids: Vec<String>,
) -> anyhow::Result<()> {
    if cids.is_empty() {
        bail!("no devices to write to");
    }
    let app = AppId::parse(creds["app_id"].as_str().unwrap_or_default()).map_err(err)?;
    let getui_base = format!("{root}/v2/{app}");
    let setup = reqwest::Client::new();
    let token = token(&setup, &getui_base, creds).await?;
    // The native API's Basic `app_key:master_secret`, encoded once.
    let basic = setup
        .get(root)
        .basic_auth(
            creds["getui"]["app_key"].as_str().unwrap_or_default(),
            Some(creds["getui"]["master_secret"].as_str().unwrap_or_default()),
        )
        .build()?
        .headers()
        .get(AUTHORIZATION)
        .cloned()
        .context("no Basic authorization header")?;
    let limits = format!("{root}/admin/v1/apps/{app}/limits/getui_call");
    let ceiling = |on: bool| {
        let req = if on {
            setup
                .put(&limits)
                .json(&json!({ "per_minute": roster_core::quota::MAX_LIMIT }))
        } else {
            setup.delete(&limits)
        };
        req.bearer_auth(ADMIN_TOKEN).send()
    };
    let cids = Arc::new(cids);
    // The number of writes so far, over both endpoints: picks the cid and the alias.
    let next = Arc::new(AtomicUsize::new(0));

    println!();
    println!(
        "durable write curve over HTTP: {:.1} s per endpoint and point, in turns; req/s, p50 ms, p99 ms, and throughput / /healthz's",
        args.write_seconds
    );
    println!(
        "{:>5} | {:>8} {:>8} {:>8} | {:>8} {:>8} {:>8} {:>6} | {:>8} {:>8} {:>8} {:>6} | {:>8} {:>8} {:>8} {:>6}",
        "conns",
        "healthz",
        "p50",
        "p99",
        "login",
        "p50",
        "p99",
        "/hz",
        "alias",
        "p50",
        "p99",
        "/hz",
        "limited",
        "p50",
        "p99",
        "/alias"
    );
    let mut most_in_a_point = 0usize;
    for (point, &clients) in args.write_curve.iter().enumerate() {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(clients)
            .build()?;
        let healthz: Arc<MakeRequest> = {
            let (http, url) = (http.clone(), format!("{root}/healthz"));
            Arc::new(move |_, _| http.get(&url))
        };
        let login: Arc<MakeRequest> = {
            let (http, cids, next, basic) =
                (http.clone(), cids.clone(), next.clone(), basic.clone());
            let base = format!("{root}/api/v1/apps/{app}/devices");
            Arc::new(move |_, _| {
                let k = next.fetch_add(1, Ordering::Relaxed);
                http.post(format!("{base}/{}/events", cids[k % cids.len()]))
                    .header(AUTHORIZATION, basic.clone())
                    .header(CONTENT_TYPE, "application/json")
                    .body(r#"{"type":"login"}"#)
            })
        };
        let alias: Arc<MakeRequest> = {
            let (http, cids, next, token) =
                (http.clone(), cids.clone(), next.clone(), token.clone());
            let url = format!("{getui_base}/user/alias");
            Arc::new(move |_, _| {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let body = json!({ "data_list": [{ "cid": cids[k % cids.len()], "alias": format!("bw{k}") }] });
                http.post(&url).header("token", &token).json(&body)
            })
        };
        // (what, request, success, the getui_call ceiling to set first, figures)
        let mut rows = [
            ("/healthz", healthz, Reply::Status, None, Phase::default()),
            (
                "native login event",
                login,
                Reply::Status,
                None,
                Phase::default(),
            ),
            (
                "Getui alias bind",
                alias.clone(),
                Reply::GetuiOk,
                Some(false),
                Phase::default(),
            ),
            (
                "Getui alias bind, limited",
                alias,
                Reply::GetuiOk,
                Some(true),
                Phase::default(),
            ),
        ];
        let before = next.load(Ordering::Relaxed);
        let slices = args.write_seconds.round().max(1.0) as u64;
        for slice in 0..slices {
            for (what, make, reply, limited, phase) in &mut rows {
                if let Some(on) = *limited {
                    let r = ceiling(on).await?;
                    if !r.status().is_success() {
                        bail!("cannot switch the getui_call ceiling: {}", r.status());
                    }
                }
                let seconds = args.write_seconds / slices as f64;
                let seed = args.seed ^ (slice << 32) ^ ((point as u64) << 48);
                phase.add(load(clients, seconds, seed, what, make.clone(), *reply).await?);
            }
        }
        most_in_a_point = most_in_a_point.max(next.load(Ordering::Relaxed) - before);
        let base_rate = rows[0].4.rate().max(1e-9);
        let alias_rate = rows[2].4.rate().max(1e-9);
        let mut cells = Vec::new();
        for (i, (_, _, _, _, phase)) in rows.iter_mut().enumerate() {
            let (p50, p99) = phase.quantiles();
            cells.push(format!("{:>8.0} {p50:>8} {p99:>8}", phase.rate()));
            match i {
                0 => {}
                3 => cells.push(format!("{:>5.2}x", phase.rate() / alias_rate)),
                _ => cells.push(format!("{:>5.2}x", phase.rate() / base_rate)),
            }
        }
        println!(
            "{clients:>5} | {} | {} {} | {} {} | {} {}",
            cells[0], cells[1], cells[2], cells[3], cells[4], cells[5], cells[6]
        );
    }
    let writes = next.load(Ordering::Relaxed);
    println!(
        "{writes} writes on {} existing cids of a scratch app; at most {most_in_a_point} in one point{}",
        cids.len(),
        if most_in_a_point > cids.len() {
            " (more than the cids: some cids written twice in a point; raise --write-devices)"
        } else {
            " (no cid written twice in a point)"
        }
    );
    Ok(())
}
