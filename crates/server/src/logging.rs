//! Logging: `log.level` (`ROSTER_LOG`) chooses what is logged, within limits no filter
//! can lift; `log.format` (`ROSTER_LOG_FORMAT`) chooses text or JSON lines.
//!
//! No level of logging may print a secret, a token or a personal datum. roster's own
//! events never carry one (request spans name the route template, never the path), but
//! some libraries' do: at `debug` tokio-postgres logs every statement with its bound
//! parameters (phones, emails, cids, UMS keys, token digests), and at `trace` axum logs
//! the text of each rejected request body. So every event passes [`permitted`] after
//! the user's filter: the targets in [`OFF`] never log, and every other library logs
//! at most warnings. Log output to a file or a pipe carries no ANSI colour codes.

use std::io::IsTerminal;

use roster_server::config::LogFormat;
use tracing::{Level, Metadata};
use tracing_subscriber::filter::{filter_fn, EnvFilter};
use tracing_subscriber::prelude::*;

/// Targets that never log, at any level, whatever `ROSTER_LOG` says.
const OFF: &[&str] = &[
    // debug: "executing statement … with parameters: [...]", statements of batches and
    // prepares; info: server notices.
    "tokio_postgres",
    "postgres",
    "postgres_protocol",
    // trace: the rejection's body text, which can quote the request.
    "axum::rejection",
    // tower-http's default request span records the full URI (cids, aliases, tokens).
    "tower_http::trace::make_span",
];

/// Targets that log at every level `ROSTER_LOG` asks for: roster's own crates, the
/// server loop, and tower-http's request/response events (method, status, latency).
const OWN: &[&str] = &["roster", "axum::serve", "tower_http::trace"];

/// Whether `target` is `prefix` or inside it (`prefix::…`, or `prefix.…` as deadpool
/// names its targets; also `roster_…` for roster's crates).
fn within(target: &str, prefix: &str) -> bool {
    match target.strip_prefix(prefix) {
        Some(rest) => {
            rest.is_empty()
                || rest.starts_with("::")
                || rest.starts_with('.')
                || (prefix == "roster" && rest.starts_with('_'))
        }
        None => false,
    }
}

/// Whether an event or span of `target` at `level` may be logged at all.
pub fn permitted(target: &str, level: Level) -> bool {
    if OFF.iter().any(|p| within(target, p)) {
        return false;
    }
    if OWN.iter().any(|p| within(target, p)) {
        return true;
    }
    // Any other library (hyper, h2, reqwest, deadpool, rusqlite, tower, …): warnings
    // and errors only, so that a future dependency's debug output cannot leak either.
    level <= Level::WARN
}

fn permitted_meta(meta: &Metadata<'_>) -> bool {
    permitted(meta.target(), *meta.level())
}

/// Installs the global subscriber: `level` (a filter such as `info`, already checked by
/// the configuration; `info` otherwise) narrowed by [`permitted`], to stderr, as text
/// (coloured only on a terminal) or one JSON object per line with the event's fields,
/// the current span's fields (request id, dialect, route, app id) and the timestamp.
pub fn init(level: &str, format: LogFormat) {
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let layer = match format {
        LogFormat::Text => {
            let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(ansi)
                .with_filter(filter_fn(permitted_meta))
                .boxed()
        }
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .with_filter(filter_fn(permitted_meta))
            .boxed(),
    };
    // `init` also routes the `log` crate (tokio-postgres logs through it) into tracing,
    // where the same filters apply; a disabled `log` record is never even formatted.
    tracing_subscriber::registry()
        .with(filter)
        .with(layer)
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn driver_statement_targets_are_off_at_every_level() {
        for target in [
            "tokio_postgres",
            "tokio_postgres::query",
            "tokio_postgres::prepare",
            "tokio_postgres::simple_query",
            "tokio_postgres::connection",
            "postgres",
            "postgres_protocol::message",
            "axum::rejection",
            "tower_http::trace::make_span",
        ] {
            for level in [
                Level::ERROR,
                Level::WARN,
                Level::INFO,
                Level::DEBUG,
                Level::TRACE,
            ] {
                assert!(!permitted(target, level), "{target} at {level}");
            }
        }
    }

    #[test]
    fn other_libraries_only_warn() {
        for target in [
            "hyper",
            "hyper::proto::h1::io",
            "hyper_util::client",
            "h2::codec",
            "reqwest::connect",
            "rusqlite",
            "deadpool.postgres",
            "deadpool",
            "tower::buffer",
            "mio::poll",
            "tokio_postgresql_lookalike",
        ] {
            assert!(permitted(target, Level::WARN), "{target}");
            assert!(!permitted(target, Level::INFO), "{target}");
            assert!(!permitted(target, Level::TRACE), "{target}");
        }
    }

    #[test]
    fn own_targets_log_at_every_level() {
        for target in [
            "roster",
            "roster_server",
            "roster_api_getui::error",
            "roster_store_postgres",
            "tower_http::trace::on_response",
            "axum::serve",
        ] {
            assert!(permitted(target, Level::TRACE), "{target}");
        }
        assert!(!permitted("rosterish", Level::DEBUG));
    }
}
