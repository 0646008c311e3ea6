//! The `mqttwire-bridge` binary and signals: SIGTERM starts the drain and the process exits
//! once it is over; a second SIGTERM exits at once, whatever the connections do.

use std::io::Write;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Starts the binary on a free port in front of a broker that is not there (nothing is
/// relayed in these tests) with a long drain; waits until it accepts connections.
fn bridge() -> (Child, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_mqttwire-bridge"))
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--broker",
            "mqtt://127.0.0.1:9",
        ])
        .args(["--drain-timeout", "60s", "--write-timeout", "60s"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the bridge did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, port)
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

/// Waits up to `within` for `child` to exit.
fn exited(child: &mut Child, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if child.try_wait().expect("waits").is_some() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn a_second_sigterm_exits_at_once_during_a_long_drain() {
    let (mut child, port) = bridge();
    // A connection in the middle of an HTTP request keeps the drain busy.
    let mut busy = TcpStream::connect(("127.0.0.1", port)).expect("connects");
    busy.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .expect("half a request");
    signal(&child, "TERM");
    assert!(
        !exited(&mut child, Duration::from_millis(500)),
        "the drain ended at once"
    );
    signal(&child, "TERM");
    let gone = exited(&mut child, Duration::from_secs(2));
    if !gone {
        let _ = child.kill();
    }
    assert!(gone, "a second SIGTERM did not end the process");
}
