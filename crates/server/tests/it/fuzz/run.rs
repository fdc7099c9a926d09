//! Running the cases, a chunk at a time until enough were refused, and the run's statistics.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use super::base::Tracked;
use super::case::{gen_case, preview, Wire};
use super::fixture::Ctx;
use super::judge::{judge, Verdict};
use super::routes::{template, R};
use super::send::send;
use super::{Config, CHUNK, CONCURRENCY};

#[derive(Default)]
pub(super) struct Stats {
    pub(super) sent: usize,
    pub(super) refused: usize,
    pub(super) raw: usize,
    pub(super) head: usize,
    pub(super) by_route: BTreeMap<R, (usize, usize)>,
    pub(super) by_status: BTreeMap<u16, usize>,
    pub(super) by_note: BTreeMap<&'static str, usize>,
    pub(super) by_method: BTreeMap<String, usize>,
    pub(super) failures: Vec<String>,
    pub(super) failure_kinds: BTreeMap<String, usize>,
    pub(super) absent: BTreeSet<Tracked>,
    pub(super) pairs: BTreeSet<(R, String)>,
    /// Replies by latency bucket (see [`LATENCY_MS`]).
    pub(super) latency: [usize; 8],
    pub(super) slowest: Option<(Duration, u64)>,
}

/// Upper bounds of the latency buckets, in ms (the last bucket is everything slower).
pub(super) const LATENCY_MS: [u128; 7] = [5, 10, 20, 50, 100, 500, 2_000];

fn failure_kind(msg: &str) -> String {
    msg.chars()
        .take_while(|c| *c != ':' && *c != '(')
        .take(60)
        .collect()
}

pub(super) async fn run_cases(ctx: &Ctx, cfg: &Config, client: &reqwest::Client) -> Stats {
    let stats = Mutex::new(Stats::default());
    let one = |id: u64| {
        let stats = &stats;
        async move {
            let case = gen_case(ctx, cfg.seed, id);
            let t1 = Instant::now();
            let reply = send(client, &ctx.addr, &case).await;
            let took = t1.elapsed();
            let verdict = match &reply {
                Ok(r) => judge(&case, r),
                Err(e) if case.silent_ok && e.starts_with("connection closed without a reply") => {
                    Ok(Verdict {
                        refused: false,
                        absent: Vec::new(),
                    })
                }
                Err(e) => Err(e.clone()),
            };
            let mut st = stats.lock().expect("stats");
            st.sent += 1;
            let ms = took.as_millis();
            let bucket = LATENCY_MS
                .iter()
                .position(|x| ms < *x)
                .unwrap_or(LATENCY_MS.len());
            st.latency[bucket] += 1;
            if st.slowest.as_ref().is_none_or(|(d, _)| took > *d) {
                st.slowest = Some((took, case.id));
            }
            let raw = matches!(case.wire, Wire::Raw { .. });
            st.raw += usize::from(raw);
            st.head += usize::from(case.head());
            *st.by_method.entry(case.method.clone()).or_default() += 1;
            st.pairs.insert((case.route, case.method.clone()));
            if let Ok(r) = &reply {
                *st.by_status.entry(r.status).or_default() += 1;
            }
            for n in &case.notes {
                *st.by_note.entry(n).or_default() += 1;
            }
            let e = st.by_route.entry(case.route).or_default();
            e.0 += 1;
            match verdict {
                Ok(v) => {
                    if v.refused {
                        st.refused += 1;
                        st.by_route.entry(case.route).or_default().1 += 1;
                    }
                    st.absent.extend(v.absent);
                }
                Err(msg) => {
                    let kind = format!("{} · {}", template(case.route), failure_kind(&msg));
                    let n = st.failure_kinds.entry(kind).or_default();
                    *n += 1;
                    if *n <= 2 && st.failures.len() < 60 {
                        let (status, body) = match &reply {
                            Ok(r) => (r.status.to_string(), preview(&r.body, 400)),
                            Err(_) => ("-".into(), String::new()),
                        };
                        st.failures.push(format!(
                            "case {} [{}] {}\n  request: {}\n  reply {status}: {body}\n  notes: {:?}",
                            case.id,
                            template(case.route),
                            msg,
                            case.describe().replace('\n', "\n    "),
                            case.notes
                        ));
                    }
                }
            }
        }
    };
    if let Some(id) = cfg.only {
        let case = gen_case(ctx, cfg.seed, id);
        println!("case {id}: {}\nnotes: {:?}", case.describe(), case.notes);
        let reply = send(client, &ctx.addr, &case).await;
        match &reply {
            Ok(r) => println!(
                "reply {} {:?}\n{}",
                r.status,
                r.headers,
                preview(&r.body, 2_000)
            ),
            Err(e) => println!("error: {e}"),
        }
        one(id).await;
        return stats.into_inner().expect("stats");
    }
    let mut next = 0u64;
    let cap = (cfg.refusals as u64).saturating_mul(3).max(CHUNK);
    loop {
        let done = stats.lock().expect("stats").refused;
        if done >= cfg.refusals || next >= cap {
            break;
        }
        futures_util::stream::iter(next..next + CHUNK)
            .map(one)
            .buffer_unordered(CONCURRENCY)
            .collect::<()>()
            .await;
        next += CHUNK;
    }
    stats.into_inner().expect("stats")
}
