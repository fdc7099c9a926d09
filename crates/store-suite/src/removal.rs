//! Deleting devices and users, editing tags, and paging users: the native API's
//! browsing and removal, on every backend.

use roster_core::ums::{UmsChange, UmsField, UmsUserChanges, UmsVerb};
use roster_core::user::{Identify, Uid};
use roster_core::{AudienceQuery, DeviceEvent, DeviceUpsert, Error, NewApp, Selector};
use roster_store::Store;

use crate::{alias, android, cid, rule, tag, val, NOW};

fn all() -> AudienceQuery {
    AudienceQuery {
        selector: Selector::All(true),
        exclude_blacklisted: false,
        exclude_notification_off: false,
    }
}

fn by_tag(t: &str) -> AudienceQuery {
    AudienceQuery {
        selector: Selector::Tag(tag(t)),
        ..all()
    }
}

fn named(c: &str) -> DeviceUpsert {
    DeviceUpsert {
        cid: Some(cid(c)),
        ..android()
    }
}

/// A deleted device leaves its alias, tags, user and every audience; the cid can
/// register again as a new device with a new ordinal, and nothing of the old one.
pub async fn device_delete(s: &dyn Store) {
    let new = NewApp::new("delete", NOW).expect("name");
    let app = new.credentials.app_id.clone();
    s.create_app(&new).await.expect("create");
    let ups = [named("d1"), named("d2"), named("d3")];
    s.upsert_devices(&app, &ups, NOW).await.expect("upsert");
    let (d1, d2) = (cid("d1"), cid("d2"));
    s.replace_tags(&app, &d1, &[tag("t1"), tag("t2")])
        .await
        .expect("tags");
    s.bind_aliases(
        &app,
        &[(d1.clone(), alias("al")), (d2.clone(), alias("al"))],
    )
    .await
    .expect("alias");
    s.set_blacklisted(&app, std::slice::from_ref(&d1), true)
        .await
        .expect("blacklist");
    s.record_device_event(&app, &d1, DeviceEvent::Login, NOW - 5 * crate::DAY)
        .await
        .expect("login");
    let before = s
        .get_devices(&app, std::slice::from_ref(&d1), NOW)
        .await
        .expect("get");
    assert_eq!(before[0].login_freq, 2);
    s.record_open(&app, &d1, "hello", NOW).await.expect("open");
    let sender = new.credentials.ums.app_sender_code.clone();
    let bind = UmsUserChanges {
        userid: "u1".into(),
        changes: vec![UmsChange {
            verb: UmsVerb::Add,
            field: UmsField::App,
            bind_id: sender.clone(),
            values: vec!["d1".into(), "d2".into()],
        }],
    };
    s.ums_apply(&app, &[bind], NOW).await.expect("ums");
    let mut native = Identify::default();
    native
        .identities
        .push(("registration_id".into(), "d3".into()));
    let (u3, _) = s.identify_user(&app, &native, NOW).await.expect("identify");
    let u1 = s
        .find_user(&app, "user_id", &val("u1"))
        .await
        .expect("find")
        .expect("u1");
    let page = s.audience_page(&app, &all(), None, 10).await.expect("page");
    let d1_ord = page.iter().find(|(_, c)| *c == d1).expect("d1 listed").0;

    s.delete_device(&app, &d1).await.expect("delete");
    assert!(s
        .get_devices(&app, std::slice::from_ref(&d1), NOW)
        .await
        .expect("get")
        .is_empty());
    assert_eq!(rule(s.tags_of(&app, &d1).await), Error::UnknownTarget);
    assert_eq!(
        s.cids_of_alias(&app, &alias("al")).await.expect("alias"),
        vec![d2.clone()]
    );
    assert_eq!(s.count_audience(&app, &all()).await.expect("count"), 2);
    assert_eq!(
        s.count_audience(&app, &by_tag("t1")).await.expect("count"),
        0
    );
    let blacklisted = AudienceQuery {
        exclude_blacklisted: true,
        ..all()
    };
    assert_eq!(
        s.count_audience(&app, &blacklisted).await.expect("count"),
        2
    );
    let u = s.get_users(&app, &[u1]).await.expect("users").remove(0);
    assert_eq!(u.registration_ids(), vec!["d2"]);
    assert_eq!(
        u.bindings,
        vec![("app".to_owned(), sender.clone(), "d2".to_owned())]
    );
    assert_eq!(
        s.find_user(&app, "registration_id", &val("d1"))
            .await
            .expect("find"),
        None
    );
    // only d1 left its user
    s.delete_device(&app, &cid("d3")).await.expect("delete d3");
    let u = s.get_users(&app, &[u3]).await.expect("users");
    assert_eq!(u.len(), 1, "the user stays");
    assert!(u[0].registration_ids().is_empty());
    assert_eq!(rule(s.delete_device(&app, &d1).await), Error::UnknownTarget);
    assert_eq!(
        rule(s.delete_device(&app, &cid("ghost")).await),
        Error::UnknownTarget
    );

    // registered again: a new device, nothing of the old one
    s.upsert_devices(&app, &[named("d1")], NOW + 1)
        .await
        .expect("again");
    let d = s
        .get_devices(&app, std::slice::from_ref(&d1), NOW + 1)
        .await
        .expect("get")
        .remove(0);
    assert!(d.tags.is_empty() && d.alias.is_none() && !d.blacklisted);
    // its registration day only: the old device's login days went with it
    assert_eq!((d.login_freq, d.create_time), (1, NOW + 1));
    let page = s.audience_page(&app, &all(), None, 10).await.expect("page");
    let again = page.iter().find(|(_, c)| *c == d1).expect("listed").0;
    assert!(again > d1_ord, "ordinal {again} reused");
    assert_eq!(page.len(), 2);
    assert_eq!(s.count_audience(&app, &all()).await.expect("count"), 2);
    assert_eq!(
        s.find_user(&app, "registration_id", &val("d1"))
            .await
            .expect("find"),
        None
    );
}

/// Users page in uid order; a deleted user goes with its identities, and its uid is
/// not listed again.
pub async fn user_delete_and_pages(s: &dyn Store) {
    let new = NewApp::new("users", NOW).expect("name");
    let app = new.credentials.app_id.clone();
    s.create_app(&new).await.expect("create");
    let values: Vec<_> = (0..5).map(|i| val(&format!("a{i}"))).collect();
    let uids = s
        .register_identities(&app, "anonymous_id", &values, NOW)
        .await
        .expect("register");
    let other = crate::new_app(s).await;
    s.register_identities(&other, "anonymous_id", &values[..2], NOW)
        .await
        .expect("other app");
    let mut seen: Vec<Uid> = Vec::new();
    let mut after = None;
    loop {
        let page = s.user_page(&app, after, 2).await.expect("page");
        seen.extend(page.iter().map(|u| u.uid));
        match page.last() {
            Some(u) if page.len() == 2 => after = Some(u.uid),
            _ => break,
        }
    }
    assert_eq!(seen, uids);
    assert!(s.delete_user(&app, uids[1]).await.expect("delete"));
    assert!(!s.delete_user(&app, uids[1]).await.expect("again"));
    assert!(!s.delete_user(&other, uids[2]).await.expect("other app's"));
    assert_eq!(
        s.find_user(&app, "anonymous_id", &values[1])
            .await
            .expect("find"),
        None
    );
    let page = s.user_page(&app, None, 10).await.expect("page");
    let listed: Vec<Uid> = page.iter().map(|u| u.uid).collect();
    assert_eq!(listed, [uids[0], uids[2], uids[3], uids[4]]);
    assert_eq!(
        page[0].identities,
        vec![("anonymous_id".into(), "a0".into())]
    );
    let after_last = s.user_page(&app, Some(uids[4]), 10).await.expect("page");
    assert!(after_last.is_empty());
}

/// Adding and removing tags at once is all or nothing under the hundred-tag cap.
pub async fn tag_edit(s: &dyn Store) {
    let app = crate::new_app(s).await;
    let c = crate::devices(s, &app, 1).await.remove(0);
    s.replace_tags(&app, &c, &[tag("a"), tag("b")])
        .await
        .expect("tags");
    s.edit_tags(&app, &c, &[tag("c"), tag("c")], &[tag("a"), tag("zz")])
        .await
        .expect("edit");
    assert_eq!(
        s.tags_of(&app, &c).await.expect("tags"),
        vec![tag("b"), tag("c")]
    );
    let many: Vec<_> = (0..99).map(|i| tag(&format!("m{i}"))).collect();
    let e = rule(s.edit_tags(&app, &c, &many, &[]).await);
    assert_eq!(e, Error::over_limit("custom_tag"));
    assert_eq!(
        s.tags_of(&app, &c).await.expect("tags"),
        vec![tag("b"), tag("c")],
        "nothing changed"
    );
    s.edit_tags(&app, &c, &many, &[tag("b")])
        .await
        .expect("exactly a hundred");
    assert_eq!(s.tags_of(&app, &c).await.expect("tags").len(), 100);
    assert_eq!(
        rule(s.edit_tags(&app, &cid("ghost"), &[tag("x")], &[]).await),
        Error::UnknownTarget
    );
}
