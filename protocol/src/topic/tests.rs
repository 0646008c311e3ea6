//! Tests of names, filters, matching and the trie, over the same cases.

use super::*;
use bytestring::ByteString;
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
