//! Every domain decision of roster, in one place and without I/O.
//!
//! A write is a [`Rule`]: it says which stored facts it needs ([`Rule::needs`], asked
//! again until nothing is missing), then decides ([`Rule::decide`]) on a [`State`]
//! holding those facts: it either refuses with a domain [`Error`] or returns its outcome
//! having emitted, through the [`Planner`], the [`Mutation`]s that make it so. Storage
//! backends only load what is needed and write the mutations, in one transaction; the
//! audience index and (later) the change log follow the same mutations. Time comes in
//! with the command: no rule reads a clock.
//!
//! The same [`State`] with everything loaded is a complete in-memory registry
//! ([`State::apply`] is the model of every backend's `apply`), which the differential
//! tests run beside the real backends.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::Error;
use crate::ids::{Alias, Cid};
use crate::user::{IdentityName, Uid, User};
use crate::{Device, DtType};

mod apps;
mod devices;
mod import;
mod labels;
pub mod memory;
mod mutation;
pub mod reads;
mod removal;
mod users;

pub use apps::{
    CreateApp, CreateIdentityName, CreateUmsChannel, CreateUmsSender, GrantUmsSender, SetDtTypes,
};
pub use devices::{
    ApplyBadge, BindDeviceTokens, DtBinding, DtFailure, PerDevice, RecordDeviceEvent, RecordOpen,
    SetBlacklisted, UpsertDevices,
};
pub use import::{ImportDevices, Imported};
pub use labels::{
    AddTag, BindAliases, EditTags, RemoveTag, ReplaceTags, UnbindAlias, UnbindAliases,
};
pub use mutation::{Binding, Mutation, Secret};
pub use removal::{DeleteDevice, DeleteUser};
pub use users::{DeleteUmsUsers, IdentifyUser, ImportUsers, RegisterIdentities, UmsApply};

/// An app's UMS channels, senders, and which channel may write which sender.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UmsConfig {
    /// (channel key, channel code).
    pub channels: Vec<(String, String)>,
    /// (sender code, kind).
    pub senders: Vec<(String, crate::ums::SenderKind)>,
    /// (channel key, sender code).
    pub grants: Vec<(String, String)>,
}

/// The stored facts of an app that rules need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppFacts {
    /// The ordinal the next new device gets.
    pub next_ordinal: i64,
    /// bind_dt channels enabled beyond the defaults.
    pub enabled_dt_types: Vec<DtType>,
    /// The seq of the app's last committed write (the change log's; no rule reads it).
    pub seq: u64,
}

/// A device as stored: its facts and its dense per-app ordinal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDevice {
    /// Dense per-app number, assigned at insert and never reused.
    pub ordinal: u32,
    /// Every stored fact (`login_freq` is 0: it is derived on read).
    pub device: Device,
}

/// The stored facts a rule decides on: each map holds what has been loaded, `None`
/// for "loaded, and absent".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct State {
    /// The app, once loaded (`None` inside: no such app).
    pub app: Option<Option<AppFacts>>,
    /// Devices by cid.
    pub devices: BTreeMap<Cid, Option<StoredDevice>>,
    /// Whether a cid (as sent) exists in some other app.
    pub foreign: BTreeMap<String, bool>,
    /// The cids bound to an alias, in row order.
    pub alias_members: BTreeMap<Alias, Vec<Cid>>,
    /// Holder of an identity (name, value).
    pub identities: BTreeMap<(String, String), Option<Uid>>,
    /// Users by uid, with identities, properties, contacts and bindings.
    pub users: BTreeMap<Uid, Option<User>>,
    /// Every identity name of the app (built-ins first), in resolution order.
    pub identity_names: Option<Vec<IdentityName>>,
    /// The app's UMS configuration.
    pub ums: Option<UmsConfig>,
    /// The uid the next new user gets; larger than every uid ever given.
    pub next_uid: Option<Uid>,
    /// The CST day numbers on which a device logged in (recent ones).
    pub login_days: BTreeMap<Cid, BTreeSet<i64>>,
}

/// What a rule still needs loaded. Empty: it can decide.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needs {
    /// The app's facts.
    pub app: bool,
    /// Devices (with tags) by cid.
    pub devices: BTreeSet<Cid>,
    /// Whether these cids exist in another app.
    pub foreign: BTreeSet<String>,
    /// Members of these aliases.
    pub alias_members: BTreeSet<Alias>,
    /// Holders of these identities.
    pub identities: BTreeSet<(String, String)>,
    /// These users.
    pub users: BTreeSet<Uid>,
    /// The identity names.
    pub identity_names: bool,
    /// The UMS configuration.
    pub ums: bool,
    /// The next uid (a backend may serialise user creation to answer it).
    pub next_uid: bool,
    /// Login days of these devices.
    pub login_days: BTreeSet<Cid>,
}

impl Needs {
    /// Whether nothing is missing.
    pub fn is_empty(&self) -> bool {
        self == &Needs::default()
    }
}

impl State {
    /// What a rule still needs, as `ask` asks for it.
    pub fn wants(&self, ask: impl FnOnce(&mut Want<'_>)) -> Needs {
        let mut w = Want::new(self);
        ask(&mut w);
        w.done()
    }
}

/// Builds the [`Needs`] of a rule against what a [`State`] already holds: each `want`
/// records only what is missing.
pub struct Want<'a> {
    state: &'a State,
    needs: Needs,
}

impl<'a> Want<'a> {
    /// Starts an empty wish list against `state`.
    pub fn new(state: &'a State) -> Self {
        Want {
            state,
            needs: Needs::default(),
        }
    }

    /// The app's facts.
    pub fn app(&mut self) -> &mut Self {
        self.needs.app |= self.state.app.is_none();
        self
    }

    /// Devices by cid.
    pub fn devices<'c>(&mut self, cids: impl IntoIterator<Item = &'c Cid>) -> &mut Self {
        for c in cids {
            if !self.state.devices.contains_key(c) {
                self.needs.devices.insert(c.clone());
            }
        }
        self
    }

    /// Whether raw cids exist in another app.
    pub fn foreign<'c>(&mut self, cids: impl IntoIterator<Item = &'c str>) -> &mut Self {
        for c in cids {
            if !self.state.foreign.contains_key(c) {
                self.needs.foreign.insert(c.to_owned());
            }
        }
        self
    }

    /// Members of aliases.
    pub fn alias_members<'c>(&mut self, aliases: impl IntoIterator<Item = &'c Alias>) -> &mut Self {
        for a in aliases {
            if !self.state.alias_members.contains_key(a) {
                self.needs.alias_members.insert(a.clone());
            }
        }
        self
    }

    /// Holders of identities.
    pub fn identity(&mut self, name: &str, value: &str) -> &mut Self {
        let key = (name.to_owned(), value.to_owned());
        if !self.state.identities.contains_key(&key) {
            self.needs.identities.insert(key);
        }
        self
    }

    /// Users.
    pub fn users(&mut self, uids: impl IntoIterator<Item = Uid>) -> &mut Self {
        for u in uids {
            if !self.state.users.contains_key(&u) {
                self.needs.users.insert(u);
            }
        }
        self
    }

    /// The identity names.
    pub fn identity_names(&mut self) -> &mut Self {
        self.needs.identity_names |= self.state.identity_names.is_none();
        self
    }

    /// The UMS configuration.
    pub fn ums(&mut self) -> &mut Self {
        self.needs.ums |= self.state.ums.is_none();
        self
    }

    /// The next uid.
    pub fn next_uid(&mut self) -> &mut Self {
        self.needs.next_uid |= self.state.next_uid.is_none();
        self
    }

    /// Login days of devices.
    pub fn login_days<'c>(&mut self, cids: impl IntoIterator<Item = &'c Cid>) -> &mut Self {
        for c in cids {
            if !self.state.login_days.contains_key(c) {
                self.needs.login_days.insert(c.clone());
            }
        }
        self
    }

    /// Whether something is missing so far (a later stage should wait for it).
    pub fn missing(&self) -> bool {
        !self.needs.is_empty()
    }

    /// The wish list.
    pub fn done(self) -> Needs {
        self.needs
    }
}

/// One write command of roster.
pub trait Rule: Send + Sync {
    /// What the caller gets back.
    type Outcome: Send + 'static;

    /// Whether the rule applies only to an app that exists (every write but creating
    /// one); on an unknown app it is refused with `NotFound("app")`, whatever it is.
    const APP_MUST_EXIST: bool = true;

    /// What is still missing from `state` before the rule can decide. Called until it
    /// is empty; each call may ask for facts that depend on facts loaded before.
    fn needs(&self, state: &State) -> Needs;

    /// Decides on a state holding everything [`Rule::needs`] asked for: refuses, or
    /// emits the mutations through `plan` and returns the outcome.
    fn decide(&self, plan: &mut Planner<'_>) -> Result<Self::Outcome, Error>;
}

/// Collects a rule's mutations and keeps the state it decides on current, so that the
/// later steps of a batch see the earlier ones.
pub struct Planner<'a> {
    state: &'a mut State,
    mutations: Vec<Mutation>,
    secrets: Vec<Secret>,
}

impl<'a> Planner<'a> {
    /// Plans on `state` (which it updates as mutations are emitted).
    pub fn new(state: &'a mut State) -> Self {
        Planner {
            state,
            mutations: Vec::new(),
            secrets: Vec::new(),
        }
    }

    /// The state as the mutations so far leave it.
    pub fn state(&self) -> &State {
        self.state
    }

    /// Records a mutation and applies it to the state.
    pub fn emit(&mut self, m: Mutation) {
        self.state.apply(&m);
        self.mutations.push(m);
    }

    /// How many mutations have been emitted so far.
    pub fn mutations_len(&self) -> usize {
        self.mutations.len()
    }

    /// Records a credential to store with the mutations (never part of the change log).
    pub fn secret(&mut self, s: Secret) {
        self.secrets.push(s);
    }

    /// The mutations and secrets, in order.
    pub fn finish(self) -> (Vec<Mutation>, Vec<Secret>) {
        (self.mutations, self.secrets)
    }

    /// The app's facts; an unknown app is `NotFound`.
    pub fn app(&self) -> Result<&AppFacts, Error> {
        match &self.state.app {
            Some(Some(a)) => Ok(a),
            Some(None) => Err(Error::NotFound("app".into())),
            None => Err(missing("app")),
        }
    }

    /// A device, if it exists.
    pub fn device(&self, cid: &Cid) -> Result<Option<&StoredDevice>, Error> {
        match self.state.devices.get(cid) {
            Some(d) => Ok(d.as_ref()),
            None => Err(missing("device")),
        }
    }

    /// A device that must exist: unknown is [`Error::UnknownTarget`].
    pub fn known_device(&self, cid: &Cid) -> Result<&StoredDevice, Error> {
        self.device(cid)?.ok_or(Error::UnknownTarget)
    }

    /// The holder of an identity.
    pub fn holder(&self, name: &str, value: &str) -> Result<Option<Uid>, Error> {
        self.state
            .identities
            .get(&(name.to_owned(), value.to_owned()))
            .copied()
            .ok_or_else(|| missing("identity"))
    }

    /// A user that must have been loaded.
    pub fn user(&self, uid: Uid) -> Result<&User, Error> {
        match self.state.users.get(&uid) {
            Some(Some(u)) => Ok(u),
            _ => Err(missing("user")),
        }
    }

    /// The identity names in resolution order.
    pub fn identity_names(&self) -> Result<&[IdentityName], Error> {
        self.state
            .identity_names
            .as_deref()
            .ok_or_else(|| missing("identity names"))
    }

    /// The UMS configuration.
    pub fn ums(&self) -> Result<&UmsConfig, Error> {
        self.state.ums.as_ref().ok_or_else(|| missing("ums config"))
    }

    /// Takes the next uid.
    pub fn take_uid(&mut self) -> Result<Uid, Error> {
        let uid = self.state.next_uid.ok_or_else(|| missing("next uid"))?;
        self.state.next_uid = Some(uid.next());
        Ok(uid)
    }
}

/// A rule decided on facts it had not asked for: a bug, reported as internal.
fn missing(what: &str) -> Error {
    Error::Internal(format!("rule decided without loading {what}"))
}

/// What a rule decided: its outcome, the mutations that make it so, in order, and the
/// credentials to store with them.
#[derive(Debug)]
pub struct Plan<O> {
    /// The answer.
    pub outcome: O,
    /// The changes.
    pub mutations: Vec<Mutation>,
    /// Credentials written with them.
    pub secrets: Vec<Secret>,
}

/// What is still missing before `rule` can be planned on `state`: what it asks for,
/// and the app itself when it must exist. Load it and ask again until it is empty.
pub fn needs<R: Rule + ?Sized>(rule: &R, state: &State) -> Needs {
    let mut needs = rule.needs(state);
    needs.app |= R::APP_MUST_EXIST && state.app.is_none();
    needs
}

/// Runs `rule` to its plan on `state`, whose facts the caller has loaded until
/// [`needs`] came back empty. On refusal `state` may hold half a plan: discard it.
pub fn plan<R: Rule + ?Sized>(rule: &R, state: &mut State) -> Result<Plan<R::Outcome>, Error> {
    let mut planner = Planner::new(state);
    if R::APP_MUST_EXIST {
        planner.app()?;
    }
    let outcome = rule.decide(&mut planner)?;
    let (mutations, secrets) = planner.finish();
    Ok(Plan {
        outcome,
        mutations,
        secrets,
    })
}

#[cfg(test)]
mod tests;
