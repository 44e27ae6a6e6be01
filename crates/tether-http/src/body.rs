//! [`ContextBody`]: the server's response body, which carries the end of
//! the request's context.

use std::pin::Pin;
use std::task::{Context as TaskCx, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use crate::end::RequestEnd;

pin_project_lite::pin_project! {
    /// The response body of a [`ContextService`](crate::ContextService):
    /// the handler's body, passed through untouched, or the layer's own
    /// short answer (the 400 for a malformed deadline header, the 504 for
    /// a deadline that passed).
    ///
    /// It holds the request's context open while the response streams:
    /// the context ends (cause [`Canceled`](tether::ctx::Error::Canceled))
    /// when the body yields its last frame or fails, and with
    /// [`ClientDisconnected`](crate::ClientDisconnected) if it is dropped
    /// before its end (the client stopped reading).
    ///
    /// ```
    /// use http_body::Body;
    /// use tether::Context;
    /// use tower::{Layer, ServiceExt, service_fn};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let svc = tether_http::ContextLayer::new(&Context::background()).layer(service_fn(|_req| async {
    ///     Ok::<_, std::convert::Infallible>(http::Response::new(axum::body::Body::from("hi")))
    /// }));
    /// let resp = svc.oneshot(http::Request::new(())).await.unwrap();
    /// let body: &tether_http::ContextBody<axum::body::Body> = resp.body();
    /// assert!(!body.is_end_stream());
    /// # });
    /// ```
    pub struct ContextBody<B> {
        #[pin]
        kind: Kind<B>,
        end: Option<RequestEnd>,
    }
}

pin_project_lite::pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Inner { #[pin] body: B },
        Own { data: Option<Bytes> },
    }
}

impl<B: Body> ContextBody<B> {
    /// The handler's body; `no_body` when the protocol sends none (HEAD,
    /// 1xx, 204, 304), so that hyper dropping it unpolled is a normal end.
    pub(crate) fn inner(body: B, mut end: RequestEnd, no_body: bool) -> ContextBody<B> {
        if no_body || body.is_end_stream() {
            end.clean_on_drop();
        }
        ContextBody { kind: Kind::Inner { body }, end: Some(end) }
    }

    /// The layer's own answer (no context to carry: none was made, or it is
    /// already over).
    pub(crate) fn own(text: &'static str) -> ContextBody<B> {
        let data = (!text.is_empty()).then(|| Bytes::from_static(text.as_bytes()));
        ContextBody { kind: Kind::Own { data }, end: None }
    }

    /// The layer's own answer, with text made at run time.
    pub(crate) fn own_owned(text: String) -> ContextBody<B> {
        ContextBody { kind: Kind::Own { data: Some(Bytes::from(text)) }, end: None }
    }
}

impl<B: Body<Data = Bytes>> Body for ContextBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        match this.kind.project() {
            KindProj::Inner { mut body } => {
                let frame = std::task::ready!(body.as_mut().poll_frame(cx));
                let over = match &frame {
                    None | Some(Err(_)) => true,
                    Some(Ok(_)) => body.is_end_stream(),
                };
                if over {
                    if let Some(mut end) = this.end.take() {
                        end.finish();
                    }
                }
                Poll::Ready(frame)
            }
            KindProj::Own { data } => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Own { data } => data.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body } => body.size_hint(),
            Kind::Own { data } => SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64)),
        }
    }
}

impl<B> std::fmt::Debug for ContextBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.kind {
            Kind::Inner { .. } => "handler's body",
            Kind::Own { .. } => "layer's answer",
        };
        f.debug_struct("ContextBody").field("kind", &kind).field("open", &self.end.is_some()).finish()
    }
}
