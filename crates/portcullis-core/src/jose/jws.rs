//! JWS compact serialization (RFC 7515 §7.1): [`Signer`] signs, [`verify`] checks a
//! token against a [`KeySet`] under a [`Validation`], strictly (see the module
//! header of [`crate::jose`]).

use std::fmt;

use base64::Engine as _;
use serde::Serialize;
use serde_json::{Map, Value};

use super::json::parse_object;
use super::{b64, Algorithm, CryptoProvider, JoseError, Jwk, JwkSet, SigningKey, VerifyingKey};

/// Header parameters registered by RFC 7515 §4.1, which `crit` may not list.
const REGISTERED_HEADERS: [&str; 11] = [
    "alg", "jku", "jwk", "kid", "x5u", "x5c", "x5t", "x5t#S256", "typ", "cty", "crit",
];

/// A signing key with its `kid`: signs JWTs whose header names both.
pub struct Signer {
    key: Box<dyn SigningKey>,
    kid: String,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("kid", &self.kid)
            .field("algorithm", &self.key.algorithm())
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// Signs with `key`, naming it `kid`.
    pub fn new(key: Box<dyn SigningKey>, kid: impl Into<String>) -> Signer {
        Signer {
            key,
            kid: kid.into(),
        }
    }

    /// Signs with `key`, named by its RFC 7638 thumbprint.
    pub fn with_thumbprint_kid(key: Box<dyn SigningKey>) -> Result<Signer, JoseError> {
        let kid = key.public_jwk().thumbprint()?;
        Ok(Signer::new(key, kid))
    }

    /// A new key of `algorithm` from `provider`, named by its thumbprint.
    pub fn generate(provider: &CryptoProvider, algorithm: Algorithm) -> Result<Signer, JoseError> {
        Signer::with_thumbprint_kid(provider.require(algorithm)?.generate()?)
    }

    /// The key id in every header this signer writes.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm it signs with.
    pub fn algorithm(&self) -> Algorithm {
        self.key.algorithm()
    }

    /// The private key (to store it).
    pub fn key(&self) -> &dyn SigningKey {
        self.key.as_ref()
    }

    /// The public key as published in a JWK Set: with `kid`, `alg` and `use: sig`.
    pub fn public_jwk(&self) -> Jwk {
        self.key
            .public_jwk()
            .for_signing(self.kid.clone(), self.algorithm())
    }

    /// A compact JWS of `claims` with header `{"alg", "kid", "typ"}` (`typ` when given).
    pub fn sign(&self, typ: Option<&str>, claims: &impl Serialize) -> Result<String, JoseError> {
        /// The header of [`Signer::sign`], borrowed: no map is built per signature.
        #[derive(Serialize)]
        struct Header<'a> {
            alg: &'a str,
            kid: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            typ: Option<&'a str>,
        }
        let header = Header {
            alg: self.algorithm().name(),
            kid: &self.kid,
            typ,
        };
        self.sign_serialized(&header, claims)
    }

    /// A compact JWS of `claims` with `header`, whose `alg` and `kid` this signer sets
    /// (overriding any given).
    pub fn sign_with_header(
        &self,
        mut header: Map<String, Value>,
        claims: &impl Serialize,
    ) -> Result<String, JoseError> {
        header.insert("alg".into(), Value::String(self.algorithm().name().into()));
        header.insert("kid".into(), Value::String(self.kid.clone()));
        self.sign_serialized(&header, claims)
    }

    /// The compact JWS of `header` and `claims`, both serialized as given.
    fn sign_serialized(
        &self,
        header: &impl Serialize,
        claims: &impl Serialize,
    ) -> Result<String, JoseError> {
        let header =
            serde_json::to_vec(header).map_err(|e| JoseError::Malformed(format!("header: {e}")))?;
        let payload =
            serde_json::to_vec(claims).map_err(|e| JoseError::Malformed(format!("claims: {e}")))?;
        let mut token = String::with_capacity((header.len() + payload.len()) * 4 / 3 + 120);
        b64().encode_string(&header, &mut token);
        token.push('.');
        b64().encode_string(&payload, &mut token);
        let signature = self.key.sign(token.as_bytes())?;
        token.push('.');
        b64().encode_string(&signature, &mut token);
        Ok(token)
    }
}

/// One trusted public key of a [`KeySet`]: its `kid` (if any) and its verifier, which
/// is bound to exactly one algorithm.
#[derive(Debug)]
pub struct VerifyingKeyEntry {
    kid: Option<String>,
    key: Box<dyn VerifyingKey>,
}

impl VerifyingKeyEntry {
    /// The key id.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The one algorithm this key verifies.
    pub fn algorithm(&self) -> Algorithm {
        self.key.algorithm()
    }
}

/// The keys a verifier trusts, each bound to one algorithm. Keys come only from here:
/// never from the token's own `jwk`, `jku`, `x5u` or `x5c` headers.
#[derive(Debug, Default)]
pub struct KeySet {
    entries: Vec<VerifyingKeyEntry>,
}

impl KeySet {
    /// No keys: every token is refused.
    pub fn new() -> KeySet {
        KeySet::default()
    }

    /// Trusts `key` under `kid`, for its algorithm only.
    pub fn insert(&mut self, kid: Option<String>, key: Box<dyn VerifyingKey>) {
        self.entries.push(VerifyingKeyEntry { kid, key });
    }

    /// Trusts the public key of `signer`.
    pub fn insert_signer(
        &mut self,
        provider: &CryptoProvider,
        signer: &Signer,
    ) -> Result<(), JoseError> {
        let key = provider
            .require(signer.algorithm())?
            .verifying_key(&signer.public_jwk())?;
        self.insert(Some(signer.kid().to_owned()), key);
        Ok(())
    }

    /// Trusts `jwk` for the algorithms of `allowed` that it may be used with: its
    /// `alg` when it names one; otherwise the curve's (ES256 for P-256, EdDSA for
    /// Ed25519) or, for an RSA key, each allowed RSA algorithm. Refuses keys whose
    /// `use` is not `sig`, whose `alg` is unsupported or not allowed, and malformed
    /// or short keys. Returns how many algorithms the key was added for.
    pub fn add_jwk(
        &mut self,
        provider: &CryptoProvider,
        jwk: &Jwk,
        allowed: &[Algorithm],
    ) -> Result<usize, JoseError> {
        if jwk.use_.as_deref().is_some_and(|u| u != "sig") {
            return Err(JoseError::Key("the key is not for signatures (use)".into()));
        }
        let algorithms: Vec<Algorithm> = match jwk.alg.as_deref() {
            Some(name) => {
                let alg = Algorithm::from_name(name)
                    .ok_or_else(|| JoseError::AlgorithmNotAllowed(name.to_owned()))?;
                vec![alg]
            }
            None => Algorithm::ALL
                .into_iter()
                .filter(|a| a.key_type() == jwk.kty)
                .filter(|a| match a {
                    Algorithm::Es256 => jwk.crv.as_deref() == Some("P-256"),
                    Algorithm::EdDsa => jwk.crv.as_deref() == Some("Ed25519"),
                    _ => true,
                })
                .collect(),
        };
        // Every key is built before any is trusted: an error leaves the set as it was.
        let keys = algorithms
            .into_iter()
            .filter(|a| allowed.contains(a))
            .filter_map(|alg| provider.find(alg))
            .map(|alg| alg.verifying_key(jwk))
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err(JoseError::AlgorithmNotAllowed(
                jwk.alg.clone().unwrap_or_else(|| jwk.kty.clone()),
            ));
        }
        let added = keys.len();
        for key in keys {
            self.insert(jwk.kid.clone(), key);
        }
        Ok(added)
    }

    /// The keys of `set` usable with `allowed` (see [`add_jwk`](Self::add_jwk));
    /// the others are skipped, with a debug log naming their `kid` and why.
    pub fn from_jwk_set(provider: &CryptoProvider, set: &JwkSet, allowed: &[Algorithm]) -> KeySet {
        let mut keys = KeySet::new();
        for jwk in &set.keys {
            if let Err(error) = keys.add_jwk(provider, jwk, allowed) {
                tracing::debug!(kid = ?jwk.kid, %error, "JWK skipped");
            }
        }
        keys
    }

    /// How many (key, algorithm) entries there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no key is trusted.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries.
    pub fn entries(&self) -> &[VerifyingKeyEntry] {
        &self.entries
    }
}

/// Who the token must be for.
#[derive(Debug, Clone)]
enum AudienceRule {
    /// Not said: a token naming an audience is refused, so that forgetting the check
    /// fails closed.
    Unset,
    /// `aud` must name one of these.
    OneOf(Vec<String>),
    /// Not checked, on purpose.
    Skip,
}

/// What [`verify`] requires of a token beyond a good signature. Start from
/// [`Validation::new`] with the caller's clock.
#[derive(Debug, Clone)]
pub struct Validation {
    now: i64,
    leeway: i64,
    algorithms: Option<Vec<Algorithm>>,
    typ: Option<String>,
    issuer: Option<String>,
    audience: AudienceRule,
    require_exp: bool,
    check_times: bool,
    max_token_bytes: usize,
    max_header_bytes: usize,
    understood_crit: Vec<String>,
}

impl Validation {
    /// Default skew allowed on `exp`, `nbf` and `iat`, in seconds.
    pub const DEFAULT_LEEWAY: i64 = 30;
    /// Default bound on the whole token, checked before anything is decoded.
    pub const DEFAULT_MAX_TOKEN_BYTES: usize = 16 * 1024;
    /// Default bound on the encoded header.
    pub const DEFAULT_MAX_HEADER_BYTES: usize = 2 * 1024;

    /// Checks at `now` (seconds since the epoch, from the caller's clock): any
    /// algorithm of the key set, `exp` required, 30 s of skew, no `typ`, issuer or
    /// audience requirement yet (a token carrying `aud` is refused until one of
    /// [`with_audience`](Self::with_audience) or [`skip_audience`](Self::skip_audience)
    /// says what to do with it).
    pub fn new(now: i64) -> Validation {
        Validation {
            now,
            leeway: Self::DEFAULT_LEEWAY,
            algorithms: None,
            typ: None,
            issuer: None,
            audience: AudienceRule::Unset,
            require_exp: true,
            check_times: true,
            max_token_bytes: Self::DEFAULT_MAX_TOKEN_BYTES,
            max_header_bytes: Self::DEFAULT_MAX_HEADER_BYTES,
            understood_crit: Vec::new(),
        }
    }

    /// The skew allowed on `exp`, `nbf` and `iat`, in seconds.
    pub fn with_leeway(mut self, seconds: u32) -> Validation {
        self.leeway = i64::from(seconds);
        self
    }

    /// Only these algorithms are accepted (on top of each key's own).
    pub fn with_algorithms(
        mut self,
        algorithms: impl IntoIterator<Item = Algorithm>,
    ) -> Validation {
        self.algorithms = Some(algorithms.into_iter().collect());
        self
    }

    /// The header's `typ` must be `typ`, compared case-insensitively and with an
    /// optional `application/` prefix (RFC 7515 §4.1.9), e.g. `at+jwt` (RFC 9068).
    pub fn with_typ(mut self, typ: impl Into<String>) -> Validation {
        self.typ = Some(typ.into());
        self
    }

    /// `iss` must be exactly `issuer`.
    pub fn with_issuer(mut self, issuer: impl Into<String>) -> Validation {
        self.issuer = Some(issuer.into());
        self
    }

    /// `aud` (a string or an array) must name one of `audiences`.
    pub fn with_audience<I, S>(mut self, audiences: I) -> Validation
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.audience = AudienceRule::OneOf(audiences.into_iter().map(Into::into).collect());
        self
    }

    /// `aud` is not checked (the caller checks it, or the profile has none).
    pub fn skip_audience(mut self) -> Validation {
        self.audience = AudienceRule::Skip;
        self
    }

    /// A token without `exp` is accepted.
    pub fn allow_missing_exp(mut self) -> Validation {
        self.require_exp = false;
        self
    }

    /// `exp`, `nbf` and `iat` are not checked: for a lookup whose stored record
    /// carries the authoritative expiry (an access token's key). Their types still are.
    pub fn without_time_checks(mut self) -> Validation {
        self.check_times = false;
        self.require_exp = false;
        self
    }

    /// Bounds the whole token to `bytes`.
    pub fn with_max_token_bytes(mut self, bytes: usize) -> Validation {
        self.max_token_bytes = bytes;
        self
    }

    /// Bounds the encoded header to `bytes`.
    pub fn with_max_header_bytes(mut self, bytes: usize) -> Validation {
        self.max_header_bytes = bytes;
        self
    }

    /// Header extensions the caller handles, which a `crit` header may list.
    pub fn with_understood_crit<I, S>(mut self, names: I) -> Validation
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.understood_crit = names.into_iter().map(Into::into).collect();
        self
    }
}

/// A token whose signature, header and claims passed [`verify`].
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct VerifiedJwt {
    /// The algorithm of the key that verified it.
    pub algorithm: Algorithm,
    /// The `kid` of that key.
    pub kid: Option<String>,
    /// The protected header.
    pub header: Map<String, Value>,
    /// The claims.
    pub claims: Map<String, Value>,
}

/// Checks the compact JWS `token` against `keys` and `validation`: sizes, shape,
/// header (`alg`, `crit`, `typ`, `kid`), signature, then claims. See the module
/// header for what is refused.
pub fn verify(
    token: &str,
    keys: &KeySet,
    validation: &Validation,
) -> Result<VerifiedJwt, JoseError> {
    let (header_b64, payload_b64, signature_b64) = split_compact(token, validation)?;
    let header = parse_object(&decode_segment(header_b64, "header")?)
        .map_err(|e| JoseError::Malformed(format!("header: {e}")))?;

    let algorithm = header_algorithm(&header, validation)?;
    check_critical(&header, validation)?;
    check_typ(&header, validation)?;
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.as_str()),
        Some(_) => return Err(JoseError::Malformed("header: kid is not a string".into())),
    };

    let candidates: Vec<&VerifyingKeyEntry> = keys
        .entries
        .iter()
        .filter(|e| e.key.algorithm() == algorithm)
        .filter(|e| kid.is_none() || e.kid.as_deref() == kid)
        .collect();
    if candidates.is_empty() {
        return Err(JoseError::UnknownKey);
    }
    let signature = decode_segment(signature_b64, "signature")?;
    let signing_input = &token.as_bytes()[..header_b64.len() + 1 + payload_b64.len()];
    let Some(entry) = candidates
        .into_iter()
        .find(|e| e.key.verify(signing_input, &signature))
    else {
        return Err(JoseError::BadSignature);
    };

    let claims = parse_object(&decode_segment(payload_b64, "payload")?)
        .map_err(|e| JoseError::Malformed(format!("claims: {e}")))?;
    check_claims(&claims, validation)?;
    Ok(VerifiedJwt {
        algorithm,
        kid: entry.kid.clone(),
        header,
        claims,
    })
}

/// A JWS header and claims, decoded but not verified ([`unverified_parts`]).
pub type UnverifiedParts = (Map<String, Value>, Map<String, Value>);

/// The header and claims of the compact JWS `token`, decoded (strictly, and within the
/// sizes of `validation`) but **not verified**: only to learn which key or secret
/// verifies it (a client assertion names its client in `iss`). Trust nothing in them
/// before [`verify`] or [`verify_hmac`] passed.
pub fn unverified_parts(
    token: &str,
    validation: &Validation,
) -> Result<UnverifiedParts, JoseError> {
    let (header_b64, payload_b64, _) = split_compact(token, validation)?;
    let header = parse_object(&decode_segment(header_b64, "header")?)
        .map_err(|e| JoseError::Malformed(format!("header: {e}")))?;
    let claims = parse_object(&decode_segment(payload_b64, "payload")?)
        .map_err(|e| JoseError::Malformed(format!("claims: {e}")))?;
    Ok((header, claims))
}

/// Checks the size bounds and splits a compact JWS into its three segments.
fn split_compact<'t>(
    token: &'t str,
    validation: &Validation,
) -> Result<(&'t str, &'t str, &'t str), JoseError> {
    if token.len() > validation.max_token_bytes {
        return Err(JoseError::TooLarge("the token exceeds its size limit"));
    }
    let mut segments = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return Err(JoseError::Malformed(
            "a signed JWT has three dot-separated segments (encrypted tokens are not accepted)"
                .into(),
        ));
    };
    if header_b64.len() > validation.max_header_bytes {
        return Err(JoseError::TooLarge("the header exceeds its size limit"));
    }
    Ok((header_b64, payload_b64, signature_b64))
}

/// Checks the compact JWS `token`, MACed with the shared `secret` under one of
/// `allowed` (RFC 7518 §3.2), against `validation`, as strictly as [`verify`]: sizes,
/// shape, `alg` (never `none`, only `allowed`), `crit`, `typ`, the MAC in constant
/// time, then the claims. Returns the algorithm and the claims. The algorithm list of
/// `validation` ([`Validation::with_algorithms`]) does not apply: `allowed` does.
pub fn verify_hmac(
    token: &str,
    secret: &[u8],
    allowed: &[super::HmacAlgorithm],
    validation: &Validation,
) -> Result<(super::HmacAlgorithm, Map<String, Value>), JoseError> {
    let (header_b64, payload_b64, signature_b64) = split_compact(token, validation)?;
    let header = parse_object(&decode_segment(header_b64, "header")?)
        .map_err(|e| JoseError::Malformed(format!("header: {e}")))?;
    let Some(Value::String(name)) = header.get("alg") else {
        return Err(JoseError::Malformed(
            "header: alg missing or not a string".into(),
        ));
    };
    if name.eq_ignore_ascii_case("none") {
        return Err(JoseError::AlgNone);
    }
    let algorithm = super::HmacAlgorithm::from_name(name)
        .filter(|a| allowed.contains(a))
        .ok_or_else(|| JoseError::AlgorithmNotAllowed(name.clone()))?;
    check_critical(&header, validation)?;
    check_typ(&header, validation)?;
    let signature = decode_segment(signature_b64, "signature")?;
    let signing_input = &token.as_bytes()[..header_b64.len() + 1 + payload_b64.len()];
    if !algorithm.verify(secret, signing_input, &signature) {
        return Err(JoseError::BadSignature);
    }
    let claims = parse_object(&decode_segment(payload_b64, "payload")?)
        .map_err(|e| JoseError::Malformed(format!("claims: {e}")))?;
    check_claims(&claims, validation)?;
    Ok((algorithm, claims))
}

fn decode_segment(segment: &str, what: &str) -> Result<Vec<u8>, JoseError> {
    b64()
        .decode(segment)
        .map_err(|_| JoseError::Malformed(format!("{what}: not base64url without padding")))
}

fn header_algorithm(
    header: &Map<String, Value>,
    validation: &Validation,
) -> Result<Algorithm, JoseError> {
    let Some(Value::String(name)) = header.get("alg") else {
        return Err(JoseError::Malformed(
            "header: alg missing or not a string".into(),
        ));
    };
    if name.eq_ignore_ascii_case("none") {
        return Err(JoseError::AlgNone);
    }
    let algorithm =
        Algorithm::from_name(name).ok_or_else(|| JoseError::AlgorithmNotAllowed(name.clone()))?;
    if let Some(allowed) = &validation.algorithms {
        if !allowed.contains(&algorithm) {
            return Err(JoseError::AlgorithmNotAllowed(name.clone()));
        }
    }
    Ok(algorithm)
}

/// RFC 7515 §4.1.11: `crit` is a non-empty list of extension header names that the
/// header carries; every one must be understood.
fn check_critical(header: &Map<String, Value>, validation: &Validation) -> Result<(), JoseError> {
    let Some(crit) = header.get("crit") else {
        return Ok(());
    };
    let Some(names) = crit.as_array().filter(|names| !names.is_empty()) else {
        return Err(JoseError::UnsupportedCritical(
            "crit must be a non-empty list of header names".into(),
        ));
    };
    for name in names {
        let Some(name) = name.as_str() else {
            return Err(JoseError::UnsupportedCritical(
                "crit lists something that is not a name".into(),
            ));
        };
        if REGISTERED_HEADERS.contains(&name) || !header.contains_key(name) {
            return Err(JoseError::UnsupportedCritical(format!(
                "crit lists {name:?}, which is registered or absent from the header"
            )));
        }
        if !validation.understood_crit.iter().any(|u| u == name) {
            return Err(JoseError::UnsupportedCritical(name.to_owned()));
        }
    }
    Ok(())
}

fn check_typ(header: &Map<String, Value>, validation: &Validation) -> Result<(), JoseError> {
    let Some(expected) = &validation.typ else {
        return Ok(());
    };
    let found = header.get("typ").and_then(Value::as_str);
    let bare = |t: &str| match t.get(..12) {
        Some(prefix) if prefix.eq_ignore_ascii_case("application/") => t[12..].to_owned(),
        _ => t.to_owned(),
    };
    match found {
        Some(found) if bare(found).eq_ignore_ascii_case(&bare(expected)) => Ok(()),
        _ => Err(JoseError::WrongType {
            expected: expected.clone(),
            found: found.map(str::to_owned),
        }),
    }
}

fn numeric_date(
    claims: &Map<String, Value>,
    claim: &'static str,
) -> Result<Option<f64>, JoseError> {
    match claims.get(claim) {
        None => Ok(None),
        Some(value) => value.as_f64().map(Some).ok_or(JoseError::InvalidClaim {
            claim,
            reason: "not a NumericDate".into(),
        }),
    }
}

fn check_claims(claims: &Map<String, Value>, validation: &Validation) -> Result<(), JoseError> {
    // i64 seconds are exact in f64 for any date this side of the year 285 million.
    let now = validation.now as f64;
    let leeway = if validation.check_times {
        validation.leeway as f64
    } else {
        f64::INFINITY
    };
    match numeric_date(claims, "exp")? {
        Some(exp) if now >= exp + leeway => return Err(JoseError::Expired),
        None if validation.require_exp => {
            return Err(JoseError::InvalidClaim {
                claim: "exp",
                reason: "missing".into(),
            })
        }
        _ => {}
    }
    if numeric_date(claims, "nbf")?.is_some_and(|nbf| now + leeway < nbf) {
        return Err(JoseError::NotYetValid);
    }
    if numeric_date(claims, "iat")?.is_some_and(|iat| iat > now + leeway) {
        return Err(JoseError::IssuedInFuture);
    }
    if let Some(issuer) = &validation.issuer {
        if claims.get("iss").and_then(Value::as_str) != Some(issuer.as_str()) {
            return Err(JoseError::InvalidClaim {
                claim: "iss",
                reason: format!("not {issuer:?}"),
            });
        }
    }
    let audiences: Option<Vec<&str>> = match claims.get("aud") {
        None => None,
        Some(Value::String(one)) => Some(vec![one.as_str()]),
        Some(Value::Array(many)) => Some(
            many.iter()
                .map(|a| {
                    a.as_str().ok_or(JoseError::InvalidClaim {
                        claim: "aud",
                        reason: "not a string or an array of strings".into(),
                    })
                })
                .collect::<Result<_, _>>()?,
        ),
        Some(_) => {
            return Err(JoseError::InvalidClaim {
                claim: "aud",
                reason: "not a string or an array of strings".into(),
            })
        }
    };
    match (&validation.audience, audiences) {
        (AudienceRule::Skip, _) | (AudienceRule::Unset, None) => Ok(()),
        (AudienceRule::Unset, Some(_)) => Err(JoseError::InvalidClaim {
            claim: "aud",
            reason: "the token names an audience but the verifier accepts none \
                     (Validation::with_audience, or skip_audience)"
                .into(),
        }),
        (AudienceRule::OneOf(accepted), found) => {
            if found.is_some_and(|found| found.iter().any(|a| accepted.iter().any(|b| a == b))) {
                Ok(())
            } else {
                Err(JoseError::InvalidClaim {
                    claim: "aud",
                    reason: "not one of the accepted audiences".into(),
                })
            }
        }
    }
}
