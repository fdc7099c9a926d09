//! The index against brute force: random devices, random interleaved writes (some of
//! them refused), random nested selectors; every count and listing must equal a direct
//! evaluation over every device, and the store's own SQL evaluation, also after the
//! index is rebuilt from the store as on restart.

use std::sync::Arc;

use proptest::prelude::*;
use roster_core::property::{Field, Op as PropOp, Property};
use roster_core::{
    Alias, AppId, AudienceQuery, Cid, DeviceEvent, DeviceUpsert, NewApp, PhoneType, RegionCode,
    Selector, TagName,
};
use roster_store::{AliasStore, AppStore, AudienceStore, DeviceStore, Registry, TagStore};
use roster_store_sqlite::SqliteStore;
use serde_json::{json, Value};

const REGIONS: [&str; 6] = [
    "11000000", "11010000", "11010500", "11020000", "31000000", "31010000",
];
const TAGS: [&str; 5] = ["a", "b", "c", "喜爱", "e"];
const BRANDS: [&str; 3] = ["hw", "xm", "unknown"];
const ALIASES: [&str; 2] = ["al1", "al2"];
const CIDS: usize = 12;
/// Versions that sort differently as text and as versions, and one with a suffix.
const VERSIONS: [&str; 7] = [
    "1.9.2",
    "1.10.0",
    "2.0",
    "1.10",
    "01.9.2",
    "1.10.0-beta",
    "10",
];
const MODELS: [&str; 3] = ["Mate 60", "Mi 14", "iPhone15,2"];
const KEYS: [&str; 3] = ["level", "channel", "vip"];
/// Free-form property values: text (some version-like), numbers, and one of neither.
fn prop_value(i: usize) -> Value {
    [
        json!("a"),
        json!("1.2"),
        json!("1.10"),
        json!(1),
        json!(2.5),
        json!(-3),
        json!(10),
        json!(true),
        json!(null),
    ][i]
        .clone()
}
const PROP_VALUES: usize = 9;
/// Registration and login times: days after this instant.
const T0: i64 = 1_700_000_000_000;
const DAY: i64 = 86_400_000;

#[derive(Debug, Clone)]
enum Op {
    Upsert {
        cid: usize,
        phone: Option<bool>,
        region: Option<usize>,
        brand: Option<usize>,
        switch: Option<bool>,
        /// app_version, os, package_name/client_app_id, phone_model (indexes into pools).
        texts: [Option<usize>; 4],
        /// create_time and last_login_time, days after `T0`.
        times: Option<(i64, i64)>,
        /// Free-form properties merged in.
        props: Vec<(usize, usize)>,
    },
    /// A login `days_ago` days before now (recorded as a login day).
    Login {
        cid: usize,
        days_ago: i64,
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
              prop::option::of(0..2usize), prop::option::of(any::<bool>()),
              [prop::option::of(0..VERSIONS.len()), prop::option::of(0..VERSIONS.len()),
               prop::option::of(0..2usize), prop::option::of(0..MODELS.len())],
              prop::option::of((0..30i64, 0..30i64)),
              prop::collection::vec((0..KEYS.len(), 0..PROP_VALUES), 0..3))
            .prop_map(|(cid, phone, region, brand, switch, texts, times, props)| Op::Upsert {
                cid, phone, region, brand, switch, texts, times, props,
            }),
        2 => (idx(), 0..4i64).prop_map(|(cid, d)| Op::Login { cid, days_ago: [0, 1, 99, 100][d as usize] }),
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
        property().prop_map(Selector::Property),
        property().prop_map(Selector::Property),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Selector::And),
            prop::collection::vec(inner.clone(), 0..10).prop_map(Selector::Or),
            inner.prop_map(|x| Selector::Not(Box::new(x))),
        ]
    })
}

/// Every field, every op, and values of every type (the invalid combinations are
/// dropped: parse-time validation is tested in the core).
fn property() -> impl Strategy<Value = Property> {
    let names: Vec<String> = roster_core::property::DEVICE_FIELDS
        .iter()
        .map(|f| (*f).to_owned())
        .chain(KEYS.iter().map(|k| format!("properties.{k}")))
        .chain(["properties.absent".to_owned()])
        .collect();
    let scalar = prop_oneof![
        (0..VERSIONS.len()).prop_map(|i| json!(VERSIONS[i])),
        Just(json!("1.")),
        Just(json!("1.1")),
        (0..MODELS.len()).prop_map(|i| json!(MODELS[i])),
        Just(json!("com.a")),
        (0..PROP_VALUES).prop_map(prop_value),
        (0..4i64).prop_map(|n| json!(n)),
        (0..30i64).prop_map(|d| json!(T0 + d * DAY)),
        any::<bool>().prop_map(|b| json!(b)),
    ];
    let value = prop_oneof![
        3 => scalar.clone(),
        1 => prop::collection::vec(scalar, 0..3).prop_map(Value::Array),
    ];
    (
        prop::sample::select(names),
        prop::sample::select(PropOp::ALL.to_vec()),
        value,
    )
        .prop_filter_map("valid leaves only", |(name, op, value)| {
            Property::new(Field::parse(&name).ok()?, op, &value).ok()
        })
}

fn query() -> impl Strategy<Value = AudienceQuery> {
    (selector(), any::<bool>(), any::<bool>()).prop_map(|(selector, b, n)| AudienceQuery {
        selector,
        exclude_blacklisted: b,
        exclude_notification_off: n,
    })
}

async fn apply<S: DeviceStore + TagStore + AliasStore>(s: &S, app: &AppId, op: &Op, now: i64) {
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
            texts,
            times,
            props,
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
                    app_version: texts[0].map(|i| VERSIONS[i].to_owned()),
                    os: texts[1].map(|i| VERSIONS[i].to_owned()),
                    package_name: texts[2].map(|i| ["com.a", "com.ab"][i].to_owned()),
                    client_app_id: texts[2].map(|i| ["x1", "x2"][i].to_owned()),
                    phone_model: texts[3].map(|i| MODELS[i].to_owned()),
                    create_time: times.map(|(c, _)| T0 + c * DAY),
                    last_login_time: times.map(|(c, l)| T0 + (c + l) * DAY),
                    properties: (!props.is_empty()).then(|| {
                        props
                            .iter()
                            .map(|(k, v)| (KEYS[*k].to_owned(), prop_value(*v)))
                            .collect()
                    }),
                    ..Default::default()
                }],
                1_700_000_000_000,
            )
            .await
            .map(drop),
        Op::Login { cid: c, days_ago } => {
            s.record_device_event(app, &cid(*c), DeviceEvent::Login, now - days_ago * DAY)
                .await
        }
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
    // `login_freq` as of now, as the stores evaluate it.
    let now = roster_core::time::now_ms();
    let devices = sql.get_devices(app, &all, now).await.expect("devices");
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

/// An index over `sqlite` with two apps: the one counted, and a second whose devices
/// share cids, which must never leak into its counts.
async fn two_apps(sqlite: Arc<SqliteStore>) -> (Registry<SqliteStore>, AppId, AppId) {
    let (indexed, _) = Registry::indexed(sqlite).await.expect("index");
    let mut ids = Vec::new();
    for name in ["p", "q"] {
        let new_app = NewApp::new(name, 0).expect("app");
        indexed.create_app(&new_app).await.expect("create");
        ids.push(new_app.credentials.app_id);
    }
    let other = ids.pop().expect("q");
    let app = ids.pop().expect("p");
    (indexed, app, other)
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
            let (indexed, app, other) = two_apps(sqlite.clone()).await;
            let now = roster_core::time::now_ms();
            for op in &setup {
                apply(&indexed, &app, op, now).await;
                apply(&indexed, &other, op, now).await;
            }
            check(&indexed, &app, &queries).await?;
            for op in &more {
                apply(&indexed, &app, op, now).await;
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

/// `sel` with the operands of every `and` and `or` in reverse order: the same devices.
fn reversed(sel: &Selector) -> Selector {
    match sel {
        Selector::And(xs) => Selector::And(xs.iter().rev().map(reversed).collect()),
        Selector::Or(xs) => Selector::Or(xs.iter().rev().map(reversed).collect()),
        Selector::Not(x) => Selector::Not(Box::new(reversed(x))),
        leaf => leaf.clone(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// The result cache never answers other than an evaluation would: after every
    /// write (to the app or to another), each query and a respelling of it counted
    /// through the cache equal the uncached count.
    #[test]
    fn cached_counts_match_uncached(
        ops in prop::collection::vec((op(), any::<bool>()), 1..25),
        queries in prop::collection::vec(query(), 1..6),
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
        rt.block_on(async {
            let dir = tempfile::tempdir().expect("tempdir");
            let sqlite = Arc::new(SqliteStore::open_in_dir(dir.path()).expect("open"));
            let (indexed, app, other) = two_apps(sqlite).await;
            indexed.set_count_cache_bytes(64 * 1024);
            let now = roster_core::time::now_ms();
            for (op, here) in &ops {
                let target = if *here { &app } else { &other };
                apply(&indexed, target, op, now).await;
                for q in &queries {
                    let respelled = AudienceQuery { selector: reversed(&q.selector), ..q.clone() };
                    for asked in [q, q, &respelled] {
                        let cached = indexed.count_audience(&app, asked).await.expect("count");
                        let fresh = indexed.count_uncached(&app, asked).await.expect("uncached");
                        prop_assert_eq!(cached, fresh, "{:?} after {:?}", asked, op);
                    }
                }
            }
            let s = indexed.count_cache_stats();
            prop_assert!(s.hits > 0, "{:?}", s);
            Ok(())
        })?;
    }
}
