//! [`JoseError`]: why a key, a signature or a token was refused.

/// Why JOSE refused a key, failed to sign, or rejected a token. The messages say what
/// was wrong and never include key material or the token itself.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoseError {
    /// The token or one of its segments is longer than the validation allows.
    #[error("the token is too large: {0}")]
    TooLarge(&'static str),
    /// Not `header.payload.signature` in URL-safe base64 without padding, or a segment
    /// is not the JSON object it must be (including duplicate member names).
    #[error("the token is malformed: {0}")]
    Malformed(String),
    /// The header says `alg: none`: unsigned tokens are never accepted.
    #[error("unsigned tokens (alg \"none\") are not accepted")]
    AlgNone,
    /// The header names an algorithm that is not supported or not allowed here.
    #[error("the algorithm {0:?} is not accepted")]
    AlgorithmNotAllowed(String),
    /// The header lists a `crit` extension this verifier does not understand, or its
    /// `crit` member is not a non-empty list of header names it carries.
    #[error("the token requires an extension that is not understood: {0}")]
    UnsupportedCritical(String),
    /// No key of the key set has the token's `kid` and algorithm.
    #[error("no trusted key matches the token's kid and algorithm")]
    UnknownKey,
    /// The signature does not verify with the trusted key.
    #[error("the signature is invalid")]
    BadSignature,
    /// The header's `typ` is not the one the profile requires.
    #[error("the token type (typ) is {found:?}, expected {expected:?}")]
    WrongType {
        /// The `typ` required.
        expected: String,
        /// The `typ` found, if any.
        found: Option<String>,
    },
    /// The token has expired (`exp`), beyond the allowed skew.
    #[error("the token has expired")]
    Expired,
    /// The token is not valid yet (`nbf`), beyond the allowed skew.
    #[error("the token is not valid yet")]
    NotYetValid,
    /// The token was issued in the future (`iat`), beyond the allowed skew.
    #[error("the token was issued in the future")]
    IssuedInFuture,
    /// A claim is missing, has the wrong type, or has an unexpected value.
    #[error("claim {claim:?}: {reason}")]
    InvalidClaim {
        /// The claim's name.
        claim: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A key could not be generated, parsed or used.
    #[error("key error: {0}")]
    Key(String),
}
