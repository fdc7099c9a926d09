//! Test helpers: [`TestServer`] runs roster in-process on port 0 over a temporary data
//! directory, with a clock tests can move forward and freeze; [`RosterProcess`] runs the
//! real binary as a [`Launch`] describes (arguments, environment, output captured to a
//! file); [`Getui`] is a small client for the Getui dialect, [`Native`] one for the
//! native API, and [`TestServer::call`] makes any JSON call as the admin or with one of
//! an app's Basic-auth pairs ([`Creds`]); [`Fixture`] is a server with an app and its
//! devices.
//!
//! Every reply a [`TestServer`] gives on a native path is recorded and, when the server
//! is restarted or dropped, checked against the OpenAPI document ([`openapi`]): a reply
//! the document does not describe fails the test that provoked it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use roster_server::{Running, Settings};
use serde_json::{json, Value};

mod client;
pub mod openapi;

pub use client::{lift_limits, request, send, As, Creds, Fixture, Native, LIMIT_ACTIONS};

/// A fresh PostgreSQL database per test, on a throwaway cluster (see `roster-test-pg`).
pub use roster_test_pg::TestDatabase as TestPostgres;

/// The admin token test servers use.
pub const ADMIN_TOKEN: &str = "test-admin-token";

/// roster in-process, on a free port, over a temporary data directory. Its native
/// replies are recorded and checked against the OpenAPI document on [`restart`] and
/// when it is dropped (see [`openapi`]), which panics, listing every reply that is not
/// as documented.
///
/// [`restart`]: TestServer::restart
pub struct TestServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Shared HTTP client.
    pub http: reqwest::Client,
    /// `http://127.0.0.1:PORT` of the separate metrics listener, when the server has one
    /// (else `GET /metrics` is on [`TestServer::base`]).
    pub metrics_base: Option<String>,
    dir: tempfile::TempDir,
    running: Option<Running>,
    clock_offset: Arc<AtomicI64>,
    /// The wall-clock instant the clock is frozen at, or [`NOT_FROZEN`].
    clock_frozen_at: Arc<AtomicI64>,
    edge: roster_server::EdgeLimits,
    retention: std::time::Duration,
    crowd_timeout: std::time::Duration,
    metrics_listen: Option<String>,
    metrics_app_labels: usize,
    recording: openapi::Recording,
}

impl TestServer {
    /// Starts a server over a fresh data directory.
    pub async fn start() -> Self {
        Self::start_with_limits(roster_server::EdgeLimits::default()).await
    }

    /// Starts a server whose change log keeps changes for `retention` only.
    pub async fn start_with_retention(retention: std::time::Duration) -> Self {
        Self::start_with(roster_server::EdgeLimits::default(), retention).await
    }

    /// Starts a server whose HTTP edge has these timeouts and limits.
    pub async fn start_with_limits(edge: roster_server::EdgeLimits) -> Self {
        Self::start_with(edge, roster_server::DEFAULT_CHANGES_RETENTION).await
    }

    /// Starts a server whose smart-crowd jobs may run for `timeout` only
    /// (`Duration::ZERO`: every job times out).
    pub async fn start_with_crowd_timeout(timeout: std::time::Duration) -> Self {
        let mut s = Self::unstarted(
            roster_server::EdgeLimits::default(),
            roster_server::DEFAULT_CHANGES_RETENTION,
        );
        s.crowd_timeout = timeout;
        s.boot().await;
        s
    }

    /// Starts a server that labels at most `app_labels` apps on its per-app metrics and,
    /// with `separate`, serves `GET /metrics` on a listener of its own (a free port,
    /// [`TestServer::metrics_base`]) rather than on the main one.
    pub async fn start_with_metrics(app_labels: usize, separate: bool) -> Self {
        let mut s = Self::unstarted(
            roster_server::EdgeLimits::default(),
            roster_server::DEFAULT_CHANGES_RETENTION,
        );
        s.metrics_app_labels = app_labels;
        s.metrics_listen = separate.then(|| "127.0.0.1:0".to_owned());
        s.boot().await;
        s
    }

    /// Where `GET /metrics` answers: the metrics listener's, or the main one's.
    pub fn metrics_url(&self) -> String {
        format!(
            "{}/metrics",
            self.metrics_base.as_deref().unwrap_or(&self.base)
        )
    }

    async fn start_with(edge: roster_server::EdgeLimits, retention: std::time::Duration) -> Self {
        let mut server = Self::unstarted(edge, retention);
        server.boot().await;
        server
    }

    fn unstarted(edge: roster_server::EdgeLimits, retention: std::time::Duration) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock_offset = Arc::new(AtomicI64::new(0));
        let clock_frozen_at = Arc::new(AtomicI64::new(NOT_FROZEN));
        TestServer {
            base: String::new(),
            http: reqwest::Client::new(),
            metrics_base: None,
            dir,
            running: None,
            clock_offset,
            clock_frozen_at,
            edge,
            retention,
            crowd_timeout: roster_server::DEFAULT_CROWD_TIMEOUT,
            metrics_listen: None,
            metrics_app_labels: roster_server::DEFAULT_METRICS_APP_LABELS,
            recording: openapi::Recording::default(),
        }
    }

    async fn boot(&mut self) {
        let settings = Settings {
            listen: "127.0.0.1:0".into(),
            data_dir: self.dir.path().to_path_buf(),
            store: None,
            admin_token: Some(ADMIN_TOKEN.into()),
            edge: self.edge.clone(),
            changes_retention: self.retention,
            crowd_timeout: self.crowd_timeout,
            time_zone: roster_core::quota::DEFAULT_TIME_ZONE.into(),
            metrics_listen: self.metrics_listen.clone(),
            metrics_app_labels: self.metrics_app_labels,
            count_cache_bytes: roster_server::DEFAULT_COUNT_CACHE_BYTES,
        };
        let offset = self.clock_offset.clone();
        let frozen_at = self.clock_frozen_at.clone();
        let clock: roster_core::time::Clock = Arc::new(move || clock_now(&frozen_at, &offset));
        let wrap = openapi::recorder(self.recording.clone());
        let running = roster_server::start_wrapped(&settings, clock, wrap)
            .await
            .expect("start roster");
        // The node answers at once; it serves once its audience index is built.
        running.ready().await;
        self.base = format!("http://{}", running.addr);
        self.metrics_base = running.metrics_addr.map(|a| format!("http://{a}"));
        self.running = Some(running);
    }

    /// Stops the server, checks its native replies so far against the OpenAPI document
    /// (panics on any that is not as documented), and starts a new one over the same
    /// data directory.
    pub async fn restart(&mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await.expect("stop");
        }
        self.assert_replies_documented();
        self.boot().await;
    }

    /// The native replies recorded since the last check (see [`openapi::recorder`]).
    pub fn exchanges(&self) -> Vec<openapi::Exchange> {
        self.recording.snapshot()
    }

    /// What is wrong with the native replies recorded since the last check, one entry
    /// each; empty when every one is as the OpenAPI document says.
    pub fn violations(&self) -> Vec<String> {
        openapi::Document::native().violations(&self.recording.snapshot())
    }

    /// Checks the native replies recorded so far and forgets them; panics, listing every
    /// reply that is not as the OpenAPI document says.
    fn assert_replies_documented(&self) {
        let exchanges = self.recording.take();
        let violations = openapi::Document::native().violations(&exchanges);
        assert!(
            violations.is_empty(),
            "{} of the {} native replies this test server gave are not as docs/openapi.json \
             says (fix the server or the document in crates/api-native):\n  {}",
            violations.len(),
            exchanges.len(),
            violations.join("\n  ")
        );
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Moves the server's clock forward (also while it is frozen).
    pub fn advance_clock(&self, ms: i64) {
        self.clock_offset.fetch_add(ms, Ordering::SeqCst);
    }

    /// Freezes the server's clock at its current instant (offset included): from now on
    /// it returns that one instant, moved only by [`advance_clock`], also across
    /// [`restart`]. Freezing a frozen clock changes nothing.
    ///
    /// [`advance_clock`]: TestServer::advance_clock
    /// [`restart`]: TestServer::restart
    pub fn freeze_clock(&self) {
        let _ = self.clock_frozen_at.compare_exchange(
            NOT_FROZEN,
            roster_core::time::now_ms(),
            Ordering::SeqCst,
            Ordering::SeqCst,
        );
    }

    /// What the server's clock says now, in ms since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        clock_now(&self.clock_frozen_at, &self.clock_offset)
    }

    /// Creates an app through the admin API and returns its credentials.
    pub async fn create_app(&self) -> Value {
        create_app(&self.http, &self.base, ADMIN_TOKEN).await
    }

    /// Registers devices through the native API; returns their cids.
    pub async fn register(&self, app: &Value, devices: Value) -> Vec<String> {
        register(&self.http, &self.base, app, devices).await
    }

    /// A Getui client for `app`, authenticated.
    pub async fn getui(&self, app: &Value) -> Getui {
        Getui::connect(&self.http, &self.base, app).await
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // Never a second panic while a test is already failing.
        if !std::thread::panicking() {
            self.assert_replies_documented();
        }
    }
}

/// [`TestServer`]'s `clock_frozen_at` while the clock runs.
const NOT_FROZEN: i64 = i64::MIN;

/// A test server's clock: the wall clock, or the instant it was frozen at, plus the
/// offset [`TestServer::advance_clock`] added.
fn clock_now(frozen_at: &AtomicI64, offset: &AtomicI64) -> i64 {
    let base = match frozen_at.load(Ordering::SeqCst) {
        NOT_FROZEN => roster_core::time::now_ms(),
        at => at,
    };
    base + offset.load(Ordering::SeqCst)
}

/// `POST /admin/v1/apps`.
pub async fn create_app(http: &reqwest::Client, base: &str, admin: &str) -> Value {
    let r = http
        .post(format!("{base}/admin/v1/apps"))
        .bearer_auth(admin)
        .json(&json!({ "name": "test app" }))
        .send()
        .await
        .expect("create app");
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json().await.expect("json")
}

/// `POST /api/v1/apps/{app_id}/devices`.
pub async fn register(
    http: &reqwest::Client,
    base: &str,
    app: &Value,
    devices: Value,
) -> Vec<String> {
    let path = format!("/api/v1/apps/{}/devices", s(&app["app_id"]));
    let req = request(http, base, Method::POST, &path, As::App(app, Creds::NATIVE));
    let (status, body) = send(req, Some(&devices)).await;
    assert_eq!(status, StatusCode::OK, "register devices: {body}");
    body["cids"]
        .as_array()
        .expect("cids")
        .iter()
        .map(|c| s(c).to_owned())
        .collect()
}

/// A gzip body, decoded.
pub fn gunzip(bytes: &[u8]) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .map_err(|e| format!("the gzip body does not decode: {e}"))?;
    Ok(out)
}

/// A JSON string value as `&str` (panics otherwise: test helper).
pub fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

/// The Getui sign for an app's credentials and a timestamp.
pub fn sign(app: &Value, ts: &str) -> String {
    roster_core::app::getui_sign(
        s(&app["getui"]["app_key"]),
        ts,
        s(&app["getui"]["master_secret"]),
    )
}

/// A reply: status and JSON body.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Body.
    pub body: Value,
    /// `X-Roster-Seq`: the app's seq after a write.
    pub seq: Option<u64>,
}

impl Reply {
    /// The Getui business code.
    pub fn code(&self) -> i64 {
        self.body["code"].as_i64().unwrap_or(-1)
    }

    /// The Getui message.
    pub fn msg(&self) -> &str {
        self.body["msg"].as_str().unwrap_or("")
    }

    /// Asserts success and returns `data`.
    pub fn ok(&self) -> &Value {
        assert_eq!((self.status, self.code()), (200, 0), "{}", self.body);
        &self.body["data"]
    }

    /// Asserts a 20001 with this message.
    pub fn param_error(&self, msg: &str) {
        assert_eq!(
            (self.status, self.code(), self.msg()),
            (400, 20001, msg),
            "{}",
            self.body
        );
    }
}

/// A client of the Getui dialect for one app.
pub struct Getui {
    /// `{base}/v2/{appId}`.
    pub base: String,
    /// The auth token in use.
    pub token: String,
    /// Sent as `X-Roster-Min-Seq` when set.
    pub min_seq: Option<u64>,
    http: reqwest::Client,
}

impl Getui {
    /// Authenticates with the app's key and secret.
    pub async fn connect(http: &reqwest::Client, base: &str, app: &Value) -> Self {
        let mut g = Getui {
            base: format!("{base}/v2/{}", s(&app["app_id"])),
            token: String::new(),
            min_seq: None,
            http: http.clone(),
        };
        let ts = roster_core::time::now_ms().to_string();
        let body =
            json!({ "sign": sign(app, &ts), "timestamp": ts, "appkey": app["getui"]["app_key"] });
        let r = g.call(Method::POST, "/auth", Some(body.to_string())).await;
        g.token = s(&r.ok()["token"]).to_owned();
        g
    }

    /// The same client with another token (empty: none).
    pub fn with_token(&self, token: &str) -> Getui {
        Getui {
            base: self.base.clone(),
            token: token.to_owned(),
            min_seq: self.min_seq,
            http: self.http.clone(),
        }
    }

    /// The same client, asking every read to wait until the node has applied `seq`
    /// (`X-Roster-Min-Seq`).
    pub fn after_seq(&self, seq: Option<u64>) -> Getui {
        Getui {
            min_seq: seq,
            ..self.with_token(&self.token)
        }
    }

    /// Any call; `body` is sent as-is with a JSON content type.
    pub async fn call(&self, method: Method, path: &str, body: Option<String>) -> Reply {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if !self.token.is_empty() {
            req = req.header("token", &self.token);
        }
        if let Some(seq) = self.min_seq {
            req = req.header("x-roster-min-seq", seq);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json;charset=utf-8")
                .body(b);
        }
        let r = req.send().await.expect("send");
        let status = r.status().as_u16();
        let seq = r
            .headers()
            .get("x-roster-seq")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let text = r.text().await.expect("body");
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("reply is not JSON ({status}): {text}"));
        Reply { status, body, seq }
    }

    /// GET.
    pub async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None).await
    }

    /// POST with a JSON body.
    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(body.to_string())).await
    }

    /// PUT with a JSON body.
    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.call(Method::PUT, path, Some(body.to_string())).await
    }

    /// DELETE with a JSON body (or `null`).
    pub async fn delete(&self, path: &str, body: Value) -> Reply {
        self.call(Method::DELETE, path, Some(body.to_string()))
            .await
    }
}

/// How to run the real binary: arguments, store, environment, where its output goes.
#[derive(Debug, Clone)]
pub struct Launch {
    /// Arguments before the generated `--listen ADDR --data-dir DIR [--store URL]`
    /// (default `["serve"]`; empty runs `roster --listen … --data-dir …`).
    pub args: Vec<String>,
    /// `--store URL`; `None` is the embedded store in the data directory.
    pub store: Option<String>,
    /// `ROSTER_ADMIN_TOKEN`; `None` leaves it unset, so roster generates one.
    pub admin_token: Option<String>,
    /// `ROSTER_LOG` (default `warn`).
    pub log_filter: String,
    /// More environment variables, set last.
    pub env: Vec<(String, String)>,
    /// A file that receives stdout and stderr (appended across restarts); `None` sends
    /// stdout nowhere and stderr to the test's.
    pub output: Option<PathBuf>,
}

impl Default for Launch {
    fn default() -> Self {
        Launch {
            args: vec!["serve".into()],
            store: None,
            admin_token: Some(ADMIN_TOKEN.into()),
            log_filter: "warn".into(),
            env: Vec::new(),
            output: None,
        }
    }
}

/// The real `roster` binary, run as a child process on a free port.
pub struct RosterProcess {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    child: Child,
    binary: PathBuf,
    data_dir: PathBuf,
    launch: Launch,
    port: u16,
}

impl RosterProcess {
    /// Starts `binary serve` over `data_dir` and waits for `/healthz`.
    pub async fn start(binary: &Path, data_dir: &Path) -> Self {
        Self::start_with_store(binary, data_dir, None).await
    }

    /// Starts `binary serve --store URL` (or the embedded store) and waits for `/healthz`.
    pub async fn start_with_store(binary: &Path, data_dir: &Path, store: Option<&str>) -> Self {
        let launch = Launch {
            store: store.map(str::to_owned),
            ..Launch::default()
        };
        Self::launch(binary, data_dir, launch).await
    }

    /// Starts the binary as `launch` says and waits for `/healthz`.
    pub async fn launch(binary: &Path, data_dir: &Path, launch: Launch) -> Self {
        let port = free_port();
        let child = spawn(binary, data_dir, &launch, port);
        let mut p = RosterProcess {
            base: format!("http://127.0.0.1:{port}"),
            child,
            binary: binary.to_path_buf(),
            data_dir: data_dir.to_path_buf(),
            launch,
            port,
        };
        p.wait_ready().await;
        p
    }

    async fn wait_ready(&mut self) {
        if wait_ready(&self.base, Some(&mut self.child)).await {
            return;
        }
        panic!("roster did not become ready on {}", self.base);
    }

    /// Kills the process with SIGKILL (no shutdown path runs) and starts it again.
    pub async fn kill_and_restart(&mut self) {
        self.kill();
        self.restart().await;
    }

    /// Kills the process with SIGKILL (no shutdown path runs) and waits for it to die;
    /// [`RosterProcess::restart`] starts it again.
    pub fn kill(&mut self) {
        self.child.kill().expect("kill");
        self.child.wait().expect("wait");
    }

    /// Asks the process to stop with SIGTERM (its graceful shutdown) and waits for it
    /// to exit, for at most `within`; its exit status (`None`: still running then, and
    /// killed).
    pub fn terminate(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM failed");
        let deadline = std::time::Instant::now() + within;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill();
        None
    }

    /// Starts the process again, as before and on the same port, after
    /// [`RosterProcess::kill`], and waits for `/healthz`.
    pub async fn restart(&mut self) {
        self.child = spawn(&self.binary, &self.data_dir, &self.launch, self.port);
        self.wait_ready().await;
    }
}

impl Drop for RosterProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(binary: &Path, data_dir: &Path, launch: &Launch, port: u16) -> Child {
    let mut cmd = Command::new(binary);
    cmd.args(&launch.args)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(data_dir);
    if let Some(url) = &launch.store {
        cmd.args(["--store", url]);
    }
    // Nothing from the test's own environment configures the child by accident.
    for (var, _) in std::env::vars_os() {
        if var.to_string_lossy().starts_with("ROSTER_") {
            cmd.env_remove(var);
        }
    }
    if let Some(token) = &launch.admin_token {
        cmd.env("ROSTER_ADMIN_TOKEN", token);
    }
    cmd.env("ROSTER_LOG", &launch.log_filter);
    for (k, v) in &launch.env {
        cmd.env(k, v);
    }
    match &launch.output {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .expect("open output file");
            let err = file.try_clone().expect("clone output file");
            cmd.stdout(Stdio::from(file)).stderr(Stdio::from(err));
        }
        None => {
            cmd.stdout(Stdio::null()).stderr(Stdio::inherit());
        }
    }
    cmd.stdin(Stdio::null()).spawn().expect("spawn roster")
}

/// Polls `{base}/readyz` for up to ten seconds; `false` if it never answered 200 or
/// `child` exited first.
pub async fn wait_ready(base: &str, mut child: Option<&mut Child>) -> bool {
    // No connection is kept: a server capped at one connection must find it free.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    for _ in 0..200 {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await {
            if r.status() == StatusCode::OK {
                return true;
            }
        }
        if let Some(c) = child.as_deref_mut() {
            if matches!(c.try_wait(), Ok(Some(_))) {
                return false;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}
