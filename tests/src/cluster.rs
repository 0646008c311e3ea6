//! A real MQTT broker cluster for one test: N processes of the `cluster-node` binary
//! (rmqtt with its broadcast cluster plugin) on free loopback ports, joined over gRPC,
//! killed on drop. A node can be killed on its own ([`Cluster::kill`], SIGKILL) to cut
//! every connection it holds mid-stream.
//!
//! Why rmqtt: it comes from crates.io (nothing to fetch outside the registries), speaks
//! MQTT 3.1.1 and 5.0, and its cluster forwards publishes, retained messages and session
//! takeovers between nodes. Each node keeps its own sessions: a session on a killed node is
//! gone with it.

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use mqttwire_bridge::BrokerUrl;

/// How long a node may take to print `READY`.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);

/// How many times [`Cluster::start`] tries fresh ports when a node does not start (a port
/// taken between choosing and binding it).
pub const START_ATTEMPTS: u32 = 3;

/// Why the cluster could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// Spawning a node or choosing ports failed.
    #[error("cannot start cluster node {binary}: {source}")]
    Io {
        /// The node binary.
        binary: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A node exited or did not print `READY` in time, on every attempt.
    #[error("cluster node {node} did not start after {attempts} attempts: {why}")]
    DidNotStart {
        /// Which node (1-based id).
        node: u64,
        /// Attempts made.
        attempts: u32,
        /// What it printed last or why it stopped.
        why: String,
    },
}

/// One node: its process (until killed) and ports.
#[derive(Debug)]
struct Node {
    process: Option<(Child, ChildStdin)>,
    port: u16,
}

/// A running cluster; every node still running is killed and reaped when dropped.
#[derive(Debug)]
pub struct Cluster {
    nodes: Vec<Node>,
}

impl Cluster {
    /// Starts `n` nodes of `binary` (the test's `env!("CARGO_BIN_EXE_cluster-node")`) and
    /// waits until each accepts MQTT connections.
    pub fn start(binary: &Path, n: usize) -> Result<Cluster, ClusterError> {
        let io = |source| ClusterError::Io {
            binary: binary.to_owned(),
            source,
        };
        let mut last = (0, String::new());
        for _ in 0..START_ATTEMPTS {
            let ports = free_ports(2 * n).map_err(io)?;
            let (mqtt, grpc) = ports.split_at(n);
            let peers: Vec<String> = grpc
                .iter()
                .enumerate()
                .map(|(i, port)| format!("{}@127.0.0.1:{port}", i + 1))
                .collect();
            let mut cluster = Cluster { nodes: Vec::new() };
            let mut waiting = Vec::new();
            for i in 0..n {
                let id = i as u64 + 1;
                let mut child = Command::new(binary)
                    .arg(id.to_string())
                    .arg(mqtt[i].to_string())
                    .arg(grpc[i].to_string())
                    .args(&peers)
                    .env("RUST_LOG", "error")
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .map_err(io)?;
                let stdin = child
                    .stdin
                    .take()
                    .ok_or_else(|| io(std::io::Error::other("no stdin")))?;
                waiting.push((id, ready_signal(&mut child)));
                cluster.nodes.push(Node {
                    process: Some((child, stdin)),
                    port: mqtt[i],
                });
            }
            let failed = waiting.into_iter().find_map(|(id, ready)| {
                match ready.recv_timeout(START_TIMEOUT) {
                    Ok(Ok(())) => None,
                    Ok(Err(why)) => Some((id, why)),
                    Err(_) => Some((id, format!("no READY within {START_TIMEOUT:?}"))),
                }
            });
            match failed {
                None => return Ok(cluster),
                Some(f) => last = f,
            }
        }
        Err(ClusterError::DidNotStart {
            node: last.0,
            attempts: START_ATTEMPTS,
            why: last.1,
        })
    }

    /// How many nodes it has (killed ones included).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether it has no nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Node `i`'s (0-based) MQTT port.
    pub fn port(&self, i: usize) -> u16 {
        self.nodes[i].port
    }

    /// Node `i`'s address as a bridge `--broker`.
    pub fn broker(&self, i: usize) -> BrokerUrl {
        BrokerUrl {
            host: Ipv4Addr::LOCALHOST.to_string(),
            port: self.port(i),
            tls: false,
        }
    }

    /// Every node's address, in order.
    pub fn brokers(&self) -> Vec<BrokerUrl> {
        (0..self.len()).map(|i| self.broker(i)).collect()
    }

    /// Kills node `i` with SIGKILL (no goodbye to clients or peers) and reaps it.
    pub fn kill(&mut self, i: usize) {
        if let Some((mut child, stdin)) = self.nodes[i].process.take() {
            let _ = child.kill();
            let _ = child.wait();
            drop(stdin);
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
    }
}

/// A channel that gets `Ok` when the child prints `READY`, or `Err` with its last output
/// when it exits first. Its output is read (and dropped) for as long as it runs, so that it
/// never blocks on a full pipe.
fn ready_signal(child: &mut Child) -> mpsc::Receiver<Result<(), String>> {
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let (err_tx, err_rx) = mpsc::channel::<String>();
    if let Some(stderr) = stderr {
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = err_tx.send(line);
            }
        });
    }
    std::thread::spawn(move || {
        let mut said = false;
        if let Some(stdout) = stdout {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if !said && line.trim() == "READY" {
                    said = true;
                    let _ = tx.send(Ok(()));
                }
            }
        }
        if !said {
            let log: Vec<String> = err_rx.try_iter().collect();
            let tail = log[log.len().saturating_sub(10)..].join("\n");
            let _ = tx.send(Err(format!("exited before READY: {tail}")));
        }
    });
    rx
}

/// `n` distinct ports that were free a moment ago.
fn free_ports(n: usize) -> std::io::Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .collect::<std::io::Result<Vec<_>>>()?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect()
}
