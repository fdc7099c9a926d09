//! Wakes a node when any node commits a change: a dedicated connection `LISTEN`s on
//! the channel every write `NOTIFY`s at commit (see the engine's dialect). It
//! reconnects after a failure and wakes once on each (re)connect, so whatever was
//! committed while it was away is caught up from the log; the node polls as well, so a
//! lost notification costs at most one poll interval.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, NoTls};

use crate::{connect, PgStore};

/// The channel writes notify.
pub const CHANNEL: &str = "roster_changes";

/// Pause before reconnecting.
const RETRY: Duration = Duration::from_secs(1);

impl PgStore {
    /// Starts listening: `wake` is notified on every committed change of any node and
    /// on every (re)connect. The task runs until aborted.
    pub fn listen(&self, wake: Arc<Notify>) -> JoinHandle<()> {
        let cfg = self.cfg.clone();
        let target = self.target.clone();
        tokio::spawn(async move {
            loop {
                match cfg.connect(NoTls).await {
                    Ok((client, mut conn)) => {
                        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
                        let driver = tokio::spawn(async move {
                            let mut messages =
                                futures_util::stream::poll_fn(move |cx| conn.poll_message(cx));
                            while let Some(m) = messages.next().await {
                                match m {
                                    Ok(AsyncMessage::Notification(_)) => {
                                        let _ = tx.send(());
                                    }
                                    Ok(_) => {}
                                    Err(e) => {
                                        tracing::warn!(error = %connect::error_text(&e), "change listener connection lost");
                                        break;
                                    }
                                }
                            }
                        });
                        match client.batch_execute(&format!("LISTEN {CHANNEL}")).await {
                            Ok(()) => {
                                tracing::debug!("listening for changes");
                                wake.notify_one();
                                while rx.recv().await.is_some() {
                                    wake.notify_one();
                                }
                            }
                            Err(e) => {
                                tracing::warn!(error = %connect::error_text(&e), "cannot listen for changes");
                            }
                        }
                        drop(client);
                        let _ = driver.await;
                    }
                    Err(e) => {
                        tracing::warn!(error = %connect::failure(&target, &e), "change listener cannot connect");
                    }
                }
                tokio::time::sleep(RETRY).await;
            }
        })
    }
}
