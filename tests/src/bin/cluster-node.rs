//! One node of a real MQTT broker cluster: rmqtt with its `rmqtt-cluster-broadcast` plugin
//! (nodes forward publishes, retained messages and session takeovers to each other over
//! gRPC) and `rmqtt-retainer`, MQTT 3.1.1 and 5.0 on one TCP port of 127.0.0.1.
//!
//! ```text
//! cluster-node ID MQTT_PORT GRPC_PORT [PEER_ID@127.0.0.1:GRPC_PORT ...]
//! ```
//!
//! The peer list holds every node of the cluster (this one included, as rmqtt expects). It
//! prints `READY` once its MQTT port accepts connections, and runs until killed or, when
//! its standard input is a pipe, until that closes. [`mqttwire_tests::cluster`] starts and kills these.

use std::net::{Ipv4Addr, SocketAddr};
use std::num::NonZeroU16;
use std::os::unix::fs::FileTypeExt;
use std::process::ExitCode;
use std::time::Duration;

use rmqtt::context::{CircuitBreakerConfig, TimeBasedWindowConfig, WindowConfig};
use tokio::io::AsyncReadExt;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("cluster-node: {error}");
            ExitCode::FAILURE
        }
    }
}

/// How fast a node stops waiting for a dead peer. Until its circuit breaker to that peer
/// opens, every publish on a node waits out the gRPC timeout (and a connect that takes a
/// session over, 15 s). rmqtt's default breaker opens at a 25 % failure rate over 45 s, so
/// after a busy minute it takes dozens of slow publishes (measured: every QoS 1 publish of a
/// stream took 503 ms for over a minute). The test cluster looks at the last 2 s only, opens
/// once half of at least three calls failed, and probes the peer again after 30 s.
fn breaker() -> CircuitBreakerConfig {
    CircuitBreakerConfig {
        failure_rate_threshold: 0.5,
        window: WindowConfig::TimeBased(TimeBasedWindowConfig {
            sliding_window_duration: Duration::from_secs(2),
            sliding_window_size: 20,
        }),
        minimum_number_of_calls: 3,
        wait_duration_in_open: Duration::from_secs(30),
        ..CircuitBreakerConfig::default()
    }
}

async fn run(args: &[String]) -> Result<(), String> {
    let [id, mqtt, grpc, peers @ ..] = args else {
        return Err("usage: cluster-node ID MQTT_PORT GRPC_PORT [PEER_ID@HOST:PORT ...]".into());
    };
    let id: u64 = id.parse().map_err(|e| format!("node id {id:?}: {e}"))?;
    let port = |p: &String| p.parse::<u16>().map_err(|e| format!("port {p:?}: {e}"));
    let mqtt = SocketAddr::from((Ipv4Addr::LOCALHOST, port(mqtt)?));
    let grpc = SocketAddr::from((Ipv4Addr::LOCALHOST, port(grpc)?));
    let peers: Vec<String> = peers.iter().map(|p| format!("{p:?}")).collect();
    let err = |e: &dyn std::fmt::Display| e.to_string();

    let scx = rmqtt::context::ServerContext::new()
        .node_id(id)
        .circuit_breaker_config(breaker())
        .plugins_config_map_add("rmqtt-retainer", r#"storage.type = "ram""#)
        .plugins_config_map_add(
            "rmqtt-cluster-broadcast",
            format!(
                "node_grpc_addrs = [{}]\nnode_grpc_client_timeout = \"500ms\"",
                peers.join(", ")
            ),
        )
        .build()
        .await;
    rmqtt_retainer::register(&scx, true, false)
        .await
        .map_err(|e| err(&e))?;
    rmqtt_cluster_broadcast::register(&scx, true, false)
        .await
        .map_err(|e| err(&e))?;
    let grpc_server = rmqtt::grpc::GrpcServer::new(scx.clone());
    tokio::spawn(async move {
        if let Err(error) = grpc_server.listen_and_serve(grpc, true, false).await {
            eprintln!("cluster-node: gRPC server stopped: {error}");
            std::process::exit(1);
        }
    });
    let listener = rmqtt::net::Builder::new()
        .name("tcp")
        .laddr(mqtt)
        .reuseaddr(Some(true))
        // As the benches configure mosquitto (max_queued_messages 0): a fast QoS 1 stream is
        // queued for a subscriber, not dropped past rmqtt's default of 1,000 messages, and
        // delivered 1,000 unacknowledged at a time rather than 16.
        .max_mqueue_len(1_000_000)
        .max_inflight(NonZeroU16::new(1000).expect("not zero"))
        .bind()
        .map_err(|e| err(&e))?
        .tcp()
        .map_err(|e| err(&e))?;
    let server = rmqtt::server::MqttServer::new(scx)
        .listener(listener)
        .build();
    let serve = tokio::spawn(server.run());

    let mut up = false;
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(mqtt).await.is_ok()
            && tokio::net::TcpStream::connect(grpc).await.is_ok()
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    if !up {
        return Err(format!("nothing listens on {mqtt} and {grpc} after 5 s"));
    }
    println!("READY");

    // A pipe on standard input ties the node's life to its parent's (the test fixture); on
    // anything else (a terminal, /dev/null) it runs until stopped.
    let piped = std::fs::metadata("/dev/stdin").is_ok_and(|m| m.file_type().is_fifo());
    let mut stdin = tokio::io::stdin();
    let mut sink = [0u8; 64];
    tokio::select! {
        result = serve => match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(err(&e)),
            Err(e) => Err(err(&e)),
        },
        () = async {
            if !piped {
                std::future::pending::<()>().await;
            }
            while matches!(stdin.read(&mut sink).await, Ok(n) if n > 0) {}
        } => Ok(()),
    }
}
