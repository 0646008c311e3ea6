//! Sample data for the dashboard: a few hosts' CPU, memory, request rate and latency as a
//! random walk, published at QoS 0 to `metrics/<host>/<metric>` (payload
//! `{"ts": ms, "value": n}`), and an alert on `alerts/<level>` when a value crosses a
//! threshold. It speaks MQTT 5.0 over WebSocket through the bridge, like a browser would,
//! with the native client of `mqttwire-tokio`, which reconnects every second while the
//! bridge is away.
//!
//! ```sh
//! cargo run --release -p ws-bridge --example demo_feed -- --url ws://127.0.0.1:8080/mqtt
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Parser;
use mqttwire::client::{ClientOptions, DisconnectedBy, Event, OfflineQos0, ReconnectOptions};
use mqttwire::{ProtocolVersion, Publish, ReasonCode, TopicName};
use mqttwire_tokio::{ClientHandle, Endpoint};
use tokio::sync::watch;

/// Publishes sample metrics and alerts for the mqttwire dashboard.
#[derive(Parser, Debug)]
struct Args {
    /// The bridge's MQTT-over-WebSocket URL.
    #[arg(long, default_value = "ws://127.0.0.1:8080/mqtt")]
    url: Endpoint,
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

/// Publishes `payload` to `topic` at QoS 0; a message given while offline is dropped.
async fn publish(client: &ClientHandle, topic: String, payload: String) -> Result<(), Error> {
    let publish = Publish::new(TopicName::try_from(topic)?, payload);
    client.start_publish(publish).await?;
    Ok(())
}

type Error = Box<dyn std::error::Error>;

/// One round: a sample of every series, and an alert for each that crossed its threshold.
async fn round(
    client: &ClientHandle,
    rng: &mut fastrand::Rng,
    series: &mut [Series],
) -> Result<(), Error> {
    let ts = now_ms();
    for s in series.iter_mut() {
        let value = s.next(rng);
        publish(
            client,
            format!("metrics/{}/{}", s.host, s.metric),
            format!(r#"{{"ts":{ts},"value":{value:.2}}}"#),
        )
        .await?;
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
                client,
                format!("alerts/{level}"),
                format!(r#"{{"ts":{ts},"level":"{level}","message":"{message}"}}"#),
            )
            .await?;
        }
    }
    Ok(())
}

/// Whether the client is connected, from its events; `Err` once it gave up reconnecting.
type Online = watch::Receiver<Result<bool, ()>>;

/// Follows the client's events: reports connections and losses, and gives up with the
/// engine.
fn watch_connection(
    mut events: mqttwire_tokio::Events,
    url: &Endpoint,
    interval: Duration,
) -> Online {
    let (tx, rx) = watch::channel(Ok(false));
    let url = url.clone();
    tokio::spawn(async move {
        while let Some(event) = events.next().await {
            match event {
                Event::Connected { .. } => {
                    eprintln!("demo_feed: publishing to {url} every {interval:?}");
                    let _ = tx.send(Ok(true));
                }
                Event::Disconnected {
                    by, reason_code, ..
                } => {
                    match by {
                        DisconnectedBy::Client => {} // the end, after --count rounds
                        DisconnectedBy::Server => eprintln!(
                            "demo_feed: the bridge closed the connection ({reason_code}); retrying within 1 s"
                        ),
                        DisconnectedBy::Transport => eprintln!(
                            "demo_feed: the bridge cannot be reached or the connection broke; retrying within 1 s"
                        ),
                    }
                    let _ = tx.send(Ok(false));
                }
                Event::ReconnectGaveUp => {
                    let _ = tx.send(Err(()));
                }
                _ => {}
            }
        }
    });
    rx
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse();
    let mut rng = fastrand::Rng::new();
    let mut series = all_series();
    // Reconnect once a second while the bridge is away; with --count, give up after a
    // minute of failures.
    let mut options = ClientOptions::new(ProtocolVersion::V5, format!("demo-feed-{}", rng.u32(..)));
    options.keep_alive = 60;
    options.offline_qos0 = OfflineQos0::Drop;
    options.reconnect = Some(ReconnectOptions {
        min_delay: Duration::from_secs(1),
        max_delay: Duration::from_secs(1),
        max_attempts: args.count.map(|_| 60),
        seed: rng.u64(..),
    });
    let (client, events) = mqttwire_tokio::spawn(args.url.clone(), options);
    let mut online = watch_connection(events, &args.url, args.interval);

    let mut rounds = 0;
    let mut tick = tokio::time::interval(args.interval);
    while args.count.is_none_or(|n| rounds < n) {
        tick.tick().await;
        match *online.borrow_and_update() {
            Ok(true) => {}
            Ok(false) => continue, // a round while offline is skipped, not counted
            Err(()) => {
                eprintln!("demo_feed: giving up");
                std::process::exit(1);
            }
        }
        if let Err(error) = round(&client, &mut rng, &mut series).await {
            eprintln!("demo_feed: {error}");
            std::process::exit(1);
        }
        rounds += 1;
    }
    if let Err(error) = client.disconnect(ReasonCode::SUCCESS).await {
        eprintln!("demo_feed: {error}");
        std::process::exit(1);
    }
}
