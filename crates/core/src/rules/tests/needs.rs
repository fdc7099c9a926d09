//! `needs` staging, checked on a [`State`] directly: what a backend is asked to load,
//! stage by stage, and that a rule never decides on facts it did not ask for.

use std::collections::BTreeSet;

use super::*;
use crate::rules::reads::AliasOf;
use crate::rules::{
    plan, BindDeviceTokens, DtBinding, DtFailure, IdentifyUser, Needs, SetBlacklisted, UmsApply,
    UnbindAlias,
};
use crate::ums::{UmsChange, UmsField, UmsUserChanges, UmsVerb};
use crate::user::{Identify, IdentityName, REGISTRATION_ID, USER_ID};
use crate::DtType;

fn set<T: Ord + Clone>(items: &[T]) -> BTreeSet<T> {
    items.iter().cloned().collect()
}

fn key(name: &str, value: &str) -> (String, String) {
    (name.to_owned(), value.to_owned())
}

fn stored(c: &str, ordinal: u32) -> Option<StoredDevice> {
    let mut reg = Bench::new();
    reg.register(&[c]);
    let mut d = reg.stored(c);
    d.ordinal = ordinal;
    Some(d)
}

fn user(uid: Uid, bindings: &[(&str, &str, &str)]) -> Option<User> {
    Some(User {
        uid,
        identities: vec![key(USER_ID, &format!("u{uid}"))],
        properties: Map::new(),
        contacts: Vec::new(),
        bindings: bindings
            .iter()
            .map(|(f, b, v)| ((*f).to_owned(), (*b).to_owned(), (*v).to_owned()))
            .collect(),
    })
}

#[test]
fn upsert_asks_for_the_app_and_the_given_cids_only() {
    let rule = UpsertDevices {
        devices: vec![
            android("a"),
            DeviceUpsert {
                phone_type: Some(PhoneType::Ios),
                ..Default::default()
            },
        ],
        now: NOW,
    };
    let needs = rule.needs(&State::default());
    assert_eq!(
        needs,
        Needs {
            app: true,
            devices: set(&[cid("a")]),
            login_days: set(&[cid("a")]),
            ..Needs::default()
        }
    );
}

#[test]
fn bind_dt_looks_for_other_apps_only_after_its_own() {
    // Getui bind_dt 24002 / 24003: a cid absent from the app is looked up elsewhere to
    // tell "cid不存在" from "cid和appId不匹配".
    let rule = BindDeviceTokens {
        kind: DtType::Wx,
        entries: ["", "a", "b", "x,y"]
            .into_iter()
            .map(|c| DtBinding {
                cid: c.into(),
                device_token: Some("t".into()),
            })
            .collect(),
    };
    let mut state = with_app();
    let needs = rule.needs(&state);
    assert_eq!(
        needs,
        Needs {
            devices: set(&[cid("a"), cid("b")]),
            ..Needs::default()
        },
        "unparsable and empty cids are not looked up"
    );
    state.devices.insert(cid("a"), stored("a", 0));
    state.devices.insert(cid("b"), None);
    let needs = rule.needs(&state);
    assert_eq!(
        needs,
        Needs {
            foreign: set(&["b".to_owned()]),
            ..Needs::default()
        }
    );
    state.foreign.insert("b".into(), true);
    assert!(rule.needs(&state).is_empty());
    let done = plan(&rule, &mut state).expect("plan");
    assert_eq!(
        done.outcome,
        [
            (0, DtFailure::EmptyCid),
            (1, DtFailure::NotMiniProgram),
            (2, DtFailure::OtherApp),
            (3, DtFailure::UnknownCid),
        ]
    );
}

#[test]
fn unbind_alias_asks_for_the_members_then_their_devices() {
    let rule = UnbindAlias { alias: alias("al") };
    let mut state = State::default();
    assert_eq!(
        rule.needs(&state),
        Needs {
            alias_members: set(&[alias("al")]),
            ..Needs::default()
        }
    );
    state
        .alias_members
        .insert(alias("al"), vec![cid("a"), cid("b")]);
    assert_eq!(
        rule.needs(&state),
        Needs {
            devices: set(&[cid("a"), cid("b")]),
            ..Needs::default()
        }
    );
}

#[test]
fn ums_apply_asks_for_holders_then_users_then_what_a_set_may_drop() {
    // UMS: "if userid Exists, updates, if none, adds": the userid's holder is looked up
    // first, then the user, then the registration ids a `set` may unlink.
    let rule = UmsApply {
        users: vec![
            UmsUserChanges {
                userid: "u7".into(),
                changes: vec![UmsChange {
                    verb: UmsVerb::Set,
                    field: UmsField::App,
                    bind_id: "S".into(),
                    values: vec!["dev1".into()],
                }],
            },
            UmsUserChanges {
                userid: "fresh".into(),
                changes: vec![],
            },
        ],
        now: NOW,
    };
    let mut state = with_app();
    assert_eq!(
        rule.needs(&state),
        Needs {
            identities: set(&[
                key(USER_ID, "u7"),
                key(USER_ID, "fresh"),
                key(REGISTRATION_ID, "dev1")
            ]),
            devices: set(&[cid("dev1")]),
            ..Needs::default()
        }
    );
    state
        .identities
        .insert(key(USER_ID, "u7"), Some(Uid::new(7)));
    state.identities.insert(key(USER_ID, "fresh"), None);
    state.identities.insert(key(REGISTRATION_ID, "dev1"), None);
    state.devices.insert(cid("dev1"), stored("dev1", 0));
    assert_eq!(
        rule.needs(&state),
        Needs {
            users: set(&[Uid::new(7)]),
            ..Needs::default()
        }
    );
    state.users.insert(
        Uid::new(7),
        user(Uid::new(7), &[("app", "S", "old"), ("tag", "all", "t")]),
    );
    assert_eq!(
        rule.needs(&state),
        Needs {
            identities: set(&[key(REGISTRATION_ID, "old")]),
            next_uid: true,
            ..Needs::default()
        }
    );
    state
        .identities
        .insert(key(REGISTRATION_ID, "old"), Some(Uid::new(7)));
    state.next_uid = Some(Uid::new(100));
    assert!(rule.needs(&state).is_empty());
    let done = plan(&rule, &mut state).expect("plan");
    assert_eq!(
        names(&done.mutations),
        [
            "BindingRemoved",
            "IdentityRemoved",
            "BindingSet",
            "IdentitySet",
            "UserCreated",
            "IdentitySet"
        ]
    );
    assert_eq!(state.next_uid, Some(Uid::new(101)));
}

#[test]
fn identify_asks_for_a_new_uid_only_when_no_identity_is_held() {
    let rule = IdentifyUser {
        identify: Identify {
            identities: vec![key(USER_ID, "u"), key(REGISTRATION_ID, "dev1")],
            ..Default::default()
        },
        now: NOW,
    };
    let mut state = State::default();
    assert_eq!(
        rule.needs(&state),
        Needs {
            identity_names: true,
            devices: set(&[cid("dev1")]),
            identities: set(&[key(USER_ID, "u"), key(REGISTRATION_ID, "dev1")]),
            ..Needs::default()
        }
    );
    state.identity_names = Some(IdentityName::builtins().into());
    state.devices.insert(cid("dev1"), stored("dev1", 0));
    state.identities.insert(key(USER_ID, "u"), None);
    state.identities.insert(key(REGISTRATION_ID, "dev1"), None);
    assert_eq!(
        rule.needs(&state),
        Needs {
            next_uid: true,
            ..Needs::default()
        }
    );
    // Held: the holder is loaded instead.
    state
        .identities
        .insert(key(REGISTRATION_ID, "dev1"), Some(Uid::new(3)));
    assert_eq!(
        rule.needs(&state),
        Needs {
            users: set(&[Uid::new(3)]),
            ..Needs::default()
        }
    );
}

#[test]
fn a_rule_never_mistakes_an_unloaded_fact_for_an_absent_one() {
    // "Loaded, and absent" is `Some(None)`; not loaded at all is a bug of the caller,
    // reported as internal rather than as "target user is invalid".
    let mut empty = State::default();
    let err = plan(&AliasOf { cid: cid("a") }, &mut empty).expect_err("not loaded");
    assert!(matches!(err, Error::Internal(_)), "{err:?}");
    let err = plan(
        &SetBlacklisted {
            cids: vec![cid("a")],
            on: true,
        },
        &mut empty,
    )
    .expect_err("not loaded");
    assert!(matches!(err, Error::Internal(_)), "{err:?}");
    let mut absent = State::default();
    absent.devices.insert(cid("a"), None);
    let err = plan(&AliasOf { cid: cid("a") }, &mut absent).expect_err("absent");
    assert_eq!(err, Error::UnknownTarget);
}

/// A state whose app is loaded and exists, as the engine leaves it before a write.
fn with_app() -> State {
    State {
        app: Some(Some(crate::rules::AppFacts {
            next_ordinal: 0,
            enabled_dt_types: Vec::new(),
            seq: 0,
        })),
        ..State::default()
    }
}
