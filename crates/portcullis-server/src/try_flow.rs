//! `portcullis try`: one authorization code flow against a running server, shown on
//! the wire (compare Hydra's `perform authorization-code`).
//!
//! It registers, or reuses, the confidential client [`CLIENT_ID`] with the redirect URI
//! `http://127.0.0.1/callback` — a loopback IP redirect, whose port may vary
//! (RFC 8252 §7.3), so one registration serves every port — and gives it a fresh
//! secret (only its hash is stored; the previous one stops working). It then listens
//! on a loopback port, prints (and opens, where a browser exists) the authorization
//! URL with a PKCE S256 challenge (RFC 7636), `state` and `nonce`, receives the
//! callback, checks `state` and `iss` (RFC 9207), redeems the code (RFC 6749 §4.1.3),
//! verifies the ID token (OpenID Connect Core §3.1.3.7: signature against the JWK Set,
//! `iss`, `aud`, `nonce`), and calls the introspection (RFC 7662) and UserInfo
//! (Core §5.3) endpoints.
//!
//! Each request and response goes to stderr, the client secret redacted; the results
//! go to stdout as one JSON document: `tokens` (the token response), `id_token_claims`,
//! `introspection` and `userinfo`.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use portcullis_core::random::random_string;
use portcullis_core::{hash_secret, AuthMethod, Clock, RandomSource, Scope};
use portcullis_sql::SqlStore;
use serde_json::{json, Map, Value};

use crate::clients::{self, ClientRegistration};
use crate::config::Config;

/// The client `portcullis try` registers and reuses.
pub const CLIENT_ID: &str = "portcullis-try";

/// Its redirect URI as registered: any port of 127.0.0.1 matches (RFC 8252 §7.3).
pub const REGISTERED_REDIRECT_URI: &str = "http://127.0.0.1/callback";

/// The line on stderr that carries the authorization URL starts with this.
pub const AUTHORIZATION_URL_PREFIX: &str = "authorization URL: ";

/// `portcullis try` options.
#[derive(Debug, Clone, clap::Args)]
pub struct TryOptions {
    /// The scope to ask for (space-separated).
    #[arg(long, default_value = "openid profile email")]
    pub scope: String,
    /// The server's issuer URL. Default: the configured issuer (`issuer`,
    /// PORTCULLIS_ISSUER), else http:// and the bind address.
    #[arg(long, value_name = "URL")]
    pub issuer: Option<String>,
    /// Print the authorization URL only; do not try to open a browser.
    #[arg(long)]
    pub no_browser: bool,
    /// The loopback port of the callback listener (0: any free port).
    #[arg(long, value_name = "PORT", default_value_t = 0)]
    pub port: u16,
    /// How long to wait for the browser to come back, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub timeout: u64,
}

type TryResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// What the discovery document says, as far as `try` uses it.
#[derive(Debug)]
struct Endpoints {
    issuer: String,
    authorization: String,
    token: String,
    introspection: Option<String>,
    userinfo: Option<String>,
    jwks: Option<String>,
    iss_parameter: bool,
}

/// Runs the flow; `store` is the server's database, already opened.
pub async fn run(
    store: &SqlStore,
    config: &Config,
    options: TryOptions,
    clock: &dyn Clock,
    random: &dyn RandomSource,
) -> TryResult {
    let scope = Scope::parse(&options.scope).map_err(|e| format!("--scope: {e}"))?;
    let issuer = match &options.issuer {
        Some(issuer) => issuer.clone(),
        None => config
            .issuer_for(config.bind_addr()?)
            .map_err(|e| format!("{e}; or pass --issuer URL"))?,
    };
    let issuer = issuer.trim_end_matches('/').to_owned();
    if store.list_users().await?.is_empty() {
        return Err(
            "there is no user to sign in as: create one first with `portcullis user \
                    create --username NAME --password-stdin`"
                .into(),
        );
    }
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()?;
    let endpoints = discover(&http, &issuer).await?;

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", options.port))
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1:{}: {e}", options.port))?;
    let port = listener.local_addr()?.port();
    let redirect_uri = format!("http://127.0.0.1:{port}/callback");

    let secret = register_client(store, config, &scope, random).await?;
    eprintln!(
        "client: {CLIENT_ID} (confidential, redirect URI {REGISTERED_REDIRECT_URI}, any \
         port); it has a new secret for this run"
    );

    let verifier = random_string(random, 32);
    let challenge = portcullis_core::extensions::s256_challenge(&verifier);
    let state = random_string(random, 16);
    let nonce = random_string(random, 16);
    let mut url = url::Url::parse(&endpoints.authorization)
        .map_err(|e| format!("the authorization_endpoint is not a URL: {e}"))?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", CLIENT_ID)
        .append_pair("redirect_uri", &redirect_uri)
        .append_pair("scope", &scope.to_string())
        .append_pair("state", &state)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    eprintln!("PKCE: code_verifier={verifier}");
    eprintln!("      code_challenge=BASE64URL(SHA256(code_verifier))={challenge}");
    eprintln!("Open this URL in a browser and sign in; the answer comes back to {redirect_uri}");
    eprintln!("{AUTHORIZATION_URL_PREFIX}{url}");
    if !options.no_browser {
        open_browser(url.as_str());
    }

    let expected = Expected {
        state,
        issuer: endpoints.issuer.clone(),
        iss_required: endpoints.iss_parameter,
    };
    let code = receive_callback(listener, expected, Duration::from_secs(options.timeout)).await?;

    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", redirect_uri.as_str()),
        ("code_verifier", verifier.as_str()),
    ];
    let mut tokens = post_form(&http, &endpoints.token, &form, &secret, "token", true).await;
    if let Err(Failure::InvalidClient) = tokens {
        // A running server may still hold the client's previous secret in its client
        // cache; a refused client authentication does not spend the code, so try again
        // until the cache has let go, within the code's lifetime.
        let retry_for = (config.tokens.authorization_code_lifetime - 10).clamp(0, 30);
        eprintln!(
            "note: the server refused the new secret of {CLIENT_ID}: it probably still \
             holds the previous one in its client cache (client_cache_ttl, {} s by this \
             configuration); trying again every {RETRY_INTERVAL} s for up to {retry_for} s",
            config.database.client_cache_ttl
        );
        for _ in 0..retry_for / RETRY_INTERVAL {
            tokio::time::sleep(Duration::from_secs(RETRY_INTERVAL as u64)).await;
            tokens = post_form(&http, &endpoints.token, &form, &secret, "token", false).await;
            if !matches!(tokens, Err(Failure::InvalidClient)) {
                break;
            }
        }
    }
    let tokens = tokens.map_err(Failure::into_message)?;
    let access_token = tokens
        .get("access_token")
        .and_then(Value::as_str)
        .ok_or("the token response has no access_token")?
        .to_owned();

    let id_token_claims = match tokens.get("id_token").and_then(Value::as_str) {
        Some(id_token) => Some(
            check_id_token(&http, &endpoints, id_token, &nonce, clock)
                .await
                .map_err(|e| format!("the ID token is not valid: {e}"))?,
        ),
        None if scope.contains("openid") => {
            return Err("the token response has no id_token although openid was asked".into())
        }
        None => None,
    };

    let introspection = match &endpoints.introspection {
        Some(endpoint) => Some(
            post_form(
                &http,
                endpoint,
                &[("token", access_token.as_str())],
                &secret,
                "introspection",
                true,
            )
            .await
            .map_err(Failure::into_message)?,
        ),
        None => {
            eprintln!("note: the server publishes no introspection_endpoint");
            None
        }
    };
    let userinfo = match (&endpoints.userinfo, scope.contains("openid")) {
        (Some(endpoint), true) => Some(userinfo(&http, endpoint, &access_token).await?),
        _ => None,
    };
    let result = json!({
        "issuer": endpoints.issuer,
        "client_id": CLIENT_ID,
        "redirect_uri": redirect_uri,
        "tokens": tokens,
        "id_token_claims": id_token_claims,
        "introspection": introspection,
        "userinfo": userinfo,
    });
    println!("{}", serde_json::to_string_pretty(&result)?);
    Ok(())
}

/// Reads the discovery document of `issuer`: OpenID Connect's, else RFC 8414's.
async fn discover(http: &reqwest::Client, issuer: &str) -> TryResult<Endpoints> {
    let mut document = None;
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let url = format!("{issuer}{path}");
        eprintln!("> GET {url}");
        let response = http.get(&url).send().await.map_err(|e| {
            format!(
                "nothing answers at the issuer {issuer} ({}): start the server first \
                 (`portcullis serve`, which listens on 127.0.0.1:8080 by default), or pass \
                 the issuer it runs at with --issuer URL",
                root_cause(&e)
            )
        })?;
        let status = response.status();
        eprintln!("< {status}");
        if status == reqwest::StatusCode::NOT_FOUND {
            continue;
        }
        let body = response.text().await?;
        if !status.is_success() {
            return Err(format!("{url} answered {status}: {}", body.trim()).into());
        }
        let value: Value = serde_json::from_str(&body).map_err(|_| {
            format!("{url} did not answer JSON: is {issuer} a Portcullis server's issuer?")
        })?;
        eprintln!("< {}", serde_json::to_string_pretty(&value)?);
        document = Some(value);
        break;
    }
    let Some(document) = document else {
        return Err(format!(
            "{issuer} has no discovery document (/.well-known/openid-configuration): is it \
             the issuer of a Portcullis server?"
        )
        .into());
    };
    let text = |name: &str| {
        document
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let advertised = text("issuer").unwrap_or_default();
    if advertised != issuer {
        return Err(format!(
            "the server at {issuer} says its issuer is '{advertised}': run `portcullis try \
             --issuer {advertised}` (the issuer must match exactly, RFC 8414 §3.3)"
        )
        .into());
    }
    let required = |name: &str| text(name).ok_or(format!("the discovery document has no {name}"));
    Ok(Endpoints {
        issuer: advertised,
        authorization: required("authorization_endpoint")?,
        token: required("token_endpoint")?,
        introspection: text("introspection_endpoint"),
        userinfo: text("userinfo_endpoint"),
        jwks: text("jwks_uri"),
        iss_parameter: document
            .get("authorization_response_iss_parameter_supported")
            .and_then(Value::as_bool)
            == Some(true),
    })
}

/// The innermost error of a request, in words (`Connection refused`, say).
fn root_cause(error: &reqwest::Error) -> String {
    let mut source: &dyn std::error::Error = error;
    while let Some(next) = source.source() {
        source = next;
    }
    source.to_string()
}

/// Registers [`CLIENT_ID`], or brings its registration up to what this run needs
/// (the loopback redirect URI, the code grant, the scope, a secret); returns its new
/// secret.
async fn register_client(
    store: &SqlStore,
    config: &Config,
    scope: &Scope,
    random: &dyn RandomSource,
) -> TryResult<String> {
    let existing = store.get_client(CLIENT_ID).await?;
    let mut registration = match &existing {
        Some(client) => clients::registration_of(client),
        None => ClientRegistration {
            name: "portcullis try".into(),
            auth_method: AuthMethod::CLIENT_SECRET_BASIC.into(),
            ..ClientRegistration::default()
        },
    };
    let before = registration.clone();
    let add = |list: &mut Vec<String>, value: &str| {
        if !list.iter().any(|v| v == value) {
            list.push(value.to_owned());
        }
    };
    add(&mut registration.redirect_uris, REGISTERED_REDIRECT_URI);
    if !registration.grant_types.is_empty() {
        add(&mut registration.grant_types, "authorization_code");
    }
    if !registration.response_types.is_empty() {
        add(&mut registration.response_types, "code");
    }
    if registration.auth_method == AuthMethod::NONE {
        registration.auth_method = AuthMethod::CLIENT_SECRET_BASIC.into();
    }
    let allowed = Scope::parse(&registration.scope).unwrap_or_else(|_| Scope::empty());
    registration.scope = Scope::from_tokens(allowed.iter().chain(scope.iter())).to_string();
    let mut client = clients::validate(&registration)?;
    clients::check_algorithms(&client, &config.keys.signing_algorithms)?;
    client.client_id = CLIENT_ID.to_owned();
    let secret = clients::new_client_secret(random);
    client.client_secret_hash = Some(hash_secret(&secret));
    match existing {
        None => store.insert_client(&client).await?,
        Some(old) => {
            if registration != before {
                client.metadata = clients::merged_metadata(&old.metadata, &client.metadata);
                store.update_client(&client).await?;
                eprintln!("client: updated {CLIENT_ID} for this run");
            }
            store
                .set_client_secret_hash(CLIENT_ID, &hash_secret(&secret))
                .await?;
        }
    }
    Ok(secret)
}

/// Opens `url` in the desktop's browser, where there is one; says so when it cannot.
fn open_browser(url: &str) {
    let program = if cfg!(target_os = "macos") {
        Some("open")
    } else if cfg!(windows) {
        None
    } else if std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some()
    {
        Some("xdg-open")
    } else {
        None
    };
    let Some(program) = program else {
        eprintln!("(no browser found to open: copy the URL into one)");
        return;
    };
    let spawned = std::process::Command::new(program)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if let Err(error) = spawned {
        eprintln!("(could not run {program} to open a browser: {error}; copy the URL into one)");
    }
}

/// What the callback must carry.
#[derive(Debug, Clone)]
struct Expected {
    state: String,
    issuer: String,
    iss_required: bool,
}

impl Expected {
    /// The code of an authorization response, or why it is refused.
    fn check(&self, params: &[(String, String)]) -> Result<String, String> {
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        match get("state") {
            Some(state) if state == self.state => {}
            Some(state) => {
                return Err(format!(
                    "the callback's state '{state}' is not the one sent: refusing it (a \
                     forged or replayed response, or another run's browser tab)"
                ))
            }
            None => {
                return Err("the callback has no state: refusing it".into());
            }
        }
        match get("iss") {
            Some(iss) if iss == self.issuer => {}
            Some(iss) => {
                return Err(format!(
                    "the callback's iss '{iss}' is not the issuer {}: refusing it (RFC 9207)",
                    self.issuer
                ))
            }
            None if self.iss_required => {
                return Err(format!(
                    "the callback has no iss although {} says it sends one: refusing it \
                     (RFC 9207)",
                    self.issuer
                ))
            }
            None => {}
        }
        if let Some(error) = get("error") {
            let description = get("error_description")
                .map(|d| format!(": {d}"))
                .unwrap_or_default();
            let hint = if error == "access_denied" {
                " (the user denied the request, or may not use this client)"
            } else {
                ""
            };
            return Err(format!(
                "the authorization server answered error={error}{description}{hint}"
            ));
        }
        match get("code") {
            Some(code) if !code.is_empty() => Ok(code.to_owned()),
            _ => Err("the callback has neither a code nor an error".into()),
        }
    }
}

/// The page the browser sees at the callback.
fn callback_page(outcome: &Result<String, String>) -> String {
    let (title, text) = match outcome {
        Ok(_) => (
            "Signed in",
            "portcullis try received the authorization code. You can close this window \
             and return to the terminal."
                .to_owned(),
        ),
        Err(message) => ("portcullis try failed", escape_html(message)),
    };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         </head><body><h1>{title}</h1><p>{text}</p></body></html>\n"
    )
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Serves `GET /callback` on `listener` until one arrives (or `timeout`); answers the
/// browser with a page and returns the checked code.
async fn receive_callback(
    listener: tokio::net::TcpListener,
    expected: Expected,
    timeout: Duration,
) -> TryResult<String> {
    use axum::extract::RawQuery;
    use axum::response::Html;
    use std::sync::{Arc, Mutex};

    let (sender, receiver) = tokio::sync::oneshot::channel::<Result<String, String>>();
    let sender = Arc::new(Mutex::new(Some(sender)));
    let handler = move |RawQuery(query): RawQuery| {
        let sender = sender.clone();
        let expected = expected.clone();
        async move {
            let params: Vec<(String, String)> =
                form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                    .into_owned()
                    .collect();
            let outcome = expected.check(&params);
            let page = callback_page(&outcome);
            let status = match outcome {
                Ok(_) => http::StatusCode::OK,
                Err(_) => http::StatusCode::BAD_REQUEST,
            };
            let taken = sender.lock().ok().and_then(|mut s| s.take());
            match taken {
                Some(sender) => {
                    let _ = sender.send(outcome);
                    (status, Html(page))
                }
                None => (
                    http::StatusCode::GONE,
                    Html(callback_page(&Err(
                        "portcullis try already received its callback".into(),
                    ))),
                ),
            }
        }
    };
    let app = axum::Router::new().route("/callback", axum::routing::get(handler));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    eprintln!(
        "waiting for the callback (up to {} s) ...",
        timeout.as_secs()
    );
    let received = tokio::time::timeout(timeout, receiver).await;
    // The browser gets its page before the listener goes.
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
    let outcome = match received {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(_)) => return Err("the callback listener stopped unexpectedly".into()),
        Err(_) => {
            return Err(format!(
                "no callback within {} s (--timeout): was the URL opened and the sign-in \
                 finished?",
                timeout.as_secs()
            )
            .into())
        }
    };
    match outcome {
        Ok(code) => {
            eprintln!("callback: state and iss match; received a code");
            Ok(code)
        }
        Err(message) => Err(message.into()),
    }
}

/// Why a request to the server failed.
#[derive(Debug)]
enum Failure {
    /// 401 `invalid_client`: worth one retry after the client cache.
    InvalidClient,
    /// Anything else, in words.
    Other(String),
}

impl Failure {
    fn into_message(self) -> Box<dyn std::error::Error> {
        match self {
            Failure::InvalidClient => {
                "the server refused the credentials of portcullis-try (invalid_client): \
                 another `portcullis try` may have given it a newer secret since, or the \
                 server at the issuer uses another database than this command"
                    .into()
            }
            Failure::Other(message) => message.into(),
        }
    }
}

/// Seconds between two token requests while the server's client cache holds the
/// previous secret.
const RETRY_INTERVAL: i64 = 2;

/// POSTs `form` to `url` with HTTP Basic authentication of [`CLIENT_ID`], showing the
/// exchange on stderr (the secret redacted; the request in full when `show_request`,
/// else one line); the JSON answer of a 200.
async fn post_form(
    http: &reqwest::Client,
    url: &str,
    form: &[(&str, &str)],
    secret: &str,
    what: &str,
    show_request: bool,
) -> Result<Value, Failure> {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    // RFC 6749 §2.3.1: both form-encoded before Basic.
    let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let credentials = STANDARD.encode(format!("{}:{}", encode(CLIENT_ID), encode(secret)));
    let request = http
        .post(url)
        .header("authorization", format!("Basic {credentials}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.clone());
    if show_request {
        eprintln!("> POST {url}");
        eprintln!("> Authorization: Basic BASE64({CLIENT_ID}:<client_secret, not shown>)");
        eprintln!("> Content-Type: application/x-www-form-urlencoded");
        eprintln!(">");
        eprintln!("> {body}");
    } else {
        eprintln!("> POST {url} (the same request again)");
    }
    let response = request
        .send()
        .await
        .map_err(|e| Failure::Other(format!("the {what} request failed: {}", root_cause(&e))))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|e| Failure::Other(format!("reading the {what} response: {e}")))?;
    show_response(status, &text);
    let value: Value = serde_json::from_str(&text)
        .map_err(|_| Failure::Other(format!("the {what} endpoint answered {status}, not JSON")))?;
    if status.is_success() {
        return Ok(value);
    }
    let error = value.get("error").and_then(Value::as_str).unwrap_or("?");
    if status == reqwest::StatusCode::UNAUTHORIZED && error == "invalid_client" {
        return Err(Failure::InvalidClient);
    }
    let description = value
        .get("error_description")
        .and_then(Value::as_str)
        .map(|d| format!(": {d}"))
        .unwrap_or_default();
    Err(Failure::Other(format!(
        "the {what} endpoint answered {status} error={error}{description}"
    )))
}

fn show_response(status: reqwest::StatusCode, text: &str) {
    eprintln!("< {status}");
    match serde_json::from_str::<Value>(text) {
        Ok(value) => eprintln!(
            "< {}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        ),
        Err(_) if !text.is_empty() => eprintln!("< {}", text.trim()),
        Err(_) => {}
    }
    eprintln!();
}

/// GETs the UserInfo endpoint with the access token; its claims (a JSON answer).
async fn userinfo(http: &reqwest::Client, url: &str, access_token: &str) -> TryResult<Value> {
    eprintln!("> GET {url}");
    eprintln!("> Authorization: Bearer {access_token}");
    let response = http.get(url).bearer_auth(access_token).send().await?;
    let status = response.status();
    let text = response.text().await?;
    show_response(status, &text);
    if !status.is_success() {
        return Err(format!("the UserInfo endpoint answered {status}: {}", text.trim()).into());
    }
    Ok(serde_json::from_str(&text)
        .map_err(|_| "the UserInfo endpoint did not answer JSON (a signed answer?)")?)
}

/// Verifies the ID token: signature against the server's JWK Set, `iss`, `aud`,
/// `exp`, and the `nonce` sent; its claims.
async fn check_id_token(
    http: &reqwest::Client,
    endpoints: &Endpoints,
    id_token: &str,
    nonce: &str,
    clock: &dyn Clock,
) -> TryResult<Map<String, Value>> {
    use portcullis_core::jose::{self, JwkSet, KeySet, Validation};

    let jwks_uri = endpoints
        .jwks
        .as_deref()
        .ok_or("the discovery document has no jwks_uri")?;
    eprintln!("> GET {jwks_uri}");
    let response = http.get(jwks_uri).send().await?;
    let status = response.status();
    let text = response.text().await?;
    show_response(status, &text);
    let set: JwkSet =
        serde_json::from_str(&text).map_err(|e| format!("the JWK Set is not valid: {e}"))?;
    let provider = jose::aws_lc_rs::provider();
    let keys = KeySet::from_jwk_set(&provider, &set, &provider.supported());
    let verified = jose::verify(
        id_token,
        &keys,
        &Validation::new(clock.now())
            .with_issuer(endpoints.issuer.clone())
            .with_audience([CLIENT_ID]),
    )?;
    if verified.claims.get("nonce").and_then(Value::as_str) != Some(nonce) {
        return Err("its nonce is not the one sent".into());
    }
    eprintln!("ID token: signature, iss, aud, exp and nonce check out");
    Ok(verified.claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expected() -> Expected {
        Expected {
            state: "s1".into(),
            issuer: "http://127.0.0.1:8080".into(),
            iss_required: true,
        }
    }

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_callback_needs_the_state_and_iss_sent() {
        let iss = "http://127.0.0.1:8080";
        assert_eq!(
            expected().check(&params(&[("code", "c"), ("state", "s1"), ("iss", iss)])),
            Ok("c".into())
        );
        for wrong in [
            params(&[("code", "c"), ("state", "s2"), ("iss", iss)]),
            params(&[("code", "c"), ("iss", iss)]),
            params(&[("code", "c"), ("state", "s1"), ("iss", "http://evil")]),
            params(&[("code", "c"), ("state", "s1")]),
            params(&[("state", "s1"), ("iss", iss)]),
        ] {
            assert!(expected().check(&wrong).is_err(), "{wrong:?}");
        }
        let denied = expected()
            .check(&params(&[
                ("error", "access_denied"),
                ("state", "s1"),
                ("iss", iss),
            ]))
            .unwrap_err();
        assert!(denied.contains("error=access_denied"), "{denied}");
    }
}
