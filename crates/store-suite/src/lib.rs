//! Test support, not part of any roster binary: the behavioural suite every store
//! backend runs. `roster_store_suite::store_test_suite!(factory)` at the bottom of a
//! backend crate's tests expands to one test per function here. A factory returns the
//! store and a guard that keeps its files (or database) alive for the test.

mod crowds;
pub mod model;
mod quota;
mod removal;

pub use crowds::{crowd_claims_race, crowd_input, crowd_queue};
pub use quota::{quota_daily, quota_daily_race, quota_limiter, quota_settings};
pub use removal::{device_delete, tag_edit, user_delete_and_pages};
mod segments;
pub use segments::{property_audience, segments};

use std::sync::Arc;

use roster_core::{
    app::token_digest, Alias, AppId, BadgeOp, Cid, DeviceEvent, DeviceKind, DeviceUpsert, DtType,
    Error, NewApp, PhoneType, TagName,
};

use roster_store::{DtBinding, DtFailure, Store, StoreError, TokenGrant};

/// A store under test plus whatever must outlive it.
pub struct Fixture {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Dropped after the test.
    pub guard: Box<dyn std::any::Any + Send>,
}

const NOW: i64 = 1_700_000_000_000;
const DAY: i64 = 86_400_000;

fn rule(r: Result<impl std::fmt::Debug, StoreError>) -> Error {
    match r {
        Err(StoreError::Rule(e)) => e,
        other => panic!("expected a rule error, got {other:?}"),
    }
}

async fn new_app(s: &dyn Store) -> AppId {
    let app = NewApp::new("suite", NOW).expect("valid name");
    let id = app.credentials.app_id.clone();
    s.create_app(&app).await.expect("create app");
    id
}

fn android() -> DeviceUpsert {
    DeviceUpsert {
        phone_type: Some(PhoneType::Android),
        ..Default::default()
    }
}

async fn devices(s: &dyn Store, app: &AppId, n: usize) -> Vec<Cid> {
    s.upsert_devices(app, &vec![android(); n], NOW)
        .await
        .expect("upsert")
}

fn val(s: &str) -> roster_core::IdentityValue {
    roster_core::IdentityValue::parse(s).expect("valid identity value")
}

fn userid(s: &str) -> roster_core::UserId {
    roster_core::UserId::parse(s).expect("valid userid")
}

fn cid(s: &str) -> Cid {
    Cid::parse(s).expect("valid cid")
}

fn alias(s: &str) -> Alias {
    Alias::parse(s).expect("valid alias")
}

fn tag(s: &str) -> TagName {
    TagName::parse(s).expect("valid tag")
}

/// Apps round-trip with their credentials; dt types can be enabled.
pub async fn apps_roundtrip(s: &dyn Store) {
    let app = NewApp::new("shop", NOW).expect("name");
    s.create_app(&app).await.expect("create");
    let got = s
        .get_app(&app.credentials.app_id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(got.name, "shop");
    assert_eq!(got.credentials, app.credentials);
    assert!(got.dt_type_enabled(DtType::Wx));
    assert!(!got.dt_type_enabled(DtType::Hw));
    s.set_app_dt_types(got.id(), &[DtType::Hw, DtType::Xm])
        .await
        .expect("set");
    let got = s.get_app(got.id()).await.expect("get").expect("exists");
    assert!(got.dt_type_enabled(DtType::Hw) && got.dt_type_enabled(DtType::Xm));
    assert!(!got.dt_type_enabled(DtType::Op));
    assert!(s.get_app(&AppId::generate()).await.expect("get").is_none());
    let e = rule(s.set_app_dt_types(&AppId::generate(), &[DtType::Hw]).await);
    assert_eq!(e, Error::NotFound("app".into()));
}

/// Apps page by id, rename, rotate a dialect's secrets with a grace, and delete with
/// everything of theirs: keys, tokens, devices, users.
pub async fn app_lifecycle(s: &dyn Store) {
    use roster_core::{CredentialKind, KeyDialect};
    let mut ids = Vec::new();
    for i in 0..5 {
        let app = NewApp::new(&format!("app {i}"), NOW + i).expect("name");
        s.create_app(&app).await.expect("create");
        ids.push(app.credentials.app_id.clone());
    }
    ids.sort();
    // pages of two cover every app once, in id order
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = s.list_apps(after.as_ref(), 2).await.expect("list");
        assert!(page.apps.len() <= 2);
        seen.extend(page.apps.iter().map(|a| a.id().clone()));
        if !page.more {
            break;
        }
        after = page.apps.last().map(|a| a.id().clone());
    }
    assert_eq!(seen, ids);
    let all = s.list_apps(None, 10).await.expect("list");
    assert!(!all.more && all.apps.iter().all(|a| a.keys.len() == 5));

    // rename
    let a = &ids[0];
    assert!(s.rename_app(a, "renamed").await.expect("rename"));
    assert_eq!(
        s.get_app(a).await.expect("get").expect("app").name,
        "renamed"
    );
    assert!(!s.rename_app(&AppId::generate(), "x").await.expect("rename"));

    // rotation: same key ids, new secrets; the old ones work until the grace ends
    let before = s.get_app(a).await.expect("get").expect("app");
    let old_ums = before.credentials.ums.access_secret.clone();
    let rotated = s
        .rotate_secrets(a, KeyDialect::Ums, NOW + 10, 1_000)
        .await
        .expect("rotate");
    assert_eq!(rotated.old_expire_at, NOW + 1_010);
    let kinds: Vec<CredentialKind> = rotated.secrets.iter().map(|k| k.kind).collect();
    assert_eq!(kinds.len(), 2);
    assert!(
        kinds.contains(&CredentialKind::UmsAccess) && kinds.contains(&CredentialKind::UmsChannel)
    );
    let access = rotated
        .secrets
        .iter()
        .find(|k| k.kind == CredentialKind::UmsAccess)
        .expect("access");
    assert_eq!(access.key, before.credentials.ums.access_key);
    let cred = s
        .find_credential(&access.key)
        .await
        .expect("find")
        .expect("key");
    assert!(cred.accepts(&old_ums, NOW + 1_009) && !cred.accepts(&old_ums, NOW + 1_010));
    assert!(cred.accepts(&access.secret, NOW + 1_000_000));
    let after_rotation = s.get_app(a).await.expect("get").expect("app");
    assert_eq!(after_rotation.credentials.ums.access_secret, access.secret);
    assert!(
        after_rotation.credentials.getui == before.credentials.getui,
        "other dialects keep theirs"
    );
    let retiring: Vec<_> = after_rotation
        .keys
        .iter()
        .filter(|k| k.expires_at.is_some())
        .collect();
    assert_eq!(retiring.len(), 2);
    let g = &after_rotation.credentials.getui;
    assert!(after_rotation.verify_getui_basic(&g.app_key, &g.master_secret, NOW));
    let e = rule(
        s.rotate_secrets(&AppId::generate(), KeyDialect::Getui, NOW, 0)
            .await,
    );
    assert_eq!(e, Error::NotFound("app".into()));

    // deletion: everything of the app is gone, the others stay
    s.upsert_devices(a, &[android()], NOW)
        .await
        .expect("devices");
    s.insert_token(a, "digest-a", NOW + 1_000)
        .await
        .expect("token");
    assert!(s.delete_app(a).await.expect("delete"));
    assert!(s.get_app(a).await.expect("get").is_none());
    for (key, _, _) in before.credentials.keys() {
        assert!(
            s.find_credential(key).await.expect("find").is_none(),
            "{key}"
        );
    }
    assert!(s
        .live_token("digest-a", NOW)
        .await
        .expect("token")
        .is_none());
    assert!(!s.delete_app(a).await.expect("delete again"));
    let left = s.list_apps(None, 10).await.expect("list");
    assert_eq!(left.apps.len(), 4);
    assert!(s.get_app(&ids[1]).await.expect("get").is_some());
}

/// Tokens are found until they expire or are revoked, and only for their app.
pub async fn tokens(s: &dyn Store) {
    let a = new_app(s).await;
    let b = new_app(s).await;
    let d = token_digest("t1");
    s.insert_token(&a, &d, NOW + 1000).await.expect("insert");
    let grant = TokenGrant {
        app: a.clone(),
        expires_at: NOW + 1000,
    };
    assert_eq!(
        s.live_token(&d, NOW).await.expect("get"),
        Some(grant.clone())
    );
    assert_eq!(
        s.live_token(&d, NOW + 1000).await.expect("get"),
        None,
        "expired"
    );
    assert_eq!(
        s.live_token(&token_digest("nope"), NOW).await.expect("get"),
        None
    );
    assert!(
        !s.revoke_token(&b, &d).await.expect("revoke"),
        "other app cannot revoke"
    );
    assert_eq!(s.live_token(&d, NOW).await.expect("get"), Some(grant));
    assert!(s.revoke_token(&a, &d).await.expect("revoke"));
    assert_eq!(s.live_token(&d, NOW).await.expect("get"), None);
}

/// Upsert generates cids, keeps given ones, updates in place and merges properties.
pub async fn device_upsert(s: &dyn Store) {
    let app = new_app(s).await;
    let mut props = serde_json::Map::new();
    props.insert("k".into(), "v".into());
    let given = DeviceUpsert {
        cid: Some(cid("imported-1")),
        phone_type: Some(PhoneType::Ios),
        brand: Some("iphone".into()),
        region: Some("11010000".into()),
        properties: Some(props),
        ..Default::default()
    };
    let cids = s
        .upsert_devices(&app, &[android(), given], NOW)
        .await
        .expect("upsert");
    assert_eq!(cids.len(), 2);
    assert_eq!(cids[0].as_str().len(), 32);
    assert_eq!(cids[1], cid("imported-1"));
    let got = s.get_devices(&app, &cids, NOW).await.expect("get");
    assert_eq!(got[0].phone_type, PhoneType::Android);
    assert!(got[0].notification_switch, "switch defaults to on");
    assert_eq!(got[0].kind, DeviceKind::App);
    assert_eq!(got[0].create_time, NOW);
    assert_eq!(got[0].last_login_time, NOW);
    assert_eq!(got[0].login_freq, 1, "registration is the first login");
    assert_eq!(got[1].region.as_deref(), Some("11010000"));
    let mut more = serde_json::Map::new();
    more.insert("k2".into(), 2.into());
    let update = DeviceUpsert {
        cid: Some(cid("imported-1")),
        notification_switch: Some(false),
        properties: Some(more),
        ..Default::default()
    };
    s.upsert_devices(&app, &[update], NOW + DAY)
        .await
        .expect("update");
    let got = s
        .get_devices(&app, &[cid("imported-1")], NOW + DAY)
        .await
        .expect("get");
    assert_eq!(got[0].phone_type, PhoneType::Ios, "kept");
    assert_eq!(got[0].brand.as_deref(), Some("iphone"), "kept");
    assert!(!got[0].notification_switch);
    assert_eq!(got[0].properties.len(), 2, "merged");
    assert_eq!(got[0].create_time, NOW, "create time never moves");
    // A new device without phone_type refuses the whole batch.
    let bad = DeviceUpsert::default();
    let e = rule(s.upsert_devices(&app, &[android(), bad], NOW).await);
    assert_eq!(e, Error::empty("phone_type"));
    // Other apps do not see the device.
    let other = new_app(s).await;
    assert!(s
        .get_devices(&other, &cids, NOW)
        .await
        .expect("get")
        .is_empty());
}

/// Events drive status, last login time and login days.
pub async fn device_events(s: &dyn Store) {
    let app = new_app(s).await;
    let c = devices(s, &app, 1).await.remove(0);
    let get = |now| {
        let c = c.clone();
        let app = app.clone();
        async move { s.get_devices(&app, &[c], now).await.expect("get").remove(0) }
    };
    assert!(!get(NOW).await.online);
    s.record_device_event(&app, &c, DeviceEvent::Online, NOW + 1)
        .await
        .expect("ev");
    assert!(get(NOW).await.online);
    s.record_device_event(&app, &c, DeviceEvent::Offline, NOW + 2)
        .await
        .expect("ev");
    assert!(!get(NOW).await.online);
    // Two logins on one day count once; one on a later day counts again.
    s.record_device_event(&app, &c, DeviceEvent::Login, NOW + 3)
        .await
        .expect("ev");
    s.record_device_event(&app, &c, DeviceEvent::Login, NOW + 4)
        .await
        .expect("ev");
    s.record_device_event(&app, &c, DeviceEvent::Login, NOW + 3 * DAY)
        .await
        .expect("ev");
    let d = get(NOW + 3 * DAY).await;
    assert!(d.online);
    assert_eq!(d.last_login_time, NOW + 3 * DAY);
    assert_eq!(d.login_freq, 2);
    // 100 days later only the last login day is still inside the window.
    assert_eq!(get(NOW + 102 * DAY).await.login_freq, 1);
    assert_eq!(get(NOW + 200 * DAY).await.login_freq, 0);
    // An older login does not move last_login_time back.
    s.record_device_event(&app, &c, DeviceEvent::Login, NOW + DAY)
        .await
        .expect("ev");
    assert_eq!(get(NOW + 3 * DAY).await.last_login_time, NOW + 3 * DAY);
    let e = rule(
        s.record_device_event(&app, &cid("missing"), DeviceEvent::Login, NOW)
            .await,
    );
    assert_eq!(e, Error::UnknownTarget);
}

/// Aliases: move on rebind, at most ten cids, all-or-nothing batches.
pub async fn aliases(s: &dyn Store) {
    let app = new_app(s).await;
    let cids = devices(s, &app, 12).await;
    let pairs: Vec<_> = cids[..10]
        .iter()
        .map(|c| (c.clone(), alias("team")))
        .collect();
    s.bind_aliases(&app, &pairs).await.expect("bind 10");
    let mut bound = s.cids_of_alias(&app, &alias("team")).await.expect("q");
    bound.sort();
    let mut want = cids[..10].to_vec();
    want.sort();
    assert_eq!(bound, want);
    // An 11th cid is refused and nothing in its batch applies.
    let e = rule(
        s.bind_aliases(
            &app,
            &[
                (cids[11].clone(), alias("solo")),
                (cids[10].clone(), alias("team")),
            ],
        )
        .await,
    );
    assert_eq!(e.code(), roster_core::ErrorCode::SizeOverLimit);
    assert_eq!(
        s.alias_of(&app, &cids[11]).await.expect("q"),
        None,
        "batch rolled back"
    );
    // Rebinding moves a cid, which frees a place.
    s.bind_aliases(&app, &[(cids[0].clone(), alias("other"))])
        .await
        .expect("move");
    assert_eq!(
        s.alias_of(&app, &cids[0]).await.expect("q"),
        Some(alias("other"))
    );
    assert_eq!(
        s.cids_of_alias(&app, &alias("team"))
            .await
            .expect("q")
            .len(),
        9
    );
    s.bind_aliases(&app, &[(cids[10].clone(), alias("team"))])
        .await
        .expect("10th again");
    // Rebinding the same pair is a no-op, even at the limit.
    s.bind_aliases(&app, &[(cids[10].clone(), alias("team"))])
        .await
        .expect("same");
    // Unknown cid refuses the batch.
    let e = rule(
        s.bind_aliases(
            &app,
            &[(cids[11].clone(), alias("x")), (cid("missing"), alias("x"))],
        )
        .await,
    );
    assert_eq!(e, Error::UnknownTarget);
    assert_eq!(s.alias_of(&app, &cids[11]).await.expect("q"), None);
    // Unbind pairs; a pair that is not bound is ignored; unknown cids refuse.
    s.unbind_aliases(
        &app,
        &[
            (cids[1].clone(), alias("team")),
            (cids[0].clone(), alias("team")),
        ],
    )
    .await
    .expect("unbind");
    assert_eq!(s.alias_of(&app, &cids[1]).await.expect("q"), None);
    assert_eq!(
        s.alias_of(&app, &cids[0]).await.expect("q"),
        Some(alias("other"))
    );
    let e = rule(
        s.unbind_aliases(
            &app,
            &[
                (cids[2].clone(), alias("team")),
                (cid("missing"), alias("team")),
            ],
        )
        .await,
    );
    assert_eq!(e, Error::UnknownTarget);
    assert_eq!(
        s.alias_of(&app, &cids[2]).await.expect("q"),
        Some(alias("team"))
    );
    assert_eq!(s.unbind_alias(&app, &alias("team")).await.expect("all"), 9);
    assert!(s
        .cids_of_alias(&app, &alias("team"))
        .await
        .expect("q")
        .is_empty());
    assert_eq!(s.unbind_alias(&app, &alias("team")).await.expect("all"), 0);
    let e = rule(s.alias_of(&app, &cid("missing")).await);
    assert_eq!(e, Error::UnknownTarget);
    // Aliases are per app.
    let other = new_app(s).await;
    assert!(s
        .cids_of_alias(&other, &alias("other"))
        .await
        .expect("q")
        .is_empty());
}

/// Tags: overwrite, batch add/remove with per-cid results, the hundred-tag cap.
pub async fn tags(s: &dyn Store) {
    let app = new_app(s).await;
    let cids = devices(s, &app, 2).await;
    s.replace_tags(&app, &cids[0], &[tag("b"), tag("a")])
        .await
        .expect("replace");
    assert_eq!(
        s.tags_of(&app, &cids[0]).await.expect("q"),
        vec![tag("a"), tag("b")]
    );
    s.replace_tags(&app, &cids[0], &[tag("c")])
        .await
        .expect("replace");
    assert_eq!(s.tags_of(&app, &cids[0]).await.expect("q"), vec![tag("c")]);
    s.replace_tags(&app, &cids[0], &[]).await.expect("clear");
    assert!(s.tags_of(&app, &cids[0]).await.expect("q").is_empty());
    let e = rule(s.replace_tags(&app, &cid("missing"), &[tag("a")]).await);
    assert_eq!(e, Error::UnknownTarget);

    let r = s
        .add_tag(
            &app,
            &tag("vip"),
            &[cids[0].clone(), cid("missing"), cids[1].clone()],
        )
        .await;
    assert_eq!(r.expect("add"), vec![true, false, true]);
    assert_eq!(
        s.tags_of(&app, &cids[1]).await.expect("q"),
        vec![tag("vip")]
    );
    let r = s
        .remove_tag(&app, &tag("vip"), &[cids[0].clone(), cid("missing")])
        .await;
    assert_eq!(r.expect("remove"), vec![true, false]);
    assert!(s.tags_of(&app, &cids[0]).await.expect("q").is_empty());

    let hundred: Vec<_> = (0..100).map(|i| tag(&format!("t{i}"))).collect();
    s.replace_tags(&app, &cids[0], &hundred)
        .await
        .expect("100 tags");
    let r = s
        .add_tag(&app, &tag("one-more"), &[cids[0].clone(), cids[1].clone()])
        .await;
    assert_eq!(
        r.expect("add"),
        vec![false, true],
        "101st tag refused for that cid only"
    );
    let r = s
        .add_tag(&app, &tag("t5"), std::slice::from_ref(&cids[0]))
        .await;
    assert_eq!(
        r.expect("add"),
        vec![true],
        "a tag it already has is fine at the cap"
    );
    let mut over = hundred.clone();
    over.push(tag("x"));
    let e = rule(s.replace_tags(&app, &cids[1], &over).await);
    assert_eq!(e, Error::over_limit("custom_tag"));
    assert_eq!(
        s.tags_of(&app, &cids[1]).await.expect("q").len(),
        2,
        "unchanged"
    );
}

/// Blacklist and badge apply to all cids or none.
pub async fn blacklist_and_badge(s: &dyn Store) {
    let app = new_app(s).await;
    let cids = devices(s, &app, 2).await;
    s.set_blacklisted(&app, &cids, true).await.expect("black");
    assert!(s
        .get_devices(&app, &cids, NOW)
        .await
        .expect("g")
        .iter()
        .all(|d| d.blacklisted));
    let e = rule(
        s.set_blacklisted(&app, &[cids[0].clone(), cid("missing")], false)
            .await,
    );
    assert_eq!(e, Error::UnknownTarget);
    assert!(
        s.get_devices(&app, &cids, NOW).await.expect("g")[0].blacklisted,
        "unchanged"
    );
    s.set_blacklisted(&app, &cids[..1], false)
        .await
        .expect("white");
    let got = s.get_devices(&app, &cids, NOW).await.expect("g");
    assert!(!got[0].blacklisted && got[1].blacklisted);

    s.apply_badge(&app, &cids, BadgeOp::Set(5))
        .await
        .expect("set");
    s.apply_badge(&app, &cids[..1], BadgeOp::Add(2))
        .await
        .expect("add");
    s.apply_badge(&app, &cids[1..], BadgeOp::Sub(8))
        .await
        .expect("sub");
    let got = s.get_devices(&app, &cids, NOW).await.expect("g");
    assert_eq!((got[0].badge, got[1].badge), (7, 0));
    let e = rule(
        s.apply_badge(&app, &[cids[0].clone(), cid("missing")], BadgeOp::Set(1))
            .await,
    );
    assert_eq!(e, Error::UnknownTarget);
    assert_eq!(
        s.get_devices(&app, &cids, NOW).await.expect("g")[0].badge,
        7
    );
}

/// bind_dt applies valid entries and reports the others with their reason.
pub async fn device_tokens(s: &dyn Store) {
    let app = new_app(s).await;
    let other = new_app(s).await;
    let mp = DeviceUpsert {
        kind: Some(DeviceKind::MiniProgram),
        ..android()
    };
    let cids = s
        .upsert_devices(&app, &[mp, android()], NOW)
        .await
        .expect("upsert");
    let foreign = devices(s, &other, 1).await.remove(0);
    let entry = |c: &str, t: Option<&str>| DtBinding {
        cid: c.to_owned(),
        device_token: t.map(str::to_owned),
    };
    let r = s
        .bind_device_tokens(
            &app,
            DtType::Wx,
            &[
                entry(cids[0].as_str(), Some("openid-1")),
                entry("", Some("x")),
                entry("missing", Some("x")),
                entry(foreign.as_str(), Some("x")),
                entry(cids[1].as_str(), Some("x")),
            ],
        )
        .await
        .expect("bind");
    assert_eq!(
        r,
        vec![
            (1, DtFailure::EmptyCid),
            (2, DtFailure::UnknownCid),
            (3, DtFailure::OtherApp),
            (4, DtFailure::NotMiniProgram)
        ]
    );
    let got = s.get_devices(&app, &cids, NOW).await.expect("g");
    assert_eq!(got[0].device_token.as_deref(), Some("openid-1"));
    assert_eq!(got[0].device_token_type, Some(DtType::Wx));
    assert_eq!(got[1].device_token, None);
    // A vendor channel binds app devices and sets the brand prefix.
    let r = s
        .bind_device_tokens(
            &app,
            DtType::Hw,
            &[entry(cids[1].as_str(), Some("hwtoken"))],
        )
        .await
        .expect("bind hw");
    assert!(r.is_empty());
    let got = s.get_devices(&app, &cids, NOW).await.expect("g");
    assert_eq!(got[1].device_token.as_deref(), Some("hwtoken"));
    assert_eq!(got[1].getui_brand(), "hw");
    // An empty token unbinds.
    let r = s
        .bind_device_tokens(&app, DtType::Wx, &[entry(cids[0].as_str(), Some(""))])
        .await
        .expect("unbind");
    assert!(r.is_empty());
    let got = s.get_devices(&app, &cids, NOW).await.expect("g");
    assert_eq!(got[0].device_token, None);
    assert_eq!(got[0].device_token_type, None);
}

/// Audience counts and pages over every dimension, with exclusions, per app.
pub async fn audience(s: &dyn Store) {
    use roster_core::{AudienceQuery, RegionCode, Selector};
    let app = new_app(s).await;
    let other = new_app(s).await;
    let dev =
        |cid: &str, pt: PhoneType, region: Option<&str>, brand: Option<&str>, switch: bool| {
            DeviceUpsert {
                cid: Some(Cid::parse(cid).expect("cid")),
                phone_type: Some(pt),
                region: region.map(str::to_owned),
                brand: brand.map(str::to_owned),
                notification_switch: Some(switch),
                ..Default::default()
            }
        };
    let batch = [
        dev("a1", PhoneType::Android, Some("11010000"), Some("hw"), true),
        dev("a2", PhoneType::Android, Some("31010000"), None, false),
        dev("i1", PhoneType::Ios, Some("11020500"), Some("iphone"), true),
        dev("i2", PhoneType::Ios, None, None, true),
    ];
    s.upsert_devices(&app, &batch, NOW).await.expect("upsert");
    s.upsert_devices(&other, &batch, NOW)
        .await
        .expect("upsert other");
    s.add_tag(&app, &tag("x"), &[cid("a1"), cid("i1")])
        .await
        .expect("tag");
    s.bind_aliases(&app, &[(cid("i2"), alias("vip"))])
        .await
        .expect("alias");
    s.set_blacklisted(&app, &[cid("a1")], true)
        .await
        .expect("black");
    let q = |selector: Selector| AudienceQuery {
        selector,
        exclude_blacklisted: false,
        exclude_notification_off: false,
    };
    let region = |c: &str| Selector::Region(RegionCode::parse(c).expect("region"));
    let count = |query: AudienceQuery| {
        let app = app.clone();
        async move { s.count_audience(&app, &query).await.expect("count") }
    };
    assert_eq!(count(q(Selector::All(true))).await, 4);
    assert_eq!(count(q(Selector::PhoneType(PhoneType::Android))).await, 2);
    assert_eq!(
        count(q(region("11000000"))).await,
        2,
        "province matches its cities"
    );
    assert_eq!(
        count(q(region("11020000"))).await,
        1,
        "city matches its districts"
    );
    assert_eq!(count(q(region("11020500"))).await, 1);
    assert_eq!(
        count(q(Selector::Not(Box::new(region("11000000"))))).await,
        2,
        "no region is outside every region"
    );
    assert_eq!(count(q(Selector::Tag(tag("x")))).await, 2);
    assert_eq!(count(q(Selector::Brand("unknown".into()))).await, 2);
    assert_eq!(count(q(Selector::Alias(alias("vip")))).await, 1);
    assert_eq!(count(q(Selector::Cid(vec![cid("a2"), cid("zz")]))).await, 1);
    assert_eq!(count(q(Selector::And(vec![]))).await, 4);
    assert_eq!(count(q(Selector::Or(vec![]))).await, 0);
    let both = AudienceQuery {
        selector: Selector::All(true),
        exclude_blacklisted: true,
        exclude_notification_off: true,
    };
    assert_eq!(count(both.clone()).await, 2);
    let page = s.audience_page(&app, &both, None, 1).await.expect("page");
    assert_eq!(page.len(), 1);
    let rest = s
        .audience_page(&app, &both, Some(page[0].0), 10)
        .await
        .expect("page");
    let mut all: Vec<String> = page
        .iter()
        .chain(&rest)
        .map(|(_, c)| c.to_string())
        .collect();
    all.sort();
    assert_eq!(all, vec!["i1".to_owned(), "i2".to_owned()]);
    assert!(page[0].0 < rest[0].0, "ordinal order");
}

/// Credentials, UMS configuration, and the identity graph.
pub async fn users(s: &dyn Store) {
    use roster_core::ums::{SenderKind, UmsChange, UmsField, UmsUserChanges, UmsVerb};
    use roster_core::user::{Identify, IdentityName};
    use roster_store::CredentialKind;
    let new = NewApp::new("users", NOW).expect("name");
    let app = new.credentials.app_id.clone();
    s.create_app(&new).await.expect("create");
    let c = &new.credentials;
    let cred = s
        .find_credential(&c.growth.project_id)
        .await
        .expect("find")
        .expect("growth key");
    assert_eq!(
        (cred.app.clone(), cred.kind),
        (app.clone(), CredentialKind::Growth)
    );
    assert!(cred.accepts(&c.growth.project_secret, NOW));
    assert!(!cred.accepts("wrong", NOW));
    let cred = s
        .find_credential(&c.ums.channel_key)
        .await
        .expect("find")
        .expect("channel key");
    assert_eq!(cred.kind, CredentialKind::UmsChannel);
    assert!(s.find_credential("nope").await.expect("find").is_none());
    let cfg = s.ums_config(&app).await.expect("cfg");
    assert_eq!(
        cfg.channels,
        vec![(c.ums.channel_key.clone(), c.ums.channel_code.clone())]
    );
    assert_eq!(
        cfg.senders,
        vec![(c.ums.app_sender_code.clone(), SenderKind::App)]
    );
    assert_eq!(
        cfg.grants,
        vec![(c.ums.channel_key.clone(), c.ums.app_sender_code.clone())]
    );
    s.create_ums_channel(&app, "ck2", "sec2", "code2", NOW)
        .await
        .expect("channel");
    assert_eq!(
        rule(
            s.create_ums_channel(&app, "ck3", "sec3", "code2", NOW)
                .await
        )
        .code(),
        roster_core::ErrorCode::AlreadyExists
    );
    s.create_ums_sender(&app, "oa1", SenderKind::Wechatoa)
        .await
        .expect("sender");
    s.grant_ums_sender(&app, "ck2", "oa1").await.expect("grant");
    assert_eq!(
        rule(s.grant_ums_sender(&app, "ck2", "none").await),
        Error::NotFound("sender".into())
    );
    assert!(s
        .find_credential("ck2")
        .await
        .expect("find")
        .is_some_and(|c| c.accepts("sec2", NOW)));

    let phone = IdentityName::custom("phone", true, 1).expect("name");
    s.create_identity_name(&app, &phone).await.expect("name");
    assert!(s.create_identity_name(&app, &phone).await.is_err());
    let names: Vec<String> = s
        .identity_names(&app)
        .await
        .expect("names")
        .into_iter()
        .map(|n| n.name)
        .collect();
    assert_eq!(
        names,
        ["user_id", "anonymous_id", "registration_id", "phone"]
    );

    let dev = devices(s, &app, 2).await;
    let change = |verb, field, bind: &str, values: &[&str]| UmsChange {
        verb,
        field,
        bind_id: bind.to_owned(),
        values: values.iter().map(|v| (*v).to_owned()).collect(),
    };
    let sender = c.ums.app_sender_code.as_str();
    let ops = vec![UmsUserChanges {
        userid: "u1".into(),
        changes: vec![
            change(UmsVerb::Add, UmsField::Tag, "all", &["t1", "t2"]),
            change(UmsVerb::Set, UmsField::Phone, "all", &["13800000000"]),
            change(UmsVerb::Set, UmsField::Email, "ck2", &["a@b.c"]),
            change(
                UmsVerb::Add,
                UmsField::App,
                sender,
                &[dev[0].as_str(), "not-a-device"],
            ),
            change(UmsVerb::Del, UmsField::Tag, "all", &["t1"]),
        ],
    }];
    s.ums_apply(&app, &ops, NOW).await.expect("apply");
    let uid = s
        .find_user(&app, "user_id", &val("u1"))
        .await
        .expect("find")
        .expect("u1");
    assert_eq!(
        s.find_user(&app, "registration_id", &val(dev[0].as_str()))
            .await
            .expect("find"),
        Some(uid)
    );
    assert_eq!(
        s.find_user(&app, "registration_id", &val("not-a-device"))
            .await
            .expect("find"),
        None
    );
    let u = s
        .get_users(&app, &[uid, roster_core::user::Uid::new(999_999)])
        .await
        .expect("get");
    assert_eq!(u.len(), 1);
    assert_eq!(
        u[0].contacts,
        vec![("mobile_phone".to_owned(), "13800000000".to_owned())]
    );
    let b: Vec<(&str, &str, &str)> = u[0]
        .bindings
        .iter()
        .map(|(f, b, v)| (f.as_str(), b.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        b,
        vec![
            ("app", sender, dev[0].as_str()),
            ("app", sender, "not-a-device"),
            ("email", "ck2", "a@b.c"),
            ("tag", "all", "t2")
        ]
    );
    // set replaces, and moving an app registration id links it to the new user
    let ops = vec![
        UmsUserChanges {
            userid: "u1".into(),
            changes: vec![change(
                UmsVerb::Set,
                UmsField::Phone,
                "all",
                &["13900000000"],
            )],
        },
        UmsUserChanges {
            userid: "u2".into(),
            changes: vec![change(
                UmsVerb::Set,
                UmsField::App,
                sender,
                &[dev[0].as_str()],
            )],
        },
    ];
    s.ums_apply(&app, &ops, NOW).await.expect("apply");
    let u2 = s
        .find_user(&app, "user_id", &val("u2"))
        .await
        .expect("find")
        .expect("u2");
    assert_ne!(u2, uid);
    assert_eq!(
        s.find_user(&app, "registration_id", &val(dev[0].as_str()))
            .await
            .expect("find"),
        Some(u2)
    );
    assert_eq!(
        s.get_users(&app, &[uid]).await.expect("get")[0].contacts[0].1,
        "13900000000"
    );
    // delete takes everything with it; unknown userids report false
    assert_eq!(
        s.ums_delete(&app, &[userid("u2"), userid("ghost")])
            .await
            .expect("delete"),
        vec![true, false]
    );
    assert!(s.get_users(&app, &[u2]).await.expect("get").is_empty());
    assert_eq!(
        s.find_user(&app, "registration_id", &val(dev[0].as_str()))
            .await
            .expect("find"),
        None
    );

    // Growth get-or-create; uids are never reused
    let got = s
        .register_identities(&app, "phone", &[val("p1"), val("p2"), val("p1")], NOW)
        .await
        .expect("register");
    assert_eq!(got[0], got[2]);
    assert_ne!(got[0], got[1]);
    assert!(got.iter().all(|g| *g > u2), "no uid reused after a delete");
    assert_eq!(
        s.register_identities(&app, "phone", &[val("p1")], NOW)
            .await
            .expect("again"),
        vec![got[0]]
    );

    // identify: user_id outranks anonymous_id; the anonymous id moves to the known user
    let ident = |pairs: &[(&str, &str)]| Identify {
        identities: pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
        ..Default::default()
    };
    let (anon, created) = s
        .identify_user(&app, &ident(&[("anonymous_id", "anon-1")]), NOW)
        .await
        .expect("identify");
    assert!(created);
    let mut with_props = ident(&[
        ("anonymous_id", "anon-1"),
        ("user_id", "u1"),
        ("registration_id", dev[1].as_str()),
    ]);
    with_props
        .properties
        .insert("language".into(), "zh-CN".into());
    with_props
        .contacts
        .push(("email".into(), "u1@example.com".into()));
    let (who, created) = s
        .identify_user(&app, &with_props, NOW)
        .await
        .expect("identify");
    assert_eq!((who, created), (uid, false));
    assert_eq!(
        s.find_user(&app, "anonymous_id", &val("anon-1"))
            .await
            .expect("find"),
        Some(uid)
    );
    assert_ne!(anon, uid);
    let u = &s.get_users(&app, &[uid]).await.expect("get")[0];
    assert_eq!(
        u.properties.get("language").and_then(|v| v.as_str()),
        Some("zh-CN")
    );
    assert_eq!(u.registration_ids(), vec![dev[1].as_str()]);
    assert!(u
        .contacts
        .contains(&("email".to_owned(), "u1@example.com".to_owned())));
    let e = rule(s.identify_user(&app, &ident(&[("nope", "x")]), NOW).await);
    assert_eq!(e, Error::invalid("identities.nope"));
    let e = rule(
        s.identify_user(&app, &ident(&[("registration_id", "ghost")]), NOW)
            .await,
    );
    assert_eq!(e, Error::UnknownTarget);
    // users are per app
    let other = new_app(s).await;
    assert!(s.get_users(&other, &[uid]).await.expect("get").is_empty());
}

/// Expands to one `#[tokio::test]` per suite function, each with a fresh fixture from
/// `$factory` (an `async fn() -> Fixture`).
#[macro_export]
macro_rules! store_test_suite {
    ($factory:path) => {
        $crate::store_test_suite!(@tests $factory;
            apps_roundtrip, app_lifecycle, tokens, device_upsert, device_events, aliases, tags,
            blacklist_and_badge, device_tokens, audience, users, crowd_queue, crowd_input,
            quota_settings, quota_daily, device_delete, user_delete_and_pages, tag_edit,
            segments, property_audience);
        $crate::store_test_suite!(@shared $factory;
            crowd_claims_race, quota_daily_race, quota_limiter);
    };
    (@shared $factory:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let fixture: $crate::Fixture = $factory().await;
                $crate::$name(fixture.store.clone()).await;
                drop(fixture);
            }
        )*
    };
    (@tests $factory:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let fixture: $crate::Fixture = $factory().await;
                $crate::$name(fixture.store.as_ref()).await;
                drop(fixture);
            }
        )*
    };
}
