//! The index against brute force: random devices, random interleaved writes (some of
//! them refused), random nested selectors; every count and listing must equal a direct
//! evaluation over every device, and the store's own SQL evaluation, also after the
//! index is rebuilt from the store as on restart.

use std::sync::Arc;

use proptest::prelude::*;
use roster_core::{
    Alias, AppId, AudienceQuery, Cid, DeviceUpsert, NewApp, PhoneType, RegionCode, Selector,
    TagName,
};
use roster_store::{AliasStore, AppStore, AudienceStore, DeviceStore, Registry, TagStore};
use roster_store_sqlite::SqliteStore;

const REGIONS: [&str; 6] = [
    "11000000", "11010000", "11010500", "11020000", "31000000", "31010000",
];
const TAGS: [&str; 5] = ["a", "b", "c", "喜爱", "e"];
const BRANDS: [&str; 3] = ["hw", "xm", "unknown"];
const ALIASES: [&str; 2] = ["al1", "al2"];
const CIDS: usize = 12;

#[derive(Debug, Clone)]
enum Op {
    Upsert {
        cid: usize,
        phone: Option<bool>,
        region: Option<usize>,
        brand: Option<usize>,
        switch: Option<bool>,
    },
    AddTag {
        tag: usize,
        cids: Vec<usize>,
    },
    RemoveTag {
        tag: usize,
        cids: Vec<usize>,
    },
    ReplaceTags {
        cid: usize,
        tags: Vec<usize>,
    },
    BindAlias {
        cid: usize,
        alias: usize,
    },
    UnbindAlias {
        alias: usize,
    },
    Blacklist {
        cids: Vec<usize>,
        on: bool,
    },
}

fn cid(i: usize) -> Cid {
    Cid::parse(format!("c{i}")).expect("cid")
}

fn op() -> impl Strategy<Value = Op> {
    let idx = || 0..CIDS;
    let cids = || prop::collection::vec(0..CIDS, 1..4);
    prop_oneof![
        4 => (idx(), prop::option::of(any::<bool>()), prop::option::of(0..REGIONS.len()),
              prop::option::of(0..2usize), prop::option::of(any::<bool>()))
            .prop_map(|(cid, phone, region, brand, switch)| Op::Upsert { cid, phone, region, brand, switch }),
        2 => (0..TAGS.len(), cids()).prop_map(|(tag, cids)| Op::AddTag { tag, cids }),
        1 => (0..TAGS.len(), cids()).prop_map(|(tag, cids)| Op::RemoveTag { tag, cids }),
        1 => (idx(), prop::collection::btree_set(0..TAGS.len(), 0..4))
            .prop_map(|(cid, tags)| Op::ReplaceTags { cid, tags: tags.into_iter().collect() }),
        1 => (idx(), 0..ALIASES.len()).prop_map(|(cid, alias)| Op::BindAlias { cid, alias }),
        1 => (0..ALIASES.len()).prop_map(|alias| Op::UnbindAlias { alias }),
        1 => (prop::collection::btree_set(0..CIDS, 1..3), any::<bool>())
            .prop_map(|(cids, on)| Op::Blacklist { cids: cids.into_iter().collect(), on }),
    ]
}

fn selector() -> impl Strategy<Value = Selector> {
    let leaf = prop_oneof![
        any::<bool>().prop_map(|b| Selector::PhoneType(if b {
            PhoneType::Android
        } else {
            PhoneType::Ios
        })),
        (0..REGIONS.len())
            .prop_map(|i| Selector::Region(RegionCode::parse(REGIONS[i]).expect("region"))),
        (0..TAGS.len()).prop_map(|i| Selector::Tag(TagName::parse(TAGS[i]).expect("tag"))),
        (0..BRANDS.len()).prop_map(|i| Selector::Brand(BRANDS[i].to_owned())),
        (0..ALIASES.len()).prop_map(|i| Selector::Alias(Alias::parse(ALIASES[i]).expect("alias"))),
        prop::collection::vec(0..CIDS + 2, 0..3)
            .prop_map(|v| Selector::Cid(v.into_iter().map(cid).collect())),
        any::<bool>().prop_map(Selector::All),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Selector::And),
            prop::collection::vec(inner.clone(), 0..10).prop_map(Selector::Or),
            inner.prop_map(|x| Selector::Not(Box::new(x))),
        ]
    })
}

fn query() -> impl Strategy<Value = AudienceQuery> {
    (selector(), any::<bool>(), any::<bool>()).prop_map(|(selector, b, n)| AudienceQuery {
        selector,
        exclude_blacklisted: b,
        exclude_notification_off: n,
    })
}

async fn apply<S: DeviceStore + TagStore + AliasStore>(s: &S, app: &AppId, op: &Op) {
    let tags = |ix: &[usize]| {
        ix.iter()
            .map(|i| TagName::parse(TAGS[*i]).expect("tag"))
            .collect::<Vec<_>>()
    };
    let cids = |ix: &[usize]| ix.iter().map(|i| cid(*i)).collect::<Vec<_>>();
    // Refused writes (unknown cids, limits) are part of the test: they must change nothing.
    let _ = match op {
        Op::Upsert {
            cid: c,
            phone,
            region,
            brand,
            switch,
        } => s
            .upsert_devices(
                app,
                &[DeviceUpsert {
                    cid: Some(cid(*c)),
                    phone_type: phone.map(|a| {
                        if a {
                            PhoneType::Android
                        } else {
                            PhoneType::Ios
                        }
                    }),
                    region: region.map(|r| REGIONS[r].to_owned()),
                    brand: brand.map(|b| BRANDS[b].to_owned()),
                    notification_switch: *switch,
                    ..Default::default()
                }],
                1_700_000_000_000,
            )
            .await
            .map(drop),
        Op::AddTag { tag, cids: c } => s.add_tag(app, &tags(&[*tag])[0], &cids(c)).await.map(drop),
        Op::RemoveTag { tag, cids: c } => s
            .remove_tag(app, &tags(&[*tag])[0], &cids(c))
            .await
            .map(drop),
        Op::ReplaceTags { cid: c, tags: t } => s.replace_tags(app, &cid(*c), &tags(t)).await,
        Op::BindAlias { cid: c, alias } => {
            s.bind_aliases(
                app,
                &[(cid(*c), Alias::parse(ALIASES[*alias]).expect("alias"))],
            )
            .await
        }
        Op::UnbindAlias { alias } => s
            .unbind_alias(app, &Alias::parse(ALIASES[*alias]).expect("alias"))
            .await
            .map(drop),
        Op::Blacklist { cids: c, on } => s.set_blacklisted(app, &cids(c), *on).await,
    };
}

/// Counts and pages from the index, the SQL and brute force must agree.
async fn check(
    indexed: &Registry<SqliteStore>,
    app: &AppId,
    queries: &[AudienceQuery],
) -> Result<(), TestCaseError> {
    let sql = Registry::new(indexed.backend().clone());
    let all: Vec<Cid> = (0..CIDS).map(cid).collect();
    let devices = sql.get_devices(app, &all, 0).await.expect("devices");
    let everyone = AudienceQuery {
        selector: Selector::All(true),
        exclude_blacklisted: false,
        exclude_notification_off: false,
    };
    let ordinals = sql
        .audience_page(app, &everyone, None, 1000)
        .await
        .expect("ordinals");
    let ordinal = |c: &Cid| ordinals.iter().find(|(_, x)| x == c).map(|(o, _)| *o);
    for q in queries {
        let mut want: Vec<(u32, String)> = devices
            .iter()
            .filter(|d| q.matches(&d.facts()))
            .filter_map(|d| Some((ordinal(&d.cid)?, d.cid.to_string())))
            .collect();
        want.sort();
        let count = indexed.count_audience(app, q).await.expect("count");
        prop_assert_eq!(count, want.len() as u64, "index count, {:?}", q);
        let sql_count = sql.count_audience(app, q).await.expect("sql count");
        prop_assert_eq!(sql_count, want.len() as u64, "sql count, {:?}", q);
        // page through two at a time
        let mut got = Vec::new();
        let mut after = None;
        loop {
            let page = indexed.audience_page(app, q, after, 2).await.expect("page");
            if page.is_empty() {
                break;
            }
            after = page.last().map(|(o, _)| *o);
            got.extend(page.into_iter().map(|(o, c)| (o, c.to_string())));
        }
        prop_assert_eq!(&got, &want, "index listing, {:?}", q);
        let sql_page = sql
            .audience_page(app, q, None, 100)
            .await
            .expect("sql page");
        let sql_page: Vec<(u32, String)> = sql_page
            .into_iter()
            .map(|(o, c)| (o, c.to_string()))
            .collect();
        prop_assert_eq!(&sql_page, &want, "sql listing, {:?}", q);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn index_matches_brute_force(
        setup in prop::collection::vec(op(), 5..25),
        more in prop::collection::vec(op(), 0..15),
        queries in prop::collection::vec(query(), 1..8),
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
        rt.block_on(async {
            let dir = tempfile::tempdir().expect("tempdir");
            let sqlite = Arc::new(SqliteStore::open_in_dir(dir.path()).expect("open"));
            let (indexed, _) = Registry::indexed(sqlite.clone()).await.expect("index");
            let new_app = NewApp::new("p", 0).expect("app");
            let app = new_app.credentials.app_id.clone();
            indexed.create_app(&new_app).await.expect("create");
            // a second app whose devices share cids must never leak into counts
            let other = NewApp::new("q", 0).expect("app");
            indexed.create_app(&other).await.expect("create");
            for op in &setup {
                apply(&indexed, &app, op).await;
                apply(&indexed, &other.credentials.app_id, op).await;
            }
            check(&indexed, &app, &queries).await?;
            for op in &more {
                apply(&indexed, &app, op).await;
            }
            check(&indexed, &app, &queries).await?;
            // restart: the index rebuilt from the store answers the same
            drop(indexed);
            let (rebuilt, stats) = Registry::indexed(sqlite.clone()).await.expect("rebuild");
            prop_assert_eq!(stats.apps, 2);
            check(&rebuilt, &app, &queries).await
        })?;
    }
}
