//! A node's upkeep, in the background: it applies what other nodes commit to the
//! change log (woken by the store, and polled), removes changes older than the
//! retention, and runs smart-crowd jobs.

use std::sync::Arc;
use std::time::Duration;

use roster_core::time::Clock;
use roster_store::Store;
use tokio::sync::{watch, Notify};

/// How often a node looks for other nodes' commits when nothing woke it.
const POLL: Duration = Duration::from_secs(1);

/// What the background tasks of a serving node need.
pub(crate) struct Upkeep {
    pub store: Arc<dyn Store>,
    pub wake: Arc<Notify>,
    pub retention: Duration,
    pub crowd_timeout: Duration,
    pub clock: Clock,
}

impl Upkeep {
    /// Starts the catch-up, pruning and smart-crowd job tasks; they end when `stop`
    /// turns true. Answers the job runner's handle: it hands its job back as it ends.
    pub fn spawn(self, stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(catch_up(self.store.clone(), self.wake, stop.clone()));
        tokio::spawn(prune(
            self.store.clone(),
            self.retention,
            self.clock.clone(),
            stop.clone(),
        ));
        tokio::spawn(crate::jobs::run(
            self.store,
            self.clock,
            self.crowd_timeout,
            stop,
        ))
    }
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

async fn catch_up(store: Arc<dyn Store>, wake: Arc<Notify>, mut stop: watch::Receiver<bool>) {
    let mut failing = false;
    loop {
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
            _ = stopped(&mut stop) => return,
        }
        match store.catch_up().await {
            Ok(()) if failing => {
                failing = false;
                tracing::info!("caught up with the change log again");
            }
            Ok(()) => {}
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(error = %e, "cannot read the change log; answering from the last state");
            }
            Err(_) => {}
        }
    }
}

/// Every tenth of the retention (between 1 s and a minute), removes older changes and
/// the daily quota counts of days that have ended.
async fn prune(
    store: Arc<dyn Store>,
    retention: Duration,
    clock: Clock,
    mut stop: watch::Receiver<bool>,
) {
    let every = (retention / 10).clamp(Duration::from_secs(1), Duration::from_secs(60));
    let keep_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stopped(&mut stop) => return,
        }
        let now = clock();
        match store.prune_changes(now.saturating_sub(keep_ms)).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(entries = n, "pruned the change log"),
            Err(e) => tracing::warn!(error = %e, "cannot prune the change log"),
        }
        // Daily quota counts whose day has ended.
        if let Err(e) = store.prune_quota_usage(now).await {
            tracing::warn!(error = %e, "cannot prune the daily quota counts");
        }
    }
}
