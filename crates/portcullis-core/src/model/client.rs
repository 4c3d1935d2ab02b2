//! The [`Client`] trait (Authlib's `ClientMixin`) and [`ClientRecord`].

use serde::{Deserialize, Serialize};

use crate::redirect_uri::redirect_uri_matches;
use crate::scope::Scope;
use crate::secret::verify_secret;

/// Names of client authentication methods (RFC 7591 §2 `token_endpoint_auth_method`).
pub struct AuthMethod;

impl AuthMethod {
    /// HTTP Basic authentication with client_id and client_secret (RFC 6749 §2.3.1).
    pub const CLIENT_SECRET_BASIC: &'static str = "client_secret_basic";
    /// client_id and client_secret in the form body (RFC 6749 §2.3.1).
    pub const CLIENT_SECRET_POST: &'static str = "client_secret_post";
    /// A public client: client_id only, no secret (RFC 6749 §2.1).
    pub const NONE: &'static str = "none";
}

/// Names of the endpoints a client authenticates at.
pub struct EndpointName;

impl EndpointName {
    /// The token endpoint (RFC 6749 §3.2).
    pub const TOKEN: &'static str = "token";
    /// The revocation endpoint (RFC 7009).
    pub const REVOCATION: &'static str = "revocation";
    /// The introspection endpoint (RFC 7662).
    pub const INTROSPECTION: &'static str = "introspection";
}

/// A registered OAuth client, as the authorization server sees it.
///
/// Implement it on your own client model. Every `check_*` method answers one question
/// the protocol asks; none of them may panic.
pub trait Client: Send + Sync {
    /// The client identifier (RFC 6749 §2.2).
    fn client_id(&self) -> &str;

    /// The redirect URI used when the request names none: only sensible when exactly
    /// one is registered (RFC 6749 §3.1.2.3).
    fn default_redirect_uri(&self) -> Option<&str>;

    /// The part of `requested` this client may be granted. The server refuses a request
    /// with `invalid_scope` when this is narrower than what was asked.
    fn allowed_scope(&self, requested: &Scope) -> Scope;

    /// True when `redirect_uri` is registered for this client. Compare exactly (see
    /// [`redirect_uri_matches`]), never by substring or prefix.
    fn check_redirect_uri(&self, redirect_uri: &str) -> bool;

    /// True when `secret` is this client's secret. Store a hash and compare in
    /// constant time (see [`verify_secret`]).
    fn check_client_secret(&self, secret: &str) -> bool;

    /// True when the client may authenticate with `method` (an [`AuthMethod`] name) at
    /// `endpoint` (an [`EndpointName`]).
    fn check_endpoint_auth_method(&self, method: &str, endpoint: &str) -> bool;

    /// True when the client may use `response_type` at the authorization endpoint.
    fn check_response_type(&self, response_type: &str) -> bool;

    /// True when the client may use `grant_type` at the token endpoint.
    fn check_grant_type(&self, grant_type: &str) -> bool;

    /// True for a public client (RFC 6749 §2.1), one that cannot keep a secret. By
    /// default: a client that authenticates with `none` at the token endpoint. PKCE is
    /// always required of public clients.
    fn is_public(&self) -> bool {
        self.check_endpoint_auth_method(AuthMethod::NONE, EndpointName::TOKEN)
    }

    /// A name to show on consent pages; the client_id unless overridden.
    fn client_name(&self) -> &str {
        self.client_id()
    }

    /// The audiences (resource servers) the tokens issued to this client are meant for:
    /// their `aud`. None by default.
    fn audience(&self) -> Vec<String> {
        Vec::new()
    }

    /// True when this client may introspect (RFC 7662) a token issued to
    /// `token_client_id` for `token_audience`. By default a client may introspect only
    /// its own tokens.
    fn may_introspect(&self, token_client_id: &str, token_audience: &[String]) -> bool {
        let _ = token_audience;
        token_client_id == self.client_id()
    }
}

/// A ready [`Client`] implementation, storing the secret as a SHA-256 hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRecord {
    /// The client identifier.
    pub client_id: String,
    /// `hash_secret(client_secret)`; `None` for a public client.
    pub client_secret_hash: Option<String>,
    /// The name shown to users.
    pub client_name: String,
    /// Registered redirect URIs, matched exactly.
    pub redirect_uris: Vec<String>,
    /// The scope tokens the client may be granted.
    pub scope: Scope,
    /// Grant types the client may use.
    pub grant_types: Vec<String>,
    /// Response types the client may use.
    pub response_types: Vec<String>,
    /// The one authentication method the client uses at every endpoint.
    pub token_endpoint_auth_method: String,
    /// The `aud` of the tokens issued to this client: the resource servers it calls.
    #[serde(default)]
    pub audience: Vec<String>,
    /// When this client is a resource server: the audience it serves. It may then
    /// introspect every token carrying that audience, besides its own tokens.
    #[serde(default)]
    pub resource_server_audience: Option<String>,
}

impl Client for ClientRecord {
    fn client_id(&self) -> &str {
        &self.client_id
    }

    fn default_redirect_uri(&self) -> Option<&str> {
        match self.redirect_uris.as_slice() {
            [only] => Some(only),
            _ => None,
        }
    }

    fn allowed_scope(&self, requested: &Scope) -> Scope {
        requested.intersection(&self.scope)
    }

    fn check_redirect_uri(&self, redirect_uri: &str) -> bool {
        self.redirect_uris
            .iter()
            .any(|registered| redirect_uri_matches(registered, redirect_uri))
    }

    fn check_client_secret(&self, secret: &str) -> bool {
        self.client_secret_hash
            .as_deref()
            .is_some_and(|hash| verify_secret(secret, hash))
    }

    fn check_endpoint_auth_method(&self, method: &str, _endpoint: &str) -> bool {
        self.token_endpoint_auth_method == method
    }

    fn check_response_type(&self, response_type: &str) -> bool {
        self.response_types.iter().any(|rt| rt == response_type)
    }

    fn check_grant_type(&self, grant_type: &str) -> bool {
        self.grant_types.iter().any(|gt| gt == grant_type)
    }

    fn client_name(&self) -> &str {
        &self.client_name
    }

    fn audience(&self) -> Vec<String> {
        self.audience.clone()
    }

    fn may_introspect(&self, token_client_id: &str, token_audience: &[String]) -> bool {
        token_client_id == self.client_id
            || self
                .resource_server_audience
                .as_ref()
                .is_some_and(|served| token_audience.contains(served))
    }
}
