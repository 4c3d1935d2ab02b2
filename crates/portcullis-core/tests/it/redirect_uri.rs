//! Redirect URI matching at the authorization and token endpoints (RFC 6749 §3.1.2,
//! RFC 8252 §7.3), and the `http://localhost` port leeway
//! (`RedirectUriMatching::with_localhost_port_leeway`, issue 13 item 3).

use http::StatusCode;
use portcullis_core::redirect_uri::RedirectUriMatching;
use portcullis_core::ClientRecord;

use crate::support::*;

const MCP_ID: &str = "mcp-client";

/// A public client registered, as widely used native and MCP clients do, with
/// `http://localhost` (one with a port, one without) and an https localhost URI.
fn localhost_client() -> ClientRecord {
    let mut client = public_client();
    client.client_id = MCP_ID.to_owned();
    client.redirect_uris = strings(&[
        "http://localhost:3000/callback",
        "http://localhost/oauth/cb?app=1",
        "https://localhost:8443/secure",
    ]);
    client
}

fn server(leeway: bool) -> TestServer {
    let ts = TestServer::with_config(Config {
        redirect_matching: RedirectUriMatching::new().with_localhost_port_leeway(leeway),
        ..Config::default()
    });
    ts.add_client(localhost_client());
    ts
}

/// The authorization request of `mcp-client` for `redirect_uri`: the redirect's
/// code, or the error the endpoint answers without redirecting.
async fn authorize(ts: &TestServer, redirect_uri: &str, pkce: &PkcePair) -> Result<String, String> {
    let request = authorize_request(&[
        ("response_type", "code"),
        ("client_id", MCP_ID),
        ("redirect_uri", redirect_uri),
        ("scope", "read"),
        ("state", STATE),
        ("code_challenge", &pkce.challenge),
        ("code_challenge_method", "S256"),
    ]);
    match ts.authorize(&request, Some(USER)).await {
        Ok(response) => {
            assert_eq!(response.status(), StatusCode::FOUND);
            let url = location(&response);
            assert!(
                url.as_str().starts_with(redirect_uri),
                "redirected to {url}, not {redirect_uri}"
            );
            Ok(query_params(&url).remove("code").expect("a code"))
        }
        Err(error) => {
            assert_eq!(error.code().as_str(), "invalid_request", "{error}");
            Err(error.to_string())
        }
    }
}

#[tokio::test]
async fn a_localhost_port_may_differ_only_with_the_leeway() {
    for requested in [
        "http://localhost:51004/callback",
        "http://localhost:1/callback",
        "http://localhost:51004/oauth/cb?app=1",
    ] {
        let pkce = PkcePair::new();
        let refused = authorize(&server(false), requested, &pkce).await;
        assert!(refused.is_err(), "{requested} matched without the leeway");

        let ts = server(true);
        let code = authorize(&ts, requested, &pkce)
            .await
            .unwrap_or_else(|e| panic!("{requested}: {e}"));
        // The code is bound to the URI used, and redeemed with it.
        let response = ts
            .post_token(
                Auth::Public(MCP_ID),
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", requested),
                    ("code_verifier", &pkce.verifier),
                ],
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{}",
            body_text(&response)
        );
    }
}

#[tokio::test]
async fn the_exact_localhost_uri_matches_either_way() {
    for leeway in [false, true] {
        let pkce = PkcePair::new();
        authorize(&server(leeway), "http://localhost:3000/callback", &pkce)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn only_the_port_may_differ_whatever_the_leeway() {
    for leeway in [false, true] {
        let ts = server(leeway);
        for requested in [
            // Another path, query or case.
            "http://localhost:51004/callback2",
            "http://localhost:51004/callback/",
            "http://localhost:51004/Callback",
            "http://localhost:51004/callback?x=1",
            "http://localhost:51004/oauth/cb",
            "http://localhost:51004/oauth/cb?app=2",
            // Another host that starts with `localhost`.
            "http://localhost.evil.example/callback",
            "http://localhost.evil.example:3000/callback",
            "http://localhost:3000@evil.example/callback",
            // https: never a port leeway.
            "https://localhost:9443/secure",
            "https://localhost/secure",
            "https://localhost:51004/callback",
            // Nor for another spelling of the host.
            "http://LOCALHOST:51004/callback",
            "http://127.0.0.1:3000/callback",
        ] {
            let pkce = PkcePair::new();
            assert!(
                authorize(&ts, requested, &pkce).await.is_err(),
                "{requested} matched (leeway {leeway})"
            );
        }
    }
}
