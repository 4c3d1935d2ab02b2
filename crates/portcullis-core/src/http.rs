//! Adapters around the `http` crate types (RFC 6749 §3.1, §3.2).
//!
//! The core reads an [`OAuthRequest`] (`http::Request<Bytes>`) and answers an
//! [`OAuthResponse`] (`http::Response<Bytes>`); any web framework converts to and from
//! these in a few lines. [`Params`] parses query strings and form bodies under fixed
//! limits and rejects a parameter that appears twice (RFC 6749 §3.1) — unless a spec
//! lets it repeat and the server declared it repeatable ([`Params::parse_allowing`]):
//! RFC 8707's `resource`, RFC 8693's `audience`.

use std::collections::BTreeMap;

use bytes::Bytes;
use http::{header, Method};

use crate::error::OAuthError;
pub use crate::response::{
    build_redirect_uri, html_escape, json_response, redirect_response, OAuthResponse,
};

/// The request type the core reads: an `http::Request` with its whole body.
pub type OAuthRequest = http::Request<Bytes>;

/// The largest form body the core accepts (64 KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// The most parameters one request may carry.
pub const MAX_PARAMS: usize = 64;
/// The longest value a single parameter may have (8 KiB).
pub const MAX_PARAM_LEN: usize = 8 * 1024;

/// Request parameters with duplicates rejected and empty values treated as absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    values: BTreeMap<String, Vec<String>>,
    count: usize,
}

impl Params {
    /// Parses `application/x-www-form-urlencoded` text (a query string or a form body).
    /// A parameter that appears twice is `invalid_request`.
    pub fn parse(input: &[u8]) -> Result<Self, OAuthError> {
        Self::parse_allowing(input, &[])
    }

    /// Like [`parse`](Self::parse), but the parameters named in `repeatable` may
    /// appear several times (their values in [`all`](Self::all)).
    pub fn parse_allowing(input: &[u8], repeatable: &[&str]) -> Result<Self, OAuthError> {
        let mut params = Self::default();
        params.extend_from(input, repeatable)?;
        Ok(params)
    }

    /// Adds the parameters of `input`, rejecting any name already present unless it is
    /// in `repeatable`.
    pub fn extend_from(&mut self, input: &[u8], repeatable: &[&str]) -> Result<(), OAuthError> {
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
            if self.count >= MAX_PARAMS {
                return Err(OAuthError::invalid_request(
                    "the request has too many parameters",
                ));
            }
            match self.values.get_mut(name.as_ref()) {
                Some(values) if repeatable.contains(&name.as_ref()) => {
                    values.push(value.into_owned());
                }
                Some(_) => {
                    return Err(OAuthError::invalid_request(format!(
                        "parameter '{}' is included more than once",
                        truncate(&name)
                    )));
                }
                None => {
                    self.values
                        .insert(name.into_owned(), vec![value.into_owned()]);
                }
            }
            self.count += 1;
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
        Self::from_form_allowing(request, &[])
    }

    /// Like [`from_form`](Self::from_form), with `repeatable` parameters.
    pub fn from_form_allowing(
        request: &OAuthRequest,
        repeatable: &[&str],
    ) -> Result<Self, OAuthError> {
        if !is_form(request) {
            return Err(OAuthError::invalid_request(
                "the request body must be application/x-www-form-urlencoded",
            ));
        }
        Self::parse_allowing(request.body(), repeatable)
    }

    /// Query parameters, plus form-body parameters on a form POST; a name present in
    /// both is a duplicate. Used by the authorization endpoint, which takes both.
    pub fn from_query_and_form(request: &OAuthRequest) -> Result<Self, OAuthError> {
        Self::from_query_and_form_allowing(request, &[])
    }

    /// Like [`from_query_and_form`](Self::from_query_and_form), with `repeatable`
    /// parameters.
    pub fn from_query_and_form_allowing(
        request: &OAuthRequest,
        repeatable: &[&str],
    ) -> Result<Self, OAuthError> {
        let mut params =
            Self::parse_allowing(request.uri().query().unwrap_or("").as_bytes(), repeatable)?;
        if request.method() == Method::POST && is_form(request) {
            params.extend_from(request.body(), repeatable)?;
        }
        Ok(params)
    }

    /// The value of `name` (the first, for a repeatable parameter sent several times);
    /// an empty value counts as absent (RFC 6749 §3.1).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .and_then(|values| values.first())
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// Every non-empty value of `name`, in the order sent.
    pub fn all(&self, name: &str) -> impl Iterator<Item = &str> {
        self.values
            .get(name)
            .into_iter()
            .flatten()
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

    /// Every parameter, in name order; a repeated one once per value.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values
            .iter()
            .flat_map(|(k, values)| values.iter().map(move |v| (k.as_str(), v.as_str())))
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
    fn declared_parameters_may_repeat_and_no_others() {
        let input = b"resource=https%3A%2F%2Fa.example&resource=https%3A%2F%2Fb.example&scope=x";
        let params = Params::parse_allowing(input, &["resource", "audience"]).unwrap();
        assert_eq!(
            params.all("resource").collect::<Vec<_>>(),
            ["https://a.example", "https://b.example"]
        );
        assert_eq!(params.get("resource"), Some("https://a.example"));
        assert_eq!(params.all("audience").count(), 0);
        let error =
            Params::parse_allowing(b"resource=a&scope=x&scope=y", &["resource"]).unwrap_err();
        assert!(error.description().contains("'scope'"), "{error}");
        assert!(Params::parse(input).is_err(), "not declared: a duplicate");
        // Repeats count against the parameter limit too.
        let many: Vec<String> = (0..=MAX_PARAMS).map(|_| "resource=r".to_owned()).collect();
        assert!(Params::parse_allowing(many.join("&").as_bytes(), &["resource"]).is_err());
    }
}
