//! `roster`: serve the registry, or manage apps from the command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use roster_server::app_cli::AppCommand;
use roster_server::config::{Config, LogFormat};
use roster_server::Settings;

mod bulk_cli;
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
  roster --config /etc/roster/roster.toml serve
  roster app create --name shop           create an app, print its credentials as JSON
  roster --store postgres://roster:PASSWORD@db:5432/roster   serve from PostgreSQL
  roster config show                      the effective settings and where each came from

Configuration: defaults < the file (--config FILE, else ./roster.toml when present) <
environment < command-line flags. Every key of the file is also ROSTER_ plus its path
with __ between levels (ROSTER_EDGE__IDLE_TIMEOUT); see roster.example.toml.

Environment:
  ROSTER_LISTEN, ROSTER_DATA_DIR, ROSTER_STORE   as --listen, --data-dir, --store
  ROSTER_ADMIN_TOKEN   token for the admin API (Authorization: Bearer …); without it one is
                       generated on first start, kept in DIR/admin-token and printed once
  ROSTER_LOG           log filter: error, warn, info (default), debug or trace, or per
                       module (roster_server=debug); logs never carry secrets or personal data
  ROSTER_LOG_FORMAT    text (default) or json: one JSON object per line

GET /healthz answers 200 while the process is alive, GET /readyz once it can serve;
GET /metrics is for Prometheus; GET /openapi.json describes the native API.";

#[derive(Debug, Parser)]
#[command(
    name = "roster",
    version = roster_server::build::LONG_VERSION,
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

/// Options every command takes, before or after its name. Each overrides the
/// configuration file and the environment.
#[derive(Debug, Args)]
struct Global {
    /// The configuration file (TOML); default ./roster.toml when it exists.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, global = true, value_name = "ADDR")]
    listen: Option<String>,
    /// Where the embedded store and the admin token live (kept private: 0700)
    /// [default: ./roster-data].
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// postgres://USER:PASSWORD@HOST:PORT/DB to use PostgreSQL, or sqlite:PATH for another
    /// SQLite file.
    #[arg(long, global = true, value_name = "URL")]
    store: Option<String>,
    /// How long the change log keeps a change, e.g. `7d`, `12h` or `30s`; older ones are
    /// pruned in the background [default: 7d].
    #[arg(long, global = true, value_name = "DURATION")]
    changes_retention: Option<String>,
    /// How long one smart-crowd job may run before it ends at status 2 (timed out),
    /// e.g. `30m`; `0s` times every job out (for tests) [default: 30m].
    #[arg(long, global = true, value_name = "DURATION")]
    crowd_timeout: Option<String>,
    /// Log lines as `text` or `json` [default: text].
    #[arg(long, global = true, value_name = "FORMAT")]
    log_format: Option<String>,
    /// Serve /metrics on this address instead of the main one.
    #[arg(long, global = true, value_name = "ADDR")]
    metrics_listen: Option<String>,
    /// Room of the result cache of audience counts, bytes; 0 turns it off
    /// [default: 4194304].
    #[arg(long, global = true, value_name = "BYTES")]
    count_cache_bytes: Option<u64>,
    /// How long in-flight requests may take to finish once roster is asked to stop
    /// (SIGTERM), e.g. `30s` [default: 30s].
    #[arg(long, global = true, value_name = "DURATION")]
    shutdown_grace: Option<String>,
    #[command(flatten)]
    edge: EdgeArgs,
}

/// Limits of the HTTP edge (see docs/edge.md).
#[derive(Debug, Args)]
#[command(next_help_heading = "Connection limits")]
struct EdgeArgs {
    /// Seconds a client may take to send a request's headers before it is disconnected
    /// [default: 10].
    #[arg(long, global = true, value_name = "SECONDS")]
    header_timeout: Option<f64>,
    /// Seconds a keep-alive connection may sit idle before it is closed [default: 60].
    #[arg(long, global = true, value_name = "SECONDS")]
    idle_timeout: Option<f64>,
    /// Connections served at once; more are answered 503 and closed [default: 4096].
    #[arg(long, global = true, value_name = "N")]
    max_connections: Option<usize>,
    /// Largest request body in bytes (413 beyond) [default: 2097152].
    #[arg(long, global = true, value_name = "BYTES")]
    max_body_bytes: Option<usize>,
}

impl Global {
    /// The flags given, by configuration key.
    fn flags(&self) -> roster_server::config::Flags {
        use figment::value::Value;
        let mut out: roster_server::config::Flags = Vec::new();
        let mut put = |key: &'static str, v: Option<Value>| {
            if let Some(v) = v {
                out.push((key, v));
            }
        };
        let text = |v: &Option<String>| v.as_ref().map(|s| Value::from(s.clone()));
        put("listen", text(&self.listen));
        put(
            "data_dir",
            self.data_dir
                .as_ref()
                .map(|d| Value::from(d.to_string_lossy().into_owned())),
        );
        put("store", text(&self.store));
        put("changes.retention", text(&self.changes_retention));
        put("jobs.crowd_timeout", text(&self.crowd_timeout));
        put("log.format", text(&self.log_format));
        put("metrics.listen", text(&self.metrics_listen));
        put("shutdown.grace", text(&self.shutdown_grace));
        put(
            "index.count_cache_bytes",
            self.count_cache_bytes.map(Value::from),
        );
        put(
            "edge.header_timeout",
            self.edge.header_timeout.map(Value::from),
        );
        put("edge.idle_timeout", self.edge.idle_timeout.map(Value::from));
        put(
            "edge.max_connections",
            self.edge.max_connections.map(Value::from),
        );
        put(
            "edge.max_body_bytes",
            self.edge.max_body_bytes.map(Value::from),
        );
        out
    }

    fn sources(&self) -> roster_server::config::Sources {
        roster_server::config::Sources::new(self.config.clone(), self.flags())
    }

    /// The effective configuration, or every problem with it.
    fn load(&self) -> Result<roster_server::config::Config, Failure> {
        loaded(&self.sources())
    }
}

/// The configuration `sources` give, or every problem with it.
fn loaded(sources: &roster_server::config::Sources) -> Result<Config, Failure> {
    sources.load().map_err(|problems| {
        Failure(format!(
            "the configuration is not valid:\n  {}",
            problems.join("\n  ")
        ))
    })
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server (what `roster` alone does).
    Serve,
    /// Create, list, show, delete apps and rotate their secrets directly in the store,
    /// without a running server.
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
    /// Write a consistent copy of the embedded store to a new file, while the server
    /// runs (SQLite's VACUUM INTO). PostgreSQL: use pg_dump (see docs/operating.md).
    Backup {
        /// The backup file to create.
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
    },
    /// Restore a backup into an empty or missing data directory (refuses a non-empty
    /// one); then start roster on it.
    Restore {
        /// The backup file.
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
    },
    /// Import devices or users from a file into the store directly (see docs/import-export.md).
    Import {
        #[command(subcommand)]
        command: bulk_cli::ImportCommand,
    },
    /// Export devices or users from the store directly to standard output.
    Export {
        #[command(subcommand)]
        command: bulk_cli::ExportCommand,
    },
    /// Print or check the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the effective configuration, secrets redacted, with where each value came
    /// from (flag, environment, file or default).
    Show,
    /// Check a configuration file (default: the one --config names, else ./roster.toml):
    /// names the line of each syntax error and the key of each wrong value.
    Check {
        /// The file to check.
        #[arg(value_name = "FILE")]
        file: Option<PathBuf>,
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
async fn prepare(settings: &Settings, needs_admin_token: bool) -> Result<(), Failure> {
    if let Some(url) = settings.store.as_deref().map(str::trim) {
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
                roster_server::redact_url(url)
            )));
        }
    }
    // The embedded store lives there, and so does a generated admin token.
    if settings.store.is_none() || needs_admin_token {
        roster_store_sqlite::prepare_data_dir(&settings.data_dir).map_err(|e| {
            Failure(format!(
                "cannot use the data directory {}: {e}\n  Choose another with --data-dir or \
                 ROSTER_DATA_DIR.",
                settings.data_dir.display()
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

async fn serve(settings: &Settings, format: LogFormat) -> Result<(), Failure> {
    prepare(settings, settings.admin_token.is_none()).await?;
    let mut running = roster_server::start(settings, roster_core::time::system_clock()).await?;
    // The generated token (if any) was just written; its file gets the data dir's rule.
    if settings.admin_token.is_none() {
        roster_store_sqlite::prepare_data_dir(&settings.data_dir)
            .map_err(|e| Failure(format!("cannot secure the data directory: {e}")))?;
    }
    if format == LogFormat::Text {
        eprintln!("roster: listening on http://{}", running.addr);
    }
    tokio::select! {
        r = running.wait() => return r.map_err(Failure::from),
        _ = shutdown_signal() => {}
    }
    tracing::info!("shutting down");
    running.stop().await.map_err(Failure::from)
}

async fn app(settings: &Settings, command: &AppCommand) -> Result<(), Failure> {
    prepare(settings, false).await?;
    let out = roster_server::app_cli::run(settings, command).await?;
    let json = serde_json::to_string_pretty(&out)
        .map_err(|e| Failure(format!("cannot print the result: {e}")))?;
    println!("{json}");
    Ok(())
}

async fn changes(settings: &Settings, app: &str, after: u64, follow: bool) -> Result<(), Failure> {
    prepare(settings, false).await?;
    let app = app_arg(app)?;
    let out = roster_server::print_changes(settings, &app, after, follow);
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

async fn limits(settings: &Settings, command: &LimitsCommand) -> Result<(), Failure> {
    prepare(settings, false).await?;
    let out = match command {
        LimitsCommand::Show { app } => {
            roster_server::limits_report(settings, &app_arg(app)?).await?
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
            roster_server::limits_set(settings, &app_arg(app)?, &change).await?
        }
        LimitsCommand::Reset { app, action } => {
            roster_server::limits_reset(settings, &app_arg(app)?, action_arg(action)?).await?
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

/// Runs a command other than `config` with the effective configuration.
async fn run(command: Option<&Command>, config: &Config) -> Result<(), Failure> {
    let settings = config.settings();
    match command {
        None | Some(Command::Serve) => serve(&settings, config.log.format).await,
        Some(Command::App { command }) => app(&settings, command).await,
        Some(Command::Changes { app, after, follow }) => {
            changes(&settings, app, *after, *follow).await
        }
        Some(Command::Limits { command }) => limits(&settings, command).await,
        Some(Command::Backup { to }) => {
            let bytes = roster_server::backup(&settings, to)?;
            println!("backed up to {} ({bytes} bytes)", to.display());
            Ok(())
        }
        Some(Command::Restore { from }) => {
            roster_server::restore(&settings, from)?;
            println!(
                "restored {} into {}",
                from.display(),
                settings
                    .store
                    .as_deref()
                    .map_or_else(|| settings.data_dir.display().to_string(), str::to_owned)
            );
            Ok(())
        }
        Some(Command::Import { command }) => {
            prepare(&settings, false).await?;
            match bulk_cli::import(&settings, command).await? {
                0 => Ok(()),
                // The summary is printed; the status tells a script which way it went.
                code => std::process::exit(i32::from(code)),
            }
        }
        Some(Command::Export { command }) => {
            prepare(&settings, false).await?;
            bulk_cli::export(&settings, command).await
        }
        Some(Command::Config { .. }) => Ok(()),
    }
}

/// `roster config show|check`.
fn config(global: &Global, command: &ConfigCommand) -> Result<(), Failure> {
    match command {
        ConfigCommand::Show => {
            let sources = global.sources();
            let config = loaded(&sources)?;
            if let Some(file) = &sources.file {
                println!("# file: {}", file.display());
            }
            print!("{}", sources.show(&config));
            Ok(())
        }
        ConfigCommand::Check { file } => {
            let file = file.clone().or_else(|| global.sources().file);
            let Some(file) = file else {
                return Err(Failure(format!(
                    "no configuration file: name one, or create ./{}",
                    roster_server::config::DEFAULT_FILE
                )));
            };
            // The file alone over the defaults: what the environment or flags would
            // override is still checked.
            let alone = roster_server::config::Sources {
                file: Some(file.clone()),
                flags: Vec::new(),
                environment: false,
            };
            match alone.load() {
                Ok(_) => {
                    println!("{}: ok", file.display());
                    Ok(())
                }
                Err(problems) => Err(Failure(format!(
                    "{} is not valid:\n  {}",
                    file.display(),
                    problems.join("\n  ")
                ))),
            }
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Some(Command::Config { command }) => config(&cli.global, command),
        command => match cli.global.load() {
            Ok(config) => {
                logging::init(&config.log.level, config.log.format);
                run(command.as_ref(), &config).await
            }
            Err(e) => Err(e),
        },
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
            assert_eq!(cli.global.listen.as_deref(), Some("1.2.3.4:5"), "{args:?}");
            assert_eq!(cli.global.data_dir, Some(PathBuf::from("d")), "{args:?}");
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
            roster_server::redact_url("postgres://roster:pw@db:5432/x"),
            "postgres://roster:***@db:5432/x"
        );
        assert_eq!(roster_server::redact_url("mysql://a@b/c"), "mysql://a@b/c");
        assert_eq!(roster_server::redact_url("nonsense"), "nonsense");
    }
}
