//! PostgreSQL as a [`Backend`]: statements of `roster_store::engine`, bound and run.
//! Every write goes through [`PgStore::write`]: one transaction that first locks the
//! app's row, so no write path can forget the lock that keeps the rules true across
//! nodes; every read through one REPEATABLE READ snapshot.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use bytes::BytesMut;
use deadpool_postgres::{Object, Transaction};
use futures_util::future::try_join_all;
use roster_core::rules::{self, Rule, State};
use roster_core::AppId;
use roster_index::AppIndex;
use roster_store::engine::{self, Dialect, Lists};
use roster_store::value::{Row, Stmt, Value};
use roster_store::{metric, Backend, StoreResult, Write};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use tokio_postgres::IsolationLevel;

use crate::{Db, PgStore};

/// Writes of all nodes to one app take turns on the app's row; users of all apps share
/// one uid sequence, so taking uids takes a lock of its own first.
const DIALECT: Dialect = Dialect {
    lock_app: Some("SELECT 1 FROM apps WHERE id = $1 FOR UPDATE"),
    next_uid: &[
        "SELECT pg_advisory_xact_lock(7301131)",
        "SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END FROM users_uid_seq",
    ],
    uid_used: Some("SELECT setval('users_uid_seq', r.uid) FROM r"),
    notify: Some("SELECT pg_notify('roster_changes', $1)"),
    lists: Lists::Arrays,
};

#[derive(Debug)]
struct Bind<'a>(&'a Value);

impl ToSql for Bind<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self.0 {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(v) => v.to_sql(ty, out),
            Value::Bool(v) => v.to_sql(ty, out),
            Value::Text(v) => v.to_sql(ty, out),
            Value::Array(items) => items.iter().map(Bind).collect::<Vec<_>>().to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn row(r: &tokio_postgres::Row) -> StoreResult<Row> {
    let mut out = Vec::with_capacity(r.len());
    for (i, c) in r.columns().iter().enumerate() {
        let v = match *c.type_() {
            Type::INT8 => r.try_get::<_, Option<i64>>(i).db()?.map(Value::Int),
            Type::INT4 => r
                .try_get::<_, Option<i32>>(i)
                .db()?
                .map(|v| Value::Int(v.into())),
            Type::BOOL => r.try_get::<_, Option<bool>>(i).db()?.map(Value::Bool),
            Type::TEXT | Type::VARCHAR => r.try_get::<_, Option<String>>(i).db()?.map(Value::Text),
            _ => None,
        };
        out.push(v.unwrap_or(Value::Null));
    }
    Ok(out)
}

fn params(s: &Stmt) -> Vec<Bind<'_>> {
    s.params.iter().map(Bind).collect()
}

fn refs<'a>(b: &'a [Bind<'a>]) -> Vec<&'a (dyn ToSql + Sync)> {
    b.iter().map(|b| b as &(dyn ToSql + Sync)).collect()
}

async fn query(tx: &Transaction<'_>, s: &Stmt) -> StoreResult<Vec<Row>> {
    let stmt = tx.prepare_cached(&s.sql).await.db()?;
    let binds = params(s);
    let rows = tx.query(&stmt, &refs(&binds)).await.db()?;
    rows.iter().map(row).collect()
}

async fn execute(tx: &Transaction<'_>, s: &Stmt) -> StoreResult<u64> {
    let stmt = tx.prepare_cached(&s.sql).await.db()?;
    let binds = params(s);
    tx.execute(&stmt, &refs(&binds)).await.db()
}

/// Loads what `rule` needs, round after round.
async fn load<R: Rule + ?Sized>(tx: &Transaction<'_>, app: &AppId, rule: &R) -> StoreResult<State> {
    let mut state = State::default();
    while let Some(step) = engine::step(app, rule, &state, &DIALECT) {
        // The queries of a step are independent: sent together, one round trip.
        let results = try_join_all(step.statements().map(|s| query(tx, s))).await?;
        step.finish(results, &mut state)?;
    }
    Ok(state)
}

/// A transaction's work.
type Work<'t, T> = Pin<Box<dyn Future<Output = StoreResult<T>> + Send + 't>>;

/// How a transaction starts.
#[derive(Clone, Copy)]
enum Mode<'a> {
    /// A write, holding the app's row lock when there is an app.
    Write(Option<&'a AppId>),
    /// A read on one snapshot.
    Read,
}

impl PgStore {
    /// The one transaction path: a write begins and locks the app's row (so no write
    /// can forget the lock), a read takes one REPEATABLE READ snapshot; `f` runs; commit.
    async fn tx<T, F>(&self, mode: Mode<'_>, f: F) -> StoreResult<T>
    where
        F: for<'t> FnOnce(&'t Transaction<'t>) -> Work<'t, T>,
    {
        // A pooled connection that died while idle (its server process terminated, the
        // server restarted) before the pool noticed fails as the transaction begins,
        // when nothing has been done on it: begin again on another. Every idle
        // connection may have died at once, so up to one more than the pool holds.
        let mut attempts = 0;
        loop {
            attempts += 1;
            let mut c = self.client().await?;
            let e = match begin(&mut c, mode).await {
                Ok(tx) => {
                    if let (Mode::Write(Some(app)), Some(lock)) = (mode, DIALECT.lock_app) {
                        let lock = tx.prepare_cached(lock).await.db()?;
                        tx.execute(&lock, &[&app.as_str()]).await.db()?;
                    }
                    let out = f(&tx).await?;
                    let committing = Instant::now();
                    tx.commit().await.db()?;
                    if let Mode::Write(_) = mode {
                        // Each write commits on its own: a group of one.
                        metrics::histogram!(metric::COMMIT_DURATION, "backend" => "postgres")
                            .record(committing.elapsed().as_secs_f64());
                        metrics::histogram!(metric::COMMIT_GROUP_SIZE, "backend" => "postgres")
                            .record(1.0);
                    }
                    return Ok(out);
                }
                Err(e) => e,
            };
            if !connection_lost(&e) || attempts > crate::POOL_SIZE {
                return Err(e).db();
            }
            tracing::debug!(error = %crate::connect::error_text(&e), "pooled connection lost; beginning on another");
            // Not back into the pool: it is dead.
            drop(Object::take(c));
        }
    }
}

/// Begins a transaction as `mode` says.
async fn begin<'c>(
    c: &'c mut Object,
    mode: Mode<'_>,
) -> Result<Transaction<'c>, tokio_postgres::Error> {
    let builder = c.build_transaction();
    match mode {
        Mode::Write(_) => builder.start().await,
        Mode::Read => {
            builder
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await
        }
    }
}

/// Whether `e` says the connection itself is gone (closed, reset, or its server
/// process terminated), rather than that a statement failed.
fn connection_lost(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    if let Some(code) = e.code() {
        return *code == SqlState::ADMIN_SHUTDOWN
            || *code == SqlState::CRASH_SHUTDOWN
            || code.code().starts_with("08");
    }
    std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>())
}

#[async_trait]
impl Backend for PgStore {
    async fn write<R: Rule + 'static>(&self, w: Write<R>) -> StoreResult<(R::Outcome, u64)> {
        let w = Arc::new(w);
        let run = w.clone();
        let decided = self
            .tx(Mode::Write(Some(&w.app)), move |tx| {
                Box::pin(async move {
                    let (app, rule) = (&run.app, &run.rule);
                    let mut state = load(tx, app, rule).await?;
                    let at = roster_core::time::now_ms();
                    let decided = engine::decide(app, rule, &mut state, &DIALECT, at)?;
                    // In order: a statement may depend on the one before.
                    for s in &decided.stmts {
                        execute(tx, s).await?;
                    }
                    Ok(decided)
                })
            })
            .await?;
        w.committed(decided.seq, &decided.plan.mutations);
        Ok((decided.plan.outcome, decided.seq))
    }

    async fn read<R: Rule + 'static>(&self, app: &AppId, rule: R) -> StoreResult<R::Outcome> {
        let app = app.clone();
        self.tx(Mode::Read, move |tx| {
            Box::pin(async move {
                let mut state = load(tx, &app, &rule).await?;
                Ok(rules::plan(&rule, &mut state)?.outcome)
            })
        })
        .await
    }

    async fn query(&self, stmts: Vec<Stmt>) -> StoreResult<Vec<Vec<Row>>> {
        self.tx(Mode::Read, |tx| {
            Box::pin(async move { try_join_all(stmts.iter().map(|s| query(tx, s))).await })
        })
        .await
    }

    async fn execute(&self, stmts: Vec<Stmt>) -> StoreResult<Vec<u64>> {
        self.tx(Mode::Write(None), |tx| {
            Box::pin(async move {
                let mut changed = Vec::with_capacity(stmts.len());
                for s in &stmts {
                    changed.push(execute(tx, s).await?);
                }
                Ok(changed)
            })
        })
        .await
    }

    async fn scan_index(&self, app: &AppId) -> StoreResult<(AppIndex, u64)> {
        self.scan(app).await
    }

    fn claim_lock(&self) -> &'static str {
        " FOR UPDATE SKIP LOCKED"
    }
}
