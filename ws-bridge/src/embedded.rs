//! The development broker: rmqtt in-process on loopback, for when no `--broker` is given.
//! It speaks MQTT 3.1.1 and 5.0 and keeps retained messages in memory. Not for production:
//! build with `--no-default-features` to leave it out.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::time::Duration;

use crate::broker_url::BrokerUrl;

/// Why the development broker did not start.
#[derive(Debug, thiserror::Error)]
#[error("the embedded development broker did not start: {0}")]
pub struct EmbeddedError(String);

/// Starts the development broker on a free loopback port on the current tokio runtime and
/// returns its address once it accepts connections.
pub async fn start() -> Result<BrokerUrl, EmbeddedError> {
    let err = |e: &dyn std::fmt::Display| EmbeddedError(e.to_string());
    // rmqtt does not report the port it bound, so pick a free one first.
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map_err(|e| err(&e))?
        .port();
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let scx = rmqtt::context::ServerContext::new()
        .plugins_config_map_add("rmqtt-retainer", r#"storage.type = "ram""#)
        .build()
        .await;
    // Without the retainer plugin rmqtt silently drops retained messages.
    rmqtt_retainer::register(&scx, true, false)
        .await
        .map_err(|e| err(&e))?;
    let listener = rmqtt::net::Builder::new()
        .name("tcp")
        .laddr(addr)
        .reuseaddr(Some(true))
        .bind()
        .map_err(|e| err(&e))?
        .tcp()
        .map_err(|e| err(&e))?;
    let server = rmqtt::server::MqttServer::new(scx)
        .listener(listener)
        .build();
    tokio::spawn(async move {
        if let Err(error) = server.run().await {
            tracing::error!(%error, "embedded broker stopped");
        }
    });
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(BrokerUrl {
                host: addr.ip().to_string(),
                port,
                tls: false,
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(EmbeddedError(format!(
        "nothing listens on {addr} after 5 s"
    )))
}
