//! The `portcullis` command line: a stable contract for scripts and tests.
//!
//! ```text
//! portcullis [--database-url URL] [--config FILE] serve [--bind ADDR] [--issuer URL]
//! portcullis migrate
//! portcullis user create --username NAME [--email E] [--name FULL_NAME] --password-stdin
//! portcullis user list | delete NAME | set-password NAME --password-stdin
//! portcullis user disable NAME | enable NAME
//! portcullis client create --name NAME [--redirect-uri URI]... [--grant-type GT]...
//!                          [--response-type RT]... [--scope "a b"] [--auth-method M]
//!                          [--jwks-uri URL | --jwks JSON] [--token-endpoint-auth-signing-alg A]
//! portcullis client list | show ID | delete ID | rotate-secret ID
//! portcullis registration-token create [--expires-in S] [--max-uses N] | list | revoke ID
//! portcullis try [--scope "openid profile email"] [--issuer URL] [--no-browser]
//!                [--port PORT] [--timeout SECONDS]
//! ```
//!
//! Management commands print JSON on stdout. Any failure prints one line starting with
//! `error:` on stderr, exits with status 1 and changes nothing. `try` also shows its
//! HTTP exchange on stderr before that line (see [`crate::try_flow`]).
//!
//! Only `serve` and `migrate` create a database, and say where. Every other command
//! opens an existing one and names it on stderr (`database: SQLite at /abs/path`, or in
//! its error line), so that a command run in the wrong directory, or with the wrong
//! `--database-url`, says so instead of working on an empty database of its own.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use std::sync::Arc;

use portcullis_core::{
    hash_secret, AuthMethod, Client, ClientRecord, Clock, RandomSource, SystemClock,
};
use portcullis_sql::{NewUser, SqlOptions, SqlStore, SqliteSynchronous};
use serde_json::json;

use crate::clients::{self, ClientRegistration};
use crate::config::Config;

/// Portcullis: an OAuth 2.0 authorization server.
#[derive(Debug, Parser)]
#[command(name = "portcullis", version, about, long_about = None)]
pub struct Cli {
    /// Database URL: sqlite://PATH (default sqlite://portcullis.db, in the current
    /// directory) or postgres://USER@HOST/DATABASE.
    #[arg(
        long,
        global = true,
        env = "PORTCULLIS_DATABASE_URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// TOML configuration file.
    #[arg(long, global = true, env = "PORTCULLIS_CONFIG")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the authorization server.
    Serve {
        /// Address to listen on, IP:PORT (default 127.0.0.1:8080).
        #[arg(long, env = "PORTCULLIS_BIND")]
        bind: Option<String>,
        /// Public base URL, the issuer identifier. Default: http:// and the bind address
        /// when it is a loopback one (127.0.0.1:8080 gives http://127.0.0.1:8080);
        /// required for any other bind address.
        #[arg(long, env = "PORTCULLIS_ISSUER")]
        issuer: Option<String>,
    },
    /// Create or upgrade the database schema.
    Migrate,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage OAuth clients.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Manage signing keys (see `portcullis keys --help`).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// See and revoke what users allowed clients.
    #[command(subcommand)]
    Consent(ConsentCommand),
    /// See and end users' sign-in sessions.
    #[command(subcommand)]
    Session(SessionCommand),
    /// Manage initial access tokens for dynamic client registration (RFC 7591 §3),
    /// used when `registration = "initial_access_token"`.
    #[command(subcommand, name = "registration-token")]
    RegistrationToken(RegistrationTokenCommand),
    /// Run one authorization code flow against the running server, shown on the wire.
    ///
    /// Registers (or reuses) the client `portcullis-try`, prints and opens the
    /// authorization URL, receives the callback on a loopback port, redeems the code,
    /// shows each request and response on stderr and prints the tokens, introspection
    /// and UserInfo as JSON on stdout.
    Try(crate::try_flow::TryOptions),
}

/// `portcullis registration-token ...`
#[derive(Debug, Subcommand)]
pub enum RegistrationTokenCommand {
    /// Make an initial access token and print it once, as JSON with a `token`
    /// member: whoever presents it (`Authorization: Bearer TOKEN` at `/register`) may
    /// register clients. Only its hash is stored.
    Create {
        /// Seconds until it stops working; default: never.
        #[arg(long)]
        expires_in: Option<i64>,
        /// How many clients it may register; default: any number.
        #[arg(long)]
        max_uses: Option<i64>,
    },
    /// List the tokens (by id: the start of the hash), with their limits and uses.
    List,
    /// Revoke a token by the id `list` shows.
    Revoke {
        /// The id `registration-token list` shows.
        id: String,
    },
}

/// `portcullis consent ...`
#[derive(Debug, Subcommand)]
pub enum ConsentCommand {
    /// List remembered consents: username, client_id, scope, created, updated.
    List {
        /// Only this user's.
        #[arg(long)]
        user: Option<String>,
        /// Only for this client.
        #[arg(long)]
        client: Option<String>,
    },
    /// Forget a user's consent for a client and revoke every token and code they
    /// granted it: the client must ask again.
    Revoke {
        /// The username.
        #[arg(long)]
        user: String,
        /// The client_id.
        #[arg(long)]
        client: String,
    },
}

/// `portcullis session ...`
#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// List signed-in sessions: id, username, signed in, expires.
    List {
        /// Only this user's.
        #[arg(long)]
        user: Option<String>,
    },
    /// End one session (by the id `session list` shows), or every session of a user.
    Revoke {
        /// The session id, as `session list` shows it.
        id: Option<String>,
        /// Every session of this user instead.
        #[arg(long, conflicts_with = "id")]
        user: Option<String>,
    },
}

/// The id `session list` shows for a session: the start of its stored hash (never
/// the cookie value, which is not stored).
fn session_id(session: &portcullis_sql::SessionRecord) -> String {
    session.id_hash.chars().take(16).collect()
}

/// `portcullis keys ...`: the signing keys every instance shares. Running servers see
/// a change within `signing_key_refresh` seconds.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the keys that are published: kid, alg, state (next, current, retired),
    /// created, activates, retires, expires (UTC seconds), as JSON.
    List,
    /// Start a rotation: a new key is published now and signs once relying parties
    /// have had time to fetch it (jwks_max_age + signing_key_refresh + 5 s), when the
    /// current key retires.
    Rotate {
        /// The algorithm to rotate (default: signing_algorithm): ES256, RS256, PS256 or
        /// EdDSA.
        #[arg(long)]
        alg: Option<String>,
    },
    /// Stop signing with a key now (a compromised key, say); it stays published until
    /// what it signed has expired, and the next key, or a new one, signs at once.
    Retire {
        /// The key id (a thumbprint, which may start with `-`).
        #[arg(allow_hyphen_values = true)]
        kid: String,
    },
}

/// `portcullis user ...`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user; the password is read from the first line of standard input.
    Create {
        /// The sign-in name.
        #[arg(long)]
        username: String,
        /// The user's OpenID Connect claims.
        #[command(flatten)]
        profile: UserProfile,
        /// Read the password from standard input (required: passwords never go in arguments).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Show one user, with their claims.
    Show {
        /// The username.
        username: String,
    },
    /// Change a user's claims: the options given are set, the others kept.
    Update {
        /// The username.
        username: String,
        /// The claims to set.
        #[command(flatten)]
        profile: UserProfile,
    },
    /// List users.
    List,
    /// Delete a user, with their tokens, sessions and consents.
    Delete {
        /// The username.
        username: String,
    },
    /// Change a user's password, read from standard input. Ends the user's sessions and
    /// revokes every token and code they granted.
    SetPassword {
        /// The username.
        username: String,
        /// Read the password from standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Stop a user from signing in. Ends their sessions and revokes every token and
    /// code they granted.
    Disable {
        /// The username.
        username: String,
    },
    /// Let a disabled user sign in again.
    Enable {
        /// The username.
        username: String,
    },
}

/// A user's OpenID Connect claims (Core §5.1), as `user create` and `user update`
/// take them; released by scope at the UserInfo endpoint.
#[derive(Debug, Args, Default)]
pub struct UserProfile {
    /// Email address (`email`, with the `email` scope).
    #[arg(long)]
    pub email: Option<String>,
    /// Whether the email address is verified (`email_verified`): true or false.
    #[arg(long)]
    pub email_verified: Option<bool>,
    /// Full name (`name`, with the `profile` scope).
    #[arg(long)]
    pub name: Option<String>,
    /// Given name (`given_name`).
    #[arg(long)]
    pub given_name: Option<String>,
    /// Family name (`family_name`).
    #[arg(long)]
    pub family_name: Option<String>,
    /// Phone number (`phone_number`, with the `phone` scope), E.164 recommended.
    #[arg(long)]
    pub phone_number: Option<String>,
    /// Whether the phone number is verified (`phone_number_verified`): true or false.
    #[arg(long)]
    pub phone_number_verified: Option<bool>,
    /// Language tag (`locale`), BCP 47, such as en-GB.
    #[arg(long)]
    pub locale: Option<String>,
    /// Any other claims, as a JSON object (`{"groups":["admins"]}`); a member set to
    /// null is removed.
    #[arg(long)]
    pub claims: Option<String>,
}

/// The claims with a column or an option of their own, which `--claims` may not set.
const CLAIMS_WITH_OPTIONS: [&str; 6] = [
    "sub",
    "email",
    "email_verified",
    "name",
    "preferred_username",
    "phone_number_verified",
];

impl UserProfile {
    /// Applies the options given to `user`; a wrong value says which option and why.
    fn apply(&self, user: &mut portcullis_sql::UserRecord) -> Result<(), String> {
        if let Some(email) = &self.email {
            crate::passwords::check_email(email)?;
            // A new address is not verified until said so.
            if user.email.as_deref() != Some(email.as_str()) && self.email_verified.is_none() {
                user.claims.remove("email_verified");
            }
            user.email = Some(email.clone());
        }
        if let Some(phone) = &self.phone_number {
            if user.claims.get("phone_number").and_then(|v| v.as_str()) != Some(phone.trim())
                && self.phone_number_verified.is_none()
            {
                user.claims.remove("phone_number_verified");
            }
        }
        if let Some(name) = &self.name {
            user.name = Some(text_claim("--name", name)?);
        }
        let mut set = |claim: &str, value: serde_json::Value| {
            user.claims.insert(claim.to_owned(), value);
        };
        if let Some(verified) = self.email_verified {
            set("email_verified", verified.into());
        }
        if let Some(verified) = self.phone_number_verified {
            set("phone_number_verified", verified.into());
        }
        for (option, claim, value) in [
            ("--given-name", "given_name", &self.given_name),
            ("--family-name", "family_name", &self.family_name),
            ("--phone-number", "phone_number", &self.phone_number),
            ("--locale", "locale", &self.locale),
        ] {
            if let Some(value) = value {
                set(claim, text_claim(option, value)?.into());
            }
        }
        if let Some(text) = &self.claims {
            let serde_json::Value::Object(members) = serde_json::from_str(text).map_err(|e| {
                format!("--claims must be a JSON object ({e}), for example '{{\"groups\":[\"admins\"]}}'")
            })?
            else {
                return Err("--claims must be a JSON object, for example '{\"groups\":[\"admins\"]}'".into());
            };
            for (claim, value) in members {
                if CLAIMS_WITH_OPTIONS.contains(&claim.as_str()) {
                    return Err(format!(
                        "--claims cannot set '{claim}': it has its own option, or is the server's to state"
                    ));
                }
                if value.is_null() {
                    user.claims.remove(&claim);
                } else {
                    user.claims.insert(claim, value);
                }
            }
        }
        if self.email_verified == Some(true) && user.email.is_none() {
            return Err("--email-verified true needs an email address (--email)".into());
        }
        if self.phone_number_verified == Some(true) && !user.claims.contains_key("phone_number") {
            return Err(
                "--phone-number-verified true needs a phone number (--phone-number)".into(),
            );
        }
        Ok(())
    }
}

/// A text claim's value: not empty, no control characters, at most 256 characters.
fn text_claim(option: &str, value: &str) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() || value.chars().any(char::is_control) || value.chars().count() > 256 {
        return Err(format!(
            "{option} must be 1 to 256 characters without control characters"
        ));
    }
    Ok(value.to_owned())
}

/// `portcullis client ...`
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client; prints its client_id and client_secret (shown only once).
    Create(Box<ClientCreate>),
    /// List clients.
    List,
    /// Show one client.
    Show {
        /// The client_id.
        client_id: String,
    },
    /// Delete a client and everything issued to it.
    Delete {
        /// The client_id.
        client_id: String,
    },
    /// Issue a new client secret; running servers stop accepting the old one within
    /// `client_cache_ttl` seconds (5 by default).
    RotateSecret {
        /// The client_id.
        client_id: String,
    },
    /// Change a client's registration; its client_id, secret and tokens stay. Options
    /// not given are kept.
    Update(Box<ClientUpdate>),
}

/// `portcullis client update` options: `client create`'s, with add and remove for the
/// repeatable ones.
#[derive(Debug, Args)]
pub struct ClientUpdate {
    /// The client_id.
    pub client_id: String,
    /// Name shown on the consent page.
    #[arg(long)]
    pub name: Option<String>,
    /// Adds a redirect URI (repeat for several).
    #[arg(long = "add-redirect-uri")]
    pub add_redirect_uris: Vec<String>,
    /// Removes a redirect URI (repeat for several).
    #[arg(long = "remove-redirect-uri")]
    pub remove_redirect_uris: Vec<String>,
    /// Adds a grant type (repeat).
    #[arg(long = "add-grant-type")]
    pub add_grant_types: Vec<String>,
    /// Removes a grant type (repeat).
    #[arg(long = "remove-grant-type")]
    pub remove_grant_types: Vec<String>,
    /// Adds a response type (repeat).
    #[arg(long = "add-response-type")]
    pub add_response_types: Vec<String>,
    /// Removes a response type (repeat).
    #[arg(long = "remove-response-type")]
    pub remove_response_types: Vec<String>,
    /// Replaces the scopes the client may request (space-separated).
    #[arg(long)]
    pub scope: Option<String>,
    /// client_secret_basic, client_secret_post, client_secret_jwt, private_key_jwt, or
    /// none; a client that comes to need a secret gets a new one (printed), one that
    /// becomes public (or private_key_jwt) loses it;
    /// confidential gets a new secret (printed), one that becomes public loses it.
    #[arg(long)]
    pub auth_method: Option<String>,
    /// `--strict-auth-method` (or `true`): the client may use its auth method only;
    /// `--strict-auth-method false`: either secret method again.
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub strict_auth_method: Option<bool>,
    /// Adds an audience (repeat).
    #[arg(long = "add-audience")]
    pub add_audience: Vec<String>,
    /// Removes an audience (repeat).
    #[arg(long = "remove-audience")]
    pub remove_audience: Vec<String>,
    /// Makes the client a resource server for this audience ("" to stop).
    #[arg(long)]
    pub resource_server_audience: Option<String>,
    /// `jwt` or `opaque` access tokens.
    #[arg(long)]
    pub access_token_format: Option<String>,
    /// Adds a post-logout redirect URI (repeat).
    #[arg(long = "add-post-logout-redirect-uri")]
    pub add_post_logout_redirect_uris: Vec<String>,
    /// Removes a post-logout redirect URI (repeat).
    #[arg(long = "remove-post-logout-redirect-uri")]
    pub remove_post_logout_redirect_uris: Vec<String>,
    /// The algorithm of the client's ID tokens.
    #[arg(long)]
    pub id_token_signed_response_alg: Option<String>,
    /// Signs the client's UserInfo answers with this algorithm ("" for JSON).
    #[arg(long)]
    pub userinfo_signed_response_alg: Option<String>,
    /// `required` or `optional`.
    #[arg(long)]
    pub pkce: Option<String>,
    /// `public` or `pairwise` subject identifiers.
    #[arg(long)]
    pub subject_type: Option<String>,
    /// The https URL of the JSON array of the client's redirect URIs, whose host is its
    /// sector ("" to remove); fetched and checked.
    #[arg(long)]
    pub sector_identifier_uri: Option<String>,
    /// Where logout tokens are POSTed when a session the client signed into ends ("" to
    /// remove).
    #[arg(long)]
    pub backchannel_logout_uri: Option<String>,
    /// Adds a resource (RFC 8707) the client may ask tokens for (repeat).
    #[arg(long = "add-allowed-resource")]
    pub add_allowed_resources: Vec<String>,
    /// Removes an allowed resource (repeat).
    #[arg(long = "remove-allowed-resource")]
    pub remove_allowed_resources: Vec<String>,
    /// The URL of the client's JWK Set (private_key_jwt; "" to remove).
    #[arg(long)]
    pub jwks_uri: Option<String>,
    /// The client's JWK Set as JSON, public keys only (private_key_jwt; "" to remove).
    #[arg(long)]
    pub jwks: Option<String>,
    /// The one algorithm the client's assertions may use ("" for any of the method's).
    #[arg(long)]
    pub token_endpoint_auth_signing_alg: Option<String>,
}

/// `list` without `remove`, then with `add` (each once, in order).
fn edited(list: &[String], add: &[String], remove: &[String]) -> Vec<String> {
    let mut out: Vec<String> = list
        .iter()
        .filter(|v| !remove.contains(v))
        .cloned()
        .collect();
    for value in add {
        if !out.contains(value) {
            out.push(value.clone());
        }
    }
    out
}

impl ClientUpdate {
    /// `client`'s registration with these changes, for [`crate::clients::validate`];
    /// removing what the client does not have is an error, so a typo is not silently
    /// ignored.
    fn registration(&self, client: &ClientRecord) -> Result<ClientRegistration, String> {
        let current = clients::registration_of(client);
        for (option, have, remove) in [
            (
                "--remove-redirect-uri",
                &current.redirect_uris,
                &self.remove_redirect_uris,
            ),
            (
                "--remove-grant-type",
                &current.grant_types,
                &self.remove_grant_types,
            ),
            (
                "--remove-response-type",
                &current.response_types,
                &self.remove_response_types,
            ),
            (
                "--remove-audience",
                &current.audience,
                &self.remove_audience,
            ),
            (
                "--remove-post-logout-redirect-uri",
                &current.post_logout_redirect_uris,
                &self.remove_post_logout_redirect_uris,
            ),
            (
                "--remove-allowed-resource",
                &current.allowed_resources,
                &self.remove_allowed_resources,
            ),
        ] {
            if let Some(missing) = remove.iter().find(|v| !have.contains(v)) {
                return Err(format!("{option} {missing}: the client has no such value"));
            }
        }
        let blank_is_none = |value: &Option<String>, keep: &Option<String>| match value {
            Some(v) if v.is_empty() => None,
            Some(v) => Some(v.clone()),
            None => keep.clone(),
        };
        Ok(ClientRegistration {
            name: self.name.clone().unwrap_or(current.name.clone()),
            redirect_uris: edited(
                &current.redirect_uris,
                &self.add_redirect_uris,
                &self.remove_redirect_uris,
            ),
            grant_types: edited(
                &current.grant_types,
                &self.add_grant_types,
                &self.remove_grant_types,
            ),
            response_types: edited(
                &current.response_types,
                &self.add_response_types,
                &self.remove_response_types,
            ),
            scope: self.scope.clone().unwrap_or(current.scope.clone()),
            auth_method: self
                .auth_method
                .clone()
                .unwrap_or(current.auth_method.clone()),
            strict_auth_method: self
                .strict_auth_method
                .unwrap_or(current.strict_auth_method),
            audience: edited(&current.audience, &self.add_audience, &self.remove_audience),
            resource_server_audience: blank_is_none(
                &self.resource_server_audience,
                &current.resource_server_audience,
            ),
            access_token_format: self
                .access_token_format
                .clone()
                .or(current.access_token_format.clone()),
            post_logout_redirect_uris: edited(
                &current.post_logout_redirect_uris,
                &self.add_post_logout_redirect_uris,
                &self.remove_post_logout_redirect_uris,
            ),
            id_token_signed_response_alg: self
                .id_token_signed_response_alg
                .clone()
                .or(current.id_token_signed_response_alg.clone()),
            userinfo_signed_response_alg: blank_is_none(
                &self.userinfo_signed_response_alg,
                &current.userinfo_signed_response_alg,
            ),
            pkce: self.pkce.clone().or(current.pkce.clone()),
            subject_type: self.subject_type.clone().or(current.subject_type.clone()),
            sector_identifier_uri: blank_is_none(
                &self.sector_identifier_uri,
                &current.sector_identifier_uri,
            ),
            backchannel_logout_uri: blank_is_none(
                &self.backchannel_logout_uri,
                &current.backchannel_logout_uri,
            ),
            allowed_resources: edited(
                &current.allowed_resources,
                &self.add_allowed_resources,
                &self.remove_allowed_resources,
            ),
            jwks_uri: blank_is_none(&self.jwks_uri, &current.jwks_uri),
            jwks: blank_is_none(&self.jwks, &current.jwks),
            token_endpoint_auth_signing_alg: blank_is_none(
                &self.token_endpoint_auth_signing_alg,
                &current.token_endpoint_auth_signing_alg,
            ),
        })
    }
}

/// `portcullis client create` options.
#[derive(Debug, Args)]
pub struct ClientCreate {
    /// Name shown on the consent page.
    #[arg(long)]
    pub name: String,
    /// A redirect URI (repeat for several); matched exactly.
    #[arg(long = "redirect-uri")]
    pub redirect_uris: Vec<String>,
    /// A grant type (repeat for several); default authorization_code and refresh_token.
    #[arg(long = "grant-type")]
    pub grant_types: Vec<String>,
    /// A response type (repeat): code, token, or an OpenID Connect one (id_token, "id_token token", "code id_token", "code token", "code id_token token"; compared as sets); default: code when authorization_code is allowed.
    #[arg(long = "response-type")]
    pub response_types: Vec<String>,
    /// Space-separated scopes the client may request.
    #[arg(long, default_value = "")]
    pub scope: String,
    /// client_secret_basic (default), client_secret_post, none (public client),
    /// private_key_jwt (with --jwks-uri or --jwks) or client_secret_jwt (needs a
    /// key-encryption key: its secret is kept sealed, recoverable).
    #[arg(long, default_value = AuthMethod::CLIENT_SECRET_BASIC)]
    pub auth_method: String,
    /// The client may authenticate with its auth method only. Without it, a client of
    /// client_secret_basic may also send its secret with client_secret_post and the
    /// other way round (the same secret); none never stands in for either.
    #[arg(long)]
    pub strict_auth_method: bool,
    /// An audience (resource server) the client's tokens are for (repeat for several).
    #[arg(long = "audience")]
    pub audience: Vec<String>,
    /// Makes the client a resource server for this audience: it may introspect every
    /// token issued for it.
    #[arg(long)]
    pub resource_server_audience: Option<String>,
    /// `jwt` (RFC 9068, signed with the current key) or `opaque` access tokens; default:
    /// the server's access_token_format.
    #[arg(long)]
    pub access_token_format: Option<String>,
    /// Where RP-Initiated Logout may return the browser (repeat for several); matched
    /// exactly.
    #[arg(long = "post-logout-redirect-uri")]
    pub post_logout_redirect_uris: Vec<String>,
    /// The algorithm of the client's ID tokens (RS256 by default); one of the server's
    /// signing_algorithms.
    #[arg(long)]
    pub id_token_signed_response_alg: Option<String>,
    /// Signs the client's UserInfo answers with this algorithm (JSON by default).
    #[arg(long)]
    pub userinfo_signed_response_alg: Option<String>,
    /// `required` (the default) or `optional`: a confidential client that predates
    /// PKCE may omit it (a challenge it sends is still checked).
    #[arg(long)]
    pub pkce: Option<String>,
    /// `public` (the default: every client sees the user's subject) or `pairwise` (a
    /// subject of the client's sector: OpenID Connect Core §8).
    #[arg(long)]
    pub subject_type: Option<String>,
    /// The https URL of a JSON array listing every redirect URI of the client; its host
    /// is the client's sector (needed for pairwise subjects when the redirect URIs are
    /// on several hosts). Fetched and checked.
    #[arg(long)]
    pub sector_identifier_uri: Option<String>,
    /// Where the server POSTs a logout token (OpenID Connect Back-Channel Logout) when
    /// a session the client signed into ends: https, or http to a loopback host.
    #[arg(long)]
    pub backchannel_logout_uri: Option<String>,
    /// A resource (RFC 8707 resource indicator: an absolute URI, no fragment) the
    /// client may ask tokens for with `resource`, besides the audiences of the
    /// registered resource servers (repeat for several).
    #[arg(long = "allowed-resource")]
    pub allowed_resources: Vec<String>,
    /// The URL of the client's JWK Set (its public keys, for private_key_jwt); fetched
    /// through the fetch guard (https, public addresses or fetch_allowed_addresses).
    #[arg(long)]
    pub jwks_uri: Option<String>,
    /// The client's JWK Set as JSON (`{"keys":[...]}`, public keys only), for
    /// private_key_jwt; exclusive with --jwks-uri.
    #[arg(long)]
    pub jwks: Option<String>,
    /// The one algorithm the client's assertions may use: RS256, PS256, ES256 or EdDSA
    /// (private_key_jwt), HS256, HS384 or HS512 (client_secret_jwt); default: any.
    #[arg(long)]
    pub token_endpoint_auth_signing_alg: Option<String>,
}

/// Runs the command line; the `portcullis` binary's `main`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let serving = matches!(cli.command, Command::Serve { .. });
    init_tracing(serving);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", one_line(&error.to_string()));
            ExitCode::FAILURE
        }
    }
}

fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn init_tracing(serving: bool) {
    let default = if serving { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

type CliResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// Runs a parsed command: the composition root of the binary, where the system clock
/// and the operating system's random generator are chosen, once, for everything.
pub async fn run(cli: Cli) -> CliResult {
    #[allow(clippy::disallowed_types)] // the composition root
    let random: Arc<dyn RandomSource> = Arc::new(portcullis_core::OsRandom::default());
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mut config = Config::load(cli.config.as_deref(), std::env::vars())?;
    if let Some(url) = cli.database_url {
        config.database.database_url = url;
    }
    match cli.command {
        Command::Serve { bind, issuer } => {
            if let Some(bind) = bind {
                config.http.bind = bind;
            }
            if let Some(issuer) = issuer {
                config.http.issuer = Some(issuer);
            }
            config.validate()?;
            let store = open(&config, Opening::CreateIfMissing).await?;
            if store.created_database() {
                tracing::info!(database = %store.describe(), "created a new database");
            }
            crate::app::serve(config, store, clock, random).await
        }
        Command::Migrate => {
            let store = open(&config, Opening::CreateIfMissing).await?;
            store.migrate().await?;
            let created = store.created_database();
            if created {
                eprintln!("created a new database: {}", store.describe());
            } else {
                eprintln!("database: {}", store.describe());
            }
            print(&json!({"migrated": true, "created": created, "database": store.describe()}))
        }
        Command::User(command) => {
            config.sign_in.validate_password_policy()?;
            let store = open(&config, Opening::Existing).await?;
            let result = user(&store, command, &config).await;
            opened(&store, result)
        }
        Command::Client(command) => {
            let store = open(&config, Opening::Existing).await?;
            let result = client(&store, command, &*random, &config).await;
            opened(&store, result)
        }
        Command::Consent(command) => {
            let store = open(&config, Opening::Existing).await?;
            let result = consent(&store, command).await;
            opened(&store, result)
        }
        Command::Session(command) => {
            let store = open(&config, Opening::Existing).await?;
            let result = session(&store, command).await;
            opened(&store, result)
        }
        Command::RegistrationToken(command) => {
            let store = open(&config, Opening::Existing).await?;
            let result = registration_token(&store, command, clock.now(), &*random).await;
            opened(&store, result)
        }
        Command::Try(options) => {
            let store = open(&config, Opening::Existing).await?;
            let result =
                crate::try_flow::run(&store, &config, options, clock.as_ref(), &*random).await;
            opened(&store, result)
        }
        Command::Keys(command) => {
            config.validate()?;
            let store = open(&config, Opening::Existing).await?;
            let result = keys(store.clone(), command, &config, clock, random).await;
            opened(&store, result)
        }
    }
}

/// The outcome of a command on `store`: on success, which database it was goes to
/// stderr; on failure, it ends the one error line.
fn opened(store: &SqlStore, result: CliResult) -> CliResult {
    match result {
        Ok(()) => {
            eprintln!("database: {}", store.describe());
            Ok(())
        }
        Err(error) => Err(format!("{error} (database: {})", store.describe()).into()),
    }
}

async fn keys(
    store: SqlStore,
    command: KeysCommand,
    config: &Config,
    clock: Arc<dyn Clock>,
    random: Arc<dyn RandomSource>,
) -> CliResult {
    let keys = crate::keys::KeyManager::new(store, &config.keys, clock, random)?;
    match command {
        KeysCommand::List => print(&serde_json::to_value(keys.list().await?)?),
        KeysCommand::Rotate { alg } => {
            let alg = alg
                .map(|a| a.parse::<portcullis_core::jose::Algorithm>())
                .transpose()
                .map_err(|e| format!("--alg: {e}"))?;
            print(&serde_json::to_value(keys.rotate(alg).await?)?)
        }
        KeysCommand::Retire { kid } => print(&serde_json::to_value(keys.retire(&kid).await?)?),
    }
}

/// Whether a command may create the database it opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opening {
    /// `serve` and `migrate`: a missing SQLite file is created.
    CreateIfMissing,
    /// Every other command: the database must exist and hold the schema.
    Existing,
}

async fn open(config: &Config, opening: Opening) -> CliResult<SqlStore> {
    let database = &config.database;
    let options = SqlOptions::default()
        .with_max_connections(database.max_connections)
        .with_sqlite_synchronous(if database.sqlite_synchronous == "full" {
            SqliteSynchronous::Full
        } else {
            SqliteSynchronous::Normal
        })
        .with_client_cache_ttl(database.client_cache_ttl)
        .with_require_existing(opening == Opening::Existing)
        .with_run_migrations(opening == Opening::CreateIfMissing);
    let store = SqlStore::connect_with(&database.database_url, options).await?;
    if opening == Opening::Existing {
        // An existing database without the schema is someone else's (a PostgreSQL
        // server's default database, say): never fill it with tables.
        if !store.has_schema().await? {
            return Err(format!(
                "the database ({}) has no Portcullis tables: create them with `portcullis \
                 migrate`, or point --database-url (PORTCULLIS_DATABASE_URL) at the \
                 Portcullis database",
                store.describe()
            )
            .into());
        }
        // Brings a database of an earlier version up to this one, as before.
        store.migrate().await?;
    }
    Ok(store)
}

fn print(value: &serde_json::Value) -> CliResult {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn read_password() -> CliResult<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        return Err(
            "no password on standard input (pipe it in: echo \"$PASSWORD\" | portcullis user ...)"
                .into(),
        );
    }
    Ok(password)
}

async fn user(store: &SqlStore, command: UserCommand, config: &Config) -> CliResult {
    let min_length = config.sign_in.password_min_length;
    match command {
        UserCommand::Create {
            username, profile, ..
        } => {
            if username.trim().is_empty() || username.chars().any(char::is_control) {
                return Err("the username must not be empty or contain control characters".into());
            }
            // The options are checked before the password is read.
            let mut draft = portcullis_sql::UserRecord::new(String::new(), username.clone(), 0);
            profile.apply(&mut draft)?;
            let password = read_password()?;
            crate::passwords::check_password(&password, &username, min_length)?;
            let user = store
                .create_user(
                    NewUser::new(username, password)
                        .with_email(draft.email)
                        .with_name(draft.name)
                        .with_claims(draft.claims),
                )
                .await?;
            print(&serde_json::to_value(user)?)
        }
        UserCommand::Show { username } => match store.get_user(&username).await? {
            Some(user) => print(&serde_json::to_value(user)?),
            None => Err(format!("no user named '{username}'").into()),
        },
        UserCommand::Update { username, profile } => {
            let Some(mut user) = store.get_user(&username).await? else {
                return Err(format!("no user named '{username}'").into());
            };
            profile.apply(&mut user)?;
            if !store.set_user_profile(&user).await? {
                return Err(format!("no user named '{username}'").into());
            }
            print(&serde_json::to_value(user)?)
        }
        UserCommand::List => print(&serde_json::to_value(store.list_users().await?)?),
        UserCommand::Delete { username } => {
            if !store.delete_user(&username).await? {
                return Err(format!("no user named '{username}'").into());
            }
            print(&json!({"deleted": username}))
        }
        UserCommand::SetPassword { username, .. } => {
            let password = read_password()?;
            crate::passwords::check_password(&password, &username, min_length)?;
            if !store.set_user_password(&username, &password).await? {
                return Err(format!("no user named '{username}'").into());
            }
            print(&json!({"updated": username, "grants_revoked": true}))
        }
        UserCommand::Disable { username } => set_disabled(store, &username, true).await,
        UserCommand::Enable { username } => set_disabled(store, &username, false).await,
    }
}

/// The subject of the user `username`, or an error naming them.
async fn subject_of(
    store: &SqlStore,
    username: &str,
) -> Result<String, Box<dyn std::error::Error>> {
    match store.get_user(username).await? {
        Some(user) => Ok(user.subject),
        None => Err(format!("no user named '{username}'").into()),
    }
}

/// The username of `subject` (the subject itself for a user deleted meanwhile).
async fn username_of(
    store: &SqlStore,
    subject: &str,
) -> Result<String, Box<dyn std::error::Error>> {
    Ok(store
        .find_user_by_subject(subject)
        .await?
        .map_or_else(|| subject.to_owned(), |user| user.username))
}

async fn consent(store: &SqlStore, command: ConsentCommand) -> CliResult {
    match command {
        ConsentCommand::List { user, client } => {
            let subject = match &user {
                Some(name) => Some(subject_of(store, name).await?),
                None => None,
            };
            let mut listed = Vec::new();
            for consent in store
                .list_consents(subject.as_deref(), client.as_deref())
                .await?
            {
                listed.push(json!({
                    "username": username_of(store, &consent.subject).await?,
                    "client_id": consent.client_id,
                    "scope": consent.scope.to_string(),
                    "created_at": consent.created_at,
                    "updated_at": consent.updated_at,
                }));
            }
            print(&serde_json::Value::Array(listed))
        }
        ConsentCommand::Revoke { user, client } => {
            let subject = subject_of(store, &user).await?;
            if !store.revoke_consent(&subject, &client).await? {
                return Err(format!("user '{user}' has no consent for client '{client}'").into());
            }
            print(
                &json!({"username": user, "client_id": client, "revoked": true, "grants_revoked": true}),
            )
        }
    }
}

/// The id of an initial access token in `registration-token list`: the start of
/// its hash (which cannot be turned back into the token).
fn registration_token_id(hash: &str) -> String {
    hash.chars().take(16).collect()
}

async fn registration_token(
    store: &SqlStore,
    command: RegistrationTokenCommand,
    now: i64,
    random: &dyn RandomSource,
) -> CliResult {
    match command {
        RegistrationTokenCommand::Create {
            expires_in,
            max_uses,
        } => {
            if expires_in.is_some_and(|s| s <= 0) {
                return Err("--expires-in must be a positive number of seconds".into());
            }
            if max_uses.is_some_and(|n| n <= 0) {
                return Err("--max-uses must be at least 1".into());
            }
            let token = portcullis_core::random::random_token(random);
            let hash = hash_secret(&token);
            let expires_at = expires_in.map(|s| now.saturating_add(s));
            store
                .insert_registration_token(&portcullis_sql::RegistrationToken::new(
                    hash.clone(),
                    now,
                    expires_at,
                    max_uses,
                ))
                .await?;
            print(&json!({
                "token": token,
                "id": registration_token_id(&hash),
                "expires_at": expires_at,
                "max_uses": max_uses,
            }))
        }
        RegistrationTokenCommand::List => {
            let listed: Vec<_> = store
                .list_registration_tokens()
                .await?
                .iter()
                .map(|t| {
                    json!({
                        "id": registration_token_id(&t.token_hash),
                        "created_at": t.created_at,
                        "expires_at": t.expires_at,
                        "max_uses": t.max_uses,
                        "uses": t.uses,
                        "usable": t.expires_at.is_none_or(|e| e > now)
                            && t.max_uses.is_none_or(|m| t.uses < m),
                    })
                })
                .collect();
            print(&serde_json::Value::Array(listed))
        }
        RegistrationTokenCommand::Revoke { id } => {
            if id.len() < 8 {
                return Err("give the token's id as `registration-token list` shows it".into());
            }
            match store.delete_registration_tokens(&id).await? {
                0 => Err(format!("no registration token has the id '{id}'").into()),
                _ => print(&json!({"id": id, "revoked": true})),
            }
        }
    }
}

async fn session(store: &SqlStore, command: SessionCommand) -> CliResult {
    match command {
        SessionCommand::List { user } => {
            let subject = match &user {
                Some(name) => Some(subject_of(store, name).await?),
                None => None,
            };
            let mut listed = Vec::new();
            for session in store.list_sessions(subject.as_deref()).await? {
                let username = match &session.subject {
                    Some(subject) => username_of(store, subject).await?,
                    None => continue,
                };
                listed.push(json!({
                    "id": session_id(&session),
                    "username": username,
                    "auth_time": session.auth_time,
                    "created_at": session.created_at,
                    "expires_at": session.expires_at,
                }));
            }
            print(&serde_json::Value::Array(listed))
        }
        SessionCommand::Revoke { id: Some(id), .. } => {
            if id.chars().count() < 16 {
                return Err(
                    "give the session id as `session list` shows it (16 characters)".into(),
                );
            }
            let matching: Vec<_> = store
                .list_sessions(None)
                .await?
                .into_iter()
                .filter(|s| session_id(s) == id)
                .collect();
            let [found] = matching.as_slice() else {
                return Err(format!("no session with id '{id}'").into());
            };
            store.delete_session(&found.id_hash).await?;
            print(&json!({"ended": [id]}))
        }
        SessionCommand::Revoke {
            user: Some(user), ..
        } => {
            let subject = subject_of(store, &user).await?;
            let ended = store.delete_sessions_of(&subject).await?;
            print(&json!({"username": user, "ended": ended}))
        }
        SessionCommand::Revoke { .. } => {
            Err("name the session id, or --user USERNAME to end all of a user's sessions".into())
        }
    }
}

async fn set_disabled(store: &SqlStore, username: &str, disabled: bool) -> CliResult {
    if !store.set_user_disabled(username, disabled).await? {
        return Err(format!("no user named '{username}'").into());
    }
    print(&json!({"username": username, "disabled": disabled}))
}

/// Warns on stderr when `client` asks for a legacy grant this configuration leaves off:
/// it is registered, but the server refuses the grant until the setting is on.
/// Warns when an update changes the subject `old`'s users are known by to the client
/// (its subject type, or the sector of its pairwise subjects).
fn warn_about_changed_subjects(old: &ClientRecord, new: &ClientRecord) {
    let pairwise = |c: &ClientRecord| {
        c.metadata.subject_type.as_deref() == Some(portcullis_core::subject::PAIRWISE)
    };
    let changed = pairwise(old) != pairwise(new)
        || (pairwise(new)
            && portcullis_core::Client::sector_identifier(old)
                != portcullis_core::Client::sector_identifier(new));
    if changed {
        eprintln!(
            "warning: the client's users now have other subjects (sub) for it: it will not \
             recognise the users it knew"
        );
    }
}

fn warn_about_disabled_grants(client: &ClientRecord, config: &Config) {
    let tokens = &config.tokens;
    if !tokens.enable_password_grant && client.grant_types.iter().any(|g| g == "password") {
        eprintln!(
            "warning: the password grant is off in this configuration: the server refuses \
             it until enable_password_grant = true (or PORTCULLIS_ENABLE_PASSWORD_GRANT=true)"
        );
    }
    let implicit = client.grant_types.iter().any(|g| g == "implicit")
        || client
            .response_types
            .iter()
            .any(|r| r.split(' ').any(|t| t == "token"));
    if !tokens.enable_implicit_grant && implicit {
        eprintln!(
            "warning: the implicit grant is off in this configuration: the server refuses \
             it until enable_implicit_grant = true (or PORTCULLIS_ENABLE_IMPLICIT_GRANT=true)"
        );
    }
}

/// True when `client` authenticates with a secret: every method but `none` and
/// `private_key_jwt`.
fn has_secret(client: &ClientRecord) -> bool {
    ![AuthMethod::NONE, AuthMethod::PRIVATE_KEY_JWT]
        .contains(&client.token_endpoint_auth_method.as_str())
}

/// The key-encryption key a `client_secret_jwt` client's secret is sealed with
/// (refused without one); `None` for the other methods.
fn jwt_secret_kek(
    client: &ClientRecord,
    config: &Config,
) -> Result<Option<crate::keys::Kek>, Box<dyn std::error::Error>> {
    if client.token_endpoint_auth_method != AuthMethod::CLIENT_SECRET_JWT {
        return Ok(None);
    }
    match crate::keys::Kek::from_config(&config.keys)? {
        Some(kek) => Ok(Some(kek)),
        None => Err(crate::client_assertions::NEEDS_KEK.into()),
    }
}

/// Keeps `secret` sealed with `kek` in `client`'s metadata, for client_secret_jwt.
fn seal_secret(
    client: &mut ClientRecord,
    kek: &crate::keys::Kek,
    random: &dyn RandomSource,
    secret: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let sealed =
        crate::client_assertions::seal_client_secret(kek, random, &client.client_id, secret)?;
    client
        .metadata
        .extras
        .insert_raw(portcullis_core::SEALED_CLIENT_SECRET, sealed.into());
    Ok(())
}

fn client_json(client: &ClientRecord, secret: Option<&str>) -> serde_json::Value {
    let mut value = json!({
        "client_id": client.client_id,
        "client_name": client.client_name,
        "redirect_uris": client.redirect_uris,
        "grant_types": client.grant_types,
        "response_types": client.response_types,
        "scope": client.scope.to_string(),
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "strict_auth_method": client.strict_auth_method(),
        "audience": client.audience,
        "resource_server_audience": client.resource_server_audience,
        "access_token_format": client
            .metadata
            .extras
            .get::<portcullis_core::jose::AccessTokenFormat>(),
        "post_logout_redirect_uris": client.metadata.post_logout_redirect_uris,
        "id_token_signed_response_alg": client.metadata.id_token_signed_response_alg,
        "userinfo_signed_response_alg": client.metadata.userinfo_signed_response_alg,
        "pkce": clients::pkce_setting(client),
        "subject_type": client.metadata.subject_type.as_deref().unwrap_or(portcullis_core::subject::PUBLIC),
        "sector_identifier_uri": client.metadata.sector_identifier_uri,
        "backchannel_logout_uri": client.metadata.backchannel_logout_uri,
        "allowed_resources": client.allowed_resources(),
        "jwks_uri": client.metadata.jwks_uri,
        "jwks": client.metadata.jwks,
        "token_endpoint_auth_signing_alg": client.metadata.token_endpoint_auth_signing_alg,
    });
    if let Some(secret) = secret {
        value["client_secret"] = json!(secret);
    }
    value
}

impl ClientCreate {
    /// The options as a registration for [`crate::clients::validate`].
    pub fn registration(&self) -> ClientRegistration {
        ClientRegistration {
            name: self.name.clone(),
            redirect_uris: self.redirect_uris.clone(),
            grant_types: self.grant_types.clone(),
            response_types: self.response_types.clone(),
            scope: self.scope.clone(),
            auth_method: self.auth_method.clone(),
            strict_auth_method: self.strict_auth_method,
            audience: self.audience.clone(),
            resource_server_audience: self.resource_server_audience.clone(),
            access_token_format: self.access_token_format.clone(),
            post_logout_redirect_uris: self.post_logout_redirect_uris.clone(),
            id_token_signed_response_alg: self.id_token_signed_response_alg.clone(),
            userinfo_signed_response_alg: self.userinfo_signed_response_alg.clone(),
            pkce: self.pkce.clone(),
            subject_type: self.subject_type.clone(),
            sector_identifier_uri: self.sector_identifier_uri.clone(),
            backchannel_logout_uri: self.backchannel_logout_uri.clone(),
            allowed_resources: self.allowed_resources.clone(),
            jwks_uri: self.jwks_uri.clone(),
            jwks: self.jwks.clone(),
            token_endpoint_auth_signing_alg: self.token_endpoint_auth_signing_alg.clone(),
        }
    }
}

async fn client(
    store: &SqlStore,
    command: ClientCommand,
    random: &dyn RandomSource,
    config: &Config,
) -> CliResult {
    match command {
        ClientCommand::Create(options) => {
            let mut client = clients::validate(&options.registration())?;
            clients::check_algorithms(&client, &config.keys.signing_algorithms)?;
            clients::check_remote_urls(&client, &config.fetch_policy()).await?;
            warn_about_disabled_grants(&client, config);
            let kek = jwt_secret_kek(&client, config)?;
            client.client_id = clients::new_client_id(random);
            let secret = has_secret(&client).then(|| clients::new_client_secret(random));
            client.client_secret_hash = secret.as_deref().map(hash_secret);
            if let (Some(kek), Some(secret)) = (&kek, &secret) {
                seal_secret(&mut client, kek, random, secret)?;
            }
            store.insert_client(&client).await?;
            let mut value = client_json(&client, None);
            value["client_secret"] = json!(secret);
            print(&value)
        }
        ClientCommand::List => {
            let clients = store.list_clients().await?;
            print(&serde_json::Value::Array(
                clients.iter().map(|c| client_json(c, None)).collect(),
            ))
        }
        ClientCommand::Show { client_id } => match store.get_client(&client_id).await? {
            Some(client) => print(&client_json(&client, None)),
            None => Err(format!("no client with client_id '{client_id}'").into()),
        },
        ClientCommand::Delete { client_id } => {
            if !store.delete_client(&client_id).await? {
                return Err(format!("no client with client_id '{client_id}'").into());
            }
            print(&json!({"deleted": client_id}))
        }
        ClientCommand::Update(options) => {
            let Some(old) = store.get_client(&options.client_id).await? else {
                return Err(format!("no client with client_id '{}'", options.client_id).into());
            };
            let registration = options.registration(&old)?;
            let mut client = clients::validate(&registration)?;
            clients::check_algorithms(&client, &config.keys.signing_algorithms)?;
            clients::check_remote_urls(&client, &config.fetch_policy()).await?;
            warn_about_disabled_grants(&client, config);
            client.client_id = old.client_id.clone();
            client.metadata = clients::merged_metadata(&old.metadata, &client.metadata);
            warn_about_changed_subjects(&old, &client);
            let kek = jwt_secret_kek(&client, config)?;
            let jwt_secret = client.token_endpoint_auth_method == AuthMethod::CLIENT_SECRET_JWT;
            let sealed = old
                .metadata
                .extras
                .get_raw(portcullis_core::SEALED_CLIENT_SECRET)
                .is_some();
            let secret = match (has_secret(&old), has_secret(&client)) {
                // Comes to need a secret: a new one, shown once.
                (false, true) => Some(clients::new_client_secret(random)),
                // Becomes client_secret_jwt: the hash cannot give the secret back.
                (true, true) if jwt_secret && !sealed => Some(clients::new_client_secret(random)),
                _ => None,
            };
            client.client_secret_hash = match (&secret, has_secret(&client)) {
                (_, false) => None,
                (Some(secret), true) => Some(hash_secret(secret)),
                (None, true) => old.client_secret_hash.clone(),
            };
            match (&kek, &secret) {
                (Some(kek), Some(secret)) => seal_secret(&mut client, kek, random, secret)?,
                _ if !jwt_secret => client
                    .metadata
                    .extras
                    .remove_raw(portcullis_core::SEALED_CLIENT_SECRET),
                _ => {}
            }
            if !store.update_client(&client).await? {
                return Err(format!("no client with client_id '{}'", options.client_id).into());
            }
            print(&client_json(&client, secret.as_deref()))
        }
        ClientCommand::RotateSecret { client_id } => {
            let Some(client) = store.get_client(&client_id).await? else {
                return Err(format!("no client with client_id '{client_id}'").into());
            };
            if !has_secret(&client) {
                return Err(format!(
                    "client '{client_id}' has no secret (auth method {})",
                    client.token_endpoint_auth_method
                )
                .into());
            }
            let secret = clients::new_client_secret(random);
            if let Some(kek) = jwt_secret_kek(&client, config)? {
                let mut client = client.clone();
                client.client_secret_hash = Some(hash_secret(&secret));
                seal_secret(&mut client, &kek, random, &secret)?;
                if !store.update_client(&client).await? {
                    return Err(format!("no client with client_id '{client_id}'").into());
                }
            } else {
                store
                    .set_client_secret_hash(&client_id, &hash_secret(&secret))
                    .await?;
            }
            print(&client_json(&client, Some(&secret)))
        }
    }
}
