//! Group commit: one thread owns the write connection and commits the writes waiting
//! in its queue together. Each write runs in a savepoint of the group's IMMEDIATE
//! transaction, so a write whose rules refuse it (or whose statements fail) rolls back
//! alone; the group commits once, so concurrent writers share one fsync. Every write is
//! answered only after its group's COMMIT returned: nothing acknowledged can be lost.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Instant;

use roster_store::{metric, StoreError, StoreResult};
use rusqlite::{Connection, Transaction, TransactionBehavior};
use tokio::sync::oneshot;

use crate::DbResult;

/// Most writes in one group: bounds how long the first of them waits for the last.
const MAX_GROUP: usize = 256;

/// One queued write.
pub(crate) trait Job: Send {
    /// Runs the write in the open transaction; whether it succeeded (a failed write's
    /// changes are rolled back to its savepoint by the caller).
    fn run(&mut self, tx: &Transaction<'_>) -> bool;
    /// Answers the writer once the group's fate is known: `Ok` when it committed.
    fn finish(self: Box<Self>, group: Result<(), &StoreError>);
}

struct Typed<T, F, A> {
    f: Option<F>,
    after: Option<A>,
    out: Option<StoreResult<T>>,
    answer: Option<oneshot::Sender<StoreResult<T>>>,
}

impl<T, F, A> Job for Typed<T, F, A>
where
    T: Send + 'static,
    F: FnOnce(&Transaction<'_>) -> StoreResult<T> + Send + 'static,
    A: FnOnce(&T) + Send + 'static,
{
    fn run(&mut self, tx: &Transaction<'_>) -> bool {
        let Some(f) = self.f.take() else {
            return false;
        };
        let out = catch_unwind(AssertUnwindSafe(|| f(tx))).unwrap_or_else(|_| {
            tracing::error!("a write panicked; it was rolled back alone");
            Err(StoreError::Backend("write panicked".into()))
        });
        let ok = out.is_ok();
        self.out = Some(out);
        ok
    }

    fn finish(mut self: Box<Self>, group: Result<(), &StoreError>) {
        let result = match (group, self.out.take()) {
            (Ok(()), Some(Ok(v))) => {
                if let Some(after) = self.after.take() {
                    after(&v);
                }
                Ok(v)
            }
            (_, Some(Err(e))) => Err(e),
            (Err(e), _) => Err(StoreError::Backend(e.to_string())),
            (Ok(()), None) => Err(StoreError::Backend("write never ran".into())),
        };
        if let Some(answer) = self.answer.take() {
            let _ = answer.send(result);
        }
    }
}

/// A job for `f` (run in the group transaction) and `after` (run once committed), and
/// where its result will be sent.
pub(crate) fn job<T, F, A>(f: F, after: A) -> (Box<dyn Job>, oneshot::Receiver<StoreResult<T>>)
where
    T: Send + 'static,
    F: FnOnce(&Transaction<'_>) -> StoreResult<T> + Send + 'static,
    A: FnOnce(&T) + Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    let job = Typed {
        f: Some(f),
        after: Some(after),
        out: None,
        answer: Some(tx),
    };
    (Box::new(job), rx)
}

/// Starts the writer thread on `conn`; it stops when every sender is dropped.
pub(crate) fn start(conn: Arc<Mutex<Connection>>) -> StoreResult<mpsc::Sender<Box<dyn Job>>> {
    let (tx, rx) = mpsc::channel::<Box<dyn Job>>();
    std::thread::Builder::new()
        .name("roster-sqlite-writer".into())
        .spawn(move || {
            while let Ok(first) = rx.recv() {
                let mut jobs = vec![first];
                while jobs.len() < MAX_GROUP {
                    match rx.try_recv() {
                        Ok(j) => jobs.push(j),
                        Err(_) => break,
                    }
                }
                commit_group(&conn, jobs);
            }
        })
        .map_err(|e| StoreError::Backend(format!("cannot start the writer thread: {e}")))?;
    Ok(tx)
}

/// Runs `jobs` in one transaction, each in its own savepoint; commits; answers each.
fn commit_group(conn: &Mutex<Connection>, mut jobs: Vec<Box<dyn Job>>) {
    let result = (|| -> StoreResult<()> {
        let mut conn = conn
            .lock()
            .map_err(|_| StoreError::Backend("writer lock poisoned".into()))?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .db()?;
        for job in &mut jobs {
            tx.execute_batch("SAVEPOINT roster_write").db()?;
            if job.run(&tx) {
                tx.execute_batch("RELEASE roster_write").db()?;
            } else {
                tx.execute_batch("ROLLBACK TO roster_write; RELEASE roster_write")
                    .db()?;
            }
        }
        let committing = Instant::now();
        tx.commit().db()?;
        metrics::histogram!(metric::COMMIT_DURATION, "backend" => "sqlite")
            .record(committing.elapsed().as_secs_f64());
        metrics::histogram!(metric::COMMIT_GROUP_SIZE, "backend" => "sqlite")
            .record(jobs.len() as f64);
        Ok(())
    })();
    if let Err(e) = &result {
        tracing::error!(error = %e, writes = jobs.len(), "group commit failed");
    }
    for job in jobs {
        job.finish(result.as_ref().map(|_| ()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> (tempfile::TempDir, Arc<Mutex<Connection>>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = Connection::open(dir.path().join("g.db")).expect("open");
        c.execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE t (v INTEGER NOT NULL)")
            .expect("schema");
        (dir, Arc::new(Mutex::new(c)))
    }

    fn insert(v: i64, fail: bool) -> impl FnOnce(&Transaction<'_>) -> StoreResult<i64> + Send {
        move |tx| {
            tx.execute("INSERT INTO t (v) VALUES (?1)", [v]).db()?;
            if fail {
                return Err(roster_core::Error::UnknownTarget.into());
            }
            if v < 0 {
                panic!("a write that panics");
            }
            Ok(v)
        }
    }

    fn values(c: &Mutex<Connection>) -> Vec<i64> {
        let c = c.lock().expect("lock");
        let mut s = c.prepare("SELECT v FROM t ORDER BY v").expect("prepare");
        let rows = s.query_map([], |r| r.get(0)).expect("query");
        rows.collect::<Result<_, _>>().expect("rows")
    }

    #[tokio::test]
    async fn a_failing_write_fails_alone_in_its_group() {
        let (_dir, c) = conn();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut jobs = Vec::new();
        let mut answers = Vec::new();
        for (v, fail) in [(1, false), (2, true), (3, false), (-4, false), (5, false)] {
            let seen = order.clone();
            let (job, answer) = job(insert(v, fail), move |v: &i64| {
                seen.lock().expect("lock").push(*v)
            });
            jobs.push(job);
            answers.push(answer);
        }
        commit_group(&c, jobs);
        let mut results = Vec::new();
        for a in answers {
            results.push(a.await.expect("answered").map_err(|e| e.to_string()));
        }
        assert_eq!(results[0], Ok(1));
        assert!(results[1].is_err(), "the refused write fails");
        assert_eq!(results[2], Ok(3));
        assert!(results[3].is_err(), "the panicking write fails");
        assert_eq!(results[4], Ok(5));
        assert_eq!(
            values(&c),
            vec![1, 3, 5],
            "only the successful writes are kept"
        );
        assert_eq!(
            *order.lock().expect("lock"),
            vec![1, 3, 5],
            "followers are told in commit order"
        );
    }

    #[tokio::test]
    async fn queued_writes_are_each_answered() {
        let (_dir, c) = conn();
        let queue = start(c.clone()).expect("writer");
        let mut answers = Vec::new();
        for v in 0..200 {
            let (job, answer) = job(insert(v, v % 7 == 3), |_: &i64| {});
            queue.send(job).expect("queued");
            answers.push(answer);
        }
        let mut ok = 0;
        for a in answers {
            ok += usize::from(a.await.expect("answered").is_ok());
        }
        let kept = values(&c);
        assert_eq!(ok, 171, "every write but the 29 refused ones succeeds");
        assert_eq!(kept.len(), ok);
        assert!(kept.iter().all(|v| v % 7 != 3));
    }
}
