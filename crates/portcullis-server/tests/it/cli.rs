//! The command line, run as the real binary against a fresh SQLite file.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use portcullis_core::Client;

use crate::support::TestDb;

fn portcullis(db: &TestDb, args: &[&str], stdin: Option<&str>) -> Output {
    portcullis_with(db, args, stdin, &[])
}

/// `portcullis --database-url DB ARGS` with the settings of `env`.
fn portcullis_with(
    db: &TestDb,
    args: &[&str],
    stdin: Option<&str>,
    env: &[(&str, &str)],
) -> Output {
    let url = db.url();
    let mut all = vec!["--database-url", url.as_str()];
    all.extend_from_slice(args);
    run_in(None, &all, stdin, env)
}

/// The binary with `args` (no `--database-url` added), in `dir`, with no
/// `PORTCULLIS_*` variable but those of `env`.
fn run_in(dir: Option<&Path>, args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    for (key, _) in std::env::vars() {
        if key.starts_with("PORTCULLIS_") {
            command.env_remove(key);
        }
    }
    command.envs(env.iter().copied());
    let mut child = command.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    // Bounded: a `serve` that should have refused to start fails the test instead of
    // hanging it.
    let pid = child.id();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || sender.send(child.wait_with_output().unwrap()));
    match receiver.recv_timeout(std::time::Duration::from_secs(30)) {
        Ok(output) => output,
        Err(_) => {
            let _ = Command::new("kill").arg(pid.to_string()).status();
            panic!("`portcullis {}` still ran after 30 s", args.join(" "));
        }
    }
}

/// A new empty directory.
fn empty_dir() -> PathBuf {
    let TestDb::Sqlite(path) = TestDb::sqlite() else {
        unreachable!()
    };
    path.parent().unwrap().to_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A fresh SQLite database, created by `portcullis migrate` as the README says: the
/// management commands open only an existing database.
fn migrated_db() -> TestDb {
    let db = TestDb::sqlite();
    json(&portcullis(&db, &["migrate"], None));
    db
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
    let db = migrated_db();
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
    let db = migrated_db();
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
    let db = migrated_db();
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
            Some("other password\n"),
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
    let db = migrated_db();
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
    let db = migrated_db();
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
    let db = migrated_db();
    json(&portcullis(
        &db,
        &["user", "create", "--username", "alice", "--password-stdin"],
        Some("password one\n"),
    ));
    for twin in ["Alice", " alice", "ALICE"] {
        assert_one_line_error(
            &portcullis(
                &db,
                &["user", "create", "--username", twin, "--password-stdin"],
                Some("password two\n"),
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
            Some("password three\n"),
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

/// Issue 15, item 4: run where there is no database, the management commands refuse,
/// name the database they looked for and create nothing; `migrate` creates it and
/// says where; from then on every command names the database it opened on stderr.
#[test]
fn management_commands_open_only_an_existing_database() {
    let dir = empty_dir();
    let path = dir.join("portcullis.db");
    let expected = format!("there is no database at '{}'", path.display());
    assert_one_line_error(
        &run_in(Some(&dir), &["client", "list"], None, &[]),
        &expected,
    );
    assert_one_line_error(
        &run_in(
            Some(&dir),
            &["user", "create", "--username", "alice", "--password-stdin"],
            Some("correct horse battery staple\n"),
            &[],
        ),
        "portcullis migrate",
    );
    assert_one_line_error(&run_in(Some(&dir), &["keys", "list"], None, &[]), &expected);
    assert_one_line_error(
        &run_in(Some(&dir), &["try", "--no-browser"], None, &[]),
        &expected,
    );
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "no command created a file"
    );
    // A file that is not a Portcullis database (empty here) is not filled with tables.
    {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .unwrap();
    }
    assert_one_line_error(
        &run_in(Some(&dir), &["client", "list"], None, &[]),
        "has no Portcullis tables: create them with `portcullis migrate`",
    );
    let tables: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("SELECT COUNT(*) FROM sqlite_master", [], |row| row.get(0))
        .unwrap();
    assert_eq!(tables, 0, "no table was created");
    std::fs::remove_file(&path).unwrap();
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(dir.join(format!("portcullis.db{suffix}")));
    }

    let migrated = run_in(Some(&dir), &["migrate"], None, &[]);
    assert_eq!(json(&migrated)["created"], true);
    assert_eq!(
        stderr(&migrated).trim(),
        format!("created a new database: SQLite at {}", path.display())
    );
    assert_eq!(
        json(&run_in(Some(&dir), &["migrate"], None, &[]))["created"],
        false
    );
    let listed = run_in(Some(&dir), &["client", "list"], None, &[]);
    assert_eq!(json(&listed), serde_json::json!([]));
    assert_eq!(
        stderr(&listed).trim(),
        format!("database: SQLite at {}", path.display())
    );
    // A failure after opening names the database in its one line.
    assert_one_line_error(
        &run_in(Some(&dir), &["user", "delete", "nobody"], None, &[]),
        &format!(
            "no user named 'nobody' (database: SQLite at {})",
            path.display()
        ),
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 15, item 4: an empty SQLite path, an in-memory database for a management
/// command, and a PostgreSQL URL without a database name are refused before anything
/// is opened, by every command.
#[test]
fn empty_or_nameless_database_urls_are_refused() {
    let dir = empty_dir();
    for url in ["sqlite:", "sqlite://", "sqlite://?mode=rwc"] {
        for args in [
            &["client", "list"][..],
            &["migrate"],
            &["serve", "--bind", "127.0.0.1:0"],
        ] {
            let mut all = vec!["--database-url", url];
            all.extend_from_slice(args);
            assert_one_line_error(&run_in(Some(&dir), &all, None, &[]), "names no file");
        }
    }
    assert_one_line_error(
        &run_in(
            Some(&dir),
            &["--database-url", "sqlite::memory:", "user", "list"],
            None,
            &[],
        ),
        "in-memory SQLite database starts empty",
    );
    for url in [
        "postgres://",
        "postgres://portcullis@127.0.0.1:9",
        "postgresql://127.0.0.1:9/",
    ] {
        for args in [
            &["client", "list"][..],
            &["migrate"],
            &["serve", "--bind", "127.0.0.1:0"],
        ] {
            let mut all = vec!["--database-url", url];
            all.extend_from_slice(args);
            let output = run_in(Some(&dir), &all, None, &[]);
            assert_one_line_error(&output, "the PostgreSQL URL names no database");
        }
    }
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "nothing was created"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 15, item 2: `serve --bind 127.0.0.1:PORT` without an issuer advertises
/// `http://127.0.0.1:PORT` — in the metadata and in the callback's `iss` — and its
/// token endpoint redeems the code; on first start it creates the database and says
/// where.
#[tokio::test]
async fn serve_without_an_issuer_advertises_its_loopback_address() {
    use crate::support::*;
    use oauth2::{AuthorizationCode, CsrfToken, PkceCodeChallenge, Scope};

    let dir = empty_dir();
    let log = dir.join("serve.log");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut command = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    for (key, _) in std::env::vars() {
        if key.starts_with("PORTCULLIS_") {
            command.env_remove(key);
        }
    }
    let child = command
        .current_dir(&dir)
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let _instance = Instance {
        child,
        base: base.clone(),
    };
    let http = reqwest::Client::new();
    let mut healthy = false;
    for _ in 0..300 {
        if let Ok(response) = http.get(format!("{base}/healthz")).send().await {
            if response.status() == 200 {
                healthy = true;
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        healthy,
        "serve did not start: {}",
        std::fs::read_to_string(&log).unwrap()
    );
    let metadata: serde_json::Value = http
        .get(format!("{base}/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["issuer"], base);
    assert_eq!(metadata["token_endpoint"], format!("{base}/token"));
    let logged = std::fs::read_to_string(&log).unwrap();
    let path = dir.join("portcullis.db");
    assert!(
        logged.contains("created a new database")
            && logged.contains(&format!("SQLite at {}", path.display())),
        "{logged}"
    );

    let db = TestDb::Sqlite(path);
    seed(&db).await;
    let client = oauth_client(&base);
    let browser = browser();
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();
    let (consent, _) = sign_in_from(&browser, &base, url.to_string(), USERNAME, PASSWORD).await;
    let form = parse_form(&consent.text().await.unwrap());
    let response = submit(&browser, &base, &form, &[("decision", "allow")]).await;
    let params = query(&location(&base, &response));
    assert_eq!(
        params["iss"], base,
        "the callback's iss is the address served"
    );
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    client
        .exchange_code(AuthorizationCode::new(params["code"].clone()))
        .set_pkce_verifier(verifier)
        .request_async(&no_redirects)
        .await
        .expect("the advertised token endpoint redeems the code");
    drop(_instance);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 15, item 2: on an address that is not loopback the issuer cannot be guessed,
/// so `serve` refuses to start without one and says how to set it.
#[test]
fn serve_refuses_a_public_bind_without_an_issuer() {
    let db = TestDb::sqlite();
    for bind in ["0.0.0.0:0", "[::]:0", "192.0.2.1:8080"] {
        let output = portcullis(&db, &["serve", "--bind", bind], None);
        assert_one_line_error(&output, "not a loopback address");
        assert_one_line_error(&output, "--issuer URL or PORTCULLIS_ISSUER");
        let output = portcullis_with(&db, &["serve"], None, &[("PORTCULLIS_BIND", bind)]);
        assert_one_line_error(&output, "no issuer is configured");
    }
    let TestDb::Sqlite(path) = &db else {
        unreachable!()
    };
    assert!(!path.exists(), "refused before opening the database");
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(db.drop_db());
}

/// Issue 15, item 6: passwords shorter than `password_min_length` (8 unless set
/// higher) and the most common passwords are refused, at creation and at a change,
/// and so are malformed emails; a minimum under 8 is a configuration error.
#[test]
fn passwords_and_emails_follow_the_policy() {
    let db = migrated_db();
    let create = |username: &str, email: Option<&str>, password: &str, env: &[(&str, &str)]| {
        let mut args = vec!["user", "create", "--username", username, "--password-stdin"];
        if let Some(email) = email {
            args.extend(["--email", email]);
        }
        portcullis_with(&db, &args, Some(&format!("{password}\n")), env)
    };
    for (password, error) in [
        (
            "a",
            "the password is too short: 1 character, and at least 8",
        ),
        ("seven c", "too short: 7 characters"),
        ("password", "most commonly used passwords"),
        ("PassWord", "most commonly used passwords"),
        ("iloveyou", "most commonly used passwords"),
        ("bob-the-builder", "must not be the username"),
        ("xxxxxxxxxxxx", "one character repeated"),
    ] {
        let output = create("bob-the-builder", None, password, &[]);
        assert_one_line_error(&output, error);
        assert!(
            // (Only passwords that are not words of the messages themselves.)
            ["a", "password", "bob-the-builder"].contains(&password)
                || !stderr(&output).contains(password),
            "the error never repeats the password: {}",
            stderr(&output)
        );
    }
    for email in ["notanemail", "bob@", "@example.com", "bob @example.com"] {
        assert_one_line_error(
            &create("bob", Some(email), "correct horse battery staple", &[]),
            "invalid email",
        );
    }
    let longer = [("PORTCULLIS_PASSWORD_MIN_LENGTH", "16")];
    assert_one_line_error(
        &create("bob", None, "fifteen chars!!", &longer),
        "at least 16 are needed (password_min_length)",
    );
    assert_one_line_error(
        &create(
            "bob",
            None,
            "correct horse",
            &[("PORTCULLIS_PASSWORD_MIN_LENGTH", "4")],
        ),
        "password_min_length must be at least 8",
    );
    assert_one_line_error(
        &portcullis_with(
            &db,
            &["serve", "--bind", "127.0.0.1:0"],
            None,
            &[("PORTCULLIS_PASSWORD_MIN_LENGTH", "7")],
        ),
        "password_min_length must be at least 8",
    );
    assert_eq!(
        json(&portcullis(&db, &["user", "list"], None)),
        serde_json::json!([]),
        "nobody was created"
    );
    let created = json(&create(
        "bob",
        Some("bob@example.com"),
        "sixteen chars ok",
        &longer,
    ));
    assert_eq!(created["email"], "bob@example.com");
    assert_one_line_error(
        &portcullis(
            &db,
            &["user", "set-password", "bob", "--password-stdin"],
            Some("password1\n"),
        ),
        "most commonly used passwords",
    );
    assert_one_line_error(
        &portcullis(
            &db,
            &["user", "set-password", "bob", "--password-stdin"],
            Some("short\n"),
        ),
        "too short",
    );
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(db.drop_db());
}

/// Issue 15, item 9: a misspelt `PORTCULLIS_*` variable is named in a warning with the
/// setting it resembles; a type error in the file names the key and the line;
/// `serve --help` shows the environment names of `--bind` and `--issuer`; a password
/// grant client on a configuration without that grant gets a warning naming
/// `enable_password_grant`.
#[test]
fn configuration_slips_are_reported() {
    let db = migrated_db();
    let output = portcullis_with(
        &db,
        &["client", "list"],
        None,
        &[("PORTCULLIS_ACESS_TOKEN_LIFETIME", "60")],
    );
    json(&output);
    let warned = stderr(&output);
    assert!(
        warned.contains("PORTCULLIS_ACESS_TOKEN_LIFETIME is not a setting")
            && warned.contains("did you mean PORTCULLIS_ACCESS_TOKEN_LIFETIME?"),
        "{warned}"
    );
    let quiet = portcullis_with(
        &db,
        &["client", "list"],
        None,
        &[("PORTCULLIS_ACCESS_TOKEN_LIFETIME", "60")],
    );
    assert!(
        !stderr(&quiet).contains("not a setting"),
        "{}",
        stderr(&quiet)
    );

    let TestDb::Sqlite(path) = &db else {
        unreachable!()
    };
    let file = path.with_file_name("portcullis.toml");
    std::fs::write(
        &file,
        "# settings\nissuer = \"http://127.0.0.1:8080\"\naccess_token_lifetime = \"1h\"\n",
    )
    .unwrap();
    let config = file.to_str().unwrap();
    assert_one_line_error(
        &portcullis(&db, &["--config", config, "client", "list"], None),
        &format!("{config} line 3: access_token_lifetime: invalid type: string \"1h\""),
    );
    std::fs::write(&file, "bind = \"127.0.0.1:8080\"\nmax_connections = -1\n").unwrap();
    assert_one_line_error(
        &portcullis(&db, &["--config", config, "client", "list"], None),
        &format!("{config} line 2: max_connections:"),
    );
    std::fs::write(&file, "bind = \"127.0.0.1:8080\"\n\nissuer = http://x\n").unwrap();
    assert_one_line_error(
        &portcullis(&db, &["--config", config, "client", "list"], None),
        &format!("{config} line 3:"),
    );

    let help = run_in(None, &["serve", "--help"], None, &[]);
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("[env: PORTCULLIS_BIND="), "{help}");
    assert!(help.contains("[env: PORTCULLIS_ISSUER="), "{help}");

    let args = [
        "client",
        "create",
        "--name",
        "Legacy",
        "--grant-type",
        "password",
    ];
    let created = portcullis(&db, &args, None);
    json(&created);
    let warning = stderr(&created);
    assert!(
        warning.contains("warning: the password grant is off")
            && warning.contains("enable_password_grant = true"),
        "{warning}"
    );
    let enabled = portcullis_with(
        &db,
        &args,
        None,
        &[("PORTCULLIS_ENABLE_PASSWORD_GRANT", "true")],
    );
    json(&enabled);
    assert!(
        !stderr(&enabled).contains("warning"),
        "{}",
        stderr(&enabled)
    );
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(db.drop_db());
}

/// Issue 15, item 9: a password-grant request to a server with the grant off is
/// refused `unsupported_grant_type` with words naming `enable_password_grant`; the
/// metadata still does not list the grant.
#[tokio::test]
async fn a_disabled_password_grant_names_its_setting() {
    use crate::support::*;
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, |_| {}).await;
    let store = portcullis_sql::SqlStore::connect(&db.url()).await.unwrap();
    store
        .insert_client(
            &service_client("legacy", "legacy-secret-0123456789abcdefghijkl")
                .with_grant_types(vec!["password"]),
        )
        .await
        .unwrap();
    let response = reqwest::Client::new()
        .post(server.url("/token"))
        .basic_auth("legacy", Some("legacy-secret-0123456789abcdefghijkl"))
        .form(&[
            ("grant_type", "password"),
            ("username", USERNAME),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "unsupported_grant_type");
    let description = body["error_description"].as_str().unwrap();
    assert!(
        description.contains("enable_password_grant"),
        "{description}"
    );
    let metadata: serde_json::Value =
        reqwest::get(server.url("/.well-known/oauth-authorization-server"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert!(!metadata["grant_types_supported"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("password")));
    db.drop_db().await;
}

/// Issue 15, item 4 on PostgreSQL: a database that exists but has no Portcullis tables
/// (a server's default database, say) is refused by the management commands and left
/// without tables; after `migrate` they work and name it.
#[tokio::test]
#[cfg_attr(not(pg_tests), ignore = "PORTCULLIS_TEST_POSTGRES_URL is not set")]
async fn management_commands_leave_a_foreign_postgres_database_alone() {
    let db = TestDb::postgres().await;
    let url = db.url();
    let refused = tokio::task::spawn_blocking({
        let url = url.clone();
        move || run_in(None, &["--database-url", &url, "client", "list"], None, &[])
    })
    .await
    .unwrap();
    assert_one_line_error(
        &refused,
        "has no Portcullis tables: create them with `portcullis migrate`",
    );
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    let tables: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema()",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(tables, 0, "no table was created");
    drop(conn);
    let listed = tokio::task::spawn_blocking(move || {
        json(&run_in(
            None,
            &["--database-url", &url, "migrate"],
            None,
            &[],
        ));
        run_in(None, &["--database-url", &url, "client", "list"], None, &[])
    })
    .await
    .unwrap();
    assert_eq!(json(&listed), serde_json::json!([]));
    assert!(
        stderr(&listed).starts_with("database: PostgreSQL at "),
        "{}",
        stderr(&listed)
    );
    db.drop_db().await;
}

#[test]
fn users_carry_their_openid_claims_and_can_be_shown_and_updated() {
    let db = migrated_db();
    let created = json(&portcullis(
        &db,
        &[
            "user",
            "create",
            "--username",
            "carol",
            "--email",
            "carol@example.com",
            "--email-verified",
            "true",
            "--name",
            "Carol Ann",
            "--given-name",
            "Carol",
            "--family-name",
            "Ann",
            "--phone-number",
            "+1 555 0101",
            "--locale",
            "en-GB",
            "--claims",
            r#"{"groups":["admins"]}"#,
            "--password-stdin",
        ],
        Some("a long enough password 1\n"),
    ));
    assert_eq!(created["email"], "carol@example.com");
    assert_eq!(
        created["claims"],
        serde_json::json!({
            "email_verified": true, "given_name": "Carol", "family_name": "Ann",
            "phone_number": "+1 555 0101", "locale": "en-GB", "groups": ["admins"],
        })
    );
    let shown = json(&portcullis(&db, &["user", "show", "carol"], None));
    assert_eq!(shown, created, "show reads back what create wrote");

    let updated = json(&portcullis(
        &db,
        &[
            "user",
            "update",
            "carol",
            "--locale",
            "de-DE",
            "--claims",
            r#"{"groups":null,"department":"R&D"}"#,
        ],
        None,
    ));
    assert_eq!(updated["claims"]["locale"], "de-DE");
    assert_eq!(updated["claims"]["department"], "R&D");
    assert!(
        updated["claims"].get("groups").is_none(),
        "null removes a claim"
    );
    assert_eq!(updated["claims"]["given_name"], "Carol", "the rest is kept");
    assert_eq!(
        updated["claims"]["email_verified"], true,
        "the address did not change"
    );
    assert_eq!(updated["subject"], created["subject"]);
    assert_eq!(
        json(&portcullis(&db, &["user", "show", "carol"], None)),
        updated
    );

    // A new address or phone number is not verified until said so.
    let moved = json(&portcullis(
        &db,
        &[
            "user",
            "update",
            "carol",
            "--email",
            "carol@new.example",
            "--phone-number",
            "+1 555 0199",
        ],
        None,
    ));
    assert!(moved["claims"].get("email_verified").is_none(), "{moved}");
    let verified = json(&portcullis(
        &db,
        &[
            "user",
            "update",
            "carol",
            "--email",
            "carol@new.example",
            "--email-verified",
            "true",
            "--phone-number-verified",
            "true",
        ],
        None,
    ));
    assert_eq!(verified["claims"]["email_verified"], true);
    assert_eq!(verified["claims"]["phone_number_verified"], true);
    let updated = verified;

    // Hostile or careless values: one clear line, nothing written.
    for (args, needle) in [
        (
            vec!["user", "update", "carol", "--claims", "[1]"],
            "JSON object",
        ),
        (
            vec!["user", "update", "carol", "--claims", "{"],
            "JSON object",
        ),
        (
            vec!["user", "update", "carol", "--claims", r#"{"sub":"x"}"#],
            "cannot set 'sub'",
        ),
        (
            vec!["user", "update", "carol", "--claims", r#"{"email":"x@y"}"#],
            "cannot set 'email'",
        ),
        (
            vec![
                "user",
                "update",
                "carol",
                "--claims",
                r#"{"email_verified":true}"#,
            ],
            "cannot set 'email_verified'",
        ),
        (
            vec!["user", "update", "carol", "--given-name", "   "],
            "--given-name",
        ),
        (
            vec!["user", "update", "carol", "--locale", "en\nGB"],
            "--locale",
        ),
        (
            vec!["user", "update", "carol", "--email", "notanemail"],
            "email",
        ),
        (
            vec!["user", "update", "carol", "--email-verified", "maybe"],
            "email-verified",
        ),
        (
            vec!["user", "update", "nobody", "--locale", "en"],
            "no user named 'nobody'",
        ),
        (vec!["user", "show", "nobody"], "no user named 'nobody'"),
    ] {
        let output = portcullis(&db, &args, None);
        assert!(!output.status.success(), "{args:?}");
        assert!(
            stderr(&output).contains(needle),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    assert_eq!(
        json(&portcullis(&db, &["user", "show", "carol"], None)),
        updated,
        "nothing written"
    );
    let output = portcullis(
        &db,
        &[
            "user",
            "create",
            "--username",
            "dave",
            "--email-verified",
            "true",
            "--password-stdin",
        ],
        Some("a long enough password 2\n"),
    );
    assert!(
        stderr(&output).contains("needs an email address"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn clients_register_their_openid_options() {
    let db = migrated_db();
    let created = json(&portcullis(
        &db,
        &[
            "client",
            "create",
            "--name",
            "RP",
            "--redirect-uri",
            "https://rp.example/cb",
            "--scope",
            "openid profile",
            "--post-logout-redirect-uri",
            "https://rp.example/bye",
            "--id-token-signed-response-alg",
            "ES256",
            "--userinfo-signed-response-alg",
            "RS256",
            "--pkce",
            "optional",
        ],
        None,
    ));
    let id = created["client_id"].as_str().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = runtime.block_on(async {
        let store = portcullis_sql::SqlStore::connect(&db.url()).await.unwrap();
        store.get_client(id).await.unwrap().expect("the client")
    });
    assert_eq!(client.client_id(), id);
    let metadata = client.metadata();
    assert_eq!(
        metadata.post_logout_redirect_uris,
        ["https://rp.example/bye"]
    );
    assert_eq!(
        metadata.id_token_signed_response_alg.as_deref(),
        Some("ES256")
    );
    assert_eq!(
        metadata.userinfo_signed_response_alg.as_deref(),
        Some("RS256")
    );
    assert_eq!(
        metadata.extras.get_raw("require_pkce"),
        Some(&serde_json::json!(false))
    );

    for (args, needle) in [
        (
            vec!["--id-token-signed-response-alg", "HS256"],
            "not supported",
        ),
        (
            vec!["--id-token-signed-response-alg", "none"],
            "not supported",
        ),
        (
            vec!["--id-token-signed-response-alg", "PS256"],
            "add PS256 to signing_algorithms",
        ),
        (
            vec!["--userinfo-signed-response-alg", "EdDSA"],
            "add EdDSA to signing_algorithms",
        ),
        (
            vec!["--post-logout-redirect-uri", "javascript:alert(1)"],
            "post-logout redirect URI",
        ),
        (
            vec!["--post-logout-redirect-uri", "https://rp.example/#x"],
            "post-logout redirect URI",
        ),
        (vec!["--pkce", "sometimes"], "use required or optional"),
        (
            vec!["--pkce", "optional", "--auth-method", "none"],
            "must use PKCE",
        ),
    ] {
        let mut all = vec![
            "client",
            "create",
            "--name",
            "Bad",
            "--redirect-uri",
            "https://rp.example/cb",
            "--scope",
            "openid",
        ];
        all.extend_from_slice(&args);
        let output = portcullis(&db, &all, None);
        assert!(!output.status.success(), "{args:?}");
        assert!(
            stderr(&output).contains(needle),
            "{args:?}: {}",
            stderr(&output)
        );
    }
}

#[test]
fn client_update_changes_the_registration_and_keeps_the_id_and_secret() {
    let db = migrated_db();
    let created = json(&portcullis(
        &db,
        &[
            "client",
            "create",
            "--name",
            "Editable",
            "--redirect-uri",
            "https://app.example/a",
            "--scope",
            "openid profile",
        ],
        None,
    ));
    let id = created["client_id"].as_str().unwrap().to_owned();
    let updated = json(&portcullis(
        &db,
        &[
            "client",
            "update",
            &id,
            "--name",
            "Edited",
            "--add-redirect-uri",
            "https://app.example/b",
            "--remove-redirect-uri",
            "https://app.example/a",
            "--add-post-logout-redirect-uri",
            "https://app.example/bye",
            "--scope",
            "openid email",
            "--pkce",
            "optional",
            "--id-token-signed-response-alg",
            "ES256",
        ],
        None,
    ));
    assert_eq!(updated["client_id"], id.as_str(), "the id stays");
    assert_eq!(updated["client_name"], "Edited");
    assert_eq!(
        updated["redirect_uris"],
        serde_json::json!(["https://app.example/b"])
    );
    assert_eq!(
        updated["post_logout_redirect_uris"],
        serde_json::json!(["https://app.example/bye"])
    );
    assert_eq!(updated["scope"], "openid email");
    assert_eq!(updated["pkce"], "optional");
    assert_eq!(updated["id_token_signed_response_alg"], "ES256");
    assert!(
        updated.get("client_secret").is_none(),
        "the secret is kept, not shown"
    );
    assert_eq!(
        json(&portcullis(&db, &["client", "show", &id], None)),
        updated
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let stored = runtime.block_on(async {
        let store = portcullis_sql::SqlStore::connect(&db.url()).await.unwrap();
        store.get_client(&id).await.unwrap().unwrap()
    });
    assert!(
        stored.check_client_secret(created["client_secret"].as_str().unwrap()),
        "the secret still works"
    );

    // Back to required; a public client loses its secret, and becoming confidential
    // again prints a new one.
    let required = json(&portcullis(
        &db,
        &["client", "update", &id, "--pkce", "required"],
        None,
    ));
    assert_eq!(required["pkce"], "required");
    let public = json(&portcullis(
        &db,
        &["client", "update", &id, "--auth-method", "none"],
        None,
    ));
    assert_eq!(public["token_endpoint_auth_method"], "none");
    let confidential = json(&portcullis(
        &db,
        &[
            "client",
            "update",
            &id,
            "--auth-method",
            "client_secret_basic",
        ],
        None,
    ));
    let secret = confidential["client_secret"]
        .as_str()
        .expect("a new secret");
    assert_ne!(secret, created["client_secret"].as_str().unwrap());

    // Bad changes: one line, nothing written.
    let before = json(&portcullis(&db, &["client", "show", &id], None));
    for (args, needle) in [
        (
            vec!["--remove-redirect-uri", "https://app.example/nope"],
            "no such value",
        ),
        (
            vec!["--remove-redirect-uri", "https://app.example/b"],
            "at least one redirect URI",
        ),
        (
            vec!["--add-redirect-uri", "javascript:alert(1)"],
            "javascript",
        ),
        (vec!["--add-grant-type", "magic"], "unknown grant type"),
        (vec!["--pkce", "sometimes"], "use required or optional"),
        (
            vec!["--id-token-signed-response-alg", "none"],
            "not supported",
        ),
        (vec!["--scope", "a\u{7f}b"], "invalid scope"),
    ] {
        let mut all = vec!["client", "update", id.as_str()];
        all.extend_from_slice(&args);
        let output = portcullis(&db, &all, None);
        assert!(!output.status.success(), "{args:?}");
        assert!(
            stderr(&output).contains(needle),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    assert_eq!(
        json(&portcullis(&db, &["client", "show", &id], None)),
        before
    );
    let output = portcullis(
        &db,
        &["client", "update", "no-such-client", "--name", "x"],
        None,
    );
    assert!(
        stderr(&output).contains("no client with client_id"),
        "{}",
        stderr(&output)
    );
}

/// The binary, run on a blocking thread (a server of this test runs on the runtime).
async fn portcullis_async(db: &TestDb, args: &[&str]) -> Output {
    let url = db.url();
    let args: Vec<String> = ["--database-url", url.as_str()]
        .iter()
        .chain(args)
        .map(|a| a.to_string())
        .collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_in(None, &args, None, &[])
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consents_and_sessions_can_be_listed_and_revoked() {
    use crate::support::*;
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, |_| {}).await;
    let browser = browser();
    let verifier = "a-verifier-of-more-than-43-characters-0123456789abcdef";
    let challenge = portcullis_core::extensions::s256_challenge(verifier);
    let url = server.url(&format!(
        "/authorize?response_type=code&client_id={CLIENT_ID}&redirect_uri={}&scope=profile\
         &state=s&code_challenge={challenge}&code_challenge_method=S256",
        form_urlencoded::byte_serialize(REDIRECT_URI.as_bytes()).collect::<String>()
    ));
    let (consent, _) = sign_in_from(&browser, &server.base, url.clone(), USERNAME, PASSWORD).await;
    let form = parse_form(&consent.text().await.unwrap());
    let response = submit(&browser, &server.base, &form, &[("decision", "allow")]).await;
    let code = query(&location(&server.base, &response))["code"].clone();
    let token: serde_json::Value = reqwest::Client::new()
        .post(server.url("/token"))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access_token = token["access_token"].as_str().unwrap().to_owned();

    let consents = json(&portcullis_async(&db, &["consent", "list", "--user", USERNAME]).await);
    assert_eq!(consents.as_array().unwrap().len(), 1, "{consents}");
    assert_eq!(consents[0]["username"], USERNAME);
    assert_eq!(consents[0]["client_id"], CLIENT_ID);
    assert_eq!(consents[0]["scope"], "profile");
    let by_client = json(&portcullis_async(&db, &["consent", "list", "--client", CLIENT_ID]).await);
    assert_eq!(by_client, consents);
    let none = json(&portcullis_async(&db, &["consent", "list", "--client", "other"]).await);
    assert_eq!(none, serde_json::json!([]));

    let sessions = json(&portcullis_async(&db, &["session", "list", "--user", USERNAME]).await);
    assert_eq!(sessions.as_array().unwrap().len(), 1, "{sessions}");
    let session_id = sessions[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(session_id.len(), 16);
    assert_eq!(
        json(&portcullis_async(&db, &["session", "list"]).await),
        sessions
    );

    // Revoking the consent revokes what it granted, and the client must ask again.
    assert_eq!(
        introspect_as(&server, CLIENT_ID, CLIENT_SECRET, &access_token).await["active"],
        true
    );
    json(
        &portcullis_async(
            &db,
            &[
                "consent", "revoke", "--user", USERNAME, "--client", CLIENT_ID,
            ],
        )
        .await,
    );
    assert_eq!(
        introspect_as(&server, CLIENT_ID, CLIENT_SECRET, &access_token).await,
        serde_json::json!({"active": false})
    );
    let (page, page_url) = follow(&browser, &server.base, url.clone()).await;
    assert!(page_url.contains("/consent?"), "asked again: {page_url}");
    drop(page);

    // Ending the session signs the browser out.
    json(&portcullis_async(&db, &["session", "revoke", &session_id]).await);
    let (_, page_url) = follow(&browser, &server.base, url).await;
    assert!(page_url.contains("/login"), "signed out: {page_url}");
    assert_eq!(
        json(&portcullis_async(&db, &["session", "list"]).await),
        serde_json::json!([])
    );

    for (args, needle) in [
        (
            vec![
                "consent", "revoke", "--user", USERNAME, "--client", CLIENT_ID,
            ],
            "has no consent",
        ),
        (
            vec![
                "consent", "revoke", "--user", "nobody", "--client", CLIENT_ID,
            ],
            "no user named 'nobody'",
        ),
        (
            vec!["consent", "list", "--user", "nobody"],
            "no user named 'nobody'",
        ),
        (vec!["session", "revoke", "abc"], "16 characters"),
        (
            vec!["session", "revoke", "0123456789abcdef"],
            "no session with id",
        ),
        (vec!["session", "revoke"], "name the session id"),
        (
            vec!["session", "revoke", "--user", "nobody"],
            "no user named 'nobody'",
        ),
    ] {
        let output = portcullis_async(&db, &args).await;
        assert!(!output.status.success(), "{args:?}");
        assert!(
            stderr(&output).contains(needle),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    let ended = json(&portcullis_async(&db, &["session", "revoke", "--user", USERNAME]).await);
    assert_eq!(ended["ended"], 0);
    db.drop_db().await;
}

/// A logo that cannot be shown stops `serve` with the file and the rule it breaks
/// (issue 15, item 7); so does a blank service name.
#[test]
fn serve_refuses_a_logo_it_cannot_show_and_a_blank_service_name() {
    let db = TestDb::sqlite();
    let dir = empty_dir();
    let text = dir.join("logo.txt");
    std::fs::write(&text, "not an image").unwrap();
    let huge = dir.join("logo.png");
    std::fs::write(&huge, vec![0u8; 256 * 1024 + 1]).unwrap();
    let missing = dir.join("missing.svg");
    let serve = ["serve", "--bind", "127.0.0.1:0"];
    for (path, expected) in [
        (&text, "name a .png, .jpg, .gif, .webp or .svg file"),
        (&huge, "a logo must be at most 262144 bytes"),
        (&missing, "cannot be read"),
    ] {
        let path = path.to_str().unwrap();
        let output = portcullis_with(&db, &serve, None, &[("PORTCULLIS_LOGO", path)]);
        assert_one_line_error(&output, expected);
        let error = stderr(&output);
        assert!(
            error.contains(path) && error.contains("PORTCULLIS_LOGO"),
            "{error}"
        );
    }
    assert_one_line_error(
        &portcullis_with(&db, &serve, None, &[("PORTCULLIS_SERVICE_NAME", " ")]),
        "service_name must not be empty",
    );
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(db.drop_db());
}

/// OpenID Connect's implicit and hybrid response types can be registered, are stored
/// as sets in the canonical order, and need the grant types they imply; an unknown
/// one is refused with the list of known ones.
#[test]
fn client_create_takes_the_openid_response_types_as_sets() {
    let db = migrated_db();
    let created = json(&portcullis(
        &db,
        &[
            "client",
            "create",
            "--name",
            "Hybrid",
            "--redirect-uri",
            "https://app.example/cb",
            "--grant-type",
            "authorization_code",
            "--grant-type",
            "implicit",
            "--response-type",
            "id_token code",
            "--response-type",
            "code id_token",
            "--response-type",
            "token id_token",
            "--scope",
            "openid",
        ],
        None,
    ));
    assert_eq!(
        created["response_types"],
        serde_json::json!(["code id_token", "id_token token"]),
        "canonical and without repeats"
    );
    for (response_type, grant, expected) in [
        (
            "id_token",
            "authorization_code",
            "response type 'id_token' needs the 'implicit' grant type",
        ),
        (
            "code id_token",
            "implicit",
            "response type 'code id_token' needs the 'authorization_code' grant type",
        ),
        (
            "code magic",
            "authorization_code",
            "unknown response type 'code magic'",
        ),
        (
            "code code",
            "authorization_code",
            "unknown response type 'code code'",
        ),
    ] {
        assert_one_line_error(
            &portcullis(
                &db,
                &[
                    "client",
                    "create",
                    "--name",
                    "Bad",
                    "--redirect-uri",
                    "https://app.example/cb",
                    "--grant-type",
                    grant,
                    "--response-type",
                    response_type,
                ],
                None,
            ),
            expected,
        );
    }
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(db.drop_db());
}

/// Serves sector identifier documents on a loopback port (which the fetch guard
/// allows over http, for development): `/all.json` lists both redirect URIs of
/// [`TWO_HOSTS`], `/missing.json` only the first, `/object.json` is no array,
/// `/moved` redirects to `/all.json`; anything else is 404. Returns the base URL.
fn sector_documents() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            use axum::routing::get;
            let app = axum::Router::new()
                .route(
                    "/all.json",
                    get(|| async { axum::Json(serde_json::json!(TWO_HOSTS)) }),
                )
                .route(
                    "/missing.json",
                    get(|| async { axum::Json(serde_json::json!([TWO_HOSTS[0]])) }),
                )
                .route(
                    "/object.json",
                    get(|| async { axum::Json(serde_json::json!({"redirect_uris": TWO_HOSTS})) }),
                )
                .route(
                    "/moved",
                    get(|| async { axum::response::Redirect::temporary("/all.json") }),
                );
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    base
}

/// Redirect URIs on two hosts.
const TWO_HOSTS: [&str; 2] = ["https://one.example/cb", "https://two.example/cb"];

/// `portcullis --database-url DB ARGS` with `fetch_allowed_addresses = 127.0.0.1`: the
/// URLs a client registers may reach this test's loopback servers.
fn portcullis_loopback(db: &TestDb, args: &[&str], stdin: Option<&str>) -> Output {
    portcullis_with(
        db,
        args,
        stdin,
        &[("PORTCULLIS_FETCH_ALLOWED_ADDRESSES", "127.0.0.1")],
    )
}

/// `client create` of an OpenID client with `redirect_uris` and more options.
fn create_oidc(db: &TestDb, redirect_uris: &[&str], more: &[&str]) -> Output {
    let mut args = vec!["client", "create", "--name", "RP", "--scope", "openid"];
    for uri in redirect_uris {
        args.extend_from_slice(&["--redirect-uri", uri]);
    }
    args.extend_from_slice(more);
    portcullis_loopback(db, &args, None)
}

#[test]
fn clients_register_pairwise_subjects_with_a_checked_sector() {
    let db = migrated_db();
    let sectors = sector_documents();

    // Public by default, shown so.
    let public = json(&create_oidc(&db, &["https://rp.example/cb"], &[]));
    assert_eq!(public["subject_type"], "public");
    assert_eq!(public["sector_identifier_uri"], serde_json::Value::Null);

    // Pairwise on one redirect host needs no sector URI.
    let pairwise = json(&create_oidc(
        &db,
        &["https://rp.example/cb", "https://rp.example/cb2"],
        &["--subject-type", "pairwise"],
    ));
    assert_eq!(pairwise["subject_type"], "pairwise");

    // On two hosts, with a sector document that lists both.
    let all = format!("{sectors}/all.json");
    let sectored = json(&create_oidc(
        &db,
        &TWO_HOSTS,
        &[
            "--subject-type",
            "pairwise",
            "--sector-identifier-uri",
            &all,
        ],
    ));
    assert_eq!(sectored["subject_type"], "pairwise");
    assert_eq!(sectored["sector_identifier_uri"], all.as_str());
    let id = sectored["client_id"].as_str().unwrap();
    let shown = json(&portcullis_loopback(&db, &["client", "show", id], None));
    assert_eq!(shown["sector_identifier_uri"], all.as_str(), "kept");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let stored = runtime.block_on(async {
        let store = portcullis_sql::SqlStore::connect(&db.url()).await.unwrap();
        store.get_client(id).await.unwrap().expect("the client")
    });
    assert_eq!(stored.metadata().subject_type.as_deref(), Some("pairwise"));
    assert_eq!(
        stored.sector_identifier().as_deref(),
        Some("127.0.0.1"),
        "the sector is the sector URI's host"
    );

    let before = json(&portcullis_loopback(&db, &["client", "list"], None));
    for (uris, args, needle) in [
        (
            &["https://rp.example/cb"][..],
            vec!["--subject-type", "secret"],
            "invalid subject type 'secret': use public or pairwise",
        ),
        (
            &["https://rp.example/cb"][..],
            vec!["--subject-type", "Pairwise"],
            "invalid subject type 'Pairwise'",
        ),
        (
            &TWO_HOSTS[..],
            vec!["--subject-type", "pairwise"],
            "several hosts (one.example, two.example): a pairwise client needs a sector_identifier_uri",
        ),
        (
            &TWO_HOSTS[..],
            vec![
                "--subject-type",
                "pairwise",
                "--sector-identifier-uri",
                "http://sector.example/all.json",
            ],
            "must be an https URL",
        ),
        (
            &TWO_HOSTS[..],
            vec![
                "--sector-identifier-uri",
                "https://user:pw@sector.example/all.json",
            ],
            "must be an https URL",
        ),
        (
            &TWO_HOSTS[..],
            vec!["--subject-type", "pairwise", "--sector-identifier-uri", &format!("{sectors}/missing.json")],
            "does not list the redirect URI 'https://two.example/cb'",
        ),
        (
            &TWO_HOSTS[..],
            vec!["--subject-type", "pairwise", "--sector-identifier-uri", &format!("{sectors}/object.json")],
            "not a JSON array",
        ),
        (
            &TWO_HOSTS[..],
            vec!["--subject-type", "pairwise", "--sector-identifier-uri", &format!("{sectors}/gone.json")],
            "HTTP 404",
        ),
        (
            &TWO_HOSTS[..],
            vec!["--subject-type", "pairwise", "--sector-identifier-uri", &format!("{sectors}/moved")],
            "HTTP 307",
        ),
    ] {
        let output = create_oidc(&db, uris, &args);
        assert_one_line_error(&output, needle);
    }
    // Without the setting that allows it, a sector document on a loopback address is
    // not fetched at all (the fetch guard: public addresses only).
    let refused = portcullis(
        &db,
        &[
            "client",
            "create",
            "--name",
            "RP",
            "--scope",
            "openid",
            "--redirect-uri",
            TWO_HOSTS[0],
            "--redirect-uri",
            TWO_HOSTS[1],
            "--subject-type",
            "pairwise",
            "--sector-identifier-uri",
            &all,
        ],
        None,
    );
    assert_one_line_error(&refused, "only https URLs are fetched on a client's behalf");
    assert_eq!(
        json(&portcullis_loopback(&db, &["client", "list"], None)),
        before,
        "nothing registered"
    );

    // Updates are checked the same way, against the document as it is now.
    let public_id = public["client_id"].as_str().unwrap();
    for (args, needle) in [
        (
            vec![
                "--add-redirect-uri",
                "https://other.example/cb",
                "--subject-type",
                "pairwise",
            ],
            "a pairwise client needs a sector_identifier_uri",
        ),
        (vec!["--subject-type", "none"], "invalid subject type"),
    ] {
        let mut all_args = vec!["client", "update", public_id];
        all_args.extend_from_slice(&args);
        assert_one_line_error(&portcullis_loopback(&db, &all_args, None), needle);
    }
    for (args, needle) in [
        (
            vec!["--add-redirect-uri", "https://three.example/cb"],
            "does not list the redirect URI 'https://three.example/cb'",
        ),
        (
            vec!["--sector-identifier-uri", ""],
            "a pairwise client needs a sector_identifier_uri",
        ),
    ] {
        let mut all_args = vec!["client", "update", id];
        all_args.extend_from_slice(&args);
        assert_one_line_error(&portcullis_loopback(&db, &all_args, None), needle);
    }
    let output = portcullis_loopback(
        &db,
        &["client", "update", public_id, "--subject-type", "pairwise"],
        None,
    );
    assert!(
        stderr(&output).contains("warning: the client's users now have other subjects"),
        "{}",
        stderr(&output)
    );
    assert_eq!(json(&output)["subject_type"], "pairwise");
    let renamed = portcullis_loopback(
        &db,
        &["client", "update", public_id, "--name", "RP 2"],
        None,
    );
    assert!(
        !stderr(&renamed).contains("warning"),
        "no warning when the subjects stay: {}",
        stderr(&renamed)
    );
    json(&renamed);
    let back = json(&portcullis_loopback(
        &db,
        &["client", "update", public_id, "--subject-type", "public"],
        None,
    ));
    assert_eq!(back["subject_type"], "public");
    runtime.block_on(db.drop_db());
}

/// `--backchannel-logout-uri` (OpenID Connect Back-Channel Logout §2.2): shown in the
/// client JSON, changed and removed by `client update`; one the server would not POST
/// to (plain http to another host, credentials, a fragment, not a URL) is refused.
#[test]
fn clients_register_a_backchannel_logout_uri() {
    let db = migrated_db();
    let created = json(&portcullis(
        &db,
        &[
            "client",
            "create",
            "--name",
            "RP",
            "--redirect-uri",
            "https://rp.example/cb",
            "--scope",
            "openid",
            "--backchannel-logout-uri",
            "https://rp.example/backchannel",
        ],
        None,
    ));
    assert_eq!(
        created["backchannel_logout_uri"],
        "https://rp.example/backchannel"
    );
    let id = created["client_id"].as_str().unwrap().to_owned();
    let loopback = [
        "client",
        "update",
        id.as_str(),
        "--backchannel-logout-uri",
        "http://127.0.0.1:9000/logout",
    ];
    // A loopback address only where fetch_allowed_addresses names it.
    assert_one_line_error(
        &portcullis(&db, &loopback, None),
        "only https URLs are fetched on a client's behalf",
    );
    let updated = json(&portcullis_loopback(&db, &loopback, None));
    assert_eq!(
        updated["backchannel_logout_uri"],
        "http://127.0.0.1:9000/logout"
    );
    let removed = json(&portcullis(
        &db,
        &["client", "update", &id, "--backchannel-logout-uri", ""],
        None,
    ));
    assert_eq!(removed["backchannel_logout_uri"], serde_json::Value::Null);
    for (uri, expected) in [
        ("http://rp.example/logout", "only https URLs"),
        ("https://10.0.0.7/logout", "special-use address"),
        ("https://169.254.169.254/logout", "special-use address"),
        ("https://user:pw@rp.example/logout", "credentials"),
        ("https://rp.example/logout#x", "must not have a fragment"),
        ("not a url", "not a URL"),
    ] {
        assert_one_line_error(
            &portcullis(
                &db,
                &["client", "update", &id, "--backchannel-logout-uri", uri],
                None,
            ),
            expected,
        );
    }
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(db.drop_db());
}

/// Issue 13, item 7: a client of either secret method may send its secret the other
/// way too, unless it was registered with `--strict-auth-method`; `client update
/// --strict-auth-method false` lifts it. Through the real binary, and token requests
/// over real HTTP to `portcullis serve`.
#[tokio::test]
async fn secret_methods_are_interchangeable_unless_the_client_is_strict() {
    use crate::support::*;
    let db = migrated_db();
    let create = |extra: &[&str]| {
        let mut args = vec![
            "client",
            "create",
            "--name",
            "Service",
            "--grant-type",
            "client_credentials",
        ];
        args.extend_from_slice(extra);
        json(&portcullis(&db, &args, None))
    };
    let lenient = create(&[]);
    assert_eq!(lenient["strict_auth_method"], false);
    let post = create(&["--auth-method", "client_secret_post"]);
    let strict = create(&["--strict-auth-method"]);
    assert_eq!(strict["strict_auth_method"], true);
    assert_eq!(strict["token_endpoint_auth_method"], "client_secret_basic");
    let public = portcullis(
        &db,
        &[
            "client",
            "create",
            "--name",
            "Native",
            "--auth-method",
            "none",
            "--redirect-uri",
            "http://127.0.0.1/cb",
            "--strict-auth-method",
        ],
        None,
    );
    assert_one_line_error(&public, "--strict-auth-method");

    let instance = spawn_instance_with(&db, &[("PORTCULLIS_CLIENT_CACHE_TTL", "0")]).await;
    let http = reqwest::Client::new();
    let token = |client: &serde_json::Value, basic: bool| {
        let id = client["client_id"].as_str().unwrap().to_owned();
        let secret = client["client_secret"].as_str().unwrap().to_owned();
        let mut request = http.post(format!("{}/token", instance.base));
        let mut form = vec![("grant_type", "client_credentials".to_owned())];
        if basic {
            request = request.basic_auth(&id, Some(&secret));
        } else {
            form.push(("client_id", id));
            form.push(("client_secret", secret));
        }
        async move {
            let response = request.form(&form).send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<serde_json::Value>().await.unwrap())
        }
    };
    // The basic client posting its secret, the post client using HTTP Basic.
    let (status, body) = token(&lenient, false).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["access_token"].is_string());
    let (status, body) = token(&post, true).await;
    assert_eq!(status, 200, "{body}");
    // The strict one: its own method only.
    let (status, body) = token(&strict, false).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "invalid_client");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("(strict)"),
        "{body}"
    );
    let (status, body) = token(&strict, true).await;
    assert_eq!(status, 200, "{body}");

    // Lifted on update, and set again.
    let strict_id = strict["client_id"].as_str().unwrap();
    let updated = json(&portcullis(
        &db,
        &[
            "client",
            "update",
            strict_id,
            "--strict-auth-method",
            "false",
        ],
        None,
    ));
    assert_eq!(updated["strict_auth_method"], false);
    let (status, body) = token(&strict, false).await;
    assert_eq!(status, 200, "{body}");
    let updated = json(&portcullis(
        &db,
        &["client", "update", strict_id, "--strict-auth-method"],
        None,
    ));
    assert_eq!(updated["strict_auth_method"], true);
    let shown = json(&portcullis(&db, &["client", "show", strict_id], None));
    assert_eq!(shown["strict_auth_method"], true);
    let (status, _) = token(&strict, false).await;
    assert_eq!(status, 401);
    // Other updates keep it.
    let renamed = json(&portcullis(
        &db,
        &["client", "update", strict_id, "--name", "Renamed"],
        None,
    ));
    assert_eq!(renamed["strict_auth_method"], true);

    // The metadata still lists every method.
    let metadata: serde_json::Value = http
        .get(format!(
            "{}/.well-known/oauth-authorization-server",
            instance.base
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        metadata["token_endpoint_auth_methods_supported"],
        serde_json::json!([
            "client_secret_basic",
            "client_secret_post",
            "none",
            "private_key_jwt",
            "client_secret_jwt"
        ])
    );
    drop(instance);
}

/// `--allowed-resource` (RFC 8707): repeatable on create, added and removed on update,
/// shown, and refused unless an absolute URI without a fragment; `default_resource`
/// refused by `serve` unless one too.
#[test]
fn clients_register_allowed_resources() {
    let db = migrated_db();
    let created = json(&portcullis(
        &db,
        &[
            "client",
            "create",
            "--name",
            "MCP client",
            "--redirect-uri",
            "https://app.example/cb",
            "--allowed-resource",
            "https://mcp.example.com",
            "--allowed-resource",
            "https://api.example/v1?tenant=a",
        ],
        None,
    ));
    let id = created["client_id"].as_str().unwrap().to_owned();
    assert_eq!(
        created["allowed_resources"],
        serde_json::json!(["https://mcp.example.com", "https://api.example/v1?tenant=a"])
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = runtime.block_on(async {
        let store = portcullis_sql::SqlStore::connect(&db.url()).await.unwrap();
        store.get_client(&id).await.unwrap().expect("the client")
    });
    assert_eq!(
        client.allowed_resources(),
        ["https://mcp.example.com", "https://api.example/v1?tenant=a"]
    );

    let updated = json(&portcullis(
        &db,
        &[
            "client",
            "update",
            &id,
            "--remove-allowed-resource",
            "https://api.example/v1?tenant=a",
            "--add-allowed-resource",
            "urn:example:reports",
        ],
        None,
    ));
    assert_eq!(
        updated["allowed_resources"],
        serde_json::json!(["https://mcp.example.com", "urn:example:reports"])
    );
    assert_eq!(
        json(&portcullis(&db, &["client", "show", &id], None))["allowed_resources"],
        updated["allowed_resources"]
    );
    // Removing what the client does not have is a typo, not a no-op.
    assert_one_line_error(
        &portcullis(
            &db,
            &[
                "client",
                "update",
                &id,
                "--remove-allowed-resource",
                "https://mcp.example.com/other",
            ],
            None,
        ),
        "no such value",
    );
    // Removing every one leaves none.
    let emptied = json(&portcullis(
        &db,
        &[
            "client",
            "update",
            &id,
            "--remove-allowed-resource",
            "https://mcp.example.com",
            "--remove-allowed-resource",
            "urn:example:reports",
        ],
        None,
    ));
    assert_eq!(emptied["allowed_resources"], serde_json::json!([]));

    for bad in ["/mcp", "mcp.example.com", "https://mcp.example.com/#x"] {
        assert_one_line_error(
            &portcullis(
                &db,
                &[
                    "client",
                    "create",
                    "--name",
                    "Bad",
                    "--redirect-uri",
                    "https://app.example/cb",
                    "--allowed-resource",
                    bad,
                ],
                None,
            ),
            "invalid allowed resource",
        );
        assert_one_line_error(
            &portcullis(
                &db,
                &["client", "update", &id, "--add-allowed-resource", bad],
                None,
            ),
            "invalid allowed resource",
        );
    }
    let unchanged = json(&portcullis(&db, &["client", "show", &id], None));
    assert_eq!(unchanged["allowed_resources"], serde_json::json!([]));

    for bad in ["api", "https://api.example/#x"] {
        assert_one_line_error(
            &portcullis_with(
                &db,
                &["serve", "--bind", "127.0.0.1:0"],
                None,
                &[("PORTCULLIS_DEFAULT_RESOURCE", bad)],
            ),
            "default_resource",
        );
    }
    runtime.block_on(db.drop_db());
}
