//! The engine's per-connection and per-session lookup tables. Their keys are small integers (packet
//! identifiers, topic aliases) or are handed out in order, so plain vectors serve them with
//! O(1) or O(log n) lookups and no hashing. They also keep the code small: every `HashMap`
//! instantiation costs a few kilobytes of wasm in the browser client.

use std::num::NonZeroU16;

use crate::topic::TopicName;
use crate::types::PacketId;

/// A set of packet identifiers: a bitmap grown on demand, 8 KiB at most.
#[derive(Debug, Default)]
pub(crate) struct PacketIdSet {
    words: Vec<u64>,
    len: usize,
}

impl PacketIdSet {
    fn slot(id: PacketId) -> (usize, u64) {
        let bit = usize::from(id.get());
        (bit / 64, 1 << (bit % 64))
    }

    /// The number of identifiers held.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn contains(&self, id: PacketId) -> bool {
        let (word, mask) = Self::slot(id);
        self.words.get(word).is_some_and(|w| w & mask != 0)
    }

    /// Adds `id`; false if it was there already.
    pub(crate) fn insert(&mut self, id: PacketId) -> bool {
        let (word, mask) = Self::slot(id);
        if word >= self.words.len() {
            self.words.resize(word + 1, 0);
        }
        let w = &mut self.words[word];
        if *w & mask != 0 {
            return false;
        }
        *w |= mask;
        self.len += 1;
        true
    }

    /// The identifiers held, in increasing order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = PacketId> + '_ {
        self.words.iter().enumerate().flat_map(|(i, &w)| {
            (0..64u16)
                .filter(move |b| w & (1 << b) != 0)
                .filter_map(move |b| PacketId::new(i as u16 * 64 + b))
        })
    }

    /// Removes `id`; false if it was not there.
    pub(crate) fn remove(&mut self, id: PacketId) -> bool {
        let (word, mask) = Self::slot(id);
        match self.words.get_mut(word) {
            Some(w) if *w & mask != 0 => {
                *w &= !mask;
                self.len -= 1;
                true
            }
            _ => false,
        }
    }
}

/// Topic aliases the server set, indexed by alias. The engine only stores aliases up to
/// its own Topic Alias Maximum, which bounds the vector.
#[derive(Debug, Default)]
pub(crate) struct InboundAliases(Vec<Option<TopicName>>);

impl InboundAliases {
    pub(crate) fn get(&self, alias: NonZeroU16) -> Option<&TopicName> {
        self.0.get(usize::from(alias.get() - 1))?.as_ref()
    }

    pub(crate) fn insert(&mut self, alias: NonZeroU16, topic: TopicName) {
        let i = usize::from(alias.get() - 1);
        if i >= self.0.len() {
            self.0.resize(i + 1, None);
        }
        self.0[i] = Some(topic);
    }
}

/// Topic aliases the client assigned, sorted by topic for binary search. Aliases are
/// assigned once each, from 1 up to the server's Topic Alias Maximum, so the table is only
/// inserted into that many times per connection.
#[derive(Debug, Default)]
pub(crate) struct OutboundAliases(Vec<(TopicName, NonZeroU16)>);

impl OutboundAliases {
    fn find(&self, topic: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(t, _)| (**t).cmp(topic))
    }

    /// The number of aliases assigned.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn get(&self, topic: &str) -> Option<NonZeroU16> {
        self.find(topic).ok().map(|i| self.0[i].1)
    }

    /// Records `alias` for `topic`, replacing any alias it had.
    pub(crate) fn insert(&mut self, topic: TopicName, alias: NonZeroU16) {
        match self.find(&topic) {
            Ok(i) => self.0[i].1 = alias,
            Err(i) => self.0.insert(i, (topic, alias)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(v: u16) -> PacketId {
        PacketId::new(v).expect("non-zero")
    }

    fn nz(v: u16) -> NonZeroU16 {
        NonZeroU16::new(v).expect("non-zero")
    }

    fn topic(s: &str) -> TopicName {
        TopicName::new(s).expect("valid topic")
    }

    #[test]
    fn packet_id_set_behaves_as_a_set() {
        let mut set = PacketIdSet::default();
        assert!(!set.contains(id(1)));
        assert!(!set.remove(id(65_535)));
        for v in [1, 63, 64, 65, 65_535] {
            assert!(set.insert(id(v)));
            assert!(!set.insert(id(v)));
            assert!(set.contains(id(v)));
        }
        assert_eq!(set.len(), 5);
        assert!(!set.contains(id(2)));
        assert!(set.remove(id(64)));
        assert!(!set.remove(id(64)));
        assert!(!set.contains(id(64)));
        assert!(set.contains(id(65)));
        assert_eq!(set.len(), 4);
    }

    #[test]
    fn inbound_aliases_map_alias_to_topic() {
        let mut aliases = InboundAliases::default();
        assert_eq!(aliases.get(nz(3)), None);
        aliases.insert(nz(3), topic("a/b"));
        aliases.insert(nz(1), topic("c"));
        assert_eq!(aliases.get(nz(3)), Some(&topic("a/b")));
        assert_eq!(aliases.get(nz(1)), Some(&topic("c")));
        assert_eq!(aliases.get(nz(2)), None);
        assert_eq!(aliases.get(nz(4)), None);
        aliases.insert(nz(3), topic("d"));
        assert_eq!(aliases.get(nz(3)), Some(&topic("d")));
    }

    #[test]
    fn outbound_aliases_map_topic_to_alias() {
        let mut aliases = OutboundAliases::default();
        for (i, t) in ["m", "a", "z", "a/b", "b"].into_iter().enumerate() {
            assert_eq!(aliases.get(t), None);
            aliases.insert(topic(t), nz(i as u16 + 1));
            assert_eq!(aliases.len(), i + 1);
        }
        for (i, t) in ["m", "a", "z", "a/b", "b"].into_iter().enumerate() {
            assert_eq!(aliases.get(t), Some(nz(i as u16 + 1)));
        }
        assert_eq!(aliases.get("c"), None);
        aliases.insert(topic("a"), nz(9));
        assert_eq!(aliases.get("a"), Some(nz(9)));
        assert_eq!(aliases.len(), 5);
    }
}
