//! Signing keys: created on first start, kept in the database with their private
//! halves sealed by the key-encryption key, held in memory by every instance, and
//! rotated without ever surprising a relying party.
//!
//! A key's life follows from its times (`SigningKeyRecord`): **next** (published in
//! the JWK Set, not signing) → **current** (signing) → **retired** (still published
//! until everything it signed has expired) → removed. A rotation publishes the new key
//! [`KeysConfig::publication_delay`] before it signs — one JWK Set cache lifetime plus
//! one reload interval — so a relying party that cached the set never meets an unknown
//! `kid`. Every instance reloads the keys every `signing_key_refresh` seconds and
//! decides which key is current from the times alone, so all instances on one database
//! sign with the same key and serve the same JWK Set. Two instances rotating at once
//! create one key: `(alg, generation)` is unique.
//!
//! Private keys are sealed with AES-256-GCM under the key-encryption key
//! (`key_encryption_key`, env `PORTCULLIS_KEY_ENCRYPTION_KEY`, or
//! `key_encryption_key_file`), bound to their `kid` and algorithm; without one they are
//! stored as they are and the server warns at start, and the keys are sealed at the
//! first start that has one.

use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use base64::Engine as _;
use bytes::Bytes;
use portcullis_core::jose::{Algorithm, CryptoProvider, Jwk, JwkSet, KeySet, Signer, SigningKeys};
use portcullis_core::{Clock, JwkSetSource, OAuthError, PublishedJwks, RandomSource};
use portcullis_sql::{SigningKeyRecord, SqlError, SqlStore};
use serde::Serialize;

use crate::config::KeysConfig;

/// The prefix of a private key sealed with the key-encryption key.
const SEALED: &str = "aes256gcm:";

/// Why a sealed key does not open without a key-encryption key.
const NO_KEK: &str = "it is encrypted, and no key-encryption key is set: set \
                      PORTCULLIS_KEY_ENCRYPTION_KEY (or key_encryption_key_file) to the key it \
                      was sealed with";
/// The prefix of a private key stored without a key-encryption key.
const PLAIN: &str = "plain:";

/// Why a key operation failed. Messages name the key and say what to do; they never
/// contain key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key settings are not usable.
    #[error("{0}")]
    Config(String),
    /// The database failed.
    #[error("signing keys: {0}")]
    Database(#[from] SqlError),
    /// A stored key cannot be used.
    #[error("signing key {kid}: {reason}")]
    Stored {
        /// The key.
        kid: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Key generation or encryption failed.
    #[error("signing keys: {0}")]
    Crypto(String),
    /// A command named a key or algorithm that cannot be used so.
    #[error("{0}")]
    Refused(String),
}

/// The key-encryption key. `Debug` never shows it.
pub struct Kek(LessSafeKey);

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kek(<redacted>)")
    }
}

impl Kek {
    /// The key-encryption key of `config`, from the setting or the file; `None` when
    /// neither is set.
    pub fn from_config(config: &KeysConfig) -> Result<Option<Kek>, KeyError> {
        let (text, origin) = match (&config.key_encryption_key, &config.key_encryption_key_file) {
            (Some(text), _) => (text.clone(), "key_encryption_key".to_owned()),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    KeyError::Config(format!(
                        "cannot read key_encryption_key_file {}: {e}",
                        path.display()
                    ))
                })?;
                (text, format!("key_encryption_key_file {}", path.display()))
            }
            (None, None) => return Ok(None),
        };
        Kek::parse(&text)
            .map(Some)
            .map_err(|reason| KeyError::Config(format!("{origin}: {reason}")))
    }

    /// A key from 32 bytes in base64 (standard or URL-safe, padded or not).
    pub fn parse(text: &str) -> Result<Kek, String> {
        let text = text.trim();
        let engines = [
            &base64::engine::general_purpose::STANDARD,
            &base64::engine::general_purpose::STANDARD_NO_PAD,
            &base64::engine::general_purpose::URL_SAFE,
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ];
        let bytes = engines
            .iter()
            .find_map(|engine| engine.decode(text).ok())
            .ok_or_else(|| {
                "not base64; generate a key with `openssl rand -base64 32`".to_owned()
            })?;
        if bytes.len() != 32 {
            return Err(format!(
                "must be 32 bytes in base64, not {} bytes; generate one with `openssl rand -base64 32`",
                bytes.len()
            ));
        }
        let key = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| "unusable key".to_owned())?;
        Ok(Kek(LessSafeKey::new(key)))
    }
}

/// What binds a sealed key to its row: another row's ciphertext does not open here.
fn aad(kid: &str, alg: &str) -> String {
    format!("portcullis signing key {kid} {alg}")
}

/// Seals the PKCS#8 `der` of key `kid` with `kek`, or marks it plain without one.
fn seal(
    kek: Option<&Kek>,
    random: &dyn RandomSource,
    kid: &str,
    alg: &str,
    der: &[u8],
) -> Result<String, KeyError> {
    seal_bytes(kek, random, &aad(kid, alg), der)
        .map_err(|()| KeyError::Crypto("sealing a private key failed".into()))
}

/// Seals `bytes` with `kek`, bound to `aad` (`aes256gcm:` nonce and ciphertext,
/// base64url), or marks them `plain:` without one.
pub(crate) fn seal_bytes(
    kek: Option<&Kek>,
    random: &dyn RandomSource,
    aad: &str,
    bytes: &[u8],
) -> Result<String, ()> {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let Some(kek) = kek else {
        return Ok(format!("{PLAIN}{}", b64.encode(bytes)));
    };
    let mut nonce = [0u8; NONCE_LEN];
    random.fill(&mut nonce);
    let mut sealed = bytes.to_vec();
    kek.0
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad.as_bytes()),
            &mut sealed,
        )
        .map_err(|_| ())?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    Ok(format!("{SEALED}{}", b64.encode(out)))
}

/// The bytes `stored` holds ([`seal_bytes`] with `aad`), or why they cannot be read.
pub(crate) fn open_bytes(
    kek: Option<&Kek>,
    stored: &str,
    aad: &str,
) -> Result<Vec<u8>, &'static str> {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    const CORRUPT: &str = "it is corrupt";
    if let Some(plain) = stored.strip_prefix(PLAIN) {
        return b64.decode(plain).map_err(|_| CORRUPT);
    }
    let Some(sealed) = stored.strip_prefix(SEALED) else {
        return Err("it has an unknown format");
    };
    let Some(kek) = kek else {
        return Err(NO_KEK);
    };
    let bytes = b64.decode(sealed).map_err(|_| CORRUPT)?;
    if bytes.len() < NONCE_LEN {
        return Err(CORRUPT);
    }
    let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CORRUPT)?;
    let mut buffer = ciphertext.to_vec();
    let opened = kek
        .0
        .open_in_place(nonce, Aad::from(aad.as_bytes()), &mut buffer)
        .map_err(|_| {
            "it does not open with the key-encryption key: is PORTCULLIS_KEY_ENCRYPTION_KEY \
             the key it was sealed with?"
        })?;
    Ok(opened.to_vec())
}

/// The PKCS#8 DER of a stored key.
fn open(kek: Option<&Kek>, record: &SigningKeyRecord) -> Result<Vec<u8>, KeyError> {
    open_bytes(kek, &record.private_key, &aad(&record.kid, &record.alg)).map_err(|reason| {
        KeyError::Stored {
            kid: record.kid.clone(),
            reason: reason.to_owned(),
        }
    })
}

/// The name of the pairwise subject salt among the server secrets.
pub const PAIRWISE_SALT: &str = "pairwise_subject_salt";

/// What binds a sealed server secret to its name.
fn secret_aad(name: &str) -> String {
    format!("portcullis server secret {name}")
}

/// The pairwise subject salt (OpenID Connect Core §8.1) of the installation: 32
/// random bytes generated by the first instance to start over the database and kept
/// there (sealed with the key-encryption key when one is set), so that every instance
/// computes the same pairwise subjects, forever.
pub async fn pairwise_salt(
    store: &SqlStore,
    config: &KeysConfig,
    random: &dyn RandomSource,
    now: i64,
) -> Result<Vec<u8>, KeyError> {
    let kek = Kek::from_config(config)?;
    let aad = secret_aad(PAIRWISE_SALT);
    let mut fresh = [0u8; 32];
    random.fill(&mut fresh);
    let sealed = seal_bytes(kek.as_ref(), random, &aad, &fresh)
        .map_err(|()| KeyError::Crypto("sealing the pairwise subject salt failed".into()))?;
    let stored = store.server_secret(PAIRWISE_SALT, &sealed, now).await?;
    open_bytes(kek.as_ref(), &stored, &aad)
        .map_err(|reason| KeyError::Config(format!("the pairwise subject salt: {reason}")))
}

/// Where a key is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum KeyState {
    /// Published, not signing yet.
    Next,
    /// Signing.
    Current,
    /// No longer signing, still published.
    Retired,
}

/// The state of `key` at `now`; `None` once it has expired (removed).
fn state_of(key: &SigningKeyRecord, now: i64) -> Option<KeyState> {
    if key.expires_at.is_some_and(|e| e <= now) {
        None
    } else if now < key.activates_at {
        Some(KeyState::Next)
    } else if key.retires_at.is_some_and(|r| r <= now) {
        Some(KeyState::Retired)
    } else {
        Some(KeyState::Current)
    }
}

/// A key as `portcullis keys list` shows it: no key material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct KeyInfo {
    /// Key id.
    pub kid: String,
    /// Algorithm.
    pub alg: String,
    /// Where it is in its life now.
    pub state: KeyState,
    /// When it was created (UTC seconds).
    pub created: i64,
    /// When it starts (or started) signing.
    pub activates: i64,
    /// When it stops (or stopped) signing, if decided.
    pub retires: Option<i64>,
    /// When it leaves the JWK Set, if decided.
    pub expires: Option<i64>,
    /// Whether its private key is sealed with a key-encryption key.
    pub encrypted: bool,
}

impl KeyInfo {
    fn of(key: &SigningKeyRecord, state: KeyState) -> Self {
        Self {
            kid: key.kid.clone(),
            alg: key.alg.clone(),
            state,
            created: key.created_at,
            activates: key.activates_at,
            retires: key.retires_at,
            expires: key.expires_at,
            encrypted: key.private_key.starts_with(SEALED),
        }
    }
}

/// One loaded signing key and when it signs.
#[derive(Debug)]
struct Loaded {
    algorithm: Algorithm,
    activates_at: i64,
    retires_at: Option<i64>,
    signer: Arc<Signer>,
}

/// The keys as loaded at one moment: the signers of the current and next keys, and the
/// JWK Set to publish.
#[derive(Debug)]
pub struct KeyRing {
    loaded: Vec<Loaded>,
    published: PublishedJwks,
    verification: Arc<KeySet>,
    default_algorithm: Algorithm,
    /// The configured algorithms, in their configured order: where the default
    /// algorithm has no active key yet, the first of these that has one signs.
    algorithms: Vec<Algorithm>,
}

impl KeyRing {
    /// The key that signs with `algorithm` at `now`: the newest active one.
    pub fn signer(&self, algorithm: Algorithm, now: i64) -> Option<Arc<Signer>> {
        self.loaded
            .iter()
            .filter(|k| k.algorithm == algorithm && k.activates_at <= now)
            .filter(|k| k.retires_at.is_none_or(|r| now < r))
            .max_by_key(|k| k.activates_at)
            .map(|k| k.signer.clone())
    }

    /// The key that signs with the server's default algorithm at `now`; while that
    /// algorithm has no active key (it was just added to `signing_algorithms`, and its
    /// first key is published but not yet signing), the active key of the first
    /// configured algorithm that has one, or else of any algorithm still loaded (one
    /// just removed from `signing_algorithms`), so that signing does not stop for the
    /// publication delay.
    pub fn default_signer(&self, now: i64) -> Option<Arc<Signer>> {
        std::iter::once(self.default_algorithm)
            .chain(self.algorithms.iter().copied())
            .chain(Algorithm::ALL)
            .find_map(|algorithm| self.signer(algorithm, now))
    }

    /// The JWK Set to publish.
    pub fn published(&self) -> &PublishedJwks {
        &self.published
    }

    /// The published keys, ready to verify what this server signed.
    pub fn verification_keys(&self) -> &Arc<KeySet> {
        &self.verification
    }
}

/// The signing keys of one server: loads, creates, rotates and retires them, and
/// serves the JWK Set.
pub struct KeyManager {
    store: SqlStore,
    provider: CryptoProvider,
    kek: Option<Kek>,
    algorithms: Vec<Algorithm>,
    default_algorithm: Algorithm,
    config: KeysConfig,
    clock: Arc<dyn Clock>,
    random: Arc<dyn RandomSource>,
    ring: RwLock<Option<Arc<KeyRing>>>,
}

impl std::fmt::Debug for KeyManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyManager")
            .field("algorithms", &self.algorithms)
            .field("default_algorithm", &self.default_algorithm)
            .field("encrypted", &self.kek.is_some())
            .finish_non_exhaustive()
    }
}

fn parse_algorithm(name: &str) -> Result<Algorithm, KeyError> {
    name.parse().map_err(KeyError::Config)
}

impl KeyManager {
    /// The key manager of `config` over `store`; reads the key-encryption key but
    /// touches no key yet ([`sync`](Self::sync) does).
    pub fn new(
        store: SqlStore,
        config: &KeysConfig,
        clock: Arc<dyn Clock>,
        random: Arc<dyn RandomSource>,
    ) -> Result<Self, KeyError> {
        Ok(Self {
            store,
            provider: portcullis_core::jose::aws_lc_rs::provider(),
            kek: Kek::from_config(config)?,
            algorithms: config
                .signing_algorithms
                .iter()
                .map(|a| parse_algorithm(a))
                .collect::<Result<_, _>>()?,
            default_algorithm: parse_algorithm(&config.signing_algorithm)?,
            config: config.clone(),
            clock,
            random,
            ring: RwLock::new(None),
        })
    }

    /// Whether private keys are sealed with a key-encryption key.
    pub fn encrypts(&self) -> bool {
        self.kek.is_some()
    }

    /// Refuses to touch `keys` unless every sealed one opens: without the
    /// key-encryption key, a key created now would be stored unencrypted beside them;
    /// with a wrong one, it would be sealed under a key no other instance has, and the
    /// next retirement would leave them nothing to sign with. Checked before anything
    /// is written.
    fn require_kek_for(&self, keys: &[SigningKeyRecord]) -> Result<(), KeyError> {
        for key in keys.iter().filter(|k| k.private_key.starts_with(SEALED)) {
            open(self.kek.as_ref(), key)?;
        }
        Ok(())
    }

    /// Brings the database up to date and loads the keys: creates the first key of
    /// each configured algorithm, rotates a key whose time has come, seals keys stored
    /// without encryption once a key-encryption key is set; then decrypts the current
    /// and next keys into memory and builds the JWK Set.
    pub async fn sync(&self) -> Result<Arc<KeyRing>, KeyError> {
        let now = self.clock.now();
        let mut keys = self.store.list_signing_keys().await?;
        self.require_kek_for(&keys)?;
        let mut changed = false;
        for &algorithm in &self.algorithms {
            changed |= self.maintain(algorithm, &keys, now).await?;
        }
        if changed {
            keys = self.store.list_signing_keys().await?;
        }
        if self.kek.is_some() {
            let mut sealed = 0;
            for key in keys.iter_mut().filter(|k| k.private_key.starts_with(PLAIN)) {
                let der = open(None, key)?;
                let private = seal(self.kek.as_ref(), &*self.random, &key.kid, &key.alg, &der)?;
                if self
                    .store
                    .set_signing_key_private(&key.kid, &private)
                    .await?
                {
                    key.private_key = private;
                    sealed += 1;
                }
            }
            if sealed > 0 {
                tracing::info!(
                    keys = sealed,
                    "signing keys sealed with the key-encryption key"
                );
            }
        }
        let ring = Arc::new(self.load(&keys, now)?);
        if ring.signer(self.default_algorithm, now).is_none() {
            if let Some(standing_in) = ring.default_signer(now) {
                tracing::warn!(
                    default = self.default_algorithm.name(),
                    algorithm = standing_in.algorithm().name(),
                    kid = standing_in.kid(),
                    "the default signing algorithm has no current key yet; another key signs until it has"
                );
            }
        }
        if let Ok(mut slot) = self.ring.write() {
            *slot = Some(ring.clone());
        }
        Ok(ring)
    }

    /// The keys as last loaded, if they were.
    pub fn loaded(&self) -> Option<Arc<KeyRing>> {
        self.ring.read().ok().and_then(|slot| slot.clone())
    }

    /// The keys as last loaded, loading them first if they never were.
    pub async fn ring(&self) -> Result<Arc<KeyRing>, KeyError> {
        match self.loaded() {
            Some(ring) => Ok(ring),
            None => self.sync().await,
        }
    }

    /// Reloads the keys every `signing_key_refresh` seconds, forever; a failure is
    /// logged and the keys loaded before stay in use.
    pub async fn refresh_periodically(self: Arc<Self>) {
        let period = std::time::Duration::from_secs(self.config.signing_key_refresh.max(1));
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval.tick().await;
        loop {
            interval.tick().await;
            if let Err(error) = self.sync().await {
                tracing::warn!(%error, "reloading the signing keys failed; the loaded keys stay in use");
            }
        }
    }

    /// Creates what `algorithm` lacks: its first key, or the next key once the current
    /// one is due for rotation. True when it tried (the keys must be read again: this
    /// instance or a racing one created the key).
    async fn maintain(
        &self,
        algorithm: Algorithm,
        keys: &[SigningKeyRecord],
        now: i64,
    ) -> Result<bool, KeyError> {
        let of_algorithm = keys_of(keys, algorithm.name());
        let current = newest(&of_algorithm, now, KeyState::Current);
        let next = newest(&of_algorithm, now, KeyState::Next);
        let delay = self.config.publication_delay();
        let rotation = i64::try_from(self.config.signing_key_rotation).unwrap_or(0);
        match (current, next) {
            (None, None) => {
                let activates_at = self.first_activation(keys, now);
                self.create(algorithm, &of_algorithm, activates_at, None, now)
                    .await?;
                Ok(true)
            }
            (Some(current), None)
                if rotation > 0 && now >= current.activates_at.saturating_add(rotation) - delay =>
            {
                let activates_at = now
                    .saturating_add(delay)
                    .max(current.activates_at.saturating_add(rotation));
                self.create(algorithm, &of_algorithm, activates_at, Some(current), now)
                    .await?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// When a new key signs: at once while no key is published at all (nobody can
    /// have cached the set), otherwise after the publication delay.
    fn first_activation(&self, keys: &[SigningKeyRecord], now: i64) -> i64 {
        if keys.is_empty() {
            now
        } else {
            now + self.config.publication_delay()
        }
    }

    /// Until when a key that stops signing at `retires_at`, decided at `now`, stays
    /// published: `signing_key_retention` after it, so that everything it signed has
    /// expired; when `retires_at` is so close that other instances may not have
    /// reloaded by then, and keep signing with it until they do, their reload grace
    /// longer.
    fn published_until(&self, retires_at: i64, now: i64) -> i64 {
        let grace = self.config.reload_grace();
        let late = if retires_at.saturating_sub(now) < grace {
            grace
        } else {
            0
        };
        retires_at
            .saturating_add(late)
            .saturating_add(self.config.signing_key_retention)
    }

    /// Generates a key of `algorithm` that signs from `activates_at`, retiring
    /// `retiring` then, in one transaction; when another instance created that
    /// generation first, nothing is written (theirs stands) and it returns `false`.
    async fn create(
        &self,
        algorithm: Algorithm,
        of_algorithm: &[&SigningKeyRecord],
        activates_at: i64,
        retiring: Option<&SigningKeyRecord>,
        now: i64,
    ) -> Result<bool, KeyError> {
        let signer = Signer::generate(&self.provider, algorithm)
            .map_err(|e| KeyError::Crypto(e.to_string()))?;
        let der = signer
            .key()
            .to_pkcs8_der()
            .map_err(|e| KeyError::Crypto(e.to_string()))?;
        let private = seal(
            self.kek.as_ref(),
            &*self.random,
            signer.kid(),
            algorithm.name(),
            &der,
        )?;
        let public = serde_json::to_string(&signer.public_jwk())
            .map_err(|e| KeyError::Crypto(e.to_string()))?;
        let generation = of_algorithm.iter().map(|k| k.generation).max().unwrap_or(0) + 1;
        let record = SigningKeyRecord::new(
            signer.kid(),
            algorithm.name(),
            generation,
            public,
            private,
            now,
            activates_at,
        );
        let retirements: Vec<(String, i64, i64)> = retiring
            .map(|old| {
                (
                    old.kid.clone(),
                    activates_at,
                    self.published_until(activates_at, now),
                )
            })
            .into_iter()
            .collect();
        let created = self.store.insert_signing_key(&record, &retirements).await?;
        if created {
            tracing::info!(
                kid = signer.kid(),
                alg = algorithm.name(),
                activates_at,
                retiring = retiring.map(|k| k.kid.as_str()),
                "signing key created"
            );
        }
        Ok(created)
    }

    /// Decrypts the keys that sign now or later and builds the JWK Set.
    fn load(&self, keys: &[SigningKeyRecord], now: i64) -> Result<KeyRing, KeyError> {
        let mut published = Vec::new();
        let mut loaded = Vec::new();
        for key in keys {
            let Some(state) = state_of(key, now) else {
                continue;
            };
            let stored = |reason: String| KeyError::Stored {
                kid: key.kid.clone(),
                reason,
            };
            let jwk: Jwk = serde_json::from_str(&key.public_jwk)
                .map_err(|e| stored(format!("its public key is not a JWK: {e}")))?;
            if state != KeyState::Retired {
                let algorithm = parse_algorithm(&key.alg)?;
                let der = open(self.kek.as_ref(), key)?;
                let private = self
                    .provider
                    .require(algorithm)
                    .and_then(|a| a.load(&der))
                    .map_err(|e| stored(e.to_string()))?;
                let signer = Signer::new(private, key.kid.clone());
                if signer.public_jwk() != jwk {
                    return Err(stored(
                        "its private key does not match its public key".into(),
                    ));
                }
                loaded.push(Loaded {
                    algorithm,
                    activates_at: key.activates_at,
                    retires_at: key.retires_at,
                    signer: Arc::new(signer),
                });
            }
            published.push(jwk);
        }
        let set = JwkSet::new(published);
        let verification = Arc::new(KeySet::from_jwk_set(&self.provider, &set, &Algorithm::ALL));
        let body = serde_json::to_string(&set).map_err(|e| KeyError::Crypto(e.to_string()))?;
        // The same set gives the same tag on every instance.
        let etag = format!("\"{}\"", portcullis_core::hash_secret(&body));
        Ok(KeyRing {
            loaded,
            published: PublishedJwks::new(Bytes::from(body), etag, self.config.jwks_max_age),
            verification,
            default_algorithm: self.default_algorithm,
            algorithms: self.algorithms.clone(),
        })
    }

    /// Every stored key that has not expired, as `keys list` shows it.
    pub async fn list(&self) -> Result<Vec<KeyInfo>, KeyError> {
        let now = self.clock.now();
        Ok(self
            .store
            .list_signing_keys()
            .await?
            .iter()
            .filter_map(|k| state_of(k, now).map(|s| KeyInfo::of(k, s)))
            .collect())
    }

    /// Starts a rotation of `algorithm` (the default algorithm when `None`): a new key,
    /// published now, signing after the publication delay, when the current key
    /// retires. Refused while a next key of that algorithm is already waiting.
    pub async fn rotate(&self, algorithm: Option<Algorithm>) -> Result<KeyInfo, KeyError> {
        let algorithm = algorithm.unwrap_or(self.default_algorithm);
        if !self.algorithms.contains(&algorithm) {
            return Err(KeyError::Refused(format!(
                "{algorithm} is not one of signing_algorithms ({}); add it there first",
                self.config.signing_algorithms.join(", ")
            )));
        }
        let now = self.clock.now();
        let keys = self.store.list_signing_keys().await?;
        self.require_kek_for(&keys)?;
        let of_algorithm = keys_of(&keys, algorithm.name());
        if let Some(next) = newest(&of_algorithm, now, KeyState::Next) {
            return Err(KeyError::Refused(format!(
                "key {} of {algorithm} already waits to become current at {}; retire it first \
                 or wait",
                next.kid, next.activates_at
            )));
        }
        let current = newest(&of_algorithm, now, KeyState::Current);
        let activates_at = self.first_activation(&keys, now);
        self.create(algorithm, &of_algorithm, activates_at, current, now)
            .await?;
        let keys = self.store.list_signing_keys().await?;
        let created = keys_of(&keys, algorithm.name())
            .into_iter()
            .max_by_key(|k| k.generation)
            .ok_or_else(|| KeyError::Refused("the new key was not saved".into()))?;
        let state = state_of(created, now).unwrap_or(KeyState::Next);
        Ok(KeyInfo::of(created, state))
    }

    /// Retires key `kid` now: it stops signing at once and stays published until
    /// what it signed has expired. A current key's successor takes over at once: the
    /// waiting next key, or a new one. A next key that never signed is removed, and
    /// the current key it would have replaced stays current.
    pub async fn retire(&self, kid: &str) -> Result<Vec<KeyInfo>, KeyError> {
        let now = self.clock.now();
        let keys = self.store.list_signing_keys().await?;
        self.require_kek_for(&keys)?;
        let key = keys
            .iter()
            .find(|k| k.kid == kid)
            .ok_or_else(|| KeyError::Refused(format!("no signing key {kid}")))?;
        let of_algorithm = keys_of(&keys, &key.alg);
        match state_of(key, now) {
            None | Some(KeyState::Retired) => {
                return Err(KeyError::Refused(format!("key {kid} is already retired")));
            }
            Some(KeyState::Next) => {
                // An instance that has not reloaded since may still start signing with
                // it at its activation: then it stays published as a retired key would.
                let expires = if key.activates_at.saturating_sub(now) < self.config.reload_grace() {
                    self.published_until(key.activates_at, now)
                } else {
                    now
                };
                let mut changes = vec![(key.kid.clone(), now, Some(now), Some(expires))];
                if let Some(current) = newest(&of_algorithm, now, KeyState::Current) {
                    if current.retires_at == Some(key.activates_at) {
                        changes.push((current.kid.clone(), current.activates_at, None, None));
                    }
                }
                self.store.set_signing_key_times(&changes).await?;
            }
            Some(KeyState::Current) => {
                let mut changes = vec![(
                    key.kid.clone(),
                    key.activates_at,
                    Some(now),
                    Some(self.published_until(now, now)),
                )];
                match newest(&of_algorithm, now, KeyState::Next) {
                    Some(next) => {
                        tracing::warn!(
                            kid = next.kid.as_str(),
                            "the next key signs before its publication delay has passed; \
                             relying parties that cached the JWK Set earlier refetch it on the unknown kid"
                        );
                        changes.push((next.kid.clone(), now, next.retires_at, next.expires_at));
                        self.store.set_signing_key_times(&changes).await?;
                    }
                    None => {
                        let replacement = parse_algorithm(&key.alg)
                            .ok()
                            .filter(|a| self.algorithms.contains(a));
                        match replacement {
                            // The successor and the retirement in one transaction: an
                            // instance reloading in between would otherwise find no
                            // current key and create one that signs only after the
                            // publication delay.
                            Some(algorithm) => {
                                if !self
                                    .create(algorithm, &of_algorithm, now, Some(key), now)
                                    .await?
                                {
                                    return Err(KeyError::Refused(format!(
                                        "the keys of {} changed while key {kid} was being \
                                         retired, which was not done; list them and retire \
                                         it again",
                                        key.alg
                                    )));
                                }
                            }
                            None => {
                                self.store.set_signing_key_times(&changes).await?;
                            }
                        }
                    }
                }
            }
        }
        self.list().await
    }
}

/// The keys of `algorithm`.
fn keys_of<'a>(keys: &'a [SigningKeyRecord], algorithm: &str) -> Vec<&'a SigningKeyRecord> {
    keys.iter().filter(|k| k.alg == algorithm).collect()
}

/// The newest key of `keys` in `state` at `now`.
fn newest<'a>(
    keys: &[&'a SigningKeyRecord],
    now: i64,
    state: KeyState,
) -> Option<&'a SigningKeyRecord> {
    keys.iter()
        .copied()
        .filter(|k| state_of(k, now) == Some(state))
        .max_by_key(|k| (k.activates_at, k.generation))
}

/// What JWT access tokens sign and verify with: the keys as last loaded (never a
/// database read per token).
impl SigningKeys for KeyManager {
    fn signer(&self, now: i64) -> Option<Arc<Signer>> {
        self.loaded()?.default_signer(now)
    }

    fn verification_keys(&self) -> Option<Arc<KeySet>> {
        Some(self.loaded()?.verification_keys().clone())
    }

    fn signing_algorithms(&self) -> Vec<Algorithm> {
        vec![self.default_algorithm]
    }

    fn signer_for(&self, algorithm: Algorithm, now: i64) -> Option<Arc<Signer>> {
        self.loaded()?.signer(algorithm, now)
    }

    fn selectable_algorithms(&self) -> Vec<Algorithm> {
        self.algorithms.clone()
    }
}

#[async_trait]
impl JwkSetSource for KeyManager {
    async fn published(&self) -> Result<PublishedJwks, OAuthError> {
        match self.ring().await {
            Ok(ring) => Ok(ring.published().clone()),
            Err(error) => {
                tracing::error!(%error, "the signing keys cannot be loaded");
                Err(OAuthError::server_error())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kek_is_32_bytes_of_base64() {
        let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        assert!(Kek::parse(&key).is_ok());
        assert!(Kek::parse(&format!("  {key}\n")).is_ok());
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([0xfbu8; 32]);
        assert!(Kek::parse(&url).is_ok());
        let short = base64::engine::general_purpose::STANDARD.encode([7u8; 16]);
        assert!(Kek::parse(&short).unwrap_err().contains("not 16 bytes"));
        assert!(Kek::parse("not base64 at all!")
            .unwrap_err()
            .contains("openssl rand"));
        assert_eq!(
            format!("{:?}", Kek::parse(&key).unwrap()),
            "Kek(<redacted>)"
        );
    }

    fn record(kid: &str, private_key: String) -> SigningKeyRecord {
        SigningKeyRecord::new(kid, "ES256", 1, "{}", private_key, 0, 0)
    }

    #[test]
    fn sealed_keys_open_only_with_their_kek_and_their_row() {
        let kek = Kek::parse(&base64::engine::general_purpose::STANDARD.encode([1u8; 32])).unwrap();
        let other =
            Kek::parse(&base64::engine::general_purpose::STANDARD.encode([2u8; 32])).unwrap();
        #[allow(clippy::disallowed_types)] // a test is a composition root
        let random = portcullis_core::OsRandom::default();
        let sealed = seal(Some(&kek), &random, "kid-1", "ES256", b"secret der").unwrap();
        assert!(sealed.starts_with(SEALED));
        assert!(!sealed.contains("secret"));
        assert_eq!(
            open(Some(&kek), &record("kid-1", sealed.clone())).unwrap(),
            b"secret der"
        );
        // The wrong key-encryption key, none at all, or another row: refused.
        let wrong = open(Some(&other), &record("kid-1", sealed.clone())).unwrap_err();
        assert!(wrong.to_string().contains("does not open"), "{wrong}");
        let missing = open(None, &record("kid-1", sealed.clone())).unwrap_err();
        assert!(
            missing
                .to_string()
                .contains("PORTCULLIS_KEY_ENCRYPTION_KEY"),
            "{missing}"
        );
        let moved = open(Some(&kek), &record("kid-2", sealed.clone())).unwrap_err();
        assert!(moved.to_string().contains("does not open"), "{moved}");
        let mut tampered = sealed;
        tampered.pop();
        assert!(open(Some(&kek), &record("kid-1", tampered)).is_err());
        // Without a key-encryption key, keys are stored plain (and say so).
        let plain = seal(None, &random, "kid-1", "ES256", b"der").unwrap();
        assert!(plain.starts_with(PLAIN));
        assert_eq!(open(Some(&kek), &record("kid-1", plain)).unwrap(), b"der");
        assert!(open(None, &record("kid-1", "rot13:abc".into())).is_err());
    }

    #[test]
    fn a_keys_state_follows_from_its_times() {
        let mut key = record("k", String::new());
        key.activates_at = 100;
        key.retires_at = Some(200);
        key.expires_at = Some(300);
        assert_eq!(state_of(&key, 99), Some(KeyState::Next));
        assert_eq!(state_of(&key, 100), Some(KeyState::Current));
        assert_eq!(state_of(&key, 199), Some(KeyState::Current));
        assert_eq!(state_of(&key, 200), Some(KeyState::Retired));
        assert_eq!(state_of(&key, 299), Some(KeyState::Retired));
        assert_eq!(state_of(&key, 300), None);
    }
}
