//! Topic filters: the validated filters of SUBSCRIBE and UNSUBSCRIBE, shared subscriptions
//! included.

use bytestring::ByteString;

use super::{TopicError, TopicName, check_common, matches};

/// A validated topic filter, as sent in SUBSCRIBE and UNSUBSCRIBE.
///
/// It is non-empty, at most [`MAX_TOPIC_LEN`] bytes and free of U+0000; `+` fills a whole level
/// and `#` stands alone in the last one. A filter starting with `$share/` is an MQTT 5 shared
/// subscription, `$share/{ShareName}/{filter}`: the share name is non-empty and free of `/`, `+`
/// and `#`, and the filter after it obeys the same rules as any filter and is what matching
/// uses. (MQTT 3.1.1 gives `$share/` no meaning, but this type always reads it as a share.)
///
/// [`MAX_TOPIC_LEN`]: super::MAX_TOPIC_LEN
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

topic_string!(TopicFilter);

/// The prefix of a shared subscription's filter.
const SHARE_PREFIX: &str = "$share/";

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
