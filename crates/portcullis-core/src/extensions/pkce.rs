//! Proof Key for Code Exchange (RFC 7636), with RFC 9700 §2.1.1's rules.
//!
//! Defaults: a `code_challenge` is required of every client (public or confidential),
//! the method is `S256`, and `plain` is refused. A confidential client whose
//! registration says `require_pkce: false` ([`REQUIRE_PKCE`]) may omit it, as may
//! every confidential client under
//! [`optional_for_confidential_clients`](Pkce::optional_for_confidential_clients). `plain` can be allowed for
//! confidential clients; public clients always need `S256`. A token request with a
//! `code_verifier` for a code issued without a challenge is refused, which closes the
//! PKCE downgrade attack.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

use super::AuthorizationCodeExtension;
use crate::authorization::AuthorizationRequest;
use crate::error::OAuthError;
use crate::http::Params;
use crate::model::{AuthorizationCode, AuthorizationCodeRecord, Client};
use crate::secret::constant_time_eq;

/// PKCE policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pkce {
    require_for_confidential: bool,
    allow_plain: bool,
}

impl Default for Pkce {
    fn default() -> Self {
        Self {
            require_for_confidential: true,
            allow_plain: false,
        }
    }
}

impl Pkce {
    /// PKCE S256 required of every client (the default).
    pub fn required() -> Self {
        Self::default()
    }

    /// Lets confidential clients omit PKCE (public clients must still use it).
    pub fn optional_for_confidential_clients(mut self) -> Self {
        self.require_for_confidential = false;
        self
    }

    /// Accepts the `plain` method from confidential clients (off by default).
    pub fn allow_plain(mut self) -> Self {
        self.allow_plain = true;
        self
    }

    /// The challenge methods this policy accepts, for metadata.
    pub fn methods(&self) -> &'static [&'static str] {
        if self.allow_plain {
            &["S256", "plain"]
        } else {
            &["S256"]
        }
    }
}

/// The client metadata member by which a confidential client is let omit PKCE
/// (`false`); public clients never are. For relying parties that predate PKCE: a
/// challenge they do send is still enforced (RFC 9700 §2.1.1, §4.5.3.2).
pub const REQUIRE_PKCE: &str = "require_pkce";

/// True when a confidential `client` registered `require_pkce: false`.
fn opts_out(client: &dyn Client) -> bool {
    !client.is_public()
        && client
            .metadata()
            .extras
            .get_raw(REQUIRE_PKCE)
            .and_then(serde_json::Value::as_bool)
            == Some(false)
}

/// BASE64URL(SHA256(verifier)): the S256 challenge of a verifier (RFC 7636 §4.2).
pub fn s256_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// 43 to 128 unreserved characters (RFC 7636 §4.1, §4.2).
fn is_valid_key(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

impl AuthorizationCodeExtension for Pkce {
    fn on_authorization_request(
        &self,
        request: &AuthorizationRequest,
        client: &dyn Client,
        code: &mut AuthorizationCodeRecord,
    ) -> Result<(), OAuthError> {
        let params = request.params();
        let Some(challenge) = params.get("code_challenge") else {
            if params.contains("code_challenge_method") {
                return Err(OAuthError::invalid_request(
                    "code_challenge_method was sent without a code_challenge",
                ));
            }
            if client.is_public() || (self.require_for_confidential && !opts_out(client)) {
                return Err(OAuthError::invalid_request(
                    "a code_challenge is required (PKCE, RFC 7636) with code_challenge_method=S256",
                ));
            }
            return Ok(());
        };
        if !is_valid_key(challenge) {
            return Err(OAuthError::invalid_request(
                "the code_challenge must be 43 to 128 characters of [A-Z a-z 0-9 - . _ ~]",
            ));
        }
        // RFC 7636 §4.3: the method defaults to "plain" when absent.
        let method = params.get("code_challenge_method").unwrap_or("plain");
        match method {
            "S256" => {}
            "plain" if self.allow_plain && !client.is_public() => {}
            "plain" => {
                return Err(OAuthError::invalid_request(
                    "code_challenge_method 'plain' is not allowed; use S256",
                ))
            }
            _ => {
                return Err(OAuthError::invalid_request(
                    "code_challenge_method must be S256",
                ))
            }
        }
        code.code_challenge = Some(challenge.to_owned());
        code.code_challenge_method = Some(method.to_owned());
        Ok(())
    }

    fn on_token_request(
        &self,
        params: &Params,
        _client: &dyn Client,
        code: &dyn AuthorizationCode,
    ) -> Result<(), OAuthError> {
        let verifier = params.get("code_verifier");
        let Some(challenge) = code.code_challenge() else {
            if verifier.is_some() {
                return Err(OAuthError::invalid_grant(
                    "a code_verifier was sent, but the authorization request had no code_challenge",
                ));
            }
            return Ok(());
        };
        let Some(verifier) = verifier else {
            return Err(OAuthError::invalid_grant(
                "the code_verifier is missing: this code was issued with a PKCE code_challenge",
            ));
        };
        if !is_valid_key(verifier) {
            return Err(OAuthError::invalid_request(
                "the code_verifier must be 43 to 128 characters of [A-Z a-z 0-9 - . _ ~]",
            ));
        }
        let computed = match code.code_challenge_method() {
            Some("S256") => s256_challenge(verifier),
            Some("plain") => verifier.to_owned(),
            _ => return Err(OAuthError::server_error()),
        };
        if !constant_time_eq(computed.as_bytes(), challenge.as_bytes()) {
            return Err(OAuthError::invalid_grant(
                "the code_verifier does not match the code_challenge",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_vector() {
        assert_eq!(
            s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn key_syntax() {
        assert!(is_valid_key(&"a".repeat(43)));
        assert!(!is_valid_key(&"a".repeat(42)));
        assert!(!is_valid_key(&"a".repeat(129)));
        assert!(!is_valid_key(&format!("{}+", "a".repeat(43))));
    }
}
