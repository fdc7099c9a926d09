//! Properties over random sequences of alias and tag commands, against a small model of
//! the Getui rules: an alias binds at most 10 cids ("一个别名最多允许绑定10个cid"), a cid has
//! at most one alias ("一个cid只能绑定一个别名") and at most 100 tags ("每个用户 … 可以打上100个
//! 标签"), batches are all or nothing (DESIGN §2) except the per-cid tag batches.

use std::collections::{BTreeMap, BTreeSet};

use proptest::collection::vec;
use proptest::prelude::*;

use super::*;
use crate::limits;
use crate::rules::reads::CidsOfAlias;
use crate::rules::{AddTag, BindAliases, RemoveTag, ReplaceTags, UnbindAlias, UnbindAliases};

/// Known devices `k0`…`k12`; index `CIDS` is a cid the app does not have.
const CIDS: usize = 13;
const ALIASES: [&str; 3] = ["A", "B", "C"];
/// Tags `t0`…`t109` are replaced in ranges; `t110`… are only ever added one at a time,
/// so that adding them to a cid at 100 tags hits the cap.
const POOL: usize = 110;
const EXTRA: usize = 5;

#[derive(Debug, Clone)]
enum Cmd {
    Bind(Vec<(usize, usize)>),
    Unbind(Vec<(usize, usize)>),
    UnbindAll(usize),
    /// cid, first tag, how many consecutive tags, whether the first is repeated.
    Replace(usize, usize, usize, bool),
    Add(usize, Vec<usize>),
    Remove(usize, Vec<usize>),
}

fn cid_ix() -> impl Strategy<Value = usize> {
    prop_oneof![12 => 0..CIDS, 1 => Just(CIDS)]
}

/// Mostly the first three cids for tag commands, so that a cid at 100 tags gets more.
fn tag_cid_ix() -> impl Strategy<Value = usize> {
    prop_oneof![3 => 0..3usize, 1 => cid_ix()]
}

fn tag_ix() -> impl Strategy<Value = usize> {
    prop_oneof![2 => 0..POOL, 1 => POOL..POOL + EXTRA]
}

/// Mostly the first alias, so that it fills up.
fn alias_ix() -> impl Strategy<Value = usize> {
    prop_oneof![3 => Just(0usize), 2 => 0..ALIASES.len()]
}

fn cmd() -> impl Strategy<Value = Cmd> {
    prop_oneof![
        5 => vec((cid_ix(), alias_ix()), 1..8).prop_map(Cmd::Bind),
        2 => vec((cid_ix(), alias_ix()), 1..4).prop_map(Cmd::Unbind),
        1 => alias_ix().prop_map(Cmd::UnbindAll),
        2 => (
            tag_cid_ix(),
            0..POOL,
            prop_oneof![0..10usize, Just(limits::TAGS_PER_CID), 98..=102usize],
            any::<bool>()
        )
            .prop_map(|(c, s, n, r)| Cmd::Replace(c, s, n, r)),
        4 => (tag_ix(), vec(tag_cid_ix(), 1..5)).prop_map(|(t, cs)| Cmd::Add(t, cs)),
        1 => (tag_ix(), vec(tag_cid_ix(), 1..5)).prop_map(|(t, cs)| Cmd::Remove(t, cs)),
    ]
}

fn cid_name(i: usize) -> Cid {
    if i == CIDS {
        cid("ghost")
    } else {
        cid(&format!("k{i}"))
    }
}

fn tag_name(i: usize) -> TagName {
    tag(&format!("t{i}"))
}

/// What the registry should hold: per known cid, its alias and tags.
#[derive(Debug, Clone, Default, PartialEq)]
struct Model {
    alias: BTreeMap<usize, usize>,
    tags: BTreeMap<usize, BTreeSet<usize>>,
}

impl Model {
    fn members(&self, a: usize) -> usize {
        self.alias.values().filter(|x| **x == a).count()
    }

    /// The expected answer (as `Debug` text) and the model after it.
    fn step(&mut self, cmd: &Cmd) -> Result<String, Error> {
        match cmd {
            Cmd::Bind(pairs) => {
                if pairs.iter().any(|(c, _)| *c == CIDS) {
                    return Err(Error::UnknownTarget);
                }
                let mut next = self.clone();
                for (c, a) in pairs {
                    next.alias.insert(*c, *a);
                }
                if pairs
                    .iter()
                    .any(|(_, a)| next.members(*a) > limits::CIDS_PER_ALIAS)
                {
                    return Err(Error::over_limit("cid"));
                }
                *self = next;
                Ok("()".into())
            }
            Cmd::Unbind(pairs) => {
                if pairs.iter().any(|(c, _)| *c == CIDS) {
                    return Err(Error::UnknownTarget);
                }
                for (c, a) in pairs {
                    if self.alias.get(c) == Some(a) {
                        self.alias.remove(c);
                    }
                }
                Ok("()".into())
            }
            Cmd::UnbindAll(a) => {
                let n = self.members(*a);
                self.alias.retain(|_, x| x != a);
                Ok(format!("{n}"))
            }
            Cmd::Replace(c, start, n, repeat) => {
                if *c == CIDS {
                    return Err(Error::UnknownTarget);
                }
                let mut wanted: BTreeSet<usize> = (0..*n).map(|i| (start + i) % POOL).collect();
                if *repeat {
                    wanted.insert(*start);
                }
                if wanted.len() > limits::TAGS_PER_CID {
                    return Err(Error::over_limit("custom_tag"));
                }
                self.tags.insert(*c, wanted);
                Ok("()".into())
            }
            Cmd::Add(t, cids) => {
                let answers: Vec<bool> = cids
                    .iter()
                    .map(|c| {
                        if *c == CIDS {
                            return false;
                        }
                        let tags = self.tags.entry(*c).or_default();
                        if tags.contains(t) {
                            true
                        } else if tags.len() >= limits::TAGS_PER_CID {
                            false
                        } else {
                            tags.insert(*t);
                            true
                        }
                    })
                    .collect();
                Ok(format!("{answers:?}"))
            }
            Cmd::Remove(t, cids) => {
                let answers: Vec<bool> = cids
                    .iter()
                    .map(|c| {
                        if *c != CIDS {
                            self.tags.entry(*c).or_default().remove(t);
                        }
                        *c != CIDS
                    })
                    .collect();
                Ok(format!("{answers:?}"))
            }
        }
    }
}

fn pairs(ps: &[(usize, usize)]) -> Vec<(Cid, Alias)> {
    ps.iter()
        .map(|(c, a)| (cid_name(*c), alias(ALIASES[*a])))
        .collect()
}

fn cids(cs: &[usize]) -> Vec<Cid> {
    cs.iter().map(|c| cid_name(*c)).collect()
}

fn shown<O: Debug>(r: Result<(O, Vec<Mutation>), Error>) -> Result<(String, Vec<Mutation>), Error> {
    r.map(|(o, m)| (format!("{o:?}"), m))
}

/// Runs a command on the registry: its answer (as `Debug` text) and mutations.
fn run(reg: &mut Bench, cmd: &Cmd) -> Result<(String, Vec<Mutation>), Error> {
    match cmd {
        Cmd::Bind(ps) => shown(reg.run(&BindAliases { pairs: pairs(ps) })),
        Cmd::Unbind(ps) => shown(reg.run(&UnbindAliases { pairs: pairs(ps) })),
        Cmd::UnbindAll(a) => shown(reg.run(&UnbindAlias {
            alias: alias(ALIASES[*a]),
        })),
        Cmd::Replace(c, start, n, repeat) => {
            let mut tags: Vec<TagName> = (0..*n).map(|i| tag_name((start + i) % POOL)).collect();
            if *repeat {
                tags.push(tag_name(*start));
            }
            shown(reg.run(&ReplaceTags {
                cid: cid_name(*c),
                tags,
            }))
        }
        Cmd::Add(t, cs) => shown(reg.run(&AddTag {
            tag: tag_name(*t),
            cids: cids(cs),
        })),
        Cmd::Remove(t, cs) => shown(reg.run(&RemoveTag {
            tag: tag_name(*t),
            cids: cids(cs),
        })),
    }
}

fn devices(s: &State) -> Vec<StoredDevice> {
    s.devices.values().flatten().cloned().collect()
}

/// The invariants of the registry, and its agreement with the model.
fn check(reg: &mut Bench, model: &Model) -> Result<(), TestCaseError> {
    let state = reg.state();
    for (i, name) in ALIASES.iter().enumerate() {
        let mut members = reg.read(&CidsOfAlias { alias: alias(name) });
        members.sort();
        prop_assert!(
            members.len() <= limits::CIDS_PER_ALIAS,
            "{name}: {members:?}"
        );
        // alias_members is consistent with the devices' own aliases.
        let mut holders: Vec<Cid> = devices(&state)
            .into_iter()
            .filter(|d| d.device.alias == Some(alias(name)))
            .map(|d| d.device.cid)
            .collect();
        holders.sort();
        prop_assert_eq!(&members, &holders);
        prop_assert_eq!(members.len(), model.members(i));
    }
    for i in 0..CIDS {
        let d = state
            .devices
            .get(&cid_name(i))
            .cloned()
            .flatten()
            .expect("known device");
        let tags = &d.device.tags;
        prop_assert!(tags.len() <= limits::TAGS_PER_CID);
        prop_assert!(tags.windows(2).all(|w| w[0] < w[1]), "sorted, unique");
        let want_alias = model.alias.get(&i).map(|a| alias(ALIASES[*a]));
        prop_assert_eq!(&d.device.alias, &want_alias, "alias of k{}", i);
        let want_tags: BTreeSet<TagName> = model
            .tags
            .get(&i)
            .into_iter()
            .flatten()
            .map(|t| tag_name(*t))
            .collect();
        let have: BTreeSet<TagName> = tags.iter().cloned().collect();
        prop_assert_eq!(have, want_tags, "tags of k{}", i);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn alias_and_tag_commands_keep_the_invariants(cmds in vec(cmd(), 1..40)) {
        let mut reg = Bench::new();
        let all: Vec<String> = (0..CIDS).map(|i| format!("k{i}")).collect();
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        reg.register(&refs);
        let mut model = Model::default();
        for cmd in &cmds {
            let before = reg.state();
            let got = run(&mut reg, cmd);
            let want = model.step(cmd);
            match (&got, &want) {
                (Ok((answer, muts)), Ok(expected)) => {
                    prop_assert_eq!(answer, expected, "{:?}", cmd);
                    // The mutations are the whole change.
                    let mut replayed = before;
                    for m in muts {
                        replayed.apply(m);
                    }
                    prop_assert_eq!(devices(&replayed), devices(&reg.state()), "{:?}", cmd);
                }
                (Err(e), Err(expected)) => {
                    prop_assert_eq!(e, expected, "{:?}", cmd);
                    // A refusal changes nothing.
                    prop_assert_eq!(&reg.state(), &before, "{:?}", cmd);
                }
                _ => prop_assert!(false, "{:?}: got {:?}, model says {:?}", cmd, got, want),
            }
            check(&mut reg, &model)?;
        }
    }
}
