//! The in-memory model as a [`Backend`]: `roster_core::rules::memory::Memory` (the
//! whole registry on the same rules) plus what is not a rule (apps as created,
//! credentials, tokens), with counts by brute force. `Registry<ModelBackend>` is the
//! third party of the differential test, beside SQLite and PostgreSQL.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use roster_core::rules::memory::Memory;
use roster_core::rules::{Mutation, Rule, Secret, State};
use roster_core::user::Uid;
use roster_core::{App, AppId, AudienceQuery, Cid};
use roster_index::AppIndex;
use roster_store::changes::{LogEntry, LogRead};
use roster_store::value::{Row, Stmt};
use roster_store::{
    Backend, Credential, CredentialKind, KeySecret, StoreError, StoreResult, TokenGrant, Write,
};

#[derive(Default)]
struct Model {
    memory: Memory,
    apps: BTreeMap<AppId, App>,
    credentials: BTreeMap<String, Credential>,
    /// digest → (app, expires_at, revoked)
    tokens: BTreeMap<String, (AppId, i64, bool)>,
    /// Each app's change log.
    logs: BTreeMap<AppId, Log>,
}

/// An app's change log as the SQL backends keep it.
#[derive(Default)]
struct Log {
    seq: u64,
    pruned_through: u64,
    entries: Vec<LogEntry>,
}

/// The in-memory model.
#[derive(Default)]
pub struct ModelBackend {
    model: Mutex<Model>,
}

impl ModelBackend {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Model) -> T) -> T {
        let mut m = self.model.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut m)
    }
}

fn no_sql() -> StoreError {
    StoreError::Backend("the in-memory model runs no SQL".into())
}

impl Model {
    /// Keeps what a plan says beside its mutations: the app as created, credentials.
    fn keep(&mut self, app: &AppId, mutations: &[Mutation], secrets: &[Secret]) {
        for m in mutations {
            match m {
                Mutation::AppCreated { name, created_at } => {
                    let Some(c) = secrets.iter().find_map(|s| match s {
                        Secret::App(c) => Some(c),
                        _ => None,
                    }) else {
                        continue;
                    };
                    for (key, secret, kind) in c.keys() {
                        self.credential(app, key, secret, kind, *created_at);
                    }
                    let app_row = App {
                        name: name.clone(),
                        credentials: (**c).clone(),
                        created_at: *created_at,
                        enabled_dt_types: Vec::new(),
                        keys: c
                            .keys()
                            .into_iter()
                            .map(|(key, secret, kind)| key_secret(key, secret, kind, *created_at))
                            .collect(),
                    };
                    let mut app_row = app_row;
                    app_row
                        .keys
                        .sort_by(|x, y| (x.kind.as_str(), &x.key).cmp(&(y.kind.as_str(), &y.key)));
                    self.apps.insert(app.clone(), app_row);
                }
                Mutation::DtTypesSet { types } => {
                    if let Some(a) = self.apps.get_mut(app) {
                        a.enabled_dt_types = types.clone();
                    }
                }
                _ => {}
            }
        }
        for s in secrets {
            if let Secret::UmsChannel {
                channel_key,
                secret,
                created_at,
            } = s
            {
                let kind = CredentialKind::UmsChannel;
                self.credential(app, channel_key, secret, kind, *created_at);
                if let Some(a) = self.apps.get_mut(app) {
                    a.keys
                        .push(key_secret(channel_key, secret, kind, *created_at));
                    // As SQL reads them: by kind name, key, issue time.
                    a.keys.sort_by(|x, y| {
                        (x.kind.as_str(), &x.key, x.created_at).cmp(&(
                            y.kind.as_str(),
                            &y.key,
                            y.created_at,
                        ))
                    });
                }
            }
        }
    }

    fn credential(
        &mut self,
        app: &AppId,
        key: &str,
        secret: &str,
        kind: CredentialKind,
        created_at: i64,
    ) {
        let c = Credential {
            app: app.clone(),
            kind,
            secrets: vec![key_secret(key, secret, kind, created_at)],
        };
        self.credentials.insert(key.to_owned(), c);
    }

    /// The audience of `app`, in ordinal order, by brute force.
    fn audience(&self, app: &AppId, q: &AudienceQuery) -> Vec<(u32, Cid)> {
        let Some(state) = self.memory.state(app) else {
            return Vec::new();
        };
        let mut out: Vec<(u32, Cid)> = devices(state)
            .filter(|d| q.matches(&d.device.facts()))
            .map(|d| (d.ordinal, d.device.cid.clone()))
            .collect();
        out.sort();
        out
    }
}

fn key_secret(key: &str, secret: &str, kind: CredentialKind, created_at: i64) -> KeySecret {
    KeySecret {
        kind,
        key: key.to_owned(),
        secret: secret.to_owned(),
        created_at,
        expires_at: None,
    }
}

fn devices(state: &State) -> impl Iterator<Item = &roster_core::rules::StoredDevice> {
    state.devices.values().flatten()
}

#[async_trait]
impl Backend for ModelBackend {
    async fn write<R: Rule + 'static>(&self, w: Write<R>) -> StoreResult<(R::Outcome, u64)> {
        self.with(|m| {
            let plan = m.memory.plan(&w.app, &w.rule)?;
            m.keep(&w.app, &plan.mutations, &plan.secrets);
            let log = m.logs.entry(w.app.clone()).or_default();
            if !plan.mutations.is_empty() {
                log.seq += 1;
                let body = roster_core::change::body(&plan.mutations)
                    .map_err(|e| StoreError::Backend(e.to_string()))?;
                log.entries.push(LogEntry {
                    seq: log.seq,
                    at: roster_core::time::now_ms(),
                    lines: plan.mutations.len() as u64,
                    body,
                });
            }
            w.committed(log.seq, &plan.mutations);
            Ok((plan.outcome, log.seq))
        })
    }

    async fn read<R: Rule + 'static>(&self, app: &AppId, rule: R) -> StoreResult<R::Outcome> {
        self.with(|m| Ok(m.memory.run(app, &rule)?.0))
    }

    async fn query(&self, _: Vec<Stmt>) -> StoreResult<Vec<Vec<Row>>> {
        Err(no_sql())
    }

    async fn execute(&self, _: Vec<Stmt>) -> StoreResult<Vec<u64>> {
        Err(no_sql())
    }

    async fn scan_index(&self, app: &AppId) -> StoreResult<(AppIndex, u64)> {
        Ok(self.with(|m| {
            let mut index = AppIndex::default();
            if let Some(state) = m.memory.state(app) {
                for d in devices(state) {
                    index.add_device(d.ordinal, &d.device.facts());
                }
            }
            (index, m.logs.get(app).map_or(0, |l| l.seq))
        }))
    }

    async fn login_freq_ordinals(
        &self,
        app: &AppId,
        since: i64,
        today: i64,
        freqs: &[i64],
    ) -> StoreResult<Vec<u32>> {
        Ok(self.with(|m| {
            let Some(state) = m.memory.state(app) else {
                return Vec::new();
            };
            let mut out: Vec<u32> = devices(state)
                .filter(|d| {
                    let days = state.login_days.get(&d.device.cid);
                    let n = days.map_or(0, |days| days.range(since + 1..=today).count());
                    freqs.contains(&(n as i64))
                })
                .map(|d| d.ordinal)
                .collect();
            out.sort_unstable();
            out
        }))
    }

    async fn app_seqs(&self) -> StoreResult<Vec<(AppId, u64)>> {
        Ok(self.with(|m| {
            m.apps
                .keys()
                .map(|a| (a.clone(), m.logs.get(a).map_or(0, |l| l.seq)))
                .collect()
        }))
    }

    async fn log_after(
        &self,
        app: &AppId,
        after: u64,
        limit: usize,
    ) -> StoreResult<Option<LogRead>> {
        Ok(self.with(|m| {
            if !m.apps.contains_key(app) {
                return None;
            }
            let log = m.logs.get(app)?;
            Some(LogRead {
                newest: log.seq,
                pruned_through: log.pruned_through,
                entries: log
                    .entries
                    .iter()
                    .filter(|e| e.seq > after)
                    .take(limit)
                    .cloned()
                    .collect(),
            })
        }))
    }

    async fn prune_changes(&self, before: i64) -> StoreResult<u64> {
        Ok(self.with(|m| {
            let mut removed = 0;
            for log in m.logs.values_mut() {
                if let Some(last) = log
                    .entries
                    .iter()
                    .filter(|e| e.at < before)
                    .map(|e| e.seq)
                    .max()
                {
                    log.pruned_through = log.pruned_through.max(last);
                }
                let keep = log.pruned_through;
                let n = log.entries.len();
                log.entries.retain(|e| e.seq > keep);
                removed += (n - log.entries.len()) as u64;
            }
            removed
        }))
    }

    async fn app_ids(&self) -> StoreResult<Vec<AppId>> {
        Ok(self.with(|m| m.apps.keys().cloned().collect()))
    }

    async fn get_app(&self, app: &AppId) -> StoreResult<Option<App>> {
        Ok(self.with(|m| m.apps.get(app).cloned()))
    }

    async fn find_credential(&self, key: &str) -> StoreResult<Option<Credential>> {
        Ok(self.with(|m| m.credentials.get(key).cloned()))
    }

    async fn insert_token(&self, app: &AppId, digest: &str, expires_at: i64) -> StoreResult<()> {
        self.with(|m| {
            // As in SQL: the housekeeping happens whether or not the app exists.
            let horizon = roster_core::app::tokens_forgotten_before(expires_at);
            m.tokens.retain(|_, (_, expires, _)| *expires >= horizon);
            if !m.apps.contains_key(app) {
                return Err(roster_core::Error::NotFound("app".into()).into());
            }
            let token = (app.clone(), expires_at, false);
            m.tokens.insert(digest.to_owned(), token);
            Ok(())
        })
    }

    async fn live_token(&self, digest: &str, now: i64) -> StoreResult<Option<TokenGrant>> {
        Ok(self.with(|m| {
            m.tokens
                .get(digest)
                .filter(|(_, expires, revoked)| !revoked && *expires > now)
                .map(|(app, expires_at, _)| TokenGrant {
                    app: app.clone(),
                    expires_at: *expires_at,
                })
        }))
    }

    async fn revoke_token(&self, app: &AppId, digest: &str) -> StoreResult<bool> {
        Ok(self.with(|m| match m.tokens.get_mut(digest) {
            Some((owner, _, revoked)) if owner == app && !*revoked => {
                *revoked = true;
                true
            }
            _ => false,
        }))
    }

    async fn count_audience(&self, app: &AppId, q: &AudienceQuery) -> StoreResult<u64> {
        Ok(self.with(|m| m.audience(app, q).len() as u64))
    }

    async fn audience_page(
        &self,
        app: &AppId,
        q: &AudienceQuery,
        after: Option<u32>,
        limit: usize,
    ) -> StoreResult<Vec<(u32, Cid)>> {
        Ok(self.with(|m| {
            m.audience(app, q)
                .into_iter()
                .filter(|(o, _)| after.is_none_or(|a| *o > a))
                .take(limit)
                .collect()
        }))
    }

    async fn user_page(
        &self,
        app: &AppId,
        after: Option<Uid>,
        limit: usize,
    ) -> StoreResult<Vec<Uid>> {
        Ok(self.with(|m| {
            let Some(state) = m.memory.state(app) else {
                return Vec::new();
            };
            state
                .users
                .iter()
                .filter(|(uid, u)| u.is_some() && after.is_none_or(|a| **uid > a))
                .map(|(uid, _)| *uid)
                .take(limit)
                .collect()
        }))
    }

    async fn cids_of_ordinals(
        &self,
        app: &AppId,
        ordinals: &[u32],
    ) -> StoreResult<Vec<(u32, Cid)>> {
        Ok(self.with(|m| {
            let Some(state) = m.memory.state(app) else {
                return Vec::new();
            };
            ordinals
                .iter()
                .filter_map(|o| {
                    devices(state)
                        .find(|d| d.ordinal == *o)
                        .map(|d| (*o, d.device.cid.clone()))
                })
                .collect()
        }))
    }
}
