//! Sign-in throttling: growing delays per username and per client IP.
//!
//! The first `login_free_attempts` failures cost nothing; after that each failure
//! doubles the wait before the next attempt is even checked (1 s, 2 s, 4 s, ... up to
//! `login_max_delay`). Failures older than `login_max_delay` are forgotten. The counts
//! live in the database, so every instance on one database enforces the same limits.
//! The username key is taken from what was typed, whether or not such a user exists,
//! so throttling reveals nothing about which accounts exist.

use portcullis_sql::{LoginThrottle, SqlError, SqlStore};

/// The delay after `failures` failures: none for the first `free` ones, then 1 s,
/// 2 s, 4 s, ... up to `max`.
fn delay_after(failures: u32, free: u32, max: i64) -> i64 {
    if failures < free {
        return 0;
    }
    let exponent = (failures - free).min(30);
    (1i64 << exponent).min(max)
}

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
        delay_after(failures, self.free_attempts, self.max_delay)
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

    /// Counts an attempt against every key (`keys[0]` the username, then the IP)
    /// *before* its password is checked, so that attempts sent in parallel cannot all
    /// pass [`wait`](Self::wait) before any failure is recorded. Returns `false` when other attempts on these keys raced
    /// this one past the free ones: refuse it like a throttled one. The attempt stays
    /// counted as a failure unless [`succeed`](Self::succeed) takes it back.
    pub async fn attempt(&self, keys: &[String], now: i64) -> Result<bool, SqlError> {
        let mut allowed = true;
        for (index, key) in keys.iter().enumerate() {
            let before = match self.store.get_login_throttle(key).await? {
                Some(throttle) if self.is_stale(&throttle, now) => {
                    self.store.clear_login_failures(key).await?;
                    None
                }
                other => other,
            };
            let (failures, waited_out) = match &before {
                Some(t) => (
                    t.failures,
                    now >= t.last_failure_at + self.delay(t.failures),
                ),
                None => (0, true),
            };
            let after = self.store.record_login_failure(key, now).await?.failures;
            // Past the free attempts, an attempt must follow the previous one by the
            // delay; and for the username, no other attempt may have slipped in between.
            // (Not for the IP: many people behind one NAT may sign in at the same moment,
            // and each of their successes takes its count back.)
            let raced = index == 0 && after > failures.saturating_add(1);
            if after > self.free_attempts && (!waited_out || raced) {
                allowed = false;
            }
        }
        Ok(allowed)
    }

    /// After a successful sign-in: forgets the username's failures, and takes back the
    /// attempt counted in advance against the IP — but not the IP's earlier failures:
    /// one valid account must not reset the limit for guessing others.
    pub async fn succeed(&self, keys: &[String]) -> Result<(), SqlError> {
        if let Some(user) = keys.first() {
            self.store.clear_login_failures(user).await?;
        }
        for key in keys.iter().skip(1) {
            self.store.forgive_login_failure(key).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    /// The delay schedule: free attempts, then doubling, capped.
    #[test]
    fn delays_double_after_the_free_attempts_and_are_capped() {
        let delay = |failures: u32| super::delay_after(failures, 3, 900);
        assert_eq!(
            [delay(0), delay(2), delay(3), delay(4), delay(5)],
            [0, 0, 1, 2, 4]
        );
        assert_eq!(delay(40), 900);
    }
}
