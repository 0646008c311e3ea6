//! Reconnect delays: exponential backoff with full jitter, drawn from a generator seeded by
//! the caller, so that runs are repeatable and the engine needs no source of randomness.

use crate::time::{Duration, millis};

/// How and whether the client reconnects after losing its connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconnectOptions {
    /// The smallest delay cap: the first attempt waits up to this long.
    pub min_delay: Duration,
    /// The largest delay.
    pub max_delay: Duration,
    /// Give up after this many attempts in a row; `None` never gives up.
    pub max_attempts: Option<u32>,
    /// Seed of the jitter; give each client its own so that clients do not reconnect in step.
    pub seed: u64,
}

impl Default for ReconnectOptions {
    fn default() -> Self {
        ReconnectOptions {
            min_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            max_attempts: None,
            seed: 0,
        }
    }
}

/// The state of backoff between successful connections.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    /// The delays of the options in milliseconds, the unit the jitter is drawn in.
    min_ms: u64,
    max_ms: u64,
    max_attempts: Option<u32>,
    attempt: u32,
    rng: fastrand::Rng,
}

impl Backoff {
    pub(crate) fn new(options: ReconnectOptions) -> Backoff {
        Backoff {
            min_ms: millis(options.min_delay),
            max_ms: millis(options.max_delay),
            max_attempts: options.max_attempts,
            attempt: 0,
            rng: fastrand::Rng::with_seed(options.seed),
        }
    }

    /// The attempts made since the last successful connection.
    pub(crate) fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Forgets past failures: called on a successful CONNACK.
    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }

    /// The delay before the next attempt, or `None` once the attempts are used up. Full
    /// jitter: uniform in `[0, min(max, min_delay * 2^attempt)]`, at least 1 ms after the
    /// first failure so a flapping server is not hammered. In whole milliseconds.
    pub(crate) fn next_delay(&mut self) -> Option<u64> {
        if self.max_attempts.is_some_and(|max| self.attempt >= max) {
            return None;
        }
        let exp = self.attempt.min(32);
        let cap = self
            .min_ms
            .saturating_mul(1u64 << exp)
            .min(self.max_ms)
            .max(1);
        self.attempt += 1;
        Some(self.rng.u64(1..=cap))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_within_their_caps_and_are_repeatable() {
        let options = ReconnectOptions {
            min_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            max_attempts: Some(6),
            seed: 7,
        };
        let mut a = Backoff::new(options.clone());
        let mut b = Backoff::new(options);
        let caps = [100, 200, 400, 800, 1_000, 1_000];
        for cap in caps {
            let delay = a.next_delay().expect("attempts left");
            assert!((1..=cap).contains(&delay), "{delay} > {cap}");
            assert_eq!(b.next_delay(), Some(delay));
        }
        assert_eq!(a.next_delay(), None);
        a.reset();
        assert!(a.next_delay().is_some());
    }
}
