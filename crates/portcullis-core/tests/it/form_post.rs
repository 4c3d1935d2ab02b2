//! The form_post response mode (OAuth 2.0 Form Post Response Mode).

use std::collections::{BTreeSet, HashMap};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::{header, StatusCode};
use portcullis_core::OAuthResponse;
use sha2::{Digest, Sha256};

use crate::support::*;

fn code_params<'a>(pkce: &'a PkcePair, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", CONF_ID),
        ("redirect_uri", CONF_REDIRECT),
        ("scope", "read"),
        ("state", STATE),
        ("code_challenge", &pkce.challenge),
        ("code_challenge_method", "S256"),
        ("response_mode", "form_post"),
    ];
    params.extend_from_slice(extra);
    params
}

fn implicit_params(mode: &str) -> Vec<(&str, &str)> {
    vec![
        ("response_type", "token"),
        ("client_id", CONF_ID),
        ("redirect_uri", CONF_REDIRECT),
        ("scope", "read"),
        ("state", STATE),
        ("response_mode", mode),
    ]
}

fn names(params: &HashMap<String, String>) -> BTreeSet<&str> {
    params.keys().map(String::as_str).collect()
}

/// The directives of the page's Content-Security-Policy, by name.
fn csp(response: &OAuthResponse) -> HashMap<String, String> {
    let policy = header_str(response, header::CONTENT_SECURITY_POLICY)
        .expect("a Content-Security-Policy header");
    policy
        .split(';')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| match d.split_once(' ') {
            Some((name, value)) => (name.to_owned(), value.trim().to_owned()),
            None => (d.to_owned(), String::new()),
        })
        .collect()
}

/// The text of the page's only inline script.
fn inline_script(html: &str) -> &str {
    assert_eq!(html.matches("<script").count(), 1, "{html}");
    let start = html.find("<script>").expect("a bare <script> tag") + "<script>".len();
    let len = html[start..].find("</script>").expect("a closed script");
    &html[start..start + len]
}

#[tokio::test]
async fn code_is_delivered_by_an_auto_submitting_page() {
    let ts = TestServer::new();
    let pkce = PkcePair::new();
    let response = ts
        .authorize_response(&code_params(&pkce, &[]), Some(USER))
        .await;
    assert_eq!(
        header_str(&response, header::CACHE_CONTROL),
        Some("no-store")
    );
    let page = form_post(&response);
    assert_eq!(page.action, CONF_REDIRECT);
    assert!(page.method.eq_ignore_ascii_case("post"), "{}", page.method);
    assert_eq!(
        names(&page.params),
        BTreeSet::from(["code", "state", "iss"])
    );
    assert!(!page.params["code"].is_empty());
    assert_eq!(page.params["state"], STATE);
    assert_eq!(page.params["iss"], ISSUER);
    // The script submits the form.
    assert!(
        inline_script(&page.html).contains("submit()"),
        "{}",
        page.html
    );
}

#[tokio::test]
async fn hidden_inputs_are_html_escaped() {
    let ts = TestServer::new();
    let pkce = PkcePair::new();
    let state = "\"><script>alert('x')</script>&amp;";
    let mut params = code_params(&pkce, &[]);
    params.retain(|(name, _)| *name != "state");
    params.push(("state", state));
    let response = ts.authorize_response(&params, Some(USER)).await;
    let page = form_post(&response);
    assert_eq!(page.params["state"], state);
    assert!(!page.html.contains("alert('x')"), "{}", page.html);
    assert!(
        page.html.contains(
            "value=\"&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;amp;\""
        ),
        "{}",
        page.html
    );
    // Still exactly one script: the page's own.
    inline_script(&page.html);
}

#[tokio::test]
async fn action_is_escaped_and_keeps_the_redirect_uris_query() {
    let redirect = "https://app.example/cb?tenant=a&x=\"1\"";
    let response = form_post_to_registered(redirect).await;
    let page = form_post(&response);
    assert_eq!(page.action, redirect);
    assert!(
        page.html
            .contains("action=\"https://app.example/cb?tenant=a&amp;x=&quot;1&quot;\""),
        "{}",
        page.html
    );
    // The CSP names the target's origin and path; the query is not part of a source.
    assert_eq!(csp(&response)["form-action"], "https://app.example/cb");
}

#[tokio::test]
async fn csp_allows_only_the_inline_script_and_posting_to_the_redirect_uri() {
    let ts = TestServer::new();
    let pkce = PkcePair::new();
    let response = ts
        .authorize_response(&code_params(&pkce, &[]), Some(USER))
        .await;
    let page = form_post(&response);
    let script = inline_script(&page.html);
    let hash = STANDARD.encode(Sha256::digest(script.as_bytes()));

    let directives = csp(&response);
    assert_eq!(directives["script-src"], format!("'sha256-{hash}'"));
    assert_eq!(directives["form-action"], CONF_REDIRECT);
    assert_eq!(directives["frame-ancestors"], "'none'");
    assert_eq!(directives["default-src"], "'none'");
    assert!(
        !directives["script-src"].contains("unsafe-inline"),
        "{directives:?}"
    );
}

#[tokio::test]
async fn csp_form_action_for_a_loopback_redirect_uri() {
    let ts = TestServer::new();
    let pkce = PkcePair::new();
    let response = ts
        .authorize_response(
            &[
                ("response_type", "code"),
                ("client_id", PUBLIC_ID),
                ("redirect_uri", PUBLIC_REDIRECT),
                ("state", STATE),
                ("code_challenge", &pkce.challenge),
                ("code_challenge_method", "S256"),
                ("response_mode", "form_post"),
            ],
            Some(USER),
        )
        .await;
    assert_eq!(form_post(&response).action, PUBLIC_REDIRECT);
    assert_eq!(csp(&response)["form-action"], PUBLIC_REDIRECT);
}

#[tokio::test]
async fn page_is_usable_without_javascript() {
    let ts = TestServer::new();
    let pkce = PkcePair::new();
    let response = ts
        .authorize_response(&code_params(&pkce, &[]), Some(USER))
        .await;
    let html = form_post(&response).html;

    let start = html.find("<noscript>").expect("a <noscript> element") + "<noscript>".len();
    let end = start
        + html[start..]
            .find("</noscript>")
            .expect("a closed noscript");
    let text: String = {
        // The noscript text without its tags.
        let mut text = String::new();
        let mut in_tag = false;
        for c in html[start..end].chars() {
            match c {
                '<' => in_tag = true,
                '>' => in_tag = false,
                c if !in_tag => text.push(c),
                _ => {}
            }
        }
        text
    };
    assert!(text.trim().len() > 10, "noscript text: {text:?}");

    // A visible submit button inside the form.
    let form = &html[html.find("<form").unwrap()..html.find("</form>").unwrap()];
    let at = form
        .find("<button type=\"submit\">")
        .or_else(|| form.find("<input type=\"submit\""))
        .unwrap_or_else(|| panic!("no submit control in the form: {form}"));
    let button = &form[at..];
    let label_start = button.find('>').unwrap() + 1;
    let label_end = button.find("</button>").unwrap_or(label_start);
    assert!(
        !button[label_start..label_end].trim().is_empty(),
        "the button has no label: {button}"
    );
    assert!(!button[..label_start].contains("hidden"), "{button}");
}

#[tokio::test]
async fn code_from_the_page_redeems_at_the_token_endpoint() {
    let ts = TestServer::new();
    let pkce = PkcePair::new();
    let response = ts
        .authorize_response(&code_params(&pkce, &[]), Some(USER))
        .await;
    let code = form_post(&response).params["code"].clone();
    let response = ts.redeem_conf(&code, &pkce.verifier).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        body_text(&response)
    );
    let access = field(&json(&response), "access_token").to_owned();
    let info = ts.validate(&access, "read").await.unwrap();
    assert_eq!(info.subject.as_deref(), Some(USER));
}

#[tokio::test]
async fn denial_is_delivered_by_the_page() {
    let ts = TestServer::new();
    let pkce = PkcePair::new();
    let error = ts
        .authorize(&authorize_request(&code_params(&pkce, &[])), None)
        .await
        .unwrap_err();
    assert!(error.is_redirect());
    let response = error.into_response();
    let page = form_post(&response);
    assert_eq!(page.action, CONF_REDIRECT);
    assert_eq!(
        names(&page.params),
        BTreeSet::from(["error", "error_description", "state", "iss"])
    );
    assert_eq!(page.params["error"], "access_denied");
    assert_eq!(page.params["state"], STATE);
    assert_eq!(page.params["iss"], ISSUER);
    let directives = csp(&response);
    let hash = STANDARD.encode(Sha256::digest(inline_script(&page.html).as_bytes()));
    assert_eq!(directives["script-src"], format!("'sha256-{hash}'"));
    assert_eq!(directives["form-action"], CONF_REDIRECT);
    assert!(ts.store().tokens().unwrap().is_empty());
}

#[tokio::test]
async fn validation_error_is_delivered_by_the_page() {
    let ts = TestServer::new();
    let pkce = PkcePair::new();
    let mut params = code_params(&pkce, &[]);
    params[3] = ("scope", "read admin");
    let response = ts.authorize_response(&params, Some(USER)).await;
    let page = form_post(&response);
    assert_eq!(page.params["error"], "invalid_scope");
    assert_eq!(page.params["state"], STATE);
    assert_eq!(page.params["iss"], ISSUER);
}

#[tokio::test]
async fn implicit_token_is_delivered_by_the_page() {
    let ts = TestServer::with_all_grants();
    let response = ts
        .authorize_response(&implicit_params("form_post"), Some(USER))
        .await;
    let page = form_post(&response);
    assert_eq!(page.action, CONF_REDIRECT);
    assert_eq!(page.params["token_type"], "Bearer");
    assert_eq!(page.params["expires_in"], "3600");
    assert_eq!(page.params["state"], STATE);
    assert_eq!(page.params["iss"], ISSUER);
    assert!(!page.params.contains_key("refresh_token"));
    let access = &page.params["access_token"];
    assert!(ts.is_active(access).await);
}

#[tokio::test]
async fn implicit_with_query_is_refused() {
    let ts = TestServer::with_all_grants();
    let error = ts
        .authorize(&authorize_request(&implicit_params("query")), Some(USER))
        .await
        .unwrap_err();
    assert!(error.is_redirect());
    assert_eq!(error.code().as_str(), "invalid_request");
    let (delivery, params) = delivered(&error.into_response());
    assert_eq!(delivery, Delivery::Fragment, "never the query: {params:?}");
    assert!(!params.contains_key("access_token"));
    assert!(ts.store().tokens().unwrap().is_empty());
}

#[tokio::test]
async fn unknown_response_mode_is_invalid_request() {
    let ts = TestServer::new();
    let pkce = PkcePair::new();
    let mut params = code_params(&pkce, &[]);
    params.retain(|(name, _)| *name != "response_mode");
    params.push(("response_mode", "web_message"));
    let found = ts
        .authorize_redirect_error(&params, "invalid_request")
        .await;
    assert_eq!(found.get("state").map(String::as_str), Some(STATE));
}

/// Percent-decodes a CSP source expression (CSP path matching compares decoded
/// segments).
/// The authorization response in `form_post` mode to `redirect`, after registering it
/// for the confidential client.
async fn form_post_to_registered(redirect: &str) -> OAuthResponse {
    let ts = TestServer::new();
    let mut client = confidential_client();
    client.redirect_uris.push(redirect.into());
    ts.add_client(client);
    let pkce = PkcePair::new();
    let mut params = code_params(&pkce, &[]);
    params[2] = ("redirect_uri", redirect);
    ts.authorize_response(&params, Some(USER)).await
}

fn percent_decoded(source: &str) -> String {
    form_urlencoded::parse(format!("x={}", source.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap()
}

#[tokio::test]
async fn csp_form_action_matches_a_path_with_semicolon_and_comma() {
    // `;` and `,` separate CSP directives and sources: the path must still name the
    // redirect URI (percent-encoded), or the browser blocks the form.
    let redirect = "https://app.example/cb;v=1,2";
    let response = form_post_to_registered(redirect).await;
    assert_eq!(form_post(&response).action, redirect);
    let directives = csp(&response);
    let source = &directives["form-action"];
    assert!(!source.contains([';', ',', ' ']), "{source}");
    assert_eq!(percent_decoded(source), redirect);
}
