//! A trie of topic filters to values, answering "which filters match this topic name?" in
//! time that grows with the topic's depth and the number of matches, not with the number
//! of filters.

use std::collections::HashMap;
use std::fmt;
use std::slice;

use super::TopicFilter;

/// Topic filters mapped to values, answering "which filters match this topic name?" fast.
///
/// A filter holds one or more values in insertion order (several handlers, several subscriber
/// ids); equal values are not merged. A shared subscription is keyed by its whole filter, so
/// `a/b`, `$share/g1/a/b` and `$share/g2/a/b` are three filters, and matched by its inner filter.
///
/// The filters live in a tree with one node per level: literal children in a `HashMap`
/// (std's SipHash, so chosen level names cannot flood one bucket), `+` and `#` apart. A lookup
/// walks the topic's levels in place without splitting it into a vector. No operation recurses,
/// so a filter or topic thousands of levels deep cannot overflow the stack.
///
/// ```
/// use mqttwire::topic::{SubscriptionTrie, TopicFilter};
///
/// let mut trie = SubscriptionTrie::new();
/// let filter = TopicFilter::new("chat/+/messages")?;
/// trie.insert(&filter, 7_u32);
/// trie.insert(&filter, 9);
/// assert_eq!(trie.matching("chat/lobby/messages"), [&7, &9]);
/// assert_eq!(trie.remove(&filter, &7), Some(7));
/// assert_eq!(trie.remove_filter(&filter), [9]);
/// assert!(trie.is_empty());
/// # Ok::<(), mqttwire::topic::TopicError>(())
/// ```
pub struct SubscriptionTrie<T> {
    pub(super) root: Node<T>,
    len: usize,
    filter_count: usize,
}

impl<T> SubscriptionTrie<T> {
    /// An empty trie.
    pub fn new() -> Self {
        Self {
            root: Node::default(),
            len: 0,
            filter_count: 0,
        }
    }

    /// Adds `value` to the values of `filter`, after any it already holds.
    pub fn insert(&mut self, filter: &TopicFilter, value: T) {
        let mut node = &mut self.root;
        let mut levels = filter.filter_without_share().split('/');
        let slot = loop {
            match levels.next() {
                None => break &mut node.exact,
                // A valid filter has `#` only as its last level.
                Some("#") => break &mut node.multi,
                Some("+") => node = node.plus.get_or_insert_with(Box::default).as_mut(),
                Some(level) => node = node.literal.entry(level.into()).or_default(),
            }
        };
        match slot.iter_mut().find(|entry| entry.filter == *filter) {
            Some(entry) => entry.values.push(value),
            None => {
                slot.push(Entry {
                    filter: filter.clone(),
                    values: vec![value],
                });
                self.filter_count += 1;
            }
        }
        self.len += 1;
    }

    /// Removes the first value of `filter` equal to `value` and returns it; `None` if there is
    /// none. A filter left without values is removed, and so are the nodes it alone used.
    pub fn remove(&mut self, filter: &TopicFilter, value: &T) -> Option<T>
    where
        T: PartialEq,
    {
        self.take_where(filter, true, &mut |v| v == value).pop()
    }

    /// Removes every value of `filter` for which `pred` is true and returns them in insertion
    /// order. A filter left without values is removed, and so are the nodes it alone used.
    pub fn remove_if(&mut self, filter: &TopicFilter, mut pred: impl FnMut(&T) -> bool) -> Vec<T> {
        self.take_where(filter, false, &mut pred)
    }

    /// Removes `filter` with all its values and returns them in insertion order; empty if the
    /// filter was absent.
    pub fn remove_filter(&mut self, filter: &TopicFilter) -> Vec<T> {
        self.take_where(filter, false, &mut |_| true)
    }

    /// The values of exactly `filter` (no wildcard matching), empty if it is absent.
    pub fn values(&self, filter: &TopicFilter) -> &[T] {
        self.slot(filter)
            .and_then(|slot| slot.iter().find(|entry| entry.filter == *filter))
            .map_or(&[], |entry| entry.values.as_slice())
    }

    /// Whether `filter` holds at least one value.
    pub fn contains_filter(&self, filter: &TopicFilter) -> bool {
        !self.values(filter).is_empty()
    }

    /// The number of values, counted over all filters.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The number of distinct filters holding values.
    pub fn filter_count(&self) -> usize {
        self.filter_count
    }

    /// Whether the trie holds no values.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Removes every filter and value.
    pub fn clear(&mut self) {
        dismantle(std::mem::take(&mut self.root));
        self.len = 0;
        self.filter_count = 0;
    }

    /// Every filter with its values, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&TopicFilter, &[T])> {
        let mut nodes = vec![&self.root];
        let mut entries = slice::Iter::<Entry<T>>::default().chain(slice::Iter::default());
        std::iter::from_fn(move || {
            loop {
                if let Some(entry) = entries.next() {
                    return Some((&entry.filter, entry.values.as_slice()));
                }
                let node = nodes.pop()?;
                nodes.extend(node.literal.values());
                nodes.extend(node.plus.as_deref());
                entries = node.exact.iter().chain(node.multi.iter());
            }
        })
    }

    /// Every (filter, value) pair whose filter matches `topic`, in no particular order.
    ///
    /// `topic` should be a valid topic name; an empty one matches nothing. A filter starting
    /// with a wildcard does not match a topic starting with `$` [MQTT-4.7.2-1]. The iterator
    /// allocates only where the walk forks, at a level with both a literal and a `+` child.
    pub fn matches<'a, 't>(&'a self, topic: &'t str) -> Matches<'a, 't, T> {
        let next = if topic.is_empty() {
            None
        } else if topic.starts_with('$') {
            // [MQTT-4.7.2-1] skip the root's `#` and `+`: only a literal first level can match
            let (level, rest) = split_level(topic);
            self.root.literal.get(level).map(|child| (child, rest))
        } else {
            Some((&self.root, Some(topic)))
        };
        Matches {
            next,
            forks: Vec::new(),
            multi: slice::Iter::default(),
            exact: slice::Iter::default(),
            current: None,
        }
    }

    /// Calls `f` with every (filter, value) pair whose filter matches `topic`, as
    /// [`SubscriptionTrie::matches`] yields them.
    pub fn for_each_match<'a>(&'a self, topic: &str, mut f: impl FnMut(&'a TopicFilter, &'a T)) {
        for (filter, value) in self.matches(topic) {
            f(filter, value);
        }
    }

    /// The values of every filter matching `topic`, as [`SubscriptionTrie::matches`] yields them.
    pub fn matching(&self, topic: &str) -> Vec<&T> {
        self.matches(topic).map(|(_, value)| value).collect()
    }
}

impl<T> Default for SubscriptionTrie<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Clone> Clone for SubscriptionTrie<T> {
    fn clone(&self) -> Self {
        let mut copy = Self::new();
        for (filter, values) in self.iter() {
            for value in values {
                copy.insert(filter, value.clone());
            }
        }
        copy
    }
}

impl<T: fmt::Debug> fmt::Debug for SubscriptionTrie<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(
                self.iter()
                    .map(|(filter, values)| (filter.as_str(), values)),
            )
            .finish()
    }
}

impl<T> Drop for SubscriptionTrie<T> {
    fn drop(&mut self) {
        dismantle(std::mem::take(&mut self.root));
    }
}

/// The iterator of [`SubscriptionTrie::matches`]: (filter, value) pairs whose filter matches.
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct Matches<'a, 't, T> {
    /// The next node to visit with the topic levels left below it (`None`: no level left).
    next: Option<Visit<'a, 't, T>>,
    /// Nodes still to visit where the walk forked.
    forks: Vec<Visit<'a, 't, T>>,
    /// Entries of the visited node still to yield.
    multi: slice::Iter<'a, Entry<T>>,
    exact: slice::Iter<'a, Entry<T>>,
    /// The entry being yielded, with its values left.
    current: Option<(&'a TopicFilter, slice::Iter<'a, T>)>,
}

impl<'a, T> Iterator for Matches<'a, '_, T> {
    type Item = (&'a TopicFilter, &'a T);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some((filter, values)) = &mut self.current
                && let Some(value) = values.next()
            {
                return Some((*filter, value));
            }
            if let Some(entry) = self.multi.next().or_else(|| self.exact.next()) {
                self.current = Some((&entry.filter, entry.values.iter()));
                continue;
            }
            let (node, rest) = self.next.take().or_else(|| self.forks.pop())?;
            self.visit(node, rest);
        }
    }
}

impl<'a, 't, T> Matches<'a, 't, T> {
    /// Queues the entries of `node` that match and picks the children to visit next.
    fn visit(&mut self, node: &'a Node<T>, rest: Option<&'t str>) {
        // [MQTT-4.7.1-1] `#` here matches whatever levels are left, none included.
        self.multi = node.multi.iter();
        let Some(rest) = rest else {
            self.exact = node.exact.iter();
            return;
        };
        let (level, below) = split_level(rest);
        let literal = node.literal.get(level);
        // [MQTT-4.7.1-2] `+` takes this one level, whatever it holds.
        let plus = node.plus.as_deref();
        self.next = match (literal, plus) {
            (Some(literal), Some(plus)) => {
                self.forks.push((plus, below));
                Some((literal, below))
            }
            (Some(child), None) | (None, Some(child)) => Some((child, below)),
            (None, None) => None,
        };
    }
}

/// A node to visit during matching, with the topic levels left below it.
type Visit<'a, 't, T> = (&'a Node<T>, Option<&'t str>);

/// One level of the trie.
pub(super) struct Node<T> {
    /// Children for literal levels.
    pub(super) literal: HashMap<Box<str>, Node<T>>,
    /// The child for a `+` level.
    pub(super) plus: Option<Box<Node<T>>>,
    /// Filters ending here with `/#` (at the root: the filter `#`).
    multi: Vec<Entry<T>>,
    /// Filters ending at this level.
    exact: Vec<Entry<T>>,
}

impl<T> Default for Node<T> {
    fn default() -> Self {
        Self {
            literal: HashMap::new(),
            plus: None,
            multi: Vec::new(),
            exact: Vec::new(),
        }
    }
}

impl<T> Node<T> {
    fn has_entries(&self) -> bool {
        !self.exact.is_empty() || !self.multi.is_empty()
    }

    fn child_count(&self) -> usize {
        self.literal.len() + usize::from(self.plus.is_some())
    }

    fn child(&self, level: &str) -> Option<&Node<T>> {
        if level == "+" {
            self.plus.as_deref()
        } else {
            self.literal.get(level)
        }
    }

    fn child_mut(&mut self, level: &str) -> Option<&mut Node<T>> {
        if level == "+" {
            self.plus.as_deref_mut()
        } else {
            self.literal.get_mut(level)
        }
    }

    fn detach(&mut self, level: &str) -> Option<Node<T>> {
        if level == "+" {
            self.plus.take().map(|child| *child)
        } else {
            self.literal.remove(level)
        }
    }
}

/// One filter and its values, kept where the filter ends in the trie.
struct Entry<T> {
    /// The whole filter, share prefix included; several can end at one node.
    filter: TopicFilter,
    /// Never empty: an entry whose last value goes is removed.
    values: Vec<T>,
}

impl<T> SubscriptionTrie<T> {
    /// The entry list where `filter` ends, if its path exists.
    fn slot(&self, filter: &TopicFilter) -> Option<&Vec<Entry<T>>> {
        let mut node = &self.root;
        for level in filter.levels() {
            if level == "#" {
                return Some(&node.multi);
            }
            node = node.child(level)?;
        }
        Some(&node.exact)
    }

    /// Removes values of `filter` for which `pred` holds (only the first if `first_only`),
    /// then drops the entry and prunes the path if they are left empty.
    fn take_where(
        &mut self,
        filter: &TopicFilter,
        first_only: bool,
        pred: &mut dyn FnMut(&T) -> bool,
    ) -> Vec<T> {
        let mut node = &mut self.root;
        let mut levels = filter.levels();
        let slot = loop {
            match levels.next() {
                None => break &mut node.exact,
                Some("#") => break &mut node.multi,
                Some(level) => match node.child_mut(level) {
                    Some(child) => node = child,
                    None => return Vec::new(),
                },
            }
        };
        let Some(index) = slot.iter().position(|entry| entry.filter == *filter) else {
            return Vec::new();
        };
        let values = &mut slot[index].values;
        let mut done = false;
        let removed: Vec<T> = values
            .extract_if(.., |value| {
                let hit = !done && pred(value);
                done = hit && first_only;
                hit
            })
            .collect();
        self.len -= removed.len();
        if values.is_empty() {
            slot.remove(index);
            self.filter_count -= 1;
            if !node.has_entries() && node.child_count() == 0 {
                self.prune(filter);
            }
        }
        removed
    }

    /// Cuts off the path of `filter`, whose last node has just become empty, below the deepest
    /// node on it that still holds entries or another child.
    fn prune(&mut self, filter: &TopicFilter) {
        let edges = || filter.levels().take_while(|level| *level != "#");
        let mut keep_depth = 0;
        let mut node = &self.root;
        for (depth, level) in edges().enumerate() {
            if node.has_entries() || node.child_count() > 1 {
                keep_depth = depth;
            }
            match node.child(level) {
                Some(child) => node = child,
                None => return,
            }
        }
        let mut node = &mut self.root;
        let mut levels = edges();
        for level in levels.by_ref().take(keep_depth) {
            match node.child_mut(level) {
                Some(child) => node = child,
                None => return,
            }
        }
        if let Some(level) = levels.next()
            && let Some(cut) = node.detach(level)
        {
            dismantle(cut);
        }
    }
}

/// Drops a subtree one node at a time, so a deep trie cannot overflow the stack.
fn dismantle<T>(node: Node<T>) {
    let mut stack = vec![node];
    while let Some(mut node) = stack.pop() {
        stack.extend(node.literal.drain().map(|(_, child)| child));
        stack.extend(node.plus.take().map(|child| *child));
    }
}

/// Splits off the first level of `levels`; the rest is `None` when there is no further level.
fn split_level(levels: &str) -> (&str, Option<&str>) {
    match levels.split_once('/') {
        Some((level, rest)) => (level, Some(rest)),
        None => (levels, None),
    }
}
