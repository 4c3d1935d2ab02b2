//! The load generator: closed-loop HTTP/1.1 over keep-alive connections.
//!
//! Each virtual connection is one tokio task owning one `TcpStream` driven by
//! `hyper::client::conn::http1`; it sends its next request as soon as it has read the
//! previous response, so the offered load adapts to the server (no coordinated
//! omission is corrected for: this measures throughput and the latency a saturated
//! server gives). Request bodies are pre-built `Bytes` where the scenario allows
//! (client_credentials, introspection, the pre-created codes); only refresh builds a
//! body per request, from the token it just received.
//!
//! Everything is bounded in time: a connection starts no request after the deadline,
//! every request has [`REQUEST_TIMEOUT`], and [`run_scenario`] gives up
//! [`HARD_GRACE`] after the deadline.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use http::{HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde::Deserialize;

use crate::stats::{merge, FirstError, Merged, TaskStats};

/// Longest a single request may take before it counts as an error.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How long after the deadline a scenario is abandoned.
pub(crate) const HARD_GRACE: Duration = Duration::from_secs(20);

/// Longest a connect may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How much of an error body is kept.
const ERROR_BODY_CHARS: usize = 300;

/// Where requests go: a loopback address and the `Host` header for it.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// The server's address.
    pub(crate) addr: SocketAddr,
    /// `host:port`, sent as `Host`.
    pub(crate) host: HeaderValue,
}

impl Target {
    /// A target at `addr`, which must be a loopback address.
    pub(crate) fn new(addr: SocketAddr) -> Result<Target, String> {
        if !addr.ip().is_loopback() {
            return Err(format!(
                "{addr} is not a loopback address: the bench only loads this machine"
            ));
        }
        let host = HeaderValue::from_str(&addr.to_string()).map_err(|e| e.to_string())?;
        Ok(Target { addr, host })
    }
}

/// An HTTP Basic `Authorization` header (RFC 6749 §2.3.1: form-encode, then base64).
pub(crate) fn basic_auth(client_id: &str, secret: &str) -> Result<HeaderValue, String> {
    let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let credentials = format!("{}:{}", encode(client_id), encode(secret));
    HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(credentials)))
        .map_err(|e| format!("client credentials do not fit in a header: {e}"))
}

/// A form-encoded body from pairs.
pub(crate) fn form(pairs: &[(&str, &str)]) -> Bytes {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        serializer.append_pair(name, value);
    }
    Bytes::from(serializer.finish())
}

/// Authorization codes ready to redeem, each as a finished token-request body, handed
/// out once each to whichever connection asks first.
#[derive(Debug, Default)]
pub(crate) struct CodePool {
    bodies: Vec<Bytes>,
    next: AtomicUsize,
}

impl CodePool {
    /// A pool of pre-built `grant_type=authorization_code` bodies.
    pub(crate) fn new(bodies: Vec<Bytes>) -> CodePool {
        CodePool {
            bodies,
            next: AtomicUsize::new(0),
        }
    }

    /// The next unused body; `None` when all are used.
    pub(crate) fn take(&self) -> Option<Bytes> {
        let index = self.next.fetch_add(1, Ordering::Relaxed);
        self.bodies.get(index).cloned()
    }

    /// How many are left.
    pub(crate) fn remaining(&self) -> usize {
        self.bodies
            .len()
            .saturating_sub(self.next.load(Ordering::Relaxed))
    }
}

/// What a scenario sends, and what counts as success.
#[derive(Debug, Clone)]
pub(crate) enum Workload {
    /// The same body every time (client_credentials, hello): success is 200.
    Fixed(Bytes),
    /// Introspection of a set of distinct valid tokens: connection *i* starts at token
    /// *i* and takes the next one with each request, so concurrent requests ask about
    /// different tokens (as an API gateway's would) and a server cannot answer many
    /// of them with one lookup of one hot token. Success is 200 with `"active":true`.
    Introspect(Arc<[Bytes]>),
    /// A refresh_token chain per connection, started by redeeming a code from the pool:
    /// success is 200 with a new `refresh_token`, which the next request uses.
    Refresh(Arc<CodePool>),
    /// A distinct code from the pool each time: success is 200.
    CodeExchange(Arc<CodePool>),
}

/// One scenario to run.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// Where to send.
    pub(crate) target: Target,
    /// The request path, e.g. `/token`.
    pub(crate) path: Uri,
    /// The client's `Authorization` header.
    pub(crate) auth: HeaderValue,
    /// What to send.
    pub(crate) workload: Workload,
    /// Concurrent connections.
    pub(crate) connections: u32,
    /// How long to measure.
    pub(crate) duration: Duration,
}

/// What a scenario measured.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// Merged latencies and counts.
    pub(crate) merged: Merged,
    /// Wall time from the first request to the last response.
    pub(crate) elapsed: Duration,
    /// The code pool ran out before the deadline: the scenario stopped early.
    pub(crate) codes_ran_out: bool,
}

impl Outcome {
    /// Successful requests per second.
    pub(crate) fn rate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            #[allow(clippy::cast_precision_loss)] // request counts are far below 2^52
            let ok = self.merged.ok as f64;
            ok / secs
        } else {
            0.0
        }
    }
}

/// Shared state of the connection tasks of one scenario.
struct Shared {
    plan: Plan,
    deadline: Instant,
    stop: AtomicBool,
    codes_ran_out: AtomicBool,
}

/// Runs one scenario and merges what its connections measured.
#[allow(clippy::disallowed_methods)] // measuring wall time is the point of a load test
pub(crate) async fn run_scenario(plan: Plan) -> Result<Outcome, String> {
    let connections = plan.connections;
    let duration = plan.duration;
    let start = Instant::now();
    let shared = Arc::new(Shared {
        plan,
        deadline: start + duration,
        stop: AtomicBool::new(false),
        codes_ran_out: AtomicBool::new(false),
    });
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..connections {
        tasks.spawn(connection(Arc::clone(&shared), index as usize));
    }
    let mut results = Vec::with_capacity(connections as usize);
    let collect = async {
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(stats) => results.push(stats),
                Err(error) => return Err(format!("a connection task failed: {error}")),
            }
        }
        Ok(())
    };
    match tokio::time::timeout(duration + HARD_GRACE, collect).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => return Err(error),
        Err(_) => {
            shared.stop.store(true, Ordering::Relaxed);
            return Err(format!(
                "the scenario did not end within {} s of its deadline",
                HARD_GRACE.as_secs()
            ));
        }
    }
    let elapsed = start.elapsed();
    Ok(Outcome {
        merged: merge(results),
        elapsed,
        codes_ran_out: shared.codes_ran_out.load(Ordering::Relaxed),
    })
}

/// An open keep-alive connection.
type Sender = SendRequest<Full<Bytes>>;

/// Opens a connection and spawns the task that drives it.
pub(crate) async fn connect(addr: SocketAddr) -> Result<Sender, String> {
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(addr))
        .await
        .map_err(|_| format!("connecting to {addr} timed out"))?
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    stream
        .set_nodelay(true)
        .map_err(|e| format!("set_nodelay: {e}"))?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP handshake with {addr}: {e}"))?;
    tokio::spawn(async move {
        // Ends when the sender is dropped or the server closes the connection.
        let _ = connection.await;
    });
    Ok(sender)
}

/// Sends one request on `sender` and reads the whole response, within
/// [`REQUEST_TIMEOUT`].
pub(crate) async fn send(
    sender: &mut Sender,
    target: &Target,
    method: Method,
    path: &Uri,
    auth: Option<&HeaderValue>,
    body: Bytes,
) -> Result<(StatusCode, Bytes), String> {
    send_reporting_close(sender, target, method, path, auth, body)
        .await
        .map(|(status, body, _)| (status, body))
}

/// Like [`send`], and also tells whether the server closes the connection after this
/// response (`Connection: close`, as gunicorn's sync workers do): the caller then
/// reconnects instead of counting the next request's failure as an error.
pub(crate) async fn send_reporting_close(
    sender: &mut Sender,
    target: &Target,
    method: Method,
    path: &Uri,
    auth: Option<&HeaderValue>,
    body: Bytes,
) -> Result<(StatusCode, Bytes, bool), String> {
    let mut builder = Request::builder()
        .method(method)
        .uri(path.clone())
        .header(HOST, target.host.clone());
    if let Some(auth) = auth {
        builder = builder.header(AUTHORIZATION, auth.clone());
    }
    if !body.is_empty() {
        builder = builder.header(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
    }
    let request = builder.body(Full::new(body)).map_err(|e| e.to_string())?;
    let exchange = async {
        sender.ready().await.map_err(|e| e.to_string())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let closes = response
            .headers()
            .get(hyper::header::CONNECTION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("reading the body: {e}"))?
            .to_bytes();
        Ok((status, body, closes))
    };
    tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .map_err(|_| format!("no response within {} s", REQUEST_TIMEOUT.as_secs()))?
}

/// One request on a fresh connection (setup steps: health checks, first tokens).
pub(crate) async fn send_once(
    target: &Target,
    method: Method,
    path: &str,
    auth: Option<&HeaderValue>,
    body: Bytes,
) -> Result<(StatusCode, Bytes), String> {
    let path: Uri = path.parse().map_err(|e| format!("bad path {path}: {e}"))?;
    let mut sender = connect(target.addr).await?;
    send(&mut sender, target, method, &path, auth, body).await
}

/// The fields of a token response the bench looks at.
#[derive(Debug, Deserialize)]
pub(crate) struct TokenResponse {
    /// The access token.
    pub(crate) access_token: Option<String>,
    /// The refresh token, when one was issued.
    pub(crate) refresh_token: Option<String>,
}

/// Whether an introspection response says the token is active.
fn is_active(body: &[u8]) -> bool {
    contains(body, b"\"active\":true") || contains(body, b"\"active\": true")
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A status error with the start of its body.
pub(crate) fn status_error(status: StatusCode, body: &[u8]) -> FirstError {
    FirstError::Status {
        status: status.as_u16(),
        body: String::from_utf8_lossy(body)
            .chars()
            .take(ERROR_BODY_CHARS)
            .collect(),
    }
}

/// Starts a refresh chain: redeems a code from the pool for a refresh token.
async fn start_chain(
    sender: &mut Sender,
    shared: &Shared,
    pool: &CodePool,
) -> Result<Option<String>, FirstError> {
    let Some(body) = pool.take() else {
        shared.codes_ran_out.store(true, Ordering::Relaxed);
        shared.stop.store(true, Ordering::Relaxed);
        return Ok(None);
    };
    let plan = &shared.plan;
    let (status, body) = send(
        sender,
        &plan.target,
        Method::POST,
        &plan.path,
        Some(&plan.auth),
        body,
    )
    .await
    .map_err(FirstError::Io)?;
    if status != StatusCode::OK {
        return Err(status_error(status, &body));
    }
    match serde_json::from_slice::<TokenResponse>(&body) {
        Ok(TokenResponse {
            refresh_token: Some(token),
            ..
        }) => Ok(Some(token)),
        _ => Err(status_error(status, &body)),
    }
}

/// One virtual connection: requests back to back until the deadline.
#[allow(clippy::disallowed_methods)] // measures each request's latency
async fn connection(shared: Arc<Shared>, index: usize) -> TaskStats {
    let plan = &shared.plan;
    let mut stats = TaskStats {
        latencies_us: Vec::with_capacity(4096),
        ..TaskStats::default()
    };
    let mut sender: Option<Sender> = None;
    // The newest refresh token of this connection's chain (refresh only).
    let mut chain: Option<String> = None;
    // Which of the introspection tokens goes next (introspection only).
    let mut turn = index;
    while Instant::now() < shared.deadline && !shared.stop.load(Ordering::Relaxed) {
        // Timed from here, so that a reconnection after `Connection: close` counts.
        let started = Instant::now();
        let live = match sender.as_mut() {
            Some(live) => live,
            None => match connect(plan.target.addr).await {
                Ok(fresh) => sender.insert(fresh),
                Err(error) => {
                    stats.error(FirstError::Io(error));
                    // Do not spin on a refused connection.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let body = match &plan.workload {
            Workload::Fixed(body) => body.clone(),
            Workload::Introspect(bodies) => {
                turn = turn.wrapping_add(1);
                bodies[turn % bodies.len()].clone()
            }
            Workload::CodeExchange(pool) => match pool.take() {
                Some(body) => body,
                None => {
                    shared.codes_ran_out.store(true, Ordering::Relaxed);
                    shared.stop.store(true, Ordering::Relaxed);
                    break;
                }
            },
            Workload::Refresh(pool) => {
                let token = match chain.take() {
                    Some(token) => token,
                    // Not measured: obtaining the chain's first token is setup.
                    None => match start_chain(live, &shared, pool).await {
                        Ok(Some(token)) => token,
                        Ok(None) => break,
                        Err(error) => {
                            if matches!(error, FirstError::Io(_)) {
                                sender = None;
                            }
                            stats.error(error);
                            continue;
                        }
                    },
                };
                form(&[("grant_type", "refresh_token"), ("refresh_token", &token)])
            }
        };
        let result = send_reporting_close(
            live,
            &plan.target,
            Method::POST,
            &plan.path,
            Some(&plan.auth),
            body,
        )
        .await;
        let micros = started.elapsed().as_micros();
        match result {
            Ok((status, body, closes)) => {
                if closes {
                    // The server closes this connection: open a new one next time.
                    sender = None;
                }
                stats
                    .latencies_us
                    .push(u32::try_from(micros).unwrap_or(u32::MAX));
                let ok = status == StatusCode::OK
                    && match &plan.workload {
                        Workload::Fixed(_) | Workload::CodeExchange(_) => true,
                        Workload::Introspect(_) => is_active(&body),
                        Workload::Refresh(_) => {
                            match serde_json::from_slice::<TokenResponse>(&body) {
                                Ok(TokenResponse {
                                    refresh_token: Some(token),
                                    ..
                                }) => {
                                    chain = Some(token);
                                    true
                                }
                                _ => false,
                            }
                        }
                    };
                if ok {
                    stats.ok += 1;
                } else {
                    stats.error(status_error(status, &body));
                }
            }
            Err(error) => {
                stats.error(FirstError::Io(error));
                // The connection state is unknown: start over on a new one.
                sender = None;
            }
        }
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_form_encodes_then_base64_encodes() {
        let header = basic_auth("my client", "s:e/c").unwrap();
        let encoded = header.to_str().unwrap().strip_prefix("Basic ").unwrap();
        let decoded = String::from_utf8(STANDARD.decode(encoded).unwrap()).unwrap();
        assert_eq!(decoded, "my+client:s%3Ae%2Fc");
    }

    #[test]
    fn introspection_activity_and_pools() {
        assert!(is_active(br#"{"active":true,"scope":""}"#));
        assert!(is_active(br#"{"scope": "", "active": true}"#));
        assert!(!is_active(br#"{"active":false}"#));
        let pool = CodePool::new(vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")]);
        assert_eq!(pool.remaining(), 2);
        assert_eq!(pool.take().as_deref(), Some(&b"a"[..]));
        assert_eq!(pool.take().as_deref(), Some(&b"b"[..]));
        assert_eq!(pool.take(), None);
        assert_eq!(pool.remaining(), 0);
    }

    #[test]
    fn only_loopback_targets() {
        assert!(Target::new("127.0.0.1:8080".parse().unwrap()).is_ok());
        assert!(Target::new("[::1]:8080".parse().unwrap()).is_ok());
        assert!(Target::new("10.0.0.1:8080".parse().unwrap()).is_err());
    }
}
