//! The listener's limits over raw TCP (issue 9, findings 3 and 11): silent, slow and
//! idle connections are closed, a slow body gets `408`, an oversized one `413` before
//! `100 Continue`, connections beyond the bound wait, and shutdown does not wait for a
//! slow client past its grace period.
//!
//! Each test waits for the server to act with a generous bound (20 s against timeouts
//! of 1–2 s): the bound only keeps a broken server from hanging the test, it measures
//! nothing.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

/// Long enough that only a server that never acts hits it.
const BOUND: Duration = Duration::from_secs(20);

async fn short_timeouts(db: &TestDb) -> TestServer {
    TestServer::start(db, |c| {
        c.http.http_header_timeout = 2;
        c.http.http_body_timeout = 2;
        c.http.http_idle_timeout = 1;
    })
    .await
}

async fn connect(server: &TestServer) -> TcpStream {
    TcpStream::connect(server.base.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Reads until the server closes the connection; returns what it sent.
async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    tokio::time::timeout(BOUND, stream.read_to_end(&mut received))
        .await
        .expect("the server closed the connection")
        .ok();
    String::from_utf8_lossy(&received).into_owned()
}

#[tokio::test]
async fn a_silent_connection_is_closed() {
    let db = TestDb::sqlite();
    let server = short_timeouts(&db).await;
    let mut stream = connect(&server).await;
    assert_eq!(read_until_closed(&mut stream).await, "");
    db.drop_db().await;
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed() {
    let db = TestDb::sqlite();
    let server = short_timeouts(&db).await;
    let mut stream = connect(&server).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    db.drop_db().await;
}

#[tokio::test]
async fn a_client_trickling_its_headers_is_cut_off() {
    let db = TestDb::sqlite();
    let server = short_timeouts(&db).await;
    let mut stream = connect(&server).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    // One byte every 300 ms keeps the idle timer quiet; the header timer is not.
    let trickle = async {
        loop {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if stream.write_all(b"a").await.is_err() {
                return;
            }
        }
    };
    tokio::time::timeout(BOUND, trickle)
        .await
        .expect("the server cut the connection");
    db.drop_db().await;
}

#[tokio::test]
async fn a_slow_body_gets_408() {
    let db = TestDb::sqlite();
    let server = short_timeouts(&db).await;
    let mut stream = connect(&server).await;
    stream
        .write_all(
            b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
              Content-Length: 100\r\n\r\ngrant_type=",
        )
        .await
        .unwrap();
    let answer = read_until_closed(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("not received in time"), "{answer}");
    db.drop_db().await;
}

#[tokio::test]
async fn an_oversized_body_is_refused_before_100_continue() {
    let db = TestDb::sqlite();
    let server = short_timeouts(&db).await;
    let mut stream = connect(&server).await;
    stream
        .write_all(
            b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
              Content-Length: 104857600\r\nExpect: 100-continue\r\n\r\n",
        )
        .await
        .unwrap();
    let answer = read_until_closed(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(!answer.contains("100 Continue"), "{answer}");
    db.drop_db().await;
}

#[tokio::test]
async fn connections_beyond_the_bound_wait_for_a_free_slot() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, |c| {
        c.http.http_max_connections = 4;
        c.http.http_idle_timeout = 120;
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut stream = connect(&server).await;
        // A request each, so that every slot is surely taken before the fifth comes.
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buffer = [0u8; 512];
        let read = stream.read(&mut buffer).await.unwrap();
        assert!(buffer[..read].starts_with(b"HTTP/1.1 200"));
        held.push(stream);
    }
    let mut fifth = connect(&server).await;
    fifth
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buffer = [0u8; 512];
    let early = tokio::time::timeout(Duration::from_secs(1), fifth.read(&mut buffer)).await;
    assert!(
        early.is_err(),
        "the fifth connection was served while four held every slot"
    );
    drop(held.pop());
    let answer = read_until_closed(&mut fifth).await;
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "served once a slot freed: {answer}"
    );
    db.drop_db().await;
}

/// Finding 11: after SIGTERM the server exits within its grace period although a
/// slow client keeps its connection busy; a request answered just before stands.
#[cfg(unix)]
#[tokio::test]
async fn shutdown_does_not_wait_for_a_slow_client() {
    let db = TestDb::sqlite();
    drop(seed(&db).await);
    let mut server = spawn_instance_with(
        &db,
        &[
            ("PORTCULLIS_SHUTDOWN_GRACE_PERIOD", "2"),
            ("PORTCULLIS_HTTP_HEADER_TIMEOUT", "300"),
            ("PORTCULLIS_HTTP_IDLE_TIMEOUT", "300"),
        ],
    )
    .await;
    let address = server.base.trim_start_matches("http://").to_owned();
    let mut slow = TcpStream::connect(&address).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let trickler = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if slow.write_all(b"a").await.is_err() {
                return;
            }
        }
    });
    assert_eq!(
        reqwest::get(format!("{}/healthz", server.base))
            .await
            .unwrap()
            .status(),
        200
    );
    let pid = server.child.id().to_string();
    let signalled = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(signalled.success());
    let exited = tokio::time::timeout(BOUND, async {
        loop {
            if let Some(status) = server.child.try_wait().unwrap() {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the server exited despite the slow client");
    assert!(exited.success(), "{exited:?}");
    trickler.abort();
    db.drop_db().await;
}
