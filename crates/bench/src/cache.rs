//! The `cache` phase: for each query of the mix, the count answered from the result
//! cache (a hit: the app unchanged since the count was kept) next to the same count
//! evaluated on the index (`Registry::count_uncached`, which neither reads nor fills
//! the cache). The registry's cache is sized for the phase only and turned off after
//! it, so every other phase measures evaluation.

use std::time::{Duration, Instant};

use anyhow::bail;
use roster_core::AppId;
use roster_store::{AudienceStore, Registry, DEFAULT_COUNT_CACHE_BYTES};

use crate::{err, ms, pct, queries, Args};

/// What a hit may take at most (issue 16).
const GOAL: Duration = Duration::from_micros(100);

/// Microseconds, one decimal (a hit takes a few).
fn us(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}

/// Runs the phase on `indexed` (whose cache is off, as built).
pub(crate) async fn cache<S: roster_store::Backend>(
    args: &Args,
    app: &AppId,
    indexed: &Registry<S>,
    mix: &[queries::Query],
) -> anyhow::Result<()> {
    println!();
    println!(
        "result cache ({} KiB): a count asked again, the app unchanged",
        DEFAULT_COUNT_CACHE_BYTES / 1024
    );
    println!(
        "{:<32} {:>10} {:>16} {:>11} {:>11} {:>9}",
        "query", "matches", "uncached p50 µs", "hit p50 µs", "hit p99 µs", "p50/hit"
    );
    let iters = args.iters.max(1);
    let mut evaluated = Vec::with_capacity(mix.len());
    for q in mix {
        let mut samples = Vec::with_capacity(iters);
        let mut want = 0;
        for _ in 0..iters {
            let t = Instant::now();
            want = indexed.count_uncached(app, &q.query).await.map_err(err)?;
            samples.push(t.elapsed());
        }
        samples.sort();
        evaluated.push((want, pct(&samples, 0.5)));
    }
    indexed.set_count_cache_bytes(DEFAULT_COUNT_CACHE_BYTES);
    let mut all_hits = Vec::new();
    let mut worst = Duration::ZERO;
    for (q, (want, uncached)) in mix.iter().zip(evaluated) {
        // The first count evaluates and keeps; the rest are hits.
        let kept = indexed.count_audience(app, &q.query).await.map_err(err)?;
        let before = indexed.count_cache_stats().hits;
        let mut hits = Vec::with_capacity(iters);
        for _ in 0..iters {
            let t = Instant::now();
            let got = indexed.count_audience(app, &q.query).await.map_err(err)?;
            hits.push(t.elapsed());
            if got != want || kept != want {
                bail!("{}: the cache answered {got}, evaluation {want}", q.name);
            }
        }
        if indexed.count_cache_stats().hits - before != iters as u64 {
            bail!("{}: a repeated count was not answered by the cache", q.name);
        }
        hits.sort();
        let (p50, p99) = (pct(&hits, 0.5), pct(&hits, 0.99));
        worst = worst.max(p99);
        println!(
            "{:<32} {:>10} {:>16} {:>11} {:>11} {:>8.0}x",
            q.name,
            want,
            us(uncached),
            us(p50),
            us(p99),
            uncached.as_secs_f64() / p50.as_secs_f64().max(1e-9)
        );
        all_hits.extend(hits);
    }
    all_hits.sort();
    let stats = indexed.count_cache_stats();
    println!(
        "{:<32} {:>10} {:>16} {:>11} {:>11}",
        "whole mix",
        "",
        "",
        us(pct(&all_hits, 0.5)),
        us(pct(&all_hits, 0.99))
    );
    println!(
        "cache held {} entries in {} bytes; worst hit p99 {} ms: {} the {} ms goal",
        stats.entries,
        stats.bytes,
        ms(worst),
        if worst <= GOAL { "within" } else { "OVER" },
        ms(GOAL)
    );
    indexed.set_count_cache_bytes(0);
    Ok(())
}
