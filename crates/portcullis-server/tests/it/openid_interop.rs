//! Interoperability (issue 12): the Rust `openidconnect` crate, a relying-party library
//! no one here wrote, signs a user in against `portcullis serve` as it would against
//! any provider — discovery, code + PKCE + nonce, ID token verification with the keys
//! it fetched itself, `at_hash`, UserInfo, and a refresh.

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use portcullis_core::{hash_secret, ClientRecord};

use crate::support::*;

const RP: &str = "interop-rp";
const RP_SECRET: &str = "interop-rp-secret-0f3b7a2c5d";
const RP_REDIRECT: &str = "https://rp.example/oidc/callback";

/// The relying party signs in against a server whose issuer is its address plus
/// `path` (`""`, or `/auth`: issue 12's issuer with a path).
async fn relying_party_signs_in(db: TestDb, path: &str) {
    let store = seed(&db).await;
    store
        .insert_client(
            &ClientRecord::new(RP)
                .with_secret_hash(hash_secret(RP_SECRET))
                .with_name("openidconnect-rs")
                .with_redirect_uris(vec![RP_REDIRECT])
                .with_scope(
                    portcullis_core::Scope::parse("openid profile email offline_access").unwrap(),
                )
                .with_grant_types(vec!["authorization_code", "refresh_token"])
                .with_response_types(vec!["code"])
                .with_auth_method("client_secret_basic"),
        )
        .await
        .unwrap();
    let server = TestServer::start_on(&db, store, |config| {
        let origin = config.http.issuer.take().unwrap();
        config.http.issuer = Some(format!("{origin}{path}"));
    })
    .await;
    let issuer = server.url(path);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(issuer.clone()).unwrap(), &http)
            .await
            .expect("openidconnect accepts the discovery document and the JWK Set");
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(RP.into()),
        Some(ClientSecret::new(RP_SECRET.into())),
    )
    .set_redirect_uri(RedirectUrl::new(RP_REDIRECT.into()).unwrap());

    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        // A refresh token comes only with offline_access (OpenID Connect Core §11).
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();

    let browser = browser();
    let (consent, consent_url) =
        sign_in_from(&browser, &server.base, url.to_string(), USERNAME, PASSWORD).await;
    assert!(
        consent_url.starts_with(&format!("{issuer}/consent?")),
        "{consent_url}"
    );
    let form = parse_form(&consent.text().await.unwrap());
    let response = submit(&browser, &server.base, &form, &[("decision", "allow")]).await;
    let callback = query(&location(&server.base, &response));
    assert_eq!(callback["state"], *state.secret());

    let token = client
        .exchange_code(AuthorizationCode::new(callback["code"].clone()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("the token response parses");
    let id_token = token.id_token().expect("an ID token");
    let id_verifier = client.id_token_verifier();
    let claims = id_token
        .claims(&id_verifier, &nonce)
        .expect("the ID token verifies: signature, iss, aud, exp, nonce");
    let expected_hash = claims.access_token_hash().expect("at_hash");
    let actual_hash = AccessTokenHash::from_token(
        token.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&id_verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(*expected_hash, actual_hash);
    assert!(claims.auth_time().is_some());
    let subject = claims.subject().clone();

    let info: CoreUserInfoClaims = client
        .user_info(token.access_token().to_owned(), Some(subject.clone()))
        .unwrap()
        .request_async(&http)
        .await
        .expect("UserInfo answers for the ID token's subject");
    assert_eq!(
        info.email().map(|e| e.as_str().to_owned()),
        Some("alice@example.com".to_owned())
    );
    assert_eq!(
        info.preferred_username().map(|u| u.as_str().to_owned()),
        Some(USERNAME.to_owned())
    );

    let refreshed = client
        .exchange_refresh_token(token.refresh_token().expect("a refresh token"))
        .unwrap()
        .request_async(&http)
        .await
        .expect("the refresh response parses");
    let again = refreshed
        .id_token()
        .expect("an ID token on refresh")
        .claims(&id_verifier, |_: Option<&Nonce>| Ok(()))
        .expect("the refreshed ID token verifies");
    assert_eq!(again.subject(), &subject);
    assert_eq!(again.auth_time(), claims.auth_time());
    assert!(again.nonce().is_none());
    db.drop_db().await;
}

#[tokio::test]
async fn the_openidconnect_crate_signs_in_on_sqlite() {
    relying_party_signs_in(TestDb::sqlite(), "").await;
}

#[tokio::test]
async fn the_openidconnect_crate_signs_in_with_an_issuer_path() {
    relying_party_signs_in(TestDb::sqlite(), "/auth").await;
}

#[tokio::test]
#[cfg_attr(not(pg_tests), ignore = "PORTCULLIS_TEST_POSTGRES_URL is not set")]
async fn the_openidconnect_crate_signs_in_on_postgres() {
    relying_party_signs_in(TestDb::postgres().await, "").await;
}
