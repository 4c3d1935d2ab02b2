//! User passwords: Argon2id with the `argon2` crate's default parameters (RFC 9106),
//! computed by a small fixed set of worker threads that reuse their memory.
//!
//! Each hash or verification takes tens of milliseconds of CPU and 19 MiB of memory on
//! purpose. Run on tokio's blocking pool, every computation allocated its 19 MiB on
//! whichever pool thread took it, and the allocator kept each thread's arena: a burst
//! of 150 failed sign-ins grew the server from 11 MB to 0.8 GB, for good (issue 9,
//! finding 4). Here instead:
//!
//! - a fixed set of worker threads (one per CPU core, at most [`MAX_WORKERS`]) does
//!   every computation, each in one Argon2 memory buffer it allocates for its first
//!   computation and reuses for every later one, so memory stays at workers × 19 MiB
//!   under any burst (and a server that never checks a password never takes it);
//! - beyond them, work waits in a queue that is *fair*: one lane per client address,
//!   served in turn, so a flood from one address delays a sign-in from another by at
//!   most one computation per worker, not by the whole flood;
//! - the queue is bounded ([`MAX_QUEUED_PER_LANE`], [`MAX_QUEUED`]): past it a request
//!   is answered [`SqlError::Busy`] at once instead of waiting behind the flood.
//!
//! An unknown user is verified against [`DUMMY_HASH`], so that answering "no such
//! user" takes as long as "wrong password".
//!
//! Salts are drawn by the caller, from the store's injected
//! [`RandomSource`](portcullis_core::RandomSource), before the work is queued: the
//! workers compute, they draw nothing.

use std::collections::{HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::{Condvar, Mutex, OnceLock};

use argon2::password_hash::{PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use portcullis_core::secret::constant_time_eq;
use tokio::sync::oneshot;

use crate::error::SqlError;

/// A well-formed Argon2id hash with the default parameters that no known password
/// matches, verified in place of a missing user's hash: same cost, always `false`.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZS1maXhlZC1zYWx0$JZ0ZFp1ajXcfB0DFDQAgXjZ8cZL8o2ONpvGw0R1lP3U";

/// The most worker threads, whatever the number of cores: memory is 19 MiB each.
pub(crate) const MAX_WORKERS: usize = 4;
/// The most computations waiting for one lane (one client address).
pub(crate) const MAX_QUEUED_PER_LANE: usize = 64;
/// The most computations waiting in all.
pub(crate) const MAX_QUEUED: usize = 2048;
/// The largest Argon2 memory a stored hash may ask for (256 MiB): a larger `m` in a
/// stored hash is refused as corrupt rather than allocated.
const MAX_M_COST_KIB: u32 = 256 * 1024;

/// The lane of administrative work (user creation, password changes).
pub(crate) const ADMIN_LANE: &str = "admin";

/// Bytes of salt in a new hash: 128 bits.
pub(crate) const SALT_BYTES: usize = 16;

/// The salt of a new hash, drawn by the caller from the store's random source.
pub(crate) type Salt = [u8; SALT_BYTES];

type Work = Box<dyn FnOnce(&mut Memory) + Send>;

/// A worker's Argon2 memory: allocated once, grown only for a stored hash that asks for
/// more than the default cost.
#[derive(Default)]
pub(crate) struct Memory {
    blocks: Vec<Block>,
    allocations: usize,
    /// Allocations already counted in the pool's statistics.
    reported: usize,
}

impl Memory {
    /// At least `count` blocks.
    fn blocks(&mut self, count: usize) -> &mut [Block] {
        if self.blocks.len() < count {
            self.blocks.resize(count, Block::default());
            self.allocations += 1;
        }
        &mut self.blocks[..]
    }
}

/// Work waiting for a worker, one lane per client address.
#[derive(Default)]
struct Queue {
    lanes: HashMap<String, VecDeque<Work>>,
    /// Lanes with work, in the order they are next served.
    turn: VecDeque<String>,
    queued: usize,
}

impl Queue {
    fn push(&mut self, lane: &str, work: Work) -> Result<(), SqlError> {
        if self.queued >= MAX_QUEUED {
            return Err(SqlError::Busy(
                "too many password checks are waiting; try again in a moment".to_owned(),
            ));
        }
        let waiting = self.lanes.entry(lane.to_owned()).or_default();
        if waiting.len() >= MAX_QUEUED_PER_LANE {
            return Err(SqlError::Busy(
                "too many password checks from this address are waiting; try again in a moment"
                    .to_owned(),
            ));
        }
        if waiting.is_empty() {
            self.turn.push_back(lane.to_owned());
        }
        waiting.push_back(work);
        self.queued += 1;
        Ok(())
    }

    /// The next work in round-robin order over the lanes.
    fn pop(&mut self) -> Option<Work> {
        let lane = self.turn.pop_front()?;
        let waiting = self.lanes.get_mut(&lane)?;
        let work = waiting.pop_front();
        if waiting.is_empty() {
            self.lanes.remove(&lane);
        } else {
            self.turn.push_back(lane);
        }
        self.queued -= usize::from(work.is_some());
        work
    }
}

/// The worker threads and their queue.
struct Pool {
    queue: Mutex<Queue>,
    ready: Condvar,
    /// How many worker threads run, and how many Argon2 buffers they allocated.
    stats: Mutex<PoolStats>,
}

/// What the pool has done so far (for tests and diagnostics).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PoolStats {
    /// Worker threads started.
    pub(crate) workers: usize,
    /// Argon2 memory buffers allocated (grown) by them.
    pub(crate) buffers: usize,
    /// Computations finished.
    pub(crate) computed: u64,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let new = Pool {
            queue: Mutex::new(Queue::default()),
            ready: Condvar::new(),
            stats: Mutex::new(PoolStats::default()),
        };
        let workers = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .clamp(1, MAX_WORKERS);
        for index in 0..workers {
            let spawned = std::thread::Builder::new()
                .name(format!("portcullis-argon2-{index}"))
                .spawn(|| run_worker(pool()));
            if let Err(error) = spawned {
                tracing::error!(%error, "cannot start a password hashing thread");
            }
        }
        // The workers wait for this initialization to finish before they take work.
        new
    })
}

/// What the pool has done so far.
#[cfg(test)]
pub(crate) fn stats() -> PoolStats {
    pool().stats.lock().map(|s| *s).unwrap_or_default()
}

fn run_worker(pool: &'static Pool) {
    if let Ok(mut stats) = pool.stats.lock() {
        stats.workers += 1;
    }
    // Allocated by the first computation, at the default cost, and reused by every
    // later one: a worker that never gets work never takes the memory.
    let mut memory = Memory::default();
    loop {
        let work = {
            let Ok(mut queue) = pool.queue.lock() else {
                return;
            };
            loop {
                if let Some(work) = queue.pop() {
                    break work;
                }
                queue = match pool.ready.wait(queue) {
                    Ok(queue) => queue,
                    Err(_) => return,
                };
            }
        };
        // A panic inside Argon2 drops that job's reply (its caller gets an error) but
        // keeps the worker.
        let _ = std::panic::catch_unwind(AssertUnwindSafe(|| work(&mut memory)));
    }
}

/// Counts a finished computation (before its caller hears of it).
fn count(pool: &Pool, memory: &mut Memory) {
    if let Ok(mut stats) = pool.stats.lock() {
        stats.computed += 1;
        stats.buffers += memory.allocations - memory.reported;
        memory.reported = memory.allocations;
    }
}

/// Runs `compute` on a worker, queued in `lane`, and waits for its answer.
async fn run<T: Send + 'static>(
    lane: &str,
    compute: impl FnOnce(&mut Memory) -> Result<T, SqlError> + Send + 'static,
) -> Result<T, SqlError> {
    let pool = pool();
    let (reply, answer) = oneshot::channel();
    let work: Work = Box::new(move |memory| {
        let result = compute(memory);
        count(pool, memory);
        let _ = reply.send(result);
    });
    pool.queue
        .lock()
        .map_err(|_| SqlError::Task("the password hashing queue is poisoned".to_owned()))?
        .push(lane, work)?;
    pool.ready.notify_one();
    answer
        .await
        .map_err(|_| SqlError::Task("a password hashing thread failed".to_owned()))?
}

/// Hashes `password` with Argon2id and `salt` (fresh random bytes), as a PHC string.
pub(crate) async fn hash_password(password: String, salt: Salt) -> Result<String, SqlError> {
    run(ADMIN_LANE, move |memory| {
        hash_with(&password, &salt, memory)
    })
    .await
}

/// True when `password` matches `stored` (a PHC string). With `stored == None` (no
/// such user) the dummy hash is verified anyway and the answer is `false`. The work
/// waits in `lane` (the client's address) behind other work of the same lane only.
pub(crate) async fn verify_password(
    password: String,
    stored: Option<String>,
    lane: &str,
) -> Result<bool, SqlError> {
    run(lane, move |memory| {
        let known = stored.is_some();
        let hash = stored.as_deref().unwrap_or(DUMMY_HASH);
        let matches = verify_with(&password, hash, memory)?;
        Ok(known && matches)
    })
    .await
}

fn hash_with(password: &str, salt: &Salt, memory: &mut Memory) -> Result<String, SqlError> {
    let failed = |e: &dyn std::fmt::Display| SqlError::Password(e.to_string());
    let params = Params::DEFAULT;
    let blocks = memory.blocks(params.block_count());
    let mut output = [0u8; Params::DEFAULT_OUTPUT_LEN];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut output, blocks)
        .map_err(|e| failed(&e))?;
    let salt = SaltString::encode_b64(salt).map_err(|e| failed(&e))?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: (&params).try_into().map_err(|e| failed(&e))?,
        salt: Some(salt.as_salt()),
        hash: Some(argon2::password_hash::Output::new(&output).map_err(|e| failed(&e))?),
    };
    Ok(hash.to_string())
}

fn verify_with(password: &str, stored: &str, memory: &mut Memory) -> Result<bool, SqlError> {
    let corrupt = |e: &dyn std::fmt::Display| {
        SqlError::Corrupt(format!("a stored password hash is unusable: {e}"))
    };
    let parsed = PasswordHash::new(stored).map_err(|e| corrupt(&e))?;
    // The algorithm, version and cost come from the stored hash.
    let algorithm = Algorithm::try_from(parsed.algorithm).map_err(|e| corrupt(&e))?;
    let version = parsed
        .version
        .map(Version::try_from)
        .transpose()
        .map_err(|e| corrupt(&e))?
        .unwrap_or_default();
    let params = Params::try_from(&parsed).map_err(|e| corrupt(&e))?;
    if params.m_cost() > MAX_M_COST_KIB {
        return Err(corrupt(&"its memory cost is larger than 256 MiB"));
    }
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Err(corrupt(&"it has no salt or no hash"));
    };
    let mut salt_bytes = [0u8; 64];
    let salt = salt.decode_b64(&mut salt_bytes).map_err(|e| corrupt(&e))?;
    let blocks = memory.blocks(params.block_count());
    let mut output = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut output, blocks)
        .map_err(|e| SqlError::Password(e.to_string()))?;
    Ok(constant_time_eq(&output, expected.as_bytes()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use argon2::{PasswordHasher, PasswordVerifier};

    use super::*;

    const SALT: Salt = *b"sixteen-byte-slt";

    fn hash_here(password: &str) -> String {
        hash_with(password, &SALT, &mut Memory::default()).unwrap()
    }

    fn verify_here(password: &str, hash: &str) -> bool {
        verify_with(password, hash, &mut Memory::default()).unwrap()
    }

    #[test]
    fn dummy_hash_parses_with_default_parameters() {
        let dummy = PasswordHash::new(DUMMY_HASH).unwrap();
        let fresh = hash_here("x");
        let fresh = PasswordHash::new(&fresh).unwrap();
        assert_eq!(dummy.algorithm, fresh.algorithm);
        assert_eq!(dummy.params, fresh.params);
        assert!(!verify_here("", DUMMY_HASH));
    }

    #[test]
    fn hash_then_verify() {
        let hash = hash_here("correct horse");
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_here("correct horse", &hash));
        assert!(!verify_here("wrong horse", &hash));
    }

    /// Hashes made here and by the `argon2` crate's own API verify with each other, so
    /// passwords stored before the worker pool still work.
    #[test]
    fn compatible_with_the_argon2_crate() {
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let theirs = Argon2::default()
            .hash_password(b"tr0ub4dor", &salt)
            .unwrap()
            .to_string();
        assert!(verify_here("tr0ub4dor", &theirs));
        assert!(!verify_here("tr0ub4dor&3", &theirs));
        let ours = hash_here("tr0ub4dor");
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default()
            .verify_password(b"tr0ub4dor", &parsed)
            .is_ok());
    }

    /// The hash carries exactly the salt it was given (base64 without padding), and
    /// another salt gives another hash of the same password.
    #[test]
    fn the_given_salt_is_the_stored_salt() {
        let hash = hash_here("pw");
        let parsed = PasswordHash::new(&hash).unwrap();
        assert_eq!(
            parsed.salt.unwrap().as_str(),
            SaltString::encode_b64(&SALT).unwrap().as_str()
        );
        assert_eq!(parsed.salt.unwrap().as_str(), "c2l4dGVlbi1ieXRlLXNsdA");
        assert_eq!(hash, hash_here("pw"), "same password and salt, same hash");
        let other = hash_with("pw", b"another-16-bytes", &mut Memory::default()).unwrap();
        assert_ne!(hash, other);
        assert!(verify_here("pw", &other));
    }

    #[test]
    fn a_stored_hash_asking_for_huge_memory_is_refused() {
        let huge = "$argon2id$v=19$m=4194304,t=2,p=1$c29tZS1maXhlZC1zYWx0$JZ0ZFp1ajXcfB0DFDQAgXjZ8cZL8o2ONpvGw0R1lP3U";
        assert!(matches!(
            verify_with("x", huge, &mut Memory::default()),
            Err(SqlError::Corrupt(_))
        ));
    }

    /// The lanes are served in turn: work queued later in a quiet lane comes out
    /// right after the current work of a busy lane, not after all of it.
    #[test]
    fn a_flood_in_one_lane_does_not_hold_back_another() {
        let mut queue = Queue::default();
        let order = std::sync::Arc::new(Mutex::new(Vec::new()));
        let job = |name: String| -> Work {
            let order = order.clone();
            Box::new(move |_| order.lock().unwrap().push(name))
        };
        for i in 0..50 {
            queue.push("10.0.0.1", job(format!("flood-{i}"))).unwrap();
        }
        queue.push("192.0.2.7", job("alice".into())).unwrap();
        let mut memory = Memory::default();
        while let Some(work) = queue.pop() {
            work(&mut memory);
        }
        let order = order.lock().unwrap();
        assert_eq!(order.len(), 51);
        let position = order.iter().position(|n| n == "alice").unwrap();
        assert!(position <= 1, "alice waited behind {position} jobs");
    }

    #[test]
    fn the_queue_is_bounded_per_lane() {
        let mut queue = Queue::default();
        for _ in 0..MAX_QUEUED_PER_LANE {
            queue.push("a", Box::new(|_| {})).unwrap();
        }
        assert!(matches!(
            queue.push("a", Box::new(|_| {})),
            Err(SqlError::Busy(_))
        ));
        assert!(
            queue.push("b", Box::new(|_| {})).is_ok(),
            "other lanes still queue"
        );
    }

    /// Finding 4: a burst of verifications runs on the fixed workers, each of which
    /// allocated its Argon2 memory once, so memory cannot grow with the burst.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_reuses_a_fixed_set_of_buffers() {
        let hash = hash_password("s3cret".into(), SALT).await.unwrap();
        let mut burst = tokio::task::JoinSet::new();
        for i in 0..40 {
            let hash = hash.clone();
            burst.spawn(async move {
                verify_password(format!("guess-{i}"), Some(hash), "203.0.113.9").await
            });
        }
        for result in burst.join_all().await {
            assert!(!result.unwrap());
        }
        let stats = stats();
        assert!(
            stats.workers >= 1 && stats.workers <= MAX_WORKERS,
            "{stats:?}"
        );
        assert!(
            stats.buffers <= stats.workers,
            "each worker allocated its memory once: {stats:?}"
        );
        assert!(stats.computed >= 41, "{stats:?}");
    }
}
