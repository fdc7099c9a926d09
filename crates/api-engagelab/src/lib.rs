//! EngageLab MA `POST /v1/user/profile` over roster's identity graph: a user's
//! identities, properties, linked devices' properties and contacts, by EUID (= uid).

use std::sync::Arc;

use axum::routing::post;
use axum::Router;
use roster_core::quota::Quota;
use roster_core::time::Clock;
use roster_store::Store;

mod auth;
mod body;
mod error;
mod render;
mod routes;

pub use auth::EngagelabAuth;
pub use error::{refusal, EngagelabError};

/// What the EngageLab handlers share.
#[derive(Clone)]
pub struct EngagelabState {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Rate limits.
    pub quota: Arc<dyn Quota>,
    /// Now, in ms.
    pub clock: Clock,
}

/// The `/v1/user/profile` route.
pub fn router(state: EngagelabState) -> Router {
    Router::new()
        .route("/v1/user/profile", post(routes::profile::query))
        .method_not_allowed_fallback(error::method_not_allowed)
        .with_state(state)
}
