//! The store behavioural suite with the audience index following the store: counts
//! from bitmaps answer as counts in SQL do.

use std::sync::Arc;

use roster_store::Registry;
use roster_store_sqlite::SqliteStore;
use roster_store_suite::Fixture;

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = Arc::new(SqliteStore::open_in_dir(dir.path()).expect("open"));
    let (indexed, _) = Registry::indexed(sqlite).await.expect("index");
    Fixture {
        store: Arc::new(indexed),
        guard: Box::new(dir),
    }
}

roster_store_suite::store_test_suite!(fixture);
