//! `roster`: serve the registry, or manage apps from the command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use roster_server::Settings;

mod logging;

const ABOUT: &str = "\
roster keeps the registry of your apps' audience — which device (cid) belongs to which
alias or user, its tags, phone numbers and emails — in a store of your own, and serves it
through the user APIs of Getui, Jiguang (UMS, Growth) and EngageLab, so that code written
for those vendors works against it unchanged, and through its own REST API.";

const AFTER_HELP: &str = "\
Examples:
  roster                                  serve on 127.0.0.1:8080, data in ./roster-data
  roster --listen 0.0.0.0:8080 --data-dir /var/lib/roster
  roster app create --name shop           create an app, print its credentials as JSON
  roster --store postgres://roster:PASSWORD@db:5432/roster   serve from PostgreSQL

Environment:
  ROSTER_LISTEN, ROSTER_DATA_DIR, ROSTER_STORE   as --listen, --data-dir, --store
                                                  (an option given on the command line wins)
  ROSTER_ADMIN_TOKEN   token for the admin API (Authorization: Bearer …); without it one is
                       generated on first start, kept in DIR/admin-token and printed once
  ROSTER_LOG           log filter: error, warn, info (default), debug or trace, or per
                       module (roster_server=debug); logs never carry secrets or personal data

GET /healthz answers 200 once the server is ready; GET /openapi.json describes the native API.";

#[derive(Debug, Parser)]
#[command(
    name = "roster",
    version,
    about = ABOUT,
    after_help = AFTER_HELP,
    max_term_width = 100
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Option<Command>,
}

/// Options every command takes, before or after its name.
#[derive(Debug, Args)]
struct Global {
    /// Address to listen on.
    #[arg(
        long,
        global = true,
        env = "ROSTER_LISTEN",
        default_value = "127.0.0.1:8080",
        value_name = "ADDR",
        hide_env_values = true
    )]
    listen: String,
    /// Where the embedded store and the admin token live (kept private: 0700).
    #[arg(
        long,
        global = true,
        env = "ROSTER_DATA_DIR",
        default_value = "./roster-data",
        value_name = "DIR",
        hide_env_values = true
    )]
    data_dir: PathBuf,
    /// postgres://USER:PASSWORD@HOST:PORT/DB to use PostgreSQL, or sqlite:PATH for another
    /// SQLite file.
    #[arg(
        long,
        global = true,
        env = "ROSTER_STORE",
        value_name = "URL",
        hide_env_values = true
    )]
    store: Option<String>,
    /// How long the change log keeps a change, e.g. `7d`, `12h` or `30s`; older ones are
    /// pruned in the background.
    #[arg(
        long,
        global = true,
        env = "ROSTER_CHANGES_RETENTION",
        default_value = "7d",
        value_name = "DURATION",
        value_parser = retention
    )]
    changes_retention: std::time::Duration,
    /// How long one smart-crowd job may run before it ends at status 2 (timed out),
    /// e.g. `30m`; `0s` times every job out (for tests).
    #[arg(
        long,
        global = true,
        env = "ROSTER_CROWD_TIMEOUT",
        default_value = "30m",
        value_name = "DURATION",
        value_parser = crowd_timeout
    )]
    crowd_timeout: std::time::Duration,
    #[command(flatten)]
    edge: EdgeArgs,
}

fn retention(s: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(s.trim())
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{s:?} is not a duration such as 7d, 12h or 30s"))
}

fn crowd_timeout(s: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|_| format!("{s:?} is not a duration such as 30m, 1h or 90s"))
}

/// Limits of the HTTP edge (see docs/edge.md).
#[derive(Debug, Args)]
#[command(next_help_heading = "Connection limits")]
struct EdgeArgs {
    /// Seconds a client may take to send a request's headers before it is disconnected.
    #[arg(
        long,
        global = true,
        env = "ROSTER_HEADER_TIMEOUT",
        default_value_t = 10.0,
        value_name = "SECONDS"
    )]
    header_timeout: f64,
    /// Seconds a keep-alive connection may sit idle before it is closed.
    #[arg(
        long,
        global = true,
        env = "ROSTER_IDLE_TIMEOUT",
        default_value_t = 60.0,
        value_name = "SECONDS"
    )]
    idle_timeout: f64,
    /// Connections served at once; more are answered 503 and closed.
    #[arg(
        long,
        global = true,
        env = "ROSTER_MAX_CONNECTIONS",
        default_value_t = 4096,
        value_name = "N"
    )]
    max_connections: usize,
    /// Largest request body in bytes (413 beyond).
    #[arg(
        long,
        global = true,
        env = "ROSTER_MAX_BODY_BYTES",
        default_value_t = roster_edge::DEFAULT_MAX_BODY_BYTES,
        value_name = "BYTES"
    )]
    max_body_bytes: usize,
}

impl EdgeArgs {
    fn limits(&self) -> Result<roster_server::EdgeLimits, Failure> {
        let secs = |v: f64, flag: &str| {
            std::time::Duration::try_from_secs_f64(v)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| Failure(format!("--{flag} must be a positive number of seconds")))
        };
        if self.max_connections == 0 {
            return Err(Failure("--max-connections must be at least 1".into()));
        }
        Ok(roster_server::EdgeLimits {
            header_timeout: secs(self.header_timeout, "header-timeout")?,
            idle_timeout: secs(self.idle_timeout, "idle-timeout")?,
            max_connections: self.max_connections,
            max_body_bytes: self.max_body_bytes,
        })
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server (what `roster` alone does).
    Serve,
    /// Create apps directly in the store, without a running server.
    App {
        #[command(subcommand)]
        command: AppCommand,
    },
    /// Print an app's change log as NDJSON, oldest first, read from the store directly.
    Changes {
        /// The app.
        #[arg(long, value_name = "ID")]
        app: String,
        /// Print the changes with a seq greater than this.
        #[arg(long, default_value_t = 0, value_name = "SEQ")]
        after: u64,
        /// Keep printing new changes as they are committed (until interrupted).
        #[arg(long)]
        follow: bool,
    },
    /// Read and change an app's rate limits and quotas in the store; every node applies a
    /// change within a second.
    Limits {
        #[command(subcommand)]
        command: LimitsCommand,
    },
}

#[derive(Debug, Subcommand)]
enum LimitsCommand {
    /// Print the app's time zone and every action's limits, vendor values and daily use
    /// as JSON (the per-second and per-minute use lives in each node and shows null).
    Show {
        /// The app.
        #[arg(long, value_name = "ID")]
        app: String,
    },
    /// Change one action's windows (N sets a window, `off` switches it off; windows not
    /// named keep their values) and/or the app's time zone; prints the result as JSON.
    Set {
        /// The app.
        #[arg(long, value_name = "ID")]
        app: String,
        /// getui_auth, getui_tag_overwrite, getui_tag_batch, getui_bind_dt, getui_call,
        /// growth_register, engagelab_profile or native_request.
        #[arg(value_name = "ACTION", required_unless_present = "time_zone")]
        action: Option<String>,
        /// Calls in any one second.
        #[arg(long, value_name = "N|off", value_parser = window)]
        per_second: Option<Window>,
        /// Calls in any one minute.
        #[arg(long, value_name = "N|off", value_parser = window)]
        per_minute: Option<Window>,
        /// Calls in one calendar day of the app's time zone.
        #[arg(long, value_name = "N|off", value_parser = window)]
        per_day: Option<Window>,
        /// Calls naming one cid in one calendar day (getui_tag_overwrite).
        #[arg(long, value_name = "N|off", value_parser = window)]
        per_cid_per_day: Option<Window>,
        /// The IANA time zone whose midnight ends a quota's day, e.g. Asia/Shanghai.
        #[arg(long, value_name = "ZONE")]
        time_zone: Option<String>,
    },
    /// Restore one action's vendor values; prints them as JSON.
    Reset {
        /// The app.
        #[arg(long, value_name = "ID")]
        app: String,
        /// The action.
        #[arg(value_name = "ACTION")]
        action: String,
    },
}

/// A window on the command line: a whole number, or `off` (`None`).
#[derive(Debug, Clone, Copy)]
struct Window(Option<u64>);

fn window(s: &str) -> Result<Window, String> {
    match s.trim() {
        "off" | "null" => Ok(Window(None)),
        n => n
            .parse::<u64>()
            .ok()
            .filter(|n| *n <= roster_core::quota::MAX_LIMIT)
            .map(|n| Window(Some(n)))
            .ok_or_else(|| format!("{s:?} is neither a whole number up to 10^12 nor `off`")),
    }
}

#[derive(Debug, Subcommand)]
enum AppCommand {
    /// Create an app and print its credentials (Getui, UMS, Growth, EngageLab) as JSON.
    Create {
        /// The app's display name.
        #[arg(long)]
        name: String,
    },
}

/// A failure to tell the user about: one message, printed without a stack of causes.
struct Failure(String);

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure(describe(&e))
    }
}

/// The message for an error from the server library: its causes on one line, without
/// the store layer's internal prefix, with a hint for the failures users meet.
fn describe(e: &anyhow::Error) -> String {
    let text = format!("{e:#}").replace("store backend: ", "");
    let io = e
        .chain()
        .find_map(|c| c.downcast_ref::<std::io::Error>())
        .map(std::io::Error::kind);
    match io {
        Some(std::io::ErrorKind::AddrInUse) => format!(
            "{text}\n  Another program (perhaps another roster) is listening there; \
             choose another address with --listen or ROSTER_LISTEN."
        ),
        Some(std::io::ErrorKind::AddrNotAvailable) => format!(
            "{text}\n  That address is not one of this machine's; use 127.0.0.1:PORT, \
             0.0.0.0:PORT or one of its own addresses."
        ),
        Some(std::io::ErrorKind::PermissionDenied) => format!(
            "{text}\n  Check the permissions of the data directory (--data-dir) or, for a \
             port below 1024, use a higher one."
        ),
        _ => text,
    }
}

fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Checks what the command needs before the server library opens it, so that failures
/// are told in the user's terms: PostgreSQL must be reachable, and the data directory
/// (when one is used) is created 0700, or tightened to it, with its files 0600.
async fn prepare(global: &Global, needs_admin_token: bool) -> Result<(), Failure> {
    if let Some(url) = global.store.as_deref().map(str::trim) {
        if is_postgres(url) {
            // Nothing is created on disk when PostgreSQL cannot be reached.
            roster_store_postgres::PgStore::check(url)
                .await
                .map_err(|e| Failure(backend_message(e)))?;
        } else if let Some(path) = url.strip_prefix("sqlite:") {
            let path = Path::new(path.trim_start_matches("//"));
            if path.as_os_str().is_empty() {
                return Err(Failure(
                    "--store sqlite: needs a file name, e.g. sqlite:/var/lib/roster/roster.db"
                        .into(),
                ));
            }
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                roster_store_sqlite::create_private_dir(parent).map_err(|e| {
                    Failure(format!(
                        "cannot create the directory {} for the store: {e}",
                        parent.display()
                    ))
                })?;
            }
        } else {
            return Err(Failure(format!(
                "--store must be postgres://USER:PASSWORD@HOST:PORT/DATABASE or sqlite:PATH, \
                 not {}",
                redact_url(url)
            )));
        }
    }
    // The embedded store lives there, and so does a generated admin token.
    if global.store.is_none() || needs_admin_token {
        roster_store_sqlite::prepare_data_dir(&global.data_dir).map_err(|e| {
            Failure(format!(
                "cannot use the data directory {}: {e}\n  Choose another with --data-dir or \
                 ROSTER_DATA_DIR.",
                global.data_dir.display()
            ))
        })?;
    }
    Ok(())
}

/// A store error's message for the user (the store already wrote it for one).
fn backend_message(e: roster_store::StoreError) -> String {
    match e {
        roster_store::StoreError::Backend(m) => m,
        other => other.to_string(),
    }
}

/// `url` with any password replaced, for messages.
fn redact_url(url: &str) -> String {
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

fn admin_token_from_env() -> Option<String> {
    std::env::var("ROSTER_ADMIN_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty())
}

fn settings(global: &Global, admin_token: Option<String>) -> Result<Settings, Failure> {
    Ok(Settings {
        listen: global.listen.clone(),
        data_dir: global.data_dir.clone(),
        store: global.store.as_deref().map(|s| s.trim().to_owned()),
        admin_token,
        edge: global.edge.limits()?,
        changes_retention: global.changes_retention,
        crowd_timeout: global.crowd_timeout,
        metrics_listen: None,
        metrics_app_labels: roster_server::DEFAULT_METRICS_APP_LABELS,
    })
}

async fn serve(global: &Global) -> Result<(), Failure> {
    let admin_token = admin_token_from_env();
    prepare(global, admin_token.is_none()).await?;
    let settings = settings(global, admin_token)?;
    let mut running = roster_server::start(&settings, roster_core::time::system_clock()).await?;
    // The generated token (if any) was just written; its file gets the data dir's rule.
    if settings.admin_token.is_none() {
        roster_store_sqlite::prepare_data_dir(&settings.data_dir)
            .map_err(|e| Failure(format!("cannot secure the data directory: {e}")))?;
    }
    eprintln!("roster: listening on http://{}", running.addr);
    tokio::select! {
        r = running.wait() => return r.map_err(Failure::from),
        _ = shutdown_signal() => {}
    }
    tracing::info!("shutting down");
    running.stop().await.map_err(Failure::from)
}

async fn create_app(global: &Global, name: &str) -> Result<(), Failure> {
    prepare(global, false).await?;
    let creds = roster_server::create_app(&settings(global, None)?, name).await?;
    let json = serde_json::to_string_pretty(&creds)
        .map_err(|e| Failure(format!("cannot print the credentials: {e}")))?;
    println!("{json}");
    Ok(())
}

async fn changes(global: &Global, app: &str, after: u64, follow: bool) -> Result<(), Failure> {
    prepare(global, false).await?;
    let app = app_arg(app)?;
    let settings = settings(global, None)?;
    let out = roster_server::print_changes(&settings, &app, after, follow);
    tokio::select! {
        r = out => r.map_err(Failure::from),
        _ = shutdown_signal() => Ok(()),
    }
}

fn app_arg(app: &str) -> Result<roster_core::AppId, Failure> {
    roster_core::AppId::parse(app).map_err(|_| Failure("--app is not an app id".into()))
}

fn action_arg(action: &str) -> Result<roster_core::quota::Action, Failure> {
    roster_core::quota::Action::parse(action.trim()).ok_or_else(|| {
        let names: Vec<&str> = roster_core::quota::Action::ALL
            .iter()
            .map(|a| a.as_str())
            .collect();
        Failure(format!(
            "{action:?} is not an action; use one of {}",
            names.join(", ")
        ))
    })
}

async fn limits(global: &Global, command: &LimitsCommand) -> Result<(), Failure> {
    prepare(global, false).await?;
    let settings = settings(global, None)?;
    let out = match command {
        LimitsCommand::Show { app } => {
            roster_server::limits_report(&settings, &app_arg(app)?).await?
        }
        LimitsCommand::Set {
            app,
            action,
            per_second,
            per_minute,
            per_day,
            per_cid_per_day,
            time_zone,
        } => {
            let given = |w: &Option<Window>| w.map(|Window(n)| n);
            let windows = roster_api_native::limits::LimitsIn {
                per_second: given(per_second),
                per_minute: given(per_minute),
                per_day: given(per_day),
                per_cid_per_day: given(per_cid_per_day),
            };
            let action = action.as_deref().map(action_arg).transpose()?;
            let change = roster_server::LimitsChange {
                action: action.map(|a| (a, windows)),
                time_zone: time_zone.clone(),
            };
            roster_server::limits_set(&settings, &app_arg(app)?, &change).await?
        }
        LimitsCommand::Reset { app, action } => {
            roster_server::limits_reset(&settings, &app_arg(app)?, action_arg(action)?).await?
        }
    };
    let json = serde_json::to_string_pretty(&out)
        .map_err(|e| Failure(format!("cannot print the limits: {e}")))?;
    println!("{json}");
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init();
    let result = match &cli.command {
        None | Some(Command::Serve) => serve(&cli.global).await,
        Some(Command::App {
            command: AppCommand::Create { name },
        }) => create_app(&cli.global, name).await,
        Some(Command::Changes { app, after, follow }) => {
            changes(&cli.global, app, *after, *follow).await
        }
        Some(Command::Limits { command }) => limits(&cli.global, command).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(message)) => {
            eprintln!("roster: {message}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_options_before_or_after_the_command() {
        for args in [
            &[
                "roster",
                "--listen",
                "1.2.3.4:5",
                "--data-dir",
                "d",
                "serve",
            ][..],
            &[
                "roster",
                "serve",
                "--listen",
                "1.2.3.4:5",
                "--data-dir",
                "d",
            ],
            &[
                "roster",
                "--listen",
                "1.2.3.4:5",
                "serve",
                "--data-dir",
                "d",
            ],
            &["roster", "--listen", "1.2.3.4:5", "--data-dir", "d"],
        ] {
            let cli = Cli::try_parse_from(args).expect("parse");
            assert_eq!(cli.global.listen, "1.2.3.4:5", "{args:?}");
            assert_eq!(cli.global.data_dir, PathBuf::from("d"), "{args:?}");
        }
        let cli = Cli::try_parse_from([
            "roster",
            "--store",
            "sqlite:x.db",
            "app",
            "create",
            "--name",
            "n",
        ])
        .expect("parse");
        assert_eq!(cli.global.store.as_deref(), Some("sqlite:x.db"));
    }

    #[test]
    fn urls_lose_their_password() {
        assert_eq!(
            redact_url("postgres://roster:pw@db:5432/x"),
            "postgres://roster:***@db:5432/x"
        );
        assert_eq!(redact_url("mysql://a@b/c"), "mysql://a@b/c");
        assert_eq!(redact_url("nonsense"), "nonsense");
    }
}
