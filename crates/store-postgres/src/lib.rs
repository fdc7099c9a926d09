//! The PostgreSQL store: every `Store` trait over a connection pool, for deployments
//! where several stateless roster nodes share one PostgreSQL(-compatible) database.
//!
//! Writes run at READ COMMITTED and first lock their app's row (`SELECT … FOR UPDATE`),
//! so the rules that depend on stored state (ten cids per alias, a hundred tags per
//! cid, dense ordinals) hold however many nodes write at once. A write returns after
//! `COMMIT`, which PostgreSQL acknowledges once its WAL is flushed
//! (`synchronous_commit = on`, the default).

use std::sync::Arc;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod};
use roster_store::{StoreError, StoreResult};
use tokio_postgres::NoTls;

mod backend;
mod connect;
mod listen;
mod scan;

/// Migrations, applied in order; `roster_migrations` records which ran.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_init.sql"),
    include_str!("../migrations/0002_changes.sql"),
    include_str!("../migrations/0003_crowds.sql"),
    include_str!("../migrations/0004_quota.sql"),
    include_str!("../migrations/0005_credentials.sql"),
    include_str!("../migrations/0006_segments.sql"),
];

/// Connections per node.
const POOL_SIZE: usize = 16;

/// The PostgreSQL-backed [`roster_store::Store`].
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    /// For connections outside the pool (the change listener).
    cfg: tokio_postgres::Config,
    target: Arc<connect::Target>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").finish_non_exhaustive()
    }
}

pub(crate) trait Db<T> {
    fn db(self) -> StoreResult<T>;
}

impl<T> Db<T> for Result<T, tokio_postgres::Error> {
    fn db(self) -> StoreResult<T> {
        self.map_err(|e| StoreError::Backend(format!("postgres: {}", connect::error_text(&e))))
    }
}

impl PgStore {
    /// Connects to `url` (`postgres://user:pass@host:port/db`) and runs pending
    /// migrations (serialised across nodes by an advisory lock). A connection attempt
    /// gives up after ten seconds unless the URL sets `connect_timeout`. Errors say
    /// where roster tried, what failed and what to do, without the password.
    pub async fn open(url: &str) -> StoreResult<Self> {
        let (cfg, target) = connect::config(url)?;
        let mgr = Manager::from_config(
            cfg.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(mgr)
            .max_size(POOL_SIZE)
            .build()
            .map_err(|e| StoreError::Backend(format!("postgres pool: {e}")))?;
        let store = PgStore {
            pool,
            cfg,
            target: Arc::new(target),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Connects once to `url` and disconnects: whether roster can reach the database,
    /// with the same messages as [`PgStore::open`].
    pub async fn check(url: &str) -> StoreResult<()> {
        let (cfg, target) = connect::config(url)?;
        match cfg.connect(NoTls).await {
            Ok((client, connection)) => {
                drop(client);
                // With its client gone the connection says goodbye to the server and ends.
                let _ = tokio::time::timeout(std::time::Duration::from_secs(5), connection).await;
                Ok(())
            }
            Err(e) => Err(StoreError::Backend(connect::failure(&target, &e))),
        }
    }

    pub(crate) async fn client(&self) -> StoreResult<Object> {
        self.pool.get().await.map_err(|e| {
            StoreError::Backend(match e {
                PoolError::Backend(e) => connect::failure(&self.target, &e),
                other => format!("postgres connection: {other}"),
            })
        })
    }

    async fn migrate(&self) -> StoreResult<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.db()?;
        tx.execute("SELECT pg_advisory_xact_lock(7301130)", &[])
            .await
            .db()?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS roster_migrations (version BIGINT PRIMARY KEY)",
        )
        .await
        .db()?;
        let done: i64 = tx
            .query_one(
                "SELECT COALESCE(MAX(version), 0) FROM roster_migrations",
                &[],
            )
            .await
            .db()?
            .get(0);
        for (version, sql) in roster_store::pending_migrations(done, MIGRATIONS)? {
            tx.batch_execute(sql).await.db()?;
            tx.execute(
                "INSERT INTO roster_migrations (version) VALUES ($1)",
                &[&version],
            )
            .await
            .db()?;
            tracing::info!(version, "applied postgres migration");
        }
        tx.commit().await.db()
    }
}

#[cfg(test)]
mod tests {
    use roster_store_suite::Fixture;

    async fn fixture() -> Fixture {
        let db = roster_test_pg::TestDatabase::new(|url| async move {
            super::PgStore::open(&url)
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        })
        .await;
        let store = super::PgStore::open(db.url()).await.expect("open");
        Fixture {
            store: std::sync::Arc::new(roster_store::Registry::new(std::sync::Arc::new(store))),
            guard: Box::new(db),
        }
    }

    roster_store_suite::store_test_suite!(fixture);
}
