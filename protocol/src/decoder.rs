//! The streaming decoder: bytes go in as they arrive, whole packets come out. Any chunking
//! of a stream yields the same packets [MQTT-6.0.0-2]; "not enough bytes yet" is
//! `Ok(None)` and consumes nothing.

use bytes::BytesMut;

use crate::error::DecodeError;
use crate::packet::{FixedHeader, Packet};
use crate::types::ProtocolVersion;

/// The largest packet MQTT can express: a 5-byte fixed header and a remaining length of
/// 268,435,455.
pub const MAX_PACKET_SIZE: u32 = 268_435_460;

/// Decodes the packet at the front of `buf`, removing its bytes. `Ok(None)` means the
/// packet is not complete yet; nothing is consumed then. The size limit is checked as
/// soon as the fixed header is complete, before the body is buffered.
pub fn decode(
    buf: &mut BytesMut,
    version: ProtocolVersion,
    max_packet_size: u32,
) -> Result<Option<Packet>, DecodeError> {
    let Some(header) = FixedHeader::peek(buf, max_packet_size)? else {
        return Ok(None);
    };
    let len = header.packet_len();
    if buf.len() < len {
        // The size was checked: reserving the rest now saves reallocations later.
        buf.reserve(len - buf.len());
        return Ok(None);
    }
    let mut packet = buf.split_to(len).freeze();
    let body = packet.split_off(header.header_len);
    Packet::decode(header, body, version).map(Some)
}

/// A buffer and the settings to decode one connection's byte stream.
///
/// After an error the stream cannot be resynchronised: close the connection (on 5.0,
/// after a DISCONNECT with [`DecodeError::reason_code`]).
#[derive(Debug)]
pub struct Decoder {
    buf: BytesMut,
    version: ProtocolVersion,
    max_packet_size: u32,
}

impl Decoder {
    /// A decoder for `version` with no size limit beyond the protocol's own.
    pub fn new(version: ProtocolVersion) -> Decoder {
        Decoder {
            buf: BytesMut::new(),
            version,
            max_packet_size: MAX_PACKET_SIZE,
        }
    }

    /// Sets the largest packet accepted, fixed header included.
    #[must_use]
    pub fn with_max_packet_size(mut self, max: u32) -> Decoder {
        self.max_packet_size = max;
        self
    }

    /// Changes the largest packet accepted.
    pub fn set_max_packet_size(&mut self, max: u32) {
        self.max_packet_size = max;
    }

    /// The largest packet accepted.
    pub fn max_packet_size(&self) -> u32 {
        self.max_packet_size
    }

    /// The version packets are read in. Decoding a CONNECT switches to the version it asks for.
    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// Changes the version packets are read in.
    pub fn set_version(&mut self, version: ProtocolVersion) {
        self.version = version;
    }

    /// Appends received bytes.
    pub fn extend(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The buffer, to read into directly.
    pub fn buffer_mut(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Bytes received but not yet decoded.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Takes the bytes received but not yet decoded, leaving the buffer empty.
    pub fn take_buffered(&mut self) -> BytesMut {
        self.buf.split()
    }

    /// The next whole packet, `Ok(None)` if more bytes are needed.
    pub fn decode(&mut self) -> Result<Option<Packet>, DecodeError> {
        let packet = decode(&mut self.buf, self.version, self.max_packet_size)?;
        if let Some(Packet::Connect(connect)) = &packet {
            self.version = connect.protocol;
        }
        Ok(packet)
    }
}
