//! The promises of publishes, subscribes and unsubscribes waiting for the engine to
//! complete them, by the engine's handle.

use js_sys::Function;
use mqttwire::client::Handle;

/// A promise waiting for the engine: its resolve and reject functions.
pub(crate) enum Pending {
    /// A publish; resolves with `{ reasonCode }`.
    Publish(Function, Function),
    /// A subscribe, with its filters as given; resolves with the grants.
    Subscribe(Function, Function, Vec<String>),
    /// An unsubscribe; resolves with the reason codes.
    Unsubscribe(Function, Function),
}

/// Values waiting for the engine (a [`Pending`] in the client), sorted by handle. The
/// engine hands out handles in increasing order, so inserting appends; commands mostly
/// complete in order, so removing mostly takes the front, which is done lazily: a completed
/// entry is emptied, and the empty ones at the front are dropped together once they are
/// half the table, so a burst of thousands of publishes completes in linear time. (A
/// `HashMap` would cost several KB of wasm, a `VecDeque` about 1 KB.)
pub(crate) struct PendingTable<T> {
    list: Vec<(Handle, Option<T>)>,
    /// Entries before it are empty.
    head: usize,
}

impl<T> Default for PendingTable<T> {
    fn default() -> Self {
        PendingTable {
            list: Vec::new(),
            head: 0,
        }
    }
}

impl<T> PendingTable<T> {
    /// Adds `value` for `handle`, replacing what `handle` held.
    pub(crate) fn insert(&mut self, handle: Handle, value: T) {
        match self.find(handle) {
            Ok(i) => self.list[i].1 = Some(value),
            Err(i) => self.list.insert(i, (handle, Some(value))),
        }
    }

    /// Takes the value of `handle`, if it has one.
    pub(crate) fn remove(&mut self, handle: Handle) -> Option<T> {
        let i = self.find(handle).ok()?;
        let value = self.list[i].1.take();
        while self.list.get(self.head).is_some_and(|(_, v)| v.is_none()) {
            self.head += 1;
        }
        if self.head * 2 >= self.list.len() {
            self.list.drain(..self.head);
            self.head = 0;
        }
        value
    }

    /// Where `handle` is among the live entries, or where it would go.
    fn find(&self, handle: Handle) -> Result<usize, usize> {
        let head = self.head;
        self.list[head..]
            .binary_search_by_key(&handle, |(h, _)| *h)
            .map(|i| i + head)
            .map_err(|i| i + head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(handles: impl IntoIterator<Item = u64>) -> PendingTable<u64> {
        let mut table = PendingTable::default();
        for h in handles {
            table.insert(Handle(h), h * 10);
        }
        table
    }

    #[test]
    fn removes_each_value_once_in_order() {
        let mut t = table(1..=5);
        for h in 1..=5 {
            assert_eq!(t.remove(Handle(h)), Some(h * 10));
            assert_eq!(t.remove(Handle(h)), None);
        }
        assert!(t.list.is_empty());
        assert_eq!(t.head, 0);
    }

    #[test]
    fn removes_out_of_order_and_keeps_the_rest() {
        let mut t = table([1, 2, 3, 4, 5, 6]);
        assert_eq!(t.remove(Handle(4)), Some(40));
        assert_eq!(t.remove(Handle(6)), Some(60));
        assert_eq!(t.remove(Handle(1)), Some(10));
        assert_eq!(t.remove(Handle(3)), Some(30));
        assert_eq!(t.remove(Handle(2)), Some(20));
        assert_eq!(t.remove(Handle(5)), Some(50));
        assert!(t.list.is_empty());
    }

    #[test]
    fn finds_nothing_for_an_unknown_handle() {
        let mut t = table([2, 4]);
        assert_eq!(t.remove(Handle(1)), None);
        assert_eq!(t.remove(Handle(3)), None);
        assert_eq!(t.remove(Handle(9)), None);
        assert_eq!(t.list.len(), 2);
        assert_eq!(PendingTable::<u64>::default().remove(Handle(0)), None);
    }

    #[test]
    fn accepts_a_handle_below_the_live_ones_and_replaces_a_repeated_one() {
        let mut t = table([5, 7]);
        t.insert(Handle(3), 30);
        t.insert(Handle(7), 71);
        assert_eq!(t.remove(Handle(3)), Some(30));
        assert_eq!(t.remove(Handle(7)), Some(71));
        assert_eq!(t.remove(Handle(5)), Some(50));
    }

    #[test]
    fn drops_completed_entries_at_the_front_once_they_are_half() {
        let mut t = table(0..10);
        for h in 0..4 {
            assert!(t.remove(Handle(h)).is_some());
        }
        assert_eq!((t.head, t.list.len()), (4, 10));
        assert!(t.remove(Handle(4)).is_some());
        assert_eq!((t.head, t.list.len()), (0, 5));
        // An entry completed out of order is dropped once the front reaches it.
        assert!(t.remove(Handle(6)).is_some());
        assert_eq!((t.head, t.list.len()), (0, 5));
        assert!(t.remove(Handle(5)).is_some());
        assert_eq!((t.head, t.list.len()), (2, 5));
        assert_eq!(t.remove(Handle(7)), Some(70));
        assert_eq!((t.head, t.list.len()), (0, 2));
    }

    #[test]
    fn completes_a_long_in_order_burst_with_a_short_list() {
        let mut t = PendingTable::default();
        let mut longest = 0;
        for h in 0..10_000u64 {
            t.insert(Handle(h), h);
            if h >= 8 {
                assert_eq!(t.remove(Handle(h - 8)), Some(h - 8));
            }
            longest = longest.max(t.list.len());
        }
        assert!(longest <= 18, "{longest}");
    }
}
