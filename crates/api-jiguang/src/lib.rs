//! Jiguang dialects over roster's identity graph: UMS user management v1
//! (`/v1/user/opt`, `/v1/user/delete`) and Operation Growth's Get CUID
//! (`/smartop/api/v1/user/register`).

use std::sync::Arc;

use axum::routing::post;
use axum::Router;
use roster_core::quota::Quota;
use roster_core::time::Clock;
use roster_store::Store;

mod auth;
mod body;
mod growth;
mod ums;

pub use auth::{GrowthAuth, UmsAuth};
pub use growth::error::{refusal as growth_refusal, GrowthError};
pub use ums::error::{refusal as ums_refusal, UmsError};

/// What the Jiguang handlers share.
#[derive(Clone)]
pub struct JiguangState {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Rate limits.
    pub quota: Arc<dyn Quota>,
    /// Now, in ms.
    pub clock: Clock,
}

/// The UMS routes.
pub fn ums_router(state: JiguangState) -> Router {
    Router::new()
        .route("/v1/user/opt", post(ums::opt))
        .route("/v1/user/delete", post(ums::delete))
        .method_not_allowed_fallback(ums::method_not_allowed)
        .with_state(state)
}

/// The Growth routes.
pub fn growth_router(state: JiguangState) -> Router {
    Router::new()
        .route("/smartop/api/v1/user/register", post(growth::register))
        .method_not_allowed_fallback(growth::method_not_allowed)
        .with_state(state)
}
