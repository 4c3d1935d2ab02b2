//! [`Algorithm`]: the JWS algorithms Portcullis signs and verifies with.

use std::fmt;

/// A JWS `alg` value (RFC 7518 §3.1, RFC 8037 §3.1) that Portcullis supports. There
/// is deliberately no `none` and no HMAC algorithm: a verifier can never be talked
/// into either.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256; OpenID Connect requires providers to support it.
    Rs256,
    /// RSASSA-PSS with SHA-256 and MGF1 with SHA-256.
    Ps256,
    /// ECDSA on P-256 with SHA-256, the signature as the 64-byte `R || S`.
    Es256,
    /// EdDSA on Ed25519 (RFC 8037).
    EdDsa,
}

impl Algorithm {
    /// Every supported algorithm, in a stable order.
    pub const ALL: [Algorithm; 4] = [
        Algorithm::Rs256,
        Algorithm::Ps256,
        Algorithm::Es256,
        Algorithm::EdDsa,
    ];

    /// The `alg` value: `RS256`, `PS256`, `ES256` or `EdDSA`.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Rs256 => "RS256",
            Algorithm::Ps256 => "PS256",
            Algorithm::Es256 => "ES256",
            Algorithm::EdDsa => "EdDSA",
        }
    }

    /// The algorithm named `name` (exact, case-sensitive, as RFC 7515 §4.1.1 says);
    /// `None` for anything else, `none` and the HMAC algorithms included.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The JWK `kty` of this algorithm's keys: `RSA`, `EC` or `OKP`.
    pub fn key_type(self) -> &'static str {
        match self {
            Algorithm::Rs256 | Algorithm::Ps256 => "RSA",
            Algorithm::Es256 => "EC",
            Algorithm::EdDsa => "OKP",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Algorithm {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Algorithm::from_name(s).ok_or_else(|| {
            format!("unsupported signing algorithm {s:?}: use RS256, PS256, ES256 or EdDSA")
        })
    }
}

impl serde::Serialize for Algorithm {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Algorithm {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_nothing_else_parses() {
        for alg in Algorithm::ALL {
            assert_eq!(Algorithm::from_name(alg.name()), Some(alg));
        }
        for other in ["none", "None", "HS256", "rs256", "ES384", "", "EDDSA"] {
            assert_eq!(Algorithm::from_name(other), None, "{other}");
        }
    }
}
