//! Sign-in throttling: growing delays per username and per client IP.
//!
//! The first `login_free_attempts` failures cost nothing; after that each failure
//! doubles the wait before the next attempt is even checked (1 s, 2 s, 4 s, ... up to
//! `login_max_delay`). Failures older than `login_max_delay` are forgotten. The counts
//! live in the database, so every instance on one database enforces the same limits.
//! The username key is taken from what was typed, whether or not such a user exists,
//! so throttling reveals nothing about which accounts exist.

use portcullis_sql::{LoginThrottle, SqlError, SqlStore};

/// The throttle policy.
#[derive(Debug, Clone)]
pub struct Throttle {
    store: SqlStore,
    free_attempts: u32,
    max_delay: i64,
}

impl Throttle {
    /// A policy over `store`.
    pub fn new(store: SqlStore, free_attempts: u32, max_delay: i64) -> Self {
        Self {
            store,
            free_attempts,
            max_delay,
        }
    }

    /// The keys an attempt counts against.
    pub fn keys(username: &str, ip: &str) -> [String; 2] {
        [
            format!("user:{}", username.trim().to_lowercase()),
            format!("ip:{ip}"),
        ]
    }

    /// The delay after `failures` failures, in seconds.
    pub fn delay(&self, failures: u32) -> i64 {
        if failures < self.free_attempts {
            return 0;
        }
        let exponent = (failures - self.free_attempts).min(30);
        (1i64 << exponent).min(self.max_delay)
    }

    fn is_stale(&self, throttle: &LoginThrottle, now: i64) -> bool {
        now - throttle.last_failure_at > self.max_delay
    }

    /// Seconds to wait before another attempt with these keys may be checked; 0 when
    /// an attempt may go ahead now.
    pub async fn wait(&self, keys: &[String], now: i64) -> Result<i64, SqlError> {
        let mut wait = 0;
        for key in keys {
            if let Some(throttle) = self.store.get_login_throttle(key).await? {
                if self.is_stale(&throttle, now) {
                    continue;
                }
                let until = throttle.last_failure_at + self.delay(throttle.failures);
                wait = wait.max(until - now);
            }
        }
        Ok(wait.max(0))
    }

    /// Counts a failed attempt against every key.
    pub async fn fail(&self, keys: &[String], now: i64) -> Result<(), SqlError> {
        for key in keys {
            if let Some(throttle) = self.store.get_login_throttle(key).await? {
                if self.is_stale(&throttle, now) {
                    self.store.clear_login_failures(key).await?;
                }
            }
            self.store.record_login_failure(key, now).await?;
        }
        Ok(())
    }

    /// Forgets the failures of a username after a successful sign-in. The IP's count
    /// stays: one valid account must not reset the limit for guessing others.
    pub async fn succeed(&self, username_key: &str) -> Result<(), SqlError> {
        self.store.clear_login_failures(username_key).await
    }
}
