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

use crate::random::ORDER_PREFIX_LEN;

/// The storage form of a high-entropy secret: SHA-256, base64url without padding.
pub fn hash_secret(secret: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(secret.as_bytes()))
}

/// The storage form of an access or refresh token: the key it is stored and looked up
/// under.
///
/// For a token minted by Portcullis ([`ordered_token`](crate::random::ordered_token):
/// 12 lowercase hex digits, a `.`, then the secret part) the key is that public,
/// time-ordered prefix, a `.`, and the SHA-256 of the whole token, so that keys of new
/// tokens sort after older ones and database inserts append to the index. For any other
/// token (a JWT, a custom format) the key is [`hash_secret`] alone: no part of a token
/// is ever stored unless it has that exact public shape.
pub fn token_key(token: &str) -> String {
    let Some(prefix) = ordered_prefix(token) else {
        return hash_secret(token);
    };
    let mut key = String::with_capacity(ORDER_PREFIX_LEN + 1 + 43);
    key.push_str(prefix);
    URL_SAFE_NO_PAD.encode_string(Sha256::digest(token.as_bytes()), &mut key);
    key
}

/// The storage key of `token` in a key space of its own, named by `label`: for an
/// ordered token, its public prefix and the SHA-256 of `label` followed by the token
/// (so inserts still append to the index); otherwise `label` and that hash. Neither
/// form is ever a [`token_key`] (a hash of `label + token` has no hex prefix before
/// it, and `label` must hold a character base64url lacks), so presenting `token`
/// itself as an opaque token never finds what is stored under this key.
pub(crate) fn labelled_token_key(label: &str, token: &str) -> String {
    debug_assert!(label
        .bytes()
        .any(|b| !(b.is_ascii_alphanumeric() || b == b'-' || b == b'_')));
    let digest = Sha256::new()
        .chain_update(label.as_bytes())
        .chain_update(token.as_bytes())
        .finalize();
    let prefix = ordered_prefix(token).unwrap_or(label);
    let mut key = String::with_capacity(prefix.len() + 43);
    key.push_str(prefix);
    URL_SAFE_NO_PAD.encode_string(digest, &mut key);
    key
}

/// The public, time-ordered prefix of a token minted by
/// [`ordered_token`](crate::random::ordered_token), its `.` included: 12 lowercase
/// hex digits and a `.`, followed by at least one more character. `None` for any other
/// shape.
pub(crate) fn ordered_prefix(token: &str) -> Option<&str> {
    let bytes = token.as_bytes();
    let ordered = bytes.len() > ORDER_PREFIX_LEN + 1
        && bytes[ORDER_PREFIX_LEN] == b'.'
        && bytes[..ORDER_PREFIX_LEN]
            .iter()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    ordered.then(|| &token[..=ORDER_PREFIX_LEN])
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

    #[test]
    fn labelled_keys_are_never_the_tokens_own_key() {
        let ordered = "018bcfe56800.c2VjcmV0LXBhcnQtb2YtdGhlLXRva2VuLTI1Ni1iaXRzLW9r";
        let key = labelled_token_key("at+jwt:", ordered);
        assert!(key.starts_with("018bcfe56800."), "{key}");
        assert_ne!(key, token_key(ordered));
        assert_eq!(
            key,
            format!("018bcfe56800.{}", hash_secret(&format!("at+jwt:{ordered}")))
        );
        let plain = "not-an-ordered-token";
        let key = labelled_token_key("at+jwt:", plain);
        assert_eq!(
            key,
            format!("at+jwt:{}", hash_secret(&format!("at+jwt:{plain}")))
        );
        assert_ne!(key, token_key(plain));
        assert_ne!(key, token_key(&format!("at+jwt:{plain}")));
    }

    #[test]
    fn token_keys_keep_only_the_public_time_prefix() {
        let token = "018bcfe56800.c2VjcmV0LXBhcnQtb2YtdGhlLXRva2VuLTI1Ni1iaXRzLW9r";
        let key = token_key(token);
        assert_eq!(key, format!("018bcfe56800.{}", hash_secret(token)));
        assert!(!key.contains("c2VjcmV0"));
        // Anything else is hashed whole: a JWT, a plain random token, a near miss.
        for other in [
            "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.sig",
            "c2VjcmV0LXBhcnQtb2YtdGhlLXRva2VuLTI1Ni1iaXRzLW9r",
            "018BCFE56800.secret",
            "018bcfe5680.secret",
            "018bcfe56800.",
            "018bcfe56800x",
            "",
        ] {
            assert_eq!(token_key(other), hash_secret(other), "{other}");
        }
    }
}
