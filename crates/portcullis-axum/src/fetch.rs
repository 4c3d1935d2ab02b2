//! The one guard of everything the validators (and the server: a client's
//! `sector_identifier_uri`) fetch or post to: the URL check ([`check_url`]), an HTTP
//! client that follows no redirect and times out ([`client`]), a size-bounded body
//! read ([`read_body`]), and the three together ([`get_document`]).
//!
//! A URL a *client* registered (a `sector_identifier_uri`, a `backchannel_logout_uri`)
//! is fetched on someone else's behalf, so it goes further ([`AddressPolicy`],
//! [`guarded_client`], [`check_public_url`]): https only, and only to public
//! addresses — loopback, private, link-local, shared, documentation, multicast and the
//! other special-use ranges are refused ([`is_special_use`]), for an IP literal in the
//! URL and for every address a name resolves to. The resolver that checks the
//! addresses is the one the connection uses, so a name cannot resolve to a public
//! address for the check and a private one for the connection (DNS rebinding). No
//! proxy is used (it would resolve the name itself). A deployment whose relying parties
//! live on a private network, and the tests, name the addresses they allow.
//!
//! A redirect is never followed: for a `GET` it could lead anywhere the URL check
//! would refuse, and for the introspection `POST` a `307`/`308` would re-send the token
//! (and the resource server's credentials) to wherever it points.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// How long one request may take, connection included.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// A URL that may be fetched: `https`, or `http` to a loopback host (`localhost`,
/// `127.0.0.0/8`, `::1`), for development; no user information. The one check every
/// URL fetched by [`JwtValidator`](crate::jwt::JwtValidator) or posted to by
/// [`RemoteIntrospection`](crate::remote::RemoteIntrospection) goes through.
pub fn check_url(url: &str) -> Result<reqwest::Url, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("{url}: not a URL ({e})"))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(format!("{url}: a URL with credentials is not fetched"));
    }
    let host = parsed.host_str().filter(|host| !host.is_empty());
    let loopback = host.is_some_and(|host| {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        host.eq_ignore_ascii_case("localhost")
            || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    });
    match parsed.scheme() {
        "https" if host.is_some() => Ok(parsed),
        "http" if loopback => Ok(parsed),
        _ => Err(format!(
            "{url}: only https URLs are fetched (http only for a loopback host)"
        )),
    }
}

/// An HTTP client that follows no redirect and gives up after [`TIMEOUT`]. Its
/// failure to build is reported, never replaced by a default client (which would
/// follow redirects).
pub fn client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("the HTTP client cannot be built ({e})"))
}

/// The body of `response`, refused once it is over `limit` bytes — as soon as its
/// `Content-Length` announces more, or as soon as more has arrived.
pub async fn read_body(
    mut response: reqwest::Response,
    limit: usize,
    what: &str,
) -> Result<Vec<u8>, String> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(format!("{what}: the document is too large"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| format!("{what}: {e}"))? {
        if body.len() + chunk.len() > limit {
            return Err(format!("{what}: the document is too large"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The body of a `GET` of `url` (as [`check_url`] allows, answered `200`, redirects
/// not followed, within [`TIMEOUT`]), refused over `limit` bytes. Errors name the URL
/// and say what went wrong.
pub async fn get_document(url: &str, limit: usize) -> Result<Vec<u8>, String> {
    let checked = check_url(url)?;
    let response = client()?
        .get(checked)
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let status = response.status();
    if status != reqwest::StatusCode::OK {
        return Err(format!("{url}: HTTP {status}"));
    }
    read_body(response, limit, url).await
}

/// True for an address a fetch on a client's behalf must never reach: the special-use
/// ranges of the IANA IPv4 and IPv6 registries (RFC 6890) that are not globally
/// reachable — unspecified, loopback, private (RFC 1918, unique local), shared
/// (100.64/10), link-local (the cloud metadata address among them), documentation,
/// benchmarking, 6to4 relay, multicast, reserved and broadcast — and an IPv6 address
/// that embeds such an IPv4 address (IPv4-mapped, IPv4-compatible, NAT64 `64:ff9b::/96`).
pub fn is_special_use(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => special_v4(v4),
        IpAddr::V6(v6) => special_v6(v6),
    }
}

fn special_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    a == 0 // this network
        || a == 10 // private
        || (a == 100 && (64..=127).contains(&b)) // shared address space
        || a == 127 // loopback
        || (a == 169 && b == 254) // link-local, cloud metadata
        || (a == 172 && (16..=31).contains(&b)) // private
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // documentation
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 192 && b == 168) // private
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // documentation
        || (a == 203 && b == 0 && c == 113) // documentation
        || a >= 224 // multicast, reserved, broadcast
}

fn special_v6(ip: Ipv6Addr) -> bool {
    let segments = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return special_v4(v4);
    }
    // IPv4-compatible (deprecated) and NAT64 addresses carry an IPv4 address.
    let embedded = Ipv4Addr::new(
        (segments[6] >> 8) as u8,
        segments[6] as u8,
        (segments[7] >> 8) as u8,
        segments[7] as u8,
    );
    if segments[..6] == [0, 0, 0, 0, 0, 0] || segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return ip.is_unspecified() || ip.is_loopback() || special_v4(embedded);
    }
    (segments[0] & 0xfe00) == 0xfc00 // unique local
        || (segments[0] & 0xffc0) == 0xfe80 // link-local
        || (segments[0] & 0xff00) == 0xff00 // multicast
        || (segments[0] == 0x100 && segments[1..4] == [0, 0, 0]) // discard-only
        || (segments[0] == 0x2001 && segments[1] < 0x200) // IETF protocol assignments
        || (segments[0] == 0x2001 && segments[1] == 0xdb8) // documentation
        || segments[0] == 0x2002 // 6to4: the IPv4 address behind it is not checked
}

/// Which addresses a fetch on a client's behalf may connect to: public ones, and the
/// special-use ones named here (a test's loopback server, relying parties on a private
/// network) — and, for TLS, the certificate authorities trusted besides the system's
/// ([`with_ca_pem`](Self::with_ca_pem)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    allowed: Vec<IpAddr>,
    /// Extra root certificates, PEM (checked to hold at least one when set).
    ca_pem: Option<Arc<[u8]>>,
}

impl AddressPolicy {
    /// Public addresses only.
    pub fn public_only() -> Self {
        Self::default()
    }

    /// Public addresses and `addresses`.
    pub fn allowing(addresses: impl IntoIterator<Item = IpAddr>) -> Self {
        Self {
            allowed: addresses.into_iter().collect(),
            ca_pem: None,
        }
    }

    /// The same policy, also trusting the certificate authorities of `pem` (one or
    /// more PEM `CERTIFICATE` blocks) besides the system's: a private deployment's own
    /// CA, a test's. Refused when `pem` holds no certificate or a malformed one.
    pub fn with_ca_pem(mut self, pem: &[u8]) -> Result<Self, String> {
        let certificates = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| format!("not PEM certificates ({e})"))?;
        if certificates.is_empty() {
            return Err("no PEM certificate (-----BEGIN CERTIFICATE-----) in it".to_owned());
        }
        self.ca_pem = Some(Arc::from(pem));
        Ok(self)
    }

    /// True when a connection to `ip` is allowed.
    pub fn permits(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.allowed.contains(&ip) || !is_special_use(ip)
    }

    /// True when `ip` is one of the addresses named as allowed.
    fn names(&self, ip: IpAddr) -> bool {
        self.allowed.contains(&ip)
    }
}

/// A URL a client registered, checked before it is fetched or posted to: an absolute
/// `https` URL without user information — or `http` to an IP address `policy` names
/// (for tests and private networks) — whose host, when it is an IP address, `policy`
/// permits. Names are checked when they are resolved ([`guarded_client`]).
pub fn check_public_url(url: &str, policy: &AddressPolicy) -> Result<reqwest::Url, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("{url}: not a URL ({e})"))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(format!("{url}: a URL with credentials is not fetched"));
    }
    if !matches!(parsed.scheme(), "https" | "http") {
        return Err(format!(
            "{url}: only https URLs are fetched on a client's behalf"
        ));
    }
    let Some(host) = parsed.host_str().filter(|host| !host.is_empty()) else {
        return Err(format!("{url}: a URL without a host is not fetched"));
    };
    let literal = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .ok();
    match (parsed.scheme(), literal) {
        ("https", _) => {}
        ("http", Some(ip)) if policy.names(ip) => {}
        _ => {
            return Err(format!(
                "{url}: only https URLs are fetched on a client's behalf"
            ))
        }
    }
    if let Some(ip) = literal {
        if !policy.permits(ip) {
            return Err(format!(
                "{url}: {ip} is a loopback, private, link-local or other special-use \
                 address, which is not fetched on a client's behalf"
            ));
        }
    }
    Ok(parsed)
}

/// Resolves names for [`guarded_client`], keeping only the addresses its policy permits.
struct GuardedResolver {
    policy: AddressPolicy,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let permitted: Vec<SocketAddr> = resolved
                .iter()
                .copied()
                .filter(|address| policy.permits(address.ip()))
                .collect();
            if permitted.is_empty() {
                let error: Box<dyn std::error::Error + Send + Sync> = format!(
                    "{host} resolves only to loopback, private, link-local or other \
                     special-use addresses, which are not fetched on a client's behalf"
                )
                .into();
                return Err(error);
            }
            let addresses: reqwest::dns::Addrs = Box::new(permitted.into_iter());
            Ok(addresses)
        })
    }
}

/// An HTTP client for URLs a client registered: like [`client`] (no redirect, a
/// timeout), uses no proxy, and connects only to addresses `policy` permits, checked
/// on the very addresses it connects to. It trusts the system's certificate
/// authorities and those the policy adds ([`AddressPolicy::with_ca_pem`]).
pub fn guarded_client(policy: &AddressPolicy) -> Result<reqwest::Client, String> {
    guarded_client_with_timeout(policy, TIMEOUT)
}

/// [`guarded_client`] giving up after `timeout` instead of [`TIMEOUT`].
pub fn guarded_client_with_timeout(
    policy: &AddressPolicy,
    timeout: Duration,
) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(GuardedResolver {
            policy: policy.clone(),
        }));
    if let Some(pem) = &policy.ca_pem {
        let certificates = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| format!("the extra CA certificates cannot be read ({e})"))?;
        for certificate in certificates {
            builder = builder.add_root_certificate(certificate);
        }
    }
    builder
        .build()
        .map_err(|e| format!("the HTTP client cannot be built ({e})"))
}

/// [`get_document`] for a URL a client registered: [`check_public_url`] and
/// [`guarded_client`] under `policy`.
pub async fn get_public_document(
    url: &str,
    limit: usize,
    policy: &AddressPolicy,
) -> Result<Vec<u8>, String> {
    let checked = check_public_url(url, policy)?;
    let response = guarded_client(policy)?
        .get(checked)
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| format!("{url}: {}", describe(&e)))?;
    let status = response.status();
    if status != reqwest::StatusCode::OK {
        return Err(format!("{url}: HTTP {status}"));
    }
    read_body(response, limit, url).await
}

/// A form POSTed to a URL a client registered ([`check_public_url`],
/// [`guarded_client`] under `policy`): the answer's status.
pub async fn post_public_form(
    url: &str,
    form: &[(&str, &str)],
    policy: &AddressPolicy,
) -> Result<reqwest::StatusCode, String> {
    let checked = check_public_url(url, policy)?;
    let response = guarded_client(policy)?
        .post(checked)
        .form(form)
        .send()
        .await
        .map_err(|e| format!("{url}: {}", describe(&e)))?;
    Ok(response.status())
}

/// A request error in words, with its source (where the resolver's refusal is).
pub fn describe(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "cannot connect".to_owned()
    } else {
        "the request failed".to_owned()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_http_is_fetched() {
        for good in [
            "https://auth.example.com/jwks",
            "http://127.0.0.1:8080/jwks",
            "http://127.1.2.3/jwks",
            "http://[::1]:8080/jwks",
            "http://localhost/jwks",
            "http://LOCALHOST:99/introspect",
        ] {
            assert!(check_url(good).is_ok(), "{good}");
        }
        for bad in [
            "http://auth.example.com/jwks",
            "http://10.0.0.1/jwks",
            "http://[::2]/jwks",
            "http://localhost.example.com/jwks",
            "http://127.0.0.1.nip.io/jwks",
            "file:///etc/passwd",
            "gopher://127.0.0.1/",
            "https://user:pw@auth.example.com/jwks",
            "https://user@auth.example.com/jwks",
            "not a url",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn extra_certificate_authorities_must_be_pem_certificates() {
        let policy = AddressPolicy::public_only();
        for bad in [
            &b""[..],
            b"not a certificate",
            b"-----BEGIN CERTIFICATE-----\n!!!\n",
        ] {
            assert!(policy.clone().with_ca_pem(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_client_builds() {
        assert!(client().is_ok());
        assert!(guarded_client(&AddressPolicy::public_only()).is_ok());
    }

    #[test]
    fn special_use_addresses_are_recognised() {
        for special in [
            "0.0.0.0",
            "10.1.2.3",
            "100.64.0.1",
            "127.0.0.1",
            "127.8.9.10",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "2001:10::1",
            "2002:a00:1::1",
            "100::1",
        ] {
            let ip: IpAddr = special.parse().unwrap();
            assert!(is_special_use(ip), "{special} is special-use");
            assert!(!AddressPolicy::public_only().permits(ip), "{special}");
        }
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "192.169.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            let ip: IpAddr = public.parse().unwrap();
            assert!(!is_special_use(ip), "{public} is public");
        }
        let allowed = AddressPolicy::allowing(["127.0.0.1".parse().unwrap()]);
        assert!(allowed.permits("127.0.0.1".parse().unwrap()));
        assert!(allowed.permits("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!allowed.permits("127.0.0.2".parse().unwrap()));
        assert!(!allowed.permits("10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn a_clients_url_must_be_https_and_not_a_special_use_address() {
        let public = AddressPolicy::public_only();
        assert!(check_public_url("https://rp.example.com/sector.json", &public).is_ok());
        for (bad, words) in [
            ("http://rp.example.com/logout", "only https"),
            ("http://127.0.0.1:8080/logout", "only https"),
            ("https://127.0.0.1/logout", "special-use"),
            ("https://[::1]/logout", "special-use"),
            ("https://10.0.0.1/logout", "special-use"),
            ("https://169.254.169.254/latest/meta-data", "special-use"),
            ("https://[::ffff:192.168.0.1]/x", "special-use"),
            ("https://user:pw@rp.example.com/x", "credentials"),
            ("file:///etc/passwd", "only https"),
            ("not a url", "not a URL"),
        ] {
            let error = check_public_url(bad, &public).unwrap_err();
            assert!(error.contains(words), "{bad}: {error}");
        }
        // Allowed by name: http to that address too, for tests and private networks.
        let local = AddressPolicy::allowing(["127.0.0.1".parse().unwrap()]);
        assert!(check_public_url("http://127.0.0.1:9000/logout", &local).is_ok());
        assert!(check_public_url("https://127.0.0.1:9000/logout", &local).is_ok());
        assert!(check_public_url("http://localhost:9000/logout", &local).is_err());
        assert!(check_public_url("http://127.0.0.2:9000/logout", &local).is_err());
    }

    /// A loopback HTTP server answering every request with `status`, `location` and
    /// `body`: its port.
    async fn serve(status: &'static str, body: &'static str) -> u16 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buffer = [0u8; 4096];
                    let _ = stream.read(&mut buffer).await;
                    let response = format!(
                        "HTTP/1.1 {status}\r\nlocation: http://127.0.0.1/elsewhere\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                });
            }
        });
        port
    }

    #[tokio::test]
    async fn a_name_resolving_to_a_special_use_address_is_refused_before_connecting() {
        let port = serve("200 OK", "[]").await;
        // `localhost` resolves to loopback addresses only: refused by the resolver.
        let error = get_public_document(
            &format!("https://localhost:{port}/sector.json"),
            1024,
            &AddressPolicy::public_only(),
        )
        .await
        .unwrap_err();
        assert!(error.contains("resolves only to"), "{error}");
        let error = post_public_form(
            &format!("https://localhost:{port}/logout"),
            &[("logout_token", "x")],
            &AddressPolicy::public_only(),
        )
        .await
        .unwrap_err();
        assert!(error.contains("resolves only to"), "{error}");
    }

    #[tokio::test]
    async fn an_allowed_address_is_fetched_and_redirects_and_large_documents_are_refused() {
        let local = AddressPolicy::allowing(["127.0.0.1".parse().unwrap()]);
        let ok = serve("200 OK", "[\"https://rp.example/cb\"]").await;
        let body = get_public_document(&format!("http://127.0.0.1:{ok}/s.json"), 1024, &local)
            .await
            .unwrap();
        assert_eq!(body, b"[\"https://rp.example/cb\"]");
        let error = get_public_document(&format!("http://127.0.0.1:{ok}/s.json"), 4, &local)
            .await
            .unwrap_err();
        assert!(error.contains("too large"), "{error}");
        let status = post_public_form(
            &format!("http://127.0.0.1:{ok}/logout"),
            &[("a", "b")],
            &local,
        )
        .await
        .unwrap();
        assert_eq!(status, reqwest::StatusCode::OK);
        let moved = serve("302 Found", "").await;
        let error = get_public_document(&format!("http://127.0.0.1:{moved}/s.json"), 1024, &local)
            .await
            .unwrap_err();
        assert!(error.contains("HTTP 302"), "not followed: {error}");
    }
}
