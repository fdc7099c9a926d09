//! The HTTP edge: every reply a client can provoke is its dialect's JSON envelope, no
//! request can panic the server or hold a connection forever, and each request gets
//! one span and one access-log line.
//!
//! - [`guard`] wraps the whole router: it names the dialect (by the route that
//!   matched, else by path prefix), catches panics, turns every error reply that is
//!   not JSON (axum's own rejections, 405, 413, 415…) into the dialect's envelope,
//!   closes connections whose request body was left unread, and logs.
//! - [`conn`] accepts connections: a cap on concurrent connections (a JSON 503 beyond
//!   it), a header-read and an idle timeout, and the HTTP parser's own refusals
//!   (400/414/431) rewritten into the native envelope.

use std::time::Duration;

use axum::response::Response;
use roster_edge::{Dialect, Refusal};

mod body;
pub(crate) mod conn;
pub(crate) mod guard;

/// Limits of the HTTP edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeLimits {
    /// A connection that has started a request must finish its headers within this.
    pub header_timeout: Duration,
    /// A connection with no request in flight and no bytes arriving is closed after this.
    pub idle_timeout: Duration,
    /// Connections served at once; beyond it a connection gets a JSON 503 and is closed.
    pub max_connections: usize,
    /// Largest request body, in bytes (413 beyond).
    pub max_body_bytes: usize,
    /// Once a stop is asked for, how long in-flight requests may take to finish before
    /// their connections are closed (a followed change feed is closed at once).
    pub shutdown_grace: Duration,
}

impl Default for EdgeLimits {
    fn default() -> Self {
        EdgeLimits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 4096,
            max_body_bytes: roster_edge::DEFAULT_MAX_BODY_BYTES,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// A refusal in the envelope of `dialect`.
pub(crate) fn refusal(dialect: Dialect, r: Refusal) -> Response {
    match dialect {
        Dialect::Getui => roster_api_getui::refusal(r),
        Dialect::Ums => roster_api_jiguang::ums_refusal(r),
        Dialect::Growth => roster_api_jiguang::growth_refusal(r),
        Dialect::Engagelab => roster_api_engagelab::refusal(r),
        Dialect::Native => roster_api_native::refusal(r),
    }
}
