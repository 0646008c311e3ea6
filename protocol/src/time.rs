//! The engine's time: points on the caller's monotonic clock ([`Instant`]) and spans
//! between them ([`Duration`], the one from `core`). The engine never reads a clock; every
//! input carries `now`, so the same code runs under tokio, in a browser (where
//! `std::time::Instant::now` panics) and on a test's simulated clock.

use core::ops::{Add, AddAssign, Sub};

pub use core::time::Duration;

/// A point in time on the caller's monotonic clock: whole milliseconds since an epoch the
/// driver picks (the start of the process, of the task, of a test). Only differences
/// between instants of one clock mean anything.
///
/// Arithmetic saturates instead of panicking: the engine adds timeouts to whatever `now`
/// the caller passes, and a caller's clock is no reason for a panic. Durations count in
/// whole milliseconds; a fraction of one is dropped.
///
/// ```
/// use mqttwire::{Duration, Instant};
///
/// let epoch = std::time::Instant::now(); // natively; `performance.now()` in a browser
/// let now = Instant::ORIGIN + epoch.elapsed();
/// let deadline = now + Duration::from_secs(30);
/// assert_eq!(deadline.saturating_duration_since(now), Duration::from_secs(30));
/// assert_eq!(now - deadline, Duration::ZERO);
/// assert_eq!(Instant::from_millis(1_500).as_millis(), 1_500);
/// ```
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(u64);

impl Instant {
    /// The epoch itself.
    pub const ORIGIN: Instant = Instant(0);

    /// The instant `ms` milliseconds after the epoch.
    pub const fn from_millis(ms: u64) -> Instant {
        Instant(ms)
    }

    /// Milliseconds since the epoch.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// The time from `earlier` to `self`; zero if `earlier` is later.
    pub const fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }

    /// `ms` milliseconds later, saturating: the engine's own arithmetic, which counts in
    /// milliseconds.
    pub(crate) const fn add_millis(self, ms: u64) -> Instant {
        Instant(self.0.saturating_add(ms))
    }

    /// `self + duration`, or `None` past the end of the clock.
    pub const fn checked_add(self, duration: Duration) -> Option<Instant> {
        match self.0.checked_add(millis(duration)) {
            Some(ms) => Some(Instant(ms)),
            None => None,
        }
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;

    /// Saturates at the end of the clock.
    fn add(self, duration: Duration) -> Instant {
        Instant(self.0.saturating_add(millis(duration)))
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, duration: Duration) {
        *self = *self + duration;
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;

    /// Saturates at the epoch.
    fn sub(self, duration: Duration) -> Instant {
        Instant(self.0.saturating_sub(millis(duration)))
    }
}

impl Sub for Instant {
    type Output = Duration;

    /// The time from `earlier` to `self`; zero if `earlier` is later.
    fn sub(self, earlier: Instant) -> Duration {
        self.saturating_duration_since(earlier)
    }
}

/// Whole milliseconds of `d`, saturating: the unit of [`Instant`], of the backoff jitter and
/// of the engine's messages.
pub(crate) const fn millis(d: Duration) -> u64 {
    // Neither `as_millis` nor `saturating_mul`: their 128-bit arithmetic costs the browser
    // build a few hundred bytes.
    let secs = d.as_secs();
    if secs > u64::MAX / 1_000 {
        u64::MAX
    } else {
        (secs * 1_000).saturating_add(d.subsec_millis() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_instead_of_panicking() {
        let end = Instant::from_millis(u64::MAX);
        assert_eq!(end + Duration::from_secs(1), end);
        assert_eq!(Instant::ORIGIN + Duration::MAX, end);
        assert_eq!(end.checked_add(Duration::from_millis(1)), None);
        assert_eq!(Instant::ORIGIN - Duration::from_secs(1), Instant::ORIGIN);
        assert_eq!(Instant::ORIGIN - end, Duration::ZERO);
        assert_eq!(millis(Duration::MAX), u64::MAX);
    }

    #[test]
    fn counts_in_whole_milliseconds() {
        let t = Instant::from_millis(1_234);
        assert_eq!(
            t + Duration::from_micros(1_999),
            Instant::from_millis(1_235)
        );
        assert_eq!(
            t.checked_add(Duration::from_secs(2)),
            Some(Instant::from_millis(3_234))
        );
        let mut u = t;
        u += Duration::from_millis(6);
        assert_eq!(u - t, Duration::from_millis(6));
        assert_eq!(u - Duration::from_millis(6), t);
        assert_eq!(millis(Duration::from_secs(2)), 2_000);
    }
}
