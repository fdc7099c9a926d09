//! Panic and log capture: a panic hook for the server's threads, and a buffer for its log.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, Once};

use super::SERVER_THREAD;

pub(super) static SERVER_PANICS: AtomicUsize = AtomicUsize::new(0);
pub(super) static PANIC_NOTES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Counts panics on the fuzzed server's threads (by thread name), then runs the hook
/// that was there before.
pub(super) fn install_panic_counter() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let on_server = std::thread::current()
                .name()
                .is_some_and(|n| n.starts_with(SERVER_THREAD));
            if on_server {
                SERVER_PANICS.fetch_add(1, Ordering::SeqCst);
                if let Ok(mut notes) = PANIC_NOTES.lock() {
                    notes.push(info.to_string());
                }
            }
            previous(info);
        }));
    });
}

pub(super) use crate::support::LogBuf;

/// The server's runtime: its threads are named for the panic hook and log to `log`.
pub(super) fn server_runtime(name: &str, log: LogBuf) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(name)
        .enable_all()
        .on_thread_start(move || {
            let log = log.clone();
            let sub = tracing_subscriber::fmt()
                .with_writer(move || log.clone())
                .with_ansi(false)
                .with_max_level(tracing::Level::WARN)
                .finish();
            // For the thread's whole life.
            std::mem::forget(tracing::subscriber::set_default(sub));
        })
        .build()
        .expect("server runtime")
}
