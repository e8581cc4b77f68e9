//! The tower layer in front of every gRPC server: authenticate the bearer token, limit the
//! caller's rate, check the method's rule, and hand the [`Principal`] to the service. A refusal
//! is a trailers-only gRPC response; the service is never called.

use super::{Policy, Principal, RateLimiter, Rejection, Verifier};
use futures::future::{Either, Ready, ready};
use std::sync::Arc;
use std::task::{Context, Poll};
use tonic::Status;

/// Paths served without a token: health checks and server reflection.
const OPEN_PREFIXES: [&str; 2] = ["/grpc.health.v1.", "/grpc.reflection."];

#[derive(Clone)]
pub struct AuthLayer {
    gate: Arc<Gate>,
}

struct Gate {
    verifier: Verifier,
    policy: Policy,
    limiter: Option<RateLimiter>,
}

impl AuthLayer {
    pub fn new(verifier: Verifier, policy: Policy, limiter: Option<RateLimiter>) -> Self {
        Self { gate: Arc::new(Gate { verifier, policy, limiter }) }
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService { inner, gate: self.gate.clone() }
    }
}

#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    gate: Arc<Gate>,
}

impl Gate {
    fn admit(&self, method: &str, headers: &http::HeaderMap) -> Result<Principal, Status> {
        let principal = bearer(headers)
            .and_then(|token| self.verifier.verify(token))
            .map_err(|r| {
                tracing::debug!(method, reason = %r, "call not authenticated");
                Status::unauthenticated(r.to_string())
            })?;
        if let Some(limiter) = &self.limiter
            && !limiter.try_acquire(&principal.subject)
        {
            return Err(Status::resource_exhausted("too many calls from this caller; slow down"));
        }
        if !self.policy.allows(method, &principal.roles) {
            tracing::debug!(method, subject = %principal.subject, roles = ?principal.roles, "call not permitted");
            return Err(Status::permission_denied(format!("{method} is not allowed for the caller's roles")));
        }
        Ok(principal)
    }
}

/// The token of `authorization: Bearer <token>`.
fn bearer(headers: &http::HeaderMap) -> Result<&str, Rejection> {
    let value = headers.get(http::header::AUTHORIZATION).ok_or(Rejection::Missing)?;
    let value = value.to_str().map_err(|_| Rejection::Malformed)?;
    let (scheme, token) = value.split_once(' ').ok_or(Rejection::Malformed)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(Rejection::Malformed);
    }
    Ok(token)
}

impl<S, B, R> tower::Service<http::Request<B>> for AuthService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    R: Default,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Either<S::Future, Ready<Result<S::Response, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let path = request.uri().path();
        if OPEN_PREFIXES.iter().any(|p| path.starts_with(p)) {
            return Either::Left(self.inner.call(request));
        }
        match self.gate.admit(path, request.headers()) {
            Ok(principal) => {
                request.extensions_mut().insert(principal);
                Either::Left(self.inner.call(request))
            }
            Err(status) => Either::Right(ready(Ok(status.into_http()))),
        }
    }
}

