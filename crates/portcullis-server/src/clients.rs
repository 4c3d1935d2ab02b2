//! Client registration rules, in one place: what makes a client valid (grant and
//! response types that fit together, exact and safe redirect URIs, an authentication
//! method a public client may use, audiences without spaces), its new `client_id` and
//! secret. The CLI uses it today; an admin API and dynamic registration (RFC 7591) will
//! share it.

use portcullis_core::jose::{Algorithm, HmacAlgorithm};
use portcullis_core::model::AllowedResources;
use portcullis_core::random::random_token;
use portcullis_core::redirect_uri::validate_redirect_uri;
use portcullis_core::subject;
use portcullis_core::{AuthMethod, ClientRecord, RandomSource, Scope};

/// The response types a client may register: OAuth's `code` and `token`, and OpenID
/// Connect's implicit and hybrid ones (canonical order).
pub const KNOWN_RESPONSE_TYPES: [&str; 7] = [
    "code",
    "token",
    "id_token",
    "id_token token",
    "code id_token",
    "code token",
    "code id_token token",
];
/// The grant types a client may be registered for.
pub const GRANT_TYPES: &[&str] = &[
    "authorization_code",
    "client_credentials",
    "refresh_token",
    "password",
    "implicit",
];

/// What someone asks to register, before it is checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientRegistration {
    /// The name shown on the consent page.
    pub name: String,
    /// Redirect URIs, matched exactly.
    pub redirect_uris: Vec<String>,
    /// Grant types; none means `authorization_code` and `refresh_token`.
    pub grant_types: Vec<String>,
    /// Response types; none means what the grant types imply.
    pub response_types: Vec<String>,
    /// Space-separated scopes the client may request.
    pub scope: String,
    /// `client_secret_basic`, `client_secret_post` or `none` (a public client).
    pub auth_method: String,
    /// The client may use its secret method only, not the other one too
    /// ([`portcullis_core::STRICT_AUTH_METHOD`]).
    pub strict_auth_method: bool,
    /// The audiences (resource servers) its tokens are for.
    pub audience: Vec<String>,
    /// Makes the client a resource server for this audience: it may introspect every
    /// token issued for it.
    pub resource_server_audience: Option<String>,
    /// `jwt` or `opaque` access tokens; none: the server's `access_token_format`.
    pub access_token_format: Option<String>,
    /// Where RP-Initiated Logout may return the browser, matched exactly.
    pub post_logout_redirect_uris: Vec<String>,
    /// The ID token algorithm (OpenID Connect Registration §2); none: RS256.
    pub id_token_signed_response_alg: Option<String>,
    /// The UserInfo signing algorithm; none: JSON answers.
    pub userinfo_signed_response_alg: Option<String>,
    /// `required` or `optional` (confidential clients only); none: required.
    pub pkce: Option<String>,
    /// `public` or `pairwise` (OpenID Connect Core §8); none: public.
    pub subject_type: Option<String>,
    /// Where the JSON array of the client's redirect URIs is (Registration §5): its
    /// host is the client's sector.
    pub sector_identifier_uri: Option<String>,
    /// Where the server POSTs logout tokens when a session the client signed into ends
    /// (Back-Channel Logout §2.2).
    pub backchannel_logout_uri: Option<String>,
    /// Resources (RFC 8707 resource indicators: absolute URIs without a fragment) the
    /// client may ask for besides the registered resource servers' audiences.
    pub allowed_resources: Vec<String>,
    /// Where the client's public keys are (a JWK Set, for `private_key_jwt`); exclusive
    /// with `jwks`.
    pub jwks_uri: Option<String>,
    /// The client's public keys, a JWK Set as JSON text (for `private_key_jwt`);
    /// exclusive with `jwks_uri`.
    pub jwks: Option<String>,
    /// The one algorithm the client signs its assertions with (`private_key_jwt`: RS256,
    /// PS256, ES256, EdDSA; `client_secret_jwt`: HS256, HS384, HS512); none: any.
    pub token_endpoint_auth_signing_alg: Option<String>,
}

/// Why a registration was refused, in words for whoever asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RegistrationError(String);

fn fail(message: impl Into<String>) -> RegistrationError {
    RegistrationError(message.into())
}

/// Checks `registration` and makes it a client record, without id or secret yet.
pub fn validate(registration: &ClientRegistration) -> Result<ClientRecord, RegistrationError> {
    if registration.name.trim().is_empty() {
        return Err(fail("the client name must not be empty"));
    }
    let mut grant_types = registration.grant_types.clone();
    if grant_types.is_empty() {
        grant_types = vec!["authorization_code".into(), "refresh_token".into()];
    }
    for gt in &grant_types {
        if !GRANT_TYPES.contains(&gt.as_str()) {
            return Err(fail(format!(
                "unknown grant type '{gt}'; use one of: {}",
                GRANT_TYPES.join(", ")
            )));
        }
    }
    grant_types.dedup();
    let mut response_types = registration.response_types.clone();
    if response_types.is_empty() {
        if grant_types.iter().any(|g| g == "authorization_code") {
            response_types.push("code".into());
        }
        if grant_types.iter().any(|g| g == "implicit") {
            response_types.push("token".into());
        }
    }
    // Stored as sets in the canonical order (`id_token code` is `code id_token`); each
    // needs the grant types OpenID Connect Registration §2 pairs it with.
    for rt in response_types.iter_mut() {
        let canonical = portcullis_core::grants::canonical_response_type(rt)
            .filter(|c| KNOWN_RESPONSE_TYPES.contains(&c.as_str()))
            .ok_or_else(|| {
                fail(format!(
                    "unknown response type '{rt}'; use {}",
                    KNOWN_RESPONSE_TYPES.join(", ")
                ))
            })?;
        let mut needs = Vec::new();
        if canonical.split(' ').any(|part| part == "code") {
            needs.push("authorization_code");
        }
        if canonical
            .split(' ')
            .any(|part| part == "token" || part == "id_token")
        {
            needs.push("implicit");
        }
        for needed in needs {
            if !grant_types.iter().any(|g| g == needed) {
                return Err(fail(format!(
                    "response type '{canonical}' needs the '{needed}' grant type"
                )));
            }
        }
        *rt = canonical;
    }
    response_types.sort_unstable();
    response_types.dedup();
    let method = registration.auth_method.as_str();
    if ![
        AuthMethod::CLIENT_SECRET_BASIC,
        AuthMethod::CLIENT_SECRET_POST,
        AuthMethod::NONE,
        AuthMethod::PRIVATE_KEY_JWT,
        AuthMethod::CLIENT_SECRET_JWT,
    ]
    .contains(&method)
    {
        return Err(fail(format!(
            "unknown auth method '{method}'; use client_secret_basic, client_secret_post, \
             client_secret_jwt, private_key_jwt or none"
        )));
    }
    if method == AuthMethod::NONE && grant_types.iter().any(|g| g == "client_credentials") {
        return Err(fail(
            "a public client (auth method none) cannot use client_credentials",
        ));
    }
    for uri in &registration.redirect_uris {
        validate_redirect_uri(uri).map_err(|e| fail(e.to_string()))?;
    }
    if !response_types.is_empty() && registration.redirect_uris.is_empty() {
        return Err(fail(
            "a client using the authorization endpoint needs at least one redirect URI (--redirect-uri)",
        ));
    }
    for audience in registration
        .audience
        .iter()
        .chain(&registration.resource_server_audience)
    {
        if audience.trim().is_empty()
            || audience
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(fail(format!(
                "invalid audience '{audience}': use a name or URI without spaces"
            )));
        }
    }
    if registration.resource_server_audience.is_some() && method == AuthMethod::NONE {
        return Err(fail(
            "a resource server must authenticate: it cannot be a public client",
        ));
    }
    let scope = Scope::parse(&registration.scope)
        .map_err(|e| fail(format!("invalid scope: {}", e.description())))?;
    let mut client = ClientRecord::new(String::new())
        .with_name(registration.name.trim())
        .with_redirect_uris(registration.redirect_uris.iter().cloned())
        .with_scope(scope)
        .with_grant_types(grant_types)
        .with_response_types(response_types)
        .with_auth_method(method)
        .with_audience(registration.audience.iter().cloned());
    client.resource_server_audience = registration.resource_server_audience.clone();
    if let Some(format) = &registration.access_token_format {
        if format != "jwt" && format != "opaque" {
            return Err(fail(format!(
                "invalid access token format '{format}': use jwt or opaque"
            )));
        }
        client
            .metadata
            .extras
            .insert::<portcullis_core::jose::AccessTokenFormat>(format.clone());
    }
    for uri in &registration.post_logout_redirect_uris {
        validate_redirect_uri(uri).map_err(|e| fail(format!("post-logout redirect URI: {e}")))?;
    }
    client.metadata.post_logout_redirect_uris = registration.post_logout_redirect_uris.clone();
    for resource in &registration.allowed_resources {
        portcullis_core::extensions::resource_key(resource).map_err(|_| {
            fail(format!(
                "invalid allowed resource '{resource}': a resource indicator is an absolute URI \
                 without a fragment (RFC 8707 §2), e.g. https://mcp.example.com"
            ))
        })?;
    }
    if !registration.allowed_resources.is_empty() {
        client
            .metadata
            .extras
            .insert::<AllowedResources>(registration.allowed_resources.clone());
    }
    for (member, value) in [
        (
            "id_token_signed_response_alg",
            &registration.id_token_signed_response_alg,
        ),
        (
            "userinfo_signed_response_alg",
            &registration.userinfo_signed_response_alg,
        ),
    ] {
        if let Some(alg) = value {
            if Algorithm::from_name(alg).is_none() {
                return Err(fail(format!(
                    "{member} '{alg}' is not supported; use one of {}",
                    algorithm_names()
                )));
            }
        }
    }
    client.metadata.id_token_signed_response_alg =
        registration.id_token_signed_response_alg.clone();
    client.metadata.userinfo_signed_response_alg =
        registration.userinfo_signed_response_alg.clone();
    if registration.strict_auth_method {
        if method == AuthMethod::NONE {
            return Err(fail(
                "a public client (auth method none) has no secret method to keep to: --strict-auth-method is for client_secret_basic and client_secret_post",
            ));
        }
        client
            .metadata
            .extras
            .insert_raw(portcullis_core::STRICT_AUTH_METHOD, true.into());
    }
    match registration.pkce.as_deref() {
        None | Some("required") => {}
        Some("optional") if method == AuthMethod::NONE => {
            return Err(fail(
                "a public client (auth method none) must use PKCE: --pkce optional is for confidential clients",
            ))
        }
        Some("optional") => client
            .metadata
            .extras
            .insert_raw(portcullis_core::extensions::REQUIRE_PKCE, false.into()),
        Some(other) => {
            return Err(fail(format!(
                "invalid PKCE setting '{other}': use required or optional"
            )))
        }
    }
    match registration.subject_type.as_deref() {
        None | Some(subject::PUBLIC) | Some(subject::PAIRWISE) => {}
        Some(other) => {
            return Err(fail(format!(
                "invalid subject type '{other}': use public or pairwise"
            )))
        }
    }
    if let Some(uri) = &registration.sector_identifier_uri {
        subject::sector_identifier_uri_host(uri).map_err(|e| fail(e.to_string()))?;
    }
    if registration.subject_type.as_deref() == Some(subject::PAIRWISE) {
        subject::sector_identifier(
            registration.sector_identifier_uri.as_deref(),
            &registration.redirect_uris,
        )
        .map_err(|e| fail(format!("pairwise subjects: {e}")))?;
    }
    client.metadata.subject_type = registration.subject_type.clone();
    client.metadata.sector_identifier_uri = registration.sector_identifier_uri.clone();
    if let Some(uri) = &registration.backchannel_logout_uri {
        // What the fetch guard will POST to: https, or http to a loopback host.
        portcullis_axum::fetch::check_url(uri)
            .map_err(|e| fail(format!("backchannel logout URI: {e}")))?;
        if uri.contains('#') {
            return Err(fail(format!(
                "backchannel logout URI {uri}: must not have a fragment (Back-Channel Logout §2.2)"
            )));
        }
    }
    client.metadata.backchannel_logout_uri = registration.backchannel_logout_uri.clone();
    validate_client_keys(registration, &mut client)?;
    Ok(client)
}

/// Private JWK members (RFC 7518 §6.2.2, §6.3.2, §6.4.1): a client registers public
/// keys only.
const PRIVATE_JWK_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// The keys and assertion algorithm of a JWT-authenticating client: `private_key_jwt`
/// needs exactly one of `jwks` (public keys only) and `jwks_uri`;
/// `token_endpoint_auth_signing_alg` must fit the method.
fn validate_client_keys(
    registration: &ClientRegistration,
    client: &mut ClientRecord,
) -> Result<(), RegistrationError> {
    let method = registration.auth_method.as_str();
    if let Some(uri) = &registration.jwks_uri {
        portcullis_axum::fetch::check_url(uri).map_err(|e| fail(format!("jwks_uri: {e}")))?;
    }
    let jwks = registration
        .jwks
        .as_deref()
        .map(parse_public_jwks)
        .transpose()?;
    match (&jwks, &registration.jwks_uri) {
        (Some(_), Some(_)) => {
            return Err(fail(
                "register the client's keys either inline (--jwks) or by URL (--jwks-uri), not both",
            ))
        }
        (None, None) if method == AuthMethod::PRIVATE_KEY_JWT => {
            return Err(fail(
                "a private_key_jwt client needs its public keys: --jwks-uri URL or --jwks JSON (a JWK Set)",
            ))
        }
        _ => {}
    }
    if let Some(alg) = &registration.token_endpoint_auth_signing_alg {
        let fits = match method {
            AuthMethod::PRIVATE_KEY_JWT => Algorithm::from_name(alg).is_some(),
            AuthMethod::CLIENT_SECRET_JWT => HmacAlgorithm::from_name(alg).is_some(),
            _ => {
                return Err(fail(
                    "token_endpoint_auth_signing_alg is for the auth methods private_key_jwt and client_secret_jwt",
                ))
            }
        };
        if !fits {
            let names = if method == AuthMethod::PRIVATE_KEY_JWT {
                algorithm_names()
            } else {
                HmacAlgorithm::ALL.map(HmacAlgorithm::name).join(", ")
            };
            return Err(fail(format!(
                "token_endpoint_auth_signing_alg '{alg}' does not fit {method}; use one of {names}"
            )));
        }
    }
    client.metadata.jwks = jwks;
    client.metadata.jwks_uri = registration.jwks_uri.clone();
    client.metadata.token_endpoint_auth_signing_alg =
        registration.token_endpoint_auth_signing_alg.clone();
    Ok(())
}

/// `text` as a JWK Set of usable public signing keys: a JSON object with a non-empty
/// `keys` array, no private member in any key.
fn parse_public_jwks(text: &str) -> Result<serde_json::Value, RegistrationError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| fail(format!("jwks: not JSON ({e})")))?;
    let keys = value
        .get("keys")
        .and_then(serde_json::Value::as_array)
        .filter(|keys| value.is_object() && !keys.is_empty())
        .ok_or_else(|| {
            fail("jwks: must be a JSON object with a non-empty keys array (a JWK Set)")
        })?;
    let provider = portcullis_core::jose::aws_lc_rs::provider();
    for (index, key) in keys.iter().enumerate() {
        let Some(members) = key.as_object() else {
            return Err(fail(format!("jwks: key {index} is not a JSON object")));
        };
        if let Some(private) = PRIVATE_JWK_MEMBERS
            .iter()
            .find(|m| members.contains_key(**m))
        {
            return Err(fail(format!(
                "jwks: key {index} has the private member '{private}': register public keys only"
            )));
        }
        let jwk: portcullis_core::jose::Jwk = serde_json::from_value(key.clone())
            .map_err(|e| fail(format!("jwks: key {index} is not a JWK ({e})")))?;
        portcullis_core::jose::KeySet::new()
            .add_jwk(&provider, &jwk, &Algorithm::ALL)
            .map_err(|e| fail(format!("jwks: key {index} cannot be used: {e}")))?;
    }
    Ok(value)
}

/// The largest sector identifier document read.
const MAX_SECTOR_DOCUMENT_BYTES: usize = 64 * 1024;

/// Checks the URLs `client` registered that the server will fetch or post to, as the
/// fetch guard will ([`portcullis_axum::fetch`], public addresses and those `policy`
/// allows): its `backchannel_logout_uri`, and its `sector_identifier_uri`, fetched,
/// which must be a JSON array listing every redirect URI of the client (OpenID
/// Connect Registration §5).
pub async fn check_remote_urls(
    client: &ClientRecord,
    policy: &portcullis_axum::fetch::AddressPolicy,
) -> Result<(), RegistrationError> {
    if let Some(uri) = &client.metadata.backchannel_logout_uri {
        portcullis_axum::fetch::check_public_url(uri, policy)
            .map_err(|e| fail(format!("backchannel logout URI: {e}")))?;
    }
    if let Some(uri) = &client.metadata.jwks_uri {
        portcullis_axum::fetch::check_public_url(uri, policy)
            .map_err(|e| fail(format!("jwks_uri: {e}")))?;
    }
    let Some(uri) = &client.metadata.sector_identifier_uri else {
        return Ok(());
    };
    let document =
        portcullis_axum::fetch::get_public_document(uri, MAX_SECTOR_DOCUMENT_BYTES, policy)
            .await
            .map_err(|e| fail(format!("cannot read the sector_identifier_uri: {e}")))?;
    subject::check_sector_document(&document, &client.redirect_uris)
        .map_err(|e| fail(format!("sector_identifier_uri {uri}: {e}")))
}

fn algorithm_names() -> String {
    Algorithm::ALL.map(Algorithm::name).join(", ")
}

/// Checks that the algorithms `client` registered for its ID tokens and UserInfo
/// answers are among the server's `signing_algorithms` (for a client of the `openid`
/// scope that named none for its ID tokens, RS256): the server has keys for those
/// only.
pub fn check_algorithms(
    client: &ClientRecord,
    configured: &[String],
) -> Result<(), RegistrationError> {
    let metadata = &client.metadata;
    // A client of the `openid` scope that named no algorithm gets RS256 ID tokens.
    let id_token = metadata
        .id_token_signed_response_alg
        .as_deref()
        .or_else(|| {
            client
                .scope
                .contains("openid")
                .then(|| portcullis_core::extensions::openid::DEFAULT_ID_TOKEN_ALGORITHM.name())
        });
    for (member, alg) in [
        ("id_token_signed_response_alg", id_token),
        (
            "userinfo_signed_response_alg",
            metadata.userinfo_signed_response_alg.as_deref(),
        ),
    ] {
        if let Some(alg) = alg {
            if !configured.iter().any(|c| c == alg) {
                return Err(fail(format!(
                    "{member} {alg} has no signing key: add {alg} to signing_algorithms (now {}) first",
                    configured.join(", ")
                )));
            }
        }
    }
    Ok(())
}

/// What `client` is registered with, as a registration (for `client update`).
pub fn registration_of(client: &ClientRecord) -> ClientRegistration {
    let extras = &client.metadata.extras;
    ClientRegistration {
        name: client.client_name.clone(),
        redirect_uris: client.redirect_uris.clone(),
        grant_types: client.grant_types.clone(),
        response_types: client.response_types.clone(),
        scope: client.scope.to_string(),
        auth_method: client.token_endpoint_auth_method.clone(),
        strict_auth_method: client.strict_auth_method(),
        audience: client.audience.clone(),
        resource_server_audience: client.resource_server_audience.clone(),
        access_token_format: extras.get::<portcullis_core::jose::AccessTokenFormat>(),
        post_logout_redirect_uris: client.metadata.post_logout_redirect_uris.clone(),
        id_token_signed_response_alg: client.metadata.id_token_signed_response_alg.clone(),
        userinfo_signed_response_alg: client.metadata.userinfo_signed_response_alg.clone(),
        pkce: (pkce_setting(client) == "optional").then(|| "optional".to_owned()),
        subject_type: client.metadata.subject_type.clone(),
        sector_identifier_uri: client.metadata.sector_identifier_uri.clone(),
        backchannel_logout_uri: client.metadata.backchannel_logout_uri.clone(),
        allowed_resources: extras.get::<AllowedResources>().unwrap_or_default(),
        jwks_uri: client.metadata.jwks_uri.clone(),
        jwks: client.metadata.jwks.as_ref().map(ToString::to_string),
        token_endpoint_auth_signing_alg: client.metadata.token_endpoint_auth_signing_alg.clone(),
    }
}

/// `optional` when the client registered `require_pkce: false`, else `required`.
pub fn pkce_setting(client: &ClientRecord) -> &'static str {
    let opted_out = client
        .metadata
        .extras
        .get_raw(portcullis_core::extensions::REQUIRE_PKCE)
        .and_then(serde_json::Value::as_bool)
        == Some(false);
    if opted_out {
        "optional"
    } else {
        "required"
    }
}

/// `old` metadata with what a registration decides replaced by `new`'s: members
/// nobody here manages (set by the application, or a later version) are kept.
pub fn merged_metadata(
    old: &portcullis_core::ClientMetadata,
    new: &portcullis_core::ClientMetadata,
) -> portcullis_core::ClientMetadata {
    let mut merged = old.clone();
    merged.post_logout_redirect_uris = new.post_logout_redirect_uris.clone();
    merged.id_token_signed_response_alg = new.id_token_signed_response_alg.clone();
    merged.userinfo_signed_response_alg = new.userinfo_signed_response_alg.clone();
    merged.subject_type = new.subject_type.clone();
    merged.sector_identifier_uri = new.sector_identifier_uri.clone();
    merged.backchannel_logout_uri = new.backchannel_logout_uri.clone();
    merged.jwks_uri = new.jwks_uri.clone();
    merged.jwks = new.jwks.clone();
    merged.token_endpoint_auth_signing_alg = new.token_endpoint_auth_signing_alg.clone();
    for name in [
        <portcullis_core::jose::AccessTokenFormat as portcullis_core::Extra>::NAME,
        portcullis_core::extensions::REQUIRE_PKCE,
        portcullis_core::STRICT_AUTH_METHOD,
        <AllowedResources as portcullis_core::Extra>::NAME,
    ] {
        match new.extras.get_raw(name) {
            Some(value) => merged.extras.insert_raw(name, value.clone()),
            None => merged.extras.remove_raw(name),
        }
    }
    merged
}

/// A new client_id: 128 random bits in lower-case hex. Hex, not base64url, so that an
/// id never starts with `-` and can always be passed back to the CLI as an argument.
pub fn new_client_id(random: &dyn RandomSource) -> String {
    let mut bytes = [0u8; 16];
    random.fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new client secret: 256 random bits, base64url. Shown once; only its hash is kept.
pub fn new_client_secret(random: &dyn RandomSource) -> String {
    random_token(random)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registration(grants: &[&str], uris: &[&str], method: &str) -> ClientRegistration {
        ClientRegistration {
            name: "App".into(),
            redirect_uris: uris.iter().map(|s| s.to_string()).collect(),
            grant_types: grants.iter().map(|s| s.to_string()).collect(),
            scope: "read".into(),
            auth_method: method.into(),
            ..ClientRegistration::default()
        }
    }

    /// Counts up from a seed: a deterministic source for tests.
    struct Counter(std::sync::atomic::AtomicU8);

    impl RandomSource for Counter {
        fn fill(&self, buf: &mut [u8]) {
            for byte in buf {
                *byte = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }

    #[test]
    fn client_ids_are_hex_and_never_look_like_options() {
        let random = Counter(std::sync::atomic::AtomicU8::new(0));
        for _ in 0..1000 {
            let id = new_client_id(&random);
            assert_eq!(id.len(), 32);
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
                "{id}"
            );
        }
        // The ids come from the injected source.
        let fixed = Counter(std::sync::atomic::AtomicU8::new(0xa0));
        assert_eq!(new_client_id(&fixed), "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf");
    }

    #[test]
    fn client_validation() {
        let ok = validate(&registration(
            &[],
            &["https://app.example/cb"],
            "client_secret_basic",
        ))
        .unwrap();
        assert_eq!(ok.grant_types, ["authorization_code", "refresh_token"]);
        assert_eq!(ok.response_types, ["code"]);
        let err = validate(&registration(&["magic"], &[], "client_secret_basic"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown grant type 'magic'"), "{err}");
        let err = validate(&registration(&[], &["https://app.example/cb#x"], "none"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("fragment"), "{err}");
        let err = validate(&registration(&[], &[], "none"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("redirect-uri"), "{err}");
        let err = validate(&registration(&["client_credentials"], &[], "none"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("public"), "{err}");
        let cc = validate(&registration(
            &["client_credentials"],
            &[],
            "client_secret_post",
        ))
        .unwrap();
        assert!(cc.response_types.is_empty());
    }

    #[test]
    fn strict_auth_method_is_recorded_for_secret_methods_only() {
        let mut strict = registration(&["client_credentials"], &[], "client_secret_post");
        strict.strict_auth_method = true;
        let client = validate(&strict).unwrap();
        assert!(client.strict_auth_method());
        assert_eq!(registration_of(&client), strict);
        let lenient = validate(&registration(
            &["client_credentials"],
            &[],
            "client_secret_post",
        ))
        .unwrap();
        assert!(!lenient.strict_auth_method());
        // Turning it off on update removes the member.
        let merged = merged_metadata(&client.metadata, &lenient.metadata);
        assert!(merged
            .extras
            .get_raw(portcullis_core::STRICT_AUTH_METHOD)
            .is_none());
        let mut public = registration(&[], &["https://app.example/cb"], "none");
        public.strict_auth_method = true;
        let err = validate(&public).unwrap_err().to_string();
        assert!(err.contains("--strict-auth-method"), "{err}");
    }

    #[test]
    fn bad_scopes_and_audiences_are_refused() {
        let mut bad_scope = registration(&["client_credentials"], &[], "client_secret_post");
        bad_scope.scope = "read \"quoted\"".into();
        let err = validate(&bad_scope).unwrap_err().to_string();
        assert!(err.starts_with("invalid scope"), "{err}");
        let mut bad_audience = registration(&["client_credentials"], &[], "client_secret_post");
        bad_audience.audience = vec!["two words".into()];
        let err = validate(&bad_audience).unwrap_err().to_string();
        assert!(err.contains("invalid audience 'two words'"), "{err}");
        let mut public_resource_server = registration(&[], &["https://app.example/cb"], "none");
        public_resource_server.resource_server_audience = Some("api".into());
        let err = validate(&public_resource_server).unwrap_err().to_string();
        assert!(err.contains("resource server must authenticate"), "{err}");
    }
}
