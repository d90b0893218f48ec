//! The connection's byte stream, watched for the one answer hyper writes on its own.
//!
//! When hyper cannot parse a request head (a malformed header or `Content-Length`, a bad method,
//! URI or version, more header fields or bytes than its parser holds) it writes a status line
//! with an empty body (400, 414 or 431) and ends the connection; no middleware ever sees the
//! request. [`Wire`] swallows exactly that answer: a head-only 400/414/431 with
//! `content-length: 0`, which the application never writes (every 4xx of the application has
//! a JSON body, see [`super::error::json_errors`]). The listener then writes the JSON answer
//! itself, with the same status and hyper's reason ([`super::serve`]).
//!
//! Consumes and produces the raw TCP bytes; touches nothing else.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A TCP stream that swallows hyper's own empty-bodied error answers.
#[derive(Debug)]
pub(crate) struct Wire<T> {
    inner: T,
    swallowed: Option<u16>,
}

impl<T> Wire<T> {
    pub(crate) fn new(inner: T) -> Self {
        Self {
            inner,
            swallowed: None,
        }
    }

    /// The status of the answer hyper wrote and this stream swallowed, if any.
    pub(crate) fn swallowed(&self) -> Option<u16> {
        self.swallowed
    }

    pub(crate) fn into_inner(self) -> T {
        self.inner
    }
}

/// The length of `buf`'s leading head when it is one of hyper's automatic error answers.
pub(crate) fn automatic_answer(buf: &[u8]) -> Option<(usize, u16)> {
    let status = match buf.get(..13)? {
        [
            b'H',
            b'T',
            b'T',
            b'P',
            b'/',
            b'1',
            b'.',
            b'0' | b'1',
            b' ',
            d @ ..,
            b' ',
        ] => std::str::from_utf8(d).ok()?.parse::<u16>().ok()?,
        _ => return None,
    };
    if !matches!(status, 400 | 414 | 431) {
        return None;
    }
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    head.contains("\r\ncontent-length: 0\r\n")
        .then_some((end, status))
}

impl<T: AsyncRead + Unpin> AsyncRead for Wire<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Wire<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.swallowed.is_none()
            && let Some((len, status)) = automatic_answer(buf)
        {
            self.swallowed = Some(status);
            return Poll::Ready(Ok(len));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if let Some(first) = bufs.iter().find(|b| !b.is_empty())
            && self.swallowed.is_none()
            && automatic_answer(first).is_some()
        {
            return self.poll_write(cx, first);
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.swallowed.is_some() {
            // The listener still has to write the JSON answer; it shuts the stream down after.
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_head_only_parse_answers_are_recognised() {
        let bare =
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        assert_eq!(automatic_answer(bare), Some((bare.len(), 431)));
        let bare = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(automatic_answer(bare), Some((bare.len(), 400)));
        for other in [
            &b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 40\r\n\r\n{}"[..],
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n",
            b"{\"HTTP/1.1 400 \"",
            b"",
        ] {
            assert_eq!(automatic_answer(other), None, "{}", String::from_utf8_lossy(other));
        }
    }
}
