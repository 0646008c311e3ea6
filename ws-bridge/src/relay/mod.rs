//! Relaying one WebSocket to one broker connection, both ways, with backpressure.
//!
//! MQTT-aware by default: the first packet must be a CONNECT within the connect timeout;
//! every packet is decoded with the protocol crate in both directions (size checked before
//! it is buffered) and forwarded as the exact bytes it came in; toward the browser whole
//! packets only, several per WebSocket message up to the coalescing limit. Malformed input
//! closes this one connection, with DISCONNECT and the 5.0 reason code where the version
//! allows, and a close code and reason that name the broken rule.

mod coalesce;
mod end;
mod framing;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{FutureExt, SinkExt, StreamExt};
use mqttwire::{
    ConnAck, Connect, DecodeError, Decoder, Packet, PacketType, Property, ProtocolVersion,
    ReasonCode,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_util::sync::CancellationToken;

use crate::acl::ClientAcl;
use crate::budget::{BufferBudget, Charge};
use crate::config::Config;
use crate::deadline::WriteDeadline;
use crate::enforce::{Enforcer, SubAcks, Verdict};
use crate::metrics::{Direction, DirectionCounters, Metrics, Refusal};
use crate::ops::Readiness;
use crate::rate::{ConnectRate, LogLimiter, SendRate};
use crate::upstream::Upstreams;

use self::coalesce::Coalescer;
use self::end::{End, close, finish};
use self::framing::{Downstream, Framing};

/// Most bytes gathered for one write to the broker; further ready messages wait for the
/// next write.
const UP_BATCH: usize = 64 * 1024;
/// Bytes asked for by a read from the broker, doubled while reads fill the buffer (a
/// backlog: fewer, larger reads and WebSocket messages) up to [`DOWN_READ_MAX`].
const DOWN_READ_MIN: usize = 4 * 1024;
/// The largest read from the broker.
const DOWN_READ_MAX: usize = 64 * 1024;
/// A buffer larger than this is freed once empty rather than kept: idle connections are
/// many, and each keeps its buffers.
const KEEP_BUFFER: usize = 4 * 1024;
/// Packets the bridge itself answers to the client (acknowledgments of denied publishes,
/// SUBACKs of denied subscribes) waiting to be sent; when full, the client is not read.
const REPLIES: usize = 64;

/// Everything a connection needs from the bridge.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) metrics: Metrics,
    pub(crate) upstreams: Upstreams,
    pub(crate) shutdown: CancellationToken,
    /// Whether a broker answers, for `/readyz`.
    pub(crate) readiness: Readiness,
    /// New connections a second per client.
    pub(crate) connect_rate: ConnectRate,
    /// Refusal log lines a second.
    pub(crate) log: LogLimiter,
    /// The bytes held for all clients.
    pub(crate) budget: BufferBudget,
}

type WsSink<S> = SplitSink<WebSocketStream<S>, Message>;
type WsStream<S> = SplitStream<WebSocketStream<S>>;

/// Relays one upgraded WebSocket until either side ends it. `upgrade_token` is a token the
/// upgrade request carried (`?token=` or the token cookie), used when the CONNECT has no
/// password.
pub(crate) async fn relay<S>(
    ws: WebSocketStream<S>,
    shared: Arc<Shared>,
    client: String,
    upgrade_token: Option<Bytes>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let _open = shared.metrics.connection();
    let (mut tx, mut rx) = ws.split();
    let config = &shared.config;
    let activity = Activity::new();

    // Until CONNECT: nothing goes upstream, and garbage costs no broker connection. The
    // CONNECT has a smaller size limit of its own: before authentication a client can make
    // the bridge hold no more than that.
    let mut up_decoder = Decoder::new(ProtocolVersion::V5)
        .with_max_packet_size(config.max_connect_size.min(config.max_packet_size));
    let mut charge = shared.budget.charge();
    let framing = Framing::of(config);
    let first = match tokio::time::timeout(
        config.connect_timeout,
        framing.first(&mut rx, &mut up_decoder, &mut charge),
    )
    .await
    {
        Ok(result) => result,
        Err(_) => Err(End::ConnectTimeout),
    };
    let (connect, mut first) = match first {
        Ok(first) => first,
        Err(end) => return finish(&shared, &mut tx, end, &client).await,
    };
    up_decoder.set_max_packet_size(config.max_packet_size);
    let version = up_decoder.version();
    let enforcer = match connect
        .as_ref()
        .map(|c| authorize(config, c, upgrade_token.as_deref()))
    {
        None | Some(Ok(None)) => None,
        Some(Ok(Some(acl))) => Some(Enforcer::new(acl, version)),
        Some(Err(why)) => {
            let end = End::NotAuthorized(why, version);
            return finish(&shared, &mut tx, end, &client).await;
        }
    };

    if let Some(bytes) = connect
        .as_ref()
        .and_then(|c| clamp_maximum_packet_size(c, config.max_packet_size))
    {
        first = bytes;
    }

    let (upstream, broker) = match shared.upstreams.connect(&shared.metrics).await {
        Ok(pair) => pair,
        Err(error) => {
            shared.metrics.refused(Refusal::Upstream);
            tracing::warn!(%client, %error, "closing: no broker available");
            if connect.is_some() {
                // A clean refusal the client understands: CONNACK "server unavailable".
                let ack = ConnAck {
                    reason_code: ReasonCode::SERVER_UNAVAILABLE,
                    ..ConnAck::default()
                };
                let mut out = BytesMut::new();
                if Packet::ConnAck(ack).encode(version, &mut out).is_ok() {
                    let _ = tx.send(Message::Binary(out.freeze())).await;
                }
            }
            close(
                &mut tx,
                CloseCode::Again,
                "no MQTT broker available, try again later",
            )
            .await;
            return;
        }
    };
    tracing::debug!(%client, %broker, %version, "relaying");
    let upstream = WriteDeadline::new(upstream, config.write_timeout);
    let (up_read, mut up_write) = tokio::io::split(upstream);
    shared.metrics.bytes(Direction::Upstream, first.len());
    if connect.is_some() {
        shared
            .metrics
            .packet(Direction::Upstream, PacketType::Connect);
    }
    if let Err(error) = up_write.write_all(&first).await.and(up_write.flush().await) {
        return finish(&shared, &mut tx, End::BrokerError(error), &client).await;
    }

    let downstream =
        framing.downstream(Decoder::new(version).with_max_packet_size(config.max_packet_size));
    let (reply_tx, reply_rx) = mpsc::channel(REPLIES);
    let subacks = enforcer.as_ref().map(Enforcer::subacks);
    let edge = enforcer.map(|enforcer| Edge {
        enforcer,
        replies: reply_tx,
    });
    let down = Down {
        subacks,
        replies: reply_rx,
    };
    let end = tokio::select! {
        end = client_to_broker(&mut rx, &mut up_write, up_decoder, edge, &mut charge, &shared, &activity) => end,
        end = broker_to_client(up_read, &mut tx, downstream, down, &shared, &activity) => end,
        end = activity.idle(config.idle_timeout) => end,
        () = drained(&shared.shutdown, config.drain_timeout) => End::Shutdown,
    };
    let _ = up_write.shutdown().await;
    finish(&shared, &mut tx, end, &client).await;
}

/// A 5.0 CONNECT asking for packets larger than the bridge relays (or not saying) is
/// forwarded with the bridge's limit as its Maximum Packet Size, so the broker never sends
/// a packet the bridge would have to refuse (an oversized retained message would otherwise
/// close the connection again on every reconnect). `None` when the CONNECT can go as it is.
fn clamp_maximum_packet_size(connect: &Connect, max: u32) -> Option<Bytes> {
    if connect.protocol != ProtocolVersion::V5 {
        return None; // 3.1.1 cannot tell the broker
    }
    let asked = connect
        .properties
        .maximum_packet_size()
        .map(NonZeroU32::get);
    if asked.is_some_and(|asked| asked <= max) {
        return None;
    }
    let mut clamped = connect.clone();
    clamped
        .properties
        .set(Property::MaximumPacketSize(NonZeroU32::new(max)?));
    let mut out = BytesMut::new();
    Packet::Connect(clamped)
        .encode(ProtocolVersion::V5, &mut out)
        .ok()?;
    Some(out.freeze())
}

/// Edge authentication and the ACL for one CONNECT: the connection's rules (`None` when no
/// ACL is configured), or why it is refused. The token is the CONNECT password, or else the
/// one the upgrade request carried.
fn authorize(
    config: &Config,
    connect: &Connect,
    upgrade_token: Option<&[u8]>,
) -> Result<Option<ClientAcl>, String> {
    let user = match &config.jwt {
        Some(jwt) => {
            let token = connect
                .password
                .as_deref()
                .filter(|p| !p.is_empty())
                .or(upgrade_token);
            jwt.verify(token, &connect.client_id)
                .map_err(|e| e.to_string())?
                .user
        }
        None => connect.username.as_deref().unwrap_or_default().to_owned(),
    };
    if config.acl.is_empty() {
        return Ok(None);
    }
    let acl = config.acl.for_client(&user, &connect.client_id);
    if let Some(will) = &connect.will
        && !acl.may_publish(will.topic.as_str())
    {
        return Err(format!(
            "the ACL denies the will topic {:?}",
            will.topic.as_str()
        ));
    }
    Ok(Some(acl))
}

/// The client-to-broker side of the ACL: the enforcer and where its answers go.
struct Edge {
    enforcer: Enforcer,
    replies: mpsc::Sender<Bytes>,
}

/// The broker-to-client side: SUBACKs to merge and the bridge's own answers to send.
struct Down {
    subacks: Option<SubAcks>,
    replies: mpsc::Receiver<Bytes>,
}

/// The next binary message, or how the connection ended.
async fn next_binary<S>(rx: &mut WsStream<S>) -> Result<Bytes, End>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    loop {
        match rx.next().await {
            Some(Ok(Message::Binary(bytes))) => return Ok(bytes),
            Some(Ok(Message::Text(_))) => return Err(End::Text),
            Some(Ok(Message::Close(_))) | None => return Err(End::ClientClosed),
            Some(Ok(_)) => continue, // ping and pong: tungstenite answers pings itself
            // The frame gate: holding this client's large frame would pass the budget.
            Some(Err(tokio_tungstenite::tungstenite::Error::Io(io)))
                if io.kind() == std::io::ErrorKind::OutOfMemory =>
            {
                return Err(End::OverBudget(None));
            }
            Some(Err(error)) => return Err(End::WebSocket(error)),
        }
    }
}

async fn client_to_broker<S, W>(
    rx: &mut WsStream<S>,
    up: &mut W,
    mut decoder: Decoder,
    mut edge: Option<Edge>,
    charge: &mut Charge,
    shared: &Shared,
    activity: &Activity,
) -> End
where
    S: AsyncRead + AsyncWrite + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut counters = shared.metrics.direction(Direction::Upstream);
    let framing = Framing::of(&shared.config);
    // The CONNECT's version; decoding another CONNECT would change the decoder's.
    let version = decoder.version();
    // The CONNECT was already decoded; what follows it in the decoder came with it.
    // (Transparent framing leaves the decoder empty, here and below.)
    let mut pending = decoder.buffered() > 0;
    // Whole packets (transparent: bytes) waiting to go to the broker in one write.
    let mut out = BytesMut::new();
    // The bridge's own answers to denied packets, sent once `out` is written.
    let mut replies = Vec::new();
    let mut rate = SendRate::new(shared.config.max_message_rate, shared.config.max_byte_rate);
    let (mut enforcer, reply_to) = match edge.as_mut() {
        Some(edge) => (Some(&mut edge.enforcer), Some(&edge.replies)),
        None => (None, None),
    };
    loop {
        // Packets and bytes taken from the client in this round, for the rate limits.
        let mut packets = 0;
        let mut taken = 0;
        // How the client ended the connection, seen while gathering.
        let mut ended = None;
        // A broken packet found while gathering.
        let mut broken = None;
        if !pending {
            let mut bytes = match next_binary(rx).await {
                Ok(bytes) => bytes,
                Err(end) => return end,
            };
            // Under load more messages are often here already (MQTT.js in node sends a
            // PUBLISH as five): take them all before decoding, so that the packets go to
            // the broker in one write, up to UP_BATCH bytes.
            let mut gathered = 0;
            loop {
                gathered += bytes.len();
                if framing.take(bytes, &mut decoder, &mut out)
                    && let Err(end) = take_packets(
                        &mut decoder,
                        &mut out,
                        &mut counters,
                        version,
                        enforcer.as_deref_mut(),
                        &mut replies,
                        &mut packets,
                    )
                {
                    broken = Some(end);
                    break;
                }
                if gathered >= UP_BATCH {
                    break;
                }
                bytes = match next_binary(rx).now_or_never() {
                    Some(Ok(bytes)) => bytes,
                    Some(Err(end)) => {
                        ended = Some(end);
                        break;
                    }
                    None => break,
                };
            }
            activity.touch();
            counters.bytes(gathered);
            taken = gathered;
        }
        pending = false;
        if let Some(end) = broken.or_else(|| {
            take_packets(
                &mut decoder,
                &mut out,
                &mut counters,
                version,
                enforcer.as_deref_mut(),
                &mut replies,
                &mut packets,
            )
            .err()
        }) {
            // The packets before the broken one still go to the broker.
            let _ = write_out(up, &mut out).await;
            return end;
        }
        // An idle connection keeps at most a small buffer, as in the other direction.
        if decoder.buffered() == 0 {
            let buf = decoder.buffer_mut();
            if buf.capacity() > KEEP_BUFFER {
                *buf = BytesMut::new();
            }
        }
        // What stays in the decoder is the start of a packet, counted against the budget
        // by the memory its buffer holds (a small buffer by the bytes in it).
        let capacity = decoder.buffer_mut().capacity();
        let held = if capacity > KEEP_BUFFER {
            capacity
        } else {
            decoder.buffered()
        };
        if charge.set(held).is_err() {
            let _ = write_out(up, &mut out).await;
            return End::OverBudget(Some(version));
        }
        // Over its rate a client is slowed, not dropped: what it sent waits until the rate
        // allows it, and the client is not read meanwhile. A client that is closing gets
        // what it sent forwarded at once: waiting, the relay could end first and lose it.
        let wait = rate.take(packets, taken);
        if !wait.is_zero() && ended.is_none() {
            tokio::time::sleep(wait).await;
        }
        // Messages holding only part of a packet added nothing: nothing to write.
        if let Err(error) = write_out(up, &mut out).await {
            return ended.unwrap_or(End::BrokerError(error));
        }
        if let Some(reply_to) = reply_to {
            for reply in replies.drain(..) {
                // The receiver goes only with the connection.
                if reply_to.send(reply).await.is_err() {
                    return End::ClientClosed;
                }
            }
        }
        if let Some(end) = ended {
            return end;
        }
    }
}

/// Moves the whole packets in `decoder` to `out`, as the ACL (if any) says; what the
/// bridge answers itself goes to `replies`.
fn take_packets(
    decoder: &mut Decoder,
    out: &mut BytesMut,
    counters: &mut DirectionCounters,
    version: ProtocolVersion,
    mut enforcer: Option<&mut Enforcer>,
    replies: &mut Vec<Bytes>,
    packets: &mut usize,
) -> Result<(), End> {
    loop {
        match decoder.decode_frame() {
            Ok(Some(frame)) => {
                let packet_type = frame.packet.packet_type();
                // [MQTT-3.1.0-2] a second CONNECT is a protocol violation
                if packet_type == PacketType::Connect {
                    return Err(End::NotConnect(packet_type, Some(version)));
                }
                counters.packet(packet_type);
                *packets += 1;
                match enforcer.as_deref_mut().map(|e| e.upstream(&frame.packet)) {
                    None | Some(Verdict::Forward) => out.extend_from_slice(&frame.bytes),
                    Some(Verdict::Rewrite(bytes)) => out.extend_from_slice(&bytes),
                    Some(Verdict::Deny(reply)) => {
                        tracing::debug!(%packet_type, "denied by the ACL");
                        replies.extend(reply);
                    }
                }
            }
            Ok(None) => return Ok(()),
            Err(error) => return Err(End::ClientViolation(error, Some(decoder.version()))),
        }
    }
}

/// Writes and flushes `out` (if it holds anything), then empties it, freeing a large
/// buffer.
async fn write_out<W>(up: &mut W, out: &mut BytesMut) -> std::io::Result<()>
where
    W: AsyncWrite + Unpin,
{
    if out.is_empty() {
        return Ok(());
    }
    up.write_all(out).await?;
    up.flush().await?;
    if out.capacity() > KEEP_BUFFER {
        *out = BytesMut::new();
    } else {
        out.clear();
    }
    Ok(())
}

async fn broker_to_client<R, S>(
    mut up: R,
    tx: &mut WsSink<S>,
    mut downstream: Downstream,
    mut down: Down,
    shared: &Shared,
    activity: &Activity,
) -> End
where
    R: AsyncRead + Unpin,
    S: AsyncRead + AsyncWrite + Unpin,
{
    let config = &shared.config;
    let mut counters = shared.metrics.direction(Direction::Downstream);
    let mut read_size = DOWN_READ_MIN;
    loop {
        let buf = downstream.buffer();
        if buf.capacity() - buf.len() < 1024 {
            buf.reserve(read_size);
        }
        let spare = buf.capacity() - buf.len();
        // read_buf is cancel safe: when a reply wins, nothing was read.
        let read = tokio::select! {
            read = up.read_buf(buf) => read,
            Some(reply) = down.replies.recv() => {
                if let Err(error) = tx.send(Message::Binary(reply)).await {
                    return End::WebSocket(error);
                }
                continue;
            }
        };
        let n = match read {
            Ok(0) => return End::BrokerClosed,
            Ok(n) => n,
            Err(error) => return End::BrokerError(error),
        };
        // A read that filled the buffer left more waiting: read more at once next time.
        // Otherwise back to small reads, and an emptied large buffer is freed (below):
        // an idle connection keeps at most a small one.
        read_size = if n == spare {
            (read_size * 2).min(DOWN_READ_MAX)
        } else {
            DOWN_READ_MIN
        };
        activity.touch();
        counters.bytes(n);
        let sent = match &mut downstream {
            Downstream::Bytes(buf) => tx
                .send(Message::Binary(buf.split().freeze()))
                .await
                .map_err(End::WebSocket),
            Downstream::Packets(decoder) => {
                send_packets(decoder, tx, &mut counters, down.subacks.as_ref(), config).await
            }
        };
        if let Err(end) = sent {
            return end;
        }
        if read_size == DOWN_READ_MIN {
            let buf = downstream.buffer();
            if buf.is_empty() && buf.capacity() > KEEP_BUFFER {
                *buf = BytesMut::new();
            }
        }
    }
}

/// Sends the whole packets in `decoder` to the browser, coalesced into messages up to the
/// limit, and flushes.
async fn send_packets<S>(
    decoder: &mut Decoder,
    tx: &mut WsSink<S>,
    counters: &mut DirectionCounters,
    subacks: Option<&SubAcks>,
    config: &Config,
) -> Result<(), End>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut batch = Coalescer::new(config.coalesce_limit, config.one_packet_per_message);
    loop {
        let frame = match decoder.decode_frame() {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            Err(error) => return Err(End::BrokerViolation(error)),
        };
        let packet_type = frame.packet.packet_type();
        // What only a client sends never comes from a broker (and a CONNECT would switch
        // the decoder's version).
        if matches!(
            packet_type,
            PacketType::Connect
                | PacketType::Subscribe
                | PacketType::Unsubscribe
                | PacketType::PingReq
        ) {
            return Err(End::BrokerViolation(DecodeError::NotFromServer(
                packet_type,
            )));
        }
        counters.packet(packet_type);
        let frame_bytes = match (subacks, &frame.packet) {
            (Some(subacks), Packet::SubAck(suback)) => {
                subacks.downstream(suback).unwrap_or(frame.bytes)
            }
            _ => frame.bytes,
        };
        if let Some(message) = batch.push(frame_bytes) {
            tx.feed(Message::Binary(message))
                .await
                .map_err(End::WebSocket)?;
        }
    }
    if let Some(message) = batch.take() {
        tx.feed(Message::Binary(message))
            .await
            .map_err(End::WebSocket)?;
    }
    tx.flush().await.map_err(End::WebSocket)
}

/// Resolves once shutdown was asked for and the drain time has passed.
async fn drained(shutdown: &CancellationToken, drain: Duration) {
    shutdown.cancelled().await;
    tokio::time::sleep(drain).await;
}

/// Whether anything crossed the connection, for the idle timeout: a counter bumped per
/// message (no clock read on the hot path) and sampled by the idle watcher.
struct Activity {
    count: AtomicU64,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            count: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Resolves once nothing crossed for a whole `timeout` (never for a zero timeout): the
    /// connection is closed between one and two timeouts after its last message.
    async fn idle(&self, timeout: Duration) -> End {
        if timeout.is_zero() {
            return std::future::pending().await;
        }
        loop {
            let seen = self.count.load(Ordering::Relaxed);
            tokio::time::sleep(timeout).await;
            if self.count.load(Ordering::Relaxed) == seen {
                return End::Idle;
            }
        }
    }
}
