//! Bulk import and export, shared by the CLI (`roster import|export`) and the native
//! HTTP routes: the store calls ([`BulkStore`]), and the drivers that stream a file
//! through them — lines read one at a time, written in batches of [`BATCH`] lines (each
//! batch one transaction through the import rule and the change log), per-line errors
//! with 1-based line numbers, memory bounded by a batch whatever the file's size.

use async_trait::async_trait;
use roster_core::bulk::{
    getui_csv_line, ums_csv_line, DeviceLine, ExportedDevice, UserLine, CSV_DEVICE_HEADER,
    CSV_USER_HEADER, UMS_CSV_USERID,
};
use roster_core::rules::{self, Imported};
use roster_core::user::Uid;
use roster_core::{AppId, AudienceQuery};
use serde::Serialize;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

use crate::registry::{Backend, Registry};
use crate::{engine, AudienceStore, StoreError, StoreResult, UserStore};

/// Lines per import transaction.
pub const BATCH: usize = 10_000;
/// Devices per export page.
pub const PAGE: usize = 10_000;
/// Line errors an import summary lists (it counts them all).
pub const ERRORS_LISTED: usize = 1_000;

/// A page of a user export.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserPage {
    /// The users' lines, in uid order.
    pub lines: Vec<UserLine>,
    /// The last uid read (where the next page starts).
    pub last: Option<Uid>,
}

impl UserPage {
    /// Whether the page holds no user.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

/// Bulk calls of the store.
#[async_trait]
pub trait BulkStore: Send + Sync {
    /// Imports checked device lines in one transaction, each line on its own: its
    /// result, in input order. Unknown app: [`roster_core::Error::NotFound`].
    async fn import_devices(
        &self,
        app: &AppId,
        lines: Vec<DeviceLine>,
        now: i64,
    ) -> StoreResult<Vec<Result<Imported, roster_core::Error>>>;

    /// A page of an export, on one snapshot: up to `limit` devices after ordinal `after`
    /// (matching `query`, if any) in ordinal order, with `login_freq` as of `now`, and
    /// the last ordinal read (`None`: nothing more).
    async fn export_devices(
        &self,
        app: &AppId,
        query: Option<&AudienceQuery>,
        after: Option<u32>,
        limit: usize,
        now: i64,
    ) -> StoreResult<(Vec<ExportedDevice>, Option<u32>)>;

    /// Imports checked user lines in one transaction, each line on its own: its
    /// result, in input order. Unknown app: [`roster_core::Error::NotFound`].
    async fn import_users(
        &self,
        app: &AppId,
        lines: Vec<UserLine>,
        now: i64,
    ) -> StoreResult<Vec<Result<Imported, roster_core::Error>>>;

    /// A page of a user export: up to `limit` users after uid `after`, in uid order.
    async fn export_users(
        &self,
        app: &AppId,
        after: Option<Uid>,
        limit: usize,
    ) -> StoreResult<UserPage>;
}

#[async_trait]
impl<B: Backend> BulkStore for Registry<B> {
    async fn import_devices(
        &self,
        app: &AppId,
        lines: Vec<DeviceLine>,
        now: i64,
    ) -> StoreResult<Vec<Result<Imported, roster_core::Error>>> {
        self.write(app, rules::ImportDevices { lines, now }).await
    }

    async fn export_devices(
        &self,
        app: &AppId,
        query: Option<&AudienceQuery>,
        after: Option<u32>,
        limit: usize,
        now: i64,
    ) -> StoreResult<(Vec<ExportedDevice>, Option<u32>)> {
        self.ready(app).await?;
        // Segments expand as stored now; leaves SQL does not evaluate (crowds,
        // properties) pick the page's members on bitmaps, which SQL then reads by cid.
        let members;
        let query = match query {
            Some(q) => {
                let q = self.prepared(app, q).await?;
                if crate::crowds::needs_bitmaps(&q.selector) {
                    let page = self.audience_page(app, &q, after, limit).await?;
                    if page.is_empty() {
                        return Ok((Vec::new(), None));
                    }
                    members = AudienceQuery {
                        selector: roster_core::Selector::Cid(
                            page.into_iter().map(|(_, cid)| cid).collect(),
                        ),
                        exclude_blacklisted: false,
                        exclude_notification_off: false,
                    };
                } else {
                    members = q;
                }
                Some(&members)
            }
            None => None,
        };
        let stmts = engine::export_page(app, query, after, limit);
        engine::export_of(self.backend.query(stmts).await?, now)
    }

    async fn import_users(
        &self,
        app: &AppId,
        lines: Vec<UserLine>,
        now: i64,
    ) -> StoreResult<Vec<Result<Imported, roster_core::Error>>> {
        self.write(app, rules::ImportUsers { lines, now }).await
    }

    async fn export_users(
        &self,
        app: &AppId,
        after: Option<Uid>,
        limit: usize,
    ) -> StoreResult<UserPage> {
        let users = self.user_page(app, after, limit).await?;
        Ok(UserPage {
            last: users.last().map(|u| u.uid),
            lines: users.iter().map(UserLine::of).collect(),
        })
    }
}

/// What an import reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportFormat {
    /// roster's own NDJSON, one device per line (what export writes).
    Ndjson,
    /// A Getui-style CSV: a header naming `cid`, `alias`, `tags`, `brand`, `region`
    /// (and `phone_type`), one device per line.
    GetuiCsv,
    /// A UMS-style CSV: a header naming `userid` and binding columns, one user per
    /// line (`roster_core::bulk::ums_csv_line`).
    UmsCsv,
}

impl ImportFormat {
    /// Parses `ndjson` / `getui-csv` / `ums-csv`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ndjson" => Some(ImportFormat::Ndjson),
            "getui-csv" => Some(ImportFormat::GetuiCsv),
            "ums-csv" => Some(ImportFormat::UmsCsv),
            _ => None,
        }
    }

    /// Guesses from the first line: a JSON object is NDJSON, a header naming `cid` a
    /// Getui CSV, one naming `userid` a UMS CSV.
    pub fn detect(first: &str) -> Option<Self> {
        let t = first.trim_start_matches('\u{feff}').trim();
        if t.starts_with('{') {
            return Some(ImportFormat::Ndjson);
        }
        let cells = csv_cells(t).ok()?;
        if cells.iter().any(|c| c == "cid") {
            Some(ImportFormat::GetuiCsv)
        } else if cells.iter().any(|c| c == UMS_CSV_USERID) {
            Some(ImportFormat::UmsCsv)
        } else {
            None
        }
    }
}

/// What an export writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// One JSON object per line, the shape import reads.
    Ndjson,
    /// A header and one row per device (lists space-separated, properties as JSON).
    Csv,
}

impl ExportFormat {
    /// Parses `ndjson` / `csv`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ndjson" => Some(ExportFormat::Ndjson),
            "csv" => Some(ExportFormat::Csv),
            _ => None,
        }
    }

    /// Its media type.
    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Ndjson => "application/x-ndjson",
            ExportFormat::Csv => "text/csv; charset=utf-8",
        }
    }

    /// What comes before the first device (the CSV header).
    pub fn head(self) -> Vec<u8> {
        match self {
            ExportFormat::Ndjson => Vec::new(),
            ExportFormat::Csv => csv_row(CSV_DEVICE_HEADER.iter()),
        }
    }

    /// What comes before the first user (the CSV header).
    pub fn user_head(self) -> Vec<u8> {
        match self {
            ExportFormat::Ndjson => Vec::new(),
            ExportFormat::Csv => csv_row(CSV_USER_HEADER.iter()),
        }
    }

    /// Appends the lines of `users` to `out`.
    pub fn write_users(self, users: &[UserLine], out: &mut Vec<u8>) {
        for u in users {
            match self {
                ExportFormat::Ndjson => u.write_ndjson(out),
                ExportFormat::Csv => out.extend(csv_row(u.csv_record().iter())),
            }
        }
    }

    /// Appends the lines of `devices` to `out`.
    pub fn write(self, devices: &[ExportedDevice], out: &mut Vec<u8>) {
        for d in devices {
            match self {
                ExportFormat::Ndjson => d.write_ndjson(out),
                ExportFormat::Csv => out.extend(csv_row(d.csv_record().iter())),
            }
        }
    }
}

fn csv_row<I: AsRef<[u8]>>(cells: impl Iterator<Item = I>) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    // Writing to a Vec cannot fail.
    let _ = w.write_record(cells);
    w.into_inner().unwrap_or_default()
}

fn csv_cells(line: &str) -> Result<Vec<String>, roster_core::Error> {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(line.as_bytes());
    match r.records().next() {
        Some(Ok(rec)) => Ok(rec.iter().map(str::to_owned).collect()),
        Some(Err(e)) => Err(roster_core::Error::invalid(format!("csv: {e}"))),
        None => Ok(Vec::new()),
    }
}

/// How an import goes on.
#[derive(Debug, Clone, Copy)]
pub struct ImportOptions {
    /// The format; `None`: detected from the first line.
    pub format: Option<ImportFormat>,
    /// Stop once this many lines failed (the batch in hand is still written).
    pub max_errors: Option<u64>,
    /// Lines per transaction.
    pub batch: usize,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            format: None,
            max_errors: None,
            batch: BATCH,
        }
    }
}

/// A refused line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LineError {
    /// 1-based line number in the file (the CSV header is line 1).
    pub line: u64,
    /// Why.
    pub message: String,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ImportSummary {
    /// Lines read (blank lines and a CSV header included).
    pub lines: u64,
    /// Lines that inserted or changed a device.
    pub imported: u64,
    /// Of those, new devices.
    pub inserted: u64,
    /// Of those, known devices changed.
    pub updated: u64,
    /// Lines that found their device already as they say.
    pub unchanged: u64,
    /// Lines refused.
    pub failed: u64,
    /// The first refused lines (at most 1,000), in line order.
    pub errors: Vec<LineError>,
    /// Whether the import stopped at `max_errors` before the end of the file.
    pub stopped: bool,
}

impl ImportSummary {
    fn fail(&mut self, line: u64, message: String) {
        self.failed += 1;
        if self.errors.len() < ERRORS_LISTED {
            self.errors.push(LineError { line, message });
        }
    }

    fn count(&mut self, outcome: Imported) {
        match outcome {
            Imported::Inserted => {
                self.inserted += 1;
                self.imported += 1;
            }
            Imported::Updated => {
                self.updated += 1;
                self.imported += 1;
            }
            Imported::Unchanged => self.unchanged += 1,
        }
    }
}

/// Where an import stands, for a progress display.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    /// Lines read.
    pub lines: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Lines failed.
    pub failed: u64,
}

/// What an import brings in: its line, how a line of each format reads, how a batch
/// is written.
#[async_trait]
trait Target: Send + Sync {
    /// The checked line.
    type Line: Send;
    /// The CSV format of this target and the column its header must name.
    const CSV: (ImportFormat, &'static str);
    /// Reads an NDJSON line.
    fn ndjson(text: &str, now: i64) -> Result<Self::Line, roster_core::Error>;
    /// Maps a CSV row.
    fn csv(header: &[String], row: &[String], now: i64) -> Result<Self::Line, roster_core::Error>;
    /// Writes a batch in one transaction.
    async fn write(
        store: &dyn BulkStore,
        app: &AppId,
        lines: Vec<Self::Line>,
        now: i64,
    ) -> StoreResult<Vec<Result<Imported, roster_core::Error>>>;
}

struct Devices;
struct Users;

#[async_trait]
impl Target for Devices {
    type Line = DeviceLine;
    const CSV: (ImportFormat, &'static str) = (ImportFormat::GetuiCsv, "cid");
    fn ndjson(text: &str, now: i64) -> Result<DeviceLine, roster_core::Error> {
        DeviceLine::parse(text, now)
    }
    fn csv(header: &[String], row: &[String], now: i64) -> Result<DeviceLine, roster_core::Error> {
        getui_csv_line(header, row, now)
    }
    async fn write(
        store: &dyn BulkStore,
        app: &AppId,
        lines: Vec<DeviceLine>,
        now: i64,
    ) -> StoreResult<Vec<Result<Imported, roster_core::Error>>> {
        store.import_devices(app, lines, now).await
    }
}

#[async_trait]
impl Target for Users {
    type Line = UserLine;
    const CSV: (ImportFormat, &'static str) = (ImportFormat::UmsCsv, UMS_CSV_USERID);
    fn ndjson(text: &str, _now: i64) -> Result<UserLine, roster_core::Error> {
        UserLine::parse(text)
    }
    fn csv(header: &[String], row: &[String], _now: i64) -> Result<UserLine, roster_core::Error> {
        ums_csv_line(header, row)
    }
    async fn write(
        store: &dyn BulkStore,
        app: &AppId,
        lines: Vec<UserLine>,
        now: i64,
    ) -> StoreResult<Vec<Result<Imported, roster_core::Error>>> {
        store.import_users(app, lines, now).await
    }
}

/// Imports the devices of `reader` into `app`: parsed line by line, written in batches
/// of `opts.batch` lines. `clock` gives each batch's now (ms); `progress` is told after
/// every batch. A store failure ends the import with that error (the batches before it
/// are committed); refused lines are in the summary.
pub async fn import_devices<R: AsyncBufRead + Unpin + Send>(
    store: &dyn BulkStore,
    app: &AppId,
    reader: R,
    opts: ImportOptions,
    clock: &(dyn Fn() -> i64 + Send + Sync),
    progress: &mut (dyn FnMut(Progress) + Send),
) -> StoreResult<ImportSummary> {
    import::<Devices, R>(store, app, reader, opts, clock, progress).await
}

/// Imports the users of `reader` (NDJSON or UMS-style CSV) into `app`, as
/// [`import_devices`] imports devices.
pub async fn import_users<R: AsyncBufRead + Unpin + Send>(
    store: &dyn BulkStore,
    app: &AppId,
    reader: R,
    opts: ImportOptions,
    clock: &(dyn Fn() -> i64 + Send + Sync),
    progress: &mut (dyn FnMut(Progress) + Send),
) -> StoreResult<ImportSummary> {
    import::<Users, R>(store, app, reader, opts, clock, progress).await
}

async fn import<T: Target, R: AsyncBufRead + Unpin + Send>(
    store: &dyn BulkStore,
    app: &AppId,
    mut reader: R,
    opts: ImportOptions,
    clock: &(dyn Fn() -> i64 + Send + Sync),
    progress: &mut (dyn FnMut(Progress) + Send),
) -> StoreResult<ImportSummary> {
    let (csv_format, key) = T::CSV;
    if opts
        .format
        .is_some_and(|f| f != ImportFormat::Ndjson && f != csv_format)
    {
        return Err(roster_core::Error::invalid("format: not one this import reads").into());
    }
    let mut sum = ImportSummary::default();
    let mut buf = Vec::with_capacity(1024);
    let mut format = opts.format;
    let mut header: Option<Vec<String>> = None;
    let mut batch: Vec<(u64, T::Line)> = Vec::with_capacity(opts.batch.max(1));
    let mut bytes = 0u64;
    let mut now = clock();
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .await
            .map_err(|e| StoreError::Backend(format!("reading the import: {e}")))?;
        if n == 0 {
            break;
        }
        bytes += n as u64;
        sum.lines += 1;
        let no = sum.lines;
        let Ok(text) = std::str::from_utf8(&buf) else {
            sum.fail(no, "the line is not UTF-8".into());
            continue;
        };
        let text = text.trim_end_matches(['\n', '\r']);
        let text = if no == 1 {
            text.trim_start_matches('\u{feff}')
        } else {
            text
        };
        if text.trim().is_empty() {
            continue;
        }
        let fmt = match format {
            Some(f) => f,
            None => match ImportFormat::detect(text) {
                Some(f) if f == ImportFormat::Ndjson || f == csv_format => *format.insert(f),
                _ => {
                    return Err(roster_core::Error::invalid(format!(
                    "format: the first line is neither a JSON object nor a CSV header naming {key}"
                ))
                    .into())
                }
            },
        };
        let parsed = match fmt {
            ImportFormat::Ndjson => T::ndjson(text, now),
            _ => match &header {
                None => {
                    let cells = csv_cells(text)?;
                    if !cells.iter().any(|c| c == key) {
                        return Err(roster_core::Error::invalid(format!(
                            "header (no {key} column)"
                        ))
                        .into());
                    }
                    header = Some(cells.iter().map(|c| c.trim().to_owned()).collect());
                    continue;
                }
                Some(h) => csv_cells(text).and_then(|row| T::csv(h, &row, now)),
            },
        };
        match parsed {
            Ok(line) => batch.push((no, line)),
            Err(e) => sum.fail(no, e.to_string()),
        }
        if batch.len() >= opts.batch.max(1) {
            write_batch::<T>(store, app, &mut batch, now, &mut sum).await?;
            now = clock();
            progress(Progress {
                lines: sum.lines,
                bytes,
                failed: sum.failed,
            });
        }
        if opts.max_errors.is_some_and(|m| sum.failed >= m) {
            sum.stopped = true;
            break;
        }
    }
    write_batch::<T>(store, app, &mut batch, now, &mut sum).await?;
    progress(Progress {
        lines: sum.lines,
        bytes,
        failed: sum.failed,
    });
    // A line refused by the rule is counted after the parse errors after it.
    sum.errors.sort_by_key(|e| e.line);
    Ok(sum)
}

async fn write_batch<T: Target>(
    store: &dyn BulkStore,
    app: &AppId,
    batch: &mut Vec<(u64, T::Line)>,
    now: i64,
    sum: &mut ImportSummary,
) -> StoreResult<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let (nos, lines): (Vec<u64>, Vec<T::Line>) = std::mem::take(batch).into_iter().unzip();
    let results = T::write(store, app, lines, now).await?;
    for (no, r) in nos.into_iter().zip(results) {
        match r {
            Ok(o) => sum.count(o),
            Err(e) => sum.fail(no, e.to_string()),
        }
    }
    Ok(())
}
