//! The models applications implement (Authlib's `ClientMixin`, `TokenMixin`,
//! `AuthorizationCodeMixin`), and ready implementations of them.
//!
//! Applications keep their own structs and implement [`Client`], [`Token`],
//! [`AuthorizationCode`] and [`User`] on them; the core only ever talks to the traits.
//! Records keep the fields a store indexes as fields, and everything else in a typed
//! extension map ([`Extras`]) that a store keeps whole, so that a new field needs no
//! schema change.
//! [`ClientRecord`], [`TokenRecord`] and [`AuthorizationCodeRecord`] are ready
//! implementations, used by the in-memory store and by `portcullis-sql`. The two
//! records are also what the core hands to the storage traits when it issues a token
//! or a code: the application turns them into its own rows.

mod client;
mod code;
mod extras;
mod token;

pub use client::{
    check_scope, AuthMethod, Client, ClientMetadata, ClientRecord, EndpointName,
    SEALED_CLIENT_SECRET, STRICT_AUTH_METHOD,
};
pub use code::{AuthorizationCode, AuthorizationCodeRecord};
pub use extras::{
    AllowedResources, AuthTime, Extra, Extras, GrantExpiresAt, Nonce, Resources, SessionId,
};
pub use token::{Token, TokenRecord};

/// The end user (resource owner) a grant is issued for.
pub trait User: Send + Sync {
    /// A stable, unique identifier of the user: the `sub` of tokens issued for them.
    fn subject(&self) -> &str;

    /// When the user last authenticated (UTC seconds), if known; OpenID Connect's
    /// `auth_time`.
    fn auth_time(&self) -> Option<i64> {
        None
    }

    /// The identifier of the sign-in session the user acts in at this provider, if
    /// sessions have one: OpenID Connect's `sid` (Front- and Back-Channel Logout), the
    /// same for every client the session signs into and never the session's cookie.
    fn session_id(&self) -> Option<&str> {
        None
    }
}

impl User for str {
    fn subject(&self) -> &str {
        self
    }
}

impl User for String {
    fn subject(&self) -> &str {
        self
    }
}
