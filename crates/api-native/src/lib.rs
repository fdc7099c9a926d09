//! roster's native REST API: admin calls (`/admin/v1`, bearer admin token), device
//! registration and events (`/api/v1/apps/{app_id}`, Basic `app_key:master_secret`),
//! and the OpenAPI document at `/openapi.json`.

use std::sync::Arc;

use axum::routing::{get, post, put};
use axum::{Json, Router};
use roster_core::time::Clock;
use roster_store::Store;
use utoipa::OpenApi;

mod admin;
mod audience;
mod auth;
mod devices;
mod error;
mod json;

use auth::SecuritySchemes;
pub use auth::{AdminAuth, AppAuth};
pub use error::NativeError;

/// What the native handlers share.
#[derive(Clone)]
pub struct NativeState {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Now, in ms.
    pub clock: Clock,
    /// The admin bearer token.
    pub admin_token: Arc<str>,
}

/// The native API's OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "roster native API", description = "Self-hosted user and audience registry."),
    paths(
        admin::create_app,
        admin::set_dt_types,
        devices::upsert,
        devices::event,
        devices::get_device,
        audience::count,
        audience::cids,
    ),
    components(schemas(
        admin::CreateApp,
        admin::DtTypes,
        devices::DeviceIn,
        devices::UpsertReply,
        devices::EventIn,
        devices::DeviceOut,
        audience::AudienceIn,
        audience::CountOut,
        error::ErrorBody,
        error::ErrorDetail,
    )),
    modifiers(&SecuritySchemes)
)]
pub struct ApiDoc;

/// The native routes.
pub fn router(state: NativeState) -> Router {
    Router::new()
        .route("/admin/v1/apps", post(admin::create_app))
        .route(
            "/admin/v1/apps/{app_id}/getui/bind_dt_types",
            put(admin::set_dt_types),
        )
        .route("/api/v1/apps/{app_id}/devices", post(devices::upsert))
        .route(
            "/api/v1/apps/{app_id}/devices/{cid}",
            get(devices::get_device),
        )
        .route(
            "/api/v1/apps/{app_id}/devices/{cid}/events",
            post(devices::event),
        )
        .route(
            "/api/v1/apps/{app_id}/audience/count",
            post(audience::count),
        )
        .route("/api/v1/apps/{app_id}/audience/cids", post(audience::cids))
        .route("/openapi.json", get(openapi))
        .method_not_allowed_fallback(error::method_not_allowed)
        .with_state(state)
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// The JSON 404 envelope, for the server's fallback.
pub async fn not_found() -> NativeError {
    NativeError::not_found()
}
