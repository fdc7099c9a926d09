//! Online backup and restore of the embedded store.
//!
//! A backup is `VACUUM INTO` on a read-only connection of its own: one read
//! transaction, so the copy is the store as of one commit, while the server goes on
//! writing (WAL mode: readers never block the writer). The copy is a plain SQLite file
//! (no WAL), private (0600). A restore checks that a file is such a copy (integrity and
//! a schema this build knows) and copies it into place, into a data directory that is
//! empty or missing.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use crate::private::{create_private_dir, DB_FILE};
use crate::MIGRATIONS;

/// Why a backup or a restore did not happen.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The store to back up does not exist.
    #[error("no store at {0}")]
    NoStore(PathBuf),
    /// The backup file already exists.
    #[error("{0} already exists; back up to a new file")]
    Exists(PathBuf),
    /// The restore target is not empty.
    #[error("{0} is not empty; restore into an empty or missing data directory")]
    NotEmpty(PathBuf),
    /// The file is not a backup of a roster store this build can open.
    #[error("{path} is not a roster backup: {why}")]
    NotABackup {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// SQLite or the file system failed.
    #[error("{0}")]
    Io(String),
}

fn io(e: impl std::fmt::Display) -> BackupError {
    BackupError::Io(e.to_string())
}

/// The store file inside a data directory.
pub fn store_file(data_dir: &Path) -> PathBuf {
    data_dir.join(DB_FILE)
}

/// Writes a consistent copy of the store at `db` to `to` (a new file, mode 0600) while
/// the store may be in use; the copy's size in bytes.
pub fn backup(db: &Path, to: &Path) -> Result<u64, BackupError> {
    if !db.exists() {
        return Err(BackupError::NoStore(db.to_path_buf()));
    }
    if to.exists() {
        return Err(BackupError::Exists(to.to_path_buf()));
    }
    if let Some(parent) = to.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_private_dir(parent).map_err(io)?;
    }
    let conn = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(io)?;
    conn.busy_timeout(std::time::Duration::from_secs(30))
        .map_err(io)?;
    let target = to
        .to_str()
        .ok_or_else(|| BackupError::Io("the backup path is not UTF-8".into()))?;
    conn.execute("VACUUM INTO ?1", [target]).map_err(io)?;
    crate::private::make_private(to).map_err(io)?;
    Ok(std::fs::metadata(to).map_err(io)?.len())
}

/// Checks that `file` is a backup this build can open: intact, with roster's schema at
/// a version it knows.
pub fn verify(file: &Path) -> Result<(), BackupError> {
    let not = |why: String| BackupError::NotABackup {
        path: file.to_path_buf(),
        why,
    };
    if !file.is_file() {
        return Err(not("no such file".into()));
    }
    let conn = Connection::open_with_flags(file, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| not(e.to_string()))?;
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(|e| not(e.to_string()))?;
    if check != "ok" {
        return Err(not(format!("integrity check: {check}")));
    }
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| not(e.to_string()))?;
    let known = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
    if version < 1 || version > known {
        return Err(not(format!(
            "schema version {version}, this build knows 1 to {known}"
        )));
    }
    let apps: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'apps'",
            [],
            |r| r.get(0),
        )
        .map_err(|e| not(e.to_string()))?;
    if apps != 1 {
        return Err(not("it has no apps table".into()));
    }
    Ok(())
}

/// Restores `from` (a file made by [`backup`]) as the store file `db`, whose directory
/// must be empty or missing (created 0700); refuses anything else.
pub fn restore(from: &Path, db: &Path, dir_must_be_empty: bool) -> Result<(), BackupError> {
    verify(from)?;
    let dir = db
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if dir_must_be_empty {
        if let Ok(mut entries) = std::fs::read_dir(dir) {
            if entries.next().is_some() {
                return Err(BackupError::NotEmpty(dir.to_path_buf()));
            }
        }
    } else if db.exists() {
        return Err(BackupError::NotEmpty(db.to_path_buf()));
    }
    create_private_dir(dir).map_err(io)?;
    // Copied beside the target and renamed, so a failure leaves no half store.
    let partial = dir.join(format!(".{DB_FILE}.restoring"));
    std::fs::copy(from, &partial).map_err(io)?;
    crate::private::make_private(&partial).map_err(io)?;
    std::fs::File::open(&partial)
        .and_then(|f| f.sync_all())
        .map_err(io)?;
    std::fs::rename(&partial, db).map_err(io)?;
    Ok(())
}
