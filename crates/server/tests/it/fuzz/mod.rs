//! A seeded, bounded fuzz of the whole HTTP surface (issue 9): at least 20,000 requests
//! the server must refuse, across every route of every dialect, and for each reply: no
//! 5xx, a JSON body in the envelope of the dialect that owns the path, no panic on the
//! server's threads or in its log, and no write applied by a refused request.
//!
//! # Generator
//!
//! Case `i` of seed `s` is built from its own `StdRng` seeded with `s` and `i` alone, so a
//! case is reproducible on its own (`ROSTER_FUZZ_SEED`, and `ROSTER_FUZZ_CASE=i` to send
//! only case `i` and print it). A case picks a route template (every template of every
//! router, plus unknown paths under each dialect's prefix), a method (mostly the route's
//! own; otherwise any of GET/POST/PUT/DELETE/PATCH/HEAD/OPTIONS or an odd token; every
//! 8th case walks all route × method pairs in turn, and a full run checks each was sent), path
//! parameters (real ids for reads, ids that cannot exist for writes, or junk: odd
//! Unicode, `%2F`, `%00`, 1,001-entry lists, 5,000-char segments), credentials (mostly
//! valid, so the handlers' parsing is reached; else missing, wrong, malformed, non-ASCII
//! or duplicated), and a body: the route's valid body put through 0–3 structural
//! mutations (drop, duplicate or rename keys, swap types, nulls, huge numbers such as
//! `1e308`, `-9223372036854775809`, `99999999999999999999`, deep nesting, long strings,
//! odd Unicode, lone-surrogate escapes, 1,001-entry lists) and sometimes a byte-level one
//! (truncation, invalid UTF-8, a flipped byte, a BOM, trailing garbage, comments, or not
//! JSON at all). Transport mutations: Content-Type variants, gzip (valid, corrupt, a
//! bomb that inflates past the body limit), unknown Content-Encoding, bodies on GET, a
//! few bodies over 2 MiB. About 5% of cases go over a raw TCP socket instead, for what an
//! HTTP client cannot send: bad percent-encoding (`%FF`, `%E4%B8`, `%G1`), raw UTF-8 and
//! control bytes in the path, dot segments, duplicated and conflicting headers,
//! chunked-encoding errors, broken request lines, absurd Content-Length values,
//! truncated gzip and bodies cut short.
//!
//! # What counts
//!
//! A reply counts as a refusal when its status is ≥ 400 or, where a dialect answers
//! errors with HTTP 200, by its body: Getui `code != 0` (or a tag batch whose every cid
//! is `"false"`, a `bind_dt` with an `errorList`); UMS `code != 0` or no `success`
//! entry; Growth and EngageLab `code != 0` or every entry an error. The run goes on,
//! 1,000 cases at a time, until `ROSTER_FUZZ_CASES` (default 20,000) requests were
//! refused; accepted requests (reads, and writes to the scratch apps) are sent too but
//! not counted.
//!
//! Every reply must have a status below 500; a body that parses as JSON (NDJSON for a
//! 200 from `audience/cids`, nothing for HEAD, 204 and 304); on error statuses, a JSON
//! Content-Type and exactly the envelope of the dialect that owns the path
//! (`envelope_of`). Raw requests the HTTP parser may refuse on its own (over-long heads,
//! malformed header lines, conflicting framing) may instead get its 400/414/431 in the
//! native envelope, with `Connection: close`. A connection closed without a reply is a
//! failure, except for bytes that hold no complete HTTP/1 request (only blank lines, a
//! head cut off by the client's FIN, the HTTP/2 preface, on which hyper closes by design).
//!
//! # No write applied by a refused request
//!
//! Three apps. App A holds known state (devices with aliases, tags, badges and a
//! blacklist entry through Getui and native events, users through UMS, Growth and the
//! native API). Every write the generator aims at A is invalid by construction, whatever
//! the mutations do: Getui writes and native events name cids (in the path or the body)
//! that do not exist and can never be produced by a mutation, alias unbinds name aliases
//! that do not exist, UMS deletes name userids that do not exist, the Getui `auth` sign
//! is made with a wrong secret, token revocations name tokens never issued, and Growth
//! `register` (get-or-create) on A only ever carries values known to exist or values that
//! are invalid, with no mutation that could turn one into a new valid value. A
//! fingerprint of everything readable about A (each device natively and through Getui
//! detail, status, tags and alias; alias lookups; Getui and native counts; the native
//! audience listing; each user by uid and by identity; EngageLab profiles; Growth CUIDs
//! of the known values) is taken before and after and must be equal; afterwards, every
//! uid allocated during the run must be unknown to A (EngageLab 55108), so no refused
//! request created a user in A either.
//!
//! Writes that may succeed (UMS `opt`, Growth `register`, native device upsert and
//! identify) go to app B, and admin writes to app C. Each such request carries
//! identifiers unique to its case (`fz<case><kind><n>z`); when the request is refused, or
//! the entry that carried one is (UMS `fail`, a Growth entry with an error), that
//! identifier must not exist afterwards (native lookups on B, a Growth probe of C's
//! identity names). Credentials are never swapped for another app's valid ones, so a
//! write meant for B or C cannot land on A.
//!
//! # Panics
//!
//! The server runs on a runtime of its own whose threads are named
//! `roster-fuzz-srv…`; a panic hook (chained to the previous one) counts panics on those
//! threads only, so other tests of this binary running in parallel do not interfere, and
//! a `tracing` subscriber on those threads captures the server's log (WARN and above),
//! which must not mention a panic nor hold an ERROR line. A second, smaller run does the
//! same against the real `roster` binary with its stderr captured
//! (`ROSTER_FUZZ_BINARY_CASES`, default 3,000 refusals).

mod base;
mod base_getui;
mod base_native;
mod base_users;
mod body;
mod capture;
mod case;
mod fingerprint;
mod fixture;
mod headers;
mod judge;
mod pools;
mod raw;
mod routes;
mod run;
mod send;

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use roster_testkit::ADMIN_TOKEN;
use serde_json::Value;

use capture::{install_panic_counter, server_runtime, LogBuf, PANIC_NOTES, SERVER_PANICS};
use fingerprint::{check_absent, fingerprint, no_new_users_in_a};
use fixture::setup;
use routes::{template, METHODS, R, ROUTES};
use run::{run_cases, LATENCY_MS};

const DEFAULT_SEED: u64 = 0x0009_F022_5EED_2024;
const DEFAULT_REFUSALS: usize = 20_000;
const DEFAULT_BINARY_REFUSALS: usize = 3_000;
const CONCURRENCY: usize = 24;
const CHUNK: u64 = 1_000;
const SERVER_THREAD: &str = "roster-fuzz-srv";
/// Body limit of the edge (`EdgeLimits::default`).
const BODY_LIMIT: usize = 2 * 1024 * 1024;
/// Largest body mutations may produce by accident.
const ACCIDENTAL_BODY_MAX: usize = 256 * 1024;

struct Config {
    seed: u64,
    refusals: usize,
    only: Option<u64>,
}

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim().replace('_', "");
    match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => v.parse().ok(),
    }
}

fn config(default_refusals: usize, cases_var: &str) -> Config {
    Config {
        seed: env_u64("ROSTER_FUZZ_SEED").unwrap_or(DEFAULT_SEED),
        refusals: env_u64(cases_var).map_or(default_refusals, |n| n as usize),
        only: env_u64("ROSTER_FUZZ_CASE"),
    }
}

fn client_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("roster-fuzz-client")
        .enable_all()
        .build()
        .expect("client runtime")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

/// Sets up, fingerprints, fuzzes, fingerprints again and checks; returns the problems.
async fn fuzz_server(base: &str, cfg: &Config, label: &str) -> Vec<String> {
    let http = client();
    let ctx = setup(&http, base).await;
    let before = fingerprint(&ctx, &http).await;
    println!(
        "{label}: seed {:#x} (ROSTER_FUZZ_SEED), until {} refused requests; fixture: {} devices, {} users",
        cfg.seed,
        cfg.refusals,
        ctx.cids.len(),
        ctx.uids.len()
    );
    let started = Instant::now();
    let stats = run_cases(&ctx, cfg, &http).await;
    let took = started.elapsed();
    let mut problems = Vec::new();
    let after = fingerprint(&ctx, &http).await;
    for (k, v) in &before {
        if after.get(k) != Some(v) {
            problems.push(format!(
                "app A changed: {k}\n  before: {v}\n  after:  {}",
                after.get(k).map_or("(missing)".into(), Value::to_string)
            ));
        }
    }
    match no_new_users_in_a(&ctx, &http).await {
        Ok(n) => println!("{label}: {n} uids allocated during the run, none of them in app A"),
        Err(e) => problems.push(e),
    }
    let absent = check_absent(&ctx, &http, &stats.absent).await;
    println!(
        "{label}: {} identifiers carried only by refused requests checked absent",
        stats.absent.len()
    );
    problems.extend(absent);

    println!(
        "{label}: {} requests in {:.1} s ({:.0}/s): {} refused, {} accepted; {} raw TCP, {} HEAD",
        stats.sent,
        took.as_secs_f64(),
        stats.sent as f64 / took.as_secs_f64().max(0.001),
        stats.refused,
        stats.sent - stats.refused,
        stats.raw,
        stats.head
    );
    println!("{label}: by route (sent / refused):");
    for (r, (n, refused)) in &stats.by_route {
        println!("  {:>6} / {:>6}  {}", n, refused, template(*r));
    }
    println!("{label}: statuses {:?}", stats.by_status);
    println!(
        "{label}: latency buckets (ms < {:?}, then slower): {:?}; slowest {:?}",
        LATENCY_MS, stats.latency, stats.slowest
    );
    println!("{label}: methods {:?}", stats.by_method);
    println!("{label}: mutations:");
    for (n, c) in &stats.by_note {
        println!("  {c:>6}  {n}");
    }
    let routes_seen: BTreeSet<R> = stats.by_route.keys().copied().collect();
    if cfg.only.is_none() {
        for (r, ..) in ROUTES {
            if !routes_seen.contains(r) {
                problems.push(format!("route never exercised: {}", template(*r)));
            }
            if stats.sent >= 16 * ROUTES.len() * METHODS.len() {
                for m in METHODS {
                    if !stats.pairs.contains(&(*r, (*m).to_owned())) {
                        problems.push(format!("{m} never sent to {}", template(*r)));
                    }
                }
            }
        }
        if stats.refused < cfg.refusals {
            problems.push(format!(
                "only {} refused requests (wanted {})",
                stats.refused, cfg.refusals
            ));
        }
    }
    if !stats.failure_kinds.is_empty() {
        problems.push(format!(
            "{} failing replies, by kind: {:#?}",
            stats.failure_kinds.values().sum::<usize>(),
            stats.failure_kinds
        ));
        problems.extend(stats.failures);
    }
    problems
}

/// The first 20 lines of `log` that mention `panic_word` or hold `ERROR`, as a problem.
fn log_problem(log: &str, panic_word: &str, whose: &str) -> Option<String> {
    let bad: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(panic_word) || l.contains("ERROR"))
        .take(20)
        .collect();
    (!bad.is_empty()).then(|| format!("{whose} has panics or errors:\n{}", bad.join("\n")))
}

#[test]
fn fuzz_every_route_of_every_dialect() {
    install_panic_counter();
    let cfg = config(DEFAULT_REFUSALS, "ROSTER_FUZZ_CASES");
    let log = LogBuf::default();
    let server_rt = server_runtime(SERVER_THREAD, log.clone());
    let srv = server_rt.block_on(roster_testkit::TestServer::start());
    let before = SERVER_PANICS.load(Ordering::SeqCst);
    let mut problems = client_runtime().block_on(fuzz_server(&srv.base, &cfg, "fuzz"));
    let panics = SERVER_PANICS.load(Ordering::SeqCst) - before;
    if panics > 0 {
        problems.push(format!(
            "{panics} panics on the server's threads: {:#?}",
            PANIC_NOTES.lock().map(|n| n.clone()).unwrap_or_default()
        ));
    }
    let text =
        String::from_utf8_lossy(&log.0.lock().map(|b| b.clone()).unwrap_or_default()).to_string();
    problems.extend(log_problem(&text, "panic", "the server's log"));
    drop(srv);
    server_rt.shutdown_timeout(Duration::from_secs(5));
    assert!(
        problems.is_empty(),
        "fuzz (seed {:#x}) found {} problems:\n\n{}",
        cfg.seed,
        problems.len(),
        problems.join("\n\n")
    );
}

#[test]
fn fuzz_the_real_binary() {
    let cfg = config(DEFAULT_BINARY_REFUSALS, "ROSTER_FUZZ_BINARY_CASES");
    let dir = tempfile::tempdir().expect("tempdir");
    let stderr_path = dir.path().join("stderr.log");
    let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
    let port = roster_testkit::free_port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_roster"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .env("ROSTER_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("ROSTER_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("spawn roster");
    let base = format!("http://127.0.0.1:{port}");
    let rt = client_runtime();
    let mut problems = rt.block_on(async {
        let http = client();
        let mut ready = false;
        for _ in 0..200 {
            if let Ok(r) = http.get(format!("{base}/readyz")).send().await {
                if r.status() == 200 {
                    ready = true;
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if !ready {
            return vec!["the binary did not become ready".to_owned()];
        }
        fuzz_server(&base, &cfg, "fuzz (binary)").await
    });
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    problems.extend(log_problem(&log, "panicked", "the binary's stderr"));
    assert!(
        problems.is_empty(),
        "fuzz of the binary (seed {:#x}) found {} problems:\n\n{}",
        cfg.seed,
        problems.len(),
        problems.join("\n\n")
    );
}
