//! The engine's timers in one table keyed by an enum. The next wake-up is the earliest
//! deadline; a call to `handle_timeout` before any deadline does nothing.

use crate::time::Instant;

/// The timers the client engine runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timer {
    /// The CONNACK must arrive by then.
    ConnAck = 0,
    /// Send PINGREQ if nothing else was sent by then.
    KeepAlive = 1,
    /// PINGRESP must arrive by then.
    PingResp = 2,
    /// Open the next connection then.
    Reconnect = 3,
}

const COUNT: usize = 4;
const ALL: [Timer; COUNT] = [
    Timer::ConnAck,
    Timer::KeepAlive,
    Timer::PingResp,
    Timer::Reconnect,
];

/// Deadlines, one slot per timer.
#[derive(Debug, Default, Clone)]
pub(crate) struct TimerTable {
    deadlines: [Option<Instant>; COUNT],
}

impl TimerTable {
    pub(crate) fn set(&mut self, timer: Timer, at: Instant) {
        self.deadlines[timer as usize] = Some(at);
    }

    pub(crate) fn stop(&mut self, timer: Timer) {
        self.deadlines[timer as usize] = None;
    }

    pub(crate) fn get(&self, timer: Timer) -> Option<Instant> {
        self.deadlines[timer as usize]
    }

    pub(crate) fn stop_all(&mut self) {
        self.deadlines = [None; COUNT];
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// Stops and returns the first timer due at `now`, if any.
    pub(crate) fn expired(&mut self, now: Instant) -> Option<Timer> {
        let timer = ALL
            .into_iter()
            .find(|t| self.get(*t).is_some_and(|at| at <= now))?;
        self.stop(timer);
        Some(timer)
    }
}
