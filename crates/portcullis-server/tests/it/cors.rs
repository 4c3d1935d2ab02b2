//! Issue 13, item 8: CORS for the endpoints browser-based (and MCP) clients call —
//! both metadata documents, the JWK Set, the token, revocation and UserInfo endpoints
//! — and none on the authorization endpoint, the pages or operations (RFC 9700 §2.6).
//! Over real sockets, at the root and under an issuer's path.

use crate::support::*;

const ORIGIN: &str = "https://spa.example";
const SERVICE: &str = "svc";
const SERVICE_SECRET: &str = "svc-secret-0123456789abcdefghijklmnop";

/// A preflight for `method` on `url`, as a browser sends it before a cross-origin
/// request with an MCP client's headers.
async fn preflight(url: &str, method: &str) -> reqwest::Response {
    reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, url)
        .header("Origin", ORIGIN)
        .header("Access-Control-Request-Method", method)
        .header(
            "Access-Control-Request-Headers",
            "authorization, content-type, mcp-protocol-version",
        )
        .send()
        .await
        .unwrap()
}

fn header<'r>(response: &'r reqwest::Response, name: &str) -> Option<&'r str> {
    response.headers().get(name).map(|v| v.to_str().unwrap())
}

fn assert_preflight_allowed(response: &reqwest::Response, url: &str, method: &str) {
    assert_eq!(response.status(), 204, "{url}");
    assert_eq!(
        header(response, "access-control-allow-origin"),
        Some("*"),
        "{url}"
    );
    let methods = header(response, "access-control-allow-methods").unwrap_or_default();
    assert!(methods.split(", ").any(|m| m == method), "{url}: {methods}");
    let allowed: Vec<String> = header(response, "access-control-allow-headers")
        .unwrap_or_default()
        .split(',')
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    for needed in [
        "authorization",
        "content-type",
        "dpop",
        "mcp-protocol-version",
    ] {
        assert!(allowed.iter().any(|h| h == needed), "{url}: {allowed:?}");
    }
    assert_eq!(
        header(response, "access-control-max-age"),
        Some("86400"),
        "{url}"
    );
    assert!(
        header(response, "access-control-allow-credentials").is_none(),
        "{url}"
    );
}

fn assert_no_cors(response: &reqwest::Response, url: &str) {
    let cors: Vec<&str> = response
        .headers()
        .keys()
        .map(|k| k.as_str())
        .filter(|k| k.starts_with("access-control-"))
        .collect();
    assert!(cors.is_empty(), "{url} answered {cors:?}");
}

async fn service_server(db: &TestDb, path: &str) -> TestServer {
    let store = seed(db).await;
    store
        .insert_client(&service_client(SERVICE, SERVICE_SECRET))
        .await
        .unwrap();
    let path = path.to_owned();
    TestServer::start_on(db, store, move |config| {
        let origin = config.http.issuer.clone().unwrap();
        config.http.issuer = Some(format!("{origin}{path}"));
    })
    .await
}

/// A client_credentials token request from a page of [`ORIGIN`].
async fn cross_origin_token(url: &str, secret: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(url)
        .header("Origin", ORIGIN)
        .header("MCP-Protocol-Version", "2025-06-18")
        .basic_auth(SERVICE, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn browser_endpoints_answer_preflights_and_pages_do_not() {
    let db = TestDb::sqlite();
    let server = service_server(&db, "").await;
    for (path, method) in [
        ("/token", "POST"),
        ("/revoke", "POST"),
        ("/userinfo", "GET"),
        ("/userinfo", "POST"),
        ("/jwks", "GET"),
        ("/.well-known/oauth-authorization-server", "GET"),
        ("/.well-known/openid-configuration", "GET"),
    ] {
        let url = server.url(path);
        assert_preflight_allowed(&preflight(&url, method).await, &url, method);
    }
    for (path, method) in [
        ("/authorize", "GET"),
        ("/authorize", "POST"),
        ("/login", "POST"),
        ("/consent", "POST"),
        ("/logout", "POST"),
        ("/introspect", "POST"),
        ("/healthz", "GET"),
        ("/", "GET"),
    ] {
        let url = server.url(path);
        assert_no_cors(&preflight(&url, method).await, &url);
    }
    // Nor on the actual responses of the authorization endpoint and the sign-in page.
    for path in ["/authorize?client_id=web-app&response_type=code", "/login"] {
        let url = server.url(path);
        let response = browser()
            .get(&url)
            .header("Origin", ORIGIN)
            .send()
            .await
            .unwrap();
        assert_no_cors(&response, &url);
    }
}

#[tokio::test]
async fn cross_origin_responses_carry_the_allowed_origin() {
    let db = TestDb::sqlite();
    let server = service_server(&db, "").await;
    let response = cross_origin_token(&server.url("/token"), SERVICE_SECRET).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "access-control-allow-origin"), Some("*"));
    assert!(header(&response, "access-control-allow-credentials").is_none());
    assert_eq!(header(&response, "cache-control"), Some("no-store"));
    let body: serde_json::Value = response.json().await.unwrap();
    let access_token = body["access_token"].as_str().unwrap().to_owned();
    // An error too: the page can read it, and the challenge.
    let refused = cross_origin_token(&server.url("/token"), "wrong").await;
    assert_eq!(refused.status(), 401);
    assert_eq!(header(&refused, "access-control-allow-origin"), Some("*"));
    let exposed = header(&refused, "access-control-expose-headers").unwrap_or_default();
    assert!(exposed.contains("WWW-Authenticate"), "{exposed}");
    for path in ["/.well-known/oauth-authorization-server", "/jwks"] {
        let response = reqwest::Client::new()
            .get(server.url(path))
            .header("Origin", ORIGIN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(
            header(&response, "access-control-allow-origin"),
            Some("*"),
            "{path}"
        );
    }
    let revoked = reqwest::Client::new()
        .post(server.url("/revoke"))
        .header("Origin", ORIGIN)
        .basic_auth(SERVICE, Some(SERVICE_SECRET))
        .form(&[("token", access_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    assert_eq!(header(&revoked, "access-control-allow-origin"), Some("*"));
}

#[tokio::test]
async fn cors_works_under_an_issuer_path() {
    let db = TestDb::sqlite();
    let server = service_server(&db, "/auth").await;
    for (path, method) in [
        ("/auth/token", "POST"),
        ("/auth/revoke", "POST"),
        ("/auth/userinfo", "GET"),
        ("/auth/jwks", "GET"),
        ("/auth/.well-known/oauth-authorization-server", "GET"),
        ("/auth/.well-known/openid-configuration", "GET"),
        ("/.well-known/oauth-authorization-server/auth", "GET"),
        ("/.well-known/openid-configuration/auth", "GET"),
    ] {
        let url = server.url(path);
        assert_preflight_allowed(&preflight(&url, method).await, &url, method);
    }
    for path in ["/auth/authorize", "/auth/login", "/auth/consent", "/token"] {
        let url = server.url(path);
        assert_no_cors(&preflight(&url, "POST").await, &url);
    }
    let response = cross_origin_token(&server.url("/auth/token"), SERVICE_SECRET).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "access-control-allow-origin"), Some("*"));
}
