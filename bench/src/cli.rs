//! Command-line arguments: `run` (the default), `external` and `hello`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Load-test harness for Portcullis (issue 5).
#[derive(Debug, Parser)]
#[command(name = "portcullis-bench", args_conflicts_with_subcommands = true)]
pub(crate) struct Cli {
    /// What to do; `run` when omitted.
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
    /// The options of `run`, accepted without the word `run`.
    #[command(flatten)]
    pub(crate) run: RunArgs,
}

impl Cli {
    /// The command to execute, with `run` as the default.
    pub(crate) fn into_command(self) -> Command {
        self.command.unwrap_or(Command::Run(self.run))
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Start `portcullis serve` on a fresh database and measure every scenario.
    Run(RunArgs),
    /// Measure another server's token (and introspection) endpoint.
    External(ExternalArgs),
    /// Serve the hello ceiling (used by `run` and `external --with-hello`).
    Hello {
        /// Loopback address to listen on.
        #[arg(long)]
        bind: SocketAddr,
    },
}

/// Options of the load generator, shared by `run` and `external`.
#[derive(Debug, Clone, Args)]
pub(crate) struct LoadArgs {
    /// Seconds to measure each scenario.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub(crate) duration: u64,
    /// Keep-alive connections, each with one request in flight (closed loop).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=10000))]
    pub(crate) connections: u32,
    /// Worker threads of the load generator's runtime.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub(crate) threads: u32,
}

/// `portcullis-bench run`.
#[derive(Debug, Clone, Args)]
pub(crate) struct RunArgs {
    /// Load generator options.
    #[command(flatten)]
    pub(crate) load: LoadArgs,
    /// The `portcullis` binary to start.
    #[arg(
        long,
        env = "PORTCULLIS_BENCH_BIN",
        default_value = "target/release/portcullis"
    )]
    pub(crate) portcullis_bin: PathBuf,
    /// Use a new database on this PostgreSQL server (e.g.
    /// postgres://postgres@127.0.0.1:5432/test) instead of SQLite; it is dropped after.
    #[arg(long)]
    pub(crate) postgres: Option<String>,
    /// SQLite `synchronous` setting of the server.
    #[arg(long, value_enum, default_value_t = Synchronous::Normal)]
    pub(crate) sqlite_synchronous: Synchronous,
    /// Authorization codes to pre-create for code-exchange and refresh: enough for
    /// 10 s of code exchange at 40k/s.
    #[arg(long, default_value_t = 400_000)]
    pub(crate) codes: u32,
    /// How to pre-create the codes: one multi-row INSERT per 1000 rows (about 25k
    /// codes/s), or through the store trait (about 5k/s).
    #[arg(long, value_enum, default_value_t = CodeInsert::Bulk)]
    pub(crate) code_insert: CodeInsert,
    /// Scenarios, by letter or name: a=cc-opaque, b=cc-jwt, c=introspect, d=refresh,
    /// e=code-exchange, f=hello.
    #[arg(long, default_value = "a,b,c,d,e,f", value_parser = parse_scenarios)]
    pub(crate) scenarios: ScenarioSet,
    /// The signing algorithm of cc-jwt's tokens: ES256, EdDSA, RS256 or PS256 (the
    /// server's `signing_algorithm`).
    #[arg(long, default_value = "ES256", value_parser = ["ES256", "EdDSA", "RS256", "PS256"])]
    pub(crate) jwt_alg: String,
}

/// `portcullis-bench external`.
#[derive(Debug, Clone, Args)]
pub(crate) struct ExternalArgs {
    /// Load generator options.
    #[command(flatten)]
    pub(crate) load: LoadArgs,
    /// The token endpoint (loopback only), e.g. http://127.0.0.1:5000/oauth/token.
    #[arg(long)]
    pub(crate) token_url: String,
    /// A client allowed the client_credentials grant with client_secret_basic.
    #[arg(long)]
    pub(crate) client_id: String,
    /// Its secret.
    #[arg(long)]
    pub(crate) client_secret: String,
    /// A scope to request with client_credentials, if the server needs one.
    #[arg(long)]
    pub(crate) scope: Option<String>,
    /// The introspection endpoint: also measure introspection.
    #[arg(long)]
    pub(crate) introspect_url: Option<String>,
    /// The server's process id: report its RSS (with its child processes).
    #[arg(long)]
    pub(crate) pid: Option<u32>,
    /// Label of the rows in the table.
    #[arg(long, default_value = "external")]
    pub(crate) label: String,
    /// Also start the hello ceiling and measure it, for the % column.
    #[arg(long)]
    pub(crate) with_hello: bool,
}

/// SQLite durability, passed as `PORTCULLIS_SQLITE_SYNCHRONOUS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Synchronous {
    /// Survives a process crash.
    Normal,
    /// Survives power loss.
    Full,
}

impl Synchronous {
    /// The configuration value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Synchronous::Normal => "normal",
            Synchronous::Full => "full",
        }
    }
}

/// How authorization codes are pre-created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum CodeInsert {
    /// `AuthorizationCodeStore::save_authorization_code`, many at a time.
    Store,
    /// Multi-row `INSERT` statements straight into `authorization_codes`.
    Bulk,
}

/// One measured scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Scenario {
    /// (a) client_credentials, opaque token.
    CcOpaque,
    /// (b) client_credentials, JWT access token: not implemented by the server yet.
    CcJwt,
    /// (c) token introspection.
    Introspect,
    /// (d) refresh_token grant with rotation.
    Refresh,
    /// (e) authorization_code + PKCE exchange.
    CodeExchange,
    /// (f) the hello ceiling.
    Hello,
}

impl Scenario {
    /// All scenarios, in report order.
    pub(crate) const ALL: [Scenario; 6] = [
        Scenario::CcOpaque,
        Scenario::CcJwt,
        Scenario::Introspect,
        Scenario::Refresh,
        Scenario::CodeExchange,
        Scenario::Hello,
    ];

    /// The name printed in reports.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Scenario::CcOpaque => "cc-opaque",
            Scenario::CcJwt => "cc-jwt",
            Scenario::Introspect => "introspect",
            Scenario::Refresh => "refresh",
            Scenario::CodeExchange => "code-exchange",
            Scenario::Hello => "hello",
        }
    }

    /// The letter of the issue's list.
    pub(crate) fn letter(self) -> char {
        match self {
            Scenario::CcOpaque => 'a',
            Scenario::CcJwt => 'b',
            Scenario::Introspect => 'c',
            Scenario::Refresh => 'd',
            Scenario::CodeExchange => 'e',
            Scenario::Hello => 'f',
        }
    }
}

/// A selection of scenarios, kept in report order without duplicates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScenarioSet(pub(crate) Vec<Scenario>);

impl ScenarioSet {
    /// Whether `scenario` is selected.
    pub(crate) fn contains(&self, scenario: Scenario) -> bool {
        self.0.contains(&scenario)
    }
}

/// Parses `a,c,e` or `cc-opaque,introspect` (letters and names may mix).
pub(crate) fn parse_scenarios(value: &str) -> Result<ScenarioSet, String> {
    let mut selected = Vec::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let item = item.to_ascii_lowercase();
        let scenario = Scenario::ALL
            .into_iter()
            .find(|s| item == s.name() || item.len() == 1 && item.starts_with(s.letter()))
            .ok_or_else(|| {
                format!(
                    "unknown scenario '{item}': use letters a-f or names ({})",
                    Scenario::ALL.map(Scenario::name).join(", ")
                )
            })?;
        if !selected.contains(&scenario) {
            selected.push(scenario);
        }
    }
    if selected.is_empty() {
        return Err("no scenario selected".into());
    }
    selected.sort();
    Ok(ScenarioSet(selected))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, clap::Error> {
        Cli::try_parse_from(std::iter::once("portcullis-bench").chain(args.iter().copied()))
            .map(Cli::into_command)
    }

    #[test]
    fn run_is_the_default_with_the_issue_defaults() {
        let Command::Run(run) = parse(&[]).unwrap() else {
            panic!("not run")
        };
        assert_eq!(run.load.duration, 10);
        assert_eq!(run.load.connections, 32);
        assert_eq!(run.load.threads, 2);
        assert_eq!(run.codes, 400_000);
        assert_eq!(run.sqlite_synchronous, Synchronous::Normal);
        assert_eq!(run.postgres, None);
        assert_eq!(run.scenarios.0, Scenario::ALL.to_vec());
        assert_eq!(
            run.portcullis_bin,
            PathBuf::from("target/release/portcullis")
        );
    }

    #[test]
    fn run_options_with_and_without_the_word_run() {
        for args in [
            &[
                "--duration",
                "5",
                "--scenarios",
                "e,a,c",
                "--sqlite-synchronous",
                "full",
            ][..],
            &[
                "run",
                "--duration",
                "5",
                "--scenarios",
                "e,a,c",
                "--sqlite-synchronous",
                "full",
            ][..],
        ] {
            let Command::Run(run) = parse(args).unwrap() else {
                panic!("not run")
            };
            assert_eq!(run.load.duration, 5);
            assert_eq!(run.sqlite_synchronous, Synchronous::Full);
            assert_eq!(
                run.scenarios.0,
                vec![
                    Scenario::CcOpaque,
                    Scenario::Introspect,
                    Scenario::CodeExchange
                ]
            );
        }
    }

    #[test]
    fn external_options() {
        let Command::External(ext) = parse(&[
            "external",
            "--token-url",
            "http://127.0.0.1:5000/oauth/token",
            "--client-id",
            "id",
            "--client-secret",
            "s",
            "--pid",
            "42",
            "--label",
            "authlib",
            "--with-hello",
            "--connections",
            "8",
        ])
        .unwrap() else {
            panic!("not external")
        };
        assert_eq!(ext.pid, Some(42));
        assert_eq!(ext.label, "authlib");
        assert!(ext.with_hello);
        assert_eq!(ext.introspect_url, None);
        assert_eq!(ext.load.connections, 8);
        assert!(parse(&["external", "--client-id", "x"]).is_err());
    }

    #[test]
    fn scenario_names_and_letters() {
        assert_eq!(
            parse_scenarios("refresh, f ,A,refresh").unwrap().0,
            vec![Scenario::CcOpaque, Scenario::Refresh, Scenario::Hello]
        );
        assert!(parse_scenarios("g").is_err());
        assert!(parse_scenarios("").is_err());
        assert!(parse_scenarios("cc").is_err());
        assert!(parse(&["--connections", "0"]).is_err());
    }
}
