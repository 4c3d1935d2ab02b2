//! Turns the PostgreSQL tests on when they can run.

include!("../../build-support/pg_tests.rs");

fn main() {
    pg_tests();
}
