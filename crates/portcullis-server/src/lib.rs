//! # portcullis-server
//!
//! The ready-to-run Portcullis authorization server (`portcullis serve`) and its command
//! line: configuration ([`config`]), the CLI ([`cli`]), the HTTP application ([`app`])
//! with its login, consent and logout pages ([`pages`]), the HTTP listener with its
//! connection limits and timeouts ([`listener`]), server-side sessions ([`session`]),
//! login throttling ([`throttle`]) and templates ([`templates`]).
//!
//! Storage is `portcullis-sql`: SQLite by default, PostgreSQL for production, where any
//! number of instances share one database.

pub mod app;
pub mod cli;
pub mod config;
pub mod listener;
pub mod pages;
pub mod session;
pub mod templates;
pub mod throttle;

pub use app::{build_app, AppState};
pub use config::Config;
