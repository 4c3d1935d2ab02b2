//! Access token scope (RFC 6749 §3.3).
//!
//! A [`Scope`] is an ordered set of scope tokens: space-delimited, case-sensitive,
//! each made of `%x21 / %x23-5B / %x5D-7E` characters. Order is kept as the client
//! sent it so that responses echo it naturally; equality ignores order.

use std::fmt;

use crate::error::OAuthError;

/// An ordered set of scope tokens.
#[derive(Debug, Clone, Default, Eq)]
pub struct Scope {
    tokens: Vec<String>,
}

impl Scope {
    /// The empty scope.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Parses a space-delimited scope string; rejects characters RFC 6749 §3.3 forbids.
    pub fn parse(value: &str) -> Result<Self, OAuthError> {
        let mut scope = Self::default();
        for token in value.split(' ').filter(|t| !t.is_empty()) {
            if !token.bytes().all(is_scope_char) {
                return Err(OAuthError::invalid_scope(
                    "scope tokens may contain only printable ASCII characters other than space, '\"' and '\\'",
                ));
            }
            scope.insert(token);
        }
        Ok(scope)
    }

    /// Builds a scope from tokens, dropping duplicates. Tokens are trusted (use
    /// [`Scope::parse`] for client input).
    pub fn from_tokens<I, T>(tokens: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        let mut scope = Self::default();
        for token in tokens {
            scope.insert(token.into());
        }
        scope
    }

    fn insert(&mut self, token: impl Into<String>) {
        let token = token.into();
        if !self.tokens.contains(&token) {
            self.tokens.push(token);
        }
    }

    /// True when the scope has no tokens.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// True when `token` is part of the scope.
    pub fn contains(&self, token: &str) -> bool {
        self.tokens.iter().any(|t| t == token)
    }

    /// True when every token of `self` is in `other`.
    pub fn is_subset_of(&self, other: &Scope) -> bool {
        self.tokens.iter().all(|t| other.contains(t))
    }

    /// The tokens of `self` that are also in `other`, in `self`'s order.
    pub fn intersection(&self, other: &Scope) -> Scope {
        Scope {
            tokens: self
                .tokens
                .iter()
                .filter(|t| other.contains(t))
                .cloned()
                .collect(),
        }
    }

    /// The tokens, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.tokens.iter().map(String::as_str)
    }
}

impl PartialEq for Scope {
    fn eq(&self, other: &Self) -> bool {
        self.tokens.len() == other.tokens.len() && self.is_subset_of(other)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.tokens.join(" "))
    }
}

fn is_scope_char(b: u8) -> bool {
    b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b)
}

impl serde::Serialize for Scope {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> serde::Deserialize<'de> for Scope {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Scope::parse(&text).map_err(|e| serde::de::Error::custom(e.description().to_owned()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_dedups() {
        let scope = Scope::parse("read  write read").unwrap();
        assert_eq!(scope.to_string(), "read write");
    }

    #[test]
    fn rejects_forbidden_characters() {
        assert!(Scope::parse("read \"x\"").is_err());
        assert!(Scope::parse("a\\b").is_err());
        assert!(Scope::parse("caf\u{e9}").is_err());
    }

    #[test]
    fn subset_and_equality_ignore_order() {
        let a = Scope::parse("a b").unwrap();
        let b = Scope::parse("b a c").unwrap();
        assert!(a.is_subset_of(&b));
        assert!(!b.is_subset_of(&a));
        assert_eq!(Scope::parse("b a").unwrap(), a);
        assert_eq!(b.intersection(&a).to_string(), "b a");
    }
}
