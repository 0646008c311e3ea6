//! Sample data for the dashboard: a few hosts' CPU, memory, request rate and latency as a
//! random walk, published at QoS 0 to `metrics/<host>/<metric>` (payload
//! `{"ts": ms, "value": n}`), and an alert on `alerts/<level>` when a value crosses a
//! threshold. It speaks MQTT over WebSocket through the bridge, like a browser would.
//!
//! ```sh
//! cargo run --release -p ws-bridge --example demo_feed -- --url ws://127.0.0.1:8080/mqtt
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use mqttwire::{Connect, Packet, ProtocolVersion, Publish, TopicName};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Publishes sample metrics and alerts for the mqttwire dashboard.
#[derive(Parser, Debug)]
struct Args {
    /// The bridge's MQTT-over-WebSocket URL.
    #[arg(long, default_value = "ws://127.0.0.1:8080/mqtt")]
    url: String,
    /// Time between two samples of every metric.
    #[arg(long, default_value = "500ms", value_parser = humantime::parse_duration)]
    interval: Duration,
    /// Stop after this many rounds (default: run until stopped).
    #[arg(long)]
    count: Option<u64>,
}

/// One metric of one host: a bounded random walk.
struct Series {
    host: &'static str,
    metric: &'static str,
    value: f64,
    min: f64,
    max: f64,
    step: f64,
    alert_above: f64,
    alerting: bool,
}

impl Series {
    fn next(&mut self, rng: &mut fastrand::Rng) -> f64 {
        let drift = (rng.f64() - 0.5) * 2.0 * self.step;
        self.value = (self.value + drift).clamp(self.min, self.max);
        self.value
    }
}

fn all_series() -> Vec<Series> {
    let mut out = Vec::new();
    for (host, load) in [("web-1", 1.0), ("web-2", 0.8), ("db-1", 0.6)] {
        let s = |metric, value: f64, max: f64, step: f64, alert_above: f64| Series {
            host,
            metric,
            value: value * load,
            min: 0.0,
            max,
            step,
            alert_above,
            alerting: false,
        };
        out.push(s("cpu", 40.0, 100.0, 6.0, 90.0));
        out.push(s("memory", 55.0, 100.0, 1.5, 92.0));
        out.push(s("requests", 800.0, 3000.0, 120.0, 2600.0));
        out.push(s("latency", 40.0, 500.0, 12.0, 250.0));
    }
    out
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn encode(packet: &Packet, out: &mut BytesMut) -> Result<(), Box<dyn std::error::Error>> {
    packet.encode(ProtocolVersion::V5, out)?;
    Ok(())
}

fn publish(
    topic: String,
    payload: String,
    out: &mut BytesMut,
) -> Result<(), Box<dyn std::error::Error>> {
    encode(
        &Packet::Publish(Publish::new(TopicName::try_from(topic)?, payload)),
        out,
    )
}

async fn run(
    args: &Args,
    rng: &mut fastrand::Rng,
    series: &mut [Series],
    rounds: &mut u64,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut request = args.url.as_str().into_client_request()?;
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "mqtt".parse()?);
    let host = request
        .uri()
        .host()
        .ok_or("the URL has no host")?
        .to_owned();
    let port = request.uri().port_u16().unwrap_or(80);
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
    tcp.set_nodelay(true)?;
    let (ws, _) = tokio_tungstenite::client_async(request, tcp).await?;
    let (mut sink, mut stream) = ws.split();
    // Incoming: CONNACK and nothing else at QoS 0; reading also answers WebSocket pings.
    let reader = tokio::spawn(async move { while let Some(Ok(_)) = stream.next().await {} });

    let mut connect = Connect::new(ProtocolVersion::V5, format!("demo-feed-{}", rng.u32(..)));
    connect.keep_alive = 60;
    let mut out = BytesMut::new();
    encode(&Packet::Connect(connect), &mut out)?;
    sink.send(Message::binary(out.split().freeze())).await?;
    eprintln!(
        "demo_feed: publishing to {} every {:?}",
        args.url, args.interval
    );

    let mut tick = tokio::time::interval(args.interval);
    while args.count.is_none_or(|n| *rounds < n) {
        tick.tick().await;
        if reader.is_finished() {
            return Err("the bridge closed the connection".into());
        }
        let ts = now_ms();
        for s in series.iter_mut() {
            let value = s.next(rng);
            publish(
                format!("metrics/{}/{}", s.host, s.metric),
                format!(r#"{{"ts":{ts},"value":{value:.2}}}"#),
                &mut out,
            )?;
            let above = value > s.alert_above;
            if above != s.alerting {
                s.alerting = above;
                let (level, message) = if above {
                    (
                        "warning",
                        format!("{} {} high: {value:.1}", s.host, s.metric),
                    )
                } else {
                    (
                        "info",
                        format!("{} {} back to normal: {value:.1}", s.host, s.metric),
                    )
                };
                publish(
                    format!("alerts/{level}"),
                    format!(r#"{{"ts":{ts},"level":"{level}","message":"{message}"}}"#),
                    &mut out,
                )?;
            }
        }
        sink.send(Message::binary(out.split().freeze())).await?;
        *rounds += 1;
    }
    out.clear();
    encode(&Packet::Disconnect(Default::default()), &mut out)?;
    sink.send(Message::binary(out.split().freeze())).await?;
    sink.close().await?;
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse();
    let mut rng = fastrand::Rng::new();
    let mut series = all_series();
    let mut rounds = 0;
    // Reconnect once a second while the bridge is away; with --count, give up after a
    // minute of failures.
    let mut failures = 0;
    loop {
        match run(&args, &mut rng, &mut series, &mut rounds).await {
            Ok(()) => return,
            Err(error) => eprintln!("demo_feed: {error}; retrying in 1 s"),
        }
        failures += 1;
        if args.count.is_some() && failures >= 60 {
            eprintln!("demo_feed: giving up");
            std::process::exit(1);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
