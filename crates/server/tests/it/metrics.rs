//! `GET /metrics` (issue 14): every family of `docs/metrics.md` appears after traffic
//! that produces it, in a text exposition this file parses strictly (every sample of a
//! declared family, histograms with cumulative buckets ending at `+Inf`, no summaries);
//! apps beyond the label limit are summed under `app="_other"`; metrics on a separate
//! address; two nodes on PostgreSQL; the sample Grafana dashboard uses only families
//! the server exports.
//!
//! The recorder is global to the test process and every test server feeds it, so the
//! assertions are about presence, and about values only this test's apps and routes
//! can have produced (at least N), never exact totals.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use roster_testkit::{create_app, register, s, As, RosterProcess, TestServer, ADMIN_TOKEN};
use serde_json::{json, Value};

use crate::crowds::{basketball, create, devices, plan};

// ---------------------------------------------------------------------------------
// The text exposition format, parsed
// ---------------------------------------------------------------------------------

/// One sample line.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// One family: its `# TYPE`, its `# HELP` and its samples.
#[derive(Debug, Default)]
struct Family {
    kind: String,
    help: Option<String>,
    samples: Vec<Sample>,
}

/// A whole scrape, by family name.
#[derive(Debug)]
struct Exposition(BTreeMap<String, Family>);

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn value_of(s: &str) -> Result<f64, String> {
    match s {
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => s.parse().map_err(|_| format!("bad value {s:?}")),
    }
}

/// `{a="x",b="y\"z"}` (without the braces) into its labels.
fn labels_of(mut s: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    loop {
        s = s.trim_start();
        if s.is_empty() {
            return Ok(out);
        }
        let eq = s.find('=').ok_or_else(|| format!("no '=' in {s:?}"))?;
        let name = s[..eq].trim();
        if !is_name(name) {
            return Err(format!("bad label name {name:?}"));
        }
        let rest = s[eq + 1..].trim_start();
        let mut chars = rest.char_indices();
        if chars.next().map(|(_, c)| c) != Some('"') {
            return Err(format!("label {name} is not quoted"));
        }
        let mut value = String::new();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next().map(|(_, c)| c) {
                    Some('\\') => value.push('\\'),
                    Some('"') => value.push('"'),
                    Some('n') => value.push('\n'),
                    other => return Err(format!("bad escape {other:?} in label {name}")),
                },
                '"' => {
                    end = Some(i);
                    break;
                }
                c => value.push(c),
            }
        }
        let end = end.ok_or_else(|| format!("label {name} is not closed"))?;
        if out.insert(name.to_owned(), value).is_some() {
            return Err(format!("label {name} twice"));
        }
        s = rest[end + 1..].trim_start();
        s = s.strip_prefix(',').unwrap_or(s);
    }
}

/// The family a sample name belongs to, given the families declared so far.
fn family_of<'a>(name: &'a str, families: &BTreeMap<String, Family>) -> Option<&'a str> {
    if families.contains_key(name) {
        return Some(name);
    }
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix) {
            let kind = families.get(base).map(|f| f.kind.as_str());
            let fits = match suffix {
                "_bucket" => kind == Some("histogram"),
                _ => matches!(kind, Some("histogram" | "summary")),
            };
            if fits {
                return Some(base);
            }
        }
    }
    None
}

impl Exposition {
    /// Parses a scrape; every sample must belong to a family whose `# TYPE` came first.
    fn parse(text: &str) -> Result<Exposition, String> {
        let mut families: BTreeMap<String, Family> = BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            let at = |e: String| format!("line {}: {e}: {line:?}", n + 1);
            let line = line.trim_end();
            if line.trim().is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
                if !is_name(name) {
                    return Err(at("bad family name".into()));
                }
                let f = families.entry(name.to_owned()).or_default();
                if f.help.replace(help.to_owned()).is_some() {
                    return Err(at("second HELP".into()));
                }
                continue;
            }
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').ok_or_else(|| at("no type".into()))?;
                if !is_name(name) {
                    return Err(at("bad family name".into()));
                }
                if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                    return Err(at(format!("unknown type {kind}")));
                }
                let f = families.entry(name.to_owned()).or_default();
                if !f.kind.is_empty() {
                    return Err(at("second TYPE".into()));
                }
                if !f.samples.is_empty() {
                    return Err(at("TYPE after samples".into()));
                }
                f.kind = kind.to_owned();
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            let (name, labels, rest) = match line.find('{') {
                Some(open) => {
                    let close = line
                        .rfind('}')
                        .ok_or_else(|| at("unclosed labels".into()))?;
                    (
                        &line[..open],
                        labels_of(&line[open + 1..close]).map_err(at)?,
                        &line[close + 1..],
                    )
                }
                None => {
                    let (name, rest) = line.split_once(' ').ok_or_else(|| at("no value".into()))?;
                    (name, BTreeMap::new(), rest)
                }
            };
            if !is_name(name) {
                return Err(at("bad metric name".into()));
            }
            let mut fields = rest.split_whitespace();
            let value =
                value_of(fields.next().ok_or_else(|| at("no value".into()))?).map_err(at)?;
            if let Some(ts) = fields.next() {
                ts.parse::<i64>().map_err(|_| at("bad timestamp".into()))?;
            }
            if fields.next().is_some() {
                return Err(at("trailing fields".into()));
            }
            let family = family_of(name, &families)
                .ok_or_else(|| at("sample of no declared family".into()))?
                .to_owned();
            let f = families
                .get_mut(&family)
                .ok_or_else(|| at("no family".into()))?;
            if f.kind.is_empty() {
                return Err(at("sample before TYPE".into()));
            }
            f.samples.push(Sample {
                name: name.to_owned(),
                labels,
                value,
            });
        }
        let scrape = Exposition(families);
        scrape.check_histograms()?;
        Ok(scrape)
    }

    /// Every histogram series: buckets by increasing `le`, cumulative, the last `+Inf`
    /// and equal to `_count`, and a `_sum`.
    fn check_histograms(&self) -> Result<(), String> {
        for (name, f) in &self.0 {
            if f.kind != "histogram" {
                continue;
            }
            let mut series: BTreeMap<Vec<(String, String)>, Vec<&Sample>> = BTreeMap::new();
            for s in &f.samples {
                let key = s
                    .labels
                    .iter()
                    .filter(|(k, _)| k.as_str() != "le")
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                series.entry(key).or_default().push(s);
            }
            for (labels, samples) in series {
                let what = format!("{name}{labels:?}");
                let mut buckets: Vec<(f64, f64)> = Vec::new();
                for s in samples.iter().filter(|s| s.name.ends_with("_bucket")) {
                    let le = s
                        .labels
                        .get("le")
                        .ok_or(format!("{what}: bucket without le"))?;
                    buckets.push((value_of(le)?, s.value));
                }
                if buckets.len() < 2 {
                    return Err(format!("{what}: {} buckets", buckets.len()));
                }
                if !buckets
                    .windows(2)
                    .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1)
                {
                    return Err(format!("{what}: buckets not cumulative: {buckets:?}"));
                }
                let (last_le, last) = buckets[buckets.len() - 1];
                if last_le != f64::INFINITY {
                    return Err(format!("{what}: no +Inf bucket"));
                }
                let one = |suffix: &str| {
                    samples
                        .iter()
                        .find(|s| s.name == format!("{name}{suffix}"))
                        .map(|s| s.value)
                };
                if one("_count") != Some(last) {
                    return Err(format!("{what}: _count is not the +Inf bucket"));
                }
                if one("_sum").is_none() {
                    return Err(format!("{what}: no _sum"));
                }
            }
        }
        Ok(())
    }

    /// The family `name`, which must be of `kind`.
    fn family(&self, name: &str, kind: &str) -> &Family {
        let f = self
            .0
            .get(name)
            .unwrap_or_else(|| panic!("no family {name} in the scrape"));
        assert_eq!(f.kind, kind, "{name} is a {}", f.kind);
        assert!(
            f.help.as_deref().is_some_and(|h| !h.is_empty()),
            "{name} has no HELP"
        );
        f
    }

    /// The samples of family `name` (of `kind`) named `sample` whose labels include
    /// `labels`.
    fn samples(
        &self,
        name: &str,
        kind: &str,
        sample: &str,
        labels: &[(&str, &str)],
    ) -> Vec<&Sample> {
        self.family(name, kind)
            .samples
            .iter()
            .filter(|s| {
                s.name == sample
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .collect()
    }

    /// The sum of the values of those samples (0 when there are none).
    fn sum(&self, name: &str, kind: &str, sample: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples(name, kind, sample, labels)
            .iter()
            .map(|s| s.value)
            .sum()
    }

    /// The `_count` of a histogram's series with `labels`.
    fn observed(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let buckets = self.samples(name, "histogram", &format!("{name}_bucket"), labels);
        assert!(!buckets.is_empty(), "no {name}_bucket with {labels:?}");
        self.sum(name, "histogram", &format!("{name}_count"), labels)
    }

    /// The family names.
    fn names(&self) -> BTreeSet<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

/// Scrapes `url`: the reply must be the text format, and parse.
async fn scrape_url(http: &reqwest::Client, url: &str) -> Exposition {
    let r = http.get(url).send().await.expect("scrape");
    assert_eq!(r.status(), StatusCode::OK, "GET {url}");
    let ct = r
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        ct.starts_with("text/plain; version=0.0.4"),
        "Content-Type {ct:?}"
    );
    let text = r.text().await.expect("body");
    Exposition::parse(&text).unwrap_or_else(|e| panic!("unparsable exposition: {e}\n{text}"))
}

async fn scrape(srv: &TestServer) -> Exposition {
    scrape_url(&srv.http, &srv.metrics_url()).await
}

/// Scrapes until `ready` holds (at most 30 s).
async fn scrape_until(
    srv: &TestServer,
    what: &str,
    ready: impl Fn(&Exposition) -> bool,
) -> Exposition {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let m = scrape(srv).await;
        if ready(&m) {
            return m;
        }
        assert!(Instant::now() < deadline, "no {what} after 30 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn repo_file(path: &str) -> String {
    let full = format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("read {full}: {e}"))
}

// ---------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------

/// Getui calls (one a 404), native and Getui counts, device registrations (commits), a
/// smart-crowd plan and a refused native call; then every family, of its type, with the
/// labels this traffic gives it. The docs list every family the scrape has, and the
/// sample dashboard uses no other.
#[tokio::test]
async fn every_family_appears_after_matching_traffic() {
    let srv = TestServer::start().await;
    let app = srv.create_app().await;
    let app_id = s(&app["app_id"]).to_owned();
    let cids = srv
        .register(&app, Value::Array(devices(7, Some("hw"))))
        .await;
    assert_eq!(cids.len(), 7);

    let g = srv.getui(&app).await;
    let android =
        json!({ "tag": [{ "key": "phone_type", "values": ["android"], "opt_type": "or" }] });
    for _ in 0..3 {
        assert_eq!(
            g.post("/user/count", android.clone()).await.ok()["user_count"],
            7
        );
    }
    let missing = g.get("/user/no_such_route").await;
    assert_eq!(missing.status, 404, "{}", missing.body);
    let (st, body) = srv
        .native(&app)
        .post("/audience/count", json!({ "selector": { "all": true } }))
        .await;
    assert_eq!((st, &body["count"]), (StatusCode::OK, &json!(7)), "{body}");
    let sub_tasks = create(&g, plan("指标", vec![basketball()])).await;
    assert_eq!(sub_tasks.len(), 1);

    // A second app, whose native calls are all refused.
    let limited = srv.create_app().await;
    let (st, body) = srv
        .admin(
            Method::PUT,
            &format!(
                "/admin/v1/apps/{}/limits/native_request",
                s(&limited["app_id"])
            ),
            Some(json!({ "per_second": 0 })),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let (st, body) = srv
        .native(&limited)
        .post("/audience/count", json!({ "selector": { "all": true } }))
        .await;
    assert_eq!(st, StatusCode::TOO_MANY_REQUESTS, "{body}");

    // The job runs in the background: scrape until its duration is recorded.
    let m = scrape_until(&srv, "smart-crowd job duration", |m| {
        m.0.contains_key("roster_crowd_job_duration_seconds")
    })
    .await;

    // 1. Requests by dialect, method, route template and exact status; latencies.
    let count_route = "/v2/{app_id}/user/count";
    let requests = "roster_http_requests_total";
    let ok_counts = [
        ("dialect", "getui"),
        ("method", "POST"),
        ("route", count_route),
        ("status", "200"),
    ];
    assert!(m.sum(requests, "counter", requests, &ok_counts) >= 3.0);
    let not_found = [
        ("dialect", "getui"),
        ("method", "GET"),
        ("route", "unmatched"),
        ("status", "404"),
    ];
    assert!(m.sum(requests, "counter", requests, &not_found) >= 1.0);
    let refused = [
        ("dialect", "native"),
        ("route", "/api/v1/apps/{app_id}/audience/count"),
        ("status", "429"),
    ];
    assert!(m.sum(requests, "counter", requests, &refused) >= 1.0);
    for s in &m.family(requests, "counter").samples {
        assert!(
            s.labels["route"] == "unmatched" || s.labels["route"].starts_with('/'),
            "a route label that is no template: {s:?}"
        );
        assert!(s.labels["status"].parse::<u16>().is_ok(), "{s:?}");
    }
    let latency = "roster_http_request_duration_seconds";
    assert!(m.observed(latency, &[("dialect", "getui"), ("route", count_route)]) >= 3.0);
    assert!(m.observed(latency, &[("route", "unmatched")]) >= 1.0);

    // 2. Store commits and their group sizes (the registrations, the plan, the limit).
    assert!(
        m.observed(
            "roster_store_commit_duration_seconds",
            &[("backend", "sqlite")]
        ) >= 1.0
    );
    assert!(m.observed("roster_store_commit_group_size", &[("backend", "sqlite")]) >= 1.0);

    // 3. The audience index, per app.
    let devices_of = |app: &str| {
        m.samples(
            "roster_index_devices",
            "gauge",
            "roster_index_devices",
            &[("app", app)],
        )
        .first()
        .map(|s| s.value)
    };
    assert_eq!(devices_of(&app_id), Some(7.0));
    assert!(devices_of("_other").is_some());
    let bytes = m.samples(
        "roster_index_heap_bytes",
        "gauge",
        "roster_index_heap_bytes",
        &[("app", &app_id)],
    );
    assert!(bytes.first().is_some_and(|s| s.value > 0.0), "{bytes:?}");
    // (Unlabelled: every server of this process sets it, so only its presence is ours.)
    assert_eq!(
        m.samples("roster_index_apps", "gauge", "roster_index_apps", &[])
            .len(),
        1
    );

    // 4. Count latencies (three Getui counts and one native: two on the index, then
    // the same Getui count twice from the result cache), and the cache's own families.
    let counted = |engine| m.observed("roster_count_query_duration_seconds", &[("engine", engine)]);
    assert!(counted("index") >= 2.0);
    assert!(counted("cache") >= 2.0);
    let cache = |name: &str, kind| m.sum(name, kind, name, &[]);
    assert!(cache("roster_count_cache_hits_total", "counter") >= 2.0);
    assert!(cache("roster_count_cache_misses_total", "counter") >= 2.0);
    // (Unlabelled gauges every server of this process sets: only their presence is ours.)
    assert!(cache("roster_count_cache_entries", "gauge") >= 0.0);
    assert!(cache("roster_count_cache_bytes", "gauge") >= 0.0);
    assert!(cache("roster_count_cache_evictions_total", "counter") >= 0.0);

    // 5. Rate-limit refusals, every action present from the start.
    let refusals = "roster_rate_limit_refusals_total";
    assert!(
        m.sum(
            refusals,
            "counter",
            refusals,
            &[("action", "native_request")]
        ) >= 1.0
    );
    for action in roster_testkit::LIMIT_ACTIONS {
        assert_eq!(
            m.samples(refusals, "counter", refusals, &[("action", action)])
                .len(),
            1,
            "{action}"
        );
    }

    // 6. The job queue and job durations.
    for state in ["queued", "running"] {
        let jobs = m.samples(
            "roster_crowd_jobs",
            "gauge",
            "roster_crowd_jobs",
            &[("state", state)],
        );
        assert_eq!(jobs.len(), 1, "{state}");
    }
    let job_durations = "roster_crowd_job_duration_seconds";
    let outcomes: BTreeSet<&str> = m
        .family(job_durations, "histogram")
        .samples
        .iter()
        .map(|s| s.labels["outcome"].as_str())
        .collect();
    assert!(
        outcomes.is_subset(&BTreeSet::from([
            "succeeded",
            "timed_out",
            "failed",
            "released",
            "abandoned"
        ])),
        "{outcomes:?}"
    );
    assert!(m.observed(job_durations, &[]) >= 1.0);

    // 7. Change-log lag.
    let lag = m.samples(
        "roster_change_log_lag_seconds",
        "gauge",
        "roster_change_log_lag_seconds",
        &[],
    );
    assert!(lag.first().is_some_and(|s| s.value >= 0.0), "{lag:?}");

    // 8. Build info.
    let build = m.samples(
        "roster_build_info",
        "gauge",
        "roster_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
    );
    assert_eq!(build.len(), 1, "{build:?}");
    assert_eq!(build[0].value, 1.0);
    assert!(build[0].labels.contains_key("commit") && build[0].labels.contains_key("build_date"));

    // Latencies are histograms, never summaries.
    for (name, f) in &m.0 {
        assert_ne!(f.kind, "summary", "{name} is a summary");
    }

    // The metrics reference documents every family, and the dashboard uses no other.
    let doc = repo_file("docs/metrics.md");
    let ours: BTreeSet<&str> = m
        .names()
        .into_iter()
        .filter(|n| n.starts_with("roster_"))
        .collect();
    for name in &ours {
        assert!(
            doc.contains(&format!("`{name}`")),
            "docs/metrics.md does not list {name}"
        );
    }
    for name in dashboard_metric_names() {
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| {
                name.strip_suffix(suffix)
                    .filter(|b| m.0.get(*b).is_some_and(|f| f.kind == "histogram"))
            })
            .unwrap_or(&name);
        assert!(
            ours.contains(base),
            "the dashboard queries {name}, which the server does not export"
        );
    }
}

/// Apps beyond `metrics_app_labels` are summed under `app="_other"`: the largest get
/// the labels; an app keeps its label, and one created later waits for a free one.
#[tokio::test]
async fn apps_beyond_the_label_limit_are_summed_under_other() {
    let srv = TestServer::start_with_metrics(1, false).await;
    let big = srv.create_app().await;
    let small = srv.create_app().await;
    srv.register(&big, Value::Array(devices(3, None))).await;
    srv.register(&small, Value::Array(devices(1, None))).await;
    let labelled = |m: &Exposition, app: &Value| {
        m.samples(
            "roster_index_devices",
            "gauge",
            "roster_index_devices",
            &[("app", s(&app["app_id"]))],
        )
        .first()
        .map(|s| s.value)
    };
    let m = scrape(&srv).await;
    assert_eq!(labelled(&m, &big), Some(3.0));
    assert_eq!(labelled(&m, &small), None);
    let other = m.samples(
        "roster_index_devices",
        "gauge",
        "roster_index_devices",
        &[("app", "_other")],
    );
    assert_eq!(other.len(), 1);
    let bytes = m.samples(
        "roster_index_heap_bytes",
        "gauge",
        "roster_index_heap_bytes",
        &[("app", s(&small["app_id"]))],
    );
    assert!(bytes.is_empty(), "{bytes:?}");

    // A larger app created later still has no label: the one label is taken.
    let later = srv.create_app().await;
    srv.register(&later, Value::Array(devices(5, None))).await;
    srv.register(&big, Value::Array(devices(1, None))).await;
    let m = scrape(&srv).await;
    assert_eq!(labelled(&m, &big), Some(4.0));
    assert_eq!(labelled(&m, &small), None);
    assert_eq!(labelled(&m, &later), None);
}

/// With `metrics_listen`, `/metrics` answers on its own address only; that listener
/// starts and stops with the server.
#[tokio::test]
async fn metrics_on_their_own_address() {
    let mut srv =
        TestServer::start_with_metrics(roster_server::DEFAULT_METRICS_APP_LABELS, true).await;
    let metrics_base = srv.metrics_base.clone().expect("a metrics listener");
    assert_ne!(metrics_base, srv.base);
    let app = srv.create_app().await;
    srv.register(&app, Value::Array(devices(2, None))).await;

    let m = scrape(&srv).await;
    assert!(m.0.contains_key("roster_http_requests_total"));
    assert!(m.0.contains_key("roster_build_info"));
    let on_main = srv
        .http
        .get(format!("{}/metrics", srv.base))
        .send()
        .await
        .expect("main");
    assert_eq!(on_main.status(), StatusCode::NOT_FOUND);
    let body: Value = on_main.json().await.expect("native envelope");
    assert!(body.get("error").is_some(), "{body}");
    let elsewhere = srv
        .http
        .get(format!(
            "{metrics_base}/api/v1/apps/{}/devices",
            s(&app["app_id"])
        ))
        .send()
        .await
        .expect("other path");
    assert_eq!(elsewhere.status(), StatusCode::NOT_FOUND);
    let (st, _) = roster_testkit::send(
        roster_testkit::request(
            &srv.http,
            &metrics_base,
            Method::POST,
            "/metrics",
            As::Nobody,
        ),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::METHOD_NOT_ALLOWED);

    // Restarted, the server listens for metrics on a new port; the old one is closed.
    srv.restart().await;
    let new_base = srv.metrics_base.clone().expect("a metrics listener again");
    let m = scrape(&srv).await;
    assert!(m.0.contains_key("roster_build_info"));
    if new_base != metrics_base {
        let old = srv.http.get(format!("{metrics_base}/metrics")).send().await;
        assert!(old.is_err(), "the old metrics listener still answers");
    }
}

/// Two `roster` processes on one PostgreSQL database (each process its own recorder,
/// so the values are theirs alone): commits are measured with `backend="postgres"`,
/// one write each; the node that did not write indexes the other's devices through the
/// change log, and reports its lag, the job queue and its build.
#[tokio::test]
async fn postgres_nodes_measure_commits_and_follow_the_log() {
    let db = crate::support::database().await;
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_roster"));
    let (dir_a, dir_b) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let a = RosterProcess::start_with_store(bin, dir_a.path(), Some(db.url())).await;
    let b = RosterProcess::start_with_store(bin, dir_b.path(), Some(db.url())).await;
    let http = reqwest::Client::new();
    let app = create_app(&http, &a.base, ADMIN_TOKEN).await;
    let app_id = s(&app["app_id"]).to_owned();
    register(&http, &a.base, &app, Value::Array(devices(3, None))).await;

    let on_a = scrape_url(&http, &format!("{}/metrics", a.base)).await;
    let commits = "roster_store_commit_duration_seconds";
    assert!(on_a.observed(commits, &[("backend", "postgres")]) >= 2.0);
    assert!(on_a
        .0
        .get(commits)
        .is_some_and(|f| f.samples.iter().all(|s| s.labels["backend"] == "postgres")));
    let groups = "roster_store_commit_group_size";
    let carried = on_a.sum(
        groups,
        "histogram",
        &format!("{groups}_sum"),
        &[("backend", "postgres")],
    );
    let commits_seen = on_a.observed(groups, &[("backend", "postgres")]);
    assert!(commits_seen >= 2.0);
    assert_eq!(
        carried, commits_seen,
        "every PostgreSQL commit carries one write"
    );
    let devices_on = |m: &Exposition| {
        m.samples(
            "roster_index_devices",
            "gauge",
            "roster_index_devices",
            &[("app", &app_id)],
        )
        .first()
        .map(|s| s.value)
    };
    assert_eq!(devices_on(&on_a), Some(3.0));

    // B learns A's devices from the change log (polled every second at most).
    let deadline = Instant::now() + Duration::from_secs(30);
    let on_b = loop {
        let m = scrape_url(&http, &format!("{}/metrics", b.base)).await;
        if devices_on(&m) == Some(3.0) {
            break m;
        }
        assert!(
            Instant::now() < deadline,
            "node B never indexed node A's devices"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let lag = on_b.samples(
        "roster_change_log_lag_seconds",
        "gauge",
        "roster_change_log_lag_seconds",
        &[],
    );
    assert!(lag.first().is_some_and(|s| s.value >= 0.0), "{lag:?}");
    assert_eq!(
        on_b.sum("roster_crowd_jobs", "gauge", "roster_crowd_jobs", &[]),
        0.0
    );
    assert_eq!(
        on_b.sum("roster_index_apps", "gauge", "roster_index_apps", &[]),
        1.0
    );
    assert_eq!(
        on_b.samples("roster_build_info", "gauge", "roster_build_info", &[])
            .len(),
        1
    );
}

/// Every metric name the dashboard's PromQL uses.
fn dashboard_metric_names() -> BTreeSet<String> {
    let dashboard: Value =
        serde_json::from_str(&repo_file("docs/grafana-dashboard.json")).expect("dashboard JSON");
    let mut names = BTreeSet::new();
    for expr in exprs(&dashboard) {
        let mut rest = expr.as_str();
        while let Some(at) = rest.find("roster_") {
            let tail = &rest[at..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            names.insert(tail[..end].to_owned());
            rest = &tail[end..];
        }
    }
    names
}

/// The `expr` of every target of every panel (rows' panels included).
fn exprs(dashboard: &Value) -> Vec<String> {
    fn panels(v: &Value, out: &mut Vec<String>) {
        for p in v.as_array().into_iter().flatten() {
            for t in p["targets"].as_array().into_iter().flatten() {
                if let Some(e) = t["expr"].as_str() {
                    out.push(e.to_owned());
                }
            }
            panels(&p["panels"], out);
        }
    }
    let mut out = Vec::new();
    panels(&dashboard["panels"], &mut out);
    out
}

/// The sample dashboard is a Grafana dashboard: a title, a uid, a schema version, a
/// Prometheus data source variable, and panels that each have a title, a position and
/// PromQL targets; between them they chart what the metrics reference promises.
#[test]
fn grafana_dashboard_is_a_dashboard() {
    let d: Value =
        serde_json::from_str(&repo_file("docs/grafana-dashboard.json")).expect("dashboard JSON");
    assert!(d["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(d["uid"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(d["schemaVersion"].as_u64().is_some_and(|v| v >= 30));
    let vars = d["templating"]["list"].as_array().expect("templating");
    assert!(
        vars.iter()
            .any(|v| v["type"] == "datasource" && v["query"] == "prometheus"),
        "no Prometheus data source variable"
    );
    let panels = d["panels"].as_array().expect("panels");
    assert!(panels.len() >= 8);
    let mut ids = BTreeSet::new();
    for p in panels {
        assert!(
            ids.insert(p["id"].as_u64().expect("panel id")),
            "duplicate id: {p}"
        );
        assert!(p["title"].as_str().is_some_and(|t| !t.is_empty()), "{p}");
        for k in ["h", "w", "x", "y"] {
            assert!(p["gridPos"][k].as_u64().is_some(), "gridPos.{k}: {p}");
        }
        if p["type"] != "row" {
            let targets = p["targets"].as_array().expect("targets");
            assert!(!targets.is_empty(), "{p}");
            for t in targets {
                assert!(t["expr"].as_str().is_some_and(|e| !e.is_empty()), "{t}");
            }
        }
    }
    let all = exprs(&d).join("\n");
    for wanted in [
        "roster_http_requests_total",
        "histogram_quantile(0.99",
        "roster_http_request_duration_seconds_bucket",
        "status=~\"5..\"",
        "roster_store_commit_duration_seconds_bucket",
        "roster_index_heap_bytes",
        "roster_rate_limit_refusals_total",
        "roster_crowd_jobs",
        "roster_change_log_lag_seconds",
    ] {
        assert!(all.contains(wanted), "no panel queries {wanted}");
    }
}
