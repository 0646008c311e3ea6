//! Rates: a token bucket for the per-connection message and byte limits (the relay waits,
//! so a fast client is slowed, not dropped), the per-client connection rate, and the
//! refusal log lines (a flood of refusals writes a few lines and a count, not a line each).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::limits::ClientKey;

/// `rate` tokens a second, at most `burst` saved up. Taking more than there are leaves a
/// debt that the caller waits out.
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket of `burst` tokens refilling at `rate` a second.
    pub(crate) fn new(rate: f64, burst: f64, now: Instant) -> TokenBucket {
        TokenBucket {
            rate,
            burst,
            tokens: burst,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = now;
    }

    /// Takes `n` tokens; how long to wait before going on (zero while within the rate).
    pub(crate) fn take(&mut self, n: f64, now: Instant) -> Duration {
        self.refill(now);
        self.tokens -= n;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }

    /// Takes one token if there is one.
    pub(crate) fn try_take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// True when the bucket is full again: nothing to remember.
    fn is_full(&self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens + elapsed * self.rate >= self.burst
    }
}

/// The per-connection limits on what a client sends: messages and bytes a second.
#[derive(Debug)]
pub(crate) struct SendRate {
    messages: Option<TokenBucket>,
    bytes: Option<TokenBucket>,
}

impl SendRate {
    /// Limits of `messages` packets and `bytes` bytes a second (0: none), each with a
    /// second's worth of burst.
    pub(crate) fn new(messages: u32, bytes: u64) -> SendRate {
        let now = Instant::now();
        let bucket = |rate: f64| (rate > 0.0).then(|| TokenBucket::new(rate, rate, now));
        SendRate {
            messages: bucket(f64::from(messages)),
            bytes: bucket(bytes as f64),
        }
    }

    /// Counts `packets` packets of `bytes` bytes; how long to wait before reading more.
    pub(crate) fn take(&mut self, packets: usize, bytes: usize) -> Duration {
        if self.messages.is_none() && self.bytes.is_none() {
            return Duration::ZERO; // no limit: no clock read on the hot path
        }
        let now = Instant::now();
        let a = self
            .messages
            .as_mut()
            .map_or(Duration::ZERO, |b| b.take(packets as f64, now));
        let b = self
            .bytes
            .as_mut()
            .map_or(Duration::ZERO, |b| b.take(bytes as f64, now));
        a.max(b)
    }
}

/// New connections a second per client, with a burst of as many.
#[derive(Debug)]
pub(crate) struct ConnectRate {
    rate: f64,
    buckets: Mutex<HashMap<ClientKey, TokenBucket>>,
}

/// Clients remembered at most; full buckets are forgotten first.
const CONNECT_RATE_CLIENTS: usize = 65_536;

impl ConnectRate {
    /// `rate` new connections a second per client; 0 for no limit.
    pub(crate) fn new(rate: u32) -> ConnectRate {
        ConnectRate {
            rate: f64::from(rate),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `client` may open one more connection now.
    pub(crate) fn allow(&self, client: &ClientKey) -> bool {
        if self.rate <= 0.0 {
            return true;
        }
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= CONNECT_RATE_CLIENTS && !buckets.contains_key(client) {
            buckets.retain(|_, b| !b.is_full(now));
            if buckets.len() >= CONNECT_RATE_CLIENTS {
                return false; // a flood of distinct clients: the oldest are not forgotten early
            }
        }
        buckets
            .entry(client.clone())
            .or_insert_with(|| TokenBucket::new(self.rate, self.rate, now))
            .try_take(now)
    }
}

/// Lines a second that one kind of refusal may write to the log.
const LOG_LINES_PER_SECOND: f64 = 5.0;

/// Limits the log lines of each kind of refusal; what is left out is counted and reported
/// with the next line that is written.
#[derive(Debug, Default)]
pub(crate) struct LogLimiter {
    kinds: Mutex<HashMap<&'static str, (TokenBucket, u64)>>,
}

impl LogLimiter {
    /// `Some(n)` when a line of `kind` may be written now, `n` being the lines of that kind
    /// left out since the last one; `None` when it must be left out.
    pub(crate) fn allow(&self, kind: &'static str) -> Option<u64> {
        let now = Instant::now();
        let mut kinds = self.kinds.lock().unwrap_or_else(|e| e.into_inner());
        let (bucket, suppressed) = kinds.entry(kind).or_insert_with(|| {
            (
                TokenBucket::new(LOG_LINES_PER_SECOND, LOG_LINES_PER_SECOND, now),
                0,
            )
        });
        if bucket.try_take(now) {
            Some(std::mem::take(suppressed))
        } else {
            *suppressed += 1;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_bucket_lets_a_burst_through_then_paces_to_its_rate() {
        let now = Instant::now();
        let mut bucket = TokenBucket::new(100.0, 100.0, now);
        assert_eq!(bucket.take(100.0, now), Duration::ZERO);
        assert_eq!(bucket.take(50.0, now), Duration::from_millis(500));
        assert_eq!(
            bucket.take(0.0, now + Duration::from_millis(500)),
            Duration::ZERO
        );
    }

    #[tokio::test(start_paused = true)]
    async fn limits_new_connections_per_client() {
        let rate = ConnectRate::new(2);
        let a = ClientKey::ip("192.0.2.1".parse().expect("an address"));
        let b = ClientKey::ip("192.0.2.2".parse().expect("an address"));
        assert!(rate.allow(&a) && rate.allow(&a));
        assert!(!rate.allow(&a), "a third in the same instant");
        assert!(rate.allow(&b), "another client is not affected");
        tokio::time::advance(Duration::from_millis(500)).await;
        assert!(rate.allow(&a), "one more after half a second");
        assert!(ConnectRate::new(0).allow(&a), "0 is no limit");
    }

    #[tokio::test(start_paused = true)]
    async fn counts_the_log_lines_it_leaves_out() {
        let limiter = LogLimiter::default();
        for _ in 0..5 {
            assert_eq!(limiter.allow("origin"), Some(0));
        }
        for _ in 0..1000 {
            assert_eq!(limiter.allow("origin"), None);
        }
        assert_eq!(limiter.allow("handshake"), Some(0), "kinds are apart");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(limiter.allow("origin"), Some(1000));
    }
}
