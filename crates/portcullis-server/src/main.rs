//! The `portcullis` command: see `portcullis --help`.

fn main() -> std::process::ExitCode {
    portcullis_server::cli::main()
}
