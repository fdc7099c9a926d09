//! The result cache of counts on an indexed SQLite store: a count asked again answers
//! the same from the cache; every committed write to the app, a segment redefined and a
//! deleted app make the next count fresh; another app's writes do not; the room bounds
//! what it holds.

use std::sync::Arc;

use roster_core::segment::SegmentName;
use roster_core::{
    Alias, AppId, AudienceQuery, Cid, DeviceEvent, DeviceUpsert, NewApp, PhoneType, Selector,
    TagName,
};
use roster_store::{
    AliasStore, AppStore, AudienceStore, CountCacheStats, DeviceStore, Registry, SegmentStore,
    TagStore,
};
use roster_store_sqlite::SqliteStore;

const NOW: i64 = 1_700_000_000_000;

struct Node {
    registry: Registry<SqliteStore>,
    _dir: tempfile::TempDir,
}

async fn node(cache_bytes: u64) -> Node {
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = Arc::new(SqliteStore::open_in_dir(dir.path()).expect("open"));
    let (registry, _) = Registry::indexed(sqlite).await.expect("index");
    registry.set_count_cache_bytes(cache_bytes);
    Node {
        registry,
        _dir: dir,
    }
}

async fn app(r: &Registry<SqliteStore>, devices: usize) -> (AppId, Vec<Cid>) {
    let new = NewApp::new("c", 0).expect("app");
    r.create_app(&new).await.expect("create");
    let id = new.credentials.app_id.clone();
    let ups: Vec<DeviceUpsert> = (0..devices)
        .map(|i| DeviceUpsert {
            phone_type: Some(if i % 3 == 0 {
                PhoneType::Ios
            } else {
                PhoneType::Android
            }),
            ..Default::default()
        })
        .collect();
    let cids = r.upsert_devices(&id, &ups, NOW).await.expect("devices");
    (id, cids)
}

fn tag(t: &str) -> TagName {
    TagName::parse(t).expect("tag")
}

fn query(selector: Selector) -> AudienceQuery {
    AudienceQuery {
        selector,
        exclude_blacklisted: true,
        exclude_notification_off: false,
    }
}

fn android_or_x() -> AudienceQuery {
    query(Selector::Or(vec![
        Selector::PhoneType(PhoneType::Android),
        Selector::Tag(tag("x")),
    ]))
}

/// The count, checked against an evaluation that bypasses the cache, and what the
/// cache did for it (hits, misses).
async fn count(r: &Registry<SqliteStore>, app: &AppId, q: &AudienceQuery) -> (u64, (u64, u64)) {
    let before = r.count_cache_stats();
    let n = r.count_audience(app, q).await.expect("count");
    let after = r.count_cache_stats();
    let fresh = r.count_uncached(app, q).await.expect("uncached count");
    assert_eq!(n, fresh, "cached count of {q:?}");
    (n, (after.hits - before.hits, after.misses - before.misses))
}

const HIT: (u64, u64) = (1, 0);
const MISS: (u64, u64) = (0, 1);

#[tokio::test]
async fn a_count_asked_again_is_a_hit_with_the_same_answer() {
    let node = node(1 << 20).await;
    let r = &node.registry;
    let (app, _) = app(r, 9).await;
    let q = android_or_x();
    assert_eq!(count(r, &app, &q).await, (6, MISS));
    assert_eq!(count(r, &app, &q).await, (6, HIT));
    // another spelling of the same selector shares the entry
    let respelled = query(Selector::And(vec![Selector::Or(vec![
        Selector::Tag(tag("x")),
        Selector::Or(vec![Selector::PhoneType(PhoneType::Android)]),
        Selector::Tag(tag("x")),
    ])]));
    assert_eq!(count(r, &app, &respelled).await, (6, HIT));
    // the exclusions are part of the key
    let all_devices = AudienceQuery {
        exclude_blacklisted: false,
        ..q.clone()
    };
    assert_eq!(count(r, &app, &all_devices).await, (6, MISS));
    let s = r.count_cache_stats();
    assert_eq!((s.hits, s.misses, s.entries), (2, 2, 2));
    assert!(s.bytes > 0 && s.bytes <= s.capacity, "{s:?}");
}

#[tokio::test]
async fn every_write_to_the_app_makes_the_next_count_fresh() {
    let node = node(1 << 20).await;
    let r = &node.registry;
    let (app, cids) = app(r, 9).await;
    let ios_x = query(Selector::And(vec![
        Selector::PhoneType(PhoneType::Ios),
        Selector::Not(Box::new(Selector::Tag(tag("x")))),
    ]));
    let by_alias = query(Selector::Alias(Alias::parse("al").expect("alias")));
    let x = query(Selector::Tag(tag("x")));
    let at = &app;
    let warm = |q: AudienceQuery| async move {
        count(r, at, &q).await;
        assert_eq!(count(r, at, &q).await.1, HIT);
    };
    // a tag added
    warm(ios_x.clone()).await;
    r.add_tag(&app, &tag("x"), &cids[..1]).await.expect("tag");
    assert_eq!(count(r, &app, &ios_x).await, (2, MISS));
    // a device inserted
    warm(ios_x.clone()).await;
    let more = vec![DeviceUpsert {
        phone_type: Some(PhoneType::Ios),
        ..Default::default()
    }];
    let new = r.upsert_devices(&app, &more, NOW).await.expect("insert");
    assert_eq!(count(r, &app, &ios_x).await, (3, MISS));
    // a device deleted
    warm(ios_x.clone()).await;
    r.delete_device(&app, &new[0]).await.expect("delete");
    assert_eq!(count(r, &app, &ios_x).await, (2, MISS));
    // a device blacklisted (the query leaves blacklisted devices out)
    warm(ios_x.clone()).await;
    r.set_blacklisted(&app, &cids[3..4], true)
        .await
        .expect("blacklist");
    assert_eq!(count(r, &app, &ios_x).await, (1, MISS));
    // a tag removed
    warm(x.clone()).await;
    r.remove_tag(&app, &tag("x"), &cids[..1])
        .await
        .expect("untag");
    assert_eq!(count(r, &app, &x).await, (0, MISS));
    // an alias bound, then unbound
    warm(by_alias.clone()).await;
    let al = Alias::parse("al").expect("alias");
    r.bind_aliases(&app, &[(cids[1].clone(), al.clone())])
        .await
        .expect("bind");
    assert_eq!(count(r, &app, &by_alias).await, (1, MISS));
    warm(by_alias.clone()).await;
    r.unbind_alias(&app, &al).await.expect("unbind");
    assert_eq!(count(r, &app, &by_alias).await, (0, MISS));
    // a login day recorded (login_freq)
    let freq: Selector =
        serde_json::from_str(r#"{"property":{"name":"login_freq","op":"gte","value":1}}"#)
            .expect("selector");
    let freq = query(freq);
    warm(freq.clone()).await;
    r.record_device_event(
        &app,
        &cids[2],
        DeviceEvent::Login,
        roster_core::time::now_ms(),
    )
    .await
    .expect("login");
    assert_eq!(count(r, &app, &freq).await, (1, MISS));
}

#[tokio::test]
async fn another_apps_writes_leave_an_apps_entries_hits() {
    let node = node(1 << 20).await;
    let r = &node.registry;
    let (a, _) = app(r, 9).await;
    let (b, b_cids) = app(r, 4).await;
    let q = android_or_x();
    assert_eq!(count(r, &a, &q).await, (6, MISS));
    assert_eq!(count(r, &b, &q).await, (2, MISS));
    r.add_tag(&b, &tag("x"), &b_cids).await.expect("tag b");
    assert_eq!(count(r, &a, &q).await, (6, HIT));
    assert_eq!(count(r, &b, &q).await, (4, MISS));
    // an app deleted loses its entries, the others keep theirs
    let held = r.count_cache_stats().entries;
    assert!(r.delete_app(&b).await.expect("delete"));
    assert_eq!(r.count_cache_stats().entries, held - 2);
    assert_eq!(count(r, &a, &q).await, (6, HIT));
}

#[tokio::test]
async fn a_redefined_segment_counts_afresh() {
    let node = node(1 << 20).await;
    let r = &node.registry;
    let (app, _) = app(r, 9).await;
    let name = SegmentName::parse("phones").expect("name");
    let ios = Selector::PhoneType(PhoneType::Ios);
    r.create_segment(&app, &name, &ios, NOW)
        .await
        .expect("segment");
    let q = query(Selector::Segment(name.clone()));
    assert_eq!(count(r, &app, &q).await, (3, MISS));
    assert_eq!(count(r, &app, &q).await, (3, HIT));
    // the segment's selector is part of the key, not its name
    assert_eq!(count(r, &app, &query(ios)).await, (3, HIT));
    let android = Selector::PhoneType(PhoneType::Android);
    r.replace_segment(&app, &name, &android, NOW + 1)
        .await
        .expect("replace")
        .expect("exists");
    assert_eq!(count(r, &app, &q).await, (6, MISS));
    assert!(r.delete_segment(&app, &name).await.expect("delete"));
    assert!(r.count_audience(&app, &q).await.is_err(), "gone: not found");
}

#[tokio::test]
async fn the_room_bounds_the_entries() {
    // room for a handful of entries only
    let room = 2_000;
    let node = node(room).await;
    let r = &node.registry;
    let (app, _) = app(r, 3).await;
    for i in 0..200 {
        let q = query(Selector::Tag(tag(&format!("t{i}"))));
        assert_eq!(count(r, &app, &q).await, (0, MISS));
    }
    let s = r.count_cache_stats();
    assert!(s.bytes <= room, "{s:?}");
    assert!(s.entries > 0 && s.entries < 30, "{s:?}");
    assert!(s.evictions >= 170, "{s:?}");
}

#[tokio::test]
async fn off_by_default_and_when_sized_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = Arc::new(SqliteStore::open_in_dir(dir.path()).expect("open"));
    let (r, _) = Registry::indexed(sqlite).await.expect("index");
    let (app, _) = app(&r, 9).await;
    let q = android_or_x();
    for _ in 0..3 {
        assert_eq!(count(&r, &app, &q).await, (6, (0, 0)));
    }
    r.set_count_cache_bytes(4096);
    count(&r, &app, &q).await;
    assert_eq!(count(&r, &app, &q).await.1, HIT);
    r.set_count_cache_bytes(0);
    assert_eq!(count(&r, &app, &q).await.1, (0, 0));
    assert_eq!(r.count_cache_stats().capacity, 0);
    // a selector naming a crowd is never cached
    r.set_count_cache_bytes(4096);
    let crowd = query(Selector::Crowd("nope".into()));
    let before: CountCacheStats = r.count_cache_stats();
    assert!(r.count_audience(&app, &crowd).await.is_err());
    assert_eq!(r.count_cache_stats(), before);
}
