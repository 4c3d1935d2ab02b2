//! The authorization request is stored, not re-posted (issue 10): `/authorize` keeps
//! the validated request server-side and the sign-in and consent pages continue it by
//! id — only in the browser that started it, only until it expires, and only once.

use std::sync::Arc;

use oauth2::{CsrfToken, PkceCodeChallenge, Scope};
use portcullis_core::ManualClock;

use crate::support::*;

fn authorize_url(server: &TestServer) -> String {
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let (url, _) = server
        .oauth_client()
        .authorize_url(CsrfToken::new_random)
        .set_pkce_challenge(challenge)
        .add_scope(Scope::new("profile".into()))
        .url();
    url.to_string()
}

/// Signs in from `url` and returns the consent page's URL and its form.
async fn consent_page(server: &TestServer, browser: &reqwest::Client) -> (String, Form) {
    let (page, page_url) = sign_in_from(
        browser,
        &server.base,
        authorize_url(server),
        USERNAME,
        PASSWORD,
    )
    .await;
    assert_eq!(page.status(), 200);
    assert!(page_url.contains("/consent?request_id="), "{page_url}");
    (page_url, parse_form(&page.text().await.unwrap()))
}

#[tokio::test]
async fn the_request_travels_by_id_not_as_a_query_string() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, |_| {}).await;
    let browser = browser();
    let response = browser.get(authorize_url(&server)).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let login = location(&server.base, &response);
    let path = login.trim_start_matches(&server.base);
    assert!(path.starts_with("/login?request_id="), "{path}");
    for leaked in [
        "client_id",
        "redirect_uri",
        "code_challenge",
        "scope",
        "state",
    ] {
        assert!(!path.contains(leaked), "{leaked} stays server-side: {path}");
    }
    assert_eq!(count_rows(&db, "authorization_requests").await, 1);
    // A second request, signed in and answered.
    let (_, form) = consent_page(&server, &browser).await;
    assert_eq!(count_rows(&db, "authorization_requests").await, 2);
    let response = submit(&browser, &server.base, &form, &[("decision", "allow")]).await;
    assert_eq!(response.status(), 302);
    assert!(location(&server.base, &response).starts_with(REDIRECT_URI));
    assert_eq!(
        count_rows(&db, "authorization_requests").await,
        1,
        "the decision used its request up, and only its own"
    );
    db.drop_db().await;
}

#[tokio::test]
async fn a_pending_request_completes_once() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, |_| {}).await;
    let browser = browser();
    let (_, form) = consent_page(&server, &browser).await;
    let first = submit(&browser, &server.base, &form, &[("decision", "allow")]).await;
    assert_eq!(first.status(), 302);
    // The same form again (a double click, a replayed POST): nothing more.
    let again = submit(&browser, &server.base, &form, &[("decision", "allow")]).await;
    assert_eq!(again.status(), 400);
    let html = again.text().await.unwrap();
    assert!(html.contains("This sign-in request has expired"), "{html}");
    db.drop_db().await;
}

#[tokio::test]
async fn another_browser_cannot_continue_or_use_up_a_request() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, |_| {}).await;
    let alice = browser();
    let (consent_url, form) = consent_page(&server, &alice).await;

    // Someone else, signed in in their own browser, who learned the id.
    let mallory = browser();
    let (page, _) = sign_in_from(
        &mallory,
        &server.base,
        server.url("/login?return_to=%2Fhealthz"),
        USERNAME,
        PASSWORD,
    )
    .await;
    assert_eq!(page.status(), 200);
    let stolen = mallory.get(&consent_url).send().await.unwrap();
    assert_eq!(stolen.status(), 400, "bound to the browser that started it");
    let login = mallory
        .get(consent_url.replace("/consent?", "/login?"))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 400);

    // It still works where it started.
    let response = submit(&alice, &server.base, &form, &[("decision", "allow")]).await;
    assert_eq!(response.status(), 302);
    assert!(location(&server.base, &response).starts_with(REDIRECT_URI));
    db.drop_db().await;
}

#[tokio::test]
async fn a_pending_request_expires_with_the_servers_clock() {
    let db = TestDb::sqlite();
    let store = seed(&db).await;
    let clock = Arc::new(ManualClock::new(1_900_000_000));
    let server = TestServer::start_with_clock(
        &db,
        store,
        |c| c.sign_in.authorization_request_lifetime = 300,
        clock.clone(),
    )
    .await;
    let browser = browser();
    let (consent_url, form) = consent_page(&server, &browser).await;
    clock.advance(299);
    assert_eq!(
        browser.get(&consent_url).send().await.unwrap().status(),
        200
    );
    clock.advance(1);
    let expired = browser.get(&consent_url).send().await.unwrap();
    assert_eq!(expired.status(), 400);
    let response = submit(&browser, &server.base, &form, &[("decision", "allow")]).await;
    assert_eq!(response.status(), 400, "an expired request gets no code");
    db.drop_db().await;
}

#[tokio::test]
async fn consent_without_a_request_id_or_with_a_made_up_one_is_refused() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, |_| {}).await;
    let browser = browser();
    let (_, _) = consent_page(&server, &browser).await;
    for path in [
        "/consent",
        "/consent?request_id=made-up",
        "/consent?request_id=",
    ] {
        let response = browser.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 400, "{path}");
        let html = response.text().await.unwrap();
        assert!(html.contains("invalid_request"), "{path}: {html}");
    }
    db.drop_db().await;
}
