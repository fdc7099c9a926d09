//! Prometheus metrics: the process's one recorder (the `metrics` facade with its
//! Prometheus exporter), `GET /metrics`, and what the server records itself. The store
//! crates record theirs through the same facade (`roster_store::metric`). Every family
//! is listed in `docs/metrics.md`.
//!
//! Latencies are histograms with explicit buckets, never summaries. Labels have
//! bounded values: dialects, methods, route templates (never raw paths; `unmatched`
//! when no route matched), statuses, and app ids only for the first
//! [`DEFAULT_METRICS_APP_LABELS`] (by default) apps, the rest summed under
//! `app="_other"`.
//!
//! The gauges that describe state (the audience index, the job queue, the change-log
//! lag) are refreshed when `/metrics` is scraped, so they are as of the scrape.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use ::metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, Unit};
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};
use roster_core::time::Clock;
use roster_core::AppId;
use roster_edge::{Dialect, Refusal};
use roster_store::{metric, AppStats, Store};

use crate::jobs::Outcome;

/// How many apps get their own `app` label on the per-app gauges by default.
pub const DEFAULT_METRICS_APP_LABELS: usize = 100;

/// Counter, by `dialect`, `method`, `route`, `status`: requests answered.
pub const HTTP_REQUESTS: &str = "roster_http_requests_total";
/// Histogram, seconds, by `dialect`, `method`, `route`: from the request's arrival to
/// the end of its response body.
pub const HTTP_DURATION: &str = "roster_http_request_duration_seconds";
/// Gauge, bytes, by `app`: approximate heap bytes of the app's audience index.
pub const INDEX_BYTES: &str = "roster_index_heap_bytes";
/// Gauge, by `app`: devices in the app's audience index.
pub const INDEX_DEVICES: &str = "roster_index_devices";
/// Gauge: apps in this node's audience index.
pub const INDEX_APPS: &str = "roster_index_apps";
/// Gauge, by `state` (`queued`, `running`): smart-crowd jobs in the store's queue.
pub const CROWD_JOBS: &str = "roster_crowd_jobs";
/// Histogram, seconds, by `outcome`: one runner's turn with a smart-crowd job.
pub const CROWD_JOB_DURATION: &str = "roster_crowd_job_duration_seconds";
/// Gauge, seconds: how far behind the store this node's audience index is (its
/// most-behind app).
pub const CHANGE_LOG_LAG: &str = "roster_change_log_lag_seconds";
/// Gauge, always 1, by `version`, `commit`, `build_date`.
pub const BUILD_INFO: &str = "roster_build_info";

/// The `app` label of every app beyond the labelled ones.
pub const OTHER_APPS: &str = "_other";
/// The `route` label of a request no route matched.
pub const UNMATCHED: &str = "unmatched";

/// The `Content-Type` of the text exposition format.
pub const CONTENT_TYPE_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Request latencies: 0.5 ms to 30 s.
const HTTP_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Commits: 0.1 ms (a cached fsync) to 2.5 s.
const COMMIT_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];
/// Writes per commit: powers of two up to SQLite's largest group (256).
const GROUP_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];
/// Counts: 10 µs (an index count) to 2.5 s (a SQL count over a large app).
const COUNT_BUCKETS: &[f64] = &[
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1.0, 2.5,
];
/// Smart-crowd jobs: 100 ms to an hour (the default time limit is 30 minutes).
const JOB_BUCKETS: &[f64] = &[
    0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0,
];

/// How long a scrape waits for the store (job queue, change-log lag) before it answers
/// with the values of the last scrape.
const STORE_WAIT: Duration = Duration::from_secs(2);
/// How often the exporter drains histogram samples between scrapes.
const UPKEEP: Duration = Duration::from_secs(5);

/// The process's recorder, installed on first use; every server of the process
/// renders it.
fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let handle = match builder().map(PrometheusBuilder::install_recorder) {
            Ok(Ok(handle)) => handle,
            Ok(Err(e)) | Err(e) => {
                // Another recorder was installed first (an embedding program's): this
                // one renders what it is given, which is nothing.
                tracing::warn!(error = %e, "cannot install the Prometheus recorder; /metrics stays empty");
                PrometheusBuilder::new().build_recorder().handle()
            }
        };
        describe();
        let upkeep = handle.clone();
        let spawned = std::thread::Builder::new()
            .name("roster-metrics".into())
            .spawn(move || loop {
                std::thread::sleep(UPKEEP);
                upkeep.run_upkeep();
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start the metrics upkeep thread; histograms drain at scrapes only");
        }
        handle
    })
}

fn builder() -> Result<PrometheusBuilder, BuildError> {
    let full = |name: &str| Matcher::Full(name.to_owned());
    PrometheusBuilder::new()
        // Any histogram without its own buckets is still a histogram.
        .set_buckets(HTTP_BUCKETS)?
        .set_buckets_for_metric(full(HTTP_DURATION), HTTP_BUCKETS)?
        .set_buckets_for_metric(full(metric::COMMIT_DURATION), COMMIT_BUCKETS)?
        .set_buckets_for_metric(full(metric::COMMIT_GROUP_SIZE), GROUP_BUCKETS)?
        .set_buckets_for_metric(full(metric::COUNT_DURATION), COUNT_BUCKETS)?
        .set_buckets_for_metric(full(CROWD_JOB_DURATION), JOB_BUCKETS)
}

/// Every family's help line, and the series that exist from the start: the build info
/// and a zero refusal count per rate-limited action.
fn describe() {
    describe_counter!(
        HTTP_REQUESTS,
        "Requests answered, by dialect, method, route template (\"unmatched\" when no route matched) and exact HTTP status."
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "Request latency, from arrival to the end of the response body, by dialect, method and route template."
    );
    describe_histogram!(
        metric::COMMIT_DURATION,
        Unit::Seconds,
        "Duration of one store COMMIT (SQLite: a group's, with its fsync; PostgreSQL: one write transaction's), by backend."
    );
    describe_histogram!(
        metric::COMMIT_GROUP_SIZE,
        Unit::Count,
        "Writes carried by one store commit (SQLite group commit; always 1 on PostgreSQL), by backend."
    );
    describe_histogram!(
        metric::COUNT_DURATION,
        Unit::Seconds,
        "Audience count latency, by engine (index, sql, scan for a crowd selector without an index, or cache for a count the result cache answered)."
    );
    describe_counter!(
        metric::COUNT_CACHE_HITS,
        "Audience counts answered from the result cache."
    );
    describe_counter!(
        metric::COUNT_CACHE_MISSES,
        "Cacheable audience counts the result cache did not hold (evaluated, then kept)."
    );
    describe_counter!(
        metric::COUNT_CACHE_EVICTIONS,
        "Entries the result cache of counts dropped to stay within index.count_cache_bytes."
    );
    describe_gauge!(
        metric::COUNT_CACHE_ENTRIES,
        Unit::Count,
        "Counts the result cache holds."
    );
    describe_gauge!(
        metric::COUNT_CACHE_BYTES,
        Unit::Bytes,
        "Bytes the result cache's entries take, keys included, as counted against index.count_cache_bytes."
    );
    for name in [
        metric::COUNT_CACHE_HITS,
        metric::COUNT_CACHE_MISSES,
        metric::COUNT_CACHE_EVICTIONS,
    ] {
        counter!(name).increment(0);
    }
    describe_counter!(
        metric::RATE_LIMIT_REFUSALS,
        "Calls refused by this node's rate limiter, by action."
    );
    describe_counter!(
        metric::QUOTA_STORE_FAILURES,
        "Rate-limit settings reads (what=settings) or daily quota counts (what=daily) that failed in the store."
    );
    describe_gauge!(
        INDEX_BYTES,
        Unit::Bytes,
        "Approximate heap bytes of the audience index, by app (apps beyond the labelled ones summed under app=\"_other\")."
    );
    describe_gauge!(
        INDEX_DEVICES,
        Unit::Count,
        "Devices in the audience index, by app (apps beyond the labelled ones summed under app=\"_other\")."
    );
    describe_gauge!(
        INDEX_APPS,
        Unit::Count,
        "Apps in this node's audience index."
    );
    describe_gauge!(
        CROWD_JOBS,
        Unit::Count,
        "Smart-crowd jobs in the store's queue, every node's, by state (queued, running)."
    );
    describe_histogram!(
        CROWD_JOB_DURATION,
        Unit::Seconds,
        "One runner's turn with a smart-crowd job, from claim to end, by outcome (succeeded, timed_out, failed, released, abandoned)."
    );
    describe_gauge!(
        CHANGE_LOG_LAG,
        Unit::Seconds,
        "How far this node's audience index is behind the store's change log: the age of the oldest change not yet applied, over every app."
    );
    describe_gauge!(BUILD_INFO, "Always 1; the labels say which roster this is.");
    gauge!(
        BUILD_INFO,
        "version" => crate::build::VERSION,
        "commit" => crate::build::COMMIT,
        "build_date" => crate::build::BUILD_DATE,
    )
    .set(1.0);
    for action in roster_core::quota::Action::ALL {
        counter!(metric::RATE_LIMIT_REFUSALS, "action" => action.as_str()).increment(0);
    }
}

/// The method label: the standard methods by name, anything else `other` (a client
/// can send any token as a method).
fn method_label(method: &str) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
    ];
    KNOWN.into_iter().find(|m| *m == method).unwrap_or("other")
}

/// Counts one answered request and its latency (called as its access-log line is
/// written). `route` is the matched template, empty when no route matched.
pub(crate) fn record_request(
    dialect: Dialect,
    method: &str,
    route: &str,
    status: StatusCode,
    elapsed: Duration,
) {
    let route = if route.is_empty() {
        UNMATCHED.to_owned()
    } else {
        route.to_owned()
    };
    let method = method_label(method);
    counter!(
        HTTP_REQUESTS,
        "dialect" => dialect.as_str(),
        "method" => method,
        "route" => route.clone(),
        "status" => status.as_u16().to_string(),
    )
    .increment(1);
    ::metrics::histogram!(
        HTTP_DURATION,
        "dialect" => dialect.as_str(),
        "method" => method,
        "route" => route,
    )
    .record(elapsed.as_secs_f64());
}

/// Records how one runner's turn with a smart-crowd job ended.
pub(crate) fn crowd_job_ended(outcome: Outcome, elapsed: Duration) {
    ::metrics::histogram!(CROWD_JOB_DURATION, "outcome" => outcome.as_str())
        .record(elapsed.as_secs_f64());
}

/// What `GET /metrics` of one server reads: its store, and which apps it labels.
#[derive(Clone)]
pub(crate) struct Exporter {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    clock: Clock,
    /// At most this many apps get their own label.
    app_labels: usize,
    /// The apps labelled so far: an app keeps its label while the server runs, so no
    /// series goes stale and at most `app_labels` ever exist.
    labelled: Mutex<HashSet<AppId>>,
}

impl Exporter {
    /// The exporter of a server over `store`; installs the process's recorder if no
    /// server has yet.
    pub(crate) fn new(store: Arc<dyn Store>, clock: Clock, app_labels: usize) -> Self {
        handle();
        Exporter {
            inner: Arc::new(Inner {
                store,
                clock,
                app_labels,
                labelled: Mutex::new(HashSet::new()),
            }),
        }
    }

    /// `GET /metrics` (any other method: the native 405).
    pub(crate) fn router(self) -> Router {
        Router::new().route(
            "/metrics",
            get(move || scrape(self.clone())).fallback(|| async {
                crate::edge::refusal(Dialect::Native, Refusal::MethodNotAllowed)
            }),
        )
    }

    /// Sets the gauges of the audience index, the job queue and the change-log lag.
    async fn refresh(&self) {
        if let Some(stats) = self.inner.store.index_stats() {
            self.index_gauges(stats);
        }
        if tokio::time::timeout(STORE_WAIT, self.store_gauges())
            .await
            .is_err()
        {
            tracing::debug!(
                "the store was slow to answer a scrape; its gauges keep their last values"
            );
        }
    }

    fn index_gauges(&self, stats: Vec<AppStats>) {
        let mut labelled = self
            .inner
            .labelled
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let free = self.inner.app_labels.saturating_sub(labelled.len());
        if free > 0 {
            // Free labels go to the largest apps without one.
            let mut unlabelled: Vec<&AppStats> = stats
                .iter()
                .filter(|s| s.app.as_str() != OTHER_APPS && !labelled.contains(&s.app))
                .collect();
            unlabelled.sort_by(|a, b| {
                (b.devices, b.heap_bytes)
                    .cmp(&(a.devices, a.heap_bytes))
                    .then_with(|| a.app.cmp(&b.app))
            });
            labelled.extend(unlabelled.into_iter().take(free).map(|s| s.app.clone()));
        }
        let (mut other_devices, mut other_bytes) = (0u64, 0usize);
        for s in &stats {
            if labelled.contains(&s.app) {
                let app = s.app.to_string();
                gauge!(INDEX_DEVICES, "app" => app.clone()).set(s.devices as f64);
                gauge!(INDEX_BYTES, "app" => app).set(s.heap_bytes as f64);
            } else {
                other_devices += s.devices;
                other_bytes += s.heap_bytes;
            }
        }
        gauge!(INDEX_DEVICES, "app" => OTHER_APPS).set(other_devices as f64);
        gauge!(INDEX_BYTES, "app" => OTHER_APPS).set(other_bytes as f64);
        gauge!(INDEX_APPS).set(stats.len() as f64);
    }

    async fn store_gauges(&self) {
        let store = &self.inner.store;
        match store.node_progress((self.inner.clock)()).await {
            Ok(progress) => {
                let lag_ms = progress.apps.iter().map(|a| a.lag_ms).max().unwrap_or(0);
                gauge!(CHANGE_LOG_LAG).set(lag_ms as f64 / 1000.0);
            }
            Err(e) => tracing::debug!(error = %e, "cannot read the node's progress for /metrics"),
        }
        match store.crowd_job_counts().await {
            Ok(jobs) => {
                gauge!(CROWD_JOBS, "state" => "queued").set(jobs.queued as f64);
                gauge!(CROWD_JOBS, "state" => "running").set(jobs.running as f64);
            }
            Err(e) => tracing::debug!(error = %e, "cannot count the smart-crowd jobs for /metrics"),
        }
    }
}

/// `GET /metrics`: refreshes the state gauges, then renders every family.
async fn scrape(exporter: Exporter) -> Response {
    exporter.refresh().await;
    let body = handle().render();
    ([(CONTENT_TYPE, CONTENT_TYPE_TEXT)], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_methods_share_one_label() {
        assert_eq!(method_label("GET"), "GET");
        assert_eq!(method_label("DELETE"), "DELETE");
        for odd in ["get", "PURGE", "M-SEARCH", "FOO_BAR", ""] {
            assert_eq!(method_label(odd), "other");
        }
    }

    #[test]
    fn every_histogram_has_increasing_buckets() {
        for buckets in [
            HTTP_BUCKETS,
            COMMIT_BUCKETS,
            GROUP_BUCKETS,
            COUNT_BUCKETS,
            JOB_BUCKETS,
        ] {
            assert!(buckets.windows(2).all(|w| w[0] < w[1]), "{buckets:?}");
        }
        assert!(builder().is_ok());
    }
}
