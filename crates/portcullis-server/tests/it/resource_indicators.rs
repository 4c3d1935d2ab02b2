//! Resource indicators (RFC 8707) through `portcullis serve` on a real socket: an MCP
//! client asks for `resource=<the MCP server URL>` at the authorization and token
//! endpoints and gets a token usable only at that server.

use base64::Engine as _;
use oauth2::{CsrfToken, PkceCodeChallenge};
use portcullis_core::model::AllowedResources;
use serde_json::Value;

use crate::support::*;

/// The MCP server, registered as a resource server without the trailing slash.
const MCP: &str = "https://mcp.example.com";
const MCP_ID: &str = "mcp-server";
const MCP_SECRET: &str = "mcp-server-secret-5e0c1a7b93d2";
/// Another resource server.
const B: &str = "https://b.example/api";
const B_ID: &str = "b-server";
const B_SECRET: &str = "b-server-secret-8d2f6c0a41e7";
/// In the web app's own allow-list.
const OWN: &str = "https://own.example/reports";
const SERVICE_ID: &str = "batch-job";
const SERVICE_SECRET: &str = "batch-job-secret-2b7e9d1c05fa";

async fn register(db: &TestDb) -> portcullis_sql::SqlStore {
    let store = seed(db).await;
    for (id, secret, audience) in [(MCP_ID, MCP_SECRET, MCP), (B_ID, B_SECRET, B)] {
        let mut server = service_client(id, secret);
        server.resource_server_audience = Some(audience.into());
        store.insert_client(&server).await.unwrap();
    }
    store
        .insert_client(&service_client(SERVICE_ID, SERVICE_SECRET))
        .await
        .unwrap();
    let mut web = store.get_client(CLIENT_ID).await.unwrap().unwrap();
    web.metadata
        .extras
        .insert::<AllowedResources>(vec![OWN.to_owned()]);
    store.update_client(&web).await.unwrap();
    store
}

async fn start(db: &TestDb, tweak: impl FnOnce(&mut portcullis_server::Config)) -> TestServer {
    let store = register(db).await;
    TestServer::start_on(db, store, tweak).await
}

/// Signs in and consents to an authorization request with these `resource`s; returns
/// the code and the PKCE verifier.
async fn authorize(server: &TestServer, resources: &[&str]) -> (String, String) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let client = server.oauth_client();
    let mut request = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(oauth2::Scope::new("profile".into()))
        .set_pkce_challenge(challenge);
    for resource in resources {
        request = request.add_extra_param("resource", *resource);
    }
    let (url, _) = request.url();
    let browser = browser();
    let (page, _) = sign_in_from(&browser, &server.base, url.to_string(), USERNAME, PASSWORD).await;
    // The consent page the first time; a remembered consent goes straight back.
    let redirect = if page.status().is_redirection() {
        location(&server.base, &page)
    } else {
        let html = page.text().await.unwrap();
        // (The page escapes `/` as `&#x2f;`.)
        let shown = html.replace("&#x2f;", "/");
        for resource in resources {
            assert!(
                shown.contains(&format!("<code>{resource}</code>")),
                "the consent page names {resource}: {html}"
            );
        }
        let form = parse_form(&html);
        let response = submit(&browser, &server.base, &form, &[("decision", "allow")]).await;
        location(&server.base, &response)
    };
    assert!(redirect.starts_with(REDIRECT_URI), "{redirect}");
    let code = query(&redirect)
        .remove("code")
        .unwrap_or_else(|| panic!("no code in {redirect}"));
    (code, verifier.secret().clone())
}

/// POSTs `form` to the token endpoint as `client`; the status and the JSON body.
async fn token(server: &TestServer, client: (&str, &str), form: &[(&str, &str)]) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(server.url("/token"))
        .basic_auth(client.0, Some(client.1))
        .form(form)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn redeem(
    server: &TestServer,
    code: &str,
    verifier: &str,
    resources: &[&str],
) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", verifier),
    ];
    form.extend(resources.iter().map(|r| ("resource", *r)));
    token(server, (CLIENT_ID, CLIENT_SECRET), &form).await
}

async fn refresh(server: &TestServer, refresh_token: &str, resources: &[&str]) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ];
    form.extend(resources.iter().map(|r| ("resource", *r)));
    token(server, (CLIENT_ID, CLIENT_SECRET), &form).await
}

fn ok(answer: (u16, Value)) -> Value {
    assert_eq!(answer.0, 200, "{}", answer.1);
    answer.1
}

fn invalid_target(answer: (u16, Value)) {
    assert_eq!(answer.0, 400, "{}", answer.1);
    assert_eq!(answer.1["error"], "invalid_target", "{}", answer.1);
}

fn str_of<'a>(body: &'a Value, name: &str) -> &'a str {
    body[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} in {body}"))
}

/// The `aud` the resource server `as_client` is told at the introspection endpoint;
/// `None` when the token is not active for it.
async fn aud_at(server: &TestServer, as_client: (&str, &str), token: &str) -> Option<Value> {
    let answer = introspect_as(server, as_client.0, as_client.1, token).await;
    (answer["active"] == true).then(|| answer["aud"].clone())
}

fn jwt_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn an_mcp_clients_token_is_for_the_mcp_server_only() {
    let db = TestDb::sqlite();
    let server = start(&db, |c| c.tokens.access_token_format = "jwt".into()).await;
    // The MCP client sends the server's URL with the trailing slash on both requests.
    let (code, verifier) = authorize(&server, &["https://mcp.example.com/"]).await;
    let body = ok(redeem(&server, &code, &verifier, &["https://mcp.example.com/"]).await);
    let access = str_of(&body, "access_token");
    assert_eq!(
        jwt_claims(access)["aud"],
        MCP,
        "aud is the resource as registered"
    );
    assert_eq!(
        aud_at(&server, (MCP_ID, MCP_SECRET), access).await,
        Some(Value::from(MCP))
    );
    // Resource server B refuses it: inactive for B.
    assert_eq!(aud_at(&server, (B_ID, B_SECRET), access).await, None);
    db.drop_db().await;
}

#[tokio::test]
async fn two_resources_are_granted_and_token_and_refresh_requests_narrow_never_widen() {
    let db = TestDb::sqlite();
    let server = start(&db, |_| {}).await;
    let (code, verifier) = authorize(&server, &[MCP, OWN]).await;
    // The code remembers both: the token request narrows to one.
    let body = ok(redeem(&server, &code, &verifier, &[OWN]).await);
    let access = str_of(&body, "access_token");
    assert_eq!(
        aud_at(&server, (CLIENT_ID, CLIENT_SECRET), access).await,
        Some(Value::from(OWN))
    );
    assert_eq!(aud_at(&server, (MCP_ID, MCP_SECRET), access).await, None);
    // A refresh may ask for the other granted resource...
    let refreshed = ok(refresh(&server, str_of(&body, "refresh_token"), &[MCP]).await);
    let access = str_of(&refreshed, "access_token");
    assert_eq!(
        aud_at(&server, (MCP_ID, MCP_SECRET), access).await,
        Some(Value::from(MCP))
    );
    // ...but never one that was not granted (B is a registered resource server).
    let current = str_of(&refreshed, "refresh_token");
    invalid_target(refresh(&server, current, &[MCP, B]).await);
    // Without resource: the whole grant.
    let whole = ok(refresh(&server, current, &[]).await);
    assert_eq!(
        aud_at(
            &server,
            (CLIENT_ID, CLIENT_SECRET),
            str_of(&whole, "access_token")
        )
        .await,
        Some(serde_json::json!([MCP, OWN]))
    );

    // A token request for a resource the authorization did not grant.
    let (code, verifier) = authorize(&server, &[MCP]).await;
    invalid_target(redeem(&server, &code, &verifier, &[B]).await);
    // A malformed one at the token endpoint.
    let (code, verifier) = authorize(&server, &[MCP]).await;
    invalid_target(redeem(&server, &code, &verifier, &["https://mcp.example.com/#x"]).await);
    db.drop_db().await;
}

#[tokio::test]
async fn bad_resources_at_authorization_are_redirected_invalid_target_with_state_and_iss() {
    let db = TestDb::sqlite();
    let server = start(&db, |_| {}).await;
    for bad in [
        "/mcp",
        "https://mcp.example.com/#frag",
        "https://unregistered.example/",
    ] {
        let (challenge, _) = PkceCodeChallenge::new_random_sha256();
        let (url, state) = server
            .oauth_client()
            .authorize_url(CsrfToken::new_random)
            .add_scope(oauth2::Scope::new("profile".into()))
            .set_pkce_challenge(challenge)
            .add_extra_param("resource", MCP)
            .add_extra_param("resource", bad)
            .url();
        // Refused before any sign-in: straight back to the client.
        let response = browser().get(url.as_str()).send().await.unwrap();
        assert_eq!(response.status(), 302, "{bad}");
        let redirect = location(&server.base, &response);
        assert!(redirect.starts_with(REDIRECT_URI), "{redirect}");
        let params = query(&redirect);
        assert_eq!(params["error"], "invalid_target", "{bad}: {redirect}");
        assert_eq!(&params["state"], state.secret());
        assert_eq!(params["iss"], server.base);
    }
    db.drop_db().await;
}

#[tokio::test]
async fn client_credentials_resources_and_the_default_resource() {
    let db = TestDb::sqlite();
    let store = register(&db).await;
    let server = TestServer::start_on(&db, store.clone(), |c| {
        c.tokens.default_resource = Some("https://default.example/api".into());
    })
    .await;
    let service = (SERVICE_ID, SERVICE_SECRET);
    let body = ok(token(
        &server,
        service,
        &[
            ("grant_type", "client_credentials"),
            ("resource", "https://MCP.example.com"),
        ],
    )
    .await);
    let access = str_of(&body, "access_token");
    assert_eq!(
        aud_at(&server, (MCP_ID, MCP_SECRET), access).await,
        Some(Value::from(MCP))
    );
    assert_eq!(aud_at(&server, (B_ID, B_SECRET), access).await, None);
    // Neither a resource server's audience nor in this client's allow-list.
    invalid_target(
        token(
            &server,
            service,
            &[("grant_type", "client_credentials"), ("resource", OWN)],
        )
        .await,
    );
    invalid_target(
        token(
            &server,
            service,
            &[
                ("grant_type", "client_credentials"),
                ("resource", "relative"),
            ],
        )
        .await,
    );
    // No resource, no audience of its own: the default resource.
    let body = ok(token(&server, service, &[("grant_type", "client_credentials")]).await);
    assert_eq!(
        aud_at(&server, service, str_of(&body, "access_token")).await,
        Some(Value::from("https://default.example/api"))
    );
    // A client with an audience keeps it.
    // (Through the server's store, which drops its cached copy.)
    let mut client = store.get_client(SERVICE_ID).await.unwrap().unwrap();
    client.audience = vec!["reports-api".into()];
    store.update_client(&client).await.unwrap();
    let body = ok(token(&server, service, &[("grant_type", "client_credentials")]).await);
    assert_eq!(
        aud_at(&server, service, str_of(&body, "access_token")).await,
        Some(Value::from("reports-api"))
    );
    db.drop_db().await;
}

/// A remembered consent covers the scope and the resources consented with it: a user
/// who allowed the client for resource A goes straight back when it names A again (in
/// any spelling) or no resource, and is asked again when it names resource B (the
/// consent page lists B).
#[tokio::test]
async fn a_remembered_consent_covers_the_resources_consented_with_it() {
    let db = TestDb::sqlite();
    let server = start(&db, |_| {}).await;
    let consent_page = |resources: &'static [&'static str]| {
        let server = &server;
        async move {
            let (challenge, _) = PkceCodeChallenge::new_random_sha256();
            let client = server.oauth_client();
            let mut request = client
                .authorize_url(CsrfToken::new_random)
                .add_scope(oauth2::Scope::new("profile".into()))
                .set_pkce_challenge(challenge);
            for resource in resources {
                request = request.add_extra_param("resource", *resource);
            }
            let (url, _) = request.url();
            let (page, at) = sign_in_from(
                &browser(),
                &server.base,
                url.to_string(),
                USERNAME,
                PASSWORD,
            )
            .await;
            (page.status().as_u16(), at)
        }
    };
    // The first time, consent is asked, and given.
    authorize(&server, &[MCP]).await;
    // Naming no resource, or A again (with the slash a client adds): remembered.
    let (status, _) = consent_page(&[]).await;
    assert_eq!(status, 302, "no resource: straight back to the client");
    let (status, _) = consent_page(&["https://mcp.example.com/"]).await;
    assert_eq!(status, 302, "the resource consented to: straight back");
    // Naming a resource: asked again, the page lists it.
    let (status, at) = consent_page(&[B]).await;
    assert_eq!(status, 200, "asked again for {B}");
    assert!(at.contains("/consent?"), "{at}");
    db.drop_db().await;
}
