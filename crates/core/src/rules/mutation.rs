//! The vocabulary of change: every state change roster makes is one [`Mutation`].
//! Each names its subject (cid and ordinal, uid, or app-level name) and carries the new
//! value and, where a follower needs it to undo the old one, the previous value (an
//! index moves a device out of its old brand's bitmap; a feed shows before and after).
//! Credentials are not registry changes: they travel beside the plan as [`Secret`]s.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{AppFacts, State, StoredDevice, UmsConfig};
use crate::ids::{Alias, Cid, TagName};
use crate::ums::{SenderKind, UmsField};
use crate::user::{IdentityName, Uid, User};
use crate::{AppCredentials, Device, DtType};

/// One committed change of an app's registry. Its JSON form (tagged by `kind`, in
/// snake_case) is the line of the change log and feed ([`crate::change`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Mutation {
    /// The app was created.
    AppCreated {
        /// Display name.
        name: String,
        /// Creation time, ms.
        created_at: i64,
    },
    /// The bind_dt channels enabled beyond the defaults were replaced.
    DtTypesSet {
        /// The new set.
        types: Vec<DtType>,
    },
    /// A new device, with the ordinal it was given.
    DeviceInserted {
        /// Its ordinal.
        ordinal: u32,
        /// Every fact.
        device: Box<Device>,
    },
    /// A device's own facts were updated (upsert of a known cid).
    DeviceUpdated {
        /// Its ordinal.
        ordinal: u32,
        /// The facts before.
        before: Box<Device>,
        /// The facts after.
        after: Box<Device>,
    },
    /// A device's tags were replaced.
    TagsSet {
        /// The device.
        cid: Cid,
        /// Its ordinal.
        ordinal: u32,
        /// The new tags, sorted.
        tags: Vec<TagName>,
        /// The tags before.
        previous: Vec<TagName>,
    },
    /// A tag was added to a device.
    TagAdded {
        /// The device.
        cid: Cid,
        /// Its ordinal.
        ordinal: u32,
        /// The tag.
        tag: TagName,
    },
    /// A tag was removed from a device.
    TagRemoved {
        /// The device.
        cid: Cid,
        /// Its ordinal.
        ordinal: u32,
        /// The tag.
        tag: TagName,
    },
    /// A device was bound to an alias (moving it from its previous one).
    AliasBound {
        /// The device.
        cid: Cid,
        /// Its ordinal.
        ordinal: u32,
        /// The alias.
        alias: Alias,
        /// The alias it had.
        previous: Option<Alias>,
    },
    /// A device left its alias.
    AliasUnbound {
        /// The device.
        cid: Cid,
        /// Its ordinal.
        ordinal: u32,
        /// The alias it had.
        alias: Alias,
    },
    /// A device's blacklist flag was set or cleared.
    BlacklistSet {
        /// The device.
        cid: Cid,
        /// Its ordinal.
        ordinal: u32,
        /// Blacklisted or not.
        on: bool,
    },
    /// A device's badge was set.
    BadgeSet {
        /// The device.
        cid: Cid,
        /// Its ordinal.
        ordinal: u32,
        /// The new badge.
        badge: i64,
    },
    /// A device went online or offline.
    PresenceSet {
        /// The device.
        cid: Cid,
        /// Its ordinal.
        ordinal: u32,
        /// Online or not.
        online: bool,
    },
    /// A device logged in: online, with its last login time.
    LoggedIn {
        /// The device.
        cid: Cid,
        /// Its ordinal.
        ordinal: u32,
        /// The new last login time, ms.
        last_login_time: i64,
    },
    /// A device opened push copy (the engagement smart crowds score).
    DeviceOpened {
        /// The device.
        cid: Cid,
        /// Its ordinal.
        ordinal: u32,
        /// The topic and content it opened.
        text: String,
        /// When, ms.
        at: i64,
    },
    /// A login day was recorded; days before `forget_before` no longer count.
    LoginDayRecorded {
        /// The device.
        cid: Cid,
        /// CST day number.
        day: i64,
        /// Days before this one may be forgotten.
        forget_before: i64,
    },
    /// A vendor channel token was bound to a device.
    DeviceTokenBound {
        /// The device.
        cid: Cid,
        /// Its ordinal.
        ordinal: u32,
        /// The channel.
        #[serde(rename = "channel")]
        kind: DtType,
        /// The token.
        token: String,
        /// The brand after.
        brand: Option<String>,
        /// The brand before.
        previous_brand: Option<String>,
    },
    /// A device's vendor channel token was unbound.
    DeviceTokenUnbound {
        /// The device.
        cid: Cid,
        /// Its ordinal.
        ordinal: u32,
        /// The channel.
        #[serde(rename = "channel")]
        kind: DtType,
        /// The brand after.
        brand: Option<String>,
        /// The brand before.
        previous_brand: Option<String>,
    },
    /// A user was created.
    UserCreated {
        /// Its permanent id.
        uid: Uid,
        /// Creation time, ms.
        created_at: i64,
    },
    /// A user was deleted with its identities, contacts and bindings.
    UserDeleted {
        /// The user.
        uid: Uid,
    },
    /// An identity value was attached to a user (moving it from its previous holder).
    IdentitySet {
        /// The user.
        uid: Uid,
        /// Identity name.
        name: String,
        /// Value.
        value: String,
        /// Who held it before.
        previous: Option<Uid>,
    },
    /// An identity value left its user.
    IdentityRemoved {
        /// The user.
        uid: Uid,
        /// Identity name.
        name: String,
        /// Value.
        value: String,
    },
    /// A user's properties were replaced (by their merge with new ones).
    UserPropertiesSet {
        /// The user.
        uid: Uid,
        /// All properties after.
        properties: Map<String, Value>,
    },
    /// A contact of a user was set.
    ContactSet {
        /// The user.
        uid: Uid,
        /// Contact kind.
        #[serde(rename = "contact")]
        kind: String,
        /// Value.
        value: String,
    },
    /// A contact of a user was removed.
    ContactRemoved {
        /// The user.
        uid: Uid,
        /// Contact kind.
        #[serde(rename = "contact")]
        kind: String,
    },
    /// A UMS binding value was added.
    BindingSet(Binding),
    /// A UMS binding value was removed.
    BindingRemoved(Binding),
    /// A UMS channel was created (its secret is a [`Secret`]).
    UmsChannelCreated {
        /// Channel key.
        channel_key: String,
        /// Channel code.
        code: String,
    },
    /// A UMS sender was created.
    UmsSenderCreated {
        /// Sender code.
        code: String,
        /// Kind.
        #[serde(rename = "sender_kind")]
        kind: SenderKind,
    },
    /// A channel was allowed to write a sender's bindings.
    UmsSenderGranted {
        /// Channel key.
        channel_key: String,
        /// Sender code.
        sender_code: String,
    },
    /// A custom identity name was created.
    IdentityNameCreated {
        /// The name.
        name: IdentityName,
    },
    /// A device was deleted with its tags, alias and login days; its ordinal is never
    /// given again (a later registration of the cid is a new device).
    DeviceDeleted {
        /// Its ordinal.
        ordinal: u32,
        /// Every fact it had (tags and alias included), for followers to undo.
        device: Box<Device>,
    },
}

/// One value of a user's UMS field under a bind id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    /// The user.
    pub uid: Uid,
    /// Field.
    pub field: UmsField,
    /// Bind id.
    pub bind_id: String,
    /// Value.
    pub value: String,
}

impl Binding {
    /// As a user's bindings list it: (field, bind id, value).
    pub fn triple(&self) -> (String, String, String) {
        (
            self.field.as_str().to_owned(),
            self.bind_id.clone(),
            self.value.clone(),
        )
    }
}

/// A credential written with a plan; kept out of [`Mutation`] so that no log or feed of
/// changes ever carries one.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// The credentials of a new app.
    App(Box<AppCredentials>),
    /// A new UMS channel's master secret.
    UmsChannel {
        /// Channel key.
        channel_key: String,
        /// Secret.
        secret: String,
        /// When it was issued, ms.
        created_at: i64,
    },
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Secret::App(_) => f.write_str("Secret::App(..)"),
            Secret::UmsChannel { .. } => f.write_str("Secret::UmsChannel(..)"),
        }
    }
}

impl Mutation {
    /// The device a mutation changes, with its ordinal.
    pub fn device(&self) -> Option<(&Cid, u32)> {
        match self {
            Mutation::DeviceInserted { ordinal, device }
            | Mutation::DeviceDeleted { ordinal, device } => Some((&device.cid, *ordinal)),
            Mutation::DeviceUpdated { ordinal, after, .. } => Some((&after.cid, *ordinal)),
            Mutation::TagsSet { cid, ordinal, .. }
            | Mutation::TagAdded { cid, ordinal, .. }
            | Mutation::TagRemoved { cid, ordinal, .. }
            | Mutation::AliasBound { cid, ordinal, .. }
            | Mutation::AliasUnbound { cid, ordinal, .. }
            | Mutation::BlacklistSet { cid, ordinal, .. }
            | Mutation::BadgeSet { cid, ordinal, .. }
            | Mutation::PresenceSet { cid, ordinal, .. }
            | Mutation::LoggedIn { cid, ordinal, .. }
            | Mutation::DeviceOpened { cid, ordinal, .. }
            | Mutation::DeviceTokenBound { cid, ordinal, .. }
            | Mutation::DeviceTokenUnbound { cid, ordinal, .. } => Some((cid, *ordinal)),
            _ => None,
        }
    }
}

impl State {
    fn device_mut(&mut self, cid: &Cid) -> Option<&mut Device> {
        self.devices
            .get_mut(cid)
            .and_then(Option::as_mut)
            .map(|d| &mut d.device)
    }

    fn user_mut(&mut self, uid: Uid) -> Option<&mut User> {
        self.users.get_mut(&uid).and_then(Option::as_mut)
    }

    fn with_user(&mut self, uid: Uid, change: impl FnOnce(&mut User)) {
        if let Some(u) = self.user_mut(uid) {
            change(u);
        }
    }

    fn alias_leave(&mut self, alias: &Alias, cid: &Cid) {
        if let Some(m) = self.alias_members.get_mut(alias) {
            m.retain(|c| c != cid);
        }
    }

    /// Applies a mutation to the facts held (facts not loaded stay not loaded). With
    /// everything loaded this is a complete in-memory store.
    pub fn apply(&mut self, m: &Mutation) {
        match m {
            Mutation::AppCreated { .. } => {
                self.app = Some(Some(AppFacts {
                    next_ordinal: 0,
                    enabled_dt_types: Vec::new(),
                    seq: 0,
                }));
                self.identity_names = Some(IdentityName::builtins().into());
                self.ums = Some(UmsConfig::default());
            }
            Mutation::DtTypesSet { types } => {
                if let Some(Some(a)) = &mut self.app {
                    a.enabled_dt_types = types.clone();
                }
            }
            Mutation::DeviceInserted { ordinal, device } => {
                if let Some(Some(a)) = &mut self.app {
                    a.next_ordinal = a.next_ordinal.max(i64::from(*ordinal) + 1);
                }
                self.devices.insert(
                    device.cid.clone(),
                    Some(StoredDevice {
                        ordinal: *ordinal,
                        device: (**device).clone(),
                    }),
                );
                if let Some(a) = &device.alias {
                    if let Some(m) = self.alias_members.get_mut(a) {
                        m.push(device.cid.clone());
                    }
                }
                self.foreign.remove(device.cid.as_str());
                self.login_days.entry(device.cid.clone()).or_default();
            }
            Mutation::DeviceUpdated { after, .. } => {
                if let Some(d) = self.device_mut(&after.cid) {
                    *d = (**after).clone();
                }
            }
            Mutation::TagsSet { cid, tags, .. } => {
                if let Some(d) = self.device_mut(cid) {
                    d.tags = tags.clone();
                }
            }
            Mutation::TagAdded { cid, tag, .. } => {
                if let Some(d) = self.device_mut(cid) {
                    if let Err(at) = d.tags.binary_search(tag) {
                        d.tags.insert(at, tag.clone());
                    }
                }
            }
            Mutation::TagRemoved { cid, tag, .. } => {
                if let Some(d) = self.device_mut(cid) {
                    d.tags.retain(|t| t != tag);
                }
            }
            Mutation::AliasBound {
                cid,
                alias,
                previous,
                ..
            } => {
                if let Some(p) = previous {
                    self.alias_leave(p, cid);
                }
                if let Some(m) = self.alias_members.get_mut(alias) {
                    if !m.contains(cid) {
                        m.push(cid.clone());
                    }
                }
                if let Some(d) = self.device_mut(cid) {
                    d.alias = Some(alias.clone());
                }
            }
            Mutation::AliasUnbound { cid, alias, .. } => {
                self.alias_leave(alias, cid);
                if let Some(d) = self.device_mut(cid) {
                    d.alias = None;
                }
            }
            Mutation::BlacklistSet { cid, on, .. } => {
                if let Some(d) = self.device_mut(cid) {
                    d.blacklisted = *on;
                }
            }
            Mutation::BadgeSet { cid, badge, .. } => {
                if let Some(d) = self.device_mut(cid) {
                    d.badge = *badge;
                }
            }
            Mutation::PresenceSet { cid, online, .. } => {
                if let Some(d) = self.device_mut(cid) {
                    d.online = *online;
                }
            }
            Mutation::LoggedIn {
                cid,
                last_login_time,
                ..
            } => {
                if let Some(d) = self.device_mut(cid) {
                    d.online = true;
                    d.last_login_time = *last_login_time;
                }
            }
            // Opens are history the state does not hold.
            Mutation::DeviceOpened { .. } => {}
            Mutation::LoginDayRecorded {
                cid,
                day,
                forget_before,
            } => {
                if let Some(days) = self.login_days.get_mut(cid) {
                    days.insert(*day);
                    days.retain(|d| d >= forget_before);
                }
            }
            Mutation::DeviceTokenBound {
                cid,
                kind,
                token,
                brand,
                ..
            } => {
                if let Some(d) = self.device_mut(cid) {
                    d.device_token = Some(token.clone());
                    d.device_token_type = Some(*kind);
                    d.brand = brand.clone();
                }
            }
            Mutation::DeviceTokenUnbound { cid, brand, .. } => {
                if let Some(d) = self.device_mut(cid) {
                    d.device_token = None;
                    d.device_token_type = None;
                    d.brand = brand.clone();
                }
            }
            Mutation::UserCreated { uid, .. } => {
                self.users.insert(
                    *uid,
                    Some(User {
                        uid: *uid,
                        identities: Vec::new(),
                        properties: Map::new(),
                        contacts: Vec::new(),
                        bindings: Vec::new(),
                    }),
                );
                if let Some(n) = &mut self.next_uid {
                    *n = (*n).max(uid.next());
                }
            }
            Mutation::UserDeleted { uid } => {
                if let Some(Some(u)) = self.users.insert(*uid, None) {
                    for (name, value) in u.identities {
                        self.identities.insert((name, value), None);
                    }
                }
                for holder in self.identities.values_mut() {
                    if *holder == Some(*uid) {
                        *holder = None;
                    }
                }
            }
            Mutation::IdentitySet {
                uid,
                name,
                value,
                previous,
            } => {
                let pair = (name.clone(), value.clone());
                if let Some(p) = previous.filter(|p| p != uid) {
                    if let Some(u) = self.user_mut(p) {
                        u.identities.retain(|i| i != &pair);
                    }
                }
                if let Some(u) = self.user_mut(*uid) {
                    if let Err(at) = u.identities.binary_search(&pair) {
                        u.identities.insert(at, pair.clone());
                    }
                }
                self.identities.insert(pair, Some(*uid));
            }
            Mutation::IdentityRemoved { uid, name, value } => {
                let pair = (name.clone(), value.clone());
                if let Some(u) = self.user_mut(*uid) {
                    u.identities.retain(|i| i != &pair);
                }
                self.identities.insert(pair, None);
            }
            Mutation::UserPropertiesSet { uid, properties } => {
                self.with_user(*uid, |u| u.properties = properties.clone());
            }
            Mutation::ContactSet { uid, kind, value } => self.with_user(*uid, |u| {
                match u.contacts.binary_search_by(|(k, _)| k.cmp(kind)) {
                    Ok(at) => u.contacts[at].1 = value.clone(),
                    Err(at) => u.contacts.insert(at, (kind.clone(), value.clone())),
                }
            }),
            Mutation::ContactRemoved { uid, kind } => {
                self.with_user(*uid, |u| u.contacts.retain(|(k, _)| k != kind));
            }
            Mutation::BindingSet(b) => {
                let t = b.triple();
                self.with_user(b.uid, |u| {
                    if let Err(at) = u.bindings.binary_search(&t) {
                        u.bindings.insert(at, t);
                    }
                });
            }
            Mutation::BindingRemoved(b) => {
                let t = b.triple();
                self.with_user(b.uid, |u| u.bindings.retain(|x| x != &t));
            }
            // Kept in key order, the order every backend reads them in.
            Mutation::UmsChannelCreated { channel_key, code } => {
                if let Some(c) = &mut self.ums {
                    insert_sorted(&mut c.channels, (channel_key.clone(), code.clone()));
                }
            }
            Mutation::UmsSenderCreated { code, kind } => {
                if let Some(c) = &mut self.ums {
                    insert_sorted(&mut c.senders, (code.clone(), *kind));
                }
            }
            Mutation::UmsSenderGranted {
                channel_key,
                sender_code,
            } => {
                if let Some(c) = &mut self.ums {
                    let g = (channel_key.clone(), sender_code.clone());
                    if let Err(at) = c.grants.binary_search(&g) {
                        c.grants.insert(at, g);
                    }
                }
            }
            Mutation::IdentityNameCreated { name } => {
                if let Some(names) = &mut self.identity_names {
                    names.push(name.clone());
                    names.sort_by_key(IdentityName::resolution_key);
                }
            }
            Mutation::DeviceDeleted { device, .. } => {
                if let Some(a) = &device.alias {
                    self.alias_leave(a, &device.cid);
                }
                self.devices.insert(device.cid.clone(), None);
                self.login_days.remove(&device.cid);
            }
        }
    }
}

/// Inserts `item` into a list sorted by its (unique) first field.
fn insert_sorted<V>(list: &mut Vec<(String, V)>, item: (String, V)) {
    if let Err(at) = list.binary_search_by(|(k, _)| k.cmp(&item.0)) {
        list.insert(at, item);
    }
}
