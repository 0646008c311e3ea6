//! Local dispatch: routes each incoming message to the handlers of the subscriptions whose
//! filters match its topic. The browser client keeps one [`Router`] of per-subscription
//! callbacks beside its engine.

use crate::topic::{TopicFilter, matches};

/// Handlers by topic filter, in the order they were added. Shared subscriptions
/// (`$share/group/filter`) match by their inner filter.
///
/// A client holds a handful of handlers, so they are kept in a list and each message is
/// matched against every filter in turn: a few string comparisons per handler, and a
/// fraction of the code of a [`SubscriptionTrie`](crate::topic::SubscriptionTrie) (which
/// matters in a browser bundle). For thousands of filters, use the trie.
#[derive(Debug)]
pub struct Router<T> {
    handlers: Vec<(TopicFilter, T)>,
}

impl<T> Default for Router<T> {
    fn default() -> Self {
        Router {
            handlers: Vec::new(),
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
        self.handlers.push((filter.clone(), handler));
    }

    /// Removes every handler of `filter`, returning them in the order they were added.
    pub fn remove_filter(&mut self, filter: &TopicFilter) -> Vec<T> {
        self.remove_if(filter, |_| true)
    }

    /// Removes the handlers of `filter` for which `pred` is true, returning them in the
    /// order they were added.
    pub fn remove_if(&mut self, filter: &TopicFilter, mut pred: impl FnMut(&T) -> bool) -> Vec<T> {
        self.handlers
            .extract_if(.., |(f, handler)| f == filter && pred(handler))
            .map(|(_, handler)| handler)
            .collect()
    }

    /// Calls `f` with every handler whose filter matches `topic`, in the order they were
    /// added.
    pub fn route<'a>(&'a self, topic: &str, mut f: impl FnMut(&'a TopicFilter, &'a T)) {
        for (filter, handler) in &self.handlers {
            if matches(filter.filter_without_share(), topic) {
                f(filter, handler);
            }
        }
    }

    /// How many handlers there are.
    pub fn len(&self) -> usize {
        self.handlers.len()
    }

    /// True when there are no handlers.
    pub fn is_empty(&self) -> bool {
        self.handlers.is_empty()
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

    #[test]
    fn routes_in_the_order_handlers_were_added() {
        let mut router = Router::new();
        let f = |s: &str| TopicFilter::new(s).expect("valid");
        router.add(&f("a/#"), 1);
        router.add(&f("+/b"), 2);
        router.add(&f("a/b"), 3);
        router.add(&f("a/b"), 4);
        router.add(&f("#"), 5);
        let mut got = Vec::new();
        router.route("a/b", |_, h| got.push(*h));
        assert_eq!(got, [1, 2, 3, 4, 5]);
        // [MQTT-4.7.2-1] wildcards at the first level do not match `$` topics
        let mut got = Vec::new();
        router.route("$SYS/b", |_, h| got.push(*h));
        assert!(got.is_empty());
    }

    #[test]
    fn removes_only_the_handlers_the_predicate_picks() {
        let mut router = Router::new();
        let f = |s: &str| TopicFilter::new(s).expect("valid");
        router.add(&f("a/+"), 1);
        router.add(&f("a/+"), 2);
        router.add(&f("a/#"), 1);
        assert_eq!(router.remove_if(&f("a/+"), |h| *h == 1), [1]);
        assert_eq!(router.len(), 2);
        let mut got = Vec::new();
        router.route("a/x", |filter, h| got.push((filter.as_str(), *h)));
        assert_eq!(got, [("a/+", 2), ("a/#", 1)]);
        assert_eq!(router.remove_filter(&f("a/+")), [2]);
        assert_eq!(router.remove_filter(&f("a/#")), [1]);
        assert!(router.is_empty());
    }
}
