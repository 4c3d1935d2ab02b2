//! The HTTP listener of `portcullis serve`: a bound on concurrent connections,
//! header, body and idle timeouts, and a graceful shutdown with a deadline (issue 9,
//! findings 3 and 11).
//!
//! A connection is closed when it
//!
//! - sends nothing for `http_idle_timeout` seconds while no request is in progress (a
//!   silent connect, or a kept-alive connection between requests);
//! - takes more than `http_header_timeout` seconds from the first byte of a request to
//!   the end of its head (a client trickling its headers);
//! - takes more than `http_body_timeout` seconds to send a request's body, which gets
//!   `408` (see [`read_body`]).
//!
//! At most `http_max_connections` connections are served at once; past that the
//! listener stops accepting, and new connections wait in the kernel's accept queue
//! instead of taking file descriptors the database needs. A request whose
//! `Content-Length` is over the limit gets `413` before anything is read, so a client
//! that sent `Expect: 100-continue` never hears `100 Continue` for it.
//!
//! On shutdown the listener stops accepting, idle connections close at once, requests
//! in progress may finish for `shutdown_grace_period` seconds, and then every remaining
//! connection is closed and [`serve`] returns: one slow client cannot hold the process.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use http::StatusCode;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use portcullis_core::http::MAX_BODY_BYTES;
use portcullis_core::OAuthError;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tower::ServiceExt;

use crate::config::Config;

/// The listener's limits, from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// From the first byte of a request to the end of its head.
    pub header_timeout: Duration,
    /// For a request's whole body.
    pub body_timeout: Duration,
    /// Without a byte while no request is in progress.
    pub idle_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// How long shutdown waits for requests in progress.
    pub grace_period: Duration,
}

impl Limits {
    /// The limits `config` sets, with the connection bound lowered to what the
    /// process's file descriptor limit allows (logged when lowered).
    pub fn from_config(config: &Config) -> Self {
        let wanted = usize::try_from(config.http.http_max_connections).unwrap_or(usize::MAX);
        Self {
            header_timeout: Duration::from_secs(config.http.http_header_timeout),
            body_timeout: Duration::from_secs(config.http.http_body_timeout),
            idle_timeout: Duration::from_secs(config.http.http_idle_timeout),
            max_connections: fit_to_file_limit(wanted),
            grace_period: Duration::from_secs(config.http.shutdown_grace_period),
        }
    }

    /// How often a connection checks its timeouts: a quarter of the shortest, between
    /// 50 ms and 1 s.
    fn tick(&self) -> Duration {
        (self.header_timeout.min(self.idle_timeout) / 4)
            .clamp(Duration::from_millis(50), Duration::from_secs(1))
    }
}

/// File descriptors kept for the database, the log and the listener itself.
const RESERVED_FILES: usize = 64;

/// Lowers `wanted` so that connections leave [`RESERVED_FILES`] descriptors free under
/// the process's soft limit (read from `/proc/self/limits` on Linux).
fn fit_to_file_limit(wanted: usize) -> usize {
    let Some(limit) = open_files_limit() else {
        return wanted.max(1);
    };
    let fits = limit.saturating_sub(RESERVED_FILES).max(1);
    if wanted > fits {
        tracing::warn!(
            http_max_connections = wanted,
            open_files_limit = limit,
            serving = fits,
            "http_max_connections is more than the open-files limit allows; serving fewer at once (raise the limit with `ulimit -n`)"
        );
        return fits;
    }
    wanted.max(1)
}

fn open_files_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Middleware on every route: refuses a body announced larger than the core accepts
/// (`413`, before reading it — no `100 Continue`), and reads the body within the body
/// timeout (`408` otherwise), so that handlers get it whole.
pub async fn read_body(State(timeout): State<Duration>, request: Request, next: Next) -> Response {
    if portcullis_axum::announces_too_large_body(request.headers()) {
        let mut response = portcullis_axum::body_too_large();
        // The body is left unread: the connection cannot be reused.
        response.headers_mut().insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("close"),
        );
        return response;
    }
    let (parts, body) = request.into_parts();
    let bytes =
        match tokio::time::timeout(timeout, axum::body::to_bytes(body, MAX_BODY_BYTES)).await {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(_)) => return portcullis_axum::body_too_large(),
            Err(_) => {
                tracing::info!("request body not received in time; closing the connection");
                let mut response = portcullis_axum::into_response(
                    OAuthError::invalid_request("the request body was not received in time")
                        .with_status(StatusCode::REQUEST_TIMEOUT)
                        .into_response(),
                );
                response.headers_mut().insert(
                    http::header::CONNECTION,
                    http::HeaderValue::from_static("close"),
                );
                return response;
            }
        };
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Serves `app` on `listener` with `limits` until `shutdown` completes, then shuts
/// down gracefully within the grace period.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let (stop, stopping) = watch::channel(false);
    let mut connections: JoinSet<()> = JoinSet::new();
    let mut warned_full: Option<Instant> = None;
    tokio::pin!(shutdown);
    loop {
        if permits.available_permits() == 0
            && warned_full.is_none_or(|at| at.elapsed() > Duration::from_secs(10))
        {
            warned_full = Some(Instant::now());
            tracing::warn!(
                connections = limits.max_connections,
                "every connection slot is taken; new connections wait until one closes (http_max_connections)"
            );
        }
        let permit = tokio::select! {
            () = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, say: wait instead of spinning.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let app = app.clone();
        let stopping = stopping.clone();
        connections.spawn(async move {
            serve_connection(stream, peer, app, limits, stopping).await;
            drop(permit);
        });
    }
    drop(listener);
    let open = connections.len();
    let _ = stop.send(true);
    if open > 0 {
        tracing::info!(
            connections = open,
            "waiting for requests in flight (up to shutdown_grace_period)"
        );
    }
    let drained = tokio::time::timeout(limits.grace_period, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = connections.len(),
            "shutdown grace period over: closing the connections still open"
        );
        connections.abort_all();
        while connections.join_next().await.is_some() {}
    }
}

/// What a connection is doing, for its timeouts.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// No request in progress since `since`; `first_byte` when the next one began.
    Waiting {
        since: Instant,
        first_byte: Option<Instant>,
    },
    /// This many requests in progress.
    Busy(usize),
}

/// The phase of one connection, shared by its reader, its service and its watchdog.
struct Activity(Mutex<Phase>);

impl Activity {
    fn new() -> Self {
        Self(Mutex::new(Phase::Waiting {
            since: Instant::now(),
            first_byte: None,
        }))
    }

    fn update(&self, change: impl FnOnce(&mut Phase)) {
        if let Ok(mut phase) = self.0.lock() {
            change(&mut phase);
        }
    }

    fn read_some(&self) {
        self.update(|phase| {
            if let Phase::Waiting { first_byte, .. } = phase {
                first_byte.get_or_insert_with(Instant::now);
            }
        });
    }

    fn begin_request(&self) {
        self.update(|phase| {
            *phase = match *phase {
                Phase::Busy(n) => Phase::Busy(n + 1),
                Phase::Waiting { .. } => Phase::Busy(1),
            }
        });
    }

    fn end_request(&self) {
        self.update(|phase| {
            *phase = match *phase {
                Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
                _ => Phase::Waiting {
                    since: Instant::now(),
                    first_byte: None,
                },
            }
        });
    }

    /// Why the connection is to be closed now, if it is.
    fn expired(&self, limits: &Limits) -> Option<&'static str> {
        let phase = *self.0.lock().ok()?;
        match phase {
            Phase::Waiting {
                since,
                first_byte: None,
            } if since.elapsed() > limits.idle_timeout => Some("idle"),
            Phase::Waiting {
                first_byte: Some(at),
                ..
            } if at.elapsed() > limits.header_timeout => Some("request head not received in time"),
            _ => None,
        }
    }
}

/// Ends when the connection has been idle, or slow with a request head, for too long.
async fn watchdog(activity: &Activity, limits: &Limits) -> &'static str {
    let mut ticks = tokio::time::interval(limits.tick());
    loop {
        ticks.tick().await;
        if let Some(reason) = activity.expired(limits) {
            return reason;
        }
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    limits: Limits,
    mut stopping: watch::Receiver<bool>,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: activity.clone(),
    });
    let service = ConnectionService {
        app,
        peer,
        activity: activity.clone(),
    };
    let mut http = hyper::server::conn::http1::Builder::new();
    // The timeouts are the watchdog's; hyper's own header timer would also end idle
    // kept-alive connections after the header timeout.
    http.timer(TokioTimer::new())
        .header_read_timeout(None)
        .max_buf_size(64 * 1024);
    let connection = http.serve_connection(io, service);
    tokio::pin!(connection);
    let mut graceful = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, %peer, "connection ended with an error");
                }
                return;
            }
            reason = watchdog(&activity, &limits) => {
                tracing::debug!(%peer, reason, "closing the connection");
                return;
            }
            changed = stopping.changed(), if !graceful => {
                if changed.is_err() || *stopping.borrow() {
                    graceful = true;
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// The router as one connection's hyper service: tells handlers the peer address
/// (axum's `ConnectInfo`) and the watchdog when a request is in progress.
#[derive(Clone)]
struct ConnectionService {
    app: Router,
    peer: SocketAddr,
    activity: Arc<Activity>,
}

/// Marks a request finished when dropped (its handler returned or was cancelled).
struct InProgress(Arc<Activity>);

impl Drop for InProgress {
    fn drop(&mut self) {
        self.0.end_request();
    }
}

impl hyper::service::Service<http::Request<Incoming>> for ConnectionService {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn call(&self, request: http::Request<Incoming>) -> Self::Future {
        self.activity.begin_request();
        let in_progress = InProgress(self.activity.clone());
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(ConnectInfo(self.peer));
        let app = self.app.clone();
        Box::pin(async move {
            let response = match app.oneshot(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            drop(in_progress);
            Ok(response.into_response())
        })
    }
}

/// A TCP stream that tells the connection's [`Activity`] when bytes arrive.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.read_some();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            max_connections: 8,
            grace_period: Duration::from_secs(1),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn idle_and_slow_heads_expire_but_busy_connections_do_not() {
        let limits = limits();
        let activity = Activity::new();
        tokio::time::advance(Duration::from_secs(29)).await;
        assert_eq!(activity.expired(&limits), None);
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(activity.expired(&limits), Some("idle"));

        let activity = Activity::new();
        activity.read_some();
        tokio::time::advance(Duration::from_secs(11)).await;
        assert_eq!(
            activity.expired(&limits),
            Some("request head not received in time")
        );

        let activity = Activity::new();
        activity.read_some();
        activity.begin_request();
        tokio::time::advance(Duration::from_secs(600)).await;
        assert_eq!(
            activity.expired(&limits),
            None,
            "a handler may take its time"
        );
        activity.end_request();
        tokio::time::advance(Duration::from_secs(29)).await;
        assert_eq!(
            activity.expired(&limits),
            None,
            "idle counts from the response"
        );
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(activity.expired(&limits), Some("idle"));
    }

    #[test]
    fn the_file_limit_caps_the_connections() {
        if let Some(limit) = open_files_limit() {
            assert!(fit_to_file_limit(usize::MAX) <= limit);
            assert!(fit_to_file_limit(usize::MAX) >= 1);
        }
        assert_eq!(fit_to_file_limit(0), 1);
    }
}
