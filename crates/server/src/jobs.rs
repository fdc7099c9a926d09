//! The smart-crowd job runner of a node: it claims one plan at a time from the store's
//! queue (a plan is its own job), heartbeats while it computes, and writes the crowds.
//! A job whose runner died (no heartbeat for [`STALE_AFTER`]) is claimed again by any
//! node, so a job survives SIGKILL; a node that stops hands its job back at once. The
//! activity window is measured from the plan's creation, so a job computed after a
//! restart picks what it would have picked on time.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use roster_core::time::Clock;
use roster_crowd::{Inputs, Params, PushCopy, Watch};
use roster_store::crowds::{ClaimedJob, CrowdInput, JobEnd, TagFilter, TaskOutcome};
use roster_store::Store;
use tokio::sync::watch;

/// How often a runner says its job is alive (and reports progress).
const HEARTBEAT: Duration = Duration::from_secs(1);
/// A running job without a heartbeat for this long has lost its runner.
const STALE_AFTER: Duration = Duration::from_secs(10);
/// How often a node looks for jobs other nodes queued, when nothing woke it.
const POLL: Duration = Duration::from_secs(1);

/// The default time limit of one job: 30 minutes.
pub const DEFAULT_CROWD_TIMEOUT: Duration = Duration::from_secs(30 * 60);

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Runs jobs until `stop` turns true; a job in hand is then handed back to the queue.
pub(crate) async fn run(
    store: Arc<dyn Store>,
    clock: Clock,
    timeout: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let wake = store.crowd_wakeup();
    let mut failing = false;
    loop {
        if *stop.borrow() {
            return;
        }
        let claim = roster_core::crowd::new_id();
        let now = clock();
        match store
            .claim_crowd_job(&claim, now, now - ms(STALE_AFTER))
            .await
        {
            Ok(Some(job)) => {
                failing = false;
                let started = std::time::Instant::now();
                let outcome = work(&store, &clock, timeout, job, &mut stop).await;
                crate::metrics::crowd_job_ended(outcome, started.elapsed());
                continue;
            }
            Ok(None) => failing = false,
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(error = %e, "cannot read the smart-crowd job queue");
            }
            Err(_) => {}
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
            _ = stopped(&mut stop) => return,
        }
    }
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// What the computation and the heartbeat share.
#[derive(Default)]
struct Shared {
    scored: AtomicU64,
    /// The claim was lost, the job ended elsewhere (all stopped), or the node stops.
    abandon: AtomicBool,
    /// The time limit passed.
    late: AtomicBool,
}

struct Meter {
    shared: Arc<Shared>,
    deadline: std::time::Instant,
}

impl Watch for Meter {
    fn progress(&self, scored: u64) {
        self.shared.scored.store(scored, Ordering::Relaxed);
    }

    fn stopped(&self) -> bool {
        if std::time::Instant::now() >= self.deadline {
            self.shared.late.store(true, Ordering::Relaxed);
        }
        self.shared.abandon.load(Ordering::Relaxed) || self.shared.late.load(Ordering::Relaxed)
    }
}

/// Whether a tag can matter to any of the copies: it shares a feature with one, or its
/// name occurs in one. Only those tags' devices are copied out of the index.
fn tag_filter(texts: Vec<String>) -> TagFilter {
    let features: std::collections::HashSet<String> = texts
        .iter()
        .flat_map(|t| roster_crowd::features(t))
        .collect();
    Arc::new(move |tag: &str| {
        texts.iter().any(|t| t.contains(tag))
            || roster_crowd::features(tag)
                .iter()
                .any(|f| features.contains(f))
    })
}

/// How a runner's turn with a job ended (the `outcome` of its duration metric).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Crowds written.
    Succeeded,
    /// Past the time limit: status 2.
    TimedOut,
    /// The computation panicked: status 3.
    Failed,
    /// Handed back to the queue: the node is stopping, or the job's input could not be
    /// read.
    Released,
    /// The claim was lost to another runner, or every sub-task was stopped.
    Abandoned,
}

impl Outcome {
    /// The metric label.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::TimedOut => "timed_out",
            Outcome::Failed => "failed",
            Outcome::Released => "released",
            Outcome::Abandoned => "abandoned",
        }
    }
}

async fn work(
    store: &Arc<dyn Store>,
    clock: &Clock,
    timeout: Duration,
    job: ClaimedJob,
    stop: &mut watch::Receiver<bool>,
) -> Outcome {
    let now = clock();
    let started = job.plan.started_at.unwrap_or(now);
    let left = ms(timeout) - (now - started);
    if left <= 0 {
        end(store, clock, &job.claim, JobEnd::TimedOut).await;
        return Outcome::TimedOut;
    }
    let deadline = std::time::Instant::now() + Duration::from_millis(left.unsigned_abs());
    let tasks: Vec<_> = job
        .plan
        .tasks
        .iter()
        .filter(|t| !t.status.has_ended())
        .cloned()
        .collect();
    let texts = tasks.iter().map(|t| t.copy.text()).collect();
    let input = match store
        .crowd_input(&job.app, &job.plan, job.plan.create_time, tag_filter(texts))
        .await
    {
        Ok(input) => input,
        Err(e) => {
            // The store failed: hand the job back; another try (here or elsewhere) will
            // compute it, or time it out.
            tracing::warn!(error = %e, "cannot read a smart-crowd job's input");
            let _ = store.release_crowd_job(&job.claim).await;
            tokio::time::sleep(POLL).await;
            return Outcome::Released;
        }
    };
    let shared = Arc::new(Shared::default());
    let params = Params {
        package_num: job.plan.spec.package_num,
        overlap: job.plan.spec.overlap,
    };
    let copies: Vec<(String, String)> = tasks
        .iter()
        .map(|t| (t.copy.topic.clone(), t.copy.content.clone()))
        .collect();
    let meter = Meter {
        shared: shared.clone(),
        deadline,
    };
    let mut compute = tokio::task::spawn_blocking(move || {
        let copies: Vec<PushCopy<'_>> = copies
            .iter()
            .map(|(topic, content)| PushCopy { topic, content })
            .collect();
        pick(&copies, &input, &params, &meter)
    });
    let ids: Vec<String> = tasks.iter().map(|t| t.sub_task_id.clone()).collect();
    let mut stopping = false;
    let result = loop {
        tokio::select! {
            r = &mut compute => break r,
            _ = tokio::time::sleep(HEARTBEAT) => {
                let scored = shared.scored.load(Ordering::Relaxed);
                let progress: Vec<(String, u64)> =
                    ids.iter().map(|id| (id.clone(), scored)).collect();
                match store.crowd_job_alive(&job.claim, clock(), &progress).await {
                    Ok(true) => {}
                    Ok(false) => shared.abandon.store(true, Ordering::Relaxed),
                    Err(e) => tracing::warn!(error = %e, "cannot heartbeat a smart-crowd job"),
                }
            }
            _ = stopped(stop), if !stopping => {
                stopping = true;
                shared.abandon.store(true, Ordering::Relaxed);
            }
        }
    };
    let end_as = match result {
        Ok(Ok(crowds)) => JobEnd::Succeeded(
            ids.into_iter()
                .zip(crowds)
                .map(|(sub_task_id, c)| TaskOutcome {
                    sub_task_id,
                    members: c.members,
                    scored: c.scored,
                    terms: c.terms.into_iter().map(|t| (t.term, t.weight)).collect(),
                })
                .collect(),
        ),
        Ok(Err(roster_crowd::Stopped)) if shared.late.load(Ordering::Relaxed) => JobEnd::TimedOut,
        Ok(Err(roster_crowd::Stopped)) => {
            if *stop.borrow() {
                let _ = store.release_crowd_job(&job.claim).await;
                return Outcome::Released;
            }
            return Outcome::Abandoned;
        }
        Err(e) => {
            tracing::error!(error = %e, "a smart-crowd job panicked");
            JobEnd::Failed
        }
    };
    let (outcome, said) = match &end_as {
        JobEnd::Succeeded(_) => (Outcome::Succeeded, "succeeded"),
        JobEnd::TimedOut => (Outcome::TimedOut, "timed out"),
        JobEnd::Failed => (Outcome::Failed, "failed"),
    };
    tracing::info!(
        app_id = %job.app,
        plan_id = %job.plan.plan_id,
        attempts = job.plan.attempts,
        outcome = said,
        "smart-crowd job ended"
    );
    end(store, clock, &job.claim, end_as).await;
    outcome
}

/// Runs the model over what the store handed over.
fn pick(
    copies: &[PushCopy<'_>],
    input: &CrowdInput,
    params: &Params,
    meter: &Meter,
) -> Result<Vec<roster_crowd::Crowd>, roster_crowd::Stopped> {
    let inputs = Inputs {
        tags: input.tags.iter().map(|(n, s)| (n.as_str(), s)).collect(),
        opens: input.opens.iter().map(|(t, s)| (t.as_str(), s)).collect(),
        seen: input.seen.iter().map(String::as_str).collect(),
        eligible: &input.eligible,
    };
    roster_crowd::pick(copies, &inputs, params, meter)
}

async fn end(store: &Arc<dyn Store>, clock: &Clock, claim: &str, how: JobEnd) {
    if let Err(e) = store.finish_crowd_job(claim, &how, clock()).await {
        // The heartbeat stops with this runner, so another one re-claims the job.
        tracing::warn!(error = %e, "cannot store a smart-crowd job's result");
    }
}
