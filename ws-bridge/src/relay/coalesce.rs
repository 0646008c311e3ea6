//! Toward the browser, whole packets are gathered into WebSocket messages: as many as fit
//! in `--coalesce-limit` bytes go in one message (fewer messages, fewer frames for the
//! browser to handle), or exactly one each with `--one-packet-per-message`. A message of
//! one packet is that packet's bytes by reference; only a second packet makes a copy.

use bytes::{Bytes, BytesMut};

/// The message being gathered from the packets of one read.
#[derive(Debug)]
pub(super) struct Coalescer {
    limit: usize,
    one_per_message: bool,
    /// The first packet of the message, while it is the only one: sent without a copy.
    first: Option<Bytes>,
    /// The message's packets, once it holds two or more.
    out: BytesMut,
}

impl Coalescer {
    /// Messages of at most `limit` bytes (a larger packet goes alone), or one packet each.
    pub(super) fn new(limit: usize, one_per_message: bool) -> Coalescer {
        Coalescer {
            limit,
            one_per_message,
            first: None,
            out: BytesMut::new(),
        }
    }

    /// Adds `packet` to the message; when it does not fit, the message gathered so far
    /// is returned to be sent first, and `packet` starts the next one.
    #[must_use = "a full message must be sent before the packet that did not fit"]
    pub(super) fn push(&mut self, packet: Bytes) -> Option<Bytes> {
        let pending = self.first.as_ref().map_or(0, Bytes::len) + self.out.len();
        let full = self.one_per_message || pending + packet.len() > self.limit;
        let ready = if full { self.take() } else { None };
        match self.first.take() {
            None if self.out.is_empty() => self.first = Some(packet),
            None => self.out.extend_from_slice(&packet),
            Some(first) => {
                self.out.reserve(first.len() + packet.len());
                self.out.extend_from_slice(&first);
                self.out.extend_from_slice(&packet);
            }
        }
        ready
    }

    /// The message gathered so far, if it holds any packet.
    #[must_use]
    pub(super) fn take(&mut self) -> Option<Bytes> {
        match self.first.take() {
            Some(bytes) => Some(bytes),
            None if !self.out.is_empty() => Some(self.out.split().freeze()),
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The messages `packets` make, pushed in turn and then taken.
    fn messages(limit: usize, one_per_message: bool, packets: &[&'static [u8]]) -> Vec<Vec<u8>> {
        let mut coalescer = Coalescer::new(limit, one_per_message);
        let mut sent = Vec::new();
        for packet in packets {
            sent.extend(coalescer.push(Bytes::from_static(packet)));
        }
        sent.extend(coalescer.take());
        sent.into_iter().map(|m| m.to_vec()).collect()
    }

    #[test]
    fn gathers_packets_up_to_the_limit() {
        assert_eq!(
            messages(6, false, &[b"aa", b"bb", b"cc", b"dd"]),
            [b"aabbcc".to_vec(), b"dd".to_vec()]
        );
        assert_eq!(messages(100, false, &[b"a", b"b", b"c"]), [b"abc".to_vec()]);
    }

    #[test]
    fn sends_a_packet_larger_than_the_limit_alone() {
        assert_eq!(
            messages(4, false, &[b"ab", b"0123456789", b"cd"]),
            [b"ab".to_vec(), b"0123456789".to_vec(), b"cd".to_vec()]
        );
    }

    #[test]
    fn sends_one_packet_per_message_when_asked() {
        assert_eq!(
            messages(100, true, &[b"aa", b"bb", b"cc"]),
            [b"aa".to_vec(), b"bb".to_vec(), b"cc".to_vec()]
        );
    }

    #[test]
    fn a_message_of_one_packet_is_that_packet_uncopied() {
        let packet = Bytes::from(vec![0x30, 0x03, 0x00, 0x01, b't']);
        let mut coalescer = Coalescer::new(4, false);
        assert_eq!(coalescer.push(packet.clone()), None);
        let next = Bytes::from_static(b"\xd0\x00");
        let message = coalescer
            .push(next.clone())
            .expect("the first did not leave room");
        assert_eq!(message.as_ptr(), packet.as_ptr(), "sent by reference");
        let last = coalescer.take().expect("the second packet");
        assert_eq!(last.as_ptr(), next.as_ptr(), "sent by reference");
        assert_eq!(coalescer.take(), None);
    }

    #[test]
    fn fills_a_message_exactly_to_the_limit() {
        assert_eq!(
            messages(4, false, &[b"ab", b"cd", b"e"]),
            [b"abcd".to_vec(), b"e".to_vec()]
        );
    }

    #[test]
    fn takes_nothing_when_nothing_was_pushed() {
        assert_eq!(Coalescer::new(10, false).take(), None);
        assert!(messages(10, false, &[]).is_empty());
    }
}
