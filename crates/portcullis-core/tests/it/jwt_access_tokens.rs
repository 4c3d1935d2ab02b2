//! JWT access tokens (RFC 9068) through the whole engine: issued for the clients that
//! want them, verifiable with the published keys, recorded under their `jti` so that
//! introspection, revocation and the resource guard treat them as any other token.

use std::sync::{Arc, Mutex};

use base64::Engine as _;
use http::StatusCode;
use portcullis_core::jose::{
    self, aws_lc_rs, AccessTokenFormat, Algorithm, JwkSet, JwtAccessTokens, KeySet, Signer,
    SigningKeys, Validation, AT_JWT,
};
use portcullis_core::{BearerTokenGenerator, ClientRecord, Clock};
use serde_json::Value;

use crate::support::*;

/// One signing key, replaceable; verification trusts the keys given.
#[derive(Debug)]
pub(crate) struct TestKeys {
    signer: Mutex<Option<Arc<Signer>>>,
    trusted: Mutex<Arc<KeySet>>,
}

impl TestKeys {
    pub(crate) fn new(signer: Signer) -> Arc<Self> {
        let keys = Arc::new(TestKeys {
            signer: Mutex::new(None),
            trusted: Mutex::new(Arc::new(KeySet::new())),
        });
        keys.replace(Some(signer));
        keys
    }

    fn replace(&self, signer: Option<Signer>) {
        if let Some(signer) = &signer {
            let set = JwkSet::new(vec![signer.public_jwk()]);
            *self.trusted.lock().unwrap() = Arc::new(KeySet::from_jwk_set(
                &aws_lc_rs::provider(),
                &set,
                &Algorithm::ALL,
            ));
        }
        *self.signer.lock().unwrap() = signer.map(Arc::new);
    }
}

impl SigningKeys for TestKeys {
    fn signer(&self, _now: i64) -> Option<Arc<Signer>> {
        self.signer.lock().unwrap().clone()
    }

    fn verification_keys(&self) -> Option<Arc<KeySet>> {
        Some(self.trusted.lock().unwrap().clone())
    }

    fn signing_algorithms(&self) -> Vec<Algorithm> {
        self.signer().iter().map(|s| s.algorithm()).collect()
    }
}

impl TestKeys {
    fn signer(&self) -> Option<Arc<Signer>> {
        self.signer.lock().unwrap().clone()
    }
}

pub(crate) fn es256() -> Signer {
    Signer::generate(&aws_lc_rs::provider(), Algorithm::Es256).unwrap()
}

fn server_with(strategy: JwtAccessTokens) -> TestServer {
    TestServer::with_config(Config {
        bearer: Some(BearerTokenGenerator::default().with_strategy(strategy)),
        ..Config::default()
    })
}

fn jwt_server() -> (TestServer, Arc<TestKeys>, Signer) {
    let signer = es256();
    let published = Signer::new(
        aws_lc_rs::provider()
            .require(Algorithm::Es256)
            .unwrap()
            .load(&signer.key().to_pkcs8_der().unwrap())
            .unwrap(),
        signer.kid(),
    );
    let keys = TestKeys::new(signer);
    (
        server_with(JwtAccessTokens::new(keys.clone())),
        keys,
        published,
    )
}

pub(crate) fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn client_credentials_issues_an_rfc_9068_jwt() {
    let (server, _keys, signer) = jwt_server();
    let token = server
        .client_credentials_token(CONF_ID, CONF_SECRET, "read")
        .await;
    let published = JwkSet::new(vec![signer.public_jwk()]);
    let trusted = KeySet::from_jwk_set(&aws_lc_rs::provider(), &published, &[Algorithm::Es256]);
    let validation = Validation::new(server.clock.now())
        .with_typ(AT_JWT)
        .with_issuer(ISSUER)
        .with_audience([ISSUER]);
    let verified = jose::verify(&token, &trusted, &validation).unwrap();
    assert_eq!(verified.header["typ"], "at+jwt");
    assert_eq!(verified.kid.as_deref(), Some(signer.kid()));
    let claims = verified.claims;
    assert_eq!(
        claims["sub"], CONF_ID,
        "client_credentials: sub is the client"
    );
    assert_eq!(claims["client_id"], CONF_ID);
    assert_eq!(claims["scope"], "read");
    assert_eq!(claims["iat"], START);
    assert_eq!(claims["exp"], START + 3600);
    assert!(claims["jti"].as_str().unwrap().len() > 40);
}

#[tokio::test]
async fn a_code_flow_jwt_names_the_user_and_the_clients_audience() {
    let (server, _keys, _) = jwt_server();
    let mut client = other_client(
        "shop",
        "shop-secret-6a2f0c7d81",
        "client_secret_basic",
        &["client_credentials"],
    );
    client.audience = vec!["https://api.example".into(), "https://other.example".into()];
    server.add_client(client);
    let token = server
        .client_credentials_token("shop", "shop-secret-6a2f0c7d81", "read")
        .await;
    let claims = claims_of(&token);
    assert_eq!(
        claims["aud"],
        serde_json::json!(["https://api.example", "https://other.example"])
    );
    let tokens = server.conf_tokens("read profile").await;
    let claims = claims_of(tokens["access_token"].as_str().unwrap());
    assert_ne!(claims["sub"], CONF_ID);
    assert_eq!(claims["sub"], USER, "the user, not the client");
    assert_eq!(claims["scope"], "read profile");
    assert_eq!(claims["aud"], ISSUER);
    // The refresh token stays opaque, and a refresh issues a new JWT.
    let refreshed = server
        .refresh(tokens["refresh_token"].as_str().unwrap(), None)
        .await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    let refreshed = json(&refreshed);
    let new_claims = claims_of(refreshed["access_token"].as_str().unwrap());
    assert_eq!(new_claims["sub"], claims["sub"]);
    assert_eq!(new_claims["sub"], USER);
    assert_ne!(new_claims["jti"], claims["jti"]);
}

#[tokio::test]
async fn a_jwt_access_token_is_recorded_introspected_and_revoked() {
    let (server, _keys, _) = jwt_server();
    let token = server
        .client_credentials_token(CONF_ID, CONF_SECRET, "read")
        .await;
    assert!(server.is_active(&token).await);
    let info = server.introspect_ok(CONF, &token).await;
    assert_eq!(info["active"], true);
    assert_eq!(info["client_id"], CONF_ID);
    assert_eq!(info["scope"], "read");
    let revoked = server.revoke(CONF, &[("token", &token)]).await;
    assert_eq!(revoked.status(), StatusCode::OK);
    assert!(!server.is_active(&token).await);
    assert_eq!(server.introspect_ok(CONF, &token).await["active"], false);
}

#[tokio::test]
async fn an_expired_jwt_access_token_is_inactive() {
    let (server, _keys, _) = jwt_server();
    let token = server
        .client_credentials_token(CONF_ID, CONF_SECRET, "read")
        .await;
    server.clock.advance(3600);
    assert!(!server.is_active(&token).await);
    assert_eq!(server.introspect_ok(CONF, &token).await["active"], false);
}

/// A JWT with a real `jti` but another key's signature, or the right key but another
/// `typ`, is not this server's access token.
#[tokio::test]
async fn a_forged_jwt_is_never_found() {
    let (server, _keys, signer) = jwt_server();
    let token = server
        .client_credentials_token(CONF_ID, CONF_SECRET, "read")
        .await;
    let claims = claims_of(&token);
    let mut header = serde_json::Map::new();
    header.insert("typ".into(), "at+jwt".into());
    let attacker = Signer::new(
        aws_lc_rs::provider()
            .require(Algorithm::Es256)
            .unwrap()
            .generate()
            .unwrap(),
        signer.kid(),
    );
    let forged = attacker.sign_with_header(header, &claims).unwrap();
    assert!(!server.is_active(&forged).await);
    assert_eq!(server.introspect_ok(CONF, &forged).await["active"], false);
    let wrong_type = signer.sign(Some("JWT"), &claims).unwrap();
    assert!(!server.is_active(&wrong_type).await);
    // Revoking a forged copy revokes nothing.
    server.revoke(CONF, &[("token", &forged)]).await;
    assert!(server.is_active(&token).await);
}

/// The `jti` has the shape of an opaque token and is readable in the JWT (and often
/// logged): presented alone as a bearer token, it finds nothing — not at the resource
/// guard, not at introspection, and revoking it revokes nothing.
#[tokio::test]
async fn the_bare_jti_is_no_token() {
    let (server, _keys, _signer) = jwt_server();
    let token = server
        .client_credentials_token(CONF_ID, CONF_SECRET, "read")
        .await;
    let jti = claims_of(&token)["jti"].as_str().unwrap().to_owned();
    assert_eq!(
        jti.matches('.').count(),
        1,
        "an opaque token's shape: {jti}"
    );
    assert!(
        server.is_active(&token).await,
        "the control: the JWT itself works"
    );
    assert!(!server.is_active(&jti).await);
    assert_eq!(server.introspect_ok(CONF, &jti).await["active"], false);
    server.revoke(CONF, &[("token", &jti)]).await;
    assert!(server.is_active(&token).await);
}

#[tokio::test]
async fn clients_choose_their_format() {
    let (server, keys, _) = jwt_server();
    let mut opaque_client = other_client(
        "opaque-app",
        "opaque-secret-000111222",
        "client_secret_basic",
        &["client_credentials"],
    );
    opaque_client
        .metadata
        .extras
        .insert::<AccessTokenFormat>("opaque".into());
    server.add_client(opaque_client);
    let opaque = server
        .client_credentials_token("opaque-app", "opaque-secret-000111222", "read")
        .await;
    assert_eq!(opaque.matches('.').count(), 1, "{opaque}");
    assert!(server.is_active(&opaque).await);

    // Opaque by default, JWT for the client that asks.
    let server = server_with(JwtAccessTokens::new(keys).jwt_by_default(false));
    let default = server
        .client_credentials_token(CONF_ID, CONF_SECRET, "read")
        .await;
    assert_eq!(default.matches('.').count(), 1);
    let mut jwt_client: ClientRecord = other_client(
        "jwt-app",
        "jwt-secret-000111222333",
        "client_secret_basic",
        &["client_credentials"],
    );
    jwt_client
        .metadata
        .extras
        .insert::<AccessTokenFormat>("jwt".into());
    server.add_client(jwt_client);
    let jwt = server
        .client_credentials_token("jwt-app", "jwt-secret-000111222333", "read")
        .await;
    assert_eq!(claims_of(&jwt)["client_id"], "jwt-app");
    assert!(server.is_active(&jwt).await);
}

/// Without a current key nothing is issued: a 500 with no token saved.
#[tokio::test]
async fn no_current_key_is_a_server_error_and_saves_nothing() {
    let (server, keys, _) = jwt_server();
    keys.replace(None);
    let before = server.store().tokens().unwrap().len();
    let response = server
        .post_token(
            CONF,
            &[("grant_type", "client_credentials"), ("scope", "read")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(json(&response)["error"], "server_error");
    assert_eq!(server.store().tokens().unwrap().len(), before);
}

/// RFC 9701: a caller accepting `application/token-introspection+jwt` gets the answer
/// signed; everyone else, and every error, still gets JSON.
#[tokio::test]
async fn introspection_answers_with_a_signed_jwt_when_asked() {
    use portcullis_core::{
        AuthorizationServer, ClientCredentialsGrant, IntrospectionEndpoint, MemoryStore,
        MetadataEndpoint, INTROSPECTION_JWT,
    };
    let signer = es256();
    let trusted = KeySet::from_jwk_set(
        &aws_lc_rs::provider(),
        &JwkSet::new(vec![signer.public_jwk()]),
        &Algorithm::ALL,
    );
    let keys = TestKeys::new(signer);
    let store = MemoryStore::new();
    store.insert_client(confidential_client()).unwrap();
    let clock = Arc::new(portcullis_core::ManualClock::new(START));
    let mut server = AuthorizationServer::new(store)
        .with_issuer(ISSUER)
        .with_clock(clock.clone());
    server
        .register_grant(ClientCredentialsGrant::new())
        .register_endpoint(IntrospectionEndpoint::new().with_jwt_responses(keys.clone()))
        .register_endpoint(MetadataEndpoint::new());
    let token_response = server
        .create_token_response(&token_request(
            CONF,
            &[("grant_type", "client_credentials"), ("scope", "read")],
        ))
        .await;
    let token = json(&token_response)["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let introspect = |token: &str, accept: Option<&str>, auth: Auth<'static>| {
        let mut request = form_request("/introspect", auth, &[("token", token)]);
        if let Some(accept) = accept {
            request
                .headers_mut()
                .insert("accept", accept.parse().unwrap());
        }
        request
    };
    let validation = Validation::new(START)
        .with_typ("token-introspection+jwt")
        .with_issuer(ISSUER)
        .with_audience([CONF_ID])
        .allow_missing_exp();

    let response = server
        .create_endpoint_response(
            "introspection",
            &introspect(&token, Some(INTROSPECTION_JWT), CONF),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], INTROSPECTION_JWT);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let jwt = std::str::from_utf8(response.body()).unwrap();
    let verified = jose::verify(jwt, &trusted, &validation).unwrap();
    assert_eq!(verified.claims["iat"], START);
    let inner = &verified.claims["token_introspection"];
    assert_eq!(inner["active"], true);
    assert_eq!(inner["client_id"], CONF_ID);
    assert_eq!(inner["scope"], "read");

    // An unknown token: a signed {"active": false}; a list of media types works too.
    let response = server
        .create_endpoint_response(
            "introspection",
            &introspect(
                "nope",
                Some("application/json;q=0.5, application/token-introspection+jwt"),
                CONF,
            ),
        )
        .await;
    let jwt = std::str::from_utf8(response.body()).unwrap();
    let verified = jose::verify(jwt, &trusted, &validation).unwrap();
    assert_eq!(
        verified.claims["token_introspection"],
        serde_json::json!({"active": false})
    );

    // Without the Accept header: JSON as before. A bad client: a JSON error.
    let plain = server
        .create_endpoint_response("introspection", &introspect(&token, None, CONF))
        .await;
    assert_eq!(plain.headers()["content-type"], "application/json");
    assert_eq!(json(&plain)["active"], true);
    let refused = server
        .create_endpoint_response(
            "introspection",
            &introspect(
                &token,
                Some(INTROSPECTION_JWT),
                Auth::Basic(CONF_ID, "wrong"),
            ),
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(json(&refused)["error"], "invalid_client");

    let metadata = server
        .create_endpoint_response(
            "metadata",
            &http::Request::get("/.well-known/oauth-authorization-server")
                .body(bytes::Bytes::new())
                .unwrap(),
        )
        .await;
    assert_eq!(
        json(&metadata)["introspection_signing_alg_values_supported"],
        serde_json::json!(["ES256"])
    );
}

/// A user who signed in at a known time.
struct SignedIn;

impl portcullis_core::User for SignedIn {
    fn subject(&self) -> &str {
        "alice"
    }

    fn auth_time(&self) -> Option<i64> {
        Some(START - 60)
    }
}

/// RFC 9068 §2.2.1: `auth_time` when known — from the sign-in, through the code, and
/// kept (the original time) by a refresh.
#[tokio::test]
async fn a_code_flow_jwt_carries_the_sign_in_time() {
    let (server, _keys, _) = jwt_server();
    let pkce = PkcePair::new();
    let request = authorize_request(&[
        ("response_type", "code"),
        ("client_id", CONF_ID),
        ("redirect_uri", CONF_REDIRECT),
        ("scope", "read"),
        ("state", STATE),
        ("code_challenge", &pkce.challenge),
        ("code_challenge_method", "S256"),
    ]);
    let response = server
        .server
        .create_authorization_response(&request, Some(&SignedIn))
        .await
        .unwrap();
    let location = response.headers()["location"].to_str().unwrap();
    let url = url::Url::parse(location).unwrap();
    let code = url
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let tokens = json(&server.redeem_conf(&code, &pkce.verifier).await);
    let claims = claims_of(tokens["access_token"].as_str().unwrap());
    assert_eq!(claims["auth_time"], START - 60);
    server.clock.advance(120);
    let refreshed = json(
        &server
            .refresh(tokens["refresh_token"].as_str().unwrap(), None)
            .await,
    );
    let claims = claims_of(refreshed["access_token"].as_str().unwrap());
    assert_eq!(claims["auth_time"], START - 60, "the original sign-in time");
    assert_eq!(claims["iat"], START + 120);
}
