//! Server-side sessions behind an `HttpOnly`, `SameSite=Lax` cookie.
//!
//! The cookie holds 256 random bits; the database holds only their SHA-256, with the
//! signed-in user (if any), the sign-in time and the session's CSRF token. Every form
//! carries that CSRF token in a hidden input and the POST is refused unless it matches
//! (compared in constant time). Signing in always starts a new session, so a session
//! id planted before sign-in is worthless (session fixation). The cookie is `Secure`
//! (and named with the `__Host-` prefix) when the issuer is https. For an issuer with
//! a path (`https://example.com/auth`) it is scoped to that path (`Path=/auth`), so
//! other applications of the host never receive it, and named `__Secure-` instead
//! (`__Host-` requires `Path=/`); see [`Sessions::with_path`].
//!
//! Only signed-in visitors have a session row. The sign-in form itself is protected by
//! a double-submit token — a random value in a cookie of its own and in the form, which
//! must match — so that a visitor who only looks at the sign-in page leaves nothing in
//! the database (issue 9, finding 10: one row per cookieless `GET /login` before).
//!
//! An authorization request waiting for sign-in and consent is bound to the browser
//! that sent it by a third cookie, [`Sessions::browser_binding`]: a random value the
//! store knows only as a hash (see `portcullis_core::authorization`).
//!
//! Every signed-in session also has an OpenID Connect `sid` (Back-Channel Logout): a
//! random value of its own, never derived from the cookie, put in ID and logout
//! tokens. A new sign-in of the same user in the same browser keeps it, so that
//! signing in again (`prompt=login`) does not look like a logout to the applications.
//!
//! Every id, token and binding value comes from the injected `RandomSource`.

use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderValue};
use portcullis_core::random::random_token;
use portcullis_core::secret::{constant_time_eq, hash_secret};
use std::sync::Arc;

use portcullis_core::{RandomSource, User};
use portcullis_sql::{SessionRecord, SqlError, SqlStore};

/// The session cookie's name over plain HTTP (development).
pub const COOKIE_NAME: &str = "portcullis_session";
/// The session cookie's name over HTTPS: `__Host-` pins it to this host and path `/`.
pub const SECURE_COOKIE_NAME: &str = "__Host-portcullis_session";

/// The session cookie's name over HTTPS for an issuer with a path: `__Secure-`, since
/// `__Host-` requires `Path=/`.
pub const SECURE_PATH_COOKIE_NAME: &str = "__Secure-portcullis_session";

/// The sign-in form's CSRF cookie over plain HTTP (development).
pub const LOGIN_CSRF_COOKIE_NAME: &str = "portcullis_login_csrf";
/// The sign-in form's CSRF cookie over HTTPS (`__Host-`: no other host or path may
/// set it, so it cannot be planted from a sibling subdomain).
pub const SECURE_LOGIN_CSRF_COOKIE_NAME: &str = "__Host-portcullis_login_csrf";

/// How long the sign-in form's CSRF cookie lasts (15 minutes).
pub const ANONYMOUS_LIFETIME: i64 = 15 * 60;

/// The cookie binding pending authorization requests to a browser, over plain HTTP.
pub const BINDING_COOKIE_NAME: &str = "portcullis_request";
/// The binding cookie over HTTPS.
pub const SECURE_BINDING_COOKIE_NAME: &str = "__Host-portcullis_request";

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
            sid: self.record.sid.clone(),
            expires_at: self.record.expires_at,
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
    /// The session's OpenID Connect `sid` (none for sessions stored before it).
    pub sid: Option<String>,
    /// When the session ends (UTC seconds).
    pub expires_at: i64,
}

impl User for SessionUser {
    fn subject(&self) -> &str {
        &self.subject
    }

    fn auth_time(&self) -> Option<i64> {
        self.auth_time
    }

    fn session_id(&self) -> Option<&str> {
        self.sid.as_deref()
    }
}

/// Creates, finds and ends sessions.
#[derive(Clone)]
pub struct Sessions {
    store: SqlStore,
    secure: bool,
    lifetime: i64,
    binding_lifetime: i64,
    path: String,
    random: Arc<dyn RandomSource>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("secure", &self.secure)
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

impl Sessions {
    /// Sessions in `store`, lasting `lifetime` seconds; `secure` for https issuers;
    /// browser bindings lasting `binding_lifetime` seconds; ids from `random`.
    pub fn new(
        store: SqlStore,
        secure: bool,
        lifetime: i64,
        binding_lifetime: i64,
        random: Arc<dyn RandomSource>,
    ) -> Self {
        Self {
            store,
            secure,
            lifetime,
            binding_lifetime,
            path: String::new(),
            random,
        }
    }

    /// Scopes the session cookie to `path`, the issuer's path (`""` for none): a
    /// browser sends it to this server only, not to other applications of the host.
    /// Over https it is then named `__Secure-` (`__Host-` requires `Path=/`). The
    /// sign-in form's and the browser binding's cookies keep `__Host-` and `Path=/`
    /// over https, so that no other host can plant them; over plain http they are
    /// scoped to `path` too.
    pub fn with_path(mut self, path: &str) -> Self {
        path.clone_into(&mut self.path);
        self
    }

    fn cookie_name(&self) -> &'static str {
        if self.secure && !self.path.is_empty() {
            SECURE_PATH_COOKIE_NAME
        } else if self.secure {
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

    /// Starts a new session for the user `subject`, signed in at `now`, with the
    /// OpenID Connect `sid` given (that of the session it replaces, for the same user)
    /// or a new one; returns it and the `Set-Cookie` header value.
    pub async fn start(
        &self,
        subject: String,
        now: i64,
        sid: Option<String>,
    ) -> Result<(Session, HeaderValue), SqlError> {
        let value = random_token(&*self.random);
        let mut record = SessionRecord::new(
            hash_secret(&value),
            random_token(&*self.random),
            now,
            now.saturating_add(self.lifetime),
        );
        record.auth_time = Some(now);
        record.subject = Some(subject);
        record.sid = Some(sid.unwrap_or_else(|| random_token(&*self.random)));
        self.store.insert_session(&record).await?;
        let cookie = self.cookie(self.cookie_name(), &value, self.lifetime);
        Ok((Session { record }, cookie))
    }

    fn login_csrf_cookie_name(&self) -> &'static str {
        if self.secure {
            SECURE_LOGIN_CSRF_COOKIE_NAME
        } else {
            LOGIN_CSRF_COOKIE_NAME
        }
    }

    /// The sign-in form's CSRF token: the one the request's cookie carries, or a new
    /// one with the `Set-Cookie` value that stores it. Nothing goes to the database.
    pub fn login_csrf(&self, headers: &HeaderMap) -> (String, Option<HeaderValue>) {
        if let Some(token) = cookie_value(headers, self.login_csrf_cookie_name()) {
            if is_token(token) {
                return (token.to_owned(), None);
            }
        }
        let token = random_token(&*self.random);
        let cookie = self.cookie(self.login_csrf_cookie_name(), &token, ANONYMOUS_LIFETIME);
        (token, Some(cookie))
    }

    fn binding_cookie_name(&self) -> &'static str {
        if self.secure {
            SECURE_BINDING_COOKIE_NAME
        } else {
            BINDING_COOKIE_NAME
        }
    }

    /// The value binding pending authorization requests to this browser — the one its
    /// cookie carries, or a new one — and the `Set-Cookie` value that stores it for
    /// another binding lifetime (so that it outlives the request about to be saved).
    pub fn browser_binding(&self, headers: &HeaderMap) -> (String, HeaderValue) {
        let value = match self.presented_binding(headers) {
            Some(value) => value.to_owned(),
            None => random_token(&*self.random),
        };
        let cookie = self.cookie(self.binding_cookie_name(), &value, self.binding_lifetime);
        (value, cookie)
    }

    /// The binding value the request's cookie carries, if it looks like one.
    pub fn presented_binding<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        cookie_value(headers, self.binding_cookie_name()).filter(|value| is_token(value))
    }

    /// True when the sign-in form's `submitted` token matches the request's CSRF
    /// cookie (compared in constant time).
    pub fn check_login_csrf(&self, headers: &HeaderMap, submitted: Option<&str>) -> bool {
        match (
            cookie_value(headers, self.login_csrf_cookie_name()),
            submitted,
        ) {
            (Some(cookie), Some(submitted)) => {
                is_token(cookie) && constant_time_eq(cookie.as_bytes(), submitted.as_bytes())
            }
            _ => false,
        }
    }

    /// Ends a session; returns the `Set-Cookie` value that clears the cookie.
    pub async fn end(&self, session: &Session) -> Result<HeaderValue, SqlError> {
        self.store.delete_session(&session.record.id_hash).await?;
        Ok(self.cookie(self.cookie_name(), "", 0))
    }

    fn cookie(&self, name: &str, value: &str, max_age: i64) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        // `__Host-` cookies must have `Path=/`.
        let path = if name.starts_with("__Host-") || self.path.is_empty() {
            "/"
        } else {
            &self.path
        };
        let text = format!(
            "{name}={value}; Path={path}; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
        );
        HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

/// True for a value shaped like the 256-bit tokens this module mints.
fn is_token(value: &str) -> bool {
    value.len() == 43
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
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
