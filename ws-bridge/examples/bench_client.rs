//! A lean MQTT load generator for `bench/bridge/run.mjs --clients lean`: the publisher and
//! subscriber of the bridge benchmark as a small compiled program, so that the relays, not
//! the clients, are what the benchmark compares.
//!
//! It speaks MQTT 3.1.1 with the protocol crate's codec, over plain TCP (`mqtt://`) or
//! WebSocket (`ws://`, subprotocol `mqtt`; `mqtts://` and `wss://` work too) through `mqttwire-tokio`'s [`Transport`] (the
//! byte pipe without the engine, so that the hot path is a codec call and a write), on a
//! single-threaded runtime (one core at most). A publisher writes up to [`BATCH`] whole PUBLISH packets per
//! WebSocket message (or TCP write); both sides read in large chunks.
//!
//! Driven by the orchestrator over stdin and stdout, one command or event per line, as
//! space-separated `key=value` pairs (values hold no spaces):
//!
//! ```text
//! > id=1 op=sub url=ws://127.0.0.1:8080/mqtt topic=bench/a qos=0 n=100000 capMs=10000
//! < id=1 ev=ready
//! > id=1 op=go
//! < id=1 ev=done count=100000 lastNs=1790000000000000000 timedOut=false
//! < id=1 ev=closed
//! > id=2 op=pub url=... topic=bench/a qos=1 n=20000 size=64 window=1000 capMs=10000
//! < id=2 ev=ready                  (then 'go', 'done' with count startNs endNs, 'closed')
//! ```
//!
//! `pub` also takes `split=true`: each PUBLISH goes out as five WebSocket messages (fixed
//! header byte, remaining length, topic length, topic, rest), as MQTT.js sends it in node,
//! still written together per batch: for profiling a relay's cost per WebSocket message.
//!
//! ```text
//! > id=3 op=rtt url=... topic=bench/r n=2000 size=64 capMs=6000
//! < id=3 ev=done count=.. lost=.. timedOut=.. elapsedMs=.. p50=.. p90=.. p99=.. max=.. mean=..
//! ```
//!
//! Times are nanoseconds since the Unix epoch (CLOCK_REALTIME), comparable between the
//! publisher and subscriber processes of one machine; latencies are in microseconds. An
//! error answers `ev=error error=...`. End of stdin ends the process.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use mqttwire::{
    Ack, Connect, Decoder, Disconnect, Packet, PacketId, ProtocolVersion, Publish, QoS, ReasonCode,
    Subscribe, SubscriptionOptions, TopicFilter, TopicName,
};
use mqttwire_tokio::{Endpoint, Transport, TransportOptions, TransportReceiver, TransportSender};
use tokio::sync::{Notify, oneshot};

/// Most PUBLISH packets per WebSocket message or TCP write.
const BATCH: usize = 64;
/// Bytes asked for per read from a TCP socket (and the WebSocket read buffer).
const READ_CHUNK: usize = 64 * 1024;
/// Time allowed for connecting, CONNACK and SUBACK.
const SETUP_TIMEOUT: Duration = Duration::from_secs(10);
const V311: ProtocolVersion = ProtocolVersion::V311;

type Fields = HashMap<String, String>;
type Error = Box<dyn std::error::Error>;

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, serve());
}

/// Reads commands until stdin ends; each runs as its own task. (A thread reads stdin: the
/// bridge's tokio features have no async stdin.)
async fn serve() {
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut go: HashMap<String, oneshot::Sender<()>> = HashMap::new();
    while let Some(line) = lines.recv().await {
        let fields: Fields = line
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let id = fields.get("id").cloned().unwrap_or_default();
        match fields.get("op").map(String::as_str) {
            Some("go") => {
                if let Some(tx) = go.remove(&id) {
                    let _ = tx.send(());
                }
            }
            Some(op @ ("sub" | "pub" | "rtt")) => {
                let (tx, rx) = oneshot::channel();
                go.insert(id.clone(), tx);
                let op = op.to_owned();
                tokio::task::spawn_local(async move {
                    let result = match op.as_str() {
                        "sub" => sub(&id, &fields, rx).await,
                        "pub" => publish(&id, &fields, rx).await,
                        _ => rtt(&id, &fields).await,
                    };
                    if let Err(error) = result {
                        let error = error.to_string().replace(char::is_whitespace, "_");
                        emit(&id, "error", &[("error", error)]);
                    }
                });
            }
            other => emit(&id, "error", &[("error", format!("unknown_op_{other:?}"))]),
        }
    }
}

/// Subscribes, answers `ready`, and after `go` counts messages until `n` or the cap,
/// acknowledging QoS 1 ones in one message per chunk read.
async fn sub(id: &str, f: &Fields, go: oneshot::Receiver<()>) -> Result<(), Error> {
    let (url, topic, qos) = (field(f, "url")?, field(f, "topic")?, qos_of(f)?);
    let (n, cap) = (number(f, "n")?, Duration::from_millis(number(f, "capMs")?));
    let (mut tx, mut rx) = connect(url, &format!("lean-sub-{}-{id}", std::process::id())).await?;
    let filter = TopicFilter::new(topic.to_owned())?;
    tx.send(encode(&Packet::Subscribe(Subscribe::new(
        PacketId::MIN,
        filter,
        SubscriptionOptions::qos(qos),
    ))))
    .await?;
    match tokio::time::timeout(SETUP_TIMEOUT, rx.packet()).await?? {
        Some(Packet::SubAck(ack)) if ack.reason_codes.first() == Some(&ReasonCode(qos as u8)) => {}
        other => return Err(format!("no SUBACK granting QoS {}: {other:?}", qos as u8).into()),
    }
    emit(id, "ready", &[]);
    let _ = go.await;
    let deadline = Instant::now() + cap;
    let mut count = 0u64;
    let mut last_ns = 0u128;
    let mut acks = BytesMut::new();
    let mut timed_out = false;
    while count < n {
        let chunk = match tokio::time::timeout_at(deadline.into(), rx.chunk()).await {
            Err(_) => {
                timed_out = true;
                break;
            }
            Ok(chunk) => chunk?,
        };
        let Some(chunk) = chunk else {
            timed_out = true; // closed before all came
            break;
        };
        rx.decoder.extend_bytes(chunk);
        while let Some(packet) = rx.decoder.decode_from_server()? {
            if let Packet::Publish(p) = packet {
                count += 1;
                if let Some(packet_id) = p.packet_id {
                    Packet::PubAck(Ack::new(packet_id)).encode(V311, &mut acks)?;
                }
            }
        }
        last_ns = now_ns();
        if !acks.is_empty() {
            tx.send(acks.split().freeze()).await?;
        }
    }
    emit(
        id,
        "done",
        &[
            ("count", count.to_string()),
            ("lastNs", last_ns.to_string()),
            ("timedOut", timed_out.to_string()),
        ],
    );
    tx.close().await;
    emit(id, "closed", &[]);
    Ok(())
}

/// Connects, answers `ready`, and after `go` publishes `n` messages: QoS 0 as fast as the
/// socket takes them, QoS 1 with at most `window` waiting for PUBACK.
async fn publish(id: &str, f: &Fields, go: oneshot::Receiver<()>) -> Result<(), Error> {
    let (url, topic, qos) = (field(f, "url")?, field(f, "topic")?, qos_of(f)?);
    let (n, cap) = (number(f, "n")?, Duration::from_millis(number(f, "capMs")?));
    let size = usize::try_from(number(f, "size")?)?;
    let split = f.get("split").is_some_and(|v| v == "true");
    let window = if qos == QoS::AtMostOnce {
        n
    } else {
        number(f, "window")?.max(1)
    };
    let (mut tx, mut rx) = connect(url, &format!("lean-pub-{}-{id}", std::process::id())).await?;
    let topic = TopicName::new(topic.to_owned())?;
    let payload = Bytes::from(vec![0x61; size]);
    emit(id, "ready", &[]);
    let _ = go.await;
    let start_ns = now_ns();
    let deadline = Instant::now() + cap;

    // PUBACKs are counted by a reader task; QoS 0 has none, but the reader notices a close.
    let acked = Arc::new(AtomicU64::new(0));
    let freed = Arc::new(Notify::new());
    let reader = tokio::task::spawn_local({
        let (acked, freed) = (acked.clone(), freed.clone());
        async move {
            while let Ok(Some(chunk)) = rx.chunk().await {
                rx.decoder.extend_bytes(chunk);
                while let Ok(Some(packet)) = rx.decoder.decode_from_server() {
                    if matches!(packet, Packet::PubAck(_)) {
                        acked.fetch_add(1, Ordering::Relaxed);
                    }
                }
                freed.notify_one();
            }
            freed.notify_one();
        }
    });
    let mut sent = 0u64;
    let mut next_id = 0u16;
    let mut out = BytesMut::new();
    let mut timed_out = false;
    while sent < n {
        if Instant::now() > deadline || reader.is_finished() {
            timed_out = true;
            break;
        }
        let room = window - (sent - acked.load(Ordering::Relaxed));
        if room == 0 {
            let _ = tokio::time::timeout_at(deadline.into(), freed.notified()).await;
            continue;
        }
        for _ in 0..room.min(BATCH as u64).min(n - sent) {
            let mut p = Publish::new(topic.clone(), payload.clone());
            if qos == QoS::AtLeastOnce {
                next_id = next_id.checked_add(1).unwrap_or(1);
                p.qos = qos;
                p.packet_id = PacketId::new(next_id);
            }
            Packet::Publish(p).encode(V311, &mut out)?;
            sent += 1;
            if split {
                let packet = out.split().freeze();
                // 1 byte header, remaining length (1 byte below 128), 2 bytes topic length.
                let topic_end = 4 + topic.as_str().len();
                if packet[1] < 0x80 {
                    for (from, to) in [(0, 1), (1, 2), (2, 4), (4, topic_end)] {
                        tx.feed(packet.slice(from..to)).await?;
                    }
                }
                let rest = if packet[1] < 0x80 { topic_end } else { 0 };
                tx.feed(packet.slice(rest..)).await?;
            }
        }
        // A relay that stops reading must not hold the publisher past the cap.
        let sent_in_time = if split {
            tokio::time::timeout_at(deadline.into(), tx.flush()).await
        } else {
            tokio::time::timeout_at(deadline.into(), tx.send(out.split().freeze())).await
        };
        match sent_in_time {
            Ok(result) => result?,
            Err(_) => {
                timed_out = true;
                break;
            }
        }
    }
    let mut count = sent;
    if qos == QoS::AtLeastOnce {
        while acked.load(Ordering::Relaxed) < sent && !reader.is_finished() {
            if tokio::time::timeout_at(deadline.into(), freed.notified())
                .await
                .is_err()
            {
                timed_out = true;
                break;
            }
        }
        count = acked.load(Ordering::Relaxed);
    }
    let end_ns = now_ns();
    emit(
        id,
        "done",
        &[
            ("count", count.to_string()),
            ("startNs", start_ns.to_string()),
            ("endNs", end_ns.to_string()),
            ("timedOut", timed_out.to_string()),
        ],
    );
    tx.close().await;
    reader.abort();
    emit(id, "closed", &[]);
    Ok(())
}

/// Round trips: one client publishes at QoS 0 on a topic it subscribes to and waits for
/// each message (sequence number first in the payload) before the next.
async fn rtt(id: &str, f: &Fields) -> Result<(), Error> {
    let (url, topic) = (field(f, "url")?, field(f, "topic")?);
    let (n, cap) = (number(f, "n")?, Duration::from_millis(number(f, "capMs")?));
    let size = usize::try_from(number(f, "size")?)?.max(4);
    let (mut tx, mut rx) = connect(url, &format!("lean-rtt-{}-{id}", std::process::id())).await?;
    tx.send(encode(&Packet::Subscribe(Subscribe::new(
        PacketId::MIN,
        TopicFilter::new(topic.to_owned())?,
        SubscriptionOptions::qos(QoS::AtMostOnce),
    ))))
    .await?;
    match tokio::time::timeout(SETUP_TIMEOUT, rx.packet()).await?? {
        Some(Packet::SubAck(_)) => {}
        other => return Err(format!("no SUBACK: {other:?}").into()),
    }
    let topic = TopicName::new(topic.to_owned())?;
    let start = Instant::now();
    let deadline = start + cap;
    let mut samples: Vec<f64> = Vec::new();
    let (mut lost, mut timed_out) = (0u32, false);
    let mut seq = 0u32;
    while (samples.len() as u64) < n {
        if Instant::now() > deadline {
            timed_out = true;
            break;
        }
        seq = seq.wrapping_add(1);
        let mut payload = vec![0x62; size];
        payload[..4].copy_from_slice(&seq.to_be_bytes());
        let t0 = Instant::now();
        tx.send(encode(&Packet::Publish(Publish::new(
            topic.clone(),
            payload,
        ))))
        .await?;
        let wait = async {
            loop {
                match rx.packet().await? {
                    Some(Packet::Publish(p)) if p.payload.get(..4) == Some(&seq.to_be_bytes()) => {
                        return Ok::<bool, Error>(true);
                    }
                    Some(_) => {}
                    None => return Ok(false),
                }
            }
        };
        match tokio::time::timeout(Duration::from_secs(2), wait).await {
            Ok(Ok(true)) => samples.push(t0.elapsed().as_secs_f64() * 1e6),
            Ok(Ok(false)) => return Err("connection closed".into()),
            Ok(Err(error)) => return Err(error),
            Err(_) => {
                lost += 1;
                if lost > 3 {
                    timed_out = true;
                    break;
                }
            }
        }
    }
    let elapsed_ms = start.elapsed().as_secs_f64() * 1e3;
    tx.close().await;
    let mut sorted = samples.clone();
    sorted.sort_by(f64::total_cmp);
    let pct = |p: f64| -> String {
        if sorted.is_empty() {
            return "null".to_owned();
        }
        // Nearest rank, as worker.mjs computes it.
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        format!("{:.3}", sorted[rank.clamp(1, sorted.len()) - 1])
    };
    let mean = if samples.is_empty() {
        "null".to_owned()
    } else {
        format!("{:.3}", samples.iter().sum::<f64>() / samples.len() as f64)
    };
    emit(
        id,
        "done",
        &[
            ("count", samples.len().to_string()),
            ("lost", lost.to_string()),
            ("timedOut", timed_out.to_string()),
            ("elapsedMs", format!("{elapsed_ms:.3}")),
            ("p50", pct(50.0)),
            ("p90", pct(90.0)),
            ("p99", pct(99.0)),
            ("max", pct(100.0)),
            ("mean", mean),
        ],
    );
    emit(id, "closed", &[]);
    Ok(())
}

/// The sending half of a connection.
struct Tx(TransportSender);

impl Tx {
    /// Queues `bytes` as one WebSocket message (TCP: writes them); [`Tx::flush`] sends.
    async fn feed(&mut self, bytes: Bytes) -> Result<(), Error> {
        Ok(self.0.feed(bytes).await?)
    }

    async fn flush(&mut self) -> Result<(), Error> {
        Ok(self.0.flush().await?)
    }

    /// Sends `bytes` as one WebSocket message or one write.
    async fn send(&mut self, bytes: Bytes) -> Result<(), Error> {
        Ok(self.0.send(bytes).await?)
    }

    /// DISCONNECT, then the WebSocket close or the TCP shutdown, within 2 s; errors are
    /// ignored.
    async fn close(&mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            let disconnect = Packet::Disconnect(Disconnect::new(ReasonCode::SUCCESS));
            let _ = self.send(encode(&disconnect)).await;
            self.0.close().await;
        })
        .await;
    }
}

/// The receiving half of a connection and its MQTT decoder.
struct Rx {
    inner: TransportReceiver,
    decoder: Decoder,
}

impl Rx {
    /// The next received bytes (a WebSocket message or a read), `None` once closed.
    async fn chunk(&mut self) -> Result<Option<Bytes>, Error> {
        Ok(self.inner.recv().await?)
    }

    /// The next whole packet, `None` once closed.
    async fn packet(&mut self) -> Result<Option<Packet>, Error> {
        loop {
            if let Some(packet) = self.decoder.decode_from_server()? {
                return Ok(Some(packet));
            }
            match self.chunk().await? {
                Some(bytes) => self.decoder.extend_bytes(bytes),
                None => return Ok(None),
            }
        }
    }
}

/// Connects over TCP or WebSocket and completes CONNECT / CONNACK (3.1.1, clean session,
/// keep alive 60 s).
async fn connect(url: &str, client_id: &str) -> Result<(Tx, Rx), Error> {
    let endpoint: Endpoint = url.parse()?;
    if endpoint.is_tls() {
        return Err(
            format!("unsupported URL {url}: the benchmark measures plain connections").into(),
        );
    }
    let mut options = TransportOptions::default();
    options.connect_timeout = SETUP_TIMEOUT;
    options.read_chunk = READ_CHUNK;
    tokio::time::timeout(SETUP_TIMEOUT, async {
        let (tx, rx) = Transport::connect(&endpoint, &options).await?.split();
        let (mut tx, mut rx) = (
            Tx(tx),
            Rx {
                inner: rx,
                decoder: Decoder::new(V311),
            },
        );
        let mut connect = Connect::new(V311, client_id.to_owned());
        connect.keep_alive = 60;
        tx.send(encode(&Packet::Connect(connect))).await?;
        match rx.packet().await? {
            Some(Packet::ConnAck(ack)) if ack.reason_code == ReasonCode::SUCCESS => Ok((tx, rx)),
            other => Err(format!("no successful CONNACK: {other:?}").into()),
        }
    })
    .await?
}

fn encode(packet: &Packet) -> Bytes {
    let mut out = BytesMut::new();
    packet
        .encode(V311, &mut out)
        .expect("the benchmark's packets encode");
    out.freeze()
}

fn field<'a>(f: &'a Fields, key: &str) -> Result<&'a str, Error> {
    f.get(key)
        .map(String::as_str)
        .ok_or_else(|| format!("missing {key}").into())
}

fn number(f: &Fields, key: &str) -> Result<u64, Error> {
    Ok(field(f, key)?.parse()?)
}

fn qos_of(f: &Fields) -> Result<QoS, Error> {
    match number(f, "qos")? {
        0 => Ok(QoS::AtMostOnce),
        1 => Ok(QoS::AtLeastOnce),
        other => Err(format!("QoS {other} is not measured").into()),
    }
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// Writes one event line to stdout.
fn emit(id: &str, ev: &str, fields: &[(&str, String)]) {
    let mut line = format!("id={id} ev={ev}");
    for (k, v) in fields {
        line.push_str(&format!(" {k}={v}"));
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}
