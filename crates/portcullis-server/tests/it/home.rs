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

/// The configured service name and logo are on every page, and the logo is served
/// from this server under a policy that keeps an SVG inert (issue 15, item 7).
#[tokio::test]
async fn the_service_name_and_logo_are_on_every_page() {
    let db = TestDb::sqlite();
    let TestDb::Sqlite(db_path) = &db else {
        unreachable!()
    };
    let logo_path = db_path.with_file_name("logo.svg");
    let svg = r#"<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>"#;
    std::fs::write(&logo_path, svg).unwrap();
    let server = TestServer::start(&db, |config| {
        config.pages.service_name = "Example Corp accounts".into();
        config.pages.logo = Some(logo_path.clone());
    })
    .await;
    let browser = browser();
    let (login, _) = follow(&browser, &server.base, authorize_url(&server)).await;
    let pages = [
        ("home", browser.get(server.url("/")).send().await.unwrap()),
        ("sign-in", login),
        (
            "error",
            browser
                .get(server.url("/authorize?client_id=nobody"))
                .send()
                .await
                .unwrap(),
        ),
        (
            "signed out",
            browser.get(server.url("/logout")).send().await.unwrap(),
        ),
    ];
    for (name, response) in pages {
        let html = response.text().await.unwrap().replace("&#x2f;", "/");
        assert!(
            html.contains(r#"<span class="service">Example Corp accounts</span>"#),
            "the {name} page names the service: {html}"
        );
        assert!(
            html.contains(r#"<img src="/static/logo" alt="" class="logo">"#),
            "the {name} page shows the logo: {html}"
        );
    }
    let home = browser.get(server.url("/")).send().await.unwrap();
    let html = home.text().await.unwrap();
    assert!(html.contains("<h1>Example Corp accounts</h1>"), "{html}");

    let logo = browser
        .get(server.url("/static/logo"))
        .send()
        .await
        .unwrap();
    assert_eq!(logo.status(), 200);
    assert_eq!(logo.headers()["content-type"], "image/svg+xml");
    let policy = logo.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        policy.contains("sandbox") && policy.contains("default-src 'none'"),
        "{policy}"
    );
    assert_eq!(logo.headers()["x-content-type-options"], "nosniff");
    assert_eq!(logo.text().await.unwrap(), svg);
    db.drop_db().await;
}

/// Without a configured logo there is no image and `/static/logo` is 404; the
/// service name is `Portcullis`.
#[tokio::test]
async fn by_default_the_pages_name_portcullis_and_show_no_logo() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, |_| {}).await;
    let html = browser()
        .get(server.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(r#"<span class="service">Portcullis</span>"#));
    assert!(!html.contains("<img"), "{html}");
    let logo = browser()
        .get(server.url("/static/logo"))
        .send()
        .await
        .unwrap();
    assert_eq!(logo.status(), 404);
    db.drop_db().await;
}

/// The sign-in page of a pending request names the application and the host it
/// returns to — again after a wrong password, whose error is tied to the fields it is
/// about — and so does the consent page; a plain sign-in names no application.
#[tokio::test]
async fn sign_in_says_which_application_is_asking_and_where_it_returns() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, |_| {}).await;
    let browser = browser();
    let (page, _) = follow(&browser, &server.base, authorize_url(&server)).await;
    let html = page.text().await.unwrap();
    let continue_to = r#"<h1>Sign in to continue to <span class="client">Web App</span></h1>"#;
    let returns = r#"You will return to <strong class="host">client.example</strong>."#;
    assert!(html.contains(continue_to), "{html}");
    assert!(html.contains(returns), "{html}");
    assert!(!html.contains("aria-invalid"), "no error yet: {html}");

    let form = parse_form(&html);
    let wrong = submit(
        &browser,
        &server.base,
        &form,
        &[("username", USERNAME), ("password", "not the password")],
    )
    .await;
    assert_eq!(wrong.status(), 401);
    let html = wrong.text().await.unwrap();
    assert!(
        html.contains(continue_to) && html.contains(returns),
        "{html}"
    );
    assert!(
        html.contains(r#"<p class="error" id="login-error" role="alert">"#),
        "{html}"
    );
    assert_eq!(
        html.matches(r#"aria-invalid="true" aria-describedby="login-error""#)
            .count(),
        2,
        "both fields point at the error: {html}"
    );

    let form = parse_form(&html);
    let signed_in = submit(
        &browser,
        &server.base,
        &form,
        &[("username", USERNAME), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(signed_in.status(), 303);
    let consent = browser
        .get(location(&server.base, &signed_in))
        .send()
        .await
        .unwrap();
    let html = consent.text().await.unwrap();
    assert!(html.contains("Web App</span> wants to access your account"));
    assert!(html.contains(returns), "{html}");

    let plain = crate::support::browser()
        .get(server.url("/login"))
        .send()
        .await
        .unwrap();
    let html = plain.text().await.unwrap();
    assert!(html.contains("<h1>Sign in</h1>"), "{html}");
    assert!(!html.contains("continue to"), "{html}");
    db.drop_db().await;
}
