//! The identity graph: UMS bindings, Growth get-or-create, native identify, deletion.

use super::{Binding, Imported, Mutation, Needs, Planner, Rule, State, Want};
use crate::bulk::UserLine;
use crate::error::Error;
use crate::ids::Cid;
use crate::ums::{BindKind, UmsField, UmsUserChanges, UmsVerb, BIND_ALL};
use crate::user::{Identify, IdentityName, Uid, REGISTRATION_ID, USER_ID};

/// Creates a user at `now`.
fn new_user(plan: &mut Planner<'_>, now: i64) -> Result<Uid, Error> {
    let uid = plan.take_uid()?;
    plan.emit(Mutation::UserCreated {
        uid,
        created_at: now,
    });
    Ok(uid)
}

/// Attaches an identity value to `uid`, moving it from whichever user held it; a
/// unique name first drops the user's other values of that name.
fn attach(
    plan: &mut Planner<'_>,
    name: &str,
    value: &str,
    uid: Uid,
    unique: bool,
) -> Result<(), Error> {
    if unique {
        let others: Vec<String> = plan
            .user(uid)?
            .identities
            .iter()
            .filter(|(n, v)| n == name && v != value)
            .map(|(_, v)| v.clone())
            .collect();
        for v in others {
            plan.emit(Mutation::IdentityRemoved {
                uid,
                name: name.to_owned(),
                value: v,
            });
        }
    }
    let previous = plan.holder(name, value)?;
    if previous != Some(uid) {
        plan.emit(Mutation::IdentitySet {
            uid,
            name: name.to_owned(),
            value: value.to_owned(),
            previous,
        });
    }
    Ok(())
}

pub(super) fn detach(
    plan: &mut Planner<'_>,
    name: &str,
    value: &str,
    uid: Uid,
) -> Result<(), Error> {
    if plan.holder(name, value)? == Some(uid) {
        plan.emit(Mutation::IdentityRemoved {
            uid,
            name: name.to_owned(),
            value: value.to_owned(),
        });
    }
    Ok(())
}

/// Whether a value names a device of the app (a registration id).
fn is_device(plan: &Planner<'_>, value: &str) -> Result<bool, Error> {
    match Cid::parse(value) {
        Ok(cid) => Ok(plan.device(&cid)?.is_some()),
        Err(_) => Ok(false),
    }
}

/// The current values of (field, bind id) of a user: phone and email under `all` are
/// the user's contacts.
fn values(
    plan: &Planner<'_>,
    uid: Uid,
    field: UmsField,
    bind_id: &str,
) -> Result<Vec<String>, Error> {
    let u = plan.user(uid)?;
    if let Some(kind) = contact(field, bind_id) {
        return Ok(u
            .contacts
            .iter()
            .filter(|(k, _)| k == kind)
            .map(|(_, v)| v.clone())
            .collect());
    }
    Ok(u.bindings
        .iter()
        .filter(|(f, b, _)| f == field.as_str() && b == bind_id)
        .map(|(_, _, v)| v.clone())
        .collect())
}

/// A user's contact of one kind.
fn contact_value(plan: &Planner<'_>, uid: Uid, kind: &str) -> Result<Option<String>, Error> {
    Ok(plan
        .user(uid)?
        .contacts
        .iter()
        .find(|(k, _)| k == kind)
        .map(|(_, v)| v.clone()))
}

fn contact(field: UmsField, bind_id: &str) -> Option<&'static str> {
    (bind_id == BIND_ALL)
        .then(|| field.contact_kind())
        .flatten()
}

/// Binds (`on`) or unbinds one value of (field, bind id): phone and email under `all`
/// are the user's contacts; app registration ids also join or leave the identity graph.
pub(super) fn bind(plan: &mut Planner<'_>, b: Binding, on: bool) -> Result<(), Error> {
    let (uid, field) = (b.uid, b.field);
    if let Some(kind) = contact(field, &b.bind_id) {
        let has = contact_value(plan, uid, kind)?.as_deref() == Some(b.value.as_str());
        let kind = kind.to_owned();
        match (on, has) {
            (true, false) => plan.emit(Mutation::ContactSet {
                uid,
                kind,
                value: b.value,
            }),
            (false, true) => plan.emit(Mutation::ContactRemoved { uid, kind }),
            _ => {}
        }
        return Ok(());
    }
    let value = b.value.clone();
    let has = values(plan, uid, field, &b.bind_id)?.contains(&value);
    match (on, has) {
        (true, false) => plan.emit(Mutation::BindingSet(b)),
        (false, true) => plan.emit(Mutation::BindingRemoved(b)),
        _ => {}
    }
    match field {
        UmsField::App if on && is_device(plan, &value)? => {
            attach(plan, REGISTRATION_ID, &value, uid, false)
        }
        UmsField::App if !on => detach(plan, REGISTRATION_ID, &value, uid),
        _ => Ok(()),
    }
}

/// Applies validated UMS changes, upserting users by userid, all or nothing.
#[derive(Debug, Clone)]
pub struct UmsApply {
    /// The users' changes.
    pub users: Vec<UmsUserChanges>,
    /// Creation time of new users, ms.
    pub now: i64,
}

impl UmsApply {
    fn app_values(&self) -> impl Iterator<Item = &String> {
        self.users
            .iter()
            .flat_map(|u| &u.changes)
            .filter(|c| c.field == UmsField::App)
            .flat_map(|c| &c.values)
    }
}

impl Rule for UmsApply {
    type Outcome = ();

    fn needs(&self, state: &State) -> Needs {
        let mut w = Want::new(state);
        for u in &self.users {
            w.identity(USER_ID, &u.userid);
        }
        let cids: Vec<Cid> = self
            .app_values()
            .filter_map(|v| Cid::parse(v.as_str()).ok())
            .collect();
        w.devices(&cids);
        for v in self.app_values() {
            w.identity(REGISTRATION_ID, v);
        }
        if w.missing() {
            return w.done();
        }
        let holders: Vec<Uid> = self
            .users
            .iter()
            .filter_map(|u| {
                state
                    .identities
                    .get(&(USER_ID.to_owned(), u.userid.clone()))
            })
            .flatten()
            .copied()
            .collect();
        w.users(holders.iter().copied());
        if w.missing() {
            return w.done();
        }
        // A `set` may drop registration ids the users hold today.
        for uid in &holders {
            if let Some(Some(user)) = state.users.get(uid) {
                for (_, _, v) in user
                    .bindings
                    .iter()
                    .filter(|(f, _, _)| f == UmsField::App.as_str())
                {
                    w.identity(REGISTRATION_ID, v);
                }
            }
        }
        let new_user = self.users.iter().any(|u| {
            matches!(
                state
                    .identities
                    .get(&(USER_ID.to_owned(), u.userid.clone())),
                Some(None)
            )
        });
        if new_user {
            w.next_uid();
        }
        w.done()
    }

    fn decide(&self, plan: &mut Planner<'_>) -> Result<(), Error> {
        for u in &self.users {
            let uid = match plan.holder(USER_ID, &u.userid)? {
                Some(uid) => uid,
                None => {
                    let uid = new_user(plan, self.now)?;
                    attach(plan, USER_ID, &u.userid, uid, true)?;
                    uid
                }
            };
            let mut changes = u.changes.clone();
            changes.sort_by_key(|c| c.verb);
            for c in &changes {
                let binding = |value: &str| Binding {
                    uid,
                    field: c.field,
                    bind_id: c.bind_id.clone(),
                    value: value.to_owned(),
                };
                if c.verb == UmsVerb::Set {
                    for old in values(plan, uid, c.field, &c.bind_id)? {
                        if !c.values.contains(&old) {
                            bind(plan, binding(&old), false)?;
                        }
                    }
                }
                for v in &c.values {
                    bind(plan, binding(v), c.verb != UmsVerb::Del)?;
                }
            }
        }
        Ok(())
    }
}

/// Deletes users by userid with everything bound to them; per userid, whether it
/// existed.
#[derive(Debug, Clone)]
pub struct DeleteUmsUsers {
    /// The userids.
    pub userids: Vec<String>,
}

impl Rule for DeleteUmsUsers {
    type Outcome = Vec<bool>;

    fn needs(&self, state: &State) -> Needs {
        let mut w = Want::new(state);
        for u in &self.userids {
            w.identity(USER_ID, u);
        }
        if !w.missing() {
            let uids = self
                .userids
                .iter()
                .filter_map(|u| state.identities.get(&(USER_ID.to_owned(), u.clone())))
                .flatten()
                .copied();
            w.users(uids);
        }
        w.done()
    }

    fn decide(&self, plan: &mut Planner<'_>) -> Result<Vec<bool>, Error> {
        let mut out = Vec::with_capacity(self.userids.len());
        for userid in &self.userids {
            match plan.holder(USER_ID, userid)? {
                Some(uid) => {
                    plan.emit(Mutation::UserDeleted { uid });
                    out.push(true);
                }
                None => out.push(false),
            }
        }
        Ok(out)
    }
}

/// Get-or-create: the uid of each value of an identity name, creating users as needed.
#[derive(Debug, Clone)]
pub struct RegisterIdentities {
    /// Identity name.
    pub name: String,
    /// Values.
    pub values: Vec<String>,
    /// Creation time of new users, ms.
    pub now: i64,
}

fn find_name<'a>(names: &'a [IdentityName], name: &str) -> Option<&'a IdentityName> {
    names.iter().find(|n| n.name == name)
}

impl Rule for RegisterIdentities {
    type Outcome = Vec<Uid>;

    fn needs(&self, state: &State) -> Needs {
        let mut w = Want::new(state);
        w.identity_names();
        for v in &self.values {
            w.identity(&self.name, v);
        }
        if !w.missing() {
            let new = self.values.iter().any(|v| {
                matches!(
                    state.identities.get(&(self.name.clone(), v.clone())),
                    Some(None)
                )
            });
            if new {
                w.next_uid();
            }
        }
        w.done()
    }

    fn decide(&self, plan: &mut Planner<'_>) -> Result<Vec<Uid>, Error> {
        let unique = find_name(plan.identity_names()?, &self.name)
            .map(|n| n.unique)
            .ok_or_else(|| Error::NotFound("identity name".into()))?;
        let mut out = Vec::with_capacity(self.values.len());
        for v in &self.values {
            let uid = match plan.holder(&self.name, v)? {
                Some(uid) => uid,
                None => {
                    let uid = new_user(plan, self.now)?;
                    attach(plan, &self.name, v, uid, unique)?;
                    uid
                }
            };
            out.push(uid);
        }
        Ok(out)
    }
}

/// Resolves identities to a user by priority (creating one if none matches), attaches
/// them all, and merges properties and contacts. The outcome is the uid and whether it
/// is new.
#[derive(Debug, Clone)]
pub struct IdentifyUser {
    /// What to resolve and attach.
    pub identify: Identify,
    /// Creation time of a new user, ms.
    pub now: i64,
}

impl Rule for IdentifyUser {
    type Outcome = (Uid, bool);

    fn needs(&self, state: &State) -> Needs {
        let mut w = Want::new(state);
        w.identity_names();
        let cids: Vec<Cid> = self
            .identify
            .identities
            .iter()
            .filter(|(n, _)| n == REGISTRATION_ID)
            .filter_map(|(_, v)| Cid::parse(v.as_str()).ok())
            .collect();
        w.devices(&cids);
        for (n, v) in &self.identify.identities {
            w.identity(n, v);
        }
        if w.missing() {
            return w.done();
        }
        let holders: Vec<Uid> = self
            .identify
            .identities
            .iter()
            .filter_map(|(n, v)| state.identities.get(&(n.clone(), v.clone())))
            .flatten()
            .copied()
            .collect();
        if holders.is_empty() {
            w.next_uid();
        }
        w.users(holders);
        w.done()
    }

    fn decide(&self, plan: &mut Planner<'_>) -> Result<(Uid, bool), Error> {
        let mut ids = Vec::with_capacity(self.identify.identities.len());
        for (name, value) in &self.identify.identities {
            let n = find_name(plan.identity_names()?, name)
                .ok_or_else(|| Error::invalid(format!("identities.{name}")))?
                .clone();
            if n.name == REGISTRATION_ID && !is_device(plan, value)? {
                return Err(Error::UnknownTarget);
            }
            ids.push((n.resolution_key(), n.name, n.unique, value.clone()));
        }
        ids.sort();
        let mut found = None;
        for (_, name, _, value) in &ids {
            if let Some(uid) = plan.holder(name, value)? {
                found = Some(uid);
                break;
            }
        }
        let (uid, created) = match found {
            Some(uid) => (uid, false),
            None => (new_user(plan, self.now)?, true),
        };
        for (_, name, unique, value) in &ids {
            attach(plan, name, value, uid, *unique)?;
        }
        if !self.identify.properties.is_empty() {
            let mut merged = plan.user(uid)?.properties.clone();
            merged.extend(self.identify.properties.clone());
            if merged != plan.user(uid)?.properties {
                plan.emit(Mutation::UserPropertiesSet {
                    uid,
                    properties: merged,
                });
            }
        }
        for (kind, value) in &self.identify.contacts {
            if contact_value(plan, uid, kind)?.as_ref() != Some(value) {
                plan.emit(Mutation::ContactSet {
                    uid,
                    kind: kind.clone(),
                    value: value.clone(),
                });
            }
        }
        Ok((uid, created))
    }
}

/// Imports user lines (shape-checked by [`UserLine::checked`]), each in input order and
/// seeing the lines before it: the user is found or created by its identities as
/// [`IdentifyUser`] decides (custom identity names must exist, registration ids must be
/// devices of the app), then each binding is bound as [`UmsApply`] binds it (bind ids
/// must be channels or senders of the app). A refused line changes nothing.
#[derive(Debug, Clone)]
pub struct ImportUsers {
    /// The lines.
    pub lines: Vec<UserLine>,
    /// Creation time of new users, ms.
    pub now: i64,
}

/// Whether the app's UMS configuration has `bind_id` for `field`.
fn bind_id_known(cfg: &super::UmsConfig, field: UmsField, bind_id: &str) -> bool {
    match field.bind_kind() {
        BindKind::AllOnly => bind_id == BIND_ALL,
        BindKind::AllOrChannel => {
            bind_id == BIND_ALL || cfg.channels.iter().any(|(k, _)| k == bind_id)
        }
        BindKind::Sender(kind) => cfg.senders.iter().any(|(c, k)| c == bind_id && *k == kind),
    }
}

impl ImportUsers {
    fn one(&self, plan: &mut Planner<'_>, l: &UserLine) -> Result<Imported, Error> {
        let before = plan.mutations_len();
        for b in &l.bindings {
            if !bind_id_known(plan.ums()?, b.field, &b.bind_id) {
                return Err(Error::invalid(format!(
                    "bind_id {} of {} is not a channel key or sender code of this app",
                    b.bind_id,
                    b.field.as_str()
                )));
            }
        }
        let identify = IdentifyUser {
            identify: Identify {
                identities: l.identity_pairs(),
                properties: l.properties.clone(),
                contacts: l.contacts.clone().into_iter().collect(),
            },
            now: self.now,
        };
        let (uid, created) = identify.decide(plan)?;
        for b in &l.bindings {
            let binding = Binding {
                uid,
                field: b.field,
                bind_id: b.bind_id.clone(),
                value: b.value.clone(),
            };
            bind(plan, binding, true)?;
        }
        Ok(if created {
            Imported::Inserted
        } else if plan.mutations_len() == before {
            Imported::Unchanged
        } else {
            Imported::Updated
        })
    }
}

impl Rule for ImportUsers {
    type Outcome = Vec<Result<Imported, Error>>;

    fn needs(&self, state: &State) -> Needs {
        let mut w = Want::new(state);
        w.identity_names().ums();
        let pairs: Vec<(String, String)> = self
            .lines
            .iter()
            .flat_map(UserLine::identity_pairs)
            .collect();
        let app_values = || {
            self.lines
                .iter()
                .flat_map(|l| &l.bindings)
                .filter(|b| b.field == UmsField::App)
                .map(|b| b.value.as_str())
        };
        let cids: Vec<Cid> = pairs
            .iter()
            .filter(|(n, _)| n == REGISTRATION_ID)
            .map(|(_, v)| v.as_str())
            .chain(app_values())
            .filter_map(|v| Cid::parse(v).ok())
            .collect();
        w.devices(&cids);
        for (n, v) in &pairs {
            w.identity(n, v);
        }
        for v in app_values() {
            w.identity(REGISTRATION_ID, v);
        }
        if w.missing() {
            return w.done();
        }
        let holders: Vec<Uid> = pairs
            .iter()
            .filter_map(|k| state.identities.get(k))
            .flatten()
            .copied()
            .collect();
        let new_user = self.lines.iter().any(|l| {
            l.identity_pairs()
                .iter()
                .all(|k| matches!(state.identities.get(k), Some(None)))
        });
        if new_user {
            w.next_uid();
        }
        w.users(holders);
        w.done()
    }

    fn decide(&self, plan: &mut Planner<'_>) -> Result<Self::Outcome, Error> {
        super::import::per_line(plan, &self.lines, |plan, l| self.one(plan, l))
    }
}
