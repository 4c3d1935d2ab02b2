//! Rebuilds the crate when a migration changes (`sqlx::migrate!` embeds the files at
//! compile time, and cargo does not know to watch them otherwise), and turns the
//! PostgreSQL tests on when they can run.

include!("../../build-support/pg_tests.rs");

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    pg_tests();
}
