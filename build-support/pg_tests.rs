// Shared by the build scripts of the crates with PostgreSQL tests (`include!`d).
//
// The tests that need PostgreSQL are compiled as `#[ignore]`d unless
// `PORTCULLIS_TEST_POSTGRES_URL` is set (or `CI=true`, where they must run, and fail
// without it), so that `cargo test` reports them as ignored instead of as passed.

/// Emits `cfg(pg_tests)` when the PostgreSQL tests are to run.
fn pg_tests() {
    println!("cargo:rerun-if-env-changed=PORTCULLIS_TEST_POSTGRES_URL");
    println!("cargo:rerun-if-env-changed=CI");
    println!("cargo:rustc-check-cfg=cfg(pg_tests)");
    let url = std::env::var("PORTCULLIS_TEST_POSTGRES_URL").unwrap_or_default();
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    if !url.is_empty() || ci {
        println!("cargo:rustc-cfg=pg_tests");
    }
}
