//! The whole registry in memory, on the same rules as every backend: the model the
//! differential tests hold the real backends to, and the planner's own test bench.

use std::collections::BTreeMap;

use super::{plan, Mutation, Needs, Plan, Rule, State};
use crate::error::Error;
use crate::ids::{AppId, Cid};
use crate::user::{IdentityName, Uid};

/// Every app's facts, complete: a fact not held is a fact that does not exist.
#[derive(Debug, Clone)]
pub struct Memory {
    apps: BTreeMap<AppId, State>,
    next_uid: Uid,
}

impl Default for Memory {
    fn default() -> Self {
        Self::new()
    }
}

impl Memory {
    /// An empty registry.
    pub fn new() -> Self {
        Memory {
            apps: BTreeMap::new(),
            next_uid: Uid::new(1),
        }
    }

    /// Runs a rule on `app` atomically: on refusal nothing changes. Returns the outcome
    /// and the mutations committed.
    pub fn run<R: Rule + ?Sized>(
        &mut self,
        app: &AppId,
        rule: &R,
    ) -> Result<(R::Outcome, Vec<Mutation>), Error> {
        self.plan(app, rule).map(|p| (p.outcome, p.mutations))
    }

    /// Like [`Memory::run`], with the whole plan (secrets included).
    pub fn plan<R: Rule + ?Sized>(
        &mut self,
        app: &AppId,
        rule: &R,
    ) -> Result<Plan<R::Outcome>, Error> {
        let mut state = self.apps.get(app).cloned().unwrap_or_default();
        loop {
            let needs = super::needs(rule, &state);
            if needs.is_empty() {
                break;
            }
            self.load(app, &needs, &mut state);
        }
        let planned = plan(rule, &mut state)?;
        if let Some(n) = state.next_uid {
            self.next_uid = self.next_uid.max(n);
        }
        // Derived lookups are recomputed per command.
        state.alias_members.clear();
        state.foreign.clear();
        state.next_uid = None;
        if matches!(state.app, Some(Some(_))) {
            self.apps.insert(app.clone(), state);
        }
        Ok(planned)
    }

    fn load(&self, app: &AppId, needs: &Needs, state: &mut State) {
        if needs.app {
            state.app = Some(None);
        }
        for cid in &needs.devices {
            state.devices.entry(cid.clone()).or_insert(None);
        }
        for cid in &needs.foreign {
            let elsewhere = self.apps.iter().any(|(id, s)| {
                id != app
                    && Cid::parse(cid.as_str())
                        .is_ok_and(|c| matches!(s.devices.get(&c), Some(Some(_))))
            });
            state.foreign.insert(cid.clone(), elsewhere);
        }
        for alias in &needs.alias_members {
            let mut members: Vec<(u32, Cid)> = state
                .devices
                .values()
                .flatten()
                .filter(|d| d.device.alias.as_ref() == Some(alias))
                .map(|d| (d.ordinal, d.device.cid.clone()))
                .collect();
            members.sort();
            state
                .alias_members
                .insert(alias.clone(), members.into_iter().map(|(_, c)| c).collect());
        }
        for key in &needs.identities {
            state.identities.entry(key.clone()).or_insert(None);
        }
        for uid in &needs.users {
            state.users.entry(*uid).or_insert(None);
        }
        if needs.identity_names {
            state.identity_names = Some(IdentityName::builtins().into());
        }
        if needs.ums {
            state.ums = Some(Default::default());
        }
        if needs.next_uid {
            state.next_uid = Some(self.next_uid);
        }
        for cid in &needs.login_days {
            state.login_days.entry(cid.clone()).or_default();
        }
    }

    /// Every app id.
    pub fn app_ids(&self) -> Vec<AppId> {
        self.apps.keys().cloned().collect()
    }

    /// An app's facts.
    pub fn state(&self, app: &AppId) -> Option<&State> {
        self.apps.get(app)
    }
}
