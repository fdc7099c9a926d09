//! Reads as rules: what a read needs loaded and how the answer is derived from it
//! (`login_freq`, unknown cids), so every backend answers alike. They emit nothing.

use super::{Needs, Planner, Rule, State, UmsConfig, Want};
use crate::error::Error;
use crate::ids::{Alias, Cid, TagName};
use crate::time::cst_day;
use crate::user::{IdentityName, Uid, User};
use crate::{limits, Device};

/// The devices that exist among `cids`, in input order, with `login_freq` as of `now`.
#[derive(Debug, Clone)]
pub struct GetDevices {
    /// The cids.
    pub cids: Vec<Cid>,
    /// Now, ms.
    pub now: i64,
}

/// Distinct login days within the last [`limits::LOGIN_FREQ_DAYS`] days as of `now`.
pub fn login_freq<'a>(days: impl IntoIterator<Item = &'a i64>, now: i64) -> i64 {
    let today = cst_day(now);
    let since = today - limits::LOGIN_FREQ_DAYS;
    days.into_iter()
        .filter(|d| **d > since && **d <= today)
        .count() as i64
}

impl Rule for GetDevices {
    type Outcome = Vec<Device>;
    const APP_MUST_EXIST: bool = false;

    fn needs(&self, state: &State) -> Needs {
        state.wants(|w| {
            w.devices(&self.cids).login_days(&self.cids);
        })
    }

    fn decide(&self, plan: &mut Planner<'_>) -> Result<Vec<Device>, Error> {
        let mut out = Vec::with_capacity(self.cids.len());
        for cid in &self.cids {
            if let Some(d) = plan.device(cid)? {
                let mut device = d.device.clone();
                if let Some(days) = plan.state().login_days.get(cid) {
                    device.login_freq = login_freq(days, self.now);
                }
                out.push(device);
            }
        }
        Ok(out)
    }
}

/// The alias of a known cid.
#[derive(Debug, Clone)]
pub struct AliasOf {
    /// The cid.
    pub cid: Cid,
}

impl Rule for AliasOf {
    type Outcome = Option<Alias>;
    const APP_MUST_EXIST: bool = false;

    fn needs(&self, state: &State) -> Needs {
        state.wants(|w| {
            w.devices([&self.cid]);
        })
    }

    fn decide(&self, plan: &mut Planner<'_>) -> Result<Option<Alias>, Error> {
        Ok(plan.known_device(&self.cid)?.device.alias.clone())
    }
}

/// The sorted tags of a known cid.
#[derive(Debug, Clone)]
pub struct TagsOf {
    /// The cid.
    pub cid: Cid,
}

impl Rule for TagsOf {
    type Outcome = Vec<TagName>;
    const APP_MUST_EXIST: bool = false;

    fn needs(&self, state: &State) -> Needs {
        state.wants(|w| {
            w.devices([&self.cid]);
        })
    }

    fn decide(&self, plan: &mut Planner<'_>) -> Result<Vec<TagName>, Error> {
        Ok(plan.known_device(&self.cid)?.device.tags.clone())
    }
}

/// The cids bound to an alias.
#[derive(Debug, Clone)]
pub struct CidsOfAlias {
    /// The alias.
    pub alias: Alias,
}

impl Rule for CidsOfAlias {
    type Outcome = Vec<Cid>;
    const APP_MUST_EXIST: bool = false;

    fn needs(&self, state: &State) -> Needs {
        state.wants(|w| {
            w.alias_members([&self.alias]);
        })
    }

    fn decide(&self, plan: &mut Planner<'_>) -> Result<Vec<Cid>, Error> {
        Ok(plan
            .state()
            .alias_members
            .get(&self.alias)
            .cloned()
            .unwrap_or_default())
    }
}

/// The users that exist among `uids`, in input order.
#[derive(Debug, Clone)]
pub struct GetUsers {
    /// The uids.
    pub uids: Vec<Uid>,
}

impl Rule for GetUsers {
    type Outcome = Vec<User>;
    const APP_MUST_EXIST: bool = false;

    fn needs(&self, state: &State) -> Needs {
        state.wants(|w| {
            w.users(self.uids.iter().copied());
        })
    }

    fn decide(&self, plan: &mut Planner<'_>) -> Result<Vec<User>, Error> {
        Ok(self
            .uids
            .iter()
            .filter_map(|u| plan.state().users.get(u).cloned().flatten())
            .collect())
    }
}

/// The holder of an identity value.
#[derive(Debug, Clone)]
pub struct FindUser {
    /// Identity name.
    pub name: String,
    /// Value.
    pub value: String,
}

impl Rule for FindUser {
    type Outcome = Option<Uid>;
    const APP_MUST_EXIST: bool = false;

    fn needs(&self, state: &State) -> Needs {
        state.wants(|w| {
            w.identity(&self.name, &self.value);
        })
    }

    fn decide(&self, plan: &mut Planner<'_>) -> Result<Option<Uid>, Error> {
        plan.holder(&self.name, &self.value)
    }
}

/// Built-in and custom identity names, in resolution order.
#[derive(Debug, Clone)]
pub struct IdentityNames;

impl Rule for IdentityNames {
    type Outcome = Vec<IdentityName>;
    const APP_MUST_EXIST: bool = false;

    fn needs(&self, state: &State) -> Needs {
        state.wants(|w| {
            w.identity_names();
        })
    }

    fn decide(&self, plan: &mut Planner<'_>) -> Result<Vec<IdentityName>, Error> {
        Ok(plan.identity_names()?.to_vec())
    }
}

/// The app's UMS configuration.
#[derive(Debug, Clone)]
pub struct GetUmsConfig;

impl Rule for GetUmsConfig {
    type Outcome = UmsConfig;
    const APP_MUST_EXIST: bool = false;

    fn needs(&self, state: &State) -> Needs {
        state.wants(|w| {
            w.ums();
        })
    }

    fn decide(&self, plan: &mut Planner<'_>) -> Result<UmsConfig, Error> {
        plan.ums().cloned()
    }
}

/// The ordinals of the devices among `cids` and of the members of `alias`: how the
/// index resolves selector leaves it does not hold.
#[derive(Debug, Clone)]
pub struct Ordinals {
    /// Devices by cid.
    pub cids: Vec<Cid>,
    /// The members of this alias too.
    pub alias: Option<Alias>,
}

impl Ordinals {
    fn all_cids<'a>(&'a self, state: &'a State) -> impl Iterator<Item = &'a Cid> {
        let members = self
            .alias
            .as_ref()
            .and_then(|a| state.alias_members.get(a))
            .into_iter()
            .flatten();
        self.cids.iter().chain(members)
    }
}

impl Rule for Ordinals {
    type Outcome = Vec<u32>;
    const APP_MUST_EXIST: bool = false;

    fn needs(&self, state: &State) -> Needs {
        let mut w = Want::new(state);
        w.alias_members(self.alias.iter());
        if !w.missing() {
            w.devices(self.all_cids(state));
        }
        w.done()
    }

    fn decide(&self, plan: &mut Planner<'_>) -> Result<Vec<u32>, Error> {
        let state = plan.state();
        let mut out = Vec::new();
        for cid in self.all_cids(state) {
            if let Some(d) = plan.device(cid)? {
                out.push(d.ordinal);
            }
        }
        Ok(out)
    }
}
