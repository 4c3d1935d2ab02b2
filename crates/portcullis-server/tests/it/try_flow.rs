//! `portcullis try` (issue 15): the real binary runs one authorization code flow
//! against a real `portcullis serve`, while the test plays the browser.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use portcullis_sql::{NewUser, SqlStore};
use serde_json::Value;

use crate::support::{
    browser, follow, free_port, location, parse_form, query, sign_in_from, spawn_instance,
    spawn_instance_with, submit, Instance, TestDb, PASSWORD, USERNAME,
};

const PREFIX: &str = "authorization URL: ";

/// A running `portcullis try`.
struct TryRun {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: Arc<Mutex<String>>,
    reader: std::thread::JoinHandle<()>,
}

/// What a finished `portcullis try` left.
struct Finished {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Starts `portcullis --database-url DB try --no-browser ARGS` (no `PORTCULLIS_*`
/// variable of the test's environment reaches it).
fn start_try(db: &TestDb, args: &[&str]) -> TryRun {
    let mut command = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    command
        .args([
            "--database-url",
            &db.url(),
            "try",
            "--no-browser",
            "--timeout",
            "60",
        ])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, _) in std::env::vars() {
        if key.starts_with("PORTCULLIS_") {
            command.env_remove(key);
        }
    }
    let mut child = command.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (sender, lines) = mpsc::channel();
    let all = Arc::new(Mutex::new(String::new()));
    let kept = all.clone();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let mut text = kept.lock().unwrap();
            text.push_str(&line);
            text.push('\n');
            let _ = sender.send(line);
        }
    });
    TryRun {
        child,
        lines,
        stderr: all,
        reader,
    }
}

impl TryRun {
    /// The authorization URL it prints, waiting for it (at most 60 s).
    fn authorization_url(&self) -> String {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(60)) {
                Ok(line) => {
                    if let Some(url) = line.strip_prefix(PREFIX) {
                        return url.to_owned();
                    }
                }
                Err(_) => panic!(
                    "`portcullis try` printed no authorization URL; stderr:\n{}",
                    self.stderr.lock().unwrap()
                ),
            }
        }
    }

    /// Stops it (the test's own child).
    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for it to end (at most 60 s).
    fn finish(mut self) -> Finished {
        let mut stdout = String::new();
        let mut out = self.child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let _ = out.read_to_string(&mut stdout);
            stdout
        });
        for _ in 0..600 {
            if let Some(status) = self.child.try_wait().unwrap() {
                let stdout = reader.join().unwrap();
                // The stderr thread ends with the pipe.
                self.reader.join().unwrap();
                let stderr = self.stderr.lock().unwrap().clone();
                return Finished {
                    status,
                    stdout,
                    stderr,
                };
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        panic!(
            "`portcullis try` still ran after 60 s; stderr:\n{}",
            self.stderr.lock().unwrap()
        );
    }
}

/// Adds the test user to the server's database.
async fn create_user(db: &TestDb) {
    let store = SqlStore::connect(&db.url()).await.unwrap();
    store
        .create_user(NewUser::new(USERNAME, PASSWORD).with_email(Some("alice@example.com".into())))
        .await
        .unwrap();
}

/// A `portcullis serve` with the test user.
async fn server(db: &TestDb) -> Instance {
    let instance = spawn_instance(db).await;
    create_user(db).await;
    instance
}

/// Signs in and answers the consent page with `decision`; the callback URL the
/// server redirects the browser to.
async fn sign_in_and(browser: &reqwest::Client, base: &str, url: String, decision: &str) -> String {
    let (page, page_url) = sign_in_from(browser, base, url, USERNAME, PASSWORD).await;
    assert!(
        page_url.contains("/consent?"),
        "expected consent, got {page_url}"
    );
    let form = parse_form(&page.text().await.unwrap());
    let response = submit(browser, base, &form, &[("decision", decision)]).await;
    assert_eq!(response.status(), 302);
    location(base, &response)
}

#[tokio::test]
async fn try_runs_the_flow_and_prints_tokens_introspection_and_userinfo() {
    let db = TestDb::sqlite();
    let instance = server(&db).await;
    let base = instance.base.clone();
    let run = start_try(&db, &["--issuer", &base, "--port", "0"]);
    let url = run.authorization_url();
    assert!(url.starts_with(&format!("{base}/authorize?")), "{url}");
    let params = query(&url);
    assert_eq!(params["client_id"], "portcullis-try");
    assert_eq!(params["code_challenge_method"], "S256");
    assert_eq!(params["code_challenge"].len(), 43);
    assert_eq!(params["scope"], "openid profile email");
    assert!(params["state"].len() >= 16 && params["nonce"].len() >= 16);
    let redirect_uri = params["redirect_uri"].clone();
    assert!(
        redirect_uri.starts_with("http://127.0.0.1:") && redirect_uri.ends_with("/callback"),
        "{redirect_uri}"
    );

    let browser = browser();
    let callback = sign_in_and(&browser, &base, url, "allow").await;
    assert!(
        callback.starts_with(&format!("{redirect_uri}?")),
        "{callback}"
    );
    let page = browser.get(&callback).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("close this window"));

    let finished = run.finish();
    assert!(finished.status.success(), "{}", finished.stderr);
    let result: Value = serde_json::from_str(&finished.stdout).unwrap();
    let tokens = &result["tokens"];
    assert!(tokens["access_token"].as_str().unwrap().len() >= 32);
    assert!(tokens["id_token"].as_str().unwrap().split('.').count() == 3);
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(result["introspection"]["active"], true);
    assert_eq!(result["introspection"]["client_id"], "portcullis-try");
    let sub = result["userinfo"]["sub"].as_str().unwrap();
    assert!(!sub.is_empty());
    assert_eq!(result["id_token_claims"]["sub"], sub);
    assert_eq!(result["userinfo"]["email"], "alice@example.com");
    // Each exchange is shown; the client secret never is.
    let stderr = &finished.stderr;
    for shown in [
        format!("> GET {base}/.well-known/openid-configuration"),
        format!("> POST {base}/token"),
        "grant_type=authorization_code".to_owned(),
        "code_verifier=".to_owned(),
        format!("> POST {base}/introspect"),
        format!("> GET {base}/userinfo"),
        "<client_secret, not shown>".to_owned(),
    ] {
        assert!(stderr.contains(&shown), "stderr lacks {shown:?}:\n{stderr}");
    }
    assert!(
        !stderr.contains("Basic cG9y"),
        "the Basic credentials leaked:\n{stderr}"
    );

    // A second run reuses the client (one registration for any port) and the
    // remembered consent: the signed-in browser goes straight back to the callback.
    let run = start_try(&db, &["--issuer", &base]);
    let url = run.authorization_url();
    let (response, _) = follow(&browser, &base, url).await;
    let callback = location(&base, &response);
    assert!(callback.starts_with("http://127.0.0.1:"), "{callback}");
    assert_eq!(browser.get(&callback).send().await.unwrap().status(), 200);
    let finished = run.finish();
    assert!(finished.status.success(), "{}", finished.stderr);
    let result: Value = serde_json::from_str(&finished.stdout).unwrap();
    assert_eq!(result["introspection"]["active"], true);
    let store = SqlStore::connect(&db.url()).await.unwrap();
    let clients = store.list_clients().await.unwrap();
    assert_eq!(clients.len(), 1, "one portcullis-try client, reused");
    assert_eq!(clients[0].redirect_uris, vec!["http://127.0.0.1/callback"]);
    drop(instance);
    db.drop_db().await;
}

#[tokio::test]
async fn try_run_again_at_once_waits_out_the_servers_client_cache() {
    let db = TestDb::sqlite();
    let instance = spawn_instance_with(&db, &[("PORTCULLIS_CLIENT_CACHE_TTL", "10")]).await;
    create_user(&db).await;
    let base = instance.base.clone();
    // A first run registers portcullis-try; the server reads it, and keeps it in its
    // client cache, when the browser arrives with the authorization request.
    let first = start_try(&db, &["--issuer", &base]);
    let url = first.authorization_url();
    let browser = browser();
    let (page, page_url) = follow(&browser, &base, url).await;
    assert_eq!(page.status(), 200);
    assert!(page_url.contains("/login"), "{page_url}");
    first.kill();
    // A second run at once gives the client a secret the cache does not know yet.
    let second = start_try(&db, &["--issuer", &base]);
    let url = second.authorization_url();
    let callback = sign_in_and(&browser, &base, url, "allow").await;
    assert_eq!(browser.get(&callback).send().await.unwrap().status(), 200);
    let finished = second.finish();
    assert!(finished.status.success(), "{}", finished.stderr);
    assert!(
        finished
            .stderr
            .contains("note: the server refused the new secret of portcullis-try"),
        "{}",
        finished.stderr
    );
    let result: Value = serde_json::from_str(&finished.stdout).unwrap();
    assert_eq!(result["introspection"]["active"], true);
    drop(instance);
    db.drop_db().await;
}

#[tokio::test]
async fn try_refuses_a_callback_with_another_state_and_redeems_nothing() {
    let db = TestDb::sqlite();
    let instance = server(&db).await;
    let run = start_try(&db, &["--issuer", &instance.base]);
    let url = run.authorization_url();
    let redirect_uri = query(&url)["redirect_uri"].clone();
    let forged = format!(
        "{redirect_uri}?code=forged-code&state=not-the-state&iss={}",
        form_urlencoded::byte_serialize(instance.base.as_bytes()).collect::<String>()
    );
    let page = reqwest::get(&forged).await.unwrap();
    assert_eq!(page.status(), 400);
    assert!(page.text().await.unwrap().contains("not the one sent"));
    let finished = run.finish();
    assert!(!finished.status.success());
    assert!(
        finished
            .stderr
            .contains("error: the callback's state 'not-the-state' is not the one sent"),
        "{}",
        finished.stderr
    );
    assert!(!finished.stderr.contains("> POST"), "{}", finished.stderr);
    assert!(finished.stdout.is_empty());
    drop(instance);
    db.drop_db().await;
}

#[tokio::test]
async fn try_reports_access_denied_when_the_user_denies() {
    let db = TestDb::sqlite();
    let instance = server(&db).await;
    let base = instance.base.clone();
    let run = start_try(&db, &["--issuer", &base]);
    let url = run.authorization_url();
    let browser = browser();
    let callback = sign_in_and(&browser, &base, url, "deny").await;
    assert_eq!(query(&callback)["error"], "access_denied");
    let page = browser.get(&callback).send().await.unwrap();
    assert_eq!(page.status(), 400);
    let finished = run.finish();
    assert!(!finished.status.success());
    assert!(
        finished
            .stderr
            .contains("error: the authorization server answered error=access_denied"),
        "{}",
        finished.stderr
    );
    assert!(!finished.stderr.contains("> POST"), "{}", finished.stderr);
    drop(instance);
    db.drop_db().await;
}

#[tokio::test]
async fn try_says_when_nothing_answers_at_the_issuer_and_changes_nothing() {
    let db = TestDb::sqlite();
    drop(spawn_instance(&db).await);
    create_user(&db).await;
    let issuer = format!("http://127.0.0.1:{}", free_port());
    let finished = start_try(&db, &["--issuer", &issuer]).finish();
    assert!(!finished.status.success());
    let error = finished
        .stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error line:\n{}", finished.stderr));
    assert!(
        error.contains(&format!("nothing answers at the issuer {issuer}"))
            && error.contains("portcullis serve"),
        "{error}"
    );
    let store = SqlStore::connect(&db.url()).await.unwrap();
    assert!(store.get_client("portcullis-try").await.unwrap().is_none());
    db.drop_db().await;
}

#[tokio::test]
async fn try_without_a_user_says_to_create_one() {
    let db = TestDb::sqlite();
    let instance = spawn_instance(&db).await;
    let finished = start_try(&db, &["--issuer", &instance.base]).finish();
    assert!(!finished.status.success());
    assert!(
        finished.stderr.contains("portcullis user create"),
        "{}",
        finished.stderr
    );
    drop(instance);
    db.drop_db().await;
}

/// The README's shell recipe for a PKCE pair computes what the server checks.
#[test]
fn try_readme_s256_pipeline_matches_the_server() {
    let has_openssl = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_openssl {
        assert!(
            std::env::var_os("CI").is_none(),
            "openssl is needed for this test on CI"
        );
        eprintln!("skipped: no openssl");
        return;
    }
    let output = Command::new("sh")
        .arg("-c")
        .arg(
            "VERIFIER=$(openssl rand -base64 48 | tr '+/' '-_' | tr -d '=\\n')\n\
             CHALLENGE=$(printf '%s' \"$VERIFIER\" | openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | tr -d '=')\n\
             echo \"$VERIFIER $CHALLENGE\"",
        )
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    let (verifier, challenge) = text.trim().split_once(' ').unwrap();
    assert_eq!(verifier.len(), 64, "{verifier}");
    assert!(verifier
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    assert_eq!(
        challenge,
        portcullis_core::extensions::s256_challenge(verifier)
    );
}
