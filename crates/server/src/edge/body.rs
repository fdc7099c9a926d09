//! A request body that says when it has been read to its end: the guard needs it to
//! know whether a connection can carry another request, the connection's watchdog to
//! know whether a client still owes body bytes.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Bytes, HttpBody};
use http_body::Frame;

/// `inner`, calling `on_end` once when it ends (its last frame read, or an error that
/// ends it), or at once when it is empty.
pub(crate) struct OnEnd<B> {
    inner: B,
    on_end: Option<Box<dyn FnOnce() + Send + Sync>>,
}

impl<B: HttpBody> OnEnd<B> {
    pub(crate) fn new(inner: B, on_end: impl FnOnce() + Send + Sync + 'static) -> Self {
        let mut body = OnEnd {
            inner,
            on_end: Some(Box::new(on_end)),
        };
        if body.inner.is_end_stream() {
            body.ended();
        }
        body
    }

    fn ended(&mut self) {
        if let Some(f) = self.on_end.take() {
            f();
        }
    }
}

impl<B: HttpBody<Data = Bytes> + Unpin> HttpBody for OnEnd<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None) | Poll::Ready(Some(Err(_))))
            || self.inner.is_end_stream()
        {
            self.ended();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
