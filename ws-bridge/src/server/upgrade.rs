//! Performing an accepted WebSocket upgrade: [`handshake::check`] decides, this counts the
//! client against the limits when it was not counted at accept, answers `101`, and once
//! hyper hands the connection over starts the relay on it, which keeps the connection's
//! slot.

use std::net::SocketAddr;

use hyper::Request;
use hyper::Response;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use super::handshake::{self, Peer, Policy, Rejection};
use super::{Server, Slot};
use crate::config::Config;
use crate::gate::FrameGate;
use crate::limits::ClientGuard;
use crate::ops::Body;
use crate::relay::relay;

/// The relay's WebSocket settings: messages and frames up to the packet size limit, and
/// room to queue one coalesced message behind a full packet.
pub(crate) fn ws_config(config: &Config) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_write_buffer_size(
            (config.max_packet_size as usize)
                .saturating_add(config.coalesce_limit)
                .saturating_add(64 * 1024),
        )
        .max_message_size(Some(config.max_packet_size as usize))
        .max_frame_size(Some(config.max_packet_size as usize))
}

impl Server {
    /// Checks and answers a WebSocket upgrade request, and starts the relay on success; the
    /// relay keeps the connection's slot.
    pub(super) fn upgrade(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
        trusted: bool,
        slot: Slot,
    ) -> Response<Body> {
        let config = &self.shared.config;
        let facts = Peer {
            addr: peer,
            trusted,
            counted: slot.client.is_some(),
        };
        let admitted = handshake::check(&req, Policy::of(config), facts)
            .and_then(|upgrade| Ok((self.admit(&upgrade)?, upgrade)));
        let (forwarded, upgrade) = match admitted {
            Ok(admitted) => admitted,
            Err(rejection) => return self.refuse(rejection, peer),
        };
        let response = upgrade.response();
        let shared = self.shared.clone();
        let ws_config = ws_config(config);
        let client = match forwarded.as_ref().or(slot.client.as_ref()) {
            Some(guard) => format!("{} (port {})", guard.key(), peer.port()),
            None => peer.to_string(),
        };
        let max_frame = u64::from(config.max_packet_size);
        let token = upgrade.token;
        self.tracker.spawn(async move {
            match hyper::upgrade::on(req).await {
                Ok(upgraded) => {
                    // Large frames reach tungstenite only once complete: it would reserve
                    // their declared length on reading the header.
                    let charge = Some(shared.budget.charge());
                    let io = FrameGate::new(TokioIo::new(upgraded), max_frame, charge);
                    let ws =
                        WebSocketStream::from_raw_socket(io, Role::Server, Some(ws_config)).await;
                    relay(ws, shared, client, token).await;
                }
                Err(error) => tracing::debug!(%client, %error, "upgrade failed"),
            }
            drop(forwarded);
            drop(slot);
        });
        response
    }

    /// Counts the client the upgrade names (if it was not counted at accept) against
    /// `--max-connect-rate` and `--max-connections-per-ip`: the guard that holds its count.
    fn admit(&self, upgrade: &handshake::Upgrade) -> Result<Option<ClientGuard>, Rejection> {
        let Some(key) = &upgrade.count_as else {
            return Ok(None);
        };
        if !self.shared.connect_rate.allow(key) {
            return Err(Rejection::ConnectRate);
        }
        let max = self.shared.config.max_connections_per_ip;
        ClientGuard::acquire(&self.per_ip, key.clone(), max)
            .map(Some)
            .ok_or(Rejection::PerClient)
    }

    /// Counts and logs (rate-limited) a refused upgrade, and answers it.
    fn refuse(&self, rejection: Rejection, peer: SocketAddr) -> Response<Body> {
        self.shared.metrics.refused(rejection.refusal());
        let (status, message) = (rejection.status(), rejection.message());
        if let Some(left_out) = self.shared.log.allow(message) {
            tracing::info!(%peer, %status, left_out, message, "refused WebSocket upgrade");
        }
        rejection.response()
    }
}
