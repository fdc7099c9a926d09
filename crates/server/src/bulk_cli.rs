//! `roster import devices|users` and `roster export devices|users`: the store's bulk
//! drivers (`roster_store::bulk`, which the HTTP routes run too) on the store directly.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Subcommand, ValueEnum};
use roster_core::audience::Selector;
use roster_core::AudienceQuery;
use roster_server::Settings;
use roster_store::bulk::{self, ExportFormat, ImportFormat, ImportOptions, ImportSummary};

use crate::{app_arg, Failure};

/// Exit status of an import that finished with refused lines.
pub(crate) const EXIT_LINES_FAILED: u8 = 3;
/// Exit status of an import stopped by `--max-errors`.
pub(crate) const EXIT_STOPPED: u8 = 4;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum InFormat {
    /// roster's NDJSON (what export writes).
    Ndjson,
    /// Getui-style CSV: cid, alias, tags (space-separated), brand, region[, phone_type].
    GetuiCsv,
    /// UMS-style CSV (users): userid, then `<field>:<bind_id>` binding columns.
    UmsCsv,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum OutFormat {
    /// One JSON object per line; import reads it back.
    Ndjson,
    /// A header and one row per device.
    Csv,
}

/// The arguments of an import.
#[derive(Debug, clap::Args)]
pub(crate) struct ImportArgs {
    /// The app.
    #[arg(long, value_name = "ID")]
    app: String,
    /// The file (`-` for standard input).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Stop after this many refused lines.
    #[arg(long, value_name = "N")]
    max_errors: Option<u64>,
    /// The file's format.
    #[arg(long, value_enum)]
    format: Option<InFormat>,
    /// Lines per transaction.
    #[arg(long, default_value_t = bulk::BATCH, value_name = "N")]
    batch: usize,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ImportCommand {
    /// Import devices from an NDJSON or Getui-style CSV file (detected from its first
    /// line unless --format says). Exit status: 0 all lines imported, 3 some lines
    /// refused (listed on stderr), 4 stopped by --max-errors, 1 failure.
    Devices(ImportArgs),
    /// Import users from an NDJSON or UMS-style CSV file (detected from its first line
    /// unless --format says); import the devices their registration ids name first.
    /// Exit status as for devices.
    Users(ImportArgs),
}

#[derive(Debug, Subcommand)]
pub(crate) enum ExportCommand {
    /// Export devices to standard output.
    Devices {
        /// The app.
        #[arg(long, value_name = "ID")]
        app: String,
        /// Only the devices matching this selector (JSON, as `audience/count` takes it).
        #[arg(long, value_name = "JSON")]
        selector: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutFormat::Ndjson)]
        format: OutFormat,
    },
    /// Export users (uid order) to standard output.
    Users {
        /// The app.
        #[arg(long, value_name = "ID")]
        app: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutFormat::Ndjson)]
        format: OutFormat,
    },
}

/// Reports progress on stderr: a bar with rate and ETA on a terminal, a plain line
/// every two seconds otherwise.
struct Report {
    bar: Option<indicatif::ProgressBar>,
    started: Instant,
    last: Instant,
}

impl Report {
    fn new(total: Option<u64>) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total.unwrap_or(0));
            let style = indicatif::ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {msg} ({bytes_per_sec}, eta {eta})",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
            bar.set_style(style);
            bar
        });
        Report {
            bar,
            started: Instant::now(),
            last: Instant::now(),
        }
    }

    fn tell(&mut self, p: bulk::Progress) {
        let secs = self.started.elapsed().as_secs_f64().max(1e-9);
        if let Some(bar) = &self.bar {
            bar.set_position(p.bytes);
            bar.set_message(format!("{} lines, {} failed", p.lines, p.failed));
        } else if self.last.elapsed() >= Duration::from_secs(2) {
            self.last = Instant::now();
            eprintln!(
                "roster: import: {} lines ({:.0} lines/s), {} failed",
                p.lines,
                p.lines as f64 / secs,
                p.failed
            );
        }
    }
}

pub(crate) async fn import(settings: &Settings, command: &ImportCommand) -> Result<u8, Failure> {
    let (users, args) = match command {
        ImportCommand::Devices(args) => (false, args),
        ImportCommand::Users(args) => (true, args),
    };
    let ImportArgs {
        app,
        file,
        max_errors,
        format,
        batch,
    } = args;
    let app = app_arg(app)?;
    let store = roster_server::open_cli_store(settings).await?;
    if store.get_app(&app).await.map_err(store_failure)?.is_none() {
        return Err(Failure(format!("no app {app}")));
    }
    let opts = ImportOptions {
        format: format.map(|f| match f {
            InFormat::Ndjson => ImportFormat::Ndjson,
            InFormat::GetuiCsv => ImportFormat::GetuiCsv,
            InFormat::UmsCsv => ImportFormat::UmsCsv,
        }),
        max_errors: *max_errors,
        batch: (*batch).max(1),
    };
    let started = Instant::now();
    let summary = if file.as_os_str() == "-" {
        let reader = tokio::io::BufReader::with_capacity(1 << 20, tokio::io::stdin());
        let mut report = Report::new(None);
        run_import(&*store, &app, reader, opts, users, &mut report).await?
    } else {
        let f = tokio::fs::File::open(file)
            .await
            .map_err(|e| Failure(format!("cannot open {}: {e}", file.display())))?;
        let total = f.metadata().await.ok().map(|m| m.len());
        let reader = tokio::io::BufReader::with_capacity(1 << 20, f);
        let mut report = Report::new(total);
        run_import(&*store, &app, reader, opts, users, &mut report).await?
    };
    Ok(finish(&summary, started.elapsed()))
}

async fn run_import<R: tokio::io::AsyncBufRead + Unpin + Send>(
    store: &dyn roster_store::Store,
    app: &roster_core::AppId,
    reader: R,
    opts: ImportOptions,
    users: bool,
    report: &mut Report,
) -> Result<ImportSummary, Failure> {
    let clock = roster_core::time::now_ms;
    let mut tell = |p| report.tell(p);
    let r = if users {
        bulk::import_users(store, app, reader, opts, &clock, &mut tell).await
    } else {
        bulk::import_devices(store, app, reader, opts, &clock, &mut tell).await
    };
    if let Some(bar) = &report.bar {
        bar.finish_and_clear();
    }
    r.map_err(store_failure)
}

/// Prints the refused lines and the summary on stderr; the exit status.
fn finish(s: &ImportSummary, took: Duration) -> u8 {
    for e in &s.errors {
        eprintln!("line {}: {}", e.line, e.message);
    }
    if s.failed > s.errors.len() as u64 {
        eprintln!(
            "… and {} more refused lines",
            s.failed - s.errors.len() as u64
        );
    }
    let secs = took.as_secs_f64().max(1e-9);
    eprintln!(
        "roster: import: {} lines in {:.1} s ({:.0} lines/s): {} inserted, {} updated, {} unchanged, {} failed{}",
        s.lines,
        secs,
        s.lines as f64 / secs,
        s.inserted,
        s.updated,
        s.unchanged,
        s.failed,
        if s.stopped { " (stopped at --max-errors)" } else { "" }
    );
    if s.stopped {
        EXIT_STOPPED
    } else if s.failed > 0 {
        EXIT_LINES_FAILED
    } else {
        0
    }
}

fn store_failure(e: roster_store::StoreError) -> Failure {
    Failure(match e {
        roster_store::StoreError::Backend(m) => m,
        other => other.to_string(),
    })
}

pub(crate) async fn export(settings: &Settings, command: &ExportCommand) -> Result<(), Failure> {
    let (users, app, selector, format) = match command {
        ExportCommand::Devices {
            app,
            selector,
            format,
        } => (false, app, selector.as_deref(), format),
        ExportCommand::Users { app, format } => (true, app, None, format),
    };
    let app = app_arg(app)?;
    let query = match selector {
        Some(s) => {
            let selector: Selector = serde_json::from_str(s)
                .map_err(|e| Failure(format!("--selector is not a selector: {e}")))?;
            Some(AudienceQuery {
                selector,
                exclude_blacklisted: false,
                exclude_notification_off: false,
            })
        }
        None => None,
    };
    let format = match format {
        OutFormat::Ndjson => ExportFormat::Ndjson,
        OutFormat::Csv => ExportFormat::Csv,
    };
    let store = roster_server::open_cli_store(settings).await?;
    if store.get_app(&app).await.map_err(store_failure)?.is_none() {
        return Err(Failure(format!("no app {app}")));
    }
    let now = roster_core::time::now_ms();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
    let io = |e: std::io::Error| Failure(format!("cannot write the export: {e}"));
    let head = if users {
        format.user_head()
    } else {
        format.head()
    };
    out.write_all(&head).map_err(io)?;
    let (mut after, mut after_uid) = (None, None);
    let mut chunk = Vec::with_capacity(1 << 20);
    loop {
        chunk.clear();
        let read = if users {
            let page = store
                .export_users(&app, after_uid, bulk::PAGE)
                .await
                .map_err(store_failure)?;
            format.write_users(&page.lines, &mut chunk);
            after_uid = page.last;
            page.lines.len()
        } else {
            let (page, last) = store
                .export_devices(&app, query.as_ref(), after, bulk::PAGE, now)
                .await
                .map_err(store_failure)?;
            format.write(&page, &mut chunk);
            after = last;
            page.len()
        };
        out.write_all(&chunk).map_err(io)?;
        if read < bulk::PAGE {
            break;
        }
    }
    out.flush().map_err(io)
}
