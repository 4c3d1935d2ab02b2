//! [`Jwk`] and [`JwkSet`] (RFC 7517): public keys as JSON, and their RFC 7638
//! thumbprints.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::{b64, Algorithm, JoseError};

/// A public JSON Web Key: RSA (`n`, `e`), EC P-256 (`crv`, `x`, `y`) or OKP Ed25519
/// (`crv`, `x`). Private members (`d`, `p`, `q`, …) have no field here, so a JWK
/// parsed from somewhere can never carry them on when it is published again.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// Key type: `RSA`, `EC` or `OKP`.
    pub kty: String,
    /// Key id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// The algorithm the key is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Intended use: `sig` for every key Portcullis publishes.
    #[serde(default, rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    /// Curve (`P-256`, `Ed25519`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// RSA modulus, base64url big-endian.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA public exponent, base64url big-endian.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    /// EC x coordinate, or the Ed25519 public key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// EC y coordinate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
}

impl Jwk {
    /// An RSA public key from its big-endian modulus and exponent.
    pub fn rsa(n: &[u8], e: &[u8]) -> Jwk {
        Jwk {
            n: Some(b64().encode(strip_leading_zeros(n))),
            e: Some(b64().encode(strip_leading_zeros(e))),
            ..Jwk::empty("RSA")
        }
    }

    /// A P-256 public key from its coordinates (32 bytes each).
    pub fn p256(x: &[u8], y: &[u8]) -> Jwk {
        Jwk {
            crv: Some("P-256".to_owned()),
            x: Some(b64().encode(x)),
            y: Some(b64().encode(y)),
            ..Jwk::empty("EC")
        }
    }

    /// An Ed25519 public key (32 bytes).
    pub fn ed25519(public_key: &[u8]) -> Jwk {
        Jwk {
            crv: Some("Ed25519".to_owned()),
            x: Some(b64().encode(public_key)),
            ..Jwk::empty("OKP")
        }
    }

    fn empty(kty: &str) -> Jwk {
        Jwk {
            kty: kty.to_owned(),
            kid: None,
            alg: None,
            use_: None,
            crv: None,
            n: None,
            e: None,
            x: None,
            y: None,
        }
    }

    /// This key with `kid`, `alg` and `use: sig` set.
    pub fn for_signing(mut self, kid: impl Into<String>, alg: Algorithm) -> Jwk {
        self.kid = Some(kid.into());
        self.alg = Some(alg.name().to_owned());
        self.use_ = Some("sig".to_owned());
        self
    }

    /// The RFC 7638 thumbprint: SHA-256 over the key's required members in
    /// lexicographic order without whitespace, base64url. It identifies the key
    /// material alone, whatever `kid`, `alg` or `use` say.
    pub fn thumbprint(&self) -> Result<String, JoseError> {
        fn member<'a>(
            kty: &str,
            name: &str,
            value: &'a Option<String>,
        ) -> Result<&'a str, JoseError> {
            value
                .as_deref()
                .ok_or_else(|| JoseError::Key(format!("{kty} key without {name:?}")))
        }
        let kty = self.kty.as_str();
        // The members are written in lexicographic order (serde_json keeps that order
        // with or without its `preserve_order` feature) and escaped as RFC 7638 §3.3
        // requires.
        let canonical = match self.kty.as_str() {
            "RSA" => serde_json::json!({
                "e": member(kty, "e", &self.e)?, "kty": "RSA", "n": member(kty, "n", &self.n)?,
            }),
            "EC" => serde_json::json!({
                "crv": member(kty, "crv", &self.crv)?, "kty": "EC",
                "x": member(kty, "x", &self.x)?, "y": member(kty, "y", &self.y)?,
            }),
            "OKP" => serde_json::json!({
                "crv": member(kty, "crv", &self.crv)?, "kty": "OKP", "x": member(kty, "x", &self.x)?,
            }),
            other => return Err(JoseError::Key(format!("unsupported key type {other:?}"))),
        };
        let text = serde_json::to_string(&canonical)
            .map_err(|e| JoseError::Key(format!("cannot serialize the key: {e}")))?;
        // SHA-256, base64url: the digest secrets are stored under.
        Ok(crate::secret::hash_secret(&text))
    }

    /// Decodes one base64url member of this key.
    pub(crate) fn decode(&self, name: &'static str) -> Result<Vec<u8>, JoseError> {
        let value = match name {
            "n" => &self.n,
            "e" => &self.e,
            "x" => &self.x,
            "y" => &self.y,
            _ => &None,
        };
        let value = value
            .as_deref()
            .ok_or_else(|| JoseError::Key(format!("{} key without {name:?}", self.kty)))?;
        b64()
            .decode(value)
            .map_err(|_| JoseError::Key(format!("{name:?} is not base64url without padding")))
    }
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

/// A JWK Set (RFC 7517 §5): what a `jwks_uri` serves.
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwkSet {
    /// The keys.
    pub keys: Vec<Jwk>,
}

impl JwkSet {
    /// A set of these keys.
    pub fn new(keys: Vec<Jwk>) -> JwkSet {
        JwkSet { keys }
    }

    /// The key whose `kid` is `kid`.
    pub fn find(&self, kid: &str) -> Option<&Jwk> {
        self.keys.iter().find(|k| k.kid.as_deref() == Some(kid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7638 §3.1: the example RSA key and its thumbprint.
    #[test]
    fn thumbprint_matches_the_rfc_7638_example() {
        let jwk: Jwk = serde_json::from_value(serde_json::json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        }))
        .unwrap();
        assert_eq!(
            jwk.thumbprint().unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn thumbprint_ignores_kid_alg_and_use_and_refuses_incomplete_keys() {
        let key = Jwk::p256(&[1; 32], &[2; 32]);
        let labelled = key.clone().for_signing("some-kid", Algorithm::Es256);
        assert_eq!(key.thumbprint().unwrap(), labelled.thumbprint().unwrap());
        let mut incomplete = key;
        incomplete.y = None;
        assert!(matches!(incomplete.thumbprint(), Err(JoseError::Key(_))));
        let unknown = Jwk::empty("oct");
        assert!(matches!(unknown.thumbprint(), Err(JoseError::Key(_))));
    }

    #[test]
    fn private_members_are_never_carried_on() {
        let parsed: Jwk = serde_json::from_value(serde_json::json!({
            "kty": "OKP", "crv": "Ed25519",
            "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
            "d": "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
        }))
        .unwrap();
        let published = serde_json::to_value(&parsed).unwrap();
        assert!(published.get("d").is_none(), "{published}");
        assert_eq!(
            published["x"],
            "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
        );
    }

    #[test]
    fn rsa_members_drop_leading_zeros() {
        let jwk = Jwk::rsa(&[0, 0, 1, 2], &[0, 1, 0, 1]);
        assert_eq!(jwk.decode("n").unwrap(), vec![1, 2]);
        assert_eq!(jwk.decode("e").unwrap(), vec![1, 0, 1]);
    }
}
