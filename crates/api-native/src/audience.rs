//! Audience counts and listings over nested selectors.

use axum::body::Body as HttpBody;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::StreamExt;
use roster_core::{AppId, AudienceQuery, Cid};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::AppAuth;
use crate::error::NativeError;
use crate::json::Body;
use crate::NativeState;

/// Cids fetched from the store per page of a listing.
const PAGE: usize = 10_000;

/// An audience: a selector plus the usual push filters.
///
/// A selector is one JSON object with one key: `and` / `or` (a list of selectors),
/// `not` (a selector), `all` (`true`), or a leaf: `phone_type` (`android`/`ios`),
/// `region` (8 digits; a province `PP000000` or city `PPCC0000` matches everything in
/// it), `tag`, `brand` (`unknown` for devices without one), `alias`, `cid` (a list).
/// Example: `{"and": [{"phone_type": "android"}, {"or": [{"region": "11000000"},
/// {"region": "31000000"}]}, {"not": {"tag": "x"}}]}`.
// Documents the body for OpenAPI; handlers read it as `AudienceQuery`.
#[allow(dead_code)]
#[derive(Debug, ToSchema)]
#[schema(example = json!({"selector": {"and": [{"phone_type": "android"}, {"not": {"tag": "x"}}]}, "exclude_blacklisted": true}))]
pub struct AudienceIn {
    /// Which devices.
    #[schema(value_type = Object)]
    pub selector: serde_json::Value,
    /// Leave out blacklisted devices.
    #[schema(default = false)]
    pub exclude_blacklisted: Option<bool>,
    /// Leave out devices with notifications off.
    #[schema(default = false)]
    pub exclude_notification_off: Option<bool>,
}

/// The size of an audience.
#[derive(Debug, Serialize, ToSchema)]
pub struct CountOut {
    /// Matching devices.
    pub count: u64,
}

/// Counts an audience.
#[utoipa::path(
    post, path = "/api/v1/apps/{app_id}/audience/count", request_body = AudienceIn,
    security(("app" = [])),
    params(("app_id" = String, Path, description = "App id")),
    responses((status = 200, body = CountOut), (status = 400, body = crate::error::ErrorBody))
)]
pub(crate) async fn count(
    State(state): State<NativeState>,
    auth: AppAuth,
    Body(query): Body<AudienceQuery>,
) -> Result<Json<CountOut>, NativeError> {
    let count = state.store.count_audience(&auth.app, &query).await?;
    Ok(Json(CountOut { count }))
}

/// Lists an audience as NDJSON, one `{"cid": "…"}` per line, in ordinal order. The
/// listing is read page by page while it streams, so it is not a snapshot: a device
/// written meanwhile may or may not appear.
#[utoipa::path(
    post, path = "/api/v1/apps/{app_id}/audience/cids", request_body = AudienceIn,
    security(("app" = [])),
    params(("app_id" = String, Path, description = "App id")),
    responses(
        (status = 200, description = "NDJSON lines `{\"cid\": \"…\"}`", content_type = "application/x-ndjson"),
        (status = 400, body = crate::error::ErrorBody)
    )
)]
pub(crate) async fn cids(
    State(state): State<NativeState>,
    auth: AppAuth,
    Body(query): Body<AudienceQuery>,
) -> Result<Response, NativeError> {
    // The first page is read before answering, so a bad query is still a proper error.
    let first = state
        .store
        .audience_page(&auth.app, &query, None, PAGE)
        .await?;
    // Fused: a compression layer polls once more after the end, which an unfused
    // `unfold` answers with a panic.
    let stream =
        futures_util::stream::unfold(Some((state, auth.app, query, first)), |cursor| async move {
            let (state, app, query, page) = cursor?;
            if page.is_empty() {
                return None;
            }
            let chunk = ndjson(&page);
            let next = next_page(&state, &app, &query, page.last().map(|(o, _)| *o)).await;
            match next {
                Ok(next) => Some((
                    Ok::<_, std::io::Error>(chunk),
                    Some((state, app, query, next)),
                )),
                // The status line is gone; ending the body early tells the client.
                Err(e) => {
                    tracing::error!(error = %e, "audience listing failed mid-stream");
                    Some((Ok(chunk), None))
                }
            }
        })
        .fuse();
    Ok((
        [(CONTENT_TYPE, "application/x-ndjson")],
        HttpBody::from_stream(stream),
    )
        .into_response())
}

async fn next_page(
    state: &NativeState,
    app: &AppId,
    query: &AudienceQuery,
    after: Option<u32>,
) -> Result<Vec<(u32, Cid)>, roster_store::StoreError> {
    if after.is_none() {
        return Ok(Vec::new());
    }
    state.store.audience_page(app, query, after, PAGE).await
}

fn ndjson(page: &[(u32, Cid)]) -> String {
    let mut out = String::with_capacity(page.len() * 48);
    for (_, cid) in page {
        out.push_str("{\"cid\":");
        out.push_str(&serde_json::Value::String(cid.to_string()).to_string());
        out.push_str("}\n");
    }
    out
}
