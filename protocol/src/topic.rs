//! MQTT topic names, topic filters and the matching of one against the other.
//!
//! [`TopicName`] is the validated topic of a PUBLISH and [`TopicFilter`] the validated filter of a
//! SUBSCRIBE or UNSUBSCRIBE, MQTT 5 shared subscriptions (`$share/{ShareName}/{filter}`) included.
//! Neither type can hold a string that breaks the rules of MQTT 3.1.1 and 5.0 section 4.7, so
//! the codec checks once, when it builds one, and nothing downstream checks again.
//!
//! [`matches()`] applies one filter to one topic name. [`SubscriptionTrie`] holds many filters,
//! each with one or more values (handlers, subscriber ids), and finds all the filters matching a
//! topic name in time that grows with the topic's depth and the number of matches, not with the
//! number of filters.
//!
//! ```
//! use mqttwire::topic::{SubscriptionTrie, TopicFilter, TopicName};
//!
//! let filter = TopicFilter::new("sensors/+/temp")?;
//! let topic = TopicName::new("sensors/kitchen/temp")?;
//! assert!(filter.matches(&topic));
//!
//! let mut trie = SubscriptionTrie::new();
//! trie.insert(&filter, "thermometer");
//! trie.insert(&TopicFilter::new("#")?, "logger");
//! let mut found = trie.matching(&topic);
//! found.sort();
//! assert_eq!(found, [&"logger", &"thermometer"]);
//! # Ok::<(), mqttwire::topic::TopicError>(())
//! ```

use std::borrow::Borrow;
use std::collections::HashMap;
use std::fmt;
use std::ops::Deref;
use std::slice;

use bytestring::ByteString;

/// The largest topic name or filter in bytes: the length prefix of an MQTT UTF-8 string is
/// 16 bits [MQTT-4.7.3-3].
pub const MAX_TOPIC_LEN: usize = 65_535;

/// Why a string is not a valid topic name or topic filter.
///
/// From a peer's packet it means a malformed packet, or in MQTT 5 the reason code 0x90 Topic
/// Name invalid (PUBLISH) or 0x8F Topic Filter invalid (SUBSCRIBE). From a caller it is misuse:
/// fix the string; nothing was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TopicError {
    /// The string is empty; a topic name or filter is at least one character long.
    Empty,
    /// The string is longer than [`MAX_TOPIC_LEN`] bytes.
    TooLong {
        /// The length of the rejected string in bytes.
        len: usize,
    },
    /// The string contains the null character U+0000.
    NullCharacter,
    /// A topic name contains `+` or `#`, which only a topic filter may hold.
    WildcardInName,
    /// A filter has `#` somewhere other than alone in its last level, as in `a/#/b` or `a#`.
    MultiLevelWildcardNotLast,
    /// A filter has `+` that does not fill a whole level, as in `a+/b`.
    SingleLevelWildcardNotAlone,
    /// A `$share/` filter whose share name is empty or holds `+` or `#`, or that has no filter
    /// after the share name.
    InvalidSharedSubscription,
}

error_table!(TopicError {
    TopicError::Empty => "topic is empty [MQTT-4.7.3-1]";
    TopicError::TooLong { len } => "topic is over the limit of 65,535 bytes [MQTT-4.7.3-3]", ": {} bytes", len;
    TopicError::NullCharacter => "topic contains the null character U+0000 [MQTT-4.7.3-2]";
    TopicError::WildcardInName => "topic name contains a wildcard character `+` or `#` [MQTT-3.3.2-2] [MQTT-4.7.0-1]";
    TopicError::MultiLevelWildcardNotLast => "`#` must stand alone in the last level of a topic filter [MQTT-4.7.1-1]";
    TopicError::SingleLevelWildcardNotAlone => "`+` must occupy a whole level of a topic filter [MQTT-4.7.1-2]";
    TopicError::InvalidSharedSubscription => "shared subscription needs `$share/{name}/{filter}` with a non-empty name free of `/`, `+` and `#` [MQTT-4.8.2-1] [MQTT-4.8.2-2]";
});

impl std::error::Error for TopicError {}

/// A validated topic name, the topic of a PUBLISH packet.
///
/// It is non-empty, at most [`MAX_TOPIC_LEN`] bytes, free of U+0000 and of the wildcards `+` and
/// `#`. Names starting with `$` (such as `$SYS/...`) are legal here; a broker may refuse them.
/// The one exception to "non-empty" is [`TopicName::from_alias_placeholder`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicName(ByteString);

impl TopicName {
    /// Validates `name` as a topic name.
    pub fn new(name: impl Into<ByteString>) -> Result<Self, TopicError> {
        let name = name.into();
        check_common(&name)?;
        // [MQTT-3.3.2-2] [MQTT-4.7.0-1] wildcards must not appear in a topic name
        if name.bytes().any(|b| b == b'+' || b == b'#') {
            return Err(TopicError::WildcardInName);
        }
        Ok(Self(name))
    }

    /// The empty topic name of an MQTT 5 PUBLISH that carries a Topic Alias instead of a name;
    /// the only way to get an empty `TopicName`.
    pub fn from_alias_placeholder() -> Self {
        Self(ByteString::new())
    }

    /// Whether this is the empty placeholder of [`TopicName::from_alias_placeholder`].
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The levels of the name, split at `/`; empty levels included, so `a//b` has three.
    pub fn levels(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }

    /// The underlying string, sharing its buffer.
    pub fn into_inner(self) -> ByteString {
        self.0
    }
}

impl Deref for TopicName {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for TopicName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for TopicName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for TopicName {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for TopicName {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl TryFrom<&str> for TopicName {
    type Error = TopicError;

    fn try_from(name: &str) -> Result<Self, TopicError> {
        Self::new(name)
    }
}

impl TryFrom<String> for TopicName {
    type Error = TopicError;

    fn try_from(name: String) -> Result<Self, TopicError> {
        Self::new(name)
    }
}

impl TryFrom<ByteString> for TopicName {
    type Error = TopicError;

    fn try_from(name: ByteString) -> Result<Self, TopicError> {
        Self::new(name)
    }
}

impl From<TopicName> for ByteString {
    fn from(name: TopicName) -> Self {
        name.0
    }
}

/// A validated topic filter, as sent in SUBSCRIBE and UNSUBSCRIBE.
///
/// It is non-empty, at most [`MAX_TOPIC_LEN`] bytes and free of U+0000; `+` fills a whole level
/// and `#` stands alone in the last one. A filter starting with `$share/` is an MQTT 5 shared
/// subscription, `$share/{ShareName}/{filter}`: the share name is non-empty and free of `/`, `+`
/// and `#`, and the filter after it obeys the same rules as any filter and is what matching
/// uses. (MQTT 3.1.1 gives `$share/` no meaning, but this type always reads it as a share.)
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicFilter(ByteString);

impl TopicFilter {
    /// Validates `filter` as a topic filter, a shared one if it starts with `$share/`.
    pub fn new(filter: impl Into<ByteString>) -> Result<Self, TopicError> {
        let filter = filter.into();
        check_common(&filter)?;
        let inner = match filter.strip_prefix(SHARE_PREFIX) {
            Some(rest) => {
                // [MQTT-4.8.2-1] a share name of at least one character, then `/` and a filter
                let Some((share, inner)) = rest.split_once('/') else {
                    return Err(TopicError::InvalidSharedSubscription);
                };
                // [MQTT-4.8.2-2] the share name holds no `/` (split above), `+` or `#`
                if share.is_empty() || share.contains(['+', '#']) || inner.is_empty() {
                    return Err(TopicError::InvalidSharedSubscription);
                }
                inner
            }
            None => &filter,
        };
        check_wildcards(inner)?;
        Ok(Self(filter))
    }

    /// The whole filter as a string slice, `$share/{ShareName}/` prefix included.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The underlying string, sharing its buffer.
    pub fn into_inner(self) -> ByteString {
        self.0
    }

    /// Whether this is a shared subscription (`$share/{ShareName}/{filter}`).
    pub fn is_shared(&self) -> bool {
        self.share_name().is_some()
    }

    /// The share name of a shared subscription, `None` for an ordinary filter.
    pub fn share_name(&self) -> Option<&str> {
        split_share(&self.0).0
    }

    /// The filter used for matching: the part after `$share/{ShareName}/` for a shared
    /// subscription, the whole filter otherwise.
    pub fn filter_without_share(&self) -> &str {
        split_share(&self.0).1
    }

    /// The levels of [`TopicFilter::filter_without_share`], split at `/`; empty levels included.
    pub fn levels(&self) -> impl Iterator<Item = &str> {
        self.filter_without_share().split('/')
    }

    /// Whether the filter (without any share prefix) holds `+` or `#`.
    pub fn has_wildcards(&self) -> bool {
        self.filter_without_share()
            .bytes()
            .any(|b| b == b'+' || b == b'#')
    }

    /// Whether this filter matches `topic`; a shared subscription matches by its inner filter.
    pub fn matches(&self, topic: &TopicName) -> bool {
        matches(self.filter_without_share(), topic)
    }
}

impl Deref for TopicFilter {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for TopicFilter {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for TopicFilter {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TopicFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for TopicFilter {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for TopicFilter {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl TryFrom<&str> for TopicFilter {
    type Error = TopicError;

    fn try_from(filter: &str) -> Result<Self, TopicError> {
        Self::new(filter)
    }
}

impl TryFrom<String> for TopicFilter {
    type Error = TopicError;

    fn try_from(filter: String) -> Result<Self, TopicError> {
        Self::new(filter)
    }
}

impl TryFrom<ByteString> for TopicFilter {
    type Error = TopicError;

    fn try_from(filter: ByteString) -> Result<Self, TopicError> {
        Self::new(filter)
    }
}

impl From<TopicFilter> for ByteString {
    fn from(filter: TopicFilter) -> Self {
        filter.0
    }
}

/// Whether `filter` matches `topic`; both are taken as already valid.
///
/// `+` matches exactly one level and `#` the parent level and any number of levels below it, so
/// `a/#` matches `a`, `a/b` and `a/b/c`. Empty levels are levels: `a/+` matches `a/` and `+/+`
/// matches `/x`. A filter whose first level is a wildcard does not match a topic starting with
/// `$` [MQTT-4.7.2-1]. An empty filter or topic matches nothing. `$share/` is not interpreted
/// here: for a shared subscription pass [`TopicFilter::filter_without_share`], or use
/// [`TopicFilter::matches`].
pub fn matches(filter: &str, topic: &str) -> bool {
    if filter.is_empty() || topic.is_empty() {
        return false;
    }
    // [MQTT-4.7.2-1] a filter starting with a wildcard does not match a topic starting with `$`
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut filter_levels = filter.split('/');
    let mut topic_levels = topic.split('/');
    loop {
        match (filter_levels.next(), topic_levels.next()) {
            // [MQTT-4.7.1-1] `#` matches the parent level and every level below
            (Some("#"), _) => return true,
            // [MQTT-4.7.1-2] `+` matches exactly one level, empty or not
            (Some("+"), Some(_)) => {}
            (Some(f), Some(t)) if f == t => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

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
    root: Node<T>,
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

/// The prefix of a shared subscription's filter.
const SHARE_PREFIX: &str = "$share/";

/// A node to visit during matching, with the topic levels left below it.
type Visit<'a, 't, T> = (&'a Node<T>, Option<&'t str>);

/// One level of the trie.
struct Node<T> {
    /// Children for literal levels.
    literal: HashMap<Box<str>, Node<T>>,
    /// The child for a `+` level.
    plus: Option<Box<Node<T>>>,
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

/// Checks shared by names and filters: length and characters.
fn check_common(topic: &str) -> Result<(), TopicError> {
    // [MQTT-4.7.3-1] at least one character long
    if topic.is_empty() {
        return Err(TopicError::Empty);
    }
    // [MQTT-4.7.3-3] no longer than 65,535 bytes
    if topic.len() > MAX_TOPIC_LEN {
        return Err(TopicError::TooLong { len: topic.len() });
    }
    // [MQTT-4.7.3-2] no null character
    if topic.bytes().any(|b| b == 0) {
        return Err(TopicError::NullCharacter);
    }
    Ok(())
}

/// Checks where `+` and `#` stand in a filter (without share prefix).
fn check_wildcards(filter: &str) -> Result<(), TopicError> {
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        if level.contains('#') {
            // [MQTT-4.7.1-1] `#` alone in its level, and that level the last
            if level != "#" || levels.peek().is_some() {
                return Err(TopicError::MultiLevelWildcardNotLast);
            }
        } else if level.contains('+') && level != "+" {
            // [MQTT-4.7.1-2] `+` fills a whole level
            return Err(TopicError::SingleLevelWildcardNotAlone);
        }
    }
    Ok(())
}

/// Splits a validated filter into its share name (if shared) and the filter used for matching.
fn split_share(filter: &str) -> (Option<&str>, &str) {
    if let Some(rest) = filter.strip_prefix(SHARE_PREFIX)
        && let Some((share, inner)) = rest.split_once('/')
    {
        (Some(share), inner)
    } else {
        (None, filter)
    }
}

/// Splits off the first level of `levels`; the rest is `None` when there is no further level.
fn split_level(levels: &str) -> (&str, Option<&str>) {
    match levels.split_once('/') {
        Some((level, rest)) => (level, Some(rest)),
        None => (levels, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    fn name(s: &str) -> TopicName {
        TopicName::new(s).expect("valid topic name")
    }

    fn filter(s: &str) -> TopicFilter {
        TopicFilter::new(s).expect("valid topic filter")
    }

    fn trie_of(filters: &[&str]) -> SubscriptionTrie<usize> {
        let mut trie = SubscriptionTrie::new();
        for (i, f) in filters.iter().enumerate() {
            trie.insert(&filter(f), i);
        }
        trie
    }

    /// The filters of `trie` matching `topic`, sorted.
    fn matched(trie: &SubscriptionTrie<usize>, topic: &str) -> Vec<String> {
        let mut found: Vec<String> = trie.matches(topic).map(|(f, _)| f.to_string()).collect();
        found.sort();
        found
    }

    fn node_count<T>(trie: &SubscriptionTrie<T>) -> usize {
        let mut count = 0;
        let mut stack = vec![&trie.root];
        while let Some(node) = stack.pop() {
            count += 1;
            stack.extend(node.literal.values());
            stack.extend(node.plus.as_deref());
        }
        count
    }

    /// (filter, topic, matches) covering every matching rule.
    const MATCH_CASES: &[(&str, &str, bool)] = &[
        // literal levels
        ("a/b", "a/b", true),
        ("a/b", "a/bc", false),
        ("a/b", "a", false),
        ("a", "a/b", false),
        ("A/b", "a/b", false),
        ("a/b", "a/b/", false),
        // `+` takes exactly one level
        ("a/+", "a/b", true),
        ("a/+", "a", false),
        ("a/+", "a/b/c", false),
        ("a/+/c", "a/b/c", true),
        ("+", "a", true),
        ("+", "a/b", false),
        ("+/+", "a/b", true),
        // `#` takes the parent and any levels below
        ("a/#", "a", true),
        ("a/#", "a/b", true),
        ("a/#", "a/b/c", true),
        ("a/#", "ab", false),
        ("a/#", "b/a", false),
        ("a/+/#", "a", false),
        ("a/+/#", "a/b", true),
        ("#", "a", true),
        ("#", "a/b/c", true),
        ("#", "/", true),
        // empty levels are levels
        ("a/+/b", "a//b", true),
        ("+/+", "/x", true),
        ("+/x", "/x", true),
        ("a/+", "a/", true),
        ("+", "/", false),
        ("/#", "/", true),
        ("/#", "/x", true),
        ("/", "/", true),
        ("+/#", "/", true),
        ("a//b", "a/b", false),
        // [MQTT-4.7.2-1] wildcard-first filters miss `$` topics
        ("#", "$SYS/x", false),
        ("+/x", "$SYS/x", false),
        ("+", "$x", false),
        ("+/#", "$SYS", false),
        ("$SYS/#", "$SYS/x", true),
        ("$SYS/#", "$SYS", true),
        ("$SYS/+", "$SYS/x", true),
        ("$x", "$x", true),
        ("a/+", "a/$x", true),
        ("a/#", "a/$x/y", true),
    ];

    #[test]
    fn rejects_empty_topic_name_and_filter() {
        // [MQTT-4.7.3-1]
        assert_eq!(TopicName::new(""), Err(TopicError::Empty));
        assert_eq!(TopicFilter::new(""), Err(TopicError::Empty));
    }

    #[test]
    fn rejects_topics_over_65535_bytes() {
        // [MQTT-4.7.3-3]
        let long = "a".repeat(MAX_TOPIC_LEN + 1);
        let err = TopicError::TooLong {
            len: MAX_TOPIC_LEN + 1,
        };
        assert_eq!(TopicName::new(long.as_str()), Err(err.clone()));
        assert_eq!(TopicFilter::new(long), Err(err));
    }

    #[test]
    fn accepts_topics_of_exactly_65535_bytes() {
        let longest = "a".repeat(MAX_TOPIC_LEN);
        assert!(TopicName::new(longest.as_str()).is_ok());
        assert!(TopicFilter::new(longest).is_ok());
        // the limit counts bytes, not characters: 3 bytes each
        assert!(TopicName::new("€".repeat(21_845)).is_ok());
        assert!(matches!(
            TopicName::new("€".repeat(21_846)),
            Err(TopicError::TooLong { len: 65_538 })
        ));
    }

    #[test]
    fn rejects_null_character() {
        // [MQTT-4.7.3-2]
        assert_eq!(TopicName::new("a/\0"), Err(TopicError::NullCharacter));
        assert_eq!(TopicFilter::new("a\0/#"), Err(TopicError::NullCharacter));
        assert_eq!(
            TopicFilter::new("$share/g\0/a"),
            Err(TopicError::NullCharacter)
        );
    }

    #[test]
    fn rejects_wildcards_in_topic_name() {
        // [MQTT-3.3.2-2] [MQTT-4.7.0-1]
        for bad in ["#", "+", "a/#", "a/+/b", "a+", "sport#"] {
            assert_eq!(
                TopicName::new(bad),
                Err(TopicError::WildcardInName),
                "{bad}"
            );
        }
    }

    #[test]
    fn accepts_topic_names_with_dollar_empty_levels_and_unicode() {
        for good in [
            "$SYS/broker/load",
            "$share/g/a",
            "/",
            "//",
            "/a",
            "a/",
            "a//b",
            " ",
            "a b/ç/日本",
        ] {
            assert_eq!(name(good).as_str(), good);
        }
    }

    #[test]
    fn rejects_multi_level_wildcard_not_last() {
        // [MQTT-4.7.1-1]
        for bad in ["#/a", "a/#/b", "a#", "a/b#", "#a", "##", "a/#/", "+/#/#"] {
            assert_eq!(
                TopicFilter::new(bad),
                Err(TopicError::MultiLevelWildcardNotLast),
                "{bad}"
            );
        }
    }

    #[test]
    fn rejects_single_level_wildcard_not_alone() {
        // [MQTT-4.7.1-2]
        for bad in ["a+", "+a", "a/b+/c", "++", "a/++", "+ "] {
            assert_eq!(
                TopicFilter::new(bad),
                Err(TopicError::SingleLevelWildcardNotAlone),
                "{bad}"
            );
        }
    }

    #[test]
    fn accepts_wildcards_in_their_places() {
        for good in [
            "#", "a/#", "/#", "+/#", "+", "+/+", "a/+/b", "/+", "+/", "/", "$SYS/#",
        ] {
            let f = filter(good);
            assert!(f.has_wildcards() || good == "/", "{good}");
            assert!(!f.is_shared());
            assert_eq!(f.filter_without_share(), good);
        }
        assert!(!filter("a/b").has_wildcards());
    }

    #[test]
    fn accepts_shared_subscriptions() {
        let f = filter("$share/group-1/sensors/+/temp");
        assert!(f.is_shared());
        assert_eq!(f.share_name(), Some("group-1"));
        assert_eq!(f.filter_without_share(), "sensors/+/temp");
        assert_eq!(f.as_str(), "$share/group-1/sensors/+/temp");
        assert!(f.has_wildcards());
        assert!(f.matches(&name("sensors/kitchen/temp")));
        assert!(!f.matches(&name("$share/group-1/sensors/kitchen/temp")));

        let all = filter("$share/g/#");
        assert!(all.matches(&name("a/b")));
        // [MQTT-4.7.2-1] applies to the inner filter
        assert!(!all.matches(&name("$SYS/x")));
        assert!(filter("$share/g/$SYS/#").matches(&name("$SYS/x")));
        assert!(!filter("$share/g/a/b").has_wildcards());
        assert_eq!(filter("$share/g//").filter_without_share(), "/");
    }

    #[test]
    fn rejects_shared_subscription_with_empty_share_name() {
        // [MQTT-4.8.2-1]
        for bad in ["$share/", "$share//a", "$share//#"] {
            assert_eq!(
                TopicFilter::new(bad),
                Err(TopicError::InvalidSharedSubscription),
                "{bad}"
            );
        }
    }

    #[test]
    fn rejects_shared_subscription_with_wildcard_in_share_name() {
        // [MQTT-4.8.2-2]
        for bad in ["$share/+/a", "$share/g#/a", "$share/#/a", "$share/a+b/c"] {
            assert_eq!(
                TopicFilter::new(bad),
                Err(TopicError::InvalidSharedSubscription),
                "{bad}"
            );
        }
    }

    #[test]
    fn rejects_shared_subscription_without_filter() {
        for bad in ["$share/g", "$share/g/"] {
            assert_eq!(
                TopicFilter::new(bad),
                Err(TopicError::InvalidSharedSubscription),
                "{bad}"
            );
        }
    }

    #[test]
    fn rejects_shared_subscription_with_invalid_inner_filter() {
        assert_eq!(
            TopicFilter::new("$share/g/a#"),
            Err(TopicError::MultiLevelWildcardNotLast)
        );
        assert_eq!(
            TopicFilter::new("$share/g/a/+b"),
            Err(TopicError::SingleLevelWildcardNotAlone)
        );
    }

    #[test]
    fn accepts_share_lookalikes_as_plain_filters() {
        for plain in ["$share", "$shared/a", "$SHARE/g/a", "a/$share/g/b"] {
            let f = filter(plain);
            assert!(!f.is_shared(), "{plain}");
            assert_eq!(f.share_name(), None);
            assert_eq!(f.filter_without_share(), plain);
        }
    }

    #[test]
    fn accepts_alias_placeholder_as_the_only_empty_name() {
        let placeholder = TopicName::from_alias_placeholder();
        assert!(placeholder.is_empty());
        assert_eq!(placeholder.as_str(), "");
        assert!(!name("a").is_empty());
        // an empty topic is not a topic: nothing matches it
        assert!(!filter("#").matches(&placeholder));
        assert!(!filter("+").matches(&placeholder));
        assert!(trie_of(&["#", "+"]).matching("").is_empty());
    }

    #[test]
    fn can_convert_names_and_filters() {
        let n = TopicName::try_from("a/b").expect("valid");
        assert_eq!(n, TopicName::try_from(String::from("a/b")).expect("valid"));
        assert_eq!(
            n,
            TopicName::try_from(ByteString::from_static("a/b")).expect("valid")
        );
        assert_eq!(n, "a/b");
        assert_eq!(&*n, "a/b");
        assert_eq!(n.as_ref() as &str, "a/b");
        assert_eq!(n.to_string(), "a/b");
        assert_eq!(n.levels().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(n.clone().into_inner(), "a/b");
        assert_eq!(ByteString::from(n.clone()), "a/b");
        assert_eq!(TopicName::try_from("a/#"), Err(TopicError::WildcardInName));

        let f = TopicFilter::try_from("$share/g/a//#").expect("valid");
        assert_eq!(
            f,
            TopicFilter::try_from(String::from("$share/g/a//#")).expect("valid")
        );
        assert_eq!(f, "$share/g/a//#");
        assert_eq!(f.to_string(), "$share/g/a//#");
        assert_eq!(f.levels().collect::<Vec<_>>(), ["a", "", "#"]);
        assert_eq!(f.clone().into_inner(), "$share/g/a//#");
        assert_eq!(ByteString::from(f), "$share/g/a//#");

        // Borrow<str> agrees with Hash and Eq
        let set: HashSet<TopicName> = [name("x/y")].into();
        assert!(set.contains("x/y"));
        assert!(name("a") < name("b"));
    }

    #[test]
    fn error_messages_name_the_rule() {
        let errors = [
            TopicError::Empty,
            TopicError::TooLong { len: 70_000 },
            TopicError::NullCharacter,
            TopicError::WildcardInName,
            TopicError::MultiLevelWildcardNotLast,
            TopicError::SingleLevelWildcardNotAlone,
            TopicError::InvalidSharedSubscription,
        ];
        for error in errors {
            assert!(error.to_string().contains("[MQTT-"), "{error}");
        }
        assert!(
            TopicError::TooLong { len: 70_000 }
                .to_string()
                .contains("70000")
        );
    }

    #[test]
    fn matches_every_rule() {
        for &(f, t, expected) in MATCH_CASES {
            assert_eq!(matches(f, t), expected, "matches({f:?}, {t:?})");
            assert_eq!(filter(f).matches(&name(t)), expected, "{f:?} on {t:?}");
        }
    }

    #[test]
    fn matches_every_rule_in_trie() {
        for &(f, t, expected) in MATCH_CASES {
            let trie = trie_of(&[f]);
            let want: Vec<String> = if expected { vec![f.into()] } else { vec![] };
            assert_eq!(matched(&trie, t), want, "{f:?} on {t:?}");
        }
        // all at once
        let filters: Vec<&str> = MATCH_CASES.iter().map(|c| c.0).collect();
        let unique: HashSet<&str> = filters.iter().copied().collect();
        let trie = trie_of(&filters);
        for &(_, t, _) in MATCH_CASES {
            let mut want: Vec<String> = unique
                .iter()
                .filter(|f| matches(f, t))
                .map(|f| f.to_string())
                .collect();
            want.sort();
            let mut got = matched(&trie, t);
            got.dedup();
            assert_eq!(got, want, "topic {t:?}");
        }
    }

    #[test]
    fn matches_nothing_with_empty_filter_or_topic() {
        assert!(!matches("", "a"));
        assert!(!matches("#", ""));
        assert!(!matches("+", ""));
    }

    #[test]
    fn matches_dollar_topics_in_trie_only_by_literal_first_level() {
        // [MQTT-4.7.2-1]
        let trie = trie_of(&["#", "+", "+/x", "+/#", "$SYS/#", "$SYS/+", "$share/g/#"]);
        assert_eq!(matched(&trie, "$SYS/x"), ["$SYS/#", "$SYS/+"]);
        assert_eq!(matched(&trie, "$SYS"), ["$SYS/#"]);
        assert_eq!(matched(&trie, "$other"), Vec::<String>::new());
        assert_eq!(matched(&trie, "a/x"), ["#", "$share/g/#", "+/#", "+/x"]);
    }

    #[test]
    fn accepts_several_values_per_filter() {
        let mut trie = SubscriptionTrie::new();
        let f = filter("a/+");
        trie.insert(&f, "one");
        trie.insert(&f, "two");
        trie.insert(&f, "one");
        assert_eq!(trie.len(), 3);
        assert_eq!(trie.filter_count(), 1);
        assert_eq!(trie.values(&f), ["one", "two", "one"]);
        assert!(trie.contains_filter(&f));
        assert_eq!(trie.matching("a/b"), [&"one", &"two", &"one"]);
        let pairs: Vec<(&str, &str)> = trie.matches("a/b").map(|(f, v)| (f.as_str(), *v)).collect();
        assert_eq!(pairs, [("a/+", "one"), ("a/+", "two"), ("a/+", "one")]);
    }

    #[test]
    fn accepts_shared_subscriptions_as_separate_filters() {
        let mut trie = SubscriptionTrie::new();
        trie.insert(&filter("a/b"), 1);
        trie.insert(&filter("$share/g1/a/b"), 2);
        trie.insert(&filter("$share/g2/a/b"), 3);
        trie.insert(&filter("$share/g2/a/+"), 4);
        assert_eq!(trie.filter_count(), 4);
        assert_eq!(trie.values(&filter("$share/g1/a/b")), [2]);
        let mut got: Vec<(String, i32)> = Vec::new();
        trie.for_each_match("a/b", |f, v| got.push((f.to_string(), *v)));
        got.sort();
        assert_eq!(
            got,
            [
                ("$share/g1/a/b".to_string(), 2),
                ("$share/g2/a/+".to_string(), 4),
                ("$share/g2/a/b".to_string(), 3),
                ("a/b".to_string(), 1),
            ]
        );
        assert_eq!(trie.remove_filter(&filter("$share/g1/a/b")), [2]);
        let mut left = trie.matching("a/b");
        left.sort();
        assert_eq!(left, [&1, &3, &4]);
        // the share prefix is not a path in the trie
        assert!(trie.matching("$share/g2/a/b").is_empty());
    }

    #[test]
    fn accepts_remove_of_one_value_and_prunes_empty_nodes() {
        let mut trie = SubscriptionTrie::new();
        let deep = filter("a/b/+/d");
        trie.insert(&filter("a"), 0);
        trie.insert(&deep, 1);
        trie.insert(&deep, 2);
        assert_eq!(node_count(&trie), 5);
        assert_eq!(trie.remove(&deep, &1), Some(1));
        assert_eq!(trie.remove(&deep, &1), None);
        assert_eq!(trie.values(&deep), [2]);
        assert_eq!(node_count(&trie), 5);
        assert_eq!(trie.remove(&deep, &2), Some(2));
        assert!(!trie.contains_filter(&deep));
        // root and `a` stay: `a` holds its own filter
        assert_eq!(node_count(&trie), 2);
        assert_eq!((trie.len(), trie.filter_count()), (1, 1));
        assert_eq!(trie.remove(&filter("a"), &0), Some(0));
        assert_eq!(node_count(&trie), 1);
        assert!(trie.is_empty());
        assert_eq!(trie.filter_count(), 0);
    }

    #[test]
    fn accepts_remove_that_keeps_nodes_used_by_others() {
        let mut trie = trie_of(&["a/b/c", "a/x", "a/b/#", "a/+/c"]);
        let before = node_count(&trie);
        assert_eq!(trie.remove_filter(&filter("a/b/#")), [2]);
        // `a/b` is still on the path of `a/b/c`
        assert_eq!(node_count(&trie), before);
        assert_eq!(trie.remove_filter(&filter("a/b/c")), [0]);
        assert_eq!(node_count(&trie), before - 2);
        assert_eq!(matched(&trie, "a/b/c"), ["a/+/c"]);
        assert_eq!(matched(&trie, "a/x"), ["a/x"]);
        assert_eq!(trie.remove_filter(&filter("a/+/c")), [3]);
        assert_eq!(trie.remove_filter(&filter("a/x")), [1]);
        assert_eq!(node_count(&trie), 1);
        assert!(trie.is_empty());
    }

    #[test]
    fn accepts_remove_if_with_predicate() {
        let mut trie = SubscriptionTrie::new();
        let f = filter("#");
        for v in 0..6 {
            trie.insert(&f, v);
        }
        assert_eq!(trie.remove_if(&f, |v| v % 2 == 0), [0, 2, 4]);
        assert_eq!(trie.values(&f), [1, 3, 5]);
        assert_eq!(trie.len(), 3);
        assert_eq!(trie.remove_if(&f, |_| false), Vec::<i32>::new());
        assert_eq!(trie.remove_if(&f, |_| true), [1, 3, 5]);
        assert!(trie.is_empty());
        assert_eq!(node_count(&trie), 1);
    }

    #[test]
    fn accepts_remove_of_absent_filter_or_value_as_no_op() {
        let mut trie = trie_of(&["a/b", "a/+"]);
        let before = node_count(&trie);
        assert_eq!(trie.remove(&filter("a/b"), &99), None);
        assert_eq!(trie.remove_filter(&filter("a/c")), Vec::<usize>::new());
        assert_eq!(trie.remove_filter(&filter("a/b/c")), Vec::<usize>::new());
        assert_eq!(trie.remove_filter(&filter("a/#")), Vec::<usize>::new());
        assert_eq!(trie.remove_filter(&filter("+")), Vec::<usize>::new());
        assert_eq!(
            trie.remove_filter(&filter("$share/g/a/b")),
            Vec::<usize>::new()
        );
        assert_eq!(trie.remove_filter(&filter("a")), Vec::<usize>::new());
        assert_eq!(node_count(&trie), before);
        assert_eq!((trie.len(), trie.filter_count()), (2, 2));
        assert!(trie.values(&filter("a/c")).is_empty());
    }

    #[test]
    fn accepts_clear() {
        let mut trie = trie_of(&["a/b", "+/#", "#"]);
        trie.clear();
        assert!(trie.is_empty());
        assert_eq!(trie.filter_count(), 0);
        assert_eq!(node_count(&trie), 1);
        assert!(trie.matching("a/b").is_empty());
        trie.insert(&filter("a/b"), 7);
        assert_eq!(trie.matching("a/b"), [&7]);
    }

    #[test]
    fn can_iterate_clone_and_debug_print() {
        let trie = trie_of(&["a/b", "$share/g/a/b", "+/#", "#"]);
        let mut all: Vec<(String, Vec<usize>)> = trie
            .iter()
            .map(|(f, v)| (f.to_string(), v.to_vec()))
            .collect();
        all.sort();
        assert_eq!(
            all,
            [
                ("#".to_string(), vec![3]),
                ("$share/g/a/b".to_string(), vec![1]),
                ("+/#".to_string(), vec![2]),
                ("a/b".to_string(), vec![0]),
            ]
        );
        let copy = trie.clone();
        assert_eq!((copy.len(), copy.filter_count()), (4, 4));
        assert_eq!(matched(&copy, "a/b"), matched(&trie, "a/b"));
        assert_eq!(format!("{:?}", trie_of(&["a/+"])), r#"{"a/+": [0]}"#);
        assert_eq!(SubscriptionTrie::<u8>::default().iter().count(), 0);
    }

    #[test]
    fn accepts_deep_filters_without_recursion() {
        // 32,767 levels; recursion this deep would overflow the 256 KiB stack.
        let depth = 32_767;
        let plus = vec!["+"; depth].join("/");
        let literal = vec!["a"; depth].join("/");
        let empty = "/".repeat(depth - 1);
        let run = move || {
            let mut trie = SubscriptionTrie::new();
            trie.insert(&filter(&plus), 1);
            trie.insert(&filter(&literal), 2);
            trie.insert(&filter(&format!("{literal}/#")), 3);
            let mut got = trie.matching(&literal);
            got.sort();
            assert_eq!(got, [&1, &2, &3]);
            assert_eq!(trie.matching(&empty), [&1]);
            let copy = trie.clone();
            assert_eq!(trie.remove_filter(&filter(&plus)), [1]);
            assert_eq!(trie.remove_filter(&filter(&literal)), [2]);
            assert!(matches(&plus, &literal));
            drop(copy);
            drop(trie);
        };
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(run)
            .expect("spawn")
            .join()
            .expect("no stack overflow");
    }

    fn level() -> impl Strategy<Value = &'static str> {
        prop_oneof![Just("a"), Just("b"), Just("$x"), Just("")]
    }

    fn filter_level() -> impl Strategy<Value = &'static str> {
        prop_oneof![
            3 => level(),
            2 => Just("+"),
        ]
    }

    fn filter_string() -> impl Strategy<Value = String> {
        (
            prop::collection::vec(filter_level(), 1..=4),
            any::<bool>(),
            prop_oneof![Just(""), Just("$share/g/"), Just("$share/h/")],
        )
            .prop_map(|(mut levels, hash, share)| {
                if hash {
                    let last = levels.len() - 1;
                    levels[last] = "#";
                }
                let inner = levels.join("/");
                // a lone empty level is no filter; two empty levels are
                let inner = if inner.is_empty() {
                    "/".to_string()
                } else {
                    inner
                };
                format!("{share}{inner}")
            })
    }

    fn topic_string() -> impl Strategy<Value = String> {
        prop::collection::vec(level(), 1..=4).prop_map(|levels| levels.join("/"))
    }

    /// The (filter, value) pairs matching `topic`, by brute force over `subs`.
    fn brute_force(subs: &[(TopicFilter, usize)], topic: &str) -> Vec<(String, usize)> {
        let mut want: Vec<(String, usize)> = subs
            .iter()
            .filter(|(f, _)| matches(f.filter_without_share(), topic))
            .map(|(f, v)| (f.to_string(), *v))
            .collect();
        want.sort();
        want
    }

    fn trie_pairs(trie: &SubscriptionTrie<usize>, topic: &str) -> Vec<(String, usize)> {
        let mut got: Vec<(String, usize)> = trie
            .matches(topic)
            .map(|(f, v)| (f.to_string(), *v))
            .collect();
        got.sort();
        got
    }

    proptest! {
        #[test]
        fn matches_in_trie_equal_brute_force(
            filters in prop::collection::vec(filter_string(), 0..40),
            topics in prop::collection::vec(topic_string(), 1..20),
        ) {
            let subs: Vec<(TopicFilter, usize)> = filters
                .iter()
                .enumerate()
                .map(|(i, f)| (filter(f), i % 7))
                .collect();
            let mut trie = SubscriptionTrie::new();
            for (f, v) in &subs {
                trie.insert(f, *v);
            }
            prop_assert_eq!(trie.len(), subs.len());
            for topic in &topics {
                prop_assert_eq!(trie_pairs(&trie, topic), brute_force(&subs, topic), "topic {:?}", topic);
                let mut values: Vec<usize> = trie.matching(topic).into_iter().copied().collect();
                values.sort();
                let want: Vec<usize> = brute_force(&subs, topic).into_iter().map(|p| p.1).collect();
                let mut want = want;
                want.sort();
                prop_assert_eq!(values, want);
            }
        }

        #[test]
        fn removal_leaves_same_trie_as_fresh_build(
            filters in prop::collection::vec(filter_string(), 0..40),
            removals in prop::collection::vec(any::<bool>(), 40),
            topics in prop::collection::vec(topic_string(), 1..10),
        ) {
            let subs: Vec<(TopicFilter, usize)> =
                filters.iter().enumerate().map(|(i, f)| (filter(f), i)).collect();
            let mut trie = SubscriptionTrie::new();
            for (f, v) in &subs {
                trie.insert(f, *v);
            }
            let mut kept = Vec::new();
            for ((f, v), remove) in subs.iter().zip(&removals) {
                if *remove {
                    prop_assert_eq!(trie.remove(f, v), Some(*v));
                } else {
                    kept.push((f.clone(), *v));
                }
            }
            let mut fresh = SubscriptionTrie::new();
            for (f, v) in &kept {
                fresh.insert(f, *v);
            }
            prop_assert_eq!(node_count(&trie), node_count(&fresh));
            prop_assert_eq!(trie.len(), kept.len());
            prop_assert_eq!(trie.filter_count(), fresh.filter_count());
            for topic in &topics {
                prop_assert_eq!(trie_pairs(&trie, topic), brute_force(&kept, topic));
            }
            for (f, v) in &kept {
                prop_assert_eq!(trie.remove(f, v), Some(*v));
            }
            prop_assert!(trie.is_empty());
            prop_assert_eq!(trie.filter_count(), 0);
            prop_assert_eq!(node_count(&trie), 1);
        }

        #[test]
        fn accepts_or_rejects_any_string_without_panic(s in "[ab/+#$\\x00é]{0,12}") {
            let as_name = TopicName::new(s.as_str());
            let as_filter = TopicFilter::new(s.as_str());
            if let Ok(n) = &as_name {
                // every valid name is a valid filter, matching itself unless it is a share
                let f = as_filter.clone().expect("a valid name is a valid filter");
                if !f.is_shared() {
                    prop_assert!(f.matches(n));
                }
            }
            if let Ok(f) = as_filter {
                prop_assert_eq!(f.as_str(), s.as_str());
            }
        }
    }
}
