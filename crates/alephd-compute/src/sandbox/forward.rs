//! HTTP/1.1 from the node to one instance, over connections it keeps for reuse. An ASGI
//! program is reached through its unix socket (`/run/app/sock`, a host directory bound into
//! the sandbox); a binary program on TCP 127.0.0.1:8080 *inside its own network namespace*,
//! through a socket the node creates in that namespace from a short-lived dedicated thread.
//! Neither way shares a network namespace between the host and the sandbox.

use std::{
    fs::File,
    path::PathBuf,
    sync::{Mutex, OnceLock},
    time::Duration,
};

use axum::body::Body;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

use super::SandboxError;

/// The port a binary program serves on (Aleph's convention).
pub(crate) const BINARY_PORT: u16 = 8080;
/// Idle connections kept per instance.
const MAX_IDLE: usize = 32;

/// Where an instance listens.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    Unix(PathBuf),
    /// TCP `127.0.0.1:port` in the network namespace of the sandbox.
    NetNs {
        port: u16,
    },
}

/// A unix socket's address holds at most 107 bytes of path; a deeper socket is reached
/// through its directory's descriptor (`/proc/self/fd/N/sock`), which any length allows.
async fn connect_unix(path: &std::path::Path) -> std::io::Result<tokio::net::UnixStream> {
    use std::os::{fd::AsRawFd, unix::ffi::OsStrExt};
    if path.as_os_str().as_bytes().len() < 100 {
        return tokio::net::UnixStream::connect(path).await;
    }
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return tokio::net::UnixStream::connect(path).await;
    };
    let dir = File::open(dir)?;
    let short = std::path::Path::new("/proc/self/fd")
        .join(dir.as_raw_fd().to_string())
        .join(name);
    let stream = tokio::net::UnixStream::connect(&short).await;
    drop(dir);
    stream
}

/// Kept connections to one instance.
#[derive(Debug)]
pub(crate) struct Connections {
    target: Target,
    /// The sandbox's network namespace, opened once its first process exists.
    netns: OnceLock<File>,
    idle: Mutex<Vec<SendRequest<Body>>>,
}

impl Connections {
    pub(crate) fn new(target: Target) -> Self {
        Self {
            target,
            netns: OnceLock::new(),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Records the sandbox's first process, whose network namespace binary programs are
    /// reached in.
    pub(crate) fn set_pid(&self, pid: u32) {
        if matches!(self.target, Target::NetNs { .. })
            && self.netns.get().is_none()
            && let Ok(file) = File::open(format!("/proc/{pid}/ns/net"))
        {
            let _ = self.netns.set(file);
        }
    }

    /// Whether the program accepts a connection now (the connection is kept for reuse).
    pub(crate) async fn probe(&self) -> bool {
        match self.connect().await {
            Ok(sender) => {
                self.put_back(sender);
                true
            }
            Err(_) => false,
        }
    }

    /// Sends one request; its URI is the path and query inside the program.
    pub(crate) async fn send(
        &self,
        request: axum::http::Request<Body>,
    ) -> Result<axum::http::Response<Body>, SandboxError> {
        let mut request = request;
        // HTTP/1.1 servers (h11 under uvicorn) refuse requests without a Host header.
        if !request.headers().contains_key(axum::http::header::HOST) {
            let host = axum::http::HeaderValue::from_static("localhost");
            request.headers_mut().insert(axum::http::header::HOST, host);
        }
        let mut sender = match self.take_ready() {
            Some(sender) => sender,
            None => self.connect().await?,
        };
        sender
            .ready()
            .await
            .map_err(|e| SandboxError::Request(e.to_string()))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| SandboxError::Request(e.to_string()))?;
        self.put_back(sender);
        Ok(response.map(Body::new))
    }

    fn take_ready(&self) -> Option<SendRequest<Body>> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.retain(|s| !s.is_closed());
        let index = idle.iter().position(SendRequest::is_ready)?;
        Some(idle.swap_remove(index))
    }

    fn put_back(&self, sender: SendRequest<Body>) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(sender);
        }
    }

    async fn connect(&self) -> Result<SendRequest<Body>, SandboxError> {
        let failed = |e: std::io::Error| SandboxError::Request(format!("cannot connect: {e}"));
        match &self.target {
            Target::Unix(path) => {
                let stream = connect_unix(path).await.map_err(failed)?;
                handshake(stream).await
            }
            Target::NetNs { port } => {
                let netns = self
                    .netns
                    .get()
                    .ok_or_else(|| SandboxError::Request("the sandbox is not running".into()))?
                    .try_clone()
                    .map_err(failed)?;
                let stream = connect_in_netns(netns, *port).await.map_err(failed)?;
                handshake(tokio::net::TcpStream::from_std(stream).map_err(failed)?).await
            }
        }
    }
}

async fn handshake<S>(stream: S) -> Result<SendRequest<Body>, SandboxError>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| SandboxError::Request(e.to_string()))?;
    tokio::spawn(async move {
        if let Err(err) = connection.await {
            tracing::debug!(%err, "sandbox connection ended");
        }
    });
    Ok(sender)
}

/// A TCP connection to `127.0.0.1:port` made inside `netns`. `setns` changes the namespace
/// of the calling thread for good, so it runs on a thread of its own that ends right after
/// (never a pool thread: later work there would run in the sandbox's namespace).
async fn connect_in_netns(netns: File, port: u16) -> std::io::Result<std::net::TcpStream> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("sandbox-netns".into())
        .spawn(move || {
            let result = nix::sched::setns(&netns, nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(std::io::Error::from)
                .and_then(|()| {
                    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
                    std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))
                })
                .and_then(|s| s.set_nonblocking(true).map(|()| s));
            let _ = tx.send(result);
        })?;
    rx.await
        .map_err(|_| std::io::Error::other("the netns thread died"))?
}
