//! N stores, the same command, the same answers: runs each step on every store, then
//! compares the command's result and every observable read across stores.

use std::sync::Arc;

use futures_util::future::join_all;
use roster_core::user::Uid;
use roster_core::{AppId, AudienceQuery, Cid, NewApp, Selector};
use roster_store::{Store, StoreError, StoreResult};

use crate::cmd::{Advance, CidRef, Cmd, Step, FIXED_CIDS};

/// Registration time of a case's first device.
pub const NOW: i64 = 1_700_000_000_000;
/// One day, ms.
pub const DAY: i64 = 86_400_000;

/// A store under test and the name its answers are shown under.
pub struct Backend {
    /// `sqlite`, `postgres`, ….
    pub name: &'static str,
    /// The store, shared by every case of a run.
    pub store: Arc<dyn Store>,
}

/// What every store of one case shares: the apps (created with the same ids and
/// credentials in each store), the nonce that keeps this case's cids and channel keys
/// apart from other cases' in a shared database, and the audience queries.
pub struct Case {
    /// Prefix of the case's cids and channel keys.
    pub nonce: String,
    /// The app most commands are for, and every read observes.
    pub main: NewApp,
    /// A second app: cids of another app, channel keys of another app.
    pub other: NewApp,
    /// An app no store has, unless `CreateApp { app: Unknown }` creates it.
    pub unknown: NewApp,
    /// Audience queries whose `Cid` leaves hold placeholders.
    pub queries: Vec<AudienceQuery>,
}

impl Case {
    /// A case with fresh apps and a nonce unique in this process.
    pub fn new(queries: Vec<AudienceQuery>) -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let nonce = format!("k{}-", NEXT.fetch_add(1, Ordering::SeqCst));
        let mut unknown = NewApp::new("diff unknown", NOW).expect("app");
        unknown.credentials.app_id = AppId::parse(format!("{nonce}nope")).expect("app id");
        Case {
            unknown,
            nonce,
            main: NewApp::new("diff main", NOW).expect("app"),
            other: NewApp::new("diff other", NOW).expect("app"),
            queries,
        }
    }
}

/// The clock and the counters all stores share during a case.
pub struct Run {
    /// Now, ms.
    pub now: i64,
    /// How many `CreateChannel` commands ran: the next channel key's number.
    pub channels: usize,
    /// How many `InsertToken` commands ran: the next token's number.
    pub tokens: usize,
}

/// One store's view of a case: the values that differ between stores, and how to
/// rename them so that answers compare.
pub struct Side {
    nonce: String,
    /// The cids this store generated, in order.
    pub generated: Vec<Cid>,
    /// Uids in order of first appearance.
    uids: Vec<Uid>,
}

/// The Getui token a case's i-th `InsertToken` stored (its digest, as the store keeps it).
pub fn token_digest(case: &Case, i: usize) -> String {
    roster_core::app::token_digest(&format!("{}token{i}", case.nonce))
}

impl Side {
    fn new(nonce: &str) -> Self {
        Side {
            nonce: nonce.to_owned(),
            generated: Vec::new(),
            uids: Vec::new(),
        }
    }

    /// The cid a position names in this store.
    pub fn cid(&self, c: CidRef) -> Cid {
        let s = match c {
            CidRef::Fixed(i) => format!("{}c{i}", self.nonce),
            CidRef::Gen(i) => match self.generated.get(i) {
                Some(g) => return g.clone(),
                None => format!("{}nogen{i}", self.nonce),
            },
            CidRef::Missing => format!("{}missing", self.nonce),
        };
        Cid::parse(s).expect("valid cid")
    }

    /// Fixed cids, generated cids, and one that never exists.
    pub fn universe(&self) -> Vec<Cid> {
        (0..FIXED_CIDS)
            .map(CidRef::Fixed)
            .chain((0..self.generated.len()).map(CidRef::Gen))
            .chain([CidRef::Missing])
            .map(|c| self.cid(c))
            .collect()
    }

    /// A query with its placeholder cids replaced by this store's.
    pub fn query(&self, q: &AudienceQuery) -> AudienceQuery {
        AudienceQuery {
            selector: self.selector(&q.selector),
            ..q.clone()
        }
    }

    fn selector(&self, s: &Selector) -> Selector {
        match s {
            Selector::And(xs) => Selector::And(xs.iter().map(|x| self.selector(x)).collect()),
            Selector::Or(xs) => Selector::Or(xs.iter().map(|x| self.selector(x)).collect()),
            Selector::Not(x) => Selector::Not(Box::new(self.selector(x))),
            Selector::Cid(cs) => Selector::Cid(
                cs.iter()
                    .map(|c| {
                        let p = c.as_str();
                        let r = if let Some(i) = p.strip_prefix("gen#") {
                            CidRef::Gen(i.parse().expect("placeholder"))
                        } else if let Some(i) = p.strip_prefix('c') {
                            CidRef::Fixed(i.parse().expect("placeholder"))
                        } else {
                            CidRef::Missing
                        };
                        self.cid(r)
                    })
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// `text` with generated cids renamed `gen#i` and the case nonce removed.
    pub fn canon(&self, text: &str) -> String {
        let mut text = text.replace(&self.nonce, "");
        for (i, g) in self.generated.iter().enumerate() {
            text = text.replace(g.as_str(), &format!("gen#{i}"));
        }
        text
    }

    /// A uid renamed by order of first appearance: `uid#0`, `uid#1`….
    pub fn uid(&mut self, uid: Uid) -> String {
        let i = match self.uids.iter().position(|u| *u == uid) {
            Some(i) => i,
            None => {
                self.uids.push(uid);
                self.uids.len() - 1
            }
        };
        format!("uid#{i}")
    }

    /// Every uid seen so far, in order of first appearance.
    pub fn known_uids(&self) -> Vec<Uid> {
        self.uids.clone()
    }
}

/// A result as shown for comparison; a backend failure is the test's failure.
pub fn shown<T>(
    side: &Side,
    r: StoreResult<T>,
    show: impl FnOnce(T) -> String,
) -> Result<String, String> {
    match r {
        Ok(v) => Ok(side.canon(&format!("Ok({})", show(v)))),
        Err(StoreError::Rule(e)) => Ok(format!("Err({e:?})")),
        Err(StoreError::Backend(msg)) => Err(msg),
    }
}

/// The first divergence between stores, ready to print.
fn mismatch(
    backends: &[Backend],
    step: Option<(usize, &Cmd)>,
    what: &[(String, Vec<String>)],
) -> String {
    let mut out = match step {
        Some((i, cmd)) => format!("stores disagree after step {i}: {cmd:?}\n"),
        None => "stores disagree after creating the apps\n".to_owned(),
    };
    for (label, values) in what {
        out.push_str(&format!("  {label}:\n"));
        for (b, v) in backends.iter().zip(values) {
            out.push_str(&format!("    {:>9}: {v}\n", b.name));
        }
    }
    out
}

/// The labelled texts on which the stores differ.
fn differing(labelled: &[Vec<(String, String)>]) -> Vec<(String, Vec<String>)> {
    let first = &labelled[0];
    let mut out = Vec::new();
    for (k, (label, value)) in first.iter().enumerate() {
        if labelled[1..]
            .iter()
            .any(|o| o.get(k).map(|x| &x.1) != Some(value))
        {
            let values = labelled
                .iter()
                .map(|o| o.get(k).map_or("<missing>".to_owned(), |x| x.1.clone()))
                .collect();
            out.push((label.clone(), values));
        }
    }
    out
}

/// Backend failures of any store, as the test's failure message.
fn backend_failures<T>(
    backends: &[Backend],
    step: Option<(usize, &Cmd)>,
    results: Vec<Result<T, String>>,
) -> Result<Vec<T>, String> {
    let mut ok = Vec::new();
    let mut failed = Vec::new();
    for (b, r) in backends.iter().zip(results) {
        match r {
            Ok(v) => ok.push(v),
            Err(msg) => failed.push(format!("{}: {msg}", b.name)),
        }
    }
    if failed.is_empty() {
        return Ok(ok);
    }
    let at = match step {
        Some((i, cmd)) => format!("step {i}: {cmd:?}"),
        None => "setup".to_owned(),
    };
    Err(format!(
        "backend error (never acceptable) at {at}\n  {}",
        failed.join("\n  ")
    ))
}

/// Runs `steps` on every store of `backends` in a fresh case; the first step after
/// which the stores disagree (or one fails) is the error.
pub async fn run_case(
    backends: &[Backend],
    queries: Vec<AudienceQuery>,
    steps: &[Step],
) -> Result<(), String> {
    assert!(backends.len() >= 2, "a differential test needs two stores");
    let case = Case::new(queries);
    let mut sides: Vec<Side> = backends.iter().map(|_| Side::new(&case.nonce)).collect();
    for b in backends {
        for app in [&case.main, &case.other] {
            b.store
                .create_app(app)
                .await
                .map_err(|e| format!("{}: create app: {e}", b.name))?;
        }
    }
    let mut run = Run {
        now: NOW,
        channels: 0,
        tokens: 0,
    };
    compare_reads(backends, &case, &run, &mut sides, None).await?;
    for (i, step) in steps.iter().enumerate() {
        run.now += match step.advance {
            Advance::None => 0,
            Advance::Ms => 1,
            Advance::Hour => 3_600_000,
            Advance::Day => DAY,
            Advance::Days(n) => n * DAY,
        };
        let results =
            join_all(backends.iter().zip(sides.iter_mut()).map(|(b, side)| {
                crate::exec::exec(b.store.as_ref(), &case, &run, side, &step.cmd)
            }))
            .await;
        match step.cmd {
            Cmd::CreateChannel { .. } => run.channels += 1,
            Cmd::InsertToken { .. } => run.tokens += 1,
            _ => {}
        }
        let at = Some((i, &step.cmd));
        let results = backend_failures(backends, at, results)?;
        if results[1..].iter().any(|r| *r != results[0]) {
            return Err(mismatch(backends, at, &[("result".to_owned(), results)]));
        }
        compare_reads(backends, &case, &run, &mut sides, at).await?;
    }
    Ok(())
}

async fn compare_reads(
    backends: &[Backend],
    case: &Case,
    run: &Run,
    sides: &mut [Side],
    at: Option<(usize, &Cmd)>,
) -> Result<(), String> {
    let reads = join_all(
        backends
            .iter()
            .zip(sides.iter_mut())
            .map(|(b, side)| crate::observe::observe(b.store.as_ref(), case, run, side)),
    )
    .await;
    let reads = backend_failures(backends, at, reads)?;
    let diff = differing(&reads);
    if diff.is_empty() {
        Ok(())
    } else {
        Err(mismatch(backends, at, &diff))
    }
}
