//! Local dispatch: routes each incoming message to the handlers of the subscriptions whose
//! filters match its topic, through the topic module's subscription trie. The browser
//! client keeps one [`Router`] of per-subscription callbacks beside its engine.

use crate::topic::{SubscriptionTrie, TopicFilter};

/// Handlers by topic filter. Shared subscriptions (`$share/group/filter`) match by their
/// inner filter.
#[derive(Debug)]
pub struct Router<T> {
    trie: SubscriptionTrie<T>,
}

impl<T> Default for Router<T> {
    fn default() -> Self {
        Router {
            trie: SubscriptionTrie::new(),
        }
    }
}

impl<T> Router<T> {
    /// An empty router.
    pub fn new() -> Router<T> {
        Router::default()
    }

    /// Adds a handler for `filter` (a filter may have several).
    pub fn add(&mut self, filter: &TopicFilter, handler: T) {
        self.trie.insert(filter, handler);
    }

    /// Removes every handler of `filter`, returning them.
    pub fn remove_filter(&mut self, filter: &TopicFilter) -> Vec<T> {
        self.trie.remove_filter(filter)
    }

    /// Removes the handlers of `filter` for which `pred` is true, returning them.
    pub fn remove_if(&mut self, filter: &TopicFilter, pred: impl FnMut(&T) -> bool) -> Vec<T> {
        self.trie.remove_if(filter, pred)
    }

    /// Calls `f` with every handler whose filter matches `topic`.
    pub fn route<'a>(&'a self, topic: &str, f: impl FnMut(&'a TopicFilter, &'a T)) {
        self.trie.for_each_match(topic, f);
    }

    /// How many handlers there are.
    pub fn len(&self) -> usize {
        self.trie.len()
    }

    /// True when there are no handlers.
    pub fn is_empty(&self) -> bool {
        self.trie.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_to_every_matching_handler_once() {
        let mut router = Router::new();
        let f = |s: &str| TopicFilter::new(s).expect("valid");
        router.add(&f("chat/#"), "all chat");
        router.add(&f("chat/+/42"), "room 42");
        router.add(&f("$share/g/chat/room/+"), "shared");
        router.add(&f("metrics/#"), "metrics");
        let mut got = Vec::new();
        router.route("chat/room/42", |_, h| got.push(*h));
        got.sort_unstable();
        assert_eq!(got, ["all chat", "room 42", "shared"]);
        assert_eq!(router.remove_filter(&f("chat/#")), ["all chat"]);
        let mut got = Vec::new();
        router.route("chat", |_, h| got.push(*h));
        assert!(got.is_empty());
    }
}
