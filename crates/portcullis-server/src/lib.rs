//! # portcullis-server
//!
//! The ready-to-run Portcullis authorization server (`portcullis serve`) and its command
//! line: configuration in sections ([`config`]), the CLI ([`cli`]), client
//! registration rules ([`clients`]), the password and email rules ([`passwords`]),
//! the shared state and composition root
//! ([`state`]), the HTTP application ([`app`]) and its access log ([`access_log`]) with its routes by area ([`routes`])
//! and its authorize, login, consent and logout pages ([`pages`]), the HTTP listener
//! with its connection limits and timeouts ([`listener`]), server-side sessions
//! ([`session`]) and the Back-Channel Logout they end with ([`backchannel`]), login throttling ([`throttle`]), typed templates ([`templates`]) and `portcullis try`,
//! one authorization code flow shown on the wire ([`try_flow`]), and clients known by
//! their client ID metadata documents ([`client_id_metadata`]).
//!
//! Storage is `portcullis-sql`: SQLite by default, PostgreSQL for production, where any
//! number of instances share one database.

pub mod access_log;
pub mod app;
pub mod backchannel;
pub mod cli;
pub mod client_assertions;
pub mod client_id_metadata;
pub mod clients;
pub mod config;
pub mod keys;
pub mod listener;
pub mod pages;
pub mod passwords;
pub mod registration;
pub mod routes;
pub mod session;
pub mod state;
pub mod templates;
pub mod throttle;
pub mod try_flow;

pub use app::{build_app, build_app_with};
pub use config::Config;
pub use state::AppState;
