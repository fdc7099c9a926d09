//! The SQL of roster, once for every SQL backend: how the facts a rule needs are read
//! ([`Load`]), how a plan's mutations are written ([`writes`]), and the one-off
//! statements of apps, credentials and tokens. A backend only runs statements and hands
//! rows back; the few spots where the engines differ are its [`Dialect`].

use std::collections::HashMap;

use roster_core::rules::{AppFacts, Mutation, Needs, Plan, Secret, State, StoredDevice, UmsConfig};
use roster_core::ums::SenderKind;
use roster_core::user::{IdentityName, Uid, User};
use roster_core::{
    Alias, App, AppCredentials, AppId, Cid, Device, DeviceKind, DtType, PhoneType, TagName,
};

use crate::batch::{Batch, Key, Shape, Space, Ty};
use crate::value::{Row, RowExt, Stmt, Value};
use crate::{Credential, CredentialKind, KeySecret, StoreError, StoreResult};

/// What differs between the SQL engines.
#[derive(Debug, Clone, Copy)]
pub struct Dialect {
    /// Run first in every write transaction (PostgreSQL: lock the app's row, so the
    /// writes of all nodes to one app take turns); `$1` is the app id.
    pub lock_app: Option<&'static str>,
    /// Statements answering the next uid, the last one's first column (PostgreSQL takes
    /// a lock first, as all apps share one sequence).
    pub next_uid: &'static [&'static str],
    /// Run after users are inserted with explicit uids, to move the engine's own
    /// counter past them: a statement over `r (uid)`, one row, the last uid.
    pub uid_used: Option<&'static str>,
    /// Run after a change is logged (`$1` app id), to wake other nodes' followers when
    /// the transaction commits (PostgreSQL: `NOTIFY`).
    pub notify: Option<&'static str>,
    /// How a statement receives many rows or values.
    pub lists: Lists,
}

pub use crate::batch::Lists;

/// Largest `IN (…)` list; lists are padded to a few fixed lengths so the engines'
/// statement caches see few distinct texts.
const IN_SIZES: [usize; 5] = [1, 4, 16, 64, 256];

pub(crate) fn in_list(first: usize, n: usize) -> String {
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

/// Conditions on a cid (`= ANY ($2)` or `IN ($2, …)`) that together cover `cids`, each
/// with its parameters from `$2` on: one array, or padded `IN` lists.
fn cid_lists<'c>(
    cids: impl IntoIterator<Item = &'c Cid>,
    lists: Lists,
) -> Vec<(String, Vec<Value>)> {
    let cids: Vec<String> = cids.into_iter().map(|c| c.to_string()).collect();
    match lists {
        _ if cids.is_empty() => Vec::new(),
        Lists::Arrays => vec![(
            "= ANY ($2::text[])".into(),
            vec![Value::Array(cids.into_iter().map(Value::Text).collect())],
        )],
        Lists::Rows => chunks(cids)
            .into_iter()
            .map(|vals| (format!("IN ({})", in_list(2, vals.len())), vals))
            .collect(),
    }
}

/// The app of devices read or written by cid, `$1` as a subquery, always beside a list
/// of the cids (never a join on cid alone): PostgreSQL then looks them up in the
/// (app_id, cid) index whatever it knows of the app. Given the app id itself, it plans
/// for what its statistics say of that app, and an app created since they were
/// gathered has one row: any index on app_id looks as good, and it was seen to read
/// every device an import had just given the app to find a few. Joined on cid alone,
/// it may hash every device of the app, which for the largest of many apps is far more
/// than it guesses.
const APP: &str = "(SELECT $1)";

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
    for (list, vals) in cid_lists(&needs.devices, dialect.lists) {
        let mut params = vec![a()];
        params.extend(vals);
        out.push(load(
            Fills::Devices,
            format!(
                "SELECT {DEVICE_COLUMNS} FROM devices d WHERE d.app_id = {APP} AND d.cid {list}"
            ),
            params.clone(),
        ));
        out.push(load(
            Fills::Tags,
            format!(
                "SELECT d.cid, t.tag FROM devices d JOIN device_tags t ON t.device_id = d.id
                 WHERE d.app_id = {APP} AND d.cid {list}"
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
    for (list, vals) in cid_lists(&needs.login_days, dialect.lists) {
        let mut params = vec![a()];
        params.extend(vals);
        out.push(load(
            Fills::LoginDays,
            format!(
                "SELECT d.cid, l.day FROM devices d JOIN device_login_days l ON l.device_id = d.id
                 WHERE d.app_id = {APP} AND d.cid {list}"
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

/// A device's stored properties as an index scan reads them: `None` for none (`{}`).
pub fn scanned_properties(
    json: Option<&str>,
) -> StoreResult<Option<serde_json::Map<String, serde_json::Value>>> {
    match json {
        None | Some("{}") | Some("") => Ok(None),
        Some(j) => properties(j).map(Some),
    }
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

const T: Ty = Ty::Text;
const I: Ty = Ty::Int;
const B: Ty = Ty::Bool;

/// The columns of a device row, `ord` last.
const DEVICE_ROW: &[(&str, Ty)] = &[
    ("cid", T),
    ("kind", T),
    ("phone_type", T),
    ("brand", T),
    ("phone_model", T),
    ("package_name", T),
    ("client_app_id", T),
    ("device_token", T),
    ("device_token_type", T),
    ("notification_switch", B),
    ("region", T),
    ("app_version", T),
    ("os", T),
    ("properties", T),
    ("online", B),
    ("create_time", I),
    ("last_login_time", I),
    ("badge", I),
    ("blacklisted", B),
    ("alias", T),
    ("ord", I),
];

/// The statements of [`writes`], each kind of change twice: over its rows `r`
/// (PostgreSQL, one statement for them all), and for one row (SQLite).
mod shapes {
    use super::{Shape, B, DEVICE_ROW, I, T};

    // Devices are found by app and a list of cids, as [`super::APP`] says why.

    /// `r` joined to the devices of its cids, as `d`.
    macro_rules! of_devices {
        () => {
            "r JOIN devices d ON d.cid = r.cid WHERE d.app_id = (SELECT $1) AND d.cid {cids}"
        };
    }

    /// `devices` rows matching the cids of `r`.
    macro_rules! where_devices {
        () => {
            "FROM r WHERE devices.cid = r.cid
                AND devices.app_id = (SELECT $1) AND devices.cid {cids}"
        };
    }

    pub const APP_INSERT: Shape = Shape::new(
        &[("name", T), ("created_at", I), ("credentials", T)],
        "INSERT INTO apps (id, name, created_at, credentials) SELECT $1, r.* FROM r",
        "INSERT INTO apps (id, name, created_at, credentials) VALUES ($1, $2, $3, $4)",
    );
    pub const DT_TYPES: Shape = Shape::new(
        &[("enabled_dt_types", T)],
        "UPDATE apps SET enabled_dt_types = r.enabled_dt_types FROM r WHERE apps.id = $1",
        "UPDATE apps SET enabled_dt_types = $2 WHERE id = $1",
    );
    pub const NEXT_ORD: Shape = Shape::new(
        &[("next_ord", I)],
        "UPDATE apps SET next_ord = r.next_ord FROM r WHERE apps.id = $1",
        "UPDATE apps SET next_ord = $2 WHERE id = $1",
    )
    .last_wins();
    pub const DEVICE_INSERT: Shape = Shape::new(
        DEVICE_ROW,
        "INSERT INTO devices (app_id, cid, kind, phone_type, brand, phone_model,
            package_name, client_app_id, device_token, device_token_type,
            notification_switch, region, app_version, os, properties, online,
            create_time, last_login_time, badge, blacklisted, alias, ord)
         SELECT $1, r.* FROM r",
        "INSERT INTO devices (app_id, cid, kind, phone_type, brand, phone_model,
            package_name, client_app_id, device_token, device_token_type,
            notification_switch, region, app_version, os, properties, online,
            create_time, last_login_time, badge, blacklisted, alias, ord)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
            $18, $19, $20, $21, $22)",
    );
    pub const DEVICE_UPDATE: Shape = Shape::new(
        DEVICE_ROW,
        "UPDATE devices SET kind = r.kind, phone_type = r.phone_type, brand = r.brand,
            phone_model = r.phone_model, package_name = r.package_name,
            client_app_id = r.client_app_id, device_token = r.device_token,
            device_token_type = r.device_token_type,
            notification_switch = r.notification_switch, region = r.region,
            app_version = r.app_version, os = r.os, properties = r.properties,
            online = r.online, create_time = r.create_time,
            last_login_time = r.last_login_time, badge = r.badge,
            blacklisted = r.blacklisted, alias = r.alias
         FROM r WHERE devices.cid = r.cid AND devices.ord = r.ord
            AND devices.app_id = (SELECT $1) AND devices.cid {cids}",
        "UPDATE devices SET kind = $3, phone_type = $4, brand = $5, phone_model = $6,
            package_name = $7, client_app_id = $8, device_token = $9,
            device_token_type = $10, notification_switch = $11, region = $12,
            app_version = $13, os = $14, properties = $15, online = $16,
            create_time = $17, last_login_time = $18, badge = $19,
            blacklisted = $20, alias = $21
         WHERE app_id = $1 AND cid = $2 AND ord = $22",
    );
    pub const TAGS_CLEAR: Shape = Shape::new(
        &[("cid", T)],
        "DELETE FROM device_tags WHERE device_id IN
            (SELECT d.id FROM devices d WHERE d.app_id = (SELECT $1) AND d.cid {cids})",
        "DELETE FROM device_tags WHERE device_id =
            (SELECT id FROM devices WHERE app_id = $1 AND cid = $2)",
    );
    pub const TAG_INSERT: Shape = Shape::new(
        &[("cid", T), ("tag", T)],
        concat!(
            "INSERT INTO device_tags (device_id, tag) SELECT d.id, r.tag FROM ",
            of_devices!()
        ),
        "INSERT INTO device_tags (device_id, tag)
         SELECT id, $3 FROM devices WHERE app_id = $1 AND cid = $2",
    );
    pub const TAG_DELETE: Shape = Shape::new(
        &[("cid", T), ("tag", T)],
        concat!(
            "DELETE FROM device_tags WHERE (device_id, tag) IN (SELECT d.id, r.tag FROM ",
            of_devices!(),
            ")"
        ),
        "DELETE FROM device_tags WHERE device_id =
            (SELECT id FROM devices WHERE app_id = $1 AND cid = $2) AND tag = $3",
    );
    pub const ALIAS_BIND: Shape = Shape::new(
        &[("cid", T), ("alias", T)],
        concat!("UPDATE devices SET alias = r.alias ", where_devices!()),
        "UPDATE devices SET alias = $3 WHERE app_id = $1 AND cid = $2",
    );
    pub const ALIAS_UNBIND: Shape = Shape::new(
        &[("cid", T)],
        concat!("UPDATE devices SET alias = NULL ", where_devices!()),
        "UPDATE devices SET alias = NULL WHERE app_id = $1 AND cid = $2",
    );
    pub const BLACKLIST: Shape = Shape::new(
        &[("cid", T), ("blacklisted", B)],
        concat!(
            "UPDATE devices SET blacklisted = r.blacklisted ",
            where_devices!()
        ),
        "UPDATE devices SET blacklisted = $3 WHERE app_id = $1 AND cid = $2",
    );
    pub const BADGE: Shape = Shape::new(
        &[("cid", T), ("badge", I)],
        concat!("UPDATE devices SET badge = r.badge ", where_devices!()),
        "UPDATE devices SET badge = $3 WHERE app_id = $1 AND cid = $2",
    );
    pub const PRESENCE: Shape = Shape::new(
        &[("cid", T), ("online", B)],
        concat!("UPDATE devices SET online = r.online ", where_devices!()),
        "UPDATE devices SET online = $3 WHERE app_id = $1 AND cid = $2",
    );
    pub const OPEN_INSERT: Shape = Shape::new(
        &[("ordinal", I), ("at", I), ("text", T)],
        "INSERT INTO device_opens (app_id, ordinal, at, text) SELECT $1, r.* FROM r",
        "INSERT INTO device_opens (app_id, ordinal, at, text) VALUES ($1, $2, $3, $4)",
    );
    pub const LOGIN: Shape = Shape::new(
        &[("cid", T), ("online", B), ("last_login_time", I)],
        concat!(
            "UPDATE devices SET online = r.online, last_login_time = r.last_login_time ",
            where_devices!()
        ),
        "UPDATE devices SET online = $3, last_login_time = $4 WHERE app_id = $1 AND cid = $2",
    );
    pub const LOGIN_DAY_INSERT: Shape = Shape::new(
        &[("cid", T), ("day", I)],
        concat!(
            "INSERT INTO device_login_days (device_id, day) SELECT d.id, r.day FROM ",
            of_devices!()
        ),
        "INSERT INTO device_login_days (device_id, day)
         SELECT id, CAST($3 AS BIGINT) FROM devices WHERE app_id = $1 AND cid = $2",
    );
    pub const LOGIN_DAYS_FORGET: Shape = Shape::new(
        &[("cid", T), ("forget_before", I)],
        "DELETE FROM device_login_days WHERE (device_id, day) IN
            (SELECT l.device_id, l.day FROM r JOIN devices d ON d.cid = r.cid
                JOIN device_login_days l ON l.device_id = d.id AND l.day < r.forget_before
             WHERE d.app_id = (SELECT $1) AND d.cid {cids})",
        "DELETE FROM device_login_days WHERE device_id =
            (SELECT id FROM devices WHERE app_id = $1 AND cid = $2) AND day < $3",
    );
    pub const TOKEN_BIND: Shape = Shape::new(
        &[
            ("cid", T),
            ("device_token", T),
            ("device_token_type", T),
            ("brand", T),
        ],
        concat!(
            "UPDATE devices SET device_token = r.device_token,
                device_token_type = r.device_token_type, brand = r.brand ",
            where_devices!()
        ),
        "UPDATE devices SET device_token = $3, device_token_type = $4, brand = $5
         WHERE app_id = $1 AND cid = $2",
    );
    pub const TOKEN_UNBIND: Shape = Shape::new(
        &[("cid", T), ("brand", T)],
        concat!(
            "UPDATE devices SET device_token = NULL, device_token_type = NULL, brand = r.brand ",
            where_devices!()
        ),
        "UPDATE devices SET device_token = NULL, device_token_type = NULL, brand = $3
         WHERE app_id = $1 AND cid = $2",
    );
    pub const USER_INSERT: Shape = Shape::new(
        &[("uid", I), ("created_at", I)],
        "INSERT INTO users (uid, app_id, created_at) SELECT r.uid, $1, r.created_at FROM r",
        "INSERT INTO users (uid, app_id, created_at) VALUES ($2, $1, $3)",
    );
    // Identities, contacts and bindings go with it (ON DELETE CASCADE).
    pub const USER_DELETE: Shape = Shape::new(
        &[("uid", I)],
        "DELETE FROM users WHERE app_id = $1 AND uid IN (SELECT r.uid FROM r)",
        "DELETE FROM users WHERE uid = $2 AND app_id = $1",
    );
    // `WHERE true`: SQLite's parser needs it before ON CONFLICT.
    pub const IDENTITY_SET: Shape = Shape::new(
        &[("name", T), ("value", T), ("uid", I)],
        "INSERT INTO user_identities (app_id, name, value, uid)
         SELECT $1, r.name, r.value, r.uid FROM r WHERE true
         ON CONFLICT (app_id, name, value) DO UPDATE SET uid = excluded.uid",
        "INSERT INTO user_identities (app_id, name, value, uid) VALUES ($1, $2, $3, $4)
         ON CONFLICT (app_id, name, value) DO UPDATE SET uid = excluded.uid",
    );
    pub const IDENTITY_DELETE: Shape = Shape::new(
        &[("name", T), ("value", T), ("uid", I)],
        "DELETE FROM user_identities WHERE app_id = $1
            AND (name, value, uid) IN (SELECT r.name, r.value, r.uid FROM r)",
        "DELETE FROM user_identities
         WHERE app_id = $1 AND name = $2 AND value = $3 AND uid = $4",
    );
    pub const USER_PROPERTIES: Shape = Shape::new(
        &[("uid", I), ("properties", T)],
        "UPDATE users SET properties = r.properties FROM r WHERE users.uid = r.uid",
        "UPDATE users SET properties = $2 WHERE uid = $1",
    )
    .without_app();
    pub const CONTACT_SET: Shape = Shape::new(
        &[("uid", I), ("kind", T), ("value", T)],
        "INSERT INTO user_contacts (uid, kind, value) SELECT r.* FROM r WHERE true
         ON CONFLICT (uid, kind) DO UPDATE SET value = excluded.value",
        "INSERT INTO user_contacts (uid, kind, value) VALUES ($1, $2, $3)
         ON CONFLICT (uid, kind) DO UPDATE SET value = excluded.value",
    )
    .without_app();
    pub const CONTACT_DELETE: Shape = Shape::new(
        &[("uid", I), ("kind", T)],
        "DELETE FROM user_contacts WHERE (uid, kind) IN (SELECT r.uid, r.kind FROM r)",
        "DELETE FROM user_contacts WHERE uid = $1 AND kind = $2",
    )
    .without_app();
    const BINDING: &[(&str, super::Ty)] = &[("uid", I), ("field", T), ("bind_id", T), ("value", T)];
    pub const BINDING_INSERT: Shape = Shape::new(
        BINDING,
        "INSERT INTO ums_bindings (uid, field, bind_id, value) SELECT r.* FROM r",
        "INSERT INTO ums_bindings (uid, field, bind_id, value) VALUES ($1, $2, $3, $4)",
    )
    .without_app();
    pub const BINDING_DELETE: Shape = Shape::new(
        BINDING,
        "DELETE FROM ums_bindings WHERE (uid, field, bind_id, value) IN
            (SELECT r.uid, r.field, r.bind_id, r.value FROM r)",
        "DELETE FROM ums_bindings
         WHERE uid = $1 AND field = $2 AND bind_id = $3 AND value = $4",
    )
    .without_app();
    pub const CHANNEL_INSERT: Shape = Shape::new(
        &[("channel_key", T), ("code", T)],
        "INSERT INTO ums_channels (channel_key, app_id, code)
         SELECT r.channel_key, $1, r.code FROM r",
        "INSERT INTO ums_channels (channel_key, app_id, code) VALUES ($2, $1, $3)",
    );
    pub const SENDER_INSERT: Shape = Shape::new(
        &[("code", T), ("kind", T)],
        "INSERT INTO ums_senders (app_id, code, kind) SELECT $1, r.* FROM r",
        "INSERT INTO ums_senders (app_id, code, kind) VALUES ($1, $2, $3)",
    );
    pub const GRANT_INSERT: Shape = Shape::new(
        &[("channel_key", T), ("sender_code", T)],
        "INSERT INTO ums_grants (channel_key, sender_code) SELECT r.* FROM r",
        "INSERT INTO ums_grants (channel_key, sender_code) VALUES ($1, $2)",
    )
    .without_app();
    pub const IDENTITY_NAME_INSERT: Shape = Shape::new(
        &[("name", T), ("is_unique", B), ("priority", I)],
        "INSERT INTO identity_names (app_id, name, is_unique, priority) SELECT $1, r.* FROM r",
        "INSERT INTO identity_names (app_id, name, is_unique, priority)
         VALUES ($1, $2, $3, $4)",
    );
    // Its tags and login days go with it (ON DELETE CASCADE); its opens are keyed by
    // the ordinal, which no later device gets.
    pub const OPENS_DELETE: Shape = Shape::new(
        &[("ordinal", I)],
        "DELETE FROM device_opens WHERE app_id = $1 AND ordinal IN (SELECT r.ordinal FROM r)",
        "DELETE FROM device_opens WHERE app_id = $1 AND ordinal = $2",
    );
    pub const DEVICE_DELETE: Shape = Shape::new(
        &[("cid", T)],
        "DELETE FROM devices WHERE app_id = (SELECT $1) AND cid {cids}",
        "DELETE FROM devices WHERE app_id = $1 AND cid = $2",
    );
    pub const CREDENTIAL_INSERT: Shape = Shape::new(
        &[("key", T), ("secret", T), ("kind", T), ("created_at", I)],
        "INSERT INTO credentials (key, secret, app_id, kind, created_at)
         SELECT r.key, r.secret, $1, r.kind, r.created_at FROM r",
        "INSERT INTO credentials (key, secret, app_id, kind, created_at)
         VALUES ($2, $3, $1, $4, $5)",
    );
}

/// Keys of rows that change a device row, and of rows that need it.
fn dev_write(cid: &Cid) -> Key<'_> {
    Key::write(Space::Device, cid.as_str())
}

fn dev_read(cid: &Cid) -> Key<'_> {
    Key::read(Space::Device, cid.as_str())
}

fn app_read() -> Key<'static> {
    Key::read(Space::App, "")
}

fn user_read(uid: Uid) -> Key<'static> {
    Key::read(Space::User, uid.get().to_string())
}

fn user_write(uid: Uid) -> Key<'static> {
    Key::write(Space::User, uid.get().to_string())
}

/// The statements that write a plan's mutations and secrets for `app`, in order: rows
/// of one kind go together in multi-row statements, after whatever they depend on.
fn writes<O>(app: &AppId, plan: &Plan<O>, dialect: &Dialect) -> StoreResult<Vec<Stmt>> {
    use shapes::*;
    let mut b = Batch::default();
    // Devices this plan inserts, with the earliest login day it records for each: they
    // have no other days, so forgetting days before a later one deletes nothing.
    let mut fresh: HashMap<&Cid, i64> = HashMap::new();
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
                b.push(
                    APP_INSERT,
                    vec![name.into(), (*created_at).into(), json(creds)?.into()],
                    [
                        Key::write(Space::App, ""),
                        Key::write(Space::NextOrd, ""),
                        Key::write(Space::DtTypes, ""),
                    ],
                );
            }
            Mutation::DtTypesSet { types } => b.push(
                DT_TYPES,
                vec![encode_types(types).into()],
                [Key::write(Space::DtTypes, ""), app_read()],
            ),
            Mutation::DeviceInserted { ordinal, device: d } => {
                fresh.insert(&d.cid, i64::MAX);
                b.push(
                    DEVICE_INSERT,
                    device_row(d, *ordinal)?,
                    [dev_write(&d.cid), app_read()],
                );
                b.push(
                    NEXT_ORD,
                    vec![(i64::from(*ordinal) + 1).into()],
                    [Key::write(Space::NextOrd, ""), app_read()],
                );
                // A device arrives with every fact, its tags included (an import).
                let all = Key::write(Space::Tag, d.cid.as_str());
                for t in &d.tags {
                    b.push(
                        TAG_INSERT,
                        vec![d.cid.as_str().into(), t.as_str().into()],
                        [all.clone().item(t.as_str()), dev_read(&d.cid)],
                    );
                }
            }
            Mutation::DeviceUpdated {
                after: d, ordinal, ..
            } => b.push(DEVICE_UPDATE, device_row(d, *ordinal)?, [dev_write(&d.cid)]),
            Mutation::TagsSet { cid, tags, .. } => {
                let all = Key::write(Space::Tag, cid.as_str());
                b.push(
                    TAGS_CLEAR,
                    vec![cid.as_str().into()],
                    [all.clone(), dev_read(cid)],
                );
                for t in tags {
                    b.push(
                        TAG_INSERT,
                        vec![cid.as_str().into(), t.as_str().into()],
                        [all.clone().item(t.as_str()), dev_read(cid)],
                    );
                }
            }
            Mutation::TagAdded { cid, tag, .. } | Mutation::TagRemoved { cid, tag, .. } => {
                let shape = match m {
                    Mutation::TagAdded { .. } => TAG_INSERT,
                    _ => TAG_DELETE,
                };
                b.push(
                    shape,
                    vec![cid.as_str().into(), tag.as_str().into()],
                    [
                        Key::write(Space::Tag, cid.as_str()).item(tag.as_str()),
                        dev_read(cid),
                    ],
                );
            }
            Mutation::AliasBound { cid, alias, .. } => b.push(
                ALIAS_BIND,
                vec![cid.as_str().into(), alias.as_str().into()],
                [dev_write(cid)],
            ),
            Mutation::AliasUnbound { cid, .. } => {
                b.push(ALIAS_UNBIND, vec![cid.as_str().into()], [dev_write(cid)]);
            }
            Mutation::BlacklistSet { cid, on, .. } => b.push(
                BLACKLIST,
                vec![cid.as_str().into(), (*on).into()],
                [dev_write(cid)],
            ),
            Mutation::BadgeSet { cid, badge, .. } => b.push(
                BADGE,
                vec![cid.as_str().into(), (*badge).into()],
                [dev_write(cid)],
            ),
            Mutation::PresenceSet { cid, online, .. } => b.push(
                PRESENCE,
                vec![cid.as_str().into(), (*online).into()],
                [dev_write(cid)],
            ),
            Mutation::LoggedIn {
                cid,
                last_login_time,
                ..
            } => b.push(
                LOGIN,
                vec![cid.as_str().into(), true.into(), (*last_login_time).into()],
                [dev_write(cid)],
            ),
            Mutation::DeviceOpened {
                cid,
                ordinal,
                text,
                at,
            } => b.push(
                OPEN_INSERT,
                vec![(*ordinal).into(), (*at).into(), text.as_str().into()],
                [Key::write(Space::Open, cid.as_str()), dev_read(cid)],
            ),
            Mutation::LoginDayRecorded {
                cid,
                day,
                forget_before,
            } => {
                let days = Key::write(Space::LoginDay, cid.as_str());
                b.push(
                    LOGIN_DAY_INSERT,
                    vec![cid.as_str().into(), (*day).into()],
                    [days.clone().item(day.to_string()), dev_read(cid)],
                );
                if let Some(earliest) = fresh.get_mut(cid) {
                    *earliest = (*earliest).min(*day);
                    if *earliest >= *forget_before {
                        continue;
                    }
                }
                b.push(
                    LOGIN_DAYS_FORGET,
                    vec![cid.as_str().into(), (*forget_before).into()],
                    [days, dev_read(cid)],
                );
            }
            Mutation::DeviceTokenBound {
                cid,
                kind,
                token,
                brand,
                ..
            } => b.push(
                TOKEN_BIND,
                vec![
                    cid.as_str().into(),
                    token.into(),
                    kind.as_str().into(),
                    brand.as_deref().into(),
                ],
                [dev_write(cid)],
            ),
            Mutation::DeviceTokenUnbound { cid, brand, .. } => b.push(
                TOKEN_UNBIND,
                vec![cid.as_str().into(), brand.as_deref().into()],
                [dev_write(cid)],
            ),
            Mutation::UserCreated { uid, created_at } => {
                b.push(
                    USER_INSERT,
                    vec![(*uid).into(), (*created_at).into()],
                    [user_write(*uid), app_read()],
                );
                if let Some(body) = dialect.uid_used {
                    let shape = Shape::new(&[("uid", I)], body, "")
                        .without_app()
                        .last_wins();
                    b.push(shape, vec![(*uid).into()], [Key::write(Space::UidSeq, "")]);
                }
            }
            Mutation::UserDeleted { uid } => {
                let u = uid.get().to_string();
                b.push(
                    USER_DELETE,
                    vec![(*uid).into()],
                    [
                        user_write(*uid),
                        Key::write(Space::Contact, u.clone()),
                        Key::write(Space::Binding, u),
                        Key::write(Space::Identity, ""),
                    ],
                );
            }
            Mutation::IdentitySet {
                uid, name, value, ..
            }
            | Mutation::IdentityRemoved { uid, name, value } => {
                let shape = match m {
                    Mutation::IdentitySet { .. } => IDENTITY_SET,
                    _ => IDENTITY_DELETE,
                };
                b.push(
                    shape,
                    vec![name.into(), value.into(), (*uid).into()],
                    [
                        Key::write(Space::Identity, "").item(format!("{name}\0{value}")),
                        user_read(*uid),
                    ],
                );
            }
            Mutation::UserPropertiesSet { uid, properties } => b.push(
                USER_PROPERTIES,
                vec![(*uid).into(), json(properties)?.into()],
                [user_write(*uid)],
            ),
            Mutation::ContactSet { uid, kind, value } => b.push(
                CONTACT_SET,
                vec![(*uid).into(), kind.into(), value.into()],
                [contact(*uid, kind), user_read(*uid)],
            ),
            Mutation::ContactRemoved { uid, kind } => b.push(
                CONTACT_DELETE,
                vec![(*uid).into(), kind.into()],
                [contact(*uid, kind), user_read(*uid)],
            ),
            Mutation::BindingSet(x) | Mutation::BindingRemoved(x) => {
                let shape = match m {
                    Mutation::BindingSet(_) => BINDING_INSERT,
                    _ => BINDING_DELETE,
                };
                let item = format!("{}\0{}\0{}", x.field.as_str(), x.bind_id, x.value);
                b.push(
                    shape,
                    binding_values(x),
                    [
                        Key::write(Space::Binding, x.uid.get().to_string()).item(item),
                        user_read(x.uid),
                    ],
                );
            }
            Mutation::UmsChannelCreated { channel_key, code } => b.push(
                CHANNEL_INSERT,
                vec![channel_key.into(), code.into()],
                [Key::write(Space::Channel, channel_key), app_read()],
            ),
            Mutation::UmsSenderCreated { code, kind } => b.push(
                SENDER_INSERT,
                vec![code.into(), kind.as_str().into()],
                [Key::write(Space::Sender, code), app_read()],
            ),
            Mutation::UmsSenderGranted {
                channel_key,
                sender_code,
            } => b.push(
                GRANT_INSERT,
                vec![channel_key.into(), sender_code.into()],
                [
                    Key::write(Space::Grant, channel_key).item(sender_code),
                    Key::read(Space::Channel, channel_key),
                ],
            ),
            Mutation::IdentityNameCreated { name } => b.push(
                IDENTITY_NAME_INSERT,
                vec![
                    (&name.name).into(),
                    name.unique.into(),
                    name.priority.into(),
                ],
                [Key::write(Space::IdentityName, &name.name), app_read()],
            ),
            Mutation::DeviceDeleted { ordinal, device: d } => {
                let cid = d.cid.as_str();
                b.push(
                    OPENS_DELETE,
                    vec![(*ordinal).into()],
                    [Key::write(Space::Open, cid), dev_read(&d.cid)],
                );
                b.push(
                    DEVICE_DELETE,
                    vec![cid.into()],
                    [
                        dev_write(&d.cid),
                        Key::write(Space::Tag, cid),
                        Key::write(Space::LoginDay, cid),
                        Key::write(Space::Open, cid),
                    ],
                );
            }
        }
    }
    let app_created_at = plan.mutations.iter().find_map(|m| match m {
        Mutation::AppCreated { created_at, .. } => Some(*created_at),
        _ => None,
    });
    for s in &plan.secrets {
        let rows: Vec<(String, String, CredentialKind, i64)> = match s {
            Secret::App(c) => c
                .keys()
                .into_iter()
                .map(|(k, s, kind)| {
                    (
                        k.to_owned(),
                        s.to_owned(),
                        kind,
                        app_created_at.unwrap_or(0),
                    )
                })
                .collect(),
            Secret::UmsChannel {
                channel_key,
                secret,
                created_at,
            } => vec![(
                channel_key.clone(),
                secret.clone(),
                CredentialKind::UmsChannel,
                *created_at,
            )],
        };
        for (key, secret, kind, created_at) in rows {
            let keys = [Key::write(Space::Credential, key.clone()), app_read()];
            b.push(
                CREDENTIAL_INSERT,
                vec![
                    key.into(),
                    secret.into(),
                    kind.as_str().into(),
                    created_at.into(),
                ],
                keys,
            );
        }
    }
    Ok(b.statements(&Value::from(app.as_str()), dialect.lists))
}

fn contact(uid: Uid, kind: &str) -> Key<'_> {
    Key::write(Space::Contact, uid.get().to_string()).item(kind)
}

fn binding_values(b: &roster_core::rules::Binding) -> Vec<Value> {
    vec![
        b.uid.into(),
        b.field.as_str().into(),
        (&b.bind_id).into(),
        (&b.value).into(),
    ]
}

/// A device's row, in the order of [`DEVICE_ROW`].
fn device_row(d: &Device, ordinal: u32) -> StoreResult<Vec<Value>> {
    Ok(vec![
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

/// The secrets of keys, as [`keys_of`] reads them: current ones, then replaced ones.
macro_rules! key_secrets {
    ($where:literal) => {
        concat!(
            "SELECT app_id, kind, key, secret, created_at, CAST(NULL AS BIGINT) AS expires_at
             FROM credentials WHERE ",
            $where,
            " UNION ALL
             SELECT app_id, kind, key, secret, created_at, expires_at
             FROM retired_secrets WHERE ",
            $where,
            " ORDER BY 2, 3, 5"
        )
    };
}

/// Reads an app: its row, then its keys' secrets. Run on one snapshot.
pub fn get_app(app: &AppId) -> Vec<Stmt> {
    vec![
        Stmt::new(
            "SELECT id, name, created_at, credentials, enabled_dt_types FROM apps WHERE id = $1",
            vec![app.as_str().into()],
        ),
        Stmt::new(key_secrets!("app_id = $1"), vec![app.as_str().into()]),
    ]
}

/// The app of [`get_app`]'s results.
pub fn app_of(results: &[Vec<Row>]) -> StoreResult<Option<App>> {
    Ok(apps_of(results)?.pop())
}

/// Reads up to `limit` apps whose id sorts after `after` (all when `None`), then one
/// more row to tell whether there are more, and their keys' secrets. Run on one
/// snapshot.
pub fn list_apps(after: Option<&AppId>, limit: usize) -> Vec<Stmt> {
    let after = after.map_or("", |a| a.as_str());
    let n = i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX);
    vec![
        Stmt::new(
            "SELECT id, name, created_at, credentials, enabled_dt_types
             FROM apps WHERE id > $1 ORDER BY id LIMIT $2",
            vec![after.into(), n.into()],
        ),
        Stmt::new(
            key_secrets!("app_id IN (SELECT id FROM apps WHERE id > $1 ORDER BY id LIMIT $2)"),
            vec![after.into(), n.into()],
        ),
    ]
}

/// The apps of [`get_app`]'s or [`list_apps`]' results, in id order, each with its
/// keys' secrets.
pub fn apps_of(results: &[Vec<Row>]) -> StoreResult<Vec<App>> {
    let (Some(rows), Some(keys)) = (results.first(), results.get(1)) else {
        return Err(StoreError::Backend("app read gave no result".into()));
    };
    let mut keys = keys_of(keys)?;
    let mut apps = Vec::with_capacity(rows.len());
    for r in rows {
        let id = app_id_of(&r.text(0)?)?;
        let credentials: AppCredentials = serde_json::from_str(&r.text(3)?)
            .map_err(|e| StoreError::Backend(format!("decode credentials: {e}")))?;
        let (mine, rest): (Vec<_>, Vec<_>) = keys.into_iter().partition(|(a, _)| a == &id);
        keys = rest;
        let mut app = App {
            name: r.text(1)?,
            credentials,
            created_at: r.int(2)?,
            enabled_dt_types: decode_types(&r.text(4)?),
            keys: mine.into_iter().map(|(_, k)| k).collect(),
        };
        current_secrets(&mut app);
        apps.push(app);
    }
    Ok(apps)
}

/// Puts the current secrets of the app's keys into its credentials, which hold the
/// ones issued at creation.
fn current_secrets(app: &mut App) {
    let c = &mut app.credentials;
    for k in app.keys.iter().filter(|k| k.expires_at.is_none()) {
        let slot = match k.kind {
            CredentialKind::Getui if k.key == c.getui.app_key => &mut c.getui.master_secret,
            CredentialKind::UmsAccess if k.key == c.ums.access_key => &mut c.ums.access_secret,
            CredentialKind::UmsChannel if k.key == c.ums.channel_key => {
                &mut c.ums.channel_master_secret
            }
            CredentialKind::Growth if k.key == c.growth.project_id => &mut c.growth.project_secret,
            CredentialKind::Engagelab if k.key == c.engagelab.api_key => {
                &mut c.engagelab.api_secret
            }
            _ => continue,
        };
        slot.clone_from(&k.secret);
    }
}

fn app_id_of(s: &str) -> StoreResult<AppId> {
    AppId::parse(s).map_err(|_| StoreError::Backend("bad app id".into()))
}

/// The (app, secret) pairs of the `key_secrets!` rows; rows of an unknown kind are
/// skipped.
fn keys_of(rows: &[Row]) -> StoreResult<Vec<(AppId, KeySecret)>> {
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let Some(kind) = CredentialKind::parse(&r.text(1)?) else {
            continue;
        };
        out.push((
            app_id_of(&r.text(0)?)?,
            KeySecret {
                kind,
                key: r.text(2)?,
                secret: r.text(3)?,
                created_at: r.int(4)?,
                expires_at: r.opt_int(5)?,
            },
        ));
    }
    Ok(out)
}

/// Renames an app; one row changed when it exists.
pub fn rename_app(app: &AppId, name: &str) -> Stmt {
    Stmt::new(
        "UPDATE apps SET name = $2 WHERE id = $1",
        vec![app.as_str().into(), name.into()],
    )
}

/// The tables holding an app's rows, by an `app_id` column, in the order an app's
/// deletion empties them (a table before those it references). A new table keyed by
/// app is one more line here.
pub const APP_TABLES: &[&str] = &[
    "getui_tokens",
    "device_opens",
    "crowd_tasks",
    "crowd_plans",
    "changes",
    "app_limits",
    "quota_usage",
    "segments",
    "user_identities",
    "users",
    "identity_names",
    "ums_senders",
    "ums_channels",
    "retired_secrets",
    "credentials",
    "devices",
];

/// The tables holding an app's rows without an `app_id` column: (table, its column
/// referencing a parent of [`APP_TABLES`], the parent, the parent's column). Emptied
/// before their parents.
pub const APP_CHILD_TABLES: &[(&str, &str, &str, &str)] = &[
    ("device_tags", "device_id", "devices", "id"),
    ("device_login_days", "device_id", "devices", "id"),
    ("ums_grants", "channel_key", "ums_channels", "channel_key"),
    ("user_contacts", "uid", "users", "uid"),
    ("ums_bindings", "uid", "users", "uid"),
];

/// Deletes an app and every row of its data, in one transaction. The first statement
/// locks the app's row (so writes to it in flight finish first) and changes one row
/// when the app exists; the last removes it.
pub fn delete_app(app: &AppId) -> Vec<Stmt> {
    let id = || vec![Value::from(app.as_str())];
    let mut stmts = vec![Stmt::new("UPDATE apps SET seq = seq WHERE id = $1", id())];
    for (table, column, parent, parent_column) in APP_CHILD_TABLES {
        stmts.push(Stmt::built(
            format!(
                "DELETE FROM {table} WHERE {column} IN \
                 (SELECT {parent_column} FROM {parent} WHERE app_id = $1)"
            ),
            id(),
        ));
    }
    for table in APP_TABLES {
        stmts.push(Stmt::built(
            format!("DELETE FROM {table} WHERE app_id = $1"),
            id(),
        ));
    }
    stmts.push(Stmt::new("DELETE FROM apps WHERE id = $1", id()));
    stmts
}

/// Replaces the secrets of `app`'s keys with `fresh` ones, each key's old secret kept
/// until `expire_at` (ms), and ends the app's Getui tokens by then when `getui` keys
/// rotate. The first statement locks the app's row and changes one row when the app
/// exists. Retired secrets already expired at `now` are removed.
pub fn rotate_secrets(app: &AppId, fresh: &[KeySecret], now: i64, expire_at: i64) -> Vec<Stmt> {
    let id = || Value::from(app.as_str());
    let mut stmts = vec![
        Stmt::new("UPDATE apps SET seq = seq WHERE id = $1", vec![id()]),
        Stmt::new(
            "DELETE FROM retired_secrets WHERE app_id = $1 AND expires_at <= $2",
            vec![id(), now.into()],
        ),
    ];
    for k in fresh {
        stmts.push(Stmt::new(
            "INSERT INTO retired_secrets (key, secret, app_id, kind, created_at, expires_at)
             SELECT key, secret, app_id, kind, created_at, CAST($3 AS BIGINT)
             FROM credentials WHERE app_id = $1 AND key = $2",
            vec![id(), k.key.as_str().into(), expire_at.into()],
        ));
        stmts.push(Stmt::new(
            "UPDATE credentials SET secret = $3, created_at = $4 WHERE app_id = $1 AND key = $2",
            vec![
                id(),
                k.key.as_str().into(),
                k.secret.as_str().into(),
                k.created_at.into(),
            ],
        ));
    }
    if fresh.iter().any(|k| k.kind == CredentialKind::Getui) {
        stmts.push(Stmt::new(
            "UPDATE getui_tokens SET expires_at = $2 WHERE app_id = $1 AND expires_at > $2",
            vec![id(), expire_at.into()],
        ));
    }
    stmts
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

/// Looks a Basic-auth key up: its current secret and those a rotation replaced.
pub fn find_credential(key: &str) -> Stmt {
    Stmt::new(key_secrets!("key = $1"), vec![key.into()])
}

/// The credential of [`find_credential`]'s rows.
pub fn credential_of(rows: &[Row]) -> StoreResult<Option<Credential>> {
    let keys = keys_of(rows)?;
    let Some((app, first)) = keys.first() else {
        return Ok(None);
    };
    Ok(Some(Credential {
        app: app.clone(),
        kind: first.kind,
        secrets: keys.into_iter().map(|(_, k)| k).collect(),
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

/// Up to `limit` uids of `app` after `after`, in uid order (uids only grow).
pub fn user_page(app: &AppId, after: Option<Uid>, limit: usize) -> Stmt {
    Stmt::new(
        "SELECT uid FROM users WHERE app_id = $1 AND uid > $2 ORDER BY uid LIMIT $3",
        vec![
            app.as_str().into(),
            after.map_or(0, Uid::get).into(),
            Value::Int(i64::try_from(limit).unwrap_or(i64::MAX)),
        ],
    )
}

/// The uids of [`user_page`]'s rows.
pub fn uids_of(rows: &[Row]) -> StoreResult<Vec<Uid>> {
    rows.iter().map(|r| Ok(Uid::new(r.int(0)?))).collect()
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

// ---- Saved segments -------------------------------------------------------------

/// Every segment of an app: name, selector JSON, created, updated; by name.
pub fn segments_of(app: &AppId) -> Stmt {
    Stmt::new(
        "SELECT name, selector, created_at, updated_at FROM segments
         WHERE app_id = $1 ORDER BY name",
        vec![app.as_str().into()],
    )
}

/// Stores a new segment; changes no row when the name is taken.
pub fn insert_segment(app: &AppId, name: &str, selector: &str, now: i64) -> Stmt {
    Stmt::new(
        "INSERT INTO segments (app_id, name, selector, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $4) ON CONFLICT (app_id, name) DO NOTHING",
        vec![
            app.as_str().into(),
            name.into(),
            selector.into(),
            now.into(),
        ],
    )
}

/// Replaces a segment's selector; changes no row when there is no such segment.
pub fn update_segment(app: &AppId, name: &str, selector: &str, now: i64) -> Stmt {
    Stmt::new(
        "UPDATE segments SET selector = $3, updated_at = $4 WHERE app_id = $1 AND name = $2",
        vec![
            app.as_str().into(),
            name.into(),
            selector.into(),
            now.into(),
        ],
    )
}

/// Deletes a segment.
pub fn delete_segment(app: &AppId, name: &str) -> Stmt {
    Stmt::new(
        "DELETE FROM segments WHERE app_id = $1 AND name = $2",
        vec![app.as_str().into(), name.into()],
    )
}

/// The ordinals of the devices of `app` whose `login_freq` (distinct login days in
/// `(since, today]`) is one of `freqs`.
pub fn login_freq_ordinals(app: &AppId, since: i64, today: i64, freqs: &[i64]) -> Stmt {
    let mut params: Vec<Value> = vec![app.as_str().into(), since.into(), today.into()];
    let mut list = String::new();
    for f in freqs {
        params.push((*f).into());
        if !list.is_empty() {
            list.push_str(", ");
        }
        list.push_str(&format!("${}", params.len()));
    }
    Stmt::built(
        format!(
            "SELECT d.ord FROM devices d WHERE d.app_id = $1 AND (SELECT COUNT(*)
             FROM device_login_days l WHERE l.device_id = d.id AND l.day > $2
             AND l.day <= $3) IN ({list}) ORDER BY d.ord"
        ),
        params,
    )
}

/// The page of an export: the devices after ordinal `after` (matching `q`, if given)
/// in ordinal order, at most `limit`; then their tags; then their login days. Run the
/// three on one snapshot and read them with [`export_of`].
pub fn export_page(
    app: &AppId,
    q: Option<&roster_core::AudienceQuery>,
    after: Option<u32>,
    limit: usize,
) -> Vec<Stmt> {
    let after = after.map_or(-1, i64::from);
    let mut params = vec![Value::from(app.as_str()), after.into()];
    let clause = q.map_or_else(String::new, |q| audience_clause(q, &mut params));
    params.push(Value::Int(i64::try_from(limit).unwrap_or(i64::MAX)));
    let n = params.len();
    let page = format!(
        "SELECT d.id FROM devices d WHERE d.app_id = $1 AND d.ord > $2{clause}
         ORDER BY d.ord LIMIT ${n}"
    );
    vec![
        Stmt::built(
            format!(
                "SELECT {DEVICE_COLUMNS} FROM devices d WHERE d.app_id = $1 AND d.ord > $2{clause}
                 ORDER BY d.ord LIMIT ${n}"
            ),
            params.clone(),
        ),
        Stmt::built(
            format!(
                "SELECT d.ord, t.tag FROM devices d JOIN device_tags t ON t.device_id = d.id
                 WHERE d.id IN ({page}) ORDER BY d.ord, t.tag"
            ),
            params.clone(),
        ),
        Stmt::built(
            format!(
                "SELECT d.ord, l.day FROM devices d JOIN device_login_days l ON l.device_id = d.id
                 WHERE d.id IN ({page}) ORDER BY d.ord, l.day"
            ),
            params,
        ),
    ]
}

/// The devices of an [`export_page`], with `login_freq` as of `now`, and the last
/// ordinal read (`None`: the page was empty).
pub fn export_of(
    results: Vec<Vec<Row>>,
    now: i64,
) -> StoreResult<(Vec<roster_core::bulk::ExportedDevice>, Option<u32>)> {
    let mut it = results.into_iter();
    let mut next = || {
        it.next()
            .ok_or_else(|| StoreError::Backend("export statement gave no result".into()))
    };
    let (devices, tags, days) = (next()?, next()?, next()?);
    let mut out = Vec::with_capacity(devices.len());
    let mut ords = Vec::with_capacity(devices.len());
    for r in &devices {
        let d = device(r)?;
        ords.push(d.ordinal);
        out.push(roster_core::bulk::ExportedDevice {
            device: d.device,
            login_days: Vec::new(),
        });
    }
    // Both lists are in ordinal order, as the devices are: walk them together.
    let at = |ords: &[u32], r: &Row| -> StoreResult<usize> {
        let o = u32::try_from(r.int(0)?).map_err(|_| StoreError::Backend("bad ordinal".into()))?;
        ords.binary_search(&o)
            .map_err(|_| StoreError::Backend("export row of an unknown ordinal".into()))
    };
    for r in tags {
        let i = at(&ords, &r)?;
        let tag = TagName::parse(r.text(1)?)
            .map_err(|_| StoreError::Backend("unreadable tag in a stored row".into()))?;
        out[i].device.tags.push(tag);
    }
    for r in days {
        let i = at(&ords, &r)?;
        out[i].login_days.push(r.int(1)?);
    }
    for e in &mut out {
        e.device.login_freq = roster_core::rules::reads::login_freq(&e.login_days, now);
    }
    Ok((out, ords.last().copied()))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use roster_core::rules::{AppFacts, Mutation, Plan, State, UpsertDevices};
    use roster_core::{AppId, Cid, DeviceUpsert, PhoneType, TagName};

    use super::{writes, Dialect, Lists};
    use crate::value::{Stmt, Value};

    const ARRAYS: Dialect = Dialect {
        lock_app: None,
        next_uid: &[],
        uid_used: Some("SELECT setval('users_uid_seq', r.uid) FROM r"),
        notify: None,
        lists: Lists::Arrays,
    };
    const ROWS: Dialect = Dialect {
        lock_app: None,
        next_uid: &[],
        uid_used: None,
        notify: None,
        lists: Lists::Rows,
    };

    fn app() -> AppId {
        AppId::generate()
    }

    fn plan(mutations: Vec<Mutation>) -> Plan<()> {
        Plan {
            outcome: (),
            mutations,
            secrets: Vec::new(),
        }
    }

    /// The plan of upserting `n` new devices, as the rule makes it.
    fn upsert(n: usize) -> Plan<Vec<Cid>> {
        let mut state = State {
            app: Some(Some(AppFacts {
                next_ordinal: 7,
                enabled_dt_types: Vec::new(),
                seq: 0,
            })),
            ..State::default()
        };
        let rule = UpsertDevices {
            devices: vec![
                DeviceUpsert {
                    phone_type: Some(PhoneType::Android),
                    ..Default::default()
                };
                n
            ],
            now: 1_700_000_000_000,
        };
        roster_core::rules::plan(&rule, &mut state).expect("plan")
    }

    /// A statement without its rows: the part after `WITH r (…) AS (…)`.
    fn body(s: &Stmt) -> &str {
        s.sql.split_once(")) ").map_or("", |(_, b)| b)
    }

    /// Rows a statement writes: the length of its arrays.
    fn rows(s: &Stmt) -> usize {
        s.params
            .iter()
            .find_map(|p| match p {
                Value::Array(a) => Some(a.len()),
                _ => None,
            })
            .unwrap_or(1)
    }

    /// The table a statement writes.
    fn table(s: &Stmt) -> String {
        let sql = if s.sql.starts_with("WITH") {
            body(s)
        } else {
            &s.sql
        };
        let words: Vec<&str> = sql.split_whitespace().collect();
        let at = words
            .iter()
            .position(|w| ["INTO", "UPDATE", "FROM"].contains(w))
            .map_or(0, |i| i + 1);
        words.get(at).copied().unwrap_or_default().to_owned()
    }

    #[test]
    fn a_thousand_new_devices_are_three_statements_on_arrays() {
        let p = upsert(1000);
        assert_eq!(p.mutations.len(), 2000, "a device and a login day each");
        let stmts = writes(&app(), &p, &ARRAYS).expect("writes");
        // Devices, the app's next ordinal, login days; no day of a new device to forget.
        assert_eq!(stmts.len(), 3, "{stmts:#?}");
        assert_eq!(
            stmts.iter().map(table).collect::<Vec<_>>(),
            ["devices", "apps", "device_login_days"]
        );
        assert_eq!(stmts.iter().map(rows).collect::<Vec<_>>(), [1000, 1, 1000]);
        // The ordinal after the last device.
        assert_eq!(stmts[1].params[1], Value::Array(vec![Value::Int(1007)]));
        for s in &stmts {
            assert!(s.params.len() <= 22, "one parameter per column: {}", s.sql);
        }
    }

    #[test]
    fn rows_are_a_statement_each_of_three_texts() {
        let p = upsert(1000);
        let stmts = writes(&app(), &p, &ROWS).expect("writes");
        // Devices, then the app's next ordinal once, then login days.
        assert_eq!(stmts.len(), 1000 + 1 + 1000);
        let texts: BTreeSet<&str> = stmts.iter().map(|s| s.sql.as_ref()).collect();
        assert_eq!(texts.len(), 3);
        assert_eq!(table(&stmts[999]), "devices");
        assert_eq!(table(&stmts[1000]), "apps");
        assert_eq!(table(&stmts[1001]), "device_login_days");
        for s in &stmts {
            assert!(s.params.len() <= 22);
            assert!(!s.params.iter().any(|p| matches!(p, Value::Array(_))));
        }
    }

    #[test]
    fn rows_that_depend_on_earlier_ones_stay_after_them() {
        let p = upsert(2);
        let cids: Vec<Cid> = p.outcome.clone();
        let tag = |t: &str| TagName::parse(t).expect("tag");
        let mut mutations = p.mutations.clone();
        // Tags of the new devices, a second badge on the first, then a tag removed again.
        for (i, c) in cids.iter().enumerate() {
            mutations.push(Mutation::TagsSet {
                cid: c.clone(),
                ordinal: 7 + i as u32,
                tags: vec![tag("a"), tag("b")],
                previous: Vec::new(),
            });
            mutations.push(Mutation::BadgeSet {
                cid: c.clone(),
                ordinal: 7 + i as u32,
                badge: 1,
            });
        }
        mutations.push(Mutation::BadgeSet {
            cid: cids[0].clone(),
            ordinal: 7,
            badge: 2,
        });
        mutations.push(Mutation::TagRemoved {
            cid: cids[1].clone(),
            ordinal: 8,
            tag: tag("a"),
        });
        mutations.push(Mutation::TagAdded {
            cid: cids[1].clone(),
            ordinal: 8,
            tag: tag("a"),
        });
        let stmts = writes(&app(), &plan(mutations), &ARRAYS).expect("writes");
        let kinds: Vec<String> = stmts
            .iter()
            .map(|s| {
                let verb = body(s).split_whitespace().next().unwrap_or("");
                format!("{verb} {} {}", table(s), rows(s))
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "INSERT devices 2",
                "UPDATE apps 1",
                "INSERT device_login_days 2",
                // Both devices' tags cleared and set together, after their rows.
                "DELETE device_tags 2",
                "INSERT device_tags 4",
                // Both first badges, then the second badge of the first device.
                "UPDATE devices 2",
                "UPDATE devices 1",
                // The removal after the insert of the same tag, the insert after it.
                "DELETE device_tags 1",
                "INSERT device_tags 1",
            ]
        );
        let badges: Vec<&Stmt> = stmts
            .iter()
            .filter(|s| body(s).starts_with("UPDATE devices"))
            .collect();
        assert_eq!(
            badges[1].params[2],
            Value::Array(vec![Value::Int(2)]),
            "the last badge is written last"
        );
    }

    #[test]
    fn a_login_day_of_a_known_device_forgets_old_days() {
        let c = Cid::generate();
        let m = Mutation::LoginDayRecorded {
            cid: c,
            day: 100,
            forget_before: 40,
        };
        let stmts = writes(&app(), &plan(vec![m]), &ROWS).expect("writes");
        assert_eq!(stmts.len(), 2);
        assert!(stmts[1].sql.contains("DELETE FROM device_login_days"));
    }

    #[test]
    fn a_thousand_known_cids_are_loaded_by_four_queries_on_arrays() {
        let rule = UpsertDevices {
            devices: (0..1000)
                .map(|_| DeviceUpsert {
                    cid: Some(Cid::generate()),
                    ..Default::default()
                })
                .collect(),
            now: 0,
        };
        let needs = roster_core::rules::needs(&rule, &State::default());
        // The app, the devices, their tags, their login days.
        let loads = super::loads(&app(), &needs, &ARRAYS);
        assert_eq!(loads.len(), 4);
        assert!(loads.iter().all(|l| l.stmt.params.len() <= 2));
        // In padded IN lists of up to 256: 1 + 4 × 3.
        let loads = super::loads(&app(), &needs, &ROWS);
        assert_eq!(loads.len(), 13);
    }

    #[test]
    fn uids_used_leave_one_statement_with_the_last() {
        use roster_core::user::Uid;
        let mutations = (1..=5)
            .map(|u| Mutation::UserCreated {
                uid: Uid::new(u),
                created_at: 0,
            })
            .collect();
        let stmts = writes(&app(), &plan(mutations), &ARRAYS).expect("writes");
        assert_eq!(stmts.len(), 2);
        assert_eq!(rows(&stmts[0]), 5);
        assert_eq!(stmts[1].params, [Value::Array(vec![Value::Int(5)])]);
    }
}
