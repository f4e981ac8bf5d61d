//! A connection wrapper that gives hyper's own error responses the JSON error envelope.
//!
//! hyper answers some requests by itself, before any handler runs, with an empty body: a request
//! target over 65,534 bytes gets `414 URI Too Long`, a request head over its buffer limit `431`,
//! and a request it cannot parse `400`. The contract wants a query string over 64 KiB to be a 400
//! with the JSON error envelope, like every error. This wrapper watches what is written to the
//! socket: a response head that is one of those automatic, bodiless answers (status 400, 414 or
//! 431 with `content-length: 0`; the handlers never send such a response) is replaced by a 400
//! with the envelope. hyper closes the connection after these answers, so nothing follows.

use crate::export::error_body;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The replacement for an automatic hyper error response, if `buf` starts with one.
pub fn rewrite(buf: &[u8]) -> Option<Vec<u8>> {
    let rest = buf
        .strip_prefix(b"HTTP/1.1 ")
        .or_else(|| buf.strip_prefix(b"HTTP/1.0 "))?;
    let status = rest.get(..3)?;
    let msg = match status {
        b"414" => "query string: over the limit of 64 KiB (65536 bytes)",
        b"431" => "request head too large (a query string may have at most 64 KiB)",
        b"400" => "not a valid HTTP request",
        _ => return None,
    };
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    if !head
        .split("\r\n")
        .any(|l| l.replace(' ', "") == "content-length:0")
    {
        return None;
    }
    let body = error_body(400, msg);
    let mut out = format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body.as_bytes());
    Some(out)
}

/// A replacement being written: its bytes, how many are written, and how many bytes of the
/// caller's buffer to report as written once it is all out.
struct Pending {
    bytes: Vec<u8>,
    written: usize,
    claimed: usize,
}

/// Wraps a connection; see the module documentation.
pub struct ErrorEnvelopeIo<T> {
    inner: T,
    pending: Option<Pending>,
}

impl<T> ErrorEnvelopeIo<T> {
    pub fn new(inner: T) -> Self {
        ErrorEnvelopeIo {
            inner,
            pending: None,
        }
    }
}

impl<T: AsyncWrite + Unpin> ErrorEnvelopeIo<T> {
    fn drive_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        while let Some(p) = &mut self.pending {
            if p.written == p.bytes.len() {
                let claimed = p.claimed;
                self.pending = None;
                return Poll::Ready(Ok(claimed));
            }
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &p.bytes[p.written..]))?;
            if n == 0 {
                self.pending = None;
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            p.written += n;
        }
        Poll::Ready(Ok(0))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for ErrorEnvelopeIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ErrorEnvelopeIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.pending.is_none() {
            match rewrite(buf) {
                Some(bytes) => {
                    self.pending = Some(Pending {
                        bytes,
                        written: 0,
                        claimed: buf.len(),
                    })
                }
                None => return Pin::new(&mut self.inner).poll_write(cx, buf),
            }
        }
        self.drive_pending(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.pending.is_none() {
            let first = bufs.iter().find(|b| !b.is_empty());
            match first.and_then(|b| rewrite(b).map(|r| (r, b.len()))) {
                Some((bytes, claimed)) => {
                    self.pending = Some(Pending {
                        bytes,
                        written: 0,
                        claimed,
                    })
                }
                None => return Pin::new(&mut self.inner).poll_write_vectored(cx, bufs),
            }
        }
        self.drive_pending(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.pending.is_some() {
            ready!(self.drive_pending(cx))?;
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.pending.is_some() {
            ready!(self.drive_pending(cx))?;
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn only_bodiless_automatic_errors_are_rewritten() {
        let auto = b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\ndate: Thu, 01 Jan 2026 00:00:00 GMT\r\n\r\n";
        let out = String::from_utf8(rewrite(auto).unwrap()).unwrap();
        assert!(out.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{out}");
        assert!(out.ends_with("{\"success\":false,\"msg\":\"query string: over the limit of 64 KiB (65536 bytes)\",\"code\":400,\"totalCount\":0,\"data\":[]}\n"));
        let body_len = out.split("\r\n\r\n").nth(1).unwrap().len();
        assert!(out.contains(&format!("content-length: {body_len}\r\n")));
        assert!(rewrite(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\r\n"
        )
        .is_some());
        // A handler's own 400 has a body; a 200 is never touched; nor is body data.
        assert!(rewrite(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 80\r\n\r\n{").is_none());
        assert!(rewrite(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_none());
        assert!(rewrite(b"{\"success\":true}").is_none());
        assert!(rewrite(b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\n").is_none());
    }

    #[tokio::test]
    async fn replaces_the_response_on_the_wire() {
        let (a, mut b) = tokio::io::duplex(16);
        let mut w = ErrorEnvelopeIo::new(a);
        let writer = tokio::spawn(async move {
            let head = b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\n\r\n";
            w.write_all(head).await.unwrap();
            w.write_all(b"passes through").await.unwrap();
            w.shutdown().await.unwrap();
        });
        let mut got = String::new();
        b.read_to_string(&mut got).await.unwrap();
        writer.await.unwrap();
        assert!(got.starts_with("HTTP/1.1 400 Bad Request\r\n"));
        assert!(got.ends_with("\"data\":[]}\npasses through"), "{got}");
    }
}
