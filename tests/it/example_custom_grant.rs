//! `examples/custom_grant.rs` on a real socket: the demo grant issues a token that the
//! resource guard accepts, refuses what it must with RFC 6749 §5.2 errors, and the
//! metadata lists it.

use crate::custom_grant::{
    app, authorization_server, CLIENT_ID, CLIENT_SECRET, GRANT_TYPE, OTHER_CLIENT_ID, SUBJECT,
    TICKET,
};

async fn start() -> (String, reqwest::Client) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = app(authorization_server(&base).unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (base, reqwest::Client::new())
}

/// A token request's form parameters.
type Form<'a> = &'a [(&'a str, &'a str)];

async fn token_request(
    base: &str,
    http: &reqwest::Client,
    client_id: &str,
    form: Form<'_>,
) -> (u16, serde_json::Value) {
    let response = http
        .post(format!("{base}/oauth/token"))
        .basic_auth(client_id, Some(CLIENT_SECRET))
        .form(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["cache-control"], "no-store");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn the_custom_grant_issues_a_token_the_resource_guard_accepts() {
    let (base, http) = start().await;
    let form = [
        ("grant_type", GRANT_TYPE),
        ("ticket", TICKET),
        ("scope", "profile"),
    ];
    let (status, token) = token_request(&base, &http, CLIENT_ID, &form).await;
    assert_eq!(status, 200, "{token}");
    assert_eq!(token["token_type"], "Bearer");
    assert_eq!(token["scope"], "profile");
    assert_eq!(token["expires_in"], 3600);
    assert!(token.get("refresh_token").is_none(), "{token}");

    let access_token = token["access_token"].as_str().unwrap();
    let me = http
        .get(format!("{base}/api/me"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let me: serde_json::Value = me.json().await.unwrap();
    assert_eq!(me["sub"], SUBJECT);
    assert_eq!(me["client_id"], CLIENT_ID);
    assert_eq!(me["scope"], "profile");

    // The guard refuses anything else.
    let forged = http
        .get(format!("{base}/api/me"))
        .bearer_auth(format!("{access_token}x"))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
}

#[tokio::test]
async fn the_custom_grant_refuses_bad_tickets_and_clients_not_registered_for_it() {
    let (base, http) = start().await;
    let cases: [(&str, Form<'_>, &str); 4] = [
        (
            CLIENT_ID,
            &[("grant_type", GRANT_TYPE), ("ticket", "guess")],
            "invalid_grant",
        ),
        (CLIENT_ID, &[("grant_type", GRANT_TYPE)], "invalid_request"),
        (
            CLIENT_ID,
            &[
                ("grant_type", GRANT_TYPE),
                ("ticket", TICKET),
                ("scope", "admin"),
            ],
            "invalid_scope",
        ),
        // The client's `grant_types` decide, before the handler runs.
        (
            OTHER_CLIENT_ID,
            &[("grant_type", GRANT_TYPE), ("ticket", TICKET)],
            "unauthorized_client",
        ),
    ];
    for (client_id, form, expected) in cases {
        let (status, body) = token_request(&base, &http, client_id, form).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some(expected)),
            "{form:?}: {body}"
        );
    }
    // No handler claims another grant type.
    let form = [("grant_type", "urn:example:params:oauth:grant-type:other")];
    let (status, body) = token_request(&base, &http, CLIENT_ID, &form).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
}

#[test]
fn the_metadata_lists_the_custom_grant_type() {
    let server = authorization_server("https://auth.example").unwrap();
    assert!(server.supports_grant_type(GRANT_TYPE));
    let metadata = server.metadata().unwrap();
    assert_eq!(
        metadata["grant_types_supported"],
        serde_json::json!([GRANT_TYPE])
    );
    assert_eq!(
        metadata["token_endpoint"],
        "https://auth.example/oauth/token"
    );
}
