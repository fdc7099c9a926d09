//! Bulk import of devices: each line inserts, updates or leaves a device as it is, on
//! its own (a refused line changes nothing and does not stop the others).

use super::devices::record_day;
use super::labels::{alias_room, tag_set};
use super::{Mutation, Needs, Planner, Rule, State};
use crate::bulk::DeviceLine;
use crate::error::Error;
use crate::ids::Cid;
use crate::Device;

/// What an import line did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Imported {
    /// A new device.
    Inserted,
    /// A known device changed.
    Updated,
    /// A known device already was as the line says.
    Unchanged,
}

/// Imports device lines (shape-checked by [`DeviceLine::checked`]), each in input
/// order and seeing the lines before it; the outcome is each line's result.
#[derive(Debug, Clone)]
pub struct ImportDevices {
    /// The lines.
    pub lines: Vec<DeviceLine>,
    /// Registration time of new devices that bring none, ms.
    pub now: i64,
}

/// `given` when present, else `old`.
fn set<T: Clone>(old: &mut T, given: &Option<T>) {
    if let Some(v) = given {
        old.clone_from(v);
    }
}

/// A device's own facts after a line (alias and tags stay: their own mutations move them).
fn facts(old: &Device, l: &DeviceLine) -> Device {
    let mut d = old.clone();
    set(&mut d.kind, &l.kind);
    set(&mut d.phone_type, &l.phone_type);
    set(&mut d.brand, &l.brand);
    set(&mut d.phone_model, &l.phone_model);
    set(&mut d.package_name, &l.package_name);
    set(&mut d.client_app_id, &l.client_app_id);
    set(&mut d.device_token, &l.device_token);
    set(&mut d.device_token_type, &l.device_token_type);
    set(&mut d.notification_switch, &l.notification_switch);
    set(&mut d.region, &l.region);
    set(&mut d.app_version, &l.app_version);
    set(&mut d.os, &l.os);
    set(&mut d.properties, &l.properties);
    set(&mut d.online, &l.online);
    set(&mut d.create_time, &l.create_time);
    set(&mut d.last_login_time, &l.last_login_time);
    set(&mut d.badge, &l.badge);
    set(&mut d.blacklisted, &l.blacklisted);
    d
}

impl ImportDevices {
    fn one(&self, plan: &mut Planner<'_>, l: &DeviceLine) -> Result<Imported, Error> {
        let cid: &Cid = l.cid.as_ref().ok_or_else(|| Error::empty("cid"))?;
        let tags = l.tags.as_deref().map(tag_set).transpose()?;
        let before = plan.mutations_len();
        let outcome = match plan.device(cid)?.cloned() {
            None => {
                let phone_type = l.phone_type.ok_or_else(|| Error::empty("phone_type"))?;
                if let Some(Some(a)) = &l.alias {
                    alias_room(plan.state(), a, 1)?;
                }
                let ordinal = u32::try_from(plan.app()?.next_ordinal)
                    .map_err(|_| Error::over_limit("devices"))?;
                let create_time = l.create_time.or(l.last_login_time).unwrap_or(self.now);
                let blank = Device {
                    cid: cid.clone(),
                    kind: Default::default(),
                    phone_type,
                    brand: None,
                    phone_model: None,
                    package_name: None,
                    client_app_id: None,
                    device_token: None,
                    device_token_type: None,
                    notification_switch: true,
                    region: None,
                    app_version: None,
                    os: None,
                    properties: Default::default(),
                    online: false,
                    create_time,
                    last_login_time: l.last_login_time.unwrap_or(create_time),
                    login_freq: 0,
                    badge: 0,
                    blacklisted: false,
                    alias: l.alias.clone().flatten(),
                    tags: tags.unwrap_or_default(),
                };
                let device = facts(&blank, l);
                let last_login = device.last_login_time;
                plan.emit(Mutation::DeviceInserted {
                    ordinal,
                    device: Box::new(device),
                });
                if l.login_days.is_none() {
                    // As a registration does: its first login is a login day.
                    record_day(plan, cid, crate::time::cst_day(last_login));
                }
                Imported::Inserted
            }
            Some(old) => {
                let alias = l.alias.as_ref().filter(|a| **a != old.device.alias);
                if let Some(Some(a)) = alias {
                    alias_room(plan.state(), a, 1)?;
                }
                let after = facts(&old.device, l);
                let ordinal = old.ordinal;
                if after != old.device {
                    plan.emit(Mutation::DeviceUpdated {
                        ordinal,
                        before: Box::new(old.device.clone()),
                        after: Box::new(after),
                    });
                }
                match alias {
                    Some(Some(a)) => plan.emit(Mutation::AliasBound {
                        cid: cid.clone(),
                        ordinal,
                        alias: a.clone(),
                        previous: old.device.alias.clone(),
                    }),
                    Some(None) => {
                        if let Some(a) = &old.device.alias {
                            plan.emit(Mutation::AliasUnbound {
                                cid: cid.clone(),
                                ordinal,
                                alias: a.clone(),
                            });
                        }
                    }
                    None => {}
                }
                if let Some(tags) = tags.filter(|t| *t != old.device.tags) {
                    plan.emit(Mutation::TagsSet {
                        cid: cid.clone(),
                        ordinal,
                        tags,
                        previous: old.device.tags.clone(),
                    });
                }
                Imported::Updated
            }
        };
        for day in l.login_days.iter().flatten() {
            record_day(plan, cid, day.0);
        }
        Ok(match outcome {
            Imported::Updated if plan.mutations_len() == before => Imported::Unchanged,
            o => o,
        })
    }
}

/// Each line's result, in order: a refused line is its error and the others go on; an
/// internal error (a rule that decided without its facts) is a bug and fails them all.
pub(super) fn per_line<L>(
    plan: &mut Planner<'_>,
    lines: &[L],
    mut one: impl FnMut(&mut Planner<'_>, &L) -> Result<Imported, Error>,
) -> Result<Vec<Result<Imported, Error>>, Error> {
    let mut out = Vec::with_capacity(lines.len());
    for l in lines {
        match one(plan, l) {
            Err(e @ Error::Internal(_)) => return Err(e),
            r => out.push(r),
        }
    }
    Ok(out)
}

impl Rule for ImportDevices {
    type Outcome = Vec<Result<Imported, Error>>;

    fn needs(&self, state: &State) -> Needs {
        state.wants(|w| {
            let cids = || self.lines.iter().filter_map(|l| l.cid.as_ref());
            w.app().devices(cids()).login_days(cids());
            w.alias_members(
                self.lines
                    .iter()
                    .filter_map(|l| l.alias.as_ref().and_then(Option::as_ref)),
            );
        })
    }

    fn decide(&self, plan: &mut Planner<'_>) -> Result<Self::Outcome, Error> {
        per_line(plan, &self.lines, |plan, l| self.one(plan, l))
    }
}
