//! The Getui Push REST API v2 user API (`/v2/{appId}/…`) over roster's store.
//!
//! Handlers are thin: they read the vendor's wire shapes leniently (the official SDKs
//! send `null` bodies, numbers as strings and the like), turn them into validated core
//! values, call the store, and answer in Getui's envelope. Every error, including 404
//! and 405, is a JSON envelope.

use std::sync::Arc;

use axum::routing::{delete, get, post, put};
use axum::Router;
use roster_core::quota::Quota;
use roster_core::time::Clock;
use roster_store::Store;

mod auth;
mod body;
mod error;
mod routes;
mod tokens;

pub use auth::GetuiToken;
pub use error::{refusal, GetuiError};
pub use tokens::{TokenCache, FRESH_FOR};

/// What the Getui handlers share.
#[derive(Clone)]
pub struct GetuiState {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Rate limits and quotas.
    pub quota: Arc<dyn Quota>,
    /// Now, in ms.
    pub clock: Clock,
    /// Token checks of this node; every clone of the state must share one, so that a
    /// revocation here is seen by the next request at once.
    pub tokens: Arc<TokenCache>,
}

impl GetuiState {
    pub(crate) fn now(&self) -> i64 {
        (self.clock)()
    }
}

/// The `/v2` routes.
pub fn router(state: GetuiState) -> Router {
    use routes::{alias, auth as token, count, crowd, tags, user};
    Router::new()
        .route("/v2/{app_id}/auth", post(token::create))
        .route("/v2/{app_id}/auth/{token}", delete(token::revoke))
        .route(
            "/v2/{app_id}/user/alias",
            post(alias::bind).delete(alias::unbind),
        )
        .route("/v2/{app_id}/user/alias/cid/{cid}", get(alias::of_cid))
        .route("/v2/{app_id}/user/cid/alias/{alias}", get(alias::cids_of))
        .route("/v2/{app_id}/user/alias/{alias}", delete(alias::unbind_all))
        .route(
            "/v2/{app_id}/user/custom_tag/cid/{cid}",
            post(tags::overwrite).get(tags::query),
        )
        .route(
            "/v2/{app_id}/user/custom_tag/batch/{custom_tag}",
            put(tags::batch_bind).delete(tags::batch_unbind),
        )
        .route(
            "/v2/{app_id}/user/black/cid/{cids}",
            post(user::blacklist_add).delete(user::blacklist_remove),
        )
        .route("/v2/{app_id}/user/status/{cids}", get(user::status))
        .route(
            "/v2/{app_id}/user/deviceStatus/{cids}",
            get(user::device_status),
        )
        .route("/v2/{app_id}/user/detail/{cids}", get(user::detail))
        .route("/v2/{app_id}/user/badge/cid/{cids}", post(user::badge))
        .route("/v2/{app_id}/user/bind_dt/{type}", post(user::bind_dt))
        .route("/v2/{app_id}/user/count", post(count::count))
        .route("/v2/{app_id}/user/smart_crowd/create", post(crowd::create))
        .route(
            "/v2/{app_id}/user/smart_crowd/task/list",
            post(crowd::task_list),
        )
        .route(
            "/v2/{app_id}/user/smart_crowd/model/list",
            post(crowd::model_list),
        )
        .method_not_allowed_fallback(error::method_not_allowed)
        .with_state(state)
}
