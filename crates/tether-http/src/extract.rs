//! [`Ctx`]: the axum extractor for the request's context.

use std::convert::Infallible;
use std::fmt;

use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;
use tether::Context;

/// The request's [`Context`], as an axum extractor: put `Ctx(ctx): Ctx`
/// among a handler's arguments. The service must be wrapped in a
/// [`ContextLayer`](crate::ContextLayer); without one, extraction fails
/// with [`MissingContext`] (a 500 naming the missing layer). `Option<Ctx>`
/// extracts `None` instead.
///
/// ```
/// use axum::{Router, routing::get};
/// use tether_http::{ContextLayer, Ctx};
///
/// async fn handler(Ctx(ctx): Ctx) -> &'static str {
///     tether::select! {
///         done(ctx) => "gave up",
///         after(std::time::Duration::from_millis(1)) => "done",
///     }
/// }
///
/// let app: Router = Router::new()
///     .route("/", get(handler))
///     .layer(ContextLayer::new(&tether::Context::background()));
/// # drop(app);
/// ```
#[derive(Clone, Debug)]
pub struct Ctx(pub Context);

impl std::ops::Deref for Ctx {
    type Target = Context;

    fn deref(&self) -> &Context {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = MissingContext;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Ctx, MissingContext> {
        parts.extensions.get::<Context>().cloned().map(Ctx).ok_or(MissingContext)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Ctx {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Ctx>, Infallible> {
        Ok(parts.extensions.get::<Context>().cloned().map(Ctx))
    }
}

/// The rejection of [`Ctx`] when the request carries no context: the
/// service is not wrapped in a [`ContextLayer`](crate::ContextLayer).
/// Answers 500, since this is a server bug, not a client error.
///
/// ```
/// use axum::response::IntoResponse;
/// let resp = tether_http::MissingContext.into_response();
/// assert_eq!(resp.status(), 500);
/// assert!(tether_http::MissingContext.to_string().contains("ContextLayer"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MissingContext;

impl fmt::Display for MissingContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "tether_http::Ctx: the request carries no tether::Context; wrap the service in tether_http::ContextLayer",
        )
    }
}

impl std::error::Error for MissingContext {}

impl IntoResponse for MissingContext {
    fn into_response(self) -> Response {
        (StatusCode::INTERNAL_SERVER_ERROR, self.to_string()).into_response()
    }
}
