//! Where a client connects: `mqtt://`, `mqtts://`, `ws://` and `wss://` URLs parsed once
//! into a typed [`Endpoint`] (scheme, host, port, WebSocket path), with a typed error for
//! every way a URL can be wrong.

use std::fmt;
use std::str::FromStr;

use rustls_pki_types::ServerName;

/// How a client reaches the broker: the transport, and whether TLS wraps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scheme {
    /// MQTT over TCP (`mqtt://`, default port 1883).
    Mqtt,
    /// MQTT over TLS over TCP (`mqtts://`, default port 8883).
    Mqtts,
    /// MQTT over WebSocket (`ws://`, default port 80): subprotocol `mqtt`, binary messages.
    Ws,
    /// MQTT over WebSocket over TLS (`wss://`, default port 443).
    Wss,
}

impl Scheme {
    /// The scheme as written in a URL: `mqtt`, `mqtts`, `ws` or `wss`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Scheme::Mqtt => "mqtt",
            Scheme::Mqtts => "mqtts",
            Scheme::Ws => "ws",
            Scheme::Wss => "wss",
        }
    }

    /// The port used when the URL names none: 1883, 8883, 80 or 443.
    pub const fn default_port(self) -> u16 {
        match self {
            Scheme::Mqtt => 1883,
            Scheme::Mqtts => 8883,
            Scheme::Ws => 80,
            Scheme::Wss => 443,
        }
    }

    /// Whether TLS wraps the connection (`mqtts`, `wss`).
    pub const fn is_tls(self) -> bool {
        matches!(self, Scheme::Mqtts | Scheme::Wss)
    }

    /// Whether MQTT goes over WebSocket (`ws`, `wss`).
    pub const fn is_websocket(self) -> bool {
        matches!(self, Scheme::Ws | Scheme::Wss)
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A broker's address, parsed from a URL:
///
/// | URL | transport | default port |
/// | --- | --- | --- |
/// | `mqtt://host[:port]` | TCP | 1883 |
/// | `mqtts://host[:port]` | TLS | 8883 |
/// | `ws://host[:port][/path]` | WebSocket | 80 |
/// | `wss://host[:port][/path]` | WebSocket over TLS | 443 |
///
/// The host is a name, an IPv4 address or a bracketed IPv6 address (`[::1]`). A WebSocket
/// URL keeps its path and query (`/` when it has none); an `mqtt(s)://` URL has no path (a
/// lone trailing `/` is allowed). User information (`user@`) and fragments are refused:
/// credentials go in [`ClientOptions`](mqttwire::client::ClientOptions).
///
/// ```
/// use mqttwire_tokio::{Endpoint, Scheme};
///
/// let endpoint: Endpoint = "wss://[::1]/mqtt".parse()?;
/// assert_eq!(endpoint.scheme(), Scheme::Wss);
/// assert_eq!((endpoint.host(), endpoint.port()), ("::1", 443));
/// assert_eq!(endpoint.to_string(), "wss://[::1]:443/mqtt");
/// # Ok::<(), mqttwire_tokio::EndpointError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    scheme: Scheme,
    /// Without brackets.
    host: String,
    port: u16,
    /// Path and query of a WebSocket URL, from `/`; empty for `mqtt(s)`.
    path: String,
}

impl Endpoint {
    /// An endpoint from its parts: `host` without brackets, `path` (WebSocket only, from
    /// `/`, query included) or `None` for `/`. Checks them as [`FromStr`] does.
    pub fn new(
        scheme: Scheme,
        host: &str,
        port: u16,
        path: Option<&str>,
    ) -> Result<Endpoint, EndpointError> {
        check_host(host)?;
        if port == 0 {
            return Err(EndpointError::InvalidPort("0".to_owned()));
        }
        let path = match (scheme.is_websocket(), path) {
            (true, None) => "/".to_owned(),
            (true, Some(path)) => {
                check_path(path)?;
                path.to_owned()
            }
            (false, None) => String::new(),
            (false, Some(path)) => return Err(EndpointError::PathNotAllowed(path.to_owned())),
        };
        Ok(Endpoint {
            scheme,
            host: host.to_owned(),
            port,
            path,
        })
    }

    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The host name or address, without the brackets of an IPv6 address.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The TCP port (the scheme's default when the URL named none).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The path and query of a WebSocket endpoint (at least `/`); empty for `mqtt(s)`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Whether TLS wraps the connection.
    pub fn is_tls(&self) -> bool {
        self.scheme.is_tls()
    }

    /// Whether MQTT goes over WebSocket.
    pub fn is_websocket(&self) -> bool {
        self.scheme.is_websocket()
    }

    /// `host:port`, with brackets around an IPv6 address: what goes in a `Host` header.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The name the TLS server's certificate must hold (SNI): the host, as a DNS name or
    /// an IP address.
    pub fn server_name(&self) -> Result<ServerName<'static>, EndpointError> {
        ServerName::try_from(self.host.clone())
            .map_err(|_| EndpointError::InvalidHost(self.host.clone()))
    }
}

impl FromStr for Endpoint {
    type Err = EndpointError;

    /// Parses a URL as described on [`Endpoint`].
    fn from_str(url: &str) -> Result<Endpoint, EndpointError> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| EndpointError::NotAUrl(url.to_owned()))?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "mqtt" => Scheme::Mqtt,
            "mqtts" => Scheme::Mqtts,
            "ws" => Scheme::Ws,
            "wss" => Scheme::Wss,
            _ => return Err(EndpointError::UnsupportedScheme(scheme.to_owned())),
        };
        if rest.contains('#') {
            return Err(EndpointError::Fragment);
        }
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        if authority.contains('@') {
            return Err(EndpointError::UserInfo);
        }
        let (host, port) = split_authority(authority)?;
        let port = match port {
            None => scheme.default_port(),
            Some(port) => match port.parse::<u16>() {
                Ok(port) if port != 0 => port,
                _ => return Err(EndpointError::InvalidPort(port.to_owned())),
            },
        };
        let path = match path {
            "" => None,
            "/" if !scheme.is_websocket() => None,
            path if path.starts_with('?') => Some(format!("/{path}")),
            path => Some(path.to_owned()),
        };
        Endpoint::new(scheme, host, port, path.as_deref())
    }
}

impl fmt::Display for Endpoint {
    /// The canonical URL: scheme, authority with the port always written, then the
    /// WebSocket path (`mqtt://127.0.0.1:1883`, `ws://[::1]:80/`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}{}", self.scheme, self.authority(), self.path)
    }
}

/// Why a URL is not an [`Endpoint`]: always the caller's mistake, named precisely.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// No `scheme://` at the start.
    #[error("{0:?} is not a URL: expected mqtt://, mqtts://, ws:// or wss://host[:port]")]
    NotAUrl(String),
    /// A scheme other than `mqtt`, `mqtts`, `ws` and `wss`.
    #[error("unsupported scheme {0:?}: expected mqtt, mqtts, ws or wss")]
    UnsupportedScheme(String),
    /// No host between `://` and the port or path.
    #[error("the URL has no host")]
    MissingHost,
    /// The host holds characters a host cannot, or an IPv6 address lacks its brackets.
    #[error("invalid host {0:?} (an IPv6 address goes in brackets: [::1])")]
    InvalidHost(String),
    /// The port is empty, not a number, 0 or above 65535.
    #[error("invalid port {0:?}: expected 1 to 65535")]
    InvalidPort(String),
    /// `user@host`: credentials go in the client options, not the URL.
    #[error(
        "user information in the URL is not supported: set username and password in the client options"
    )]
    UserInfo,
    /// A `#fragment`, which no broker URL has.
    #[error("the URL has a fragment (#...), which a broker URL cannot have")]
    Fragment,
    /// A path on an `mqtt://` or `mqtts://` URL.
    #[error("{0:?}: only ws:// and wss:// URLs have a path")]
    PathNotAllowed(String),
    /// A WebSocket path that does not start with `/` or holds spaces or control characters.
    #[error("invalid WebSocket path {0:?}")]
    InvalidPath(String),
}

/// `host[:port]` or `[v6][:port]`, the host without brackets.
fn split_authority(authority: &str) -> Result<(&str, Option<&str>), EndpointError> {
    if authority.is_empty() {
        return Err(EndpointError::MissingHost);
    }
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| EndpointError::InvalidHost(authority.to_owned()))?;
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(EndpointError::InvalidHost(authority.to_owned()));
        }
        return match after {
            "" => Ok((host, None)),
            after => match after.strip_prefix(':') {
                Some(port) => Ok((host, Some(port))),
                None => Err(EndpointError::InvalidHost(authority.to_owned())),
            },
        };
    }
    match authority.split_once(':') {
        // More than one colon: an IPv6 address without brackets.
        Some((_, port)) if port.contains(':') => {
            Err(EndpointError::InvalidHost(authority.to_owned()))
        }
        Some(("", _)) => Err(EndpointError::MissingHost),
        Some((host, port)) => Ok((host, Some(port))),
        None => Ok((authority, None)),
    }
}

/// A host is an IPv6 address (given to [`Endpoint::new`] without brackets) or a name or
/// IPv4 address of letters, digits, `-`, `.` and `_`.
fn check_host(host: &str) -> Result<(), EndpointError> {
    if host.is_empty() {
        return Err(EndpointError::MissingHost);
    }
    let valid = if host.contains(':') {
        host.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        host.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    };
    if valid {
        Ok(())
    } else {
        Err(EndpointError::InvalidHost(host.to_owned()))
    }
}

fn check_path(path: &str) -> Result<(), EndpointError> {
    let printable = path.bytes().all(|b| b.is_ascii_graphic() || b >= 0x80);
    if path.starts_with('/') && printable && !path.contains('#') {
        Ok(())
    } else {
        Err(EndpointError::InvalidPath(path.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Endpoint {
        url.parse()
            .unwrap_or_else(|e| panic!("{url} should parse: {e}"))
    }

    fn parts(url: &str) -> (Scheme, String, u16, String) {
        let e = parse(url);
        (
            e.scheme(),
            e.host().to_owned(),
            e.port(),
            e.path().to_owned(),
        )
    }

    #[test]
    fn accepts_each_scheme_with_its_default_port() {
        assert_eq!(
            parts("mqtt://broker.example"),
            (Scheme::Mqtt, "broker.example".into(), 1883, String::new())
        );
        assert_eq!(
            parts("mqtts://broker.example"),
            (Scheme::Mqtts, "broker.example".into(), 8883, String::new())
        );
        assert_eq!(
            parts("ws://broker.example"),
            (Scheme::Ws, "broker.example".into(), 80, "/".into())
        );
        assert_eq!(
            parts("wss://broker.example"),
            (Scheme::Wss, "broker.example".into(), 443, "/".into())
        );
    }

    #[test]
    fn accepts_explicit_ports_paths_and_queries() {
        assert_eq!(
            parts("mqtt://127.0.0.1:1884"),
            (Scheme::Mqtt, "127.0.0.1".into(), 1884, String::new())
        );
        assert_eq!(
            parts("mqtt://127.0.0.1:1884/"),
            (Scheme::Mqtt, "127.0.0.1".into(), 1884, String::new())
        );
        assert_eq!(
            parts("ws://127.0.0.1:8080/mqtt"),
            (Scheme::Ws, "127.0.0.1".into(), 8080, "/mqtt".into())
        );
        assert_eq!(
            parts("wss://h:9443/a/b?token=x"),
            (Scheme::Wss, "h".into(), 9443, "/a/b?token=x".into())
        );
        assert_eq!(parse("ws://h?x=1").path(), "/?x=1");
        assert_eq!(parse("MQTT://h").scheme(), Scheme::Mqtt);
    }

    #[test]
    fn accepts_bracketed_ipv6_literals() {
        let e = parse("mqtt://[::1]:1884");
        assert_eq!((e.host(), e.port()), ("::1", 1884));
        assert_eq!(e.authority(), "[::1]:1884");
        let e = parse("wss://[2001:db8::7]/mqtt");
        assert_eq!(
            (e.host(), e.port(), e.path()),
            ("2001:db8::7", 443, "/mqtt")
        );
        assert!(e.server_name().is_ok());
    }

    #[test]
    fn can_round_trip_through_display() {
        for (url, canonical) in [
            ("mqtt://h", "mqtt://h:1883"),
            ("mqtts://h:1/", "mqtts://h:1"),
            ("ws://[::1]:8080/mqtt", "ws://[::1]:8080/mqtt"),
            ("wss://h", "wss://h:443/"),
        ] {
            let e = parse(url);
            assert_eq!(e.to_string(), canonical);
            assert_eq!(parse(canonical), e);
        }
    }

    #[test]
    fn rejects_unsupported_schemes() {
        assert_eq!(
            "http://h:80".parse::<Endpoint>(),
            Err(EndpointError::UnsupportedScheme("http".into()))
        );
        assert_eq!(
            "tcp://h".parse::<Endpoint>(),
            Err(EndpointError::UnsupportedScheme("tcp".into()))
        );
        assert_eq!(
            "127.0.0.1:1883".parse::<Endpoint>(),
            Err(EndpointError::NotAUrl("127.0.0.1:1883".into()))
        );
    }

    #[test]
    fn rejects_bad_hosts() {
        for url in ["mqtt://", "ws://", "ws:///mqtt", "mqtt://:1883"] {
            assert_eq!(
                url.parse::<Endpoint>(),
                Err(EndpointError::MissingHost),
                "{url}"
            );
        }
        for url in [
            "mqtt://::1",
            "mqtt://::1:1883",
            "mqtt://[::1",
            "mqtt://[nope]:1",
            "mqtt://[::1]x",
            "mqtt://h st",
            "mqtt://h%41",
        ] {
            assert!(
                matches!(url.parse::<Endpoint>(), Err(EndpointError::InvalidHost(_))),
                "{url}"
            );
        }
    }

    #[test]
    fn rejects_bad_ports() {
        for url in [
            "mqtt://h:0",
            "mqtt://h:",
            "mqtt://h:65536",
            "mqtt://h:99999",
            "ws://h:x/",
            "mqtt://[::1]:",
        ] {
            assert!(
                matches!(url.parse::<Endpoint>(), Err(EndpointError::InvalidPort(_))),
                "{url}"
            );
        }
    }

    #[test]
    fn rejects_user_info_fragments_and_paths_on_mqtt() {
        assert_eq!(
            "mqtt://u@h:1".parse::<Endpoint>(),
            Err(EndpointError::UserInfo)
        );
        assert_eq!(
            "ws://h/a#b".parse::<Endpoint>(),
            Err(EndpointError::Fragment)
        );
        assert_eq!(
            "mqtt://h:1/x".parse::<Endpoint>(),
            Err(EndpointError::PathNotAllowed("/x".into()))
        );
        assert_eq!(
            "mqtts://h?x".parse::<Endpoint>(),
            Err(EndpointError::PathNotAllowed("/?x".into()))
        );
        assert!(matches!(
            "ws://h/a b".parse::<Endpoint>(),
            Err(EndpointError::InvalidPath(_))
        ));
    }

    #[test]
    fn new_checks_its_parts_like_the_parser() {
        let e = Endpoint::new(Scheme::Ws, "::1", 8080, Some("/mqtt")).expect("valid");
        assert_eq!(e, parse("ws://[::1]:8080/mqtt"));
        assert!(Endpoint::new(Scheme::Mqtt, "h", 0, None).is_err());
        assert!(Endpoint::new(Scheme::Mqtt, "h", 1, Some("/x")).is_err());
        assert!(Endpoint::new(Scheme::Ws, "h", 1, Some("mqtt")).is_err());
        assert!(Endpoint::new(Scheme::Mqtt, "[::1]", 1, None).is_err());
    }
}
