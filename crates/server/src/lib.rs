//! The roster server: configuration, wiring of store and dialects, the router.
//! Only this crate names a concrete store backend.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use axum::extract::{DefaultBodyLimit, Request};
use axum::routing::get;
use axum::{Json, Router};
use roster_api_getui::GetuiState;
use roster_api_native::NativeState;
use roster_core::time::Clock;
use roster_core::{AppCredentials, NewApp};
use roster_edge::{Dialect, Refusal};
use roster_store::{Registry, Store};
use roster_store_postgres::PgStore;
use roster_store_sqlite::SqliteStore;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tower::Layer;
use tower_http::compression::predicate::{DefaultPredicate, Predicate};
use tower_http::compression::CompressionLayer;
use tower_http::decompression::RequestDecompressionLayer;
use tower_http::normalize_path::NormalizePathLayer;

pub mod app_cli;
mod boot;
pub mod build;
pub mod config;
mod edge;
mod jobs;
mod metrics;
mod tail;

pub use edge::EdgeLimits;
pub use jobs::DEFAULT_CROWD_TIMEOUT;
pub use metrics::DEFAULT_METRICS_APP_LABELS;
pub use roster_store::DEFAULT_COUNT_CACHE_BYTES;

/// Where roster keeps its data and where it listens.
#[derive(Clone)]
pub struct Settings {
    /// Listen address, e.g. `127.0.0.1:8080`.
    pub listen: String,
    /// Data directory (embedded store, generated admin token).
    pub data_dir: PathBuf,
    /// Store URL; `None` is the embedded store in `data_dir`.
    pub store: Option<String>,
    /// Admin token; `None` generates one on first start and keeps it in `data_dir`.
    pub admin_token: Option<String>,
    /// Timeouts and limits of the HTTP edge.
    pub edge: EdgeLimits,
    /// How long the change log keeps a change (`ROSTER_CHANGES_RETENTION`).
    pub changes_retention: Duration,
    /// How long one smart-crowd job may run (`ROSTER_CROWD_TIMEOUT`).
    pub crowd_timeout: Duration,
    /// The day boundary (IANA zone) of apps that set none.
    pub time_zone: String,
    /// Where `GET /metrics` is served: `None` on the main listener, else on a second
    /// listener at this address only (and not on the main one).
    pub metrics_listen: Option<String>,
    /// How many apps get their own `app` label on the per-app metrics; the others are
    /// summed under `app="_other"` ([`DEFAULT_METRICS_APP_LABELS`]).
    pub metrics_app_labels: usize,
    /// Room of the result cache of audience counts, bytes; 0 turns it off
    /// ([`roster_store::DEFAULT_COUNT_CACHE_BYTES`] by default).
    pub count_cache_bytes: u64,
}

/// The change log's default retention: 7 days.
pub const DEFAULT_CHANGES_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

// The admin token never reaches logs through Debug.
impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("store", &self.store.as_ref().map(|_| "<set>"))
            .field(
                "admin_token",
                &self.admin_token.as_ref().map(|_| "<redacted>"),
            )
            .field("edge", &self.edge)
            .field("changes_retention", &self.changes_retention)
            .field("crowd_timeout", &self.crowd_timeout)
            .field("time_zone", &self.time_zone)
            .field("metrics_listen", &self.metrics_listen)
            .field("metrics_app_labels", &self.metrics_app_labels)
            .field("count_cache_bytes", &self.count_cache_bytes)
            .finish()
    }
}

/// The store a `--store` URL names.
pub enum StoreChoice {
    /// The embedded store (a file).
    Sqlite(Arc<SqliteStore>),
    /// PostgreSQL, shared by every node.
    Postgres(Arc<PgStore>),
}

/// Opens the store the settings name, without an audience index (for the CLI).
pub async fn open_store(settings: &Settings) -> anyhow::Result<StoreChoice> {
    if let Some(url) = settings
        .store
        .as_deref()
        .filter(|u| u.starts_with("postgres://") || u.starts_with("postgresql://"))
    {
        let store = PgStore::open(url)
            .await
            .map_err(|e| anyhow::anyhow!("open postgres store: {e}"))?;
        return Ok(StoreChoice::Postgres(Arc::new(store)));
    }
    open_sqlite(settings).map(StoreChoice::Sqlite)
}

fn open_sqlite(settings: &Settings) -> anyhow::Result<Arc<SqliteStore>> {
    match settings.store.as_deref() {
        None => {
            let store = SqliteStore::open_in_dir(&settings.data_dir)
                .with_context(|| format!("open store in {}", settings.data_dir.display()))?;
            Ok(Arc::new(store))
        }
        Some(url) if url.starts_with("sqlite:") => {
            let path = url
                .trim_start_matches("sqlite://")
                .trim_start_matches("sqlite:");
            if let Some(parent) = Path::new(path)
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
            {
                std::fs::create_dir_all(parent).context("create store directory")?;
            }
            Ok(Arc::new(
                SqliteStore::open(path).context("open sqlite store")?,
            ))
        }
        Some(_) => bail!("unsupported --store URL: use sqlite:PATH or postgres://…"),
    }
}

/// Opens the store (applying its migrations) and, on PostgreSQL, starts listening for
/// other nodes' commits before any index is built, so that nothing committed in
/// between is missed: the first wake-up catches it up.
async fn open_listening(settings: &Settings) -> anyhow::Result<(StoreChoice, Arc<Notify>)> {
    let wake = Arc::new(Notify::new());
    let choice = open_store(settings).await?;
    if let StoreChoice::Postgres(store) = &choice {
        store.listen(wake.clone());
    }
    Ok((choice, wake))
}

/// Builds the audience index over an opened store, with a count cache of
/// `cache_bytes`.
async fn index_node(choice: &StoreChoice, cache_bytes: u64) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match choice {
        StoreChoice::Sqlite(store) => Arc::new(indexed(store.clone(), cache_bytes).await?),
        StoreChoice::Postgres(store) => Arc::new(indexed(store.clone(), cache_bytes).await?),
    })
}

async fn indexed<B: roster_store::Backend>(
    store: Arc<B>,
    cache_bytes: u64,
) -> anyhow::Result<Registry<B>> {
    let (indexed, _) = Registry::indexed(store)
        .await
        .map_err(|e| anyhow::anyhow!("build audience index: {e}"))?;
    indexed.set_count_cache_bytes(cache_bytes);
    Ok(indexed)
}

/// The store as the CLI uses it: no audience index (counts in SQL), nothing to follow.
/// The store of `settings` for a CLI command: no audience index, counts in SQL.
pub async fn open_cli_store(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match open_store(settings).await? {
        StoreChoice::Sqlite(s) => Arc::new(Registry::new(s)),
        StoreChoice::Postgres(s) => Arc::new(Registry::new(s)),
    })
}

/// Prints `app`'s changes after `after` to stdout as NDJSON, page by page (the CLI's
/// `changes`); with `follow`, keeps looking for new ones every 100 ms until stopped.
pub async fn print_changes(
    settings: &Settings,
    app: &roster_core::AppId,
    mut after: u64,
    follow: bool,
) -> anyhow::Result<()> {
    use roster_store::changes::ChangePage;
    use std::io::Write as _;
    let store = open_cli_store(settings).await?;
    loop {
        let page = store
            .changes(app, after, 10_000)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        match page {
            ChangePage::Gone { oldest } => {
                bail!("changes after seq {after} were pruned; the oldest seq held is {oldest}")
            }
            ChangePage::Lines { text, last, .. } if !text.is_empty() => {
                let mut out = std::io::stdout().lock();
                out.write_all(text.as_bytes())?;
                out.flush()?;
                after = last;
            }
            ChangePage::Lines { .. } if follow => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            ChangePage::Lines { .. } => return Ok(()),
        }
    }
}

/// Creates an app directly in the store (the CLI's `app create`).
pub async fn create_app(settings: &Settings, name: &str) -> anyhow::Result<AppCredentials> {
    let store = open_cli_store(settings).await?;
    let app = NewApp::new(name, roster_core::time::now_ms()).map_err(|e| anyhow::anyhow!("{e}"))?;
    store
        .create_app(&app)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(app.credentials)
}

/// The embedded store's file of `settings`, and whether a restore needs its directory
/// empty (the data directory) or only the file absent (`--store sqlite:PATH`).
fn sqlite_file(settings: &Settings) -> anyhow::Result<(PathBuf, bool)> {
    match settings.store.as_deref() {
        None => Ok((
            roster_store_sqlite::backup::store_file(&settings.data_dir),
            true,
        )),
        Some(url) if url.starts_with("sqlite:") => Ok((
            PathBuf::from(
                url.trim_start_matches("sqlite://")
                    .trim_start_matches("sqlite:"),
            ),
            false,
        )),
        Some(_) => bail!(
            "backup and restore are for the embedded store; back PostgreSQL up with pg_dump \
             (see docs/operating.md)"
        ),
    }
}

/// `roster backup --to FILE`: a consistent copy of the embedded store, made while the
/// server may be running; its size in bytes.
pub fn backup(settings: &Settings, to: &Path) -> anyhow::Result<u64> {
    let (db, _) = sqlite_file(settings)?;
    Ok(roster_store_sqlite::backup::backup(&db, to)?)
}

/// `roster restore --from FILE`: the backup becomes the embedded store, in an empty or
/// missing data directory.
pub fn restore(settings: &Settings, from: &Path) -> anyhow::Result<()> {
    let (db, dir_must_be_empty) = sqlite_file(settings)?;
    Ok(roster_store_sqlite::backup::restore(
        from,
        &db,
        dir_must_be_empty,
    )?)
}

/// What `roster limits set` changes: one action's windows and/or the day boundary.
#[derive(Debug, Default)]
pub struct LimitsChange {
    /// The action whose windows change, with the changes.
    pub action: Option<(
        roster_core::quota::Action,
        roster_api_native::limits::LimitsIn,
    )>,
    /// A new IANA time zone.
    pub time_zone: Option<String>,
}

/// An app's limits as the store holds them (the CLI's `limits show`); the sliding
/// windows live in each node's memory and show `null`.
pub async fn limits_report(
    settings: &Settings,
    app: &roster_core::AppId,
) -> anyhow::Result<serde_json::Value> {
    let store = open_cli_store(settings).await?;
    entry_or_report(settings, store.as_ref(), app, None).await
}

/// Changes an app's limits in the store (the CLI's `limits set`), in force on every
/// node within a second; answers the report (or the changed action's entry).
pub async fn limits_set(
    settings: &Settings,
    app: &roster_core::AppId,
    change: &LimitsChange,
) -> anyhow::Result<serde_json::Value> {
    use roster_api_native::limits;
    let store = open_cli_store(settings).await?;
    let fail = |e: roster_core::Error| anyhow::anyhow!("{e}");
    if let Some(zone) = &change.time_zone {
        limits::set_time_zone(store.as_ref(), app, zone)
            .await
            .map_err(fail)?;
    }
    if let Some((action, windows)) = &change.action {
        limits::set(store.as_ref(), app, *action, windows)
            .await
            .map_err(fail)?;
    }
    entry_or_report(
        settings,
        store.as_ref(),
        app,
        change.action.as_ref().map(|a| a.0),
    )
    .await
}

/// Restores an action's vendor values (the CLI's `limits reset`).
pub async fn limits_reset(
    settings: &Settings,
    app: &roster_core::AppId,
    action: roster_core::quota::Action,
) -> anyhow::Result<serde_json::Value> {
    let store = open_cli_store(settings).await?;
    roster_api_native::limits::reset(store.as_ref(), app, action)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    entry_or_report(settings, store.as_ref(), app, Some(action)).await
}

async fn entry_or_report(
    settings: &Settings,
    store: &dyn Store,
    app: &roster_core::AppId,
    action: Option<roster_core::quota::Action>,
) -> anyhow::Result<serde_json::Value> {
    use roster_api_native::limits::{self, View};
    let fail = |e: roster_core::Error| anyhow::anyhow!("{e}");
    let view = View::Store(roster_core::quota::time_zone(&settings.time_zone).map_err(fail)?);
    Ok(match action {
        Some(action) => serde_json::to_value(
            limits::action_report(store, view, app, action)
                .await
                .map_err(fail)?,
        )?,
        None => serde_json::to_value(limits::report(store, view, app).await.map_err(fail)?)?,
    })
}

/// `url` with any password replaced, for messages and `config show`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// The admin token: from settings, else from `data_dir/admin-token`, else a new one
/// written there (mode 0600) and printed once on stdout.
fn admin_token(settings: &Settings) -> anyhow::Result<String> {
    if let Some(t) = settings
        .admin_token
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        return Ok(t.to_owned());
    }
    let path = settings.data_dir.join("admin-token");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let existing = existing.trim();
        if !existing.is_empty() {
            return Ok(existing.to_owned());
        }
    }
    std::fs::create_dir_all(&settings.data_dir).context("create data dir")?;
    let token = roster_core::ids::random_hex(32);
    write_private(&path, &token).context("write admin token")?;
    println!(
        "roster: generated admin token {token} (kept in {})",
        path.display()
    );
    Ok(token)
}

#[cfg(unix)]
fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(content.as_bytes())?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    std::fs::write(path, content)
}

pub(crate) async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// Unknown routes answer in the envelope of the dialect whose path prefix owns them.
async fn fallback(req: Request) -> axum::response::Response {
    edge::refusal(Dialect::of_path(req.uri().path()), Refusal::NotFound)
}

pub(crate) async fn healthz_method_not_allowed() -> axum::response::Response {
    edge::refusal(Dialect::Native, Refusal::MethodNotAllowed)
}

/// The whole HTTP surface over one store, with the edge's default limits.
pub fn router(store: Arc<dyn Store>, clock: Clock, admin_token: String) -> Router {
    router_with(
        store,
        clock,
        admin_token,
        &EdgeLimits::default(),
        chrono_tz::Asia::Shanghai,
    )
}

/// The whole HTTP surface over one store, `GET /metrics` included.
pub fn router_with(
    store: Arc<dyn Store>,
    clock: Clock,
    admin_token: String,
    limits: &EdgeLimits,
    time_zone: chrono_tz::Tz,
) -> Router {
    let exporter = metrics::Exporter::new(store.clone(), clock.clone(), DEFAULT_METRICS_APP_LABELS);
    routes(store, clock, admin_token, limits, time_zone, Some(exporter))
}

/// The whole HTTP surface over one store; `GET /metrics` only with an exporter (none
/// when metrics have their own listener).
fn routes(
    store: Arc<dyn Store>,
    clock: Clock,
    admin_token: String,
    limits: &EdgeLimits,
    time_zone: chrono_tz::Tz,
    metrics: Option<metrics::Exporter>,
) -> Router {
    // One limiter per node: every dialect counts against the same windows.
    let limiter = Arc::new(roster_store::quota::Limiter::new(
        store.clone(),
        clock.clone(),
        time_zone,
    ));
    let getui = roster_api_getui::router(GetuiState {
        store: store.clone(),
        quota: limiter.clone(),
        clock: clock.clone(),
        tokens: Arc::default(),
    });
    let jiguang = roster_api_jiguang::JiguangState {
        store: store.clone(),
        quota: limiter.clone(),
        clock: clock.clone(),
    };
    let ums = roster_api_jiguang::ums_router(jiguang.clone());
    let growth = roster_api_jiguang::growth_router(jiguang);
    let engagelab = roster_api_engagelab::router(roster_api_engagelab::EngagelabState {
        store: store.clone(),
        quota: limiter.clone(),
        clock: clock.clone(),
    });
    let native = roster_api_native::router(NativeState {
        store,
        clock,
        admin_token: admin_token.into(),
        limiter,
    });
    Router::new()
        .route(
            "/healthz",
            get(healthz).fallback(healthz_method_not_allowed),
        )
        .merge(metrics.map(metrics::Exporter::router).unwrap_or_default())
        .merge(native)
        .merge(getui)
        .merge(ums)
        .merge(growth)
        .merge(engagelab)
        .fallback(fallback)
        .layer(axum::middleware::from_fn(edge::guard::route_info))
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .layer(
            CompressionLayer::new().compress_when(DefaultPredicate::new().and(
                |_: axum::http::StatusCode,
                 _: axum::http::Version,
                 _: &axum::http::HeaderMap,
                 ext: &axum::http::Extensions| {
                    ext.get::<roster_edge::Unbuffered>().is_none()
                },
            )),
        )
        .layer(RequestDecompressionLayer::new())
}

/// The router of a separate metrics listener: `GET /metrics`, and the native 404 for
/// anything else.
fn metrics_only(exporter: metrics::Exporter) -> Router {
    exporter
        .router()
        .fallback(fallback)
        .layer(axum::middleware::from_fn(edge::guard::route_info))
}

/// The router as served: trailing slashes trimmed, everything inside the edge guard,
/// and outside it the 503 of connections over the cap.
fn service(router: Router) -> Router {
    let app = NormalizePathLayer::trim_trailing_slash().layer(router);
    Router::new()
        .fallback_service(app)
        .layer(axum::middleware::from_fn(edge::guard::guard))
        .layer(axum::middleware::from_fn(edge::conn::busy_gate))
}

/// A started server.
pub struct Running {
    /// The bound address.
    pub addr: SocketAddr,
    /// The admin token in force.
    pub admin_token: String,
    /// The bound address of the separate metrics listener, when there is one.
    pub metrics_addr: Option<SocketAddr>,
    shutdown: Option<watch::Sender<bool>>,
    task: JoinHandle<std::io::Result<()>>,
    metrics_task: Option<JoinHandle<std::io::Result<()>>>,
    jobs: Option<JoinHandle<()>>,
    boot: boot::Boot,
}

/// How long a stopping server waits for its job runner to hand its job back.
const JOBS_GRACE: Duration = Duration::from_secs(5);

impl Running {
    /// Stops accepting, finishes in-flight requests, and waits.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(true);
        }
        (&mut self.task).await.context("server task")??;
        if let Some(metrics) = self.metrics_task.take() {
            metrics.await.context("metrics listener task")??;
        }
        if let Some(jobs) = self.jobs.take() {
            let _ = tokio::time::timeout(JOBS_GRACE, jobs).await;
        }
        Ok(())
    }

    /// Waits until the node is ready to serve (its audience index is built).
    pub async fn ready(&self) {
        while !self.boot.is_ready() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until the server ends (it ends only when stopped or on an I/O error).
    pub async fn wait(&mut self) -> anyhow::Result<()> {
        let served = (&mut self.task).await.context("server task");
        if let Some(metrics) = self.metrics_task.take() {
            // The metrics listener ends with the server; it never outlives it.
            metrics.abort();
        }
        served??;
        Ok(())
    }

    /// Asks the server to stop without waiting.
    pub fn trigger_stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(true);
        }
    }
}

/// Opens the store, binds the listener and serves until stopped. The address is bound
/// before an admin token is generated, so a busy port does not print a token that was
/// never used.
pub async fn start(settings: &Settings, clock: Clock) -> anyhow::Result<Running> {
    start_wrapped(settings, clock, |app| app).await
}

/// Like [`start`], with `wrap` applied around the whole served router, outside the
/// edge guard and the connection cap's 503, so it sees every reply exactly as a client
/// does, but for the HTTP parser's own refusals (400/414/431), written before there is
/// a request (the test kit uses it to check replies against the OpenAPI document).
pub async fn start_wrapped(
    settings: &Settings,
    clock: Clock,
    wrap: impl FnOnce(Router) -> Router,
) -> anyhow::Result<Running> {
    let zone = roster_core::quota::time_zone(&settings.time_zone)
        .map_err(|_| anyhow::anyhow!("{:?} is not an IANA time zone", settings.time_zone))?;
    let listener = bind(&settings.listen).await?;
    let metrics_listener = match &settings.metrics_listen {
        Some(addr) => Some(bind(addr).await?),
        None => None,
    };
    let admin_token = admin_token(settings)?;
    // Migrations are applied here: a store that cannot be opened fails the start.
    let (choice, wake) = open_listening(settings).await?;
    let boot = boot::Boot::new(clock.clone());
    let ready = boot.clone();
    let app = wrap(service(boot.router()));
    let addr = listener.local_addr()?;
    let (tx, rx) = watch::channel(false);
    let task = tokio::spawn(edge::conn::serve(
        listener,
        app,
        settings.edge.clone(),
        rx.clone(),
    ));
    // Metrics on their own address: served from the start, ready with the node.
    let metrics_boot = boot::Boot::new(clock.clone());
    let metrics_addr = match &metrics_listener {
        Some(l) => Some(l.local_addr()?),
        None => None,
    };
    let metrics_task = metrics_listener.map(|l| {
        tokio::spawn(edge::conn::serve(
            l,
            service(metrics_boot.router()),
            settings.edge.clone(),
            rx.clone(),
        ))
    });
    match metrics_addr {
        Some(metrics) => {
            tracing::info!(%addr, %metrics, "roster listening; building the audience index")
        }
        None => tracing::info!(%addr, "roster listening; building the audience index"),
    }
    let (edge, retention, crowd_timeout, app_labels) = (
        settings.edge.clone(),
        settings.changes_retention,
        settings.crowd_timeout,
        settings.metrics_app_labels,
    );
    let count_cache_bytes = settings.count_cache_bytes;
    let token = admin_token.clone();
    // The node becomes ready once its index is built; until then /readyz answers 503.
    let jobs = tokio::spawn(async move {
        let mut stop = rx.clone();
        let store = loop {
            tokio::select! {
                built = index_node(&choice, count_cache_bytes) => match built {
                    Ok(store) => break store,
                    Err(e) => tracing::error!(error = %e, "cannot build the audience index; retrying in 5 s"),
                },
                _ = stop.wait_for(|s| *s) => return,
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        };
        let exporter = metrics::Exporter::new(store.clone(), clock.clone(), app_labels);
        let own = metrics_addr.is_none().then(|| exporter.clone());
        boot.ready(
            routes(store.clone(), clock.clone(), token, &edge, zone, own),
            store.clone(),
        );
        if metrics_addr.is_some() {
            metrics_boot.ready(metrics_only(exporter), store.clone());
        }
        tracing::info!("audience index built; ready");
        let keep = tail::Upkeep {
            store,
            wake,
            retention,
            crowd_timeout,
            clock,
        };
        let _ = keep.spawn(rx).await;
    });
    Ok(Running {
        addr,
        admin_token,
        metrics_addr,
        shutdown: Some(tx),
        task,
        metrics_task,
        jobs: Some(jobs),
        boot: ready,
    })
}

async fn bind(listen: &str) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listen on {listen}"))
}

/// Serves an already opened store until stopped, with the edge's default limits.
pub async fn serve_store(
    store: Arc<dyn Store>,
    listen: &str,
    clock: Clock,
    admin_token: String,
) -> anyhow::Result<Running> {
    serve_store_with(store, listen, clock, admin_token, &EdgeLimits::default()).await
}

/// Serves an already opened store until stopped.
pub async fn serve_store_with(
    store: Arc<dyn Store>,
    listen: &str,
    clock: Clock,
    admin_token: String,
    limits: &EdgeLimits,
) -> anyhow::Result<Running> {
    let listener = bind(listen).await?;
    let boot = boot::Boot::new(clock.clone());
    boot.ready(
        router_with(
            store.clone(),
            clock.clone(),
            admin_token.clone(),
            limits,
            chrono_tz::Asia::Shanghai,
        ),
        store.clone(),
    );
    let app = service(boot.router());
    let ready = boot.clone();
    let keep = tail::Upkeep {
        store,
        wake: Arc::new(Notify::new()),
        retention: DEFAULT_CHANGES_RETENTION,
        crowd_timeout: DEFAULT_CROWD_TIMEOUT,
        clock,
    };
    serve_app(app, listener, admin_token, limits, keep, ready)
}

/// Serves `app` (an already ready node, `/metrics` on the main listener) on `listener`
/// with the node's background tasks, until stopped.
fn serve_app(
    app: Router,
    listener: tokio::net::TcpListener,
    admin_token: String,
    limits: &EdgeLimits,
    keep: tail::Upkeep,
    boot: boot::Boot,
) -> anyhow::Result<Running> {
    let addr = listener.local_addr()?;
    let (tx, rx) = watch::channel(false);
    let jobs = keep.spawn(rx.clone());
    let task = tokio::spawn(edge::conn::serve(listener, app, limits.clone(), rx));
    tracing::info!(%addr, "roster listening");
    Ok(Running {
        addr,
        admin_token,
        metrics_addr: None,
        shutdown: Some(tx),
        task,
        metrics_task: None,
        jobs: Some(jobs),
        boot,
    })
}
