//! Saved segments and property leaves, on every backend.

use roster_core::segment::SegmentName;
use roster_core::{AudienceQuery, Cid, DeviceUpsert, Error, PhoneType, Selector};
use roster_store::Store;
use serde_json::json;

use crate::{new_app, rule};

fn name(n: &str) -> SegmentName {
    SegmentName::parse(n).expect("name")
}

fn sel(v: serde_json::Value) -> Selector {
    serde_json::from_value(v).expect("selector")
}

async fn count(s: &dyn Store, app: &roster_core::AppId, selector: Selector) -> u64 {
    let q = AudienceQuery {
        selector,
        exclude_blacklisted: false,
        exclude_notification_off: false,
    };
    s.count_audience(app, &q).await.expect("count")
}

/// Saving, reading, replacing and deleting segments; counts through them are live;
/// cycles, missing segments and taken names are refused and store nothing.
pub async fn segments(s: &dyn Store) {
    let app = new_app(s).await;
    let other = new_app(s).await;
    let dev = |cid: &str, pt: PhoneType, version: Option<&str>| DeviceUpsert {
        cid: Some(Cid::parse(cid).expect("cid")),
        phone_type: Some(pt),
        app_version: version.map(str::to_owned),
        ..Default::default()
    };
    s.upsert_devices(
        &app,
        &[
            dev("a1", PhoneType::Android, Some("1.9.2")),
            dev("a2", PhoneType::Android, Some("1.10.0")),
            dev("i1", PhoneType::Ios, None),
        ],
        1_000,
    )
    .await
    .expect("upsert");
    let android = sel(json!({ "phone_type": "android" }));
    let saved = s
        .create_segment(&app, &name("android"), &android, 5)
        .await
        .expect("create");
    assert_eq!((saved.created_at, saved.updated_at), (5, 5));
    assert!(matches!(
        rule(s.create_segment(&app, &name("android"), &android, 6).await),
        Error::AlreadyExists(_)
    ));
    // the same name in another app is another segment
    s.create_segment(&other, &name("android"), &Selector::All(false), 6)
        .await
        .expect("other app");
    let recent = sel(json!({ "and": [
        { "segment": "android" },
        { "property": { "name": "app_version", "op": "gt", "value": "1.9.10" } }
    ] }));
    s.create_segment(&app, &name("recent"), &recent, 7)
        .await
        .expect("nested");
    assert_eq!(count(s, &app, sel(json!({ "segment": "recent" }))).await, 1);
    assert_eq!(
        count(s, &app, sel(json!({ "segment": "android" }))).await,
        2
    );
    // live: a new device counts at once
    s.upsert_devices(&app, &[dev("a3", PhoneType::Android, Some("2.0"))], 2_000)
        .await
        .expect("upsert");
    assert_eq!(count(s, &app, sel(json!({ "segment": "recent" }))).await, 2);
    // cycles, direct and through another segment, and missing segments: refused
    let refused = [
        ("android", json!({ "segment": "android" })),
        ("android", json!({ "not": { "segment": "recent" } })),
        ("android", json!({ "segment": "missing" })),
    ];
    for (n, bad) in refused {
        let e = rule(
            s.replace_segment(&app, &name(n), &sel(bad.clone()), 9)
                .await,
        );
        assert!(
            matches!(e, Error::Invalid(_) | Error::NotFound(_)),
            "{bad}: {e:?}"
        );
    }
    let e = rule(
        s.create_segment(&app, &name("self"), &sel(json!({ "segment": "self" })), 9)
            .await,
    );
    assert!(matches!(e, Error::Invalid(_)), "{e:?}");
    assert!(s.segment(&app, &name("self")).await.expect("get").is_none());
    let kept = s.segment(&app, &name("android")).await.expect("get");
    assert_eq!(kept.map(|k| k.selector), Some(android.clone()));
    // replace: the nested segment follows
    let ios = sel(json!({ "phone_type": "ios" }));
    let replaced = s
        .replace_segment(&app, &name("android"), &ios, 10)
        .await
        .expect("replace")
        .expect("exists");
    assert_eq!((replaced.created_at, replaced.updated_at), (5, 10));
    assert_eq!(count(s, &app, sel(json!({ "segment": "recent" }))).await, 0);
    assert!(s
        .replace_segment(&app, &name("nope"), &ios, 10)
        .await
        .expect("replace")
        .is_none());
    let names: Vec<String> = s
        .segments(&app)
        .await
        .expect("list")
        .into_iter()
        .map(|r| r.name.to_string())
        .collect();
    assert_eq!(names, ["android", "recent"]);
    // delete: segments naming it are then not found when counted
    assert!(s
        .delete_segment(&app, &name("android"))
        .await
        .expect("delete"));
    assert!(!s
        .delete_segment(&app, &name("android"))
        .await
        .expect("again"));
    let q = AudienceQuery {
        selector: sel(json!({ "segment": "recent" })),
        exclude_blacklisted: false,
        exclude_notification_off: false,
    };
    assert!(matches!(
        rule(s.count_audience(&app, &q).await),
        Error::NotFound(_)
    ));
    assert_eq!(s.segments(&other).await.expect("other").len(), 1);
}

/// Property leaves: version order, missing fields, free-form properties, updates.
pub async fn property_audience(s: &dyn Store) {
    let app = new_app(s).await;
    let dev = |cid: &str, version: Option<&str>, props: serde_json::Value| DeviceUpsert {
        cid: Some(Cid::parse(cid).expect("cid")),
        phone_type: Some(PhoneType::Android),
        app_version: version.map(str::to_owned),
        properties: props.as_object().cloned(),
        ..Default::default()
    };
    s.upsert_devices(
        &app,
        &[
            dev("d1", Some("1.9.2"), json!({ "level": 3, "plan": "gold" })),
            dev("d2", Some("1.10.0"), json!({ "level": 12.5 })),
            dev("d3", None, json!({ "plan": null })),
        ],
        1_000,
    )
    .await
    .expect("upsert");
    let p = |name: &str, op: &str, value: serde_json::Value| {
        sel(json!({ "property": { "name": name, "op": op, "value": value } }))
    };
    assert_eq!(
        count(s, &app, p("app_version", "gt", json!("1.9.2"))).await,
        1
    );
    assert_eq!(
        count(s, &app, p("app_version", "lte", json!("1.10"))).await,
        1
    );
    assert_eq!(
        count(s, &app, p("app_version", "ne", json!("1.9.2"))).await,
        1
    );
    assert_eq!(
        count(s, &app, p("app_version", "exists", json!(false))).await,
        1
    );
    assert_eq!(
        count(s, &app, p("properties.level", "gte", json!(3))).await,
        2
    );
    assert_eq!(
        count(s, &app, p("properties.level", "lt", json!(10))).await,
        1
    );
    // `null` is no value
    assert_eq!(
        count(s, &app, p("properties.plan", "exists", json!(true))).await,
        1
    );
    assert_eq!(
        count(s, &app, p("properties.plan", "ne", json!("free"))).await,
        1
    );
    assert_eq!(count(s, &app, p("created_at", "eq", json!(1_000))).await, 3);
    assert_eq!(
        count(s, &app, p("login_freq", "gte", json!(1))).await,
        0,
        "1970 is long ago"
    );
    s.upsert_devices(
        &app,
        &[dev("d3", Some("2.0"), json!({ "level": 1 }))],
        2_000,
    )
    .await
    .expect("update");
    assert_eq!(
        count(s, &app, p("app_version", "gt", json!("1.9.2"))).await,
        2
    );
    assert_eq!(
        count(s, &app, p("properties.level", "lt", json!(10))).await,
        2
    );
    assert_eq!(
        count(s, &app, p("app_version", "exists", json!(false))).await,
        0
    );
}
