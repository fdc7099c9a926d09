//! Small helpers more than one test module needs.

use std::sync::{Arc, Mutex};

/// A log sink in memory: a `tracing_subscriber` writer whose clones share one buffer.
#[derive(Clone, Default)]
pub(crate) struct LogBuf(pub(crate) Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// An `Authorization: Basic` header value.
pub(crate) fn basic(user: &str, pass: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    )
}

/// A fresh PostgreSQL database with roster's migrations applied.
pub(crate) async fn database() -> roster_testkit::TestPostgres {
    roster_testkit::TestPostgres::new(|url| async move {
        roster_store_postgres::PgStore::open(&url)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    })
    .await
}
