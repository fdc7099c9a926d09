//! Peers: the same generated app loaded into DuckDB and chDB (ClickHouse embedded), the
//! same query mix run on each, side by side with roster's index.
//!
//! roster-bench writes the devices straight from the [`Generator`] (no store involved:
//! device `i` is ordinal `i`) to a CSV file, and the mix, each query with roster's
//! count, to a JSON file; `peers/peers.py` (embedded in this binary, run with
//! `--peers-python`) compiles each query's selector to each peer's SQL, checks every
//! count against roster's and reports p50/p99 per query and engine as JSON.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use anyhow::{bail, Context};
use roster_core::{AppId, RegionCode};
use roster_store::Registry;
use serde_json::{json, Value};

use crate::gen::{Generator, Shape};
use crate::queries::Query;
use crate::{err, Args, Measured};

/// The script, embedded so that the binary runs it from anywhere.
const SCRIPT: &str = include_str!("../peers/peers.py");

/// The peers the script measures, in the table's order.
const ENGINES: [&str; 3] = ["duckdb", "chdb", "chdb-bitmap"];

/// The goal: roster at least this many times faster than the best peer at p50.
const GOAL: f64 = 10.0;

/// Writes the devices of `shape`, one CSV row each in generation order (so row `i`
/// is ordinal `i`); returns how many.
pub fn write_data(shape: Shape, path: &Path) -> anyhow::Result<u64> {
    let file = std::fs::File::create(path).with_context(|| path.display().to_string())?;
    let mut out = csv::Writer::from_writer(std::io::BufWriter::with_capacity(1 << 20, file));
    out.write_record([
        "ordinal",
        "phone_type",
        "brand",
        "province",
        "city",
        "region",
        "tags",
        "has_alias",
        "notification_switch",
        "blacklisted",
        "app_version",
    ])?;
    let mut generator = Generator::new(shape)?;
    let mut ordinal = 0u64;
    let flag = |b: bool| if b { "1" } else { "0" };
    loop {
        let batch = generator.batch(50_000);
        if batch.is_empty() {
            break;
        }
        for d in batch {
            let code = d.region.map(RegionCode::parse).transpose().map_err(err)?;
            let (province, city, region) = code
                .as_ref()
                .map_or(("", "", ""), |c| (c.province(), c.city(), c.as_str()));
            out.write_record([
                ordinal.to_string().as_str(),
                d.phone_type.as_str(),
                d.brand.as_deref().unwrap_or("unknown"),
                province,
                city,
                region,
                d.tags.join("|").as_str(),
                flag(d.alias.is_some()),
                flag(d.notification_switch),
                flag(d.blacklisted),
                d.app_version.as_deref().unwrap_or(""),
            ])?;
            ordinal += 1;
        }
    }
    out.flush()?;
    Ok(ordinal)
}

/// The mix as the script reads it: each query with roster's count when known.
fn mix_json(mix: &[Query], counts: Option<&[Measured]>) -> Value {
    let list = mix.iter().enumerate().map(|(i, q)| {
        let mut v = json!({ "name": q.name, "query": q.query });
        if let Some(m) = counts.and_then(|c| c.get(i)) {
            v["expect"] = m.matches.into();
        }
        v
    });
    Value::Array(list.collect())
}

/// `--write-peers-data`: the data file and, next to it, the mix without counts (the
/// script then checks the peers against each other).
pub fn write_standalone(shape: Shape, path: &Path) -> anyhow::Result<()> {
    let n = write_data(shape, path)?;
    let queries = PathBuf::from(format!("{}.queries.json", path.display()));
    std::fs::write(
        &queries,
        serde_json::to_string_pretty(&mix_json(&crate::queries::mix(), None))?,
    )?;
    println!(
        "wrote {n} devices to {} and the mix to {}",
        path.display(),
        queries.display()
    );
    Ok(())
}

/// The data file for `shape` at `path`, written unless a file of this shape is there.
fn data_file(shape: Shape, path: &Path) -> anyhow::Result<()> {
    let marker = PathBuf::from(format!("{}.shape.json", path.display()));
    let want = json!({ "devices": shape.devices, "tags": shape.tags, "seed": shape.seed });
    if path.exists() {
        if let Ok(text) = std::fs::read_to_string(&marker) {
            if serde_json::from_str::<Value>(&text)? == want {
                println!("peers: reusing {}", path.display());
                return Ok(());
            }
        }
    }
    let started = Instant::now();
    let n = write_data(shape, path)?;
    std::fs::write(&marker, want.to_string())?;
    println!(
        "peers: wrote {n} devices to {} in {:.1} s",
        path.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Roster's side: each query's count and latency through the index, the same
/// `count_audience` call the counts phase times.
pub async fn measure_roster<S: roster_store::Backend>(
    iters: usize,
    app: &AppId,
    indexed: &Registry<S>,
    mix: &[Query],
) -> anyhow::Result<Vec<Measured>> {
    let mut out = Vec::with_capacity(mix.len());
    for q in mix {
        out.push(crate::time_query(indexed, app, q, iters).await?.0);
    }
    Ok(out)
}

/// The peers phase: roster's counts, then the script on the same data and queries, and
/// the table of both.
pub async fn peers<S: roster_store::Backend>(
    args: &Args,
    app: &AppId,
    indexed: &Registry<S>,
    mix: &[Query],
) -> anyhow::Result<()> {
    let roster = measure_roster(args.iters, app, indexed, mix).await?;
    compare(args, mix, &roster).await
}

/// The script on the same data and queries, and the table next to roster's
/// measurements of them (`roster[i]` is `mix[i]`: from [`measure_roster`], or from any
/// phase that timed the same counts).
pub async fn compare(args: &Args, mix: &[Query], roster: &[Measured]) -> anyhow::Result<()> {
    let Some(python) = &args.peers_python else {
        bail!("the peers phase needs --peers-python");
    };
    if roster.len() != mix.len() {
        bail!("{} measurements for {} queries", roster.len(), mix.len());
    }
    let iters = args.peers_iters.unwrap_or(args.iters);
    let tmp = tempfile::tempdir()?;
    let data = args
        .peers_data
        .clone()
        .unwrap_or_else(|| tmp.path().join("devices.csv"));
    let shape = Shape {
        devices: args.devices,
        tags: args.tags,
        seed: args.seed,
    };
    data_file(shape, &data)?;
    let queries = mix_json(mix, Some(roster));
    let (script, qfile, outfile) = (
        tmp.path().join("peers.py"),
        tmp.path().join("queries.json"),
        tmp.path().join("peers.json"),
    );
    std::fs::write(&script, SCRIPT)?;
    std::fs::write(&qfile, serde_json::to_string_pretty(&queries)?)?;
    let started = Instant::now();
    let status = tokio::process::Command::new(python)
        .arg(&script)
        .arg("--data")
        .arg(&data)
        .arg("--queries")
        .arg(&qfile)
        .arg("--iters")
        .arg(iters.to_string())
        .arg("--out")
        .arg(&outfile)
        .stdin(Stdio::null())
        .status()
        .await
        .with_context(|| format!("running {}", python.display()))?;
    if !status.success() {
        bail!("peers script failed ({status})");
    }
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&outfile)?)?;
    println!(
        "peers: loaded and measured in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    print_table(roster, &report)
}

/// A peer's (p50, p99) in ms for query `i`, checked against roster's count.
fn peer_ms(report: &Value, engine: &str, i: usize, want: &Measured) -> anyhow::Result<(f64, f64)> {
    let q = &report["engines"][engine]["queries"][i];
    if q["name"] != want.name || q["count"].as_u64() != Some(want.matches) {
        bail!(
            "{engine}: query {i} is {} counting {}, roster's is {} counting {}",
            q["name"],
            q["count"],
            want.name,
            want.matches
        );
    }
    let f = |k: &str| q[k].as_f64().context("p50_ms/p99_ms");
    Ok((f("p50_ms")?, f("p99_ms")?))
}

fn print_table(roster: &[Measured], report: &Value) -> anyhow::Result<()> {
    println!();
    for e in ENGINES {
        let v = &report["engines"][e];
        println!(
            "peer {e:<12} {} (load {:.1} s): {}",
            v["version"].as_str().unwrap_or("?"),
            v["load_s"].as_f64().unwrap_or(0.0),
            v["layout"].as_str().unwrap_or("?")
        );
    }
    println!("(ms; ÷peer = peer p50 / roster p50: how many times faster roster is; goal ≥ {GOAL}× the best peer, `<` marks a miss)");
    print!("{:<28} {:>10} {:>15}", "query", "matches", "roster p50/p99");
    for e in ENGINES {
        print!(" {:>17}", format!("{e} p50/p99"));
    }
    for e in ENGINES {
        print!(" {:>8}", format!("÷{}", e.trim_start_matches("chdb-")));
    }
    println!(" {:>10} {:>9}", "÷best p50", "÷best p99");
    let mut misses = Vec::new();
    for (i, r) in roster.iter().enumerate() {
        let peers = ENGINES
            .iter()
            .map(|e| peer_ms(report, e, i, r))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let (r50, r99) = (r.p50.as_secs_f64() * 1e3, r.p99.as_secs_f64() * 1e3);
        print!(
            "{:<28} {:>10} {:>15}",
            r.name,
            r.matches,
            format!("{r50:.4}/{r99:.4}")
        );
        for (p50, p99) in &peers {
            print!(" {:>17}", format!("{p50:.3}/{p99:.3}"));
        }
        for (p50, _) in &peers {
            print!(" {:>7.1}x", p50 / r50.max(1e-6));
        }
        let best50 = peers.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
        let best99 = peers.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
        let (x50, x99) = (best50 / r50.max(1e-6), best99 / r99.max(1e-6));
        let mark = if x50 < GOAL { '<' } else { ' ' };
        println!(" {x50:>8.1}x{mark} {x99:>8.1}x");
        if x50 < GOAL {
            misses.push(format!("{} ({x50:.1}×)", r.name));
        }
    }
    if misses.is_empty() {
        println!("peers: roster ≥ {GOAL}× the best peer at p50 on every query");
    } else {
        println!(
            "peers: under {GOAL}× the best peer at p50 on {} of {}: {}",
            misses.len(),
            roster.len(),
            misses.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_rows_are_the_generated_devices_in_order() {
        let shape = Shape {
            devices: 2_000,
            tags: 300,
            seed: 7,
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("d.csv");
        assert_eq!(write_data(shape, &path).expect("write"), 2_000);
        let want = Generator::new(shape).expect("generator").batch(5_000);
        let mut rows = csv::Reader::from_path(&path).expect("read");
        let mut n = 0;
        for (i, (row, d)) in rows.records().zip(&want).enumerate() {
            let row = row.expect("row");
            let region = d.region.clone().unwrap_or_default();
            let flag = |b: bool| if b { "1" } else { "0" };
            let want_row = [
                i.to_string(),
                d.phone_type.as_str().to_owned(),
                d.brand.clone().unwrap_or_default(),
                region.get(..2).unwrap_or("").to_owned(),
                region.get(..4).unwrap_or("").to_owned(),
                region.clone(),
                d.tags.join("|"),
                flag(d.alias.is_some()).to_owned(),
                flag(d.notification_switch).to_owned(),
                flag(d.blacklisted).to_owned(),
                d.app_version.clone().unwrap_or_default(),
            ];
            assert_eq!(row.iter().collect::<Vec<_>>(), want_row, "row {i}");
            n += 1;
        }
        assert_eq!(n, want.len());
        // The shapes the peers rely on: some devices without a region or tags.
        assert!(want.iter().any(|d| d.region.is_none()));
        assert!(want.iter().any(|d| d.tags.is_empty()));
    }

    #[test]
    fn the_mix_for_the_script_carries_roster_counts() {
        let mix = crate::queries::mix();
        let measured: Vec<Measured> = mix
            .iter()
            .enumerate()
            .map(|(i, q)| Measured::of(q.name, i as u64 * 10, Vec::new(), Vec::new()))
            .collect();
        let v = mix_json(&mix, Some(&measured));
        assert_eq!(v.as_array().map(Vec::len), Some(mix.len()));
        assert_eq!(v[2]["expect"], 20);
        assert_eq!(v[1]["query"]["selector"]["and"][0]["region"], "44000000");
        assert!(mix_json(&mix, None)[0].get("expect").is_none());
    }
}
