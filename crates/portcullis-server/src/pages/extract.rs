//! What the pages' handlers extract from a request, written once: the visitor's
//! session ([`CurrentSession`]), the value binding pending requests to this browser
//! ([`BrowserBinding`]), and a submitted form whose CSRF token matches the signed-in
//! session ([`CheckedForm`]). A failure to load the session is the server-error page,
//! a form that does not check out the "could not be verified" page.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::response::Response;
use http::request::Parts;
use portcullis_axum::into_oauth_request;
use portcullis_core::{OAuthRequest, Params};

use crate::pages::{forged, server_error};
use crate::session::{Session, SessionUser};
use crate::state::AppState;

/// The visitor's unexpired session, if they have one.
#[derive(Debug)]
pub struct CurrentSession(pub Option<Session>);

impl CurrentSession {
    /// The session and its signed-in user, when someone is signed in.
    pub fn signed_in(&self) -> Option<(&Session, SessionUser)> {
        let session = self.0.as_ref()?;
        session.user().map(|user| (session, user))
    }

    /// The signed-in user, if any.
    pub fn user(&self) -> Option<SessionUser> {
        self.0.as_ref().and_then(Session::user)
    }
}

impl FromRequestParts<AppState> for CurrentSession {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        state
            .sessions()
            .load(&parts.headers, state.now())
            .await
            .map(CurrentSession)
            .map_err(|e| server_error(state, e))
    }
}

/// The binding value this browser presents for pending authorization requests, if
/// any (see `Sessions::browser_binding`).
#[derive(Debug)]
pub struct BrowserBinding(pub Option<String>);

impl FromRequestParts<AppState> for BrowserBinding {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(BrowserBinding(
            state
                .sessions()
                .presented_binding(&parts.headers)
                .map(str::to_owned),
        ))
    }
}

/// A form POSTed by a signed-in visitor, with the session's CSRF token: the session,
/// the user, the form and the query string. Anything else is refused as forged.
#[derive(Debug)]
pub struct CheckedForm {
    /// The session that sent it.
    pub session: Session,
    /// Who is signed in.
    pub user: SessionUser,
    /// The form's fields.
    pub form: Params,
    /// The URL's query parameters.
    pub query: Params,
}

impl FromRequest<AppState> for CheckedForm {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let request = into_oauth_request(request).await?;
        let session = state
            .sessions()
            .load(request.headers(), state.now())
            .await
            .map_err(|e| server_error(state, e))?;
        let form = form(&request);
        let Some((session, user)) = session.and_then(|s| s.user().map(|u| (s, u))) else {
            return Err(forged(state));
        };
        if !session.check_csrf(form.get("csrf_token")) {
            tracing::warn!("a form with a missing or wrong CSRF token");
            return Err(forged(state));
        }
        Ok(CheckedForm {
            session,
            user,
            form,
            query: query(&request),
        })
    }
}

/// The request's form fields (empty when there are none or they do not parse).
pub(crate) fn form(request: &OAuthRequest) -> Params {
    Params::parse(request.body()).unwrap_or_default()
}

/// The request's query parameters (empty when they do not parse).
pub(crate) fn query(request: &OAuthRequest) -> Params {
    Params::from_query(request).unwrap_or_default()
}
