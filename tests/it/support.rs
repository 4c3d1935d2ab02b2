//! Starts the example application on 127.0.0.1:0 and drives its forms like a browser.

use std::collections::HashMap;
use std::sync::Arc;

use oauth2::basic::BasicClient;
use oauth2::{AuthUrl, ClientId, ClientSecret, EndpointNotSet, EndpointSet, RedirectUrl, TokenUrl};

use crate::custom_models::{app, authorization_server, AppStore, OAuth2Client};

pub(crate) const REDIRECT_URI: &str = "https://client.example/callback";
pub(crate) const WEB_SECRET: &str = "web-app-secret-0123456789abcdef";
pub(crate) const OTHER_SECRET: &str = "other-app-secret-0123456789abcdef";
pub(crate) const SERVICE_SECRET: &str = "service-secret-0123456789abcdef";
pub(crate) const AUDIENCE_SECRET: &str = "audience-app-secret-0123456789abcdef";
/// The API the `audience-app` client's tokens are for.
pub(crate) const PROFILE_API: &str = "https://api.example/profile";

pub(crate) type ConfiguredClient =
    BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// The example application, listening on a real socket.
pub(crate) struct TestApp {
    pub(crate) base: String,
    pub(crate) http: reqwest::Client,
    /// The example's own store, to look at what it kept.
    pub(crate) store: Arc<AppStore>,
}

fn client(id: &str, grant_type: &str, scope: &str, method: &str) -> OAuth2Client {
    OAuth2Client {
        client_id: id.into(),
        client_secret: None,
        client_name: format!("{id} (test)"),
        redirect_uris: vec![REDIRECT_URI.into(), "http://127.0.0.1/native-cb".into()],
        default_redirect_uri: None,
        scope: scope.into(),
        response_type: "code".into(),
        grant_type: grant_type.into(),
        token_endpoint_auth_method: method.into(),
        audience: Vec::new(),
    }
}

impl TestApp {
    pub(crate) async fn start(enable_password: bool) -> TestApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let store = Arc::new(AppStore::default());
        store.add_client(
            client(
                "web-app",
                "authorization_code refresh_token password",
                "profile email",
                "client_secret_basic",
            ),
            Some(WEB_SECRET),
        );
        store.add_client(
            client(
                "other-app",
                "authorization_code",
                "profile",
                "client_secret_basic",
            ),
            Some(OTHER_SECRET),
        );
        store.add_client(
            client(
                "service",
                "client_credentials",
                "reports:read reports:write",
                "client_secret_post",
            ),
            Some(SERVICE_SECRET),
        );
        let mut audience_app = client(
            "audience-app",
            "authorization_code refresh_token",
            "profile",
            "client_secret_basic",
        );
        audience_app.audience = vec![PROFILE_API.into()];
        store.add_client(audience_app, Some(AUDIENCE_SECRET));
        store.add_user("alice", "wonderland");
        let router = app(authorization_server(store.clone(), &base, enable_password));
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        TestApp { base, http, store }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// An `oauth2` client for a registered client of the example.
    pub(crate) fn oauth_client(&self, id: &str, secret: &str) -> ConfiguredClient {
        BasicClient::new(ClientId::new(id.into()))
            .set_client_secret(ClientSecret::new(secret.into()))
            .set_auth_uri(AuthUrl::new(self.url("/oauth/authorize")).unwrap())
            .set_token_uri(TokenUrl::new(self.url("/oauth/token")).unwrap())
            .set_redirect_uri(RedirectUrl::new(REDIRECT_URI.into()).unwrap())
    }

    /// Opens the authorization URL, then signs in as alice and answers the consent
    /// form with `decision`, exactly as a browser submits it. Returns the redirect.
    pub(crate) async fn consent(&self, authorize_url: &str, decision: &str) -> reqwest::Response {
        let page = self.http.get(authorize_url).send().await.unwrap();
        assert_eq!(page.status(), 200, "the consent page should render");
        let html = page.text().await.unwrap();
        assert!(html.contains("<form method=\"post\">"), "{html}");
        self.http
            .post(authorize_url)
            .form(&[
                ("username", "alice"),
                ("password", "wonderland"),
                ("decision", decision),
            ])
            .send()
            .await
            .unwrap()
    }

    /// Runs the authorization request and returns the query parameters of the redirect.
    pub(crate) async fn authorize(&self, authorize_url: &str) -> HashMap<String, String> {
        let response = self.consent(authorize_url, "allow").await;
        assert_eq!(response.status(), 302);
        redirect_params(&response)
    }

    /// GET /api/me with a bearer token.
    pub(crate) async fn api_me(&self, access_token: &str) -> reqwest::Response {
        self.http
            .get(self.url("/api/me"))
            .bearer_auth(access_token)
            .send()
            .await
            .unwrap()
    }

    /// A raw form POST to the token endpoint with Basic authentication.
    pub(crate) async fn token_request(
        &self,
        id: &str,
        secret: &str,
        body: &str,
    ) -> (u16, serde_json::Value) {
        let response = self
            .http
            .post(self.url("/oauth/token"))
            .basic_auth(id, Some(secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }
}

/// The query parameters of a redirect's Location, checking it goes to the client.
pub(crate) fn redirect_params(response: &reqwest::Response) -> HashMap<String, String> {
    let location = response.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with(REDIRECT_URI),
        "redirected to {location}"
    );
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The `error` code of an `oauth2` token request failure.
pub(crate) fn oauth_error<T: std::fmt::Debug>(
    result: Result<
        T,
        oauth2::RequestTokenError<
            oauth2::HttpClientError<reqwest::Error>,
            oauth2::basic::BasicErrorResponse,
        >,
    >,
) -> String {
    match result {
        Err(oauth2::RequestTokenError::ServerResponse(response)) => {
            response.error().as_ref().to_owned()
        }
        other => panic!("expected an OAuth error response, got {other:?}"),
    }
}
