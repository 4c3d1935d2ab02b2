//! Latency statistics: merging the per-connection samples and nearest-rank percentiles.
//!
//! Every connection task records its latencies (microseconds) in its own vector; the
//! vectors are merged and sorted once, after the scenario, so that measuring costs a
//! `Vec::push` per request and no locking.

/// The first failed request of a scenario, kept to show what went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FirstError {
    /// The server answered, but not with success: its status and the start of the body.
    Status {
        /// The HTTP status code.
        status: u16,
        /// The first bytes of the body, lossily decoded.
        body: String,
    },
    /// Connecting, sending or reading failed, or the request timed out.
    Io(String),
}

impl std::fmt::Display for FirstError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FirstError::Status { status, body } => write!(f, "HTTP {status}: {body}"),
            FirstError::Io(message) => write!(f, "I/O: {message}"),
        }
    }
}

/// What one connection task measured.
#[derive(Debug, Default)]
pub(crate) struct TaskStats {
    /// Latency of every completed request (success or not), in microseconds.
    pub(crate) latencies_us: Vec<u32>,
    /// Requests that met the scenario's success condition.
    pub(crate) ok: u64,
    /// Non-success responses plus I/O errors and timeouts.
    pub(crate) errors: u64,
    /// The first error this task saw.
    pub(crate) first_error: Option<FirstError>,
}

impl TaskStats {
    /// Counts a failure, remembering it if it is the first.
    pub(crate) fn error(&mut self, error: FirstError) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(error);
        }
    }
}

/// The merged result of all connection tasks of one scenario.
#[derive(Debug, Default)]
pub(crate) struct Merged {
    /// All latencies, sorted ascending, in microseconds.
    pub(crate) sorted_us: Vec<u32>,
    /// Successful requests.
    pub(crate) ok: u64,
    /// Failed requests.
    pub(crate) errors: u64,
    /// The first error of the first task that had one.
    pub(crate) first_error: Option<FirstError>,
}

/// Merges per-task statistics and sorts the latencies.
pub(crate) fn merge(tasks: Vec<TaskStats>) -> Merged {
    let total = tasks.iter().map(|t| t.latencies_us.len()).sum();
    let mut merged = Merged {
        sorted_us: Vec::with_capacity(total),
        ..Merged::default()
    };
    for task in tasks {
        merged.sorted_us.extend_from_slice(&task.latencies_us);
        merged.ok += task.ok;
        merged.errors += task.errors;
        if merged.first_error.is_none() {
            merged.first_error = task.first_error;
        }
    }
    merged.sorted_us.sort_unstable();
    merged
}

/// The nearest-rank `p`-th percentile (0 < p <= 100) of ascending `sorted` samples:
/// the smallest sample such that at least p % of the samples are less or equal.
/// `None` for no samples.
pub(crate) fn percentile(sorted: &[u32], p: f64) -> Option<u32> {
    if sorted.is_empty() {
        return None;
    }
    let p = p.clamp(0.0, 100.0);
    // Ranks are 1-based: rank = ceil(p/100 * n), at least 1.
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
    #[allow(clippy::cast_sign_loss)] // p and n are non-negative, the product is <= n
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    let index = rank.clamp(1, sorted.len()) - 1;
    sorted.get(index).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&samples, 50.0), Some(50));
        assert_eq!(percentile(&samples, 99.0), Some(99));
        assert_eq!(percentile(&samples, 100.0), Some(100));
        assert_eq!(percentile(&samples, 0.0), Some(1));
        assert_eq!(percentile(&samples, 0.5), Some(1));
        assert_eq!(percentile(&samples, 99.5), Some(100));
    }

    #[test]
    fn percentiles_of_small_and_empty_sets() {
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[7], 50.0), Some(7));
        assert_eq!(percentile(&[7], 99.0), Some(7));
        // Nearest rank of 3 samples: p50 is the 2nd, p99 the 3rd.
        assert_eq!(percentile(&[1, 2, 30], 50.0), Some(2));
        assert_eq!(percentile(&[1, 2, 30], 99.0), Some(30));
        // p50 of an even count is the lower middle, never an interpolation.
        assert_eq!(percentile(&[10, 20, 30, 40], 50.0), Some(20));
    }

    #[test]
    fn merging_sorts_and_sums() {
        let mut a = TaskStats {
            latencies_us: vec![30, 10],
            ok: 2,
            ..TaskStats::default()
        };
        a.error(FirstError::Io("reset".into()));
        let mut b = TaskStats {
            latencies_us: vec![20],
            ok: 1,
            ..TaskStats::default()
        };
        b.error(FirstError::Status {
            status: 400,
            body: "{}".into(),
        });
        b.error(FirstError::Io("later".into()));
        let merged = merge(vec![a, b]);
        assert_eq!(merged.sorted_us, vec![10, 20, 30]);
        assert_eq!((merged.ok, merged.errors), (3, 3));
        assert_eq!(merged.first_error, Some(FirstError::Io("reset".into())));
    }
}
