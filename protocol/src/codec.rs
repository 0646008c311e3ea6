//! The primitive wire types (spec 1.5): integers, variable byte integers, UTF-8 strings
//! and binary data, read through a bounded [`Reader`] over one packet's body and written
//! straight into a `BytesMut`.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use bytestring::ByteString;

use crate::error::{DecodeError, EncodeError};
use crate::types::{PacketId, PacketType};

/// The largest value a variable byte integer can hold.
pub const MAX_VAR_INT: u32 = 268_435_455;

/// Result of reading a variable byte integer from the front of a buffer.
pub(crate) enum VarInt {
    /// The value and the number of bytes it took.
    Complete(u32, usize),
    /// The buffer ends inside the integer.
    Incomplete,
}

/// Reads a variable byte integer from the front of `buf` without consuming it.
pub(crate) fn peek_var_int(buf: &[u8]) -> Result<VarInt, DecodeError> {
    let mut value: u32 = 0;
    for (i, &byte) in buf.iter().enumerate().take(4) {
        value |= u32::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            // [MQTT-1.5.5-1] the encoded value MUST use the minimum number of bytes
            if i > 0 && byte == 0 {
                return Err(DecodeError::VarIntNotMinimal);
            }
            return Ok(VarInt::Complete(value, i + 1));
        }
    }
    if buf.len() >= 4 {
        return Err(DecodeError::VarIntTooLong);
    }
    Ok(VarInt::Incomplete)
}

/// How many bytes `value` takes as a variable byte integer.
pub(crate) const fn var_int_len(value: usize) -> usize {
    match value {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// Writes `value` (at most [`MAX_VAR_INT`]) as a variable byte integer.
pub(crate) fn put_var_int(dst: &mut BytesMut, value: usize) {
    debug_assert!(value <= MAX_VAR_INT as usize);
    let mut value = value;
    loop {
        let mut byte = (value % 128) as u8;
        value /= 128;
        if value > 0 {
            byte |= 0x80;
        }
        dst.put_u8(byte);
        if value == 0 {
            break;
        }
    }
}

/// Length of a UTF-8 string or binary field on the wire, checked against 65,535 bytes.
pub(crate) fn field_len(len: usize, what: &'static str) -> Result<usize, EncodeError> {
    if len > usize::from(u16::MAX) {
        return Err(EncodeError::FieldTooLong(what));
    }
    Ok(2 + len)
}

/// Checks a string for encoding: at most 65,535 bytes, no U+0000 [MQTT-1.5.4-2].
pub(crate) fn str_len(s: &str, what: &'static str) -> Result<usize, EncodeError> {
    if s.as_bytes().contains(&0) {
        return Err(EncodeError::NullCharacter(what));
    }
    field_len(s.len(), what)
}

/// Writes a two-byte length and the bytes; the length was checked by [`field_len`].
pub(crate) fn put_field(dst: &mut BytesMut, bytes: &[u8]) {
    dst.put_u16(bytes.len() as u16);
    dst.put_slice(bytes);
}

/// Writes a fixed header: the first byte and the remaining length.
pub(crate) fn put_fixed_header(
    dst: &mut BytesMut,
    first: u8,
    remaining: usize,
) -> Result<(), EncodeError> {
    if remaining > MAX_VAR_INT as usize {
        return Err(EncodeError::RemainingLengthTooLarge(remaining));
    }
    dst.reserve(1 + var_int_len(remaining) + remaining);
    dst.put_u8(first);
    put_var_int(dst, remaining);
    Ok(())
}

/// A bounded reader over the body of one packet (or a part of it, such as the
/// properties). Reading past its end is a malformed packet, never a panic.
pub(crate) struct Reader {
    buf: Bytes,
    packet: PacketType,
}

impl Reader {
    /// A reader over one packet body.
    pub(crate) fn new(buf: Bytes, packet: PacketType) -> Reader {
        Reader { buf, packet }
    }

    /// Bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// Takes the next `len` bytes as a reader of their own.
    pub(crate) fn sub(&mut self, len: usize, field: &'static str) -> Result<Reader, DecodeError> {
        let buf = self.take(len, field)?;
        Ok(Reader {
            buf,
            packet: self.packet,
        })
    }

    /// Fails with [`DecodeError::TrailingBytes`] unless everything was read.
    pub(crate) fn finish(self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes {
                packet: self.packet,
                extra: self.buf.len(),
            })
        }
    }

    /// Takes the next `len` bytes without copying them.
    pub(crate) fn take(&mut self, len: usize, field: &'static str) -> Result<Bytes, DecodeError> {
        if self.buf.len() < len {
            return Err(self.truncated(field));
        }
        Ok(self.buf.split_to(len))
    }

    /// Takes all bytes left.
    pub(crate) fn rest(&mut self) -> Bytes {
        core::mem::take(&mut self.buf)
    }

    /// Reads one byte.
    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        if self.buf.is_empty() {
            return Err(self.truncated(field));
        }
        Ok(self.buf.get_u8())
    }

    /// Reads a big-endian two-byte integer.
    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        if self.buf.len() < 2 {
            return Err(self.truncated(field));
        }
        Ok(self.buf.get_u16())
    }

    /// Reads a big-endian four-byte integer.
    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        if self.buf.len() < 4 {
            return Err(self.truncated(field));
        }
        Ok(self.buf.get_u32())
    }

    /// Reads a variable byte integer.
    pub(crate) fn var_int(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        match peek_var_int(&self.buf)? {
            VarInt::Complete(value, len) => {
                self.buf.advance(len);
                Ok(value)
            }
            VarInt::Incomplete => Err(self.truncated(field)),
        }
    }

    /// Reads a non-zero packet identifier [MQTT-2.2.1-3].
    pub(crate) fn packet_id(&mut self) -> Result<PacketId, DecodeError> {
        let raw = self.u16("packet identifier")?;
        PacketId::new(raw).ok_or(DecodeError::ZeroPacketId(self.packet))
    }

    /// Reads binary data: a two-byte length and that many bytes.
    pub(crate) fn binary(&mut self, field: &'static str) -> Result<Bytes, DecodeError> {
        let len = self.u16(field)?;
        self.take(usize::from(len), field)
    }

    /// Reads a UTF-8 encoded string [MQTT-1.5.4].
    pub(crate) fn string(&mut self, field: &'static str) -> Result<ByteString, DecodeError> {
        let bytes = self.binary(field)?;
        // [MQTT-1.5.4-2] a UTF-8 encoded string MUST NOT include U+0000
        if bytes.contains(&0) {
            return Err(DecodeError::NullCharacter(field));
        }
        // [MQTT-1.5.4-1] well-formed UTF-8; Rust's check also refuses U+D800..U+DFFF
        ByteString::try_from(bytes).map_err(|_| DecodeError::InvalidUtf8(field))
    }

    /// The error for a field that does not fit in what is left.
    pub(crate) fn truncated(&self, field: &'static str) -> DecodeError {
        DecodeError::Truncated {
            packet: self.packet,
            field,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn var_int_bytes(value: usize) -> Vec<u8> {
        let mut dst = BytesMut::new();
        put_var_int(&mut dst, value);
        dst.to_vec()
    }

    #[test]
    fn can_round_trip_var_int_boundaries() {
        // Boundaries from the table in spec 1.5.5.
        for (value, bytes) in [
            (0usize, vec![0x00]),
            (127, vec![0x7f]),
            (128, vec![0x80, 0x01]),
            (16_383, vec![0xff, 0x7f]),
            (16_384, vec![0x80, 0x80, 0x01]),
            (2_097_151, vec![0xff, 0xff, 0x7f]),
            (2_097_152, vec![0x80, 0x80, 0x80, 0x01]),
            (268_435_455, vec![0xff, 0xff, 0xff, 0x7f]),
        ] {
            assert_eq!(var_int_bytes(value), bytes, "{value}");
            assert_eq!(var_int_len(value), bytes.len());
            match peek_var_int(&bytes) {
                Ok(VarInt::Complete(v, len)) => {
                    assert_eq!((v as usize, len), (value, bytes.len()))
                }
                _ => panic!("{value} did not decode"),
            }
        }
    }

    #[test]
    fn rejects_var_int_of_five_bytes() {
        assert!(matches!(
            peek_var_int(&[0xff, 0xff, 0xff, 0xff, 0x01]),
            Err(DecodeError::VarIntTooLong)
        ));
    }

    #[test]
    fn rejects_var_int_not_minimal() {
        assert!(matches!(
            peek_var_int(&[0x80, 0x00]),
            Err(DecodeError::VarIntNotMinimal)
        ));
    }

    #[test]
    fn var_int_prefix_is_incomplete() {
        assert!(matches!(
            peek_var_int(&[0x80, 0x80]),
            Ok(VarInt::Incomplete)
        ));
        assert!(matches!(peek_var_int(&[]), Ok(VarInt::Incomplete)));
    }

    #[test]
    fn rejects_surrogates_and_nul_in_strings() {
        // U+D800 encoded as if it were a scalar value: ED A0 80.
        let mut r = Reader::new(
            Bytes::from_static(&[0, 3, 0xed, 0xa0, 0x80]),
            PacketType::Publish,
        );
        assert_eq!(
            r.string("topic name"),
            Err(DecodeError::InvalidUtf8("topic name"))
        );
        let mut r = Reader::new(Bytes::from_static(&[0, 2, b'a', 0]), PacketType::Publish);
        assert_eq!(
            r.string("topic name"),
            Err(DecodeError::NullCharacter("topic name"))
        );
    }
}
