//! Accepting and serving connections: a cap on concurrent connections, a header-read
//! timeout and an idle timeout, and the HTTP parser's own refusals in JSON.
//!
//! hyper's header-read timer starts as soon as a keep-alive connection waits for its
//! next request, so it cannot tell a slow header from an idle connection. Each
//! connection here has a small shared [`ConnState`] instead: its I/O notes when bytes
//! of a new request start to arrive and when anything moved, its service notes when a
//! request is in flight, and a watchdog closes the connection when a started header
//! is older than the header timeout, or the connection has been idle longer than the
//! idle timeout (no request in flight, or one whose body has stopped arriving).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{CONNECTION, RETRY_AFTER};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use roster_edge::{Dialect, Refusal};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, Semaphore};
use tokio::task::JoinSet;
use tower::ServiceExt;

use super::body::Hooked;
use super::{refusal, EdgeLimits};

/// Serves `app` on `listener` until `shutdown` turns true, then lets in-flight requests
/// finish (for at most the limits' shutdown grace) and returns.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: EdgeLimits,
    mut shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    let limits = Arc::new(limits);
    let served = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    // Connections beyond the cap are answered 503 rather than left to wait; this bounds
    // how many of those are open at once.
    let refused = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut tasks = JoinSet::new();
    // One warning a minute at most, however many connections are turned away.
    let mut warned: Option<Instant> = None;
    let mut turned_away: u64 = 0;
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.wait_for(|stop| *stop) => break,
        };
        while tasks.try_join_next().is_some() {}
        let (stream, _) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: wait a little rather than spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let limits = limits.clone();
        let shutdown = shutdown.clone();
        let (permit, over_cap) = if let Ok(permit) = served.clone().try_acquire_owned() {
            (permit, false)
        } else if let Ok(permit) = refused.clone().try_acquire_owned() {
            turned_away += 1;
            if warned.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                tracing::warn!(
                    max_connections = limits.max_connections,
                    turned_away,
                    "connection limit reached; answering 503"
                );
                warned = Some(Instant::now());
                turned_away = 0;
            }
            (permit, true)
        } else {
            // Beyond both, the stream is dropped: closed at once.
            continue;
        };
        let app = app.clone();
        tasks.spawn(async move {
            serve_conn(stream, app, over_cap, &limits, shutdown).await;
            drop(permit);
        });
    }
    while tasks.join_next().await.is_some() {}
    Ok(())
}

/// Marks a request that came on a connection over the cap: [`busy_gate`] answers it.
#[derive(Debug, Clone, Copy)]
struct OverCap;

/// The outermost layer of the served router: a request on a connection over the cap is
/// answered 503 here, without reaching the guard or a handler. It is a layer, not a
/// reply written beside the router, so that whatever wraps the served router (see
/// `start_wrapped`) sees these replies too.
pub(crate) async fn busy_gate(req: Request, next: Next) -> Response {
    if req.extensions().get::<OverCap>().is_some() {
        return busy(req);
    }
    next.run(req).await
}

/// Serves one connection; on one `over_cap`, every request is answered 503.
async fn serve_conn(
    stream: TcpStream,
    app: Router,
    over_cap: bool,
    limits: &EdgeLimits,
    mut shutdown: watch::Receiver<bool>,
) {
    tracing::trace!("connection accepted");
    let state = Arc::new(ConnState::new());
    let io = TokioIo::new(Watched {
        inner: stream,
        state: state.clone(),
        replacing: None,
        closing: None,
    });
    let svc_state = state.clone();
    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let state = svc_state.clone();
        state.request_started();
        let mut req = req.map(|body| {
            state.body_pending(true);
            let state = state.clone();
            Body::new(Hooked::on_end(body, move || state.body_pending(false)))
        });
        if over_cap {
            req.extensions_mut().insert(OverCap);
        }
        let fut = app.clone().oneshot(req);
        async move {
            let resp = match fut.await {
                Ok(resp) => resp,
                Err(never) => match never {},
            };
            // A live stream (a followed change feed) never ends by itself: at a stop it is
            // cut at once, and its reader resumes from its last seq.
            if resp.extensions().get::<roster_edge::Unbuffered>().is_some() {
                state.streaming.store(true, Ordering::Release);
            }
            // The response is done, for the watchdog, once its body has been sent or dropped.
            let resp = resp.map(|b| Body::new(Hooked::on_drop(b, move || state.response_done())));
            Ok::<_, std::convert::Infallible>(resp)
        }
    });
    let conn = http1::Builder::new()
        .keep_alive(true)
        .serve_connection(io, service);
    tokio::pin!(conn);
    let mut stopping = false;
    loop {
        tokio::select! {
            _ = conn.as_mut() => {
                tracing::trace!("connection closed");
                return;
            }
            why = state.expired(limits) => {
                tracing::debug!(timeout = why, "connection closed on timeout");
                return;
            }
            _ = shutdown.wait_for(|stop| *stop), if !stopping => {
                if state.streaming.load(Ordering::Acquire) {
                    tracing::debug!("live stream closed at shutdown");
                    return;
                }
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
            // In-flight requests have the grace period to finish; then the connection is
            // closed.
            _ = tokio::time::sleep(limits.shutdown_grace), if stopping => {
                tracing::warn!("connection closed at shutdown after the grace period");
                return;
            }
        }
    }
}

/// The reply to every request on a connection over the cap.
fn busy(req: Request) -> Response {
    let mut resp = refusal(Dialect::of_path(req.uri().path()), Refusal::Unavailable);
    let headers = resp.headers_mut();
    headers.insert(CONNECTION, HeaderValue::from_static("close"));
    headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
    resp
}

/// What a connection's I/O and service tell its watchdog.
struct ConnState {
    epoch: Instant,
    /// Requests whose response has not been sent yet.
    in_flight: AtomicUsize,
    /// Requests handed to the service.
    requests: AtomicU64,
    /// Response heads written (not counting `100 Continue`).
    heads: AtomicU64,
    /// When bytes of a new request started to arrive (ms since `epoch`, plus one);
    /// zero when no request is being read.
    head_started: AtomicU64,
    /// When anything was last read or written (ms since `epoch`).
    last_activity: AtomicU64,
    /// The request in flight has body bytes still to come: a client that stops sending
    /// them is as idle as one that sends nothing.
    body_pending: AtomicBool,
    /// The response being sent is a live stream (cut at once at a stop).
    streaming: AtomicBool,
    changed: Notify,
}

impl ConnState {
    fn new() -> Self {
        ConnState {
            epoch: Instant::now(),
            in_flight: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
            heads: AtomicU64::new(0),
            head_started: AtomicU64::new(0),
            last_activity: AtomicU64::new(0),
            body_pending: AtomicBool::new(false),
            streaming: AtomicBool::new(false),
            changed: Notify::new(),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether the request in flight still has body bytes to come.
    fn body_pending(&self, pending: bool) {
        self.body_pending.store(pending, Ordering::Release);
        self.changed.notify_one();
    }

    fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.requests.fetch_add(1, Ordering::AcqRel);
        self.head_started.store(0, Ordering::Release);
        self.changed.notify_one();
    }

    fn response_done(&self) {
        self.body_pending.store(false, Ordering::Release);
        self.last_activity.store(self.now(), Ordering::Release);
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.changed.notify_one();
    }

    fn bytes_read(&self) {
        let now = self.now();
        self.last_activity.store(now, Ordering::Release);
        if self.in_flight.load(Ordering::Acquire) == 0
            && self
                .head_started
                .compare_exchange(0, now + 1, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            self.changed.notify_one();
        }
    }

    /// Resolves, naming the timeout, when the connection has outlived one.
    async fn expired(&self, limits: &EdgeLimits) -> &'static str {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        loop {
            let deadline = if self.in_flight.load(Ordering::Acquire) > 0 {
                self.body_pending.load(Ordering::Acquire).then(|| {
                    (
                        self.last_activity
                            .load(Ordering::Acquire)
                            .saturating_add(ms(limits.idle_timeout)),
                        "body",
                    )
                })
            } else {
                match self.head_started.load(Ordering::Acquire) {
                    0 => Some((
                        self.last_activity
                            .load(Ordering::Acquire)
                            .saturating_add(ms(limits.idle_timeout)),
                        "idle",
                    )),
                    started => Some((
                        (started - 1).saturating_add(ms(limits.header_timeout)),
                        "header",
                    )),
                }
            };
            let notified = self.changed.notified();
            match deadline {
                Some((d, why)) if self.now() >= d => return why,
                Some((d, _)) => {
                    let wait = Duration::from_millis(d - self.now().min(d));
                    tokio::select! {
                        _ = notified => {}
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
                None => notified.await,
            }
        }
    }
}

/// The connection's socket, watched (see the module docs). When hyper writes its own
/// reply to a request it could not parse (a response head with no request behind it),
/// the head is replaced by the native JSON envelope of the same status. When hyper
/// shuts the connection down, it is closed in stages (see [`Closing`]).
struct Watched {
    inner: TcpStream,
    state: Arc<ConnState>,
    replacing: Option<Replacement>,
    closing: Option<Closing>,
}

/// How long, and how much, a closing connection keeps reading after its last reply.
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 8 * 1024 * 1024;

/// A staged close (RFC 9112 §9.6): a connection that ends with request bytes still
/// unread (a reply sent before the body was read, a request the parser refused) must
/// not be closed at once, or the kernel answers the client's next bytes with a reset
/// and a client still sending its body never reads the reply. So: shut the write side
/// (the client sees the end of the reply), then read and discard until the client
/// closes too, [`LINGER_BYTES`] have come, or [`LINGER_TIME`] has passed.
struct Closing {
    write_shut: bool,
    drained: usize,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

struct Replacement {
    bytes: Vec<u8>,
    written: usize,
    /// How much of hyper's buffer the replacement stands for.
    claimed: usize,
}

/// The status of a response head at the start of `buf` (`HTTP/1.0` or `HTTP/1.1`).
fn head_status(buf: &[u8]) -> Option<StatusCode> {
    let rest = buf
        .strip_prefix(b"HTTP/1.1 ")
        .or_else(|| buf.strip_prefix(b"HTTP/1.0 "))?;
    StatusCode::from_bytes(rest.get(..3)?).ok()
}

/// The status of a response head hyper wrote on its own, or `None` for anything else.
fn parser_reply(buf: &[u8], state: &ConnState) -> Option<StatusCode> {
    let status = head_status(buf)?;
    let unanswered = state.heads.load(Ordering::Acquire) < state.requests.load(Ordering::Acquire);
    if status.is_informational() || unanswered {
        return None;
    }
    Some(status)
}

fn replacement(status: StatusCode) -> Vec<u8> {
    let body = roster_api_native::refusal_json(Refusal::from_status(status));
    let mut out = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.state.bytes_read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.replacing.is_none() {
            if let Some(status) = parser_reply(buf, &this.state) {
                tracing::debug!(status = status.as_u16(), "http parser refused a request");
                this.replacing = Some(Replacement {
                    bytes: replacement(status),
                    written: 0,
                    claimed: buf.len(),
                });
            }
        }
        if let Some(rep) = this.replacing.as_mut() {
            while rep.written < rep.bytes.len() {
                match Pin::new(&mut this.inner).poll_write(cx, &rep.bytes[rep.written..]) {
                    Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                    Poll::Ready(Ok(n)) => rep.written += n,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => return Poll::Pending,
                }
            }
            let claimed = rep.claimed;
            this.replacing = None;
            this.state.heads.fetch_add(1, Ordering::AcqRel);
            return Poll::Ready(Ok(claimed));
        }
        let head = head_status(buf).is_some_and(|s| !s.is_informational());
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = polled {
            if n > 0 {
                this.state
                    .last_activity
                    .store(this.state.now(), Ordering::Release);
                if head {
                    this.state.heads.fetch_add(1, Ordering::AcqRel);
                }
            }
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let closing = this.closing.get_or_insert_with(|| Closing {
            write_shut: false,
            drained: 0,
            deadline: Box::pin(tokio::time::sleep(LINGER_TIME)),
        });
        if !closing.write_shut {
            std::task::ready!(Pin::new(&mut this.inner).poll_shutdown(cx))?;
            closing.write_shut = true;
        }
        let mut scratch = [0u8; 8192];
        loop {
            if closing.drained >= LINGER_BYTES || closing.deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Ok(()));
            }
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut this.inner).poll_read(cx, &mut buf) {
                // The client closed too (or the socket failed): done.
                Poll::Ready(Ok(())) if buf.filled().is_empty() => return Poll::Ready(Ok(())),
                Poll::Ready(Err(_)) => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) => closing.drained += buf.filled().len(),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    // One contiguous buffer per write, so that a response head always starts a write.
    fn is_write_vectored(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_with_no_request_behind_it_is_the_parsers_own() {
        let state = ConnState::new();
        let auto = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(
            parser_reply(auto, &state),
            Some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
        );
        // A request is being answered: the head is the handler's reply.
        state.request_started();
        assert_eq!(parser_reply(b"HTTP/1.1 400 Bad Request\r\n", &state), None);
        assert_eq!(parser_reply(b"HTTP/1.0 400 Bad Request\r\n", &state), None);
        // Answered; a later head with no request is the parser's again.
        state.heads.fetch_add(1, Ordering::AcqRel);
        assert_eq!(
            parser_reply(b"HTTP/1.0 400 Bad Request\r\n", &state),
            Some(StatusCode::BAD_REQUEST)
        );
        assert_eq!(parser_reply(b"HTTP/1.1 100 Continue\r\n\r\n", &state), None);
        assert_eq!(parser_reply(b"{\"cid\":\"x\"}\n", &state), None);
    }

    #[test]
    fn the_replacement_is_the_native_envelope_and_closes() {
        let bytes = replacement(StatusCode::URI_TOO_LONG);
        let text = String::from_utf8(bytes).expect("utf8");
        let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
        assert!(head.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{head}");
        assert!(head.contains("connection: close"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let v: serde_json::Value = serde_json::from_str(body).expect("json");
        assert_eq!(v["error"]["code"], "uri_too_long");
    }
}
