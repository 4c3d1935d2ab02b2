//! The resource-server guard: bearer tokens for an axum API (RFC 6750).
//!
//! Two ways to use it:
//!
//! * the [`Bearer`] extractor validates the `Authorization: Bearer` header of a request
//!   (the state must provide a [`ResourceProtector`] through `FromRef`); check scopes
//!   in the handler with [`Bearer::require_scope`];
//! * the [`require_bearer`] middleware with a [`ResourceGuard`] protects whole routes,
//!   checks their required scope, also accepts the token in a form body (§2.2), and
//!   hands the validated [`TokenInfo`] to handlers (a [`Bearer`] extractor then reuses
//!   it).

use axum::body::Body;
use axum::extract::{FromRef, FromRequestParts, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use portcullis_core::http::MAX_BODY_BYTES;
use portcullis_core::resource::{is_form_body, RequestHead};
use portcullis_core::{BearerError, ResourceProtector, Scope, TokenInfo};

use crate::into_response;

/// A validated bearer token.
#[derive(Debug, Clone)]
#[allow(clippy::exhaustive_structs)] // a newtype to destructure: `Bearer(token)`
pub struct Bearer(pub TokenInfo);

/// A refused protected request: renders the RFC 6750 challenge.
#[derive(Debug, Clone)]
pub struct BearerRejection {
    error: BearerError,
    realm: String,
}

impl BearerRejection {
    /// The reason.
    pub fn error(&self) -> &BearerError {
        &self.error
    }
}

impl IntoResponse for BearerRejection {
    fn into_response(self) -> Response {
        into_response(self.error.into_response(&self.realm))
    }
}

impl Bearer {
    /// Succeeds when the token carries every token of `scope` (space-separated);
    /// otherwise a `403 insufficient_scope` rejection. Its challenge names the default
    /// realm `portcullis`; for another realm, require the scope with
    /// [`ResourceGuard::require_scope`], which uses the protector's realm.
    pub fn require_scope(&self, scope: &str) -> Result<(), BearerRejection> {
        let required = Scope::from_tokens(scope.split(' ').filter(|s| !s.is_empty()));
        if required.is_subset_of(&self.0.scope) {
            Ok(())
        } else {
            Err(BearerRejection {
                error: BearerError::InsufficientScope(required),
                realm: "portcullis".to_owned(),
            })
        }
    }
}

impl<S> FromRequestParts<S> for Bearer
where
    S: Send + Sync,
    ResourceProtector: FromRef<S>,
{
    type Rejection = BearerRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(info) = parts.extensions.get::<TokenInfo>() {
            return Ok(Bearer(info.clone()));
        }
        let protector = ResourceProtector::from_ref(state);
        let reject = |error| BearerRejection {
            error,
            realm: protector.realm().to_owned(),
        };
        let head = RequestHead::new(&parts.method, &parts.uri, &parts.headers);
        let token = protector.extract_token(head, None).map_err(reject)?;
        let info = protector
            .validate_token(&token, &Scope::empty())
            .await
            .map_err(reject)?;
        Ok(Bearer(info))
    }
}

/// A protector plus the scope a group of routes requires; the state of
/// [`require_bearer`].
#[derive(Debug, Clone)]
pub struct ResourceGuard {
    protector: ResourceProtector,
    required: Scope,
}

impl ResourceGuard {
    /// A guard requiring a valid token and no particular scope.
    pub fn new(protector: ResourceProtector) -> Self {
        Self {
            protector,
            required: Scope::empty(),
        }
    }

    /// Also requires every token of `scope` (space-separated).
    pub fn require_scope(mut self, scope: &str) -> Self {
        self.required = Scope::from_tokens(
            self.required.iter().map(str::to_owned).chain(
                scope
                    .split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            ),
        );
        self
    }
}

/// Middleware: validates the request's bearer token against the guard, then runs the
/// handler with the [`TokenInfo`] in the request extensions.
///
/// `.route_layer(axum::middleware::from_fn_with_state(guard, require_bearer))`
pub async fn require_bearer(
    State(guard): State<ResourceGuard>,
    request: Request,
    next: Next,
) -> Response {
    let realm = guard.protector.realm().to_owned();
    let reject = |error: BearerError| into_response(error.into_response(&realm));
    let (mut parts, body) = request.into_parts();
    // A form body may carry the token (RFC 6750 §2.2): read it, then hand it on.
    let (body, form) = if is_form_body(&parts.method, &parts.headers) {
        match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
            Ok(bytes) => (Body::from(bytes.clone()), Some(bytes)),
            Err(_) => return reject(BearerError::InvalidRequest("the request body is too large")),
        }
    } else {
        (body, None)
    };
    let head = RequestHead::new(&parts.method, &parts.uri, &parts.headers);
    let token = match guard.protector.extract_token(head, form.as_deref()) {
        Ok(token) => token,
        Err(error) => return reject(error),
    };
    match guard
        .protector
        .validate_token(&token, &guard.required)
        .await
    {
        Ok(info) => {
            parts.extensions.insert(info);
            next.run(Request::from_parts(parts, body)).await
        }
        Err(error) => reject(error),
    }
}
