//! `GET, POST /consent?request_id=…`: what the client asks for, Allow or Deny.
//!
//! The page shows the pending request as it was validated at `/authorize` (its client
//! and scope); a request whose scope the user already granted this client goes
//! straight back to the client. The decision takes the pending request — once — and
//! finishes it: the core checks it again against the client's current registration,
//! so a client changed or deleted meanwhile gets nothing.

use axum::extract::State;
use axum::response::Response;
use http::StatusCode;
use portcullis_axum::OAuth;
use portcullis_core::{
    Client, ClientStore, ErrorCode, NextStep, OAuthError, PendingAuthorization, SignedIn, User,
};

use crate::pages::authorize::{named_subjects, names_only_user};
use crate::pages::extract::{query, BrowserBinding, CheckedForm, CurrentSession};
use crate::pages::{
    authorization_error, error_page, finish, redirect, remembered_consent, render, request_gone,
    resource_keys, server_error, with_request_id, REQUEST_ID,
};
use crate::session::SessionUser;
use crate::state::AppState;
use crate::templates::{ClientLine, ConsentPage, ScopeLine};

fn scope_description(state: &AppState, scope: &str) -> String {
    if let Some(text) = state.config().pages.scope_descriptions.get(scope) {
        return text.clone();
    }
    match scope {
        "openid" => "Confirm who you are",
        "profile" => "See your name and profile",
        "email" => "See your email address",
        "address" => "See your postal address",
        "phone" => "See your phone number",
        "offline_access" => "Keep access while you are not using it",
        other => return format!("Use the \u{201c}{other}\u{201d} permission"),
    }
    .to_owned()
}

/// True when the users `pending` names (its `id_token_hint`, a `claims` request for a
/// `sub`) are all `subject`: someone else signed in cannot answer it.
/// Compared as the client was told the subject (pairwise, for a pairwise client); a
/// client that cannot be read names nobody.
async fn names_only(state: &AppState, pending: &PendingAuthorization, subject: &str) -> bool {
    let Ok(named) = named_subjects(state, |name| pending.param(name)) else {
        return false;
    };
    if named.is_empty() {
        return true;
    }
    let Ok(Some(client)) = state.store().find_client(&pending.client_id).await else {
        return false;
    };
    names_only_user(state, &client, &named, subject).unwrap_or(false)
}

/// `login_required`: the request named another user than the one signed in.
fn login_required() -> OAuthError {
    OAuthError::new(
        ErrorCode::LoginRequired,
        "the request names another user than the one who signed in",
    )
}

/// Ends the pending request `id` with `error`, sent to the client.
async fn refuse(state: &AppState, id: &str, binding: &str, error: OAuthError) -> Response {
    let pending = match state.server().take_pending_request(id, binding).await {
        Ok(Some(pending)) => pending,
        Ok(None) => return request_gone(state),
        Err(error) => return server_error(state, error),
    };
    match state
        .server()
        .get_consent_grant(&pending.to_request("/authorize"), None)
        .await
    {
        Ok(grant) => authorization_error(state, grant.request.redirect_error(error)),
        Err(error) => authorization_error(state, error),
    }
}

/// A claim in words, for the consent page.
fn claim_in_words(claim: &str) -> Option<&'static str> {
    Some(match claim {
        "name" => "your name",
        "given_name" => "your given name",
        "family_name" => "your family name",
        "middle_name" => "your middle name",
        "nickname" => "your nickname",
        "preferred_username" => "your username",
        "profile" => "your profile page",
        "picture" => "your picture",
        "website" => "your website",
        "gender" => "your gender",
        "birthdate" => "your date of birth",
        "zoneinfo" => "your time zone",
        "locale" => "your language",
        "updated_at" => "when your profile last changed",
        "email" => "your email address",
        "email_verified" => "whether your email address is verified",
        "address" => "your postal address",
        "phone_number" => "your phone number",
        "phone_number_verified" => "whether your phone number is verified",
        _ => return None,
    })
}

/// What of the user's `claims` the OpenID scope `scope` would share, in words, with
/// the value where it is short text (the email address, the name), in the order of
/// the claims' names.
fn shared_claims(scope: &str, claims: &serde_json::Map<String, serde_json::Value>) -> Vec<String> {
    let released = portcullis_core::claims::ScopeClaims::standard()
        .released_by(&portcullis_core::Scope::from_tokens([scope]))
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
    released
        .iter()
        .filter(|claim| claims.get(claim.as_str()).is_some_and(|v| !v.is_null()))
        .filter_map(|claim| {
            let words = claim_in_words(claim)?;
            Some(match claims.get(claim.as_str()) {
                Some(serde_json::Value::String(value)) if value.chars().count() <= 80 => {
                    format!("{words} ({value})")
                }
                _ => words.to_owned(),
            })
        })
        .collect()
}

/// The resource keys pending request `pending` names.
fn pending_resources(pending: &PendingAuthorization) -> Vec<String> {
    resource_keys(
        pending
            .params
            .iter()
            .filter(|(name, _)| name == "resource")
            .map(|(_, value)| value.as_str()),
    )
}

/// Finishes a pending request: the user grants it (`Some`) or denies it (`None`).
async fn complete(
    state: &AppState,
    pending: &PendingAuthorization,
    user: Option<&SessionUser>,
) -> Response {
    let request = pending.to_request("/authorize");
    let result = state
        .server()
        .create_authorization_response(&request, user.map(|u| u as &dyn User))
        .await;
    if let (Ok(_), Some(user)) = (&result, user) {
        if let Err(error) =
            crate::backchannel::record_sign_in(state, user, &pending.client_id).await
        {
            return server_error(state, error);
        }
        if let Err(error) = state
            .store()
            .save_consent(
                &user.subject,
                &pending.client_id,
                &pending.scope,
                state.now(),
            )
            .await
        {
            return server_error(state, error);
        }
        let resources = pending_resources(pending);
        if let Err(error) = state
            .store()
            .save_consent_resources(&user.subject, &pending.client_id, &resources, state.now())
            .await
        {
            return server_error(state, error);
        }
    }
    finish(state, result)
}

/// `GET /consent`: shows what the client asks for.
pub async fn show(
    State(state): State<AppState>,
    session: CurrentSession,
    BrowserBinding(binding): BrowserBinding,
    OAuth(request): OAuth,
) -> Response {
    let Some(id) = query(&request).get(REQUEST_ID).map(str::to_owned) else {
        return request_gone(&state);
    };
    let binding = binding.unwrap_or_default();
    let Some((session, user)) = session.signed_in() else {
        return redirect(&with_request_id(&state.path("/login"), &id));
    };
    let pending = match state.server().find_pending_request(&id, &binding).await {
        Ok(Some(pending)) => pending,
        Ok(None) => return request_gone(&state),
        Err(error) => return server_error(&state, error),
    };
    // A remembered consent covers a scope and the resources (RFC 8707) consented
    // with it: a request naming another resource is asked again.
    let remembered = match remembered_consent(
        &state,
        &user.subject,
        &pending.client_id,
        &pending_resources(&pending),
    )
    .await
    {
        Ok(remembered) => remembered,
        Err(error) => return server_error(&state, error),
    };
    if !names_only(&state, &pending, &user.subject).await {
        return refuse(&state, &id, &binding, login_required()).await;
    }
    match pending.next_step(
        Some(SignedIn::at(user.auth_time)),
        remembered.as_ref(),
        state.now(),
    ) {
        // prompt=login or max_age: the request asks for a sign-in newer than this one.
        NextStep::SignIn => return redirect(&with_request_id(&state.path("/login"), &id)),
        // Granted before (the user signed in only now): nothing to ask.
        NextStep::Ready => {
            return match state.server().take_pending_request(&id, &binding).await {
                Ok(Some(pending)) => complete(&state, &pending, Some(&user)).await,
                Ok(None) => request_gone(&state),
                Err(error) => server_error(&state, error),
            };
        }
        _ => {}
    }
    let client = match state.store().find_client(&pending.client_id).await {
        Ok(Some(client)) => client,
        Ok(None) => return request_gone(&state),
        Err(error) => return server_error(&state, error),
    };
    // The claims UserInfo would release: what the consent page says is shared.
    let claims =
        match portcullis_core::claims::ClaimsSource::claims(state.store(), &user.subject).await {
            Ok(claims) => claims.unwrap_or_default(),
            Err(error) => return server_error(&state, error),
        };
    let username = claims
        .get("preferred_username")
        .and_then(serde_json::Value::as_str)
        .map_or_else(|| user.subject.clone(), str::to_owned);
    let page = ConsentPage {
        action: with_request_id(&state.path("/consent"), &id),
        csrf_token: session.record.csrf_token.clone(),
        client_name: client.client_name().to_owned(),
        client_host: ClientLine::new(
            client.client_name(),
            pending
                .param("redirect_uri")
                .or_else(|| client.default_redirect_uri()),
        )
        .host,
        username,
        switch_account: with_request_id(&state.path("/login"), &id),
        client_id_host: crate::client_id_metadata::document_host(&client),
        scopes: pending
            .scope
            .iter()
            .map(|s| ScopeLine {
                name: s.to_owned(),
                shares: shared_claims(s, &claims),
                description: scope_description(&state, s),
            })
            .collect(),
        resources: pending
            .params
            .iter()
            .filter(|(name, _)| name == portcullis_core::extensions::resource_indicators::RESOURCE)
            .map(|(_, value)| value.clone())
            .collect(),
    };
    render(&state, StatusCode::OK, &page)
}

/// `GET /cancel?request_id=…`: the sign-in page's "Cancel". The pending request (of
/// this browser only) ends, and the application hears `access_denied` at its verified
/// redirect URI.
pub async fn cancel(
    State(state): State<AppState>,
    BrowserBinding(binding): BrowserBinding,
    OAuth(request): OAuth,
) -> Response {
    let Some(id) = query(&request).get(REQUEST_ID).map(str::to_owned) else {
        return request_gone(&state);
    };
    match state
        .server()
        .take_pending_request(&id, binding.as_deref().unwrap_or_default())
        .await
    {
        Ok(Some(pending)) => complete(&state, &pending, None).await,
        Ok(None) => request_gone(&state),
        Err(error) => server_error(&state, error),
    }
}

/// `POST /consent`: the user allows or denies.
pub async fn decide(
    State(state): State<AppState>,
    BrowserBinding(binding): BrowserBinding,
    form: CheckedForm,
) -> Response {
    let grant = match form.form.get("decision") {
        Some("allow") => true,
        Some("deny") => false,
        _ => {
            return error_page(
                &state,
                StatusCode::BAD_REQUEST,
                "No decision",
                "Choose Allow or Deny.",
                Some("invalid_request"),
            )
        }
    };
    let Some(id) = form.query.get(REQUEST_ID) else {
        return request_gone(&state);
    };
    let binding = binding.as_deref().unwrap_or_default();
    // A decision by a session older than the request allows (prompt=login, max_age)
    // counts for nothing: sign in first. The request stays pending meanwhile.
    match state.server().find_pending_request(id, binding).await {
        Ok(Some(pending)) => {
            if !names_only(&state, &pending, &form.user.subject).await {
                return refuse(&state, id, binding, login_required()).await;
            }
            if pending.next_step(Some(SignedIn::at(form.user.auth_time)), None, state.now())
                == NextStep::SignIn
            {
                return redirect(&with_request_id(&state.path("/login"), id));
            }
        }
        Ok(None) => return request_gone(&state),
        Err(error) => return server_error(&state, error),
    }
    let pending = match state.server().take_pending_request(id, binding).await {
        Ok(Some(pending)) => pending,
        Ok(None) => return request_gone(&state),
        Err(error) => return server_error(&state, error),
    };
    complete(&state, &pending, grant.then_some(&form.user)).await
}
