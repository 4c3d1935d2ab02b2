//! JWT client authentication in `portcullis serve` (RFC 7523 §2.2, OpenID Connect
//! Core §9): what the core's [`PrivateKeyJwt`] and [`ClientSecretJwt`] need from the
//! server — the SSRF-guarded fetch of a client's `jwks_uri` ([`GuardedJwksFetcher`])
//! and the recoverable secrets of `client_secret_jwt` clients
//! ([`SealedClientSecrets`]), sealed with the key-encryption key (AES-256-GCM, bound
//! to the client_id) in the client's metadata extras under
//! [`SEALED_CLIENT_SECRET`].

use std::sync::Arc;

use async_trait::async_trait;
use portcullis_axum::fetch::AddressPolicy;
use portcullis_core::{
    AuthorizationServer, Client, ClientSecretJwt, ClientSecretSource, Clock, EndpointName,
    JwksFetcher, JwtClientAuthConfig, OAuthError, PrivateKeyJwt, RandomSource,
    SEALED_CLIENT_SECRET,
};
use portcullis_sql::SqlStore;

use crate::keys::{open_bytes, seal_bytes, Kek, KeyError};

/// The largest JWK Set read from a client's `jwks_uri`.
pub const MAX_JWKS_BYTES: usize = 64 * 1024;

/// What a refusal to register a `client_secret_jwt` client without a key-encryption
/// key says.
pub const NEEDS_KEK: &str = "a client_secret_jwt client needs its secret kept recoverable \
     (it is the HMAC key of its assertions), encrypted with a key-encryption key: set \
     PORTCULLIS_KEY_ENCRYPTION_KEY (or key_encryption_key / key_encryption_key_file; \
     generate one with `openssl rand -base64 32`), or use another auth method";

/// Fetches clients' `jwks_uri` documents through the fetch guard
/// ([`portcullis_axum::fetch::get_public_document`]): https to public addresses (or
/// those `fetch_allowed_addresses` names), no redirects, a timeout, at most
/// [`MAX_JWKS_BYTES`].
#[derive(Debug, Clone)]
pub struct GuardedJwksFetcher {
    policy: AddressPolicy,
}

impl GuardedJwksFetcher {
    /// A fetcher reaching what `policy` permits.
    pub fn new(policy: AddressPolicy) -> Self {
        Self { policy }
    }
}

#[async_trait]
impl JwksFetcher for GuardedJwksFetcher {
    async fn fetch_jwks(&self, url: &str) -> Result<Vec<u8>, String> {
        portcullis_axum::fetch::get_public_document(url, MAX_JWKS_BYTES, &self.policy).await
    }
}

/// What binds a sealed client secret to its client: another client's ciphertext does
/// not open here.
fn aad(client_id: &str) -> String {
    format!("portcullis client secret {client_id}")
}

/// Seals `secret` of client `client_id` with `kek`, for [`SEALED_CLIENT_SECRET`].
pub fn seal_client_secret(
    kek: &Kek,
    random: &dyn RandomSource,
    client_id: &str,
    secret: &str,
) -> Result<String, KeyError> {
    seal_bytes(Some(kek), random, &aad(client_id), secret.as_bytes())
        .map_err(|()| KeyError::Crypto("sealing a client secret failed".into()))
}

/// The secrets of `client_secret_jwt` clients, opened with the key-encryption key.
#[derive(Debug)]
pub struct SealedClientSecrets {
    kek: Option<Kek>,
}

impl SealedClientSecrets {
    /// Secrets opened with `kek` (none: no secret can be opened).
    pub fn new(kek: Option<Kek>) -> Self {
        Self { kek }
    }
}

impl ClientSecretSource for SealedClientSecrets {
    fn client_secret(&self, client: &dyn Client) -> Result<Option<Vec<u8>>, OAuthError> {
        let Some(stored) = client
            .metadata()
            .extras
            .get_raw(SEALED_CLIENT_SECRET)
            .and_then(serde_json::Value::as_str)
        else {
            return Ok(None);
        };
        match open_bytes(self.kek.as_ref(), stored, &aad(client.client_id())) {
            Ok(secret) => Ok(Some(secret)),
            Err(reason) => {
                tracing::error!(client_id = %client.client_id(), reason, "the client's sealed secret cannot be opened");
                Ok(None)
            }
        }
    }
}

/// Registers `private_key_jwt` and `client_secret_jwt` on `server`: assertions for its
/// issuer or the URL of the endpoint they are presented at, checked with `clock`;
/// `jwks_uri`s fetched under `policy`; secrets opened with `kek`; assertions living at most `max_lifetime` seconds
/// (`client_assertion_max_lifetime`).
pub fn register(
    server: &mut AuthorizationServer<SqlStore>,
    issuer: &str,
    clock: Arc<dyn Clock>,
    policy: AddressPolicy,
    kek: Option<Kek>,
    max_lifetime: i64,
) {
    let mut config = JwtClientAuthConfig::new(issuer, clock).with_max_lifetime(max_lifetime);
    for endpoint in [
        EndpointName::TOKEN,
        EndpointName::REVOCATION,
        EndpointName::INTROSPECTION,
    ] {
        if let Some(url) = server.endpoint_url(endpoint) {
            config = config.with_endpoint_url(endpoint, url);
        }
    }
    let private_key_jwt =
        PrivateKeyJwt::new(config.clone(), portcullis_core::jose::aws_lc_rs::provider())
            .with_fetcher(Arc::new(GuardedJwksFetcher::new(policy)));
    server
        .register_client_authenticator(private_key_jwt)
        .register_client_authenticator(ClientSecretJwt::new(
            config,
            Arc::new(SealedClientSecrets::new(kek)),
        ));
}
