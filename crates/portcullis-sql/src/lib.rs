//! # portcullis-sql
//!
//! Storage for Portcullis: SQLite (the embedded default, one file, on rusqlite) and
//! PostgreSQL (for several `portcullis serve` instances sharing one database, on
//! [sqlx]). One type, [`SqlStore`], chosen by URL:
//!
//! - `sqlite://PATH` — the file is created if missing (its directory is not);
//!   `sqlite::memory:` gives a private in-memory database;
//! - `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE` (or `postgresql://`).
//!
//! [`SqlStore`] implements the core's storage traits ([`ClientStore`],
//! [`TokenStore`], [`AuthorizationCodeStore`], [`UserStore`]) and adds what the
//! server needs around them: client and user administration, browser sessions,
//! remembered consent, login throttling and purging of expired rows.
//!
//! What it guarantees:
//!
//! - Tokens, codes, client secrets and session ids are stored as hashes only; user
//!   passwords as Argon2id, hashed and verified on tokio's blocking pool.
//! - Redeeming a code and rotating a refresh token are atomic in SQL: of two racing
//!   requests, even from two processes on one PostgreSQL database, exactly one wins.
//! - Operations of several statements run in one transaction: no half-written data.
//! - A token lookup sees everything this process committed before it. On SQLite, a
//!   change made by another process on the same file (the CLI, a second server) may
//!   reach token lookups up to 1 ms later, and clients up to `client_cache_ttl` later.
//! - The schema comes from migrations embedded in the binary (`migrations/sqlite`,
//!   `migrations/postgres`, kept equivalent), applied by [`SqlStore::migrate`].
//!
//! How it is built: `schema` holds the columns, binds and row decoders, written once;
//! `repository` every operation, written once over the `backend::Backend` trait;
//! `group_commit` the batching of writes, written once; `sqlite` and `postgres` the
//! two small backends, of which `connect` picks one by URL.
//!
//! ```no_run
//! # async fn example() -> Result<(), portcullis_sql::SqlError> {
//! use portcullis_sql::{NewUser, SqlStore};
//!
//! let store = SqlStore::connect("sqlite://portcullis.db").await?;
//! let alice = store
//!     .create_user(
//!         NewUser::new("alice", "correct horse battery staple").with_name(Some("Alice".into())),
//!     )
//!     .await?;
//! assert!(store.verify_user_password("alice", "correct horse battery staple").await?.is_some());
//! # let _ = alice;
//! # Ok(()) }
//! ```
//!
//! [`ClientStore`]: portcullis_core::ClientStore
//! [`TokenStore`]: portcullis_core::TokenStore
//! [`AuthorizationCodeStore`]: portcullis_core::AuthorizationCodeStore
//! [`UserStore`]: portcullis_core::UserStore

#![warn(clippy::exhaustive_enums, clippy::exhaustive_structs)]

mod backend;
mod client_cache;
mod connect;
mod core_traits;
mod error;
mod group_commit;
mod password;
mod postgres;
mod records;
mod repository;
mod schema;
mod sqlite;
mod url_clients;
mod username;

use std::fmt;
use std::sync::Arc;

use portcullis_core::random::random_string;
use portcullis_core::{hash_secret, ClientRecord, RandomSource, Scope};

pub use error::SqlError;
pub use records::{
    AttemptOutcome, ConsentRecord, LoginThrottle, NewUser, RegistrationToken, SessionClient,
    SessionRecord, SigningKeyRecord, ThrottleReset, UserRecord,
};
pub use url_clients::{is_resolved_client, UrlClientResolver, RESOLVED_CLIENT_MARKER};
pub use username::{normalize_username, username_key, UsernameError, MAX_USERNAME_CHARS};

use repository::Repository;

/// How SQLite makes commits durable (`PRAGMA synchronous`, in WAL mode).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SqliteSynchronous {
    /// A commit survives a crash of the process, not necessarily a power loss. The
    /// default, and SQLite's recommendation for WAL mode.
    #[default]
    Normal,
    /// A commit survives a power loss too, at the cost of an fsync per commit.
    Full,
}

/// Options of [`SqlStore::connect_with`]: `SqlOptions::default()` and the `with_*`
/// methods.
///
/// ```
/// use portcullis_sql::{SqlOptions, SqliteSynchronous};
///
/// let options = SqlOptions::default()
///     .with_sqlite_synchronous(SqliteSynchronous::Full)
///     .with_client_cache_ttl(0);
/// assert!(options.run_migrations);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SqlOptions {
    /// The most PostgreSQL connections the pool opens (at least 1). Default 10. The
    /// token hot path keeps up to seven more of its own (the lookup task, the writer,
    /// the flusher, revocations and mixed batches), so a server opens at most this
    /// plus seven. (SQLite keeps one writer connection and one reader per thread
    /// that reads.)
    pub max_connections: u32,
    /// SQLite durability; ignored for PostgreSQL. Default [`SqliteSynchronous::Normal`].
    pub sqlite_synchronous: SqliteSynchronous,
    /// Apply the embedded migrations when connecting. Default `true`.
    pub run_migrations: bool,
    /// How long, in seconds, the token endpoint may reuse a client it read (changes
    /// made by another process show within this time). Default 5; 0 disables.
    pub client_cache_ttl: u64,
    /// Open only a database that already exists. Default `false`: a missing SQLite file
    /// is created. With `true`, a missing file is [`SqlError::NoDatabase`] and an
    /// in-memory database (empty, gone when the store is) is refused: for management
    /// tools, which must never write into a database of their own making.
    pub require_existing: bool,
}

impl Default for SqlOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            sqlite_synchronous: SqliteSynchronous::Normal,
            run_migrations: true,
            client_cache_ttl: 5,
            require_existing: false,
        }
    }
}

impl SqlOptions {
    /// With at most `max` PostgreSQL connections.
    pub fn with_max_connections(mut self, max: u32) -> Self {
        self.max_connections = max;
        self
    }

    /// With SQLite durability `synchronous`.
    pub fn with_sqlite_synchronous(mut self, synchronous: SqliteSynchronous) -> Self {
        self.sqlite_synchronous = synchronous;
        self
    }

    /// Applying the migrations when connecting, or not.
    pub fn with_run_migrations(mut self, run: bool) -> Self {
        self.run_migrations = run;
        self
    }

    /// Opening only a database that already exists, or creating a missing SQLite file.
    pub fn with_require_existing(mut self, require: bool) -> Self {
        self.require_existing = require;
        self
    }

    /// Reusing a client read for `seconds` (0 disables the cache).
    pub fn with_client_cache_ttl(mut self, seconds: u64) -> Self {
        self.client_cache_ttl = seconds;
        self
    }
}

/// Which database a [`SqlStore`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backend {
    /// SQLite, one file (or memory).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// The SQL store: a pool of connections to SQLite or PostgreSQL. Cloning is cheap and
/// shares the pool.
///
/// New users' subjects and password salts come from the store's [`RandomSource`]: the
/// OS CSPRNG unless [`with_random`](Self::with_random) injects another.
#[derive(Clone)]
pub struct SqlStore {
    repository: Repository,
    clients: Arc<client_cache::ClientCache>,
    backend: Backend,
    description: Arc<str>,
    created: bool,
    random: Arc<dyn RandomSource>,
    usage: Arc<ClientUsage>,
    /// Resolves `https` URL client ids, when set ([`UrlClientResolver`]).
    url_clients: Option<Arc<dyn UrlClientResolver>>,
}

/// When this process last recorded that a client obtained a token, so that the
/// `last_used_at` of a dynamically registered client is written about hourly, not on
/// every token.
#[derive(Debug, Default)]
struct ClientUsage(std::sync::Mutex<std::collections::HashMap<String, i64>>);

/// How often (seconds) a client's `last_used_at` is written, at most, per process.
const USAGE_GRANULARITY: i64 = 3600;
/// How many clients [`ClientUsage`] remembers before it starts over.
const USAGE_ENTRIES: usize = 10_000;

impl ClientUsage {
    /// True when `client_id`'s use at `now` should be written: this process has not
    /// written one in the last [`USAGE_GRANULARITY`] seconds.
    fn due(&self, client_id: &str, now: i64) -> bool {
        let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match seen.get_mut(client_id) {
            Some(at) if now - *at < USAGE_GRANULARITY => false,
            Some(at) => {
                *at = now;
                true
            }
            None => {
                if seen.len() >= USAGE_ENTRIES {
                    seen.clear();
                }
                seen.insert(client_id.to_owned(), now);
                true
            }
        }
    }
}

impl fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SqlStore").field(&self.description).finish()
    }
}

impl SqlStore {
    /// Opens the database at `url` with default options, and applies the migrations.
    pub async fn connect(url: &str) -> Result<SqlStore, SqlError> {
        Self::connect_with(url, SqlOptions::default()).await
    }

    /// Opens the database at `url`; applies the migrations if `options` say so. Random
    /// bytes come from the OS CSPRNG; [`with_random`](Self::with_random) replaces it.
    // The store's one composition-root default of randomness.
    #[allow(clippy::disallowed_types)]
    pub async fn connect_with(url: &str, options: SqlOptions) -> Result<SqlStore, SqlError> {
        let (backend, kind, created) = connect::connect(url, &options).await?;
        let store = SqlStore {
            description: backend.describe().into(),
            created,
            repository: Repository::new(backend),
            clients: Arc::new(client_cache::ClientCache::new(
                options.client_cache_ttl,
                10_000,
            )),
            backend: kind,
            random: Arc::<portcullis_core::OsRandom>::default(),
            usage: Arc::default(),
            url_clients: None,
        };
        if options.run_migrations {
            store.migrate().await?;
        }
        tracing::debug!(database = %store.description, "connected");
        Ok(store)
    }

    /// The same store (the same pool, shared with its clones) drawing new users'
    /// subjects and password salts from `random` instead.
    pub fn with_random(mut self, random: Arc<dyn RandomSource>) -> SqlStore {
        self.random = random;
        self
    }

    /// The same store (the same pool, shared with its clones) resolving every
    /// `client_id` that is an `https` URL through `resolver` (see
    /// [`UrlClientResolver`]) when the core looks a client up. Set it before the store
    /// is cloned into the engine: clones made before do not see it.
    pub fn with_url_client_resolver(mut self, resolver: Arc<dyn UrlClientResolver>) -> SqlStore {
        self.url_clients = Some(resolver);
        self
    }

    /// A fresh password salt, drawn here so that the hashing workers draw nothing.
    fn salt(&self) -> password::Salt {
        let mut salt = [0u8; password::SALT_BYTES];
        self.random.fill(&mut salt);
        salt
    }

    /// Applies the embedded migrations that are not applied yet. Idempotent, and safe
    /// when several processes start at once.
    pub async fn migrate(&self) -> Result<(), SqlError> {
        self.repository.backend().migrate().await?;
        self.fill_username_keys().await
    }

    /// True when the database holds the store's schema: [`migrate`](Self::migrate) has
    /// run on it at least once. A tool that must not create a database checks this
    /// before migrating an existing one to the current version.
    pub async fn has_schema(&self) -> Result<bool, SqlError> {
        self.repository.backend().has_schema().await
    }

    /// Runs a trivial query: `Ok` when the database answers (for health checks).
    pub async fn ping(&self) -> Result<(), SqlError> {
        self.repository.ping().await
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// True when opening created the database: a SQLite file that did not exist.
    pub fn created_database(&self) -> bool {
        self.created
    }

    /// Where the data lives, for logs: `SQLite at /abs/path/portcullis.db` or
    /// `PostgreSQL at host:port/database`. Never contains a password.
    pub fn describe(&self) -> String {
        self.description.to_string()
    }

    // ---- clients ----

    /// Registers a client as given. A taken `client_id` is [`SqlError::Conflict`].
    pub async fn insert_client(&self, client: &ClientRecord) -> Result<(), SqlError> {
        self.repository.insert_client(client, now_seconds()).await
    }

    /// Replaces the registration of the client `client.client_id` (its id stays, and
    /// what it was issued stays valid); `false` when there is no such client. Running
    /// servers see the change within `client_cache_ttl`.
    pub async fn update_client(&self, client: &ClientRecord) -> Result<bool, SqlError> {
        let updated = self.repository.update_client(client).await;
        self.clients.evict(&client.client_id);
        updated
    }

    /// The client registered under `client_id`.
    pub async fn get_client(&self, client_id: &str) -> Result<Option<ClientRecord>, SqlError> {
        self.repository.get_client(client_id).await
    }

    /// Every client, oldest first.
    pub async fn list_clients(&self) -> Result<Vec<ClientRecord>, SqlError> {
        self.repository.list_clients().await
    }

    /// Deletes a client with its tokens, codes and consents, in one transaction.
    /// `false` when there was no such client.
    pub async fn delete_client(&self, client_id: &str) -> Result<bool, SqlError> {
        let deleted = self.repository.delete_client(client_id).await;
        self.clients.evict(client_id);
        deleted
    }

    /// Registers a client dynamically (RFC 7591): as [`insert_client`](Self::insert_client),
    /// registered at `now`, with the hash of its registration access token (RFC 7592
    /// §1.1), which makes it
    /// readable, changeable and deletable at its registration client URI, and subject
    /// to the removal of unused registrations ([`stale_registrations`](Self::stale_registrations)).
    pub async fn insert_registered_client(
        &self,
        client: &ClientRecord,
        registration_token_hash: &str,
        now: i64,
    ) -> Result<(), SqlError> {
        self.repository
            .insert_registered_client(client, registration_token_hash, now)
            .await
    }

    /// The hash of the registration access token of the client `client_id`; `None`
    /// when there is no such client or it was not registered dynamically.
    pub async fn registration_token_hash(
        &self,
        client_id: &str,
    ) -> Result<Option<String>, SqlError> {
        self.repository.registration_token_hash(client_id).await
    }

    /// Replaces the registration of a dynamically registered client and its
    /// registration access token hash (rotated on every update, RFC 7592 §2.2);
    /// `false` when there is no such client.
    pub async fn update_registered_client(
        &self,
        client: &ClientRecord,
        registration_token_hash: &str,
    ) -> Result<bool, SqlError> {
        let updated = self
            .repository
            .update_registered_client(client, registration_token_hash)
            .await;
        self.clients.evict(&client.client_id);
        updated
    }

    /// `Some((client_id, now))` when this process should record that `client_id`
    /// obtained a token at `now` (it has not in the last hour); the token store
    /// methods then call [`record_client_use`](Self::record_client_use) once the token
    /// is saved. A save that fails after this delays the record by up to an hour.
    pub(crate) fn client_use_due(&self, client_id: &str, now: i64) -> Option<(String, i64)> {
        self.usage
            .due(client_id, now)
            .then(|| (client_id.to_owned(), now))
    }

    /// Writes `last_used_at` of `client_id` in the background, if it was registered
    /// dynamically (other clients are left alone); a failure is logged, never the
    /// token's.
    pub(crate) fn record_client_use(&self, client_id: String, now: i64) {
        let repository = self.repository.clone();
        tokio::spawn(async move {
            if let Err(error) = repository
                .touch_registered_client(&client_id, now, USAGE_GRANULARITY)
                .await
            {
                tracing::warn!(%client_id, %error, "could not record that a client was used");
            }
        });
    }

    /// Up to `limit` dynamically registered clients due for removal at `now`: those
    /// registered over `never_used` seconds ago that never obtained a token, and those
    /// that obtained none for `unused` seconds. Delete each with
    /// [`delete_client`](Self::delete_client).
    pub async fn stale_registrations(
        &self,
        now: i64,
        never_used: i64,
        unused: i64,
        limit: i64,
    ) -> Result<Vec<String>, SqlError> {
        self.repository
            .stale_registrations(now, never_used, unused, limit)
            .await
    }

    /// Saves an initial access token (RFC 7591 §3) by its hash.
    pub async fn insert_registration_token(
        &self,
        token: &RegistrationToken,
    ) -> Result<(), SqlError> {
        self.repository.insert_registration_token(token).await
    }

    /// Counts one use of the initial access token hashing to `token_hash` at `now`,
    /// atomically (two registrations racing for its last use cannot both win):
    /// `false`, and nothing counted, when it is unknown, expired or used up.
    pub async fn use_registration_token(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<bool, SqlError> {
        self.repository
            .use_registration_token(token_hash, now)
            .await
    }

    /// Gives back a use of an initial access token whose registration then failed.
    pub async fn unuse_registration_token(&self, token_hash: &str) -> Result<(), SqlError> {
        self.repository.unuse_registration_token(token_hash).await
    }

    /// Every initial access token, oldest first.
    pub async fn list_registration_tokens(&self) -> Result<Vec<RegistrationToken>, SqlError> {
        self.repository.list_registration_tokens().await
    }

    /// Deletes the initial access tokens whose hash starts with `prefix` (as `list`
    /// shows them); how many were deleted.
    pub async fn delete_registration_tokens(&self, prefix: &str) -> Result<u64, SqlError> {
        self.repository.delete_registration_tokens(prefix).await
    }

    /// Replaces a client's secret hash ([`hash_secret`]
    /// of the new secret). `false` when there is no such client.
    pub async fn set_client_secret_hash(
        &self,
        client_id: &str,
        hash: &str,
    ) -> Result<bool, SqlError> {
        let updated = self
            .repository
            .set_client_secret_hash(client_id, hash)
            .await;
        self.clients.evict(client_id);
        updated
    }

    /// Drops a client from the cache when a write found it deleted
    /// ([`SqlError::UnknownClient`]), so that the next request reads it again (and gets
    /// `invalid_client`) instead of writing for it until the cache entry expires.
    pub(crate) fn forget_deleted_client(&self, error: &SqlError) {
        if let SqlError::UnknownClient(client_id) = error {
            self.clients.evict(client_id);
        }
    }

    /// The client for authentication: from the cache when fresh (see
    /// [`SqlOptions::client_cache_ttl`]), else from the database.
    pub(crate) async fn find_client_cached(
        &self,
        client_id: &str,
    ) -> Result<Option<ClientRecord>, SqlError> {
        let now = now_seconds();
        if let Some(client) = self.clients.get(client_id, now) {
            return Ok(Some(client));
        }
        let found = self.repository.get_client(client_id).await?;
        if let Some(client) = &found {
            self.clients.put(client, now);
        }
        Ok(found)
    }

    /// The client stored under `client_id` in the `clients` table, through the same
    /// cache as [`find_client`](portcullis_core::ClientStore::find_client) but never
    /// through the [`UrlClientResolver`]: what a resolver reads.
    pub async fn find_registered_client(
        &self,
        client_id: &str,
    ) -> Result<Option<ClientRecord>, SqlError> {
        self.find_client_cached(client_id).await
    }

    // ---- users ----

    /// Creates a user with a fresh random subject and an Argon2id password hash. The
    /// username is stored trimmed and in NFKC, and refused ([`SqlError::InvalidUsername`])
    /// when empty, invisible or a mixed-script look-alike (see [`normalize_username`]).
    /// A username taken already — compared ignoring case and width ([`username_key`]) —
    /// is [`SqlError::Conflict`].
    pub async fn create_user(&self, new: NewUser) -> Result<UserRecord, SqlError> {
        let NewUser {
            username,
            email,
            name,
            password,
            claims,
        } = new;
        let username = normalize_username(&username).map_err(SqlError::InvalidUsername)?;
        let key = username_key(&username);
        let subject = random_string(self.random.as_ref(), 16);
        let password_hash = password::hash_password(password, self.salt()).await?;
        let mut user = UserRecord::new(subject, username, now_seconds());
        user.email = email;
        user.name = name;
        user.claims = claims;
        self.repository
            .insert_user(&user, &key, &password_hash)
            .await?;
        Ok(user)
    }

    /// The user with this username, compared ignoring case and width.
    pub async fn get_user(&self, username: &str) -> Result<Option<UserRecord>, SqlError> {
        Ok(self
            .repository
            .get_user(&username_key(username))
            .await?
            .map(|(user, _)| user))
    }

    /// The user with this subject (the `sub` of their tokens).
    pub async fn find_user_by_subject(
        &self,
        subject: &str,
    ) -> Result<Option<UserRecord>, SqlError> {
        self.repository.find_user_by_subject(subject).await
    }

    /// True when at least one user exists (one row read, whatever the table's size).
    pub async fn has_users(&self) -> Result<bool, SqlError> {
        self.repository
            .has_rows(crate::repository::RowsOf::Users)
            .await
    }

    /// True when at least one client is registered (one row read).
    pub async fn has_clients(&self) -> Result<bool, SqlError> {
        self.repository
            .has_rows(crate::repository::RowsOf::Clients)
            .await
    }

    /// Every user, oldest first.
    pub async fn list_users(&self) -> Result<Vec<UserRecord>, SqlError> {
        self.repository.list_users().await
    }

    /// Deletes a user with their tokens, codes, sessions and consents, in one
    /// transaction. `false` when there was no such user.
    pub async fn delete_user(&self, username: &str) -> Result<bool, SqlError> {
        self.repository.delete_user(&username_key(username)).await
    }

    /// Sets a new password, ends the user's sessions and revokes every grant they gave
    /// (tokens, refresh tokens and codes issued before the change stop working).
    /// `false` when there is no such user.
    pub async fn set_user_password(
        &self,
        username: &str,
        password: &str,
    ) -> Result<bool, SqlError> {
        let hash = password::hash_password(password.to_owned(), self.salt()).await?;
        self.repository
            .set_user_password_hash(&username_key(username), &hash, now_seconds())
            .await
    }

    /// Writes `user`'s email, name and claims (the OpenID Connect profile) to the user
    /// with their username; `false` when there is no such user. The subject, username,
    /// password and state are not touched.
    pub async fn set_user_profile(&self, user: &UserRecord) -> Result<bool, SqlError> {
        self.repository
            .set_user_profile(&username_key(&user.username), user)
            .await
    }

    /// Disables (or enables again) a user. A disabled user cannot sign in; disabling
    /// ends their sessions and revokes every grant they gave. `false` when there is no
    /// such user.
    pub async fn set_user_disabled(
        &self,
        username: &str,
        disabled: bool,
    ) -> Result<bool, SqlError> {
        self.repository
            .set_user_disabled(&username_key(username), disabled, now_seconds())
            .await
    }

    /// The user, when `password` is theirs and they are not disabled; `None` for a
    /// wrong password or an unknown or disabled user, which cost the same Argon2
    /// verification.
    pub async fn verify_user_password(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<UserRecord>, SqlError> {
        self.verify_user_password_from(username, password, password::ADMIN_LANE)
            .await
    }

    /// Like [`verify_user_password`](Self::verify_user_password), for a sign-in from
    /// `client_address`: the verification waits behind other verifications from that
    /// address only, so that a flood from one address does not slow everyone's
    /// sign-in (the password hashing queue is fair between addresses). A flood that
    /// fills its address's queue is answered [`SqlError::Busy`].
    pub async fn verify_user_password_from(
        &self,
        username: &str,
        password: &str,
        client_address: &str,
    ) -> Result<Option<UserRecord>, SqlError> {
        let row = self.repository.get_user(&username_key(username)).await?;
        let (user, stored) = match row {
            Some((user, hash)) => (Some(user), Some(hash)),
            None => (None, None),
        };
        let matches =
            password::verify_password(password.to_owned(), stored, client_address).await?;
        Ok(user.filter(|user| matches && !user.disabled))
    }

    /// Gives every user stored before usernames were normalized its comparison key.
    /// Two legacy users whose names differ only by case or width cannot both have it:
    /// the later one keeps none (and cannot sign in until renamed), with an error in
    /// the log naming both.
    async fn fill_username_keys(&self) -> Result<(), SqlError> {
        for (subject, username) in self.repository.users_without_key().await? {
            let key = username_key(&username);
            match self.repository.set_username_key(&subject, &key).await {
                Ok(()) => {}
                Err(SqlError::Conflict(_)) => tracing::error!(
                    username = %username,
                    "two users have names that differ only by case or width; this one cannot sign in until the other is renamed or deleted"
                ),
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    // ---- sessions ----

    /// Stores a new browser session. A taken `id_hash` is [`SqlError::Conflict`].
    pub async fn insert_session(&self, session: &SessionRecord) -> Result<(), SqlError> {
        self.repository.insert_session(session).await
    }

    /// The session with this id hash, expired or not (compare `expires_at` with your
    /// clock; [`purge_expired`](Self::purge_expired) removes expired ones).
    pub async fn get_session(&self, id_hash: &str) -> Result<Option<SessionRecord>, SqlError> {
        self.repository.get_session(id_hash).await
    }

    /// The signed-in sessions of `subject` (every user's when `None`), newest first,
    /// expired ones included until they are purged.
    pub async fn list_sessions(
        &self,
        subject: Option<&str>,
    ) -> Result<Vec<SessionRecord>, SqlError> {
        self.repository.list_sessions(subject).await
    }

    /// Ends every session of `subject`; how many there were.
    pub async fn delete_sessions_of(&self, subject: &str) -> Result<u64, SqlError> {
        self.repository.delete_sessions_of(subject).await
    }

    /// Deletes a session; deleting a missing one is not an error.
    pub async fn delete_session(&self, id_hash: &str) -> Result<(), SqlError> {
        self.repository.delete_session(id_hash).await
    }

    /// Records that the provider session `sid` of `subject` signed into `client_id`
    /// (OpenID Connect Back-Channel Logout), until `expires_at`; recording it again
    /// moves the end. Purged with expired sessions.
    pub async fn record_session_client(
        &self,
        sid: &str,
        client_id: &str,
        subject: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<(), SqlError> {
        self.repository
            .record_session_client(sid, client_id, subject, now, expires_at)
            .await
    }

    /// Moves the end of every client record of the session `sid` to `expires_at`: the
    /// session goes on under a new cookie (its user signed in again).
    pub async fn extend_session_clients(&self, sid: &str, expires_at: i64) -> Result<(), SqlError> {
        self.repository
            .extend_session_clients(sid, expires_at)
            .await
    }

    /// The clients the session `sid` signed into, by client_id; they are forgotten as
    /// they are returned (the session ended and they are about to be told).
    pub async fn take_session_clients(&self, sid: &str) -> Result<Vec<SessionClient>, SqlError> {
        self.repository.take_session_clients(sid).await
    }

    // ---- server secrets ----

    /// The server secret `name` (the pairwise subject salt, say): the one stored, or
    /// `fresh` when none is stored yet, which is then written. Every instance over
    /// this database gets the same value, even when they start at once; a stored
    /// secret is never replaced. The value is stored as given: seal it first.
    pub async fn server_secret(
        &self,
        name: &str,
        fresh: &str,
        now: i64,
    ) -> Result<String, SqlError> {
        self.repository.server_secret(name, fresh, now).await
    }

    // ---- signing keys ----

    /// Every signing key, by algorithm and generation.
    pub async fn list_signing_keys(&self) -> Result<Vec<SigningKeyRecord>, SqlError> {
        self.repository.list_signing_keys().await
    }

    /// Saves a new signing key and, in the same transaction, retires the keys of
    /// `retiring` (`kid`, `retires_at`, `expires_at`; a key that retired earlier
    /// keeps its time). `false`, with nothing written, when a key of the same `alg`
    /// and `generation` exists: another instance rotated first.
    pub async fn insert_signing_key(
        &self,
        key: &SigningKeyRecord,
        retiring: &[(String, i64, i64)],
    ) -> Result<bool, SqlError> {
        self.repository.insert_signing_key(key, retiring).await
    }

    /// Sets keys' times (`kid`, `activates_at`, `retires_at`, `expires_at`) in one
    /// transaction; returns how many of the keys exist.
    pub async fn set_signing_key_times(
        &self,
        changes: &[(String, i64, Option<i64>, Option<i64>)],
    ) -> Result<u64, SqlError> {
        self.repository.set_signing_key_times(changes).await
    }

    /// Replaces a key's sealed private key (to seal it with a new key-encryption
    /// key); `false` when there is no such key.
    pub async fn set_signing_key_private(
        &self,
        kid: &str,
        private_key: &str,
    ) -> Result<bool, SqlError> {
        self.repository
            .set_signing_key_private(kid, private_key)
            .await
    }

    // ---- consent ----

    /// The scope `subject` has consented to for `client_id`, if any.
    pub async fn get_consent(
        &self,
        subject: &str,
        client_id: &str,
    ) -> Result<Option<Scope>, SqlError> {
        self.repository.get_consent(subject, client_id).await
    }

    /// Remembers that `subject` consented to `client_id`'s tokens reaching `resources`
    /// (RFC 8707 resources, as `portcullis_core::extensions::resource_key` writes
    /// them), added to what was remembered before. Revoking the consent forgets them.
    pub async fn save_consent_resources(
        &self,
        subject: &str,
        client_id: &str,
        resources: &[String],
        now: i64,
    ) -> Result<(), SqlError> {
        self.repository
            .save_consent_resources(subject, client_id, resources, now)
            .await
    }

    /// The resources `subject` consented to for `client_id` (their keys, sorted).
    pub async fn consented_resources(
        &self,
        subject: &str,
        client_id: &str,
    ) -> Result<Vec<String>, SqlError> {
        self.repository
            .consented_resources(subject, client_id)
            .await
    }

    /// Remembers consent to `scope`, added to what was remembered before.
    pub async fn save_consent(
        &self,
        subject: &str,
        client_id: &str,
        scope: &Scope,
        now: i64,
    ) -> Result<(), SqlError> {
        self.repository
            .save_consent(subject, client_id, scope, now)
            .await
    }

    /// The consents remembered: of the user `subject` and the client `client_id`
    /// when given (both optional), oldest first.
    pub async fn list_consents(
        &self,
        subject: Option<&str>,
        client_id: Option<&str>,
    ) -> Result<Vec<ConsentRecord>, SqlError> {
        self.repository.list_consents(subject, client_id).await
    }

    /// Forgets `subject`'s consent for `client_id`, revoking every token and code the
    /// user granted that client, so the next request asks again. `false` when there
    /// was no such consent.
    pub async fn revoke_consent(&self, subject: &str, client_id: &str) -> Result<bool, SqlError> {
        self.repository
            .revoke_consent(subject, client_id, now_seconds())
            .await
    }

    // ---- login throttling ----

    /// Counts one sign-in attempt under throttle `key` (atomically, for every
    /// instance on this database) before its password is checked, and returns the
    /// key's state with this attempt among the pending ones. Failures are forgotten per
    /// `reset`, `window` seconds long. Finish every begun attempt with
    /// [`end_login_attempt`](Self::end_login_attempt). The key is stored as its
    /// SHA-256, never as given (it may hold a typed username, or a password typed into
    /// the username field).
    pub async fn begin_login_attempt(
        &self,
        key: &str,
        now: i64,
        window: i64,
        reset: ThrottleReset,
    ) -> Result<LoginThrottle, SqlError> {
        self.repository
            .begin_login_attempt(&hash_secret(key), now, window, reset)
            .await
    }

    /// The state of throttle `key` as stored now (`None` when nothing is counted under
    /// it): what [`begin_login_attempt`](Self::begin_login_attempt) returned, plus
    /// every attempt begun since. Deciding on this, read after all of an attempt's keys
    /// were counted, rather than on each count's own answer, lets no two attempts miss
    /// each other on both of two keys.
    pub async fn login_attempts(&self, key: &str) -> Result<Option<LoginThrottle>, SqlError> {
        self.repository.login_attempts(&hash_secret(key)).await
    }

    /// Finishes an attempt begun under `key`: no longer pending, and counted as a
    /// failure, forgotten with the key's failures, or counted for nothing.
    pub async fn end_login_attempt(
        &self,
        key: &str,
        now: i64,
        window: i64,
        outcome: AttemptOutcome,
    ) -> Result<(), SqlError> {
        self.repository
            .end_login_attempt(&hash_secret(key), now, window, outcome)
            .await
    }

    // ---- housekeeping ----

    /// Deletes what expired by `now`: authorization codes (used or not), sessions,
    /// sign-in throttling rows that count for nothing any more, and tokens whose access
    /// token has expired and whose refresh token, if any, has an expiry that has
    /// passed. Returns how many rows went.
    pub async fn purge_expired(&self, now: i64) -> Result<u64, SqlError> {
        self.repository.purge_expired(now).await
    }
}

/// The system clock in UTC seconds, used only for `created_at` columns; everything
/// that decides validity takes `now` from the caller.
#[allow(clippy::disallowed_methods)]
pub(crate) fn now_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
