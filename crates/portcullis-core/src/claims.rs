//! OpenID Connect claims (Core §5): where a user's claims come from
//! ([`ClaimsSource`], implemented by the application) and which of them a scope
//! releases ([`ScopeClaims`]: the standard `profile`, `email`, `address` and `phone`
//! scopes of §5.4, plus any the application adds).
//!
//! The UserInfo endpoint answers with `sub` and the claims the token's scope
//! releases, and nothing else: a claim the source has but no granted scope names is
//! never sent.

use std::collections::BTreeSet;

use async_trait::async_trait;
use serde_json::{Map, Value};

use crate::error::{quoted_input, OAuthError, StoreError};
use crate::model::Extra;
use crate::scope::Scope;

/// Where the claims of a user come from: the application's user model.
///
/// ```
/// use async_trait::async_trait;
/// use portcullis_core::claims::ClaimsSource;
/// use portcullis_core::StoreError;
/// use serde_json::{json, Map, Value};
///
/// struct Directory;
///
/// #[async_trait]
/// impl ClaimsSource for Directory {
///     async fn claims(&self, subject: &str) -> Result<Option<Map<String, Value>>, StoreError> {
///         Ok((subject == "alice").then(|| {
///             let Value::Object(claims) = json!({"email": "alice@example.com", "email_verified": true})
///             else { unreachable!() };
///             claims
///         }))
///     }
/// }
/// ```
#[async_trait]
pub trait ClaimsSource: Send + Sync + 'static {
    /// Every claim of the user `subject` (standard or custom, without `sub`), or
    /// `None` when there is no such user any more (or they may not sign in): their
    /// tokens then get no claims.
    async fn claims(&self, subject: &str) -> Result<Option<Map<String, Value>>, StoreError>;
}

/// The standard claims of each scope (OpenID Connect Core §5.4).
const STANDARD: [(&str, &[&str]); 4] = [
    (
        "profile",
        &[
            "name",
            "family_name",
            "given_name",
            "middle_name",
            "nickname",
            "preferred_username",
            "profile",
            "picture",
            "website",
            "gender",
            "birthdate",
            "zoneinfo",
            "locale",
            "updated_at",
        ],
    ),
    ("email", &["email", "email_verified"]),
    ("address", &["address"]),
    ("phone", &["phone_number", "phone_number_verified"]),
];

/// Which claims each scope releases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeClaims {
    scopes: Vec<(String, Vec<String>)>,
}

impl Default for ScopeClaims {
    fn default() -> Self {
        Self::standard()
    }
}

impl ScopeClaims {
    /// The standard scopes of OpenID Connect Core §5.4: `profile`, `email`, `address`,
    /// `phone`.
    pub fn standard() -> Self {
        Self {
            scopes: STANDARD
                .iter()
                .map(|(scope, claims)| {
                    (
                        (*scope).to_owned(),
                        claims.iter().map(|c| (*c).to_owned()).collect(),
                    )
                })
                .collect(),
        }
    }

    /// Lets `scope` release `claims` too (a custom `groups` scope, say); a standard
    /// scope named again releases the named claims in addition to its own.
    pub fn with_scope<I, C>(mut self, scope: impl Into<String>, claims: I) -> Self
    where
        I: IntoIterator<Item = C>,
        C: Into<String>,
    {
        let scope = scope.into();
        let claims = claims.into_iter().map(Into::into);
        match self.scopes.iter_mut().find(|(name, _)| *name == scope) {
            Some((_, known)) => known.extend(claims),
            None => self.scopes.push((scope, claims.collect())),
        }
        self
    }

    /// The claims `scope` releases.
    pub fn released_by(&self, scope: &Scope) -> BTreeSet<&str> {
        self.scopes
            .iter()
            .filter(|(name, _)| scope.contains(name))
            .flat_map(|(_, claims)| claims.iter().map(String::as_str))
            .collect()
    }

    /// Every claim some scope releases, for `claims_supported`.
    pub fn all(&self) -> BTreeSet<&str> {
        self.scopes
            .iter()
            .flat_map(|(_, claims)| claims.iter().map(String::as_str))
            .collect()
    }

    /// `claims` without those `scope` does not release (and without any `sub`: the
    /// subject is the server's to state).
    pub fn filter(&self, scope: &Scope, claims: Map<String, Value>) -> Map<String, Value> {
        let released = self.released_by(scope);
        claims
            .into_iter()
            .filter(|(name, value)| {
                name != "sub" && !value.is_null() && released.contains(name.as_str())
            })
            .collect()
    }
}

/// The `claims` request parameter (OpenID Connect Core §5.5), as validated: a JSON
/// object whose `id_token` and `userinfo` members name claims. Recorded in the code
/// and kept with the grant's tokens.
///
/// Portcullis uses it to choose *where* consented claims appear: a claim named under
/// `id_token` that the granted scopes release is put in the ID token too. It never
/// releases a claim the scopes do not: the consent page lists what is shared by
/// scope, and that is what the user agreed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClaimsRequest;

impl Extra for ClaimsRequest {
    const NAME: &'static str = "claims_request";
    type Value = Value;
}

/// The longest `claims` parameter taken, in bytes.
const MAX_CLAIMS_REQUEST: usize = 4096;

/// Parses and checks a `claims` request parameter (Core §5.5): a JSON object with
/// optional `userinfo` and `id_token` objects, each claim `null` or an object of
/// `essential` (a boolean), `value`, `values` (an array). Anything else is
/// `invalid_request`.
pub fn parse_claims_request(text: &str) -> Result<Value, OAuthError> {
    let invalid = |what: &str| {
        OAuthError::invalid_request(format!(
            "the claims parameter must be a JSON object as OpenID Connect Core section 5.5 describes: {what}"
        ))
    };
    if text.len() > MAX_CLAIMS_REQUEST {
        return Err(invalid("it is too long"));
    }
    let value: Value = serde_json::from_str(text).map_err(|_| invalid("it is not JSON"))?;
    let Value::Object(members) = &value else {
        return Err(invalid("it is not an object"));
    };
    for (target, requested) in members {
        if target != "userinfo" && target != "id_token" {
            continue; // other members are for extensions: ignored
        }
        let Value::Object(claims) = requested else {
            if requested.is_null() {
                continue;
            }
            return Err(invalid(&format!(
                "'{}' is not an object",
                quoted_input(target)
            )));
        };
        for (claim, request) in claims {
            match request {
                Value::Null => {}
                Value::Object(request) => {
                    if request.get("essential").is_some_and(|e| !e.is_boolean()) {
                        return Err(invalid(&format!(
                            "'essential' of '{}' is not a boolean",
                            quoted_input(claim)
                        )));
                    }
                    if request.get("values").is_some_and(|v| !v.is_array()) {
                        return Err(invalid(&format!(
                            "'values' of '{}' is not an array",
                            quoted_input(claim)
                        )));
                    }
                }
                _ => {
                    return Err(invalid(&format!(
                        "the request for '{}' is not null or an object",
                        quoted_input(claim)
                    )))
                }
            }
        }
    }
    Ok(value)
}

/// The claims `request` names for `target` (`id_token` or `userinfo`).
pub fn requested_for<'a>(request: &'a Value, target: &str) -> impl Iterator<Item = &'a str> {
    request
        .get(target)
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|claims| claims.keys().map(String::as_str))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims() -> Map<String, Value> {
        let Value::Object(map) = json!({
            "sub": "forged",
            "name": "Alice",
            "email": "alice@example.com",
            "email_verified": true,
            "phone_number": null,
            "groups": ["admins"],
        }) else {
            unreachable!()
        };
        map
    }

    #[test]
    fn a_claims_request_is_checked_as_core_5_5_describes() {
        let ok = parse_claims_request(
            r#"{"id_token":{"email":{"essential":true},"auth_time":null},"userinfo":{"name":{"values":["a"]}},"x":1}"#,
        )
        .unwrap();
        assert_eq!(
            requested_for(&ok, "id_token").collect::<Vec<_>>(),
            ["auth_time", "email"]
        );
        assert_eq!(requested_for(&ok, "userinfo").collect::<Vec<_>>(), ["name"]);
        for bad in [
            "not json",
            "[]",
            r#"{"id_token":[]}"#,
            r#"{"id_token":{"email":true}}"#,
            r#"{"id_token":{"email":{"essential":"yes"}}}"#,
            r#"{"userinfo":{"email":{"values":"a"}}}"#,
        ] {
            let error = parse_claims_request(bad).unwrap_err();
            assert_eq!(error.code().as_str(), "invalid_request", "{bad}");
        }
        assert!(parse_claims_request(&format!("{{\"x\":\"{}\"}}", "a".repeat(5000))).is_err());
        // What the caller sent is quoted only as characters an error_description may
        // hold (RFC 6749 section 5.2), and short.
        let key = format!(r#"a\"\\\n\u00e9{}"#, "b".repeat(100));
        let error =
            parse_claims_request(&format!(r#"{{"id_token":{{"{key}":true}}}}"#)).unwrap_err();
        let description = error.description();
        assert!(
            description
                .chars()
                .all(|c| matches!(c, ' '..='~') && c != '"' && c != '\\'),
            "{description}"
        );
        assert!(description.contains("'a????bbb"), "{description}");
        assert!(description.len() < 200, "{description}");
    }

    #[test]
    fn a_scope_releases_its_claims_only() {
        let standard = ScopeClaims::standard();
        let email = standard.filter(&Scope::parse("openid email").unwrap(), claims());
        assert_eq!(
            Value::Object(email),
            json!({"email": "alice@example.com", "email_verified": true})
        );
        let none = standard.filter(&Scope::parse("openid").unwrap(), claims());
        assert!(none.is_empty(), "{none:?}");
    }

    #[test]
    fn custom_scopes_add_claims_and_sub_is_never_taken_from_the_source() {
        let custom = ScopeClaims::standard().with_scope("groups", ["groups"]);
        let got = custom.filter(&Scope::parse("openid groups profile").unwrap(), claims());
        assert_eq!(
            Value::Object(got),
            json!({"groups": ["admins"], "name": "Alice"})
        );
        assert!(custom.all().contains("groups"));
        assert!(!custom.all().contains("sub"));
    }
}
