//! The authorization request kept server-side while the user signs in and consents
//! (issue 10): the next step the core decides, and the pending request — bound to a
//! browser, short-lived, single-use — that the pages continue by id.

use portcullis_core::{ErrorCode, NextStep, Scope, SignedIn};

use crate::support::*;

fn request(pkce: &PkcePair, extra: &[(&str, &str)]) -> portcullis_core::OAuthRequest {
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", CONF_ID),
        ("redirect_uri", CONF_REDIRECT),
        ("scope", "read write"),
        ("state", STATE),
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    params.extend_from_slice(extra);
    authorize_request(&params)
}

/// A user who signed in just now.
fn fresh() -> Option<SignedIn> {
    Some(SignedIn::at(Some(START)))
}

#[tokio::test]
async fn the_next_step_is_sign_in_then_consent_then_ready() {
    let ts = TestServer::new();
    let pkce = PkcePair::new();
    let grant = ts
        .server
        .get_consent_grant(&request(&pkce, &[]), None)
        .await
        .unwrap();
    let read_write = Scope::parse("read write").unwrap();
    let read = Scope::parse("read").unwrap();
    assert_eq!(
        grant.next_step(None, Some(&read_write), START),
        NextStep::SignIn
    );
    assert_eq!(grant.next_step(fresh(), None, START), NextStep::Consent);
    assert_eq!(
        grant.next_step(fresh(), Some(&read), START),
        NextStep::Consent,
        "a new scope asks again"
    );
    assert_eq!(
        grant.next_step(fresh(), Some(&read_write), START),
        NextStep::Ready
    );

    let prompted = ts
        .server
        .get_consent_grant(&request(&pkce, &[("prompt", "consent")]), None)
        .await
        .unwrap();
    assert_eq!(
        prompted.next_step(fresh(), Some(&read_write), START),
        NextStep::Consent
    );
}

#[tokio::test]
async fn a_pending_request_continues_by_id_once_and_only_in_its_browser() {
    let ts = TestServer::new();
    let pkce = PkcePair::new();
    let grant = ts
        .server
        .get_consent_grant(&request(&pkce, &[]), None)
        .await
        .unwrap();
    let id = ts
        .server
        .save_pending_request(&grant, "browser-1")
        .await
        .unwrap();
    assert!(id.len() >= 43, "an unguessable id: {id}");

    // Another browser, or a made-up id, finds nothing.
    assert_eq!(
        ts.server
            .find_pending_request(&id, "browser-2")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        ts.server
            .find_pending_request("made-up", "browser-1")
            .await
            .unwrap(),
        None
    );
    // ...and cannot use it up.
    assert_eq!(
        ts.server
            .take_pending_request(&id, "browser-2")
            .await
            .unwrap(),
        None
    );

    let found = ts
        .server
        .find_pending_request(&id, "browser-1")
        .await
        .unwrap()
        .expect("the browser that started it continues it");
    assert_eq!(found.client_id, CONF_ID);
    assert_eq!(
        found.scope,
        Scope::parse("read write").unwrap(),
        "the validated scope"
    );
    let read_write = Scope::parse("read write").unwrap();
    assert_eq!(found.next_step(None, None, START), NextStep::SignIn);
    assert_eq!(found.next_step(fresh(), None, START), NextStep::Consent);
    assert_eq!(
        found.next_step(fresh(), Some(&read_write), START),
        NextStep::Ready
    );
    assert_ne!(found.id_hash, id, "the store keeps only the id's hash");

    // The decision takes it: once.
    let taken = ts
        .server
        .take_pending_request(&id, "browser-1")
        .await
        .unwrap()
        .expect("taken by its browser");
    assert_eq!(
        ts.server
            .take_pending_request(&id, "browser-1")
            .await
            .unwrap(),
        None
    );

    // It finishes as the request it was.
    let url = {
        let response = ts
            .authorize(&taken.to_request("/authorize"), Some(USER))
            .await
            .unwrap();
        location(&response)
    };
    let params = query_params(&url);
    assert_eq!(params.get("state").map(String::as_str), Some(STATE));
    let code = params.get("code").expect("a code").clone();
    let tokens = ts.redeem_conf(&code, &pkce.verifier).await;
    assert_eq!(tokens.status(), 200);
}

#[tokio::test]
async fn a_pending_request_expires() {
    let ts = TestServer::new();
    let pkce = PkcePair::new();
    let grant = ts
        .server
        .get_consent_grant(&request(&pkce, &[]), None)
        .await
        .unwrap();
    let id = ts
        .server
        .save_pending_request(&grant, "browser-1")
        .await
        .unwrap();
    ts.clock
        .advance(portcullis_core::server::PENDING_REQUEST_LIFETIME - 1);
    assert!(ts
        .server
        .find_pending_request(&id, "browser-1")
        .await
        .unwrap()
        .is_some());
    ts.clock.advance(1);
    assert_eq!(
        ts.server
            .find_pending_request(&id, "browser-1")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        ts.server
            .take_pending_request(&id, "browser-1")
            .await
            .unwrap(),
        None
    );
}

async fn grant_with(
    ts: &TestServer,
    extra: &[(&str, &str)],
) -> portcullis_core::ConsentGrant<portcullis_core::ClientRecord> {
    ts.server
        .get_consent_grant(&request(&PkcePair::new(), extra), None)
        .await
        .unwrap()
}

#[tokio::test]
async fn prompt_and_max_age_decide_whether_the_user_signs_in_again() {
    let ts = TestServer::new();
    let all = Scope::parse("read write").unwrap();
    let signed_in_at = |t: i64| Some(SignedIn::at(Some(t)));
    let hour_ago = signed_in_at(START - 3600);

    // Control: an hour-old session with consent is ready.
    let plain = grant_with(&ts, &[]).await;
    assert_eq!(
        plain.next_step(hour_ago, Some(&all), START),
        NextStep::Ready
    );

    // prompt=login and max_age=0: sign in again, however fresh the session.
    for extra in [[("prompt", "login")], [("max_age", "0")]] {
        let grant = grant_with(&ts, &extra).await;
        assert_eq!(
            grant.next_step(fresh(), Some(&all), START),
            NextStep::SignIn,
            "{extra:?}"
        );
    }
    // max_age: a sign-in older than it must be repeated; a younger one stands.
    let max_age = grant_with(&ts, &[("max_age", "600")]).await;
    assert_eq!(
        max_age.next_step(hour_ago, Some(&all), START),
        NextStep::SignIn
    );
    assert_eq!(
        max_age.next_step(signed_in_at(START - 600), Some(&all), START),
        NextStep::Ready
    );
    assert_eq!(
        max_age.next_step(Some(SignedIn::at(None)), Some(&all), START),
        NextStep::SignIn,
        "a session of unknown age is too old for any max_age"
    );

    // prompt=none never shows a page: it says why to the client instead.
    let none = grant_with(&ts, &[("prompt", "none")]).await;
    assert_eq!(none.next_step(hour_ago, Some(&all), START), NextStep::Ready);
    let login_required = none.next_step(None, Some(&all), START);
    assert_eq!(login_required, NextStep::Refused(ErrorCode::LoginRequired));
    assert_eq!(
        login_required.error().unwrap().code(),
        ErrorCode::LoginRequired
    );
    assert_eq!(
        none.next_step(hour_ago, None, START),
        NextStep::Refused(ErrorCode::ConsentRequired)
    );
    let none_max_age = grant_with(&ts, &[("prompt", "none"), ("max_age", "60")]).await;
    assert_eq!(
        none_max_age.next_step(hour_ago, Some(&all), START),
        NextStep::Refused(ErrorCode::LoginRequired)
    );
    assert_eq!(NextStep::Ready.error(), None);

    // select_account shows the consent page, which says who is signed in.
    let select = grant_with(&ts, &[("prompt", "select_account")]).await;
    assert_eq!(
        select.next_step(hour_ago, Some(&all), START),
        NextStep::Consent
    );
}

#[tokio::test]
async fn a_sign_in_after_the_request_was_stored_satisfies_prompt_login() {
    let ts = TestServer::new();
    let all = Scope::parse("read write").unwrap();
    let grant = grant_with(&ts, &[("prompt", "login"), ("max_age", "0")]).await;
    let id = ts.server.save_pending_request(&grant, "b").await.unwrap();
    let pending = ts
        .server
        .find_pending_request(&id, "b")
        .await
        .unwrap()
        .unwrap();
    let later = START + 30;
    assert_eq!(
        pending.next_step(Some(SignedIn::at(Some(START - 1))), Some(&all), later),
        NextStep::SignIn,
        "the session from before the request does not count"
    );
    assert_eq!(
        pending.next_step(Some(SignedIn::at(Some(START + 5))), Some(&all), later),
        NextStep::Ready,
        "the sign-in the request asked for does"
    );
}

#[tokio::test]
async fn malformed_prompt_and_max_age_and_request_objects_are_refused_to_the_client() {
    let ts = TestServer::new();
    for (extra, code, needle) in [
        (
            vec![("prompt", "none login")],
            "invalid_request",
            "cannot be combined",
        ),
        (
            vec![("prompt", "sudo")],
            "invalid_request",
            "'sudo' is not supported",
        ),
        (vec![("max_age", "-1")], "invalid_request", "max_age"),
        (vec![("max_age", "1e3")], "invalid_request", "max_age"),
        (
            vec![("max_age", "99999999999")],
            "invalid_request",
            "max_age",
        ),
        (vec![("prompt", "x\"y\n")], "invalid_request", "'x?y?'"),
        (
            vec![("claims", "{\"id_token\":[]}")],
            "invalid_request",
            "claims parameter",
        ),
        (
            vec![("request", "eyJhbGciOiJub25lIn0.e30.")],
            "request_not_supported",
            "request objects",
        ),
        (
            vec![("request_uri", "https://rp.example/r")],
            "request_uri_not_supported",
            "request_uri",
        ),
    ] {
        let error = ts
            .server
            .get_consent_grant(&request(&PkcePair::new(), &extra), None)
            .await
            .expect_err(&format!("{extra:?} is refused"));
        assert_eq!(error.code().as_str(), code, "{extra:?}");
        assert!(
            error.description().contains(needle),
            "{extra:?}: {}",
            error.description()
        );
        assert!(error.is_redirect(), "{extra:?}: the client hears of it");
    }
    // Control: the well-formed values pass.
    grant_with(&ts, &[("prompt", "login consent"), ("max_age", "3600")]).await;
}
