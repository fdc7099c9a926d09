//! `roster-bench`: generates a seeded synthetic app straight into a store (the embedded
//! SQLite by default, PostgreSQL with `--store postgres://…`), builds the audience index
//! from it, and prints rebuild time, index memory, count latency of a fixed query mix
//! against the same queries in SQL on the same data, durable write throughput, and, over
//! HTTP under concurrent load, the throughput of Getui `POST /user/count` and of a
//! headline count and `user/detail` each next to `GET /healthz`'s, and the durable write
//! curve: native login events and Getui alias binds next to `GET /healthz` at several
//! connection counts; and smart crowds: a plan of Chinese push copies over an app of
//! its own, from `smart_crowd/create` to every sub-task's status 4, with the job's
//! memory next to the audience index's.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::{Parser, ValueEnum};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use roster_core::{AppId, DeviceUpsert, NewApp, PhoneType, TagName};
use roster_store::{AppStore, AudienceStore, ImportDevice, Registry, Store};
use roster_store_postgres::PgStore;
use roster_store_sqlite::SqliteStore;
use serde_json::{json, Value};

mod bulk;
mod cache;
mod crowds;
mod feed;
mod gen;
mod http;
mod index_only;
mod peers;
mod queries;
mod replication;

/// Audience benchmark: bitmap index vs SQL on the same stored data.
#[derive(Debug, Parser)]
struct Args {
    /// Devices in the synthetic app.
    #[arg(long, default_value_t = 10_000_000)]
    devices: u64,
    /// Distinct custom tags (zipf-distributed).
    #[arg(long, default_value_t = 3_000)]
    tags: u64,
    /// RNG seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Run on PostgreSQL (`postgres://…`; use an empty database: a new app is generated
    /// on every run). Default: the embedded store.
    #[arg(long)]
    store: Option<String>,
    /// Embedded store only: keep the generated store here and reuse it on the next run
    /// with the same shape (default: a temporary directory, removed afterwards).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Index runs per query.
    #[arg(long, default_value_t = 200)]
    iters: usize,
    /// SQL runs per query.
    #[arg(long, default_value_t = 3)]
    sql_iters: usize,
    /// Batches of 1,000 devices and single-cid writes in the write test.
    #[arg(long, default_value_t = 20)]
    write_batches: usize,
    /// Seconds of HTTP load (0 skips it).
    #[arg(long, default_value_t = 5.0)]
    http_seconds: f64,
    /// Concurrent HTTP clients, the same number in every endpoint of the HTTP phase.
    #[arg(long, default_value_t = 64)]
    http_concurrency: usize,
    /// Connection counts of the durable write curve (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1,4,16,64,256")]
    write_curve: Vec<usize>,
    /// Seconds of load per endpoint at each point of the write curve (0 skips it).
    #[arg(long, default_value_t = 2.0)]
    write_seconds: f64,
    /// Devices of the scratch app that the write curve writes to.
    #[arg(long, default_value_t = 50_000)]
    write_devices: u64,
    /// Changes written to a fresh app and then read back through the change feed
    /// (0 skips the feed phase).
    #[arg(long, default_value_t = 200_000)]
    feed_changes: usize,
    /// PostgreSQL only: seconds of steady writes on one node while another is asked for
    /// them (0 skips the replication phase).
    #[arg(long, default_value_t = 5.0)]
    replication_seconds: f64,
    /// Writes per second of the replication phase.
    #[arg(long, default_value_t = 1000.0)]
    replication_rate: f64,
    /// Devices of the smart-crowd phase's own app (0 skips the phase).
    #[arg(long, default_value_t = 1_000_000)]
    crowd_devices: u64,
    /// Chinese interest tags of the smart-crowd app (at most 50); each device carries
    /// 1 to 5 of them.
    #[arg(long, default_value_t = 50)]
    crowd_tags: usize,
    /// Copies (sub-tasks) of each smart-crowd plan (at most 10).
    #[arg(long, default_value_t = 10)]
    crowd_tasks: usize,
    /// `package_num` of the smart-crowd plans: most devices in one crowd (1,000 to
    /// 5,000,000).
    #[arg(long, default_value_t = 100_000)]
    crowd_package: u64,
    /// Devices of the bulk import/export phase's NDJSON file (0 skips the phase).
    #[arg(long, default_value_t = 1_000_000)]
    bulk_devices: u64,
    /// Build the index straight from generated devices (no store) and time the count
    /// mix against its floor: how the index alone is measured at sizes the embedded store
    /// cannot hold on this machine (100 million devices).
    #[arg(long)]
    index_only: bool,
    /// Run only these phases (comma-separated; default: all). Generation of the main app
    /// and its index rebuild run unless `crowds` is the only phase picked (it generates
    /// an app of its own).
    #[arg(long, value_delimiter = ',', value_enum)]
    only: Vec<Only>,
    /// Python with `crates/bench/peers/requirements.txt` installed: runs the peers
    /// phase (DuckDB and chDB on the same data and queries). Without it the phase is
    /// skipped.
    #[arg(long)]
    peers_python: Option<PathBuf>,
    /// The peers' data file (CSV, one row per device), reused when it holds this shape
    /// (default: a temporary file).
    #[arg(long)]
    peers_data: Option<PathBuf>,
    /// Runs per query on each peer (default: --iters).
    #[arg(long)]
    peers_iters: Option<usize>,
    /// Only write the peers' data file of this shape here (and the mix next to it, as
    /// `FILE.queries.json`), and exit: no store.
    #[arg(long)]
    write_peers_data: Option<PathBuf>,
}

/// The phases `--only` picks from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Only {
    /// Index counts of the query mix next to SQL.
    Counts,
    /// Durable writes on the store, in process.
    Writes,
    /// HTTP reads next to `GET /healthz`.
    Http,
    /// The durable write curve over HTTP.
    WriteCurve,
    /// The change feed read by one reader over HTTP.
    Feed,
    /// Replication lag between two nodes (PostgreSQL only).
    Replication,
    /// Smart crowds over HTTP, on an app of their own: create to status 4, and memory.
    Crowds,
    /// Bulk import (NDJSON through the import rule) and export, on an app of their own.
    Bulk,
    /// The query mix on DuckDB and chDB next to the index (needs --peers-python).
    Peers,
    /// Result-cache hits of the query mix next to the uncached count.
    Cache,
}

impl Args {
    fn runs(&self, phase: Only) -> bool {
        let picked = self.only.is_empty() || self.only.contains(&phase);
        picked
            && match phase {
                Only::Counts | Only::Writes | Only::Cache => true,
                Only::Http => self.http_seconds > 0.0,
                Only::WriteCurve => self.write_seconds > 0.0 && !self.write_curve.is_empty(),
                Only::Feed => self.feed_changes > 0,
                Only::Replication => self.replication_seconds > 0.0 && self.store.is_some(),
                Only::Crowds => self.crowd_devices > 0,
                Only::Bulk => self.bulk_devices > 0 && self.store.is_none(),
                Only::Peers => self.peers_python.is_some(),
            }
    }

    /// Whether a phase picked needs the main generated app: any but `crowds`.
    fn needs_main_app(&self) -> bool {
        self.only.is_empty()
            || self
                .only
                .iter()
                .any(|&p| p != Only::Crowds && p != Only::Bulk)
    }
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

fn err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// Where the synthetic app goes.
enum Backend {
    Sqlite(Arc<SqliteStore>),
    Postgres(Arc<PgStore>),
}

impl Backend {
    async fn import(&self, app: &AppId, batch: Vec<ImportDevice>) -> anyhow::Result<()> {
        match self {
            Backend::Sqlite(s) => {
                let (s, app) = (s.clone(), app.clone());
                tokio::task::spawn_blocking(move || s.import_devices(&app, &batch))
                    .await?
                    .map(drop)
                    .map_err(err)
            }
            Backend::Postgres(s) => s.import_devices(app, &batch).await.map_err(err),
        }
    }

    fn store(&self) -> Arc<dyn Store> {
        match self {
            Backend::Sqlite(s) => Arc::new(Registry::new(s.clone())),
            Backend::Postgres(s) => Arc::new(Registry::new(s.clone())),
        }
    }
}

/// Generates the app unless the embedded store in `dir` already holds one of this
/// shape; returns its credentials.
async fn prepare(args: &Args, dir: &std::path::Path, backend: &Backend) -> anyhow::Result<Value> {
    let marker = dir.join("bench-shape.json");
    let shape = json!({ "devices": args.devices, "tags": args.tags, "seed": args.seed, "app_versions": true });
    if matches!(backend, Backend::Sqlite(_)) {
        if let Ok(text) = std::fs::read_to_string(&marker) {
            let saved: Value = serde_json::from_str(&text)?;
            if saved["shape"] == shape {
                println!("reusing generated app in {}", dir.display());
                return Ok(saved["app"].clone());
            }
            bail!(
                "{} holds a different shape; use another --data-dir",
                dir.display()
            );
        }
    }
    let app = NewApp::new("bench", 0).map_err(err)?;
    backend.store().create_app(&app).await.map_err(err)?;
    let id: AppId = app.credentials.app_id.clone();
    let started = Instant::now();
    let mut generator = gen::Generator::new(gen::Shape {
        devices: args.devices,
        tags: args.tags,
        seed: args.seed,
    })?;
    let mut done = 0u64;
    loop {
        let batch = generator.batch(50_000);
        if batch.is_empty() {
            break;
        }
        done += batch.len() as u64;
        backend.import(&id, batch).await?;
        if done.is_multiple_of(1_000_000) {
            eprintln!("  generated {done} devices ({:.0?})", started.elapsed());
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "generated {} devices in {secs:.1} s ({:.0} devices/s bulk import)",
        args.devices,
        args.devices as f64 / secs
    );
    let creds = serde_json::to_value(&app.credentials)?;
    if matches!(backend, Backend::Sqlite(_)) {
        std::fs::write(
            &marker,
            serde_json::to_string(&json!({ "shape": shape, "app": creds }))?,
        )?;
    }
    Ok(creds)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.index_only {
        return index_only::run(&args);
    }
    if let Some(path) = &args.write_peers_data {
        let shape = gen::Shape {
            devices: args.devices,
            tags: args.tags,
            seed: args.seed,
        };
        return peers::write_standalone(shape, path);
    }
    if args.only.contains(&Only::Peers) && args.peers_python.is_none() {
        bail!("--only peers needs --peers-python");
    }
    let tmp = tempfile::tempdir()?;
    let dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| tmp.path().to_path_buf());
    let backend = match &args.store {
        Some(url) => Backend::Postgres(Arc::new(PgStore::open(url).await.map_err(err)?)),
        None => Backend::Sqlite(Arc::new(SqliteStore::open_in_dir(&dir).map_err(err)?)),
    };
    println!(
        "store: {}",
        if args.store.is_some() {
            "PostgreSQL"
        } else {
            "embedded SQLite"
        }
    );
    if args.write_curve.contains(&0) {
        bail!("--write-curve: connection counts start at 1");
    }
    if args.needs_main_app() {
        let creds = prepare(&args, &dir, &backend).await?;
        let pool = if args.runs(Only::WriteCurve) {
            Some(write_app(&args, &backend).await?)
        } else {
            None
        };
        match backend {
            Backend::Sqlite(s) => measure(&args, s, &creds, pool).await?,
            Backend::Postgres(s) => measure(&args, s, &creds, pool).await?,
        }
    }
    if args.runs(Only::Crowds) {
        crowds::crowds(&args).await?;
    }
    if args.runs(Only::Bulk) {
        bulk::bulk(&args, &dir).await?;
    }
    if let (true, Some(url)) = (args.runs(Only::Replication), &args.store) {
        replication::replication(&args, url).await?;
    }
    Ok(())
}

/// A scratch app of `--write-devices` generated devices for the write curve to write
/// to, so that the measured app stays as generated; its credentials and its cids,
/// shuffled.
async fn write_app(args: &Args, backend: &Backend) -> anyhow::Result<(Value, Vec<String>)> {
    let app = NewApp::new("bench write curve", roster_core::time::now_ms()).map_err(err)?;
    backend.store().create_app(&app).await.map_err(err)?;
    let id = &app.credentials.app_id;
    let started = Instant::now();
    let mut generator = gen::Generator::new(gen::Shape {
        devices: args.write_devices.max(1),
        tags: args.tags,
        seed: args.seed ^ 0x5752_4954,
    })?;
    let mut cids = Vec::new();
    loop {
        let batch = generator.batch(50_000);
        if batch.is_empty() {
            break;
        }
        cids.extend(batch.iter().map(|d| d.cid.clone()));
        backend.import(id, batch).await?;
    }
    println!(
        "write-curve scratch app: {} devices imported in {:.1} s",
        cids.len(),
        started.elapsed().as_secs_f64()
    );
    // Login events arrive on random devices, not in the order they were stored.
    cids.shuffle(&mut StdRng::seed_from_u64(args.seed));
    Ok((serde_json::to_value(&app.credentials)?, cids))
}

async fn measure<S: roster_store::Backend>(
    args: &Args,
    backend: Arc<S>,
    creds: &Value,
    pool: Option<(Value, Vec<String>)>,
) -> anyhow::Result<()> {
    let app = AppId::parse(creds["app_id"].as_str().unwrap_or_default()).map_err(err)?;
    let store = Arc::new(Registry::new(backend.clone()));
    let rss0 = rss_bytes();
    let (indexed, stats) = Registry::indexed(backend).await.map_err(err)?;
    let rss1 = rss_bytes();
    let n = stats.devices.max(1) as f64;
    println!();
    println!(
        "devices              {}{}",
        stats.devices,
        pool.as_ref().map_or(String::new(), |(_, cids)| format!(
            " ({} of them in the write curve's scratch app)",
            cids.len()
        ))
    );
    println!("index rebuild        {:.2} s", stats.elapsed.as_secs_f64());
    println!(
        "index heap           {:.1} MB = {:.1} bytes/device (bitmap payloads + keys)",
        stats.heap_bytes as f64 / 1e6,
        stats.heap_bytes as f64 / n
    );
    println!(
        "process RSS growth   {:.1} MB = {:.1} bytes/device (rebuild, allocator included)",
        rss1.saturating_sub(rss0) as f64 / 1e6,
        rss1.saturating_sub(rss0) as f64 / n
    );

    let mix = queries::mix();
    let measured = if args.runs(Only::Counts) {
        Some(counts(args, &app, &store, &indexed, &mix).await?)
    } else {
        None
    };
    if args.runs(Only::Peers) {
        match &measured {
            // The peers are set beside the counts this run just timed.
            Some(m) => peers::compare(args, &mix, m).await?,
            None => peers::peers(args, &app, &indexed, &mix).await?,
        }
    }
    if args.runs(Only::Cache) {
        cache::cache(args, &app, &indexed, &mix).await?;
    }

    let indexed = Arc::new(indexed);
    if args.runs(Only::Writes) {
        writes(args, store.clone(), indexed.clone()).await?;
    }
    let http = args.runs(Only::Http);
    let feed = args.runs(Only::Feed);
    if http || pool.is_some() || feed {
        // Serve what `roster serve` serves: the index over either store (on PostgreSQL it
        // follows other nodes' writes through the change log).
        let serving: Arc<dyn Store> = indexed;
        let running = http::serve(serving.clone()).await?;
        let root = format!("http://{}", running.addr);
        if http {
            http::http_load(args, &root, serving.as_ref(), creds, &mix).await?;
        }
        if let Some((creds, cids)) = pool {
            http::write_curve(args, &root, &creds, cids).await?;
        }
        if feed {
            feed::feed(args, &root, &serving).await?;
        }
        running.stop().await?;
    }
    Ok(())
}

/// One query's measured count on the index, next to its floor.
#[derive(Debug, Clone)]
pub struct Measured {
    /// The query's name in the mix.
    pub name: &'static str,
    /// Its count.
    pub matches: u64,
    /// Count latency, p50 and p99.
    pub p50: Duration,
    /// See `p50`.
    pub p99: Duration,
    /// One read pass over the bytes of the sets the query reads, p50 and p99.
    pub floor50: Duration,
    /// See `floor50`.
    pub floor99: Duration,
}

impl Measured {
    /// The figures of `samples` (counts) and `floor` (read passes) of one query.
    pub fn of(
        name: &'static str,
        matches: u64,
        mut samples: Vec<Duration>,
        mut floor: Vec<Duration>,
    ) -> Self {
        samples.sort();
        floor.sort();
        Measured {
            name,
            matches,
            p50: pct(&samples, 0.5),
            p99: pct(&samples, 0.99),
            floor50: pct(&floor, 0.5),
            floor99: pct(&floor, 0.99),
        }
    }

    /// The goal of issue 16: within 1.5× the floor at p50 and 2× at p99, or under 1 ms,
    /// whichever is larger.
    pub fn meets_goal(&self) -> bool {
        let ms1 = Duration::from_millis(1);
        self.p50 <= ms1.max(self.floor50.mul_f64(1.5)) && self.p99 <= ms1.max(self.floor99 * 2)
    }
}

fn print_header() {
    println!();
    println!(
        "{:<28} {:>10} {:>9} {:>9} {:>9} {:>9} {:>8} {:>7} {:>7} {:>11} {:>9} {:>5}",
        "query",
        "matches",
        "p50 ms",
        "p99 ms",
        "floor p50",
        "floor p99",
        "MB read",
        "p50/fl",
        "p99/fl",
        "SQL med ms",
        "SQL/p50",
        "goal"
    );
}

fn print_row(m: &Measured, bytes: usize, sql50: Option<Duration>) {
    println!(
        "{:<28} {:>10} {:>9} {:>9} {:>9} {:>9} {:>8.1} {:>7.2} {:>7.2} {:>11} {:>9} {:>5}",
        m.name,
        m.matches,
        ms(m.p50),
        ms(m.p99),
        ms(m.floor50),
        ms(m.floor99),
        bytes as f64 / 1e6,
        ratio(m.p50, m.floor50),
        ratio(m.p99, m.floor99),
        sql50.map_or("-".to_owned(), ms),
        sql50.map_or("-".to_owned(), |s| format!("{:.0}x", ratio(s, m.p50))),
        if m.meets_goal() { "met" } else { "MISS" }
    );
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(1e-9)
}

/// One query of the mix timed `iters` times through the index, each count followed by
/// a read pass over the sets it reads (its floor); every count must agree with the
/// first. The figures, the bytes the floor read, and the count samples.
async fn time_query<S: roster_store::Backend>(
    indexed: &Registry<S>,
    app: &AppId,
    q: &queries::Query,
    iters: usize,
) -> anyhow::Result<(Measured, usize, Vec<Duration>)> {
    let first = indexed.count_audience(app, &q.query).await.map_err(err)?;
    let (mut samples, mut floor) = (Vec::with_capacity(iters), Vec::with_capacity(iters));
    let mut bytes = 0;
    for _ in 0..iters.max(1) {
        let t = Instant::now();
        let got = indexed.count_audience(app, &q.query).await.map_err(err)?;
        samples.push(t.elapsed());
        if got != first {
            bail!("{}: the index counted {first}, then {got}", q.name);
        }
        let t = Instant::now();
        let read = indexed.count_floor(app, &q.query).await.map_err(err)?;
        floor.push(t.elapsed());
        if let Some((b, sum)) = read {
            bytes = b;
            std::hint::black_box(sum);
        }
    }
    let m = Measured::of(q.name, first, samples.clone(), floor);
    Ok((m, bytes, samples))
}

/// Count latency of the query mix on the index, each checked against and compared with
/// the same count in SQL, and timed side by side with its floor: one read pass over
/// every byte of the sets it reads (`AppIndex::floor`), alternating with the count.
async fn counts<S: roster_store::Backend>(
    args: &Args,
    app: &AppId,
    store: &Registry<S>,
    indexed: &Registry<S>,
    mix: &[queries::Query],
) -> anyhow::Result<Vec<Measured>> {
    print_header();
    let mut all_samples = Vec::new();
    let mut ratios = Vec::new();
    let mut out = Vec::new();
    for q in mix {
        let want = if args.sql_iters > 0 {
            Some(store.count_audience(app, &q.query).await.map_err(err)?)
        } else {
            None
        };
        let (m, bytes, samples) = time_query(indexed, app, q, args.iters).await?;
        if let Some(want) = want.filter(|w| *w != m.matches) {
            bail!(
                "{}: index counted {}, SQL counted {want}",
                q.name,
                m.matches
            );
        }
        let mut sql = Vec::with_capacity(args.sql_iters);
        for _ in 0..args.sql_iters {
            let t = Instant::now();
            store.count_audience(app, &q.query).await.map_err(err)?;
            sql.push(t.elapsed());
        }
        sql.sort();
        all_samples.extend(samples);
        let sql50 = (!sql.is_empty()).then(|| pct(&sql, 0.5));
        if let Some(sql50) = sql50 {
            ratios.push(ratio(sql50, m.p50));
        }
        print_row(&m, bytes, sql50);
        out.push(m);
    }
    all_samples.sort();
    ratios.sort_by(f64::total_cmp);
    println!(
        "{:<28} {:>10} {:>9} {:>9}   {} of {} queries within the floor goal{}",
        "whole mix",
        "",
        ms(pct(&all_samples, 0.5)),
        ms(pct(&all_samples, 0.99)),
        out.iter().filter(|m| m.meets_goal()).count(),
        out.len(),
        ratios.first().map_or(String::new(), |min| format!(
            "; SQL/p50 median {:.0}x, min {min:.0}x",
            ratios[ratios.len() / 2]
        ))
    );
    Ok(out)
}

/// Durable write throughput: 1,000-device upserts and single-cid tag writes, on the
/// store alone and with the index following the committed mutations. They go to a
/// scratch app so that the measured app stays as generated.
async fn writes<S: roster_store::Backend>(
    args: &Args,
    raw: Arc<Registry<S>>,
    indexed: Arc<Registry<S>>,
) -> anyhow::Result<()> {
    let batches = args.write_batches.max(1);
    let scratch = NewApp::new("bench writes", roster_core::time::now_ms()).map_err(err)?;
    raw.create_app(&scratch).await.map_err(err)?;
    let app = &scratch.credentials.app_id;
    println!();
    println!(
        "{:<40} {:>12} {:>14}",
        "durable writes", "p50 ms", "items/s"
    );
    let stores: [(&str, Arc<dyn Store>); 2] = [("store", raw), ("store + index", indexed)];
    for (label, s) in stores {
        let mut lat = Vec::new();
        let started = Instant::now();
        let mut cids = Vec::new();
        for _ in 0..batches {
            let batch = vec![
                DeviceUpsert {
                    phone_type: Some(PhoneType::Android),
                    ..Default::default()
                };
                1000
            ];
            let t = Instant::now();
            cids.extend(
                s.upsert_devices(app, &batch, roster_core::time::now_ms())
                    .await
                    .map_err(err)?,
            );
            lat.push(t.elapsed());
        }
        let secs = started.elapsed().as_secs_f64();
        lat.sort();
        println!(
            "{:<40} {:>12} {:>14.0}",
            format!("upsert 1,000 devices ({label})"),
            ms(pct(&lat, 0.5)),
            (batches * 1000) as f64 / secs
        );
        let tag = TagName::parse("bench_write").map_err(err)?;
        let mut lat = Vec::new();
        let started = Instant::now();
        for cid in cids.iter().take(batches * 10) {
            let t = Instant::now();
            s.add_tag(app, &tag, std::slice::from_ref(cid))
                .await
                .map_err(err)?;
            lat.push(t.elapsed());
        }
        let secs = started.elapsed().as_secs_f64();
        lat.sort();
        println!(
            "{:<40} {:>12} {:>14.0}",
            format!("tag one cid ({label})"),
            ms(pct(&lat, 0.5)),
            lat.len() as f64 / secs
        );
    }
    Ok(())
}
