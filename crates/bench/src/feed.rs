//! The change feed phase: a fresh app gets `--feed-changes` changes (new devices in
//! batches of 1,000, two lines each: the device and its first login day), then one
//! reader reads the whole feed over HTTP in pages of 10,000 lines, resuming after the
//! last seq of each page.

use std::sync::Arc;
use std::time::Instant;

use anyhow::bail;
use roster_core::{DeviceUpsert, NewApp, PhoneType};
use roster_store::Store;

use crate::{err, Args};

/// Lines per page the reader asks for (the feed's maximum).
const PAGE: usize = 10_000;

/// Writes the changes through `store` (the one served at `root`), then reads them back.
pub(crate) async fn feed(args: &Args, root: &str, store: &Arc<dyn Store>) -> anyhow::Result<()> {
    let app = NewApp::new("bench feed", roster_core::time::now_ms()).map_err(err)?;
    store.create_app(&app).await.map_err(err)?;
    let id = &app.credentials.app_id;
    let batches = args.feed_changes.div_ceil(2_000).max(1);
    let batch = vec![
        DeviceUpsert {
            phone_type: Some(PhoneType::Android),
            ..Default::default()
        };
        1000
    ];
    let started = Instant::now();
    for _ in 0..batches {
        store
            .upsert_devices(id, &batch, roster_core::time::now_ms())
            .await
            .map_err(err)?;
    }
    let wrote = started.elapsed().as_secs_f64();
    let http = reqwest::Client::new();
    let key = app.credentials.getui.app_key.clone();
    let secret = app.credentials.getui.master_secret.clone();
    let (mut after, mut lines, mut pages, mut bytes) = (0u64, 0usize, 0usize, 0usize);
    let started = Instant::now();
    loop {
        let r = http
            .get(format!(
                "{root}/api/v1/apps/{id}/changes?after={after}&limit={PAGE}"
            ))
            .basic_auth(&key, Some(&secret))
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("feed page answered {}", r.status());
        }
        let text = r.text().await?;
        let Some(last) = text.lines().last() else {
            break;
        };
        let last: serde_json::Value = serde_json::from_str(last)?;
        after = last["seq"].as_u64().unwrap_or(after);
        lines += text.lines().count();
        bytes += text.len();
        pages += 1;
    }
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    let expected = 4 + batches * 2_000;
    if lines != expected {
        bail!("the feed gave {lines} lines, {expected} were written");
    }
    println!();
    println!("change feed over HTTP, one reader, pages of {PAGE}");
    println!(
        "  wrote {batches} batches of 1,000 new devices ({expected} changes) in {wrote:.2} s = {:.0} devices/s",
        (batches * 1000) as f64 / wrote.max(1e-9)
    );
    println!(
        "  read  {lines} changes in {pages} pages, {:.1} MB, in {secs:.2} s = {:.0} changes/s ({:.2}x of 100,000/s)",
        bytes as f64 / 1e6,
        lines as f64 / secs,
        lines as f64 / secs / 100_000.0
    );
    Ok(())
}
