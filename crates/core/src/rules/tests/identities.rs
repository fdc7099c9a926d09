//! The identity graph through Growth `register` and the native identify.

use serde_json::json;

use super::users::*;
use super::*;
use crate::ums::{UmsField, UmsVerb, BIND_ALL};
use crate::user::{Uid, ANONYMOUS_ID, REGISTRATION_ID, USER_ID};

// ---- Growth register ----------------------------------------------------------------------

#[test]
fn growth_register_is_get_or_create() {
    // Growth Get CUID: "you can exchange a user identifier for a CUID"; DESIGN §1:
    // "get-or-create: a new value gets a new CUID"; docs/jiguang.md: "one result per input
    // value, in input order … The same value twice gets the same CUID."
    let mut reg = Bench::new();
    let (uids, muts) = reg.ok(&register(
        USER_ID,
        &["18012345678", "18012340000", "18012345678"],
    ));
    assert_eq!(uids.len(), 3);
    assert_eq!(uids[0], uids[2]);
    assert_ne!(uids[0], uids[1]);
    assert_eq!(
        names(&muts),
        ["UserCreated", "IdentitySet", "UserCreated", "IdentitySet"]
    );
    // Known values: the same CUIDs, nothing written.
    let (again, muts) = reg.ok(&register(USER_ID, &["18012340000", "18012345678"]));
    assert_eq!((again, muts), (vec![uids[1], uids[0]], vec![]));
    let (more, muts) = reg.ok(&register(USER_ID, &["18012345678", "new"]));
    assert_eq!(more[0], uids[0]);
    assert!(more[1] > uids[1]);
    assert_eq!(names(&muts), ["UserCreated", "IdentitySet"]);
}

#[test]
fn growth_register_of_an_unknown_name_is_not_found() {
    // Growth: 40005 "User identifier does not exist"; "The user identifier name must be
    // created on the platform in advance."
    let mut reg = Bench::new();
    let err = reg.refused(&register("phone_test", &["18012345678"]));
    assert_eq!(err, Error::NotFound("identity name".into()));
    // Once created, it works.
    reg.ok(&custom("phone_test", true, 1));
    let (uids, _) = reg.ok(&register("phone_test", &["18012345678"]));
    assert_eq!(reg.holder("phone_test", "18012345678"), Some(uids[0]));
}

#[test]
fn growth_ums_and_identify_share_one_user_per_user_id() {
    // DESIGN §1: "one user written through UMS is readable through Growth (its CUID) and
    // EngageLab (its profile …)".
    let mut reg = Bench::new();
    let (uids, _) = reg.ok(&register(USER_ID, &["u1"]));
    let muts = reg.muts(&apply(vec![ums(
        "u1",
        vec![change(UmsVerb::Add, UmsField::Tag, BIND_ALL, &["t"])],
    )]));
    assert_eq!(names(&muts), ["BindingSet"], "no second user");
    assert_eq!(uid_of(&mut reg, "u1"), uids[0]);
    let (found, created) = reg.ok(&identify(&[(USER_ID, "u1")])).0;
    assert_eq!((found, created), (uids[0], false));
    let (again, _) = reg.ok(&register(USER_ID, &["u1"]));
    assert_eq!(again, uids);
}

// ---- identify --------------------------------------------------------------------------

#[test]
fn identify_creates_a_user_then_finds_it() {
    let mut reg = Bench::new();
    let ((uid, created), muts) = reg.ok(&identify(&[(USER_ID, "u1")]));
    assert!(created);
    assert_eq!(names(&muts), ["UserCreated", "IdentitySet"]);
    let ((again, created), muts) = reg.ok(&identify(&[(USER_ID, "u1")]));
    assert_eq!((again, created), (uid, false));
    assert_eq!(muts, []);
}

#[test]
fn identify_resolves_user_id_before_anonymous_id() {
    // `IdentityName::resolution_key` / DESIGN §1: `user_id` is priority 1.
    let mut reg = Bench::new();
    let a = identified(&mut reg, &[(USER_ID, "u")]);
    let b = identified(&mut reg, &[(ANONYMOUS_ID, "anon")]);
    let ((found, created), _) = reg.ok(&identify(&[(ANONYMOUS_ID, "anon"), (USER_ID, "u")]));
    assert_eq!((found, created), (a, false));
    // The anonymous id moved to the resolved user.
    assert_eq!(reg.holder(ANONYMOUS_ID, "anon"), Some(a));
    assert_eq!(reg.user(b).identity(ANONYMOUS_ID), Vec::<&str>::new());
}

#[test]
fn identify_resolves_anonymous_id_before_registration_id() {
    let mut reg = Bench::new();
    reg.register(&["dev1"]);
    let a = identified(&mut reg, &[(REGISTRATION_ID, "dev1")]);
    let b = identified(&mut reg, &[(ANONYMOUS_ID, "anon")]);
    let ((found, _), _) = reg.ok(&identify(&[
        (REGISTRATION_ID, "dev1"),
        (ANONYMOUS_ID, "anon"),
    ]));
    assert_eq!(found, b);
    assert_eq!(reg.holder(REGISTRATION_ID, "dev1"), Some(b));
    assert_eq!(reg.user(a).registration_ids(), Vec::<&str>::new());
}

#[test]
fn identify_resolves_registration_id_before_custom_names() {
    let mut reg = Bench::new();
    reg.register(&["dev1"]);
    reg.ok(&custom("email_hash", true, 1));
    let a = identified(&mut reg, &[("email_hash", "e1")]);
    let b = identified(&mut reg, &[(REGISTRATION_ID, "dev1")]);
    let ((found, _), _) = reg.ok(&identify(&[
        ("email_hash", "e1"),
        (REGISTRATION_ID, "dev1"),
    ]));
    assert_eq!(found, b);
    assert_eq!(reg.holder("email_hash", "e1"), Some(b));
    assert_ne!(a, b);
}

#[test]
fn identify_resolves_custom_names_by_priority() {
    let mut reg = Bench::new();
    reg.ok(&custom("second", true, 2));
    reg.ok(&custom("first", true, 1));
    let a = identified(&mut reg, &[("second", "v2")]);
    let b = identified(&mut reg, &[("first", "v1")]);
    let ((found, _), _) = reg.ok(&identify(&[("second", "v2"), ("first", "v1")]));
    assert_eq!(found, b);
    assert_eq!(reg.holder("second", "v2"), Some(b));
    assert_ne!(a, b);
}

#[test]
fn identify_replaces_the_value_of_a_unique_name_and_accumulates_many_valued_ones() {
    // `IdentityName::unique`: "a user has at most one value (and a value at most one
    // user)"; DESIGN §1: `registration_id` (many).
    let mut reg = Bench::new();
    reg.register(&["dev1", "dev2"]);
    let uid = identified(
        &mut reg,
        &[
            (USER_ID, "u"),
            (ANONYMOUS_ID, "x"),
            (REGISTRATION_ID, "dev1"),
        ],
    );
    let ((found, _), muts) = reg.ok(&identify(&[
        (USER_ID, "u"),
        (ANONYMOUS_ID, "y"),
        (REGISTRATION_ID, "dev2"),
    ]));
    assert_eq!(found, uid);
    assert_eq!(
        muts,
        [
            Mutation::IdentityRemoved {
                uid,
                name: ANONYMOUS_ID.into(),
                value: "x".into(),
            },
            Mutation::IdentitySet {
                uid,
                name: ANONYMOUS_ID.into(),
                value: "y".into(),
                previous: None,
            },
            Mutation::IdentitySet {
                uid,
                name: REGISTRATION_ID.into(),
                value: "dev2".into(),
                previous: None,
            },
        ]
    );
    let user = reg.user(uid);
    assert_eq!(user.identity(ANONYMOUS_ID), ["y"]);
    assert_eq!(user.registration_ids(), ["dev1", "dev2"]);
    assert_eq!(reg.holder(ANONYMOUS_ID, "x"), None);
}

#[test]
fn identify_with_an_unknown_identity_name_is_invalid() {
    let mut reg = Bench::new();
    reg.ok(&identify(&[(USER_ID, "u")]));
    let err = reg.refused(&identify(&[(USER_ID, "u"), ("nope", "v")]));
    assert_eq!(err, Error::invalid("identities.nope"));
    let err = reg.refused(&identify(&[("nope", "v")]));
    assert_eq!(err, Error::invalid("identities.nope"));
}

#[test]
fn identify_with_the_registration_id_of_no_device_of_the_app_is_unknown_target() {
    // DESIGN §1: a device's cid is its `registration_id`; a cid of another app is not a
    // device of this one.
    let mut reg = Bench::new();
    reg.foreign_device("app2", "theirs");
    for value in ["ghost", "theirs", "not a cid"] {
        let err = reg.refused(&identify(&[(USER_ID, "u"), (REGISTRATION_ID, value)]));
        assert_eq!(err, Error::UnknownTarget, "{value}");
    }
    assert_eq!(reg.holder(USER_ID, "u"), None);
}

#[test]
fn identify_merges_properties_and_sets_contacts() {
    // EngageLab profile returns `user_properties` and `contacts` ("email", "mobile_phone",
    // "landline_phone", "whatsapp_phone").
    let mut reg = Bench::new();
    let mut first = identify(&[(USER_ID, "u")]);
    first.identify.properties = object(json!({"language": "zh-CN", "plan": "free"}));
    first.identify.contacts = vec![("email".into(), "a@example.com".into())];
    let ((uid, _), _) = reg.ok(&first);
    let mut second = identify(&[(USER_ID, "u")]);
    second.identify.properties = object(json!({"plan": "pro", "age": 30}));
    second.identify.contacts = vec![
        ("email".into(), "b@example.com".into()),
        ("whatsapp_phone".into(), "+8613800000000".into()),
    ];
    let muts = reg.muts(&second);
    assert_eq!(
        names(&muts),
        ["UserPropertiesSet", "ContactSet", "ContactSet"]
    );
    let user = reg.user(uid);
    assert_eq!(
        Value::Object(user.properties.clone()),
        json!({"language": "zh-CN", "plan": "pro", "age": 30})
    );
    assert_eq!(
        user.contacts,
        [
            ("email".to_owned(), "b@example.com".to_owned()),
            ("whatsapp_phone".to_owned(), "+8613800000000".to_owned()),
        ]
    );
    // The same again changes nothing.
    assert_eq!(reg.muts(&second), []);
}

#[test]
fn uids_are_never_reused_after_deletion() {
    // DESIGN §1: "uid is a positive i64 that never changes and is never reused".
    let mut reg = Bench::new();
    let first = identified(&mut reg, &[(USER_ID, "u")]);
    assert!(first > Uid::new(0));
    reg.ok(&delete(&["u"]));
    let ((second, created), _) = reg.ok(&identify(&[(USER_ID, "u")]));
    assert!(created);
    assert!(second > first);
    let (uids, _) = reg.ok(&register(USER_ID, &["other"]));
    assert!(uids[0] > second);
}

#[test]
fn identify_takes_a_device_from_a_deleted_user_as_new() {
    let mut reg = Bench::new();
    reg.register(&["dev1"]);
    link(&mut reg, "u1", "dev1");
    let old = uid_of(&mut reg, "u1");
    reg.ok(&delete(&["u1"]));
    let ((uid, created), _) = reg.ok(&identify(&[(REGISTRATION_ID, "dev1")]));
    assert!(created && uid > old);
}

// ---- suspected bugs -------------------------------------------------------------------

#[test]
#[ignore = "BUG: identify resolving through a device renames that device's user to a different user_id instead of keeping the user_id's own user"]
fn identify_never_renames_a_user_who_has_another_user_id() {
    // Growth Get CUID: "create a user identifier for your own system … and enable
    // uniqueness to establish a one-to-one mapping with CUID"; DESIGN §1: the uid "never
    // changes"; UMS (same graph) with userid "new" and app [d] makes a new user and moves
    // the device to it (docs/jiguang.md "moving it from any other user").
    let mut reg = Bench::new();
    reg.register(&["d"]);
    let old = identified(&mut reg, &[(USER_ID, "old"), (REGISTRATION_ID, "d")]);
    let ((uid, created), _) = reg.ok(&identify(&[(USER_ID, "new"), (REGISTRATION_ID, "d")]));
    // "old" keeps its CUID, "new" gets its own.
    assert_eq!(reg.holder(USER_ID, "old"), Some(old));
    let (uids, _) = reg.ok(&register(USER_ID, &["old"]));
    assert_eq!(uids, [old]);
    assert!(created && uid != old);
    // The device follows the user_id, as through UMS.
    assert_eq!(reg.holder(REGISTRATION_ID, "d"), Some(uid));
}
