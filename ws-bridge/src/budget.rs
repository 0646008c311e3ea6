//! One budget for the bytes of partial packets the bridge holds for all its clients
//! (`--max-buffered-bytes`). A connection whose buffer would take the total past it is
//! closed ("quota exceeded", try again later) instead of growing: many clients that each
//! send most of a large packet and stall cannot together exhaust the bridge's memory. The
//! total is the `buffered_bytes` gauge of `/metrics`.

use prometheus_client::metrics::gauge::Gauge;

/// The shared budget (a handle: clones count in the same total).
#[derive(Debug, Clone)]
pub(crate) struct BufferBudget {
    used: Gauge,
    max: i64,
}

/// What one connection holds against the budget; given back when dropped.
#[derive(Debug)]
pub(crate) struct Charge {
    budget: BufferBudget,
    held: i64,
}

/// The budget would be exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OverBudget;

impl BufferBudget {
    /// A budget of `max` bytes, counted in `used`.
    pub(crate) fn new(used: Gauge, max: u64) -> BufferBudget {
        BufferBudget {
            used,
            max: i64::try_from(max).unwrap_or(i64::MAX),
        }
    }

    /// A connection's charge, holding nothing yet.
    pub(crate) fn charge(&self) -> Charge {
        Charge {
            budget: self.clone(),
            held: 0,
        }
    }
}

impl Charge {
    /// The connection now holds `bytes`; refused (and nothing changed) when growing to it
    /// would take the total past the budget.
    pub(crate) fn set(&mut self, bytes: usize) -> Result<(), OverBudget> {
        let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
        let delta = bytes - self.held;
        if delta > 0 {
            let before = self.budget.used.inc_by(delta);
            if before.saturating_add(delta) > self.budget.max {
                self.budget.used.dec_by(delta);
                return Err(OverBudget);
            }
        } else if delta < 0 {
            self.budget.used.dec_by(-delta);
        }
        self.held = bytes;
        Ok(())
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.budget.used.dec_by(self.held);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_growth_past_the_budget_and_gives_back_what_is_dropped() {
        let budget = BufferBudget::new(Gauge::default(), 100);
        let mut a = budget.charge();
        let mut b = budget.charge();
        assert_eq!(a.set(60), Ok(()));
        assert_eq!(b.set(50), Err(OverBudget));
        assert_eq!(b.set(40), Ok(()));
        assert_eq!(budget.used.get(), 100);
        assert_eq!(a.set(10), Ok(()), "shrinking always works");
        assert_eq!(b.set(90), Ok(()));
        drop(a);
        drop(b);
        assert_eq!(budget.used.get(), 0);
    }
}
