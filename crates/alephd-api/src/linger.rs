//! Lingering close for uploads. When a handler refuses an upload before reading all of it
//! (413 on the declared length, a file over the limit mid-stream, a bad signature), closing the
//! connection with unread bytes makes the kernel send a reset, and the client, still writing,
//! usually loses the answer and reports a broken pipe instead of "too large". Like nginx's
//! lingering close, the rest of such a body is read and discarded in the background, for a
//! bounded time, so the client finishes its write and reads the real answer.

use std::{
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    body::{Body, Bytes, HttpBody},
    extract::Request,
    middleware::Next,
    response::Response,
};
use futures::StreamExt;
use http_body::Frame;

/// How long a refused body is drained at most.
const LINGER: Duration = Duration::from_secs(30);

/// Middleware: the request body drains itself when dropped unread.
pub(crate) async fn lingering_body(request: Request, next: Next) -> Response {
    next.run(request.map(|body| Body::new(Lingering { inner: Some(body) })))
        .await
}

struct Lingering {
    inner: Option<Body>,
}

impl HttpBody for Lingering {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.inner.as_mut() {
            Some(inner) => Pin::new(inner).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(HttpBody::is_end_stream)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| http_body::SizeHint::with_exact(0), HttpBody::size_hint)
    }
}

impl Drop for Lingering {
    fn drop(&mut self) {
        let Some(inner) = self.inner.take() else {
            return;
        };
        if inner.is_end_stream() {
            return;
        }
        // Outside a runtime (never in the server) the body is simply dropped.
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let mut stream = inner.into_data_stream();
                let _ = tokio::time::timeout(LINGER, async {
                    while let Some(Ok(_)) = stream.next().await {}
                })
                .await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use axum::{Router, http::StatusCode, routing::post};

    use super::*;

    /// A client writing 64 MiB to a handler that refuses without reading: with the lingering
    /// body it finishes its write and reads the 413; without it the write fails (reset).
    fn upload_to(router: Router) -> std::io::Result<String> {
        let runtime = tokio::runtime::Runtime::new()?;
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let addr = listener.local_addr()?;
        runtime.spawn(async move { axum::serve(listener, router).await });
        let mut stream = std::net::TcpStream::connect(addr)?;
        let len = 64usize << 20;
        write!(
            stream,
            "POST /up HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {len}\r\n\r\n"
        )?;
        let chunk = vec![7u8; 1 << 20];
        for _ in 0..len / chunk.len() {
            stream.write_all(&chunk)?;
        }
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        Ok(answer)
    }

    async fn refuse() -> StatusCode {
        StatusCode::PAYLOAD_TOO_LARGE
    }

    #[test]
    fn a_refused_upload_still_reads_its_answer() {
        let router = Router::new()
            .route("/up", post(refuse))
            .layer(axum::middleware::from_fn(lingering_body));
        let answer = upload_to(router).expect("the whole body was accepted");
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    }

    #[test]
    fn without_it_the_client_sees_a_reset() {
        let router = Router::new().route("/up", post(refuse));
        assert!(upload_to(router).is_err(), "the control case must fail");
    }
}
