//! Token introspection (RFC 7662).
//!
//! Only authenticated confidential clients may introspect, and which tokens they may
//! see is the client's setting ([`Client::may_introspect`]): by default its own; a
//! resource server's, those issued for its audience. A token that is expired, revoked,
//! unknown or not visible to the caller is `{"active": false}` and nothing else (§2.2).
//!
//! Refresh tokens (§2.2 leaves open what to report for them): a refresh token is
//! reported active only to the client it was issued to, with `token_type:
//! "refresh_token"`. Everyone else — a resource server in particular, even for its own
//! audience — learns `{"active": false}`: a refresh token is not a credential for an
//! API, and a resource server has no business learning about one. Access tokens are
//! reported with `token_type: "Bearer"`, which is what a resource server must check.
//!
//! The `sub` is the one the token's client is told ([`Environment::subject_for`]):
//! pairwise for a client that registered pairwise subjects (OpenID Connect Core §8).
//!
//! [`Environment::subject_for`]: crate::Environment::subject_for
//!
//! With [`with_jwt_responses`](IntrospectionEndpoint::with_jwt_responses), a caller
//! that sends `Accept: application/token-introspection+jwt` gets the answer as a JWT
//! signed by the server (RFC 9701): `typ: token-introspection+jwt`, `iss`, `aud` (the
//! caller), `iat` and the response in `token_introspection`.

use std::sync::Arc;

use async_trait::async_trait;
use http::{Method, StatusCode};
use serde::Serialize;
use serde_json::{Map, Value};

use super::{find_token, is_active, Endpoint, TokenKind};
use crate::context::{EndpointContext, MetadataContext};
use crate::error::OAuthError;
use crate::error::StoreError;
use crate::http::{json_response, OAuthResponse, Params};
use crate::jose::access_token::{required_issuer, sign_now};
use crate::jose::SigningKeys;
use crate::model::{Client, EndpointName, Token};
use crate::response::no_store_response;
use crate::store::{ClientStore, TokenStore};

/// Turns a token's subject into the `username` of introspection responses.
#[async_trait]
pub trait UsernameResolver: Send + Sync + 'static {
    /// The username of `subject`, if there is one.
    async fn username(&self, subject: &str) -> Result<Option<String>, StoreError>;
}

/// The media type of signed introspection responses (RFC 9701 §4).
pub const INTROSPECTION_JWT: &str = "application/token-introspection+jwt";

/// The introspection endpoint.
#[derive(Default, Clone)]
#[non_exhaustive]
pub struct IntrospectionEndpoint {
    usernames: Option<Arc<dyn UsernameResolver>>,
    jwt_keys: Option<Arc<dyn SigningKeys>>,
}

impl std::fmt::Debug for IntrospectionEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntrospectionEndpoint")
            .field("usernames", &self.usernames.is_some())
            .field("jwt_responses", &self.jwt_keys.is_some())
            .finish()
    }
}

impl IntrospectionEndpoint {
    /// The endpoint, answering without `username`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `username` to responses, looked up by subject.
    pub fn with_usernames(mut self, resolver: Arc<dyn UsernameResolver>) -> Self {
        self.usernames = Some(resolver);
        self
    }

    /// Answers callers that accept `application/token-introspection+jwt` with a JWT
    /// signed by `keys` (RFC 9701); others still get JSON.
    pub fn with_jwt_responses(mut self, keys: Arc<dyn SigningKeys>) -> Self {
        self.jwt_keys = Some(keys);
        self
    }

    /// The response as an RFC 9701 JWT for `audience` (the caller).
    fn signed(
        keys: &dyn SigningKeys,
        now: i64,
        issuer: Option<&str>,
        audience: &str,
        body: &Introspection,
    ) -> Result<OAuthResponse, OAuthError> {
        let issuer = required_issuer(issuer, "signed introspection responses")?;
        /// The claims of a signed answer (RFC 9701 §5), borrowed.
        #[derive(serde::Serialize)]
        struct Claims<'a> {
            iss: &'a str,
            aud: &'a str,
            iat: i64,
            token_introspection: &'a Introspection,
        }
        let claims = Claims {
            iss: issuer,
            aud: audience,
            iat: now,
            token_introspection: body,
        };
        let token = sign_now(
            keys,
            now,
            "token-introspection+jwt",
            &claims,
            "an introspection response",
        )?;
        Ok(no_store_response(
            StatusCode::OK,
            INTROSPECTION_JWT,
            bytes::Bytes::from(token),
        ))
    }

    /// The response and the client that asked.
    async fn introspect<S: ClientStore + TokenStore>(
        &self,
        context: &EndpointContext<'_, S>,
    ) -> Result<(Introspection, String), OAuthError> {
        let request = context.request();
        if request.method() != Method::POST {
            return Err(OAuthError::method_not_allowed("POST"));
        }
        let params = Params::from_form(request)?;
        let client = context
            .authenticate_client(&params, EndpointName::INTROSPECTION)
            .await?;
        if client.is_public() {
            return Err(OAuthError::invalid_client(
                "public clients may not introspect tokens; authenticate with a client secret",
            ));
        }
        let token = params.require("token")?;
        let hint = match params.get("token_type_hint") {
            Some("refresh_token") => Some(TokenKind::Refresh),
            _ => Some(TokenKind::Access),
        };
        let Some((kind, found, hash)) =
            find_token(context.store(), context.env(), token, hint).await?
        else {
            return Ok((Introspection::default(), client.client_id().to_owned()));
        };
        let audience = found.audience();
        let visible = match kind {
            TokenKind::Access => client.may_introspect(found.client_id(), &audience),
            // Only the client a refresh token was issued to may learn about it.
            TokenKind::Refresh => found.client_id() == client.client_id(),
        };
        if !visible || !is_active(&found, kind, context.now()) {
            return Ok((Introspection::default(), client.client_id().to_owned()));
        }
        let scope = found.scope();
        let (token_type, exp) = match kind {
            TokenKind::Access => ("Bearer", Some(found.expires_at())),
            TokenKind::Refresh => ("refresh_token", found.refresh_token_expires_at()),
        };
        let local = found.subject();
        let username = match (local, &self.usernames) {
            (Some(subject), Some(resolver)) => resolver.username(subject).await?,
            _ => None,
        };
        // The `sub` the token's client was told (pairwise, for a pairwise client), so
        // that a resource server sees the user as the client does.
        let subject = match local {
            None => None,
            Some(local) if found.client_id() == client.client_id() => {
                Some(context.env().subject_for(&client, local)?.into_owned())
            }
            Some(local) => {
                let Some(owner) = context.store().find_client(found.client_id()).await? else {
                    // A token of a client no longer registered speaks for nobody.
                    return Ok((Introspection::default(), client.client_id().to_owned()));
                };
                Some(context.env().subject_for(&owner, local)?.into_owned())
            }
        };
        let aud = match audience.as_slice() {
            [] => None,
            [one] => Some(Value::from(one.as_str())),
            many => Some(Value::from(many.to_vec())),
        };
        let body = Introspection {
            active: true,
            scope: (!scope.is_empty()).then(|| scope.to_string()),
            client_id: Some(found.client_id().to_owned()),
            token_type: Some(token_type),
            exp,
            iat: Some(found.issued_at()),
            nbf: Some(found.issued_at()),
            sub: subject,
            username,
            aud,
            iss: context.env().issuer().map(str::to_owned),
            // A stable identifier that is not the token: the key it is stored under.
            jti: Some(hash),
        };
        Ok((body, client.client_id().to_owned()))
    }
}

/// An RFC 7662 §2.2 response, serialized straight from this struct (no intermediate
/// JSON tree). The default is exactly `{"active":false}`.
#[derive(Debug, Default, Serialize)]
struct Introspection {
    active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nbf: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    /// One audience as a string, several as an array (RFC 7662 §2.2, RFC 7519 §4.1.3).
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jti: Option<String>,
}

#[async_trait]
impl<S: ClientStore + TokenStore> Endpoint<S> for IntrospectionEndpoint {
    fn name(&self) -> &str {
        EndpointName::INTROSPECTION
    }

    fn metadata(&self, context: &MetadataContext<'_>, document: &mut Map<String, Value>) {
        if let Some(url) = context.endpoint_url(EndpointName::INTROSPECTION) {
            document.insert("introspection_endpoint".into(), url.into());
            document.insert(
                "introspection_endpoint_auth_methods_supported".into(),
                context.auth_methods(EndpointName::INTROSPECTION).into(),
            );
            let algorithms = context.auth_signing_algorithms(EndpointName::INTROSPECTION);
            if !algorithms.is_empty() {
                document.insert(
                    "introspection_endpoint_auth_signing_alg_values_supported".into(),
                    algorithms.into(),
                );
            }
            if let Some(keys) = &self.jwt_keys {
                let algorithms: Vec<&str> = keys
                    .signing_algorithms()
                    .into_iter()
                    .map(|a| a.name())
                    .collect();
                document.insert(
                    "introspection_signing_alg_values_supported".into(),
                    algorithms.into(),
                );
            }
        }
    }

    async fn create_endpoint_response(&self, context: &EndpointContext<'_, S>) -> OAuthResponse {
        let wants_jwt = accepts(context.request().headers(), INTROSPECTION_JWT);
        match (self.introspect(context).await, &self.jwt_keys) {
            (Ok((body, caller)), Some(keys)) if wants_jwt => Self::signed(
                keys.as_ref(),
                context.now(),
                context.env().issuer(),
                &caller,
                &body,
            )
            .unwrap_or_else(OAuthError::into_response),
            (Ok((body, _)), _) => json_response(StatusCode::OK, &body),
            (Err(error), _) => error.into_response(),
        }
    }
}

/// Whether the `Accept` headers name `media_type` itself with a non-zero quality
/// (`q=0` means "not acceptable", RFC 9110 section 12.4.2). Wildcards do not count:
/// a signed answer is given only to a caller that asks for one by name.
fn accepts(headers: &http::HeaderMap, media_type: &str) -> bool {
    headers
        .get_all(http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|range| {
            let mut parts = range.split(';');
            let named = parts
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case(media_type));
            let refused = parts.any(|param| {
                param.split_once('=').is_some_and(|(name, value)| {
                    name.trim().eq_ignore_ascii_case("q")
                        && value.trim().parse::<f32>().is_ok_and(|q| q <= 0.0)
                })
            });
            named && !refused
        })
}

#[cfg(test)]
mod tests {
    use super::accepts;

    #[test]
    fn the_signed_answer_is_given_only_when_asked_for_by_name() {
        let accept = |values: &[&str]| {
            let mut headers = http::HeaderMap::new();
            for value in values {
                headers.append(http::header::ACCEPT, value.parse().unwrap());
            }
            accepts(&headers, super::INTROSPECTION_JWT)
        };
        assert!(accept(&["application/token-introspection+jwt"]));
        assert!(accept(&[
            "application/json;q=0.5, Application/Token-Introspection+JWT"
        ]));
        assert!(accept(&[
            "application/json",
            "application/token-introspection+jwt; q=0.1"
        ]));
        assert!(!accept(&[]));
        assert!(!accept(&["*/*"]));
        assert!(!accept(&["application/json"]));
        assert!(!accept(&["application/token-introspection+jwt;q=0"]));
        assert!(!accept(&[
            "application/token-introspection+jwt ; Q=0.000, application/json"
        ]));
    }
}
