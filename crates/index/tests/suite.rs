//! The store behavioural suite through the index wrapper: wrapping changes no answer.

use std::sync::Arc;

use roster_index::IndexedStore;
use roster_store_sqlite::SqliteStore;
use roster_store_suite::Fixture;

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = Arc::new(SqliteStore::open_in_dir(dir.path()).expect("open"));
    let (indexed, _) = IndexedStore::open(sqlite).await.expect("index");
    Fixture {
        store: Arc::new(indexed),
        guard: Box::new(dir),
    }
}

roster_store_suite::store_test_suite!(fixture);
