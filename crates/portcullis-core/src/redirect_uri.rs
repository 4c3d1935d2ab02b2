//! Redirect URI registration and matching (RFC 6749 §3.1.2, RFC 9700 §4.1.3,
//! RFC 8252 §7.3).
//!
//! A requested redirect URI must equal a registered one character for character: no
//! prefix, substring or normalised comparison, so a query parameter, a trailing slash,
//! a change of case or a fragment all fail. The one exception is RFC 8252 §7.3: for a
//! native app's loopback IP redirect (`http://127.0.0.1` or `http://[::1]`) the port
//! may differ, because the app picks a free port at run time.

/// Why a redirect URI cannot be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedirectUriError {
    /// The URI is not an absolute URI.
    #[error("redirect URI '{0}' is not an absolute URI")]
    NotAbsolute(String),
    /// The URI's scheme runs code or reads files in the browser (`javascript:`,
    /// `data:`, `vbscript:`, `file:`).
    #[error("redirect URI '{0}' uses a scheme that is never a valid redirect target")]
    Scheme(String),
    /// The URI has a fragment, which RFC 6749 §3.1.2 forbids.
    #[error("redirect URI '{0}' must not contain a fragment ('#')")]
    Fragment(String),
}

/// Checks that `uri` may be registered as a redirect URI: absolute, without fragment.
pub fn validate_redirect_uri(uri: &str) -> Result<(), RedirectUriError> {
    if uri.contains('#') {
        return Err(RedirectUriError::Fragment(uri.to_owned()));
    }
    match url::Url::parse(uri) {
        Ok(parsed) if matches!(parsed.scheme(), "javascript" | "data" | "vbscript" | "file") => {
            Err(RedirectUriError::Scheme(uri.to_owned()))
        }
        Ok(parsed) if !parsed.cannot_be_a_base() || parsed.scheme() != "http" => Ok(()),
        _ => Err(RedirectUriError::NotAbsolute(uri.to_owned())),
    }
}

/// True when the requested redirect URI matches the registered one: exactly, or — for
/// a loopback IP literal over plain HTTP — exactly except for the port.
pub fn redirect_uri_matches(registered: &str, requested: &str) -> bool {
    if crate::secret::constant_time_eq(registered.as_bytes(), requested.as_bytes()) {
        return !requested.contains('#');
    }
    match (split_loopback(registered), split_loopback(requested)) {
        (Some((host_a, rest_a)), Some((host_b, rest_b))) => {
            host_a == host_b && rest_a == rest_b && !requested.contains('#')
        }
        _ => false,
    }
}

/// Splits `http://LOOPBACK[:port]REST` into (LOOPBACK, REST).
fn split_loopback(uri: &str) -> Option<(&str, &str)> {
    let after_scheme = uri.strip_prefix("http://")?;
    let end = after_scheme
        .find(['/', '?', '#'])
        .unwrap_or(after_scheme.len());
    let (authority, rest) = after_scheme.split_at(end);
    let (host, port) = if let Some(stripped) = authority.strip_prefix("[::1]") {
        ("[::1]", stripped)
    } else if let Some(stripped) = authority.strip_prefix("127.0.0.1") {
        ("127.0.0.1", stripped)
    } else {
        return None;
    };
    match port.strip_prefix(':') {
        None if port.is_empty() => Some((host, rest)),
        Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
            Some((host, rest))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REGISTERED: &str = "https://app.example/callback";

    #[test]
    fn exact_match_only() {
        assert!(redirect_uri_matches(REGISTERED, REGISTERED));
        assert!(!redirect_uri_matches(
            REGISTERED,
            "https://app.example/callback?x=1"
        ));
        assert!(!redirect_uri_matches(
            REGISTERED,
            "https://app.example/callback/"
        ));
        assert!(!redirect_uri_matches(
            REGISTERED,
            "https://APP.example/callback"
        ));
        assert!(!redirect_uri_matches(
            REGISTERED,
            "https://app.example/Callback"
        ));
        assert!(!redirect_uri_matches(
            REGISTERED,
            "https://app.example/callback#f"
        ));
        assert!(!redirect_uri_matches(
            REGISTERED,
            "https://app.example/callbackx"
        ));
        assert!(!redirect_uri_matches(REGISTERED, "https://app.example/cal"));
    }

    #[test]
    fn loopback_port_may_vary() {
        assert!(redirect_uri_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:51004/cb"
        ));
        assert!(redirect_uri_matches(
            "http://[::1]:80/cb",
            "http://[::1]:9/cb"
        ));
        assert!(!redirect_uri_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:51004/cb2"
        ));
        assert!(!redirect_uri_matches(
            "http://127.0.0.1/cb",
            "http://[::1]:51004/cb"
        ));
        // `localhost` is a name, not a loopback IP literal: no port leeway (RFC 8252 §8.3).
        assert!(!redirect_uri_matches(
            "http://localhost/cb",
            "http://localhost:51004/cb"
        ));
        assert!(!redirect_uri_matches(
            "https://127.0.0.1/cb",
            "https://127.0.0.1:8443/cb"
        ));
        assert!(!redirect_uri_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1.evil.example/cb"
        ));
    }

    #[test]
    fn registration_rules() {
        assert!(validate_redirect_uri("https://app.example/cb").is_ok());
        assert!(validate_redirect_uri("com.example.app:/oauth2redirect").is_ok());
        assert_eq!(
            validate_redirect_uri("https://app.example/cb#x"),
            Err(RedirectUriError::Fragment(
                "https://app.example/cb#x".into()
            ))
        );
        assert!(validate_redirect_uri("/relative").is_err());
        for uri in [
            "javascript:alert(1)",
            "data:text/html,x",
            "vbscript:x",
            "file:///etc/passwd",
        ] {
            assert!(
                matches!(validate_redirect_uri(uri), Err(RedirectUriError::Scheme(_))),
                "{uri}"
            );
        }
    }
}
