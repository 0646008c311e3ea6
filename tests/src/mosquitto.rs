//! A real mosquitto broker for one test: Debian's `/usr/sbin/mosquitto` started on free
//! loopback ports with a config of its own in a temporary directory, killed on drop.
//!
//! It listens for MQTT on a plain TCP port and for MQTT over WebSocket on a second one.
//! mosquitto 2.0.11 refuses a config with only a websockets listener, and its websockets
//! listener ignores the bind address without `socket_domain ipv4` (notes/toolchain.md §8).

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// Where Debian installs mosquitto; the `MOSQUITTO` environment variable overrides it.
pub const MOSQUITTO: &str = "/usr/sbin/mosquitto";

/// How many times [`Mosquitto::start`] tries fresh ports when mosquitto exits at once
/// (a port taken between choosing and binding it).
pub const START_ATTEMPTS: u32 = 5;

/// How long one start may take before the listeners accept connections.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Why mosquitto could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerError {
    /// The binary is missing: the machine needs the package.
    #[error(
        "mosquitto is not installed at {0}: run `apt-get install mosquitto` \
         (or set MOSQUITTO to the path of a mosquitto 2.x binary)"
    )]
    NotInstalled(PathBuf),
    /// Writing the config or spawning the process failed.
    #[error("cannot start mosquitto: {0}")]
    Io(#[from] io::Error),
    /// mosquitto exited or did not listen in time, every attempt; its last log says why.
    #[error("mosquitto did not start after {attempts} attempts; its log:\n{log}")]
    DidNotStart {
        /// Attempts made.
        attempts: u32,
        /// What mosquitto logged on the last attempt.
        log: String,
    },
}

/// A running mosquitto, killed (and reaped) when dropped, also when a test panics.
#[derive(Debug)]
pub struct Mosquitto {
    child: Child,
    binary: PathBuf,
    port: u16,
    ws_port: u16,
    dir: TempDir,
}

impl Mosquitto {
    /// Starts mosquitto with anonymous access, no persistence, no limit on the messages it
    /// queues per client, a plain listener and a websockets listener on 127.0.0.1, and
    /// waits until both accept connections.
    pub fn start() -> Result<Mosquitto, BrokerError> {
        Mosquitto::start_with(&[])
    }

    /// Starts mosquitto as [`start`](Mosquitto::start) does, with `extra` lines added to
    /// the global part of its config (such as `max_inflight_messages 0`).
    pub fn start_with(extra: &[&str]) -> Result<Mosquitto, BrokerError> {
        let binary =
            std::env::var_os("MOSQUITTO").map_or_else(|| PathBuf::from(MOSQUITTO), PathBuf::from);
        if !binary.is_file() {
            return Err(BrokerError::NotInstalled(binary));
        }
        let mut log = String::new();
        for _ in 0..START_ATTEMPTS {
            let dir = tempfile::Builder::new()
                .prefix("mqttwire-mosquitto-")
                .tempdir()?;
            let [port, ws_port] = free_ports()?;
            let config = dir.path().join("mosquitto.conf");
            fs::write(&config, config_text(port, ws_port, extra))?;
            let child = spawn(&binary, &dir)?;
            let mut broker = Mosquitto {
                child,
                binary: binary.clone(),
                port,
                ws_port,
                dir,
            };
            if broker.wait_until_listening()? {
                return Ok(broker);
            }
            log = broker.log(); // dropping the broker kills what is left of it
        }
        Err(BrokerError::DidNotStart {
            attempts: START_ATTEMPTS,
            log,
        })
    }

    /// The plain MQTT port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The websockets port on 127.0.0.1.
    pub fn ws_port(&self) -> u16 {
        self.ws_port
    }

    /// `mqtt://127.0.0.1:PORT`, for [`mqttwire_tokio::spawn`].
    pub fn tcp_url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// `ws://127.0.0.1:WSPORT/mqtt`, for [`mqttwire_tokio::spawn`].
    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/mqtt", self.ws_port)
    }

    /// Kills mosquitto and waits for it to exit: its clients see their connections drop.
    /// [`restart`](Mosquitto::restart) brings it back on the same ports.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops mosquitto if it runs, starts it again with the same config on the same ports,
    /// and waits until both accept connections. Its log starts afresh.
    pub fn restart(&mut self) -> Result<(), BrokerError> {
        self.stop();
        self.child = spawn(&self.binary, &self.dir)?;
        if self.wait_until_listening()? {
            Ok(())
        } else {
            Err(BrokerError::DidNotStart {
                attempts: 1,
                log: self.log(),
            })
        }
    }

    /// What mosquitto has logged so far (connections, errors).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
    }

    /// Polls until mosquitto says it is running (it has opened every listener) and both
    /// ports accept; false if it exited or took too long.
    fn wait_until_listening(&mut self) -> io::Result<bool> {
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(false);
            }
            if self.log().contains(" running") && accepts(self.port) && accepts(self.ws_port) {
                return Ok(true);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(false)
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(40)..];
            eprintln!(
                "--- last lines of the mosquitto log ---\n{}",
                tail.join("\n")
            );
        }
    }
}

/// Starts mosquitto on the config in `dir`. mosquitto drops root privileges before opening
/// a log file of its own, so it logs to stderr, which goes to a file opened here.
fn spawn(binary: &Path, dir: &TempDir) -> io::Result<Child> {
    Command::new(binary)
        .arg("-c")
        .arg(dir.path().join("mosquitto.conf"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(File::create(dir.path().join("mosquitto.log"))?)
        .spawn()
}

/// Two distinct free ports: bound to 127.0.0.1:0 together, then released.
fn free_ports() -> io::Result<[u16; 2]> {
    let any = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let a = TcpListener::bind(any)?;
    let b = TcpListener::bind(any)?;
    Ok([a.local_addr()?.port(), b.local_addr()?.port()])
}

fn accepts(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

fn config_text(port: u16, ws_port: u16, extra: &[&str]) -> String {
    let mut text = String::from(
        "# Written by mqttwire-tests for one test.\n\
         allow_anonymous true\n\
         persistence false\n\
         log_dest stderr\n\
         log_type error\n\
         log_type warning\n\
         log_type notice\n\
         log_type information\n\
         # No limit on QoS 1/2 messages queued for an offline or busy client.\n\
         max_queued_messages 0\n\
         set_tcp_nodelay true\n",
    );
    for line in extra {
        let _ = writeln!(text, "{line}");
    }
    let _ = write!(
        text,
        "listener {port} 127.0.0.1\n\
         protocol mqtt\n\
         listener {ws_port} 127.0.0.1\n\
         protocol websockets\n\
         socket_domain ipv4\n"
    );
    text
}
