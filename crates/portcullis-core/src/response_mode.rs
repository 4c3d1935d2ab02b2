//! Response modes (OAuth 2.0 Multiple Response Type Encoding Practices §2.1).
//!
//! How authorization-endpoint parameters travel back to the client: in the query of
//! the redirect URI (the default for `code`), in its fragment (the default for
//! `token`), or as an auto-submitted HTML form POSTed to it (OAuth 2.0 Form Post
//! Response Mode).

/// How authorization response parameters are delivered to the redirect URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
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

    /// The mode a `response_mode` parameter value names, if any.
    pub fn from_name(value: &str) -> Option<Self> {
        match value {
            "query" => Some(Self::Query),
            "fragment" => Some(Self::Fragment),
            "form_post" => Some(Self::FormPost),
            _ => None,
        }
    }
}
