//! Subject identifiers (OpenID Connect Core §8): the `sub` a client is told.
//!
//! A client is `public` (every client sees the user's local subject) unless it
//! registered `subject_type: pairwise` (Registration §2). A pairwise client sees, for
//! each user, a value computed from its *sector identifier*, the local subject and a
//! server secret (Core §8.1): clients of one sector see the same value, clients of
//! different sectors cannot correlate theirs, and nobody can recover the local
//! subject from it.
//!
//! The sector identifier is the host of the client's `sector_identifier_uri` when it
//! registered one, else the host its redirect URIs share (Core §8.1); a pairwise
//! client whose redirect URIs are on several hosts must register a
//! `sector_identifier_uri` ([`sector_identifier`] refuses it otherwise), a JSON array
//! of URIs containing every one of its redirect URIs (Registration §5,
//! [`check_sector_document`]).
//!
//! The computation lives in one place, [`Environment::subject_for`]
//! (configured with [`AuthorizationServer::with_pairwise_subjects`]): the ID token,
//! UserInfo and introspection answers all go through it.
//!
//! [`Environment::subject_for`]: crate::Environment::subject_for
//! [`AuthorizationServer::with_pairwise_subjects`]: crate::AuthorizationServer::with_pairwise_subjects

use std::fmt;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

/// `subject_type` of a client every client shares the user's subject with.
pub const PUBLIC: &str = "public";
/// `subject_type` of a client that gets a subject of its own sector.
pub const PAIRWISE: &str = "pairwise";
/// The shortest salt [`PairwiseSubjects::new`] takes: 128 bits.
pub const MIN_SALT_BYTES: usize = 16;

/// The pairwise subject computation (Core §8.1): SHA-256 over the sector identifier,
/// the local subject and a server secret (the salt), base64url-encoded. The salt must
/// be the same on every instance and for the life of the installation: changing it
/// changes every pairwise subject.
#[derive(Clone)]
pub struct PairwiseSubjects {
    salt: Arc<[u8]>,
}

impl fmt::Debug for PairwiseSubjects {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PairwiseSubjects").finish_non_exhaustive()
    }
}

/// A salt shorter than [`MIN_SALT_BYTES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a pairwise subject salt needs at least {MIN_SALT_BYTES} bytes")]
#[non_exhaustive]
pub struct WeakSalt;

impl PairwiseSubjects {
    /// Pairwise subjects salted with `salt` (a server secret of at least
    /// [`MIN_SALT_BYTES`] random bytes).
    pub fn new(salt: impl Into<Vec<u8>>) -> Result<Self, WeakSalt> {
        let salt = salt.into();
        if salt.len() < MIN_SALT_BYTES {
            return Err(WeakSalt);
        }
        Ok(Self { salt: salt.into() })
    }

    /// The pairwise subject of the user `local` for the sector `sector`: 43
    /// base64url characters. Each part is length-prefixed, so that no two
    /// (sector, subject) pairs hash the same input.
    pub fn subject(&self, sector: &str, local: &str) -> String {
        let mut hash = Sha256::new();
        for part in [sector.as_bytes(), local.as_bytes(), &self.salt] {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part);
        }
        URL_SAFE_NO_PAD.encode(hash.finalize())
    }
}

/// Why a client's sector identifier cannot be found, or its sector identifier
/// document does not fit its redirect URIs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SectorError {
    /// The `sector_identifier_uri` is not an `https` URL with a host.
    #[error("the sector_identifier_uri '{0}' must be an https URL with a host")]
    NotHttps(String),
    /// A redirect URI has no host to take the sector from.
    #[error("the redirect URI '{0}' has no host to take the sector identifier from")]
    NoHost(String),
    /// The redirect URIs are on several hosts and no `sector_identifier_uri` says
    /// which sector they belong to.
    #[error(
        "the redirect URIs are on several hosts ({}): a pairwise client needs a sector_identifier_uri",
        .0.join(", ")
    )]
    SeveralHosts(Vec<String>),
    /// No `sector_identifier_uri` and no redirect URI.
    #[error("a pairwise client needs a redirect URI or a sector_identifier_uri")]
    Nothing,
    /// The sector identifier document is not a JSON array of strings.
    #[error("the sector identifier document is not a JSON array of URIs")]
    NotAnArray,
    /// The sector identifier document lacks one of the client's redirect URIs.
    #[error("the sector identifier document does not list the redirect URI '{0}'")]
    MissingRedirectUri(String),
}

/// The host of `uri`, lower case, if it has one.
fn host_of(uri: &str) -> Option<String> {
    let parsed = url::Url::parse(uri).ok()?;
    parsed
        .host_str()
        .filter(|host| !host.is_empty())
        .map(str::to_ascii_lowercase)
}

/// Checks that `uri` may be a `sector_identifier_uri`: an `https` URL with a host
/// (Registration §2) — or, for development, `http` to a loopback host (`localhost`,
/// `127.0.0.0/8`, `::1`), as the server's fetch guard allows — without user
/// information, and returns that host.
pub fn sector_identifier_uri_host(uri: &str) -> Result<String, SectorError> {
    let refused = || SectorError::NotHttps(uri.to_owned());
    let parsed = url::Url::parse(uri).map_err(|_| refused())?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(refused());
    }
    let loopback = match parsed.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match parsed.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => return Err(refused()),
    }
    host_of(uri).ok_or_else(refused)
}

/// The sector identifier (Core §8.1) of a client that registered
/// `sector_identifier_uri` (its host) and `redirect_uris` (their one host, when it
/// registered no `sector_identifier_uri`).
pub fn sector_identifier(
    sector_identifier_uri: Option<&str>,
    redirect_uris: &[String],
) -> Result<String, SectorError> {
    if let Some(uri) = sector_identifier_uri {
        return sector_identifier_uri_host(uri);
    }
    let mut hosts: Vec<String> = Vec::new();
    for uri in redirect_uris {
        let host = host_of(uri).ok_or_else(|| SectorError::NoHost(uri.clone()))?;
        if !hosts.contains(&host) {
            hosts.push(host);
        }
    }
    match hosts.len() {
        0 => Err(SectorError::Nothing),
        1 => Ok(hosts.remove(0)),
        _ => Err(SectorError::SeveralHosts(hosts)),
    }
}

/// Checks a sector identifier document (Registration §5): a JSON array of URIs that
/// lists every one of `redirect_uris`, compared exactly.
pub fn check_sector_document(document: &[u8], redirect_uris: &[String]) -> Result<(), SectorError> {
    let listed: Vec<String> =
        serde_json::from_slice(document).map_err(|_| SectorError::NotAnArray)?;
    match redirect_uris.iter().find(|uri| !listed.contains(uri)) {
        Some(missing) => Err(SectorError::MissingRedirectUri(missing.clone())),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uris(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn the_pairwise_subject_depends_on_sector_subject_and_salt() {
        let one = PairwiseSubjects::new([1u8; 16]).unwrap();
        let other = PairwiseSubjects::new([2u8; 16]).unwrap();
        let sub = one.subject("rp.example", "alice");
        assert_eq!(sub.len(), 43);
        assert_eq!(sub, one.subject("rp.example", "alice"), "stable");
        assert_ne!(sub, one.subject("other.example", "alice"));
        assert_ne!(sub, one.subject("rp.example", "bob"));
        assert_ne!(sub, other.subject("rp.example", "alice"), "salted");
        // Length prefixes: moving a character from the sector to the subject changes it.
        assert_ne!(one.subject("ab", "c"), one.subject("a", "bc"));
        assert_eq!(PairwiseSubjects::new([0u8; 15]).unwrap_err(), WeakSalt);
        assert_eq!(
            format!("{one:?}"),
            "PairwiseSubjects { .. }",
            "no salt in logs"
        );
    }

    #[test]
    fn the_sector_is_the_sector_uris_host_or_the_one_redirect_host() {
        let two_hosts = uris(&["https://a.example/cb", "https://B.example/cb"]);
        assert_eq!(
            sector_identifier(Some("https://Sector.example/s.json"), &two_hosts),
            Ok("sector.example".to_owned())
        );
        assert_eq!(
            sector_identifier(
                None,
                &uris(&["https://a.example/1", "https://A.example:8443/2"])
            ),
            Ok("a.example".to_owned()),
            "the host, whatever the port or path"
        );
        assert_eq!(
            sector_identifier(None, &two_hosts),
            Err(SectorError::SeveralHosts(uris(&["a.example", "b.example"])))
        );
        assert_eq!(sector_identifier(None, &[]), Err(SectorError::Nothing));
        assert!(matches!(
            sector_identifier(None, &uris(&["com.example.app:/cb"])),
            Err(SectorError::NoHost(_))
        ));
        assert_eq!(
            sector_identifier(Some("http://127.0.0.1:8080/s.json"), &two_hosts),
            Ok("127.0.0.1".to_owned()),
            "http to a loopback host, for development, as the fetch guard allows"
        );
        for bad in [
            "http://sector.example/s.json",
            "http://10.0.0.1/s.json",
            "https://user:pw@sector.example/s.json",
            "not a url",
            "ftp://sector.example/s.json",
        ] {
            assert!(
                matches!(
                    sector_identifier(Some(bad), &two_hosts),
                    Err(SectorError::NotHttps(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_sector_document_must_list_every_redirect_uri() {
        let redirects = uris(&["https://a.example/cb", "https://b.example/cb"]);
        let all = br#"["https://a.example/cb", "https://b.example/cb", "https://c.example/cb"]"#;
        assert_eq!(check_sector_document(all, &redirects), Ok(()));
        assert_eq!(
            check_sector_document(br#"["https://a.example/cb"]"#, &redirects),
            Err(SectorError::MissingRedirectUri(
                "https://b.example/cb".to_owned()
            ))
        );
        assert_eq!(
            check_sector_document(
                br#"["https://a.example/cb/", "https://b.example/cb"]"#,
                &redirects
            ),
            Err(SectorError::MissingRedirectUri(
                "https://a.example/cb".to_owned()
            )),
            "compared exactly"
        );
        for bad in [
            &br#"{"redirect_uris": []}"#[..],
            b"[1, 2]",
            b"not json",
            b"",
        ] {
            assert_eq!(
                check_sector_document(bad, &redirects),
                Err(SectorError::NotAnArray)
            );
        }
    }
}
