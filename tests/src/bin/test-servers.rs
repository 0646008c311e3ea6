//! Starts the servers the browser tests talk to: a mosquitto with its own WebSocket
//! listener, and mqttwire-bridge in front of it. Prints their URLs as `NAME=url` lines,
//! then runs until its standard input closes or it gets SIGINT/SIGTERM, and stops both.
//! `tests/run-all.sh` starts it around the wasm tests in Chromium.

use std::io::Write;
use std::process::ExitCode;

use mqttwire_tests::{Bridge, Mosquitto, bridge::config_for};
use tokio::io::AsyncReadExt;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mosquitto = match Mosquitto::start() {
        Ok(m) => m,
        Err(error) => {
            eprintln!("test-servers: {error}");
            return ExitCode::FAILURE;
        }
    };
    // The browser tests' pages come from the test runner's own server, on a port of its
    // choosing: any origin.
    let config = mqttwire_bridge::Config {
        origins: vec!["*".to_owned()],
        ..config_for(&[&mosquitto])
    };
    let bridge = match Bridge::start(config).await {
        Ok(b) => b,
        Err(error) => {
            eprintln!("test-servers: {error}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout();
    let _ = writeln!(out, "MQTTWIRE_MOSQUITTO_WS={}", mosquitto.ws_url());
    let _ = writeln!(out, "MQTTWIRE_BRIDGE_WS={}", bridge.ws_url());
    let _ = out.flush();
    let stdin_closed = async {
        let mut sink = [0u8; 64];
        let mut stdin = tokio::io::stdin();
        while matches!(stdin.read(&mut sink).await, Ok(n) if n > 0) {}
    };
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let terminated = async {
        match term.as_mut() {
            Some(term) => {
                term.recv().await;
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        () = stdin_closed => {}
        () = terminated => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    drop(bridge);
    drop(mosquitto);
    ExitCode::SUCCESS
}
