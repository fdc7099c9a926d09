//! `roster`: serve the registry, or manage apps from the command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use roster_server::Settings;
use tracing_subscriber::EnvFilter;

/// Self-hosted user and audience registry for push platforms.
#[derive(Debug, Parser)]
#[command(name = "roster", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve(ServeArgs),
    /// Manage apps directly in the store.
    App {
        #[command(subcommand)]
        command: AppCommand,
    },
}

#[derive(Debug, Subcommand)]
enum AppCommand {
    /// Create an app and print its credentials as JSON.
    Create {
        /// Display name.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Debug, Args, Default)]
struct StoreArgs {
    /// Data directory of the embedded store.
    #[arg(long, env = "ROSTER_DATA_DIR", default_value = "./roster-data")]
    data_dir: PathBuf,
    /// Store URL: `postgres://user:pass@host:port/db` for PostgreSQL, or `sqlite:PATH`.
    /// Default: the embedded store in the data directory.
    #[arg(long, env = "ROSTER_STORE")]
    store: Option<String>,
}

#[derive(Debug, Args, Default)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "ROSTER_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    #[command(flatten)]
    store: StoreArgs,
}

fn settings(store: StoreArgs, listen: String) -> Settings {
    Settings {
        listen,
        data_dir: store.data_dir,
        store: store.store,
        admin_token: std::env::var("ROSTER_ADMIN_TOKEN").ok(),
        edge: Default::default(),
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let settings = settings(args.store, args.listen);
    let mut running = roster_server::start(&settings, roster_core::time::system_clock()).await?;
    eprintln!("roster: listening on http://{}", running.addr);
    tokio::select! {
        r = running.wait() => return r,
        _ = shutdown_signal() => {}
    }
    tracing::info!("shutting down");
    running.stop().await
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
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("ROSTER_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        None => {
            // `roster` alone serves with defaults; parse them through clap so env applies.
            let args = ServeArgs::from_env_defaults();
            serve(args).await
        }
        Some(Command::Serve(args)) => serve(args).await,
        Some(Command::App {
            command: AppCommand::Create { name, store },
        }) => {
            let creds = roster_server::create_app(&settings(store, String::new()), &name).await?;
            println!("{}", serde_json::to_string_pretty(&creds)?);
            Ok(())
        }
    }
}

impl ServeArgs {
    fn from_env_defaults() -> Self {
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            serve: ServeArgs,
        }
        Only::parse_from(["roster"]).serve
    }
}
