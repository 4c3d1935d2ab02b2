//! The access log and the version (issue 15, item 8), from the real binary: every
//! request at `info` with its method, path, status, latency, client_id and error
//! code, and never a secret, token, code or query string.

use crate::support::*;

#[tokio::test]
async fn every_request_is_logged_without_secrets_and_the_version_is_shown() {
    let db = TestDb::sqlite();
    drop(seed(&db).await);
    let log = std::env::temp_dir().join(format!("portcullis-access-{}.log", std::process::id()));
    let instance = spawn_instance_logging(
        &db,
        &[("RUST_LOG", "info")],
        std::fs::File::create(&log).unwrap(),
    )
    .await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // invalid_client, with a secret that must not reach the log.
    let response = http
        .post(format!("{}/token", instance.base))
        .basic_auth(CLIENT_ID, Some("wrong-secret-SHOULD-NOT-BE-LOGGED"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", "a-code-SHOULD-NOT-BE-LOGGED"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    // An unregistered redirect URI, with a state that must not be logged either.
    let response = http
        .get(format!(
            "{}/authorize?response_type=code&client_id={CLIENT_ID}&redirect_uri=https%3A%2F%2Fevil.example%2F&state=state-SHOULD-NOT-BE-LOGGED",
            instance.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    // A bad PKCE verifier is invalid_grant; the code is made up.
    let response = http
        .post(format!("{}/token", instance.base))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", "another-code-SHOULD-NOT-BE-LOGGED"),
            (
                "code_verifier",
                "verifier-SHOULD-NOT-BE-LOGGED-0123456789abcdefghijkl",
            ),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);

    let version = http
        .get(format!("{}/version", instance.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        version.headers()["server"],
        concat!("portcullis/", env!("CARGO_PKG_VERSION"))
    );
    let body: serde_json::Value = version.json().await.unwrap();
    assert_eq!(body["name"], "portcullis");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    // Lines are written by the server's log thread: wait (bounded) for the last one.
    let mut text = String::new();
    for _ in 0..100 {
        text = std::fs::read_to_string(&log).unwrap();
        if text.contains("path=/version") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    drop(instance);

    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("portcullis::access"))
        .collect();
    let find = |needles: &[&str]| {
        lines
            .iter()
            .find(|l| needles.iter().all(|n| l.contains(n)))
            .unwrap_or_else(|| panic!("a line with {needles:?} in:\n{text}"))
            .to_string()
    };
    let token = find(&["POST", "/token", "401", "invalid_client", CLIENT_ID]);
    assert!(token.contains("latency_ms"), "{token}");
    find(&["GET", "/authorize", "400", "invalid_request", CLIENT_ID]);
    find(&["POST", "/token", "400", "invalid_grant", CLIENT_ID]);
    find(&["GET", "/version", "200"]);
    assert!(
        !text.contains("SHOULD-NOT-BE-LOGGED") && !text.contains("evil.example"),
        "no secret, code, verifier, state or query in the log:\n{text}"
    );
    let _ = std::fs::remove_file(&log);
    db.drop_db().await;
}

#[tokio::test]
async fn the_server_header_can_be_turned_off() {
    let db = TestDb::sqlite();
    drop(seed(&db).await);
    // Control: by default the header is sent.
    let default = spawn_instance_with(&db, &[]).await;
    let response = reqwest::get(format!("{}/healthz", default.base))
        .await
        .unwrap();
    assert_eq!(
        response.headers()["server"],
        concat!("portcullis/", env!("CARGO_PKG_VERSION"))
    );
    drop(default);
    let instance = spawn_instance_with(&db, &[("PORTCULLIS_SERVER_HEADER", "false")]).await;
    let response = reqwest::get(format!("{}/healthz", instance.base))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("server").is_none());
    drop(instance);
    db.drop_db().await;
}
