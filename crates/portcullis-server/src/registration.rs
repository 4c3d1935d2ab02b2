//! Client metadata documents as JSON (RFC 7591 §2, OpenID Connect Dynamic Client
//! Registration 1.0 §2): what a client sends to the registration endpoint, or
//! publishes as its client ID metadata document, checked member by member and made a
//! [`ClientRecord`] through the same rules as the CLI ([`crate::clients::validate`]),
//! and the registration response that echoes it back (RFC 7591 §3.2.1, RFC 7592 §3).
//!
//! A refusal carries the RFC 7591 §3.2.2 error code — `invalid_redirect_uri` for a
//! redirect URI, `invalid_client_metadata` for anything else — and says which member
//! is wrong and why. Members nobody here understands are ignored, as RFC 7591 §2
//! asks, and so not echoed back: what the response lists is what was registered.

use portcullis_core::redirect_uri::validate_redirect_uri;
use portcullis_core::{AuthMethod, ClientRecord, Scope};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use serde_json::{Map, Value};

use crate::clients::{self, ClientRegistration};

/// The longest client metadata document read (a registration request or a client
/// ID metadata document is a few hundred bytes).
pub const MAX_METADATA_BYTES: usize = 64 * 1024;

/// The registration endpoint's path (RFC 7591 §3), under the issuer.
pub const REGISTRATION_PATH: &str = "/register";

/// Counts the registrations each address made without an initial access token in the
/// current hour, for `registration_rate_limit`. Per instance, in memory.
#[derive(Debug, Default)]
pub struct RegistrationLimiter(Mutex<HashMap<String, (i64, u32)>>);

/// How many addresses the limiter remembers before it forgets the oldest windows.
const LIMITER_ENTRIES: usize = 100_000;

impl RegistrationLimiter {
    /// Counts a registration from `ip` at `now`: `Err(seconds to wait)` when the
    /// address already made `limit` this hour.
    pub fn count(&self, ip: IpAddr, now: i64, limit: u32) -> Result<(), i64> {
        let key = crate::throttle::address_key(ip);
        let mut windows = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() >= LIMITER_ENTRIES {
            windows.retain(|_, (start, _)| now - *start < 3600);
        }
        let window = windows.entry(key).or_insert((now, 0));
        if now - window.0 >= 3600 {
            *window = (now, 0);
        }
        if window.1 >= limit {
            return Err((window.0 + 3600 - now).max(1));
        }
        window.1 += 1;
        Ok(())
    }
}

/// Why client metadata was refused: an RFC 7591 §3.2.2 error code and words for the
/// developer who sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `invalid_redirect_uri` or `invalid_client_metadata`.
    pub error: &'static str,
    /// What is wrong, naming the member.
    pub description: String,
}

impl Refusal {
    /// `invalid_client_metadata`: a member other than the redirect URIs is wrong.
    pub fn metadata(description: impl Into<String>) -> Self {
        Refusal {
            error: "invalid_client_metadata",
            description: description.into(),
        }
    }

    /// `invalid_redirect_uri`: a redirect URI is wrong.
    pub fn redirect_uri(description: impl Into<String>) -> Self {
        Refusal {
            error: "invalid_redirect_uri",
            description: description.into(),
        }
    }

    /// The RFC 7591 §3.2.2 error body.
    pub fn body(&self) -> Value {
        serde_json::json!({ "error": self.error, "error_description": self.description })
    }
}

/// What a registration may ask for here.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The scopes a client may register (`registration_scopes`).
    pub scopes: Vec<String>,
    /// The server's `signing_algorithms`: the ID token and UserInfo algorithms a
    /// client may choose.
    pub signing_algorithms: Vec<String>,
    /// The token endpoint authentication methods a client may register.
    pub auth_methods: Vec<String>,
}

/// `document[name]` as a string, when present and not null.
fn string(document: &Map<String, Value>, name: &str) -> Result<Option<String>, Refusal> {
    match document.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(Refusal::metadata(format!("{name} must be a string"))),
    }
}

/// `document[name]` as an array of strings; empty when absent or null.
fn strings(document: &Map<String, Value>, name: &str) -> Result<Vec<String>, Refusal> {
    match document.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(text) => Ok(text.clone()),
                _ => Err(Refusal::metadata(format!(
                    "{name} must be an array of strings"
                ))),
            })
            .collect(),
        Some(_) => Err(Refusal::metadata(format!(
            "{name} must be an array of strings"
        ))),
    }
}

/// An informational URL (`client_uri`, `logo_uri`, `tos_uri`, `policy_uri`,
/// `initiate_login_uri`): absolute `https`, or `http` on a loopback host; shown to
/// users as a link, so never `javascript:` or `data:`.
fn web_url(name: &str, value: &str) -> Result<(), Refusal> {
    let refuse = || {
        Refusal::metadata(format!(
            "{name} must be an absolute https URL (http only on localhost), not '{}'",
            shown(value)
        ))
    };
    let url = url::Url::parse(value).map_err(|_| refuse())?;
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match url.scheme() {
        "https" if url.host_str().is_some() => {}
        "http" if loopback => {}
        _ => return Err(refuse()),
    }
    if !url.username().is_empty() || url.password().is_some() || value.contains('#') {
        return Err(refuse());
    }
    Ok(())
}

/// `value` cut short for an error message.
fn shown(value: &str) -> String {
    let mut shown: String = value.chars().take(120).collect();
    if shown.len() < value.len() {
        shown.push('…');
    }
    shown
}

/// True for the `http` redirect URIs of loopback hosts (RFC 8252 §7.3).
fn is_loopback_http(uri: &str) -> bool {
    url::Url::parse(uri).is_ok_and(|url| {
        url.scheme() == "http"
            && matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"))
    })
}

/// Checks the redirect URIs of an `application_type` (OpenID Connect Registration
/// §2, RFC 8252): a `web` client redirects to `https` (or `http` on a loopback host,
/// for development, but never with an implicit or hybrid response type); a `native`
/// one to a loopback `http` URI, a private-use scheme (`com.example.app:/cb`) or a
/// claimed `https` URI. Every URI also passes [`validate_redirect_uri`].
fn check_redirect_uris(
    uris: &[String],
    application_type: &str,
    response_types: &[String],
) -> Result<(), Refusal> {
    let front_channel_tokens = response_types.iter().any(|rt| {
        rt.split(' ')
            .any(|part| part == "token" || part == "id_token")
    });
    for uri in uris {
        validate_redirect_uri(uri).map_err(|e| Refusal::redirect_uri(e.to_string()))?;
        let scheme = uri.split(':').next().unwrap_or_default();
        match application_type {
            "web" if scheme == "https" => {}
            "web" if scheme == "http" && !front_channel_tokens => {}
            "web" if scheme == "http" => {
                return Err(Refusal::redirect_uri(format!(
                    "redirect URI {}: a web client that receives tokens from the \
                     authorization endpoint (implicit or hybrid response types) must \
                     redirect to https",
                    shown(uri)
                )))
            }
            "web" => {
                return Err(Refusal::redirect_uri(format!(
                    "redirect URI {}: a web client redirects to https; private-use schemes \
                     are for native apps (register with \"application_type\": \"native\")",
                    shown(uri)
                )))
            }
            _ if scheme == "http" && !is_loopback_http(uri) => {
                return Err(Refusal::redirect_uri(format!(
                    "redirect URI {}: a native client redirects to a loopback address \
                     (http://127.0.0.1:PORT/...), a private-use scheme or https",
                    shown(uri)
                )))
            }
            _ => {}
        }
    }
    Ok(())
}

/// A client name for a registration that gave none: the host of its `client_uri`, or
/// of its first redirect URI.
fn default_name(client_uri: Option<&str>, redirect_uris: &[String]) -> String {
    client_uri
        .into_iter()
        .chain(redirect_uris.iter().map(String::as_str))
        .filter_map(|uri| url::Url::parse(uri).ok())
        .find_map(|url| url.host_str().map(str::to_owned))
        .map_or_else(
            || "Unnamed client".to_owned(),
            |host| format!("Client at {host}"),
        )
}

/// Checks a client metadata document (`document`, a JSON object) against `policy`
/// and makes it a client record without id or secret. The URLs the server would
/// fetch (`sector_identifier_uri`) are checked afterwards, by
/// [`clients::check_remote_urls`].
///
/// Defaults follow RFC 7591 §2: `authorization_code` for the grant types, `code` for
/// the response types, `client_secret_basic` for the authentication method, `web` for
/// the application type; and the whole of `policy.scopes` for a document that names
/// no scope.
pub fn client_from_metadata(document: &Value, policy: &Policy) -> Result<ClientRecord, Refusal> {
    let Value::Object(document) = document else {
        return Err(Refusal::metadata(
            "the client metadata must be a JSON object",
        ));
    };
    let redirect_uris = strings(document, "redirect_uris")?;
    let mut grant_types = strings(document, "grant_types")?;
    if grant_types.is_empty() {
        grant_types.push("authorization_code".into());
    }
    let response_types = strings(document, "response_types")?;
    let auth_method = string(document, "token_endpoint_auth_method")?
        .unwrap_or_else(|| AuthMethod::CLIENT_SECRET_BASIC.to_owned());
    if !policy.auth_methods.contains(&auth_method) {
        return Err(Refusal::metadata(format!(
            "token_endpoint_auth_method '{}' is not supported here; use one of {}",
            shown(&auth_method),
            policy.auth_methods.join(", ")
        )));
    }
    let application_type = string(document, "application_type")?.unwrap_or_else(|| "web".into());
    if application_type != "web" && application_type != "native" {
        return Err(Refusal::metadata(format!(
            "application_type must be web or native, not '{}'",
            shown(&application_type)
        )));
    }
    let effective_response_types = if response_types.is_empty() {
        vec!["code".to_owned()]
    } else {
        response_types.clone()
    };
    check_redirect_uris(&redirect_uris, &application_type, &effective_response_types)?;
    let scope = match string(document, "scope")? {
        Some(scope) => {
            let parsed = Scope::parse(&scope)
                .map_err(|e| Refusal::metadata(format!("scope: {}", e.description())))?;
            let refused: Vec<&str> = parsed
                .iter()
                .filter(|token| !policy.scopes.iter().any(|allowed| allowed == token))
                .collect();
            if !refused.is_empty() {
                return Err(Refusal::metadata(format!(
                    "scope: a client that registers itself may not register '{}'; the scopes \
                     it may register are: {}",
                    refused.join(" "),
                    policy.scopes.join(" ")
                )));
            }
            scope
        }
        None => policy.scopes.join(" "),
    };
    let client_uri = string(document, "client_uri")?;
    let name = match string(document, "client_name")? {
        Some(name) if !name.trim().is_empty() => {
            if name.chars().count() > 200 || name.chars().any(char::is_control) {
                return Err(Refusal::metadata(
                    "client_name must be at most 200 characters, without control characters",
                ));
            }
            name
        }
        _ => default_name(client_uri.as_deref(), &redirect_uris),
    };
    for (member, value) in [
        (
            "id_token_encrypted_response_alg",
            "ID token encryption is not supported",
        ),
        (
            "userinfo_encrypted_response_alg",
            "UserInfo encryption is not supported",
        ),
    ] {
        if string(document, member)?.is_some() {
            return Err(Refusal::metadata(format!("{member}: {value}")));
        }
    }
    let jwks_uri = string(document, "jwks_uri")?;
    let jwks = match document.get("jwks") {
        None | Some(Value::Null) => None,
        Some(Value::Object(set)) if matches!(set.get("keys"), Some(Value::Array(_))) => {
            Some(Value::Object(set.clone()))
        }
        Some(_) => {
            return Err(Refusal::metadata(
                "jwks must be a JWK Set: a JSON object with a \"keys\" array",
            ))
        }
    };
    if jwks.is_some() && jwks_uri.is_some() {
        return Err(Refusal::metadata(
            "send jwks or jwks_uri, not both (RFC 7591 §2)",
        ));
    }
    if let Some(uri) = &jwks_uri {
        portcullis_axum::fetch::check_url(uri)
            .map_err(|e| Refusal::metadata(format!("jwks_uri: {e}")))?;
    }
    let registration = ClientRegistration {
        name,
        redirect_uris,
        grant_types,
        response_types,
        scope,
        auth_method,
        post_logout_redirect_uris: strings(document, "post_logout_redirect_uris")?,
        id_token_signed_response_alg: string(document, "id_token_signed_response_alg")?,
        userinfo_signed_response_alg: string(document, "userinfo_signed_response_alg")?,
        subject_type: string(document, "subject_type")?,
        sector_identifier_uri: string(document, "sector_identifier_uri")?,
        backchannel_logout_uri: string(document, "backchannel_logout_uri")?,
        // Checked by clients::validate (public keys only, exactly one of the two, the
        // algorithm fitting the auth method) and kept in the client's metadata.
        jwks_uri,
        jwks: jwks.map(|set| set.to_string()),
        token_endpoint_auth_signing_alg: string(document, "token_endpoint_auth_signing_alg")?,
        ..ClientRegistration::default()
    };
    let mut client =
        clients::validate(&registration).map_err(|e| Refusal::metadata(e.to_string()))?;
    clients::check_algorithms(&client, &policy.signing_algorithms)
        .map_err(|e| Refusal::metadata(e.to_string()))?;
    let metadata = &mut client.metadata;
    metadata.application_type = Some(application_type);
    for (member, slot) in [
        ("client_uri", &mut metadata.client_uri),
        ("logo_uri", &mut metadata.logo_uri),
        ("tos_uri", &mut metadata.tos_uri),
        ("policy_uri", &mut metadata.policy_uri),
    ] {
        if let Some(value) = string(document, member)? {
            web_url(member, &value)?;
            *slot = Some(value);
        }
    }
    metadata.contacts = strings(document, "contacts")?;
    if metadata.contacts.len() > 20 || metadata.contacts.iter().any(|c| c.len() > 320) {
        return Err(Refusal::metadata(
            "contacts: at most 20 addresses of at most 320 characters",
        ));
    }
    for (member, slot) in [
        ("software_id", &mut metadata.software_id),
        ("software_version", &mut metadata.software_version),
    ] {
        if let Some(value) = string(document, member)? {
            if value.len() > 200 || value.chars().any(char::is_control) {
                return Err(Refusal::metadata(format!(
                    "{member} must be at most 200 characters, without control characters"
                )));
            }
            *slot = Some(value);
        }
    }
    Ok(client)
}

/// The registration response (RFC 7591 §3.2.1, RFC 7592 §3): the client's metadata
/// as registered, its `client_id` and when it was issued, its new `client_secret`
/// when one was just made (it is stored hashed, so it is shown once), and the
/// registration access token and client URI that manage it.
pub fn registration_response(
    client: &ClientRecord,
    issued_at: i64,
    client_secret: Option<&str>,
    registration_access_token: &str,
    registration_client_uri: &str,
) -> Value {
    let mut document = client.registration_metadata();
    document.insert("client_id".into(), client.client_id.clone().into());
    document.insert("client_id_issued_at".into(), issued_at.into());
    if let Some(secret) = client_secret {
        document.insert("client_secret".into(), secret.into());
        // The secret does not expire.
        document.insert("client_secret_expires_at".into(), 0.into());
    }
    document.insert(
        "registration_access_token".into(),
        registration_access_token.into(),
    );
    document.insert(
        "registration_client_uri".into(),
        registration_client_uri.into(),
    );
    Value::Object(document)
}

/// True when `method` authenticates with a shared secret the server issues: the
/// secret methods, and `client_secret_jwt` (whose secret is kept sealed as well).
pub fn uses_secret(method: &str) -> bool {
    AuthMethod::is_secret_method(method) || method == AuthMethod::CLIENT_SECRET_JWT
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy() -> Policy {
        Policy {
            scopes: vec!["openid".into(), "profile".into(), "mcp:tools".into()],
            signing_algorithms: vec!["RS256".into()],
            auth_methods: vec![
                "client_secret_basic".into(),
                "client_secret_post".into(),
                "none".into(),
            ],
        }
    }

    fn refused(document: Value) -> Refusal {
        client_from_metadata(&document, &policy()).expect_err("refused")
    }

    #[test]
    fn defaults_follow_rfc_7591() {
        let client = client_from_metadata(
            &json!({"redirect_uris": ["https://app.example.com/cb"]}),
            &policy(),
        )
        .unwrap();
        assert_eq!(client.grant_types, ["authorization_code"]);
        assert_eq!(client.response_types, ["code"]);
        assert_eq!(client.token_endpoint_auth_method, "client_secret_basic");
        assert_eq!(client.scope.to_string(), "openid profile mcp:tools");
        assert_eq!(client.client_name, "Client at app.example.com");
        assert_eq!(client.metadata.application_type.as_deref(), Some("web"));
    }

    #[test]
    fn native_apps_use_loopback_private_use_or_https_redirects() {
        for uri in [
            "http://127.0.0.1:33418/callback",
            "http://localhost/cb",
            "http://[::1]:8080/cb",
            "com.example.app:/oauth2redirect",
            "https://app.example.com/native",
        ] {
            let document = json!({"application_type": "native", "redirect_uris": [uri],
                "token_endpoint_auth_method": "none"});
            client_from_metadata(&document, &policy()).unwrap_or_else(|e| panic!("{uri}: {e:?}"));
        }
        let bad = refused(json!({"application_type": "native",
            "redirect_uris": ["http://app.example.com/cb"]}));
        assert_eq!(bad.error, "invalid_redirect_uri");
        let web_private = refused(json!({"redirect_uris": ["com.example.app:/cb"]}));
        assert_eq!(web_private.error, "invalid_redirect_uri");
        assert!(web_private.description.contains("native"));
    }

    #[test]
    fn dangerous_and_malformed_redirect_uris_are_refused() {
        for uri in [
            "javascript:alert(1)",
            "data:text/html,hi",
            "https://app.example.com/cb#frag",
            "/relative",
            "http://app.example.com/cb",
        ] {
            let refusal = refused(json!({"redirect_uris": [uri]}));
            assert_eq!(refusal.error, "invalid_redirect_uri", "{uri}");
        }
        let implicit_http = refused(json!({
            "redirect_uris": ["http://localhost:3000/cb"],
            "grant_types": ["implicit"], "response_types": ["id_token"]}));
        assert_eq!(implicit_http.error, "invalid_redirect_uri");
    }

    #[test]
    fn wrong_types_and_inconsistent_members_are_invalid_client_metadata() {
        for (document, words) in [
            (json!([]), "JSON object"),
            (
                json!({"redirect_uris": "https://a.example/cb"}),
                "redirect_uris",
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "client_name": 7}),
                "client_name",
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "grant_types": ["implicit"],
                "response_types": ["code"]}),
                "authorization_code",
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "scope": "admin"}),
                "admin",
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"],
                "token_endpoint_auth_method": "tls_client_auth"}),
                "tls_client_auth",
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "application_type": "tv"}),
                "application_type",
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "jwks": {"keys": []},
                "jwks_uri": "https://a.example/jwks"}),
                "not both",
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "jwks": "keys"}),
                "JWK Set",
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"],
                "logo_uri": "javascript:alert(1)"}),
                "logo_uri",
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"],
                "id_token_signed_response_alg": "ES256"}),
                "ES256",
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"],
                "id_token_encrypted_response_alg": "RSA-OAEP"}),
                "encryption",
            ),
            (
                json!({"grant_types": ["client_credentials"],
                "token_endpoint_auth_method": "none"}),
                "public client",
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "subject_type": "secret"}),
                "subject type",
            ),
        ] {
            let refusal = refused(document.clone());
            assert_eq!(refusal.error, "invalid_client_metadata", "{document}");
            assert!(
                refusal.description.contains(words),
                "{document}: {}",
                refusal.description
            );
        }
    }

    #[test]
    fn the_response_echoes_what_was_registered_and_never_a_hash() {
        let mut client = client_from_metadata(
            &json!({"redirect_uris": ["https://a.example/cb"], "client_name": "A",
                "contacts": ["ops@a.example"], "unknown_member": true,
                "logo_uri": "https://a.example/logo.png"}),
            &policy(),
        )
        .unwrap();
        client.client_id = "abc".into();
        client.client_secret_hash = Some("hash-of-the-secret".into());
        let response = registration_response(
            &client,
            1_700_000_000,
            Some("s3cret"),
            "rat",
            "https://as/register/abc",
        );
        assert_eq!(response["client_id"], "abc");
        assert_eq!(response["client_secret"], "s3cret");
        assert_eq!(response["client_secret_expires_at"], 0);
        assert_eq!(response["client_name"], "A");
        assert_eq!(response["contacts"], json!(["ops@a.example"]));
        assert_eq!(response["logo_uri"], "https://a.example/logo.png");
        assert_eq!(response["registration_access_token"], "rat");
        assert!(response.get("unknown_member").is_none());
        assert!(!response.to_string().contains("hash-of-the-secret"));
    }
}
