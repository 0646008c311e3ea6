//! `mqttwire-bridge`: parses the configuration and runs the bridge until SIGTERM or SIGINT.

use std::process::ExitCode;

use clap::Parser;
use mqttwire_bridge::{Config, LogFormat, Settings};
use tokio_util::sync::CancellationToken;

fn main() -> ExitCode {
    let config = match Config::from_cli(Settings::parse()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("mqttwire-bridge: {error}");
            return ExitCode::from(2);
        }
    };
    // Lines go to stderr from a thread of their own: a slow terminal or journal never
    // blocks the relays. The guard flushes what is left on the way out.
    let _log = init_logging(config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("mqttwire-bridge: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "mqttwire-bridge stopped");
            eprintln!("mqttwire-bridge: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(mut config: Config) -> Result<(), Box<dyn std::error::Error>> {
    if config.brokers.is_empty() {
        config.brokers.push(embedded_broker().await?);
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let addr = listener.local_addr()?;
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let brokers: Vec<String> = config.brokers.iter().map(ToString::to_string).collect();
    tracing::info!(brokers = %brokers.join(", "), path = %config.path, "mqttwire-bridge listening on {scheme}://{addr}/");
    if config.serve.is_some() {
        println!("{scheme}://{addr}/");
    }
    let shutdown = CancellationToken::new();
    let (server, handle) = mqttwire_bridge::prepare(config, shutdown.clone())?;
    tokio::spawn(signals(shutdown));
    #[cfg(unix)]
    tokio::spawn(reloads(handle));
    #[cfg(not(unix))]
    drop(handle);
    server.serve(listener).await;
    Ok(())
}

/// On SIGHUP, reloads the TLS certificate and the JWT key from their files.
#[cfg(unix)]
async fn reloads(handle: mqttwire_bridge::Handle) {
    let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
        tracing::warn!("cannot watch SIGHUP: no reloads");
        return;
    };
    while hup.recv().await.is_some() {
        match handle.reload() {
            Ok(()) => tracing::info!("SIGHUP: TLS certificate and JWT key reloaded"),
            Err(error) => tracing::error!(%error, "SIGHUP: reload failed, the old ones stay"),
        }
    }
}

#[cfg(feature = "embedded-broker")]
async fn embedded_broker() -> Result<mqttwire_bridge::BrokerUrl, Box<dyn std::error::Error>> {
    let url = mqttwire_bridge::embedded::start().await?;
    tracing::warn!(
        broker = %url,
        "no --broker given: started the embedded DEVELOPMENT broker (rmqtt, in memory, anonymous). \
         Use --broker mqtt://host:port in production"
    );
    Ok(url)
}

#[cfg(not(feature = "embedded-broker"))]
async fn embedded_broker() -> Result<mqttwire_bridge::BrokerUrl, Box<dyn std::error::Error>> {
    Err("no --broker given, and this build has no embedded broker (feature embedded-broker)".into())
}

/// Cancels `shutdown` on SIGTERM or SIGINT (the drain begins); a second signal exits at
/// once, as an operator who presses Ctrl-C twice expects.
async fn signals(shutdown: CancellationToken) {
    #[cfg(unix)]
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => Some(term),
        Err(error) => {
            tracing::warn!(%error, "cannot watch SIGTERM");
            None
        }
    };
    for first in [true, false] {
        #[cfg(unix)]
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            Some(()) = async {
                match &mut term {
                    Some(term) => term.recv().await,
                    None => std::future::pending().await,
                }
            } => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        if first {
            tracing::info!("signal received: draining (a second signal exits at once)");
            shutdown.cancel();
        }
    }
    tracing::warn!("second signal received: exiting without waiting for connections");
    std::process::exit(130);
}

fn init_logging(format: LogFormat) -> tracing_appender::non_blocking::WorkerGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (writer, guard) = tracing_appender::non_blocking(std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    guard
}
