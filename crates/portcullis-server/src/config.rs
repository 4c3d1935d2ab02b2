//! Configuration: defaults, then a TOML file, then `PORTCULLIS_<KEY>` environment
//! variables, then command-line flags — each overriding the one before.
//!
//! Every key of [`Config`] can be set in the file (`--config FILE`, or env
//! `PORTCULLIS_CONFIG`) and by an environment variable named after it in upper case:
//! `issuer` ← `PORTCULLIS_ISSUER`, `access_token_lifetime` ←
//! `PORTCULLIS_ACCESS_TOKEN_LIFETIME`. Unknown keys in the file are an error, so a typo
//! never goes unnoticed; a type error names the key and its line; a `PORTCULLIS_*`
//! variable that is no setting is warned about, with the closest setting.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A configuration problem, worded so the operator knows what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file cannot be read.
    #[error("cannot read the configuration file '{path}': {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The configuration file or an environment variable is not valid.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// The `Server` header (unless `server_header = false`) and the home page's version:
/// `portcullis/VERSION`.
pub const SERVER: &str = concat!("portcullis/", env!("CARGO_PKG_VERSION"));

/// The server's settings, in sections. Every field name is also a top-level TOML key
/// and an environment variable (the sections are not nested in the file), so
/// `login_free_attempts = 5` in the file or `PORTCULLIS_LOGIN_FREE_ATTEMPTS=5` sets
/// `config.sign_in.login_free_attempts`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Where the data lives.
    #[serde(flatten)]
    pub database: DatabaseConfig,
    /// The HTTP side: address, issuer, limits.
    #[serde(flatten)]
    pub http: HttpConfig,
    /// Tokens, codes and grants.
    #[serde(flatten)]
    pub tokens: TokenConfig,
    /// Sign-in, sessions and throttling.
    #[serde(flatten)]
    pub sign_in: SignInConfig,
    /// The HTML pages.
    #[serde(flatten)]
    pub pages: PagesConfig,
    /// The metadata document (RFC 8414).
    #[serde(flatten)]
    pub metadata: MetadataConfig,
    /// Signing keys and the JWK Set.
    #[serde(flatten)]
    pub keys: KeysConfig,
    /// Dynamic client registration (RFC 7591, RFC 7592).
    #[serde(flatten)]
    pub dynamic_registration: RegistrationConfig,
}

/// Dynamic client registration (RFC 7591) and its management (RFC 7592).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RegistrationConfig {
    /// Who may register clients at the registration endpoint: `disabled` (the
    /// default: there is no endpoint), `initial_access_token` (whoever presents a
    /// token made by `portcullis registration-token create`) or `open` (anyone,
    /// rate-limited per address).
    #[serde(rename = "registration")]
    pub mode: String,
    /// The scopes a client that registers itself may register; the scope of one
    /// that names none. Unset: `scopes_supported`, or else `openid profile email
    /// address phone offline_access`.
    pub registration_scopes: Option<Vec<String>>,
    /// How many clients one address may register per hour without an initial access
    /// token (`open`), per instance.
    pub registration_rate_limit: u32,
    /// Seconds after which a dynamically registered client that never obtained a
    /// token is removed.
    pub registration_unclaimed_lifetime: i64,
    /// Seconds after which a dynamically registered client that obtained no token
    /// since is removed.
    pub registration_unused_lifetime: i64,
    /// Accepts `client_id`s that are `https` URLs of client ID metadata documents
    /// (draft-ietf-oauth-client-id-metadata-document, as MCP clients use): the server
    /// fetches the document the URL names (guarded as every fetch on a client's
    /// behalf) and uses the public client it describes. Off by default.
    pub client_id_metadata_documents: bool,
}

impl Default for RegistrationConfig {
    fn default() -> Self {
        Self {
            mode: "disabled".into(),
            registration_scopes: None,
            registration_rate_limit: 20,
            registration_unclaimed_lifetime: 24 * 3600,
            registration_unused_lifetime: 90 * 24 * 3600,
            client_id_metadata_documents: false,
        }
    }
}

impl RegistrationConfig {
    /// The scopes a self-registered client may register when the operator named none
    /// (neither `registration_scopes` nor `scopes_supported`).
    pub const DEFAULT_SCOPES: &'static [&'static str] = &[
        "openid",
        "profile",
        "email",
        "address",
        "phone",
        "offline_access",
    ];

    /// The registration modes.
    pub const MODES: [&'static str; 3] = ["disabled", "initial_access_token", "open"];

    /// True unless registration is `disabled`.
    pub fn enabled(&self) -> bool {
        self.mode != "disabled"
    }
}

/// Where the data lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` (embedded, the default) or `postgres://USER@HOST/DB`.
    pub database_url: String,
    /// SQLite durability: `normal` (survives a process crash) or `full` (survives power
    /// loss).
    pub sqlite_synchronous: String,
    /// Database connection pool size.
    pub max_connections: u32,
    /// Seconds the token endpoint may reuse a client it read; a client changed by the
    /// CLI or another instance is seen within this time. 0 disables the cache.
    pub client_cache_ttl: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            database_url: "sqlite://portcullis.db".into(),
            sqlite_synchronous: "normal".into(),
            max_connections: 16,
            client_cache_ttl: 5,
        }
    }
}

/// The HTTP side: address, issuer, timeouts and limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpConfig {
    /// The address `serve` listens on.
    pub bind: String,
    /// The issuer identifier: the server's public base URL. `https` is required unless
    /// the host is a loopback address. Unset, `serve` derives it from a loopback
    /// `bind` (`http://` and the address it listens on); any other `bind` needs it.
    pub issuer: Option<String>,
    /// Seconds a client has to send a request's head (line and headers), counted
    /// from the first byte it sends.
    pub http_header_timeout: u64,
    /// Seconds a client has to send a request's whole body.
    pub http_body_timeout: u64,
    /// Seconds a connection may stay open without sending a request (a new
    /// connection, or a kept-alive one between requests).
    pub http_idle_timeout: u64,
    /// The most connections served at once; more wait in the kernel's accept queue.
    pub http_max_connections: u32,
    /// Seconds that shutdown waits for requests in flight before it exits anyway.
    pub shutdown_grace_period: u64,
    /// `Strict-Transport-Security: max-age` when the issuer is https, seconds
    /// (0 sends no header).
    pub hsts_max_age: u64,
    /// Sends `Server: portcullis/VERSION` on every response.
    pub server_header: bool,
    /// Special-use addresses (loopback, private, link-local...) that URLs a client
    /// registered — its `sector_identifier_uri`, its `backchannel_logout_uri` — may
    /// reach all the same: relying parties on a private network, or a test's loopback
    /// server. Empty by default: such URLs reach public addresses only, over https.
    pub fetch_allowed_addresses: Vec<String>,
    /// A PEM file of certificate authorities trusted, besides the system's, by every
    /// fetch made on a client's behalf (client ID metadata documents, sector
    /// identifier and back-channel logout URIs): a private deployment's CA, or a
    /// test's. Read at start-up; unreadable or without a certificate, it stops the start.
    pub fetch_ca_file: Option<PathBuf>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            issuer: None,
            http_header_timeout: 10,
            http_body_timeout: 10,
            http_idle_timeout: 30,
            http_max_connections: 1024,
            shutdown_grace_period: 10,
            hsts_max_age: 365 * 24 * 3600,
            server_header: true,
            fetch_allowed_addresses: Vec::new(),
            fetch_ca_file: None,
        }
    }
}

/// Tokens, codes and grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TokenConfig {
    /// Access token lifetime, seconds.
    pub access_token_lifetime: i64,
    /// Refresh token idle lifetime, seconds: how long a refresh token stays usable
    /// after it was issued; each rotation starts it again.
    pub refresh_token_lifetime: i64,
    /// A grant's absolute lifetime, seconds: no refresh token of a grant works longer
    /// than this after the grant was first given, however often it was rotated.
    pub grant_lifetime: i64,
    /// Authorization code lifetime, seconds.
    pub authorization_code_lifetime: i64,
    /// Enables the insecure legacy password grant (RFC 6749 §4.3).
    pub enable_password_grant: bool,
    /// Enables the insecure legacy implicit grant (RFC 6749 §4.2).
    pub enable_implicit_grant: bool,
    /// Lets `http://localhost` redirect URIs vary in port, as loopback IP ones do
    /// (RFC 8252 §7.3): only the port; never for https or another host. For the
    /// native and MCP clients that register `http://localhost`.
    pub localhost_redirect_port_leeway: bool,
    /// `opaque` (default) or `jwt` (RFC 9068): the access tokens of clients that did
    /// not choose (`client create --access-token-format`).
    pub access_token_format: String,
    /// OpenID Connect ID token lifetime, seconds.
    pub id_token_lifetime: i64,
    /// The audience (RFC 8707 resource indicator, an absolute URI) of tokens issued
    /// without any `resource` to a client that has no `--audience` of its own; unset:
    /// such tokens name no audience.
    pub default_resource: Option<String>,
    /// The longest a client assertion (`private_key_jwt`, `client_secret_jwt`, RFC
    /// 7523) may live, seconds from `iat` (or now) to `exp`; its `jti` is remembered
    /// that long.
    pub client_assertion_max_lifetime: i64,
}

impl Default for TokenConfig {
    fn default() -> Self {
        Self {
            access_token_lifetime: 3600,
            refresh_token_lifetime: 30 * 24 * 3600,
            grant_lifetime: 30 * 24 * 3600,
            authorization_code_lifetime: 60,
            enable_password_grant: false,
            enable_implicit_grant: false,
            localhost_redirect_port_leeway: false,
            access_token_format: "opaque".into(),
            id_token_lifetime: 3600,
            default_resource: None,
            client_assertion_max_lifetime: 300,
        }
    }
}

/// Sign-in, sessions and throttling.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SignInConfig {
    /// How long a sign-in lasts, seconds.
    pub session_lifetime: i64,
    /// How long an authorization request waits for the user to sign in and consent,
    /// seconds.
    pub authorization_request_lifetime: i64,
    /// Failed sign-ins allowed per account before delays start.
    pub login_free_attempts: u32,
    /// The longest delay between sign-in attempts, seconds; failures older than this
    /// are forgotten, and the window of `login_address_failures`.
    pub login_max_delay: i64,
    /// Failed sign-ins allowed from one client address (an IPv6 client: its /64) per
    /// `login_max_delay` window, whatever the accounts; successes never count.
    pub login_address_failures: u32,
    /// The fewest characters (Unicode code points) a user's password may have: at
    /// least 8 (NIST SP 800-63B §3.1.1.2). There are no composition rules; the most
    /// common passwords are refused whatever their length.
    pub password_min_length: u32,
}

impl Default for SignInConfig {
    fn default() -> Self {
        Self {
            session_lifetime: 12 * 3600,
            authorization_request_lifetime: 600,
            login_free_attempts: 3,
            login_max_delay: 900,
            login_address_failures: 50,
            password_min_length: PASSWORD_MIN_LENGTH_FLOOR,
        }
    }
}

/// The lowest `password_min_length` may be: NIST SP 800-63B's minimum.
pub const PASSWORD_MIN_LENGTH_FLOOR: u32 = 8;

impl SignInConfig {
    /// Checks `password_min_length`.
    pub fn validate_password_policy(&self) -> Result<(), ConfigError> {
        if self.password_min_length < PASSWORD_MIN_LENGTH_FLOOR {
            return Err(ConfigError::Invalid(format!(
                "password_min_length must be at least {PASSWORD_MIN_LENGTH_FLOOR} (NIST SP \
                 800-63B), not {}",
                self.password_min_length
            )));
        }
        if self.password_min_length > 64 {
            return Err(ConfigError::Invalid(format!(
                "password_min_length must be at most 64 (NIST SP 800-63B asks that \
                 passwords of 64 characters be accepted), not {}",
                self.password_min_length
            )));
        }
        Ok(())
    }
}

/// The HTML pages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PagesConfig {
    /// A directory whose templates (`login.html`, `consent.html`, ...) and
    /// `portcullis.css` replace the built-in ones.
    pub templates_dir: Option<PathBuf>,
    /// Words shown on the consent page for each scope, e.g. `profile = "Your name"`.
    pub scope_descriptions: BTreeMap<String, String>,
    /// The name every page shows at its top and the home page's headline: who runs
    /// this sign-in ("Example Corp accounts"). `Portcullis` by default.
    pub service_name: String,
    /// An image file (PNG, JPEG, GIF, WebP or SVG, at most 256 KiB) shown beside the
    /// service name on every page. Read once at start-up and served at `/static/logo`
    /// from this server, so the pages' content security policy stays `img-src 'self'`.
    pub logo: Option<PathBuf>,
}

/// The longest `service_name`, in characters.
pub const MAX_SERVICE_NAME: usize = 64;

impl Default for PagesConfig {
    fn default() -> Self {
        Self {
            templates_dir: None,
            scope_descriptions: BTreeMap::new(),
            service_name: "Portcullis".to_owned(),
            logo: None,
        }
    }
}

impl PagesConfig {
    /// Checks `service_name` (not blank, at most [`MAX_SERVICE_NAME`] characters, no
    /// control characters) and that the `logo` file is an image the pages can show.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let name = &self.service_name;
        if name.trim().is_empty() {
            return Err(ConfigError::Invalid(
                "service_name must not be empty: it is the name the sign-in pages show \
                 (leave it unset for \"Portcullis\")"
                    .into(),
            ));
        }
        if name.chars().count() > MAX_SERVICE_NAME {
            return Err(ConfigError::Invalid(format!(
                "service_name must be at most {MAX_SERVICE_NAME} characters, not {}",
                name.chars().count()
            )));
        }
        if name.chars().any(char::is_control) {
            return Err(ConfigError::Invalid(
                "service_name must not contain control characters (newlines, tabs)".into(),
            ));
        }
        if let Some(logo) = &self.logo {
            crate::templates::Logo::load(logo).map_err(|e| {
                ConfigError::Invalid(format!("{e} (the setting logo, or PORTCULLIS_LOGO)"))
            })?;
        }
        Ok(())
    }
}

/// The metadata document (RFC 8414).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MetadataConfig {
    /// `scopes_supported` in the metadata; when unset, the member is left out (the
    /// scopes of registered clients are theirs, not the public's).
    pub scopes_supported: Option<Vec<String>>,
    /// `service_documentation` in the metadata: where people read about this server.
    pub service_documentation: Option<String>,
}

/// The longest any key period setting may be, seconds (100 years).
const LONGEST_KEY_PERIOD: u64 = 100 * 365 * 24 * 3600;

/// Signing keys and the JWK Set (see `crate::keys`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct KeysConfig {
    /// The algorithms that get a signing key each: `ES256`, `RS256`, `PS256`, `EdDSA`
    /// (env: space- or comma-separated).
    pub signing_algorithms: Vec<String>,
    /// The algorithm the server signs with where no profile or client says otherwise;
    /// one of `signing_algorithms`.
    pub signing_algorithm: String,
    /// The key-encryption key that seals private signing keys in the database: 32
    /// bytes in base64 (env `PORTCULLIS_KEY_ENCRYPTION_KEY`). Never logged.
    pub key_encryption_key: Option<String>,
    /// A file holding the key-encryption key instead (one line, base64).
    pub key_encryption_key_file: Option<PathBuf>,
    /// How long relying parties may cache the JWK Set (`Cache-Control: max-age`),
    /// seconds. A new key is published this long (plus `signing_key_refresh`) before
    /// it signs.
    pub jwks_max_age: u64,
    /// How often each instance reloads the keys from the database, seconds: the bound
    /// on how long a rotation made elsewhere takes to be seen.
    pub signing_key_refresh: u64,
    /// Automatic rotation: each algorithm gets a new key this often, seconds; 0 turns
    /// it off.
    pub signing_key_rotation: u64,
    /// How long a retired key stays published, seconds: at least the longest lifetime
    /// of anything it signed (`access_token_lifetime`).
    pub signing_key_retention: i64,
}

impl Default for KeysConfig {
    fn default() -> Self {
        Self {
            signing_algorithms: vec!["ES256".into(), "RS256".into()],
            signing_algorithm: "ES256".into(),
            key_encryption_key: None,
            key_encryption_key_file: None,
            jwks_max_age: 600,
            signing_key_refresh: 30,
            signing_key_rotation: 90 * 24 * 3600,
            signing_key_retention: 24 * 3600,
        }
    }
}

impl std::fmt::Debug for KeysConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeysConfig")
            .field("signing_algorithms", &self.signing_algorithms)
            .field("signing_algorithm", &self.signing_algorithm)
            .field(
                "key_encryption_key",
                &self.key_encryption_key.as_ref().map(|_| "<redacted>"),
            )
            .field("key_encryption_key_file", &self.key_encryption_key_file)
            .field("jwks_max_age", &self.jwks_max_age)
            .field("signing_key_refresh", &self.signing_key_refresh)
            .field("signing_key_rotation", &self.signing_key_rotation)
            .field("signing_key_retention", &self.signing_key_retention)
            .finish()
    }
}

impl KeysConfig {
    /// How long before it signs a new key is published: one JWK Set cache lifetime,
    /// plus the time every instance needs to load it, plus a little clock skew.
    pub fn publication_delay(&self) -> i64 {
        i64::try_from(self.jwks_max_age.saturating_add(self.signing_key_refresh))
            .unwrap_or(i64::MAX / 2)
            .saturating_add(5)
    }

    /// How long after a change in the database every instance has surely reloaded
    /// it: `signing_key_refresh` plus 5 s. A key retired at once stays published this
    /// much longer, since another instance may sign with it until its next reload.
    pub fn reload_grace(&self) -> i64 {
        i64::try_from(self.signing_key_refresh)
            .unwrap_or(i64::MAX / 2)
            .saturating_add(5)
    }

    fn validate(&self, access_token_lifetime: i64) -> Result<(), ConfigError> {
        use portcullis_core::jose::Algorithm;
        if self.signing_algorithms.is_empty() {
            return Err(ConfigError::Invalid(
                "signing_algorithms must name at least one algorithm (ES256, RS256, PS256, EdDSA)"
                    .into(),
            ));
        }
        for name in &self.signing_algorithms {
            name.parse::<Algorithm>()
                .map_err(|e| ConfigError::Invalid(format!("signing_algorithms: {e}")))?;
        }
        // OpenID Connect: RS256 is every relying party's default ID token algorithm
        // (Registration §2), which a provider must support (Discovery §3).
        if !self.signing_algorithms.iter().any(|a| a == "RS256") {
            return Err(ConfigError::Invalid(format!(
                "signing_algorithms must include RS256, the default algorithm of OpenID Connect ID \
                 tokens (now {}): add it, for example signing_algorithms = [\"{}\", \"RS256\"]",
                self.signing_algorithms.join(", "),
                self.signing_algorithm
            )));
        }
        if !self.signing_algorithms.contains(&self.signing_algorithm) {
            return Err(ConfigError::Invalid(format!(
                "signing_algorithm '{}' must be one of signing_algorithms ({})",
                self.signing_algorithm,
                self.signing_algorithms.join(", ")
            )));
        }
        if self.signing_key_refresh == 0 {
            return Err(ConfigError::Invalid(
                "signing_key_refresh must be at least 1 second".into(),
            ));
        }
        // Key times are sums of these and of the clock: bounded, they cannot overflow.
        for (name, seconds) in [
            ("jwks_max_age", self.jwks_max_age),
            ("signing_key_refresh", self.signing_key_refresh),
            ("signing_key_rotation", self.signing_key_rotation),
            (
                "signing_key_retention",
                u64::try_from(self.signing_key_retention).unwrap_or(0),
            ),
        ] {
            if seconds > LONGEST_KEY_PERIOD {
                return Err(ConfigError::Invalid(format!(
                    "{name} ({seconds} s) must be at most {LONGEST_KEY_PERIOD} s (100 years)"
                )));
            }
        }
        let rotation = i64::try_from(self.signing_key_rotation).unwrap_or(i64::MAX);
        if rotation != 0 && rotation <= self.publication_delay().saturating_mul(2) {
            return Err(ConfigError::Invalid(format!(
                "signing_key_rotation ({rotation} s) must be 0 (off) or more than twice the \
                 publication delay ({} s: jwks_max_age + signing_key_refresh + 5)",
                self.publication_delay()
            )));
        }
        if self.signing_key_retention < access_token_lifetime {
            return Err(ConfigError::Invalid(format!(
                "signing_key_retention ({} s) must be at least access_token_lifetime ({} s): \
                 a retired key stays published until what it signed has expired",
                self.signing_key_retention, access_token_lifetime
            )));
        }
        if self.key_encryption_key.is_some() && self.key_encryption_key_file.is_some() {
            return Err(ConfigError::Invalid(
                "set key_encryption_key or key_encryption_key_file, not both".into(),
            ));
        }
        Ok(())
    }
}

impl Config {
    /// Loads the configuration: defaults, the file (if any), then `PORTCULLIS_<KEY>`
    /// variables from `env`.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                let table = toml::from_str::<toml::Table>(&text).map_err(|e| {
                    ConfigError::Invalid(format!(
                        "{}{}: {}",
                        path.display(),
                        e.span()
                            .map(|span| format!(" line {}", line_of(&text, span.start)))
                            .unwrap_or_default(),
                        e.message()
                    ))
                })?;
                check_file_types(path, &text, &table)?;
                table
            }
            None => toml::Table::new(),
        };
        let defaults = toml::Table::try_from(Config::default())
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let env: BTreeMap<String, String> = env.into_iter().collect();
        for var in env.keys() {
            if let Some(warning) = unknown_variable(var) {
                tracing::warn!("{warning}");
            }
        }
        for &key in Self::keys() {
            let var = format!("PORTCULLIS_{}", key.to_uppercase());
            let Some(raw) = env.get(&var) else { continue };
            let value = match defaults.get(key) {
                Some(toml::Value::Integer(_)) => raw
                    .trim()
                    .parse::<i64>()
                    .map(toml::Value::Integer)
                    .map_err(|_| {
                        ConfigError::Invalid(format!("{var} must be a whole number, not '{raw}'"))
                    })?,
                Some(toml::Value::Boolean(_)) => match raw.trim() {
                    "true" | "1" | "yes" => toml::Value::Boolean(true),
                    "false" | "0" | "no" => toml::Value::Boolean(false),
                    _ => {
                        return Err(ConfigError::Invalid(format!(
                            "{var} must be true or false, not '{raw}'"
                        )))
                    }
                },
                Some(toml::Value::Table(_)) => {
                    let parsed: toml::Table = toml::from_str(&format!("v = {raw}"))
                        .map_err(|_| ConfigError::Invalid(format!("{var} must be an inline TOML table like {{ profile = \"Your name\" }}")))?;
                    parsed
                        .get("v")
                        .cloned()
                        .unwrap_or(toml::Value::Table(toml::Table::new()))
                }
                // Scope tokens are separated by spaces only: a comma is legal inside
                // one (RFC 6749 section 3.3). Algorithm names may also be separated by
                // commas.
                _ if key == "scopes_supported" || key == "registration_scopes" => {
                    list(raw, |c| c.is_whitespace())
                }
                _ if key == "signing_algorithms" || key == "fetch_allowed_addresses" => {
                    list(raw, |c| c.is_whitespace() || c == ',')
                }
                _ => toml::Value::String(raw.clone()),
            };
            table.insert(key.to_owned(), value);
        }
        // The sections are flattened, which serde cannot combine with refusing
        // unknown fields: unknown keys are refused here, so a typo never goes
        // unnoticed.
        if let Some(unknown) = table
            .keys()
            .find(|key| !Self::keys().contains(&key.as_str()))
        {
            return Err(ConfigError::Invalid(format!(
                "unknown key '{unknown}' (the keys are: {})",
                Self::keys().join(", ")
            )));
        }
        let config: Config = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Invalid(e.message().to_owned()))?;
        Ok(config)
    }

    /// Every configuration key.
    pub fn keys() -> &'static [&'static str] {
        &[
            "database_url",
            "bind",
            "issuer",
            "templates_dir",
            "access_token_lifetime",
            "refresh_token_lifetime",
            "grant_lifetime",
            "authorization_code_lifetime",
            "session_lifetime",
            "authorization_request_lifetime",
            "enable_password_grant",
            "enable_implicit_grant",
            "localhost_redirect_port_leeway",
            "login_free_attempts",
            "login_max_delay",
            "login_address_failures",
            "password_min_length",
            "sqlite_synchronous",
            "max_connections",
            "client_cache_ttl",
            "scope_descriptions",
            "service_name",
            "logo",
            "scopes_supported",
            "service_documentation",
            "http_header_timeout",
            "http_body_timeout",
            "http_idle_timeout",
            "http_max_connections",
            "shutdown_grace_period",
            "hsts_max_age",
            "server_header",
            "fetch_allowed_addresses",
            "access_token_format",
            "id_token_lifetime",
            "default_resource",
            "signing_algorithms",
            "signing_algorithm",
            "key_encryption_key",
            "key_encryption_key_file",
            "jwks_max_age",
            "signing_key_refresh",
            "signing_key_rotation",
            "signing_key_retention",
            "client_assertion_max_lifetime",
            "registration",
            "registration_scopes",
            "registration_rate_limit",
            "registration_unclaimed_lifetime",
            "registration_unused_lifetime",
            "client_id_metadata_documents",
            "fetch_ca_file",
        ]
    }

    /// Checks the settings `serve` depends on: the bind address, the issuer (or that it
    /// can be derived from the bind address), lifetimes.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bind = self.bind_addr()?;
        match &self.http.issuer {
            Some(issuer) => validate_issuer(issuer)?,
            None if bind.ip().is_loopback() => {}
            None => {
                return Err(ConfigError::Invalid(format!(
                    "no issuer is configured and the bind address {bind} is not a loopback \
                     address, so the server's public URL cannot be guessed: set it with \
                     --issuer URL or PORTCULLIS_ISSUER (for example \
                     --issuer https://auth.example.com)"
                )))
            }
        }
        self.sign_in.validate_password_policy()?;
        let registration = &self.dynamic_registration;
        if !RegistrationConfig::MODES.contains(&registration.mode.as_str()) {
            return Err(ConfigError::Invalid(format!(
                "registration must be one of {}, not '{}'",
                RegistrationConfig::MODES.join(", "),
                registration.mode
            )));
        }
        if registration.mode == "open" && registration.registration_rate_limit == 0 {
            return Err(ConfigError::Invalid(
                "registration_rate_limit must be at least 1 when registration is open (it is \
                 how many clients one address may register per hour)"
                    .into(),
            ));
        }
        for scope in registration.registration_scopes.iter().flatten() {
            if portcullis_core::Scope::parse(scope).map_or(true, |s| s.iter().count() != 1) {
                return Err(ConfigError::Invalid(format!(
                    "registration_scopes: '{scope}' is not a scope token"
                )));
            }
        }
        self.pages.validate()?;
        for address in &self.http.fetch_allowed_addresses {
            if address.parse::<std::net::IpAddr>().is_err() {
                return Err(ConfigError::Invalid(format!(
                    "fetch_allowed_addresses: '{address}' is not an IP address (name \
                     addresses, like 10.0.0.7 or fd00::7, not host names)"
                )));
            }
        }
        self.load_fetch_policy()?;
        let (tokens, sign_in, http) = (&self.tokens, &self.sign_in, &self.http);
        for (name, value) in [
            ("access_token_lifetime", tokens.access_token_lifetime),
            ("id_token_lifetime", tokens.id_token_lifetime),
            ("refresh_token_lifetime", tokens.refresh_token_lifetime),
            ("grant_lifetime", tokens.grant_lifetime),
            (
                "authorization_code_lifetime",
                tokens.authorization_code_lifetime,
            ),
            ("session_lifetime", sign_in.session_lifetime),
            (
                "authorization_request_lifetime",
                sign_in.authorization_request_lifetime,
            ),
            ("login_max_delay", sign_in.login_max_delay),
            (
                "client_assertion_max_lifetime",
                tokens.client_assertion_max_lifetime,
            ),
            (
                "registration_unclaimed_lifetime",
                self.dynamic_registration.registration_unclaimed_lifetime,
            ),
            (
                "registration_unused_lifetime",
                self.dynamic_registration.registration_unused_lifetime,
            ),
        ] {
            if value <= 0 {
                return Err(ConfigError::Invalid(format!(
                    "{name} must be a positive number of seconds, not {value}"
                )));
            }
        }
        for (name, value) in [
            ("http_header_timeout", http.http_header_timeout),
            ("http_body_timeout", http.http_body_timeout),
            ("http_idle_timeout", http.http_idle_timeout),
            ("http_max_connections", u64::from(http.http_max_connections)),
            ("shutdown_grace_period", http.shutdown_grace_period),
            (
                "login_address_failures",
                u64::from(sign_in.login_address_failures),
            ),
        ] {
            if value == 0 {
                return Err(ConfigError::Invalid(format!(
                    "{name} must be at least 1, not 0"
                )));
            }
        }
        if !matches!(self.database.sqlite_synchronous.as_str(), "normal" | "full") {
            return Err(ConfigError::Invalid(format!(
                "sqlite_synchronous must be 'normal' or 'full', not '{}'",
                self.database.sqlite_synchronous
            )));
        }
        if let Some(resource) = &self.tokens.default_resource {
            portcullis_core::extensions::resource_key(resource).map_err(|_| {
                ConfigError::Invalid(format!(
                    "default_resource '{resource}' must be an absolute URI without a fragment \
                     (RFC 8707 §2), e.g. https://api.example.com"
                ))
            })?;
        }
        if !matches!(self.tokens.access_token_format.as_str(), "opaque" | "jwt") {
            return Err(ConfigError::Invalid(format!(
                "access_token_format must be 'opaque' or 'jwt', not '{}'",
                self.tokens.access_token_format
            )));
        }
        self.keys.validate(self.tokens.access_token_lifetime)?;
        Ok(())
    }

    /// The issuer a server listening on `local` advertises: the configured one, or,
    /// when none is, `http://` and `local` if it is a loopback address (127.0.0.0/8,
    /// `[::1]`). Any other address needs a configured issuer: what clients reach
    /// cannot be guessed from it.
    pub fn issuer_for(&self, local: SocketAddr) -> Result<String, ConfigError> {
        if let Some(issuer) = &self.http.issuer {
            return Ok(issuer.clone());
        }
        if !local.ip().is_loopback() {
            return Err(ConfigError::Invalid(format!(
                "no issuer is configured and the bind address {local} is not a loopback \
                 address: set it with --issuer URL or PORTCULLIS_ISSUER"
            )));
        }
        if local.port() == 0 {
            return Err(ConfigError::Invalid(
                "no issuer is configured and the bind address has port 0: set the issuer \
                 (--issuer URL or PORTCULLIS_ISSUER), or bind the listener first"
                    .into(),
            ));
        }
        Ok(format!("http://{local}"))
    }

    /// The addresses URLs a client registered may reach ([`HttpConfig::fetch_allowed_addresses`]
    /// added to the public ones), trusting the certificate authorities of [`HttpConfig::fetch_ca_file`]). The
    /// file was checked by [`Config::validate`]; should it have become unreadable
    /// since, the error is logged and the system's authorities alone are trusted.
    pub fn fetch_policy(&self) -> portcullis_axum::fetch::AddressPolicy {
        match self.load_fetch_policy() {
            Ok(policy) => policy,
            Err(error) => {
                tracing::error!(%error, "fetch_ca_file ignored");
                self.address_policy()
            }
        }
    }

    /// [`Config::fetch_policy`], with an unreadable or malformed `fetch_ca_file` an
    /// error that names the file and says what is wrong.
    pub fn load_fetch_policy(&self) -> Result<portcullis_axum::fetch::AddressPolicy, ConfigError> {
        let policy = self.address_policy();
        let Some(path) = &self.http.fetch_ca_file else {
            return Ok(policy);
        };
        let pem = std::fs::read(path).map_err(|e| {
            ConfigError::Invalid(format!(
                "fetch_ca_file: cannot read '{}': {e}",
                path.display()
            ))
        })?;
        policy
            .with_ca_pem(&pem)
            .map_err(|e| ConfigError::Invalid(format!("fetch_ca_file '{}': {e}", path.display())))
    }

    /// The scopes a client that registers itself (or publishes a client ID metadata
    /// document) may register: `registration_scopes`, else `scopes_supported`, else
    /// [`RegistrationConfig::DEFAULT_SCOPES`].
    pub fn registration_scopes(&self) -> Vec<String> {
        self.dynamic_registration
            .registration_scopes
            .clone()
            .or_else(|| self.metadata.scopes_supported.clone())
            .unwrap_or_else(|| {
                RegistrationConfig::DEFAULT_SCOPES
                    .iter()
                    .map(|s| (*s).to_owned())
                    .collect()
            })
    }

    /// The addresses of [`HttpConfig::fetch_allowed_addresses`], without extra CAs.
    fn address_policy(&self) -> portcullis_axum::fetch::AddressPolicy {
        portcullis_axum::fetch::AddressPolicy::allowing(
            self.http
                .fetch_allowed_addresses
                .iter()
                .filter_map(|address| address.parse::<std::net::IpAddr>().ok()),
        )
    }

    /// The issuer, or `""` while none is set (see [`Config::issuer_for`]).
    pub fn issuer(&self) -> &str {
        self.http.issuer.as_deref().unwrap_or_default()
    }

    /// The path every endpoint is served under (RFC 8414 §3.1): the issuer's path,
    /// `""` for an issuer without one, never with a trailing `/`.
    pub fn base_path(&self) -> String {
        issuer_base_path(self.issuer())
    }

    /// The parsed bind address.
    pub fn bind_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.http.bind.parse().map_err(|_| {
            ConfigError::Invalid(format!(
                "bind address '{}' is not IP:PORT (for example 127.0.0.1:8080 or 0.0.0.0:8080)",
                self.http.bind
            ))
        })
    }

    /// The `Strict-Transport-Security` value to send: for an https issuer with a
    /// non-zero `hsts_max_age`.
    pub fn hsts(&self) -> Option<String> {
        (self.secure_cookies() && self.http.hsts_max_age > 0)
            .then(|| format!("max-age={}", self.http.hsts_max_age))
    }

    /// True when cookies must be `Secure`: the issuer is https.
    pub fn secure_cookies(&self) -> bool {
        url::Url::parse(self.issuer()).is_ok_and(|url| url.scheme() == "https")
    }
}

/// `PORTCULLIS_*` variables that are not settings but are read all the same: the
/// configuration file's (a flag's environment name), and those of the project's own
/// test and benchmark scripts.
const OTHER_VARIABLES: &[&str] = &[
    "PORTCULLIS_CONFIG",
    "PORTCULLIS_BIN",
    "PORTCULLIS_BENCH_BIN",
];

/// The warning for `var` when it is a `PORTCULLIS_*` variable that sets nothing (a
/// misspelt setting, say), naming the closest setting.
pub fn unknown_variable(var: &str) -> Option<String> {
    let key = var.strip_prefix("PORTCULLIS_")?;
    if OTHER_VARIABLES.contains(&var)
        || key.starts_with("TEST_")
        || Config::keys().iter().any(|k| k.to_uppercase() == key)
    {
        return None;
    }
    let lower = key.to_lowercase();
    let closest = Config::keys()
        .iter()
        .map(|k| (edit_distance(k, &lower), *k))
        .min()
        .filter(|(distance, _)| *distance <= 3)
        .map(|(_, k)| format!(" (did you mean PORTCULLIS_{}?)", k.to_uppercase()))
        .unwrap_or_default();
    Some(format!(
        "the environment variable {var} is not a setting and is ignored{closest}; the \
         settings are PORTCULLIS_ and a configuration key in upper case"
    ))
}

/// The Levenshtein distance between `a` and `b`, in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .unwrap_or(text)
        .bytes()
        .filter(|b| *b == b'\n')
        .count()
        + 1
}

/// Keys whose values may hold a secret (a password in the URL, the key itself): never
/// quoted in an error.
const SECRET_KEYS: &[&str] = &["database_url", "key_encryption_key"];

/// Checks the type of each known key of the file alone, so that an error names the key
/// and its line (the flattened sections would only say "invalid type").
fn check_file_types(path: &Path, text: &str, table: &toml::Table) -> Result<(), ConfigError> {
    // Where each top-level key is: its span in the file.
    let spans: BTreeMap<String, toml::Spanned<toml::Value>> =
        toml::from_str(text).unwrap_or_default();
    for (key, value) in table {
        if !Config::keys().contains(&key.as_str()) {
            continue; // refused below, by name
        }
        let mut alone = toml::Table::new();
        alone.insert(key.clone(), value.clone());
        if let Err(error) = toml::Value::Table(alone).try_into::<Config>() {
            let line = spans
                .get(key)
                .map(|spanned| format!(" line {}", line_of(text, spanned.span().start)))
                .unwrap_or_default();
            // The parser's words may quote the value: not for a value that may be secret.
            let why = if SECRET_KEYS.contains(&key.as_str()) {
                "must be a string".to_owned()
            } else {
                error.message().to_owned()
            };
            return Err(ConfigError::Invalid(format!(
                "{}{line}: {key}: {why}",
                path.display()
            )));
        }
    }
    Ok(())
}

/// The non-empty items of `raw` separated by `separator`, as a TOML array.
fn list(raw: &str, separator: impl Fn(char) -> bool) -> toml::Value {
    toml::Value::Array(
        raw.split(separator)
            .filter(|s| !s.is_empty())
            .map(|s| toml::Value::String(s.to_owned()))
            .collect(),
    )
}

/// Checks an issuer identifier (RFC 8414 §2): an `https` URL without query or fragment;
/// plain `http` is allowed only for a loopback host, for development.
pub fn validate_issuer(issuer: &str) -> Result<(), ConfigError> {
    let invalid = |why: &str| ConfigError::Invalid(format!("issuer '{issuer}' {why}"));
    let url = url::Url::parse(issuer).map_err(|_| invalid("is not an absolute URL"))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("must not have a query or fragment"));
    }
    if issuer.ends_with('/') {
        return Err(invalid("must not end with '/'"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("must not have a user name or password"));
    }
    // The path is where every endpoint is mounted: it must route as written.
    if issuer_path_as_written(issuer) != url.path().trim_end_matches('/') {
        return Err(invalid(
            "has a path that is not written in normal form (no '.' or '..' segments, \
             no characters that need percent-encoding)",
        ));
    }
    if let Some(path) = url.path().strip_prefix('/').filter(|p| !p.is_empty()) {
        let fine = |segment: &str| {
            !segment.is_empty()
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
        };
        if !path.split('/').all(fine) {
            return Err(invalid(
                "has a path with an empty segment or a character other than letters, digits \
                 and '-', '.', '_', '~' (every endpoint is served under the path)",
            ));
        }
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&url) => Ok(()),
        "http" => Err(invalid(
            "must use https (plain http is allowed only for 127.0.0.1, [::1] or localhost)",
        )),
        _ => Err(invalid("must be an https URL")),
    }
}

/// The path of `issuer` as written: what follows the authority, `""` for none.
fn issuer_path_as_written(issuer: &str) -> &str {
    let after_scheme = issuer.split_once("://").map_or(issuer, |(_, rest)| rest);
    after_scheme
        .find(['/', '?', '#'])
        .map_or("", |start| &after_scheme[start..])
        .split(['?', '#'])
        .next()
        .unwrap_or_default()
}

/// The path an issuer's endpoints are served under: `""` for an issuer without a
/// path (`https://auth.example.com`), `/auth` for `https://example.com/auth`. A
/// valid issuer (see [`validate_issuer`]) has no trailing `/`.
pub fn issuer_base_path(issuer: &str) -> String {
    url::Url::parse(issuer)
        .map(|url| url.path().trim_end_matches('/').to_owned())
        .unwrap_or_default()
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_file_and_defaults() {
        let dir = std::env::temp_dir().join(format!("portcullis-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("portcullis.toml");
        std::fs::write(
            &file,
            "issuer = \"https://file.example\"\naccess_token_lifetime = 10\n",
        )
        .unwrap();
        let env = vec![
            (
                "PORTCULLIS_ACCESS_TOKEN_LIFETIME".to_owned(),
                "20".to_owned(),
            ),
            (
                "PORTCULLIS_ENABLE_PASSWORD_GRANT".to_owned(),
                "true".to_owned(),
            ),
            ("OTHER".to_owned(), "x".to_owned()),
        ];
        let config = Config::load(Some(&file), env).unwrap();
        assert_eq!(config.http.issuer.as_deref(), Some("https://file.example"));
        assert_eq!(config.tokens.access_token_lifetime, 20);
        assert!(config.tokens.enable_password_grant);
        assert_eq!(config.http.bind, "127.0.0.1:8080");
    }

    /// Issue 13, item 1: the registration settings from the environment, and what a
    /// careless value gets.
    #[test]
    fn registration_settings_are_read_and_checked() {
        let env = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let config = Config::load(
            None,
            env(&[
                ("PORTCULLIS_REGISTRATION", "open"),
                ("PORTCULLIS_REGISTRATION_SCOPES", "profile mcp:tools"),
                ("PORTCULLIS_REGISTRATION_RATE_LIMIT", "5"),
            ]),
        )
        .unwrap();
        config.validate().unwrap();
        let registration = &config.dynamic_registration;
        assert!(registration.enabled());
        assert_eq!(
            registration.registration_scopes.as_deref(),
            Some(&["profile".to_owned(), "mcp:tools".to_owned()][..])
        );
        assert_eq!(registration.registration_rate_limit, 5);
        assert!(!Config::default().dynamic_registration.enabled());
        for (pairs, words) in [
            (
                vec![("PORTCULLIS_REGISTRATION", "anyone")],
                "registration must be one of",
            ),
            (
                vec![
                    ("PORTCULLIS_REGISTRATION", "open"),
                    ("PORTCULLIS_REGISTRATION_RATE_LIMIT", "0"),
                ],
                "registration_rate_limit",
            ),
            (
                vec![("PORTCULLIS_REGISTRATION_UNUSED_LIFETIME", "0")],
                "registration_unused_lifetime",
            ),
        ] {
            let error = Config::load(None, env(&pairs))
                .unwrap()
                .validate()
                .unwrap_err()
                .to_string();
            assert!(error.contains(words), "{error}");
        }
        let error = Config::load(None, env(&[("PORTCULLIS_REGISTRATION_RATE_LIMIT", "many")]))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("PORTCULLIS_REGISTRATION_RATE_LIMIT"),
            "{error}"
        );
        let mut quoted = Config::default();
        quoted.dynamic_registration.registration_scopes = Some(vec!["bad\"scope".into()]);
        let error = quoted.validate().unwrap_err().to_string();
        assert!(error.contains("registration_scopes"), "{error}");
    }

    #[test]
    fn unknown_key_and_bad_env_are_errors() {
        let dir =
            std::env::temp_dir().join(format!("portcullis-config-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("bad.toml");
        std::fs::write(&file, "isuer = \"https://typo.example\"\n").unwrap();
        let error = Config::load(Some(&file), Vec::new())
            .unwrap_err()
            .to_string();
        assert!(error.contains("isuer"), "{error}");
        let env = vec![(
            "PORTCULLIS_SESSION_LIFETIME".to_owned(),
            "forever".to_owned(),
        )];
        let error = Config::load(None, env).unwrap_err().to_string();
        assert!(error.contains("PORTCULLIS_SESSION_LIFETIME"), "{error}");
    }

    /// Issue 15, item 9: a type error in the file names the key and its line, without
    /// quoting a value that may be secret.
    #[test]
    fn file_type_errors_name_the_key_and_line() {
        let dir =
            std::env::temp_dir().join(format!("portcullis-config-types-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("types.toml");
        std::fs::write(
            &file,
            "bind = \"127.0.0.1:8080\"\n\nsession_lifetime = \"12h\"\n",
        )
        .unwrap();
        let error = Config::load(Some(&file), Vec::new())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("types.toml line 3: session_lifetime: invalid type"),
            "{error}"
        );
        std::fs::write(&file, "key_encryption_key = [\"s3cr3t-value\"]\n").unwrap();
        let error = Config::load(Some(&file), Vec::new())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("line 1: key_encryption_key: must be a string")
                && !error.contains("s3cr3t-value"),
            "{error}"
        );
        assert!(unknown_variable("PORTCULLIS_ISSUER").is_none());
        assert!(unknown_variable("PORTCULLIS_CONFIG").is_none());
        assert!(unknown_variable("HOME").is_none());
        assert!(unknown_variable("PORTCULLIS_ISUER")
            .unwrap()
            .contains("did you mean PORTCULLIS_ISSUER?"));
        assert!(!unknown_variable("PORTCULLIS_SOMETHING_ELSE_ENTIRELY")
            .unwrap()
            .contains("did you mean"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// `fetch_allowed_addresses` takes IP addresses, space- or comma-separated in the
    /// environment; anything else is refused with the key's name.
    #[test]
    fn fetch_allowed_addresses_are_ip_addresses() {
        let load = |value: &str| {
            Config::load(
                None,
                vec![(
                    "PORTCULLIS_FETCH_ALLOWED_ADDRESSES".to_owned(),
                    value.to_owned(),
                )],
            )
        };
        assert!(Config::default().http.fetch_allowed_addresses.is_empty());
        let config = load("127.0.0.1, ::1 10.0.0.7").unwrap();
        assert_eq!(
            config.http.fetch_allowed_addresses,
            ["127.0.0.1", "::1", "10.0.0.7"]
        );
        config.validate().unwrap();
        assert!(config.fetch_policy().permits("10.0.0.7".parse().unwrap()));
        assert!(!config.fetch_policy().permits("10.0.0.8".parse().unwrap()));
        let error = load("rp.internal")
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("fetch_allowed_addresses: 'rp.internal' is not an IP address"),
            "{error}"
        );
    }

    /// `service_name` and `logo` come from the environment like every setting; a
    /// blank, over-long or multi-line service name is refused with the reason.
    #[test]
    fn the_service_name_is_checked() {
        let load = |vars: Vec<(&str, &str)>| {
            Config::load(
                None,
                vars.into_iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect::<Vec<(String, String)>>(),
            )
        };
        let default = load(vec![]).unwrap();
        assert_eq!(default.pages.service_name, "Portcullis");
        assert_eq!(default.pages.logo, None);
        let config = load(vec![
            ("PORTCULLIS_SERVICE_NAME", "Example Corp accounts"),
            ("PORTCULLIS_LOGO", "/etc/portcullis/logo.svg"),
        ])
        .unwrap();
        assert_eq!(config.pages.service_name, "Example Corp accounts");
        assert_eq!(
            config.pages.logo.as_deref(),
            Some(std::path::Path::new("/etc/portcullis/logo.svg"))
        );
        load(vec![("PORTCULLIS_SERVICE_NAME", "Example Corp accounts")])
            .unwrap()
            .validate()
            .unwrap();
        let long = "x".repeat(MAX_SERVICE_NAME + 1);
        for (value, expected) in [
            ("   ", "service_name must not be empty"),
            (long.as_str(), "at most 64 characters, not 65"),
            ("Example\nCorp", "control characters"),
        ] {
            let error = load(vec![("PORTCULLIS_SERVICE_NAME", value)])
                .unwrap()
                .validate()
                .unwrap_err()
                .to_string();
            assert!(error.contains(expected), "{value:?}: {error}");
        }
    }

    /// Every key is a field of one section, and every field a key: the flattened
    /// sections keep the file and environment names flat.
    #[test]
    fn the_id_token_lifetime_is_a_positive_number_of_seconds() {
        let load = |value: &str| {
            Config::load(
                None,
                vec![("PORTCULLIS_ID_TOKEN_LIFETIME".into(), value.into())],
            )
        };
        assert_eq!(load("600").unwrap().tokens.id_token_lifetime, 600);
        let error = load("0").unwrap().validate().unwrap_err().to_string();
        assert!(
            error.contains("id_token_lifetime must be a positive"),
            "{error}"
        );
        let error = load("an hour").unwrap_err().to_string();
        assert!(error.contains("whole number"), "{error}");
    }

    #[test]
    fn the_localhost_redirect_port_leeway_is_off_unless_set() {
        let config = Config::load(None, Vec::<(String, String)>::new()).unwrap();
        assert!(!config.tokens.localhost_redirect_port_leeway);
        let env = |value: &str| {
            vec![(
                "PORTCULLIS_LOCALHOST_REDIRECT_PORT_LEEWAY".to_owned(),
                value.to_owned(),
            )]
        };
        assert!(
            Config::load(None, env("true"))
                .unwrap()
                .tokens
                .localhost_redirect_port_leeway
        );
        assert!(
            !Config::load(None, env("false"))
                .unwrap()
                .tokens
                .localhost_redirect_port_leeway
        );
        let error = Config::load(None, env("sometimes"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("true or false"), "{error}");
        let dir = std::env::temp_dir().join(format!("portcullis-leeway-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("portcullis.toml");
        std::fs::write(&file, "localhost_redirect_port_leeway = true\n").unwrap();
        let config = Config::load(Some(&file), Vec::<(String, String)>::new()).unwrap();
        assert!(config.tokens.localhost_redirect_port_leeway);
        std::fs::write(&file, "localhost_redirect_port_leeway = \"yes\"\n").unwrap();
        assert!(Config::load(Some(&file), Vec::<(String, String)>::new()).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_default_resource_is_an_absolute_uri() {
        let load = |value: &str| {
            Config::load(
                None,
                vec![("PORTCULLIS_DEFAULT_RESOURCE".into(), value.into())],
            )
            .unwrap()
        };
        let config = load("https://mcp.example.com");
        assert_eq!(
            config.tokens.default_resource.as_deref(),
            Some("https://mcp.example.com")
        );
        config.validate().unwrap();
        for bad in ["api", "/relative", "https://api.example/#x"] {
            let error = load(bad).validate().unwrap_err().to_string();
            assert!(
                error.contains("default_resource") && error.contains("absolute URI"),
                "{error}"
            );
        }
    }

    #[test]
    fn the_keys_are_the_sections_fields() {
        let table = toml::Table::try_from(Config::default()).unwrap();
        let mut fields: Vec<&str> = table.keys().map(String::as_str).collect();
        // Unset optional values are not serialized.
        fields.extend([
            "issuer",
            "templates_dir",
            "logo",
            "scopes_supported",
            "service_documentation",
            "key_encryption_key",
            "key_encryption_key_file",
            "default_resource",
            "registration_scopes",
            "fetch_ca_file",
        ]);
        fields.sort_unstable();
        let mut keys = Config::keys().to_vec();
        keys.sort_unstable();
        assert_eq!(fields, keys);
        let config = Config::load(
            None,
            vec![("PORTCULLIS_LOGIN_FREE_ATTEMPTS".to_owned(), "7".to_owned())],
        )
        .unwrap();
        assert_eq!(config.sign_in.login_free_attempts, 7);
    }

    /// A comma is legal inside a scope token: `scopes_supported` splits on spaces
    /// only, while `signing_algorithms` also takes commas.
    #[test]
    fn list_settings_split_as_their_values_allow() {
        let env = vec![
            (
                "PORTCULLIS_SCOPES_SUPPORTED".to_owned(),
                " openid  a,b\tprofile ".to_owned(),
            ),
            (
                "PORTCULLIS_SIGNING_ALGORITHMS".to_owned(),
                "ES256,RS256 EdDSA".to_owned(),
            ),
        ];
        let config = Config::load(None, env).unwrap();
        assert_eq!(
            config.metadata.scopes_supported.as_deref(),
            Some(&["openid".to_owned(), "a,b".to_owned(), "profile".to_owned()][..])
        );
        assert_eq!(config.keys.signing_algorithms, ["ES256", "RS256", "EdDSA"]);
    }

    #[test]
    fn issuer_rules() {
        assert!(validate_issuer("https://auth.example.com").is_ok());
        assert!(validate_issuer("https://auth.example.com/tenant").is_ok());
        assert!(validate_issuer("http://127.0.0.1:8080").is_ok());
        assert!(validate_issuer("http://localhost:8080").is_ok());
        assert!(validate_issuer("http://[::1]:8080").is_ok());
        assert!(validate_issuer("http://auth.example.com").is_err());
        assert!(validate_issuer("https://auth.example.com/?x=1").is_err());
        assert!(validate_issuer("https://auth.example.com/").is_err());
        assert!(validate_issuer("auth.example.com").is_err());
        assert!(validate_issuer("https://auth.example.com/tenant#x").is_err());
        assert!(validate_issuer("https://auth.example.com/tenant?").is_err());
        assert!(validate_issuer("https://auth.example.com/tenant/").is_err());
        assert!(validate_issuer("https://auth.example.com/a/b-c_d.e~f").is_ok());
        assert!(validate_issuer("https://auth.example.com/a/../b").is_err());
        assert!(validate_issuer("https://auth.example.com/a//b").is_err());
        assert!(validate_issuer("https://auth.example.com/a b").is_err());
        assert!(validate_issuer("https://auth.example.com/%7Bx%7D").is_err());
        assert!(validate_issuer("https://auth.example.com/{x}").is_err());
        assert!(validate_issuer("https://user:pw@auth.example.com").is_err());
    }

    #[test]
    fn base_path_of_the_issuer() {
        assert_eq!(issuer_base_path("https://auth.example.com"), "");
        assert_eq!(issuer_base_path("https://example.com/auth"), "/auth");
        assert_eq!(issuer_base_path("https://example.com/a/b"), "/a/b");
        assert_eq!(
            issuer_path_as_written("https://example.com:8443/a/b?x#y"),
            "/a/b"
        );
        assert_eq!(issuer_path_as_written("https://example.com"), "");
    }
}
