//! The command line, run as the real binary against a fresh SQLite file.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use portcullis_core::Client;

use crate::support::TestDb;

fn portcullis(db: &TestDb, args: &[&str], stdin: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    command
        .arg("--database-url")
        .arg(db.url())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, _) in std::env::vars() {
        if key.starts_with("PORTCULLIS_") {
            command.env_remove(key);
        }
    }
    let mut child = command.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn json(output: &Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "command failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn assert_one_line_error(output: &Output, needle: &str) {
    assert!(!output.status.success(), "the command should fail");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stderr, got: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    assert!(
        lines[0].contains(needle),
        "expected '{needle}' in: {stderr}"
    );
    assert!(output.stdout.is_empty(), "nothing on stdout");
}

#[test]
fn client_lifecycle() {
    let db = TestDb::sqlite();
    let created = json(&portcullis(
        &db,
        &[
            "client",
            "create",
            "--name",
            "My App",
            "--redirect-uri",
            "https://app.example/cb",
            "--redirect-uri",
            "http://127.0.0.1/cb",
            "--scope",
            "profile email",
        ],
        None,
    ));
    let id = created["client_id"].as_str().unwrap().to_owned();
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    assert!(secret.len() >= 43, "256-bit secret");
    assert_eq!(
        created["grant_types"],
        serde_json::json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(created["response_types"], serde_json::json!(["code"]));
    assert_eq!(created["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(created["scope"], "profile email");

    let shown = json(&portcullis(&db, &["client", "show", &id], None));
    assert_eq!(shown["client_name"], "My App");
    assert!(
        shown.get("client_secret").is_none(),
        "the secret is shown only at creation"
    );
    let list = json(&portcullis(&db, &["client", "list"], None));
    assert_eq!(list.as_array().unwrap().len(), 1);

    let rotated = json(&portcullis(&db, &["client", "rotate-secret", &id], None));
    let new_secret = rotated["client_secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let stored = runtime.block_on(async {
        let store = portcullis_sql::SqlStore::connect(&db.url()).await.unwrap();
        store.get_client(&id).await.unwrap().unwrap()
    });
    assert!(stored.check_client_secret(&new_secret));
    assert!(
        !stored.check_client_secret(&secret),
        "the old secret stops working"
    );

    let public = json(&portcullis(
        &db,
        &[
            "client",
            "create",
            "--name",
            "SPA",
            "--redirect-uri",
            "https://spa.example/cb",
            "--auth-method",
            "none",
        ],
        None,
    ));
    assert!(public["client_secret"].is_null());

    json(&portcullis(&db, &["client", "delete", &id], None));
    assert_one_line_error(
        &portcullis(&db, &["client", "show", &id], None),
        "no client",
    );
    runtime.block_on(db.drop_db());
}

#[test]
fn bad_input_fails_with_one_line_and_changes_nothing() {
    let db = TestDb::sqlite();
    assert_one_line_error(
        &portcullis(
            &db,
            &["client", "create", "--name", "X", "--grant-type", "magic"],
            None,
        ),
        "unknown grant type 'magic'",
    );
    assert_one_line_error(
        &portcullis(
            &db,
            &[
                "client",
                "create",
                "--name",
                "X",
                "--redirect-uri",
                "https://app.example/cb#frag",
            ],
            None,
        ),
        "fragment",
    );
    let list = json(&portcullis(&db, &["client", "list"], None));
    assert_eq!(list, serde_json::json!([]), "nothing was written");

    let missing = TestDb::Sqlite(std::path::PathBuf::from(
        "/nonexistent-portcullis-dir/sub/x.db",
    ));
    let output = portcullis(&missing, &["client", "list"], None);
    assert_one_line_error(&output, "/nonexistent-portcullis-dir/sub/x.db");
    let unsupported = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args([
            "--database-url",
            "mysql://root@127.0.0.1/test",
            "client",
            "list",
        ])
        .output()
        .unwrap();
    assert_one_line_error(&unsupported, "mysql");
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(db.drop_db());
}

#[test]
fn user_lifecycle() {
    let db = TestDb::sqlite();
    let created = json(&portcullis(
        &db,
        &[
            "user",
            "create",
            "--username",
            "alice",
            "--email",
            "alice@example.com",
            "--name",
            "Alice",
            "--password-stdin",
        ],
        Some("s3cret pass\n"),
    ));
    assert_eq!(created["username"], "alice");
    assert!(created.get("password").is_none() && created.get("password_hash").is_none());
    assert_one_line_error(
        &portcullis(
            &db,
            &["user", "create", "--username", "alice", "--password-stdin"],
            Some("other\n"),
        ),
        "alice",
    );
    assert_one_line_error(
        &portcullis(
            &db,
            &["user", "create", "--username", "bob", "--password-stdin"],
            Some(""),
        ),
        "password",
    );
    let list = json(&portcullis(&db, &["user", "list"], None));
    assert_eq!(list.as_array().unwrap().len(), 1, "bob was not created");

    json(&portcullis(
        &db,
        &["user", "set-password", "alice", "--password-stdin"],
        Some("new pass\n"),
    ));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = portcullis_sql::SqlStore::connect(&db.url()).await.unwrap();
        assert!(store
            .verify_user_password("alice", "new pass")
            .await
            .unwrap()
            .is_some());
        assert!(store
            .verify_user_password("alice", "s3cret pass")
            .await
            .unwrap()
            .is_none());
    });
    json(&portcullis(&db, &["user", "delete", "alice"], None));
    assert_one_line_error(
        &portcullis(&db, &["user", "delete", "alice"], None),
        "no user named 'alice'",
    );
    runtime.block_on(db.drop_db());
}

#[test]
fn migrate_is_idempotent() {
    let db = TestDb::sqlite();
    json(&portcullis(&db, &["migrate"], None));
    json(&portcullis(&db, &["migrate"], None));
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(db.drop_db());
}

#[test]
fn serve_refuses_an_insecure_or_malformed_issuer() {
    let db = TestDb::sqlite();
    assert_one_line_error(
        &portcullis(
            &db,
            &[
                "serve",
                "--bind",
                "127.0.0.1:0",
                "--issuer",
                "http://auth.example.com",
            ],
            None,
        ),
        "must use https",
    );
    assert_one_line_error(
        &portcullis(
            &db,
            &[
                "serve",
                "--bind",
                "127.0.0.1:0",
                "--issuer",
                "https://auth.example.com/?x=1",
            ],
            None,
        ),
        "query",
    );
    assert_one_line_error(
        &portcullis(&db, &["serve", "--bind", "not-an-address"], None),
        "bind address",
    );
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(db.drop_db());
}

#[test]
fn client_create_with_audiences() {
    let db = TestDb::sqlite();
    let api = json(&portcullis(
        &db,
        &[
            "client",
            "create",
            "--name",
            "Reports API",
            "--grant-type",
            "client_credentials",
            "--resource-server-audience",
            "reports",
        ],
        None,
    ));
    assert_eq!(api["resource_server_audience"], "reports");
    let app = json(&portcullis(
        &db,
        &[
            "client",
            "create",
            "--name",
            "Job",
            "--grant-type",
            "client_credentials",
            "--audience",
            "reports",
            "--audience",
            "billing",
        ],
        None,
    ));
    assert_eq!(app["audience"], serde_json::json!(["reports", "billing"]));
    assert_one_line_error(
        &portcullis(
            &db,
            &[
                "client",
                "create",
                "--name",
                "X",
                "--grant-type",
                "client_credentials",
                "--audience",
                "two words",
            ],
            None,
        ),
        "invalid audience",
    );
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(db.drop_db());
}

/// Issue 9, finding 12: `client create` refuses every redirect URI a browser could be
/// misled by, with the reason, and creates nothing.
#[test]
fn client_create_refuses_dangerous_redirect_uris() {
    let db = TestDb::sqlite();
    for (uri, reason) in [
        (
            "https://app.example/cb\r\nX-Injected: 1",
            "not allowed in a URI",
        ),
        (
            "https://evil.example\\@good.example/cb",
            "not allowed in a URI",
        ),
        ("https://good.example@evil.example/cb", "user information"),
        (
            "https://app.example/cb?code=planted",
            "'code' query parameter",
        ),
        (
            "https://app.example/cb?state=x&iss=y",
            "'state' query parameter",
        ),
        ("http://app.example/cb", "plain http"),
        (
            "blob:https://app.example/1",
            "never a valid redirect target",
        ),
        (
            "view-source:https://app.example/cb",
            "never a valid redirect target",
        ),
        ("feed:javascript:alert(1)", "never a valid redirect target"),
        ("http://127.0.0.1:0/cb", "invalid port"),
        ("http://127.0.0.1:09000/cb", "invalid port"),
        ("http://127.0.0.1:99999999/cb", "invalid port"),
        ("myapp://callback", "reverse domain name"),
    ] {
        let output = portcullis(
            &db,
            &["client", "create", "--name", "App", "--redirect-uri", uri],
            None,
        );
        assert_one_line_error(&output, reason);
    }
    let list = json(&portcullis(&db, &["client", "list"], None));
    assert_eq!(list.as_array().unwrap().len(), 0, "nothing was created");
    json(&portcullis(
        &db,
        &[
            "client",
            "create",
            "--name",
            "Native",
            "--redirect-uri",
            "http://127.0.0.1/cb",
            "--redirect-uri",
            "com.example.app:/oauth2redirect",
            "--auth-method",
            "none",
        ],
        None,
    ));
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(db.drop_db());
}

/// Issue 9, finding 9: usernames that differ by case, width or spaces are one user at
/// the CLI too; a mixed-script look-alike is refused; disable and enable work by any
/// spelling.
#[test]
fn usernames_are_one_user_whatever_the_spelling() {
    let db = TestDb::sqlite();
    json(&portcullis(
        &db,
        &["user", "create", "--username", "alice", "--password-stdin"],
        Some("pw one\n"),
    ));
    for twin in ["Alice", " alice", "ALICE"] {
        assert_one_line_error(
            &portcullis(
                &db,
                &["user", "create", "--username", twin, "--password-stdin"],
                Some("pw two\n"),
            ),
            "already exists",
        );
    }
    assert_one_line_error(
        &portcullis(
            &db,
            &[
                "user",
                "create",
                "--username",
                "\u{0430}lice",
                "--password-stdin",
            ],
            Some("pw three\n"),
        ),
        "mixes letters",
    );
    let disabled = json(&portcullis(&db, &["user", "disable", "ALICE"], None));
    assert_eq!(disabled["disabled"], true);
    let list = json(&portcullis(&db, &["user", "list"], None));
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["disabled"], true);
    json(&portcullis(&db, &["user", "enable", "alice"], None));
    assert_one_line_error(
        &portcullis(&db, &["user", "disable", "nobody"], None),
        "no user named 'nobody'",
    );
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(db.drop_db());
}
