//! What one Wasm instance sees of the host: its WASI context (environment, preopens, no
//! sockets unless `internet`), its captured output, its memory limit, and the policy for its
//! outbound HTTP requests.

use std::{
    io,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
};

use axum::http;
use tokio::io::AsyncWrite;
use wasmtime::{StoreLimits, component::ResourceTable};
use wasmtime_wasi::{
    WasiCtx, WasiCtxView, WasiView,
    cli::{IsTerminal, StdoutStream},
};
use wasmtime_wasi_http::{
    WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView, p2::body::HyperOutgoingBody,
};

/// The state of one instance's store.
pub(crate) struct Host {
    pub(crate) wasi: WasiCtx,
    pub(crate) http: WasiHttpCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limits: StoreLimits,
    pub(crate) outbound: Outbound,
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for Host {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.outbound,
        }
    }
}

/// Which outbound HTTP requests a program may make: any with `internet`, else only to the
/// node's own API (with `aleph_api`), else none. Refusals reach the guest as
/// `HTTP-request-denied`.
pub(crate) struct Outbound {
    pub(crate) internet: bool,
    /// `host:port` of this node's API, when the program may call it.
    pub(crate) api: Option<String>,
}

impl Outbound {
    fn allows(&self, request: &http::Request<wasmtime_wasi_http::WasiBody>) -> bool {
        if self.internet {
            return true;
        }
        let Some(api) = &self.api else {
            return false;
        };
        request
            .uri()
            .authority()
            .is_some_and(|a| a.as_str().eq_ignore_ascii_case(api))
            && request.uri().scheme_str() == Some("http")
    }
}

type Sent = Box<
    dyn Future<
            Output = wasmtime_wasi_http::Result<(
                http::Response<wasmtime_wasi_http::WasiBody>,
                Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
            )>,
        > + Send,
>;

impl WasiHttpHooks for Outbound {
    fn send_request(
        &mut self,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        fut: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> Sent {
        if !self.allows(&request) {
            tracing::debug!(uri = %request.uri(), "outbound request refused");
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        let _ = fut;
        Box::new(async move {
            use http_body_util::BodyExt;
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}

/// A response head and body from a guest.
pub(crate) type GuestResponse = http::Response<HyperOutgoingBody>;

/// One output stream of an instance, kept up to a size (the rest is counted, not kept): a
/// guest that prints a lot never fails for it.
#[derive(Debug, Clone)]
pub(crate) struct Capture {
    inner: Arc<Mutex<CaptureInner>>,
}

#[derive(Debug)]
struct CaptureInner {
    kept: Vec<u8>,
    limit: usize,
    dropped: u64,
    /// Keep the newest bytes (a long-running command) rather than the first.
    tail: bool,
}

impl Capture {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            inner: Arc::new(Mutex::new(CaptureInner {
                kept: Vec::new(),
                limit,
                dropped: 0,
                tail: false,
            })),
        }
    }

    /// A capture that keeps the last `limit` bytes, for output without an end.
    pub(crate) fn tail(limit: usize) -> Self {
        let capture = Self::new(limit);
        capture.inner.lock().unwrap_or_else(|p| p.into_inner()).tail = true;
        capture
    }

    /// What was kept, as text, with a note when some was dropped.
    pub(crate) fn text(&self) -> String {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut text = String::from_utf8_lossy(&inner.kept).into_owned();
        match (inner.dropped, inner.tail) {
            (0, _) => {}
            (n, false) => text.push_str(&format!("\n[{n} more bytes not kept]\n")),
            (n, true) => text.insert_str(0, &format!("[{n} earlier bytes not kept]\n")),
        }
        text
    }

    fn push(&self, bytes: &[u8]) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.tail {
            inner.kept.extend_from_slice(bytes);
            let over = inner.kept.len().saturating_sub(inner.limit);
            inner.kept.drain(..over);
            inner.dropped += over as u64;
            return;
        }
        let room = inner.limit.saturating_sub(inner.kept.len());
        let kept = bytes.len().min(room);
        inner.kept.extend_from_slice(&bytes[..kept]);
        inner.dropped += (bytes.len() - kept) as u64;
    }
}

impl IsTerminal for Capture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Capture {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl AsyncWrite for Capture {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_keeps_up_to_its_limit_and_counts_the_rest() {
        let capture = Capture::new(8);
        capture.push(b"hello ");
        capture.push(b"world");
        let text = capture.text();
        assert!(text.starts_with("hello wo"), "{text}");
        assert!(text.contains("[3 more bytes not kept]"), "{text}");
        let tail = Capture::tail(8);
        tail.push(b"hello ");
        tail.push(b"world");
        assert_eq!(tail.text(), "[3 earlier bytes not kept]\nlo world");
    }

    #[test]
    fn without_internet_only_the_node_api_is_reachable() {
        let request = |uri: &str| {
            http::Request::builder()
                .uri(uri)
                .body(wasmtime_wasi_http::WasiBody::default())
                .unwrap()
        };
        let closed = Outbound {
            internet: false,
            api: None,
        };
        assert!(!closed.allows(&request("http://127.0.0.1:4024/api/v0/info/public.json")));
        let api = Outbound {
            internet: false,
            api: Some("127.0.0.1:4024".into()),
        };
        assert!(api.allows(&request("http://127.0.0.1:4024/api/v0/info/public.json")));
        assert!(!api.allows(&request("http://127.0.0.1:4025/")));
        assert!(!api.allows(&request("https://example.com/")));
        let open = Outbound {
            internet: true,
            api: None,
        };
        assert!(open.allows(&request("https://example.com/")));
    }
}
