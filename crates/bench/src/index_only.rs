//! `--index-only`: the audience index built straight from generated devices, with no
//! store, then the count mix timed beside its floor. The embedded store cannot hold 100
//! million devices on the reference machine in reasonable time (bulk generation runs at
//! about a million a minute), so this is how the index is measured at that size. The
//! devices are the generator's, in the same order and with the same ordinals as a
//! store-backed run of the same `--devices`/`--tags`/`--seed`, so counts agree with it.

use std::sync::mpsc::sync_channel;
use std::time::Instant;

use anyhow::Context;
use roster_core::{DeviceFacts, TagName};
use roster_index::{AppIndex, Node};
use roster_store::ImportDevice;

use crate::gen::{Generator, Shape};
use crate::{pct, print_header, print_row, queries, rss_bytes, Args, Measured};

/// Files one generated device under `ord`.
fn add(ix: &mut AppIndex, ord: u32, d: &ImportDevice) -> anyhow::Result<()> {
    let tags = d
        .tags
        .iter()
        .map(|t| TagName::parse(t.clone()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("generated tag: {e:?}"))?;
    let facts = DeviceFacts {
        region: d.region.as_deref(),
        tags: &tags,
        alias: d.alias.as_deref(),
        blacklisted: d.blacklisted,
        notification_switch: d.notification_switch,
        app_version: d.app_version.as_deref(),
        create_time: d.create_time,
        ..DeviceFacts::bare(
            &d.cid,
            d.phone_type,
            d.brand.as_deref().unwrap_or("unknown"),
        )
    };
    ix.add_device(ord, &facts);
    Ok(())
}

/// Builds the index on two cores: one thread generates devices, the other files them.
/// Returns the index and the time spent filing (the index's own share of the build).
fn build(args: &Args) -> anyhow::Result<(AppIndex, std::time::Duration)> {
    let shape = Shape {
        devices: args.devices,
        tags: args.tags,
        seed: args.seed,
    };
    let (tx, rx) = sync_channel::<Vec<ImportDevice>>(8);
    let generator = std::thread::spawn(move || -> anyhow::Result<()> {
        let mut g = Generator::new(shape)?;
        loop {
            let batch = g.batch(65_536);
            if batch.is_empty() || tx.send(batch).is_err() {
                return Ok(());
            }
        }
    });
    let started = Instant::now();
    let mut ix = AppIndex::default();
    let mut ord = 0u32;
    let mut filing = std::time::Duration::ZERO;
    for batch in rx {
        let t = Instant::now();
        for d in &batch {
            add(&mut ix, ord, d)?;
            ord += 1;
            if ord.is_multiple_of(10_000_000) {
                println!(
                    "  indexed {ord} devices ({:.0}s)",
                    started.elapsed().as_secs_f64()
                );
            }
        }
        filing += t.elapsed();
    }
    generator
        .join()
        .map_err(|_| anyhow::anyhow!("the generator panicked"))??;
    let t = Instant::now();
    ix.shrink_to_fit();
    Ok((ix, filing + t.elapsed()))
}

/// Runs `--index-only`.
pub fn run(args: &Args) -> anyhow::Result<()> {
    println!("index only: {} generated devices, no store", args.devices);
    let rss0 = rss_bytes();
    let started = Instant::now();
    let (ix, filing) = build(args)?;
    let elapsed = started.elapsed();
    let rss1 = rss_bytes();
    let n = ix.len().max(1) as f64;
    let heap = ix.heap_bytes();
    println!();
    println!("devices              {}", ix.len());
    println!(
        "index build          {:.1} s (generating and filing on two threads; {:.0} devices/s)",
        elapsed.as_secs_f64(),
        n / elapsed.as_secs_f64()
    );
    println!(
        "  of which filing      {:.1} s on one thread ({:.0} devices/s; the rest is generation)",
        filing.as_secs_f64(),
        n / filing.as_secs_f64()
    );
    println!(
        "index heap           {:.1} MB = {:.2} bytes/device",
        heap as f64 / 1e6,
        heap as f64 / n
    );
    for (part, bytes) in ix.heap_breakdown() {
        println!("  {part:<50} {:>6.2} bytes/device", bytes as f64 / n);
    }
    println!(
        "process RSS growth   {:.1} MB = {:.1} bytes/device",
        rss1.saturating_sub(rss0) as f64 / 1e6,
        rss1.saturating_sub(rss0) as f64 / n
    );
    print_header();
    let mut all = Vec::new();
    let mut measured = Vec::new();
    for q in queries::mix() {
        let node = Node::plain(&q.query.selector)
            .with_context(|| format!("{}: needs the store", q.name))?;
        let (mut samples, mut floor) = (Vec::new(), Vec::new());
        let (mut got, mut bytes) = (0, 0);
        for _ in 0..args.iters.max(1) {
            let t = Instant::now();
            got = ix.count(&node, &q.query);
            samples.push(t.elapsed());
            let t = Instant::now();
            let (b, sum) = ix.floor(&node, &q.query);
            floor.push(t.elapsed());
            bytes = b;
            std::hint::black_box(sum);
        }
        samples.sort();
        floor.sort();
        let m = Measured {
            name: q.name,
            matches: got,
            p50: pct(&samples, 0.5),
            p99: pct(&samples, 0.99),
            floor50: pct(&floor, 0.5),
            floor99: pct(&floor, 0.99),
        };
        print_row(&m, bytes, None);
        all.extend(samples);
        measured.push(m);
    }
    all.sort();
    println!(
        "{:<28} {:>10} {:>9} {:>9}   {} of {} queries within the floor goal",
        "whole mix",
        "",
        crate::ms(pct(&all, 0.5)),
        crate::ms(pct(&all, 0.99)),
        measured.iter().filter(|m| m.meets_goal()).count(),
        measured.len()
    );
    Ok(())
}
