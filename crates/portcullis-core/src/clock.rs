//! Injected time.
//!
//! The core never reads the system clock directly: every expiry check goes through a
//! [`Clock`] handed to the [`AuthorizationServer`](crate::AuthorizationServer), so tests
//! can move time. Timestamps are UTC seconds since the Unix epoch.

use std::sync::atomic::{AtomicI64, Ordering};

/// A source of the current time, in UTC seconds since the Unix epoch.
pub trait Clock: Send + Sync + 'static {
    /// The current time in seconds since the Unix epoch.
    fn now(&self) -> i64;

    /// The current time in milliseconds since the Unix epoch. Only used to order new
    /// tokens (see [`ordered_token`](crate::random::ordered_token)); the default is
    /// [`now`](Clock::now) in milliseconds.
    fn now_millis(&self) -> i64 {
        self.now().saturating_mul(1000)
    }
}

/// The system clock.
#[allow(clippy::exhaustive_structs)] // a unit value: callers name it as `SystemClock`
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one sanctioned read of the system clock
    fn now(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }

    #[allow(clippy::disallowed_methods)] // the same sanctioned read, in milliseconds
    fn now_millis(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}

/// A clock that stands still until told to move: for tests and simulations.
#[derive(Debug, Default)]
pub struct ManualClock {
    now: AtomicI64,
}

impl ManualClock {
    /// A clock showing `now`.
    pub fn new(now: i64) -> Self {
        Self {
            now: AtomicI64::new(now),
        }
    }

    /// Moves the clock forward by `seconds`.
    pub fn advance(&self, seconds: i64) {
        self.now.fetch_add(seconds, Ordering::SeqCst);
    }

    /// Sets the clock to `now`.
    pub fn set(&self, now: i64) {
        self.now.store(now, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }
}

impl<C: Clock> Clock for std::sync::Arc<C> {
    fn now(&self) -> i64 {
        (**self).now()
    }

    fn now_millis(&self) -> i64 {
        (**self).now_millis()
    }
}
