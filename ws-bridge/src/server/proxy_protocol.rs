//! The PROXY protocol (v1 text, v2 binary) a trusted load balancer puts in front of a
//! connection to say whose it is. [`read_header`] reads the header through a small buffer
//! and hands what it read past the header on in a [`Prefixed`] stream, so TLS or HTTP
//! start on exactly the bytes that follow the header.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use ppp::{HeaderResult, PartialResult};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

/// The longest header read: a v1 header is at most 107 bytes, and v2 headers with more
/// than this many bytes of TLVs are refused.
const MAX_HEADER: usize = 536;

/// Why no header could be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProxyError {
    /// No whole header within the time allowed.
    #[error("no PROXY header in time")]
    Timeout,
    /// The connection failed or closed before the header was whole.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// What came is not a PROXY header, or one longer than the bridge reads.
    #[error("{0}")]
    Invalid(String),
}

/// Reads a PROXY protocol v1 or v2 header from `stream` within `timeout`: the source it
/// reports (`None` for a LOCAL or UNKNOWN header, as health checks send: the peer address
/// stands), and the stream with the bytes read past the header in front.
pub(crate) async fn read_header<S>(
    mut stream: S,
    timeout: Duration,
) -> Result<(Option<SocketAddr>, Prefixed<S>), ProxyError>
where
    S: AsyncRead + Unpin,
{
    let mut buf = [0u8; MAX_HEADER];
    let mut filled = 0;
    let read = async {
        loop {
            let n = stream.read(&mut buf[filled..]).await?;
            if n == 0 {
                return Err(ProxyError::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "closed before the PROXY header",
                )));
            }
            filled += n;
            match parse(&buf[..filled])? {
                Some(header) => return Ok(header),
                None if filled == MAX_HEADER => {
                    return Err(ProxyError::Invalid("PROXY header too long".to_owned()));
                }
                None => {}
            }
        }
    };
    let (len, source) = tokio::time::timeout(timeout, read)
        .await
        .map_err(|_| ProxyError::Timeout)??;
    let rest = Bytes::copy_from_slice(&buf[len..filled]);
    Ok((source, Prefixed::new(rest, stream)))
}

/// A stream with bytes already read from it in front: reads return `prefix` first, then
/// what the stream has; writes go straight to the stream.
#[derive(Debug)]
pub(crate) struct Prefixed<S> {
    prefix: Bytes,
    inner: S,
}

impl<S> Prefixed<S> {
    /// `inner` with `prefix` to be read before it.
    pub(crate) fn new(prefix: Bytes, inner: S) -> Prefixed<S> {
        Prefixed { prefix, inner }
    }

    /// `inner` with nothing in front.
    pub(crate) fn plain(inner: S) -> Prefixed<S> {
        Prefixed::new(Bytes::new(), inner)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.prefix.is_empty() {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        let n = this.prefix.len().min(buf.remaining());
        buf.put_slice(&this.prefix[..n]);
        this.prefix.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// The header at the start of `bytes`: its length and the source it reports; `None` while
/// it is incomplete.
fn parse(bytes: &[u8]) -> Result<Option<(usize, Option<SocketAddr>)>, ProxyError> {
    let header = HeaderResult::parse(bytes);
    if header.is_incomplete() {
        return Ok(None);
    }
    let parsed = match header {
        HeaderResult::V1(Ok(h)) => (
            h.header.len(),
            match h.addresses {
                ppp::v1::Addresses::Tcp4(a) => {
                    Some(SocketAddr::from((a.source_address, a.source_port)))
                }
                ppp::v1::Addresses::Tcp6(a) => {
                    Some(SocketAddr::from((a.source_address, a.source_port)))
                }
                ppp::v1::Addresses::Unknown => None,
            },
        ),
        HeaderResult::V2(Ok(h)) => (
            h.len(),
            match h.addresses {
                ppp::v2::Addresses::IPv4(a) => {
                    Some(SocketAddr::from((a.source_address, a.source_port)))
                }
                ppp::v2::Addresses::IPv6(a) => {
                    Some(SocketAddr::from((a.source_address, a.source_port)))
                }
                _ => None,
            },
        ),
        HeaderResult::V1(Err(e)) => return Err(ProxyError::Invalid(format!("{e:?}"))),
        HeaderResult::V2(Err(e)) => return Err(ProxyError::Invalid(format!("{e:?}"))),
    };
    Ok(Some(parsed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    const TIMEOUT: Duration = Duration::from_secs(10);

    /// A v2 PROXY header for TCP over IPv4 from 192.0.2.1:51000 to 198.51.100.2:443.
    const V2_TCP4: [u8; 28] = [
        0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, // signature
        0x21, // version 2, command PROXY
        0x11, // AF_INET, STREAM
        0x00, 0x0c, // 12 bytes of addresses
        192, 0, 2, 1, // source address
        198, 51, 100, 2, // destination address
        0xc7, 0x38, // source port 51000
        0x01, 0xbb, // destination port 443
    ];

    /// Feeds `chunks` to `read_header` one write at a time, then closes the writer, and
    /// returns its answer and everything read after it.
    async fn read_from(chunks: &[&[u8]]) -> Result<(Option<SocketAddr>, Vec<u8>), ProxyError> {
        let (mut client, server) = tokio::io::duplex(4096);
        let chunks: Vec<Vec<u8>> = chunks.iter().map(|c| c.to_vec()).collect();
        let writer = tokio::spawn(async move {
            for chunk in chunks {
                client.write_all(&chunk).await.expect("write");
                client.flush().await.expect("flush");
                tokio::task::yield_now().await;
            }
        });
        let result = read_header(server, TIMEOUT).await;
        writer.await.expect("writer");
        let (source, mut rest) = result?;
        let mut after = Vec::new();
        rest.read_to_end(&mut after).await?;
        Ok((source, after))
    }

    #[tokio::test]
    async fn accepts_a_v1_header_and_keeps_what_follows() {
        let (source, after) =
            read_from(&[b"PROXY TCP4 192.0.2.1 198.51.100.2 51000 443\r\nGET / HTTP/1.1\r\n"])
                .await
                .expect("a header");
        assert_eq!(source, Some("192.0.2.1:51000".parse().expect("addr")));
        assert_eq!(after, b"GET / HTTP/1.1\r\n");
    }

    #[tokio::test]
    async fn accepts_a_v2_header_and_keeps_what_follows() {
        let mut wire = V2_TCP4.to_vec();
        wire.extend_from_slice(&[0x16, 0x03, 0x01]); // the start of a TLS ClientHello
        let (source, after) = read_from(&[&wire]).await.expect("a header");
        assert_eq!(source, Some("192.0.2.1:51000".parse().expect("addr")));
        assert_eq!(after, [0x16, 0x03, 0x01]);
    }

    #[tokio::test]
    async fn accepts_a_header_split_over_several_reads() {
        let (v2_start, v2_end) = V2_TCP4.split_at(5);
        let (source, after) = read_from(&[v2_start, &v2_end[..10], &v2_end[10..], b"xy"])
            .await
            .expect("a header");
        assert_eq!(source, Some("192.0.2.1:51000".parse().expect("addr")));
        assert_eq!(after, b"xy");
        let (source, after) =
            read_from(&[b"PROXY TCP6 2001:db8::1 ", b"2001:db8::2 1 2\r", b"\nz"])
                .await
                .expect("a header");
        assert_eq!(source, Some("[2001:db8::1]:1".parse().expect("addr")));
        assert_eq!(after, b"z");
    }

    #[tokio::test]
    async fn accepts_unknown_and_local_headers_without_a_source() {
        let (source, after) = read_from(&[b"PROXY UNKNOWN\r\nrest"])
            .await
            .expect("a header");
        assert_eq!((source, after.as_slice()), (None, &b"rest"[..]));
        let mut local = V2_TCP4[..16].to_vec();
        local[12] = 0x20; // version 2, command LOCAL
        local[13] = 0x00; // AF_UNSPEC
        local[14..16].copy_from_slice(&[0x00, 0x00]); // no addresses
        let (source, after) = read_from(&[&local]).await.expect("a header");
        assert_eq!((source, after.len()), (None, 0));
    }

    #[tokio::test]
    async fn rejects_what_is_not_a_proxy_header() {
        for garbage in [
            &b"GET / HTTP/1.1\r\n\r\n"[..],
            b"PROXY TCP4 192.0.2.1 198.51.100.2 51000 99999\r\n",
            b"PROXY TCP9 a b c d\r\n",
            b"\x16\x03\x01\x02\x00",
        ] {
            assert!(
                matches!(read_from(&[garbage]).await, Err(ProxyError::Invalid(_))),
                "{garbage:?}"
            );
        }
    }

    #[tokio::test]
    async fn rejects_a_header_longer_than_the_limit() {
        let mut long = V2_TCP4.to_vec();
        long[14..16].copy_from_slice(&[0x04, 0x00]); // 1024 bytes of addresses and TLVs
        long.resize(16 + 1024, 0);
        let error = read_from(&[&long]).await.expect_err("too long");
        assert!(error.to_string().contains("too long"), "{error}");
    }

    #[tokio::test]
    async fn rejects_a_connection_closed_inside_the_header() {
        let error = read_from(&[b"PROXY TCP4 192.0.2.1"])
            .await
            .expect_err("cut short");
        assert!(
            matches!(&error, ProxyError::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof),
            "{error}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_on_a_header_that_does_not_finish_in_time() {
        let (mut client, server) = tokio::io::duplex(4096);
        client.write_all(b"PROXY TCP4 ").await.expect("write");
        let started = tokio::time::Instant::now();
        let result = read_header(server, TIMEOUT).await;
        assert!(matches!(result, Err(ProxyError::Timeout)), "{result:?}");
        assert_eq!(started.elapsed(), TIMEOUT);
        drop(client);
    }

    #[tokio::test]
    async fn a_plain_stream_reads_and_writes_through() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut plain = Prefixed::plain(server);
        client.write_all(b"abc").await.expect("write");
        let mut got = [0u8; 3];
        plain.read_exact(&mut got).await.expect("read");
        assert_eq!(&got, b"abc");
        plain.write_all(b"back").await.expect("write");
        let mut back = [0u8; 4];
        client.read_exact(&mut back).await.expect("read");
        assert_eq!(&back, b"back");
    }

    #[tokio::test]
    async fn a_prefix_larger_than_the_read_comes_in_pieces() {
        let (client, server) = tokio::io::duplex(64);
        drop(client);
        let mut prefixed = Prefixed::new(Bytes::from_static(b"hello"), server);
        let mut two = [0u8; 2];
        prefixed.read_exact(&mut two).await.expect("read");
        assert_eq!(&two, b"he");
        let mut rest = Vec::new();
        prefixed.read_to_end(&mut rest).await.expect("read");
        assert_eq!(rest, b"llo");
    }
}
