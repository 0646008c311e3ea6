//! Matching one topic filter against one topic name (MQTT 3.1.1 and 5.0 section 4.7).

/// Whether `filter` matches `topic`; both are taken as already valid.
///
/// `+` matches exactly one level and `#` the parent level and any number of levels below it, so
/// `a/#` matches `a`, `a/b` and `a/b/c`. Empty levels are levels: `a/+` matches `a/` and `+/+`
/// matches `/x`. A filter whose first level is a wildcard does not match a topic starting with
/// `$` [MQTT-4.7.2-1]. An empty filter or topic matches nothing. `$share/` is not interpreted
/// here: for a shared subscription pass [`TopicFilter::filter_without_share`], or use
/// [`TopicFilter::matches`].
///
/// [`TopicFilter::filter_without_share`]: super::TopicFilter::filter_without_share
/// [`TopicFilter::matches`]: super::TopicFilter::matches
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
