//! Topic access control at the edge, like mosquitto's `acl_file` patterns: rules from the
//! TOML config (`[[acl]]` tables) whose topic filters may hold `%u` (the user: the JWT's
//! username claim, or the CONNECT user name without JWT) and `%c` (the client id). With any
//! rule configured, everything no rule allows is denied. A connection's rules are resolved
//! once, at CONNECT, into a [`ClientAcl`]: PUBLISH topics (and the will) are matched with the
//! protocol crate's subscription trie; a SUBSCRIBE filter is allowed when a read rule covers
//! every topic it can match.

use mqttwire::topic::{SubscriptionTrie, TopicFilter};
use serde::Deserialize;

use crate::config::ConfigError;

/// What a rule lets a client do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Subscribe to matching filters.
    Read,
    /// Publish (and set a will) on matching topics.
    Write,
    /// Both.
    #[default]
    Readwrite,
}

/// One `[[acl]]` table of the config file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AclRule {
    /// A topic filter; `%u` and `%c` stand for whole or partial levels of the user and the
    /// client id.
    pub topic: String,
    /// `read`, `write` or `readwrite` (the default).
    #[serde(default)]
    pub access: Access,
}

/// The configured rules, each checked to give a valid filter once filled in.
#[derive(Debug, Clone, Default)]
pub struct Acl {
    rules: Vec<AclRule>,
}

impl Acl {
    /// Checks `rules`: each must be a valid topic filter with its placeholders filled in.
    pub fn new(rules: Vec<AclRule>) -> Result<Acl, ConfigError> {
        for rule in &rules {
            let filled = rule.topic.replace("%u", "u").replace("%c", "c");
            TopicFilter::new(filled).map_err(|e| ConfigError::AclRule {
                topic: rule.topic.clone(),
                reason: e.to_string(),
            })?;
        }
        Ok(Acl { rules })
    }

    /// True when no rule is configured: the broker's own authorization applies alone.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules of one connection. A rule whose placeholder stands for an empty value or
    /// one holding `/`, `+` or `#` is left out, as mosquitto does: such an id would widen
    /// the rule instead of naming a level.
    pub fn for_client(&self, user: &str, client_id: &str) -> ClientAcl {
        let unsafe_value = |v: &str| v.is_empty() || v.contains(['/', '+', '#']);
        let mut acl = ClientAcl::default();
        for rule in &self.rules {
            if (rule.topic.contains("%u") && unsafe_value(user))
                || (rule.topic.contains("%c") && unsafe_value(client_id))
            {
                continue;
            }
            let filled = rule.topic.replace("%u", user).replace("%c", client_id);
            let Ok(filter) = TopicFilter::new(filled) else {
                continue;
            };
            if matches!(rule.access, Access::Write | Access::Readwrite) {
                acl.write.insert(&filter, ());
            }
            if matches!(rule.access, Access::Read | Access::Readwrite) {
                acl.read.push(filter);
            }
        }
        acl
    }
}

/// One connection's rules, placeholders filled in.
#[derive(Debug, Default)]
pub struct ClientAcl {
    write: SubscriptionTrie<()>,
    read: Vec<TopicFilter>,
}

impl ClientAcl {
    /// Whether the client may publish to `topic` (or name it as its will).
    pub fn may_publish(&self, topic: &str) -> bool {
        self.write.matches(topic).next().is_some()
    }

    /// Whether the client may subscribe to `filter`: some read rule matches every topic the
    /// filter can match. A shared subscription is judged by the filter after its share name.
    pub fn may_subscribe(&self, filter: &TopicFilter) -> bool {
        let filter = filter.filter_without_share();
        self.read.iter().any(|rule| covers(rule.as_str(), filter))
    }
}

/// Whether every topic that `filter` matches is matched by `rule` too.
fn covers(rule: &str, filter: &str) -> bool {
    // [MQTT-4.7.2-1] wildcards in the first level do not match topics starting with '$'.
    if filter.starts_with('$') && rule.starts_with(['+', '#']) {
        return false;
    }
    let mut rule = rule.split('/');
    let mut filter = filter.split('/');
    loop {
        match (rule.next(), filter.next()) {
            // '#' matches the rest, and the parent level too [MQTT-4.7.1-2].
            (Some("#"), _) => return true,
            (Some("+"), Some(level)) if level != "#" => {}
            (Some(r), Some(f)) if r == f && r != "+" => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(rules: &[(&str, Access)]) -> Acl {
        Acl::new(
            rules
                .iter()
                .map(|(topic, access)| AclRule {
                    topic: (*topic).to_owned(),
                    access: *access,
                })
                .collect(),
        )
        .expect("valid rules")
    }

    fn filter(f: &str) -> TopicFilter {
        TopicFilter::new(f).expect("valid filter")
    }

    #[test]
    fn fills_user_and_client_id_into_rules() {
        let acl = acl(&[
            ("chat/%u/#", Access::Readwrite),
            ("devices/%c/out", Access::Write),
            ("public/#", Access::Read),
        ])
        .for_client("alice", "tab-1");
        assert!(acl.may_publish("chat/alice/room"));
        assert!(!acl.may_publish("chat/bob/room"));
        assert!(acl.may_publish("devices/tab-1/out"));
        assert!(!acl.may_publish("public/news"), "read only");
        assert!(acl.may_subscribe(&filter("chat/alice/+")));
        assert!(acl.may_subscribe(&filter("public/+/x")));
        assert!(
            !acl.may_subscribe(&filter("devices/tab-1/out")),
            "write only"
        );
        assert!(
            !acl.may_subscribe(&filter("chat/+/room")),
            "would see other users"
        );
    }

    #[test]
    fn rejects_ids_that_would_widen_a_rule() {
        let rules = acl(&[("chat/%u/#", Access::Readwrite)]);
        for user in ["", "a/b", "+", "#"] {
            let acl = rules.for_client(user, "c");
            assert!(!acl.may_publish("chat/a/b/x"), "user {user:?}");
            assert!(!acl.may_subscribe(&filter("chat/#")), "user {user:?}");
        }
    }

    #[test]
    fn a_read_rule_covers_only_filters_it_contains() {
        let cases = [
            ("a/+", "a/b", true),
            ("a/+", "a/+", true),
            ("a/+", "a/#", false),
            ("a/#", "a", true),
            ("a/#", "a/b/+/#", true),
            ("a/b", "a/+", false),
            ("a/b", "a/b", true),
            ("+/b", "x/b", true),
            ("#", "$SYS/#", false),
            ("$SYS/#", "$SYS/broker", true),
        ];
        for (rule, f, expected) in cases {
            assert_eq!(covers(rule, f), expected, "{rule} covers {f}");
        }
    }

    #[test]
    fn judges_shared_subscriptions_by_their_filter() {
        let acl = acl(&[("jobs/#", Access::Read)]).for_client("u", "c");
        assert!(acl.may_subscribe(&filter("$share/workers/jobs/+")));
        assert!(!acl.may_subscribe(&filter("$share/workers/other")));
    }

    #[test]
    fn rejects_rules_that_are_not_filters() {
        let bad = Acl::new(vec![AclRule {
            topic: "a/#/b".into(),
            access: Access::Read,
        }]);
        assert!(matches!(bad, Err(ConfigError::AclRule { .. })));
    }
}
