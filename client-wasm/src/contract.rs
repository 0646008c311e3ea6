//! The names this crate and the JavaScript wrapper share: the events the core passes to
//! `emit(type, ...args)` and the `code` of every error. `js/index.js` and `js/index.d.ts`
//! spell them too; the tests below read both files and fail when they name an event or a
//! code these enums lack, or lack one these enums have.

/// Declares a fieldless enum whose variants each carry the string JavaScript sees, with
/// `as_str` and (for the tests) the list of every variant, so that no variant can be left
/// out of the check against the JavaScript files.
macro_rules! js_names {
    (
        $(#[$meta:meta])*
        enum $name:ident {
            $($(#[$variant_meta:meta])* $variant:ident = $text:literal,)*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub(crate) enum $name {
            $($(#[$variant_meta])* $variant,)*
        }

        impl $name {
            /// Every variant, in declaration order.
            #[cfg(test)]
            pub(crate) const ALL: &[$name] = &[$($name::$variant),*];

            /// The name as JavaScript spells it.
            pub(crate) fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }
        }
    };
}

js_names! {
    /// An event the core emits as `emit(type, ...args)`, with its arguments. index.js
    /// turns each into the listener event of the same name (`messages` into one `message`
    /// per message) and builds the packet objects from the arguments.
    enum EventName {
        /// `(batch)`: four values per message, flat: topic, payload (a `Uint8Array`),
        /// flags ([`convert::message_flags`](crate::convert::message_flags)) and
        /// properties (an object or `undefined`).
        Messages = "messages",
        /// `(sessionPresent, properties)`: CONNACK accepted.
        Connect = "connect",
        /// `()`: a reconnect attempt starts.
        Reconnect = "reconnect",
        /// `(delay, attempt)`: a reconnect attempt is scheduled `delay` ms from now.
        Reconnecting = "reconnecting",
        /// `()`: the connection closed.
        Close = "close",
        /// `()`: the connection was lost, not closed by the client.
        Offline = "offline",
        /// `(reasonCode, properties)`: the server sent DISCONNECT (5.0).
        Disconnect = "disconnect",
        /// `(error)`: an `MqttError` with one of the [`ErrorCode`]s.
        Error = "error",
        /// `()`: the client stopped for good.
        End = "end",
        /// `(reasonCode, properties)`: the server sent AUTH (5.0).
        Auth = "auth",
    }
}

js_names! {
    /// The stable `code` of an `MqttError`.
    enum ErrorCode {
        /// An option or argument of the wrong type, range or name.
        InvalidOption = "INVALID_OPTION",
        /// A topic name or filter MQTT does not allow.
        InvalidTopic = "INVALID_TOPIC",
        /// A packet the engine cannot encode.
        InvalidPacket = "INVALID_PACKET",
        /// `maxQueuedBytes` reached.
        QueueFull = "QUEUE_FULL",
        /// A QoS above the server's maximum.
        QosNotSupported = "QOS_NOT_SUPPORTED",
        /// A retained message to a server without retain.
        RetainNotSupported = "RETAIN_NOT_SUPPORTED",
        /// A packet larger than the server accepts.
        PacketTooLarge = "PACKET_TOO_LARGE",
        /// The server refused a publish with a reason code.
        PublishRefused = "PUBLISH_REFUSED",
        /// A QoS 0 publish dropped while offline (`queueQoSZero: false`).
        DroppedOffline = "DROPPED_OFFLINE",
        /// The session that held a publish ended.
        SessionLost = "SESSION_LOST",
        /// The client was ended before the command completed.
        ClientEnded = "CLIENT_ENDED",
        /// The first connection attempt failed.
        ConnectFailed = "CONNECT_FAILED",
        /// The server broke the protocol.
        ProtocolError = "PROTOCOL_ERROR",
        /// Reconnecting stopped after `reconnect.maxAttempts`.
        ReconnectGaveUp = "RECONNECT_GAVE_UP",
        /// The password function gave no string.
        PasswordFunction = "PASSWORD_FUNCTION",
        /// The store (`options.store`) could not load or save, or held what is not a
        /// saved state: the client goes on with its state in memory only.
        #[cfg_attr(not(feature = "store"), allow(dead_code))]
        StoreFailed = "STORE_FAILED",
        /// The shared worker of `mqttwire/shared` did not start (raised by shared.js).
        #[allow(dead_code)]
        SharedWorker = "SHARED_WORKER",
        /// Any other command the engine refused.
        ClientError = "CLIENT_ERROR",
    }
}

impl EventName {
    /// The event index.js's listeners get for this one.
    #[cfg(test)]
    fn listener_event(self) -> &'static str {
        match self {
            EventName::Messages => "message",
            other => other.as_str(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    const INDEX_JS: &str = include_str!("../js/index.js");
    const INDEX_D_TS: &str = include_str!("../js/index.d.ts");

    /// The text of every `prefix…'` in `text`: what follows `prefix` up to the next `'`.
    fn quoted_after<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
        text.match_indices(prefix)
            .filter_map(|(i, _)| {
                let rest = &text[i + prefix.len()..];
                rest.find('\'').map(|end| &rest[..end])
            })
            .collect()
    }

    /// The text from `start` to the first `end` after it.
    fn section<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
        let from = text.find(start).unwrap_or_else(|| panic!("no {start:?}")) + start.len();
        let len = text[from..]
            .find(end)
            .unwrap_or_else(|| panic!("no {end:?}"));
        &text[from..from + len]
    }

    fn set<'a>(names: impl IntoIterator<Item = &'a str>) -> BTreeSet<&'a str> {
        names.into_iter().collect()
    }

    /// The member names of a TypeScript interface body, one member a line.
    fn members(body: &str) -> BTreeSet<&str> {
        set(body.lines().filter_map(|line| {
            let line = line.trim();
            if line.starts_with("/*") || line.starts_with('*') {
                return None;
            }
            line.split_once(':').map(|(name, _)| name)
        }))
    }

    /// The string literals of a TypeScript union: `'A' | 'B'`.
    fn literals(union: &str) -> BTreeSet<&str> {
        set(union.split('\'').skip(1).step_by(2))
    }

    #[test]
    fn names_are_distinct() {
        assert_eq!(
            set(EventName::ALL.iter().map(|e| e.as_str())).len(),
            EventName::ALL.len()
        );
        assert_eq!(
            set(ErrorCode::ALL.iter().map(|c| c.as_str())).len(),
            ErrorCode::ALL.len()
        );
    }

    #[test]
    fn index_d_ts_types_a_listener_for_exactly_the_events_emitted() {
        let body = section(INDEX_D_TS, "export interface ClientEvents {", "\n}");
        let emitted = set(EventName::ALL.iter().map(|e| e.listener_event()));
        assert_eq!(members(body), emitted);
    }

    #[test]
    fn index_d_ts_lists_exactly_the_error_codes() {
        let union = section(
            INDEX_D_TS,
            "export interface MqttError extends Error {",
            ";",
        );
        let codes = set(ErrorCode::ALL.iter().map(|c| c.as_str()));
        assert_eq!(literals(union), codes);
    }

    #[test]
    fn index_js_dispatches_and_emits_only_known_events() {
        let dispatched = quoted_after(INDEX_JS, "type === '");
        assert!(
            !dispatched.is_empty(),
            "index.js dispatches no event by name"
        );
        for name in dispatched {
            assert!(
                EventName::ALL.iter().any(|e| e.as_str() == name),
                "index.js dispatches '{name}', which the core never emits"
            );
        }
        let emitted = quoted_after(INDEX_JS, "emit('");
        assert!(!emitted.is_empty(), "index.js emits no event by name");
        for name in emitted {
            assert!(
                EventName::ALL.iter().any(|e| e.listener_event() == name),
                "index.js emits '{name}', which is not an event of EventName"
            );
        }
    }

    #[test]
    fn index_js_makes_errors_only_with_known_codes() {
        let made = quoted_after(INDEX_JS, "mqttError('");
        assert!(!made.is_empty(), "index.js makes no error by code");
        for code in made {
            assert!(
                ErrorCode::ALL.iter().any(|c| c.as_str() == code),
                "index.js makes an error with code '{code}', which ErrorCode lacks"
            );
        }
    }

    #[test]
    fn index_js_reads_the_message_flags_as_they_are_packed() {
        use crate::convert::{DUP_FLAG, RETAIN_FLAG};
        for read in [
            "qos: flags & 3".to_string(),
            format!("retain: (flags & {RETAIN_FLAG}) !== 0"),
            format!("dup: (flags & {DUP_FLAG}) !== 0"),
        ] {
            assert!(INDEX_JS.contains(&read), "index.js lacks `{read}`");
        }
    }

    #[test]
    fn the_readers_find_every_name() {
        let body =
            "\n  /** Docs: here. */\n  connect: () => void;\n  bogus: (a: number) => void;\n";
        assert_eq!(members(body), set(["connect", "bogus"]));
        assert_eq!(
            literals("\n    code:\n    | 'A_B' | 'C'\n    | 'D'"),
            set(["A_B", "C", "D"])
        );
        assert_eq!(
            quoted_after("type === 'bogus' || type === 'end'", "type === '"),
            ["bogus", "end"]
        );
    }
}
