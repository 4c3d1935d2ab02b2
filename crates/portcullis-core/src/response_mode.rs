//! Response modes (OAuth 2.0 Multiple Response Type Encoding Practices §2.1).
//!
//! How authorization-endpoint parameters travel back to the client: in the query of
//! the redirect URI (the default for `code`), in its fragment (the default for
//! `token`), or as an auto-submitted HTML form POSTed to it (OAuth 2.0 Form Post
//! Response Mode).

use crate::error::OAuthError;

/// How authorization response parameters are delivered to the redirect URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMode {
    /// Parameters in the query component (`?code=...`).
    Query,
    /// Parameters in the fragment component (`#access_token=...`).
    Fragment,
    /// Parameters POSTed to the redirect URI by an auto-submitting HTML form.
    FormPost,
}

impl ResponseMode {
    /// Every response mode.
    pub const ALL: [ResponseMode; 3] = [Self::Query, Self::Fragment, Self::FormPost];

    /// The mode's name as in the `response_mode` parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Query => "query",
            Self::Fragment => "fragment",
            Self::FormPost => "form_post",
        }
    }

    /// Parses a `response_mode` parameter value.
    pub fn parse(value: &str) -> Result<Self, OAuthError> {
        match value {
            "query" => Ok(Self::Query),
            "fragment" => Ok(Self::Fragment),
            "form_post" => Ok(Self::FormPost),
            other => Err(OAuthError::invalid_request(format!(
                "response_mode '{}' is not supported; use 'query', 'fragment' or 'form_post'",
                other.chars().take(40).collect::<String>()
            ))),
        }
    }
}
