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

use crate::error::StoreError;
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
