//! Response modes (OAuth 2.0 Multiple Response Type Encoding Practices §2.1).
//!
//! How authorization-endpoint parameters travel back to the client: in the query of
//! the redirect URI (the default for `code`) or in its fragment (the default and only
//! mode for `token`).

use crate::error::OAuthError;

/// How authorization response parameters are delivered to the redirect URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMode {
    /// Parameters in the query component (`?code=...`).
    Query,
    /// Parameters in the fragment component (`#access_token=...`).
    Fragment,
}

impl ResponseMode {
    /// The mode's name as in the `response_mode` parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Query => "query",
            Self::Fragment => "fragment",
        }
    }

    /// Parses a `response_mode` parameter value.
    pub fn parse(value: &str) -> Result<Self, OAuthError> {
        match value {
            "query" => Ok(Self::Query),
            "fragment" => Ok(Self::Fragment),
            other => Err(OAuthError::invalid_request(format!(
                "response_mode '{}' is not supported; use 'query' or 'fragment'",
                other.chars().take(40).collect::<String>()
            ))),
        }
    }
}
