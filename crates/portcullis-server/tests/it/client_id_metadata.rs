//! Client ID metadata documents (draft-ietf-oauth-client-id-metadata-document, as MCP
//! clients use them): with `client_id_metadata_documents = true`, a `client_id` that
//! is an `https` URL is fetched — for real, from a local HTTPS server whose test CA is
//! trusted through `fetch_ca_file` and whose loopback address is allowed through
//! `fetch_allowed_addresses` — and the public client it describes signs users in.
//! Every guard of the fetch is tested by a refusal.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use portcullis_server::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;

use crate::support::*;

const CALLBACK: &str = "http://127.0.0.1:33418/callback";

/// A test CA and a server certificate it signed for `127.0.0.1` and `localhost`,
/// made once per test run with `openssl`.
struct Certificates {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn certificates() -> &'static Certificates {
    static MADE: OnceLock<Certificates> = OnceLock::new();
    MADE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("portcullis-cimd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let openssl = |args: &[&str]| {
            let output = std::process::Command::new("openssl")
                .args(args)
                .current_dir(&dir)
                .output()
                .expect("openssl runs");
            assert!(
                output.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        openssl(
            &[
                &["req", "-x509"][..],
                &ec,
                &[
                    "-keyout",
                    "ca.key",
                    "-out",
                    "ca.pem",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=Portcullis test CA",
                    "-addext",
                    "basicConstraints=critical,CA:TRUE",
                    "-addext",
                    "keyUsage=critical,keyCertSign,cRLSign",
                ],
            ]
            .concat(),
        );
        openssl(
            &[
                &["req"][..],
                &ec,
                &[
                    "-keyout",
                    "server.key",
                    "-out",
                    "server.csr",
                    "-subj",
                    "/CN=127.0.0.1",
                ],
            ]
            .concat(),
        );
        std::fs::write(
            dir.join("server.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ]);
        Certificates {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
        }
    })
}

/// What the document server answers for a path.
#[derive(Clone)]
struct Reply {
    status: &'static str,
    headers: Vec<(&'static str, String)>,
    body: String,
}

impl Reply {
    fn json(body: serde_json::Value) -> Self {
        Self {
            status: "200 OK",
            headers: vec![("content-type", "application/json".into())],
            body: body.to_string(),
        }
    }

    fn with_header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }
}

/// A local HTTPS server of client ID metadata documents, counting requests by path.
#[derive(Clone)]
struct DocumentServer {
    port: u16,
    replies: Arc<Mutex<HashMap<String, Reply>>>,
    requests: Arc<Mutex<Vec<(String, String)>>>,
}

impl DocumentServer {
    async fn start() -> Self {
        let certificates = certificates();
        use rustls::pki_types::pem::PemObject;
        let chain = rustls::pki_types::CertificateDer::pem_file_iter(&certificates.cert)
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = rustls::pki_types::PrivateKeyDer::from_pem_file(&certificates.key).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = DocumentServer {
            port: listener.local_addr().unwrap().port(),
            replies: Arc::default(),
            requests: Arc::default(),
        };
        let shared = server.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (acceptor, shared) = (acceptor.clone(), shared.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(stream).await else {
                        return; // a client that did not trust the certificate
                    };
                    let mut head = Vec::new();
                    let mut buffer = [0u8; 2048];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16_384 {
                        match tls.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buffer[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&head).into_owned();
                    let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
                    shared
                        .requests
                        .lock()
                        .unwrap()
                        .push((path.clone(), head.to_ascii_lowercase()));
                    let reply = shared.replies.lock().unwrap().get(&path).cloned();
                    let reply = reply.unwrap_or(Reply {
                        status: "404 Not Found",
                        headers: Vec::new(),
                        body: String::new(),
                    });
                    let mut response = format!("HTTP/1.1 {}\r\n", reply.status);
                    for (name, value) in &reply.headers {
                        response.push_str(&format!("{name}: {value}\r\n"));
                    }
                    response.push_str(&format!(
                        "content-length: {}\r\nconnection: close\r\n\r\n{}",
                        reply.body.len(),
                        reply.body
                    ));
                    let _ = tls.write_all(response.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        server
    }

    /// The client ID URL of `path` on this server.
    fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }

    fn serve(&self, path: &str, reply: Reply) -> String {
        self.replies.lock().unwrap().insert(path.to_owned(), reply);
        self.url(path)
    }

    /// Serves a document for `path` whose `client_id` is its URL, with `members`.
    fn document(&self, path: &str, members: serde_json::Value) -> String {
        let url = self.url(path);
        let mut document = serde_json::json!({
            "client_id": url,
            "client_name": "Example MCP Client",
            "redirect_uris": [CALLBACK],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
        });
        for (name, value) in members.as_object().unwrap() {
            document[name] = value.clone();
        }
        self.serve(path, Reply::json(document))
    }

    /// How many requests asked for `path`.
    fn hits(&self, path: &str) -> usize {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == path)
            .count()
    }
}

/// Documents on, the test CA trusted, the loopback address allowed.
fn documents_on(config: &mut Config) {
    trusting_test_ca(config);
    config.http.fetch_allowed_addresses = vec!["127.0.0.1".into()];
}

/// Documents on, the test CA trusted, no special-use address allowed.
fn trusting_test_ca(config: &mut Config) {
    config.dynamic_registration.client_id_metadata_documents = true;
    config.http.fetch_ca_file = Some(certificates().ca.clone());
}

fn authorize_url(base: &str, client_id: &str, challenge: &str) -> String {
    let query: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", CALLBACK),
            ("scope", "profile"),
            ("state", "st-1"),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
        ])
        .finish();
    format!("{base}/authorize?{query}")
}

/// The authorization endpoint's answer to a request of `client_id`, which must be an
/// error page (never a redirect): its status and text.
async fn refused_at_authorize(server: &TestServer, client_id: &str) -> (u16, String) {
    let (challenge, _) = oauth2::PkceCodeChallenge::new_random_sha256();
    let response = browser()
        .get(authorize_url(&server.base, client_id, challenge.as_str()))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    assert!(
        !response.status().is_redirection(),
        "{client_id}: an error page, not a redirect ({status})"
    );
    (status, response.text().await.unwrap())
}

/// Signs in and allows (unless consent is remembered); the authorization code and the
/// consent page's text (empty when remembered).
async fn authorize(server: &TestServer, client_id: &str, challenge: &str) -> (String, String) {
    let browser = browser();
    let (login, _) = follow(
        &browser,
        &server.base,
        authorize_url(&server.base, client_id, challenge),
    )
    .await;
    let login = login.text().await.unwrap();
    assert!(login.contains("Sign in to continue to"), "{login}");
    // A document's self-asserted name is not the sign-in page's name for it.
    assert!(!login.contains("Example MCP Client"), "{login}");
    if let Some(host) = client_id
        .strip_prefix("https://")
        .and_then(|rest| rest.split('/').next())
    {
        if !client_id.contains("registered") {
            assert!(
                login.contains(&format!("continue to <span class=\"client\">{host}</span>")),
                "{login}"
            );
        }
    }
    let (consent, _) = sign_in_from(
        &browser,
        &server.base,
        authorize_url(&server.base, client_id, challenge),
        USERNAME,
        PASSWORD,
    )
    .await;
    let (callback, page) = if consent.status().is_redirection() {
        (location(&server.base, &consent), String::new())
    } else {
        assert_eq!(consent.status(), 200);
        let page = consent.text().await.unwrap();
        let form = parse_form(&page);
        let response = submit(&browser, &server.base, &form, &[("decision", "allow")]).await;
        (location(&server.base, &response), page)
    };
    assert!(callback.starts_with(&format!("{CALLBACK}?")), "{callback}");
    let params = query(&callback);
    assert_eq!(params["state"], "st-1");
    (params["code"].clone(), page)
}

async fn redeem(
    server: &TestServer,
    client_id: &str,
    code: &str,
    verifier: &str,
) -> reqwest::Response {
    reqwest::Client::new()
        .post(server.url("/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", client_id),
            ("code", code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_url_client_id_signs_in_with_code_and_pkce_and_its_document_is_cached() {
    signs_in_with_a_url_client_id(TestDb::sqlite()).await;
}

#[tokio::test]
#[cfg_attr(not(pg_tests), ignore = "PORTCULLIS_TEST_POSTGRES_URL is not set")]
async fn a_url_client_id_signs_in_on_postgres() {
    signs_in_with_a_url_client_id(TestDb::postgres().await).await;
}

/// The whole flow of a client known by its document, on `db`.
async fn signs_in_with_a_url_client_id(db: TestDb) {
    let documents = DocumentServer::start().await;
    let client_id = documents.document("/clients/app.json", serde_json::json!({}));
    let server = TestServer::start(&db, documents_on).await;

    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let metadata: serde_json::Value = reqwest::get(server.url(path))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            metadata["client_id_metadata_document_supported"], true,
            "{path}"
        );
    }

    let (challenge, verifier) = oauth2::PkceCodeChallenge::new_random_sha256();
    let (code, consent) = authorize(&server, &client_id, challenge.as_str()).await;
    // The verified host is the name; the self-asserted name is shown as such.
    let host = format!("127.0.0.1:{}", documents.port);
    assert!(
        consent.contains(&format!(
            "<strong class=\"client host\">{host}</strong> wants to access"
        )),
        "{consent}"
    );
    assert!(consent.contains("It calls itself <span class=\"client\">Example MCP Client</span>"));
    let token = redeem(&server, &client_id, &code, verifier.secret()).await;
    assert_eq!(token.status(), 200);
    let token: serde_json::Value = token.json().await.unwrap();
    assert!(token["access_token"].is_string(), "{token}");
    assert!(token["refresh_token"].is_string(), "{token}");

    // One fetch served the authorization request, the consent page and the token
    // request, and a second sign-in: no caching headers, kept five minutes.
    let (challenge, verifier) = oauth2::PkceCodeChallenge::new_random_sha256();
    let (code, _) = authorize(&server, &client_id, challenge.as_str()).await;
    assert_eq!(
        redeem(&server, &client_id, &code, verifier.secret())
            .await
            .status(),
        200
    );
    assert_eq!(documents.hits("/clients/app.json"), 1);
    let requests = documents.requests.lock().unwrap().clone();
    assert!(
        requests[0].1.contains("accept: application/json"),
        "{}",
        requests[0].1
    );
    db.drop_db().await;
}

#[tokio::test]
async fn a_no_store_document_is_fetched_again_for_each_request() {
    let documents = DocumentServer::start().await;
    let url = documents.url("/clients/fresh.json");
    let document = serde_json::json!({
        "client_id": url, "client_name": "Fresh", "redirect_uris": [CALLBACK],
    });
    documents.serve(
        "/clients/fresh.json",
        Reply::json(document).with_header("cache-control", "no-store"),
    );
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, documents_on).await;
    let (challenge, verifier) = oauth2::PkceCodeChallenge::new_random_sha256();
    let (code, _) = authorize(&server, &url, challenge.as_str()).await;
    let after_sign_in = documents.hits("/clients/fresh.json");
    assert!(after_sign_in >= 2, "{after_sign_in}");
    assert_eq!(
        redeem(&server, &url, &code, verifier.secret())
            .await
            .status(),
        200
    );
    assert!(documents.hits("/clients/fresh.json") > after_sign_in);
    db.drop_db().await;
}

#[tokio::test]
async fn a_document_with_max_age_is_kept_that_long_and_then_read_again() {
    let documents = DocumentServer::start().await;
    let url = documents.url("/clients/aged.json");
    let document = serde_json::json!({
        "client_id": url, "redirect_uris": [CALLBACK],
    });
    documents.serve(
        "/clients/aged.json",
        Reply::json(document).with_header("cache-control", "public, max-age=3600"),
    );
    let db = TestDb::sqlite();
    let store = seed(&db).await;
    let clock = Arc::new(portcullis_core::ManualClock::new(1_900_000_000));
    let server =
        TestServer::start_with_clock(&db, store.clone(), documents_on, clock.clone()).await;
    let (challenge, _) = oauth2::PkceCodeChallenge::new_random_sha256();
    let first = browser()
        .get(authorize_url(&server.base, &url, challenge.as_str()))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 303, "to the sign-in page");
    clock.advance(3599);
    browser()
        .get(authorize_url(&server.base, &url, challenge.as_str()))
        .send()
        .await
        .unwrap();
    assert_eq!(documents.hits("/clients/aged.json"), 1, "kept for max-age");
    let stored = store.get_client(&url).await.unwrap().unwrap();
    assert_eq!(stored.client_name, "Client at 127.0.0.1");
    // The document changes; the stored client follows once it is read again.
    let changed = serde_json::json!({
        "client_id": url, "client_name": "Renamed", "redirect_uris": [CALLBACK],
    });
    documents.serve("/clients/aged.json", Reply::json(changed));
    clock.advance(2);
    browser()
        .get(authorize_url(&server.base, &url, challenge.as_str()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        documents.hits("/clients/aged.json"),
        2,
        "fetched again after max-age"
    );
    let stored = store.get_client(&url).await.unwrap().unwrap();
    assert_eq!(stored.client_name, "Renamed");
    db.drop_db().await;
}

#[tokio::test]
async fn urls_that_are_not_client_id_urls_or_reach_special_use_addresses_are_refused() {
    let documents = DocumentServer::start().await;
    let path = "/clients/app.json";
    documents.document(path, serde_json::json!({}));
    let db = TestDb::sqlite();
    // The test CA is trusted, but no special-use address is allowed.
    let server = TestServer::start(&db, trusting_test_ca).await;
    let port = documents.port;
    for (client_id, words) in [
        (format!("https://127.0.0.1:{port}"), "must have a path"),
        (format!("https://127.0.0.1:{port}/"), "must have a path"),
        (format!("https://127.0.0.1:{port}{path}#f"), "fragment"),
        (
            format!("https://u:p@127.0.0.1:{port}{path}"),
            "user information",
        ),
        (format!("https://127.0.0.1:{port}/x/..{path}"), ". or .."),
        // Loopback, not allowed here.
        (format!("https://127.0.0.1:{port}{path}"), "special-use"),
        // Private and link-local addresses (the cloud metadata service).
        ("https://10.0.0.1/client.json".to_owned(), "special-use"),
        ("https://192.168.1.1/client.json".to_owned(), "special-use"),
        (
            "https://169.254.169.254/latest/meta-data/client.json".to_owned(),
            "special-use",
        ),
        ("https://[::1]/client.json".to_owned(), "special-use"),
        // A name that resolves to loopback: refused by the resolver, before connecting.
        (
            format!("https://localhost:{port}{path}"),
            "resolves only to",
        ),
    ] {
        let (status, page) = refused_at_authorize(&server, &client_id).await;
        assert_eq!(status, 400, "{client_id}");
        assert!(page.contains(words), "{client_id}: {page}");
        assert!(page.contains("client ID metadata document"), "{client_id}");
    }
    assert_eq!(
        documents.hits(path),
        0,
        "nothing reached the loopback server"
    );

    // http is never fetched, not even for an allowed address: such a client_id is
    // just an unknown client.
    let store = portcullis_sql::SqlStore::connect(&db.url()).await.unwrap();
    let allowed = TestServer::start_on(&db, store, documents_on).await;
    let (_, page) = refused_at_authorize(&allowed, &format!("http://127.0.0.1:{port}{path}")).await;
    assert!(page.contains("the client_id is not registered"), "{page}");
    assert_eq!(documents.hits(path), 0);
    db.drop_db().await;
}

#[tokio::test]
async fn unusable_documents_are_an_error_page_and_invalid_client_at_the_token_endpoint() {
    let documents = DocumentServer::start().await;
    documents.document("/target.json", serde_json::json!({}));
    let moved = documents.serve(
        "/moved.json",
        Reply {
            status: "302 Found",
            headers: vec![("location", documents.url("/target.json"))],
            body: String::new(),
        },
    );
    let big = documents.document(
        "/big.json",
        serde_json::json!({"client_uri": format!("https://app.example.com/{}", "a".repeat(6000))}),
    );
    let other = documents.serve(
        "/other.json",
        Reply::json(serde_json::json!({
            "client_id": documents.url("/someone-else.json"), "redirect_uris": [CALLBACK],
        })),
    );
    let secret_method = documents.document(
        "/basic.json",
        serde_json::json!({"token_endpoint_auth_method": "client_secret_basic"}),
    );
    let post_method = documents.document(
        "/post.json",
        serde_json::json!({"token_endpoint_auth_method": "client_secret_post"}),
    );
    let jwt_method = documents.document(
        "/jwt.json",
        serde_json::json!({"token_endpoint_auth_method": "client_secret_jwt"}),
    );
    let with_secret = documents.document(
        "/secret.json",
        serde_json::json!({"client_secret": "s3cret"}),
    );
    let secret_expiry = documents.document(
        "/expiry.json",
        serde_json::json!({"client_secret_expires_at": 0}),
    );
    let bad_redirect = documents.document(
        "/redirect-uri.json",
        serde_json::json!({"redirect_uris": ["javascript:alert(1)"]}),
    );
    let bad_scope = documents.document("/scope.json", serde_json::json!({"scope": "admin"}));
    let not_json = documents.serve(
        "/not-json.json",
        Reply {
            status: "200 OK",
            headers: Vec::new(),
            body: "<html>hello</html>".into(),
        },
    );
    let array = documents.serve("/array.json", Reply::json(serde_json::json!([1, 2])));
    let missing = documents.url("/missing.json");
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, documents_on).await;
    for (client_id, words) in [
        (&moved, "redirect, which is not followed"),
        (&big, "too large"),
        (&other, "names another client_id"),
        (&secret_method, "shared secret"),
        (&post_method, "shared secret"),
        (&jwt_method, "shared secret"),
        (&with_secret, "contains client_secret"),
        (&secret_expiry, "contains client_secret_expires_at"),
        (&bad_redirect, "redirect URI"),
        (&bad_scope, "admin"),
        (&not_json, "is not JSON"),
        (&array, "not a JSON object"),
        (&missing, "HTTP 404"),
    ] {
        let (status, page) = refused_at_authorize(&server, client_id).await;
        assert_eq!(status, 400, "{client_id}");
        assert!(page.contains(words), "{client_id}: {page}");
        let token = redeem(
            &server,
            client_id,
            "some-code",
            "some-verifier-some-verifier-some-verifier",
        )
        .await;
        assert_eq!(token.status(), 401, "{client_id}");
        let body: serde_json::Value = token.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client", "{client_id}");
    }
    assert_eq!(
        documents.hits("/target.json"),
        0,
        "the redirect was not followed"
    );
    // A refusal is answered again for a few seconds without fetching again.
    assert_eq!(documents.hits("/other.json"), 1);
    db.drop_db().await;
}

#[tokio::test]
async fn a_document_may_choose_private_key_jwt_with_its_keys() {
    let documents = DocumentServer::start().await;
    // RFC 7517 appendix A.1's P-256 public key.
    let jwks = serde_json::json!({"keys": [{
        "kty": "EC", "crv": "P-256", "use": "sig", "kid": "1",
        "x": "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4",
        "y": "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM",
    }]});
    let client_id = documents.document(
        "/clients/jwt.json",
        serde_json::json!({"token_endpoint_auth_method": "private_key_jwt", "jwks": jwks}),
    );
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, documents_on).await;
    let (challenge, _) = oauth2::PkceCodeChallenge::new_random_sha256();
    let response = browser()
        .get(authorize_url(&server.base, &client_id, challenge.as_str()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303, "{}", response.text().await.unwrap());
    assert!(location(&server.base, &response).contains("/login"));
    // Without an assertion it is not a public client at the token endpoint.
    let token = redeem(
        &server,
        &client_id,
        "some-code",
        "some-verifier-some-verifier-some-verifier",
    )
    .await;
    assert_eq!(token.status(), 401);
    db.drop_db().await;
}

#[tokio::test]
async fn a_server_that_does_not_answer_times_out() {
    // Accepts connections and never says a word.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            open.push(stream);
        }
    });
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, documents_on).await;
    let url = format!("https://127.0.0.1:{port}/client.json");
    let (status, page) = tokio::time::timeout(
        std::time::Duration::from_secs(15),
        refused_at_authorize(&server, &url),
    )
    .await
    .expect("the fetch gives up after its timeout");
    assert_eq!(status, 400);
    assert!(page.contains("timed out"), "{page}");
    db.drop_db().await;
}

#[tokio::test]
async fn a_certificate_not_trusted_is_refused_without_fetch_ca_file() {
    let documents = DocumentServer::start().await;
    let path = "/clients/app.json";
    let client_id = documents.document(path, serde_json::json!({}));
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, |config| {
        config.dynamic_registration.client_id_metadata_documents = true;
        config.http.fetch_allowed_addresses = vec!["127.0.0.1".into()];
    })
    .await;
    let (status, page) = refused_at_authorize(&server, &client_id).await;
    assert_eq!(status, 400);
    assert!(page.contains("cannot be fetched"), "{page}");
    assert!(page.to_lowercase().contains("certificate"), "{page}");
    assert_eq!(
        documents.hits(path),
        0,
        "no request was sent over the untrusted connection"
    );
    db.drop_db().await;
}

#[tokio::test]
async fn with_the_setting_off_a_url_client_id_is_an_unknown_client() {
    let documents = DocumentServer::start().await;
    let path = "/clients/app.json";
    let client_id = documents.document(path, serde_json::json!({}));
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, |config| {
        config.http.fetch_ca_file = Some(certificates().ca.clone());
        config.http.fetch_allowed_addresses = vec!["127.0.0.1".into()];
    })
    .await;
    let (_, page) = refused_at_authorize(&server, &client_id).await;
    assert!(page.contains("the client_id is not registered"), "{page}");
    assert!(!page.contains("client ID metadata document"), "{page}");
    let token = redeem(
        &server,
        &client_id,
        "code",
        "verifier-verifier-verifier-verifier-verifier",
    )
    .await;
    assert_eq!(token.status(), 401);
    assert_eq!(documents.hits(path), 0);
    let metadata: serde_json::Value =
        reqwest::get(server.url("/.well-known/oauth-authorization-server"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert!(metadata
        .get("client_id_metadata_document_supported")
        .is_none());

    // A client stored while the setting was on is not used once it is off.
    let store = portcullis_sql::SqlStore::connect(&db.url()).await.unwrap();
    let on = TestServer::start_on(&db, store.clone(), documents_on).await;
    let (challenge, _) = oauth2::PkceCodeChallenge::new_random_sha256();
    let response = browser()
        .get(authorize_url(&on.base, &client_id, challenge.as_str()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303, "to the sign-in page");
    assert!(
        store.get_client(&client_id).await.unwrap().is_some(),
        "stored"
    );
    let off = TestServer::start_on(&db, store, |config| {
        config.http.fetch_ca_file = Some(certificates().ca.clone());
        config.http.fetch_allowed_addresses = vec!["127.0.0.1".into()];
    })
    .await;
    let (_, page) = refused_at_authorize(&off, &client_id).await;
    assert!(page.contains("the client_id is not registered"), "{page}");
    assert_eq!(documents.hits(path), 1, "fetched only while on");
    db.drop_db().await;
}

#[tokio::test]
async fn an_ordinary_client_id_never_reaches_the_resolver() {
    let documents = DocumentServer::start().await;
    let db = TestDb::sqlite();
    let store = seed(&db).await;
    store
        .insert_client(&service_client("service", "service-secret"))
        .await
        .unwrap();
    let server = TestServer::start_on(&db, store, documents_on).await;
    let token = reqwest::Client::new()
        .post(server.url("/token"))
        .basic_auth("service", Some("service-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 200);
    assert!(documents.requests.lock().unwrap().is_empty());
    db.drop_db().await;
}

#[tokio::test]
async fn a_client_an_operator_registered_under_a_url_is_used_as_registered() {
    let documents = DocumentServer::start().await;
    let path = "/clients/registered.json";
    let client_id = documents.document(
        path,
        serde_json::json!({"client_name": "From the document"}),
    );
    let db = TestDb::sqlite();
    let store = seed(&db).await;
    store
        .insert_client(
            &portcullis_core::ClientRecord::new(client_id.as_str())
                .with_name("Registered by hand")
                .with_redirect_uris(vec![CALLBACK])
                .with_scope(portcullis_core::Scope::parse("profile").unwrap())
                .with_grant_types(vec!["authorization_code"])
                .with_response_types(vec!["code"])
                .with_auth_method("none"),
        )
        .await
        .unwrap();
    let server = TestServer::start_on(&db, store, documents_on).await;
    let (challenge, verifier) = oauth2::PkceCodeChallenge::new_random_sha256();
    let (code, consent) = authorize(&server, &client_id, challenge.as_str()).await;
    assert!(consent.contains("Registered by hand"), "{consent}");
    assert!(!consent.contains("It calls itself"), "{consent}");
    assert_eq!(
        redeem(&server, &client_id, &code, verifier.secret())
            .await
            .status(),
        200
    );
    assert_eq!(
        documents.hits(path),
        0,
        "nothing fetched for a registered client"
    );
    db.drop_db().await;
}

#[test]
fn a_missing_or_malformed_fetch_ca_file_stops_the_start() {
    let dir = std::env::temp_dir().join(format!("portcullis-cimd-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let check = |path: &Path| {
        let mut config = Config::default();
        config.http.fetch_ca_file = Some(path.to_owned());
        config.validate().unwrap_err().to_string()
    };
    let missing = check(&dir.join("nowhere.pem"));
    assert!(missing.contains("fetch_ca_file: cannot read"), "{missing}");
    let garbage = dir.join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    let error = check(&garbage);
    assert!(
        error.contains("fetch_ca_file") && error.contains("no PEM certificate"),
        "{error}"
    );
    let mut config = Config::default();
    config.http.fetch_ca_file = Some(certificates().ca.clone());
    config.validate().unwrap();
}

#[test]
fn the_settings_are_read_from_the_environment() {
    let config = Config::load(
        None,
        [
            (
                "PORTCULLIS_CLIENT_ID_METADATA_DOCUMENTS".to_owned(),
                "true".to_owned(),
            ),
            (
                "PORTCULLIS_FETCH_CA_FILE".to_owned(),
                "/etc/ca.pem".to_owned(),
            ),
        ],
    )
    .unwrap();
    assert!(config.dynamic_registration.client_id_metadata_documents);
    assert_eq!(
        config.http.fetch_ca_file.as_deref(),
        Some(Path::new("/etc/ca.pem"))
    );
    assert!(
        !Config::default()
            .dynamic_registration
            .client_id_metadata_documents
    );
    let error = Config::load(
        None,
        [(
            "PORTCULLIS_CLIENT_ID_METADATA_DOCUMENTS".to_owned(),
            "maybe".to_owned(),
        )],
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("PORTCULLIS_CLIENT_ID_METADATA_DOCUMENTS must be true or false"),
        "{error}"
    );
}
