//! Integration tests of `portcullis serve`: the real router on real sockets (and the real
//! binary for the CLI and the two-instance race), on SQLite and PostgreSQL, driven the
//! way a browser drives the HTML forms and the way the `oauth2` crate drives the token
//! endpoint.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_types)]

mod support;

mod access_log;
mod backchannel;
mod cli;
mod client_assertions;
mod client_id_metadata;
mod conformance;
mod consent;
mod cors;
mod durability;
mod flow;
mod home;
mod issuer_path;
mod keys;
mod lifecycle;
mod listener;
mod login;
mod native_redirects;
mod openid;
mod openid_interop;
mod pending;
mod race;
mod registration;
mod resource_indicators;
mod security;
mod try_flow;
