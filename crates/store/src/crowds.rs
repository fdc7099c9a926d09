//! Smart crowds in the store: plans and their sub-tasks, the job queue they form (a
//! plan is its own job, claimed by one runner at a time), and the inputs a job scores.
//! The statements are the same for every SQL engine except the claim's row lock, which
//! is [`Backend::claim_lock`].

use async_trait::async_trait;
use base64::Engine as _;
use roaring::RoaringBitmap;
use roster_core::crowd::{self, ActiveType, BrandGroup, CrowdCopy, PlanSpec, Status};
use roster_core::{AppId, Selector};

use crate::registry::{Backend, Registry};
use crate::value::{Row, RowExt, Stmt, Value};
use crate::{StoreError, StoreResult};

/// A plan to store: its spec, its id and its sub-tasks' ids (in task order).
#[derive(Debug, Clone)]
pub struct NewPlan {
    /// The plan's own id.
    pub plan_id: String,
    /// What was asked.
    pub spec: PlanSpec,
    /// One id per task, in order.
    pub task_ids: Vec<String>,
    /// When it was created, ms; the activity window is measured from here, so a job
    /// computed late (after a restart) picks what it would have picked on time.
    pub create_time: i64,
}

/// A sub-task as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRecord {
    /// Its id.
    pub sub_task_id: String,
    /// The copy.
    pub copy: CrowdCopy,
    /// Where it stands.
    pub status: Status,
    /// Devices scored so far (progress), or in all once it ended.
    pub scored: u64,
    /// Devices in its crowd (0 until it succeeded).
    pub size: u64,
    /// The terms the model weighed the copy by, heaviest first.
    pub terms: Vec<(String, f64)>,
}

impl TaskRecord {
    /// Whether a push can target its crowd: it succeeded with at least one device.
    pub fn can_push(&self) -> bool {
        self.status == Status::Succeeded && self.size > 0
    }
}

/// A plan as stored, with its sub-tasks in task order.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanRecord {
    /// Its id.
    pub plan_id: String,
    /// What was asked (its tasks are the sub-tasks' copies).
    pub spec: PlanSpec,
    /// Creation time, ms.
    pub create_time: i64,
    /// How many times a runner claimed its job.
    pub attempts: u64,
    /// When a runner first claimed it, ms.
    pub started_at: Option<i64>,
    /// When it ended, ms.
    pub ended_at: Option<i64>,
    /// Sub-tasks, in task order.
    pub tasks: Vec<TaskRecord>,
}

/// The sub-task `id` among `plans`, with its plan.
pub fn find_task<'a>(
    plans: &'a [PlanRecord],
    id: &str,
) -> Option<(&'a PlanRecord, &'a TaskRecord)> {
    plans
        .iter()
        .find_map(|p| p.tasks.iter().find(|t| t.sub_task_id == id).map(|t| (p, t)))
}

impl PlanRecord {
    /// The plan's status, from its sub-tasks'.
    pub fn status(&self) -> Status {
        let subs: Vec<Status> = self.tasks.iter().map(|t| t.status).collect();
        Status::of_plan(&subs)
    }
}

/// One sub-task's result.
#[derive(Debug, Clone)]
pub struct TaskOutcome {
    /// The sub-task.
    pub sub_task_id: String,
    /// Its crowd.
    pub members: RoaringBitmap,
    /// Devices that scored above 0.
    pub scored: u64,
    /// The copy's terms, heaviest first.
    pub terms: Vec<(String, f64)>,
}

/// How a job ended.
#[derive(Debug, Clone)]
pub enum JobEnd {
    /// Every sub-task still computing gets its crowd.
    Succeeded(Vec<TaskOutcome>),
    /// Ran past the time limit: status 2.
    TimedOut,
    /// Could not be computed: status 3.
    Failed,
}

/// What a job scores: the devices its filters let through, and the app's signals.
#[derive(Debug, Default)]
pub struct CrowdInput {
    /// Devices passing the brand, activity and blacklist filters.
    pub eligible: RoaringBitmap,
    /// Every tag name of the app, with its devices when the caller wanted them (else an
    /// empty bitmap: the name still weighs in the corpus).
    pub tags: Vec<(String, RoaringBitmap)>,
    /// Every distinct opened text, with the devices that opened it.
    pub opens: Vec<(String, RoaringBitmap)>,
    /// The app's other copy (every other sub-task's topic and content).
    pub seen: Vec<String>,
    /// The largest ordinal of the app, if it has devices.
    pub max_ordinal: Option<u32>,
}

/// A claimed job: the runner's claim token and the plan to compute.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    /// The token the claim was made with; every later write of the job carries it.
    pub claim: String,
    /// The app.
    pub app: AppId,
    /// The plan.
    pub plan: PlanRecord,
}

/// How many jobs the store's queue holds, every node's together.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobCounts {
    /// Waiting for a runner.
    pub queued: u64,
    /// Claimed by a runner (including one whose heartbeat went stale, until another
    /// claims it).
    pub running: u64,
}

/// Which tags a job wants the devices of (by name).
pub type TagFilter = std::sync::Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// Smart-crowd plans, their jobs and their crowds.
#[async_trait]
pub trait CrowdStore: Send + Sync {
    /// Stores a plan with its sub-tasks waiting, and wakes this node's runner.
    async fn create_crowd_plan(&self, app: &AppId, plan: &NewPlan) -> StoreResult<()>;
    /// Every plan of `app`, newest first.
    async fn crowd_plans(&self, app: &AppId) -> StoreResult<Vec<PlanRecord>>;
    /// Stops a waiting or computing sub-task of `app` (an ended one keeps its status);
    /// `false` when `app` has no such sub-task.
    async fn stop_crowd_task(&self, app: &AppId, sub_task_id: &str, now: i64) -> StoreResult<bool>;
    /// The crowd of a sub-task of `app`: `None` when there is no such sub-task, an empty
    /// set until it succeeded.
    async fn crowd_members(
        &self,
        app: &AppId,
        sub_task_id: &str,
    ) -> StoreResult<Option<RoaringBitmap>>;
    /// Claims the oldest job that is queued, or running with a heartbeat before
    /// `stale_before` (its runner died), as `claim`; its waiting sub-tasks start.
    async fn claim_crowd_job(
        &self,
        claim: &str,
        now: i64,
        stale_before: i64,
    ) -> StoreResult<Option<ClaimedJob>>;
    /// Says the job held by `claim` is alive and how far each sub-task got; `false`
    /// when the claim was lost or the job ended (every sub-task stopped).
    async fn crowd_job_alive(
        &self,
        claim: &str,
        now: i64,
        progress: &[(String, u64)],
    ) -> StoreResult<bool>;
    /// Ends the job held by `claim`: sub-tasks still computing take `end`'s status (and
    /// crowds); stopped ones stay stopped. Nothing happens if the claim was lost.
    async fn finish_crowd_job(&self, claim: &str, end: &JobEnd, now: i64) -> StoreResult<()>;
    /// Hands a job back to the queue (its runner is shutting down).
    async fn release_crowd_job(&self, claim: &str) -> StoreResult<()>;
    /// What a job of `plan` scores, with the activity window ending at `as_of`. Tag
    /// bitmaps are copied only for the tags `wanted` accepts.
    async fn crowd_input(
        &self,
        app: &AppId,
        plan: &PlanRecord,
        as_of: i64,
        wanted: TagFilter,
    ) -> StoreResult<CrowdInput>;
    /// Woken whenever this node stores a new plan.
    fn crowd_wakeup(&self) -> std::sync::Arc<tokio::sync::Notify>;
    /// How many jobs are queued and running, on every node.
    async fn crowd_job_counts(&self) -> StoreResult<JobCounts>;
}

// --- statements ---------------------------------------------------------------------

const PLAN_COLUMNS: &str = "plan_id, name, brand_list, package_num, active_range, active_type,
    is_overlap, create_time, attempts, started_at, ended_at";
const TASK_COLUMNS: &str = "plan_id, sub_task_id, topic, content, status, scored, size, terms";

fn insert_plan(app: &AppId, p: &NewPlan) -> Vec<Stmt> {
    let s = &p.spec;
    let mut out = vec![Stmt::new(
        "INSERT INTO crowd_plans (plan_id, app_id, ord, name, brand_list, package_num,
            active_range, active_type, is_overlap, create_time, job)
         SELECT $1, $2, COALESCE(MAX(ord), 0) + 1, $3, $4, $5, $6, $7, $8, $9, 'queued'
         FROM crowd_plans WHERE app_id = $2",
        vec![
            p.plan_id.as_str().into(),
            app.as_str().into(),
            s.name.as_str().into(),
            s.brand_list().into(),
            int(s.package_num),
            i64::from(s.active_range).into(),
            s.active_type.code().into(),
            s.overlap.into(),
            p.create_time.into(),
        ],
    )];
    for (pos, (id, copy)) in p.task_ids.iter().zip(&s.tasks).enumerate() {
        out.push(Stmt::new(
            "INSERT INTO crowd_tasks (sub_task_id, plan_id, app_id, pos, topic, content, status)
             VALUES ($1, $2, $3, $4, $5, $6, 0)",
            vec![
                id.as_str().into(),
                p.plan_id.as_str().into(),
                app.as_str().into(),
                int(pos as u64),
                copy.topic.as_str().into(),
                copy.content.as_str().into(),
            ],
        ));
    }
    out
}

fn int(n: u64) -> Value {
    Value::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn plans_of(app: &AppId) -> Vec<Stmt> {
    vec![
        Stmt::built(
            format!("SELECT {PLAN_COLUMNS} FROM crowd_plans WHERE app_id = $1 ORDER BY ord DESC"),
            vec![app.as_str().into()],
        ),
        Stmt::built(
            format!("SELECT {TASK_COLUMNS} FROM crowd_tasks WHERE app_id = $1 ORDER BY pos"),
            vec![app.as_str().into()],
        ),
    ]
}

fn bad(what: &str) -> StoreError {
    StoreError::Backend(format!("unreadable {what} in a stored crowd plan"))
}

fn task_of(r: &Row) -> StoreResult<(String, TaskRecord)> {
    let terms = match r.opt_text(7)? {
        Some(t) => serde_json::from_str(&t).map_err(|_| bad("terms"))?,
        None => Vec::new(),
    };
    Ok((
        r.text(0)?,
        TaskRecord {
            sub_task_id: r.text(1)?,
            copy: CrowdCopy {
                topic: r.text(2)?,
                content: r.text(3)?,
            },
            status: Status::from_code(r.int(4)?).ok_or_else(|| bad("status"))?,
            scored: count(r.int(5)?),
            size: count(r.int(6)?),
            terms,
        },
    ))
}

/// Assembles plans (newest first) from the rows of [`plans_of`].
fn assemble(results: Vec<Vec<Row>>) -> StoreResult<Vec<PlanRecord>> {
    let mut results = results.into_iter();
    let (plans, tasks) = (
        results.next().unwrap_or_default(),
        results.next().unwrap_or_default(),
    );
    let mut by_plan: std::collections::HashMap<String, Vec<TaskRecord>> = Default::default();
    for r in &tasks {
        let (plan, task) = task_of(r)?;
        by_plan.entry(plan).or_default().push(task);
    }
    let mut out = Vec::with_capacity(plans.len());
    for r in &plans {
        let plan_id = r.text(0)?;
        let tasks = by_plan.remove(&plan_id).unwrap_or_default();
        let spec = PlanSpec {
            name: r.text(1)?,
            tasks: tasks.iter().map(|t| t.copy.clone()).collect(),
            brands: crowd::split_brands(&r.text(2)?),
            package_num: count(r.int(3)?),
            active_range: u32::try_from(r.int(4)?).map_err(|_| bad("active_range"))?,
            active_type: ActiveType::parse(r.int(5)?).ok_or_else(|| bad("active_type"))?,
            overlap: r.flag(6)?,
        };
        out.push(PlanRecord {
            plan_id,
            spec,
            create_time: r.int(7)?,
            attempts: count(r.int(8)?),
            started_at: r.opt_int(9)?,
            ended_at: r.opt_int(10)?,
            tasks,
        });
    }
    Ok(out)
}

fn stop_task(app: &AppId, id: &str, now: i64) -> Vec<Stmt> {
    let p = || vec![app.as_str().into(), id.into()];
    vec![
        Stmt::new(
            "UPDATE crowd_tasks SET status = 5
             WHERE app_id = $1 AND sub_task_id = $2 AND status IN (0, 1)",
            p(),
        ),
        // A plan whose sub-tasks have all ended is done, whoever was computing it.
        Stmt::new(
            "UPDATE crowd_plans SET job = 'done', ended_at = $3
             WHERE plan_id = (SELECT plan_id FROM crowd_tasks
                              WHERE app_id = $1 AND sub_task_id = $2)
               AND job <> 'done'
               AND NOT EXISTS (SELECT 1 FROM crowd_tasks t
                               WHERE t.plan_id = crowd_plans.plan_id AND t.status IN (0, 1))",
            vec![app.as_str().into(), id.into(), now.into()],
        ),
    ]
}

fn claim(lock: &str, claim: &str, now: i64, stale_before: i64) -> Vec<Stmt> {
    vec![
        Stmt::built(
            format!(
                "UPDATE crowd_plans SET job = 'running', claim = $1, heartbeat_at = $2,
                    attempts = attempts + 1, started_at = COALESCE(started_at, $2)
                 WHERE plan_id = (SELECT plan_id FROM crowd_plans
                                  WHERE job = 'queued' OR (job = 'running' AND heartbeat_at < $3)
                                  ORDER BY create_time, plan_id LIMIT 1{lock})"
            ),
            vec![claim.into(), now.into(), stale_before.into()],
        ),
        Stmt::new(
            "UPDATE crowd_tasks SET status = 1
             WHERE status = 0 AND plan_id IN (SELECT plan_id FROM crowd_plans WHERE claim = $1)",
            vec![claim.into()],
        ),
    ]
}

fn members_value(members: &RoaringBitmap) -> StoreResult<Value> {
    let mut bytes = Vec::with_capacity(members.serialized_size());
    members
        .serialize_into(&mut bytes)
        .map_err(|e| StoreError::Backend(e.to_string()))?;
    Ok(base64::engine::general_purpose::STANDARD
        .encode(bytes)
        .into())
}

fn members_of(text: &str) -> StoreResult<RoaringBitmap> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| bad("crowd"))?;
    RoaringBitmap::deserialize_from(bytes.as_slice()).map_err(|_| bad("crowd"))
}

fn finish(claim: &str, end: &JobEnd, now: i64) -> StoreResult<Vec<Stmt>> {
    // The tasks first: they find their plan by its claim, which the plan keeps when done.
    let mut out = Vec::new();
    match end {
        JobEnd::Succeeded(outcomes) => {
            for o in outcomes {
                let terms = serde_json::to_string(&o.terms)
                    .map_err(|e| StoreError::Backend(e.to_string()))?;
                out.push(Stmt::new(
                    "UPDATE crowd_tasks SET status = 4, size = $3, scored = $4, terms = $5,
                        members = $6
                     WHERE sub_task_id = $1 AND status = 1
                       AND plan_id IN (SELECT plan_id FROM crowd_plans
                                       WHERE claim = $2 AND job = 'running')",
                    vec![
                        o.sub_task_id.as_str().into(),
                        claim.into(),
                        int(o.members.len()),
                        int(o.scored),
                        terms.into(),
                        members_value(&o.members)?,
                    ],
                ));
            }
        }
        JobEnd::TimedOut | JobEnd::Failed => {
            let status = if matches!(end, JobEnd::TimedOut) {
                Status::TimedOut
            } else {
                Status::Failed
            };
            out.push(Stmt::new(
                "UPDATE crowd_tasks SET status = $2
                 WHERE status = 1 AND plan_id IN (SELECT plan_id FROM crowd_plans
                                                  WHERE claim = $1 AND job = 'running')",
                vec![claim.into(), status.code().into()],
            ));
        }
    }
    out.push(Stmt::new(
        "UPDATE crowd_plans SET job = 'done', ended_at = $2 WHERE claim = $1 AND job = 'running'",
        vec![claim.into(), now.into()],
    ));
    Ok(out)
}

/// Rows per page when a job reads the store: small enough that a page's rows (about
/// 70 bytes each as driver-neutral values) stay well under the index's size.
const PAGE: i64 = 8_192;

impl<B: Backend> Registry<B> {
    async fn plan_of_claim(&self, claim: &str) -> StoreResult<Option<ClaimedJob>> {
        let rows = self
            .backend
            .query(vec![Stmt::new(
                "SELECT app_id, plan_id FROM crowd_plans WHERE claim = $1 AND job = 'running'",
                vec![claim.into()],
            )])
            .await?;
        let Some(r) = rows.into_iter().next().and_then(|r| r.into_iter().next()) else {
            return Ok(None);
        };
        let app = AppId::parse(r.text(0)?).map_err(|_| bad("app id"))?;
        let plan_id = r.text(1)?;
        let plan = self
            .crowd_plans(&app)
            .await?
            .into_iter()
            .find(|p| p.plan_id == plan_id);
        Ok(plan.map(|plan| ClaimedJob {
            claim: claim.to_owned(),
            app,
            plan,
        }))
    }

    /// Ordinals of `app`'s devices that logged in at or after `since`, page by page.
    async fn active_since(&self, app: &AppId, since: i64) -> StoreResult<RoaringBitmap> {
        let mut out = RoaringBitmap::new();
        let mut after = -1_i64;
        loop {
            let rows = self
                .backend
                .query(vec![Stmt::new(
                    "SELECT ord FROM devices
                     WHERE app_id = $1 AND ord > $2 AND last_login_time >= $3
                     ORDER BY ord LIMIT $4",
                    vec![app.as_str().into(), after.into(), since.into(), PAGE.into()],
                )])
                .await?
                .into_iter()
                .next()
                .unwrap_or_default();
            for r in &rows {
                let ord = r.int(0)?;
                out.insert(u32::try_from(ord).map_err(|_| bad("ordinal"))?);
                after = ord;
            }
            if (rows.len() as i64) < PAGE {
                return Ok(out);
            }
        }
    }

    /// Every distinct opened text of `app` with the devices that opened it.
    async fn opens(&self, app: &AppId) -> StoreResult<Vec<(String, RoaringBitmap)>> {
        let mut out: Vec<(String, RoaringBitmap)> = Vec::new();
        let (mut text, mut ord) = (String::new(), -1_i64);
        loop {
            let rows = self
                .backend
                .query(vec![Stmt::new(
                    "SELECT text, ordinal FROM device_opens
                     WHERE app_id = $1 AND (text > $2 OR (text = $2 AND ordinal > $3))
                     ORDER BY text, ordinal LIMIT $4",
                    vec![
                        app.as_str().into(),
                        text.as_str().into(),
                        ord.into(),
                        PAGE.into(),
                    ],
                )])
                .await?
                .into_iter()
                .next()
                .unwrap_or_default();
            for r in &rows {
                text = r.text(0)?;
                ord = r.int(1)?;
                let o = u32::try_from(ord).map_err(|_| bad("ordinal"))?;
                match out.last_mut() {
                    Some((t, set)) if *t == text => {
                        set.insert(o);
                    }
                    _ => out.push((text.clone(), RoaringBitmap::from_iter([o]))),
                }
            }
            if (rows.len() as i64) < PAGE {
                return Ok(out);
            }
        }
    }

    /// The app's bitmaps as the index holds them (or as the store has them, on a node
    /// without an index): (all, blacklisted, brands, tags wanted).
    async fn bitmaps(&self, app: &AppId, wanted: TagFilter) -> StoreResult<roster_index::Snapshot> {
        if let Some(ix) = self.index() {
            if let Some(s) = ix.snapshot(app, &*wanted) {
                return Ok(s);
            }
        }
        let (ix, _) = self.backend().scan_index(app).await?;
        Ok(ix.snapshot(&*wanted))
    }

    /// Resolves a crowd leaf: its members, or not found when `app` has no such
    /// sub-task.
    pub(crate) async fn crowd_leaf(&self, app: &AppId, id: &str) -> StoreResult<RoaringBitmap> {
        self.crowd_members(app, id)
            .await?
            .ok_or_else(|| roster_core::Error::NotFound("crowd".into()).into())
    }
}

/// The devices a plan's brand filter lets through.
fn brand_filter(plan: &PlanSpec, s: &roster_index::Snapshot) -> RoaringBitmap {
    let named = |b: BrandGroup| s.brands.get(b.as_str()).cloned().unwrap_or_default();
    let mut out = RoaringBitmap::new();
    for b in &plan.brands {
        if *b == BrandGroup::Other {
            let mut other = s.all.clone();
            for n in BrandGroup::NAMED {
                other -= named(n);
            }
            out |= other;
        } else {
            out |= named(*b);
        }
    }
    out
}

/// Whether a selector has a leaf SQL does not evaluate (a crowd, a property) anywhere,
/// so that a store without an index evaluates it on bitmaps built from its devices.
pub(crate) fn needs_bitmaps(sel: &Selector) -> bool {
    match sel {
        Selector::Crowd(_) | Selector::Property(_) => true,
        Selector::And(xs) | Selector::Or(xs) => xs.iter().any(needs_bitmaps),
        Selector::Not(x) => needs_bitmaps(x),
        _ => false,
    }
}

#[async_trait]
impl<B: Backend> CrowdStore for Registry<B> {
    async fn create_crowd_plan(&self, app: &AppId, plan: &NewPlan) -> StoreResult<()> {
        self.backend().execute(insert_plan(app, plan)).await?;
        self.jobs.notify_one();
        Ok(())
    }

    async fn crowd_plans(&self, app: &AppId) -> StoreResult<Vec<PlanRecord>> {
        assemble(self.backend().query(plans_of(app)).await?)
    }

    async fn stop_crowd_task(&self, app: &AppId, id: &str, now: i64) -> StoreResult<bool> {
        self.backend().execute(stop_task(app, id, now)).await?;
        Ok(self.crowd_members(app, id).await?.is_some())
    }

    async fn crowd_members(&self, app: &AppId, id: &str) -> StoreResult<Option<RoaringBitmap>> {
        let rows = self
            .backend
            .query(vec![Stmt::new(
                "SELECT status, members FROM crowd_tasks WHERE app_id = $1 AND sub_task_id = $2",
                vec![app.as_str().into(), id.into()],
            )])
            .await?;
        let Some(r) = rows.into_iter().next().and_then(|r| r.into_iter().next()) else {
            return Ok(None);
        };
        match (Status::from_code(r.int(0)?), r.opt_text(1)?) {
            (Some(Status::Succeeded), Some(m)) => members_of(&m).map(Some),
            _ => Ok(Some(RoaringBitmap::new())),
        }
    }

    async fn claim_crowd_job(
        &self,
        token: &str,
        now: i64,
        stale_before: i64,
    ) -> StoreResult<Option<ClaimedJob>> {
        let lock = self.backend().claim_lock();
        let changed = self
            .backend
            .execute(claim(lock, token, now, stale_before))
            .await?;
        if changed.first().copied().unwrap_or(0) == 0 {
            return Ok(None);
        }
        self.plan_of_claim(token).await
    }

    async fn crowd_job_alive(
        &self,
        token: &str,
        now: i64,
        progress: &[(String, u64)],
    ) -> StoreResult<bool> {
        let mut stmts = vec![Stmt::new(
            "UPDATE crowd_plans SET heartbeat_at = $2 WHERE claim = $1 AND job = 'running'",
            vec![token.into(), now.into()],
        )];
        for (id, scored) in progress {
            stmts.push(Stmt::new(
                "UPDATE crowd_tasks SET scored = $2 WHERE sub_task_id = $1 AND status = 1",
                vec![id.as_str().into(), int(*scored)],
            ));
        }
        let changed = self.backend().execute(stmts).await?;
        Ok(changed.first().copied().unwrap_or(0) > 0)
    }

    async fn finish_crowd_job(&self, token: &str, end: &JobEnd, now: i64) -> StoreResult<()> {
        self.backend().execute(finish(token, end, now)?).await?;
        Ok(())
    }

    async fn release_crowd_job(&self, token: &str) -> StoreResult<()> {
        self.backend
            .execute(vec![Stmt::new(
                "UPDATE crowd_plans SET job = 'queued', claim = NULL, heartbeat_at = NULL
                 WHERE claim = $1 AND job = 'running'",
                vec![token.into()],
            )])
            .await?;
        Ok(())
    }

    async fn crowd_input(
        &self,
        app: &AppId,
        plan: &PlanRecord,
        as_of: i64,
        wanted: TagFilter,
    ) -> StoreResult<CrowdInput> {
        let snap = self.bitmaps(app, wanted).await?;
        let active = self
            .active_since(app, plan.spec.active_since(as_of))
            .await?;
        let mut eligible = brand_filter(&plan.spec, &snap);
        match plan.spec.active_type {
            ActiveType::Active => eligible &= active,
            ActiveType::Inactive => eligible -= active,
        }
        eligible -= &snap.blacklisted;
        let seen = self
            .crowd_plans(app)
            .await?
            .into_iter()
            .filter(|p| p.plan_id != plan.plan_id)
            .flat_map(|p| p.tasks)
            .map(|t| t.copy.text())
            .collect();
        Ok(CrowdInput {
            eligible,
            max_ordinal: snap.all.max(),
            tags: snap.tags,
            opens: self.opens(app).await?,
            seen,
        })
    }

    fn crowd_wakeup(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.jobs.clone()
    }

    async fn crowd_job_counts(&self) -> StoreResult<JobCounts> {
        let rows = self
            .backend
            .query(vec![Stmt::new(
                "SELECT job, COUNT(*) FROM crowd_plans WHERE job IN ('queued', 'running')
                 GROUP BY job",
                vec![],
            )])
            .await?;
        let mut counts = JobCounts::default();
        for r in rows.into_iter().flatten() {
            match r.text(0)?.as_str() {
                "queued" => counts.queued = count(r.int(1)?),
                "running" => counts.running = count(r.int(1)?),
                _ => {}
            }
        }
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_round_trip() {
        let set = RoaringBitmap::from_iter([1, 5, 70_000, 3_000_000]);
        let Value::Text(t) = members_value(&set).expect("encode") else {
            panic!("members are text");
        };
        assert_eq!(members_of(&t).expect("decode"), set);
        assert!(members_of("not base64!").is_err());
    }

    #[test]
    fn selectors_naming_crowds() {
        let c = Selector::Crowd("x".into());
        assert!(needs_bitmaps(&Selector::Not(Box::new(Selector::And(
            vec![c.clone()]
        )))));
        assert!(!needs_bitmaps(&Selector::All(true)));
    }
}
