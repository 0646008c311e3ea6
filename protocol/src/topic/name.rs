//! Topic names: the validated topic of a PUBLISH.

use bytestring::ByteString;

use super::{TopicError, check_common};

/// A validated topic name, the topic of a PUBLISH packet.
///
/// It is non-empty, at most [`MAX_TOPIC_LEN`] bytes, free of U+0000 and of the wildcards `+` and
/// `#`. Names starting with `$` (such as `$SYS/...`) are legal here; a broker may refuse them.
/// The one exception to "non-empty" is [`TopicName::from_alias_placeholder`].
///
/// [`MAX_TOPIC_LEN`]: super::MAX_TOPIC_LEN
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

topic_string!(TopicName);
