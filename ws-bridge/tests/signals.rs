//! The `mqttwire-bridge` binary and signals: SIGTERM starts the drain and the process exits
//! once it is over; a second SIGTERM exits at once, whatever the connections do; SIGHUP
//! reloads the TLS certificate.

use std::io::Write;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Starts the binary on a free port in front of a broker that is not there (nothing is
/// relayed in these tests) with a long drain; waits until it accepts connections.
fn bridge() -> (Child, u16) {
    bridge_with(&[])
}

/// [`bridge`] with more flags.
fn bridge_with(extra: &[&str]) -> (Child, u16) {
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
        .args(extra)
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

/// The leaf certificate the bridge on `port` serves, trusting `roots`.
fn served_certificate(port: u16, roots: &[rustls_pki_types::CertificateDer<'static>]) -> Vec<u8> {
    use std::sync::Arc;
    let mut store = rustls::RootCertStore::empty();
    for root in roots {
        store.add(root.clone()).expect("a root");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_root_certificates(store)
    .with_no_client_auth();
    let name = rustls_pki_types::ServerName::try_from("localhost").expect("a name");
    let mut connection = rustls::ClientConnection::new(Arc::new(config), name).expect("a client");
    let mut socket = TcpStream::connect(("127.0.0.1", port)).expect("connects");
    while connection.is_handshaking() {
        connection.complete_io(&mut socket).expect("TLS handshake");
    }
    connection.peer_certificates().expect("a chain")[0].to_vec()
}

#[test]
fn sighup_reloads_the_tls_certificate() {
    let first =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("a certificate");
    let second =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("a certificate");
    let dir = std::env::temp_dir().join(format!("mqttwire-sighup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a directory");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, first.cert.pem()).expect("written");
    std::fs::write(&key, first.signing_key.serialize_pem()).expect("written");
    let (cert_arg, key_arg) = (cert.to_str().expect("utf-8"), key.to_str().expect("utf-8"));
    let (mut child, port) = bridge_with(&["--tls-cert", cert_arg, "--tls-key", key_arg]);
    let roots = [first.cert.der().clone(), second.cert.der().clone()];
    let before = served_certificate(port, &roots);
    std::fs::write(&cert, second.cert.pem()).expect("written");
    std::fs::write(&key, second.signing_key.serialize_pem()).expect("written");
    signal(&child, "HUP");
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut after = served_certificate(port, &roots);
    while after != second.cert.der().to_vec() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        after = served_certificate(port, &roots);
    }
    let alive = child.try_wait().expect("waits").is_none();
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(before, first.cert.der().to_vec());
    assert_eq!(
        after,
        second.cert.der().to_vec(),
        "SIGHUP did not reload the certificate"
    );
    assert!(alive, "SIGHUP ended the process");
}
