//! Where a broker is: the `mqtt://host:port` / `mqtts://host:port` URL of `--broker`,
//! parsed once into host, port and whether to speak TLS.

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
        let bad = || ConfigError::BrokerUrl(url.to_owned());
        let (tls, rest) = if let Some(rest) = url.strip_prefix("mqtts://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("mqtt://") {
            (false, rest)
        } else {
            return Err(bad());
        };
        let rest = rest.trim_end_matches('/');
        if rest.is_empty() || rest.contains('/') || rest.contains('@') {
            return Err(bad());
        }
        let (host, port) = match rest.rsplit_once(':') {
            // An IPv6 literal is bracketed: [::1]:1883.
            Some((host, port))
                if !host.is_empty() && (!host.contains(':') || host.starts_with('[')) =>
            {
                (host, port.parse::<u16>().map_err(|_| bad())?)
            }
            None => (rest, if tls { 8883 } else { 1883 }),
            _ => return Err(bad()),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || port == 0 {
            return Err(bad());
        }
        Ok(BrokerUrl {
            host: host.to_owned(),
            port,
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
        ] {
            assert!(BrokerUrl::parse(bad).is_err(), "{bad}");
        }
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
