//! Injected randomness.
//!
//! Every token, code and identifier the core mints draws its bytes from a
//! [`RandomSource`] handed to the server. The default, [`OsRandom`], is the operating
//! system's CSPRNG; tests may substitute a deterministic source.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// A source of cryptographically secure random bytes.
pub trait RandomSource: Send + Sync + 'static {
    /// Fills `buf` with random bytes.
    fn fill(&self, buf: &mut [u8]);
}

/// The operating system's CSPRNG (`getrandom`).
///
/// Library code never names it (clippy's `disallowed-types` refuses it): it takes an
/// injected [`RandomSource`] instead, so that tests can substitute a deterministic one.
/// Composition roots (a `main`, a test, a bench) create it as `OsRandom::default()`
/// and hand it down; the few library defaults that do so carry an `#[allow]`.
#[allow(clippy::disallowed_types)] // the definition of the one sanctioned CSPRNG
#[derive(Debug, Clone, Copy, Default)]
// Not constructible as a bare `OsRandom` outside this crate: `OsRandom::default()`
// names the type, so the disallowed-types lint sees every use.
#[non_exhaustive]
pub struct OsRandom;

#[allow(clippy::disallowed_types, clippy::disallowed_methods)] // the one sanctioned getrandom call
impl RandomSource for OsRandom {
    fn fill(&self, buf: &mut [u8]) {
        // getrandom only fails when the OS has no entropy source at all; carrying on
        // with predictable bytes would be worse than stopping, so this panics.
        #[allow(clippy::expect_used)] // no entropy at all: stopping beats predictable tokens
        getrandom::fill(buf).expect("the operating system's random number generator failed");
    }
}

/// Number of random bytes in tokens and codes: 32 bytes = 256 bits of entropy.
pub const TOKEN_BYTES: usize = 32;

/// A fresh random string of `bytes` random bytes, base64url-encoded without padding.
pub fn random_string(random: &dyn RandomSource, bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    random.fill(&mut buf);
    URL_SAFE_NO_PAD.encode(&buf)
}

/// A fresh opaque token or code with 256 bits of entropy (43 characters).
pub fn random_token(random: &dyn RandomSource) -> String {
    random_string(random, TOKEN_BYTES)
}

/// Length of the public, time-ordered part of an [`ordered_token`]: 12 lowercase hex
/// digits (48 bits of milliseconds since the Unix epoch).
pub const ORDER_PREFIX_LEN: usize = 12;

/// A fresh access or refresh token: `{12 hex digits}.{43 characters}`, 56 characters.
///
/// The first part is the issuing time in milliseconds, in hex, and is public: it is
/// what the token's storage key ([`token_key`](crate::secret::token_key)) starts with,
/// so new tokens are appended to the end of the database index instead of landing at a
/// random page of it. The second part carries the token's 256 secret bits, as
/// [`random_token`] does. The time is already public (`iat` in introspection), so the
/// prefix reveals nothing new.
pub fn ordered_token(random: &dyn RandomSource, now_millis: i64) -> String {
    let millis = now_millis.clamp(0, (1 << 48) - 1);
    format!("{millis:012x}.{}", random_token(random))
}

#[cfg(test)]
#[allow(clippy::disallowed_types)] // tests are composition roots: they may use the OS CSPRNG
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bit_and_distinct() {
        let a = random_token(&OsRandom);
        let b = random_token(&OsRandom);
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
    }

    #[test]
    fn ordered_tokens_sort_by_time_and_keep_256_secret_bits() {
        let early = ordered_token(&OsRandom, 1_700_000_000_000);
        let late = ordered_token(&OsRandom, 1_700_000_000_001);
        assert_eq!(early.len(), ORDER_PREFIX_LEN + 1 + 43);
        assert_eq!(&early[..ORDER_PREFIX_LEN + 1], "018bcfe56800.");
        assert!(early < late);
        let same = ordered_token(&OsRandom, 1_700_000_000_000);
        assert_eq!(early[..ORDER_PREFIX_LEN], same[..ORDER_PREFIX_LEN]);
        assert_ne!(early, same);
        // Out-of-range clocks are clamped, never formatted wider or negative.
        assert!(ordered_token(&OsRandom, -5).starts_with("000000000000."));
        assert!(ordered_token(&OsRandom, i64::MAX).starts_with("ffffffffffff."));
    }
}
