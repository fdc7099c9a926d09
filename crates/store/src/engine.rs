//! The SQL of roster, once for every SQL backend: how the facts a rule needs are read
//! ([`Load`]), how a plan's mutations are written ([`writes`]), and the one-off
//! statements of apps, credentials and tokens. A backend only runs statements and hands
//! rows back; the few spots where the engines differ are its [`Dialect`].

use roster_core::rules::{AppFacts, Mutation, Needs, Plan, Secret, State, StoredDevice, UmsConfig};
use roster_core::ums::SenderKind;
use roster_core::user::{IdentityName, Uid, User};
use roster_core::{
    Alias, App, AppCredentials, AppId, Cid, Device, DeviceKind, DtType, PhoneType, TagName,
};

use crate::value::{Row, RowExt, Stmt, Value};
use crate::{Credential, CredentialKind, StoreError, StoreResult};

/// What differs between the SQL engines.
#[derive(Debug, Clone, Copy)]
pub struct Dialect {
    /// Run first in every write transaction (PostgreSQL: lock the app's row, so the
    /// writes of all nodes to one app take turns); `$1` is the app id.
    pub lock_app: Option<&'static str>,
    /// Statements answering the next uid, the last one's first column (PostgreSQL takes
    /// a lock first, as all apps share one sequence).
    pub next_uid: &'static [&'static str],
    /// Run after a user is inserted with an explicit uid (`$1`), to move the engine's
    /// own counter past it.
    pub uid_used: Option<&'static str>,
    /// Run after a change is logged (`$1` app id), to wake other nodes' followers when
    /// the transaction commits (PostgreSQL: `NOTIFY`).
    pub notify: Option<&'static str>,
}

/// Largest `IN (…)` list; lists are padded to a few fixed lengths so the engines'
/// statement caches see few distinct texts.
const IN_SIZES: [usize; 5] = [1, 4, 16, 64, 256];

fn in_list(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Splits `items` into padded chunks: (placeholder count, values).
fn chunks(items: Vec<String>) -> Vec<Vec<Value>> {
    let mut out = Vec::new();
    for chunk in items.chunks(IN_SIZES[IN_SIZES.len() - 1]) {
        let size = IN_SIZES
            .iter()
            .copied()
            .find(|s| *s >= chunk.len())
            .unwrap_or(chunk.len());
        let mut vals: Vec<Value> = chunk.iter().map(Value::from).collect();
        while vals.len() < size {
            vals.push(vals[vals.len() - 1].clone());
        }
        out.push(vals);
    }
    out
}

const DEVICE_COLUMNS: &str = "d.cid, d.kind, d.phone_type, d.brand, d.phone_model, \
    d.package_name, d.client_app_id, d.device_token, d.device_token_type, \
    d.notification_switch, d.region, d.app_version, d.os, d.properties, d.online, \
    d.create_time, d.last_login_time, d.badge, d.blacklisted, d.alias, d.ord";

/// Which part of a [`State`] a load query fills.
#[derive(Debug, Clone, PartialEq)]
enum Fills {
    App,
    Devices,
    Tags,
    Foreign(String),
    AliasMembers(Alias),
    Identity(String, String),
    User(Uid),
    UserIdentities(Uid),
    UserContacts(Uid),
    UserBindings(Uid),
    IdentityNames,
    Channels,
    Senders,
    Grants,
    NextUid,
    LoginDays,
}

/// One query of a load and what its rows fill.
#[derive(Debug, Clone)]
struct Load {
    /// The statement.
    stmt: Stmt,
    fills: Fills,
}

fn load(fills: Fills, sql: String, params: Vec<Value>) -> Load {
    Load {
        stmt: Stmt::built(sql, params),
        fills,
    }
}

/// The queries that load `needs` for `app`, in order. Feed each one's rows to
/// [`absorb`], then call [`settle`].
fn loads(app: &AppId, needs: &Needs, dialect: &Dialect) -> Vec<Load> {
    let a = || Value::from(app.as_str());
    let mut out = Vec::new();
    if needs.app {
        out.push(load(
            Fills::App,
            "SELECT next_ord, enabled_dt_types, seq FROM apps WHERE id = $1".into(),
            vec![a()],
        ));
    }
    let cids: Vec<String> = needs.devices.iter().map(|c| c.to_string()).collect();
    for vals in chunks(cids) {
        let list = in_list(2, vals.len());
        let mut params = vec![a()];
        params.extend(vals);
        out.push(load(
            Fills::Devices,
            format!(
                "SELECT {DEVICE_COLUMNS} FROM devices d WHERE d.app_id = $1 AND d.cid IN ({list})"
            ),
            params.clone(),
        ));
        out.push(load(
            Fills::Tags,
            format!(
                "SELECT d.cid, t.tag FROM devices d JOIN device_tags t ON t.device_id = d.id
                 WHERE d.app_id = $1 AND d.cid IN ({list})"
            ),
            params,
        ));
    }
    for cid in &needs.foreign {
        out.push(load(
            Fills::Foreign(cid.clone()),
            "SELECT 1 FROM devices WHERE cid = $1 AND app_id <> $2 LIMIT 1".into(),
            vec![cid.into(), a()],
        ));
    }
    for alias in &needs.alias_members {
        out.push(load(
            Fills::AliasMembers(alias.clone()),
            // `+ord`: sorting the few members beats walking the whole app in ordinal
            // order, which SQLite's planner would otherwise choose over the alias index.
            "SELECT cid FROM devices WHERE app_id = $1 AND alias = $2 ORDER BY +ord".into(),
            vec![a(), alias.as_str().into()],
        ));
    }
    for (name, value) in &needs.identities {
        out.push(load(
            Fills::Identity(name.clone(), value.clone()),
            "SELECT uid FROM user_identities WHERE app_id = $1 AND name = $2 AND value = $3".into(),
            vec![a(), name.into(), value.into()],
        ));
    }
    for uid in &needs.users {
        let u = Value::from(*uid);
        out.push(load(
            Fills::User(*uid),
            "SELECT properties FROM users WHERE uid = $1 AND app_id = $2".into(),
            vec![u.clone(), a()],
        ));
        out.push(load(
            Fills::UserIdentities(*uid),
            "SELECT name, value FROM user_identities WHERE uid = $1".into(),
            vec![u.clone()],
        ));
        out.push(load(
            Fills::UserContacts(*uid),
            "SELECT kind, value FROM user_contacts WHERE uid = $1".into(),
            vec![u.clone()],
        ));
        out.push(load(
            Fills::UserBindings(*uid),
            "SELECT field, bind_id, value FROM ums_bindings WHERE uid = $1".into(),
            vec![u],
        ));
    }
    if needs.identity_names {
        out.push(load(
            Fills::IdentityNames,
            "SELECT name, is_unique, priority FROM identity_names WHERE app_id = $1".into(),
            vec![a()],
        ));
    }
    if needs.ums {
        out.push(load(
            Fills::Channels,
            "SELECT channel_key, code FROM ums_channels WHERE app_id = $1 ORDER BY channel_key"
                .into(),
            vec![a()],
        ));
        out.push(load(
            Fills::Senders,
            "SELECT code, kind FROM ums_senders WHERE app_id = $1 ORDER BY code".into(),
            vec![a()],
        ));
        out.push(load(
            Fills::Grants,
            "SELECT g.channel_key, g.sender_code FROM ums_grants g
             JOIN ums_channels c ON c.channel_key = g.channel_key WHERE c.app_id = $1
             ORDER BY g.channel_key, g.sender_code"
                .into(),
            vec![a()],
        ));
    }
    if needs.next_uid {
        for sql in dialect.next_uid {
            out.push(load(Fills::NextUid, (*sql).into(), Vec::new()));
        }
    }
    let cids: Vec<String> = needs.login_days.iter().map(|c| c.to_string()).collect();
    for vals in chunks(cids) {
        let list = in_list(2, vals.len());
        let mut params = vec![a()];
        params.extend(vals);
        out.push(load(
            Fills::LoginDays,
            format!(
                "SELECT d.cid, l.day FROM devices d JOIN device_login_days l ON l.device_id = d.id
                 WHERE d.app_id = $1 AND d.cid IN ({list})"
            ),
            params,
        ));
    }
    out
}

fn json_err(e: serde_json::Error) -> StoreError {
    StoreError::Backend(format!("json: {e}"))
}

fn properties(s: &str) -> StoreResult<serde_json::Map<String, serde_json::Value>> {
    serde_json::from_str(s).map_err(json_err)
}

fn cid(s: String) -> StoreResult<Cid> {
    Cid::parse(s).map_err(|_| StoreError::Backend("unreadable cid in a stored row".into()))
}

fn device(r: &[Value]) -> StoreResult<StoredDevice> {
    let bad = |what: &str| StoreError::Backend(format!("unreadable {what} in a stored row"));
    let ordinal = u32::try_from(r.int(20)?).map_err(|_| bad("ordinal"))?;
    Ok(StoredDevice {
        ordinal,
        device: Device {
            cid: cid(r.text(0)?)?,
            kind: DeviceKind::parse(&r.text(1)?).ok_or_else(|| bad("kind"))?,
            phone_type: PhoneType::parse(&r.text(2)?).ok_or_else(|| bad("phone_type"))?,
            brand: r.opt_text(3)?,
            phone_model: r.opt_text(4)?,
            package_name: r.opt_text(5)?,
            client_app_id: r.opt_text(6)?,
            device_token: r.opt_text(7)?,
            device_token_type: r.opt_text(8)?.as_deref().and_then(DtType::parse),
            notification_switch: r.flag(9)?,
            region: r.opt_text(10)?,
            app_version: r.opt_text(11)?,
            os: r.opt_text(12)?,
            properties: properties(&r.text(13)?)?,
            online: r.flag(14)?,
            create_time: r.int(15)?,
            last_login_time: r.int(16)?,
            login_freq: 0,
            badge: r.int(17)?,
            blacklisted: r.flag(18)?,
            alias: r.opt_text(19)?.and_then(|a| Alias::parse(a).ok()),
            tags: Vec::new(),
        },
    })
}

fn user_mut(state: &mut State, uid: Uid) -> Option<&mut User> {
    state.users.get_mut(&uid).and_then(Option::as_mut)
}

/// One round of loading: the queries for what a rule still needs.
#[derive(Debug)]
pub struct Step {
    needs: Needs,
    loads: Vec<Load>,
}

/// The next round of loading for `rule` on `state`; `None` when it can decide.
pub fn step<R: roster_core::rules::Rule + ?Sized>(
    app: &AppId,
    rule: &R,
    state: &State,
    dialect: &Dialect,
) -> Option<Step> {
    let needs = roster_core::rules::needs(rule, state);
    if needs.is_empty() {
        return None;
    }
    let loads = loads(app, &needs, dialect);
    Some(Step { needs, loads })
}

impl Step {
    /// The statements to run, in order.
    pub fn statements(&self) -> impl Iterator<Item = &Stmt> {
        self.loads.iter().map(|l| &l.stmt)
    }

    /// Files the rows of each statement (in order) into `state`.
    pub fn finish(self, results: Vec<Vec<Row>>, state: &mut State) -> StoreResult<()> {
        for (l, rows) in self.loads.iter().zip(results) {
            absorb(l, rows, state)?;
        }
        settle(&self.needs, state)
    }
}

/// Files the rows of one load query into `state`.
fn absorb(l: &Load, rows: Vec<Row>, state: &mut State) -> StoreResult<()> {
    match &l.fills {
        Fills::App => {
            state.app = Some(match rows.first() {
                Some(r) => Some(AppFacts {
                    next_ordinal: r.int(0)?,
                    enabled_dt_types: decode_types(&r.text(1)?),
                    seq: u64::try_from(r.int(2)?).unwrap_or(0),
                }),
                None => None,
            });
        }
        Fills::Devices => {
            for r in rows {
                let d = device(&r)?;
                state.devices.insert(d.device.cid.clone(), Some(d));
            }
        }
        Fills::Tags => {
            for r in rows {
                let c = cid(r.text(0)?)?;
                if let (Some(Some(d)), Ok(t)) =
                    (state.devices.get_mut(&c), TagName::parse(r.text(1)?))
                {
                    if let Err(at) = d.device.tags.binary_search(&t) {
                        d.device.tags.insert(at, t);
                    }
                }
            }
        }
        Fills::Foreign(c) => {
            state.foreign.insert(c.clone(), !rows.is_empty());
        }
        Fills::AliasMembers(a) => {
            let members = rows
                .into_iter()
                .map(|r| cid(r.text(0)?))
                .collect::<StoreResult<Vec<_>>>()?;
            state.alias_members.insert(a.clone(), members);
        }
        Fills::Identity(name, value) => {
            let uid = rows.first().map(|r| r.int(0)).transpose()?.map(Uid::new);
            state.identities.insert((name.clone(), value.clone()), uid);
        }
        Fills::User(uid) => {
            let user = match rows.first() {
                Some(r) => Some(User {
                    uid: *uid,
                    identities: Vec::new(),
                    properties: properties(&r.text(0)?)?,
                    contacts: Vec::new(),
                    bindings: Vec::new(),
                }),
                None => None,
            };
            state.users.insert(*uid, user);
        }
        Fills::UserIdentities(uid) => {
            let mut pairs = pairs(rows)?;
            pairs.sort();
            for (name, value) in &pairs {
                state
                    .identities
                    .insert((name.clone(), value.clone()), Some(*uid));
            }
            if let Some(u) = user_mut(state, *uid) {
                u.identities = pairs;
            }
        }
        Fills::UserContacts(uid) => {
            let mut pairs = pairs(rows)?;
            pairs.sort();
            if let Some(u) = user_mut(state, *uid) {
                u.contacts = pairs;
            }
        }
        Fills::UserBindings(uid) => {
            let mut triples = rows
                .into_iter()
                .map(|r| Ok((r.text(0)?, r.text(1)?, r.text(2)?)))
                .collect::<StoreResult<Vec<_>>>()?;
            triples.sort();
            if let Some(u) = user_mut(state, *uid) {
                u.bindings = triples;
            }
        }
        Fills::IdentityNames => {
            let mut names: Vec<IdentityName> = IdentityName::builtins().into();
            for r in rows {
                names.push(IdentityName {
                    name: r.text(0)?,
                    unique: r.flag(1)?,
                    priority: u32::try_from(r.int(2)?).unwrap_or(u32::MAX),
                });
            }
            names.sort_by_key(IdentityName::resolution_key);
            state.identity_names = Some(names);
        }
        // Sorted here, in byte order: a database's collation may order text otherwise.
        Fills::Channels => {
            let mut channels = pairs(rows)?;
            channels.sort();
            state.ums.get_or_insert_with(UmsConfig::default).channels = channels;
        }
        Fills::Senders => {
            let mut senders = pairs(rows)?;
            senders.sort();
            state.ums.get_or_insert_with(UmsConfig::default).senders = senders
                .into_iter()
                .filter_map(|(c, k)| Some((c, SenderKind::parse(&k)?)))
                .collect();
        }
        Fills::Grants => {
            let mut grants = pairs(rows)?;
            grants.sort();
            state.ums.get_or_insert_with(UmsConfig::default).grants = grants;
        }
        Fills::NextUid => {
            if let Some(r) = rows.first() {
                if let Ok(n) = r.int(0) {
                    state.next_uid = Some(Uid::new(n.max(1)));
                }
            }
        }
        Fills::LoginDays => {
            for r in rows {
                let c = cid(r.text(0)?)?;
                state.login_days.entry(c).or_default().insert(r.int(1)?);
            }
        }
    }
    Ok(())
}

fn pairs(rows: Vec<Row>) -> StoreResult<Vec<(String, String)>> {
    rows.into_iter()
        .map(|r| Ok((r.text(0)?, r.text(1)?)))
        .collect()
}

/// Marks what `needs` asked for and no row answered as absent.
fn settle(needs: &Needs, state: &mut State) -> StoreResult<()> {
    for c in &needs.devices {
        state.devices.entry(c.clone()).or_insert(None);
    }
    for c in &needs.login_days {
        state.login_days.entry(c.clone()).or_default();
    }
    if needs.next_uid && state.next_uid.is_none() {
        return Err(StoreError::Backend("no next uid".into()));
    }
    Ok(())
}

fn encode_types(types: &[DtType]) -> String {
    types
        .iter()
        .map(|t| t.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn decode_types(s: &str) -> Vec<DtType> {
    s.split(',').filter_map(DtType::parse).collect()
}

fn json(v: &impl serde::Serialize) -> StoreResult<String> {
    serde_json::to_string(v).map_err(json_err)
}

/// A decided write: its plan, the statements that write it and its change-log entry,
/// and the seq it commits under.
#[derive(Debug)]
pub struct Decided<O> {
    /// The plan.
    pub plan: Plan<O>,
    /// Run in order, in the transaction that loaded the state.
    pub stmts: Vec<Stmt>,
    /// The app's seq once committed: a new one when the plan changes anything, else
    /// the app's current one.
    pub seq: u64,
}

/// Decides `rule` on a loaded `state`: its plan and the statements that write it and,
/// when it changes anything, record it in the change log under the app's next seq, in
/// the same transaction. `at` is the commit time the log shows (ms).
pub fn decide<R: roster_core::rules::Rule + ?Sized>(
    app: &AppId,
    rule: &R,
    state: &mut State,
    dialect: &Dialect,
    at: i64,
) -> StoreResult<Decided<R::Outcome>> {
    let current = match &state.app {
        Some(Some(facts)) => facts.seq,
        _ => 0,
    };
    let plan = roster_core::rules::plan(rule, state)?;
    let mut stmts = writes(app, &plan, dialect)?;
    if plan.mutations.is_empty() {
        return Ok(Decided {
            plan,
            stmts,
            seq: current,
        });
    }
    let seq = current + 1;
    let body = roster_core::change::body(&plan.mutations)
        .map_err(|e| StoreError::Backend(format!("change log line: {e}")))?;
    let a = || Value::from(app.as_str());
    let n = seq_value(seq);
    stmts.push(Stmt::new(
        "UPDATE apps SET seq = $2 WHERE id = $1",
        vec![a(), n.clone()],
    ));
    stmts.push(Stmt::new(
        "INSERT INTO changes (app_id, seq, at, lines, body) VALUES ($1, $2, $3, $4, $5)",
        vec![
            a(),
            n,
            at.into(),
            (plan.mutations.len() as i64).into(),
            body.into(),
        ],
    ));
    if let Some(notify) = dialect.notify {
        stmts.push(Stmt::new(notify, vec![a()]));
    }
    Ok(Decided { plan, stmts, seq })
}

fn seq_value(seq: u64) -> Value {
    Value::Int(i64::try_from(seq).unwrap_or(i64::MAX))
}

/// The statements that write a plan's mutations and secrets for `app`, in order.
fn writes<O>(app: &AppId, plan: &Plan<O>, dialect: &Dialect) -> StoreResult<Vec<Stmt>> {
    let a = || Value::from(app.as_str());
    let mut out = Vec::new();
    let mut push = |sql: &'static str, params: Vec<Value>| out.push(Stmt::new(sql, params));
    for m in &plan.mutations {
        match m {
            Mutation::AppCreated { name, created_at } => {
                let creds = plan
                    .secrets
                    .iter()
                    .find_map(|s| match s {
                        Secret::App(c) => Some(c),
                        _ => None,
                    })
                    .ok_or_else(|| StoreError::Backend("app created without credentials".into()))?;
                push(
                    "INSERT INTO apps (id, name, created_at, credentials) VALUES ($1, $2, $3, $4)",
                    vec![a(), name.into(), (*created_at).into(), json(creds)?.into()],
                );
            }
            Mutation::DtTypesSet { types } => push(
                "UPDATE apps SET enabled_dt_types = $2 WHERE id = $1",
                vec![a(), encode_types(types).into()],
            ),
            Mutation::DeviceInserted { ordinal, device: d } => {
                push(
                    "INSERT INTO devices (app_id, cid, kind, phone_type, brand, phone_model,
                        package_name, client_app_id, device_token, device_token_type,
                        notification_switch, region, app_version, os, properties, online,
                        create_time, last_login_time, badge, blacklisted, alias, ord)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
                        $16, $17, $18, $19, $20, $21, $22)",
                    device_values(a(), d, *ordinal)?,
                );
                push(
                    "UPDATE apps SET next_ord = $2 WHERE id = $1",
                    vec![a(), (i64::from(*ordinal) + 1).into()],
                );
            }
            Mutation::DeviceUpdated { after: d, ordinal, .. } => {
                push(
                    "UPDATE devices SET kind = $3, phone_type = $4, brand = $5, phone_model = $6,
                        package_name = $7, client_app_id = $8, device_token = $9,
                        device_token_type = $10, notification_switch = $11, region = $12,
                        app_version = $13, os = $14, properties = $15, online = $16,
                        create_time = $17, last_login_time = $18, badge = $19,
                        blacklisted = $20, alias = $21
                     WHERE app_id = $1 AND cid = $2 AND ord = $22",
                    device_values(a(), d, *ordinal)?,
                );
            }
            Mutation::TagsSet { cid, tags, .. } => {
                push(
                    "DELETE FROM device_tags WHERE device_id =
                        (SELECT id FROM devices WHERE app_id = $1 AND cid = $2)",
                    vec![a(), cid.as_str().into()],
                );
                for t in tags {
                    push(
                        "INSERT INTO device_tags (device_id, tag)
                         SELECT id, $3 FROM devices WHERE app_id = $1 AND cid = $2",
                        vec![a(), cid.as_str().into(), t.as_str().into()],
                    );
                }
            }
            Mutation::TagAdded { cid, tag, .. } => push(
                "INSERT INTO device_tags (device_id, tag)
                 SELECT id, $3 FROM devices WHERE app_id = $1 AND cid = $2",
                vec![a(), cid.as_str().into(), tag.as_str().into()],
            ),
            Mutation::TagRemoved { cid, tag, .. } => push(
                "DELETE FROM device_tags WHERE device_id =
                    (SELECT id FROM devices WHERE app_id = $1 AND cid = $2) AND tag = $3",
                vec![a(), cid.as_str().into(), tag.as_str().into()],
            ),
            Mutation::AliasBound { cid, alias, .. } => push(
                "UPDATE devices SET alias = $3 WHERE app_id = $1 AND cid = $2",
                vec![a(), cid.as_str().into(), alias.as_str().into()],
            ),
            Mutation::AliasUnbound { cid, .. } => push(
                "UPDATE devices SET alias = NULL WHERE app_id = $1 AND cid = $2",
                vec![a(), cid.as_str().into()],
            ),
            Mutation::BlacklistSet { cid, on, .. } => push(
                "UPDATE devices SET blacklisted = $3 WHERE app_id = $1 AND cid = $2",
                vec![a(), cid.as_str().into(), (*on).into()],
            ),
            Mutation::BadgeSet { cid, badge, .. } => push(
                "UPDATE devices SET badge = $3 WHERE app_id = $1 AND cid = $2",
                vec![a(), cid.as_str().into(), (*badge).into()],
            ),
            Mutation::PresenceSet { cid, online, .. } => push(
                "UPDATE devices SET online = $3 WHERE app_id = $1 AND cid = $2",
                vec![a(), cid.as_str().into(), (*online).into()],
            ),
            Mutation::LoggedIn {
                cid,
                last_login_time,
                ..
            } => push(
                "UPDATE devices SET online = $3, last_login_time = $4 WHERE app_id = $1 AND cid = $2",
                vec![a(), cid.as_str().into(), true.into(), (*last_login_time).into()],
            ),
            Mutation::LoginDayRecorded {
                cid,
                day,
                forget_before,
            } => {
                push(
                    "INSERT INTO device_login_days (device_id, day)
                     SELECT id, CAST($3 AS BIGINT) FROM devices WHERE app_id = $1 AND cid = $2",
                    vec![a(), cid.as_str().into(), (*day).into()],
                );
                push(
                    "DELETE FROM device_login_days WHERE device_id =
                        (SELECT id FROM devices WHERE app_id = $1 AND cid = $2) AND day < $3",
                    vec![a(), cid.as_str().into(), (*forget_before).into()],
                );
            }
            Mutation::DeviceTokenBound {
                cid,
                kind,
                token,
                brand,
                ..
            } => push(
                "UPDATE devices SET device_token = $3, device_token_type = $4, brand = $5
                 WHERE app_id = $1 AND cid = $2",
                vec![
                    a(),
                    cid.as_str().into(),
                    token.into(),
                    kind.as_str().into(),
                    brand.as_deref().into(),
                ],
            ),
            Mutation::DeviceTokenUnbound { cid, brand, .. } => push(
                "UPDATE devices SET device_token = NULL, device_token_type = NULL, brand = $3
                 WHERE app_id = $1 AND cid = $2",
                vec![a(), cid.as_str().into(), brand.as_deref().into()],
            ),
            Mutation::UserCreated { uid, created_at } => {
                push(
                    "INSERT INTO users (uid, app_id, created_at) VALUES ($1, $2, $3)",
                    vec![(*uid).into(), a(), (*created_at).into()],
                );
                if let Some(sql) = dialect.uid_used {
                    push(sql, vec![(*uid).into()]);
                }
            }
            Mutation::UserDeleted { uid } => push(
                // Identities, contacts and bindings go with it (ON DELETE CASCADE).
                "DELETE FROM users WHERE uid = $1 AND app_id = $2",
                vec![(*uid).into(), a()],
            ),
            Mutation::IdentitySet {
                uid, name, value, ..
            } => push(
                "INSERT INTO user_identities (app_id, name, value, uid) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (app_id, name, value) DO UPDATE SET uid = excluded.uid",
                vec![a(), name.into(), value.into(), (*uid).into()],
            ),
            Mutation::IdentityRemoved { uid, name, value } => push(
                "DELETE FROM user_identities
                 WHERE app_id = $1 AND name = $2 AND value = $3 AND uid = $4",
                vec![a(), name.into(), value.into(), (*uid).into()],
            ),
            Mutation::UserPropertiesSet { uid, properties } => push(
                "UPDATE users SET properties = $2 WHERE uid = $1",
                vec![(*uid).into(), json(properties)?.into()],
            ),
            Mutation::ContactSet { uid, kind, value } => push(
                "INSERT INTO user_contacts (uid, kind, value) VALUES ($1, $2, $3)
                 ON CONFLICT (uid, kind) DO UPDATE SET value = excluded.value",
                vec![(*uid).into(), kind.into(), value.into()],
            ),
            Mutation::ContactRemoved { uid, kind } => push(
                "DELETE FROM user_contacts WHERE uid = $1 AND kind = $2",
                vec![(*uid).into(), kind.into()],
            ),
            Mutation::BindingSet(b) => push(
                "INSERT INTO ums_bindings (uid, field, bind_id, value) VALUES ($1, $2, $3, $4)",
                binding_values(b),
            ),
            Mutation::BindingRemoved(b) => push(
                "DELETE FROM ums_bindings
                 WHERE uid = $1 AND field = $2 AND bind_id = $3 AND value = $4",
                binding_values(b),
            ),
            Mutation::UmsChannelCreated { channel_key, code } => push(
                "INSERT INTO ums_channels (channel_key, app_id, code) VALUES ($1, $2, $3)",
                vec![channel_key.into(), a(), code.into()],
            ),
            Mutation::UmsSenderCreated { code, kind } => push(
                "INSERT INTO ums_senders (app_id, code, kind) VALUES ($1, $2, $3)",
                vec![a(), code.into(), kind.as_str().into()],
            ),
            Mutation::UmsSenderGranted {
                channel_key,
                sender_code,
            } => push(
                "INSERT INTO ums_grants (channel_key, sender_code) VALUES ($1, $2)",
                vec![channel_key.into(), sender_code.into()],
            ),
            Mutation::IdentityNameCreated { name } => push(
                "INSERT INTO identity_names (app_id, name, is_unique, priority)
                 VALUES ($1, $2, $3, $4)",
                vec![a(), (&name.name).into(), name.unique.into(), name.priority.into()],
            ),
        }
    }
    for s in &plan.secrets {
        let rows: Vec<(String, String, CredentialKind)> = match s {
            Secret::App(c) => CredentialKind::defaults(c)
                .into_iter()
                .map(|(k, s, kind)| (k.to_owned(), s.to_owned(), kind))
                .collect(),
            Secret::UmsChannel {
                channel_key,
                secret,
            } => vec![(
                channel_key.clone(),
                secret.clone(),
                CredentialKind::UmsChannel,
            )],
        };
        for (key, secret, kind) in rows {
            push(
                "INSERT INTO credentials (key, secret, app_id, kind) VALUES ($1, $2, $3, $4)",
                vec![key.into(), secret.into(), a(), kind.as_str().into()],
            );
        }
    }
    Ok(out)
}

fn binding_values(b: &roster_core::rules::Binding) -> Vec<Value> {
    vec![
        b.uid.into(),
        b.field.as_str().into(),
        (&b.bind_id).into(),
        (&b.value).into(),
    ]
}

fn device_values(app: Value, d: &Device, ordinal: u32) -> StoreResult<Vec<Value>> {
    Ok(vec![
        app,
        d.cid.as_str().into(),
        d.kind.as_str().into(),
        d.phone_type.as_str().into(),
        d.brand.as_deref().into(),
        d.phone_model.as_deref().into(),
        d.package_name.as_deref().into(),
        d.client_app_id.as_deref().into(),
        d.device_token.as_deref().into(),
        d.device_token_type.map(DtType::as_str).into(),
        d.notification_switch.into(),
        d.region.as_deref().into(),
        d.app_version.as_deref().into(),
        d.os.as_deref().into(),
        json(&d.properties)?.into(),
        d.online.into(),
        d.create_time.into(),
        d.last_login_time.into(),
        d.badge.into(),
        d.blacklisted.into(),
        d.alias.as_ref().map(Alias::as_str).into(),
        ordinal.into(),
    ])
}

/// Reads an app.
pub fn get_app(app: &AppId) -> Stmt {
    Stmt::new(
        "SELECT name, created_at, credentials, enabled_dt_types FROM apps WHERE id = $1",
        vec![app.as_str().into()],
    )
}

/// The app of [`get_app`]'s rows.
pub fn app_of(rows: &[Row]) -> StoreResult<Option<App>> {
    let Some(r) = rows.first() else {
        return Ok(None);
    };
    let credentials: AppCredentials = serde_json::from_str(&r.text(2)?)
        .map_err(|e| StoreError::Backend(format!("decode credentials: {e}")))?;
    Ok(Some(App {
        name: r.text(0)?,
        credentials,
        created_at: r.int(1)?,
        enabled_dt_types: decode_types(&r.text(3)?),
    }))
}

/// Every app id.
pub fn app_ids() -> Stmt {
    Stmt::new("SELECT id FROM apps ORDER BY id", Vec::new())
}

/// Every app's id and newest seq.
pub fn app_seqs() -> Stmt {
    Stmt::new("SELECT id, seq FROM apps ORDER BY id", Vec::new())
}

/// The (app, seq) pairs of [`app_seqs`]' rows.
pub fn app_seqs_of(rows: &[Row]) -> StoreResult<Vec<(AppId, u64)>> {
    let ids = ids_of(rows)?;
    ids.into_iter()
        .zip(rows)
        .map(|(id, r)| Ok((id, seq_of(r.int(1)?))))
        .collect()
}

fn seq_of(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Reads `app`'s log after `after`: the app's newest and last pruned seq, then at most
/// `limit` entries, oldest first. Run on one snapshot.
pub fn log_after(app: &AppId, after: u64, limit: usize) -> Vec<Stmt> {
    vec![
        Stmt::new(
            "SELECT seq, pruned_through FROM apps WHERE id = $1",
            vec![app.as_str().into()],
        ),
        Stmt::new(
            "SELECT seq, at, lines, body FROM changes WHERE app_id = $1 AND seq > $2
             ORDER BY seq LIMIT $3",
            vec![
                app.as_str().into(),
                seq_value(after),
                Value::Int(i64::try_from(limit).unwrap_or(i64::MAX)),
            ],
        ),
    ]
}

/// The log of [`log_after`]'s results; `None` when the app does not exist.
pub fn log_read_of(results: &[Vec<Row>]) -> StoreResult<Option<crate::changes::LogRead>> {
    let (Some(app), Some(entries)) = (results.first(), results.get(1)) else {
        return Err(StoreError::Backend("log read gave no result".into()));
    };
    let Some(app) = app.first() else {
        return Ok(None);
    };
    let entries = entries
        .iter()
        .map(|r| {
            Ok(crate::changes::LogEntry {
                seq: seq_of(r.int(0)?),
                at: r.int(1)?,
                lines: seq_of(r.int(2)?),
                body: r.text(3)?,
            })
        })
        .collect::<StoreResult<_>>()?;
    Ok(Some(crate::changes::LogRead {
        newest: seq_of(app.int(0)?),
        pruned_through: seq_of(app.int(1)?),
        entries,
    }))
}

/// Removes the changes committed before `before` (ms), recording per app the last seq
/// removed; the second statement's count is the entries removed.
pub fn prune_changes(before: i64) -> Vec<Stmt> {
    vec![
        Stmt::new(
            "UPDATE apps SET pruned_through =
                (SELECT MAX(seq) FROM changes c WHERE c.app_id = apps.id AND c.at < $1)
             WHERE EXISTS (SELECT 1 FROM changes c
                WHERE c.app_id = apps.id AND c.at < $1 AND c.seq > apps.pruned_through)",
            vec![before.into()],
        ),
        Stmt::new(
            "DELETE FROM changes
             WHERE seq <= (SELECT pruned_through FROM apps WHERE apps.id = changes.app_id)",
            Vec::new(),
        ),
    ]
}

/// The ids of [`app_ids`]' rows.
pub fn ids_of(rows: &[Row]) -> StoreResult<Vec<AppId>> {
    rows.iter()
        .map(|r| AppId::parse(r.text(0)?).map_err(|_| StoreError::Backend("bad app id".into())))
        .collect()
}

/// Looks a Basic-auth key up.
pub fn find_credential(key: &str) -> Stmt {
    Stmt::new(
        "SELECT app_id, kind, secret FROM credentials WHERE key = $1",
        vec![key.into()],
    )
}

/// The credential of [`find_credential`]'s rows.
pub fn credential_of(rows: &[Row]) -> StoreResult<Option<Credential>> {
    let Some(r) = rows.first() else {
        return Ok(None);
    };
    Ok(AppId::parse(r.text(0)?).ok().and_then(|app| {
        Some(Credential {
            app,
            kind: CredentialKind::parse(&r.text(1).ok()?)?,
            secret: r.text(2).ok()?,
        })
    }))
}

/// Records a token digest, dropping tokens two lifetimes past expiry.
pub fn insert_token(app: &AppId, digest: &str, expires_at: i64) -> Vec<Stmt> {
    let horizon = roster_core::app::tokens_forgotten_before(expires_at);
    vec![
        Stmt::new(
            "DELETE FROM getui_tokens WHERE expires_at < $1",
            vec![horizon.into()],
        ),
        // Inserts nothing for an unknown app: the caller answers NotFound.
        Stmt::new(
            "INSERT INTO getui_tokens (digest, app_id, expires_at)
             SELECT $1, id, CAST($3 AS BIGINT) FROM apps WHERE id = $2",
            vec![digest.into(), app.as_str().into(), expires_at.into()],
        ),
    ]
}

/// The app of a live token.
pub fn token_app(digest: &str, now: i64) -> Stmt {
    Stmt::new(
        "SELECT app_id, expires_at FROM getui_tokens
         WHERE digest = $1 AND revoked = $2 AND expires_at > $3",
        vec![digest.into(), false.into(), now.into()],
    )
}

/// The grant of [`token_app`]'s rows.
pub fn token_app_of(rows: &[Row]) -> StoreResult<Option<crate::TokenGrant>> {
    let Some(r) = rows.first() else {
        return Ok(None);
    };
    Ok(AppId::parse(r.text(0)?).ok().map(|app| crate::TokenGrant {
        app,
        expires_at: r.int(1).unwrap_or(0),
    }))
}

/// Revokes a token of an app; one row changed when it was live.
pub fn revoke_token(app: &AppId, digest: &str) -> Stmt {
    Stmt::new(
        "UPDATE getui_tokens SET revoked = $3 WHERE digest = $1 AND app_id = $2 AND revoked = $4",
        vec![
            digest.into(),
            app.as_str().into(),
            true.into(),
            false.into(),
        ],
    )
}

/// Counts the audience in SQL.
pub fn count_audience(app: &AppId, q: &roster_core::AudienceQuery) -> Stmt {
    let mut params = vec![Value::from(app.as_str())];
    let clause = audience_clause(q, &mut params);
    Stmt::built(
        format!("SELECT COUNT(*) FROM devices d WHERE d.app_id = $1{clause}"),
        params,
    )
}

/// A page of the audience in SQL, by ordinal.
pub fn audience_page(
    app: &AppId,
    q: &roster_core::AudienceQuery,
    after: Option<u32>,
    limit: usize,
) -> Stmt {
    let after = after.map_or(-1, i64::from);
    let mut params = vec![Value::from(app.as_str()), after.into()];
    let clause = audience_clause(q, &mut params);
    params.push(Value::Int(i64::try_from(limit).unwrap_or(i64::MAX)));
    let n = params.len();
    Stmt::built(
        format!(
            "SELECT d.ord, d.cid FROM devices d WHERE d.app_id = $1 AND d.ord > $2{clause}
             ORDER BY d.ord LIMIT ${n}"
        ),
        params,
    )
}

fn audience_clause(q: &roster_core::AudienceQuery, params: &mut Vec<Value>) -> String {
    crate::sql::audience_conditions(q, &mut |v| {
        params.push(Value::Text(v));
        format!("${}", params.len())
    })
}

/// (ordinal, cid) pairs of [`audience_page`]'s rows.
pub fn members_of(rows: &[Row]) -> StoreResult<Vec<(u32, Cid)>> {
    rows.iter()
        .map(|r| {
            let ord =
                u32::try_from(r.int(0)?).map_err(|_| StoreError::Backend("bad ordinal".into()))?;
            Ok((ord, cid(r.text(1)?)?))
        })
        .collect()
}

/// The cids of ordinals.
pub fn cids_of_ordinals(app: &AppId, ordinals: &[u32]) -> Vec<Stmt> {
    ordinals
        .iter()
        .map(|o| {
            Stmt::new(
                "SELECT ord, cid FROM devices WHERE app_id = $1 AND ord = $2",
                vec![app.as_str().into(), (*o).into()],
            )
        })
        .collect()
}
