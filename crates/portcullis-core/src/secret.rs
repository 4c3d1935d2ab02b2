//! Hashing of high-entropy secrets, and constant-time comparison.
//!
//! Tokens, authorization codes and client secrets are minted with at least 256 bits of
//! entropy, so a single SHA-256 is enough to store them safely (no brute force can
//! invert it) and fast enough for the hot path. Only the hash is ever stored; lookups
//! go by hash. User passwords, which are low-entropy, need Argon2id instead and are
//! not handled here.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The storage form of a high-entropy secret: SHA-256, base64url without padding.
pub fn hash_secret(secret: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(secret.as_bytes()))
}

/// True when `secret` hashes to `stored_hash`, compared in constant time.
pub fn verify_secret(secret: &str, stored_hash: &str) -> bool {
    constant_time_eq(hash_secret(secret).as_bytes(), stored_hash.as_bytes())
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let hash = hash_secret("s3cret");
        assert_ne!(hash, "s3cret");
        assert!(verify_secret("s3cret", &hash));
        assert!(!verify_secret("s3cres", &hash));
        assert!(!verify_secret("", &hash));
    }
}
