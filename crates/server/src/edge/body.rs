//! A body that says when it is done with: read to its end (the guard needs it to know
//! whether a connection can carry another request, the connection's watchdog to know
//! whether a client still owes body bytes), or dropped (the watchdog needs it to know
//! that a response has been sent or abandoned).

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Bytes, HttpBody};
use http_body::Frame;

/// `inner`, calling a hook once when it is done with: see [`Hooked::on_end`] and
/// [`Hooked::on_drop`].
pub(crate) struct Hooked<B> {
    inner: B,
    hook: Option<Box<dyn FnOnce() + Send + Sync>>,
    when: When,
}

/// When a [`Hooked`] body calls its hook.
#[derive(Clone, Copy, PartialEq, Eq)]
enum When {
    /// Its last frame read, or an error that ends it; at once when it is empty.
    End,
    /// When it is dropped, read to its end or not.
    Drop,
}

impl<B: HttpBody> Hooked<B> {
    /// `inner`, calling `hook` once when it ends (its last frame read, or an error that
    /// ends it), or at once when it is empty; never if it is dropped before its end.
    pub(crate) fn on_end(inner: B, hook: impl FnOnce() + Send + Sync + 'static) -> Self {
        let mut body = Self::new(inner, hook, When::End);
        if body.inner.is_end_stream() {
            body.done();
        }
        body
    }

    /// `inner`, calling `hook` when it is dropped: once it has been sent, or when it is
    /// abandoned.
    pub(crate) fn on_drop(inner: B, hook: impl FnOnce() + Send + Sync + 'static) -> Self {
        Self::new(inner, hook, When::Drop)
    }
}

impl<B> Hooked<B> {
    fn new(inner: B, hook: impl FnOnce() + Send + Sync + 'static, when: When) -> Self {
        Hooked {
            inner,
            hook: Some(Box::new(hook)),
            when,
        }
    }

    fn done(&mut self) {
        if let Some(f) = self.hook.take() {
            f();
        }
    }
}

impl<B> Drop for Hooked<B> {
    fn drop(&mut self) {
        if self.when == When::Drop {
            self.done();
        }
    }
}

impl<B: HttpBody<Data = Bytes> + Unpin> HttpBody for Hooked<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if self.when == When::End
            && (matches!(polled, Poll::Ready(None) | Poll::Ready(Some(Err(_))))
                || self.inner.is_end_stream())
        {
            self.done();
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
