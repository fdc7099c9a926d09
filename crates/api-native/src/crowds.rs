//! Smart crowds, natively: one sub-task with its plan, its progress and the terms the
//! model weighed its copy by; and stopping one. Plans are created through the Getui
//! dialect (`smart_crowd/create`); a crowd is targeted with the selector leaf `crowd`.

use axum::extract::{Path, State};
use axum::Json;
use roster_core::Error;
use roster_store::crowds::{find_task, PlanRecord, TaskRecord};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::AppAuth;
use crate::error::{ErrorBody, NativeError};
use crate::NativeState;
use crate::{BAD_PATH, UNAUTHENTICATED_APP};

/// The plan a sub-task belongs to, as it was asked for.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanOut {
    /// Plan name.
    pub name: String,
    /// Every sub-task of the plan, in task order.
    pub sub_task_ids: Vec<String>,
    /// Brand groups: `hw`, `xm`, `op`, `vv`, `mz`, `other`.
    pub brand_list: Vec<String>,
    /// Activity window, days.
    pub active_range: u32,
    /// `1`: logged in within the window; `-1`: not.
    pub active_type: i64,
    /// Upper bound of each crowd.
    pub package_num: u64,
    /// Whether a device may be in several crowds of the plan.
    pub is_overlap: bool,
}

/// One weighted term of the copy (TF-IDF over the app's corpus, normalised).
#[derive(Debug, Serialize, ToSchema)]
pub struct TermOut {
    /// The word or character bigram.
    pub term: String,
    /// Its weight in the copy's vector.
    pub weight: f64,
}

/// A smart-crowd sub-task.
#[derive(Debug, Serialize, ToSchema)]
pub struct CrowdOut {
    /// Its id.
    pub sub_task_id: String,
    /// Plan name.
    pub name: String,
    /// Copy title.
    pub topic: String,
    /// Copy body.
    pub content: String,
    /// 0 waiting, 1 computing, 2 timed out, 3 failed, 4 succeeded, 5 stopped.
    #[schema(minimum = 0, maximum = 5)]
    pub status: i64,
    /// Succeeded with at least one device.
    pub can_push: bool,
    /// Devices in the crowd (0 until it succeeded).
    pub size: u64,
    /// Devices scored so far (while computing), or in all.
    pub scored: u64,
    /// How many times a runner claimed the plan's job (more than 1: a runner died or
    /// stopped and another finished it).
    pub attempts: u64,
    /// Plan creation, ms.
    pub create_time: i64,
    /// When a runner first took the job, ms.
    pub started_at: Option<i64>,
    /// When the plan ended, ms.
    pub ended_at: Option<i64>,
    /// The plan's parameters.
    pub plan: PlanOut,
    /// The terms the model weighed the copy by, heaviest first (empty until it ran).
    pub terms: Vec<TermOut>,
}

impl CrowdOut {
    fn new(p: &PlanRecord, t: &TaskRecord) -> Self {
        CrowdOut {
            sub_task_id: t.sub_task_id.clone(),
            name: p.spec.name.clone(),
            topic: t.copy.topic.clone(),
            content: t.copy.content.clone(),
            status: t.status.code(),
            can_push: t.can_push(),
            size: t.size,
            scored: t.scored,
            attempts: p.attempts,
            create_time: p.create_time,
            started_at: p.started_at,
            ended_at: p.ended_at,
            plan: PlanOut {
                name: p.spec.name.clone(),
                sub_task_ids: p.tasks.iter().map(|t| t.sub_task_id.clone()).collect(),
                brand_list: p.spec.brands.iter().map(|b| b.as_str().into()).collect(),
                active_range: p.spec.active_range,
                active_type: p.spec.active_type.code(),
                package_num: p.spec.package_num,
                is_overlap: p.spec.overlap,
            },
            terms: t
                .terms
                .iter()
                .map(|(term, weight)| TermOut {
                    term: term.clone(),
                    weight: *weight,
                })
                .collect(),
        }
    }
}

async fn load(state: &NativeState, auth: &AppAuth, id: &str) -> Result<CrowdOut, NativeError> {
    let plans = state.store.crowd_plans(&auth.app).await?;
    find_task(&plans, id)
        .map(|(p, t)| CrowdOut::new(p, t))
        .ok_or_else(|| Error::NotFound("crowd".into()).into())
}

/// One smart-crowd sub-task: status, progress, size, its plan and the model's terms.
#[utoipa::path(
    get, path = "/api/v1/apps/{app_id}/crowds/{sub_task_id}",
    security(("app" = [])),
    params(("app_id" = String, Path, description = "App id"), ("sub_task_id" = String, Path, description = "Sub-task id, as `smart_crowd/create` returned it")),
    responses(
        (status = 200, description = "The sub-task", body = CrowdOut),
        (status = 400, description = BAD_PATH, body = ErrorBody),
        (status = 401, description = UNAUTHENTICATED_APP, body = ErrorBody),
        (status = 404, description = "No such sub-task in this app (`not_found`)", body = ErrorBody),
    )
)]
pub(crate) async fn get_crowd(
    State(state): State<NativeState>,
    auth: AppAuth,
    Path(path): Path<(String, String)>,
) -> Result<Json<CrowdOut>, NativeError> {
    load(&state, &auth, &path.1).await.map(Json)
}

/// Stops a sub-task: a waiting or computing one goes to 5 (stopped); one that has ended
/// keeps its status. Answers the sub-task as it is afterwards.
#[utoipa::path(
    post, path = "/api/v1/apps/{app_id}/crowds/{sub_task_id}/stop",
    security(("app" = [])),
    params(("app_id" = String, Path, description = "App id"), ("sub_task_id" = String, Path, description = "Sub-task id")),
    responses(
        (status = 200, description = "The sub-task after the stop", body = CrowdOut),
        (status = 400, description = BAD_PATH, body = ErrorBody),
        (status = 401, description = UNAUTHENTICATED_APP, body = ErrorBody),
        (status = 404, description = "No such sub-task in this app (`not_found`)", body = ErrorBody),
    )
)]
pub(crate) async fn stop_crowd(
    State(state): State<NativeState>,
    auth: AppAuth,
    Path(path): Path<(String, String)>,
) -> Result<Json<CrowdOut>, NativeError> {
    let now = (state.clock)();
    if !state.store.stop_crowd_task(&auth.app, &path.1, now).await? {
        return Err(Error::NotFound("crowd".into()).into());
    }
    load(&state, &auth, &path.1).await.map(Json)
}
