//! [`Extras`]: the typed extension map of clients, codes and tokens.
//!
//! A record keeps the fields a store indexes as plain struct fields (and columns), and
//! everything else in one `Extras` map, which a store persists whole (as one JSON
//! column in `portcullis-sql`). A new field is then one [`Extra`] type — a name and a
//! value type — and no schema change: a grant's absolute end ([`GrantExpiresAt`]),
//! later an OpenID `nonce`, a DPoP `cnf`, the RFC 8707 resources of a grant.
//!
//! ```
//! use portcullis_core::model::{Extra, Extras};
//!
//! /// The resources a token was issued for (RFC 8707).
//! struct Resources;
//! impl Extra for Resources {
//!     const NAME: &'static str = "resource";
//!     type Value = Vec<String>;
//! }
//!
//! let mut extras = Extras::new();
//! extras.insert::<Resources>(vec!["https://api.example".into()]);
//! assert_eq!(extras.get::<Resources>(), Some(vec!["https://api.example".to_owned()]));
//! assert_eq!(extras.to_json(), r#"{"resource":["https://api.example"]}"#);
//! ```

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A typed key of an [`Extras`] map: its name and the type of its value.
pub trait Extra {
    /// The member's name in the map (and in its JSON).
    const NAME: &'static str;
    /// The value's type.
    type Value: Serialize + DeserializeOwned;
}

/// A map of extra fields, each read and written through an [`Extra`] key, persisted as
/// one JSON object. Members nobody here knows (written by a newer version, or by the
/// application) are kept as they are.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Extras(BTreeMap<String, Value>);

// serde_json numbers are never NaN, so JSON values compare as an equivalence.
impl Eq for Extras {}

impl Extras {
    /// The empty map, as a constant.
    pub const EMPTY: Extras = Extras(BTreeMap::new());

    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of `E`, when present and of `E`'s type (a member of another type is
    /// treated as absent).
    pub fn get<E: Extra>(&self) -> Option<E::Value> {
        self.0
            .get(E::NAME)
            .and_then(|value| serde_json::from_value(value.clone()).ok())
    }

    /// Sets `E` to `value` (`null` when it cannot be represented, which serde's own
    /// types never are).
    pub fn insert<E: Extra>(&mut self, value: E::Value) {
        let value = serde_json::to_value(value).unwrap_or(Value::Null);
        self.0.insert(E::NAME.to_owned(), value);
    }

    /// Removes `E`.
    pub fn remove<E: Extra>(&mut self) {
        self.0.remove(E::NAME);
    }

    /// True when `E` is present.
    pub fn contains<E: Extra>(&self) -> bool {
        self.0.contains_key(E::NAME)
    }

    /// A member by name, untyped.
    pub fn get_raw(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    /// Sets a member by name, untyped.
    pub fn insert_raw(&mut self, name: impl Into<String>, value: Value) {
        self.0.insert(name.into(), value);
    }

    /// Removes a member by name, untyped.
    pub fn remove_raw(&mut self, name: &str) {
        self.0.remove(name);
    }

    /// Every member, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// True when there is no member.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The map as a JSON object (`{}` when empty, without serializing anything).
    pub fn to_json(&self) -> String {
        if self.0.is_empty() {
            return "{}".to_owned();
        }
        serde_json::to_string(&self.0).unwrap_or_else(|_| "{}".to_owned())
    }

    /// Reads a map written by [`to_json`](Self::to_json).
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        if text.is_empty() || text == "{}" {
            return Ok(Self::new());
        }
        serde_json::from_str(text)
    }
}

/// When a grant ends for good (UTC seconds), however often its refresh token was
/// rotated: carried from token to token of the grant (RFC 9700 §4.14.2). Kept in the
/// token's [`Extras`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct GrantExpiresAt;

impl Extra for GrantExpiresAt {
    const NAME: &'static str = "grant_expires_at";
    type Value = i64;
}

/// When the user signed in (UTC seconds), for the tokens of a grant that has a user:
/// copied from the authorization code and kept through refreshes, so that a JWT access
/// token can carry it (`auth_time`, RFC 9068 §2.2.1). Kept in the token's [`Extras`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuthTime;

impl Extra for AuthTime {
    const NAME: &'static str = "auth_time";
    type Value = i64;
}

/// The provider session the grant began in (its `sid`, see
/// [`User::session_id`](crate::User::session_id)): copied from the authorization code
/// and kept through refreshes, so that every ID token of the grant names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionId;

impl Extra for SessionId {
    const NAME: &'static str = "sid";
    type Value = String;
}

/// The OpenID Connect `nonce` of the authorization request, handed from the code to
/// the token pipeline so that the ID token can echo it. An extension that consumes it
/// removes it from the token record: a refreshed ID token carries no `nonce` (OpenID
/// Connect Core §12.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Nonce;

impl Extra for Nonce {
    const NAME: &'static str = "nonce";
    type Value = String;
}

/// The resources (RFC 8707 resource indicators) a grant was given, in their
/// registered form: recorded in the authorization code from the authorization
/// request's `resource` values, and kept in every token of the grant, so that a token
/// or refresh request may narrow to some of them but never add another. See
/// [`ResourceIndicators`](crate::extensions::ResourceIndicators).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Resources;

impl Extra for Resources {
    const NAME: &'static str = "resource";
    type Value = Vec<String>;
}

/// The resources (RFC 8707) a client may ask for besides the audiences of the
/// registered resource servers: kept in the client's metadata extras as
/// `allowed_resources` (a list of absolute URIs), read by
/// [`Client::allowed_resources`](crate::Client::allowed_resources) of a
/// [`ClientRecord`](crate::ClientRecord).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct AllowedResources;

impl Extra for AllowedResources {
    const NAME: &'static str = "allowed_resources";
    type Value = Vec<String>;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn typed_members_round_trip_and_unknown_ones_survive() {
        let mut extras = Extras::new();
        assert_eq!(extras.to_json(), "{}");
        extras.insert::<GrantExpiresAt>(1_700_002_592);
        extras.insert_raw("x-app", serde_json::json!({"tier": "gold"}));
        let text = extras.to_json();
        let back = Extras::from_json(&text).unwrap();
        assert_eq!(back, extras);
        assert_eq!(back.get::<GrantExpiresAt>(), Some(1_700_002_592));
        assert_eq!(back.get_raw("x-app").unwrap()["tier"], "gold");
        // A member of the wrong type reads as absent, never as a panic.
        let mut wrong = Extras::new();
        wrong.insert_raw(GrantExpiresAt::NAME, serde_json::json!("soon"));
        assert_eq!(wrong.get::<GrantExpiresAt>(), None);
        assert!(Extras::from_json("").unwrap().is_empty());
        assert!(Extras::from_json("[1]").is_err());
    }
}
