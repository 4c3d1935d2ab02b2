//! Sign-in throttling: per account, per client address, and per account *from* an
//! address (issue 9, findings 2, 8 and 9).
//!
//! Every attempt is counted under three keys before its password is checked, each
//! with one atomic statement shared by every instance on the database, and decided on
//! the keys as they stand once all three are counted, so attempts sent in parallel —
//! from one process or from several behind a load balancer — cannot all slip through
//! before any failure is recorded:
//!
//! - **the account** (the typed username, normalized like stored usernames: `CAROL`,
//!   ` carol` and `Carol` are one key): the first `login_free_attempts` failures cost
//!   nothing; after that each failure doubles the wait before the next attempt is
//!   checked (1 s, 2 s, 4 s, … up to `login_max_delay`), and failures are forgotten
//!   after `login_max_delay` without one. Of attempts in flight at once, only the free
//!   ones go ahead;
//! - **the address** (the client's IP address; an IPv6 client by its /64, which one
//!   subscriber usually holds whole): a budget of `login_address_failures` failures per
//!   window of `login_max_delay` seconds. It counts failures only, never successes,
//!   and does not escalate: a crowd behind one NAT signs in while one of them guesses
//!   one account (the account's delay limits that guesser long before the budget), and
//!   a sprayer trying many accounts from one address is stopped until the window ends;
//! - **the account from that address**: an address with no recent failure for an
//!   account is not held back by that account's delay. The delay protects the account
//!   against guessing, not against its owner: a guesser elsewhere cannot lock the owner
//!   out. (The price: a guesser with many addresses gets one check per address per
//!   window; the address budgets still bound each.)
//!
//! A success ends its attempt without touching any timestamp, so it never extends a
//! penalty; it forgets the account's failures (unless it came through the "clean
//! address" rule, when those failures are someone else's) and the pair's, never the
//! address's budget. Keys are stored hashed, and purged with the other expired rows.

use std::net::IpAddr;

use portcullis_sql::{AttemptOutcome, LoginThrottle, SqlError, SqlStore, ThrottleReset};

/// The delay after `failures` failures: none for the first `free` ones, then 1 s,
/// 2 s, 4 s, ... up to `max`.
fn delay_after(failures: u32, free: u32, max: i64) -> i64 {
    if failures < free {
        return 0;
    }
    let exponent = (failures - free).min(30);
    (1i64 << exponent).min(max)
}

/// The address key of a client: an IPv4 address whole (also when it arrives as an
/// IPv4-mapped IPv6 address), an IPv6 address by its /64 prefix.
pub fn address_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!("address:{v4}"),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => format!("address:{v4}"),
            None => {
                let s = v6.segments();
                format!("address:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// The throttle keys one attempt counts against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptKeys {
    account: String,
    address: String,
    pair: String,
}

impl AttemptKeys {
    /// The keys of an attempt to sign in as `username` from `ip`.
    pub fn new(username: &str, ip: IpAddr) -> Self {
        let account = portcullis_sql::username_key(username);
        let address = address_key(ip);
        Self {
            pair: format!("pair:{address}|{account}"),
            account: format!("account:{account}"),
            address,
        }
    }

    /// The address key, also the lane of the password hashing queue.
    pub fn address(&self) -> &str {
        &self.address
    }
}

/// The throttle policy.
#[derive(Debug, Clone)]
pub struct Throttle {
    store: SqlStore,
    free_attempts: u32,
    max_delay: i64,
    address_failures: u32,
}

/// What [`Throttle::begin`] decided.
#[derive(Debug)]
pub enum Admission {
    /// The password may be checked; report how it went to the attempt.
    Allowed(Attempt),
    /// Refused before any check: try again after this many seconds.
    Refused {
        /// Seconds to wait (at least 1).
        wait: i64,
    },
}

/// An attempt counted in advance. Finish it with [`failed`](Attempt::failed) or
/// [`succeeded`](Attempt::succeeded); dropped unfinished (the client went away
/// mid-check, an error), it is counted for nothing — in a background task, so that a
/// client disconnecting on purpose cannot leave attempts pending.
#[derive(Debug)]
pub struct Attempt {
    throttle: Throttle,
    keys: AttemptKeys,
    now: i64,
    /// How many of the keys (pair, address, account, in that order) were counted: an
    /// attempt that fails to count one ends only those before it, never another
    /// attempt's count.
    begun: usize,
    /// It came through because the address had no recent failure for the account.
    clean_address: bool,
    finished: bool,
}

impl Throttle {
    /// A policy over `store`.
    pub fn new(store: SqlStore, free_attempts: u32, max_delay: i64, address_failures: u32) -> Self {
        Self {
            store,
            free_attempts,
            max_delay,
            address_failures,
        }
    }

    /// The delay after `failures` failures of one account, in seconds.
    pub fn delay(&self, failures: u32) -> i64 {
        delay_after(failures, self.free_attempts, self.max_delay)
    }

    /// Counts an attempt under `keys` at `now` and decides whether its password may
    /// be checked.
    pub async fn begin(&self, keys: &AttemptKeys, now: i64) -> Result<Admission, SqlError> {
        let window = self.max_delay;
        let store = &self.store;
        // The pair first, the account last: see below.
        let pair = store
            .begin_login_attempt(&keys.pair, now, window, ThrottleReset::AfterQuiet)
            .await?;
        let mut attempt = Attempt {
            throttle: self.clone(),
            keys: keys.clone(),
            now,
            begun: 1,
            clean_address: false,
            finished: false,
        };
        // From here on, `attempt` ends every key begun if anything below fails.
        let address = store
            .begin_login_attempt(&keys.address, now, window, ThrottleReset::FixedWindow)
            .await?;
        attempt.begun = 2;
        let account = store
            .begin_login_attempt(&keys.account, now, window, ThrottleReset::AfterQuiet)
            .await?;
        attempt.begun = 3;
        // Two attempts from one address must not miss each other, one on each key: the
        // first to reach the pair passing as a clean address while the account's free
        // checks went to the others would be one check too many. So the account is
        // judged on its own count (one atomic statement: of the attempts in flight,
        // only the free ones pass), and the pair is read again after that count. Then
        // when this attempt is the pair's only one, every other attempt of the pair
        // counted on the pair after that read, so on the account after this attempt
        // did, and the account's rule counted this attempt among its free ones.
        let pair = store.login_attempts(&keys.pair).await?.unwrap_or(pair);
        let clean_address = pair.failures == 0 && pair.pending == 1;
        let mut wait = 0;
        if !clean_address {
            wait = wait.max(self.account_wait(&account, now));
        }
        wait = wait.max(self.address_wait(&address, now));
        if wait > 0 {
            attempt.end(AttemptOutcome::Refused).await?;
            return Ok(Admission::Refused { wait });
        }
        attempt.clean_address = clean_address;
        Ok(Admission::Allowed(attempt))
    }

    /// Seconds an attempt on this account must wait; 0 when it may go ahead.
    fn account_wait(&self, account: &LoginThrottle, now: i64) -> i64 {
        let ahead = account
            .failures
            .saturating_add(account.pending.saturating_sub(1));
        if ahead < self.free_attempts {
            return 0;
        }
        if account.pending > 1 {
            // Others are being checked right now, past the free attempts: a race.
            return 1;
        }
        let until = account
            .last_failure_at
            .saturating_add(self.delay(account.failures));
        (until - now).max(0)
    }

    /// Seconds an attempt from this address must wait; 0 when it may go ahead.
    fn address_wait(&self, address: &LoginThrottle, now: i64) -> i64 {
        if address.failures.saturating_add(address.pending) <= self.address_failures {
            return 0;
        }
        if address.failures >= self.address_failures {
            return (address.window_start.saturating_add(self.max_delay) - now).max(1);
        }
        // The budget is taken by attempts being checked right now.
        1
    }
}

impl Attempt {
    /// The password was wrong: one more failure for the account, the address and the
    /// pair.
    pub async fn failed(mut self) -> Result<(), SqlError> {
        self.end(AttemptOutcome::Failed).await
    }

    /// The password was right: the attempt ends, the pair's failures are forgotten,
    /// and the account's too unless they were another address's.
    pub async fn succeeded(mut self) -> Result<(), SqlError> {
        self.finished = true;
        let store = &self.throttle.store;
        let window = self.throttle.max_delay;
        let account = AttemptOutcome::Succeeded {
            clear: !self.clean_address,
        };
        store
            .end_login_attempt(&self.keys.account, self.now, window, account)
            .await?;
        store
            .end_login_attempt(
                &self.keys.address,
                self.now,
                window,
                AttemptOutcome::Succeeded { clear: false },
            )
            .await?;
        store
            .end_login_attempt(
                &self.keys.pair,
                self.now,
                window,
                AttemptOutcome::Succeeded { clear: true },
            )
            .await
    }

    async fn end(&mut self, outcome: AttemptOutcome) -> Result<(), SqlError> {
        self.finished = true;
        end_begun(&self.throttle, &self.keys, self.begun, self.now, outcome).await
    }
}

/// Ends the first `begun` of the attempt's keys (pair, address, account: the order
/// [`Throttle::begin`] counts them in).
async fn end_begun(
    throttle: &Throttle,
    keys: &AttemptKeys,
    begun: usize,
    now: i64,
    outcome: AttemptOutcome,
) -> Result<(), SqlError> {
    for key in [&keys.pair, &keys.address, &keys.account]
        .into_iter()
        .take(begun)
    {
        throttle
            .store
            .end_login_attempt(key, now, throttle.max_delay, outcome)
            .await?;
    }
    Ok(())
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        let (throttle, keys, now) = (self.throttle.clone(), self.keys.clone(), self.now);
        let begun = self.begun;
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let refused = AttemptOutcome::Refused;
                if let Err(error) = end_begun(&throttle, &keys, begun, now, refused).await {
                    tracing::warn!(%error, "could not end an abandoned sign-in attempt");
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

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

    #[test]
    fn ipv6_clients_are_keyed_by_their_64_prefix() {
        let a: Ipv6Addr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: Ipv6Addr = "2001:db8:1:2:ffff:eeee:dddd:cccc".parse().unwrap();
        let other: Ipv6Addr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(a.into()), address_key(b.into()));
        assert_ne!(address_key(a.into()), address_key(other.into()));
        assert_eq!(address_key(a.into()), "address:2001:db8:1:2::/64");
        let v4 = Ipv4Addr::new(192, 0, 2, 7);
        assert_eq!(address_key(v4.into()), "address:192.0.2.7");
        assert_eq!(
            address_key(v4.to_ipv6_mapped().into()),
            "address:192.0.2.7",
            "an IPv4-mapped address is its IPv4 address"
        );
        assert_ne!(
            address_key(Ipv4Addr::new(192, 0, 2, 8).into()),
            address_key(v4.into())
        );
    }

    #[test]
    fn account_keys_are_normalized_usernames() {
        let ip: IpAddr = Ipv4Addr::LOCALHOST.into();
        let carol = AttemptKeys::new("carol", ip);
        for same in ["CAROL", " carol", "Carol"] {
            assert_eq!(AttemptKeys::new(same, ip), carol, "{same:?}");
        }
    }

    async fn throttle(free: u32, address_failures: u32) -> Throttle {
        let store = SqlStore::connect("sqlite::memory:").await.unwrap();
        Throttle::new(store, free, 900, address_failures)
    }

    fn ip(last: u8) -> IpAddr {
        Ipv4Addr::new(198, 51, 100, last).into()
    }

    async fn fail(throttle: &Throttle, keys: &AttemptKeys, now: i64) -> Option<i64> {
        match throttle.begin(keys, now).await.unwrap() {
            Admission::Allowed(attempt) => {
                attempt.failed().await.unwrap();
                None
            }
            Admission::Refused { wait } => Some(wait),
        }
    }

    async fn succeed(throttle: &Throttle, keys: &AttemptKeys, now: i64) -> Option<i64> {
        match throttle.begin(keys, now).await.unwrap() {
            Admission::Allowed(attempt) => {
                attempt.succeeded().await.unwrap();
                None
            }
            Admission::Refused { wait } => Some(wait),
        }
    }

    /// Finding 2, "too strong": successes of other users from one address neither
    /// count against it nor refresh any penalty, so the address's budget is the
    /// failures alone and its window ends on time.
    #[tokio::test]
    async fn successes_never_extend_an_address_penalty() {
        let throttle = throttle(1000, 3).await;
        for (i, name) in ["u1", "u2", "u3"].iter().enumerate() {
            assert_eq!(
                fail(&throttle, &AttemptKeys::new(name, ip(1)), 100 + i as i64).await,
                None
            );
        }
        // The budget is spent: everyone from the address waits until the window ends.
        let dave = AttemptKeys::new("dave", ip(1));
        assert_eq!(succeed(&throttle, &dave, 200).await, Some(800));
        assert_eq!(succeed(&throttle, &dave, 999).await, Some(1));
        // Refused attempts pushed nothing back: the window ends at 100 + 900.
        assert_eq!(succeed(&throttle, &dave, 1000).await, None);
        // Other addresses were never affected.
        assert_eq!(
            succeed(&throttle, &AttemptKeys::new("erin", ip(2)), 200).await,
            None
        );
    }

    /// Finding 2: while one person guesses one account, others behind the same
    /// address sign in; the guesser is held back by the account's delay.
    #[tokio::test]
    async fn a_crowd_signs_in_while_one_of_them_guesses() {
        let throttle = throttle(3, 50).await;
        let victim = AttemptKeys::new("alice", ip(9));
        let mut checked = 0;
        for second in 0..300 {
            let now = 1000 + second;
            if fail(&throttle, &victim, now).await.is_none() {
                checked += 1;
            }
            let colleague = AttemptKeys::new(&format!("user{}", second % 40), ip(9));
            assert_eq!(
                succeed(&throttle, &colleague, now).await,
                None,
                "second {second}"
            );
        }
        assert!(
            checked <= 12,
            "the guesser's checks were delayed: {checked}"
        );
    }

    /// Finding 9: an attacker's failures from one address do not keep the owner out
    /// from another, clean one; the attacker stays throttled.
    #[tokio::test]
    async fn a_guesser_cannot_lock_the_owner_out() {
        let throttle = throttle(3, 50).await;
        let attacker = AttemptKeys::new("alice", ip(66));
        for second in 0..30 {
            fail(&throttle, &attacker, 1000 + second).await;
        }
        assert!(
            fail(&throttle, &attacker, 1031).await.is_some(),
            "still throttled"
        );
        let owner = AttemptKeys::new("ALICE", ip(7));
        assert_eq!(
            succeed(&throttle, &owner, 1031).await,
            None,
            "the owner gets in"
        );
        assert!(
            fail(&throttle, &attacker, 1032).await.is_some(),
            "the owner's success did not reset the attacker's delay"
        );
    }

    /// Attempts begun at once from fresh keys: only the free ones are allowed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn parallel_attempts_get_only_the_free_checks() {
        let throttle = throttle(3, 5).await;
        let mut attempts = Vec::new();
        for _ in 0..10 {
            match throttle
                .begin(&AttemptKeys::new("bob", ip(3)), 500)
                .await
                .unwrap()
            {
                Admission::Allowed(attempt) => attempts.push(attempt),
                Admission::Refused { .. } => {}
            }
        }
        assert_eq!(attempts.len(), 3, "the free attempts of the account");
        let mut spray = Vec::new();
        for i in 0..10 {
            match throttle
                .begin(&AttemptKeys::new(&format!("s{i}"), ip(3)), 500)
                .await
                .unwrap()
            {
                Admission::Allowed(attempt) => spray.push(attempt),
                Admission::Refused { .. } => {}
            }
        }
        assert_eq!(
            attempts.len() + spray.len(),
            5,
            "the address budget counts attempts in flight"
        );
        for attempt in attempts.into_iter().chain(spray) {
            attempt.failed().await.unwrap();
        }
    }

    /// Many attempts on one account from one address, begun at once and held in
    /// flight: however their counts interleave, no more than the free ones get a
    /// check (the first to reach the pair once passed as a clean address on top of
    /// the account's free checks).
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_flood_from_one_address_gets_only_the_free_checks() {
        let throttle = throttle(2, 1000).await;
        for round in 0..30 {
            let keys = AttemptKeys::new(&format!("flood{round}"), ip(6));
            let begun: Vec<_> = (0..12)
                .map(|_| {
                    let (throttle, keys) = (throttle.clone(), keys.clone());
                    tokio::spawn(async move { throttle.begin(&keys, 700).await.unwrap() })
                })
                .collect();
            let mut allowed = Vec::new();
            for attempt in begun {
                if let Admission::Allowed(attempt) = attempt.await.unwrap() {
                    allowed.push(attempt);
                }
            }
            assert!(
                allowed.len() <= 2,
                "round {round}: {} checks",
                allowed.len()
            );
            for attempt in allowed {
                attempt.failed().await.unwrap();
            }
        }
    }

    /// An attempt that counted only some of its keys (the database failed on the next
    /// one) ends only those: ending the others would take back another attempt's
    /// count, and a parallel guess would then pass as the first from a clean address,
    /// skipping the account's limit.
    #[tokio::test]
    async fn a_half_begun_attempt_ends_only_its_own_counts() {
        let throttle = throttle(1, 50).await;
        let keys = AttemptKeys::new("grace", ip(5));
        let first = match throttle.begin(&keys, 10).await.unwrap() {
            Admission::Allowed(attempt) => attempt,
            Admission::Refused { .. } => panic!("the first attempt is free"),
        };
        // A second attempt counted on the pair, then failed to count the address.
        throttle
            .store
            .begin_login_attempt(&keys.pair, 10, 900, ThrottleReset::AfterQuiet)
            .await
            .unwrap();
        let mut half = Attempt {
            throttle: throttle.clone(),
            keys: keys.clone(),
            now: 10,
            begun: 1,
            clean_address: false,
            finished: false,
        };
        half.end(AttemptOutcome::Refused).await.unwrap();
        // The first is still in flight: a third attempt is past the one free check.
        assert!(
            matches!(
                throttle.begin(&keys, 10).await.unwrap(),
                Admission::Refused { .. }
            ),
            "the account and the pair still count the first attempt"
        );
        first.failed().await.unwrap();
    }

    /// An attempt dropped unfinished (the client disconnected) does not stay pending.
    #[tokio::test]
    async fn an_abandoned_attempt_counts_for_nothing() {
        let throttle = throttle(1, 50).await;
        let keys = AttemptKeys::new("frank", ip(4));
        match throttle.begin(&keys, 10).await.unwrap() {
            Admission::Allowed(attempt) => drop(attempt),
            Admission::Refused { .. } => panic!("the first attempt is free"),
        }
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert_eq!(
            succeed(&throttle, &keys, 11).await,
            None,
            "not raced by a ghost"
        );
    }
}
