//! The `portcullis` command: see `portcullis --help`.

/// mimalloc instead of the system allocator: glibc's malloc and free were a quarter of
/// the server's CPU on the token paths; with mimalloc the server answers 14–22 % more
/// client_credentials and introspection requests for 1–2 MiB more resident memory
/// (docs/performance.md, "The allocator").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    portcullis_server::cli::main()
}
