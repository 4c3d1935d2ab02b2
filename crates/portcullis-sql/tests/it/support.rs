//! Test databases: a fresh SQLite file per test, a fresh PostgreSQL schema per test,
//! and records to store in them.

use std::path::PathBuf;

use portcullis_core::model::GrantExpiresAt;
use portcullis_core::random::random_string;
use portcullis_core::{AuthorizationCodeRecord, ClientRecord, OsRandom, Scope, TokenRecord};
use portcullis_sql::{SqlOptions, SqlStore};
use sqlx::Connection;

pub const POSTGRES_URL_VAR: &str = "PORTCULLIS_TEST_POSTGRES_URL";

/// A random lowercase name, safe as an SQL identifier and a file name.
pub fn unique_name(prefix: &str) -> String {
    let random = random_string(&OsRandom::default(), 12)
        .to_ascii_lowercase()
        .replace(['-', '_'], "x");
    format!("{prefix}{random}")
}

/// A temporary directory, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> Self {
        let path = std::env::temp_dir().join(unique_name("portcullis-sql-test-"));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A test database: where it is, and the guard that removes it.
pub enum TestDb {
    Sqlite {
        _dir: TempDir,
        url: String,
    },
    Postgres {
        _schema: PostgresSchema,
        url: String,
    },
}

impl TestDb {
    /// A fresh SQLite file in a fresh directory.
    pub fn sqlite() -> TestDb {
        let dir = TempDir::new();
        let url = format!("sqlite://{}", dir.path().join("portcullis.db").display());
        TestDb::Sqlite { _dir: dir, url }
    }

    /// A fresh schema on the test PostgreSQL server (see [`postgres_admin_url`]).
    pub async fn postgres() -> TestDb {
        let admin_url = postgres_admin_url();
        let schema = PostgresSchema::create(&admin_url).await;
        let separator = if admin_url.contains('?') { '&' } else { '?' };
        let url = format!("{admin_url}{separator}options[search_path]={}", schema.name);
        TestDb::Postgres {
            _schema: schema,
            url,
        }
    }

    pub fn url(&self) -> &str {
        match self {
            TestDb::Sqlite { url, .. } | TestDb::Postgres { url, .. } => url,
        }
    }

    /// A store on this database, migrated.
    pub async fn store(&self) -> SqlStore {
        SqlStore::connect(self.url()).await.unwrap()
    }

    /// A store with options.
    pub async fn store_with(&self, options: SqlOptions) -> SqlStore {
        SqlStore::connect_with(self.url(), options).await.unwrap()
    }

    /// The values of the one text column `sql` selects (as `value`), read behind the
    /// store's back.
    pub async fn column_values(&self, sql: &str) -> Vec<String> {
        match self {
            TestDb::Sqlite { url, .. } => {
                let conn = sqlite_connection(url);
                let mut statement = conn.prepare(sql).unwrap();
                let values = statement
                    .query_map([], |row| row.get::<_, String>(0))
                    .unwrap()
                    .collect::<Result<Vec<_>, _>>()
                    .unwrap();
                values
            }
            TestDb::Postgres { url, .. } => {
                let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
                sqlx::query_scalar(sql).fetch_all(&mut conn).await.unwrap()
            }
        }
    }

    /// The stored password hash of `username`, read behind the store's back.
    pub async fn raw_password_hash(&self, username: &str) -> String {
        let sql = "SELECT password_hash FROM users WHERE username = $1";
        match self {
            TestDb::Sqlite { url, .. } => sqlite_connection(url)
                .query_row(&sql.replace("$1", "?1"), [username], |row| row.get(0))
                .unwrap(),
            TestDb::Postgres { url, .. } => {
                let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
                sqlx::query_scalar(sql)
                    .bind(username)
                    .fetch_one(&mut conn)
                    .await
                    .unwrap()
            }
        }
    }
}

/// A plain rusqlite connection to the SQLite file of `url` (`sqlite://PATH`), behind
/// the store's back.
fn sqlite_connection(url: &str) -> rusqlite::Connection {
    let path = url.strip_prefix("sqlite://").unwrap();
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    conn
}

/// The PostgreSQL URL of the test server. The PostgreSQL tests are `#[ignore]`d unless
/// `PORTCULLIS_TEST_POSTGRES_URL` is set at build time (or `CI=true`), so one that runs
/// without it was asked for (`--ignored`, or CI) and fails, saying why.
pub fn postgres_admin_url() -> String {
    match std::env::var(POSTGRES_URL_VAR) {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "{POSTGRES_URL_VAR} is not set: this test needs PostgreSQL \
             (for example {POSTGRES_URL_VAR}=postgres://postgres@127.0.0.1:5432/test)"
        ),
    }
}

/// A schema created for one test and dropped (with everything in it) afterwards.
pub struct PostgresSchema {
    admin_url: String,
    pub name: String,
}

impl PostgresSchema {
    async fn create(admin_url: &str) -> PostgresSchema {
        let name = unique_name("portcullis_t_");
        let mut conn = sqlx::PgConnection::connect(admin_url)
            .await
            .unwrap_or_else(|e| {
                panic!("cannot reach the PostgreSQL server of {POSTGRES_URL_VAR}: {e}")
            });
        sqlx::query(&format!("CREATE SCHEMA {name}"))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        PostgresSchema {
            admin_url: admin_url.to_owned(),
            name,
        }
    }
}

impl Drop for PostgresSchema {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime: do the async work on a thread of its own.
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&admin_url).await?;
                sqlx::query(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                    .execute(&mut conn)
                    .await?;
                conn.close().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop the test schema {}", self.name);
        }
    }
}

pub fn client(client_id: &str) -> ClientRecord {
    ClientRecord::new(client_id.to_owned())
        .with_secret_hash(portcullis_core::hash_secret("s3cret"))
        .with_name(format!("Client {client_id}"))
        .with_redirect_uris(["https://app.example/cb", "http://127.0.0.1/cb"])
        .with_scope(Scope::parse("openid profile read write").unwrap())
        .with_grant_types(vec!["authorization_code", "refresh_token"])
        .with_response_types(vec!["code"])
        .with_auth_method("client_secret_basic")
}

/// A token of `client_id` in grant `grant_id`, with a refresh token.
pub fn token(client_id: &str, grant_id: &str, subject: Option<&str>) -> TokenRecord {
    let mut token = TokenRecord::new(
        portcullis_core::hash_secret(&unique_name("at-")),
        client_id,
        "authorization_code",
        grant_id,
        1_700_000_000,
        3600,
    );
    token.refresh_token_hash = Some(portcullis_core::hash_secret(&unique_name("rt-")));
    token.scope = Scope::parse("read write").unwrap();
    token.subject = subject.map(str::to_owned);
    token.refresh_token_expires_at = Some(1_700_086_400);
    token.extras.insert::<GrantExpiresAt>(1_702_592_000);
    token.audience = vec!["https://api.example".into(), "orders".into()];
    token
}

pub fn code(client_id: &str, subject: &str) -> AuthorizationCodeRecord {
    let mut code = AuthorizationCodeRecord::new(
        client_id,
        subject,
        unique_name("grant-"),
        1_700_000_000,
        1_700_000_060,
    );
    code.code_hash = portcullis_core::hash_secret(&unique_name("code-"));
    code.redirect_uri = Some("https://app.example/cb".into());
    code.scope = Scope::parse("openid read").unwrap();
    code.nonce = Some("n-0S6_WzA2Mj".into());
    code.auth_time = Some(1_700_000_000);
    code.code_challenge = Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into());
    code.code_challenge_method = Some("S256".into());
    code
}
