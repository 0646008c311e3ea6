//! The relay's two framing modes, and everything that differs between them: what the first
//! message must be, where the client's messages go, and what the broker's bytes are read
//! into. The rest of the relay (backpressure, rates, budget, idle and drain) is the same.

use bytes::{Bytes, BytesMut};
use mqttwire::{Connect, DecodeError, Decoder, Frame, Packet, PacketType};
use tokio::io::{AsyncRead, AsyncWrite};

use super::{End, WsStream, next_binary};
use crate::budget::Charge;
use crate::config::Config;

/// A message from the client at least this large is decoded as soon as it is taken (in
/// place, with no copy, when it holds whole packets); smaller ones, like the pieces of a
/// packet that MQTT.js in node sends as separate messages, are gathered first and decoded
/// together.
const DECODE_AT_ONCE: usize = 512;

/// How the relay frames what it forwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    /// `--transparent`: bytes as they come, unread both ways; the first message is not
    /// awaited as a CONNECT, nothing is checked, nothing coalesced.
    Transparent,
    /// Whole MQTT packets, each decoded and checked; toward the browser, coalesced.
    Checked,
}

/// What the broker's bytes are read into.
#[derive(Debug)]
pub(super) enum Downstream {
    /// Transparent: a buffer relayed as it is after every read.
    Bytes(BytesMut),
    /// Checked: the decoder that cuts the bytes into packets.
    Packets(Decoder),
}

impl Downstream {
    /// The buffer the next read from the broker goes to.
    pub(super) fn buffer(&mut self) -> &mut BytesMut {
        match self {
            Downstream::Bytes(buf) => buf,
            Downstream::Packets(decoder) => decoder.buffer_mut(),
        }
    }
}

impl Framing {
    /// The framing `config` asks for.
    pub(super) fn of(config: &Config) -> Framing {
        if config.transparent {
            Framing::Transparent
        } else {
            Framing::Checked
        }
    }

    /// The client's first message: checked, it must be a whole CONNECT (returned, decoded,
    /// with its bytes; what came after it stays in `decoder`); transparent, it is the first
    /// binary message as it is.
    pub(super) async fn first<S>(
        self,
        rx: &mut WsStream<S>,
        decoder: &mut Decoder,
        charge: &mut Charge,
    ) -> Result<(Option<Connect>, Bytes), End>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        match self {
            Framing::Transparent => Ok((None, next_binary(rx).await?)),
            Framing::Checked => first_connect(rx, decoder, charge).await,
        }
    }

    /// Takes a message from the client: transparent, its bytes go to `out` as they are;
    /// checked, to `decoder`. True when the decoder should cut its packets at once (a large
    /// message, decoded in place rather than after more are gathered).
    pub(super) fn take(self, bytes: Bytes, decoder: &mut Decoder, out: &mut BytesMut) -> bool {
        match self {
            Framing::Transparent => {
                out.extend_from_slice(&bytes);
                false
            }
            Framing::Checked => {
                let large = bytes.len() >= DECODE_AT_ONCE;
                decoder.extend_bytes(bytes);
                large
            }
        }
    }

    /// Where the broker's bytes go: the connection's downstream `decoder` when checked.
    pub(super) fn downstream(self, decoder: Decoder) -> Downstream {
        match self {
            Framing::Transparent => Downstream::Bytes(BytesMut::new()),
            Framing::Checked => Downstream::Packets(decoder),
        }
    }
}

/// Waits for the first whole packet, which must be CONNECT [MQTT-3.1.0-1]; returns it and
/// its bytes.
async fn first_connect<S>(
    rx: &mut WsStream<S>,
    decoder: &mut Decoder,
    charge: &mut Charge,
) -> Result<(Option<Connect>, Bytes), End>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    loop {
        let bytes = next_binary(rx).await?;
        // [MQTT-3.1.0-1] refused on its first byte: a client that declares some other
        // large packet is not waited for.
        if decoder.buffered() == 0
            && let Some(&first) = bytes.first()
            && first >> 4 != PacketType::Connect as u8
        {
            return Err(match PacketType::from_nibble(first >> 4) {
                Some(packet_type) => End::NotConnect(packet_type, None),
                None => End::ClientViolation(DecodeError::ReservedPacketType(first >> 4), None),
            });
        }
        decoder.extend_bytes(bytes);
        match decoder.decode_frame() {
            // Whatever came after CONNECT stays in the decoder for `client_to_broker`.
            Ok(Some(Frame {
                packet: Packet::Connect(connect),
                bytes,
            })) => return Ok((Some(connect), bytes)),
            Ok(Some(frame)) => return Err(End::NotConnect(frame.packet.packet_type(), None)),
            Ok(None) => {
                charge
                    .set(decoder.buffered())
                    .map_err(|_| End::OverBudget(None))?;
            }
            Err(error) => return Err(End::ClientViolation(error, None)),
        }
    }
}
