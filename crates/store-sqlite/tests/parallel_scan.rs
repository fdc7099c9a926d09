//! The rebuild of a large app scans it in two halves on two connections and appends
//! them: the result must count exactly what SQL counts, with another app's devices
//! interleaved in the same tables, and follow writes made after it.

use std::sync::Arc;

use roster_core::{AppId, AudienceQuery, NewApp, PhoneType, RegionCode, Selector, TagName};
use roster_store::{AppStore, AudienceStore, ImportDevice, Registry, TagStore};
use roster_store_sqlite::SqliteStore;

fn device(i: u32) -> ImportDevice {
    let mut tags = Vec::new();
    if i.is_multiple_of(3) {
        tags.push("third".to_owned());
    }
    if i % 1000 == 7 {
        tags.push("rare".to_owned());
    }
    ImportDevice {
        cid: format!("cid{i:08}"),
        phone_type: if i.is_multiple_of(4) {
            PhoneType::Ios
        } else {
            PhoneType::Android
        },
        brand: Some(["hw", "xm"][(i % 2) as usize].to_owned()),
        region: (!i.is_multiple_of(5)).then(|| format!("{}010000", 11 + i % 3)),
        tags,
        alias: None,
        notification_switch: !i.is_multiple_of(7),
        blacklisted: i.is_multiple_of(97),
        create_time: 1_700_000_000_000 + i64::from(i),
        app_version: Some(format!("1.{}.0", i % 12)),
    }
}

fn q(selector: Selector) -> AudienceQuery {
    AudienceQuery {
        selector,
        exclude_blacklisted: true,
        exclude_notification_off: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_part_rebuild_counts_what_sql_counts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = Arc::new(SqliteStore::open_in_dir(dir.path()).expect("open"));
    let plain = Registry::new(sqlite.clone());
    let (big, small) = (
        NewApp::new("big", 0).expect("app"),
        NewApp::new("small", 0).expect("app"),
    );
    plain.create_app(&big).await.expect("create");
    plain.create_app(&small).await.expect("create");
    let (app, other): (AppId, AppId) = (
        big.credentials.app_id.clone(),
        small.credentials.app_id.clone(),
    );
    // 300,000 devices: past four blocks of 65,536, so the scan splits; the other app's
    // devices are imported in between, so row ids of the two apps interleave.
    let n = 300_000u32;
    for start in (0..n).step_by(50_000) {
        let batch: Vec<ImportDevice> = (start..start + 50_000).map(device).collect();
        sqlite.import_devices(&app, &batch).expect("import");
        let few: Vec<ImportDevice> = (start..start + 10).map(|i| device(i + 1)).collect();
        sqlite.import_devices(&other, &few).expect("import other");
    }
    let (indexed, stats) = Registry::indexed(sqlite.clone()).await.expect("index");
    assert_eq!(stats.devices, u64::from(n) + 60);
    let tag = |t: &str| Selector::Tag(TagName::parse(t).expect("tag"));
    let region = |r: &str| Selector::Region(RegionCode::parse(r).expect("region"));
    let selectors = vec![
        Selector::All(true),
        tag("third"),
        tag("rare"),
        Selector::And(vec![
            Selector::PhoneType(PhoneType::Ios),
            region("12000000"),
        ]),
        Selector::Or(vec![
            tag("rare"),
            region("13010000"),
            Selector::Brand("xm".into()),
        ]),
        Selector::Not(Box::new(tag("third"))),
    ];
    for sel in &selectors {
        let want = plain
            .count_audience(&app, &q(sel.clone()))
            .await
            .expect("sql");
        let got = indexed
            .count_audience(&app, &q(sel.clone()))
            .await
            .expect("index");
        assert_eq!(got, want, "{sel:?}");
        assert!(
            want > 0 || matches!(sel, Selector::Not(_)),
            "{sel:?} counted nothing"
        );
    }
    assert_eq!(
        indexed
            .count_audience(&app, &q(tag("third")))
            .await
            .expect("count"),
        (0..n)
            .filter(|i| i.is_multiple_of(3) && !i.is_multiple_of(97))
            .count() as u64
    );
    // Writes after the rebuild land in both halves.
    let cids: Vec<roster_core::Cid> = ["cid00000001", "cid00299999"]
        .iter()
        .map(|c| roster_core::Cid::parse(*c).expect("cid"))
        .collect();
    let added = indexed
        .add_tag(&app, &TagName::parse("late").expect("tag"), &cids)
        .await
        .expect("tag");
    assert_eq!(added, vec![true, true]);
    assert_eq!(
        indexed
            .count_audience(&app, &q(tag("late")))
            .await
            .expect("count"),
        2
    );
}
