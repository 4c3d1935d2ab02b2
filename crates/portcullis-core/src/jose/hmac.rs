//! HMAC JWS algorithms (RFC 7518 §3.2: HS256, HS384, HS512), for one use only: the
//! `client_secret_jwt` client authentication (OpenID Connect Core §9), where the
//! client signs its assertion with its own secret.
//!
//! They are a type of their own, [`HmacAlgorithm`], not variants of [`Algorithm`]
//! (`super::Algorithm`): a [`KeySet`](super::KeySet) of public keys can never verify
//! an HMAC token, so a public key is never taken for an HMAC secret.
//! [`verify_hmac`](super::verify_hmac) checks such a token with one shared secret.

use std::fmt;

use base64::Engine as _;
use serde::Serialize;
use sha2::{Digest, Sha256, Sha384, Sha512};

use super::{b64, JoseError};

/// An HMAC JWS `alg` (RFC 7518 §3.2).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HmacAlgorithm {
    /// HMAC with SHA-256.
    Hs256,
    /// HMAC with SHA-384.
    Hs384,
    /// HMAC with SHA-512.
    Hs512,
}

impl HmacAlgorithm {
    /// Every HMAC algorithm, in a stable order.
    pub const ALL: [HmacAlgorithm; 3] = [
        HmacAlgorithm::Hs256,
        HmacAlgorithm::Hs384,
        HmacAlgorithm::Hs512,
    ];

    /// The `alg` value: `HS256`, `HS384` or `HS512`.
    pub fn name(self) -> &'static str {
        match self {
            HmacAlgorithm::Hs256 => "HS256",
            HmacAlgorithm::Hs384 => "HS384",
            HmacAlgorithm::Hs512 => "HS512",
        }
    }

    /// The algorithm named `name` exactly; `None` for anything else.
    pub fn from_name(name: &str) -> Option<HmacAlgorithm> {
        HmacAlgorithm::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The MAC of `message` under `key`.
    pub fn mac(self, key: &[u8], message: &[u8]) -> Vec<u8> {
        match self {
            HmacAlgorithm::Hs256 => hmac::<Sha256>(key, 64, message),
            HmacAlgorithm::Hs384 => hmac::<Sha384>(key, 128, message),
            HmacAlgorithm::Hs512 => hmac::<Sha512>(key, 128, message),
        }
    }

    /// True when `mac` is the MAC of `message` under `key`, compared in constant time.
    pub fn verify(self, key: &[u8], message: &[u8], mac: &[u8]) -> bool {
        use subtle::ConstantTimeEq as _;
        let expected = self.mac(key, message);
        expected.len() == mac.len() && bool::from(expected.ct_eq(mac))
    }

    /// A compact JWS of `claims` (header `alg` and, when given, `typ`), MACed with
    /// `key`: what a `client_secret_jwt` client sends.
    pub fn sign(
        self,
        key: &[u8],
        typ: Option<&str>,
        claims: &impl Serialize,
    ) -> Result<String, JoseError> {
        let mut header = serde_json::Map::new();
        header.insert("alg".into(), self.name().into());
        if let Some(typ) = typ {
            header.insert("typ".into(), typ.into());
        }
        let header = serde_json::to_vec(&header)
            .map_err(|e| JoseError::Malformed(format!("header: {e}")))?;
        let claims =
            serde_json::to_vec(claims).map_err(|e| JoseError::Malformed(format!("claims: {e}")))?;
        let input = format!("{}.{}", b64().encode(header), b64().encode(claims));
        let mac = self.mac(key, input.as_bytes());
        Ok(format!("{input}.{}", b64().encode(mac)))
    }
}

impl fmt::Display for HmacAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// HMAC (RFC 2104) over digest `D` whose block is `block` bytes.
fn hmac<D: Digest>(key: &[u8], block: usize, message: &[u8]) -> Vec<u8> {
    let mut padded = if key.len() > block {
        D::digest(key).to_vec()
    } else {
        key.to_vec()
    };
    padded.resize(block, 0);
    let inner_key: Vec<u8> = padded.iter().map(|b| b ^ 0x36).collect();
    let outer_key: Vec<u8> = padded.iter().map(|b| b ^ 0x5c).collect();
    let inner = D::new()
        .chain_update(&inner_key)
        .chain_update(message)
        .finalize();
    D::new()
        .chain_update(&outer_key)
        .chain_update(inner)
        .finalize()
        .to_vec()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// RFC 4231 test cases 2 (short key) and 6 (key longer than the block).
    #[test]
    fn rfc_4231_vectors() {
        let message = b"what do ya want for nothing?";
        assert_eq!(
            hex(&HmacAlgorithm::Hs256.mac(b"Jefe", message)),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex(&HmacAlgorithm::Hs384.mac(b"Jefe", message)),
            "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649"
        );
        assert_eq!(
            hex(&HmacAlgorithm::Hs512.mac(b"Jefe", message)),
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554\
             9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
        );
        let long_key = [0xaa_u8; 131];
        assert_eq!(
            hex(&HmacAlgorithm::Hs256.mac(
                &long_key,
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
        assert!(HmacAlgorithm::Hs256.verify(
            b"Jefe",
            message,
            &HmacAlgorithm::Hs256.mac(b"Jefe", message)
        ));
        assert!(!HmacAlgorithm::Hs256.verify(b"Jefe", message, &[0; 32]));
        assert_eq!(
            HmacAlgorithm::from_name("HS384"),
            Some(HmacAlgorithm::Hs384)
        );
        assert_eq!(HmacAlgorithm::from_name("hs256"), None);
        assert_eq!(HmacAlgorithm::from_name("none"), None);
    }
}
