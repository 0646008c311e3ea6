//! Prometheus metrics of the bridge, served on `/metrics`.

use std::fmt::Write as _;

use mqttwire::PacketType;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Which way bytes or packets went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelValue)]
pub(crate) enum Direction {
    /// From the browser to the broker.
    Upstream,
    /// From the broker to the browser.
    Downstream,
}

/// Why a connection was refused or closed early.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelValue)]
pub(crate) enum Refusal {
    /// Too many connections in total.
    MaxConnections,
    /// Too many connections from one IP.
    MaxConnectionsPerIp,
    /// Too many new connections a second from one client.
    ConnectRate,
    /// Origin not allowed.
    Origin,
    /// No acceptable WebSocket subprotocol.
    Subprotocol,
    /// The HTTP request or handshake was not valid or too slow.
    Handshake,
    /// A bad PROXY protocol header.
    ProxyProtocol,
    /// TLS handshake failed.
    Tls,
    /// No CONNECT in time.
    ConnectTimeout,
    /// Edge authentication (JWT) or the ACL (the will) refused the CONNECT.
    NotAuthorized,
    /// The client broke the MQTT protocol.
    Malformed,
    /// A text frame or other WebSocket misuse.
    WebSocket,
    /// No broker answered.
    Upstream,
    /// Nothing crossed the connection for the idle timeout.
    Idle,
    /// The bytes held for all clients reached --max-buffered-bytes.
    Budget,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DirectionLabels {
    direction: Direction,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct PacketLabels {
    direction: Direction,
    r#type: TypeLabel,
}

/// An MQTT packet type as a label value (its upper-case name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct TypeLabel(PacketType);

impl EncodeLabelValue for TypeLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.0.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RefusalLabels {
    reason: Refusal,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct BrokerLabels {
    broker: String,
}

/// Every metric the bridge keeps.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    open: Gauge,
    buffered: Gauge,
    total: Counter,
    refused: Family<RefusalLabels, Counter>,
    bytes: Family<DirectionLabels, Counter>,
    packets: Family<PacketLabels, Counter>,
    upstream_failures: Family<BrokerLabels, Counter>,
    upstream_skipped: Family<BrokerLabels, Counter>,
    upstream_healthy: Family<BrokerLabels, Gauge>,
    upstream_connect_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Fresh metrics, registered under the `mqttwire_bridge` prefix.
    pub(crate) fn new() -> Metrics {
        let mut registry = Registry::with_prefix("mqttwire_bridge");
        let open = Gauge::default();
        let buffered = Gauge::default();
        let total = Counter::default();
        let refused = Family::<RefusalLabels, Counter>::default();
        let bytes = Family::<DirectionLabels, Counter>::default();
        let packets = Family::<PacketLabels, Counter>::default();
        let upstream_failures = Family::<BrokerLabels, Counter>::default();
        let upstream_skipped = Family::<BrokerLabels, Counter>::default();
        let upstream_healthy = Family::<BrokerLabels, Gauge>::default();
        let upstream_connect_seconds = Histogram::new([
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
        ]);
        registry.register(
            "connections_open",
            "WebSocket connections being relayed",
            open.clone(),
        );
        registry.register(
            "buffered_bytes",
            "Bytes of partial packets held for clients (bounded by --max-buffered-bytes)",
            buffered.clone(),
        );
        registry.register(
            "connections",
            "WebSocket connections accepted",
            total.clone(),
        );
        registry.register(
            "refused",
            "Connections refused or closed early, by reason",
            refused.clone(),
        );
        registry.register("bytes", "Bytes relayed, by direction", bytes.clone());
        registry.register(
            "packets",
            "MQTT packets relayed, by direction and type",
            packets.clone(),
        );
        registry.register(
            "upstream_failures",
            "Failed attempts to reach a broker",
            upstream_failures.clone(),
        );
        registry.register(
            "upstream_skipped",
            "New connections that passed over a broker because it failed within --broker-cooldown",
            upstream_skipped.clone(),
        );
        registry.register(
            "upstream_healthy",
            "1 while a broker takes new connections, 0 while it is skipped after a failure",
            upstream_healthy.clone(),
        );
        registry.register(
            "upstream_connect_seconds",
            "Time to open the connection to the broker",
            upstream_connect_seconds.clone(),
        );
        Metrics {
            registry,
            open,
            buffered,
            total,
            refused,
            bytes,
            packets,
            upstream_failures,
            upstream_skipped,
            upstream_healthy,
            upstream_connect_seconds,
        }
    }

    /// A WebSocket connection started relaying; the guard counts it open until dropped.
    pub(crate) fn connection(&self) -> OpenGuard {
        self.total.inc();
        self.open.inc();
        OpenGuard {
            open: self.open.clone(),
        }
    }

    /// The gauge of bytes held for clients, for the buffer budget.
    pub(crate) fn buffered(&self) -> Gauge {
        self.buffered.clone()
    }

    /// Counts a refusal.
    pub(crate) fn refused(&self, reason: Refusal) {
        self.refused.get_or_create(&RefusalLabels { reason }).inc();
    }

    /// The counters of one direction, for a connection to keep.
    pub(crate) fn direction(&self, direction: Direction) -> DirectionCounters {
        DirectionCounters {
            bytes: self
                .bytes
                .get_or_create(&DirectionLabels { direction })
                .clone(),
            packets: vec![None; 16],
            direction,
            family: self.packets.clone(),
        }
    }

    /// Counts relayed bytes.
    pub(crate) fn bytes(&self, direction: Direction, n: usize) {
        self.bytes
            .get_or_create(&DirectionLabels { direction })
            .inc_by(n as u64);
    }

    /// Counts one relayed packet of a type.
    pub(crate) fn packet(&self, direction: Direction, packet_type: PacketType) {
        self.packets
            .get_or_create(&PacketLabels {
                direction,
                r#type: TypeLabel(packet_type),
            })
            .inc();
    }

    /// Counts a failed attempt to reach a broker.
    pub(crate) fn upstream_failure(&self, broker: &str) {
        self.upstream_failures
            .get_or_create(&BrokerLabels {
                broker: broker.to_owned(),
            })
            .inc();
    }

    /// Counts a new connection that passed over a broker in its cooldown.
    pub(crate) fn upstream_skipped(&self, broker: &str) {
        self.upstream_skipped
            .get_or_create(&BrokerLabels {
                broker: broker.to_owned(),
            })
            .inc();
    }

    /// Marks a broker as taking new connections (`true`) or skipped after a failure.
    pub(crate) fn upstream_healthy(&self, broker: &str, healthy: bool) {
        self.upstream_healthy
            .get_or_create(&BrokerLabels {
                broker: broker.to_owned(),
            })
            .set(i64::from(healthy));
    }

    /// Records the time taken to reach a broker.
    pub(crate) fn upstream_connected(&self, seconds: f64) {
        self.upstream_connect_seconds.observe(seconds);
    }

    /// Connections open now.
    pub(crate) fn open_connections(&self) -> i64 {
        self.open.get()
    }

    /// The metrics in the Prometheus text format.
    pub(crate) fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// The counters of one direction, looked up once per connection so that counting a
/// message is an atomic add, not a locked map lookup.
#[derive(Debug)]
pub(crate) struct DirectionCounters {
    bytes: Counter,
    packets: Vec<Option<Counter>>,
    direction: Direction,
    family: Family<PacketLabels, Counter>,
}

impl DirectionCounters {
    /// Counts relayed bytes.
    pub(crate) fn bytes(&self, n: usize) {
        self.bytes.inc_by(n as u64);
    }

    /// Counts one relayed packet of a type.
    pub(crate) fn packet(&mut self, packet_type: PacketType) {
        let slot = &mut self.packets[packet_type as usize];
        let counter = slot.get_or_insert_with(|| {
            self.family
                .get_or_create(&PacketLabels {
                    direction: self.direction,
                    r#type: TypeLabel(packet_type),
                })
                .clone()
        });
        counter.inc();
    }
}

/// Counts a connection as open until dropped.
#[derive(Debug)]
pub(crate) struct OpenGuard {
    open: Gauge,
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.open.dec();
    }
}
