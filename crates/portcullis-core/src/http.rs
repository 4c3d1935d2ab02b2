//! Adapters around the `http` crate types (RFC 6749 §3.1, §3.2).
//!
//! The core reads an [`OAuthRequest`] (`http::Request<Bytes>`) and answers an
//! [`OAuthResponse`] (`http::Response<Bytes>`); any web framework converts to and from
//! these in a few lines. [`Params`] parses query strings and form bodies under fixed
//! limits and rejects a parameter that appears twice (RFC 6749 §3.1).

use std::collections::BTreeMap;

use bytes::Bytes;
use http::{header, HeaderValue, Method, StatusCode};

use crate::error::OAuthError;
use crate::response_mode::ResponseMode;

/// The request type the core reads: an `http::Request` with its whole body.
pub type OAuthRequest = http::Request<Bytes>;
/// The response type the core answers with.
pub type OAuthResponse = http::Response<Bytes>;

/// The largest form body the core accepts (64 KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// The most parameters one request may carry.
pub const MAX_PARAMS: usize = 64;
/// The longest value a single parameter may have (8 KiB).
pub const MAX_PARAM_LEN: usize = 8 * 1024;

/// Request parameters with duplicates rejected and empty values treated as absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    values: BTreeMap<String, String>,
}

impl Params {
    /// Parses `application/x-www-form-urlencoded` text (a query string or a form body).
    pub fn parse(input: &[u8]) -> Result<Self, OAuthError> {
        let mut params = Self::default();
        params.extend_from(input)?;
        Ok(params)
    }

    /// Adds the parameters of `input`, rejecting any name already present.
    pub fn extend_from(&mut self, input: &[u8]) -> Result<(), OAuthError> {
        if input.len() > MAX_BODY_BYTES {
            return Err(OAuthError::invalid_request(
                "the request parameters are too large",
            ));
        }
        for (name, value) in form_urlencoded::parse(input) {
            if value.len() > MAX_PARAM_LEN || name.len() > 128 {
                return Err(OAuthError::invalid_request(format!(
                    "parameter '{}' is too long",
                    truncate(&name)
                )));
            }
            if self.values.len() >= MAX_PARAMS {
                return Err(OAuthError::invalid_request(
                    "the request has too many parameters",
                ));
            }
            if self.values.contains_key(name.as_ref()) {
                return Err(OAuthError::invalid_request(format!(
                    "parameter '{}' is included more than once",
                    truncate(&name)
                )));
            }
            self.values.insert(name.into_owned(), value.into_owned());
        }
        Ok(())
    }

    /// The parameters of a request's query string.
    pub fn from_query(request: &OAuthRequest) -> Result<Self, OAuthError> {
        Self::parse(request.uri().query().unwrap_or("").as_bytes())
    }

    /// The parameters of a request's form body; the body must be
    /// `application/x-www-form-urlencoded`.
    pub fn from_form(request: &OAuthRequest) -> Result<Self, OAuthError> {
        if !is_form(request) {
            return Err(OAuthError::invalid_request(
                "the request body must be application/x-www-form-urlencoded",
            ));
        }
        Self::parse(request.body())
    }

    /// Query parameters, plus form-body parameters on a form POST; a name present in
    /// both is a duplicate. Used by the authorization endpoint, which takes both.
    pub fn from_query_and_form(request: &OAuthRequest) -> Result<Self, OAuthError> {
        let mut params = Self::from_query(request)?;
        if request.method() == Method::POST && is_form(request) {
            params.extend_from(request.body())?;
        }
        Ok(params)
    }

    /// The value of `name`; an empty value counts as absent (RFC 6749 §3.1).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// The value of `name`, or `invalid_request` naming the missing parameter.
    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name).ok_or_else(|| {
            OAuthError::invalid_request(format!("the '{name}' parameter is required"))
        })
    }

    /// True when `name` is present with a non-empty value.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Every parameter, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

fn truncate(name: &str) -> String {
    name.chars().take(40).collect()
}

/// True when the request body is declared `application/x-www-form-urlencoded`.
pub fn is_form(request: &OAuthRequest) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            mime.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// A JSON response with `Cache-Control: no-store` and `Pragma: no-cache`
/// (RFC 6749 §5.1): every token-endpoint answer, success or error, carries them.
pub fn json_response(status: StatusCode, body: &impl serde::Serialize) -> OAuthResponse {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = http::Response::new(Bytes::from(bytes));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
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
    if mode == ResponseMode::FormPost {
        return form_post_response(uri, params);
    }
    let location = build_redirect_uri(uri, mode, params);
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
    let mut encoded = form_urlencoded::Serializer::new(String::new());
    for (name, value) in params {
        encoded.append_pair(name, value);
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
fn form_post_response(uri: &str, params: &[(&str, String)]) -> OAuthResponse {
    use base64::Engine;
    use sha2::Digest;
    let inputs: String = params
        .iter()
        .map(|(name, value)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                html_escape(name),
                html_escape(value)
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
    fn duplicate_parameter_is_invalid_request() {
        let error = Params::parse(b"a=1&b=2&a=3").unwrap_err();
        assert_eq!(error.code(), crate::ErrorCode::InvalidRequest);
        assert!(error.description().contains("'a'"));
    }

    #[test]
    fn empty_value_is_absent() {
        let params = Params::parse(b"scope=&state=x").unwrap();
        assert_eq!(params.get("scope"), None);
        assert_eq!(params.get("state"), Some("x"));
        assert!(params.require("scope").is_err());
    }

    #[test]
    fn too_many_parameters_rejected() {
        let body: Vec<String> = (0..=MAX_PARAMS).map(|i| format!("p{i}=v")).collect();
        assert!(Params::parse(body.join("&").as_bytes()).is_err());
    }

    #[test]
    fn query_and_form_duplicates_across_both() {
        let request = http::Request::post("/authorize?client_id=a")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Bytes::from_static(b"client_id=b"))
            .unwrap();
        assert!(Params::from_query_and_form(&request).is_err());
    }

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
