//! Issue 13, item 3: `localhost_redirect_port_leeway = true` in `portcullis serve`'s
//! configuration file lets an `http://localhost` redirect URI vary in port (only the
//! port), as native and MCP clients send it; off by default.

use portcullis_core::{ClientRecord, Scope};

use crate::support::*;

const NATIVE_ID: &str = "mcp-native";
const REGISTERED: &str = "http://localhost:3000/callback";
const REQUESTED: &str = "http://localhost:51004/callback";

async fn register_native(db: &TestDb) {
    let store = seed(db).await;
    store
        .insert_client(
            &ClientRecord::new(NATIVE_ID)
                .with_name("MCP client")
                .with_redirect_uris(vec![REGISTERED])
                .with_scope(Scope::parse("profile").unwrap())
                .with_grant_types(vec!["authorization_code"])
                .with_response_types(vec!["code"])
                .with_auth_method("none"),
        )
        .await
        .unwrap();
}

/// `portcullis serve` on `db` with a configuration file holding `settings`.
async fn serve_with_file(db: &TestDb, settings: &str) -> (Instance, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "portcullis-leeway-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("portcullis.toml");
    std::fs::write(&file, settings).unwrap();
    let instance = spawn_instance_with(db, &[("PORTCULLIS_CONFIG", file.to_str().unwrap())]).await;
    (instance, dir)
}

fn authorize_url(base: &str, redirect_uri: &str, challenge: &str) -> String {
    let query: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("response_type", "code"),
            ("client_id", NATIVE_ID),
            ("redirect_uri", redirect_uri),
            ("scope", "profile"),
            ("state", "st-1"),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
        ])
        .finish();
    format!("{base}/authorize?{query}")
}

#[tokio::test]
async fn a_localhost_redirect_may_vary_in_port_when_configured() {
    let db = TestDb::sqlite();
    register_native(&db).await;
    let (instance, dir) = serve_with_file(&db, "localhost_redirect_port_leeway = true\n").await;
    let base = instance.base.clone();
    let (challenge, verifier) = oauth2::PkceCodeChallenge::new_random_sha256();
    let browser = browser();
    let (consent, _) = sign_in_from(
        &browser,
        &base,
        authorize_url(&base, REQUESTED, challenge.as_str()),
        USERNAME,
        PASSWORD,
    )
    .await;
    let form = parse_form(&consent.text().await.unwrap());
    let response = submit(&browser, &base, &form, &[("decision", "allow")]).await;
    let callback = location(&base, &response);
    assert!(callback.starts_with(&format!("{REQUESTED}?")), "{callback}");
    let params = query(&callback);
    assert_eq!(params["state"], "st-1");
    let token = reqwest::Client::new()
        .post(format!("{base}/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", NATIVE_ID),
            ("code", params["code"].as_str()),
            ("redirect_uri", REQUESTED),
            ("code_verifier", verifier.secret().as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 200, "{}", token.text().await.unwrap());

    // Only the port: another path, an https URI or another host are refused, on an
    // error page, never redirected to.
    for uri in [
        "http://localhost:51004/callback2",
        "https://localhost:51004/callback",
        "http://localhost.evil.example:3000/callback",
    ] {
        let (challenge, _) = oauth2::PkceCodeChallenge::new_random_sha256();
        let response = browser
            .get(authorize_url(&base, uri, challenge.as_str()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{uri}");
        assert!(response.headers().get("location").is_none(), "{uri}");
    }
    drop(instance);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_localhost_redirect_port_must_match_by_default() {
    let db = TestDb::sqlite();
    register_native(&db).await;
    let (instance, dir) = serve_with_file(&db, "localhost_redirect_port_leeway = false\n").await;
    let (challenge, _) = oauth2::PkceCodeChallenge::new_random_sha256();
    let response = browser()
        .get(authorize_url(&instance.base, REQUESTED, challenge.as_str()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());
    let page = response.text().await.unwrap();
    assert!(page.contains("redirect_uri"), "{page}");
    // The registered URI itself works.
    let (challenge, _) = oauth2::PkceCodeChallenge::new_random_sha256();
    let (page, url) = follow(
        &browser(),
        &instance.base,
        authorize_url(&instance.base, REGISTERED, challenge.as_str()),
    )
    .await;
    assert_eq!(page.status(), 200);
    assert!(url.contains("/login"), "{url}");
    drop(instance);
    let _ = std::fs::remove_dir_all(&dir);
}
