//! JOSE: JSON Web Signatures (RFC 7515) in compact form, JSON Web Keys and key sets
//! (RFC 7517) with RFC 7638 thumbprints, for the algorithms of RFC 7518 and RFC 8037
//! that Portcullis signs with: RS256, PS256, ES256 and EdDSA (Ed25519).
//!
//! The cryptography sits behind a [`CryptoProvider`] value, in the shape of rustls's:
//! a list of [`JwsAlgorithm`]s, each able to generate, load and export keys, sign, and
//! turn a public JWK into a verifier. [`aws_lc_rs::provider`] is the default (feature
//! `aws-lc-rs`, on by default); tests and applications can pass their own.
//!
//! [`JwtAccessTokens`] is the access-token strategy of RFC 9068 on top of it.
//!
//! Verification ([`verify`]) is strict and refuses every trick known to have fooled a
//! JOSE library:
//!
//! - the algorithm is pinned by the key: the header's `alg` only selects among keys
//!   already bound to that algorithm, and no HMAC algorithm exists here, so a public
//!   key can never be used as an HMAC secret;
//! - `alg: none` is refused, as is any algorithm the provider or the caller's list
//!   does not allow;
//! - a `crit` header naming anything the caller did not declare understood is refused;
//! - keys carried by the token (`jwk`, `jku`, `x5u`, `x5c`) are never used: keys come
//!   only from the caller's [`KeySet`];
//! - the whole token and its header are size-bounded before anything is decoded;
//! - duplicate JSON members, padded or non-URL-safe base64 and stray segments are
//!   refused;
//! - `typ` is checked when the caller's profile fixes it, and `exp`, `nbf` and `iat`
//!   against the caller's clock with a small configurable skew.
//!
//! ```
//! # #[cfg(feature = "aws-lc-rs")] {
//! use portcullis_core::jose::{self, Algorithm, JwkSet, KeySet, Signer, Validation};
//! use serde_json::json;
//!
//! let provider = jose::aws_lc_rs::provider();
//! let signer = Signer::generate(&provider, Algorithm::Es256).unwrap();
//! let now = 1_700_000_000;
//! let token = signer
//!     .sign(Some("at+jwt"), &json!({"iss": "https://as.example", "aud": "api", "exp": now + 60}))
//!     .unwrap();
//!
//! // What a relying party does with the published JWK Set.
//! let published = JwkSet::new(vec![signer.public_jwk()]);
//! let keys = KeySet::from_jwk_set(&provider, &published, &[Algorithm::Es256]);
//! let validation = Validation::new(now)
//!     .with_typ("at+jwt")
//!     .with_issuer("https://as.example")
//!     .with_audience(["api"]);
//! let verified = jose::verify(&token, &keys, &validation).unwrap();
//! assert_eq!(verified.claims["aud"], "api");
//! # }
//! ```

pub(crate) mod access_token;
mod algorithm;
#[cfg(feature = "aws-lc-rs")]
pub mod aws_lc_rs;
mod error;
mod hmac;
mod json;
mod jwk;
mod jws;
mod provider;

pub use access_token::{AccessTokenFormat, JwtAccessTokens, SigningKeys, AT_JWT};
pub use algorithm::Algorithm;
pub use error::JoseError;
pub use hmac::HmacAlgorithm;
pub use jwk::{Jwk, JwkSet};
pub use jws::{
    unverified_parts, verify, verify_hmac, KeySet, Signer, UnverifiedParts, Validation,
    VerifiedJwt, VerifyingKeyEntry,
};
pub use provider::{CryptoProvider, JwsAlgorithm, SigningKey, VerifyingKey};

/// The URL-safe base64 of RFC 7515 §2, without padding; decoding refuses padding,
/// characters outside the URL-safe alphabet and non-zero trailing bits.
pub(crate) fn b64() -> &'static base64::engine::GeneralPurpose {
    &base64::engine::general_purpose::URL_SAFE_NO_PAD
}
