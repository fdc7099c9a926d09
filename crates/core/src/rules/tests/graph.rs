//! Properties over random sequences of identity-graph commands (UMS opt and delete,
//! Growth register, native identify): DESIGN §1 "one user written through UMS is
//! readable through Growth … and EngageLab", a uid "never changes and is never reused",
//! `user_id` and `anonymous_id` are unique, a device (`registration_id`) links to one
//! user. Every command must be decided on facts its `needs` asked for (an unloaded fact
//! would surface as `Error::Internal`).

use std::collections::BTreeSet;

use proptest::collection::vec;
use proptest::prelude::*;

use super::*;
use crate::rules::reads::GetUmsConfig;
use crate::rules::{DeleteUmsUsers, IdentifyUser, RegisterIdentities, UmsApply};
use crate::ums::{UmsChange, UmsField, UmsUserChanges, UmsVerb, BIND_ALL};
use crate::user::{Identify, ANONYMOUS_ID, REGISTRATION_ID, USER_ID};

const USERIDS: [&str; 4] = ["u0", "u1", "u2", "u3"];
const ANONS: [&str; 3] = ["x0", "x1", "x2"];
/// `d0`…`d3` are devices of the app; `nodev` is not.
const APP_VALUES: [&str; 5] = ["d0", "d1", "d2", "d3", "nodev"];

#[derive(Debug, Clone)]
enum Field {
    App(Vec<usize>),
    Tag(Vec<usize>),
    Phone(usize),
}

#[derive(Debug, Clone)]
enum Cmd {
    Ums(Vec<(usize, Vec<(UmsVerb, Field)>)>),
    Delete(Vec<usize>),
    Register(Vec<usize>),
    /// (name, value): 0 user_id, 1 anonymous_id, 2 registration_id (value 4 is a
    /// cid the app does not have).
    Identify(Vec<(usize, usize)>),
}

fn verb() -> impl Strategy<Value = UmsVerb> {
    prop_oneof![Just(UmsVerb::Set), Just(UmsVerb::Add), Just(UmsVerb::Del)]
}

fn change() -> impl Strategy<Value = (UmsVerb, Field)> {
    prop_oneof![
        3 => (verb(), vec(0..APP_VALUES.len(), 0..3)).prop_map(|(v, xs)| (v, Field::App(xs))),
        1 => (verb(), vec(0..2usize, 1..3)).prop_map(|(v, xs)| (v, Field::Tag(xs))),
        1 => (prop_oneof![Just(UmsVerb::Set), Just(UmsVerb::Del)], 0..2usize)
            .prop_map(|(v, p)| (v, Field::Phone(p))),
    ]
}

fn identity() -> impl Strategy<Value = (usize, usize)> {
    prop_oneof![
        1 => (Just(0usize), 0..USERIDS.len()),
        1 => (Just(1usize), 0..ANONS.len()),
        3 => (Just(2usize), prop_oneof![6 => 0..4usize, 1 => Just(4usize)]),
    ]
}

fn cmd() -> impl Strategy<Value = Cmd> {
    prop_oneof![
        4 => vec((0..USERIDS.len(), vec(change(), 0..3)), 1..3).prop_map(Cmd::Ums),
        1 => vec(0..USERIDS.len(), 1..3).prop_map(Cmd::Delete),
        1 => vec(0..USERIDS.len(), 1..3).prop_map(Cmd::Register),
        3 => vec(identity(), 1..4).prop_map(Cmd::Identify),
    ]
}

fn ums_change(sender: &str, (verb, field): &(UmsVerb, Field)) -> UmsChange {
    let (field, bind_id, values): (UmsField, &str, Vec<String>) = match field {
        Field::App(xs) => (
            UmsField::App,
            sender,
            xs.iter().map(|x| APP_VALUES[*x].to_owned()).collect(),
        ),
        Field::Tag(xs) => (
            UmsField::Tag,
            BIND_ALL,
            xs.iter().map(|x| format!("t{x}")).collect(),
        ),
        Field::Phone(p) => (UmsField::Phone, BIND_ALL, vec![format!("1380000000{p}")]),
    };
    UmsChange {
        verb: *verb,
        field,
        bind_id: bind_id.into(),
        values,
    }
}

fn run(reg: &mut Bench, sender: &str, cmd: &Cmd) -> Result<Vec<Mutation>, Error> {
    let muts = match cmd {
        Cmd::Ums(users) => {
            let users = users
                .iter()
                .map(|(u, changes)| UmsUserChanges {
                    userid: USERIDS[*u].into(),
                    changes: changes.iter().map(|c| ums_change(sender, c)).collect(),
                })
                .collect();
            reg.run(&UmsApply { users, now: NOW })?.1
        }
        Cmd::Delete(us) => {
            reg.run(&DeleteUmsUsers {
                userids: us.iter().map(|u| USERIDS[*u].to_owned()).collect(),
            })?
            .1
        }
        Cmd::Register(us) => {
            reg.run(&RegisterIdentities {
                name: USER_ID.into(),
                values: us.iter().map(|u| USERIDS[*u].to_owned()).collect(),
                now: NOW,
            })?
            .1
        }
        Cmd::Identify(ids) => {
            let identities = ids
                .iter()
                .map(|(n, v)| match n {
                    0 => (USER_ID.to_owned(), USERIDS[*v].to_owned()),
                    1 => (ANONYMOUS_ID.to_owned(), ANONS[*v].to_owned()),
                    _ => (
                        REGISTRATION_ID.to_owned(),
                        if *v == 4 { "ghost" } else { APP_VALUES[*v] }.to_owned(),
                    ),
                })
                .collect();
            reg.run(&IdentifyUser {
                identify: Identify {
                    identities,
                    ..Default::default()
                },
                now: NOW,
            })?
            .1
        }
    };
    Ok(muts)
}

type Graph = (Vec<User>, Vec<((String, String), Uid)>);

/// The users and the held identities of a state.
fn graph(s: &State) -> Graph {
    (
        s.users.values().flatten().cloned().collect(),
        s.identities
            .iter()
            .filter_map(|(k, v)| v.map(|uid| (k.clone(), uid)))
            .collect(),
    )
}

fn check(state: &State) -> Result<(), TestCaseError> {
    let (users, held) = graph(state);
    for u in &users {
        for (n, v) in &u.identities {
            // A user's identity is held by that user in the lookup.
            prop_assert_eq!(
                state.identities.get(&(n.clone(), v.clone())),
                Some(&Some(u.uid)),
                "{}={} of user {}",
                n,
                v,
                u.uid
            );
        }
        prop_assert!(u.identity(USER_ID).len() <= 1, "{u:?}");
        prop_assert!(u.identity(ANONYMOUS_ID).len() <= 1, "{u:?}");
        // A registration id is a device of the app.
        for r in u.registration_ids() {
            prop_assert!(
                matches!(state.devices.get(&cid(r)), Some(Some(_))),
                "{r} is no device"
            );
        }
    }
    for ((n, v), uid) in &held {
        let holder = users.iter().find(|u| u.uid == *uid);
        prop_assert!(
            holder.is_some_and(|u| u.identities.contains(&(n.clone(), v.clone()))),
            "{}={} points at {} which lacks it",
            n,
            v,
            uid
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn identity_graph_commands_keep_it_consistent(cmds in vec(cmd(), 1..30)) {
        let mut reg = Bench::new();
        reg.register(&["d0", "d1", "d2", "d3"]);
        let sender = reg.read(&GetUmsConfig).senders[0].0.clone();
        let mut uids_given: BTreeSet<Uid> = BTreeSet::new();
        for cmd in &cmds {
            let before = reg.state();
            match run(&mut reg, &sender, cmd) {
                Ok(muts) => {
                    let mut replayed = before.clone();
                    for m in &muts {
                        replayed.apply(m);
                        if let Mutation::UserCreated { uid, .. } = m {
                            // Never reused, and larger than every uid given before.
                            prop_assert!(uids_given.last().is_none_or(|last| uid > last));
                            uids_given.insert(*uid);
                        }
                    }
                    prop_assert_eq!(graph(&replayed), graph(&reg.state()), "{:?}", cmd);
                }
                Err(e) => {
                    let ghost = matches!(cmd, Cmd::Identify(ids) if ids.contains(&(2, 4)));
                    prop_assert!(
                        ghost && e == Error::UnknownTarget,
                        "{:?} was refused: {:?}",
                        cmd,
                        e
                    );
                    prop_assert_eq!(&reg.state(), &before);
                }
            }
            check(&reg.state())?;
        }
    }
}
