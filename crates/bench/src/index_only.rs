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

/// The two wide `or`s of the mix on the same sets in roaring-rs (`MultiOps` union, then
/// in place `&=` and `difference_len`) and CRoaring (`fast_or`, its lazy multi-way
/// union, then `and_inplace` and `andnot_cardinality`), next to this index's streaming
/// count: how the set library was chosen. Each is checked against the index's count.
fn libraries(ix: &AppIndex, iters: usize) {
    let tags: std::collections::HashMap<&str, &roster_index::Bits> = ix.tag_bitmaps().collect();
    let pick = |range: std::ops::Range<u32>| -> Vec<&roster_index::Bits> {
        range
            .filter_map(|i| tags.get(format!("t{i}").as_str()).copied())
            .collect()
    };
    let xm = ix
        .brand_bitmaps()
        .find(|(b, _)| *b == "xm")
        .map(|(_, s)| s.to_roaring())
        .unwrap_or_default();
    let bl = ix.blacklisted_devices().to_roaring();
    let cases = [
        ("or 50 tags", pick(100..150), None),
        ("xm ∧ or(t0..t49)", pick(0..50), Some(xm)),
    ];
    println!();
    println!(
        "{:<28} {:>12} {:>12} {:>12} {:>12} {:>9} {:>9}",
        "wide or, same sets",
        "this index",
        "roaring-rs",
        "croaring",
        "matches",
        "rs/index",
        "cr/index"
    );
    for (name, sets, within) in cases {
        let rs: Vec<roaring::RoaringBitmap> = sets.iter().map(|s| s.to_roaring()).collect();
        let cr: Vec<croaring::Bitmap> = rs.iter().map(|b| b.iter().collect()).collect();
        let cr_within: Option<croaring::Bitmap> = within.as_ref().map(|w| w.iter().collect());
        let cr_bl: croaring::Bitmap = bl.iter().collect();
        let time = |f: &mut dyn FnMut() -> u64| {
            let mut samples = Vec::with_capacity(iters);
            let mut got = 0;
            for _ in 0..iters {
                let t = Instant::now();
                got = f();
                samples.push(t.elapsed());
            }
            samples.sort();
            (pct(&samples, 0.5), got)
        };
        let (ours, n_ours) = time(&mut || {
            let q = name_query(name);
            Node::plain(&q.selector).map_or(0, |n| ix.count(&n, &q))
        });
        let (rs_t, n_rs) = time(&mut || {
            let mut u = roaring::MultiOps::union(rs.iter());
            if let Some(w) = &within {
                u &= w;
            }
            u.difference_len(&bl)
        });
        let (cr_t, n_cr) = time(&mut || {
            let refs: Vec<&croaring::Bitmap> = cr.iter().collect();
            let mut u = croaring::Bitmap::fast_or(&refs);
            if let Some(w) = &cr_within {
                u.and_inplace(w);
            }
            u.andnot_cardinality(&cr_bl)
        });
        let agree = if n_ours == n_rs && n_rs == n_cr {
            ""
        } else {
            "  (COUNTS DIFFER)"
        };
        println!(
            "{:<28} {:>12} {:>12} {:>12} {:>12} {:>8.2}x {:>8.2}x{agree}",
            name,
            crate::ms(ours),
            crate::ms(rs_t),
            crate::ms(cr_t),
            n_ours,
            rs_t.as_secs_f64() / ours.as_secs_f64().max(1e-9),
            cr_t.as_secs_f64() / ours.as_secs_f64().max(1e-9),
        );
    }
}

/// The mix's query of that name.
fn name_query(name: &str) -> roster_core::AudienceQuery {
    queries::mix()
        .into_iter()
        .find(|q| q.name == name)
        .map(|q| q.query)
        .unwrap_or_else(|| roster_core::AudienceQuery {
            selector: roster_core::Selector::All(false),
            exclude_blacklisted: false,
            exclude_notification_off: false,
        })
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
        all.extend(samples.iter().copied());
        let m = Measured::of(q.name, got, samples, floor);
        print_row(&m, bytes, None);
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
    libraries(&ix, args.iters.max(1));
    Ok(())
}
