//! Integration tests of portcullis-sql: one binary (see STYLE.md) with
//!
//! - `conformance`: the storage conformance suite, written once against the core's
//!   storage traits and run on `MemoryStore`, SQLite and PostgreSQL;
//! - `sql_store`: what only `SqlStore` does (administration, sessions, consent,
//!   throttling, purging, errors, migrations, two processes on one database).
//!
//! PostgreSQL tests read `PORTCULLIS_TEST_POSTGRES_URL`; each test gets its own
//! schema, so they run in parallel. Unset: skipped, unless `CI=true`, where they fail.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs,
    unreachable_pub
)]
// A test is a composition root: it may use the OS CSPRNG directly.
#![allow(clippy::disallowed_types)]

mod conformance;
mod sql_store;
mod support;
