//! Server-side sessions behind an `HttpOnly`, `SameSite=Lax` cookie.
//!
//! The cookie holds 256 random bits; the database holds only their SHA-256, with the
//! signed-in user (if any), the sign-in time and the session's CSRF token. Every form
//! carries that CSRF token in a hidden input and the POST is refused unless it matches
//! (compared in constant time). Signing in always starts a new session, so a session
//! id planted before sign-in is worthless (session fixation). The cookie is `Secure`
//! (and named with the `__Host-` prefix) when the issuer is https.

use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderValue};
use portcullis_core::random::random_token;
use portcullis_core::secret::{constant_time_eq, hash_secret};
use portcullis_core::{OsRandom, User};
use portcullis_sql::{SessionRecord, SqlError, SqlStore};

/// The session cookie's name over plain HTTP (development).
pub const COOKIE_NAME: &str = "portcullis_session";
/// The session cookie's name over HTTPS: `__Host-` pins it to this host and path `/`.
pub const SECURE_COOKIE_NAME: &str = "__Host-portcullis_session";

/// How long a session lasts before its visitor signs in (15 minutes).
pub const ANONYMOUS_LIFETIME: i64 = 15 * 60;

/// A loaded session and the cookie value that found it.
#[derive(Debug, Clone)]
pub struct Session {
    /// The stored record.
    pub record: SessionRecord,
}

impl Session {
    /// The signed-in user, if any.
    pub fn user(&self) -> Option<SessionUser> {
        self.record.subject.clone().map(|subject| SessionUser {
            subject,
            auth_time: self.record.auth_time,
        })
    }

    /// True when `submitted` is this session's CSRF token.
    pub fn check_csrf(&self, submitted: Option<&str>) -> bool {
        submitted.is_some_and(|token| {
            constant_time_eq(token.as_bytes(), self.record.csrf_token.as_bytes())
        })
    }
}

/// The signed-in user, as the core sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionUser {
    /// The user's stable subject identifier.
    pub subject: String,
    /// When they signed in.
    pub auth_time: Option<i64>,
}

impl User for SessionUser {
    fn subject(&self) -> &str {
        &self.subject
    }

    fn auth_time(&self) -> Option<i64> {
        self.auth_time
    }
}

/// Creates, finds and ends sessions.
#[derive(Debug, Clone)]
pub struct Sessions {
    store: SqlStore,
    secure: bool,
    lifetime: i64,
}

impl Sessions {
    /// Sessions in `store`, lasting `lifetime` seconds; `secure` for https issuers.
    pub fn new(store: SqlStore, secure: bool, lifetime: i64) -> Self {
        Self {
            store,
            secure,
            lifetime,
        }
    }

    fn cookie_name(&self) -> &'static str {
        if self.secure {
            SECURE_COOKIE_NAME
        } else {
            COOKIE_NAME
        }
    }

    /// The unexpired session named by the request's cookie, if any.
    pub async fn load(&self, headers: &HeaderMap, now: i64) -> Result<Option<Session>, SqlError> {
        let Some(value) = cookie_value(headers, self.cookie_name()) else {
            return Ok(None);
        };
        let Some(record) = self.store.get_session(&hash_secret(value)).await? else {
            return Ok(None);
        };
        if record.expires_at <= now {
            self.store.delete_session(&record.id_hash).await?;
            return Ok(None);
        }
        Ok(Some(Session { record }))
    }

    /// Starts a new session (signed in when `subject` is given); returns it and the
    /// `Set-Cookie` header value.
    pub async fn start(
        &self,
        subject: Option<String>,
        now: i64,
    ) -> Result<(Session, HeaderValue), SqlError> {
        let value = random_token(&OsRandom);
        // A visitor who has not signed in only needs the session for the sign-in form:
        // a short life keeps anonymous sessions from piling up.
        let lifetime = if subject.is_some() {
            self.lifetime
        } else {
            self.lifetime.min(ANONYMOUS_LIFETIME)
        };
        let record = SessionRecord {
            id_hash: hash_secret(&value),
            auth_time: subject.as_ref().map(|_| now),
            subject,
            csrf_token: random_token(&OsRandom),
            created_at: now,
            expires_at: now.saturating_add(lifetime),
        };
        self.store.insert_session(&record).await?;
        let cookie = self.cookie(&value, lifetime);
        Ok((Session { record }, cookie))
    }

    /// Ends a session; returns the `Set-Cookie` value that clears the cookie.
    pub async fn end(&self, session: &Session) -> Result<HeaderValue, SqlError> {
        self.store.delete_session(&session.record.id_hash).await?;
        Ok(self.cookie("", 0))
    }

    fn cookie(&self, value: &str, max_age: i64) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        let text = format!(
            "{}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}",
            self.cookie_name()
        );
        HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

/// Adds a `Set-Cookie` header to a response's headers.
pub fn set_cookie(headers: &mut HeaderMap, cookie: HeaderValue) {
    headers.append(SET_COOKIE, cookie);
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_cookie_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("a=1; portcullis_session=abc; b=2"),
        );
        assert_eq!(cookie_value(&headers, COOKIE_NAME), Some("abc"));
        assert_eq!(cookie_value(&headers, SECURE_COOKIE_NAME), None);
    }
}
