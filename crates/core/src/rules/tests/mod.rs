//! Planner tests, written from the vendor documents (`shared/spec/`: Getui user API,
//! Jiguang UMS and Growth, EngageLab) and the decisions of `shared/DESIGN.md` and
//! `docs/`. Each test names, in its comment, the document rule it checks. They drive
//! the rules through [`Memory::run`], the path every backend follows (load until
//! nothing is missing, decide, apply), and look at `needs` directly where the staging
//! itself is the point.
//!
//! `devices` (upsert, events), `flags` (blacklist, badge), `bind_dt`, `labels` (aliases,
//! tags), `apps`, `users` (UMS) and `identities` (Growth, identify) go family by family;
//! `vocabulary` checks no-op commands emit nothing and refusals change nothing; `needs`
//! checks the staging; `props` and `graph` are proptest properties. Tests marked
//! `#[ignore = "BUG: …"]` show behaviour believed to contradict a document; they fail.

use std::fmt::Debug;

use serde_json::{Map, Value};

use super::memory::Memory;
use super::reads::{self, GetDevices};
use super::{CreateApp, Mutation, Rule, State, StoredDevice, UpsertDevices};
use crate::error::Error;
use crate::user::{Uid, User};
use crate::{Alias, AppId, Cid, Device, DeviceKind, DeviceUpsert, NewApp, PhoneType, TagName};

mod apps;
mod bind_dt;
mod devices;
mod flags;
mod graph;
mod identities;
mod import;
mod labels;
mod needs;
mod props;
mod removal;
mod users;
mod vocabulary;

/// 2021-06-30 00:00:00 in China Standard Time (UTC+8): a Getui day boundary.
const MIDNIGHT_CST: i64 = 1_624_982_400_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
/// When most tests register their devices: 10:00 CST.
const NOW: i64 = MIDNIGHT_CST + 10 * HOUR;

fn app_id(s: &str) -> AppId {
    AppId::parse(s).expect("app id")
}

fn cid(s: &str) -> Cid {
    Cid::parse(s).expect("cid")
}

fn alias(s: &str) -> Alias {
    Alias::parse(s).expect("alias")
}

fn tag(s: &str) -> TagName {
    TagName::parse(s).expect("tag")
}

fn tags(ts: &[&str]) -> Vec<TagName> {
    ts.iter().map(|t| tag(t)).collect()
}

/// An Android device to register under a given cid.
fn android(c: &str) -> DeviceUpsert {
    DeviceUpsert {
        cid: Some(cid(c)),
        phone_type: Some(PhoneType::Android),
        ..Default::default()
    }
}

/// A WeChat mini-program user (what `bind_dt/wx` binds).
fn mini_program(c: &str) -> DeviceUpsert {
    DeviceUpsert {
        kind: Some(DeviceKind::MiniProgram),
        ..android(c)
    }
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

/// The variant names of mutations, for compact assertions.
fn names(ms: &[Mutation]) -> Vec<String> {
    ms.iter()
        .map(|m| {
            format!("{m:?}")
                .split([' ', '('])
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

fn upsert(devices: Vec<DeviceUpsert>, now: i64) -> UpsertDevices {
    UpsertDevices { devices, now }
}

/// A registry in memory with one app, `app1`, on which the rules run.
struct Bench {
    mem: Memory,
    app: AppId,
}

impl Bench {
    fn new() -> Self {
        let mut bench = Bench {
            mem: Memory::new(),
            app: app_id("app1"),
        };
        bench.create_app("app1");
        bench
    }

    /// Creates another app (or the first) with fresh credentials.
    fn create_app(&mut self, id: &str) -> Vec<Mutation> {
        let rule = CreateApp {
            app: NewApp::new("demo", NOW).expect("app name"),
        };
        self.mem.run(&app_id(id), &rule).expect("create app").1
    }

    fn run<R: Rule>(&mut self, rule: &R) -> Result<(R::Outcome, Vec<Mutation>), Error> {
        self.mem.run(&self.app, rule)
    }

    /// Runs a rule on another app.
    fn run_in<R: Rule + Debug>(&mut self, app: &str, rule: &R) -> (R::Outcome, Vec<Mutation>) {
        match self.mem.run(&app_id(app), rule) {
            Ok(done) => done,
            Err(e) => panic!("{rule:?} was refused in {app}: {e:?}"),
        }
    }

    /// Runs a rule that must be accepted.
    fn ok<R: Rule + Debug>(&mut self, rule: &R) -> (R::Outcome, Vec<Mutation>) {
        match self.run(rule) {
            Ok(done) => done,
            Err(e) => panic!("{rule:?} was refused: {e:?}"),
        }
    }

    /// The mutations of a rule that must be accepted.
    fn muts<R: Rule + Debug>(&mut self, rule: &R) -> Vec<Mutation> {
        self.ok(rule).1
    }

    /// Runs a read: it must be accepted and change nothing.
    fn read<R: Rule + Debug>(&mut self, rule: &R) -> R::Outcome {
        let (out, muts) = self.ok(rule);
        assert!(muts.is_empty(), "the read {rule:?} emitted {muts:?}");
        out
    }

    /// Runs a rule that must be refused, and checks that the refusal left the app's
    /// [`State`] and the whole registry exactly as they were.
    fn refused<R: Rule + Debug>(&mut self, rule: &R) -> Error {
        let state = self.mem.state(&self.app).cloned();
        let whole = format!("{:?}", self.mem);
        let err = match self.run(rule) {
            Ok(_) => panic!("{rule:?} was accepted"),
            Err(e) => e,
        };
        assert_eq!(
            self.mem.state(&self.app).cloned(),
            state,
            "refused {rule:?} changed the app"
        );
        assert_eq!(
            format!("{:?}", self.mem),
            whole,
            "refused {rule:?} changed the registry"
        );
        err
    }

    fn state(&self) -> State {
        self.mem.state(&self.app).cloned().expect("the app exists")
    }

    /// A stored device, with its ordinal.
    fn stored(&self, c: &str) -> StoredDevice {
        self.state()
            .devices
            .get(&cid(c))
            .cloned()
            .flatten()
            .expect("stored device")
    }

    /// A device as read at `now` (with its `login_freq`).
    fn device_at(&mut self, c: &str, now: i64) -> Device {
        let mut found = self.read(&GetDevices {
            cids: vec![cid(c)],
            now,
        });
        assert_eq!(found.len(), 1, "{c} is not a device of the app");
        found.remove(0)
    }

    fn device(&mut self, c: &str) -> Device {
        self.device_at(c, NOW)
    }

    /// Registers Android devices at [`NOW`].
    /// Creates another app holding one device of its own.
    fn foreign_device(&mut self, app: &str, cid: &str) {
        self.create_app(app);
        let rule = UpsertDevices {
            devices: vec![android(cid)],
            now: NOW,
        };
        self.run_in(app, &rule);
    }

    fn register(&mut self, cids: &[&str]) {
        self.ok(&UpsertDevices {
            devices: cids.iter().map(|c| android(c)).collect(),
            now: NOW,
        });
    }

    /// The holder of an identity value.
    fn holder(&mut self, name: &str, value: &str) -> Option<Uid> {
        self.read(&reads::FindUser {
            name: name.into(),
            value: value.into(),
        })
    }

    /// A user that exists.
    fn user(&mut self, uid: Uid) -> User {
        let mut found = self.read(&reads::GetUsers { uids: vec![uid] });
        assert_eq!(found.len(), 1, "user {uid} does not exist");
        found.remove(0)
    }

    /// Whether a user exists.
    fn user_exists(&mut self, uid: Uid) -> bool {
        !self.read(&reads::GetUsers { uids: vec![uid] }).is_empty()
    }
}
