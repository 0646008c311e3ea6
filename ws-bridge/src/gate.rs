//! What a client sends, held back frame by frame before tungstenite sees it: tungstenite
//! reserves a frame's whole declared length as soon as it reads the frame's header, so a
//! client could make the bridge reserve `--max-packet-size` per connection by declaring
//! large frames and sending nothing. The gate passes small frames straight through and
//! keeps a large frame (header included) in a buffer of its own that grows as the bytes
//! arrive, handing it on only once it is complete; a frame over the size limit goes on at
//! once, so that tungstenite refuses it (1009). The bytes tungstenite reads are exactly the
//! bytes the client sent, in order.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::budget::Charge;

/// Frames whose payload is at most this long pass through without being held.
pub(crate) const PASS_THROUGH: u64 = 64 * 1024;

/// A client stream with its large frames held back until complete.
#[derive(Debug)]
pub(crate) struct FrameGate<S> {
    inner: S,
    /// Bytes read from the client and held: the start of a large frame, or of a header.
    /// Empty (and unallocated) most of the time.
    pending: BytesMut,
    /// How many bytes at the front of `pending` may be handed on now.
    release: usize,
    /// Where the client's stream stands between frames.
    frames: Frames,
    /// The client closed its side.
    eof: bool,
    /// `pending` counted against the bridge's buffer budget.
    charge: Option<Charge>,
}

/// Frame boundaries in the client's stream.
#[derive(Debug)]
struct Frames {
    /// Payload bytes of the current passed-through frame still to come.
    passing: u64,
    /// Frames larger than this are handed on at once, for tungstenite to refuse.
    max_frame: u64,
}

impl Frames {
    /// How many bytes from the start of `bytes` (which starts where the previous call
    /// stopped) may be handed on; the rest must be held until more arrives.
    fn releasable(&mut self, bytes: &[u8]) -> usize {
        let mut at = 0;
        while at < bytes.len() {
            let rest = (bytes.len() - at) as u64;
            if self.passing > 0 {
                let n = rest.min(self.passing);
                self.passing -= n;
                at += n as usize;
                continue;
            }
            let Some((header, payload)) = frame_header(&bytes[at..]) else {
                break; // the header is not complete yet
            };
            if payload <= PASS_THROUGH || payload > self.max_frame {
                at += header;
                self.passing = payload;
            } else if rest >= header as u64 + payload {
                at += header + payload as usize;
            } else {
                break; // a large frame: held until all of it is here
            }
        }
        at
    }
}

impl<S> FrameGate<S> {
    /// Gates `inner`, whose frames above `max_frame` bytes tungstenite refuses; what it
    /// holds counts against `charge`'s budget (a read fails with `OutOfMemory` past it).
    pub(crate) fn new(inner: S, max_frame: u64, charge: Option<Charge>) -> FrameGate<S> {
        FrameGate {
            inner,
            pending: BytesMut::new(),
            release: 0,
            frames: Frames {
                passing: 0,
                max_frame,
            },
            eof: false,
            charge,
        }
    }

    /// Counts what `pending` holds; an error once that would pass the budget.
    fn count(&mut self) -> io::Result<()> {
        match &mut self.charge {
            Some(charge) => charge.set(self.pending.len()).map_err(|_| {
                io::Error::new(io::ErrorKind::OutOfMemory, "over --max-buffered-bytes")
            }),
            None => Ok(()),
        }
    }
}

/// The length of the frame header at the start of `bytes` and the payload length it
/// declares; `None` while the header is incomplete.
fn frame_header(bytes: &[u8]) -> Option<(usize, u64)> {
    let [_, second, ..] = *bytes else {
        return None;
    };
    let mask = if second & 0x80 != 0 { 4 } else { 0 };
    let (extended, payload) = match second & 0x7f {
        126 => (
            2,
            u64::from(u16::from_be_bytes(bytes.get(2..4)?.try_into().ok()?)),
        ),
        127 => (8, u64::from_be_bytes(bytes.get(2..10)?.try_into().ok()?)),
        n => (0, u64::from(n)),
    };
    let header = 2 + extended + mask;
    (bytes.len() >= header).then_some((header, payload))
}

impl<S: AsyncRead + Unpin> AsyncRead for FrameGate<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.release > 0 {
                let n = this.release.min(buf.remaining());
                buf.put_slice(&this.pending[..n]);
                this.pending.advance(n);
                this.release -= n;
                if this.pending.is_empty() {
                    this.pending = BytesMut::new();
                }
                this.count()?;
                return Poll::Ready(Ok(()));
            }
            if this.eof {
                // An incomplete frame is handed on as it is: tungstenite reports it.
                this.release = this.pending.len();
                if this.release == 0 {
                    return Poll::Ready(Ok(()));
                }
                continue;
            }
            // Read into the caller's buffer; what must be held is moved out of it again.
            let start = buf.filled().len();
            ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
            let new = &buf.filled()[start..];
            if new.is_empty() {
                this.eof = true;
                continue;
            }
            if this.pending.is_empty() {
                let n = this.frames.releasable(new);
                if n == new.len() {
                    return Poll::Ready(Ok(())); // small frames: straight through
                }
                this.pending.extend_from_slice(&new[n..]);
                buf.set_filled(start + n);
                this.count()?;
                if n > 0 {
                    return Poll::Ready(Ok(()));
                }
            } else {
                this.pending.extend_from_slice(new);
                buf.set_filled(start);
                this.count()?;
                this.release = this.frames.releasable(&this.pending);
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for FrameGate<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A masked binary frame of `len` payload bytes, its header and payload.
    fn frame(len: usize, fill: u8) -> Vec<u8> {
        let mut out = vec![0x82];
        match len {
            0..=125 => out.push(0x80 | len as u8),
            126..=65_535 => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&[1, 2, 3, 4]);
        out.extend(std::iter::repeat_n(fill, len));
        out
    }

    #[tokio::test]
    async fn hands_on_exactly_the_bytes_sent_in_order() {
        let mut stream = Vec::new();
        for (len, fill) in [
            (5, 1),
            (200, 2),
            (70_000, 3),
            (65_536, 4),
            (1 << 20, 5),
            (0, 6),
        ] {
            stream.extend(frame(len, fill));
        }
        let (mut client, bridge) = tokio::io::duplex(8 * 1024);
        let mut gate = FrameGate::new(bridge, 4 << 20, None);
        let sent = stream.clone();
        let writer = tokio::spawn(async move {
            for piece in sent.chunks(3_001) {
                client.write_all(piece).await.expect("written");
            }
        });
        let mut got = Vec::new();
        gate.read_to_end(&mut got).await.expect("read");
        writer.await.expect("the writer finishes");
        assert!(got == stream, "the bytes changed on the way");
    }

    #[tokio::test]
    async fn holds_a_large_frame_until_it_is_complete() {
        let big = frame(1 << 20, 7);
        let (mut client, bridge) = tokio::io::duplex(4 << 20);
        let mut gate = FrameGate::new(bridge, 4 << 20, None);
        // A small frame goes through at once; of the large one, 100 KiB arrive.
        client.write_all(&frame(10, 1)).await.expect("written");
        client.write_all(&big[..100 * 1024]).await.expect("written");
        let mut small = [0u8; 16];
        let n = gate.read(&mut small).await.expect("read");
        assert_eq!(&small[..n], &frame(10, 1)[..]);
        let mut buf = [0u8; 4096];
        let nothing =
            tokio::time::timeout(std::time::Duration::from_millis(100), gate.read(&mut buf)).await;
        assert!(nothing.is_err(), "a part of a large frame was handed on");
        assert!(
            gate.pending.capacity() < 300 * 1024,
            "held {} bytes",
            gate.pending.capacity()
        );
        client.write_all(&big[100 * 1024..]).await.expect("written");
        drop(client);
        let mut got = Vec::new();
        gate.read_to_end(&mut got).await.expect("read");
        assert!(got == big);
    }

    #[tokio::test]
    async fn hands_on_a_frame_over_the_limit_at_once_for_tungstenite_to_refuse() {
        let (mut client, bridge) = tokio::io::duplex(64 * 1024);
        let mut gate = FrameGate::new(bridge, 1 << 20, None);
        let header = &frame(2 << 20, 0)[..14];
        client.write_all(header).await.expect("written");
        let mut buf = [0u8; 64];
        let n = gate.read(&mut buf).await.expect("read");
        assert_eq!(&buf[..n], header);
    }
}
