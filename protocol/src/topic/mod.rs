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

/// The impls that [`TopicName`] and [`TopicFilter`] share: each is a validated string that
/// derefs to, borrows as, prints as and compares with `str`, and converts from strings
/// through its `new` (so a conversion validates) and back into a `ByteString`.
macro_rules! topic_string {
    ($ty:ident) => {
        impl std::ops::Deref for $ty {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $ty {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $ty {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<&str> for $ty {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl TryFrom<&str> for $ty {
            type Error = TopicError;

            fn try_from(s: &str) -> Result<Self, TopicError> {
                Self::new(s)
            }
        }

        impl TryFrom<String> for $ty {
            type Error = TopicError;

            fn try_from(s: String) -> Result<Self, TopicError> {
                Self::new(s)
            }
        }

        impl TryFrom<ByteString> for $ty {
            type Error = TopicError;

            fn try_from(s: ByteString) -> Result<Self, TopicError> {
                Self::new(s)
            }
        }

        impl From<$ty> for ByteString {
            fn from(t: $ty) -> Self {
                t.0
            }
        }
    };
}

mod filter;
mod matching;
mod name;
mod trie;

pub use filter::TopicFilter;
pub use matching::matches;
pub use name::TopicName;
pub use trie::{Matches, SubscriptionTrie};

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

/// Checks shared by names and filters: length and characters.
pub(super) fn check_common(topic: &str) -> Result<(), TopicError> {
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

#[cfg(test)]
mod tests;
