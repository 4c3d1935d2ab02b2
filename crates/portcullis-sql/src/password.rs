//! User passwords: Argon2id with the `argon2` crate's default parameters (RFC 9106).
//!
//! Hashing and verifying take tens of milliseconds of CPU and 19 MiB of memory each on
//! purpose, so they run on tokio's blocking pool (`spawn_blocking`), never on the async
//! worker threads, and at most one per CPU core at a time: a flood of sign-in attempts
//! queues instead of multiplying memory use by the number of attempts. An
//! unknown user is verified against [`DUMMY_HASH`], so that answering "no such user"
//! takes as long as "wrong password".

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use portcullis_core::{OsRandom, RandomSource};

use crate::error::SqlError;

/// A well-formed Argon2id hash with the default parameters that no known password
/// matches, verified in place of a missing user's hash: same cost, always `false`.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZS1maXhlZC1zYWx0$JZ0ZFp1ajXcfB0DFDQAgXjZ8cZL8o2ONpvGw0R1lP3U";

/// Limits concurrent Argon2 computations to the number of CPU cores.
fn permits() -> &'static tokio::sync::Semaphore {
    static PERMITS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    PERMITS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        tokio::sync::Semaphore::new(cores)
    })
}

/// Runs an Argon2 computation on the blocking pool, one per core at a time.
async fn run_limited<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, SqlError> + Send + 'static,
) -> Result<T, SqlError> {
    let _permit = permits()
        .acquire()
        .await
        .map_err(|e| SqlError::Task(e.to_string()))?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| SqlError::Task(e.to_string()))?
}

/// Hashes `password` with Argon2id and a fresh 128-bit salt, as a PHC string.
pub(crate) async fn hash_password(password: String) -> Result<String, SqlError> {
    run_limited(move || hash_blocking(&password)).await
}

/// True when `password` matches `stored` (a PHC string). With `stored == None` (no
/// such user) the dummy hash is verified anyway and the answer is `false`.
pub(crate) async fn verify_password(
    password: String,
    stored: Option<String>,
) -> Result<bool, SqlError> {
    run_limited(move || {
        let known = stored.is_some();
        let hash = stored.as_deref().unwrap_or(DUMMY_HASH);
        let matches = verify_blocking(&password, hash)?;
        Ok(known && matches)
    })
    .await
}

fn hash_blocking(password: &str) -> Result<String, SqlError> {
    let mut salt = [0u8; 16];
    OsRandom.fill(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| SqlError::Password(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| SqlError::Password(e.to_string()))
}

fn verify_blocking(password: &str, hash: &str) -> Result<bool, SqlError> {
    let parsed = PasswordHash::new(hash).map_err(|e| {
        SqlError::Corrupt(format!("a stored password hash is not a PHC string: {e}"))
    })?;
    // The parameters (algorithm, memory, iterations) come from the stored hash.
    Ok(Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn dummy_hash_parses_with_default_parameters() {
        let dummy = PasswordHash::new(DUMMY_HASH).unwrap();
        let fresh = hash_blocking("x").unwrap();
        let fresh = PasswordHash::new(&fresh).unwrap();
        assert_eq!(dummy.algorithm, fresh.algorithm);
        assert_eq!(dummy.params, fresh.params);
        assert!(!verify_blocking("", DUMMY_HASH).unwrap());
    }

    #[test]
    fn hash_then_verify() {
        let hash = hash_blocking("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_blocking("correct horse", &hash).unwrap());
        assert!(!verify_blocking("wrong horse", &hash).unwrap());
    }
}
