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
#[derive(Debug, Clone, Copy, Default)]
pub struct OsRandom;

impl RandomSource for OsRandom {
    fn fill(&self, buf: &mut [u8]) {
        // getrandom only fails when the OS has no entropy source at all; carrying on
        // with predictable bytes would be worse than stopping.
        #[allow(clippy::expect_used)]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bit_and_distinct() {
        let a = random_token(&OsRandom);
        let b = random_token(&OsRandom);
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
    }
}
