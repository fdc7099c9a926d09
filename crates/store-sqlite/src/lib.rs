//! The embedded store: one SQLite file in WAL mode with `synchronous=FULL`, so a
//! transaction is on disk (WAL fsynced) before its call returns and the caller
//! acknowledges it. One writer thread owns the write connection and commits in groups:
//! it takes every write waiting in its queue, runs each in a savepoint of one
//! transaction (a write that fails rolls back alone), commits once (one fsync for the
//! group), then answers each write in order. Reads use a small pool of their own
//! connections and never wait for the writer; they run on tokio's blocking pool.
//!
//! The database holds every app's secrets and users' personal data, so its files are
//! private: created 0600 (SQLite gives the `-wal` and `-shm` files the database
//! file's mode), tightened to 0600 when found looser, in a data directory of mode 0700
//! (see [`prepare_data_dir`]).

use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};

use roster_store::{StoreError, StoreResult};
use rusqlite::{Connection, OpenFlags, Transaction};

mod backend;
pub mod backup;
mod bulk;
mod group;
mod private;
mod scan;

pub use private::{create_private_dir, prepare_data_dir, DATA_DIR_FILES};

/// Migrations, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_init.sql"),
    include_str!("../migrations/0002_audience.sql"),
    include_str!("../migrations/0003_users.sql"),
    include_str!("../migrations/0004_changes.sql"),
    include_str!("../migrations/0005_crowds.sql"),
    include_str!("../migrations/0006_quota.sql"),
    include_str!("../migrations/0007_credentials.sql"),
    include_str!("../migrations/0008_segments.sql"),
];

/// Read connections: reads beyond this many wait for one to be free rather than open
/// (and then drop) connections of their own; on a few cores more would not run faster.
const READERS: usize = 8;

/// The SQLite-backed [`roster_store::Store`].
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    /// The write connection: the group-commit thread's, and bulk import's.
    writer: Arc<Mutex<Connection>>,
    /// The group-commit thread's queue.
    queue: Mutex<mpsc::Sender<Box<dyn group::Job>>>,
    readers: Mutex<Vec<Connection>>,
    /// One permit per read connection.
    read_permits: tokio::sync::Semaphore,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .finish()
    }
}

pub(crate) trait DbResult<T> {
    fn db(self) -> StoreResult<T>;
}

impl<T> DbResult<T> for Result<T, rusqlite::Error> {
    fn db(self) -> StoreResult<T> {
        self.map_err(|e| StoreError::Backend(format!("sqlite: {e}")))
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` and runs pending
    /// migrations.
    pub fn open(path: impl AsRef<Path>) -> StoreResult<Self> {
        let path = path.as_ref().to_path_buf();
        let private = |e: std::io::Error| {
            StoreError::Backend(format!(
                "cannot make {} private (mode 0600): {e}",
                path.display()
            ))
        };
        // Before SQLite opens it: SQLite creates files 0644, and its WAL and shared
        // memory files take the database file's mode when it creates them.
        private::create_private_file(&path).map_err(private)?;
        private::tighten_db_files(&path).map_err(private)?;
        let mut writer = open_conn(&path, true)?;
        // The writer reads the pages of the WAL by copy (the map covers the database
        // file only); a large write (a bulk import's batch) touches many index pages,
        // which a 64 MiB cache keeps instead of the default 2 MiB.
        writer.pragma_update(None, "cache_size", -65_536).db()?;
        migrate(&mut writer)?;
        // The writer's connection has created `-wal` and `-shm`; should an older file
        // have survived with another mode, it is fixed now, before any write.
        private::tighten_db_files(&path).map_err(private)?;
        let writer = Arc::new(Mutex::new(writer));
        let queue = group::start(writer.clone())?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path,
                writer,
                queue: Mutex::new(queue),
                readers: Mutex::new(Vec::new()),
                read_permits: tokio::sync::Semaphore::new(READERS),
            }),
        })
    }

    /// Opens `roster.db` inside `dir`, creating the directory (mode 0700) or
    /// tightening it as [`prepare_data_dir`] does.
    pub fn open_in_dir(dir: impl AsRef<Path>) -> StoreResult<Self> {
        prepare_data_dir(dir.as_ref()).map_err(|e| {
            StoreError::Backend(format!(
                "cannot use the data directory {}: {e}",
                dir.as_ref().display()
            ))
        })?;
        Self::open(dir.as_ref().join(private::DB_FILE))
    }

    /// Runs `f` on the writer, in a savepoint of the group transaction it joins: `f`'s
    /// writes are kept only if it succeeds, so a refused batch leaves nothing behind,
    /// and no other write of the group depends on it. `after` sees the result once the
    /// group is committed (durable), in commit order and before the next group starts,
    /// so whatever it feeds learns of commits in commit order.
    pub(crate) async fn write_then<T, F, A>(&self, f: F, after: A) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> StoreResult<T> + Send + 'static,
        A: FnOnce(&T) + Send + 'static,
    {
        let (job, answer) = group::job(f, after);
        self.inner
            .queue
            .lock()
            .map_err(|_| StoreError::Backend("writer queue poisoned".into()))?
            .send(job)
            .map_err(|_| StoreError::Backend("writer thread stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Backend("writer thread stopped".into()))?
    }

    /// Runs `f` on a pooled read connection inside one read transaction, so multi-query
    /// reads see one snapshot.
    pub(crate) async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> StoreResult<T> + Send + 'static,
    {
        let permit = self
            .inner
            .read_permits
            .acquire()
            .await
            .map_err(|_| StoreError::Backend("read pool closed".into()))?;
        let inner = self.inner.clone();
        let out = tokio::task::spawn_blocking(move || {
            let pooled = inner.readers.lock().ok().and_then(|mut v| v.pop());
            let mut conn = match pooled {
                Some(c) => c,
                None => open_conn(&inner.path, false)?,
            };
            let out = {
                let tx = conn.transaction().db()?;
                let out = f(&tx);
                tx.finish().db()?;
                out
            };
            if let Ok(mut idle) = inner.readers.lock() {
                idle.push(conn);
            }
            out
        })
        .await
        .map_err(|e| StoreError::Backend(format!("blocking task: {e}")))?;
        drop(permit);
        out
    }
}

fn open_conn(path: &Path, create: bool) -> StoreResult<Connection> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(path, flags).db()?;
    conn.busy_timeout(std::time::Duration::from_secs(10)).db()?;
    // WAL + FULL: every commit fsyncs the WAL before returning.
    conn.pragma_update(None, "journal_mode", "WAL").db()?;
    conn.pragma_update(None, "synchronous", "FULL").db()?;
    conn.pragma_update(None, "foreign_keys", "ON").db()?;
    // Pages are read through a memory map rather than copied by pread.
    conn.pragma_update(None, "mmap_size", 1i64 << 30).db()?;
    // The engine has about eighty distinct statements; all stay prepared.
    conn.set_prepared_statement_cache_capacity(128);
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> StoreResult<()> {
    let done: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .db()?;
    for (version, sql) in roster_store::pending_migrations(done, MIGRATIONS)? {
        let tx = conn.transaction().db()?;
        tx.execute_batch(sql).db()?;
        tx.pragma_update(None, "user_version", version).db()?;
        tx.commit().db()?;
        tracing::info!(version, "applied sqlite migration");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use roster_store_suite::Fixture;

    async fn fixture() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = super::SqliteStore::open_in_dir(dir.path()).expect("open");
        Fixture {
            store: std::sync::Arc::new(roster_store::Registry::new(std::sync::Arc::new(store))),
            guard: Box::new(dir),
        }
    }

    roster_store_suite::store_test_suite!(fixture);

    /// An app stored before keys were rotatable keeps every credential: migration 7
    /// adds its Getui key and each key's issue time.
    #[tokio::test]
    async fn credentials_of_older_apps_survive_the_rotation_migration() {
        use roster_store::{AppStore, UserStore};
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("old.db");
        let app = roster_core::NewApp::new("old", 1_234).expect("app");
        {
            let conn = rusqlite::Connection::open(&file).expect("open");
            for sql in &super::MIGRATIONS[..2] {
                conn.execute_batch(sql).expect("migrate");
            }
            conn.pragma_update(None, "user_version", 2)
                .expect("version");
            conn.execute(
                "INSERT INTO apps (id, name, created_at, credentials) VALUES (?1, 'old', 1234, ?2)",
                (
                    app.credentials.app_id.as_str(),
                    serde_json::to_string(&app.credentials).expect("json"),
                ),
            )
            .expect("insert");
        }
        let store = roster_store::Registry::new(std::sync::Arc::new(
            super::SqliteStore::open(&file).expect("migrate"),
        ));
        let got = store
            .get_app(&app.credentials.app_id)
            .await
            .expect("get")
            .expect("app");
        let c = &app.credentials;
        assert!(got.verify_getui_basic(&c.getui.app_key, &c.getui.master_secret, 0));
        assert_eq!(got.keys.len(), 5);
        assert!(got.keys.iter().all(|k| k.created_at == 1_234));
        let growth = store
            .find_credential(&c.growth.project_id)
            .await
            .expect("find")
            .expect("growth");
        assert!(growth.accepts(&c.growth.project_secret, 0));
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn files_are_private_from_the_start() {
        use roster_store::AppStore;
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| {
            std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
        };
        let tmp = tempfile::tempdir().expect("tempdir");
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        let dir = tmp.path().join("data");
        let registry = |s| roster_store::Registry::new(std::sync::Arc::new(s));
        let store = registry(super::SqliteStore::open_in_dir(&dir).expect("open"));
        let app = roster_core::NewApp::new("x", 0).expect("app");
        store.create_app(&app).await.expect("write");
        assert_eq!(mode(&dir), 0o700);
        for f in ["roster.db", "roster.db-wal", "roster.db-shm"] {
            assert_eq!(mode(&dir.join(f)), 0o600, "{f}");
        }
        // a database file elsewhere (`--store sqlite:PATH`) is private too
        let other = tmp.path().join("other.db");
        let store = registry(super::SqliteStore::open(&other).expect("open"));
        store.create_app(&app).await.expect("write");
        for f in ["other.db", "other.db-wal", "other.db-shm"] {
            assert_eq!(mode(&tmp.path().join(f)), 0o600, "{f}");
        }
        assert_eq!(
            mode(tmp.path()),
            0o755,
            "the directory it is in keeps its mode"
        );
    }

    #[test]
    fn reopen_keeps_schema_and_pragmas() {
        let dir = tempfile::tempdir().expect("tempdir");
        drop(super::SqliteStore::open_in_dir(dir.path()).expect("open"));
        let s = super::SqliteStore::open_in_dir(dir.path()).expect("reopen");
        let conn = s.inner.writer.lock().expect("lock");
        let v: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .expect("v");
        assert_eq!(v, super::MIGRATIONS.len() as i64);
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .expect("m");
        assert_eq!(mode, "wal");
        let sync: i64 = conn
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .expect("s");
        assert_eq!(sync, 2, "synchronous=FULL");
    }
}
