//! The bridge's configuration: command-line flags, `MQTTWIRE_*` environment variables and a
//! TOML file, in that order of precedence, over safe defaults. Every value is checked once
//! here, so the rest of the bridge works with a [`Config`] that holds only valid settings.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use ipnet::IpNet;
use serde::Deserialize;

use crate::acl::{Acl, AclRule};
use crate::auth::{JwtAlgorithm, JwtSettings, JwtVerifier};

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

/// How new connections choose among several brokers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Balance {
    /// Spread connections over the brokers in turn; skip those that do not answer.
    RoundRobin,
    /// Always try the brokers in the order given; use the first that answers.
    Failover,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// A setting that is wrong; the message names it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A broker URL that is not `mqtt://host:port` or `mqtts://host:port`.
    #[error("invalid broker URL {0:?}: expected mqtt://host:port or mqtts://host:port")]
    BrokerUrl(String),
    /// A duration that does not parse ("10s", "250ms", ...).
    #[error("invalid duration for {name}: {value:?} ({reason})")]
    Duration {
        /// The setting.
        name: &'static str,
        /// The text given.
        value: String,
        /// Why it does not parse.
        reason: String,
    },
    /// A trusted network that is not an address or CIDR block.
    #[error("invalid trusted network {0:?}: expected an address or CIDR block like 10.0.0.0/8")]
    Network(String),
    /// A path that must start with `/`.
    #[error("invalid WebSocket path {0:?}: it must start with '/'")]
    Path(String),
    /// A number outside its range.
    #[error("invalid value for {name}: {reason}")]
    Range {
        /// The setting.
        name: &'static str,
        /// What is allowed.
        reason: &'static str,
    },
    /// TLS needs both a certificate and a key.
    #[error("--tls-cert and --tls-key must be given together")]
    TlsPair,
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// An `[[acl]]` rule whose topic is not a filter.
    #[error("invalid ACL rule {topic:?}: {reason}")]
    AclRule {
        /// The rule's topic.
        topic: String,
        /// Why it is not a filter.
        reason: String,
    },
    /// The JWT key file cannot be read or is not a key for the algorithm.
    #[error("invalid --jwt-key {path}: {reason}")]
    JwtKey {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A JWT setting without --jwt-key.
    #[error("{0} needs --jwt-key")]
    JwtWithoutKey(&'static str),
    /// The config file is not valid TOML for these settings.
    #[error("invalid config file {path}: {message}")]
    ParseFile {
        /// The file.
        path: PathBuf,
        /// What the TOML parser said (unknown keys are errors).
        message: String,
    },
}

/// mqttwire-bridge: browsers speak MQTT over WebSocket to this bridge, which opens one
/// TCP or TLS connection per WebSocket to an existing MQTT broker and relays both ways,
/// checking the MQTT it relays. Every flag can also be set as MQTTWIRE_<FLAG> in the
/// environment (e.g. MQTTWIRE_BROKER) or in a TOML file given with --config (keys are the
/// flag names, e.g. `broker = ["mqtt://10.0.0.5:1883"]`, `idle-timeout = "5m"`).
#[derive(Debug, Default, Parser)]
#[command(name = "mqttwire-bridge", version, about)]
pub struct Cli {
    /// TOML file with any of the settings below; flags and environment variables win.
    #[arg(long, env = "MQTTWIRE_CONFIG", value_name = "FILE")]
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
    pub origins: Vec<String>,
    /// Networks (CIDR) whose X-Forwarded-For and PROXY protocol headers are believed.
    #[arg(
        long = "trusted-proxy",
        env = "MQTTWIRE_TRUSTED_PROXY",
        value_name = "CIDR",
        value_delimiter = ','
    )]
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
}

/// The same settings as [`Cli`], from a TOML file.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    #[serde(default, alias = "brokers")]
    broker: Vec<String>,
    balance: Option<Balance>,
    broker_ca: Option<PathBuf>,
    path: Option<String>,
    serve: Option<PathBuf>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    allow_no_subprotocol: Option<bool>,
    #[serde(default, alias = "origins")]
    origin: Vec<String>,
    #[serde(default, alias = "trusted-proxies")]
    trusted_proxy: Vec<String>,
    proxy_protocol: Option<bool>,
    max_connections: Option<usize>,
    max_connections_per_ip: Option<usize>,
    handshake_timeout: Option<String>,
    connect_timeout: Option<String>,
    idle_timeout: Option<String>,
    write_timeout: Option<String>,
    upstream_timeout: Option<String>,
    broker_cooldown: Option<String>,
    drain_timeout: Option<String>,
    max_header_size: Option<usize>,
    max_packet_size: Option<u32>,
    max_connect_size: Option<u32>,
    max_message_rate: Option<u32>,
    max_byte_rate: Option<u64>,
    max_connect_rate: Option<u32>,
    max_buffered_bytes: Option<u64>,
    coalesce_limit: Option<usize>,
    one_packet_per_message: Option<bool>,
    transparent: Option<bool>,
    metrics_listen: Option<SocketAddr>,
    log_format: Option<LogFormat>,
    jwt_key: Option<PathBuf>,
    jwt_jwks: Option<PathBuf>,
    jwt_algorithm: Option<JwtAlgorithm>,
    jwt_issuer: Option<String>,
    jwt_audience: Option<String>,
    jwt_username_claim: Option<String>,
    jwt_client_id_claim: Option<String>,
    jwt_cookie: Option<String>,
    /// Topic ACL rules (`[[acl]]` tables); only in the file.
    #[serde(default)]
    acl: Vec<AclRule>,
}

/// The bridge's settings, all checked.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Upstream brokers; empty means the embedded broker (filled in by `main`).
    pub brokers: Vec<BrokerUrl>,
    /// How connections pick a broker.
    pub balance: Balance,
    /// Extra CA certificates for mqtts:// brokers.
    pub broker_ca: Option<PathBuf>,
    /// WebSocket endpoint path.
    pub path: String,
    /// Web app directory.
    pub serve: Option<PathBuf>,
    /// TLS certificate and key for wss://.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Accept clients that offer no MQTT subprotocol.
    pub allow_no_subprotocol: bool,
    /// Allowed origins: empty refuses browsers, `*` allows any.
    pub origins: Vec<String>,
    /// Trusted proxy networks.
    pub trusted_proxies: Vec<IpNet>,
    /// Expect PROXY protocol headers from trusted proxies.
    pub proxy_protocol: bool,
    /// Connection limit in total.
    pub max_connections: usize,
    /// Connection limit per client (IPv4 address, IPv6 /64).
    pub max_connections_per_ip: usize,
    /// HTTP request and handshake deadline.
    pub handshake_timeout: Duration,
    /// Deadline for the client's CONNECT.
    pub connect_timeout: Duration,
    /// Idle timeout; zero turns it off.
    pub idle_timeout: Duration,
    /// Deadline for a write to make progress.
    pub write_timeout: Duration,
    /// Deadline to open one upstream connection.
    pub upstream_timeout: Duration,
    /// How long a broker that failed is skipped by new connections; zero never skips.
    pub broker_cooldown: Duration,
    /// Drain time on shutdown.
    pub drain_timeout: Duration,
    /// Largest HTTP request head.
    pub max_header_size: usize,
    /// Largest MQTT packet / WebSocket message.
    pub max_packet_size: u32,
    /// Largest CONNECT.
    pub max_connect_size: u32,
    /// Packets a second per connection from the client; 0: no limit.
    pub max_message_rate: u32,
    /// Bytes a second per connection from the client; 0: no limit.
    pub max_byte_rate: u64,
    /// New connections a second per client; 0: no limit.
    pub max_connect_rate: u32,
    /// Bytes of partial packets held for all clients together.
    pub max_buffered_bytes: u64,
    /// Largest coalesced message toward browsers.
    pub coalesce_limit: usize,
    /// One packet per WebSocket message toward browsers.
    pub one_packet_per_message: bool,
    /// Relay bytes only.
    pub transparent: bool,
    /// Where /metrics is served, if anywhere.
    pub metrics_listen: Option<SocketAddr>,
    /// Log format.
    pub log_format: LogFormat,
    /// Edge authentication with JSON Web Tokens; `None` leaves it to the broker.
    pub jwt: Option<Arc<JwtVerifier>>,
    /// Topic ACL rules; empty leaves authorization to the broker.
    pub acl: Acl,
    /// The cookie that may hold the token.
    pub jwt_cookie: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            brokers: Vec::new(),
            balance: Balance::RoundRobin,
            broker_ca: None,
            path: "/mqtt".to_owned(),
            serve: None,
            tls: None,
            allow_no_subprotocol: false,
            origins: Vec::new(),
            trusted_proxies: Vec::new(),
            proxy_protocol: false,
            max_connections: 10_000,
            max_connections_per_ip: 100,
            handshake_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
            write_timeout: Duration::from_secs(30),
            upstream_timeout: Duration::from_secs(5),
            broker_cooldown: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(10),
            max_header_size: 8 * 1024,
            max_packet_size: 4 << 20,
            max_connect_size: 64 * 1024,
            max_message_rate: 0,
            max_byte_rate: 0,
            max_connect_rate: 0,
            max_buffered_bytes: 512 << 20,
            coalesce_limit: 64 * 1024,
            one_packet_per_message: false,
            transparent: false,
            metrics_listen: None,
            log_format: LogFormat::Text,
            jwt: None,
            acl: Acl::default(),
            jwt_cookie: "mqttwire_token".to_owned(),
        }
    }
}

impl Config {
    /// Resolves flags and environment (already in `cli`) over the config file it names
    /// (if any) over the defaults.
    pub fn from_cli(cli: Cli) -> Result<Config, ConfigError> {
        let file = match &cli.config {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
                        path: path.clone(),
                        source,
                    })?;
                toml::from_str::<FileConfig>(&text).map_err(|e| ConfigError::ParseFile {
                    path: path.clone(),
                    message: e.to_string(),
                })?
            }
            None => FileConfig::default(),
        };
        let d = Config::default();
        let pick_list =
            |cli: Vec<String>, file: Vec<String>| if cli.is_empty() { file } else { cli };
        let brokers = pick_list(cli.brokers, file.broker)
            .iter()
            .map(|u| BrokerUrl::parse(u.trim()))
            .collect::<Result<Vec<_>, _>>()?;
        let trusted_proxies = pick_list(cli.trusted_proxies, file.trusted_proxy)
            .iter()
            .map(|n| parse_network(n.trim()))
            .collect::<Result<Vec<_>, _>>()?;
        let origins: Vec<String> = pick_list(cli.origins, file.origin)
            .into_iter()
            .map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase())
            .collect();
        let path = cli.path.or(file.path).unwrap_or(d.path);
        if !path.starts_with('/') {
            return Err(ConfigError::Path(path));
        }
        let tls = match (cli.tls_cert.or(file.tls_cert), cli.tls_key.or(file.tls_key)) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => return Err(ConfigError::TlsPair),
        };
        let duration =
            |name: &'static str, cli: Option<String>, file: Option<String>, default: Duration| {
                match cli.or(file) {
                    Some(text) => {
                        humantime::parse_duration(text.trim()).map_err(|e| ConfigError::Duration {
                            name,
                            value: text.clone(),
                            reason: e.to_string(),
                        })
                    }
                    None => Ok(default),
                }
            };
        let jwks = cli.jwt_jwks.or(file.jwt_jwks);
        let key = cli.jwt_key.or(file.jwt_key);
        if key.is_some() && jwks.is_some() {
            return Err(ConfigError::Range {
                name: "jwt-key",
                reason: "give --jwt-key or --jwt-jwks, not both",
            });
        }
        let jwt = load_jwt(
            key.clone().or(jwks.clone()),
            JwtSettings {
                key_file: PathBuf::new(),
                jwks: jwks.is_some(),
                algorithm: cli
                    .jwt_algorithm
                    .or(file.jwt_algorithm)
                    .unwrap_or(JwtAlgorithm::Hs256),
                issuer: cli.jwt_issuer.or(file.jwt_issuer),
                audience: cli.jwt_audience.or(file.jwt_audience),
                username_claim: cli
                    .jwt_username_claim
                    .or(file.jwt_username_claim)
                    .unwrap_or_else(|| "sub".to_owned()),
                client_id_claim: cli.jwt_client_id_claim.or(file.jwt_client_id_claim),
            },
            cli.jwt_algorithm.is_some() || file.jwt_algorithm.is_some(),
        )?;
        let acl = Acl::new(file.acl)?;
        let config = Config {
            listen: cli.listen.or(file.listen).unwrap_or(d.listen),
            brokers,
            balance: cli.balance.or(file.balance).unwrap_or(d.balance),
            broker_ca: cli.broker_ca.or(file.broker_ca),
            path,
            serve: cli.serve.or(file.serve),
            tls,
            allow_no_subprotocol: cli.allow_no_subprotocol
                || file.allow_no_subprotocol.unwrap_or(false),
            origins,
            trusted_proxies,
            proxy_protocol: cli.proxy_protocol || file.proxy_protocol.unwrap_or(false),
            max_connections: cli
                .max_connections
                .or(file.max_connections)
                .unwrap_or(d.max_connections),
            max_connections_per_ip: cli
                .max_connections_per_ip
                .or(file.max_connections_per_ip)
                .unwrap_or(d.max_connections_per_ip),
            handshake_timeout: duration(
                "handshake-timeout",
                cli.handshake_timeout,
                file.handshake_timeout,
                d.handshake_timeout,
            )?,
            connect_timeout: duration(
                "connect-timeout",
                cli.connect_timeout,
                file.connect_timeout,
                d.connect_timeout,
            )?,
            idle_timeout: duration(
                "idle-timeout",
                cli.idle_timeout,
                file.idle_timeout,
                d.idle_timeout,
            )?,
            write_timeout: duration(
                "write-timeout",
                cli.write_timeout,
                file.write_timeout,
                d.write_timeout,
            )?,
            upstream_timeout: duration(
                "upstream-timeout",
                cli.upstream_timeout,
                file.upstream_timeout,
                d.upstream_timeout,
            )?,
            broker_cooldown: duration(
                "broker-cooldown",
                cli.broker_cooldown,
                file.broker_cooldown,
                d.broker_cooldown,
            )?,
            drain_timeout: duration(
                "drain-timeout",
                cli.drain_timeout,
                file.drain_timeout,
                d.drain_timeout,
            )?,
            max_header_size: cli
                .max_header_size
                .or(file.max_header_size)
                .unwrap_or(d.max_header_size),
            max_packet_size: cli
                .max_packet_size
                .or(file.max_packet_size)
                .unwrap_or(d.max_packet_size),
            max_connect_size: cli
                .max_connect_size
                .or(file.max_connect_size)
                .unwrap_or(d.max_connect_size),
            max_message_rate: cli
                .max_message_rate
                .or(file.max_message_rate)
                .unwrap_or(d.max_message_rate),
            max_byte_rate: cli
                .max_byte_rate
                .or(file.max_byte_rate)
                .unwrap_or(d.max_byte_rate),
            max_connect_rate: cli
                .max_connect_rate
                .or(file.max_connect_rate)
                .unwrap_or(d.max_connect_rate),
            max_buffered_bytes: cli
                .max_buffered_bytes
                .or(file.max_buffered_bytes)
                .unwrap_or(d.max_buffered_bytes),
            coalesce_limit: cli
                .coalesce_limit
                .or(file.coalesce_limit)
                .unwrap_or(d.coalesce_limit),
            one_packet_per_message: cli.one_packet_per_message
                || file.one_packet_per_message.unwrap_or(false),
            transparent: cli.transparent || file.transparent.unwrap_or(false),
            metrics_listen: cli.metrics_listen.or(file.metrics_listen),
            log_format: cli.log_format.or(file.log_format).unwrap_or(d.log_format),
            jwt,
            acl,
            jwt_cookie: cli.jwt_cookie.or(file.jwt_cookie).unwrap_or(d.jwt_cookie),
        };
        config.check()?;
        Ok(config)
    }

    /// Checks the ranges a hand-built config must respect too.
    ///
    /// (The JWT key and the ACL rules are checked when they are loaded.)
    pub fn check(&self) -> Result<(), ConfigError> {
        let range = |ok: bool, name, reason| {
            if ok {
                Ok(())
            } else {
                Err(ConfigError::Range { name, reason })
            }
        };
        range(
            self.max_connections > 0,
            "max-connections",
            "must be at least 1",
        )?;
        range(
            self.max_connections_per_ip > 0,
            "max-connections-per-ip",
            "must be at least 1",
        )?;
        range(
            self.max_header_size >= 1024,
            "max-header-size",
            "must be at least 1024 bytes",
        )?;
        range(
            self.max_packet_size >= 128,
            "max-packet-size",
            "must be at least 128 bytes",
        )?;
        range(
            self.max_packet_size <= mqttwire::MAX_PACKET_SIZE,
            "max-packet-size",
            "must be at most 268435455 bytes, MQTT's own limit",
        )?;
        range(
            self.max_connect_size >= 128,
            "max-connect-size",
            "must be at least 128 bytes",
        )?;
        range(
            (1..=16 << 20).contains(&self.coalesce_limit),
            "coalesce-limit",
            "must be from 1 byte to 16 MiB",
        )?;
        range(
            !self.handshake_timeout.is_zero(),
            "handshake-timeout",
            "must be above zero",
        )?;
        range(
            !self.connect_timeout.is_zero(),
            "connect-timeout",
            "must be above zero",
        )?;
        range(
            !self.write_timeout.is_zero(),
            "write-timeout",
            "must be above zero",
        )?;
        range(
            !self.upstream_timeout.is_zero(),
            "upstream-timeout",
            "must be above zero",
        )?;
        range(
            !(self.transparent && (self.jwt.is_some() || !self.acl.is_empty())),
            "transparent",
            "relays bytes unread, so it cannot check a JWT or an ACL",
        )?;
        Ok(())
    }
}

fn parse_network(text: &str) -> Result<IpNet, ConfigError> {
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| ConfigError::Network(text.to_owned()))
}

/// Loads the JWT verifier when a key file is given; a JWT setting without one is an error.
fn load_jwt(
    key_file: Option<PathBuf>,
    settings: JwtSettings,
    algorithm_given: bool,
) -> Result<Option<Arc<JwtVerifier>>, ConfigError> {
    let Some(key_file) = key_file else {
        let orphan = [
            (algorithm_given, "--jwt-algorithm"),
            (settings.issuer.is_some(), "--jwt-issuer"),
            (settings.audience.is_some(), "--jwt-audience"),
            (settings.client_id_claim.is_some(), "--jwt-client-id-claim"),
        ];
        return match orphan.into_iter().find(|(given, _)| *given) {
            Some((_, name)) => Err(ConfigError::JwtWithoutKey(name)),
            None => Ok(None),
        };
    };
    JwtVerifier::load(JwtSettings {
        key_file,
        ..settings
    })
    .map(|v| Some(Arc::new(v)))
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
    fn flags_win_over_the_file_which_wins_over_defaults() {
        let dir = std::env::temp_dir().join(format!("mqttwire-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("bridge.toml");
        std::fs::write(
            &file,
            "broker = [\"mqtt://10.0.0.1:1883\", \"mqtt://10.0.0.2:1883\"]\nbalance = \"failover\"\nidle-timeout = \"90s\"\nlisten = \"0.0.0.0:9000\"\n",
        )
        .expect("write");
        let cli = Cli {
            config: Some(file.clone()),
            listen: Some("127.0.0.1:7000".parse().expect("addr")),
            ..Cli::default()
        };
        let config = Config::from_cli(cli).expect("valid");
        assert_eq!(config.listen.port(), 7000);
        assert_eq!(config.brokers.len(), 2);
        assert_eq!(config.balance, Balance::Failover);
        assert_eq!(config.idle_timeout, Duration::from_secs(90));
        assert_eq!(config.path, "/mqtt");
        std::fs::write(&file, "brokr = []\n").expect("write");
        let err = Config::from_cli(Cli {
            config: Some(file),
            ..Cli::default()
        })
        .expect_err("unknown key");
        assert!(err.to_string().contains("brokr"), "{err}");
    }

    #[test]
    fn rejects_bad_values_with_their_names() {
        let cli = Cli {
            handshake_timeout: Some("ten seconds".into()),
            ..Cli::default()
        };
        assert!(
            Config::from_cli(cli)
                .expect_err("bad")
                .to_string()
                .contains("handshake-timeout")
        );
        let cli = Cli {
            trusted_proxies: vec!["10.0.0.0/33".into()],
            ..Cli::default()
        };
        assert!(matches!(
            Config::from_cli(cli),
            Err(ConfigError::Network(_))
        ));
        let cli = Cli {
            tls_cert: Some("c.pem".into()),
            ..Cli::default()
        };
        assert!(matches!(Config::from_cli(cli), Err(ConfigError::TlsPair)));
        let cli = Cli {
            max_connections: Some(0),
            ..Cli::default()
        };
        assert!(matches!(
            Config::from_cli(cli),
            Err(ConfigError::Range {
                name: "max-connections",
                ..
            })
        ));
    }
}
