//! The [`Client`] trait (Authlib's `ClientMixin`), [`ClientRecord`] and the rest of a
//! client's registration, [`ClientMetadata`].

use serde::{Deserialize, Serialize};

use super::extras::Extras;
use crate::error::OAuthError;
use crate::redirect_uri::{redirect_uri_matches_with, RedirectUriMatching};
use crate::scope::Scope;
use crate::secret::verify_secret;

/// Names of client authentication methods (RFC 7591 §2 `token_endpoint_auth_method`).
#[derive(Debug)]
#[non_exhaustive]
pub struct AuthMethod;

impl AuthMethod {
    /// HTTP Basic authentication with client_id and client_secret (RFC 6749 §2.3.1).
    pub const CLIENT_SECRET_BASIC: &'static str = "client_secret_basic";
    /// client_id and client_secret in the form body (RFC 6749 §2.3.1).
    pub const CLIENT_SECRET_POST: &'static str = "client_secret_post";
    /// A public client: client_id only, no secret (RFC 6749 §2.1).
    pub const NONE: &'static str = "none";
    /// A JWT assertion signed with the client's private key, whose public keys it
    /// registered (`jwks` or `jwks_uri`) (RFC 7523 §2.2, OpenID Connect Core §9).
    pub const PRIVATE_KEY_JWT: &'static str = "private_key_jwt";
    /// A JWT assertion MACed (HS256, HS384, HS512) with the client's secret (OpenID
    /// Connect Core §9).
    pub const CLIENT_SECRET_JWT: &'static str = "client_secret_jwt";

    /// True for the methods that present the client secret itself
    /// (`client_secret_basic`, `client_secret_post`): the same secret, the same
    /// strength, only carried differently.
    pub fn is_secret_method(method: &str) -> bool {
        method == Self::CLIENT_SECRET_BASIC || method == Self::CLIENT_SECRET_POST
    }
}

/// The client metadata member (`true`) by which a [`ClientRecord`] registered with
/// `client_secret_basic` or `client_secret_post` may use only that method. Without it
/// the two are interchangeable: the same secret sent either way (many client libraries
/// send `client_secret_post` whenever they hold a secret, whatever was registered).
/// `none` and the secret methods are never interchangeable.
pub const STRICT_AUTH_METHOD: &str = "strict_auth_method";

/// The extras member ([`ClientMetadata::extras`]) where a server keeps the secret of
/// a `client_secret_jwt` client in a recoverable form (`portcullis serve` seals it
/// with its key-encryption key): the HMAC key of its assertions, which a hash cannot
/// give back. [`ClientRecord::registration_metadata`] never shows it.
pub const SEALED_CLIENT_SECRET: &str = "client_secret_sealed";

/// Names of the endpoints a client authenticates at.
#[derive(Debug)]
#[non_exhaustive]
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
    /// [`redirect_uri_matches`](crate::redirect_uri::redirect_uri_matches)), never by substring or prefix.
    fn check_redirect_uri(&self, redirect_uri: &str) -> bool;

    /// Like [`check_redirect_uri`](Self::check_redirect_uri), with the server's
    /// [`RedirectUriMatching`] (an `http://localhost` port leeway). By default the
    /// options are ignored: implement it (with [`redirect_uri_matches_with`]) to
    /// honour them.
    fn check_redirect_uri_with(&self, redirect_uri: &str, matching: RedirectUriMatching) -> bool {
        let _ = matching;
        self.check_redirect_uri(redirect_uri)
    }

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

    /// The resources (RFC 8707 resource indicators, absolute URIs) this client may ask
    /// for a token for, besides the audiences of the registered resource servers
    /// (which every client may ask for). None by default.
    fn allowed_resources(&self) -> Vec<String> {
        Vec::new()
    }

    /// True when this client may introspect (RFC 7662) a token issued to
    /// `token_client_id` for `token_audience`. By default a client may introspect only
    /// its own tokens.
    fn may_introspect(&self, token_client_id: &str, token_audience: &[String]) -> bool {
        let _ = token_audience;
        token_client_id == self.client_id()
    }

    /// The client's other registration metadata (OpenID Connect algorithms, logout
    /// URIs, keys...); none by default.
    fn metadata(&self) -> &ClientMetadata {
        &NO_METADATA
    }

    /// The client's sector identifier (OpenID Connect Core §8.1), for pairwise
    /// subjects: the host of its `sector_identifier_uri`, else the host of its
    /// redirect URIs when they share one. By default, from the metadata and the
    /// [`default_redirect_uri`](Self::default_redirect_uri); implementations that
    /// hold several redirect URIs say so.
    fn sector_identifier(&self) -> Option<String> {
        let redirect: Vec<String> = self
            .default_redirect_uri()
            .map(str::to_owned)
            .into_iter()
            .collect();
        crate::subject::sector_identifier(
            self.metadata().sector_identifier_uri.as_deref(),
            &redirect,
        )
        .ok()
    }
}

/// A ready [`Client`] implementation, storing the secret as a SHA-256 hash.
///
/// The fields a store looks clients up by or checks on every request are fields here;
/// every other registration member (RFC 7591 §2, OpenID Connect Registration §2) lives
/// in [`metadata`](Self::metadata), which a store keeps whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
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
    /// The authentication method the client registered, for every endpoint; a secret
    /// method (`client_secret_basic`, `client_secret_post`) admits the other one too
    /// unless the client is [strict](STRICT_AUTH_METHOD).
    pub token_endpoint_auth_method: String,
    /// The `aud` of the tokens issued to this client: the resource servers it calls.
    #[serde(default)]
    pub audience: Vec<String>,
    /// When this client is a resource server: the audience it serves. It may then
    /// introspect every token carrying that audience, besides its own tokens.
    #[serde(default)]
    pub resource_server_audience: Option<String>,
    /// Every other registration member, and the application's own extras.
    #[serde(default)]
    pub metadata: ClientMetadata,
}

impl ClientRecord {
    /// A client `client_id`, named after its id, authenticating with
    /// `client_secret_basic` (and no secret yet), with no redirect URI, scope, grant
    /// type or response type: set what it may do with the `with_*` methods or the
    /// fields.
    pub fn new(client_id: impl Into<String>) -> Self {
        let client_id = client_id.into();
        Self {
            client_name: client_id.clone(),
            client_id,
            client_secret_hash: None,
            redirect_uris: Vec::new(),
            scope: Scope::empty(),
            grant_types: Vec::new(),
            response_types: Vec::new(),
            token_endpoint_auth_method: AuthMethod::CLIENT_SECRET_BASIC.to_owned(),
            audience: Vec::new(),
            resource_server_audience: None,
            metadata: ClientMetadata::default(),
        }
    }

    /// Sets the stored secret hash ([`hash_secret`](crate::hash_secret) of the secret).
    pub fn with_secret_hash(mut self, hash: impl Into<String>) -> Self {
        self.client_secret_hash = Some(hash.into());
        self
    }

    /// Sets the name shown to users.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.client_name = name.into();
        self
    }

    /// Sets the registered redirect URIs.
    pub fn with_redirect_uris<I: IntoIterator<Item = impl Into<String>>>(
        mut self,
        uris: I,
    ) -> Self {
        self.redirect_uris = uris.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the scope the client may be granted.
    pub fn with_scope(mut self, scope: Scope) -> Self {
        self.scope = scope;
        self
    }

    /// Sets the grant types the client may use.
    pub fn with_grant_types<I: IntoIterator<Item = impl Into<String>>>(mut self, types: I) -> Self {
        self.grant_types = types.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the response types the client may use.
    pub fn with_response_types<I: IntoIterator<Item = impl Into<String>>>(
        mut self,
        types: I,
    ) -> Self {
        self.response_types = types.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the authentication method ([`AuthMethod`]).
    pub fn with_auth_method(mut self, method: impl Into<String>) -> Self {
        self.token_endpoint_auth_method = method.into();
        self
    }

    /// Sets the audiences of the client's tokens.
    pub fn with_audience<I: IntoIterator<Item = impl Into<String>>>(mut self, audience: I) -> Self {
        self.audience = audience.into_iter().map(Into::into).collect();
        self
    }

    /// Makes the client a resource server for `audience`.
    pub fn with_resource_server_audience(mut self, audience: impl Into<String>) -> Self {
        self.resource_server_audience = Some(audience.into());
        self
    }

    /// True when the client registered [`STRICT_AUTH_METHOD`]: it may authenticate
    /// with its `token_endpoint_auth_method` only.
    pub fn strict_auth_method(&self) -> bool {
        self.metadata
            .extras
            .get_raw(STRICT_AUTH_METHOD)
            .and_then(serde_json::Value::as_bool)
            == Some(true)
    }

    /// Sets the other registration members.
    pub fn with_metadata(mut self, metadata: ClientMetadata) -> Self {
        self.metadata = metadata;
        self
    }

    /// The client's registration metadata as RFC 7591 §2 members (what dynamic
    /// registration echoes back): the fields of this record (`redirect_uris`,
    /// `token_endpoint_auth_method`, `grant_types`, `response_types`, `client_name`,
    /// `scope`) and every member of [`metadata`](Self::metadata), its extras included.
    /// Never the secret or its hash.
    pub fn registration_metadata(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut document = match serde_json::to_value(&self.metadata) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        };
        document.remove(SEALED_CLIENT_SECRET);
        document.insert("client_name".into(), self.client_name.clone().into());
        document.insert("redirect_uris".into(), self.redirect_uris.clone().into());
        document.insert(
            "token_endpoint_auth_method".into(),
            self.token_endpoint_auth_method.clone().into(),
        );
        document.insert("grant_types".into(), self.grant_types.clone().into());
        document.insert("response_types".into(), self.response_types.clone().into());
        if !self.scope.is_empty() {
            document.insert("scope".into(), self.scope.to_string().into());
        }
        document
    }
}

/// The registration members of a client (RFC 7591 §2, OpenID Connect Dynamic Client
/// Registration 1.0 §2, and the logout, DPoP and PAR specifications' additions) that a
/// [`ClientRecord`] does not hold as fields of its own. Every member is optional;
/// members nobody here knows are kept in [`extras`](Self::extras).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ClientMetadata {
    /// `client_uri`: the client's home page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_uri: Option<String>,
    /// `logo_uri`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    /// `contacts`: people responsible for the client.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<String>,
    /// `tos_uri`: terms of service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tos_uri: Option<String>,
    /// `policy_uri`: privacy policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_uri: Option<String>,
    /// `jwks_uri`: where the client's public keys are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// `jwks`: the client's public keys, by value (a JWK Set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<serde_json::Value>,
    /// `software_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_id: Option<String>,
    /// `software_version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_version: Option<String>,
    /// `application_type`: `web` (the default) or `native`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_type: Option<String>,
    /// `sector_identifier_uri`, for pairwise subjects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sector_identifier_uri: Option<String>,
    /// `subject_type`: `public` or `pairwise`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_type: Option<String>,
    /// `id_token_signed_response_alg`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_signed_response_alg: Option<String>,
    /// `id_token_encrypted_response_alg`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_encrypted_response_alg: Option<String>,
    /// `id_token_encrypted_response_enc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_encrypted_response_enc: Option<String>,
    /// `userinfo_signed_response_alg`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo_signed_response_alg: Option<String>,
    /// `userinfo_encrypted_response_alg`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo_encrypted_response_alg: Option<String>,
    /// `userinfo_encrypted_response_enc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo_encrypted_response_enc: Option<String>,
    /// `request_object_signing_alg`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_object_signing_alg: Option<String>,
    /// `request_object_encryption_alg`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_object_encryption_alg: Option<String>,
    /// `request_object_encryption_enc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_object_encryption_enc: Option<String>,
    /// `token_endpoint_auth_signing_alg`, for JWT client authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_signing_alg: Option<String>,
    /// `default_max_age`, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_max_age: Option<i64>,
    /// `require_auth_time`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_auth_time: Option<bool>,
    /// `default_acr_values`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub default_acr_values: Vec<String>,
    /// `initiate_login_uri`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initiate_login_uri: Option<String>,
    /// `request_uris`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub request_uris: Vec<String>,
    /// `post_logout_redirect_uris` (OpenID Connect RP-Initiated Logout §3.1).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_logout_redirect_uris: Vec<String>,
    /// `backchannel_logout_uri` (OpenID Connect Back-Channel Logout §2.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backchannel_logout_uri: Option<String>,
    /// `backchannel_logout_session_required`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backchannel_logout_session_required: Option<bool>,
    /// `frontchannel_logout_uri` (OpenID Connect Front-Channel Logout §2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frontchannel_logout_uri: Option<String>,
    /// `frontchannel_logout_session_required`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frontchannel_logout_session_required: Option<bool>,
    /// `dpop_bound_access_tokens` (RFC 9449 §5.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_bound_access_tokens: Option<bool>,
    /// `require_pushed_authorization_requests` (RFC 9126 §6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_pushed_authorization_requests: Option<bool>,
    /// Every other member: ones a later specification defines, and the application's.
    #[serde(flatten)]
    pub extras: Extras,
}

impl ClientMetadata {
    /// No member set.
    pub fn new() -> Self {
        Self::default()
    }

    /// True when no member is set (a store may then skip writing it).
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// A client's metadata when it has none of its own (the default of
/// [`Client::metadata`]).
static NO_METADATA: ClientMetadata = ClientMetadata {
    client_uri: None,
    logo_uri: None,
    contacts: Vec::new(),
    tos_uri: None,
    policy_uri: None,
    jwks_uri: None,
    jwks: None,
    software_id: None,
    software_version: None,
    application_type: None,
    sector_identifier_uri: None,
    subject_type: None,
    id_token_signed_response_alg: None,
    id_token_encrypted_response_alg: None,
    id_token_encrypted_response_enc: None,
    userinfo_signed_response_alg: None,
    userinfo_encrypted_response_alg: None,
    userinfo_encrypted_response_enc: None,
    request_object_signing_alg: None,
    request_object_encryption_alg: None,
    request_object_encryption_enc: None,
    token_endpoint_auth_signing_alg: None,
    default_max_age: None,
    require_auth_time: None,
    default_acr_values: Vec::new(),
    initiate_login_uri: None,
    request_uris: Vec::new(),
    post_logout_redirect_uris: Vec::new(),
    backchannel_logout_uri: None,
    backchannel_logout_session_required: None,
    frontchannel_logout_uri: None,
    frontchannel_logout_session_required: None,
    dpop_bound_access_tokens: None,
    require_pushed_authorization_requests: None,
    extras: Extras::EMPTY,
};

/// Checks a requested scope against what the client may have: every requested token
/// must be allowed, or the request fails with `invalid_scope` naming the others.
pub fn check_scope<C: Client + ?Sized>(client: &C, requested: &Scope) -> Result<Scope, OAuthError> {
    let allowed = client.allowed_scope(requested);
    if requested.is_subset_of(&allowed) {
        // Never more than was asked, whatever `allowed_scope` returns.
        return Ok(requested.clone());
    }
    let refused: Vec<&str> = requested.iter().filter(|t| !allowed.contains(t)).collect();
    Err(OAuthError::invalid_scope(format!(
        "this client may not request the scope '{}'",
        refused.join(" ")
    )))
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
        self.check_redirect_uri_with(redirect_uri, RedirectUriMatching::default())
    }

    fn check_redirect_uri_with(&self, redirect_uri: &str, matching: RedirectUriMatching) -> bool {
        self.redirect_uris
            .iter()
            .any(|registered| redirect_uri_matches_with(registered, redirect_uri, matching))
    }

    fn check_client_secret(&self, secret: &str) -> bool {
        self.client_secret_hash
            .as_deref()
            .is_some_and(|hash| verify_secret(secret, hash))
    }

    /// The registered method; and, unless the client registered
    /// [`STRICT_AUTH_METHOD`], the other secret method when the registered one is
    /// `client_secret_basic` or `client_secret_post`. `none` only ever matches `none`.
    fn check_endpoint_auth_method(&self, method: &str, _endpoint: &str) -> bool {
        let registered = self.token_endpoint_auth_method.as_str();
        registered == method
            || (AuthMethod::is_secret_method(registered)
                && AuthMethod::is_secret_method(method)
                && !self.strict_auth_method())
    }

    /// Compared as sets: a client registered for `id_token code` may send
    /// `code id_token`.
    fn check_response_type(&self, response_type: &str) -> bool {
        use crate::response_type::canonical_response_type;
        if self.response_types.iter().any(|rt| rt == response_type) {
            return true;
        }
        let Some(wanted) = canonical_response_type(response_type) else {
            return false;
        };
        self.response_types
            .iter()
            .any(|rt| canonical_response_type(rt).as_deref() == Some(wanted.as_str()))
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

    /// The `allowed_resources` of the metadata extras ([`AllowedResources`]).
    ///
    /// [`AllowedResources`]: super::AllowedResources
    fn allowed_resources(&self) -> Vec<String> {
        self.metadata
            .extras
            .get::<super::AllowedResources>()
            .unwrap_or_default()
    }

    fn may_introspect(&self, token_client_id: &str, token_audience: &[String]) -> bool {
        token_client_id == self.client_id
            || self
                .resource_server_audience
                .as_ref()
                .is_some_and(|served| token_audience.contains(served))
    }

    fn metadata(&self) -> &ClientMetadata {
        &self.metadata
    }

    fn sector_identifier(&self) -> Option<String> {
        crate::subject::sector_identifier(
            self.metadata.sector_identifier_uri.as_deref(),
            &self.redirect_uris,
        )
        .ok()
    }
}
