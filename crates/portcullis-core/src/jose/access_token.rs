//! JWT access tokens (RFC 9068) as an [`AccessTokenStrategy`]: signed with the key
//! that is current when they are issued, `typ: at+jwt`, and still recorded — under the
//! key of their `jti` — so that revocation and introspection work as for opaque tokens.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use super::{verify, KeySet, Signer, Validation};
use crate::error::OAuthError;
use crate::model::{AuthTime, Client, Extra};
use crate::random::ordered_token;
use crate::scope::Scope;
use crate::secret::{labelled_token_key, token_key};
use crate::tokens::{AccessTokenStrategy, OpaqueTokens, StrategyContext};

/// The `typ` of a JWT access token (RFC 9068 §2.1).
pub const AT_JWT: &str = "at+jwt";

/// Where a JWT strategy gets its keys: the key that signs now, and the keys that
/// verify what was signed (current, next and retired).
pub trait SigningKeys: Send + Sync + fmt::Debug + 'static {
    /// The key that signs at `now` (seconds), if any is loaded.
    fn signer(&self, now: i64) -> Option<Arc<Signer>>;

    /// The key of `algorithm` that signs at `now`, if any is loaded (ID tokens are
    /// signed with the algorithm each client registered). By default, the current
    /// key when it is of that algorithm.
    fn signer_for(&self, algorithm: super::Algorithm, now: i64) -> Option<Arc<Signer>> {
        self.signer(now)
            .filter(|signer| signer.algorithm() == algorithm)
    }

    /// The keys that verify this server's signatures, if loaded.
    fn verification_keys(&self) -> Option<Arc<KeySet>>;

    /// The algorithms [`signer`](Self::signer) signs with, for metadata such as
    /// `introspection_signing_alg_values_supported`; none by default.
    fn signing_algorithms(&self) -> Vec<super::Algorithm> {
        Vec::new()
    }

    /// Every algorithm [`signer_for`](Self::signer_for) signs with, for metadata such
    /// as `id_token_signing_alg_values_supported`; by default
    /// [`signing_algorithms`](Self::signing_algorithms).
    fn selectable_algorithms(&self) -> Vec<super::Algorithm> {
        self.signing_algorithms()
    }
}

/// The server's issuer, which a signed token must name; its absence is the server's
/// misconfiguration (`server_error`, logged), never the caller's fault.
pub(crate) fn required_issuer<'a>(
    issuer: Option<&'a str>,
    what: &str,
) -> Result<&'a str, OAuthError> {
    issuer.ok_or_else(|| {
        tracing::error!("{what} need the server's issuer (with_issuer)");
        OAuthError::server_error()
    })
}

/// `claims` signed by `signer`, with `typ`; with no signer, or a failed signature,
/// `server_error` (logged, naming `what`).
pub(crate) fn sign_now_with(
    signer: Option<Arc<Signer>>,
    typ: Option<&str>,
    claims: &impl serde::Serialize,
    what: &str,
) -> Result<String, OAuthError> {
    let signer = signer.ok_or_else(|| {
        tracing::error!("no signing key is current: cannot sign {what}");
        OAuthError::server_error()
    })?;
    signer.sign(typ, claims).map_err(|error| {
        tracing::error!(%error, "signing {what} failed");
        OAuthError::server_error()
    })
}

/// `claims` signed by the key of `keys` that is current at `now`, with `typ`; with no
/// current key, or a failed signature, `server_error` (logged, naming `what`).
pub(crate) fn sign_now(
    keys: &dyn SigningKeys,
    now: i64,
    typ: &str,
    claims: &impl serde::Serialize,
    what: &str,
) -> Result<String, OAuthError> {
    sign_now_with(keys.signer(now), Some(typ), claims, what)
}

/// A client's choice of access token format, in its registration metadata's extras
/// (`access_token_format`): `"jwt"` or `"opaque"`. Absent: the strategy's default.
#[derive(Debug)]
#[non_exhaustive]
pub struct AccessTokenFormat;

impl Extra for AccessTokenFormat {
    const NAME: &'static str = "access_token_format";
    type Value = String;
}

/// JWT access tokens for the clients that want them, opaque tokens for the others.
///
/// Claims (RFC 9068 §2.2): `iss`, `exp`, `aud` (the token's audience, or the issuer
/// when it has none: the default resource), `sub` (the resource owner as the client
/// is told it — pairwise for a pairwise client —, or the client for
/// `client_credentials`), `client_id`, `iat`, `jti`, `scope`, and `auth_time`,
/// `acr`, `amr` when the token's extras carry them. The `jti` is an ordered random
/// token; the record is stored under a key hashed from it behind a label, never one a
/// presented opaque token could map to.
#[derive(Debug, Clone)]
pub struct JwtAccessTokens {
    keys: Arc<dyn SigningKeys>,
    jwt_by_default: bool,
}

impl JwtAccessTokens {
    /// JWT access tokens signed by `keys`, for every client that does not ask for
    /// opaque ones.
    pub fn new(keys: Arc<dyn SigningKeys>) -> Self {
        Self {
            keys,
            jwt_by_default: true,
        }
    }

    /// Whether clients that say nothing get JWTs (`true`) or opaque tokens.
    pub fn jwt_by_default(mut self, jwt: bool) -> Self {
        self.jwt_by_default = jwt;
        self
    }

    /// Whether `client` gets JWT access tokens.
    pub fn issues_jwt_for(&self, client: &dyn Client) -> bool {
        // Read in place: this runs for every token of every client.
        match client
            .metadata()
            .extras
            .get_raw(AccessTokenFormat::NAME)
            .and_then(Value::as_str)
        {
            Some("jwt") => true,
            Some("opaque") => false,
            _ => self.jwt_by_default,
        }
    }

    fn claims<'a>(
        context: &'a StrategyContext<'_>,
        jti: &'a str,
    ) -> Result<Claims<'a>, OAuthError> {
        let record = context.record;
        let issuer = required_issuer(context.issuer, "JWT access tokens")?;
        let audience = match record.audience.as_slice() {
            [] => Audience::One(issuer),
            [one] => Audience::One(one),
            many => Audience::Many(many),
        };
        Ok(Claims {
            iss: issuer,
            exp: record.issued_at.saturating_add(record.expires_in),
            aud: audience,
            sub: context
                .subject
                .or(record.subject.as_deref())
                .unwrap_or(&record.client_id),
            client_id: &record.client_id,
            iat: record.issued_at,
            jti,
            scope: (!record.scope.is_empty()).then_some(&record.scope),
            auth_time: record.extras.get_raw(AuthTime::NAME),
            acr: record.extras.get_raw("acr"),
            amr: record.extras.get_raw("amr"),
        })
    }
}

/// The claims of a JWT access token (RFC 9068 §2.2), borrowed from the record: no
/// JSON tree is built for every token.
#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    exp: i64,
    aud: Audience<'a>,
    sub: &'a str,
    client_id: &'a str,
    iat: i64,
    jti: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a Scope>,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_time: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    acr: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    amr: Option<&'a Value>,
}

/// `aud`: one string, or an array when the token has several audiences.
#[derive(Serialize)]
#[serde(untagged)]
enum Audience<'a> {
    One(&'a str),
    Many(&'a [String]),
}

impl AccessTokenStrategy for JwtAccessTokens {
    fn mint(&self, context: &StrategyContext<'_>) -> Result<String, OAuthError> {
        self.mint_keyed(context).map(|(token, _)| token)
    }

    fn mint_keyed(&self, context: &StrategyContext<'_>) -> Result<(String, String), OAuthError> {
        if !self.issues_jwt_for(context.client) {
            let token = OpaqueTokens::new().mint(context)?;
            let key = token_key(&token);
            return Ok((token, key));
        }
        let jti = ordered_token(context.random, context.clock.now_millis());
        let claims = Self::claims(context, &jti)?;
        let token = sign_now(
            self.keys.as_ref(),
            context.clock.now(),
            AT_JWT,
            &claims,
            "an access token",
        )?;
        Ok((token, jwt_key(&jti)))
    }

    /// A JWT (three segments) is recognised only with a valid signature of one of
    /// this server's keys and `typ: at+jwt`; its key is derived from its `jti`.
    /// Anything else is looked up as an opaque token. The expiry is the stored
    /// record's to decide.
    fn key(&self, token: &str) -> Option<String> {
        if token.bytes().filter(|b| *b == b'.').count() != 2 {
            return Some(token_key(token));
        }
        let keys = self.keys.verification_keys()?;
        let validation = Validation::new(0)
            .with_typ(AT_JWT)
            .without_time_checks()
            .skip_audience();
        let verified = verify(token, &keys, &validation).ok()?;
        let jti = verified.claims.get("jti")?.as_str()?;
        Some(jwt_key(jti))
    }
}

/// The label of JWT access tokens' key space: see [`labelled_token_key`].
const JWT_KEY_LABEL: &str = "at+jwt:";

/// The key a JWT access token's record is stored and looked up under. A `jti` has
/// the shape of an opaque token, and it is readable in the token (and often logged):
/// keyed as [`token_key`] keys tokens, the bare `jti` presented as a bearer token
/// would find the record without any signature.
fn jwt_key(jti: &str) -> String {
    labelled_token_key(JWT_KEY_LABEL, jti)
}
