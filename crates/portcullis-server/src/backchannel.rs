//! OpenID Connect Back-Channel Logout 1.0: when a provider session ends, every client
//! it signed into that registered a `backchannel_logout_uri` receives a logout token.
//!
//! The pages record each client a session grants to (by the session's `sid`,
//! [`record_sign_in`]). Ending the session ([`end_session`]) takes those records and
//! hands each delivery to a background task, so the user's sign-out never waits for
//! an application. The logout token (`sub` — the client's own, pairwise where it
//! registered so — and `sid`, signed like the client's ID tokens) is POSTed as
//! `logout_token=…` through the one fetch guard, as a URL a client registered: https
//! to a public address (or one `fetch_allowed_addresses` names), checked on the
//! address connected to, no redirect followed, a timeout. It is tried [`ATTEMPTS`]
//! times with a growing pause while the client answers a server error or cannot be
//! reached, and dropped with a warning after that. A `4xx` answer is the client
//! refusing the token:
//! it is not sent again. Nothing is logged of the token itself.

use std::time::Duration;

use http::HeaderValue;
use portcullis_core::extensions::openid::logout_token;
use portcullis_core::random::random_token;
use portcullis_core::{Client, ClientStore};
use portcullis_sql::SqlError;

use crate::session::{Session, SessionUser};
use crate::state::AppState;

/// How many times a logout token is sent to a client that fails to take it.
pub const ATTEMPTS: u32 = 3;

/// The pause before the second attempt; each further one waits twice as long.
pub const FIRST_RETRY_DELAY: Duration = Duration::from_secs(1);

/// Records that `user`'s session signed into `client_id`, for Back-Channel Logout when
/// it ends. A session stored before sessions had a `sid` records nothing.
pub async fn record_sign_in(
    state: &AppState,
    user: &SessionUser,
    client_id: &str,
) -> Result<(), SqlError> {
    let Some(sid) = &user.sid else {
        return Ok(());
    };
    state
        .store()
        .record_session_client(sid, client_id, &user.subject, state.now(), user.expires_at)
        .await
}

/// Ends `session` and tells the clients it signed into (in the background); returns
/// the `Set-Cookie` value that clears the cookie.
pub async fn end_session(state: &AppState, session: &Session) -> Result<HeaderValue, SqlError> {
    let cookie = state.sessions().end(session).await?;
    if let (Some(sid), Some(subject)) = (&session.record.sid, &session.record.subject) {
        notify(state, sid, subject).await;
    }
    Ok(cookie)
}

/// Sends a logout token for the session `sid` of `subject` to every client it signed
/// into that registered a `backchannel_logout_uri`, each in a task of its own. Failures
/// are logged, never returned: the session has ended either way.
pub async fn notify(state: &AppState, sid: &str, subject: &str) {
    let signed_into = match state.store().take_session_clients(sid).await {
        Ok(clients) => clients,
        Err(error) => {
            tracing::error!(%error, "back-channel logout: cannot read the session's clients");
            return;
        }
    };
    for record in signed_into {
        let client = match state.store().find_client(&record.client_id).await {
            Ok(Some(client)) => client,
            Ok(None) => continue,
            Err(error) => {
                tracing::error!(%error, client_id = %record.client_id, "back-channel logout: cannot read the client");
                continue;
            }
        };
        let Some(uri) = client.metadata().backchannel_logout_uri.clone() else {
            continue;
        };
        // The subject as this client knows it (pairwise, for a pairwise client).
        let Ok(told) = state.server().env().subject_for(&client, subject) else {
            continue;
        };
        let jti = random_token(state.random());
        let token = match logout_token(
            &**state.keys(),
            state.config().issuer(),
            &client,
            Some(&told),
            Some(sid),
            &jti,
            state.now(),
        ) {
            Ok(token) => token,
            Err(_) => {
                tracing::error!(client_id = %record.client_id, "back-channel logout: cannot sign the logout token");
                continue;
            }
        };
        tokio::spawn(deliver(
            client.client_id().to_owned(),
            uri,
            token,
            state.config().fetch_policy(),
        ));
    }
}

/// What became of one attempt.
enum Attempt {
    /// The client took the token (`2xx`).
    Delivered,
    /// The client refused it (`4xx`): sending it again would not help.
    Refused(u16),
    /// A server error or no answer: worth another try.
    Failed(String),
}

/// Sends `token` to `uri` until it is taken, refused, or [`ATTEMPTS`] are spent.
async fn deliver(
    client_id: String,
    uri: String,
    token: String,
    policy: portcullis_axum::fetch::AddressPolicy,
) {
    let mut delay = FIRST_RETRY_DELAY;
    for attempt in 1..=ATTEMPTS {
        match post(&uri, &token, &policy).await {
            Attempt::Delivered => {
                tracing::info!(%client_id, attempt, "back-channel logout delivered");
                return;
            }
            Attempt::Refused(status) => {
                tracing::warn!(%client_id, status, "back-channel logout refused by the client");
                return;
            }
            Attempt::Failed(reason) if attempt < ATTEMPTS => {
                tracing::warn!(%client_id, attempt, %reason, "back-channel logout failed; trying again");
                tokio::time::sleep(delay).await;
                delay = delay.saturating_mul(2);
            }
            Attempt::Failed(reason) => {
                tracing::warn!(%client_id, attempts = ATTEMPTS, %reason, "back-channel logout given up");
            }
        }
    }
}

/// One POST of `logout_token` to `uri`, through the fetch guard for URLs a client
/// registered (public addresses and those `policy` allows, checked on the addresses
/// connected to).
async fn post(uri: &str, token: &str, policy: &portcullis_axum::fetch::AddressPolicy) -> Attempt {
    match portcullis_axum::fetch::post_public_form(uri, &[("logout_token", token)], policy).await {
        Ok(status) if status.is_success() => Attempt::Delivered,
        Ok(status) if status.is_client_error() => Attempt::Refused(status.as_u16()),
        Ok(status) => Attempt::Failed(format!("answered {status}")),
        Err(reason) => Attempt::Failed(reason),
    }
}
