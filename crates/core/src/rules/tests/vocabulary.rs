//! The mutation vocabulary as a log sees it: a command that changes nothing emits no
//! mutation (one sequence number is logged per changing write), the mutations of a
//! command are the whole change, and a refused command leaves the registry as it was.

use serde_json::json;

use super::*;
use crate::rules::reads::GetUmsConfig;
use crate::rules::{
    AddTag, ApplyBadge, BindAliases, BindDeviceTokens, DeleteUmsUsers, DtBinding, GrantUmsSender,
    IdentifyUser, RecordDeviceEvent, RegisterIdentities, RemoveTag, ReplaceTags, SetBlacklisted,
    SetDtTypes, UmsApply, UnbindAlias, UnbindAliases,
};
use crate::ums::{UmsChange, UmsField, UmsUserChanges, UmsVerb, BIND_ALL};
use crate::user::{Identify, REGISTRATION_ID, USER_ID};
use crate::{BadgeOp, DeviceEvent, DtType};

/// An app with two devices in every state a no-op could be about.
fn populated() -> Bench {
    let mut reg = Bench::new();
    let full = DeviceUpsert {
        brand: Some("hw".into()),
        region: Some("11010000".into()),
        properties: Some(object(json!({"k": "v"}))),
        ..android("a")
    };
    reg.ok(&UpsertDevices {
        devices: vec![full, mini_program("mp")],
        now: NOW,
    });
    reg.ok(&BindAliases {
        pairs: vec![(cid("a"), alias("al"))],
    });
    reg.ok(&ReplaceTags {
        cid: cid("a"),
        tags: tags(&["x", "y"]),
    });
    reg.ok(&SetBlacklisted {
        cids: vec![cid("a")],
        on: true,
    });
    reg.ok(&ApplyBadge {
        cids: vec![cid("a")],
        op: BadgeOp::Set(3),
    });
    reg.ok(&RecordDeviceEvent {
        cid: cid("a"),
        event: DeviceEvent::Login,
        at: NOW + HOUR,
    });
    reg.ok(&BindDeviceTokens {
        kind: DtType::Wx,
        entries: vec![DtBinding {
            cid: "mp".into(),
            device_token: Some("openid".into()),
        }],
    });
    reg.ok(&SetDtTypes {
        types: vec![DtType::Hw],
    });
    let mut first = Identify {
        identities: vec![
            (USER_ID.into(), "u1".into()),
            (REGISTRATION_ID.into(), "a".into()),
        ],
        ..Default::default()
    };
    first.properties = object(json!({"plan": "pro"}));
    first.contacts = vec![("email".into(), "a@example.com".into())];
    reg.ok(&IdentifyUser {
        identify: first,
        now: NOW,
    });
    reg.ok(&ums_tags("u1", UmsVerb::Add, &["t1"]));
    reg
}

fn ums_tags(userid: &str, verb: UmsVerb, values: &[&str]) -> UmsApply {
    UmsApply {
        users: vec![UmsUserChanges {
            userid: userid.into(),
            changes: vec![UmsChange {
                verb,
                field: UmsField::Tag,
                bind_id: BIND_ALL.into(),
                values: values.iter().map(|v| (*v).to_owned()).collect(),
            }],
        }],
        now: NOW,
    }
}

/// Runs `rule`, which must be accepted without a mutation, and checks that the devices
/// and users of the app are as they were.
fn silent<R: Rule + Debug>(reg: &mut Bench, rule: &R) {
    let before = reg.state();
    let muts = reg.muts(rule);
    assert_eq!(muts, [], "{rule:?} changed nothing but emitted");
    let after = reg.state();
    let known = |s: &State| {
        (
            s.devices.values().flatten().cloned().collect::<Vec<_>>(),
            s.users.values().flatten().cloned().collect::<Vec<_>>(),
            s.app.clone(),
            s.ums.clone(),
            s.identity_names.clone(),
        )
    };
    assert_eq!(known(&after), known(&before), "{rule:?}");
}

#[test]
fn device_commands_that_change_nothing_emit_nothing() {
    let mut reg = populated();
    // Upsert of a known cid with the facts it has (or none at all).
    let same = DeviceUpsert {
        brand: Some("hw".into()),
        properties: Some(object(json!({"k": "v"}))),
        ..android("a")
    };
    silent(
        &mut reg,
        &UpsertDevices {
            devices: vec![
                same,
                DeviceUpsert {
                    cid: Some(cid("mp")),
                    ..Default::default()
                },
            ],
            now: NOW + DAY,
        },
    );
    // Presence and login that are already so (same day, same or older time, online).
    for (event, at) in [
        (DeviceEvent::Online, NOW + DAY),
        (DeviceEvent::Login, NOW + HOUR),
        (DeviceEvent::Login, NOW),
    ] {
        silent(
            &mut reg,
            &RecordDeviceEvent {
                cid: cid("a"),
                event,
                at,
            },
        );
    }
    // Blacklist flag already set; badge already at its value.
    silent(
        &mut reg,
        &SetBlacklisted {
            cids: vec![cid("a")],
            on: true,
        },
    );
    silent(
        &mut reg,
        &SetBlacklisted {
            cids: vec![cid("mp")],
            on: false,
        },
    );
    for op in [BadgeOp::Set(3), BadgeOp::Add(0), BadgeOp::Sub(0)] {
        silent(
            &mut reg,
            &ApplyBadge {
                cids: vec![cid("a")],
                op,
            },
        );
    }
    // The token already bound; an unbind of a channel that bound nothing.
    for (kind, token) in [(DtType::Wx, Some("openid")), (DtType::Hw, None)] {
        silent(
            &mut reg,
            &BindDeviceTokens {
                kind,
                entries: vec![DtBinding {
                    cid: "mp".into(),
                    device_token: token.map(Into::into),
                }],
            },
        );
    }
    // Only refusals: nothing applied.
    silent(
        &mut reg,
        &BindDeviceTokens {
            kind: DtType::Wx,
            entries: vec![DtBinding {
                cid: "ghost".into(),
                device_token: Some("t".into()),
            }],
        },
    );
}

#[test]
fn label_commands_that_change_nothing_emit_nothing() {
    let mut reg = populated();
    // Idempotent rebind of the same alias.
    silent(
        &mut reg,
        &BindAliases {
            pairs: vec![(cid("a"), alias("al"))],
        },
    );
    // Unbinding a pair that is not bound; unbinding all of an empty alias.
    silent(
        &mut reg,
        &UnbindAliases {
            pairs: vec![(cid("a"), alias("other")), (cid("mp"), alias("al"))],
        },
    );
    let (n, muts) = reg.ok(&UnbindAlias {
        alias: alias("empty"),
    });
    assert_eq!((n, muts), (0, vec![]));
    // The same tags in another order, with a repeat.
    silent(
        &mut reg,
        &ReplaceTags {
            cid: cid("a"),
            tags: tags(&["y", "x", "y"]),
        },
    );
    // Re-adding a present tag; removing an absent one; unknown cids.
    silent(
        &mut reg,
        &AddTag {
            tag: tag("x"),
            cids: vec![cid("a"), cid("ghost")],
        },
    );
    silent(
        &mut reg,
        &RemoveTag {
            tag: tag("zzz"),
            cids: vec![cid("a"), cid("mp"), cid("ghost")],
        },
    );
}

#[test]
fn user_and_app_commands_that_change_nothing_emit_nothing() {
    let mut reg = populated();
    // Registering a known identity.
    silent(
        &mut reg,
        &RegisterIdentities {
            name: USER_ID.into(),
            values: vec!["u1".into(), "u1".into()],
            now: NOW,
        },
    );
    // Identify with what the user has.
    let mut same = Identify {
        identities: vec![
            (REGISTRATION_ID.into(), "a".into()),
            (USER_ID.into(), "u1".into()),
        ],
        ..Default::default()
    };
    same.properties = object(json!({"plan": "pro"}));
    same.contacts = vec![("email".into(), "a@example.com".into())];
    silent(
        &mut reg,
        &IdentifyUser {
            identify: same,
            now: NOW + DAY,
        },
    );
    // UMS: add of a present value, set of the same values, del of an absent one.
    silent(&mut reg, &ums_tags("u1", UmsVerb::Add, &["t1"]));
    silent(&mut reg, &ums_tags("u1", UmsVerb::Set, &["t1"]));
    silent(&mut reg, &ums_tags("u1", UmsVerb::Del, &["nope"]));
    // Deleting an unknown userid.
    let (existed, muts) = reg.ok(&DeleteUmsUsers {
        userids: vec!["nobody".into()],
    });
    assert_eq!((existed, muts), (vec![false], vec![]));
    // App settings as they are.
    silent(
        &mut reg,
        &SetDtTypes {
            types: vec![DtType::Hw],
        },
    );
    let ums = reg.read(&GetUmsConfig);
    silent(
        &mut reg,
        &GrantUmsSender {
            channel_key: ums.channels[0].0.clone(),
            sender_code: ums.senders[0].0.clone(),
        },
    );
}

#[test]
fn the_mutations_of_a_command_are_the_whole_change() {
    // DESIGN §5: "A `Mutation` is the one vocabulary of change: what is applied, logged,
    // indexed and fed." Replaying the mutations on the state before gives the state after.
    let mut reg = populated();
    let known = |s: &State| {
        (
            s.devices.values().flatten().cloned().collect::<Vec<_>>(),
            s.users.values().flatten().cloned().collect::<Vec<_>>(),
            s.app.clone(),
            s.identity_names.clone(),
            s.ums.clone(),
        )
    };
    let check = |reg: &mut Bench, muts: Vec<Mutation>, before: State| {
        let mut replayed = before;
        for m in &muts {
            replayed.apply(m);
        }
        assert_eq!(known(&replayed), known(&reg.state()), "{muts:?}");
    };
    let before = reg.state();
    let muts = reg.muts(&BindAliases {
        pairs: vec![(cid("mp"), alias("al")), (cid("a"), alias("b2"))],
    });
    check(&mut reg, muts, before);
    let before = reg.state();
    let muts = reg.muts(&ums_tags("u2", UmsVerb::Set, &["t"]));
    check(&mut reg, muts, before);
    let before = reg.state();
    let muts = reg.muts(&DeleteUmsUsers {
        userids: vec!["u1".into()],
    });
    check(&mut reg, muts, before);
    let before = reg.state();
    let muts = reg.muts(&BindDeviceTokens {
        kind: DtType::Hw,
        entries: vec![DtBinding {
            cid: "a".into(),
            device_token: Some("hw-token".into()),
        }],
    });
    check(&mut reg, muts, before);
}

#[test]
fn a_refused_command_leaves_the_registry_exactly_as_it_was() {
    // Memory::run: "Runs a rule on `app` atomically: on refusal nothing changes"; DESIGN
    // §2: "Batches are atomic". Each refusal below comes after the rule has already
    // planned a change for an earlier entry of its batch.
    let mut reg = populated();
    let ten: Vec<String> = (0..10).map(|i| format!("c{i}")).collect();
    let refs: Vec<&str> = ten.iter().map(String::as_str).collect();
    reg.register(&refs);
    let mut onto_full: Vec<(Cid, Alias)> = ten.iter().map(|c| (cid(c), alias("full"))).collect();
    onto_full.insert(0, (cid("mp"), alias("fresh")));
    onto_full.push((cid("a"), alias("full")));
    assert_eq!(
        reg.refused(&BindAliases { pairs: onto_full }),
        Error::over_limit("cid")
    );
    assert_eq!(
        reg.refused(&UnbindAliases {
            pairs: vec![(cid("a"), alias("al")), (cid("ghost"), alias("al"))],
        }),
        Error::UnknownTarget
    );
    assert_eq!(
        reg.refused(&UpsertDevices {
            devices: vec![
                android("new1"),
                DeviceUpsert {
                    cid: Some(cid("a")),
                    brand: Some("xm".into()),
                    ..Default::default()
                },
                DeviceUpsert::default(),
            ],
            now: NOW,
        }),
        Error::empty("phone_type")
    );
    assert_eq!(
        reg.refused(&SetBlacklisted {
            cids: vec![cid("mp"), cid("ghost")],
            on: true,
        }),
        Error::UnknownTarget
    );
    assert_eq!(
        reg.refused(&ApplyBadge {
            cids: vec![cid("mp"), cid("ghost")],
            op: BadgeOp::Add(1),
        }),
        Error::UnknownTarget
    );
    let too_many: Vec<TagName> = (0..101).map(|i| tag(&format!("t{i}"))).collect();
    assert_eq!(
        reg.refused(&ReplaceTags {
            cid: cid("a"),
            tags: too_many,
        }),
        Error::over_limit("custom_tag")
    );
    assert_eq!(
        reg.refused(&IdentifyUser {
            identify: Identify {
                identities: vec![
                    (USER_ID.into(), "brand-new".into()),
                    ("nope".into(), "v".into()),
                ],
                ..Default::default()
            },
            now: NOW,
        }),
        Error::invalid("identities.nope")
    );
    assert_eq!(
        reg.refused(&RegisterIdentities {
            name: "nope".into(),
            values: vec!["v".into()],
            now: NOW,
        }),
        Error::NotFound("identity name".into())
    );
}
