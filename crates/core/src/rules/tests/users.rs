//! The identity graph through UMS (`/v1/user/opt`, `/v1/user/delete`), and the helpers
//! the identity tests share.

use super::*;
use crate::rules::reads::GetUmsConfig;
use crate::rules::{
    CreateIdentityName, DeleteUmsUsers, IdentifyUser, RegisterIdentities, UmsApply,
};
use crate::ums::{UmsChange, UmsField, UmsUserChanges, UmsVerb, BIND_ALL};
use crate::user::{Identify, IdentityName, REGISTRATION_ID, USER_ID};

pub(super) fn change(verb: UmsVerb, field: UmsField, bind_id: &str, values: &[&str]) -> UmsChange {
    UmsChange {
        verb,
        field,
        bind_id: bind_id.into(),
        values: values.iter().map(|v| (*v).to_owned()).collect(),
    }
}

pub(super) fn ums(userid: &str, changes: Vec<UmsChange>) -> UmsUserChanges {
    UmsUserChanges {
        userid: userid.into(),
        changes,
    }
}

pub(super) fn apply(users: Vec<UmsUserChanges>) -> UmsApply {
    UmsApply { users, now: NOW }
}

pub(super) fn delete(userids: &[&str]) -> DeleteUmsUsers {
    DeleteUmsUsers {
        userids: userids.iter().map(|u| (*u).to_owned()).collect(),
    }
}

pub(super) fn register(name: &str, values: &[&str]) -> RegisterIdentities {
    RegisterIdentities {
        name: name.into(),
        values: values.iter().map(|v| (*v).to_owned()).collect(),
        now: NOW,
    }
}

pub(super) fn identify(ids: &[(&str, &str)]) -> IdentifyUser {
    IdentifyUser {
        identify: Identify {
            identities: ids
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            ..Default::default()
        },
        now: NOW,
    }
}

pub(super) fn custom(name: &str, unique: bool, priority: u32) -> CreateIdentityName {
    CreateIdentityName {
        name: IdentityName::custom(name, unique, priority).expect("identity name"),
    }
}

/// The default APP sender code of the app.
pub(super) fn app_sender(reg: &mut Bench) -> String {
    reg.read(&GetUmsConfig).senders[0].0.clone()
}

/// Applies one UMS user's changes, which must be accepted.
pub(super) fn opt(reg: &mut Bench, userid: &str, changes: Vec<UmsChange>) {
    reg.ok(&apply(vec![ums(userid, changes)]));
}

/// Links a device to a UMS user (created if new) through the app's APP sender.
pub(super) fn link(reg: &mut Bench, userid: &str, cid: &str) {
    let s = app_sender(reg);
    let linked = change(UmsVerb::Add, UmsField::App, &s, &[cid]);
    opt(reg, userid, vec![linked]);
}

/// The values of (field, bind id) of a user's bindings.
pub(super) fn bound(user: &User, field: UmsField, bind_id: &str) -> Vec<String> {
    user.bindings
        .iter()
        .filter(|(f, b, _)| f == field.as_str() && b == bind_id)
        .map(|(_, _, v)| v.clone())
        .collect()
}

pub(super) fn uid_of(reg: &mut Bench, userid: &str) -> Uid {
    reg.holder(USER_ID, userid).expect("user exists")
}

pub(super) fn identified(reg: &mut Bench, ids: &[(&str, &str)]) -> Uid {
    reg.ok(&identify(ids)).0 .0
}

// ---- UMS opt ---------------------------------------------------------------------------

#[test]
fn ums_creates_a_user_once_per_userid() {
    // UMS /v1/user/opt: "Support the batch to add and update user information if userid
    // Exists, updates, if none, adds"; DESIGN §1: "A UMS userid is the identity user_id".
    let mut reg = Bench::new();
    let tag_a = change(UmsVerb::Add, UmsField::Tag, BIND_ALL, &["a"]);
    let tag_b = change(UmsVerb::Add, UmsField::Tag, BIND_ALL, &["b"]);
    let muts = reg.muts(&apply(vec![
        ums("u1", vec![tag_a.clone()]),
        ums("u1", vec![tag_b]),
    ]));
    assert_eq!(
        names(&muts),
        ["UserCreated", "IdentitySet", "BindingSet", "BindingSet"]
    );
    let uid = uid_of(&mut reg, "u1");
    let user = reg.user(uid);
    assert_eq!(user.identity(USER_ID), ["u1"]);
    assert_eq!(bound(&user, UmsField::Tag, BIND_ALL), ["a", "b"]);
    // A later request updates the same user.
    let muts = reg.muts(&apply(vec![ums(
        "u1",
        vec![change(UmsVerb::Add, UmsField::Tag, BIND_ALL, &["c"])],
    )]));
    assert_eq!(names(&muts), ["BindingSet"]);
    assert_eq!(uid_of(&mut reg, "u1"), uid);
    // A user with no changes is still created (and found).
    reg.ok(&apply(vec![ums("u2", vec![])]));
    assert_ne!(uid_of(&mut reg, "u2"), uid);
    // Writing what is there already changes nothing.
    assert_eq!(reg.muts(&apply(vec![ums("u1", vec![tag_a])])), []);
}

#[test]
fn ums_set_replaces_the_values_under_its_bind_id_only() {
    // UMS: `set` "Set up or overwrite"; docs/jiguang.md: "`set` replaces the values under
    // that bind id (values not named are removed)".
    let mut reg = Bench::new();
    opt(
        &mut reg,
        "u1",
        vec![
            change(UmsVerb::Add, UmsField::Tag, BIND_ALL, &["a", "b"]),
            change(UmsVerb::Add, UmsField::Tag, "channel_key_1", &["k"]),
        ],
    );
    let muts = reg.muts(&apply(vec![ums(
        "u1",
        vec![change(UmsVerb::Set, UmsField::Tag, BIND_ALL, &["b", "c"])],
    )]));
    assert_eq!(names(&muts), ["BindingRemoved", "BindingSet"]);
    let uid = uid_of(&mut reg, "u1");
    let user = reg.user(uid);
    assert_eq!(bound(&user, UmsField::Tag, BIND_ALL), ["b", "c"]);
    assert_eq!(bound(&user, UmsField::Tag, "channel_key_1"), ["k"]);
    // A single-valued field under a channel key: set replaces the one value.
    for openid in ["open1", "open2"] {
        let set = change(UmsVerb::Set, UmsField::Wechatoa, "oa_sender", &[openid]);
        opt(&mut reg, "u1", vec![set]);
    }
    let user = reg.user(uid);
    assert_eq!(bound(&user, UmsField::Wechatoa, "oa_sender"), ["open2"]);
}

#[test]
fn ums_applies_set_then_add_then_del_whatever_the_input_order() {
    // docs/jiguang.md: "Within one user, `set` applies first, then `add`, then `del`";
    // `UmsVerb::Set`: "(applied first)", `Del`: "(applied last)".
    let mut reg = Bench::new();
    opt(
        &mut reg,
        "u1",
        vec![
            change(UmsVerb::Del, UmsField::Tag, BIND_ALL, &["x"]),
            change(UmsVerb::Add, UmsField::Tag, BIND_ALL, &["z", "x"]),
            change(UmsVerb::Set, UmsField::Tag, BIND_ALL, &["y"]),
        ],
    );
    // In input order it would have been [y]; set, add, del gives [y, z].
    let uid = uid_of(&mut reg, "u1");
    assert_eq!(bound(&reg.user(uid), UmsField::Tag, BIND_ALL), ["y", "z"]);
}

#[test]
fn ums_phone_and_email_under_all_are_the_users_contacts() {
    // UMS: phone "only one under the same correlation mark is allowed"; docs/jiguang.md:
    // "`phone` and `email` under bind id `all` are the user's contacts `mobile_phone` and
    // `email` …; under a channel key they are channel bindings".
    let mut reg = Bench::new();
    opt(
        &mut reg,
        "u1",
        vec![
            change(UmsVerb::Set, UmsField::Phone, BIND_ALL, &["13800000000"]),
            change(UmsVerb::Set, UmsField::Email, BIND_ALL, &["a@example.com"]),
            change(
                UmsVerb::Set,
                UmsField::Phone,
                "channel_key_1",
                &["13900000000"],
            ),
        ],
    );
    let uid = uid_of(&mut reg, "u1");
    let user = reg.user(uid);
    assert_eq!(
        user.contacts,
        [
            ("email".to_owned(), "a@example.com".to_owned()),
            ("mobile_phone".to_owned(), "13800000000".to_owned()),
        ]
    );
    assert_eq!(
        bound(&user, UmsField::Phone, BIND_ALL),
        Vec::<String>::new()
    );
    assert_eq!(
        bound(&user, UmsField::Phone, "channel_key_1"),
        ["13900000000"]
    );
    // set replaces the one contact.
    opt(
        &mut reg,
        "u1",
        vec![change(
            UmsVerb::Set,
            UmsField::Phone,
            BIND_ALL,
            &["13811111111"],
        )],
    );
    let user = reg.user(uid);
    assert!(user
        .contacts
        .contains(&("mobile_phone".to_owned(), "13811111111".to_owned())));
    assert_eq!(user.contacts.len(), 2);
    // del of another value leaves it; del of the value removes it.
    let del = |v: &str| {
        apply(vec![ums(
            "u1",
            vec![change(UmsVerb::Del, UmsField::Phone, BIND_ALL, &[v])],
        )])
    };
    assert_eq!(reg.muts(&del("13800000000")), []);
    assert_eq!(
        reg.muts(&del("13811111111")),
        [Mutation::ContactRemoved {
            uid,
            kind: "mobile_phone".into(),
        }]
    );
    assert_eq!(
        reg.user(uid).contacts,
        [("email".to_owned(), "a@example.com".to_owned())]
    );
}

#[test]
fn ums_app_registration_ids_link_devices_of_the_app_only() {
    // DESIGN §1: "A Getui cid, an EngageLab registration_id and a UMS app registration id
    // are the same device id"; docs/jiguang.md: "one that is not a device is kept as a
    // binding only".
    let mut reg = Bench::new();
    reg.register(&["dev1"]);
    reg.foreign_device("app2", "theirs");
    let s = app_sender(&mut reg);
    opt(
        &mut reg,
        "u1",
        vec![change(
            UmsVerb::Add,
            UmsField::App,
            &s,
            &["dev1", "not-a-device", "theirs"],
        )],
    );
    let uid = uid_of(&mut reg, "u1");
    let user = reg.user(uid);
    assert_eq!(
        bound(&user, UmsField::App, &s),
        ["dev1", "not-a-device", "theirs"]
    );
    assert_eq!(user.registration_ids(), ["dev1"]);
    assert_eq!(reg.holder(REGISTRATION_ID, "dev1"), Some(uid));
    assert_eq!(reg.holder(REGISTRATION_ID, "not-a-device"), None);
    assert_eq!(reg.holder(REGISTRATION_ID, "theirs"), None);
}

#[test]
fn ums_app_registration_id_moves_the_device_between_users() {
    // docs/jiguang.md: an app registration id that is a cid of the app "links that device
    // to the user (moving it from any other user) … Removing it unlinks the device."
    let mut reg = Bench::new();
    reg.register(&["dev1", "dev2"]);
    let s = app_sender(&mut reg);
    let add = |u: &str, v: &[&str]| ums(u, vec![change(UmsVerb::Add, UmsField::App, &s, v)]);
    reg.ok(&apply(vec![add("u1", &["dev1", "dev2"])]));
    let u1 = uid_of(&mut reg, "u1");
    let muts = reg.muts(&apply(vec![add("u2", &["dev1"])]));
    let u2 = uid_of(&mut reg, "u2");
    assert!(muts.contains(&Mutation::IdentitySet {
        uid: u2,
        name: REGISTRATION_ID.into(),
        value: "dev1".into(),
        previous: Some(u1),
    }));
    assert_eq!(reg.holder(REGISTRATION_ID, "dev1"), Some(u2));
    assert_eq!(reg.user(u1).registration_ids(), ["dev2"]);
    assert_eq!(reg.user(u2).registration_ids(), ["dev1"]);
    // del unlinks.
    opt(
        &mut reg,
        "u2",
        vec![change(UmsVerb::Del, UmsField::App, &s, &["dev1"])],
    );
    assert_eq!(reg.holder(REGISTRATION_ID, "dev1"), None);
    let user2 = reg.user(u2);
    assert_eq!(user2.registration_ids(), Vec::<&str>::new());
    assert_eq!(bound(&user2, UmsField::App, &s), Vec::<String>::new());
    // set replaces: dev2 leaves, dev1 joins.
    opt(
        &mut reg,
        "u1",
        vec![change(UmsVerb::Set, UmsField::App, &s, &["dev1"])],
    );
    let user1 = reg.user(u1);
    assert_eq!(user1.registration_ids(), ["dev1"]);
    assert_eq!(bound(&user1, UmsField::App, &s), ["dev1"]);
    assert_eq!(reg.holder(REGISTRATION_ID, "dev2"), None);
}

// ---- UMS delete ------------------------------------------------------------------------

#[test]
fn ums_delete_reports_each_userid_and_frees_what_it_held() {
    // UMS /v1/user/delete: "remove the user's only ID and all information that it binds";
    // docs/jiguang.md: "an unknown userid is listed in fail"; "A deleted user's
    // identities, contacts, bindings and device links go with it".
    let mut reg = Bench::new();
    reg.register(&["dev1"]);
    let s = app_sender(&mut reg);
    opt(
        &mut reg,
        "u1",
        vec![
            change(UmsVerb::Add, UmsField::App, &s, &["dev1"]),
            change(UmsVerb::Set, UmsField::Email, BIND_ALL, &["a@example.com"]),
        ],
    );
    reg.ok(&apply(vec![ums("u2", vec![])]));
    let (u1, u2) = (uid_of(&mut reg, "u1"), uid_of(&mut reg, "u2"));
    let (existed, muts) = reg.ok(&delete(&["u1", "nobody", "u1"]));
    assert_eq!(existed, [true, false, false]);
    assert_eq!(muts, [Mutation::UserDeleted { uid: u1 }]);
    assert!(!reg.user_exists(u1));
    assert!(reg.user_exists(u2));
    assert_eq!(reg.holder(USER_ID, "u1"), None);
    assert_eq!(reg.holder(REGISTRATION_ID, "dev1"), None);
    // The device itself stays: only its link went.
    assert_eq!(reg.device("dev1").cid, cid("dev1"));
    // Nothing to delete: nothing emitted.
    let (existed, muts) = reg.ok(&delete(&["u1"]));
    assert_eq!((existed, muts), (vec![false], vec![]));
}

#[test]
fn a_deleted_userid_written_again_is_a_new_user_with_a_new_uid() {
    // docs/jiguang.md: "its uid is never reused, so a later write of the same userid makes
    // a new user with a new CUID"; DESIGN §1: uid "never changes and is never reused".
    let mut reg = Bench::new();
    reg.ok(&apply(vec![ums("u1", vec![])]));
    let old = uid_of(&mut reg, "u1");
    reg.ok(&delete(&["u1"]));
    let muts = reg.muts(&apply(vec![ums("u1", vec![])]));
    let new = uid_of(&mut reg, "u1");
    assert!(new > old, "{new} after {old}");
    assert_eq!(
        muts[0],
        Mutation::UserCreated {
            uid: new,
            created_at: NOW
        }
    );
    // Across apps too: a uid is one user of one app.
    reg.create_app("app2");
    let (uids, _) = reg.run_in("app2", &register(USER_ID, &["u1"]));
    assert!(uids[0] > new);
}
