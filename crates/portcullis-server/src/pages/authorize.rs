//! `GET, POST /authorize`: the authorization endpoint (RFC 6749 §3.1).
//!
//! The request is validated here, once. The core then says what it needs next: a
//! request that is ready (the user is signed in recently enough for `prompt` and
//! `max_age`, and consented to this scope before, and `prompt=consent` was not asked)
//! is answered at once; one with `prompt=none` that would need a page is answered
//! with the error (`login_required`, `consent_required`); otherwise it is stored,
//! bound to this browser, and the visitor goes to the sign-in or consent page with
//! its id.

use axum::extract::State;
use axum::response::Response;
use portcullis_axum::OAuth;
use portcullis_core::extensions::openid::verify_id_token_hint;
use portcullis_core::{Client, NextStep, OAuthRequest, Params, SignedIn, User};

use crate::client_id_metadata;
use crate::pages::extract::CurrentSession;
use crate::pages::{
    authorization_error, finish, redirect, remembered_consent, resource_keys, server_error,
    with_request_id,
};
use crate::session::set_cookie;
use crate::state::AppState;

/// The users an authorization request names (OpenID Connect Core §3.1.2.1, §5.5.1):
/// the subject of its `id_token_hint` (an ID token of this server, or the request is
/// `invalid_request`) and a `sub` value its `claims` parameter asks for — as the
/// client knows them (pairwise subjects, for a pairwise client: compare with
/// [`names_only_user`]).
pub(crate) fn named_subjects<'a>(
    state: &AppState,
    param: impl Fn(&str) -> Option<&'a str>,
) -> Result<Vec<String>, portcullis_core::OAuthError> {
    let mut named = Vec::new();
    if let Some(token) = param("id_token_hint") {
        let hint = verify_id_token_hint(&**state.keys(), state.config().issuer(), token)?;
        named.push(hint.subject);
    }
    if let Some(text) = param("claims") {
        let request = portcullis_core::claims::parse_claims_request(text)?;
        for target in ["id_token", "userinfo"] {
            if let Some(subject) = request
                .get(target)
                .and_then(|claims| claims.get("sub"))
                .and_then(|sub| sub.get("value"))
                .and_then(serde_json::Value::as_str)
            {
                named.push(subject.to_owned());
            }
        }
    }
    Ok(named)
}

/// True when every subject in `named` is the user `local` as `client` is told it (its
/// pairwise subject, for a pairwise client: OpenID Connect Core §8): a hint's `sub`
/// is what the server gave that client.
pub(crate) fn names_only_user(
    state: &AppState,
    client: &dyn Client,
    named: &[String],
    local: &str,
) -> Result<bool, portcullis_core::OAuthError> {
    if named.is_empty() {
        return Ok(true);
    }
    let shown = state.server().env().subject_for(client, local)?;
    Ok(named.iter().all(|subject| *subject == *shown))
}

/// `GET, POST /authorize`.
pub async fn authorize(
    State(state): State<AppState>,
    session: CurrentSession,
    OAuth(request): OAuth,
) -> Response {
    // A client ID metadata document that cannot be used: a page saying why.
    if let Some(refusal) = refuse_unusable_document(&state, &request).await {
        return refusal;
    }
    let user = session.user();
    let grant = match state
        .server()
        .get_consent_grant(&request, user.as_ref().map(|u| u as &dyn User))
        .await
    {
        Ok(grant) => grant,
        Err(error) => return authorization_error(&state, error),
    };
    // An `id_token_hint`, or a `claims` request for a `sub` value, names who the
    // client expects: a session of someone else counts as nobody signed in (so
    // prompt=none says login_required, and otherwise the sign-in page comes first).
    let named = match named_subjects(&state, |name| grant.request.params().get(name)) {
        Ok(named) => named,
        Err(error) => return authorization_error(&state, grant.request.redirect_error(error)),
    };
    let user = match user {
        Some(user) => match names_only_user(&state, &grant.client, &named, &user.subject) {
            Ok(true) => Some(user),
            Ok(false) => None,
            Err(error) => return authorization_error(&state, grant.request.redirect_error(error)),
        },
        None => None,
    };
    // A remembered consent covers a scope and the resources (RFC 8707) consented
    // with it: a request naming another resource is asked again.
    let resources = resource_keys(grant.request.params().all("resource"));
    let remembered = match &user {
        Some(user) => {
            match remembered_consent(&state, &user.subject, grant.client.client_id(), &resources)
                .await
            {
                Ok(remembered) => remembered,
                Err(error) => return server_error(&state, error),
            }
        }
        None => None,
    };
    let signed_in = user.as_ref().map(|u| SignedIn::at(u.auth_time));
    let step = grant.next_step(signed_in, remembered.as_ref(), state.now());
    let page = match step {
        NextStep::Refused(_) => {
            // prompt=none: the client hears why, and no page is shown.
            let error = step
                .error()
                .unwrap_or_else(portcullis_core::OAuthError::server_error);
            return authorization_error(&state, grant.request.redirect_error(error));
        }
        NextStep::Ready => {
            tracing::debug!(client_id = %grant.client.client_id(), "consent remembered");
            let result = state
                .server()
                .create_authorization_response(&request, user.as_ref().map(|u| u as &dyn User))
                .await;
            if let (Ok(_), Some(user)) = (&result, &user) {
                let client_id = grant.client.client_id();
                if let Err(error) =
                    crate::backchannel::record_sign_in(&state, user, client_id).await
                {
                    return server_error(&state, error);
                }
            }
            return finish(&state, result);
        }
        NextStep::SignIn => state.path("/login"),
        _ => state.path("/consent"),
    };
    let (binding, cookie) = state.sessions().browser_binding(request.headers());
    let id = match state.server().save_pending_request(&grant, &binding).await {
        Ok(id) => id,
        Err(error) => return authorization_error(&state, error),
    };
    let mut response = redirect(&with_request_id(&page, &id));
    set_cookie(response.headers_mut(), cookie);
    response
}

/// For the authorization endpoint: when `request` names a `client_id` that is an
/// `https` URL and documents are on, resolves it first, so that a document that
/// cannot be used is an error page saying why (the engine would only know the
/// client as unknown). `None` to go on (the engine then finds the client cached).
pub(crate) async fn refuse_unusable_document(
    state: &AppState,
    request: &OAuthRequest,
) -> Option<Response> {
    let documents = state.client_documents()?;
    let params = Params::from_query_and_form(request).ok()?;
    let client_id = params.get("client_id")?;
    if !client_id_metadata::is_url_client_id(client_id) {
        return None;
    }
    match documents.resolve(state.store(), client_id).await {
        Ok(_) => None,
        Err(client_id_metadata::ResolveError::Store(error)) => Some(server_error(state, error)),
        Err(client_id_metadata::ResolveError::Document(error)) => {
            let page = crate::templates::ErrorPage {
                title: "This application cannot be used to sign in".to_owned(),
                message: "The application that sent you here identifies itself with a client \
                          ID metadata document this server cannot accept, so you cannot sign \
                          in to it from here. Its developers can read what is wrong below."
                    .to_owned(),
                detail: Some(error.description),
                code: Some("invalid_client".to_owned()),
            };
            let mut response = crate::pages::render(state, http::StatusCode::BAD_REQUEST, &page);
            response
                .extensions_mut()
                .insert(portcullis_core::ErrorCode::InvalidClient);
            Some(response)
        }
    }
}
