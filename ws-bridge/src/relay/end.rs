//! How a relayed connection ends: [`End`] names every way, and [`finish`] closes the
//! WebSocket as each requires (a DISCONNECT or CONNACK where the protocol has one, a close
//! code and reason that name the broken rule), counting and logging it.

use std::time::Duration;

use bytes::BytesMut;
use futures_util::SinkExt;
use mqttwire::{ConnAck, DecodeError, Disconnect, Packet, PacketType, ProtocolVersion, ReasonCode};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::{Shared, WsSink};
use crate::metrics::Refusal;

/// How a relayed connection ended.
#[derive(Debug)]
pub(super) enum End {
    /// The browser closed the WebSocket (or it broke).
    ClientClosed,
    /// The broker closed its connection.
    BrokerClosed,
    /// The browser broke MQTT; the version is known once CONNECT was read.
    ClientViolation(DecodeError, Option<ProtocolVersion>),
    /// The first packet was not CONNECT, or a second CONNECT came; the version is known
    /// in the second case.
    NotConnect(PacketType, Option<ProtocolVersion>),
    /// No CONNECT within the connect timeout.
    ConnectTimeout,
    /// Holding more for this client would take the bridge past --max-buffered-bytes.
    OverBudget(Option<ProtocolVersion>),
    /// Edge authentication or the ACL refused the CONNECT (why, for the log).
    NotAuthorized(String, ProtocolVersion),
    /// The broker broke MQTT.
    BrokerViolation(DecodeError),
    /// A text message.
    Text,
    /// A WebSocket protocol error, e.g. a message over the size limit.
    WebSocket(tokio_tungstenite::tungstenite::Error),
    /// The broker connection failed.
    BrokerError(std::io::Error),
    /// Nothing crossed the connection for the idle timeout.
    Idle,
    /// The bridge is shutting down and the drain time is over.
    Shutdown,
}

/// Closes the WebSocket as `end` requires, logging why.
pub(super) async fn finish<S>(shared: &Shared, tx: &mut WsSink<S>, end: End, client: &str)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let metrics = &shared.metrics;
    match end {
        End::ClientClosed => {
            tracing::debug!(%client, "client closed");
            // A client that closed and stops reading gets a second, like every close.
            let _ = tokio::time::timeout(Duration::from_secs(1), tx.close()).await;
        }
        End::BrokerClosed => {
            tracing::debug!(%client, "broker closed the connection");
            close(tx, CloseCode::Normal, "the broker closed the connection").await;
        }
        End::ClientViolation(error, version) => {
            metrics.refused(Refusal::Malformed);
            if let Some(left_out) = shared.log.allow("malformed") {
                tracing::warn!(%client, %error, left_out, "closing: malformed MQTT from client");
            }
            disconnect(tx, version, error.reason_code()).await;
            close(tx, CloseCode::Protocol, &error.to_string()).await;
        }
        End::NotConnect(packet_type, version) => {
            metrics.refused(Refusal::Malformed);
            if let Some(left_out) = shared.log.allow("not connect") {
                tracing::warn!(%client, %packet_type, left_out, "closing: [MQTT-3.1.0-1] first packet must be the only CONNECT");
            }
            // [MQTT-3.1.0-2] a second CONNECT is a Protocol Error
            disconnect(tx, version, ReasonCode::PROTOCOL_ERROR).await;
            close(
                tx,
                CloseCode::Protocol,
                "[MQTT-3.1.0-1] the first packet must be CONNECT, and only the first",
            )
            .await;
        }
        End::NotAuthorized(why, version) => {
            metrics.refused(Refusal::NotAuthorized);
            if let Some(left_out) = shared.log.allow("not authorized") {
                tracing::warn!(%client, %why, left_out, "refusing: not authorized");
            }
            // CONNACK 0x87 on 5.0, return code 5 on 3.1.1.
            let ack = ConnAck {
                reason_code: ReasonCode::NOT_AUTHORIZED,
                ..ConnAck::default()
            };
            let mut out = BytesMut::new();
            if Packet::ConnAck(ack).encode(version, &mut out).is_ok() {
                let _ = tokio::time::timeout(
                    Duration::from_secs(1),
                    tx.send(Message::Binary(out.freeze())),
                )
                .await;
            }
            close(tx, CloseCode::Policy, "not authorized").await;
        }
        End::OverBudget(version) => {
            metrics.refused(Refusal::Budget);
            if let Some(left_out) = shared.log.allow("buffer budget") {
                tracing::warn!(%client, left_out, "closing: --max-buffered-bytes reached");
            }
            disconnect(tx, version, ReasonCode::QUOTA_EXCEEDED).await;
            close(
                tx,
                CloseCode::Again,
                "the bridge holds too much for its clients, try again later",
            )
            .await;
        }
        End::ConnectTimeout => {
            metrics.refused(Refusal::ConnectTimeout);
            if let Some(left_out) = shared.log.allow("connect timeout") {
                tracing::info!(%client, left_out, "closing: no CONNECT in time");
            }
            close(
                tx,
                CloseCode::Policy,
                "no CONNECT within the connect timeout",
            )
            .await;
        }
        End::BrokerViolation(error) => {
            tracing::warn!(%client, %error, "closing: malformed MQTT from the broker");
            close(tx, CloseCode::Error, "the broker sent a malformed packet").await;
        }
        End::Text => {
            metrics.refused(Refusal::WebSocket);
            if let Some(left_out) = shared.log.allow("text message") {
                tracing::info!(%client, left_out, "closing: text message");
            }
            close(
                tx,
                CloseCode::Unsupported,
                "MQTT over WebSocket uses binary messages only",
            )
            .await;
        }
        End::WebSocket(error) => {
            use tokio_tungstenite::tungstenite::Error as E;
            match &error {
                // A client gone without a close frame (a closed tab, a lost network) did
                // not break the protocol.
                E::ConnectionClosed
                | E::AlreadyClosed
                | E::Io(_)
                | E::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
                    tracing::debug!(%client, %error, "WebSocket ended");
                }
                E::Capacity(_) => {
                    metrics.refused(Refusal::WebSocket);
                    if let Some(left_out) = shared.log.allow("message too big") {
                        tracing::warn!(%client, %error, left_out, "closing: message too big");
                    }
                    close(tx, CloseCode::Size, "message too big").await;
                }
                _ => {
                    metrics.refused(Refusal::WebSocket);
                    if let Some(left_out) = shared.log.allow("websocket error") {
                        tracing::warn!(%client, %error, left_out, "closing: WebSocket protocol error");
                    }
                    close(tx, CloseCode::Protocol, "WebSocket protocol error").await;
                }
            }
        }
        End::BrokerError(error) => {
            tracing::info!(%client, %error, "broker connection lost");
            close(tx, CloseCode::Error, "the broker connection was lost").await;
        }
        End::Idle => {
            metrics.refused(Refusal::Idle);
            tracing::info!(%client, "closing: idle");
            close(tx, CloseCode::Normal, "idle timeout").await;
        }
        End::Shutdown => {
            close(tx, CloseCode::Away, "the bridge is shutting down").await;
        }
    }
}

/// Sends DISCONNECT with `reason` when the connection speaks 5.0; 3.1.1 has none from
/// the server.
async fn disconnect<S>(tx: &mut WsSink<S>, version: Option<ProtocolVersion>, reason: ReasonCode)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if version != Some(ProtocolVersion::V5) {
        return;
    }
    let mut out = BytesMut::new();
    if Packet::Disconnect(Disconnect::new(reason))
        .encode(ProtocolVersion::V5, &mut out)
        .is_ok()
    {
        let _ = tx.send(Message::Binary(out.freeze())).await;
    }
}

/// Sends a close frame (reason cut to the 123 bytes a close frame allows) and closes.
pub(super) async fn close<S>(tx: &mut WsSink<S>, code: CloseCode, reason: &str)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let frame = CloseFrame {
        code,
        reason: reason[..end].to_owned().into(),
    };
    let _ =
        tokio::time::timeout(Duration::from_secs(1), tx.send(Message::Close(Some(frame)))).await;
    let _ = tokio::time::timeout(Duration::from_secs(1), tx.close()).await;
}
