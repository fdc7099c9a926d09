//! The configuration: defaults < `roster.toml` < environment < command-line flags,
//! layered with figment. Every setting the server has lives in [`Config`]; the flat
//! environment names of earlier versions (`ROSTER_LISTEN`, `ROSTER_DATA_DIR`,
//! `ROSTER_STORE`, `ROSTER_LOG`, `ROSTER_ADMIN_TOKEN`, …) keep working, and every key
//! is also `ROSTER_` plus its path with `__` between levels (`ROSTER_EDGE__IDLE_TIMEOUT`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Format, Serialized, Toml};
use figment::{Figment, Provider as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{EdgeLimits, Settings};

/// The file read when `--config` is not given and it exists.
pub const DEFAULT_FILE: &str = "roster.toml";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable, coloured only on a terminal.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Every setting of the server.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to listen on.
    pub listen: String,
    /// Where the embedded store and a generated admin token live.
    pub data_dir: PathBuf,
    /// `postgres://…` or `sqlite:PATH`; unset: the embedded store in `data_dir`.
    pub store: Option<String>,
    /// The admin API's bearer token (secret); unset: generated once into `data_dir`.
    pub admin_token: Option<String>,
    /// Logging.
    pub log: LogConfig,
    /// Timeouts and limits of the HTTP edge.
    pub edge: EdgeConfig,
    /// The change log.
    pub changes: ChangesConfig,
    /// Background jobs.
    pub jobs: JobsConfig,
    /// Rate limits and quotas.
    pub quota: QuotaConfig,
    /// Prometheus metrics.
    pub metrics: MetricsConfig,
    /// The audience index.
    pub index: IndexConfig,
    /// Stopping.
    pub shutdown: ShutdownConfig,
}

/// `[log]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `error`, `warn`, `info`, `debug`, `trace`, or per module (`roster_server=debug`).
    pub level: String,
    /// `text` or `json`.
    pub format: LogFormat,
}

/// `[edge]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EdgeConfig {
    /// How long a client may take to send a request's headers.
    #[serde(with = "duration")]
    pub header_timeout: Duration,
    /// How long a keep-alive connection may sit idle.
    #[serde(with = "duration")]
    pub idle_timeout: Duration,
    /// Connections served at once; more are answered 503.
    pub max_connections: usize,
    /// Largest request body, bytes.
    pub max_body_bytes: usize,
}

/// `[changes]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChangesConfig {
    /// How long the change log keeps a change.
    #[serde(with = "duration")]
    pub retention: Duration,
}

/// `[jobs]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobsConfig {
    /// How long one smart-crowd job may run (`0s`: every job times out).
    #[serde(with = "duration")]
    pub crowd_timeout: Duration,
}

/// `[quota]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuotaConfig {
    /// The day boundary of apps that set none (an IANA zone).
    pub time_zone: String,
}

/// `[metrics]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Serve `/metrics` on this address instead of the main one.
    pub listen: Option<String>,
    /// Apps named in per-app metric labels; the rest are summed under `_other`.
    pub app_labels: usize,
}

/// `[index]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IndexConfig {
    /// Room of the result cache of audience counts, bytes (keys included); 0 turns it
    /// off.
    pub count_cache_bytes: u64,
}

/// `[shutdown]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShutdownConfig {
    /// How long in-flight requests may take to finish once a stop was asked for.
    #[serde(with = "duration")]
    pub grace: Duration,
}

impl Default for Config {
    fn default() -> Self {
        let edge = EdgeLimits::default();
        Config {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./roster-data"),
            store: None,
            admin_token: None,
            log: LogConfig::default(),
            edge: EdgeConfig {
                header_timeout: edge.header_timeout,
                idle_timeout: edge.idle_timeout,
                max_connections: edge.max_connections,
                max_body_bytes: edge.max_body_bytes,
            },
            changes: ChangesConfig::default(),
            jobs: JobsConfig::default(),
            quota: QuotaConfig::default(),
            metrics: MetricsConfig::default(),
            index: IndexConfig::default(),
            shutdown: ShutdownConfig::default(),
        }
    }
}

impl Default for IndexConfig {
    fn default() -> Self {
        IndexConfig {
            count_cache_bytes: roster_store::DEFAULT_COUNT_CACHE_BYTES,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

impl Default for EdgeConfig {
    fn default() -> Self {
        Config::default().edge
    }
}

impl Default for ChangesConfig {
    fn default() -> Self {
        ChangesConfig {
            retention: crate::DEFAULT_CHANGES_RETENTION,
        }
    }
}

impl Default for JobsConfig {
    fn default() -> Self {
        JobsConfig {
            crowd_timeout: crate::DEFAULT_CROWD_TIMEOUT,
        }
    }
}

impl Default for QuotaConfig {
    fn default() -> Self {
        QuotaConfig {
            time_zone: roster_core::quota::DEFAULT_TIME_ZONE.into(),
        }
    }
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            listen: None,
            app_labels: crate::DEFAULT_METRICS_APP_LABELS,
        }
    }
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        ShutdownConfig {
            grace: EdgeLimits::default().shutdown_grace,
        }
    }
}

/// Durations: a humantime string (`"30s"`, `"7d"`, `"1h 30m"`) or a number of seconds.
mod duration {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Secs(f64),
            Text(String),
        }
        let bad = || {
            serde::de::Error::custom(
                "expected a duration such as \"30s\", \"7d\" or a number of seconds",
            )
        };
        match Raw::deserialize(d)? {
            Raw::Secs(s) => Duration::try_from_secs_f64(s).map_err(|_| bad()),
            Raw::Text(t) => humantime::parse_duration(t.trim()).map_err(|_| bad()),
        }
    }
}

/// One setting: its key, its command-line flag and its environment names (the first
/// is the one documented).
struct Key {
    path: &'static str,
    flag: Option<&'static str>,
    env: &'static [&'static str],
    secret: bool,
    kind: Kind,
}

/// A key's type, so that each wrong value is named on its own.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    OptText,
    Count,
    Span,
    Format,
}

const fn key(
    path: &'static str,
    flag: Option<&'static str>,
    env: &'static [&'static str],
    kind: Kind,
) -> Key {
    Key {
        path,
        flag,
        env,
        secret: false,
        kind,
    }
}

/// A duration on its own, to check one key.
#[derive(Deserialize)]
#[serde(transparent)]
struct Span(#[serde(with = "duration")] Duration);

impl Kind {
    /// The key's problems, each as a line.
    fn problems(self, f: &Figment, path: &str) -> Vec<String> {
        let checked = match self {
            Kind::Text => f.extract_inner::<String>(path).map(drop),
            Kind::OptText => f.extract_inner::<Option<String>>(path).map(drop),
            Kind::Count => f.extract_inner::<usize>(path).map(drop),
            Kind::Span => f.extract_inner::<Span>(path).map(|s| {
                let _ = s.0;
            }),
            Kind::Format => f.extract_inner::<LogFormat>(path).map(drop),
        };
        match checked {
            Ok(()) => Vec::new(),
            Err(e) => e.into_iter().map(|e| describe(&e, path)).collect(),
        }
    }
}

/// Every leaf key, in the order `config show` prints them.
const KEYS: &[Key] = &[
    key("listen", Some("--listen"), &["ROSTER_LISTEN"], Kind::Text),
    key(
        "data_dir",
        Some("--data-dir"),
        &["ROSTER_DATA_DIR"],
        Kind::Text,
    ),
    Key {
        path: "store",
        flag: Some("--store"),
        env: &["ROSTER_STORE"],
        secret: true,
        kind: Kind::OptText,
    },
    Key {
        path: "admin_token",
        flag: None,
        env: &["ROSTER_ADMIN_TOKEN"],
        secret: true,
        kind: Kind::OptText,
    },
    key(
        "log.level",
        None,
        &["ROSTER_LOG", "ROSTER_LOG__LEVEL"],
        Kind::Text,
    ),
    key(
        "log.format",
        Some("--log-format"),
        &["ROSTER_LOG_FORMAT", "ROSTER_LOG__FORMAT"],
        Kind::Format,
    ),
    key(
        "edge.header_timeout",
        Some("--header-timeout"),
        &["ROSTER_EDGE__HEADER_TIMEOUT", "ROSTER_HEADER_TIMEOUT"],
        Kind::Span,
    ),
    key(
        "edge.idle_timeout",
        Some("--idle-timeout"),
        &["ROSTER_EDGE__IDLE_TIMEOUT", "ROSTER_IDLE_TIMEOUT"],
        Kind::Span,
    ),
    key(
        "edge.max_connections",
        Some("--max-connections"),
        &["ROSTER_EDGE__MAX_CONNECTIONS", "ROSTER_MAX_CONNECTIONS"],
        Kind::Count,
    ),
    key(
        "edge.max_body_bytes",
        Some("--max-body-bytes"),
        &["ROSTER_EDGE__MAX_BODY_BYTES", "ROSTER_MAX_BODY_BYTES"],
        Kind::Count,
    ),
    key(
        "changes.retention",
        Some("--changes-retention"),
        &["ROSTER_CHANGES__RETENTION", "ROSTER_CHANGES_RETENTION"],
        Kind::Span,
    ),
    key(
        "jobs.crowd_timeout",
        Some("--crowd-timeout"),
        &["ROSTER_JOBS__CROWD_TIMEOUT", "ROSTER_CROWD_TIMEOUT"],
        Kind::Span,
    ),
    key(
        "quota.time_zone",
        None,
        &["ROSTER_QUOTA__TIME_ZONE"],
        Kind::Text,
    ),
    key(
        "metrics.listen",
        Some("--metrics-listen"),
        &["ROSTER_METRICS__LISTEN"],
        Kind::OptText,
    ),
    key(
        "metrics.app_labels",
        None,
        &["ROSTER_METRICS__APP_LABELS"],
        Kind::Count,
    ),
    key(
        "index.count_cache_bytes",
        Some("--count-cache-bytes"),
        &["ROSTER_INDEX__COUNT_CACHE_BYTES"],
        Kind::Count,
    ),
    key(
        "shutdown.grace",
        Some("--shutdown-grace"),
        &["ROSTER_SHUTDOWN__GRACE"],
        Kind::Span,
    ),
];

/// The environment as a layer: for each key, the first of its variables that is set
/// (its names in [`KEYS`] order, then its `ROSTER_A__B` spelling: [`env_source`], the
/// same rule `config show` reports). A text key takes the value as it is (a numeric admin
/// token or directory name stays text); other keys read it as TOML-like data, as
/// figment's own environment provider does. A `ROSTER_A__B` variable naming no key is
/// passed on, to be reported as an unknown key.
struct Environment;

impl figment::Provider for Environment {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named("environment")
    }

    fn data(
        &self,
    ) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        use figment::value::{Dict, Value};
        fn merge(into: &mut Dict, from: Dict) {
            for (k, v) in from {
                match (into.get_mut(&k), v) {
                    (Some(Value::Dict(_, a)), Value::Dict(_, b)) => merge(a, b),
                    (_, v) => {
                        into.insert(k, v);
                    }
                }
            }
        }
        let data = |raw: String| raw.parse::<Value>().unwrap_or_else(|never| match never {});
        let mut dict = Dict::new();
        let mut put = |path: &str, value: Value| {
            if let Some(nested) = figment::util::nest(path, value).into_dict() {
                merge(&mut dict, nested);
            }
        };
        for k in KEYS {
            let Some(raw) = env_source(k).and_then(|name| std::env::var(name).ok()) else {
                continue;
            };
            match k.kind {
                Kind::Text | Kind::OptText => put(k.path, Value::from(raw)),
                _ => put(k.path, data(raw)),
            }
        }
        for (name, raw) in std::env::vars() {
            let Some(rest) = name.strip_prefix("ROSTER_").filter(|r| r.contains("__")) else {
                continue;
            };
            let path = rest.to_ascii_lowercase().replace("__", ".");
            if !KEYS.iter().any(|k| k.path == path) {
                put(&path, data(raw));
            }
        }
        Ok(figment::Profile::Default.collect(dict))
    }
}

/// Values given on the command line, by key path.
pub type Flags = Vec<(&'static str, figment::value::Value)>;

/// Where the configuration comes from.
pub struct Sources {
    /// The file, if one is read.
    pub file: Option<PathBuf>,
    /// Flags given on the command line.
    pub flags: Flags,
    /// Whether the environment is read (`config check` reads the file alone).
    pub environment: bool,
}

impl Sources {
    /// The file `--config` names, else `./roster.toml` when it exists.
    pub fn new(config: Option<PathBuf>, flags: Flags) -> Self {
        let file = config.or_else(|| {
            let default = PathBuf::from(DEFAULT_FILE);
            default.exists().then_some(default)
        });
        Sources {
            file,
            flags,
            environment: true,
        }
    }

    fn figment(&self) -> Figment {
        let mut f = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = &self.file {
            f = f.merge(Toml::file_exact(file));
        }
        if self.environment {
            f = f.merge(Environment);
        }
        for (path, value) in &self.flags {
            f = f.merge((*path, value.clone()));
        }
        f
    }

    /// The effective configuration, or every problem found (each naming its key, or
    /// for a file that is not TOML, its line).
    pub fn load(&self) -> Result<Config, Vec<String>> {
        if let Some(file) = &self.file {
            if !file.exists() {
                return Err(vec![format!("{}: no such file", file.display())]);
            }
        }
        let figment = self.figment();
        // Each key on its own first, so that every wrong value and unknown key is named.
        let mut problems: Vec<String> = unknown_keys(&figment);
        for k in KEYS {
            problems.extend(k.kind.problems(&figment, k.path));
        }
        problems.dedup();
        if !problems.is_empty() {
            return Err(problems);
        }
        let config: Config = figment
            .extract()
            .map_err(|e| e.into_iter().map(|e| describe(&e, "")).collect::<Vec<_>>())?;
        let problems = config.problems();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(problems)
        }
    }

    /// Each key's effective value (secrets redacted) and where it came from.
    pub fn show(&self, config: &Config) -> String {
        let value = serde_json::to_value(config).unwrap_or_default();
        let in_file = self
            .file
            .as_ref()
            .map(|f| Figment::from(Toml::file_exact(f)));
        let mut out = String::new();
        for k in KEYS {
            let v = k.path.split('.').fold(&value, |v, part| &v[part]).clone();
            let shown = match (&v, k.secret) {
                (serde_json::Value::Null, _) => "(unset)".to_owned(),
                (serde_json::Value::String(s), true) if k.path == "store" => {
                    format!("{:?}", crate::redact_url(s))
                }
                (_, true) => "\"<redacted>\"".to_owned(),
                (other, false) => other.to_string(),
            };
            let from = if let Some(flag) = k
                .flag
                .filter(|_| self.flags.iter().any(|(p, _)| *p == k.path))
            {
                format!("flag {flag}")
            } else if let Some(name) = env_source(k).filter(|_| self.environment) {
                format!("environment {name}")
            } else if in_file
                .as_ref()
                .is_some_and(|f| f.find_value(k.path).is_ok())
            {
                format!(
                    "file {}",
                    self.file
                        .as_deref()
                        .map(Path::display)
                        .map_or_else(String::new, |d| d.to_string())
                )
            } else {
                "default".to_owned()
            };
            let _ = writeln!(out, "{} = {shown}  # {from}", k.path);
        }
        out
    }
}

/// The environment variable that set `k`, if one did (an alias, or its `__` spelling).
fn env_source(k: &Key) -> Option<String> {
    let nested = format!("ROSTER_{}", k.path.to_ascii_uppercase().replace('.', "__"));
    k.env
        .iter()
        .map(|n| (*n).to_owned())
        .chain(std::iter::once(nested))
        .find(|n| std::env::var_os(n).is_some())
}

/// The keys given (by any source) that are no setting.
fn unknown_keys(figment: &Figment) -> Vec<String> {
    fn walk(figment: &Figment, prefix: &str, dict: &figment::value::Dict, out: &mut Vec<String>) {
        for (k, v) in dict {
            let path = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            let known_leaf = KEYS.iter().any(|key| key.path == path);
            let table = format!("{path}.");
            let known_table = KEYS.iter().any(|key| key.path.starts_with(&table));
            match v {
                figment::value::Value::Dict(_, inner) if known_table => {
                    walk(figment, &path, inner, out)
                }
                _ if known_leaf => {}
                _ => out.push(format!("{path}: unknown key{}", source_of(figment, &path))),
            }
        }
    }
    let mut out = Vec::new();
    // A file that does not parse is reported by the key checks, with its line.
    if let Ok(data) = figment.data() {
        if let Some(dict) = data.get(&figment::Profile::Default) {
            walk(figment, "", dict, &mut out);
        }
    }
    out
}

fn source_of(figment: &Figment, path: &str) -> String {
    figment
        .find_metadata(path)
        .map(|m| match &m.source {
            Some(s) => format!(" (from {s})"),
            None => format!(" (from {})", m.name),
        })
        .unwrap_or_default()
}

/// One figment error as a line naming its key (or the file's line for a syntax error).
fn describe(e: &figment::Error, checked: &str) -> String {
    let mut key = e.path.join(".");
    if key.is_empty() && !matches!(e.kind, figment::error::Kind::Message(_)) {
        key = checked.to_owned();
    }
    let source = e
        .metadata
        .as_ref()
        .map(|m| match &m.source {
            Some(s) => format!(" (from {s})"),
            None => format!(" (from {})", m.name),
        })
        .unwrap_or_default();
    if key.is_empty() {
        format!("{}{source}", e.kind)
    } else {
        format!("{key}: {}{source}", e.kind)
    }
}

impl Config {
    /// What is wrong with values of the right type, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.listen.trim().is_empty() {
            out.push("listen: must not be empty".to_owned());
        }
        if let Some(store) = self.store.as_deref().map(str::trim) {
            let ok = store.starts_with("postgres://")
                || store.starts_with("postgresql://")
                || store.starts_with("sqlite:");
            if !ok {
                out.push(
                    "store: must be postgres://USER:PASSWORD@HOST:PORT/DB or sqlite:PATH".into(),
                );
            }
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            out.push(format!(
                "log.level: {:?} is not a log filter such as info or roster_server=debug",
                self.log.level
            ));
        }
        for (key, d) in [
            ("edge.header_timeout", self.edge.header_timeout),
            ("edge.idle_timeout", self.edge.idle_timeout),
            ("changes.retention", self.changes.retention),
        ] {
            if d.is_zero() {
                out.push(format!("{key}: must be longer than 0s"));
            }
        }
        if self.edge.max_connections == 0 {
            out.push("edge.max_connections: must be at least 1".into());
        }
        if self.edge.max_body_bytes == 0 {
            out.push("edge.max_body_bytes: must be at least 1".into());
        }
        if roster_core::quota::time_zone(&self.quota.time_zone).is_err() {
            out.push(format!(
                "quota.time_zone: {:?} is not an IANA time zone such as Asia/Shanghai",
                self.quota.time_zone
            ));
        }
        if self
            .metrics
            .listen
            .as_deref()
            .is_some_and(|l| l.trim().is_empty())
        {
            out.push("metrics.listen: must not be empty when set".into());
        }
        out
    }

    /// The server's settings.
    pub fn settings(&self) -> Settings {
        Settings {
            listen: self.listen.trim().to_owned(),
            data_dir: self.data_dir.clone(),
            store: self.store.as_deref().map(|s| s.trim().to_owned()),
            admin_token: self
                .admin_token
                .as_deref()
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned),
            edge: EdgeLimits {
                header_timeout: self.edge.header_timeout,
                idle_timeout: self.edge.idle_timeout,
                max_connections: self.edge.max_connections,
                max_body_bytes: self.edge.max_body_bytes,
                shutdown_grace: self.shutdown.grace,
            },
            changes_retention: self.changes.retention,
            crowd_timeout: self.jobs.crowd_timeout,
            time_zone: self.quota.time_zone.clone(),
            metrics_listen: self
                .metrics
                .listen
                .as_deref()
                .map(str::trim)
                .map(str::to_owned),
            metrics_app_labels: self.metrics.app_labels,
            count_cache_bytes: self.index.count_cache_bytes,
        }
    }
}
