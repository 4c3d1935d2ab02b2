//! Negative cases over raw HTTP: redirect URI tampering, duplicate parameters, the
//! wrong method.

use crate::support::{TestApp, REDIRECT_URI, WEB_SECRET};

fn authorize_url(app: &TestApp, redirect_uri: &str) -> String {
    let challenge = portcullis_core::extensions::s256_challenge(&"v".repeat(43));
    let mut url = url::Url::parse(&app.url("/oauth/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", "web-app")
        .append_pair("scope", "profile")
        .append_pair("state", "s1")
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    url.into()
}

#[tokio::test]
async fn tampered_redirect_uris_are_shown_an_error_and_never_redirected() {
    let app = TestApp::start(false).await;
    let tampered = [
        format!("{REDIRECT_URI}?next=evil"),
        format!("{REDIRECT_URI}/"),
        REDIRECT_URI.replace("client.example", "CLIENT.example"),
        REDIRECT_URI.replace("callback", "Callback"),
        format!("{REDIRECT_URI}#frag"),
    ];
    for uri in tampered {
        for method in ["GET", "POST"] {
            let url = authorize_url(&app, &uri);
            let response = if method == "GET" {
                app.http.get(&url).send().await.unwrap()
            } else {
                app.http
                    .post(&url)
                    .form(&[
                        ("username", "alice"),
                        ("password", "wonderland"),
                        ("decision", "allow"),
                    ])
                    .send()
                    .await
                    .unwrap()
            };
            assert_eq!(response.status(), 400, "{method} {uri}");
            assert!(
                response.headers().get("location").is_none(),
                "{method} {uri} must not redirect"
            );
            let body = response.text().await.unwrap();
            assert!(body.contains("invalid_request"), "{body}");
        }
    }
    // The untampered URI is accepted.
    let ok = app
        .http
        .get(authorize_url(&app, REDIRECT_URI))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn duplicate_parameters_are_invalid_request() {
    let app = TestApp::start(false).await;
    let (status, body) = app
        .token_request(
            "web-app",
            WEB_SECRET,
            "grant_type=refresh_token&refresh_token=a&refresh_token=b",
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_request");
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("refresh_token"));

    let url = format!("{}&state=again", authorize_url(&app, REDIRECT_URI));
    let response = app.http.get(url).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());
}

#[tokio::test]
async fn token_endpoint_accepts_post_only() {
    let app = TestApp::start(false).await;
    let response = app.http.get(app.url("/oauth/token")).send().await.unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
}

#[tokio::test]
async fn token_responses_are_never_cached() {
    let app = TestApp::start(false).await;
    let response = app
        .http
        .post(app.url("/oauth/token"))
        .basic_auth("service", Some(crate::support::SERVICE_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    // `service` authenticates with client_secret_post only: Basic is refused.
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["pragma"], "no-cache");
    assert!(response.headers().contains_key("www-authenticate"));
}
