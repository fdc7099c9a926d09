//! A throwaway PostgreSQL for tests. The first test of a process starts one cluster
//! (`initdb` + `pg_ctl`, found on PATH or where Debian's package put them) on a free
//! port in a temporary directory, and migrates a template database once; each test then
//! gets a fresh database cloned from the template, so tests run in parallel. A watcher
//! stops the cluster and removes its files when the test process exits.
//!
//! Without PostgreSQL server binaries, tests fail with a message saying how to install
//! them; they are never skipped.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use tokio::sync::OnceCell;

const HOW_TO_INSTALL: &str = "PostgreSQL server binaries (initdb, pg_ctl) were not found on PATH \
    nor in an installed Debian package. Install them, e.g. `apt-get install postgresql` \
    (Debian/Ubuntu), `dnf install postgresql-server` (Fedora) or `brew install postgresql` \
    (macOS), then run the tests again.";

struct Cluster {
    port: u16,
    /// Serialises template cloning (CREATE DATABASE … TEMPLATE takes a lock on it).
    create: tokio::sync::Mutex<()>,
}

static CLUSTER: OnceCell<Cluster> = OnceCell::const_new();
static TEMPLATE: OnceCell<()> = OnceCell::const_new();
static NEXT: AtomicU32 = AtomicU32::new(0);

/// The directory holding `initdb` and `pg_ctl`.
pub fn pg_bin_dir() -> Result<PathBuf, String> {
    if let Ok(path) = std::env::var("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join("initdb").is_file() && dir.join("pg_ctl").is_file() {
                return Ok(dir);
            }
        }
    }
    let out = Command::new("dpkg-query")
        .args(["-S", "*/bin/initdb"])
        .output();
    if let Ok(out) = out {
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Some((_, path)) = line.split_once(": ") {
                let dir = Path::new(path.trim()).parent().map(Path::to_path_buf);
                if let Some(dir) = dir.filter(|d| d.join("pg_ctl").is_file()) {
                    return Ok(dir);
                }
            }
        }
    }
    Err(HOW_TO_INSTALL.to_owned())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0\n"))
        .unwrap_or(false)
}

/// Runs a PostgreSQL binary, as the `postgres` user when we are root (PostgreSQL
/// refuses to run as root).
fn pg_command(bin: &Path, args: &[&str], as_postgres: bool) -> Command {
    if as_postgres {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin).args(args);
        c
    } else {
        let mut c = Command::new(bin);
        c.args(args);
        c
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(54329)
}

fn start_cluster() -> Result<Cluster, String> {
    let bin = pg_bin_dir()?;
    let root = is_root();
    let dir = tempfile::Builder::new()
        .prefix("roster-pg-")
        .tempdir()
        .map_err(|e| e.to_string())?
        .keep();
    let data = dir.join("data");
    if root {
        let ok = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&dir)
            .status();
        if !ok.map(|s| s.success()).unwrap_or(false) {
            return Err(
                "running as root: could not hand the cluster directory to the postgres user".into(),
            );
        }
    }
    let data_s = data.to_string_lossy().into_owned();
    let out = pg_command(
        &bin.join("initdb"),
        &[
            "-D",
            &data_s,
            "-U",
            "roster",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
            "--locale=C",
        ],
        root,
    )
    .stdout(Stdio::null())
    .output()
    .map_err(|e| format!("initdb: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let port = free_port();
    let opts = format!(
        "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300",
        dir.to_string_lossy()
    );
    let log = dir.join("log").to_string_lossy().into_owned();
    let out = pg_command(
        &bin.join("pg_ctl"),
        &[
            "-D", &data_s, "-o", &opts, "-l", &log, "-w", "-t", "60", "start",
        ],
        root,
    )
    .stdout(Stdio::null())
    .output()
    .map_err(|e| format!("pg_ctl: {e}"))?;
    if !out.status.success() {
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        return Err(format!(
            "pg_ctl start failed: {}{log}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    // Stop the cluster and delete it when this process ends, however it ends.
    let stop = pg_command(
        &bin.join("pg_ctl"),
        &["-D", &data_s, "-m", "immediate", "stop"],
        root,
    );
    let stop = format!("{:?}", stop).replace('"', "");
    let watcher = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; {stop} >/dev/null 2>&1; rm -rf '{dir}'",
        pid = std::process::id(),
        dir = dir.to_string_lossy()
    );
    Command::new("sh")
        .args(["-c", &watcher])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("watcher: {e}"))?;
    Ok(Cluster {
        port,
        create: tokio::sync::Mutex::new(()),
    })
}

async fn cluster() -> &'static Cluster {
    CLUSTER
        .get_or_init(|| async {
            match tokio::task::spawn_blocking(start_cluster).await {
                Ok(Ok(c)) => c,
                Ok(Err(e)) => panic!("{e}"),
                Err(e) => panic!("starting PostgreSQL: {e}"),
            }
        })
        .await
}

fn url(port: u16, db: &str) -> String {
    format!("postgres://roster@127.0.0.1:{port}/{db}")
}

async fn admin_exec(port: u16, sql: &str) -> Result<(), tokio_postgres::Error> {
    let (client, conn) =
        tokio_postgres::connect(&url(port, "postgres"), tokio_postgres::NoTls).await?;
    let task = tokio::spawn(conn);
    let r = client.batch_execute(sql).await;
    drop(client);
    let _ = task.await;
    r
}

/// A fresh database of the test cluster, cloned from the migrated template.
#[derive(Debug)]
pub struct TestDatabase {
    url: String,
}

impl TestDatabase {
    /// A new database. `migrate` runs once per process against the template (open your
    /// store on the URL it gets and drop it).
    pub async fn new<F, Fut>(migrate: F) -> Self
    where
        F: FnOnce(String) -> Fut,
        Fut: Future<Output = Result<(), String>>,
    {
        let c = cluster().await;
        TEMPLATE
            .get_or_init(|| async {
                admin_exec(c.port, "CREATE DATABASE roster_template")
                    .await
                    .expect("create template");
                migrate(url(c.port, "roster_template"))
                    .await
                    .expect("migrate template");
            })
            .await;
        let name = format!(
            "t{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let _guard = c.create.lock().await;
        let mut last = None;
        for _ in 0..50 {
            match admin_exec(
                c.port,
                &format!("CREATE DATABASE {name} TEMPLATE roster_template"),
            )
            .await
            {
                Ok(()) => {
                    return TestDatabase {
                        url: url(c.port, &name),
                    }
                }
                // The template's last connections may still be closing.
                Err(e) => {
                    last = Some(e);
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
        panic!("could not clone the template database: {last:?}");
    }

    /// Its connection URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}
