//! An in-memory store implementing every storage trait: for tests, examples and
//! applications that embed Portcullis without a database.
//!
//! All state sits behind one mutex that is never held across an `.await`, so every
//! single-use operation (code redemption, refresh rotation) is atomic and the store is
//! safe to share between tasks and threads. Nothing survives a restart.
//!
//! User passwords are kept as salted SHA-256 here, which is adequate only because
//! nothing is ever written to disk; `portcullis-sql` stores them as Argon2id. The salts
//! come from the store's [`RandomSource`] (see [`MemoryStore::with_random`]).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;

use crate::authorization::PendingAuthorization;
use crate::error::StoreError;
use crate::model::{AuthorizationCodeRecord, ClientRecord, TokenRecord};
use crate::random::{random_string, RandomSource};
use crate::secret::{constant_time_eq, hash_secret};
use crate::store::{
    AssertionReplayStore, AuthorizationCodeStore, AuthorizationRequestStore, ClientStore,
    CodeRedemption, ResourceServerStore, TokenStore, UserStore,
};

#[derive(Default)]
struct Inner {
    clients: HashMap<String, ClientRecord>,
    tokens: Vec<TokenRecord>,
    by_access: HashMap<String, usize>,
    by_refresh: HashMap<String, usize>,
    codes: HashMap<String, (AuthorizationCodeRecord, bool)>,
    users: HashMap<String, (String, String)>,
    /// Grants revoked so far: a token saved for one of them later (a code redeemed
    /// just before its replay was detected) is born revoked.
    revoked_grants: HashSet<String>,
    /// Authorization requests waiting for sign-in or consent, by id hash.
    pending: HashMap<String, PendingAuthorization>,
    /// JWT client assertions used, by (client_id, jti), with when they expire.
    assertions: HashMap<(String, String), i64>,
}

impl Inner {
    fn insert_token(&mut self, mut token: TokenRecord) {
        if self.revoked_grants.contains(&token.grant_id) {
            token.revoked = true;
        }
        let index = self.tokens.len();
        self.by_access
            .insert(token.access_token_hash.clone(), index);
        if let Some(refresh) = &token.refresh_token_hash {
            self.by_refresh.insert(refresh.clone(), index);
        }
        self.tokens.push(token);
    }
}

/// A user of the in-memory store: the subject is the username.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemoryUser {
    /// The username, also the token subject.
    pub username: String,
}

impl MemoryUser {
    /// The user `username`.
    pub fn new(username: impl Into<String>) -> Self {
        Self {
            username: username.into(),
        }
    }
}

impl crate::model::User for MemoryUser {
    fn subject(&self) -> &str {
        &self.username
    }
}

/// The in-memory store.
pub struct MemoryStore {
    inner: Mutex<Inner>,
    /// Draws the password salts.
    random: Arc<dyn RandomSource>,
}

impl Default for MemoryStore {
    #[allow(clippy::disallowed_types)] // the composition-root default; `with_random` injects another
    fn default() -> Self {
        Self::with_random(Arc::<crate::random::OsRandom>::default())
    }
}

/// Shows no stored secrets or hashes, only how much is stored.
impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("MemoryStore");
        match self.inner.lock() {
            Ok(inner) => out
                .field("clients", &inner.clients.len())
                .field("tokens", &inner.tokens.len())
                .field("codes", &inner.codes.len())
                .field("users", &inner.users.len())
                .field("pending", &inner.pending.len()),
            Err(_) => out.field("inner", &"<poisoned>"),
        };
        out.finish_non_exhaustive()
    }
}

impl MemoryStore {
    /// An empty store, drawing password salts from the OS CSPRNG.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store drawing password salts from `random`.
    pub fn with_random(random: Arc<dyn RandomSource>) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            random,
        }
    }

    fn lock(&self) -> Result<MutexGuard<'_, Inner>, StoreError> {
        self.inner
            .lock()
            .map_err(|_| StoreError::new("memory store lock poisoned"))
    }

    /// Registers (or replaces) a client.
    pub fn insert_client(&self, client: ClientRecord) -> Result<(), StoreError> {
        self.lock()?
            .clients
            .insert(client.client_id.clone(), client);
        Ok(())
    }

    /// Adds (or replaces) a user with a password.
    pub fn insert_user(&self, username: &str, password: &str) -> Result<(), StoreError> {
        let salt = random_string(self.random.as_ref(), 16);
        let hash = hash_secret(&format!("{salt}:{password}"));
        self.lock()?.users.insert(username.to_owned(), (salt, hash));
        Ok(())
    }

    /// Every stored token, for inspection in tests.
    pub fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        Ok(self.lock()?.tokens.clone())
    }
}

#[async_trait]
impl ClientStore for MemoryStore {
    type Client = ClientRecord;

    async fn find_client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        Ok(self.lock()?.clients.get(client_id).cloned())
    }
}

#[async_trait]
impl ResourceServerStore for MemoryStore {
    async fn resource_server_audiences(&self) -> Result<Vec<String>, StoreError> {
        Ok(self
            .lock()?
            .clients
            .values()
            .filter_map(|c| c.resource_server_audience.clone())
            .collect())
    }
}

#[async_trait]
impl TokenStore for MemoryStore {
    type Token = TokenRecord;

    async fn save_token(&self, token: TokenRecord) -> Result<(), StoreError> {
        self.lock()?.insert_token(token);
        Ok(())
    }

    async fn find_access_token(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        let inner = self.lock()?;
        Ok(inner.by_access.get(hash).map(|&i| inner.tokens[i].clone()))
    }

    async fn find_refresh_token(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        let inner = self.lock()?;
        Ok(inner.by_refresh.get(hash).map(|&i| inner.tokens[i].clone()))
    }

    async fn rotate_refresh_token(&self, old: &str, new: TokenRecord) -> Result<bool, StoreError> {
        let mut inner = self.lock()?;
        let Some(&index) = inner.by_refresh.get(old) else {
            return Ok(false);
        };
        if inner.tokens[index].revoked {
            return Ok(false);
        }
        inner.tokens[index].revoked = true;
        inner.insert_token(new);
        Ok(true)
    }

    async fn revoke_token(&self, access_token_hash: &str) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        if let Some(&index) = inner.by_access.get(access_token_hash) {
            inner.tokens[index].revoked = true;
        }
        Ok(())
    }

    async fn revoke_grant(&self, grant_id: &str) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        inner.revoked_grants.insert(grant_id.to_owned());
        for token in inner.tokens.iter_mut().filter(|t| t.grant_id == grant_id) {
            token.revoked = true;
        }
        Ok(())
    }
}

#[async_trait]
impl AuthorizationCodeStore for MemoryStore {
    type Code = AuthorizationCodeRecord;

    async fn save_authorization_code(
        &self,
        code: AuthorizationCodeRecord,
    ) -> Result<(), StoreError> {
        self.lock()?
            .codes
            .insert(code.code_hash.clone(), (code, false));
        Ok(())
    }

    async fn redeem_authorization_code(
        &self,
        hash: &str,
        client_id: &str,
    ) -> Result<CodeRedemption<AuthorizationCodeRecord>, StoreError> {
        let mut inner = self.lock()?;
        Ok(match inner.codes.get_mut(hash) {
            None => CodeRedemption::NotFound,
            Some((code, _)) if code.client_id != client_id => CodeRedemption::NotFound,
            Some((code, true)) => CodeRedemption::AlreadyUsed(code.clone()),
            Some((code, used)) => {
                *used = true;
                CodeRedemption::Redeemed(code.clone())
            }
        })
    }
}

#[async_trait]
impl UserStore for MemoryStore {
    type User = MemoryUser;

    async fn authenticate_user(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<MemoryUser>, StoreError> {
        let inner = self.lock()?;
        // An unknown user is checked against a dummy salt and hash, so it costs the same.
        let (salt, hash) = inner
            .users
            .get(username)
            .map(|(s, h)| (s.as_str(), h.as_str()))
            .unwrap_or(("", ""));
        let computed = hash_secret(&format!("{salt}:{password}"));
        let ok = constant_time_eq(computed.as_bytes(), hash.as_bytes()) && !hash.is_empty();
        Ok(ok.then(|| MemoryUser::new(username)))
    }
}

#[async_trait]
impl crate::endpoints::UsernameResolver for MemoryStore {
    /// In the memory store the subject is the username.
    async fn username(&self, subject: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .lock()?
            .users
            .contains_key(subject)
            .then(|| subject.to_owned()))
    }
}

#[async_trait]
impl AuthorizationRequestStore for MemoryStore {
    async fn save_authorization_request(
        &self,
        request: PendingAuthorization,
    ) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        // Expired requests go when new ones come: the map stays as small as the
        // requests in progress.
        let now = request.created_at;
        inner.pending.retain(|_, p| p.expires_at > now);
        inner.pending.insert(request.id_hash.clone(), request);
        Ok(())
    }

    async fn find_authorization_request(
        &self,
        id_hash: &str,
    ) -> Result<Option<PendingAuthorization>, StoreError> {
        Ok(self.lock()?.pending.get(id_hash).cloned())
    }

    async fn take_authorization_request(
        &self,
        id_hash: &str,
    ) -> Result<Option<PendingAuthorization>, StoreError> {
        Ok(self.lock()?.pending.remove(id_hash))
    }
}

#[async_trait]
impl AssertionReplayStore for MemoryStore {
    async fn record_assertion(
        &self,
        client_id: &str,
        jti: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock()?;
        // Expired entries go as new ones come, so the map stays bounded by the
        // assertions still valid.
        inner.assertions.retain(|_, expires| *expires > now);
        let key = (client_id.to_owned(), jti.to_owned());
        if inner.assertions.contains_key(&key) {
            return Ok(false);
        }
        inner.assertions.insert(key, expires_at);
        Ok(true)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::atomic::{AtomicU8, Ordering};

    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    use super::*;

    /// Bytes 0, 1, 2, … : predictable on purpose.
    #[derive(Debug, Default)]
    struct Counter(AtomicU8);

    impl RandomSource for Counter {
        fn fill(&self, buf: &mut [u8]) {
            for b in buf {
                *b = self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    #[tokio::test]
    async fn password_salts_come_from_the_injected_source() {
        let store = MemoryStore::with_random(Arc::new(Counter::default()));
        store.insert_user("alice", "pw").unwrap();
        store.insert_user("bob", "pw").unwrap();
        let expected_alice = URL_SAFE_NO_PAD.encode((0u8..16).collect::<Vec<_>>());
        let expected_bob = URL_SAFE_NO_PAD.encode((16u8..32).collect::<Vec<_>>());
        {
            let inner = store.lock().unwrap();
            assert_eq!(inner.users["alice"].0, expected_alice);
            assert_eq!(inner.users["bob"].0, expected_bob);
            assert_eq!(
                inner.users["alice"].1,
                hash_secret(&format!("{expected_alice}:pw"))
            );
        }
        assert_eq!(
            store.authenticate_user("alice", "pw").await.unwrap(),
            Some(MemoryUser::new("alice"))
        );
        assert_eq!(store.authenticate_user("alice", "no").await.unwrap(), None);
    }

    #[test]
    fn debug_shows_counts_not_secrets() {
        let store = MemoryStore::new();
        store.insert_user("alice", "hunter2").unwrap();
        let shown = format!("{store:?}");
        assert!(shown.contains("users: 1"), "{shown}");
        assert!(
            !shown.contains("alice") && !shown.contains("hunter2"),
            "{shown}"
        );
    }
}
