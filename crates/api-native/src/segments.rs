//! Saved segments: named selectors of an app. A selector names one with the leaf
//! `{"segment": "name"}`, resolved when it is evaluated, so a count is always live.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use roster_core::segment::SegmentName;
use roster_core::{AudienceQuery, Error, Selector};
use roster_store::SegmentRecord;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::audience::CountOut;
use crate::auth::AppAuth;
use crate::error::{ErrorBody, NativeError};
use crate::json::Body;
use crate::{NativeState, BAD_PATH, UNAUTHENTICATED_APP};

/// A new segment.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "recent_android", "selector": {"and": [{"phone_type": "android"}, {"property": {"name": "app_version", "op": "gte", "value": "2.0"}}]}}))]
pub struct SegmentIn {
    /// 1–64 ASCII letters, digits, `_`, `-` or `.`; unique in the app.
    #[schema(value_type = String, min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9_.-]{1,64}$")]
    pub name: SegmentName,
    /// What it selects; may name other segments (no cycles, at most 8 deep).
    #[schema(value_type = crate::audience::SelectorSchema)]
    pub selector: Selector,
}

/// A segment's new selector.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentPut {
    /// What it selects from now on.
    #[schema(value_type = crate::audience::SelectorSchema)]
    pub selector: Selector,
}

/// A saved segment.
#[derive(Debug, Serialize, ToSchema)]
pub struct SegmentOut {
    /// Its name.
    pub name: String,
    /// What it selects, as saved (segment leaves are not expanded).
    #[schema(value_type = crate::audience::SelectorSchema)]
    pub selector: Selector,
    /// Created, ms.
    pub created_at: i64,
    /// Selector last set, ms.
    pub updated_at: i64,
}

/// Every segment of the app.
#[derive(Debug, Serialize, ToSchema)]
pub struct SegmentList {
    /// By name.
    pub segments: Vec<SegmentOut>,
}

impl From<SegmentRecord> for SegmentOut {
    fn from(r: SegmentRecord) -> Self {
        SegmentOut {
            name: r.name.to_string(),
            selector: r.selector,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

fn name(path: &(String, String)) -> Result<SegmentName, NativeError> {
    Ok(SegmentName::parse(path.1.as_str())?)
}

fn not_found(name: &SegmentName) -> NativeError {
    Error::NotFound(format!("segment {name}")).into()
}

const SAVE_400: &str = "Invalid body or selector, a selector whose segments refer back to \
    this one (`invalid_param`, naming the cycle), segments nested more than 8 deep or the \
    app's 1,000 segments (`size_over_limit`), or a bad name";
const SAVE_404: &str = "The selector names a segment or smart crowd the app does not have \
    (`not_found`)";

/// Saves a new segment.
#[utoipa::path(
    post, path = "/api/v1/apps/{app_id}/segments", request_body = SegmentIn,
    security(("app" = [])),
    params(("app_id" = String, Path, description = "App id")),
    responses(
        (status = 201, description = "Saved", body = SegmentOut),
        (status = 400, description = SAVE_400, body = ErrorBody),
        (status = 401, description = UNAUTHENTICATED_APP, body = ErrorBody),
        (status = 404, description = SAVE_404, body = ErrorBody),
        (status = 409, description = "The app has a segment of this name (`already_exists`)", body = ErrorBody),
    )
)]
pub(crate) async fn create(
    State(state): State<NativeState>,
    auth: AppAuth,
    Body(body): Body<SegmentIn>,
) -> Result<(StatusCode, Json<SegmentOut>), NativeError> {
    let now = (state.clock)();
    let saved = state
        .store
        .create_segment(&auth.app, &body.name, &body.selector, now)
        .await?;
    Ok((StatusCode::CREATED, Json(saved.into())))
}

/// Every segment of the app, by name.
#[utoipa::path(
    get, path = "/api/v1/apps/{app_id}/segments",
    security(("app" = [])),
    params(("app_id" = String, Path, description = "App id")),
    responses(
        (status = 200, description = "The segments", body = SegmentList),
        (status = 401, description = UNAUTHENTICATED_APP, body = ErrorBody),
    )
)]
pub(crate) async fn list(
    State(state): State<NativeState>,
    auth: AppAuth,
) -> Result<Json<SegmentList>, NativeError> {
    let segments = state.store.segments(&auth.app).await?;
    Ok(Json(SegmentList {
        segments: segments.into_iter().map(Into::into).collect(),
    }))
}

/// One segment.
#[utoipa::path(
    get, path = "/api/v1/apps/{app_id}/segments/{name}",
    security(("app" = [])),
    params(("app_id" = String, Path, description = "App id"), ("name" = String, Path, description = "Segment name")),
    responses(
        (status = 200, description = "The segment", body = SegmentOut),
        (status = 400, description = BAD_PATH, body = ErrorBody),
        (status = 401, description = UNAUTHENTICATED_APP, body = ErrorBody),
        (status = 404, description = "No such segment (`not_found`)", body = ErrorBody),
    )
)]
pub(crate) async fn get_one(
    State(state): State<NativeState>,
    auth: AppAuth,
    Path(path): Path<(String, String)>,
) -> Result<Json<SegmentOut>, NativeError> {
    let name = name(&path)?;
    match state.store.segment(&auth.app, &name).await? {
        Some(s) => Ok(Json(s.into())),
        None => Err(not_found(&name)),
    }
}

/// Replaces a segment's selector (the segment must exist: `PUT` does not create).
#[utoipa::path(
    put, path = "/api/v1/apps/{app_id}/segments/{name}", request_body = SegmentPut,
    security(("app" = [])),
    params(("app_id" = String, Path, description = "App id"), ("name" = String, Path, description = "Segment name")),
    responses(
        (status = 200, description = "Replaced", body = SegmentOut),
        (status = 400, description = SAVE_400, body = ErrorBody),
        (status = 401, description = UNAUTHENTICATED_APP, body = ErrorBody),
        (status = 404, description = "No such segment, or the selector names a segment or smart crowd the app does not have (`not_found`)", body = ErrorBody),
    )
)]
pub(crate) async fn replace(
    State(state): State<NativeState>,
    auth: AppAuth,
    Path(path): Path<(String, String)>,
    Body(body): Body<SegmentPut>,
) -> Result<Json<SegmentOut>, NativeError> {
    let name = name(&path)?;
    let now = (state.clock)();
    match state
        .store
        .replace_segment(&auth.app, &name, &body.selector, now)
        .await?
    {
        Some(s) => Ok(Json(s.into())),
        None => Err(not_found(&name)),
    }
}

/// Deletes a segment. Segments that name it answer 404 when counted until they change.
#[utoipa::path(
    delete, path = "/api/v1/apps/{app_id}/segments/{name}",
    security(("app" = [])),
    params(("app_id" = String, Path, description = "App id"), ("name" = String, Path, description = "Segment name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = BAD_PATH, body = ErrorBody),
        (status = 401, description = UNAUTHENTICATED_APP, body = ErrorBody),
        (status = 404, description = "No such segment (`not_found`)", body = ErrorBody),
    )
)]
pub(crate) async fn delete(
    State(state): State<NativeState>,
    auth: AppAuth,
    Path(path): Path<(String, String)>,
) -> Result<StatusCode, NativeError> {
    let name = name(&path)?;
    if state.store.delete_segment(&auth.app, &name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(&name))
    }
}

/// The live count of a segment (as `POST …/audience/count` with `{"segment": name}`).
#[utoipa::path(
    get, path = "/api/v1/apps/{app_id}/segments/{name}/count",
    security(("app" = [])),
    params(("app_id" = String, Path, description = "App id"), ("name" = String, Path, description = "Segment name")),
    responses(
        (status = 200, description = "The number of devices in the segment now", body = CountOut),
        (status = 400, description = "A bad path segment or name, or a segment chain that has come to nest too deep or loop (`invalid_param`, `size_over_limit`)", body = ErrorBody),
        (status = 401, description = UNAUTHENTICATED_APP, body = ErrorBody),
        (status = 404, description = "No such segment, or it names one (or a smart crowd) that no longer exists (`not_found`)", body = ErrorBody),
    )
)]
pub(crate) async fn count(
    State(state): State<NativeState>,
    auth: AppAuth,
    Path(path): Path<(String, String)>,
) -> Result<Json<CountOut>, NativeError> {
    let query = AudienceQuery {
        selector: Selector::Segment(name(&path)?),
        exclude_blacklisted: false,
        exclude_notification_off: false,
    };
    let count = state.store.count_audience(&auth.app, &query).await?;
    Ok(Json(CountOut { count }))
}
