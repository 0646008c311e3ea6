//! Every setting of the bridge, declared once in [`Settings`]: each field is a command-line
//! flag, an `MQTTWIRE_*` environment variable (clap) and a key of the TOML file (serde),
//! under the same kebab-case name. Flags and environment over the file is
//! [`Settings::over`], the one merge; the defaults and the checks are in
//! [`Config`](super::Config), which [`Config::from_cli`](super::Config::from_cli) makes of
//! the merged settings.
//!
//! A new setting is a field here, with its doc (the `--help` text) and its `#[arg]`, and
//! its checked form in `Config`: `settings!` writes the merge from the field list.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Parser;
use serde::Deserialize;

use super::{Balance, ConfigError, LogFormat};
use crate::acl::AclRule;
use crate::auth::JwtAlgorithm;

/// Declares [`Settings`] as written and derives [`Settings::over`] from its field list, so
/// the merge can never miss a setting: each field's [`Layer`] says how a given value wins
/// over the lower layer's.
macro_rules! settings {
    (
        $(#[$meta:meta])*
        pub struct Settings {
            $( $(#[$field_meta:meta])* pub $field:ident: $ty:ty, )*
        }
    ) => {
        $(#[$meta])*
        pub struct Settings {
            $( $(#[$field_meta])* pub $field: $ty, )*
        }

        impl Settings {
            /// These settings (flags and environment) over `lower` (the file's): a value
            /// given here wins, one not given comes from `lower`. What neither gives takes
            /// its default when the settings become a [`Config`](super::Config).
            pub fn over(self, lower: Settings) -> Settings {
                Settings { $( $field: Layer::over(self.$field, lower.$field), )* }
            }
        }
    };
}

settings! {
    /// mqttwire-bridge: browsers speak MQTT over WebSocket to this bridge, which opens one
    /// TCP or TLS connection per WebSocket to an existing MQTT broker and relays both ways,
    /// checking the MQTT it relays. Every flag can also be set as MQTTWIRE_<FLAG> in the
    /// environment (e.g. MQTTWIRE_BROKER) or in a TOML file given with --config (keys are the
    /// flag names, e.g. `broker = ["mqtt://10.0.0.5:1883"]`, `idle-timeout = "5m"`).
    #[derive(Debug, Default, Parser, Deserialize)]
    #[command(name = "mqttwire-bridge", version, about)]
    #[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
    pub struct Settings {
        /// TOML file with any of the settings below; flags and environment variables win.
        #[arg(long, env = "MQTTWIRE_CONFIG", value_name = "FILE")]
        #[serde(skip)]
        pub config: Option<PathBuf>,
        /// Address to listen on [default: 127.0.0.1:8080].
        #[arg(long, env = "MQTTWIRE_LISTEN", value_name = "ADDR")]
        pub listen: Option<SocketAddr>,
        /// Upstream broker, mqtt://host:port or mqtts://host:port; repeat (or separate with
        /// commas) for the nodes of a cluster. Without any, an embedded development broker
        /// starts on loopback.
        #[arg(
            long = "broker",
            env = "MQTTWIRE_BROKER",
            value_name = "URL",
            value_delimiter = ','
        )]
        #[serde(rename = "broker", alias = "brokers")]
        pub brokers: Vec<String>,
        /// How new connections pick a broker when there are several [default: round-robin].
        #[arg(long, env = "MQTTWIRE_BALANCE", value_enum)]
        pub balance: Option<Balance>,
        /// PEM file of extra CA certificates trusted for mqtts:// brokers (besides the
        /// well-known web roots).
        #[arg(long, env = "MQTTWIRE_BROKER_CA", value_name = "FILE")]
        pub broker_ca: Option<PathBuf>,
        /// Path of the MQTT WebSocket endpoint [default: /mqtt].
        #[arg(long, env = "MQTTWIRE_PATH", value_name = "PATH")]
        pub path: Option<String>,
        /// Directory of a built web app to serve on every other path.
        #[arg(long, env = "MQTTWIRE_SERVE", value_name = "DIR")]
        pub serve: Option<PathBuf>,
        /// PEM certificate chain: serve wss:// and https:// (needs --tls-key).
        #[arg(long, env = "MQTTWIRE_TLS_CERT", value_name = "FILE")]
        pub tls_cert: Option<PathBuf>,
        /// PEM private key for --tls-cert.
        #[arg(long, env = "MQTTWIRE_TLS_KEY", value_name = "FILE")]
        pub tls_key: Option<PathBuf>,
        /// Accept WebSocket clients that offer no MQTT subprotocol (refused by default).
        #[arg(long, env = "MQTTWIRE_ALLOW_NO_SUBPROTOCOL")]
        pub allow_no_subprotocol: bool,
        /// Allowed Origin of the pages that may connect (e.g. https://app.example.com); repeat
        /// for several, or give '*' for any. Without any, upgrades that carry an Origin (every
        /// browser's) are refused; clients that send none (not browsers) are not affected.
        #[arg(
            long = "origin",
            env = "MQTTWIRE_ORIGIN",
            value_name = "ORIGIN",
            value_delimiter = ','
        )]
        #[serde(rename = "origin", alias = "origins")]
        pub origins: Vec<String>,
        /// Networks (CIDR) whose X-Forwarded-For and PROXY protocol headers are believed.
        #[arg(
            long = "trusted-proxy",
            env = "MQTTWIRE_TRUSTED_PROXY",
            value_name = "CIDR",
            value_delimiter = ','
        )]
        #[serde(rename = "trusted-proxy", alias = "trusted-proxies")]
        pub trusted_proxies: Vec<String>,
        /// Expect a PROXY protocol v1/v2 header on connections from trusted proxies.
        #[arg(long, env = "MQTTWIRE_PROXY_PROTOCOL")]
        pub proxy_protocol: bool,
        /// Most open connections in total [default: 10000].
        #[arg(long, env = "MQTTWIRE_MAX_CONNECTIONS", value_name = "N")]
        pub max_connections: Option<usize>,
        /// Most open connections (HTTP and WebSocket) per client: an IPv4 address or an IPv6
        /// /64, counted at accept (behind a trusted proxy: its PROXY source, or the
        /// X-Forwarded-For client at the upgrade) [default: 100].
        #[arg(long, env = "MQTTWIRE_MAX_CONNECTIONS_PER_IP", value_name = "N")]
        pub max_connections_per_ip: Option<usize>,
        /// Time allowed for the HTTP request and WebSocket handshake [default: 10s].
        #[arg(long, env = "MQTTWIRE_HANDSHAKE_TIMEOUT", value_name = "DURATION")]
        pub handshake_timeout: Option<String>,
        /// Time allowed for the client's CONNECT after the handshake [default: 10s].
        #[arg(long, env = "MQTTWIRE_CONNECT_TIMEOUT", value_name = "DURATION")]
        pub connect_timeout: Option<String>,
        /// Close a connection when nothing crosses it for this long (checked once per period,
        /// so within twice this); 0 turns it off [default: 5m].
        #[arg(long, env = "MQTTWIRE_IDLE_TIMEOUT", value_name = "DURATION")]
        pub idle_timeout: Option<String>,
        /// Close a connection whose peer (browser or broker) reads nothing for this long while
        /// the bridge has something to send it [default: 30s].
        #[arg(long, env = "MQTTWIRE_WRITE_TIMEOUT", value_name = "DURATION")]
        pub write_timeout: Option<String>,
        /// Time allowed to open the upstream connection to one broker [default: 5s].
        #[arg(long, env = "MQTTWIRE_UPSTREAM_TIMEOUT", value_name = "DURATION")]
        pub upstream_timeout: Option<String>,
        /// After a broker refuses or times out, new connections skip it for this long and go
        /// to the other brokers (it is still tried when every broker is in its cooldown); 0
        /// turns skipping off [default: 10s].
        #[arg(long, env = "MQTTWIRE_BROKER_COOLDOWN", value_name = "DURATION")]
        pub broker_cooldown: Option<String>,
        /// On SIGTERM/SIGINT, let connections finish for this long before closing them with
        /// 1001 going away [default: 10s].
        #[arg(long, env = "MQTTWIRE_DRAIN_TIMEOUT", value_name = "DURATION")]
        pub drain_timeout: Option<String>,
        /// Largest HTTP request head in bytes [default: 8192].
        #[arg(long, env = "MQTTWIRE_MAX_HEADER_SIZE", value_name = "BYTES")]
        pub max_header_size: Option<usize>,
        /// Largest MQTT packet relayed either way, checked before it is buffered; also the
        /// largest WebSocket message and frame [default: 4194304].
        #[arg(long, env = "MQTTWIRE_MAX_PACKET_SIZE", value_name = "BYTES")]
        pub max_packet_size: Option<u32>,
        /// Largest CONNECT accepted, checked before it is buffered: what an unauthenticated
        /// client can make the bridge hold [default: 65536].
        #[arg(long, env = "MQTTWIRE_MAX_CONNECT_SIZE", value_name = "BYTES")]
        pub max_connect_size: Option<u32>,
        /// Most MQTT packets a second one connection may send; past it the bridge reads that
        /// client more slowly (0: no limit) [default: 0].
        #[arg(long, env = "MQTTWIRE_MAX_MESSAGE_RATE", value_name = "N")]
        pub max_message_rate: Option<u32>,
        /// Most bytes a second one connection may send, read more slowly past it (0: no
        /// limit) [default: 0].
        #[arg(long, env = "MQTTWIRE_MAX_BYTE_RATE", value_name = "BYTES")]
        pub max_byte_rate: Option<u64>,
        /// Most new connections a second from one client (IPv4 address, IPv6 /64), with as
        /// many in a burst; more are closed at accept (0: no limit) [default: 0].
        #[arg(long, env = "MQTTWIRE_MAX_CONNECT_RATE", value_name = "N")]
        pub max_connect_rate: Option<u32>,
        /// Most bytes of partial packets held for all clients together; a connection that
        /// would take the total past it is closed (quota exceeded, try again later) [default:
        /// 536870912].
        #[arg(long, env = "MQTTWIRE_MAX_BUFFERED_BYTES", value_name = "BYTES")]
        pub max_buffered_bytes: Option<u64>,
        /// Largest WebSocket message sent to a browser when coalescing packets [default: 65536].
        #[arg(long, env = "MQTTWIRE_COALESCE_LIMIT", value_name = "BYTES")]
        pub coalesce_limit: Option<usize>,
        /// Send exactly one MQTT packet per WebSocket message to browsers.
        #[arg(long, env = "MQTTWIRE_ONE_PACKET_PER_MESSAGE")]
        pub one_packet_per_message: bool,
        /// Relay bytes without checking MQTT.
        #[arg(long, env = "MQTTWIRE_TRANSPARENT")]
        pub transparent: bool,
        /// Serve /metrics (and /healthz, /readyz) on this address, meant for the monitoring
        /// network; the public port never serves /metrics [default: none].
        #[arg(long, env = "MQTTWIRE_METRICS_LISTEN", value_name = "ADDR")]
        pub metrics_listen: Option<SocketAddr>,
        /// Log format [default: text]; the level comes from RUST_LOG (default info).
        #[arg(long, env = "MQTTWIRE_LOG_FORMAT", value_enum)]
        pub log_format: Option<LogFormat>,
        /// Authenticate clients at the bridge: the CONNECT password must be a JSON Web Token
        /// signed with this key (HS256: the shared secret; RS256/ES256: a PEM public key).
        /// Refused clients get CONNACK "not authorized" and never reach the broker.
        #[arg(long, env = "MQTTWIRE_JWT_KEY", value_name = "FILE")]
        pub jwt_key: Option<PathBuf>,
        /// Authenticate with the keys of a JWK Set file instead (JSON, as an identity provider
        /// publishes it): a token's `kid` picks the key. SIGHUP reloads it.
        #[arg(
            long,
            env = "MQTTWIRE_JWT_JWKS",
            value_name = "FILE",
            conflicts_with = "jwt_key"
        )]
        pub jwt_jwks: Option<PathBuf>,
        /// The algorithm tokens are signed with [default: HS256].
        #[arg(long, env = "MQTTWIRE_JWT_ALGORITHM", value_enum)]
        pub jwt_algorithm: Option<JwtAlgorithm>,
        /// Required `iss` claim.
        #[arg(long, env = "MQTTWIRE_JWT_ISSUER", value_name = "ISSUER")]
        pub jwt_issuer: Option<String>,
        /// Required `aud` claim.
        #[arg(long, env = "MQTTWIRE_JWT_AUDIENCE", value_name = "AUDIENCE")]
        pub jwt_audience: Option<String>,
        /// The claim naming the user, `%u` in ACL rules [default: sub].
        #[arg(long, env = "MQTTWIRE_JWT_USERNAME_CLAIM", value_name = "CLAIM")]
        pub jwt_username_claim: Option<String>,
        /// A claim the CONNECT client id must equal.
        #[arg(long, env = "MQTTWIRE_JWT_CLIENT_ID_CLAIM", value_name = "CLAIM")]
        pub jwt_client_id_claim: Option<String>,
        /// The cookie holding the token for clients that send no CONNECT password (after the
        /// `?token=` query parameter) [default: mqttwire_token].
        #[arg(long, env = "MQTTWIRE_JWT_COOKIE", value_name = "NAME")]
        pub jwt_cookie: Option<String>,
        /// Topic ACL rules (`[[acl]]` tables); only in the file.
        #[arg(skip)]
        pub acl: Vec<AclRule>,
    }
}

/// [`Settings`] under its earlier name, as callers that parse the command line with
/// `Cli::parse_from(...)` know it.
pub type Cli = Settings;

impl Settings {
    /// Reads the TOML file at `path`: its keys are the flag names (`idle-timeout = "5m"`),
    /// plus the `[[acl]]` tables, which only the file holds. An unknown key is an error.
    pub fn from_file(path: &Path) -> Result<Settings, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::ParseFile {
            path: path.to_owned(),
            message: e.to_string(),
        })
    }
}

/// How a setting given in a higher layer (flags, environment) combines with the same
/// setting of a lower one (the file).
trait Layer {
    /// `self` if it was given, else `lower`.
    fn over(self, lower: Self) -> Self;
}

impl<T> Layer for Option<T> {
    fn over(self, lower: Self) -> Self {
        self.or(lower)
    }
}

/// A list given at all replaces the lower one whole: `--broker` on the command line is the
/// whole cluster, not nodes added to the file's.
impl<T> Layer for Vec<T> {
    fn over(self, lower: Self) -> Self {
        if self.is_empty() { lower } else { self }
    }
}

/// A switch is on when any layer turns it on (a flag cannot be given as "off").
impl Layer for bool {
    fn over(self, lower: Self) -> Self {
        self || lower
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_value_wins_over_the_lower_layer() {
        let flags = Settings {
            listen: Some("127.0.0.1:7000".parse().expect("addr")),
            brokers: vec!["mqtt://a:1".into()],
            transparent: false,
            ..Settings::default()
        };
        let file = Settings {
            listen: Some("0.0.0.0:9000".parse().expect("addr")),
            brokers: vec!["mqtt://b:1".into(), "mqtt://c:1".into()],
            path: Some("/ws".into()),
            transparent: true,
            ..Settings::default()
        };
        let merged = flags.over(file);
        assert_eq!(merged.listen, Some("127.0.0.1:7000".parse().expect("addr")));
        assert_eq!(merged.brokers, ["mqtt://a:1"]);
        assert_eq!(merged.path.as_deref(), Some("/ws"));
        assert!(merged.transparent);
        assert_eq!(merged.max_connections, None);
    }

    #[test]
    fn reads_the_file_keys_by_their_flag_names() {
        let file: Settings = toml::from_str(
            "brokers = [\"mqtt://b:1\"]\norigin = [\"https://a.example\"]\n\
             trusted-proxies = [\"10.0.0.0/8\"]\nproxy-protocol = true\n\
             max-connections-per-ip = 3\njwt-algorithm = \"RS256\"\n\
             [[acl]]\ntopic = \"t/#\"\naccess = \"read\"\n",
        )
        .expect("valid");
        assert_eq!(file.brokers, ["mqtt://b:1"]);
        assert_eq!(file.origins, ["https://a.example"]);
        assert_eq!(file.trusted_proxies, ["10.0.0.0/8"]);
        assert!(file.proxy_protocol);
        assert_eq!(file.max_connections_per_ip, Some(3));
        assert_eq!(file.jwt_algorithm, Some(JwtAlgorithm::Rs256));
        assert_eq!(file.acl.len(), 1);
        for unknown in ["config = \"x.toml\"\n", "acl-rules = []\n", "brokr = []\n"] {
            assert!(toml::from_str::<Settings>(unknown).is_err(), "{unknown}");
        }
    }

    #[test]
    fn parses_flags_and_their_comma_lists() {
        let flags = Settings::try_parse_from([
            "mqttwire-bridge",
            "--broker",
            "mqtt://a:1,mqtt://b:1",
            "--broker",
            "mqtt://c:1",
            "--transparent",
            "--idle-timeout",
            "90s",
        ])
        .expect("valid");
        assert_eq!(flags.brokers, ["mqtt://a:1", "mqtt://b:1", "mqtt://c:1"]);
        assert!(flags.transparent);
        assert_eq!(flags.idle_timeout.as_deref(), Some("90s"));
        assert!(Settings::try_parse_from(["mqttwire-bridge", "--acl", "x"]).is_err());
    }
}
