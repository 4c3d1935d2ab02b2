//! The home page (issue 15, item 3): what the server is, its issuer and discovery
//! documents, who is signed in, and on an empty server how to begin; a sign-in
//! without a pending request lands there.

use crate::support::*;

#[tokio::test]
async fn an_empty_server_says_how_to_begin() {
    let db = TestDb::sqlite();
    let store = portcullis_sql::SqlStore::connect(&db.url()).await.unwrap();
    let server = TestServer::start_on(&db, store, |_| {}).await;
    let response = browser().get(server.url("/")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = response.text().await.unwrap().replace("&#x2f;", "/");
    for expected in [
        server.base.as_str(),
        "href=\"/.well-known/openid-configuration\"",
        "href=\"/.well-known/oauth-authorization-server\"",
        "portcullis user create",
        "portcullis client create",
        "href=\"/login\"",
    ] {
        assert!(html.contains(expected), "{expected} in {html}");
    }
    db.drop_db().await;
}

#[tokio::test]
async fn signing_in_directly_lands_on_the_home_page_which_names_the_user() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, |_| {}).await;
    let browser = browser();
    let html = browser
        .get(server.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !html.contains("Getting started"),
        "users and clients exist: {html}"
    );
    assert!(!html.contains("Signed in as"));

    let page = browser.get(server.url("/login")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let form = parse_form(&page.text().await.unwrap());
    let response = submit(
        &browser,
        &server.base,
        &form,
        &[("username", USERNAME), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&server.base, &response), server.url("/"));
    let html = browser
        .get(server.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .replace("&#x2f;", "/");
    assert!(
        html.contains("Signed in as <strong>alice</strong>") && html.contains("href=\"/logout\""),
        "{html}"
    );
    db.drop_db().await;
}

/// An authorization request of the seeded client, with PKCE.
fn authorize_url(server: &TestServer) -> String {
    let challenge = portcullis_core::extensions::s256_challenge(
        "a-verifier-of-more-than-43-characters-0123456789abcdef",
    );
    server.url(&format!(
        "/authorize?response_type=code&client_id={CLIENT_ID}&redirect_uri={}&scope=profile\
         &state=st-9&code_challenge={challenge}&code_challenge_method=S256",
        form_urlencoded::byte_serialize(REDIRECT_URI.as_bytes()).collect::<String>()
    ))
}

#[tokio::test]
async fn cancel_on_the_sign_in_page_returns_access_denied_to_the_application() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, |_| {}).await;
    let browser = browser();
    let (page, page_url) = follow(&browser, &server.base, authorize_url(&server)).await;
    assert!(page_url.contains("/login?request_id="), "{page_url}");
    let html = page.text().await.unwrap().replace("&#x2f;", "/");
    let start = html.find("href=\"/cancel?").expect("a cancel link") + "href=\"".len();
    let cancel = server.url(&html[start..start + html[start..].find('"').unwrap()]);
    let response = browser.get(&cancel).send().await.unwrap();
    assert_eq!(response.status(), 302);
    let target = location(&server.base, &response);
    assert!(target.starts_with(REDIRECT_URI), "{target}");
    let params = query(&target);
    assert_eq!(params["error"], "access_denied");
    assert_eq!(params["state"], "st-9");
    assert_eq!(params["iss"], server.base);
    // Used up: a second cancel (or another browser) gets a page, never a redirect.
    let again = browser.get(&cancel).send().await.unwrap();
    assert!(again.headers().get("location").is_none());
    assert_ne!(again.status(), 302);
    // A sign-in page without a pending request has nothing to cancel.
    let plain = browser.get(server.url("/login")).send().await.unwrap();
    assert!(!plain.text().await.unwrap().contains("/cancel"));
    db.drop_db().await;
}

#[tokio::test]
async fn error_pages_speak_plainly_fold_the_details_and_lead_home() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, |_| {}).await;
    let response = browser()
        .get(server.url(&format!(
            "/authorize?response_type=code&client_id={CLIENT_ID}&redirect_uri=https%3A%2F%2Fevil.example%2F"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());
    let html = response.text().await.unwrap().replace("&#x2f;", "/");
    assert!(
        html.contains("Go back to the application and try again"),
        "{html}"
    );
    let details = html
        .find("<details>")
        .expect("the technical details, folded");
    let detail = html
        .find("redirect_uri is not registered")
        .expect("the detail");
    assert!(
        detail > details,
        "the technical text is inside the details: {html}"
    );
    assert!(html.contains("invalid_request"));
    assert!(html.contains("href=\"/\""), "a way home: {html}");

    // The signed-out page leads home too.
    let signed_out = browser().get(server.url("/logout")).send().await.unwrap();
    let html = signed_out.text().await.unwrap().replace("&#x2f;", "/");
    assert!(
        html.contains("You are signed out") && html.contains("href=\"/\""),
        "{html}"
    );
    db.drop_db().await;
}
