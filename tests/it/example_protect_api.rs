//! `examples/protect_api.rs` on a real socket: the resource guard answers 401 without a
//! token or with a bad one, 403 `insufficient_scope` without the required scope, 401
//! `invalid_token` for a token meant for another API, and 200 with a good token.

use crate::protect_api::{app, authorization_server, SECRET};

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    async fn start() -> Api {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let router = app(authorization_server().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Api {
            base,
            http: reqwest::Client::new(),
        }
    }

    /// A client_credentials token of `client_id` for `scope` (none when empty).
    async fn token(&self, client_id: &str, scope: &str) -> String {
        let mut form = vec![("grant_type", "client_credentials")];
        if !scope.is_empty() {
            form.push(("scope", scope));
        }
        let response = self
            .http
            .post(format!("{}/oauth/token", self.base))
            .basic_auth(client_id, Some(SECRET))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// Calls `path` (`POST` for the archive) with `token`; the status, the
    /// `WWW-Authenticate` challenge and the JSON body.
    async fn call(&self, path: &str, token: Option<&str>) -> (u16, String, serde_json::Value) {
        let url = format!("{}{path}", self.base);
        let mut request = if path.ends_with("archive") {
            self.http.post(url)
        } else {
            self.http.get(url)
        };
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, challenge, response.json().await.unwrap())
    }
}

#[tokio::test]
async fn the_middleware_guard_checks_presence_validity_scope_and_audience() {
    let api = Api::start().await;

    let (status, challenge, body) = api.call("/api/reports", None).await;
    assert_eq!(status, 401);
    assert_eq!(
        challenge, "Bearer realm=\"portcullis\"",
        "no error without a token"
    );
    assert_eq!(body, serde_json::json!({}));

    let (status, challenge, body) = api.call("/api/reports", Some("not-a-token")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_token"))
    );
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");

    let unscoped = api.token("reporting", "").await;
    let (status, challenge, body) = api.call("/api/reports", Some(&unscoped)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("insufficient_scope"))
    );
    assert!(challenge.contains("scope=\"reports:read\""), "{challenge}");

    // Right scope, wrong audience: the token is for the billing API.
    let billing = api.token("billing", "reports:read").await;
    let (status, challenge, body) = api.call("/api/reports", Some(&billing)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_token"))
    );
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");

    let good = api.token("reporting", "reports:read").await;
    let (status, _, body) = api.call("/api/reports", Some(&good)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        serde_json::json!({"reports": ["q1", "q2"], "client_id": "reporting"})
    );
}

#[tokio::test]
async fn the_extractor_guard_checks_the_scope_in_the_handler() {
    let api = Api::start().await;
    let path = "/api/reports/archive";

    let (status, _, _) = api.call(path, None).await;
    assert_eq!(status, 401);

    let reader = api.token("archiver", "reports:read").await;
    let (status, challenge, body) = api.call(path, Some(&reader)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("insufficient_scope"))
    );
    assert!(challenge.contains("scope=\"reports:write\""), "{challenge}");

    let writer = api.token("archiver", "reports:read reports:write").await;
    let (status, _, body) = api.call(path, Some(&writer)).await;
    assert_eq!((status, body), (200, serde_json::json!({"archived": 2})));

    // The reader's token still lists reports.
    let (status, _, _) = api.call("/api/reports", Some(&reader)).await;
    assert_eq!(status, 200);
}
