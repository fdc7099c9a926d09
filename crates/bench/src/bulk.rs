//! The bulk phase: a generated NDJSON file of `--bulk-devices` devices imported through
//! the import rule and the change log (`roster import devices`'s path), next to the
//! same devices through the unchecked generator path (`ImportDevice`); then the app
//! exported back to NDJSON; the process's RSS sampled during the import, to show it
//! does not grow with the file.

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use roster_core::bulk::LoginDay;
use roster_core::{AppId, NewApp};
use roster_store::bulk::{self, ExportFormat, ImportOptions};
use roster_store::{AppStore, BulkStore, Registry};
use roster_store_sqlite::SqliteStore;
use serde_json::json;

use crate::{err, gen, rss_bytes, Args};

async fn new_app(store: &Registry<SqliteStore>, name: &str) -> anyhow::Result<AppId> {
    let app = NewApp::new(name, 0).map_err(err)?;
    store.create_app(&app).await.map_err(err)?;
    Ok(app.credentials.app_id)
}

/// Runs the phase on the embedded store in `dir`.
pub async fn bulk(args: &Args, dir: &std::path::Path) -> anyhow::Result<()> {
    let n = args.bulk_devices;
    let sqlite = Arc::new(SqliteStore::open_in_dir(dir.join("bulk")).map_err(err)?);
    let store = Registry::new(sqlite.clone());
    let file = dir.join("bulk-devices.ndjson");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&file)?);
    let shape = gen::Shape {
        devices: n,
        tags: args.tags,
        seed: args.seed ^ 0x4255_4c4b,
    };
    let mut generator = gen::Generator::new(shape)?;
    let fast_app = new_app(&store, "bench bulk fast path").await?;
    let mut fast_secs = 0.0;
    loop {
        let batch = generator.batch(50_000);
        if batch.is_empty() {
            break;
        }
        for d in &batch {
            let day = roster_core::time::cst_day(d.create_time);
            let line = json!({
                "cid": d.cid, "phone_type": d.phone_type, "brand": d.brand,
                "region": d.region, "tags": d.tags, "alias": d.alias,
                "notification_switch": d.notification_switch, "blacklisted": d.blacklisted,
                "create_time": d.create_time, "last_login_time": d.create_time,
                "login_days": [LoginDay(day)],
            });
            serde_json::to_writer(&mut out, &line)?;
            out.write_all(b"\n")?;
        }
        let (s, app) = (sqlite.clone(), fast_app.clone());
        let started = Instant::now();
        tokio::task::spawn_blocking(move || s.import_devices(&app, &batch))
            .await?
            .map_err(err)?;
        fast_secs += started.elapsed().as_secs_f64();
    }
    out.flush()?;
    drop(out);
    let size = std::fs::metadata(&file)?.len();
    println!(
        "bulk: {n} devices, NDJSON file {:.1} MiB",
        size as f64 / (1 << 20) as f64
    );
    println!(
        "bulk: generator fast path (ImportDevice, unchecked, no change log): {:.0} devices/s",
        n as f64 / fast_secs
    );

    let app = new_app(&store, "bench bulk import").await?;
    let rss_before = rss_bytes();
    let mut rss_peak = rss_before;
    let reader = tokio::io::BufReader::with_capacity(1 << 20, tokio::fs::File::open(&file).await?);
    let started = Instant::now();
    let summary = bulk::import_devices(
        &store,
        &app,
        reader,
        ImportOptions::default(),
        &roster_core::time::now_ms,
        &mut |_| rss_peak = rss_peak.max(rss_bytes()),
    )
    .await
    .map_err(err)?;
    let secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        summary.inserted == n && summary.failed == 0,
        "import: {summary:?}"
    );
    println!(
        "bulk: import (NDJSON → import rule → change log), {} lines/transaction: {:.0} devices/s ({secs:.2} s); RSS {:.0} MiB before, peak {:.0} MiB during (+{:.0} MiB for a {:.0} MiB file)",
        bulk::BATCH,
        n as f64 / secs,
        rss_before as f64 / (1 << 20) as f64,
        rss_peak as f64 / (1 << 20) as f64,
        rss_peak.saturating_sub(rss_before) as f64 / (1 << 20) as f64,
        size as f64 / (1 << 20) as f64,
    );

    let reader = tokio::io::BufReader::with_capacity(1 << 20, tokio::fs::File::open(&file).await?);
    let started = Instant::now();
    let again = bulk::import_devices(
        &store,
        &app,
        reader,
        ImportOptions::default(),
        &roster_core::time::now_ms,
        &mut |_| {},
    )
    .await
    .map_err(err)?;
    anyhow::ensure!(again.unchanged == n, "re-import: {again:?}");
    println!(
        "bulk: idempotent re-import (all unchanged): {:.0} devices/s",
        n as f64 / started.elapsed().as_secs_f64()
    );

    let now = roster_core::time::now_ms();
    let started = Instant::now();
    let (mut after, mut count, mut bytes) = (None, 0u64, 0u64);
    let mut chunk = Vec::with_capacity(8 << 20);
    loop {
        let (page, last) = store
            .export_devices(&app, None, after, bulk::PAGE, now)
            .await
            .map_err(err)?;
        chunk.clear();
        ExportFormat::Ndjson.write(&page, &mut chunk);
        count += page.len() as u64;
        bytes += chunk.len() as u64;
        if page.len() < bulk::PAGE {
            break;
        }
        after = last;
    }
    let secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(count == n, "exported {count} of {n}");
    println!(
        "bulk: export (store → NDJSON, {} devices/page): {:.0} devices/s ({:.1} MiB)",
        bulk::PAGE,
        n as f64 / secs,
        bytes as f64 / (1 << 20) as f64
    );
    Ok(())
}
