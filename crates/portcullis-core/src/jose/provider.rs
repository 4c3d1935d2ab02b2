//! [`CryptoProvider`]: the cryptography JOSE uses, as one value that can be swapped,
//! in the shape of rustls's `CryptoProvider`.

use std::fmt;

use super::{Algorithm, JoseError, Jwk};

/// A private signing key of one algorithm. Its `Debug` never shows key material.
pub trait SigningKey: Send + Sync + fmt::Debug {
    /// The algorithm this key signs with.
    fn algorithm(&self) -> Algorithm;

    /// The JWS signature of `message` (RFC 7518 §3: PKCS#1 or PSS bytes for RSA, the
    /// 64-byte `R || S` for ES256, 64 bytes for Ed25519).
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, JoseError>;

    /// The public half as a JWK, without `kid`, `alg` or `use`.
    fn public_jwk(&self) -> Jwk;

    /// The private key as PKCS#8 DER, to be stored (encrypted) and loaded again with
    /// [`JwsAlgorithm::load`].
    fn to_pkcs8_der(&self) -> Result<Vec<u8>, JoseError>;
}

/// A public key bound to one algorithm, ready to check signatures.
pub trait VerifyingKey: Send + Sync + fmt::Debug {
    /// The one algorithm this key verifies.
    fn algorithm(&self) -> Algorithm;

    /// Whether `signature` is this key's signature of `message`.
    fn verify(&self, message: &[u8], signature: &[u8]) -> bool;
}

/// One JWS algorithm as a provider implements it.
pub trait JwsAlgorithm: Send + Sync + fmt::Debug {
    /// Which algorithm this is.
    fn algorithm(&self) -> Algorithm;

    /// A new random key (RSA keys are 2048 bits). The provider draws the randomness
    /// from its own CSPRNG.
    fn generate(&self) -> Result<Box<dyn SigningKey>, JoseError>;

    /// The key stored as PKCS#8 DER by [`SigningKey::to_pkcs8_der`]; refuses a key of
    /// another type, and RSA keys under 2048 bits.
    fn load(&self, pkcs8_der: &[u8]) -> Result<Box<dyn SigningKey>, JoseError>;

    /// A verifier for the public key `jwk`, bound to this algorithm; refuses a JWK of
    /// another type or curve, and RSA keys under 2048 bits.
    fn verifying_key(&self, jwk: &Jwk) -> Result<Box<dyn VerifyingKey>, JoseError>;
}

/// The algorithms JOSE may use, each with its implementation. Build one with
/// [`aws_lc_rs::provider`](super::aws_lc_rs::provider), or list your own
/// [`JwsAlgorithm`]s (to pin keys in a test, or to change the backend).
// Public fields on purpose, as in rustls: a provider is assembled by whoever injects it.
#[allow(clippy::exhaustive_structs)]
#[derive(Debug, Clone)]
pub struct CryptoProvider {
    /// The algorithms, at most one per [`Algorithm`]; the first one wins.
    pub algorithms: Vec<&'static dyn JwsAlgorithm>,
}

impl CryptoProvider {
    /// The implementation of `algorithm`, if this provider has one.
    pub fn find(&self, algorithm: Algorithm) -> Option<&'static dyn JwsAlgorithm> {
        self.algorithms
            .iter()
            .copied()
            .find(|a| a.algorithm() == algorithm)
    }

    /// The implementation of `algorithm`, or an error naming it.
    pub fn require(&self, algorithm: Algorithm) -> Result<&'static dyn JwsAlgorithm, JoseError> {
        self.find(algorithm)
            .ok_or_else(|| JoseError::AlgorithmNotAllowed(algorithm.name().to_owned()))
    }

    /// The algorithms this provider implements.
    pub fn supported(&self) -> Vec<Algorithm> {
        let mut all: Vec<Algorithm> = self.algorithms.iter().map(|a| a.algorithm()).collect();
        all.sort();
        all.dedup();
        all
    }
}
