//! No message lost, no QoS 2 message duplicated, while connections fail at random.
//!
//! One client publishes 5,000 QoS 1 and 5,000 QoS 2 messages (the payload is the sequence
//! number) to a real mosquitto; another, subscribed with a persistent session, receives
//! them. Meanwhile the connections of both are cut at random moments (a seeded RNG): each
//! cut drops the socket with bytes in flight either way, and the engine reconnects and
//! resumes its session. Every QoS 1 message must arrive at least once and every QoS 2
//! message exactly once [MQTT-4.3.3], [MQTT-4.4.0-1].
//!
//! mosquitto lets a client have at most 20 QoS 2 messages unreleased (its
//! `max_inflight_messages`). On 5.0 it says so in CONNACK (Receive Maximum); on 3.1.1
//! there is no way to say it, and mosquitto answers a message past the quota with a PUBACK
//! that reads as success on 3.1.1, drops it and disconnects. The engine's `max_inflight`
//! (20 by default on 3.1.1) keeps to the quota; the last test queues all 10,000 messages
//! at once on 3.1.1 to check that it does.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mqttwire::client::{ClientOptions, Event, ReconnectOptions};
use mqttwire::{Properties, ProtocolVersion, QoS};
use mqttwire_tests::{ClientHandle, Events, Mosquitto, message, spawn, subscription};
use tokio::sync::Semaphore;
use tokio::time::timeout_at;

use ProtocolVersion::{V5, V311};

/// Messages published at each of QoS 1 and QoS 2.
const PER_QOS: u32 = 5_000;
/// Fewest cuts, over publisher and subscriber together.
const MIN_CUTS: u32 = 20;
/// Messages published between two pauses, and the pause: spreads publishing over about
/// two seconds so that the cuts fall among it.
const BATCH: u32 = 100;
const PAUSE: Duration = Duration::from_millis(20);
/// Time between cuts, drawn uniformly, in milliseconds.
const CUT_EVERY_MS: std::ops::RangeInclusive<u64> = 20..=100;
/// After the last missing message arrived, how long to keep listening for duplicates.
const GRACE: Duration = Duration::from_millis(500);
/// The longest the publishing and the delivery may take.
const DEADLINE: Duration = Duration::from_secs(50);
/// The longest a connection may take.
const WAIT: Duration = Duration::from_secs(5);

const Q1: &str = "loss/q1";
const Q2: &str = "loss/q2";

#[tokio::test]
async fn loses_no_message_across_random_cuts_v311() {
    Run {
        version: V311,
        seed: 0x5eed_0311,
        window: None,
        cuts: true,
    }
    .check()
    .await;
}

#[tokio::test]
async fn loses_no_message_across_random_cuts_v5() {
    Run {
        version: V5,
        seed: 0x5eed_0005,
        window: None,
        cuts: true,
    }
    .check()
    .await;
}

/// All messages queued at once on 3.1.1, no cuts: the engine's in-flight cap must keep
/// mosquitto from dropping QoS 1 messages past its quota.
#[tokio::test]
async fn keeps_within_mosquitto_quota_on_v311() {
    Run {
        version: V311,
        seed: 0x5eed_0312,
        window: None,
        cuts: false,
    }
    .check()
    .await;
}

/// One run of the loss test.
struct Run {
    version: ProtocolVersion,
    seed: u64,
    /// Most messages the publishing application leaves unacknowledged; `None` queues
    /// them all in the engine.
    window: Option<usize>,
    /// Cut connections at random.
    cuts: bool,
}

impl Run {
    /// Runs it and asserts. `MQTTWIRE_LOSS_SEED` (decimal or 0x hex) replaces the seed of
    /// the cuts and of the reconnect jitter, to try or reproduce other schedules.
    async fn check(mut self) {
        if let Ok(seed) = std::env::var("MQTTWIRE_LOSS_SEED") {
            let parsed = match seed.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => seed.parse(),
            };
            self.seed = parsed.expect("MQTTWIRE_LOSS_SEED is a number");
        }
        let started = Instant::now();
        let broker = Mosquitto::start().unwrap_or_else(|e| panic!("{e}"));
        let url = broker.tcp_url();
        let deadline = tokio::time::Instant::now() + DEADLINE;
        let total = 2 * PER_QOS as usize;

        let (subscriber, mut sub_events) = spawn(
            url.parse().expect("valid URL"),
            options(self.version, "loss-sub", self.seed),
        );
        sub_events.connected(WAIT).await.expect("CONNACK");
        subscriber
            .start_subscribe(
                vec![
                    subscription(Q1, QoS::AtLeastOnce),
                    subscription(Q2, QoS::ExactlyOnce),
                ],
                Properties::new(),
            )
            .await
            .expect("subscribe accepted");
        let codes = sub_events
            .wait_map(WAIT, |e| match e {
                Event::Subscribed { reason_codes, .. } => Some(reason_codes),
                _ => None,
            })
            .await
            .expect("SUBACK");
        assert!(codes.iter().all(|c| !c.is_error()), "{codes:?}");
        let receiving = tokio::spawn(receive(sub_events, deadline));

        let (publisher, mut pub_events) = spawn(
            url.parse().expect("valid URL"),
            options(self.version, "loss-pub", self.seed + 1),
        );
        pub_events.connected(WAIT).await.expect("CONNACK");
        let window = Arc::new(Semaphore::new(self.window.unwrap_or(total)));
        let done = Arc::new(AtomicBool::new(false));
        let completing = tokio::spawn(complete(pub_events, deadline, window.clone(), done.clone()));

        let mut rng = fastrand::Rng::with_seed(self.seed);
        let cutting = async {
            if self.cuts {
                cut_at_random(&mut rng, &publisher, &subscriber, &done, deadline).await
            } else {
                (0, 0)
            }
        };
        let (published_all, (pub_cuts, sub_cuts)) = tokio::join!(
            timeout_at(deadline, publish_all(&publisher, &window)),
            cutting,
        );
        let published = completing.await.expect("the publisher's counter");
        let received = receiving.await.expect("the subscriber's counter");

        let missing = |counts: &[u32]| counts.iter().filter(|&&n| n == 0).count();
        let duplicates = |counts: &[u32]| counts.iter().map(|&n| n.saturating_sub(1)).sum::<u32>();
        let received_sum = |counts: &[u32]| counts.iter().sum::<u32>();
        println!(
            "loss test {:?} (seed {:#x}, window {:?}): published {PER_QOS} QoS 1 + {PER_QOS} \
             QoS 2, {} completed, {} failed; cuts: {pub_cuts} publisher + {sub_cuts} \
             subscriber = {}; QoS 1 received {} ({} missing, {} duplicates); QoS 2 received \
             {} ({} missing, {} duplicates); reconnections: publisher {} (session lost {}), \
             subscriber {} (session lost {}); {:.1} s",
            self.version,
            self.seed,
            self.window,
            published.completed.len(),
            published.failed.len(),
            pub_cuts + sub_cuts,
            received_sum(&received.q1),
            missing(&received.q1),
            duplicates(&received.q1),
            received_sum(&received.q2),
            missing(&received.q2),
            duplicates(&received.q2),
            published.reconnections,
            published.sessions_lost,
            received.reconnections,
            received.sessions_lost,
            started.elapsed().as_secs_f64(),
        );

        assert!(published_all.is_ok(), "publishing did not finish in time");
        assert!(
            published.failed.is_empty(),
            "failed: {:?}",
            published.failed
        );
        assert_eq!(published.completed.len(), total, "publishes completed");
        assert!(received.other.is_empty(), "{:?}", received.other);
        assert_eq!(received.wrong_qos, 0, "messages at the wrong QoS");
        assert_eq!(missing(&received.q1), 0, "QoS 1 messages lost");
        assert_eq!(missing(&received.q2), 0, "QoS 2 messages lost");
        let repeated: Vec<usize> = (0..received.q2.len())
            .filter(|&n| received.q2[n] > 1)
            .collect();
        assert!(repeated.is_empty(), "QoS 2 delivered twice: {repeated:?}");
        assert_eq!(published.sessions_lost + received.sessions_lost, 0);
        if self.cuts {
            assert!(pub_cuts + sub_cuts >= MIN_CUTS, "too few cuts");
            assert!(pub_cuts > 0 && sub_cuts > 0, "cuts on both sides");
        }
    }
}

/// A client that keeps its session across connections and reconnects after 10 to 200 ms.
fn options(version: ProtocolVersion, client_id: &str, seed: u64) -> ClientOptions {
    let mut o = ClientOptions::new(version, client_id);
    match version {
        V311 => o.clean_start = false,
        V5 => o.session_expiry = 600,
    }
    o.reconnect = Some(ReconnectOptions {
        min_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(200),
        max_attempts: None,
        seed,
    });
    o
}

/// Publishes every message, in batches with a pause between them, each once a place in
/// the window is free.
async fn publish_all(publisher: &ClientHandle, window: &Semaphore) {
    for n in 0..PER_QOS {
        let payload = n.to_be_bytes().to_vec();
        for (topic, qos) in [(Q1, QoS::AtLeastOnce), (Q2, QoS::ExactlyOnce)] {
            window.acquire().await.expect("never closed").forget();
            publisher
                .start_publish(message(topic, payload.clone(), qos))
                .await
                .expect("the engine queues the message");
        }
        if (n + 1) % (BATCH / 2) == 0 {
            tokio::time::sleep(PAUSE).await;
        }
    }
}

/// Cuts the publisher or the subscriber at random moments until publishing is complete
/// and at least [`MIN_CUTS`] cuts were made; returns the cuts of each.
async fn cut_at_random(
    rng: &mut fastrand::Rng,
    publisher: &ClientHandle,
    subscriber: &ClientHandle,
    done: &AtomicBool,
    deadline: tokio::time::Instant,
) -> (u32, u32) {
    let (mut pub_cuts, mut sub_cuts) = (0, 0);
    while tokio::time::Instant::now() < deadline
        && !(done.load(Ordering::SeqCst) && pub_cuts + sub_cuts >= MIN_CUTS)
    {
        tokio::time::sleep(Duration::from_millis(rng.u64(CUT_EVERY_MS))).await;
        if rng.bool() {
            pub_cuts += u32::from(publisher.cut().await.expect("driver alive"));
        } else {
            sub_cuts += u32::from(subscriber.cut().await.expect("driver alive"));
        }
    }
    (pub_cuts, sub_cuts)
}

/// What the publisher saw.
#[derive(Debug, Default)]
struct Published {
    completed: HashSet<u64>,
    failed: Vec<String>,
    reconnections: u32,
    sessions_lost: u32,
}

/// Counts publish outcomes until every message has one or the deadline passes, freeing a
/// place in the window for each; sets `done` at the end.
async fn complete(
    mut events: Events,
    deadline: tokio::time::Instant,
    window: Arc<Semaphore>,
    done: Arc<AtomicBool>,
) -> Published {
    let mut got = Published::default();
    let total = 2 * PER_QOS as usize;
    while got.completed.len() + got.failed.len() < total {
        let Ok(Some(event)) = timeout_at(deadline, events.next()).await else {
            break;
        };
        match event {
            Event::PublishComplete { handle, .. } => {
                got.completed.insert(handle.0);
                window.add_permits(1);
            }
            Event::PublishFailed { handle, error } => {
                got.failed.push(format!("{handle:?}: {error}"));
                window.add_permits(1);
            }
            Event::Connected {
                session_present, ..
            } => {
                got.reconnections += 1;
                got.sessions_lost += u32::from(!session_present);
            }
            _ => {}
        }
    }
    done.store(true, Ordering::SeqCst);
    got
}

/// What the subscriber saw: how often each sequence number arrived, per QoS.
#[derive(Debug, Default)]
struct Received {
    q1: Vec<u32>,
    q2: Vec<u32>,
    reconnections: u32,
    sessions_lost: u32,
    wrong_qos: u32,
    other: Vec<String>,
}

/// Counts messages by sequence number until none is missing (then a grace period for
/// late duplicates) or the deadline passes.
async fn receive(mut events: Events, deadline: tokio::time::Instant) -> Received {
    let mut got = Received {
        q1: vec![0; PER_QOS as usize],
        q2: vec![0; PER_QOS as usize],
        ..Received::default()
    };
    let mut missing = 2 * PER_QOS;
    let mut end = deadline;
    while let Ok(Some(event)) = timeout_at(end, events.next()).await {
        match event {
            Event::Message(p) => {
                let (counts, qos) = match p.topic.as_str() {
                    Q1 => (&mut got.q1, QoS::AtLeastOnce),
                    _ => (&mut got.q2, QoS::ExactlyOnce),
                };
                let count = &mut counts[seq(&p.payload)];
                *count += 1;
                missing -= u32::from(*count == 1);
                got.wrong_qos += u32::from(p.qos != qos);
                if missing == 0 && end == deadline {
                    end = tokio::time::Instant::now() + GRACE;
                }
            }
            Event::Connected {
                session_present, ..
            } => {
                got.reconnections += 1;
                got.sessions_lost += u32::from(!session_present);
            }
            Event::ProtocolError { .. } | Event::ReconnectGaveUp => {
                got.other.push(format!("{event:?}"));
            }
            _ => {}
        }
    }
    got
}

fn seq(payload: &[u8]) -> usize {
    let bytes: [u8; 4] = payload.try_into().expect("a 4-byte sequence number");
    u32::from_be_bytes(bytes) as usize
}
