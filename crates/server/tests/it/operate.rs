//! Running roster like infrastructure: the configuration file and its precedence,
//! `config show|check`, JSON logs with request ids, readiness, the version, and a
//! SIGTERM that loses no acknowledged write.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use roster_testkit::{create_app, s, Launch, RosterProcess, TestServer, ADMIN_TOKEN};
use serde_json::{json, Value};

use crate::cli::roster;

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../roster.example.toml")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `roster config show` run in `dir` with `args` and `env`: each key's line.
fn show(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Vec<String> {
    let mut all = args.to_vec();
    all.extend(["config", "show"]);
    let out = roster(&all, env).current_dir(dir).output().expect("run");
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout).lines().map(str::to_owned).collect()
}

fn line<'a>(lines: &'a [String], key: &str) -> &'a str {
    let prefix = format!("{key} = ");
    lines
        .iter()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no {key} in {lines:?}"))
}

#[test]
fn configuration_layers_file_then_environment_then_flags() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(
        dir.path().join("roster.toml"),
        "listen = \"127.0.0.1:1111\"\n[edge]\nidle_timeout = \"90s\"\n[log]\nformat = \"json\"\n",
    )
    .expect("write");
    // ./roster.toml is read when present
    let l = show(dir.path(), &[], &[]);
    assert_eq!(
        line(&l, "listen"),
        "listen = \"127.0.0.1:1111\"  # file roster.toml"
    );
    assert_eq!(
        line(&l, "edge.idle_timeout"),
        "edge.idle_timeout = \"1m 30s\"  # file roster.toml"
    );
    assert_eq!(
        line(&l, "log.format"),
        "log.format = \"json\"  # file roster.toml"
    );
    assert!(line(&l, "changes.retention").ends_with("# default"));
    // the environment wins over the file, in its flat and its nested spellings
    let env = [
        ("ROSTER_LISTEN", "127.0.0.1:2222"),
        ("ROSTER_EDGE__IDLE_TIMEOUT", "2m"),
        ("ROSTER_LOG_FORMAT", "text"),
    ];
    let l = show(dir.path(), &[], &env);
    assert_eq!(
        line(&l, "listen"),
        "listen = \"127.0.0.1:2222\"  # environment ROSTER_LISTEN"
    );
    assert_eq!(
        line(&l, "edge.idle_timeout"),
        "edge.idle_timeout = \"2m\"  # environment ROSTER_EDGE__IDLE_TIMEOUT"
    );
    assert_eq!(
        line(&l, "log.format"),
        "log.format = \"text\"  # environment ROSTER_LOG_FORMAT"
    );
    // and flags win over both, before or after the command
    let l = show(
        dir.path(),
        &["--listen", "127.0.0.1:3333", "--idle-timeout", "5"],
        &env,
    );
    assert_eq!(
        line(&l, "listen"),
        "listen = \"127.0.0.1:3333\"  # flag --listen"
    );
    assert_eq!(
        line(&l, "edge.idle_timeout"),
        "edge.idle_timeout = \"5s\"  # flag --idle-timeout"
    );
    // a text key takes the variable as it is, digits included
    let l = show(
        dir.path(),
        &[],
        &[("ROSTER_ADMIN_TOKEN", "12345"), ("ROSTER_DATA_DIR", "2024")],
    );
    assert_eq!(
        line(&l, "admin_token"),
        "admin_token = \"<redacted>\"  # environment ROSTER_ADMIN_TOKEN"
    );
    assert_eq!(
        line(&l, "data_dir"),
        "data_dir = \"2024\"  # environment ROSTER_DATA_DIR"
    );
    // --config names another file; secrets never show
    let other = dir.path().join("other.toml");
    std::fs::write(
        &other,
        "store = \"postgres://roster:s3cr3t@db:5432/roster\"\nadmin_token = \"hunter22\"\n",
    )
    .expect("write");
    let out = roster(
        &["config", "show", "--config", other.to_str().expect("utf-8")],
        &[],
    )
    .current_dir(dir.path())
    .output()
    .expect("run");
    let shown = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        shown.contains("store = \"postgres://roster:***@db:5432/roster\""),
        "{shown}"
    );
    assert!(shown.contains("admin_token = \"<redacted>\""), "{shown}");
    assert!(
        !shown.contains("s3cr3t") && !shown.contains("hunter22"),
        "{shown}"
    );
    assert!(line(
        &shown.lines().map(str::to_owned).collect::<Vec<_>>(),
        "listen"
    )
    .ends_with("# default"));
}

/// `roster config check` of a file holding `content`: whether it passed, and stderr.
fn check(dir: &Path, name: &str, content: &str) -> (bool, String) {
    let file = dir.join(name);
    std::fs::write(&file, content).expect("write");
    let out = roster(&["config", "check", file.to_str().expect("utf-8")], &[])
        .output()
        .expect("run");
    (out.status.success(), text(&out.stderr))
}

#[test]
fn config_check_names_the_line_or_the_key_at_fault() {
    let dir = tempfile::tempdir().expect("dir");
    let (ok, err) = check(
        dir.path(),
        "syntax.toml",
        "# roster\nlisten = \"ok\"\n[edge\nidle_timeout = 3\n",
    );
    assert!(!ok);
    assert!(err.contains("line 3"), "{err}");

    let (ok, err) = check(
        dir.path(),
        "values.toml",
        "listen = 5\nlisten_on = \"x\"\n[edge]\nidle_timeout = \"soon\"\nmax_connections = -1\n[log]\nformat = \"xml\"\n",
    );
    assert!(!ok);
    for key in [
        "listen:",
        "listen_on: unknown key",
        "edge.idle_timeout:",
        "edge.max_connections:",
        "log.format:",
    ] {
        assert!(err.contains(key), "{key} not named in: {err}");
    }

    // values of the right type that make no sense are named too
    let sense = "[edge]\nmax_connections = 0\n[quota]\ntime_zone = \"Mars/Olympus\"\n";
    let (ok, err) = check(dir.path(), "sense.toml", sense);
    assert!(!ok);
    assert!(err.contains("edge.max_connections"), "{err}");
    assert!(err.contains("quota.time_zone"), "{err}");
    // and serve refuses to start on them
    let file = dir.path().join("sense.toml");
    let out = roster(&["--config", file.to_str().expect("utf-8"), "serve"], &[])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("quota.time_zone"));
}

#[test]
fn the_example_configuration_is_valid_and_says_the_defaults() {
    let out = roster(
        &["config", "check", example().to_str().expect("utf-8")],
        &[],
    )
    .output()
    .expect("run");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let sources = roster_server::config::Sources {
        file: Some(example()),
        flags: Vec::new(),
        environment: false,
    };
    let loaded = sources.load().expect("the example loads");
    assert_eq!(
        serde_json::to_value(&loaded).expect("json"),
        serde_json::to_value(roster_server::config::Config::default()).expect("json"),
        "roster.example.toml documents the defaults"
    );
}

#[tokio::test]
async fn json_logs_carry_each_request_id_which_the_reply_echoes() {
    let dir = tempfile::tempdir().expect("dir");
    let log = dir.path().join("out.log");
    let bin = Path::new(env!("CARGO_BIN_EXE_roster"));
    let launch = Launch {
        log_filter: "info".into(),
        env: vec![("ROSTER_LOG_FORMAT".into(), "json".into())],
        output: Some(log.clone()),
        ..Launch::default()
    };
    let mut p = RosterProcess::launch(bin, &dir.path().join("data"), launch).await;
    let http = reqwest::Client::new();
    let r = http
        .get(format!("{}/healthz", p.base))
        .header("x-request-id", "req-42.abc:Z_9")
        .send()
        .await
        .expect("get");
    assert_eq!(
        r.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("req-42.abc:Z_9")
    );
    for bad in ["has space", &"x".repeat(129), ""] {
        let r = http
            .get(format!("{}/v2/nope/user/detail/x", p.base))
            .header("x-request-id", bad)
            .send()
            .await
            .expect("get");
        let id = r
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .expect("an id")
            .to_owned();
        assert_eq!(id.len(), 32, "a generated id for {bad:?}");
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    }
    let r = http
        .get(format!("{}/healthz", p.base))
        .send()
        .await
        .expect("get");
    assert!(
        r.headers().contains_key("x-request-id"),
        "generated when absent"
    );
    assert!(p
        .terminate(Duration::from_secs(40))
        .is_some_and(|s| s.success()));
    let out = std::fs::read_to_string(&log).expect("log");
    let mut lines = Vec::new();
    for l in out.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}"));
        for field in ["timestamp", "level", "target"] {
            assert!(v.get(field).is_some(), "no {field} in {l}");
        }
        lines.push(v);
    }
    assert!(
        lines
            .iter()
            .any(|v| v["message"] == "roster listening; building the audience index"),
        "start-up lines are JSON too: {out}"
    );
    let access = lines
        .iter()
        .find(|v| v["target"] == "roster::access" && v["request_id"] == "req-42.abc:Z_9")
        .unwrap_or_else(|| panic!("no access line with the request id: {out}"));
    assert_eq!(access["level"], "INFO");
    assert_eq!(access["route"], "/healthz");
    assert_eq!(access["span"]["request_id"], "req-42.abc:Z_9", "{access}");
}

#[tokio::test]
async fn version_and_readiness() {
    let srv = TestServer::start().await;
    let v: Value = srv
        .http
        .get(format!("{}/version", srv.base))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert!(!s(&v["commit"]).is_empty());
    assert_eq!(s(&v["build_date"]).len(), 10, "{v}");
    assert_eq!(v, json!(roster_server::build::json()));
    let r = srv
        .http
        .get(format!("{}/readyz", srv.base))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200);
    let out = roster(&["--version"], &[]).output().expect("run");
    let printed = text(&out.stdout);
    assert!(printed.contains(env!("CARGO_PKG_VERSION")), "{printed}");
    assert!(printed.contains(s(&v["commit"])), "{printed}");
    assert!(printed.contains(s(&v["build_date"])), "{printed}");
}

/// Clients each registering one new device a request until stopped; every acknowledged
/// cid with the `X-Roster-Seq` of its reply. `strict`: any failure fails the test
/// (else a refused or cut request is simply not acknowledged, as at a shutdown).
struct Writers {
    acked: Arc<Mutex<Vec<(String, u64)>>>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Writers {
    fn start(clients: usize, base: &str, app: &Value, strict: bool) -> Writers {
        let acked = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let http = reqwest::Client::new();
        let url = format!("{base}/api/v1/apps/{}/devices", s(&app["app_id"]));
        let (key, secret) = (
            s(&app["getui"]["app_key"]).to_owned(),
            s(&app["getui"]["master_secret"]).to_owned(),
        );
        let tasks = (0..clients)
            .map(|w| {
                let (http, url, key, secret) =
                    (http.clone(), url.clone(), key.clone(), secret.clone());
                let (acked, stop) = (acked.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut i = 0;
                    while !stop.load(Ordering::Relaxed) {
                        let cid = format!("w{w}x{i}");
                        i += 1;
                        let r = http
                            .post(&url)
                            .basic_auth(&key, Some(&secret))
                            .json(&json!([{ "cid": cid, "phone_type": "android" }]))
                            .send()
                            .await;
                        let seq = r.ok().filter(|r| r.status().is_success()).and_then(|r| {
                            r.headers()
                                .get("x-roster-seq")
                                .and_then(|v| v.to_str().ok())
                                .and_then(|v| v.parse::<u64>().ok())
                        });
                        match seq {
                            Some(seq) => acked.lock().expect("lock").push((cid, seq)),
                            None if strict => panic!("write {cid} failed"),
                            None => tokio::time::sleep(Duration::from_millis(5)).await,
                        }
                    }
                })
            })
            .collect();
        Writers { acked, stop, tasks }
    }

    fn count(&self) -> usize {
        self.acked.lock().expect("lock").len()
    }

    /// Stops the clients; every acknowledged write.
    async fn stop(self) -> Vec<(String, u64)> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            t.await.expect("writer");
        }
        let acked = self.acked.lock().expect("lock").clone();
        acked
    }
}

/// Whether the device `cid` exists on the node at `base`.
async fn device_status(http: &reqwest::Client, base: &str, app: &Value, cid: &str) -> u16 {
    http.get(format!(
        "{base}/api/v1/apps/{}/devices/{cid}",
        s(&app["app_id"])
    ))
    .basic_auth(
        s(&app["getui"]["app_key"]),
        Some(s(&app["getui"]["master_secret"])),
    )
    .send()
    .await
    .expect("get")
    .status()
    .as_u16()
}

/// SIGTERM while writes are in flight: the process exits 0 within the grace period,
/// and every write it acknowledged is there after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_keeps_every_acknowledged_write() {
    let dir = tempfile::tempdir().expect("dir");
    let bin = Path::new(env!("CARGO_BIN_EXE_roster"));
    let mut p = RosterProcess::start(bin, dir.path()).await;
    let http = reqwest::Client::new();
    let app = create_app(&http, &p.base, ADMIN_TOKEN).await;
    let writers = Writers::start(8, &p.base, &app, false);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(writers.count() > 0, "writes were flowing");
    let status = tokio::task::block_in_place(|| p.terminate(Duration::from_secs(40)));
    let acked = writers.stop().await;
    assert!(
        status.is_some_and(|s| s.success()),
        "exit 0 on SIGTERM: {status:?}"
    );
    p.restart().await;
    for (cid, _) in &acked {
        assert_eq!(
            device_status(&http, &p.base, &app, cid).await,
            200,
            "acknowledged {cid} lost"
        );
    }
}

/// An online backup taken while writes go on is one consistent state: restored into a
/// new data directory, its change log is the original's up to some seq, its devices
/// are exactly the acknowledged ones up to that seq; restoring into a non-empty data
/// directory is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_under_writes_restores_one_consistent_state() {
    let dir = tempfile::tempdir().expect("dir");
    let (data, copy, file) = (
        dir.path().join("data"),
        dir.path().join("restored"),
        dir.path().join("backup.db"),
    );
    let bin = Path::new(env!("CARGO_BIN_EXE_roster"));
    let p = RosterProcess::start(bin, &data).await;
    let http = reqwest::Client::new();
    let app = create_app(&http, &p.base, ADMIN_TOKEN).await;
    let id = s(&app["app_id"]).to_owned();
    let (key, secret) = (
        s(&app["getui"]["app_key"]).to_owned(),
        s(&app["getui"]["master_secret"]).to_owned(),
    );
    let writers = Writers::start(4, &p.base, &app, true);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let args = |cmd: &[&str], dir: &Path| -> Vec<String> {
        let mut a: Vec<String> = vec!["--data-dir".into(), dir.display().to_string()];
        a.extend(cmd.iter().map(|s| (*s).to_owned()));
        a
    };
    let run = |a: Vec<String>| {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        roster(&a, &[]).output().expect("run")
    };
    let out = tokio::task::block_in_place(|| {
        run(args(
            &["backup", "--to", file.to_str().expect("utf-8")],
            &data,
        ))
    });
    assert!(out.status.success(), "{}", text(&out.stderr));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let acked = writers.stop().await;
    let out = run(args(
        &["backup", "--to", file.to_str().expect("utf-8")],
        &data,
    ));
    assert!(
        !out.status.success(),
        "an existing backup file is never overwritten"
    );

    let out = run(args(
        &["restore", "--from", file.to_str().expect("utf-8")],
        &copy,
    ));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(args(
        &["restore", "--from", file.to_str().expect("utf-8")],
        &copy,
    ));
    assert!(!out.status.success(), "a non-empty data dir is refused");
    assert!(
        text(&out.stderr).contains("not empty"),
        "{}",
        text(&out.stderr)
    );

    let restored = RosterProcess::start(bin, &copy).await;
    let feed = |base: String| {
        let (http, id, key, secret) = (http.clone(), id.clone(), key.clone(), secret.clone());
        async move {
            http.get(format!(
                "{base}/api/v1/apps/{id}/changes?after=0&limit=10000"
            ))
            .basic_auth(&key, Some(&secret))
            .send()
            .await
            .expect("feed")
            .text()
            .await
            .expect("text")
        }
    };
    let (original, copied) = (
        feed(p.base.clone()).await,
        feed(restored.base.clone()).await,
    );
    let seq_of = |l: &str| -> u64 {
        serde_json::from_str::<Value>(l).expect("json")["seq"]
            .as_u64()
            .expect("seq")
    };
    let last = copied.lines().last().map_or(0, seq_of);
    let before_backup: Vec<&str> = original.lines().filter(|l| seq_of(l) <= last).collect();
    assert!(last > 0, "the backup holds writes");
    assert_eq!(
        copied.lines().collect::<Vec<_>>(),
        before_backup,
        "the restored log is the original's up to its last seq"
    );
    assert!(
        acked.iter().any(|(_, seq)| *seq > last),
        "writes went on after the backup"
    );
    for (cid, seq) in &acked {
        let want = if *seq <= last { 200 } else { 404 };
        assert_eq!(
            device_status(&http, &restored.base, &app, cid).await,
            want,
            "{cid} written at seq {seq}, backup at {last}"
        );
    }
}
