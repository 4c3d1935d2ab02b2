//! Consent: denied, remembered, asked again with prompt=consent, CSRF.

use oauth2::{CsrfToken, PkceCodeChallenge, Scope};

use crate::support::*;

fn authorize_url(server: &TestServer, scopes: &[&str], extra: &[(&str, &str)]) -> (String, String) {
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let client = server.oauth_client();
    let mut request = client
        .authorize_url(CsrfToken::new_random)
        .set_pkce_challenge(challenge);
    for s in scopes {
        request = request.add_scope(Scope::new(s.to_string()));
    }
    for (k, v) in extra {
        request = request.add_extra_param(*k, *v);
    }
    let (url, state) = request.url();
    (url.to_string(), state.secret().clone())
}

#[tokio::test]
async fn denied_consent_returns_access_denied_with_state_and_iss() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, |_| {}).await;
    let browser = browser();
    let (url, state) = authorize_url(&server, &["profile"], &[]);
    let (page, _) = sign_in_from(&browser, &server.base, url, USERNAME, PASSWORD).await;
    let form = parse_form(&page.text().await.unwrap());
    let response = submit(&browser, &server.base, &form, &[("decision", "deny")]).await;
    assert_eq!(response.status(), 302);
    let params = query(&location(&server.base, &response));
    assert_eq!(params["error"], "access_denied");
    assert_eq!(params["state"], state);
    assert_eq!(params["iss"], server.base);
    assert!(!params.contains_key("code"));
    db.drop_db().await;
}

#[tokio::test]
async fn consent_is_remembered_until_prompt_consent_or_a_new_scope() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, |_| {}).await;
    let browser = browser();
    let (url, _) = authorize_url(&server, &["profile"], &[]);
    let (page, _) = sign_in_from(&browser, &server.base, url, USERNAME, PASSWORD).await;
    let form = parse_form(&page.text().await.unwrap());
    let response = submit(&browser, &server.base, &form, &[("decision", "allow")]).await;
    assert_eq!(response.status(), 302);

    // Same client, same scope: straight back to the client with a code.
    let (url, state) = authorize_url(&server, &["profile"], &[]);
    let response = browser.get(url).send().await.unwrap();
    assert_eq!(response.status(), 302);
    let params = query(&location(&server.base, &response));
    assert!(params.contains_key("code"));
    assert_eq!(params["state"], state);

    // prompt=consent asks again.
    let (url, _) = authorize_url(&server, &["profile"], &[("prompt", "consent")]);
    let (page, page_url) = follow(&browser, &server.base, url).await;
    assert_eq!(page.status(), 200);
    assert!(page_url.contains("/consent"), "{page_url}");

    // A scope not granted before asks again.
    let (url, _) = authorize_url(&server, &["profile", "email"], &[]);
    let (page, page_url) = follow(&browser, &server.base, url).await;
    assert_eq!(page.status(), 200);
    assert!(page_url.contains("/consent"), "{page_url}");
    db.drop_db().await;
}

#[tokio::test]
async fn consent_with_a_missing_or_wrong_csrf_token_is_refused() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, |_| {}).await;
    let browser = browser();
    let (url, _) = authorize_url(&server, &["profile"], &[]);
    let (page, _) = sign_in_from(&browser, &server.base, url, USERNAME, PASSWORD).await;
    let form = parse_form(&page.text().await.unwrap());
    for csrf in [None, Some("forged")] {
        let mut body = vec![("decision", "allow")];
        if let Some(token) = csrf {
            body.push(("csrf_token", token));
        }
        let response = browser
            .post(server.url(&form.action))
            .form(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "csrf {csrf:?}");
        assert!(response.headers().get("location").is_none());
    }
    db.drop_db().await;
}
