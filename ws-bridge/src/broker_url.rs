//! Where a broker is: the `mqtt://host:port` / `mqtts://host:port` URL of `--broker`,
//! parsed once into host, port and whether to speak TLS. The parsing is
//! [`mqttwire_tokio::Endpoint`]'s, the workspace's one URL parser; the bridge takes the
//! MQTT schemes only, since it relays the broker's bytes as they are.

use mqttwire_tokio::{Endpoint, Scheme};

use crate::config::ConfigError;

/// Where a broker is and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerUrl {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// TLS (`mqtts://`) or plain TCP (`mqtt://`).
    pub tls: bool,
}

impl BrokerUrl {
    /// Parses `mqtt://host:port` or `mqtts://host:port` (ports default to 1883 and 8883).
    pub fn parse(url: &str) -> Result<BrokerUrl, ConfigError> {
        let bad = |reason: String| ConfigError::BrokerUrl {
            url: url.to_owned(),
            reason,
        };
        let endpoint: Endpoint = url.parse().map_err(|e| bad(format!("{e}")))?;
        let tls = match endpoint.scheme() {
            Scheme::Mqtt => false,
            Scheme::Mqtts => true,
            _ => {
                return Err(bad(
                    "the bridge relays MQTT over TCP: use mqtt://host:port or mqtts://host:port"
                        .to_owned(),
                ));
            }
        };
        Ok(BrokerUrl {
            host: endpoint.host().to_owned(),
            port: endpoint.port(),
            tls,
        })
    }

    /// `host:port`, with brackets around an IPv6 address.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl std::fmt::Display for BrokerUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}://{}",
            if self.tls { "mqtts" } else { "mqtt" },
            self.authority()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_broker_urls() {
        let url = BrokerUrl::parse("mqtt://127.0.0.1:1883").expect("valid");
        assert_eq!(
            (url.host.as_str(), url.port, url.tls),
            ("127.0.0.1", 1883, false)
        );
        assert_eq!(
            BrokerUrl::parse("mqtts://broker.example")
                .expect("valid")
                .port,
            8883
        );
        assert_eq!(
            BrokerUrl::parse("mqtt://[::1]:1884")
                .expect("valid")
                .authority(),
            "[::1]:1884"
        );
        for bad in [
            "http://x:1",
            "mqtt://",
            "mqtt://host:0",
            "mqtt://host:99999",
            "mqtt://u@h:1",
            "mqtt://h:1/x",
            "tcp://h",
            "ws://h:1/mqtt",
            "wss://h",
            "mqtt://h:1#x",
        ] {
            assert!(BrokerUrl::parse(bad).is_err(), "{bad}");
        }
        let message = BrokerUrl::parse("ws://h:1/mqtt")
            .expect_err("a WebSocket URL is not a broker URL")
            .to_string();
        assert!(message.contains("use mqtt://host:port"), "{message}");
        let message = BrokerUrl::parse("mqtt://h:99999")
            .expect_err("port out of range")
            .to_string();
        assert!(message.contains("invalid port \"99999\""), "{message}");
    }

    #[test]
    fn displays_as_it_parses() {
        for url in [
            "mqtt://127.0.0.1:1883",
            "mqtts://[::1]:8883",
            "mqtt://b.example:1",
        ] {
            assert_eq!(BrokerUrl::parse(url).expect("valid").to_string(), url);
        }
    }
}
