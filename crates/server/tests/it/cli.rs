//! The `roster` command as a new user meets it: help that says what roster is, global
//! options before or after the command (and without one), environment variables that
//! options beat, `app create`, and errors in the user's terms.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use roster_testkit::{free_port, wait_ready, Launch, RosterProcess, ADMIN_TOKEN};
use serde_json::Value;

use crate::support::database;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_roster"))
}

/// `roster ARGS` with a clean roster environment plus `env`.
pub(crate) fn roster(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(bin());
    cmd.args(args);
    for var in [
        "ROSTER_LISTEN",
        "ROSTER_DATA_DIR",
        "ROSTER_STORE",
        "ROSTER_ADMIN_TOKEN",
        "ROSTER_LOG",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("ROSTER_ADMIN_TOKEN", ADMIN_TOKEN);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null());
    cmd
}

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    roster(args, env).output().expect("run roster")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A serving child, killed when dropped.
struct Serving(Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn serve(args: &[&str], env: &[(&str, &str)], port: u16) -> Serving {
    let mut child = roster(args, env)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let ready = wait_ready(&format!("http://127.0.0.1:{port}"), Some(&mut child)).await;
    assert!(
        ready,
        "roster {args:?} {env:?} did not serve on port {port}"
    );
    Serving(child)
}

#[test]
fn help_says_what_roster_is_and_lists_the_commands() {
    for flag in ["--help", "-h"] {
        let out = run(&[flag], &[]);
        assert!(out.status.success());
        let help = text(&out.stdout);
        let first = help.lines().next().unwrap_or_default();
        assert!(first.starts_with("roster keeps"), "{help}");
        for needle in [
            "registry",
            "Getui",
            "serve",
            "app",
            "--listen",
            "--data-dir",
            "--store",
            "ROSTER_ADMIN_TOKEN",
            "ROSTER_LOG",
            "roster app create --name",
        ] {
            assert!(help.contains(needle), "{flag}: no {needle:?} in\n{help}");
        }
        for internal in ["wiring", "binary", "router"] {
            assert!(!help.contains(internal), "{flag}: {internal:?} in\n{help}");
        }
    }
    let out = run(&["app", "create", "--help"], &[]);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("--name"));
}

#[test]
fn help_never_shows_the_store_url_from_the_environment() {
    let out = run(
        &["--help"],
        &[("ROSTER_STORE", "postgres://roster:hunter22@db/roster")],
    );
    assert!(out.status.success());
    assert!(!text(&out.stdout).contains("hunter22"));
    let out = run(
        &["serve", "--help"],
        &[("ROSTER_STORE", "postgres://roster:hunter22@db/roster")],
    );
    assert!(!text(&out.stdout).contains("hunter22"));
}

#[tokio::test]
async fn options_work_without_a_command_and_on_either_side_of_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    // `roster --listen ADDR --data-dir DIR` serves
    let p = RosterProcess::launch(
        bin(),
        &dir.path().join("a"),
        Launch {
            args: vec![],
            ..Launch::default()
        },
    )
    .await;
    drop(p);
    // before the command
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let data = dir.path().join("b");
    let data = data.to_str().expect("utf-8 path");
    let s = serve(
        &["--listen", &listen, "--data-dir", data, "serve"],
        &[],
        port,
    )
    .await;
    drop(s);
    // split around it
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let s = serve(
        &["--data-dir", data, "serve", "--listen", &listen],
        &[],
        port,
    )
    .await;
    drop(s);
    assert!(dir.path().join("b").join("roster.db").exists());
}

#[tokio::test]
async fn environment_configures_and_options_win() {
    let dir = tempfile::tempdir().expect("tempdir");
    let env_dir = dir.path().join("from-env");
    let env_dir = env_dir.to_str().expect("utf-8");
    let (env_port, flag_port) = (free_port(), free_port());
    let env_listen = format!("127.0.0.1:{env_port}");
    let env = [
        ("ROSTER_LISTEN", env_listen.as_str()),
        ("ROSTER_DATA_DIR", env_dir),
    ];
    // the environment alone
    let s = serve(&[], &env, env_port).await;
    drop(s);
    assert!(Path::new(env_dir).join("roster.db").exists());
    // an option beats its variable
    let flag_dir = dir.path().join("from-flag");
    let flag_dir = flag_dir.to_str().expect("utf-8");
    let flag_listen = format!("127.0.0.1:{flag_port}");
    let s = serve(
        &["serve", "--listen", &flag_listen, "--data-dir", flag_dir],
        &env,
        flag_port,
    )
    .await;
    assert!(
        reqwest::get(format!("http://{env_listen}/healthz"))
            .await
            .is_err(),
        "ROSTER_LISTEN was used although --listen was given"
    );
    drop(s);
    assert!(Path::new(flag_dir).join("roster.db").exists());
}

fn credentials(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "app create failed: {}",
        text(&out.stderr)
    );
    let app: Value = serde_json::from_slice(&out.stdout).expect("credentials JSON on stdout");
    for (group, key) in [
        ("getui", "master_secret"),
        ("ums", "access_secret"),
        ("growth", "project_secret"),
        ("engagelab", "api_secret"),
    ] {
        assert!(app[group][key].is_string(), "{group}.{key} in {app}");
    }
    app
}

#[tokio::test]
async fn app_create_prints_credentials_wherever_the_options_are() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let d = data.to_str().expect("utf-8");
    let apps = [
        credentials(&run(
            &["app", "create", "--name", "one", "--data-dir", d],
            &[],
        )),
        credentials(&run(
            &["--data-dir", d, "app", "create", "--name", "two"],
            &[],
        )),
        credentials(&run(
            &["app", "create", "--name", "three"],
            &[("ROSTER_DATA_DIR", d)],
        )),
    ];
    // all three are in that store
    let p = RosterProcess::start(bin(), &data).await;
    let http = reqwest::Client::new();
    for app in &apps {
        roster_testkit::register(
            &http,
            &p.base,
            app,
            serde_json::json!([{ "phone_type": "ios" }]),
        )
        .await;
    }
}

/// One message for the user (after any log lines), no debug dump.
fn assert_human(stderr: &str) {
    assert!(
        stderr.lines().any(|l| l.starts_with("roster: ")),
        "{stderr}"
    );
    for internal in [
        "Error:",
        "store backend",
        "store error",
        "Backend(",
        "Caused by",
    ] {
        assert!(!stderr.contains(internal), "{internal:?} in: {stderr}");
    }
}

#[test]
fn unreachable_postgres_says_where_what_and_what_to_do() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let d = data.to_str().expect("utf-8");
    let url = "postgres://roster:pw@127.0.0.1:1/x";
    for (args, env) in [
        (vec!["serve", "--store", url, "--data-dir", d], vec![]),
        (vec!["--data-dir", d], vec![("ROSTER_STORE", url)]),
        (
            vec!["app", "create", "--name", "shop", "--store", url],
            vec![],
        ),
    ] {
        let started = std::time::Instant::now();
        let out = run(&args, &env);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
        let err = text(&out.stderr);
        assert!(err.contains("127.0.0.1:1"), "where: {err}");
        assert!(err.contains("connection refused"), "what: {err}");
        assert!(err.contains("Is PostgreSQL running"), "what to do: {err}");
        assert!(!err.contains("pw"), "the password: {err}");
        assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
        assert_human(&err);
    }
    assert!(
        !data.exists(),
        "nothing is created on disk when the store cannot be reached"
    );
}

#[tokio::test]
async fn missing_database_is_named_with_what_to_do() {
    let db = database().await;
    let (server, _) = db.url().rsplit_once('/').expect("url");
    let url = format!("{server}/no_such_db");
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().to_str().expect("utf-8");
    let out = run(&["--store", &url, "--data-dir", d], &[]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("database \"no_such_db\" does not exist"),
        "{err}"
    );
    assert!(err.contains("CREATE DATABASE no_such_db"), "{err}");
    assert_human(&err);
}

#[test]
fn a_busy_port_is_explained() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = busy.local_addr().expect("addr").to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().to_str().expect("utf-8");
    // Without ROSTER_ADMIN_TOKEN, so that a first start would generate one.
    let out = run(
        &["--listen", &addr, "--data-dir", d],
        &[("ROSTER_ADMIN_TOKEN", "")],
    );
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains(&addr), "{err}");
    assert!(err.contains("--listen"), "{err}");
    assert_human(&err);
    // No admin token was generated (and printed) for a server that never listened.
    assert!(!text(&out.stdout).contains("admin token"));
    assert!(!dir.path().join("admin-token").exists());
}

#[test]
fn a_bad_store_url_is_explained_without_its_password() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().to_str().expect("utf-8");
    let out = run(
        &["--store", "mysql://root:s3cr3tpw@db/x", "--data-dir", d],
        &[],
    );
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("postgres://"), "{err}");
    assert!(!err.contains("s3cr3tpw"), "{err}");
    assert_human(&err);
}

/// `roster changes` prints an app's change log from the store (what a server wrote
/// included), resumes after a seq, follows new changes, and refuses a bad `--app` or
/// `--changes-retention` in the user's terms.
#[tokio::test]
async fn changes_prints_follows_and_resumes() {
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path().to_str().expect("utf-8");
    let out = run(&["app", "create", "--name", "feed", "--data-dir", d], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let app: Value = serde_json::from_slice(&out.stdout).expect("json");
    let id = app["app_id"].as_str().expect("id");
    let lines = |out: &Output| -> Vec<Value> {
        text(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).expect("an NDJSON line"))
            .collect()
    };
    let out = run(&["changes", "--app", id, "--data-dir", d], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let all = lines(&out);
    assert_eq!(all[0]["kind"], "app_created");
    assert!(all.iter().all(|l| l["seq"] == 1));
    let out = run(
        &["changes", "--app", id, "--after", "1", "--data-dir", d],
        &[],
    );
    assert!(out.status.success());
    assert!(out.stdout.is_empty(), "nothing after the last seq");

    // a follower in another process prints what a server commits
    let follower = roster(
        &[
            "changes",
            "--app",
            id,
            "--after",
            "1",
            "--follow",
            "--data-dir",
            d,
        ],
        &[],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .expect("spawn");
    let mut follower = Serving(follower);
    let server = RosterProcess::start(bin(), dir.path()).await;
    let http = reqwest::Client::new();
    let cids = roster_testkit::register(
        &http,
        &server.base,
        &app,
        serde_json::json!([{ "phone_type": "ios" }]),
    )
    .await;
    let stdout = follower.0.stdout.take().expect("stdout");
    let first = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).map(|_| line)
    });
    let line = tokio::time::timeout(std::time::Duration::from_secs(10), first)
        .await
        .expect("a line within 10 s")
        .expect("join")
        .expect("read");
    let line: Value = serde_json::from_str(&line).expect("json");
    assert_eq!(
        (line["seq"].as_u64(), &line["kind"]),
        (Some(2), &serde_json::json!("device_inserted"))
    );
    assert_eq!(line["cid"], cids[0].as_str());

    let out = run(&["changes", "--app", "not an id", "--data-dir", d], &[]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("--app"), "{}", text(&out.stderr));
    let out = run(
        &["changes", "--app", id, "--data-dir", d],
        &[("ROSTER_CHANGES_RETENTION", "soon")],
    );
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("7d"), "{}", text(&out.stderr));
}
