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
//! portcullis client list | show ID | delete ID | rotate-secret ID
//! ```
//!
//! Management commands print JSON on stdout. Any failure prints one line starting with
//! `error:` on stderr, exits with status 1 and changes nothing.
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

use portcullis_core::{hash_secret, AuthMethod, ClientRecord, Clock, RandomSource, SystemClock};
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
    /// Language tag (`locale`), BCP 47, such as en-GB.
    #[arg(long)]
    pub locale: Option<String>,
    /// Any other claims, as a JSON object (`{"groups":["admins"]}`); a member set to
    /// null is removed.
    #[arg(long)]
    pub claims: Option<String>,
}

/// The claims with a column or an option of their own, which `--claims` may not set.
const CLAIMS_WITH_OPTIONS: [&str; 4] = ["sub", "email", "name", "preferred_username"];

impl UserProfile {
    /// Applies the options given to `user`; a wrong value says which option and why.
    fn apply(&self, user: &mut portcullis_sql::UserRecord) -> Result<(), String> {
        if let Some(email) = &self.email {
            crate::passwords::check_email(email)?;
            user.email = Some(email.clone());
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
    /// A response type (repeat); default: code when authorization_code is allowed.
    #[arg(long = "response-type")]
    pub response_types: Vec<String>,
    /// Space-separated scopes the client may request.
    #[arg(long, default_value = "")]
    pub scope: String,
    /// client_secret_basic (default), client_secret_post, or none (public client).
    #[arg(long, default_value = AuthMethod::CLIENT_SECRET_BASIC)]
    pub auth_method: String,
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

async fn set_disabled(store: &SqlStore, username: &str, disabled: bool) -> CliResult {
    if !store.set_user_disabled(username, disabled).await? {
        return Err(format!("no user named '{username}'").into());
    }
    print(&json!({"username": username, "disabled": disabled}))
}

/// Warns on stderr when `client` asks for a legacy grant this configuration leaves off:
/// it is registered, but the server refuses the grant until the setting is on.
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

fn client_json(client: &ClientRecord, secret: Option<&str>) -> serde_json::Value {
    let mut value = json!({
        "client_id": client.client_id,
        "client_name": client.client_name,
        "redirect_uris": client.redirect_uris,
        "grant_types": client.grant_types,
        "response_types": client.response_types,
        "scope": client.scope.to_string(),
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "audience": client.audience,
        "resource_server_audience": client.resource_server_audience,
        "access_token_format": client
            .metadata
            .extras
            .get::<portcullis_core::jose::AccessTokenFormat>(),
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
            audience: self.audience.clone(),
            resource_server_audience: self.resource_server_audience.clone(),
            access_token_format: self.access_token_format.clone(),
            post_logout_redirect_uris: self.post_logout_redirect_uris.clone(),
            id_token_signed_response_alg: self.id_token_signed_response_alg.clone(),
            userinfo_signed_response_alg: self.userinfo_signed_response_alg.clone(),
            pkce: self.pkce.clone(),
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
            warn_about_disabled_grants(&client, config);
            client.client_id = clients::new_client_id(random);
            let secret = (client.token_endpoint_auth_method != AuthMethod::NONE)
                .then(|| clients::new_client_secret(random));
            client.client_secret_hash = secret.as_deref().map(hash_secret);
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
        ClientCommand::RotateSecret { client_id } => {
            let Some(client) = store.get_client(&client_id).await? else {
                return Err(format!("no client with client_id '{client_id}'").into());
            };
            if client.token_endpoint_auth_method == AuthMethod::NONE {
                return Err(format!("client '{client_id}' is public and has no secret").into());
            }
            let secret = clients::new_client_secret(random);
            store
                .set_client_secret_hash(&client_id, &hash_secret(&secret))
                .await?;
            print(&client_json(&client, Some(&secret)))
        }
    }
}
