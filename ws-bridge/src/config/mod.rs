//! The bridge's configuration: command-line flags, `MQTTWIRE_*` environment variables and a
//! TOML file, in that order of precedence, over safe defaults. Each setting is declared once,
//! in [`Settings`] (flags, environment and file alike); [`Config::from_cli`] merges the
//! layers and checks every value once, so the rest of the bridge works with a [`Config`]
//! that holds only valid settings, and [`Config::default`] is the one place for defaults.

mod settings;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;

pub use self::settings::{Cli, Settings};
use crate::acl::Acl;
use crate::auth::{JwtAlgorithm, JwtSettings, JwtVerifier};
use crate::broker_url::BrokerUrl;

/// The algorithm tokens are signed with when `--jwt-algorithm` is not given.
const DEFAULT_JWT_ALGORITHM: JwtAlgorithm = JwtAlgorithm::Hs256;
/// The claim naming the user when `--jwt-username-claim` is not given.
const DEFAULT_JWT_USERNAME_CLAIM: &str = "sub";

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
    #[error("invalid broker URL {url:?}: {reason}")]
    BrokerUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
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
    pub fn from_cli(cli: Settings) -> Result<Config, ConfigError> {
        let file = match &cli.config {
            Some(path) => Settings::from_file(path)?,
            None => Settings::default(),
        };
        Config::from_settings(cli.over(file))
    }

    /// Checks merged `settings` into a config; what they do not give takes its default.
    pub fn from_settings(settings: Settings) -> Result<Config, ConfigError> {
        let s = settings;
        let d = Config::default();
        let brokers = s
            .brokers
            .iter()
            .map(|u| BrokerUrl::parse(u.trim()))
            .collect::<Result<Vec<_>, _>>()?;
        let trusted_proxies = s
            .trusted_proxies
            .iter()
            .map(|n| parse_network(n.trim()))
            .collect::<Result<Vec<_>, _>>()?;
        let origins: Vec<String> = s
            .origins
            .into_iter()
            .map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase())
            .collect();
        let path = s.path.unwrap_or(d.path);
        if !path.starts_with('/') {
            return Err(ConfigError::Path(path));
        }
        let tls = match (s.tls_cert, s.tls_key) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => return Err(ConfigError::TlsPair),
        };
        let duration = |name: &'static str, given: Option<String>, default: Duration| match given {
            Some(text) => {
                humantime::parse_duration(text.trim()).map_err(|e| ConfigError::Duration {
                    name,
                    value: text.clone(),
                    reason: e.to_string(),
                })
            }
            None => Ok(default),
        };
        if s.jwt_key.is_some() && s.jwt_jwks.is_some() {
            return Err(ConfigError::Range {
                name: "jwt-key",
                reason: "give --jwt-key or --jwt-jwks, not both",
            });
        }
        let jwt = load_jwt(
            s.jwt_key.clone().or(s.jwt_jwks.clone()),
            JwtSettings {
                key_file: PathBuf::new(),
                jwks: s.jwt_jwks.is_some(),
                algorithm: s.jwt_algorithm.unwrap_or(DEFAULT_JWT_ALGORITHM),
                issuer: s.jwt_issuer,
                audience: s.jwt_audience,
                username_claim: s
                    .jwt_username_claim
                    .unwrap_or_else(|| DEFAULT_JWT_USERNAME_CLAIM.to_owned()),
                client_id_claim: s.jwt_client_id_claim,
            },
            s.jwt_algorithm.is_some(),
        )?;
        let acl = Acl::new(s.acl)?;
        let config = Config {
            listen: s.listen.unwrap_or(d.listen),
            brokers,
            balance: s.balance.unwrap_or(d.balance),
            broker_ca: s.broker_ca,
            path,
            serve: s.serve,
            tls,
            allow_no_subprotocol: s.allow_no_subprotocol,
            origins,
            trusted_proxies,
            proxy_protocol: s.proxy_protocol,
            max_connections: s.max_connections.unwrap_or(d.max_connections),
            max_connections_per_ip: s.max_connections_per_ip.unwrap_or(d.max_connections_per_ip),
            handshake_timeout: duration(
                "handshake-timeout",
                s.handshake_timeout,
                d.handshake_timeout,
            )?,
            connect_timeout: duration("connect-timeout", s.connect_timeout, d.connect_timeout)?,
            idle_timeout: duration("idle-timeout", s.idle_timeout, d.idle_timeout)?,
            write_timeout: duration("write-timeout", s.write_timeout, d.write_timeout)?,
            upstream_timeout: duration("upstream-timeout", s.upstream_timeout, d.upstream_timeout)?,
            broker_cooldown: duration("broker-cooldown", s.broker_cooldown, d.broker_cooldown)?,
            drain_timeout: duration("drain-timeout", s.drain_timeout, d.drain_timeout)?,
            max_header_size: s.max_header_size.unwrap_or(d.max_header_size),
            max_packet_size: s.max_packet_size.unwrap_or(d.max_packet_size),
            max_connect_size: s.max_connect_size.unwrap_or(d.max_connect_size),
            max_message_rate: s.max_message_rate.unwrap_or(d.max_message_rate),
            max_byte_rate: s.max_byte_rate.unwrap_or(d.max_byte_rate),
            max_connect_rate: s.max_connect_rate.unwrap_or(d.max_connect_rate),
            max_buffered_bytes: s.max_buffered_bytes.unwrap_or(d.max_buffered_bytes),
            coalesce_limit: s.coalesce_limit.unwrap_or(d.coalesce_limit),
            one_packet_per_message: s.one_packet_per_message,
            transparent: s.transparent,
            metrics_listen: s.metrics_listen,
            log_format: s.log_format.unwrap_or(d.log_format),
            jwt,
            acl,
            jwt_cookie: s.jwt_cookie.unwrap_or(d.jwt_cookie),
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

    /// The `[default: ...]` in each flag's help is what `Config::default` holds: the help
    /// cannot drift from the one place the defaults are.
    #[test]
    fn the_help_states_the_defaults_config_default_holds() {
        use clap::{CommandFactory, Parser, ValueEnum};
        let mut checked = 0;
        for arg in Settings::command().get_arguments() {
            let (Some(long), Some(help)) = (arg.get_long(), arg.get_help()) else {
                continue;
            };
            let help = help.to_string();
            let Some((_, rest)) = help.split_once("[default: ") else {
                continue;
            };
            let value = rest.split(']').next().expect("a closing bracket");
            checked += 1;
            match (long, value) {
                (_, "none") => assert!(arg.get_default_values().is_empty(), "--{long}"),
                ("jwt-algorithm", _) => assert_eq!(
                    JwtAlgorithm::from_str(value, true),
                    Ok(DEFAULT_JWT_ALGORITHM),
                    "--{long}"
                ),
                ("jwt-username-claim", _) => assert_eq!(value, DEFAULT_JWT_USERNAME_CLAIM),
                _ => {
                    let flag = format!("--{long}");
                    let given = Settings::try_parse_from(["mqttwire-bridge", &flag, value])
                        .unwrap_or_else(|e| panic!("{flag} {value}: {e}"));
                    let config =
                        Config::from_cli(given).unwrap_or_else(|e| panic!("{flag} {value}: {e}"));
                    assert_eq!(
                        format!("{config:?}"),
                        format!("{:?}", Config::default()),
                        "{flag} {value}"
                    );
                }
            }
        }
        assert!(checked >= 25, "only {checked} defaults found in the help");
    }
}
