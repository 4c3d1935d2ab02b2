//! Issue 12: an issuer with a path (`http://127.0.0.1:PORT/auth`) serves every endpoint
//! under that path, both metadata documents at the path-inserted (RFC 8414 §3.1) and
//! the appended (OpenID Connect Discovery §4) locations, keeps its pages, redirects and
//! cookies under the path, and answers 404 to the root.

use std::process::Command;

use portcullis_core::{hash_secret, ClientRecord, Scope};
use serde_json::Value;

use crate::support::*;

const RP: &str = "path-rp";
const RP_SECRET: &str = "path-rp-secret-5c1e0b7d93a4";
const RP_REDIRECT: &str = "https://rp.example/callback";
const POST_LOGOUT: &str = "https://rp.example/signed-out";

/// The path of the issuer.
const PATH: &str = "/auth";

/// A server whose issuer is its address plus [`PATH`] (or `https://` and its address
/// plus the path when `https`), with the seeded user and an OpenID relying party.
/// Returns it and its issuer.
async fn path_issuer(db: &TestDb, https: bool) -> (TestServer, String) {
    let store = seed(db).await;
    let mut metadata = portcullis_core::ClientMetadata::new();
    metadata.post_logout_redirect_uris = vec![POST_LOGOUT.into()];
    store
        .insert_client(
            &ClientRecord::new(RP)
                .with_secret_hash(hash_secret(RP_SECRET))
                .with_name("Path RP")
                .with_redirect_uris(vec![RP_REDIRECT])
                .with_scope(Scope::parse("openid profile email").unwrap())
                .with_grant_types(vec!["authorization_code", "refresh_token"])
                .with_response_types(vec!["code"])
                .with_auth_method("client_secret_basic")
                .with_metadata(metadata),
        )
        .await
        .unwrap();
    let server = TestServer::start_on(db, store, |config| {
        let origin = config.http.issuer.clone().unwrap();
        let origin = if https {
            origin.replacen("http://", "https://", 1)
        } else {
            origin
        };
        config.http.issuer = Some(format!("{origin}{PATH}"));
    })
    .await;
    let issuer = if https {
        format!("{}{PATH}", server.base.replacen("http://", "https://", 1))
    } else {
        server.url(PATH)
    };
    (server, issuer)
}

/// The claims of a JWT, unverified.
fn claims_of(jwt: &str) -> Value {
    use base64::Engine as _;
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

/// The `href` values of a page, unescaped.
fn links(html: &str) -> Vec<String> {
    html.split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(|link| link.replace("&#x2f;", "/").replace("&amp;", "&"))
        .collect()
}

/// The `Set-Cookie` headers of a response.
fn set_cookies(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// `absolute` (`http://127.0.0.1:PORT/auth/x`) as a URL of `server`, which listens on
/// plain http even when the issuer says https.
fn on_server(server: &TestServer, absolute: &str) -> String {
    let url = url::Url::parse(absolute).unwrap();
    let mut path = url.path().to_owned();
    if let Some(query) = url.query() {
        path = format!("{path}?{query}");
    }
    server.url(&path)
}

/// The whole code flow with PKCE for an issuer with a path, driven only by what the
/// server advertises and links: metadata from the path-inserted location, the
/// authorization endpoint, the sign-in and consent pages followed by their own forms
/// and links (the stylesheet too), the token endpoint, the ID token's `iss`, UserInfo,
/// the JWK Set, introspection, revocation and the end-session endpoint.
async fn code_flow_under_the_path(db: TestDb) {
    let (server, issuer) = path_issuer(&db, false).await;
    let http = reqwest::Client::new();
    let metadata: Value = http
        .get(server.url(&format!("/.well-known/oauth-authorization-server{PATH}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["issuer"], issuer.as_str());
    for name in [
        "authorization_endpoint",
        "token_endpoint",
        "revocation_endpoint",
        "introspection_endpoint",
        "jwks_uri",
        "userinfo_endpoint",
        "end_session_endpoint",
    ] {
        let url = metadata[name].as_str().unwrap_or_else(|| panic!("{name}"));
        assert!(url.starts_with(&format!("{issuer}/")), "{name}: {url}");
    }
    let endpoint = |name: &str| metadata[name].as_str().unwrap().to_owned();

    // The authorization request, to the advertised endpoint.
    let (challenge, verifier) = oauth2::PkceCodeChallenge::new_random_sha256();
    let mut authorize = url::Url::parse(&endpoint("authorization_endpoint")).unwrap();
    authorize
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", RP)
        .append_pair("redirect_uri", RP_REDIRECT)
        .append_pair("scope", "openid email")
        .append_pair("state", "st-1")
        .append_pair("nonce", "n-1")
        .append_pair("code_challenge", challenge.as_str())
        .append_pair("code_challenge_method", "S256");
    let browser = browser();
    let response = browser.get(authorize.as_str()).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let login_url = location(&server.base, &response);
    assert!(
        login_url.starts_with(&format!("{issuer}/login?request_id=")),
        "{login_url}"
    );
    for cookie in set_cookies(&response) {
        assert!(cookie.contains("; Path=/auth;"), "{cookie}");
    }

    // The sign-in page: its stylesheet, its form and its cancel link are under the path.
    let page = browser.get(&login_url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let hrefs = links(&html);
    assert!(
        hrefs.contains(&format!("{PATH}/static/portcullis.css")),
        "{hrefs:?}"
    );
    assert!(
        hrefs
            .iter()
            .any(|h| h.starts_with(&format!("{PATH}/cancel?request_id="))),
        "{hrefs:?}"
    );
    let css = browser
        .get(server.url(&format!("{PATH}/static/portcullis.css")))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), 200);
    assert!(css.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
    let form = parse_form(&html);
    assert!(
        form.action
            .starts_with(&format!("{PATH}/login?request_id=")),
        "{}",
        form.action
    );
    let signed_in = submit(
        &browser,
        &server.base,
        &form,
        &[("username", USERNAME), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(signed_in.status(), 303);
    let session_cookie = set_cookies(&signed_in)
        .into_iter()
        .find(|c| c.starts_with("portcullis_session="))
        .expect("a session cookie");
    assert!(session_cookie.contains("; Path=/auth;"), "{session_cookie}");
    let consent_url = location(&server.base, &signed_in);
    assert!(
        consent_url.starts_with(&format!("{issuer}/consent?request_id=")),
        "{consent_url}"
    );

    // The consent page: its form and its "not you?" link are under the path.
    let page = browser.get(&consent_url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        links(&html)
            .iter()
            .any(|h| h.starts_with(&format!("{PATH}/login?request_id="))),
        "{html}"
    );
    let form = parse_form(&html);
    assert!(
        form.action
            .starts_with(&format!("{PATH}/consent?request_id=")),
        "{}",
        form.action
    );
    let allowed = submit(&browser, &server.base, &form, &[("decision", "allow")]).await;
    assert_eq!(allowed.status(), 302, "the core's redirect to the client");
    let callback = location(&server.base, &allowed);
    assert!(callback.starts_with(RP_REDIRECT), "{callback}");
    let params = query(&callback);
    assert_eq!(params["state"], "st-1");
    assert_eq!(params["iss"], issuer, "RFC 9207 iss is the issuer exactly");

    // The token endpoint, with the PKCE verifier.
    let tokens: Value = http
        .post(endpoint("token_endpoint"))
        .basic_auth(RP, Some(RP_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", params["code"].as_str()),
            ("redirect_uri", RP_REDIRECT),
            ("code_verifier", verifier.secret().as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access_token = tokens["access_token"].as_str().expect("an access token");
    let id_token = tokens["id_token"].as_str().expect("an ID token");
    let claims = claims_of(id_token);
    assert_eq!(claims["iss"], issuer.as_str());
    assert_eq!(claims["aud"], RP);
    assert_eq!(claims["nonce"], "n-1");

    // The JWK Set holds the key the ID token names.
    let jwks: Value = http
        .get(endpoint("jwks_uri"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header: Value = {
        use base64::Engine as _;
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(id_token.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap()
    };
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|key| key["kid"] == header["kid"]),
        "{jwks}"
    );

    // UserInfo.
    let userinfo: Value = http
        .get(endpoint("userinfo_endpoint"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(userinfo["sub"], claims["sub"]);
    assert_eq!(userinfo["email"], "alice@example.com");

    // Introspection, revocation, introspection again.
    let introspect = |token: String| {
        let http = http.clone();
        let url = endpoint("introspection_endpoint");
        async move {
            http.post(url)
                .basic_auth(RP, Some(RP_SECRET))
                .form(&[("token", token)])
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let active = introspect(access_token.to_owned()).await;
    assert_eq!(active["active"], true, "{active}");
    assert_eq!(active["client_id"], RP);
    if let Some(iss) = active.get("iss") {
        assert_eq!(iss, issuer.as_str());
    }
    let revoked = http
        .post(endpoint("revocation_endpoint"))
        .basic_auth(RP, Some(RP_SECRET))
        .form(&[("token", access_token)])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    assert_eq!(introspect(access_token.to_owned()).await["active"], false);

    // The end-session endpoint: with the ID token as hint, the session ends at once,
    // its cookie cleared on the issuer's path, and the browser returns to the client.
    let mut logout = url::Url::parse(&endpoint("end_session_endpoint")).unwrap();
    logout
        .query_pairs_mut()
        .append_pair("id_token_hint", id_token)
        .append_pair("post_logout_redirect_uri", POST_LOGOUT)
        .append_pair("state", "bye");
    let out = browser.get(logout.as_str()).send().await.unwrap();
    assert_eq!(out.status(), 303);
    assert_eq!(
        location(&server.base, &out),
        format!("{POST_LOGOUT}?state=bye")
    );
    let cleared = set_cookies(&out)
        .into_iter()
        .find(|c| c.starts_with("portcullis_session="))
        .expect("the session cookie is cleared");
    assert!(
        cleared.contains("Max-Age=0") && cleared.contains("; Path=/auth;"),
        "{cleared}"
    );
    db.drop_db().await;
}

#[tokio::test]
async fn code_flow_under_the_issuer_path_sqlite() {
    code_flow_under_the_path(TestDb::sqlite()).await;
}

#[tokio::test]
#[cfg_attr(not(pg_tests), ignore = "PORTCULLIS_TEST_POSTGRES_URL is not set")]
async fn code_flow_under_the_issuer_path_postgres() {
    code_flow_under_the_path(TestDb::postgres().await).await;
}

/// Both documents at both locations — RFC 8414's path-inserted
/// `/.well-known/oauth-authorization-server/auth` and the appended
/// `/auth/.well-known/oauth-authorization-server`; OpenID Connect Discovery's appended
/// `/auth/.well-known/openid-configuration` and the path-inserted
/// `/.well-known/openid-configuration/auth` — each with the issuer exactly as
/// configured; the root locations, which would be another issuer's, are 404.
#[tokio::test]
async fn both_documents_at_both_locations() {
    let db = TestDb::sqlite();
    let (server, issuer) = path_issuer(&db, false).await;
    let http = reqwest::Client::new();
    let mut documents = Vec::new();
    for path in [
        "/.well-known/oauth-authorization-server/auth",
        "/auth/.well-known/oauth-authorization-server",
        "/auth/.well-known/openid-configuration",
        "/.well-known/openid-configuration/auth",
    ] {
        let response = http.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(
            response.headers()["cache-control"],
            "public, max-age=300",
            "{path}"
        );
        let document: Value = response.json().await.unwrap();
        assert_eq!(document["issuer"], issuer.as_str(), "{path}");
        assert_eq!(
            document["token_endpoint"],
            format!("{issuer}/token"),
            "{path}"
        );
        documents.push(document);
    }
    assert!(documents.windows(2).all(|pair| pair[0] == pair[1]));
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server/other",
        "/.well-known/openid-configuration/auth/x",
        "/auth/.well-known/oauth-authorization-server/auth",
    ] {
        let response = http.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }
    db.drop_db().await;
}

/// With an issuer path, every endpoint is under it — the operational ones too
/// (`/auth/healthz`, `/auth/version`) — and the root paths answer 404.
#[tokio::test]
async fn root_paths_answer_404_and_everything_is_under_the_path() {
    let db = TestDb::sqlite();
    let (server, _) = path_issuer(&db, false).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for path in [
        "/",
        "/authorize",
        "/login",
        "/consent",
        "/cancel",
        "/logout",
        "/jwks",
        "/userinfo",
        "/healthz",
        "/version",
        "/static/portcullis.css",
        "/favicon.ico",
        "/authx/healthz",
    ] {
        let response = http.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 404, "GET {path}");
    }
    for path in ["/token", "/revoke", "/introspect"] {
        let response = http
            .post(server.url(path))
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "POST {path}");
    }
    for path in [
        "/auth",
        "/auth/",
        "/auth/healthz",
        "/auth/version",
        "/auth/jwks",
        "/auth/login",
        "/auth/logout",
        "/auth/static/portcullis.css",
    ] {
        let response = http.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "GET {path}");
    }
    let favicon = http
        .get(server.url("/auth/favicon.ico"))
        .send()
        .await
        .unwrap();
    assert_eq!(favicon.status(), 204);
    // A wrong client secret: the token endpoint answers under the path, as itself.
    let token = http
        .post(server.url("/auth/token"))
        .basic_auth(CLIENT_ID, Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 401);
    db.drop_db().await;
}

/// The home page links under the path; a sign-in without a pending request returns
/// to it (`/auth`, not `/`), and a `return_to` outside the path is not followed.
#[tokio::test]
async fn home_page_and_sign_in_redirects_stay_under_the_path() {
    let db = TestDb::sqlite();
    let (server, issuer) = path_issuer(&db, false).await;
    let browser = browser();
    let home = browser.get(server.url(PATH)).send().await.unwrap();
    let html = home.text().await.unwrap();
    assert!(html.replace("&#x2f;", "/").contains(&issuer), "{html}");
    let hrefs = links(&html);
    for expected in [
        "/auth/static/portcullis.css",
        "/auth/login",
        "/auth/.well-known/openid-configuration",
        "/auth/.well-known/oauth-authorization-server",
        "/auth/jwks",
    ] {
        assert!(
            hrefs.iter().any(|h| h == expected),
            "{expected} in {hrefs:?}"
        );
    }
    for (return_to, expected) in [
        (None, "/auth"),
        (Some("/elsewhere"), "/auth"),
        (Some("/auth/version"), "/auth/version"),
    ] {
        let browser = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let url = match return_to {
            Some(path) => server.url(&format!("{PATH}/login?return_to={path}")),
            None => server.url(&format!("{PATH}/login")),
        };
        let page = browser.get(url).send().await.unwrap();
        let form = parse_form(&page.text().await.unwrap());
        assert!(form.action.starts_with("/auth/login"), "{}", form.action);
        let response = submit(
            &browser,
            &server.base,
            &form,
            &[("username", USERNAME), ("password", PASSWORD)],
        )
        .await;
        assert_eq!(response.status(), 303);
        assert_eq!(response.headers()["location"], expected, "{return_to:?}");
        // Signed in, the home page offers to sign out, under the path; the
        // confirmation form posts there too.
        if return_to.is_none() {
            let home = browser.get(server.url(PATH)).send().await.unwrap();
            let hrefs = links(&home.text().await.unwrap());
            assert!(hrefs.iter().any(|h| h == "/auth/logout"), "{hrefs:?}");
            let page = browser
                .get(server.url("/auth/logout"))
                .send()
                .await
                .unwrap();
            let html = page.text().await.unwrap();
            let form = parse_form(&html);
            assert_eq!(form.action, "/auth/logout");
            let out = submit(&browser, &server.base, &form, &[]).await;
            assert_eq!(out.status(), 200);
            let html = out.text().await.unwrap();
            assert!(links(&html).iter().any(|h| h == "/auth/"), "{html}");
        }
    }
    // A relying party's form post to the end-session endpoint goes on as a GET under
    // the path.
    let post = browser
        .post(server.url("/auth/logout"))
        .form(&[("client_id", RP)])
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 303);
    assert_eq!(post.headers()["location"], "/auth/logout?client_id=path-rp");
    db.drop_db().await;
}

/// Over https, the session cookie is scoped to the issuer's path — so `__Secure-`,
/// since `__Host-` requires `Path=/` — while the sign-in form's and the browser
/// binding's cookies keep `__Host-` and `Path=/`, so no other host can plant them.
#[tokio::test]
async fn https_session_cookie_is_scoped_to_the_issuer_path() {
    let db = TestDb::sqlite();
    let (server, issuer) = path_issuer(&db, true).await;
    assert!(issuer.starts_with("https://"));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = http.get(server.url("/auth/login")).send().await.unwrap();
    let csrf = set_cookies(&page)
        .into_iter()
        .find(|c| c.starts_with("__Host-portcullis_login_csrf="))
        .expect("the sign-in form's cookie");
    assert!(
        csrf.contains("; Path=/;") && csrf.contains("; Secure"),
        "{csrf}"
    );
    let pair = csrf.split(';').next().unwrap().to_owned();
    let form = parse_form(&page.text().await.unwrap());
    let mut body = form.hidden.clone();
    body.push(("username".into(), USERNAME.into()));
    body.push(("password".into(), PASSWORD.into()));
    let signed_in = http
        .post(server.url(&form.action))
        .header("cookie", pair)
        .form(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303);
    assert_eq!(signed_in.headers()["location"], "/auth");
    let session = set_cookies(&signed_in)
        .into_iter()
        .find(|c| c.contains("portcullis_session="))
        .expect("a session cookie");
    assert!(
        session.starts_with("__Secure-portcullis_session=")
            && session.contains("; Path=/auth;")
            && session.contains("; Secure")
            && session.contains("HttpOnly"),
        "{session}"
    );
    // The browser binding of an authorization request.
    let authorize = http
        .get(on_server(
            &server,
            &format!(
                "{issuer}/authorize?response_type=code&client_id={RP}&redirect_uri={}\
                 &scope=openid&code_challenge={}&code_challenge_method=S256",
                url::form_urlencoded::byte_serialize(RP_REDIRECT.as_bytes()).collect::<String>(),
                portcullis_core::extensions::s256_challenge(
                    "a-verifier-of-more-than-43-characters-0123456789"
                )
            ),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(authorize.status(), 303);
    let binding = set_cookies(&authorize)
        .into_iter()
        .find(|c| c.starts_with("__Host-portcullis_request="))
        .expect("the binding cookie");
    assert!(binding.contains("; Path=/;"), "{binding}");
    db.drop_db().await;
}

/// `portcullis serve` refuses, before listening, an issuer with a query, a fragment,
/// a trailing `/` or a path that does not route as written, with one line saying why.
#[test]
fn serve_refuses_an_issuer_path_with_a_query_fragment_or_odd_path() {
    let db = TestDb::sqlite();
    for (issuer, why) in [
        (
            "https://auth.example.com/auth?tenant=1",
            "query or fragment",
        ),
        ("https://auth.example.com/auth#top", "query or fragment"),
        ("https://auth.example.com/auth?", "query or fragment"),
        ("https://auth.example.com/auth/", "must not end with '/'"),
        ("https://auth.example.com/a/../auth", "normal form"),
        ("https://auth.example.com/a//auth", "empty segment"),
        ("https://auth.example.com/{tenant}", "normal form"),
        ("https://auth.example.com/%7Btenant%7D", "letters, digits"),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args([
                "--database-url",
                &db.url(),
                "serve",
                "--bind",
                "127.0.0.1:0",
                "--issuer",
                issuer,
            ])
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        assert!(!output.status.success(), "{issuer} is refused");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line on stderr for {issuer}: {stderr}");
        assert!(
            lines[0].starts_with("error: ") && lines[0].contains(why),
            "{issuer}: expected '{why}' in {stderr}"
        );
    }
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(db.drop_db());
}

/// The configured logo is linked and served under the issuer's path.
#[tokio::test]
async fn the_logo_is_linked_and_served_under_the_path() {
    let db = TestDb::sqlite();
    let TestDb::Sqlite(db_path) = &db else {
        unreachable!()
    };
    let logo_path = db_path.with_file_name("logo.svg");
    let svg = r#"<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>"#;
    std::fs::write(&logo_path, svg).unwrap();
    let server = TestServer::start(&db, |config| {
        let origin = config.http.issuer.take().unwrap();
        config.http.issuer = Some(format!("{origin}{PATH}"));
        config.pages.logo = Some(logo_path.clone());
    })
    .await;
    let http = reqwest::Client::new();
    let home = http.get(server.url(PATH)).send().await.unwrap();
    let html = home.text().await.unwrap().replace("&#x2f;", "/");
    assert!(html.contains(r#"<img src="/auth/static/logo""#), "{html}");
    let logo = http
        .get(server.url("/auth/static/logo"))
        .send()
        .await
        .unwrap();
    assert_eq!(logo.status(), 200);
    assert_eq!(logo.text().await.unwrap(), svg);
    let root = http.get(server.url("/static/logo")).send().await.unwrap();
    assert_eq!(root.status(), 404);
    db.drop_db().await;
}
