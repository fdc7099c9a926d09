//! Aliases (at most ten cids per alias, one alias per cid) and custom tags (at most a
//! hundred per cid).

use std::collections::BTreeSet;

use super::{Mutation, Needs, PerDevice, Planner, Rule, State, Want};
use crate::error::Error;
use crate::ids::{Alias, Cid, TagName};
use crate::{limits, Device};

/// Binds each cid to its alias, moving cids that had another alias; all or nothing.
#[derive(Debug, Clone)]
pub struct BindAliases {
    /// (cid, alias) pairs.
    pub pairs: Vec<(Cid, Alias)>,
}

impl Rule for BindAliases {
    type Outcome = ();

    fn needs(&self, state: &State) -> Needs {
        state.wants(|w| {
            w.devices(self.pairs.iter().map(|(c, _)| c))
                .alias_members(self.pairs.iter().map(|(_, a)| a));
        })
    }

    fn decide(&self, plan: &mut Planner<'_>) -> Result<(), Error> {
        let mut touched = BTreeSet::new();
        for (cid, alias) in &self.pairs {
            let d = plan.known_device(cid)?;
            let (ordinal, previous) = (d.ordinal, d.device.alias.clone());
            touched.insert(alias);
            if previous.as_ref() != Some(alias) {
                plan.emit(Mutation::AliasBound {
                    cid: cid.clone(),
                    ordinal,
                    alias: alias.clone(),
                    previous,
                });
            }
        }
        for alias in touched {
            alias_room(plan.state(), alias, 0)?;
        }
        Ok(())
    }
}

/// The alias cap: refuses when `alias` would have more than ten cids once `joining`
/// more join it.
pub(super) fn alias_room(state: &State, alias: &Alias, joining: usize) -> Result<(), Error> {
    let n = state.alias_members.get(alias).map_or(0, Vec::len);
    if n + joining > limits::CIDS_PER_ALIAS {
        return Err(Error::over_limit("cid"));
    }
    Ok(())
}

/// The tag cap: a device's tags, sorted and without duplicates, at most a hundred.
pub(super) fn tag_set(tags: &[TagName]) -> Result<Vec<TagName>, Error> {
    let tags: Vec<TagName> = tags
        .iter()
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if tags.len() > limits::TAGS_PER_CID {
        return Err(Error::over_limit("custom_tag"));
    }
    Ok(tags)
}

/// Unbinds each pair that is bound; all or nothing (unknown cids refuse the batch).
#[derive(Debug, Clone)]
pub struct UnbindAliases {
    /// (cid, alias) pairs.
    pub pairs: Vec<(Cid, Alias)>,
}

impl Rule for UnbindAliases {
    type Outcome = ();

    fn needs(&self, state: &State) -> Needs {
        state.wants(|w| {
            w.devices(self.pairs.iter().map(|(c, _)| c));
        })
    }

    fn decide(&self, plan: &mut Planner<'_>) -> Result<(), Error> {
        for (cid, alias) in &self.pairs {
            let d = plan.known_device(cid)?;
            if d.device.alias.as_ref() == Some(alias) {
                let ordinal = d.ordinal;
                plan.emit(Mutation::AliasUnbound {
                    cid: cid.clone(),
                    ordinal,
                    alias: alias.clone(),
                });
            }
        }
        Ok(())
    }
}

/// Unbinds every cid of an alias; the outcome is how many.
#[derive(Debug, Clone)]
pub struct UnbindAlias {
    /// The alias.
    pub alias: Alias,
}

impl Rule for UnbindAlias {
    type Outcome = u64;

    fn needs(&self, state: &State) -> Needs {
        let mut w = Want::new(state);
        w.alias_members([&self.alias]);
        if let Some(members) = state.alias_members.get(&self.alias) {
            w.devices(members);
        }
        w.done()
    }

    fn decide(&self, plan: &mut Planner<'_>) -> Result<u64, Error> {
        let members = plan
            .state()
            .alias_members
            .get(&self.alias)
            .cloned()
            .unwrap_or_default();
        for cid in &members {
            let ordinal = plan.known_device(cid)?.ordinal;
            plan.emit(Mutation::AliasUnbound {
                cid: cid.clone(),
                ordinal,
                alias: self.alias.clone(),
            });
        }
        Ok(members.len() as u64)
    }
}

/// Replaces the tags of one cid.
#[derive(Debug, Clone)]
pub struct ReplaceTags {
    /// The device.
    pub cid: Cid,
    /// Its new tags (duplicates collapse).
    pub tags: Vec<TagName>,
}

impl Rule for ReplaceTags {
    type Outcome = ();

    fn needs(&self, state: &State) -> Needs {
        state.wants(|w| {
            w.devices([&self.cid]);
        })
    }

    fn decide(&self, plan: &mut Planner<'_>) -> Result<(), Error> {
        let d = plan.known_device(&self.cid)?;
        let tags = tag_set(&self.tags)?;
        if tags != d.device.tags {
            let (ordinal, previous) = (d.ordinal, d.device.tags.clone());
            plan.emit(Mutation::TagsSet {
                cid: self.cid.clone(),
                ordinal,
                tags,
                previous,
            });
        }
        Ok(())
    }
}

/// Adds and removes tags of one cid at once: the cid's tags plus `add` minus `remove`,
/// decided as [`ReplaceTags`] decides that set (the same cap, the same refusal), so the
/// edit applies entirely or not at all.
#[derive(Debug, Clone)]
pub struct EditTags {
    /// The device.
    pub cid: Cid,
    /// Tags to add.
    pub add: Vec<TagName>,
    /// Tags to remove (a tag in both lists is removed).
    pub remove: Vec<TagName>,
}

impl Rule for EditTags {
    type Outcome = ();

    fn needs(&self, state: &State) -> Needs {
        state.wants(|w| {
            w.devices([&self.cid]);
        })
    }

    fn decide(&self, plan: &mut Planner<'_>) -> Result<(), Error> {
        let current = &plan.known_device(&self.cid)?.device.tags;
        let tags = current
            .iter()
            .chain(&self.add)
            .filter(|t| !self.remove.contains(t))
            .cloned()
            .collect();
        let replace = ReplaceTags {
            cid: self.cid.clone(),
            tags,
        };
        replace.decide(plan)
    }
}

/// Adds a tag to each cid; per cid, whether it now has the tag (unknown cids and cids
/// already at the cap do not).
#[derive(Debug, Clone)]
pub struct AddTag {
    /// The tag.
    pub tag: TagName,
    /// The devices.
    pub cids: Vec<Cid>,
}

impl PerDevice for AddTag {
    const ALL_OR_NOTHING: bool = false;

    fn cids(&self) -> &[Cid] {
        &self.cids
    }

    fn change(&self, cid: &Cid, ordinal: u32, d: &Device) -> (bool, Option<Mutation>) {
        if d.tags.contains(&self.tag) {
            return (true, None);
        }
        if d.tags.len() >= limits::TAGS_PER_CID {
            return (false, None);
        }
        let tag = self.tag.clone();
        let cid = cid.clone();
        (true, Some(Mutation::TagAdded { cid, ordinal, tag }))
    }
}

/// Removes a tag from each cid; per cid, whether the cid exists (and now lacks it).
#[derive(Debug, Clone)]
pub struct RemoveTag {
    /// The tag.
    pub tag: TagName,
    /// The devices.
    pub cids: Vec<Cid>,
}

impl PerDevice for RemoveTag {
    const ALL_OR_NOTHING: bool = false;

    fn cids(&self) -> &[Cid] {
        &self.cids
    }

    fn change(&self, cid: &Cid, ordinal: u32, d: &Device) -> (bool, Option<Mutation>) {
        let (tag, cid) = (self.tag.clone(), cid.clone());
        let had = d.tags.contains(&tag);
        (
            true,
            had.then_some(Mutation::TagRemoved { cid, ordinal, tag }),
        )
    }
}
