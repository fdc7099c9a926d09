//! Devices: upsert, status events, blacklist, badge and channel tokens.

use super::{Mutation, Needs, Planner, Rule, State, Want};
use crate::error::Error;
use crate::ids::Cid;
use crate::time::cst_day;
use crate::{limits, BadgeOp, Device, DeviceEvent, DeviceKind, DeviceUpsert, DtType};

/// Inserts or updates devices, all or none; the outcome is their cids in input order.
#[derive(Debug, Clone)]
pub struct UpsertDevices {
    /// The devices.
    pub devices: Vec<DeviceUpsert>,
    /// Registration time of new devices, ms.
    pub now: i64,
}

/// Registration is the device's first login (Getui: create_time is "首次登录时间").
fn login_day(plan: &mut Planner<'_>, cid: &Cid, at: i64) {
    record_day(plan, cid, cst_day(at));
}

/// Records CST day `day` as a login day of `cid` unless it is one already.
pub(super) fn record_day(plan: &mut Planner<'_>, cid: &Cid, day: i64) {
    let known = plan
        .state()
        .login_days
        .get(cid)
        .is_some_and(|days| days.contains(&day));
    if !known {
        // Days that can no longer count are dropped so the record stays bounded.
        plan.emit(Mutation::LoginDayRecorded {
            cid: cid.clone(),
            day,
            forget_before: day - 2 * limits::LOGIN_FREQ_DAYS,
        });
    }
}

/// The facts of a known device after an upsert: given fields replace, properties merge.
fn merged(old: &Device, d: &DeviceUpsert) -> Device {
    let mut new = old.clone();
    let keep = |given: &Option<String>, old: &mut Option<String>| {
        if given.is_some() {
            old.clone_from(given);
        }
    };
    if let Some(k) = d.kind {
        new.kind = k;
    }
    if let Some(p) = d.phone_type {
        new.phone_type = p;
    }
    keep(&d.brand, &mut new.brand);
    keep(&d.phone_model, &mut new.phone_model);
    keep(&d.package_name, &mut new.package_name);
    keep(&d.client_app_id, &mut new.client_app_id);
    if d.device_token.is_some() {
        // A token from the device itself is no longer the one a bind_dt channel bound.
        new.device_token.clone_from(&d.device_token);
        new.device_token_type = None;
    }
    if let Some(s) = d.notification_switch {
        new.notification_switch = s;
    }
    keep(&d.region, &mut new.region);
    keep(&d.app_version, &mut new.app_version);
    keep(&d.os, &mut new.os);
    if let Some(extra) = &d.properties {
        new.properties.extend(extra.clone());
    }
    if let Some(t) = d.create_time {
        new.create_time = t;
    }
    if let Some(t) = d.last_login_time {
        new.last_login_time = t;
    }
    new
}

/// A new device's registration and last login: as a migrated device brings them, else
/// now. With only one given, the other is the same instant.
fn history(d: &DeviceUpsert, now: i64) -> (i64, i64) {
    let create = d.create_time.or(d.last_login_time).unwrap_or(now);
    (create, d.last_login_time.unwrap_or(create))
}

impl Rule for UpsertDevices {
    type Outcome = Vec<Cid>;

    fn needs(&self, state: &State) -> Needs {
        state.wants(|w| {
            w.app()
                .devices(self.devices.iter().filter_map(|d| d.cid.as_ref()));
            w.login_days(self.devices.iter().filter_map(|d| d.cid.as_ref()));
        })
    }

    fn decide(&self, plan: &mut Planner<'_>) -> Result<Vec<Cid>, Error> {
        let mut out = Vec::with_capacity(self.devices.len());
        for d in &self.devices {
            let existing = match &d.cid {
                Some(cid) => plan.device(cid)?.cloned(),
                None => None,
            };
            if let Some(old) = existing {
                let after = merged(&old.device, d);
                if after != old.device {
                    plan.emit(Mutation::DeviceUpdated {
                        ordinal: old.ordinal,
                        before: Box::new(old.device),
                        after: Box::new(after),
                    });
                }
                out.push(old_cid(d)?);
                continue;
            }
            let phone_type = d.phone_type.ok_or_else(|| Error::empty("phone_type"))?;
            let next = plan.app()?.next_ordinal;
            let ordinal = u32::try_from(next).map_err(|_| Error::over_limit("devices"))?;
            let cid = d.cid.clone().unwrap_or_else(Cid::generate);
            let (create_time, last_login_time) = history(d, self.now);
            let device = Device {
                cid: cid.clone(),
                kind: d.kind.unwrap_or_default(),
                phone_type,
                brand: d.brand.clone(),
                phone_model: d.phone_model.clone(),
                package_name: d.package_name.clone(),
                client_app_id: d.client_app_id.clone(),
                device_token: d.device_token.clone(),
                device_token_type: None,
                notification_switch: d.notification_switch.unwrap_or(true),
                region: d.region.clone(),
                app_version: d.app_version.clone(),
                os: d.os.clone(),
                properties: d.properties.clone().unwrap_or_default(),
                online: false,
                create_time,
                last_login_time,
                login_freq: 0,
                badge: 0,
                blacklisted: false,
                alias: None,
                tags: Vec::new(),
            };
            plan.emit(Mutation::DeviceInserted {
                ordinal,
                device: Box::new(device),
            });
            login_day(plan, &cid, last_login_time);
            out.push(cid);
        }
        Ok(out)
    }
}

fn old_cid(d: &DeviceUpsert) -> Result<Cid, Error> {
    d.cid
        .clone()
        .ok_or_else(|| Error::Internal("known device without cid".into()))
}

/// Applies a status event at `at` (ms) to a known cid.
#[derive(Debug, Clone)]
pub struct RecordDeviceEvent {
    /// The device.
    pub cid: Cid,
    /// The event.
    pub event: DeviceEvent,
    /// When, ms.
    pub at: i64,
}

impl Rule for RecordDeviceEvent {
    type Outcome = ();

    fn needs(&self, state: &State) -> Needs {
        state.wants(|w| {
            w.devices([&self.cid]).login_days([&self.cid]);
        })
    }

    fn decide(&self, plan: &mut Planner<'_>) -> Result<(), Error> {
        let d = plan.known_device(&self.cid)?.clone();
        let (cid, ordinal) = (self.cid.clone(), d.ordinal);
        match self.event {
            DeviceEvent::Online | DeviceEvent::Offline => {
                let online = self.event == DeviceEvent::Online;
                if d.device.online != online {
                    plan.emit(Mutation::PresenceSet {
                        cid,
                        ordinal,
                        online,
                    });
                }
            }
            DeviceEvent::Login => {
                let last = d.device.last_login_time.max(self.at);
                if !d.device.online || d.device.last_login_time != last {
                    plan.emit(Mutation::LoggedIn {
                        cid: cid.clone(),
                        ordinal,
                        last_login_time: last,
                    });
                }
                login_day(plan, &cid, self.at);
            }
        }
        Ok(())
    }
}

/// Records that a known device opened push copy at `at` (ms).
#[derive(Debug, Clone)]
pub struct RecordOpen {
    /// The device.
    pub cid: Cid,
    /// The topic and content it opened.
    pub text: String,
    /// When, ms.
    pub at: i64,
}

impl Rule for RecordOpen {
    type Outcome = ();

    fn needs(&self, state: &State) -> Needs {
        state.wants(|w| {
            w.devices([&self.cid]);
        })
    }

    fn decide(&self, plan: &mut Planner<'_>) -> Result<(), Error> {
        let ordinal = plan.known_device(&self.cid)?.ordinal;
        let text = self.text.trim();
        if text.is_empty() {
            return Err(Error::empty("text"));
        }
        if text.chars().count() > crate::crowd::OPEN_TEXT_MAX {
            return Err(Error::over_limit("text"));
        }
        plan.emit(Mutation::DeviceOpened {
            cid: self.cid.clone(),
            ordinal,
            text: text.to_owned(),
            at: self.at,
        });
        Ok(())
    }
}

/// A rule that changes each device of a batch on its own, in input order, each seeing
/// the effect of the entries before it (the same cid twice applies twice).
pub trait PerDevice: Send + Sync {
    /// Whether one unknown cid refuses the whole batch (else it answers `false`).
    const ALL_OR_NOTHING: bool;

    /// The batch.
    fn cids(&self) -> &[Cid];

    /// The answer for one existing device, and the change to make, if any.
    fn change(&self, cid: &Cid, ordinal: u32, d: &Device) -> (bool, Option<Mutation>);
}

impl<T: PerDevice> Rule for T {
    type Outcome = Vec<bool>;

    fn needs(&self, state: &State) -> Needs {
        state.wants(|w| {
            w.devices(self.cids());
        })
    }

    fn decide(&self, plan: &mut Planner<'_>) -> Result<Vec<bool>, Error> {
        if T::ALL_OR_NOTHING {
            for cid in self.cids() {
                plan.known_device(cid)?;
            }
        }
        let mut out = Vec::with_capacity(self.cids().len());
        for cid in self.cids() {
            let Some(d) = plan.device(cid)? else {
                out.push(false);
                continue;
            };
            let (answer, m) = self.change(cid, d.ordinal, &d.device);
            if let Some(m) = m {
                plan.emit(m);
            }
            out.push(answer);
        }
        Ok(out)
    }
}

/// Sets or clears the blacklist flag of every cid, or of none if one is unknown.
#[derive(Debug, Clone)]
pub struct SetBlacklisted {
    /// The devices.
    pub cids: Vec<Cid>,
    /// On or off.
    pub on: bool,
}

impl PerDevice for SetBlacklisted {
    const ALL_OR_NOTHING: bool = true;

    fn cids(&self) -> &[Cid] {
        &self.cids
    }

    fn change(&self, cid: &Cid, ordinal: u32, d: &Device) -> (bool, Option<Mutation>) {
        let m = (d.blacklisted != self.on).then(|| Mutation::BlacklistSet {
            cid: cid.clone(),
            ordinal,
            on: self.on,
        });
        (true, m)
    }
}

/// Applies a badge operation to every cid, or to none if one is unknown.
#[derive(Debug, Clone)]
pub struct ApplyBadge {
    /// The devices.
    pub cids: Vec<Cid>,
    /// The operation.
    pub op: BadgeOp,
}

impl PerDevice for ApplyBadge {
    const ALL_OR_NOTHING: bool = true;

    fn cids(&self) -> &[Cid] {
        &self.cids
    }

    fn change(&self, cid: &Cid, ordinal: u32, d: &Device) -> (bool, Option<Mutation>) {
        let badge = self.op.apply(d.badge);
        let m = (badge != d.badge).then(|| Mutation::BadgeSet {
            cid: cid.clone(),
            ordinal,
            badge,
        });
        (true, m)
    }
}

/// One `bind_dt` entry as sent: the cid is raw, because per-entry errors report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DtBinding {
    /// The cid as sent (may be empty).
    pub cid: String,
    /// The token; `None` or empty unbinds.
    pub device_token: Option<String>,
}

/// Why one `bind_dt` entry was not applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtFailure {
    /// The cid is empty.
    EmptyCid,
    /// No such cid anywhere.
    UnknownCid,
    /// The cid belongs to another app.
    OtherApp,
    /// `wx` was asked for a cid that is not a mini-program.
    NotMiniProgram,
}

/// Binds (or, with no token, unbinds) channel tokens: applies every valid entry; the
/// outcome is the index and reason of each refused one.
#[derive(Debug, Clone)]
pub struct BindDeviceTokens {
    /// The channel.
    pub kind: DtType,
    /// The entries.
    pub entries: Vec<DtBinding>,
}

impl BindDeviceTokens {
    fn cids(&self) -> impl Iterator<Item = Cid> + '_ {
        self.entries
            .iter()
            .filter_map(|e| Cid::parse(e.cid.as_str()).ok())
    }
}

impl Rule for BindDeviceTokens {
    type Outcome = Vec<(usize, DtFailure)>;

    fn needs(&self, state: &State) -> Needs {
        let cids: Vec<Cid> = self.cids().collect();
        let mut w = Want::new(state);
        w.devices(&cids);
        if !w.missing() {
            // Only cids absent from the app are looked up elsewhere.
            let absent = cids
                .iter()
                .filter(|c| matches!(state.devices.get(*c), Some(None)))
                .map(Cid::as_str);
            w.foreign(absent);
        }
        w.done()
    }

    fn decide(&self, plan: &mut Planner<'_>) -> Result<Self::Outcome, Error> {
        let mut failures = Vec::new();
        for (i, e) in self.entries.iter().enumerate() {
            if let Err(f) = bind_one(plan, self.kind, e)? {
                failures.push((i, f));
            }
        }
        Ok(failures)
    }
}

fn bind_one(
    plan: &mut Planner<'_>,
    kind: DtType,
    e: &DtBinding,
) -> Result<Result<(), DtFailure>, Error> {
    if e.cid.is_empty() {
        return Ok(Err(DtFailure::EmptyCid));
    }
    let found = match Cid::parse(e.cid.as_str()) {
        Ok(cid) => plan.device(&cid)?.cloned(),
        Err(_) => None,
    };
    let Some(d) = found else {
        let elsewhere = plan.state().foreign.get(&e.cid).copied().unwrap_or(false);
        return Ok(Err(if elsewhere {
            DtFailure::OtherApp
        } else {
            DtFailure::UnknownCid
        }));
    };
    if kind == DtType::Wx && d.device.kind != DeviceKind::MiniProgram {
        return Ok(Err(DtFailure::NotMiniProgram));
    }
    let (cid, ordinal, dev) = (d.device.cid.clone(), d.ordinal, d.device);
    match e.device_token.as_deref().filter(|t| !t.is_empty()) {
        Some(token) => {
            let brand = kind.brand().map(str::to_owned).or(dev.brand.clone());
            let unchanged = dev.device_token.as_deref() == Some(token)
                && dev.device_token_type == Some(kind)
                && dev.brand == brand;
            if !unchanged {
                plan.emit(Mutation::DeviceTokenBound {
                    cid,
                    ordinal,
                    kind,
                    token: token.to_owned(),
                    brand,
                    previous_brand: dev.brand,
                });
            }
        }
        None if dev.device_token_type == Some(kind) => {
            let brand = dev
                .brand
                .clone()
                .filter(|b| Some(b.as_str()) != kind.brand());
            plan.emit(Mutation::DeviceTokenUnbound {
                cid,
                ordinal,
                kind,
                brand,
                previous_brand: dev.brand,
            });
        }
        None => {}
    }
    Ok(Ok(()))
}
