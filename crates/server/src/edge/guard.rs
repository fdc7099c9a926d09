//! The middleware around the whole router (see the module above).

use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{MatchedPath, Request};
use axum::http::header::{CONNECTION, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use futures_util::FutureExt;
use http_body::Frame;
use roster_core::quota::RateState;
use roster_edge::{Dialect, Refusal};
use roster_store::changes::request_scope;
use tracing::field::{display, Empty};
use tracing::{Instrument, Span};

use super::body::Hooked;
use super::refusal;

/// The route that answered a request, set by [`route_info`] inside the router.
#[derive(Debug, Clone)]
struct Matched {
    route: String,
    dialect: Dialect,
}

/// Runs inside the router, where the matched route is known: names the route and its
/// dialect on the request span and tells [`guard`] who answered.
pub(crate) async fn route_info(req: Request, next: Next) -> Response {
    let matched = req.extensions().get::<MatchedPath>().map(|m| Matched {
        route: m.as_str().to_owned(),
        dialect: Dialect::of_path(m.as_str()),
    });
    if let Some(m) = &matched {
        let span = Span::current();
        span.record("route", display(&m.route));
        span.record("dialect", display(m.dialect.as_str()));
    }
    let mut resp = next.run(req).await;
    if let Some(m) = matched {
        resp.extensions_mut().insert(m);
    }
    resp
}

/// Runs around everything else (see the module docs).
pub(crate) async fn guard(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let by_path = Dialect::of_path(req.uri().path());
    let request_id = request_id(&req);
    // Never the raw URI: paths carry cids, aliases and tokens.
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %method,
        dialect = Empty,
        route = Empty,
        app_id = Empty,
        status = Empty,
        latency_ms = Empty,
    );
    span.in_scope(|| tracing::debug!("request received"));
    let id_header = HeaderValue::from_str(&request_id).ok();
    let min_seq = match min_seq(&req) {
        Ok(min) => min,
        Err(()) => {
            let mut resp = refusal(by_path, Refusal::BadRequest);
            if let Some(id) = id_header {
                resp.headers_mut().insert(REQUEST_ID_HEADER, id);
            }
            return resp;
        }
    };
    let (req, body_read) = track_request_body(req);
    let handler = AssertUnwindSafe(next.run(req)).catch_unwind();
    let (result, scoped) = request_scope(min_seq, handler)
        .instrument(span.clone())
        .await;
    let mut resp = match result {
        Ok(resp) => resp,
        Err(_) => {
            span.in_scope(|| tracing::error!("request handler panicked; answered 500"));
            refusal(by_path, Refusal::Internal)
        }
    };
    if let (Some(seq), true) = (scoped.seq, resp.status().is_success()) {
        resp.headers_mut()
            .insert(SEQ_HEADER, HeaderValue::from(seq));
    }
    let (dialect, route) = match resp.extensions_mut().remove::<Matched>() {
        Some(m) => (m.dialect, m.route),
        None => {
            span.record("dialect", display(by_path.as_str()));
            (by_path, String::new())
        }
    };
    let status = resp.status();
    if (status.is_client_error() || status.is_server_error()) && !is_json(&resp) {
        let allow = resp.headers().get(axum::http::header::ALLOW).cloned();
        resp = refusal(dialect, Refusal::from_status(status));
        if let Some(allow) = allow {
            resp.headers_mut().insert(axum::http::header::ALLOW, allow);
        }
    }
    if let Some(rate) = scoped.rate {
        rate_headers(resp.headers_mut(), dialect, &rate);
    }
    if let Some(id) = id_header {
        resp.headers_mut().insert(REQUEST_ID_HEADER, id);
    }
    if !body_read.load(Ordering::Acquire) {
        // The rest of the body is still on the wire: the connection cannot carry another
        // request, so say so rather than reset it under a keep-alive client.
        resp.headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    let status = resp.status();
    span.record("status", status.as_u16());
    let log = AccessLog {
        span,
        request_id,
        started,
        dialect,
        method: method.to_string(),
        route,
        status,
        bytes: 0,
    };
    resp.map(|body| Body::new(Guarded::new(body, log)))
}

/// Where the reply's rate limit stands: `X-RateLimit-*` in every dialect, Jiguang's own
/// `X-Rate-Limit-*` spelling too on its routes, and `Retry-After` on a refusal.
fn rate_headers(h: &mut axum::http::HeaderMap, dialect: Dialect, rate: &RateState) {
    const NAMES: [(&str, &str); 3] = [
        ("x-ratelimit-limit", "x-rate-limit-limit"),
        ("x-ratelimit-remaining", "x-rate-limit-remaining"),
        ("x-ratelimit-reset", "x-rate-limit-reset"),
    ];
    let jiguang = matches!(dialect, Dialect::Ums | Dialect::Growth);
    for ((ours, jiguangs), value) in
        NAMES
            .into_iter()
            .zip([rate.limit, rate.remaining, rate.reset_secs])
    {
        h.insert(HeaderName::from_static(ours), HeaderValue::from(value));
        if jiguang {
            h.insert(HeaderName::from_static(jiguangs), HeaderValue::from(value));
        }
    }
    if let Some(wait) = rate.retry_after {
        h.insert(RETRY_AFTER, HeaderValue::from(wait));
    }
}

/// Names a request in its logs and its reply: taken from the request, else generated.
pub(crate) const REQUEST_ID_HEADER: &str = "x-request-id";

/// The request's `X-Request-Id` when it is 1–128 characters of `A–Z a–z 0–9 . _ : -`,
/// else a new one (32 hex digits).
fn request_id(req: &Request) -> String {
    req.headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (1..=128).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
        })
        .map_or_else(|| roster_core::ids::random_hex(16), str::to_owned)
}

/// On every successful write reply: the app's seq after the write.
pub(crate) const SEQ_HEADER: &str = "x-roster-seq";
/// On a read: answer only once this node has applied the app's changes this far.
pub(crate) const MIN_SEQ_HEADER: &str = "x-roster-min-seq";

/// The request's `X-Roster-Min-Seq`, if any; `Err` when it is not a seq.
fn min_seq(req: &Request) -> Result<Option<u64>, ()> {
    match req.headers().get(MIN_SEQ_HEADER) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .map(Some)
            .ok_or(()),
    }
}

fn is_json(resp: &Response) -> bool {
    resp.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// Wraps the request body so that the guard learns whether the handler read it to the
/// end. A request without a body counts as read.
fn track_request_body(req: Request) -> (Request, Arc<AtomicBool>) {
    let (parts, body) = req.into_parts();
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    let body = Body::new(Hooked::on_end(body, move || {
        flag.store(true, Ordering::Release)
    }));
    (Request::from_parts(parts, body), done)
}

/// What the access-log line says; written once the response body has been sent.
struct AccessLog {
    span: Span,
    request_id: String,
    started: Instant,
    dialect: Dialect,
    method: String,
    route: String,
    status: StatusCode,
    bytes: u64,
}

impl Drop for AccessLog {
    fn drop(&mut self) {
        // Microsecond precision is plenty and keeps the line short.
        let latency_ms = self.started.elapsed().as_micros() as f64 / 1000.0;
        self.span.record("latency_ms", latency_ms);
        let _enter = self.span.enter();
        tracing::info!(
            target: "roster::access",
            request_id = %self.request_id,
            dialect = %self.dialect.as_str(),
            method = %self.method,
            route = %self.route,
            status = self.status.as_u16(),
            latency_ms,
            bytes = self.bytes,
            "request"
        );
        crate::metrics::record_request(
            self.dialect,
            &self.method,
            &self.route,
            self.status,
            self.started.elapsed(),
        );
    }
}

/// A response body that ends for good once it has ended (however often it is polled
/// afterwards), turns a panic while producing it into an error that ends the
/// response, and counts the bytes for the access log.
struct Guarded {
    inner: Option<Body>,
    log: AccessLog,
}

impl Guarded {
    fn new(inner: Body, log: AccessLog) -> Self {
        Guarded {
            inner: Some(inner),
            log,
        }
    }
}

impl HttpBody for Guarded {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let polled =
            std::panic::catch_unwind(AssertUnwindSafe(|| Pin::new(&mut *inner).poll_frame(cx)));
        match polled {
            Ok(Poll::Ready(Some(Ok(frame)))) => {
                if let Some(data) = frame.data_ref() {
                    this.log.bytes += data.len() as u64;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Ok(Poll::Ready(None)) => {
                this.inner = None;
                Poll::Ready(None)
            }
            Ok(Poll::Ready(Some(Err(e)))) => {
                this.inner = None;
                Poll::Ready(Some(Err(e)))
            }
            Ok(Poll::Pending) => Poll::Pending,
            Err(_) => {
                this.inner = None;
                this.log
                    .span
                    .in_scope(|| tracing::error!("response body panicked; response cut short"));
                Poll::Ready(Some(Err(axum::Error::new("response body panicked"))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(HttpBody::is_end_stream)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| http_body::SizeHint::with_exact(0), HttpBody::size_hint)
    }
}

#[cfg(test)]
mod tests {
    use axum::http::Request as HttpRequest;
    use axum::routing::get;
    use axum::Router;
    use futures_util::StreamExt;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    fn app() -> Router {
        async fn boom() -> &'static str {
            panic!("handler bug")
        }
        async fn stream_boom() -> Response {
            let s = futures_util::stream::iter(0..3).map(|i| {
                if i == 2 {
                    panic!("stream bug");
                }
                Ok::<_, std::io::Error>(Bytes::from_static(b"{}\n"))
            });
            Response::new(Body::from_stream(s))
        }
        async fn text_error() -> (StatusCode, &'static str) {
            (StatusCode::BAD_REQUEST, "plain text")
        }
        let inner = Router::new()
            .route("/v2/{app}/boom", get(boom))
            .route("/api/v1/stream", get(stream_boom))
            .route("/v1/user/text", get(text_error))
            .layer(axum::middleware::from_fn(route_info));
        Router::new()
            .fallback_service(inner)
            .layer(axum::middleware::from_fn(guard))
    }

    async fn call(path: &str) -> (StatusCode, Result<Bytes, axum::Error>) {
        let req = HttpRequest::get(path).body(Body::empty()).expect("request");
        let resp = app().oneshot(req).await.expect("infallible");
        let status = resp.status();
        (
            status,
            resp.into_body().collect().await.map(|c| c.to_bytes()),
        )
    }

    #[tokio::test]
    async fn a_panicking_handler_is_a_500_envelope_of_its_dialect() {
        let (status, body) = call("/v2/app/boom").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        let body: serde_json::Value = serde_json::from_slice(&body.expect("body")).expect("json");
        assert_eq!(
            body,
            serde_json::json!({"code": 500, "msg": "internal error"})
        );
    }

    #[tokio::test]
    async fn a_panicking_body_ends_the_response_with_an_error() {
        let (status, body) = call("/api/v1/stream").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.is_err());
    }

    #[tokio::test]
    async fn a_text_error_becomes_the_dialect_envelope() {
        let (status, body) = call("/v1/user/text").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let body: serde_json::Value = serde_json::from_slice(&body.expect("body")).expect("json");
        assert_eq!(body["code"], 4004);
        assert_eq!(body["data"], "");
    }
}
