//! Admin calls.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use roster_core::{AppCredentials, AppId, DtType, Error, NewApp};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::AdminAuth;
use crate::error::NativeError;
use crate::json::Body;
use crate::NativeState;

/// A new app.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateApp {
    /// Display name, 1–128 characters.
    pub name: String,
}

/// Creates an app and returns its credentials for every dialect.
#[utoipa::path(
    post, path = "/admin/v1/apps", request_body = CreateApp,
    security(("admin" = [])),
    responses(
        (status = 201, description = "The app's id and credentials: {app_id, getui: {app_key, master_secret}, ums: {…}, growth: {…}, engagelab: {…}}", body = Object),
        (status = 400, body = crate::error::ErrorBody),
        (status = 401, body = crate::error::ErrorBody),
    )
)]
pub(crate) async fn create_app(
    State(state): State<NativeState>,
    _admin: AdminAuth,
    Body(req): Body<CreateApp>,
) -> Result<(StatusCode, Json<AppCredentials>), NativeError> {
    let app = NewApp::new(&req.name, (state.clock)())?;
    state.store.create_app(&app).await?;
    tracing::info!(app_id = %app.credentials.app_id, "app created");
    Ok((StatusCode::CREATED, Json(app.credentials)))
}

/// Getui `bind_dt` channels enabled for an app beyond `wx`, which is always on.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DtTypes {
    /// Channel types: `hw`, `hwq`, `ho`, `xm`, `op`, `opg`, `vv`, `mz`, `fcm`, `st`, `sn`, `ios`.
    pub types: Vec<String>,
}

/// Replaces the set of vendor channels the app may bind through Getui `bind_dt`.
#[utoipa::path(
    put, path = "/admin/v1/apps/{app_id}/getui/bind_dt_types", request_body = DtTypes,
    security(("admin" = [])),
    params(("app_id" = String, Path, description = "App id")),
    responses(
        (status = 200, description = "Every enabled type, `wx` included", body = DtTypes),
        (status = 400, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody),
    )
)]
pub(crate) async fn set_dt_types(
    State(state): State<NativeState>,
    _admin: AdminAuth,
    Path(app_id): Path<String>,
    Body(req): Body<DtTypes>,
) -> Result<Json<DtTypes>, NativeError> {
    let app = AppId::parse(app_id).map_err(|_| Error::NotFound("app".into()))?;
    let mut types = Vec::with_capacity(req.types.len());
    for t in &req.types {
        let t = DtType::parse(t).ok_or_else(|| Error::invalid("types"))?;
        if !t.enabled_by_default() && !types.contains(&t) {
            types.push(t);
        }
    }
    types.sort();
    state.store.set_app_dt_types(&app, &types).await?;
    let enabled = DtType::ALL
        .into_iter()
        .filter(|t| t.enabled_by_default() || types.contains(t))
        .map(|t| t.as_str().to_owned())
        .collect();
    Ok(Json(DtTypes { types: enabled }))
}
