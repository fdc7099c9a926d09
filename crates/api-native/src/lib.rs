//! roster's native REST API: admin calls (`/admin/v1`, bearer admin token), device
//! registration and events (`/api/v1/apps/{app_id}`, Basic `app_key:master_secret`),
//! and the OpenAPI document at `/openapi.json`.

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use roster_core::time::Clock;
use roster_store::Store;
use utoipa::OpenApi;

mod admin;
pub mod apps;
mod audience;
mod auth;
mod browse;
mod bulk;
mod changes;
mod crowds;
mod devices;
mod error;
mod json;
mod labels;
pub mod limits;
mod segments;
mod users;
mod wire;

use auth::SecuritySchemes;
pub use auth::{AdminAuth, AppAuth};
use error::EdgeResponses;
pub use error::{refusal, refusal_json, NativeError};
pub use json::BODY_LIMIT;

// Descriptions of the replies every operation of a kind can give.
const UNAUTHENTICATED_ADMIN: &str = "Missing or wrong admin bearer token (`unauthenticated`)";
const UNAUTHENTICATED_APP: &str =
    "Missing or wrong Basic `app_key:master_secret` for this app, or no such app (`unauthenticated`)";
const TOO_LARGE: &str = "The body is over 2 MiB after decompression (`payload_too_large`)";
const _: () = assert!(BODY_LIMIT == 2 * 1024 * 1024, "TOO_LARGE says 2 MiB");
const UNSUPPORTED: &str = "The body is not `Content-Type: application/json`, or its \
    `Content-Encoding` is neither `gzip` nor `identity` (`unsupported_media_type`)";
const RATE_LIMITED: &str = "The app's native request limit (`native_request`, per second, \
    off unless the admin sets it) is used up (`rate_limited`); retry after the `Retry-After` \
    seconds. Counted calls carry `X-RateLimit-Limit`, `X-RateLimit-Remaining` and \
    `X-RateLimit-Reset`";
const UNSUPPORTED_STREAM: &str = "The body is not `Content-Type: application/x-ndjson` or \
    `text/csv`, or its `Content-Encoding` is neither `gzip` nor `identity` \
    (`unsupported_media_type`)";
const INTERNAL: &str = "Internal error; the details are logged, never returned (`internal`)";
const BAD_PATH: &str = "A path segment is not valid percent-encoded UTF-8 (`invalid_param`)";
const ENCODING: &str = "The request has a `Content-Encoding` other than `gzip` or `identity` \
    (`unsupported_media_type`), even without a body";

/// What the native handlers share.
#[derive(Clone)]
pub struct NativeState {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Now, in ms.
    pub clock: Clock,
    /// The admin bearer token.
    pub admin_token: Arc<str>,
    /// The node's rate limiter (native requests, and the admin's view of its windows).
    pub limiter: Arc<roster_store::quota::Limiter>,
}

/// The native API's OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "roster native API",
        description = "Self-hosted user and audience registry.\n\n\
            Every error is answered as `{\"error\": {\"code\", \"message\"}}` (schema \
            `ErrorBody`), with the statuses each operation lists. A method a path does not \
            list is answered 405 `method_not_allowed`, and an unknown path 404 `not_found`, \
            in the same envelope. Request bodies are JSON objects (the device upsert: an \
            array of them); unknown fields are refused with a 400 naming the field. A path \
            segment that is not valid percent-encoded UTF-8 is a 400 `invalid_param`. Every \
            operation can also be answered 414, 431 (by the HTTP parser, before any route is \
            known) and 503 (the connection limit), each with `Connection: close`."
    ),
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
        changes::changes,
        crowds::get_crowd,
        crowds::stop_crowd,
        admin::node,
        admin::create_identity_name,
        admin::create_channel,
        admin::create_sender,
        admin::grant_sender,
        limits::show,
        limits::put_time_zone,
        limits::put_action,
        limits::delete_action,
        browse::list_devices,
        browse::list_users,
        labels::delete_device,
        users::delete_user,
        labels::put_tags,
        labels::patch_tags,
        labels::put_alias,
        labels::delete_alias,
        labels::put_blacklist,
        labels::delete_blacklist,
        apps::list_apps,
        apps::get_app,
        apps::patch_app,
        apps::delete_app,
        apps::rotate_secrets,
        segments::create,
        segments::list,
        segments::get_one,
        segments::replace,
        segments::delete,
        segments::count,
        bulk::import_devices,
        bulk::export_devices,
        bulk::import_users,
        bulk::export_users,
    ),
    components(schemas(
        admin::CreateApp,
        roster_core::AppCredentials,
        admin::DtTypes,
        devices::DeviceIn,
        devices::DeviceBatch,
        devices::UpsertReply,
        devices::EventIn,
        devices::DeviceOut,
        audience::AudienceIn,
        audience::SelectorSchema,
        audience::CountOut,
        audience::CidLine,
        changes::ChangeLine,
        changes::Heartbeat,
        crowds::CrowdOut,
        crowds::PlanOut,
        crowds::TermOut,
        admin::NodeOut,
        admin::AppProgressOut,
        users::IdentifyIn,
        users::IdentifyOut,
        users::UserOut,
        admin::IdentityNameIn,
        admin::ChannelIn,
        admin::ChannelOut,
        admin::SenderIn,
        admin::SenderOut,
        limits::LimitsOut,
        limits::LimitOut,
        limits::WindowsOut,
        limits::UsedOut,
        limits::LimitsIn,
        limits::TimeZoneIn,
        segments::SegmentIn,
        segments::SegmentPut,
        segments::SegmentOut,
        segments::SegmentList,
        roster_core::PhoneType,
        roster_core::DeviceKind,
        devices::EventType,
        wire::DeviceStatus,
        roster_core::DtType,
        roster_core::ums::SenderKind,
        error::ErrorBody,
        error::ErrorDetail,
        error::Code,
        browse::DevicePage,
        browse::UserPage,
        labels::TagsIn,
        labels::TagText,
        labels::AliasText,
        labels::TagsEditIn,
        labels::AliasIn,
        labels::TagsOut,
        labels::AliasOut,
        labels::BlacklistOut,
        apps::AppOut,
        apps::KeyOut,
        apps::AppListOut,
        apps::AppPatch,
        apps::NewSecretOut,
        apps::RotatedOut,
        roster_core::KeyDialect,
        bulk::ImportBody,
        bulk::ImportOut,
        bulk::LineErrorOut,
        bulk::DeviceLineOut,
        bulk::UserLineOut,
        bulk::BindingLineOut,
    )),
    modifiers(&SecuritySchemes, &EdgeResponses)
)]
pub struct ApiDoc;

/// The native routes.
pub fn router(state: NativeState) -> Router {
    Router::new()
        .route(
            "/admin/v1/apps",
            post(admin::create_app).get(apps::list_apps),
        )
        .route(
            "/admin/v1/apps/{app_id}",
            get(apps::get_app)
                .patch(apps::patch_app)
                .delete(apps::delete_app),
        )
        .route(
            "/admin/v1/apps/{app_id}/credentials/{dialect}/rotate",
            post(apps::rotate_secrets),
        )
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
        .route("/api/v1/apps/{app_id}/changes", get(changes::changes))
        .route(
            "/api/v1/apps/{app_id}/crowds/{sub_task_id}",
            get(crowds::get_crowd),
        )
        .route(
            "/api/v1/apps/{app_id}/crowds/{sub_task_id}/stop",
            post(crowds::stop_crowd),
        )
        .route("/admin/v1/node", get(admin::node))
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
        .route(
            "/admin/v1/apps/{app_id}/limits",
            get(limits::show).put(limits::put_time_zone),
        )
        .route(
            "/admin/v1/apps/{app_id}/limits/{action}",
            put(limits::put_action).delete(limits::delete_action),
        )
        // Browsing, deleting, and native tags, aliases and blacklist.
        .route("/api/v1/apps/{app_id}/devices", get(browse::list_devices))
        .route(
            "/api/v1/apps/{app_id}/devices/{cid}",
            delete(labels::delete_device),
        )
        .route(
            "/api/v1/apps/{app_id}/devices/{cid}/tags",
            put(labels::put_tags).patch(labels::patch_tags),
        )
        .route(
            "/api/v1/apps/{app_id}/devices/{cid}/alias",
            put(labels::put_alias).delete(labels::delete_alias),
        )
        .route(
            "/api/v1/apps/{app_id}/devices/{cid}/blacklist",
            put(labels::put_blacklist).delete(labels::delete_blacklist),
        )
        .route("/api/v1/apps/{app_id}/users", get(browse::list_users))
        .route(
            "/api/v1/apps/{app_id}/users/{uid}",
            delete(users::delete_user),
        )
        .route(
            "/api/v1/apps/{app_id}/segments",
            post(segments::create).get(segments::list),
        )
        .route(
            "/api/v1/apps/{app_id}/segments/{name}",
            get(segments::get_one)
                .put(segments::replace)
                .delete(segments::delete),
        )
        .route(
            "/api/v1/apps/{app_id}/segments/{name}/count",
            get(segments::count),
        )
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        // Bulk import streams its body, past the JSON body limit.
        .route(
            "/api/v1/apps/{app_id}/import/devices",
            post(bulk::import_devices),
        )
        .route(
            "/api/v1/apps/{app_id}/export/devices",
            get(bulk::export_devices),
        )
        .route(
            "/api/v1/apps/{app_id}/import/users",
            post(bulk::import_users),
        )
        .route(
            "/api/v1/apps/{app_id}/export/users",
            get(bulk::export_users),
        )
        .route("/openapi.json", get(openapi))
        .method_not_allowed_fallback(error::method_not_allowed)
        .with_state(state)
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
