//! Test harness: databases, an in-process server, a cookie-keeping browser, forms.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use oauth2::basic::BasicClient;
use oauth2::{AuthUrl, ClientId, ClientSecret, EndpointNotSet, EndpointSet, RedirectUrl, TokenUrl};
use portcullis_core::{hash_secret, ClientRecord, Scope};
use portcullis_server::Config;
use portcullis_sql::{NewUser, SqlStore};

pub(crate) const REDIRECT_URI: &str = "https://client.example/callback";
pub(crate) const CLIENT_ID: &str = "web-app";
pub(crate) const CLIENT_SECRET: &str = "web-app-secret-0123456789abcdefghij";
pub(crate) const USERNAME: &str = "alice";
pub(crate) const PASSWORD: &str = "correct horse battery staple";

pub(crate) type ConfiguredClient =
    BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

fn unique(prefix: &str) -> String {
    let random = portcullis_core::random::random_string(&portcullis_core::OsRandom::default(), 8)
        .to_lowercase()
        .replace(['-', '_'], "x");
    format!("{prefix}{random}")
}

/// A database for one test: a SQLite file in a fresh directory, or a fresh
/// PostgreSQL database that is dropped afterwards.
pub(crate) enum TestDb {
    Sqlite(PathBuf),
    Postgres { admin_url: String, name: String },
}

impl TestDb {
    pub(crate) fn sqlite() -> TestDb {
        let dir = std::env::temp_dir().join(unique("portcullis-it-"));
        std::fs::create_dir_all(&dir).unwrap();
        TestDb::Sqlite(dir.join("portcullis.db"))
    }

    /// A fresh PostgreSQL database. The tests that call this are `#[ignore]`d unless
    /// `PORTCULLIS_TEST_POSTGRES_URL` is set at build time (or `CI=true`): one that
    /// runs without it was asked for, and fails saying why.
    pub(crate) async fn postgres() -> TestDb {
        let Ok(admin_url) = std::env::var("PORTCULLIS_TEST_POSTGRES_URL") else {
            panic!(
                "PORTCULLIS_TEST_POSTGRES_URL is not set: this test needs PostgreSQL \
                 (for example postgres://postgres@127.0.0.1:5432/test)"
            );
        };
        let name = unique("portcullis_srv_");
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url)
            .await
            .unwrap_or_else(|e| {
                panic!("PostgreSQL at PORTCULLIS_TEST_POSTGRES_URL is unreachable: {e}")
            });
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap();
        TestDb::Postgres { admin_url, name }
    }

    pub(crate) fn url(&self) -> String {
        match self {
            TestDb::Sqlite(path) => format!("sqlite://{}", path.display()),
            TestDb::Postgres { admin_url, name } => {
                let mut url = url::Url::parse(admin_url).unwrap();
                url.set_path(&format!("/{name}"));
                url.to_string()
            }
        }
    }

    /// Removes the database.
    pub(crate) async fn drop_db(self) {
        match self {
            TestDb::Sqlite(path) => {
                let _ = std::fs::remove_dir_all(path.parent().unwrap());
            }
            TestDb::Postgres { admin_url, name } => {
                if let Ok(mut conn) =
                    <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url).await
                {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                }
            }
        }
    }
}

/// Opens the store and registers the test client and user.
pub(crate) async fn seed(db: &TestDb) -> SqlStore {
    let store = SqlStore::connect(&db.url()).await.unwrap();
    store
        .insert_client(
            &ClientRecord::new(CLIENT_ID)
                .with_secret_hash(hash_secret(CLIENT_SECRET))
                .with_name("Web App")
                .with_redirect_uris(vec![REDIRECT_URI])
                .with_scope(Scope::parse("profile email").unwrap())
                .with_grant_types(vec!["authorization_code", "refresh_token"])
                .with_response_types(vec!["code"])
                .with_auth_method("client_secret_basic"),
        )
        .await
        .unwrap();
    store
        .create_user(
            NewUser::new(USERNAME, PASSWORD)
                .with_email(Some("alice@example.com".into()))
                .with_name(Some("Alice Liddell".into())),
        )
        .await
        .unwrap();
    store
}

/// A confidential `client_credentials` client (HTTP Basic, no scope) of `id` and
/// `secret`.
pub(crate) fn service_client(id: &str, secret: &str) -> ClientRecord {
    ClientRecord::new(id)
        .with_secret_hash(hash_secret(secret))
        .with_name("Service")
        .with_scope(Scope::empty())
        .with_grant_types(vec!["client_credentials"])
        .with_auth_method("client_secret_basic")
}

/// An in-process server on 127.0.0.1 with a real socket.
pub(crate) struct TestServer {
    pub(crate) base: String,
}

impl TestServer {
    pub(crate) async fn start(db: &TestDb, tweak: impl FnOnce(&mut Config)) -> TestServer {
        let store = seed(db).await;
        Self::start_on(db, store, tweak).await
    }

    /// A server on `store`, which is already seeded (a second instance on one database).
    pub(crate) async fn start_on(
        db: &TestDb,
        store: SqlStore,
        tweak: impl FnOnce(&mut Config),
    ) -> TestServer {
        let clock = std::sync::Arc::new(portcullis_core::SystemClock);
        Self::start_with_clock(db, store, tweak, clock).await
    }

    /// A server whose clock stands still: delays measured in seconds (sign-in
    /// throttling) do not run out while a slow machine works through a test.
    pub(crate) async fn start_frozen(db: &TestDb, tweak: impl FnOnce(&mut Config)) -> TestServer {
        let store = seed(db).await;
        let clock = std::sync::Arc::new(portcullis_core::ManualClock::new(1_900_000_000));
        Self::start_with_clock(db, store, tweak, clock).await
    }

    /// A server on `store` whose time is `clock`'s (a test can move it).
    pub(crate) async fn start_with_clock(
        db: &TestDb,
        store: SqlStore,
        tweak: impl FnOnce(&mut Config),
        clock: std::sync::Arc<dyn portcullis_core::Clock>,
    ) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mut config = Config::default();
        config.database.database_url = db.url();
        config.http.issuer = Some(base.clone());
        tweak(&mut config);
        let limits = portcullis_server::listener::Limits::from_config(&config);
        let random = std::sync::Arc::new(portcullis_core::OsRandom::default());
        let app = portcullis_server::build_app_with(config, store.clone(), clock, random)
            .await
            .unwrap();
        tokio::spawn(portcullis_server::listener::serve(
            listener,
            app,
            limits,
            std::future::pending(),
        ));
        TestServer { base }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(crate) fn oauth_client(&self) -> ConfiguredClient {
        oauth_client(&self.base)
    }
}

pub(crate) fn oauth_client(base: &str) -> ConfiguredClient {
    BasicClient::new(ClientId::new(CLIENT_ID.into()))
        .set_client_secret(ClientSecret::new(CLIENT_SECRET.into()))
        .set_auth_uri(AuthUrl::new(format!("{base}/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(format!("{base}/token")).unwrap())
        .set_redirect_uri(RedirectUrl::new(REDIRECT_URI.into()).unwrap())
}

/// The introspection answer for `token`, asked by `client_id` with `secret` (Basic).
pub(crate) async fn introspect_as(
    server: &TestServer,
    client_id: &str,
    secret: &str,
    token: &str,
) -> serde_json::Value {
    reqwest::Client::new()
        .post(server.url("/introspect"))
        .basic_auth(client_id, Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// A browser: keeps cookies, follows nothing by itself.
pub(crate) fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A browser on another machine: its connections come from `ip` (a loopback address
/// such as 127.0.0.2, which the server sees as a different client address).
pub(crate) fn browser_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .local_address(ip.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
}

/// A parsed HTML form: its action and its hidden inputs.
#[derive(Debug)]
pub(crate) struct Form {
    pub(crate) action: String,
    pub(crate) hidden: Vec<(String, String)>,
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let needle = format!("{name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let end = tag[start..].find('"')? + start;
    Some(html_unescape(&tag[start..end]))
}

fn html_unescape(text: &str) -> String {
    text.replace("&amp;", "&")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#x2f;", "/")
}

/// The first form of a page.
pub(crate) fn parse_form(html: &str) -> Form {
    let start = html.find("<form").expect("the page has a form");
    let tag_end = html[start..].find('>').unwrap() + start;
    let action = attribute(&html[start..=tag_end], "action").expect("the form has an action");
    let end = html[start..].find("</form>").unwrap() + start;
    let mut hidden = Vec::new();
    let mut rest = &html[start..end];
    while let Some(i) = rest.find("<input") {
        let close = rest[i..].find('>').unwrap() + i;
        let tag = &rest[i..=close];
        if attribute(tag, "type").as_deref() == Some("hidden") {
            hidden.push((
                attribute(tag, "name").unwrap(),
                attribute(tag, "value").unwrap_or_default(),
            ));
        }
        rest = &rest[close..];
    }
    Form { action, hidden }
}

/// Location of a redirect, resolved against `base`.
pub(crate) fn location(base: &str, response: &reqwest::Response) -> String {
    let location = response
        .headers()
        .get("location")
        .unwrap_or_else(|| panic!("expected a redirect, got {}", response.status()))
        .to_str()
        .unwrap();
    if location.starts_with('/') {
        format!("{base}{location}")
    } else {
        location.to_owned()
    }
}

/// The query of a URL as a map.
pub(crate) fn query(url: &str) -> HashMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Submits a form as a browser would: its hidden inputs plus `fields`, to its action.
pub(crate) async fn submit(
    browser: &reqwest::Client,
    base: &str,
    form: &Form,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let mut body: Vec<(String, String)> = form.hidden.clone();
    body.extend(fields.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    browser
        .post(format!("{base}{}", form.action))
        .form(&body)
        .send()
        .await
        .unwrap()
}

/// Follows same-site redirects from `url` until a page (200), or a redirect to the
/// client, or another status; returns the final response and its URL.
pub(crate) async fn follow(
    browser: &reqwest::Client,
    base: &str,
    mut url: String,
) -> (reqwest::Response, String) {
    for _ in 0..10 {
        let response = browser.get(&url).send().await.unwrap();
        if !response.status().is_redirection() {
            return (response, url);
        }
        let next = location(base, &response);
        if !next.starts_with(base) {
            return (response, url);
        }
        url = next;
    }
    panic!("too many redirects");
}

/// Signs in through the login page reached from `url`, then returns the response
/// after following redirects (the consent page, or the redirect to the client).
pub(crate) async fn sign_in_from(
    browser: &reqwest::Client,
    base: &str,
    url: String,
    username: &str,
    password: &str,
) -> (reqwest::Response, String) {
    let (page, page_url) = follow(browser, base, url).await;
    assert_eq!(
        page.status(),
        200,
        "expected the sign-in page at {page_url}"
    );
    assert!(
        page_url.contains("/login"),
        "expected the sign-in page, got {page_url}"
    );
    let form = parse_form(&page.text().await.unwrap());
    let response = submit(
        browser,
        base,
        &form,
        &[("username", username), ("password", password)],
    )
    .await;
    assert_eq!(response.status(), 303, "sign-in should redirect back");
    follow(browser, base, location(base, &response)).await
}

/// A `portcullis serve` process of the built binary; stopped when dropped (SIGTERM, so
/// that it finishes and its log thread writes what is queued; SIGKILL after 5 s). A
/// test that means to kill it does so itself (`child.kill()`).
pub(crate) struct Instance {
    pub(crate) child: Child,
    pub(crate) base: String,
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(self.child.id().to_string())
                .status();
            for _ in 0..100 {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The number of rows of `table`, read behind the server's back.
pub(crate) async fn count_rows(db: &TestDb, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    match db {
        TestDb::Sqlite(_) => {
            let url = db.url();
            let path = url.strip_prefix("sqlite://").unwrap();
            let conn = rusqlite::Connection::open(path).unwrap();
            conn.busy_timeout(std::time::Duration::from_secs(5))
                .unwrap();
            conn.query_row(&sql, [], |row| row.get(0)).unwrap()
        }
        TestDb::Postgres { .. } => {
            let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url())
                .await
                .unwrap();
            sqlx::query_scalar(&sql).fetch_one(&mut conn).await.unwrap()
        }
    }
}

/// The sign-in form of a fresh visit to `/login` by `browser`.
pub(crate) async fn login_form_of(browser: &reqwest::Client, base: &str) -> Form {
    let page = browser
        .get(format!("{base}/login?return_to=%2Fhealthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    parse_form(&page.text().await.unwrap())
}

/// A free loopback port.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `portcullis serve` on `db` and waits until `/healthz` answers.
pub(crate) async fn spawn_instance(db: &TestDb) -> Instance {
    spawn_instance_with(db, &[]).await
}

/// Like [`spawn_instance`], with extra environment variables (settings).
pub(crate) async fn spawn_instance_with(db: &TestDb, env: &[(&str, &str)]) -> Instance {
    spawn_instance_logging(db, env, Stdio::inherit()).await
}

/// Like [`spawn_instance_with`], its standard error going to `stderr` (a file the
/// test reads, say).
pub(crate) async fn spawn_instance_logging(
    db: &TestDb,
    env: &[(&str, &str)],
    stderr: impl Into<Stdio>,
) -> Instance {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args([
            "--database-url",
            &db.url(),
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--issuer",
            &base,
        ])
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let instance = Instance { child, base };
    let http = reqwest::Client::new();
    for _ in 0..300 {
        if let Ok(response) = http.get(format!("{}/healthz", instance.base)).send().await {
            if response.status() == 200 {
                return instance;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "portcullis serve did not become healthy at {}",
        instance.base
    );
}
