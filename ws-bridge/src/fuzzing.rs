//! A harness for fuzzing the relay (the `relay` target in `ws-bridge/fuzz`): one
//! connection, run in-process to its end on a paused clock, with the fuzzer's bytes as what
//! the browser sends. Only with the `fuzzing` feature; not a stable API.
//!
//! The browser side writes WebSocket frames it builds itself (any opcode, fragmentation,
//! masking, reserved bit) or raw bytes into an in-memory pipe whose other end the relay
//! reads as a server-role WebSocket, as `server/upgrade.rs` sets it up (write deadline
//! included).
//! The broker is a listener on 127.0.0.1:0 (the relay's upstream connections are TCP only,
//! see `upstream.rs`): it answers a CONNECT with CONNACK, sends any scripted bytes, then
//! discards, echoes, stalls or closes. [`run`] panics when the relay breaks one of these rules:
//!
//! - it ends within [`RUN_BOUND`] of (virtual) time;
//! - the broker receives a prefix of the binary messages the browser sent, but for a 5.0
//!   CONNECT's Maximum Packet Size, which the relay may lower to its limit (with the ACL,
//!   which rewrites and drops packets, no more bytes than they hold, plus 8 for that
//!   property);
//! - the browser receives a prefix of what the broker sent, then at most the relay's own
//!   CONNACK or DISCONNECT (with the ACL, no more than the broker sent plus what the
//!   browser sent), never a text message;
//! - the connection gauge and the buffered-bytes gauge (the budget) are back to zero.
//!
//! # Input format
//!
//! Two bytes of knobs, then steps until the input ends. Byte 0: `0x01` transparent,
//! `0x02` topic ACL (ignored when transparent), `0x04` one packet per message, `0x08`
//! coalesce limit 64 bytes, `0x10` the browser reads only once it has sent everything,
//! `0x20` the bridge shuts down once the browser has sent everything (instead of the
//! browser closing its side), `0x40` a 64-byte pipe instead of 64 KiB, `0x80` the broker
//! does not answer CONNECT. Byte 1, low two bits: the broker discards (0), echoes (1),
//! stops reading (2) or closes (3) after its answer; `0x04` rate limits of 100 packets
//! and 8 KiB a second; `0x08` a buffer budget of 512 bytes for all clients.
//!
//! A step is a kind byte, a little-endian `u16` length (cut to what is left) and that many
//! payload bytes. Kinds below `0x80` are frames: opcode `kind & 0x0f`, `0x10` FIN clear,
//! `0x20` unmasked, `0x40` RSV1 set (`0x02` is a plain binary message). From `0x80`, by
//! `kind & 3`: 0 and 3 raw bytes into the pipe, 1 bytes the broker sends after its
//! CONNACK, 2 a pause of one millisecond (everything runs until idle first).

#![doc(hidden)]

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use mqttwire::{ConnAck, Decoder, Frame as MqttFrame, Packet, PropertyId, ProtocolVersion};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpSocket};
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::OpCode;
use tokio_tungstenite::tungstenite::protocol::frame::{Frame, FrameHeader};
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocket, WebSocketConfig};
use tokio_util::sync::CancellationToken;

use crate::acl::{Access, Acl, AclRule};
use crate::broker_url::BrokerUrl;
use crate::budget::BufferBudget;
use crate::config::Config;
use crate::deadline::WriteDeadline;
use crate::metrics::Metrics;
use crate::ops::Readiness;
use crate::rate::{ConnectRate, LogLimiter};
use crate::relay::{Shared, relay};
use crate::upstream::Upstreams;

/// The longest a run may take, in virtual time, before it counts as a hang: well above
/// the longest legitimate run (two idle timeouts of 5 s, write and close timeouts of 2 s
/// and 1 s, and what a rate limit of 100 packets a second can make an input of a few
/// thousand one-byte messages wait).
pub const RUN_BOUND: Duration = Duration::from_secs(120);

/// Largest MQTT packet and WebSocket message: small, so that fuzz inputs exceed it.
pub const MAX_PACKET_SIZE: u32 = 2048;

/// The relay's own packets the browser may get besides the broker's: one CONNACK or
/// DISCONNECT, at most 5 bytes.
const OWN_BYTES: usize = 8;

/// The mask of the browser's masked frames (the one in RFC 6455's examples).
const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// One run's input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Input {
    /// How the bridge, the broker and the browser behave.
    pub knobs: Knobs,
    /// What happens, in order.
    pub steps: Vec<Step>,
}

/// How the bridge, the broker and the browser behave in one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Knobs {
    /// `--transparent`: bytes relayed unread.
    pub transparent: bool,
    /// A few `[[acl]]` rules, `%u` and `%c` among them.
    pub acl: bool,
    /// `--one-packet-per-message`.
    pub one_packet_per_message: bool,
    /// `--coalesce-limit 64` instead of 64 KiB.
    pub small_coalesce: bool,
    /// The browser reads nothing until it has written every step.
    pub reads_late: bool,
    /// After the steps the bridge is shut down, and the browser waits for the relay to end
    /// instead of closing its side.
    pub shutdown: bool,
    /// The pipe between browser and relay holds 64 bytes instead of 64 KiB.
    pub small_pipe: bool,
    /// The broker does not answer CONNECT.
    pub no_connack: bool,
    /// What the broker does after answering.
    pub broker: BrokerMode,
    /// `--max-message-rate 100 --max-byte-rate 8192`.
    pub rate_limits: bool,
    /// `--max-buffered-bytes 512`.
    pub small_budget: bool,
}

/// What the broker does once it has answered the first packet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BrokerMode {
    /// Reads and discards.
    #[default]
    Discard,
    /// Sends back what it reads.
    Echo,
    /// Stops reading, with a small receive buffer, until the relay ends.
    Stall,
    /// Closes the connection.
    Close,
}

/// One thing that happens in a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The browser writes one WebSocket frame.
    Frame {
        /// Opcode, 0 to 15.
        opcode: u8,
        /// The FIN bit.
        fin: bool,
        /// Masked, as a browser must.
        masked: bool,
        /// The RSV1 bit.
        rsv1: bool,
        /// Payload.
        payload: Vec<u8>,
    },
    /// The browser writes these bytes as they are.
    Raw(Vec<u8>),
    /// The broker sends these bytes after its answer to the first packet.
    Broker(Vec<u8>),
    /// The browser waits a millisecond, after everything else has run until idle.
    Pause,
}

/// What a run did, for tests and for reading.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The broker accepted a connection.
    pub reached_broker: bool,
    /// Bytes the broker received.
    pub upstream: usize,
    /// Payload bytes of the binary messages the browser received.
    pub downstream: usize,
    /// The close code the browser received, if any.
    pub close_code: Option<u16>,
    /// Virtual time from the start to the relay's end.
    pub elapsed: Duration,
}

impl Input {
    /// Reads the format described in the module documentation; every input is valid.
    pub fn parse(data: &[u8]) -> Input {
        let (knobs, mut rest) = match data {
            [a, b, rest @ ..] => (Knobs::from_bytes(*a, *b), rest),
            _ => return Input::default(),
        };
        let mut steps = Vec::new();
        while let Some((&kind, after)) = rest.split_first() {
            let (len, after) = match after {
                [lo, hi, after @ ..] => (usize::from(u16::from_le_bytes([*lo, *hi])), after),
                _ => (0, &[][..]),
            };
            let (payload, after) = after.split_at(len.min(after.len()));
            rest = after;
            let payload = payload.to_vec();
            steps.push(if kind < 0x80 {
                Step::Frame {
                    opcode: kind & 0x0f,
                    fin: kind & 0x10 == 0,
                    masked: kind & 0x20 == 0,
                    rsv1: kind & 0x40 != 0,
                    payload,
                }
            } else {
                match kind & 3 {
                    1 => Step::Broker(payload),
                    2 => Step::Pause,
                    _ => Step::Raw(payload),
                }
            });
        }
        Input { knobs, steps }
    }
}

impl Knobs {
    fn from_bytes(a: u8, b: u8) -> Knobs {
        let transparent = a & 0x01 != 0;
        Knobs {
            transparent,
            acl: a & 0x02 != 0 && !transparent,
            one_packet_per_message: a & 0x04 != 0,
            small_coalesce: a & 0x08 != 0,
            reads_late: a & 0x10 != 0,
            shutdown: a & 0x20 != 0,
            small_pipe: a & 0x40 != 0,
            no_connack: a & 0x80 != 0,
            broker: match b & 3 {
                0 => BrokerMode::Discard,
                1 => BrokerMode::Echo,
                2 => BrokerMode::Stall,
                _ => BrokerMode::Close,
            },
            rate_limits: b & 0x04 != 0,
            small_budget: b & 0x08 != 0,
        }
    }
}

/// Runs one relayed connection with `input` on a fresh current-thread runtime with a paused
/// clock, and checks the rules in the module documentation; panics (the fuzzer's crash)
/// when the relay breaks one, and when the relay itself panics.
pub fn run(input: &Input) -> Outcome {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime builds");
    runtime.block_on(session(input))
}

fn config(knobs: &Knobs, port: u16) -> Config {
    let acl = if knobs.acl {
        let rule = |topic: &str, access| AclRule {
            topic: topic.to_owned(),
            access,
        };
        Acl::new(vec![
            rule("pub/#", Access::Write),
            rule("sub/+", Access::Read),
            rule("all/#", Access::Readwrite),
            rule("user/%u/#", Access::Readwrite),
            rule("client/%c", Access::Readwrite),
        ])
        .expect("the fuzzing ACL rules are valid")
    } else {
        Acl::default()
    };
    Config {
        brokers: vec![BrokerUrl {
            host: "127.0.0.1".to_owned(),
            port,
            tls: false,
        }],
        connect_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(5),
        upstream_timeout: Duration::from_secs(1),
        drain_timeout: Duration::from_secs(1),
        write_timeout: Duration::from_secs(2),
        max_message_rate: if knobs.rate_limits { 100 } else { 0 },
        max_byte_rate: if knobs.rate_limits { 8192 } else { 0 },
        max_buffered_bytes: if knobs.small_budget { 512 } else { 512 << 20 },
        max_packet_size: MAX_PACKET_SIZE,
        coalesce_limit: if knobs.small_coalesce { 64 } else { 64 * 1024 },
        one_packet_per_message: knobs.one_packet_per_message,
        transparent: knobs.transparent,
        acl,
        ..Config::default()
    }
}

async fn session(input: &Input) -> Outcome {
    let knobs = input.knobs;
    let listener = listen(knobs.broker == BrokerMode::Stall);
    let port = listener
        .local_addr()
        .expect("the listener has an address")
        .port();
    let config = config(&knobs, port);
    config.check().expect("the fuzzing configuration is valid");
    let upstreams = Upstreams::new(&config).expect("plain TCP upstreams need no files");
    let shutdown = CancellationToken::new();
    let metrics = Metrics::new();
    let budget = BufferBudget::new(metrics.buffered(), config.max_buffered_bytes);
    let shared = Arc::new(Shared {
        connect_rate: ConnectRate::new(config.max_connect_rate),
        config,
        metrics,
        upstreams,
        shutdown: shutdown.clone(),
        readiness: Readiness::default(),
        log: LogLimiter::default(),
        budget,
    });
    let pipe = if knobs.small_pipe { 64 } else { 64 * 1024 };
    let (relay_io, browser_io) = tokio::io::duplex(pipe);
    // As `server/accept.rs` wraps the accepted socket: a browser that stops reading fails the
    // relay's writes after the write timeout.
    let relay_io = WriteDeadline::new(relay_io, shared.config.write_timeout);
    let ws_config = crate::server::ws_config(&shared.config);
    let ws = WebSocketStream::from_raw_socket(relay_io, Role::Server, Some(ws_config)).await;

    let started = Instant::now();
    // Cancelled when the relay has returned.
    let done = CancellationToken::new();
    let relay_task = tokio::spawn({
        let (shared, done) = (shared.clone(), done.clone());
        async move {
            relay(ws, shared, "fuzz".to_owned(), None).await;
            done.cancel();
            started.elapsed()
        }
    });
    let script: Vec<u8> = input
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Broker(bytes) => Some(bytes.as_slice()),
            _ => None,
        })
        .flatten()
        .copied()
        .collect();
    let broker_task = tokio::spawn(broker(listener, knobs, script, done.clone()));

    let (read_half, write_half) = tokio::io::split(browser_io);
    // Cancelled when the browser has written every step.
    let sent = CancellationToken::new();
    let browser = async {
        tokio::join!(
            send(write_half, &input.steps, &knobs, &shutdown, &done, &sent),
            receive(read_half, knobs.reads_late.then_some(&sent)),
        )
    };
    let ended = tokio::time::timeout(RUN_BOUND, async {
        let (wire, received) = browser.await;
        let elapsed = join(relay_task).await;
        let broker = join(broker_task).await;
        (wire, received, elapsed, broker)
    })
    .await;
    let Ok((wire, received, elapsed, broker)) = ended else {
        panic!("the relay did not end within {RUN_BOUND:?} of virtual time: {input:?}");
    };

    let open = shared.metrics.open_connections();
    assert_eq!(
        open, 0,
        "the connection gauge is {open} after the relay ended"
    );
    let buffered = shared.metrics.buffered().get();
    assert_eq!(
        buffered, 0,
        "the buffer budget holds {buffered} bytes after the relay ended"
    );
    check(&shared.config, &knobs, &wire, &broker, &received);
    Outcome {
        reached_broker: broker.accepted,
        upstream: broker.received.len(),
        downstream: received.binary.len(),
        close_code: received.close_code,
        elapsed,
    }
}

/// Waits for a task, passing its panic on (the fuzzer sees it either way: libFuzzer's hook
/// aborts on any panic).
async fn join<T>(task: tokio::task::JoinHandle<T>) -> T {
    match task.await {
        Ok(value) => value,
        Err(error) => match error.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(error) => panic!("task cancelled: {error}"),
        },
    }
}

/// The rules of the module documentation for one finished run.
fn check(config: &Config, knobs: &Knobs, wire: &[u8], broker: &BrokerLog, received: &Received) {
    let sent = client_binary(config, wire);
    if knobs.acl {
        // The CONNECT may grow by its Maximum Packet Size (5 bytes, and its lengths).
        let most = sent.len() + OWN_BYTES;
        assert!(
            broker.received.len() <= most,
            "the broker got {} bytes, more than the {} the browser sent in binary messages",
            broker.received.len(),
            sent.len()
        );
        let most = broker.sent.len() + sent.len() + OWN_BYTES;
        assert!(
            received.binary.len() <= most,
            "the browser got {} bytes; the broker sent {} and the browser {}",
            received.binary.len(),
            broker.sent.len(),
            sent.len()
        );
    } else {
        let (sent_rest, broker_rest) = if knobs.transparent {
            (&sent[..], &broker.received[..])
        } else {
            same_connect(&sent, &broker.received)
        };
        assert!(
            sent_rest.starts_with(broker_rest),
            "the broker got {} bytes that are not a prefix of the browser's {} bytes of \
             binary messages\nbroker got: {:02x?}\nbrowser sent: {:02x?}",
            broker.received.len(),
            sent.len(),
            broker.received,
            sent
        );
        let common = broker
            .sent
            .iter()
            .zip(&received.binary)
            .take_while(|(a, b)| a == b)
            .count();
        let extra = received.binary.len() - common;
        assert!(
            extra <= OWN_BYTES,
            "the browser got {extra} bytes after the {common} the broker sent\n\
             browser got: {:02x?}\nbroker sent: {:02x?}",
            received.binary,
            broker.sent
        );
    }
    assert_eq!(received.texts, 0, "the relay sent a text message");
}

/// Checks that the broker's first packet (if it got anything) is the browser's CONNECT, but
/// for a 5.0 Maximum Packet Size the relay may lower to its own limit (never raise above
/// it); returns what follows the CONNECT in each.
fn same_connect<'a>(sent: &'a [u8], got: &'a [u8]) -> (&'a [u8], &'a [u8]) {
    if got.is_empty() {
        return (sent, got);
    }
    let first = |bytes: &[u8]| {
        let mut decoder = Decoder::new(ProtocolVersion::V5).with_max_packet_size(u32::MAX);
        decoder.extend(bytes);
        match decoder.decode_frame() {
            Ok(Some(MqttFrame {
                packet: Packet::Connect(connect),
                bytes,
            })) => Some((connect, bytes.len())),
            _ => None,
        }
    };
    let Some((mut connect, sent_len)) = first(sent) else {
        panic!("the broker got {got:02x?} although the browser sent no CONNECT first: {sent:02x?}");
    };
    let Some((mut forwarded, got_len)) = first(got) else {
        panic!("the broker's first packet is no CONNECT: {got:02x?}\nbrowser sent: {sent:02x?}");
    };
    let id = PropertyId::MAXIMUM_PACKET_SIZE;
    if forwarded.protocol == ProtocolVersion::V5 {
        let limit = u64::from(MAX_PACKET_SIZE);
        let asked = connect
            .properties
            .maximum_packet_size()
            .map(|m| u64::from(m.get()));
        let given = forwarded
            .properties
            .maximum_packet_size()
            .map(|m| u64::from(m.get()));
        assert!(
            given.is_some_and(|given| given <= limit && given <= asked.unwrap_or(u64::MAX)),
            "the broker was asked for packets up to {given:?} (the client said {asked:?}, the \
             bridge relays {limit})"
        );
        connect.properties.remove(id);
        forwarded.properties.remove(id);
    }
    assert_eq!(forwarded, connect, "the relay changed the CONNECT");
    (&sent[sent_len..], &got[got_len..])
}

/// The payload of the binary messages the relay can have read from `wire`: those before
/// the first text message, close frame or error, read by a blocking WebSocket with the
/// relay's settings.
fn client_binary(config: &Config, wire: &[u8]) -> Vec<u8> {
    let mut ws = WebSocket::from_raw_socket(
        Replay { input: wire },
        Role::Server,
        Some(crate::server::ws_config(config)),
    );
    let mut binary = Vec::new();
    loop {
        match ws.read() {
            Ok(Message::Binary(bytes)) => binary.extend_from_slice(&bytes),
            Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => {}
            Ok(Message::Text(_) | Message::Close(_)) | Err(_) => return binary,
        }
    }
}

/// Bytes to read, then end of stream; writes go nowhere.
struct Replay<'a> {
    input: &'a [u8],
}

impl io::Read for Replay<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        io::Read::read(&mut self.input, buf)
    }
}

impl io::Write for Replay<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A listener on 127.0.0.1:0; with `small` the connections it accepts get a small
/// receive buffer, so that a broker that stops reading pushes back soon.
fn listen(small: bool) -> TcpListener {
    let socket = TcpSocket::new_v4().expect("a TCP socket");
    if small {
        // Best effort: the kernel rounds it up to its minimum.
        let _ = socket.set_recv_buffer_size(4096);
    }
    socket
        .bind(([127, 0, 0, 1], 0).into())
        .expect("127.0.0.1:0 binds");
    socket.listen(8).expect("the socket listens")
}

/// What the broker saw and did.
#[derive(Debug, Default)]
struct BrokerLog {
    accepted: bool,
    received: Vec<u8>,
    sent: Vec<u8>,
}

/// The fake broker: one connection; CONNACK for a CONNECT (in its version) unless told
/// not to, then the script, then as `knobs.broker` says (a stalled broker reads again once
/// the relay is done).
async fn broker(
    listener: TcpListener,
    knobs: Knobs,
    script: Vec<u8>,
    done: CancellationToken,
) -> BrokerLog {
    let mut log = BrokerLog::default();
    // A connection the relay made counts even when the relay has ended since.
    let mut stream = tokio::select! {
        biased;
        accepted = listener.accept() => match accepted {
            Ok((stream, _)) => stream,
            Err(_) => return log,
        },
        () = done.cancelled() => return log,
    };
    drop(listener);
    log.accepted = true;
    let mut decoder = Decoder::new(ProtocolVersion::V5).with_max_packet_size(MAX_PACKET_SIZE);
    let mut answered = false;
    let mut buf = vec![0; 4096];
    // Reads to the end of the stream, which comes at the latest when the relay ends and
    // drops its connection: everything the relay sent is logged.
    loop {
        if answered && knobs.broker == BrokerMode::Stall {
            done.cancelled().await;
        }
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        log.received.extend_from_slice(&buf[..n]);
        let start = log.sent.len();
        if answered {
            if knobs.broker == BrokerMode::Echo {
                log.sent.extend_from_slice(&buf[..n]);
            }
        } else {
            decoder.extend(&buf[..n]);
            let connect = match decoder.decode() {
                Ok(None) => continue,
                Ok(Some(Packet::Connect(connect))) => Some(connect.protocol),
                Ok(Some(_)) | Err(_) => None,
            };
            answered = true;
            if let Some(version) = connect.filter(|_| !knobs.no_connack) {
                let mut out = BytesMut::new();
                Packet::ConnAck(ConnAck::default())
                    .encode(version, &mut out)
                    .expect("a CONNACK encodes");
                log.sent.extend_from_slice(&out);
            }
            log.sent.extend_from_slice(&script);
        }
        // Logged before it is written: what the browser gets must be a prefix of it.
        if stream.write_all(&log.sent[start..]).await.is_err()
            || (answered && knobs.broker == BrokerMode::Close)
        {
            break;
        }
    }
    log
}

/// Writes the browser's steps (stopping at the first failed write), then either closes
/// its side or, with `knobs.shutdown`, shuts the bridge down and waits for the relay to
/// end; returns every byte it tried to write.
async fn send<W>(
    mut pipe: W,
    steps: &[Step],
    knobs: &Knobs,
    shutdown: &CancellationToken,
    done: &CancellationToken,
    sent: &CancellationToken,
) -> Vec<u8>
where
    W: AsyncWrite + Unpin,
{
    let mut wire = Vec::new();
    for step in steps {
        let start = wire.len();
        match step {
            Step::Frame {
                opcode,
                fin,
                masked,
                rsv1,
                payload,
            } => {
                let header = FrameHeader {
                    is_final: *fin,
                    rsv1: *rsv1,
                    opcode: OpCode::from(*opcode & 0x0f),
                    mask: masked.then_some(MASK),
                    ..FrameHeader::default()
                };
                Frame::from_payload(header, Bytes::copy_from_slice(payload))
                    .format(&mut wire)
                    .expect("a frame formats into a Vec");
            }
            Step::Raw(bytes) => wire.extend_from_slice(bytes),
            Step::Broker(_) => continue,
            Step::Pause => {
                tokio::time::sleep(Duration::from_millis(1)).await;
                continue;
            }
        }
        if pipe.write_all(&wire[start..]).await.is_err() {
            break;
        }
    }
    sent.cancel();
    if knobs.shutdown {
        shutdown.cancel();
        done.cancelled().await;
    }
    let _ = pipe.shutdown().await;
    wire
}

/// What the browser received.
#[derive(Debug, Default)]
struct Received {
    binary: Vec<u8>,
    texts: usize,
    close_code: Option<u16>,
}

/// Reads the relay's messages as a client-role WebSocket until the stream ends, after
/// `wait` (if given) is cancelled.
async fn receive<R>(pipe: R, wait: Option<&CancellationToken>) -> Received
where
    R: AsyncRead + Unpin,
{
    if let Some(wait) = wait {
        wait.cancelled().await;
    }
    let config = WebSocketConfig::default().read_buffer_size(4 * 1024);
    let mut ws = WebSocketStream::from_raw_socket(ReadOnly(pipe), Role::Client, Some(config)).await;
    let mut received = Received::default();
    while let Some(Ok(message)) = ws.next().await {
        match message {
            Message::Binary(bytes) => received.binary.extend_from_slice(&bytes),
            Message::Text(_) => received.texts += 1,
            Message::Close(frame) => received.close_code = frame.map(|f| f.code.into()),
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
        }
    }
    received
}

/// The browser's reading half as a stream whose writes (its pongs and close replies, which
/// the relay does not wait for) are dropped: the browser's own bytes are written by
/// [`send`] alone.
struct ReadOnly<R>(R);

impl<R: AsyncRead + Unpin> AsyncRead for ReadOnly<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<R: Unpin> AsyncWrite for ReadOnly<R> {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // CONNECT 3.1.1, client id "a", clean session, keepalive 60.
    const CONNECT_V311: &[u8] = &[
        0x10, 0x0d, // CONNECT, remaining length 13
        0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name
        0x04, // level 4: 3.1.1
        0x02, // clean session
        0x00, 0x3c, // keepalive 60 s
        0x00, 0x01, b'a', // client id "a"
    ];
    // PUBLISH QoS 0 to "all/x", payload "hi".
    const PUBLISH: &[u8] = &[
        0x30, 0x09, // PUBLISH QoS 0, remaining length 9
        0x00, 0x05, b'a', b'l', b'l', b'/', b'x', // topic "all/x"
        b'h', b'i', // payload
    ];

    fn binary(payload: &[u8]) -> Step {
        Step::Frame {
            opcode: 2,
            fin: true,
            masked: true,
            rsv1: false,
            payload: payload.to_vec(),
        }
    }

    #[test]
    fn relays_a_session_to_the_broker_and_back() {
        let input = Input {
            knobs: Knobs {
                broker: BrokerMode::Echo,
                ..Knobs::default()
            },
            steps: vec![
                binary(CONNECT_V311),
                Step::Pause,
                binary(PUBLISH),
                Step::Pause,
            ],
        };
        let outcome = run(&input);
        assert!(outcome.reached_broker);
        assert_eq!(outcome.upstream, CONNECT_V311.len() + PUBLISH.len());
        // CONNACK (4 bytes), then the PUBLISH echoed.
        assert_eq!(outcome.downstream, 4 + PUBLISH.len());
    }

    #[test]
    fn refuses_garbage_without_a_broker_connection() {
        // A binary message holding PINGREQ: the first packet must be CONNECT.
        let input = Input::parse(&[0, 0, 0x02, 2, 0, 0xc0, 0x00]);
        let outcome = run(&input);
        assert!(!outcome.reached_broker);
        assert_eq!(outcome.close_code, Some(1002));
    }

    #[test]
    fn ends_on_shutdown_while_the_broker_stalls() {
        let input = Input {
            knobs: Knobs {
                shutdown: true,
                broker: BrokerMode::Stall,
                ..Knobs::default()
            },
            steps: vec![binary(CONNECT_V311), binary(PUBLISH)],
        };
        let outcome = run(&input);
        assert!(outcome.reached_broker);
        assert_eq!(outcome.close_code, Some(1001));
        assert!(outcome.elapsed >= Duration::from_secs(1), "{outcome:?}");
    }

    #[test]
    fn a_rate_limited_client_that_closes_loses_nothing_it_sent() {
        // The seed: a session over --max-message-rate, then the client's close (found by
        // this target: the relay ended while it waited out the rate, and the publishes it
        // held were lost; 917 bytes reach the broker without the rate limit).
        let input = Input::parse(include_bytes!("../fuzz/seeds/rate_limited"));
        let outcome = run(&input);
        let mut unlimited = input.clone();
        unlimited.knobs.rate_limits = false;
        let expected = run(&unlimited).upstream;
        assert_eq!(outcome.upstream, expected, "{outcome:?}");
    }

    #[test]
    fn parses_every_input() {
        assert_eq!(Input::parse(&[]), Input::default());
        let input = Input::parse(&[0x01, 0x01, 0x12, 2, 0, 1, 2, 0x81, 1, 0, 7, 0x82]);
        assert!(input.knobs.transparent && input.knobs.broker == BrokerMode::Echo);
        assert_eq!(
            input.steps,
            vec![
                Step::Frame {
                    opcode: 2,
                    fin: false,
                    masked: true,
                    rsv1: false,
                    payload: vec![1, 2]
                },
                Step::Broker(vec![7]),
                Step::Pause,
            ]
        );
    }
}
