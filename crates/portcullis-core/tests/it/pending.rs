//! The authorization request kept server-side while the user signs in and consents
//! (issue 10): the next step the core decides, and the pending request — bound to a
//! browser, short-lived, single-use — that the pages continue by id.

use portcullis_core::{NextStep, Scope};

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
    assert_eq!(grant.next_step(false, Some(&read_write)), NextStep::SignIn);
    assert_eq!(grant.next_step(true, None), NextStep::Consent);
    assert_eq!(
        grant.next_step(true, Some(&read)),
        NextStep::Consent,
        "a new scope asks again"
    );
    assert_eq!(grant.next_step(true, Some(&read_write)), NextStep::Ready);

    let prompted = ts
        .server
        .get_consent_grant(&request(&pkce, &[("prompt", "consent")]), None)
        .await
        .unwrap();
    assert_eq!(
        prompted.next_step(true, Some(&read_write)),
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
    assert_eq!(found.next_step(false, None), NextStep::SignIn);
    assert_eq!(found.next_step(true, None), NextStep::Consent);
    assert_eq!(found.next_step(true, Some(&read_write)), NextStep::Ready);
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
