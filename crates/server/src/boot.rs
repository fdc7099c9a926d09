//! A node from the moment it listens: `/healthz` (alive), `/readyz` (ready to serve:
//! the store reachable, its migrations applied, the audience index built) and
//! `/version` answer at once; every other request waits for the index — until it is
//! built, it is answered 503 in its dialect's envelope with `Retry-After: 1`.

use std::sync::{Arc, OnceLock};

use axum::extract::{Request, State};
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use roster_core::time::Clock;
use roster_edge::{Dialect, Refusal};
use roster_store::Store;
use tower::ServiceExt;

use crate::edge;

/// The served router once the node is ready, with its store.
#[derive(Clone)]
pub(crate) struct Boot {
    ready: Arc<OnceLock<(Router, Arc<dyn Store>)>>,
    clock: Clock,
}

impl Boot {
    pub(crate) fn new(clock: Clock) -> Self {
        Boot {
            ready: Arc::default(),
            clock,
        }
    }

    /// The node is ready: `router` serves everything from now on.
    pub(crate) fn ready(&self, router: Router, store: Arc<dyn Store>) {
        let _ = self.ready.set((router, store));
    }

    /// Whether the node is ready.
    pub(crate) fn is_ready(&self) -> bool {
        self.ready.get().is_some()
    }

    /// The probes, and everything else forwarded to the ready router.
    pub(crate) fn router(&self) -> Router {
        Router::new()
            .route(
                "/readyz",
                get(readyz).fallback(crate::healthz_method_not_allowed),
            )
            .route(
                "/version",
                get(version).fallback(crate::healthz_method_not_allowed),
            )
            .fallback(forward)
            .layer(axum::middleware::from_fn(edge::guard::route_info))
            .with_state(self.clone())
    }
}

async fn forward(State(boot): State<Boot>, req: Request) -> Response {
    if let Some((router, _)) = boot.ready.get() {
        return match router.clone().oneshot(req).await {
            Ok(resp) => resp,
            Err(never) => match never {},
        };
    }
    if req.uri().path() == "/healthz" {
        return crate::healthz().await.into_response();
    }
    let mut resp = edge::refusal(Dialect::of_path(req.uri().path()), Refusal::Unavailable);
    resp.headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    resp
}

/// 200 `{"status": "ready"}` once the index is built and the store answers; else 503
/// with `status` `starting` (the index is being built) or `store_unreachable`.
async fn readyz(State(boot): State<Boot>) -> Response {
    let Some((_, store)) = boot.ready.get() else {
        return not_ready("starting");
    };
    match store.node_progress((boot.clock)()).await {
        Ok(p) if p.store_reachable => {
            Json(serde_json::json!({ "status": "ready" })).into_response()
        }
        _ => not_ready("store_unreachable"),
    }
}

fn not_ready(status: &str) -> Response {
    let mut resp = (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(serde_json::json!({ "status": status })),
    )
        .into_response();
    resp.headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    resp
}

/// `{"version", "commit", "build_date"}`.
async fn version() -> Json<serde_json::Value> {
    Json(crate::build::json())
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use http_body_util::BodyExt;
    use serde_json::Value;

    use super::*;

    async fn call(app: &Router, path: &str) -> (StatusCode, Option<String>, Value) {
        let req = Request::get(path).body(Body::empty()).expect("request");
        let resp = app.clone().oneshot(req).await.expect("infallible");
        let status = resp.status();
        let retry = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        (
            status,
            retry,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    #[tokio::test]
    async fn not_ready_until_the_index_is_built() {
        let boot = Boot::new(Arc::new(|| 0));
        let app = boot.router();
        let (status, retry, body) = call(&app, "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(retry.as_deref(), Some("1"));
        assert_eq!(body, serde_json::json!({ "status": "starting" }));
        assert_eq!(
            call(&app, "/healthz").await.0,
            StatusCode::OK,
            "alive meanwhile"
        );
        assert_eq!(call(&app, "/version").await.0, StatusCode::OK);
        let (status, retry, body) = call(&app, "/v2/app/user/detail/cid").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(retry.as_deref(), Some("1"));
        assert_eq!(body["code"], 503, "Getui's envelope: {body}");

        let dir = tempfile::tempdir().expect("dir");
        let sqlite = roster_store_sqlite::SqliteStore::open_in_dir(dir.path()).expect("store");
        let store: Arc<dyn Store> = Arc::new(roster_store::Registry::new(Arc::new(sqlite)));
        let served = Router::new().route("/v2/app/user/detail/cid", get(|| async { "served" }));
        boot.ready(served, store);
        assert!(boot.is_ready());
        let (status, _, body) = call(&app, "/readyz").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, serde_json::json!({ "status": "ready" }));
        let req = Request::get("/v2/app/user/detail/cid")
            .body(Body::empty())
            .expect("request");
        let resp = app.clone().oneshot(req).await.expect("infallible");
        assert_eq!(resp.status(), StatusCode::OK, "forwarded once ready");
    }
}
