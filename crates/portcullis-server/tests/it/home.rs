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
