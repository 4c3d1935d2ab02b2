//! `GET, POST /logout`: sign out, and OpenID Connect RP-Initiated Logout 1.0 (this is
//! the `end_session_endpoint`).
//!
//! A visit without parameters asks to confirm, and only the confirmation's POST (with
//! the session's CSRF token) signs out: a link or an image cannot. A relying party may
//! send `id_token_hint`, `client_id`, `post_logout_redirect_uri`, `state` (and
//! `logout_hint`, `ui_locales`, which are accepted and not used), by GET or POST (a
//! POST goes on as a GET, which carries the session cookie):
//!
//! - the hint must be an ID token this server issued (expired or not), and its
//!   audience the `client_id` when both are sent; otherwise an error page;
//! - `post_logout_redirect_uri` must be one the client (of the hint, or `client_id`)
//!   registered, compared exactly; otherwise an error page — never a redirect to a
//!   URI no client vouched for;
//! - with a valid hint for the user signed in (or nobody signed in), the session ends
//!   at once: only the relying party holds that ID token. Without one, the user is
//!   asked to confirm first;
//! - afterwards the browser goes to the verified `post_logout_redirect_uri`, with
//!   `state`, or sees the signed-out page.

use axum::extract::State;
use axum::response::Response;
use http::StatusCode;
use portcullis_axum::OAuth;
use portcullis_core::extensions::openid::{verify_id_token_hint, IdTokenHint};
use portcullis_core::{Client, ClientStore, Params};

use crate::pages::extract::{form, query, CurrentSession};
use crate::pages::{error_page, forged, redirect, render, server_error};
use crate::session::{set_cookie, Session};
use crate::state::AppState;
use crate::templates::{LogoutPage, SignedOutPage};

/// The parameters of an RP-initiated logout this page carries through its
/// confirmation.
const CARRIED: [&str; 3] = ["client_id", "post_logout_redirect_uri", "state"];

/// An RP-initiated logout request, checked.
#[derive(Debug, Default)]
struct Checked {
    /// A valid `id_token_hint`, and the clients it may have been issued to (the
    /// `client_id`, or the hint's audience): its `sub` is what they were told.
    hinted: Option<(IdTokenHint, Vec<String>)>,
    /// Where to send the browser afterwards (verified, `state` added).
    then: Option<String>,
    /// The parameters to carry through the confirmation.
    carried: Vec<(String, String)>,
}

/// Checks the RP-initiated logout parameters of `params`; an `Err` is the error page.
async fn check(state: &AppState, params: &Params) -> Result<Checked, Response> {
    let invalid = |message: &str| {
        error_page(
            state,
            StatusCode::BAD_REQUEST,
            "This sign-out request is not valid",
            message,
            Some("invalid_request"),
        )
    };
    let mut checked = Checked::default();
    let mut client_id = params.get("client_id").map(str::to_owned);
    if let Some(token) = params.get("id_token_hint") {
        let hint = verify_id_token_hint(&**state.keys(), state.config().issuer(), token)
            .map_err(|error| invalid(error.description()))?;
        match (&client_id, hint.audience.as_slice()) {
            (Some(id), audience) if !audience.contains(id) => {
                return Err(invalid(
                    "the client_id is not the client the id_token_hint was issued to",
                ))
            }
            (None, [one]) => client_id = Some(one.clone()),
            _ => {}
        }
        let clients = match &client_id {
            Some(id) => vec![id.clone()],
            None => hint.audience.clone(),
        };
        checked.hinted = Some((hint, clients));
    }
    if let Some(uri) = params.get("post_logout_redirect_uri") {
        let Some(id) = &client_id else {
            return Err(invalid(
                "a post_logout_redirect_uri needs the client_id or an id_token_hint that names the client",
            ));
        };
        let client = match state.store().find_client(id).await {
            Ok(Some(client)) => client,
            Ok(None) => return Err(invalid("the client_id is not registered")),
            Err(error) => return Err(server_error(state, error)),
        };
        if !client
            .metadata()
            .post_logout_redirect_uris
            .iter()
            .any(|registered| registered == uri)
        {
            return Err(invalid(
                "the post_logout_redirect_uri is not registered for this client (it must match exactly)",
            ));
        }
        let mut target = url::Url::parse(uri)
            .map_err(|_| invalid("the post_logout_redirect_uri is not a URL"))?;
        if let Some(value) = params.get("state") {
            target.query_pairs_mut().append_pair("state", value);
        }
        checked.then = Some(target.into());
    }
    checked.carried = CARRIED
        .iter()
        .filter_map(|name| {
            let value = match *name {
                "client_id" => client_id.as_deref(),
                other => params.get(other),
            }?;
            Some(((*name).to_owned(), value.to_owned()))
        })
        .collect();
    Ok(checked)
}

/// True when the hint names the user `local` as one of its clients was told it (the
/// pairwise subject, for a pairwise client: OpenID Connect Core §8). A client that
/// cannot be read names nobody: the user is asked to confirm.
async fn hint_names(
    state: &AppState,
    hinted: Option<&(IdTokenHint, Vec<String>)>,
    local: &str,
) -> bool {
    let Some((hint, clients)) = hinted else {
        return false;
    };
    for client_id in clients {
        let Ok(Some(client)) = state.store().find_client(client_id).await else {
            continue;
        };
        if hint
            .names(state.server().env(), &client, local)
            .unwrap_or(false)
        {
            return true;
        }
    }
    false
}

/// Ends `session` (if any) and goes where the request said, or shows the signed-out
/// page.
async fn sign_out(state: &AppState, session: Option<&Session>, then: Option<&str>) -> Response {
    let cookie = match session {
        Some(session) => match crate::backchannel::end_session(state, session).await {
            Ok(cookie) => Some(cookie),
            Err(error) => return server_error(state, error),
        },
        None => None,
    };
    let mut response = match then {
        Some(target) => redirect(target),
        None => render(state, StatusCode::OK, &SignedOutPage {}),
    };
    if let Some(cookie) = cookie {
        set_cookie(response.headers_mut(), cookie);
    }
    tracing::info!(redirected = then.is_some(), "signed out");
    response
}

/// The answer to a logout request with `params`: sign out at once, or confirm first.
async fn answer(state: &AppState, session: &CurrentSession, params: &Params) -> Response {
    let checked = match check(state, params).await {
        Ok(checked) => checked,
        Err(page) => return page,
    };
    let Some((current, user)) = session.signed_in() else {
        // Nobody to sign out: on to the verified target, if any.
        return sign_out(state, None, checked.then.as_deref()).await;
    };
    if hint_names(state, checked.hinted.as_ref(), &user.subject).await {
        return sign_out(state, Some(current), checked.then.as_deref()).await;
    }
    let username = match state.store().find_user_by_subject(&user.subject).await {
        Ok(Some(user)) => user.username,
        _ => String::new(),
    };
    let page = LogoutPage {
        action: state.path("/logout"),
        csrf_token: current.record.csrf_token.clone(),
        username,
        carried: checked.carried,
    };
    render(state, StatusCode::OK, &page)
}

/// The parameters of RP-Initiated Logout 1.0 §2, carried from a POST to a GET.
const RP_PARAMETERS: [&str; 6] = [
    "id_token_hint",
    "logout_hint",
    "client_id",
    "post_logout_redirect_uri",
    "state",
    "ui_locales",
];

/// `/logout` with the RP-Initiated Logout parameters of `params`.
fn rp_logout_url(state: &AppState, params: &Params) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for name in RP_PARAMETERS {
        if let Some(value) = params.get(name) {
            query.append_pair(name, value);
        }
    }
    let query = query.finish();
    if query.is_empty() {
        state.path("/logout")
    } else {
        format!("{}?{query}", state.path("/logout"))
    }
}

/// `GET /logout`: signs out at once for a relying party that proves who it signed in,
/// otherwise asks to confirm.
pub async fn show(
    State(state): State<AppState>,
    session: CurrentSession,
    OAuth(request): OAuth,
) -> Response {
    answer(&state, &session, &query(&request)).await
}

/// `POST /logout`: the confirmation (with the session's CSRF token) ends the session;
/// a relying party's form post without one is redirected to the `GET`.
pub async fn submit(
    State(state): State<AppState>,
    session: CurrentSession,
    OAuth(request): OAuth,
) -> Response {
    let params = form(&request);
    if params.get("csrf_token").is_none() {
        // A relying party's form post. Posted from its site, it carries no session
        // cookie (SameSite=Lax), so it could not sign anyone out and would go on as if
        // it had: the browser is sent to this page's GET with the same parameters,
        // which carries the cookie.
        return redirect(&rp_logout_url(&state, &params));
    }
    let Some(current) = &session.0 else {
        return render(&state, StatusCode::OK, &SignedOutPage {});
    };
    if !current.check_csrf(params.get("csrf_token")) {
        return forged(&state);
    }
    // The carried parameters are checked again: the form is the browser's to change.
    let checked = match check(&state, &params).await {
        Ok(checked) => checked,
        Err(page) => return page,
    };
    sign_out(&state, Some(current), checked.then.as_deref()).await
}
