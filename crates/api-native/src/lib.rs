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
mod users;

use auth::SecuritySchemes;
pub use auth::{AdminAuth, AppAuth};
pub use error::{refusal, refusal_json, NativeError};

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
        users::identify,
        users::get_user,
        users::get_user_by_identity,
        admin::create_identity_name,
        admin::create_channel,
        admin::create_sender,
        admin::grant_sender,
    ),
    components(schemas(
        admin::CreateApp,
        admin::DtTypes,
        devices::DeviceIn,
        devices::UpsertReply,
        devices::EventIn,
        devices::DeviceOut,
        audience::AudienceIn,
        users::IdentifyIn,
        users::IdentifyOut,
        users::UserOut,
        users::OneOrMany,
        admin::IdentityNameIn,
        admin::ChannelIn,
        admin::ChannelOut,
        admin::SenderIn,
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
        .route("/api/v1/apps/{app_id}/users", post(users::identify))
        .route("/api/v1/apps/{app_id}/users/{uid}", get(users::get_user))
        .route(
            "/api/v1/apps/{app_id}/users/by_identity/{name}/{value}",
            get(users::get_user_by_identity),
        )
        .route(
            "/admin/v1/apps/{app_id}/identity_names",
            post(admin::create_identity_name),
        )
        .route(
            "/admin/v1/apps/{app_id}/ums/channels",
            post(admin::create_channel),
        )
        .route(
            "/admin/v1/apps/{app_id}/ums/senders",
            post(admin::create_sender),
        )
        .route(
            "/admin/v1/apps/{app_id}/ums/channels/{channel_key}/senders/{sender_code}",
            put(admin::grant_sender),
        )
        .route("/openapi.json", get(openapi))
        .method_not_allowed_fallback(error::method_not_allowed)
        .with_state(state)
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
