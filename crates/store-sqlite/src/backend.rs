//! SQLite as a [`Backend`]: statements of `roster_store::engine`, bound and run.

use std::sync::Arc;

use async_trait::async_trait;
use roster_core::rules::{self, Rule, State};
use roster_core::AppId;
use roster_index::AppIndex;
use roster_store::engine::{self, Dialect, Lists};
use roster_store::value::{Row, Stmt, Value};
use roster_store::{Backend, StoreResult, Write};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{params_from_iter, ToSql, Transaction};

use crate::{DbResult, SqliteStore};

/// One writer serialises every write, so the next uid is simply past the last one
/// `AUTOINCREMENT` recorded, and inserting an explicit uid moves that record on.
const DIALECT: Dialect = Dialect {
    lock_app: None,
    next_uid: &["SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'users'), 0) + 1"],
    uid_used: None,
    notify: None,
    lists: Lists::Rows,
};

struct Bind<'a>(&'a Value);

impl ToSql for Bind<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self.0 {
            // Arrays are for PostgreSQL: the engine gives SQLite a statement per row.
            Value::Array(_) => {
                return Err(rusqlite::Error::ToSqlConversionFailure(
                    "SQLite binds no arrays".into(),
                ))
            }
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(v) => ToSqlOutput::Borrowed(ValueRef::Integer(*v)),
            Value::Bool(v) => ToSqlOutput::Borrowed(ValueRef::Integer(i64::from(*v))),
            Value::Text(v) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
        })
    }
}

fn value(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Null | ValueRef::Real(_) | ValueRef::Blob(_) => Value::Null,
    }
}

/// SQLite numbers `$N` parameters by first appearance; `?N` binds by number, which is
/// what the engine's `$N` mean.
fn sql(s: &Stmt) -> String {
    s.sql.replace('$', "?")
}

fn query(tx: &Transaction<'_>, s: &Stmt) -> StoreResult<Vec<Row>> {
    let mut stmt = tx.prepare_cached(&sql(s)).db()?;
    let n = stmt.column_count();
    let mut rows = stmt
        .query(params_from_iter(s.params.iter().map(Bind)))
        .db()?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().db()? {
        out.push(
            (0..n)
                .map(|i| r.get_ref(i).map(value))
                .collect::<Result<_, _>>()
                .db()?,
        );
    }
    Ok(out)
}

fn execute(tx: &Transaction<'_>, s: &Stmt) -> StoreResult<u64> {
    let n = tx
        .prepare_cached(&sql(s))
        .db()?
        .execute(params_from_iter(s.params.iter().map(Bind)))
        .db()?;
    Ok(n as u64)
}

/// Loads what `rule` needs, round after round.
fn load<R: Rule + ?Sized>(tx: &Transaction<'_>, app: &AppId, rule: &R) -> StoreResult<State> {
    let mut state = State::default();
    while let Some(step) = engine::step(app, rule, &state, &DIALECT) {
        let rows = step
            .statements()
            .map(|s| query(tx, s))
            .collect::<StoreResult<_>>()?;
        step.finish(rows, &mut state)?;
    }
    Ok(state)
}

#[async_trait]
impl Backend for SqliteStore {
    async fn write<R: Rule + 'static>(&self, w: Write<R>) -> StoreResult<(R::Outcome, u64)> {
        let w = Arc::new(w);
        let run = w.clone();
        let decided = self
            .write_then(
                move |tx| {
                    let mut state = load(tx, &run.app, &run.rule)?;
                    let at = roster_core::time::now_ms();
                    let decided = engine::decide(&run.app, &run.rule, &mut state, &DIALECT, at)?;
                    decided
                        .stmts
                        .iter()
                        .try_for_each(|s| execute(tx, s).map(drop))?;
                    Ok(decided)
                },
                move |d| w.committed(d.seq, &d.plan.mutations),
            )
            .await?;
        Ok((decided.plan.outcome, decided.seq))
    }

    async fn read<R: Rule + 'static>(&self, app: &AppId, rule: R) -> StoreResult<R::Outcome> {
        let app = app.clone();
        self.read(move |tx| {
            let mut state = load(tx, &app, &rule)?;
            Ok(rules::plan(&rule, &mut state)?.outcome)
        })
        .await
    }

    async fn query(&self, stmts: Vec<Stmt>) -> StoreResult<Vec<Vec<Row>>> {
        self.read(move |tx| stmts.iter().map(|s| query(tx, s)).collect())
            .await
    }

    async fn execute(&self, stmts: Vec<Stmt>) -> StoreResult<Vec<u64>> {
        self.write_then(
            move |tx| stmts.iter().map(|s| execute(tx, s)).collect(),
            |_| {},
        )
        .await
    }

    async fn scan_index(&self, app: &AppId) -> StoreResult<(AppIndex, u64)> {
        self.scan(app).await
    }
}
