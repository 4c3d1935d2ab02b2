//! `portcullis-bench run`: a fresh database, `portcullis serve` on it, clients and a
//! user registered through the `portcullis` CLI, authorization codes pre-created
//! through `portcullis-sql`, then every selected scenario in turn.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, Uri};
use portcullis_core::extensions::s256_challenge;
use portcullis_core::{
    hash_secret, AuthorizationCodeRecord, AuthorizationCodeStore, Clock, Scope, SystemClock,
};
use portcullis_sql::SqlStore;
use serde_json::Value;

use crate::child::ChildGuard;
use crate::cli::{CodeInsert, LoadArgs, RunArgs, Scenario};
use crate::load::{
    basic_auth, form, run_scenario, send_once, status_error, CodePool, Plan, Target, TokenResponse,
    Workload,
};
use crate::report::{table, Row, RowResult};
use crate::rss::{
    cpu_ticks, cpu_ticks_named, load_average, mib, status_kib, RssSampler, TICKS_PER_SECOND,
};

/// The redirect URI registered for the authorization-code client.
const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";

/// The scope of the pre-created codes.
const CODE_SCOPE: &str = "profile";

/// How long a started server may take to answer `/healthz`.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// Codes saved concurrently through the store trait.
const SAVE_CONCURRENCY: usize = 32;

/// Rows per statement in bulk mode.
const BULK_ROWS: usize = 1000;

/// `n` random bytes as lowercase hex.
// The bench is a composition root: its temp-dir and schema names come from the OS
// directly, and a failure is an error to report, not a panic.
#[allow(clippy::disallowed_methods)]
pub(crate) fn random_hex(n: usize) -> Result<String, String> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).map_err(|e| format!("no OS randomness: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// A directory under the system temp dir, removed when dropped.
#[derive(Debug)]
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    /// Creates a new uniquely named directory.
    pub(crate) fn new() -> Result<TempDir, String> {
        let path = std::env::temp_dir().join(format!("portcullis-bench-{}", random_hex(8)?));
        std::fs::create_dir(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        Ok(TempDir(path))
    }

    /// Its path.
    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The database the server runs on.
enum Database {
    /// A file in the run's temp dir.
    Sqlite { url: String },
    /// A database created for this run on a PostgreSQL server, dropped afterwards.
    Postgres {
        url: String,
        admin_url: String,
        name: String,
    },
}

impl Database {
    fn url(&self) -> &str {
        match self {
            Database::Sqlite { url } | Database::Postgres { url, .. } => url,
        }
    }

    async fn create(args: &RunArgs, dir: &TempDir) -> Result<Database, String> {
        let Some(admin_url) = &args.postgres else {
            let url = format!("sqlite://{}", dir.path().join("portcullis.db").display());
            return Ok(Database::Sqlite { url });
        };
        let mut url = url::Url::parse(admin_url)
            .map_err(|e| format!("--postgres: not a URL ({e}): {admin_url}"))?;
        check_loopback_host(&url, "--postgres")?;
        let name = format!("portcullis_bench_{}", random_hex(6)?);
        url.set_path(&format!("/{name}"));
        let mut admin = connect_admin(admin_url).await?;
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .map_err(|e| format!("cannot create database {name}: {e}"))?;
        let _ = sqlx::Connection::close(admin).await;
        Ok(Database::Postgres {
            url: url.into(),
            admin_url: admin_url.clone(),
            name,
        })
    }

    /// Drops a PostgreSQL database (the SQLite file goes with the temp dir).
    async fn destroy(self) -> Result<(), String> {
        let Database::Postgres {
            admin_url, name, ..
        } = self
        else {
            return Ok(());
        };
        let mut admin = connect_admin(&admin_url).await?;
        sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut admin)
            .await
            .map_err(|e| format!("cannot drop database {name} (drop it by hand): {e}"))?;
        let _ = sqlx::Connection::close(admin).await;
        Ok(())
    }

    fn describe(&self) -> String {
        match self {
            Database::Sqlite { url } => format!("SQLite ({url})"),
            Database::Postgres { name, .. } => format!("PostgreSQL (database {name})"),
        }
    }
}

async fn connect_admin(url: &str) -> Result<sqlx::PgConnection, String> {
    tokio::time::timeout(
        Duration::from_secs(10),
        <sqlx::PgConnection as sqlx::Connection>::connect(url),
    )
    .await
    .map_err(|_| "connecting to PostgreSQL timed out".to_owned())?
    .map_err(|e| format!("cannot connect to PostgreSQL: {e}"))
}

/// Refuses URLs whose host is not this machine.
pub(crate) fn check_loopback_host(url: &url::Url, what: &str) -> Result<(), String> {
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        // Non-special schemes (postgres:) leave IP addresses as opaque host names.
        Some(url::Host::Domain(name)) => {
            name.eq_ignore_ascii_case("localhost")
                || name
                    .trim_matches(['[', ']'])
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        None => false,
    };
    if loopback {
        Ok(())
    } else {
        Err(format!(
            "{what}: only loopback hosts (127.0.0.1, ::1, localhost) are allowed"
        ))
    }
}

/// Runs `portcullis --database-url URL ARGS`, returning its JSON output.
fn portcullis_cli(
    bin: &Path,
    args: &RunArgs,
    database_url: &str,
    command: &[&str],
    stdin: Option<&str>,
) -> Result<Value, String> {
    use std::io::Write;
    let mut child = Command::new(bin)
        .arg("--database-url")
        .arg(database_url)
        .args(command)
        .env(
            "PORTCULLIS_SQLITE_SYNCHRONOUS",
            args.sqlite_synchronous.as_str(),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input.as_bytes())
            .map_err(|e| format!("portcullis {}: writing stdin: {e}", command.join(" ")))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| format!("portcullis {}: {e}", command.join(" ")))?;
    if !output.status.success() {
        return Err(format!(
            "portcullis {} failed ({}): {}",
            command.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    serde_json::from_slice(&output.stdout).map_err(|e| {
        format!(
            "portcullis {}: output is not JSON ({e}): {}",
            command.join(" "),
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

fn json_str(value: &Value, field: &str, what: &str) -> Result<String, String> {
    value
        .get(field)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| format!("{what}: no '{field}' in {value}"))
}

/// A registered client.
struct Client {
    id: String,
    auth: HeaderValue,
}

fn register_client(
    bin: &Path,
    args: &RunArgs,
    url: &str,
    options: &[&str],
) -> Result<Client, String> {
    let mut command = vec!["client", "create"];
    command.extend_from_slice(options);
    let output = portcullis_cli(bin, args, url, &command, None)?;
    let id = json_str(&output, "client_id", "client create")?;
    let secret = json_str(&output, "client_secret", "client create")?;
    Ok(Client {
        auth: basic_auth(&id, &secret)?,
        id,
    })
}

/// The code and PKCE verifier of pre-created code `index`: unique per run, and long
/// enough for a verifier (43 to 128 unreserved characters).
fn code_material(prefix: &str, index: usize) -> (String, String) {
    (
        format!("{prefix}-code-{index:09}"),
        format!("{prefix}-verifier-{index:09}-pkce"),
    )
}

/// Pre-creates `count` codes for `client_id`; returns their token-request bodies.
#[allow(clippy::disallowed_methods)] // reports how long the insertion took
async fn create_codes(
    database_url: &str,
    method: CodeInsert,
    client_id: &str,
    subject: &str,
    count: usize,
) -> Result<Vec<Bytes>, String> {
    let started = std::time::Instant::now();
    let prefix = random_hex(12)?;
    let now = SystemClock.now();
    let scope = Scope::parse(CODE_SCOPE).map_err(|e| format!("scope {CODE_SCOPE}: {e:?}"))?;
    let mut records = Vec::with_capacity(count);
    let mut bodies = Vec::with_capacity(count);
    for index in 0..count {
        let (code, verifier) = code_material(&prefix, index);
        // Expiring far in the future: the scenario must not race the code lifetime.
        let mut record = AuthorizationCodeRecord::new(
            client_id,
            subject,
            format!("{prefix}-grant-{index:09}"),
            now,
            now + 30 * 24 * 3600,
        );
        record.code_hash = hash_secret(&code);
        record.redirect_uri = Some(REDIRECT_URI.to_owned());
        record.scope = scope.clone();
        record.auth_time = Some(now);
        record.code_challenge = Some(s256_challenge(&verifier));
        record.code_challenge_method = Some("S256".to_owned());
        records.push(record);
        bodies.push(form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", &verifier),
        ]));
    }
    match method {
        CodeInsert::Store => save_through_store(database_url, records).await?,
        CodeInsert::Bulk => bulk_insert(database_url, &records).await?,
    }
    let secs = started.elapsed().as_secs_f64();
    #[allow(clippy::cast_precision_loss)]
    let per_sec = count as f64 / secs.max(1e-9);
    println!(
        "pre-created {count} authorization codes in {secs:.1} s ({per_sec:.0}/s, {})",
        match method {
            CodeInsert::Store => "AuthorizationCodeStore::save_authorization_code",
            CodeInsert::Bulk => "bulk INSERT",
        }
    );
    Ok(bodies)
}

/// Saves the codes through the storage trait, [`SAVE_CONCURRENCY`] at a time.
async fn save_through_store(
    database_url: &str,
    records: Vec<AuthorizationCodeRecord>,
) -> Result<(), String> {
    let store = Arc::new(
        SqlStore::connect(database_url)
            .await
            .map_err(|e| format!("portcullis-sql cannot open the database: {e}"))?,
    );
    let mut chunks: Vec<Vec<AuthorizationCodeRecord>> =
        (0..SAVE_CONCURRENCY).map(|_| Vec::new()).collect();
    for (index, record) in records.into_iter().enumerate() {
        if let Some(chunk) = chunks.get_mut(index % SAVE_CONCURRENCY) {
            chunk.push(record);
        }
    }
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in chunks {
        let store = Arc::clone(&store);
        tasks.spawn(async move {
            for record in chunk {
                store
                    .save_authorization_code(record)
                    .await
                    .map_err(|e| format!("save_authorization_code: {e}"))?;
            }
            Ok::<(), String>(())
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.map_err(|e| format!("a code-saving task failed: {e}"))??;
    }
    Ok(())
}

/// A SQL string literal (the values are generated here, but quote them anyway).
fn literal(value: Option<&str>) -> String {
    value.map_or_else(
        || "NULL".to_owned(),
        |v| format!("'{}'", v.replace('\'', "''")),
    )
}

/// One multi-row `INSERT` into `authorization_codes` for `records`.
fn bulk_statement(records: &[AuthorizationCodeRecord]) -> String {
    let mut sql = String::from(
        "INSERT INTO authorization_codes (code_hash, client_id, redirect_uri, scope, subject, \
         nonce, auth_time, code_challenge, code_challenge_method, issued_at, expires_at, \
         grant_id, used) VALUES ",
    );
    for (i, r) in records.iter().enumerate() {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str(&format!(
            "({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, FALSE)",
            literal(Some(&r.code_hash)),
            literal(Some(&r.client_id)),
            literal(r.redirect_uri.as_deref()),
            literal(Some(&r.scope.to_string())),
            literal(Some(&r.subject)),
            literal(r.nonce.as_deref()),
            r.auth_time
                .map_or_else(|| "NULL".to_owned(), |t| t.to_string()),
            literal(r.code_challenge.as_deref()),
            literal(r.code_challenge_method.as_deref()),
            r.issued_at,
            r.expires_at,
            literal(Some(&r.grant_id)),
        ));
    }
    sql
}

/// Inserts the codes with multi-row statements (a bench shortcut around the store).
async fn bulk_insert(
    database_url: &str,
    records: &[AuthorizationCodeRecord],
) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| {
        format!("bulk insert of codes: {e} (if the schema changed, try --code-insert store)")
    };
    if let Some(path) = database_url.strip_prefix("sqlite://") {
        let conn = rusqlite::Connection::open(path).map_err(|e| err(&e))?;
        conn.busy_timeout(Duration::from_secs(30))
            .map_err(|e| err(&e))?;
        for chunk in records.chunks(BULK_ROWS) {
            conn.execute_batch(&bulk_statement(chunk))
                .map_err(|e| err(&e))?;
        }
    } else {
        let err = |e: sqlx::Error| err(&e);
        let pool = sqlx::PgPool::connect(database_url).await.map_err(err)?;
        for chunk in records.chunks(BULK_ROWS) {
            sqlx::raw_sql(&bulk_statement(chunk))
                .execute(&pool)
                .await
                .map_err(err)?;
        }
        pool.close().await;
    }
    Ok(())
}

/// Lets the database finish the work the setup left behind before anything is
/// measured: the hundreds of megabytes of pre-created codes would otherwise be
/// checkpointed (PostgreSQL) and written back by the kernel during the first scenario,
/// and slow it down. Best effort: a failure only costs accuracy, and is reported.
async fn settle_after_setup(database_url: &str) {
    if !database_url.starts_with("sqlite:") {
        match sqlx::PgPool::connect(database_url).await {
            Ok(pool) => {
                if let Err(error) = sqlx::raw_sql("CHECKPOINT").execute(&pool).await {
                    println!("note: CHECKPOINT after setup failed: {error}");
                }
                pool.close().await;
            }
            Err(error) => println!("note: cannot connect to CHECKPOINT after setup: {error}"),
        }
    }
    match std::process::Command::new("sync").status() {
        Ok(status) if status.success() => {}
        Ok(status) => println!("note: `sync` after setup exited with {status}"),
        Err(error) => println!("note: cannot run `sync` after setup: {error}"),
    }
}

/// A free loopback port (there is a small window in which another process could take
/// it; the server then fails to start and says so).
pub(crate) fn free_loopback_addr() -> Result<SocketAddr, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| format!("cannot find a free port: {e}"))?;
    listener
        .local_addr()
        .map_err(|e| format!("cannot find a free port: {e}"))
}

/// The last lines of a log file, for error messages.
fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(15);
    lines.get(start..).unwrap_or_default().join("\n")
}

/// Waits until `GET path` on `target` answers `expect`, the child stays alive, and at
/// most `timeout`.
pub(crate) async fn wait_ready(
    target: &Target,
    child: &ChildGuard,
    path: &str,
    timeout: Duration,
    log: Option<&Path>,
) -> Result<(), String> {
    let attempts = timeout.as_millis() / 100;
    let mut last = String::new();
    for _ in 0..attempts {
        if let Some(exited) = child.exited() {
            let tail = log.map(log_tail).unwrap_or_default();
            return Err(format!("{exited}\n{tail}"));
        }
        match send_once(target, Method::GET, path, None, Bytes::new()).await {
            Ok((StatusCode::OK, _)) => return Ok(()),
            Ok((status, body)) => last = status_error(status, &body).to_string(),
            Err(error) => last = error,
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!(
        "no 200 from GET {path} on {} within {} s (last: {last})",
        target.addr,
        timeout.as_secs()
    ))
}

/// Starts the hello ceiling: this same binary, `hello --bind ADDR`.
pub(crate) async fn start_hello() -> Result<(ChildGuard, Target), String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
    let addr = free_loopback_addr()?;
    let mut command = Command::new(exe);
    command
        .arg("hello")
        .arg("--bind")
        .arg(addr.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    let child = ChildGuard::spawn(command, "hello server")
        .map_err(|e| format!("cannot start hello: {e}"))?;
    let target = Target::new(addr)?;
    // hello answers only POST /token: a 405 on GET proves it is up.
    let deadline = 100;
    for _ in 0..deadline {
        if let Some(exited) = child.exited() {
            return Err(exited);
        }
        if let Ok((status, _)) = send_once(&target, Method::GET, "/token", None, Bytes::new()).await
        {
            if status == StatusCode::METHOD_NOT_ALLOWED {
                return Ok((child, target));
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err("the hello server did not start within 5 s".into())
}

/// Runs one scenario while sampling the RSS of `pid`.
pub(crate) async fn measure(label: String, plan: Plan, pid: Option<(u32, bool)>) -> Row {
    let is_hello = label.ends_with("hello");
    let sampler = pid.map(|(pid, tree)| RssSampler::start(pid, tree));
    let server_cpu = |pid: Option<(u32, bool)>| pid.and_then(|(pid, tree)| cpu_ticks(pid, tree));
    let self_pid = std::process::id();
    let before = (server_cpu(pid), cpu_ticks(self_pid, false));
    let database_before = cpu_ticks_named("postgres");
    let outcome = run_scenario(plan).await;
    let database_after = cpu_ticks_named("postgres");
    let after = (server_cpu(pid), cpu_ticks(self_pid, false));
    let peak_rss_kib = sampler.and_then(RssSampler::stop);
    let row = Row {
        label,
        is_hello,
        result: match outcome {
            Ok(outcome) => {
                let secs = outcome.elapsed.as_secs_f64().max(1e-9);
                #[allow(clippy::cast_precision_loss)] // tick counts are small
                let percent = |a: Option<u64>, b: Option<u64>| {
                    Some(100.0 * b?.saturating_sub(a?) as f64 / TICKS_PER_SECOND / secs)
                };
                RowResult::Measured {
                    cpu_percent: (percent(before.0, after.0), percent(before.1, after.1)),
                    database_cpu_percent: percent(database_before, database_after)
                        .filter(|_| pid.is_some()),
                    outcome,
                    peak_rss_kib,
                }
            }
            Err(error) => RowResult::Failed(error),
        },
    };
    println!("{}", row.summary());
    row
}

/// Measures the hello ceiling with the client_credentials request.
pub(crate) async fn measure_hello(
    label: String,
    load: &LoadArgs,
    auth: HeaderValue,
    body: Bytes,
) -> Row {
    match start_hello().await {
        Ok((child, target)) => {
            let plan = Plan {
                target,
                path: Uri::from_static("/token"),
                auth,
                workload: Workload::Fixed(body),
                connections: load.connections,
                duration: Duration::from_secs(load.duration),
            };
            let row = measure(label, plan, Some((child.pid(), false))).await;
            drop(child);
            row
        }
        Err(error) => {
            let row = Row {
                label,
                is_hello: true,
                result: RowResult::Failed(error),
            };
            println!("{}", row.summary());
            row
        }
    }
}

/// Gets one access token with client_credentials.
pub(crate) async fn fetch_access_token(
    target: &Target,
    path: &str,
    auth: &HeaderValue,
    body: Bytes,
) -> Result<String, String> {
    let (status, body) = send_once(target, Method::POST, path, Some(auth), body).await?;
    if status != StatusCode::OK {
        return Err(format!(
            "cannot get a token to introspect: {}",
            status_error(status, &body)
        ));
    }
    serde_json::from_slice::<TokenResponse>(&body)
        .ok()
        .and_then(|t| t.access_token)
        .ok_or_else(|| {
            format!(
                "no access_token in the token response: {}",
                String::from_utf8_lossy(&body)
            )
        })
}

/// How many distinct tokens the introspection scenario asks about.
pub(crate) const INTROSPECTED_TOKENS: usize = 64;

/// The introspection bodies of [`INTROSPECTED_TOKENS`] fresh client_credentials tokens.
pub(crate) async fn introspection_bodies(
    target: &Target,
    path: &str,
    auth: &HeaderValue,
    body: Bytes,
) -> Result<Arc<[Bytes]>, String> {
    let mut bodies = Vec::with_capacity(INTROSPECTED_TOKENS);
    for _ in 0..INTROSPECTED_TOKENS {
        let token = fetch_access_token(target, path, auth, body.clone()).await?;
        bodies.push(form(&[("token", &token)]));
    }
    Ok(bodies.into())
}

/// `portcullis-bench run`.
pub(crate) async fn run(args: RunArgs) -> Result<(), String> {
    let bin = args.portcullis_bin.clone();
    if !bin.is_file() {
        return Err(format!(
            "portcullis binary not found at {}: run bench/load.sh, or pass --portcullis-bin",
            bin.display()
        ));
    }
    let dir = TempDir::new()?;
    let database = Database::create(&args, &dir).await?;
    // On Ctrl-C, `run_on` is dropped (its guards kill the server) and the database
    // is still dropped.
    let result = tokio::select! {
        result = run_on(&args, &bin, &dir, &database) => result,
        _ = tokio::signal::ctrl_c() => Err("interrupted".to_owned()),
    };
    let dropped = database.destroy().await;
    result.and(dropped)
}

async fn run_on(
    args: &RunArgs,
    bin: &Path,
    dir: &TempDir,
    database: &Database,
) -> Result<(), String> {
    let url = database.url();
    let selected = &args.scenarios;
    println!(
        "portcullis-bench: {}{} | {} connections, {} generator threads, {} s per scenario, {} CPUs, load average {}",
        database.describe(),
        match database {
            Database::Sqlite { .. } => format!(", synchronous={}", args.sqlite_synchronous.as_str()),
            Database::Postgres { .. } => String::new(),
        },
        args.load.connections,
        args.load.threads,
        args.load.duration,
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
        load_average(),
    );

    // The database, then clients and a user, through the CLI like an operator would
    // (only serve and migrate create a database).
    portcullis_cli(bin, args, url, &["migrate"], None)?;
    let cc = register_client(
        bin,
        args,
        url,
        &["--name", "bench-cc", "--grant-type", "client_credentials"],
    )?;
    // Only when asked for; a binary older than JWT access tokens does not know the
    // flag, and its cc-jwt row then says n/a instead of failing the whole run.
    let jwt = if selected.contains(Scenario::CcJwt) {
        register_client(
            bin,
            args,
            url,
            &[
                "--name",
                "bench-jwt",
                "--grant-type",
                "client_credentials",
                "--access-token-format",
                "jwt",
            ],
        )
        .map_err(|error| eprintln!("cc-jwt: no JWT client ({error})"))
        .ok()
    } else {
        None
    };
    let code_client = register_client(
        bin,
        args,
        url,
        &[
            "--name",
            "bench-code",
            "--redirect-uri",
            REDIRECT_URI,
            "--scope",
            CODE_SCOPE,
        ],
    )?;
    let user = portcullis_cli(
        bin,
        args,
        url,
        &["user", "create", "--username", "bench", "--password-stdin"],
        Some(&format!("{}\n", random_hex(16)?)),
    )?;
    let subject = json_str(&user, "subject", "user create")?;

    let needs_codes =
        selected.contains(Scenario::Refresh) || selected.contains(Scenario::CodeExchange);
    let pool = if needs_codes {
        let bodies = create_codes(
            url,
            args.code_insert,
            &code_client.id,
            &subject,
            args.codes as usize,
        )
        .await?;
        settle_after_setup(url).await;
        Arc::new(CodePool::new(bodies))
    } else {
        Arc::new(CodePool::default())
    };

    // The server.
    let addr = free_loopback_addr()?;
    let log = dir.path().join("portcullis.log");
    let log_file =
        std::fs::File::create(&log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    let log_err = log_file
        .try_clone()
        .map_err(|e| format!("cannot open {}: {e}", log.display()))?;
    let mut command = Command::new(bin);
    command
        .arg("--database-url")
        .arg(url)
        .arg("serve")
        .arg("--bind")
        .arg(addr.to_string())
        .arg("--issuer")
        .arg(format!("http://{addr}"))
        .env(
            "PORTCULLIS_SQLITE_SYNCHRONOUS",
            args.sqlite_synchronous.as_str(),
        )
        // RS256 is always configured too: OpenID Connect's default ID token algorithm.
        .env(
            "PORTCULLIS_SIGNING_ALGORITHMS",
            if args.jwt_alg == "RS256" {
                "RS256".to_owned()
            } else {
                format!("{} RS256", args.jwt_alg)
            },
        )
        .env("PORTCULLIS_SIGNING_ALGORITHM", &args.jwt_alg)
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(log_err);
    let server = ChildGuard::spawn(command, "portcullis serve")
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let target = Target::new(addr)?;
    wait_ready(&target, &server, "/healthz", STARTUP_TIMEOUT, Some(&log)).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pid = server.pid();
    let idle = status_kib(pid, "VmRSS");
    println!(
        "portcullis serve (pid {pid}) on {addr}: idle RSS {} MiB",
        idle.map_or_else(|| "?".to_owned(), |k| format!("{:.1}", mib(k)))
    );

    let cc_body = form(&[("grant_type", "client_credentials")]);
    let token_path = Uri::from_static("/token");
    let duration = Duration::from_secs(args.load.duration);
    let plan = |path: &Uri, auth: &HeaderValue, workload: Workload| Plan {
        target: target.clone(),
        path: path.clone(),
        auth: auth.clone(),
        workload,
        connections: args.load.connections,
        duration,
    };
    let mut rows = Vec::new();
    for scenario in selected.0.iter().copied() {
        if let Some(exited) = server.exited() {
            return Err(format!("{exited}\n{}", log_tail(&log)));
        }
        let label = scenario.name().to_owned();
        let row = match scenario {
            Scenario::CcOpaque => {
                let workload = Workload::Fixed(cc_body.clone());
                measure(
                    label,
                    plan(&token_path, &cc.auth, workload),
                    Some((pid, false)),
                )
                .await
            }
            Scenario::CcJwt => match &jwt {
                Some(client) => {
                    let workload = Workload::Fixed(cc_body.clone());
                    measure(
                        format!("{label} ({})", args.jwt_alg),
                        plan(&token_path, &client.auth, workload),
                        Some((pid, false)),
                    )
                    .await
                }
                None => Row {
                    label,
                    is_hello: false,
                    result: RowResult::NotAvailable("n/a (no JWT client)"),
                },
            },
            Scenario::Introspect => {
                match introspection_bodies(&target, "/token", &cc.auth, cc_body.clone()).await {
                    Ok(bodies) => {
                        let workload = Workload::Introspect(bodies);
                        let path = Uri::from_static("/introspect");
                        measure(label, plan(&path, &cc.auth, workload), Some((pid, false))).await
                    }
                    Err(error) => Row {
                        label,
                        is_hello: false,
                        result: RowResult::Failed(error),
                    },
                }
            }
            Scenario::Refresh | Scenario::CodeExchange => {
                let workload = if scenario == Scenario::Refresh {
                    Workload::Refresh(Arc::clone(&pool))
                } else {
                    Workload::CodeExchange(Arc::clone(&pool))
                };
                measure(
                    label,
                    plan(&token_path, &code_client.auth, workload),
                    Some((pid, false)),
                )
                .await
            }
            Scenario::Hello => {
                measure_hello(label, &args.load, cc.auth.clone(), cc_body.clone()).await
            }
        };
        rows.push(row);
        // Let the server settle (WAL checkpoints, pool) between scenarios.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let hwm = status_kib(pid, "VmHWM");
    println!(
        "portcullis serve: VmHWM {} MiB at the end (idle after startup: {} MiB); {} codes left; load average {}",
        hwm.map_or_else(|| "?".to_owned(), |k| format!("{:.1}", mib(k))),
        idle.map_or_else(|| "?".to_owned(), |k| format!("{:.1}", mib(k))),
        pool.remaining(),
        load_average(),
    );
    if let Some(exited) = server.exited() {
        println!("warning: {exited}");
    }
    drop(server);
    println!();
    print!("{}", table(&rows));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_material_is_a_valid_pkce_verifier() {
        let (code, verifier) = code_material("0123456789abcdef01234567", 7);
        assert_ne!(code, verifier);
        assert!((43..=128).contains(&verifier.len()), "{}", verifier.len());
        assert!(verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b)));
    }

    #[test]
    fn only_loopback_databases() {
        let ok = url::Url::parse("postgres://postgres@127.0.0.1:5432/test").unwrap();
        assert!(check_loopback_host(&ok, "x").is_ok());
        let far = url::Url::parse("postgres://postgres@db.example.com/test").unwrap();
        assert!(check_loopback_host(&far, "x").is_err());
    }
}
