//! OpenID Connect's part of the token pipeline: the ID token (Core §2, §3.1.3.3,
//! §12.2), as a [`TokenExtension`].
//!
//! For a grant of the `openid` scope with a user — the authorization code, and its
//! refreshes — the token response gets an `id_token`: `iss`, `sub`, `aud` and `azp`
//! (the client), `exp`, `iat`, `auth_time` when the sign-in time is known (the original
//! time on refresh), `nonce` (echoed from the authorization request; never on
//! refresh), `acr`/`amr` when the grant carries them, and `at_hash`. It is signed
//! with the algorithm the client registered as `id_token_signed_response_alg`, RS256
//! when it registered none (OpenID Connect Registration §2), whatever the server's
//! default algorithm for other JWTs.
//!
//! The `sub` is what the client is told ([`Environment::subject_for`]): the user's
//! subject, or for a client that registered `subject_type: pairwise` the pairwise
//! subject of its sector (Core §8); an [`IdTokenHint`] is compared the same way
//! ([`IdTokenHint::names`]).
//!
//! Claims of the `profile`, `email`, ... scopes are not put in the ID token of the
//! code flow: the client reads them at the UserInfo endpoint (Core §5.4).
//!
//! In the implicit and hybrid flows ([`OpenIdImplicitAndHybrid`](crate::grants::OpenIdImplicitAndHybrid))
//! the authorization response carries an ID token too, made here: with `nonce`,
//! `at_hash` when an access token comes with it, `c_hash` with a code, `s_hash` with
//! a `state`; when no access token comes with it (`response_type=id_token`) it
//! carries the claims of the granted scopes itself, since the client has no token to
//! ask UserInfo with (Core §5.4).

use std::sync::Arc;

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256, Sha512};

use super::TokenExtension;
use crate::authorization::AuthorizationRequest;
use crate::claims::{
    parse_claims_request, requested_for, ClaimsRequest, ClaimsSource, ScopeClaims,
};
use crate::context::{AuthorizationContext, Environment, TokenContext};
use crate::error::OAuthError;
use crate::jose::access_token::{required_issuer, sign_now_with};
use crate::jose::{verify, Algorithm, SigningKeys, Validation};
use crate::model::{AuthTime, Client, Extra, Nonce, SessionId, User};
use crate::store::ClientStore;
use crate::tokens::{Issuance, IssuedToken, TokenResponse};

/// The scope that makes a request an OpenID Connect request.
pub const OPENID: &str = "openid";

/// The algorithm of a client's ID tokens when it registered none (OpenID Connect
/// Registration §2).
pub const DEFAULT_ID_TOKEN_ALGORITHM: Algorithm = Algorithm::Rs256;

/// How long an ID token is valid unless configured: one hour.
pub const DEFAULT_ID_TOKEN_LIFETIME: i64 = 3600;

/// The algorithm `client`'s ID tokens are signed with: its registered
/// `id_token_signed_response_alg` (OpenID Connect Registration §2), or RS256. A
/// registered value this server does not know is the server's misconfiguration
/// (`server_error`, logged): registration refuses such values.
pub fn id_token_algorithm(client: &dyn Client) -> Result<Algorithm, OAuthError> {
    let registered = client.metadata().id_token_signed_response_alg.as_deref();
    registered_algorithm(client, "id_token_signed_response_alg", registered)
        .map(|alg| alg.unwrap_or(DEFAULT_ID_TOKEN_ALGORITHM))
}

/// The algorithm `value` of the client metadata member `member` names, if any.
pub(crate) fn registered_algorithm(
    client: &dyn Client,
    member: &str,
    value: Option<&str>,
) -> Result<Option<Algorithm>, OAuthError> {
    let Some(alg) = value else {
        return Ok(None);
    };
    Algorithm::from_name(alg).map(Some).ok_or_else(|| {
        tracing::error!(client_id = %client.client_id(), member, %alg, "the client registered an algorithm this server does not support");
        OAuthError::server_error()
    })
}

/// `at_hash`, `c_hash`, `s_hash` (OpenID Connect Core §3.1.3.6, §3.3.2.11): the
/// left half of the hash of `value`'s ASCII octets, with the hash of the ID token's
/// algorithm (SHA-256 for the `*256` algorithms, SHA-512 for EdDSA on Ed25519),
/// base64url-encoded.
pub fn left_half_hash(algorithm: Algorithm, value: &str) -> String {
    match algorithm {
        Algorithm::EdDsa => {
            let digest = Sha512::digest(value.as_bytes());
            URL_SAFE_NO_PAD.encode(&digest[..32])
        }
        _ => {
            let digest = Sha256::digest(value.as_bytes());
            URL_SAFE_NO_PAD.encode(&digest[..16])
        }
    }
}

/// What an `id_token_hint` (OpenID Connect Core §3.1.2.1, RP-Initiated Logout §2)
/// says: whom this server issued the ID token for, and to which clients.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IdTokenHint {
    /// The `sub`.
    pub subject: String,
    /// The `aud`: the clients it was issued to.
    pub audience: Vec<String>,
}

impl IdTokenHint {
    /// True when the hint names the user whose local subject is `local`, as `client`
    /// is told it: the hint's `sub` is what the server gave that client (a pairwise
    /// subject, for a pairwise client), so it is compared with the subject computed
    /// for `local` and `client` ([`Environment::subject_for`]).
    pub fn names(
        &self,
        env: &Environment,
        client: &dyn Client,
        local: &str,
    ) -> Result<bool, OAuthError> {
        Ok(env.subject_for(client, local)? == self.subject.as_str())
    }
}

/// Checks that `token` is an ID token this server (`issuer`) signed with one of
/// `keys`, expired or not, as a hint must be accepted (Core §3.1.2.1: "even if it has
/// expired"); a JWT access token (`typ: at+jwt`) or anything signed elsewhere is
/// refused with `invalid_request`.
pub fn verify_id_token_hint(
    keys: &dyn SigningKeys,
    issuer: &str,
    token: &str,
) -> Result<IdTokenHint, OAuthError> {
    let refused =
        || OAuthError::invalid_request("the id_token_hint is not an ID token this server issued");
    let trusted = keys.verification_keys().ok_or_else(|| {
        tracing::error!("no verification keys are loaded: cannot check an id_token_hint");
        OAuthError::server_error()
    })?;
    let validation = Validation::new(0)
        .without_time_checks()
        .with_issuer(issuer)
        .skip_audience();
    let verified = verify(token, &trusted, &validation).map_err(|_| refused())?;
    // ID tokens are signed without `typ`; other JWTs of this server carry one.
    if verified
        .header
        .get("typ")
        .and_then(Value::as_str)
        .is_some_and(|typ| !typ.eq_ignore_ascii_case("JWT"))
    {
        return Err(refused());
    }
    // An ID token has `exp` and `iat`; a signed UserInfo answer (also without `typ`)
    // has neither.
    if !["exp", "iat"]
        .iter()
        .all(|claim| verified.claims.get(*claim).is_some_and(Value::is_i64))
    {
        return Err(refused());
    }
    let subject = verified
        .claims
        .get("sub")
        .and_then(Value::as_str)
        .ok_or_else(refused)?;
    let audience = match verified.claims.get("aud") {
        Some(Value::String(one)) => vec![one.clone()],
        Some(Value::Array(many)) => many
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => return Err(refused()),
    };
    Ok(IdTokenHint {
        subject: subject.to_owned(),
        audience,
    })
}

/// The event a logout token announces (Back-Channel Logout 1.0 §2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// How long a logout token is valid: two minutes (Back-Channel Logout §2.4 asks
/// for a short lifetime).
pub const LOGOUT_TOKEN_LIFETIME: i64 = 120;

/// The claims of a logout token.
#[derive(Serialize)]
struct LogoutTokenClaims<'a> {
    iss: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
    jti: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<&'a str>,
    events: Value,
}

/// A logout token (OpenID Connect Back-Channel Logout 1.0 §2.4) telling `client` that
/// the session `sid` of user `subject` ended: `iss`, `aud` (the client), `iat`, `exp`
/// (two minutes), `jti`, `sub` and/or `sid` (at least one), the back-channel logout
/// event, and never a `nonce`; signed, with `typ: logout+jwt` (§2.4's explicit type,
/// so it cannot pass for an ID token), with the algorithm of the client's ID tokens.
///
/// `subject` is the `sub` the client was told: for a user's local subject `local`,
/// pass [`Environment::subject_for`]`(client, local)` (a pairwise subject, for a
/// pairwise client: OpenID Connect Core §8).
pub fn logout_token(
    keys: &dyn SigningKeys,
    issuer: &str,
    client: &dyn Client,
    subject: Option<&str>,
    sid: Option<&str>,
    jti: &str,
    now: i64,
) -> Result<String, OAuthError> {
    if subject.is_none() && sid.is_none() {
        tracing::error!("a logout token names a subject, a session, or both");
        return Err(OAuthError::server_error());
    }
    let algorithm = id_token_algorithm(client)?;
    let claims = LogoutTokenClaims {
        iss: issuer,
        aud: client.client_id(),
        iat: now,
        exp: now.saturating_add(LOGOUT_TOKEN_LIFETIME),
        jti,
        sub: subject,
        sid,
        events: serde_json::json!({ BACKCHANNEL_LOGOUT_EVENT: {} }),
    };
    sign_now_with(
        keys.signer_for(algorithm, now),
        Some("logout+jwt"),
        &claims,
        "a logout token",
    )
}

/// Recorded in the tokens of a grant that began with an ID token (the code flow of
/// the `openid` scope): only such a grant's refreshes get ID tokens (a refreshed
/// password-grant token, say, does not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct OpenIdGrant;

impl Extra for OpenIdGrant {
    const NAME: &'static str = "openid";
    type Value = bool;
}

/// The claims the ID token states itself, which no requested claim may replace.
const ID_TOKEN_OWN_CLAIMS: [&str; 14] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "azp",
    "at_hash",
    "c_hash",
    "s_hash",
    "sid",
];

/// The OpenID Connect extension of the token pipeline (see the module documentation).
#[derive(Clone)]
pub struct OpenIdConnect {
    keys: Arc<dyn SigningKeys>,
    id_token_lifetime: i64,
    claims: ScopeClaims,
    source: Option<Arc<dyn ClaimsSource>>,
    end_session_endpoint: Option<String>,
    backchannel_logout: bool,
}

impl OpenIdConnect {
    /// ID tokens signed by `keys`, valid for [`DEFAULT_ID_TOKEN_LIFETIME`], with the
    /// standard scope claims advertised.
    pub fn new(keys: Arc<dyn SigningKeys>) -> Self {
        Self {
            keys,
            id_token_lifetime: DEFAULT_ID_TOKEN_LIFETIME,
            claims: ScopeClaims::standard(),
            source: None,
            end_session_endpoint: None,
            backchannel_logout: false,
        }
    }

    /// Advertises Back-Channel Logout 1.0 (`backchannel_logout_supported` and
    /// `backchannel_logout_session_supported`): the application sends
    /// [`logout_token`]s to the clients a session signed into when it ends, and its
    /// users carry a [`User::session_id`] for the ID tokens' `sid`.
    pub fn with_backchannel_logout(mut self) -> Self {
        self.backchannel_logout = true;
        self
    }

    /// Reads users' claims from `source`, for the ID tokens of requests whose `claims`
    /// parameter asks for consented claims in the ID token (and advertises
    /// `claims_parameter_supported`).
    pub fn with_claims_source(mut self, source: Arc<dyn ClaimsSource>) -> Self {
        self.source = Some(source);
        self
    }

    /// Publishes `end_session_endpoint` (RP-Initiated Logout §2.1): the absolute URL
    /// where the application answers logout requests.
    pub fn with_end_session_endpoint(mut self, url: impl Into<String>) -> Self {
        self.end_session_endpoint = Some(url.into());
        self
    }

    /// Sets how long ID tokens are valid, in seconds (at least 1).
    pub fn with_id_token_lifetime(mut self, seconds: i64) -> Self {
        self.id_token_lifetime = seconds.max(1);
        self
    }

    /// Sets the claims each scope releases, for `claims_supported` (give the
    /// UserInfo endpoint the same).
    pub fn with_scope_claims(mut self, claims: ScopeClaims) -> Self {
        self.claims = claims;
        self
    }
}

impl OpenIdConnect {
    /// The user's claims the grant's `claims` parameter asks to have in the ID token,
    /// of those its scope releases.
    async fn requested_claims(
        &self,
        issuance: &Issuance,
    ) -> Result<Map<String, Value>, OAuthError> {
        let Some(subject) = issuance.subject.as_deref() else {
            return Ok(Map::new());
        };
        self.id_token_claims(
            subject,
            &issuance.scope,
            issuance.extras.get_raw(ClaimsRequest::NAME),
            false,
        )
        .await
    }

    /// The claims of `subject` an ID token of `scope` carries besides its own: those
    /// the `claims` request asks for in the ID token, or (`all_of_scope`) every claim
    /// the scope releases — only ever claims the scope releases.
    async fn id_token_claims(
        &self,
        subject: &str,
        scope: &crate::Scope,
        claims_request: Option<&Value>,
        all_of_scope: bool,
    ) -> Result<Map<String, Value>, OAuthError> {
        let Some(source) = &self.source else {
            return Ok(Map::new());
        };
        let wanted: Vec<&str> = claims_request
            .map(|request| requested_for(request, "id_token").collect())
            .unwrap_or_default();
        if wanted.is_empty() && !all_of_scope {
            return Ok(Map::new());
        }
        let Some(all) = source.claims(subject).await? else {
            return Ok(Map::new());
        };
        let mut released = self.claims.filter(scope, all);
        released.retain(|name, _| {
            (all_of_scope || wanted.contains(&name.as_str()))
                && !ID_TOKEN_OWN_CLAIMS.contains(&name.as_str())
        });
        Ok(released)
    }

    /// Signs `claims` with `algorithm`.
    fn sign(
        &self,
        client: &dyn Client,
        algorithm: Algorithm,
        now: i64,
        claims: &IdTokenClaims<'_>,
    ) -> Result<String, OAuthError> {
        let signer = self.keys.signer_for(algorithm, now);
        if signer.is_none() {
            tracing::error!(
                client_id = %client.client_id(),
                alg = %algorithm,
                "no signing key of the client's ID token algorithm is loaded; add it to the signing algorithms"
            );
        }
        sign_now_with(signer, None, claims, "an ID token")
    }
}

impl std::fmt::Debug for OpenIdConnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenIdConnect")
            .field("id_token_lifetime", &self.id_token_lifetime)
            .field("claims", &self.claims)
            .field("claims_source", &self.source.is_some())
            .field("end_session_endpoint", &self.end_session_endpoint)
            .field("backchannel_logout", &self.backchannel_logout)
            .finish_non_exhaustive()
    }
}

/// The claims of an ID token, borrowed from the issuance.
#[derive(Serialize)]
struct IdTokenClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    /// The authorized party: the client the ID token was issued to (Core §2), stated
    /// as Keycloak and Hydra do, so a relying party need not infer it from `aud`.
    azp: &'a str,
    exp: i64,
    iat: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    acr: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    amr: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    at_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    c_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    s_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<&'a str>,
    /// Consented claims the `claims` parameter asked to have here.
    #[serde(flatten)]
    requested: Map<String, Value>,
}

/// The grants whose tokens come with an ID token: the code flow a user signed in
/// through, and the refreshes of a grant that began so.
fn issues_id_token(issuance: &Issuance) -> bool {
    let flow = match issuance.grant_type.as_str() {
        "authorization_code" => true,
        "refresh_token" => issuance.extras.get::<OpenIdGrant>() == Some(true),
        _ => false,
    };
    flow && issuance.scope.contains(OPENID) && issuance.subject.is_some()
}

#[async_trait]
impl<S: ClientStore> TokenExtension<S> for OpenIdConnect {
    fn name(&self) -> &str {
        "openid"
    }

    fn metadata(&self, document: &mut Map<String, Value>) {
        let algorithms: Vec<Value> = self
            .keys
            .selectable_algorithms()
            .into_iter()
            .map(|alg| alg.name().into())
            .collect();
        let mut claims: Vec<Value> = [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "at_hash",
            "c_hash",
            "s_hash",
            "sid",
        ]
        .into_iter()
        .map(Value::from)
        .collect();
        claims.extend(self.claims.all().into_iter().map(Value::from));
        document.insert("subject_types_supported".into(), vec!["public"].into());
        document.insert(
            "id_token_signing_alg_values_supported".into(),
            algorithms.clone().into(),
        );
        document.insert(
            "userinfo_signing_alg_values_supported".into(),
            algorithms.into(),
        );
        document.insert("claims_supported".into(), claims.into());
        document.insert("claim_types_supported".into(), vec!["normal"].into());
        document.insert(
            "claims_parameter_supported".into(),
            self.source.is_some().into(),
        );
        document.insert("request_parameter_supported".into(), false.into());
        document.insert("request_uri_parameter_supported".into(), false.into());
        if let Some(url) = &self.end_session_endpoint {
            document.insert("end_session_endpoint".into(), url.clone().into());
        }
        if self.backchannel_logout {
            document.insert("backchannel_logout_supported".into(), true.into());
            document.insert("backchannel_logout_session_supported".into(), true.into());
        }
        // An OpenID provider lists `openid` among its scopes (Discovery §3).
        if let Some(Value::Array(scopes)) = document.get_mut("scopes_supported") {
            if !scopes.iter().any(|s| s == OPENID) {
                scopes.insert(0, OPENID.into());
            }
        }
    }

    async fn after_issue(
        &self,
        context: &TokenContext<'_, S>,
        issuance: &Issuance,
        issued: &mut IssuedToken,
        response: &mut TokenResponse,
    ) -> Result<(), OAuthError> {
        // The nonce was handed over for this ID token only: it is not kept with the
        // tokens, so a refresh cannot echo it.
        issued.record.extras.remove::<Nonce>();
        if !issues_id_token(issuance) {
            return Ok(());
        }
        let client = context.client()?;
        let algorithm = id_token_algorithm(client)?;
        let issuer = required_issuer(context.env().issuer(), "ID tokens")?;
        let now = context.now();
        let nonce = match issuance.grant_type.as_str() {
            "authorization_code" => issuance.extras.get_raw(Nonce::NAME).and_then(Value::as_str),
            _ => None,
        };
        let requested = self.requested_claims(issuance).await?;
        let subject = context
            .env()
            .subject_for(client, issuance.subject.as_deref().unwrap_or_default())?;
        let claims = IdTokenClaims {
            iss: issuer,
            sub: &subject,
            aud: client.client_id(),
            azp: client.client_id(),
            exp: now.saturating_add(self.id_token_lifetime),
            iat: now,
            auth_time: issuance.extras.get::<AuthTime>(),
            nonce,
            acr: issuance.extras.get_raw("acr"),
            amr: issuance.extras.get_raw("amr"),
            at_hash: Some(left_half_hash(algorithm, &issued.access_token)),
            c_hash: None,
            s_hash: None,
            sid: issuance
                .extras
                .get_raw(SessionId::NAME)
                .and_then(Value::as_str),
            requested,
        };
        let id_token = self.sign(client, algorithm, now, &claims)?;
        response.insert("id_token", id_token);
        issued.record.extras.insert::<OpenIdGrant>(true);
        Ok(())
    }

    async fn authorization_response(
        &self,
        context: &AuthorizationContext<'_, S>,
        request: &AuthorizationRequest,
        client: &S::Client,
        user: &dyn User,
        params: &mut Vec<(String, String)>,
    ) -> Result<(), OAuthError> {
        if !request
            .response_type()
            .split(' ')
            .any(|part| part == "id_token")
        {
            return Ok(());
        }
        let algorithm = id_token_algorithm(client)?;
        let issuer = required_issuer(context.env().issuer(), "ID tokens")?;
        let now = context.now();
        let param = |name: &str| {
            params
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.as_str())
        };
        let at_hash = param("access_token").map(|token| left_half_hash(algorithm, token));
        let c_hash = param("code").map(|code| left_half_hash(algorithm, code));
        let s_hash = request
            .state()
            .map(|state| left_half_hash(algorithm, state));
        // Validated with the request; a value that no longer parses asks for nothing.
        let claims_request = request
            .params()
            .get("claims")
            .and_then(|text| parse_claims_request(text).ok());
        // `id_token` alone issues no access token, so the client cannot ask UserInfo:
        // that ID token carries the scope's claims (Core §5.4).
        let requested = self
            .id_token_claims(
                user.subject(),
                request.scope(),
                claims_request.as_ref(),
                request.response_type() == "id_token",
            )
            .await?;
        let subject = context.env().subject_for(client, user.subject())?;
        let claims = IdTokenClaims {
            iss: issuer,
            sub: &subject,
            aud: client.client_id(),
            azp: client.client_id(),
            exp: now.saturating_add(self.id_token_lifetime),
            iat: now,
            auth_time: user.auth_time(),
            nonce: request.params().get("nonce"),
            acr: None,
            amr: None,
            at_hash,
            c_hash,
            s_hash,
            sid: user.session_id(),
            requested,
        };
        let id_token = self.sign(client, algorithm, now, &claims)?;
        params.push(("id_token".to_owned(), id_token));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_is_the_left_half_of_the_algorithms_hash() {
        // OpenID Connect Core §A.3's example access token and at_hash (RS256).
        assert_eq!(
            left_half_hash(
                Algorithm::Rs256,
                "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"
            ),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
        assert_eq!(left_half_hash(Algorithm::EdDsa, "x").len(), 43);
        assert_eq!(left_half_hash(Algorithm::Es256, "x").len(), 22);
    }
}
