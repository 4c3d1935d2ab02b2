//! Redirect URI registration and matching (RFC 6749 §3.1.2, RFC 9700 §4.1.3,
//! RFC 8252 §7.3).
//!
//! A requested redirect URI must equal a registered one character for character: no
//! prefix, substring or normalised comparison, so a query parameter, a trailing slash,
//! a change of case or a fragment all fail. The one exception is RFC 8252 §7.3: for a
//! native app's loopback IP redirect (`http://127.0.0.1` or `http://[::1]`) the port
//! may differ, because the app picks a free port at run time.
//!
//! `http://localhost` is a name, not an IP literal (RFC 8252 §8.3 advises against it),
//! so by default its port must match too. Many native and MCP clients register it
//! all the same; [`RedirectUriMatching::with_localhost_port_leeway`] lets its port
//! vary as well — only its port: the scheme `http`, the host `localhost`, the path and
//! the query stay exact.

/// Why a redirect URI cannot be registered. Each message names the URI (with control
/// characters escaped and at most 120 characters shown) and what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RedirectUriError {
    /// The URI is not an absolute URI.
    #[error("redirect URI '{0}' is not an absolute URI")]
    NotAbsolute(String),
    /// The URI's scheme runs code, reads files or shows browser internals
    /// (`javascript:`, `data:`, `vbscript:`, `file:`, `blob:`, `view-source:`, ...).
    #[error("redirect URI '{0}' uses a scheme that is never a valid redirect target")]
    Scheme(String),
    /// The URI has a fragment, which RFC 6749 §3.1.2 forbids.
    #[error("redirect URI '{0}' must not contain a fragment ('#')")]
    Fragment(String),
    /// The URI holds a character a URI may not contain as such (RFC 3986 §2): a
    /// control character (CR, LF, ...), a space, a backslash (which browsers read as
    /// `/`), a quote, `<`, `>`, or a non-ASCII character (percent-encode it).
    #[error("redirect URI '{0}' contains a character that is not allowed in a URI (control characters, spaces, backslashes, quotes, <, >, {{, }}, |, ^, ` or non-ASCII); percent-encode it")]
    Characters(String),
    /// The URI is longer than [`MAX_REDIRECT_URI_LEN`].
    #[error("redirect URI '{0}' is longer than 2000 characters")]
    TooLong(String),
    /// The URI has user information (`user@host`), which browsers show and follow in
    /// confusing ways (RFC 9700 §4.1).
    #[error("redirect URI '{0}' must not contain user information ('user@' before the host)")]
    Userinfo(String),
    /// Plain `http` to a host that is not the loopback interface (RFC 9700 §2.6,
    /// RFC 8252 §7.3).
    #[error("redirect URI '{0}' uses plain http for a host that is not 127.0.0.1, [::1] or localhost: use https")]
    PlainHttp(String),
    /// The port is 0, has a leading zero or is above 65535.
    #[error("redirect URI '{0}' has an invalid port: use 1 to 65535, without leading zeros")]
    Port(String),
    /// The URI already carries a parameter of the authorization response (`code`,
    /// `state`, `iss`, ...): the response would then carry it twice, the registered
    /// value first.
    #[error("redirect URI '{uri}' must not carry the '{name}' query parameter: the authorization response adds it")]
    ResponseParameter {
        /// The URI.
        uri: String,
        /// The parameter it carries.
        name: String,
    },
    /// A private-use scheme that is not a reverse domain name (RFC 8252 §7.1).
    #[error("redirect URI '{0}' uses a private-use scheme that is not a reverse domain name: use a scheme based on a domain you control, like com.example.app:/callback (RFC 8252 §7.1)")]
    PrivateUseScheme(String),
    /// An http or https URI without a host.
    #[error("redirect URI '{0}' has no host")]
    NoHost(String),
}

/// The longest redirect URI that may be registered.
pub const MAX_REDIRECT_URI_LEN: usize = 2000;

/// Parameters of an authorization response (RFC 6749 §4.1.2, §4.2.2, RFC 9207, OpenID
/// Connect Core §3.2.2.5): a redirect URI that already carries one would deliver it
/// twice.
const RESPONSE_PARAMETERS: &[&str] = &[
    "code",
    "state",
    "iss",
    "error",
    "error_description",
    "error_uri",
    "access_token",
    "token_type",
    "expires_in",
    "scope",
    "id_token",
    "refresh_token",
    "session_state",
];

/// Schemes that are never a redirect target, whatever the client: they run code, read
/// local data or show browser internals.
const DANGEROUS_SCHEMES: &[&str] = &[
    "javascript",
    "data",
    "vbscript",
    "file",
    "blob",
    "view-source",
    "feed",
    "about",
    "filesystem",
    "jar",
    "chrome",
    "chrome-extension",
    "moz-extension",
    "ms-browser-extension",
    "resource",
    "intent",
];

/// The URI as shown in an error message: control characters escaped, at most 120
/// characters, so that a hostile URI cannot forge log lines or flood a message.
fn shown(uri: &str) -> String {
    let mut out: String = uri
        .chars()
        .take(120)
        .flat_map(char::escape_default)
        .collect();
    if uri.chars().count() > 120 {
        out.push('…');
    }
    out
}

/// True for a character that may appear as such in a registered redirect URI: printable
/// ASCII except the ones RFC 3986 never allows unencoded.
fn is_uri_char(c: char) -> bool {
    c.is_ascii_graphic() && !matches!(c, '"' | '<' | '>' | '\\' | '^' | '`' | '{' | '|' | '}')
}

/// The authority of `uri` (between `scheme://` and the path), if it has one.
fn authority(uri: &str) -> Option<&str> {
    let (_, rest) = uri.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(&rest[..end])
}

/// The port written in an authority, as written (`None` when there is none).
fn written_port(authority: &str) -> Option<&str> {
    let host_end = if authority.starts_with('[') {
        authority.find(']').map_or(authority.len(), |i| i + 1)
    } else {
        authority.find(':').unwrap_or(authority.len())
    };
    authority[host_end..].strip_prefix(':')
}

/// True for a port written as 1 to 65535 without a leading zero.
fn is_valid_port(digits: &str) -> bool {
    !digits.is_empty()
        && !digits.starts_with('0')
        && digits.len() <= 5
        && digits.bytes().all(|b| b.is_ascii_digit())
        && digits
            .parse::<u32>()
            .is_ok_and(|port| (1..=65535).contains(&port))
}

/// The first authorization-response parameter the URI's query already carries.
fn response_parameter_in(url: &url::Url) -> Option<String> {
    url.query_pairs()
        .map(|(name, _)| name.into_owned())
        .find(|name| RESPONSE_PARAMETERS.contains(&name.as_str()))
}

/// Checks that `uri` may be registered as a redirect URI (RFC 6749 §3.1.2, RFC 9700
/// §2.1 and §4.1, RFC 8252 §7). This is the one check every registration path uses
/// (the CLI, and dynamic registration to come). It refuses:
///
/// - anything over [`MAX_REDIRECT_URI_LEN`], a fragment, and characters a URI may not
///   hold unencoded (CR, LF and every control character, spaces, `\`, quotes, non-ASCII);
/// - relative URIs, and `javascript:`, `data:`, `file:`, `blob:`, `view-source:`,
///   `feed:` and the other schemes that are never a redirect target;
/// - user information (`user@host`), and a port of 0, with a leading zero or above 65535;
/// - plain `http` unless the host is `127.0.0.1`, `[::1]` or `localhost`;
/// - a query that already carries a response parameter (`code`, `state`, `iss`, ...);
/// - private-use schemes that are not a reverse domain name (`com.example.app:`).
pub fn validate_redirect_uri(uri: &str) -> Result<(), RedirectUriError> {
    if uri.len() > MAX_REDIRECT_URI_LEN {
        return Err(RedirectUriError::TooLong(shown(uri)));
    }
    if !uri.chars().all(is_uri_char) {
        return Err(RedirectUriError::Characters(shown(uri)));
    }
    if uri.contains('#') {
        return Err(RedirectUriError::Fragment(shown(uri)));
    }
    if let Some(authority) = authority(uri) {
        if authority.contains('@') {
            return Err(RedirectUriError::Userinfo(shown(uri)));
        }
        if written_port(authority).is_some_and(|port| !is_valid_port(port)) {
            return Err(RedirectUriError::Port(shown(uri)));
        }
    }
    let parsed = url::Url::parse(uri).map_err(|_| RedirectUriError::NotAbsolute(shown(uri)))?;
    let scheme = parsed.scheme();
    if DANGEROUS_SCHEMES.contains(&scheme) {
        return Err(RedirectUriError::Scheme(shown(uri)));
    }
    match scheme {
        "http" | "https" => {
            // `https:///cb` parses as the host `cb`: the host must be written.
            if parsed.host_str().is_none_or(str::is_empty)
                || authority(uri).is_none_or(str::is_empty)
            {
                return Err(RedirectUriError::NoHost(shown(uri)));
            }
            if scheme == "http" && !is_loopback_host(&parsed) {
                return Err(RedirectUriError::PlainHttp(shown(uri)));
            }
        }
        // RFC 8252 §7.1: a private-use scheme is a reverse domain name.
        _ if !scheme.contains('.') => {
            return Err(RedirectUriError::PrivateUseScheme(shown(uri)));
        }
        _ => {}
    }
    if let Some(name) = response_parameter_in(&parsed) {
        return Err(RedirectUriError::ResponseParameter {
            uri: shown(uri),
            name,
        });
    }
    Ok(())
}

/// True when a redirect URI that matched a registration is also safe to send a
/// browser to: no control character or space (a `Location` header cannot carry
/// them, and the code would be minted and lost), no backslash and no user
/// information (browsers read `https://evil.example\@good.example/` as a URI of
/// `evil.example`), and no response parameter already in its query.
///
/// The authorization endpoint checks this as well as the registration, so that a
/// client registered before [`validate_redirect_uri`] existed, or by code that does not
/// call it, is never redirected to such a URI.
pub fn is_safe_redirect_target(uri: &str) -> bool {
    if uri.len() > MAX_REDIRECT_URI_LEN
        || uri
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
        || authority(uri).is_some_and(|a| a.contains('@'))
    {
        return false;
    }
    match url::Url::parse(uri) {
        Ok(url) => {
            !DANGEROUS_SCHEMES.contains(&url.scheme()) && response_parameter_in(&url).is_none()
        }
        Err(_) => false,
    }
}

fn is_loopback_host(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// How redirect URIs are matched beyond the exact rule, a server-wide choice
/// ([`AuthorizationServer::with_redirect_uri_matching`](crate::AuthorizationServer::with_redirect_uri_matching)).
/// The default is the strict one: exact, except for the port of a loopback IP literal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedirectUriMatching {
    /// `http://localhost` redirects may vary in port too. Off by default.
    pub localhost_port_leeway: bool,
}

impl RedirectUriMatching {
    /// The default: exact, except for the port of a loopback IP literal.
    pub fn new() -> Self {
        Self::default()
    }

    /// Lets an `http://localhost` redirect URI vary in port (and nothing else) from a
    /// registered `http://localhost` one, as loopback IP literals may (RFC 8252 §7.3):
    /// for the native and MCP clients that register `localhost`. Never for `https`,
    /// never for another host (`localhost.example` is another host).
    pub fn with_localhost_port_leeway(mut self, leeway: bool) -> Self {
        self.localhost_port_leeway = leeway;
        self
    }
}

/// True when the requested redirect URI matches the registered one: exactly, or — for
/// a loopback IP literal over plain HTTP — exactly except for the port.
pub fn redirect_uri_matches(registered: &str, requested: &str) -> bool {
    redirect_uri_matches_with(registered, requested, RedirectUriMatching::default())
}

/// Like [`redirect_uri_matches`], with `matching`'s leeway: with
/// [`localhost_port_leeway`](RedirectUriMatching::localhost_port_leeway),
/// `http://localhost` too may differ in port only.
pub fn redirect_uri_matches_with(
    registered: &str,
    requested: &str,
    matching: RedirectUriMatching,
) -> bool {
    if crate::secret::constant_time_eq(registered.as_bytes(), requested.as_bytes()) {
        return !requested.contains('#');
    }
    let localhost = matching.localhost_port_leeway;
    match (
        split_loopback(registered, localhost),
        split_loopback(requested, localhost),
    ) {
        (Some((host_a, rest_a)), Some((host_b, rest_b))) => {
            host_a == host_b && rest_a == rest_b && !requested.contains('#')
        }
        _ => false,
    }
}

/// Splits `http://LOOPBACK[:port]REST` into (LOOPBACK, REST); `localhost` counts when
/// `localhost` is true.
fn split_loopback(uri: &str, localhost: bool) -> Option<(&str, &str)> {
    let after_scheme = uri.strip_prefix("http://")?;
    let end = after_scheme
        .find(['/', '?', '#'])
        .unwrap_or(after_scheme.len());
    let (authority, rest) = after_scheme.split_at(end);
    let (host, port) = if let Some(stripped) = authority.strip_prefix("[::1]") {
        ("[::1]", stripped)
    } else if let Some(stripped) = authority.strip_prefix("127.0.0.1") {
        ("127.0.0.1", stripped)
    } else if let Some(stripped) = authority.strip_prefix("localhost").filter(|_| localhost) {
        ("localhost", stripped)
    } else {
        return None;
    };
    match port.strip_prefix(':') {
        None if port.is_empty() => Some((host, rest)),
        Some(digits) if is_valid_port(digits) => Some((host, rest)),
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
    fn localhost_port_leeway_is_opt_in_and_only_for_the_port() {
        let on = RedirectUriMatching::new().with_localhost_port_leeway(true);
        let off = RedirectUriMatching::new();
        for (registered, requested) in [
            ("http://localhost/cb", "http://localhost:51004/cb"),
            ("http://localhost:3000/cb", "http://localhost:51004/cb"),
            ("http://localhost:3000/cb?x=1", "http://localhost/cb?x=1"),
            ("http://localhost:3000", "http://localhost:4000"),
        ] {
            assert!(!redirect_uri_matches_with(registered, requested, off));
            assert!(redirect_uri_matches_with(registered, requested, on));
        }
        for (registered, requested) in [
            ("http://localhost:3000/cb", "http://localhost:51004/cb2"),
            ("http://localhost:3000/cb", "http://localhost:51004/cb?x=1"),
            ("http://localhost:3000/cb", "http://localhost:51004/CB"),
            (
                "http://localhost:3000/cb",
                "http://localhost.evil.example/cb",
            ),
            (
                "http://localhost:3000/cb",
                "http://localhost.evil.example:3000/cb",
            ),
            (
                "http://localhost:3000/cb",
                "http://localhost:3000@evil.example/cb",
            ),
            ("http://localhost:3000/cb", "http://localhost:0/cb"),
            ("http://localhost:3000/cb", "http://localhost:051004/cb"),
            ("http://localhost:3000/cb", "http://localhost:51004/cb#f"),
            ("http://localhost:3000/cb", "https://localhost:51004/cb"),
            ("https://localhost:3000/cb", "https://localhost:51004/cb"),
            ("http://localhost:3000/cb", "http://LOCALHOST:51004/cb"),
            ("http://localhost:3000/cb", "http://127.0.0.1:51004/cb"),
            ("http://127.0.0.1:3000/cb", "http://localhost:3000/cb"),
            (
                "http://localhost.evil.example/cb",
                "http://localhost.evil.example:1/cb",
            ),
        ] {
            assert!(
                !redirect_uri_matches_with(registered, requested, on),
                "{registered} {requested}"
            );
        }
        // The loopback IP literals keep their leeway either way.
        assert!(redirect_uri_matches_with(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:9/cb",
            on
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

    /// The probes of the outside review (issue 9, finding 12), each refused with its
    /// own reason.
    #[test]
    fn hostile_redirect_uris_are_refused_with_a_reason() {
        use RedirectUriError as E;
        type Expected = fn(&RedirectUriError) -> bool;
        let probes: &[(&str, Expected)] = &[
            ("https://app.example/cb\r\nSet-Cookie: x=1", |e| {
                matches!(e, E::Characters(_))
            }),
            ("https://app.example/cb\n", |e| {
                matches!(e, E::Characters(_))
            }),
            ("https://app.example/c b", |e| matches!(e, E::Characters(_))),
            ("https://app.example/cb\u{0}", |e| {
                matches!(e, E::Characters(_))
            }),
            ("https://evil.example\\@good.example/cb", |e| {
                matches!(e, E::Characters(_))
            }),
            ("https://app.example/caf\u{e9}", |e| {
                matches!(e, E::Characters(_))
            }),
            (
                "https://app.example/cb?code=attacker",
                |e| matches!(e, E::ResponseParameter { name, .. } if name == "code"),
            ),
            (
                "https://app.example/cb?x=1&state=s",
                |e| matches!(e, E::ResponseParameter { name, .. } if name == "state"),
            ),
            (
                "https://app.example/cb?iss=https://evil.example",
                |e| matches!(e, E::ResponseParameter { name, .. } if name == "iss"),
            ),
            ("https://app.example/cb?error=x", |e| {
                matches!(e, E::ResponseParameter { .. })
            }),
            ("https://user:pw@app.example/cb", |e| {
                matches!(e, E::Userinfo(_))
            }),
            ("https://good.example@evil.example/cb", |e| {
                matches!(e, E::Userinfo(_))
            }),
            ("https://@app.example/cb", |e| matches!(e, E::Userinfo(_))),
            ("http://app.example/cb", |e| matches!(e, E::PlainHttp(_))),
            ("http://127.0.0.1.evil.example/cb", |e| {
                matches!(e, E::PlainHttp(_))
            }),
            ("http://10.0.0.1/cb", |e| matches!(e, E::PlainHttp(_))),
            ("blob:https://app.example/uuid", |e| {
                matches!(e, E::Scheme(_))
            }),
            ("view-source:https://app.example/cb", |e| {
                matches!(e, E::Scheme(_))
            }),
            ("feed:javascript:alert(1)", |e| matches!(e, E::Scheme(_))),
            ("about:blank", |e| matches!(e, E::Scheme(_))),
            ("JavaScript:alert(1)", |e| matches!(e, E::Scheme(_))),
            ("http://127.0.0.1:0/cb", |e| matches!(e, E::Port(_))),
            ("http://127.0.0.1:09000/cb", |e| matches!(e, E::Port(_))),
            ("http://127.0.0.1:99999999/cb", |e| matches!(e, E::Port(_))),
            ("http://[::1]:65536/cb", |e| matches!(e, E::Port(_))),
            ("https://app.example:/cb", |e| matches!(e, E::Port(_))),
            ("myapp://callback", |e| matches!(e, E::PrivateUseScheme(_))),
            ("https:///cb", |e| {
                matches!(e, E::NotAbsolute(_) | E::NoHost(_))
            }),
        ];
        for (uri, expected) in probes {
            let error = validate_redirect_uri(uri).expect_err(uri);
            assert!(expected(&error), "{uri:?}: {error:?}");
            let message = error.to_string();
            assert!(
                !message.contains(['\r', '\n', '\0']),
                "the message escapes control characters: {message:?}"
            );
        }
        let long = format!("https://app.example/{}", "a".repeat(MAX_REDIRECT_URI_LEN));
        assert!(matches!(validate_redirect_uri(&long), Err(E::TooLong(_))));
        assert!(validate_redirect_uri(&long).unwrap_err().to_string().len() < 400);
    }

    #[test]
    fn ordinary_redirect_uris_are_accepted() {
        for uri in [
            "https://app.example/cb",
            "https://app.example:8443/cb?tenant=7",
            "https://app.example/cb;v=1,2",
            "http://127.0.0.1/cb",
            "http://127.0.0.1:51004/cb",
            "http://[::1]:65535/cb",
            "http://localhost:3000/callback",
            "com.example.app:/oauth2redirect",
            "com.example.app://callback/path",
        ] {
            assert_eq!(validate_redirect_uri(uri), Ok(()), "{uri}");
            assert!(is_safe_redirect_target(uri), "{uri}");
        }
    }

    #[test]
    fn unsafe_targets_are_refused_even_when_registered() {
        for uri in [
            "https://app.example/cb\r\nX: y",
            "https://evil.example\\@good.example/cb",
            "https://good.example@evil.example/cb",
            "https://app.example/cb?code=attacker",
            "javascript:alert(1)",
        ] {
            assert!(!is_safe_redirect_target(uri), "{uri:?}");
        }
        // Escaped as HTML on the form_post page, a quote is harmless at run time.
        assert!(is_safe_redirect_target("https://app.example/cb?x=\"1\""));
    }

    #[test]
    fn loopback_ports_are_1_to_65535_without_leading_zeros() {
        for port in ["0", "09000", "99999999", "65536", "", "+80", "8o"] {
            assert!(
                !redirect_uri_matches(
                    "http://127.0.0.1/cb",
                    &format!("http://127.0.0.1:{port}/cb")
                ),
                "port {port:?}"
            );
        }
        for port in ["1", "9000", "65535"] {
            assert!(redirect_uri_matches(
                "http://127.0.0.1/cb",
                &format!("http://127.0.0.1:{port}/cb")
            ));
        }
    }
}
