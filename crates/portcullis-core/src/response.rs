//! Responses the core sends: JSON with `Cache-Control: no-store` (RFC 6749 §5.1), and
//! authorization responses delivered to a redirect URI in the query, the fragment, or
//! an auto-submitted form (OAuth 2.0 Form Post Response Mode).
//!
//! This module depends on nothing but [`ResponseMode`], so that errors
//! ([`crate::error`]) and request parsing ([`crate::http`]) can both use it.

use bytes::Bytes;
use http::{header, HeaderValue, StatusCode};

use crate::response_mode::ResponseMode;

/// The response type the core answers with.
pub type OAuthResponse = http::Response<Bytes>;

/// A JSON response with `Cache-Control: no-store` and `Pragma: no-cache`
/// (RFC 6749 §5.1): every token-endpoint answer, success or error, carries them.
pub fn json_response(status: StatusCode, body: &impl serde::Serialize) -> OAuthResponse {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    no_store_response(status, "application/json", Bytes::from(bytes))
}

/// A response of `content_type` that no cache may keep (`Cache-Control: no-store`,
/// `Pragma: no-cache`): JSON answers, and signed ones such as RFC 9701's.
pub fn no_store_response(
    status: StatusCode,
    content_type: &'static str,
    body: Bytes,
) -> OAuthResponse {
    let mut response = http::Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// Delivers `params` to `uri` in the given response mode: a `302 Found` redirect with
/// them in the query or fragment (query parameters already in the URI are kept, RFC
/// 6749 §3.1.2), or a `200` HTML page that POSTs them there (form_post).
pub fn redirect_response(
    uri: &str,
    mode: ResponseMode,
    params: &[(&str, String)],
) -> OAuthResponse {
    redirect_with(uri, mode, params)
}

/// [`redirect_response`] for parameters of any string types.
pub(crate) fn redirect_with<N: AsRef<str>, V: AsRef<str>>(
    uri: &str,
    mode: ResponseMode,
    params: &[(N, V)],
) -> OAuthResponse {
    if mode == ResponseMode::FormPost {
        return form_post_response(uri, params);
    }
    let location = build_uri_with(uri, mode, params);
    let mut response = http::Response::new(Bytes::new());
    *response.status_mut() = StatusCode::FOUND;
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The redirect URI with `params` added to its query or fragment (form_post is
/// delivered in a body, not a URI: its parameters go in the query here).
pub fn build_redirect_uri(uri: &str, mode: ResponseMode, params: &[(&str, String)]) -> String {
    build_uri_with(uri, mode, params)
}

fn build_uri_with<N: AsRef<str>, V: AsRef<str>>(
    uri: &str,
    mode: ResponseMode,
    params: &[(N, V)],
) -> String {
    let mut encoded = form_urlencoded::Serializer::new(String::new());
    for (name, value) in params {
        encoded.append_pair(name.as_ref(), value.as_ref());
    }
    let encoded = encoded.finish();
    match mode {
        ResponseMode::Fragment => format!("{uri}#{encoded}"),
        ResponseMode::Query | ResponseMode::FormPost => {
            let separator = if uri.contains('?') { '&' } else { '?' };
            format!("{uri}{separator}{encoded}")
        }
    }
}

/// The one script of the form_post page; the page's CSP allows exactly this script.
const FORM_POST_SCRIPT: &str = "document.forms[0].submit();";

/// Escapes text for an HTML attribute value or text node.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// OAuth 2.0 Form Post Response Mode: an HTML page whose form POSTs `params` to `uri`.
/// A script submits it at once; without JavaScript the user presses Continue. The page
/// carries its own CSP: only that script runs, and the form may post only to `uri`.
fn form_post_response<N: AsRef<str>, V: AsRef<str>>(uri: &str, params: &[(N, V)]) -> OAuthResponse {
    use base64::Engine;
    use sha2::Digest;
    let inputs: String = params
        .iter()
        .map(|(name, value)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                html_escape(name.as_ref()),
                html_escape(value.as_ref())
            )
        })
        .collect();
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Returning to the application</title></head><body>\
         <form method=\"post\" action=\"{action}\">{inputs}\
         <noscript><p>JavaScript is turned off. Press Continue to return to the application.</p></noscript>\
         <button type=\"submit\">Continue</button></form>\
         <script>{FORM_POST_SCRIPT}</script></body></html>",
        action = html_escape(uri),
    );
    let script_hash = base64::engine::general_purpose::STANDARD
        .encode(sha2::Sha256::digest(FORM_POST_SCRIPT.as_bytes()));
    let form_action = form_action_source(uri);
    let csp = format!(
        "default-src 'none'; script-src 'sha256-{script_hash}'; form-action {form_action}; \
         base-uri 'none'; frame-ancestors 'none'"
    );
    let mut response = http::Response::new(Bytes::from(body));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(value) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}

/// A CSP source expression for the form's target: scheme, host, port and path for
/// http(s) URIs, the bare scheme for others (native apps' private-use schemes).
fn form_action_source(uri: &str) -> String {
    match url::Url::parse(uri) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => {
            let mut source = url.origin().ascii_serialization();
            // `;` and `,` delimit CSP directives and sources: percent-encode them, which
            // CSP path matching decodes again (removing them would name another path).
            source.push_str(&url.path().replace(';', "%3B").replace(',', "%2C"));
            source
        }
        Ok(url) => format!("{}:", url.scheme()),
        Err(_) => "'none'".to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn form_post_page_posts_escaped_params_and_allows_only_its_script() {
        let response = redirect_response(
            "https://app.example/cb",
            ResponseMode::FormPost,
            &[("code", "a\"b<c".into()), ("state", "s".into())],
        );
        assert_eq!(response.status(), StatusCode::OK);
        let body = std::str::from_utf8(response.body()).unwrap();
        assert!(body.contains("action=\"https://app.example/cb\""));
        assert!(body.contains("name=\"code\" value=\"a&quot;b&lt;c\""));
        assert!(body.contains("<noscript>") && body.contains("Continue"));
        let csp = response.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(csp.contains("script-src 'sha256-"), "{csp}");
        assert!(csp.contains("form-action https://app.example/cb"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    }

    #[test]
    fn redirect_keeps_existing_query() {
        let uri = build_redirect_uri(
            "https://a.example/cb?x=1",
            ResponseMode::Query,
            &[("code", "c d".into())],
        );
        assert_eq!(uri, "https://a.example/cb?x=1&code=c+d");
        let uri = build_redirect_uri(
            "https://a.example/cb",
            ResponseMode::Fragment,
            &[("access_token", "t".into())],
        );
        assert_eq!(uri, "https://a.example/cb#access_token=t");
    }
}
