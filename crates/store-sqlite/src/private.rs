//! File modes: the data directory 0700, every file in it 0600.
//!
//! roster cannot set a process umask (that needs unsafe code, which the workspace
//! forbids), so modes are set explicitly: files are created with 0600 and directories
//! with 0700, and ones found looser are tightened. On other platforms these are no-ops.

use std::io;
use std::path::{Path, PathBuf};

/// The embedded store's file name inside the data directory.
pub(crate) const DB_FILE: &str = "roster.db";

/// The files roster keeps in a data directory: the database, SQLite's companions and
/// the generated admin token. A directory holding one of them is roster's.
pub const DATA_DIR_FILES: &[&str] = &[
    "roster.db",
    "roster.db-wal",
    "roster.db-shm",
    "roster.db-journal",
    "admin-token",
];

/// SQLite's companion files of the database at `db`.
fn companions(db: &Path) -> [PathBuf; 4] {
    let with = |suffix: &str| {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    [
        db.to_path_buf(),
        with("-wal"),
        with("-shm"),
        with("-journal"),
    ]
}

/// Creates `dir` and any missing parents with mode 0700. Existing directories keep
/// their mode.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir)
    }
}

/// Makes `dir` a private data directory: created with mode 0700 when missing, and
/// when it exists tightened to 0700, with roster's files ([`DATA_DIR_FILES`]) 0600 and
/// any other file in it stripped of its group and other bits (0644 becomes 0600; the
/// owner's bits are kept). A shared directory — one with the sticky bit (`/tmp`), the
/// home directory, `/` — keeps its mode and its other files, with a warning: only
/// roster's own files in it are made 0600.
pub fn prepare_data_dir(dir: &Path) -> io::Result<()> {
    create_private_dir(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(dir)?;
        if !meta.is_dir() {
            return Err(io::Error::other("it is not a directory"));
        }
        if is_shared(dir, &meta) {
            tracing::warn!(
                dir = %dir.display(),
                "the data directory is a shared one; its mode and other files are left as they \
                 are (roster's own files in it are made 0600): give roster a directory of its own"
            );
            return tighten_known(dir);
        }
        if meta.permissions().mode() & 0o777 != 0o700 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            // Not through symbolic links: only files that are in the directory.
            if !entry.file_type()?.is_file() {
                continue;
            }
            let name = entry.file_name();
            if DATA_DIR_FILES.iter().any(|f| name == *f) {
                make_private(&entry.path())?;
            } else {
                let mode = entry.metadata()?.permissions().mode();
                if mode & 0o077 != 0 {
                    std::fs::set_permissions(
                        entry.path(),
                        std::fs::Permissions::from_mode(mode & 0o700),
                    )?;
                }
            }
        }
    }
    Ok(())
}

/// A directory others share or that holds far more than roster's data: sticky (`/tmp`),
/// the filesystem root, or the home directory.
#[cfg(unix)]
fn is_shared(dir: &Path, meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    if meta.permissions().mode() & 0o1000 != 0 {
        return true;
    }
    let Ok(dir) = dir.canonicalize() else {
        return false;
    };
    if dir.parent().is_none() {
        return true;
    }
    std::env::var_os("HOME")
        .and_then(|h| Path::new(&h).canonicalize().ok())
        .is_some_and(|home| home == dir)
}

/// Tightens [`DATA_DIR_FILES`] in `dir`, and nothing else.
#[cfg(unix)]
fn tighten_known(dir: &Path) -> io::Result<()> {
    for name in DATA_DIR_FILES {
        let path = dir.join(name);
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_file() => make_private(&path)?,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Sets a file's mode to 0600 unless it already is.
#[cfg(unix)]
pub(crate) fn make_private(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)?.permissions().mode();
    if mode & 0o777 != 0o600 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// Creates the database file empty with mode 0600 when it does not exist (SQLite reads
/// an empty file as a new database).
pub(crate) fn create_private_file(path: &Path) -> io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Sets the database file and those of its companions that exist to 0600.
pub(crate) fn tighten_db_files(db: &Path) -> io::Result<()> {
    #[cfg(unix)]
    for path in companions(db) {
        match make_private(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    #[cfg(not(unix))]
    let _ = companions(db);
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
    }

    fn set(p: &Path, m: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).expect("chmod");
    }

    #[test]
    fn new_dir_and_its_parents_are_0700() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().join("a").join("b");
        prepare_data_dir(&dir).expect("prepare");
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&tmp.path().join("a")), 0o700);
    }

    #[test]
    fn roster_dir_is_tightened_with_its_files() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().join("data");
        std::fs::create_dir(&dir).expect("mkdir");
        for f in ["roster.db", "roster.db-wal", "admin-token", "leftover"] {
            std::fs::write(dir.join(f), "x").expect("write");
            set(&dir.join(f), 0o644);
        }
        set(&dir, 0o755);
        prepare_data_dir(&dir).expect("prepare");
        assert_eq!(mode(&dir), 0o700);
        for f in ["roster.db", "roster.db-wal", "admin-token", "leftover"] {
            assert_eq!(mode(&dir.join(f)), 0o600, "{f}");
        }
    }

    #[test]
    fn empty_existing_dir_is_tightened() {
        let tmp = tempfile::tempdir().expect("tmp");
        set(tmp.path(), 0o755);
        prepare_data_dir(tmp.path()).expect("prepare");
        assert_eq!(mode(tmp.path()), 0o700);
    }

    #[test]
    fn other_files_lose_group_and_other_bits_only() {
        let tmp = tempfile::tempdir().expect("tmp");
        std::fs::write(tmp.path().join("notes.txt"), "x").expect("write");
        std::fs::write(tmp.path().join("run.sh"), "x").expect("write");
        set(&tmp.path().join("notes.txt"), 0o644);
        set(&tmp.path().join("run.sh"), 0o755);
        set(tmp.path(), 0o755);
        prepare_data_dir(tmp.path()).expect("prepare");
        assert_eq!(mode(tmp.path()), 0o700);
        assert_eq!(mode(&tmp.path().join("notes.txt")), 0o600);
        assert_eq!(mode(&tmp.path().join("run.sh")), 0o700);
    }

    #[test]
    fn a_shared_dir_keeps_its_mode_and_other_files() {
        let tmp = tempfile::tempdir().expect("tmp");
        std::fs::write(tmp.path().join("notes.txt"), "x").expect("write");
        std::fs::write(tmp.path().join("admin-token"), "t").expect("write");
        set(&tmp.path().join("notes.txt"), 0o644);
        set(&tmp.path().join("admin-token"), 0o644);
        set(tmp.path(), 0o1777);
        prepare_data_dir(tmp.path()).expect("prepare");
        assert_eq!(mode(tmp.path()), 0o777);
        assert_eq!(mode(&tmp.path().join("notes.txt")), 0o644);
        assert_eq!(mode(&tmp.path().join("admin-token")), 0o600);
        set(tmp.path(), 0o700);
    }

    #[test]
    fn symlinked_files_are_not_followed() {
        let tmp = tempfile::tempdir().expect("tmp");
        let outside = tmp.path().join("outside");
        std::fs::write(&outside, "x").expect("write");
        set(&outside, 0o644);
        let dir = tmp.path().join("data");
        std::fs::create_dir(&dir).expect("mkdir");
        std::fs::write(dir.join("admin-token"), "t").expect("write");
        std::os::unix::fs::symlink(&outside, dir.join("link")).expect("symlink");
        prepare_data_dir(&dir).expect("prepare");
        assert_eq!(mode(&outside), 0o644);
    }
}
